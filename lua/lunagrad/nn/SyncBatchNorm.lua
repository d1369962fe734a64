-- nn.SyncBatchNorm(C [, opts as nn.BatchNorm1d/2d]): batch normalisation whose batch
-- statistics are those of the global batch, all ranks together (PyTorch's
-- SyncBatchNorm), over inputs [N,C], [N,C,L] or [N,C,H,W].
--
--   model = nn.SyncBatchNorm.convert(model)   -- every BatchNorm1d/2d inside, in place
--   local ddp = nn.DistributedDataParallel(model)
--
-- Training mode: per channel, the mean and the biased variance of the input over
-- every rank's batch (two all-reduces, the second one of the centred squares, so
-- no E[x^2] - E[x]^2 cancellation); backward all-reduces the statistics' gradients
-- the same way (the all-reduce is a lunagrad.Function whose backward is an
-- all-reduce). Running statistics are updated with the global mean and the
-- unbiased global variance, identically on every rank. Evaluation mode, and a world
-- of one process, are nn.BatchNorm's code.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local BatchNorm = require 'lunagrad.nn.BatchNorm'

local SyncBatchNorm = class.new('nn.SyncBatchNorm', BatchNorm)

SyncBatchNorm.expected = '[N,C], [N,C,L] or [N,C,H,W]'
function SyncBatchNorm.dims_ok(n) return n >= 2 and n <= 4 end

local function dist() return require 'lunagrad.distributed' end

-- Sum over the ranks, differentiable: the gradient of an all-reduce is an all-reduce.
local AllReduceSum
local function all_reduce_sum(t)
  if not lg.Function then
    util.raise('lunagrad.nn.SyncBatchNorm: needs lunagrad.Function (custom differentiable ops) for its all-reduce')
  end
  AllReduceSum = AllReduceSum or lg.Function {
    name = 'all_reduce',
    forward = function(_, x)
      local y = x:contiguous():clone()
      dist().all_reduce(y, 'sum')
      return y
    end,
    backward = function(_, g)
      local y = g:contiguous():clone()
      dist().all_reduce(y, 'sum')
      return y
    end,
  }
  return AllReduceSum(t)
end

-- x summed over every dim but 2 (channels) -> [C].
local function channel_sum(x)
  local s = x
  for d = x:dim(), 3, -1 do s = s:sum(d) end
  return s:sum(1)
end

function SyncBatchNorm:forward(x)
  local d = dist()
  if not (self.training and d.world_size() > 1) then return BatchNorm.forward(self, x) end
  local name = self.__typename
  if not util.is_tensor(x) then util.raise('lunagrad.' .. name .. ': expected a Tensor input, got ' .. type(x)) end
  local C = self.num_features
  if not self.dims_ok(x:dim()) or x:size(2) ~= C then
    util.raise(string.format('lunagrad.%s: expected input %s with C = %d, got %s', name, self.expected, C,
      util.shape_str(x)))
  end
  local shape = { 1, C }
  for _ = 3, x:dim() do shape[#shape + 1] = 1 end
  local count = lg.tensor({ x:numel() // C }, { dtype = x.dtype })
  -- global count and sum in one all-reduce
  local s1 = all_reduce_sum(lg.cat({ channel_sum(x), count }, 1))
  local n = s1:narrow(1, C + 1, 1):item()
  if n <= 1 then
    util.raise(string.format('lunagrad.%s: expected more than 1 value per channel when training, got %d in all',
      name, math.floor(n)))
  end
  local mean = s1:narrow(1, 1, C) / n
  local xc = x - mean:reshape(shape)
  local var = all_reduce_sum(channel_sum(xc * xc)) / n
  local y = xc / (var + self.eps):sqrt():reshape(shape)
  if self.affine then y = y * self.weight:reshape(shape) + self.bias:reshape(shape) end
  if self.track_running_stats then
    self.num_batches_tracked:fill(self.num_batches_tracked:item() + 1)
    local m = self.momentum
    lg.no_grad(function()
      self.running_mean:copy(self.running_mean * (1 - m) + mean:detach() * m)
      self.running_var:copy(self.running_var * (1 - m) + var:detach() * (m * n / (n - 1)))
    end)
  end
  return y
end

local function is_bn(m)
  return util.is_module(m) and (m.__typename == 'nn.BatchNorm1d' or m.__typename == 'nn.BatchNorm2d')
end

-- A SyncBatchNorm holding bn's settings and its very tensors.
local function from(bn)
  local s = SyncBatchNorm(bn.num_features, { eps = bn.eps, momentum = bn.momentum, affine = bn.affine,
    track_running_stats = bn.track_running_stats, dtype = (bn.weight or bn.running_mean or lg.zeros(1)).dtype })
  for _, k in ipairs { 'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked' } do
    if rawget(bn, k) ~= nil then rawset(s, k, rawget(bn, k)) end
  end
  s.training = bn.training
  return s
end

--- nn.SyncBatchNorm.convert(model): replaces every nn.BatchNorm1d/2d of model (in
--- place) by an nn.SyncBatchNorm sharing its parameters and buffers; returns model
--- (or the new module when model itself is a BatchNorm). Build the optimiser after.
function SyncBatchNorm.convert(model)
  if not util.is_module(model) then
    util.raise('lunagrad.nn.SyncBatchNorm.convert: expects a module, got ' .. type(model))
  end
  if is_bn(model) then return from(model) end
  for _, m in ipairs(model:modules()) do
    for _, name in ipairs(m._children) do
      local c = rawget(m, name)
      if is_bn(c) then rawset(m, name, from(c)) end
    end
  end
  return model
end

return SyncBatchNorm
