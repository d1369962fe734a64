-- nn.Tanh(): tanh(x) elementwise.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Tanh = class.new('nn.Tanh', Module)

function Tanh:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Tanh', x) end
  return F.tanh(x)
end

return Tanh
