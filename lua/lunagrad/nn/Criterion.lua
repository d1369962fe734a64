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
  if not util.is_module(self) then util.colon_hint(self, 'nn.Criterion', 'forward', 'input, target', 'crit') end
  local name = self.__typename
  if not util.is_tensor(input) then
    util.raise('lunagrad.' .. name .. ': expected a Tensor input, got ' .. type(input))
  end
  if target == nil then util.raise('lunagrad.' .. name .. ': missing target (call crit(input, target))') end
  return self.fn(input, target, self.reduction)
end

--- Torch7's crit:backward(input, target): d loss / d input, a new tensor shaped like input
--- (the loss is computed again on a copy of input that requires grad).
function Criterion:backward(input, target)
  if not util.is_module(self) then util.colon_hint(self, 'nn.Criterion', 'backward', 'input, target', 'crit') end
  local name = 'lunagrad.' .. self.__typename .. '.backward'
  if not util.is_tensor(input) then util.raise(name .. ': expected a Tensor input, got ' .. type(input)) end
  local lg = require 'lunagrad'
  local xi = input:detach()
  xi.requires_grad = true
  local loss = self:forward(xi, target)
  local go = loss:dim() == 0 and nil or { grad_outputs = { lg.ones(loss:shape(), { dtype = loss.dtype }) } }
  local g = lg.grad(loss, xi, go)[1]
  rawset(self, 'gradInput', g)
  return g
end

function Criterion:extra_repr() return "reduction='" .. self.reduction .. "'" end

return Criterion
