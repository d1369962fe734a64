-- nn.Mish(): x * tanh(softplus(x)).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Mish = class.new('nn.Mish', Module)

function Mish:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Mish', x) end
  return F.mish(x)
end

return Mish
