-- nn.Softplus([beta=1 [, threshold=20]]): log(1 + exp(beta * x)) / beta; x itself where
-- beta * x > threshold.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Softplus = class.new('nn.Softplus', Module)

function Softplus:__init(beta, threshold)
  self.beta = util.check_number('nn.Softplus', 'beta', beta == nil and 1 or beta)
  self.threshold = util.check_number('nn.Softplus', 'threshold', threshold == nil and 20 or threshold)
  if self.beta == 0 then util.raise('lunagrad.nn.Softplus: beta must not be 0') end
end

function Softplus:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Softplus', x) end
  return F.softplus(x, self.beta, self.threshold)
end

function Softplus:extra_repr() return 'beta=' .. self.beta .. ', threshold=' .. self.threshold end

return Softplus
