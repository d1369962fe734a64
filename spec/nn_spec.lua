-- lunagrad.nn: modules' forward values, parameters, modes, state dicts, save/load.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local F = nn.functional

-- |a - e| <= atol + rtol*|e| elementwise over nested tables / numbers.
local function close(actual, expected, rtol, atol, path)
  rtol, atol, path = rtol or 1e-5, atol or 1e-6, path or 'value'
  if type(expected) == 'table' then
    assert(type(actual) == 'table', path .. ': expected a table, got ' .. tostring(actual))
    assert(#actual == #expected, string.format('%s: length %d, expected %d', path, #actual, #expected))
    for i = 1, #expected do close(actual[i], expected[i], rtol, atol, path .. '[' .. i .. ']') end
  else
    assert(math.abs(actual - expected) <= atol + rtol * math.abs(expected),
      string.format('%s: got %.9g, expected %.9g', path, actual, expected))
  end
end

local function values(t) return lg.is_tensor(t) and t:totable() or t end

local function names_of(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e[1] end
  return out
end

local function shapes_of(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e[2]:shape() end
  return out
end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error')
  return tostring(err)
end

local function tmpfile()
  local path = os.tmpname()
  os.remove(path)
  return path .. '.safetensors'
end

describe('nn.Linear', function()
  it('computes x W^T + b with weight (out x in)', function()
    local m = nn.Linear(2, 3)
    m:load_state_dict { weight = lg.tensor { { 1, 2 }, { 3, 4 }, { 5, 6 } }, bias = lg.tensor { 0.5, -1, 2 } }
    local y = m(lg.tensor { { 1, -1 }, { 2, 0.5 } })
    assert.are.same({ { -0.5, -2, 1 }, { 3.5, 7, 15 } }, y:totable())
    assert.are.same(y:totable(), m:forward(lg.tensor { { 1, -1 }, { 2, 0.5 } }):totable())
  end)

  it('has parameters weight then bias, or weight only without bias', function()
    local m = nn.Linear(4, 3)
    local named = m:named_parameters()
    assert.are.same({ 'weight', 'bias' }, names_of(named))
    assert.are.same({ { 3, 4 }, { 3 } }, shapes_of(named))
    assert.are.equal(2, #m:parameters())
    assert.is_true(m.weight.requires_grad)
    local nb = nn.Linear(4, 3, false)
    assert.are.same({ 'weight' }, names_of(nb:named_parameters()))
    assert.is_nil(nb.bias)
    assert.are.same({ { 2.5, 2.5, 2.5 } }, (function()
      nb:load_state_dict { weight = lg.full({ 3, 4 }, 0.5) }
      return nb(lg.tensor { { 1, 2, 3, -1 } }):totable()
    end)())
  end)

  it('initialises weight and bias in U(-1/sqrt(in), 1/sqrt(in)) from the seeded generator', function()
    lg.manual_seed(7)
    local m = nn.Linear(25, 40)
    local bound = 1 / math.sqrt(25)
    for _, p in ipairs(m:parameters()) do
      local lo, hi = math.huge, -math.huge
      for _, v in ipairs(p:contiguous():view(p:numel()):totable()) do
        lo, hi = math.min(lo, v), math.max(hi, v)
      end
      assert.is_true(lo >= -bound and hi <= bound, 'values inside the bound')
      assert.is_true(lo < -0.8 * bound and hi > 0.8 * bound, 'values fill the bound')
    end
    lg.manual_seed(7)
    local again = nn.Linear(25, 40)
    assert.are.same(m.weight:totable(), again.weight:totable())
    assert.are.same(m.bias:totable(), again.bias:totable())
  end)

  it('accepts 3-d input and an options table with dtype', function()
    local m = nn.Linear(2, 1, { bias = false, dtype = 'float64' })
    assert.are.equal('float64', m.weight.dtype)
    m:load_state_dict { weight = lg.tensor({ { 2, -1 } }, { dtype = 'float64' }) }
    local y = m(lg.tensor({ { { 1, 1 }, { 3, 1 } } }, { dtype = 'float64' }))
    assert.are.same({ 1, 2, 1 }, y:shape())
    assert.are.same({ { { 1 }, { 5 } } }, y:totable())
  end)

  it('reports a wrong feature count at the caller', function()
    local m = nn.Linear(10, 5)
    local err = error_of(function() return m(lg.zeros(3, 7)) end)
    assert.truthy(err:find('nn_spec.lua:%d+: lunagrad%.nn%.Linear: expected input with 10 features, got 7'), err)
    local seq = nn.Sequential(nn.ReLU(), m)
    err = error_of(function() return seq(lg.zeros(3, 7)) end)
    assert.truthy(err:find('nn_spec.lua:%d+: in child 2 %(nn%.Linear%(10 %-> 5%)%) of nn%.Sequential: '
      .. 'lunagrad%.nn%.Linear: expected input with 10 features, got 7'), err)
    err = error_of(nn.Linear, 0, 3)
    assert.truthy(err:find('lunagrad.nn.Linear: in_features must be an integer >= 1, got 0', 1, true), err)
  end)
end)

describe('nn.Conv2d', function()
  local x = lg.tensor { { { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } } } }
  local w = lg.tensor { { { { 1, 2 }, { 3, 4 } } } }

  it('cross-correlates with weight (cout, cin, kh, kw) and adds the bias', function()
    local m = nn.Conv2d(1, 1, 2)
    assert.are.same({ 'weight', 'bias' }, names_of(m:named_parameters()))
    assert.are.same({ { 1, 1, 2, 2 }, { 1 } }, shapes_of(m:named_parameters()))
    m:load_state_dict { weight = w, bias = lg.tensor { 0.5 } }
    assert.are.same({ { { { 37.5, 47.5 }, { 67.5, 77.5 } } } }, m(x):totable())
  end)

  it('honours stride and padding (options table or Torch7 positional)', function()
    for _, m in ipairs { nn.Conv2d(1, 1, 2, { stride = 2, padding = 1 }), nn.Conv2d(1, 1, { 2, 2 }, 2, 1) } do
      m:load_state_dict { weight = w, bias = lg.tensor { 0.5 } }
      assert.are.same({ { { { 4.5, 18.5 }, { 36.5, 77.5 } } } }, m(x):totable())
    end
    local unbatched = nn.Conv2d(1, 1, 2, { bias = false })
    unbatched:load_state_dict { weight = w }
    assert.are.same({ { { 37, 47 }, { 67, 77 } } }, unbatched(x:select(1, 1)):totable())
  end)

  it('initialises in U(-1/sqrt(fan_in), ...) with fan_in = cin*kh*kw and names the expected shape', function()
    lg.manual_seed(3)
    local m = nn.Conv2d(3, 8, { 3, 2 })
    assert.are.same({ 8, 3, 3, 2 }, m.weight:shape())
    local bound = 1 / math.sqrt(3 * 3 * 2)
    local hi = 0
    for _, v in ipairs(m.weight:contiguous():view(m.weight:numel()):totable()) do hi = math.max(hi, math.abs(v)) end
    assert.is_true(hi <= bound and hi > 0.8 * bound)
    local err = error_of(function() return m(lg.zeros(2, 4, 8, 8)) end)
    assert.truthy(err:find('lunagrad.nn.Conv2d: expected input [N,3,H,W] or [3,H,W], got [2,4,8,8]', 1, true), err)
  end)
end)

describe('pooling modules', function()
  local x = lg.arange(1, 17):float():view(1, 1, 4, 4)

  it('MaxPool2d and AvgPool2d default the stride to the kernel size', function()
    assert.are.same({ { { { 6, 8 }, { 14, 16 } } } }, nn.MaxPool2d(2)(x):totable())
    assert.are.same({ { { { 3.5, 5.5 }, { 11.5, 13.5 } } } }, nn.AvgPool2d(2)(x):totable())
    assert.are.same({ 2, 2 }, nn.MaxPool2d(2).stride)
  end)

  it('takes stride, padding and non-square kernels', function()
    assert.are.same({ { { { 6, 7, 8 }, { 10, 11, 12 }, { 14, 15, 16 } } } }, nn.MaxPool2d(2, 1)(x):totable())
    assert.are.same({ { { { 2, 4 }, { 6, 8 }, { 10, 12 }, { 14, 16 } } } }, nn.MaxPool2d({ 1, 2 })(x):totable())
    -- padding 1, kernel 2, stride 2: windows {pad, 1}, {2, 3}, {4, pad} per row.
    assert.are.same({ { { { 1, 3, 4 }, { 9, 11, 12 }, { 13, 15, 16 } } } },
      nn.MaxPool2d(2, { stride = 2, padding = 1 })(x):totable())
    assert.truthy(tostring(nn.AvgPool2d(3, 2)):find('nn.AvgPool2d(kernel_size=3, stride=2, padding=0)', 1, true))
  end)
end)

describe('activation modules', function()
  local x = lg.tensor { -2, -0.5, 0.25, 1.5 }

  it('ReLU, LeakyReLU, Sigmoid, Tanh match the formulas', function()
    assert.are.same({ 0, 0, 0.25, 1.5 }, nn.ReLU()(x):totable())
    close(nn.LeakyReLU(0.1)(x):totable(), { -0.2, -0.05, 0.25, 1.5 })
    close(nn.LeakyReLU()(x):totable(), { -0.02, -0.005, 0.25, 1.5 })
    local sig, th = {}, {}
    for i, v in ipairs(x:totable()) do
      sig[i] = 1 / (1 + math.exp(-v))
      th[i] = (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v))
    end
    close(nn.Sigmoid()(x):totable(), sig)
    close(nn.Tanh()(x):totable(), th)
    assert.are.same({}, nn.ReLU():parameters())
  end)

  it('Softmax / LogSoftmax / Identity / Flatten', function()
    local z = lg.tensor { { 1, 2, 3 } }
    local s = math.exp(1) + math.exp(2) + math.exp(3)
    close(nn.Softmax(2)(z):totable(), { { math.exp(1) / s, math.exp(2) / s, math.exp(3) / s } })
    close(nn.LogSoftmax()(z):totable(), { { 1 - math.log(s), 2 - math.log(s), 3 - math.log(s) } })
    assert.are.equal(z, nn.Identity()(z))
    assert.are.same({ 2, 60 }, nn.Flatten()(lg.zeros(2, 3, 4, 5)):shape())
    assert.are.same({ 120 }, nn.Flatten(1)(lg.zeros(2, 3, 4, 5)):shape())
    assert.are.same({ 2, 12, 5 }, nn.Flatten(2, 3)(lg.zeros(2, 3, 4, 5)):shape())
  end)
end)

describe('nn.Dropout', function()
  it('drops about p of the elements and scales the rest by 1/(1-p) in training mode', function()
    lg.manual_seed(11)
    local d = nn.Dropout(0.25)
    assert.is_true(d.training)
    local y = d(lg.ones(2000)):totable()
    local zeros = 0
    for _, v in ipairs(y) do
      if v == 0 then zeros = zeros + 1 else close(v, 1 / 0.75) end
    end
    assert.is_true(zeros > 400 and zeros < 600, 'dropped ' .. zeros .. ' of 2000')
  end)

  it('is the identity in evaluate mode and for p = 0', function()
    local x = lg.randn(50)
    local d = nn.Dropout(0.5):evaluate()
    assert.is_false(d.training)
    assert.are.same(x:totable(), d(x):totable())
    assert.are.same(x:totable(), nn.Dropout(0)(x):totable())
    assert.are.equal(0.5, nn.Dropout().p)
    assert.truthy(error_of(nn.Dropout, 1.5):find('p must be a number in [0, 1], got 1.5', 1, true))
  end)
end)

describe('nn.BatchNorm1d / BatchNorm2d', function()
  local x = lg.tensor { { 1, 2 }, { 3, 6 }, { 5, 10 } } -- means 3, 6; biased vars 8/3, 32/3

  it('normalises with batch statistics and updates the running stats in training mode', function()
    local bn = nn.BatchNorm1d(2)
    assert.are.same({ 'weight', 'bias' }, names_of(bn:named_parameters()))
    assert.are.same({ 'running_mean', 'running_var', 'num_batches_tracked' }, names_of(bn:named_buffers()))
    local y = bn(x)
    local s1, s2 = math.sqrt(8 / 3 + 1e-5), math.sqrt(32 / 3 + 1e-5)
    close(y:totable(), { { -2 / s1, -4 / s2 }, { 0, 0 }, { 2 / s1, 4 / s2 } })
    close(bn.running_mean:totable(), { 0.3, 0.6 })
    close(bn.running_var:totable(), { 0.9 + 0.1 * 4, 0.9 + 0.1 * 16 }) -- unbiased 4 and 16
    assert.are.equal(1, bn.num_batches_tracked:item())
    bn(x)
    assert.are.equal(2, bn.num_batches_tracked:item())
    close(bn.running_mean:totable(), { 0.3 * 0.9 + 0.3, 0.6 * 0.9 + 0.6 })
  end)

  it('uses the running statistics in evaluate mode and leaves them alone', function()
    local bn = nn.BatchNorm1d(2, { momentum = 0.5, eps = 0 })
    bn:load_state_dict {
      weight = lg.tensor { 2, 1 }, bias = lg.tensor { 0, 1 },
      running_mean = lg.tensor { 1, 2 }, running_var = lg.tensor { 4, 16 },
      num_batches_tracked = lg.tensor(5, { dtype = 'int64' }),
    }
    bn:evaluate()
    close(bn(x):totable(), { { 0, 1 }, { 2, 2 }, { 4, 3 } })
    assert.are.same({ 1, 2 }, bn.running_mean:totable())
    assert.are.equal(5, bn.num_batches_tracked:item())
  end)

  it('BatchNorm2d normalises per channel over N, H, W and checks shapes', function()
    local bn = nn.BatchNorm2d(2, { affine = false })
    assert.are.same({}, bn:parameters())
    local input = lg.tensor { { { { 1, 3 } }, { { 10, 10 } } }, { { { 5, 7 } }, { { 10, 10 } } } } -- [2,2,1,2]
    local y = bn(input)
    local s = math.sqrt(5 + 1e-5) -- channel 1: mean 4, biased var 5
    close(y:totable(), { { { { -3 / s, -1 / s } }, { { 0, 0 } } }, { { { 1 / s, 3 / s } }, { { 0, 0 } } } })
    close(bn.running_mean:totable(), { 0.4, 1.0 })
    close(bn.running_var:totable(), { 0.9 + 0.1 * 20 / 3, 0.9 })
    local err = error_of(function() return bn(lg.zeros(2, 3, 4, 4)) end)
    assert.truthy(err:find('lunagrad.nn.BatchNorm2d: expected input [N,2,H,W], got [2,3,4,4]', 1, true), err)
    err = error_of(function() return nn.BatchNorm1d(3)(lg.zeros(1, 3)) end)
    assert.truthy(err:find('more than 1 value per channel', 1, true), err)
  end)
end)

describe('nn.GradientReversal', function()
  it('is the identity forward and multiplies the gradient by -alpha', function()
    local x = lg.tensor({ 1, -2, 3 }, { requires_grad = true })
    local grl = nn.GradientReversal(0.5)
    local y = grl(x)
    assert.are.same({ 1, -2, 3 }, y:totable())
    ;(y * lg.tensor { 1, 2, 4 }):sum():backward()
    assert.are.same({ -0.5, -1, -2 }, x.grad:totable())
    assert.are.equal(1, nn.GradientReversal().alpha)
  end)

  it('setAlpha and the Torch7 alias setLambda change the coefficient', function()
    local grl = nn.GradientReversal()
    assert.are.equal(grl, grl:setAlpha(2))
    local x = lg.tensor({ 1, 1 }, { requires_grad = true })
    grl(x):sum():backward()
    assert.are.same({ -2, -2 }, x.grad:totable())
    grl:setLambda(0.25)
    assert.are.equal(0.25, grl.alpha)
    x.grad = nil
    grl(x):sum():backward()
    assert.are.same({ -0.25, -0.25 }, x.grad:totable())
    assert.truthy(error_of(grl.setAlpha, grl, 0 / 0):find('alpha must be a finite number', 1, true))
  end)

  it('keeps alpha in its state as buffer alpha', function()
    local grl = nn.GradientReversal(0.1)
    assert.are.same({}, grl:parameters())
    assert.are.same({ 'alpha' }, names_of(grl:named_buffers()))
    grl:setAlpha(0.7)
    assert.are.equal(0.7, grl:state_dict().alpha:item())
    local other = nn.GradientReversal()
    other:load_state_dict(grl:state_dict())
    assert.are.equal(0.7, other.alpha)
    other.alpha = 0.3 -- the field is the source of truth
    assert.are.equal(0.3, other:state_dict().alpha:item())
  end)
end)

describe('nn.Sequential', function()
  it('chains modules given as arguments or with :add, indexable and with a length', function()
    local a, b = nn.Linear(2, 3), nn.ReLU()
    local s1 = nn.Sequential(a, b)
    local s2 = nn.Sequential():add(a):add(b)
    for _, s in ipairs { s1, s2 } do
      assert.are.equal(2, #s)
      assert.are.equal(a, s[1])
      assert.are.equal(b, s:get(2))
      assert.are.equal(b, s:get(-1))
      assert.are.same({ '1.weight', '1.bias' }, names_of(s:named_parameters()))
    end
    a:load_state_dict { weight = lg.tensor { { 1, 0 }, { 0, 1 }, { 1, 1 } }, bias = lg.tensor { 0, 0, -5 } }
    assert.are.same({ { 1, 0, 0 } }, s1(lg.tensor { { 1, -2 } }):totable())
    assert.truthy(error_of(s1.get, s1, 3):find('index 3 out of range (2 modules)', 1, true))
    assert.truthy(error_of(nn.Sequential, a, 42):find('argument #2 must be a module, got number', 1, true))
  end)

  it('prints its architecture', function()
    local s = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Dropout(0.1), nn.Linear(3, 2, false)))
    assert.are.equal(table.concat({
      'nn.Sequential(',
      '  (1): nn.Linear(in_features=4, out_features=3, bias=true)',
      '  (2): nn.ReLU()',
      '  (3): nn.Sequential(',
      '    (1): nn.Dropout(p=0.1)',
      '    (2): nn.Linear(in_features=3, out_features=2, bias=false)',
      '  )',
      ')',
    }, '\n'), tostring(s))
    assert.are.same({ '1.weight', '1.bias', '3.2.weight' }, names_of(s:named_parameters()))
  end)
end)

describe('nn.class custom modules', function()
  local SpecNet = nn.class('SpecNet', nn.Module)
  function SpecNet:__init(hidden)
    self.hidden = hidden
    self.features = nn.Sequential(nn.Linear(2, hidden), nn.ReLU())
    self.scale = lg.ones({ 1 }, { requires_grad = true }) -- a tensor that requires grad is a parameter
    self.head = nn.Linear(hidden, 3)
    self.grl = nn.GradientReversal(0.5)
  end
  function SpecNet:forward(x)
    self.last_hidden = self.features(x) -- a cached activation is not a parameter
    return self.head(self.grl(self.last_hidden)) * self.scale
  end

  it('registers children and parameters in assignment order with dotted names', function()
    local net = SpecNet(4)
    assert.are.same({ 'scale', 'features.1.weight', 'features.1.bias', 'head.weight', 'head.bias' },
      names_of(net:named_parameters()))
    assert.are.same({ { 1 }, { 4, 2 }, { 4 }, { 3, 4 }, { 3 } }, shapes_of(net:named_parameters()))
    assert.are.same({ 'grl.alpha' }, names_of(net:named_buffers()))
    assert.are.same({ 'features', 'head', 'grl' }, names_of(net:named_children()))
    assert.are.same({ '', 'features', 'features.1', 'features.2', 'head', 'grl' }, names_of(net:named_modules()))
    local named = net:named_parameters()
    assert.are.equal(net.head.weight, named['head.weight'])
    local seen = {}
    for name, p in net:named_parameters() do seen[#seen + 1] = name .. ':' .. p:numel() end
    assert.are.same({ 'scale:1', 'features.1.weight:8', 'features.1.bias:4', 'head.weight:12', 'head.bias:3' }, seen)
    assert.are.same({ 3, 3 }, net(lg.zeros(3, 2)):shape())
    assert.are.equal(5, #net:parameters())
  end)

  it('switches modes recursively, zeroes gradients and applies functions children first', function()
    local net = SpecNet(3)
    net:evaluate()
    for _, m in ipairs(net:modules()) do assert.is_false(m.training) end
    net:train()
    for _, m in ipairs(net:modules()) do assert.is_true(m.training) end
    assert.are.equal(net, net:eval())
    assert.is_false(net.features[2].training)
    net(lg.randn(5, 2)):sum():backward()
    for _, p in ipairs(net:parameters()) do assert.is_not_nil(p.grad) end
    net:zero_grad()
    for _, p in ipairs(net:parameters()) do assert.is_nil(p.grad) end
    local order = {}
    net:apply(function(m) order[#order + 1] = m.__typename end)
    assert.are.same({ 'nn.Linear', 'nn.ReLU', 'nn.Sequential', 'nn.Linear', 'nn.GradientReversal', 'SpecNet' }, order)
  end)

  it('prints nested architectures and counts parameters once when shared', function()
    local net = SpecNet(2)
    assert.truthy(tostring(net):find('SpecNet(\n  (features): nn.Sequential(\n    (1): nn.Linear(in_features=2, '
      .. 'out_features=2, bias=true)', 1, true), tostring(net))
    local shared = nn.Linear(2, 2)
    local s = nn.Sequential(shared, nn.ReLU(), shared)
    assert.are.equal(2, #s:parameters())
    assert.are.equal(6, s:num_parameters())
    assert.truthy(error_of(function() return nn.Module()(lg.zeros(1)) end)
      :find('lunagrad.nn.Module: forward is not implemented', 1, true))
  end)

  it('registers modules and parameters assigned over an existing field (the table is scanned, as in Torch7)', function()
    local Late = nn.class('SpecLateHead', nn.Module)
    function Late:__init()
      self.head = false
      self.scale = false
      self.head = nn.Linear(2, 2)
      self.scale = lg.ones({ 1 }, { requires_grad = true })
    end
    function Late:forward(x) return self.head(x) * self.scale end
    local net = Late()
    assert.are.same({ 'scale', 'head.weight', 'head.bias' }, names_of(net:named_parameters()))
    assert.are.same({ 'head' }, names_of(net:named_children()))
    assert.are.same({ 'scale', 'head.weight', 'head.bias' }, net:state_dict_keys())
    net.head = false -- a field that no longer holds a module is not listed
    assert.are.same({ 'scale' }, names_of(net:named_parameters()))
  end)
end)

describe('state_dict / load_state_dict', function()
  local function net() return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)) end

  it('lists parameters and buffers by name, sharing storage with the module', function()
    local m = net()
    local sd, order = m:state_dict(), m:state_dict_keys()
    assert.are.same({ '1.weight', '1.bias', '2.weight', '2.bias', '2.running_mean', '2.running_var',
      '2.num_batches_tracked', '4.weight', '4.bias' }, order)
    assert.are.equal(m[1].weight:storage_id(), sd['1.weight']:storage_id())
    assert.is_false(sd['1.weight'].requires_grad)
  end)

  it('goes through lg.save / lg.load as plain tensors', function()
    lg.manual_seed(2)
    local a, b = net(), net()
    local path = tmpfile()
    lg.save(path, a:state_dict())
    b:load_state_dict((lg.load(path)))
    os.remove(path)
    local x = lg.randn(4, 3)
    assert.are.same(a(x):totable(), b(x):totable())
  end)

  it('copies values into the existing tensors', function()
    lg.manual_seed(1)
    local a, b = net(), net()
    local w_before = b[1].weight
    b:load_state_dict(a:state_dict())
    assert.are.equal(w_before, b[1].weight)
    assert.is_true(b[1].weight.requires_grad)
    local x = lg.randn(5, 3)
    assert.are.same(a(x):totable(), b(x):totable())
  end)

  it('rejects missing, unexpected and mis-shaped entries with clear messages', function()
    local m = net()
    local sd = m:state_dict()
    sd['4.bias'] = nil
    sd['5.weight'] = lg.zeros(1)
    local err = error_of(m.load_state_dict, m, sd)
    assert.truthy(err:find("lunagrad.nn.load_state_dict: missing key(s) '4.bias'; unexpected key(s) '5.weight'", 1,
      true), err)
    local loose = nn.Linear(3, 4)
    local _, missing, unexpected = loose:load_state_dict({ weight = lg.ones(4, 3), extra = lg.zeros(1) }, false)
    assert.are.same({ 'bias' }, missing)
    assert.are.same({ 'extra' }, unexpected)
    assert.are.same({ 1, 1, 1 }, loose.weight:totable()[1])
    err = error_of(loose.load_state_dict, loose, { weight = lg.ones(3, 4), bias = lg.ones(4) })
    assert.truthy(err:find("size mismatch for 'weight': expected [4,3], got [3,4]", 1, true), err)
  end)
end)

describe('Module:to / double / float', function()
  it('converts parameters and float buffers, keeping int64 counters and values', function()
    lg.manual_seed(4)
    local net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.GradientReversal(0.5))
    local w32 = net[1].weight:totable()
    assert.are.equal(net, net:double())
    for name, t in pairs(net:state_dict()) do
      assert.are.equal(name == '2.num_batches_tracked' and 'int64' or 'float64', t.dtype, name)
    end
    assert.are.same(w32, net[1].weight:totable())
    assert.is_true(net[1].weight.requires_grad)
    net(lg.randn(4, 2, { dtype = 'float64' })):sum():backward()
    assert.are.equal('float64', net[1].weight.grad.dtype)
    net:float()
    assert.are.equal('float32', net[2].running_var.dtype)
    assert.are.equal('float64', net[3]:state_dict().alpha.dtype)
    assert.truthy(error_of(net.to, net, 'int64'):find("dtype must be 'float32' or 'float64'", 1, true))
  end)
end)

describe('loss modules', function()
  local logits = lg.tensor { { 1, 2, 3 }, { 1, 0, -1 } }
  local lse1 = math.log(math.exp(1) + math.exp(2) + math.exp(3))
  local lse2 = math.log(math.exp(1) + 1 + math.exp(-1))

  it('CrossEntropyLoss takes 1-based labels and a reduction', function()
    local per = { lse1 - 3, lse2 - 0 } -- targets 3 and 2
    close(nn.CrossEntropyLoss()(logits, { 3, 2 }):item(), (per[1] + per[2]) / 2)
    close(nn.CrossEntropyLoss { reduction = 'sum' }(logits, lg.tensor({ 3, 2 }, { dtype = 'int64' })):item(),
      per[1] + per[2])
    close(nn.CrossEntropyLoss('none')(logits, { 3, 2 }):totable(), per)
    assert.truthy(error_of(nn.CrossEntropyLoss, { reduction = 'avg' })
      :find("reduction must be 'mean', 'sum' or 'none', got avg", 1, true))
    assert.truthy(error_of(nn.CrossEntropyLoss, { reduce = 'sum' }):find("unknown option 'reduce'", 1, true))
  end)

  it('report a kernel\'s shape error at the caller\'s line', function()
    local err = error_of(function() return nn.CrossEntropyLoss()(lg.zeros(3, 4), { 1, 2 }) end)
    assert.truthy(err:find('nn_spec.lua:%d+: lunagrad%.cross_entropy: '), err)
    err = error_of(function() return F.mse_loss(lg.zeros(3), lg.zeros(2)) end)
    assert.truthy(err:find('nn_spec.lua:%d+: lunagrad%.mse_loss: '), err)
  end)

  it('NLLLoss, BCEWithLogitsLoss and MSELoss match the formulas', function()
    local logp = lg.tensor { { -0.5, -1.5 }, { -2, -0.25 } }
    close(nn.NLLLoss()(logp, { 1, 2 }):item(), (0.5 + 0.25) / 2)
    close(nn.NLLLoss { reduction = 'sum' }(logp, { 2, 1 }):item(), 1.5 + 2)
    local z, t = lg.tensor { 0.5, -1 }, lg.tensor { 1, 0 }
    local bce = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(-1))) / 2
    close(nn.BCEWithLogitsLoss()(z, t):item(), bce)
    close(nn.MSELoss()(lg.tensor { 1, 2, 3 }, lg.tensor { 1, 0, 0 }):item(), 13 / 3)
    close(nn.MSELoss { reduction = 'sum' }(lg.tensor { 1, 2, 3 }, lg.tensor { 1, 0, 0 }):item(), 13)
    assert.are.equal("nn.MSELoss(reduction='mean')", tostring(nn.MSELoss()))
  end)
end)

describe('nn.functional', function()
  it('is also nn.F and mirrors the modules', function()
    assert.are.equal(nn.functional, nn.F)
    local x = lg.tensor { { 1, -1 } }
    local w, b = lg.tensor { { 1, 2 }, { 3, 4 } }, lg.tensor { 1, 1 }
    assert.are.same({ { 0, 0 } }, F.linear(x, w, b):totable())
    assert.are.same({ { -1, -1 } }, F.linear(x, w):totable())
    local img = lg.tensor { { { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } } } }
    local k = lg.tensor { { { { 1, 2 }, { 3, 4 } } } }
    assert.are.same({ { { { 4, 18 }, { 36, 77 } } } }, F.conv2d(img, k, { stride = 2, padding = 1 }):totable())
    assert.are.same({ { { { 4.5, 18.5 }, { 36.5, 77.5 } } } },
      F.conv2d(img, k, lg.tensor { 0.5 }, { stride = { 2, 2 }, padding = 1 }):totable())
    assert.are.same({ { { { 5, 6 }, { 8, 9 } } } }, F.max_pool2d(img, { kernel_size = 2, stride = 1 }):totable())
    assert.are.same({ { { { 5 } } } }, F.max_pool2d(img, 2):totable())
    assert.are.same({ { { { 3 } } } }, F.avg_pool2d(img, 2):totable())
    assert.are.same({ { { { 3, 4 }, { 6, 7 } } } }, F.avg_pool2d(img, { kernel_size = 2, stride = 1 }):totable())
    assert.are.same({ { 1, 0 } }, F.relu(x):totable())
    close(F.leaky_relu(x, 0.2):totable(), { { 1, -0.2 } })
    close(F.sigmoid(x):totable(), { { 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1)) } })
    close(F.tanh(x):totable(), { { math.tanh and math.tanh(1) or 0.7615941559557649, -0.7615941559557649 } })
    close(F.softmax(x, 2):totable(), { { 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2)) } })
    close(F.log_softmax(x, -1):totable(), { { -math.log(1 + math.exp(-2)), -math.log(1 + math.exp(2)) } })
  end)

  it('dropout, batch_norm and the losses take their options', function()
    local x = lg.randn(10)
    assert.are.same(x:totable(), F.dropout(x, 0.5, false):totable())
    local n = 0
    for _, v in ipairs(F.dropout(lg.ones(1000), 0.5):totable()) do if v == 0 then n = n + 1 end end
    assert.is_true(n > 400 and n < 600)
    local input = lg.tensor { { 1, 2 }, { 3, 6 }, { 5, 10 } }
    local rm, rv = lg.zeros(2), lg.ones(2)
    local y = F.batch_norm(input, rm, rv, { training = true, momentum = 0.5 })
    close(y:totable()[1], { -2 / math.sqrt(8 / 3 + 1e-5), -4 / math.sqrt(32 / 3 + 1e-5) })
    close(rm:totable(), { 1.5, 3 })
    close(rv:totable(), { 2.5, 8.5 })
    close(F.batch_norm(input, rm, rv, lg.tensor { 1, 2 }, lg.tensor { 0, 1 }, { eps = 0 }):totable()[1],
      { (1 - 1.5) / math.sqrt(2.5), 2 * (2 - 3) / math.sqrt(8.5) + 1 })
    local logits = lg.tensor { { 1, 2, 3 } }
    close(F.cross_entropy(logits, { 1 }, { reduction = 'sum' }):item(),
      math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 1)
    close(F.nll_loss(lg.tensor { { -1, -2 } }, { 2 }):item(), 2)
    close(F.binary_cross_entropy_with_logits(lg.tensor { 0 }, lg.tensor { 1 }):item(), math.log(2))
    close(F.mse_loss(lg.tensor { 1, 3 }, lg.tensor { 0, 0 }, { reduction = 'sum' }):item(), 10)
  end)

  it('gradient_reversal / revgrad reverse and scale the gradient', function()
    for _, fn in ipairs { F.gradient_reversal, F.revgrad } do
      local x = lg.tensor({ 2, 3 }, { requires_grad = true })
      local y = fn(x, 0.5)
      assert.are.same({ 2, 3 }, y:totable())
      y:sum():backward()
      assert.are.same({ -0.5, -0.5 }, x.grad:totable())
    end
  end)
end)

describe('nn.save / nn.load', function()
  local function same_state(a, b)
    local sa, sb = a:state_dict(), b:state_dict()
    local ka, kb = {}, {}
    for k in pairs(sa) do ka[#ka + 1] = k end
    for k in pairs(sb) do kb[#kb + 1] = k end
    table.sort(ka)
    table.sort(kb)
    assert.are.same(ka, kb)
    for _, k in ipairs(ka) do
      assert.are.equal(sa[k].dtype, sb[k].dtype)
      assert.are.same(sa[k]:totable(), sb[k]:totable(), k)
    end
  end

  it('round-trips a trained conv net bit-exactly, including BN running stats and GRL alpha', function()
    lg.manual_seed(21)
    local net = nn.Sequential(nn.Conv2d(1, 3, 3, { padding = 1 }), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Linear(12, 5), nn.BatchNorm1d(5, { momentum = 0.2 }), nn.LeakyReLU(0.05),
      nn.GradientReversal(1 / 3), nn.Dropout(0.2), nn.Linear(5, 2))
    local x = lg.randn(6, 1, 4, 4)
    for _ = 1, 3 do net(x):sum():backward() end
    net[9]:setAlpha(0.123456789)
    local path = tmpfile()
    net:save(path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.equal(tostring(net), tostring(back))
    same_state(net, back)
    assert.are.equal(0.123456789, back[9].alpha)
    assert.are.equal(3, back[2].num_batches_tracked:item())
    assert.is_true(back.training)
    net:evaluate()
    back:evaluate()
    assert.are.same(net(x):totable(), back(x):totable())
  end)

  it('restores evaluate mode and rebuilds nn.class modules (constructor args or __spec)', function()
    local Tower = nn.class('SpecTower', nn.Module)
    function Tower:__init(width, opts)
      self.width = width
      self.body = nn.Sequential(nn.Linear(2, width), nn.Tanh())
      self.out = nn.Linear(width, opts.classes)
      self.grl = nn.GradientReversal(opts.alpha)
    end
    function Tower:forward(x) return self.out(self.grl(self.body(x))) end

    local Wrapper = nn.class('SpecWrapper', nn.Module)
    function Wrapper:__init(inner) self.inner = inner end
    function Wrapper:forward(x) return self.inner(x) end
    function Wrapper:__spec() return { self.inner } end

    lg.manual_seed(5)
    local net = Wrapper(Tower(3, { classes = 4, alpha = 0.5 }))
    net.inner.grl:setAlpha(0.75)
    net:evaluate()
    local path = tmpfile()
    nn.save(net, path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.equal('SpecWrapper', back.__typename)
    assert.are.equal('SpecTower', back.inner.__typename)
    assert.are.equal(0.75, back.inner.grl.alpha)
    assert.is_false(back.training)
    assert.is_false(back.inner.body[1].training)
    same_state(net, back)
    local x = lg.randn(2, 2)
    assert.are.same(net(x):totable(), back(x):totable())
    local arch = nn.architecture(net)
    assert.are.equal('SpecWrapper', arch.type)
    assert.are.equal('SpecTower', arch.args[1].__module.type)
  end)

  it('saves modules built with :add and explains what it cannot save or load', function()
    local seq = nn.Sequential():add(nn.Linear(2, 2)):add(nn.Sigmoid())
    local path = tmpfile()
    seq:save(path)
    local back = nn.load(path)
    assert.are.equal(2, #back)
    same_state(seq, back)

    lg.save(path, { w = lg.zeros(2) })
    assert.truthy(error_of(nn.load, path):find('has no module architecture', 1, true))
    os.remove(path)

    local Holder = nn.class('SpecHolder', nn.Module)
    function Holder:__init(t) self.t = t end
    local err = error_of(nn.save, Holder(lg.zeros(2)), path)
    assert.truthy(err:find('cannot save argument #1 of SpecHolder (a Tensor)', 1, true), err)
    assert.truthy(error_of(nn.build, { type = 'NoSuchNet', args = {} }):find("unknown module type 'NoSuchNet'", 1, true))
  end)

describe('nn.parameters', function()
  it('lists the parameters of several modules in order, and rejects non-modules', function()
    local a, b = nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 1, false))
    local ps = nn.parameters(a, b)
    assert.are.equal(3, #ps)
    assert.are.equal(a.weight, ps[1])
    assert.are.equal(a.bias, ps[2])
    assert.are.equal(b[1].weight, ps[3])
    local ok, err = pcall(nn.parameters, a, 5)
    assert.is_false(ok)
    assert.matches('lunagrad.nn.parameters: argument #2 must be a module, got number', err, 1, true)
  end)
end)
end)
