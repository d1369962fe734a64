-- Activation modules and functions (issue 13 item 3) against PyTorch 1.13
-- (spec/fixtures/golden_act.json, made by spec/fixtures/make_golden_act.py): outputs, input
-- gradients, PReLU's weight gradient and state_dict names; double backward through the
-- composed ones; statistics of Dropout1d/Dropout2d/AlphaDropout; bad input.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local F = nn.functional
local json = require 'lunagrad.json'
local files = require 'helpers.files'

local golden = json.decode(files.read('spec/fixtures/golden_act.json'))
-- the cases' data is dropped once they have run (busted keeps this file's closures, and a
-- larger heap left behind shifts the GC timing that spec/soak_spec.lua measures)
local RTOL, ATOL = 1e-10, 1e-12

local compare = require 'helpers.golden_compare'
local flat, assert_close = compare.flat, compare.checker(RTOL, ATOL)

local function f64(data, rg) return lg.tensor(data, { dtype = 'float64', requires_grad = rg }) end

local function run(code, env)
  local chunk = assert(load('return ' .. code, code, 't', setmetatable(env, { __index = _G })))
  return chunk()
end

describe('activations against PyTorch 1.13', function()
  teardown(function()
    for _, case in ipairs(golden.cases) do
      for k in pairs(case) do if k ~= 'name' and k ~= 'lua' then case[k] = nil end end
    end
    golden = nil
  end)
  for _, case in ipairs(golden.cases) do
    it(case.name .. ': ' .. case.lua, function()
      local x = f64(case.x, true)
      local env = { lg = lg, nn = nn, F = F, x = x }
      local obj = run(case.lua, env)
      local y, m
      if nn.is_module(obj) then
        m = obj:double()
        for _, p in ipairs(case.params) do
          m:load_state_dict({ [p.name] = f64(p.data) }, false)
        end
        local keys = m:state_dict_keys()
        assert.are.same(case.state_dict_keys, keys)
        y = m(x)
      else
        y = obj
      end
      assert_close('output', y, case.out)
      local loss = (y * f64(case.u)):sum()
      loss:backward()
      assert_close('grad x', x.grad, case.grad_x, case.grad_rtol ~= json.null and case.grad_rtol or nil)
      for _, p in ipairs(case.params) do
        assert_close('grad ' .. p.name, m:named_parameters()[p.name].grad, p.grad)
      end
    end)
  end

  it('float32 modules agree with the float64 golden values to float32 precision', function()
    for _, case in ipairs(golden.cases) do
      local x = lg.tensor(case.x, { dtype = 'float32', requires_grad = true })
      local obj = run(case.lua, { lg = lg, nn = nn, F = F, x = x })
      local y = obj
      if nn.is_module(obj) then
        for _, p in ipairs(case.params) do obj:load_state_dict({ [p.name] = lg.tensor(p.data) }, false) end
        y = obj(x)
      end
      assert.are.equal('float32', y.dtype)
      assert_close(case.name .. ' float32 output', y, case.out, 1e-5, 1e-6)
    end
  end)
end)

describe('activation modules', function()
  it('PReLU: one learnable weight named weight, init 0.25 or given, per channel on dim 2', function()
    local m = nn.PReLU()
    assert.are.same({ 'weight' }, m:state_dict_keys())
    assert.are.same({ 0.25 }, m.weight:totable())
    assert.is_true(m.weight.requires_grad)
    local m3 = nn.PReLU(3, 0.1)
    assert.are.same({ 3 }, m3.weight:shape())
    m3.weight = nil
    m3:register_parameter('weight', lg.tensor({ 0.1, 0.2, 0.3 }))
    local y = m3(lg.full({ 2, 3, 2 }, -1.0))
    assert.are.same({ -0.1, -0.2, -0.3 }, (function()
      local t = y:select(1, 1):select(2, 1):totable()
      for i = 1, 3 do t[i] = math.floor(t[i] * 1000 + 0.5) / 1000 end
      return t
    end)())
    assert.are.same({ 3.0 }, nn.PReLU()(lg.tensor({ 3.0 })):totable())
  end)

  it('PReLU, Hardtanh, ReLU6, Softmin are differentiable twice (composed of ops)', function()
    local x = lg.tensor({ -1.5, -0.3, 0.7, 2.2 }, { dtype = 'float64', requires_grad = true })
    local w = lg.tensor({ 0.2 }, { dtype = 'float64', requires_grad = true })
    -- d/dw of sum(dL/dx) for L = sum(prelu(x, w)^2): dL/dx = 2 y y', y = w x (x<0), y' = w
    local y = F.prelu(x, w)
    local g = lg.grad((y * y):sum(), { x }, { create_graph = true })[1]
    local gw = lg.grad(g:sum(), { w })[1]
    -- sum over x<0 of d(2 w^2 x)/dw = 4 w x: 4 * 0.2 * (-1.8)
    assert.is_true(math.abs(gw:item() - 4 * 0.2 * (-1.8)) < 1e-12)
    local z = lg.tensor({ 0.3, -0.4, 0.9 }, { dtype = 'float64', requires_grad = true })
    local s = F.softmin(z * z, 1)
    local gz = lg.grad(s:select(1, 1), { z }, { create_graph = true })[1]
    local h = lg.grad(gz:sum(), { z })[1]
    assert.are.equal(3, h:numel())
    assert.is_true(h:abs():sum():item() > 0)
  end)

  it('GELU accepts the approximate string alone and prints it', function()
    assert.are.equal("nn.GELU(approximate='tanh')", tostring(nn.GELU('tanh')))
    local x = lg.tensor({ -1.0, 0.5, 2.0 }, { dtype = 'float64' })
    assert_close('gelu tanh', nn.GELU('tanh')(x), lg.gelu_tanh(x):totable())
  end)

  it('save and load keep the constructor arguments and the PReLU weight', function()
    local net = nn.Sequential(nn.Linear(3, 4), nn.PReLU(4, 0.3), nn.ELU(0.5), nn.Softplus(2, 5),
      nn.Hardtanh(-2, 2), nn.GELU({ approximate = 'tanh' }), nn.Dropout1d(0.3), nn.AlphaDropout(0.2))
    net:evaluate()
    local path = os.tmpname()
    nn.save(net, path)
    local back = nn.load(path)
    os.remove(path)
    back:evaluate()
    assert.are.same(net:state_dict_keys(), back:state_dict_keys())
    assert.are.same({ '1.weight', '1.bias', '2.weight' }, back:state_dict_keys())
    assert.are.equal(0.5, back[3].alpha)
    assert.are.equal(2, back[4].beta)
    assert.are.equal(5, back[4].threshold)
    assert.are.equal('tanh', back[6].approximate)
    local x = lg.randn(5, 3)
    assert_close('loaded net', back(x), net(x):totable(), 1e-6, 1e-7)
  end)
end)

describe('channel dropout and AlphaDropout', function()
  before_each(function() lg.manual_seed(7) end)

  local function check_channels(y, N, C, p)
    local kept, scale = 0, 1 / (1 - p)
    for n = 1, N do
      for c = 1, C do
        local vals = flat(y:select(1, n):select(1, c):totable())
        local first = vals[1]
        assert.is_true(math.abs(first) < 1e-6 or math.abs(first - scale) < 1e-5, 'value ' .. first)
        for _, v in ipairs(vals) do assert.are.equal(first, v) end -- one mask value per (n, c)
        if first ~= 0 then kept = kept + 1 end
      end
    end
    return kept
  end

  it('Dropout2d: one mask value per (N, C), scaled by 1/(1-p), about 1-p of the channels kept', function()
    local N, C, p = 40, 50, 0.3
    local y = nn.Dropout2d(p)(lg.ones(N, C, 3, 4))
    local kept = check_channels(y, N, C, p)
    -- 2000 Bernoulli(0.7) draws: mean 1400, sd ~20.5
    assert.is_true(math.abs(kept - 1400) < 100, 'kept ' .. kept)
  end)

  it('Dropout1d: one mask value per (N, C) on [N, C, L]; per C on [C, L]', function()
    local N, C, p = 30, 40, 0.5
    local kept = check_channels(nn.Dropout1d(p)(lg.ones(N, C, 6)), N, C, p)
    assert.is_true(math.abs(kept - 600) < 80, 'kept ' .. kept)
    local y = F.dropout1d(lg.ones(C, 6), p)
    for c = 1, C do
      local vals = y:select(1, c):totable()
      for _, v in ipairs(vals) do assert.are.equal(vals[1], v) end
    end
  end)

  it('gradients flow through the kept channels only, scaled', function()
    local x = lg.ones({ 4, 5, 3 }, { requires_grad = true })
    local y = F.dropout1d(x, 0.5)
    y:sum():backward()
    assert.are.same(y:totable(), x.grad:totable())
  end)

  it('the identity in evaluate mode, for p = 0, and with training = false', function()
    local x = lg.randn(2, 3, 4, 4)
    for _, m in ipairs { nn.Dropout2d(0.5), nn.AlphaDropout(0.5) } do
      m:evaluate()
      assert.are.equal(x, m(x))
    end
    assert.are.equal(x, nn.Dropout2d(0)(x))
    assert.are.equal(x, F.dropout2d(x, 0.9, false))
    assert.are.equal(x, F.alpha_dropout(x, 0.5)) -- PyTorch's default: training = false
    assert.are.equal(0, F.dropout2d(x, 1):abs():sum():item())
  end)

  it('AlphaDropout keeps the mean and variance of N(0, 1) input; dropped units take one value', function()
    for _, p in ipairs { 0.2, 0.5 } do
      local x = lg.randn({ 200000 }, { dtype = 'float64' })
      local y = nn.AlphaDropout(p)(x)
      local mean = y:mean():item()
      local var = ((y - mean) ^ 2):mean():item()
      -- sd of the sample mean ~ 1/sqrt(2e5) = 0.0022
      assert.is_true(math.abs(mean) < 0.015, 'mean ' .. mean)
      assert.is_true(math.abs(var - 1) < 0.03, 'var ' .. var)
      -- PyTorch's formula: a dropped unit is a * (-alpha) + alpha * a * p
      local alpha = 1.7580993408473766
      local a = 1 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
      local dropped = -alpha * a + alpha * a * p
      local xs, ys, nd = x:narrow(1, 1, 2000):totable(), y:narrow(1, 1, 2000):totable(), 0
      for i = 1, 2000 do
        if math.abs(ys[i] - dropped) < 1e-12 then
          nd = nd + 1
        else
          assert.is_true(math.abs(ys[i] - (a * xs[i] + alpha * a * p)) < 1e-12)
        end
      end
      assert.is_true(math.abs(nd - 2000 * p) < 150, 'dropped ' .. nd)
    end
  end)
end)

describe('activations: bad input', function()
  local function raises(pat, f)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find(pat, 1, true), tostring(err))
  end

  it('bad p', function()
    raises('lunagrad.nn.Dropout1d: p must be a number in [0, 1], got 1.5', function() nn.Dropout1d(1.5) end)
    raises('lunagrad.nn.Dropout2d: p must be a number in [0, 1], got -0.1', function() nn.Dropout2d(-0.1) end)
    raises('lunagrad.nn.AlphaDropout: p must be a number in [0, 1], got x', function() nn.AlphaDropout('x') end)
    raises('lunagrad.nn.functional.dropout2d: p must be a number in [0, 1]', function() F.dropout2d(lg.ones(1, 1, 2, 2), 2) end)
    raises('lunagrad.nn.functional.alpha_dropout: p must be a number in [0, 1]', function() F.alpha_dropout(lg.ones(2), 2, true) end)
  end)

  it('num_parameters against the channels', function()
    raises('lunagrad.nn.PReLU: num_parameters = 4 but the input [2,3,5] has 3 channels (dim 2); use nn.PReLU(3)',
      function() nn.PReLU(4)(lg.ones(2, 3, 5)) end)
    raises('lunagrad.nn.PReLU: num_parameters = 4 but the input [5] has no channels', function() nn.PReLU(4)(lg.ones(5)) end)
    raises('lunagrad.nn.PReLU: num_parameters must be an integer >= 1, got 0', function() nn.PReLU(0) end)
    raises('lunagrad.nn.functional.prelu: weight has 2 elements (num_parameters) but input [2,3] has 3 channels',
      function() F.prelu(lg.ones(2, 3), lg.ones(2)) end)
  end)

  it('wrong dims for channel dropout, bad arguments, and the colon hint', function()
    raises('lunagrad.nn.Dropout2d: expected a 4-d (batched) or 3-d (unbatched) input, got [2,3]',
      function() nn.Dropout2d()(lg.ones(2, 3)) end)
    raises('lunagrad.nn.Dropout1d: expected a 3-d (batched) or 2-d (unbatched) input, got [1,2,3,4]',
      function() nn.Dropout1d()(lg.ones(1, 2, 3, 4)) end)
    raises("lunagrad.nn.GELU: approximate must be 'none' or 'tanh', got fast", function() nn.GELU('fast') end)
    raises("lunagrad.nn.GELU: unknown option 'approx'", function() nn.GELU({ approx = 'tanh' }) end)
    raises('lunagrad.nn.Hardtanh: max_val (-1) must be greater than min_val (1)', function() nn.Hardtanh(1, -1) end)
    raises('lunagrad.nn.Softmin: dim must be an integer, got 1.5', function() nn.Softmin(1.5) end)
    raises('lunagrad.nn.ELU: alpha must be a number', function() nn.ELU('a') end)
    raises('lunagrad.nn.CELU: alpha must not be 0', function() nn.CELU(0) end)
    raises('call it with a colon', function() local m = nn.Mish(); m.forward(lg.ones(2)) end)
    raises('lunagrad.nn.SiLU', function() nn.SiLU()('x') end)
  end)
end)
