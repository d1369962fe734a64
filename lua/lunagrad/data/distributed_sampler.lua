-- data.DistributedSampler(dataset_size [, {shuffle = true, seed = 0, drop_last = false,
--   rank =, world_size =}]): this rank's share of the sample indices (PyTorch's
-- DistributedSampler), for data.DataLoader(tensors, {sampler = s, batch_size = ...}).
--
--   local s = data.DistributedSampler(X:size(1), {seed = 1})
--   local loader = data.DataLoader({X, y}, {batch_size = 64, sampler = s})  -- 64 per rank
--   for epoch = 1, n do s:set_epoch(epoch); for xb, yb in loader:iter() do ... end end
--
-- Every rank draws the same permutation of 1..n (DataLoader.permutation(n, seed,
-- epoch): the same shuffle as a DataLoader with that seed) and takes every
-- world_size-th entry starting at its rank: rank r (0-based) gets positions r+1,
-- r+1+W, r+1+2W, ... So the ranks' shares are disjoint and together cover the
-- dataset when W divides n. Otherwise drop_last = false pads the permutation with
-- its first entries up to a multiple of W (a few samples are seen twice per epoch,
-- every rank has the same count), and drop_last = true drops its tail (a few are
-- not seen). shuffle = false takes 1..n in order. rank and world_size default to
-- lunagrad.distributed's (0 and 1 without MPI).
--
-- Epochs: set_epoch(e) fixes the epoch the order is drawn for (call it each epoch,
-- as in PyTorch, e.g. when resuming); without it the sampler follows the loader's
-- own epoch counter, so every epoch is reshuffled anyway. For DANN, give the
-- source and the target loader a sampler each: every rank then trains on its
-- shard of both domains (da.train_step's half-source/half-target batch per rank).
local DataLoader = require 'lunagrad.data.dataloader'

local Sampler = {}
Sampler.__index = Sampler

local OPTIONS = { shuffle = true, seed = true, drop_last = true, rank = true, world_size = true }

local function fail(msg) error('lunagrad.data.DistributedSampler: ' .. msg, 3) end

local function new(_, n, opts)
  if math.type(n) ~= 'integer' or n < 0 then fail('dataset_size must be an integer >= 0, got ' .. tostring(n)) end
  opts = opts or {}
  if type(opts) ~= 'table' then fail('options must be a table, got ' .. type(opts)) end
  for k in pairs(opts) do
    if not OPTIONS[k] then fail("unknown option '" .. tostring(k) .. "'") end
  end
  local world, rank = opts.world_size, opts.rank
  if world == nil or rank == nil then
    local dist = require 'lunagrad.distributed'
    world = world or dist.world_size()
    rank = rank or dist.rank()
  end
  if math.type(world) ~= 'integer' or world < 1 then fail('world_size must be an integer >= 1, got ' .. tostring(world)) end
  if math.type(rank) ~= 'integer' or rank < 0 or rank >= world then
    fail(string.format('rank must be an integer in 0..%d (0-based), got %s', world - 1, tostring(rank)))
  end
  local seed = opts.seed or 0
  if math.type(seed) ~= 'integer' then fail('seed must be an integer, got ' .. tostring(seed)) end
  local drop_last = opts.drop_last and true or false
  local count = drop_last and n // world or (n + world - 1) // world
  if n > 0 and count == 0 then
    fail(string.format('dataset_size %d < world_size %d with drop_last: no rank gets a sample', n, world))
  end
  return setmetatable({
    n = n, rank = rank, world_size = world, seed = seed, drop_last = drop_last,
    shuffle = opts.shuffle ~= false, count = count, epoch = nil,
  }, Sampler)
end

--- Pins the epoch the order is drawn for (an integer; see the header).
function Sampler:set_epoch(e)
  if math.type(e) ~= 'integer' then error('lunagrad.data.DistributedSampler.set_epoch: epoch must be an integer', 2) end
  self.epoch = e
end

--- Number of indices this rank gets per epoch.
function Sampler:__len() return self.count end

--- This rank's 1-based indices for an epoch (a Lua table): set_epoch's epoch if
--- it was called, else `epoch` (the DataLoader passes its epoch count), else 1.
function Sampler:indices(epoch)
  local e = self.epoch or epoch or 1
  local order
  if self.shuffle then
    order = DataLoader.permutation(self.n, self.seed, e)
  else
    order = {}
    for i = 1, self.n do order[i] = i end
  end
  local total, W = self.count * self.world_size, self.world_size
  local out = {}
  for k = 1, self.count do
    local pos = (k - 1) * W + self.rank + 1
    if pos > self.n then pos = (pos - 1) % self.n + 1 end -- padding: wrap around (drop_last = false)
    out[k] = order[pos]
  end
  assert(#out == total // W)
  return out
end

function Sampler:__tostring()
  return string.format('DistributedSampler(%d samples, rank %d of %d, %d per rank, shuffle=%s, drop_last=%s)', self.n,
    self.rank, self.world_size, self.count, tostring(self.shuffle), tostring(self.drop_last))
end

return setmetatable(Sampler, { __call = new })
