-- optim.SGD(params, {lr=, momentum=0, dampening=0, nesterov=false, weight_decay=0, maximize=false}),
-- PyTorch's update rule:
--   d = g + wd * p
--   buf = d (first step) | momentum * buf + (1 - dampening) * d
--   d = nesterov and d + momentum * buf or buf
--   p = p - lr * d
local lg = require 'lunagrad'
local sgd_update = require('lunagrad.core')._optim.sgd_update
local util = require 'lunagrad.nn.util'
local Optimizer = require 'lunagrad.optim.Optimizer'

local SGD = Optimizer.subclass('SGD', {
  lr = Optimizer.REQUIRED, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0, maximize = false,
})

function SGD.new(params, opts) return Optimizer.create(SGD, params, opts) end

function SGD:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'momentum', 0, nil, gi)
  self:check_hyper(g, 'dampening', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
  if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
    util.raise('lunagrad.optim.SGD: ' .. (gi and ('param group ' .. gi .. ': ') or '')
      .. 'nesterov momentum requires momentum > 0 and dampening = 0')
  end
end

-- One fused C pass per parameter (src/ops/optim.c), in place. The options table
-- is reused across calls (hyper-parameters may change between steps: opt.param_groups[i].lr).
function SGD:update(p, g, st, group)
  local o = self._fused_options
  if not o then
    o = {}
    self._fused_options = o
  end
  o.lr, o.momentum, o.dampening, o.weight_decay = group.lr, group.momentum, group.dampening, group.weight_decay
  o.nesterov, o.maximize, o.first = group.nesterov, group.maximize, false
  if group.momentum ~= 0 and st.momentum_buffer == nil then
    st.momentum_buffer = lg.empty(p:shape(), { dtype = p.dtype })
    o.first = true
  end
  sgd_update(p, g, st.momentum_buffer, o)
end

return SGD
