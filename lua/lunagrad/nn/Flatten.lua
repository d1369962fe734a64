-- nn.Flatten([start_dim=2 [, end_dim=-1]]): merges dims start..end (1-based), so a
-- batch [N,C,H,W] becomes [N, C*H*W] as in PyTorch.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local Flatten = class.new('nn.Flatten', Module)

function Flatten:__init(start_dim, end_dim)
  for _, d in ipairs { start_dim or 2, end_dim or -1 } do
    if math.type(d) ~= 'integer' or d == 0 then
      util.raise('lunagrad.nn.Flatten: dims must be non-zero integers, got ' .. tostring(d))
    end
  end
  self.start_dim, self.end_dim = start_dim or 2, end_dim or -1
end

function Flatten:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Flatten', x) end
  local n = x:dim()
  local s = self.start_dim < 0 and n + 1 + self.start_dim or self.start_dim
  local e = self.end_dim < 0 and n + 1 + self.end_dim or self.end_dim
  if s < 1 or e > n or s > e then
    util.raise(string.format('lunagrad.nn.Flatten: cannot flatten dims %d..%d of an input %s', self.start_dim,
      self.end_dim, util.shape_str(x)))
  end
  return x:flatten(s, e)
end

function Flatten:extra_repr() return string.format('start_dim=%d, end_dim=%d', self.start_dim, self.end_dim) end

return Flatten
