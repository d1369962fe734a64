-- How the registry specs call each op that is not elementwise: one line per
-- registered op, name -> function returning (fn, inputs [, opts]). The inputs are
-- float64 (so finite differences are exact enough); tensors with requires_grad
-- are differentiated. spec/registry_spec.lua fails for a registered op missing
-- here, so a new op cannot slip past gradcheck and gradgradcheck.
local lg = require 'lunagrad'
local F = require('lunagrad.nn').functional

local function t(shape, lo, hi, grad)
  local x = lg.rand(shape, {dtype = 'float64'}) * (hi - lo) + lo
  return grad == false and x or x:requires_grad_()
end
-- Backward ops (a rule's results under create_graph): the gradient of fwd()'s
-- output with respect to x for the output gradient g, recorded even inside
-- gradcheck's no_grad finite differences.
local function backward_op(fwd, x, g)
  local was = require('lunagrad.core').set_grad_enabled(true)
  local gx = lg.grad(fwd(), x, {grad_outputs = g, create_graph = true})[1]
  require('lunagrad.core').set_grad_enabled(was)
  return gx
end
local function idx(values) return lg.tensor(values, {dtype = 'int64'}) end

return {
  view = function() return function(x) return x:view(3, 2) end, {t({2, 3}, -1, 1)} end,
  expand = function() return function(x) return x:expand(2, 3, 4) end, {t({3, 1}, -1, 1)} end,
  transpose = function() return function(x) return x:transpose(1, 2) * x:transpose(1, 2) end, {t({2, 3}, -1, 1)} end,
  permute = function() return function(x) return x:permute(3, 1, 2):sin() end, {t({2, 3, 2}, -1, 1)} end,
  slice = function() return function(x) return x:slice(2, 1, 3, 2) * x:slice(2, 1, 3, 2) end, {t({2, 4}, -1, 1)} end,
  select = function() return function(x) return x:select(1, 2):exp() end, {t({3, 2}, -1, 1)} end,
  slice_backward = function() return function(g) return lg._slice_backward(g * g, {2, 5}, 2, 2, 4, 2) end, {t({2, 2}, -1, 1)} end,
  unsqueeze = function() return function(x) return x:unsqueeze(1):tanh() end, {t({3}, -1, 1)} end,
  squeeze = function() return function(x) return x:squeeze(2):sin() end, {t({3, 1}, -1, 1)} end,
  contiguous = function() return function(x) return x:t():contiguous():sin() end, {t({2, 3}, -1, 1)} end,
  clone = function() return function(x) return x:clone() * x end, {t({4}, -1, 1)} end,
  to_dtype = function() return function(x) return x:float():double() * x end, {t({4}, -1, 1)}, {eps = 1e-2, rtol = 1e-3, atol = 1e-4} end, -- float32 inside: exact for a quadratic, at float32's precision
  sum = function() return function(x) return (x * x):sum(2, true) * x end, {t({2, 3}, -1, 1)} end,
  sum_to = function() return function(x, y) return x * y end, {t({2, 3}, -1, 1), t({3}, -1, 1)} end,
  mean = function() return function(x) return (x * x):mean(1) * x end, {t({2, 3}, -1, 1)} end,
  max = function() return function(x) return (x * x):max(2) end, {lg.tensor({{0.1, -0.9, 0.5}, {0.7, 0.2, -0.3}}, {dtype = 'float64', requires_grad = true})} end,
  min = function() return function(x) return (x * x):min(1) end, {lg.tensor({{0.1, -0.9, 0.5}, {0.7, 0.2, -0.3}}, {dtype = 'float64', requires_grad = true})} end,
  max_all = function() return function(x) return (x * x):max() end, {lg.tensor({0.1, -0.9, 0.5}, {dtype = 'float64', requires_grad = true})} end,
  min_all = function() return function(x) return (x * x):min() end, {lg.tensor({0.1, -0.9, 0.5}, {dtype = 'float64', requires_grad = true})} end,
  gather = function() return function(x) return lg._gather(x * x, 2, idx({{3, 1}, {2, 2}})) end, {t({2, 3}, -1, 1)} end,
  scatter_to = function() return function(g) return lg._scatter_to(g * g, 2, idx({{3, 1}, {2, 2}}), {2, 3}) end, {t({2, 2}, -1, 1)} end,
  softmax = function() return function(x) return x:softmax(2) end, {t({2, 4}, -2, 2)} end,
  log_softmax = function() return function(x) return x:log_softmax(1) end, {t({3, 2}, -2, 2)} end,
  matmul = function() return function(a, b) return lg.matmul(a, b) end, {t({2, 3, 4}, -1, 1), t({4, 2}, -1, 1)} end,
  cat = function() return function(a, b) return lg.cat({a * b, b}, 1) end, {t({2, 3}, -1, 1), t({1, 3}, -1, 1)} end,
  stack = function() return function(a, b) return lg.stack({a * b, b}, 2) end, {t({2, 3}, -1, 1), t({2, 3}, -1, 1)} end,
  index_select = function() return function(x) return (x * x):index(1, idx({3, 1, 3})) end, {t({3, 2}, -1, 1)} end,
  index_add_to = function() return function(g) return lg._index_add_to(g * g, 1, idx({3, 1, 3}), {4, 2}) end, {t({3, 2}, -1, 1)} end,
  revgrad = function() return function(x) return lg.revgrad(x * x, 0.7) end, {t({3}, -1, 1)}, {scale = -0.7} end,
  linear = function() return function(x, w, b) return F.linear(x * x, w, b) end, {t({2, 3}, -1, 1), t({4, 3}, -1, 1), t({4}, -1, 1)} end,
  -- conv2d and its backward ops: the plain geometry and one with dilation and groups, both outputs flattened into one
  conv2d = function() return function(x, w, b, x2, w2) return lg.cat({F.conv2d(x * x, w, b, {stride = 2, padding = 1}):view(-1), F.conv2d(x2 * x2, w2, {stride = {1, 2}, padding = 2, dilation = 2, groups = 2}):view(-1)}) end, {t({2, 2, 5, 5}, -1, 1), t({3, 2, 3, 3}, -1, 1), t({3}, -1, 1), t({1, 4, 5, 5}, -1, 1), t({4, 2, 3, 2}, -1, 1)} end,
  conv2d_input_grad = function() local x0 = t({1, 2, 6, 5}, -1, 1) return function(g, w, x2, w2) return lg.cat({backward_op(function() return lg.conv2d(x0, w, nil, {2, 1}, 1) end, x0, g):view(-1), F.conv_transpose2d(x2 * x2, w2, {stride = 2, padding = 1, output_padding = 1, dilation = {1, 2}, groups = 2}):view(-1)}) end, {t({1, 3, 3, 5}, -1, 1), t({3, 2, 3, 3}, -1, 1), t({1, 4, 3, 3}, -1, 1), t({4, 1, 2, 3}, -1, 1)} end,
  conv2d_weight_grad = function() local w0, w1 = t({3, 2, 3, 3}, -1, 1), t({4, 1, 2, 2}, -1, 1) return function(x, g, x2, g2) return lg.cat({backward_op(function() return lg.conv2d(x, w0, nil, {2, 1}, 1) end, w0, g):view(-1), backward_op(function() return F.conv2d(x2, w1, {dilation = 2, groups = 2, padding = 1}) end, w1, g2):view(-1)}) end, {t({1, 2, 6, 5}, -1, 1), t({1, 3, 3, 5}, -1, 1), t({1, 2, 5, 4}, -1, 1), t({1, 4, 5, 4}, -1, 1)} end,
  max_pool2d = function() return function(x) return F.max_pool2d(x * x, 2) end, {t({1, 2, 4, 4}, 0.1, 2)} end,
  avg_pool2d = function() return function(x) return F.avg_pool2d(x * x, 2, 1, 1) end, {t({1, 2, 3, 3}, -1, 1)} end,
  max_pool2d_backward = function() local x0, x1 = t({1, 2, 5, 5}, -1, 1), t({1, 2, 6, 5}, -1, 1) return function(g, g1) return lg.cat({backward_op(function() return lg.max_pool2d(x0, 3, 2, 1) end, x0, g):view(-1), backward_op(function() return F.max_pool2d(x1, 3, 2, 1, {ceil_mode = true}) end, x1, g1):view(-1)}) end, {t({1, 2, 3, 3}, -1, 1), t({1, 2, 4, 3}, -1, 1)} end,
  max_pool2d_gather = function() local x0, g0 = t({1, 2, 5, 4}, -1, 1), t({1, 2, 2, 2}, -1, 1) return function(gg) return backward_op(function() return backward_op(function() return lg.max_pool2d(x0, 2) end, x0, g0) end, g0, gg) end, {t({1, 2, 5, 4}, -1, 1)} end,
  avg_pool2d_backward = function() local x0, x1 = t({1, 2, 5, 4}, -1, 1), t({1, 2, 6, 5}, -1, 1) return function(g, g1, g2) return lg.cat({backward_op(function() return lg.avg_pool2d(x0, 3, 2, 1) end, x0, g):view(-1), backward_op(function() return F.avg_pool2d(x1, 3, 2, 1, {ceil_mode = true, count_include_pad = false}) end, x1, g1):view(-1), backward_op(function() return F.adaptive_avg_pool2d(x1, {3, 2}) end, x1, g2):view(-1)}) end, {t({1, 2, 3, 2}, -1, 1), t({1, 2, 4, 3}, -1, 1), t({1, 2, 3, 2}, -1, 1)} end,
  batch_norm = function() return function(x, w, b) return F.batch_norm(x, nil, nil, w, b, {training = true}) end, {t({4, 3}, -1, 1), t({3}, 0.5, 1.5), t({3}, -1, 1)} end,
  dropout = function() return function(x) lg.manual_seed(3) return F.dropout(x * x, 0.4, true) end, {t({3, 4}, -1, 1)} end,
  nll_loss = function() return function(x) return F.nll_loss((x * x):log_softmax(2), idx({2, 1, 3})) end, {t({3, 3}, -1, 1)} end,
  cross_entropy = function() return function(x) return F.cross_entropy(x * x, idx({2, 1, 3})) end, {t({3, 3}, -1, 1)} end,
  bce_with_logits = function() return function(x, y) return F.binary_cross_entropy_with_logits(x * x, y) end, {t({2, 3}, -1, 1), t({2, 3}, 0, 1)} end,
  mse_loss = function() return function(a, b) return F.mse_loss(a * a, b) end, {t({2, 3}, -1, 1), t({2, 3}, -1, 1)} end,
  rnn_tanh = function() return function(x, h0, wih, whh, bih, bhh) return require('lunagrad.core').rnn('rnn_tanh', x, h0, nil, wih, whh, bih, bhh, nil, idx({2, 3}), true) end, {t({3, 2, 2}, -1, 1), t({2, 3}, -1, 1), t({3, 2}, -1, 1), t({3, 3}, -1, 1), t({3}, -1, 1), t({3}, -1, 1)} end, -- reverse, lengths
  rnn_relu = function() return function(x, h0, wih, whh, bih) return require('lunagrad.core').rnn('rnn_relu', x, h0, nil, wih, whh, bih, nil, nil, nil, false) end, {t({3, 2, 2}, -1, 1), t({2, 3}, 0.1, 1), t({3, 2}, -1, 1), t({3, 3}, -1, 1), t({3}, 0.2, 1)} end,
  lstm = function() return function(x, h0, c0, wih, whh, bih, bhh, whr) return require('lunagrad.core').rnn('lstm', x, h0, c0, wih, whh, bih, bhh, whr, idx({3, 2}), false) end, {t({3, 2, 2}, -1, 1), t({2, 2}, -1, 1), t({2, 3}, -1, 1), t({12, 2}, -1, 1), t({12, 2}, -1, 1), t({12}, -1, 1), t({12}, -1, 1), t({2, 3}, -1, 1)} end, -- proj_size 2, lengths
  gru = function() return function(x, h0, wih, whh, bih, bhh) return require('lunagrad.core').rnn('gru', x, h0, nil, wih, whh, bih, bhh, nil, idx({1, 3}), true) end, {t({3, 2, 2}, -1, 1), t({2, 3}, -1, 1), t({9, 2}, -1, 1), t({9, 3}, -1, 1), t({9}, -1, 1), t({9}, -1, 1)} end, -- reverse, lengths
}
