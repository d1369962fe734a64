-- nn.BatchNorm2d(C, {eps=1e-5, momentum=0.1, affine=true, track_running_stats=true}):
-- batch normalisation over input [N,C,H,W] (see BatchNorm.lua).
local class = require 'lunagrad.nn.class'
local BatchNorm = require 'lunagrad.nn.BatchNorm'

local BatchNorm2d = class.new('nn.BatchNorm2d', BatchNorm)

BatchNorm2d.expected = '[N,C,H,W]'
function BatchNorm2d.dims_ok(n) return n == 4 end

return BatchNorm2d
