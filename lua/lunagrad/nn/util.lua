-- Shared helpers of lunagrad.nn and lunagrad.optim: user-blaming errors, argument checks.
local core = require 'lunagrad.core'

local util = {}

local function is_library_frame(info)
  if info.what == 'C' then return true end
  local src = info.source or ''
  return src:find('lunagrad/nn/', 1, true) ~= nil or src:find('lunagrad/optim/', 1, true) ~= nil
      or src:find('lunagrad/init.lua', 1, true) ~= nil
end

--- Raises msg blaming the first stack frame outside lunagrad's Lua files, so an
--- error inside a Sequential inside a user's net still points at the user's line.
function util.raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, 'S')
    if not info then error(msg, 0) end
    if not is_library_frame(info) then error(msg, level) end
    level = level + 1
  end
end

--- fn(...) with an error from inside it (e.g. a C kernel's shape check) re-raised at
--- the user's line instead of the library line that called the kernel.
function util.call(fn, ...)
  local ok, a, b = pcall(fn, ...)
  if ok then return a, b end
  if type(a) ~= 'string' then error(a, 0) end
  util.raise((a:gsub('^[^\n]-:%d+: ', '', 1)))
end

function util.is_tensor(v) return core.is_tensor(v) == true end

function util.is_module(v)
  if type(v) ~= 'table' then return false end
  local mt = getmetatable(v)
  return type(mt) == 'table' and mt.__is_module == true
end

function util.shape_str(t)
  return '[' .. table.concat(t:shape(), ',') .. ']'
end

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
