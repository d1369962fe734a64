-- lunagrad.da: t-SNE, PCA, proxy A-distance and the DANN building blocks.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local da = require 'lunagrad.da'
local data = require 'lunagrad.data'
local plot = require 'lunagrad.plot'

local function close(actual, expected, tol, path)
  tol, path = tol or 1e-12, path or 'value'
  if type(expected) == 'table' then
    assert(#actual == #expected, string.format('%s: length %d, expected %d', path, #actual, #expected))
    for i = 1, #expected do close(actual[i], expected[i], tol, path .. '[' .. i .. ']') end
  else
    assert(math.abs(actual - expected) <= tol * math.max(1, math.abs(expected)),
      string.format('%s: got %.17g, expected %.17g', path, actual, expected))
  end
end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error')
  return tostring(err)
end

-- n points per blob around 30 * e_b in 10-D (unit Gaussian noise), blobs b = 1..3.
local function blobs(n, seed)
  lg.manual_seed(seed)
  local parts = {}
  for b = 1, 3 do
    local centre = {}
    for j = 1, 10 do centre[j] = j == b and 30 or 0 end
    parts[b] = lg.randn(n, 10) + lg.tensor { centre }
  end
  return lg.cat(parts, 1)
end

local function dist(a, b)
  local s = 0
  for k = 1, #a do s = s + (a[k] - b[k]) ^ 2 end
  return math.sqrt(s)
end

describe('da.tsne', function()
  it('keeps three far-apart Gaussian blobs apart in 2-D', function()
    local n = 100
    local y, kl = da.tsne(blobs(n, 11), { seed = 0 })
    assert.are.same({ 3 * n, 2 }, y:shape())
    assert.are.equal('float32', y.dtype)
    assert.is_true(kl > 0 and kl < 3, 'KL(P||Q) = ' .. tostring(kl))
    local pts = y:totable()
    local blob = function(i) return (i - 1) // n + 1 end
    -- every point's nearest neighbour is in its own blob
    for i = 1, #pts do
      local best, bestd = nil, math.huge
      for j = 1, #pts do
        if j ~= i then
          local d = dist(pts[i], pts[j])
          if d < bestd then best, bestd = j, d end
        end
      end
      assert(blob(best) == blob(i), string.format('point %d: nearest neighbour %d is in another blob', i, best))
    end
    -- the gap between blobs dwarfs their spread
    local centres, spread = {}, {}
    for b = 1, 3 do
      local c = { 0, 0 }
      for i = (b - 1) * n + 1, b * n do c[1], c[2] = c[1] + pts[i][1] / n, c[2] + pts[i][2] / n end
      local s = 0
      for i = (b - 1) * n + 1, b * n do s = s + dist(pts[i], c) / n end
      centres[b], spread[b] = c, s
    end
    local max_spread = math.max(spread[1], spread[2], spread[3])
    for a = 1, 3 do
      for b = a + 1, 3 do
        local gap = dist(centres[a], centres[b])
        assert(gap > 5 * max_spread, string.format('blobs %d-%d: gap %.3g vs spread %.3g', a, b, gap, max_spread))
      end
    end
  end)

  it('is deterministic for a seed and differs across seeds', function()
    local x = blobs(30, 5)
    local opts = { seed = 3, iterations = 300, perplexity = 10 }
    local a, kla = da.tsne(x, opts)
    lg.manual_seed(999) -- the caller's generator state does not matter
    local b, klb = da.tsne(x, opts)
    assert.are.same(a:totable(), b:totable())
    assert.are.equal(kla, klb)
    local c = da.tsne(x, { seed = 4, iterations = 300, perplexity = 10 })
    assert.are_not.same(a:totable(), c:totable())
  end)

  it('with seed = false draws the layout from the generator as the caller left it', function()
    local x = blobs(10, 1)
    lg.manual_seed(8)
    local a = da.tsne(x, { seed = false, iterations = 20, perplexity = 5 })
    lg.manual_seed(8)
    local b = da.tsne(x, { seed = false, iterations = 20, perplexity = 5 })
    lg.manual_seed(9)
    local c = da.tsne(x, { seed = false, iterations = 20, perplexity = 5 })
    assert.are.same(a:totable(), b:totable())
    assert.are_not.same(a:totable(), c:totable())
  end)

  it('leaves the caller a stream that depends only on the caller seed', function()
    local x = blobs(10, 1)
    lg.manual_seed(42)
    da.tsne(x, { seed = 1, iterations = 10, perplexity = 5 })
    local after1 = lg.rand(3):totable()
    lg.manual_seed(42)
    da.tsne(x, { seed = 2, iterations = 10, perplexity = 5 })
    assert.are.same(after1, lg.rand(3):totable())
  end)

  it('supports dims=3 and float64 input (float64 output), centred layout', function()
    local x = blobs(20, 2):double()
    local y = da.tsne(x, { dims = 3, perplexity = 10, iterations = 250 })
    assert.are.same({ 60, 3 }, y:shape())
    assert.are.equal('float64', y.dtype)
    local m = y:mean(1):totable()
    for k = 1, 3 do assert(math.abs(m[k]) < 1e-6, 'mean ' .. m[k]) end
    local y4 = da.tsne(x, { dims = 4, perplexity = 10, iterations = 100 }) -- the scalar path beyond 3-D
    assert.are.same({ 60, 4 }, y4:shape())
    local s = y4:abs():sum():item()
    assert.is_true(s == s and s > 0 and s < math.huge)
  end)

  it('separates two points (the smallest problem)', function()
    local y = da.tsne(lg.tensor { { 0, 0, 0 }, { 1, 1, 1 } }, { perplexity = 1, iterations = 50 })
    local p = y:totable()
    assert.is_true(dist(p[1], p[2]) > 0)
    close({ p[1][1] + p[2][1], p[1][2] + p[2][2] }, { 0, 0 }, 1e-6)
  end)

  it('validates its input with messages naming the problem', function()
    local x = blobs(5, 1)
    local err = error_of(da.tsne, 'nope')
    assert.truthy(err:find('lunagrad.da.tsne: X must be a Tensor, got string', 1, true))
    assert.truthy(err:find('da_spec.lua', 1, true), 'error blames the caller: ' .. err)
    assert.truthy(error_of(da.tsne, lg.zeros(4)):find('X must be 2-d, got shape [4]', 1, true))
    assert.truthy(error_of(da.tsne, x):find('perplexity (30) must be at most the number of points - 1 (14)', 1, true))
    assert.truthy(error_of(da.tsne, x, { perplexity = 0 }):find('perplexity must be > 0', 1, true))
    assert.truthy(error_of(da.tsne, x, { perplexty = 3 }):find("unknown option 'perplexty'", 1, true))
    assert.truthy(error_of(da.tsne, x, { dims = 0, perplexity = 3 }):find('dims must be an integer >= 1', 1, true))
    assert.truthy(error_of(da.tsne, x, { iterations = 1.5, perplexity = 3 }):find('iterations must be an integer', 1, true))
    assert.truthy(error_of(da.tsne, lg.zeros(1, 3), { perplexity = 1 }):find('at least 2 points', 1, true))
    local bad = lg.tensor { { 1, 2 }, { 0 / 0, 1 }, { 3, 4 } }
    assert.truthy(error_of(da.tsne, bad, { perplexity = 1 }):find('non-finite value (NaN or inf) at row 2', 1, true))
  end)
end)

-- Sylvester-Hadamard entry (0-based i, j): orthogonal +-1 columns with zero mean for j > 0.
local function hadamard(i, j)
  local s, v = 1, i & j
  while v ~= 0 do
    if v & 1 == 1 then s = -s end
    v = v >> 1
  end
  return s
end

-- Column p of the Householder reflection I - 2 v v^T / (v.v), v = (1, 2, ..., d).
local function householder_col(p, d)
  local vv = 0
  for j = 1, d do vv = vv + j * j end
  local u = {}
  for j = 1, d do u[j] = (j == p and 1 or 0) - 2 * j * p / vv end
  return u
end

-- Flips u so that its largest-magnitude entry is positive (the documented sign rule).
local function sign_rule(u)
  local best = 1
  for j = 2, #u do if math.abs(u[j]) > math.abs(u[best]) then best = j end end
  local s = u[best] < 0 and -1 or 1
  local out = {}
  for j = 1, #u do out[j] = s * u[j] end
  return out, s
end

describe('da.pca', function()
  it('recovers hand-computed axes, variances and scores', function()
    -- x = (1, 2, 3) + t (0.6, 0.8, 0) + s (-0.8, 0.6, 0), t = 3,-3,3,-3 and s = 1,1,-1,-1
    local x = lg.tensor({ { 2.0, 5.0, 3 }, { -1.6, 0.2, 3 }, { 3.6, 3.8, 3 }, { 0.0, -1.0, 3 } }, { dtype = 'float64' })
    local proj, comp, var, ratio, mean = da.pca(x, 2)
    close(var:totable(), { 36 / 3, 4 / 3 })        -- sum t^2 / (N - 1), sum s^2 / (N - 1)
    close(ratio:totable(), { 0.9, 0.1 })           -- of the total 40/3
    close(comp:totable(), { { 0.6, 0.8, 0 }, { 0.8, -0.6, 0 } }) -- second flipped: largest entry positive
    close(proj:totable(), { { 3, -1 }, { -3, -1 }, { 3, 1 }, { -3, 1 } })
    close(mean:totable(), { 1, 2, 3 })
    assert.are.equal('float64', proj.dtype)
    local _, _, var3 = da.pca(x, 3)
    close(var3:totable(), { 12, 4 / 3, 0 }, 1e-12)
  end)

  for _, d in ipairs { 100, 200 } do
    it('finds planted axes by subspace iteration (N = 128, D = ' .. d .. ')', function()
      local n, amp, cols, at = 128, { 5, 4, 3, 2, 1 }, { 3, 7, 12, 20, 33 }, { 1, 17, 40, 77, 99 }
      local u = {}
      for c = 1, 5 do u[c] = householder_col(at[c], d) end
      local rows = {}
      for i = 1, n do
        local r = {}
        for j = 1, d do r[j] = j / 10 end
        for c = 1, 5 do
          local t = amp[c] * hadamard(i - 1, cols[c])
          for j = 1, d do r[j] = r[j] + t * u[c][j] end
        end
        rows[i] = r
      end
      local x = lg.tensor(rows, { dtype = 'float64' })
      local proj, comp, var, ratio = da.pca(x, 3)
      close(var:totable(), { 25 * n / (n - 1), 16 * n / (n - 1), 9 * n / (n - 1) }, 1e-9)
      close(ratio:totable(), { 25 / 55, 16 / 55, 9 / 55 }, 1e-9)
      local ct, pt = comp:totable(), proj:totable()
      for c = 1, 3 do
        local expected, s = sign_rule(u[c])
        close(ct[c], expected, 1e-9, 'component ' .. c)
        for i = 1, n do close(pt[i][c], s * amp[c] * hadamard(i - 1, cols[c]), 1e-9, 'score') end
      end
      -- float32 input gives float32 results
      local _, c32 = da.pca(x:float(), 1)
      assert.are.equal('float32', c32.dtype)
    end)
  end

  it('validates k and the input', function()
    local x = lg.randn(5, 3)
    assert.truthy(error_of(da.pca, x, 4):find('k must be at most min(N, D) = 3 for X of shape [5,3], got 4', 1, true))
    assert.truthy(error_of(da.pca, x, 0):find('k must be an integer >= 1', 1, true))
    assert.truthy(error_of(da.pca, lg.randn(1, 3), 1):find('at least 2 points', 1, true))
    assert.truthy(error_of(da.pca, x):find('lunagrad.da.pca: k must be', 1, true))
  end)
end)

describe('da.proxy_a_distance', function()
  it('is about 2 for separable domains', function()
    lg.manual_seed(1)
    local fs, ft = lg.randn(300, 5), lg.randn(300, 5) + lg.tensor { { 6, 0, 0, 0, 0 } }
    local pad, err = da.proxy_a_distance(fs, ft)
    assert.is_true(err <= 0.01, 'err ' .. err)
    assert.is_true(pad >= 1.96 and pad <= 2, 'pad ' .. pad)
    close(pad, 2 * (1 - 2 * err))
  end)

  it('is about 0 for identical distributions, and deterministic for a seed', function()
    lg.manual_seed(2)
    local fs, ft = lg.randn(400, 5), lg.randn(400, 5)
    local pad, err = da.proxy_a_distance(fs, ft, { seed = 7 })
    assert.is_true(pad <= 0.4, 'pad ' .. pad)
    assert.is_true(err >= 0.4, 'err ' .. err)
    local pad2, err2 = da.proxy_a_distance(fs, ft, { seed = 7 })
    assert.are.equal(pad, pad2)
    assert.are.equal(err, err2)
  end)

  it('needs the mlp classifier for domains a line cannot separate', function()
    -- source in quadrants 1 and 3, target in quadrants 2 and 4 (XOR)
    lg.manual_seed(3)
    local a = lg.rand(400, 2) * 0.8 + 0.2
    local sign_s = lg.tensor { { 1, 1 } }
    local sign_t = lg.tensor { { -1, 1 } }
    local half = lg.cat({ lg.ones(200, 2), -lg.ones(200, 2) }, 1)
    local fs = a * half * sign_s
    local ft = (lg.rand(400, 2) * 0.8 + 0.2) * half * sign_t
    local pad_lin = da.proxy_a_distance(fs, ft)
    local pad_mlp = da.proxy_a_distance(fs, ft, { classifier = 'mlp', hidden = 16, epochs = 60 })
    assert.is_true(pad_lin < 0.8, 'linear pad ' .. pad_lin)
    assert.is_true(pad_mlp > 1.6, 'mlp pad ' .. pad_mlp)
  end)

  it('checks its arguments', function()
    assert.truthy(error_of(da.proxy_a_distance, lg.zeros(4, 3), lg.zeros(4, 2))
      :find('source and target features differ in width: [4,3] vs [4,2]', 1, true))
    assert.truthy(error_of(da.proxy_a_distance, lg.zeros(4, 3), lg.zeros(4, 3), { classifier = 'svm' })
      :find("classifier must be 'linear' or 'mlp'", 1, true))
    assert.truthy(error_of(da.proxy_a_distance, lg.zeros(1, 3), lg.zeros(4, 3)):find('at least 2 points', 1, true))
  end)
end)

describe('da.domain_batch', function()
  it('concatenates source then target with 0/1 float32 N x 1 labels', function()
    local xs, xt = lg.tensor { { 1, 2 }, { 3, 4 }, { 5, 6 } }, lg.tensor { { 7, 8 }, { 9, 10 } }
    local x, d = da.domain_batch(xs, xt)
    assert.are.same({ { 1, 2 }, { 3, 4 }, { 5, 6 }, { 7, 8 }, { 9, 10 } }, x:totable())
    assert.are.same({ { 0 }, { 0 }, { 0 }, { 1 }, { 1 } }, d:totable())
    assert.are.equal('float32', d.dtype)
    assert.truthy(error_of(da.domain_batch, xs, lg.zeros(2, 3)):find('xs [3,2] and xt [2,3] differ beyond dim 1', 1, true))
  end)
end)

describe('da.schedule_step', function()
  it("applies the paper's lambda_p and mu_p", function()
    local grl = nn.GradientReversal(0)
    local w = lg.zeros(1, { requires_grad = true })
    local opt = optim.SGD({ w }, { lr = 1, momentum = 0.9 })
    local cases = {
      { 0, 0, 0.01 },
      { 0.5, 0.9866142981514305, 0.0026084743001221454 }, -- 2/(1+e^-5)-1, 0.01/6^0.75
      { 1, 0.9999092042625952, 0.0016556002607617019 }, -- 2/(1+e^-10)-1, 0.01/11^0.75
    }
    for _, c in ipairs(cases) do
      local lambda, mu = da.schedule_step(grl, opt, c[1])
      close(lambda, c[2], 1e-12)
      close(mu, c[3], 1e-10)
      close(grl.alpha, 2 / (1 + math.exp(-10 * c[1])) - 1)
      close(opt.lr, 0.01 / (1 + 10 * c[1]) ^ 0.75)
    end
  end)

  it('finds the GRL inside a discriminator and takes custom constants', function()
    local disc = nn.Sequential(nn.GradientReversal(), nn.Linear(2, 1))
    local w = lg.zeros(1, { requires_grad = true })
    local opt = optim.SGD({ w }, { lr = 1 })
    local lambda, mu = da.schedule_step(disc, opt, 0.2, { gamma = 5, mu0 = 0.1, alpha = 1, beta = 1 })
    close(lambda, 2 / (1 + math.exp(-1)) - 1)
    close(disc:get(1).alpha, lambda)
    close(mu, 0.1 / 1.2)
    close(opt.lr, 0.1 / 1.2)
    da.schedule_step(disc, opt, 0.5, { adapt_lr = false })
    close(opt.lr, 0.1 / 1.2)
    assert.truthy(error_of(da.schedule_step, nn.Linear(2, 1), nil, 0.5):find('contains no nn.GradientReversal', 1, true))
    assert.truthy(error_of(da.schedule_step, disc, opt, 1.5):find('progress p must be a number in [0, 1]', 1, true))
  end)
end)

-- features: Linear(2, 3); classifier: Linear(3, 2); discriminator: GRL + Linear(3, 1)
local function tiny_dann(seed, lambda)
  lg.manual_seed(seed)
  local f = nn.Linear(2, 3)
  local c = nn.Linear(3, 2)
  local d = nn.Sequential(nn.GradientReversal(lambda), nn.Linear(3, 1))
  return f, c, d
end

describe('da.train_step', function()
  local xs = lg.tensor { { 0.5, -1 }, { 1, 2 }, { -0.3, 0.7 } }
  local ys = lg.tensor({ 1, 2, 2 }, { dtype = 'int64' })
  local xt = lg.tensor { { 2, 0.1 }, { -1, -1 } }

  it('updates features with the label gradient minus lambda times the domain gradient', function()
    local lambda, lr = 0.7, 0.5
    local f, c, d = tiny_dann(5, lambda)
    local w0 = f.weight:clone()
    local dw0 = d:get(2).weight:clone()
    local opt = optim.SGD(nn.parameters(f, c, d), { lr = lr })
    local out = da.train_step { features = f, classifier = c, discriminator = d, optimizer = opt, xs = xs, ys = ys,
      xt = xt }
    -- the same losses, built by hand on a copy without a GRL
    local f2, c2, d2 = tiny_dann(5, lambda)
    local x = lg.cat({ xs, xt }, 1)
    local h = f2(x)
    local label_loss = nn.CrossEntropyLoss()(c2(h:narrow(1, 1, 3)), ys)
    label_loss:backward()
    local g_label = f2.weight.grad:clone()
    f2:zero_grad()
    local dom = lg.tensor { { 0 }, { 0 }, { 0 }, { 1 }, { 1 } }
    local domain_loss = nn.BCEWithLogitsLoss()(d2:get(2)(f2(x)), dom)
    domain_loss:backward()
    local g_domain = f2.weight.grad
    close(out.label_loss, label_loss:item(), 1e-6)
    close(out.domain_loss, domain_loss:item(), 1e-6)
    close(out.loss, label_loss:item() + domain_loss:item(), 1e-6)
    local expected = (w0 - (g_label - g_domain * lambda) * lr):totable()
    local got = f.weight:totable()
    for i = 1, 3 do close(got[i], expected[i], 1e-5, 'features.weight') end
    -- the discriminator itself descends its own loss (no reversal)
    local dexp = (dw0 - d2:get(2).weight.grad * lr):totable()
    local dgot = d:get(2).weight:totable()
    close(dgot[1], dexp[1], 1e-5, 'discriminator.weight')
    assert.is_true(out.domain_acc >= 0 and out.domain_acc <= 1)
    local k = out.domain_acc * 5 -- a fraction of 5 rows
    assert.is_true(math.abs(k - math.floor(k + 0.5)) < 1e-5)
  end)

  it('with p, schedules lambda and lr first; adapt=false trains on the source alone', function()
    local f, c, d = tiny_dann(6, 0)
    local opt = optim.SGD(nn.parameters(f, c, d), { lr = 1 })
    local out = da.train_step { features = f, classifier = c, discriminator = d, optimizer = opt, xs = xs, ys = ys,
      xt = xt, p = 0.5 }
    close(out.lambda, 2 / (1 + math.exp(-5)) - 1)
    close(d:get(1).alpha, out.lambda)
    close(opt.lr, 0.01 / 6 ^ 0.75)
    local dw = d:get(2).weight:clone()
    local out2 = da.train_step { features = f, classifier = c, discriminator = d, optimizer = opt, xs = xs, ys = ys,
      adapt = false }
    assert.is_nil(out2.domain_loss)
    assert.is_nil(out2.domain_acc)
    assert.are.same(dw:totable(), d:get(2).weight:totable())
  end)

  it('decreases the loss on a tiny two-moons DANN', function()
    local Xs, ys2 = data.two_moons { n = 100, noise = 0.1, seed = 1 }
    local Xt = data.two_moons { n = 100, noise = 0.1, seed = 2, rotate = 35 }
    lg.manual_seed(0)
    local features = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
    local classifier = nn.Linear(16, 2)
    local disc = nn.Sequential(nn.GradientReversal(0), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    local opt = optim.SGD(nn.parameters(features, classifier, disc), { lr = 0.05, momentum = 0.9 })
    local log = da.Logger()
    local steps = 150
    for it = 1, steps do
      local out = da.train_step { features = features, classifier = classifier, discriminator = disc,
        optimizer = opt, xs = Xs, ys = ys2, xt = Xt, p = (it - 1) / (steps - 1), schedule = { mu0 = 0.05 } }
      log:log(it, out)
    end
    local first = log:series('label_loss').y[1]
    local last = log:mean('label_loss', 10)
    assert.is_true(last < 0.6 * first, string.format('label loss %.4f -> %.4f', first, last))
    local total_first, total_last = log:series('loss').y[1], log:mean('loss', 10)
    assert.is_true(total_last < total_first, string.format('loss %.4f -> %.4f', total_first, total_last))
    assert.is_true(da.evaluate(features, classifier, Xs, ys2) >= 0.8)
  end)

  it('checks its arguments', function()
    local f, c, d = tiny_dann(1, 1)
    local opt = optim.SGD(nn.parameters(f, c, d), { lr = 0.1 })
    local base = { features = f, classifier = c, discriminator = d, optimizer = opt, xs = xs, ys = ys, xt = xt }
    local function with(k, v)
      local t = {}
      for key, val in pairs(base) do t[key] = val end
      t[k] = v
      return t
    end
    assert.truthy(error_of(da.train_step, with('xt', nil)):find('xt must be a Tensor, got nil', 1, true))
    assert.truthy(error_of(da.train_step, with('ys', lg.tensor({ 1, 2 }, { dtype = 'int64' })))
      :find('ys must be 1-d with one label per source row: xs [3,2], ys [2]', 1, true))
    assert.truthy(error_of(da.train_step, with('optimiser', opt)):find("unknown option 'optimiser'", 1, true))
    assert.truthy(error_of(da.train_step, with('discriminator', nn.Linear(3, 2)))
      :find('discriminator must output one logit per row', 1, true))
  end)
end)

describe('da.evaluate', function()
  it('is the batched argmax accuracy, in evaluation mode, without a graph', function()
    local features = nn.Sequential(nn.Dropout(0.9))
    local classifier = nn.Linear(2, 2, false)
    lg.no_grad(function() classifier.weight:copy(lg.tensor { { 1, 0 }, { 0, 1 } }) end)
    local X = lg.tensor { { 1, 0 }, { 0, 1 }, { 2, 1 }, { 1, 3 }, { 5, 4 }, { 0, 2 }, { 3, 1 } }
    local y = lg.tensor({ 1, 2, 2, 2, 1, 1, 1 }, { dtype = 'int64' }) -- predictions 1,2,1,2,1,2,1: 5 right
    features:train()
    close(da.evaluate(features, classifier, X, y, 3), 5 / 7)
    assert.is_true(features.training, 'training mode restored')
    close(da.evaluate(nn.Sequential(classifier), nil, X, y), 5 / 7)
    assert.truthy(error_of(da.evaluate, features, classifier, X, lg.tensor({ 1 }, { dtype = 'int64' }))
      :find('y must be 1-d with one label per row of X', 1, true))
  end)
end)

describe('da.Logger', function()
  it('accumulates per-step values into plot-ready series', function()
    local log = da.Logger()
    log:log(1, { a = 4, b = lg.tensor(1) })
    log:log(2, { a = 2 })
    log:log({ a = 0, b = 3, skipped = nil })
    assert.are.same({ 'a', 'b' }, log:names())
    assert.are.same({ name = 'a', x = { 1, 2, 3 }, y = { 4, 2, 0 } }, log:series('a'))
    assert.are.same({ name = 'b', x = { 1, 3 }, y = { 1, 3 } }, log:series('b'))
    assert.are.same({ 4, 3, 1 }, log:series('a', { smooth = 2 }).y)
    assert.are.same({ 0, 3 }, { log:last('a') })
    close(log:mean('a'), 2)
    close(log:mean('a', 2), 1)
    assert.are.equal(5, #log)
    local svg = plot.line { series = log:all(), title = 'losses' }
    assert.truthy(svg:find('<polyline', 1, true))
    assert.truthy(svg:find('losses', 1, true))
    assert.truthy(error_of(log.series, log, 'c'):find("no values logged under 'c' (known: a, b)", 1, true))
    assert.truthy(error_of(log.log, log, 4, { a = 'x' }):find('value a must be a number, got string', 1, true))
  end)
end)
