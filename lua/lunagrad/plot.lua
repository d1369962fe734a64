-- lunagrad.plot: line plots (training curves) and scatter plots (points coloured by
-- class, shaped by domain, misclassified ones ringed, over an optional decision
-- boundary), as SVG text or as PNG images, with no external program.
--
-- Each plot is first laid out as a list of shapes (rect, line, polyline, circle,
-- polygon, text, image); plot.line / plot.scatter write that list as SVG and
-- plot.png rasterises the same list (anti-aliased, stb_easy_font labels) and
-- encodes it with stb_image_write (core._png_encode). A decision boundary is a
-- fine raster of the classifier's output embedded as a PNG, plus its p = 0.5
-- contour (marching squares), not thousands of SVG cells.
local core = require 'lunagrad.core'

local plot = {}

local PALETTE = { '#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf' }
local MARGIN = { left = 70, right = 170, top = 45, bottom = 55 }

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

-- A "nice" step (1, 2, 5 times a power of ten) for about `count` intervals over [lo, hi].
local function nice_step(lo, hi, count)
  local raw = (hi - lo) / count
  local mag = 10 ^ math.floor(math.log(raw, 10))
  for _, m in ipairs({ 1, 2, 5, 10 }) do
    if raw <= m * mag * (1 + 1e-9) then return m * mag end
  end
  return 10 * mag
end

-- [lo, hi] widened to whole ticks, so that the ticks cover the data; returns lo, hi, ticks, step.
local function tick_range(lo, hi, count)
  if hi <= lo then hi = lo + 1 end
  local step = nice_step(lo, hi, count)
  local a = math.floor(lo / step + 1e-9) * step
  local b = math.ceil(hi / step - 1e-9) * step
  local out = {}
  local n = math.floor((b - a) / step + 0.5)
  for k = 0, n do out[#out + 1] = a + k * step end
  return a, b, out, step
end

local function fmt_tick(v, step)
  if math.abs(v) < step * 1e-6 then v = 0 end
  if step >= 1 and math.abs(v) < 1e6 then return string.format('%d', math.floor(v + 0.5)) end
  local decimals = math.max(0, math.ceil(-math.log(step, 10) - 1e-9))
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

------------------------------------------------------------------- the frame
-- Axes, grid, ticks, labels, title and legend around a plot area. Returns the
-- figure {width, height, shapes}, mappers X and Y, and the plot area.
local function frame(opts, xlo, xhi, ylo, yhi, xstep, ystep, xt, yt)
  local w, h = opts.width or 760, opts.height or 480
  local fig = { width = w, height = h, shapes = {}, under = {}, over = {} }
  local pw, ph = w - MARGIN.left - MARGIN.right, h - MARGIN.top - MARGIN.bottom
  local function X(v) return MARGIN.left + (v - xlo) / (xhi - xlo) * pw end
  local function Y(v) return MARGIN.top + ph - (v - ylo) / (yhi - ylo) * ph end
  local area = { x = MARGIN.left, y = MARGIN.top, w = pw, h = ph, xlo = xlo, xhi = xhi, ylo = ylo, yhi = yhi }
  fig.grid, fig.labels = {}, {}
  for _, v in ipairs(xt) do
    fig.grid[#fig.grid + 1] = { 'line', X(v), MARGIN.top, X(v), MARGIN.top + ph, stroke = '#e5e5e5', sw = 1 }
    fig.labels[#fig.labels + 1] = { 'text', X(v), MARGIN.top + ph + 18, fmt_tick(v, xstep), anchor = 'middle' }
    fig.labels[#fig.labels + 1] = { 'line', X(v), MARGIN.top + ph, X(v), MARGIN.top + ph + 5, stroke = '#333', sw = 1 }
  end
  for _, v in ipairs(yt) do
    fig.grid[#fig.grid + 1] = { 'line', MARGIN.left, Y(v), MARGIN.left + pw, Y(v), stroke = '#e5e5e5', sw = 1 }
    fig.labels[#fig.labels + 1] = { 'text', MARGIN.left - 8, Y(v), fmt_tick(v, ystep), anchor = 'end', middle = true }
    fig.labels[#fig.labels + 1] = { 'line', MARGIN.left - 5, Y(v), MARGIN.left, Y(v), stroke = '#333', sw = 1 }
  end
  fig.finish = function(legend)
    local s = fig.shapes
    s[#s + 1] = { 'rect', 0, 0, w, h, fill = '#ffffff' }
    for _, p in ipairs(fig.under) do s[#s + 1] = p end
    for _, p in ipairs(fig.grid) do s[#s + 1] = p end
    for _, p in ipairs(fig.body or {}) do s[#s + 1] = p end
    for _, p in ipairs(fig.over) do s[#s + 1] = p end
    s[#s + 1] = { 'rect', MARGIN.left, MARGIN.top, pw, ph, stroke = '#333', sw = 1 }
    for _, p in ipairs(fig.labels) do s[#s + 1] = p end
    if opts.title then
      s[#s + 1] = { 'text', MARGIN.left + pw / 2, 26, opts.title, anchor = 'middle', size = 16, bold = true }
    end
    if opts.xlabel then
      s[#s + 1] = { 'text', MARGIN.left + pw / 2, h - 14, opts.xlabel, anchor = 'middle', size = 13 }
    end
    if opts.ylabel then
      s[#s + 1] = { 'text', 20, MARGIN.top + ph / 2, opts.ylabel, anchor = 'middle', size = 13, rotate = true }
    end
    local lx = MARGIN.left + pw + 22
    for i, entry in ipairs(legend) do
      local ly = MARGIN.top + 10 + (i - 1) * 20
      for _, p in ipairs(entry.symbol(lx, ly)) do s[#s + 1] = p end
      s[#s + 1] = { 'text', lx + 14, ly, entry.name, middle = true }
    end
    return fig
  end
  return fig, X, Y, area
end

------------------------------------------------------------------- SVG output
local function attrs(p)
  local a = {}
  a[#a + 1] = 'fill="' .. (p.fill or 'none') .. '"'
  if p.opacity then a[#a + 1] = string.format('fill-opacity="%.2f"', p.opacity) end
  if p.stroke then a[#a + 1] = string.format('stroke="%s" stroke-width="%.3g"', p.stroke, p.sw or 1) end
  if p.dash then a[#a + 1] = 'stroke-dasharray="' .. p.dash .. '"' end
  return table.concat(a, ' ')
end

local function svg(fig)
  local out = { string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
    .. 'font-family="sans-serif" font-size="12">', fig.width, fig.height, fig.width, fig.height) }
  for _, p in ipairs(fig.shapes) do
    local kind = p[1]
    if kind == 'rect' then
      out[#out + 1] = string.format('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" %s/>', p[2], p[3], p[4], p[5], attrs(p))
    elseif kind == 'line' then
      out[#out + 1] = string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.3g"%s/>',
        p[2], p[3], p[4], p[5], p.stroke, p.sw or 1, p.dash and (' stroke-dasharray="' .. p.dash .. '"') or '')
    elseif kind == 'polyline' then
      local pts = {}
      for k = 1, #p.pts, 2 do pts[#pts + 1] = string.format('%.1f,%.1f', p.pts[k], p.pts[k + 1]) end
      out[#out + 1] = string.format('<polyline points="%s" %s stroke-linejoin="round"/>', table.concat(pts, ' '), attrs(p))
    elseif kind == 'path' then -- segments {x1, y1, x2, y2, ...}
      local d = {}
      for k = 1, #p.segs, 4 do
        d[#d + 1] = string.format('M%.1f %.1fL%.1f %.1f', p.segs[k], p.segs[k + 1], p.segs[k + 2], p.segs[k + 3])
      end
      out[#out + 1] = string.format('<path d="%s" %s stroke-linecap="round"/>', table.concat(d), attrs(p))
    elseif kind == 'circle' then
      out[#out + 1] = string.format('<circle cx="%.1f" cy="%.1f" r="%.3g" %s/>', p[2], p[3], p[4], attrs(p))
    elseif kind == 'polygon' then
      local pts = {}
      for k = 1, #p.pts, 2 do pts[#pts + 1] = string.format('%.1f,%.1f', p.pts[k], p.pts[k + 1]) end
      out[#out + 1] = string.format('<polygon points="%s" %s/>', table.concat(pts, ' '), attrs(p))
    elseif kind == 'text' then
      local a = { string.format('x="%.1f" y="%.1f"', p[2], p[3]) }
      if p.anchor and p.anchor ~= 'start' then a[#a + 1] = 'text-anchor="' .. p.anchor .. '"' end
      if p.middle then a[#a + 1] = 'dominant-baseline="middle"' end
      if p.size then a[#a + 1] = 'font-size="' .. p.size .. '"' end
      if p.bold then a[#a + 1] = 'font-weight="bold"' end
      if p.rotate then a[#a + 1] = string.format('transform="rotate(-90 %.1f %.1f)"', p[2], p[3]) end
      out[#out + 1] = '<text ' .. table.concat(a, ' ') .. '>' .. esc(p[4]) .. '</text>'
    elseif kind == 'image' then
      local png = core._png_encode(p.cols, p.rows, 3, p.pixels)
      out[#out + 1] = string.format('<image x="%.1f" y="%.1f" width="%.1f" height="%.1f" preserveAspectRatio="none" '
        .. 'href="data:image/png;base64,%s"/>', p[2], p[3], p[4], p[5], plot._base64(png))
    end
  end
  out[#out + 1] = '</svg>\n'
  return table.concat(out, '\n')
end

local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
function plot._base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for k = 3, 0, -1 do
      local v = (n >> (6 * k)) & 63
      q[#q + 1] = B64:sub(v + 1, v + 1)
    end
    if not b then q[3], q[4] = '=', '=' elseif not c then q[4] = '=' end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

------------------------------------------------------------------- PNG output
local function parse_color(c)
  local r, g, b = c:match('^#(%x%x)(%x%x)(%x%x)$')
  if r then return tonumber(r, 16), tonumber(g, 16), tonumber(b, 16) end
  r, g, b = c:match('^rgb%((%d+),%s*(%d+),%s*(%d+)%)$')
  if r then return tonumber(r), tonumber(g), tonumber(b) end
  return 0, 0, 0
end

-- A w x h RGB canvas with alpha-blended, anti-aliased primitives.
local function canvas(w, h)
  local R, G, B = {}, {}, {}
  for i = 1, w * h do R[i], G[i], B[i] = 255, 255, 255 end
  local c = { w = w, h = h }
  local function blend(x, y, r, g, b, a)
    if x < 0 or y < 0 or x >= w or y >= h or a <= 0 then return end
    if a > 1 then a = 1 end
    local i = y * w + x + 1
    R[i] = R[i] + (r - R[i]) * a
    G[i] = G[i] + (g - G[i]) * a
    B[i] = B[i] + (b - B[i]) * a
  end
  c.blend = blend
  function c.rect(x, y, rw, rh, color, alpha)
    local r, g, b = parse_color(color)
    local x0, x1 = math.max(0, math.floor(x)), math.min(w - 1, math.ceil(x + rw) - 1)
    local y0, y1 = math.max(0, math.floor(y)), math.min(h - 1, math.ceil(y + rh) - 1)
    for py = y0, y1 do
      local cy = math.min(py + 1, y + rh) - math.max(py, y)
      for px = x0, x1 do
        local cx = math.min(px + 1, x + rw) - math.max(px, x)
        blend(px, py, r, g, b, cx * cy * (alpha or 1))
      end
    end
  end
  function c.line(x1, y1, x2, y2, color, width, alpha)
    local r, g, b = parse_color(color)
    local hw = (width or 1) / 2
    local dx, dy = x2 - x1, y2 - y1
    local len2 = dx * dx + dy * dy
    local x0, xe = math.max(0, math.floor(math.min(x1, x2) - hw - 1)), math.min(w - 1, math.ceil(math.max(x1, x2) + hw + 1))
    local y0, ye = math.max(0, math.floor(math.min(y1, y2) - hw - 1)), math.min(h - 1, math.ceil(math.max(y1, y2) + hw + 1))
    for py = y0, ye do
      local qy = py + 0.5
      for px = x0, xe do
        local qx = px + 0.5
        local t = len2 > 0 and ((qx - x1) * dx + (qy - y1) * dy) / len2 or 0
        if t < 0 then t = 0 elseif t > 1 then t = 1 end
        local ex, ey = qx - (x1 + t * dx), qy - (y1 + t * dy)
        local d = math.sqrt(ex * ex + ey * ey)
        local cov = hw + 0.5 - d
        if cov > 0 then blend(px, py, r, g, b, math.min(1, cov) * math.min(1, 2 * hw) * (alpha or 1)) end
      end
    end
  end
  function c.circle(cx, cy, rad, fill, stroke, sw, alpha)
    local hw = (sw or 1) / 2
    local fr, fg, fb, sr, sg, sb
    if fill then fr, fg, fb = parse_color(fill) end
    if stroke then sr, sg, sb = parse_color(stroke) end
    local ext = rad + hw + 1
    for py = math.floor(cy - ext), math.ceil(cy + ext) do
      for px = math.floor(cx - ext), math.ceil(cx + ext) do
        local d = math.sqrt((px + 0.5 - cx) ^ 2 + (py + 0.5 - cy) ^ 2)
        if fill then
          local cov = rad + 0.5 - d
          if cov > 0 then blend(px, py, fr, fg, fb, math.min(1, cov) * (alpha or 1)) end
        end
        if stroke then
          local cov = hw + 0.5 - math.abs(d - rad)
          if cov > 0 then blend(px, py, sr, sg, sb, math.min(1, cov) * math.min(1, 2 * hw)) end
        end
      end
    end
  end
  function c.polygon(pts, fill, alpha) -- 4x4 supersampled even-odd fill
    local r, g, b = parse_color(fill)
    local xmin, xmax, ymin, ymax = math.huge, -math.huge, math.huge, -math.huge
    for k = 1, #pts, 2 do
      xmin, xmax = math.min(xmin, pts[k]), math.max(xmax, pts[k])
      ymin, ymax = math.min(ymin, pts[k + 1]), math.max(ymax, pts[k + 1])
    end
    local n = #pts // 2
    for py = math.floor(ymin), math.ceil(ymax) do
      for px = math.floor(xmin), math.ceil(xmax) do
        local hits = 0
        for sy = 0, 3 do
          local qy = py + (sy + 0.5) / 4
          for sx = 0, 3 do
            local qx = px + (sx + 0.5) / 4
            local inside = false
            local j = n
            for i = 1, n do
              local xi, yi, xj, yj = pts[2 * i - 1], pts[2 * i], pts[2 * j - 1], pts[2 * j]
              if (yi > qy) ~= (yj > qy) and qx < (xj - xi) * (qy - yi) / (yj - yi) + xi then inside = not inside end
              j = i
            end
            if inside then hits = hits + 1 end
          end
        end
        if hits > 0 then blend(px, py, r, g, b, hits / 16 * (alpha or 1)) end
      end
    end
  end
  -- An RGB image of cols x rows scaled into the rectangle, bilinear.
  function c.image(x, y, iw, ih, cols, rows, pixels)
    local bytes = { pixels:byte(1, -1) }
    for py = math.max(0, math.floor(y)), math.min(h - 1, math.ceil(y + ih) - 1) do
      local v = (py + 0.5 - y) / ih * rows - 0.5
      local j0 = math.max(0, math.min(rows - 1, math.floor(v)))
      local j1 = math.min(rows - 1, j0 + 1)
      local fy = math.max(0, math.min(1, v - j0))
      for px = math.max(0, math.floor(x)), math.min(w - 1, math.ceil(x + iw) - 1) do
        local u = (px + 0.5 - x) / iw * cols - 0.5
        local i0 = math.max(0, math.min(cols - 1, math.floor(u)))
        local i1 = math.min(cols - 1, i0 + 1)
        local fx = math.max(0, math.min(1, u - i0))
        local rgb = {}
        for ch = 1, 3 do
          local a = bytes[(j0 * cols + i0) * 3 + ch] * (1 - fx) + bytes[(j0 * cols + i1) * 3 + ch] * fx
          local b2 = bytes[(j1 * cols + i0) * 3 + ch] * (1 - fx) + bytes[(j1 * cols + i1) * 3 + ch] * fx
          rgb[ch] = a * (1 - fy) + b2 * fy
        end
        blend(px, py, rgb[1], rgb[2], rgb[3], 1)
      end
    end
  end
  -- Text from stb_easy_font's quads (cap height 7 font pixels), scaled to size.
  function c.text(x, y, s, size, anchor, middle, bold, rotate, color)
    local rects, tw = core._text_rects(s)
    local k = (size or 12) / 9
    local width, height = tw * k, 7 * k
    local ox = anchor == 'middle' and -width / 2 or anchor == 'end' and -width or 0
    local oy = middle and -height / 2 or -height
    for i = 1, #rects, 4 do
      local rx, ry, rw, rh = rects[i] * k + ox, rects[i + 1] * k + oy, rects[i + 2] * k, rects[i + 3] * k
      if bold then rw = rw + k * 0.6 end
      if rotate then -- -90 degrees about (x, y): (dx, dy) -> (dy, -dx)
        c.rect(x + ry, y - rx - rw, rh, rw, color or '#000000')
      else
        c.rect(x + rx, y + ry, rw, rh, color or '#000000')
      end
    end
  end
  function c.pixels()
    local out, chunk = {}, {}
    for i = 1, w * h do
      local n = #chunk
      chunk[n + 1] = math.floor(R[i] + 0.5)
      chunk[n + 2] = math.floor(G[i] + 0.5)
      chunk[n + 3] = math.floor(B[i] + 0.5)
      if n + 3 >= 3000 then
        out[#out + 1] = string.char(table.unpack(chunk))
        chunk = {}
      end
    end
    if #chunk > 0 then out[#out + 1] = string.char(table.unpack(chunk)) end
    return table.concat(out)
  end
  return c
end

local function raster(fig)
  local c = canvas(fig.width, fig.height)
  for _, p in ipairs(fig.shapes) do
    local kind = p[1]
    if kind == 'rect' then
      if p.fill and p.fill ~= 'none' then c.rect(p[2], p[3], p[4], p[5], p.fill, p.opacity) end
      if p.stroke then
        local x, y, w, h = p[2], p[3], p[4], p[5]
        for _, e in ipairs({ { x, y, x + w, y }, { x + w, y, x + w, y + h }, { x + w, y + h, x, y + h }, { x, y + h, x, y } }) do
          c.line(e[1], e[2], e[3], e[4], p.stroke, p.sw)
        end
      end
    elseif kind == 'line' then
      c.line(p[2], p[3], p[4], p[5], p.stroke, p.sw)
    elseif kind == 'polyline' then
      for k = 1, #p.pts - 2, 2 do c.line(p.pts[k], p.pts[k + 1], p.pts[k + 2], p.pts[k + 3], p.stroke, p.sw) end
    elseif kind == 'path' then
      for k = 1, #p.segs, 4 do c.line(p.segs[k], p.segs[k + 1], p.segs[k + 2], p.segs[k + 3], p.stroke, p.sw) end
    elseif kind == 'circle' then
      c.circle(p[2], p[3], p[4], p.fill ~= 'none' and p.fill or nil, p.stroke, p.sw, p.opacity)
    elseif kind == 'polygon' then
      if p.fill and p.fill ~= 'none' then c.polygon(p.pts, p.fill, p.opacity) end
      if p.stroke then
        local n = #p.pts
        for k = 1, n, 2 do
          local k2 = k + 2 > n and 1 or k + 2
          c.line(p.pts[k], p.pts[k + 1], p.pts[k2], p.pts[k2 + 1], p.stroke, p.sw)
        end
      end
    elseif kind == 'text' then
      c.text(p[2], p[3], tostring(p[4]), p.size, p.anchor, p.middle, p.bold, p.rotate)
    elseif kind == 'image' then
      c.image(p[2], p[3], p[4], p[5], p.cols, p.rows, p.pixels)
    end
  end
  return core._png_encode(fig.width, fig.height, 3, c.pixels())
end

------------------------------------------------------------------- line plots
local function layout_line(opts)
  if type(opts) ~= 'table' or type(opts.series) ~= 'table' or #opts.series == 0 then
    error('lunagrad.plot.line: expects {series = {{name=, y=}, ...}}', 3)
  end
  local xs, ys = {}, {}
  for i, s in ipairs(opts.series) do
    local y = to_list(s.y, 'series[' .. i .. '].y', 'line')
    local x = s.x and to_list(s.x, 'series[' .. i .. '].x', 'line')
    if not x then
      x = {}
      for k = 1, #y do x[k] = k end
    end
    if #x ~= #y then error(string.format('lunagrad.plot.line: series %d has %d x but %d y values', i, #x, #y), 3) end
    xs[i], ys[i] = x, y
  end
  local xlo, xhi, xt, xstep
  do
    local lo, hi = range(xs)
    xlo, xhi, xt, xstep = tick_range(lo, hi, 6)
  end
  local ylo, yhi, yt, ystep
  do
    local lo, hi = range(ys)
    if opts.ymin then lo = opts.ymin end
    if opts.ymax then hi = opts.ymax end
    ylo, yhi, yt, ystep = tick_range(lo, hi, 5)
  end
  local fig, X, Y = frame(opts, xlo, xhi, ylo, yhi, xstep, ystep, xt, yt)
  fig.body = {}
  local legend = {}
  for i, s in ipairs(opts.series) do
    local color = s.color or PALETTE[(i - 1) % #PALETTE + 1]
    local pts = {}
    for k = 1, #xs[i] do
      local v = ys[i][k]
      if v == v then
        pts[#pts + 1] = X(xs[i][k])
        pts[#pts + 1] = Y(v)
      end
    end
    fig.body[#fig.body + 1] = { 'polyline', pts = pts, stroke = color, sw = 2 }
    legend[#legend + 1] = { name = s.name or ('series ' .. i), symbol = function(x, y)
      return { { 'line', x - 8, y, x + 6, y, stroke = color, sw = 3 } }
    end }
  end
  return fig.finish(legend)
end

--- plot.line{series = {{name=, x=, y=, color=}, ...}, title=, xlabel=, ylabel=, ymin=, ymax=, width=, height=}
-- Returns the SVG text. x defaults to 1..#y. The axes end on whole ticks, so every
-- value lies within the ticks.
function plot.line(opts) return svg(layout_line(opts)) end

------------------------------------------------------------------- scatter plots
local function marker(d, x, y, color)
  if d == 1 then return { { 'circle', x, y, 3.5, fill = color, opacity = 0.85 } } end
  if d == 2 then return { { 'polygon', pts = { x, y - 4.5, x + 4, y + 2.5, x - 4, y + 2.5 }, stroke = color, sw = 1.5 } } end
  if d == 3 then return { { 'rect', x - 3.5, y - 3.5, 7, 7, stroke = color, sw = 1.5 } } end
  return { { 'line', x - 3.5, y - 3.5, x + 3.5, y + 3.5, stroke = color, sw = 1.5 },
    { 'line', x + 3.5, y - 3.5, x - 3.5, y + 3.5, stroke = color, sw = 1.5 } }
end
local NMARKERS = 4

-- Pale blue (p = 0) through white (0.5) to pale red (1): the classifier's output.
local function boundary_color(p)
  local lo, mid, hi = { 171, 198, 230 }, { 247, 247, 247 }, { 244, 180, 170 }
  local a, b, t = lo, mid, p * 2
  if p > 0.5 then a, b, t = mid, hi, (p - 0.5) * 2 end
  return math.floor(a[1] + (b[1] - a[1]) * t + 0.5), math.floor(a[2] + (b[2] - a[2]) * t + 0.5),
    math.floor(a[3] + (b[3] - a[3]) * t + 0.5)
end

-- The classifier's output on a res x res grid of cell centres (row 1 at the top).
local function boundary_grid(boundary, area, res)
  local n = res * res
  local px, py = {}, {}
  for j = 0, res - 1 do
    for i = 0, res - 1 do
      local k = j * res + i + 1
      px[k] = area.xlo + (i + 0.5) / res * (area.xhi - area.xlo)
      py[k] = area.yhi - (j + 0.5) / res * (area.yhi - area.ylo)
    end
  end
  local p = {}
  if boundary.batch then
    local pts = {}
    for k = 1, n do pts[k] = { px[k], py[k] } end
    local out = boundary.batch(core.tensor(pts))
    if type(out) == 'userdata' then out = out:reshape(n):totable() end
    if type(out) ~= 'table' or #out ~= n then
      error('lunagrad.plot.scatter: boundary.batch must return one probability per point', 4)
    end
    p = out
  else
    for k = 1, n do p[k] = boundary.fn(px[k], py[k]) end
  end
  for k = 1, n do
    local v = tonumber(p[k]) or 0
    p[k] = v ~= v and 0.5 or math.max(0, math.min(1, v))
  end
  return p
end

-- Marching squares at level 0.5 over the grid of cell centres: segments in pixels.
local function contour(p, res, area)
  local segs = {}
  local cw, ch = area.w / res, area.h / res
  local function pos(i, j) return area.x + (i + 0.5) * cw, area.y + (j + 0.5) * ch end
  local function v(i, j) return p[j * res + i + 1] end
  local function interp(i1, j1, i2, j2)
    local a, b = v(i1, j1), v(i2, j2)
    local t = (a == b) and 0.5 or (0.5 - a) / (b - a)
    local x1, y1 = pos(i1, j1)
    local x2, y2 = pos(i2, j2)
    return x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
  end
  for j = 0, res - 2 do
    for i = 0, res - 2 do
      local a, b, c, d = v(i, j) > 0.5, v(i + 1, j) > 0.5, v(i + 1, j + 1) > 0.5, v(i, j + 1) > 0.5
      local pts = {}
      if a ~= b then pts[#pts + 1] = { interp(i, j, i + 1, j) } end
      if b ~= c then pts[#pts + 1] = { interp(i + 1, j, i + 1, j + 1) } end
      if c ~= d then pts[#pts + 1] = { interp(i + 1, j + 1, i, j + 1) } end
      if d ~= a then pts[#pts + 1] = { interp(i, j + 1, i, j) } end
      for k = 1, #pts - 1, 2 do
        local s, e = pts[k], pts[k + 1]
        segs[#segs + 1], segs[#segs + 2], segs[#segs + 3], segs[#segs + 4] = s[1], s[2], e[1], e[2]
      end
    end
  end
  return segs
end

local function layout_scatter(opts)
  if type(opts) ~= 'table' then error('lunagrad.plot.scatter: expects an options table', 3) end
  local xs, ys
  if opts.points then
    local p = opts.points
    if type(p) ~= 'userdata' or p:dim() ~= 2 or p:size(2) ~= 2 then
      error('lunagrad.plot.scatter: points must be an N x 2 tensor', 3)
    end
    xs, ys = p:select(2, 1):totable(), p:select(2, 2):totable()
  else
    if not opts.x or not opts.y then error('lunagrad.plot.scatter: needs x and y (or points)', 3) end
    xs, ys = to_list(opts.x, 'x', 'scatter'), to_list(opts.y, 'y', 'scatter')
  end
  if #xs ~= #ys then error(string.format('lunagrad.plot.scatter: %d x but %d y values', #xs, #ys), 3) end
  local classes = opts.class and to_list(opts.class, 'class', 'scatter') or {}
  local domains = opts.domain and to_list(opts.domain, 'domain', 'scatter') or {}
  local predicted = opts.predicted and to_list(opts.predicted, 'predicted', 'scatter') or {}
  for _, l in ipairs({ classes, domains, predicted }) do
    if #l > 0 and #l ~= #xs then
      error('lunagrad.plot.scatter: class/domain/predicted must have one entry per point', 3)
    end
  end
  if #predicted > 0 and #classes == 0 then error('lunagrad.plot.scatter: predicted needs class (the true classes)', 3) end
  if opts.boundary and type(opts.boundary.fn) ~= 'function' and type(opts.boundary.batch) ~= 'function' then
    error('lunagrad.plot.scatter: boundary needs fn = function(x, y) or batch = function(points)', 3)
  end
  local xlo, xhi = range({ xs })
  local ylo, yhi = range({ ys })
  local px, py = (xhi - xlo) * 0.05, (yhi - ylo) * 0.05
  local xt, yt, xstep, ystep
  xlo, xhi, xt, xstep = tick_range(xlo - px, xhi + px, 6)
  ylo, yhi, yt, ystep = tick_range(ylo - py, yhi + py, 5)
  local fig, X, Y, area = frame(opts, xlo, xhi, ylo, yhi, xstep, ystep, xt, yt)
  fig.body = {}
  local legend = {}
  if opts.boundary then
    local res = opts.boundary.resolution or 160
    if math.type(res) ~= 'integer' or res < 2 or res > 2000 then
      error('lunagrad.plot.scatter: boundary.resolution must be an integer in 2..2000', 3)
    end
    local p = boundary_grid(opts.boundary, area, res)
    local bytes = {}
    for k = 1, res * res do bytes[k] = string.char(boundary_color(p[k])) end
    fig.under[#fig.under + 1] = { 'image', area.x, area.y, area.w, area.h, cols = res, rows = res,
      pixels = table.concat(bytes) }
    fig.over[#fig.over + 1] = { 'path', segs = contour(p, res, area), stroke = '#333333', sw = 1.5 }
  end
  local seen_class, seen_domain, wrong = {}, {}, 0
  for k = 1, #xs do
    local c = classes[k] or 1
    local d = domains[k] or 1
    seen_class[c], seen_domain[d] = true, true
    local color = PALETTE[(c - 1) % #PALETTE + 1]
    for _, s in ipairs(marker((d - 1) % NMARKERS + 1, X(xs[k]), Y(ys[k]), color)) do fig.body[#fig.body + 1] = s end
    if predicted[k] and predicted[k] ~= c then
      wrong = wrong + 1
      fig.over[#fig.over + 1] = { 'circle', X(xs[k]), Y(ys[k]), 6.5, stroke = '#000000', sw = 1.2 }
    end
  end
  local class_names, domain_names = opts.class_names or {}, opts.domain_names or {}
  local class_list = {}
  for c in pairs(seen_class) do class_list[#class_list + 1] = c end
  table.sort(class_list)
  if #classes > 0 then
    for _, c in ipairs(class_list) do
      local color = PALETTE[(c - 1) % #PALETTE + 1]
      legend[#legend + 1] = { name = class_names[c] or ('class ' .. c), symbol = function(x, y)
        return { { 'rect', x - 5, y - 5, 10, 10, fill = color } }
      end }
    end
  end
  if #domains > 0 then
    for d = 1, NMARKERS do
      if seen_domain[d] then
        legend[#legend + 1] = { name = domain_names[d] or ('domain ' .. d), symbol = function(x, y)
          return marker(d, x, y, '#333333')
        end }
      end
    end
  end
  if #predicted > 0 then
    legend[#legend + 1] = { name = string.format('misclassified (%d)', wrong), symbol = function(x, y)
      return { { 'circle', x, y, 6.5, stroke = '#000000', sw = 1.2 } }
    end }
  end
  if opts.boundary then
    legend[#legend + 1] = { name = opts.boundary.name or 'decision boundary', symbol = function(x, y)
      return { { 'line', x - 8, y, x + 6, y, stroke = '#333333', sw = 1.5 } }
    end }
  end
  return fig.finish(legend)
end

--- plot.scatter{x=, y= | points=, class=, domain=, predicted=, class_names=, domain_names=,
--   boundary=, title=, xlabel=, ylabel=, width=, height=}
-- x, y: coordinates (lists or 1-d tensors), or points = N x 2 tensor. class (1-based)
-- picks the colour, domain (1-based) the marker; predicted (1-based) rings every point
-- whose predicted class differs from class. boundary = {batch = function(points N x 2)
-- -> N probabilities} (or fn = function(x, y) -> p), resolution = 160, name=} shades
-- the plane by the classifier's output p in [0, 1] and draws the p = 0.5 contour.
function plot.scatter(opts) return svg(layout_scatter(opts)) end

--- plot.png(kind, opts): the same plot rasterised as PNG bytes (kind 'line' or
-- 'scatter'), for plot.save(png, 'file.png') or any image viewer.
function plot.png(kind, opts)
  if kind == 'line' then return raster(layout_line(opts)) end
  if kind == 'scatter' then return raster(layout_scatter(opts)) end
  error("lunagrad.plot.png: kind must be 'line' or 'scatter', got " .. tostring(kind), 2)
end

local function mkdir_p(dir)
  local ok = os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  return ok == true
end

--- plot.save(svg_or_png, path): writes an SVG text or PNG bytes to path, creating
-- its directory. Returns path.
function plot.save(content, path)
  if type(content) ~= 'string' then error('lunagrad.plot.save: expects SVG text or PNG bytes', 2) end
  local is_png = content:sub(1, 8) == '\137PNG\r\n\26\n'
  if not is_png and not content:match('^<svg') then error('lunagrad.plot.save: expects SVG text or PNG bytes', 2) end
  if type(path) ~= 'string' or path == '' then error('lunagrad.plot.save: path must be a non-empty string', 2) end
  local ext = path:match('%.(%w+)$')
  ext = ext and ext:lower()
  if ext == 'png' and not is_png then
    error("lunagrad.plot.save: " .. path .. " ends in .png but this is SVG text: make it with plot.png('line'|'scatter', opts)", 2)
  elseif ext == 'svg' and is_png then
    error('lunagrad.plot.save: ' .. path .. ' ends in .svg but these are PNG bytes', 2)
  end
  local dir = path:match('^(.*)/[^/]*$')
  if dir and dir ~= '' then mkdir_p(dir) end
  local f, err = io.open(path, 'wb')
  if not f then error('lunagrad.plot.save: cannot write ' .. tostring(err), 2) end
  f:write(content)
  f:close()
  return path
end

return plot
