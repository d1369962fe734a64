-- Crash-safe checkpoints.
-- 1. A child lua5.4 process saves a ~20 MB checkpoint with lg.save over an
--    existing one in a loop (alternating two contents); the parent kills it
--    with SIGKILL at a random moment, then checks that the file on disk loads
--    completely and is byte-for-byte either the old or the new content.
-- 2. Resume: train N steps, save model + optimizer state (SGD momentum buffers,
--    Adam moments and step counts, hyper-parameters), train M more steps; a
--    fresh process that loads the checkpoint and trains M steps must produce
--    bit-identical losses (1 thread).
-- Child processes inherit LUA_PATH/LUA_CPATH (set by `make test`).
local lg = require 'lunagrad'

local TRIALS = tonumber(os.getenv('LG_CRASH_TRIALS')) or 50

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local files = require 'helpers.files'
local read_all, write_file = files.read, files.write

local function make_tmpdir()
  local name = os.tmpname()
  os.remove(name)
  assert(sh('mkdir -p ' .. name))
  return name
end

-- True while pid is a running (not zombie) process.
local function alive(pid)
  local stat = read_all('/proc/' .. pid .. '/stat')
  if not stat then return false end
  return stat:match('^%d+ %b() (%a)') ~= 'Z'
end

local function lua_cmd(script, args)
  return 'lua5.4 ' .. script .. ' ' .. table.concat(args, ' ')
end

describe('crash-safe lg.save', function()
  local dir
  setup(function() dir = make_tmpdir() end)
  teardown(function() sh('rm -rf ' .. dir) end)

  it(('leaves the old or the new file, complete, when killed mid-save (%d SIGKILL trials)'):format(TRIALS), function()
    local N = 5 * 1024 * 1024 -- float32 elements: 20 MiB per checkpoint
    local child = dir .. '/saver.lua'
    write_file(child, [[
local lg = require 'lunagrad'
local path, n = arg[1], tonumber(arg[2])
local contents = {
  { { big = lg.full({ n }, 1), tag = lg.tensor({ 1 }, { dtype = 'int64' }) }, { version = '1' } },
  { { big = lg.full({ n }, 2), tag = lg.tensor({ 2 }, { dtype = 'int64' }) }, { version = '2' } },
}
if arg[3] == 'refs' then -- write the two reference files and stop
  lg.save(path .. '.ref1', contents[1][1], contents[1][2])
  lg.save(path .. '.ref2', contents[2][1], contents[2][2])
  os.exit(0)
end
local i = 0
while true do -- 2, 1, 2, 1, ... over the file the parent wrote (1)
  i = i + 1
  local c = contents[2 - i % 2]
  lg.save(path, c[1], c[2])
end
]])
    local ckpt = dir .. '/model.safetensors'
    assert(sh(lua_cmd(child, { ckpt, N, 'refs' })))
    local ref = { read_all(ckpt .. '.ref1'), read_all(ckpt .. '.ref2') }
    assert.is_true(#ref[1] > 20e6 and #ref[1] == #ref[2])

    math.randomseed(20240611)
    local seen, mid_save = { 0, 0 }, 0
    for trial = 1, TRIALS do
      assert(sh('cp ' .. ckpt .. '.ref1 ' .. ckpt)) -- the existing checkpoint: content 1
      local pidfile = dir .. '/pid'
      assert(sh(lua_cmd(child, { ckpt, N }) .. ' >/dev/null 2>&1 & echo $! > ' .. pidfile))
      local pid = assert(tonumber(read_all(pidfile)), 'no pid')
      -- startup takes ~0.1 s; one save of 20 MB (write + fsync + rename) ~0.05-0.3 s
      local delay = 0.1 + math.random() * 0.9
      sh(('sleep %.3f'):format(delay))
      assert(sh('kill -9 ' .. pid), 'child exited by itself (trial ' .. trial .. ')')
      for _ = 1, 500 do
        if not alive(pid) then break end
        sh('sleep 0.01')
      end
      assert.is_false(alive(pid))

      -- the checkpoint: exactly one of the two contents, and it loads completely
      local bytes = read_all(ckpt)
      local which = bytes == ref[1] and 1 or bytes == ref[2] and 2 or nil
      assert(which, ('trial %d: file of %d bytes is neither the old nor the new checkpoint'):format(trial, #bytes))
      seen[which] = seen[which] + 1
      local t, meta = lg.load(ckpt)
      assert.are.equal(tostring(which), meta.version)
      assert.are.equal(which, t.tag:item())
      assert.are.equal(N, t.big:numel())
      assert.are.equal(which, t.big:min():item())
      assert.are.equal(which, t.big:max():item())
      t.big:release()

      -- a temporary file left behind means the kill landed inside a save
      local p = io.popen('ls ' .. dir .. ' | grep -c "model.safetensors.tmp" || true')
      local leftovers = tonumber(p:read('a')) or 0
      p:close()
      if leftovers > 0 then mid_save = mid_save + 1 end
      sh('rm -f ' .. dir .. '/model.safetensors.tmp*')
    end
    print(('\n[crash_save] %d SIGKILL trials: old content %d, new content %d, killed inside a save %d')
      :format(TRIALS, seen[1], seen[2], mid_save))
    assert.are.equal(TRIALS, seen[1] + seen[2])
    -- the kills did land inside saves, and at different points of the loop
    assert.is_true(mid_save > 0)
    assert.is_true(seen[1] > 0 and seen[2] > 0)
  end)
end)

-- The training script shared by the resume runs: a DANN-style model (features,
-- label classifier, GRL + domain head) trained with SGD (momentum, nesterov)
-- on the label side and Adam on the domain head; the batch and the GRL alpha
-- depend only on the global step, so a resumed run sees the same sequence.
local TRAIN = [[
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local data = require 'lunagrad.data'
lg.set_num_threads(1)
local mode, ckpt, N, M = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])

local Xs, ys = data.two_moons { n = 200, noise = 0.1, seed = 1 }
local Xt = data.two_moons { n = 200, noise = 0.1, seed = 2, rotate = 35 }
local X_all = lg.cat({ Xs, Xt }, 1)
local domain = lg.cat({ lg.zeros(200, 1), lg.ones(200, 1) }, 1)

lg.manual_seed(mode == 'full' and 11 or 99) -- a resumed run starts from other weights
local features = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU())
local classifier = nn.Linear(16, 2)
local grl = nn.GradientReversal(0)
local head = nn.Sequential(grl, nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1))
local model = nn.Sequential(features, classifier, head)
local sgd = optim.SGD(nn.parameters(features, classifier), { lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 1e-4 })
local adam = optim.Adam(head:parameters(), { lr = 0.01 })
local ce, bce = nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss()

local function step(s, total)
  local first = (s * 37) % 150 + 1
  grl:setAlpha(optim.schedule.dann_lambda(s / total))
  sgd:zero_grad(); adam:zero_grad()
  local f = features(X_all)
  local src = f:narrow(1, first, 50)
  local loss = ce(classifier(src), ys:narrow(1, first, 50)) + bce(head(f), domain)
  loss:backward()
  sgd:step(); adam:step()
  return loss:item()
end

-- optimizer state_dict <-> tensors + string metadata (exact: floats as %a)
local function enc(v)
  if type(v) == 'boolean' then return 'b:' .. tostring(v) end
  if math.type(v) == 'integer' then return 'i:' .. v end
  if type(v) == 'number' then return ('f:%a'):format(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = ('%a'):format(x) end
  return 't:' .. table.concat(parts, ',')
end
local function dec(s)
  local kind, body = s:sub(1, 1), s:sub(3)
  if kind == 'b' then return body == 'true' end
  if kind == 'i' then return math.tointeger(tonumber(body)) end
  if kind == 'f' then return tonumber(body) end
  local t = {}
  for x in body:gmatch('[^,]+') do t[#t + 1] = tonumber(x) end
  return t
end
local function put_opt(name, opt, tensors, meta)
  local sd = opt:state_dict()
  for i, st in pairs(sd.state) do
    for k, v in pairs(st) do
      local key = ('%s.state.%d.%s'):format(name, i, k)
      if lg.is_tensor(v) then tensors[key] = v else meta[key] = enc(v) end
    end
  end
  for k, v in pairs(sd.param_groups[1]) do meta[name .. '.group.' .. k] = enc(v) end
end
local function get_opt(name, opt, tensors, meta)
  local sd = { state = {}, param_groups = { {} } }
  local function slot(i)
    sd.state[i] = sd.state[i] or {}
    return sd.state[i]
  end
  for key, t in pairs(tensors) do
    local i, k = key:match('^' .. name .. '%.state%.(%d+)%.(.+)$')
    if i then slot(math.tointeger(tonumber(i)))[k] = t end
  end
  for key, v in pairs(meta) do
    local i, k = key:match('^' .. name .. '%.state%.(%d+)%.(.+)$')
    if i then slot(math.tointeger(tonumber(i)))[k] = dec(v) end
    local g = key:match('^' .. name .. '%.group%.(.+)$')
    if g then sd.param_groups[1][g] = dec(v) end
  end
  opt:load_state_dict(sd)
end

local total = N + M
local losses = {}
if mode == 'full' then
  for s = 1, N do step(s, total) end
  local tensors, meta = {}, { step = tostring(N) }
  for k, v in pairs(model:state_dict()) do tensors['model.' .. k] = v end
  put_opt('sgd', sgd, tensors, meta)
  put_opt('adam', adam, tensors, meta)
  lg.save(ckpt, tensors, meta)
else
  local tensors, meta = lg.load(ckpt)
  local sd = {}
  for k, v in pairs(tensors) do
    local name = k:match('^model%.(.+)$')
    if name then sd[name] = v end
  end
  model:load_state_dict(sd)
  if mode == 'resume' then
    get_opt('sgd', sgd, tensors, meta)
    get_opt('adam', adam, tensors, meta)
  end
  assert(tonumber(meta.step) == N)
end
for s = N + 1, total do losses[#losses + 1] = ('%a'):format(step(s, total)) end
print(table.concat(losses, ' '))
]]

describe('resuming from a checkpoint', function()
  local dir
  setup(function() dir = make_tmpdir() end)
  teardown(function() sh('rm -rf ' .. dir) end)

  local function run(script, args)
    local p = io.popen(lua_cmd(script, args) .. ' 2>&1')
    local out = p:read('a')
    local ok = p:close()
    assert(ok, 'child failed: ' .. out)
    return out:gsub('%s+$', '')
  end

  it('continues bit-identically in a fresh process (model + SGD momentum + Adam state, 1 thread)', function()
    local script, ckpt = dir .. '/train.lua', dir .. '/ckpt.safetensors'
    write_file(script, TRAIN)
    local N, M = 40, 30
    local straight = run(script, { 'full', ckpt, N, M })
    local resumed = run(script, { 'resume', ckpt, N, M })
    local words = {}
    for w in straight:gmatch('%S+') do words[#words + 1] = w end
    assert.are.equal(M, #words)
    assert.are.equal(straight, resumed) -- every loss, bit for bit (hex floats)
    -- the optimizer state matters: without it the losses diverge
    local no_opt = run(script, { 'resume_no_opt', ckpt, N, M })
    assert.are_not.equal(straight, no_opt)
    -- the checkpoint holds the optimizers' step counts and momentum buffers
    local t, meta = lg.load(ckpt)
    assert.are.equal('i:' .. N, meta['adam.state.1.step'])
    assert.is_true(lg.is_tensor(t['sgd.state.1.momentum_buffer']))
    assert.are.equal('b:true', meta['sgd.group.nesterov'])
  end)
end)
