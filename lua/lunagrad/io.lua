-- lg.save / lg.load in the safetensors format (being written).
local io_api = {}
function io_api.save() error('lunagrad.save: not available yet', 2) end
function io_api.load() error('lunagrad.load: not available yet', 2) end
return io_api
