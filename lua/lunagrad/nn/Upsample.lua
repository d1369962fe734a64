-- nn.Upsample({size= | scale_factor=, mode='nearest', align_corners=}) (or PyTorch's positional
-- (size, scale_factor, mode, align_corners)): F.interpolate as a module, no parameters.
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'

local Upsample = class.new('nn.Upsample', Module)

local OPTS = util.set { 'size', 'scale_factor', 'mode', 'align_corners', 'recompute_scale_factor' }

function Upsample:__init(size, scale_factor, mode, align_corners)
  local opts = size
  if type(size) ~= 'table' or #size > 0 then
    opts = { size = size, scale_factor = scale_factor, mode = mode, align_corners = align_corners }
  end
  opts = util.options('nn.Upsample', opts, OPTS)
  self.size, self.scale_factor, self.mode = opts.size, opts.scale_factor, opts.mode or 'nearest'
  self.align_corners, self.recompute_scale_factor = opts.align_corners, opts.recompute_scale_factor
  if (self.size == nil) == (self.scale_factor == nil) then
    util.raise('lunagrad.nn.Upsample: exactly one of size and scale_factor must be given')
  end
end

function Upsample:forward(x)
  return F.interpolate(x, { size = self.size, scale_factor = self.scale_factor, mode = self.mode,
    align_corners = self.align_corners, recompute_scale_factor = self.recompute_scale_factor })
end

local function str(v) return type(v) == 'table' and ('{' .. table.concat(v, ',') .. '}') or tostring(v) end

function Upsample:extra_repr()
  local s = self.size ~= nil and ('size=' .. str(self.size)) or ('scale_factor=' .. str(self.scale_factor))
  return s .. ", mode='" .. self.mode .. "'" .. (self.align_corners ~= nil and (', align_corners=' .. tostring(self.align_corners)) or '')
end

return Upsample
