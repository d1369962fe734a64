-- Soak test: DANN training steps on two moons (MLP features, label classifier,
-- GRL + domain classifier, SGD with momentum) with no collectgarbage() calls,
-- checking that memory stays flat. Run by `make soak`:
--   lua5.4 tools/soak.lua [steps=10000]
-- Prints lunagrad's live tensor bytes and the process RSS (VmRSS) after a
-- warm-up and at the end, and exits 1 if either grew by more than 5%.
--
-- Garbage is collected by the Lua GC whenever it decides to, so a single
-- sample of live_bytes lands anywhere on the GC's sawtooth. Each figure is
-- therefore the maximum over a window of steps: the first window starts
-- after warm-up (10% of the steps), the last one is the final 10%. A leak
-- raises the peak of every later window; the sawtooth does not.
-- spec/soak_spec.lua runs the same check on 1,000 steps (this file returns
-- the soak function when loaded with the argument '--module').
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local data = require 'lunagrad.data'

local function rss_kb()
  local f = io.open('/proc/self/status', 'r')
  if not f then return 0 end
  local s = f:read('a')
  f:close()
  return tonumber(s:match('VmRSS:%s*(%d+)')) or 0
end

--- Runs `steps` DANN steps; returns a table of figures and whether memory stayed flat.
local function soak(steps, tolerance)
  tolerance = tolerance or 0.05
  local window = math.max(10, steps // 10)
  lg.manual_seed(1)
  local Xs, ys = data.two_moons { n = 200, noise = 0.1, seed = 1 }
  local Xt = data.two_moons { n = 200, noise = 0.1, seed = 2, rotate = 35 }
  local domain = lg.cat({ lg.zeros(200, 1), lg.ones(200, 1) }, 1)
  local X_all = lg.cat({ Xs, Xt }, 1)
  local features = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
  local classifier = nn.Linear(32, 2)
  local grl = nn.GradientReversal(0)
  local discriminator = nn.Sequential(grl, nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
  local opt = optim.SGD(nn.parameters(features, classifier, discriminator), { lr = 0.01, momentum = 0.9 })
  local ce, bce = nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss()

  local first = { live = 0, rss = 0 } -- peaks over the window after warm-up
  local last = { live = 0, rss = 0 }  -- peaks over the final window
  local warm_from, warm_to, last_from = window + 1, 2 * window, steps - window + 1
  local loss_value
  local t0 = os.clock()
  for step = 1, steps do
    local p = (step - 1) / steps
    grl:setAlpha(optim.schedule.dann_lambda(p))
    opt.lr = optim.schedule.dann_lr(p, { mu0 = 0.01 })
    opt:zero_grad()
    local f = features(X_all)
    local loss = ce(classifier(f:narrow(1, 1, 200)), ys) + bce(discriminator(f), domain)
    loss:backward()
    opt:step()
    if step == steps then loss_value = loss:item() end
    local w = (step >= warm_from and step <= warm_to) and first or (step >= last_from and last) or nil
    if w then
      local live = lg.memory().live_bytes
      if live > w.live then w.live = live end
      if step % 10 == 0 or step == warm_to or step == steps then
        local r = rss_kb()
        if r > w.rss then w.rss = r end
      end
    end
  end
  local growth_live = (last.live - first.live) / first.live
  local growth_rss = (last.rss - first.rss) / first.rss
  return {
    steps = steps, seconds = os.clock() - t0, loss = loss_value,
    live_warm = first.live, live_end = last.live, growth_live = growth_live,
    rss_warm_kb = first.rss, rss_end_kb = last.rss, growth_rss = growth_rss,
    peak_bytes = lg.memory().peak_bytes,
    ok = growth_live <= tolerance and growth_rss <= tolerance,
  }
end

if ... == '--module' then return soak end

local steps = tonumber(arg and arg[1]) or 10000
local r = soak(steps)
print(string.format('soak: %d DANN steps in %.1f s CPU (final loss %.4f)', r.steps, r.seconds, r.loss))
print(string.format('  live tensor bytes (window peak): %d after warm-up, %d at the end (%+.2f%%)',
  r.live_warm, r.live_end, 100 * r.growth_live))
print(string.format('  RSS (window peak):               %d kB after warm-up, %d kB at the end (%+.2f%%)',
  r.rss_warm_kb, r.rss_end_kb, 100 * r.growth_rss))
print(string.format('  lunagrad peak bytes: %d', r.peak_bytes))
if not r.ok then
  print('soak: FAILED, memory grew by more than 5%')
  os.exit(1)
end
print('soak: ok (growth within 5%)')
