-- nn.EmbeddingBag(num_embeddings, embedding_dim [, {mode='mean', padding_idx=, max_norm=,
-- norm_type=2, include_last_offset=false, scale_grad_by_freq=false, sparse=false, dtype=}]):
-- sums, means or maxes of embeddings per bag, without the [B, L, dim] intermediate's API.
-- bag(input [, offsets [, per_sample_weights]]): input [B, L] (each row a bag) or 1-d with
-- offsets, the 1-based start of each bag (offsets[1] = 1). per_sample_weights (input's shape)
-- only with mode 'sum'. Weight [num, dim] ~ N(0, 1), the padding_idx row zeroed; entries equal
-- to padding_idx are left out of their bag; empty bags give zeros (as PyTorch).
local class = require 'lunagrad.nn.class'
local util = require 'lunagrad.nn.util'
local Module = require 'lunagrad.nn.Module'
local F = require 'lunagrad.nn.functional'
local lg = require 'lunagrad'

local E = F._embedding
local EmbeddingBag = class.new('nn.EmbeddingBag', Module)
local NAME = 'nn.EmbeddingBag'
local OPTS = util.set { 'mode', 'padding_idx', 'max_norm', 'norm_type', 'scale_grad_by_freq', 'sparse', 'dtype',
  'include_last_offset' }

function EmbeddingBag:__init(num_embeddings, embedding_dim, opts)
  opts = util.options(NAME, opts, OPTS)
  self.num_embeddings = util.check_int(NAME, 'num_embeddings', num_embeddings)
  self.embedding_dim = util.check_int(NAME, 'embedding_dim', embedding_dim)
  self.mode = opts.mode or 'mean'
  if self.mode ~= 'sum' and self.mode ~= 'mean' and self.mode ~= 'max' then
    util.raise(string.format("lunagrad.%s: mode must be 'sum', 'mean' or 'max', got %s", NAME, tostring(self.mode)))
  end
  self.padding_idx = E.padding_idx(NAME, opts.padding_idx, self.num_embeddings)
  self.max_norm, self.norm_type = E.max_norm(NAME, opts)
  self.include_last_offset = opts.include_last_offset == true
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

function EmbeddingBag:_brief()
  return string.format('nn.EmbeddingBag(%d, %d)', self.num_embeddings, self.embedding_dim)
end

function EmbeddingBag:forward(input, offsets, per_sample_weights)
  if not util.is_module(self) then util.bad_input(self, NAME, input) end
  return E.embedding_bag(input, self.weight, offsets, { mode = self.mode, padding_idx = self.padding_idx,
    max_norm = self.max_norm, norm_type = self.norm_type, per_sample_weights = per_sample_weights,
    include_last_offset = self.include_last_offset }, NAME)
end

function EmbeddingBag:extra_repr()
  local s = string.format("%d, %d, mode='%s'", self.num_embeddings, self.embedding_dim, self.mode)
  if self.padding_idx then s = s .. ', padding_idx=' .. self.padding_idx end
  return s
end

return EmbeddingBag
