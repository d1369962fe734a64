-- The seed example: y = x*5 + 6 at x = 4, then the same with a Gradient
-- Reversal Layer on x*5. Prints the normal gradient (5) and the reversed one (-5).
local lg = require 'lunagrad'

local x = lg.tensor({4}, {requires_grad = true})
local y = x * 5 + 6
y:backward()
print(string.format('y = x*5 + 6           : y = %g, x.grad = %g', y:item(), x.grad:item()))

local xr = lg.tensor({4}, {requires_grad = true})
local yr = lg.revgrad(xr * 5, 1.0) + 6
yr:backward()
print(string.format('y = revgrad(x*5) + 6  : y = %g, x.grad = %g', yr:item(), xr.grad:item()))
