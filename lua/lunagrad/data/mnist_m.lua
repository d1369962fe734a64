-- data.mnist_m: MNIST-M (Ganin & Lempitsky 2015), the target domain of the
-- MNIST -> MNIST-M experiment: each digit blended over a patch of a natural
-- colour photo. Built once by `make data` (tools/make_data.lua).
--
--   local d = data.mnist_m.load{root = 'data', scale = true}
--   d.train.x  -- 8000 x 3 x 28 x 28 float32 (NCHW), values 0..1 (0..255 with scale = false)
--   d.train.y  -- 8000 int64 labels 1..10 (digit + 1), the same digits as data.mnist's train split
--   d.test.x, d.test.y
--
-- The recipe (mnist_m.blend): binarise the digit (value > 0.5 on a 0..1
-- scale), take a uniformly placed 28 x 28 patch of a uniformly drawn photo,
-- and output |patch - 255 * digit| per channel: the patch, inverted where the
-- digit is on. The paper draws patches from BSDS500; we use the nine natural
-- colour photos shipped in Debian's python3-skimage (mnist_m.PHOTOS) or any
-- directory of photos given to the builder. Deterministic for a seed.
--
-- Files under <root>/mnist_m/: {train,test}-images.idx (N x 28 x 28 x 3 ubyte,
-- HWC as image files store pixels), {train,test}-labels.idx (digits 0..9) and
-- {train,test}-sources.idx (N x 3: 1-based photo, row, col of each patch).
local core = require 'lunagrad.core'
local lg = require 'lunagrad'
local util = require 'lunagrad.util'
local mnist = require 'lunagrad.data.mnist'

local mnist_m = {}

--- The natural colour photos of python3-skimage (skimage/data/) used by default.
mnist_m.PHOTOS = {
  'astronaut.png', 'chelsea.png', 'coffee.png', 'ihc.png', 'motorcycle_left.png', 'motorcycle_right.png',
  'hubble_deep_field.jpg', 'retina.jpg', 'rocket.jpg',
}

--- blend(digits, photos [, {seed = 0, threshold = 0.5}]) -> images, sources
-- digits: N x H x W, values 0..1; photos: a list of Hp x Wp x 3 tensors (0..255,
-- as data.load_image returns them) at least H x W. Returns N x H x W x 3
-- float32 images (0..255) and N x 3 int64 sources (1-based photo, row, col).
function mnist_m.blend(digits, photos, opts)
  opts = util.options('data.mnist_m.blend', opts, { seed = true, threshold = true })
  local seed, threshold = opts.seed or 0, opts.threshold or 0.5
  if not lg.is_tensor(digits) or digits:dim() ~= 3 then
    error('lunagrad.data.mnist_m.blend: digits must be an N x H x W tensor', 2)
  end
  if type(photos) ~= 'table' or #photos == 0 then
    error('lunagrad.data.mnist_m.blend: photos must be a non-empty list of H x W x 3 tensors', 2)
  end
  if math.type(seed) ~= 'integer' then error('lunagrad.data.mnist_m.blend: seed must be an integer', 2) end
  if type(threshold) ~= 'number' then error('lunagrad.data.mnist_m.blend: threshold must be a number', 2) end
  return core.mnistm_blend(digits, photos, seed, threshold)
end

--- Loads the cached split: {train = {x =, y =}, test = {x =, y =}} (see the header).
function mnist_m.load(opts)
  opts = mnist.check_options('mnist_m', opts, { root = true, scale = true })
  local root = opts.root or 'data'
  local out = {}
  for _, split in ipairs { 'train', 'test' } do
    local x, y = mnist.read_split('mnist_m', root, 'mnist_m', split)
    if x:dim() ~= 4 or x:size(4) ~= 3 then
      error('lunagrad.data.mnist_m.load: expected N x H x W x 3 images in ' .. root .. '/mnist_m', 2)
    end
    if opts.scale ~= false then x = x / 255 end
    out[split] = { x = x:permute(1, 4, 2, 3):contiguous(), y = y + 1 }
  end
  return out
end

return mnist_m
