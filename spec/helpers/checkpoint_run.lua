-- Run by spec/checkpoint_spec.lua as a separate lua5.4 process:
--   lua5.4 spec/helpers/checkpoint_run.lua train DIR    every (optimiser, scheduler) case: 50 steps,
--                                                      save DIR/<case>.safetensors, 50 more steps
--   lua5.4 spec/helpers/checkpoint_run.lua resume DIR   each case rebuilt from a different seed,
--                                                      loaded from its checkpoint, 50 steps
--   ... resume_without_rng DIR                         the same without lg.set_rng_state (a control)
-- Prints one line per case: the name and the losses of steps 51..100 as hex floats (%a).
-- Each step draws its batch from the generator and the net has dropout, so the RNG
-- state has to be restored too.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local S = optim.lr_scheduler

local mode, dir = arg[1], arg[2]

local CASES = {
  { 'SGD', { lr = 0.05, momentum = 0.9, nesterov = true }, function(o) return S.StepLR(o, 10, 0.5) end },
  { 'Adam', { lr = 0.01, amsgrad = true }, function(o) return S.OneCycleLR(o, { max_lr = 0.02, total_steps = 100 }) end },
  { 'AdamW', { lr = 0.01 }, function(o) return S.CosineAnnealingLR(o, 30) end },
  { 'RMSprop', { lr = 0.005, centered = true, momentum = 0.5 }, function(o) return S.ExponentialLR(o, 0.98) end },
  { 'Adagrad', { lr = 0.05, lr_decay = 0.01 }, function(o) return S.MultiStepLR(o, { 20, 55, 70 }, 0.5) end },
  { 'Adadelta', { lr = 1.0 }, function(o) return S.CosineAnnealingWarmRestarts(o, 10, 2) end },
  { 'Adamax', { lr = 0.01 }, function(o) return S.LinearLR(o, { start_factor = 0.2, total_iters = 80 }) end },
  { 'NAdam', { lr = 0.01 }, function(o) return S.LambdaLR(o, function(e) return 0.99 ^ e end) end },
  { 'RAdam', { lr = 0.01 }, function(o)
    return S.SequentialLR(o, { S.LinearLR(o, { start_factor = 0.1, total_iters = 10 }), S.CosineAnnealingLR(o, 90) }, { 10 })
  end },
  { 'SGD', { lr = 0.05, momentum = 0.9 }, function(o) return S.ReduceLROnPlateau(o, { patience = 2, factor = 0.7 }) end,
    'SGD+ReduceLROnPlateau' },
  { 'SGD', { lr = 0.05 }, function(o) return S.DannLR(o, { total_steps = 100 }) end, 'SGD+DannLR' },
  { 'LBFGS', { lr = 0.5, max_iter = 3, history_size = 4 }, function(o) return S.StepLR(o, 20, 0.5) end },
  { 'LBFGS', { max_iter = 3, line_search_fn = 'strong_wolfe' }, nil, 'LBFGS+strong_wolfe' },
}

local function build(case, seed)
  lg.manual_seed(seed)
  local net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Tanh(), nn.Linear(8, 3))
  local params
  if case[1] == 'LBFGS' then
    params = net:parameters()
  else
    params = { { params = { net[1].weight, net[1].bias } }, { params = { net[4].weight, net[4].bias }, lr = case[2].lr / 2 } }
  end
  local opt = optim[case[1]](params, case[2])
  local sched = case[3] and case[3](opt) or nil
  return net, opt, sched
end

local teacher = lg.tensor { { 0.5, -1, 0.25 }, { 1, 0.5, -0.5 }, { -0.3, 0.2, 1 }, { 0.7, -0.6, 0.1 } }

local function train_step(net, opt, sched)
  local x = lg.randn(16, 4)
  local y = x:matmul(teacher):tanh()
  local loss
  if opt.name == 'LBFGS' then
    loss = opt:step(function()
      opt:zero_grad()
      local l = nn.F.mse_loss(net(x), y)
      l:backward()
      return l
    end):item()
  else
    opt:zero_grad()
    local l = nn.F.mse_loss(net(x), y)
    l:backward()
    opt:step()
    loss = l:item()
  end
  if sched then
    if sched.name == 'ReduceLROnPlateau' then sched:step(loss) else sched:step() end
  end
  return loss
end

for i, case in ipairs(CASES) do
  local name = case[4] or case[1]
  local path = string.format('%s/case%d.safetensors', dir, i)
  local net, opt, sched
  if mode == 'train' then
    net, opt, sched = build(case, 1234)
    for _ = 1, 50 do train_step(net, opt, sched) end
    lg.save(path, { model = net:state_dict(), optim = opt:state_dict(), sched = sched and sched:state_dict() or false,
      rng = lg.get_rng_state(), step = 50 })
  else
    net, opt, sched = build(case, 999) -- other weights: everything must come from the checkpoint
    local ckpt = lg.load(path)
    assert(ckpt.step == 50 and math.type(ckpt.step) == 'integer')
    net:load_state_dict(ckpt.model)
    opt:load_state_dict(ckpt.optim)
    if sched then sched:load_state_dict(ckpt.sched) end
    if mode ~= 'resume_without_rng' then lg.set_rng_state(ckpt.rng) end
  end
  local out = {}
  for s = 51, 100 do out[#out + 1] = string.format('%a', train_step(net, opt, sched)) end
  io.write(name, ' ', table.concat(out, ' '), '\n')
end
