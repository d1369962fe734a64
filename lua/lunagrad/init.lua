-- lunagrad: tensors, autograd and the Gradient Reversal Layer, from Lua 5.4.
-- The C core (lunagrad.core) does the work; this file adds the Lua-side API.
-- The C modules exist only once built: from a source tree that is `make` (build/),
-- so say that instead of Lua's "module 'lunagrad.env' not found" and its path list.
local function require_built(name)
  local ok, mod = pcall(require, name)
  if ok then return mod end
  if not tostring(mod):find("module '" .. name .. "' not found", 1, true) then error(mod, 0) end
  local tree = debug.getinfo(1, 'S').source:match('^@(.-)lua/lunagrad/init%.lua$')
  local f = tree and io.open((tree == '' and '.' or tree) .. '/Makefile')
  if f then f:close() end
  error(string.format('lunagrad: the C module %s is not built or not on package.cpath. %s', name, f
    and string.format("In the source tree, run `make` in %s, then use LUA_CPATH='%sbuild/?.so;;' (bin/lunagrad "
      .. 'does that itself)', tree == '' and '.' or tree, tree)
    or 'Install the rock (luarocks --lua-version=5.4 make), and with --local run eval "$(luarocks --lua-version=5.4 path)"'), 0)
end
require_built 'lunagrad.env' -- before the core: sets OpenMP's wait policy (see src/lua/env.c)
local core = require_built 'lunagrad.core'

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
    core._raise('lunagrad.no_grad: expects a function, got ' .. type(fn))
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
    core._raise('lunagrad.revgrad: bad argument #1 (Tensor expected, got ' .. type(x) .. ')')
  end
  if alpha ~= nil and type(alpha) ~= 'number' and not core.is_tensor(alpha) then
    core._raise('lunagrad.revgrad: alpha must be a number or a 1-element tensor, got ' .. type(alpha))
  end
  return core.revgrad(x, alpha)
end

lg.Function = require 'lunagrad.function' -- custom ops in Lua (torch.autograd.Function)

return lg
