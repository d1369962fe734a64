-- Edge cases of dtype conversion and of empty tensors.
local lg = require 'lunagrad'

describe('float -> int64 conversion', function()
  it('truncates toward zero', function()
    assert.are.same({ 1, -1, 2, -2 }, lg.tensor({ 1.9, -1.9, 2.5, -2.5 }):long():totable())
  end)

  it('maps NaN to 0 and saturates infinities and huge values (a C cast is undefined there)', function()
    local x = lg.tensor({ 0 / 0, 1 / 0, -1 / 0, 1e300, -1e300 }, { dtype = 'float64' })
    assert.are.same({ 0, math.maxinteger, math.mininteger, math.maxinteger, math.mininteger }, x:long():totable())
    local y = lg.zeros(3, { dtype = 'int64' })
    y:copy(lg.tensor({ 0 / 0, 1 / 0, 7.9 }))
    assert.are.same({ 0, math.maxinteger, 7 }, y:totable())
  end)
end)

describe('empty tensors', function()
  it('are contiguous, so view and reshape work', function()
    local z = lg.zeros(2, 0, 3)
    assert.is_true(z:is_contiguous())
    assert.are.same({ 0 }, z:view(-1):shape())
    assert.are.same({ 0, 3 }, lg.tensor({ {}, {} }):reshape(0, 3):shape())
  end)
end)
