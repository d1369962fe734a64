-- Inputs found by the libFuzzer targets (fuzz/, `make fuzz`), kept as regressions.
-- Each once crashed under UBSan or gave a wrong value.
local lg = require 'lunagrad'

describe('fuzz regressions: int64 values from Lua', function()
  -- lg.tensor({0/0}, {dtype='int64'}) cast NaN to int64 (undefined behaviour in
  -- lg_from_doubles); now refused with an error, like PyTorch.
  it('refuses NaN, infinities and out-of-range floats for int64 tables', function()
    for _, v in ipairs({ 0 / 0, math.huge, -math.huge, 1e300, 2 ^ 63 }) do
      local ok, err = pcall(lg.tensor, { 1, v }, { dtype = 'int64' })
      assert.is_false(ok)
      assert.matches('lunagrad.tensor: value .* cannot be converted to int64', err)
    end
  end)

  -- math.maxinteger went through a double (2^63) and back: undefined, and
  -- integers above 2^53 were rounded. They are now stored and read exactly.
  it('keeps every int64 exactly, to math.maxinteger and math.mininteger', function()
    local big = { math.maxinteger, math.mininteger, 2 ^ 53 + 1 == 2 ^ 53 and 9007199254740993 or 0, -1 }
    local t = lg.tensor(big, { dtype = 'int64' })
    assert.are.same(big, t:totable())
    assert.are.equal(math.maxinteger, t[1])
    assert.are.equal(math.mininteger, t[2])
    assert.are.equal(9007199254740993, t[3])
    assert.are.equal(math.maxinteger, t:narrow(1, 1, 1):item())
    assert.are.equal(math.type(t[4]), 'integer')
  end)

  it('truncates integral-range floats like a C cast (1.75 -> 1, -2.5 -> -2)', function()
    assert.are.same({ 1, -2, 0 }, lg.tensor({ 1.75, -2.5, -0.0 }, { dtype = 'int64' }):totable())
  end)

  it('refuses NaN scalars mixed into int64 tensors (fill, full, copy)', function()
    local t = lg.tensor({ 1, 2 }, { dtype = 'int64' })
    assert.matches('lunagrad.fill: value %-?nan cannot be converted to int64', select(2, pcall(t.fill, t, 0 / 0)))
    assert.matches('lunagrad.full: fill value .* cannot be converted to int64',
      select(2, pcall(lg.full, { 2 }, 1 / 0, { dtype = 'int64' })))
    assert.matches('lunagrad.copy: value .* cannot be converted to int64', select(2, pcall(t.copy, t, -1 / 0)))
    assert.are.same({ 1, 2 }, t:totable())
  end)

  -- A ragged table of a few elements probed as a huge shape and was allocated
  -- before the ragged check: {{{1, 1, ...}, 1, ...}, 1, ...}.
  it('rejects a ragged table before allocating its probed shape', function()
    local row = {}
    for i = 1, 2000 do row[i] = 1 end
    local mid = { row }
    for i = 2, 2000 do mid[i] = 1 end
    local top = { mid }
    for i = 2, 2000 do top[i] = 1 end
    local before = lg.memory().peak_bytes
    local ok, err = pcall(lg.tensor, top)
    assert.is_false(ok)
    assert.matches('lunagrad.tensor: ragged table', err)
    assert.is_true(lg.memory().peak_bytes - before < 1e6)
    assert.is_true(collectgarbage('count') < 1e6) -- KB: the 64 GB buffer was never made
  end)

  it('bounds shapes whose product would overflow (shared sub-tables)', function()
    local t = { 1, 1 }
    for _ = 1, 7 do
      local up = {}
      for i = 1, 1000 do up[i] = t end
      t = up
    end
    local ok, err = pcall(lg.tensor, t)
    assert.is_false(ok)
    assert.matches('lunagrad.tensor: table too large', err)
  end)
end)
