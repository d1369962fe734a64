-- nn.Linear(in, out [, bias=true]): y = x W^T + b, W of shape (out x in).
-- Initialised as PyTorch: W, b ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform, a = sqrt(5)).
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local Linear = class.new('nn.Linear', Module)

--- bias: boolean, or an options table {bias = true, dtype = 'float32'}.
function Linear:__init(in_features, out_features, bias)
  local opts = type(bias) == 'table' and util.options('nn.Linear', bias, util.set { 'bias', 'dtype' }) or { bias = bias }
  self.in_features = util.check_int('nn.Linear', 'in_features', in_features)
  self.out_features = util.check_int('nn.Linear', 'out_features', out_features)
  local bound = 1 / math.sqrt(self.in_features)
  self:register_parameter('weight', util.uniform({ self.out_features, self.in_features }, bound, opts.dtype))
  if opts.bias ~= false then
    self:register_parameter('bias', util.uniform({ self.out_features }, bound, opts.dtype))
  end
end

function Linear:forward(x)
  if not util.is_tensor(x) then
    util.raise('lunagrad.nn.Linear: expected a Tensor input, got ' .. type(x))
  end
  if x:dim() == 0 or x:size(-1) ~= self.in_features then
    util.raise(string.format('lunagrad.nn.Linear: expected input with %d features, got %s', self.in_features,
      x:dim() == 0 and 'a 0-d tensor' or tostring(x:size(-1))))
  end
  return util.call(lg.linear, x, self.weight, self.bias)
end

function Linear:extra_repr()
  return string.format('in_features=%d, out_features=%d, bias=%s', self.in_features, self.out_features,
    tostring(self.bias ~= nil))
end

return Linear
