-- nn.BatchNorm1d(C, {eps=1e-5, momentum=0.1, affine=true, track_running_stats=true}):
-- batch normalisation over input [N,C] or [N,C,L] (see BatchNorm.lua).
local class = require 'lunagrad.nn.class'
local BatchNorm = require 'lunagrad.nn.BatchNorm'

local BatchNorm1d = class.new('nn.BatchNorm1d', BatchNorm)

BatchNorm1d.expected = '[N,C] or [N,C,L]'
function BatchNorm1d.dims_ok(n) return n == 2 or n == 3 end

return BatchNorm1d
