-- nn.MSELoss{reduction='mean'}: mean (or summed) squared error between input and target.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local Criterion = require 'lunagrad.nn.Criterion'

local MSELoss = class.new('nn.MSELoss', Criterion)

function MSELoss.fn(input, target, reduction) return lg.mse_loss(input, target, reduction) end

return MSELoss
