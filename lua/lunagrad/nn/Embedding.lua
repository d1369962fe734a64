-- nn.Embedding(num_embeddings, embedding_dim [, {padding_idx=, max_norm=, norm_type=2,
-- scale_grad_by_freq=false, sparse=false, dtype=}]): a lookup table, weight [num, dim] ~ N(0, 1)
-- as PyTorch, the padding_idx row zeroed and given no gradient. Indices are 1-based (an int64
-- tensor of any shape, or a table of integers) -> output [..., dim]. F.embedding does the work
-- (lunagrad/nn/embedding_functional.lua). nn.Embedding.from_pretrained(weight, {freeze=true, ...}).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'
local lg = require 'lunagrad'

local E = F._embedding
local Embedding = class.new('nn.Embedding', Module)
local NAME = 'nn.Embedding'
local OPTS = util.set { 'padding_idx', 'max_norm', 'norm_type', 'scale_grad_by_freq', 'sparse', 'dtype' }

function Embedding:__init(num_embeddings, embedding_dim, opts)
  opts = util.options(NAME, opts, OPTS)
  self.num_embeddings = util.check_int(NAME, 'num_embeddings', num_embeddings)
  self.embedding_dim = util.check_int(NAME, 'embedding_dim', embedding_dim)
  self.padding_idx = E.padding_idx(NAME, opts.padding_idx, self.num_embeddings)
  self.max_norm, self.norm_type = E.max_norm(NAME, opts)
  for _, k in ipairs { 'scale_grad_by_freq', 'sparse' } do
    if opts[k] ~= nil and opts[k] ~= false then
      util.raise(string.format('lunagrad.%s: %s = %s is not supported (only false)', NAME, k, tostring(opts[k])))
    end
  end
  local w = lg.randn({ self.num_embeddings, self.embedding_dim }, { dtype = opts.dtype or 'float32' })
  if self.padding_idx then w:narrow(1, self.padding_idx, 1):fill(0) end
  w:requires_grad_(true)
  self:register_parameter('weight', w)
end

--- nn.Embedding.from_pretrained(weight [, {freeze=true, padding_idx=, max_norm=, norm_type=2}]):
--- an Embedding whose weight is a copy of `weight` (2-d); frozen (no gradient) unless freeze = false.
function Embedding.from_pretrained(weight, opts)
  if util.is_module(weight) or weight == Embedding then
    util.raise('lunagrad.nn.Embedding.from_pretrained: call it with a dot: nn.Embedding.from_pretrained(weight, {...})')
  end
  if not util.is_tensor(weight) or weight:dim() ~= 2 then
    util.raise(string.format('lunagrad.nn.Embedding.from_pretrained: weight must be a 2-d tensor [num, dim], got %s',
      util.is_tensor(weight) and util.shape_str(weight) or type(weight)))
  end
  opts = util.options('nn.Embedding.from_pretrained', opts,
    util.set { 'freeze', 'padding_idx', 'max_norm', 'norm_type', 'scale_grad_by_freq', 'sparse' })
  local o = {}
  for k, v in pairs(opts) do if k ~= 'freeze' then o[k] = v end end
  o.dtype = weight.dtype
  local m = Embedding(weight:size(1), weight:size(2), o)
  lg.no_grad(function() m.weight:copy(weight) end)
  if opts.freeze ~= false then m.weight:requires_grad_(false) end
  return m
end

function Embedding:_brief()
  return string.format('nn.Embedding(%d, %d)', self.num_embeddings, self.embedding_dim)
end

function Embedding:forward(input)
  if not util.is_module(self) then util.bad_input(self, NAME, input) end
  return E.embedding(input, self.weight, { padding_idx = self.padding_idx, max_norm = self.max_norm,
    norm_type = self.norm_type }, NAME)
end

function Embedding:extra_repr()
  local s = string.format('%d, %d', self.num_embeddings, self.embedding_dim)
  if self.padding_idx then s = s .. ', padding_idx=' .. self.padding_idx end
  if self.max_norm then s = s .. ', max_norm=' .. self.max_norm end
  return s
end

return Embedding
