-- Determinism: the same seed gives bit-identical losses run to run.
--
-- What was measured (2-core machine, Debian's OpenBLAS 0.3.21, see the report
-- of the Reliability issue):
-- * 1 thread: two fresh processes give bit-identical losses (asserted below).
-- * 2 threads: also bit-identical run to run (OpenMP loops use static
--   schedules and OpenBLAS splits a given gemm the same way every time), so
--   run-to-run equality is asserted for 2 threads too.
-- * 1 vs 2 threads: lunagrad's own reductions (sum, mean, softmax, ...) split
--   work into a fixed number of chunks (LG_FLAT_CHUNKS in src/ops/reduce.c)
--   whatever the thread count, so they give identical bits with 1 or 2 threads
--   (asserted below). OpenBLAS gemm does not promise that: a 1000x1000 @
--   1000x300 matmul summed to 0x1.184e12p+14 with 1 thread and 0x1.184e1p+14
--   with 2 (last bits), and its input gradient differed likewise; the small
--   training runs below happened to match across thread counts. So results
--   are reproducible for a fixed thread count; use lg.set_num_threads(1) to
--   compare against a run made with another thread count.
-- * On CPUs with AVX-512, float32 matrix products and convolutions run on
--   lunagrad's own kernels, which give the same bits for any thread count
--   (asserted in spec/sgemm_spec.lua); float64 still goes through OpenBLAS.
-- Child processes inherit LUA_PATH/LUA_CPATH (set by `make test`).
local lg = require 'lunagrad'

-- Trains a small DANN-style MLP (dropout, GRL, SGD with momentum) on random
-- data for `steps` steps and prints every loss as a hex float.
local TRAIN = [[
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local threads, seed, steps = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3])
lg.set_num_threads(threads)
lg.manual_seed(seed)
local X = lg.randn(256, 32)
local y = (lg.rand(256) * 3):long() + 1
local d = lg.cat({ lg.zeros(128, 1), lg.ones(128, 1) }, 1)
local features = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 64), nn.Tanh())
local classifier = nn.Linear(64, 3)
local head = nn.Sequential(nn.GradientReversal(0.3), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 1))
local opt = optim.SGD(nn.parameters(features, classifier, head), { lr = 0.05, momentum = 0.9 })
local ce, bce = nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss()
local out = {}
for s = 1, steps do
  opt:zero_grad()
  local f = features(X)
  local loss = ce(classifier(f), y) + bce(head(f), d)
  loss:backward()
  opt:step()
  out[s] = ('%a'):format(loss:item())
end
print(table.concat(out, ' '))
]]

local write_file = require('helpers.files').write

describe('determinism', function()
  local script = os.tmpname()
  setup(function() write_file(script, TRAIN) end)
  teardown(function() os.remove(script) end)

  local function run(threads, seed, steps)
    local p = io.popen(('lua5.4 %s %d %d %d 2>&1'):format(script, threads, seed, steps))
    local out = p:read('a')
    assert(p:close(), 'child failed: ' .. out)
    out = out:gsub('%s+$', '')
    local n = 0
    for _ in out:gmatch('%S+') do n = n + 1 end
    assert.are.equal(steps, n, out)
    return out
  end

  it('gives bit-identical losses in two fresh processes with the same seed (1 thread)', function()
    local a, b = run(1, 42, 25), run(1, 42, 25)
    assert.are.equal(a, b)
    assert.are_not.equal(a, run(1, 43, 25)) -- another seed: other losses (the test can fail)
  end)

  it('is also reproducible run to run with 2 threads', function()
    assert.are.equal(run(2, 42, 25), run(2, 42, 25))
  end)

  it('gives lunagrad reductions the same bits with 1 and 2 threads (fixed chunking)', function()
    local before = lg.get_num_threads()
    lg.manual_seed(5)
    local x = lg.randn(1000, 1000)
    local function results()
      return {
        ('%a'):format(x:sum():item()), ('%a'):format(x:mean():item()),
        ('%a'):format(x:sum(2):sum():item()), ('%a'):format(x:sum(1):sum():item()),
        ('%a'):format(x:softmax(2):log():sum():item()), ('%a'):format(x:double():sum():item()),
        ('%a'):format(x:max():item()), ('%a'):format((x * x):exp():clamp(0, 10):mean():item()),
      }
    end
    lg.set_num_threads(1)
    local one = results()
    lg.set_num_threads(2)
    local two = results()
    lg.set_num_threads(before)
    assert.are.same(one, two)
  end)
end)
