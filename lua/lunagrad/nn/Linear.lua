-- nn.Linear(in, out [, bias=true]): y = x W^T + b, W of shape (out x in).
-- Initialised as PyTorch: W, b ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform, a = sqrt(5)).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

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

local core = require 'lunagrad.core'
local linear, is_tensor, size = F.linear, core.is_tensor, core.Tensor.size

local function bad_input(self, x)
  if not is_tensor(x) then util.bad_input(self, 'nn.Linear', x) end
  local nd = x:dim()
  if nd == 0 then util.raise(string.format('lunagrad.nn.Linear: expected input with %d features, got a 0-d tensor', self.in_features)) end
  if nd >= 3 then -- an image batch from a conv or pool layer, not flattened
    local feat = 1
    for d = 2, nd do feat = feat * x:size(d) end
    util.raise(string.format('lunagrad.nn.Linear: expected input [N,%d] (in_features = %d), got input %s%s; '
      .. 'add nn.Flatten() before nn.Linear (it gives [N,%d]%s)', self.in_features, self.in_features,
      nd == 4 and '[N,C,H,W] = ' or '', util.shape_str(x), feat,
      feat == self.in_features and '' or string.format(', so nn.Linear(%d, %d)', feat, self.out_features)))
  end
  util.raise(string.format('lunagrad.nn.Linear: expected input with %d features, got %d (input %s)', self.in_features,
    x:size(-1), util.shape_str(x)))
end

--- One line for error messages: nn.Linear(768 -> 100).
function Linear:_brief() return string.format('nn.Linear(%d -> %d)', self.in_features, self.out_features) end

-- The hot path: two checks (a 0-d input has size 0 at -1, so it fails the second), then the kernel.
function Linear:forward(x)
  if not is_tensor(x) or size(x, -1) ~= self.in_features then bad_input(self, x) end
  return linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
  return string.format('in_features=%d, out_features=%d, bias=%s', self.in_features, self.out_features,
    tostring(self.bias ~= nil))
end

return Linear
