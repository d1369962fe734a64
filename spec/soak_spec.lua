-- A short soak (tools/soak.lua, `make soak` runs 10,000 steps): 1,000 DANN
-- training steps on two moons without collectgarbage() must keep lunagrad's
-- live tensor bytes and the process RSS within 5% of their level after warm-up.
local lg = require 'lunagrad'

describe('soak (1,000 DANN steps, no collectgarbage)', function()
  it('keeps live bytes and RSS flat and trains', function()
    -- Start from a collected heap: the specs before this one leave the GC mid-cycle
    -- over a large heap, and that one cycle can outlast the 100-step window that
    -- measures the warm-up peak. Inside the loop nothing collects but the GC.
    collectgarbage()
    local soak = assert(loadfile('tools/soak.lua'))('--module')
    local r = soak(1000)
    assert.are.equal(1000, r.steps)
    assert.is_true(r.live_warm > 0 and r.rss_warm_kb > 0)
    assert.is_true(r.growth_live <= 0.05, ('live bytes grew %.2f%% (%d -> %d)'):format(
      100 * r.growth_live, r.live_warm, r.live_end))
    assert.is_true(r.growth_rss <= 0.05, ('RSS grew %.2f%% (%d -> %d kB)'):format(
      100 * r.growth_rss, r.rss_warm_kb, r.rss_end_kb))
    -- the model did learn something: the summed loss starts near log 2 + log 2 = 1.39
    assert.is_true(r.loss < 1.2, 'final loss ' .. r.loss)
    -- and the loop's tensors are released by the GC alone
    assert.is_true(lg.memory().live_bytes < 50e6)
  end)
end)
