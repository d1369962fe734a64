-- nn.Dropout1d([p=0.5]): in training mode zeroes whole channels of [N, C, L] (or [C, L])
-- input, each with probability p (one draw per (N, C)), and scales the rest by 1/(1-p);
-- the identity in evaluate mode.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Dropout1d = class.new('nn.Dropout1d', Module)
Dropout1d._stochastic = true -- random in training mode: m:backward will not run it twice

function Dropout1d:__init(p)
  self.p = util.check_number('nn.Dropout1d', 'p', p == nil and 0.5 or p, 0, 1)
end

function Dropout1d:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Dropout1d', x) end
  local nd = x:dim()
  if nd ~= 3 and nd ~= 2 then
    util.raise(string.format('lunagrad.nn.Dropout1d: expected a 3-d (batched) or 2-d (unbatched) input, got %s',
      util.shape_str(x)))
  end
  if not self.training or self.p == 0 then return x end
  return F.dropout1d(x, self.p, true)
end

function Dropout1d:extra_repr() return 'p=' .. self.p end

return Dropout1d
