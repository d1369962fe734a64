-- Checkpoints: lg.save / lg.load of nested tables (tensors as safetensors entries with
-- flattened names, the rest as JSON in __metadata__), the RNG state, and resuming
-- training bit-identically in a new process for every optimiser and scheduler.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'
local json = require 'lunagrad.json'

local tmp = os.tmpname()
os.remove(tmp)
local dir = tmp .. '_ckpt'
assert(os.execute('mkdir -p ' .. dir))

local function read_all(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('a')
  f:close()
  return s
end

-- The safetensors layout by the format's spec: u64 little-endian header size N, N bytes of
-- JSON (an object of {dtype, shape, data_offsets} and an optional __metadata__ of strings),
-- then the data; offsets relative to the data section, contiguous from 0 to its end.
local SIZES = { F32 = 4, F64 = 8, I64 = 8 }
local function check_layout(path)
  local bytes = read_all(path)
  local n = string.unpack('<I8', bytes)
  local header = json.decode(bytes:sub(9, 8 + n))
  local data_len = #bytes - 8 - n
  local spans = {}
  for name, e in pairs(header) do
    if name == '__metadata__' then
      for k, v in pairs(e) do assert(type(k) == 'string' and type(v) == 'string', 'metadata must map strings to strings') end
    else
      assert(SIZES[e.dtype], 'dtype ' .. tostring(e.dtype))
      local numel = 1
      for _, d in ipairs(e.shape) do numel = numel * d end
      assert(e.data_offsets[2] - e.data_offsets[1] == numel * SIZES[e.dtype], name .. ': offsets do not fit the shape')
      spans[#spans + 1] = e.data_offsets
    end
  end
  table.sort(spans, function(a, b) return a[1] < b[1] end)
  local at = 0
  for _, s in ipairs(spans) do
    assert(s[1] == at, 'data_offsets must be contiguous')
    at = s[2]
  end
  assert(at == data_len, 'the data section must end with the last tensor')
  return header
end

describe('lg.save / lg.load of nested checkpoints', function()
  it('round-trips tensors, integers, floats, strings, booleans and nested tables', function()
    local w = lg.tensor { { 1, 2 }, { 3, 4 } }
    local value = {
      model = { ['fc1.weight'] = w, ['fc1.bias'] = lg.tensor({ 0.5 }, { dtype = 'float64' }) },
      optim = { state = { [1] = { step = 3, exp_avg = lg.zeros(2, 2) }, [3] = { step = 1 } },
        param_groups = { { lr = 0.1, betas = { 0.9, 0.999 }, nesterov = false, params = { 1, 2 } } } },
      step = 50, ratio = 1.0, negzero = -0.0, big = math.maxinteger, tiny = 5e-324, third = 1 / 3,
      best = math.huge, worst = -math.huge, undefined = 0 / 0, name = 'run "7"\n', flags = { true, false },
      empty = {}, keys = { [0.5] = 'half', [true] = 'yes', [-2] = 'minus two', x = 'ex' },
      idx = lg.tensor({ 3, 1 }, { dtype = 'int64' }), shared = w,
    }
    local path = dir .. '/nested.safetensors'
    lg.save(path, value, { note = 'hello' })
    local back, meta = lg.load(path)
    assert.are.same({ note = 'hello' }, meta)
    assert.are.same(w:totable(), back.model['fc1.weight']:totable())
    assert.are.equal('float64', back.model['fc1.bias'].dtype)
    assert.are.equal(back.model['fc1.weight'], back.shared) -- one tensor saved once, shared again
    assert.are.equal(3, back.optim.state[1].step)
    assert.are.equal('integer', math.type(back.optim.state[1].step))
    assert.is_nil(back.optim.state[2])
    assert.are.equal(1, back.optim.state[3].step)
    assert.are.same({ 0.9, 0.999 }, back.optim.param_groups[1].betas)
    assert.is_false(back.optim.param_groups[1].nesterov)
    assert.are.equal('float', math.type(back.ratio))
    assert.are.equal(math.maxinteger, back.big)
    assert.are.equal(5e-324, back.tiny)
    assert.are.equal(1 / 3, back.third)
    assert.are.equal(-math.huge, back.worst)
    assert.are.equal(math.huge, back.best)
    assert.is_true(back.undefined ~= back.undefined)
    assert.are.equal('-0.0', tostring(back.negzero))
    assert.are.equal('run "7"\n', back.name)
    assert.are.same({ true, false }, back.flags)
    assert.are.same({}, back.empty)
    assert.are.same({ [0.5] = 'half', [true] = 'yes', [-2] = 'minus two', x = 'ex' }, back.keys)
    assert.are.same({ 3, 1 }, back.idx:totable())
    assert.are.equal('int64', back.idx.dtype)
  end)

  it('writes a valid safetensors file: flattened entry names, JSON structure in __metadata__', function()
    lg.manual_seed(1)
    local net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    local opt = optim.Adam({ { params = { net[1].weight, net[1].bias } }, { params = { net[3].weight, net[3].bias } } })
    nn.F.mse_loss(net(lg.randn(5, 3)), lg.zeros(5, 2)):backward()
    opt:step()
    local path = dir .. '/model.safetensors'
    lg.save(path, { model = net:state_dict(), optim = opt:state_dict(), rng = lg.get_rng_state(), step = 1 })
    local header = check_layout(path)
    for _, name in ipairs { 'model.1.weight', 'model.1.bias', 'model.3.weight', 'model.3.bias', 'rng',
      'optim.state.1.exp_avg', 'optim.state.3.exp_avg_sq', 'optim.state.4.exp_avg' } do
      assert.is_table(header[name], name)
    end
    assert.are.equal('F32', header['model.1.weight'].dtype)
    assert.are.same({ 4, 3 }, header['model.1.weight'].shape)
    assert.are.equal('I64', header.rng.dtype)
    local doc = json.decode(header.__metadata__['lunagrad.checkpoint'])
    assert.are.equal(1, doc.version)
    assert.are.same({ tensor = 'model.1.weight' }, doc.value.dict.model.dict['1.weight'])
    assert.are.same({ dict = { ['1.weight'] = net[1].weight:totable() } }, { dict = { ['1.weight'] =
      lg.load(path).model['1.weight']:totable() } })
  end)

  it('keeps the flat {name = tensor} form exactly as before (no structure key)', function()
    local path = dir .. '/flat.safetensors'
    lg.save(path, { a = lg.ones(2), ['b.c'] = lg.zeros(1) }, { k = 3 })
    local header = check_layout(path)
    assert.are.same({ k = '3' }, header.__metadata__)
    local t, meta = lg.load(path)
    assert.are.same({ 1, 1 }, t.a:totable())
    assert.are.same({ 0 }, t['b.c']:totable())
    assert.are.same({ k = '3' }, meta)
  end)

  it('rejects what it cannot store with lunagrad.save errors and leaves an old file intact', function()
    local path = dir .. '/keep.safetensors'
    lg.save(path, { a = lg.ones(1) })
    local before = read_all(path)
    assert.has_error(function() lg.save(path, { model = { f = print } }) end,
      "lunagrad.save: the value at 'model.f' is a function (leaves must be tensors, numbers, strings or booleans)")
    assert.has_error(function() lg.save(path, { net = nn.Linear(1, 1) }) end,
      "lunagrad.save: the value at 'net' is a table with a metatable (an object, not plain data) (leaves must be tensors, numbers, strings or booleans)")
    local cyc = {}
    cyc.again = { cyc }
    assert.has_error(function() lg.save(path, cyc) end, "lunagrad.save: the table at 'again.1' contains itself")
    assert.has_error(function() lg.save(path, { a = { b = lg.ones(1) }, ['a.b'] = lg.ones(2) }) end,
      "lunagrad.save: two tensors flatten to the entry name 'a.b'")
    assert.has_error(function() lg.save(path, { [{}] = 1 }) end,
      'lunagrad.save: a key of the top level is a table (keys must be strings, numbers or booleans)')
    assert.has_error(function() lg.save(path, { x = 1 }, { ['lunagrad.checkpoint'] = 'x' }) end,
      "lunagrad.save: the metadata key 'lunagrad.checkpoint' is reserved")
    assert.has_error(function() lg.save(path, lg.ones(1)) end,
      'lunagrad.save: bad argument #2 (a table of name = Tensor or a checkpoint table expected, got a Tensor)')
    assert.are.equal(before, read_all(path))
  end)
end)

describe('lg.get_rng_state / lg.set_rng_state', function()
  it('restores the generator so the same numbers follow', function()
    lg.manual_seed(5)
    lg.rand(3)
    local s = lg.get_rng_state()
    assert.are.equal('int64', s.dtype)
    assert.are.same({ 4 }, s:shape())
    local a, n = lg.rand(5):totable(), lg.randn(3):totable()
    lg.set_rng_state(s)
    assert.are.same(a, lg.rand(5):totable())
    assert.are.same(n, lg.randn(3):totable())
    local copy = s:clone()
    lg.randperm(10)
    lg.set_rng_state(copy)
    assert.are.same(a, lg.rand(5):totable())
  end)

  it('rejects what is not a state', function()
    assert.has_error(function() lg.set_rng_state(lg.zeros(4, { dtype = 'int64' })) end,
      'lunagrad.set_rng_state: an all-zero generator state is invalid')
    assert.has_error(function() lg.set_rng_state(lg.zeros(4)) end,
      'lunagrad.set_rng_state: expects a 4-element 1-d int64 tensor (from lg.get_rng_state()), got a 1d float32 tensor of 4 elements')
    assert.has_error(function() lg.set_rng_state({ 1, 2, 3, 4 }) end,
      'lunagrad.set_rng_state: expects the tensor from lg.get_rng_state(), got table')
  end)
end)

describe('resuming training in a new process', function()
  local function run(mode)
    local src = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
    local cmd = string.format("LUA_PATH=%q LUA_CPATH=%q lua5.4 %shelpers/checkpoint_run.lua %s %s", package.path,
      package.cpath, src, mode, dir)
    local p = assert(io.popen(cmd))
    local out = p:read('a')
    local ok = p:close()
    assert(ok, mode .. ' run failed:\n' .. out)
    local lines = {}
    for line in out:gmatch('[^\n]+') do lines[#lines + 1] = line end
    return lines
  end

  it('gives bit-identical losses for steps 51..100 for every optimiser and scheduler', function()
    local straight = run('train') -- 50 steps, save, 50 more steps
    local resumed = run('resume')
    assert.are.equal(13, #straight)
    assert.are.equal(#straight, #resumed)
    for i = 1, #straight do
      assert.are.equal(straight[i], resumed[i])
      assert.are.equal(51, select(2, straight[i]:gsub(' ', ' ')) + 1) -- a name and 50 losses
    end
    -- the control: without the generator's state the batches and dropout masks differ
    local without = run('resume_without_rng')
    for i = 1, #straight do assert.are_not.equal(straight[i], without[i]) end
  end)
end)
