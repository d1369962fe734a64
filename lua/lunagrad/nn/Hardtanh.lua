-- nn.Hardtanh([min_val=-1 [, max_val=1]]): x:clamp(min_val, max_val).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Hardtanh = class.new('nn.Hardtanh', Module)

function Hardtanh:__init(min_val, max_val)
  self.min_val = util.check_number('nn.Hardtanh', 'min_val', min_val == nil and -1 or min_val)
  self.max_val = util.check_number('nn.Hardtanh', 'max_val', max_val == nil and 1 or max_val)
  if self.max_val <= self.min_val then
    util.raise(string.format('lunagrad.nn.Hardtanh: max_val (%g) must be greater than min_val (%g)', self.max_val,
      self.min_val))
  end
end

function Hardtanh:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.Hardtanh', x) end
  return F.hardtanh(x, self.min_val, self.max_val)
end

function Hardtanh:extra_repr() return 'min_val=' .. self.min_val .. ', max_val=' .. self.max_val end

return Hardtanh
