-- lunagrad.optim: SGD, Adam, AdamW (PyTorch's update rules) and the DANN schedules.
--
--   local opt = optim.SGD(net:parameters(), {lr = 0.01, momentum = 0.9})
--   opt:zero_grad(); loss:backward(); opt:step()
local Adam = require 'lunagrad.optim.Adam'

local optim = {}

optim.Optimizer = require 'lunagrad.optim.Optimizer'
optim.SGD = require('lunagrad.optim.SGD').new
optim.Adam = Adam.Adam.new
optim.AdamW = Adam.AdamW.new
optim.schedule = require 'lunagrad.optim.schedule'
-- Torch7's functional form: optim.sgd(feval, x, config, state), optim.adam(...) (optim/functional.lua).
optim.sgd = require('lunagrad.optim.functional').sgd
optim.adam = require('lunagrad.optim.functional').adam
for _, name in ipairs { 'RMSprop', 'Adagrad', 'Adadelta', 'Adamax', 'NAdam', 'RAdam', 'LBFGS' } do -- PyTorch's rules
  optim[name] = require('lunagrad.optim.' .. name).new
end
optim.lr_scheduler = require 'lunagrad.optim.lr_scheduler' -- StepLR, OneCycleLR, ..., DannLR

return optim
