-- lunagrad.Function: custom differentiable ops written in Lua (PyTorch's
-- torch.autograd.Function). docs/custom_ops.md has the guide.
--
--   local Double = lg.Function{
--     name = 'Double', -- optional: the outputs' grad_fn (default 'Function')
--     forward = function(ctx, x, k) ctx.k = k; return x * k end,
--     backward = function(ctx, g) return g * ctx.k, nil end, -- one value per argument
--   }
--   local y = Double(x, 2) -- or Double.apply(x, 2)
--
-- forward runs with grad recording off. If an argument requires grad, the
-- outputs get one autograd node (src/core/custom.c) whose rule calls the runner
-- below from C (src/lua/function.c): backward receives one gradient per output
-- (zeros for outputs nothing used) and returns one gradient (or nil) per argument.
-- Under create_graph, backward runs with grad mode on, so a backward written with
-- differentiable ops can be differentiated again.
--
-- Lifetime: tensors given to ctx:save_for_backward live in the node (freed after
-- backward unless retain_graph, like a built-in op's), an output among them is
-- kept detached; the outputs returned to the caller are new aliases of what
-- forward returned, so ctx may hold forward's tensors without a reference cycle.
local core = require 'lunagrad.core'

local is_tensor, is_grad_enabled, set_grad_enabled = core.is_tensor, core.is_grad_enabled, core.set_grad_enabled
local record = core._function_record
local pack, unpack, move = table.pack, table.unpack, table.move

local SAVED, FORWARD, NAME = {}, {}, {} -- private ctx keys
local NONE = {n = 0}

local Ctx = {}

local ctx_meta = {
  __name = 'lunagrad.FunctionCtx',
  __index = function(ctx, key)
    local method = Ctx[key]
    if method ~= nil then return method end
    if key == 'saved_tensors' then
      error(string.format("lunagrad.Function '%s': ctx.saved_tensors is only available in backward",
        rawget(ctx, NAME)), 2)
    end
    return nil
  end,
}

--- ctx:save_for_backward(t1, t2, ...): tensors (or nils) for backward's ctx.saved_tensors.
function Ctx:save_for_backward(...)
  local name = rawget(self, NAME)
  if not rawget(self, FORWARD) then
    error(string.format("lunagrad.Function '%s': ctx:save_for_backward can only be called in forward", name), 2)
  end
  local saved = pack(...)
  for i = 1, saved.n do
    local v = saved[i]
    if v ~= nil and not is_tensor(v) then
      error(string.format("lunagrad.Function '%s': ctx:save_for_backward: argument %d is a %s, not a tensor "
        .. "(keep other values in ctx fields)", name, i, type(v)), 2)
    end
  end
  rawset(self, SAVED, saved)
end

local function plural(n, word) return n .. ' ' .. word .. (n == 1 and '' or 's') end

-- What the C rule calls: backward(ctx, grads...) -> the gradient list, checked
-- for count and types (function.c checks the shapes). `kinds[i]` is true for a
-- tensor argument, else the argument's type.
local function runner(F, ctx, n_in, kinds)
  return function(grads, saved)
    rawset(ctx, 'saved_tensors', saved)
    local r = pack(pcall(F.backward, ctx, unpack(grads, 1, grads.n)))
    rawset(ctx, 'saved_tensors', nil)
    if not r[1] then error(r[2], 0) end
    local n = r.n - 1
    if n ~= n_in then
      error(string.format('returned %s for %s (return one gradient per forward argument, nil for none)',
        plural(n, 'value'), plural(n_in, 'argument')), 0)
    end
    for i = 1, n_in do
      local g = r[i + 1]
      if g ~= nil then
        if not is_tensor(g) then
          error(string.format('the gradient for argument %d must be a tensor or nil, got %s', i, type(g)), 0)
        elseif kinds[i] ~= true then
          error(string.format('argument %d is a %s, not a tensor: its gradient must be nil', i, kinds[i]), 0)
        end
      end
    end
    return move(r, 2, n_in + 1, 1)
  end
end

local function apply(F, ...)
  local args = pack(...)
  local n_in = args.n
  local grad_on = is_grad_enabled()
  local needs, kinds, any = {}, {}, false
  for i = 1, n_in do
    local a = args[i]
    local tensor = is_tensor(a)
    local need = grad_on and tensor and a.requires_grad or false
    needs[i], kinds[i] = need, tensor or type(a)
    any = any or need
  end
  local ctx = setmetatable({needs_input_grad = needs, [NAME] = F.name, [FORWARD] = true}, ctx_meta)
  local previous = set_grad_enabled(false)
  local outs = pack(pcall(F.forward, ctx, ...))
  set_grad_enabled(previous)
  rawset(ctx, FORWARD, nil)
  if not outs[1] then error(outs[2], 0) end
  local n_out = outs.n - 1
  if n_out == 0 then
    error(string.format("lunagrad.Function '%s': forward returned nothing (return the output tensors)", F.name), 2)
  end
  local saved = rawget(ctx, SAVED) or NONE
  rawset(ctx, SAVED, nil)
  if not any then return unpack(outs, 2, outs.n) end
  local outputs = move(outs, 2, outs.n, 1, {})
  return record(F.name, runner(F, ctx, n_in, kinds), n_in, args, n_out, outputs, saved.n, saved)
end

local Function_meta = {
  __name = 'lunagrad.Function',
  __call = function(F, ...) return apply(F, ...) end,
  __tostring = function(F) return string.format("lunagrad.Function '%s'", F.name) end,
}

local VALID = {forward = true, backward = true, name = true}

--- lunagrad.Function{forward = fn(ctx, ...), backward = fn(ctx, grads...) [, name = 'Name']}
--- -> a callable custom op F: F(...) == F.apply(...).
local function Function(spec)
  if type(spec) ~= 'table' then
    error('lunagrad.Function: expects a table {forward = function(ctx, ...), backward = function(ctx, ...)}, got '
      .. type(spec), 2)
  end
  for key in pairs(spec) do
    if not VALID[key] then
      error(string.format("lunagrad.Function: unknown key '%s' (valid: forward, backward, name)", tostring(key)), 2)
    end
  end
  for _, key in ipairs {'forward', 'backward'} do
    if type(spec[key]) ~= 'function' then
      error(string.format('lunagrad.Function: %s must be a function, got %s', key, type(spec[key])), 2)
    end
  end
  if spec.name ~= nil and (type(spec.name) ~= 'string' or spec.name == '') then
    error('lunagrad.Function: name must be a non-empty string, got ' .. tostring(spec.name), 2)
  end
  local F = setmetatable({forward = spec.forward, backward = spec.backward, name = spec.name or 'Function'},
    Function_meta)
  F.apply = function(...) return apply(F, ...) end
  return F
end

return Function
