-- nn.LogSigmoid(): log(sigmoid(x)), computed stably.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local LogSigmoid = class.new('nn.LogSigmoid', Module)

function LogSigmoid:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.LogSigmoid', x) end
  return F.logsigmoid(x)
end

return LogSigmoid
