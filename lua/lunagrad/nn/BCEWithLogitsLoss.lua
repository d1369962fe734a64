-- nn.BCEWithLogitsLoss{reduction='mean'}: sigmoid + binary cross-entropy, numerically stable; targets in [0,1].
local F = require 'lunagrad.nn.functional'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local BCEWithLogitsLoss = class.new('nn.BCEWithLogitsLoss', Criterion)

BCEWithLogitsLoss.fn = F.binary_cross_entropy_with_logits

return BCEWithLogitsLoss
