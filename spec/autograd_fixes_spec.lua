-- Gradients at the edges, as PyTorch 1.13 gives them (values printed by
-- torch with float64 inputs), and the backward options contract.
local lg = require 'lunagrad'

local function leaf(values) return lg.tensor(values, {dtype = 'float64', requires_grad = true}) end

describe('gradients at the edges (PyTorch values)', function()
  it('leaky_relu keeps float64 slopes exact', function()
    local x = leaf{0.5, -1}
    x:leaky_relu(-0.3):sum():backward()
    assert.are.same({1, -0.3}, x.grad:totable())
    local y = leaf{0.5, -1}
    y:leaky_relu(0.2):sum():backward()
    assert.are.same({1, 0.2}, y.grad:totable())
  end)

  it('x ^ 0 has a zero gradient, also at 0', function()
    local x = leaf{0, 1, 2};
    (x ^ 0):sum():backward()
    assert.are.same({0, 0, 0}, x.grad:totable())
  end)

  it('x ^ e with a tensor exponent: zero where e == 0, and d/de zero at x == 0', function()
    local x, e = leaf{0, 1.5}, leaf{2, 0};
    (x ^ e):sum():backward()
    assert.are.same({0, 0}, x.grad:totable())
    assert.are.equal(0, e.grad:totable()[1])
    assert.is_true(math.abs(e.grad:totable()[2] - 0.4054651081081644) < 1e-15)
  end)

  it('0 ^ x has a zero gradient for x >= 0', function()
    local x = leaf{0, 1, 2};
    (0 ^ x):sum():backward()
    assert.are.same({0, 0, 0}, x.grad:totable())
  end)

  it('x ^ 2 at 0', function()
    local x = leaf{0, -1};
    (x ^ 2):sum():backward()
    assert.are.same({0, -2}, x.grad:totable())
  end)

  it('sign is differentiable with a zero gradient (zeros, not nil)', function()
    local x = leaf{0.5, -1};
    (x:sign() * 3):sum():backward()
    assert.are.same({0, 0}, x.grad:totable())
  end)

  it('comparisons of float64 tensors stay float64', function()
    local x = leaf{1, 2}
    assert.are.equal('float64', x:gt(1).dtype)
    assert.are.equal('float64', x:eq(lg.tensor{1, 3}).dtype)
  end)
end)

describe('backward options', function()
  it('a table with create_graph is options, not a gradient', function()
    local x = leaf{1, 2}
    local y = (x * x * x):sum()
    y:backward({create_graph = true})
    assert.are.same({3, 12}, x.grad:totable())
    assert.truthy(x.grad.grad_fn) -- differentiable again
    x.grad = nil -- x.grad's graph holds x: a cycle until .grad is dropped (PyTorch warns of the same)
  end)

  it('rejects unknown keys, naming the valid ones', function()
    local x = leaf{1, 2}
    local y = (x * x):sum()
    local ok, err = pcall(function() y:backward({retain_grpah = true}) end)
    assert.is_false(ok)
    assert.matches("lunagrad.backward: unknown option 'retain_grpah' %(valid: retain_graph, create_graph%)", err)
    ok, err = pcall(function() y:backward(lg.tensor(1, {dtype = 'float64'}), {create_grap = true}) end)
    assert.is_false(ok)
    assert.matches("unknown option 'create_grap'", err)
  end)

  it('a gradient and options together', function()
    local x = leaf{1, 2}
    local y = x * x
    y:backward(lg.tensor({1, 1}, {dtype = 'float64'}), {retain_graph = true})
    y:backward(lg.tensor({1, 1}, {dtype = 'float64'}))
    assert.are.same({4, 8}, x.grad:totable())
  end)
end)

describe('lunagrad.grad', function()
  it('returns gradients without touching .grad', function()
    local x = leaf{1, 2}
    local g = lg.grad((x * x):sum(), {x})
    assert.are.same({2, 4}, g[1]:totable())
    assert.is_nil(x.grad)
  end)

  it('takes several outputs with grad_outputs, and intermediate tensors as inputs', function()
    local x = leaf{1, 2}
    local h = x * 3
    local a, b = h * h, h:sin()
    local g = lg.grad({a, b}, {h, x}, {grad_outputs = {lg.tensor({1, 0}, {dtype = 'float64'}),
                                                       lg.tensor({0, 1}, {dtype = 'float64'})}})
    assert.are.same({6, math.cos(6)}, g[1]:totable())
    assert.are.same({18, 3 * math.cos(6)}, g[2]:totable())
  end)

  it('allow_unused gives nil, otherwise a clear error', function()
    local x, z = leaf{1}, leaf{2}
    local y = (x * 2):sum()
    local ok, err = pcall(lg.grad, y, {x, z}, {retain_graph = true})
    assert.is_false(ok)
    assert.matches('input 2 was not used to compute the outputs %(pass allow_unused = true', err)
    local g = lg.grad(y, {x, z}, {allow_unused = true})
    assert.are.same({2}, g[1]:totable())
    assert.is_nil(g[2])
  end)

  it('Hessian-vector products through create_graph', function()
    local x = leaf{0.3, -0.7}
    local f = (x * x * x):sum() + x:sum() * x:sum()
    local g = lg.grad(f, {x}, {create_graph = true})[1] -- 3 x^2 + 2 sum(x)
    local v = lg.tensor({1, 2}, {dtype = 'float64'})
    local hv = lg.grad((g * v):sum(), {x})[1]      -- H = 6 diag(x) + 2
    local h = hv:totable()
    assert.is_true(math.abs(h[1] - (6 * 0.3 * 1 + 2 * 3)) < 1e-12)
    assert.is_true(math.abs(h[2] - (6 * -0.7 * 2 + 2 * 3)) < 1e-12)
  end)

  it('rejects inputs that do not require grad and unknown options', function()
    local x = leaf{1}
    local ok, err = pcall(lg.grad, (x * 2):sum(), {lg.tensor{1}})
    assert.is_false(ok)
    assert.matches('input 1 does not require grad', err)
    ok, err = pcall(lg.grad, (x * 2):sum(), {x}, {creat_graph = true})
    assert.is_false(ok)
    assert.matches("lunagrad.grad: unknown option 'creat_graph'", err)
  end)
end)
