-- optim.Adadelta(params, {lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=false}), PyTorch's rule:
--   g = g + wd p ;  v = rho v + (1 - rho) g^2 ;  delta = sqrt(u + eps) / sqrt(v + eps) * g
--   u = rho u + (1 - rho) delta^2 ;  p = p - lr delta
local lg = require 'lunagrad'
local Optimizer = require 'lunagrad.optim.Optimizer'

local Adadelta = Optimizer.subclass('Adadelta', { lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0, maximize = false })

function Adadelta.new(params, opts) return Optimizer.create(Adadelta, params, opts) end

function Adadelta:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'rho', 0, 1, gi)
  self:check_hyper(g, 'eps', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
end

function Adadelta:update(p, g, st, group)
  if st.step == nil then
    st.step = 0
    st.square_avg = lg.zeros(p:shape(), { dtype = p.dtype })
    st.acc_delta = lg.zeros(p:shape(), { dtype = p.dtype })
  end
  st.step = st.step + 1
  if group.maximize then g = -g end
  if group.weight_decay ~= 0 then g = g + p * group.weight_decay end
  local rho, eps, v, u = group.rho, group.eps, st.square_avg, st.acc_delta
  v:copy(v * rho + g * g * (1 - rho))
  local delta = (u + eps):sqrt() / (v + eps):sqrt() * g
  u:copy(u * rho + delta * delta * (1 - rho))
  p:copy(p - delta * group.lr)
end

return Adadelta
