-- nn.AvgPool2d(k [, stride=k [, padding=0]]) over NCHW input (see pooling.lua).
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local pooling = require 'lunagrad.nn.pooling'

local AvgPool2d = class.new('nn.AvgPool2d', Module)

function AvgPool2d:__init(k, stride, padding) pooling.init(self, 'nn.AvgPool2d', k, stride, padding) end

function AvgPool2d:forward(x) return pooling.forward(self, 'nn.AvgPool2d', 'avg_pool2d', x) end

AvgPool2d.extra_repr = pooling.extra_repr

return AvgPool2d
