-- lunagrad.distributed: data-parallel training over MPI (docs/distributed.md).
--
--   local dist = require 'lunagrad.distributed'
--   dist.run(function()                 -- dist.init(), and a failing rank ends the whole job
--     local model = nn.DistributedDataParallel(net)
--     ...
--   end)
--   -- mpirun -np 2 lunagrad train.lua
--
-- Ranks are MPI's: 0-based, rank 0 is the root (what mpirun and its logs show);
-- dist.world_size() is the number of processes. Not launched by mpirun (no
-- OMPI_COMM_WORLD_SIZE / PMI_SIZE / PMIX_RANK in the environment), everything
-- works in a single-process mode without MPI: world size 1, rank 0, collectives
-- leave their tensors as they are. The MPI backend is the C module
-- lunagrad.distributed_mpi (src/dist/mpi.c), built by `make` where mpicc exists.
--
-- Collectives (every rank calls them in the same order with the same dtype and
-- shape; a mismatch is an error on every rank):
--   dist.all_reduce(t [, op])   in place; op 'sum' (default), 'mean', 'max', 'min'; float32/float64/int64
--   dist.broadcast(t [, root])  in place, from root (0-based, default 0)
--   dist.all_gather(t)          -> new tensor {world_size, t's shape...}: row r+1 is rank r's t
--   dist.reduce_scatter(t [, op]) -> new tensor: t's dim 1 is world_size * k; this rank's k rows of the reduction
--   dist.barrier()
-- Each takes a trailing {async = true} (or use dist.iall_reduce, ibroadcast,
-- iall_gather, ireduce_scatter, ibarrier) and then returns a handle: h:wait()
-- returns the result, h:test() says whether it is done. Do not touch the tensor
-- before wait().
local lg = require 'lunagrad'

local dist = {}

local state = { inited = false, rank = 0, size = 1, local_rank = 0, local_size = 1, mpi = nil }
dist._state = state

local util = require 'lunagrad.util'

-- Errors blame the user's line (util.raise: the first frame outside lunagrad).
local function raise(fn, msg) util.raise('lunagrad.distributed.' .. fn .. ': ' .. msg) end

-- Calls the MPI backend; its errors (positioned at this file) are re-raised at the user's line.
local function call(f, ...)
  local ok, a, b = pcall(f, ...)
  if not ok then util.raise((tostring(a):gsub('^[^\n]-distributed%.lua:%d+: ', ''))) end
  return a, b
end
dist._call = call

--- True when this process was started by mpirun / an MPI launcher.
function dist.launched_by_mpi()
  return os.getenv('OMPI_COMM_WORLD_SIZE') ~= nil or os.getenv('PMI_SIZE') ~= nil or os.getenv('PMIX_RANK') ~= nil
    or os.getenv('PMI_RANK') ~= nil
end

--- dist.available(): is the MPI backend built? (require of lunagrad.distributed_mpi works)
function dist.available()
  local ok = pcall(require, 'lunagrad.distributed_mpi')
  return ok
end

local INIT_OPTS = { timeout = true, print = true, threads = true }

local function quiet_progress()
  local ok, progress = pcall(require, 'lunagrad.progress')
  if not ok or progress._dist_quiet then return end
  local new = progress.new
  local sink = { write = function(self) return self end, flush = function() end }
  progress.new = function(opts)
    opts = opts or {}
    if state.rank ~= 0 and not opts.all_ranks then
      local o = {}
      for k, v in pairs(opts) do if k ~= 'all_ranks' then o[k] = v end end
      o.out, o.tty = sink, false
      return new(o)
    end
    if opts.all_ranks ~= nil then
      local o = {}
      for k, v in pairs(opts) do if k ~= 'all_ranks' then o[k] = v end end
      opts = o
    end
    return new(opts)
  end
  progress._dist_quiet = true
end

--- dist.init([{timeout = 300, print = 'root' | 'all', threads = n}]) -> rank, world_size
-- Idempotent. Under mpirun: MPI_Init_thread and, on this node, `threads` lunagrad
-- threads per rank (default: the cores / ranks on the node, at least 1, unless
-- OMP_NUM_THREADS is set). timeout (seconds, 0 = none; env LUNAGRAD_DIST_TIMEOUT)
-- bounds every wait for other ranks: past it the job is aborted. On ranks other
-- than 0, print() and progress bars print nothing unless print = 'all' (env
-- LUNAGRAD_DIST_PRINT=all); dist.print_all prints on every rank with a [rank r] prefix.
function dist.init(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then raise('init', 'options must be a table, got ' .. type(opts)) end
  for k in pairs(opts) do
    if not INIT_OPTS[k] then raise('init', "unknown option '" .. tostring(k) .. "'") end
  end
  if state.inited then return state.rank, state.size end
  local timeout = opts.timeout or tonumber(os.getenv('LUNAGRAD_DIST_TIMEOUT') or '') or 300
  if type(timeout) ~= 'number' or timeout < 0 then raise('init', 'timeout must be a number >= 0, got ' .. tostring(timeout)) end
  if dist.launched_by_mpi() then
    local ok, mpi = pcall(require, 'lunagrad.distributed_mpi')
    if not ok then
      raise('init', 'launched by mpirun, but the MPI backend lunagrad.distributed_mpi does not load ('
        .. tostring(mpi):gsub('\n.*', '') .. '); build it with `make` after installing libopenmpi-dev')
    end
    state.mpi = mpi
    state.rank, state.size, state.local_rank, state.local_size = mpi.init(timeout)
    local threads = opts.threads
    if threads == nil and not os.getenv('OMP_NUM_THREADS') then
      threads = math.max(1, mpi.ncpus() // math.max(1, state.local_size))
    end
    if threads then lg.set_num_threads(threads) end
  end
  state.inited = true
  state.print = opts.print or os.getenv('LUNAGRAD_DIST_PRINT') or 'root'
  if state.print ~= 'root' and state.print ~= 'all' then raise('init', "print must be 'root' or 'all'") end
  if state.rank ~= 0 and state.print == 'root' then
    state.real_print = state.real_print or print
    _G.print = function() end
  end
  quiet_progress()
  return state.rank, state.size
end

local function ensure() if not state.inited then dist.init() end end

--- The rank of this process, 0-based (MPI's numbering; rank 0 is the root).
function dist.rank() ensure() return state.rank end
--- The number of processes.
function dist.world_size() ensure() return state.size end
--- The rank among the processes on this machine, 0-based.
function dist.local_rank() ensure() return state.local_rank end
function dist.local_world_size() ensure() return state.local_size end
--- True on rank 0.
function dist.is_root() ensure() return state.rank == 0 end
--- True when the MPI backend is in use (launched by mpirun), false in single-process mode.
function dist.is_mpi() ensure() return state.mpi ~= nil end
function dist.is_initialized() return state.inited end

--- Prints on every rank, prefixed with [rank r].
function dist.print_all(...)
  local p = state.real_print or print
  local n = select('#', ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  p(string.format('[rank %d] %s', state.rank, table.concat(parts, '\t')))
end

--- Prints on rank 0 only (whatever `print` option init got).
function dist.print(...)
  ensure()
  if state.rank == 0 then (state.real_print or print)(...) end
end

--- Seconds this rank spent waiting in collectives so far (0 without MPI).
function dist.comm_seconds() return state.mpi and state.mpi.comm_seconds() or 0 end

--- Ends MPI (every rank, after the last collective). A script that returns
-- without it is finalized at exit; after it, collectives are errors.
function dist.finalize()
  if state.mpi then state.mpi.finalize() end
end

-- ---- collectives -----------------------------------------------------------------

local OPS = { sum = true, mean = true, max = true, min = true }

-- A finished handle (single-process mode): wait() returns v.
local Done = {}
Done.__index = Done
function Done:wait() return self.v end
function Done:test() return true end
local function done(v) return setmetatable({ v = v }, Done) end

local function check_tensor(fn, t, in_place)
  if not lg.is_tensor(t) then raise(fn, 'bad argument #1 (Tensor expected, got ' .. type(t) .. ')') end
  if in_place and not t:is_contiguous() then
    raise(fn, 'the tensor must be contiguous (it is reduced in place: use t:contiguous() and copy back)')
  end
end

local function check_op(fn, op, t)
  op = op or 'sum'
  if not OPS[op] then raise(fn, "op must be 'sum', 'mean', 'max' or 'min', got " .. tostring(op)) end
  if op == 'mean' and t.dtype == 'int64' then raise(fn, "op 'mean' needs a float tensor, got int64") end
  return op
end

local function async_of(fn, opts)
  if opts == nil then return false end
  if type(opts) ~= 'table' then raise(fn, 'options must be a table {async = true}, got ' .. type(opts)) end
  for k in pairs(opts) do
    if k ~= 'async' then raise(fn, "unknown option '" .. tostring(k) .. "'") end
  end
  return opts.async and true or false
end

local function finish(h, async)
  if async then return h end
  return h:wait()
end

function dist.all_reduce(t, op, opts)
  if type(op) == 'table' and opts == nil then op, opts = nil, op end
  check_tensor('all_reduce', t, true)
  op = check_op('all_reduce', op, t)
  local async = async_of('all_reduce', opts)
  ensure()
  if not state.mpi then return finish(done(t), async) end
  return finish(call(state.mpi.all_reduce, t, op), async)
end

function dist.broadcast(t, root, opts)
  if type(root) == 'table' and opts == nil then root, opts = nil, root end
  check_tensor('broadcast', t, true)
  root = root or 0
  local async = async_of('broadcast', opts)
  ensure()
  if math.type(root) ~= 'integer' or root < 0 or root >= state.size then
    raise('broadcast', string.format('root %s is outside the world (ranks 0..%d, 0-based)', tostring(root),
      state.size - 1))
  end
  if not state.mpi then return finish(done(t), async) end
  return finish(call(state.mpi.broadcast, t, root), async)
end

function dist.all_gather(t, opts)
  check_tensor('all_gather', t, false)
  local async = async_of('all_gather', opts)
  ensure()
  if not state.mpi then return finish(done(t:unsqueeze(1):clone()), async) end
  return finish(call(state.mpi.all_gather, t), async)
end

function dist.reduce_scatter(t, op, opts)
  if type(op) == 'table' and opts == nil then op, opts = nil, op end
  check_tensor('reduce_scatter', t, false)
  op = check_op('reduce_scatter', op, t)
  local async = async_of('reduce_scatter', opts)
  ensure()
  if t:dim() < 1 or t:size(1) % state.size ~= 0 then
    raise('reduce_scatter', string.format('dim 1 of the tensor must be a multiple of the world size %d, got %s',
      state.size, t:dim() < 1 and '0-d' or tostring(t:size(1))))
  end
  if not state.mpi then return finish(done(t:clone()), async) end
  return finish(call(state.mpi.reduce_scatter, t, op), async)
end

function dist.barrier(opts)
  local async = async_of('barrier', opts)
  ensure()
  if not state.mpi then return finish(done(nil), async) end
  return finish(call(state.mpi.barrier), async)
end

function dist.iall_reduce(t, op) return dist.all_reduce(t, op, { async = true }) end
function dist.ibroadcast(t, root) return dist.broadcast(t, root, { async = true }) end
function dist.iall_gather(t) return dist.all_gather(t, { async = true }) end
function dist.ireduce_scatter(t, op) return dist.reduce_scatter(t, op, { async = true }) end
function dist.ibarrier() return dist.barrier({ async = true }) end

--- Scalar helpers: the sum / mean / max / min of a number over the ranks.
function dist.all_reduce_number(x, op)
  if type(x) ~= 'number' then raise('all_reduce_number', 'expects a number, got ' .. type(x)) end
  local t = lg.tensor({ x }, { dtype = 'float64' })
  dist.all_reduce(t, op)
  return t[1]
end

-- ---- faults ------------------------------------------------------------------------

--- dist.run(main, ...): dist.init(), then main(...). An error raised on any rank
-- prints "lunagrad.distributed: rank r of n failed: <message and traceback>" and
-- aborts the whole job (MPI_Abort: mpirun kills the other ranks and exits
-- non-zero) instead of leaving them waiting in a collective. Returns main's results.
-- Without it an uncaught error still ends the job: the rank exits non-zero, which
-- dist.init's exit handler turns into MPI_Abort.
function dist.run(main, ...)
  if type(main) ~= 'function' then raise('run', 'expects a function, got ' .. type(main)) end
  dist.init()
  local res = table.pack(xpcall(main, function(e) return debug.traceback(tostring(e), 2) end, ...))
  if not res[1] then
    io.stdout:flush()
    if state.mpi then state.mpi.abort(res[2], 1) end
    io.stderr:write(string.format('lunagrad.distributed: rank %d of %d failed: %s\n', state.rank, state.size, res[2]))
    os.exit(1)
  end
  return table.unpack(res, 2, res.n)
end

--- Ends the job now from this rank (message printed with the rank).
function dist.abort(msg, code)
  if state.mpi then state.mpi.abort(tostring(msg or 'aborted'), code or 1) end
  io.stderr:write(string.format('lunagrad.distributed: rank %d of %d failed: %s\n', state.rank, state.size,
    tostring(msg or 'aborted')))
  os.exit(code or 1)
end

-- ---- checkpoints ---------------------------------------------------------------------

--- dist.save(path, tensors [, metadata]): rank 0 writes (lg.save: atomic rename),
-- then every rank waits for it (a barrier), so a load right after sees the file.
function dist.save(path, tensors, metadata)
  ensure()
  local ok, err = true, nil
  if state.rank == 0 then ok, err = pcall(lg.save, path, tensors, metadata) end
  dist.barrier()
  if not ok then error(err, 2) end
end

--- dist.load(path): every rank reads the file (lg.load).
function dist.load(path) return lg.load(path) end

-- Values of optimiser state and hyper-parameters as exact strings.
local function enc(v)
  if type(v) == 'boolean' then return 'b:' .. tostring(v) end
  if math.type(v) == 'integer' then return 'i:' .. v end
  if type(v) == 'number' then return ('f:%a'):format(v) end
  if type(v) == 'table' then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = ('%a'):format(x) end
    return 't:' .. table.concat(parts, ',')
  end
  return 's:' .. tostring(v)
end
local function dec(s)
  local kind, body = s:sub(1, 1), s:sub(3)
  if kind == 'b' then return body == 'true' end
  if kind == 'i' then return math.tointeger(tonumber(body)) end
  if kind == 'f' then return tonumber(body) end
  if kind == 's' then return body end
  local t = {}
  for x in body:gmatch('[^,]+') do t[#t + 1] = tonumber(x) end
  return t
end

local function unwrap(model)
  if type(model) == 'table' and rawget(model, '_is_ddp') then return model.module end
  return model
end

--- dist.save_checkpoint(path, {model=, optimizer=, meta = {k = string|number}}):
-- the model's state dict (a DistributedDataParallel is saved as its inner module,
-- so the file does not depend on the world size), the optimiser's state and
-- hyper-parameters, and meta; written by rank 0 (atomically), all ranks wait.
function dist.save_checkpoint(path, c)
  if type(c) ~= 'table' then raise('save_checkpoint', 'expects {model=, optimizer=, meta=}') end
  local tensors, meta = {}, {}
  if c.model then
    for k, v in pairs(unwrap(c.model):state_dict()) do tensors['model.' .. k] = v end
  end
  if c.optimizer then
    local sd = c.optimizer:state_dict()
    for i, st in pairs(sd.state) do
      for k, v in pairs(st) do
        local key = ('optim.state.%d.%s'):format(i, k)
        if lg.is_tensor(v) then tensors[key] = v else meta[key] = enc(v) end
      end
    end
    for k, v in pairs(sd.param_groups[1]) do meta['optim.group.' .. k] = enc(v) end
  end
  for k, v in pairs(c.meta or {}) do meta['user.' .. k] = tostring(v) end
  meta['dist.world_size'] = tostring(dist.world_size())
  dist.save(path, tensors, meta)
end

--- dist.load_checkpoint(path, {model=, optimizer=}) -> meta: loads on every rank,
-- whatever the world size it was saved at. Returns the user metadata (strings).
function dist.load_checkpoint(path, c)
  c = c or {}
  local tensors, meta = lg.load(path)
  meta = meta or {}
  if c.model then
    local sd = {}
    for k, v in pairs(tensors) do
      local name = k:match('^model%.(.+)$')
      if name then sd[name] = v end
    end
    unwrap(c.model):load_state_dict(sd)
  end
  if c.optimizer then
    local sd = { state = {}, param_groups = { {} } }
    local function slot(i)
      sd.state[i] = sd.state[i] or {}
      return sd.state[i]
    end
    for key, t in pairs(tensors) do
      local i, k = key:match('^optim%.state%.(%d+)%.(.+)$')
      if i then slot(math.tointeger(tonumber(i)))[k] = t end
    end
    for key, v in pairs(meta) do
      local i, k = key:match('^optim%.state%.(%d+)%.(.+)$')
      if i then slot(math.tointeger(tonumber(i)))[k] = dec(v) end
      local g = key:match('^optim%.group%.(.+)$')
      if g then sd.param_groups[1][g] = dec(v) end
    end
    c.optimizer:load_state_dict(sd)
  end
  local user = {}
  for k, v in pairs(meta) do
    local name = k:match('^user%.(.+)$')
    if name then user[name] = v end
  end
  user.saved_world_size = tonumber(meta['dist.world_size'])
  return user
end

return dist
