-- The lunagrad side of the benchmark suite: one workload per process.
--
--   lua5.4 bench/workloads.lua W3 [--time 1.0] [--warmup 0.5] [--threads 1]
--
-- Prints one line `RESULT <workload> key=value ...` (value, unit, iters, secs,
-- rss_kb = VmHWM of this process read at the end, lg_peak_kb = lunagrad's own peak
-- tensor bytes). bench/run.lua starts it; bench/torch_ref.py mirrors every workload
-- (same shapes, same math) for PyTorch. Data is synthetic with fixed seeds.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'

-- Wall clock: lua-system (a dependency of busted, which `make deps` installs).
-- os.clock is CPU time summed over threads, useless with 2 BLAS threads.
local ok_sys, system = pcall(require, 'system')
local now
if ok_sys and system.monotime then
  now = system.monotime
elseif ok_sys and system.gettime then
  now = system.gettime
else
  error('bench/workloads.lua: needs lua-system (apt-get install lua-system) for a wall clock', 0)
end

local W = {}

--- Runs step() for `warmup` seconds, then for `time` seconds in batches of
--- about 10 ms (so the clock is read rarely even for microsecond steps).
--- Returns iterations and elapsed seconds of the measured window; records in
--- `last_cpu` the process CPU seconds per wall second of that window (about 1.0
--- for one thread that was never preempted: a check on the shared machine).
local last_cpu
local function measure(step, time, warmup)
  local t0, n = now(), 0
  repeat
    step()
    n = n + 1
  until n >= 1 and now() - t0 >= warmup
  local per_iter = (now() - t0) / n
  local batch = math.max(1, math.floor(0.01 / math.max(per_iter, 1e-9)))
  local c0 = os.clock()
  t0, n = now(), 0
  local elapsed
  repeat
    for _ = 1, batch do step() end
    n = n + batch
    elapsed = now() - t0
  until elapsed >= time and n >= 2
  last_cpu = (os.clock() - c0) / elapsed
  return n, elapsed
end

local function labels(n, classes)
  local t = {}
  for i = 1, n do t[i] = (i - 1) % classes + 1 end
  return lg.tensor(t, { dtype = 'int64' })
end

local function domain_labels(n_source, n_total)
  local t = {}
  for i = 1, n_total do t[i] = { i <= n_source and 0 or 1 } end
  return lg.tensor(t)
end

-- W1: the seed example, y = revgrad(x * 5, 1) + 6 on one element; forward + backward.
function W.W1(o)
  local x = lg.tensor({ 1.5 }, { requires_grad = true })
  local function step()
    local y = lg.revgrad(x * 5, 1) + 6
    y:backward()
  end
  local n, s = measure(step, o.time, o.warmup)
  return { value = s / n * 1e6, unit = 'us/iter', iters = n, secs = s }
end

-- W2: Linear(10,10) + GRL at batch 1: zero_grad + forward + sum + backward.
function W.W2(o)
  local net = nn.Sequential(nn.Linear(10, 10), nn.GradientReversal(1.0))
  local x = lg.randn(1, 10)
  local function step()
    net:zero_grad()
    net(x):sum():backward()
  end
  local n, s = measure(step, o.time, o.warmup)
  return { value = s / n * 1e6, unit = 'us/iter', iters = n, secs = s }
end

-- One DANN training step: label loss on the first n_source rows, domain loss on all.
local function dann_step(features, label_head, domain_head, opt, x, n_source, y, yd, ce, bce)
  opt:zero_grad()
  local f = features(x)
  local logits = label_head(f:narrow(1, 1, n_source))
  local loss = ce(logits, y) + bce(domain_head(f), yd)
  loss:backward()
  opt:step()
  return loss
end

local function run_dann(o, features, label_head, domain_head, x, extra)
  local opt = optim.SGD(nn.parameters(features, label_head, domain_head), { lr = 0.01, momentum = 0.9 })
  local y, yd = labels(64, 10), domain_labels(64, 128)
  local ce, bce = nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss()
  local last
  local function step() last = dann_step(features, label_head, domain_head, opt, x, 64, y, yd, ce, bce) end
  local n, s = measure(step, o.time, o.warmup)
  local r = { value = n / s, unit = 'steps/s', iters = n, secs = s, loss = last:item() }
  if extra then extra(r) end
  return r
end

-- W3: MLP-DANN, 784-256-256 features, 256-10 label head, GRL-256-256-1 domain head.
function W.W3(o)
  local features = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
  local label_head = nn.Linear(256, 10)
  local domain_head = nn.Sequential(nn.GradientReversal(1.0), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
  return run_dann(o, features, label_head, domain_head, lg.randn(128, 784))
end

local function lenet_features()
  return nn.Sequential(nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 48, 5), nn.ReLU(),
    nn.MaxPool2d(2), nn.Flatten())
end

local function lenet_label_head()
  return nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
end

W.W4_GFLOP_PER_STEP = 3.04

-- W4: LeNet-DANN (Ganin & Lempitsky's MNIST->MNIST-M net) on 128 x 3 x 28 x 28.
function W.W4(o)
  local domain_head = nn.Sequential(nn.GradientReversal(1.0), nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))
  return run_dann(o, lenet_features(), lenet_label_head(), domain_head, lg.randn(128, 3, 28, 28), function(r)
    r.gflops = r.value * W.W4_GFLOP_PER_STEP
  end)
end

-- W5: square float32 matmul through the API; GFLOP/s per size (2 n^3 per product).
function W.W5(o)
  local r = { unit = 'GFLOP/s', iters = 0, secs = 0 }
  for _, n in ipairs(o.sizes) do
    local a, b = lg.randn(n, n), lg.randn(n, n)
    local c
    local function step() c = lg.matmul(a, b) end
    local iters, s = measure(step, o.time, o.warmup)
    r['n' .. n] = 2 * n * n * n * iters / s / 1e9
    r['cpu' .. n] = last_cpu
    r.iters, r.secs = r.iters + iters, r.secs + s
    assert(c:size(1) == n)
  end
  r.value = r['n' .. o.sizes[1]]
  return r
end

-- W6: inference of W4's features + label head at batch 256, without recording.
function W.W6(o)
  local features, head = lenet_features(), lenet_label_head()
  features:evaluate()
  head:evaluate()
  local x = lg.randn(256, 3, 28, 28)
  local out
  local function step() out = lg.no_grad(function() return head(features(x)) end) end
  local n, s = measure(step, o.time, o.warmup)
  assert(out:size(2) == 10)
  return { value = 256 * n / s, unit = 'images/s', iters = n, secs = s }
end

-- Extra (not a target of the issue): `a + b` on two 10-element tensors, us per op.
function W.ADD(o)
  local a, b = lg.randn(10), lg.randn(10)
  local c
  local function step() c = a + b end
  local n, s = measure(step, o.time, o.warmup)
  assert(c:numel() == 10)
  return { value = s / n * 1e6, unit = 'us/op', iters = n, secs = s }
end

local function vmhwm_kb()
  local f = io.open('/proc/self/status', 'r')
  if not f then return -1 end
  local kb = -1
  for line in f:lines() do
    local v = line:match('^VmHWM:%s*(%d+)')
    if v then kb = tonumber(v) end
  end
  f:close()
  return kb
end

local function parse(argv)
  local o = { time = 1.0, warmup = 0.5, threads = nil, sizes = { 256, 512, 1024, 2048 } }
  local i = 2
  while i <= #argv do
    local a, v = argv[i], argv[i + 1]
    if a == '--time' then o.time = assert(tonumber(v), '--time needs seconds')
    elseif a == '--warmup' then o.warmup = assert(tonumber(v), '--warmup needs seconds')
    elseif a == '--threads' then o.threads = assert(math.tointeger(tonumber(v)), '--threads needs an integer')
    elseif a == '--sizes' then
      o.sizes = {}
      for s in v:gmatch('%d+') do o.sizes[#o.sizes + 1] = tonumber(s) end
    else error('bench/workloads.lua: unknown option ' .. tostring(a), 0) end
    i = i + 2
  end
  return o
end

local function fmt(v)
  if math.type(v) == 'integer' then return tostring(v) end
  if type(v) == 'number' then return string.format('%.6g', v) end
  return tostring(v)
end

local function main(argv)
  local name = argv[1]
  if not name or type(W[name]) ~= 'function' then
    io.stderr:write('usage: lua5.4 bench/workloads.lua W1|W2|W3|W4|W5|W6|ADD [--time s] [--warmup s] [--threads n]\n')
    os.exit(2)
  end
  local o = parse(argv)
  if o.threads then lg.set_num_threads(o.threads) end
  lg.manual_seed(0)
  local r = W[name](o)
  r.cpu = last_cpu
  r.rss_kb = vmhwm_kb()
  r.lg_peak_kb = math.floor(lg.memory().peak_bytes / 1024)
  r.threads = lg.get_num_threads()
  local keys = {}
  for k in pairs(r) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = { 'RESULT', name }
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. '=' .. fmt(r[k]) end
  print(table.concat(parts, ' '))
end

-- Run as a script; `require` (e.g. from a profiler harness) just gets the table.
if arg and arg[0] and arg[0]:match('workloads%.lua$') then main(arg) end

return W
