-- The convolution family against PyTorch 1.13 (spec/fixtures/golden_nn1.json, made by
-- spec/fixtures/make_golden_nn1.py): conv1d/conv2d (dilation, groups, 'same', 'valid'),
-- conv_transpose1d/2d, the pools (ceil_mode, count_include_pad, return_indices, 1-d,
-- adaptive), interpolate and pad: outputs, gradients and (float64) second derivatives,
-- non-contiguous inputs included; then each new module built with PyTorch's arguments,
-- its state_dict loaded under PyTorch's names, output and gradients compared.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local F = nn.functional
local json = require 'lunagrad.json'
local files = require 'helpers.files'

local golden = json.decode(files.read('spec/fixtures/golden_nn1.json'))
local RTOL, ATOL = 1e-9, 1e-10

local compare = require 'helpers.golden_compare'
local flat, assert_close = compare.flat, compare.checker(RTOL, ATOL)

local function tensor(data, dtype) return lg.tensor(data, {dtype = dtype or 'float64'}) end

describe('the convolution family against PyTorch 1.13', function()
  assert.are.equal('lunagrad-golden-nn1/1', golden.format)

  for _, case in ipairs(golden.cases) do
    it(case.name .. ': ' .. case.lua, function()
      local rtol = case.rtol ~= json.null and case.rtol or nil
      local atol = rtol and rtol or nil
      local env = setmetatable({lg = lg, F = F}, {__index = _G})
      local leaves, dtype = {}, nil
      for _, input in ipairs(case.inputs) do
        dtype = input.dtype
        env[input.name] = lg.tensor(input.data, {dtype = input.dtype, requires_grad = true})
        leaves[#leaves + 1] = env[input.name]
      end
      local second_order = case.second ~= json.null
      local out = assert(load('return ' .. case.lua, case.name, 't', env))()
      assert.are.same(case.shape, out:shape())
      assert.are.equal(dtype, out.dtype)
      assert_close('output', out, case.output, rtol, atol)
      local L = (out * tensor(case.u, dtype)):sum()
      local grads = lg.grad(L, leaves, {create_graph = second_order})
      for i, g in ipairs(grads) do assert_close('gradient ' .. i, g, case.grads[i], rtol, atol) end
      if not second_order then return end
      local S
      for i, g in ipairs(grads) do
        local term = (g * tensor(case.w[i])):sum()
        S = S and S + term or term
      end
      if not S.requires_grad then -- the gradient does not depend on the inputs (a linear op)
        for i, leaf in ipairs(leaves) do assert_close('second ' .. i, lg.zeros(leaf:shape(), {dtype = 'float64'}), case.second[i]) end
        return
      end
      local second = lg.grad(S, leaves, {allow_unused = true})
      for i, leaf in ipairs(leaves) do
        assert_close('second ' .. i, second[i] or lg.zeros(leaf:shape(), {dtype = 'float64'}), case.second[i], rtol)
      end
    end)
  end

  for _, case in ipairs(golden.indices) do
    it('return_indices, ' .. case.name .. ': 1-based indices, PyTorch\'s + 1', function()
      local env = setmetatable({lg = lg, F = F, x = tensor(case.x)}, {__index = _G})
      local out, idx = assert(load('return ' .. case.lua, case.name, 't', env))()
      assert_close('output', out, case.output)
      assert.are.equal('int64', idx.dtype)
      local want = flat(case.indices)
      for k, v in ipairs(flat(idx:totable())) do assert.are.equal(want[k] + 1, v, 'index ' .. k) end
    end)
  end
end)

-- PyTorch numbers a Sequential's children from 0, lunagrad from 1 ('0.weight' is '1.weight';
-- the index_base option of issue 13 item 8 does this renumbering in the library).
local function lunagrad_name(name)
  return (name:gsub('^(%d+)%.', function(i) return (tonumber(i) + 1) .. '.' end))
end

describe('the convolution family\'s modules with PyTorch state_dicts', function()
  for _, case in ipairs(golden.modules) do
    it(case.name .. ': ' .. case.lua, function()
      local env = setmetatable({nn = nn}, {__index = _G})
      local m = assert(load('return ' .. case.lua, case.name, 't', env))():double()
      local sd, keys = {}, {}
      for k, v in pairs(case.state_dict) do
        k = lunagrad_name(k)
        sd[k] = lg.tensor(v.data, {dtype = 'float64'}):view(table.unpack(v.shape))
        keys[#keys + 1] = k
      end
      table.sort(keys)
      local mine = m:state_dict_keys()
      table.sort(mine)
      assert.are.same(keys, mine) -- PyTorch's names, no more, no fewer
      m:load_state_dict(sd)
      local x = tensor(case.x):requires_grad_()
      local y = m(x)
      assert_close('output', y, case.output)
      local L = (y * tensor(case.u)):sum()
      L:backward()
      assert_close('input gradient', x.grad, case.x_grad)
      local params = m:named_parameters()
      for name, g in pairs(case.param_grads) do
        local p = params[lunagrad_name(name)]
        assert.is_not_nil(p, name)
        assert_close('gradient of ' .. name, p.grad, g)
      end
    end)
  end
end)
