-- End-to-end training: small nets on fixed, seeded synthetic problems reach a stated loss.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'

-- Points uniform in [-2, 2]^2, class 1 inside the unit circle, 2 outside, with the
-- band 0.8 < r < 1.2 left out so a perfect classifier exists (not linearly separable).
local function rings()
  lg.manual_seed(7)
  local xs, ys = {}, {}
  for _, p in ipairs((lg.rand(400, 2) * 4 - 2):totable()) do
    local r = math.sqrt(p[1] ^ 2 + p[2] ^ 2)
    if r < 0.8 or r > 1.2 then
      xs[#xs + 1] = p
      ys[#ys + 1] = r < 1 and 1 or 2
    end
  end
  return lg.tensor(xs), lg.tensor(ys, { dtype = 'int64' })
end

-- 8x8 noisy images holding one horizontal (class 1) or vertical (class 2) bar.
local function bars(n)
  lg.manual_seed(5)
  local t, ys = (lg.randn(n, 1, 8, 8) * 0.3):totable(), {}
  for i = 1, n do
    local vertical = i % 2 == 0
    ys[i] = vertical and 2 or 1
    local pos = (i * 7) % 6 + 2
    for k = 1, 8 do
      if vertical then t[i][1][k][pos] = t[i][1][k][pos] + 1 else t[i][1][pos][k] = t[i][1][pos][k] + 1 end
    end
  end
  return lg.tensor(t), lg.tensor(ys, { dtype = 'int64' })
end

local function accuracy(logits, y)
  local pred, labels, right = logits:argmax(2):totable(), y:totable(), 0
  for i = 1, #labels do
    if pred[i] == labels[i] then right = right + 1 end
  end
  return right / #labels
end

local function train_mlp(make_opt, steps)
  local x, y = rings()
  lg.manual_seed(1)
  local net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
  local crit = nn.CrossEntropyLoss()
  local opt = make_opt(net:parameters())
  local first, loss
  for _ = 1, steps do
    opt:zero_grad()
    loss = crit(net(x), y)
    loss:backward()
    opt:step()
    first = first or loss:item()
  end
  return first, loss:item(), accuracy(net(x), y)
end

describe('training', function()
  it('an MLP with SGD + momentum fits the rings problem (loss < 0.05)', function()
    local first, last, acc = train_mlp(function(p) return optim.SGD(p, { lr = 0.1, momentum = 0.9 }) end, 200)
    assert.is_true(first > 0.5, 'starts near chance: ' .. first)
    assert.is_true(last < 0.05, 'final loss ' .. last)
    assert.are.equal(1, acc)
  end)

  it('an MLP with Adam fits the rings problem (loss < 0.05)', function()
    local first, last, acc = train_mlp(function(p) return optim.Adam(p, { lr = 0.01 }) end, 200)
    assert.is_true(first > 0.5, 'starts near chance: ' .. first)
    assert.is_true(last < 0.05, 'final loss ' .. last)
    assert.are.equal(1, acc)
  end)

  it('is reproducible: the same seeds give bit-identical losses', function()
    local make = function(p) return optim.AdamW(p, { lr = 0.01 }) end
    local _, a = train_mlp(make, 20)
    local _, b = train_mlp(make, 20)
    assert.are.equal(a, b)
  end)

  it('a conv net (Conv2d, BatchNorm2d, MaxPool2d, Linear) with Adam tells bars apart (eval loss < 0.05)', function()
    local x, y = bars(64)
    lg.manual_seed(2)
    local net = nn.Sequential(nn.Conv2d(1, 4, 3, { padding = 1 }), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Dropout(0.1), nn.Linear(64, 2))
    local crit = nn.CrossEntropyLoss()
    local opt = optim.Adam(net, { lr = 0.01 })
    for _ = 1, 100 do
      opt:zero_grad()
      crit(net(x), y):backward()
      opt:step()
    end
    net:evaluate()
    local loss = crit(net(x), y):item()
    assert.is_true(loss < 0.05, 'eval loss ' .. loss)
    assert.are.equal(1, accuracy(net(x), y))
  end)

  it('follows the DANN learning-rate schedule through opt.lr', function()
    local steps = 150
    local first, last = train_mlp(function(p)
      local opt = optim.SGD(p, { lr = 0.5, momentum = 0.9 })
      local step, base = 0, opt.step
      function opt.step(self)
        self.lr = 10 * optim.schedule.dann_lr(step / (steps - 1)) -- 0.1 decaying to ~0.017
        step = step + 1
        return base(self)
      end
      return opt
    end, steps)
    assert.is_true(last < 0.05 and last < first / 10, 'final loss ' .. last)
  end)
end)
