-- Shared constructor of nn.MaxPool2d and nn.AvgPool2d: (k [, stride=k [, padding=0]])
-- or (k, {stride=, padding=}); each a number or {h, w}. Floor mode, zero padding.
local util = require 'lunagrad.nn.util'
local F = require 'lunagrad.nn.functional'

local pooling = {}

local OPTS = util.set { 'stride', 'padding' }

function pooling.init(self, name, k, stride, padding)
  if type(stride) == 'table' and #stride == 0 then
    local opts = util.options(name, stride, OPTS)
    stride, padding = opts.stride, opts.padding
  end
  self.kernel_size = util.pair(name, 'kernel_size', k, 1)
  self.stride = stride ~= nil and util.pair(name, 'stride', stride, 1) or { self.kernel_size[1], self.kernel_size[2] }
  self.padding = util.pair(name, 'padding', padding or 0, 0)
  for d = 1, 2 do
    if self.padding[d] * 2 > self.kernel_size[d] then
      util.raise(string.format('lunagrad.%s: padding %d must be at most half the kernel size %d', name,
        self.padding[d], self.kernel_size[d]))
    end
  end
end

function pooling.forward(self, name, fn, x)
  if not util.is_tensor(x) then
    util.raise('lunagrad.' .. name .. ': expected a Tensor input, got ' .. type(x))
  end
  fn = F[fn]
  if x:dim() == 3 then return fn(x:unsqueeze(1), self.kernel_size, self.stride, self.padding):squeeze(1) end
  if x:dim() ~= 4 then
    util.raise(string.format('lunagrad.%s: expected input [N,C,H,W] or [C,H,W], got %s', name, util.shape_str(x)))
  end
  return fn(x, self.kernel_size, self.stride, self.padding)
end

local function pair_str(p) return p[1] == p[2] and tostring(p[1]) or ('{' .. p[1] .. ',' .. p[2] .. '}') end

function pooling.extra_repr(self)
  return string.format('kernel_size=%s, stride=%s, padding=%s', pair_str(self.kernel_size), pair_str(self.stride),
    pair_str(self.padding))
end

return pooling
