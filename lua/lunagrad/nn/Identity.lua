-- nn.Identity(): returns its input (a placeholder, e.g. to switch a layer off).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local Identity = class.new('nn.Identity', Module)

function Identity:forward(x)
  if x == nil then util.bad_input(self, 'nn.Identity', x) end
  return x
end

return Identity
