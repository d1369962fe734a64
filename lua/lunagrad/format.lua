-- tostring(x) for tensors, laid out like PyTorch's repr:
--
--   tensor([[1.0000, 2.0000],
--           [3.0000, 4.0000]], shape={2,2}, dtype=float32)
--
-- Floats print with 4 decimals, or in scientific notation when the printed
-- magnitudes need it (largest > 1e8, smallest non-zero < 1e-4, or a ratio
-- above 1000); int64 prints as integers. Tensors of more than 1000 elements
-- are summarised: every dim longer than 6 shows its first and last 3 entries
-- around `...`. Only the printed elements are read (through views), so
-- printing a huge tensor costs no more than printing a small one.

local THRESHOLD = 1000 -- summarise above this many elements
local EDGE = 3         -- entries kept at each end of a summarised dim
local LINE_WIDTH = 80  -- 1-d rows wrap beyond this

-- ---- reading the printed part ---------------------------------------------

-- Nested Lua tables of the values to print; a summarised dim holds the
-- marker SKIP between its head and tail. `t` is a detached alias, so the
-- views taken here record no autograd nodes.
local SKIP = {}

local function gather(t, summarise)
  local nd = t:dim()
  if nd == 0 then return t:item() end
  local n = t:size(1)
  local cut = summarise and n > 2 * EDGE
  if nd == 1 then
    if not cut then return t:totable() end
    local out = t:narrow(1, 1, EDGE):totable()
    out[#out + 1] = SKIP
    for _, v in ipairs(t:narrow(1, n - EDGE + 1, EDGE):totable()) do out[#out + 1] = v end
    return out
  end
  if not summarise then return t:totable() end
  local out = {}
  for i = 1, n do
    if cut and i == EDGE + 1 then
      out[#out + 1] = SKIP
    elseif not cut or i <= EDGE or i > n - EDGE then
      out[#out + 1] = gather(t:select(1, i), summarise)
    end
  end
  return out
end

-- Every printed number, flattened, to choose one format for all of them.
local function collect(data, into)
  if type(data) ~= 'table' then
    into[#into + 1] = data
  elseif data ~= SKIP then
    for _, v in ipairs(data) do collect(v, into) end
  end
  return into
end

-- ---- number formats ----------------------------------------------------------

local function special(v)
  if v ~= v then return 'nan' end
  if v == math.huge then return 'inf' end
  if v == -math.huge then return '-inf' end
end

-- Returns a function value -> string for the printed values of a dtype.
local function formatter(values, is_int)
  if is_int then
    return function(v) return string.format('%d', v) end
  end
  local lo, hi = math.huge, 0
  for _, v in ipairs(values) do
    local a = math.abs(v)
    if a ~= 0 and a < math.huge then
      if a < lo then lo = a end
      if a > hi then hi = a end
    end
  end
  local fmt = '%.4f'
  if hi > 0 and (hi > 1e8 or lo < 1e-4 or hi / lo > 1000) then fmt = '%.4e' end
  return function(v) return special(v) or string.format(fmt, v) end
end

-- ---- layout --------------------------------------------------------------------

local function pad(s, width) return string.rep(' ', width - #s) .. s end

-- `data` nested to depth `nd`; `indent` = column of this level's '['.
local function render(data, nd, indent, fmt, width)
  if nd == 1 then
    local items = {}
    for _, v in ipairs(data) do
      items[#items + 1] = v == SKIP and ' ...' or pad(fmt(v), width)
    end
    -- wrap like PyTorch: as many items per line as fit in LINE_WIDTH
    local per_line = math.max(1, (LINE_WIDTH - indent - 1) // (width + 2))
    if #items <= per_line then return '[' .. table.concat(items, ', ') .. ']' end
    local lines = {}
    for i = 1, #items, per_line do
      lines[#lines + 1] = table.concat(items, ', ', i, math.min(i + per_line - 1, #items))
    end
    return '[' .. table.concat(lines, ',\n' .. string.rep(' ', indent + 1)) .. ']'
  end
  local parts = {}
  for _, sub in ipairs(data) do
    parts[#parts + 1] = sub == SKIP and '...' or render(sub, nd - 1, indent + 1, fmt, width)
  end
  local sep = ',' .. string.rep('\n', nd - 1) .. string.rep(' ', indent + 1)
  return '[' .. table.concat(parts, sep) .. ']'
end

return function(x)
  if not pcall(x.dim, x) then return 'tensor(<released>)' end
  local shape, dtype = x:shape(), x.dtype
  local suffix = {'shape={' .. table.concat(shape, ',') .. '}', 'dtype=' .. dtype}
  if x.grad_fn then
    suffix[#suffix + 1] = 'grad_fn=<' .. x.grad_fn .. '>'
  elseif x.requires_grad then
    suffix[#suffix + 1] = 'requires_grad=true'
  end
  local body
  local n = x:numel()
  if n == 0 then
    body = '[]'
  else
    local data = gather(x:detach(), n > THRESHOLD)
    local fmt = formatter(collect(data, {}), dtype == 'int64')
    if #shape == 0 then
      body = fmt(data)
    else
      local width = 0
      for _, v in ipairs(collect(data, {})) do width = math.max(width, #fmt(v)) end
      body = render(data, #shape, #'tensor(', fmt, width)
    end
  end
  return 'tensor(' .. body .. ', ' .. table.concat(suffix, ', ') .. ')'
end
