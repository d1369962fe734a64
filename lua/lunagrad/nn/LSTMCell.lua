-- nn.LSTMCell(input_size, hidden_size [, bias=true] | [, {bias=, dtype=}]): one step of PyTorch's
-- LSTMCell (see RNNCell.lua); {h', c'} = cell(x [, {h, c}]), gates i, f, g, o.
local class = require 'lunagrad.nn.class'
local CellBase = require('lunagrad.nn.RNNCell').RNNCellBase

local LSTMCell = class.new('nn.LSTMCell', CellBase)

function LSTMCell:__init(input_size, hidden_size, bias)
  self:_setup('LSTMCell', input_size, hidden_size, bias)
end

return LSTMCell
