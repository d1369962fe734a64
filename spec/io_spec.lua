-- lg.save / lg.load (safetensors): bit-exact round trips, interop with the
-- independent Python writer/reader in spec/fixtures/make_safetensors.py,
-- clean errors on malformed files, and atomic saves.
local lg = require 'lunagrad'

local FIXTURES = 'spec/fixtures/safetensors/'
local PYTHON = '/usr/bin/python3'

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

local files = require 'helpers.files'
local read_bytes, write_bytes = files.must_read, files.write

local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end

local file_exists = files.exists

-- A fresh directory per spec run, removed at the end.
local dir
setup(function()
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
end)
teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

local function tmp(name) return dir .. '/' .. name end

-- Files in dir (to check that no temp file is left behind).
local function listing(d)
  local p = assert(io.popen("ls -A '" .. (d or dir) .. "'"))
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return names
end

local function no_temp_files(d)
  for _, name in ipairs(listing(d)) do
    assert.is_nil(name:find('.tmp.', 1, true), 'temp file left behind: ' .. name)
  end
end

-- Little-endian packing of a flat list of values as stored by dtype.
local FMT = {float32 = '<f', float64 = '<d', int64 = '<i8'}
local function packed(dtype, values)
  local parts = {}
  for i, v in ipairs(values) do
    if dtype == 'int64' then v = math.tointeger(v) end
    parts[i] = string.pack(FMT[dtype], v)
  end
  return table.concat(parts)
end

local function flatten(t, out)
  out = out or {}
  if type(t) ~= 'table' then
    out[#out + 1] = t
    return out
  end
  for _, v in ipairs(t) do flatten(v, out) end
  return out
end

-- The tensor's elements, row-major, packed as its dtype: equal strings mean
-- bit-equal values (-0.0 and NaN included) as far as Lua numbers carry them.
local function bits(t) return packed(t.dtype, flatten(t:totable())) end

-- A safetensors file image from a header string and raw data.
local function st_file(header, data, length)
  return string.pack('<I8', length or #header) .. header .. (data or '')
end

-- pcall(lg.load) on bytes written to a file, and on the in-memory parser.
local function load_error(bytes)
  local path = tmp('bad.safetensors')
  write_bytes(path, bytes)
  local ok, err = pcall(lg.load, path)
  assert.is_false(ok, 'expected lg.load to fail')
  local ok2, err2 = pcall(lg.parse_safetensors, bytes)
  assert.is_false(ok2, 'expected parse_safetensors to fail')
  return err, err2
end

local function assert_load_error(bytes, fragment)
  local err, err2 = load_error(bytes)
  assert.is_string(err)
  assert.is_truthy(err:find('lunagrad.load: ', 1, true), err)
  assert.is_truthy(err:find(fragment, 1, true), 'expected "' .. fragment .. '" in: ' .. err)
  assert.is_truthy(err2:find('lunagrad.parse_safetensors: ', 1, true), err2)
  assert.is_truthy(err2:find(fragment, 1, true), 'expected "' .. fragment .. '" in: ' .. err2)
end

---------------------------------------------------------------------------
-- round trips
---------------------------------------------------------------------------

describe('lg.save / lg.load round trip', function()
  it('keeps float32, float64 and int64 values bit-exactly', function()
    local f32 = {0.1, -0.0, 1e-40, math.huge, -math.huge, 3.4e38, 0 / 0, -1 / 3}
    local f64 = {0.1, -0.0, 5e-324, math.huge, 1 / 3, -1e300, 0 / 0, 2 ^ 60}
    local i64 = {0, -1, 2 ^ 53, -2 ^ 53, 123456789, -7, 1, 2}
    local src = {
      f = lg.tensor(f32):view(2, 4),
      d = lg.tensor(f64, {dtype = 'float64'}),
      i = lg.tensor(i64, {dtype = 'int64'}):view(4, 2),
    }
    local path = tmp('rt.safetensors')
    lg.save(path, src)
    local got = lg.load(path)
    assert.are.same({'d', 'f', 'i'}, (function()
      local k = {}
      for name in pairs(got) do k[#k + 1] = name end
      table.sort(k)
      return k
    end)())
    for name, t in pairs(src) do
      assert.are.equal(t.dtype, got[name].dtype)
      assert.are.same(t:shape(), got[name]:shape())
      assert.are.equal(hex(bits(t)), hex(bits(got[name])))
    end
    assert.are.equal(hex(packed('float32', f32)), hex(bits(got.f)))
    assert.are.equal(hex(packed('int64', i64)), hex(bits(got.i)))
    -- and the raw bytes survive a second save unchanged (NaN payloads included)
    local again = tmp('rt2.safetensors')
    lg.save(again, got)
    assert.are.equal(hex(read_bytes(path)), hex(read_bytes(again)))
  end)

  it('keeps 0-d and empty tensors with their shapes', function()
    local path = tmp('shapes.safetensors')
    lg.save(path, {
      scalar = lg.tensor(3.25, {dtype = 'float64'}),
      empty = lg.zeros(0, 3),
      empty_mid = lg.zeros(2, 0, 5, {dtype = 'int64'}),
    })
    local t = lg.load(path)
    assert.are.same({}, t.scalar:shape())
    assert.are.equal('float64', t.scalar.dtype)
    assert.are.equal(3.25, t.scalar:item())
    assert.are.same({0, 3}, t.empty:shape())
    assert.are.equal(0, t.empty:numel())
    assert.are.same({2, 0, 5}, t.empty_mid:shape())
    assert.are.equal('int64', t.empty_mid.dtype)
  end)

  it('writes non-contiguous views (transpose, select, narrow) as their values', function()
    local x = lg.arange(0, 12):view(3, 4)
    local views = {tr = x:t(), row = x:select(1, 2), cols = x:narrow(2, 2, 2)}
    assert.is_false(views.tr:is_contiguous())
    assert.is_false(views.cols:is_contiguous())
    local path = tmp('views.safetensors')
    lg.save(path, views)
    local t = lg.load(path)
    assert.is_true(t.tr:is_contiguous())
    assert.are.same({4, 3}, t.tr:shape())
    assert.are.same({{0, 4, 8}, {1, 5, 9}, {2, 6, 10}, {3, 7, 11}}, t.tr:totable())
    assert.are.same({4, 5, 6, 7}, t.row:totable())
    assert.are.same({{1, 2}, {5, 6}, {9, 10}}, t.cols:totable())
  end)

  it('saves tensors that require grad; loaded tensors are plain leaves', function()
    local w = lg.tensor({1, 2}, {requires_grad = true})
    local path = tmp('grad.safetensors')
    lg.save(path, {w = w, y = w * 3})
    local t = lg.load(path)
    assert.is_false(t.w.requires_grad)
    assert.is_nil(t.y.grad_fn)
    assert.are.same({3, 6}, t.y:totable())
  end)

  it('round-trips metadata (numbers become strings) and odd names', function()
    local path = tmp('meta.safetensors')
    local names = {'a b', 'quote"d', 'slash/dot.weight', 'ünï ✓', 'back\\slash', 'tab\tnew\nline'}
    local tensors = {}
    for i, n in ipairs(names) do tensors[n] = lg.tensor({i}) end
    lg.save(path, tensors, {epoch = 42, lr = 0.5, text = 'ünï ✓ "q" \\ \t\1', empty = ''})
    local t, meta = lg.load(path)
    assert.are.same({epoch = '42', lr = '0.5', text = 'ünï ✓ "q" \\ \t\1', empty = ''}, meta)
    for i, n in ipairs(names) do assert.are.same({i}, t[n]:totable()) end
  end)

  it('returns an empty metadata table when there is none, and saves an empty table', function()
    local path = tmp('nothing.safetensors')
    lg.save(path, {})
    local t, meta = lg.load(path)
    assert.are.same({}, t)
    assert.are.same({}, meta)
    -- 8-byte length, "{}" padded with spaces to 8 bytes, no data
    assert.are.equal(string.pack('<I8', 8) .. '{}      ', read_bytes(path))
  end)
end)

---------------------------------------------------------------------------
-- interop with the independent Python writer / reader
---------------------------------------------------------------------------

local function f32(v) return (string.unpack('<f', string.pack('<f', v))) end

-- What io_spec saves and make_safetensors.py's lunagrad_expected() mirrors.
local function expected_set()
  local a = lg.tensor({{1, -2.5, 0.1}, {1e-3, 65504, -0.0}})
  return {
    a = a,
    t = a:t(),
    b = lg.tensor({0.1, 1 / 3, -1e300}, {dtype = 'float64'}),
    c = lg.tensor({{1, -2}, {3, 2 ^ 40}}, {dtype = 'int64'}),
    s = lg.tensor(2.5),
    e = lg.zeros(3, 0, {dtype = 'float64'}),
  }, {epoch = 7, lr = '0.001', note = 'line\nbreak "q" ✓'}
end

describe('safetensors interop', function()
  it('loads a file written by make_safetensors.py with the right values', function()
    local t, meta = lg.load(FIXTURES .. 'python_written.safetensors')
    assert.are.same({format = 'pt', note = 'written by make_safetensors.py',
                     ['ünï'] = '✓ "quoted" \\ tab\t'}, meta)
    assert.are.equal('float32', t.weight.dtype)
    assert.are.same({2, 3}, t.weight:shape())
    assert.are.same({{1.5, f32(-0.1), f32(3.4028234663852886e38)}, {f32(1e-45), -0.0, math.huge}},
                    t.weight:totable())
    assert.are.equal(hex(packed('float32', {-0.0})), hex(bits(t.weight:select(1, 2):select(1, 2))))
    local nan = t.nan_f32:totable()
    assert.is_true(nan[1] ~= nan[1] and nan[2] ~= nan[2])
    assert.are.equal('float64', t.bias.dtype)
    assert.are.same({0.1, -2.5, 1e308}, t.bias:totable())
    assert.are.equal('int64', t.steps.dtype)
    assert.are.same({{0, -1}, {2 ^ 53, -2 ^ 40 + 3}}, t.steps:totable())
    assert.are.same({2}, t.big_i64:shape())
    assert.are.same({}, t.scalar:shape())
    assert.are.equal(42.25, t.scalar:item())
    assert.are.same({0, 4}, t.empty:shape())
    assert.are.same({7}, t['ünïcode/näme']:totable())
  end)

  it('re-saves the Python file byte for byte (NaN payloads, int64 extremes, layout)', function()
    local original = FIXTURES .. 'python_written.safetensors'
    local t, meta = lg.load(original)
    local path = tmp('resaved.safetensors')
    lg.save(path, t, meta)
    assert.are.equal(hex(read_bytes(original)), hex(read_bytes(path)))
  end)

  it('writes the same bytes as the independent Python writer', function()
    local tensors, meta = expected_set()
    local path = tmp('expected.safetensors')
    lg.save(path, tensors, meta)
    assert.are.equal(hex(read_bytes(FIXTURES .. 'lunagrad_expected.safetensors')), hex(read_bytes(path)))
  end)

  it('writes files the Python reader accepts with the same values', function()
    local tensors, meta = expected_set()
    local path = tmp('for_python.safetensors')
    lg.save(path, tensors, meta)
    if not file_exists(PYTHON) then -- no Python here: the committed bytes stand in for it
      assert.are.equal(read_bytes(FIXTURES .. 'lunagrad_expected.safetensors'), read_bytes(path))
      return
    end
    -- (no sanitizer preload in the child when the suite runs under make sanitize)
    local p = assert(io.popen('LD_PRELOAD= ASAN_OPTIONS= LSAN_OPTIONS= ' .. PYTHON ..
                              " spec/fixtures/make_safetensors.py dump '" .. path .. "' 2>&1"))
    local out = p:read('a')
    local ok = p:close()
    assert.is_true(ok, out)
    local a = {1, -2.5, 0.1, 1e-3, 65504, -0.0}
    local want = table.concat({
      'tensor\ta\tF32\t2,3\t' .. hex(packed('float32', a)),
      'tensor\tb\tF64\t3\t' .. hex(packed('float64', {0.1, 1 / 3, -1e300})),
      'tensor\tc\tI64\t2,2\t' .. hex(packed('int64', {1, -2, 3, 2 ^ 40})),
      'tensor\te\tF64\t3,0\t',
      'tensor\ts\tF32\t\t' .. hex(packed('float32', {2.5})),
      'tensor\tt\tF32\t3,2\t' .. hex(packed('float32', {a[1], a[4], a[2], a[5], a[3], a[6]})),
      'meta\tepoch\t7',
      'meta\tlr\t0.001',
      'meta\tnote\tline\nbreak "q" ✓',
    }, '\n') .. '\n'
    assert.are.equal(want, out)
  end)
end)

---------------------------------------------------------------------------
-- malformed files
---------------------------------------------------------------------------

local GOOD_HEADER = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
local GOOD_DATA = string.pack('<ff', 1, 2)

local function one(info, data) return st_file('{"a":' .. info .. '}', data) end

describe('lg.load rejects malformed files cleanly', function()
  it('accepts the well-formed base case the others corrupt', function()
    local t = lg.parse_safetensors(st_file(GOOD_HEADER, GOOD_DATA))
    assert.are.same({1, 2}, t.a:totable())
  end)

  it('rejects files shorter than the 8-byte length', function()
    assert_load_error('', 'file is 0 bytes, too short')
    assert_load_error('abcde', 'file is 5 bytes, too short')
  end)

  it('rejects truncated files', function()
    local good = st_file(GOOD_HEADER, GOOD_DATA)
    assert_load_error(good:sub(1, 20), 'is larger than the 12 bytes after it')
    assert_load_error(good:sub(1, #good - 3), 'lie outside the data section of 5 bytes')
  end)

  it('rejects header lengths of 0, past the end of the file, or over 100 MB', function()
    assert_load_error(st_file('', GOOD_DATA, 0), 'header length is 0')
    assert_load_error(st_file(GOOD_HEADER, GOOD_DATA, #GOOD_HEADER + 9), 'is larger than the')
    assert_load_error(st_file(GOOD_HEADER, GOOD_DATA, 1 << 40), 'exceeds the limit of 100000000 bytes')
    assert_load_error(string.pack('<i8', -1) .. GOOD_HEADER, 'exceeds the limit')
  end)

  it('rejects invalid JSON', function()
    local cases = {
      {'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},}', 'expected a tensor name'},
      {'{"a" {}}', "expected ':' after a tensor name"},
      {'{"a', 'unterminated string'},
      {"{'a':{}}", 'expected a tensor name'},
      {'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}', "expected ',' or '}' after a tensor"},
      {GOOD_HEADER .. ' x', 'unexpected data after the header object'},
      {GOOD_HEADER .. '{}', 'unexpected data after the header object'},
      {'{"a\\q":{}}', 'invalid escape'},
      {'{"\\ud800":{}}', 'unpaired UTF-16 surrogate'},
      {'{"\\udc00x":{}}', 'unpaired UTF-16 surrogate'},
      {'{"\\u12":{}}', 'invalid escape'},
      {'{"a\\u0000":{}}', '\\u0000 in a string is not supported'},
      {'{"a\tb":{}}', 'control character in a string'},
      {'{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}', 'leading zero'},
      {'{"a":{"dtype":"F32","shape":[-],"data_offsets":[0,4]}}', "expected digits after '-'"},
      {'{"a":{"dtype":"F32","shape":[2 3],"data_offsets":[0,4]}}', "expected ',' or ']' in an array"},
      {'{"a":{"dtype":"F32" "shape":[2]}}', "expected ',' or '}' in a tensor description"},
      {'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],}}', 'expected a field name'},
      {'{"a":{"dtype":"F32","shape":[2,],"data_offsets":[0,8]}}', 'shape must contain integers only'},
      {'{"__metadata__":{"k":"v",}}', 'expected a metadata key'},
      {'{"__metadata__":{"k" "v"}}', "expected ':' after a metadata key"},
      {'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} \0', 'unexpected data after the header object'},
    }
    for _, c in ipairs(cases) do
      local err = load_error(st_file(c[1], GOOD_DATA))
      assert.is_truthy(err:find('lunagrad.load: ', 1, true), err)
      assert.is_truthy(err:find(c[2], 1, true), 'expected "' .. c[2] .. '" in: ' .. err)
    end
    assert_load_error(st_file('{"a', GOOD_DATA), 'invalid JSON in header at byte')
  end)

  it('rejects headers that are not a JSON object, and non-UTF-8 garbage', function()
    assert_load_error(st_file('[1,2]', ''), 'header is not a JSON object')
    assert_load_error(st_file('"abc"', ''), 'header is not a JSON object')
    assert_load_error(st_file('        ', ''), 'header is not a JSON object')
    assert_load_error(st_file('\xff\xfe\x00\x01garbage\x80\xc3', ''), 'header is not a JSON object')
    assert_load_error(st_file('{"\xff\xfe":{}}', ''), 'string is not valid UTF-8')
    assert_load_error(st_file('{"\xc0\xaf":{}}', ''), 'string is not valid UTF-8') -- overlong '/'
    assert_load_error(st_file('{"\xed\xa0\x80":{}}', ''), 'string is not valid UTF-8') -- surrogate
    assert_load_error(st_file('{"\xe2\x9c":{}}', ''), 'string is not valid UTF-8') -- cut short
    assert_load_error(one('1', GOOD_DATA), "tensor 'a': expected an object")
  end)

  it('rejects unsupported dtypes by name', function()
    assert_load_error(one('{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}', '1234'),
                      'unsupported dtype BF16')
    assert_load_error(one('{"dtype":"F16","shape":[2],"data_offsets":[0,4]}', '1234'),
                      'unsupported dtype F16')
    assert_load_error(one('{"dtype":"float32","shape":[2],"data_offsets":[0,8]}', GOOD_DATA),
                      'unsupported dtype float32')
    assert_load_error(one('{"dtype":4,"shape":[2],"data_offsets":[0,8]}', GOOD_DATA), 'dtype must be a string')
  end)

  it('rejects bad shapes: negative, non-integer, overflowing, too many dims', function()
    local function shape(s, data_offsets)
      return one('{"dtype":"F32","shape":' .. s .. ',"data_offsets":' .. (data_offsets or '[0,8]') .. '}',
                 GOOD_DATA)
    end
    assert_load_error(shape('[-2]'), "tensor 'a': shape contains a negative number")
    assert_load_error(shape('[2.0]'), 'shape must contain integers only')
    assert_load_error(shape('[2e0]'), 'shape must contain integers only')
    assert_load_error(shape('["2"]'), 'shape must contain integers only')
    assert_load_error(shape('2'), 'shape must be an array of integers')
    assert_load_error(shape('[99999999999999999999]'), 'too large for int64')
    assert_load_error(shape('[9223372036854775808]'), 'too large for int64')
    assert_load_error(shape('[1048576,1048576,1048576,1048576]'), 'shape is too large')
    assert_load_error(shape('[0,1048576,1048576,1048576,1048576]', '[0,0]'), 'shape is too large')
    assert_load_error(shape('[1,1,1,1,1,1,1,1,2]'), 'shape has more than 8 entries')
  end)

  it('rejects data_offsets outside the file or not matching the shape', function()
    local function offsets(o, data, sh)
      return one('{"dtype":"F32","shape":' .. (sh or '[2]') .. ',"data_offsets":' .. o .. '}', data or GOOD_DATA)
    end
    assert_load_error(offsets('[0,1000]'), 'data_offsets [0, 1000] lie outside the data section of 8 bytes')
    assert_load_error(offsets('[8,0]'), 'lie outside')
    assert_load_error(offsets('[0,18446744073709551615]'), 'too large for int64')
    assert_load_error(offsets('[0]'), 'data_offsets must be [begin, end], got 1 numbers')
    assert_load_error(offsets('[0,4,8]'), 'data_offsets has more than 2 entries')
    assert_load_error(offsets('[0,20]', string.rep('x', 20), '[2,3]'),
                      'dtype F32 and shape [2,3] need 24 bytes but data_offsets [0, 20] span 20')
    assert_load_error(offsets('[0,4]'), 'need 8 bytes')
  end)

  it('rejects overlapping, gapped or incomplete data sections', function()
    local function two(a, b, data)
      return st_file('{"a":{"dtype":"F32","shape":[2],"data_offsets":' .. a ..
                     '},"b":{"dtype":"F32","shape":[2],"data_offsets":' .. b .. '}}', data)
    end
    local d = string.rep('\0', 16)
    assert.are.equal(2, #(function()
      local t, n = lg.parse_safetensors(two('[8,16]', '[0,8]', d)), {}
      for k in pairs(t) do n[#n + 1] = k end
      return n
    end)())
    assert_load_error(two('[0,8]', '[4,12]', d:sub(1, 12)), 'overlap or leave gaps')
    assert_load_error(two('[0,8]', '[0,8]', d:sub(1, 8)), 'overlap or leave gaps')
    assert_load_error(two('[0,8]', '[12,20]', d .. '1234'), 'overlap or leave gaps')
    assert_load_error(st_file(GOOD_HEADER, GOOD_DATA .. 'tail'), 'data section has 12 bytes but the tensors cover only 8')
    assert_load_error(st_file('{}', 'x'), 'cover only 0')
  end)

  it('rejects duplicates, unknown or missing fields, and bad metadata', function()
    local t = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    assert_load_error(st_file('{"a":' .. t .. ',"a":' .. t .. '}', '12345678'), "duplicate tensor name 'a'")
    assert_load_error(one('{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}', GOOD_DATA),
                      'duplicate field dtype')
    assert_load_error(one('{"dtype":"F32","shape":[2],"data_offsets":[0,8],"foo":1}', GOOD_DATA),
                      "tensor 'a': unexpected field 'foo'")
    assert_load_error(one('{"dtype":"F32","shape":[2]}', GOOD_DATA), "tensor 'a': missing data_offsets")
    assert_load_error(one('{}', GOOD_DATA), "tensor 'a': missing dtype")
    assert_load_error(st_file('{"__metadata__":{"k":1}}', ''), "__metadata__ value of 'k' must be a string")
    assert_load_error(st_file('{"__metadata__":[]}', ''), '__metadata__ must be an object of strings')
    assert_load_error(st_file('{"__metadata__":{"k":"1","k":"2"}}', ''), "duplicate __metadata__ key 'k'")
    assert_load_error(st_file('{"__metadata__":{},"__metadata__":{}}', ''), 'duplicate __metadata__')
  end)

  it('rejects paths that are missing or not regular files', function()
    local ok, err = pcall(lg.load, tmp('does-not-exist.safetensors'))
    assert.is_false(ok)
    assert.is_truthy(err:find("lunagrad.load: cannot open '" .. tmp('does-not-exist.safetensors') ..
                              "': No such file or directory", 1, true), err)
    ok, err = pcall(lg.load, dir)
    assert.is_false(ok)
    assert.is_truthy(err:find('lunagrad.load: .*not a regular file'), err)
    ok, err = pcall(lg.load, 42)
    assert.is_false(ok)
    assert.is_truthy(err:find('lunagrad.load: bad argument #1 (path string expected, got number)', 1, true), err)
  end)

  it('survives random corruption of a valid file (load or a clean error, never a crash)', function()
    local tensors, meta = expected_set()
    local path = tmp('fuzz_base.safetensors')
    lg.save(path, tensors, meta)
    local base = read_bytes(path)
    math.randomseed(20240611)
    local loaded, rejected = 0, 0
    for _ = 1, 3000 do
      local s = base
      for _ = 1, math.random(1, 4) do
        local kind, at = math.random(1, 4), math.random(1, #s)
        if kind == 1 then -- overwrite a byte
          s = s:sub(1, at - 1) .. string.char(math.random(0, 255)) .. s:sub(at + 1)
        elseif kind == 2 then -- truncate
          s = s:sub(1, at - 1)
        elseif kind == 3 then -- overwrite with a JSON-significant character
          local c = ('{}[]",:0123456789-\\ '):sub(math.random(1, 20)):sub(1, 1)
          s = s:sub(1, at - 1) .. c .. s:sub(at + 1)
        else -- delete a byte
          s = s:sub(1, at - 1) .. s:sub(at + 1)
        end
        if #s == 0 then break end
      end
      local ok, err = pcall(lg.parse_safetensors, s)
      if ok then
        loaded = loaded + 1
      else
        rejected = rejected + 1
        assert.is_truthy(err:find('^lunagrad%.parse_safetensors: '), err)
      end
    end
    assert.are.equal(3000, loaded + rejected)
    assert.is_true(rejected > 2000)
  end)
end)

---------------------------------------------------------------------------
-- saving: argument errors and atomic replacement
---------------------------------------------------------------------------

describe('lg.save', function()
  local function save_error(...)
    local ok, err = pcall(lg.save, ...)
    assert.is_false(ok)
    return err
  end

  it('rejects keys and values a checkpoint cannot hold with lunagrad.save errors', function()
    local path = tmp('args.safetensors')
    assert.is_truthy(save_error(path, {[{}] = lg.zeros(1)}):find('lunagrad.save: a key of the top level is a table', 1, true))
    assert.is_truthy(save_error(path, {w = print}):find("lunagrad.save: the value at 'w' is a function", 1, true))
    assert.is_truthy(save_error(path, 'w'):find('lunagrad.save: bad argument #2', 1, true))
    assert.is_truthy(save_error(nil, {}):find('lunagrad.save: bad argument #1', 1, true))
    assert.is_truthy(save_error(path, {}, {k = {}}):find("lunagrad.save: metadata value of 'k' must be a string or number, got table", 1, true))
    assert.is_truthy(save_error(path, {}, {[1] = 'v'}):find('lunagrad.save: metadata keys must be strings', 1, true))
    assert.is_truthy(save_error(path, {}, 'meta'):find('lunagrad.save: bad argument #3', 1, true))
    assert.is_truthy(save_error(path, {__metadata__ = lg.zeros(1)}):find("lunagrad.save: tensor name '__metadata__' is reserved", 1, true))
    assert.is_truthy(save_error(path, {['a\0b'] = lg.zeros(1)}):find('lunagrad.save: tensor name contains a NUL byte', 1, true))
    local r = lg.zeros(1)
    r:release()
    assert.is_truthy(save_error(path, {r = r}):find("lunagrad.save: tensor 'r' was already released", 1, true))
    assert.is_false(file_exists(path))
    no_temp_files()
  end)

  it('leaves the old file intact when a save fails', function()
    local path = tmp('model.safetensors')
    lg.save(path, {w = lg.tensor({1, 2, 3})}, {v = '1'})
    local before = read_bytes(path)
    -- a value a checkpoint cannot hold in the middle of the table
    local bad = {a = lg.zeros(2), b = lg.zeros(3), c = print, d = lg.zeros(4), e = lg.zeros(5)}
    assert.is_truthy(save_error(path, bad):find("the value at 'c' is a function", 1, true))
    assert.are.equal(before, read_bytes(path))
    -- rejected by the C writer (name not valid UTF-8)
    assert.is_truthy(save_error(path, {a = lg.zeros(2), ['\xff'] = lg.zeros(1)})
                     :find("lunagrad.save: tensor name '\xff' is not valid UTF-8", 1, true))
    assert.is_truthy(save_error(path, {a = lg.zeros(2)}, {k = 'ok\xc0'})
                     :find("lunagrad.save: metadata value of 'k' is NULL or not valid UTF-8", 1, true))
    assert.are.equal(before, read_bytes(path))
    assert.are.same({3}, lg.load(path).w:shape())
    no_temp_files()
    -- a successful save replaces it, keeping the old file's permissions
    assert(os.execute("chmod 600 '" .. path .. "'"))
    lg.save(path, {w = lg.tensor({9})})
    assert.are.same({9}, lg.load(path).w:totable())
    local p = assert(io.popen("stat -c %a '" .. path .. "'"))
    assert.are.equal('600', p:read('l'))
    p:close()
    no_temp_files()
  end)

  it('fails cleanly on an unwritable directory and when the target cannot be replaced', function()
    local err = save_error(tmp('no/such/dir/x.safetensors'), {w = lg.zeros(1)})
    assert.is_truthy(err:find("lunagrad.save: cannot create '" .. tmp('no/such/dir/x.safetensors.tmp.'), 1, true), err)
    -- the target is a directory: the temp file is written, the rename fails, the temp file goes
    local target = tmp('occupied.safetensors')
    assert(os.execute("mkdir '" .. target .. "' && echo keep > '" .. target .. "/inside'"))
    err = save_error(target, {w = lg.zeros(1000)})
    assert.is_truthy(err:find("lunagrad.save: cannot replace '" .. target .. "'", 1, true), err)
    assert.are.same({'inside'}, listing(target))
    assert.are.equal('keep\n', read_bytes(target .. '/inside'))
    no_temp_files()
  end)
end)
