-- lunagrad.optim: SGD / Adam / AdamW update rules, golden cases, schedules, resume.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local json = require 'lunagrad.json'

local function close(actual, expected, rtol, atol, path)
  rtol, atol, path = rtol or 1e-12, atol or 1e-14, path or 'value'
  if type(expected) == 'table' then
    assert(#actual == #expected, string.format('%s: length %d, expected %d', path, #actual, #expected))
    for i = 1, #expected do close(actual[i], expected[i], rtol, atol, path .. '[' .. i .. ']') end
  else
    assert(math.abs(actual - expected) <= atol + rtol * math.abs(expected),
      string.format('%s: got %.17g, expected %.17g', path, actual, expected))
  end
end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error')
  return tostring(err)
end

local F64 = { dtype = 'float64', requires_grad = true }

-- A float64 parameter with an injected gradient, so the optimiser is tested alone.
local function param(values) return lg.tensor(values, F64) end
local function set_grad(p, g) p.grad = lg.tensor(g, { dtype = 'float64' }) end

describe('optim.SGD', function()
  it('plain: p = p - lr * g, and opt.lr may change between steps', function()
    local p = param { 1, 2 }
    local opt = optim.SGD({ p }, { lr = 0.1 })
    set_grad(p, { 0.5, -1 })
    opt:step()
    close(p:totable(), { 0.95, 2.1 })
    opt.lr = 0.5
    opt:step()
    close(p:totable(), { 0.7, 2.6 })
    opt.lr = 0
    opt:step()
    close(p:totable(), { 0.7, 2.6 })
  end)

  it('momentum: buf = g first, then momentum * buf + (1 - dampening) * g', function()
    local p = param { 1 }
    local opt = optim.SGD({ p }, { lr = 0.1, momentum = 0.9 })
    set_grad(p, { 2 })
    opt:step() -- buf 2
    close(p:item(), 0.8)
    opt:step() -- buf 0.9*2 + 2 = 3.8
    close(p:item(), 0.8 - 0.38)
    local q = param { 1 }
    local damp = optim.SGD({ q }, { lr = 0.1, momentum = 0.9, dampening = 0.5 })
    set_grad(q, { 2 })
    damp:step() -- buf 2 (no dampening on the first step)
    damp:step() -- buf 1.8 + 1 = 2.8
    close(q:item(), 1 - 0.2 - 0.28)
  end)

  it('nesterov: d = g + momentum * buf', function()
    local p = param { 0 }
    local opt = optim.SGD({ p }, { lr = 1, momentum = 0.5, nesterov = true })
    set_grad(p, { 1 })
    opt:step() -- buf 1, d 1.5
    close(p:item(), -1.5)
    opt:step() -- buf 1.5, d 1.75
    close(p:item(), -3.25)
  end)

  it('weight decay adds wd * p to the gradient (before momentum)', function()
    local p = param { 2, -4 }
    local opt = optim.SGD({ p }, { lr = 0.1, weight_decay = 0.5, momentum = 0.9 })
    set_grad(p, { 0, 1 })
    opt:step() -- d = {1, -1}
    close(p:totable(), { 1.9, -3.9 })
    opt:step() -- d = {0.95, -0.95}; buf = {0.9 + 0.95, -0.9 - 0.95}
    close(p:totable(), { 1.9 - 0.185, -3.9 + 0.185 })
    local q = param { 1 }
    set_grad(q, { 1 })
    optim.SGD({ q }, { lr = 0.1, maximize = true }):step()
    close(q:item(), 1.1)
  end)

  it('skips parameters without a gradient and zero_grad drops gradients', function()
    local a, b = param { 1 }, param { 1 }
    local opt = optim.SGD({ a, b }, { lr = 1 })
    set_grad(a, { 1 })
    opt:step()
    assert.are.same({ 0, 1 }, { a:item(), b:item() })
    opt:zero_grad()
    assert.is_nil(a.grad)
    assert.is_nil(b.grad)
  end)

  it('validates its arguments', function()
    local p = param { 1 }
    assert.truthy(error_of(optim.SGD, { p }, {}):find('lunagrad.optim.SGD: lr is required', 1, true))
    assert.truthy(error_of(optim.SGD, { p }, { learning_rate = 1 }):find("unknown option 'learning_rate'", 1, true))
    assert.truthy(error_of(optim.SGD, {}, { lr = 1 }):find('got an empty parameter list', 1, true))
    assert.truthy(error_of(optim.SGD, { p, 3 }, { lr = 1 }):find('params[2] is not a Tensor', 1, true))
    assert.truthy(error_of(optim.SGD, { lg.zeros(2) }, { lr = 1 }):find('params[1] does not require grad', 1, true))
    assert.truthy(error_of(optim.SGD, { p }, { lr = -1 }):find('lr must be a number in [0, inf], got -1', 1, true))
    assert.truthy(error_of(optim.SGD, { p }, { lr = 1, nesterov = true })
      :find('nesterov momentum requires momentum > 0 and dampening = 0', 1, true))
  end)
end)

-- Scalar reference of PyTorch's Adam / AdamW for one element.
local function adam_reference(p, grads, h)
  local m, v, vmax = 0, 0, 0
  for t, g in ipairs(grads) do
    if h.decoupled then p = p * (1 - h.lr * h.wd) else g = g + h.wd * p end
    m = h.b1 * m + (1 - h.b1) * g
    v = h.b2 * v + (1 - h.b2) * g * g
    vmax = math.max(vmax, v)
    local vv = h.amsgrad and vmax or v
    local denom = math.sqrt(vv) / math.sqrt(1 - h.b2 ^ t) + h.eps
    p = p - h.lr / (1 - h.b1 ^ t) * m / denom
  end
  return p
end

describe('optim.Adam / optim.AdamW', function()
  local grads = { { 0.5, -2, 1e-3 }, { -0.25, -1, 2e-3 }, { 1, 3, -1e-3 }, { 0.1, 0.1, 0.1 } }
  local start = { 1, -0.5, 2 }

  local function run(ctor, opts, h)
    local p = param(start)
    local opt = ctor({ p }, opts)
    for _, g in ipairs(grads) do
      set_grad(p, g)
      opt:step()
    end
    local expected = {}
    for i = 1, #start do
      local gi = {}
      for t = 1, #grads do gi[t] = grads[t][i] end
      expected[i] = adam_reference(start[i], gi, h)
    end
    close(p:totable(), expected, 1e-12, 1e-14)
    return p
  end

  it('Adam\'s first step moves each parameter by about lr * sign(g)', function()
    local p = param { 1, 1 }
    set_grad(p, { 0.5, -3 })
    optim.Adam({ p }, { lr = 0.01 }):step()
    close(p:totable(), { 1 - 0.01 * 0.5 / (0.5 + 1e-8), 1 + 0.01 * 3 / (3 + 1e-8) })
  end)

  it('Adam follows the bias-corrected rule over several steps (with weight decay, amsgrad)', function()
    run(optim.Adam, { lr = 0.1 }, { lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0 })
    run(optim.Adam, { lr = 0.05, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 0.1 },
      { lr = 0.05, b1 = 0.8, b2 = 0.99, eps = 1e-6, wd = 0.1 })
    run(optim.Adam, { lr = 0.1, amsgrad = true }, { lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0, amsgrad = true })
  end)

  it('AdamW decays the weights directly (default weight_decay 0.01)', function()
    run(optim.AdamW, { lr = 0.1 }, { lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01, decoupled = true })
    run(optim.AdamW, { lr = 0.1, weight_decay = 0.5, amsgrad = true },
      { lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.5, decoupled = true, amsgrad = true })
    local p = param { 3 }
    set_grad(p, { 0 })
    optim.AdamW({ p }, { lr = 0.1, weight_decay = 0.5 }):step()
    close(p:item(), 3 * 0.95) -- zero gradient: only the decay acts
    assert.are.equal(0.01, optim.AdamW({ p }).weight_decay)
    assert.are.equal(0, optim.Adam({ p }).weight_decay)
  end)

  it('validates betas', function()
    assert.truthy(error_of(optim.Adam, { param { 1 } }, { betas = { 0.9, 1 } })
      :find('betas must be {b1, b2} with each in [0, 1)', 1, true))
  end)
end)

describe('golden optimizer cases', function()
  local doc = json.decode(assert(io.open('spec/fixtures/golden.json', 'rb')):read('a'))
  local cases = {}
  for _, c in ipairs(doc.cases) do
    if c.kind == 'optimizer' then cases[#cases + 1] = c end
  end

  local function tensor(spec, requires_grad)
    return lg.tensor(spec.data, { requires_grad = requires_grad })
  end

  local function make(c, params)
    local h = c.hyper
    if c.optimizer == 'sgd' then
      return optim.SGD(params, { lr = h.lr, momentum = h.momentum, dampening = h.dampening,
        weight_decay = h.weight_decay, nesterov = h.nesterov })
    end
    return optim.Adam(params, { lr = h.lr, betas = { h.beta1, h.beta2 }, eps = h.eps,
      weight_decay = h.weight_decay, amsgrad = h.amsgrad })
  end

  local function check(p, spec, tol, what)
    local got, want = p:totable(), spec.data
    local function walk(a, e, path)
      if type(e) == 'table' then
        for i = 1, #e do walk(a[i], e[i], path .. '[' .. i .. ']') end
      else
        assert(math.abs(a - e) <= tol.atol + tol.rtol * math.abs(e),
          string.format('%s%s: got %.9g, expected %.9g', what, path, a, e))
      end
    end
    walk(got, want, '')
  end

  it('has the sgd and adam cases', function()
    local kinds = {}
    for _, c in ipairs(cases) do kinds[c.optimizer] = (kinds[c.optimizer] or 0) + 1 end
    assert.are.same({ sgd = 2, adam = 1 }, kinds)
  end)

  for _, c in ipairs(cases) do
    it(c.name .. ': 3 steps of a linear model trained with autograd', function()
      local x, target = tensor(c.data.x), tensor(c.data.target)
      local W, b = tensor(c.params_init.W, true), tensor(c.params_init.b, true)
      local opt = make(c, { W, b })
      for _, s in ipairs(c.steps) do
        opt:zero_grad()
        local loss = nn.F.mse_loss(nn.F.linear(x, W, b), target)
        loss:backward()
        check(loss, { data = s.loss }, c.tol, 'loss')
        opt:step()
        check(W, s.params_after.W, c.tol, c.name .. ' step ' .. s.step .. ' W')
        check(b, s.params_after.b, c.tol, c.name .. ' step ' .. s.step .. ' b')
      end
    end)

    it(c.name .. ': 3 steps from the recorded gradients alone', function()
      local W, b = tensor(c.params_init.W, true), tensor(c.params_init.b, true)
      local opt = make(c, { W, b })
      for _, s in ipairs(c.steps) do
        W.grad = tensor(s.grads.W)
        b.grad = tensor(s.grads.b)
        opt:step()
        check(W, s.params_after.W, c.tol, c.name .. ' step ' .. s.step .. ' W')
        check(b, s.params_after.b, c.tol, c.name .. ' step ' .. s.step .. ' b')
      end
    end)
  end
end)

describe('optim.schedule', function()
  local doc = json.decode(assert(io.open('spec/fixtures/golden.json', 'rb')):read('a'))
  local case
  for _, c in ipairs(doc.cases) do
    if c.name == 'dann_schedules' then case = c end
  end

  it('dann_lambda and dann_lr match the golden values', function()
    assert.are.equal(6, #case.p)
    for i, p in ipairs(case.p) do
      close(optim.schedule.dann_lambda(p), case.lambda[i], case.tol.rtol, case.tol.atol, 'lambda')
      close(optim.schedule.dann_lr(p), case.lr[i], case.tol.rtol, case.tol.atol, 'lr')
    end
    assert.are.equal(0, optim.schedule.dann_lambda(0))
    assert.are.equal(0.01, optim.schedule.dann_lr(0))
  end)

  it('takes gamma and {mu0, alpha, beta}', function()
    close(optim.schedule.dann_lambda(0.5, 2), 2 / (1 + math.exp(-1)) - 1)
    close(optim.schedule.dann_lr(1, { mu0 = 0.1, alpha = 3, beta = 0.5 }), 0.05)
  end)

  it('rejects progress outside [0, 1]', function()
    assert.truthy(error_of(optim.schedule.dann_lambda, 1.5)
      :find('lunagrad.optim.schedule.dann_lambda: progress p must be a number in [0, 1], got 1.5', 1, true))
    assert.truthy(error_of(optim.schedule.dann_lr, -0.1):find('progress p must be a number in [0, 1]', 1, true))
    assert.truthy(error_of(optim.schedule.dann_lr, 0.5, { gamma = 1 }):find("unknown option 'gamma'", 1, true))
  end)
end)

describe('optimizer state_dict', function()
  local function setup(kind)
    lg.manual_seed(99)
    local net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    local x, y = lg.randn(8, 3), lg.randn(8, 2)
    local opt
    if kind == 'sgd' then
      opt = optim.SGD(net:parameters(), { lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 1e-3 })
    else
      opt = optim.Adam(net:parameters(), { lr = 0.01, amsgrad = true, weight_decay = 1e-3 })
    end
    local function train(steps)
      for _ = 1, steps do
        opt:zero_grad()
        nn.F.mse_loss(net(x), y):backward()
        opt:step()
      end
    end
    return net, opt, train
  end

  local function snapshot(net)
    local sd = net:state_dict()
    for k, t in pairs(sd) do sd[k] = t:clone() end
    return sd
  end

  local function flat_params(net)
    local out = {}
    for _, p in ipairs(net:parameters()) do out[#out + 1] = p:totable() end
    return out
  end

  for _, kind in ipairs { 'sgd', 'adam' } do
    it(kind .. ': resuming from a snapshot is bit-identical', function()
      local net, opt, train = setup(kind)
      train(3)
      local net_sd, opt_sd = snapshot(net), opt:state_dict()
      train(4)
      local expected = flat_params(net)
      opt.lr = 123 -- restored by load_state_dict

      net:load_state_dict(net_sd)
      local net2, opt2, train2 = setup(kind) -- a fresh optimiser over another copy of the net
      net2:load_state_dict(net_sd)
      opt2:load_state_dict(opt_sd)
      train2(4)
      assert.are.same(expected, flat_params(net2))
      opt:load_state_dict(opt_sd)
      assert.are.equal(kind == 'sgd' and 0.05 or 0.01, opt.lr)
      train(4)
      assert.are.same(expected, flat_params(net))
    end)
  end

  it('exposes steps and buffers and rejects a mismatched state', function()
    local net, opt, train = setup('adam')
    train(2)
    local sd = opt:state_dict()
    assert.are.equal(2, sd.state[1].step)
    assert.are.same({ 5, 3 }, sd.state[1].exp_avg:shape())
    assert.are.equal(0.01, sd.param_groups[1].lr)
    local swapped = optim.Adam({ net[1].bias, net[1].weight, net[3].weight, net[3].bias }, { lr = 0.01 })
    assert.truthy(error_of(swapped.load_state_dict, swapped, sd)
      :find('exp_avg of parameter 1 has shape [5,3], the parameter [5]', 1, true))
    local small = optim.Adam({ net[1].weight }, { lr = 0.01 })
    assert.truthy(error_of(small.load_state_dict, small, sd):find('state for parameter 2 but the optimizer has 1', 1, true))
  end)

  it('keeps tensor memory flat over many steps', function()
    local _, _, train = setup('adam')
    train(5)
    collectgarbage()
    collectgarbage()
    local before = lg.memory().live_bytes
    train(50)
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, lg.memory().live_bytes)
  end)
end)
