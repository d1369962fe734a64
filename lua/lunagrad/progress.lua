-- lunagrad.progress: a progress bar for long loops. On a terminal it redraws one
-- line (bar, step/total, it/s, ETA, the latest values); elsewhere (CI logs, pipes)
-- it prints a plain line every `every` steps, so logs stay readable.
local core = require 'lunagrad.core'

local Progress = {}
Progress.__index = Progress

local function clock()
  local ok, system = pcall(require, 'system')
  if ok and system.gettime then return system.gettime end
  return os.clock
end
local now = clock()

local function fmt_time(s)
  if s ~= s or s == math.huge then return '?' end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format('%d:%02d:%02d', s // 3600, s % 3600 // 60, s % 60) end
  return string.format('%d:%02d', s // 60, s % 60)
end

local function fmt_values(values)
  if not values then return '' end
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = values[k]
    parts[#parts + 1] = type(v) == 'number' and string.format('%s=%.4g', k, v) or (k .. '=' .. tostring(v))
  end
  return table.concat(parts, ' ')
end

--- progress.new{total=, label='', every=nil, out=io.stdout, tty=nil, width=30}
-- tty forces terminal (true) or plain (false) mode; by default it asks isatty(1)
-- when out is io.stdout. In plain mode a line is printed every `every` steps
-- (default: total/10) and at the end.
local function new(opts)
  opts = opts or {}
  local total = opts.total
  if math.type(total) ~= 'integer' or total < 1 then
    error('lunagrad.progress: total must be a positive integer, got ' .. tostring(total), 2)
  end
  local out = opts.out or io.stdout
  local tty = opts.tty
  if tty == nil then tty = out == io.stdout and core.isatty(1) end
  return setmetatable({
    total = total, label = opts.label or '', out = out, tty = tty, width = opts.width or 30,
    every = opts.every or math.max(1, total // 10), start = now(), step = 0, last_draw = -1,
  }, Progress)
end

function Progress:line(step, values)
  local elapsed = now() - self.start
  local rate = step > 0 and elapsed > 0 and step / elapsed or 0
  local eta = rate > 0 and (self.total - step) / rate or math.huge
  local label = self.label ~= '' and (self.label .. ' ') or ''
  local stats = string.format('%d/%d %.1f it/s elapsed %s eta %s', step, self.total, rate,
    fmt_time(elapsed), fmt_time(eta))
  local extra = fmt_values(values)
  if self.tty then
    local filled = math.floor(self.width * step / self.total + 0.5)
    local bar = string.rep('#', filled) .. string.rep('-', self.width - filled)
    return string.format('\r%s[%s] %s %s\027[K', label, bar, stats, extra)
  end
  return string.format('%s%s %s\n', label, stats, extra)
end

--- bar:update(step [, values]): values is a table such as {loss = 0.3}.
function Progress:update(step, values)
  if math.type(step) ~= 'integer' then error('lunagrad.progress: step must be an integer', 2) end
  self.step = step
  local due
  if self.tty then
    local t = now()
    due = step == self.total or t - (self.last_draw or 0) >= 0.1
    if due then self.last_draw = t end
  else
    due = step % self.every == 0 or step == self.total
  end
  if due then
    self.out:write(self:line(step, values))
    self.out:flush()
  end
end

--- bar:finish([values]): draws the final state and ends the line.
function Progress:finish(values)
  if self.tty then
    self.out:write(self:line(self.step, values), '\n')
  elseif self.step % self.every ~= 0 and self.step ~= self.total then
    self.out:write(self:line(self.step, values))
  end
  self.out:flush()
end

-- now(): wall-clock seconds (lua-system's gettime; os.clock without it), for
-- scripts that time their own phases.
return { new = new, now = now }
