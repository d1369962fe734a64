-- nn.Softsign(): x / (1 + |x|).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Softsign = class.new('nn.Softsign', Module)

function Softsign:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Softsign', x) end
  return F.softsign(x)
end

return Softsign
