-- The seed's README example: y = x*5 + 6 and the same through the GRL.
local lg = require 'lunagrad'

describe('seed example', function()
  it('gives x.grad = 5 without reversal', function()
    local x = lg.tensor({4}, {requires_grad = true})
    local y = x * 5 + 6
    y:backward()
    assert.are.equal(26, y:item())
    assert.are.equal(5, x.grad:item())
  end)

  it('gives x.grad = -5 through revgrad(., 1)', function()
    local x = lg.tensor({4}, {requires_grad = true})
    local y = lg.revgrad(x * 5, 1.0) + 6
    y:backward()
    assert.are.equal(26, y:item())
    assert.are.equal(-5, x.grad:item())
  end)

  it('multiplies alphas through two GRLs in a row', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    local y = lg.revgrad(lg.revgrad(x, 0.5), 3)
    y:sum():backward()
    assert.are.same({1.5, 1.5}, x.grad:totable())
  end)
end)
