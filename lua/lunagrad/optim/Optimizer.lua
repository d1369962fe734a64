-- Shared base of the optimisers: parameter list, hyper-parameters as mutable fields
-- (opt.lr = ... between steps), per-parameter state, zero_grad and state_dict.
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'

local Optimizer = {}
Optimizer.__index = Optimizer

--- Makes a subclass; `defaults` maps each hyper-parameter to its default value.
function Optimizer.subclass(name, defaults)
  local cls = setmetatable({ name = name, defaults = defaults }, { __index = Optimizer })
  cls.__index = cls
  cls.__tostring = Optimizer.__tostring
  return cls
end

-- Accepts a list of tensors or a module (its parameters()).
local function param_list(name, params)
  if util.is_module(params) then params = params:parameters() end
  if type(params) ~= 'table' or util.is_tensor(params) then
    util.raise(string.format('lunagrad.optim.%s: params must be a list of tensors (e.g. m:parameters()), got %s',
      name, util.is_tensor(params) and 'a Tensor' or type(params)))
  end
  local list, seen = {}, {}
  for i, p in ipairs(params) do
    if not util.is_tensor(p) then
      util.raise(string.format('lunagrad.optim.%s: params[%d] is not a Tensor (got %s)', name, i, type(p)))
    end
    if not p.requires_grad then
      util.raise(string.format('lunagrad.optim.%s: params[%d] does not require grad', name, i))
    end
    if p.grad_fn ~= nil then
      util.raise(string.format('lunagrad.optim.%s: params[%d] is not a leaf tensor (it has grad_fn %s)', name, i,
        p.grad_fn))
    end
    if seen[p] then util.raise(string.format('lunagrad.optim.%s: params[%d] appears twice', name, i)) end
    seen[p] = true
    list[i] = p
  end
  if #list == 0 then util.raise('lunagrad.optim.' .. name .. ': got an empty parameter list') end
  return list
end

--- cls.new(params, opts): validated by cls.check(self) after defaults are filled in.
function Optimizer.create(cls, params, opts)
  local self = setmetatable({ params = param_list(cls.name, params), state = {} }, cls)
  local allowed = {}
  for k in pairs(cls.defaults) do allowed[k] = true end
  opts = util.options('optim.' .. cls.name, opts, allowed)
  for k, v in pairs(cls.defaults) do
    if opts[k] ~= nil then self[k] = opts[k] else self[k] = v end
  end
  self:check()
  return self
end

--- Marks a hyper-parameter without a default (SGD's lr).
Optimizer.REQUIRED = setmetatable({}, { __tostring = function() return '<required>' end })

function Optimizer:check_hyper(key, lo, hi)
  local v = self[key]
  if v == Optimizer.REQUIRED then
    util.raise(string.format('lunagrad.optim.%s: %s is required (e.g. {%s = 0.01})', self.name, key, key))
  end
  if type(v) ~= 'number' or v ~= v or v < lo or (hi and v > hi) then
    util.raise(string.format('lunagrad.optim.%s: %s must be a number in [%g, %s], got %s', self.name, key, lo,
      hi and string.format('%g', hi) or 'inf', tostring(v)))
  end
end

--- One update of every parameter that has a gradient (in place, without recording).
function Optimizer:step()
  self:check()
  lg.no_grad(function()
    for i, p in ipairs(self.params) do
      local g = p.grad
      if g ~= nil then
        local st = self.state[i]
        if st == nil then
          st = {}
          self.state[i] = st
        end
        self:update(p, g, st)
      end
    end
  end)
end

--- Drops the parameters' gradients (p.grad = nil).
function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do p.grad = nil end
end

local function copy_state(st)
  local out = {}
  for k, v in pairs(st) do out[k] = util.is_tensor(v) and v:clone() or v end
  return out
end

--- {state = {[i] = {step=, exp_avg=, ...}}, param_groups = {{lr=, ...}}}: a snapshot
--- (tensors cloned) from which load_state_dict resumes bit-identically.
function Optimizer:state_dict()
  local state = {}
  for i, st in pairs(self.state) do state[i] = copy_state(st) end
  local group = {}
  for k in pairs(self.defaults) do group[k] = type(self[k]) == 'table' and { table.unpack(self[k]) } or self[k] end
  return { state = state, param_groups = { group } }
end

function Optimizer:load_state_dict(sd)
  local name = 'lunagrad.optim.' .. self.name .. '.load_state_dict'
  if type(sd) ~= 'table' or type(sd.state) ~= 'table' or type(sd.param_groups) ~= 'table' then
    util.raise(name .. ': expects the table returned by state_dict()')
  end
  local group = sd.param_groups[1] or {}
  for k in pairs(group) do
    if self.defaults[k] == nil then util.raise(name .. ": unknown hyper-parameter '" .. tostring(k) .. "'") end
  end
  local indices = {}
  for i in pairs(sd.state) do
    if math.type(i) ~= 'integer' or self.params[i] == nil then
      util.raise(string.format('%s: state for parameter %s but the optimizer has %d', name, tostring(i), #self.params))
    end
    indices[#indices + 1] = i
  end
  table.sort(indices) -- checked in a fixed order so the error names the first problem
  for _, i in ipairs(indices) do
    local p, st, keys = self.params[i], sd.state[i], {}
    for k in pairs(st) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = st[k]
      if util.is_tensor(v) and util.shape_str(v) ~= util.shape_str(p) then
        util.raise(string.format('%s: %s of parameter %d has shape %s, the parameter %s', name, k, i,
          util.shape_str(v), util.shape_str(p)))
      end
    end
  end
  local state = {}
  for i, st in pairs(sd.state) do state[i] = copy_state(st) end
  self.state = state
  for k, v in pairs(group) do self[k] = type(v) == 'table' and { table.unpack(v) } or v end
  self:check()
  return self
end

function Optimizer.__tostring(self)
  local keys = {}
  for k in pairs(self.defaults) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = self[k]
    parts[i] = k .. '=' .. (type(v) == 'table' and '{' .. table.concat(v, ', ') .. '}' or tostring(v))
  end
  return string.format('optim.%s(%d params; %s)', self.name, #self.params, table.concat(parts, ', '))
end

return Optimizer
