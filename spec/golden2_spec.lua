-- Second derivatives against PyTorch (spec/fixtures/golden2.json, made by
-- spec/fixtures/make_golden2.py): for each case the first gradients with
-- create_graph, then the Hessian-vector products through them; and the WGAN-GP
-- gradient penalty backpropagated into a critic's parameters.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local F = nn.functional
local json = require 'lunagrad.json'
local files = require 'helpers.files'

local golden = json.decode(files.read('spec/fixtures/golden2.json'))
local RTOL, ATOL = 1e-9, 1e-10

local compare = require 'helpers.golden_compare'
local assert_close = compare.checker(RTOL, ATOL)

local function f64(data) return lg.tensor(data, {dtype = 'float64'}) end

describe('second derivatives against PyTorch 1.13', function()
  for _, case in ipairs(golden.cases) do
    it(case.name .. ': ' .. case.lua, function()
      local rtol = case.rtol ~= json.null and case.rtol or nil
      local env = setmetatable({lg = lg, F = F}, {__index = _G})
      local leaves = {}
      for _, input in ipairs(case.inputs) do
        if input.dtype == 'int64' then
          env[input.name] = lg.tensor(input.data, {dtype = 'int64'})
        else
          env[input.name] = lg.tensor(input.data, {dtype = 'float64', requires_grad = true})
          leaves[#leaves + 1] = env[input.name]
        end
      end
      local out = assert(load('return ' .. case.lua, case.name, 't', env))()
      assert_close('output', out, case.output, rtol)
      local L = (out * f64(case.u)):sum()
      local grads = lg.grad(L, leaves, {create_graph = true})
      local S
      for i, g in ipairs(grads) do
        assert_close('gradient ' .. i, g, case.grads[i], rtol)
        local term = (g * f64(case.w[i])):sum()
        S = S and S + term or term
      end
      if not S.requires_grad then -- the gradient does not depend on the inputs
        for i in ipairs(leaves) do assert_close('second ' .. i, lg.zeros(leaves[i]:shape(), {dtype = 'float64'}), case.second[i]) end
        return
      end
      local second = lg.grad(S, leaves, {allow_unused = true})
      for i, leaf in ipairs(leaves) do
        assert_close('second ' .. i, second[i] or lg.zeros(leaf:shape(), {dtype = 'float64'}), case.second[i], rtol)
      end
    end)
  end

  it('WGAN-GP: the gradient penalty backpropagated into the critic', function()
    local gp = golden.gradient_penalty
    local critic = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)):double()
    local params = critic:parameters()
    lg.no_grad(function()
      for i, p in ipairs(params) do p:copy(f64(gp.params[i])) end
    end)
    local xhat = f64(gp.xhat):requires_grad_()
    local g = lg.grad(critic(xhat):sum(), {xhat}, {create_graph = true})[1]
    local penalty = ((((g * g):sum(2) + 1e-12):sqrt() - 1) ^ 2):mean()
    assert.is_true(math.abs(penalty:item() - gp.penalty) <= 1e-12 + 1e-10 * math.abs(gp.penalty))
    penalty:backward()
    for i, p in ipairs(params) do
      if gp.param_grads[i] == json.null then
        assert.is_nil(p.grad, 'parameter ' .. i .. ' does not reach the penalty')
      else
        assert_close('parameter ' .. i, p.grad, gp.param_grads[i])
      end
    end
    assert_close('xhat', xhat.grad, gp.xhat_grad)
  end)
end)
