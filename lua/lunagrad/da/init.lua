-- lunagrad.da: domain adaptation helpers around the DANN recipe (Ganin et al. 2016).
--
--   local da = require 'lunagrad.da'
--   local y, kl = da.tsne(features, {perplexity = 30, seed = 0})   -- N x 2 layout
--   local proj, components, variance = da.pca(features, 2)
--   local pad, err = da.proxy_a_distance(source_features, target_features)
--   local out = da.train_step{features = F, classifier = C, discriminator = D,
--                             optimizer = opt, xs = xs, ys = ys, xt = xt, p = progress}
--   local acc = da.evaluate(F, C, X_test, y_test)
--
-- Submodules: lunagrad.da.embed (t-SNE, PCA), lunagrad.da.pad (proxy A-distance),
-- lunagrad.da.dann (batches, schedules, train/eval steps), lunagrad.da.Logger.
local embed = require 'lunagrad.da.embed'
local pad = require 'lunagrad.da.pad'
local dann = require 'lunagrad.da.dann'

local da = {}

da.tsne = embed.tsne
da.pca = embed.pca
da.proxy_a_distance = pad.proxy_a_distance
da.domain_batch = dann.domain_batch
da.schedule_step = dann.schedule_step
da.train_step = dann.train_step
da.evaluate = dann.evaluate
da.Logger = require 'lunagrad.da.Logger'

return da
