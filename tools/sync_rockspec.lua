-- Rewrites the file lists of lunagrad-scm-1.rockspec from the tree:
-- every C file under src/{core,ops,kernels,io,da,lua} (but the env and readline modules) into lunagrad.core,
-- every lua/**.lua as a module.
-- Run: lua5.4 tools/sync_rockspec.lua   (spec/rockspec_spec.lua checks it was run)
local ROCKSPEC = 'lunagrad-scm-1.rockspec'

local function list(cmd)
  local out = {}
  for line in io.popen(cmd):lines() do out[#out + 1] = line end
  table.sort(out)
  return out
end

local function expected_lists()
  local sources = list("ls src/core/*.c src/ops/*.c src/kernels/*.c src/io/*.c src/da/*.c src/lua/*.c | grep -v -e src/lua/env.c -e src/lua/readline.c")
  local modules = {}
  for _, file in ipairs(list("find lua -name '*.lua'")) do
    local name = file:gsub('^lua/', ''):gsub('/init%.lua$', ''):gsub('%.lua$', ''):gsub('/', '.')
    modules[#modules + 1] = { name = name, file = file }
  end
  table.sort(modules, function(a, b) return a.name < b.name end)
  return sources, modules
end

local function render(sources, modules)
  local s = { '      sources = {' }
  for _, f in ipairs(sources) do s[#s + 1] = string.format('        "%s",', f) end
  s[#s + 1] = '      },'
  local m = {}
  for _, mod in ipairs(modules) do m[#m + 1] = string.format('    ["%s"] = "%s",', mod.name, mod.file) end
  return table.concat(s, '\n'), table.concat(m, '\n')
end

local function rewrite(text, sources_block, modules_block)
  text = text:gsub('      sources = {.-\n      },', function() return sources_block end, 1)
  text = text:gsub('(%-%- lua modules\n).-(  },\n  install)', function(a, b) return a .. modules_block .. '\n' .. b end, 1)
  return text
end

local M = {}
function M.expected_text(text)
  local sources, modules = expected_lists()
  return rewrite(text, render(sources, modules))
end

if arg and arg[0] and arg[0]:match('sync_rockspec%.lua$') then
  local f = assert(io.open(ROCKSPEC))
  local text = f:read('a')
  f:close()
  local new = M.expected_text(text)
  f = assert(io.open(ROCKSPEC, 'w'))
  f:write(new)
  f:close()
  print('updated ' .. ROCKSPEC)
end
return M
