-- Helpers shared by lunagrad's Lua modules (nn, optim, da, data): errors that blame
-- the user's line, and argument checks with messages naming the function. Calls into
-- the core need no wrapper: the binding's errors blame the user's line themselves.
local core = require 'lunagrad.core'

local util = {}

--- Raises msg at the user's line: the first stack frame outside lunagrad's Lua files,
--- so an error inside a Sequential inside a user's net still points at the user's line.
--- The frame finder is the binding's (src/lua/tensor.c), the same one that positions
--- the C core's errors and anomaly mode's creation sites.
util.raise = core._raise

function util.is_tensor(v) return core.is_tensor(v) == true end

function util.is_module(v)
  if type(v) ~= 'table' then return false end
  local mt = getmetatable(v)
  return type(mt) == 'table' and mt.__is_module == true
end

function util.shape_str(t) return '[' .. table.concat(t:shape(), ',') .. ']' end

--- An integer >= lo (default 1), or an error naming the argument.
function util.check_int(fname, what, v, lo)
  lo = lo or 1
  if math.type(v) == 'float' and v == math.floor(v) then v = math.tointeger(v) end
  if math.type(v) ~= 'integer' or v < lo then
    util.raise(string.format('lunagrad.%s: %s must be an integer >= %d, got %s', fname, what, lo, tostring(v)))
  end
  return v
end

function util.check_number(fname, what, v, lo, hi)
  if type(v) ~= 'number' or v ~= v or (lo and v < lo) or (hi and v > hi) then
    local range = ''
    if lo and hi then range = string.format(' in [%g, %g]', lo, hi)
    elseif lo then range = string.format(' >= %g', lo) end
    util.raise(string.format('lunagrad.%s: %s must be a number%s, got %s', fname, what, range, tostring(v)))
  end
  return v
end

--- Checks an options table: nil -> {}; unknown keys raise (typos like `learning_rate`).
function util.options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= 'table' or util.is_tensor(opts) then
    util.raise(string.format('lunagrad.%s: options must be a table, got %s', fname, type(opts)))
  end
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      util.raise(string.format("lunagrad.%s: unknown option '%s' (known: %s)", fname, tostring(k),
        table.concat(names, ', ')))
    end
  end
  return opts
end

function util.set(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

return util
