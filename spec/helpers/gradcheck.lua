-- gradcheck(fn, inputs, opts) -> ok, message
--
-- Compares autograd with central finite differences. The scalar probed is
--   L = sum_o sum(out_o * u_o)
-- over every floating-point output out_o of fn(table.unpack(inputs)), with u_o a
-- fixed pseudo-random upstream (not all ones, so a transposed or mis-reduced
-- gradient cannot hide behind symmetry). Integer outputs (e.g. max indices) are
-- ignored.
--
-- inputs: a list; entries that are floating-point tensors with requires_grad are
-- checked (fresh leaf copies are made, the caller's tensors are never touched);
-- anything else (numbers, int64 index tensors, tensors without grad) is passed
-- through unchanged.
--
-- opts:
--   eps   (1e-6)  finite-difference step
--   rtol  (1e-5), atol (1e-6): |autograd - scale*numeric| <= atol + rtol*|scale*numeric|
--   scale (1)     expected ratio autograd / true Jacobian (GRL: -alpha); a number, or a
--                 table {[input index] = scale} (missing entries 1) when only some
--                 inputs sit behind a GRL
--   seed  (1)     seed of the upstream generator
--
-- The message names the worst element (1-based, per input) on failure, or the
-- worst relative use of the tolerance on success.
local lg = require 'lunagrad'

local function is_tensor(v) return lg.is_tensor(v) end
local function is_float(t) return t.dtype == 'float32' or t.dtype == 'float64' end

local tensor_values = require 'helpers.values'
local flat, unflatten = tensor_values.flat, tensor_values.unflatten

local function make(values, shape, dtype, requires_grad)
  return lg.tensor(unflatten(values, shape), {dtype = dtype, requires_grad = requires_grad})
end

-- 1-based multi-index of flat position k (1-based) in shape.
local function multi_index(k, shape)
  local idx, rest = {}, k - 1
  for d = #shape, 1, -1 do
    idx[d] = rest % shape[d] + 1
    rest = rest // shape[d]
  end
  return '[' .. table.concat(idx, ',') .. ']'
end

local lcg = tensor_values.lcg

local function outputs_of(...)
  local outs = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    if is_tensor(v) and is_float(v) then outs[#outs + 1] = v end
  end
  return outs
end

local function shape_str(shape) return '{' .. table.concat(shape, ',') .. '}' end

local function gradcheck(fn, inputs, opts)
  opts = opts or {}
  local eps = opts.eps or 1e-6
  local rtol, atol = opts.rtol or 1e-5, opts.atol or 1e-6
  local scale_opt = opts.scale or 1
  local function scale_of(i)
    if type(scale_opt) == 'table' then return scale_opt[i] or 1 end
    return scale_opt
  end
  local rand = lcg(opts.seed or 1)

  -- Which inputs are checked, their values and shapes.
  local checked, base = {}, {}
  for i = 1, #inputs do
    local x = inputs[i]
    if is_tensor(x) and is_float(x) and x.requires_grad then
      checked[#checked + 1] = i
      base[i] = {values = flat(x), shape = x:shape(), dtype = x.dtype}
    end
  end
  if #checked == 0 then return false, 'gradcheck: no floating-point input requires grad' end

  local function args_with(leaves)
    local args = {}
    for i = 1, #inputs do args[i] = leaves[i] or inputs[i] end
    return args
  end

  -- Analytic pass on fresh leaves.
  local leaves = {}
  for _, i in ipairs(checked) do
    leaves[i] = make(base[i].values, base[i].shape, base[i].dtype, true)
  end
  local ok_fwd, outs = pcall(function() return outputs_of(fn(table.unpack(args_with(leaves), 1, #inputs))) end)
  if not ok_fwd then return false, 'gradcheck: forward failed: ' .. tostring(outs) end
  if #outs == 0 then return false, 'gradcheck: fn returned no floating-point tensor' end

  local ups = {}
  for o, out in ipairs(outs) do
    local shape, n = out:shape(), out:numel()
    local u = {}
    for k = 1, n do u[k] = rand() end
    -- Round to the output's dtype so both passes use exactly the same upstream.
    local typed = make(u, shape, out.dtype, false)
    u = flat(typed)
    ups[o] = {values = u, shape = shape, typed = typed, f64 = make(u, shape, 'float64', false)}
  end

  local ok_bwd, err = pcall(function()
    if #outs == 1 then
      outs[1]:backward(ups[1].typed)
    else
      local total
      for o, out in ipairs(outs) do
        local term = (out:to('float64') * ups[o].f64):sum()
        total = total and total + term or term
      end
      total:backward()
    end
  end)
  if not ok_bwd then return false, 'gradcheck: backward failed: ' .. tostring(err) end

  -- L for given inputs, in float64, without recording a graph.
  local function loss(args)
    return lg.no_grad(function()
      local res = outputs_of(fn(table.unpack(args, 1, #inputs)))
      if #res ~= #outs then error('gradcheck: fn returned a different number of outputs') end
      local s = 0.0
      for o, out in ipairs(res) do
        local v, u = flat(out), ups[o].values
        for k = 1, #u do s = s + v[k] * u[k] end
      end
      return s
    end)
  end

  local worst = {ratio = -1}
  for _, i in ipairs(checked) do
    local b = base[i]
    local g = leaves[i].grad
    local analytic
    if g == nil then
      analytic = {}
      for k = 1, #b.values do analytic[k] = 0.0 end
    else
      if shape_str(g:shape()) ~= shape_str(b.shape) then
        return false, string.format('gradcheck: input %d: grad shape %s, expected %s', i,
          shape_str(g:shape()), shape_str(b.shape))
      end
      if g.dtype ~= b.dtype then
        return false, string.format('gradcheck: input %d: grad dtype %s, expected %s', i, g.dtype, b.dtype)
      end
      analytic = flat(g)
    end
    local scale = scale_of(i)
    local values = table.move(b.values, 1, #b.values, 1, {})
    local args = {}
    for j = 1, #inputs do args[j] = inputs[j] end
    for _, j in ipairs(checked) do
      if j ~= i then args[j] = make(base[j].values, base[j].shape, base[j].dtype, false) end
    end
    for k = 1, #values do
      local x0 = values[k]
      values[k] = x0 + eps
      args[i] = make(values, b.shape, b.dtype, false)
      local lp = loss(args)
      values[k] = x0 - eps
      args[i] = make(values, b.shape, b.dtype, false)
      local lm = loss(args)
      values[k] = x0
      local numeric = (lp - lm) / (2 * eps)
      local expected = scale * numeric
      local diff = math.abs(analytic[k] - expected)
      local ratio = diff / (atol + rtol * math.abs(expected))
      if ratio ~= ratio then ratio = math.huge end -- NaN anywhere is a failure
      if ratio > worst.ratio then
        worst = {ratio = ratio, input = i, k = k, shape = b.shape, got = analytic[k], expected = expected,
                 numeric = numeric, scale = scale, diff = diff, no_grad = g == nil}
      end
    end
  end

  local msg = string.format('input %d %s element %s: autograd %.10g, expected %.10g%s (|diff| %.3g, %.3g of tolerance)%s',
    worst.input, shape_str(worst.shape), multi_index(worst.k, worst.shape), worst.got, worst.expected,
    worst.scale ~= 1 and string.format(' = %g * numeric %.10g', worst.scale, worst.numeric) or ' (numeric)',
    worst.diff, worst.ratio, worst.no_grad and ' [input received no gradient]' or '')
  if worst.ratio <= 1 then return true, 'gradcheck ok; worst ' .. msg end
  return false, 'gradcheck failed: ' .. msg
end

return gradcheck
