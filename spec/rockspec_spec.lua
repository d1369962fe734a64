-- The rockspec lists every C source and Lua module of the tree.
local sync = dofile('tools/sync_rockspec.lua')

describe('lunagrad-scm-1.rockspec', function()
  it('lists every source file and Lua module (run tools/sync_rockspec.lua)', function()
    local f = assert(io.open('lunagrad-scm-1.rockspec'))
    local text = f:read('a')
    f:close()
    assert.are.equal(sync.expected_text(text), text)
  end)

  it('is a valid rockspec table with the C core as lunagrad.core', function()
    local env = {}
    assert(loadfile('lunagrad-scm-1.rockspec', 't', env))()
    assert.are.equal('builtin', env.build.type)
    assert.truthy(#env.build.modules['lunagrad.core'].sources > 5)
    assert.are.equal('lua/lunagrad/init.lua', env.build.modules['lunagrad'])
  end)
end)
