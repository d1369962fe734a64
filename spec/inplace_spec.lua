-- In-place ops (names ending in _) and the version counter that keeps backward
-- from reading values changed after they were saved (PyTorch's rule).
local lg = require 'lunagrad'

local function f64(v, grad) return lg.tensor(v, {dtype = 'float64', requires_grad = grad or false}) end

describe('in-place ops', function()
  it('compute in place and return the tensor itself', function()
    local x = lg.tensor{1, 2, 3}
    local id = x:storage_id()
    assert.are.equal(x, x:add_(1))
    assert.are.same({2, 3, 4}, x:totable())
    x:sub_(lg.tensor{1, 1, 1}, {alpha = 2}):mul_(2):div_(lg.tensor{2, 2, 4})
    assert.are.same({0, 1, 1}, x:totable())
    x:add_(lg.tensor{10}, {alpha = 0.5}) -- the other operand broadcasts
    assert.are.same({5, 6, 6}, x:totable())
    x:clamp_(5.5, 5.8):fill_(7)
    assert.are.same({7, 7, 7}, x:totable())
    x:zero_():copy_(lg.tensor{-1, 2, -3}):relu_()
    assert.are.same({0, 2, 0}, x:totable())
    x:masked_fill_(lg.tensor{1, 0, 1}, 9)
    assert.are.same({9, 2, 9}, x:totable())
    assert.are.equal(id, x:storage_id())
  end)

  it('write through views into the base', function()
    local base = lg.zeros(2, 3)
    base:select(1, 2):fill_(4)
    base:narrow(2, 1, 1):add_(1)
    assert.are.same({{1, 0, 0}, {5, 4, 4}}, base:totable())
  end)

  it('random fills follow the seed and their parameters', function()
    lg.manual_seed(5)
    local a = lg.empty(1000):uniform_(-2, 3)
    lg.manual_seed(5)
    local b = lg.empty(1000):uniform_(-2, 3)
    assert.are.same(a:totable(), b:totable())
    assert.is_true(a:min():item() >= -2 and a:max():item() < 3)
    local n = lg.empty(20000, {dtype = 'float64'}):normal_(1, 2)
    assert.is_true(math.abs(n:mean():item() - 1) < 0.08)
    local s = ((n - n:mean()) ^ 2):mean():sqrt():item()
    assert.is_true(math.abs(s - 2) < 0.08)
    local k = lg.empty(20000):bernoulli_(0.3)
    assert.is_true(math.abs(k:mean():item() - 0.3) < 0.02)
    assert.are.same({0, 1}, {k:min():item(), k:max():item()})
  end)

  it('refuse a leaf that requires grad, unless under no_grad', function()
    local w = f64({1, 2}, true)
    local ok, err = pcall(function() w:add_(1) end)
    assert.is_false(ok)
    assert.matches('lunagrad.add_: add_: a leaf tensor that requires grad cannot be modified in place', err, 1, true)
    lg.no_grad(function() w:mul_(3) end)
    assert.are.same({3, 6}, w:totable())
    assert.is_true(w.requires_grad)
  end)

  it('are differentiable: the tensor continues the op history', function()
    local x = f64({1, 2}, true)
    local h = x * 3
    h:add_(x, {alpha = 2}):relu_() -- h = relu(3x + 2x)
    assert.are.equal('relu', h.grad_fn)
    h:sum():backward()
    assert.are.same({5, 5}, x.grad:totable())
  end)

  it('keep what the op needs: mul_ and clamp_ give PyTorch 1.13\'s gradients', function()
    local x = f64({1, 2, 3}, true)
    local h = x * 2
    h:add_(1):mul_(x) -- (2x + 1) * x: mul_ needs the old h for x's gradient
    h:sum():backward()
    assert.are.same({5, 9, 13}, x.grad:totable())
    local y = f64({1, 2, 3}, true)
    local k = y * 2
    k:clamp_(0, 3)
    k:sum():backward()
    assert.are.same({2, 0, 0}, y.grad:totable())
  end)

  it('copy_ is differentiable in its source', function()
    local src = f64({2, 3}, true)
    local buf = lg.zeros(2, {dtype = 'float64'})
    buf:copy_(src * src)
    buf:sum():backward()
    assert.are.same({4, 6}, src.grad:totable())
  end)

  it('backward refuses values changed after an op saved them, naming the op', function()
    local x = f64({1, 2}, true)
    local a = lg.tensor({3, 4}, {dtype = 'float64'})
    local y = x * a -- mul saves a
    lg.no_grad(function() a:add_(1) end)
    local ok, err = pcall(function() y:sum():backward() end)
    assert.is_false(ok)
    assert.matches("a tensor that 'mul' saved for its gradient (saved tensor 2, shape [2]) was modified by an in-place operation", err, 1, true)
    -- optimiser-style writes count too
    local z = x * a
    lg.no_grad(function() a:copy(lg.tensor{1, 1}) end)
    ok, err = pcall(function() z:sum():backward() end)
    assert.is_false(ok)
    assert.matches('modified by an in%-place operation', err)
  end)

  it('keeps the dtype: an int64 tensor refuses a float result', function()
    local i = lg.tensor({1, 2}, {dtype = 'int64'})
    i:add_(2)
    assert.are.same({3, 4}, i:totable())
    local ok, err = pcall(function() i:mul_(0.5) end)
    assert.is_false(ok)
    assert.matches('cannot be stored in place into an int64 tensor', err)
    ok, err = pcall(function() lg.zeros(2):add_(lg.zeros(3, 2)) end)
    assert.is_false(ok)
    assert.matches("the result's shape %[3,2%] does not match the tensor's %[2%]", err)
  end)

  it('leave no memory behind', function()
    collectgarbage()
    local before = lg.memory().live_bytes
    for _ = 1, 200 do
      local x = f64({1, 2, 3}, true)
      local h = x * 2
      h:add_(1):mul_(x)
      h:sum():backward()
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, lg.memory().live_bytes)
  end)
end)
