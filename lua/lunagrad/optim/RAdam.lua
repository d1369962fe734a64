-- optim.RAdam(params, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0}), PyTorch's rule (Liu et al. 2019):
--   g = g + wd p ;  m, v as Adam ;  rho_inf = 2 / (1 - b2) - 1 ;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
--   rho_t > 5: p = p - lr m / (1 - b1^t) * r_t sqrt(1 - b2^t) / (sqrt(v) + eps), r_t the rectification
--   otherwise: p = p - lr m / (1 - b1^t)
local lg = require 'lunagrad'
local Optimizer = require 'lunagrad.optim.Optimizer'

local RAdam = Optimizer.subclass('RAdam', { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 })

function RAdam.new(params, opts) return Optimizer.create(RAdam, params, opts) end

function RAdam:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'eps', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
  self:check_betas(g, gi)
end

function RAdam:update(p, g, st, group)
  if st.step == nil then
    st.step = 0
    st.exp_avg = lg.zeros(p:shape(), { dtype = p.dtype })
    st.exp_avg_sq = lg.zeros(p:shape(), { dtype = p.dtype })
  end
  st.step = st.step + 1
  local step, b1, b2, lr = st.step, group.betas[1], group.betas[2], group.lr
  local bias_correction1, bias_correction2 = 1 - b1 ^ step, 1 - b2 ^ step
  if group.weight_decay ~= 0 then g = g + p * group.weight_decay end
  st.exp_avg:copy(st.exp_avg * b1 + g * (1 - b1))
  st.exp_avg_sq:copy(st.exp_avg_sq * b2 + g * g * (1 - b2))
  local corrected = st.exp_avg / bias_correction1
  local rho_inf = 2 / (1 - b2) - 1
  local rho_t = rho_inf - 2 * step * (b2 ^ step) / bias_correction2
  if rho_t > 5. then
    local rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    local adaptive_lr = math.sqrt(bias_correction2) / (st.exp_avg_sq:sqrt() + group.eps)
    p:copy(p - corrected * lr * adaptive_lr * rect)
  else
    p:copy(p - corrected * lr)
  end
end

return RAdam
