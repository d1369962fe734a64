-- max / min / argmax / softmax / log_softmax: values, indices (1-based),
-- gradients (hand-computed and by central finite differences), errors.
local lg = require 'lunagrad'

local F64 = {dtype = 'float64'}

-- Flattens a nested table (or number) into a list.
local function flat(t, out)
  out = out or {}
  if type(t) ~= 'table' then
    out[#out + 1] = t
    return out
  end
  for _, v in ipairs(t) do flat(v, out) end
  return out
end

local function close(actual, expected, tol)
  tol = tol or 1e-5
  local a, e = flat(actual), flat(expected)
  assert.are.equal(#e, #a, 'element count')
  for i = 1, #e do
    local err = math.abs(a[i] - e[i])
    if not (err <= tol * (1 + math.abs(e[i]))) then
      error(string.format('element %d: got %.9g, expected %.9g (tol %g)', i, a[i], e[i], tol), 2)
    end
  end
end

-- Softmax of a Lua list in double precision, subtracting the max.
local function ref_softmax(xs)
  local m = -math.huge
  for _, v in ipairs(xs) do m = math.max(m, v) end
  local s, out = 0, {}
  for _, v in ipairs(xs) do s = s + math.exp(v - m) end
  for i, v in ipairs(xs) do out[i] = math.exp(v - m) / s end
  return out
end

local function ref_log_softmax(xs)
  local m = -math.huge
  for _, v in ipairs(xs) do m = math.max(m, v) end
  local s, out = 0, {}
  for _, v in ipairs(xs) do s = s + math.exp(v - m) end
  for i, v in ipairs(xs) do out[i] = v - m - math.log(s) end
  return out
end

-- Central finite differences of f(x) = sum(op(x) * w) in float64, against autograd.
-- op maps a tensor of `shape` to a tensor; values is the flat list of x.
local function check_grad(op, shape, values, weights, tol)
  local function f(vals)
    local x = lg.tensor(vals, F64):reshape(shape)
    local y = op(x)
    return (y * lg.tensor(weights, F64):reshape(y:shape())):sum():item()
  end
  local leaf = lg.tensor(values, {dtype = 'float64', requires_grad = true})
  local y = op(leaf:reshape(shape))
  local loss = (y * lg.tensor(weights, F64):reshape(y:shape())):sum()
  loss:backward()
  local analytic = leaf.grad:totable()
  local eps = 1e-6
  for i = 1, #values do
    local plus, minus = {table.unpack(values)}, {table.unpack(values)}
    plus[i] = plus[i] + eps
    minus[i] = minus[i] - eps
    local numeric = (f(plus) - f(minus)) / (2 * eps)
    local err = math.abs(numeric - analytic[i])
    if not (err <= (tol or 1e-6) * (1 + math.abs(numeric))) then
      error(string.format('gradient %d: autograd %.9g, finite differences %.9g', i, analytic[i], numeric), 2)
    end
  end
  return analytic
end

describe('max / min over a dim', function()
  local x = lg.tensor{{1, 5, 3}, {7, 2, 7}, {-1, -4, -2}}

  it('returns values and 1-based int64 indices', function()
    local v, i = x:max(2)
    assert.are.same({5, 7, -1}, v:totable())
    assert.are.same({2, 1, 1}, i:totable()) -- a tie (7, 7) takes the first
    assert.are.equal('int64', i.dtype)
    assert.are.equal('float32', v.dtype)
    v, i = x:min(2)
    assert.are.same({1, 2, -4}, v:totable())
    assert.are.same({1, 2, 2}, i:totable())
  end)

  it('reduces dim 1 and keeps the dim with keepdim', function()
    local v, i = x:max(1)
    assert.are.same({7, 5, 7}, v:totable())
    assert.are.same({2, 1, 2}, i:totable())
    v, i = x:max(1, true)
    assert.are.same({1, 3}, v:shape())
    assert.are.same({{7, 5, 7}}, v:totable())
    assert.are.same({{2, 1, 2}}, i:totable())
    v, i = x:min(2, true)
    assert.are.same({3, 1}, v:shape())
    assert.are.same({{1}, {2}, {-4}}, v:totable())
    assert.are.same({{1}, {2}, {2}}, i:totable())
  end)

  it('accepts negative dims', function()
    local v, i = x:max(-1)
    assert.are.same({5, 7, -1}, v:totable())
    assert.are.same({2, 1, 1}, i:totable())
    v, i = x:min(-2)
    assert.are.same({-1, -4, -2}, v:totable())
    assert.are.same({3, 3, 3}, i:totable())
  end)

  it('works on 3-d tensors along each dim', function()
    local t = lg.tensor{{{1, 8}, {3, 4}, {5, 0}}, {{9, 2}, {-3, 6}, {7, 7}}} -- [2,3,2]
    local v, i = t:max(1)
    assert.are.same({{9, 8}, {3, 6}, {7, 7}}, v:totable())
    assert.are.same({{2, 1}, {1, 2}, {2, 2}}, i:totable())
    v, i = t:max(2)
    assert.are.same({{5, 8}, {9, 7}}, v:totable())
    assert.are.same({{3, 1}, {1, 3}}, i:totable())
    v, i = t:min(3, true)
    assert.are.same({2, 3, 1}, v:shape())
    assert.are.same({{{1}, {3}, {0}}, {{2}, {-3}, {7}}}, v:totable())
    assert.are.same({{{1}, {1}, {2}}, {{2}, {1}, {1}}}, i:totable())
  end)

  it('reads non-contiguous (transposed) inputs', function()
    local t = x:t() -- {{1,7,-1},{5,2,-4},{3,7,-2}}
    assert.is_false(t:is_contiguous())
    local v, i = t:max(2)
    assert.are.same({7, 5, 7}, v:totable())
    assert.are.same({2, 1, 2}, i:totable())
    v, i = t:min(1)
    assert.are.same({1, 2, -4}, v:totable())
    assert.are.same({1, 2, 2}, i:totable())
  end)

  it('keeps float64 and int64 dtypes', function()
    local d = lg.tensor({{0.1, 0.30000000000000004, 0.3}}, F64)
    local v, i = d:max(2)
    assert.are.equal('float64', v.dtype)
    assert.are.equal(0.30000000000000004, v:totable()[1])
    assert.are.same({2}, i:totable())
    local n = lg.tensor({{3, 9, 2}, {4, 1, 8}}, {dtype = 'int64'})
    v, i = n:min(2)
    assert.are.equal('int64', v.dtype)
    assert.are.same({2, 1}, v:totable())
    assert.are.same({3, 2}, i:totable())
    assert.are.equal(9, n:max():item())
  end)

  it('handles a 0-d tensor and size-1 dims', function()
    local s = lg.tensor(4.5)
    local v, i = s:max(1)
    assert.are.equal(4.5, v:item())
    assert.are.equal(1, i:item())
    v, i = lg.tensor{{2}, {3}}:max(2)
    assert.are.same({2, 3}, v:totable())
    assert.are.same({1, 1}, i:totable())
  end)

  it('propagates NaN (the first NaN wins)', function()
    local v, i = lg.tensor{{1, 0 / 0, 3, 0 / 0}}:max(2)
    assert.is_true(v:item() ~= v:item())
    assert.are.equal(2, i:item())
    v = lg.tensor{{1, 0 / 0, 3}}:min()
    assert.is_true(v:item() ~= v:item())
  end)

  it('matches the golden case max_dim1_3x4', function()
    local a = lg.tensor{{-0.5950113534927368, -0.25003325939178467, 1.709566593170166, -1.6888415813446045},
                        {-2.0827438831329346, 0.2017507255077362, 1.2003073692321777, 2.0079774856567383},
                        {0.9310057759284973, -1.3195154666900635, 0.5318647623062134, -0.9329140782356262}}
    a.requires_grad = true
    local v, i = a:max(2)
    close(v:totable(), {1.709566593170166, 2.0079774856567383, 0.9310057759284973}, 1e-6)
    assert.are.same({3, 4, 1}, i:totable()) -- golden 0-based {2, 3, 0}
    v:backward(lg.tensor{0.5722594261169434, -1.0241414308547974, -0.39694100618362427})
    close(a.grad:totable(), {{0, 0, 0.5722594261169434, 0}, {0, 0, 0, -1.0241414308547974},
                             {-0.39694100618362427, 0, 0, 0}}, 1e-6)
  end)
end)

describe('max / min of all elements', function()
  it('returns a 0-d tensor', function()
    local x = lg.tensor{{1, 5, 3}, {7, 2, 7}}
    local m = x:max()
    assert.are.same({}, m:shape())
    assert.are.equal(7, m:item())
    assert.are.equal(1, x:min():item())
    assert.are.equal(7, lg.max(x):item())
    assert.are.equal(-2, lg.tensor{{4, -2}, {0, 9}}:t():min():item())
  end)

  it('scans large tensors (threaded chunks keep the first of ties)', function()
    local n = 200000
    local x = lg.zeros(n)
    x[123457] = 5
    x[190001] = 5
    x[7] = -3
    assert.are.equal(5, x:max():item())
    assert.are.equal(-3, x:min():item())
    assert.are.equal(123457, x:argmax():item())
    x.requires_grad = true
    x:max():backward()
    assert.are.equal(1, x.grad[123457])
    assert.are.equal(0, x.grad[190001])
    assert.are.equal(1, x.grad:sum():item())
  end)

  it('sends the gradient to the first maximum', function()
    local x = lg.tensor({{1, 7, 3}, {7, 2, -5}}, {requires_grad = true})
    local m = x:max()
    assert.are.equal('max_all', m.grad_fn)
    m:backward(lg.tensor(2.5))
    assert.are.same({{0, 2.5, 0}, {0, 0, 0}}, x.grad:totable())
    x.grad = nil
    x:min():backward()
    assert.are.same({{0, 0, 0}, {0, 0, 1}}, x.grad:totable())
  end)

  it('matches the golden case max_all_3x4', function()
    local a = lg.tensor({{-0.8359111547470093, -0.17955142259597778, -1.3360481262207031, 1.3454477787017822},
                         {-0.5718387961387634, 0.9805453419685364, 1.6776753664016724, 0.25657492876052856},
                         {-2.0266854763031006, -1.582513451576233, 0.4804452061653137, 2.052993059158325}},
                        {requires_grad = true})
    local m = a:max()
    close(m:item(), 2.052993059158325, 1e-6)
    m:backward(lg.tensor(0.5913752317428589))
    close(a.grad:totable(), {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0.5913752317428589}}, 1e-6)
  end)

  it('raises a clean error for empty tensors', function()
    assert.has_error(function() lg.zeros(0):max() end,
      'lunagrad.max: cannot take the max of an empty tensor (shape [0])')
    assert.has_error(function() lg.zeros(2, 0):min() end,
      'lunagrad.min: cannot take the min of an empty tensor (shape [2,0])')
    assert.has_error(function() lg.zeros(3, 0):max(2) end,
      'lunagrad.max: cannot take the max over dim 2 of size 0 (shape [3,0])')
    assert.has_error(function() lg.zeros(0):argmax() end,
      'lunagrad.argmax: cannot take the argmax of an empty tensor (shape [0])')
    -- reducing a non-empty dim of an empty tensor is fine: the result is empty
    local v, i = lg.zeros(0, 3):max(2)
    assert.are.same({0}, v:shape())
    assert.are.same({0}, i:shape())
  end)

  it('rejects bad dims', function()
    local x = lg.zeros(2, 3)
    assert.has_error(function() x:max(3) end)
    assert.has_error(function() x:min(0) end)
    assert.has_error(function() x:max(1.5) end)
    local ok, err = pcall(x.max, x, 3)
    assert.is_false(ok)
    assert.truthy(err:find('lunagrad.max: dim 3 out of range', 1, true))
  end)
end)

describe('argmax', function()
  local x = lg.tensor{{1, 9, 3}, {7, 2, 8}}

  it('gives the flat 1-based index without a dim', function()
    local a = x:argmax()
    assert.are.equal('int64', a.dtype)
    assert.are.same({}, a:shape())
    assert.are.equal(2, a:item())
    assert.are.equal(3, x:t():argmax():item()) -- x:t() = {{1,7},{9,2},{3,8}}
    assert.are.same({{2}}, x:argmax(nil, true):totable())
  end)

  it('gives 1-based indices along a dim', function()
    assert.are.same({2, 3}, x:argmax(2):totable())
    assert.are.same({2, 1, 2}, x:argmax(1):totable())
    assert.are.same({{2}, {3}}, x:argmax(-1, true):totable())
    assert.are.same({{2, 3}}, x:t():argmax(1, true):totable())
    assert.are.same({1, 1}, lg.tensor{{5, 5}, {6, 6}}:argmax(2):totable())
  end)

  it('does not record a graph', function()
    local y = lg.tensor({3, 1, 2}, {requires_grad = true})
    assert.is_nil(y:argmax(1).grad_fn)
    assert.is_false(y:argmax(1).requires_grad)
  end)
end)

describe('max / min gradients', function()
  it('route the gradient to the arg max / arg min', function()
    local x = lg.tensor({{1, 5, 3}, {7, 2, 7}}, {requires_grad = true})
    local v = x:max(2)
    assert.are.equal('max', v.grad_fn)
    v:backward(lg.tensor{10, 20})
    assert.are.same({{0, 10, 0}, {20, 0, 0}}, x.grad:totable())
    x.grad = nil
    local m = x:min(1, true)
    assert.are.equal('min', m.grad_fn)
    m:backward(lg.tensor{{1, 2, 3}})
    assert.are.same({{1, 0, 3}, {0, 2, 0}}, x.grad:totable())
  end)

  it('work through a transpose and in 3-d', function()
    local x = lg.tensor({{{1, 8}, {3, 4}, {5, 0}}, {{9, 2}, {-3, 6}, {7, 7}}}, {requires_grad = true})
    local v = x:transpose(1, 3):max(2) -- [2,3,2] -> [2,3,2] (k,j,i) max over j -> [2(k),2(i)]
    -- v[k][i] = max_j x[i][j][k]: k=1: i=1 ->5 (j=3), i=2 -> 9 (j=1); k=2: i=1 -> 8 (j=1), i=2 -> 7 (j=3)
    assert.are.same({{5, 9}, {8, 7}}, v:totable())
    v:backward(lg.tensor{{1, 2}, {3, 4}})
    assert.are.same({{{0, 3}, {0, 0}, {1, 0}}, {{2, 0}, {0, 0}, {0, 4}}}, x.grad:totable())
  end)

  it('match finite differences in float64', function()
    local vals = {0.3, -1.2, 2.5, 0.7, 1.9, -0.4, 1.1, -2.2, 0.05, 0.9, -0.6, 1.4}
    local w = {0.5, -1.5, 2.0, 0.25, 1.0, -0.75}
    local g = check_grad(function(x) return (x:max(2)) end, {6, 2}, vals, w)
    -- hand: rows {0.3,-1.2} {2.5,0.7} {1.9,-0.4} {1.1,-2.2} {0.05,0.9} {-0.6,1.4}
    close(g, {0.5, 0, -1.5, 0, 2.0, 0, 0.25, 0, 0, 1.0, 0, -0.75}, 1e-12)
    check_grad(function(x) return (x:min(1, true)) end, {3, 4}, vals, {1, -2, 3, -4})
    check_grad(function(x) return (x:transpose(1, 2):max(-1)) end, {3, 4}, vals, {1, 2, 3, 4})
    check_grad(function(x) return x:max() * x:min() end, {3, 4}, vals, {1.5})
  end)
end)

describe('softmax / log_softmax', function()
  it('normalise each row of the last dim', function()
    local rows = {{1, 2, 3}, {-1, 0, 0.5}}
    local x = lg.tensor(rows)
    local s, l = x:softmax(2), x:log_softmax(-1)
    assert.are.equal('float32', s.dtype)
    for r = 1, 2 do
      close(s:totable()[r], ref_softmax(rows[r]), 1e-6)
      close(l:totable()[r], ref_log_softmax(rows[r]), 1e-6)
    end
    -- by hand: softmax{1,2,3} = {0.09003057, 0.24472847, 0.66524096}
    close(s:totable()[1], {0.09003057317038046, 0.24472847105479767, 0.6652409557748219}, 1e-6)
    close(l:totable()[1], {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806}, 1e-6)
    close(s:sum(2):totable(), {1, 1}, 1e-6)
  end)

  it('normalise over dim 1 and over the middle dim of a 3-d tensor', function()
    local x = lg.tensor({{1, 2}, {3, 5}, {0, -1}}, F64)
    local s = x:softmax(1)
    local c1, c2 = ref_softmax{1, 3, 0}, ref_softmax{2, 5, -1}
    close(s:totable(), {{c1[1], c2[1]}, {c1[2], c2[2]}, {c1[3], c2[3]}}, 1e-14)
    local l = x:log_softmax(-2)
    c1, c2 = ref_log_softmax{1, 3, 0}, ref_log_softmax{2, 5, -1}
    close(l:totable(), {{c1[1], c2[1]}, {c1[2], c2[2]}, {c1[3], c2[3]}}, 1e-14)

    local t = lg.tensor({{{1, 2, 3, 4}, {0, 0, 1, -1}, {2, 5, -2, 0}},
                         {{-1, 3, 3, 0}, {4, 1, 0, 2}, {0.5, 0, 1, 1}}}, F64) -- [2,3,4]
    local sm, ls = t:softmax(2), t:log_softmax(2)
    local tt, st, lt = t:totable(), sm:totable(), ls:totable()
    for a = 1, 2 do
      for c = 1, 4 do
        local col = {tt[a][1][c], tt[a][2][c], tt[a][3][c]}
        local e, le = ref_softmax(col), ref_log_softmax(col)
        close({st[a][1][c], st[a][2][c], st[a][3][c]}, e, 1e-14)
        close({lt[a][1][c], lt[a][2][c], lt[a][3][c]}, le, 1e-14)
      end
    end
  end)

  it('read non-contiguous (transposed) inputs', function()
    local x = lg.tensor{{1, 4}, {2, 0}, {3, -1}} -- x:t() = {{1,2,3},{4,0,-1}}
    local s = x:t():softmax(2)
    close(s:totable(), {ref_softmax{1, 2, 3}, ref_softmax{4, 0, -1}}, 1e-6)
    local l = x:t():log_softmax(1)
    local c = {ref_log_softmax{1, 4}, ref_log_softmax{2, 0}, ref_log_softmax{3, -1}}
    close(l:totable(), {{c[1][1], c[2][1], c[3][1]}, {c[1][2], c[2][2], c[3][2]}}, 1e-6)
  end)

  it('are stable for large logits, in float32 and float64', function()
    for _, dt in ipairs{'float32', 'float64'} do
      local s = lg.tensor({100, -100, 0}, {dtype = dt}):softmax(1):totable()
      close(s, {1, math.exp(-200), math.exp(-100)}, 1e-7)
      assert.is_true(s[2] >= 0 and s[3] > 0) -- exp(-100) = 3.7e-44 is a float32 subnormal
      local l = lg.tensor({100, -100, 0}, {dtype = dt}):log_softmax(1):totable()
      close(l, {-math.exp(-100), -200, -100}, 1e-7)
      local big = lg.tensor({{1000, 1001, 999}, {-1000, -1001, -1002}}, {dtype = dt})
      local sb, lb = big:softmax(-1):totable(), big:log_softmax(-1):totable()
      local e = ref_softmax{0, 1, -1}
      close(sb, {{e[1], e[2], e[3]}, {e[2], e[1], e[3]}}, 1e-6)
      local le = ref_log_softmax{0, 1, -1}
      close(lb, {{le[1], le[2], le[3]}, {le[2], le[1], le[3]}}, 1e-6)
    end
  end)

  it('match long rows and columns (vectorised paths) to double precision references', function()
    lg.manual_seed(7)
    local x = lg.randn(5, 301):mul(4)
    local xd, rows = x:double(), x:totable()
    local s, l = x:softmax(2):totable(), x:log_softmax(2):totable()
    local sd = xd:softmax(2):totable()
    for r = 1, 5 do
      close(s[r], ref_softmax(rows[r]), 2e-6)
      close(l[r], ref_log_softmax(rows[r]), 2e-6)
      close(sd[r], ref_softmax(rows[r]), 1e-13)
    end
    local y = lg.randn(3, 7, 300) -- over dim 2 with 300 columns (more than one column chunk)
    local ys, yt = y:softmax(2):totable(), y:totable()
    for a = 1, 3 do
      for c = 1, 300, 37 do
        local col = {}
        for j = 1, 7 do col[j] = yt[a][j][c] end
        local e = ref_softmax(col)
        for j = 1, 7 do close(ys[a][j][c], e[j], 2e-6) end
      end
    end
  end)

  it('agree between float32 and float64 on large (threaded) inputs, forward and backward', function()
    lg.manual_seed(11)
    for _, case in ipairs{{shape = {300, 200}, dim = 2}, {shape = {4, 50, 300}, dim = 2}} do
      local x = lg.randn(table.unpack(case.shape)):mul(3)
      local g = lg.randn(table.unpack(case.shape))
      for _, name in ipairs{'softmax', 'log_softmax'} do
        local x32 = x:clone()
        x32.requires_grad = true
        local x64 = x:double()
        x64.requires_grad = true
        local y32, y64 = x32[name](x32, case.dim), x64[name](x64, case.dim)
        y32:backward(g)
        y64:backward(g:double())
        local dy = (y32:double() - y64):abs():max():item()
        local dg = (x32.grad:double() - x64.grad):abs():max():item()
        assert.is_true(dy < 2e-5, name .. ' forward differs by ' .. dy)
        assert.is_true(dg < 2e-5, name .. ' backward differs by ' .. dg)
      end
      local sums = x:softmax(case.dim):sum(case.dim)
      assert.is_true((sums - 1):abs():max():item() < 1e-5)
    end
  end)

  it('give NaN rows for NaN inputs and zeros for -inf entries', function()
    local s = lg.tensor{{1, 0 / 0, 2}, {0, -math.huge, 0}}:softmax(2):totable()
    for k = 1, 3 do assert.is_true(s[1][k] ~= s[1][k]) end
    assert.are.same({0.5, 0, 0.5}, s[2])
    local l = lg.tensor{0, -math.huge}:log_softmax(1):totable()
    assert.are.equal(0, l[1])
    assert.are.equal(-math.huge, l[2])
  end)

  it('promote int64 input to float32 and handle 0-d and empty tensors', function()
    local s = lg.tensor({1, 2}, {dtype = 'int64'}):softmax(1)
    assert.are.equal('float32', s.dtype)
    close(s:totable(), ref_softmax{1, 2}, 1e-6)
    assert.are.equal(1, lg.tensor(3.5):softmax(1):item())
    assert.are.equal(0, lg.tensor(3.5):log_softmax(-1):item())
    assert.are.same({0, 4}, lg.zeros(0, 4):softmax(2):shape())
  end)

  it('match the golden cases softmax_3x5_offset100 and log_softmax_3x5', function()
    local a = lg.tensor({{103.00086212158203, 102.65296173095703, 97.78739929199219, 100.2240982055664, 96.7046890258789},
                         {103.30792999267578, 99.02938842773438, 100.02812957763672, 102.06510162353516, 102.90999603271484},
                         {98.3958511352539, 102.38807678222656, 96.58741760253906, 99.13713073730469, 95.26980590820312}},
                        {requires_grad = true})
    local s = a:softmax(-1)
    close(s:totable(), {{0.5631597935808332, 0.3976861086684209, 0.003065162492458996, 0.03505083712879924, 0.0010380981294874293},
                        {0.4970742439427471, 0.006890873357084579, 0.018707770720419757, 0.1434391681498242, 0.3338879438299245},
                        {0.017396825534849284, 0.9424787720295419, 0.0028515257911385194, 0.036509311991360406, 0.0007635646531098288}}, 1e-4)
    s:backward(lg.tensor{{0.7314448356628418, 0.6243816614151001, -1.1772817373275757, 0.21464043855667114, -0.38286730647087097},
                         {-0.8975903987884521, -0.3968645930290222, -0.15011954307556152, 0.5305392146110535, 0.38832756876945496},
                         {-1.3513617515563965, 3.755868434906006, -0.05870017036795616, -2.5704214572906494, 0.02875562384724617}})
    close(a.grad:totable(), {{0.03812551612586888, -0.015654471400513126, -0.005643047786606849, -0.015741510090861163, -0.0010864868478876136},
                             {-0.323911562185702, -0.00103990428667834, 0.0017928531144670067, 0.11137957196253574, 0.21177904139537757},
                             {-0.08304703243181696, 0.31435561021025804, -0.009926239094158032, -0.2187911274430865, -0.002591211241196674}}, 1e-4)

    local b = lg.tensor({{-0.8869137763977051, -0.22796152532100677, 0.7120462656021118, -0.5446271896362305, 0.289176344871521},
                         {3.487794876098633, 0.6726953387260437, -1.2116936445236206, -3.148888349533081, -0.4969440996646881},
                         {-1.8608366250991821, -1.3282023668289185, 1.0682255029678345, 1.00904381275177, 3.12277889251709}},
                        {requires_grad = true})
    local l = b:log_softmax(-1)
    close(l:totable(), {{-2.5281647955576787, -1.8692125444809804, -0.9292047535578619, -2.185878208796204, -1.3520746742884526},
                        {-0.08517476614186673, -2.900274303514456, -4.78466328676412, -6.721857991773581, -4.069913741905188},
                        {-5.220624419603367, -4.687990161333103, -2.2915622915363505, -2.350743981752415, -0.23700890198709493}}, 1e-4)
    l:backward(lg.tensor{{0.8029009699821472, -0.0654025450348854, 0.8927499055862427, 1.328007698059082, 0.3663879632949829},
                         {0.23027554154396057, -0.4457227289676666, 0.9905734062194824, 0.2903206944465637, -0.41611745953559875},
                         {1.48641037940979, -0.22761808335781097, -0.48189055919647217, 0.41475704312324524, 0.29906609654426575}})
    close(b.grad:totable(), {{0.5375766088725757, -0.5782125073798666, -0.42004429698990314, 0.9543875372754466, -0.49370734177825276},
                             {-0.3660373139050932, -0.48144112736197686, 0.9851470007750728, 0.2895387079223443, -0.42720726743034704},
                             {1.4783545711408672, -0.24134045700401763, -0.6326153329642116, 0.2726935924967581, -0.8770923736693962}}, 1e-4)
  end)

  it('require a dim and reject bad ones', function()
    local x = lg.zeros(2, 3)
    assert.has_error(function() x:softmax() end,
      'lunagrad.softmax: dim is required (e.g. x:softmax(-1) for the last dim)')
    assert.has_error(function() x:log_softmax() end,
      'lunagrad.log_softmax: dim is required (e.g. x:log_softmax(-1) for the last dim)')
    local ok, err = pcall(x.softmax, x, 3)
    assert.is_false(ok)
    assert.truthy(err:find('lunagrad.softmax: dim 3 out of range', 1, true))
    assert.has_error(function() x:log_softmax(-3) end)
  end)
end)

describe('softmax / log_softmax gradients', function()
  it('follow s * (g - sum(g * s)) and g - exp(y) * sum(g) (hand-computed)', function()
    local xs, g = {0.5, -1, 2}, {1, -2, 0.5}
    local x = lg.tensor(xs, {dtype = 'float64', requires_grad = true})
    local s = x:softmax(1)
    assert.are.equal('softmax', s.grad_fn)
    s:backward(lg.tensor(g, F64))
    local p = ref_softmax(xs)
    local dot = g[1] * p[1] + g[2] * p[2] + g[3] * p[3]
    close(x.grad:totable(), {p[1] * (g[1] - dot), p[2] * (g[2] - dot), p[3] * (g[3] - dot)}, 1e-14)

    x.grad = nil
    local l = x:log_softmax(1)
    assert.are.equal('log_softmax', l.grad_fn)
    l:backward(lg.tensor(g, F64))
    local sum = g[1] + g[2] + g[3]
    close(x.grad:totable(), {g[1] - p[1] * sum, g[2] - p[2] * sum, g[3] - p[3] * sum}, 1e-14)
  end)

  it('give zero gradient for a constant upstream (rows sum to 1)', function()
    local x = lg.tensor({{1, 2, 3}, {4, -5, 6}}, {requires_grad = true})
    x:softmax(2):sum():backward()
    close(x.grad:totable(), {{0, 0, 0}, {0, 0, 0}}, 1e-7)
  end)

  it('match finite differences in float64 (last dim, middle dim, transposed)', function()
    local vals = {0.3, -1.2, 2.5, 0.7, 1.9, -0.4, 1.1, -2.2, 0.05, 0.9, -0.6, 1.4,
                  0.2, 0.8, -1.7, 1.3, -0.1, 0.6, 2.1, -0.9, 0.4, -1.1, 1.6, 0.0}
    local w = {}
    for i = 1, 24 do w[i] = math.sin(i * 1.7) end
    check_grad(function(x) return x:softmax(-1) end, {4, 6}, vals, w)
    check_grad(function(x) return x:log_softmax(2) end, {4, 6}, vals, w)
    check_grad(function(x) return x:softmax(2) end, {2, 3, 4}, vals, w)
    check_grad(function(x) return x:log_softmax(1) end, {2, 3, 4}, vals, w)
    check_grad(function(x) return x:transpose(1, 2):softmax(2) end, {4, 6}, vals, w)
    check_grad(function(x) return x:transpose(1, 3):log_softmax(-1) end, {2, 3, 4}, vals, w)
  end)

  it('do not keep the graph alive through a reference cycle', function()
    collectgarbage()
    collectgarbage()
    local before = lg.memory().tensors
    do
      local x = lg.randn(8, 5)
      x.requires_grad = true
      local y = x:log_softmax(2)
      local z = y:softmax(1)
      local v = z:max(2)
      local _ = v:sum()
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, lg.memory().tensors)
  end)

  it('work in a cross-entropy style chain', function()
    -- loss = -mean(log_softmax(x)[i, t_i]); d/dx = (softmax(x) - onehot) / N
    local x = lg.tensor({{2, 1, 0.1}, {0.5, 2.5, -1}}, {dtype = 'float64', requires_grad = true})
    local lsm = x:log_softmax(2)
    local loss = -(lsm:select(1, 1):select(1, 1) + lsm:select(1, 2):select(1, 2)) / 2
    loss:backward()
    local p1, p2 = ref_softmax{2, 1, 0.1}, ref_softmax{0.5, 2.5, -1}
    close(x.grad:totable(), {{(p1[1] - 1) / 2, p1[2] / 2, p1[3] / 2},
                             {p2[1] / 2, (p2[2] - 1) / 2, p2[3] / 2}}, 1e-14)
  end)
end)

-- Second derivatives: the gradients of max/min (scatter_to), gather and the
-- softmax family under create_graph, against finite differences of the gradient.
describe('reductions under create_graph', function()
  local gradgradcheck = require 'helpers.gradgradcheck'
  local function ggc(fn, inputs)
    local ok, msg = gradgradcheck(fn, inputs)
    assert(ok, msg)
  end
  local function x23() return lg.tensor({{0.1, -0.9, 0.5}, {0.7, 0.2, -0.3}}, {dtype = 'float64', requires_grad = true}) end

  it('max / min over a dim, keepdim or not, 3-d and 0-d', function()
    ggc(function(x) return (x * x):max(2, true) end, {x23()})
    ggc(function(x) local v = (x * x):min(1) return v * v end, {x23()})
    ggc(function(x) return (x:view(1, 2, 3) * x:view(1, 2, 3)):max(3) end, {x23()})
    ggc(function(x) return (x * x):max(1) end, {lg.tensor(0.7, {dtype = 'float64', requires_grad = true})})
  end)

  it('max / min of all elements put the whole gradient on the first extreme', function()
    ggc(function(x) return (x * x):max() * x:sum() end, {x23()})
    local x = lg.tensor({1, 3, 3, 2}, {dtype = 'float64', requires_grad = true})
    local g = lg.grad(x:max() * x:max(), x, {create_graph = true})[1]
    assert.are.same({0, 6, 0, 0}, g:totable()) -- d(m^2)/dx, at the first of the ties
    g:sum():backward()
    assert.are.same({0, 2, 0, 0}, x.grad:totable()) -- d(2m)/dx
  end)

  it('the gradient of max over a dim is scatter_to, whose gradient is a gather', function()
    local x = x23()
    local v = x:max(2)
    local g = lg.tensor({2, 3}, {dtype = 'float64', requires_grad = true})
    local gx = lg.grad(v, x, {grad_outputs = g, create_graph = true})[1]
    assert.are.equal('scatter_to', gx.grad_fn)
    close(gx:totable(), {{0, 0, 2}, {3, 0, 0}})
  end)

  it('softmax and log_softmax over an inner dim of a 3-d input', function()
    local x = lg.tensor({{{0.3, -1.2}, {0.8, 0.1}, {-0.4, 0.9}}}, {dtype = 'float64', requires_grad = true})
    ggc(function(t) return t:softmax(2) end, {x})
    ggc(function(t) return t:log_softmax(2) * t end, {x})
  end)

  it('softmax gradients by backward (fused) equal those of create_graph (ops)', function()
    for _, dtype in ipairs({'float64', 'float32'}) do
      for _, op in ipairs({'softmax', 'log_softmax'}) do
        local function make() return lg.tensor({{0.3, -1.2, 2.0}, {0.8, 0.1, -0.6}}, {dtype = dtype, requires_grad = true}) end
        local w = lg.tensor({{1, -2, 0.5}, {0.3, 0.7, -1}}, {dtype = dtype})
        local a, b = make(), make()
        local la = (a[op](a, 2) * w):sum()
        la:backward()
        local g = lg.grad((b[op](b, 2) * w):sum(), b, {create_graph = true})[1]
        close(g:totable(), a.grad:totable(), 1e-6)
      end
    end
  end)
end)
