-- nn.AdaptiveAvgPool1d(output_size): see pooling.lua.
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

return pooling.define_adaptive(class.new('nn.AdaptiveAvgPool1d', Module), 'nn.AdaptiveAvgPool1d', 'avg', 1)
