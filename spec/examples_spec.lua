-- The examples run end to end: `make demo` (examples/two_moons_dann.lua) must show
-- DANN beating source-only training on the rotated moons, and write its plots.
local function getenv_or(name, fallback)
  local v = os.getenv(name)
  if v == nil or v == '' then return fallback end
  return v
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs a Lua script in a fresh lua5.4 with this process's module paths; returns
-- its output (stdout + stderr) and exit status.
local function run_lua(script, args)
  local env = string.format('LUA_PATH=%s LUA_CPATH=%s ', shell_quote(getenv_or('LUA_PATH', package.path)),
    shell_quote(getenv_or('LUA_CPATH', package.cpath)))
  local p = assert(io.popen(env .. 'lua5.4 ' .. script .. ' ' .. args .. ' 2>&1; echo "exit=$?"'))
  local out = p:read('a')
  p:close()
  return out, tonumber(out:match('exit=(%d+)%s*$'))
end

local read = require('helpers.files').read

-- "<name>  source  target  sd  min  per-seed..." -> numbers
local function row(out, name)
  local line = out:match('\n' .. name:gsub('%s', '%%s') .. '%s+([%d%.%s]+)\n')
  assert.is_not_nil(line, 'no "' .. name .. '" row in:\n' .. out)
  local v = {}
  for num in line:gmatch('%d+%.%d+') do v[#v + 1] = tonumber(num) end
  return { source = v[1], target = v[2], sd = v[3], min = v[4], seeds = { table.unpack(v, 5) } }
end

describe('examples/two_moons_dann.lua', function()
  local dir = os.tmpname()
  os.remove(dir)
  local out, status

  setup(function()
    out, status = run_lua('examples/two_moons_dann.lua', shell_quote(dir))
  end)

  teardown(function()
    os.remove(dir .. '/two_moons_source_only.svg')
    os.remove(dir .. '/two_moons_dann.svg')
    os.remove(dir)
  end)

  it('exits cleanly', function()
    assert.are.equal(0, status, out)
  end)

  it('reaches >= 0.95 target accuracy with DANN, on the default seed and on average', function()
    local dann = row(out, 'DANN')
    assert.is_true(#dann.seeds >= 1, out)
    assert.is_true(dann.seeds[1] >= 0.95, out)  -- seed 1 is the one plotted
    assert.is_true(dann.target >= 0.95, out)
    assert.is_true(dann.source >= 0.95, out)    -- adaptation keeps the source task
  end)

  it('shows source-only training clearly below DANN on the target', function()
    local src, dann = row(out, 'source only'), row(out, 'DANN')
    assert.is_true(src.source >= 0.95, out)     -- it learns the source moons
    assert.is_true(src.target < 0.9, out)       -- but misses part of the rotated ones
    assert.is_true(src.target < dann.target - 0.05, out)
    for i, v in ipairs(dann.seeds) do assert.is_true(src.seeds[i] < v, out) end
  end)

  it('writes the two decision-boundary plots as SVG', function()
    for _, name in ipairs { 'two_moons_source_only.svg', 'two_moons_dann.svg' } do
      local svg = read(dir .. '/' .. name)
      assert.is_not_nil(svg, name .. ' not written')
      assert.is_truthy(svg:match('^<svg'), name)
      assert.is_truthy(svg:match('</svg>%s*$'), name)
      assert.is_truthy(svg:find('<circle', 1, true), name)  -- source points
      assert.is_truthy(svg:find('<rect', 1, true), name)    -- boundary shading
      assert.is_truthy(svg:find('target accuracy', 1, true), name)
    end
  end)
end)
