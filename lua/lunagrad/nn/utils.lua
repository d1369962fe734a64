-- nn.utils: PyTorch's torch.nn.utils gradient clipping and parameter vectors.
--   nn.utils.clip_grad_norm_(params, max_norm [, norm_type = 2 [, {error_if_nonfinite = false}]]) -> total norm
--   nn.utils.clip_grad_value_(params, clip_value)
--   nn.utils.parameters_to_vector(params) -> 1-D tensor ; nn.utils.vector_to_parameters(vec, params)
-- params: a list of tensors, one tensor, or a module (its parameters()).
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'

local utils = {}

local function param_list(fname, params)
  if util.is_module(params) then return params:parameters() end
  if util.is_tensor(params) then return { params } end
  if type(params) ~= 'table' then
    util.raise(string.format('lunagrad.nn.utils.%s: params must be a tensor, a list of tensors or a module, got %s',
      fname, type(params)))
  end
  for i, p in ipairs(params) do
    if not util.is_tensor(p) then
      util.raise(string.format('lunagrad.nn.utils.%s: params[%d] is not a Tensor (got %s)', fname, i, type(p)))
    end
  end
  return params
end

local function norm_type_of(fname, v)
  if v == nil then return 2 end
  if v == 'inf' then return math.huge end
  if type(v) ~= 'number' or v ~= v or v < 0 then
    util.raise(string.format("lunagrad.nn.utils.%s: norm_type must be a number >= 0 or 'inf', got %s", fname,
      tostring(v)))
  end
  return v
end

-- The p-norm of a tensor as a 0-d tensor of its dtype (PyTorch's torch.norm for p = inf, 0, 1, 2, other).
local function tensor_norm(g, p)
  if p == math.huge then return g:abs():max() end
  if p == 0 then return g:ne(0):sum():to(g.dtype) end
  if p == 1 then return g:abs():sum() end
  if p == 2 then return (g * g):sum():sqrt() end
  return g:abs():pow(p):sum():pow(1 / p)
end

local CLIP_OPTS = util.set { 'error_if_nonfinite' }

--- Scales the gradients in place so that their joint norm is at most max_norm
--- (coefficient min(1, max_norm / (total + 1e-6)), as PyTorch); returns the total norm
--- before clipping, as a number (0 when no parameter has a gradient).
function utils.clip_grad_norm_(params, max_norm, norm_type, opts)
  params = param_list('clip_grad_norm_', params)
  util.check_number('nn.utils.clip_grad_norm_', 'max_norm', max_norm)
  norm_type = norm_type_of('clip_grad_norm_', norm_type)
  opts = util.options('nn.utils.clip_grad_norm_', opts, CLIP_OPTS)
  local grads = {}
  for _, p in ipairs(params) do
    if p.grad ~= nil then grads[#grads + 1] = p.grad end
  end
  if #grads == 0 then return 0.0 end
  local _ <close> = lg.no_grad()
  local norms = {}
  for i, g in ipairs(grads) do norms[i] = tensor_norm(g, norm_type):reshape(1) end
  local total
  if norm_type == math.huge then
    total = #norms == 1 and norms[1] or lg.cat(norms, 1):max()
  else
    total = tensor_norm(lg.cat(norms, 1), norm_type)
  end
  local value = total:item()
  if opts.error_if_nonfinite and (value ~= value or value == math.huge or value == -math.huge) then
    util.raise(string.format('lunagrad.nn.utils.clip_grad_norm_: the total norm of order %g of the gradients is '
      .. 'non-finite (%s), so it cannot be clipped', norm_type, tostring(value)))
  end
  local coef = (max_norm / (total + 1e-6)):clamp(nil, 1.0)
  for _, p in ipairs(params) do
    local g = p.grad
    if g ~= nil then
      g:mul_(coef:to(g.dtype))
      p.grad = g
    end
  end
  return value
end

--- Clamps every gradient to [-clip_value, clip_value], in place.
function utils.clip_grad_value_(params, clip_value)
  params = param_list('clip_grad_value_', params)
  util.check_number('nn.utils.clip_grad_value_', 'clip_value', clip_value)
  local _ <close> = lg.no_grad()
  for _, p in ipairs(params) do
    local g = p.grad
    if g ~= nil then
      g:clamp_(-clip_value, clip_value)
      p.grad = g
    end
  end
end

--- The parameters flattened and concatenated into one 1-D tensor (differentiable).
function utils.parameters_to_vector(params)
  params = param_list('parameters_to_vector', params)
  if #params == 0 then util.raise('lunagrad.nn.utils.parameters_to_vector: got no parameters') end
  local flat = {}
  for i, p in ipairs(params) do flat[i] = p:reshape(-1) end
  return lg.cat(flat, 1)
end

--- Copies consecutive slices of vec into the parameters (in place, without recording).
function utils.vector_to_parameters(vec, params)
  if not util.is_tensor(vec) then
    util.raise('lunagrad.nn.utils.vector_to_parameters: bad argument #1 (Tensor expected, got ' .. type(vec) .. ')')
  end
  if vec:dim() ~= 1 then
    util.raise('lunagrad.nn.utils.vector_to_parameters: expects a 1-D vector, got ' .. util.shape_str(vec))
  end
  params = param_list('vector_to_parameters', params)
  local total = 0
  for _, p in ipairs(params) do total = total + p:numel() end
  if total ~= vec:numel() then
    util.raise(string.format('lunagrad.nn.utils.vector_to_parameters: the vector has %d elements, the parameters %d',
      vec:numel(), total))
  end
  local _ <close> = lg.no_grad()
  local offset = 1
  for _, p in ipairs(params) do
    local n = p:numel()
    if n > 0 then p:copy_(vec:narrow(1, offset, n):reshape(p:shape())) end
    offset = offset + n
  end
end

return utils
