-- The JMLR 2016 DANN toy problem: two inter-twinning moons (as scikit-learn's
-- make_moons draws them), the target domain being the source rotated by 35 degrees.
local lg = require 'lunagrad'
local util = require 'lunagrad.util'

--- two_moons{n = 300, noise = 0.1, seed = 0, rotate = 0}
-- Returns X (n x 2 float32) and y (n int64 labels 1 or 2, half each).
-- rotate (degrees) turns the points about the centre of the two moons (0.5, 0.25).
-- Deterministic for a given seed; uses its own generator (Lua's xoshiro), so the
-- tensor generator's state (lg.manual_seed) is left alone.
return function(opts)
  opts = util.options('data.two_moons', opts, { n = true, noise = true, seed = true, rotate = true })
  local n, noise, seed, rotate = opts.n or 300, opts.noise or 0.1, opts.seed or 0, opts.rotate or 0
  if math.type(n) ~= 'integer' or n < 2 then
    error('lunagrad.data.two_moons: n must be an integer >= 2, got ' .. tostring(n), 2)
  end
  if type(noise) ~= 'number' or noise < 0 then
    error('lunagrad.data.two_moons: noise must be a number >= 0', 2)
  end
  if type(rotate) ~= 'number' then error('lunagrad.data.two_moons: rotate must be degrees', 2) end
  local rng = math.random
  -- reseed from the caller's stream afterwards, so callers are not reset to `seed`
  local reseed = { math.random(0), math.random(0) }
  math.randomseed(seed)
  local function gauss()
    local u1, u2 = 1 - rng(), rng()
    return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
  end
  local theta = math.rad(rotate)
  local c, s = math.cos(theta), math.sin(theta)
  local points, labels = {}, {}
  local n_outer = n // 2
  for i = 1, n do
    local outer = i <= n_outer
    local count = outer and n_outer or n - n_outer
    local k = outer and i - 1 or i - n_outer - 1
    local t = count > 1 and math.pi * k / (count - 1) or 0
    local x, y
    if outer then x, y = math.cos(t), math.sin(t) else x, y = 1 - math.cos(t), 0.5 - math.sin(t) end
    x, y = x + noise * gauss(), y + noise * gauss()
    local dx, dy = x - 0.5, y - 0.25
    points[i] = { 0.5 + c * dx - s * dy, 0.25 + s * dx + c * dy }
    labels[i] = outer and 1 or 2
  end
  math.randomseed(reseed[1], reseed[2])
  return lg.tensor(points), lg.tensor(labels, { dtype = 'int64' })
end
