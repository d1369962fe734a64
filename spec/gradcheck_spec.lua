-- Autograd vs central finite differences (float64) for every differentiable tensor op
-- of the Lua API (DESIGN.md), including broadcasting, views, joins and the GRL.
local lg = require 'lunagrad'
local gradcheck = require 'helpers.gradcheck'

-- Deterministic input values, independent of the global RNG.
local state = 12345
local function uniform()
  state = (state * 1103515245 + 12345) & 0x7fffffff
  return state / 0x80000000 -- [0, 1)
end

local function fill_shape(shape, gen)
  local function build(d)
    if d > #shape then return gen() end
    local t = {}
    for i = 1, shape[d] do t[i] = build(d + 1) end
    return t
  end
  if #shape == 0 then return gen() end
  return build(1)
end

local function leaf(values, dtype)
  return lg.tensor(values, {dtype = dtype or 'float64', requires_grad = true})
end
-- any: values in (-2, 2) with |x| >= 0.1 (away from relu/abs kinks)
local function any(...)
  return leaf(fill_shape({...}, function()
    local v = 0.1 + 1.9 * uniform()
    return uniform() < 0.5 and -v or v
  end))
end
-- pos: values in [0.5, 2) (log, sqrt, fractional powers, divisors)
local function pos(...)
  return leaf(fill_shape({...}, function() return 0.5 + 1.5 * uniform() end))
end
local function long(t) return lg.tensor(t, {dtype = 'int64'}) end

local function check(fn, inputs, opts)
  local ok, msg = gradcheck(fn, inputs, opts)
  assert(ok, msg)
end

describe('gradcheck helper', function()
  it('accepts a correct gradient and rejects a wrong one, naming the element', function()
    local a = any(3, 4)
    check(function(x) return x * x end, {a})
    -- the GRL's gradient is -1 * the true Jacobian: without the scale option it must fail
    local ok, msg = gradcheck(function(x) return lg.revgrad(x, 1) end, {a})
    assert.is_false(ok)
    assert.matches('input 1 {3,4} element %[%d,%d%]', msg)
    ok = gradcheck(function(x) return lg.revgrad(x, 2) end, {a}, {scale = -1})
    assert.is_false(ok)
  end)

  it('does not touch the caller\'s tensors', function()
    local a = any(2, 2)
    local before = a:totable()
    check(function(x) return x:exp() end, {a})
    assert.is_nil(a.grad)
    assert.are.same(before, a:totable())
  end)
end)

describe('gradcheck: arithmetic with broadcasting', function()
  local shapes = {
    {'3x4 op 4', {3, 4}, {4}},
    {'3x1 op 1x4', {3, 1}, {1, 4}},
    {'2x1x4 op 3x1', {2, 1, 4}, {3, 1}},
    {'4 op 3x4', {4}, {3, 4}},
    {'same shape 2x3', {2, 3}, {2, 3}},
    {'3x4 op 0-d', {3, 4}, {}},
  }
  local ops = {
    add = function(a, b) return a + b end,
    sub = function(a, b) return a - b end,
    mul = function(a, b) return a * b end,
    div = function(a, b) return a / b end,
  }
  for _, name in ipairs({'add', 'sub', 'mul', 'div'}) do
    for _, s in ipairs(shapes) do
      it(name .. ' ' .. s[1], function()
        local b = name == 'div' and pos(table.unpack(s[3])) or any(table.unpack(s[3]))
        check(ops[name], {any(table.unpack(s[2])), b})
      end)
    end
  end
  it('method forms add/sub/mul/div', function()
    check(function(a, b) return a:add(b):mul(b):sub(a):div(b) end, {any(2, 3), pos(3)})
  end)

  it('tensor-number in both orders', function()
    check(function(a) return a + 2 end, {any(3, 2)})
    check(function(a) return 2 + a end, {any(3, 2)})
    check(function(a) return a - 2 end, {any(3, 2)})
    check(function(a) return 2 - a end, {any(3, 2)})
    check(function(a) return a * -1.5 end, {any(3, 2)})
    check(function(a) return 3 * a end, {any(3, 2)})
    check(function(a) return a / 4 end, {any(3, 2)})
    check(function(a) return 4 / a end, {pos(3, 2)})
  end)

  it('the same leaf used several times accumulates (a*a + a)', function()
    check(function(a) return a * a + a end, {any(3, 4)})
  end)

  it('diamond: y = exp(a); y*a + sum(y, 2, keepdim)', function()
    check(function(a)
      local y = a:exp()
      return y * a + y:sum(2, true)
    end, {any(3, 4)})
  end)
end)

describe('gradcheck: pow', function()
  for _, p in ipairs({2, 3, 0.5, -1.5, 2.5}) do
    it('x ^ ' .. p .. ' and x:pow(' .. p .. ')', function()
      check(function(a) return a ^ p end, {pos(2, 3)})
      check(function(a) return a:pow(p) end, {pos(3)})
    end)
  end
  it('x ^ 2 with negative bases', function()
    check(function(a) return a ^ 2 end, {any(2, 3)})
  end)
  it('tensor exponent x ^ y (both grads, broadcast)', function()
    check(function(a, b) return a ^ b end, {pos(2, 3), any(3)})
    check(function(a, b) return a:pow(b) end, {pos(2, 3), any(2, 3)})
  end)
  it('number base 2 ^ y', function()
    check(function(b) return 2 ^ b end, {any(2, 3)})
  end)
end)

describe('gradcheck: elementwise unary', function()
  local cases = {
    {'neg', function(a) return -a end, any},
    {'neg method', function(a) return a:neg() end, any},
    {'exp', function(a) return a:exp() end, any},
    {'log', function(a) return a:log() end, pos},
    {'sqrt', function(a) return a:sqrt() end, pos},
    {'abs', function(a) return a:abs() end, any},
    {'relu', function(a) return a:relu() end, any},
    {'sigmoid', function(a) return a:sigmoid() end, any},
    {'tanh', function(a) return a:tanh() end, any},
    {'leaky_relu default slope', function(a) return a:leaky_relu() end, any},
    {'leaky_relu 0.2', function(a) return a:leaky_relu(0.2) end, any},
    {'lunagrad.exp function form', function(a) return lg.exp(a) end, any},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() check(c[2], {c[3](3, 4)}) end)
  end
  it('clamp(lo, hi), clamp(lo), clamp(nil, hi) away from the bounds', function()
    local a = leaf({{-1.5, -0.7, -0.3, 0.2}, {0.35, 0.8, 1.9, -0.05}})
    check(function(x) return x:clamp(-0.5, 0.5) end, {a})
    check(function(x) return x:clamp(0.1) end, {a})
    check(function(x) return x:clamp(nil, 0.1) end, {a})
  end)
end)

describe('gradcheck: reductions', function()
  it('sum: all, dim, keepdim, negative dim', function()
    check(function(a) return a:sum() end, {any(3, 4)})
    check(function(a) return a:sum(1) end, {any(3, 4)})
    check(function(a) return a:sum(2, true) end, {any(3, 4)})
    check(function(a) return a:sum(-1) end, {any(2, 3, 4)})
    check(function(a) return a:sum(2) end, {any(2, 3, 4)})
  end)
  it('mean: all, dim, keepdim, negative dim', function()
    check(function(a) return a:mean() end, {any(3, 4)})
    check(function(a) return a:mean(1) end, {any(3, 4)})
    check(function(a) return a:mean(2, true) end, {any(3, 4)})
    check(function(a) return a:mean(-2) end, {any(2, 3, 4)})
  end)
  it('max and min without dim (0-d result)', function()
    check(function(a) return a:max() end, {any(3, 4)})
    check(function(a) return a:min() end, {any(3, 4)})
  end)
  it('max and min with dim (values; indices ignored)', function()
    check(function(a) return a:max(2) end, {any(3, 4)})
    check(function(a) return a:min(1) end, {any(3, 4)})
    check(function(a) return a:max(-1) end, {any(2, 3, 4)})
    check(function(a) return a:min(2) end, {any(2, 3, 4)})
  end)
  it('softmax over the last and the first dim', function()
    check(function(a) return a:softmax(2) end, {any(3, 5)})
    check(function(a) return a:softmax(1) end, {any(3, 5)})
    check(function(a) return a:softmax(-1) end, {any(2, 3, 4)})
    check(function(a) return a:softmax(2) end, {any(2, 3, 4)})
  end)
  it('log_softmax over the last and the first dim', function()
    check(function(a) return a:log_softmax(2) end, {any(3, 5)})
    check(function(a) return a:log_softmax(1) end, {any(3, 5)})
    check(function(a) return a:log_softmax(-1) end, {any(2, 3, 4)})
  end)
end)

describe('gradcheck: matmul', function()
  it('2D x 2D', function()
    check(function(a, b) return a:matmul(b) end, {any(3, 4), any(4, 5)})
    check(function(a, b) return lg.matmul(a, b) end, {any(1, 3), any(3, 2)})
  end)
  it('batched 3D x 3D', function()
    check(function(a, b) return a:matmul(b) end, {any(2, 3, 4), any(2, 4, 5)})
  end)
  it('3D x 2D (weight broadcast over the batch)', function()
    check(function(a, b) return a:matmul(b) end, {any(2, 3, 4), any(4, 5)})
  end)
  it('1D cases: dot, vector x matrix, matrix x vector', function()
    check(function(a, b) return a:matmul(b) end, {any(4), any(4)})
    check(function(a, b) return a:matmul(b) end, {any(4), any(4, 3)})
    check(function(a, b) return a:matmul(b) end, {any(3, 4), any(4)})
  end)
  it('non-contiguous operands (transposed)', function()
    check(function(a, b) return a:t():matmul(b:t()) end, {any(4, 3), any(5, 4)})
  end)
end)

describe('gradcheck: views and copies', function()
  it('view and reshape (incl. of a non-contiguous tensor)', function()
    check(function(a) return a:view(6, 2) end, {any(3, 4)})
    check(function(a) return a:view({2, 2, 3}) end, {any(3, 4)})
    check(function(a) return a:reshape(4, 3) end, {any(3, 4)})
    check(function(a) return a:t():reshape(12) end, {any(3, 4)})
  end)
  it('transpose, t, permute', function()
    check(function(a) return a:transpose(1, 2) end, {any(3, 4)})
    check(function(a) return a:transpose(1, 3) end, {any(2, 3, 4)})
    check(function(a) return a:t() end, {any(3, 4)})
    check(function(a) return a:permute(3, 1, 2) end, {any(2, 3, 4)})
    check(function(a) return a:permute({2, 3, 1}) end, {any(2, 3, 4)})
  end)
  it('narrow and select (incl. negative index)', function()
    check(function(a) return a:narrow(2, 2, 2) end, {any(3, 4)})
    check(function(a) return a:narrow(1, 1, 1) end, {any(3, 4)})
    check(function(a) return a:select(1, 2) end, {any(3, 4)})
    check(function(a) return a:select(2, -1) end, {any(2, 3, 4)})
  end)
  it('slice with and without step', function()
    check(function(a) return a:slice(1, 2, 3) end, {any(3, 4)})
    check(function(a) return a:slice(2, 1, -1, 2) end, {any(3, 5)})
    check(function(a) return a:slice(3, 2, 4, 2) end, {any(2, 3, 5)})
  end)
  it('squeeze, unsqueeze, flatten', function()
    check(function(a) return a:squeeze(2) end, {any(3, 1, 4)})
    check(function(a) return a:squeeze() end, {any(1, 3, 1)})
    check(function(a) return a:unsqueeze(1) end, {any(3, 4)})
    check(function(a) return a:unsqueeze(-1) end, {any(3, 4)})
    check(function(a) return a:flatten() end, {any(2, 3, 4)})
    check(function(a) return a:flatten(2, 3) end, {any(2, 3, 4)})
  end)
  it('expand (gradient summed over the expanded dims)', function()
    check(function(a) return a:expand(3, 4) end, {any(3, 1)})
    check(function(a) return a:expand(2, 3, 4) end, {any(4)})
  end)
  it('contiguous and clone', function()
    check(function(a) return a:t():contiguous() end, {any(3, 4)})
    check(function(a) return a:clone() * a end, {any(3, 4)})
  end)
  it('a chain of views feeding arithmetic', function()
    check(function(a, b) return a:permute(2, 1, 3):reshape(3, 8):t() * b end, {any(2, 3, 4), any(3)})
  end)
end)

describe('gradcheck: joins and indexing', function()
  it('cat along dims 1, 2 and -1', function()
    check(function(a, b) return lg.cat({a, b}, 1) end, {any(2, 3), any(4, 3)})
    check(function(a, b) return lg.cat({a, b}, 2) end, {any(2, 3), any(2, 1)})
    check(function(a, b, c) return lg.cat({a, b, c}, -1) end, {any(2, 2, 1), any(2, 2, 3), any(2, 2, 2)})
  end)
  it('stack along dims 1 and 3', function()
    check(function(a, b) return lg.stack({a, b}, 1) end, {any(2, 3), any(2, 3)})
    check(function(a, b, c) return lg.stack({a, b, c}, 3) end, {any(2, 3), any(2, 3), any(2, 3)})
  end)
  it('index with repeated indices accumulates', function()
    check(function(a, idx) return a:index(1, idx) end, {any(3, 4), long({1, 3, 1, 1})})
    check(function(a, idx) return a:index(2, idx) end, {any(3, 4), long({2, 2, 4})})
  end)
end)

describe('gradcheck: dtype casts', function()
  -- Values and step are short binary fractions so x +- eps is exact in float32.
  local exact = {{0.5, -1.25, 2.0}, {0.75, -0.375, 1.5}}
  it('float64 -> float32 -> float64', function()
    check(function(a) return a:float():double() * 3 end, {leaf(exact)}, {eps = 2 ^ -7})
    check(function(a) return a:to('float32') * a:to('float32') end, {leaf(exact)},
      {eps = 2 ^ -7, atol = 1e-4, rtol = 1e-4})
  end)
  it('a float32 leaf cast to float64 (grad comes back as float32)', function()
    check(function(a, w) return a:double() * w end, {leaf(exact, 'float32'), any(2, 3)},
      {eps = 2 ^ -7, atol = 1e-5, rtol = 1e-5})
  end)
end)

describe('gradcheck: gradient reversal', function()
  for _, alpha in ipairs({1, 0.5, 2, 0}) do
    it('revgrad(x, ' .. alpha .. ') has gradient -alpha * I', function()
      check(function(a) return lg.revgrad(a, alpha) * 1 end, {any(3, 4)}, {scale = -alpha})
      check(function(a) return a:revgrad(alpha):tanh() end, {any(3, 4)}, {scale = -alpha})
    end)
  end
  it('revgrad with a 1-element tensor alpha', function()
    check(function(a, al) return lg.revgrad(a, al):exp() end, {any(2, 3), lg.tensor(0.3, {dtype = 'float64'})},
      {scale = -0.3})
  end)
  it('revgrad twice multiplies: alpha1 * alpha2 (positive)', function()
    check(function(a) return lg.revgrad(lg.revgrad(a, 0.5), 3) end, {any(3, 4)}, {scale = 1.5})
    check(function(a) return lg.revgrad(lg.revgrad(a, 2), 0.25):sigmoid() end, {any(3, 4)}, {scale = 0.5})
  end)
  it('inputs before the GRL see -alpha, inputs after it see +1', function()
    check(function(x, w1, b1, w2, b2)
      local h = lg.revgrad(x:matmul(w1:t()) + b1, 0.7)
      return h:tanh():matmul(w2:t()) + b2
    end, {any(4, 3), any(5, 3), any(5), any(2, 5), any(2)}, {scale = {-0.7, -0.7, -0.7, 1, 1}})
  end)
end)

describe('gradcheck: composite', function()
  it('MLP: linear-relu-linear-log_softmax-NLL-like mean', function()
    local x, w1, b1, w2, b2 = any(5, 3), any(4, 3), any(4), any(3, 4), any(3)
    local onehot = lg.tensor({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 0, 0}, {0, 0, 1}}, {dtype = 'float64'})
    check(function(xx, ww1, bb1, ww2, bb2, t)
      local h = (xx:matmul(ww1:t()) + bb1):relu()
      local logits = h:matmul(ww2:t()) + bb2
      return -(logits:log_softmax(2) * t):sum(2):mean()
    end, {x, w1, b1, w2, b2, onehot})
  end)
  it('MLP with tanh, sigmoid output, squared error', function()
    check(function(x, w1, b1, w2, target)
      local h = (x:matmul(w1:t()) + b1):tanh()
      local y = h:matmul(w2):sigmoid()
      return ((y - target) ^ 2):mean()
    end, {any(4, 3), any(5, 3), any(5), any(5, 2), any(4, 2)})
  end)
end)
