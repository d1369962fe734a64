-- nn.ReLU(): max(x, 0) elementwise.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local ReLU = class.new('nn.ReLU', Module)

function ReLU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.ReLU', x) end
  return F.relu(x)
end

return ReLU
