-- The DANN paper's schedules (Ganin & Lempitsky 2015, sec. 5), p = training progress in [0, 1]:
--   dann_lambda(p [, gamma=10])                 = 2 / (1 + exp(-gamma p)) - 1   (GRL coefficient)
--   dann_lr(p [, {mu0=0.01, alpha=10, beta=0.75}]) = mu0 / (1 + alpha p)^beta     (learning rate)
local util = require 'lunagrad.nn.util'

local schedule = {}

local function progress(fname, p)
  if type(p) ~= 'number' or p ~= p or p < 0 or p > 1 then
    util.raise('lunagrad.optim.schedule.' .. fname .. ': progress p must be a number in [0, 1], got ' .. tostring(p))
  end
  return p
end

function schedule.dann_lambda(p, gamma)
  p = progress('dann_lambda', p)
  gamma = util.check_number('optim.schedule.dann_lambda', 'gamma', gamma == nil and 10 or gamma)
  return 2 / (1 + math.exp(-gamma * p)) - 1
end

local LR_OPTS = util.set { 'mu0', 'alpha', 'beta' }

function schedule.dann_lr(p, opts)
  p = progress('dann_lr', p)
  opts = util.options('optim.schedule.dann_lr', opts, LR_OPTS)
  local mu0 = util.check_number('optim.schedule.dann_lr', 'mu0', opts.mu0 or 0.01, 0)
  local alpha = util.check_number('optim.schedule.dann_lr', 'alpha', opts.alpha or 10, 0)
  local beta = util.check_number('optim.schedule.dann_lr', 'beta', opts.beta or 0.75)
  return mu0 / (1 + alpha * p) ^ beta
end

return schedule
