-- nn.Sequential(m1, m2, ...) or nn.Sequential():add(m1):add(m2): feeds each
-- module's output to the next. Children are named 1, 2, ... (seq[i], #seq);
-- seq.modules is the children list (Torch7), seq:modules() still PyTorch's walk.
--
-- An error inside a child says which one: "in child 3 (nn.Linear(768 -> 100)) of
-- nn.Sequential: ...". The forward runs under one xpcall per Sequential call (not per
-- child); the child's index is read from the loop's frame by the message handler, so
-- the success path does no bookkeeping at all.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local Sequential = class.new('nn.Sequential', Module)

-- seq.modules: the children in order, kept by :add. Callable, so seq:modules() (the
-- recursive list of Module:modules) still works on a Sequential.
local MODULES_MT = { __call = function(_, self) return Module.modules(self) end }

function Sequential:__init(...)
  rawset(self, 'modules', setmetatable({}, MODULES_MT))
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
  util.check_self(self, 'add', 'm')
  if not util.is_module(m) then
    util.raise('lunagrad.nn.Sequential.add: expects a module, got ' .. type(m))
  end
  self:register_module(#self._children + 1, m)
  local list = rawget(self, 'modules')
  if type(list) == 'table' then list[#list + 1] = m end
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

local function run(self, x)
  for i = 1, #self._children do
    x = rawget(self, i)(x)
  end
  return x
end

-- "nn.Linear(768 -> 100)": a module's _brief() when it has one, else its type and settings.
local function brief(m)
  if not util.is_module(m) then return type(m) end
  if m._brief then return m:_brief() end
  local ok, extra = pcall(m.extra_repr, m)
  if ok and type(extra) == 'string' and extra ~= '' and #extra <= 60 then return m.__typename .. '(' .. extra .. ')' end
  return m.__typename
end

-- The message handler (runs where the error was raised, before the stack unwinds):
-- finds the innermost frame of `run` and its loop index, and names that child.
local function locate(msg)
  if type(msg) ~= 'string' then return msg end
  for level = 2, 200 do
    local info = debug.getinfo(level, 'f')
    if not info then break end
    if info.func == run then
      local self, i
      for k = 1, 20 do
        local name, value = debug.getlocal(level, k)
        if not name then break end
        if name == 'self' then self = value elseif name == 'i' then i = value end
      end
      if not (util.is_module(self) and math.type(i) == 'integer') then return msg end
      local pos, rest = msg:match('^(%[string ".-"%]:%d+: )(.*)$')
      if not pos then pos, rest = msg:match('^([^ ]-:%d+: )(.*)$') end
      if not pos then pos, rest = '', msg end
      local child = rawget(self, i)
      local path, inner = rest:match('^in child ([%d.]+) (.*)$')
      if path and getmetatable(child) == Sequential then -- a nested Sequential said it first: extend its path
        return pos .. 'in child ' .. i .. '.' .. path .. ' ' .. inner
      end
      return string.format('%sin child %d (%s) of %s: %s', pos, i, brief(child), self.__typename, rest)
    end
  end
  return msg
end

function Sequential:forward(x)
  if x == nil then util.bad_input(self, 'nn.Sequential', x) end
  local ok, y = xpcall(run, locate, self, x)
  if ok then return y end
  if not util.is_module(self) then util.colon_hint(self, 'nn.Sequential', 'forward', 'x') end
  error(y, 0)
end

-- Saved as the list of its children, so modules added with :add are rebuilt too.
function Sequential:__spec()
  local args = {}
  for i = 1, #self._children do args[i] = rawget(self, i) end
  return args
end

return Sequential
