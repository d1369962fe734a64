-- nn.Conv2d(cin, cout, k, {stride=1, padding=0, bias=true}): 2-d cross-correlation
-- over NCHW input. k, stride and padding are numbers or {h, w}. Weight (cout, cin, kh, kw),
-- initialised as PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = cin*kh*kw.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Conv2d = class.new('nn.Conv2d', Module)

local OPTS = util.set { 'stride', 'padding', 'bias', 'dtype' }

--- Options as a table, or Torch7-style positional stride and padding.
function Conv2d:__init(cin, cout, k, opts, padding)
  if type(opts) ~= 'table' then opts = { stride = opts, padding = padding } end
  opts = util.options('nn.Conv2d', opts, OPTS)
  self.in_channels = util.check_int('nn.Conv2d', 'in_channels', cin)
  self.out_channels = util.check_int('nn.Conv2d', 'out_channels', cout)
  self.kernel_size = util.pair('nn.Conv2d', 'kernel_size', k, 1)
  self.stride = util.pair('nn.Conv2d', 'stride', opts.stride or 1, 1)
  self.padding = util.pair('nn.Conv2d', 'padding', opts.padding or 0, 0)
  local kh, kw = self.kernel_size[1], self.kernel_size[2]
  local bound = 1 / math.sqrt(self.in_channels * kh * kw)
  self:register_parameter('weight', util.uniform({ self.out_channels, self.in_channels, kh, kw }, bound, opts.dtype))
  if opts.bias ~= false then
    self:register_parameter('bias', util.uniform({ self.out_channels }, bound, opts.dtype))
  end
end

function Conv2d:forward(x)
  if not util.is_tensor(x) then
    util.raise('lunagrad.nn.Conv2d: expected a Tensor input, got ' .. type(x))
  end
  local unbatched = x:dim() == 3
  if unbatched then x = x:unsqueeze(1) end
  if x:dim() ~= 4 or x:size(2) ~= self.in_channels then
    util.raise(string.format('lunagrad.nn.Conv2d: expected input [N,%d,H,W] or [%d,H,W], got %s',
      self.in_channels, self.in_channels, util.shape_str(x)))
  end
  local y = F.conv2d(x, self.weight, self.bias, { stride = self.stride, padding = self.padding })
  if unbatched then y = y:squeeze(1) end
  return y
end

local function pair_str(p) return p[1] == p[2] and tostring(p[1]) or ('{' .. p[1] .. ',' .. p[2] .. '}') end

function Conv2d:extra_repr()
  local s = string.format('%d, %d, kernel_size=%s, stride=%s', self.in_channels, self.out_channels,
    pair_str(self.kernel_size), pair_str(self.stride))
  if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. ', padding=' .. pair_str(self.padding) end
  if self.bias == nil then s = s .. ', bias=false' end
  return s
end

return Conv2d
