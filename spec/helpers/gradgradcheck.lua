-- gradgradcheck(fn, inputs, opts) -> ok, message
--
-- Checks second derivatives: the gradient of
--   S = sum_i sum(w_i * dL/dx_i),  L = sum_o sum(out_o * u_o)
-- (u, w fixed pseudo-random, as in gradcheck) computed by autograd with
-- create_graph = true, against central finite differences of dL/dx (each
-- evaluated by a first-order lunagrad.grad on perturbed inputs). In float64
-- this exercises every rule's differentiability: a rule that reads a raw kernel
-- or a detached saved tensor gives a wrong (or missing) second derivative.
--
-- inputs and opts as gradcheck's (eps, rtol, atol, seed).
local lg = require 'lunagrad'

local tensor_values = require 'helpers.values'
local flat, unflatten = tensor_values.flat, tensor_values.unflatten
local function lcg(seed) return tensor_values.lcg(seed, 54321) end

local function is_float(v) return lg.is_tensor(v) and (v.dtype == 'float32' or v.dtype == 'float64') end

local function gradgradcheck(fn, inputs, opts)
  opts = opts or {}
  local eps, rtol, atol = opts.eps or 1e-6, opts.rtol or 1e-5, opts.atol or 1e-6
  local rand = lcg(opts.seed or 1)
  local checked, base = {}, {}
  for i = 1, #inputs do
    local x = inputs[i]
    if is_float(x) and x.requires_grad then
      checked[#checked + 1] = i
      base[i] = {values = flat(x), shape = x:shape(), dtype = x.dtype}
    end
  end
  if #checked == 0 then return false, 'gradgradcheck: no floating-point input requires grad' end

  local ups, ws = nil, {}
  for _, i in ipairs(checked) do
    local w = {}
    for k = 1, #base[i].values do w[k] = rand() end
    ws[i] = lg.tensor(unflatten(w, base[i].shape), {dtype = 'float64'})
  end

  -- dL/dx at the given values: the leaves and their gradients (nil: unused).
  local function first(values_of, create)
    local args, leaves = {}, {}
    for j = 1, #inputs do args[j] = inputs[j] end
    for _, i in ipairs(checked) do
      local leaf = lg.tensor(unflatten(values_of(i), base[i].shape), {dtype = base[i].dtype, requires_grad = true})
      args[i], leaves[#leaves + 1] = leaf, leaf
    end
    local outs = {}
    local res = table.pack(fn(table.unpack(args, 1, #inputs)))
    for k = 1, res.n do if is_float(res[k]) then outs[#outs + 1] = res[k] end end
    if not ups then
      ups = {}
      for o, out in ipairs(outs) do
        local u = {}
        for k = 1, out:numel() do u[k] = rand() end
        ups[o] = lg.tensor(unflatten(u, out:shape()), {dtype = 'float64'})
      end
    end
    local L
    for o, out in ipairs(outs) do
      local term = (out:to('float64') * ups[o]):sum()
      L = L and L + term or term
    end
    if not L.requires_grad then return leaves, {} end
    return leaves, lg.grad(L, leaves, {create_graph = create, allow_unused = true})
  end

  local function weighted(grads)
    local S
    for n, i in ipairs(checked) do
      if grads[n] then
        local term = (grads[n]:to('float64') * ws[i]):sum()
        S = S and S + term or term
      end
    end
    return S
  end

  local ok, leaves, grads = pcall(first, function(i) return base[i].values end, true)
  if not ok then return false, 'gradgradcheck: first backward failed: ' .. tostring(leaves) end
  local S = weighted(grads)
  local second = {}
  if S and S.requires_grad then
    local ok2, r = pcall(lg.grad, S, leaves, {allow_unused = true})
    if not ok2 then return false, 'gradgradcheck: double backward failed: ' .. tostring(r) end
    second = r
  end

  local worst = {ratio = -1}
  for n, i in ipairs(checked) do
    local analytic = second[n] and flat(second[n]) or nil
    local values = table.move(base[i].values, 1, #base[i].values, 1, {})
    for k = 1, #values do
      local x0 = values[k]
      local function s_at(v)
        values[k] = v
        local _, g = first(function(j) return j == i and values or base[j].values end, false)
        local s = weighted(g)
        return s and s:item() or 0
      end
      local numeric = (s_at(x0 + eps) - s_at(x0 - eps)) / (2 * eps)
      values[k] = x0
      local got = analytic and analytic[k] or 0
      local diff = math.abs(got - numeric)
      local ratio = diff / (atol + rtol * math.abs(numeric))
      if ratio ~= ratio then ratio = math.huge end
      if ratio > worst.ratio then worst = {ratio = ratio, input = i, k = k, got = got, numeric = numeric} end
    end
  end
  local msg = string.format('input %d element %d: double backward %.10g, numeric %.10g (%.3g of tolerance)',
    worst.input, worst.k, worst.got, worst.numeric, worst.ratio)
  if worst.ratio <= 1 then return true, 'gradgradcheck ok; worst ' .. msg end
  return false, 'gradgradcheck failed: ' .. msg
end

return gradgradcheck
