-- nn.MSELoss{reduction='mean'}: mean (or summed) squared error between input and target.
local F = require 'lunagrad.nn.functional'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local MSELoss = class.new('nn.MSELoss', Criterion)

MSELoss.fn = F.mse_loss

return MSELoss
