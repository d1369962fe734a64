-- Benchmark driver (`make bench BENCH_ARGS='...'`): lunagrad vs PyTorch on the
-- workloads of issue "Performance", see bench/README.md.
--
-- Every measurement is a separate process (bench/workloads.lua, bench/torch_ref.py,
-- bench/sgemm_direct.c) that warms up, runs the workload for a fixed time and prints
-- one RESULT line with its rate and peak RSS. Rounds interleave the two sides
-- (lunagrad, PyTorch, lunagrad, PyTorch, ...; the order flips every round) so slow
-- drifts of a shared machine hit both; the table shows medians over rounds.
local HERE = (arg and arg[0] and arg[0]:match('^(.*)/[^/]*$')) or '.'

local USAGE = [[
usage: lua5.4 bench/run.lua [options]     (or: make bench BENCH_ARGS='options')
  --quick            2 rounds, 0.3 s per measurement, 0.2 s warm-up
  --only W3,W4       run only these workloads (W1..W6, ADD); may be repeated
  --rounds N         rounds per setting (default 5)
  --threads 1,2      thread counts to try on both sides (default 1,2)
  --time S           measured seconds per process and workload (default 1.0)
  --warmup S         warm-up seconds per process before measuring (default 0.5)
  --sizes 256,512    W5 matrix sizes (default 256,512,1024,2048)
  --no-torch         lunagrad only (no PyTorch column)
  --python PATH      Python with torch (default /usr/bin/python3)
  --lua PATH         Lua interpreter for the workers (default lua5.4)
  --verbose, -v      also print every setting's median (after the table)]]

local GLIBC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296'
    .. ':glibc.malloc.hugetlb=1'

-- Workload table: `lower` = smaller is better; `target` = the issue's goal for the ratio.
local WORKLOADS = {
  { id = 'W1', title = 'W1 seed revgrad', unit = 'us/iter', lower = true, target = 10 },
  { id = 'W2', title = 'W2 Linear10+GRL b1', unit = 'us/iter', lower = true, target = 5 },
  { id = 'W3', title = 'W3 MLP-DANN', unit = 'steps/s', target = 1.3 },
  { id = 'W4', title = 'W4 LeNet-DANN', unit = 'steps/s', target = 1.2 },
  { id = 'W5', title = 'W5 matmul', unit = 'GFLOP/s', target = 0.95 },
  { id = 'W6', title = 'W6 LeNet infer b256', unit = 'images/s', target = 1.5 },
  { id = 'ADD', title = 'a + b, 10 elements', unit = 'us/op', lower = true },
}

---------------------------------------------------------------- options

local function split_list(s)
  local out = {}
  for item in s:gmatch('[^,%s]+') do out[#out + 1] = item end
  return out
end

local function parse_args(argv)
  local o = {
    rounds = 5, time = 1.0, warmup = 0.5, threads = { 1, 2 }, sizes = '256,512,1024,2048',
    torch = true, python = '/usr/bin/python3', lua = 'lua5.4', verbose = false,
  }
  local only, explicit = nil, {}
  local i = 1
  local function value(name)
    i = i + 1
    local v = argv[i]
    if v == nil then error('bench/run.lua: ' .. name .. ' needs a value\n' .. USAGE, 0) end
    explicit[name] = true
    return v
  end
  local function number(name)
    local v = value(name)
    local n = tonumber(v)
    if not n or n <= 0 then error('bench/run.lua: ' .. name .. ' needs a positive number, got ' .. v, 0) end
    return n
  end
  while i <= #argv do
    local a = argv[i]
    local key, inline = a:match('^(%-%-[%w-]+)=(.*)$') -- also accept --rounds=3
    if key then
      a = key
      table.insert(argv, i + 1, inline)
    end
    if a == '--quick' then o.quick = true
    elseif a == '--only' then
      only = only or {}
      for _, w in ipairs(split_list(value(a))) do only[#only + 1] = w:upper() end
    elseif a == '--rounds' then o.rounds = math.floor(number(a))
    elseif a == '--threads' then
      o.threads = {}
      for _, t in ipairs(split_list(value(a))) do
        local n = math.tointeger(tonumber(t))
        if not n or n < 1 then error('bench/run.lua: --threads needs integers >= 1, got ' .. t, 0) end
        o.threads[#o.threads + 1] = n
      end
    elseif a == '--time' then o.time = number(a)
    elseif a == '--warmup' then o.warmup = number(a)
    elseif a == '--sizes' then o.sizes = value(a)
    elseif a == '--no-torch' then o.torch = false
    elseif a == '--python' then o.python = value(a)
    elseif a == '--lua' then o.lua = value(a)
    elseif a == '--verbose' or a == '-v' then o.verbose = true
    elseif a == '--help' or a == '-h' then print(USAGE) os.exit(0)
    else error('bench/run.lua: unknown option ' .. a .. '\n' .. USAGE, 0) end
    i = i + 1
  end
  if o.quick then -- explicit options win over --quick's defaults
    if not explicit['--rounds'] then o.rounds = 2 end
    if not explicit['--time'] then o.time = 0.3 end
    if not explicit['--warmup'] then o.warmup = 0.2 end
  end
  o.workloads = {}
  local known = {}
  for _, w in ipairs(WORKLOADS) do known[w.id] = w end
  if only then
    for _, id in ipairs(only) do
      if not known[id] then error('bench/run.lua: unknown workload ' .. id .. ' (W1..W6, ADD)', 0) end
      o.workloads[#o.workloads + 1] = known[id]
    end
  else
    for _, w in ipairs(WORKLOADS) do o.workloads[#o.workloads + 1] = w end
  end
  return o
end

---------------------------------------------------------------- processes

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function capture(cmd)
  local p = io.popen(cmd .. ' 2>&1', 'r')
  local out = p:read('a')
  local ok, _, code = p:close()
  return out, ok, code
end

local function read_file(path)
  local f = io.open(path, 'r')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

local function ncpu()
  local s = read_file('/proc/cpuinfo') or ''
  local n = select(2, s:gsub('\nprocessor%s*:', '')) + (s:match('^processor%s*:') and 1 or 0)
  return math.max(n, 1)
end

local function loadavg()
  local s = read_file('/proc/loadavg')
  return s and tonumber(s:match('^(%S+)')) or nil
end

--- Parses `RESULT <name> k=v ...` into a table (numbers converted).
local function parse_result(out)
  local line = out:match('RESULT [^\n]*')
  if not line then return nil end
  local r = {}
  for k, v in line:gmatch('(%S+)=(%S+)') do r[k] = tonumber(v) or v end
  return r
end

-- Runs one job; returns the parsed result or nil plus the process output.
local function run_job(job)
  local env = {}
  for _, kv in ipairs(job.env) do env[#env + 1] = kv[1] .. '=' .. sh_quote(kv[2]) end
  local cmd = 'env ' .. table.concat(env, ' ') .. ' timeout 900 ' .. job.cmd
  local out = capture(cmd)
  local r = parse_result(out)
  if not r then return nil, out, cmd end
  return r
end

--- lunagrad's configuration (lg.config: ISA path, threads, BLAS, OpenMP) and the FMA
--- peak in GFLOP/s of every ISA path the CPU runs at each thread count (best of 3
--- register-only FMA loops of 0.2 s; src/kernels/sgemm.c), from one worker process.
local function probe(lua, threads)
  local code = [[
local lg, core = require 'lunagrad', require 'lunagrad.core'
local c = lg.config()
print('ISA ' .. c.isa)
print('BLAS ' .. c.blas)
print('OPENMP ' .. tostring(c.openmp))
print('PATHS ' .. table.concat(core._isas(), ','))
for _, isa in ipairs(core._isas()) do
  for t in ('THREADS'):gmatch('%d+') do
    local best = 0
    for _ = 1, 3 do best = math.max(best, core._fma_peak(isa, tonumber(t), 0.2) or 0) end
    print(('PEAK %s %s %.3f'):format(isa, t, best))
  end
end]]
  code = code:gsub('THREADS', table.concat(threads, ','))
  local out, ok = capture(sh_quote(lua) .. ' -e ' .. sh_quote(code))
  if not ok then return nil, out end
  local info = { peak = {} }
  info.isa = out:match('ISA (%S+)')
  info.blas = out:match('BLAS ([^\n]+)')
  info.openmp = out:match('OPENMP (%S+)')
  info.paths = out:match('PATHS (%S+)')
  for isa, t, g in out:gmatch('PEAK (%S+) (%d+) (%S+)') do
    info.peak[isa] = info.peak[isa] or {}
    info.peak[isa][tonumber(t)] = tonumber(g)
  end
  -- the peak W5's fraction is taken of: the path's own; generic (OpenBLAS picks its
  -- kernels) against the best path the CPU runs
  info.ref = info.isa == 'generic' and (info.paths or ''):match('^[^,]+') or info.isa
  return info
end

--- Compiles bench/sgemm_direct.c against OpenBLAS; returns the binary path or nil + log.
local function build_sgemm()
  local bin = os.tmpname()
  local cflags = capture('pkg-config --cflags openblas 2>/dev/null'):gsub('%s+$', '')
  local out, ok = capture(string.format('cc -O2 -std=c11 -Wall -Wextra %s -o %s %s -lopenblas', cflags,
    sh_quote(bin), sh_quote(HERE .. '/sgemm_direct.c')))
  if not ok then
    os.remove(bin)
    return nil, out
  end
  return bin
end

---------------------------------------------------------------- statistics

local function median(xs)
  if #xs == 0 then return nil end
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local m = (#s + 1) // 2
  if #s % 2 == 1 then return s[m] end
  return (s[m] + s[m + 1]) / 2
end

-- Half the min-max range relative to the median, in percent: the noise you see.
local function spread(xs)
  if #xs < 2 then return nil end
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(xs) do lo, hi = math.min(lo, x), math.max(hi, x) end
  local m = median(xs)
  if not m or m == 0 then return nil end
  return 100 * (hi - lo) / 2 / math.abs(m)
end

local function values(results, key)
  local out = {}
  for _, r in ipairs(results or {}) do
    if type(r[key]) == 'number' then out[#out + 1] = r[key] end
  end
  return out
end

--- Best setting of one side for `key`: {setting=, median=, spread=, rss_kb=} or nil.
local function best_of(side_results, settings, key, lower)
  local best
  for _, s in ipairs(settings) do
    local xs = values(side_results[s.name], key)
    local m = median(xs)
    if m and (not best or (lower and m < best.median) or (not lower and m > best.median)) then
      best = { setting = s.name, median = m, spread = spread(xs),
               rss_kb = median(values(side_results[s.name], 'rss_kb')) }
    end
  end
  return best
end

-- The CPU-time-normalised value of one 1-thread run: the rate the process would
-- have had owning its core (each worker reports cpu = CPU seconds / wall seconds of
-- its measured window). Much steadier than wall time on a shared machine, but
-- blind to what co-runners do to caches: a cross-check, not the headline number.
local function cpu_key(key)
  if key == 'value' then return 'cpu' end
  local n = key:match('^n(%d+)$')
  if n then return 'cpu' .. n end
  n = key:match('^mm(%d+)$')
  return n and ('cpumm' .. n) or nil
end

local function cpu_values(results, key, lower)
  local out, ck = {}, cpu_key(key)
  for _, r in ipairs(results or {}) do
    local v, c = r[key], ck and r[ck]
    if type(v) == 'number' and type(c) == 'number' and c > 0 then
      out[#out + 1] = lower and v * c or v / c
    end
  end
  return out
end

--- Best 1-thread setting by CPU-normalised median: {setting=, median=} or nil.
local function best_t1_cpu(side_results, settings, key, lower)
  local best
  for _, s in ipairs(settings) do
    if s.threads == 1 then
      local m = median(cpu_values(side_results[s.name], key, lower))
      if m and (not best or (lower and m < best.median) or (not lower and m > best.median)) then
        best = { setting = s.name, median = m }
      end
    end
  end
  return best
end

--- Smallest median peak RSS of one side over its settings.
local function min_rss(side_results, settings)
  local best
  for _, s in ipairs(settings) do
    local m = median(values(side_results[s.name], 'rss_kb'))
    if m and (not best or m < best.rss_kb) then best = { setting = s.name, rss_kb = m } end
  end
  return best
end

---------------------------------------------------------------- output

local function num(v)
  if v == nil then return '-' end
  local a = math.abs(v)
  if a >= 1000 then return string.format('%.0f', v) end
  if a >= 100 then return string.format('%.1f', v) end
  if a >= 10 then return string.format('%.2f', v) end
  return string.format('%.3f', v)
end

local function cell(b)
  if not b then return '-' end
  local s = num(b.median)
  if b.spread then s = s .. string.format(' ±%.0f%%', b.spread) end
  return s .. ' ' .. b.setting
end

local function mb(kb) return kb and string.format('%.0f', kb / 1024) or '-' end

local function print_table(rows, header)
  local widths = {}
  for _, r in ipairs({ header, table.unpack(rows) }) do
    for i, c in ipairs(r) do widths[i] = math.max(widths[i] or 0, #c) end
  end
  local function line(r)
    local parts = {}
    for i, c in ipairs(r) do
      parts[i] = (i <= 2 and c .. string.rep(' ', widths[i] - #c)) or (string.rep(' ', widths[i] - #c) .. c)
    end
    return (table.concat(parts, '  '):gsub('%s+$', ''))
  end
  print(line(header))
  local rule = {}
  for i, w in ipairs(widths) do rule[i] = string.rep('-', w) end
  print(line(rule))
  for _, r in ipairs(rows) do print(line(r)) end
end

---------------------------------------------------------------- main

local function main(argv)
  local o = parse_args(argv)
  local cpus, load = ncpu(), loadavg()
  io.stderr:write(string.format('bench: %d CPUs, load average %.2f; rounds %d, %.2g s per measurement after %.2g s'
    .. ' warm-up, threads %s\n', cpus, load or -1, o.rounds, o.time, o.warmup, table.concat(o.threads, ',')))
  if load and load > 0.5 then
    io.stderr:write(string.format('bench: WARNING: load average %.2f on %d CPUs: other processes compete for the'
      .. ' cores, numbers will be noisy (compare ratios, not absolute values)\n', load, cpus))
  end

  -- PyTorch available?
  local torch_version
  if o.torch then
    local out, ok = capture(sh_quote(o.python) .. ' -c "import torch; print(torch.__version__)"')
    if ok then
      torch_version = out:match('([%d%.]+[%w%.+]*)%s*$')
    else
      io.stderr:write('bench: WARNING: PyTorch not importable with ' .. o.python
        .. ' (install: apt-get install -y python3-torch); lunagrad only\n')
      o.torch = false
    end
  end

  local info, probe_log = probe(o.lua, o.threads)
  if not info then io.stderr:write('bench: WARNING: could not read lg.config():\n' .. (probe_log or '') .. '\n') end
  local function peak_of(isa, t) return info and info.peak[isa] and info.peak[isa][t] end

  local want_w5 = false
  for _, w in ipairs(o.workloads) do if w.id == 'W5' then want_w5 = true end end
  local sgemm
  if want_w5 then
    local log
    sgemm, log = build_sgemm()
    if not sgemm then io.stderr:write('bench: WARNING: could not build bench/sgemm_direct.c:\n' .. log .. '\n') end
  end

  -- Settings per side. Both sides get OPENBLAS_NUM_THREADS / OMP_NUM_THREADS and the
  -- thread count in-process (lg.set_num_threads / torch.set_num_threads).
  local sides = { lg = {}, pt = {}, direct = {} }
  for _, t in ipairs(o.threads) do
    local base = { { 'OPENBLAS_NUM_THREADS', t }, { 'OMP_NUM_THREADS', t } }
    sides.lg[#sides.lg + 1] = { name = 't' .. t, threads = t, env = base }
    sides.direct[#sides.direct + 1] = { name = 't' .. t, threads = t, env = base }
    if o.torch then
      sides.pt[#sides.pt + 1] = { name = 't' .. t, threads = t, env = base }
      local tuned = { table.unpack(base) }
      tuned[#tuned + 1] = { 'GLIBC_TUNABLES', GLIBC_TUNABLES }
      sides.pt[#sides.pt + 1] = { name = 't' .. t .. '+malloc', threads = t, env = tuned }
    end
  end

  local function args(w, s)
    local scale = w.id == 'W5' and 0.5 or 1 -- W5 measures every size (PyTorch: twice)
    local a = string.format('%s --time %g --warmup %g --threads %d', w.id, o.time * scale, o.warmup * scale,
      s.threads)
    if w.id == 'W5' then a = a .. ' --sizes ' .. sh_quote(o.sizes) end
    return a
  end

  -- Jobs of one round for workload w: lunagrad / PyTorch alternating per thread count.
  local function jobs_for(w)
    local jobs = {}
    for _, t in ipairs(o.threads) do
      for _, s in ipairs(sides.lg) do
        if s.threads == t then
          jobs[#jobs + 1] = { side = 'lg', setting = s, cmd = sh_quote(o.lua) .. ' ' .. sh_quote(HERE .. '/workloads.lua')
            .. ' ' .. args(w, s), env = s.env }
        end
      end
      for _, s in ipairs(sides.pt) do
        if s.threads == t then
          jobs[#jobs + 1] = { side = 'pt', setting = s, cmd = sh_quote(o.python) .. ' '
            .. sh_quote(HERE .. '/torch_ref.py') .. ' ' .. args(w, s), env = s.env }
        end
      end
      if w.id == 'W5' and sgemm then
        for _, s in ipairs(sides.direct) do
          if s.threads == t then
            jobs[#jobs + 1] = { side = 'direct', setting = s, cmd = sh_quote(sgemm) .. ' --time ' .. o.time * 0.5
              .. ' --warmup ' .. o.warmup * 0.5 .. ' --threads ' .. t .. ' --sizes ' .. sh_quote(o.sizes), env = s.env }
          end
        end
      end
    end
    return jobs
  end

  local tty = os.execute('test -t 2') == true -- progress on one line only on a terminal
  local results = {} -- results[workload][side][setting] = {result, ...}
  local failures, reported = 0, {}
  local t_start = os.time()
  for round = 1, o.rounds do
    for _, w in ipairs(o.workloads) do
      local jobs = jobs_for(w)
      if round % 2 == 0 then -- flip the order so neither side always runs first
        local rev = {}
        for i = #jobs, 1, -1 do rev[#rev + 1] = jobs[i] end
        jobs = rev
      end
      for _, job in ipairs(jobs) do
        io.stderr:write(string.format('%sbench: round %d/%d  %-4s %-6s %-9s   ', tty and '\r' or '', round,
          o.rounds, w.id, job.side, job.setting.name), tty and '' or '\n')
        local r, out, cmd = run_job(job)
        if r then
          results[w.id] = results[w.id] or {}
          local side = results[w.id][job.side] or {}
          results[w.id][job.side] = side
          side[job.setting.name] = side[job.setting.name] or {}
          table.insert(side[job.setting.name], r)
        else
          failures = failures + 1
          local key = w.id .. job.side
          if not reported[key] then
            reported[key] = true
            io.stderr:write('\nbench: FAILED: ' .. cmd .. '\n' .. (out or ''):sub(-1500) .. '\n')
          end
        end
      end
    end
  end
  io.stderr:write(string.format((tty and '\r' or '') .. 'bench: done in %d s, %d failed runs; load average now %.2f%s\n',
    os.time() - t_start, failures, loadavg() or -1, string.rep(' ', 20)))
  if sgemm then os.remove(sgemm) end

  -- The table.
  local header = { 'workload', 'unit', 'lunagrad', 'PyTorch ' .. (torch_version or '-'), 'ratio', 'target', 'met',
    't1 CPU ratio', 'RSS MB lg', 'RSS MB pt' }
  local function cpu_ratio(a, b, lower)
    if not a or not b then return '-' end
    return string.format('%.2f', lower and b.median / a.median or a.median / b.median)
  end
  local rows, notes = {}, {}
  local function ratio_str(r, suffix) return r and string.format('%.2f%s', r, suffix or 'x') or '-' end
  local function met(r, target, at_most)
    if not r or not target then return '-' end
    if at_most then return r <= target and 'yes' or 'NO' end
    return r >= target and 'yes' or 'NO'
  end

  for _, w in ipairs(o.workloads) do
    local R = results[w.id] or {}
    local lg_res, pt_res, direct_res = R.lg or {}, R.pt or {}, R.direct or {}
    if w.id == 'W5' then
      for size in o.sizes:gmatch('%d+') do
        local key = 'n' .. size
        local lb = best_of(lg_res, sides.lg, key, false)
        local pb = best_of(pt_res, sides.pt, key, false)
        local ratio, ref
        if lb then -- against direct OpenBLAS at the same thread count
          ref = median(values(direct_res[lb.setting], key))
          ratio = ref and lb.median / ref
        end
        rows[#rows + 1] = { w.title .. ' n=' .. size, w.unit, cell(lb), cell(pb), ratio_str(ratio, ''),
          '>=0.95 of BLAS', met(ratio, w.target),
          cpu_ratio(best_t1_cpu(lg_res, sides.lg, key, false), best_t1_cpu(direct_res, sides.direct, key, false)),
          mb(lb and lb.rss_kb), mb(pb and pb.rss_kb) }
        local mm = best_of(pt_res, sides.pt, 'mm' .. size, false)
        local db = best_of(direct_res, sides.direct, key, false)
        local pk = lb and info and peak_of(info.ref, tonumber(lb.setting:match('%d+')))
        notes[#notes + 1] = string.format('  n=%-5s direct cblas_sgemm %s GFLOP/s at %s (best: %s), torch.mm %s;'
          .. ' lunagrad %s of the %s FMA peak (%s GFLOP/s)',
          size, num(ref), lb and lb.setting or '-', db and (num(db.median) .. ' ' .. db.setting) or '-',
          mm and (num(mm.median) .. ' ' .. mm.setting) or '-',
          (lb and pk) and string.format('%.0f%%', 100 * lb.median / pk) or '-', info and info.ref or '-', num(pk))
      end
    else
      local lb = best_of(lg_res, sides.lg, 'value', w.lower)
      local pb = best_of(pt_res, sides.pt, 'value', w.lower)
      local ratio
      if lb and pb then ratio = w.lower and pb.median / lb.median or lb.median / pb.median end
      local target = w.target and string.format('>=%gx', w.target) or '-'
      rows[#rows + 1] = { w.title, w.unit, cell(lb), cell(pb), ratio_str(ratio), target,
        met(ratio, w.target),
        cpu_ratio(best_t1_cpu(lg_res, sides.lg, 'value', w.lower), best_t1_cpu(pt_res, sides.pt, 'value', w.lower),
          w.lower),
        mb(lb and lb.rss_kb), mb(pb and pb.rss_kb) }
      if w.id == 'W4' then
        local lg_gf = lb and lb.median * 3.04
        local pt_gf = pb and pb.median * 3.04
        rows[#rows + 1] = { w.title, 'GFLOP/s', num(lg_gf), num(pt_gf), '', '(3.04 GFLOP/step)', '', '', '', '' }
        -- Peak RSS: lunagrad at its best-speed setting vs PyTorch's smallest.
        local pr = min_rss(pt_res, sides.pt)
        local lr = lb and lb.rss_kb
        local rr = (lr and pr) and lr / pr.rss_kb
        rows[#rows + 1] = { w.title .. ' peak RSS', 'MB', lr and (mb(lr) .. ' ' .. lb.setting) or '-',
          pr and (mb(pr.rss_kb) .. ' ' .. pr.setting) or '-', rr and string.format('%.2f', rr) or '-', '<=0.5',
          met(rr, 0.5, true), '', '', '' }
      end
    end
  end

  if info then
    print(string.format('\nlunagrad: ISA path %s%s (paths this CPU runs: %s), threads %s, OpenMP %s',
      info.isa or '?', os.getenv('LUNAGRAD_ISA') and (' (LUNAGRAD_ISA=' .. os.getenv('LUNAGRAD_ISA') .. ')')
      or ' (cpuid)', info.paths or '?', table.concat(o.threads, ','), info.openmp or '?'))
    print('BLAS: ' .. (info.blas or '?') .. (os.getenv('OPENBLAS_CORETYPE')
      and (' (OPENBLAS_CORETYPE=' .. os.getenv('OPENBLAS_CORETYPE') .. ')') or ''))
    local peaks = {}
    for isa in (info.paths or ''):gmatch('[^,]+') do
      local ts = {}
      for _, t in ipairs(o.threads) do ts[#ts + 1] = string.format('t%d %s', t, num(peak_of(isa, t))) end
      peaks[#peaks + 1] = isa .. ' ' .. table.concat(ts, ' ')
    end
    print('FMA peak, GFLOP/s (float32, registers only): ' .. table.concat(peaks, '; '))
  end
  print(string.format('\nlunagrad vs PyTorch, median of %d rounds (±: half the min-max range); ratio > 1 = lunagrad'
    .. ' faster', o.rounds))
  print_table(rows, header)
  print('Settings: tN = N threads (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, set_num_threads); +malloc = PyTorch with'
    .. ' GLIBC_TUNABLES=' .. GLIBC_TUNABLES .. '.')
  print('Each side shows its best setting. RSS = VmHWM at the end of the process (median). t1 CPU ratio: the same'
    .. ' ratio from 1-thread runs with each rate divided by the run\'s CPU/wall share (robust to preemption).')
  if #notes > 0 then
    print('W5 ratio = lunagrad / direct cblas_sgemm at the same thread count:')
    for _, n in ipairs(notes) do print(n) end
  end
  -- Preemption check: a 1-thread run that owned its core shows CPU/wall close to 1.
  local shares = {}
  for _, side in ipairs { 'lg', 'pt', 'direct' } do
    local xs = {}
    for _, w in ipairs(o.workloads) do
      for _, s in ipairs(sides[side]) do
        if s.threads == 1 then
          for _, r in ipairs(((results[w.id] or {})[side] or {})[s.name] or {}) do
            for k, v in pairs(r) do
              if k:match('^cpu') and type(v) == 'number' then xs[#xs + 1] = v end
            end
          end
        end
      end
    end
    if #xs > 0 then
      table.sort(xs)
      shares[#shares + 1] = string.format('%s median %.2f, min %.2f', side, median(xs), xs[1])
    end
  end
  if #shares > 0 then
    print('CPU/wall of 1-thread runs (1.00 = never preempted): ' .. table.concat(shares, '; '))
  end
  if load and load > 0.5 then
    print(string.format('NOTE: load average was %.2f at start on %d CPUs: numbers are noisy.', load, cpus))
  end

  if o.verbose then
    print('\nAll settings (median, ±half-range, n rounds, RSS MB):')
    for _, w in ipairs(o.workloads) do
      for _, side in ipairs { 'lg', 'pt', 'direct' } do
        for _, s in ipairs(sides[side]) do
          local rs = ((results[w.id] or {})[side] or {})[s.name]
          if rs then
            local keys = {}
            for k, v in pairs(rs[1]) do
              if type(v) == 'number' and (k == 'value' or k:match('^n%d+$') or k:match('^mm%d+$')) then
                keys[#keys + 1] = k
              end
            end
            table.sort(keys)
            local parts = {}
            for _, k in ipairs(keys) do
              local xs = values(rs, k)
              parts[#parts + 1] = string.format('%s=%s±%.0f%%', k, num(median(xs)), spread(xs) or 0)
            end
            print(string.format('  %-4s %-6s %-9s n=%d %s rss=%s', w.id, side, s.name, #rs, table.concat(parts, ' '),
              mb(median(values(rs, 'rss_kb')))))
          end
        end
      end
    end
  end
  if failures > 0 then os.exit(1) end
end

local ok, err = pcall(main, { table.unpack(arg or {}) })
if not ok then
  io.stderr:write(tostring(err) .. '\n')
  os.exit(2)
end
