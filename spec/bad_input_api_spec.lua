-- The bad-input battery beyond tensors: nn modules and losses, nn.functional,
-- optimisers and schedules, save/load, data readers, domain adaptation, plots,
-- progress and anomaly mode. Each malformed call must raise a Lua error whose
-- message starts with the function's name, with a useful detail -- never a crash,
-- a hang or a silent success.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local data = require 'lunagrad.data'
local da = require 'lunagrad.da'
local plot = require 'lunagrad.plot'
local progress = require 'lunagrad.progress'
local F = nn.functional

local x4 = lg.randn(2, 3, 8, 8)
local tmp = os.tmpname()

local CASES = {
  {'lunagrad.nn.Linear', function() return nn.Linear(0, 3) end, 'in_features must be an integer >= 1, got 0'},
  {'lunagrad.nn.Linear', function() return nn.Linear(3, 2)(lg.randn(4, 5)) end, 'expected input with 3 features, got 5'},
  {'lunagrad.nn.Linear', function() return nn.Linear(3, 2)('x') end, 'expected a Tensor input, got string'},
  {'lunagrad.nn.Conv2d', function() return nn.Conv2d(3, 4, 0) end, 'kernel_size must be an integer >= 1, got 0'},
  {'lunagrad.nn.Conv2d', function() return nn.Conv2d(3, 4, 3)(lg.randn(2, 5, 8, 8)) end, 'expected input [N,3,H,W] or [3,H,W], got [2,5,8,8]'},
  {'lunagrad.nn.Conv2d', function() return nn.Conv2d(3, 4, 3)(lg.randn(3, 8)) end, 'expected input [N,3,H,W] or [3,H,W], got [3,8]'},
  {'lunagrad.nn.MaxPool2d', function() return nn.MaxPool2d(0) end, 'kernel_size must be an integer >= 1, got 0'},
  {'lunagrad.max_pool2d', function() return nn.MaxPool2d(9)(x4) end, 'kernel 9x9 is larger than the padded input 8x8 (input 8x8, p'},
  {'lunagrad.nn.AvgPool2d', function() return nn.AvgPool2d(2, 0)(x4) end, 'stride must be an integer >= 1, got 0'},
  {'lunagrad.nn.BatchNorm2d', function() return nn.BatchNorm2d(4)(x4) end, 'expected input [N,4,H,W], got [2,3,8,8]'},
  {'lunagrad.nn.BatchNorm1d', function() return nn.BatchNorm1d(3)(lg.randn(1, 3)) end, 'expected more than 1 value per channel when training, got in'},
  {'lunagrad.nn.Dropout', function() return nn.Dropout(1.5) end, 'p must be a number in [0, 1], got 1.5'},
  {'lunagrad.nn.LeakyReLU', function() return nn.LeakyReLU('a') end, 'negative_slope must be a number, got a'},
  {'lunagrad.nn.GradientReversal.__init', function() return nn.GradientReversal('a') end, 'alpha must be a finite number, got a'},
  {'lunagrad.nn.GradientReversal.setAlpha', function() return nn.GradientReversal(1):setAlpha({}) end, 'alpha must be a finite number, got'},
  {'lunagrad.nn.Sequential', function() return nn.Sequential(5) end, 'argument #1 must be a module, got number'},
  {'lunagrad.nn.Sequential.add', function() return nn.Sequential():add('x') end, 'expects a module, got string'},
  {'lunagrad.nn.load_state_dict', function() return nn.Linear(2, 2):load_state_dict({}) end, "missing key(s) 'weight', 'bias' in state dict for nn.Linear"},
  {'lunagrad.nn.load_state_dict', function() return nn.Linear(2, 2):load_state_dict({weight = lg.zeros(3, 3), bias = lg.zeros(2)}) end, "size mismatch for 'weight': expected [2,2], got [3,3]"},
  {'lunagrad.cross_entropy', function() return nn.CrossEntropyLoss()(lg.randn(4, 3), {1, 2, 3, 4}) end, 'target 4 out of range for 3 classes'},
  {'lunagrad.cross_entropy', function() return nn.CrossEntropyLoss()(lg.randn(4, 3), {1, 2}) end, 'target [2] does not match logits [4,3] (expected [4], one cl'},
  {'lunagrad.nn.CrossEntropyLoss', function() return nn.CrossEntropyLoss{reduction = 'avg'} end, "reduction must be 'mean', 'sum' or 'none', got avg"},
  {'lunagrad.nll_loss', function() return nn.NLLLoss()(lg.randn(4, 3), {0, 1, 1, 1}) end, 'target 0 out of range for 3 classes (class labels are 1-base'},
  {'lunagrad.cross_entropy', function() return F.cross_entropy(lg.randn(2, 3), {1, 2}, {reduce = 'sum'}) end, "unknown option 'reduce' (valid: reduction)"},
  {'lunagrad.nll_loss', function() return F.nll_loss(lg.randn(2, 3), lg.tensor({1, 4}, {dtype = 'int64'})) end, 'target 4 out of range for 3 classes'},
  {'lunagrad.binary_cross_entropy_with_logits', function() return nn.BCEWithLogitsLoss()(lg.randn(4, 1), lg.zeros(4)) end, 'logits [4,1] and target [4] must have the same shape'},
  {'lunagrad.mse_loss', function() return nn.MSELoss()(lg.randn(4), lg.randn(5)) end, 'input [4] and target [5] must have the same shape'},
  {'lunagrad.nn.functional.conv2d', function() return F.conv2d(x4, lg.randn(4, 3, 3, 3), nil, {stride = 0}) end, 'stride must be an integer >= 1, got 0'},
  {'lunagrad.nn.functional.max_pool2d', function() return F.max_pool2d(x4, {kernel_size = 'a'}) end, 'kernel_size must be an integer >= 1, got a'},
  {'lunagrad.linear', function() return F.linear(lg.randn(2, 3), lg.randn(4, 5)) end, 'input [2,3] does not match weight [4,5] (last dim of the inp'},
  {'lunagrad.nn.functional.dropout', function() return F.dropout(x4, -0.1, true) end, 'p must be a number in [0, 1], got -0.1'},
  {'lunagrad.optim.SGD', function() return optim.SGD({}, {lr = 0.1}) end, 'got an empty parameter list'},
  {'lunagrad.optim.SGD', function() return optim.SGD({lg.zeros(2)}, {lr = 0.1}) end, 'params[1] does not require grad'},
  {'lunagrad.optim.SGD', function() return optim.SGD(nn.Linear(2, 2):parameters(), {}) end, 'lr is required (e.g. {lr = 0.01})'},
  {'lunagrad.optim.SGD', function() return optim.SGD(nn.Linear(2, 2):parameters(), {lr = -1}) end, 'lr must be a number in [0, inf], got -1'},
  {'lunagrad.optim.SGD', function() return optim.SGD(nn.Linear(2, 2):parameters(), {lr = 0.1, nesterov = true}) end, 'nesterov momentum requires momentum > 0 and dampening = 0'},
  {'lunagrad.optim.Adam', function() return optim.Adam(nn.Linear(2, 2):parameters(), {betas = {1.5, 0.9}}) end, 'betas must be {b1, b2} with each in [0, 1)'},
  {'lunagrad.optim.Adam', function() return optim.Adam(nn.Linear(2, 2):parameters(), {lrate = 0.1}) end, "unknown option 'lrate' (known: amsgrad, betas, eps, lr, maxi"},
  {'lunagrad.optim.schedule.dann_lambda', function() return optim.schedule.dann_lambda(1.5) end, 'progress p must be a number in [0, 1], got 1.5'},
  {'lunagrad.optim.schedule.dann_lr', function() return optim.schedule.dann_lr('a') end, 'progress p must be a number in [0, 1], got a'},
  {'lunagrad.save', function() return lg.save(tmp, {w = print}) end, "the value at 'w' is a function (leaves must be tensors, numbers, strings or booleans)"},
  {'lunagrad.save', function() return lg.save(tmp, {[{}] = lg.zeros(2)}) end, 'a key of the top level is a table (keys must be strings, numbers or booleans)'},
  {'lunagrad.save', function() return lg.save('/nonexistent/dir/x.safetensors', {w = lg.zeros(2)}) end, "cannot create '/nonexistent/dir/x.safetensors"},
  {'lunagrad.load', function() return lg.load('/nonexistent/file.safetensors') end, "cannot open '/nonexistent/file.safetensors': No such file or"},
  {'lunagrad.load', function() local f = io.open(tmp, 'wb'); f:write('abc'); f:close(); return lg.load(tmp) end, 'too short for a safetensors header'},
  {'lunagrad.nn.load', function() return nn.load('/nonexistent/net.safetensors') end, "cannot open '/nonexistent/net.safetensors': No such file or"},
  {'lunagrad.data.read_idx', function() return data.read_idx('/nonexistent.idx') end, "cannot open '/nonexistent.idx': No such file or directory"},
  {'lunagrad.data.read_idx', function() local f = io.open(tmp, 'wb'); f:write('\0\0\8\1\0\0\0\9abc'); f:close(); return data.read_idx(tmp) end, 'truncated data: dims [9] of ubyte need 9 bytes'},
  {'lunagrad.data.write_idx', function() return data.write_idx(tmp, 'x') end, 'bad argument #2 (Tensor expected, got string)'},
  {'lunagrad.data.load_image', function() return data.load_image('/nonexistent.png') end, "cannot open '/nonexistent.png': No such file or directory"},
  {'lunagrad.data.decode_image', function() return data.decode_image('not an image') end, 'not a decodable image (PNG, JPEG, BMP or PNM): Image not of'},
  {'lunagrad.data.DataLoader', function() return data.DataLoader({lg.zeros(4, 2), lg.zeros(3)}, {batch_size = 2}) end, 'tensors disagree on the sample count: tensor 1 has 4, tensor'},
  {'lunagrad.data.DataLoader', function() return data.DataLoader({lg.zeros(4, 2)}, {batch_size = 0}) end, 'batch_size must be an integer >= 1, got 0'},
  {'lunagrad.data.two_moons', function() return data.two_moons{n = 1} end, 'n must be an integer >= 2, got 1'},
  {'lunagrad.data.two_moons', function() return data.two_moons{m = 5} end, "unknown option 'm' (known: n, noise, rotate, seed)"},
  {'lunagrad.data.mnist.stratified_split', function() return data.mnist.stratified_split(lg.tensor({1, 2}, {dtype = 'int64'}), {frac = 0.5}) end, "unknown option 'frac' (known: fraction, seed)"},
  {'lunagrad.data.mnist.load', function() return data.mnist.load{root = '/nonexistent'} end, '/nonexistent/mnist/train-images.idx not found; build the cac'},
  {'lunagrad.da.tsne', function() return da.tsne(lg.randn(10)) end, 'X must be 2-d, got shape [10]'},
  {'lunagrad.da.tsne', function() return da.tsne(lg.randn(10, 3), {perplexity = 50}) end, 'perplexity (50) must be at most the number of points - 1 (9)'},
  {'lunagrad.da.pca', function() return da.pca(lg.randn(10, 3), 5) end, 'k must be at most min(N, D) = 3 for X of shape [10,3], got 5'},
  {'lunagrad.da.proxy_a_distance', function() return da.proxy_a_distance(lg.randn(10, 3), lg.randn(10, 4)) end, 'source and target features differ in width: [10,3] vs [10,4]'},
  {'lunagrad.da.domain_batch', function() return da.domain_batch(lg.randn(10, 3), lg.randn(10, 4)) end, 'xs [10,3] and xt [10,4] differ beyond dim 1'},
  {'lunagrad.plot.line', function() return plot.line{series = {}} end, 'expects {series = {{name=, y=}, ...}}'},
  {'lunagrad.plot.line', function() return plot.line{series = {{y = {1, 2}, x = {1}}}} end, 'series 1 has 1 x but 2 y values'},
  {'lunagrad.plot.scatter', function() return plot.scatter{x = {1, 2}, y = {1}} end, '2 x but 1 y values'},
  {'lunagrad.plot.save', function() return plot.save('not svg', tmp) end, 'expects SVG text'},
  {'lunagrad.progress', function() return progress.new{total = 0} end, 'total must be a positive integer, got 0'},
  {'lunagrad.detect_anomaly', function() return lg.detect_anomaly('yes') end, 'expects true, false or a function, got string'},
}

describe('bad input across the API', function()
  teardown(function() os.remove(tmp) end)

  for i, c in ipairs(CASES) do
    local prefix, fn, detail = c[1], c[2], c[3]
    it(string.format('#%d %s: %s', i, prefix, detail), function()
      local ok, err = pcall(fn)
      assert.is_false(ok, 'expected an error')
      local msg = tostring(err):gsub('^[^\n]-:%d+: ', '', 1)
      assert.are.equal(prefix .. ':', msg:sub(1, #prefix + 1), 'message was: ' .. msg)
      assert.is_truthy(msg:find(detail, 1, true), 'message was: ' .. msg)
    end)
  end

  it('leaves the library usable afterwards', function()
    local net = nn.Sequential(nn.Linear(2, 2), nn.GradientReversal(1))
    local y = net(lg.ones(1, 2)):sum()
    y:backward()
    assert.are.same({ 2 }, net[1].bias.grad:shape())
    assert.is_true(lg.is_grad_enabled())
  end)
end)
