-- optim.Adamax(params, {lr=2e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, maximize=false}), PyTorch's rule:
--   g = g + wd p ;  m = b1 m + (1 - b1) g ;  u = max(b2 u, |g| + eps) ;  p = p - lr / (1 - b1^t) * m / u
local lg = require 'lunagrad'
local Optimizer = require 'lunagrad.optim.Optimizer'

local Adamax = Optimizer.subclass('Adamax', {
  lr = 2e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0, maximize = false,
})

function Adamax.new(params, opts) return Optimizer.create(Adamax, params, opts) end

function Adamax:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'eps', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
  self:check_betas(g, gi)
end

function Adamax:update(p, g, st, group)
  if st.step == nil then
    st.step = 0
    st.exp_avg = lg.zeros(p:shape(), { dtype = p.dtype })
    st.exp_inf = lg.zeros(p:shape(), { dtype = p.dtype })
  end
  st.step = st.step + 1
  if group.maximize then g = -g end
  if group.weight_decay ~= 0 then g = g + p * group.weight_decay end
  local b1, b2 = group.betas[1], group.betas[2]
  st.exp_avg:copy(st.exp_avg * b1 + g * (1 - b1))
  st.exp_inf:copy(lg.maximum(st.exp_inf * b2, g:abs() + group.eps))
  local clr = group.lr / (1 - b1 ^ st.step)
  p:copy(p - st.exp_avg / st.exp_inf * clr)
end

return Adamax
