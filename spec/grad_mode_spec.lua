-- Grad-mode scopes: lg.no_grad / lg.enable_grad / lg.inference_mode as functions and as
-- to-be-closed values, lg.set_grad_enabled's scope (and its old return value).
local lg = require 'lunagrad'

describe('grad-mode scopes', function()
  after_each(function() require('lunagrad.core').set_grad_enabled(true) end)

  it('local _ <close> = lg.no_grad() records nothing until the block ends', function()
    local x = lg.tensor({ 1, 2 }, { requires_grad = true })
    do
      local _ <close> = lg.no_grad()
      assert.is_false(lg.is_grad_enabled())
      assert.is_false((x * 2).requires_grad)
    end
    assert.is_true(lg.is_grad_enabled())
    assert.is_true((x * 2).requires_grad)
  end)

  it('nests with enable_grad and inference_mode, restoring each previous mode', function()
    local x = lg.tensor({ 1 }, { requires_grad = true })
    do
      local _ <close> = lg.inference_mode()
      assert.is_false(lg.is_grad_enabled())
      do
        local _ <close> = lg.enable_grad()
        assert.is_true((x * 3).requires_grad)
      end
      assert.is_false(lg.is_grad_enabled())
    end
    assert.is_true(lg.is_grad_enabled())
  end)

  it('restores the mode when the block raises', function()
    local ok, err = pcall(function()
      local _ <close> = lg.no_grad()
      error('boom')
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find('boom', 1, true))
    assert.is_true(lg.is_grad_enabled())
    lg.set_grad_enabled(false)
    ok = pcall(function()
      local _ <close> = lg.enable_grad()
      assert.is_true(lg.is_grad_enabled())
      error('again')
    end)
    assert.is_false(ok)
    assert.is_false(lg.is_grad_enabled())
  end)

  it('the function forms still return fn\'s results and restore on error', function()
    assert.are.same({ 1, 2 }, { lg.no_grad(function(a, b) return a, b end, 1, 2) })
    assert.are.equal(false, lg.no_grad(function() return lg.enable_grad(lg.is_grad_enabled) and false end))
    assert.is_true(lg.no_grad(function() return lg.enable_grad(lg.is_grad_enabled) end))
    assert.is_false(lg.inference_mode(lg.is_grad_enabled))
    assert.is_false(pcall(lg.enable_grad, function() error('x') end))
    assert.is_true(lg.is_grad_enabled())
    assert.has_error(function() lg.no_grad(3) end,
      'lunagrad.no_grad: expects a function or no argument (then use it as `local _ <close> = lg.no_grad()`), got number')
  end)

  it('set_grad_enabled switches now and returns a closable scope holding the previous mode', function()
    local was, previous = lg.set_grad_enabled(false)
    assert.is_false(lg.is_grad_enabled())
    assert.is_true(was.previous)
    assert.is_true(previous)
    lg.set_grad_enabled(was) -- the old idiom: hand back what it returned
    assert.is_true(lg.is_grad_enabled())
    do
      local _ <close> = lg.set_grad_enabled(false)
      assert.is_false(lg.is_grad_enabled())
      local inner = lg.set_grad_enabled(true)
      assert.is_false(inner.previous)
      assert.are.equal(lg.set_grad_enabled(true), lg.set_grad_enabled(true)) -- scopes compare by the mode they restore
      assert.are_not.equal(inner, lg.set_grad_enabled(true))
      lg.set_grad_enabled(false)
    end
    assert.is_true(lg.is_grad_enabled())
    assert.are.equal('lunagrad.GradMode(previous = true)', tostring(lg.set_grad_enabled(true)))
  end)
end)
