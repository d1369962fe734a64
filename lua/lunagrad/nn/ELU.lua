-- nn.ELU([alpha=1]): x for x > 0, alpha * (exp(x) - 1) otherwise.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local ELU = class.new('nn.ELU', Module)

function ELU:__init(alpha)
  self.alpha = util.check_number('nn.ELU', 'alpha', alpha == nil and 1 or alpha)
end

function ELU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.ELU', x) end
  return F.elu(x, self.alpha)
end

function ELU:extra_repr() return 'alpha=' .. self.alpha end

return ELU
