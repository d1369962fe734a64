-- nn.MaxPool1d: see pooling.lua for the arguments (PyTorch's).
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

return pooling.define(class.new('nn.MaxPool1d', Module), 'nn.MaxPool1d', 'max', 1)
