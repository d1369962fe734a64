-- nn.RNN / nn.LSTM / nn.GRU, the cells and nn.utils.rnn beyond the PyTorch golden values
-- (spec/golden_rnn_spec.lua): the fused first-order backward against the create_graph rule
-- made of ops, double backward through the modules, packed-sequence layouts, dropout,
-- save/load, in-place checks and bad input.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local nn = require 'lunagrad.nn'
local close = require 'helpers.close'
local gradgradcheck = require 'helpers.gradgradcheck'
local gradcheck = require 'helpers.gradcheck'

local rnn = nn.utils.rnn
local function t64(...) return lg.rand({...}, {dtype = 'float64'}) * 2 - 1 end
local function idx(v) return lg.tensor(v, {dtype = 'int64'}) end

local function raises(fn, fname, text)
  local ok, err = pcall(fn)
  assert.is_false(ok, 'expected an error from ' .. fname)
  err = tostring(err)
  assert.truthy(err:find(fname .. ': ', 1, true), 'no "' .. fname .. ': " in: ' .. err)
  assert.truthy(err:find(text, 1, true), 'no "' .. text .. '" in: ' .. err)
end

describe('core.rnn: the fused backward equals the create_graph rule made of ops', function()
  local configs = {
    {'rnn_tanh', 1, false, nil, false}, {'rnn_relu', 1, false, {3, 1}, true}, {'lstm', 4, false, nil, true},
    {'lstm', 4, true, {2, 3}, false}, {'lstm', 4, true, nil, true}, {'gru', 3, false, {3, 2}, false},
    {'gru', 3, false, nil, false},
  }
  for _, c in ipairs(configs) do
    local mode, G, proj, lengths, reverse = table.unpack(c)
    it(string.format('%s proj=%s lengths=%s reverse=%s', mode, tostring(proj), lengths and 'yes' or 'no',
      tostring(reverse)), function()
      lg.manual_seed(7)
      local H, P, I = 4, proj and 2 or 4, 3
      local inputs = {t64(3, 2, I), t64(2, P), mode == 'lstm' and t64(2, H) or nil, t64(G * H, I), t64(G * H, P),
        t64(G * H), t64(G * H), proj and t64(P, H) or nil}
      local list = {}
      for k = 1, 8 do if inputs[k] then inputs[k]:requires_grad_(); list[#list + 1] = inputs[k] end end
      local function run()
        return core.rnn(mode, inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], inputs[6], inputs[7], inputs[8],
          lengths and idx(lengths), reverse)
      end
      local Y = run()
      local u = t64(table.unpack(Y:shape()))
      local fused = lg.grad((Y * u):sum(), list)
      local ops = lg.grad((run() * u):sum(), list, {create_graph = true})
      for k = 1, #list do
        close.assert_close(ops[k]:detach(), fused[k]:totable(), {rtol = 1e-12, atol = 1e-13}, 'input ' .. k)
        assert.is_not_nil(ops[k].grad_fn, 'create_graph gradient ' .. k .. ' is recorded')
      end
    end)
  end

  it('float32 fused gradients match float64 ones', function()
    lg.manual_seed(3)
    local x, h0, c0, wih, whh = t64(6, 3, 5), t64(3, 4), t64(3, 4), t64(16, 5), t64(16, 4)
    local function grads(dt)
      local xs = {x:to(dt):requires_grad_(), h0:to(dt):requires_grad_(), c0:to(dt):requires_grad_(),
        wih:to(dt):requires_grad_(), whh:to(dt):requires_grad_()}
      local Y = core.rnn('lstm', xs[1], xs[2], xs[3], xs[4], xs[5], nil, nil, nil, nil, false)
      return Y, lg.grad(Y:sum(), xs)
    end
    local Y32, g32 = grads('float32')
    local Y64, g64 = grads('float64')
    close.assert_close(Y32:double(), Y64:totable(), {rtol = 1e-5, atol = 1e-6}, 'Y')
    for k = 1, 5 do close.assert_close(g32[k]:double(), g64[k]:totable(), {rtol = 1e-4, atol = 1e-5}, 'grad ' .. k) end
  end)
end)

describe('core.rnn in float32 (vector gate functions) against float64', function()
  for _, mode in ipairs {'lstm', 'gru', 'rnn_tanh'} do
    it(mode .. ', saturated gates included', function()
      lg.manual_seed(21)
      local G = mode == 'lstm' and 4 or mode == 'gru' and 3 or 1
      local H, I = 37, 5 -- 37: the 8-lane loops' tails too
      local x = lg.randn({9, 3, I}, {dtype = 'float64'}) * 6
      local h0, c0 = lg.randn({3, H}, {dtype = 'float64'}), lg.randn({3, H}, {dtype = 'float64'}) * 3
      local wih, whh = lg.randn({G * H, I}, {dtype = 'float64'}), lg.randn({G * H, H}, {dtype = 'float64'}) * 0.5
      local function run(dt)
        local xs = {x:to(dt):requires_grad_(), h0:to(dt):requires_grad_(), mode == 'lstm' and c0:to(dt):requires_grad_() or nil,
          wih:to(dt):requires_grad_(), whh:to(dt):requires_grad_()}
        local Y = core.rnn(mode, xs[1], xs[2], xs[3], xs[4], xs[5], nil, nil, nil, idx({9, 4, 7}), mode == 'gru')
        Y:sum():backward()
        return Y, xs
      end
      local Y32, a = run('float32')
      local Y64, b = run('float64')
      assert.truthy((Y32:double() - Y64):abs():max():item() < 2e-5)
      for k = 1, 5 do
        if b[k] then
          local scale = b[k].grad:abs():max():item()
          assert.truthy((a[k].grad:double() - b[k].grad):abs():max():item() < 2e-5 * scale, 'gradient ' .. k)
        end
      end
    end)
  end
end)

describe('double backward through the modules', function()
  it('nn.LSTM (bidirectional, proj_size, packed): gradgradcheck of input and states', function()
    lg.manual_seed(11)
    local m = nn.LSTM(2, 3, {proj_size = 2, bidirectional = true, num_layers = 2}):double()
    local fn = function(x, h0, c0)
      local out, hc = m(rnn.pack_padded_sequence(x, {3, 1}, false, false), {h0, c0})
      local padded = rnn.pad_packed_sequence(out)
      return padded, hc[1], hc[2]
    end
    local inputs = {t64(3, 2, 2):requires_grad_(), t64(4, 2, 2):requires_grad_(), t64(4, 2, 3):requires_grad_()}
    local ok, msg = gradcheck(fn, inputs)
    assert(ok, msg)
    ok, msg = gradgradcheck(fn, inputs)
    assert(ok, msg)
  end)

  it('nn.GRU: a gradient penalty reaches the parameters (second derivative against finite differences)', function()
    lg.manual_seed(12)
    local m = nn.GRU(2, 3, {batch_first = true}):double()
    local params = m:parameters()
    local fn = function(wih, whh, bih, bhh, x)
      m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0 = wih, whh, bih, bhh
      local out = m(x)
      return out
    end
    local inputs = {}
    for i, p in ipairs(params) do inputs[i] = p:detach():clone():requires_grad_() end
    inputs[#inputs + 1] = t64(2, 3, 2):requires_grad_()
    local ok, msg = gradgradcheck(fn, inputs)
    assert(ok, msg)
  end)

  it('nn.RNNCell and nn.LSTMCell: gradgradcheck', function()
    lg.manual_seed(13)
    local rc = nn.RNNCell(2, 3, true, 'relu'):double()
    local ok, msg = gradgradcheck(function(x, h) return rc(x, h) end, {t64(2, 2):requires_grad_(), t64(2, 3):requires_grad_()})
    assert(ok, msg)
    local lc = nn.LSTMCell(2, 3):double()
    ok, msg = gradgradcheck(function(x, h, c) local r = lc(x, {h, c}) return r[1], r[2] end,
      {t64(2):requires_grad_(), t64(3):requires_grad_(), t64(3):requires_grad_()})
    assert(ok, msg)
  end)
end)

describe('nn.utils.rnn', function()
  -- batch of 3 (caller order), lengths 2, 4, 1: sorted order is 2, 1, 3
  local x = lg.arange and nil
  local function padded()
    local v = {}
    for t = 1, 4 do
      v[t] = {}
      for b = 1, 3 do v[t][b] = {10 * t + b} end
    end
    return lg.tensor(v, {dtype = 'float64'})
  end

  it('pack_padded_sequence: PyTorch data, batch_sizes and indices', function()
    local p = rnn.pack_padded_sequence(padded(), {2, 4, 1}, false, false)
    assert.are.same({3, 2, 1, 1}, p.batch_sizes:totable())
    assert.are.same({2, 1, 3}, p.sorted_indices:totable())
    assert.are.same({2, 1, 3}, p.unsorted_indices:totable())
    assert.are.same({{12}, {11}, {13}, {22}, {21}, {32}, {42}}, p.data:totable())
    local sorted = rnn.pack_padded_sequence(padded():index(2, idx({2, 1, 3})), {4, 2, 1})
    assert.is_nil(sorted.sorted_indices)
    assert.are.same(p.data:totable(), sorted.data:totable())
  end)

  it('pad_packed_sequence: zeros (or padding_value) past each length, total_length, batch_first', function()
    local p = rnn.pack_padded_sequence(padded():transpose(1, 2), {2, 4, 1}, {batch_first = true, enforce_sorted = false})
    local out, lens = rnn.pad_packed_sequence(p, true, -1, 5)
    assert.are.same({2, 4, 1}, lens:totable())
    assert.are.same({3, 5, 1}, out:shape())
    assert.are.same({{11}, {21}, {-1}, {-1}, {-1}}, out:select(1, 1):totable())
    assert.are.same({{12}, {22}, {32}, {42}, {-1}}, out:select(1, 2):totable())
    local out2 = rnn.pad_packed_sequence(p)
    assert.are.same({{13}, {0}, {0}, {0}}, out2:select(2, 3):totable())
  end)

  it('PackedSequence(data, batch_sizes, sorted_indices) runs like the packed padded batch', function()
    lg.manual_seed(5)
    local m = nn.GRU(1, 2):double()
    local p = rnn.pack_padded_sequence(padded() / 40, {2, 4, 1}, false, false)
    local q = rnn.PackedSequence(p.data, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
    local o1, h1 = m(p)
    local o2, h2 = m(q)
    close.assert_close(h2, h1:totable(), {rtol = 1e-12, atol = 0}, 'h_n')
    close.assert_close(o2.data, o1.data:totable(), {rtol = 1e-12, atol = 0}, 'data')
  end)

  it('final states of a packed batch are the states at each length (same as running each sequence alone)', function()
    lg.manual_seed(6)
    local m = nn.LSTM(2, 3, {bidirectional = true}):double()
    local x = t64(5, 3, 2)
    local lens = {5, 2, 3}
    local out, hc = m(rnn.pack_padded_sequence(x, lens, false, false))
    local padded = rnn.pad_packed_sequence(out)
    for b = 1, 3 do
      local xb = x:narrow(2, b, 1):narrow(1, 1, lens[b])
      local ob, hcb = m(xb)
      close.assert_close(hc[1]:narrow(2, b, 1), hcb[1]:totable(), {rtol = 1e-12, atol = 1e-14}, 'h_n ' .. b)
      close.assert_close(hc[2]:narrow(2, b, 1), hcb[2]:totable(), {rtol = 1e-12, atol = 1e-14}, 'c_n ' .. b)
      close.assert_close(padded:narrow(2, b, 1):narrow(1, 1, lens[b]), ob:totable(), {rtol = 1e-12, atol = 1e-14}, 'out ' .. b)
    end
  end)

  it('pad_sequence and pack_sequence', function()
    local a, b = lg.tensor({{1}, {2}, {3}}), lg.tensor({{4}})
    assert.are.same({{{1}, {4}}, {{2}, {0}}, {{3}, {0}}}, rnn.pad_sequence({a, b}):totable())
    assert.are.same({{{1}, {2}, {3}}, {{4}, {9}, {9}}}, rnn.pad_sequence({a, b}, true, 9):totable())
    local p = rnn.pack_sequence({a, b})
    assert.are.same({2, 1, 1}, p.batch_sizes:totable())
    assert.are.same({{1}, {4}, {2}, {3}}, p.data:totable())
  end)
end)

describe('recurrent modules', function()
  it('dropout between layers only in training mode', function()
    lg.manual_seed(8)
    local m = nn.GRU(3, 4, {num_layers = 2, dropout = 0.5})
    local plain = nn.GRU(3, 4, {num_layers = 2})
    plain:load_state_dict(m:state_dict())
    local x = lg.randn(5, 2, 3)
    local o_train = m(x)
    m:evaluate()
    local o_eval = m(x)
    local o_plain = plain(x)
    close.assert_close(o_eval, o_plain:totable(), {rtol = 0, atol = 0}, 'eval = no dropout')
    assert.truthy((o_train - o_eval):abs():max():item() > 1e-3)
  end)

  it('initialisation is U(-1/sqrt(hidden), 1/sqrt(hidden)) for every parameter, PyTorch shapes', function()
    lg.manual_seed(9)
    local m = nn.LSTM(5, 16, {proj_size = 4, num_layers = 2, bidirectional = true})
    local shapes = {weight_ih_l0 = {64, 5}, weight_hh_l0 = {64, 4}, bias_ih_l0 = {64}, weight_hr_l0 = {4, 16},
      weight_ih_l1_reverse = {64, 8}, weight_hr_l1_reverse = {4, 16}}
    for name, s in pairs(shapes) do assert.are.same(s, m[name]:shape(), name) end
    for name, p in m:named_parameters() do
      assert.truthy(p:abs():max():item() <= 0.25, name)
      assert.truthy(p:abs():max():item() > 0.2, name)
    end
    assert.are.equal(2 * 2 * 5, #m:parameters())
  end)

  it('nn.save / nn.load rebuild an LSTM with its options and weights', function()
    lg.manual_seed(10)
    local m = nn.LSTM(3, 4, 2, {batch_first = true, bidirectional = true})
    local path = os.tmpname()
    nn.save(m, path)
    local back = nn.load(path)
    os.remove(path)
    local x = lg.randn(2, 5, 3)
    local o1, s1 = m(x)
    local o2, s2 = back(x)
    close.assert_close(o2, o1:totable(), {rtol = 0, atol = 0}, 'output')
    close.assert_close(s2[2], s1[2]:totable(), {rtol = 0, atol = 0}, 'c_n')
    assert.are.equal('nn.LSTM(3, 4, num_layers=2, batch_first=true, bidirectional=true)', tostring(back))
  end)

  it('unbatched input: 2-d output and states', function()
    local m = nn.RNN(3, 2, {num_layers = 2})
    local out, h = m(lg.randn(4, 3), lg.zeros(2, 2))
    assert.are.same({4, 2}, out:shape())
    assert.are.same({2, 2}, h:shape())
    local c = nn.GRUCell(3, 2)
    assert.are.same({2}, c(lg.randn(3)):shape())
  end)

  it('a cell step equals one step of the layer with the same weights', function()
    lg.manual_seed(14)
    local cell, layer = nn.LSTMCell(3, 4):double(), nn.LSTM(3, 4):double()
    local sd = {}
    for k, v in pairs(cell:state_dict()) do sd[k .. '_l0'] = v end
    layer:load_state_dict(sd)
    local x, h, c = t64(2, 3), t64(2, 4), t64(2, 4)
    local r = cell(x, {h, c})
    local _, hc = layer(x:unsqueeze(1), {h:unsqueeze(1), c:unsqueeze(1)})
    close.assert_close(r[1], hc[1]:squeeze(1):totable(), {rtol = 1e-14, atol = 1e-15}, 'h')
    close.assert_close(r[2], hc[2]:squeeze(1):totable(), {rtol = 1e-14, atol = 1e-15}, 'c')
  end)

  it('weights modified in place after the forward: backward refuses', function()
    local m = nn.GRU(2, 3)
    local out = m(lg.randn(3, 1, 2))
    lg.no_grad(function() m.weight_hh_l0:add_(1) end)
    local ok, err = pcall(function() out:sum():backward() end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("the w_hh that 'gru' saved for its gradient was modified by an in-place operation", 1, true), tostring(err))
  end)

  it('a second backward without retain_graph is an error; with retain_graph it gives the same gradients', function()
    local m = nn.LSTM(2, 3)
    local x = lg.randn(3, 1, 2):requires_grad_()
    local out = m(x)
    out:sum():backward({retain_graph = true})
    local g1 = x.grad:clone()
    x.grad = nil
    out:sum():backward()
    close.assert_close(x.grad, g1:totable(), {rtol = 0, atol = 0}, 'same gradient')
    local ok, err = pcall(function() out:sum():backward() end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find('backward through the graph a second time', 1, true), tostring(err))
  end)
end)

describe('recurrent modules: bad input', function()
  local lstm = nn.LSTM(3, 4, {num_layers = 2})
  local cases = {
    {'lunagrad.nn.LSTM', function() return lstm(lg.randn(5, 2, 4)) end, 'input.size(-1) must be equal to input_size: expected 3, got 4'},
    {'lunagrad.nn.LSTM', function() return lstm(lg.randn(5)) end, 'expected a 3-d input [seq, batch, input_size] (or 2-d unbatched), got 1-d [5]'},
    {'lunagrad.nn.LSTM', function() return lstm('x') end, 'expected a Tensor or a PackedSequence input, got string'},
    {'lunagrad.nn.LSTM', function() return lstm(lg.randn(5, 2, 3), lg.zeros(2, 2, 4)) end, 'hx must be a table {h_0, c_0} of two tensors, got a Tensor'},
    {'lunagrad.nn.LSTM', function() return lstm(lg.randn(5, 2, 3), {lg.zeros(1, 2, 4), lg.zeros(2, 2, 4)}) end, 'expected hx[1] (h_0) of size (2, 2, 4), got [1, 2, 4]'},
    {'lunagrad.nn.LSTM', function() return lstm(lg.randn(5, 2, 3), {lg.zeros(2, 2, 4), lg.zeros(2, 3, 4)}) end, 'expected hx[2] (c_0) of size (2, 2, 4), got [2, 3, 4]'},
    {'lunagrad.nn.LSTM', function() return lstm(lg.randn(5, 2, 3, {dtype = 'float64'})) end, 'input is float64 but the parameters are float32'},
    {'lunagrad.nn.LSTM', function() return nn.LSTM(3, 4, {proj_size = 4}) end, 'proj_size (4) has to be smaller than hidden_size (4)'},
    {'lunagrad.nn.LSTM', function() return nn.LSTM(3, 4, {projsize = 2}) end, "unknown option 'projsize'"},
    {'lunagrad.nn.GRU', function() return nn.GRU(3, 0) end, 'hidden_size must be an integer >= 1, got 0'},
    {'lunagrad.nn.GRU', function() return nn.GRU(3, 4, {proj_size = 2}) end, "unknown option 'proj_size'"},
    {'lunagrad.nn.GRU', function() return nn.GRU(3, 4)(lg.randn(5, 2, 3), lg.zeros(1, 3, 4)) end, 'expected hx (h_0) of size (1, 2, 4), got [1, 3, 4]'},
    {'lunagrad.nn.GRU', function() return nn.GRU(3, 4, {dropout = 2}) end, 'dropout must be a number in [0, 1], got 2'},
    {'lunagrad.nn.RNN', function() return nn.RNN(3, 4, {nonlinearity = 'sigmoid'}) end, "nonlinearity must be 'tanh' or 'relu', got sigmoid"},
    {'lunagrad.nn.RNN', function() return nn.RNN(3, 4, {num_layers = 2})(lg.randn(5, 3), lg.zeros(2, 1, 4)) end, 'expected hx (h_0) of size (2, 4), got [2, 1, 4] (the input is unbatched: 2-d states)'},
    {'lunagrad.nn.LSTMCell', function() return nn.LSTMCell(3, 4)(lg.randn(2, 5)) end, 'input has inconsistent input_size: got 5, expected 3'},
    {'lunagrad.nn.LSTMCell', function() return nn.LSTMCell(3, 4)(lg.randn(2, 3), lg.zeros(2, 4)) end, 'hx must be a table {h, c} of two tensors, got a Tensor'},
    {'lunagrad.nn.GRUCell', function() return nn.GRUCell(3, 4)(lg.randn(2, 3), lg.zeros(2, 5)) end, 'hx has inconsistent hidden_size: got 5, expected 4'},
    {'lunagrad.nn.RNNCell', function() return nn.RNNCell(3, 4)(lg.randn(2, 3), lg.zeros(3, 4)) end, "input batch size 2 doesn't match hx batch size 3"},
    {'lunagrad.nn.RNNCell', function() return nn.RNNCell(3, 4)(lg.randn(2, 2, 3)) end, 'expected input to be 1-d or 2-d [batch, input_size], got 3-d [2, 2, 3]'},
    {'lunagrad.nn.utils.rnn.pack_padded_sequence', function() return rnn.pack_padded_sequence(lg.randn(5, 3, 2), {2, 4, 1}) end, 'lengths must be sorted in decreasing order when enforce_sorted is true (lengths[2] = 4 > lengths[1] = 2)'},
    {'lunagrad.nn.utils.rnn.pack_padded_sequence', function() return rnn.pack_padded_sequence(lg.randn(5, 3, 2), {2, 1}) end, 'expected 3 lengths (one per sequence of the batch), got 2'},
    {'lunagrad.nn.utils.rnn.pack_padded_sequence', function() return rnn.pack_padded_sequence(lg.randn(5, 3, 2), {3, 2, 0}) end, 'length of all samples has to be greater than 0, but lengths[3] = 0'},
    {'lunagrad.nn.utils.rnn.pack_padded_sequence', function() return rnn.pack_padded_sequence(lg.randn(5, 3, 2), {6, 2, 1}) end, 'lengths[1] = 6 is longer than the input (5 steps)'},
    {'lunagrad.nn.utils.rnn.pack_padded_sequence', function() return rnn.pack_padded_sequence(lg.randn(5, 3, 2), {3, 2, 1}, {sorted = true}) end, "unknown option 'sorted'"},
    {'lunagrad.nn.utils.rnn.pad_packed_sequence', function() return rnn.pad_packed_sequence(lg.randn(5, 3, 2)) end, 'expected a PackedSequence, got a Tensor'},
    {'lunagrad.nn.utils.rnn.pad_packed_sequence', function() return rnn.pad_packed_sequence(rnn.pack_padded_sequence(lg.randn(5, 2, 2), {4, 3}), false, 0, 3) end, 'total_length (3) must be at least the length of the longest sequence (4)'},
    {'lunagrad.rnn', function() return core.rnn('lstm2', lg.randn(2, 1, 2), lg.zeros(1, 2), nil, lg.randn(2, 2), lg.randn(2, 2)) end, "mode must be 'rnn_tanh', 'rnn_relu', 'lstm' or 'gru', got lstm2"},
    {'lunagrad.rnn', function() return core.rnn('gru', lg.randn(2, 1, 2), lg.zeros(1, 2), nil, lg.randn(6, 2), lg.randn(6, 3)) end, 'gru: w_hh must be [6, 2], got [6,3]'},
    {'lunagrad.rnn', function() return core.rnn('rnn_tanh', lg.randn(2, 1, 2), lg.zeros(1, 2), nil, lg.randn(2, 2), lg.randn(2, 2), nil, nil, nil, lg.tensor({3}, {dtype = 'int64'})) end, 'lengths[0] = 3 is out of range (lengths must be in 1..2'},
    {'lunagrad.rnn', function() return core.rnn('lstm', lg.randn(2, 1, 2), lg.zeros(1, 2), nil, lg.randn(8, 2), lg.randn(8, 2)) end, 'lstm: c0 is required'},
  }
  for _, c in ipairs(cases) do
    it(c[1] .. ': ' .. c[3], function() raises(c[2], c[1], c[3]) end)
  end
end)
