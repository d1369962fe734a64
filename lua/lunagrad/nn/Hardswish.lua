-- nn.Hardswish(): x * hardsigmoid(x).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Hardswish = class.new('nn.Hardswish', Module)

function Hardswish:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Hardswish', x) end
  return F.hardswish(x)
end

return Hardswish
