-- nn.AdaptiveAvgPool2d(output_size): see pooling.lua.
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

return pooling.define_adaptive(class.new('nn.AdaptiveAvgPool2d', Module), 'nn.AdaptiveAvgPool2d', 'avg', 2)
