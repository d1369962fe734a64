-- lunagrad.nn: modules (layers, containers, losses), nn.functional and save/load.
--
--   local nn = require 'lunagrad.nn'
--   local net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
--   local loss = nn.CrossEntropyLoss()(net(x), labels)
--
-- Define a module in Lua with nn.class (see Module.lua and docs/api_nn.md).
local class = require 'lunagrad.nn.class'
local serialize = require 'lunagrad.nn.serialize'

local nn = {}

--- nn.class(name [, parent=nn.Module]): a new module class, registered for nn.load.
function nn.class(name, parent)
  if parent == nil then parent = nn.Module end
  if type(name) ~= 'string' then
    error('lunagrad.nn.class: expects a class name (string), got ' .. type(name), 2)
  end
  if type(parent) ~= 'table' or not class.is_subclass(parent, nn.Module) then
    error('lunagrad.nn.class: parent of ' .. name .. ' must be nn.Module or a module class', 2)
  end
  return class.new(name, parent)
end

--- nn.register(cls [, name]): makes a class (e.g. one from another class system) loadable by name.
nn.register = class.register

local MODULES = {
  'Module', 'Sequential', 'Linear', 'Conv2d', 'MaxPool2d', 'AvgPool2d', 'ReLU', 'LeakyReLU', 'Sigmoid',
  'Tanh', 'Softmax', 'LogSoftmax', 'Identity', 'Dropout', 'Flatten', 'BatchNorm1d', 'BatchNorm2d',
  'GradientReversal', 'CrossEntropyLoss', 'NLLLoss', 'BCEWithLogitsLoss', 'MSELoss',
}
for _, name in ipairs(MODULES) do nn[name] = require('lunagrad.nn.' .. name) end
for _, name in ipairs { 'DistributedDataParallel', 'SyncBatchNorm' } do nn[name] = require('lunagrad.nn.' .. name) end -- docs/distributed.md
-- the convolution family (issue 13 item 1)
for _, name in ipairs { 'Conv1d', 'ConvTranspose1d', 'ConvTranspose2d', 'MaxPool1d', 'AvgPool1d', 'AdaptiveAvgPool1d',
  'AdaptiveAvgPool2d', 'AdaptiveMaxPool1d', 'AdaptiveMaxPool2d', 'Upsample' } do nn[name] = require('lunagrad.nn.' .. name) end

for _, name in ipairs { 'GELU', 'SiLU', 'ELU', 'SELU', 'CELU', 'Softplus', 'Softsign', 'Mish', 'Hardtanh', 'Hardsigmoid', 'Hardswish', 'PReLU', 'ReLU6', 'LogSigmoid', 'Softmin', 'Dropout1d', 'Dropout2d', 'AlphaDropout' } do nn[name] = require('lunagrad.nn.' .. name) end -- activations (issue 13 item 3)
nn.init = require 'lunagrad.nn.initializers' -- PyTorch's torch.nn.init (in place)
for _, name in ipairs { 'RNN', 'LSTM', 'GRU', 'RNNCell', 'LSTMCell', 'GRUCell' } do nn[name] = require('lunagrad.nn.' .. name) end -- recurrent (RNN.lua)
for _, name in ipairs { 'Embedding', 'EmbeddingBag' } do nn[name] = require('lunagrad.nn.' .. name) end -- Embedding.lua
nn.utils = require 'lunagrad.nn.utils' -- clip_grad_norm_, clip_grad_value_, parameter vectors
nn.utils.rnn = require 'lunagrad.nn.rnn_utils' -- pack_padded_sequence, pad_packed_sequence (recurrent)
nn.functional = require 'lunagrad.nn.functional'
nn.F = nn.functional

--- nn.save(m, path): state dict + architecture in one safetensors file.
nn.save = serialize.save
--- nn.load(path): the module saved by nn.save / m:save, rebuilt with its state.
nn.load = serialize.load
--- nn.architecture(m): the table nn.save stores; nn.build(arch) makes a fresh module from it.
nn.architecture = serialize.architecture
nn.build = serialize.build

--- True when v is a module instance.
nn.is_module = require('lunagrad.nn.util').is_module

--- nn.parameters(m1, m2, ...): the parameters of several modules in one list, in
--- order (what an optimiser over a feature extractor and its heads needs).
function nn.parameters(...)
  local util = require 'lunagrad.nn.util'
  local out = {}
  for i = 1, select('#', ...) do
    local m = select(i, ...)
    if not util.is_module(m) then
      util.raise(string.format('lunagrad.nn.parameters: argument #%d must be a module, got %s', i, type(m)))
    end
    for _, p in ipairs(m:parameters()) do out[#out + 1] = p end
  end
  return out
end

-- nn.Relu raises "nn.Relu does not exist; did you mean nn.ReLU?" instead of giving a nil to call.
setmetatable(nn, { __index = require('lunagrad.nn.util').unknown_name })

return nn
