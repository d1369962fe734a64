-- lg.save / lg.load in the safetensors format (the C side: src/io/safetensors.c).
--   lg.save(path, {name = Tensor, ...} [, {key = 'value', ...}])
--   local tensors, metadata = lg.load(path)
-- Tensors are written contiguously (views are copied) with their dtype
-- (F32, F64, I64); saving is atomic, so a failed save leaves an old file intact.
local core = require 'lunagrad.core'

local io_api = {}

--- Writes tensors (a table name -> Tensor) and optional string metadata to path.
-- Metadata values may be strings or numbers (converted with tostring).
function io_api.save(path, tensors, metadata)
  if type(path) ~= 'string' then
    error('lunagrad.save: bad argument #1 (path string expected, got ' .. type(path) .. ')', 2)
  end
  if type(tensors) ~= 'table' then
    error('lunagrad.save: bad argument #2 (table of name = Tensor expected, got ' .. type(tensors) .. ')', 2)
  end
  for name, t in pairs(tensors) do
    if type(name) ~= 'string' then
      error('lunagrad.save: tensor names must be strings, got ' .. type(name) .. ' key ' .. tostring(name), 2)
    end
    if not core.is_tensor(t) then
      error("lunagrad.save: value of '" .. name .. "' is not a Tensor (got " .. type(t) .. ')', 2)
    end
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
      if type(v) == 'number' then v = tostring(v) end
      if type(v) ~= 'string' then
        error("lunagrad.save: metadata value of '" .. k .. "' must be a string or number, got " .. type(v), 2)
      end
      meta[k] = v
    end
  end
  local ok, err = pcall(core.save_safetensors, path, tensors, meta)
  if not ok then error(err, 2) end
end

--- Reads a safetensors file: returns a table name -> Tensor and a table of metadata strings.
function io_api.load(path)
  if type(path) ~= 'string' then
    error('lunagrad.load: bad argument #1 (path string expected, got ' .. type(path) .. ')', 2)
  end
  local ok, tensors, metadata = pcall(core.load_safetensors, path)
  if not ok then error(tensors, 2) end
  return tensors, metadata
end

return io_api
