-- lunagrad.json: strict decoding, deterministic encoding, exact number round-trips.
local json = require 'lunagrad.json'

local function decode_error(str)
  local ok, err = pcall(json.decode, str)
  assert.is_false(ok)
  return err
end

describe('json.decode', function()
  it('decodes scalars and literals', function()
    assert.are.equal(true, json.decode('true'))
    assert.are.equal(false, json.decode(' false '))
    assert.are.equal(json.null, json.decode('null'))
    assert.are.equal('abc', json.decode('"abc"'))
    assert.are.equal('', json.decode('""'))
  end)

  it('parses numbers as tonumber does: integers stay integers, floats floats', function()
    local v = json.decode('1')
    assert.are.equal('integer', math.type(v))
    assert.are.equal(1, v)
    v = json.decode('1.0')
    assert.are.equal('float', math.type(v))
    assert.are.equal(-12, json.decode('-12'))
    assert.are.equal(0.5, json.decode('5e-1'))
    assert.are.equal(1e300, json.decode('1E+300'))
    assert.are.equal(2.212486743927002, json.decode('2.212486743927002'))
    assert.are.equal(1e-5, json.decode('1e-05'))
  end)

  it('keeps the sign of -0.0', function()
    local z = json.decode('-0.0')
    assert.are.equal(0, z)
    assert.are.equal(-math.huge, 1 / z)
    local t = json.decode('[-0.0, 0.0]')
    assert.are.equal(-math.huge, 1 / t[1])
    assert.are.equal(math.huge, 1 / t[2])
  end)

  it('builds tables for objects and sequences for arrays', function()
    local t = json.decode(' {"a": [1, 2, {"b": null}], "c": {}, "d": []} ')
    assert.are.equal(3, #t.a)
    assert.are.equal(2, t.a[2])
    assert.are.equal(json.null, t.a[3].b)
    assert.are.same({}, t.c)
    assert.are.equal(0, #t.d)
    assert.are.equal(json.null, json.decode('[null]')[1])
  end)

  it('decodes string escapes, \\u and surrogate pairs into UTF-8', function()
    assert.are.equal('a"b\\c/d\b\f\n\r\t', json.decode('"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"'))
    assert.are.equal('\u{e9}', json.decode('"\\u00e9"'))
    assert.are.equal('A\u{20ac}', json.decode('"\\u0041\\u20AC"'))
    assert.are.equal('\u{1F600}', json.decode('"\\ud83d\\ude00"'))
    assert.are.equal('x\0y', json.decode('"x\\u0000y"'))
    -- raw UTF-8 passes through untouched
    assert.are.equal('h\u{e9}llo', json.decode('"h\u{e9}llo"'))
  end)

  it('reports malformed input with a position', function()
    assert.matches('^lunagrad%.json: .*position 13', decode_error('{"a": [1, 2,, 3]}'))
    assert.matches('lunagrad%.json: unterminated string', decode_error('"abc'))
    assert.matches('lunagrad%.json: .*trailing', decode_error('[1] 2'))
    assert.matches("expected ',' or '}'", decode_error('{"a": 1 "b": 2}'))
    assert.matches('string key', decode_error('{a: 1}'))
    assert.matches('leading zero', decode_error('012'))
    assert.matches('invalid number', decode_error('1.'))
    assert.matches('invalid number', decode_error('-'))
    assert.matches('exponent', decode_error('1e+'))
    assert.matches('surrogate', decode_error('"\\ud83d x"'))
    assert.matches('surrogate', decode_error('"\\ude00"'))
    assert.matches('invalid escape', decode_error('"\\x"'))
    assert.matches('\\u escape', decode_error('"\\u12g4"'))
    assert.matches('control character', decode_error('"a\nb"'))
    assert.matches('unexpected', decode_error('NaN'))
    assert.matches('unexpected', decode_error('tru'))
    assert.matches('end of input', decode_error(''))
    assert.matches('end of input', decode_error('[1,'))
    assert.matches('line 2, column 3', decode_error('[1,\n  x]'))
    assert.matches('decode expects a string', select(2, pcall(json.decode, 12)))
  end)

  it('refuses absurd nesting instead of overflowing', function()
    assert.matches('nesting', decode_error(string.rep('[', 2000) .. string.rep(']', 2000)))
  end)

  it('decodes the 333 KB golden file in well under half a second', function()
    local f = assert(io.open('spec/fixtures/golden.json', 'rb'))
    local text = f:read('a')
    f:close()
    local t0 = os.clock()
    local g = json.decode(text)
    local elapsed = os.clock() - t0
    assert.is_true(elapsed < 0.5, 'took ' .. elapsed .. ' s')
    assert.are.equal('lunagrad-golden/1', g.format)
    assert.are.equal(g.n_cases, #g.cases)
    assert.are.equal('add_3x4_plus_4', g.cases[1].name)
    assert.are.equal(2.212486743927002, g.cases[1].inputs[1].data[1][1])
    -- re-encoding then decoding gives back the same text: numbers survive exactly
    local again = json.encode(g)
    assert.are.equal(again, json.encode(json.decode(again)))
  end)
end)

describe('json.encode', function()
  it('encodes scalars', function()
    assert.are.equal('null', json.encode(nil))
    assert.are.equal('null', json.encode(json.null))
    assert.are.equal('true', json.encode(true))
    assert.are.equal('3', json.encode(3))
    assert.are.equal('-7', json.encode(-7))
    assert.are.equal('2.5', json.encode(2.5))
    assert.are.equal('1.0', json.encode(1.0))
    assert.are.equal('-0.0', json.encode(-0.0))
    assert.are.equal('0.1', json.encode(0.1))
    assert.are.equal('"a\\"b\\\\c\\n\\u0001"', json.encode('a"b\\c\n\1'))
  end)

  it('writes floats that read back to the same double', function()
    local values = {0.1, 1 / 3, 2 / 3, math.pi, 1e-300, 5e-324, 1.7976931348623157e308,
                    2.212486743927002, 123456789.123456789, -1e22, 1e21}
    for _, v in ipairs(values) do
      local back = json.decode(json.encode(v))
      assert.are.equal(v, back)
      assert.are.equal('float', math.type(back))
    end
    assert.are.equal(math.mininteger, json.decode(json.encode(math.mininteger)))
  end)

  it('sorts object keys and writes sequences as arrays', function()
    assert.are.equal('{"a":1,"b":[1,2,"x"],"z":{"k":false}}',
      json.encode({z = {k = false}, b = {1, 2, 'x'}, a = 1}))
    assert.are.equal('[[],{}]', json.encode({json.array(), {}}))
    assert.are.equal('[1,null,3]', json.encode({1, json.null, 3}))
  end)

  it('round-trips empty arrays through decode', function()
    assert.are.equal('{"d":[],"o":{}}', json.encode(json.decode('{"o": {}, "d": []}')))
  end)

  it('rejects NaN, infinities, cycles, non-string keys and functions', function()
    local function encode_error(v)
      local ok, err = pcall(json.encode, v)
      assert.is_false(ok)
      return err
    end
    assert.matches('^lunagrad%.json: .*NaN', encode_error(0 / 0))
    assert.matches('Infinity', encode_error({x = {math.huge}}))
    assert.matches('%$%.x%[1%]', encode_error({x = {-math.huge}}))
    local cyc = {}
    cyc.self = cyc
    assert.matches('cycle', encode_error(cyc))
    assert.matches('number key', encode_error({1, 2, nil, 4}))
    assert.matches('number key', encode_error({[1] = 'a', b = 2}))
    assert.matches('boolean key', encode_error({[true] = 1}))
    assert.matches('cannot encode a function', encode_error({f = print}))
  end)

  it('allows the same table twice when it is not a cycle', function()
    local shared = {1, 2}
    assert.are.equal('{"a":[1,2],"b":[1,2]}', json.encode({a = shared, b = shared}))
  end)
end)
