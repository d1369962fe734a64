-- nn.MaxPool2d(k [, stride=k [, padding=0]]) over NCHW input (see pooling.lua).
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

local MaxPool2d = class.new('nn.MaxPool2d', Module)

function MaxPool2d:__init(k, stride, padding) pooling.init(self, 'nn.MaxPool2d', k, stride, padding) end

function MaxPool2d:forward(x) return pooling.forward(self, 'nn.MaxPool2d', 'max_pool2d', x) end

MaxPool2d.extra_repr = pooling.extra_repr

return MaxPool2d
