-- nn.Dropout([p=0.5]): in training mode zeroes each element with probability p and
-- scales the rest by 1/(1-p); the identity in evaluate mode.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Dropout = class.new('nn.Dropout', Module)
Dropout._stochastic = true -- random in training mode: m:backward will not run it twice

function Dropout:__init(p)
  self.p = util.check_number('nn.Dropout', 'p', p == nil and 0.5 or p, 0, 1)
end

function Dropout:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Dropout', x) end
  if not self.training or self.p == 0 then return x end
  return F.dropout(x, self.p, true)
end

function Dropout:extra_repr() return 'p=' .. self.p end

return Dropout
