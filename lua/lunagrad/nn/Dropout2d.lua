-- nn.Dropout2d([p=0.5]): in training mode zeroes whole channels of [N, C, H, W] (or
-- [C, H, W]) input, each with probability p (one draw per (N, C)), and scales the rest by
-- 1/(1-p); the identity in evaluate mode.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Dropout2d = class.new('nn.Dropout2d', Module)
Dropout2d._stochastic = true -- random in training mode: m:backward will not run it twice

function Dropout2d:__init(p)
  self.p = util.check_number('nn.Dropout2d', 'p', p == nil and 0.5 or p, 0, 1)
end

function Dropout2d:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Dropout2d', x) end
  local nd = x:dim()
  if nd ~= 4 and nd ~= 3 then
    util.raise(string.format('lunagrad.nn.Dropout2d: expected a 4-d (batched) or 3-d (unbatched) input, got %s',
      util.shape_str(x)))
  end
  if not self.training or self.p == 0 then return x end
  return F.dropout2d(x, self.p, true)
end

function Dropout2d:extra_repr() return 'p=' .. self.p end

return Dropout2d
