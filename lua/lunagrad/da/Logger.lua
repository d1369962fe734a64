-- da.Logger(): per-step training values (losses, accuracies, lambda, lr), read back as
-- series for lunagrad.plot.line.
--
--   local log = da.Logger()
--   log:log(step, {label_loss = out.label_loss, domain_loss = out.domain_loss})
--   plot.save(plot.line{series = {log:series('label_loss'), log:series('domain_loss')}}, 'loss.svg')
local util = require 'lunagrad.da.util'

local Logger = {}
Logger.__index = Logger
Logger.__name = 'lunagrad.da.Logger'

local function new()
  return setmetatable({ _names = {}, _data = {}, _step = 0 }, Logger)
end

local function value_of(name, v)
  if util.is_tensor(v) then
    if v:numel() ~= 1 then
      util.raise(string.format('lunagrad.da.Logger.log: value %s must be a number or a 1-element tensor, got shape %s',
        name, util.shape_str(v)))
    end
    return v:item()
  end
  if type(v) ~= 'number' then
    util.raise(string.format('lunagrad.da.Logger.log: value %s must be a number, got %s', name, type(v)))
  end
  return v
end

--- log:log([step,] values): records each name = number (or 1-element tensor) of values
-- at step (default: one more than the last step). nil values (e.g. domain_loss when
-- not adapting) are skipped. Returns self.
function Logger:log(a, b)
  local step, values
  if type(a) == 'number' then step, values = a, b else values, step = a, b end
  if type(values) ~= 'table' then
    util.raise('lunagrad.da.Logger.log: expects a table of name = value, got ' .. type(values))
  end
  if step == nil then step = self._step + 1 end
  step = util.number('da.Logger.log', 'step', step)
  self._step = step
  local keys = {}
  for k in pairs(values) do
    if type(k) ~= 'string' then
      util.raise('lunagrad.da.Logger.log: value names must be strings, got ' .. type(k))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys) -- a stable order for names first seen in the same call
  for _, name in ipairs(keys) do
    local v = value_of(name, values[name])
    local s = self._data[name]
    if not s then
      s = { x = {}, y = {} }
      self._data[name] = s
      self._names[#self._names + 1] = name
    end
    s.x[#s.x + 1] = step
    s.y[#s.y + 1] = v
  end
  return self
end
Logger.add = Logger.log

local function get(self, name, fname)
  local s = self._data[name]
  if not s then
    util.raise(string.format("lunagrad.da.Logger.%s: no values logged under '%s' (known: %s)", fname, tostring(name),
      table.concat(self._names, ', ')))
  end
  return s
end

--- log:series(name [, {smooth = k, label = name}]) -> {name=, x=, y=} for plot.line.
-- smooth = k replaces each value by the mean of the last k values up to it.
function Logger:series(name, opts)
  local s = get(self, name, 'series')
  opts = util.options('da.Logger.series', opts, util.set { 'smooth', 'label' })
  local k = util.int('da.Logger.series', 'smooth', opts.smooth or 1)
  local x, y = table.move(s.x, 1, #s.x, 1, {}), {}
  local sum = 0
  for i, v in ipairs(s.y) do
    sum = sum + v
    if i > k then sum = sum - s.y[i - k] end
    y[i] = sum / math.min(i, k)
  end
  return { name = opts.label or name, x = x, y = y }
end

--- log:all() -> the series of every name, in order of first appearance.
function Logger:all()
  local out = {}
  for i, name in ipairs(self._names) do out[i] = self:series(name) end
  return out
end

--- log:names() -> names in order of first appearance.
function Logger:names() return table.move(self._names, 1, #self._names, 1, {}) end

--- log:last(name) -> the latest value and its step.
function Logger:last(name)
  local s = get(self, name, 'last')
  return s.y[#s.y], s.x[#s.x]
end

--- log:mean(name [, n]) -> the mean of the last n values (all by default).
function Logger:mean(name, n)
  local s = get(self, name, 'mean')
  local count = #s.y
  n = n == nil and count or util.int('da.Logger.mean', 'n', n)
  if n > count then n = count end
  local sum = 0
  for i = count - n + 1, count do sum = sum + s.y[i] end
  return sum / n
end

--- #log: the number of values logged under all names.
function Logger:__len()
  local c = 0
  for _, s in pairs(self._data) do c = c + #s.y end
  return c
end

function Logger:__tostring()
  local parts = {}
  for _, name in ipairs(self._names) do
    parts[#parts + 1] = string.format('%s=%.4g', name, self._data[name].y[#self._data[name].y])
  end
  return 'da.Logger(step ' .. tostring(self._step) .. (#parts > 0 and ': ' .. table.concat(parts, ' ') or '') .. ')'
end

return setmetatable({ new = new }, { __call = function(_, ...) return new(...) end, __index = Logger })
