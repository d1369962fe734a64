-- nn.ReLU(): max(x, 0) elementwise.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local ReLU = class.new('nn.ReLU', Module)

function ReLU:forward(x)
  if not util.is_tensor(x) then util.raise('lunagrad.nn.ReLU: expected a Tensor input, got ' .. type(x)) end
  return x:relu()
end

return ReLU
