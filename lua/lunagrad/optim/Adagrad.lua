-- optim.Adagrad(params, {lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
-- maximize=false}), PyTorch's rule:
--   g = g + wd p ;  clr = lr / (1 + (step - 1) lr_decay) ;  s = s + g^2 ;  p = p - clr g / (sqrt(s) + eps)
local lg = require 'lunagrad'
local Optimizer = require 'lunagrad.optim.Optimizer'

local Adagrad = Optimizer.subclass('Adagrad', {
  lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10, maximize = false,
})

function Adagrad.new(params, opts) return Optimizer.create(Adagrad, params, opts) end

function Adagrad:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  self:check_hyper(g, 'lr_decay', 0, nil, gi)
  self:check_hyper(g, 'weight_decay', 0, nil, gi)
  self:check_hyper(g, 'initial_accumulator_value', 0, nil, gi)
  self:check_hyper(g, 'eps', 0, nil, gi)
end

function Adagrad:update(p, g, st, group)
  if st.step == nil then
    st.step = 0
    st.sum = lg.full(p:shape(), group.initial_accumulator_value, { dtype = p.dtype })
  end
  st.step = st.step + 1
  if group.maximize then g = -g end
  if group.weight_decay ~= 0 then g = g + p * group.weight_decay end
  local clr = group.lr / (1 + (st.step - 1) * group.lr_decay)
  st.sum:copy(st.sum + g * g)
  p:copy(p - g / (st.sum:sqrt() + group.eps) * clr)
end

return Adagrad
