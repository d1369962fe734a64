-- File helpers shared by the specs.
local files = {}

--- The whole file (binary) as a string, or nil when it cannot be opened.
function files.read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

--- The whole file as a string; raises when it cannot be opened.
function files.must_read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('a')
  f:close()
  return s
end

--- Writes s to path (binary), raising on failure.
function files.write(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end

function files.exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

return files
