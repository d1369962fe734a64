-- Shared base of nn.BatchNorm1d and nn.BatchNorm2d (PyTorch semantics): per channel
-- (dim 2), normalise with the batch mean and biased variance in training mode and
-- update running_mean / running_var (unbiased) with `momentum`; use the running
-- statistics in evaluate mode. Buffers: running_mean, running_var, num_batches_tracked.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local BatchNorm = class.new('nn._BatchNorm', Module)

local OPTS = util.set { 'eps', 'momentum', 'affine', 'track_running_stats', 'dtype' }

function BatchNorm:__init(num_features, opts)
  local name = self.__typename
  opts = util.options(name, opts, OPTS)
  self.num_features = util.check_int(name, 'num_features', num_features)
  self.eps = util.check_number(name, 'eps', opts.eps or 1e-5, 0)
  self.momentum = util.check_number(name, 'momentum', opts.momentum or 0.1, 0, 1)
  self.affine = opts.affine ~= false
  self.track_running_stats = opts.track_running_stats ~= false
  local C, dt = self.num_features, { dtype = opts.dtype or 'float32' }
  if self.affine then
    self:register_parameter('weight', lg.ones({ C }, dt))
    self:register_parameter('bias', lg.zeros({ C }, dt))
  end
  if self.track_running_stats then
    self:register_buffer('running_mean', lg.zeros({ C }, dt))
    self:register_buffer('running_var', lg.ones({ C }, dt))
    self:register_buffer('num_batches_tracked', lg.tensor(0, { dtype = 'int64' }))
  end
end

--- Resets the running statistics to 0 / 1 and the batch counter to 0.
function BatchNorm:reset_running_stats()
  if self.track_running_stats then
    self.running_mean:fill(0)
    self.running_var:fill(1)
    self.num_batches_tracked:fill(0)
  end
  return self
end

-- Subclasses set `dims_ok(n)` and `expected` (the shape pattern for errors).
function BatchNorm:forward(x)
  local name = self.__typename
  if not util.is_tensor(x) then util.bad_input(self, name, x) end
  local C = self.num_features
  if not self.dims_ok(x:dim()) or x:size(2) ~= C then
    util.raise(string.format('lunagrad.%s: expected input %s, got %s', name, self.expected:gsub('C', C),
      util.shape_str(x)))
  end
  if self.training and x:numel() == C then
    util.raise(string.format('lunagrad.%s: expected more than 1 value per channel when training, got input %s',
      name, util.shape_str(x)))
  end
  local batch_stats = self.training or not self.track_running_stats
  if self.training and self.track_running_stats then
    self.num_batches_tracked:fill(self.num_batches_tracked:item() + 1)
  end
  return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
    { training = batch_stats, momentum = self.momentum, eps = self.eps })
end

function BatchNorm:extra_repr()
  return string.format('%d, eps=%g, momentum=%g, affine=%s, track_running_stats=%s', self.num_features, self.eps,
    self.momentum, tostring(self.affine), tostring(self.track_running_stats))
end

return BatchNorm
