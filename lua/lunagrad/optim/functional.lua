-- Torch7's functional optimisers: optim.sgd(feval, x, config, state) and
-- optim.adam(feval, x, config, state), with Torch7's update rules and option names.
--
--   local params, grads = net:getParameters()
--   local function feval(x)            -- x is params itself
--     grads:zero()
--     local loss = crit(net:forward(input), target)
--     loss:backward()                  -- or net:backward(input, crit:backward(out, target))
--     return loss:item(), grads
--   end
--   local _, fs = optim.sgd(feval, params, {learningRate = 0.1, momentum = 0.9})
--
-- feval(x) returns f and df/dx (a tensor shaped like x); x is updated in place and
-- returned, with {f}. `state` defaults to `config` (Torch7), so one table carries the
-- momentum buffers and counters across calls. A df/dx that is the flat gradient tensor
-- of m:getParameters() is refreshed from the parameters' .grad first, so feval may call
-- loss:backward() alone.
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'

local functional = {}

local SGD_KEYS = { 'learningRate', 'learningRateDecay', 'weightDecay', 'momentum', 'dampening', 'nesterov',
  'learningRates', 'weightDecays' }
local ADAM_KEYS = { 'learningRate', 'learningRateDecay', 'beta1', 'beta2', 'epsilon', 'weightDecay' }
-- The state each keeps (in config itself when no state table is given).
local STATE_KEYS = util.set { 'evalCounter', 'dfdx', 'decayParameters', 'deltaParameters', 't', 'm', 'v', 'denom' }

-- PyTorch spellings a Torch7 call may carry by habit.
local PYTORCH_NAMES = { lr = 'learningRate', weight_decay = 'weightDecay', betas = 'beta1/beta2', eps = 'epsilon' }

local function check_config(fname, config, keys)
  if config == nil then return {} end
  if type(config) ~= 'table' or util.is_tensor(config) then
    util.raise(string.format('lunagrad.optim.%s: config must be a table (e.g. {learningRate = 0.01}), got %s', fname,
      type(config)))
  end
  local known = util.set(keys)
  for k in pairs(config) do
    if not known[k] and not STATE_KEYS[k] then
      local hint = PYTORCH_NAMES[k] and string.format(" (Torch7's name is %s)", PYTORCH_NAMES[k]) or ''
      util.raise(string.format("lunagrad.optim.%s: unknown config key '%s'%s (known: %s)", fname, tostring(k), hint,
        table.concat(keys, ', ')))
    end
  end
  return config
end

-- Calls feval(x) and checks that it returned f and df/dx shaped like x.
local function evaluate(fname, feval, x)
  if type(feval) ~= 'function' and not (type(feval) == 'table' and getmetatable(feval) and getmetatable(feval).__call) then
    util.raise(string.format('lunagrad.optim.%s: expects feval(x) -> f, df/dx as argument #1, got %s', fname, type(feval)))
  end
  if not util.is_tensor(x) then
    util.raise(string.format('lunagrad.optim.%s: x (argument #2) must be a Tensor (e.g. from m:getParameters()), got %s',
      fname, type(x)))
  end
  local fx, dfdx = feval(x)
  if not util.is_tensor(dfdx) then
    util.raise(string.format('lunagrad.optim.%s: feval must return f, df/dx (a Tensor shaped like x); df/dx is %s', fname,
      type(dfdx)))
  end
  if util.shape_str(dfdx) ~= util.shape_str(x) then
    util.raise(string.format('lunagrad.optim.%s: df/dx has shape %s, x %s', fname, util.shape_str(dfdx), util.shape_str(x)))
  end
  local sync = util.flat_grads[dfdx]
  if sync then sync() end
  return fx, dfdx
end

--- optim.sgd(feval, x [, config [, state]]): Torch7's SGD. config: learningRate (1e-3),
--- learningRateDecay (0), weightDecay (0), momentum (0), dampening (= momentum, Torch7's
--- default, where PyTorch's is 0), nesterov (false), learningRates and weightDecays
--- (per-element tensors shaped like x). Returns x, {f}.
function functional.sgd(feval, x, config, state)
  config = check_config('sgd', config, SGD_KEYS)
  state = state or config
  local lr = config.learningRate or 1e-3
  local lrd = config.learningRateDecay or 0
  local wd = config.weightDecay or 0
  local mom = config.momentum or 0
  local damp = config.dampening or mom
  local nesterov = config.nesterov or false
  local lrs, wds = config.learningRates, config.weightDecays
  state.evalCounter = state.evalCounter or 0
  if nesterov and (mom <= 0 or damp ~= 0) then
    util.raise('lunagrad.optim.sgd: Nesterov momentum requires a momentum and zero dampening')
  end
  local fx, dfdx = evaluate('sgd', feval, x)
  lg.no_grad(function()
    if wd ~= 0 then
      dfdx = dfdx + x * wd
    elseif wds then
      dfdx = dfdx + wds * x
    end
    if mom ~= 0 then
      if not state.dfdx then
        state.dfdx = dfdx:clone()
      else
        state.dfdx:mul_(mom):add_(dfdx, { alpha = 1 - damp })
      end
      if nesterov then dfdx = dfdx + state.dfdx * mom else dfdx = state.dfdx end
    end
    local clr = lr / (1 + state.evalCounter * lrd)
    if lrs then x:sub_(lrs * dfdx, { alpha = clr }) else x:sub_(dfdx, { alpha = clr }) end
  end)
  state.evalCounter = state.evalCounter + 1
  return x, { fx }
end

--- optim.adam(feval, x [, config [, state]]): Torch7's Adam. config: learningRate (1e-3),
--- learningRateDecay (0), beta1 (0.9), beta2 (0.999), epsilon (1e-8), weightDecay (0).
--- Torch7 adds epsilon to sqrt(v) before the bias correction (PyTorch: after), so the
--- two differ slightly. Returns x, {f}.
function functional.adam(feval, x, config, state)
  config = check_config('adam', config, ADAM_KEYS)
  state = state or config
  local lr = config.learningRate or 1e-3
  local lrd = config.learningRateDecay or 0
  local beta1, beta2 = config.beta1 or 0.9, config.beta2 or 0.999
  local epsilon = config.epsilon or 1e-8
  local wd = config.weightDecay or 0
  local fx, dfdx = evaluate('adam', feval, x)
  lg.no_grad(function()
    if wd ~= 0 then dfdx = dfdx + x * wd end
    state.t = state.t or 0
    state.m = state.m or lg.zeros(x:shape(), { dtype = x.dtype })
    state.v = state.v or lg.zeros(x:shape(), { dtype = x.dtype })
    local clr = lr / (1 + state.t * lrd)
    state.t = state.t + 1
    state.m:mul_(beta1):add_(dfdx, { alpha = 1 - beta1 })
    state.v:mul_(beta2):add_(dfdx * dfdx, { alpha = 1 - beta2 })
    state.denom = state.v:sqrt() + epsilon
    local bias1, bias2 = 1 - beta1 ^ state.t, 1 - beta2 ^ state.t
    local step = clr * math.sqrt(bias2) / bias1
    x:sub_(state.m / state.denom, { alpha = step })
  end)
  return x, { fx }
end

return functional
