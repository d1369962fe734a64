-- nn.GRUCell(input_size, hidden_size [, bias=true] | [, {bias=, dtype=}]): one step of PyTorch's
-- GRUCell (see RNNCell.lua); h' = cell(x [, h]), gates r, z, n.
local class = require 'lunagrad.nn.class'
local CellBase = require('lunagrad.nn.RNNCell').RNNCellBase

local GRUCell = class.new('nn.GRUCell', CellBase)

function GRUCell:__init(input_size, hidden_size, bias)
  self:_setup('GRUCell', input_size, hidden_size, bias)
end

return GRUCell
