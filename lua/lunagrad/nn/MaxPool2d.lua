-- nn.MaxPool2d: see pooling.lua for the arguments (PyTorch's).
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

return pooling.define(class.new('nn.MaxPool2d', Module), 'nn.MaxPool2d', 'max', 2)
