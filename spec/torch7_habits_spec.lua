-- Torch7 habits (issue 16, item 7): `for xb, yb in loader do`, m:backward, m:getParameters,
-- m:zeroGradParameters, seq.modules, optim.sgd / optim.adam in the functional form.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local data = require 'lunagrad.data'

local function max_diff(a, b) return (a - b):abs():max():item() end

local function net64(seed)
  lg.manual_seed(seed or 1)
  return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)):double()
end

describe('DataLoader in a generic for', function()
  local X = lg.arange(1, 11):view(10, 1)
  local y = lg.arange(101, 111)

  it('yields the batches of loader:iter(), one epoch per loop', function()
    local a = data.DataLoader({ X, y }, { batch_size = 4, shuffle = true, seed = 5 })
    local b = data.DataLoader({ X, y }, { batch_size = 4, shuffle = true, seed = 5 })
    for epoch = 1, 2 do
      local it, n = b:iter(), 0
      for xb, yb in a do
        n = n + 1
        local xr, yr = it()
        assert.are.same(xr:totable(), xb:totable())
        assert.are.same(yr:totable(), yb:totable())
        assert.are.same(xb:view(-1):totable(), (yb - 100):totable())
      end
      assert.are.equal(3, n)
      assert.is_nil(it())
      assert.are.equal(epoch, a.epoch)
    end
  end)

  it('starts a fresh epoch after a loop left with break', function()
    local loader = data.DataLoader({ X, y }, { batch_size = 3 })
    for _, yb in loader do
      assert.are.same({ 101, 102, 103 }, yb:totable())
      break
    end
    local firsts = {}
    for _, yb in loader do firsts[#firsts + 1] = yb:totable()[1] end
    assert.are.same({ 101, 104, 107, 110 }, firsts)
    assert.are.equal(2, loader.epoch)
    -- and :iter() keeps working beside it
    local n = 0
    for xb in data.DataLoader(X, { batch_size = 5 }):iter() do n = n + xb:size(1) end
    assert.are.equal(10, n)
  end)
end)

describe('m:backward(input, gradOutput)', function()
  it('returns gradInput and accumulates parameter gradients as autograd does', function()
    local net = net64(2)
    lg.manual_seed(9)
    local x, g = lg.randn(5, 3, { dtype = 'float64' }), lg.randn(5, 2, { dtype = 'float64' })
    local gin = net:backward(x, g)
    assert.are.equal(gin, net.gradInput)
    -- reference: autograd of <net(x), g> on a twin with the same weights
    local twin = net64(2)
    local xr = x:clone()
    xr.requires_grad = true
    local out = twin(xr)
    local refs = lg.grad((out * g):sum(), { xr, twin[1].weight, twin[1].bias, twin[3].weight })
    assert.is_true(max_diff(gin, refs[1]) < 1e-12)
    assert.is_true(max_diff(net[1].weight.grad, refs[2]) < 1e-12)
    assert.is_true(max_diff(net[1].bias.grad, refs[3]) < 1e-12)
    assert.is_true(max_diff(net[3].weight.grad, refs[4]) < 1e-12)
    -- a second call adds (Torch7's accGradParameters), gradInput does not
    local gin2 = net:backward(x, g)
    assert.is_true(max_diff(gin2, refs[1]) < 1e-12)
    assert.is_true(max_diff(net[1].weight.grad, refs[2] * 2) < 1e-12)
    -- the scale argument multiplies gradOutput
    net:zero_grad()
    local gin3 = net:backward(x, g, 0.5)
    assert.is_true(max_diff(gin3, refs[1] * 0.5) < 1e-12)
    assert.is_true(max_diff(net[1].weight.grad, refs[2] * 0.5) < 1e-12)
  end)

  it('chains layer by layer like Torch7 (crit:backward, then each module from the top)', function()
    local net = net64(4)
    local crit = nn.CrossEntropyLoss()
    lg.manual_seed(11)
    local x, t = lg.randn(6, 3, { dtype = 'float64' }), lg.tensor({ 1, 2, 2, 1, 2, 1 }, { dtype = 'int64' })
    local h1 = net[1]:forward(x)
    local h2 = net[2]:forward(h1)
    local out = net[3]:forward(h2)
    local dout = crit:backward(out, t)
    local g2 = net[3]:backward(h2, dout)
    local g1 = net[2]:backward(h1, g2)
    local g0 = net[1]:backward(x, g1)
    local twin = net64(4)
    local xr = x:clone()
    xr.requires_grad = true
    local refs = lg.grad(crit(twin(xr), t), { xr, twin[1].weight, twin[3].bias })
    assert.is_true(max_diff(g0, refs[1]) < 1e-12)
    assert.is_true(max_diff(net[1].weight.grad, refs[2]) < 1e-12)
    assert.is_true(max_diff(net[3].bias.grad, refs[3]) < 1e-12)
    -- crit:backward is d loss / d input: softmax - onehot, over N for the mean
    local p = out:softmax(2):totable()
    for i = 1, 6 do
      for c = 1, 2 do
        local want = (p[i][c] - (t:totable()[i] == c and 1 or 0)) / 6
        assert.is_true(math.abs(dout:totable()[i][c] - want) < 1e-12)
      end
    end
  end)

  it('keeps BatchNorm\'s running statistics as the forward left them, refuses training-mode Dropout', function()
    lg.manual_seed(5)
    local net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)):double()
    local x = lg.randn(8, 3, { dtype = 'float64' })
    local out = net:forward(x)
    local rm = net[2].running_mean:clone()
    local gin = net:backward(x, lg.ones(out:shape(), { dtype = 'float64' }):mul_(0.25))
    assert.are.same(rm:totable(), net[2].running_mean:totable())
    assert.are.equal(1, net[2].num_batches_tracked:item())
    assert.are.same({ 8, 3 }, gin:shape())
    local drop = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    local ok, err = pcall(drop.backward, drop, lg.randn(2, 3), lg.randn(2, 3))
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("module '2' (nn.Dropout) is in training mode", 1, true), err)
    drop:evaluate()
    assert.are.same({ 2, 3 }, drop:backward(lg.randn(2, 3), lg.randn(2, 3)):shape())
  end)
end)

describe('m:getParameters()', function()
  it('gives flat parameters and gradients whose views are the module\'s tensors', function()
    local net = net64(3)
    local before = {}
    for i, p in ipairs(net:parameters()) do before[i] = p:clone() end
    lg.manual_seed(1)
    local x = lg.randn(4, 3, { dtype = 'float64' })
    net(x):sum():backward() -- existing gradients are kept
    local g_before = net[3].weight.grad:clone()
    local P, G = net:getParameters()
    assert.are.equal(net:num_parameters(), P:numel())
    assert.are.equal(26, G:numel())
    assert.are.equal('float64', P.dtype)
    local off = 1
    for i, p in ipairs(net:parameters()) do
      assert.are.equal(P:storage_id(), p:storage_id())
      assert.are.same(before[i]:totable(), p:totable())
      assert.are.same(before[i]:view(-1):totable(), P:narrow(1, off, p:numel()):totable())
      off = off + p:numel()
    end
    assert.are.same(g_before:view(-1):totable(), G:narrow(1, 12 + 4 + 1, 8):totable())
    -- writing the flat tensor writes the module's weights
    P:fill(0.5)
    assert.are.same({ 0.5, 0.5 }, net[3].bias:totable())
    -- a second call returns the same two tensors
    local P2, G2 = net:getParameters()
    assert.are.equal(P:storage_id(), P2:storage_id())
    assert.are.equal(G:storage_id(), G2:storage_id())
  end)

  it('trains a net through the flat tensor exactly as per-parameter updates do', function()
    local a, b = net64(7), net64(7)
    lg.manual_seed(8)
    local x, t = lg.randn(16, 3, { dtype = 'float64' }), lg.tensor({ 1, 2, 1, 1, 2, 2, 1, 2, 1, 2, 2, 1, 1, 1, 2, 2 })
    local crit = nn.CrossEntropyLoss()
    local P, G = a:getParameters()
    local losses = {}
    for step = 1, 20 do
      -- a: Torch7 style through the flat tensors
      local _, fs = optim.sgd(function(p)
        assert.are.equal(P, p)
        G:zero_()
        local out = a:forward(x)
        local loss = crit:forward(out, t)
        a:backward(x, crit:backward(out, t))
        return loss:item(), G
      end, P, { learningRate = 0.3 })
      losses[step] = fs[1]
      -- b: PyTorch style, parameter by parameter, the same arithmetic
      b:zero_grad()
      crit(b(x), t):backward()
      lg.no_grad(function()
        for _, p in ipairs(b:parameters()) do p:sub_(p.grad, { alpha = 0.3 }) end
      end)
    end
    local pa, pb = a:parameters(), b:parameters()
    local moved = 0
    for i = 1, #pa do
      assert.is_true(max_diff(pa[i], pb[i]) < 1e-12, 'parameter ' .. i)
      moved = math.max(moved, max_diff(pa[i], net64(7):parameters()[i]))
    end
    assert.is_true(moved > 0.01)
    assert.is_true(losses[20] < losses[1] - 0.05, losses[1] .. ' -> ' .. losses[20])
  end)

  it('refreshes the flat gradients when feval only calls loss:backward()', function()
    local a, b = net64(12), net64(12)
    local P, G = a:getParameters()
    lg.manual_seed(13)
    local x, target = lg.randn(8, 3, { dtype = 'float64' }), lg.randn(8, 2, { dtype = 'float64' })
    local mse = nn.MSELoss()
    local opt = optim.SGD(b:parameters(), { lr = 0.1 })
    for _ = 1, 5 do
      optim.sgd(function()
        a:zero_grad()
        local loss = mse(a(x), target)
        loss:backward()
        return loss:item(), G
      end, P, { learningRate = 0.1 })
      opt:zero_grad()
      mse(b(x), target):backward()
      opt:step()
    end
    for i, p in ipairs(a:parameters()) do assert.is_true(max_diff(p, b:parameters()[i]) < 1e-12) end
  end)
end)

describe('m:zeroGradParameters() and seq.modules', function()
  it('zeroes gradients in place (kept as tensors)', function()
    local net = net64(1)
    net(lg.randn(2, 3, { dtype = 'float64' })):sum():backward()
    assert.is_true(net[1].weight.grad:abs():sum():item() > 0)
    assert.are.equal(net, net:zeroGradParameters())
    for _, p in ipairs(net:parameters()) do assert.are.equal(0, p.grad:abs():sum():item()) end
    local _, G = net:getParameters()
    net(lg.randn(2, 3, { dtype = 'float64' })):sum():backward()
    net:getParameters()
    assert.is_true(G:abs():sum():item() > 0)
    net:zeroGradParameters()
    assert.are.equal(0, G:abs():sum():item())
  end)

  it('seq.modules lists the children; seq:modules() still walks the tree', function()
    local inner = nn.Sequential(nn.ReLU())
    local seq = nn.Sequential(nn.Linear(2, 2), inner)
    assert.are.equal(2, #seq.modules)
    assert.are.equal(seq[1], seq.modules[1])
    assert.are.equal(inner, seq.modules[2])
    seq:add(nn.Tanh())
    assert.are.equal(3, #seq.modules)
    assert.are.equal(seq[3], seq.modules[3])
    local all = seq:modules()
    assert.are.equal(5, #all) -- seq, Linear, inner, ReLU, Tanh
    assert.are.equal(inner[1], all[4])
    local names = {}
    for i, m in ipairs(seq.modules) do names[i] = m.__typename end
    assert.are.same({ 'nn.Linear', 'nn.Sequential', 'nn.Tanh' }, names)
  end)
end)

describe('optim.sgd / optim.adam (Torch7 functional form)', function()
  -- f(x) = sum(x^2) / 2, df/dx = x
  local function quadratic(x) return (x * x):sum():item() / 2, x:clone() end

  it('sgd follows Torch7: momentum with dampening = momentum by default, weight decay, lr decay', function()
    local x = lg.tensor({ 1, 2 }, { dtype = 'float64' })
    local config = { learningRate = 0.1, momentum = 0.9 }
    local x1, fs = optim.sgd(quadratic, x, config)
    assert.are.equal(x, x1)
    assert.are.same({ 2.5 }, fs)
    assert.are.same({ 0.9, 1.8 }, x:totable())
    optim.sgd(quadratic, x, config) -- buf = 0.9 [1,2] + 0.1 [0.9,1.8] = [0.99, 1.98]
    assert.is_true(math.abs(x:totable()[1] - 0.801) < 1e-15 and math.abs(x:totable()[2] - 1.602) < 1e-15)
    assert.are.equal(2, config.evalCounter)
    local y = lg.tensor({ 2 }, { dtype = 'float64' })
    optim.sgd(quadratic, y, { learningRate = 0.1, weightDecay = 0.5 }) -- 2 - 0.1 * 1.5 * 2
    assert.is_true(math.abs(y:item() - 1.7) < 1e-15)
    local z, st = lg.tensor({ 1 }, { dtype = 'float64' }), {}
    local cfg = { learningRate = 0.5, learningRateDecay = 1 }
    optim.sgd(quadratic, z, cfg, st) -- lr 0.5: 0.5
    optim.sgd(quadratic, z, cfg, st) -- lr 0.25: 0.375
    assert.is_true(math.abs(z:item() - 0.375) < 1e-15)
    assert.is_nil(cfg.evalCounter)
    assert.are.equal(2, st.evalCounter)
  end)

  it('adam follows Torch7 and equals optim.Adam when epsilon is 0', function()
    local x = lg.tensor({ 1, -2 }, { dtype = 'float64' })
    local state = {}
    optim.adam(quadratic, x, { learningRate = 0.1 }, state)
    -- t=1: m = 0.1 g, v = 0.001 g^2; x -= 0.1 * sqrt(0.001)/0.1 * m / (sqrt(v) + 1e-8)
    for i, x0 in ipairs { 1, -2 } do
      local m, v = 0.1 * x0, 0.001 * x0 * x0
      local want = x0 - 0.1 * math.sqrt(0.001) / 0.1 * m / (math.sqrt(v) + 1e-8)
      assert.is_true(math.abs(x:totable()[i] - want) < 1e-14)
    end
    assert.are.equal(1, state.t)
    -- epsilon 0: the same update as PyTorch's rule in optim.Adam
    local a = lg.tensor({ 0.3, -1.2, 2 }, { dtype = 'float64' })
    local b = a:clone()
    b.requires_grad = true
    local opt = optim.Adam({ b }, { lr = 0.05, eps = 0 })
    local st = {}
    for _ = 1, 10 do
      optim.adam(quadratic, a, { learningRate = 0.05, epsilon = 0 }, st)
      opt:zero_grad()
      local loss = (b * b):sum() / 2
      loss:backward()
      opt:step()
    end
    assert.is_true(max_diff(a, b:detach()) < 1e-12)
  end)

  it('rejects PyTorch option names and bad feval results with clear messages', function()
    local x = lg.zeros(2)
    local ok, err = pcall(optim.sgd, quadratic, x, { lr = 0.1 })
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("unknown config key 'lr' (Torch7's name is learningRate)", 1, true), err)
    ok, err = pcall(optim.adam, function() return 1 end, x)
    assert.is_truthy(tostring(err):find('feval must return f, df/dx', 1, true), err)
    ok, err = pcall(optim.sgd, function() return 1, lg.zeros(3) end, x)
    assert.is_truthy(tostring(err):find('df/dx has shape [3], x [2]', 1, true), err)
  end)
end)
