-- make bench-dist: W3-style MLP-DANN (784-256-256 features, a 10-way classifier, a
-- GRL + 256-1 domain head), SGD, global batch 128 (64 source + 64 target), timed
-- steps/s. Run it alone (1 process) and under `mpirun -np 2` (64 per rank); prints
-- steps/s, the time share spent waiting in the gradient all-reduce, and how many
-- bucket reductions started during backward (needs the core to call the grad-ready hook).
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local da = require 'lunagrad.da'
local dist = require 'lunagrad.distributed'
dist.run(function()
  local r, W = dist.init()
  local steps = tonumber(arg[1] or '300')
  lg.manual_seed(1)
  local features = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
  local classifier = nn.Linear(256, 10)
  local discriminator = nn.Sequential(nn.GradientReversal(1), nn.Linear(256, 1))
  local model = nn.Sequential(features, classifier, discriminator)
  local ddp = nn.DistributedDataParallel(model, { bucket_mb = tonumber(os.getenv('BUCKET_MB') or '0.25') })
  local opt = ddp:wrap_optimizer(optim.SGD(ddp:parameters(), { lr = 0.01, momentum = 0.9 }))
  local B = 64 // W
  local xs, xt = lg.rand(B, 784), lg.rand(B, 784)
  local ys = (lg.rand(B) * 10):floor():long() + 1
  local function step()
    da.train_step { features = features, classifier = classifier, discriminator = discriminator, optimizer = opt,
      xs = xs, ys = ys, xt = xt }
  end
  for _ = 1, 20 do step() end
  dist.barrier()
  local w0, t0 = ddp:stats().wait_seconds, lg.clock()
  for _ = 1, steps do step() end
  dist.barrier()
  local t = lg.clock() - t0
  local st = ddp:stats()
  dist.print(string.format('world %d x %d thread(s): %.1f steps/s (global batch 128), all-reduce wait %.1f%% of step time, '
    .. '%d/%d bucket reductions started during backward, %d bytes of gradients per step',
    W, lg.get_num_threads and lg.get_num_threads() or 0, steps / t, 100 * (st.wait_seconds - w0) / t, st.overlapped,
    st.reductions, st.bytes))
end)
