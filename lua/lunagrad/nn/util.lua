-- Helpers of lunagrad.nn and lunagrad.optim: the shared ones (lunagrad.util: errors
-- that blame the user's line, argument checks) plus pairs, reductions and init.
local core = require 'lunagrad.core'

local util = setmetatable({}, { __index = require 'lunagrad.util' })

--- A number or {h, w} as a two-element table of integers >= lo.
function util.pair(fname, what, v, lo)
  if type(v) == 'table' and not util.is_tensor(v) then
    if #v ~= 2 then
      util.raise(string.format('lunagrad.%s: %s must be a number or {h, w}, got a table of %d', fname, what, #v))
    end
    return { util.check_int(fname, what, v[1], lo), util.check_int(fname, what, v[2], lo) }
  end
  local n = util.check_int(fname, what, v, lo)
  return { n, n }
end

local REDUCTIONS = { mean = true, sum = true, none = true }

function util.reduction(fname, r)
  if r == nil then return 'mean' end
  if not REDUCTIONS[r] then
    util.raise(string.format("lunagrad.%s: reduction must be 'mean', 'sum' or 'none', got %s", fname, tostring(r)))
  end
  return r
end

--- U(-bound, bound) of that shape from lg.rand (so lg.manual_seed makes it repeatable),
--- computed as PyTorch's uniform_: from + (to - from) * u.
function util.uniform(shape, bound, dtype)
  local lg = require 'lunagrad'
  local u = lg.rand(shape, { dtype = dtype or 'float32' })
  return u * (2 * bound) - bound
end

return util
