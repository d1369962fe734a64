-- nn.SELU(): scale * (max(0, x) + min(0, alpha * (exp(x) - 1))), PyTorch's constants.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local SELU = class.new('nn.SELU', Module)

function SELU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.SELU', x) end
  return F.selu(x)
end

return SELU
