-- Value comparisons shared by the specs.
local assert = require 'luassert'

local close = {}

--- Flat row-major list of a nested table (or a number).
function close.flat(v, out)
  out = out or {}
  if type(v) == 'table' then
    for _, x in ipairs(v) do close.flat(x, out) end
  else
    out[#out + 1] = v
  end
  return out
end

--- Asserts |actual - expected| <= atol + rtol * |expected| elementwise (numpy's
--- allclose rule); expected is {shape=, data=} or nested data; tol = {rtol=, atol=}.
function close.assert_close(t, expected, tol, what)
  tol = tol or { rtol = 1e-5, atol = 1e-6 }
  what = what or 'value'
  if expected.shape then assert.are.same(expected.shape, t:shape(), what .. ': shape') end
  local a, e = close.flat(t:totable()), close.flat(expected.data or expected)
  assert.are.equal(#e, #a, what .. ': count')
  for i = 1, #e do
    local ok = math.abs(a[i] - e[i]) <= tol.atol + tol.rtol * math.abs(e[i])
    assert.is_true(ok, string.format('%s: element %d is %.9g, expected %.9g', what, i, a[i], e[i]))
  end
end

return close
