-- One path per call (issue 11, item 5): nn modules call nn.functional, nn.functional
-- calls the core; the binding converts 1-based dims, indices and class labels once
-- and raises at the user's line with its one frame finder (no pcall-and-rewrite
-- wrapper); only real Tensor methods on the Tensor; every options table rejects
-- unknown keys, naming the valid ones; modules see fields assigned more than once.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local nn = require 'lunagrad.nn'
local F = nn.functional
local util = require 'lunagrad.util'
local data = require 'lunagrad.data'

local SPEC = 'binding_paths_spec.lua'

local function line() return debug.getinfo(2, 'l').currentline end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error')
  return tostring(err)
end

-- The error of fn() (a closure whose line l makes the failing call, not as a tail
-- call: that frame would be gone) must read "<this file>:<l>: <msg...>".
local function blames(l, prefix, fn)
  local err = error_of(fn)
  local where, rest = err:match('^([^\n]-:%d+): (.*)$')
  assert.is_truthy(where, 'no position in: ' .. err)
  assert.are.equal(SPEC .. ':' .. l, where:match('[^/]*:%d+$'), err)
  assert.are.equal(prefix, rest:sub(1, #prefix), err)
end

describe('one path per call', function()
  it('has no pcall-and-rewrite wrapper and one frame finder (the binding\'s)', function()
    assert.is_nil(util.call)
    assert.are.equal(core._raise, util.raise)
    for _, path in ipairs { 'lua/lunagrad/util.lua', 'lua/lunagrad/nn/util.lua' } do
      local f = assert(io.open(path))
      local src = f:read('a')
      f:close()
      assert.is_nil(src:find('debug.getinfo', 1, true), path .. ' walks the stack itself')
    end
  end)

  it('nn.functional hands its calls to the core', function()
    assert.are.equal(core.linear, F.linear)
    assert.are.equal(core.cross_entropy, F.cross_entropy)
    assert.are.equal(core.nll_loss, F.nll_loss)
    assert.are.equal(core.mse_loss, F.mse_loss)
    assert.are.equal(core.relu, F.relu)
  end)

  it('core errors raised under nn modules and nn.functional blame the user\'s line', function()
    local l
    l = line() + 1
    blames(l, 'lunagrad.linear: ', function() local y = F.linear(lg.zeros(2, 3), lg.zeros(4, 5)); return y end)
    l = line() + 1
    blames(l, 'lunagrad.cross_entropy: ', function() local y = nn.CrossEntropyLoss()(lg.zeros(3, 4), { 1, 2 }); return y end)
    l = line() + 1
    blames(l, 'lunagrad.max_pool2d: ', function() local y = nn.MaxPool2d(9)(lg.zeros(1, 1, 4, 4)); return y end)
    local net = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(3, 2)))
    local want = 'in child 2.1 (nn.Linear(3 -> 2)) of nn.Sequential: lunagrad.nn.Linear: expected input with 3 features, got 5'
    l = line() + 1
    blames(l, want, function() local y = net(lg.zeros(1, 5)); return y end)
    l = line() + 1
    blames(l, 'lunagrad.exp: bad argument #1', function() local y = lg.exp('a'); return y end)
    l = line() + 1
    blames(l, 'lunagrad.revgrad: ', function() local y = F.gradient_reversal('x'); return y end)
  end)

  it('a custom module\'s forward in the user\'s file is the user\'s line', function()
    local Net = nn.class('SpecPathsNet', nn.Module)
    function Net:__init() self.fc = nn.Linear(2, 2) end
    local l = line() + 1
    function Net:forward(x) return F.linear(x, lg.zeros(3, 3)) end
    blames(l, 'lunagrad.linear: ', function() local y = Net()(lg.zeros(1, 2)); return y end)
  end)

  it('leaves errors of functions called straight from pcall without a position, as Lua does', function()
    local ok, err = pcall(lg.exp, 'a')
    assert.is_false(ok)
    assert.are.equal('lunagrad.exp: ', err:sub(1, 14))
  end)
end)

describe('1-based positions, converted once in the binding', function()
  local x = lg.tensor { { 1, 2, 3 }, { 4, 5, 6 } }

  it('accepts 1-based and negative dims and indices', function()
    assert.are.same({ 4, 5, 6 }, x:select(1, -1):totable())
    assert.are.same({ 3, 6 }, x:select(2, 3):totable())
    assert.are.same({ 2, 0 }, x:narrow(2, 4, 0):shape()) -- start may be one past the end
    assert.are.equal(6, x[-1][-1])
    assert.are.same({ { 3 }, { 6 } }, x:index(2, { 3 }):totable())
    assert.are.same({ 5, 7, 9 }, x:sum(1):totable())
  end)

  it('reports out-of-range positions in the user\'s 1-based terms', function()
    assert.truthy(error_of(x.select, x, 1, 3):find('lunagrad.select: index 3 out of range for a dim of size 2 (indices are 1-based)', 1, true))
    assert.truthy(error_of(function() return x[0] end):find('lunagrad.index: index 0 out of range for a dim of size 2 (indices are 1-based)', 1, true))
    assert.truthy(error_of(function() x[3] = 1 end):find('lunagrad.newindex: index 3 out of range for a dim of size 2', 1, true))
    assert.truthy(error_of(x.sum, x, 0):find('lunagrad.sum: dim 0 out of range for a 2-d tensor (dims are 1-based; -1 is the last)', 1, true))
  end)

  it('takes 1-based class labels and reports bad ones 1-based', function()
    local logits = lg.zeros(2, 3)
    for _, t in ipairs { { 1, 3 }, lg.tensor { 1, 3 }, lg.tensor({ 1, 3 }, { dtype = 'int64' }) } do
      assert.near(math.log(3), lg.cross_entropy(logits, t):item(), 1e-6)
    end
    local msg = error_of(lg.nll_loss, logits, { 1, 4 })
    assert.truthy(msg:find('lunagrad.nll_loss: target 4 out of range for 3 classes', 1, true), msg)
    assert.is_nil(msg:find('expected 0 to', 1, true), 'the core\'s 0-based message leaked: ' .. msg)
    msg = error_of(lg.cross_entropy, logits, lg.tensor({ 0, 1 }, { dtype = 'int64' }))
    assert.truthy(msg:find('lunagrad.cross_entropy: target 0 out of range for 3 classes (class labels are 1-based)', 1, true), msg)
    msg = error_of(lg.cross_entropy, logits, { 1.5, 1 })
    assert.truthy(msg:find('target must hold whole class labels', 1, true), msg)
  end)
end)

describe('Tensor methods', function()
  local x = lg.zeros(2, 3)
  local NOT_METHODS = { 'linear', 'conv2d', 'max_pool2d', 'avg_pool2d', 'batch_norm', 'dropout', 'cross_entropy',
    'nll_loss', 'binary_cross_entropy_with_logits', 'mse_loss', 'cat', 'stack' }

  it('keeps nn kernels, losses and list ops off the Tensor, as module functions', function()
    for _, name in ipairs(NOT_METHODS) do
      assert.is_nil(x[name], 'x:' .. name .. ' exists')
      assert.is_nil(rawget(core.Tensor, name), 'core.Tensor.' .. name .. ' exists')
      assert.are.equal('function', type(core[name]), 'lunagrad.core.' .. name)
      assert.are.equal('function', type(lg[name]), 'lunagrad.' .. name)
    end
  end)

  it('keeps the real ones', function()
    for _, name in ipairs { 'exp', 'log', 'sum', 'mean', 'max', 'argmax', 'matmul', 'softmax', 'log_softmax',
      'relu', 'sigmoid', 'tanh', 'leaky_relu', 'pow', 'clamp', 'view', 'reshape', 'transpose', 'index',
      'narrow', 'select', 'backward', 'eq' } do
      assert.are.equal('function', type(x[name]), 'x:' .. name)
      assert.are.equal(core[name], x[name])
    end
  end)
end)

describe('nn.Module fields assigned more than once', function()
  it('registers a child module assigned over an existing field', function()
    local Net = nn.class('SpecReassignNet', nn.Module)
    function Net:__init()
      self.body = nn.Linear(2, 3)
      self.head = false
      self.head = nn.Linear(3, 1)
    end
    function Net:forward(x) return self.head(self.body(x)) end
    local net = Net()
    local names = {}
    for name in net:named_parameters() do names[#names + 1] = name end
    assert.are.same({ 'body.weight', 'body.bias', 'head.weight', 'head.bias' }, names)
    assert.are.equal(4, #net:parameters())
    assert.are.same({ 'body.weight', 'body.bias', 'head.weight', 'head.bias' }, net:state_dict_keys())
    assert.are.equal(2, #net:children())
    net(lg.ones(1, 2)):sum():backward()
    assert.are.same({ 1, 3 }, net.head.weight.grad:shape())
  end)

  it('registers a parameter assigned over an existing field, and skips fields that no longer hold one', function()
    local m = nn.Module()
    m.w = false
    m.w = lg.zeros(2, { requires_grad = true })
    m.sub = nn.Linear(1, 1)
    m.sub = false -- no longer a child: not listed, no crash
    assert.are.same({ 'w' }, (function()
      local out = {}
      for name in m:named_parameters() do out[#out + 1] = name end
      return out
    end)())
    assert.are.equal(0, #m:children())
    assert.are.equal('nn.Module()', tostring(m))
    m:zero_grad()
    m:double()
    assert.are.equal('float64', m.w.dtype)
  end)
end)

describe('options tables', function()
  local function unknown(fn, key, valid, f, ...)
    local msg = error_of(f, ...)
    assert.truthy(msg:find('lunagrad.' .. fn .. ": unknown option '" .. key .. "'", 1, true), msg)
    assert.truthy(msg:find(valid, 1, true), msg)
  end

  it('reject unknown keys in the C creation functions, naming the valid ones', function()
    unknown('zeros', 'dtyp', 'dtype, requires_grad', lg.zeros, 2, { dtyp = 'float64' })
    unknown('ones', 'requires_gard', 'dtype, requires_grad', lg.ones, { 2 }, { requires_gard = true })
    unknown('randn', 'dtyp', 'dtype, requires_grad', lg.randn, 2, 2, { dtyp = 'float64' })
    unknown('full', 'dtyp', 'dtype, requires_grad', lg.full, { 2 }, 1, { dtyp = 'float64' })
    unknown('arange', 'dtyp', 'dtype, requires_grad', lg.arange, 1, 4, { dtyp = 'float64' })
    unknown('tensor', 'dtyp', 'dtype, requires_grad', lg.tensor, { 1 }, { dtyp = 'float64' })
    assert.is_true(lg.arange(0, 3, { dtype = 'float64', requires_grad = true }).requires_grad)
  end)

  it('reject unknown keys in the losses\' reduction table', function()
    unknown('cross_entropy', 'reduce', 'valid: reduction', F.cross_entropy, lg.zeros(1, 2), { 1 }, { reduce = 'sum' })
    unknown('mse_loss', 'reduce', 'valid: reduction', lg.mse_loss, lg.zeros(2), lg.zeros(2), { reduce = 'sum' })
    assert.are.equal(0, F.mse_loss(lg.zeros(2), lg.zeros(2), { reduction = 'sum' }):item())
  end)

  it('reject unknown keys in the data functions, naming the valid ones', function()
    unknown('data.two_moons', 'size', 'known: n, noise, rotate, seed', data.two_moons, { size = 10 })
    unknown('data.DataLoader', 'batchsize', 'known: batch_size', data.DataLoader, { lg.zeros(4) }, { batchsize = 2 })
    unknown('data.read_idx', 'dtyp', 'known: dtype', data.read_idx, 'x.idx', { dtyp = 'int64' })
    unknown('data.mnist.stratified_split', 'frac', 'known: fraction, seed', data.mnist.stratified_split,
      lg.tensor({ 1, 2 }, { dtype = 'int64' }), { frac = 0.5 })
    unknown('data.mnist_m.blend', 'thresh', 'known: seed, threshold', data.mnist_m.blend, lg.zeros(1, 2, 2),
      { lg.zeros(2, 2, 3) }, { thresh = 0.5 })
  end)
end)
