-- nn.Module: the base of every layer. Holds parameters, buffers and child modules
-- in registration order, so names and parameter lists are stable across runs.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'

local Module = class.new('nn.Module')
Module.__is_module = true

-- Instances start with their bookkeeping in place, so a subclass's __init need
-- not call the parent's. `_args` keeps the constructor arguments for nn.save.
function Module.__new(cls, ...)
  local obj = {
    training = true,
    _params = {},        -- parameter names, in registration order
    _buffers = {},       -- buffer names, in registration order
    _buffer_fields = {}, -- buffer name -> field holding the tensor
    _children = {},      -- child names (strings, or integers for Sequential)
    _plain = {},         -- fields first set to something else (may hold a module later)
    _args = table.pack(...),
  }
  setmetatable(obj, cls)
  obj:__init(...)
  return obj
end

function Module:__init() end

local function add_name(list, name)
  for _, n in ipairs(list) do
    if n == name then return end
  end
  list[#list + 1] = name
end

local function is_parameter(v) return util.is_tensor(v) and v.requires_grad and v.grad_fn == nil end

-- The first assignment of a field lands here: modules become children, leaf tensors
-- that require grad become parameters, anything else is a field (so caching an
-- activation, self.features = f, registers nothing). Later assignments are raw, so
-- such fields are remembered and looked at again by the listings (see scan below).
function Module.__newindex(self, k, v)
  if util.is_module(v) then
    add_name(self._children, k)
  elseif is_parameter(v) then
    add_name(self._params, k)
  elseif type(k) == 'string' or math.type(k) == 'integer' then
    local plain = rawget(self, '_plain')
    if plain then plain[#plain + 1] = k end
  end
  rawset(self, k, v)
end

-- Registers the modules and parameters that reached a plain field by a later, raw
-- assignment (self.head = false; self.head = nn.Linear(2, 2)), in the order the fields
-- first appeared. Only the remembered plain fields are looked at, so listing the
-- parameters of a model (zero_grad, every step) stays cheap.
local function scan(m)
  local plain = rawget(m, '_plain')
  if not plain then return end
  local i = 1
  while i <= #plain do
    local k = plain[i]
    local v = rawget(m, k)
    local list = util.is_module(v) and m._children or is_parameter(v) and m._params or nil
    if list then
      add_name(list, k)
      table.remove(plain, i)
    else
      i = i + 1
    end
  end
end

function Module.__call(self, ...) return self:forward(...) end

function Module:forward()
  util.raise('lunagrad.' .. self.__typename .. ': forward is not implemented')
end

--- Registers t (made to require grad) as parameter `name`; t may be nil (e.g. no bias).
function Module:register_parameter(name, t)
  if t ~= nil then
    if not util.is_tensor(t) then
      util.raise('lunagrad.nn.Module.register_parameter: ' .. tostring(name) .. ' must be a Tensor, got ' .. type(t))
    end
    if not t.requires_grad then t.requires_grad = true end
  end
  add_name(self._params, name)
  rawset(self, name, t)
  return t
end

--- Registers t as buffer `name`: saved in state_dict, never trained. `field` is the
--- field holding it when that differs from the name (GradientReversal keeps the number in .alpha).
function Module:register_buffer(name, t, field)
  if not util.is_tensor(t) then
    util.raise('lunagrad.nn.Module.register_buffer: ' .. tostring(name) .. ' must be a Tensor, got ' .. type(t))
  end
  add_name(self._buffers, name)
  self._buffer_fields[name] = field or name
  rawset(self, field or name, t)
  return t
end

function Module:register_module(name, m)
  if not util.is_module(m) then
    util.raise('lunagrad.nn.Module.register_module: ' .. tostring(name) .. ' must be a module, got ' .. type(m))
  end
  add_name(self._children, name)
  rawset(self, name, m)
  return m
end

-- ---- traversal ---------------------------------------------------------------------

-- Pre-order walk: visit(module, prefix) for self, then each child in order.
local function walk(m, prefix, visit)
  scan(m)
  visit(m, prefix)
  for _, name in ipairs(m._children) do
    local c = rawget(m, name)
    if util.is_module(c) then walk(c, prefix .. tostring(name) .. '.', visit) end
  end
end

-- A list of {name, value} pairs that is also indexable by name and iterable
-- directly: `for name, p in m:named_parameters() do ... end`.
local function named_list(entries)
  local pos, list = {}, {}
  for i, e in ipairs(entries) do
    list[i] = e
    list[e[1]] = e[2]
    pos[e[1]] = i
  end
  return setmetatable(list, {
    __call = function(_, _, prev)
      local e = entries[prev == nil and 1 or (pos[prev] or #entries) + 1]
      if e then return e[1], e[2] end
    end,
  })
end

local function collect_named(self, kind)
  local entries, seen = {}, {}
  walk(self, '', function(m, prefix)
    if kind == 'buffers' and m._sync_buffers then m:_sync_buffers() end
    for _, name in ipairs(m[kind == 'params' and '_params' or '_buffers']) do
      local t = rawget(m, kind == 'params' and name or m._buffer_fields[name])
      if util.is_tensor(t) and not seen[t] then
        seen[t] = true
        entries[#entries + 1] = { prefix .. tostring(name), t }
      end
    end
  end)
  return entries
end

function Module:named_parameters()
  util.check_self(self, 'named_parameters')
  return named_list(collect_named(self, 'params'))
end
function Module:named_buffers()
  util.check_self(self, 'named_buffers')
  return named_list(collect_named(self, 'buffers'))
end

-- The parameters alone, without building names: zero_grad and optimisers call this
-- every step.
local function collect_params(m, out, seen)
  scan(m)
  for _, name in ipairs(m._params) do
    local t = rawget(m, name)
    if util.is_tensor(t) and not seen[t] then
      seen[t] = true
      out[#out + 1] = t
    end
  end
  for _, name in ipairs(m._children) do
    local c = rawget(m, name)
    if util.is_module(c) then collect_params(c, out, seen) end
  end
  return out
end

function Module:parameters()
  util.check_self(self, 'parameters')
  return collect_params(self, {}, {})
end

function Module:buffers()
  util.check_self(self, 'buffers')
  local out = {}
  for i, e in ipairs(collect_named(self, 'buffers')) do out[i] = e[2] end
  return out
end

function Module:named_children()
  util.check_self(self, 'named_children')
  scan(self)
  local entries = {}
  for _, name in ipairs(self._children) do
    local c = rawget(self, name)
    if util.is_module(c) then entries[#entries + 1] = { tostring(name), c } end
  end
  return named_list(entries)
end

function Module:children()
  local out = {}
  for i, e in ipairs(self:named_children()) do out[i] = e[2] end
  return out
end

--- Every module of the tree, self first (pre-order), with dotted names ('' for self).
function Module:named_modules()
  util.check_self(self, 'named_modules')
  local entries = {}
  walk(self, '', function(m, prefix) entries[#entries + 1] = { prefix:sub(1, -2), m } end)
  return named_list(entries)
end

function Module:modules()
  util.check_self(self, 'modules')
  local out = {}
  walk(self, '', function(m) out[#out + 1] = m end)
  return out
end

--- Calls fn(m) on every submodule, children before parents (PyTorch order); returns self.
function Module:apply(fn)
  util.check_self(self, 'apply', 'fn')
  for _, c in ipairs(self:children()) do c:apply(fn) end
  fn(self)
  return self
end

function Module:num_parameters()
  util.check_self(self, 'num_parameters')
  local n = 0
  for _, p in ipairs(self:parameters()) do n = n + p:numel() end
  return n
end

-- ---- modes and gradients -------------------------------------------------------------

--- Training mode (mode ~= false) for self and all submodules; returns self.
function Module:train(mode)
  util.check_self(self, 'train')
  mode = mode ~= false
  walk(self, '', function(m) m.training = mode end)
  return self
end

function Module:evaluate()
  util.check_self(self, 'evaluate')
  return self:train(false)
end
Module.eval = Module.evaluate

--- Drops the accumulated gradients (p.grad = nil), like PyTorch's set_to_none.
function Module:zero_grad()
  util.check_self(self, 'zero_grad')
  for _, p in ipairs(self:parameters()) do p.grad = nil end
  return self
end

--- Converts floating-point parameters and buffers to dtype ('float32' or 'float64'),
--- replacing the tensors (build optimisers afterwards); int64 buffers and the GRL's
--- float64 alpha are kept. Returns self.
function Module:to(dtype)
  util.check_self(self, 'to', 'dtype')
  if dtype ~= 'float32' and dtype ~= 'float64' then
    util.raise("lunagrad.nn.Module.to: dtype must be 'float32' or 'float64', got " .. tostring(dtype))
  end
  lg.no_grad(function()
    walk(self, '', function(m)
      for _, name in ipairs(m._params) do
        local p = rawget(m, name)
        if util.is_tensor(p) and p.dtype ~= dtype then
          local q = p:to(dtype)
          q.requires_grad = true
          rawset(m, name, q)
        end
      end
      for _, name in ipairs(m._buffers) do
        local field = m._buffer_fields[name]
        local b = rawget(m, field)
        if util.is_tensor(b) and b.dtype ~= dtype and b.dtype ~= 'int64' and field == name then
          rawset(m, field, b:to(dtype))
        end
      end
    end)
  end)
  return self
end

function Module:double() return self:to('float64') end
function Module:float() return self:to('float32') end

-- ---- Torch7's training interface ---------------------------------------------------
-- m:backward(input, gradOutput), m:getParameters(), m:zeroGradParameters() and
-- m:updateParameters(lr) on top of autograd (docs/from_torch7.md).

--- Torch7's m:backward(input, gradOutput [, scale]): returns gradInput (d/d input of
--- <output, gradOutput>) and adds the parameters' gradients into their .grad. Autograd
--- needs the graph of this input, so the forward is run again on a copy of input that
--- requires grad; BatchNorm's running statistics are restored afterwards (the user's own
--- forward already updated them), and a Dropout in training mode is refused (a second
--- forward would draw a different mask). loss:backward() needs no second forward.
function Module:backward(input, gradOutput, scale)
  util.check_self(self, 'backward', 'input, gradOutput')
  local name = 'lunagrad.' .. self.__typename .. '.backward'
  if not util.is_tensor(input) then util.raise(name .. ': input must be the Tensor given to forward, got ' .. type(input)) end
  if not util.is_tensor(gradOutput) then
    util.raise(name .. ': gradOutput must be a Tensor shaped like the output (d loss / d output), got ' .. type(gradOutput))
  end
  for mname, m in self:named_modules() do
    if m._stochastic and m.training and (m.p or 0) > 0 then
      util.raise(string.format("%s: module '%s' (%s) is in training mode, and m:backward runs the forward again, which "
        .. "would draw a new random mask; use loss:backward() (autograd) instead, or net:evaluate()", name, mname, m.__typename))
    end
  end
  local saved = {}
  for i, b in ipairs(self:buffers()) do saved[i] = { b, b:clone() } end
  local xi = input:detach()
  local float = xi.dtype ~= 'int64'
  if float then xi.requires_grad = true end
  local out = self:forward(xi)
  if #saved > 0 then lg.no_grad(function() for _, e in ipairs(saved) do e[1]:copy(e[2]) end end) end
  if not util.is_tensor(out) then util.raise(name .. ': forward returned ' .. type(out) .. ', not a Tensor') end
  if util.shape_str(out) ~= util.shape_str(gradOutput) then
    util.raise(string.format('%s: gradOutput has shape %s, the output %s', name, util.shape_str(gradOutput),
      util.shape_str(out)))
  end
  if scale ~= nil and scale ~= 1 then
    gradOutput = gradOutput * util.check_number(self.__typename .. '.backward', 'scale', scale)
  end
  if out.requires_grad then out:backward(gradOutput) end
  local flat = rawget(self, '_flat')
  if flat then flat.sync() end
  local gin = float and xi.grad or nil
  if float and gin == nil then gin = lg.zeros(input:shape(), { dtype = input.dtype }) end
  rawset(self, 'gradInput', gin)
  return gin
end

--- Torch7's m:getParameters(): two flat 1-d tensors, all parameters and all their
--- gradients. Afterwards the module's parameters ARE views into the flat parameter
--- tensor (as in Torch7), so an optimiser updating it in place trains the module. The
--- flat gradient tensor is refreshed from the parameters' .grad (backward makes each
--- .grad a new tensor, the running sum) by m:backward, by optim.sgd/adam (functional
--- form) and by calling m:getParameters() again, which returns the same two tensors.
--- Existing gradients are kept. Build optimisers over net:parameters() after this call.
function Module:getParameters()
  util.check_self(self, 'getParameters')
  local flat = rawget(self, '_flat')
  local params = self:parameters()
  if flat and #params == #flat.views then
    local same = true
    for i, p in ipairs(params) do same = same and rawequal(p, flat.views[i]) end
    if same then
      flat.sync()
      return flat.params, flat.grads
    end
  end
  if #params == 0 then util.raise('lunagrad.' .. self.__typename .. '.getParameters: the module has no parameters') end
  local dtype, total = params[1].dtype, 0
  for i, p in ipairs(params) do
    if p.dtype ~= dtype then
      util.raise(string.format('lunagrad.%s.getParameters: parameters mix %s and %s (parameter %d); convert with m:to(dtype)',
        self.__typename, dtype, p.dtype, i))
    end
    total = total + p:numel()
  end
  local P, G = lg.zeros(total, { dtype = dtype }), lg.zeros(total, { dtype = dtype })
  local views, gviews, replace, off = {}, {}, {}, 1
  lg.no_grad(function()
    for i, p in ipairs(params) do
      local n, shape = p:numel(), p:shape()
      local v, gv
      if #shape == 0 then v, gv = P:select(1, off), G:select(1, off)
      else v, gv = P:narrow(1, off, n):view(shape), G:narrow(1, off, n):view(shape) end
      v:copy(p)
      local g = p.grad
      if g ~= nil then gv:copy(g) end
      v.requires_grad = true
      if g ~= nil then v.grad = gv end
      views[i], gviews[i], replace[p] = v, gv, v
      off = off + n
    end
  end)
  walk(self, '', function(m) -- every field holding an old parameter now holds its view
    for _, n in ipairs(m._params) do
      local v = replace[rawget(m, n)]
      if v then rawset(m, n, v) end
    end
  end)
  local function sync()
    lg.no_grad(function()
      for i, v in ipairs(views) do
        local g, gv = v.grad, gviews[i]
        if g == nil then gv:zero_()
        elseif not rawequal(g, gv) then
          gv:copy(g)
          v.grad = gv
        end
      end
    end)
  end
  rawset(self, '_flat', { params = P, grads = G, views = views, sync = sync })
  util.flat_grads[G] = sync
  return P, G
end

--- Torch7's m:zeroGradParameters(): every parameter's gradient set to zero in place
--- (kept as a zero tensor, where m:zero_grad() drops it); returns self.
function Module:zeroGradParameters()
  util.check_self(self, 'zeroGradParameters')
  local flat = rawget(self, '_flat')
  if flat then flat.sync() end
  lg.no_grad(function()
    for _, p in ipairs(self:parameters()) do
      local g = p.grad
      if g ~= nil then g:zero_() end
    end
  end)
  return self
end

--- Torch7's m:updateParameters(lr): p = p - lr * p.grad for every parameter with a gradient.
function Module:updateParameters(lr)
  util.check_self(self, 'updateParameters', 'lr')
  lr = util.check_number(self.__typename .. '.updateParameters', 'lr', lr)
  lg.no_grad(function()
    for _, p in ipairs(self:parameters()) do
      local g = p.grad
      if g ~= nil then p:sub_(g, { alpha = lr }) end
    end
  end)
  return self
end

-- ---- state -------------------------------------------------------------------------

-- Parameters then buffers of each module, in walk order: {name, tensor, owner}.
local function state_entries(self)
  local entries, seen = {}, {}
  walk(self, '', function(m, prefix)
    if m._sync_buffers then m:_sync_buffers() end
    for _, name in ipairs(m._params) do
      local t = rawget(m, name)
      if util.is_tensor(t) and not seen[t] then
        seen[t] = true
        entries[#entries + 1] = { prefix .. tostring(name), t }
      end
    end
    for _, name in ipairs(m._buffers) do
      local t = rawget(m, m._buffer_fields[name])
      if util.is_tensor(t) and not seen[t] then
        seen[t] = true
        entries[#entries + 1] = { prefix .. tostring(name), t }
      end
    end
  end)
  return entries
end

--- {name = tensor} of every parameter and buffer: detached views sharing the
--- module's storage (PyTorch semantics: clone them for a snapshot). A plain table,
--- so lg.save(path, m:state_dict()) works; m:state_dict_keys() gives the order.
function Module:state_dict()
  util.check_self(self, 'state_dict')
  local sd = {}
  for _, e in ipairs(state_entries(self)) do sd[e[1]] = e[2]:detach() end
  return sd
end

--- The state dict's names in their stable order (parameters then buffers, per module).
function Module:state_dict_keys()
  util.check_self(self, 'state_dict_keys')
  local names = {}
  for i, e in ipairs(state_entries(self)) do names[i] = e[1] end
  return names
end

local function quoted(list)
  local q = {}
  for i, s in ipairs(list) do q[i] = "'" .. s .. "'" end
  return table.concat(q, ', ')
end

--- Copies sd's tensors into the module's own tensors (in place, under no_grad).
--- strict (default true): a missing or unexpected key is an error. Returns self,
--- then the missing and unexpected key lists.
function Module:load_state_dict(sd, strict)
  util.check_self(self, 'load_state_dict', 'sd')
  if type(sd) ~= 'table' or util.is_tensor(sd) then
    util.raise('lunagrad.nn.load_state_dict: expects a table {name = tensor}, got ' .. type(sd))
  end
  strict = strict ~= false
  local entries = state_entries(self)
  local expected, missing, unexpected = {}, {}, {}
  for _, e in ipairs(entries) do
    expected[e[1]] = true
    if sd[e[1]] == nil then missing[#missing + 1] = e[1] end
  end
  for k in pairs(sd) do
    if not expected[k] then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  if strict and (#missing > 0 or #unexpected > 0) then
    local parts = {}
    if #missing > 0 then parts[#parts + 1] = 'missing key(s) ' .. quoted(missing) end
    if #unexpected > 0 then parts[#parts + 1] = 'unexpected key(s) ' .. quoted(unexpected) end
    util.raise('lunagrad.nn.load_state_dict: ' .. table.concat(parts, '; ') .. ' in state dict for '
      .. self.__typename)
  end
  for _, e in ipairs(entries) do
    local src, dst = sd[e[1]], e[2]
    if src ~= nil then
      if not util.is_tensor(src) then
        util.raise("lunagrad.nn.load_state_dict: '" .. e[1] .. "' must be a Tensor, got " .. type(src))
      end
      if util.shape_str(src) ~= util.shape_str(dst) then
        util.raise(string.format("lunagrad.nn.load_state_dict: size mismatch for '%s': expected %s, got %s",
          e[1], util.shape_str(dst), util.shape_str(src)))
      end
    end
  end
  lg.no_grad(function()
    for _, e in ipairs(entries) do
      local src = sd[e[1]]
      if src ~= nil then e[2]:copy(src) end
    end
  end)
  walk(self, '', function(m) if m._after_load then m:_after_load() end end)
  return self, missing, unexpected
end

-- ---- printing and saving -------------------------------------------------------------

--- One-line description of the module's settings, shown by tostring (override it).
function Module:extra_repr() return '' end

function Module.__tostring(self)
  local head = self.__typename .. '(' .. (self:extra_repr() or '')
  if #self:named_children() == 0 then return head .. ')' end
  local lines = { head }
  for _, e in ipairs(self:named_children()) do
    lines[#lines + 1] = '  (' .. e[1] .. '): ' .. tostring(e[2]):gsub('\n', '\n  ')
  end
  lines[#lines + 1] = ')'
  return table.concat(lines, '\n')
end

--- Saves state and architecture to a safetensors file (see nn.save).
function Module:save(path)
  util.check_self(self, 'save', 'path')
  return require('lunagrad.nn.serialize').save(self, path)
end

return Module
