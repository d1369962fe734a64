-- Argument checks for lunagrad.da with errors that blame the user's line: frames
-- inside lunagrad's own Lua files (and C functions) are skipped.
local core = require 'lunagrad.core'

local util = {}

local LIBRARY = { 'lunagrad/da/', 'lunagrad/nn/', 'lunagrad/optim/', 'lunagrad/init.lua', 'lunagrad/data/' }

local function is_library_frame(info)
  if info.what == 'C' then return true end
  local src = info.source or ''
  for _, part in ipairs(LIBRARY) do
    if src:find(part, 1, true) then return true end
  end
  return false
end

--- Raises msg at the first stack frame outside the library.
function util.raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, 'S')
    if not info then error(msg, 0) end
    if not is_library_frame(info) then error(msg, level) end
    level = level + 1
  end
end

--- Calls fn(...); an error raised inside the library (by the C core, or by an nn
--- module that blamed one of our frames) is re-raised at the user's line.
function util.call(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  local msg = res[2]
  if type(msg) == 'string' then
    -- drop a "path:line: " prefix that points into the library
    local where, rest = msg:match('^([^\n]-:%d+): (.*)$')
    if where then
      for _, part in ipairs(LIBRARY) do
        if where:find(part, 1, true) then msg = rest; break end
      end
    end
    if not msg:find('^[^\n]-:%d+: ') then util.raise(msg) end
  end
  error(msg, 0)
end

function util.is_tensor(v) return core.is_tensor(v) == true end

function util.shape_str(t) return '[' .. table.concat(t:shape(), ',') .. ']' end

function util.is_module(v)
  if type(v) ~= 'table' then return false end
  local mt = getmetatable(v)
  return type(mt) == 'table' and mt.__is_module == true
end

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

function util.int(fname, what, v, lo)
  lo = lo or 1
  if math.type(v) == 'float' and v == math.floor(v) then v = math.tointeger(v) end
  if math.type(v) ~= 'integer' or v < lo then
    util.raise(string.format('lunagrad.%s: %s must be an integer >= %d, got %s', fname, what, lo, tostring(v)))
  end
  return v
end

function util.number(fname, what, v, lo, hi)
  if type(v) ~= 'number' or v ~= v or (lo and v < lo) or (hi and v > hi) then
    local range = ''
    if lo and hi then range = string.format(' in [%g, %g]', lo, hi)
    elseif lo then range = string.format(' >= %g', lo) end
    util.raise(string.format('lunagrad.%s: %s must be a number%s, got %s', fname, what, range, tostring(v)))
  end
  return v
end

--- nil -> {}; a non-table or an unknown key raises (catches typos like `perplexety`).
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
  for _, v in ipairs(list) do s[v] = true end
  return s
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
