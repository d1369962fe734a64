-- lunagrad.distributed over real MPI jobs: `mpirun -np 2 --oversubscribe` on loopback.
-- The jobs run a worker script (WORKER below) that prints "PASS <rank> <check>" per
-- check and fails the job on any error. Covered: every collective and dtype
-- (sync and async), mismatched shapes and bad input (errors on every rank), DDP
-- equals single-process training on the combined batch (1e-6) with identical
-- parameters on both ranks, buckets smaller and larger than a parameter,
-- deterministic mode bit-identical to rank-order accumulation, no_sync
-- accumulation, SyncBatchNorm, DistributedSampler's disjoint cover with a
-- DataLoader, checkpoints resumed across world sizes 2 -> 1 and 1 -> 2, and the
-- fault cases (a Lua error with and without dist.run, SIGKILL, a hung rank) with
-- their exit times.
--
-- MPI is required: without mpirun or the built backend (build/lunagrad/distributed_mpi.so)
-- the spec fails, unless LUNAGRAD_NO_MPI=1 says MPI is not expected on this machine
-- (then only the single-process checks run, and the MPI ones are reported pending).
local lg = require 'lunagrad'

local WORKER = [==[
-- Worker for spec/distributed_spec.lua: run under mpirun (or alone: world size 1).
-- Prints "PASS <rank> <name>" per check; any failure is an error (the job exits non-zero).
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local data = require 'lunagrad.data'
local dist = require 'lunagrad.distributed'
local mode = arg[1]

local function flat(m)
  local l = {}
  for i, p in ipairs(m:parameters()) do l[i] = p:detach():reshape(p:numel()) end
  return lg.cat(l, 1)
end
local function maxdiff(a, b) return (a:double() - b:double()):abs():max():item() end
local function pass(name) io.stdout:write(string.format('PASS %d %s\n', dist.rank(), name)); io.stdout:flush() end
local function expect_error(name, pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, name .. ': expected an error')
  assert(tostring(err):find(pattern, 1, true), name .. ': unexpected message: ' .. tostring(err))
  pass(name)
end

local M = {}

function M.collectives()
  local r, W = dist.rank(), dist.world_size()
  assert(W == 2 and dist.local_rank() == r, 'world ' .. W)
  for _, dt in ipairs { 'float32', 'float64', 'int64' } do
    local function t(v) return lg.tensor(v, { dtype = dt }) end
    local a = t { r + 1, 10 * (r + 1), -r }
    dist.all_reduce(a)
    assert(a[1] == 3 and a[2] == 30 and a[3] == -1, dt .. ' sum')
    local mx = t { r, -r }
    dist.all_reduce(mx, 'max')
    assert(mx[1] == 1 and mx[2] == 0, dt .. ' max')
    local mn = t { r, -r }
    dist.all_reduce(mn, 'min')
    assert(mn[1] == 0 and mn[2] == -1, dt .. ' min')
    if dt ~= 'int64' then
      local me = t { r + 1, 2 * r }
      dist.all_reduce(me, 'mean')
      assert(me[1] == 1.5 and me[2] == 1, dt .. ' mean')
    else
      expect_error('int64 mean', "op 'mean' needs a float tensor", dist.all_reduce, t { 1 }, 'mean')
    end
    local b = t { { r + 5, r }, { 1, 2 } }
    dist.broadcast(b, 1)
    assert(b[1][1] == 6 and b[1][2] == 1, dt .. ' broadcast')
    local g = dist.all_gather(t { r, 2 * r })
    assert(g:size(1) == 2 and g[1][1] == 0 and g[2][1] == 1 and g[2][2] == 2 and g.dtype == dt, dt .. ' all_gather')
    local rs = dist.reduce_scatter(t { { 1, 2 }, { 3, 4 } } * (r + 1))
    local want = r == 0 and { 3, 6 } or { 9, 12 }
    assert(rs:size(1) == 1 and rs[1][1] == want[1] and rs[1][2] == want[2], dt .. ' reduce_scatter')
    local h = dist.iall_reduce(t { r + 1 })
    local res = h:wait()
    assert(res[1] == 3, dt .. ' async all_reduce')
    local hg = dist.all_gather(t { r }, { async = true })
    assert(hg:wait()[2][1] == 1, dt .. ' async all_gather')
    assert(dist.ibroadcast(t { r }, 0):wait()[1] == 0, dt .. ' async broadcast')
    assert(dist.ireduce_scatter(t { 1, 1 }):wait()[1] == 2, dt .. ' async reduce_scatter')
    pass('collectives ' .. dt)
  end
  dist.ibarrier():wait()
  dist.barrier()
  -- a big all-reduce (several MB, MPI's pipelined path)
  local big = lg.ones(1 << 20) * (r + 1)
  dist.all_reduce(big)
  assert(big:min():item() == 3 and big:max():item() == 3, 'big')
  pass('big all_reduce')
  expect_error('mismatched shapes', 'the ranks passed different tensors', dist.all_reduce, lg.zeros(r + 1))
  expect_error('mismatched dtypes', 'the ranks passed different tensors', dist.all_reduce,
    lg.zeros(2, { dtype = r == 0 and 'float32' or 'float64' }))
  expect_error('non-contiguous', 'lunagrad.distributed.all_reduce: the tensor must be contiguous', dist.all_reduce,
    lg.zeros(3, 4):t())
  expect_error('non-tensor', 'lunagrad.distributed.all_reduce: bad argument #1 (Tensor expected, got table)',
    dist.all_reduce, {})
  expect_error('root outside', 'lunagrad.distributed.broadcast: root 2 is outside the world', dist.broadcast,
    lg.zeros(1), 2)
  expect_error('bad op', "op must be 'sum', 'mean', 'max' or 'min'", dist.all_reduce, lg.zeros(1), 'prod')
  expect_error('ddp without parameters', 'lunagrad.nn.DistributedDataParallel: the model has no parameters',
    nn.DistributedDataParallel, nn.ReLU())
  -- still in step after the errors
  local a = lg.tensor { 1 }
  dist.all_reduce(a)
  assert(a[1] == 2)
  pass('after errors')
  -- sampler: disjoint and covering, with a DataLoader
  for _, n in ipairs { 10, 11 } do
    for _, drop in ipairs { false, true } do
      local s = data.DistributedSampler(n, { seed = 7, drop_last = drop })
      s:set_epoch(3)
      local X = lg.arange(1, n + 1, 1, { dtype = 'int64' })
      local loader = data.DataLoader(X, { batch_size = 2, sampler = s })
      local mine = {}
      for xb in loader:iter() do for i = 1, xb:size(1) do mine[#mine + 1] = xb[i] end end
      assert(#mine == #s)
      local all = dist.all_gather(lg.tensor(mine, { dtype = 'int64' }))
      local seen, dup = {}, 0
      for q = 1, 2 do
        for i = 1, all:size(2) do
          local v = all[q][i]
          if seen[v] then dup = dup + 1 end
          seen[v] = true
        end
      end
      local covered = 0
      for i = 1, n do if seen[i] then covered = covered + 1 end end
      if n == 10 then assert(dup == 0 and covered == 10, 'disjoint cover') end
      if n == 11 and not drop then assert(dup == 1 and covered == 11, 'padded cover') end
      if n == 11 and drop then assert(dup == 0 and covered == 10, 'drop_last') end
      -- another epoch: another order, same shares' property
      s:set_epoch(4)
      local other = s:indices()
      local same = true
      for i = 1, #other do same = same and other[i] == mine[i] end
      assert(not same or n < 4, 'epochs reshuffle')
    end
  end
  pass('sampler')
end

-- A small MLP-DANN-like net (two heads over shared features), float32 or float64.
local function net(dtype, bn)
  local features = nn.Sequential(nn.Linear(20, 48), bn and nn.BatchNorm1d(48) or nn.Identity(), nn.ReLU(),
    nn.Linear(48, 32), nn.ReLU())
  local m = nn.Sequential(features, nn.Linear(32, 3))
  return m:to(dtype)
end

local function batch(step, n, dtype)
  lg.manual_seed(1000 + step)
  local X = lg.randn(n, 20):to(dtype)
  local y = (lg.rand(n) * 3):floor():long() + 1
  return X, y
end

function M.ddp()
  local r, W = dist.rank(), dist.world_size()
  local ce = nn.CrossEntropyLoss()
  local B = 8 -- per rank
  for _, dtype in ipairs { 'float32', 'float64' } do
    for _, cfg in ipairs { { bucket_mb = 0.25 }, { bucket_mb = 1e-4 }, { bucket_mb = 100 }, { deterministic = true, bucket_mb = 0.002 },
      { overlap = false } } do
      local label = string.format('%s bucket_mb=%s det=%s overlap=%s', dtype, tostring(cfg.bucket_mb),
        tostring(cfg.deterministic or false), tostring(cfg.overlap ~= false))
      lg.manual_seed(10 + r) -- different on each rank: the broadcast must make them equal
      local model = net(dtype)
      local ddp = nn.DistributedDataParallel(model, cfg)
      local opt = ddp:wrap_optimizer(optim.SGD(ddp:parameters(), { lr = 0.1, momentum = 0.9 }))
      local losses = {}
      for step = 1, 6 do
        local X, y = batch(step, B * W, dtype)
        opt:zero_grad()
        local loss = ce(ddp(X:narrow(1, r * B + 1, B)), y:narrow(1, r * B + 1, B))
        loss:backward()
        opt:step()
        losses[step] = loss:item()
      end
      local f = flat(model)
      local g = dist.all_gather(f)
      assert(maxdiff(g[1], g[2]) == 0, label .. ': ranks differ')
      -- single process on the combined batch (rank 0's initial parameters)
      lg.manual_seed(10)
      local ref = net(dtype)
      local o2 = optim.SGD(ref:parameters(), { lr = 0.1, momentum = 0.9 })
      -- and one accumulating the two micro-batches in rank order (deterministic's reference)
      lg.manual_seed(10)
      local acc = net(dtype)
      local o3 = optim.SGD(acc:parameters(), { lr = 0.1, momentum = 0.9 })
      for step = 1, 6 do
        local X, y = batch(step, B * W, dtype)
        o2:zero_grad()
        ce(ref(X), y):backward()
        o2:step()
        o3:zero_grad()
        for q = 0, W - 1 do ce(acc(X:narrow(1, q * B + 1, B)), y:narrow(1, q * B + 1, B)):backward() end
        for _, p in ipairs(acc:parameters()) do p.grad = p.grad / W end
        o3:step()
      end
      local d = maxdiff(f, flat(ref))
      assert(d < 1e-6, label .. ': vs the combined batch: ' .. d)
      if cfg.deterministic then
        assert(maxdiff(f, flat(acc)) == 0, label .. ': deterministic is not bit-identical to rank-order accumulation')
      end
      local st = ddp:stats()
      assert(st.steps == 6 and st.reductions == 6 * #st.buckets, label .. ': stats')
      assert(st.hook_calls > 0, label .. ': the core never called the grad-ready hook')
      if cfg.overlap ~= false then assert(st.overlapped > 0, label .. ': no bucket started during backward') end
      if cfg.bucket_mb == 1e-4 then assert(#st.buckets == #model:parameters(), 'one bucket per parameter') end
      if cfg.bucket_mb == 100 then assert(#st.buckets == 1, 'one bucket') end
      ddp:close()
      pass('ddp ' .. label .. string.format(' buckets=%d overlapped=%d hook_calls=%d', #st.buckets, st.overlapped,
        st.hook_calls))
    end
  end
  -- no_sync: two local micro-batches, then a synchronised one == one process over all six
  do
    lg.manual_seed(3 + r)
    local model = net('float64')
    local ddp = nn.DistributedDataParallel(model)
    local opt = ddp:wrap_optimizer(optim.SGD(ddp:parameters(), { lr = 0.05 }))
    lg.manual_seed(3)
    local ref = net('float64')
    local o2 = optim.SGD(ref:parameters(), { lr = 0.05 })
    for step = 1, 3 do
      opt:zero_grad()
      o2:zero_grad()
      for micro = 1, 3 do
        local X, y = batch(10 * step + micro, B * W, 'float64')
        local function go() ce(ddp(X:narrow(1, r * B + 1, B)), y:narrow(1, r * B + 1, B)):backward() end
        if micro < 3 then ddp:no_sync(go) else go() end
        ce(ref(X), y):backward()
      end
      opt:step()
      o2:step()
    end
    local d = maxdiff(flat(model), flat(ref))
    assert(d < 1e-9, 'no_sync: ' .. d)
    -- forgetting sync is caught (the core calls the grad-ready hook)
    ce(ddp(lg.randn(4, 20):double()), lg.tensor({ 1, 2, 3, 1 }, { dtype = 'int64' })):backward()
    expect_error('forward without sync', 'were not synchronised', ddp.forward, ddp, lg.randn(4, 20):double())
    ddp:sync()
    ddp:close()
    pass('no_sync')
  end
  -- SyncBatchNorm == BatchNorm on the combined batch (outputs, gradients, running stats)
  if not lg.Function then
    io.stdout:write(string.format('SKIP %d SyncBatchNorm (this core has no lunagrad.Function)\n', r))
  else
    lg.manual_seed(5)
    local model = nn.SyncBatchNorm.convert(net('float64', true))
    lg.manual_seed(5)
    local ref = net('float64', true)
    local ddp = nn.DistributedDataParallel(model)
    local opt = ddp:wrap_optimizer(optim.SGD(ddp:parameters(), { lr = 0.1 }))
    local o2 = optim.SGD(ref:parameters(), { lr = 0.1 })
    for step = 1, 3 do
      local X, y = batch(step, B * W, 'float64')
      opt:zero_grad(); o2:zero_grad()
      ce(ddp(X:narrow(1, r * B + 1, B)), y:narrow(1, r * B + 1, B)):backward()
      ce(ref(X), y):backward()
      opt:step(); o2:step()
    end
    assert(maxdiff(flat(model), flat(ref)) < 1e-9, 'SyncBatchNorm parameters')
    local bn, bn2 = model:modules()[4], ref:modules()[4]
    assert(bn.__typename == 'nn.SyncBatchNorm' and bn2.__typename == 'nn.BatchNorm1d')
    assert(maxdiff(bn.running_mean, bn2.running_mean) < 1e-12 and maxdiff(bn.running_var, bn2.running_var) < 1e-12,
      'SyncBatchNorm running stats')
    ddp:close()
    pass('SyncBatchNorm')
  end
end

-- train <ckpt> <out> <start> <steps> [save_at]: SGD with momentum on a global batch
-- of 16 per step, split over the ranks; resumes from ckpt when start > 0.
function M.train()
  local ckpt, out, start, steps, save_at = arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6] or '-1')
  local r, W = dist.rank(), dist.world_size()
  lg.manual_seed(77)
  local model = net('float32')
  local ddp = nn.DistributedDataParallel(model)
  local opt = ddp:wrap_optimizer(optim.SGD(ddp:parameters(), { lr = 0.1, momentum = 0.9 }))
  if start > 0 then
    local meta = dist.load_checkpoint(ckpt, { model = ddp, optimizer = opt })
    assert(tonumber(meta.step) == start, 'checkpoint step')
  end
  local ce, B = nn.CrossEntropyLoss(), 16 // W
  for step = start + 1, start + steps do
    local X, y = batch(step, 16, 'float32')
    opt:zero_grad()
    ce(ddp(X:narrow(1, r * B + 1, B)), y:narrow(1, r * B + 1, B)):backward()
    opt:step()
    if step == save_at then dist.save_checkpoint(ckpt, { model = ddp, optimizer = opt, meta = { step = step } }) end
  end
  dist.save(out, { params = flat(model) })
  pass('train')
end

function M.fault()
  local kind = arg[2]
  local t = lg.ones(4)
  dist.all_reduce(t)
  if dist.rank() == 1 then
    if kind == 'error' then error('deliberate failure on rank 1') end
    if kind == 'kill' then
      local pid = io.open('/proc/self/stat'):read('n')
      os.execute('kill -9 ' .. pid)
    end
    if kind == 'hang' then
      local t0 = os.clock()
      while os.clock() - t0 < 60 do end
    end
  end
  for _ = 1, 1e8 do dist.all_reduce(t) end
end

if mode == 'uncaught' then -- no dist.run: the exit handler must end the job
  dist.init()
  local t = lg.ones(1)
  dist.all_reduce(t)
  if dist.rank() == 1 then error('uncaught failure on rank 1') end
  for _ = 1, 1e8 do dist.all_reduce(t) end
else
  dist.run(M[mode])
end
]==]

local NO_MPI = os.getenv('LUNAGRAD_NO_MPI') == '1'

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local tmpdir
local function tmp(name)
  if not tmpdir then
    tmpdir = os.tmpname()
    os.remove(tmpdir)
    assert(os.execute('mkdir -p ' .. tmpdir))
  end
  return tmpdir .. '/' .. name
end

local worker_path
local function worker()
  if not worker_path then
    worker_path = tmp('worker.lua')
    local f = assert(io.open(worker_path, 'w'))
    f:write(WORKER)
    f:close()
  end
  return worker_path
end

local ENV = string.format('LUA_PATH=%s LUA_CPATH=%s OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 '
  .. 'OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1 ', sh_quote(package.path), sh_quote(package.cpath))

-- Runs a command; returns its output, exit status and wall time in seconds.
local function run(cmd)
  local p = io.popen('start=$(date +%s%N); ' .. ENV .. cmd .. ' 2>&1; rc=$?; end=$(date +%s%N); '
    .. 'echo "__rc=$rc __ms=$(( (end - start) / 1000000 ))"')
  local out = p:read('a')
  p:close()
  local rc, ms = out:match('__rc=(%d+) __ms=(%d+)%s*$')
  return out, tonumber(rc), tonumber(ms) / 1000
end

local function mpirun(np, args, extra)
  return run(string.format('timeout 60 mpirun -np %d --oversubscribe %s lua5.4 %s %s', np, extra or '',
    worker(), args))
end

local function single(args) return run(string.format('timeout 60 lua5.4 %s %s', worker(), args)) end

local function passes(out)
  local set = {}
  for rank, name in out:gmatch('PASS (%d) ([^\n]+)') do set[rank .. ' ' .. name] = true end
  return set
end

local function mpi_present()
  local ok = os.execute('command -v mpirun >/dev/null 2>&1')
  if not ok then return false, 'mpirun not found (Debian: apt-get install openmpi-bin libopenmpi-dev)' end
  local found = package.searchpath('lunagrad.distributed_mpi', package.cpath)
  if not found then return false, 'lunagrad.distributed_mpi is not built (make, with mpicc present)' end
  return true
end

describe('lunagrad.distributed in a single process (not launched by mpirun)', function()
  it('is world size 1, rank 0, and its collectives keep the values', function()
    local dist = require 'lunagrad.distributed'
    if dist.launched_by_mpi() then return end
    assert.are.same({ 0, 1 }, { dist.init() })
    assert.are.equal(0, dist.rank())
    assert.are.equal(1, dist.world_size())
    local t = lg.tensor { 1, 2 }
    assert.are.equal(t, dist.all_reduce(t, 'mean'))
    assert.are.same({ 1, 2 }, t:totable())
    assert.are.same({ { 1, 2 } }, dist.all_gather(t):totable())
    assert.are.same({ 1, 2 }, dist.iall_reduce(t):wait():totable())
    assert.has_error(function() dist.broadcast(t, 1) end)
    local nn = require 'lunagrad.nn'
    local m = nn.Linear(3, 2)
    local ddp = nn.DistributedDataParallel(m)
    ddp(lg.ones(4, 3)):sum():backward()
    local g = m.weight.grad:clone()
    ddp:sync()
    assert.are.same(g:totable(), m.weight.grad:totable())
  end)

  it('DistributedSampler shards are disjoint and cover the dataset', function()
    local data = require 'lunagrad.data'
    local seen = {}
    for r = 0, 2 do
      local s = data.DistributedSampler(12, { rank = r, world_size = 3, seed = 5 })
      assert.are.equal(4, #s)
      for _, i in ipairs(s:indices(2)) do
        assert.is_nil(seen[i])
        seen[i] = true
      end
    end
    for i = 1, 12 do assert.is_true(seen[i]) end
    assert.has_error(function() data.DistributedSampler(12, { rank = 3, world_size = 3 }) end)
    assert.has_error(function() data.DataLoader(lg.ones(4), { sampler = {}, batch_size = 2 }) end)
  end)
end)

describe('lunagrad.distributed under mpirun -np 2', function()
  local present, why = mpi_present()
  if not present then
    if NO_MPI then
      pending('MPI not expected here (LUNAGRAD_NO_MPI=1): ' .. why)
      return
    end
    it('needs MPI', function()
      error('MPI is required for spec/distributed_spec.lua: ' .. why
        .. ' (set LUNAGRAD_NO_MPI=1 only where MPI is not expected)')
    end)
    return
  end

  it('collectives: every op and dtype, async handles, mismatches and bad input, the sampler', function()
    local out, rc = mpirun(2, 'collectives')
    assert(rc == 0, out)
    local p = passes(out)
    for _, name in ipairs { 'collectives float32', 'collectives float64', 'collectives int64', 'int64 mean',
      'big all_reduce', 'mismatched shapes', 'mismatched dtypes', 'non-contiguous', 'non-tensor', 'root outside',
      'bad op', 'ddp without parameters', 'after errors', 'sampler' } do
      for r = 0, 1 do assert(p[r .. ' ' .. name], 'missing PASS ' .. r .. ' ' .. name .. '\n' .. out) end
    end
  end)

  it('DistributedDataParallel: equal ranks, = the combined batch, buckets, deterministic, no_sync, SyncBatchNorm', function()
    local out, rc = mpirun(2, 'ddp')
    assert(rc == 0, out)
    local n = 0
    for line in out:gmatch('PASS %d ddp [^\n]+') do n = n + 1 end
    assert(n == 20, 'expected 20 DDP configurations (10 per rank)\n' .. out)
    local p = passes(out)
    for r = 0, 1 do
      assert(p[r .. ' no_sync'], out)
      assert(p[r .. ' SyncBatchNorm'] or out:find('SKIP ' .. r .. ' SyncBatchNorm', 1, true), out)
    end
  end)

  it('checkpoints resume across world sizes (2 -> 1 and 1 -> 2)', function()
    local ck2, ck1 = tmp('ck2.safetensors'), tmp('ck1.safetensors')
    local a, b, c, d = tmp('a.safetensors'), tmp('b.safetensors'), tmp('c.safetensors'), tmp('d.safetensors')
    local out, rc = mpirun(2, string.format('train %s %s 0 6 3', ck2, a))
    assert(rc == 0, out)
    out, rc = single(string.format('train %s %s 3 3', ck2, b))
    assert(rc == 0, out)
    out, rc = single(string.format('train %s %s 0 6 3', ck1, c))
    assert(rc == 0, out)
    out, rc = mpirun(2, string.format('train %s %s 3 3', ck1, d))
    assert(rc == 0, out)
    local pa, pb = lg.load(a).params, lg.load(b).params
    local pc, pd = lg.load(c).params, lg.load(d).params
    assert.is_true((pa - pb):abs():max():item() < 1e-6)
    assert.is_true((pc - pd):abs():max():item() < 1e-6)
    assert.is_true((pa - pc):abs():max():item() < 1e-6)
  end)

  local function timed_fault(args, extra, env)
    local out, rc, secs = (function()
      if env then return run(string.format('%s timeout 60 mpirun -np 2 --oversubscribe lua5.4 %s %s', env, worker(), args)) end
      return mpirun(2, args, extra)
    end)()
    return out, rc, secs
  end

  it('a Lua error on one rank ends the job: non-zero, its message and rank, within seconds', function()
    local out, rc, secs = timed_fault('fault error')
    assert(rc ~= 0 and rc ~= 124, out)
    assert(out:find('rank 1 of 2 failed: ', 1, true) and out:find('deliberate failure on rank 1', 1, true), out)
    assert(secs < 10, 'took ' .. secs .. ' s')
    print(string.format('\n  fault: Lua error under dist.run -> job exit %d after %.2f s (mpirun start included)', rc, secs))
    out, rc, secs = timed_fault('uncaught')
    assert(rc ~= 0 and rc ~= 124, out)
    assert(out:find('uncaught failure on rank 1', 1, true) and out:find('rank 1 of 2 exits with status 1', 1, true), out)
    assert(secs < 10, 'took ' .. secs .. ' s')
    print(string.format('  fault: uncaught Lua error (no dist.run) -> job exit %d after %.2f s', rc, secs))
  end)

  it('a rank killed with SIGKILL, or hung, ends the job instead of hanging it', function()
    local out, rc, secs = timed_fault('fault kill')
    assert(rc ~= 0 and rc ~= 124, out)
    assert(secs < 10, 'took ' .. secs .. ' s')
    print(string.format('\n  fault: SIGKILL of rank 1 -> job exit %d after %.2f s', rc, secs))
    out, rc, secs = timed_fault('fault hang', nil, 'LUNAGRAD_DIST_TIMEOUT=2')
    assert(rc ~= 0 and rc ~= 124, out)
    assert(out:find('did not complete in 2 s', 1, true), out)
    assert(secs < 10, 'took ' .. secs .. ' s')
    print(string.format('  fault: rank 1 hung (busy, no MPI calls), timeout 2 s -> job exit %d after %.2f s', rc, secs))
  end)
end)
