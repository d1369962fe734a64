-- lunagrad.progress: a progress bar for long loops. On a terminal it redraws one
-- line (bar, step/total, it/s, elapsed, ETA, the latest values) that always fits the
-- terminal's width (TIOCGWINSZ, else $COLUMNS, else 80), so it never wraps, with
-- numbers of fixed width so the line does not jitter; finish() leaves a final line
-- that keeps every value. Elsewhere (CI logs, pipes) it prints a plain line every
-- `every` steps, so logs stay readable. Times are wall-clock (lg.clock, monotonic).
local core = require 'lunagrad.core'

local Progress = {}
Progress.__index = Progress

local now = core.clock

-- Durations as m:ss (h:mm:ss from an hour), right-aligned in 5 characters.
local function fmt_time(s)
  local text
  if s ~= s or s == math.huge or s < 0 then
    text = '?'
  else
    s = math.floor(s + 0.5)
    if s >= 3600 then
      text = string.format('%d:%02d:%02d', s // 3600, s % 3600 // 60, s % 60)
    else
      text = string.format('%d:%02d', s // 60, s % 60)
    end
  end
  return string.format('%5s', text)
end

-- A number in exactly `width` characters (right-aligned): as many decimals as fit
-- (at most max_decimals, default 4), scientific notation for tiny or huge values.
local function fmt_num(v, width, max_decimals)
  width = width or 8
  local s
  if v ~= v then
    s = 'nan'
  elseif v == math.huge or v == -math.huge then
    s = v > 0 and 'inf' or '-inf'
  else
    local sci = '%.' .. math.max(0, width - 6 - (v < 0 and 1 or 0)) .. 'e'
    if v ~= 0 and math.abs(v) < 1e-3 then
      s = string.format(sci, v)
    else
      for decimals = max_decimals or 4, 0, -1 do
        s = string.format('%.' .. decimals .. 'f', v)
        if #s <= width then break end
      end
      if #s > width then s = string.format(sci, v) end
    end
  end
  return string.format('%' .. width .. 's', s)
end

-- "k=v" for each value, keys sorted; numbers through `number` (compact, or padded to a
-- fixed width on a terminal so redraws line up).
local function value_items(values, number)
  if not values then return {} end
  number = number or function(v) return string.format('%.4g', v) end
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local items = {}
  for _, k in ipairs(keys) do
    local v = values[k]
    items[#items + 1] = tostring(k) .. '=' .. (type(v) == 'number' and number(v) or tostring(v))
  end
  return items
end
local function value_items_fixed(values) return value_items(values, fmt_num) end

--- progress.new{total=, label='', every=nil, out=io.stdout, tty=nil, width=30, columns=nil}
-- tty forces terminal (true) or plain (false) mode; by default it asks isatty(1)
-- when out is io.stdout. width is the widest the bar gets; columns the terminal
-- width (default: the terminal's, then $COLUMNS, then 80). In plain mode a line is
-- printed every `every` steps (default: total/10) and at the end.
local function new(opts)
  opts = opts or {}
  local total = opts.total
  if math.type(total) ~= 'integer' or total < 1 then
    error('lunagrad.progress: total must be a positive integer, got ' .. tostring(total), 2)
  end
  if opts.columns ~= nil and (math.type(opts.columns) ~= 'integer' or opts.columns < 20) then
    error('lunagrad.progress: columns must be an integer >= 20, got ' .. tostring(opts.columns), 2)
  end
  local out = opts.out or io.stdout
  local tty = opts.tty
  if tty == nil then tty = out == io.stdout and core.isatty(1) end
  return setmetatable({
    total = total, label = opts.label or '', out = out, tty = tty, width = opts.width or 30,
    columns = opts.columns, stdout = out == io.stdout,
    every = opts.every or math.max(1, total // 10), start = now(), step = 0, last_draw = -math.huge,
  }, Progress)
end

-- Terminal columns now (the terminal may have been resized).
function Progress:term_columns()
  if self.columns then return self.columns end
  local cols = self.stdout and core.term_width(1) or nil
  cols = cols or math.tointeger(tonumber(os.getenv('COLUMNS') or ''))
  if not cols or cols < 20 then cols = 80 end
  return cols
end

-- "step/total rate it/s elapsed m:ss eta m:ss"; fixed: every field in a fixed width.
function Progress:stats(step, fixed)
  local elapsed = now() - self.start
  local rate = step > 0 and elapsed > 0 and step / elapsed or 0
  local eta = rate > 0 and (self.total - step) / rate or math.huge
  if not fixed then
    return string.format('%d/%d %.1f it/s elapsed %s eta %s', step, self.total, rate,
      (fmt_time(elapsed):gsub('^ +', '')), (fmt_time(eta):gsub('^ +', '')))
  end
  local digits = #tostring(self.total)
  if fixed == 'compact' then -- tqdm's elapsed<eta
    return string.format('%' .. digits .. 'd/%d %s it/s %s<%s', step, self.total,
      fmt_num(rate, 7, 1), fmt_time(elapsed), (fmt_time(eta):gsub('^ +', '')))
  end
  return string.format('%' .. digits .. 'd/%d %s it/s elapsed %s eta %s', step, self.total,
    fmt_num(rate, 7, 1), fmt_time(elapsed), fmt_time(eta))
end

-- The terminal line (without \r): label, bar, stats and as many values as fit in
-- columns - 1 characters. With keep_values, the bar goes first and the values that
-- still do not fit are returned as extra lines.
function Progress:fit(step, values, keep_values)
  local avail = self:term_columns() - 1
  local label = self.label ~= '' and (self.label .. ' ') or ''
  local stats = self:stats(step, true)
  if #label + #stats > avail - 12 then stats = self:stats(step, 'compact') end
  local items = value_items_fixed(values)
  local tail = table.concat(items, ' ')
  local core_len = #label + #stats
  local with_values = tail ~= '' and (core_len + 1 + #tail) or core_len
  local bar_room = avail - with_values - 3 -- "[" .. bar .. "] "
  local line
  if bar_room >= 10 then
    local w = math.min(self.width, bar_room)
    local filled = math.floor(w * step / self.total + 0.5)
    line = label .. '[' .. string.rep('#', filled) .. string.rep('-', w - filled) .. '] ' .. stats
    if tail ~= '' then line = line .. ' ' .. tail end
    return line, {}
  end
  -- no room for a bar: the values that fit, then (keep_values) the rest below
  line = label .. stats
  local rest = {}
  for i, item in ipairs(items) do
    if #rest == 0 and #line + 1 + #item <= avail then
      line = line .. ' ' .. item
    else
      rest[#rest + 1] = items[i]
    end
  end
  if #line > avail then line = line:sub(1, avail) end
  local extra = {}
  if keep_values and #rest > 0 then
    local cur = ' '
    for _, item in ipairs(rest) do
      if #cur > 1 and #cur + 1 + #item > avail then
        extra[#extra + 1] = cur
        cur = ' '
      end
      cur = cur .. ' ' .. item
    end
    extra[#extra + 1] = cur:sub(1, avail)
  end
  return line, extra
end

function Progress:line(step, values)
  if self.tty then
    return '\r' .. (self:fit(step, values)) .. '\027[K'
  end
  local label = self.label ~= '' and (self.label .. ' ') or ''
  local stats = self:stats(step, false)
  local extra = table.concat(value_items(values), ' ')
  return string.format('%s%s%s\n', label, stats, extra ~= '' and (' ' .. extra) or '')
end

--- bar:update(step [, values]): values is a table such as {loss = 0.3}.
function Progress:update(step, values)
  if math.type(step) ~= 'integer' then error('lunagrad.progress: step must be an integer', 2) end
  self.step = step
  if values then self.values = values end
  local due
  if self.tty then
    local t = now()
    due = step == self.total or t - self.last_draw >= 0.1
    if due then self.last_draw = t end
  else
    due = step % self.every == 0 or step == self.total
  end
  if due then
    local text = self:line(step, self.values)
    self.out:write(text)
    self.out:flush()
    self.printed = { step = step, values = table.concat(value_items(self.values), ' ') }
  end
end

--- bar:finish([values]): draws the final state, with every value (the latest given
-- to update unless values is given), and ends the line.
function Progress:finish(values)
  values = values or self.values
  if self.tty then
    local line, extra = self:fit(self.step, values, true)
    self.out:write('\r', line, '\027[K\n')
    for _, l in ipairs(extra) do self.out:write(l, '\n') end
  else
    local p = self.printed
    if not (p and p.step == self.step and p.values == table.concat(value_items(values), ' ')) then
      self.out:write(self:line(self.step, values))
    end
  end
  self.out:flush()
end

-- now(): wall-clock seconds (lg.clock: clock_gettime(CLOCK_MONOTONIC)), for
-- scripts that time their own phases. fmt_num and fmt_time are the fixed-width
-- formatters the bar uses.
return { new = new, now = now, fmt_num = fmt_num, fmt_time = fmt_time }
