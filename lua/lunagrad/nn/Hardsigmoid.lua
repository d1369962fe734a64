-- nn.Hardsigmoid(): clamp(x / 6 + 1/2, 0, 1).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Hardsigmoid = class.new('nn.Hardsigmoid', Module)

function Hardsigmoid:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Hardsigmoid', x) end
  return F.hardsigmoid(x)
end

return Hardsigmoid
