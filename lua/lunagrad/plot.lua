-- lunagrad.plot: SVG line plots (training curves) and scatter plots (points
-- coloured by class and shaped by domain, optional decision-boundary shading),
-- written as plain SVG text: no external program needed.
local plot = {}

local PALETTE = { '#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf' }
local MARGIN = { left = 70, right = 150, top = 45, bottom = 55 }

local function esc(s)
  return (tostring(s):gsub('[<>&"]', { ['<'] = '&lt;', ['>'] = '&gt;', ['&'] = '&amp;', ['"'] = '&quot;' }))
end

-- Accepts a Lua array or a 1-d tensor.
local function to_list(v, what, fn)
  if type(v) == 'table' then return v end
  if type(v) == 'userdata' and v.totable then
    if v:dim() ~= 1 then error(string.format('lunagrad.plot.%s: %s must be 1-d', fn, what), 3) end
    return v:totable()
  end
  error(string.format('lunagrad.plot.%s: %s must be a list or a 1-d tensor, got %s', fn, what, type(v)), 3)
end

-- "Nice" tick positions covering [lo, hi] (1, 2, 5 times a power of ten).
local function ticks(lo, hi, count)
  if hi <= lo then hi = lo + 1 end
  local raw = (hi - lo) / count
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local step = mag
  for _, m in ipairs({ 1, 2, 5, 10 }) do
    if raw <= m * mag then step = m * mag; break end
  end
  local out = {}
  for v = math.ceil(lo / step) * step, hi + step * 1e-9, step do out[#out + 1] = v end
  return out, step
end

local function fmt_tick(v, step)
  if math.abs(v) < step * 1e-6 then v = 0 end
  if step >= 1 and math.abs(v) < 1e6 then return string.format('%d', math.floor(v + 0.5)) end
  local decimals = math.max(0, math.ceil(-math.log(step, 10)))
  return string.format('%.' .. decimals .. 'f', v)
end

local function range(lists)
  local lo, hi = math.huge, -math.huge
  for _, l in ipairs(lists) do
    for _, v in ipairs(l) do
      if v == v and v ~= math.huge and v ~= -math.huge then
        lo, hi = math.min(lo, v), math.max(hi, v)
      end
    end
  end
  if lo > hi then lo, hi = 0, 1 end
  if lo == hi then lo, hi = lo - 0.5, hi + 0.5 end
  return lo, hi
end

-- A frame with axes, ticks, labels and title; returns the svg parts and a mapper.
local function frame(opts, xlo, xhi, ylo, yhi)
  local w, h = opts.width or 720, opts.height or 460
  local pw, ph = w - MARGIN.left - MARGIN.right, h - MARGIN.top - MARGIN.bottom
  local xt, xstep = ticks(xlo, xhi, 6)
  local yt, ystep = ticks(ylo, yhi, 5)
  local function X(v) return MARGIN.left + (v - xlo) / (xhi - xlo) * pw end
  local function Y(v) return MARGIN.top + ph - (v - ylo) / (yhi - ylo) * ph end
  local s = {
    string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">', w, h, w, h),
    string.format('<rect width="%d" height="%d" fill="white"/>', w, h),
  }
  local grid, labels = {}, {}
  for _, v in ipairs(xt) do
    if v >= xlo and v <= xhi then
      grid[#grid + 1] = string.format('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>', X(v), MARGIN.top, X(v), MARGIN.top + ph)
      labels[#labels + 1] = string.format('<text x="%.1f" y="%d" text-anchor="middle">%s</text>', X(v), MARGIN.top + ph + 18, fmt_tick(v, xstep))
    end
  end
  for _, v in ipairs(yt) do
    if v >= ylo and v <= yhi then
      grid[#grid + 1] = string.format('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>', MARGIN.left, Y(v), MARGIN.left + pw, Y(v))
      labels[#labels + 1] = string.format('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>', MARGIN.left - 6, Y(v), fmt_tick(v, ystep))
    end
  end
  local finish = function(body, legend)
    local out = {}
    for _, p in ipairs(s) do out[#out + 1] = p end
    for _, p in ipairs(body.under or {}) do out[#out + 1] = p end
    for _, p in ipairs(grid) do out[#out + 1] = p end
    for _, p in ipairs(body) do out[#out + 1] = p end
    out[#out + 1] = string.format('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>', MARGIN.left, MARGIN.top, pw, ph)
    for _, p in ipairs(labels) do out[#out + 1] = p end
    if opts.title then
      out[#out + 1] = string.format('<text x="%d" y="25" text-anchor="middle" font-size="16" font-weight="bold">%s</text>', MARGIN.left + pw // 2, esc(opts.title))
    end
    if opts.xlabel then
      out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="middle" font-size="13">%s</text>', MARGIN.left + pw // 2, h - 12, esc(opts.xlabel))
    end
    if opts.ylabel then
      out[#out + 1] = string.format('<text x="18" y="%d" text-anchor="middle" font-size="13" transform="rotate(-90 18 %d)">%s</text>', MARGIN.top + ph // 2, MARGIN.top + ph // 2, esc(opts.ylabel))
    end
    for i, entry in ipairs(legend) do
      local ly = MARGIN.top + 10 + (i - 1) * 20
      out[#out + 1] = entry.symbol(MARGIN.left + pw + 20, ly)
      out[#out + 1] = string.format('<text x="%d" y="%d" dominant-baseline="middle">%s</text>', MARGIN.left + pw + 34, ly, esc(entry.name))
    end
    out[#out + 1] = '</svg>\n'
    return table.concat(out, '\n')
  end
  return X, Y, finish, pw, ph
end

--- plot.line{series = {{name=, x=, y=}, ...}, title=, xlabel=, ylabel=, width=, height=}
-- Returns the SVG text. x defaults to 1..#y.
function plot.line(opts)
  if type(opts) ~= 'table' or type(opts.series) ~= 'table' or #opts.series == 0 then
    error('lunagrad.plot.line: expects {series = {{name=, y=}, ...}}', 2)
  end
  local xs, ys = {}, {}
  for i, s in ipairs(opts.series) do
    local y = to_list(s.y, 'series[' .. i .. '].y', 'line')
    local x = s.x and to_list(s.x, 'series[' .. i .. '].x', 'line')
    if not x then
      x = {}
      for k = 1, #y do x[k] = k end
    end
    if #x ~= #y then error(string.format('lunagrad.plot.line: series %d has %d x but %d y values', i, #x, #y), 2) end
    xs[i], ys[i] = x, y
  end
  local xlo, xhi = range(xs)
  local ylo, yhi = range(ys)
  local pad = (yhi - ylo) * 0.05
  local X, Y, finish = frame(opts, xlo, xhi, ylo - pad, yhi + pad)
  local body, legend = {}, {}
  for i, s in ipairs(opts.series) do
    local color = s.color or PALETTE[(i - 1) % #PALETTE + 1]
    local pts = {}
    for k = 1, #xs[i] do
      local v = ys[i][k]
      if v == v then pts[#pts + 1] = string.format('%.1f,%.1f', X(xs[i][k]), Y(v)) end
    end
    body[#body + 1] = string.format('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>', color, table.concat(pts, ' '))
    legend[#legend + 1] = { name = s.name or ('series ' .. i), symbol = function(x, y)
      return string.format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>', x - 8, y, x + 6, y, color)
    end }
  end
  return finish(body, legend)
end

local MARKERS = {
  function(x, y, c) return string.format('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" fill-opacity="0.8"/>', x, y, c) end,
  function(x, y, c) return string.format('<path d="M%.1f %.1fl4 7h-8z" fill="none" stroke="%s" stroke-width="1.5"/>', x, y - 4.5, c) end,
  function(x, y, c) return string.format('<rect x="%.1f" y="%.1f" width="7" height="7" fill="none" stroke="%s" stroke-width="1.5"/>', x - 3.5, y - 3.5, c) end,
  function(x, y, c) return string.format('<path d="M%.1f %.1fl7 7M%.1f %.1fl-7 7" stroke="%s" stroke-width="1.5"/>', x - 3.5, y - 3.5, x + 3.5, y - 3.5, c) end,
}

--- plot.scatter{x=, y=, class=, domain=, class_names=, domain_names=, boundary=, title=, ...}
-- x, y: coordinates (lists or 1-d tensors), or points = N x 2 tensor. class (1-based)
-- picks the colour, domain (1-based) the marker. boundary = {fn = function(x, y) -> p in
-- [0,1], resolution = 60} shades the plane by the classifier's output p.
function plot.scatter(opts)
  if type(opts) ~= 'table' then error('lunagrad.plot.scatter: expects an options table', 2) end
  local xs, ys
  if opts.points then
    local p = opts.points
    if type(p) ~= 'userdata' or p:dim() ~= 2 or p:size(2) ~= 2 then
      error('lunagrad.plot.scatter: points must be an N x 2 tensor', 2)
    end
    xs, ys = p:select(2, 1):totable(), p:select(2, 2):totable()
  else
    if not opts.x or not opts.y then error('lunagrad.plot.scatter: needs x and y (or points)', 2) end
    xs, ys = to_list(opts.x, 'x', 'scatter'), to_list(opts.y, 'y', 'scatter')
  end
  if #xs ~= #ys then error(string.format('lunagrad.plot.scatter: %d x but %d y values', #xs, #ys), 2) end
  local classes = opts.class and to_list(opts.class, 'class', 'scatter') or {}
  local domains = opts.domain and to_list(opts.domain, 'domain', 'scatter') or {}
  for _, l in ipairs({ classes, domains }) do
    if #l > 0 and #l ~= #xs then error('lunagrad.plot.scatter: class/domain must have one entry per point', 2) end
  end
  local xlo, xhi = range({ xs })
  local ylo, yhi = range({ ys })
  local px, py = (xhi - xlo) * 0.08, (yhi - ylo) * 0.08
  xlo, xhi, ylo, yhi = xlo - px, xhi + px, ylo - py, yhi + py
  local X, Y, finish, pw, ph = frame(opts, xlo, xhi, ylo, yhi)
  local body, legend = { under = {} }, {}
  if opts.boundary then
    local fn, res = opts.boundary.fn, opts.boundary.resolution or 60
    if type(fn) ~= 'function' then error('lunagrad.plot.scatter: boundary.fn must be a function', 2) end
    local cw, ch = pw / res, ph / res
    for i = 0, res - 1 do
      for j = 0, res - 1 do
        local cx = xlo + (i + 0.5) / res * (xhi - xlo)
        local cy = yhi - (j + 0.5) / res * (yhi - ylo)
        local p = math.max(0, math.min(1, fn(cx, cy)))
        -- blend from class-1 blue to class-2 red, pale so points stay visible
        local r = math.floor(200 + 55 * p - 0.5 + 0.5)
        local b = math.floor(255 - 55 * p + 0.5)
        local g = math.floor(220 - 20 * math.abs(p - 0.5) * 2 + 0.5)
        body.under[#body.under + 1] = string.format('<rect x="%.1f" y="%.1f" width="%.2f" height="%.2f" fill="rgb(%d,%d,%d)"/>',
          X(xlo) + i * cw, Y(yhi) + j * ch, cw + 0.3, ch + 0.3, r, g, b)
      end
    end
  end
  local seen_class, seen_domain = {}, {}
  for k = 1, #xs do
    local c = classes[k] or 1
    local d = domains[k] or 1
    seen_class[c], seen_domain[d] = true, true
    local color = PALETTE[(c - 1) % #PALETTE + 1]
    body[#body + 1] = MARKERS[(d - 1) % #MARKERS + 1](X(xs[k]), Y(ys[k]), color)
  end
  local class_names, domain_names = opts.class_names or {}, opts.domain_names or {}
  for c = 1, #PALETTE do
    if seen_class[c] and (#classes > 0) then
      local color = PALETTE[c]
      legend[#legend + 1] = { name = class_names[c] or ('class ' .. c), symbol = function(x, y)
        return string.format('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>', x - 5, y - 5, color)
      end }
    end
  end
  for d = 1, #MARKERS do
    if seen_domain[d] and #domains > 0 then
      legend[#legend + 1] = { name = domain_names[d] or ('domain ' .. d), symbol = function(x, y)
        return MARKERS[d](x, y, '#333')
      end }
    end
  end
  return finish(body, legend)
end

--- plot.save(svg_text, path): writes the SVG file.
function plot.save(svg, path)
  if type(svg) ~= 'string' or not svg:match('^<svg') then error('lunagrad.plot.save: expects SVG text', 2) end
  if type(path) ~= 'string' then error('lunagrad.plot.save: path must be a string', 2) end
  local f, err = io.open(path, 'w')
  if not f then error('lunagrad.plot.save: cannot write ' .. path .. ': ' .. tostring(err), 2) end
  f:write(svg)
  f:close()
  return path
end

return plot
