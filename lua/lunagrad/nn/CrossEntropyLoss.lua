-- nn.CrossEntropyLoss{reduction='mean'}: log_softmax + NLL over logits [N,C], targets 1-based class labels.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local CrossEntropyLoss = class.new('nn.CrossEntropyLoss', Criterion)

function CrossEntropyLoss.fn(input, target, reduction) return lg.cross_entropy(input, target, reduction) end

return CrossEntropyLoss
