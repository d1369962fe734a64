-- lg.save / lg.load in the safetensors format (the C side: src/io/safetensors.c).
--   lg.save(path, {name = Tensor, ...} [, {key = 'value', ...}])
--   local tensors, metadata = lg.load(path)
-- Tensors are written contiguously (views are copied) with their dtype
-- (F32, F64, I64); saving is atomic, so a failed save leaves an old file intact.
--
-- Checkpoints: lg.save(path, value) also takes nested tables whose leaves are tensors,
-- numbers, strings and booleans (a model's and an optimiser's state_dict, a step count,
-- lg.get_rng_state()), and lg.load returns the same structure:
--   lg.save('ckpt.safetensors', {model = net:state_dict(), optim = opt:state_dict(), step = 50})
--   local ckpt = lg.load('ckpt.safetensors') ; net:load_state_dict(ckpt.model)
-- Each tensor is an entry named by its path joined with '.' ("model.fc1.weight",
-- "optim.state.3.exp_avg"), so PyTorch's safetensors.torch.load_file reads them; the
-- rest of the structure is JSON in __metadata__ under the key "lunagrad.checkpoint"
-- (tables as {"dict": {...}}, {"list": [...]} or {"pairs": [[key, value], ...]},
-- tensors as {"tensor": name}, non-finite floats as {"float": "inf"|"-inf"|"nan"}).
-- A flat table of tensors is written as before, without that key.
local core = require 'lunagrad.core'
local json = require 'lunagrad.json'

local io_api = {}

local CHECKPOINT_KEY = 'lunagrad.checkpoint'
local LEAVES = '(leaves must be tensors, numbers, strings or booleans)'

local function path_str(path) return path == '' and 'the top level' or "'" .. path .. "'" end

-- A table key as it appears in an entry name and in the JSON.
local function encode_key(k, path)
  local tk = type(k)
  if tk == 'string' or tk == 'boolean' then return k end
  if tk == 'number' then
    if math.type(k) == 'integer' then return k end
    if k ~= k or k == math.huge or k == -math.huge then return { float = tostring(k) } end
    return k
  end
  error(string.format('lunagrad.save: a key of %s is a %s (keys must be strings, numbers or booleans)',
    path_str(path), tk), 0)
end

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == 'boolean' then return (not a) and b end
  return a < b
end

-- The JSON form of v; tensors go into `tensors` under their path's name.
local function flatten(v, path, ctx)
  if core.is_tensor(v) then
    local name = ctx.names[v]
    if name == nil then
      name = path
      if ctx.tensors[name] ~= nil then
        error(string.format("lunagrad.save: two tensors flatten to the entry name '%s'", name), 0)
      end
      ctx.tensors[name] = v
      ctx.names[v] = name
    end
    return { tensor = name }
  end
  local tv = type(v)
  if tv == 'string' or tv == 'boolean' then return v end
  if tv == 'number' then
    if math.type(v) == 'float' and (v ~= v or v == math.huge or v == -math.huge) then
      return { float = v ~= v and 'nan' or v > 0 and 'inf' or '-inf' }
    end
    return v
  end
  if tv ~= 'table' then
    error(string.format('lunagrad.save: the value at %s is a %s %s', path_str(path), tv, LEAVES), 0)
  end
  if getmetatable(v) ~= nil and getmetatable(v) ~= getmetatable(json.array()) then
    error(string.format('lunagrad.save: the value at %s is a table with a metatable (an object, not plain data) %s',
      path_str(path), LEAVES), 0)
  end
  if ctx.open[v] then error(string.format('lunagrad.save: the table at %s contains itself', path_str(path)), 0) end
  ctx.open[v] = true
  local keys, n, all_strings = {}, 0, true
  for k in pairs(v) do
    n = n + 1
    keys[n] = k
    if type(k) ~= 'string' then all_strings = false end
  end
  local is_list = true
  for _, k in ipairs(keys) do
    if math.type(k) ~= 'integer' or k < 1 or k > n then is_list = false break end
  end
  local function child(k) return path == '' and tostring(k) or path .. '.' .. tostring(k) end
  local out
  if is_list then
    local items = json.array()
    for i = 1, n do items[i] = flatten(v[i], child(i), ctx) end
    out = { list = items }
  elseif all_strings then
    local d = {}
    for _, k in ipairs(keys) do d[k] = flatten(v[k], child(k), ctx) end
    out = { dict = d }
  else
    table.sort(keys, key_less)
    local items = json.array()
    for i, k in ipairs(keys) do items[i] = { encode_key(k, path), flatten(v[k], child(k), ctx) } end
    out = { pairs = items }
  end
  ctx.open[v] = nil
  return out
end

local function is_flat_tensors(value)
  for k, t in pairs(value) do
    if type(k) ~= 'string' or not core.is_tensor(t) then return false end
  end
  return true
end

--- Writes tensors (a table name -> Tensor), or a nested checkpoint table, and optional
--- string metadata to path. Metadata values may be strings or numbers (converted with tostring).
function io_api.save(path, tensors, metadata)
  if type(path) ~= 'string' then
    error('lunagrad.save: bad argument #1 (path string expected, got ' .. type(path) .. ')', 2)
  end
  if type(tensors) ~= 'table' or core.is_tensor(tensors) then
    error('lunagrad.save: bad argument #2 (a table of name = Tensor or a checkpoint table expected, got '
      .. (core.is_tensor(tensors) and 'a Tensor' or type(tensors)) .. ')', 2)
  end
  local meta
  if metadata ~= nil then
    if type(metadata) ~= 'table' then
      error('lunagrad.save: bad argument #3 (metadata table expected, got ' .. type(metadata) .. ')', 2)
    end
    meta = {}
    for k, v in pairs(metadata) do
      if type(k) ~= 'string' then
        error('lunagrad.save: metadata keys must be strings, got ' .. type(k) .. ' key ' .. tostring(k), 2)
      end
      if k == CHECKPOINT_KEY then error("lunagrad.save: the metadata key '" .. k .. "' is reserved", 2) end
      if type(v) == 'number' then v = tostring(v) end
      if type(v) ~= 'string' then
        error("lunagrad.save: metadata value of '" .. k .. "' must be a string or number, got " .. type(v), 2)
      end
      meta[k] = v
    end
  end
  local entries = tensors
  if not is_flat_tensors(tensors) then
    local ctx = { tensors = {}, names = {}, open = {} }
    local ok, structure = pcall(flatten, tensors, '', ctx)
    if not ok then error(structure, 2) end
    entries = ctx.tensors
    meta = meta or {}
    meta[CHECKPOINT_KEY] = json.encode({ version = 1, value = structure })
  end
  local ok, err = pcall(core.save_safetensors, path, entries, meta)
  if not ok then error(err, 2) end
end

local function decode_key(k)
  if type(k) == 'table' then return tonumber(k.float) or (k.float == 'nan' and 0 / 0) end
  return k
end

local function rebuild(node, tensors)
  local tn = type(node)
  if tn ~= 'table' then return node end
  if node.tensor ~= nil then
    local t = tensors[node.tensor]
    if t == nil then error("lunagrad.load: the checkpoint names a tensor '" .. tostring(node.tensor)
      .. "' that the file does not hold", 0) end
    return t
  end
  if node.float ~= nil then
    if node.float == 'inf' then return math.huge elseif node.float == '-inf' then return -math.huge end
    return 0 / 0
  end
  local out = {}
  if node.list ~= nil then
    for i, x in ipairs(node.list) do out[i] = rebuild(x, tensors) end
  elseif node.dict ~= nil then
    for k, x in pairs(node.dict) do out[k] = rebuild(x, tensors) end
  elseif node.pairs ~= nil then
    for _, kv in ipairs(node.pairs) do out[decode_key(kv[1])] = rebuild(kv[2], tensors) end
  else
    error('lunagrad.load: malformed checkpoint structure in the metadata', 0)
  end
  return out
end

--- Reads a safetensors file: returns a table name -> Tensor (or the nested table a
--- checkpoint was saved from) and a table of metadata strings.
function io_api.load(path)
  if type(path) ~= 'string' then
    error('lunagrad.load: bad argument #1 (path string expected, got ' .. type(path) .. ')', 2)
  end
  local ok, tensors, metadata = pcall(core.load_safetensors, path)
  if not ok then error(tensors, 2) end
  local structure = metadata and metadata[CHECKPOINT_KEY]
  if structure == nil then return tensors, metadata end
  metadata[CHECKPOINT_KEY] = nil
  local value
  ok, value = pcall(function()
    local doc = json.decode(structure)
    if type(doc) ~= 'table' or doc.version ~= 1 then error('lunagrad.load: unsupported checkpoint version', 0) end
    return rebuild(doc.value, tensors)
  end)
  if not ok then error(value, 2) end
  return value, metadata
end

return io_api
