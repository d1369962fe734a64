-- The activations and channel dropouts of nn.functional, in PyTorch's arguments and
-- defaults: gelu, silu, elu, selu, celu, softplus, softsign, mish, hardtanh, hardsigmoid,
-- hardswish, prelu, relu6, logsigmoid, softmin, dropout1d/2d, alpha_dropout.
-- Installed into nn.functional by functional.lua: act(F).
--
-- The pointwise ones are the core's registered ops (differentiable twice); hardtanh and
-- relu6 are clamp, prelu is relu(x) + w * min(x, 0), softmin is softmax(-x): made of
-- ops, so everything here is differentiable twice. Dims are 1-based.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local util = require 'lunagrad.nn.util'

local function raise(fname, fmt, ...)
  util.raise(string.format('lunagrad.nn.functional.' .. fname .. ': ' .. fmt, ...))
end

local function check_tensor(fname, x)
  if not util.is_tensor(x) then raise(fname, 'input must be a Tensor, got %s', type(x)) end
end

return function(F)
  --- F.gelu(x [, {approximate = 'none' | 'tanh'}]) (a string works too).
  function F.gelu(x, opts)
    local approx = opts
    if type(opts) == 'table' then approx = util.options('nn.functional.gelu', opts, util.set { 'approximate' }).approximate end
    approx = approx or 'none'
    if approx == 'none' then return core.gelu(x) end
    if approx == 'tanh' then return core.gelu_tanh(x) end
    raise('gelu', "approximate must be 'none' or 'tanh', got %s", tostring(approx))
  end

  F.silu, F.selu, F.softsign, F.mish = core.silu, core.selu, core.softsign, core.mish
  F.hardsigmoid, F.hardswish, F.logsigmoid = core.hardsigmoid, core.hardswish, core.logsigmoid

  --- F.elu(x [, alpha=1]), F.celu(x [, alpha=1]).
  function F.elu(x, alpha) return core.elu(x, alpha == nil and 1 or alpha) end
  function F.celu(x, alpha)
    if alpha == 0 then raise('celu', 'alpha must not be 0') end
    return core.celu(x, alpha == nil and 1 or alpha)
  end

  --- F.softplus(x [, beta=1 [, threshold=20]]).
  function F.softplus(x, beta, threshold)
    return core.softplus(x, beta == nil and 1 or beta, threshold == nil and 20 or threshold)
  end

  --- F.hardtanh(x [, min_val=-1 [, max_val=1]]) = x:clamp(min_val, max_val).
  function F.hardtanh(x, min_val, max_val)
    check_tensor('hardtanh', x)
    min_val = util.check_number('nn.functional.hardtanh', 'min_val', min_val == nil and -1 or min_val)
    max_val = util.check_number('nn.functional.hardtanh', 'max_val', max_val == nil and 1 or max_val)
    if max_val <= min_val then raise('hardtanh', 'max_val (%g) must be greater than min_val (%g)', max_val, min_val) end
    return x:clamp(min_val, max_val)
  end

  --- F.relu6(x) = x:clamp(0, 6).
  function F.relu6(x)
    check_tensor('relu6', x)
    return x:clamp(0, 6)
  end

  --- F.softmin(x [, dim=-1]) = softmax(-x, dim).
  function F.softmin(x, dim)
    check_tensor('softmin', x)
    return core.softmax(-x, dim or -1)
  end

  --- F.prelu(x, weight): max(0, x) + weight * min(0, x); weight has 1 element or one per
  --- channel (dim 2 of x).
  function F.prelu(x, w)
    check_tensor('prelu', x)
    if not util.is_tensor(w) then raise('prelu', 'weight must be a Tensor, got %s', type(w)) end
    local n = w:numel()
    if w:dim() > 1 then raise('prelu', 'weight must be 1-d, got %s', util.shape_str(w)) end
    local nd = x:dim()
    local ww = w
    if n ~= 1 then
      if nd < 2 or x:size(2) ~= n then
        raise('prelu', 'weight has %d elements (num_parameters) but input %s has %s channels (dim 2)', n,
          util.shape_str(x), nd < 2 and 'no' or tostring(x:size(2)))
      end
      local shape = { n }
      for _ = 3, nd do shape[#shape + 1] = 1 end
      ww = w:view(table.unpack(shape))
    elseif nd == 0 then
      ww = w:sum() -- 0-d, as the input
    end
    return core.relu(x) + ww * lg.minimum(x, 0)
  end

  local function check_p(fname, p)
    return util.check_number('nn.functional.' .. fname, 'p', p == nil and 0.5 or p, 0, 1)
  end

  -- Channel dropout: one keep/drop value per (N, C) (or per C unbatched), broadcast over the rest.
  local function feature_dropout(fname, x, p, training, batched_dim)
    check_tensor(fname, x)
    p = check_p(fname, p)
    local nd = x:dim()
    if nd ~= batched_dim and nd ~= batched_dim - 1 then
      raise(fname, 'expected a %d-d (batched) or %d-d (unbatched) input, got %s', batched_dim, batched_dim - 1,
        util.shape_str(x))
    end
    if training == false or p == 0 or x:numel() == 0 then return x end
    if p == 1 then return x * 0 end
    local shape, lead = {}, nd - batched_dim + 2 -- the (N, C) or (C) dims
    for d = 1, nd do shape[d] = d <= lead and x:size(d) or 1 end
    local mask = lg.rand(shape, { dtype = x.dtype }):lt(1 - p) * (1 / (1 - p))
    return x * mask
  end

  --- F.dropout1d(x [, p=0.5 [, training=true]]): x [N, C, L] or [C, L]; whole channels zeroed.
  function F.dropout1d(x, p, training) return feature_dropout('dropout1d', x, p, training, 3) end
  --- F.dropout2d(x [, p=0.5 [, training=true]]): x [N, C, H, W] or [C, H, W].
  function F.dropout2d(x, p, training) return feature_dropout('dropout2d', x, p, training, 4) end

  local ALPHA = 1.7580993408473766 -- -SELU's scale * alpha: the value a dropped unit takes is -ALPHA

  --- F.alpha_dropout(x [, p=0.5 [, training=false]]) (PyTorch's default: training = false):
  --- dropped units set to SELU's negative saturation, then an affine map that keeps
  --- zero mean and unit variance: a * (x * m + (m - 1) * ALPHA) + ALPHA * a * p,
  --- a = 1 / sqrt((ALPHA^2 p + 1)(1 - p)), m ~ Bernoulli(1 - p).
  function F.alpha_dropout(x, p, training)
    check_tensor('alpha_dropout', x)
    p = check_p('alpha_dropout', p)
    if training ~= true or p == 0 or x:numel() == 0 then return x end
    if p == 1 then return x * 0 end
    local a = 1 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    local m = lg.rand(x:shape(), { dtype = x.dtype }):lt(1 - p)
    return x * (m * a) + (m * (ALPHA * a) + (ALPHA * a * p - ALPHA * a))
  end
end
