-- nn.GradientReversal([alpha=1]): the GRL of Ganin & Lempitsky. Forward is the
-- identity; backward multiplies the gradient by -alpha. alpha is part of the saved
-- state (buffer 'alpha', float64 so it round-trips exactly).
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local GradientReversal = class.new('nn.GradientReversal', Module)

local function check_alpha(a, fname)
  if util.is_tensor(a) then
    if a:numel() ~= 1 then
      util.raise(string.format('lunagrad.nn.GradientReversal.%s: alpha tensor must have one element, got %s',
        fname, util.shape_str(a)))
    end
    a = a:item()
  end
  if type(a) ~= 'number' or a ~= a or a == math.huge or a == -math.huge then
    util.raise('lunagrad.nn.GradientReversal.' .. fname .. ': alpha must be a finite number, got ' .. tostring(a))
  end
  return a
end

function GradientReversal:__init(alpha)
  self.alpha = check_alpha(alpha == nil and 1 or alpha, '__init')
  self:register_buffer('alpha', lg.tensor({ self.alpha }, { dtype = 'float64' }), '_alpha_state')
end

--- Sets the reversal coefficient (e.g. from optim.schedule.dann_lambda); returns self.
function GradientReversal:setAlpha(alpha)
  self.alpha = check_alpha(alpha, 'setAlpha')
  return self
end
GradientReversal.setLambda = GradientReversal.setAlpha -- Torch7's name
GradientReversal.set_alpha = GradientReversal.setAlpha

function GradientReversal:forward(x)
  if not util.is_tensor(x) then
    util.bad_input(self, 'nn.GradientReversal', x)
  end
  return F.gradient_reversal(x, self.alpha)
end

-- .alpha is the source of truth; the buffer mirrors it for state_dict and back.
function GradientReversal:_sync_buffers() self._alpha_state:fill(self.alpha) end
function GradientReversal:_after_load() self.alpha = self._alpha_state:item() end

function GradientReversal:extra_repr() return 'alpha=' .. self.alpha end

return GradientReversal
