-- Neural-network kernels: linear, batch_norm, dropout and the losses
-- (src/ops/nn_linear.c, nn_norm.c, nn_loss.c; binding src/lua/nn.c).
-- Values are hand-computed; gradients are checked against central finite
-- differences in float64; the last block replays cases from golden.json.
local lg = require 'lunagrad'

-- ---- helpers ---------------------------------------------------------------

local function flat(t)
  if t:dim() == 0 then return {t:item()} end
  return t:reshape(-1):totable()
end

-- A tensor from a flat list and a shape.
local function T(data, shape, dtype, requires_grad)
  local t = lg.tensor(data, {dtype = dtype or 'float64'}):reshape(shape or {#data})
  if requires_grad then t:requires_grad_() end
  return t
end

-- Deterministic, irregular test data (no RNG needed).
local function wave(n, phase, scale)
  local out = {}
  for i = 1, n do out[i] = (scale or 1) * math.sin(1.7 * i + (phase or 0)) + 0.1 * math.cos(0.3 * i * i) end
  return out
end

local function numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

local function assert_close(actual, expected, rtol, atol, what)
  assert.are.equal(#expected, #actual, (what or '') .. ': element count')
  for i = 1, #expected do
    local a, e = actual[i], expected[i]
    local ok = math.abs(a - e) <= atol + rtol * math.abs(e)
    assert.is_true(ok, string.format('%s[%d]: got %.12g, expected %.12g', what or 'value', i, a, e))
  end
end

local function same_values(t, expected, what) assert_close(flat(t), expected, 1e-6, 1e-6, what) end

-- Checks the gradients of f at float64 inputs against central differences.
-- specs: list of {data = flat list, shape = {...}, grad = bool}; f(tensors) returns
-- a tensor of any shape, reduced as sum(out * u) with fixed irregular weights u.
local function check_gradients(specs, f, tol)
  tol = tol or 1e-6
  local function loss(tensors, u)
    local out = f(tensors)
    if not u then u = T(wave(out:numel(), 0.5), out:shape()) end
    return (out * u):sum(), u
  end
  local tensors = {}
  for i, s in ipairs(specs) do tensors[i] = T(s.data, s.shape, 'float64', s.grad) end
  local l, u = loss(tensors)
  l:backward()
  local h = 1e-6
  for i, s in ipairs(specs) do
    if s.grad then
      local analytic = flat(tensors[i].grad)
      local numeric = {}
      for j = 1, #s.data do
        local function at(delta)
          local args = {}
          for k, sk in ipairs(specs) do
            local data = sk.data
            if k == i then
              data = table.move(sk.data, 1, #sk.data, 1, {})
              data[j] = data[j] + delta
            end
            args[k] = T(data, sk.shape, 'float64')
          end
          return lg.no_grad(function() return loss(args, u):item() end)
        end
        numeric[j] = (at(h) - at(-h)) / (2 * h)
      end
      assert_close(analytic, numeric, tol, tol, 'gradient of input ' .. i)
    end
  end
end

local function input(shape, phase, scale, grad)
  return {data = wave(numel(shape), phase, scale), shape = shape, grad = grad ~= false}
end

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, 'expected an error matching ' .. pattern)
  assert.is_truthy(tostring(err):find(pattern, 1, true), 'error was: ' .. tostring(err))
end

-- ---- linear ----------------------------------------------------------------

describe('linear', function()
  local W = {{1, 0}, {0, 1}, {1, 1}}

  it('computes x @ w^T + b for 2-d input', function()
    local y = lg.linear(lg.tensor({{1, 2}, {3, 4}}), lg.tensor(W), lg.tensor({0.5, -0.5, 1}))
    assert.are.same({{1.5, 1.5, 4}, {3.5, 3.5, 8}}, y:totable())
  end)

  it('folds leading dims of 3-d input into the rows', function()
    local x = lg.tensor({{{1, 2}}, {{3, 4}}})
    local y = lg.linear(x, lg.tensor(W))
    assert.are.same({2, 1, 3}, y:shape())
    assert.are.same({{{1, 2, 3}}, {{3, 4, 7}}}, y:totable())
  end)

  it('accepts 1-d input, a transposed weight view and a non-contiguous x', function()
    assert.are.same({1, 2, 3}, lg.linear(lg.tensor({1, 2}), lg.tensor(W)):totable())
    local wt = lg.tensor({{1, 0, 1}, {0, 1, 1}}):t() -- [3,2] column-major view
    assert.is_false(wt:is_contiguous())
    local x = lg.tensor({{1, 3}, {2, 4}}):t() -- rows {1,2} and {3,4}
    assert.are.same({{1.5, 1.5, 4}, {3.5, 3.5, 8}},
      lg.linear(x, wt, lg.tensor({0.5, -0.5, 1})):totable())
  end)

  it('computes in float64 too', function()
    local y = lg.linear(lg.tensor({{0.1, 0.2}}, {dtype = 'float64'}),
      lg.tensor({{1, 1}}, {dtype = 'float64'}), lg.tensor({1e-10}, {dtype = 'float64'}))
    assert.are.equal('float64', y.dtype)
    assert.are.equal(0.1 + 0.2 + 1e-10, y:item())
  end)

  it('has the hand-derived gradients and records grad_fn linear', function()
    local x = lg.tensor({{1, 2}, {3, 4}, {5, 6}}, {requires_grad = true})
    local w = lg.tensor(W, {requires_grad = true})
    local b = lg.tensor({0.5, -0.5, 1}, {requires_grad = true})
    local y = lg.linear(x, w, b)
    assert.are.equal('linear', y.grad_fn)
    y:sum():backward()
    assert.are.same({{2, 2}, {2, 2}, {2, 2}}, x.grad:totable()) -- column sums of w
    assert.are.same({{9, 12}, {9, 12}, {9, 12}}, w.grad:totable()) -- column sums of x
    assert.are.same({3, 3, 3}, b.grad:totable())
  end)

  it('matches finite differences (2-d, with bias)', function()
    check_gradients({input({4, 3}, 0), input({5, 3}, 1), input({5}, 2)},
      function(t) return lg.linear(t[1], t[2], t[3]) end)
  end)

  it('matches finite differences (3-d, with and without bias)', function()
    check_gradients({input({2, 3, 4}, 0.3), input({2, 4}, 1.3), input({2}, 2.3)},
      function(t) return lg.linear(t[1], t[2], t[3]) end)
    check_gradients({input({2, 2, 3}, 0.7), input({4, 3}, 1.7)},
      function(t) return lg.linear(t[1], t[2]) end)
  end)

  it('reports shape and dtype mismatches', function()
    raises('lunagrad.linear: input [2,3] does not match weight [3,2]',
      lg.linear, lg.zeros(2, 3), lg.zeros(3, 2))
    raises('lunagrad.linear: bias [2] does not match weight [3,2]',
      lg.linear, lg.zeros(2, 2), lg.zeros(3, 2), lg.zeros(2))
    raises('lunagrad.linear: weight must be 2-d', lg.linear, lg.zeros(2, 2), lg.zeros(2))
    raises('must share one float dtype', lg.linear, lg.zeros(2, 2), lg.zeros({2, 2}, {dtype = 'float64'}))
    raises('lunagrad.linear: bad argument #2', lg.linear, lg.zeros(2, 2), 'w')
  end)
end)

-- ---- batch_norm --------------------------------------------------------------

describe('batch_norm', function()
  it('normalises with the biased batch variance and updates running stats (unbiased)', function()
    local x = lg.tensor({{1, 2}, {3, 6}}) -- channel means 2, 4; biased vars 1, 4
    local rm, rv = lg.tensor({0, 0}), lg.tensor({1, 1})
    local y = lg.batch_norm(x, rm, rv, lg.tensor({2, 3}), lg.tensor({0.5, -1}), true, 0.1, 0)
    assert.are.same({{-1.5, -4}, {2.5, 2}}, y:totable())
    same_values(rm, {0.2, 0.4}, 'running_mean')
    same_values(rv, {0.9 + 0.1 * 2, 0.9 + 0.1 * 8}, 'running_var') -- unbiased: 2 and 8
  end)

  it('adds eps to the variance and works without affine parameters', function()
    local y = lg.batch_norm(lg.tensor({{1}, {3}}, {dtype = 'float64'}), nil, nil, nil, nil, true, 0.1, 1e-5)
    same_values(y, {-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5)})
  end)

  it('uses running statistics in eval mode and leaves them unchanged', function()
    local rm, rv = lg.tensor({1, 2}), lg.tensor({4, 9})
    local y = lg.batch_norm(lg.tensor({{3, 5}, {1, -1}}), rm, rv, lg.tensor({2, 1}), lg.tensor({0, 1}), false, 0.1, 0)
    assert.are.same({{2, 2}, {0, 0}}, y:totable())
    assert.are.same({1, 2}, rm:totable())
    assert.are.same({4, 9}, rv:totable())
  end)

  it('normalises each channel of a 4-d input over N, H and W', function()
    local x = T(wave(2 * 3 * 2 * 2, 0.2, 3), {2, 3, 2, 2})
    local rm, rv = lg.zeros({3}, {dtype = 'float64'}), lg.ones({3}, {dtype = 'float64'})
    local y = lg.batch_norm(x, rm, rv, nil, nil, true, 0.5, 0)
    local xs, ys = x:totable(), y:totable()
    for c = 1, 3 do
      local sx, sy, syy, n = 0, 0, 0, 0
      for i = 1, 2 do
        for h = 1, 2 do
          for w = 1, 2 do
            sx, sy, syy, n = sx + xs[i][c][h][w], sy + ys[i][c][h][w], syy + ys[i][c][h][w] ^ 2, n + 1
          end
        end
      end
      assert.is_true(math.abs(sy / n) < 1e-12, 'channel mean 0')
      assert.is_true(math.abs(syy / n - 1) < 1e-12, 'channel biased variance 1')
      assert.is_true(math.abs(rm:totable()[c] - 0.5 * sx / n) < 1e-12, 'running mean')
    end
  end)

  it('handles [N, C, L] input', function()
    local y = lg.batch_norm(lg.tensor({{{1, 3}}, {{5, 7}}}), nil, nil, nil, nil, true, 0.1, 0)
    local s = 1 / math.sqrt(5) -- mean 4, biased variance (9+1+1+9)/4
    same_values(y, {-3 * s, -s, s, 3 * s})
  end)

  it('updates float32 running stats in place without recording', function()
    local rm, rv = lg.zeros(3), lg.ones(3)
    local x = lg.tensor({{1, 2, 3}, {3, 2, 1}}, {requires_grad = true})
    local y = lg.batch_norm(x, rm, rv, nil, nil, true, 1.0, 1e-5)
    assert.are.equal('batch_norm', y.grad_fn)
    assert.are.same({2, 2, 2}, rm:totable())
    assert.are.same({2, 0, 2}, rv:totable())
    assert.is_nil(rm.grad_fn)
  end)

  local function bn(training)
    return function(t) return lg.batch_norm(t[1], nil, nil, t[2], t[3], training, 0.1, 1e-3) end
  end
  local function bn_eval(t)
    local rm = T({0.3, -0.2, 0.1}, {3})
    local rv = T({1.5, 0.7, 2.0}, {3})
    return lg.batch_norm(t[1], rm, rv, t[2], t[3], false, 0.1, 1e-5)
  end

  it('matches finite differences in training mode (2-d and 4-d)', function()
    check_gradients({input({5, 3}, 0, 2), input({3}, 1), input({3}, 2)}, bn(true))
    check_gradients({input({2, 3, 2, 3}, 0.4, 2), input({3}, 1.4), input({3}, 2.4)}, bn(true))
    check_gradients({input({4, 3}, 0.9, 2)}, function(t)
      return lg.batch_norm(t[1], nil, nil, nil, nil, true, 0.1, 1e-5)
    end)
  end)

  it('matches finite differences in eval mode (2-d and 4-d)', function()
    check_gradients({input({4, 3}, 0.1), input({3}, 1.1), input({3}, 2.1)}, bn_eval)
    check_gradients({input({2, 3, 2, 2}, 0.6), input({3}, 1.6), input({3}, 2.6)}, bn_eval)
  end)

  it('reports bad shapes and modes', function()
    raises('lunagrad.batch_norm: expected more than 1 value per channel when training, got input [1,3]',
      lg.batch_norm, lg.zeros(1, 3), nil, nil, nil, nil, true)
    raises('lunagrad.batch_norm: weight must have shape [3]',
      lg.batch_norm, lg.zeros(2, 3), nil, nil, lg.ones(2), nil, true)
    raises('running_mean and running_var are required in eval mode',
      lg.batch_norm, lg.zeros(2, 3), nil, nil, nil, nil, false)
    raises('lunagrad.batch_norm: input must have at least 2 dims', lg.batch_norm, lg.zeros(3), nil, nil, nil, nil, true)
    raises('lunagrad.batch_norm: training must be a boolean', lg.batch_norm, lg.zeros(2, 3), nil, nil, nil, nil, 1)
  end)
end)

-- ---- dropout -------------------------------------------------------------------

describe('dropout', function()
  it('is the identity in eval mode and for p = 0', function()
    local x = lg.tensor({1, -2, 3})
    assert.are.same({1, -2, 3}, lg.dropout(x, 0.5, false):totable())
    assert.are.same({1, -2, 3}, lg.dropout(x, 0, true):totable())
  end)

  it('zeroes everything for p = 1, gradient included', function()
    local x = lg.tensor({1, -2, 3}, {requires_grad = true})
    local y = lg.dropout(x, 1, true)
    assert.are.same({0, 0, 0}, y:totable())
    y:sum():backward()
    assert.are.same({0, 0, 0}, x.grad:totable())
  end)

  it('keeps about 1-p of the elements, scaled by 1/(1-p)', function()
    lg.manual_seed(7)
    local y = lg.dropout(lg.ones({20000}, {dtype = 'float64'}), 0.3, true)
    local kept = 0
    for _, v in ipairs(y:totable()) do
      if v ~= 0 then
        kept = kept + 1
        assert.is_true(math.abs(v - 1 / 0.7) < 1e-12)
      end
    end
    assert.is_true(math.abs(kept / 20000 - 0.7) < 0.015, 'kept fraction ' .. kept / 20000)
  end)

  it('draws the same mask after the same seed', function()
    lg.manual_seed(11)
    local a = lg.dropout(lg.ones(64), 0.5, true):totable()
    lg.manual_seed(11)
    local b = lg.dropout(lg.ones(64), 0.5, true):totable()
    assert.are.same(a, b)
  end)

  it('backpropagates through the same mask (grad = output / x)', function()
    lg.manual_seed(3)
    local data = {}
    for i = 1, 200 do data[i] = i % 7 + 0.5 end
    local x = lg.tensor(data, {dtype = 'float64', requires_grad = true})
    local y = lg.dropout(x, 0.4, true)
    assert.are.equal('dropout', y.grad_fn)
    y:sum():backward()
    local ys, gs, zeros = y:totable(), x.grad:totable(), 0
    for i = 1, 200 do
      assert.is_true(math.abs(gs[i] - ys[i] / data[i]) < 1e-12)
      if ys[i] == 0 then zeros = zeros + 1 end
    end
    assert.is_true(zeros > 40 and zeros < 120, 'some but not all dropped')
  end)

  it('rejects p outside [0, 1]', function()
    raises('lunagrad.dropout: dropout probability must be between 0 and 1, got 1.5', lg.dropout, lg.ones(2), 1.5, true)
    raises('between 0 and 1, got -0.1', lg.dropout, lg.ones(2), -0.1, true)
  end)
end)

-- ---- losses ---------------------------------------------------------------------

describe('nll_loss', function()
  local logp = {{-1, -2, -3}, {-0.5, -1.5, -2.5}}

  it('picks -logp at the 1-based targets with each reduction', function()
    assert.are.equal(1.75, lg.nll_loss(lg.tensor(logp), {3, 1}):item())
    assert.are.equal(1.75, lg.nll_loss(lg.tensor(logp), {3, 1}, 'mean'):item())
    assert.are.equal(3.5, lg.nll_loss(lg.tensor(logp), lg.tensor({3, 1}, {dtype = 'int64'}), 'sum'):item())
    assert.are.same({3, 0.5}, lg.nll_loss(lg.tensor(logp), {3, 1}, 'none'):totable())
    assert.are.same({}, lg.nll_loss(lg.tensor(logp), {3, 1}):shape())
  end)

  it('has gradient -1/N at the targets', function()
    local x = lg.tensor(logp, {requires_grad = true})
    lg.nll_loss(x, {3, 1}):backward()
    assert.are.same({{0, 0, -0.5}, {-0.5, 0, 0}}, x.grad:totable())
  end)

  it('matches finite differences for every reduction', function()
    for _, r in ipairs({'mean', 'sum', 'none'}) do
      check_gradients({input({3, 4}, 0.2)}, function(t) return lg.nll_loss(t[1], {2, 4, 1}, r) end)
    end
  end)
end)

describe('cross_entropy', function()
  it('is log-sum-exp minus the target logit', function()
    assert.is_true(math.abs(lg.cross_entropy(lg.tensor({{0, 0}}), {1}):item() - math.log(2)) < 1e-7)
    local l = lg.cross_entropy(lg.tensor({{1, 2, 3}}, {dtype = 'float64'}), {3})
    assert.is_true(math.abs(l:item() - math.log(1 + math.exp(-1) + math.exp(-2))) < 1e-15)
    local none = lg.cross_entropy(lg.tensor({{1, 2, 3}, {1, 2, 3}}, {dtype = 'float64'}), {1, 3}, 'none')
    same_values(none, {math.log(1 + math.exp(1) + math.exp(2)), math.log(1 + math.exp(-1) + math.exp(-2))})
    local s = lg.cross_entropy(lg.tensor({{1, 2, 3}, {1, 2, 3}}, {dtype = 'float64'}), {1, 3}, {reduction = 'sum'})
    same_values(s, {math.log(1 + math.exp(1) + math.exp(2)) + math.log(1 + math.exp(-1) + math.exp(-2))})
  end)

  it('is finite and exact for logits of +-100', function()
    local x = lg.tensor({{100, -100}, {-100, 100}, {100, 100}}, {dtype = 'float64', requires_grad = true})
    local l = lg.cross_entropy(x, {1, 1, 2}, 'none')
    local v = l:totable()
    assert.is_true(math.abs(v[1] - math.exp(-200)) <= 1e-15 * math.exp(-200), 'tiny loss kept exactly')
    assert.are.equal(200, v[2])
    assert.is_true(math.abs(v[3] - math.log(2)) < 1e-15)
    l:sum():backward()
    same_values(x.grad, {-math.exp(-200), math.exp(-200), -1, 1, 0.5, -0.5})
    local f = lg.cross_entropy(lg.tensor({{100, -100}, {-100, 100}}), {2, 2}) -- float32
    assert.is_true(math.abs(f:item() - 100) < 1e-4)
  end)

  it('has gradient (softmax - onehot) / N for mean', function()
    local x = lg.tensor({{0, 0}, {0, math.log(3)}}, {dtype = 'float64', requires_grad = true})
    lg.cross_entropy(x, {1, 2}):backward()
    same_values(x.grad, {-0.25, 0.25, 0.125, -0.125})
  end)

  it('matches finite differences for every reduction', function()
    for _, r in ipairs({'mean', 'sum', 'none'}) do
      check_gradients({input({3, 5}, 0.8, 3)}, function(t) return lg.cross_entropy(t[1], {5, 1, 3}, r) end)
    end
  end)

  it('accepts int64 tensors, tables and whole-valued float tensors as 1-based targets', function()
    local x = lg.tensor({{1, 2, 3}, {3, 1, 2}}, {dtype = 'float64'})
    local a = lg.cross_entropy(x, lg.tensor({2, 3}, {dtype = 'int64'})):item()
    assert.are.equal(a, lg.cross_entropy(x, {2, 3}):item())
    assert.are.equal(a, lg.cross_entropy(x, lg.tensor({2, 3})):item())
    raises('lunagrad.cross_entropy: target must hold whole class labels, got 1.5',
      lg.cross_entropy, x, lg.tensor({1.5, 2}))
  end)

  it('names an out-of-range target 1-based', function()
    raises('lunagrad.cross_entropy: target 11 out of range for 10 classes', lg.cross_entropy, lg.zeros(2, 10), {1, 11})
    raises('lunagrad.cross_entropy: target 0 out of range for 10 classes (class labels are 1-based)',
      lg.cross_entropy, lg.zeros(2, 10), lg.tensor({0, 3}, {dtype = 'int64'}))
    raises('lunagrad.nll_loss: target 4 out of range for 3 classes', lg.nll_loss, lg.zeros(1, 3), {4})
  end)

  it('reports shape mismatches and bad reductions', function()
    raises('lunagrad.cross_entropy: target [3] does not match logits [2,10]', lg.cross_entropy, lg.zeros(2, 10), {1, 2, 3})
    raises('lunagrad.cross_entropy: logits must be 2-d [N, C], got [10]', lg.cross_entropy, lg.zeros(10), {1})
    raises("lunagrad.cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'",
      lg.cross_entropy, lg.zeros(1, 2), {1}, 'avg')
    raises('lunagrad.cross_entropy: target must be a tensor or a list of class labels, got number',
      lg.cross_entropy, lg.zeros(1, 2), 1)
  end)
end)

describe('binary_cross_entropy_with_logits', function()
  local bce = lg.binary_cross_entropy_with_logits

  it('computes max(x,0) - x t + log1p(exp(-|x|)) with each reduction', function()
    local x = lg.tensor({0, 2, -1}, {dtype = 'float64'})
    local t = {1, 0, 0.25}
    local e = {math.log(2), 2 + math.log(1 + math.exp(-2)), 0.25 + math.log(1 + math.exp(-1))}
    same_values(bce(x, t, 'none'), e)
    same_values(bce(x, t, 'sum'), {e[1] + e[2] + e[3]})
    same_values(bce(x, t), {(e[1] + e[2] + e[3]) / 3})
  end)

  it('is finite and exact for logits of +-100', function()
    local x = lg.tensor({100, -100, 100, -100}, {dtype = 'float64', requires_grad = true})
    local l = bce(x, {1, 0, 0, 1}, 'none')
    local v = l:totable()
    assert.is_true(math.abs(v[1] - math.exp(-100)) <= 1e-14 * math.exp(-100))
    assert.is_true(math.abs(v[2] - math.exp(-100)) <= 1e-14 * math.exp(-100))
    assert.are.equal(100, v[3])
    assert.are.equal(100, v[4])
    l:sum():backward()
    same_values(x.grad, {0, 0, 1, -1}) -- sigmoid(x) - t
    local f = bce(lg.tensor({100, -100}), lg.tensor({0, 1}))
    assert.is_true(math.abs(f:item() - 100) < 1e-4)
  end)

  it('matches finite differences for logits and target, every reduction', function()
    for _, r in ipairs({'mean', 'sum', 'none'}) do
      local t = input({2, 3}, 1.0, 0.5)
      check_gradients({input({2, 3}, 0.1, 3), t}, function(a) return bce(a[1], a[2], r) end)
    end
  end)

  it('requires matching shapes', function()
    raises('lunagrad.binary_cross_entropy_with_logits: logits [2] and target [3] must have the same shape',
      bce, lg.zeros(2), lg.zeros(3))
  end)
end)

describe('mse_loss', function()
  it('averages or sums squared differences', function()
    local a, b = lg.tensor({1, 2, 3}), lg.tensor({1, 4, 0})
    same_values(lg.mse_loss(a, b), {13 / 3})
    assert.are.equal(13, lg.mse_loss(a, b, 'sum'):item())
    assert.are.same({0, 4, 9}, lg.mse_loss(a, b, 'none'):totable())
    assert.are.equal(13, lg.mse_loss(a, {1, 4, 0}, 'sum'):item())
  end)

  it('gives 2(a-b)/n to a and the opposite to b', function()
    local a = lg.tensor({1, 2, 3}, {dtype = 'float64', requires_grad = true})
    local b = lg.tensor({1, 4, 0}, {dtype = 'float64', requires_grad = true})
    local l = lg.mse_loss(a, b)
    assert.are.equal('mse_loss', l.grad_fn)
    l:backward()
    same_values(a.grad, {0, -4 / 3, 2})
    same_values(b.grad, {0, 4 / 3, -2})
  end)

  it('matches finite differences for both inputs, every reduction', function()
    for _, r in ipairs({'mean', 'sum', 'none'}) do
      check_gradients({input({2, 2, 3}, 0.3), input({2, 2, 3}, 1.3)},
        function(t) return lg.mse_loss(t[1], t[2], r) end)
    end
  end)

  it('requires matching shapes', function()
    raises('lunagrad.mse_loss: input [3,1] and target [3] must have the same shape',
      lg.mse_loss, lg.zeros(3, 1), lg.zeros(3))
  end)
end)

-- ---- golden values (/work/shared/golden/golden.json, PyTorch 1.13, float64 truth) ----
-- Inputs are float32; class targets there are 0-based (we add 1).

-- ---- second derivatives (create_graph) ---------------------------------------
-- The rules run ops under create_graph and fused kernels otherwise: both must
-- agree, and the create_graph gradients must be differentiable again.
describe('nn kernels under create_graph', function()
  local gradgradcheck = require 'helpers.gradgradcheck'
  local function X(shape, phase, scale, dtype)
    return T(wave(numel(shape), phase, scale), shape, dtype or 'float64', true)
  end
  local function ggc(fn, inputs, opts)
    local ok, msg = gradgradcheck(fn, inputs, opts)
    assert(ok, msg)
  end
  -- first-order gradients by backward() (fused kernels) equal those of lg.grad with
  -- create_graph (the ops), for every float dtype; recorded unless `constant`
  local function same_both_ways(fn, make_inputs, constant)
    for _, dtype in ipairs({'float64', 'float32'}) do
      local a = make_inputs(dtype)
      fn(table.unpack(a)):sum():backward()
      local b = make_inputs(dtype)
      local out = fn(table.unpack(b)):sum()
      local wanted = {}
      for _, t in ipairs(b) do if t.requires_grad then wanted[#wanted + 1] = t end end
      local gs = lg.grad(out, wanted, {create_graph = true})
      local k = 0
      for i, t in ipairs(a) do
        if t.requires_grad then
          k = k + 1
          assert.are.equal(dtype, gs[k].dtype)
          if not constant then assert.is_not_nil(gs[k].grad_fn, 'input ' .. i .. ': gradient not recorded') end
          assert_close(flat(gs[k]), flat(t.grad), 1e-5, 1e-5, dtype .. ' input ' .. i)
        end
      end
    end
  end

  it('batch_norm in training mode (2-d, 4-d, with running stats, without affine)', function()
    local function bn(x, w, b)
      return lg.batch_norm(x, lg.zeros(3, {dtype = 'float64'}), lg.ones(3, {dtype = 'float64'}), w, b, true, 0.1, 1e-5)
    end
    ggc(bn, {X({5, 3}, 0, 2), X({3}, 1), X({3}, 2)})
    ggc(bn, {X({2, 3, 2, 3}, 0.4, 2), X({3}, 1.4), X({3}, 2.4)})
    ggc(function(x) return lg.batch_norm(x, nil, nil, nil, nil, true, 0.1, 1e-5) end, {X({4, 3}, 0.9, 2)})
    ggc(function(x, w) return lg.batch_norm(x:transpose(1, 2), nil, nil, w, nil, true, 0.1, 1e-5) end,
      {X({3, 4}, 0.2, 2), X({3}, 0.7)}) -- a non-contiguous x
    same_both_ways(function(x, w, b) return lg.batch_norm(x, nil, nil, w, b, true, 0.1, 1e-5) * x end,
      function(dt) return {X({2, 3, 2, 2}, 0.3, 2, dt), X({3}, 1.3, 1, dt), X({3}, 2.3, 1, dt)} end)
  end)

  it('batch_norm in eval mode', function()
    local function bn_eval(x, w, b)
      local rm, rv = lg.tensor({0.2, -0.1, 0.4}, {dtype = 'float64'}), lg.tensor({1.5, 0.7, 2.0}, {dtype = 'float64'})
      return lg.batch_norm(x, rm, rv, w, b, false, 0.1, 1e-5) * x
    end
    ggc(bn_eval, {X({2, 3, 2, 2}, 0.6), X({3}, 1.6), X({3}, 2.6)})
    same_both_ways(bn_eval, function(dt) return {X({4, 3}, 0.1, 1, dt), X({3}, 1.1, 1, dt), X({3}, 2.1, 1, dt)} end)
  end)

  it('dropout (the same mask, scaled)', function()
    ggc(function(x) lg.manual_seed(7) return lg.dropout(x * x, 0.3, true) end, {X({4, 5}, 0.5)})
  end)

  it('the losses, every reduction', function()
    local target = lg.tensor({2, 4, 1}, {dtype = 'int64'})
    for _, r in ipairs({'mean', 'sum', 'none'}) do
      ggc(function(x) return lg.nll_loss((x * x):log_softmax(2), target, r) end, {X({3, 4}, 0.2)})
      ggc(function(x) return lg.cross_entropy(x * x, target, r) end, {X({3, 4}, 0.3)})
      ggc(function(x, t) return lg.binary_cross_entropy_with_logits(x * x, t, r) end, {X({2, 3}, 0.1, 2), X({2, 3}, 1.0, 0.5)})
      ggc(function(a, b) return lg.mse_loss(a * a, b, r) end, {X({2, 2, 3}, 0.3), X({2, 2, 3}, 1.3)})
      same_both_ways(function(x) return lg.cross_entropy(x, target, r) end, function(dt) return {X({3, 4}, 0.3, 2, dt)} end)
      same_both_ways(function(x) return lg.nll_loss(x, target, r) end, function(dt) return {X({3, 4}, 0.3, 2, dt)} end,
        true) -- linear in x: its gradient does not depend on x
      same_both_ways(function(x, t) return lg.binary_cross_entropy_with_logits(x, t, r) end,
        function(dt) return {X({2, 3}, 0.1, 2, dt), X({2, 3}, 1.0, 0.5, dt)} end)
      same_both_ways(function(a, b) return lg.mse_loss(a, b, r) end,
        function(dt) return {X({2, 3}, 0.3, 1, dt), X({2, 3}, 1.3, 1, dt)} end)
    end
  end)
end)

describe('nn kernels and memory', function()
  it('release every temporary, on success and on error', function()
    local function work()
      local x = lg.tensor({{1, 2, 3}, {4, 5, 7}}, {requires_grad = true})
      local w = lg.tensor({{1, 0, 1}, {0, 1, 1}}, {requires_grad = true})
      local b = lg.tensor({0.1, 0.2}, {requires_grad = true})
      local h = lg.linear(x, w, b)
      local h4 = h:reshape({2, 2, 1, 1})
      local g, beta = lg.ones({2}, {requires_grad = true}), lg.zeros({2}, {requires_grad = true})
      local n = lg.batch_norm(h4, lg.zeros(2), lg.ones(2), g, beta, true, 0.1, 1e-5):reshape({2, 2})
      local d = lg.dropout(n, 0.5, true)
      local loss = lg.cross_entropy(d, {1, 2}) + lg.nll_loss(d, {2, 1}, 'sum')
        + lg.binary_cross_entropy_with_logits(d, {{1, 0}, {0, 1}}) + lg.mse_loss(d, n, 'none'):sum()
      loss:backward()
      pcall(lg.cross_entropy, d, {1, 3})
      pcall(lg.linear, x, b)
      pcall(lg.batch_norm, x, nil, nil, nil, nil, false)
      pcall(lg.dropout, x, 2, true)
      pcall(lg.cross_entropy, d, lg.tensor({1.5, 1}))
    end
    work()
    collectgarbage('collect')
    collectgarbage('collect')
    local before = lg.memory().tensors
    for _ = 1, 3 do work() end
    collectgarbage('collect')
    collectgarbage('collect')
    assert.are.equal(before, lg.memory().tensors)
  end)
end)
local GOLDEN = {
  {name = 'cross_entropy_mean_4x5', op = 'cross_entropy',
   args = {reduction = 'mean', target_index_base = 0}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'logits', dtype = 'float32', requires_grad = true, value = {shape = {4, 5}, data = {
      -0.782653689, 0.798680782, -1.69679189, -0.760808587, 1.63253367, -0.359116822,
      -0.621155679, 1.27580798, -1.89410925, -2.86598754, 0.819722116, -1.83284867, 0.200744465,
      0.95669955, 0.0301782656, -0.954829156, -1.36949527, -1.12048709, -2.15833855, 0.334903657
     }}},
    {name = 'target', dtype = 'int64', requires_grad = false, value = {shape = {4}, data = {2, 3, 4, 4}}},
   },
   outputs = {
    {name = 'out', value = {shape = {}, data = {2.466902115}}, upstream = {shape = {}, data = {-0.611836255}}},
   },
   grads = {
    logits = {shape = {4, 5}, data = {
      -0.008278684019, -0.04024631684, 0.1496404543, -0.00846152251, -0.09265393094,
      -0.02125750093, -0.0163572457, -0.1090312586, 0.1483789794, -0.001732974162,
      -0.04765349105, -0.003358132808, -0.02566115169, -0.05464913169, 0.1313219072,
      -0.0237519535, -0.01568960927, -0.0201258859, -0.007128888912, 0.06669633759
     }},
   }},
  {name = 'cross_entropy_sum_4x5', op = 'cross_entropy',
   args = {reduction = 'sum', target_index_base = 0}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'logits', dtype = 'float32', requires_grad = true, value = {shape = {4, 5}, data = {
      -1.73940349, -3.03877234, 1.30461299, 0.466218412, 1.26792407, 2.19024777, 0.275257319,
      -0.178944856, -1.29483378, 0.432804942, 3.01187706, 0.386270374, 1.76322508, -0.707469702,
      0.455894798, 2.25398803, -0.57939142, -0.695587516, 0.972849846, 0.248653114
     }}},
    {name = 'target', dtype = 'int64', requires_grad = false, value = {shape = {4}, data = {0, 1, 0, 3}}},
   },
   outputs = {
    {name = 'out', value = {shape = {}, data = {8.306778543}}, upstream = {shape = {}, data = {-0.0255221166}}},
   },
   grads = {
    logits = {shape = {4, 5}, data = {
      0.02502722599, -0.0001349585693, -0.01038744533, -0.004491574527, -0.01001324757,
      -0.01767415408, 0.02291794946, -0.001653527229, -0.0005417350675, -0.003048533085,
      0.008055007274, -0.001264545739, -0.005011161189, -0.0004235739695, -0.001355726377,
      -0.01675216081, -0.0009852575561, -0.0008771754149, 0.02086968932, -0.00225509554
     }},
   }},
  {name = 'cross_entropy_mean_4x5_offset50', op = 'cross_entropy',
   args = {reduction = 'mean', target_index_base = 0}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'logits', dtype = 'float32', requires_grad = true, value = {shape = {4, 5}, data = {
      50.0110092, 50.2857056, 51.4505997, 47.3563461, 49.608139, 50.3021584, 48.4490395,
      51.3158607, 50.653244, 51.1160316, 51.0475349, 50.7597733, 50.795311, 50.9357491,
      51.9379425, 48.5629845, 52.4828453, 48.6578827, 50.7977905, 46.6147118
     }}},
    {name = 'target', dtype = 'int64', requires_grad = false, value = {shape = {4}, data = {1, 3, 1, 3}}},
   },
   outputs = {
    {name = 'out', value = {shape = {}, data = {1.833192982}}, upstream = {shape = {}, data = {-0.47336328}}},
   },
   grads = {
    logits = {shape = {4, 5}, data = {
      -0.01626941835, 0.0969281347, -0.06864014894, -0.001144106617, -0.01087446078,
      -0.01559214149, -0.002444029569, -0.04296859195, 0.09619048333, -0.03518572032,
      -0.02020375022, 0.1031892138, -0.0156997419, -0.01806691478, -0.04921880686,
      -0.001909333648, -0.09621787448, -0.002099401974, 0.1004987284, -0.000272118295
     }},
   }},
  {name = 'bce_with_logits_mean_8', op = 'binary_cross_entropy_with_logits',
   args = {reduction = 'mean'}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'logits', dtype = 'float32', requires_grad = true, value = {shape = {8}, data = {
      -0.217748106, 30, -3.3077755, -1.89698195, 0.210585997, -2.03230858, -100, 0.852605045
     }}},
    {name = 'target', dtype = 'float32', requires_grad = false, value = {shape = {8}, data = {0, 0, 1, 0, 1, 0, 1, 0}}},
   },
   outputs = {
    {name = 'out', value = {shape = {}, data = {16.99973707}}, upstream = {shape = {}, data = {-0.608986437}}},
   },
   grads = {
    logits = {shape = {8}, data = {
      -0.03393402215, -0.07612330467, 0.07343574055, -0.009930318513, 0.03406877179,
      -0.008819055623, 0.07612330467, -0.0533710632
     }},
   }},
  {name = 'bce_with_logits_mean_4x2', op = 'binary_cross_entropy_with_logits',
   args = {reduction = 'mean'}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'logits', dtype = 'float32', requires_grad = true, value = {shape = {4, 2}, data = {
      -1.34989941, -1.07536161, -0.718271315, 2.72560072, 2.9561584, -1.27567887, -2.55361867,
      -0.169192791
     }}},
    {name = 'target', dtype = 'float32', requires_grad = false, value = {shape = {4, 2}, data = {
      0.131095946, 0.325713396, 0.933415234, 0.906852424, 0.442342103, 0.0703577176,
      0.663288176, 0.827564418
     }}},
   },
   outputs = {
    {name = 'out', value = {shape = {}, data = {0.8740433023}}, upstream = {shape = {}, data = {-1.15092075}}},
   },
   grads = {
    logits = {shape = {4, 2}, data = {
      -0.01075979573, 0.01026169628, 0.08713066668, -0.004555929088, -0.07311391563,
      -0.02128181297, 0.08503929275, 0.05319584488
     }},
   }},
  {name = 'mse_loss_mean_3x4', op = 'mse_loss',
   args = {reduction = 'mean'}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'input', dtype = 'float32', requires_grad = true, value = {shape = {3, 4}, data = {
      0.614429653, -0.0684485435, -0.0563709661, 1.18110013, -0.82431221, 0.0701165572,
      -1.5757513, 0.88929677, 0.00488744397, -1.45836008, 1.22034526, 0.701833725
     }}},
    {name = 'target', dtype = 'float32', requires_grad = true, value = {shape = {3, 4}, data = {
      0.35786438, 0.531141341, 0.265288025, 1.16935253, 0.187818855, -2.28444028, -0.366458356,
      -0.0316670612, 0.0740496069, 0.624205112, -0.280783355, -1.1177597
     }}},
   },
   outputs = {
    {name = 'out', value = {shape = {}, data = {1.609501318}}, upstream = {shape = {}, data = {-2.15957999}}},
   },
   grads = {
    input = {shape = {3, 4}, data = {
      -0.09234553831, 0.2158103863, 0.1157747203, -0.004228313166, 0.364296333, -0.847475639,
      0.4352608093, -0.3314825106, 0.02489353722, 0.7495776856, -0.5403012201, -0.6549262608
     }},
    target = {shape = {3, 4}, data = {
      0.09234553831, -0.2158103863, -0.1157747203, 0.004228313166, -0.364296333, 0.847475639,
      -0.4352608093, 0.3314825106, -0.02489353722, -0.7495776856, 0.5403012201, 0.6549262608
     }},
   }},
  {name = 'linear_3x4_to_5', op = 'linear',
   args = {}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'x', dtype = 'float32', requires_grad = true, value = {shape = {3, 4}, data = {
      -0.429691255, 0.091613166, 0.679378033, 1.22719741, 0.297494352, -1.66341281,
      -0.922539234, 0.728387773, 0.787476957, 2.15254951, 0.109123595, -0.270209849
     }}},
    {name = 'weight', dtype = 'float32', requires_grad = true, value = {shape = {5, 4}, data = {
      0.245981455, -0.293698937, -0.0880131796, -0.560500562, -0.0652030185, -0.556722403,
      0.154382393, -0.278516144, 0.759309232, 0.275134474, 0.302800596, -1.02879608,
      -0.118535221, 0.618832886, -0.628097892, 0.0110669695, 0.187492132, -0.309913665,
      -0.33264485, 0.917056382
     }}},
    {name = 'bias', dtype = 'float32', requires_grad = true, value = {shape = {5}, data = {-0.351505518, 0.839621723, -1.33953571, -1.60723066, -2.19581771}}},
   },
   outputs = {
    {name = 'out', value = {shape = {3, 5}, data = {
      -1.231747346, 0.5797255043, -2.697418116, -1.912738429, -1.405355999, -0.116850996,
      1.400991801, -2.600015627, -2.084362778, -0.6496749176, -0.6481538337, -0.3179921173,
      0.1616769083, -0.4400366992, -2.99937355
     }}, upstream = {shape = {3, 5}, data = {
      -1.20060754, 0.679179132, 0.750594139, 1.01178575, 0.0796911865, -0.874048889,
      -0.732513368, 0.101943895, -0.168494597, -0.931588948, 1.08964372, -0.961031437,
      0.652890801, -0.337093353, 0.391627103
     }}},
   },
   grads = {
    x = {shape = {3, 4}, data = {
      0.1253305649, 0.7824461484, -0.2242064177, -0.2041507449, -0.2445238477, 0.8770042588,
      0.4104286945, -0.2671421018, 0.939824746, 0.06465825317, 0.0348812683, -0.659361109
     }},
    weight = {shape = {5, 4}, data = {
      1.11393527, 3.689424703, 0.1095838448, -2.404461447, -1.266546035, -0.7879738739,
      1.032320499, 0.5596132492, 0.2219404568, 1.304569296, 0.487135718, 0.8189643445,
      -0.7503349259, -0.3526411642, 0.8060430473, 1.210017385, -0.002987736829, 2.399914478,
      0.9563035534, -0.6865826818
     }},
    bias = {shape = {5}, data = {-0.9850127101, -1.014365673, 1.505428836, 0.5061977953, -0.4602706581}},
   }},
  {name = 'linear_nobias_3x4_to_2', op = 'linear',
   args = {}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'x', dtype = 'float32', requires_grad = true, value = {shape = {3, 4}, data = {
      -1.74076927, 1.14576197, 0.295768559, -2.18527675, 1.2226398, -0.506473422, 0.583245695,
      2.11720252, 1.41320515, 1.77332675, 1.34852564, -0.111675434
     }}},
    {name = 'weight', dtype = 'float32', requires_grad = true, value = {shape = {2, 4}, data = {
      0.223013476, -0.191456348, 0.13833493, -0.166094407, 0.590781569, -0.899318218,
      -0.916633844, 0.443326175
     }}},
   },
   outputs = {
    {name = 'out', value = {shape = {3, 2}, data = {
      -0.2037010366, -3.298720863, 0.09866045678, 1.581782387, 0.1807459931, -2.04550239
     }}, upstream = {shape = {3, 2}, data = {
      -1.4175868, -0.679980814, 0.7139709, 1.7014643, 0.768353105, 2.12500143
     }}},
   },
   grads = {
    x = {shape = {3, 4}, data = {
      -0.7178610927, 0.8829251264, 0.4271916569, -0.06600005358, 1.164418879, -1.666852099,
      -1.460852644, 0.6357170848, 1.426764777, -2.058158579, -1.841558158, 0.8144496029
     }},
    weight = {shape = {2, 4}, data = {
      4.42646134, -0.6232832113, 1.033286712, 4.5236343, 6.267030627, 2.127479291, 3.6568737,
      4.8509803
     }},
   }},
  {name = 'linear_2x3x4_to_5', op = 'linear',
   args = {}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'x', dtype = 'float32', requires_grad = true, value = {shape = {2, 3, 4}, data = {
      0.202794537, 0.266680241, -0.103780948, -2.15308046, 1.72479594, 0.664741635,
      -0.049085658, 0.464734465, -0.0194829497, 0.56591332, 0.380239993, -1.25057638,
      -0.108846784, 0.804827631, -1.19679749, 0.124780178, -0.0745701194, 0.225124732,
      -1.27574503, -0.281978756, -1.0212754, 0.781551898, -1.16192591, -0.247407347
     }}},
    {name = 'weight', dtype = 'float32', requires_grad = true, value = {shape = {5, 4}, data = {
      -0.759341836, 0.0982388109, -0.536688387, 0.502828777, 0.0844104066, 1.36811054,
      0.520146608, 0.381820261, 0.110838532, 0.0292696096, 0.000511512451, 0.813988209,
      0.11230088, 0.112866282, -0.226294726, -0.557895243, -0.0663433522, -0.157796338,
      0.569209456, -0.0190508291
     }}},
    {name = 'bias', dtype = 'float32', requires_grad = true, value = {shape = {5}, data = {-0.700809062, 0.94365412, -1.04013431, -0.415334404, -0.950445592}}},
   },
   outputs = {
    {name = 'out', value = {shape = {2, 3, 5}, data = {
      -1.855533874, 0.4495490832, -2.76248643, 0.8622172387, -1.024035956, -1.685189782,
      2.150598179, -0.4512404654, -0.394776706, -1.20656173, -1.46331637, 1.436526676,
      -2.043489638, 0.2579944834, -0.798191361, 0.1659585437, 1.460692926, -0.9276843211,
      -0.135505398, -1.7538288, -0.07917835215, 0.4741154884, -1.271990182, 0.04770927788,
      -1.701816427, 0.6506554159, 1.227860275, -1.332436261, -0.0408485848, -1.662682688
     }}, upstream = {shape = {2, 3, 5}, data = {
      -0.382547766, 0.777835608, 0.967826545, -1.60642314, -0.882226825, 1.42233586,
      0.341630548, 0.869005442, 0.230574518, 0.429249227, 1.79638219, -0.152699456, 0.390697181,
      -0.82901293, -0.311487436, -0.382644385, 0.0856086612, 0.336599529, -0.821185946,
      0.210679829, -0.0497539975, -0.714259386, -0.286403507, -1.764467, 0.576657116,
      0.87346226, 0.147737995, -0.615691185, 0.805573821, -0.00721542118
     }}},
   },
   grads = {
    x = {shape = {2, 3, 4}, data = {
      0.3415415692, 1.012813113, 0.4717457851, 1.805459746, -0.9574667756, 0.5908425194,
      -0.3930537409, 1.41617907, -1.406087031, -0.06541576092, -1.033024058, 1.631428276,
      0.2288952389, -0.03654499169, 0.5558130275, 0.5683926687, -0.2906637414, -1.280599697,
      0.3825645571, 0.4425364255, -0.6280827747, 0.3619694501, -0.5786507616, -0.4548423884
     }},
    weight = {shape = {5, 4}, data = {
      1.49397595, 2.223557002, 0.1594640516, -1.011666356, 0.6430218298, 0.3716824539,
      0.4815399131, -1.149476056, 2.301024688, 0.7820985278, 0.6833849558, -1.893461137,
      -0.5136809901, -1.172818838, 2.13796054, 4.79842779, 0.508960957, 0.1675339823,
      -1.027376384, 2.353999838
     }},
    bias = {shape = {5}, data = {3.277234163, 0.4858539701, 1.662034005, -3.984940678, 0.01565649034}},
   }},
  {name = 'batch_norm_train_4x3', op = 'batch_norm',
   args = {training = true, momentum = 0.1, eps = 1e-05}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'x', dtype = 'float32', requires_grad = true, value = {shape = {4, 3}, data = {
      2.30584955, -1.71890235, -1.66259563, 1.34533751, 0.145844296, 3.34386301, 4.61704206,
      0.867177904, 0.339787006, -1.9284817, -1.08828676, -2.22074008
     }}},
    {name = 'weight', dtype = 'float32', requires_grad = true, value = {shape = {3}, data = {0.572606862, 0.819180071, 0.537779272}}},
    {name = 'bias', dtype = 'float32', requires_grad = true, value = {shape = {3}, data = {0.235384792, 0.831924379, 0.0662523434}}},
    {name = 'running_mean', dtype = 'float32', requires_grad = false, value = {shape = {3}, data = {0, 0, 0}}},
    {name = 'running_var', dtype = 'float32', requires_grad = false, value = {shape = {3}, data = {1, 1, 1}}},
   },
   outputs = {
    {name = 'out', value = {shape = {4, 3}, data = {
      0.4109451204, -0.1950162917, -0.3318547391, 0.1770363397, 1.312417217, 0.9040468675,
      0.973778483, 1.895532598, 0.1624563288, -0.6202207748, 0.3147639923, -0.4696390838
     }}, upstream = {shape = {4, 3}, data = {
      -0.560408413, -0.57586509, 0.0746510774, -0.946156621, -1.01844096, -0.0442086458,
      -1.47759831, 1.57836378, -1.88880694, -0.663230896, -0.229700983, -1.50053847
     }}},
    {name = 'running_mean', value = {shape = {3}, data = {0.1584936857, -0.04485417269, -0.00499214232}}, upstream = nil},
    {name = 'running_var', value = {shape = {3}, data = {1.637163163, 1.036916757, 1.532760573}}, upstream = nil},
   },
   grads = {
    x = {shape = {4, 3}, data = {
      0.1040601212, 0.1716151433, 0.2729298904, -0.01449535149, -1.048529366, 0.09704109532,
      -0.06006713937, 0.7171003201, -0.2703850763, -0.02949763035, 0.1598139028, -0.0995859094
     }},
    weight = {shape = {3}, data = {-0.9897959163, 2.318877979, 1.033245592}},
    bias = {shape = {3}, data = {-3.64739424, -0.2456432581, -3.358902976}},
   }},
  {name = 'batch_norm_train_2x3x4x4', op = 'batch_norm',
   args = {training = true, momentum = 0.1, eps = 1e-05}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'x', dtype = 'float32', requires_grad = true, value = {shape = {2, 3, 4, 4}, data = {
      2.72844815, 0.805527329, 2.91419744, 3.70766687, -2.14871192, -2.3099978, -1.66152561,
      -0.327654183, -2.1886034, 1.56692433, -1.05699801, -1.70044434, 0.952993035, 0.349358916,
      0.497997552, 1.7161454, -2.53097129, 0.28866744, 0.213904709, 2.18331075, 1.04867315,
      0.0116638942, 0.777383804, 3.63595796, 1.42260492, 0.47754845, 0.656262517, 3.2472384,
      -1.96369231, -2.81356072, 3.26046824, -2.60899663, -1.91251945, 1.32312131, 4.20622253,
      1.93929052, 3.43853426, 0.95859313, 0.000324787485, 0.751521766, 2.43341327, 3.6892736,
      0.227722436, 0.583077669, 1.55426347, -0.414597303, 3.50943661, -0.47669059, 2.99313664,
      3.16198277, 2.02514148, -0.556421518, -0.376908243, -0.704110444, -3.28355026, 2.16595221,
      -0.0843764842, 1.57967639, -0.963098824, -4.01927948, 3.23784089, 1.99394298, 2.80131555,
      -1.18168831, 4.45920229, 2.02662325, -0.552140594, 1.49561799, 2.40269899, 2.70607972,
      -1.1688472, 1.34250522, -0.110445917, -2.9943006, 1.91437471, 1.51088488, -2.50659037,
      0.257998586, 0.462979704, -0.29466778, 2.59436536, -0.296638429, 3.27582979, -3.34016752,
      2.22833991, 0.922808826, 1.93437648, 1.46925056, 3.16020679, -3.18983912, -1.59067774,
      3.58607793, -1.50089824, 0.823551178, 3.07581973, 0.564223766
     }}},
    {name = 'weight', dtype = 'float32', requires_grad = true, value = {shape = {3}, data = {1.36992145, 1.33836257, 0.79470551}}},
    {name = 'bias', dtype = 'float32', requires_grad = true, value = {shape = {3}, data = {0.222058386, -0.206733927, -0.547799408}}},
    {name = 'running_mean', dtype = 'float32', requires_grad = false, value = {shape = {3}, data = {0, 0, 0}}},
    {name = 'running_var', dtype = 'float32', requires_grad = false, value = {shape = {3}, data = {1, 1, 1}}},
   },
   outputs = {
    {name = 'out', value = {shape = {2, 3, 4, 4}, data = {
      1.770435494, 0.494554389, 1.893682385, 2.420158899, -1.465618902, -1.572634022,
      -1.142364921, -0.2573251803, -1.49208738, 0.9997504633, -0.7412535889, -1.168187969,
      0.5923996593, 0.1918811577, 0.2905046812, 1.098760434, -2.327277941, -0.3994763564,
      -0.4505920228, 0.8959010734, 0.1201434808, -0.5888651139, -0.06533845025, 1.889083485,
      0.3758025632, -0.2703374329, -0.148149701, 1.623313912, -1.939426367, -2.5204858,
      1.632359226, -2.380624271, -1.765831419, -0.4620172585, 0.699739709, -0.2137294525,
      0.3903967023, -0.6089053207, -0.9950433148, -0.6923455405, -0.01462075129, 0.491433103,
      -0.9034125388, -0.7602207513, -0.3688776156, -1.162237801, 0.4189670818, -1.187258536,
      1.946059493, 2.058090933, 1.303783052, -0.4091150602, -0.2900058417, -0.5071084392,
      -2.218597798, 1.397212665, -0.09590749975, 1.008211606, -0.6789503461, -2.706762987,
      2.108423706, 1.283082471, 1.818783887, -0.8239870996, 2.451939894, 0.7887730204,
      -0.9743411587, 0.425721975, 1.045897952, 1.253320925, -1.395986658, 0.3210379827,
      -0.6723522232, -2.644058591, 0.712028113, 0.4361600303, -2.310608579, -0.420444811,
      -0.2802981599, -0.7983056644, 0.05023552632, -1.11470581, 0.3248342976, -2.341107817,
      -0.09725586616, -0.6233247467, -0.2157095863, -0.4031339028, 0.2782435566, -2.280532399,
      -1.636144034, 0.4498500034, -1.599967034, -0.663321006, 0.2442394575, -0.7678180055
     }}, upstream = {shape = {2, 3, 4, 4}, data = {
      0.0157883335, -1.28404653, -1.28536057, -2.0968101, -0.368290514, -0.302019596,
      -1.5829947, 0.059320908, -1.40860808, -0.551591337, 2.52013159, 0.458275676, -1.24396193,
      -1.37636769, -0.0663767383, -0.932342827, 1.39121187, -0.1280545, -0.793395996,
      -0.588762224, -2.30103827, 0.939442098, -0.400956839, 0.824703276, -0.424909234,
      0.465231955, -0.48922962, 0.851355314, -0.884687662, 0.875038922, 1.08359265, 1.0271703,
      0.619459867, 1.65183818, -0.333426774, -1.54062104, 0.128837779, -0.210945025,
      0.309530139, -0.91914314, 1.75691009, -1.47786486, 1.46121645, -0.185597956, 0.397757411,
      -0.658732772, 0.188076392, -0.456423044, -1.5727824, -1.57048678, 1.0755626, -1.78093159,
      2.1408844, -0.229381964, 1.18012393, -1.56890047, -0.100314021, -0.234473169,
      -0.0581288114, 0.296878308, 0.90980792, -0.908084393, -1.23547578, -0.476729602,
      0.00138981338, -1.58671975, 0.510235846, 0.874944329, 2.35531831, 1.50364923, 0.497586131,
      -0.0653082877, -0.795454085, -0.57737726, -1.28708577, -0.32731843, 0.788980365,
      0.876496911, -0.0496049002, -1.8323437, -0.32635808, 1.45631695, 0.220076323, -2.09212232,
      -1.26254678, 0.974052012, -0.803465664, -1.39437556, -1.650334, -1.4862982, -0.198609561,
      0.864202678, -0.215981707, 0.0677156448, 1.64147878, 0.428246737
     }}},
    {name = 'running_mean', value = {shape = {3}, data = {0.03948399723, 0.05705761298, 0.111023804}}, upstream = nil},
    {name = 'running_var', value = {shape = {3}, data = {1.340028684, 1.295545991, 1.301503029}}, upstream = nil},
   },
   grads = {
    x = {shape = {2, 3, 4, 4}, data = {
      0.5787191952, -0.5199922104, -0.2617870944, -0.7027057877, -0.2753430192, -0.2511874936,
      -1.021456815, 0.2321224583, -0.970507419, 0.05954795106, 1.77529077, 0.3281689794,
      -0.4752775542, -0.6372945131, 0.2501623966, -0.1747515352, 0.912190633, -0.1364323467,
      -0.5910674645, -0.4580679589, -1.624779069, 0.5943924666, -0.3247317499, 0.5032291009,
      -0.343371885, 0.2685379822, -0.3846593522, 0.5228150602, -0.6458439474, 0.5602719854,
      0.6815505134, 0.6635672826, 0.3847131541, 0.6971727923, -0.1950574363, -0.6089587562,
      0.01578008588, -0.04177803435, 0.1986142892, -0.3205229157, 0.7039823259, -0.639670774,
      0.6554140357, -0.0195477508, 0.1844394139, -0.1782734516, 0.03738162592, -0.09476495216,
      -0.4427962454, -0.4205281792, 1.195481982, -1.017014203, 1.607213394, -0.005687820874,
      0.6126192389, -0.5418506886, 0.1560925279, 0.271526424, 0.07612068282, -0.06381856816,
      1.23449734, -0.1245247984, -0.2425569119, -0.2284824829, -0.06256292616, -1.139826945,
      0.3029200404, 0.5450885539, 1.554045406, 0.9706904438, 0.2964350807, -0.09722982795,
      -0.5913366059, -0.4321183452, -0.9345718186, -0.2769582778, 0.5003562989, 0.5504922511,
      -0.08340752446, -1.299617055, -0.140629272, 0.6702194324, 0.05775159646, -0.66224447,
      -0.5061572866, 0.4368662842, -0.3117618495, -0.5349871768, -0.69223763, -0.4229358071,
      0.04476985322, 0.3073768296, 0.03489671376, 0.07483075161, 0.6369116695, 0.2284067095
     }},
    weight = {shape = {3}, data = {-12.23399369, 0.3214457156, 5.011855755}},
    bias = {shape = {3}, data = {-13.57768594, 2.334100802, -3.047131062}},
   }},
  {name = 'batch_norm_eval_4x3', op = 'batch_norm',
   args = {training = false, momentum = 0.1, eps = 1e-05}, tol = {rtol = 0.0001, atol = 1e-05},
   inputs = {
    {name = 'x', dtype = 'float32', requires_grad = true, value = {shape = {4, 3}, data = {
      -0.245077431, -1.85084164, 0.705361068, 0.445784599, -0.0712956116, 0.792221427,
      -1.11761713, -1.26211417, -1.70780075, -0.171433046, -0.39899987, -1.12862742
     }}},
    {name = 'weight', dtype = 'float32', requires_grad = true, value = {shape = {3}, data = {1.47668588, 0.529146194, 0.828218281}}},
    {name = 'bias', dtype = 'float32', requires_grad = true, value = {shape = {3}, data = {0.543695629, -0.456449121, -0.338066429}}},
    {name = 'running_mean', dtype = 'float32', requires_grad = false, value = {shape = {3}, data = {0.15019016, 0.0786056966, -0.63522619}}},
    {name = 'running_var', dtype = 'float32', requires_grad = false, value = {shape = {3}, data = {1.35597086, 1.3067528, 1.94516695}}},
   },
   outputs = {
    {name = 'out', value = {shape = {4, 3}, data = {
      0.04244774749, -1.349569965, 0.4580202246, 0.9185457039, -0.5258368574, 0.5096008821,
      -1.064039821, -1.07705422, -0.9749979554, 0.1358378778, -0.6775277058, -0.6310649869
     }}, upstream = {shape = {4, 3}, data = {
      0.187257513, -0.153664052, 0.977045774, -0.771182656, 0.9913674, 0.219031543, 0.61280638,
      -0.573196292, -1.25335944, 0.297717482, 1.39552462, -1.50509763
     }}},
   },
   grads = {
    x = {shape = {4, 3}, data = {
      0.2374655398, -0.07112947086, 0.5802032625, -0.9779543817, 0.458893524, 0.1300684358,
      0.7771137996, -0.2653265242, -0.744287784, 0.3775423546, 0.6459736435, -0.8937785482
     }},
    weight = {shape = {3}, data = {-1.008743464, 0.2185780856, 2.65965459}},
    bias = {shape = {3}, data = {0.3265987188, 1.660031676, -1.562379748}},
   }},
}

describe('golden values', function()
  local function build(value, dtype, requires_grad)
    return T(value.data, value.shape, dtype == 'int64' and 'int64' or 'float32', requires_grad)
  end

  local run = {
    linear = function(t) return {out = lg.linear(t.x, t.weight, t.bias)} end,
    batch_norm = function(t, a)
      local out = lg.batch_norm(t.x, t.running_mean, t.running_var, t.weight, t.bias, a.training, a.momentum, a.eps)
      return {out = out, running_mean = t.running_mean, running_var = t.running_var}
    end,
    cross_entropy = function(t, a)
      return {out = lg.cross_entropy(t.logits, t.target + 1, a.reduction)}
    end,
    binary_cross_entropy_with_logits = function(t, a)
      return {out = lg.binary_cross_entropy_with_logits(t.logits, t.target, a.reduction)}
    end,
    mse_loss = function(t, a) return {out = lg.mse_loss(t.input, t.target, a.reduction)} end,
  }

  for _, case in ipairs(GOLDEN) do
    it(case.name, function()
      local t = {}
      for _, i in ipairs(case.inputs) do t[i.name] = build(i.value, i.dtype, i.requires_grad) end
      local got = run[case.op](t, case.args)
      local rtol, atol = case.tol.rtol, case.tol.atol
      for _, o in ipairs(case.outputs) do
        assert.are.same(o.value.shape, got[o.name]:shape())
        assert_close(flat(got[o.name]), o.value.data, rtol, atol, case.name .. ' ' .. o.name)
      end
      for _, o in ipairs(case.outputs) do
        if o.upstream then got[o.name]:backward(build(o.upstream, 'float32')) end
      end
      for name, g in pairs(case.grads) do
        assert.is_not_nil(t[name].grad, case.name .. ': no gradient for ' .. name)
        assert_close(flat(t[name].grad), g.data, rtol, atol, case.name .. ' grad ' .. name)
      end
    end)
  end
end)
