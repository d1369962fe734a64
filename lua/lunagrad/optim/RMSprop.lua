-- optim.RMSprop(params, {lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=false,
-- maximize=false}), PyTorch's rule:
--   g = g + wd p ;  v = alpha v + (1 - alpha) g^2 ;  (centered: m = alpha m + (1 - alpha) g, v - m^2 used)
--   avg = sqrt(v) + eps ;  buf = momentum buf + g / avg, p = p - lr buf  (momentum > 0)  |  p = p - lr g / avg
local lg = require 'lunagrad'
local Optimizer = require 'lunagrad.optim.Optimizer'

local RMSprop = Optimizer.subclass('RMSprop', {
  lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false, maximize = false,
})

function RMSprop.new(params, opts) return Optimizer.create(RMSprop, params, opts) end

function RMSprop:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'alpha', 0, nil, gi)
  self:check_hyper(g, 'eps', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
  self:check_hyper(g, 'momentum', 0, nil, gi)
end

local function zeros_like(p) return lg.zeros(p:shape(), { dtype = p.dtype }) end

function RMSprop:update(p, g, st, group)
  if st.step == nil then
    st.step = 0
    st.square_avg = zeros_like(p)
    if group.momentum > 0 then st.momentum_buffer = zeros_like(p) end
    if group.centered then st.grad_avg = zeros_like(p) end
  end
  st.step = st.step + 1
  if group.maximize then g = -g end
  local alpha, wd = group.alpha, group.weight_decay
  if wd ~= 0 then g = g + p * wd end
  local v = st.square_avg
  v:copy(v * alpha + g * g * (1 - alpha))
  local avg
  if group.centered then
    st.grad_avg = st.grad_avg or zeros_like(p)
    local m = st.grad_avg
    m:copy(m * alpha + g * (1 - alpha))
    avg = (v - m * m):sqrt()
  else
    avg = v:sqrt()
  end
  avg = avg + group.eps
  if group.momentum > 0 then
    st.momentum_buffer = st.momentum_buffer or zeros_like(p)
    local buf = st.momentum_buffer
    buf:copy(buf * group.momentum + g / avg)
    p:copy(p - buf * group.lr)
  else
    p:copy(p - g / avg * group.lr)
  end
end

return RMSprop
