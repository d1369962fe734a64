-- Shared constructor and forward of nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d and
-- nn.ConvTranspose2d, in PyTorch's arguments, defaults and state_dict names:
--   Conv{1,2}d(in, out, k, {stride=1, padding=0, dilation=1, groups=1, bias=true,
--              padding_mode='zeros', dtype=})                    (or Torch7's positional stride, padding)
--   ConvTranspose{1,2}d(in, out, k, {stride=1, padding=0, output_padding=0, groups=1, bias=true,
--                       dilation=1, dtype=})
-- weight [out, in/groups, k...] (transposed: [in, out/groups, k...]) and bias [out], both
-- U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with PyTorch's fan_in = weight:size(2) * prod(k).
-- padding: a number, a table, 'same' (stride 1) or 'valid' (not for the transposed ones).
local util = require 'lunagrad.nn.util'
local F = require 'lunagrad.nn.functional'

local conv = {}

local OPTS = util.set { 'stride', 'padding', 'dilation', 'groups', 'bias', 'padding_mode', 'dtype' }
local TOPTS = util.set { 'stride', 'padding', 'output_padding', 'dilation', 'groups', 'bias', 'dtype' }
local PADDING_MODES = { zeros = true, reflect = true, replicate = true, circular = true }

local tuple = util.tuple

function conv.init(self, name, dims, transposed, cin, cout, k, opts, padding)
  if type(opts) ~= 'table' then opts = { stride = opts, padding = padding } end
  opts = util.options(name, opts, transposed and TOPTS or OPTS)
  self.in_channels = util.check_int(name, 'in_channels', cin)
  self.out_channels = util.check_int(name, 'out_channels', cout)
  self.kernel_size = tuple(name, 'kernel_size', k, dims, 1)
  self.stride = tuple(name, 'stride', opts.stride or 1, dims, 1)
  self.dilation = tuple(name, 'dilation', opts.dilation or 1, dims, 1)
  self.groups = util.check_int(name, 'groups', opts.groups or 1, 1)
  local p = opts.padding or 0
  if p == 'same' or p == 'valid' then
    if transposed then util.raise(string.format("lunagrad.%s: padding must be numbers, got '%s'", name, p)) end
    if p == 'same' then
      for d = 1, dims do
        if self.stride[d] ~= 1 then
          util.raise(string.format("lunagrad.%s: padding = 'same' is not supported for strided convolutions", name))
        end
      end
    end
    self.padding = p
  elseif type(p) == 'string' then
    util.raise(string.format("lunagrad.%s: padding must be a number, a table, 'same' or 'valid', got '%s'", name, p))
  else
    self.padding = tuple(name, 'padding', p, dims, 0)
  end
  if transposed then
    self.output_padding = tuple(name, 'output_padding', opts.output_padding or 0, dims, 0)
    for d = 1, dims do
      if self.output_padding[d] >= self.stride[d] then
        util.raise(string.format('lunagrad.%s: output_padding must be smaller than stride, got %d for stride %d',
          name, self.output_padding[d], self.stride[d]))
      end
    end
  else
    self.padding_mode = opts.padding_mode or 'zeros'
    if not PADDING_MODES[self.padding_mode] then
      util.raise(string.format("lunagrad.%s: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got '%s'",
        name, tostring(self.padding_mode)))
    end
  end
  if self.in_channels % self.groups ~= 0 then
    util.raise(string.format('lunagrad.%s: in_channels (%d) must be divisible by groups (%d)', name, self.in_channels, self.groups))
  end
  if self.out_channels % self.groups ~= 0 then
    util.raise(string.format('lunagrad.%s: out_channels (%d) must be divisible by groups (%d)', name, self.out_channels, self.groups))
  end
  local shape = transposed and { self.in_channels, self.out_channels // self.groups }
      or { self.out_channels, self.in_channels // self.groups }
  local fan_in = shape[2]
  for d = 1, dims do
    shape[#shape + 1] = self.kernel_size[d]
    fan_in = fan_in * self.kernel_size[d]
  end
  local bound = 1 / math.sqrt(fan_in)
  self:register_parameter('weight', util.uniform(shape, bound, opts.dtype))
  if opts.bias ~= false then self:register_parameter('bias', util.uniform({ self.out_channels }, bound, opts.dtype)) end
end

-- PyTorch's _reversed_padding_repeated_twice: F.pad's order (last dim first).
local function reversed_twice(p)
  local out = {}
  for d = #p, 1, -1 do
    out[#out + 1] = p[d]
    out[#out + 1] = p[d]
  end
  return out
end

function conv.forward(self, name, dims, transposed, x)
  if not util.is_tensor(x) then util.bad_input(self, name, x) end -- with the colon hint for net.forward(x)
  local nd = x:dim()
  if (nd ~= dims + 1 and nd ~= dims + 2) or x:size(nd - dims) ~= self.in_channels then
    local sp = dims == 1 and 'L' or 'H,W'
    util.raise(string.format('lunagrad.%s: expected input [N,%d,%s] or [%d,%s], got %s', name, self.in_channels, sp,
      self.in_channels, sp, util.shape_str(x)))
  end
  if transposed then
    local fn = dims == 1 and F.conv_transpose1d or F.conv_transpose2d
    return fn(x, self.weight, self.bias, { stride = self.stride, padding = self.padding,
      output_padding = self.output_padding, dilation = self.dilation, groups = self.groups })
  end
  local padding = self.padding
  if self.padding_mode ~= 'zeros' and type(padding) == 'table' then
    x = F.pad(x, reversed_twice(padding), self.padding_mode)
    padding = 0
  end
  local fn = dims == 1 and F.conv1d or F.conv2d
  return fn(x, self.weight, self.bias, { stride = self.stride, padding = padding, dilation = self.dilation,
    groups = self.groups })
end

local function tuple_str(p)
  if type(p) == 'string' then return "'" .. p .. "'" end
  for i = 2, #p do
    if p[i] ~= p[1] then return '{' .. table.concat(p, ',') .. '}' end
  end
  return tostring(p[1])
end

local function all_equal(p, v)
  if type(p) ~= 'table' then return false end
  for i = 1, #p do
    if p[i] ~= v then return false end
  end
  return true
end

function conv.extra_repr(self)
  local s = string.format('%d, %d, kernel_size=%s, stride=%s', self.in_channels, self.out_channels,
    tuple_str(self.kernel_size), tuple_str(self.stride))
  if not all_equal(self.padding, 0) then s = s .. ', padding=' .. tuple_str(self.padding) end
  if self.output_padding and not all_equal(self.output_padding, 0) then
    s = s .. ', output_padding=' .. tuple_str(self.output_padding)
  end
  if not all_equal(self.dilation, 1) then s = s .. ', dilation=' .. tuple_str(self.dilation) end
  if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
  if self.bias == nil then s = s .. ', bias=false' end
  if self.padding_mode and self.padding_mode ~= 'zeros' then s = s .. ", padding_mode='" .. self.padding_mode .. "'" end
  return s
end

-- A module class over conv.init/forward.
function conv.define(cls, name, dims, transposed)
  function cls:__init(cin, cout, k, opts, padding) conv.init(self, name, dims, transposed, cin, cout, k, opts, padding) end
  function cls:forward(x) return conv.forward(self, name, dims, transposed, x) end
  cls.extra_repr = conv.extra_repr
  return cls
end

return conv
