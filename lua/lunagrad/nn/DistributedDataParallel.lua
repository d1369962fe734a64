-- nn.DistributedDataParallel(model [, {bucket_mb = 0.25, deterministic = false, overlap = true,
--   broadcast_buffers = false}]): data-parallel training over MPI (docs/distributed.md).
--
--   dist.init()
--   local ddp = nn.DistributedDataParallel(net)      -- rank 0's parameters and buffers on every rank
--   local opt = ddp:wrap_optimizer(optim.SGD(ddp:parameters(), {lr = 0.01}))  -- step() syncs first
--   for step = 1, n do
--     opt:zero_grad()
--     loss_fn(ddp(x_local), y_local):backward()      -- reductions start during backward
--     opt:step()                                      -- = ddp:sync(); then the update
--   end
--
-- Construction broadcasts the parameters and buffers from rank 0. Gradients are
-- averaged over the ranks (sum / world_size) in buckets of about bucket_mb MB
-- (parameters in reverse order, the order backward finishes them; a parameter
-- larger than a bucket is a bucket of its own): the core's grad-ready hook starts
-- a bucket's non-blocking all-reduce as soon as backward has written the last
-- gradient of its parameters, so communication overlaps the rest of backward.
-- ddp:sync() waits for all buckets and writes the averaged .grad; call it (or let
-- the wrapped optimiser call it) before every optimiser step. The first step
-- learns how many gradients each parameter receives per backward and reduces
-- everything in sync(); later steps overlap. Buckets are always started in the
-- same order on every rank.
--
-- deterministic = true: a bucket is all-gathered and summed in rank order
-- (((g0 + g1) + g2) ...) / world_size, so the result depends neither on timing nor
-- on MPI's reduction algorithm, and equals one process that accumulates the ranks'
-- micro-batch gradients in rank order and divides by their number.
-- overlap = false: no reduction during backward (for graphs that change between
-- steps); everything is reduced in sync().
-- ddp:no_sync(fn, ...): runs fn with gradient reduction off; gradients accumulate
-- locally (gradient accumulation), the next backward outside no_sync reduces the
-- accumulated sums. ddp:set_require_sync(false/true) does the same without a closure.
-- BatchNorm: statistics per rank (PyTorch's default; broadcast_buffers = true
-- copies rank 0's running statistics to every rank at each training forward), or
-- synchronised across ranks with nn.SyncBatchNorm.convert(model) before wrapping.
-- state_dict / load_state_dict / save are the wrapped module's (no 'module.'
-- prefix), so checkpoints do not depend on the world size (dist.save_checkpoint).
-- Without MPI (single-process mode) it is the model itself: world size 1.
local lg = require 'lunagrad'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.util'
local Module = require 'lunagrad.nn.Module'

local DDP = class.new('nn.DistributedDataParallel', Module)

local NAME = 'lunagrad.nn.DistributedDataParallel'
local OPTS = util.set { 'bucket_mb', 'deterministic', 'overlap', 'broadcast_buffers' }

local function dist() return require 'lunagrad.distributed' end

-- Every buffer of one dtype in one broadcast.
local function broadcast_tensors(list)
  local d = dist()
  local by_dtype, order = {}, {}
  for _, t in ipairs(list) do
    if not by_dtype[t.dtype] then
      by_dtype[t.dtype] = {}
      order[#order + 1] = t.dtype
    end
    local l = by_dtype[t.dtype]
    l[#l + 1] = t
  end
  lg.no_grad(function()
    for _, dt in ipairs(order) do
      local l = by_dtype[dt]
      local flat = {}
      for i, t in ipairs(l) do flat[i] = t:reshape(t:numel()) end
      local all = #flat == 1 and flat[1]:clone() or lg.cat(flat, 1)
      d.broadcast(all, 0)
      local at = 1
      for _, t in ipairs(l) do
        local n = t:numel()
        if n > 0 then t:copy(all:narrow(1, at, n):reshape(t:shape())) end
        at = at + n
      end
    end
  end)
end

function DDP:__init(model, opts)
  if not util.is_module(model) then util.raise(NAME .. ': expects a module, got ' .. type(model)) end
  opts = util.options('nn.DistributedDataParallel', opts, OPTS)
  local bucket_mb = opts.bucket_mb or 0.25
  if type(bucket_mb) ~= 'number' or bucket_mb <= 0 then
    util.raise(NAME .. ': bucket_mb must be a number > 0, got ' .. tostring(bucket_mb))
  end
  local params = {}
  for _, p in ipairs(model:parameters()) do
    if p.requires_grad then params[#params + 1] = p end
  end
  if #params == 0 then util.raise(NAME .. ': the model has no parameters that require grad') end
  self:register_module('module', model)
  rawset(self, '_is_ddp', true)
  rawset(self, 'bucket_mb', bucket_mb)
  rawset(self, 'deterministic', opts.deterministic and true or false)
  rawset(self, 'overlap', opts.overlap ~= false)
  rawset(self, 'broadcast_buffers', opts.broadcast_buffers and true or false)
  rawset(self, 'require_sync', true)
  local d = dist()
  d.init()
  local state = d._state
  if state.mpi then
    rawset(self, '_reducer', d._call(state.mpi.reducer, params, math.max(1, math.floor(bucket_mb * 1048576)),
      self.deterministic, self.overlap))
    broadcast_tensors(params)
    local bufs = model:buffers()
    if #bufs > 0 then broadcast_tensors(bufs) end
  end
end

function DDP:forward(...)
  local r = rawget(self, '_reducer')
  if r and r:pending() then
    util.raise(NAME .. ': the gradients of the last backward were not synchronised: call ddp:sync() (or use '
      .. 'ddp:wrap_optimizer(opt)) before the optimiser step, or run accumulation steps in ddp:no_sync(fn)')
  end
  if r and self.broadcast_buffers and self.training then
    local bufs = self.module:buffers()
    if #bufs > 0 then broadcast_tensors(bufs) end
  end
  return self.module(...)
end

--- Waits for every bucket and writes the averaged gradients into .grad (every
--- parameter's, on every call: call it once per optimiser step, on every rank).
--- Returns true when buckets were started during backward (overlap).
function DDP:sync()
  local r = rawget(self, '_reducer')
  if not r then return false end
  return dist()._call(r.sync, r)
end

--- Makes opt:step() call ddp:sync() first; returns opt.
function DDP:wrap_optimizer(opt)
  if type(opt) ~= 'table' or type(opt.step) ~= 'function' then
    util.raise(NAME .. '.wrap_optimizer: expects an optimiser (optim.SGD, ...), got ' .. type(opt))
  end
  local step, ddp = opt.step, self
  opt.step = function(o, ...)
    ddp:sync()
    return step(o, ...)
  end
  return opt
end

--- Gradient reduction on (true) or off (false, as inside no_sync).
function DDP:set_require_sync(on)
  rawset(self, 'require_sync', on and true or false)
  local r = rawget(self, '_reducer')
  if r then r:set_enabled(on and true or false) end
  return self
end

--- Runs fn(...) with gradient reduction off (local accumulation); returns its results.
function DDP:no_sync(fn, ...)
  if type(fn) ~= 'function' then util.raise(NAME .. '.no_sync: expects a function, got ' .. type(fn)) end
  local was = self.require_sync
  self:set_require_sync(false)
  local res = table.pack(pcall(fn, ...))
  self:set_require_sync(was)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- {buckets = {{params=, numel=, dtype=}, ...}, bytes=, steps=, reductions=, overlapped=,
--- wait_seconds=}: overlapped counts the bucket reductions started during backward.
function DDP:stats()
  local r = rawget(self, '_reducer')
  if not r then return { buckets = {}, bytes = 0, steps = 0, reductions = 0, overlapped = 0, wait_seconds = 0 } end
  return r:stats()
end

--- Removes the gradient hook (the model keeps working alone).
function DDP:close()
  local r = rawget(self, '_reducer')
  if r then r:close() end
  rawset(self, '_reducer', nil)
end

function DDP:state_dict() return self.module:state_dict() end
function DDP:state_dict_keys() return self.module:state_dict_keys() end
function DDP:load_state_dict(sd, strict) return self.module:load_state_dict(sd, strict) end
function DDP:save(path) return self.module:save(path) end

function DDP:extra_repr()
  return string.format('world_size=%d, bucket_mb=%g, deterministic=%s', dist().world_size(), self.bucket_mb,
    tostring(self.deterministic))
end

return DDP
