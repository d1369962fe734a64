-- lunagrad.json: a small, strict JSON reader and deterministic writer in pure Lua 5.4.
-- Used for the safetensors header, checkpoints' metadata and the golden conformance file.
--
--   json.decode(str)   objects -> tables, arrays -> sequences, null -> json.null;
--                      numbers are whatever tonumber() makes of the literal
--                      ("1" -> integer 1, "1.0" -> float 1.0, "-0.0" -> -0.0).
--   json.encode(value) object keys sorted (byte order) so output is reproducible;
--                      floats written with the shortest of %.15g/%.16g/%.17g that
--                      reads back to the same double (".0" added so they stay floats).
--   json.array(t)      marks t to be written as an array even when empty; decode marks
--                      empty arrays this way so "[]" round-trips.
local json = {}

local byte, sub, find, char, format = string.byte, string.sub, string.find, string.char, string.format
local concat, tonumber, type, math_type = table.concat, tonumber, type, math.type

--- The value JSON null decodes to (a unique sentinel: Lua tables cannot hold nil).
json.null = setmetatable({}, {
  __tostring = function() return 'json.null' end,
  __newindex = function() error('lunagrad.json: json.null is read-only', 2) end,
})

local array_mt = {__name = 'lunagrad.json.array'}

--- Marks a table as a JSON array (so an empty one encodes as [] rather than {}).
function json.array(t)
  t = t or {}
  return setmetatable(t, array_mt)
end

---------------------------------------------------------------------------
-- Decoding: recursive descent over the string, positions are 1-based byte offsets.
---------------------------------------------------------------------------

local MAX_DEPTH = 512

-- Internal error carrier: caught by json.decode and re-raised blaming the caller.
local DecodeError = {}

local function where(str, pos)
  local line, col = 1, pos
  local start = 1
  while true do
    local nl = find(str, '\n', start, true)
    if not nl or nl >= pos then break end
    line = line + 1
    start = nl + 1
  end
  col = pos - start + 1
  return format('at position %d (line %d, column %d)', pos, line, col)
end

local function fail(str, pos, what)
  error(setmetatable({msg = 'lunagrad.json: ' .. what .. ' ' .. where(str, pos)}, DecodeError), 0)
end

local function describe_char(str, pos)
  if pos > #str then return 'end of input' end
  local c = sub(str, pos, pos)
  if byte(c) < 32 or byte(c) > 126 then return format("byte 0x%02x", byte(c)) end
  return "'" .. c .. "'"
end

local function skip_ws(str, pos)
  -- JSON whitespace is exactly space, tab, newline, carriage return.
  local _, e = find(str, '^[ \t\r\n]*', pos)
  return e + 1
end

local escapes = {
  [34] = '"', [92] = '\\', [47] = '/', [98] = '\b',
  [102] = '\f', [110] = '\n', [114] = '\r', [116] = '\t',
}

local function utf8_char(cp)
  return utf8.char(cp)
end

local function parse_string(str, pos)
  -- pos is at the opening quote.
  local i = pos + 1
  -- Fast path: no escapes before the closing quote.
  local stop = find(str, '["\\%c]', i)
  if not stop then fail(str, pos, 'unterminated string starting') end
  if byte(str, stop) == 34 then
    return sub(str, i, stop - 1), stop + 1
  end
  local parts, n = {}, 0
  while true do
    stop = find(str, '["\\%c]', i)
    if not stop then fail(str, pos, 'unterminated string starting') end
    local c = byte(str, stop)
    if stop > i then n = n + 1; parts[n] = sub(str, i, stop - 1) end
    if c == 34 then
      return concat(parts, '', 1, n), stop + 1
    elseif c == 92 then
      local e = byte(str, stop + 1)
      if e == 117 then -- \uXXXX
        local hex = sub(str, stop + 2, stop + 5)
        if not find(hex, '^%x%x%x%x$') then fail(str, stop, 'invalid \\u escape') end
        local cp = tonumber(hex, 16)
        local nexti = stop + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          -- High surrogate: must be followed by \u low surrogate.
          local lo = find(str, '^\\u[dD][c-fC-F]%x%x', nexti)
          if not lo then fail(str, stop, 'unpaired high surrogate in \\u escape') end
          local low = tonumber(sub(str, nexti + 2, nexti + 5), 16)
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
          nexti = nexti + 6
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          fail(str, stop, 'unpaired low surrogate in \\u escape')
        end
        n = n + 1; parts[n] = utf8_char(cp)
        i = nexti
      else
        local r = e and escapes[e]
        if not r then fail(str, stop, 'invalid escape \\' .. (e and char(e) or '')) end
        n = n + 1; parts[n] = r
        i = stop + 2
      end
    else
      fail(str, stop, 'unescaped control character in string')
    end
  end
end

local function parse_number(str, pos)
  local _, e = find(str, '^-?%d+', pos)
  if not e then fail(str, pos, 'invalid number') end
  -- No leading zeros: "0", "-0" fine, "01" not.
  local int_start = byte(str, pos) == 45 and pos + 1 or pos
  if byte(str, int_start) == 48 and e > int_start then
    fail(str, pos, 'invalid number (leading zero)')
  end
  if byte(str, e + 1) == 46 then -- '.'
    local _, e2 = find(str, '^%d+', e + 2)
    if not e2 then fail(str, pos, 'invalid number (digits expected after the decimal point)') end
    e = e2
  end
  local x = byte(str, e + 1)
  if x == 101 or x == 69 then -- e / E
    local _, e2 = find(str, '^[-+]?%d+', e + 2)
    if not e2 then fail(str, pos, 'invalid number (digits expected in the exponent)') end
    e = e2
  end
  local v = tonumber(sub(str, pos, e))
  if v == nil then fail(str, pos, 'invalid number') end
  return v, e + 1
end

local parse_value

local function parse_array(str, pos, depth)
  if depth > MAX_DEPTH then fail(str, pos, 'nesting deeper than ' .. MAX_DEPTH) end
  local t, n = {}, 0
  pos = skip_ws(str, pos + 1)
  if byte(str, pos) == 93 then return setmetatable(t, array_mt), pos + 1 end
  while true do
    local v
    v, pos = parse_value(str, pos, depth)
    n = n + 1; t[n] = v
    pos = skip_ws(str, pos)
    local c = byte(str, pos)
    if c == 93 then return t, pos + 1 end
    if c ~= 44 then fail(str, pos, "expected ',' or ']' in array, got " .. describe_char(str, pos)) end
    pos = skip_ws(str, pos + 1)
  end
end

local function parse_object(str, pos, depth)
  if depth > MAX_DEPTH then fail(str, pos, 'nesting deeper than ' .. MAX_DEPTH) end
  local t = {}
  pos = skip_ws(str, pos + 1)
  if byte(str, pos) == 125 then return t, pos + 1 end
  while true do
    if byte(str, pos) ~= 34 then
      fail(str, pos, 'expected a string key in object, got ' .. describe_char(str, pos))
    end
    local k
    k, pos = parse_string(str, pos)
    pos = skip_ws(str, pos)
    if byte(str, pos) ~= 58 then fail(str, pos, "expected ':' after object key, got " .. describe_char(str, pos)) end
    local v
    v, pos = parse_value(str, skip_ws(str, pos + 1), depth)
    t[k] = v
    pos = skip_ws(str, pos)
    local c = byte(str, pos)
    if c == 125 then return t, pos + 1 end
    if c ~= 44 then fail(str, pos, "expected ',' or '}' in object, got " .. describe_char(str, pos)) end
    pos = skip_ws(str, pos + 1)
  end
end

local literals = {
  [116] = {'true', true}, [102] = {'false', false}, [110] = {'null', json.null},
}

function parse_value(str, pos, depth)
  local c = byte(str, pos)
  if c == 34 then return parse_string(str, pos)
  elseif c == 123 then return parse_object(str, pos, depth + 1)
  elseif c == 91 then return parse_array(str, pos, depth + 1)
  elseif c == 45 or (c and c >= 48 and c <= 57) then return parse_number(str, pos)
  end
  local lit = literals[c]
  if lit and sub(str, pos, pos + #lit[1] - 1) == lit[1] then
    return lit[2], pos + #lit[1]
  end
  fail(str, pos, 'unexpected ' .. describe_char(str, pos))
end

--- Parses a JSON text. Raises `lunagrad.json: <what> at position N (line L, column C)`.
function json.decode(str)
  if type(str) ~= 'string' then
    error('lunagrad.json: decode expects a string, got ' .. type(str), 2)
  end
  local ok, v = pcall(function()
    local value, p = parse_value(str, skip_ws(str, 1), 0)
    p = skip_ws(str, p)
    if p <= #str then fail(str, p, 'trailing garbage: ' .. describe_char(str, p)) end
    return value
  end)
  if not ok then
    if getmetatable(v) == DecodeError then error(v.msg, 2) end
    error(v, 0)
  end
  return v
end

---------------------------------------------------------------------------
-- Encoding
---------------------------------------------------------------------------

local escape_map = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                    ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function escape_char(c)
  return escape_map[c] or format('\\u%04x', byte(c))
end

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', escape_char) .. '"'
end

local function encode_number(v)
  if math_type(v) == 'integer' then return format('%d', v) end
  if v ~= v or v == math.huge or v == -math.huge then
    error('lunagrad.json: cannot encode ' .. tostring(v) .. ' (JSON has no NaN/Infinity)', 0)
  end
  local s = format('%.15g', v)
  if tonumber(s) ~= v then
    s = format('%.16g', v)
    if tonumber(s) ~= v then s = format('%.17g', v) end
  end
  -- Keep floats floats on the way back ("1" would decode as an integer).
  if not find(s, '[.eEn]') then s = s .. '.0' end
  return s
end

local function keys_sorted(t)
  local keys, n = {}, 0
  for k in pairs(t) do
    n = n + 1; keys[n] = k
  end
  return keys, n
end

local encode_value

local function encode_table(t, out, seen, path)
  if seen[t] then error('lunagrad.json: cannot encode a cycle (at ' .. path .. ')', 0) end
  seen[t] = true
  local keys, n = keys_sorted(t)
  -- An array: keys exactly 1..n (n > 0), or an explicitly marked table.
  local is_array = n > 0 or getmetatable(t) == array_mt
  for i = 1, n do
    local k = keys[i]
    -- n distinct integer keys all within 1..n are exactly 1..n.
    if math_type(k) ~= 'integer' or k < 1 or k > n then is_array = false break end
  end
  if is_array then
    out[#out + 1] = '['
    for i = 1, n do
      if i > 1 then out[#out + 1] = ',' end
      encode_value(t[i], out, seen, path .. '[' .. i .. ']')
    end
    out[#out + 1] = ']'
  else
    for i = 1, n do
      if type(keys[i]) ~= 'string' then
        error(format('lunagrad.json: cannot encode a table with a %s key (%s) at %s' ..
          ' (object keys must be strings; arrays must be sequences 1..n)',
          type(keys[i]), tostring(keys[i]), path), 0)
      end
    end
    table.sort(keys)
    out[#out + 1] = '{'
    for i = 1, n do
      local k = keys[i]
      if i > 1 then out[#out + 1] = ',' end
      out[#out + 1] = encode_string(k)
      out[#out + 1] = ':'
      encode_value(t[k], out, seen, path .. '.' .. k)
    end
    out[#out + 1] = '}'
  end
  seen[t] = nil
end

function encode_value(v, out, seen, path)
  local tv = type(v)
  if v == json.null or v == nil then out[#out + 1] = 'null'
  elseif tv == 'boolean' then out[#out + 1] = v and 'true' or 'false'
  elseif tv == 'number' then
    local ok, s = pcall(encode_number, v)
    if not ok then error(s .. ' at ' .. path, 0) end
    out[#out + 1] = s
  elseif tv == 'string' then out[#out + 1] = encode_string(v)
  elseif tv == 'table' then encode_table(v, out, seen, path)
  else
    error('lunagrad.json: cannot encode a ' .. tv .. ' at ' .. path, 0)
  end
end

--- Serialises a Lua value (nil/json.null, booleans, numbers, strings, tables) to JSON.
function json.encode(value)
  local out = {}
  local ok, err = pcall(encode_value, value, out, {}, '$')
  if not ok then error(err, 2) end
  return concat(out)
end

return json
