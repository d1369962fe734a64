-- Memory accounting and the Lua GC: live bytes return to baseline, loops that
-- drop big temporaries stay bounded without collectgarbage(), __close and
-- release free at once, and released tensors fail cleanly.
local lg = require 'lunagrad'

local MB = 1024 * 1024

local function full_gc()
  collectgarbage()
  collectgarbage()
end

local function live() return lg.memory().live_bytes end

describe('lg.memory', function()
  it('reports live and peak bytes and the tensor count', function()
    full_gc()
    local m0 = lg.memory()
    assert.are.equal('number', type(m0.live_bytes))
    assert.are.equal('number', type(m0.peak_bytes))
    assert.are.equal('number', type(m0.tensors))
    local x = lg.zeros(1000, 1000) -- 4 MB of float32
    local m1 = lg.memory()
    assert.is_true(m1.live_bytes - m0.live_bytes >= 4000000)
    assert.is_true(m1.live_bytes - m0.live_bytes <= 4000000 * 1.25) -- size classes waste <= 25%
    assert.are.equal(m0.tensors + 1, m1.tensors)
    assert.is_true(m1.peak_bytes >= m1.live_bytes)
    x = nil
    full_gc()
    assert.are.equal(m0.live_bytes, live())
    assert.are.equal(m0.tensors, lg.memory().tensors)
  end)

  it('returns to baseline after many tensors, views and graphs are dropped', function()
    full_gc()
    local base, tensors = live(), lg.memory().tensors
    do
      local keep = {}
      for i = 1, 200 do
        local a = lg.rand(32, 32, {requires_grad = true})
        local b = (a:t() * 2):relu():sum()
        b:backward()
        keep[i] = {a, a:view(1024), a:narrow(1, 1, 4), b}
      end
      assert.is_true(live() > base + 200 * 32 * 32 * 4)
    end
    full_gc()
    assert.are.equal(base, live())
    assert.are.equal(tensors, lg.memory().tensors)
  end)

  it('a view keeps its storage alive after the base is dropped', function()
    full_gc()
    local base = live()
    local v
    do
      local x = lg.arange(10):float()
      v = x:narrow(1, 8, 3)
    end
    full_gc()
    assert.are.same({7, 8, 9}, v:totable())
    assert.is_true(live() > base)
    v = nil
    full_gc()
    assert.are.equal(base, live())
  end)
end)

describe('no collectgarbage() needed', function()
  it('10,000 iterations of 256x256 temporaries keep live bytes bounded', function()
    local a, b = lg.rand(256, 256), lg.rand(256, 256)
    full_gc()
    local base, peak = live(), 0
    for _ = 1, 10000 do
      local c = a + b
      local d = c * 2
      local now = live() - base
      if now > peak then peak = now end
      assert.is_true(d ~= nil)
    end
    -- 20,000 temporaries of 256 KB (5 GB in all) went through; only a bounded
    -- number may be waiting for the collector at any time
    assert.is_true(peak < 48 * MB, string.format('peak %.1f MB above baseline', peak / MB))
  end)

  it('a 10,000-step forward+backward loop keeps live bytes flat', function()
    lg.manual_seed(0)
    local w = lg.randn(64, 64, {requires_grad = true})
    local xb = lg.randn(32, 64)
    local function step()
      local h = (xb * 0.1):tanh()
      local loss = ((h:t() * w:sum(2, true)):sigmoid() - 0.5):abs():mean()
      loss:backward()
      lg.no_grad(function() w:copy(w - w.grad * 0.01) end)
      w.grad = nil
      return loss:item()
    end
    local function window(n)
      local hi = 0
      for _ = 1, n do
        step()
        hi = math.max(hi, live())
      end
      return hi
    end
    window(500) -- warm-up
    local early = window(1000)
    for _ = 1, 7500 do step() end
    local late = window(1000)
    assert.is_true(late <= early * 1.25 + 4 * MB,
                   string.format('live grew from %.1f MB to %.1f MB', early / MB, late / MB))
    assert.is_true(late < 128 * MB, string.format('live %.1f MB', late / MB))
  end)
end)

describe('release and __close', function()
  it('local x <close> frees the storage at the end of the scope', function()
    full_gc()
    local base = live()
    do
      local x <close> = lg.zeros(512, 512)
      assert.is_true(live() >= base + 512 * 512 * 4)
      local y <close> = x + 1
      assert.are.same({512, 512}, y:shape()) -- (y[1] would make a view that keeps y's storage)
    end
    assert.are.equal(base, live()) -- no GC needed
  end)

  it('release frees at once; the tensor is then unusable with a clean error', function()
    full_gc()
    local base = live()
    local x = lg.ones(300, 300)
    x:release()
    assert.are.equal(base, live())
    local ok, err = pcall(function() return x + 1 end)
    assert.is_false(ok)
    assert.is_truthy(err:find('lunagrad.add: tensor was already released', 1, true), err)
    ok, err = pcall(x.numel, x)
    assert.is_false(ok)
    assert.is_truthy(err:find('lunagrad.numel:', 1, true), err)
  end)

  it('release twice, then close and collect, is safe', function()
    local x = lg.ones(10)
    x:release()
    x:release()
    do
      local y <close> = lg.ones(3)
      y:release() -- closed again at scope end
    end
    x = nil
    full_gc()
    assert.is_true(lg.memory().tensors >= 0)
  end)

  it('releasing a base keeps views working (they hold the storage)', function()
    local x = lg.arange(6):view(2, 3)
    local row = x[2]
    x:release()
    assert.are.same({3, 4, 5}, row:totable())
  end)

  it('releasing a tensor in a graph keeps backward working', function()
    local w = lg.tensor({1, 2}, {requires_grad = true})
    local h = w * 3
    local y = (h * h):sum()
    h:release() -- the graph holds its own references
    y:backward()
    assert.are.same({18, 36}, w.grad:totable()) -- d/dw 9w^2
  end)

  it('backward frees saved tensors; retain_graph keeps them until the graph goes', function()
    local x = lg.rand(256, 256, {requires_grad = true})
    full_gc()
    local base = live()
    local y = (x * x):sum() -- mul saves x (no copy) and its output is freed
    y:backward()
    full_gc() -- the product x * x is garbage now: nothing holds it
    local after = live()
    -- x.grad (256 KB) is the only new storage alive
    assert.is_true(after - base <= 256 * 256 * 4 * 1.25 + 4096, (after - base) .. ' bytes')
    x.grad = nil
    local e = x:exp() -- exp saves its output
    local z = e:sum()
    z:backward{retain_graph = true}
    e = nil
    full_gc()
    local retained = live()
    z = nil
    full_gc()
    assert.is_true(live() < retained, 'dropping the graph frees the saved output')
  end)
end)
