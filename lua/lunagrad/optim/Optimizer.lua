-- Shared base of the optimisers, PyTorch's torch.optim.Optimizer: parameter groups
-- (each a table {params = {...}, lr = ..., ...} whose hyper-parameters may be changed
-- between steps), per-parameter state, zero_grad, state_dict / load_state_dict.
--
--   optim.SGD(net:parameters(), {lr = 0.1})                      one group
--   optim.SGD({{params = a, lr = 0.1}, {params = b}}, {lr = 0.01, momentum = 0.9})
--   opt.param_groups[2].lr = 0.001 ; opt:add_param_group{params = head:parameters(), lr = 0.1}
--   opt.lr                 the first group's lr; opt.lr = v sets it in every group
--
-- State is keyed by the parameter's position in opt.params (all groups' parameters in
-- order, 1-based), as PyTorch's state_dict numbers them (0-based there).
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'

local Optimizer = {}
Optimizer.__index = Optimizer

-- Keys the learning-rate schedulers keep in a group (as PyTorch's do), accepted by load_state_dict.
Optimizer.SCHEDULER_KEYS = util.set { 'initial_lr', 'max_lr', 'min_lr', 'base_momentum', 'max_momentum' }

--- Marks a hyper-parameter without a default (SGD's lr).
Optimizer.REQUIRED = setmetatable({}, { __tostring = function() return '<required>' end })

local function copy_value(v)
  if util.is_tensor(v) then return v:clone() end
  if v == Optimizer.REQUIRED then return v end
  if type(v) ~= 'table' then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy_value(x) end
  return out
end

--- Makes a subclass; `defaults` maps each hyper-parameter to its default value.
function Optimizer.subclass(name, defaults)
  local cls = setmetatable({ name = name, defaults = defaults }, { __index = Optimizer })
  -- opt.lr reads the first group's value; opt.lr = v writes every group's.
  cls.__index = function(self, k)
    if defaults[k] ~= nil then
      local groups = rawget(self, 'param_groups')
      if groups and groups[1] then return groups[1][k] end
    end
    return cls[k]
  end
  cls.__newindex = function(self, k, v)
    if defaults[k] ~= nil then
      for _, g in ipairs(self.param_groups) do g[k] = copy_value(v) end
    else
      rawset(self, k, v)
    end
  end
  cls.__tostring = Optimizer.__tostring
  return cls
end

local function where(gi, multi) return multi and ('param group ' .. gi .. ': ') or '' end

-- The parameter list of a group: a list of tensors, one tensor, or a module (its parameters()).
local function group_params(self, params, gi, multi)
  local name = self.name
  if util.is_module(params) then params = params:parameters() end
  if util.is_tensor(params) and multi then params = { params } end
  if type(params) ~= 'table' or util.is_tensor(params) then
    util.raise(string.format('lunagrad.optim.%s: %sparams must be a list of tensors (e.g. m:parameters()), got %s',
      name, where(gi, multi), util.is_tensor(params) and 'a Tensor' or type(params)))
  end
  local list, seen = {}, {}
  for i, p in ipairs(params) do
    if not util.is_tensor(p) then
      util.raise(string.format('lunagrad.optim.%s: %sparams[%d] is not a Tensor (got %s)', name, where(gi, multi), i,
        type(p)))
    end
    if not p.requires_grad then
      util.raise(string.format('lunagrad.optim.%s: %sparams[%d] does not require grad', name, where(gi, multi), i))
    end
    if p.grad_fn ~= nil then
      util.raise(string.format('lunagrad.optim.%s: %sparams[%d] is not a leaf tensor (it has grad_fn %s)', name,
        where(gi, multi), i, p.grad_fn))
    end
    if seen[p] then util.raise(string.format('lunagrad.optim.%s: %sparams[%d] appears twice', name, where(gi, multi), i)) end
    local other = self._group_of and self._group_of[p]
    if other then
      util.raise(string.format('lunagrad.optim.%s: %sparams[%d] is already in parameter group %d', name,
        where(gi, multi), i, other))
    end
    seen[p] = true
    list[i] = p
  end
  if #list == 0 then util.raise('lunagrad.optim.' .. name .. ': ' .. where(gi, multi) .. 'got an empty parameter list') end
  return list
end

-- True when params is a list of group tables rather than of tensors.
local function is_group_list(params)
  if type(params) ~= 'table' or util.is_tensor(params) or util.is_module(params) then return false end
  if params.params ~= nil then return false end
  local first = params[1]
  return type(first) == 'table' and not util.is_tensor(first) and not util.is_module(first)
end

--- cls.new(params, opts): validated by cls.check(self, group) for each group.
function Optimizer.create(cls, params, opts)
  local self = setmetatable({ param_groups = {}, params = {}, state = {}, _group_of = {}, _index = {} }, cls)
  local allowed = {}
  for k in pairs(cls.defaults) do allowed[k] = true end
  opts = util.options('optim.' .. cls.name, opts, allowed)
  local defaults = {}
  for k, v in pairs(cls.defaults) do
    if opts[k] ~= nil then defaults[k] = copy_value(opts[k]) else defaults[k] = v end
  end
  rawset(self, 'defaults', defaults)
  if type(params) == 'table' and not util.is_tensor(params) and not util.is_module(params) and params.params ~= nil then
    params = { params } -- one group given as a table
  end
  if is_group_list(params) then
    rawset(self, '_multi', true)
    for gi, g in ipairs(params) do self:add_param_group(g, gi) end
  else
    self:add_param_group({ params = params }, 1, false)
  end
  if cls.after_create then cls.after_create(self) end
  return self
end

--- Adds a group {params = ..., hyper = value, ...}; missing hyper-parameters come from the
--- optimiser's defaults (the constructor's options).
function Optimizer:add_param_group(group, gi, multi)
  gi = gi or #self.param_groups + 1
  if multi == nil then multi = true end
  if type(group) ~= 'table' or util.is_tensor(group) or util.is_module(group) then
    util.raise(string.format('lunagrad.optim.%s: param group %d must be a table {params = ..., lr = ...}, got %s',
      self.name, gi, util.is_tensor(group) and 'a Tensor' or util.is_module(group) and 'a module' or type(group)))
  end
  if group.params == nil then
    util.raise(string.format('lunagrad.optim.%s: param group %d has no params (expected {params = tensors, ...})',
      self.name, gi))
  end
  local keys = {}
  for k in pairs(group) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if k ~= 'params' and self.defaults[k] == nil and not Optimizer.SCHEDULER_KEYS[k] then
      local names = {}
      for n in pairs(self.defaults) do names[#names + 1] = n end
      table.sort(names)
      util.raise(string.format("lunagrad.optim.%s: param group %d has unknown option '%s' (known: params, %s)",
        self.name, gi, k, table.concat(names, ', ')))
    end
  end
  local g = { params = group_params(self, group.params, gi, multi) }
  for k, v in pairs(self.defaults) do
    if group[k] ~= nil then g[k] = copy_value(group[k]) else g[k] = copy_value(v) end
  end
  for k in pairs(Optimizer.SCHEDULER_KEYS) do g[k] = group[k] end
  self:check(g, multi and gi or nil)
  local index = #self.param_groups + 1
  self.param_groups[index] = g
  for _, p in ipairs(g.params) do
    self.params[#self.params + 1] = p
    self._group_of[p] = index
    self._index[p] = #self.params
  end
  return self
end

--- Checks group[key] is a number in [lo, hi] (gi names the group in the message when set).
function Optimizer:check_hyper(group, key, lo, hi, gi)
  local v = group[key]
  local prefix = gi and ('param group ' .. gi .. ': ') or ''
  if v == Optimizer.REQUIRED then
    util.raise(string.format('lunagrad.optim.%s: %s%s is required (e.g. {%s = 0.01})', self.name, prefix, key, key))
  end
  if type(v) ~= 'number' or v ~= v or v < lo or (hi and v > hi) then
    util.raise(string.format('lunagrad.optim.%s: %s%s must be a number in [%g, %s], got %s', self.name, prefix, key, lo,
      hi and string.format('%g', hi) or 'inf', tostring(v)))
  end
end

--- betas = {b1, b2}, each in [0, 1).
function Optimizer:check_betas(group, gi)
  local b = group.betas
  if type(b) ~= 'table' or type(b[1]) ~= 'number' or type(b[2]) ~= 'number' or b[1] < 0 or b[1] >= 1
      or b[2] < 0 or b[2] >= 1 then
    util.raise('lunagrad.optim.' .. self.name .. ': ' .. (gi and ('param group ' .. gi .. ': ') or '')
      .. 'betas must be {b1, b2} with each in [0, 1)')
  end
end

function Optimizer:check() end

--- One update of every parameter that has a gradient (in place, without recording).
--- closure (optional): re-evaluates the model and returns the loss, run with grad
--- enabled first; step returns its result.
function Optimizer:step(closure)
  local loss
  if closure ~= nil then
    if type(closure) ~= 'function' then
      util.raise('lunagrad.optim.' .. self.name .. '.step: closure must be a function, got ' .. type(closure))
    end
    local _ <close> = lg.enable_grad()
    loss = closure()
  end
  for gi, g in ipairs(self.param_groups) do self:check(g, #self.param_groups > 1 and gi or nil) end
  local _ <close> = lg.no_grad()
  for i, p in ipairs(self.params) do
    local g = p.grad
    if g ~= nil then
      local st = self.state[i]
      if st == nil then
        st = {}
        self.state[i] = st
      end
      self:update(p, g, st, self.param_groups[self._group_of[p]])
    end
  end
  return loss
end

--- Drops the parameters' gradients (p.grad = nil).
function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do p.grad = nil end
end

--- {state = {[i] = {step=, exp_avg=, ...}}, param_groups = {{lr=, ..., params = {i, ...}}}}:
--- a snapshot (tensors cloned) from which load_state_dict resumes bit-identically;
--- lg.save writes it as it is.
function Optimizer:state_dict()
  local state = {}
  for i, st in pairs(self.state) do state[i] = copy_value(st) end
  local groups = {}
  for gi, g in ipairs(self.param_groups) do
    local out = {}
    for k, v in pairs(g) do
      if k ~= 'params' then out[k] = copy_value(v) end
    end
    local idx = {}
    for j, p in ipairs(g.params) do idx[j] = self._index[p] end
    out.params = idx
    groups[gi] = out
  end
  return { state = state, param_groups = groups }
end

function Optimizer:load_state_dict(sd)
  local name = 'lunagrad.optim.' .. self.name .. '.load_state_dict'
  if type(sd) ~= 'table' or type(sd.state) ~= 'table' or type(sd.param_groups) ~= 'table' then
    util.raise(name .. ': expects the table returned by state_dict()')
  end
  if #sd.param_groups ~= #self.param_groups then
    util.raise(string.format('%s: the state dict has %d parameter groups, the optimizer %d', name, #sd.param_groups,
      #self.param_groups))
  end
  local indices = {}
  for i in pairs(sd.state) do
    if math.type(i) ~= 'integer' or self.params[i] == nil then
      util.raise(string.format('%s: state for parameter %s but the optimizer has %d', name, tostring(i), #self.params))
    end
    indices[#indices + 1] = i
  end
  for gi, group in ipairs(sd.param_groups) do
    if type(group) ~= 'table' then util.raise(string.format('%s: param_groups[%d] is not a table', name, gi)) end
    for k in pairs(group) do
      if k ~= 'params' and self.defaults[k] == nil and not Optimizer.SCHEDULER_KEYS[k] then
        util.raise(name .. ": unknown hyper-parameter '" .. tostring(k) .. "'")
      end
    end
    if group.params ~= nil and (type(group.params) ~= 'table' or #group.params ~= #self.param_groups[gi].params) then
      util.raise(string.format('%s: param group %d has %s parameters in the state dict, the optimizer %d', name, gi,
        type(group.params) == 'table' and tostring(#group.params) or 'no list of', #self.param_groups[gi].params))
    end
  end
  table.sort(indices) -- checked in a fixed order so the error names the first problem
  for _, i in ipairs(indices) do
    local p, st, keys = self.params[i], sd.state[i], {}
    if type(st) ~= 'table' then util.raise(string.format('%s: state of parameter %d is not a table', name, i)) end
    for k in pairs(st) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = st[k]
      if util.is_tensor(v) and self.flat_state == nil and util.shape_str(v) ~= util.shape_str(p) then
        util.raise(string.format('%s: %s of parameter %d has shape %s, the parameter %s', name, k, i,
          util.shape_str(v), util.shape_str(p)))
      end
    end
  end
  local state = {}
  for i, st in pairs(sd.state) do state[i] = copy_value(st) end
  local saved = {}
  for gi, g in ipairs(self.param_groups) do
    saved[gi] = {}
    for k, v in pairs(g) do saved[gi][k] = v end
    for k, v in pairs(sd.param_groups[gi]) do
      if k ~= 'params' then g[k] = copy_value(v) end
    end
  end
  for gi, g in ipairs(self.param_groups) do
    local ok, err = pcall(self.check, self, g, #self.param_groups > 1 and gi or nil)
    if not ok then
      for k in pairs(g) do g[k] = nil end
      for k, v in pairs(saved[gi]) do g[k] = v end
      error(err, 0)
    end
  end
  rawset(self, 'state', state)
  return self
end

function Optimizer.__tostring(self)
  local keys = {}
  for k in pairs(self.defaults) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  local g = self.param_groups[1]
  for i, k in ipairs(keys) do
    local v = g[k]
    parts[i] = k .. '=' .. (type(v) == 'table' and '{' .. table.concat(v, ', ') .. '}' or tostring(v))
  end
  local groups = #self.param_groups > 1 and string.format(' in %d groups', #self.param_groups) or ''
  return string.format('optim.%s(%d params%s; %s)', self.name, #self.params, groups, table.concat(parts, ', '))
end

return Optimizer
