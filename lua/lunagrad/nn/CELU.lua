-- nn.CELU([alpha=1]): max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local CELU = class.new('nn.CELU', Module)

function CELU:__init(alpha)
  self.alpha = util.check_number('nn.CELU', 'alpha', alpha == nil and 1 or alpha)
  if self.alpha == 0 then util.raise('lunagrad.nn.CELU: alpha must not be 0') end
end

function CELU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.CELU', x) end
  return F.celu(x, self.alpha)
end

function CELU:extra_repr() return 'alpha=' .. self.alpha end

return CELU
