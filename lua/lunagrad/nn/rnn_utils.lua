-- nn.utils.rnn: variable-length batches for nn.RNN / nn.LSTM / nn.GRU, as PyTorch's
-- torch.nn.utils.rnn:
--   packed = rnn.pack_padded_sequence(x, lengths [, batch_first=false [, enforce_sorted=true]])
--            (or x, lengths, {batch_first=, enforce_sorted=})
--   out_packed, h_n = lstm(packed)
--   out, lengths = rnn.pad_packed_sequence(out_packed [, batch_first=false [, padding_value=0
--            [, total_length]]]) (or seq, {batch_first=, padding_value=, total_length=})
--   rnn.pad_sequence(list [, batch_first [, padding_value]]), rnn.pack_sequence(list [, enforce_sorted])
-- A PackedSequence has PyTorch's fields: data [sum(lengths), *] (time step by time step,
-- longest sequence first), batch_sizes (int64), sorted_indices / unsorted_indices (1-based
-- int64, nil when enforce_sorted). It also keeps the padded time-major form the recurrent
-- kernel runs on, in the caller's batch order: states in and out are in that order too
-- (PyTorch permutes them the same way). Indices are 1-based, lengths are counts.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local util = require 'lunagrad.nn.util'

local R = {}

local PackedSequence = { __typename = 'nn.utils.rnn.PackedSequence' }
local function is_packed(v) return type(v) == 'table' and getmetatable(v) == PackedSequence end
R.is_packed = is_packed

local function int_tensor(list) return lg.tensor(list, { dtype = 'int64' }) end

-- rows of the padded [T*B, ...] form, in the packed order
local function packed_rows(self)
  local rows, T, B = {}, self._padded:size(1), self._padded:size(2)
  local order = self._order
  for t = 1, T do
    for j = 1, B do
      local b = order[j]
      if self._len[b] >= t then rows[#rows + 1] = (t - 1) * B + b end
    end
  end
  return rows
end

local function flat_shape(p)
  local s = p:shape()
  local out = { s[1] * s[2] }
  for i = 3, #s do out[#out + 1] = s[i] end
  return out
end

PackedSequence.__index = function(self, k)
  if k == 'data' then -- built on first use (the RNN itself runs on the padded form)
    local p = self._padded
    local d = p:reshape(flat_shape(p)):index(1, int_tensor(packed_rows(self)))
    rawset(self, 'data', d)
    return d
  end
  return PackedSequence[k]
end

PackedSequence.__tostring = function(self)
  return string.format('PackedSequence(batch_sizes=%s, sorted=%s)', table.concat(self.batch_sizes:totable(), ','),
    tostring(self.sorted_indices == nil))
end

-- lens: Lua list in the caller's order; order: the packed (descending) order of batch indices.
local function make(padded, lens, order, sorted, zero_pad)
  local T = padded:size(1)
  local bs = {}
  for t = 1, T do
    local n = 0
    for _, L in ipairs(lens) do if L >= t then n = n + 1 end end
    bs[t] = n
  end
  local self = { _padded = padded, _len = lens, _lengths = int_tensor(lens), _order = order, _zero_pad = zero_pad,
    batch_sizes = int_tensor(bs) }
  if not sorted then
    local inv = {}
    for j, b in ipairs(order) do inv[b] = j end
    self.sorted_indices, self.unsorted_indices = int_tensor(order), int_tensor(inv)
  end
  return setmetatable(self, PackedSequence)
end

-- The output of an RNN run on `packed`: the same lengths and order, padded rows already 0.
function R._repack(packed, out)
  return make(out, packed._len, packed._order, packed.sorted_indices == nil, true)
end

local function lengths_list(fname, lengths, B, T)
  local list
  if util.is_tensor(lengths) then
    if lengths:dim() ~= 1 then
      util.raise(string.format('lunagrad.%s: lengths must be 1-d, got %d-d', fname, lengths:dim()))
    end
    list = lengths:totable()
  elseif type(lengths) == 'table' then
    list = lengths
  else
    util.raise(string.format('lunagrad.%s: lengths must be a Lua list or a 1-d tensor, got %s', fname, type(lengths)))
  end
  if #list ~= B then
    util.raise(string.format('lunagrad.%s: expected %d lengths (one per sequence of the batch), got %d', fname, B, #list))
  end
  local out = {}
  for i, L in ipairs(list) do
    if math.type(L) == 'float' and L == math.floor(L) then L = math.tointeger(L) end
    if math.type(L) ~= 'integer' then
      util.raise(string.format('lunagrad.%s: lengths[%d] must be an integer, got %s', fname, i, tostring(L)))
    end
    if L <= 0 then
      util.raise(string.format("lunagrad.%s: length of all samples has to be greater than 0, but lengths[%d] = %d", fname, i, L))
    end
    if L > T then
      util.raise(string.format('lunagrad.%s: lengths[%d] = %d is longer than the input (%d steps)', fname, i, L, T))
    end
    out[i] = L
  end
  return out
end

local PACK_OPTS = util.set { 'batch_first', 'enforce_sorted' }

--- pack_padded_sequence(x, lengths [, batch_first=false [, enforce_sorted=true]]) or (x, lengths, opts)
function R.pack_padded_sequence(input, lengths, batch_first, enforce_sorted)
  local fname = 'nn.utils.rnn.pack_padded_sequence'
  if type(batch_first) == 'table' then
    local o = util.options(fname, batch_first, PACK_OPTS)
    batch_first, enforce_sorted = o.batch_first, o.enforce_sorted
  end
  batch_first, enforce_sorted = batch_first == true, enforce_sorted ~= false
  if not util.is_tensor(input) or input:dim() < 2 then
    util.raise(string.format('lunagrad.%s: input must be a tensor of at least 2 dims, got %s', fname,
      util.is_tensor(input) and (input:dim() .. '-d') or type(input)))
  end
  local x = batch_first and input:transpose(1, 2) or input
  local T, B = x:size(1), x:size(2)
  local lens = lengths_list(fname, lengths, B, T)
  local order = {}
  for i = 1, B do order[i] = i end
  if enforce_sorted then
    for i = 2, B do
      if lens[i] > lens[i - 1] then
        util.raise(string.format('lunagrad.%s: lengths must be sorted in decreasing order when enforce_sorted is '
          .. 'true (lengths[%d] = %d > lengths[%d] = %d); pass enforce_sorted = false to sort them', fname, i, lens[i],
          i - 1, lens[i - 1]))
      end
    end
  else
    table.sort(order, function(a, b)
      if lens[a] ~= lens[b] then return lens[a] > lens[b] end
      return a < b
    end)
  end
  local maxlen = 0
  for _, L in ipairs(lens) do maxlen = math.max(maxlen, L) end
  if maxlen < T then x = x:narrow(1, 1, maxlen) end
  return make(x, lens, order, enforce_sorted, false)
end

local PAD_OPTS = util.set { 'batch_first', 'padding_value', 'total_length' }

--- pad_packed_sequence(seq [, batch_first=false [, padding_value=0 [, total_length]]]) or (seq, opts)
--- -> padded, lengths (int64, in the batch's own order)
function R.pad_packed_sequence(seq, batch_first, padding_value, total_length)
  local fname = 'nn.utils.rnn.pad_packed_sequence'
  if not is_packed(seq) then
    util.raise(string.format('lunagrad.%s: expected a PackedSequence, got %s', fname,
      util.is_tensor(seq) and 'a Tensor' or type(seq)))
  end
  if type(batch_first) == 'table' then
    local o = util.options(fname, batch_first, PAD_OPTS)
    batch_first, padding_value, total_length = o.batch_first, o.padding_value, o.total_length
  end
  padding_value = padding_value or 0
  local out = seq._padded
  local T, B = out:size(1), out:size(2)
  local short = false
  for _, L in ipairs(seq._len) do short = short or L < T end
  if short and (not seq._zero_pad or padding_value ~= 0) then
    local m = {}
    for t = 1, T do
      m[t] = {}
      for b = 1, B do m[t][b] = { seq._len[b] >= t and 1 or 0 } end
    end
    local mask = lg.tensor(m, { dtype = out.dtype })
    out = out * mask
    if padding_value ~= 0 then out = out + (1 - mask) * padding_value end
  end
  if total_length ~= nil then
    total_length = util.check_int(fname, 'total_length', total_length, 1)
    if total_length < T then
      util.raise(string.format('lunagrad.%s: total_length (%d) must be at least the length of the longest sequence (%d)',
        fname, total_length, T))
    end
    if total_length > T then
      local shape = out:shape()
      shape[1] = total_length - T
      out = lg.cat({ out, lg.full(shape, padding_value, { dtype = out.dtype }) }, 1)
    end
  end
  if batch_first == true then out = out:transpose(1, 2) end
  return out, int_tensor(seq._len)
end

--- PackedSequence(data, batch_sizes [, sorted_indices [, unsorted_indices]]): from PyTorch's fields.
function R.PackedSequence(data, batch_sizes, sorted_indices)
  local fname = 'nn.utils.rnn.PackedSequence'
  if not util.is_tensor(data) then util.raise('lunagrad.' .. fname .. ': data must be a Tensor, got ' .. type(data)) end
  local bs = util.is_tensor(batch_sizes) and batch_sizes:totable() or batch_sizes
  if type(bs) ~= 'table' or #bs == 0 then util.raise('lunagrad.' .. fname .. ': batch_sizes must be a non-empty list or tensor') end
  local T, B = #bs, bs[1]
  local order = sorted_indices and (util.is_tensor(sorted_indices) and sorted_indices:totable() or sorted_indices) or nil
  if not order then
    order = {}
    for i = 1, B do order[i] = i end
  end
  local lens, total = {}, 0
  for j = 1, B do lens[order[j]] = 0 end
  for t = 1, T do
    total = total + bs[t]
    for j = 1, bs[t] do lens[order[j]] = lens[order[j]] + 1 end
  end
  if data:size(1) ~= total then
    util.raise(string.format('lunagrad.%s: data has %d rows but batch_sizes sum to %d', fname, data:size(1), total))
  end
  local self = make(data, lens, order, sorted_indices == nil, false)
  local shape = data:shape()
  shape[1] = T * B
  local padded = core._index_add_to(data, 1, int_tensor(packed_rows(setmetatable({ _padded = lg.zeros(T, B), _order = order,
    _len = lens }, PackedSequence))), shape)
  shape[1] = B
  table.insert(shape, 1, T)
  rawset(self, '_padded', padded:reshape(shape))
  rawset(self, 'data', data)
  return self
end

--- pad_sequence(list of [L_i, *] [, batch_first=false [, padding_value=0]]) -> [T, B, *] (or [B, T, *])
function R.pad_sequence(sequences, batch_first, padding_value)
  local fname = 'nn.utils.rnn.pad_sequence'
  if type(sequences) ~= 'table' or #sequences == 0 then
    util.raise('lunagrad.' .. fname .. ': expected a non-empty list of tensors')
  end
  padding_value = padding_value or 0
  local T = 0
  for i, s in ipairs(sequences) do
    if not util.is_tensor(s) or s:dim() < 1 then
      util.raise(string.format('lunagrad.%s: sequences[%d] must be a tensor of at least 1 dim', fname, i))
    end
    T = math.max(T, s:size(1))
  end
  local cols = {}
  for i, s in ipairs(sequences) do
    if s:size(1) < T then
      local shape = s:shape()
      shape[1] = T - s:size(1)
      s = lg.cat({ s, lg.full(shape, padding_value, { dtype = s.dtype }) }, 1)
    end
    cols[i] = s
  end
  return lg.stack(cols, batch_first == true and 1 or 2)
end

--- pack_sequence(list of [L_i, *] [, enforce_sorted=true])
function R.pack_sequence(sequences, enforce_sorted)
  local lens = {}
  for i, s in ipairs(sequences) do lens[i] = util.is_tensor(s) and s:dim() >= 1 and s:size(1) or 0 end
  return R.pack_padded_sequence(R.pad_sequence(sequences), lens, false, enforce_sorted)
end

return R
