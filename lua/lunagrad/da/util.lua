-- Argument checks of lunagrad.da: the shared ones (lunagrad.util) plus tensors,
-- modules and seeded sections.
local core = require 'lunagrad.core'
local shared = require 'lunagrad.util'

local util = setmetatable({}, { __index = shared })
util.int, util.number = shared.check_int, shared.check_number

function util.tensor(fname, what, v, ndim)
  if not util.is_tensor(v) then
    util.raise(string.format('lunagrad.%s: %s must be a Tensor, got %s', fname, what, type(v)))
  end
  if ndim and v:dim() ~= ndim then
    util.raise(string.format('lunagrad.%s: %s must be %d-d, got shape %s', fname, what, ndim, util.shape_str(v)))
  end
  return v
end

function util.module(fname, what, v)
  if not util.is_module(v) then
    util.raise(string.format('lunagrad.%s: %s must be an nn module, got %s', fname, what, type(v)))
  end
  return v
end

--- Runs fn with the core generator seeded by `seed`, then reseeds it from a value
--- drawn before, so the caller's stream stays a function of its own seed.
function util.with_seed(seed, fn, ...)
  if seed == nil then return fn(...) end
  local resume = math.floor(core.uniform() * 2 ^ 31) * 2 ^ 20 + math.floor(core.uniform() * 2 ^ 20)
  core.manual_seed(seed)
  local res = table.pack(pcall(fn, ...))
  core.manual_seed(math.tointeger(resume))
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

return util
