-- lunagrad: tensors, autograd and the Gradient Reversal Layer, from Lua 5.4.
-- The C core (lunagrad.core) does the work; this file adds the Lua-side API.
require 'lunagrad.env' -- before the core: sets OpenMP's wait policy (see src/lua/env.c)
local core = require 'lunagrad.core'

local lg = {}
for name, fn in pairs(core) do lg[name] = fn end

local Tensor = core.Tensor
lg.Tensor = Tensor
core.metatable.__tostring = require 'lunagrad.format'

local io_api = require 'lunagrad.io'
lg.save, lg.load = io_api.save, io_api.load

--- Runs fn(...) with gradient recording off, restoring the mode even on error.
function lg.no_grad(fn, ...)
  if type(fn) ~= 'function' then
    error('lunagrad.no_grad: expects a function, got ' .. type(fn), 2)
  end
  local previous = core.set_grad_enabled(false)
  local results = table.pack(pcall(fn, ...))
  core.set_grad_enabled(previous)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- The Gradient Reversal Layer as a function: identity forward, -alpha * grad backward.
function lg.revgrad(x, alpha)
  if not core.is_tensor(x) then
    error('lunagrad.revgrad: bad argument #1 (Tensor expected, got ' .. type(x) .. ')', 2)
  end
  if alpha ~= nil and type(alpha) ~= 'number' and not core.is_tensor(alpha) then
    error('lunagrad.revgrad: alpha must be a number or a 1-element tensor, got ' .. type(alpha), 2)
  end
  return core.revgrad(x, alpha)
end

return lg
