-- nn.NLLLoss{reduction='mean'}: negative log-likelihood of log-probabilities [N,C], targets 1-based class labels.
local F = require 'lunagrad.nn.functional'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local NLLLoss = class.new('nn.NLLLoss', Criterion)

NLLLoss.fn = F.nll_loss

return NLLLoss
