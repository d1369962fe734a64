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

  it('rejects a bad total or step', function()
    assert.has_error(function() progress.new { total = 0 } end)
    local bar = progress.new { total = 2, out = sink(), tty = false }
    assert.has_error(function() bar:update(1.5) end)
  end)

  it('gives scripts a clock that moves forward', function()
    local t0 = progress.now()
    local spin = 0
    for i = 1, 2e6 do spin = spin + i end
    local t1 = progress.now()
    assert.is_number(t0)
    assert.is_true(spin > 0 and t1 > t0, 'clock did not advance')
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

  it('draws one marker per point, coloured by class and shaped by domain, over a shaded boundary', function()
    local svg = plot.scatter { x = { 0, 1, 2, 3 }, y = { 0, 1, 0, 1 }, class = { 1, 2, 1, 2 }, domain = { 1, 1, 2, 2 },
      boundary = { fn = function(x) return x > 1.5 and 1 or 0 end, resolution = 10 } }
    local _, circles = svg:gsub('<circle', '')
    local _, triangles = svg:gsub('<path d="M[%d.]+ [%d.]+l4 7h%-8z"', '')
    assert.are.equal(2 + 1, circles + 0) -- 2 source points + the legend's source marker
    assert.are.equal(2 + 1, triangles)   -- 2 target points + the legend's target marker
    local _, cells = svg:gsub('<rect x="[%d.]+" y="[%d.]+" width="[%d.]+" height="[%d.]+" fill="rgb', '')
    assert.are.equal(100, cells)
  end)

  it('saves SVG text to a file', function()
    local path = os.tmpname()
    plot.save(plot.line { series = { { y = { 1, 2 } } } }, path)
    local f = assert(io.open(path))
    local text = f:read('a')
    f:close()
    os.remove(path)
    assert.matches('^<svg', text)
  end)
end)
