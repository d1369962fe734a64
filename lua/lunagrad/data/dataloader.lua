-- data.DataLoader: mini-batches over tensors that share their first dim.
--
--   local loader = data.DataLoader({X, y}, {batch_size = 64, shuffle = true, seed = 1, drop_last = false})
--   for xb, yb in loader:iter() do ... end   -- one epoch; yields one batch per tensor given
--   for xb, yb in loader do ... end          -- the same (Torch7 habit): one epoch per loop
--   #loader                                  -- number of batches per epoch
--   local next_batch = loader:forever()      -- endless: epochs follow each other
--   local xt = next_batch()                  -- (DANN: draw target batches alongside the source loop)
--
-- The one iteration form is `for xb, yb in loader:iter()`: it yields the
-- batches themselves, no counter (keep your own if you need one). A single
-- tensor may be given instead of a table: `for xb in DataLoader(X):iter()`.
-- Batches are copies gathered with x:index(1, idx), in the dataset's order or,
-- with shuffle, in a fresh permutation each epoch; every sample appears exactly
-- once per epoch. The last batch is smaller when batch_size does not divide
-- the sample count, unless drop_last drops it.
--
-- Randomness: the loader has its own generator, so shuffling never touches
-- lg.manual_seed's state. The permutation of epoch e depends only on (seed, e),
-- so two loaders with the same seed yield the same batches. Without a seed,
-- one is drawn at construction from the lunagrad generator (one uniform), so
-- lg.manual_seed(n) before building the loader makes a run reproducible.
local lg = require 'lunagrad'
local util = require 'lunagrad.util'

local DataLoader = {}
DataLoader.__index = DataLoader

local OPTIONS = { batch_size = true, shuffle = true, seed = true, drop_last = true, sampler = true }

local function fail(msg) util.raise('lunagrad.data.DataLoader: ' .. msg) end -- at the user's file:line

-- splitmix64 on Lua's wrapping 64-bit integers: small, fast and seedable.
local function generator(seed)
  local state = seed
  return function()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
end

-- Integer in 1..n from 53 random bits (modulo bias below n / 2^53: negligible).
local function below(next_random, n)
  return (next_random() >> 11) % n + 1
end

-- 1..n in the order of epoch `epoch` (Fisher-Yates driven by (seed, epoch)).
local function permutation(n, seed, epoch)
  local next_random = generator(seed ~ (epoch * 0x2545F4914F6CDD1D))
  next_random() -- decorrelate nearby (seed, epoch) pairs
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do
    local j = below(next_random, i)
    p[i], p[j] = p[j], p[i]
  end
  return p
end

--- DataLoader.permutation(n, seed [, epoch]): the shuffled order 1..n (a Lua
-- table) that a loader with this seed uses in that epoch (default 1); also
-- used for seeded splits (data.mnist.stratified_split).
function DataLoader.permutation(n, seed, epoch)
  if math.type(n) ~= 'integer' or n < 0 then
    util.raise('lunagrad.data.DataLoader.permutation: n must be an integer >= 0, got ' .. tostring(n))
  end
  if math.type(seed) ~= 'integer' then
    util.raise('lunagrad.data.DataLoader.permutation: seed must be an integer, got ' .. tostring(seed))
  end
  return permutation(n, seed, epoch or 1)
end

local function new(_, tensors, opts)
  if lg.is_tensor(tensors) then tensors = { tensors } end
  if type(tensors) ~= 'table' or #tensors == 0 then
    fail('expects a tensor or a table of tensors {X, y, ...}, got ' .. type(tensors))
  end
  opts = util.options('data.DataLoader', opts, OPTIONS) -- unknown keys raise, naming the valid ones
  local n
  for i, t in ipairs(tensors) do
    if not lg.is_tensor(t) then fail(string.format('element %d is not a Tensor (got %s)', i, type(t))) end
    if t:dim() == 0 then fail(string.format('tensor %d is 0-d: samples run along dim 1', i)) end
    if n and t:size(1) ~= n then
      fail(string.format('tensors disagree on the sample count: tensor 1 has %d, tensor %d has %d', n, i, t:size(1)))
    end
    n = t:size(1)
  end
  local batch_size = opts.batch_size or 1
  if math.type(batch_size) ~= 'integer' or batch_size < 1 then
    fail('batch_size must be an integer >= 1, got ' .. tostring(batch_size))
  end
  local seed = opts.seed
  if seed ~= nil and math.type(seed) ~= 'integer' then fail('seed must be an integer, got ' .. tostring(seed)) end
  if seed == nil then -- drawn from the lunagrad generator: see the header
    seed = math.floor(lg.rand(1, { dtype = 'float64' }):item() * 2 ^ 53)
  end
  local sampler = opts.sampler -- {sampler = s}: s:indices(epoch) gives the epoch's order, #s its length
  if sampler ~= nil and (type(sampler) ~= 'table' or type(sampler.indices) ~= 'function') then fail('sampler must have :indices(epoch) (data.DistributedSampler)') end
  if sampler ~= nil and opts.shuffle then fail('shuffle and sampler exclude each other (the sampler shuffles)') end
  local self = {
    sampler = sampler,
    tensors = { table.unpack(tensors) },
    n = n,
    batch_size = batch_size,
    shuffle = opts.shuffle and true or false,
    drop_last = opts.drop_last and true or false,
    seed = seed,
    epoch = 0, -- epochs started so far
  }
  return setmetatable(self, DataLoader)
end

--- Number of batches in one epoch.
function DataLoader:__len()
  if self.sampler then return self.drop_last and #self.sampler // self.batch_size or (#self.sampler + self.batch_size - 1) // self.batch_size end
  if self.drop_last then return self.n // self.batch_size end
  return (self.n + self.batch_size - 1) // self.batch_size
end

-- The 1-based sample indices of the next epoch, as an int64 tensor.
function DataLoader:_next_order()
  self.epoch = self.epoch + 1
  if self.sampler then return lg.tensor(self.sampler:indices(self.epoch), { dtype = 'int64' }) end
  if not self.shuffle then return lg.arange(1, self.n + 1, 1, { dtype = 'int64' }) end
  return lg.tensor(permutation(self.n, self.seed, self.epoch), { dtype = 'int64' })
end

--- Iterator over one epoch's batches: `for xb, yb in loader:iter() do ... end`.
function DataLoader:iter()
  local order, batches, b = self:_next_order(), #self, 0
  local tensors, count, bs, n = self.tensors, #self.tensors, self.batch_size, order:size(1)
  return function()
    if b >= batches then return nil end
    local first = b * bs + 1
    local idx = order:narrow(1, first, math.min(bs, n - first + 1))
    b = b + 1
    if count == 1 then return tensors[1]:index(1, idx) end
    if count == 2 then return tensors[1]:index(1, idx), tensors[2]:index(1, idx) end
    local out = {}
    for i = 1, count do out[i] = tensors[i]:index(1, idx) end
    return table.unpack(out, 1, count)
  end
end

--- `for xb, yb in loader do ... end` (Torch7 habit): the loader is its own iterator. A loop
-- starts with a nil control value, which begins a new epoch (as loader:iter() does); each
-- later call continues it, so a loop left with break does not leak into the next one.
function DataLoader:__call(_, prev)
  local it = rawget(self, '_loop')
  if prev == nil or it == nil then
    it = self:iter()
    rawset(self, '_loop', it)
  end
  local r = table.pack(it())
  if r[1] == nil then rawset(self, '_loop', nil) end
  return table.unpack(r, 1, r.n)
end

--- Endless iterator: call it for the next batch; a new epoch (reshuffled)
-- starts whenever one ends. Also usable as `for xb, yb in loader:forever()`.
function DataLoader:forever()
  if #self == 0 then
    util.raise(string.format('lunagrad.data.DataLoader: forever() on a loader with no batches (%d samples, batch_size %d, drop_last)',
      self.n, self.batch_size))
  end
  local it = self:iter()
  return function()
    local r = table.pack(it())
    if r[1] == nil then
      it = self:iter()
      r = table.pack(it())
    end
    return table.unpack(r, 1, r.n)
  end
end

function DataLoader:__tostring()
  return string.format('DataLoader(%d samples, %d tensors, batch_size=%d, shuffle=%s, drop_last=%s, %d batches)',
    self.n, #self.tensors, self.batch_size, tostring(self.shuffle), tostring(self.drop_last), #self)
end

return setmetatable(DataLoader, { __call = new })
