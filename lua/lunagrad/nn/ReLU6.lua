-- nn.ReLU6(): min(max(0, x), 6) (x:clamp(0, 6)).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local ReLU6 = class.new('nn.ReLU6', Module)

function ReLU6:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.ReLU6', x) end
  return F.relu6(x)
end

return ReLU6
