-- nn.PReLU([num_parameters=1 [, init=0.25]] [, {dtype=}]): max(0, x) + weight * min(0, x),
-- weight (learnable, state_dict name 'weight') one value shared by all channels or one per
-- channel (dim 2 of the input, PyTorch's dim 1).
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local PReLU = class.new('nn.PReLU', Module)

function PReLU:__init(num_parameters, init, opts)
  if type(init) == 'table' and opts == nil then init, opts = nil, init end
  if type(num_parameters) == 'table' and init == nil and opts == nil then num_parameters, opts = nil, num_parameters end
  opts = util.options('nn.PReLU', opts, util.set { 'dtype' })
  self.num_parameters = util.check_int('nn.PReLU', 'num_parameters', num_parameters == nil and 1 or num_parameters)
  self.init = util.check_number('nn.PReLU', 'init', init == nil and 0.25 or init)
  self:register_parameter('weight', lg.full({ self.num_parameters }, self.init, { dtype = opts.dtype or 'float32' }))
end

function PReLU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.PReLU', x) end
  local n = self.num_parameters
  if n ~= 1 and (x:dim() < 2 or x:size(2) ~= n) then
    util.raise(string.format('lunagrad.nn.PReLU: num_parameters = %d but the input %s has %s channels (dim 2); '
      .. 'use nn.PReLU(%s) or nn.PReLU() for one shared weight', n, util.shape_str(x),
      x:dim() < 2 and 'no' or tostring(x:size(2)), x:dim() < 2 and '1' or tostring(x:size(2))))
  end
  return F.prelu(x, self.weight)
end

function PReLU:extra_repr() return 'num_parameters=' .. self.num_parameters end

return PReLU
