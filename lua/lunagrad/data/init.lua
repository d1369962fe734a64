-- lunagrad.data: datasets and loaders. Submodules load on first use.
--   data.read_idx / write_idx / parse_idx      IDX files (lunagrad.data.idx)
--   data.load_image / decode_image             images -> H x W x 3 float32 (lunagrad.data.idx)
--   data.DataLoader                            mini-batches (lunagrad.data.dataloader)
--   data.mnist, data.mnist_m                   the cached digits and MNIST-M (`make data`)
--   data.two_moons                             the DANN toy problem
local data = {}
local submodules = {
  two_moons = 'lunagrad.data.two_moons',
  idx = 'lunagrad.data.idx',
  DataLoader = 'lunagrad.data.dataloader',
  DistributedSampler = 'lunagrad.data.distributed_sampler', -- docs/distributed.md
  mnist = 'lunagrad.data.mnist',
  mnist_m = 'lunagrad.data.mnist_m',
}
-- functions re-exported from a submodule
local functions = {
  read_idx = 'lunagrad.data.idx',
  write_idx = 'lunagrad.data.idx',
  parse_idx = 'lunagrad.data.idx',
  load_image = 'lunagrad.data.idx',
  decode_image = 'lunagrad.data.idx',
}
return setmetatable(data, {
  __index = function(t, k)
    local name = submodules[k]
    local value
    if name then
      value = require(name)
    elseif functions[k] then
      value = require(functions[k])[k]
    else
      return nil
    end
    rawset(t, k, value)
    return value
  end,
})
