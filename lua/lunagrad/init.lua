-- lunagrad: tensors, autograd and the Gradient Reversal Layer, from Lua 5.4.
-- The C core (lunagrad.core) does the work; this file adds the Lua-side API.
-- The C modules exist only once built: from a source tree that is `make` (build/),
-- so say that instead of Lua's "module 'lunagrad.env' not found" and its path list.
-- They must come from this file's tree (README, "From the source tree"): under <R>/ for
-- <R>/lua/lunagrad/init.lua (a source tree), under <T>/ for <T>/share/lua/5.4/lunagrad/
-- init.lua (a LuaRocks tree); never one tree's Lua with another's C (LUNAGRAD_MIXED_OK=1 allows it).
local source = debug.getinfo(1, 'S').source
local rock_tree = source:match('^@(.-)share/lua/5%.4/lunagrad/init%.lua$')
local tree = rock_tree or source:match('^@(.-)lua/lunagrad/init%.lua$')
local function abs(p) -- by $PWD, without ./ and //; nil when unknown
  local pwd = p:sub(1, 1) == '/' and '' or os.getenv('PWD')
  return pwd and ((pwd .. '/' .. p):gsub('/%./', '/'):gsub('/%./', '/'):gsub('//+', '/'))
end
local function check_tree(name, where)
  local root, file = tree and abs(tree == '' and './' or tree), type(where) == 'string' and abs(where)
  if not (root and file) or file:sub(1, #root) == root or os.getenv('LUNAGRAD_MIXED_OK') == '1' then return end
  error(string.format('lunagrad: the Lua modules (%s) and the C module %s (%s) are from different trees. %s. '
    .. 'LUNAGRAD_MIXED_OK=1 runs them together anyway', source:sub(2), name, where, rock_tree
    and string.format('Reinstall the rock (luarocks --lua-version=5.4 make), or let LUA_CPATH find %s under %s', name, root)
    or string.format("Build this tree (`make` in %s) and put LUA_CPATH='%sbuild/?.so;;' first (bin/lunagrad does "
      .. 'that itself), or use the installed rock without %slua/ in LUA_PATH', root, root, root)), 0)
end
local function require_built(name)
  local ok, mod, where = pcall(require, name)
  if ok then check_tree(name, where) return mod end
  if not tostring(mod):find("module '" .. name .. "' not found", 1, true) then error(mod, 0) end
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

-- ---- grad-mode scopes ------------------------------------------------------------------
-- lg.no_grad / lg.enable_grad / lg.inference_mode: with a function, run it in that mode
-- (results returned, the mode restored even on error); without one, switch now and return
-- a scope whose __close restores the previous mode (`local _ <close> = lg.no_grad()`,
-- closed on error too). lg.set_grad_enabled(b) returns such a scope as well (its
-- .previous is the mode it replaced; passing it back, lg.set_grad_enabled(was), restores it).
local GradMode = {}
GradMode.__index = GradMode
GradMode.__name = 'lunagrad.GradMode'
function GradMode.__close(scope) core.set_grad_enabled(scope.previous) end
GradMode.close = GradMode.__close
function GradMode.__eq(a, b) return a.previous == b.previous end
function GradMode.__tostring(scope)
  return 'lunagrad.GradMode(previous = ' .. tostring(scope.previous) .. ')'
end

local function grad_scope(fname, on, ...)
  local n = select('#', ...)
  if n == 0 then return setmetatable({ previous = core.set_grad_enabled(on) }, GradMode) end
  local fn = ...
  if type(fn) ~= 'function' then
    core._raise('lunagrad.' .. fname .. ': expects a function or no argument (then use it as `local _ <close> = lg.'
      .. fname .. '()`), got ' .. type(fn))
  end
  local previous = core.set_grad_enabled(on)
  local results = table.pack(pcall(fn, select(2, ...)))
  core.set_grad_enabled(previous)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- Runs fn(...) with gradient recording off, restoring the mode even on error; no argument: a scope.
function lg.no_grad(...) return grad_scope('no_grad', false, ...) end
--- Same with recording on (inside a no_grad region).
function lg.enable_grad(...) return grad_scope('enable_grad', true, ...) end
--- PyTorch's inference_mode; here the same as no_grad (no separate tensor flag).
function lg.inference_mode(...) return grad_scope('inference_mode', false, ...) end

--- Sets the mode now; returns a scope (closable; .previous the old mode) and the old mode.
function lg.set_grad_enabled(on)
  if getmetatable(on) == GradMode then on = on.previous end
  local previous = core.set_grad_enabled(on)
  return setmetatable({ previous = previous }, GradMode), previous
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
