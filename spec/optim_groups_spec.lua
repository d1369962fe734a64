-- Parameter groups, add_param_group, opt.lr, closures, state_dict with groups, and the
-- optimisers' and schedulers' argument errors.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local S = optim.lr_scheduler

local F64 = { dtype = 'float64', requires_grad = true }
local function grad(p, g) p.grad = lg.tensor(g, { dtype = 'float64' }) end

describe('parameter groups', function()
  it('each group has its own options, the rest from the defaults; param_groups[i].lr is writable', function()
    local a, b = lg.tensor({ 1 }, F64), lg.tensor({ 1 }, F64)
    local opt = optim.SGD({ { params = { a }, lr = 0.1 }, { params = b } }, { lr = 0.01, momentum = 0.9 })
    assert.are.equal(0.1, opt.param_groups[1].lr)
    assert.are.equal(0.01, opt.param_groups[2].lr)
    assert.are.equal(0.9, opt.param_groups[1].momentum)
    grad(a, { 1 })
    grad(b, { 1 })
    opt:step()
    assert.are.equal(0.9, a:item())
    assert.are.equal(0.99, b:item())
    opt.param_groups[2].lr = 1
    opt:step() -- buf = 1.9
    assert.are.equal(0.99 - 1.9, b:item())
    assert.are.equal(0.1, opt.lr) -- the first group's
    opt.lr = 0.5 -- every group's
    assert.are.same({ 0.5, 0.5 }, { opt.param_groups[1].lr, opt.param_groups[2].lr })
  end)

  it('add_param_group appends a group; state_dict numbers parameters across groups', function()
    local net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    local opt = optim.Adam(net[1]:parameters(), { lr = 0.01 })
    opt:add_param_group { params = net[2], lr = 0.1 }
    assert.are.equal(2, #opt.param_groups)
    assert.are.equal(0.1, opt.param_groups[2].lr)
    assert.are.same({ 0.9, 0.999 }, opt.param_groups[2].betas)
    nn.F.mse_loss(net(lg.randn(4, 2)), lg.zeros(4, 1)):backward()
    opt:step()
    local sd = opt:state_dict()
    assert.are.same({ 1, 2 }, sd.param_groups[1].params)
    assert.are.same({ 3, 4 }, sd.param_groups[2].params)
    assert.are.same({ 1, 3 }, sd.state[3].exp_avg:shape())
    local opt2 = optim.Adam({ { params = net[1] }, { params = net[2] } })
    opt2:load_state_dict(sd)
    assert.are.equal(0.1, opt2.param_groups[2].lr)
    assert.are.equal(1, opt2.state[4].step)
    assert.has_error(function() optim.Adam(net:parameters()):load_state_dict(sd) end,
      'lunagrad.optim.Adam.load_state_dict: the state dict has 2 parameter groups, the optimizer 1')
    assert.has_error(function() opt:add_param_group { params = net[2]:parameters() } end,
      'lunagrad.optim.Adam: param group 3: params[1] is already in parameter group 2')
  end)

  it('rejects bad groups and unknown options', function()
    local a = lg.tensor({ 1 }, F64)
    assert.has_error(function() optim.SGD({ { params = { a }, lrr = 1 } }, { lr = 1 }) end,
      "lunagrad.optim.SGD: param group 1 has unknown option 'lrr' (known: params, dampening, lr, maximize, momentum, nesterov, weight_decay)")
    assert.has_error(function() optim.SGD({ { lr = 1 }, { params = { a } } }, { lr = 1 }) end,
      'lunagrad.optim.SGD: param group 1 has no params (expected {params = tensors, ...})')
    assert.has_error(function() optim.Adam({ { params = { a } }, { params = {} } }) end,
      'lunagrad.optim.Adam: param group 2: got an empty parameter list')
    assert.has_error(function() optim.RMSprop({ { params = { a }, lr = -1 } }) end,
      'lunagrad.optim.RMSprop: param group 1: lr must be a number in [0, inf], got -1')
    assert.has_error(function() optim.NAdam({ a }, { betas = { 1, 0.9 } }) end,
      'lunagrad.optim.NAdam: betas must be {b1, b2} with each in [0, 1)')
    assert.has_error(function() optim.Adagrad({ a }, { momentum = 0.9 }) end,
      "lunagrad.optim.Adagrad: unknown option 'momentum' (known: eps, initial_accumulator_value, lr, lr_decay, maximize, weight_decay)")
    assert.has_error(function() optim.LBFGS({ { params = { a } }, { params = { lg.tensor({ 1 }, F64) } } }) end,
      "lunagrad.optim.LBFGS: doesn't support per-parameter options (parameter groups)")
    assert.has_error(function() optim.LBFGS({ a }):step() end,
      'lunagrad.optim.LBFGS.step: expects a closure that re-evaluates the loss (got nil)')
    assert.has_error(function() optim.LBFGS({ a }, { line_search_fn = 'armijo' }) end,
      "lunagrad.optim.LBFGS: line_search_fn must be nil or 'strong_wolfe', got armijo")
  end)

  it('step(closure) runs the closure with grad enabled and returns its loss', function()
    local a = lg.tensor({ 2 }, F64)
    local opt = optim.SGD({ a }, { lr = 0.25 })
    local loss = lg.no_grad(function()
      return opt:step(function()
        opt:zero_grad()
        local l = (a * a):sum()
        l:backward()
        return l
      end)
    end)
    assert.are.equal(4, loss:item())
    assert.are.equal(1, a:item())
  end)
end)

describe('lr_scheduler argument errors', function()
  local opt = optim.SGD({ lg.tensor({ 1 }, F64) }, { lr = 0.1 })
  it('names the scheduler and the problem', function()
    assert.has_error(function() S.StepLR(opt) end, 'lunagrad.optim.lr_scheduler.StepLR: step_size is required')
    assert.has_error(function() S.StepLR(opt, 0) end,
      'lunagrad.optim.lr_scheduler.StepLR: step_size must be an integer >= 1, got 0')
    assert.has_error(function() S.StepLR(opt, { step_size = 3, gama = 0.5 }) end,
      "lunagrad.optim.lr_scheduler.StepLR: unknown option 'gama' (known: gamma, last_epoch, step_size)")
    assert.has_error(function() S.ExponentialLR({}, 0.9) end,
      'lunagrad.optim.lr_scheduler.ExponentialLR: bad argument #1 (an optimizer expected, got table)')
    assert.has_error(function() S.LambdaLR(opt, { print, print }) end,
      'lunagrad.optim.lr_scheduler.LambdaLR: expected 1 lr_lambdas, but got 2')
    assert.has_error(function() S.OneCycleLR(opt, { max_lr = 1 }) end,
      'lunagrad.optim.lr_scheduler.OneCycleLR: you must define either total_steps or (epochs and steps_per_epoch)')
    assert.has_error(function() S.OneCycleLR(optim.Adagrad({ lg.tensor({ 1 }, F64) }), 1, 10) end,
      'lunagrad.optim.lr_scheduler.OneCycleLR: optimizer must support momentum (momentum or betas) with the cycle_momentum option enabled')
    assert.has_error(function() S.ReduceLROnPlateau(opt, { factor = 1.5 }) end,
      'lunagrad.optim.lr_scheduler.ReduceLROnPlateau: factor should be < 1.0, got 1.5')
    assert.has_error(function() S.SequentialLR(opt, { S.StepLR(opt, 2) }, { 3 }) end,
      'lunagrad.optim.lr_scheduler.SequentialLR: expects one milestone fewer than schedulers, got 1 schedulers and 1 milestones')
    local sched = S.OneCycleLR(opt, 1, 3)
    for _ = 1, 3 do sched:step() end
    assert.has_error(function() sched:step() end,
      'lunagrad.optim.lr_scheduler.OneCycleLR: tried to step 5 times; the specified number of total steps is 3')
  end)
end)
