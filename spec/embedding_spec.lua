-- nn.Embedding / nn.EmbeddingBag / F.embedding / F.embedding_bag against PyTorch 1.13
-- (spec/fixtures/golden_emb.json, made by spec/fixtures/make_golden_emb.py): PyTorch's
-- state_dict loads into the lunagrad module (strict), then the output, the weight after the
-- forward (max_norm renormalises in place), the weight gradient and per_sample_weights'
-- gradient must match; indices and offsets are 1-based on the Lua side. Then gradients of
-- gradients, from_pretrained, init, save/load and bad input.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local F = nn.functional
local json = require 'lunagrad.json'
local files = require 'helpers.files'
local close = require 'helpers.close'
local gradcheck = require 'helpers.gradcheck'
local gradgradcheck = require 'helpers.gradgradcheck'

local golden = json.decode(files.read('spec/fixtures/golden_emb.json'))
local function is_null(v) return v == nil or v == json.null end
local function long(v) return lg.tensor(v, { dtype = 'int64' }) end

describe('nn.Embedding and nn.EmbeddingBag against PyTorch', function()
  assert.truthy(#golden.cases >= 20)
  for _, case in ipairs(golden.cases) do
    it(case.name, function()
      local dt = case.dtype
      local tol = dt == 'float64' and { rtol = 1e-12, atol = 1e-13 } or { rtol = 1e-5, atol = 1e-6 }
      local opts = { dtype = dt }
      for k, v in pairs(case.kwargs) do opts[k] = v end
      local m = nn[case.cls](case.num, case.dim, opts)
      assert.are.same(case.keys, m:state_dict_keys())
      m:load_state_dict({ weight = lg.tensor(case.weight, { dtype = dt }) })
      local x = long(case.input)
      local psw = not is_null(case.psw) and lg.tensor(case.psw, { dtype = dt, requires_grad = true }) or nil
      local out
      if case.cls == 'Embedding' then out = m(x)
      else out = m(x, not is_null(case.offsets) and long(case.offsets) or nil, psw) end
      close.assert_close(out, case.out, tol, 'output')
      close.assert_close(m.weight, case.weight_after, tol, 'weight after the forward')
      ;(out * lg.tensor(case.u, { dtype = dt })):sum():backward()
      close.assert_close(m.weight.grad, case.weight_grad, tol, 'weight gradient')
      if psw then close.assert_close(psw.grad, case.psw_grad, tol, 'per_sample_weights gradient') end
    end)
  end

  it('F.embedding and F.embedding_bag give the modules\' values', function()
    local w = lg.randn(6, 3, { dtype = 'float64' })
    local x = long { { 1, 2 }, { 6, 2 } }
    local e = nn.Embedding.from_pretrained(w, { padding_idx = 2 })
    close.assert_close(F.embedding(x, w, { padding_idx = 2 }), e(x):totable(), { rtol = 0, atol = 0 }, 'embedding')
    local b = nn.EmbeddingBag(6, 3, { mode = 'max', dtype = 'float64' })
    b:load_state_dict({ weight = w })
    local flat, offs = long { 1, 2, 6, 2 }, long { 1, 3 }
    close.assert_close(F.embedding_bag(flat, w, offs, { mode = 'max' }), b(flat, offs):totable(), { rtol = 0, atol = 0 },
      'embedding_bag')
    close.assert_close(F.embedding_bag(x, w, { mode = 'max' }), b(x):totable(), { rtol = 0, atol = 0 }, '2-d bags')
  end)
end)

describe('nn.Embedding', function()
  it('starts N(0, 1) with the padding row zero; a table of indices works; 0-d input gives [dim]', function()
    lg.manual_seed(3)
    local e = nn.Embedding(1000, 50, { padding_idx = 7 })
    local w = e.weight
    assert.are.same({ 1000, 50 }, w:shape())
    assert.is_true(math.abs(w:mean():item()) < 0.02)
    assert.is_true(math.abs((w * w):mean():item() - 1) < 0.03)
    assert.are.equal(0, w:narrow(1, 7, 1):abs():sum():item())
    assert.are.same({ 2, 50 }, e({ 3, 7 }):shape())
    assert.are.same({ 50 }, e(long(5)):shape())
    assert.are.same({ 0, 50 }, e(long {}):shape())
    assert.are.equal('float32', e.weight.dtype)
  end)

  it('the padding row gets no gradient even when it is not zero; repeated indices accumulate', function()
    local w0 = lg.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, { dtype = 'float64' })
    local e = nn.Embedding.from_pretrained(w0, { freeze = false, padding_idx = 3 })
    local y = e(long { 3, 1, 1, 3 })
    assert.are.same({ { 5, 6 }, { 1, 2 }, { 1, 2 }, { 5, 6 } }, y:totable())
    y:sum():backward()
    assert.are.same({ { 2, 2 }, { 0, 0 }, { 0, 0 } }, e.weight.grad:totable())
  end)

  it('from_pretrained copies the weight and freezes it unless freeze = false', function()
    local w0 = lg.randn(4, 3)
    local e = nn.Embedding.from_pretrained(w0)
    assert.is_false(e.weight.requires_grad)
    assert.are.same(w0:totable(), e.weight:totable())
    local y = e(long { 2 })
    assert.is_nil(y.grad_fn)
    assert.is_true(nn.Embedding.from_pretrained(w0, { freeze = false }).weight.requires_grad)
    local en = nn.Embedding.from_pretrained(w0:double(), { max_norm = 0.5 })
    en(long { 1 })
    local r = en.weight:narrow(1, 1, 1)
    assert.is_true(math.abs((r * r):sum():sqrt():item() - 0.5) < 1e-6)
  end)

  it('gradients and gradients of gradients (repeated indices; the padding mask)', function()
    local w = lg.randn(5, 3, { dtype = 'float64', requires_grad = true })
    local x = long { { 1, 2, 2 }, { 5, 2, 1 } }
    local f2 = function(wt) local y = F.embedding(x, wt) return y * y end
    assert(gradcheck(f2, { w }))
    assert(gradgradcheck(f2, { w }))
    -- padding_idx cuts row 2's gradient on purpose (finite differences would see it), so
    -- the padded version is checked against the cut gradient, then differentiated twice
    local fp = function(wt) local y = F.embedding(x, wt, { padding_idx = 2 }) return y * y end
    local g = lg.grad(fp(w):sum(), { w }, { create_graph = true })[1]
    local expect = (2 * w):detach():totable()
    local counts = { 2, 0, 0, 0, 1 }
    for r = 1, 5 do for c = 1, 3 do expect[r][c] = expect[r][c] * counts[r] end end
    close.assert_close(g, expect, { rtol = 1e-12, atol = 0 }, 'cut gradient')
    local gg = lg.grad(g:sum(), { w })[1]
    assert.are.same({ { 4, 4, 4 }, { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 }, { 2, 2, 2 } }, gg:totable())
    assert(gradgradcheck(fp, { w }))
  end)

  it('saves and loads; state_dict from PyTorch names', function()
    local e = nn.Embedding(7, 2, { padding_idx = 1 })
    local path = os.tmpname()
    nn.save(e, path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.same(e.weight:totable(), back.weight:totable())
    assert.are.equal(1, back.padding_idx)
    assert.are.same({ 'weight' }, e:state_dict_keys())
  end)

  it('bad input: clear lunagrad.nn.Embedding errors', function()
    local e = nn.Embedding(10, 3)
    local function err(f) local ok, msg = pcall(f) assert.is_false(ok) return tostring(msg) end
    local m = err(function() return e(long { 1, 11 }) end)
    assert.truthy(m:find('lunagrad.nn.Embedding: index 11 out of range', 1, true), m)
    assert.truthy(m:find('1..10', 1, true), m)
    m = err(function() return e(long { { 3, 0 } }) end)
    assert.truthy(m:find('lunagrad.nn.Embedding: index 0 out of range (at position 2', 1, true), m)
    m = err(function() return e(lg.tensor { 1, 2 }) end)
    assert.truthy(m:find('lunagrad.nn.Embedding: indices must be an int64 tensor, got float32', 1, true), m)
    m = err(function() return e({ 1, 2.5 }) end)
    assert.truthy(m:find('lunagrad.nn.Embedding: indices must be integers', 1, true), m)
    m = err(function() return e.forward(long { 1 }) end)
    assert.truthy(m:find('call it with a colon', 1, true), m)
    m = err(function() return nn.Embedding(10, 3, { padding_idx = 0 }) end)
    assert.truthy(m:find('lunagrad.nn.Embedding: padding_idx must be an integer in 1..10', 1, true), m)
    m = err(function() return nn.Embedding(10, 3, { sparse = true }) end)
    assert.truthy(m:find('lunagrad.nn.Embedding: sparse = true is not supported', 1, true), m)
    m = err(function() return nn.Embedding(10, 3, { paddingidx = 1 }) end)
    assert.truthy(m:find("unknown option 'paddingidx'", 1, true), m)
    m = err(function() return F.embedding(long { 1 }, lg.zeros(3)) end)
    assert.truthy(m:find('lunagrad.nn.functional.embedding: weight must be a 2-d tensor', 1, true), m)
  end)
end)

describe('nn.EmbeddingBag', function()
  it('empty bags give zeros in every mode; bags of padding only too', function()
    for _, mode in ipairs { 'sum', 'mean', 'max' } do
      local b = nn.EmbeddingBag(5, 2, { mode = mode, padding_idx = 4 })
      local y = b(long { 1, 4, 4 }, long { 1, 1, 2 })
      assert.are.same({ 0, 0 }, y[1]:totable(), mode)
      assert.are.same({ 0, 0 }, y[3]:totable(), mode)
      assert.are.same({ 3, 2 }, y:shape())
    end
  end)

  it('gradients and gradients of gradients (sum with per_sample_weights, mean, max)', function()
    local w = lg.randn(6, 3, { dtype = 'float64', requires_grad = true })
    local psw = lg.rand({ 5 }, { dtype = 'float64', requires_grad = true })
    local x, offs = long { 1, 3, 3, 6, 2 }, long { 1, 3, 3 }
    local fs = function(wt, p) return F.embedding_bag(x, wt, offs, { mode = 'sum', per_sample_weights = p }) end
    assert(gradcheck(fs, { w, psw }))
    assert(gradgradcheck(fs, { w, psw }))
    for _, mode in ipairs { 'mean', 'max' } do
      local f = function(wt) local y = F.embedding_bag(x, wt, offs, { mode = mode, padding_idx = 6 }) return y * y end
      assert(gradcheck(f, { w }))
      assert(gradgradcheck(f, { w }))
    end
  end)

  it('bad input: clear lunagrad.nn.EmbeddingBag errors', function()
    local b = nn.EmbeddingBag(10, 3)
    local function err(f) local ok, msg = pcall(f) assert.is_false(ok) return tostring(msg) end
    local m = err(function() return b(long { 1, 2 }) end)
    assert.truthy(m:find('lunagrad.nn.EmbeddingBag: a 1-d input needs offsets', 1, true), m)
    m = err(function() return b(long { 1, 2 }, long { 0, 1 }) end)
    assert.truthy(m:find('lunagrad.nn.EmbeddingBag: offsets[1] must be 1', 1, true), m)
    m = err(function() return b(long { { 1, 2 } }, long { 1 }) end)
    assert.truthy(m:find('offsets must be nil when input is 2-d', 1, true), m)
    m = err(function() return b(long { { 1, 2 } }, nil, lg.ones(1, 2)) end)
    assert.truthy(m:find("per_sample_weights is only supported for mode 'sum'", 1, true), m)
    m = err(function() return nn.EmbeddingBag(10, 3, { mode = 'sum' })(long { { 1, 2 } }, nil, lg.ones(2)) end)
    assert.truthy(m:find("per_sample_weights must be a tensor of the input's shape [1,2]", 1, true), m)
    m = err(function() return b(long { 1, 12 }, long { 1 }) end)
    assert.truthy(m:find('lunagrad.nn.EmbeddingBag: index 12 out of range', 1, true), m)
    m = err(function() return nn.EmbeddingBag(10, 3, { mode = 'median' }) end)
    assert.truthy(m:find("lunagrad.nn.EmbeddingBag: mode must be 'sum', 'mean' or 'max'", 1, true), m)
  end)
end)
