-- Optimisers, schedulers, nn.init and nn.utils against PyTorch 1.13 (spec/fixtures/golden_optim.json,
-- from spec/fixtures/make_golden_optim.py).
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local json = require 'lunagrad.json'
local S = optim.lr_scheduler

local function read_golden()
  local dir = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
  local f = assert(io.open(dir .. 'fixtures/golden_optim.json', 'rb'))
  local s = f:read('a')
  f:close()
  return json.decode(s)
end
local G = read_golden()

local function close(actual, expected, rtol, atol, path)
  path = path or 'value'
  if type(expected) == 'table' then
    assert(type(actual) == 'table' and #actual == #expected,
      string.format('%s: length %s, expected %d', path, type(actual) == 'table' and #actual or type(actual), #expected))
    for i = 1, #expected do close(actual[i], expected[i], rtol, atol, path .. '[' .. i .. ']') end
  else
    assert(math.abs(actual - expected) <= atol + rtol * math.abs(expected),
      string.format('%s: got %.17g, expected %.17g', path, actual, expected))
  end
end

local F64 = { dtype = 'float64', requires_grad = true }
local W = lg.tensor(G.problem.W, { dtype = 'float64' })
local function loss_fn(a, b)
  return (W:matmul(a):tanh() ^ 2):sum() + (b ^ 4):sum() * 0.25 + (a:sum() - b:sum()) ^ 2 * 0.1 + (a * a):sum()
end

describe('optimisers match PyTorch for 8 steps with two parameter groups', function()
  for _, case in ipairs(G.optimizers) do
    it(case.name, function()
      local a, b = lg.tensor(G.problem.a, F64), lg.tensor(G.problem.b, F64)
      local g1 = { params = { a } }
      for k, v in pairs(case.group1) do g1[k] = v end
      local opt = optim[case.class]({ g1, { params = { b } } }, case.defaults)
      for step, expected in ipairs(case.trace) do
        opt:zero_grad()
        loss_fn(a, b):backward()
        opt:step()
        close(a:totable(), expected.a, 1e-11, 1e-13, case.name .. ' step ' .. step .. ' a')
        close(b:totable(), expected.b, 1e-11, 1e-13, case.name .. ' step ' .. step .. ' b')
      end
      -- the second group took the defaults
      for k, v in pairs(case.defaults) do
        if type(v) ~= 'table' then assert.are.equal(v, opt.param_groups[2][k]) end
      end
    end)
  end

  for _, case in ipairs(G.lbfgs) do
    it(case.name .. ' (5 steps with a closure)', function()
      local a, b = lg.tensor(G.problem.a, F64), lg.tensor(G.problem.b, F64)
      local opt = optim.LBFGS({ a, b }, case.opts)
      local function closure()
        opt:zero_grad()
        local loss = loss_fn(a, b)
        loss:backward()
        return loss
      end
      for step, expected in ipairs(case.trace) do
        local loss = opt:step(closure)
        close(loss:item(), expected.loss, 1e-9, 1e-12, case.name .. ' step ' .. step .. ' loss')
        close(a:totable(), expected.a, 1e-8, 1e-10, case.name .. ' step ' .. step .. ' a')
        close(b:totable(), expected.b, 1e-8, 1e-10, case.name .. ' step ' .. step .. ' b')
      end
    end)
  end
end)

local function plateau_metric(k)
  if k < 30 then return 1.0 / (1 + k) end
  if k < 70 then return 0.04 end
  return 0.03 + 0.001 * (k % 3)
end

describe('schedulers match PyTorch over 100 steps', function()
  for _, case in ipairs(G.schedulers) do
    it(case.name .. ': ' .. case.lua, function()
      local p1, p2 = lg.zeros(2, { requires_grad = true }), lg.zeros(3, { requires_grad = true })
      local opt = optim.SGD({ { params = { p1 }, lr = 0.1 }, { params = { p2 } } }, { lr = 0.05, momentum = 0.9 })
      local make = assert(load('local S, opt = ...; return ' .. case.lua))
      local sched = make(S, opt)
      local plateau = case.name:find('Plateau') ~= nil
      local function lrs() return { opt.param_groups[1].lr, opt.param_groups[2].lr } end
      local function momenta() return { opt.param_groups[1].momentum, opt.param_groups[2].momentum } end
      close(lrs(), case.lrs[1], 1e-13, 1e-16, case.name .. ' at creation')
      for k = 0, 99 do
        opt:step()
        if plateau then sched:step(plateau_metric(k)) else sched:step() end
        close(lrs(), case.lrs[k + 2], 1e-13, 1e-16, case.name .. ' after step ' .. (k + 1))
        close(sched:get_last_lr(), case.lrs[k + 2], 1e-13, 1e-16, case.name .. ' get_last_lr ' .. (k + 1))
        close(momenta(), case.momenta[k + 2], 1e-13, 1e-16, case.name .. ' momentum after step ' .. (k + 1))
      end
    end)
  end

  it('a scheduler resumed from its state_dict continues the same learning rates', function()
    for _, case in ipairs(G.schedulers) do
      if not case.name:find('Plateau') then
        local function fresh()
          local p = lg.zeros(2, { requires_grad = true })
          local q = lg.zeros(1, { requires_grad = true })
          local opt = optim.SGD({ { params = { p }, lr = 0.1 }, { params = { q } } }, { lr = 0.05, momentum = 0.9 })
          return opt, assert(load('local S, opt = ...; return ' .. case.lua))(S, opt)
        end
        local opt, sched = fresh()
        for _ = 1, 40 do sched:step() end
        local osd, ssd = opt:state_dict(), sched:state_dict()
        local opt2, sched2 = fresh()
        opt2:load_state_dict(osd)
        sched2:load_state_dict(ssd)
        for k = 41, 100 do
          sched:step()
          sched2:step()
          assert.are.same(sched:get_last_lr(), sched2:get_last_lr(), case.name .. ' step ' .. k)
          close(sched2:get_last_lr(), case.lrs[k + 1], 1e-13, 1e-16, case.name .. ' resumed, step ' .. k)
        end
      end
    end
  end)
end)

describe('nn.init matches PyTorch', function()
  it('calculate_gain', function()
    for _, g in ipairs(G.init.gains) do
      local param = g[2] ~= json.null and g[2] or nil
      close(nn.init.calculate_gain(g[1], param), g[3], 1e-15, 0, g[1])
    end
  end)

  it('fan computation', function()
    for _, f in ipairs(G.init.fans) do
      local fi, fo = nn.init.calculate_fan_in_and_fan_out(lg.empty(f.shape))
      assert.are.same({ f.fan_in, f.fan_out }, { fi, fo })
    end
  end)

  for _, case in ipairs(G.init.cases) do
    it(case.lua .. ' fills with PyTorch\'s ' .. case.fill[1] .. '(' .. case.fill[2] .. ', ' .. case.fill[3] .. ')', function()
      local w = lg.empty(case.shape, { dtype = 'float64', requires_grad = true })
      lg.manual_seed(7)
      local ret = assert(load('local nn, w = ...; return ' .. case.lua))(nn, w)
      assert.are.equal(w, ret)
      assert.is_true(w.requires_grad)
      assert.is_nil(w.grad_fn)
      lg.manual_seed(7)
      local ref = lg.empty(case.shape, { dtype = 'float64' })
      ref[case.fill[1]](ref, case.fill[2], case.fill[3])
      local diff = (w - ref):abs():max():item()
      assert(diff <= 1e-15 * math.max(1, math.abs(case.fill[3])), case.lua .. ': differs by ' .. diff)
    end)
  end

  it('eye_, constant_, zeros_, ones_ give exact values', function()
    assert.are.same(G.init.eye, nn.init.eye_(lg.empty(3, 5)):totable())
    local w = lg.empty(2, 3, { requires_grad = true })
    assert.are.same({ { 0.25, 0.25, 0.25 }, { 0.25, 0.25, 0.25 } }, nn.init.constant_(w, 0.25):totable())
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, nn.init.zeros_(w):totable())
    assert.are.same({ { 1, 1, 1 }, { 1, 1, 1 } }, nn.init.ones_(w):totable())
  end)

  it('orthogonal_ gives orthonormal rows or columns, times gain', function()
    for _, shape in ipairs { { 3, 5 }, { 6, 4 }, { 4, 4 }, { 3, 2, 2 } } do
      local w = lg.empty(shape, { dtype = 'float64', requires_grad = true })
      nn.init.orthogonal_(w, 1.5)
      local m = w:reshape(shape[1], -1)
      local rows, cols = m:shape()[1], m:shape()[2]
      local gram = rows <= cols and m:matmul(m:t()) or m:t():matmul(m)
      local n = math.min(rows, cols)
      local eye = nn.init.eye_(lg.empty(n, n, { dtype = 'float64' })) * 2.25
      assert((gram - eye):abs():max():item() < 1e-12, 'not orthogonal for ' .. table.concat(shape, 'x'))
    end
    assert.has_error(function() nn.init.orthogonal_(lg.empty(3)) end,
      'lunagrad.nn.init.orthogonal_: only tensors with 2 or more dimensions are supported')
  end)

  it('trunc_normal_ has the truncated distribution\'s moments and bounds', function()
    local t = G.init.trunc_normal
    lg.manual_seed(3)
    local x = nn.init.trunc_normal_(lg.empty(1000000, { dtype = 'float64' }), t.mean, t.std, t.a, t.b)
    assert(x:min():item() >= t.a and x:max():item() <= t.b)
    close(x:mean():item(), t.sample_mean, 0, 0.01, 'mean')
    local sd = math.sqrt(((x - x:mean()) ^ 2):sum():item() / (1000000 - 1))
    close(sd, t.sample_std, 0, 0.01, 'std')
  end)

  it('kaiming_normal_ and xavier_normal_ have the standard deviation they promise', function()
    lg.manual_seed(11)
    local w = nn.init.kaiming_normal_(lg.empty(256, 64, 3, 3), { mode = 'fan_out', nonlinearity = 'relu' })
    close(math.sqrt((w * w):mean():item()), math.sqrt(2 / (256 * 9)), 0.01, 0)
    w = nn.init.xavier_normal_(lg.empty(400, 600))
    close(math.sqrt((w * w):mean():item()), math.sqrt(2 / 1000), 0.01, 0)
  end)

  it('rejects bad input with lunagrad.nn.init.<fn> errors', function()
    assert.has_error(function() nn.init.xavier_uniform_(lg.empty(4)) end,
      'lunagrad.nn.init.xavier_uniform_: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (got 1)')
    assert.has_error(function() nn.init.kaiming_uniform_(lg.empty(2, 2), { mode = 'fan_avg' }) end,
      "lunagrad.nn.init.kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got fan_avg")
    assert.has_error(function() nn.init.kaiming_uniform_(lg.empty(2, 2), { gain = 1 }) end,
      "lunagrad.nn.init.kaiming_uniform_: unknown option 'gain' (known: a, mode, nonlinearity)")
    assert.has_error(function() nn.init.calculate_gain('swish') end,
      "lunagrad.nn.init.calculate_gain: unsupported nonlinearity 'swish' (linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu, selu)")
    assert.has_error(function() nn.init.eye_(lg.empty(2, 2, 2)) end, 'lunagrad.nn.init.eye_: only 2-D tensors are supported, got 3-D')
    assert.has_error(function() nn.init.normal_({}) end, 'lunagrad.nn.init.normal_: bad argument #1 (Tensor expected, got table)')
  end)
end)

describe('nn.utils matches PyTorch', function()
  local function params()
    local p1, p2 = lg.zeros(2, 3, F64), lg.zeros(2, F64)
    p1.grad = lg.tensor(G.clip.G1, { dtype = 'float64' })
    p2.grad = lg.tensor(G.clip.G2, { dtype = 'float64' })
    return p1, p2
  end

  for _, c in ipairs(G.clip.norm) do
    it('clip_grad_norm_ with norm_type ' .. tostring(c.norm_type) .. ', max_norm ' .. c.max_norm, function()
      local p1, p2 = params()
      local total = nn.utils.clip_grad_norm_({ p1, p2 }, c.max_norm, c.norm_type)
      close(total, c.total, 1e-14, 0, 'total')
      close(p1.grad:totable(), c.g1, 1e-14, 1e-16, 'g1')
      close(p2.grad:totable(), c.g2, 1e-14, 1e-16, 'g2')
    end)
  end

  it('clip_grad_value_ and a module or tensor as params', function()
    local p1 = params()
    nn.utils.clip_grad_value_(p1, G.clip.value.clip_value)
    assert.are.same(G.clip.value.g1, p1.grad:totable())
    local net = nn.Linear(3, 2)
    assert.are.equal(0.0, nn.utils.clip_grad_norm_(net, 1)) -- no gradients yet
  end)

  it('parameters_to_vector / vector_to_parameters round-trip', function()
    local a, b = lg.tensor({ { 1, 2 }, { 3, 4 } }, F64), lg.tensor({ 5, 6 }, F64)
    local v = nn.utils.parameters_to_vector({ a, b })
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, v:totable())
    nn.utils.vector_to_parameters(v * 10, { a, b })
    assert.are.same({ { 10, 20 }, { 30, 40 } }, a:totable())
    assert.are.same({ 50, 60 }, b:totable())
    assert.has_error(function() nn.utils.vector_to_parameters(lg.zeros(5), { a, b }) end,
      'lunagrad.nn.utils.vector_to_parameters: the vector has 5 elements, the parameters 6')
    assert.has_error(function() nn.utils.clip_grad_norm_({ a }, 1, -1) end,
      "lunagrad.nn.utils.clip_grad_norm_: norm_type must be a number >= 0 or 'inf', got -1")
    a.grad = lg.tensor({ { 0 / 0, 1 }, { 1, 1 } }, { dtype = 'float64' })
    assert.has_error(function() nn.utils.clip_grad_norm_({ a }, 1, 2, { error_if_nonfinite = true }) end)
  end)
end)
