-- nn.AlphaDropout([p=0.5]): in training mode sets each element with probability p to SELU's
-- negative saturation and applies PyTorch's affine correction, so inputs of zero mean and
-- unit variance keep them (for SELU networks); the identity in evaluate mode.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local AlphaDropout = class.new('nn.AlphaDropout', Module)
AlphaDropout._stochastic = true -- random in training mode: m:backward will not run it twice

function AlphaDropout:__init(p)
  self.p = util.check_number('nn.AlphaDropout', 'p', p == nil and 0.5 or p, 0, 1)
end

function AlphaDropout:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.AlphaDropout', x) end
  if not self.training or self.p == 0 then return x end
  return F.alpha_dropout(x, self.p, true)
end

function AlphaDropout:extra_repr() return 'p=' .. self.p end

return AlphaDropout
