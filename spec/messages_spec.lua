-- Error messages that name the function, the problem and the fix (issue 16, item 6):
-- swapped loss arguments, dot-for-colon calls, unknown nn names, a missing Flatten,
-- the failing child of a Sequential, DataLoader positions, bad label and target dtypes.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local F = nn.functional
local data = require 'lunagrad.data'

local SPEC = 'messages_spec.lua'

local function line() return debug.getinfo(2, 'l').currentline end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, 'expected an error')
  return tostring(err)
end

-- err contains `text` verbatim.
local function has(err, text) assert.is_truthy(err:find(text, 1, true), 'error was: ' .. err) end

-- err starts with "<this spec>:<l>: ".
local function at_line(err, l) assert.are.equal(SPEC .. ':' .. l .. ': ', err:match('([^/]*:%d+: )'), err) end

describe('swapped loss arguments', function()
  local logits = lg.tensor({ { 2, 0, -1 }, { 0.5, 1, 0 }, { -1, 3, 0 }, { 0, 0, 1 } })
  local labels = lg.tensor({ 1, 2, 2, 3 }, { dtype = 'int64' })

  it('CrossEntropyLoss(labels, logits) says to call crit(input, target)', function()
    local crit = nn.CrossEntropyLoss()
    local l = line() + 1
    local err = error_of(function() local y = crit(labels, logits); return y end)
    at_line(err, l)
    has(err, 'lunagrad.cross_entropy: arguments look swapped: call crit(input, target)')
    has(err, 'got input int64 [4] and target float32 [4,3]')
    -- the right order works and gives the value by hand: mean of log-sum-exp - picked logit
    local want = 0
    for i, row in ipairs(logits:totable()) do
      local s = 0
      for _, v in ipairs(row) do s = s + math.exp(v) end
      want = want + math.log(s) - row[labels:totable()[i]]
    end
    assert.is_true(math.abs(crit(logits, labels):item() - want / 4) < 1e-6)
  end)

  it('also when the labels are a float tensor, and for F.cross_entropy and nll_loss', function()
    local float_labels = lg.tensor({ 1, 2, 2, 3 })
    has(error_of(F.cross_entropy, float_labels, logits), 'arguments look swapped: call crit(input, target)')
    has(error_of(F.nll_loss, labels, logits:log_softmax(2)), 'lunagrad.nll_loss: arguments look swapped')
    has(error_of(function() return nn.NLLLoss()(float_labels, logits) end), 'arguments look swapped')
  end)

  it('BCEWithLogitsLoss(int64 targets, logits) is a swap too', function()
    local z, t = lg.tensor({ 0.5, -1, 2 }), lg.tensor({ 1, 0, 1 }, { dtype = 'int64' })
    has(error_of(function() return nn.BCEWithLogitsLoss()(t, lg.tensor { 1, 0, 1 }) end),
      'lunagrad.binary_cross_entropy_with_logits: arguments look swapped: call crit(input, target)')
    has(error_of(function() return nn.BCEWithLogitsLoss()(t, z) end), 'arguments look swapped')
  end)
end)

describe('dot for colon', function()
  local x = lg.randn(2, 3)

  it('net.forward(x) on a Sequential says to call it with a colon', function()
    local net = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    local l = line() + 1
    local err = error_of(function() local y = net.forward(x); return y end)
    at_line(err, l)
    has(err, 'lunagrad.nn.Sequential.forward: called with a Tensor as self; call it with a colon: net:forward(x)')
  end)

  it('works for every built-in layer and for the other methods', function()
    for _, m in ipairs { nn.Linear(3, 2), nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Identity(), nn.Dropout(), nn.Flatten(),
      nn.BatchNorm1d(3), nn.GradientReversal(), nn.Softmax(), nn.LeakyReLU(), nn.Conv2d(1, 2, 3), nn.Conv1d(1, 2, 3),
      nn.ConvTranspose2d(1, 2, 3), nn.MaxPool2d(2), nn.AvgPool1d(2), nn.AdaptiveAvgPool2d(2) } do
      has(error_of(m.forward, x), 'call it with a colon: net:forward(x)')
    end
    local net = nn.Linear(3, 2)
    has(error_of(net.parameters), 'lunagrad.nn.Module.parameters: called with nil as self; call it with a colon: net:parameters()')
    has(error_of(net.zero_grad), 'call it with a colon: net:zero_grad()')
    has(error_of(net.backward, x, x), 'called with a Tensor as self; call it with a colon: net:backward(input, gradOutput)')
    has(error_of(net.getParameters), 'call it with a colon: net:getParameters()')
    local crit = nn.MSELoss()
    has(error_of(crit.forward, x, x), 'call it with a colon: crit:forward(input, target)')
  end)

  it('a colon call still reports a missing input as such', function()
    has(error_of(function() return nn.Linear(3, 2):forward() end), 'lunagrad.nn.Linear: expected a Tensor input, got nil')
    has(error_of(function() return nn.Sequential(nn.ReLU()):forward() end), 'lunagrad.nn.Sequential: expected a Tensor input, got nil')
  end)
end)

describe('unknown names in nn', function()
  it('nn.Relu raises "did you mean nn.ReLU?" at the caller', function()
    local l = line() + 1
    local err = error_of(function() local m = nn.Relu(); return m end)
    at_line(err, l)
    has(err, 'lunagrad.nn: nn.Relu does not exist; did you mean nn.ReLU?')
  end)

  it('suggests by case and by edit distance, and Torch7 names', function()
    has(error_of(function() return nn.Conv2D end), 'nn.Conv2D does not exist; did you mean nn.Conv2d?')
    has(error_of(function() return nn.Linaer end), 'did you mean nn.Linear?')
    has(error_of(function() return nn.Sequental end), 'did you mean nn.Sequential?')
    has(error_of(function() return nn.BatchNorm end), 'did you mean nn.BatchNorm1d or nn.BatchNorm2d?')
    has(error_of(function() return nn.CrossEntropy end), 'did you mean nn.CrossEntropyLoss?')
    has(error_of(function() return nn.SpatialConvolution end), 'nn.SpatialConvolution does not exist; did you mean nn.Conv2d?')
    has(error_of(function() return nn.ClassNLLCriterion end), 'did you mean nn.NLLLoss?')
    has(error_of(function() return nn.Xyzzy end), 'nn.Xyzzy does not exist (the modules are listed in docs/api_nn.md)')
  end)

  it('leaves the real names, rawget and metamethod probes alone', function()
    assert.are.equal(require('lunagrad.nn.ReLU'), nn.ReLU)
    assert.is_nil(rawget(nn, 'Relu'))
    assert.is_nil(nn.__index_probe)
    assert.is_nil(nn[1])
    local names = {}
    for k in pairs(nn) do names[k] = true end
    assert.is_true(names.Linear and names.Sequential and names.functional)
  end)
end)

describe('Linear after a convolution without Flatten', function()
  it('says to add nn.Flatten() and what Linear would then need', function()
    local net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(8, 3))
    local err = error_of(function() return net(lg.randn(2, 1, 4, 4)) end)
    has(err, 'lunagrad.nn.Linear: expected input [N,8] (in_features = 8), got input [N,C,H,W] = [2,2,2,2]; '
      .. 'add nn.Flatten() before nn.Linear (it gives [N,8])')
    err = error_of(function() return nn.Linear(100, 10)(lg.zeros(5, 3, 4, 4)) end)
    has(err, 'got input [N,C,H,W] = [5,3,4,4]; add nn.Flatten() before nn.Linear (it gives [N,48], so nn.Linear(48, 10))')
    -- with the Flatten the same net runs: [2,2,2,2] -> [2,8] -> [2,3]
    local fixed = nn.Sequential(net[1], net[2], nn.Flatten(), net[3])
    assert.are.same({ 2, 3 }, fixed(lg.randn(2, 1, 4, 4)):shape())
  end)
end)

describe('errors inside a Sequential', function()
  it('name the failing child, its type and sizes, at the caller\'s line', function()
    local net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(768, 100))
    local l = line() + 1
    local err = error_of(function() local y = net(lg.randn(2, 4)); return y end)
    at_line(err, l)
    has(err, 'in child 3 (nn.Linear(768 -> 100)) of nn.Sequential: lunagrad.nn.Linear: expected input with 768 features, got 3')
  end)

  it('give the dotted path through nested Sequentials', function()
    local net = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Identity(), nn.Sequential(nn.Linear(3, 2))))
    has(error_of(function() return net(lg.zeros(1, 5)) end),
      'in child 2.2.1 (nn.Linear(3 -> 2)) of nn.Sequential: lunagrad.nn.Linear: expected input with 3 features, got 5')
  end)

  it('wrap errors of user modules, keeping their position, and pass error objects through', function()
    local Broken = nn.class('messages_spec.Broken')
    function Broken:forward(x)
      local missing = nil
      return missing.field + x
    end
    local net = nn.Sequential(nn.Identity(), Broken())
    local err = error_of(function() return net(lg.zeros(1)) end)
    has(err, 'in child 2 (messages_spec.Broken) of nn.Sequential: ')
    has(err, "attempt to index a nil value (local 'missing')")
    assert.is_truthy(err:match('^[^ ]*' .. SPEC:gsub('%.', '%%.') .. ':%d+: in child 2'), err)
    local Thrower = nn.class('messages_spec.Thrower')
    local obj = { code = 7 }
    function Thrower:forward() error(obj) end
    local ok, e = pcall(function() return nn.Sequential(Thrower())(lg.zeros(1)) end)
    assert.is_false(ok)
    assert.are.equal(obj, e)
  end)

  it('change nothing on success: the result is the children applied in order', function()
    lg.manual_seed(3)
    local net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    local x = lg.randn(5, 3)
    local y, want = net(x), net[3](net[2](net[1](x)))
    assert.are.same(want:totable(), y:totable())
  end)
end)

describe('DataLoader errors', function()
  it('carry the user\'s file:line', function()
    local l = line() + 1
    local err = error_of(function() local d = data.DataLoader({ lg.zeros(4, 2), lg.zeros(3) }); return d end)
    at_line(err, l)
    has(err, 'lunagrad.data.DataLoader: tensors disagree on the sample count: tensor 1 has 4, tensor 2 has 3')
    l = line() + 1
    err = error_of(function() local d = data.DataLoader(lg.zeros(4, 2), { batch_size = 0 }); return d end)
    at_line(err, l)
    has(err, 'batch_size must be an integer >= 1, got 0')
    l = line() + 1
    err = error_of(function() local d = data.DataLoader(lg.zeros(4, 2), { batchsize = 2 }); return d end)
    at_line(err, l)
    has(err, "unknown option 'batchsize'")
    local empty = data.DataLoader(lg.zeros(3, 2), { batch_size = 4, drop_last = true })
    l = line() + 1
    err = error_of(function() local it = empty:forever(); return it end)
    at_line(err, l)
    has(err, 'forever() on a loader with no batches')
    l = line() + 1
    err = error_of(function() local p = data.DataLoader.permutation(-1, 1); return p end)
    at_line(err, l)
  end)
end)

describe('class labels and BCE targets', function()
  local x = lg.tensor({ { 1, 2, 3 }, { 3, 1, 2 } }, { dtype = 'float64' })

  it('reject non-integer float labels, naming the value and its position', function()
    local err = error_of(F.cross_entropy, x, lg.tensor({ 2, 1.5 }))
    has(err, 'lunagrad.cross_entropy: target must hold whole class labels, got 1.5 at position 2')
    has(err, "lg.tensor({3, 1}, {dtype = 'int64'})")
    has(error_of(function() return nn.CrossEntropyLoss()(x, { 1, 2.25 }) end), 'got 2.25 at position 2')
    has(error_of(F.nll_loss, x, lg.tensor({ 0.5, 1 })), 'lunagrad.nll_loss: target must hold whole class labels, got 0.5')
  end)

  it('keep accepting whole-valued float labels, with the int64 labels\' value', function()
    local a = F.cross_entropy(x, lg.tensor({ 2, 3 }, { dtype = 'int64' })):item()
    assert.are.equal(a, F.cross_entropy(x, lg.tensor({ 2, 3 })):item())
    -- by hand: row 1 picks 2, row 2 picks 2 (= class 3)
    local lse = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    assert.is_true(math.abs(a - (lse - 2 + lse - 2) / 2) < 1e-12)
  end)

  it('reject int64 targets to BCEWithLogits (PyTorch requires float) and take float ones', function()
    local z = lg.tensor({ 0.5, -1, 2 })
    local err = error_of(function() return nn.BCEWithLogitsLoss()(z, lg.tensor({ 1, 0, 1 }, { dtype = 'int64' })) end)
    has(err, 'lunagrad.binary_cross_entropy_with_logits: target must be a float tensor')
    has(err, "got int64 [3]; convert it: target:to('float32')")
    local v = nn.BCEWithLogitsLoss()(z, lg.tensor({ 1, 0, 1 })):item()
    local function sp(t) return math.log(1 + math.exp(t)) end -- -log sigmoid(-t)
    assert.is_true(math.abs(v - (sp(-0.5) + sp(-1) + sp(-2)) / 3) < 1e-6)
  end)
end)
