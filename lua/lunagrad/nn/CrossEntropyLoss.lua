-- nn.CrossEntropyLoss{reduction='mean'}: log_softmax + NLL over logits [N,C], targets 1-based class labels.
local F = require 'lunagrad.nn.functional'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local CrossEntropyLoss = class.new('nn.CrossEntropyLoss', Criterion)

CrossEntropyLoss.fn = F.cross_entropy

return CrossEntropyLoss
