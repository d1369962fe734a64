-- nn.Sigmoid(): 1 / (1 + exp(-x)) elementwise.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Sigmoid = class.new('nn.Sigmoid', Module)

function Sigmoid:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Sigmoid', x) end
  return F.sigmoid(x)
end

return Sigmoid
