-- lunagrad.data: datasets and loaders. Submodules load on first use.
local data = {}
local submodules = {
  two_moons = 'lunagrad.data.two_moons',
}
return setmetatable(data, {
  __index = function(t, k)
    local name = submodules[k]
    if not name then return nil end
    local mod = require(name)
    rawset(t, k, mod)
    return mod
  end,
})
