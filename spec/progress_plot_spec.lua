-- The progress bar (plain lines off a terminal, redrawn line on one) and the SVG plots.
local progress = require 'lunagrad.progress'
local plot = require 'lunagrad.plot'
local lg = require 'lunagrad'

-- A file-like sink collecting what is written.
local function sink()
  local s = { parts = {} }
  function s:write(...) for _, v in ipairs({ ... }) do self.parts[#self.parts + 1] = v end end
  function s:flush() end
  function s:text() return table.concat(self.parts) end
  return s
end

describe('lunagrad.progress', function()
  it('prints a plain line every `every` steps and at the end when not on a terminal', function()
    local out = sink()
    local bar = progress.new { total = 10, label = 'train', every = 4, out = out, tty = false }
    for i = 1, 10 do bar:update(i, { loss = 1 / i }) end
    bar:finish()
    local lines = {}
    for line in out:text():gmatch('[^\n]+') do lines[#lines + 1] = line end
    assert.are.equal(3, #lines) -- steps 4, 8 and 10
    assert.matches('^train 4/10 .* it/s .*eta .*loss=0%.25$', lines[1])
    assert.matches('^train 8/10 ', lines[2])
    assert.matches('^train 10/10 .*loss=0%.1$', lines[3])
    assert.is_nil(out:text():find('\r', 1, true)) -- no terminal control in logs
  end)

  it('redraws one line with a bar on a terminal', function()
    local out = sink()
    local bar = progress.new { total = 4, out = out, tty = true, width = 8 }
    bar:update(4, { loss = 0.5 })
    bar:finish()
    local text = out:text()
    assert.truthy(text:find('\r[########] 4/4', 1, true))
    assert.truthy(text:find('\n$'))
  end)

  -- the visible lines of a terminal's output: split at \r and \n, control codes removed
  local function screen_lines(text)
    local lines = {}
    for seg in text:gmatch('[^\r\n]+') do
      seg = seg:gsub('\027%[K', '')
      if seg ~= '' then lines[#lines + 1] = seg end
    end
    return lines
  end

  it('never draws a line wider than the terminal, and keeps its width between redraws', function()
    local out = sink()
    local bar = progress.new { total = 1000, label = string.format('%-15s seed %d', 'source', 1), out = out,
      tty = true, columns = 72 }
    local values = { { loss = 2.5, dloss = 0.6931, target_acc = 0.1 }, { loss = 0.00012, dloss = 123.25, target_acc = 0.9 },
      { loss = 1e9, dloss = -0.5, target_acc = 1 } }
    local steps = { 1, 10, 1000 }
    for i, step in ipairs(steps) do
      bar.last_draw = -math.huge -- draw every update
      bar:update(step, values[i])
    end
    local lines = screen_lines(out:text())
    assert.are.equal(3, #lines)
    for _, line in ipairs(lines) do
      assert.is_true(#line <= 71, 'too wide (' .. #line .. '): ' .. line)
      assert.are.equal(#lines[1], #line, 'width changed: ' .. line)
    end
    assert.matches('^source          seed 1 ', lines[1])
    assert.matches('   1/1000 ', lines[1], 1, true)
    assert.matches('1000/1000 ', lines[3], 1, true)
  end)

  it('shrinks and then drops the bar on a narrow terminal, and the final line keeps every value', function()
    local out = sink()
    local bar = progress.new { total = 50, label = 'mnist', out = out, tty = true, columns = 40 }
    bar:update(50, { label_loss = 0.25, domain_loss = 0.69, target_acc = 0.7512, lr = 0.001 })
    bar:finish() -- the values of the last update
    local text = out:text()
    local redraw = screen_lines(text:match('^(.-)\r[^\r]*$'))
    assert.is_nil(redraw[1]:find('[', 1, true), 'no room for a bar: ' .. redraw[1])
    local final = {}
    for line in text:match('\r([^\r]*)$'):gmatch('[^\n]+') do final[#final + 1] = (line:gsub('\027%[K', '')) end
    assert.is_true(#final >= 2)
    for _, line in ipairs(final) do assert.is_true(#line <= 39, 'too wide: ' .. line) end
    local joined = table.concat(final, ' ')
    for _, item in ipairs({ 'label_loss=  0.2500', 'domain_loss=  0.6900', 'target_acc=  0.7512', 'lr=  0.0010' }) do
      assert.truthy(joined:find(item, 1, true), item .. ' missing from the final line: ' .. joined)
    end
    assert.truthy(text:find('\n$'))
  end)

  it('formats numbers and durations in a fixed width', function()
    for _, v in ipairs({ 0, 1, 0.5, 12.3456789, 1234.5, 123456.7, 1e12, 1e-7, -3.25, 0 / 0 }) do
      assert.are.equal(8, #progress.fmt_num(v), tostring(v))
    end
    assert.are.equal('  12.3457', ' ' .. progress.fmt_num(12.3456789))
    assert.are.equal('1.00e-07', progress.fmt_num(1e-7))
    assert.are.equal(' 1:05', progress.fmt_time(65))
    assert.are.equal('1:01:01', progress.fmt_time(3661))
    assert.are.equal('    ?', progress.fmt_time(math.huge))
  end)

  it('reads $COLUMNS when not told the width, and prints plain lines when stdout is not a terminal', function()
    local script = os.tmpname()
    local f = assert(io.open(script, 'w'))
    f:write([[
local p = require 'lunagrad.progress'
local b = p.new { total = 3, label = string.rep('x', 70), tty = true }
io.write(b:term_columns(), '\n')
b:update(3, { loss = 1 })
b:finish()
local plain = p.new { total = 2, every = 1 }
plain:update(1)
plain:update(2)
plain:finish()
]])
    f:close()
    local env = string.format("LUA_PATH='%s' LUA_CPATH='%s' ", package.path, package.cpath)
    local pipe = io.popen(env .. 'COLUMNS=50 lua5.4 ' .. script .. ' | cat')
    local text = pipe:read('a')
    pipe:close()
    os.remove(script)
    assert.matches('^50\n', text)
    local lines = screen_lines(text)
    assert.is_true(#lines >= 4)
    for _, line in ipairs(lines) do assert.is_true(#line <= 49, line) end
    assert.matches('\n1/2 [^\r]*\n2/2 [^\r]*\n$', text) -- the plain bar: no \r, one line per step
  end)

  it('rejects a bad total or step', function()
    assert.has_error(function() progress.new { total = 0 } end)
    local bar = progress.new { total = 2, out = sink(), tty = false }
    assert.has_error(function() bar:update(1.5) end)
  end)

  it('gives scripts a wall clock (lg.clock, monotonic) that counts sleeps', function()
    assert.are.equal(lg.clock, progress.now)
    local t0 = progress.now()
    assert(os.execute('sleep 0.3'))
    local t1 = progress.now()
    assert.is_number(t0)
    -- CPU time (os.clock) would barely move during a sleep; wall time moves by at least 0.3 s
    assert.is_true(t1 - t0 >= 0.29, 'clock advanced only ' .. (t1 - t0) .. ' s over a 0.3 s sleep')
    local a, b = lg.clock(), lg.clock()
    assert.is_true(b >= a)
  end)

  it('lg.term_width is nil when the stream is not a terminal', function()
    local f = io.popen(string.format("LUA_PATH='%s' LUA_CPATH='%s' lua5.4 -e \"io.write(tostring(require('lunagrad').term_width(1)))\" | cat",
      package.path, package.cpath))
    local text = f:read('a')
    f:close()
    assert.are.equal('nil', text)
  end)
end)

describe('lunagrad.plot', function()
  it('draws a line plot with one polyline per series, a legend, title and axis labels', function()
    local svg = plot.line { title = 'loss <&>', xlabel = 'step', ylabel = 'value',
      series = { { name = 'label', y = { 3, 2, 1 } }, { name = 'domain', x = { 1, 2, 3 }, y = lg.tensor { 1, 1.5, 0.5 } } } }
    assert.matches('^<svg xmlns="http://www.w3.org/2000/svg"', svg)
    assert.matches('</svg>\n$', svg)
    local _, polylines = svg:gsub('<polyline', '')
    assert.are.equal(2, polylines)
    assert.truthy(svg:find('loss &lt;&amp;&gt;', 1, true)) -- escaped title
    for _, text in ipairs({ '>step<', '>value<', '>label<', '>domain<' }) do assert.truthy(svg:find(text, 1, true)) end
  end)

  it('draws one marker per point, coloured by class and shaped by domain, rings the misclassified ones', function()
    local svg = plot.scatter { x = { 0, 1, 2, 3 }, y = { 0, 1, 0, 1 }, class = { 1, 2, 1, 2 }, domain = { 1, 1, 2, 2 },
      predicted = { 1, 1, 1, 2 }, xlabel = 'x1', ylabel = 'x2', title = 't' }
    local _, filled = svg:gsub('<circle [^>]*fill="#', '')
    local _, triangles = svg:gsub('<polygon ', '')
    local _, rings = svg:gsub('<circle [^>]*fill="none" stroke="#000000"', '')
    assert.are.equal(2 + 1, filled)     -- 2 source points + the legend's source marker
    assert.are.equal(2 + 1, triangles)  -- 2 target points + the legend's target marker
    assert.are.equal(1 + 1, rings)      -- point 2 (class 2 predicted 1) + the legend's ring
    assert.truthy(svg:find('>misclassified (1)<', 1, true))
    assert.truthy(svg:find('fill="#d62728"', 1, true)) -- point 2 keeps its true class's colour
    for _, text in ipairs({ '>x1<', '>x2<', '>t<' }) do assert.truthy(svg:find(text, 1, true), text) end
  end)

  it('draws a decision boundary as an embedded PNG raster and its p = 0.5 contour', function()
    local svg = plot.scatter { x = { 0, 1, 2, 3 }, y = { 0, 1, 0, 1 }, class = { 1, 2, 1, 2 },
      boundary = { fn = function(x) return x > 1.5 and 1 or 0 end, resolution = 40 } }
    local _, images = svg:gsub('<image [^>]*href="data:image/png;base64,', '')
    assert.are.equal(1, images)
    assert.is_nil(svg:find('fill="rgb', 1, true)) -- no per-cell rectangles
    -- x ticks run from -0.5 to 3.5 over the 520-pixel plot area starting at x = 70:
    -- x = 1.5 is pixel 330; the contour lies within one cell (13 px) of it
    local d = svg:match('<path d="([^"]+)" fill="none" stroke="#333333"')
    assert.truthy(d, 'no contour path')
    local n = 0
    for x in d:gmatch('[ML]([%d.]+) ') do
      n = n + 1
      assert.is_true(math.abs(tonumber(x) - 330) <= 13, 'contour point at x = ' .. x)
    end
    assert.is_true(n >= 2 * 30) -- a segment per row of cells
    -- the same plot through boundary.batch (one call with every grid point)
    local calls = 0
    local svg2 = plot.scatter { x = { 0, 1, 2, 3 }, y = { 0, 1, 0, 1 }, class = { 1, 2, 1, 2 },
      boundary = { resolution = 40, batch = function(p)
        calls = calls + 1
        assert.are.same({ 1600, 2 }, p:shape())
        return p:select(2, 1):gt(1.5):float()
      end } }
    assert.are.equal(1, calls)
    assert.are.equal(svg, svg2)
    assert.is_true(#svg < 20000, 'boundary plot of ' .. #svg .. ' bytes')
  end)

  it('ends the axes on ticks that cover the data', function()
    local svg = plot.line { series = { { y = { 0.31, 0.62, 0.97 } } } }
    local ticks = {}
    for v in svg:gmatch('<text [^>]*text%-anchor="end" dominant%-baseline="middle">([%d.%-]+)</text>') do
      ticks[#ticks + 1] = tonumber(v)
    end
    table.sort(ticks)
    assert.is_true(#ticks >= 3)
    assert.is_true(ticks[1] <= 0.31, 'lowest tick ' .. ticks[1])
    assert.is_true(ticks[#ticks] >= 0.97, 'highest tick ' .. ticks[#ticks])
  end)

  it('rasterises the same plot as a PNG image (plot.png)', function()
    local data = require 'lunagrad.data'
    local opts = { x = { 0, 1, 2, 3 }, y = { 0, 1, 0, 1 }, class = { 1, 2, 1, 2 }, title = 'png',
      boundary = { fn = function(x) return x > 1.5 and 1 or 0 end, resolution = 40 } }
    local png = plot.png('scatter', opts)
    assert.are.equal('\137PNG\r\n\26\n', png:sub(1, 8))
    local dir = os.tmpname()
    os.remove(dir)
    local path = plot.save(png, dir .. '/sub/plot.png') -- creates the directories
    local img = data.load_image(path)
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.same({ 480, 760, 3 }, img:shape())
    local function px(row, col) return img[row][col]:totable() end
    assert.are.same({ 255, 255, 255 }, px(470, 5))            -- the white background
    local left, right = px(240, 100), px(240, 560)            -- boundary shading, left and right of x = 1.5
    assert.is_true(left[3] > left[1] + 30, 'left of the boundary is not blue: ' .. table.concat(left, ','))
    assert.is_true(right[1] > right[3] + 30, 'right of the boundary is not red: ' .. table.concat(right, ','))
    local dark = 0
    for col = 330, 430 do if px(26, col)[1] < 100 then dark = dark + 1 end end
    assert.is_true(dark > 0, 'no title text')
    assert.has_error(function() plot.png('pie', opts) end, "lunagrad.plot.png: kind must be 'line' or 'scatter', got pie")
  end)

  it('saves SVG text to a file, creating its directory; a failure names the path once', function()
    local dir = os.tmpname()
    os.remove(dir)
    local path = dir .. '/a/b/line.svg'
    assert.are.equal(path, plot.save(plot.line { series = { { y = { 1, 2 } } } }, path))
    local f = assert(io.open(path))
    local text = f:read('a')
    f:close()
    os.execute("rm -rf '" .. dir .. "'")
    assert.matches('^<svg', text)
    local ok, err = pcall(plot.save, text, '/proc/no/such/dir/x.svg')
    assert.is_false(ok)
    local _, mentions = err:gsub('/proc/no/such/dir/x%.svg', '')
    assert.are.equal(1, mentions, err)
    assert.matches('lunagrad.plot.save: cannot write /proc/no/such/dir/x.svg: ', err, 1, true)
    assert.has_error(function() plot.save(text, 'x.png') end)
  end)
end)
