-- The golden conformance runner: replays /work/shared/golden/golden.json (format in
-- GOLDEN.md) through lunagrad's public Lua API and compares outputs and gradients.
--
--   local golden = require 'helpers.golden'
--   local doc = golden.load(path)            -- decoded JSON
--   local status, msg = golden.run_case(c)   -- 'passed' | 'failed' | 'skipped', message
--   local results, counts = golden.run_all(doc)
--
-- The file uses PyTorch's 0-based dims, indices and class targets; they are converted
-- here to the 1-based Lua API. Inputs are float32; comparisons use
-- |actual - expected| <= atol + rtol * |expected| with the case's tolerance.
-- A case whose module or function does not exist yet is SKIPPED (with the reason);
-- anything else that goes wrong is FAILED.
--
-- Standalone: lua5.4 spec/helpers/golden.lua [file.json]   (or GOLDEN=file.json)
-- prints one line per failed/skipped case and the summary; exit status 1 on failure.
local lg = require 'lunagrad'
local json = require 'lunagrad.json'

local golden = {}

golden.default_path = 'spec/fixtures/golden.json'

---------------------------------------------------------------------------
-- Skips: raised as a tagged table, told apart from real errors.
---------------------------------------------------------------------------

local Skip = {}
local function skip(reason) error(setmetatable({reason = reason}, Skip), 0) end

-- Returns t[key] or skips the case naming what is missing.
local function need(t, key, label)
  local v = t ~= nil and t[key] or nil
  if v == nil then skip((label or key) .. ' is not available') end
  return v
end

local module_cache = {}
-- require that skips instead of failing (the module may not be written yet).
local function need_module(name)
  local cached = module_cache[name]
  if cached == nil then
    local ok, m = pcall(require, name)
    cached = ok and {m} or {false, tostring(m):match('^[^\n]*')}
    module_cache[name] = cached
  end
  if cached[1] == false then skip("require '" .. name .. "' failed: " .. cached[2]) end
  return cached[1]
end

local function functional()
  local nn = need_module('lunagrad.nn')
  if type(nn) == 'table' and nn.functional ~= nil then return nn.functional end
  return need_module('lunagrad.nn.functional')
end

-- Method of a tensor, skipping when the Tensor API lacks it.
local function method(t, name)
  need(t, name, 'Tensor:' .. name)
  return function(...) return t[name](t, ...) end
end

---------------------------------------------------------------------------
-- Conversions
---------------------------------------------------------------------------

local function flatten_nested(data, out)
  out = out or {}
  if type(data) ~= 'table' then
    out[#out + 1] = data
  else
    for i = 1, #data do flatten_nested(data[i], out) end
  end
  return out
end

-- Row-major flat values of a tensor.
local function flat(t)
  if t:dim() == 0 then return {t:item()} end
  return t:contiguous():view(t:numel()):totable()
end

local function shape_str(s) return '{' .. table.concat(s, ',') .. '}' end

local function multi_index(k, shape)
  if #shape == 0 then return '[]' end
  local idx, rest = {}, k - 1
  for d = #shape, 1, -1 do
    idx[d] = rest % shape[d] + 1
    rest = rest // shape[d]
  end
  return '[' .. table.concat(idx, ',') .. ']'
end

-- A golden tensor spec -> lunagrad tensor. offset is added to every value (class targets).
local function to_tensor(spec, dtype, requires_grad, offset)
  local data = spec.data
  if offset then
    local function shift(d)
      if type(d) ~= 'table' then return d + offset end
      local r = {}
      for i = 1, #d do r[i] = shift(d[i]) end
      return r
    end
    data = shift(data)
  end
  local t = lg.tensor(data, {dtype = dtype or spec.dtype or 'float32', requires_grad = requires_grad or nil})
  local s = t:shape()
  if shape_str(s) ~= shape_str(spec.shape) then
    error(string.format('runner: built shape %s for a stored shape %s', shape_str(s), shape_str(spec.shape)))
  end
  return t
end

-- PyTorch dim (0-based, negative from the end) -> lunagrad dim (1-based, negative kept).
local function dim1(d)
  if d == nil or d == json.null then return nil end
  return d >= 0 and d + 1 or d
end

-- Index along a dim: 0-based -> 1-based; negatives count from the end in both.
local index1 = dim1

-- [h, w] pair -> a number when square (accepted by the narrowest API), else {h, w}.
local function pair(p)
  if type(p) ~= 'table' then return p end
  if p[1] == p[2] then return p[1] end
  return {p[1], p[2]}
end

---------------------------------------------------------------------------
-- Comparison
---------------------------------------------------------------------------

-- Compares a tensor with a stored spec. Returns nil when close, else a message.
-- index_base: for int64 outputs holding indices, the 1-based actual is shifted back.
local function compare(actual, spec, tol, what, is_index)
  if not lg.is_tensor(actual) then
    return string.format('%s: expected a tensor, got %s', what, type(actual))
  end
  local s = actual:shape()
  if shape_str(s) ~= shape_str(spec.shape) then
    return string.format('%s: shape %s, expected %s', what, shape_str(s), shape_str(spec.shape))
  end
  local want_dtype = spec.dtype
  if want_dtype and actual.dtype ~= want_dtype then
    return string.format('%s: dtype %s, expected %s', what, actual.dtype, want_dtype)
  end
  local got, exp = flat(actual), flatten_nested(spec.data)
  if #got ~= #exp then
    return string.format('%s: %d elements, expected %d', what, #got, #exp)
  end
  if is_index then
    for k = 1, #exp do
      if got[k] - 1 ~= exp[k] then
        return string.format('%s: element %s is index %s (1-based), expected %d (= %d 0-based)', what,
          multi_index(k, spec.shape), tostring(got[k]), exp[k] + 1, exp[k])
      end
    end
    return nil
  end
  local worst, wk, nbad = -1, 1, 0
  for k = 1, #exp do
    local e, a = exp[k], got[k]
    local r = math.abs(a - e) / (tol.atol + tol.rtol * math.abs(e))
    if r ~= r then r = math.huge end
    if r > 1 then nbad = nbad + 1 end
    if r > worst then worst, wk = r, k end
  end
  if worst <= 1 then return nil end
  return string.format('%s: %d of %d elements off; worst %s: expected %.9g, got %.9g (|diff| %.3g, %.3g x tol atol=%g rtol=%g)',
    what, nbad, #exp, multi_index(wk, spec.shape), exp[wk], got[wk], math.abs(got[wk] - exp[wk]), worst,
    tol.atol, tol.rtol)
end

local function compare_number(actual, expected, tol, what)
  if type(actual) ~= 'number' then
    if lg.is_tensor(actual) and actual:numel() == 1 then actual = actual:item()
    else return string.format('%s: expected a number, got %s', what, type(actual)) end
  end
  if math.abs(actual - expected) <= tol.atol + tol.rtol * math.abs(expected) then return nil end
  return string.format('%s: expected %.12g, got %.12g', what, expected, actual)
end

---------------------------------------------------------------------------
-- Ops: X holds the inputs by name, A the args. Each returns the list of outputs in
-- the stored order. Class targets are built 1-based here.
---------------------------------------------------------------------------

local function targets(c, name)
  for _, i in ipairs(c.inputs) do
    if i.name == name then return to_tensor(i, 'int64', false, 1) end
  end
  error('runner: case has no input ' .. name)
end

local function revgrad(x, alpha) return need(lg, 'revgrad', 'lunagrad.revgrad')(x, alpha) end

local binops = {
  add = function(a, b) return a + b end, sub = function(a, b) return a - b end,
  mul = function(a, b) return a * b end, div = function(a, b) return a / b end,
}

local ops = {}
for name, f in pairs(binops) do ops[name] = function(X) return {f(X.a, X.b)} end end
ops.add_scalar = function(X, A) return {X.a + A.scalar} end
ops.mul_scalar = function(X, A) return {X.a * A.scalar} end
ops.rsub_scalar = function(X, A) return {A.scalar - X.a} end
ops.div_scalar = function(X, A) return {X.a / A.scalar} end
ops.rdiv_scalar = function(X, A) return {A.scalar / X.a} end
ops.reuse_a_times_a_plus_a = function(X) return {X.a * X.a + X.a} end
ops.diamond_exp = function(X)
  local y = method(X.a, 'exp')()
  return {y * X.a + method(y, 'sum')(2, true)}
end
ops.matmul = function(X) return {need(lg, 'matmul', 'lunagrad.matmul')(X.a, X.b)} end
for _, name in ipairs({'relu', 'sigmoid', 'tanh', 'exp', 'log', 'sqrt', 'abs'}) do
  ops[name] = function(X) return {method(X.a, name)()} end
end
ops.neg = function(X) return {-X.a} end
ops.pow = function(X, A) return {X.a ^ A.exponent} end
local function reduction(name)
  return function(X, A)
    local f = method(X.a, name)
    if A.dim == nil or A.dim == json.null then return {f()} end
    return {f(dim1(A.dim), A.keepdim)}
  end
end
ops.sum, ops.mean = reduction('sum'), reduction('mean')
ops.max_dim = function(X, A)
  local values, indices = method(X.a, 'max')(dim1(A.dim), A.keepdim)
  return {values, indices}
end
ops.max_all = function(X) return {method(X.a, 'max')()} end
ops.softmax = function(X, A) return {method(X.a, 'softmax')(dim1(A.dim))} end
ops.log_softmax = function(X, A) return {method(X.a, 'log_softmax')(dim1(A.dim))} end
ops.cross_entropy = function(X, A, c)
  local F = functional()
  return {need(F, 'cross_entropy', 'F.cross_entropy')(X.logits, targets(c, 'target'), {reduction = A.reduction})}
end
ops.binary_cross_entropy_with_logits = function(X, A)
  local F = functional()
  local f = need(F, 'binary_cross_entropy_with_logits', 'F.binary_cross_entropy_with_logits')
  if A.reduction and A.reduction ~= 'mean' then return {f(X.logits, X.target, {reduction = A.reduction})} end
  return {f(X.logits, X.target)}
end
ops.mse_loss = function(X, A)
  local f = need(functional(), 'mse_loss', 'F.mse_loss')
  if A.reduction and A.reduction ~= 'mean' then return {f(X.input, X.target, {reduction = A.reduction})} end
  return {f(X.input, X.target)}
end
ops.linear = function(X) return {need(functional(), 'linear', 'F.linear')(X.x, X.weight, X.bias)} end
ops.conv2d = function(X, A)
  local f = need(functional(), 'conv2d', 'F.conv2d')
  if (A.dilation and pair(A.dilation) ~= 1) or (A.groups and A.groups ~= 1) then
    error('runner: dilation/groups other than 1 are not in the API')
  end
  return {f(X.x, X.weight, X.bias, {stride = pair(A.stride), padding = pair(A.padding)})}
end
local function pool(name)
  return function(X, A)
    if A.ceil_mode then error('runner: ceil_mode is not in the API') end
    local f = need(functional(), name, 'F.' .. name)
    return {f(X.x, {kernel_size = pair(A.kernel_size), stride = pair(A.stride), padding = pair(A.padding)})}
  end
end
ops.max_pool2d, ops.avg_pool2d = pool('max_pool2d'), pool('avg_pool2d')
ops.batch_norm = function(X, A)
  local f = need(functional(), 'batch_norm', 'F.batch_norm')
  local rm, rv = X.running_mean, X.running_var
  local out = f(X.x, rm, rv, X.weight, X.bias, {training = A.training, momentum = A.momentum, eps = A.eps})
  if A.training then return {out, rm, rv} end
  return {out}
end
ops.reshape = function(X, A) return {method(X.a, 'reshape')(A.shape)} end
ops.flatten = function(X, A) return {method(X.a, 'flatten')(dim1(A.start_dim), dim1(A.end_dim))} end
ops.transpose = function(X, A) return {method(X.a, 'transpose')(dim1(A.dim0), dim1(A.dim1))} end
local function dims1(dims)
  local r = {}
  for i, d in ipairs(dims) do r[i] = dim1(d) end
  return r
end
ops.permute = function(X, A) return {method(X.a, 'permute')(dims1(A.dims))} end
ops.squeeze = function(X, A) return {method(X.a, 'squeeze')(dim1(A.dim))} end
ops.unsqueeze = function(X, A) return {method(X.a, 'unsqueeze')(dim1(A.dim))} end
ops.permute_reshape = function(X, A)
  local p = method(X.a, 'permute')(dims1(A.dims))
  return {method(p, 'reshape')(A.shape) * X.w}
end
ops.cat = function(X, A) return {need(lg, 'cat', 'lunagrad.cat')({X.a, X.b}, dim1(A.dim))} end
-- Python slice [start, stop, step] -> slice(d, first, last, step), inclusive and 1-based.
ops.slice = function(X, A)
  local t = X.a
  local shape = t:shape()
  for d, s in ipairs(A.slices) do
    local start, stop, step = s[1], s[2], s[3]
    if start == json.null then start = nil end
    if stop == json.null then stop = nil end
    if step == json.null then step = nil end
    if start ~= nil or stop ~= nil or (step ~= nil and step ~= 1) then
      local n = shape[d]
      start = start or 0
      stop = stop or n
      if start < 0 then start = math.max(start + n, 0) end
      if stop < 0 then stop = math.max(stop + n, 0) end
      start, stop = math.min(start, n), math.min(stop, n)
      t = method(t, 'slice')(d, start + 1, stop, step or 1)
    end
  end
  return {t}
end
ops.select = function(X, A) return {method(X.a, 'select')(dim1(A.dim), index1(A.index))} end
ops.grl = function(X, A)
  local alpha = A.alpha == 'tensor' and X.alpha or A.alpha
  return {revgrad(X.x, alpha)}
end
ops.grl_double = function(X, A) return {revgrad(revgrad(X.x, A.alpha1), A.alpha2)} end
ops.grl_between_linears = function(X, A)
  local linear = need(functional(), 'linear', 'F.linear')
  return {linear(revgrad(linear(X.x, X.W1, X.b1), A.alpha), X.W2, X.b2)}
end
ops.seed_example = function(X, A) return {revgrad(X.x * 5, A.alpha) + 6} end
ops.mlp2_relu_ce = function(X, A, c)
  local F = functional()
  local linear = need(F, 'linear', 'F.linear')
  local ce = need(F, 'cross_entropy', 'F.cross_entropy')
  if A.activation ~= 'relu' or A.loss ~= 'cross_entropy' then error('runner: unknown mlp2 variant') end
  local h = method(linear(X.x, X.W1, X.b1), 'relu')()
  local logits = linear(h, X.W2, X.b2)
  return {ce(logits, targets(c, 'target'), {reduction = A.reduction}), logits, h}
end
ops.dann_mini = function(X, A, c)
  local F = functional()
  local linear = need(F, 'linear', 'F.linear')
  local ce = need(F, 'cross_entropy', 'F.cross_entropy')
  local bce = need(F, 'binary_cross_entropy_with_logits', 'F.binary_cross_entropy_with_logits')
  local f = method(linear(X.x, X.Wf, X.bf), 'relu')()
  local cls = ce(linear(method(f, 'narrow')(1, 1, A.n_source), X.Wy, X.by), targets(c, 'y_src'))
  local dl = method(linear(revgrad(f, A.alpha), X.Wd, X.bd), 'squeeze')(2)
  local dom = bce(dl, X.d)
  return {cls + dom, cls, dom}
end

---------------------------------------------------------------------------
-- Case runners: return nil on success or a list of failure messages.
---------------------------------------------------------------------------

local function backward_all(pairs_)
  if #pairs_ == 0 then return end
  if #pairs_ == 1 then
    pairs_[1][1]:backward(pairs_[1][2])
    return
  end
  local total
  for _, p in ipairs(pairs_) do
    local term = (p[1] * p[2]):sum()
    total = total and total + term or term
  end
  total:backward()
end

local function run_op_case(c)
  local f = ops[c.op]
  if not f then error('runner does not know op ' .. tostring(c.op)) end
  local tol = c.tol
  local X, leaves = {}, {}
  for _, i in ipairs(c.inputs) do
    local t = to_tensor(i, i.dtype, i.requires_grad)
    X[i.name] = t
    if i.requires_grad then leaves[#leaves + 1] = i.name end
  end
  local outs = f(X, c.args or {}, c)
  local problems = {}
  if #outs ~= #c.outputs then
    problems[1] = string.format('runner produced %d outputs, case has %d', #outs, #c.outputs)
    return problems
  end
  local pairs_ = {}
  for o, spec in ipairs(c.outputs) do
    local is_index = spec.dtype == 'int64'
    local msg = compare(outs[o], spec, tol, "output '" .. spec.name .. "'", is_index)
    if msg then problems[#problems + 1] = msg end
    if spec.upstream ~= json.null and spec.upstream ~= nil and lg.is_tensor(outs[o]) then
      pairs_[#pairs_ + 1] = {outs[o], to_tensor(spec.upstream, outs[o].dtype, false)}
    end
  end
  local ok, err = pcall(backward_all, pairs_)
  if not ok then
    if getmetatable(err) == Skip then error(err, 0) end
    problems[#problems + 1] = 'backward failed: ' .. tostring(err)
    return problems
  end
  for _, name in ipairs(leaves) do
    local g = X[name].grad
    local spec = c.grads[name]
    if g == nil then
      problems[#problems + 1] = string.format("grad '%s': no gradient reached the input", name)
    else
      local e = {shape = spec.shape, data = spec.data, dtype = X[name].dtype}
      local msg = compare(g, e, tol, "grad '" .. name .. "'")
      if msg then problems[#problems + 1] = msg end
    end
  end
  if #problems > 0 then return problems end
  return nil
end

local function run_optimizer_case(c)
  local optim = need_module('lunagrad.optim')
  local F = functional()
  local linear, mse = need(F, 'linear', 'F.linear'), need(F, 'mse_loss', 'F.mse_loss')
  local h, tol = c.hyper, c.tol
  local x, target = to_tensor(c.data.x, 'float32'), to_tensor(c.data.target, 'float32')
  local W = to_tensor(c.params_init.W, 'float32', true)
  local b = to_tensor(c.params_init.b, 'float32', true)
  local P = {W = W, b = b}
  local opt
  if c.optimizer == 'sgd' then
    if h.dampening ~= 0 or h.nesterov then error('runner: dampening/nesterov not covered') end
    opt = need(optim, 'SGD', 'optim.SGD')({W, b}, {lr = h.lr, momentum = h.momentum, weight_decay = h.weight_decay})
  elseif c.optimizer == 'adam' then
    if h.amsgrad then error('runner: amsgrad not covered') end
    opt = need(optim, 'Adam', 'optim.Adam')({W, b}, {lr = h.lr, betas = {h.beta1, h.beta2}, eps = h.eps,
                                                    weight_decay = h.weight_decay})
  else
    error('runner does not know optimizer ' .. tostring(c.optimizer))
  end
  local problems = {}
  for _, s in ipairs(c.steps) do
    opt:zero_grad()
    local loss = mse(linear(x, W, b), target)
    loss:backward()
    local msg = compare(loss, {shape = {}, data = s.loss}, tol, 'step ' .. s.step .. ' loss')
    if msg then problems[#problems + 1] = msg end
    for _, k in ipairs({'W', 'b'}) do
      local g = P[k].grad
      if g == nil then
        problems[#problems + 1] = string.format('step %d grad %s: no gradient', s.step, k)
      else
        msg = compare(g, s.grads[k], tol, 'step ' .. s.step .. ' grad ' .. k)
        if msg then problems[#problems + 1] = msg end
      end
    end
    opt:step()
    for _, k in ipairs({'W', 'b'}) do
      msg = compare(P[k], s.params_after[k], tol, 'step ' .. s.step .. ' ' .. k .. ' after step')
      if msg then problems[#problems + 1] = msg end
    end
    if #problems > 0 then return problems end -- later steps would only repeat the error
  end
  return nil
end

local function run_schedule_case(c)
  local optim = need_module('lunagrad.optim')
  local schedule = need(optim, 'schedule', 'optim.schedule')
  local lambda = need(schedule, 'dann_lambda', 'optim.schedule.dann_lambda')
  local lr = need(schedule, 'dann_lr', 'optim.schedule.dann_lr')
  local problems = {}
  for k, p in ipairs(c.p) do
    local msg = compare_number(lambda(p), c.lambda[k], c.tol, string.format('dann_lambda(%g)', p))
    if msg then problems[#problems + 1] = msg end
    msg = compare_number(lr(p), c.lr[k], c.tol, string.format('dann_lr(%g)', p))
    if msg then problems[#problems + 1] = msg end
  end
  if #problems > 0 then return problems end
  return nil
end

local runners = {op = run_op_case, composite = run_op_case, optimizer = run_optimizer_case,
                 schedule = run_schedule_case}

-- Errors from stubs that announce themselves as unfinished count as missing.
local function is_unavailable(msg)
  return type(msg) == 'string' and (msg:find('not available yet', 1, true) or msg:find('not implemented', 1, true))
end

--- Runs one case. Returns 'passed' | 'failed' | 'skipped' and a message.
function golden.run_case(c)
  local run = runners[c.kind]
  if not run then return 'failed', c.name .. ': runner does not know case kind ' .. tostring(c.kind) end
  local previous = lg.set_grad_enabled and lg.set_grad_enabled(true)
  local ok, res = pcall(run, c)
  if lg.set_grad_enabled and previous ~= nil then lg.set_grad_enabled(previous) end
  if not ok then
    if getmetatable(res) == Skip then return 'skipped', c.name .. ': ' .. res.reason end
    if is_unavailable(res) then return 'skipped', c.name .. ': ' .. tostring(res) end
    return 'failed', c.name .. ': error: ' .. tostring(res)
  end
  if res then return 'failed', c.name .. ': ' .. table.concat(res, '; ') end
  return 'passed', c.name
end

--- Reads and decodes a golden file (default: $GOLDEN or spec/fixtures/golden.json).
function golden.load(path)
  path = path or os.getenv('GOLDEN') or golden.default_path
  local f, err = io.open(path, 'rb')
  if not f then error('golden: cannot open ' .. tostring(err), 2) end
  local text = f:read('a')
  f:close()
  local doc = json.decode(text)
  if doc.format ~= 'lunagrad-golden/1' then
    error('golden: ' .. path .. ' has format ' .. tostring(doc.format) .. ', expected lunagrad-golden/1', 2)
  end
  if type(doc.cases) ~= 'table' or #doc.cases ~= doc.n_cases then
    error('golden: ' .. path .. ' lists ' .. tostring(doc.n_cases) .. ' cases but holds ' ..
      tostring(type(doc.cases) == 'table' and #doc.cases), 2)
  end
  doc.path = path
  return doc
end

--- Runs every case. Returns a list of {name=, status=, message=} and counts.
function golden.run_all(doc)
  local results, counts = {}, {passed = 0, failed = 0, skipped = 0}
  for _, c in ipairs(doc.cases) do
    local status, msg = golden.run_case(c)
    counts[status] = counts[status] + 1
    results[#results + 1] = {name = c.name, status = status, message = msg}
  end
  return results, counts
end

function golden.summary(counts)
  return string.format('golden: %d passed, %d failed, %d skipped', counts.passed, counts.failed, counts.skipped)
end

-- Standalone use: lua5.4 spec/helpers/golden.lua [file.json]
local modname = ...
if modname ~= 'helpers.golden' and arg and arg[0] and arg[0]:find('golden%.lua$') then
  local doc = golden.load(arg[1])
  local results, counts = golden.run_all(doc)
  for _, r in ipairs(results) do
    if r.status ~= 'passed' then io.stdout:write(r.status:upper(), ' ', r.message, '\n') end
  end
  io.stdout:write(golden.summary(counts), '\n')
  os.exit(counts.failed == 0 and 0 or 1)
end

return golden
