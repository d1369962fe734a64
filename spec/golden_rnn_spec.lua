-- nn.RNN / nn.LSTM / nn.GRU and the cells against PyTorch 1.13 (spec/fixtures/golden_rnn.json,
-- made by spec/fixtures/make_golden_rnn.py): the PyTorch module's state_dict loads into the
-- lunagrad module (same names, same order, strict), then outputs, final states and the
-- gradients of the input, the initial states and every parameter must match, for
-- num_layers 2, bidirectional, batch_first, proj_size, no bias, unbatched inputs and
-- variable lengths through pack_padded_sequence / pad_packed_sequence.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local json = require 'lunagrad.json'
local files = require 'helpers.files'
local close = require 'helpers.close'

local golden = json.decode(files.read('spec/fixtures/golden_rnn.json'))
local rnn = nn.utils.rnn

local function is_null(v) return v == nil or v == json.null end

local function shape_of(v, out)
  out = out or {}
  if type(v) == 'table' and v ~= json.null then
    out[#out + 1] = #v
    if #v > 0 then shape_of(v[1], out) end
  end
  return out
end

local function tensor(v, dtype, grad)
  return lg.tensor(v, { dtype = dtype, requires_grad = grad })
end

local function build(case)
  local opts = { dtype = case.dtype }
  for k, v in pairs(case.kwargs) do opts[k] = v end
  return nn[case.class](case.input_size, case.hidden_size, opts)
end

describe('recurrent modules against PyTorch', function()
  assert.truthy(#golden.cases >= 15)
  for _, case in ipairs(golden.cases) do
    it(case.name, function()
      local dt = case.dtype
      local tol = dt == 'float64' and { rtol = 1e-9, atol = 1e-11 } or { rtol = 2e-5, atol = 2e-6 }
      local m = build(case)
      assert.are.same(case.keys, m:state_dict_keys(), 'parameter names and order')
      local sd = {}
      for k, v in pairs(case.state_dict) do sd[k] = tensor(v, dt) end
      m:load_state_dict(sd)
      local lstm = case.class:match('^LSTM') ~= nil
      local x = tensor(case.x, dt, true)
      local h0 = not is_null(case.h0) and tensor(case.h0, dt, true) or nil
      local c0 = not is_null(case.c0) and tensor(case.c0, dt, true) or nil
      local hx = h0 and (lstm and { h0, c0 } or h0) or nil
      local out, hn, cn
      if case.class:match('Cell$') then
        local r = m(x, hx)
        if lstm then hn, cn = r[1], r[2] else hn = r end
      else
        local bf = case.kwargs.batch_first == true
        local st
        if not is_null(case.lengths) then
          local packed = rnn.pack_padded_sequence(x, case.lengths, bf, case.enforce_sorted)
          local pout
          pout, st = m(packed, hx)
          assert.is_true(rnn.is_packed(pout))
          local lens
          out, lens = rnn.pad_packed_sequence(pout, bf)
          assert.are.same(case.lengths, lens:totable())
        else
          out, st = m(x, hx)
        end
        if lstm then hn, cn = st[1], st[2] else hn = st end
      end
      local loss
      local function add(t, u)
        local term = (t * tensor(u, dt)):sum()
        loss = loss and loss + term or term
      end
      if out then
        assert.are.same(shape_of(case.out), out:shape(), 'output shape')
        close.assert_close(out, case.out, tol, 'output')
        add(out, case.u.out)
      end
      assert.are.same(shape_of(case.h_n), hn:shape(), 'h_n shape')
      close.assert_close(hn, case.h_n, tol, 'h_n')
      add(hn, case.u.h)
      if cn then
        assert.are.same(shape_of(case.c_n), cn:shape(), 'c_n shape')
        close.assert_close(cn, case.c_n, tol, 'c_n')
        add(cn, case.u.c)
      end
      loss:backward()
      close.assert_close(x.grad, case.grad_x, tol, 'grad of the input')
      if h0 then close.assert_close(h0.grad, case.grad_h0, tol, 'grad of h_0') end
      if c0 then close.assert_close(c0.grad, case.grad_c0, tol, 'grad of c_0') end
      local n = 0
      for name, p in m:named_parameters() do
        n = n + 1
        assert.is_not_nil(p.grad, name .. ' has no gradient')
        close.assert_close(p.grad, case.grad_params[name], tol, 'grad of ' .. name)
      end
      assert.are.equal(#case.keys, n)
    end)
  end
end)
