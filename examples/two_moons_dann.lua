-- Two moons: source-only training vs DANN (Ganin et al., JMLR 2016, section 5.1).
-- Source = two inter-twinning moons with labels; target = the same moons rotated by
-- 35 degrees, unlabelled. A source-only network misclassifies part of the rotated
-- moons; with a Gradient Reversal Layer feeding a domain classifier, the features
-- become domain-invariant and the target accuracy rises.
-- Prints both target accuracies (held-out target points, mean over a few seeds) and
-- writes decision-boundary plots (SVG) to out/.
--
--   lua5.4 examples/two_moons_dann.lua [OUT_DIR] [--seeds K] [--steps N] [--png]
--
-- The plots show the source points (dots, labelled) and the target points (triangles,
-- unlabelled in training) coloured by their true class, the misclassified ones
-- ringed, over the classifier's output and its p = 0.5 boundary; --png also writes
-- each plot as a PNG image.
--
-- Why these settings. The rotated lower moon passes within ~0.15 of the tip of the
-- source upper moon (noise 0.1), so no classifier is right on both domains there, and
-- the last few percent of target accuracy depend on how finely the features align the
-- moons. The plainer setup (domain head GRL-32-32-1 with ReLU, 3000-6000 steps, no
-- weight decay) reached 0.92-0.96 over initialisation seeds. What changed:
--   * 6000 steps and weight decay 1e-3: smoother features, a boundary that follows the
--     aligned moons rather than single points (6 seeds: 2/6 -> 6/6 at >= 0.95);
--   * a deeper domain head (GRL-32-32-32-1): finer domain discrimination, so the
--     reversed gradient keeps pulling the target tips onto the source tips;
--   * LeakyReLU(0.2) in the domain head: with ReLU, most of its units can die early and
--     the domain classifier stops learning -- the run then ends where source-only
--     training does (one seed in six fell to 0.75).
-- Measured (target accuracy on the 1000 held-out points): seeds 1-12 all >= 0.955
-- (mean 0.966); also 6/6 with two threads instead of one; on other data draws
-- (two_moons seeds 11 and 21 instead of 1) 5 of 6 seeds reach 0.95 (worst 0.93 and 0.85).
-- Source-only training: 0.76 on the same points.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local data = require 'lunagrad.data'
local plot = require 'lunagrad.plot'
local da = require 'lunagrad.da'

local now = require('lunagrad.progress').now

local opts = { out = 'out', seeds = 3, steps = 6000, png = false }
do
  local argv, i = arg or {}, 1
  while i <= #argv do
    local a = argv[i]
    if a == '--seeds' or a == '--steps' then
      local v = math.tointeger(tonumber(argv[i + 1]))
      if not v or v < 1 then
        io.stderr:write('two_moons_dann: ' .. a .. ' needs a positive integer\n')
        os.exit(2)
      end
      opts[a:sub(3)] = v
      i = i + 1
    elseif a == '--png' then
      opts.png = true
    elseif a:sub(1, 1) == '-' then
      io.stderr:write('usage: lua5.4 examples/two_moons_dann.lua [OUT_DIR] [--seeds K] [--steps N] [--png]\n')
      os.exit(2)
    else
      opts.out = a
    end
    i = i + 1
  end
end
os.execute('mkdir -p "' .. opts.out .. '"')

-- Networks this small run fastest on one thread (and the result does not then
-- depend on how many cores reduce a sum).
lg.set_num_threads(1)

local N = 300
local HIDDEN = 32
local SCHEDULE = { mu0 = 0.05, alpha = 10, beta = 0.75, gamma = 10 } -- mu_p and lambda_p
local WEIGHT_DECAY = 1e-3

local Xs, ys = data.two_moons { n = N, noise = 0.1, seed = 1 }              -- labelled source
local Xt, yt = data.two_moons { n = N, noise = 0.1, seed = 2, rotate = 35 } -- unlabelled target (yt: plots only)
local Xtest, ytest = data.two_moons { n = 1000, noise = 0.1, seed = 3, rotate = 35 } -- held out

local function train(adapt, seed)
  lg.manual_seed(seed)
  local features = nn.Sequential(nn.Linear(2, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
  local classifier = nn.Linear(HIDDEN, 2)
  local discriminator = nn.Sequential(nn.GradientReversal(0),
    nn.Linear(HIDDEN, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 1))
  local params = adapt and nn.parameters(features, classifier, discriminator) or nn.parameters(features, classifier)
  local opt = optim.SGD(params, { lr = SCHEDULE.mu0, momentum = 0.9, weight_decay = WEIGHT_DECAY })
  for step = 1, opts.steps do -- full batch: all source and all target points every step
    da.train_step { features = features, classifier = classifier, discriminator = discriminator,
      optimizer = opt, xs = Xs, ys = ys, xt = Xt, adapt = adapt,
      p = (step - 1) / opts.steps, schedule = SCHEDULE }
  end
  return features, classifier
end

-- p(class 2) for a batch of points (N x 2), for the plots' decision boundary
local function boundary(features, classifier)
  return function(points)
    return lg.no_grad(function()
      return classifier(features(points)):softmax(2):select(2, 2)
    end)
  end
end

local function summary(list)
  local s, mn = 0, math.huge
  for _, v in ipairs(list) do s, mn = s + v, math.min(mn, v) end
  local m, ss = s / #list, 0
  for _, v in ipairs(list) do ss = ss + (v - m) ^ 2 end
  return m, #list > 1 and math.sqrt(ss / (#list - 1)) or 0, mn
end

print(string.format('Two moons (Ganin et al. 2016, sec. 5.1): %d labelled source points, %d unlabelled target '
  .. 'points (rotated 35 degrees), 1000 held-out target points', N, N))
print(string.format('features 2-%d-%d (ReLU), label head %d-2, domain head GRL-%d-%d-%d-1 (LeakyReLU 0.2); SGD momentum 0.9, '
  .. 'weight decay %g,', HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, WEIGHT_DECAY))
print(string.format('lr mu_p = %g / (1 + 10p)^0.75, GRL lambda_p = 2 / (1 + exp(-10p)) - 1; %d full-batch steps; '
  .. 'seeds 1..%d (plots: seed 1)', SCHEDULE.mu0, opts.steps, opts.seeds))
print()

local t0 = now()
local runs = {
  { name = 'source only', adapt = false, file = 'two_moons_source_only.svg' },
  { name = 'DANN', adapt = true, file = 'two_moons_dann.svg' },
}
for _, run in ipairs(runs) do
  run.target, run.source = {}, {}
  for seed = 1, opts.seeds do
    local features, classifier = train(run.adapt, seed)
    run.target[seed] = da.evaluate(features, classifier, Xtest, ytest)
    run.source[seed] = da.evaluate(features, classifier, Xs, ys)
    if seed == 1 then
      local points = lg.cat({ Xs, Xt }, 1)
      local predicted = lg.no_grad(function() return classifier(features(points)):argmax(2) end)
      local domain = {}
      for i = 1, 2 * N do domain[i] = i <= N and 1 or 2 end
      local spec = {
        points = points, class = lg.cat({ ys, yt }, 1), predicted = predicted, domain = domain,
        boundary = { batch = boundary(features, classifier), name = 'boundary (p = 0.5)' },
        title = string.format('Two moons, %s: target accuracy %.3f (seed 1)', run.name, run.target[1]),
        xlabel = 'x1', ylabel = 'x2',
        class_names = { 'class 1', 'class 2' }, domain_names = { 'source (labelled)', 'target (unlabelled)' },
      }
      plot.save(plot.scatter(spec), opts.out .. '/' .. run.file)
      if opts.png then plot.save(plot.png('scatter', spec), opts.out .. '/' .. run.file:gsub('%.svg$', '.png')) end
    end
  end
end

print(string.format('%-12s %11s %11s %8s %8s   %s', 'training', 'source acc', 'target acc', 'sd', 'min',
  'target acc per seed'))
for _, run in ipairs(runs) do
  local sm = summary(run.source)
  local m, sd, mn = summary(run.target)
  local per = {}
  for i, v in ipairs(run.target) do per[i] = string.format('%.3f', v) end
  print(string.format('%-12s %11.3f %11.3f %8.3f %8.3f   %s', run.name, sm, m, sd, mn, table.concat(per, ' ')))
end
print(string.format('plots: %s/%s, %s/%s (%.1f s)', opts.out, runs[1].file, opts.out, runs[2].file, now() - t0))
