-- DANN building blocks (Ganin & Lempitsky 2015; Ganin et al. 2016): a source+target
-- batch with domain labels, the paper's schedules applied to a GRL and an optimiser,
-- one adversarial training step, and batched evaluation.
--
--   features -> classifier                       (label loss on the source half)
--   features -> GradientReversal -> discriminator (domain loss on all, BCE with logits)
local lg = require 'lunagrad'
local util = require 'lunagrad.da.util'

local dann = {}

--- da.domain_batch(xs, xt) -> x, d
-- x = cat(xs, xt) along dim 1; d = float32 (Ns+Nt) x 1 domain labels, 0 source, 1 target.
function dann.domain_batch(xs, xt)
  local fname = 'da.domain_batch'
  util.tensor(fname, 'xs', xs)
  util.tensor(fname, 'xt', xt)
  if xs:dim() == 0 or xs:dim() ~= xt:dim() then
    util.raise(string.format('lunagrad.%s: xs and xt must have the same number of dims (>= 1), got %s and %s',
      fname, util.shape_str(xs), util.shape_str(xt)))
  end
  for k = 2, xs:dim() do
    if xs:size(k) ~= xt:size(k) then
      util.raise(string.format('lunagrad.%s: xs %s and xt %s differ beyond dim 1', fname, util.shape_str(xs),
        util.shape_str(xt)))
    end
  end
  local x = lg.cat({ xs, xt }, 1)
  local d = lg.cat({ lg.zeros(xs:size(1), 1), lg.ones(xt:size(1), 1) }, 1)
  return x, d
end

-- The GradientReversal inside m (m itself, or the first one among its submodules).
local function find_grl(m)
  if type(m.setAlpha) == 'function' then return m end
  for _, sub in ipairs(m:modules()) do
    if type(sub) == 'table' and type(sub.setAlpha) == 'function' then return sub end
  end
  return nil
end

local SCHEDULE_OPTS = util.set { 'gamma', 'mu0', 'alpha', 'beta', 'adapt_lr' }

--- da.schedule_step(grl, optimizer, p [, {gamma=10, mu0=0.01, alpha=10, beta=0.75, adapt_lr=true}])
-- Sets the GRL coefficient lambda_p = 2 / (1 + exp(-gamma p)) - 1 and the learning rate
-- mu_p = mu0 / (1 + alpha p)^beta for training progress p in [0, 1] (Ganin & Lempitsky,
-- sec. 5). grl is an nn.GradientReversal or a module containing one (e.g. the
-- discriminator); either grl or optimizer may be nil. adapt_lr=false leaves opt.lr alone.
-- Returns lambda_p, mu_p.
function dann.schedule_step(grl, optimizer, p, opts)
  local fname = 'da.schedule_step'
  opts = util.options(fname, opts, SCHEDULE_OPTS)
  p = util.number(fname, 'progress p', p, 0, 1)
  local schedule = require('lunagrad.optim').schedule
  local lambda = schedule.dann_lambda(p, opts.gamma or 10)
  local mu = schedule.dann_lr(p, { mu0 = opts.mu0, alpha = opts.alpha, beta = opts.beta })
  if grl ~= nil then
    util.module(fname, 'grl', grl)
    local g = find_grl(grl)
    if not g then util.raise('lunagrad.da.schedule_step: grl contains no nn.GradientReversal') end
    g:setAlpha(lambda)
  end
  if optimizer ~= nil and opts.adapt_lr ~= false then
    if type(optimizer) ~= 'table' or type(optimizer.step) ~= 'function' then
      util.raise('lunagrad.da.schedule_step: optimizer must be an optimiser (optim.SGD, ...), got ' .. type(optimizer))
    end
    optimizer.lr = mu
  end
  return lambda, mu
end

local STEP_KEYS = util.set { 'features', 'classifier', 'discriminator', 'optimizer', 'xs', 'ys', 'xt', 'adapt', 'p',
  'schedule', 'domain_weight' }

--- da.train_step{features=, classifier=, discriminator=, optimizer=, xs=, ys=, xt=,
---   adapt=true, p=nil, schedule=nil, domain_weight=1}
-- One DANN update: zero_grad; f = features(cat(xs, xt)); label loss = cross-entropy of
-- classifier(f[source]) against ys (1-based classes); domain loss = BCE-with-logits of
-- discriminator(f) (it should start with nn.GradientReversal) against 0 = source,
-- 1 = target; backward of label + domain_weight * domain loss; optimizer:step().
-- With p, da.schedule_step(discriminator, optimizer, p, schedule) runs first.
-- adapt=false trains on the source alone (no domain loss).
-- Returns {label_loss=, domain_loss=, domain_acc=, loss=, lambda=, lr=} (numbers;
-- domain_* are nil without adaptation).
function dann.train_step(args)
  local fname = 'da.train_step'
  if type(args) ~= 'table' then util.raise('lunagrad.da.train_step: expects a table of arguments, got ' .. type(args)) end
  util.options(fname, args, STEP_KEYS)
  local features = util.module(fname, 'features', args.features)
  local classifier = util.module(fname, 'classifier', args.classifier)
  local opt = args.optimizer
  if type(opt) ~= 'table' or type(opt.step) ~= 'function' or type(opt.zero_grad) ~= 'function' then
    util.raise('lunagrad.da.train_step: optimizer must be an optimiser (optim.SGD, ...), got ' .. type(opt))
  end
  local xs = util.tensor(fname, 'xs', args.xs)
  local ys = util.tensor(fname, 'ys', args.ys)
  if ys:dim() ~= 1 or ys:size(1) ~= xs:size(1) then
    util.raise(string.format('lunagrad.%s: ys must be 1-d with one label per source row: xs %s, ys %s', fname,
      util.shape_str(xs), util.shape_str(ys)))
  end
  local adapt = args.adapt ~= false
  local domain_weight = util.number(fname, 'domain_weight', args.domain_weight or 1, 0)
  local discriminator, xt
  if adapt then
    discriminator = util.module(fname, 'discriminator', args.discriminator)
    xt = util.tensor(fname, 'xt', args.xt)
  end
  local out = {}
  if args.p ~= nil then
    out.lambda, out.lr = dann.schedule_step(adapt and discriminator or nil, opt, args.p, args.schedule)
  end
  opt:zero_grad()
  local F = require('lunagrad.nn').functional
  local ns = xs:size(1)
  local loss
  if adapt then
    local x, d = dann.domain_batch(xs, xt)
    local f = features(x)
    local label_loss = F.cross_entropy(classifier(f:narrow(1, 1, ns)), ys)
    local logits = discriminator(f)
    if logits:numel() ~= d:numel() then
      util.raise(string.format('lunagrad.%s: discriminator must output one logit per row (N x 1), got %s for %d rows',
        fname, util.shape_str(logits), d:numel()))
    end
    logits = logits:reshape(d:size(1), 1)
    local domain_loss = F.binary_cross_entropy_with_logits(logits, d)
    loss = domain_weight == 1 and label_loss + domain_loss or label_loss + domain_loss * domain_weight
    out.label_loss, out.domain_loss = label_loss:item(), domain_loss:item()
    out.domain_acc = lg.no_grad(function() return logits:gt(0):eq(d):mean():item() end)
  else
    loss = F.cross_entropy(classifier(features(xs)), ys)
    out.label_loss = loss:item()
  end
  out.loss = loss:item()
  loss:backward()
  opt:step()
  return out
end

-- Sets training mode on each module and returns a function restoring the old modes.
local function set_mode(modules, training)
  local old = {}
  for i, m in ipairs(modules) do
    old[i] = m.training
    m:train(training)
  end
  return function()
    for i, m in ipairs(modules) do
      if old[i] ~= nil then m:train(old[i]) end
    end
  end
end

--- da.evaluate(features, classifier, X, y [, batch=256]) -> accuracy in [0, 1]
-- classifier(features(X)) in evaluation mode without recording gradients, in
-- batches; the predicted class is the argmax (1-based), compared with y (1-based).
-- classifier may be nil when features already ends in the class scores.
function dann.evaluate(features, classifier, X, y, batch)
  local fname = 'da.evaluate'
  util.module(fname, 'features', features)
  if classifier ~= nil then util.module(fname, 'classifier', classifier) end
  util.tensor(fname, 'X', X)
  util.tensor(fname, 'y', y)
  if X:dim() == 0 or y:dim() ~= 1 or y:size(1) ~= X:size(1) then
    util.raise(string.format('lunagrad.%s: y must be 1-d with one label per row of X: X %s, y %s', fname,
      util.shape_str(X), util.shape_str(y)))
  end
  batch = util.int(fname, 'batch', batch or 256)
  local n = X:size(1)
  if n == 0 then util.raise('lunagrad.da.evaluate: X has no rows') end
  local restore = set_mode(classifier and { features, classifier } or { features }, false)
  local ok, res = pcall(lg.no_grad, function()
    local correct = 0
    for b = 1, n, batch do
      local len = math.min(batch, n - b + 1)
      local scores = features(X:narrow(1, b, len))
      if classifier then scores = classifier(scores) end
      if scores:dim() ~= 2 or scores:size(1) ~= len then
        util.raise(string.format('lunagrad.da.evaluate: expected N x classes scores, got %s', util.shape_str(scores)))
      end
      correct = correct + scores:argmax(2):eq(y:narrow(1, b, len):long()):sum():item()
    end
    return correct / n
  end)
  restore()
  if not ok then return error(res, 0) end
  return res
end

return dann
