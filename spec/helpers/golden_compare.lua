-- Comparing lunagrad's tensors with PyTorch's reference values (nested lists from
-- the spec/fixtures generators): |got - expected| <= atol + rtol * |expected|,
-- element by element, the first failure named with both values.
local assert = require 'luassert'
local M = {}

-- Row-major flat values of a nested list.
function M.flat(v, out)
  out = out or {}
  if type(v) == 'table' then
    for _, e in ipairs(v) do M.flat(e, out) end
  else
    out[#out + 1] = v
  end
  return out
end

-- assert_close(what, got, expected [, rtol [, atol]]) with a spec's default tolerances.
function M.checker(default_rtol, default_atol)
  return function(what, got, expected, rtol, atol)
    rtol, atol = rtol or default_rtol, atol or default_atol
    local g, e = M.flat(got:totable()), M.flat(expected)
    assert.are.equal(#e, #g, what .. ': element count')
    for k = 1, #e do
      if not (math.abs(g[k] - e[k]) <= atol + rtol * math.abs(e[k])) then
        error(string.format('%s: element %d is %.15g, PyTorch %.15g', what, k, g[k], e[k]), 2)
      end
    end
  end
end

return M
