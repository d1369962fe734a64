-- nn.Softmin([dim=-1]): softmax(-x, dim).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Softmin = class.new('nn.Softmin', Module)

function Softmin:__init(dim)
  if dim ~= nil and math.type(dim) ~= 'integer' then
    util.raise('lunagrad.nn.Softmin: dim must be an integer, got ' .. tostring(dim))
  end
  self.dim = dim or -1
end

function Softmin:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Softmin', x) end
  return F.softmin(x, self.dim)
end

function Softmin:extra_repr() return 'dim=' .. self.dim end

return Softmin
