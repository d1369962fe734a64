-- The proxy A-distance (Ben-David et al. 2007; Ganin et al. 2016, sec. 6.1.2):
-- train a classifier to tell source features from target features on one half
-- of each, measure its error `err` on the other half, and report
-- PAD = 2 (1 - 2 err): about 2 when the domains are separable, about 0 when
-- the classifier can do no better than chance.
local lg = require 'lunagrad'
local util = require 'lunagrad.da.util'

local pad = {}

local OPTS = util.set { 'seed', 'classifier', 'hidden', 'epochs', 'lr', 'batch_size', 'weight_decay', 'standardize' }

-- Splits the rows of x at random into two halves (train gets the extra row).
local function split(x)
  local n = x:size(1)
  local perm = lg.randperm(n)
  local ntrain = (n + 1) // 2
  return x:index(1, perm:narrow(1, 1, ntrain)), x:index(1, perm:narrow(1, ntrain + 1, n - ntrain))
end

local function build(kind, d, hidden)
  local nn = require 'lunagrad.nn'
  if kind == 'linear' then return nn.Linear(d, 1) end
  return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, 1))
end

local function labelled(a, b)
  return lg.cat({ a, b }, 1), lg.cat({ lg.zeros(a:size(1), 1), lg.ones(b:size(1), 1) }, 1)
end

--- da.proxy_a_distance(features_source, features_target [, opts]) -> pad, err
-- opts: seed=0, classifier='linear'|'mlp', hidden=64 (mlp), epochs=30, lr=0.01 (Adam),
-- batch_size=64, weight_decay=0, standardize=true (by the training half's mean/std).
-- err is the held-out error of the domain classifier; pad = 2 (1 - 2 err) clamped to [0, 2].
function pad.proxy_a_distance(fs, ft, opts)
  local fname = 'da.proxy_a_distance'
  util.tensor(fname, 'features_source', fs, 2)
  util.tensor(fname, 'features_target', ft, 2)
  if fs:size(2) ~= ft:size(2) then
    util.raise(string.format('lunagrad.%s: source and target features differ in width: %s vs %s', fname,
      util.shape_str(fs), util.shape_str(ft)))
  end
  if fs:size(1) < 2 or ft:size(1) < 2 then
    util.raise(string.format('lunagrad.%s: needs at least 2 points per domain, got %s and %s', fname,
      util.shape_str(fs), util.shape_str(ft)))
  end
  opts = util.options(fname, opts, OPTS)
  local seed = util.int(fname, 'seed', opts.seed or 0, 0)
  local kind = opts.classifier or 'linear'
  if kind ~= 'linear' and kind ~= 'mlp' then
    util.raise("lunagrad.da.proxy_a_distance: classifier must be 'linear' or 'mlp', got " .. tostring(kind))
  end
  local hidden = util.int(fname, 'hidden', opts.hidden or 64)
  local epochs = util.int(fname, 'epochs', opts.epochs or 30)
  local lr = util.number(fname, 'lr', opts.lr or 0.01, 0)
  local batch = util.int(fname, 'batch_size', opts.batch_size or 64)
  local wd = util.number(fname, 'weight_decay', opts.weight_decay or 0, 0)
  local standardize = opts.standardize ~= false

  return util.with_seed(seed, function()
    local optim = require 'lunagrad.optim'
    local F = require('lunagrad.nn').functional
    local s = fs:detach():float()
    local t = ft:detach():float()
    local s_train, s_test = split(s)
    local t_train, t_test = split(t)
    local x, y = labelled(s_train, t_train)
    local xt, yt = labelled(s_test, t_test)
    if standardize then
      local mean = x:mean(1, true)
      local std = ((x - mean) ^ 2):mean(1, true):sqrt():clamp(1e-6, math.huge)
      x, xt = (x - mean) / std, (xt - mean) / std
    end
    local model = build(kind, x:size(2), hidden)
    local opt = optim.Adam(model:parameters(), { lr = lr, weight_decay = wd })
    local n = x:size(1)
    for _ = 1, epochs do
      local perm = lg.randperm(n)
      for b = 1, n, batch do
        local idx = perm:narrow(1, b, math.min(batch, n - b + 1))
        opt:zero_grad()
        local loss = F.binary_cross_entropy_with_logits(model(x:index(1, idx)), y:index(1, idx))
        loss:backward()
        opt:step()
      end
    end
    local err = lg.no_grad(function()
      return model(xt):gt(0):ne(yt):mean():item()
    end)
    local d = 2 * (1 - 2 * err)
    return math.min(2, math.max(0, d)), err
  end)
end

return pad
