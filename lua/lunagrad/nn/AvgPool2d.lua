-- nn.AvgPool2d: see pooling.lua for the arguments (PyTorch's).
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

return pooling.define(class.new('nn.AvgPool2d', Module), 'nn.AvgPool2d', 'avg', 2)
