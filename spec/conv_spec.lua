-- conv2d, max_pool2d, avg_pool2d: hand-computed values, a naive reference,
-- central finite differences (float64), golden PyTorch values and shape errors.
local lg = require 'lunagrad'

local F64 = {dtype = 'float64'}

-- Row-major flat values of a tensor.
local function flat(t) return t:contiguous():view(t:numel()):totable() end

local function product(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

-- Deterministic values in [-1, 1), independent of the global RNG.
local function lcg(seed)
  local state = seed
  return function()
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return 2 * state / 0x80000000 - 1
  end
end

local function values(n, seed)
  local gen, v = lcg(seed), {}
  for i = 1, n do v[i] = gen() end
  return v
end

local function tensor(vals, shape, opts) return lg.tensor(vals, opts or F64):view(shape) end

local function assert_close(expected, actual, tol, what)
  tol = tol or 1e-9
  assert.are.equal(#expected, #actual, (what or '') .. ': sizes differ')
  for i = 1, #expected do
    local e, a = expected[i], actual[i]
    if math.abs(e - a) > tol * (1 + math.abs(e)) then
      error(string.format('%s: element %d expected %.10g got %.10g', what or 'values', i, e, a), 2)
    end
  end
end

-- ---- a naive conv2d in Lua (flat row-major tables), the reference -------------
local function naive_conv(x, xs, w, ws, b, stride, pad)
  local n, cin, h, wd = xs[1], xs[2], xs[3], xs[4]
  local cout, kh, kw = ws[1], ws[3], ws[4]
  local oh = (h + 2 * pad[1] - kh) // stride[1] + 1
  local ow = (wd + 2 * pad[2] - kw) // stride[2] + 1
  local out = {}
  for i = 0, n - 1 do
    for co = 0, cout - 1 do
      for oy = 0, oh - 1 do
        for ox = 0, ow - 1 do
          local acc = b and b[co + 1] or 0
          for c = 0, cin - 1 do
            for ky = 0, kh - 1 do
              for kx = 0, kw - 1 do
                local y, xx = oy * stride[1] - pad[1] + ky, ox * stride[2] - pad[2] + kx
                if y >= 0 and y < h and xx >= 0 and xx < wd then
                  acc = acc + x[((i * cin + c) * h + y) * wd + xx + 1] * w[((co * cin + c) * kh + ky) * kw + kx + 1]
                end
              end
            end
          end
          out[#out + 1] = acc
        end
      end
    end
  end
  return out, {n, cout, oh, ow}
end

-- ---- central finite differences of L = sum(f(inputs) * u) ------------------------
-- inputs: list of {vals=flat table, shape=}; returns the numeric gradient of each.
local function numeric_grads(f, inputs, u, eps)
  eps = eps or 1e-6
  local function loss()
    local ts = {}
    for k, inp in ipairs(inputs) do ts[k] = tensor(inp.vals, inp.shape) end
    return (f(table.unpack(ts)) * u):sum():item()
  end
  local grads = {}
  for k, inp in ipairs(inputs) do
    grads[k] = {}
    for i = 1, #inp.vals do
      local keep = inp.vals[i]
      inp.vals[i] = keep + eps
      local up = loss()
      inp.vals[i] = keep - eps
      local down = loss()
      inp.vals[i] = keep
      grads[k][i] = (up - down) / (2 * eps)
    end
  end
  return grads
end

-- Autograd vs finite differences for every input of f.
local function gradcheck(f, inputs, seed)
  local leaves = {}
  for k, inp in ipairs(inputs) do
    leaves[k] = lg.tensor(inp.vals, {dtype = 'float64'}):view(inp.shape):detach()
    leaves[k].requires_grad = true
  end
  local out = f(table.unpack(leaves))
  local u = tensor(values(out:numel(), seed or 7), out:shape())
  out:backward(u)
  local expected = numeric_grads(f, inputs, u)
  for k = 1, #inputs do
    assert_close(expected[k], flat(leaves[k].grad), 1e-6, 'grad of input ' .. k)
  end
end

local function input(shape, seed) return {vals = values(product(shape), seed), shape = shape} end

describe('conv2d', function()
  it('computes a hand-worked 3x3 input, 2x2 kernel, stride 2, padding 1 example', function()
    -- padded input          windows (stride 2)
    --  0 0 0 0 0            [0 0; 0 1] [0 0; 2 3]
    --  0 1 2 3 0            [0 4; 0 7] [5 6; 8 9]
    --  0 4 5 6 0            weight [1 2; 3 4]
    --  0 7 8 9 0
    --  0 0 0 0 0
    local x = lg.tensor({{{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}}}, {requires_grad = true})
    local w = lg.tensor({{{{1, 2}, {3, 4}}}}, {requires_grad = true})
    local y = lg.conv2d(x, w, nil, 2, 1)
    assert.are.same({1, 1, 2, 2}, y:shape())
    assert.are.same({{{{4, 18}, {36, 77}}}}, y:totable())
    assert.are.equal('conv2d', y.grad_fn)
    y:sum():backward()
    -- dL/dw = sum of the four windows; dL/dx = which kernel tap saw each pixel
    assert.are.same({{{{5, 10}, {10, 20}}}}, w.grad:totable())
    assert.are.same({{{{4, 3, 4}, {2, 1, 2}, {4, 3, 4}}}}, x.grad:totable())
  end)

  it('handles a non-square 5x7 input, 2x3 kernel, stride {1,2}, padding {1,0}', function()
    -- x = 0..34 row-major, all-ones kernel: each output is a 2x3 window sum
    local x = lg.arange(0, 35):double():view(1, 1, 5, 7)
    local w = lg.ones(1, 1, 2, 3, F64)
    local y = lg.conv2d(x, w, nil, {1, 2}, {1, 0})
    assert.are.same({1, 1, 6, 3}, y:shape())
    -- row 1: only input row 0 is inside (padding row above): 0+1+2, 2+3+4, 4+5+6
    -- row 2: rows 0 and 1: 3 + (7+8+9) = 27, 9 + 27 = 36, 15 + 39 = 54 ...
    assert.are.same({
      {3, 9, 15}, {27, 39, 51}, {69, 81, 93}, {111, 123, 135}, {153, 165, 177}, {87, 93, 99},
    }, y:view(6, 3):totable())
  end)

  it('matches a naive reference with batch, channels and bias (float32 and float64)', function()
    for _, dtype in ipairs {'float32', 'float64'} do
      for _, cfg in ipairs {
        {xs = {2, 3, 6, 5}, ws = {4, 3, 3, 3}, stride = {1, 1}, pad = {0, 0}},
        {xs = {3, 2, 7, 6}, ws = {5, 2, 3, 2}, stride = {2, 1}, pad = {1, 1}},
        {xs = {1, 4, 4, 4}, ws = {2, 4, 1, 1}, stride = {1, 1}, pad = {0, 0}},
        {xs = {2, 1, 5, 5}, ws = {3, 1, 5, 5}, stride = {3, 3}, pad = {2, 2}},
      } do
        local xv, wv, bv = values(product(cfg.xs), 1), values(product(cfg.ws), 2), values(cfg.ws[1], 3)
        local expect, oshape = naive_conv(xv, cfg.xs, wv, cfg.ws, bv, cfg.stride, cfg.pad)
        local opts = {dtype = dtype}
        local y = lg.conv2d(tensor(xv, cfg.xs, opts), tensor(wv, cfg.ws, opts), lg.tensor(bv, opts),
                            cfg.stride, cfg.pad)
        assert.are.same(oshape, y:shape())
        assert.are.equal(dtype, y.dtype)
        assert_close(expect, flat(y), dtype == 'float32' and 1e-5 or 1e-12, dtype)
      end
    end
  end)

  it('uses several images per gemm chunk and gets every image right', function()
    -- 40 images of 3x30x30 with a 3x3 kernel exceed one chunk of scratch
    local xs, ws = {40, 3, 30, 30}, {2, 3, 3, 3}
    local xv, wv = values(product(xs), 11), values(product(ws), 12)
    local expect = naive_conv(xv, xs, wv, ws, {0.5, -0.25}, {1, 1}, {1, 1})
    local y = lg.conv2d(tensor(xv, xs), tensor(wv, ws), lg.tensor({0.5, -0.25}, F64), 1, 1)
    assert_close(expect, flat(y), 1e-12, 'batched')
  end)

  it('accepts an unbatched [C,H,W] input', function()
    local x = lg.arange(0, 9):double():view(1, 3, 3)
    local y = lg.conv2d(x, lg.ones(2, 1, 2, 2, F64), lg.tensor({0, 1}, F64))
    assert.are.same({2, 2, 2}, y:shape())
    assert.are.same({{{8, 12}, {20, 24}}, {{9, 13}, {21, 25}}}, y:totable())
  end)

  it('takes non-contiguous inputs', function()
    local xv = values(2 * 3 * 4 * 5, 21)
    local x = tensor(xv, {2, 3, 5, 4}):transpose(3, 4) -- [2,3,4,5] view
    local w = tensor(values(2 * 3 * 2 * 2, 22), {2, 3, 2, 2})
    local expect = naive_conv(flat(x), {2, 3, 4, 5}, flat(w), {2, 3, 2, 2}, nil, {1, 1}, {0, 0})
    assert_close(expect, flat(lg.conv2d(x, w)), 1e-12, 'transposed input')
  end)

  it('has gradients for x, weight and bias matching finite differences', function()
    local conv = function(stride, pad)
      return function(x, w, b) return lg.conv2d(x, w, b, stride, pad) end
    end
    gradcheck(conv(1, 0), {input({2, 2, 4, 4}, 31), input({3, 2, 3, 3}, 32), input({3}, 33)})
    gradcheck(conv({2, 1}, {1, 1}), {input({2, 3, 5, 4}, 34), input({2, 3, 2, 3}, 35), input({2}, 36)})
    gradcheck(conv({1, 2}, {1, 0}), {input({1, 2, 5, 7}, 37), input({2, 2, 2, 3}, 38)})
    gradcheck(conv(3, 2), {input({2, 1, 5, 5}, 39), input({2, 1, 3, 3}, 40), input({2}, 41)})
  end)

  it('sums weight gradients across gemm chunks', function()
    local xs, ws = {40, 2, 30, 30}, {2, 2, 3, 3}
    local x = tensor(values(product(xs), 51), xs)
    local w = tensor(values(product(ws), 52), ws):detach()
    w.requires_grad = true
    lg.conv2d(x, w, nil, 1, 1):sum():backward()
    -- d sum / d w[co,c,ky,kx] = sum of x over the pixels that tap sees
    local xv, g = flat(x), flat(w.grad)
    for _, tap in ipairs {{0, 0, 0}, {1, 1, 1}, {1, 2, 0}} do
      local c, ky, kx = tap[1], tap[2], tap[3]
      local acc = 0
      for i = 0, xs[1] - 1 do
        for oy = 0, 29 do
          for ox = 0, 29 do
            local y, xx = oy - 1 + ky, ox - 1 + kx
            if y >= 0 and y < 30 and xx >= 0 and xx < 30 then
              acc = acc + xv[((i * 2 + c) * 30 + y) * 30 + xx + 1]
            end
          end
        end
      end
      local idx = (c * 3 + ky) * 3 + kx + 1
      assert_close({acc, acc}, {g[idx], g[idx + 18]}, 1e-10, 'chunked weight grad')
    end
  end)

  it('only computes gradients for inputs that require them', function()
    local x = tensor(values(2 * 2 * 4 * 4, 61), {2, 2, 4, 4})
    local w = tensor(values(3 * 2 * 3 * 3, 62), {3, 2, 3, 3}):detach()
    w.requires_grad = true
    lg.conv2d(x, w, nil, 1, 1):sum():backward()
    assert.is_nil(x.grad)
    assert.are.same({3, 2, 3, 3}, w.grad:shape())
  end)

  it('raises clear errors for bad shapes and sizes', function()
    local function err(...)
      local ok, msg = pcall(lg.conv2d, ...)
      assert.is_false(ok)
      return msg
    end
    local x, w = lg.zeros(1, 3, 5, 5), lg.zeros(2, 3, 3, 3)
    assert.matches('lunagrad.conv2d: input has 3 channels but weight expects 4',
                   err(x, lg.zeros(2, 4, 3, 3)), 1, true)
    assert.matches('expected a 4%-D input', err(lg.zeros(3, 5), w))
    assert.matches('expected a 4%-D weight', err(x, lg.zeros(3, 3, 3)))
    assert.matches('kernel 7x7 is larger than the padded input 5x5', err(x, lg.zeros(2, 3, 7, 7)), 1, true)
    assert.matches('kernel 7x7 is larger than the padded input 7x5', err(x, lg.zeros(2, 3, 7, 7), nil, 1, {1, 0}), 1, true)
    assert.matches('stride must be positive, got [0,1]', err(x, w, nil, {0, 1}), 1, true)
    assert.matches('padding must be non-negative, got [-1,-1]', err(x, w, nil, 1, -1), 1, true)
    assert.matches('bias has shape [3] but weight has 2 output channels', err(x, w, lg.zeros(3)), 1, true)
    assert.matches('weight is float64 but input is float32', err(x, lg.zeros(2, 3, 3, 3, F64)), 1, true)
    assert.matches('must be float32 or float64, got int64', err(x:long(), w), 1, true)
    assert.matches('stride must be integers', err(x, w, nil, 1.5))
    assert.matches('padding must be a number or a table {h, w}, got string', err(x, w, nil, 1, 'same'), 1, true)
    assert.matches('Tensor expected', err(x, 'w'))
  end)
end)

-- ---- pooling ----------------------------------------------------------------------
describe('max_pool2d and avg_pool2d', function()
  local x55 = lg.arange(0, 25):double():view(1, 1, 5, 5) -- 0..24 row-major

  it('pool overlapping k3 s2 windows', function()
    -- windows cover rows/cols {0,1,2} and {2,3,4}
    assert.are.same({{{{12, 14}, {22, 24}}}}, lg.max_pool2d(x55, 3, 2):totable())
    assert.are.same({{{{6, 8}, {16, 18}}}}, lg.avg_pool2d(x55, 3, 2):totable())
  end)

  it('default the stride to the kernel size', function()
    -- k2: windows {0,1}, {2,3}; row/col 4 is dropped (floor mode)
    assert.are.same({{{{6, 8}, {16, 18}}}}, lg.max_pool2d(x55, 2):totable())
    assert.are.same({{{{3, 5}, {13, 15}}}}, lg.avg_pool2d(x55, 2):totable())
    assert.are.same({{{{1, 3}, {11, 13}}}}, lg.max_pool2d(x55, {1, 2}, {2, 2}):slice(3, 1, 2):totable())
  end)

  it('treat padding as -inf for max and as zeros counted in the mean for avg', function()
    local x = lg.arange(0, 16):double():view(1, 1, 4, 4) - 20 -- all negative: padding must not win
    -- k3 s2 p1: windows rows/cols {-1,0,1} and {1,2,3}
    assert.are.same({{{{-15, -13}, {-7, -5}}}}, lg.max_pool2d(x, 3, 2, 1):totable())
    -- k2 s2 p1 on 0..8 (3x3): windows {-1,0} and {1,2}; divisor always 4
    local y = lg.avg_pool2d(lg.arange(0, 9):double():view(1, 1, 3, 3), 2, 2, 1)
    assert.are.same({{{{0, 0.75}, {2.25, 6}}}}, y:totable())
  end)

  it('works per channel and image, unbatched too', function()
    local x = lg.arange(0, 2 * 3 * 4 * 4):double():view(2, 3, 4, 4)
    local y = lg.max_pool2d(x, 2)
    assert.are.same({2, 3, 2, 2}, y:shape())
    for i = 1, 2 do
      for c = 1, 3 do
        local base = ((i - 1) * 3 + (c - 1)) * 16
        assert.are.same({{base + 5, base + 7}, {base + 13, base + 15}}, y:select(1, i):select(1, c):totable())
      end
    end
    local u = lg.avg_pool2d(lg.arange(0, 16):double():view(1, 4, 4), 2)
    assert.are.same({{{2.5, 4.5}, {10.5, 12.5}}}, u:totable())
  end)

  it('route max gradients to the argmax, accumulating over overlapping windows', function()
    local v = values(25, 71)
    for i = 1, 25 do v[i] = v[i] * 0.1 end
    v[13] = 5 -- the centre wins all four k3 s2 windows
    local x = tensor(v, {1, 1, 5, 5}):detach()
    x.requires_grad = true
    local y = lg.max_pool2d(x, 3, 2)
    assert.are.equal('max_pool2d', y.grad_fn)
    y:backward(lg.tensor({1, 2, 3, 4}, F64):view(1, 1, 2, 2))
    local g = flat(x.grad)
    for i = 1, 25 do assert.are.equal(i == 13 and 10 or 0, g[i]) end
  end)

  it('spread avg gradients over the window, padding included in the divisor', function()
    local x = lg.zeros(1, 1, 3, 3, {dtype = 'float64', requires_grad = true})
    lg.avg_pool2d(x, 2, 2, 1):sum():backward()
    -- every pixel is in exactly one window of divisor 4
    assert.are.same({{{{0.25, 0.25, 0.25}, {0.25, 0.25, 0.25}, {0.25, 0.25, 0.25}}}}, x.grad:totable())
    local z = lg.zeros(1, 1, 5, 5, {dtype = 'float64', requires_grad = true})
    lg.avg_pool2d(z, 3, 2):sum():backward()
    local g = flat(z.grad) -- row/col 2 is shared by both windows
    assert.are.same({1 / 9, 2 / 9, 4 / 9}, {g[1], g[3], g[13]})
  end)

  it('have gradients matching finite differences', function()
    local mp = function(k, s, p) return function(x) return lg.max_pool2d(x, k, s, p) end end
    local ap = function(k, s, p) return function(x) return lg.avg_pool2d(x, k, s, p) end end
    -- distinct values (LCG) keep max away from ties
    gradcheck(mp(3, 2, 0), {input({2, 2, 7, 7}, 81)})
    gradcheck(mp({2, 3}, {1, 2}, {1, 1}), {input({1, 3, 5, 6}, 82)})
    gradcheck(ap(3, 2, 0), {input({2, 2, 7, 7}, 83)})
    gradcheck(ap({2, 3}, {2, 1}, {1, 1}), {input({1, 3, 5, 6}, 84)})
  end)

  it('propagate NaN through max like PyTorch', function()
    local y = lg.max_pool2d(lg.tensor({1, 0 / 0, 2, 3}, F64):view(1, 1, 2, 2), 2):item()
    assert.is_true(y ~= y)
  end)

  it('raise clear errors', function()
    local function err(fn, ...)
      local ok, msg = pcall(fn, ...)
      assert.is_false(ok)
      return msg
    end
    local x = lg.zeros(1, 2, 5, 5)
    for _, fn in ipairs {lg.max_pool2d, lg.avg_pool2d} do
      assert.matches('padding should be at most half of the kernel size, got padding [2,2] for kernel [3,3]',
                     err(fn, x, 3, 1, 2), 1, true)
      assert.matches('stride must be positive, got [0,0]', err(fn, x, 2, 0), 1, true)
      assert.matches('padding must be non-negative', err(fn, x, 2, 2, -1), 1, true)
      assert.matches('kernel size must be positive', err(fn, x, 0), 1, true)
      assert.matches('kernel 6x6 is larger than the padded input 5x5', err(fn, x, 6), 1, true)
      assert.matches('expected a 4%-D input', err(fn, lg.zeros(5, 5), 2))
      assert.matches('kernel size is required', err(fn, x))
    end
    assert.matches('lunagrad.max_pool2d: ', err(lg.max_pool2d, x, 3, 1, 2), 1, true)
    assert.matches('lunagrad.avg_pool2d: ', err(lg.avg_pool2d, x, 3, 1, 2), 1, true)
  end)
end)

-- ---- golden values (PyTorch, float64 reference from float32 inputs) -------------------
local function read_golden()
  local f = assert(io.open('spec/fixtures/golden.json', 'r'))
  local text = f:read('a')
  f:close()
  return require('lunagrad.json').decode(text)
end

local function flatten_nested(v, out)
  out = out or {}
  if type(v) == 'table' then
    for _, e in ipairs(v) do flatten_nested(e, out) end
  else
    out[#out + 1] = v
  end
  return out
end

local function allclose(expected, actual, tol, what)
  local e, a = flatten_nested(expected.data), flat(actual)
  assert.are.same(expected.shape, actual:shape())
  for i = 1, #e do
    if math.abs(a[i] - e[i]) > tol.atol + tol.rtol * math.abs(e[i]) then
      error(string.format('%s: element %d expected %.8g got %.8g', what, i, e[i], a[i]), 2)
    end
  end
end

describe('golden values', function()
  local golden = read_golden()
  local count = 0
  for _, case in ipairs(golden.cases) do
    if case.op == 'conv2d' or case.op == 'max_pool2d' or case.op == 'avg_pool2d' then
      count = count + 1
      it(case.name .. ' (forward and grads, float32)', function()
        local X = {}
        for _, inp in ipairs(case.inputs) do
          X[inp.name] = lg.tensor(inp.data, {dtype = inp.dtype})
          X[inp.name].requires_grad = inp.requires_grad
        end
        local a, out = case.args
        if case.op == 'conv2d' then
          out = lg.conv2d(X.x, X.weight, X.bias, a.stride, a.padding)
        else
          out = lg[case.op](X.x, a.kernel_size, a.stride, a.padding)
        end
        local o = case.outputs[1]
        allclose(o, out, case.tol, case.name .. ' out')
        out:backward(lg.tensor(o.upstream.data))
        for name, g in pairs(case.grads) do allclose(g, X[name].grad, case.tol, case.name .. ' grad ' .. name) end
      end)
    end
  end
  it('covers all 11 conv and pool cases', function() assert.are.equal(11, count) end)
end)

-- ---- speed: the LeNet-DANN first conv --------------------------------------------
describe('conv2d speed', function()
  it('runs forward+backward of x 128x3x28x28, w 32x3x5x5 (time printed)', function()
    local gettime = require('system').gettime
    lg.manual_seed(1)
    local x = lg.randn(128, 3, 28, 28, {requires_grad = true})
    local w = lg.randn(32, 3, 5, 5, {requires_grad = true})
    local b = lg.randn(32, {requires_grad = true})
    local function step()
      local y = lg.conv2d(x, w, b)
      y:sum():backward()
      return y
    end
    local y = step() -- warm the scratch cache
    assert.are.same({128, 32, 24, 24}, y:shape())
    -- wall clock per iteration; garbage from the previous one is collected
    -- outside the timed region (else the page faults of fresh buffers dominate)
    local iters, total, best = 10, 0, math.huge
    for _ = 1, iters do
      x:zero_grad(); w:zero_grad(); b:zero_grad()
      collectgarbage()
      local t0 = gettime()
      step()
      local dt = gettime() - t0
      total, best = total + dt, math.min(best, dt)
    end
    io.stderr:write(string.format('\n[conv_spec] LeNet conv1 forward+backward (x,w,b): mean %.2f ms, '
                                  .. 'min %.2f ms over %d iterations, %d threads\n',
                                  total / iters * 1000, best * 1000, iters, lg.get_num_threads()))
    -- d sum / d b = number of output pixels per channel
    assert.are.equal(128 * 24 * 24, b.grad:select(1, 1):item())
  end)
end)

-- The stride-1 unpadded conv path (plain row copies in im2col/col2im, per-image
-- gemms, fused bias gradient) and the 2x2/stride-2 max-pool path (byte codes,
-- no zero fill) must agree with the references on sizes that are not multiples
-- of the vector width or of the copy pieces (8, 4, 2, 1 pixels).
describe('conv2d and max_pool2d fast paths', function()
  it('stride-1 unpadded conv2d matches the naive reference for odd widths (float32, float64)', function()
    local cases = {
      {xs = {2, 3, 5, 12}, ws = {4, 3, 3, 2}}, -- ow 11 = 8+2+1
      {xs = {1, 2, 4, 25}, ws = {3, 2, 2, 6}}, -- ow 20 = 8+8+4
      {xs = {3, 1, 6, 7}, ws = {2, 1, 6, 1}},  -- oh 1, ow 7 = 4+2+1
      {xs = {2, 5, 9, 9}, ws = {3, 5, 9, 9}},  -- 1x1 output
    }
    for n, c in ipairs(cases) do
      local xv, wv = values(product(c.xs), 300 + n), values(product(c.ws), 400 + n)
      local bv = values(c.ws[1], 500 + n)
      local expect = naive_conv(xv, c.xs, wv, c.ws, bv, {1, 1}, {0, 0})
      for _, dtype in ipairs {'float64', 'float32'} do
        local opts = {dtype = dtype}
        local y = lg.conv2d(tensor(xv, c.xs, opts), tensor(wv, c.ws, opts), lg.tensor(bv, opts))
        assert_close(expect, flat(y), dtype == 'float32' and 1e-5 or 1e-12, dtype .. ' case ' .. n)
        local y0 = lg.conv2d(tensor(xv, c.xs, opts), tensor(wv, c.ws, opts)) -- no bias
        local e0 = naive_conv(xv, c.xs, wv, c.ws, nil, {1, 1}, {0, 0})
        assert_close(e0, flat(y0), dtype == 'float32' and 1e-5 or 1e-12, dtype .. ' no bias ' .. n)
      end
    end
  end)

  it('stride-1 unpadded conv2d has x, weight and bias gradients matching finite differences', function()
    local conv = function(x, w, b) return lg.conv2d(x, w, b) end
    gradcheck(conv, {input({2, 2, 5, 12}, 601), input({3, 2, 3, 2}, 602), input({3}, 603)})
    gradcheck(conv, {input({1, 3, 4, 7}, 604), input({2, 3, 4, 1}, 605), input({2}, 606)})
  end)

  it('gives the bias gradient as the output gradient summed over images and pixels', function()
    local xs, ws = {3, 2, 6, 9}, {4, 2, 2, 3}
    local x = tensor(values(product(xs), 611), xs)
    local w = tensor(values(product(ws), 612), ws)
    local b = lg.tensor(values(4, 613), F64)
    b.requires_grad = true
    local y = lg.conv2d(x, w, b)
    local gv = values(y:numel(), 614)
    y:backward(tensor(gv, y:shape()))
    local per = 5 * 7
    local expect = {0, 0, 0, 0}
    for i = 0, #gv - 1 do
      local co = (i // per) % 4
      expect[co + 1] = expect[co + 1] + gv[i + 1]
    end
    assert_close(expect, flat(b.grad), 1e-12, 'bias grad')
    assert.is_nil(x.grad)
  end)

  -- scan-order reference: first maximum wins, a NaN wins over anything before it
  local function ref_pool2(xv, planes, h, w)
    local oh, ow = h // 2, w // 2
    local out, arg = {}, {}
    for pl = 0, planes - 1 do
      for oy = 0, oh - 1 do
        for ox = 0, ow - 1 do
          local best, at
          for _, d in ipairs {{0, 0}, {0, 1}, {1, 0}, {1, 1}} do
            local pos = pl * h * w + (2 * oy + d[1]) * w + 2 * ox + d[2]
            local v = xv[pos + 1]
            if best == nil or v > best or v ~= v then best, at = v, pos end
          end
          out[#out + 1], arg[#arg + 1] = best, at
        end
      end
    end
    return out, arg
  end

  it('2x2 stride-2 max_pool2d matches a scan-order reference on odd sizes, ties, NaNs, long rows', function()
    for _, dtype in ipairs {'float64', 'float32'} do
      for _, shape in ipairs {{2, 3, 7, 141}, {1, 2, 5, 9}, {1, 1, 2, 2}} do
        local planes, h, w = shape[1] * shape[2], shape[3], shape[4]
        local xv = values(planes * h * w, 700 + w)
        for i = 1, #xv, 5 do xv[i] = 0.25 end      -- ties
        for i = 3, #xv, 37 do xv[i] = 0 / 0 end    -- NaNs, sometimes two in a window
        for i = 4, #xv, 37 do xv[i] = 0 / 0 end
        local expect, arg = ref_pool2(xv, planes, h, w)
        local x = lg.tensor(xv, {dtype = dtype}):view(shape):detach()
        x.requires_grad = true
        local y = lg.max_pool2d(x, 2)
        local yn = lg.no_grad(function() return lg.max_pool2d(x, 2) end)
        local got, gotn = flat(y), flat(yn)
        assert.are.equal(#expect, #got)
        for i = 1, #expect do
          local e = expect[i]
          if e ~= e then
            assert.is_true(got[i] ~= got[i] and gotn[i] ~= gotn[i], 'NaN at ' .. i)
          else
            assert.are.equal(lg.tensor({e}, {dtype = dtype}):item(), got[i], 'value at ' .. i)
            assert.are.equal(got[i], gotn[i], 'no_grad value at ' .. i)
          end
        end
        local gv = values(#expect, 800 + w)
        y:backward(lg.tensor(gv, {dtype = dtype}):view(y:shape()))
        local want = {}
        for i = 1, planes * h * w do want[i] = 0 end
        for i, pos in ipairs(arg) do want[pos + 1] = lg.tensor({gv[i]}, {dtype = dtype}):item() end
        assert.are.same(want, flat(x.grad)) -- dropped last row/column included: zeros
      end
    end
  end)
end)

-- ---- gradients of gradients ---------------------------------------------------
-- Under create_graph conv2d's gradients come from the ops conv2d_input_grad and
-- conv2d_weight_grad, the pools' from max_pool2d_backward / avg_pool2d_backward;
-- an ordinary backward runs the fused kernels. Both routes must agree (float32
-- takes the AVX-512 kernels where the CPU has them), and the gradients are
-- differentiable again (spec/registry_spec.lua gradgradchecks every op).
describe('conv2d and pools under create_graph', function()
  local function net(x, w, b)
    local h = lg.conv2d(x, w, b, {2, 1}, 1):tanh()
    return lg.avg_pool2d(lg.max_pool2d(h, 2), 3, 1, 1)
  end

  for _, dtype in ipairs {'float32', 'float64'} do
    it('gives the fused backward\'s gradients (' .. dtype .. ')', function()
      local o = {dtype = dtype}
      local x = tensor(values(2 * 3 * 11 * 9, 31), {2, 3, 11, 9}, o)
      local w = tensor(values(4 * 3 * 3 * 3, 32), {4, 3, 3, 3}, o)
      local b = tensor(values(4, 33), {4}, o)
      local leaves = {}
      for i, t in ipairs {x, w, b} do leaves[i] = t:detach():requires_grad_() end
      local plain = lg.grad(net(table.unpack(leaves)):sum(), leaves)
      local graph = lg.grad(net(table.unpack(leaves)):sum(), leaves, {create_graph = true})
      assert.are.equal('conv2d_input_grad', graph[1].grad_fn)
      assert.are.equal('conv2d_weight_grad', graph[2].grad_fn)
      local tol = dtype == 'float32' and 1e-5 or 1e-12
      for i = 1, 3 do assert_close(flat(plain[i]), flat(graph[i]), tol, 'input ' .. i) end
    end)
  end

  it('differentiates a gradient penalty through conv2d, max_pool2d and avg_pool2d', function()
    -- P(w) = sum((dL/dx)^2) with L = sum(net(x, w) * u): dP/dw by autograd against
    -- central differences of P (float64)
    local x = tensor(values(1 * 2 * 9 * 7, 41), {1, 2, 9, 7}):requires_grad_()
    local w0 = values(3 * 2 * 3 * 3, 42)
    local u = tensor(values(3 * 2 * 3, 43), {1, 3, 2, 3}) -- net's output shape
    local function penalty(wv)
      local w = tensor(wv, {3, 2, 3, 3}):requires_grad_()
      local gx = lg.grad((net(x, w) * u):sum(), {x}, {create_graph = true})[1]
      return (gx * gx):sum(), w
    end
    local p, w = penalty(w0)
    local dw = flat(lg.grad(p, {w})[1])
    local eps, numeric = 1e-6, {}
    for i = 1, #w0 do
      local plus, minus = {table.unpack(w0)}, {table.unpack(w0)}
      plus[i], minus[i] = w0[i] + eps, w0[i] - eps
      numeric[i] = (penalty(plus):item() - penalty(minus):item()) / (2 * eps)
    end
    assert_close(numeric, dw, 1e-6, 'dP/dw')
  end)
end)
