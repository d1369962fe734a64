-- t-SNE and PCA of feature matrices (one point per row), computed in C (src/da/embed.c).
local core = require 'lunagrad.core'
local util = require 'lunagrad.da.util'

local embed = {}

local TSNE_OPTS = util.set { 'dims', 'perplexity', 'iterations', 'seed', 'learning_rate', 'early_exaggeration',
  'exaggeration_iters', 'momentum', 'final_momentum' }

--- da.tsne(X [, {dims=2, perplexity=30, iterations=1000, seed=0, learning_rate=max(200, N/12),
---   early_exaggeration=12, exaggeration_iters=250, momentum=0.5, final_momentum=0.8}])
-- X: N x D tensor. Returns the N x dims layout (float32; float64 for float64 X) and the
-- final KL divergence. Deterministic for a seed; seed = false uses the generator's
-- current state instead (lunagrad.manual_seed).
function embed.tsne(X, opts)
  local fname = 'da.tsne'
  util.tensor(fname, 'X', X, 2)
  opts = util.options(fname, opts, TSNE_OPTS)
  local n = X:size(1)
  local o = {}
  o.dims = util.int(fname, 'dims', opts.dims or 2)
  o.perplexity = util.number(fname, 'perplexity', opts.perplexity or 30)
  if o.perplexity <= 0 then util.raise('lunagrad.da.tsne: perplexity must be > 0, got ' .. o.perplexity) end
  if n < 2 then util.raise('lunagrad.da.tsne: needs at least 2 points, got ' .. n) end
  if o.perplexity > n - 1 then
    util.raise(string.format('lunagrad.da.tsne: perplexity (%g) must be at most the number of points - 1 (%d); '
      .. 'pass a smaller perplexity', o.perplexity, n - 1))
  end
  o.iterations = util.int(fname, 'iterations', opts.iterations or 1000, 0)
  if opts.seed ~= false then o.seed = util.int(fname, 'seed', opts.seed or 0, 0) end
  if opts.learning_rate ~= nil then o.learning_rate = util.number(fname, 'learning_rate', opts.learning_rate, 0) end
  if opts.early_exaggeration ~= nil then
    o.early_exaggeration = util.number(fname, 'early_exaggeration', opts.early_exaggeration, 1e-12)
  end
  if opts.exaggeration_iters ~= nil then
    o.exaggeration_iters = util.int(fname, 'exaggeration_iters', opts.exaggeration_iters, 0)
  end
  if opts.momentum ~= nil then o.momentum = util.number(fname, 'momentum', opts.momentum, 0, 0.999) end
  if opts.final_momentum ~= nil then
    o.final_momentum = util.number(fname, 'final_momentum', opts.final_momentum, 0, 0.999)
  end
  return core._da.tsne(X, o)
end

--- da.pca(X, k) -> projected (N x k), components (k x D), explained_variance (k),
---   explained_variance_ratio (k), mean (D)
-- Components are unit vectors with their largest-magnitude entry positive;
-- variance uses the N - 1 denominator (as scikit-learn's explained_variance_).
function embed.pca(X, k)
  local fname = 'da.pca'
  util.tensor(fname, 'X', X, 2)
  k = util.int(fname, 'k', k)
  local n, d = X:size(1), X:size(2)
  if n < 2 then util.raise('lunagrad.da.pca: needs at least 2 points, got ' .. n) end
  if k > math.min(n, d) then
    util.raise(string.format('lunagrad.da.pca: k must be at most min(N, D) = %d for X of shape %s, got %d',
      math.min(n, d), util.shape_str(X), k))
  end
  return core._da.pca(X, k)
end

return embed
