-- nn.RNNCell(input_size, hidden_size [, bias=true [, nonlinearity='tanh']] | [, opts]) and the
-- base of nn.LSTMCell / nn.GRUCell: one time step, PyTorch's cells (weight_ih [G*hidden, input],
-- weight_hh [G*hidden, hidden], bias_ih, bias_hh; U(-1/sqrt(hidden), 1/sqrt(hidden))).
--   h' = cell(x [, h])              x: [B, input] or [input] (unbatched); h: [B, hidden]
--   {h', c'} = lstm_cell(x [, {h, c}])
-- A step is the recurrent kernel (lunagrad.core.rnn) over one time step.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'

local CellBase = class.new('nn.RNNCellBase', Module)
local GATES = { RNNCell = 1, LSTMCell = 4, GRUCell = 3 }

function CellBase:_setup(kind, input_size, hidden_size, bias, opts)
  local fname = 'nn.' .. kind
  if type(bias) == 'table' and not util.is_tensor(bias) then
    opts = util.options(fname, bias, kind == 'RNNCell' and util.set { 'bias', 'nonlinearity', 'dtype' }
      or util.set { 'bias', 'dtype' })
  else
    opts = { bias = bias, nonlinearity = opts }
  end
  self.kind = kind
  self.input_size = util.check_int(fname, 'input_size', input_size, 1)
  self.hidden_size = util.check_int(fname, 'hidden_size', hidden_size, 1)
  self.bias = opts.bias ~= false
  if kind == 'RNNCell' then
    local nl = opts.nonlinearity or 'tanh'
    if nl ~= 'tanh' and nl ~= 'relu' then
      util.raise("lunagrad.nn.RNNCell: nonlinearity must be 'tanh' or 'relu', got " .. tostring(nl))
    end
    self.nonlinearity = nl
    self.mode = 'rnn_' .. nl
  else
    self.mode = kind == 'LSTMCell' and 'lstm' or 'gru'
  end
  local G, H = GATES[kind], self.hidden_size
  local bound = 1 / math.sqrt(H)
  self:register_parameter('weight_ih', util.uniform({ G * H, self.input_size }, bound, opts.dtype))
  self:register_parameter('weight_hh', util.uniform({ G * H, H }, bound, opts.dtype))
  if self.bias then
    self:register_parameter('bias_ih', util.uniform({ G * H }, bound, opts.dtype))
    self:register_parameter('bias_hh', util.uniform({ G * H }, bound, opts.dtype))
  end
end

local is_tensor = core.is_tensor
local function shape_of(t) return '[' .. table.concat(t:shape(), ', ') .. ']' end

local function check_state(self, t, label, B, unbatched)
  local fname = 'lunagrad.nn.' .. self.kind
  if not is_tensor(t) then util.raise(string.format('%s: %s must be a Tensor, got %s', fname, label, type(t))) end
  if t:dim() ~= (unbatched and 1 or 2) then
    util.raise(string.format('%s: %s must be %s, got %s', fname, label,
      unbatched and ('1-d [' .. self.hidden_size .. '] for an unbatched input') or ('2-d [' .. B .. ', ' .. self.hidden_size .. ']'),
      shape_of(t)))
  end
  if t:size(-1) ~= self.hidden_size then
    util.raise(string.format('%s: %s has inconsistent hidden_size: got %d, expected %d', fname, label, t:size(-1),
      self.hidden_size))
  end
  if not unbatched and t:size(1) ~= B then
    util.raise(string.format("%s: input batch size %d doesn't match %s batch size %d", fname, B, label, t:size(1)))
  end
  if t.dtype ~= self.weight_ih.dtype then
    util.raise(string.format('%s: %s is %s but the module is %s', fname, label, t.dtype, self.weight_ih.dtype))
  end
  return unbatched and t:unsqueeze(1) or t
end

function CellBase:forward(input, hx)
  local fname = 'lunagrad.nn.' .. self.kind
  if not is_tensor(input) then util.raise(fname .. ': expected a Tensor input, got ' .. type(input)) end
  local nd = input:dim()
  if nd ~= 1 and nd ~= 2 then
    util.raise(string.format('%s: expected input to be 1-d or 2-d [batch, input_size], got %d-d %s', fname, nd, shape_of(input)))
  end
  if input:size(-1) ~= self.input_size then
    util.raise(string.format('%s: input has inconsistent input_size: got %d, expected %d', fname, input:size(-1),
      self.input_size))
  end
  local dtype = self.weight_ih.dtype
  if input.dtype ~= dtype then
    util.raise(string.format('%s: input is %s but the parameters are %s', fname, input.dtype, dtype))
  end
  local unbatched = nd == 1
  local x = unbatched and input:unsqueeze(1) or input
  local B, H = x:size(1), self.hidden_size
  local lstm = self.kind == 'LSTMCell'
  local h, c
  if hx == nil then
    h = lg.zeros({ B, H }, { dtype = dtype })
    if lstm then c = lg.zeros({ B, H }, { dtype = dtype }) end
  elseif lstm then
    if type(hx) ~= 'table' or is_tensor(hx) or #hx ~= 2 then
      util.raise(fname .. ': hx must be a table {h, c} of two tensors, got ' .. (is_tensor(hx) and 'a Tensor' or type(hx)))
    end
    h, c = check_state(self, hx[1], 'hx[1] (h)', B, unbatched), check_state(self, hx[2], 'hx[2] (c)', B, unbatched)
  else
    h = check_state(self, hx, 'hx', B, unbatched)
  end
  local Y = core.rnn(self.mode, x:unsqueeze(1), h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
    nil, nil, false)
  local last = Y:select(1, 2)
  local h1, c1 = lstm and last:narrow(2, 1, H) or last, lstm and last:narrow(2, H + 1, H) or nil
  if unbatched then
    h1 = h1:squeeze(1)
    if c1 then c1 = c1:squeeze(1) end
  end
  if lstm then return { h1, c1 } end
  return h1
end

function CellBase:extra_repr()
  local s = self.input_size .. ', ' .. self.hidden_size
  if not self.bias then s = s .. ', bias=false' end
  if self.nonlinearity and self.nonlinearity ~= 'tanh' then s = s .. ", nonlinearity='" .. self.nonlinearity .. "'" end
  return s
end

local RNNCell = class.new('nn.RNNCell', CellBase)
--- (input_size, hidden_size [, bias=true [, nonlinearity='tanh']]) or (input_size, hidden_size, {bias=, nonlinearity=, dtype=})
function RNNCell:__init(input_size, hidden_size, bias, nonlinearity)
  self:_setup('RNNCell', input_size, hidden_size, bias, nonlinearity)
end

RNNCell.RNNCellBase = CellBase
return RNNCell
