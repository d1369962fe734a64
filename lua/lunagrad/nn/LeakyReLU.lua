-- nn.LeakyReLU([negative_slope=0.01]): x for x > 0, slope * x otherwise.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local LeakyReLU = class.new('nn.LeakyReLU', Module)

function LeakyReLU:__init(negative_slope)
  self.negative_slope = util.check_number('nn.LeakyReLU', 'negative_slope', negative_slope or 0.01)
end

function LeakyReLU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.LeakyReLU', x) end
  return F.leaky_relu(x, self.negative_slope)
end

function LeakyReLU:extra_repr() return 'negative_slope=' .. self.negative_slope end

return LeakyReLU
