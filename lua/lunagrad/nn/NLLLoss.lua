-- nn.NLLLoss{reduction='mean'}: negative log-likelihood of log-probabilities [N,C], targets 1-based class labels.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local NLLLoss = class.new('nn.NLLLoss', Criterion)

function NLLLoss.fn(input, target, reduction) return lg.nll_loss(input, target, reduction) end

return NLLLoss
