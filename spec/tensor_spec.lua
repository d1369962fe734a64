-- Tensor creation, metadata, dtype conversion, indexing and printing.
local lg = require 'lunagrad'

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-6) end

describe('lg.tensor', function()
  it('builds a 2-d float32 tensor from nested tables', function()
    local x = lg.tensor{{1, 2, 3}, {4, 5, 6}}
    assert.are.same({2, 3}, x:shape())
    assert.are.equal('float32', x.dtype)
    assert.are.same({{1, 2, 3}, {4, 5, 6}}, x:totable())
  end)

  it('rounds to float32 by default and keeps float64 when asked', function()
    local f = lg.tensor{0.1}
    local d = lg.tensor({0.1}, {dtype = 'float64'})
    assert.are.equal('float64', d.dtype)
    assert.are.equal(0.1, d:totable()[1])
    assert.are_not.equal(0.1, f:totable()[1])
    assert.is_true(close(f:totable()[1], 0.1, 1e-8))
    assert.are.equal(string.unpack('f', string.pack('f', 0.1)), f:totable()[1])
  end)

  it('makes int64 tensors that give Lua integers', function()
    local x = lg.tensor({{7, -2}, {3, 9}}, {dtype = 'int64'})
    assert.are.equal('int64', x.dtype)
    local t = x:totable()
    assert.are.same({{7, -2}, {3, 9}}, t)
    assert.are.equal('integer', math.type(t[1][1]))
    assert.are.equal('integer', math.type(x[2][2]))
  end)

  it('accepts the dtype aliases double and long', function()
    assert.are.equal('float64', lg.tensor({1}, {dtype = 'double'}).dtype)
    assert.are.equal('int64', lg.tensor({1}, {dtype = 'long'}).dtype)
  end)

  it('makes a 0-d tensor from a number', function()
    local x = lg.tensor(2.5)
    assert.are.equal(0, x:dim())
    assert.are.same({}, x:shape())
    assert.are.equal(1, x:numel())
    assert.are.equal(2.5, x:item())
  end)

  it('makes a 3-d tensor and an empty tensor', function()
    local x = lg.tensor{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}, {{9, 10}, {11, 12}}}
    assert.are.same({3, 2, 2}, x:shape())
    assert.are.equal(11, x[3][2][1])
    local e = lg.tensor{}
    assert.are.same({0}, e:shape())
    assert.are.equal(0, e:numel())
  end)

  it('sets requires_grad from the options', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    assert.is_true(x.requires_grad)
    assert.is_nil(x.grad_fn)
    assert.is_false(lg.tensor{1}.requires_grad)
  end)

  it('copies a tensor argument instead of aliasing it', function()
    local a = lg.tensor{1, 2, 3}
    local b = lg.tensor(a)
    assert.are_not.equal(a:storage_id(), b:storage_id())
    b[1] = 10
    assert.are.same({1, 2, 3}, a:totable())
    assert.are.same({10, 2, 3}, b:totable())
    local c = lg.tensor(a, {dtype = 'float64'})
    assert.are.equal('float64', c.dtype)
    assert.are.same({1, 2, 3}, c:totable())
  end)
end)

describe('creation functions', function()
  it('zeros, ones, full take varargs or a table, and options', function()
    assert.are.same({{0, 0, 0}, {0, 0, 0}}, lg.zeros(2, 3):totable())
    assert.are.same({{1, 1}, {1, 1}, {1, 1}}, lg.ones{3, 2}:totable())
    local f = lg.full({2, 2}, 7.5)
    assert.are.same({{7.5, 7.5}, {7.5, 7.5}}, f:totable())
    assert.are.same({3}, lg.full(3, -1):shape())
    assert.are.same({-1, -1, -1}, lg.full(3, -1):totable())
    assert.are.same({{4, 4, 4}, {4, 4, 4}}, lg.full(2, 3, 4):totable())
    local d = lg.zeros(2, {dtype = 'float64'})
    assert.are.equal('float64', d.dtype)
    local i = lg.ones({2}, {dtype = 'int64'})
    assert.are.equal('int64', i.dtype)
    assert.are.equal('integer', math.type(i:totable()[1]))
    assert.is_true(lg.zeros(2, {requires_grad = true}).requires_grad)
    assert.are.equal('float64', lg.full({1}, 2, {dtype = 'float64'}).dtype)
  end)

  it('empty gives the requested shape and dtype', function()
    local e = lg.empty(3, 4, {dtype = 'float64'})
    assert.are.same({3, 4}, e:shape())
    assert.are.equal('float64', e.dtype)
    assert.are.equal(12, e:numel())
  end)

  it('zeros() with no sizes is a 0-d zero; zeros(0) is empty', function()
    local z = lg.zeros()
    assert.are.equal(0, z:dim())
    assert.are.equal(0, z:item())
    assert.are.equal(0, lg.zeros(0):numel())
    assert.are.same({2, 0, 3}, lg.zeros(2, 0, 3):shape())
  end)

  it('accepts integral floats as sizes (1e1 == 10)', function()
    assert.are.same({10, 2}, lg.zeros(1e1, 2.0):shape())
  end)

  it('arange is half-open, int64 for integer arguments', function()
    local a = lg.arange(5)
    assert.are.equal('int64', a.dtype)
    assert.are.same({0, 1, 2, 3, 4}, a:totable())
    assert.are.same({2, 3, 4}, lg.arange(2, 5):totable())
    assert.are.same({1, 4, 7}, lg.arange(1, 10, 3):totable())
    assert.are.same({5, 3, 1}, lg.arange(5, 0, -2):totable())
    assert.are.same({}, lg.arange(3, 3):totable())
  end)

  it('arange with fractional arguments is float32 and dtype can be forced', function()
    local a = lg.arange(0, 1, 0.25)
    assert.are.equal('float32', a.dtype)
    assert.are.same({0, 0.25, 0.5, 0.75}, a:totable())
    local d = lg.arange(0, 3, 1, {dtype = 'float64'})
    assert.are.equal('float64', d.dtype)
    assert.are.same({0, 1, 2}, d:totable())
  end)

  it('rand is in [0,1), reproducible under manual_seed', function()
    lg.manual_seed(42)
    local a = lg.rand(1000)
    lg.manual_seed(42)
    local b = lg.rand(1000)
    local c = lg.rand(1000)
    local ta, tb, tc = a:totable(), b:totable(), c:totable()
    assert.are.same(ta, tb)
    assert.are_not.same(ta, tc)
    local lo, hi, sum = math.huge, -math.huge, 0
    for _, v in ipairs(ta) do
      lo, hi, sum = math.min(lo, v), math.max(hi, v), sum + v
    end
    assert.is_true(lo >= 0 and hi < 1)
    assert.is_true(lo < 0.01 and hi > 0.99)
    assert.is_true(math.abs(sum / 1000 - 0.5) < 0.05)
  end)

  it('different seeds give different values', function()
    lg.manual_seed(1)
    local a = lg.rand(8):totable()
    lg.manual_seed(2)
    local b = lg.rand(8):totable()
    assert.are_not.same(a, b)
  end)

  it('randn has mean ~0 and std ~1 over 10k samples', function()
    lg.manual_seed(7)
    local x = lg.randn(100, 100)
    assert.are.same({100, 100}, x:shape())
    local mean = x:mean():item()
    local var = ((x - mean) ^ 2):mean():item()
    assert.is_true(math.abs(mean) < 0.03, 'mean ' .. mean)
    assert.is_true(math.abs(math.sqrt(var) - 1) < 0.03, 'std ' .. math.sqrt(var))
    -- about 68% within one std
    local inside = (x:abs():lt(1)):sum():item() / 10000
    assert.is_true(math.abs(inside - 0.6827) < 0.02, 'inside ' .. inside)
  end)

  it('randn with an odd count and float64 is reproducible', function()
    lg.manual_seed(3)
    local a = lg.randn(7, {dtype = 'float64'}):totable()
    lg.manual_seed(3)
    local b = lg.randn(7, {dtype = 'float64'}):totable()
    assert.are.same(a, b)
    assert.are.equal(7, #a)
  end)

  it('randperm is a 1-based permutation, reproducible', function()
    lg.manual_seed(5)
    local p = lg.randperm(10)
    assert.are.equal('int64', p.dtype)
    local t = p:totable()
    local seen = {}
    for _, v in ipairs(t) do seen[v] = (seen[v] or 0) + 1 end
    for i = 1, 10 do assert.are.equal(1, seen[i]) end
    assert.is_nil(seen[0])
    lg.manual_seed(5)
    assert.are.same(t, lg.randperm(10):totable())
    local identity = true
    for i = 1, 10 do identity = identity and t[i] == i end
    assert.is_false(identity)
    assert.are.equal(0, lg.randperm(0):numel())
  end)
end)

describe('metadata', function()
  local x = lg.zeros(2, 3, 4)

  it('shape, size, dim, numel, #', function()
    assert.are.same({2, 3, 4}, x:shape())
    assert.are.same({2, 3, 4}, x:size())
    assert.are.equal(3, x:size(2))
    assert.are.equal(4, x:size(-1))
    assert.are.equal(2, x:size(-3))
    assert.are.equal(3, x:dim())
    assert.are.equal(24, x:numel())
    assert.are.equal(2, #x)
    assert.are.equal(0, #lg.tensor(1))
  end)

  it('shape() returns a fresh table each time', function()
    local s = x:shape()
    s[1] = 99
    assert.are.same({2, 3, 4}, x:shape())
  end)

  it('item reads one-element tensors of any dim', function()
    assert.are.equal(5, lg.tensor{{5}}:item())
    assert.are.equal(-3, lg.tensor({-3}, {dtype = 'int64'}):item())
    assert.are.equal('integer', math.type(lg.tensor({-3}, {dtype = 'int64'}):item()))
    assert.are.equal(0.5, lg.tensor(0.5, {dtype = 'float64'}):item())
  end)

  it('totable of a 0-d tensor is a number, of a view follows the view', function()
    assert.are.equal(4, lg.tensor(4):totable())
    local t = lg.tensor{{1, 2}, {3, 4}}:t()
    assert.are.same({{1, 3}, {2, 4}}, t:totable())
  end)

  it('module functions mirror methods', function()
    local a = lg.tensor{1, 4, 9}
    assert.are.same({1, 2, 3}, lg.sqrt(a):totable())
    assert.are.equal(3, lg.numel(a))
    assert.is_true(lg.is_tensor(a))
    assert.is_false(lg.is_tensor({}))
  end)
end)

describe('dtype conversion', function()
  local x = lg.tensor{1.75, -2.5, 3}

  it('double, float, long, to', function()
    local d = x:double()
    assert.are.equal('float64', d.dtype)
    assert.are.same({1.75, -2.5, 3}, d:totable())
    local l = x:long()
    assert.are.equal('int64', l.dtype)
    assert.are.same({1, -2, 3}, l:totable()) -- truncation toward zero
    local f = l:float()
    assert.are.equal('float32', f.dtype)
    assert.are.same({1, -2, 3}, f:totable())
    assert.are.equal('float64', x:to('float64').dtype)
    assert.are.equal('int64', x:to('int64').dtype)
  end)

  it('a conversion copies (new storage) unless the dtype is unchanged', function()
    local d = x:double()
    assert.are_not.equal(x:storage_id(), d:storage_id())
    assert.are.equal(x:storage_id(), x:float():storage_id())
  end)

  it('float64 keeps precision that float32 loses', function()
    local big = lg.tensor({16777217}, {dtype = 'float64'})
    assert.are.equal(16777217, big:item())
    assert.are.equal(16777216, big:float():item())
    assert.are.equal(16777217, big:long():item())
  end)
end)

describe('x[i] indexing', function()
  it('selects along dim 1; a number for 1-d tensors', function()
    local x = lg.tensor{{1, 2, 3}, {4, 5, 6}}
    local row = x[2]
    assert.are.same({4, 5, 6}, row:totable())
    assert.are.equal(x:storage_id(), row:storage_id())
    assert.are.equal(6, x[2][3])
    assert.are.equal(6, x[-1][-1])
    assert.are.equal(1, x[-2][1])
  end)

  it('assignment writes through to the storage', function()
    local x = lg.zeros(2, 3)
    x[1] = 5
    x[2] = {1, 2, 3}
    x[2][2] = -7
    assert.are.same({{5, 5, 5}, {1, -7, 3}}, x:totable())
    local v = lg.zeros(4)
    v[-1] = 9
    assert.are.same({0, 0, 0, 9}, v:totable())
  end)

  it('unknown string keys read as nil', function()
    assert.is_nil(lg.zeros(1).no_such_field)
  end)
end)

describe('tostring', function()
  it('prints a 2x2 float tensor like PyTorch', function()
    assert.are.equal('tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], shape={2,2}, dtype=float32)',
                     tostring(lg.tensor{{1, 2}, {3, 4}}))
  end)

  it('right-aligns and prints negatives', function()
    assert.are.equal('tensor([ 1.5000, -2.0000, 10.2500], shape={3}, dtype=float32)',
                     tostring(lg.tensor{1.5, -2, 10.25}))
  end)

  it('prints int64 as integers', function()
    assert.are.equal('tensor([  1,  -2, 300], shape={3}, dtype=int64)',
                     tostring(lg.tensor({1, -2, 300}, {dtype = 'int64'})))
  end)

  it('prints 0-d and empty tensors', function()
    assert.are.equal('tensor(3.2500, shape={}, dtype=float32)', tostring(lg.tensor(3.25)))
    assert.are.equal('tensor(7, shape={}, dtype=int64)', tostring(lg.tensor(7, {dtype = 'int64'})))
    assert.are.equal('tensor([], shape={0}, dtype=float32)', tostring(lg.zeros(0)))
    assert.are.equal('tensor([], shape={2,0}, dtype=float64)', tostring(lg.zeros(2, 0, {dtype = 'float64'})))
  end)

  it('switches to scientific notation for wide magnitudes', function()
    assert.are.equal('tensor([1.0000e-05, 1.0000e+00, 1.0000e+02], shape={3}, dtype=float32)',
                     tostring(lg.tensor({1e-5, 1, 100}, {dtype = 'float32'})))
    assert.are.equal('tensor([1.2346e+09, 2.0000e+00], shape={2}, dtype=float64)',
                     tostring(lg.tensor({1234567890, 2}, {dtype = 'float64'})))
  end)

  it('prints nan and inf', function()
    assert.are.equal('tensor([   nan,    inf,   -inf, 1.0000], shape={4}, dtype=float32)',
                     tostring(lg.tensor{0 / 0, 1 / 0, -1 / 0, 1}))
  end)

  it('separates 3-d blocks with a blank line', function()
    assert.are.equal('tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]], ' ..
                     'shape={2,2,2}, dtype=int64)', tostring(lg.arange(8):view(2, 2, 2)))
  end)

  it('notes requires_grad on leaves and grad_fn on results', function()
    local x = lg.ones(2, {requires_grad = true})
    assert.are.equal('tensor([1.0000, 1.0000], shape={2}, dtype=float32, requires_grad=true)', tostring(x))
    assert.are.equal('tensor([2.0000, 2.0000], shape={2}, dtype=float32, grad_fn=<mul_scalar>)',
                     tostring(x * 2))
  end)

  it('printing a tensor that requires grad records nothing', function()
    local x = lg.ones(2000, {requires_grad = true})
    collectgarbage()
    collectgarbage()
    local before = lg.memory().tensors
    tostring(x)
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, lg.memory().tensors)
    assert.is_nil(x.grad_fn)
  end)

  it('summarises more than 1000 elements with first/last 3', function()
    local s = tostring(lg.arange(2000))
    assert.are.equal('tensor([   0,    1,    2,  ..., 1997, 1998, 1999], shape={2000}, dtype=int64)', s)
    local m = tostring(lg.arange(1600):view(40, 40))
    assert.are.equal(table.concat({
      'tensor([[   0,    1,    2,  ...,   37,   38,   39],',
      '        [  40,   41,   42,  ...,   77,   78,   79],',
      '        [  80,   81,   82,  ...,  117,  118,  119],',
      '        ...,',
      '        [1480, 1481, 1482,  ..., 1517, 1518, 1519],',
      '        [1520, 1521, 1522,  ..., 1557, 1558, 1559],',
      '        [1560, 1561, 1562,  ..., 1597, 1598, 1599]], shape={40,40}, dtype=int64)'}, '\n'), m)
  end)

  it('does not summarise 1000 elements', function()
    local s = tostring(lg.arange(1000))
    assert.is_nil(s:find('...', 1, true))
    assert.is_truthy(s:find(' 999]', 1, true))
  end)

  it('wraps long rows at 80 columns', function()
    local s = tostring(lg.arange(30):float() / 8)
    for line in s:gmatch('[^\n]+') do
      local data = line:gsub(', shape=.*', '')
      assert.is_true(#data <= 80, line)
    end
    assert.is_truthy(s:find('\n        ', 1, true))
    assert.is_truthy(s:find('3.6250]', 1, true))
  end)

  it('prints a strided view and a huge tensor quickly', function()
    local x = lg.arange(6):view(2, 3):t()
    assert.are.equal('tensor([[0, 3],\n        [1, 4],\n        [2, 5]], shape={3,2}, dtype=int64)', tostring(x))
    local big = lg.zeros(4000, 4000)
    local t0 = os.clock()
    local s = tostring(big)
    assert.is_true(os.clock() - t0 < 0.1)
    assert.is_truthy(s:find('shape={4000,4000}', 1, true))
    assert.are.equal(7, select(2, s:gsub('\n', '\n')) + 1) -- 6 rows and the '...' line
  end)

  it('describes a released tensor instead of failing', function()
    local x = lg.zeros(2)
    x:release()
    assert.are.equal('tensor(<released>)', tostring(x))
  end)
end)
