-- Two moons: source-only training vs DANN (Ganin et al., JMLR 2016, section 5.1).
-- Source = two inter-twinning moons with labels; target = the same moons rotated by
-- 35 degrees, unlabeled. A source-only network misclassifies part of the rotated
-- moons; with a Gradient Reversal Layer feeding a domain classifier, the features
-- become domain-invariant and the target accuracy rises.
-- Prints both target accuracies and writes decision-boundary plots (SVG) to out/.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local data = require 'lunagrad.data'
local plot = require 'lunagrad.plot'

local STEPS = tonumber(os.getenv("STEPS")) or 3000
local HIDDEN = tonumber(os.getenv("HIDDEN")) or 15
local LR = tonumber(os.getenv("LR")) or 0.01
local SEED = tonumber(os.getenv("SEED")) or 7
local OUT = arg and arg[1] or 'out'
os.execute('mkdir -p ' .. OUT)

lg.manual_seed(1)
local Xs, ys = data.two_moons { n = 300, noise = 0.1, seed = 1 }
local Xt = data.two_moons { n = 300, noise = 0.1, seed = 2, rotate = 35 }
local Xtest, ytest = data.two_moons { n = 1000, noise = 0.1, seed = 3, rotate = 35 }
local domain = lg.cat({ lg.zeros(300, 1), lg.ones(300, 1) }, 1) -- 0 source, 1 target

local function accuracy(features, classifier, X, y)
  return lg.no_grad(function()
    local pred = classifier(features(X)):argmax(2)
    return pred:eq(y):mean():item()
  end)
end

local function train(adapt)
  lg.manual_seed(SEED)
  local features = nn.Sequential(nn.Linear(2, HIDDEN), nn.ReLU())
  local classifier = nn.Linear(HIDDEN, 2)
  local grl = nn.GradientReversal(0)
  local discriminator = nn.Sequential(grl, nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))
  local params = {}
  for _, m in ipairs({ features, classifier, discriminator }) do
    for _, p in ipairs(m:parameters()) do params[#params + 1] = p end
  end
  local opt = optim.SGD(params, { lr = LR, momentum = 0.9 })
  local ce, bce = nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss()
  local X_all = lg.cat({ Xs, Xt }, 1)
  for step = 1, STEPS do
    local p = (step - 1) / STEPS
    opt:zero_grad()
    local loss
    if adapt then
      grl:setAlpha(optim.schedule.dann_lambda(p))
      opt.lr = optim.schedule.dann_lr(p, { mu0 = LR })
      local f = features(X_all)
      local label_loss = ce(classifier(f:narrow(1, 1, 300)), ys)
      local domain_loss = bce(discriminator(f), domain)
      loss = label_loss + domain_loss
    else
      loss = ce(classifier(features(Xs)), ys)
    end
    loss:backward()
    opt:step()
  end
  return features, classifier
end

local function boundary(features, classifier)
  return function(x, y)
    return lg.no_grad(function()
      return classifier(features(lg.tensor { { x, y } })):softmax(2)[1][2]
    end)
  end
end

local results = {}
for _, run in ipairs({ { name = 'source only', adapt = false, file = 'two_moons_source_only.svg' },
  { name = 'DANN', adapt = true, file = 'two_moons_dann.svg' } }) do
  local features, classifier = train(run.adapt)
  local acc = accuracy(features, classifier, Xtest, ytest)
  results[#results + 1] = { run.name, accuracy(features, classifier, Xs, ys), acc }
  local pts = lg.cat({ Xs, Xt }, 1)
  local class = lg.no_grad(function() return lg.cat({ ys, classifier(features(Xt)):argmax(2) }, 1) end)
  local dom = {}
  for i = 1, 600 do dom[i] = i <= 300 and 1 or 2 end
  plot.save(plot.scatter {
    points = pts, class = class, domain = dom, boundary = { fn = boundary(features, classifier) },
    title = string.format('%s: target accuracy %.3f', run.name, acc),
    class_names = { 'class 1', 'class 2' }, domain_names = { 'source (labelled)', 'target (predicted)' },
  }, OUT .. '/' .. run.file)
end

print(string.format('%-12s %16s %16s', 'training', 'source accuracy', 'target accuracy'))
for _, r in ipairs(results) do print(string.format('%-12s %16.3f %16.3f', r[1], r[2], r[3])) end
print('plots: ' .. OUT .. '/two_moons_source_only.svg, ' .. OUT .. '/two_moons_dann.svg')
