-- optim.SGD(params, {lr=, momentum=0, dampening=0, nesterov=false, weight_decay=0, maximize=false}),
-- PyTorch's update rule:
--   d = g + wd * p
--   buf = d (first step) | momentum * buf + (1 - dampening) * d
--   d = nesterov and d + momentum * buf or buf
--   p = p - lr * d
local util = require 'lunagrad.nn.util'
local Optimizer = require 'lunagrad.optim.Optimizer'

local SGD = Optimizer.subclass('SGD', {
  lr = Optimizer.REQUIRED, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0, maximize = false,
})

function SGD.new(params, opts) return Optimizer.create(SGD, params, opts) end

function SGD:check()
  self:check_hyper('lr', 0)
  self:check_hyper('momentum', 0)
  self:check_hyper('dampening', 0)
  self:check_hyper('weight_decay', 0)
  if self.nesterov and (self.momentum <= 0 or self.dampening ~= 0) then
    util.raise('lunagrad.optim.SGD: nesterov momentum requires momentum > 0 and dampening = 0')
  end
end

function SGD:update(p, g, st)
  local d = self.maximize and -g or g
  if self.weight_decay ~= 0 then d = d + p * self.weight_decay end
  local momentum = self.momentum
  if momentum ~= 0 then
    local buf = st.momentum_buffer
    if buf == nil then
      buf = d:clone()
      st.momentum_buffer = buf
    elseif self.dampening ~= 0 then
      buf:copy(buf * momentum + d * (1 - self.dampening))
    else
      buf:copy(buf * momentum + d)
    end
    if self.nesterov then d = d + buf * momentum else d = buf end
  end
  p:copy(p - d * self.lr)
end

return SGD
