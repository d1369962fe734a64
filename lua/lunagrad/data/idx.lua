-- IDX files (the MNIST format), plain or gzip, and image decoding; the C side
-- is src/io/idx.c and src/io/image.c.
--
--   local t, type = data.read_idx(path [, {dtype = 'float32'|'float64'|'int64'}])
--   data.write_idx(path, t [, {type = 'ubyte'|'sbyte'|'short'|'int'|'float'|'double', gzip = bool}])
--   local img = data.load_image(path)   -- H x W x 3 float32, values 0..255
--
-- read_idx returns the tensor and the file's element type name. Values are
-- the file's own (MNIST labels stay 0..9: no 1-based shift at this level).
-- Without a dtype, integer files give int64 when 1-d (labels) and float32
-- otherwise (images, values 0..255); float files give float32, double files
-- float64. Float files cannot be read as int64. Gzip is detected from the
-- file's first bytes, not its name. A file whose size does not match its
-- header exactly (truncated, or with trailing bytes) is an error.
--
-- write_idx picks the type from the dtype when none is given (float32 ->
-- float, float64 -> double, int64 -> int) and compresses when gzip is true or,
-- by default, when the path ends in '.gz'. Values that do not fit the type
-- (256 as ubyte, 1.5 as int) are an error, never rounded or wrapped. Writes
-- are atomic (a temporary file renamed over path).
local core = require 'lunagrad.core'
local util = require 'lunagrad.util'

local idx = {}

local DEFAULT_TYPE = { float32 = 'float', float64 = 'double', int64 = 'int' }

-- Unknown keys raise, naming the valid ones (util.options).
local function check_opts(fn, opts, allowed) return util.options('data.' .. fn, opts, allowed) end

--- Reads an IDX file (plain or gzip): returns the tensor and the element type name.
function idx.read_idx(path, opts)
  opts = check_opts('read_idx', opts, { dtype = true })
  return core.read_idx(path, opts.dtype)
end

--- Parses an IDX file image held in a Lua string (same checks as read_idx).
function idx.parse_idx(bytes, opts)
  opts = check_opts('parse_idx', opts, { dtype = true })
  if type(bytes) ~= 'string' then
    error('lunagrad.data.parse_idx: bad argument #1 (string expected, got ' .. type(bytes) .. ')', 2)
  end
  return core.parse_idx(bytes, opts.dtype)
end

--- Writes a tensor as an IDX file.
function idx.write_idx(path, t, opts)
  opts = check_opts('write_idx', opts, { type = true, gzip = true })
  if not core.is_tensor(t) then
    error('lunagrad.data.write_idx: bad argument #2 (Tensor expected, got ' .. type(t) .. ')', 2)
  end
  if opts.type ~= nil and type(opts.type) ~= 'string' then
    error('lunagrad.data.write_idx: option type must be a string, got ' .. type(opts.type), 2)
  end
  local gzip = opts.gzip
  if gzip == nil then gzip = type(path) == 'string' and path:sub(-3) == '.gz' end
  return core.write_idx(path, t, opts.type or DEFAULT_TYPE[t.dtype], gzip)
end

--- Decodes an image file (PNG, JPEG, BMP, PNM) into an H x W x 3 float32 tensor of 0..255.
-- Grey images are replicated to three channels; an alpha channel is dropped.
function idx.load_image(path) return core.load_image(path) end

--- The same from a file image held in a Lua string.
function idx.decode_image(bytes)
  if type(bytes) ~= 'string' then
    error('lunagrad.data.decode_image: bad argument #1 (string expected, got ' .. type(bytes) .. ')', 2)
  end
  return core.decode_image(bytes)
end

return idx
