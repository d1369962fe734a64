-- nn.GELU([{approximate = 'none'}]): x * Phi(x) (exact), or PyTorch's tanh approximation
-- with approximate = 'tanh'. The string alone works too: nn.GELU('tanh').
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local GELU = class.new('nn.GELU', Module)

function GELU:__init(opts)
  local approx = opts
  if type(opts) == 'table' then approx = util.options('nn.GELU', opts, util.set { 'approximate' }).approximate end
  approx = approx or 'none'
  if approx ~= 'none' and approx ~= 'tanh' then
    util.raise("lunagrad.nn.GELU: approximate must be 'none' or 'tanh', got " .. tostring(approx))
  end
  self.approximate = approx
end

function GELU:forward(x)
  if not util.is_tensor(x) then util.bad_input(self, 'nn.GELU', x) end
  return F.gelu(x, self.approximate)
end

function GELU:extra_repr() return "approximate='" .. self.approximate .. "'" end

return GELU
