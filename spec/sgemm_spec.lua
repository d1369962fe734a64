-- The AVX-512 sgemm behind float32 conv2d (src/kernels/sgemm_avx512.c): checked against
-- OpenBLAS (lg.matmul) directly, and conv2d's AVX-512 path checked against its
-- portable im2col + OpenBLAS path on geometries that hit every edge case.
local lg = require 'lunagrad'
local sgemm = require('lunagrad.core')._sgemm
local close = require 'helpers.close'

local has_avx512 = sgemm.available()
-- 1 + the tile edges: 8-row panels, 16/32/48-column panels, 256-deep k blocks
local SIZES = { 1, 3, 8, 9, 16, 17, 33, 47, 48, 49, 64, 65, 100, 257 }

-- op(a) op(b) with OpenBLAS (our kernels switched off), the reference
local function reference(a, b, c, ta, tb, alpha, beta)
  sgemm.enable(false)
  local prod = lg.matmul(ta and a:t() or a, tb and b:t() or b) * alpha
  if beta ~= 0 then prod = prod + c * beta end
  sgemm.enable(true)
  return prod
end

local function with_threads(n, f)
  local saved = lg.get_num_threads()
  lg.set_num_threads(n)
  local ok, err = pcall(f)
  lg.set_num_threads(saved)
  if not ok then error(err, 0) end
end

-- conv2d forward and all three gradients, with the AVX-512 path on or off
local function conv_run(avx512, x, w, b, stride, pad)
  sgemm.enable(avx512)
  local ok, res = pcall(function()
    local xs, ws, bs = x:clone():requires_grad_(), w:clone():requires_grad_(), b:clone():requires_grad_()
    local y = lg.conv2d(xs, ws, bs, stride, pad)
    local u = lg.randn(y:shape()) -- fixed by the caller's seed
    ;(y * u):sum():backward()
    return { y = y:detach(), dx = xs.grad, dw = ws.grad, db = bs.grad }
  end)
  sgemm.enable(true)
  if not ok then error(res, 0) end
  return res
end

describe('AVX-512 sgemm', function()
  if not has_avx512 then
    it('is reported unavailable here, and conv2d takes the portable path', function()
      assert.is_false(sgemm.available())
      local a = lg.ones(2, 2)
      assert.has_error(function() sgemm.gemm(a, a, lg.zeros(2, 2)) end,
        'core._sgemm.gemm: no AVX-512 on this CPU (or disabled)')
    end)
    return
  end

  it('matches OpenBLAS for every transpose combination and edge size', function()
    lg.manual_seed(7)
    local cases = 0
    for i = 1, 200 do
      local m, n, k = SIZES[(i * 7) % #SIZES + 1], SIZES[(i * 5) % #SIZES + 1], SIZES[(i * 3) % #SIZES + 1]
      local ta, tb = i % 2 == 0, i % 4 >= 2
      local alpha, beta = ({ 1, 0.5, -2 })[i % 3 + 1], ({ 0, 1, 0.25 })[i % 3 + 1]
      local a = ta and lg.randn(k, m) or lg.randn(m, k)
      local b = tb and lg.randn(n, k) or lg.randn(k, n)
      local c = lg.randn(m, n)
      local want = reference(a, b, c, ta, tb, alpha, beta)
      local in_place = not ta and i % 3 == 0 -- A's rows read in place instead of packed
      sgemm.gemm(a, b, c, ta, tb, alpha, beta, in_place)
      close.assert_close(c, { shape = { m, n }, data = want:totable() }, { rtol = 1e-4, atol = 1e-4 },
        string.format('m=%d n=%d k=%d ta=%s tb=%s in place=%s', m, n, k, ta, tb, in_place))
      cases = cases + 1
    end
    assert.are.equal(200, cases)
  end)

  it('runs lg.matmul on float32, split by rows or by columns over threads', function()
    lg.manual_seed(9)
    -- tall (row split, two row blocks), wide (column split), tiny (one thread),
    -- rows of B >= 1024 floats apart (packed even untransposed), transposed views
    local shapes = { { 300, 70, 129 }, { 9, 700, 65 }, { 3, 5, 2 }, { 64, 256, 784 }, { 17, 1000, 300 },
      { 33, 1030, 270 } }
    for _, threads in ipairs({ 1, 2 }) do
      with_threads(threads, function()
        for _, s in ipairs(shapes) do
          local m, n, k = table.unpack(s)
          for _, trans in ipairs({ false, true }) do
            local a = trans and lg.randn(k, m):t() or lg.randn(m, k)
            local b = trans and lg.randn(n, k):t() or lg.randn(k, n)
            sgemm.enable(false)
            local want = lg.matmul(a, b)
            sgemm.enable(true)
            close.assert_close(lg.matmul(a, b), { shape = { m, n }, data = want:totable() },
              { rtol = 1e-4, atol = 1e-4 }, string.format('%dx%dx%d %s, %d threads', m, n, k,
                trans and 'transposed' or 'plain', threads))
          end
        end
      end)
    end
  end)

  it('gives the same bits with 1 and 2 threads (matmul, conv2d and LeNet-DANN steps)', function()
    local nn, optim = require 'lunagrad.nn', require 'lunagrad.optim'
    local function run()
      lg.manual_seed(21)
      local a, b = lg.randn(300, 129), lg.randn(129, 700)
      local out = { ('%a'):format(lg.matmul(a, b):sum():item()), ('%a'):format(lg.matmul(b:t(), a:t()):sum():item()) }
      local features = nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 12, 5),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
      local head = nn.Sequential(nn.GradientReversal(1), nn.Linear(12 * 4 * 4, 10))
      local opt = optim.SGD(nn.parameters(features, head), { lr = 0.05, momentum = 0.9 })
      local x, y = lg.randn(37, 3, 28, 28), (lg.rand(37) * 10):long() + 1
      for _ = 1, 3 do
        opt:zero_grad()
        local loss = nn.CrossEntropyLoss()(head(features(x)), y)
        loss:backward()
        opt:step()
        out[#out + 1] = ('%a'):format(loss:item())
      end
      -- every element of a conv's gradients, not only sums (a sum can hide last bits)
      local xc, wc = lg.randn(37, 8, 12, 12), lg.randn(12, 8, 5, 5):requires_grad_()
      local bc = lg.randn(12):requires_grad_()
      local yc = lg.conv2d(xc, wc, bc)
      ;(yc * lg.randn(yc:shape())):sum():backward()
      for _, g in ipairs({ wc.grad, bc.grad }) do
        for _, v in ipairs(close.flat(g:totable())) do out[#out + 1] = ('%a'):format(v) end
      end
      return out
    end
    local one, two
    with_threads(1, function() one = run() end)
    with_threads(2, function() two = run() end)
    assert.are.same(one, two)
  end)

  it('grows its packing workspace and survives lg.empty_cache() freeing it', function()
    lg.manual_seed(4)
    local small, big = lg.randn(70, 90), lg.randn(400, 300)
    local want_small, want_big
    sgemm.enable(false)
    want_small, want_big = lg.matmul(small, small:t()), lg.matmul(big, big:t())
    sgemm.enable(true)
    for _ = 1, 2 do
      for _, case in ipairs({ { small, want_small }, { big, want_big }, { small, want_small } }) do
        local got = lg.matmul(case[1], case[1]:t())
        close.assert_close(got, { shape = case[2]:shape(), data = case[2]:totable() }, { rtol = 1e-4, atol = 1e-3 })
      end
      lg.empty_cache()
    end
  end)

  it('never reads C when beta is 0 (NaN there does not leak)', function()
    local a, b = lg.ones(9, 20), lg.ones(20, 33)
    local c = lg.full({ 9, 33 }, 0 / 0)
    sgemm.gemm(a, b, c, false, false, 1, 0)
    assert.are.equal(20, c:min():item())
    assert.are.equal(20, c:max():item())
  end)

  it('handles k = 0 as C = beta * C', function()
    local c = lg.full({ 3, 4 }, 2)
    sgemm.gemm(lg.zeros(3, 0), lg.zeros(0, 4), c, false, false, 1, 0.5)
    assert.are.same({ { 1, 1, 1, 1 }, { 1, 1, 1, 1 }, { 1, 1, 1, 1 } }, c:totable())
  end)

  it('rejects wrong shapes, dtypes and layouts', function()
    local f = lg.zeros(3, 4)
    assert.has_error(function() sgemm.gemm(f, f, f) end, 'core._sgemm.gemm: shapes do not match')
    assert.has_error(function() sgemm.gemm(f:double(), f, f) end,
      'core._sgemm.gemm: argument #1 must be a contiguous 2-D float32 tensor')
    assert.has_error(function() sgemm.gemm(lg.zeros(4, 3):t(), f, f) end,
      'core._sgemm.gemm: argument #1 must be a contiguous 2-D float32 tensor')
  end)
end)

describe('conv2d float32 on the AVX-512 path', function()
  -- {n, cin, h, w, cout, kh, kw, stride, pad}: LeNet's shapes, odd channel counts,
  -- strides and padding (the generic im2col), fewer images than threads
  local GEOMETRIES = {
    { 5, 3, 28, 28, 32, 5, 5, { 1, 1 }, { 0, 0 } },
    { 4, 32, 12, 12, 48, 5, 5, { 1, 1 }, { 0, 0 } },
    { 3, 5, 9, 11, 7, 3, 2, { 2, 1 }, { 1, 0 } },
    { 1, 17, 6, 6, 33, 3, 3, { 1, 1 }, { 1, 1 } },
    { 7, 2, 5, 5, 1, 5, 5, { 1, 1 }, { 2, 2 } },
  }

  for _, geo in ipairs(GEOMETRIES) do
    local n, cin, h, w, cout, kh, kw, stride, pad = table.unpack(geo)
    local name = string.format('%dx%dx%dx%d * %dx%dx%dx%d stride %d,%d pad %d,%d', n, cin, h, w,
      cout, cin, kh, kw, stride[1], stride[2], pad[1], pad[2])
    it('agrees with the portable path: ' .. name, function()
      lg.manual_seed(11)
      local x, wt, b = lg.randn(n, cin, h, w), lg.randn(cout, cin, kh, kw) * 0.2, lg.randn(cout)
      for _, threads in ipairs({ 1, 2 }) do
        with_threads(threads, function()
          lg.manual_seed(3)
          local fast = conv_run(true, x, wt, b, stride, pad)
          lg.manual_seed(3)
          local portable = conv_run(false, x, wt, b, stride, pad)
          for _, key in ipairs({ 'y', 'dx', 'dw', 'db' }) do
            close.assert_close(fast[key], { shape = portable[key]:shape(), data = portable[key]:totable() },
              { rtol = 1e-4, atol = 1e-4 }, key .. ' at ' .. threads .. ' threads')
          end
        end)
      end
    end)
  end

  it('can be switched off (conv2d then takes the portable path)', function()
    sgemm.enable(false)
    local ok, err = pcall(sgemm.gemm, lg.ones(2, 2), lg.ones(2, 2), lg.zeros(2, 2))
    sgemm.enable(true)
    assert.is_false(ok)
    assert.matches('no AVX%-512 on this CPU %(or disabled%)', err)
    assert.are.equal(has_avx512, sgemm.available())
  end)
end)
