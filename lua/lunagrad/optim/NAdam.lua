-- optim.NAdam(params, {lr=2e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, momentum_decay=4e-3}),
-- PyTorch's rule (Dozat 2016, with the momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(t psi))):
--   g = g + wd p ;  P_t = P_{t-1} mu_t ;  m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
--   d = sqrt(v / (1 - b2^t)) + eps ;  p = p - lr (1 - mu_t) / (1 - P_t) g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) m / d
-- (P_t mu_{t+1} as PyTorch 2.x and the paper; PyTorch 1.13 had an extra factor mu_t there.)
local lg = require 'lunagrad'
local Optimizer = require 'lunagrad.optim.Optimizer'

local NAdam = Optimizer.subclass('NAdam', {
  lr = 2e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0, momentum_decay = 4e-3,
})

function NAdam.new(params, opts) return Optimizer.create(NAdam, params, opts) end

function NAdam:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'eps', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
  self:check_hyper(g, 'momentum_decay', 0, nil, gi)
  self:check_betas(g, gi)
end

function NAdam:update(p, g, st, group)
  if st.step == nil then
    st.step = 0
    st.mu_product = 1.0
    st.exp_avg = lg.zeros(p:shape(), { dtype = p.dtype })
    st.exp_avg_sq = lg.zeros(p:shape(), { dtype = p.dtype })
  end
  st.step = st.step + 1
  local step, b1, b2, lr = st.step, group.betas[1], group.betas[2], group.lr
  local bias_correction2 = 1 - b2 ^ step
  if group.weight_decay ~= 0 then g = g + p * group.weight_decay end
  local mu = b1 * (1. - 0.5 * (0.96 ^ (step * group.momentum_decay)))
  local mu_next = b1 * (1. - 0.5 * (0.96 ^ ((step + 1) * group.momentum_decay)))
  st.mu_product = st.mu_product * mu
  local mu_product_next = st.mu_product * mu_next
  st.exp_avg:copy(st.exp_avg * b1 + g * (1 - b1))
  st.exp_avg_sq:copy(st.exp_avg_sq * b2 + g * g * (1 - b2))
  local denom = (st.exp_avg_sq / bias_correction2):sqrt() + group.eps
  p:copy(p - g / denom * (lr * (1. - mu) / (1. - st.mu_product)))
  p:copy(p - st.exp_avg / denom * (lr * mu_next / (1. - mu_product_next)))
end

return NAdam
