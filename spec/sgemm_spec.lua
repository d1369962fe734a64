-- lunagrad's own sgemm behind float32 products and conv2d (src/kernels/sgemm*.c),
-- on every ISA path this CPU runs (avx512, avx2): checked against OpenBLAS (the
-- generic path, lg.matmul with our kernels off) directly, and conv2d's own-kernel
-- path checked against its generic im2col + OpenBLAS path on geometries that
-- hit every edge case; then the paths against each other (the same bits) and the
-- dispatch itself (lg.config, LUNAGRAD_ISA, core._set_isa).
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local sgemm = core._sgemm
local close = require 'helpers.close'

local NATIVE = sgemm.isa() -- the path this process started on (LUNAGRAD_ISA or cpuid)
local RUNNABLE = core._isas() -- best first, 'generic' last
local KERNEL_ISAS = {}        -- the paths with a kernel of ours
for _, isa in ipairs(RUNNABLE) do
  if isa ~= 'generic' then KERNEL_ISAS[#KERNEL_ISAS + 1] = isa end
end
-- 1 + the tile edges: 6/8-row panels, 8/16/32/48-column panels, 256-deep k blocks
local SIZES = { 1, 3, 6, 7, 8, 9, 12, 16, 17, 33, 47, 48, 49, 64, 65, 100, 257 }
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

-- conv2d forward and all three gradients, with our kernels on or off (generic)
local function conv_run(own, x, w, b, stride, pad)
  sgemm.enable(own)
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

describe('sgemm on the generic path', function()
  before_each(function() core._set_isa('generic') end)
  after_each(function() core._set_isa(NATIVE) end)

  it('has no kernel of ours: products and conv2d go to OpenBLAS', function()
    assert.is_false(sgemm.available())
    assert.are.equal('generic', lg.config().isa)
    local a = lg.ones(2, 2)
    assert.has_error(function() sgemm.gemm(a, a, lg.zeros(2, 2)) end,
      'core._sgemm.gemm: no sgemm kernel of ours on this path (generic, or disabled)')
    assert.are.same({ { 2, 2 }, { 2, 2 } }, lg.matmul(a, a):totable())
  end)
end)

for _, ISA in ipairs(KERNEL_ISAS) do
describe(ISA .. ' sgemm', function()
  before_each(function() core._set_isa(ISA) end)
  after_each(function() core._set_isa(NATIVE) end)

  it('is the path in use', function()
    assert.is_true(sgemm.available())
    assert.are.equal(ISA, sgemm.isa())
    assert.are.equal(ISA, lg.config().isa)
  end)

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

describe('conv2d float32 on the ' .. ISA .. ' path', function()
  before_each(function() core._set_isa(ISA) end)
  after_each(function() core._set_isa(NATIVE) end)

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
    assert.matches('no sgemm kernel of ours on this path %(generic, or disabled%)', err)
    assert.is_true(sgemm.available())
    assert.are.equal(ISA, sgemm.isa())
  end)
end)
end


describe('the ISA paths against each other', function()
  after_each(function() core._set_isa(NATIVE) end)

  -- every path sums each element in the same order (k blocks of 256), so the
  -- paths agree to the bit, not only within a tolerance
  it('give the same bits on every path with a kernel (matmul, conv2d and its gradients)', function()
    if #KERNEL_ISAS < 2 then
      assert.is_true(#KERNEL_ISAS <= 1) -- nothing to compare on this CPU
      return
    end
    local function run(isa)
      core._set_isa(isa)
      lg.manual_seed(5)
      local a, b = lg.randn(203, 611), lg.randn(611, 77)
      local x, w = lg.randn(5, 3, 28, 28), lg.randn(32, 3, 5, 5):requires_grad_()
      local bias = lg.randn(32):requires_grad_()
      local y = lg.conv2d(x, w, bias)
      ;(y * lg.randn(y:shape())):sum():backward()
      local out = {}
      for _, t in ipairs({ lg.matmul(a, b), lg.matmul(b:t(), a:t()), y, w.grad, bias.grad }) do
        for _, v in ipairs(close.flat(t:totable())) do out[#out + 1] = ('%a'):format(v) end
      end
      return out
    end
    local want = run(KERNEL_ISAS[1])
    for i = 2, #KERNEL_ISAS do
      local got = run(KERNEL_ISAS[i])
      assert.are.equal(#want, #got)
      for j = 1, #want do
        if want[j] ~= got[j] then
          error(('%s and %s differ at element %d: %s vs %s'):format(KERNEL_ISAS[1], KERNEL_ISAS[i], j,
            want[j], got[j]))
        end
      end
    end
  end)
end)

describe('ISA dispatch', function()
  after_each(function() core._set_isa(NATIVE) end)

  -- runs `code` in a fresh lua5.4 with `env` prepended; returns stdout and stderr
  local function fresh(env, code)
    local err = os.tmpname()
    local p = io.popen(env .. " lua5.4 -e '" .. code .. "' 2>" .. err)
    local out = p:read('a')
    p:close()
    local f = io.open(err)
    local e = f:read('a')
    f:close()
    os.remove(err)
    return out, e
  end
  local PRINT_ISA = "io.write(require([[lunagrad]]).config().isa)"

  it('lg.config() reports the path, threads, BLAS and OpenMP', function()
    local c = lg.config()
    assert.are.equal(NATIVE, c.isa)
    assert.are.equal(lg.get_num_threads(), c.threads)
    assert.matches('^OpenBLAS', c.blas)
    assert.are.equal('boolean', type(c.openmp))
    assert.are.equal('number', type(c.blas_threads))
  end)

  it('picks the best path the CPU runs unless told otherwise', function()
    assert.are.equal('generic', RUNNABLE[#RUNNABLE])
    local out = fresh('env -u LUNAGRAD_ISA -u LUNAGRAD_AVX512', PRINT_ISA)
    assert.are.equal(RUNNABLE[1], out)
  end)

  it('is forced by LUNAGRAD_ISA, and LUNAGRAD_AVX512=0 still means generic', function()
    for _, isa in ipairs(RUNNABLE) do
      local out, err = fresh('LUNAGRAD_ISA=' .. isa, PRINT_ISA)
      assert.are.equal(isa, out)
      assert.are.equal('', err)
    end
    assert.are.equal('generic', (fresh('env -u LUNAGRAD_ISA LUNAGRAD_AVX512=0', PRINT_ISA)))
    -- LUNAGRAD_ISA wins over the old variable
    assert.are.equal(RUNNABLE[1], (fresh('LUNAGRAD_AVX512=0 LUNAGRAD_ISA=' .. RUNNABLE[1], PRINT_ISA)))
  end)

  it('warns and falls back (never runs what the CPU lacks) for paths it cannot run', function()
    local out, err = fresh('env -u LUNAGRAD_AVX512 LUNAGRAD_ISA=sse9', PRINT_ISA)
    assert.are.equal(RUNNABLE[1], out)
    assert.matches('LUNAGRAD_ISA=sse9 is not avx512, avx2 or generic; ignored', err, 1, true)
    for _, isa in ipairs({ 'avx512', 'avx2' }) do
      local runnable = false
      for _, r in ipairs(RUNNABLE) do runnable = runnable or r == isa end
      if not runnable then
        out, err = fresh('LUNAGRAD_ISA=' .. isa, PRINT_ISA .. '; print(require([[lunagrad]]).matmul(require([[lunagrad]]).ones(9, 9), require([[lunagrad]]).ones(9, 9)):sum():item())')
        assert.matches('cannot run the ' .. isa .. ' kernels; using', err, 1, true)
        assert.matches('729', out, 1, true)
      end
    end
  end)

  it('core._set_isa switches paths and refuses unknown or unrunnable ones', function()
    for _, isa in ipairs(RUNNABLE) do
      core._set_isa(isa)
      assert.are.equal(isa, lg.config().isa)
      assert.are.same({ { 3, 3 }, { 3, 3 } }, lg.matmul(lg.ones(2, 3), lg.ones(3, 2)):totable())
    end
    assert.has_error(function() core._set_isa('sse9') end,
      "lunagrad._set_isa: unknown ISA 'sse9' (avx512, avx2 or generic)")
    for _, isa in ipairs({ 'avx512', 'avx2' }) do
      local runnable = false
      for _, r in ipairs(RUNNABLE) do runnable = runnable or r == isa end
      if not runnable then
        assert.has_error(function() core._set_isa(isa) end,
          'lunagrad._set_isa: this CPU cannot run the ' .. isa .. ' kernels')
      end
    end
  end)

  it('measures an FMA peak on every runnable path (none on the others)', function()
    for _, isa in ipairs(RUNNABLE) do
      local g = core._fma_peak(isa, 1, 0.02)
      assert.is_true(g > 0, isa)
    end
    assert.is_nil(core._fma_peak('sse9', 1, 0.01))
  end)
end)
