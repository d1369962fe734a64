-- nn.RNN(input_size, hidden_size [, num_layers] [, opts]) and the base of nn.LSTM / nn.GRU.
-- PyTorch's modules: the same constructor arguments and defaults, parameter names and
-- layouts (weight_ih_l0 [G*hidden, input], weight_hh_l0, bias_ih_l0, bias_hh_l0, the
-- *_reverse copies when bidirectional, weight_hr_l0 [proj, hidden] for LSTM's proj_size),
-- gate orders (LSTM i, f, g, o; GRU r, z, n) and initialisation U(-1/sqrt(hidden), 1/sqrt(hidden)).
--
--   output, h_n = rnn(x [, h_0])          x: [T, B, input] ([B, T, input] with batch_first,
--   output, {h_n, c_n} = lstm(x [, {h_0, c_0}])   [T, input] unbatched, or a PackedSequence)
-- output [T, B, D*P] (P = proj_size or hidden), h_n [num_layers*D, B, P], c_n [num_layers*D, B, hidden],
-- D = 2 when bidirectional. A PackedSequence in gives a PackedSequence out
-- (nn.utils.rnn.pack_padded_sequence / pad_packed_sequence) and final states taken at each
-- sequence's own length, as PyTorch.
-- Each layer and direction is one call of the C kernel (lunagrad.core.rnn) over all time steps.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'
local rnn_utils = require 'lunagrad.nn.rnn_utils'

local Base = class.new('nn.RNNBase', Module)

local COMMON = { 'num_layers', 'bias', 'batch_first', 'dropout', 'bidirectional', 'dtype' }
local ALLOWED = {
  RNN = util.set { 'nonlinearity', table.unpack(COMMON) },
  LSTM = util.set { 'proj_size', table.unpack(COMMON) },
  GRU = util.set(COMMON),
}
local GATES = { RNN = 1, LSTM = 4, GRU = 3 }

-- kind: 'RNN' | 'LSTM' | 'GRU'; (input_size, hidden_size [, num_layers] [, opts]).
function Base:_setup(kind, input_size, hidden_size, num_layers, opts)
  local fname = 'nn.' .. kind
  if type(num_layers) == 'table' and not util.is_tensor(num_layers) then num_layers, opts = nil, num_layers end
  opts = util.options(fname, opts, ALLOWED[kind])
  if num_layers ~= nil and opts.num_layers ~= nil then
    util.raise('lunagrad.' .. fname .. ': num_layers given twice (argument and option)')
  end
  self.kind = kind
  self.input_size = util.check_int(fname, 'input_size', input_size, 1)
  self.hidden_size = util.check_int(fname, 'hidden_size', hidden_size, 1)
  self.num_layers = util.check_int(fname, 'num_layers', num_layers or opts.num_layers or 1, 1)
  self.bias = opts.bias ~= false
  self.batch_first = opts.batch_first == true
  self.dropout = util.check_number(fname, 'dropout', opts.dropout or 0, 0, 1)
  self.bidirectional = opts.bidirectional == true
  self.proj_size = util.check_int(fname, 'proj_size', opts.proj_size or 0, 0)
  if self.proj_size >= self.hidden_size then
    util.raise(string.format('lunagrad.%s: proj_size (%d) has to be smaller than hidden_size (%d)', fname,
      self.proj_size, self.hidden_size))
  end
  if kind == 'RNN' then
    local nl = opts.nonlinearity or 'tanh'
    if nl ~= 'tanh' and nl ~= 'relu' then
      util.raise("lunagrad.nn.RNN: nonlinearity must be 'tanh' or 'relu', got " .. tostring(nl))
    end
    self.nonlinearity = nl
    self.mode = 'rnn_' .. nl
  else
    self.mode = kind:lower()
  end
  local H, D = self.hidden_size, self.bidirectional and 2 or 1
  local P = self.proj_size > 0 and self.proj_size or H
  local G = GATES[kind]
  local bound = 1 / math.sqrt(H)
  self._weights = {} -- [layer*D + dir + 1] = {w_ih, w_hh, b_ih, b_hh, w_hr} parameter names
  for layer = 0, self.num_layers - 1 do
    for dir = 0, D - 1 do
      local sfx = '_l' .. layer .. (dir == 1 and '_reverse' or '')
      local in_l = layer == 0 and self.input_size or P * D
      local names = { 'weight_ih' .. sfx, 'weight_hh' .. sfx }
      self:register_parameter(names[1], util.uniform({ G * H, in_l }, bound, opts.dtype))
      self:register_parameter(names[2], util.uniform({ G * H, P }, bound, opts.dtype))
      if self.bias then
        names[3], names[4] = 'bias_ih' .. sfx, 'bias_hh' .. sfx
        self:register_parameter(names[3], util.uniform({ G * H }, bound, opts.dtype))
        self:register_parameter(names[4], util.uniform({ G * H }, bound, opts.dtype))
      end
      if self.proj_size > 0 then
        names[5] = 'weight_hr' .. sfx
        self:register_parameter(names[5], util.uniform({ P, H }, bound, opts.dtype))
      end
      self._weights[layer * D + dir + 1] = names
    end
  end
end

local is_tensor = core.is_tensor

local function shape_of(t) return '[' .. table.concat(t:shape(), ', ') .. ']' end
local function tuple(list) return '(' .. table.concat(list, ', ') .. ')' end

-- The initial state h (or c: what = 'c') as [L*D, B, size], checked against PyTorch's expectation.
local function check_state(self, t, what, expected, unbatched)
  local fname = 'lunagrad.nn.' .. self.kind
  local label = self.kind == 'LSTM' and (what == 'h' and 'hx[1] (h_0)' or 'hx[2] (c_0)') or 'hx (h_0)'
  if not is_tensor(t) then util.raise(string.format('%s: %s must be a Tensor, got %s', fname, label, type(t))) end
  local want = unbatched and { expected[1], expected[3] } or expected
  local ok = t:dim() == #want
  for i = 1, #want do ok = ok and t:size(i) == want[i] end
  if not ok then
    util.raise(string.format('%s: expected %s of size %s, got %s%s', fname, label, tuple(want), shape_of(t),
      unbatched and ' (the input is unbatched: 2-d states)' or ''))
  end
  if t.dtype ~= self._dtype then
    util.raise(string.format('%s: %s is %s but the module is %s', fname, label, t.dtype, self._dtype))
  end
  return unbatched and t:unsqueeze(2) or t
end

function Base:forward(input, hx)
  local fname = 'lunagrad.nn.' .. self.kind
  local w1 = self[self._weights[1][1]]
  self._dtype = w1.dtype
  local packed = rnn_utils.is_packed(input)
  local x, lengths, unbatched
  if packed then
    x, lengths = input._padded, input._lengths
  else
    if not is_tensor(input) then
      util.raise(string.format('%s: expected a Tensor or a PackedSequence input, got %s', fname, type(input)))
    end
    local nd = input:dim()
    if nd ~= 2 and nd ~= 3 then
      util.raise(string.format('%s: expected a 3-d input %s (or 2-d unbatched), got %d-d %s', fname,
        self.batch_first and '[batch, seq, input_size]' or '[seq, batch, input_size]', nd, shape_of(input)))
    end
    unbatched = nd == 2
    x = unbatched and input:unsqueeze(2) or (self.batch_first and input:transpose(1, 2) or input)
  end
  if x:size(3) ~= self.input_size then
    util.raise(string.format('%s: input.size(-1) must be equal to input_size: expected %d, got %d', fname,
      self.input_size, x:size(3)))
  end
  if x.dtype ~= self._dtype then
    util.raise(string.format('%s: input is %s but the parameters are %s (convert one: x:%s() or m:%s())', fname,
      x.dtype, self._dtype, self._dtype == 'float64' and 'double' or 'float', x.dtype == 'float64' and 'double' or 'float'))
  end
  local T, B = x:size(1), x:size(2)
  local H, D = self.hidden_size, self.bidirectional and 2 or 1
  local P = self.proj_size > 0 and self.proj_size or H
  local LD = self.num_layers * D
  local lstm = self.kind == 'LSTM'
  local h0, c0
  if hx == nil then
    h0 = lg.zeros({ LD, B, P }, { dtype = self._dtype })
    if lstm then c0 = lg.zeros({ LD, B, H }, { dtype = self._dtype }) end
  elseif lstm then
    if type(hx) ~= 'table' or is_tensor(hx) or #hx ~= 2 then
      util.raise(fname .. ': hx must be a table {h_0, c_0} of two tensors, got ' .. (is_tensor(hx) and 'a Tensor' or type(hx)))
    end
    h0 = check_state(self, hx[1], 'h', { LD, B, P }, unbatched)
    c0 = check_state(self, hx[2], 'c', { LD, B, H }, unbatched)
  else
    h0 = check_state(self, hx, 'h', { LD, B, P }, unbatched)
  end
  local rnn, mode = core.rnn, self.mode
  local layer_input = x
  local hn, cn = {}, {}
  for layer = 0, self.num_layers - 1 do
    local outs = {}
    for dir = 0, D - 1 do
      local k = layer * D + dir + 1
      local names = self._weights[k]
      local Y = rnn(mode, layer_input, h0:select(1, k), c0 and c0:select(1, k), self[names[1]], self[names[2]],
        names[3] and self[names[3]], names[4] and self[names[4]], names[5] and self[names[5]], lengths, dir == 1)
      local last = Y:select(1, T + 1)
      if lstm then
        outs[dir + 1] = Y:narrow(1, 1, T):narrow(3, 1, P)
        hn[k], cn[k] = last:narrow(2, 1, P), last:narrow(2, P + 1, H)
      else
        outs[dir + 1] = Y:narrow(1, 1, T)
        hn[k] = last
      end
    end
    layer_input = D == 2 and lg.cat(outs, 3) or outs[1]
    if self.dropout > 0 and self.training and layer < self.num_layers - 1 then
      layer_input = F.dropout(layer_input, self.dropout, true)
    end
  end
  local out = layer_input
  local h_n = LD == 1 and hn[1]:unsqueeze(1) or lg.stack(hn, 1)
  local c_n = lstm and (LD == 1 and cn[1]:unsqueeze(1) or lg.stack(cn, 1)) or nil
  if packed then
    out = rnn_utils._repack(input, out)
  elseif unbatched then
    out, h_n = out:squeeze(2), h_n:squeeze(2)
    if c_n then c_n = c_n:squeeze(2) end
  elseif self.batch_first then
    out = out:transpose(1, 2)
  end
  if lstm then return out, { h_n, c_n } end
  return out, h_n
end

function Base:extra_repr()
  local s = { self.input_size, self.hidden_size }
  if self.proj_size > 0 then s[#s + 1] = 'proj_size=' .. self.proj_size end
  if self.num_layers ~= 1 then s[#s + 1] = 'num_layers=' .. self.num_layers end
  if self.kind == 'RNN' and self.nonlinearity ~= 'tanh' then s[#s + 1] = "nonlinearity='" .. self.nonlinearity .. "'" end
  if not self.bias then s[#s + 1] = 'bias=false' end
  if self.batch_first then s[#s + 1] = 'batch_first=true' end
  if self.dropout ~= 0 then s[#s + 1] = 'dropout=' .. self.dropout end
  if self.bidirectional then s[#s + 1] = 'bidirectional=true' end
  return table.concat(s, ', ')
end

local RNN = class.new('nn.RNN', Base)

--- opts: {num_layers=1, nonlinearity='tanh'|'relu', bias=true, batch_first=false, dropout=0,
--- bidirectional=false, dtype='float32'}
function RNN:__init(input_size, hidden_size, num_layers, opts)
  self:_setup('RNN', input_size, hidden_size, num_layers, opts)
end

RNN.RNNBase = Base
return RNN
