-- optim.LBFGS(params, {lr=1, max_iter=20, max_eval=max_iter*5//4, tolerance_grad=1e-7,
-- tolerance_change=1e-9, history_size=100, line_search_fn=nil|'strong_wolfe'}):
-- PyTorch's torch.optim.LBFGS (after minFunc), a port line for line. One parameter
-- group; opt:step(closure) where closure() clears the gradients, computes the loss,
-- calls backward and returns the loss (a tensor or a number); step returns the first loss.
--
--   local opt = optim.LBFGS(net:parameters(), {line_search_fn = 'strong_wolfe'})
--   opt:step(function() opt:zero_grad(); local l = loss_fn(net(x), y); l:backward(); return l end)
--
-- Torch7's optim.lbfgs(opfunc, x, config) users: the closure plays opfunc's part.
-- The state (directions, steps, curvature pairs) lives under the first parameter's index.
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'
local Optimizer = require 'lunagrad.optim.Optimizer'

local LBFGS = Optimizer.subclass('LBFGS', {
  lr = 1, max_iter = 20, max_eval = false, tolerance_grad = 1e-7, tolerance_change = 1e-9, history_size = 100,
  line_search_fn = false,
})
LBFGS.flat_state = true -- state tensors are flat vectors over all parameters

function LBFGS.new(params, opts)
  local self = Optimizer.create(LBFGS, params, opts)
  if #self.param_groups ~= 1 then
    util.raise("lunagrad.optim.LBFGS: doesn't support per-parameter options (parameter groups)")
  end
  local g = self.param_groups[1]
  if g.max_eval == false then g.max_eval = g.max_iter * 5 // 4 end
  return self
end

function LBFGS:check(g, gi)
  self:check_hyper(g, 'lr', 0, nil, gi)
  if math.type(g.max_iter) ~= 'integer' or g.max_iter < 1 then
    util.raise('lunagrad.optim.LBFGS: max_iter must be an integer >= 1, got ' .. tostring(g.max_iter))
  end
  if g.max_eval ~= false and (type(g.max_eval) ~= 'number' or g.max_eval < 1) then
    util.raise('lunagrad.optim.LBFGS: max_eval must be a number >= 1, got ' .. tostring(g.max_eval))
  end
  self:check_hyper(g, 'tolerance_grad', 0, nil, gi)
  self:check_hyper(g, 'tolerance_change', 0, nil, gi)
  if math.type(g.history_size) ~= 'integer' or g.history_size < 1 then
    util.raise('lunagrad.optim.LBFGS: history_size must be an integer >= 1, got ' .. tostring(g.history_size))
  end
  if g.line_search_fn ~= false and g.line_search_fn ~= nil and g.line_search_fn ~= 'strong_wolfe' then
    util.raise("lunagrad.optim.LBFGS: line_search_fn must be nil or 'strong_wolfe', got " .. tostring(g.line_search_fn))
  end
end

local function dot(a, b) return (a * b):sum():item() end
local function abs_max(a) return a:abs():max():item() end

local function cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds)
  local xmin_bound, xmax_bound
  if bounds then
    xmin_bound, xmax_bound = bounds[1], bounds[2]
  elseif x1 <= x2 then
    xmin_bound, xmax_bound = x1, x2
  else
    xmin_bound, xmax_bound = x2, x1
  end
  local d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  local d2_square = d1 ^ 2 - g1 * g2
  if d2_square >= 0 then
    local d2 = math.sqrt(d2_square)
    local min_pos
    if x1 <= x2 then
      min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else
      min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    end
    return math.min(math.max(min_pos, xmin_bound), xmax_bound)
  end
  return (xmin_bound + xmax_bound) / 2.
end

local function strong_wolfe(obj_func, x, t, d, f, g, gtd)
  local c1, c2, tolerance_change, max_ls = 1e-4, 0.9, 1e-9, 25
  local d_norm = abs_max(d)
  g = g:clone()
  local f_new, g_new = obj_func(x, t, d)
  local ls_func_evals = 1
  local gtd_new = dot(g_new, d)
  local t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
  local done = false
  local ls_iter = 0
  local bracket, bracket_f, bracket_g, bracket_gtd
  while ls_iter < max_ls do
    if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev) then
      bracket, bracket_f = { t_prev, t }, { f_prev, f_new }
      bracket_g, bracket_gtd = { g_prev, g_new:clone() }, { gtd_prev, gtd_new }
      break
    end
    if math.abs(gtd_new) <= -c2 * gtd then
      bracket, bracket_f, bracket_g = { t }, { f_new }, { g_new }
      done = true
      break
    end
    if gtd_new >= 0 then
      bracket, bracket_f = { t_prev, t }, { f_prev, f_new }
      bracket_g, bracket_gtd = { g_prev, g_new:clone() }, { gtd_prev, gtd_new }
      break
    end
    local min_step = t + 0.01 * (t - t_prev)
    local max_step = t * 10
    local tmp = t
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, { min_step, max_step })
    t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new:clone(), gtd_new
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = ls_func_evals + 1
    gtd_new = dot(g_new, d)
    ls_iter = ls_iter + 1
  end
  if ls_iter == max_ls then
    bracket, bracket_f, bracket_g = { 0, t }, { f, f_new }, { g, g_new }
  end
  local insuf_progress = false
  local low_pos, high_pos = 1, 2
  if bracket_f[1] > bracket_f[#bracket_f] then low_pos, high_pos = 2, 1 end
  while not done and ls_iter < max_ls do
    if math.abs(bracket[2] - bracket[1]) * d_norm < tolerance_change then break end
    t = cubic_interpolate(bracket[1], bracket_f[1], bracket_gtd[1], bracket[2], bracket_f[2], bracket_gtd[2])
    local bmax, bmin = math.max(bracket[1], bracket[2]), math.min(bracket[1], bracket[2])
    local eps = 0.1 * (bmax - bmin)
    if math.min(bmax - t, t - bmin) < eps then
      if insuf_progress or t >= bmax or t <= bmin then
        if math.abs(t - bmax) < math.abs(t - bmin) then t = bmax - eps else t = bmin + eps end
        insuf_progress = false
      else
        insuf_progress = true
      end
    else
      insuf_progress = false
    end
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = ls_func_evals + 1
    gtd_new = dot(g_new, d)
    ls_iter = ls_iter + 1
    if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos] then
      bracket[high_pos], bracket_f[high_pos] = t, f_new
      bracket_g[high_pos], bracket_gtd[high_pos] = g_new:clone(), gtd_new
      if bracket_f[1] <= bracket_f[2] then low_pos, high_pos = 1, 2 else low_pos, high_pos = 2, 1 end
    else
      if math.abs(gtd_new) <= -c2 * gtd then
        done = true
      elseif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0 then
        bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
        bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
      end
      bracket[low_pos], bracket_f[low_pos] = t, f_new
      bracket_g[low_pos], bracket_gtd[low_pos] = g_new:clone(), gtd_new
    end
  end
  return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
end

function LBFGS:_gather_flat_grad()
  local views = {}
  for i, p in ipairs(self.params) do
    local g = p.grad
    views[i] = g == nil and lg.zeros(p:numel(), { dtype = p.dtype }) or g:reshape(-1)
  end
  return lg.cat(views, 1)
end

function LBFGS:_add_grad(step_size, update)
  local offset = 1
  for _, p in ipairs(self.params) do
    local n = p:numel()
    if n > 0 then p:add_(update:narrow(1, offset, n):reshape(p:shape()), { alpha = step_size }) end
    offset = offset + n
  end
end

local function loss_value(loss)
  if util.is_tensor(loss) then return loss:item() end
  if type(loss) ~= 'number' then
    util.raise('lunagrad.optim.LBFGS.step: the closure must return the loss (a tensor or a number), got ' .. type(loss))
  end
  return loss
end

--- One optimisation step: up to max_iter L-BFGS iterations on closure's loss.
function LBFGS:step(closure)
  if type(closure) ~= 'function' then
    util.raise('lunagrad.optim.LBFGS.step: expects a closure that re-evaluates the loss (got ' .. type(closure) .. ')')
  end
  local group = self.param_groups[1]
  self:check(group)
  local function eval()
    local _ <close> = lg.enable_grad()
    return closure()
  end
  local _ <close> = lg.no_grad()
  local lr, max_iter, max_eval = group.lr, group.max_iter, group.max_eval
  if max_eval == false then max_eval = max_iter * 5 // 4 end
  local tolerance_grad, tolerance_change = group.tolerance_grad, group.tolerance_change
  local line_search_fn, history_size = group.line_search_fn, group.history_size
  local state = self.state[1]
  if state == nil then
    state = {}
    self.state[1] = state
  end
  state.func_evals = state.func_evals or 0
  state.n_iter = state.n_iter or 0

  local orig_loss = eval()
  local loss = loss_value(orig_loss)
  local current_evals = 1
  state.func_evals = state.func_evals + 1
  local flat_grad = self:_gather_flat_grad()
  local opt_cond = abs_max(flat_grad) <= tolerance_grad
  if opt_cond then return orig_loss end

  local d, t, old_dirs, old_stps, ro = state.d, state.t, state.old_dirs, state.old_stps, state.ro
  local H_diag, prev_flat_grad, prev_loss = state.H_diag, state.prev_flat_grad, state.prev_loss
  local n_iter = 0
  while n_iter < max_iter do
    n_iter = n_iter + 1
    state.n_iter = state.n_iter + 1
    if state.n_iter == 1 then
      d = -flat_grad
      old_dirs, old_stps, ro = {}, {}, {}
      H_diag = 1
    else
      local y = flat_grad - prev_flat_grad
      local s = d * t
      local ys = dot(y, s)
      if ys > 1e-10 then
        if #old_dirs == history_size then
          table.remove(old_dirs, 1)
          table.remove(old_stps, 1)
          table.remove(ro, 1)
        end
        old_dirs[#old_dirs + 1] = y
        old_stps[#old_stps + 1] = s
        ro[#ro + 1] = 1. / ys
        H_diag = ys / dot(y, y)
      end
      local num_old = #old_dirs
      state.al = state.al or {}
      local al = state.al
      local q = -flat_grad
      for i = num_old, 1, -1 do
        al[i] = dot(old_stps[i], q) * ro[i]
        q = q - old_dirs[i] * al[i]
      end
      local r = q * H_diag
      for i = 1, num_old do
        local be_i = dot(old_dirs[i], r) * ro[i]
        r = r + old_stps[i] * (al[i] - be_i)
      end
      d = r
    end
    if prev_flat_grad == nil then prev_flat_grad = flat_grad:clone() else prev_flat_grad:copy(flat_grad) end
    prev_loss = loss
    if state.n_iter == 1 then
      t = math.min(1., 1. / flat_grad:abs():sum():item()) * lr
    else
      t = lr
    end
    local gtd = dot(flat_grad, d)
    if gtd > -tolerance_change then break end

    local ls_func_evals = 0
    if line_search_fn == 'strong_wolfe' then
      local x_init = {}
      for i, p in ipairs(self.params) do x_init[i] = p:clone() end
      local function obj_func(x, step_t, dir)
        self:_add_grad(step_t, dir)
        local l = loss_value(eval())
        local fg = self:_gather_flat_grad()
        for i, p in ipairs(self.params) do p:copy(x[i]) end
        return l, fg
      end
      loss, flat_grad, t, ls_func_evals = strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd)
      self:_add_grad(t, d)
      opt_cond = abs_max(flat_grad) <= tolerance_grad
    else
      self:_add_grad(t, d)
      if n_iter ~= max_iter then
        loss = loss_value(eval())
        flat_grad = self:_gather_flat_grad()
        opt_cond = abs_max(flat_grad) <= tolerance_grad
        ls_func_evals = 1
      end
    end
    current_evals = current_evals + ls_func_evals
    state.func_evals = state.func_evals + ls_func_evals
    if n_iter == max_iter then break end
    if current_evals >= max_eval then break end
    if opt_cond then break end
    if abs_max(d * t) <= tolerance_change then break end
    if math.abs(loss - prev_loss) < tolerance_change then break end
  end
  state.d, state.t, state.old_dirs, state.old_stps, state.ro = d, t, old_dirs, old_stps, ro
  state.H_diag, state.prev_flat_grad, state.prev_loss = H_diag, prev_flat_grad, prev_loss
  return orig_loss
end

return LBFGS
