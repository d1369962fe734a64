-- nn.functional (alias nn.F): the layers' math without module state. Options go in
-- a trailing table, as in PyTorch's keyword arguments. The nn modules call these;
-- these call the core (lunagrad.core), which checks tensors, shapes and class labels
-- and raises at the user's line. Where nothing is left to parse, the function is the
-- core's own (F.linear == lunagrad.core.linear).
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local util = require 'lunagrad.nn.util'

local F = {}

-- A trailing options table may sit where an optional tensor would be: F.conv2d(x, w, {stride=2}).
local function split_optional(b, opts)
  if type(b) == 'table' and not util.is_tensor(b) then return nil, b end
  return b, opts
end

--- F.linear(x, w [, b]): x W^T + b.
F.linear = core.linear

--- The convolution family (conv1d/2d, conv_transpose1d/2d, pools, adaptive pools,
--- interpolate, pad): lunagrad/nn/conv_functional.lua.
require('lunagrad.nn.conv_functional')(F)
require('lunagrad.nn.activation_functional')(F) -- gelu, silu, elu, ..., prelu, softmin, dropout1d/2d, alpha_dropout

local BN_OPTS = util.set { 'training', 'momentum', 'eps' }

--- F.batch_norm(x, running_mean, running_var [, weight, bias] [, {training=false, momentum=0.1, eps=1e-5}]).
--- In training mode the running stats (when given) are updated in place.
function F.batch_norm(x, rmean, rvar, w, b, opts)
  if type(w) == 'table' and not util.is_tensor(w) then w, b, opts = nil, nil, w
  elseif type(b) == 'table' and not util.is_tensor(b) then b, opts = nil, b end
  opts = util.options('nn.functional.batch_norm', opts, BN_OPTS)
  local training = opts.training == true
  if not training and (rmean == nil or rvar == nil) then
    util.raise('lunagrad.nn.functional.batch_norm: running_mean and running_var are required when not training')
  end
  return core.batch_norm(x, rmean, rvar, w, b, training, opts.momentum or 0.1, opts.eps or 1e-5)
end

local relu, leaky_relu, softmax, log_softmax = core.relu, core.leaky_relu, core.softmax, core.log_softmax
F.relu, F.sigmoid, F.tanh = relu, core.sigmoid, core.tanh
function F.leaky_relu(x, slope) return leaky_relu(x, slope or 0.01) end
function F.softmax(x, dim) return softmax(x, dim or -1) end
function F.log_softmax(x, dim) return log_softmax(x, dim or -1) end

--- F.dropout(x [, p=0.5 [, training=true]]) (PyTorch's default: training = true).
function F.dropout(x, p, training)
  p = util.check_number('nn.functional.dropout', 'p', p == nil and 0.5 or p, 0, 1)
  return core.dropout(x, p, training ~= false)
end

--- The losses: F.cross_entropy(x, t [, reduction]) with reduction 'mean' (default),
--- 'sum' or 'none', as a string or {reduction = ...}; class labels are 1-based.
F.cross_entropy = core.cross_entropy
F.nll_loss = core.nll_loss
F.binary_cross_entropy_with_logits = core.binary_cross_entropy_with_logits
F.mse_loss = core.mse_loss

require('lunagrad.nn.embedding_functional')(F) -- F.embedding, F.embedding_bag (nn.Embedding, nn.EmbeddingBag)

--- The GRL as a function: identity forward, -alpha * grad backward.
function F.gradient_reversal(x, alpha) return lg.revgrad(x, alpha == nil and 1 or alpha) end
F.revgrad = F.gradient_reversal

return F
