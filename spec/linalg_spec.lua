-- matmul, cat, stack and index: values by hand, gradients by hand and by central
-- finite differences (float64), strided operands, errors.
local lg = require 'lunagrad'

local function assert_near(expected, actual, tol, path)
  tol = tol or 1e-5
  path = path or 'value'
  if type(expected) == 'table' then
    assert(type(actual) == 'table', path .. ': expected a table, got ' .. tostring(actual))
    assert(#expected == #actual, string.format('%s: expected %d entries, got %d', path, #expected, #actual))
    for i = 1, #expected do assert_near(expected[i], actual[i], tol, path .. '[' .. i .. ']') end
  else
    assert(type(actual) == 'number', path .. ': expected a number, got ' .. tostring(actual))
    local ok = math.abs(expected - actual) <= tol * math.max(1, math.abs(expected))
    assert(ok, string.format('%s: expected %.10g, got %.10g', path, expected, actual))
  end
end

local function same_values(x, y, tol)
  assert.are.same(x:shape(), y:shape())
  assert_near(x:totable(), y:totable(), tol or 1e-5)
end

-- A naive triple loop on Lua tables: the reference for random 2-D products.
local function ref_mm(a, b)
  local out = {}
  for i = 1, #a do
    out[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for k = 1, #b do s = s + a[i][k] * b[k][j] end
      out[i][j] = s
    end
  end
  return out
end

-- ---- finite differences (float64), through spec/helpers/gradcheck.lua -----------
local check_grads = require 'helpers.gradcheck'

-- shapes: list of input shapes; f(...) gets float64 tensors of those shapes
-- (fixed values) and its gradients are checked against central differences.
local function gradcheck(f, shapes)
  local inputs = {}
  for i, shape in ipairs(shapes) do
    local n, d = 1, {}
    for _, s in ipairs(shape) do n = n * s end
    for k = 1, n do d[k] = math.cos(k * 1.37 + i) * 1.5 end
    inputs[i] = lg.tensor(d, {dtype = 'float64'}):view(shape):clone():requires_grad_()
  end
  local ok, msg = check_grads(f, inputs)
  assert(ok, msg)
end

-- ---- fixtures -------------------------------------------------------------------------

local A = {{1, 2, 3}, {4, 5, 6}}              -- [2,3]
local B = {{1, 0}, {0, 1}, {1, 1}}            -- [3,2]
local A2 = {{0, 1, 0}, {1, 0, 0}}             -- second batch of a
local B2 = {{1, 2}, {3, 4}, {5, 6}}           -- second batch of b
-- A@B = {{4,5},{10,11}}  A2@B2 = {{3,4},{1,2}}  A2@B = {{0,1},{1,0}}  A@B2 = {{22,28},{49,64}}

describe('matmul values', function()
  it('1-D x 1-D is a 0-d dot product', function()
    local r = lg.matmul(lg.tensor{1, 2, 3}, lg.tensor{4, 5, 6})
    assert.are.equal(0, r:dim())
    assert.are.equal(32, r:item())
  end)

  it('2-D x 2-D', function()
    local r = lg.tensor(A):matmul(lg.tensor(B))
    assert.are.same({2, 2}, r:shape())
    assert.are.same({{4, 5}, {10, 11}}, r:totable())
    assert.are.same({{11, 14, 17, 20}, {23, 30, 37, 44}, {35, 46, 57, 68}},
      lg.matmul(lg.tensor{{1, 2}, {3, 4}, {5, 6}}, lg.tensor{{1, 2, 3, 4}, {5, 6, 7, 8}}):totable())
  end)

  it('1-D x 2-D treats the vector as a row and drops it', function()
    local r = lg.tensor{1, 2, 3}:matmul(lg.tensor(B))
    assert.are.same({2}, r:shape())
    assert.are.same({4, 5}, r:totable())
  end)

  it('2-D x 1-D treats the vector as a column and drops it', function()
    local r = lg.tensor(A):matmul(lg.tensor{1, 0, -1})
    assert.are.same({2}, r:shape())
    assert.are.same({-2, -2}, r:totable())
  end)

  it('3-D x 3-D multiplies batch by batch', function()
    local r = lg.tensor{A, A2}:matmul(lg.tensor{B, B2})
    assert.are.same({2, 2, 2}, r:shape())
    assert.are.same({{{4, 5}, {10, 11}}, {{3, 4}, {1, 2}}}, r:totable())
  end)

  it('3-D x 3-D broadcasts a batch dim of size 1 (either side)', function()
    local r = lg.tensor{A, A2}:matmul(lg.tensor{B})
    assert.are.same({{{4, 5}, {10, 11}}, {{0, 1}, {1, 0}}}, r:totable())
    local s = lg.tensor{A}:matmul(lg.tensor{B, B2})
    assert.are.same({{{4, 5}, {10, 11}}, {{22, 28}, {49, 64}}}, s:totable())
  end)

  it('3-D x 2-D applies b to every batch entry', function()
    local r = lg.tensor{A, A2}:matmul(lg.tensor(B))
    assert.are.same({2, 2, 2}, r:shape())
    assert.are.same({{{4, 5}, {10, 11}}, {{0, 1}, {1, 0}}}, r:totable())
  end)

  it('2-D x 3-D applies a to every batch entry', function()
    local r = lg.tensor(A):matmul(lg.tensor{B, B2})
    assert.are.same({{{4, 5}, {10, 11}}, {{22, 28}, {49, 64}}}, r:totable())
  end)

  it('1-D x 3-D and 3-D x 1-D follow PyTorch (the vector dim is dropped)', function()
    local r = lg.tensor{1, 2, 3}:matmul(lg.tensor{B, B2})
    assert.are.same({2, 2}, r:shape())
    assert.are.same({{4, 5}, {22, 28}}, r:totable())
    local s = lg.tensor{A, A2}:matmul(lg.tensor{1, 0, -1})
    assert.are.same({2, 2}, s:shape())
    assert.are.same({{-2, -2}, {0, 1}}, s:totable())
  end)

  it('broadcasts 4-D batch dims against 3-D', function()
    local a = lg.tensor{{A}, {A2}}                    -- [2,1,2,3]
    local r = a:matmul(lg.tensor{B, B2})             -- [2,3,2] -> batch [2,2]
    assert.are.same({2, 2, 2, 2}, r:shape())
    assert.are.same({{{{4, 5}, {10, 11}}, {{22, 28}, {49, 64}}},
                     {{{0, 1}, {1, 0}}, {{3, 4}, {1, 2}}}}, r:totable())
  end)

  it('computes in float64 and keeps the dtype', function()
    local a = lg.tensor({{1 / 3, 1e-9}, {2, 1}}, {dtype = 'float64'})
    local r = a:matmul(lg.tensor({{3}, {1e9}}, {dtype = 'float64'}))
    assert.are.equal('float64', r.dtype)
    assert_near({{2}, {6 + 1e9}}, r:totable(), 1e-15)
  end)

  it('promotes float32 with float64 to float64', function()
    local r = lg.tensor{{1, 2}}:matmul(lg.tensor({{3}, {4}}, {dtype = 'float64'}))
    assert.are.equal('float64', r.dtype)
    assert.are.same({{11}}, r:totable())
  end)

  it('handles empty dims: zero rows, and k = 0 gives zeros', function()
    local r = lg.zeros(0, 3):matmul(lg.ones(3, 2))
    assert.are.same({0, 2}, r:shape())
    local z = lg.ones(2, 0):matmul(lg.ones(0, 3))
    assert.are.same({{0, 0, 0}, {0, 0, 0}}, z:totable())
  end)

  it('accepts a nested table as the right operand', function()
    assert.are.same({4, 5}, lg.tensor{1, 2, 3}:matmul(B):totable())
  end)
end)

describe('matmul with strided operands', function()
  it('a .t() operand gives the same result as its contiguous copy', function()
    lg.manual_seed(1)
    local x, w = lg.randn(5, 7), lg.randn(4, 7)
    local r = x:matmul(w:t())
    same_values(r, x:matmul(w:t():contiguous()))
    assert_near(ref_mm(x:totable(), w:t():totable()), r:totable(), 1e-5)
    local xt = lg.randn(7, 5):t()                      -- both transposed
    same_values(xt:matmul(w:t()), xt:contiguous():matmul(w:t():contiguous()))
  end)

  it('a 64x784 by a .t() of 256x784 is correct and does not copy the transposed operand', function()
    lg.manual_seed(2)
    local x, w = lg.randn(64, 784), lg.randn(256, 784)
    local wt = w:t()
    assert.is_false(wt:is_contiguous())
    collectgarbage()
    collectgarbage()
    -- Raise live bytes to the high-water mark, so any temporary moves the peak.
    local m = lg.memory()
    local gap = m.peak_bytes - m.live_bytes
    local ballast = gap > 0 and gap < 2 ^ 29 and lg.empty(gap // 4 + 1) or nil
    local m0 = lg.memory()
    local y = x:matmul(wt)
    local m1 = lg.memory()
    -- (only an earlier peak above 512 MiB would leave the check inconclusive)
    assert(gap >= 2 ^ 29 or m0.peak_bytes - m0.live_bytes < 4096)
    if m0.peak_bytes - m0.live_bytes < 4096 then
      local copy_bytes = 256 * 784 * 4
      local grew = m1.peak_bytes - m0.live_bytes
      assert(grew < copy_bytes, 'matmul allocated ' .. grew .. ' bytes beyond its output')
      assert(grew <= 64 * 256 * 4 + 4096, 'matmul allocated ' .. grew .. ' bytes, output is 65536')
    end
    ballast = nil
    assert.are.same({64, 256}, y:shape())
    same_values(y, x:matmul(wt:contiguous()), 1e-4)
    -- spot-check two entries against plain Lua sums
    local xr, wr = x:totable(), w:totable()
    for _, ij in ipairs{{1, 1}, {64, 256}, {17, 100}} do
      local s = 0
      for k = 1, 784 do s = s + xr[ij[1]][k] * wr[ij[2]][k] end
      assert_near(s, y:totable()[ij[1]][ij[2]], 1e-4)
    end
  end)

  it('sliced operands (row stride > row length) read in place', function()
    lg.manual_seed(3)
    local big = lg.randn(6, 9)
    local a = big:narrow(2, 2, 4)                     -- [6,4], row stride 9
    local b = lg.randn(4, 8):narrow(2, 3, 3)          -- [4,3], row stride 8
    same_values(a:matmul(b), a:contiguous():matmul(b:contiguous()))
    assert_near(ref_mm(a:totable(), b:totable()), a:matmul(b):totable())
  end)

  it('operands no gemm can read (step-2 columns, expanded rows) are copied and correct', function()
    lg.manual_seed(4)
    local a = lg.randn(3, 8):slice(2, 1, -1, 2)       -- [3,4], column stride 2
    local b = lg.randn(4, 10):slice(2, 1, -1, 2)      -- [4,5]
    same_values(a:matmul(b), a:contiguous():matmul(b:contiguous()))
    local e = lg.tensor{1, 2, 3}:view(3, 1):expand(3, 4)  -- strides {1, 0}
    assert.are.same({{14, 14, 14, 14}}, lg.tensor{{1, 2, 3}}:matmul(e):totable())
    local r = lg.tensor{1, 2}:view(1, 2):expand(3, 2)     -- row stride 0
    assert.are.same({{5}, {5}, {5}}, r:matmul(lg.tensor{{1}, {2}}):totable())
  end)

  it('strided vectors in 1-D products', function()
    local v = lg.tensor{1, 9, 2, 9, 3}:slice(1, 1, -1, 2)  -- {1,2,3}, stride 2
    assert.are.equal(32, v:matmul(lg.tensor{4, 5, 6}):item())
    assert.are.same({4, 5}, v:matmul(lg.tensor(B)):totable())
    assert.are.same({-2, -2}, lg.tensor(A):matmul(lg.tensor{1, 7, 0, 7, -1}:slice(1, 1, -1, 2)):totable())
  end)

  it('batched operands with permuted, transposed and expanded batches match contiguous ones', function()
    lg.manual_seed(5)
    local x = lg.randn(3, 4, 5)
    local p = x:permute(3, 1, 2)                      -- [5,3,4], no unit stride in the matrix
    local q = lg.randn(5, 4, 2)
    same_values(p:matmul(q), p:contiguous():matmul(q))
    local at = lg.randn(4, 3, 5):transpose(1, 2)      -- [3,4,5] with batch stride 5
    local w = lg.randn(5, 6)
    same_values(at:matmul(w), at:contiguous():matmul(w))
    same_values(at:matmul(w:t():contiguous():t()), at:contiguous():matmul(w))
    local bt = lg.randn(3, 6, 5):transpose(2, 3)      -- batch of transposed matrices
    same_values(at:matmul(bt), at:contiguous():matmul(bt:contiguous()))
    local ex = lg.randn(1, 4, 5):expand(3, 4, 5)      -- batch stride 0
    same_values(ex:matmul(bt), ex:contiguous():matmul(bt:contiguous()))
  end)

  it('3-D x 2-D equals the per-batch products', function()
    lg.manual_seed(6)
    local a, w = lg.randn(4, 3, 5), lg.randn(6, 5)
    local r = a:matmul(w:t())
    for i = 1, 4 do same_values(r:select(1, i), a:select(1, i):contiguous():matmul(w:t())) end
    local a1 = lg.randn(4, 1, 5)                      -- rows of one: batch dims merge
    local r1 = a1:matmul(w:t())
    for i = 1, 4 do same_values(r1:select(1, i), a1:select(1, i):matmul(w:t())) end
  end)
end)

describe('matmul gradients', function()
  it('2-D x 2-D by hand: ga = g b^T, gb = a^T g', function()
    local a = lg.tensor(A, {requires_grad = true})
    local b = lg.tensor(B, {requires_grad = true})
    local y = a:matmul(b)
    assert.are.equal('matmul', y.grad_fn)
    y:sum():backward()
    assert.are.same({{1, 1, 2}, {1, 1, 2}}, a.grad:totable())
    assert.are.same({{5, 5}, {7, 7}, {9, 9}}, b.grad:totable())
  end)

  it('dot by hand: grads are the other vector times g', function()
    local a = lg.tensor({1, 2, 3}, {requires_grad = true})
    local b = lg.tensor({4, 5, 6}, {requires_grad = true})
    local y = a:matmul(b) * 2
    y:backward()
    assert.are.same({8, 10, 12}, a.grad:totable())
    assert.are.same({2, 4, 6}, b.grad:totable())
  end)

  it('3-D x 2-D by hand: b sums over the batch', function()
    local a = lg.tensor({A, A2}, {requires_grad = true})
    local b = lg.tensor(B, {requires_grad = true})
    a:matmul(b):sum():backward()
    assert.are.same({{{1, 1, 2}, {1, 1, 2}}, {{1, 1, 2}, {1, 1, 2}}}, a.grad:totable())
    assert.are.same({{6, 6}, {8, 8}, {9, 9}}, b.grad:totable())
  end)

  it('a batch dim of size 1 gets its gradient summed, shape kept', function()
    local a = lg.tensor({A, A2}, {requires_grad = true})
    local b = lg.tensor({B}, {requires_grad = true})
    a:matmul(b):sum():backward()
    assert.are.same({1, 3, 2}, b.grad:shape())
    assert.are.same({{{6, 6}, {8, 8}, {9, 9}}}, b.grad:totable())
  end)

  it('only the input that requires grad gets one', function()
    local a = lg.tensor(A)
    local b = lg.tensor(B, {requires_grad = true})
    a:matmul(b):sum():backward()
    assert.is_nil(a.grad)
    assert.are.same({{5, 5}, {7, 7}, {9, 9}}, b.grad:totable())
  end)

  it('flows through a .t() of a weight into the weight', function()
    local x = lg.tensor{{1, 2}, {3, 4}}
    local w = lg.tensor({{1, 0}, {0, 1}, {1, 1}}, {requires_grad = true})  -- [3,2]
    x:matmul(w:t()):sum():backward()
    -- d/dW[o][i] = sum_n x[n][i] = {4, 6} for every output row
    assert.are.same({{4, 6}, {4, 6}, {4, 6}}, w.grad:totable())
  end)

  it('mixed dtypes send float32 grads to the float32 input', function()
    local a = lg.tensor({{1, 2}}, {requires_grad = true})
    local b = lg.tensor({{3}, {4}}, {dtype = 'float64', requires_grad = true})
    a:matmul(b):sum():backward()
    assert.are.equal('float32', a.grad.dtype)
    assert.are.same({{3, 4}}, a.grad:totable())
    assert.are.same({{1}, {2}}, b.grad:totable())
  end)

  local mm = function(a, b) return a:matmul(b) end
  local cases = {
    {'1-D x 1-D', {3}, {3}},
    {'2-D x 2-D', {2, 3}, {3, 4}},
    {'1-D x 2-D', {3}, {3, 4}},
    {'2-D x 1-D', {2, 3}, {3}},
    {'3-D x 3-D', {2, 2, 3}, {2, 3, 4}},
    {'3-D x [1,k,m]', {2, 2, 3}, {1, 3, 4}},
    {'[1,n,k] x 3-D', {1, 2, 3}, {2, 3, 4}},
    {'3-D x 2-D', {2, 2, 3}, {3, 4}},
    {'2-D x 3-D', {2, 3}, {2, 3, 4}},
    {'1-D x 3-D', {3}, {2, 3, 4}},
    {'3-D x 1-D', {2, 2, 3}, {3}},
    {'4-D x 3-D', {2, 1, 2, 3}, {3, 3, 2}},
  }
  for _, c in ipairs(cases) do
    it('matches finite differences: ' .. c[1], function() gradcheck(mm, {c[2], c[3]}) end)
  end

  it('matches finite differences with transposed and non-BLAS operands', function()
    gradcheck(function(a, b) return a:t():matmul(b:t()) end, {{3, 2}, {4, 3}})
    gradcheck(function(a, b) return a:transpose(2, 3):matmul(b) end, {{2, 3, 2}, {3, 4}})
    gradcheck(function(a, b) return a:slice(2, 1, -1, 2):matmul(b:permute(2, 1, 3)) end,
      {{2, 6}, {3, 2, 2}})
    gradcheck(function(a, b) return a:matmul(b):matmul(a:t()) end, {{2, 3}, {3, 3}})
  end)
end)

describe('matmul errors', function()
  it('names mismatched shapes', function()
    assert.has_error(function() lg.zeros(3, 4):matmul(lg.zeros(5, 2)) end,
      "lunagrad.matmul: shapes [3,4] and [5,2] don't match")
    assert.has_error(function() lg.matmul(lg.zeros(3), lg.zeros(4)) end,
      "lunagrad.matmul: shapes [3] and [4] don't match")
    assert.has_error(function() lg.matmul(lg.zeros(2, 2, 3), lg.zeros(4)) end,
      "lunagrad.matmul: shapes [2,2,3] and [4] don't match")
  end)

  it('names batch dims that do not broadcast', function()
    assert.has_error(function() lg.zeros(2, 3, 4):matmul(lg.zeros(3, 4, 5)) end,
      "lunagrad.matmul: batch dims of [2,3,4] and [3,4,5] don't broadcast")
  end)

  it('rejects 0-d and int64 operands', function()
    assert.has_error(function() lg.matmul(lg.tensor(2), lg.zeros(2)) end,
      'lunagrad.matmul: both arguments need at least 1 dim, got shapes [] and [2]')
    assert.has_error(function() lg.matmul(lg.zeros(2, 2, {dtype = 'int64'}), lg.zeros(2, 2)) end,
      'lunagrad.matmul: expected float tensors, got int64 and float32 (convert with :float() or :double())')
  end)

  it('rejects a non-tensor first argument', function()
    assert.has_error(function() lg.matmul(3, lg.zeros(2)) end,
      'lunagrad.matmul: bad argument #1 (Tensor expected, got number)')
  end)
end)

describe('cat', function()
  it('joins along dim 1 by default and along other dims', function()
    local x, y = lg.tensor{{1, 2}, {3, 4}}, lg.tensor{{5, 6}}
    assert.are.same({{1, 2}, {3, 4}, {5, 6}}, lg.cat({x, y}):totable())
    assert.are.same({{1, 2}, {3, 4}, {5, 6}}, lg.cat({x, y}, 1):totable())
    assert.are.same({{1, 2, 1, 2}, {3, 4, 3, 4}}, lg.cat({x, x}, 2):totable())
    assert.are.same({{1, 2, 9}, {3, 4, 9}}, lg.cat({x, lg.tensor{{9}, {9}}}, -1):totable())
    assert.are.same({1, 2, 3}, lg.cat{lg.tensor{1}, lg.tensor{2, 3}}:totable())
  end)

  it('copies strided inputs and one-element lists, and keeps float64', function()
    local x = lg.tensor({{1, 2}, {3, 4}}, {dtype = 'float64'})
    local r = lg.cat({x:t(), x}, 1)
    assert.are.equal('float64', r.dtype)
    assert.are.same({{1, 3}, {2, 4}, {1, 2}, {3, 4}}, r:totable())
    local one = lg.cat({x})
    assert.are.same(x:totable(), one:totable())
    assert.are_not.equal(x:storage_id(), one:storage_id())
    local empty = lg.cat({lg.zeros(0, 2), lg.tensor{{7, 8}}})
    assert.are.same({{7, 8}}, empty:totable())
  end)

  it('sends each input its slice of the gradient', function()
    local x = lg.tensor({{1, 2}, {3, 4}}, {requires_grad = true})
    local y = lg.tensor({{5, 6}}, {requires_grad = true})
    local z = lg.cat({x, y, x}, 1)
    assert.are.equal('cat', z.grad_fn)
    z:backward(lg.tensor{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}})
    assert.are.same({{8, 10}, {12, 14}}, x.grad:totable())
    assert.are.same({{5, 6}}, y.grad:totable())
    local v = lg.tensor({1, 2}, {dtype = 'float64', requires_grad = true})
    local many = lg.cat({v, v, v, v, v, v}, 1)          -- more inputs than the engine's stack slots
    many:backward(lg.arange(1, 13, 1, {dtype = 'float64'}))
    assert.are.same({1 + 3 + 5 + 7 + 9 + 11, 2 + 4 + 6 + 8 + 10 + 12}, v.grad:totable())
    gradcheck(function(a, b) return lg.cat({a, b:t()}, 2) end, {{2, 3}, {2, 2}})
    gradcheck(function(a, b) return lg.cat({a, b}, 3) end, {{2, 1, 2}, {2, 1, 3}})
  end)

  it('errors cleanly', function()
    assert.has_error(function() lg.cat({}) end, 'lunagrad.cat: expected a non-empty list of tensors')
    assert.has_error(function() lg.cat({lg.zeros(2), lg.zeros(2, {dtype = 'float64'})}) end,
      'lunagrad.cat: list element 2 has dtype float64 but element 1 has float32')
    assert.has_error(function() lg.cat({lg.zeros(2, 3), lg.zeros(2, 4)}, 1) end,
      'lunagrad.cat: shapes [2,3] (element 1) and [2,4] (element 2) differ outside dim 1')
    assert.has_error(function() lg.cat({lg.zeros(2, 3), lg.zeros(3)}) end,
      'lunagrad.cat: shapes [2,3] (element 1) and [3] (element 2) differ outside dim 1')
    assert.has_error(function() lg.cat({lg.zeros(2), 5}) end,
      'lunagrad.cat: list element 2 is a number, expected a Tensor')
    assert.has_error(function() lg.cat(lg.zeros(2)) end,
      'lunagrad.cat: bad argument #1 (list of tensors expected, got userdata)')
    assert.has_error(function() lg.cat({lg.zeros(2)}, 2) end,
      'lunagrad.cat: dim 2 out of range for a 1-d tensor (dims are 1-based; -1 is the last)')
    assert.has_error(function() lg.cat({lg.tensor(1), lg.tensor(2)}) end,
      'lunagrad.cat: 0-d tensors cannot be concatenated (use stack)')
  end)
end)

describe('stack', function()
  local x, y = {{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}

  it('adds a new dim at 1 by default, anywhere up to ndim + 1', function()
    local a, b = lg.tensor(x), lg.tensor(y)
    assert.are.same({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}, lg.stack{a, b}:totable())
    assert.are.same({{{1, 2}, {5, 6}}, {{3, 4}, {7, 8}}}, lg.stack({a, b}, 2):totable())
    local last = lg.stack({a, b}, 3)
    assert.are.same({2, 2, 2}, last:shape())
    assert.are.same({{{1, 5}, {2, 6}}, {{3, 7}, {4, 8}}}, last:totable())
    assert.are.same(last:totable(), lg.stack({a, b}, -1):totable())
    assert.are.same({1, 2, 3}, lg.stack{lg.tensor(1), lg.tensor(2), lg.tensor(3)}:totable())
    assert.are.same({{1, 3}, {2, 4}}, lg.stack({a:t(), b}, 1):totable()[1])
  end)

  it('gives each input its select of the gradient', function()
    local a = lg.tensor(x, {requires_grad = true})
    local b = lg.tensor(y, {requires_grad = true})
    local s = lg.stack({a, b, a}, 3)
    assert.are.equal('stack', s.grad_fn)
    s:backward(lg.tensor{{{1, 2, 3}, {4, 5, 6}}, {{7, 8, 9}, {10, 11, 12}}})
    assert.are.same({{1 + 3, 4 + 6}, {7 + 9, 10 + 12}}, a.grad:totable())
    assert.are.same({{2, 5}, {8, 11}}, b.grad:totable())
    gradcheck(function(p, q) return lg.stack({p, q:t()}, 2) end, {{2, 3}, {3, 2}})
  end)

  it('errors cleanly', function()
    assert.has_error(function() lg.stack({}) end, 'lunagrad.stack: expected a non-empty list of tensors')
    assert.has_error(function() lg.stack({lg.zeros(2, 3), lg.zeros(3, 2)}) end,
      'lunagrad.stack: expects tensors of one shape, got [2,3] (element 1) and [3,2] (element 2)')
    assert.has_error(function() lg.stack({lg.zeros(2), lg.zeros(2, {dtype = 'int64'})}) end,
      'lunagrad.stack: list element 2 has dtype int64 but element 1 has float32')
    assert.has_error(function() lg.stack({lg.zeros(2)}, 3) end,
      'lunagrad.stack: dim 3 out of range for a 2-d tensor (dims are 1-based; -1 is the last)')
  end)
end)

describe('index', function()
  local X = {{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}}

  it('gathers rows with 1-based indices from a table or an int64 tensor', function()
    local x = lg.tensor(X)
    assert.are.same({{5, 6}, {1, 2}, {5, 6}}, x:index(1, {3, 1, 3}):totable())
    local idx = lg.tensor({5, 2}, {dtype = 'int64'})
    assert.are.same({{9, 10}, {3, 4}}, x:index(1, idx):totable())
    assert.are.same({5, 2}, idx:totable())           -- the caller's tensor is untouched
    assert.are.same({{9, 10}, {3, 4}}, lg.index(x, 1, idx):totable())
    assert.are.same({0, 2}, x:index(1, {}):shape())
  end)

  it('gathers along other dims and from strided inputs', function()
    local x = lg.tensor(X)
    assert.are.same({{2, 1, 2}, {4, 3, 4}, {6, 5, 6}, {8, 7, 8}, {10, 9, 10}},
      x:index(2, {2, 1, 2}):totable())
    assert.are.same({{2, 4, 6, 8, 10}}, x:index(-1, {2}):t():totable())
    local xt = x:t()                                  -- [2,5], not contiguous
    assert.are.same({{5, 1}, {6, 2}}, xt:index(2, {3, 1}):totable())
    assert.are.same(xt:contiguous():index(1, {2}):totable(), xt:index(1, {2}):totable())
    local i3 = lg.arange(0, 24):view(2, 3, 4)
    assert.are.same({{{4, 5, 6, 7}}, {{16, 17, 18, 19}}}, i3:index(2, {2}):totable())
    local step = lg.tensor({1, 3, 2, 3, 3}, {dtype = 'int64'}):slice(1, 1, -1, 2)  -- {1,2,3}
    assert.are.same({{1, 2}, {3, 4}, {5, 6}}, x:index(1, step):totable())
    local ints = lg.tensor({{1, 2}, {3, 4}}, {dtype = 'int64'})
    local r = ints:index(1, {2})
    assert.are.equal('int64', r.dtype)
    assert.are.same({{3, 4}}, r:totable())
  end)

  it('scatter-adds the gradient, accumulating repeated indices', function()
    local x = lg.tensor({{1, 2}, {3, 4}, {5, 6}, {7, 8}}, {requires_grad = true})
    local y = x:index(1, {2, 2, 4})
    assert.are.equal('index_select', y.grad_fn)
    y:backward(lg.tensor{{1, 2}, {3, 4}, {5, 6}})
    assert.are.same({{0, 0}, {4, 6}, {0, 0}, {5, 6}}, x.grad:totable())
    local w = lg.tensor({{1, 2, 3}}, {dtype = 'float64', requires_grad = true})
    w:index(2, {3, 3, 1}):sum():backward()
    assert.are.same({{1, 0, 2}}, w.grad:totable())
    gradcheck(function(a) return a:index(1, {3, 1, 3, 3}) end, {{3, 2}})
    gradcheck(function(a) return a:t():index(2, {2, 2, 1}) end, {{3, 2}})
    gradcheck(function(a) return a:index(2, {1, 3, 1}) end, {{2, 3, 2}})
  end)

  it('rejects bad indices with the index named', function()
    local x = lg.tensor(X)
    assert.has_error(function() x:index(1, {1, 7}) end,
      'lunagrad.index: index 7 out of range for dim 1 of size 5')
    assert.has_error(function() x:index(1, {0}) end,
      'lunagrad.index: index 0 out of range for dim 1 of size 5')
    assert.has_error(function() x:index(2, lg.tensor({3}, {dtype = 'int64'})) end,
      'lunagrad.index: index 3 out of range for dim 2 of size 2')
    assert.has_error(function() x:index(1, {-1}) end,
      'lunagrad.index: index -1 out of range for dim 1 of size 5')
    assert.has_error(function() x:index(1, {1.5}) end,
      'lunagrad.index: index table holds a fraction at position 1, expected an integer')
    assert.has_error(function() x:index(1, {'a'}) end,
      'lunagrad.index: index table holds a string at position 1, expected an integer')
    assert.has_error(function() x:index(1, lg.tensor{1}) end,
      'lunagrad.index: index tensor must be int64, got float32 (use :long())')
    assert.has_error(function() x:index(1, lg.ones(1, 1, {dtype = 'int64'})) end,
      'lunagrad.index: index tensor must be 1-d, got 2 dims')
    assert.has_error(function() x:index(1, 2) end,
      'lunagrad.index: indices must be an int64 tensor or a table of integers, got number')
    assert.has_error(function() x:index(3, {1}) end,
      'lunagrad.index: dim 3 out of range for a 2-d tensor (dims are 1-based; -1 is the last)')
    assert.has_error(function() lg.tensor(1):index(1, {1}) end,
      'lunagrad.index: cannot index a 0-d tensor')
  end)
end)
