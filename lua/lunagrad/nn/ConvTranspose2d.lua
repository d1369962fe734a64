-- nn.ConvTranspose2d: see convolution.lua for the arguments (PyTorch's), the initialisation and the state_dict names.
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'
local conv = require 'lunagrad.nn.convolution'

return conv.define(class.new('nn.ConvTranspose2d', Module), 'nn.ConvTranspose2d', 2, true)
