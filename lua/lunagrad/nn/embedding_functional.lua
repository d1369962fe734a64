-- F.embedding and F.embedding_bag (nn.Embedding, nn.EmbeddingBag), PyTorch's semantics with
-- 1-based indices, padding_idx and offsets. Composed of differentiable ops (index on a
-- flattened index, view, cat, sum/mean/max over the bag dim), so gradients of gradients work.
-- Loaded by functional.lua: require('lunagrad.nn.embedding_functional')(F).
local lg = require 'lunagrad'
local util = require 'lunagrad.nn.util'

local E = {}

local function int64(t) return lg.tensor(t, { dtype = 'int64' }) end

--- The index tensor of `input` (an int64 tensor, or a Lua table of integers), checked against
--- 1..num. Returns the tensor and its values flattened (a Lua list) when `want_list`.
function E.check_indices(fname, input, num, want_list)
  if type(input) == 'table' and not util.is_tensor(input) then
    local flat = {}
    local function walk(t)
      for _, v in ipairs(t) do
        if type(v) == 'table' then walk(v)
        elseif math.type(v) ~= 'integer' and not (math.type(v) == 'float' and v == math.floor(v)) then
          util.raise(string.format('lunagrad.%s: indices must be integers (an int64 tensor or a table of integers), '
            .. 'got %s', fname, tostring(v)))
        else flat[#flat + 1] = math.tointeger(v) end
      end
    end
    walk(input)
    input = int64(input)
  elseif not util.is_tensor(input) then
    util.raise(string.format('lunagrad.%s: expected an int64 tensor of indices, got %s', fname, type(input)))
  end
  if input.dtype ~= 'int64' then
    util.raise(string.format('lunagrad.%s: indices must be an int64 tensor, got %s (use :long(); indices are 1-based)',
      fname, input.dtype))
  end
  if input:numel() == 0 then return input, want_list and {} or nil end
  local lo, hi = input:min():item(), input:max():item()
  if lo < 1 or hi > num then
    local bad = lo < 1 and lo or hi
    local flat = input:reshape(-1):totable()
    local pos = 1
    for i, v in ipairs(flat) do if v == bad then pos = i break end end
    util.raise(string.format('lunagrad.%s: index %d out of range (at position %d of the flattened input): valid indices '
      .. 'are 1..%d (1-based)', fname, bad, pos, num))
  end
  return input, want_list and input:reshape(-1):totable() or nil
end

--- padding_idx in 1..num, or negative from the end (-1 = num); nil stays nil.
function E.padding_idx(fname, p, num)
  if p == nil then return nil end
  if math.type(p) == 'float' and p == math.floor(p) then p = math.tointeger(p) end
  if math.type(p) ~= 'integer' or p == 0 or p > num or p < -num then
    util.raise(string.format('lunagrad.%s: padding_idx must be an integer in 1..%d (or -%d..-1 from the end; '
      .. '1-based), got %s', fname, num, num, tostring(p)))
  end
  return p < 0 and num + 1 + p or p
end

function E.max_norm(fname, opts)
  if opts.max_norm == nil then return nil, nil end
  local mn = util.check_number(fname, 'max_norm', opts.max_norm, 0)
  local p = opts.norm_type == nil and 2 or util.check_number(fname, 'norm_type', opts.norm_type, 0)
  return mn, p
end

local function check_false(fname, opts, what)
  if opts[what] ~= nil and opts[what] ~= false then
    util.raise(string.format('lunagrad.%s: %s = %s is not supported (only false)', fname, what, tostring(opts[what])))
  end
end

--- PyTorch's embedding_renorm_: each row of `weight` looked up by `list` whose norm_type-norm
--- exceeds max_norm is scaled in place by max_norm / (norm + 1e-7), under no_grad.
function E.renorm_(weight, list, max_norm, p)
  if #list == 0 then return end
  local seen, uniq = {}, {}
  for _, v in ipairs(list) do
    if not seen[v] then seen[v] = true uniq[#uniq + 1] = v end
  end
  lg.no_grad(function()
    local rows = weight:index(1, int64(uniq))
    local norms
    if p == math.huge then norms = rows:abs():max(2)
    elseif p == 2 then norms = (rows * rows):sum(2):sqrt()
    elseif p == 1 then norms = rows:abs():sum(2)
    else norms = rows:abs():pow(p):sum(2):pow(1 / p) end
    norms = norms:totable()
    for i, n in ipairs(norms) do
      if n > max_norm then
        local row = weight:narrow(1, uniq[i], 1)
        row:copy(row * (max_norm / (n + 1e-7)))
      end
    end
  end)
end

-- The gathered rows with the padding row's gradient cut: r * m + (r * (1 - m)):detach() has
-- r's value and r's gradient times m (m = 0 where the index is padding_idx).
local function cut_padding(rows, list, pad, dtype)
  local m, any = {}, false
  for i, v in ipairs(list) do
    if v == pad then m[i] = 0 any = true else m[i] = 1 end
  end
  if not any then return rows end
  local mask = lg.tensor(m, { dtype = dtype }):view(#m, 1)
  return rows * mask + (rows * (1 - mask)):detach()
end

local EMB_OPTS = util.set { 'padding_idx', 'max_norm', 'norm_type', 'scale_grad_by_freq', 'sparse' }

--- F.embedding(input, weight [, {padding_idx=, max_norm=, norm_type=2}]): the rows of weight
--- [num, dim] at the 1-based indices input (any shape) -> [..., dim].
function E.embedding(input, weight, opts, fname)
  fname = fname or 'nn.functional.embedding'
  opts = util.options(fname, opts, EMB_OPTS)
  check_false(fname, opts, 'sparse')
  check_false(fname, opts, 'scale_grad_by_freq')
  if not util.is_tensor(weight) or weight:dim() ~= 2 then
    util.raise(string.format('lunagrad.%s: weight must be a 2-d tensor [num_embeddings, embedding_dim], got %s', fname,
      util.is_tensor(weight) and util.shape_str(weight) or type(weight)))
  end
  local num, dim = weight:size(1), weight:size(2)
  local pad = E.padding_idx(fname, opts.padding_idx, num)
  local max_norm, p = E.max_norm(fname, opts)
  local idx, list = E.check_indices(fname, input, num, pad ~= nil or max_norm ~= nil)
  if max_norm then E.renorm_(weight, list, max_norm, p) end
  local shape = idx:shape()
  local rows = weight:index(1, idx:reshape(-1))
  if pad then rows = cut_padding(rows, list, pad, weight.dtype) end
  shape[#shape + 1] = dim
  return rows:view(shape)
end

local BAG_OPTS = util.set { 'offsets', 'mode', 'padding_idx', 'max_norm', 'norm_type', 'scale_grad_by_freq', 'sparse',
  'per_sample_weights', 'include_last_offset' }
local MODES = { sum = true, mean = true, max = true }

--- F.embedding_bag(input, weight [, offsets] [, {mode='mean', per_sample_weights=, padding_idx=,
--- max_norm=, norm_type=2, include_last_offset=false}]): input [B, L] (each row a bag) or 1-d
--- with offsets (1-based start of each bag; offsets[1] = 1) -> [B, dim]. Entries equal to
--- padding_idx are left out of their bag; an empty bag gives zeros.
function E.embedding_bag(input, weight, offsets, opts, fname)
  fname = fname or 'nn.functional.embedding_bag'
  if type(offsets) == 'table' and not util.is_tensor(offsets) and opts == nil and #offsets == 0 then
    offsets, opts = nil, offsets
  end
  opts = util.options(fname, opts, BAG_OPTS)
  if offsets == nil then offsets = opts.offsets end
  check_false(fname, opts, 'sparse')
  check_false(fname, opts, 'scale_grad_by_freq')
  local mode = opts.mode or 'mean'
  if not MODES[mode] then
    util.raise(string.format("lunagrad.%s: mode must be 'sum', 'mean' or 'max', got %s", fname, tostring(mode)))
  end
  if not util.is_tensor(weight) or weight:dim() ~= 2 then
    util.raise(string.format('lunagrad.%s: weight must be a 2-d tensor [num_embeddings, embedding_dim], got %s', fname,
      util.is_tensor(weight) and util.shape_str(weight) or type(weight)))
  end
  local num, dim, dtype = weight:size(1), weight:size(2), weight.dtype
  local pad = E.padding_idx(fname, opts.padding_idx, num)
  local max_norm, p = E.max_norm(fname, opts)
  local idx, list = E.check_indices(fname, input, num, true)
  local psw = opts.per_sample_weights
  if psw ~= nil then
    if mode ~= 'sum' then
      util.raise(string.format("lunagrad.%s: per_sample_weights is only supported for mode 'sum', got mode '%s'", fname,
        mode))
    end
    if not util.is_tensor(psw) or table.concat(psw:shape(), ',') ~= table.concat(idx:shape(), ',') then
      util.raise(string.format('lunagrad.%s: per_sample_weights must be a tensor of the input\'s shape %s, got %s', fname,
        util.shape_str(idx), util.is_tensor(psw) and util.shape_str(psw) or type(psw)))
    end
  end
  -- the bags as a padded [B, L] layout: pos[b][j] = flat position in the input, or nil (filler)
  local starts, n = {}, #list
  if idx:dim() == 2 then
    if offsets ~= nil then
      util.raise(string.format('lunagrad.%s: offsets must be nil when input is 2-d [B, L] (each row is a bag), got '
        .. 'input %s', fname, util.shape_str(idx)))
    end
    local B, L = idx:size(1), idx:size(2)
    for b = 1, B do starts[b] = (b - 1) * L + 1 end
    starts[B + 1] = n + 1
  elseif idx:dim() == 1 then
    if offsets == nil then
      util.raise(string.format('lunagrad.%s: a 1-d input needs offsets (the 1-based start of each bag), or give a 2-d '
        .. 'input [B, L]', fname))
    end
    local offs = offsets
    if util.is_tensor(offs) then
      if offs.dtype ~= 'int64' or offs:dim() ~= 1 then
        util.raise(string.format('lunagrad.%s: offsets must be a 1-d int64 tensor or a table of integers, got %s %s',
          fname, offs.dtype, util.shape_str(offs)))
      end
      offs = offs:totable()
    elseif type(offs) ~= 'table' then
      util.raise(string.format('lunagrad.%s: offsets must be a 1-d int64 tensor or a table of integers, got %s', fname,
        type(offs)))
    end
    if #offs == 0 or offs[1] ~= 1 then
      util.raise(string.format('lunagrad.%s: offsets[1] must be 1 (offsets are the 1-based start of each bag), got %s',
        fname, tostring(offs[1])))
    end
    for i, o in ipairs(offs) do
      if math.type(o) ~= 'integer' or o > n + 1 or (i > 1 and o < offs[i - 1]) then
        util.raise(string.format('lunagrad.%s: offsets must be non-decreasing integers in 1..%d, got %s at position %d',
          fname, n + 1, tostring(o), i))
      end
      starts[i] = o
    end
    if opts.include_last_offset then
      if starts[#starts] ~= n + 1 then
        util.raise(string.format('lunagrad.%s: with include_last_offset the last offset must be #input + 1 = %d, got %d',
          fname, n + 1, starts[#starts]))
      end
    else
      starts[#starts + 1] = n + 1
    end
  else
    util.raise(string.format('lunagrad.%s: input must be 1-d (with offsets) or 2-d [B, L], got %s', fname,
      util.shape_str(idx)))
  end
  local B = #starts - 1
  local L = 0
  for b = 1, B do L = math.max(L, starts[b + 1] - starts[b]) end
  if max_norm then E.renorm_(weight, list, max_norm, p) end
  if B == 0 then return lg.zeros({ 0, dim }, { dtype = dtype }) end
  if L == 0 then return lg.zeros({ B, dim }, { dtype = dtype }) end
  -- pos (flat positions, fillers point at position 1), mask 1 for members, 0 for fillers and padding
  local pos, mask, count = {}, {}, {}
  local full = true
  for b = 1, B do
    local c = 0
    for j = 1, L do
      local q = starts[b] + j - 1
      local k = (b - 1) * L + j
      if q < starts[b + 1] and list[q] ~= pad then
        pos[k], mask[k] = q, 1
        c = c + 1
      else
        pos[k], mask[k] = q < starts[b + 1] and q or 1, 0
        full = false
      end
    end
    count[b] = c
  end
  local flat = idx:reshape(-1)
  local gather_idx = flat
  local identity = full and n == B * L
  if not identity then gather_idx = flat:index(1, int64(pos)) end
  local rows = weight:index(1, gather_idx) -- [B*L, dim]
  if psw ~= nil then
    local w = psw:reshape(-1)
    if not identity then w = w:index(1, int64(pos)) end
    rows = rows * w:view(B * L, 1)
  end
  local m = not full and lg.tensor(mask, { dtype = dtype }):view(B * L, 1) or nil
  if mode == 'max' then
    rows = rows:view(B, L, dim)
    if m then
      -- fillers get -inf; one extra element per bag (0, or -inf when the bag is not empty) gives
      -- empty bags zeros
      local pen, extra = {}, {}
      for k = 1, B * L do pen[k] = mask[k] == 1 and 0 or -math.huge end
      for b = 1, B do extra[b] = count[b] > 0 and -math.huge or 0 end
      rows = rows + lg.tensor(pen, { dtype = dtype }):view(B, L, 1)
      rows = lg.cat({ rows, lg.tensor(extra, { dtype = dtype }):view(B, 1, 1):expand(B, 1, dim) }, 2)
    end
    return (rows:max(2))
  end
  if m then rows = rows * m end
  local out = rows:view(B, L, dim):sum(2)
  if mode == 'mean' then
    if full then return out / L end
    local inv = {}
    for b = 1, B do inv[b] = count[b] > 0 and 1 / count[b] or 0 end
    out = out * lg.tensor(inv, { dtype = dtype }):view(B, 1)
  end
  return out
end

return function(F)
  --- F.embedding(input, weight [, {padding_idx=, max_norm=, norm_type=2}])
  function F.embedding(input, weight, opts) return E.embedding(input, weight, opts) end
  --- F.embedding_bag(input, weight [, offsets] [, {mode=, per_sample_weights=, padding_idx=, ...}])
  function F.embedding_bag(input, weight, offsets, opts) return E.embedding_bag(input, weight, offsets, opts) end
  F._embedding = E
  return F
end
