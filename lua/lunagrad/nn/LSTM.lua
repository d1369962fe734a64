-- nn.LSTM(input_size, hidden_size [, num_layers] [, opts]): PyTorch's LSTM (see RNN.lua).
--   output, {h_n, c_n} = lstm(x [, {h_0, c_0}])
-- opts: {num_layers=1, bias=true, batch_first=false, dropout=0, bidirectional=false,
-- proj_size=0, dtype='float32'}; gates i, f, g, o; with proj_size, h = W_hr (o * tanh(c)).
local class = require 'lunagrad.nn.class'
local Base = require('lunagrad.nn.RNN').RNNBase

local LSTM = class.new('nn.LSTM', Base)

function LSTM:__init(input_size, hidden_size, num_layers, opts)
  self:_setup('LSTM', input_size, hidden_size, num_layers, opts)
end

return LSTM
