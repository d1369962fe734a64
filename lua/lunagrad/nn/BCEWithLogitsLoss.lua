-- nn.BCEWithLogitsLoss{reduction='mean'}: sigmoid + binary cross-entropy, numerically stable; targets in [0,1].
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local BCEWithLogitsLoss = class.new('nn.BCEWithLogitsLoss', Criterion)

function BCEWithLogitsLoss.fn(input, target, reduction) return lg.binary_cross_entropy_with_logits(input, target, reduction) end

return BCEWithLogitsLoss
