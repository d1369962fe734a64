-- nn.LogSoftmax([dim=-1]): x:log_softmax(dim).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local LogSoftmax = class.new('nn.LogSoftmax', Module)

function LogSoftmax:__init(dim)
  if dim ~= nil and math.type(dim) ~= 'integer' then
    util.raise('lunagrad.nn.LogSoftmax: dim must be an integer, got ' .. tostring(dim))
  end
  self.dim = dim or -1
end

function LogSoftmax:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.LogSoftmax', x) end
  return F.log_softmax(x, self.dim)
end

function LogSoftmax:extra_repr() return 'dim=' .. self.dim end

return LogSoftmax
