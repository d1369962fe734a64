-- nn.init: PyTorch's torch.nn.init, in place (each returns its tensor), under no_grad,
-- drawing from lunagrad's generator (lg.manual_seed makes them repeatable).
--
--   nn.init.xavier_uniform_(w [, gain])          U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))
--   nn.init.kaiming_normal_(w, 0, 'fan_out', 'relu')   or  kaiming_normal_(w, {mode = 'fan_out', ...})
--
-- Fans as PyTorch computes them: fan_in = size(2) * receptive field, fan_out = size(1) *
-- receptive field, the receptive field being the product of dims 3.. (1 for a matrix).
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'

local init = {}

local function check_tensor(fname, t)
  if not util.is_tensor(t) then
    util.raise(string.format('lunagrad.nn.init.%s: bad argument #1 (Tensor expected, got %s)', fname, type(t)))
  end
  if t.dtype == 'int64' then
    util.raise('lunagrad.nn.init.' .. fname .. ': expects a float32 or float64 tensor, got int64')
  end
  return t
end

local function number(fname, what, v, default, lo)
  if v == nil then return default end
  return util.check_number('nn.init.' .. fname, what, v, lo)
end

-- Positional arguments, or one trailing options table with the same names.
local function args(fname, names, ...)
  local first = ...
  if select('#', ...) == 1 and type(first) == 'table' and not util.is_tensor(first) then
    local opts = util.options('nn.init.' .. fname, first, util.set(names))
    local out = {}
    for i, n in ipairs(names) do out[i] = opts[n] end
    return table.unpack(out, 1, #names)
  end
  if select('#', ...) > #names then
    util.raise(string.format('lunagrad.nn.init.%s: takes at most %d arguments after the tensor (%s), got %d', fname,
      #names, table.concat(names, ', '), select('#', ...)))
  end
  return ...
end

--- PyTorch's calculate_gain(nonlinearity [, param]).
function init.calculate_gain(nonlinearity, param)
  local linear = {
    linear = true, identity = true, conv1d = true, conv2d = true, conv3d = true, conv_transpose1d = true,
    conv_transpose2d = true, conv_transpose3d = true, sigmoid = true,
  }
  if linear[nonlinearity] then return 1 end
  if nonlinearity == 'tanh' then return 5.0 / 3 end
  if nonlinearity == 'relu' then return math.sqrt(2.0) end
  if nonlinearity == 'leaky_relu' then
    local slope = 0.01
    if param ~= nil then
      if type(param) ~= 'number' then
        util.raise('lunagrad.nn.init.calculate_gain: negative_slope ' .. tostring(param) .. ' is not a valid number')
      end
      slope = param
    end
    return math.sqrt(2.0 / (1 + slope ^ 2))
  end
  if nonlinearity == 'selu' then return 3.0 / 4 end
  util.raise("lunagrad.nn.init.calculate_gain: unsupported nonlinearity '" .. tostring(nonlinearity)
    .. "' (linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu, selu)")
end

--- fan_in, fan_out of a tensor of 2 or more dims (PyTorch's _calculate_fan_in_and_fan_out).
function init.calculate_fan_in_and_fan_out(t, fname)
  fname = fname or 'calculate_fan_in_and_fan_out'
  check_tensor(fname, t)
  local shape = t:shape()
  if #shape < 2 then
    util.raise(string.format('lunagrad.nn.init.%s: fan in and fan out can not be computed for a tensor with fewer '
      .. 'than 2 dimensions (got %d)', fname, #shape))
  end
  local receptive = 1
  for d = 3, #shape do receptive = receptive * shape[d] end
  return shape[2] * receptive, shape[1] * receptive
end

local function correct_fan(t, mode, fname)
  mode = mode or 'fan_in'
  if mode ~= 'fan_in' and mode ~= 'fan_out' then
    util.raise("lunagrad.nn.init." .. fname .. ": mode must be 'fan_in' or 'fan_out', got " .. tostring(mode))
  end
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t, fname)
  return mode == 'fan_in' and fan_in or fan_out
end

local function fill_uniform(t, a, b)
  local _ <close> = lg.no_grad()
  return t:uniform_(a, b)
end

local function fill_normal(t, mean, std)
  local _ <close> = lg.no_grad()
  return t:normal_(mean, std)
end

function init.uniform_(t, ...)
  check_tensor('uniform_', t)
  local a, b = args('uniform_', { 'a', 'b' }, ...)
  a, b = number('uniform_', 'a', a, 0), number('uniform_', 'b', b, 1)
  if a > b then util.raise(string.format('lunagrad.nn.init.uniform_: needs a <= b, got a = %g, b = %g', a, b)) end
  return fill_uniform(t, a, b)
end

function init.normal_(t, ...)
  check_tensor('normal_', t)
  local mean, std = args('normal_', { 'mean', 'std' }, ...)
  return fill_normal(t, number('normal_', 'mean', mean, 0), number('normal_', 'std', std, 1, 0))
end

function init.constant_(t, val)
  check_tensor('constant_', t)
  util.check_number('nn.init.constant_', 'val', val)
  local _ <close> = lg.no_grad()
  return t:fill_(val)
end

function init.zeros_(t)
  check_tensor('zeros_', t)
  local _ <close> = lg.no_grad()
  return t:zero_()
end

function init.ones_(t)
  check_tensor('ones_', t)
  local _ <close> = lg.no_grad()
  return t:fill_(1)
end

--- The identity on a 2-D tensor (ones on the diagonal, as torch.eye; rectangular allowed).
function init.eye_(t)
  check_tensor('eye_', t)
  local shape = t:shape()
  if #shape ~= 2 then util.raise('lunagrad.nn.init.eye_: only 2-D tensors are supported, got ' .. #shape .. '-D') end
  local rows = {}
  for i = 1, shape[1] do
    local row = {}
    for j = 1, shape[2] do row[j] = i == j and 1 or 0 end
    rows[i] = row
  end
  local _ <close> = lg.no_grad()
  if shape[1] == 0 or shape[2] == 0 then return t end
  return t:copy_(lg.tensor(rows, { dtype = t.dtype }))
end

function init.xavier_uniform_(t, ...)
  check_tensor('xavier_uniform_', t)
  local gain = number('xavier_uniform_', 'gain', args('xavier_uniform_', { 'gain' }, ...), 1)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t, 'xavier_uniform_')
  local std = gain * math.sqrt(2.0 / (fan_in + fan_out))
  local a = math.sqrt(3.0) * std
  return fill_uniform(t, -a, a)
end

function init.xavier_normal_(t, ...)
  check_tensor('xavier_normal_', t)
  local gain = number('xavier_normal_', 'gain', args('xavier_normal_', { 'gain' }, ...), 1)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t, 'xavier_normal_')
  return fill_normal(t, 0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
end

local function kaiming_std(fname, t, ...)
  local a, mode, nonlinearity = args(fname, { 'a', 'mode', 'nonlinearity' }, ...)
  a = number(fname, 'a', a, 0)
  local fan = correct_fan(t, mode, fname)
  local gain = init.calculate_gain(nonlinearity or 'leaky_relu', a)
  return gain / math.sqrt(fan)
end

--- kaiming_uniform_(t [, a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu']): U(-b, b),
--- b = gain * sqrt(3 / fan). A tensor with no elements is returned as it is.
function init.kaiming_uniform_(t, ...)
  check_tensor('kaiming_uniform_', t)
  if t:numel() == 0 then return t end
  local bound = math.sqrt(3.0) * kaiming_std('kaiming_uniform_', t, ...)
  return fill_uniform(t, -bound, bound)
end

function init.kaiming_normal_(t, ...)
  check_tensor('kaiming_normal_', t)
  if t:numel() == 0 then return t end
  return fill_normal(t, 0, kaiming_std('kaiming_normal_', t, ...))
end

-- Thin QR of an m x n matrix (m >= n, rows of Lua numbers) by modified Gram-Schmidt
-- with one re-orthogonalisation pass; R's diagonal is positive, so Q is PyTorch's
-- after its sign correction (q * sign(diag(r))). Returns Q's columns.
local function gram_schmidt(a, m, n)
  local q = {}
  for j = 1, n do
    local v = {}
    for i = 1, m do v[i] = a[i][j] end
    for _ = 1, 2 do
      for k = 1, j - 1 do
        local qk, r = q[k], 0
        for i = 1, m do r = r + qk[i] * v[i] end
        for i = 1, m do v[i] = v[i] - r * qk[i] end
      end
    end
    local norm = 0
    for i = 1, m do norm = norm + v[i] * v[i] end
    norm = math.sqrt(norm)
    if norm == 0 then util.raise('lunagrad.nn.init.orthogonal_: the random matrix is rank-deficient') end
    for i = 1, m do v[i] = v[i] / norm end
    q[j] = v
  end
  return q
end

--- A (semi-)orthogonal matrix (the tensor flattened to size(1) x rest), times gain.
function init.orthogonal_(t, ...)
  check_tensor('orthogonal_', t)
  local gain = number('orthogonal_', 'gain', args('orthogonal_', { 'gain' }, ...), 1)
  local shape = t:shape()
  if #shape < 2 then util.raise('lunagrad.nn.init.orthogonal_: only tensors with 2 or more dimensions are supported') end
  if t:numel() == 0 then return t end
  local rows = shape[1]
  local cols = t:numel() // rows
  local flat = lg.empty({ rows, cols }, { dtype = t.dtype }):normal_(0, 1):totable()
  local m, n, a = rows, cols, flat
  if rows < cols then -- factor the transpose
    a = {}
    for i = 1, cols do
      a[i] = {}
      for j = 1, rows do a[i][j] = flat[j][i] end
    end
    m, n = cols, rows
  end
  local q = gram_schmidt(a, m, n) -- q[j][i]: column j of the m x n factor
  local out = {}
  for i = 1, rows do
    local row = {}
    for j = 1, cols do
      if rows < cols then row[j] = q[i][j] else row[j] = q[j][i] end
    end
    out[i] = row
  end
  local _ <close> = lg.no_grad()
  t:copy_(lg.tensor(out, { dtype = 'float64' }):reshape(shape))
  return t:mul_(gain)
end

-- erfinv of a float64 tensor with |x| < 1: Giles' approximation, then two Newton steps.
local function erfinv(x)
  local w = -((1 - x) * (1 + x)):log()
  local small = w:lt(5)
  local w1 = w - 2.5
  local p1 = w1 * 0 + 2.81022636e-08
  for _, c in ipairs { 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
    -0.00417768164, 0.246640727, 1.50140941 } do
    p1 = p1 * w1 + c
  end
  local w2 = w:sqrt() - 3
  local p2 = w2 * 0 - 0.000200214257
  for _, c in ipairs { 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
    0.00943887047, 1.00167406, 2.83297682 } do
    p2 = p2 * w2 + c
  end
  local y = (p1 * small + p2 * (1 - small)) * x
  for _ = 1, 2 do
    y = y - (y:erf() - x) / ((-(y * y)):exp() * (2 / math.sqrt(math.pi)))
  end
  return y
end

local function norm_cdf(v) return (1 + lg.tensor(v / math.sqrt(2), { dtype = 'float64' }):erf():item()) / 2 end

--- trunc_normal_(t [, mean = 0, std = 1, a = -2, b = 2]): N(mean, std) truncated to [a, b] by
--- PyTorch's inverse-CDF method (uniform in [2 cdf(a) - 1, 2 cdf(b) - 1], erfinv, scale, clamp).
function init.trunc_normal_(t, ...)
  check_tensor('trunc_normal_', t)
  local mean, std, a, b = args('trunc_normal_', { 'mean', 'std', 'a', 'b' }, ...)
  mean, std = number('trunc_normal_', 'mean', mean, 0), number('trunc_normal_', 'std', std, 1, 0)
  a, b = number('trunc_normal_', 'a', a, -2), number('trunc_normal_', 'b', b, 2)
  if a > b then util.raise(string.format('lunagrad.nn.init.trunc_normal_: needs a <= b, got a = %g, b = %g', a, b)) end
  if t:numel() == 0 then return t end
  local l, u = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
  local _ <close> = lg.no_grad()
  t:uniform_(2 * l - 1, 2 * u - 1)
  local edge = 1 - 2 ^ -52
  local x = t:double():clamp(-edge, edge)
  t:copy_(erfinv(x) * (std * math.sqrt(2.0)) + mean)
  return t:clamp_(a, b)
end

return init
