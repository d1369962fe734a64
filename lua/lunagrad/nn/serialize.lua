-- nn.save / nn.load: a module's state dict in a safetensors file, plus its
-- architecture as JSON in the metadata so nn.load can rebuild it without the code
-- that built it (only the class definitions).
--
-- The architecture of a module is {type = class name, args = constructor arguments};
-- arguments that are modules nest the same way ({__module = {...}}). The arguments are
-- those the module was constructed with, or what its :__spec() returns (Sequential
-- returns its children, so modules added with :add are saved too). Define __spec on
-- an nn.class module whose constructor arguments do not rebuild it.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'

local serialize = {}

local ARCH_KEY = 'lunagrad.nn.architecture'
local EVAL_KEY = 'lunagrad.nn.evaluate_mode'
local FORMAT_KEY = 'lunagrad.nn.format'
local FORMAT = 'lunagrad-nn/1'

local function json() return require 'lunagrad.json' end

local encode_module

local function encode_value(v, where, depth)
  local t = type(v)
  if v == nil then return json().null end
  if t == 'number' then
    if v ~= v or v == math.huge or v == -math.huge then
      util.raise('lunagrad.nn.save: cannot save non-finite ' .. where)
    end
    return v
  end
  if t == 'string' or t == 'boolean' then return v end
  if util.is_module(v) then return { __module = encode_module(v, depth + 1) } end
  if t == 'table' and not util.is_tensor(v) then
    if depth > 64 then util.raise('lunagrad.nn.save: ' .. where .. ' is nested too deeply (a cycle?)') end
    local out = {}
    for k, x in pairs(v) do
      if type(k) ~= 'string' and math.type(k) ~= 'integer' then
        util.raise('lunagrad.nn.save: ' .. where .. ' has a ' .. type(k) .. ' key')
      end
      out[k] = encode_value(x, where, depth + 1)
    end
    return out
  end
  util.raise('lunagrad.nn.save: cannot save ' .. where .. ' (a ' .. (util.is_tensor(v) and 'Tensor' or t)
    .. '); give the module a :__spec() method returning serialisable constructor arguments')
end

function encode_module(m, depth)
  local name = m.__typename
  if class.get(name) == nil then
    util.raise('lunagrad.nn.save: class ' .. name .. ' is not registered (define it with nn.class)')
  end
  local args
  if m.__spec then
    args = m:__spec()
    if type(args) ~= 'table' then
      util.raise('lunagrad.nn.save: ' .. name .. ':__spec() must return a list of constructor arguments')
    end
  else
    args = m._args
  end
  local n = args.n or #args
  local out = json().array {}
  for i = 1, n do
    out[i] = encode_value(args[i], string.format('argument #%d of %s', i, name), depth)
  end
  return { type = name, args = out }
end

--- The architecture of m as a plain table (what nn.save stores as JSON).
function serialize.architecture(m)
  if not util.is_module(m) then util.raise('lunagrad.nn.architecture: expects a module, got ' .. type(m)) end
  return encode_module(m, 0)
end

local build

local function decode_value(v, depth)
  if v == json().null then return nil end
  if type(v) ~= 'table' then return v end
  if v.__module ~= nil then return build(v.__module, depth + 1) end
  local out = {}
  for k, x in pairs(v) do out[k] = decode_value(x, depth + 1) end
  return out
end

function build(spec, depth)
  if type(spec) ~= 'table' or type(spec.type) ~= 'string' or type(spec.args) ~= 'table' then
    util.raise('lunagrad.nn.load: malformed architecture entry')
  end
  if depth > 64 then util.raise('lunagrad.nn.load: architecture nested too deeply') end
  local cls = class.get(spec.type)
  if cls == nil then
    util.raise("lunagrad.nn.load: unknown module type '" .. spec.type ..
      "' (define it with nn.class before loading)")
  end
  local args = {}
  local n = #spec.args
  for i = 1, n do args[i] = decode_value(spec.args[i], depth) end
  return cls(table.unpack(args, 1, n))
end

--- Rebuilds a module from an architecture table (fresh parameters).
function serialize.build(spec) return build(spec, 0) end

-- lg.save/lg.load's error as nn.save/nn.load's: "lunagrad.load: ..." (after its
-- position, which util.raise sets again) becomes "lunagrad.nn.load: ...".
local function renamed(err, fn)
  return (tostring(err):gsub('^[^\n]-:%d+: ', '', 1):gsub('^lunagrad%.' .. fn, 'lunagrad.nn.' .. fn, 1))
end

function serialize.save(m, path)
  if not util.is_module(m) then util.raise('lunagrad.nn.save: bad argument #1 (module expected, got ' .. type(m) .. ')') end
  if type(path) ~= 'string' then
    util.raise('lunagrad.nn.save: bad argument #2 (path string expected, got ' .. type(path) .. ')')
  end
  local J = json()
  local arch = J.encode(encode_module(m, 0))
  local eval_names = J.array {}
  for _, e in ipairs(m:named_modules()) do
    if not e[2].training then eval_names[#eval_names + 1] = e[1] end
  end
  local sd = m:state_dict()
  local ok, err = pcall(lg.save, path, sd, {
    [FORMAT_KEY] = FORMAT, [ARCH_KEY] = arch, [EVAL_KEY] = J.encode(eval_names),
  })
  if not ok then util.raise(renamed(err, 'save')) end
  return m
end

function serialize.load(path)
  if type(path) ~= 'string' then
    util.raise('lunagrad.nn.load: bad argument #1 (path string expected, got ' .. type(path) .. ')')
  end
  local ok, tensors, meta = pcall(lg.load, path)
  if not ok then util.raise(renamed(tensors, 'load')) end
  if type(meta) ~= 'table' or meta[ARCH_KEY] == nil then
    util.raise('lunagrad.nn.load: ' .. path .. ' has no module architecture (not written by nn.save; '
      .. 'use lg.load for plain tensors, or m:load_state_dict)')
  end
  local J = json()
  local m = build(J.decode(meta[ARCH_KEY]), 0)
  m:load_state_dict(tensors)
  if meta[EVAL_KEY] then
    local eval = {}
    for _, name in ipairs(J.decode(meta[EVAL_KEY])) do eval[name] = true end
    for _, e in ipairs(m:named_modules()) do e[2].training = not eval[e[1]] end
  end
  return m
end

return serialize
