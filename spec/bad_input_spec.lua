-- Malformed calls: each must raise a Lua error whose message (after the
-- "file:line: " position) starts with "lunagrad.<fn>:", and never crash.
local lg = require 'lunagrad'

-- The message of f's error with any leading "chunk:line: " removed.
local function message(f)
  local ok, err = pcall(f)
  assert.is_false(ok, 'expected an error')
  assert.are.equal('string', type(err))
  return (err:gsub('^[^\n]-:%d+: ', '', 1))
end

local function fails(fn, f, detail)
  local msg = message(f)
  local prefix = 'lunagrad.' .. fn .. ':'
  assert.are.equal(prefix, msg:sub(1, #prefix), 'message was: ' .. msg)
  if detail then assert.is_truthy(msg:find(detail, 1, true), 'message was: ' .. msg) end
end

local x = lg.tensor{{1, 2}, {3, 4}}

local CASES = {
  -- creation: sizes
  {'zeros', function() return lg.zeros(1e9, 1e9) end, 'too large'},
  {'zeros', function() return lg.zeros(2 ^ 40, 2 ^ 40) end, 'too large'},
  {'zeros', function() return lg.zeros{2, 1e300} end, 'too large'},
  {'zeros', function() return lg.zeros(2 ^ 62, 2 ^ 62, 0) end, 'too large'},
  {'zeros', function() return lg.zeros(-2) end, 'negative size'},
  {'ones', function() return lg.ones(2, -3) end, 'negative size -3'},
  {'zeros', function() return lg.zeros(2.5) end, 'integer'},
  {'zeros', function() return lg.zeros('a') end},
  {'zeros', function() return lg.zeros(1, 2, 3, 4, 5, 6, 7, 8, 9) end, 'at most 8 dims'},
  {'empty', function() return lg.empty{2, 'x'} end, 'integer'},
  {'randn', function() return lg.randn(-1) end},
  {'rand', function() return lg.rand(2, {dtype = 'int64'}) end, 'float'},
  {'full', function() return lg.full({2}, 'a') end, 'fill value must be a number'},
  {'full', function() return lg.full(2, 3, 'a') end, 'options must be a table'},
  {'zeros', function() return lg.zeros(2, {dtyp = 'float64'}) end, "unknown option 'dtyp' (valid: dtype, requires_grad)"},
  {'full', function() return lg.full({2}, 1, {require_grad = true}) end, "unknown option 'require_grad' (valid: dtype, requires_grad)"},
  {'arange', function() return lg.arange(0, 3, {dtyp = 'float64'}) end, "unknown option 'dtyp'"},
  -- creation: tables and options
  {'tensor', function() return lg.tensor{{1, 2}, {3}} end, 'ragged'},
  {'tensor', function() return lg.tensor{{1, 2}, 3} end, 'ragged'},
  {'tensor', function() return lg.tensor{1, 'a'} end, 'string where a number was expected'},
  {'tensor', function() return lg.tensor{1, {2}} end},
  {'tensor', function() return lg.tensor{{1}, {true}} end},
  {'tensor', function() return lg.tensor('abc') end},
  {'tensor', function() return lg.tensor({{{{{{{{{1}}}}}}}}}) end, 'deeper'},
  {'tensor', function() return lg.tensor({1}, {dtype = 'float16'}) end, "unknown dtype 'float16'"},
  {'tensor', function() return lg.tensor({1}, {dtype = 5}) end, 'dtype must be a string'},
  {'tensor', function() return lg.tensor({1}, 'float64') end, 'options must be a table'},
  {'tensor', function() return lg.tensor({1}, {dtype = 'float64', grad = true}) end, "unknown option 'grad' (valid: dtype, requires_grad)"},
  {'tensor', function() return lg.tensor({1}, {dtype = 'int64', requires_grad = true}) end, 'float'},
  {'arange', function() return lg.arange(0, 1, 0) end},
  {'arange', function() return lg.arange('a') end},
  {'arange', function() return lg.arange(1, 1e13) end, 'too many'},
  {'randperm', function() return lg.randperm(-1) end},
  {'randperm', function() return lg.randperm('a') end},
  {'randperm', function() return lg.randperm(2 ^ 50) end},
  {'manual_seed', function() return lg.manual_seed('x') end, 'integer'},
  {'set_num_threads', function() return lg.set_num_threads(0) end},
  -- arithmetic
  {'add', function() return x + lg.zeros(3) end, 'shapes [2,2] and [3] are not broadcastable'},
  {'mul', function() return x * lg.zeros(2, 3) end, 'not broadcastable'},
  {'sub', function() return x - 'a' end, 'got string'},
  {'div', function() return x / {} end, 'not broadcastable'},
  {'add', function() return lg.add(nil, x) end},
  {'pow', function() return x ^ lg.zeros(3) end, 'not broadcastable'},
  {'add', function() return x + {{1, 2}, {3}} end, 'ragged'},
  {'eq', function() return x:eq(lg.zeros(3)) end, 'not broadcastable'},
  {'lt', function() return x:lt('a') end},
  {'exp', function() return lg.exp('a') end, 'Tensor expected, got string'},
  {'exp', function() return lg.exp(nil) end, 'Tensor expected, got nil'},
  {'sigmoid', function() return lg.sigmoid({1, 2}) end},
  {'clamp', function() return x:clamp('a') end},
  {'clamp', function() return x:clamp(0 / 0, 1) end, 'NaN'},
  {'leaky_relu', function() return x:leaky_relu('a') end},
  -- dims
  {'sum', function() return x:sum(0) end, 'dim 0 out of range for a 2-d tensor'},
  {'sum', function() return x:sum(3) end, 'dim 3 out of range'},
  {'sum', function() return x:sum('a') end},
  {'mean', function() return x:mean(-3) end},
  {'size', function() return x:size(5) end},
  {'transpose', function() return x:transpose(1, 3) end},
  {'permute', function() return x:permute(1) end, '1 dims given for a 2-d tensor'},
  {'permute', function() return x:permute(1, 1) end, 'repeated'},
  {'squeeze', function() return x:squeeze(3) end},
  {'unsqueeze', function() return x:unsqueeze(0) end},
  {'unsqueeze', function() return x:unsqueeze(4) end},
  {'flatten', function() return x:flatten(2, 1) end},
  {'t', function() return lg.zeros(2, 2, 2):t() end},
  -- shapes and indices
  {'view', function() return x:view(3) end, 'does not fit the 4 elements of [2,2]'},
  {'view', function() return x:view(-1, -1) end, 'only one dimension can be -1'},
  {'view', function() return x:t():view(4) end, 'contiguous'},
  {'view', function() return lg.zeros(4):view(2 ^ 62, 2 ^ 62) end, 'too large'},
  {'reshape', function() return x:reshape(3, -1) end},
  {'reshape', function() return x:reshape(-3, 2) end},
  {'expand', function() return x:expand(3, 3) end},
  {'expand', function() return x:expand(2) end},
  {'expand', function() return lg.zeros(1, 1):expand(2 ^ 40, 2 ^ 40) end, 'too large'},
  {'narrow', function() return x:narrow(1, 2, 5) end, 'exceeds'},
  {'narrow', function() return x:narrow(1, 0, 1) end, '1-based'},
  {'narrow', function() return x:narrow(1, 1, 'a') end},
  {'select', function() return x:select(1, 3) end, 'out of range'},
  {'select', function() return x:select(3, 1) end},
  {'select', function() return lg.tensor(1):select(1, 1) end, '0-d'},
  {'slice', function() return x:slice(1, 1, 5) end, 'out of bounds'},
  {'slice', function() return x:slice(1, 1, 2, 0) end, 'step must be positive'},
  {'slice', function() return x:slice(1, 'a') end},
  {'index', function() return x[3] end, 'out of range'},
  {'index', function() return x[0] end, 'index 0 out of range for a dim of size 2 (indices are 1-based)'},
  {'index', function() return x[0] end},
  {'index', function() return lg.tensor(5)[1] end, '0-d'},
  {'newindex', function() x[5] = 1 end, 'out of range'},
  {'newindex', function() x[1] = {1, 2, 3} end, 'broadcast'},
  {'newindex', function() x.foo = 1 end, "cannot set field 'foo'"},
  {'newindex', function() x[1.5] = 1 end},
  {'item', function() return x:item() end, 'got 4 elements'},
  -- conversions and in-place
  {'to', function() return x:to('float16') end, 'unknown dtype'},
  {'to', function() return x:to(5) end},
  {'fill', function() return x:clone():fill('a') end, 'value must be a number'},
  {'copy', function() return x:clone():copy(lg.zeros(3)) end, 'does not broadcast'},
  {'copy', function() return x:clone():copy('a') end},
  -- autograd
  {'backward', function() return (x * 2):backward() end, 'does not require grad'},
  {'backward', function() return lg.ones(2, {requires_grad = true}):sum():backward(lg.ones(2)) end, 'shape'},
  {'backward', function() return (lg.ones(2, {requires_grad = true}) * 2):backward() end, 'one-element'},
  {'requires_grad', function() lg.zeros(2, {dtype = 'int64'}).requires_grad = true end, 'float'},
  {'requires_grad', function() (lg.ones(1, {requires_grad = true}) * 2).requires_grad = false end, 'leaf'},
  {'grad', function() lg.zeros(2, {requires_grad = true}).grad = lg.zeros(3) end, 'shape'},
  {'grad', function() lg.zeros(2, {requires_grad = true}).grad = 'g' end},
  {'fill', function() return lg.zeros(2, {requires_grad = true}):fill(1) end, 'no_grad'},
  {'revgrad', function() return lg.revgrad(x, 'a') end},
  {'revgrad', function() return lg.revgrad(x, lg.ones(2)) end, 'one element'},
  {'revgrad', function() return lg.revgrad('x') end},
  {'no_grad', function() return lg.no_grad(5) end},
}

-- Using a released tensor.
local function released()
  local r = lg.ones(2)
  r:release()
  return r
end
for _, c in ipairs{
  {'add', function() return released() + 1 end},
  {'add', function() return 1 + released() end},
  {'sum', function() return released():sum() end},
  {'shape', function() return released():shape() end},
  {'exp', function() return lg.exp(released()) end},
  {'view', function() return released():view(2) end},
  {'requires_grad', function() return released().requires_grad end},
  {'index', function() return released()[1] end},
  {'copy', function() return lg.zeros(2):copy(released()) end},
  {'release', function() return x.release(5) end},
} do
  c[3] = c[3] or (c[1] ~= 'release' and 'released' or nil)
  CASES[#CASES + 1] = c
end

describe('bad input', function()
  it('has at least 40 cases', function() assert.is_true(#CASES >= 40) end)

  for i, c in ipairs(CASES) do
    it(string.format('#%d lunagrad.%s: %s', i, c[1], c[3] or 'error'), function()
      fails(c[1], c[2], c[3])
    end)
  end

  it('leaves the library usable after all the errors', function()
    assert.is_true(lg.is_grad_enabled())
    local y = lg.tensor({1, 2}, {requires_grad = true})
    ;(y * y):sum():backward()
    assert.are.same({2, 4}, y.grad:totable())
    assert.are.same({{1, 2}, {3, 4}}, x:totable())
  end)
end)
