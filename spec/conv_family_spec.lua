-- The convolution family (issue 13 item 1) differentiated twice: every new function and
-- option goes through gradcheck and gradgradcheck (float64 finite differences), on top of
-- the registry spec's recipes (spec/op_recipes.lua) and PyTorch's values
-- (spec/golden_nn1_spec.lua); then the fused first-order backward against the ops'
-- gradients for the new geometries (float32 runs the AVX-512/AVX2 kernels where the CPU
-- has them), and the bad-input messages.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local F = nn.functional
local gradcheck = require 'helpers.gradcheck'
local gradgradcheck = require 'helpers.gradgradcheck'

local function t(shape, lo, hi)
  lo, hi = lo or -1, hi or 1
  return (lg.rand(shape, {dtype = 'float64'}) * (hi - lo) + lo):requires_grad_()
end

local CASES = {
  {'conv2d dilation+groups', function(x, w, b) return F.conv2d(x, w, b, {stride = {1, 2}, padding = {2, 1}, dilation = {2, 1}, groups = 2}) end,
    function() return {t({2, 4, 6, 5}), t({4, 2, 2, 3}), t({4})} end},
  {'conv2d depthwise', function(x, w) return F.conv2d(x * x, w, {groups = 3, stride = 2}) end,
    function() return {t({1, 3, 5, 5}), t({3, 1, 3, 3})} end},
  {"conv2d 'same' (even kernel)", function(x, w) return F.conv2d(x, w, {padding = 'same'}) end,
    function() return {t({1, 2, 4, 4}), t({2, 2, 2, 3})} end},
  {'conv1d', function(x, w, b) return F.conv1d(x, w, b, {stride = 2, padding = 1, dilation = 2, groups = 2}) end,
    function() return {t({2, 4, 9}), t({2, 2, 3}), t({2})} end},
  {'conv_transpose2d', function(x, w, b) return F.conv_transpose2d(x, w, b, {stride = 2, padding = 1, output_padding = 1, groups = 2, dilation = {1, 2}}) end,
    function() return {t({1, 4, 3, 3}), t({4, 1, 3, 2}), t({2})} end},
  {'conv_transpose1d', function(x, w) return F.conv_transpose1d(x * x, w, {stride = 3, output_padding = 2}) end,
    function() return {t({2, 2, 3}), t({2, 3, 2})} end},
  {'max_pool2d ceil_mode', function(x) return F.max_pool2d(x * x, 3, 2, 1, {ceil_mode = true}) end,
    function() return {t({1, 2, 6, 5}, 0.1, 1)} end},
  {'max_pool2d 2x2 ceil_mode (partial windows)', function(x) return F.max_pool2d(x * x, 2, {ceil_mode = true}) end,
    function() return {t({1, 2, 5, 3}, 0.1, 1)} end},
  {'avg_pool2d count_include_pad=false, ceil_mode', function(x) return F.avg_pool2d(x * x, 3, 2, 1, {ceil_mode = true, count_include_pad = false}) end,
    function() return {t({1, 2, 6, 5})} end},
  {'max_pool1d', function(x) return F.max_pool1d(x * x, 3, 2, 1) end, function() return {t({2, 2, 7}, 0.1, 1)} end},
  {'avg_pool1d', function(x) return F.avg_pool1d(x * x, 2, {ceil_mode = true}) end, function() return {t({2, 2, 7})} end},
  {'adaptive_avg_pool2d', function(x) return F.adaptive_avg_pool2d(x * x, {3, 2}) end, function() return {t({1, 2, 5, 7})} end},
  {'adaptive_max_pool2d', function(x) return F.adaptive_max_pool2d(x * x, {2, 3}) end, function() return {t({1, 2, 5, 7}, 0.1, 1)} end},
  {'adaptive_avg_pool1d', function(x) return F.adaptive_avg_pool1d(x * x, 3) end, function() return {t({2, 2, 7})} end},
  {'interpolate nearest', function(x) return F.interpolate(x * x, {size = {5, 3}}) end, function() return {t({1, 2, 3, 4})} end},
  {'interpolate bilinear', function(x) return F.interpolate(x * x, {scale_factor = 1.5, mode = 'bilinear'}) end, function() return {t({1, 2, 3, 4})} end},
  {'interpolate bilinear align_corners', function(x) return F.interpolate(x * x, {size = {4, 5}, mode = 'bilinear', align_corners = true}) end, function() return {t({1, 1, 3, 3})} end},
  {'interpolate linear', function(x) return F.interpolate(x * x, {size = 7, mode = 'linear'}) end, function() return {t({2, 2, 4})} end},
  {'pad constant', function(x) return F.pad(x * x, {1, -1, 2, 0}, 'constant', 0.3) end, function() return {t({2, 3, 4})} end},
  {'pad reflect', function(x) return F.pad(x * x, {2, 1, 1, 2}, 'reflect') end, function() return {t({1, 2, 3, 4})} end},
  {'pad replicate', function(x) return F.pad(x * x, {3, 1}, 'replicate') end, function() return {t({2, 3})} end},
  {'pad circular', function(x) return F.pad(x * x, {1, 2, 2, 1}, 'circular') end, function() return {t({1, 1, 3, 3})} end},
}

describe('the convolution family, differentiated twice', function()
  for _, c in ipairs(CASES) do
    it(c[1] .. ': gradcheck and gradgradcheck', function()
      lg.manual_seed(#c[1])
      local inputs = c[3]()
      local ok, msg = gradcheck(c[2], inputs)
      assert(ok, c[1] .. ': ' .. tostring(msg))
      ok, msg = gradgradcheck(c[2], inputs)
      assert(ok, c[1] .. ': ' .. tostring(msg))
    end)
  end
end)

local function max_diff(a, b)
  return (a:double() - b:double()):abs():max():item()
end

describe('the fused conv kernels on the new geometries', function()
  -- an ordinary backward runs the fused kernels, create_graph the registered ops
  local geoms = {
    {name = 'groups 2', x = {3, 4, 9, 8}, w = {6, 2, 3, 3}, o = {groups = 2, padding = 1}},
    {name = 'depthwise, stride 2', x = {2, 5, 9, 9}, w = {5, 1, 3, 3}, o = {groups = 5, stride = 2}},
    {name = 'dilation 2, padding 2', x = {2, 3, 10, 9}, w = {4, 3, 3, 3}, o = {dilation = 2, padding = 2}},
    {name = 'dilation {1,3}, groups 3, stride {2,1}', x = {2, 6, 9, 11}, w = {9, 2, 2, 3}, o = {dilation = {1, 3}, groups = 3, stride = {2, 1}}},
  }
  for _, dtype in ipairs {'float32', 'float64'} do
    for _, gm in ipairs(geoms) do
      it(gm.name .. ' (' .. dtype .. '): fused gradients == the ops\' gradients', function()
        lg.manual_seed(7)
        local x = lg.randn(gm.x, {dtype = dtype}):requires_grad_()
        local w = lg.randn(gm.w, {dtype = dtype}):requires_grad_()
        local b = lg.randn({gm.w[1]}, {dtype = dtype}):requires_grad_()
        local function net() return F.conv2d(x, w, b, gm.o):tanh() end
        local plain = lg.grad(net():sum(), {x, w, b})
        local graph = lg.grad(net():sum(), {x, w, b}, {create_graph = true})
        assert.are.equal('conv2d_input_grad', graph[1].grad_fn)
        local tol = dtype == 'float32' and 1e-4 or 1e-11
        for i = 1, 3 do assert.is_true(max_diff(plain[i], graph[i]) < tol, 'input ' .. i) end
        -- and against float64 as the reference for float32
        if dtype == 'float32' then
          local x64, w64, b64 = x:double():detach(), w:double():detach(), b:double():detach()
          local y64 = F.conv2d(x64, w64, b64, gm.o)
          assert.is_true(max_diff(F.conv2d(x, w, b, gm.o), y64) < 1e-4)
        end
      end)
    end
  end

  it('groups == the per-group convolutions concatenated', function()
    lg.manual_seed(3)
    local x, w = lg.randn(2, 6, 7, 7), lg.randn(9, 2, 3, 3)
    local y = F.conv2d(x, w, {groups = 3, padding = 1})
    local parts = {}
    for g = 1, 3 do
      parts[g] = F.conv2d(x:narrow(2, 2 * g - 1, 2), w:narrow(1, 3 * g - 2, 3), {padding = 1})
    end
    assert.is_true(max_diff(y, lg.cat(parts, 2)) < 1e-5)
  end)

  it('conv_transpose2d is the adjoint of conv2d', function()
    -- <conv2d(y, w), x> == <y, conv_transpose2d(x, w)> for every y and x
    lg.manual_seed(4)
    local o = {stride = 2, padding = 1, dilation = 2, groups = 2}
    local w = lg.randn({4, 3, 3, 3}, {dtype = 'float64'})
    local y = lg.randn({2, 6, 9, 9}, {dtype = 'float64'})
    local fy = F.conv2d(y, w, o)
    local x = lg.randn(fy:shape(), {dtype = 'float64'})
    local tx = F.conv_transpose2d(x, w, {stride = 2, padding = 1, dilation = 2, groups = 2})
    assert.are.same(y:shape(), tx:shape())
    local lhs, rhs = (fy * x):sum():item(), (y * tx):sum():item()
    assert.is_true(math.abs(lhs - rhs) < 1e-9 * math.abs(lhs) + 1e-9)
  end)

  it('max_pool2d with return_indices: gradients flow to the indexed positions', function()
    local x = lg.tensor({{{{1, 5, 2}, {7, 3, 4}, {0, 9, 8}}}}, {dtype = 'float64', requires_grad = true})
    local y, idx = F.max_pool2d(x, 2, {stride = 1, return_indices = true})
    assert.are.same({{{{4, 2}, {8, 8}}}}, idx:totable())
    y:sum():backward()
    assert.are.same({{{{0, 1, 0}, {1, 0, 0}, {0, 2, 0}}}}, x.grad:totable())
  end)

  it('modules: shapes, defaults and the PyTorch names of their tensors', function()
    local c = nn.Conv1d(4, 6, 3, {groups = 2})
    assert.are.same({6, 2, 3}, c.weight:shape())
    assert.are.same({'weight', 'bias'}, c:state_dict_keys())
    local ct = nn.ConvTranspose2d(4, 6, 3, {groups = 2, bias = false})
    assert.are.same({4, 3, 3, 3}, ct.weight:shape())
    assert.are.same({'weight'}, ct:state_dict_keys())
    assert.are.same({2, 6, 9, 11}, ct(lg.randn(2, 4, 7, 9)):shape())
    assert.are.same({3, 6, 7, 7}, nn.Conv2d(4, 6, 3, {padding = 'same'})(lg.randn(3, 4, 7, 7)):shape())
    assert.are.same({2, 3, 4}, nn.MaxPool1d(2)(lg.randn(2, 3, 9)):shape())
    assert.are.same({2, 3, 5}, nn.MaxPool1d(2, {ceil_mode = true})(lg.randn(2, 3, 9)):shape())
    assert.are.same({3, 1, 1}, nn.AdaptiveAvgPool2d(1)(lg.randn(3, 5, 4)):shape())
    assert.are.same({1, 2, 6, 8}, nn.Upsample({scale_factor = 2, mode = 'bilinear'})(lg.randn(1, 2, 3, 4)):shape())
    assert.matches('groups=2', tostring(nn.Conv2d(4, 6, 3, {groups = 2})), 1, true)
  end)
end)

describe('the convolution family: bad input', function()
  local function raises(pattern, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, 'no error for ' .. pattern)
    assert.matches(pattern, tostring(err), 1, true)
  end
  local x = lg.randn(1, 4, 6, 6)

  it('names the function and the problem', function()
    raises('lunagrad.conv2d: input channels (4) must be divisible by groups (3)', function() F.conv2d(x, lg.randn(3, 1, 3, 3), {groups = 3}) end)
    raises('lunagrad.conv2d: output channels (weight\'s first size) (3) must be divisible by groups (2)', function() F.conv2d(x, lg.randn(3, 2, 3, 3), {groups = 2}) end)
    raises('lunagrad.conv2d: input has 4 channels but weight expects 3 x groups 2 = 6', function() F.conv2d(x, lg.randn(4, 3, 3, 3), {groups = 2}) end)
    raises('lunagrad.conv2d: kernel 3x3 with dilation [3,3] spans 7x7, larger than the padded input 6x6', function() F.conv2d(x, lg.randn(2, 4, 3, 3), {dilation = 3}) end)
    raises('the output size would be less than 1', function() F.conv2d(x, lg.randn(2, 4, 7, 7)) end)
    raises('lunagrad.conv2d: dilation must be positive', function() lg.conv2d(x, lg.randn(2, 4, 3, 3), nil, 1, 0, 0) end)
    raises("lunagrad.nn.functional.conv2d: padding = 'same' is not supported for strided convolutions", function() F.conv2d(x, lg.randn(2, 4, 3, 3), {padding = 'same', stride = 2}) end)
    raises("lunagrad.nn.functional.conv2d: padding must be a number, {h, w}, 'same' or 'valid', got 'full'", function() F.conv2d(x, lg.randn(2, 4, 3, 3), {padding = 'full'}) end)
    raises('lunagrad.conv_transpose2d: output_padding must be non-negative and smaller than stride', function() F.conv_transpose2d(x, lg.randn(4, 2, 3, 3), {stride = 2, output_padding = 2}) end)
    raises('lunagrad.conv_transpose2d: the output size', function() F.conv_transpose2d(lg.randn(1, 4, 1, 1), lg.randn(4, 2, 1, 1), {padding = 1}) end)
    raises('lunagrad.nn.Conv2d: in_channels (4) must be divisible by groups (3)', function() nn.Conv2d(4, 6, 3, {groups = 3}) end)
    raises("lunagrad.nn.Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got 'mirror'", function() nn.Conv2d(4, 6, 3, {padding_mode = 'mirror'}) end)
    raises('lunagrad.nn.ConvTranspose2d: output_padding must be smaller than stride', function() nn.ConvTranspose2d(4, 6, 3, {output_padding = 1}) end)
    raises('lunagrad.nn.Conv1d: expected input [N,4,L] or [4,L], got [1,4,6,6]', function() nn.Conv1d(4, 2, 3)(x) end)
    raises('lunagrad.max_pool2d: padding should be at most half of the kernel size', function() F.max_pool2d(x, 2, 1, 2) end)
    raises('lunagrad.max_pool2d: kernel 7x7 is larger than the padded input 6x6', function() F.max_pool2d(x, 7) end)
    raises('lunagrad.adaptive_avg_pool2d: output size must be positive', function() lg.adaptive_avg_pool2d(x, 0) end)
    raises('lunagrad.nn.functional.adaptive_avg_pool1d: expected input [N,C,L] or [C,L], got [1,4,6,6]', function() F.adaptive_avg_pool1d(x, 2) end)
    raises("lunagrad.nn.functional.pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got 'mirror'", function() F.pad(x, {1, 1}, 'mirror') end)
    raises('lunagrad.nn.functional.pad: reflect padding (6, 1) of dim 4 must be less than its size 6', function() F.pad(x, {6, 1}, 'reflect') end)
    raises('lunagrad.nn.functional.pad: pad must be a table of an even number of sizes', function() F.pad(x, {1, 2, 3}) end)
    raises("lunagrad.nn.functional.interpolate: mode must be 'nearest', 'linear' or 'bilinear', got 'bicubic'", function() F.interpolate(x, {size = 3, mode = 'bicubic'}) end)
    raises('lunagrad.nn.functional.interpolate: exactly one of size and scale_factor must be given', function() F.interpolate(x, {}) end)
    raises("lunagrad.nn.functional.interpolate: align_corners can only be set with the interpolating modes", function() F.interpolate(x, {size = 3, align_corners = true}) end)
    raises('lunagrad.nn.functional.interpolate: the output size 0 is less than 1', function() F.interpolate(x, {scale_factor = 0.1}) end)
    raises('lunagrad.nn.Upsample: exactly one of size and scale_factor must be given', function() nn.Upsample() end)
    raises('lunagrad.nn.functional.avg_pool2d: unknown option', function() F.avg_pool2d(x, 2, {return_index = true}) end)
  end)
end)
