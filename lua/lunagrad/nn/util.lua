-- Helpers of lunagrad.nn and lunagrad.optim: the shared ones (lunagrad.util: errors
-- that blame the user's line, argument checks) plus pairs, reductions and init.
local core = require 'lunagrad.core'

local util = setmetatable({}, { __index = require 'lunagrad.util' })

--- A number or {h, w} as a two-element table of integers >= lo.
function util.pair(fname, what, v, lo)
  if type(v) == 'table' and not util.is_tensor(v) then
    if #v ~= 2 then
      util.raise(string.format('lunagrad.%s: %s must be a number or {h, w}, got a table of %d', fname, what, #v))
    end
    return { util.check_int(fname, what, v[1], lo), util.check_int(fname, what, v[2], lo) }
  end
  local n = util.check_int(fname, what, v, lo)
  return { n, n }
end

-- n-tuple of integers >= lo from a number or a table.
function util.tuple(name, what, v, n, lo)
  if type(v) ~= 'table' then
    local t = {}
    for i = 1, n do t[i] = v end
    v = t
  end
  if #v ~= n then
    util.raise(string.format('lunagrad.%s: %s must be a number or a table of %d, got a table of %d', name, what, n, #v))
  end
  local out = {}
  for i = 1, n do out[i] = util.check_int(name, what, v[i], lo) end
  return out
end

local REDUCTIONS = { mean = true, sum = true, none = true }

function util.reduction(fname, r)
  if r == nil then return 'mean' end
  if not REDUCTIONS[r] then
    util.raise(string.format("lunagrad.%s: reduction must be 'mean', 'sum' or 'none', got %s", fname, tostring(r)))
  end
  return r
end

--- U(-bound, bound) of that shape from lg.rand (so lg.manual_seed makes it repeatable),
--- computed as PyTorch's uniform_: from + (to - from) * u.
function util.uniform(shape, bound, dtype)
  local lg = require 'lunagrad'
  local u = lg.rand(shape, { dtype = dtype or 'float32' })
  return u * (2 * bound) - bound
end

--- Flat gradient tensors of m:getParameters() -> the function that refreshes them from
--- the parameters' .grad (optim.sgd/adam call it before reading df/dx). Weak keys.
util.flat_grads = setmetatable({}, { __mode = 'k' })

-- What a non-module `self` is, for the colon hint: "a Tensor", "nil", "a number".
local function what(v)
  if util.is_tensor(v) then return 'a Tensor' end
  if v == nil then return 'nil' end
  return 'a ' .. type(v)
end

--- Raises the dot-for-colon hint: `net.forward(x)` passes x as self.
function util.colon_hint(self, name, method, args, obj)
  util.raise(string.format('lunagrad.%s.%s: called with %s as self; call it with a colon: %s:%s(%s)', name, method,
    what(self), obj or 'net', method, args or ''))
end

--- Raises for a method called without a module as self (non-hot methods check this first).
function util.check_self(self, method, args)
  if not util.is_module(self) then util.colon_hint(self, 'nn.Module', method, args) end
end

--- The failure path of a module's forward: a dot call (self not a module) gets the
--- colon hint, anything else "expected a Tensor input".
function util.bad_input(self, name, x)
  if not util.is_module(self) then util.colon_hint(self, name or 'nn.Module', 'forward', 'x') end
  util.raise('lunagrad.' .. name .. ': expected a Tensor input, got ' .. type(x))
end

-- ---- unknown names in nn: "nn.Relu does not exist; did you mean nn.ReLU?" ----------

-- Torch7 (and a few PyTorch) names that lunagrad spells differently.
local RENAMED = {
  SpatialConvolution = 'Conv2d', SpatialConvolutionMM = 'Conv2d', SpatialMaxPooling = 'MaxPool2d',
  SpatialAveragePooling = 'AvgPool2d', ClassNLLCriterion = 'NLLLoss', CrossEntropyCriterion = 'CrossEntropyLoss',
  MSECriterion = 'MSELoss', BCECriterion = 'BCEWithLogitsLoss', View = 'Flatten', Reshape = 'Flatten',
  BatchNormalization = 'BatchNorm1d', SpatialBatchNormalization = 'BatchNorm2d', SoftMax = 'Softmax',
  LogSoftMax = 'LogSoftmax', Threshold = 'ReLU', Container = 'Module',
}

-- Optimal string alignment distance (Levenshtein plus adjacent transpositions).
local function distance(a, b)
  local la, lb = #a, #b
  local d = {}
  for i = 0, la do d[i] = { [0] = i } end
  for j = 1, lb do d[0][j] = j end
  for i = 1, la do
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[la][lb]
end

--- The names of `tbl` closest to `name`: a case-insensitive match, else those within a
--- small edit distance (at most 3, best first). Used for nn.Relu -> nn.ReLU.
function util.suggest(tbl, name)
  local lname, exact, scored = name:lower(), {}, {}
  for k in next, tbl do
    if type(k) == 'string' and not k:match('^_') then
      local lk = k:lower()
      if lk == lname then exact[#exact + 1] = k
      else
        local dist = distance(lname, lk)
        if dist <= math.max(1, #name // 4) or (#lname >= 3 and lk:sub(1, #lname) == lname) then
          scored[#scored + 1] = { k, dist }
        end
      end
    end
  end
  if #exact > 0 then table.sort(exact) return exact end
  table.sort(scored, function(a, b) if a[2] ~= b[2] then return a[2] < b[2] end return a[1] < b[1] end)
  local out = {}
  for i = 1, math.min(3, #scored) do out[i] = scored[i][1] end
  return out
end

--- nn's __index: an unknown name raises (instead of a nil the user then calls).
function util.unknown_name(tbl, key)
  if type(key) ~= 'string' or key:match('^__') then return nil end
  local renamed = RENAMED[key]
  if renamed and rawget(tbl, renamed) ~= nil then
    util.raise(string.format('lunagrad.nn: nn.%s does not exist; did you mean nn.%s? (Torch7 and lunagrad names '
      .. 'differ: docs/from_torch7.md)', key, renamed))
  end
  local near = util.suggest(tbl, key)
  for i, k in ipairs(near) do near[i] = 'nn.' .. k end
  if #near == 0 then
    util.raise(string.format('lunagrad.nn: nn.%s does not exist (the modules are listed in docs/api_nn.md)', key))
  end
  util.raise(string.format('lunagrad.nn: nn.%s does not exist; did you mean %s?', key,
    #near == 1 and near[1] or table.concat(near, ', ', 1, #near - 1) .. ' or ' .. near[#near]))
end

return util
