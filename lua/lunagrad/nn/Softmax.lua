-- nn.Softmax([dim=-1]): x:softmax(dim).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Softmax = class.new('nn.Softmax', Module)

function Softmax:__init(dim)
  if dim ~= nil and math.type(dim) ~= 'integer' then
    util.raise('lunagrad.nn.Softmax: dim must be an integer, got ' .. tostring(dim))
  end
  self.dim = dim or -1
end

function Softmax:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Softmax', x) end
  return F.softmax(x, self.dim)
end

function Softmax:extra_repr() return 'dim=' .. self.dim end

return Softmax
