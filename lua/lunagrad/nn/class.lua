-- nn.class: a tiny class system for modules (Torch7's torch.class, minus the globals).
--
--   local MyNet = nn.class('MyNet', nn.Module)
--   function MyNet:__init(hidden) self.fc = nn.Linear(2, hidden) end
--   function MyNet:forward(x) return self.fc(x) end
--   local net = MyNet(16)            -- calls __init; net(x) calls forward
--
-- Every class is kept in a registry by name so nn.load can rebuild a saved module.
local class = {}

local registry = {}

-- Metamethods are looked up raw in the metatable, never through __index, so a
-- class copies them from its parent instead of inheriting them.
local METAMETHODS = { '__call', '__tostring', '__newindex', '__len', '__close' }

--- Creates a class. `parent` may be nil. Redefining a name replaces the registry entry.
function class.new(name, parent)
  if type(name) ~= 'string' or name == '' then
    error('lunagrad.nn.class: expects a class name (string), got ' .. type(name), 2)
  end
  if parent ~= nil and (type(parent) ~= 'table' or rawget(parent, '__typename') == nil) then
    error('lunagrad.nn.class: parent of ' .. name .. ' must be a class (e.g. nn.Module)', 2)
  end
  local cls = { __typename = name, super = parent }
  cls.__index = cls
  if parent then
    for _, mm in ipairs(METAMETHODS) do cls[mm] = parent[mm] end
  end
  setmetatable(cls, {
    __index = parent,
    __call = function(c, ...) return c.__new(c, ...) end,
    __tostring = function() return 'class ' .. name end,
  })
  registry[name] = cls
  return cls
end

--- The registered class of that name, or nil.
function class.get(name) return registry[name] end

--- Registers an existing class under `name` (e.g. after renaming); returns the class.
function class.register(cls, name)
  registry[name or cls.__typename] = cls
  return cls
end

--- True when `cls` is `base` or derives from it.
function class.is_subclass(cls, base)
  while cls do
    if cls == base then return true end
    cls = rawget(cls, 'super')
  end
  return false
end

return class
