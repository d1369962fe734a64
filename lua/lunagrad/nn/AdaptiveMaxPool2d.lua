-- nn.AdaptiveMaxPool2d(output_size [, return_indices=false]): see pooling.lua.
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

return pooling.define_adaptive(class.new('nn.AdaptiveMaxPool2d', Module), 'nn.AdaptiveMaxPool2d', 'max', 2)
