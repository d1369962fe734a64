-- Anomaly mode: lg.detect_anomaly(true/false | fn), lg.is_anomaly_enabled().
-- When on, the output of every op recorded for autograd is checked for NaN/Inf
-- (error names the op and the Lua line that called it), and backward checks
-- every gradient a node returns (error names the op and where it was created).
-- Tensors made from data (lg.tensor, lg.full, lg.load) and ops on tensors that
-- do not require grad record nothing and are not checked, as in PyTorch.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'

local SPEC = 'spec/anomaly_spec.lua'

local function line() return debug.getinfo(2, 'l').currentline end

-- The error of fn(), with the leading "file:line: " of error() removed.
local function err_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, 'expected an error')
  return (tostring(err):gsub('^[^\n]-:%d+: ', '', 1))
end

describe('anomaly mode', function()
  after_each(function() lg.detect_anomaly(false) end)

  it('is off by default and returns the previous mode when set', function()
    assert.is_false(lg.is_anomaly_enabled())
    assert.is_false(lg.detect_anomaly(true))
    assert.is_true(lg.is_anomaly_enabled())
    assert.is_true(lg.detect_anomaly(true))
    assert.is_true(lg.detect_anomaly(false))
    assert.is_false(lg.is_anomaly_enabled())
  end)

  it('rejects a non-boolean argument', function()
    assert.has_error(function() lg.detect_anomaly(1) end,
      'lunagrad.detect_anomaly: expects true, false or a function, got number')
  end)

  it('names the op and the line whose forward output holds NaN', function()
    lg.detect_anomaly(true)
    local x = lg.tensor({ -1, 2 }, { requires_grad = true })
    local l, msg = line() + 1, err_of(function()
      return x:log() end)
    assert.are.equal(('lunagrad.log: output contains NaN (at %s:%d)'):format(SPEC, l), msg)
  end)

  it('reports Inf outputs too (division by zero)', function()
    lg.detect_anomaly(true)
    local x = lg.tensor({ 1, 2 }, { requires_grad = true })
    local l, msg = line() + 1, err_of(function()
      return x / 0 end)
    assert.are.equal(('lunagrad.div: output contains Inf (at %s:%d)'):format(SPEC, l), msg)
  end)

  it('names the backward function, the input and where the op was created (Inf)', function()
    lg.detect_anomaly(true)
    local x = lg.tensor({ 0, 4 }, { requires_grad = true })
    local l = line() + 1
    local y = x:sqrt() -- forward is finite: sqrt(0) = 0; d/dx = 1 / (2 sqrt(x)) = Inf at 0
    assert.are.same({ 0, 2 }, y:totable())
    local msg = err_of(function() y:sum():backward() end)
    assert.are.equal(("lunagrad.backward: function 'sqrt' returned Inf values in its 1st input gradient "
      .. '(op created at %s:%d)'):format(SPEC, l), msg)
  end)

  it('reports NaN in a later input gradient (pow_tensor, 2nd input)', function()
    lg.detect_anomaly(true)
    local a = lg.tensor({ -1, 1 }, { requires_grad = true })
    local b = lg.tensor({ 2, 2 }, { requires_grad = true })
    local l = line() + 1
    local p = a ^ b -- forward finite; d/db = a^b * log(a) = 1 * log(-1) = NaN at a = -1
    local msg = err_of(function() p:sum():backward() end)
    assert.are.equal(("lunagrad.backward: function 'pow_tensor' returned NaN values in its 2nd input gradient "
      .. '(op created at %s:%d)'):format(SPEC, l), msg)
  end)

  it('stops at the first bad gradient in backward order (the op nearest the loss)', function()
    lg.detect_anomaly(true)
    local x = lg.tensor({ 0, 1 }, { requires_grad = true })
    local s = x:sqrt()       -- its gradient would be NaN too (0 * Inf) ...
    local l = line() + 1
    local r = s:sqrt()       -- ... but this one runs first and yields Inf
    local msg = err_of(function() r:sum():backward() end)
    assert.are.equal(("lunagrad.backward: function 'sqrt' returned Inf values in its 1st input gradient "
      .. '(op created at %s:%d)'):format(SPEC, l), msg)
  end)

  it('blames the user line for ops run inside lunagrad modules', function()
    local m = nn.Linear(2, 2)
    lg.no_grad(function() m.weight:fill(0 / 0) end)
    lg.detect_anomaly(true)
    local l, msg = line() + 1, err_of(function()
      local out = m(lg.ones(1, 2)); return out end) -- not a tail call: that frame would be gone
    assert.matches(('^lunagrad.linear: output contains NaN %%(at %s:%d %%(via lunagrad/'):format(
      SPEC:gsub('%p', '%%%0'), l), msg)
  end)

  it('does not check tensors made from data or ops that record nothing', function()
    lg.detect_anomaly(true)
    local t = lg.tensor({ 0 / 0, 1 / 0 })
    local y = t:log() -- no requires_grad: no node, no check
    assert.is_true(y:totable()[1] ~= y:totable()[1])
    local x = lg.tensor({ -1 }, { requires_grad = true })
    local z = lg.no_grad(function() return x:log() end)
    assert.is_true(z:item() ~= z:item())
    assert.are.equal(3, lg.tensor({ 1, 2 }, { dtype = 'int64' }):sum():item())
  end)

  it('leaves results untouched when off: NaN flows through forward and backward', function()
    local x = lg.tensor({ -1, 0 }, { requires_grad = true })
    local y = x:log()
    assert.is_true(y:totable()[1] ~= y:totable()[1])
    assert.are.equal(-math.huge, y:totable()[2])
    x:sqrt():sum():backward()
    assert.are.equal(math.huge, x.grad:totable()[2])
  end)

  it('runs a function with the mode on, restoring it even on error', function()
    local x = lg.tensor({ 4 }, { requires_grad = true })
    local r = lg.detect_anomaly(function(a, b) return (x * a):sum():item() + b, lg.is_anomaly_enabled() end, 2, 1)
    assert.are.equal(9, r)
    local on, _ = select(2, lg.detect_anomaly(function() return 0, lg.is_anomaly_enabled() end))
    assert.is_true(on)
    assert.is_false(lg.is_anomaly_enabled())
    local msg = err_of(function() lg.detect_anomaly(function() return (x * 0):log() end) end)
    assert.are.equal('lunagrad.log: output contains Inf', msg:match('^[^(]+'):gsub('%s+$', ''))
    assert.is_false(lg.is_anomaly_enabled())
  end)

  it('says the site is unknown for ops recorded before the mode was turned on', function()
    local x = lg.tensor({ 0 }, { requires_grad = true })
    local y = x:sqrt()
    lg.detect_anomaly(true)
    local msg = err_of(function() y:sum():backward() end)
    assert.are.equal("lunagrad.backward: function 'sqrt' returned Inf values in its 1st input gradient "
      .. '(creation site unknown: enable anomaly mode before the forward pass)', msg)
  end)

  it('passes a clean training step and gives the same gradients as with the mode off', function()
    local function grads()
      lg.manual_seed(3)
      local m = nn.Linear(3, 2)
      local x = lg.randn(4, 3)
      local loss = nn.functional.cross_entropy(m(x), lg.tensor({ 1, 2, 1, 2 }, { dtype = 'int64' }))
      loss:backward()
      return m.weight.grad:totable(), loss:item()
    end
    local g_off, l_off = grads()
    lg.detect_anomaly(true)
    local g_on, l_on = grads()
    assert.are.same(g_off, g_on)
    assert.are.equal(l_off, l_on)
  end)
end)
