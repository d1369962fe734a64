-- optim.lr_scheduler: PyTorch's torch.optim.lr_scheduler (1.13), the same recursive
-- ("chainable") updates so the learning rates agree with PyTorch's to the last bits.
-- Arguments as PyTorch's, positional or in a trailing options table:
--   local sched = lr_scheduler.StepLR(opt, 30, 0.1)   or   lr_scheduler.StepLR(opt, {step_size = 30, gamma = 0.1})
--   for epoch = 1, n do train(); opt:step(); sched:step() end ; sched:get_last_lr() -> {lr of group 1, ...}
-- Every scheduler writes group.lr of each of the optimiser's parameter groups, keeps
-- group.initial_lr as PyTorch does, and has state_dict / load_state_dict (plain
-- values, so lg.save writes them). DannLR is the DANN paper's mu_p = mu_0 / (1 + alpha p)^beta.
local util = require 'lunagrad.nn.util'
local schedule = require 'lunagrad.optim.schedule'

local lr_scheduler = {}

local function raise(name, fmt, ...)
  util.raise(string.format('lunagrad.optim.lr_scheduler.%s: ' .. fmt, name, ...))
end

local function is_optimizer(o)
  return type(o) == 'table' and type(rawget(o, 'param_groups')) == 'table' and type(o.step) == 'function'
end

-- A plain options table: no metatable, at least one string key.
local function is_options(t)
  if type(t) ~= 'table' or getmetatable(t) ~= nil then return false end
  for k in pairs(t) do
    if type(k) == 'string' then return true end
  end
  return false
end

-- PyTorch-style arguments: positional values for `names`, then optionally an options
-- table with the same names. Returns a table name -> value.
local function parse_args(name, names, ...)
  local n = select('#', ...)
  local args = { ... }
  local out, known = {}, util.set(names)
  if n > 0 and is_options(args[n]) then
    for k, v in pairs(args[n]) do
      if not known[k] then
        local list = {}
        for _, nm in ipairs(names) do list[#list + 1] = nm end
        table.sort(list)
        raise(name, "unknown option '%s' (known: %s)", tostring(k), table.concat(list, ', '))
      end
      out[k] = v
    end
    n = n - 1
  end
  if n > #names then raise(name, 'takes at most %d arguments after the optimizer, got %d', #names, n) end
  for i = 1, n do
    if args[i] ~= nil then
      if out[names[i]] ~= nil then raise(name, '%s given twice', names[i]) end
      out[names[i]] = args[i]
    end
  end
  return out
end

local function check_int(name, what, v, lo)
  if math.type(v) ~= 'integer' and not (type(v) == 'number' and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53) then
    raise(name, '%s must be an integer >= %d, got %s', what, lo, tostring(v))
  end
  v = math.tointeger(v)
  if v < lo then raise(name, '%s must be an integer >= %d, got %d', what, lo, v) end
  return v
end

local function check_num(name, what, v, lo, hi)
  if type(v) ~= 'number' or v ~= v or (lo and v < lo) or (hi and v > hi) then
    raise(name, '%s must be a number%s, got %s', what,
      lo and hi and string.format(' in [%g, %g]', lo, hi) or lo and string.format(' >= %g', lo) or '', tostring(v))
  end
  return v
end

local function deep_copy(v)
  if type(v) ~= 'table' then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return out
end

-- ---- the base: PyTorch's _LRScheduler ----------------------------------------------------

local Scheduler = {}
Scheduler.__index = Scheduler
lr_scheduler.Scheduler = Scheduler

-- Fields that are wiring, not state (state_dict leaves them out).
Scheduler.NOT_STATE = { optimizer = true }

local function class(name, parent)
  local cls = setmetatable({ name = name }, { __index = parent or Scheduler })
  cls.__index = cls
  cls.__tostring = function(self)
    return string.format('lr_scheduler.%s(last_epoch = %d)', name, self.last_epoch)
  end
  return cls
end

function Scheduler.init(self, optimizer, last_epoch)
  if not is_optimizer(optimizer) then
    raise(self.name, 'bad argument #1 (an optimizer expected, got %s)', type(optimizer))
  end
  self.optimizer = optimizer
  last_epoch = last_epoch == nil and -1 or check_int(self.name, 'last_epoch', last_epoch, -1)
  for i, g in ipairs(optimizer.param_groups) do
    if last_epoch == -1 then
      if g.initial_lr == nil then g.initial_lr = g.lr end
    elseif g.initial_lr == nil then
      raise(self.name, "param 'initial_lr' is not specified in param_groups[%d] when resuming an optimizer", i)
    end
  end
  self.base_lrs = {}
  for i, g in ipairs(optimizer.param_groups) do self.base_lrs[i] = g.initial_lr end
  self.last_epoch = last_epoch
  self:_initial_step()
end

function Scheduler:_initial_step()
  self._step_count = 0
  self:step()
end

function Scheduler:group_lrs()
  local out = {}
  for i, g in ipairs(self.optimizer.param_groups) do out[i] = g.lr end
  return out
end

--- Advances one step (or, deprecated as in PyTorch, jumps to `epoch` with the closed form).
function Scheduler:step(epoch)
  self._step_count = self._step_count + 1
  local values
  if epoch == nil then
    self.last_epoch = self.last_epoch + 1
    values = self:get_lr()
  else
    self.last_epoch = epoch
    values = self._get_closed_form_lr and self:_get_closed_form_lr() or self:get_lr()
  end
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = values[i] end
  self._last_lr = self:group_lrs()
end

--- The learning rates the last step set, one per parameter group.
function Scheduler:get_last_lr() return deep_copy(self._last_lr) end

--- Every field but the optimiser and functions (PyTorch's state_dict): numbers, strings, tables.
function Scheduler:state_dict()
  local sd = {}
  for k, v in pairs(self) do
    if not self.NOT_STATE[k] and type(v) ~= 'function' then sd[k] = deep_copy(v) end
  end
  return sd
end

function Scheduler:load_state_dict(sd)
  if type(sd) ~= 'table' then raise(self.name .. '.load_state_dict', 'expects the table returned by state_dict()') end
  for k, v in pairs(sd) do
    if not self.NOT_STATE[k] then self[k] = deep_copy(v) end
  end
  return self
end

-- ---- the schedules -------------------------------------------------------------------------

local LambdaLR = class('LambdaLR')
LambdaLR.NOT_STATE = { optimizer = true, lr_lambdas = true }
--- LambdaLR(opt, lr_lambda [, last_epoch]): lr = base_lr * lr_lambda(epoch); one function or one per group.
function lr_scheduler.LambdaLR(optimizer, ...)
  local a = parse_args('LambdaLR', { 'lr_lambda', 'last_epoch' }, ...)
  local self = setmetatable({}, LambdaLR)
  if not is_optimizer(optimizer) then raise('LambdaLR', 'bad argument #1 (an optimizer expected, got %s)', type(optimizer)) end
  local n = #optimizer.param_groups
  if type(a.lr_lambda) == 'function' then
    self.lr_lambdas = {}
    for i = 1, n do self.lr_lambdas[i] = a.lr_lambda end
  elseif type(a.lr_lambda) == 'table' then
    if #a.lr_lambda ~= n then raise('LambdaLR', 'expected %d lr_lambdas, but got %d', n, #a.lr_lambda) end
    for i, f in ipairs(a.lr_lambda) do
      if type(f) ~= 'function' then raise('LambdaLR', 'lr_lambda[%d] must be a function, got %s', i, type(f)) end
    end
    self.lr_lambdas = { table.unpack(a.lr_lambda) }
  else
    raise('LambdaLR', 'lr_lambda must be a function or a list of functions, got %s', type(a.lr_lambda))
  end
  Scheduler.init(self, optimizer, a.last_epoch)
  return self
end
function LambdaLR:get_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = base * self.lr_lambdas[i](self.last_epoch) end
  return out
end

local StepLR = class('StepLR')
--- StepLR(opt, step_size [, gamma = 0.1, last_epoch]): lr * gamma every step_size steps.
function lr_scheduler.StepLR(optimizer, ...)
  local a = parse_args('StepLR', { 'step_size', 'gamma', 'last_epoch' }, ...)
  local self = setmetatable({}, StepLR)
  if a.step_size == nil then raise('StepLR', 'step_size is required') end
  self.step_size = check_int('StepLR', 'step_size', a.step_size, 1)
  self.gamma = check_num('StepLR', 'gamma', a.gamma == nil and 0.1 or a.gamma, 0)
  Scheduler.init(self, optimizer, a.last_epoch)
  return self
end
function StepLR:get_lr()
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return self:group_lrs() end
  local out = {}
  for i, lr in ipairs(self:group_lrs()) do out[i] = lr * self.gamma end
  return out
end
function StepLR:_get_closed_form_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = base * self.gamma ^ (self.last_epoch // self.step_size) end
  return out
end

local MultiStepLR = class('MultiStepLR')
--- MultiStepLR(opt, milestones [, gamma = 0.1, last_epoch]): lr * gamma at each milestone.
function lr_scheduler.MultiStepLR(optimizer, ...)
  local a = parse_args('MultiStepLR', { 'milestones', 'gamma', 'last_epoch' }, ...)
  local self = setmetatable({}, MultiStepLR)
  if type(a.milestones) ~= 'table' then raise('MultiStepLR', 'milestones must be a list of integers, got %s', type(a.milestones)) end
  self.milestones = {} -- milestone -> count (PyTorch's Counter)
  for i, m in ipairs(a.milestones) do
    m = check_int('MultiStepLR', 'milestones[' .. i .. ']', m, 0)
    self.milestones[m] = (self.milestones[m] or 0) + 1
  end
  self.gamma = check_num('MultiStepLR', 'gamma', a.gamma == nil and 0.1 or a.gamma, 0)
  Scheduler.init(self, optimizer, a.last_epoch)
  return self
end
function MultiStepLR:get_lr()
  local count = self.milestones[self.last_epoch]
  if count == nil then return self:group_lrs() end
  local out = {}
  for i, lr in ipairs(self:group_lrs()) do out[i] = lr * self.gamma ^ count end
  return out
end
function MultiStepLR:_get_closed_form_lr()
  local passed = 0
  for m, c in pairs(self.milestones) do
    if m <= self.last_epoch then passed = passed + c end
  end
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = base * self.gamma ^ passed end
  return out
end

local LinearLR = class('LinearLR')
--- LinearLR(opt [, start_factor = 1/3, end_factor = 1, total_iters = 5, last_epoch]): linear warm-up factor.
function lr_scheduler.LinearLR(optimizer, ...)
  local a = parse_args('LinearLR', { 'start_factor', 'end_factor', 'total_iters', 'last_epoch' }, ...)
  local self = setmetatable({}, LinearLR)
  self.start_factor = check_num('LinearLR', 'start_factor', a.start_factor == nil and 1.0 / 3 or a.start_factor, 0, 1)
  self.end_factor = check_num('LinearLR', 'end_factor', a.end_factor == nil and 1.0 or a.end_factor, 0, 1)
  self.total_iters = check_int('LinearLR', 'total_iters', a.total_iters == nil and 5 or a.total_iters, 1)
  Scheduler.init(self, optimizer, a.last_epoch)
  return self
end
function LinearLR:get_lr()
  local lrs = self:group_lrs()
  if self.last_epoch == 0 then
    for i, lr in ipairs(lrs) do lrs[i] = lr * self.start_factor end
    return lrs
  end
  if self.last_epoch > self.total_iters then return lrs end
  local s, e = self.start_factor, self.end_factor
  for i, lr in ipairs(lrs) do
    lrs[i] = lr * (1. + (e - s) / (self.total_iters * s + (self.last_epoch - 1) * (e - s)))
  end
  return lrs
end
function LinearLR:_get_closed_form_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    out[i] = base * (self.start_factor + (self.end_factor - self.start_factor)
      * math.min(self.total_iters, self.last_epoch) / self.total_iters)
  end
  return out
end

local ExponentialLR = class('ExponentialLR')
--- ExponentialLR(opt, gamma [, last_epoch]): lr * gamma every step.
function lr_scheduler.ExponentialLR(optimizer, ...)
  local a = parse_args('ExponentialLR', { 'gamma', 'last_epoch' }, ...)
  local self = setmetatable({}, ExponentialLR)
  if a.gamma == nil then raise('ExponentialLR', 'gamma is required') end
  self.gamma = check_num('ExponentialLR', 'gamma', a.gamma, 0)
  Scheduler.init(self, optimizer, a.last_epoch)
  return self
end
function ExponentialLR:get_lr()
  local lrs = self:group_lrs()
  if self.last_epoch == 0 then return lrs end
  for i, lr in ipairs(lrs) do lrs[i] = lr * self.gamma end
  return lrs
end
function ExponentialLR:_get_closed_form_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do out[i] = base * self.gamma ^ self.last_epoch end
  return out
end

local CosineAnnealingLR = class('CosineAnnealingLR')
--- CosineAnnealingLR(opt, T_max [, eta_min = 0, last_epoch]) (SGDR without restarts).
function lr_scheduler.CosineAnnealingLR(optimizer, ...)
  local a = parse_args('CosineAnnealingLR', { 'T_max', 'eta_min', 'last_epoch' }, ...)
  local self = setmetatable({}, CosineAnnealingLR)
  if a.T_max == nil then raise('CosineAnnealingLR', 'T_max is required') end
  self.T_max = check_int('CosineAnnealingLR', 'T_max', a.T_max, 1)
  self.eta_min = check_num('CosineAnnealingLR', 'eta_min', a.eta_min == nil and 0 or a.eta_min, 0)
  Scheduler.init(self, optimizer, a.last_epoch)
  return self
end
function CosineAnnealingLR:get_lr()
  local lrs, e, T, eta = self:group_lrs(), self.last_epoch, self.T_max, self.eta_min
  if e == 0 then return lrs end
  local out = {}
  if self._step_count == 1 and e > 0 then
    for i, base in ipairs(self.base_lrs) do out[i] = eta + (base - eta) * (1 + math.cos(e * math.pi / T)) / 2 end
  elseif (e - 1 - T) % (2 * T) == 0 then
    for i, base in ipairs(self.base_lrs) do out[i] = lrs[i] + (base - eta) * (1 - math.cos(math.pi / T)) / 2 end
  else
    for i, lr in ipairs(lrs) do
      out[i] = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - eta) + eta
    end
  end
  return out
end
function CosineAnnealingLR:_get_closed_form_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    out[i] = self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
  end
  return out
end

local WarmRestarts = class('CosineAnnealingWarmRestarts')
--- CosineAnnealingWarmRestarts(opt, T_0 [, T_mult = 1, eta_min = 0, last_epoch]) (SGDR).
function lr_scheduler.CosineAnnealingWarmRestarts(optimizer, ...)
  local a = parse_args('CosineAnnealingWarmRestarts', { 'T_0', 'T_mult', 'eta_min', 'last_epoch' }, ...)
  local self = setmetatable({}, WarmRestarts)
  if a.T_0 == nil then raise('CosineAnnealingWarmRestarts', 'T_0 is required') end
  self.T_0 = check_int('CosineAnnealingWarmRestarts', 'T_0', a.T_0, 1)
  self.T_i = self.T_0
  self.T_mult = check_int('CosineAnnealingWarmRestarts', 'T_mult', a.T_mult == nil and 1 or a.T_mult, 1)
  self.eta_min = check_num('CosineAnnealingWarmRestarts', 'eta_min', a.eta_min == nil and 0 or a.eta_min, 0)
  local last_epoch = a.last_epoch == nil and -1 or a.last_epoch
  self.T_cur = last_epoch
  Scheduler.init(self, optimizer, last_epoch)
  return self
end
function WarmRestarts:get_lr()
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    out[i] = self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
  end
  return out
end
function WarmRestarts:step(epoch)
  self._step_count = self._step_count + 1
  if epoch == nil and self.last_epoch < 0 then epoch = 0 end
  if epoch == nil then
    epoch = self.last_epoch + 1
    self.T_cur = self.T_cur + 1
    if self.T_cur >= self.T_i then
      self.T_cur = self.T_cur - self.T_i
      self.T_i = self.T_i * self.T_mult
    end
  else
    if type(epoch) ~= 'number' or epoch < 0 then
      raise('CosineAnnealingWarmRestarts', 'expected a non-negative epoch, got %s', tostring(epoch))
    end
    if epoch >= self.T_0 then
      if self.T_mult == 1 then
        self.T_cur = epoch % self.T_0
      else
        local n = math.floor(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        self.T_cur = epoch - self.T_0 * (self.T_mult ^ n - 1) / (self.T_mult - 1)
        self.T_i = self.T_0 * self.T_mult ^ n
      end
    else
      self.T_i = self.T_0
      self.T_cur = epoch
    end
  end
  self.last_epoch = math.floor(epoch)
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = self:get_lr()[i] end
  self._last_lr = self:group_lrs()
end

local OneCycleLR = class('OneCycleLR')
local ONE_CYCLE = { 'max_lr', 'total_steps', 'epochs', 'steps_per_epoch', 'pct_start', 'anneal_strategy',
  'cycle_momentum', 'base_momentum', 'max_momentum', 'div_factor', 'final_div_factor', 'three_phase', 'last_epoch' }

local function per_group(name, what, v, n)
  if type(v) == 'table' then
    if #v ~= n then raise(name, 'expected %d values for %s, got %d', n, what, #v) end
    return v
  end
  local out = {}
  for i = 1, n do out[i] = v end
  return out
end

--- OneCycleLR(opt, max_lr [, total_steps] | {max_lr=, epochs=, steps_per_epoch=, pct_start = 0.3,
--- anneal_strategy = 'cos', cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95,
--- div_factor = 25, final_div_factor = 1e4, three_phase = false}) (Smith's 1cycle; step per batch).
function lr_scheduler.OneCycleLR(optimizer, ...)
  local name = 'OneCycleLR'
  local a = parse_args(name, ONE_CYCLE, ...)
  local self = setmetatable({}, OneCycleLR)
  if not is_optimizer(optimizer) then raise(name, 'bad argument #1 (an optimizer expected, got %s)', type(optimizer)) end
  if a.max_lr == nil then raise(name, 'max_lr is required') end
  if a.total_steps ~= nil then
    self.total_steps = check_int(name, 'total_steps', a.total_steps, 1)
  elseif a.epochs ~= nil and a.steps_per_epoch ~= nil then
    self.total_steps = check_int(name, 'epochs', a.epochs, 1) * check_int(name, 'steps_per_epoch', a.steps_per_epoch, 1)
  else
    raise(name, 'you must define either total_steps or (epochs and steps_per_epoch)')
  end
  local pct = check_num(name, 'pct_start', a.pct_start == nil and 0.3 or a.pct_start, 0, 1)
  local T = self.total_steps
  if a.three_phase then
    self._schedule_phases = {
      { end_step = pct * T - 1, start_lr = 'initial_lr', end_lr = 'max_lr', start_momentum = 'max_momentum', end_momentum = 'base_momentum' },
      { end_step = 2 * pct * T - 2, start_lr = 'max_lr', end_lr = 'initial_lr', start_momentum = 'base_momentum', end_momentum = 'max_momentum' },
      { end_step = T - 1, start_lr = 'initial_lr', end_lr = 'min_lr', start_momentum = 'max_momentum', end_momentum = 'max_momentum' },
    }
  else
    self._schedule_phases = {
      { end_step = pct * T - 1, start_lr = 'initial_lr', end_lr = 'max_lr', start_momentum = 'max_momentum', end_momentum = 'base_momentum' },
      { end_step = T - 1, start_lr = 'max_lr', end_lr = 'min_lr', start_momentum = 'base_momentum', end_momentum = 'max_momentum' },
    }
  end
  self.anneal_strategy = a.anneal_strategy or 'cos'
  if self.anneal_strategy ~= 'cos' and self.anneal_strategy ~= 'linear' then
    raise(name, "anneal_strategy must be 'cos' or 'linear', got %s", tostring(self.anneal_strategy))
  end
  local groups = optimizer.param_groups
  local div = check_num(name, 'div_factor', a.div_factor == nil and 25. or a.div_factor, 0)
  local final_div = check_num(name, 'final_div_factor', a.final_div_factor == nil and 1e4 or a.final_div_factor, 0)
  local max_lrs = per_group(name, 'max_lr', a.max_lr, #groups)
  local last_epoch = a.last_epoch == nil and -1 or a.last_epoch
  if last_epoch == -1 then
    for i, g in ipairs(groups) do
      g.initial_lr = check_num(name, 'max_lr', max_lrs[i], 0) / div
      g.max_lr = max_lrs[i]
      g.min_lr = g.initial_lr / final_div
    end
  end
  self.cycle_momentum = a.cycle_momentum ~= false
  if self.cycle_momentum then
    local defaults = rawget(optimizer, 'defaults') or {}
    if defaults.momentum == nil and defaults.betas == nil then
      raise(name, 'optimizer must support momentum (momentum or betas) with the cycle_momentum option enabled')
    end
    self.use_beta1 = defaults.betas ~= nil
    local maxm = per_group(name, 'max_momentum', a.max_momentum == nil and 0.95 or a.max_momentum, #groups)
    local basem = per_group(name, 'base_momentum', a.base_momentum == nil and 0.85 or a.base_momentum, #groups)
    if last_epoch == -1 then
      for i, g in ipairs(groups) do
        if self.use_beta1 then g.betas = { maxm[i], g.betas[2] } else g.momentum = maxm[i] end
        g.max_momentum, g.base_momentum = maxm[i], basem[i]
      end
    end
  end
  Scheduler.init(self, optimizer, last_epoch)
  return self
end
function OneCycleLR:anneal(start, stop, pct)
  if self.anneal_strategy == 'cos' then return stop + (start - stop) / 2.0 * (math.cos(math.pi * pct) + 1) end
  return (stop - start) * pct + start
end
function OneCycleLR:get_lr()
  local step_num = self.last_epoch
  if step_num > self.total_steps then
    raise('OneCycleLR', 'tried to step %d times; the specified number of total steps is %d', step_num + 1,
      self.total_steps)
  end
  local lrs = {}
  for gi, g in ipairs(self.optimizer.param_groups) do
    local start_step, lr, mom = 0, nil, nil
    for i, phase in ipairs(self._schedule_phases) do
      local end_step = phase.end_step
      if step_num <= end_step or i == #self._schedule_phases then
        local pct = (step_num - start_step) / (end_step - start_step)
        lr = self:anneal(g[phase.start_lr], g[phase.end_lr], pct)
        if self.cycle_momentum then mom = self:anneal(g[phase.start_momentum], g[phase.end_momentum], pct) end
        break
      end
      start_step = phase.end_step
    end
    lrs[gi] = lr
    if self.cycle_momentum then
      if self.use_beta1 then g.betas = { mom, g.betas[2] } else g.momentum = mom end
    end
  end
  return lrs
end

local SequentialLR = class('SequentialLR')
SequentialLR.NOT_STATE = { optimizer = true, _schedulers = true }
--- SequentialLR(opt, schedulers, milestones [, last_epoch]): schedulers[i + 1] from milestones[i] on.
function lr_scheduler.SequentialLR(optimizer, ...)
  local name = 'SequentialLR'
  local a = parse_args(name, { 'schedulers', 'milestones', 'last_epoch' }, ...)
  local self = setmetatable({}, SequentialLR)
  if not is_optimizer(optimizer) then raise(name, 'bad argument #1 (an optimizer expected, got %s)', type(optimizer)) end
  if type(a.schedulers) ~= 'table' or #a.schedulers == 0 then raise(name, 'schedulers must be a non-empty list') end
  for i, s in ipairs(a.schedulers) do
    if type(s) ~= 'table' or s.optimizer ~= optimizer then
      raise(name, 'expects all schedulers to belong to the same optimizer, but scheduler %d does not', i)
    end
  end
  if type(a.milestones) ~= 'table' or #a.milestones ~= #a.schedulers - 1 then
    raise(name, 'expects one milestone fewer than schedulers, got %d schedulers and %s milestones', #a.schedulers,
      type(a.milestones) == 'table' and tostring(#a.milestones) or 'no list of')
  end
  self._schedulers = { table.unpack(a.schedulers) }
  self._milestones = {}
  for i, m in ipairs(a.milestones) do self._milestones[i] = check_int(name, 'milestones[' .. i .. ']', m, 0) end
  self.last_epoch = (a.last_epoch == nil and -1 or a.last_epoch) + 1
  self.optimizer = optimizer
  for _, g in ipairs(optimizer.param_groups) do g.lr = g.initial_lr end
  for _, s in ipairs(self._schedulers) do s.last_epoch = s.last_epoch - 1 end
  self._schedulers[1]:_initial_step()
  self._last_lr = self._schedulers[1]:get_last_lr()
  return self
end
function SequentialLR:step()
  self.last_epoch = self.last_epoch + 1
  local idx = 0 -- bisect_right: milestones <= last_epoch
  for _, m in ipairs(self._milestones) do
    if m <= self.last_epoch then idx = idx + 1 end
  end
  local s = self._schedulers[idx + 1]
  if idx > 0 and self._milestones[idx] == self.last_epoch then s:step(0) else s:step() end
  self._last_lr = s:get_last_lr()
end
function SequentialLR:state_dict()
  local sd = Scheduler.state_dict(self)
  sd._schedulers = {}
  for i, s in ipairs(self._schedulers) do sd._schedulers[i] = s:state_dict() end
  return sd
end
function SequentialLR:load_state_dict(sd)
  Scheduler.load_state_dict(self, sd)
  for i, s in ipairs(sd._schedulers or {}) do self._schedulers[i]:load_state_dict(s) end
  return self
end

local Plateau = class('ReduceLROnPlateau')
--- ReduceLROnPlateau(opt [, {mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4,
--- threshold_mode = 'rel', cooldown = 0, min_lr = 0, eps = 1e-8}]); sched:step(metric).
function lr_scheduler.ReduceLROnPlateau(optimizer, ...)
  local name = 'ReduceLROnPlateau'
  local a = parse_args(name, { 'mode', 'factor', 'patience', 'threshold', 'threshold_mode', 'cooldown', 'min_lr',
    'eps' }, ...)
  if not is_optimizer(optimizer) then raise(name, 'bad argument #1 (an optimizer expected, got %s)', type(optimizer)) end
  local self = setmetatable({ optimizer = optimizer }, Plateau)
  self.factor = check_num(name, 'factor', a.factor == nil and 0.1 or a.factor, 0)
  if self.factor >= 1.0 then raise(name, 'factor should be < 1.0, got %g', self.factor) end
  local n = #optimizer.param_groups
  self.min_lrs = per_group(name, 'min_lr', a.min_lr == nil and 0 or a.min_lr, n)
  for i, v in ipairs(self.min_lrs) do check_num(name, 'min_lr[' .. i .. ']', v, 0) end
  self.min_lrs = { table.unpack(self.min_lrs) }
  self.patience = check_int(name, 'patience', a.patience == nil and 10 or a.patience, 0)
  self.cooldown = check_int(name, 'cooldown', a.cooldown == nil and 0 or a.cooldown, 0)
  self.cooldown_counter = 0
  self.mode = a.mode or 'min'
  if self.mode ~= 'min' and self.mode ~= 'max' then raise(name, "mode must be 'min' or 'max', got %s", tostring(self.mode)) end
  self.threshold = check_num(name, 'threshold', a.threshold == nil and 1e-4 or a.threshold)
  self.threshold_mode = a.threshold_mode or 'rel'
  if self.threshold_mode ~= 'rel' and self.threshold_mode ~= 'abs' then
    raise(name, "threshold_mode must be 'rel' or 'abs', got %s", tostring(self.threshold_mode))
  end
  self.eps = check_num(name, 'eps', a.eps == nil and 1e-8 or a.eps, 0)
  self.last_epoch = 0
  self.mode_worse = self.mode == 'min' and math.huge or -math.huge
  self.best = self.mode_worse
  self.num_bad_epochs = 0
  self._last_lr = self:group_lrs()
  return self
end
function Plateau:is_better(a, best)
  if self.mode == 'min' and self.threshold_mode == 'rel' then return a < best * (1. - self.threshold) end
  if self.mode == 'min' then return a < best - self.threshold end
  if self.threshold_mode == 'rel' then return a > best * (self.threshold + 1.) end
  return a > best + self.threshold
end
--- One epoch's metric (a number or a 1-element tensor).
function Plateau:step(metrics)
  local current = metrics
  if util.is_tensor(metrics) then current = metrics:item() end
  if type(current) ~= 'number' then
    raise('ReduceLROnPlateau.step', 'expects the metric (a number or a 1-element tensor), got %s', type(metrics))
  end
  self.last_epoch = self.last_epoch + 1
  if self:is_better(current, self.best) then
    self.best = current
    self.num_bad_epochs = 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0
  end
  if self.num_bad_epochs > self.patience then
    for i, g in ipairs(self.optimizer.param_groups) do
      local old_lr = g.lr
      local new_lr = math.max(old_lr * self.factor, self.min_lrs[i])
      if old_lr - new_lr > self.eps then g.lr = new_lr end
    end
    self.cooldown_counter = self.cooldown
    self.num_bad_epochs = 0
  end
  self._last_lr = self:group_lrs()
end

local DannLR = class('DannLR')
--- DannLR(opt, {total_steps = n [, alpha = 10, beta = 0.75]}): the DANN paper's annealing,
--- lr = base_lr / (1 + alpha p)^beta with p = min(step / total_steps, 1) (optim.schedule.dann_lr).
function lr_scheduler.DannLR(optimizer, ...)
  local name = 'DannLR'
  local a = parse_args(name, { 'total_steps', 'alpha', 'beta', 'last_epoch' }, ...)
  local self = setmetatable({}, DannLR)
  if a.total_steps == nil then raise(name, 'total_steps is required') end
  self.total_steps = check_int(name, 'total_steps', a.total_steps, 1)
  self.alpha = check_num(name, 'alpha', a.alpha == nil and 10 or a.alpha, 0)
  self.beta = check_num(name, 'beta', a.beta == nil and 0.75 or a.beta)
  Scheduler.init(self, optimizer, a.last_epoch)
  return self
end
function DannLR:get_lr()
  local p = math.min(self.last_epoch / self.total_steps, 1)
  local out = {}
  for i, base in ipairs(self.base_lrs) do
    out[i] = schedule.dann_lr(p, { mu0 = base, alpha = self.alpha, beta = self.beta })
  end
  return out
end
DannLR._get_closed_form_lr = DannLR.get_lr

return lr_scheduler
