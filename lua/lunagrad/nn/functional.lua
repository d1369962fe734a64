-- nn.functional (alias nn.F): the layers' math without module state. Options go in
-- a trailing table, as in PyTorch's keyword arguments.
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'

local F = {}

local function tensor_arg(fname, i, x)
  if not util.is_tensor(x) then
    util.raise(string.format('lunagrad.nn.functional.%s: bad argument #%d (Tensor expected, got %s)', fname, i, type(x)))
  end
  return x
end

-- A trailing options table may sit where an optional tensor would be: F.conv2d(x, w, {stride=2}).
local function split_optional(b, opts)
  if type(b) == 'table' and not util.is_tensor(b) then return nil, b end
  return b, opts
end

function F.linear(x, w, b)
  return util.call(lg.linear, tensor_arg('linear', 1, x), tensor_arg('linear', 2, w), b)
end

local CONV_OPTS = util.set { 'stride', 'padding' }

--- F.conv2d(x, w [, b] [, {stride=1, padding=0}]) ; stride/padding numbers or {h, w}.
function F.conv2d(x, w, b, opts)
  b, opts = split_optional(b, opts)
  opts = util.options('nn.functional.conv2d', opts, CONV_OPTS)
  local stride = util.pair('nn.functional.conv2d', 'stride', opts.stride or 1, 1)
  local padding = util.pair('nn.functional.conv2d', 'padding', opts.padding or 0, 0)
  return util.call(lg.conv2d, tensor_arg('conv2d', 1, x), tensor_arg('conv2d', 2, w), b, stride, padding)
end

local POOL_OPTS = util.set { 'kernel_size', 'stride', 'padding' }

-- (x, {kernel_size=, stride=, padding=}) or (x, k [, stride [, padding]]) or (x, k, {stride=, padding=}).
local function pool_args(fname, k, stride, padding)
  if type(k) == 'table' and #k == 0 then
    local opts = util.options(fname, k, POOL_OPTS)
    k, stride, padding = opts.kernel_size, opts.stride, opts.padding
  elseif type(stride) == 'table' and #stride == 0 then
    local opts = util.options(fname, stride, POOL_OPTS)
    stride, padding = opts.stride, opts.padding
  end
  if k == nil then util.raise('lunagrad.' .. fname .. ': kernel_size is required') end
  local kernel = util.pair(fname, 'kernel_size', k, 1)
  return kernel, stride ~= nil and util.pair(fname, 'stride', stride, 1) or { kernel[1], kernel[2] },
      util.pair(fname, 'padding', padding or 0, 0)
end

function F.max_pool2d(x, k, stride, padding)
  return util.call(lg.max_pool2d, tensor_arg('max_pool2d', 1, x), pool_args('nn.functional.max_pool2d', k, stride, padding))
end

function F.avg_pool2d(x, k, stride, padding)
  return util.call(lg.avg_pool2d, tensor_arg('avg_pool2d', 1, x), pool_args('nn.functional.avg_pool2d', k, stride, padding))
end

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
  return util.call(lg.batch_norm, tensor_arg('batch_norm', 1, x), rmean, rvar, w, b, training, opts.momentum or 0.1,
    opts.eps or 1e-5)
end

function F.relu(x) return tensor_arg('relu', 1, x):relu() end
function F.leaky_relu(x, slope) return tensor_arg('leaky_relu', 1, x):leaky_relu(slope or 0.01) end
function F.sigmoid(x) return tensor_arg('sigmoid', 1, x):sigmoid() end
function F.tanh(x) return tensor_arg('tanh', 1, x):tanh() end
function F.softmax(x, dim) return tensor_arg('softmax', 1, x):softmax(dim or -1) end
function F.log_softmax(x, dim) return tensor_arg('log_softmax', 1, x):log_softmax(dim or -1) end

--- F.dropout(x [, p=0.5 [, training=true]]) (PyTorch's default: training = true).
function F.dropout(x, p, training)
  p = util.check_number('nn.functional.dropout', 'p', p == nil and 0.5 or p, 0, 1)
  return util.call(lg.dropout, tensor_arg('dropout', 1, x), p, training ~= false)
end

local LOSS_OPTS = util.set { 'reduction' }

local function reduction(fname, opts)
  if type(opts) == 'string' then return util.reduction(fname, opts) end
  return util.reduction(fname, util.options(fname, opts, LOSS_OPTS).reduction)
end

function F.cross_entropy(x, t, opts)
  return util.call(lg.cross_entropy, tensor_arg('cross_entropy', 1, x), t, reduction('nn.functional.cross_entropy', opts))
end

function F.nll_loss(x, t, opts)
  return util.call(lg.nll_loss, tensor_arg('nll_loss', 1, x), t, reduction('nn.functional.nll_loss', opts))
end

function F.binary_cross_entropy_with_logits(x, t, opts)
  return util.call(lg.binary_cross_entropy_with_logits, tensor_arg('binary_cross_entropy_with_logits', 1, x), t,
    reduction('nn.functional.binary_cross_entropy_with_logits', opts))
end

function F.mse_loss(a, b, opts)
  return util.call(lg.mse_loss, tensor_arg('mse_loss', 1, a), b, reduction('nn.functional.mse_loss', opts))
end

--- The GRL as a function: identity forward, -alpha * grad backward.
function F.gradient_reversal(x, alpha)
  return util.call(lg.revgrad, tensor_arg('gradient_reversal', 1, x), alpha == nil and 1 or alpha)
end
F.revgrad = F.gradient_reversal

return F
