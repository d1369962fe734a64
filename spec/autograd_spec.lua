-- Autograd: leaves, accumulation, graph freeing, no_grad, error cases, deep
-- graphs, broadcasting, and the Gradient Reversal Layer.
local lg = require 'lunagrad'

local close = require 'helpers.close'
local flat = close.flat
local assert_close = close.assert_close

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, 'expected an error')
  return tostring(e)
end

local GOLDEN = {
  {name='reuse_a_times_a_plus_a',
   args={},
   inputs={a={shape={3,4}, data={{-0.4229871928691864,0.9911813139915466,0.15447978675365448,-0.29159051179885864},{0.5014258027076721,-0.7205997109413147,-1.2499405145645142,-0.4898315370082855},{-0.8733223676681519,0.6723006367683411,1.454459547996521,-1.1475988626480103}}}},
   out={shape={3,4}, data={{-0.2440690275378321,1.9736217111975556,0.17834379126910904,-0.20656548522773832},{0.7528536383287054,-0.2013357675326084,0.3124107753852883,-0.24989660236038613},{-0.11063040979864525,1.124288782967458,3.569912124754765,0.16938428690299645}}},
   upstream={shape={3,4}, data={{1.605564832687378,-1.2630630731582642,-0.26793766021728516,-0.8964666724205017},{0.22187991440296173,-1.4432331323623657,-0.41616663336753845,1.0203348398208618},{1.0742548704147339,0.15047986805438995,-0.09730112552642822,-0.2398104965686798}}},
   grads={a={shape={3,4}, data={{0.24729810959154008,-3.7669121061726827,-0.35071956544456384,-0.373664320777074},{0.44439254277139106,0.6367536236401321,0.6242004383444666,0.020750474115750706},{-0.8020867434045442,0.3528152902819546,-0.3803422276318713,0.3106020096578632}}}},
   tol={['rtol']=0.0001,['atol']=1e-05}},
  {name='diamond_exp',
   args={},
   inputs={a={shape={3,4}, data={{-0.038432616740465164,-0.3101164996623993,0.081797756254673,-0.11802686750888824},{-1.0459368228912354,-0.6147957444190979,-0.22243504226207733,0.8607223629951477},{0.07496228069067001,-0.0010651121847331524,0.048150744289159775,-0.33641859889030457}}}},
   out={shape={3,4}, data={{3.6325829670629055,3.442139035395274,3.758336436162605,3.5646793482143564},{3.6900462368748577,3.7250975946930955,3.879475058275801,6.093044306365979},{3.921229407743327,3.839367822835364,3.8909577650267653,3.6001199125139878}}},
   upstream={shape={3,4}, data={{-0.6645776033401489,0.40152060985565186,1.6169772148132324,1.8896123170852661},{-1.0652801990509033,-1.358778715133667,0.7067275047302246,-2.0782809257507324},{2.4696900844573975,-1.0561318397521973,0.726466953754425,0.966528058052063}}},
   grads={a={shape={3,4}, data={{2.5062978795136353,2.581824867728291,5.418340544079592,4.363486875772271},{-1.316441711315028,-2.3355156593250173,-2.598709191169037,-18.121315006831065},{6.20986265722836,2.049362351961989,4.05880403162877,2.6772316678418626}}}},
   tol={['rtol']=0.0001,['atol']=1e-05}},
  {name='grl_alpha0.5',
   args={['alpha']=0.5},
   inputs={x={shape={3,4}, data={{-0.2103833109140396,-0.9456690549850464,-1.848026990890503,0.1886865198612213},{-1.0381284952163696,1.5305485725402832,0.36086076498031616,-0.3883351981639862},{-2.176792860031128,-0.668731689453125,-0.40287289023399353,-0.4365876615047455}}}},
   out={shape={3,4}, data={{-0.2103833109140396,-0.9456690549850464,-1.848026990890503,0.1886865198612213},{-1.0381284952163696,1.5305485725402832,0.36086076498031616,-0.3883351981639862},{-2.176792860031128,-0.668731689453125,-0.40287289023399353,-0.4365876615047455}}},
   upstream={shape={3,4}, data={{-2.045325517654419,-0.11168224364519119,0.5841442346572876,0.12575852870941162},{0.4441048800945282,-1.4442980289459229,0.406450092792511,0.09913161396980286},{-0.9671716690063477,0.7207360863685608,1.5611696243286133,0.22500647604465485}}},
   grads={x={shape={3,4}, data={{1.0226627588272095,0.055841121822595596,-0.2920721173286438,-0.06287926435470581},{-0.2220524400472641,0.7221490144729614,-0.2032250463962555,-0.04956580698490143},{0.48358583450317383,-0.3603680431842804,-0.7805848121643066,-0.11250323802232742}}}},
   tol={['rtol']=0.0001,['atol']=1e-05}},
  {name='grl_alpha_tensor',
   args={['alpha']='tensor'},
   inputs={x={shape={2,3}, data={{1.4007445573806763,-0.07779126614332199,-0.1825629472732544},{-1.055292010307312,-0.2540135085582733,0.07960088551044464}}},alpha={shape={}, data=0.30000001192092896}},
   out={shape={2,3}, data={{1.4007445573806763,-0.07779126614332199,-0.1825629472732544},{-1.055292010307312,-0.2540135085582733,0.07960088551044464}}},
   upstream={shape={2,3}, data={{-1.1520859003067017,-0.41255730390548706,0.7487605810165405},{-0.04003971815109253,-0.9038752913475037,0.9335471391677856}}},
   grads={x={shape={2,3}, data={{0.34562578382594467,0.12376719608971243,-0.22462818323088385},{0.012011915922638394,0.27116259817928423,-0.2800641528790848}}}},
   tol={['rtol']=0.0001,['atol']=1e-05}},
  {name='grl_double',
   args={['alpha1']=0.5,['alpha2']=3.0},
   inputs={x={shape={3,4}, data={{0.42160919308662415,0.33225998282432556,0.7710535526275635,-0.5656718611717224},{0.0812755897641182,0.1702355593442917,-1.7898715734481812,0.11383228003978729},{-1.0727803707122803,0.6901232004165649,-0.1959841400384903,-0.7076510787010193}}}},
   out={shape={3,4}, data={{0.42160919308662415,0.33225998282432556,0.7710535526275635,-0.5656718611717224},{0.0812755897641182,0.1702355593442917,-1.7898715734481812,0.11383228003978729},{-1.0727803707122803,0.6901232004165649,-0.1959841400384903,-0.7076510787010193}}},
   upstream={shape={3,4}, data={{0.03891976922750473,-1.5326769351959229,-0.6196371912956238,0.09604813903570175},{-0.07007193565368652,-0.4632112681865692,1.515856385231018,-1.4034039974212646},{-1.3039026260375977,0.4797418713569641,0.631011962890625,-1.2754042148590088}}},
   grads={x={shape={3,4}, data={{0.058379653841257095,-2.2990154027938843,-0.9294557869434357,0.14407220855355263},{-0.10510790348052979,-0.6948169022798538,2.273784577846527,-2.105105996131897},{-1.9558539390563965,0.7196128070354462,0.9465179443359375,-1.9131063222885132}}}},
   tol={['rtol']=0.0001,['atol']=1e-05}},
}

local RUN = {
  reuse_a_times_a_plus_a = function(i) return i.a * i.a + i.a end,
  diamond_exp = function(i)
    local y = i.a:exp()
    return y * i.a + y:sum(2, true)
  end,
  grl_alpha0 = function(i, a) return lg.revgrad(i.x, a.alpha) end,
  grl_alpha_tensor = function(i) return lg.revgrad(i.x, i.alpha) end,
  grl_double = function(i, a) return lg.revgrad(lg.revgrad(i.x, a.alpha1), a.alpha2) end,
}
RUN['grl_alpha0.5'] = RUN.grl_alpha0

describe('golden autograd cases', function()
  for _, case in ipairs(GOLDEN) do
    it(case.name, function()
      local inputs = {}
      for name, t in pairs(case.inputs) do
        inputs[name] = lg.tensor(t.data, {requires_grad = case.grads[name] ~= nil})
      end
      local out = RUN[case.name](inputs, case.args)
      assert_close(out, case.out, case.tol, case.name .. ' out')
      out:backward(lg.tensor(case.upstream.data))
      for name, g in pairs(case.grads) do
        assert_close(inputs[name].grad, g, case.tol, case.name .. ' grad ' .. name)
      end
      if inputs.alpha then assert.is_nil(inputs.alpha.grad) end
    end)
  end
end)

describe('leaves and requires_grad', function()
  it('can be set on float leaves only', function()
    local x = lg.tensor{1, 2}
    x.requires_grad = true
    assert.is_true(x.requires_grad)
    x.requires_grad = false
    assert.is_false(x.requires_grad)
    local d = lg.zeros(2, {dtype = 'float64'})
    d.requires_grad = true
    assert.is_true(d.requires_grad)
    local i = lg.tensor({1, 2}, {dtype = 'int64'})
    local e = err_of(function() i.requires_grad = true end)
    assert.is_truthy(e:find('lunagrad.requires_grad: only float tensors can require grad', 1, true), e)
    assert.is_false(i.requires_grad)
    local y = lg.tensor({1}, {requires_grad = true}) * 2
    e = err_of(function() y.requires_grad = false end)
    assert.is_truthy(e:find('leaf', 1, true), e)
    assert.is_true(y.requires_grad)
    assert.is_false(y.is_leaf)
    assert.is_true(x.is_leaf)
  end)

  it('requires_grad_() returns the tensor', function()
    local x = lg.zeros(3)
    assert.are.equal(x, x:requires_grad_())
    assert.is_true(x.requires_grad)
    x:requires_grad_(false)
    assert.is_false(x.requires_grad)
  end)

  it('results of ops on tensors without grad record nothing', function()
    local y = lg.ones(2) * 3 + 1
    assert.is_false(y.requires_grad)
    assert.is_nil(y.grad_fn)
  end)

  it('backward on a leaf gives ones', function()
    local x = lg.tensor({5}, {requires_grad = true})
    x:backward()
    assert.are.same({1}, x.grad:totable())
  end)
end)

describe('gradient accumulation', function()
  it('sums across backward calls until grad = nil or zero_grad', function()
    local x = lg.tensor({1, 2, 3}, {requires_grad = true})
    local function run() (x * x):sum():backward() end -- d/dx = 2x
    run()
    assert.are.same({2, 4, 6}, x.grad:totable())
    run()
    assert.are.same({4, 8, 12}, x.grad:totable())
    x.grad = nil
    assert.is_nil(x.grad)
    run()
    assert.are.same({2, 4, 6}, x.grad:totable())
    x:zero_grad()
    assert.is_nil(x.grad)
    run()
    run()
    run()
    assert.are.same({6, 12, 18}, x.grad:totable())
  end)

  it('accumulates into the same gradient when a leaf is used twice', function()
    local x = lg.tensor({3}, {requires_grad = true})
    local y = x * x * x -- 3x^2 = 27
    y:backward()
    assert.are.same({27}, x.grad:totable())
  end)

  it('a user-set grad is accumulated into', function()
    local x = lg.tensor({1, 1}, {requires_grad = true})
    x.grad = lg.tensor{10, 20}
    ;(x * 3):sum():backward()
    assert.are.same({13, 23}, x.grad:totable())
  end)

  it('grad keeps the leaf dtype', function()
    local x = lg.tensor({1, 2}, {dtype = 'float64', requires_grad = true})
    local loss = (x * lg.tensor{0.5, 0.25}):sum()
    loss:backward()
    assert.are.equal('float64', x.grad.dtype)
    assert.are.same({0.5, 0.25}, x.grad:totable())
  end)
end)

describe('grad_fn names', function()
  local x = lg.tensor({1, 2}, {requires_grad = true})
  local cases = {
    {'add', function() return x + x end}, {'sub', function() return x - x end},
    {'mul', function() return x * x end}, {'div', function() return x / x end},
    {'add_scalar', function() return x + 1 end}, {'add_scalar', function() return x - 1 end},
    {'mul_scalar', function() return 2 * x end}, {'rsub_scalar', function() return 1 - x end},
    {'rdiv_scalar', function() return 1 / x end}, {'pow', function() return x ^ 2 end},
    {'rpow_scalar', function() return 2 ^ x end}, {'pow_tensor', function() return x ^ x end},
    {'neg', function() return -x end}, {'exp', function() return x:exp() end},
    {'log', function() return x:log() end}, {'sqrt', function() return x:sqrt() end},
    {'abs', function() return x:abs() end}, {'relu', function() return x:relu() end},
    {'sigmoid', function() return x:sigmoid() end}, {'tanh', function() return x:tanh() end},
    {'clamp', function() return x:clamp(0, 1) end}, {'sum', function() return x:sum() end},
    {'mean', function() return x:mean() end}, {'view', function() return x:view(2, 1) end},
    {'transpose', function() return x:view(1, 2):t() end}, {'slice', function() return x:narrow(1, 1, 1) end},
    {'select', function() return x:select(1, 2) end}, {'unsqueeze', function() return x:unsqueeze(1) end},
    {'expand', function() return x:expand(3, 2) end}, {'clone', function() return x:clone() end},
    {'to_dtype', function() return x:double() end}, {'revgrad', function() return lg.revgrad(x, 1) end},
    {'permute', function() return x:view(1, 2):permute(2, 1) end},
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local y = c[2]()
      assert.are.equal(c[1], y.grad_fn)
      assert.is_true(y.requires_grad)
    end)
  end

  it('leaves have none', function() assert.is_nil(x.grad_fn) end)
end)

describe('detach', function()
  it('shares storage but leaves the graph', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    local y = x * 2
    local d = y:detach()
    assert.is_nil(d.grad_fn)
    assert.is_false(d.requires_grad)
    assert.are.equal(y:storage_id(), d:storage_id())
    local z = (d * x):sum() -- only x's own path counts
    z:backward()
    assert.are.same({2, 4}, x.grad:totable())
  end)
end)

describe('lg.no_grad', function()
  it('records nothing and returns the function results', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    local a, b = lg.no_grad(function(k) return x * k, 'extra' end, 3)
    assert.is_nil(a.grad_fn)
    assert.is_false(a.requires_grad)
    assert.are.same({3, 6}, a:totable())
    assert.are.equal('extra', b)
    assert.is_true(lg.is_grad_enabled())
  end)

  it('restores the mode after an error and re-raises it', function()
    local e = err_of(lg.no_grad, function() error('inner failure') end)
    assert.is_truthy(e:find('inner failure', 1, true))
    assert.is_true(lg.is_grad_enabled())
    local x = lg.tensor({1}, {requires_grad = true})
    assert.are.equal('mul_scalar', (x * 2).grad_fn)
  end)

  it('nests and restores the outer mode', function()
    lg.no_grad(function()
      lg.no_grad(function() end)
      assert.is_false(lg.is_grad_enabled())
    end)
    assert.is_true(lg.is_grad_enabled())
  end)

  it('rejects a non-function', function()
    local e = err_of(lg.no_grad, 42)
    assert.is_truthy(e:find('lunagrad.no_grad:', 1, true))
  end)
end)

describe('backward errors', function()
  it('non-scalar output without a gradient', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    local e = err_of(function() (x * 2):backward() end)
    assert.is_truthy(e:find('lunagrad.backward:', 1, true))
    assert.is_truthy(e:find('[2]', 1, true), e)
  end)

  it('gradient of the wrong shape', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    local e = err_of(function() (x * 2):backward(lg.ones(3)) end)
    assert.is_truthy(e:find('lunagrad.backward: gradient of shape [3]', 1, true), e)
    assert.is_nil(x.grad)
  end)

  it('a tensor that does not require grad', function()
    local e = err_of(function() lg.ones(1):backward() end)
    assert.is_truthy(e:find('lunagrad.backward: tensor does not require grad', 1, true), e)
  end)

  it('second backward through a freed graph, unless retain_graph', function()
    local x = lg.tensor({3}, {requires_grad = true})
    local y = x * x
    y:backward()
    local e = err_of(function() y:backward() end)
    assert.is_truthy(e:find('lunagrad.backward: trying to backward through the graph a second time', 1, true), e)
    assert.is_truthy(e:find('retain_graph', 1, true))
    assert.are.same({6}, x.grad:totable())

    x.grad = nil
    local z = x * x
    z:backward{retain_graph = true}
    z:backward()
    assert.are.same({12}, x.grad:totable())
    assert.has_error(function() z:backward() end)
    local w = x * x
    w:backward(lg.tensor{2}, {retain_graph = true})
    w:backward(lg.tensor{1})
    assert.are.same({12 + 12 + 6}, x.grad:totable())
  end)

  it('allows a second backward where no node saved a tensor, as PyTorch does', function()
    -- PyTorch 1.13: y = (GRL(x + 1) + 6).sum(); y.backward(); y.backward() -> x.grad = [-2, -2]
    local x = lg.tensor({1, 2}, {requires_grad = true})
    local y = (lg.revgrad(x + 1, 1) + 6):sum()
    y:backward()
    y:backward()
    assert.are.same({-2, -2}, x.grad:totable())
    -- one node that saved tensors on the path is enough to refuse it
    x.grad = nil
    local z = ((x * x) + 1):sum()
    z:backward()
    local e = err_of(function() z:backward() end)
    assert.is_truthy(e:find('backward through the graph a second time', 1, true), e)
    assert.are.same({2, 4}, x.grad:totable())
  end)

  it('a gradient given as a number or table', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    ;(x * 3):backward{1, 2}
    assert.are.same({3, 6}, x.grad:totable())
    local s = lg.tensor({2}, {requires_grad = true})
    ;(s * 5):sum():backward(2)
    assert.are.same({10}, s.grad:totable())
  end)

  it('setting .grad of the wrong shape is an error', function()
    local x = lg.zeros(2, {requires_grad = true})
    assert.has_error(function() x.grad = lg.zeros(3) end)
  end)
end)

describe('graph shapes', function()
  it('a chain of 100000 ops backpropagates and frees without overflow', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    local y = x
    for _ = 1, 100000 do y = y + 0.5 end
    y = y * 2
    y:sum():backward()
    assert.are.same({2, 2}, x.grad:totable())
    assert.are.same({(1 + 50000) * 2, (2 + 50000) * 2}, y:totable())
  end)

  it('freeing an unused 100000-op graph does not overflow', function()
    collectgarbage()
    collectgarbage()
    local before = lg.memory().tensors
    do
      local x = lg.tensor({1}, {requires_grad = true})
      local y = x
      for _ = 1, 100000 do y = y * 1 end
      assert.are.equal('mul_scalar', y.grad_fn)
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, lg.memory().tensors)
  end)

  it('diamond: two paths from one node add up', function()
    local x = lg.tensor({2}, {requires_grad = true})
    local a = x * 3   -- 6
    local b = a * a   -- 36
    local c = a:exp() -- e^6
    local y = b + c   -- d/dx = (2a + e^a) * 3
    y:backward()
    assert_close(x.grad, {(12 + math.exp(6)) * 3}, {rtol = 1e-5, atol = 0})
  end)

  it('wide fan-out from one leaf', function()
    local x = lg.tensor({1, 2, 3}, {requires_grad = true})
    local total = x * 0
    for k = 1, 50 do total = total + x * k end
    total:sum():backward()
    assert.are.same({1275, 1275, 1275}, x.grad:totable())
  end)

  it('reduces broadcast gradients to each input shape', function()
    local a = lg.tensor({{1, 2, 3}, {4, 5, 6}}, {requires_grad = true}) -- 2x3
    local row = lg.tensor({10, 20, 30}, {requires_grad = true})        -- 3
    local col = lg.tensor({{1}, {2}}, {requires_grad = true})          -- 2x1
    local s = lg.tensor(2, {requires_grad = true})                     -- 0-d
    local y = (a * row + col) * s
    y:sum():backward()
    assert.are.same({{20, 40, 60}, {20, 40, 60}}, a.grad:totable())
    assert.are.same({10, 14, 18}, row.grad:totable())
    assert.are.same({{6}, {6}}, col.grad:totable())
    assert.are.equal(0, s.grad:dim())
    -- dy/ds = sum(a*row + col) = (10+40+90+3) + (40+100+180+6)
    assert.are.equal(143 + 326, s.grad:item())
  end)

  it('expand and broadcasting with a leading dim', function()
    local v = lg.tensor({1, 2}, {requires_grad = true})
    local y = v:expand(3, 2) * lg.tensor{{1}, {2}, {3}}
    y:sum():backward()
    assert.are.same({6, 6}, v.grad:totable())
  end)

  it('gradients flow through views into the right elements', function()
    local x = lg.zeros(3, 4, {requires_grad = true})
    local part = x:t():narrow(1, 2, 2):select(2, 3) -- x[3][2..3]
    ;(part * lg.tensor{5, 7}):sum():backward()
    assert.are.same({{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 5, 7, 0}}, x.grad:totable())
    local y = lg.arange(6):float():requires_grad_()
    y:slice(1, 1, 6, 2):sum():backward() -- elements 1, 3, 5
    assert.are.same({1, 0, 1, 0, 1, 0}, y.grad:totable())
  end)

  it('derivatives of the math functions', function()
    local x = lg.tensor({0.5, 2}, {dtype = 'float64', requires_grad = true})
    local y = x:exp() + x:log() + x:sqrt() + x:sigmoid() + x:tanh() + x ^ 3 + 2 ^ x + 1 / x
    y:sum():backward()
    local function d(v)
      local s = 1 / (1 + math.exp(-v))
      local t = math.tanh and math.tanh(v) or (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1)
      return math.exp(v) + 1 / v + 0.5 / math.sqrt(v) + s * (1 - s) + (1 - t * t) + 3 * v * v +
             2 ^ v * math.log(2) - 1 / (v * v)
    end
    assert_close(x.grad, {d(0.5), d(2)}, {rtol = 1e-12, atol = 1e-12})
  end)

  it('relu, abs and clamp pass gradient only where active', function()
    local x = lg.tensor({-2, -0.5, 0.5, 2}, {requires_grad = true})
    ;(x:relu() + x:abs() * 10 + x:clamp(-1, 1) * 100):sum():backward()
    assert.are.same({-10, 90, 111, 11}, x.grad:totable())
  end)
end)

describe('gradient reversal layer', function()
  it('forward is a view of the input sharing storage', function()
    local x = lg.tensor({1, 2, 3}, {requires_grad = true})
    local r = lg.revgrad(x, 0.7)
    assert.are.equal(x:storage_id(), r:storage_id())
    assert.are.same({1, 2, 3}, r:totable())
    assert.are.equal('revgrad', r.grad_fn)
    assert.are.equal(x:storage_id(), x:revgrad(1):storage_id())
  end)

  it('backward multiplies by -alpha', function()
    local x = lg.tensor({1, 2, 3}, {requires_grad = true})
    ;(lg.revgrad(x, 0.5) * lg.tensor{1, 2, 4}):sum():backward()
    assert.are.same({-0.5, -1, -2}, x.grad:totable())
  end)

  it('alpha defaults to 1 and may be a one-element tensor', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    lg.revgrad(x):sum():backward()
    assert.are.same({-1, -1}, x.grad:totable())
    x.grad = nil
    lg.revgrad(x, lg.tensor(0.25)):sum():backward()
    assert.are.same({-0.25, -0.25}, x.grad:totable())
    x.grad = nil
    lg.revgrad(x, lg.tensor{2}):sum():backward()
    assert.are.same({-2, -2}, x.grad:totable())
  end)

  it('alpha is captured at forward time', function()
    local x = lg.tensor({1}, {requires_grad = true})
    local a = lg.tensor{3}
    local y = lg.revgrad(x, a)
    a:fill(100)
    y:backward()
    assert.are.same({-3}, x.grad:totable())
  end)

  it('two GRLs multiply their alphas (signs cancel)', function()
    local x = lg.tensor({1, 2}, {requires_grad = true})
    lg.revgrad(lg.revgrad(x, 0.5), 4):sum():backward()
    assert.are.same({2, 2}, x.grad:totable())
    x.grad = nil
    lg.revgrad(lg.revgrad(lg.revgrad(x, 1), 2), 3):sum():backward()
    assert.are.same({-6, -6}, x.grad:totable())
  end)

  it('alpha 0 blocks the gradient', function()
    local x = lg.tensor({1}, {requires_grad = true})
    ;(lg.revgrad(x, 0) + x):sum():backward()
    assert.are.same({1}, x.grad:totable())
  end)

  it('only the branch behind the GRL is reversed', function()
    local w = lg.tensor({2}, {requires_grad = true})
    local f = w * 3                              -- features
    local label = f * 1                          -- label head
    local domain = lg.revgrad(f, 0.5) * 2        -- domain head behind the GRL
    (label + domain):backward()
    assert.are.same({3 * (1 - 0.5 * 2)}, w.grad:totable())
  end)

  it('rejects a non-numeric or multi-element alpha', function()
    local x = lg.ones(2, {requires_grad = true})
    local e = err_of(lg.revgrad, x, 'a')
    assert.is_truthy(e:find('lunagrad.revgrad:', 1, true), e)
    e = err_of(lg.revgrad, x, {1})
    assert.is_truthy(e:find('lunagrad.revgrad:', 1, true), e)
    e = err_of(lg.revgrad, x, lg.ones(2))
    assert.is_truthy(e:find('lunagrad.revgrad: alpha tensor must have one element', 1, true), e)
    e = err_of(lg.revgrad, x, 0 / 0)
    assert.is_truthy(e:find('lunagrad.revgrad: alpha must be finite', 1, true), e)
    e = err_of(lg.revgrad, 'x', 1)
    assert.is_truthy(e:find('lunagrad.revgrad:', 1, true), e)
  end)

  it('works without requires_grad (plain identity view)', function()
    local x = lg.tensor{1, 2}
    local r = lg.revgrad(x, 1)
    assert.is_nil(r.grad_fn)
    assert.are.same({1, 2}, r:totable())
  end)
end)
