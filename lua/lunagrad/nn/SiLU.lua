-- nn.SiLU(): x * sigmoid(x) (swish).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local SiLU = class.new('nn.SiLU', Module)

function SiLU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.SiLU', x) end
  return F.silu(x)
end

return SiLU
