-- Shared constructor and forward of the pooling modules, in PyTorch's arguments:
--   MaxPool{1,2}d(k [, stride=k [, padding=0]] [, {stride=, padding=, dilation=1, ceil_mode=false,
--                  return_indices=false}])
--   AvgPool{1,2}d(k [, stride=k [, padding=0]] [, {stride=, padding=, ceil_mode=false,
--                  count_include_pad=true}])
--   AdaptiveAvgPool{1,2}d(output_size), AdaptiveMaxPool{1,2}d(output_size [, return_indices=false])
-- Sizes are numbers or tables ({h, w} in 2-d); return_indices gives 1-based indices.
local util = require 'lunagrad.nn.util'
local F = require 'lunagrad.nn.functional'

local pooling = {}

local MAX_OPTS = util.set { 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices' }
local AVG_OPTS = util.set { 'stride', 'padding', 'ceil_mode', 'count_include_pad' }

local tuple = util.tuple

-- kind: 'max' | 'avg'; dims 1 | 2
function pooling.init(self, name, k, stride, padding, opts, kind, dims)
  kind, dims = kind or name:match('Max') and 'max' or 'avg', dims or 2
  if type(stride) == 'table' and #stride == 0 then opts, stride, padding = stride, nil, nil
  elseif type(padding) == 'table' and #padding == 0 then opts, padding = padding, nil end
  opts = util.options(name, opts, kind == 'max' and MAX_OPTS or AVG_OPTS)
  if stride == nil then stride = opts.stride end
  if padding == nil then padding = opts.padding end
  self.kernel_size = tuple(name, 'kernel_size', k, dims, 1)
  self.stride = stride ~= nil and tuple(name, 'stride', stride, dims, 1) or { table.unpack(self.kernel_size) }
  self.padding = tuple(name, 'padding', padding or 0, dims, 0)
  for d = 1, dims do
    if self.padding[d] * 2 > self.kernel_size[d] then
      util.raise(string.format('lunagrad.%s: padding %d must be at most half the kernel size %d', name,
        self.padding[d], self.kernel_size[d]))
    end
  end
  if opts.dilation ~= nil then
    local dil = tuple(name, 'dilation', opts.dilation, dims, 1)
    for d = 1, dims do
      if dil[d] ~= 1 then util.raise(string.format('lunagrad.%s: dilation other than 1 is not supported', name)) end
    end
  end
  self.ceil_mode = opts.ceil_mode == true
  if kind == 'max' then self.return_indices = opts.return_indices == true
  else self.count_include_pad = opts.count_include_pad ~= false end
end

local function unwrap(dims, p) return dims == 1 and p[1] or p end

function pooling.forward(self, name, fn, x, dims)
  dims = dims or 2
  if not util.is_tensor(x) then util.bad_input(self, name, x) end -- with the colon hint for net.forward(x)
  if x:dim() ~= dims + 1 and x:dim() ~= dims + 2 then
    local sp = dims == 1 and 'L' or 'H,W'
    util.raise(string.format('lunagrad.%s: expected input [N,C,%s] or [C,%s], got %s', name, sp, sp, util.shape_str(x)))
  end
  local opts = { ceil_mode = self.ceil_mode }
  if self.return_indices ~= nil then opts.return_indices = self.return_indices end
  if self.count_include_pad ~= nil then opts.count_include_pad = self.count_include_pad end
  return F[fn](x, unwrap(dims, self.kernel_size), unwrap(dims, self.stride), unwrap(dims, self.padding), opts)
end

local function tuple_str(p)
  for i = 2, #p do
    if p[i] ~= p[1] then return '{' .. table.concat(p, ',') .. '}' end
  end
  return tostring(p[1])
end

function pooling.extra_repr(self)
  local s = string.format('kernel_size=%s, stride=%s, padding=%s', tuple_str(self.kernel_size), tuple_str(self.stride),
    tuple_str(self.padding))
  if self.ceil_mode then s = s .. ', ceil_mode=true' end
  if self.return_indices then s = s .. ', return_indices=true' end
  if self.count_include_pad == false then s = s .. ', count_include_pad=false' end
  return s
end

-- A window-pooling class: kind 'max' | 'avg', dims 1 | 2.
function pooling.define(cls, name, kind, dims)
  local fn = kind .. '_pool' .. dims .. 'd'
  function cls:__init(k, stride, padding, opts) pooling.init(self, name, k, stride, padding, opts, kind, dims) end
  function cls:forward(x) return pooling.forward(self, name, fn, x, dims) end
  cls.extra_repr = pooling.extra_repr
  return cls
end

-- An adaptive pooling class.
function pooling.define_adaptive(cls, name, kind, dims)
  local fn = F['adaptive_' .. kind .. '_pool' .. dims .. 'd']
  function cls:__init(size, return_indices)
    if size == nil then util.raise('lunagrad.' .. name .. ': output_size is required') end
    self.output_size = size
    if kind == 'max' then self.return_indices = return_indices == true
    elseif return_indices ~= nil then util.raise('lunagrad.' .. name .. ': takes output_size only') end
  end
  function cls:forward(x)
    if not util.is_tensor(x) then util.bad_input(self, name, x) end
    if kind == 'max' then return fn(x, self.output_size, self.return_indices) end
    return fn(x, self.output_size)
  end
  function cls:extra_repr()
    local s = self.output_size
    return 'output_size=' .. (type(s) == 'table' and ('{' .. tostring(s[1]) .. ',' .. tostring(s[2]) .. '}') or tostring(s))
  end
  return cls
end

return pooling
