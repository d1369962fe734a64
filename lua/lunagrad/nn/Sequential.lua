-- nn.Sequential(m1, m2, ...) or nn.Sequential():add(m1):add(m2): feeds each
-- module's output to the next. Children are named 1, 2, ... (seq[i], #seq).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local Sequential = class.new('nn.Sequential', Module)

function Sequential:__init(...)
  local args = table.pack(...)
  -- nn.Sequential{m1, m2} is accepted too.
  if args.n == 1 and type(args[1]) == 'table' and not util.is_module(args[1]) then
    args = table.pack(table.unpack(args[1]))
  end
  for i = 1, args.n do
    if not util.is_module(args[i]) then
      util.raise(string.format('lunagrad.nn.Sequential: argument #%d must be a module, got %s', i, type(args[i])))
    end
    self:add(args[i])
  end
end

--- Appends a module; returns self so calls chain (Torch7).
function Sequential:add(m)
  if not util.is_module(m) then
    util.raise('lunagrad.nn.Sequential.add: expects a module, got ' .. type(m))
  end
  self:register_module(#self._children + 1, m)
  return self
end

function Sequential:get(i)
  local n = #self._children
  if math.type(i) ~= 'integer' or i == 0 or i > n or i < -n then
    util.raise(string.format('lunagrad.nn.Sequential.get: index %s out of range (%d modules)', tostring(i), n))
  end
  return rawget(self, i > 0 and i or n + 1 + i)
end

function Sequential:size() return #self._children end
Sequential.__len = Sequential.size

function Sequential:forward(x)
  for i = 1, #self._children do
    x = rawget(self, i)(x)
  end
  return x
end

-- Saved as the list of its children, so modules added with :add are rebuilt too.
function Sequential:__spec()
  local args = {}
  for i = 1, #self._children do args[i] = rawget(self, i) end
  return args
end

return Sequential
