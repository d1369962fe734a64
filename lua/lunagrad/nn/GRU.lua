-- nn.GRU(input_size, hidden_size [, num_layers] [, opts]): PyTorch's GRU (see RNN.lua).
--   output, h_n = gru(x [, h_0])
-- opts: {num_layers=1, bias=true, batch_first=false, dropout=0, bidirectional=false,
-- dtype='float32'}; gates r, z, n: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
-- h' = (1 - z) * n + z * h.
local class = require 'lunagrad.nn.class'
local Base = require('lunagrad.nn.RNN').RNNBase

local GRU = class.new('nn.GRU', Base)

function GRU:__init(input_size, hidden_size, num_layers, opts)
  self:_setup('GRU', input_size, hidden_size, num_layers, opts)
end

return GRU
