-- Shared base of the loss modules: crit(input, target) with a `reduction` of
-- 'mean' (default), 'sum' or 'none'. Built as nn.CrossEntropyLoss{reduction='sum'}
-- or nn.CrossEntropyLoss('sum').
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local Criterion = class.new('nn._Criterion', Module)

local OPTS = util.set { 'reduction' }

function Criterion:__init(opts)
  if type(opts) == 'string' then opts = { reduction = opts } end
  opts = util.options(self.__typename, opts, OPTS)
  self.reduction = util.reduction(self.__typename, opts.reduction)
end

-- Subclasses set `fn` (the lg function) and `target_kind` ('labels' or 'tensor').
function Criterion:forward(input, target)
  local name = self.__typename
  if not util.is_tensor(input) then
    util.raise('lunagrad.' .. name .. ': expected a Tensor input, got ' .. type(input))
  end
  if target == nil then util.raise('lunagrad.' .. name .. ': missing target (call crit(input, target))') end
  return self.fn(input, target, self.reduction)
end

function Criterion:extra_repr() return "reduction='" .. self.reduction .. "'" end

return Criterion
