-- nn.Identity(): returns its input (a placeholder, e.g. to switch a layer off).
local class = require 'lunagrad.nn.class'
local Module = require 'lunagrad.nn.Module'

local Identity = class.new('nn.Identity', Module)

function Identity:forward(x) return x end

return Identity
