-- optim.Adam(params, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, amsgrad=false, maximize=false})
-- and optim.AdamW (same, with decoupled weight decay, default 0.01). PyTorch's rule:
--   AdamW: p = p * (1 - lr * wd)          Adam: g = g + wd * p
--   m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2 ;  (amsgrad: vmax = max(vmax, v), used for v)
--   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
local lg = require 'lunagrad'
local Optimizer = require 'lunagrad.optim.Optimizer'

local function defaults(wd)
  return { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = wd, amsgrad = false, maximize = false }
end

local Adam = Optimizer.subclass('Adam', defaults(0))
local AdamW = Optimizer.subclass('AdamW', defaults(1e-2))
AdamW.decoupled = true

function Adam.new(params, opts) return Optimizer.create(Adam, params, opts) end
function AdamW.new(params, opts) return Optimizer.create(AdamW, params, opts) end

local function check(self, g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'eps', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
  self:check_betas(g, gi)
end
Adam.check, AdamW.check = check, check

local function zeros_like(p) return lg.zeros(p:shape(), { dtype = p.dtype }) end

local function update(self, p, g, st, group)
  if group.maximize then g = -g end
  if st.step == nil then
    st.step = 0
    st.exp_avg = zeros_like(p)
    st.exp_avg_sq = zeros_like(p)
  end
  local lr, wd, b1, b2 = group.lr, group.weight_decay, group.betas[1], group.betas[2]
  st.step = st.step + 1
  if wd ~= 0 then
    if self.decoupled then p:copy(p * (1 - lr * wd)) else g = g + p * wd end
  end
  local m, v = st.exp_avg, st.exp_avg_sq
  m:copy(m * b1 + g * (1 - b1))
  v:copy(v * b2 + g * g * (1 - b2))
  if group.amsgrad then
    local vmax = st.max_exp_avg_sq
    if vmax == nil then
      vmax = v:clone()
      st.max_exp_avg_sq = vmax
    else
      -- Elementwise max by a 0/1 mask: each term is exact (x*1 = x, x*0 = 0).
      local take = v:gt(vmax)
      vmax:copy(v * take + vmax * (1 - take))
    end
    v = vmax
  end
  local bias_correction1 = 1 - b1 ^ st.step
  local bias_correction2_sqrt = math.sqrt(1 - b2 ^ st.step)
  local denom = v:sqrt() / bias_correction2_sqrt + group.eps
  p:copy(p - m / denom * (lr / bias_correction1))
end
Adam.update, AdamW.update = update, update

return { Adam = Adam, AdamW = AdamW }
