-- lunagrad.Function: custom ops written in Lua (PyTorch's torch.autograd.Function).
-- The Lua Gradient Reversal Layer agrees with the built-in one (forward, backward,
-- double backward); ctx (save_for_backward, saved_tensors, needs_input_grad,
-- fields), non-tensor arguments, several outputs, errors, anomaly mode,
-- gradcheck/gradgradcheck of custom ops, and memory back to its baseline.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local gradcheck = require 'helpers.gradcheck'
local gradgradcheck = require 'helpers.gradgradcheck'

local SPEC = 'spec/function_spec.lua'

local function line() return debug.getinfo(2, 'l').currentline end

local function full_gc()
  collectgarbage()
  collectgarbage()
end

local function f64(v, rg) return lg.tensor(v, {dtype = 'float64', requires_grad = rg}) end

-- The error message of fn(), without error()'s leading "file:line: ".
local function err_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, 'expected an error')
  return (tostring(err):gsub('^[^\n]-:%d+: ', '', 1))
end

-- The GRL as the seed writes it in PyTorch: identity forward, -alpha * g backward.
local RevGrad = lg.Function{
  name = 'RevGrad',
  forward = function(ctx, x, alpha)
    ctx.alpha = alpha
    return x
  end,
  backward = function(ctx, g) return g * -ctx.alpha, nil end,
}

local Double = lg.Function{
  name = 'Double',
  forward = function(ctx, x, k)
    ctx:save_for_backward(x)
    ctx.k = k
    return x * k
  end,
  backward = function(ctx, g)
    local x = table.unpack(ctx.saved_tensors)
    assert(lg.is_tensor(x))
    return g * ctx.k, nil
  end,
}

describe('lunagrad.Function', function()
  after_each(function() lg.detect_anomaly(false) end)

  describe('the Gradient Reversal Layer in Lua agrees with the built-in', function()
    it('forward: the identity, sharing storage like lg.revgrad', function()
      local x = lg.randn(3, 4, {requires_grad = true})
      local a, b = RevGrad(x, 0.7), lg.revgrad(x, 0.7)
      assert.are.same(b:totable(), a:totable())
      assert.are.same(x:totable(), a:totable())
      assert.are.equal(x:storage_id(), a:storage_id())
      assert.are.equal('RevGrad', a.grad_fn)
      assert.are.equal('revgrad', b.grad_fn)
    end)

    it('backward: -alpha * g, like lg.revgrad and nn.GradientReversal', function()
      local x1, x2, x3 = f64({{1, -2}, {3, 0.5}}, true), f64({{1, -2}, {3, 0.5}}, true), f64({{1, -2}, {3, 0.5}}, true)
      local w = f64({{0.3, -1}, {2, 4}})
      ;(RevGrad(x1 * x1, 0.5) * w):sum():backward()
      ;(lg.revgrad(x2 * x2, 0.5) * w):sum():backward()
      ;(nn.GradientReversal(0.5)(x3 * x3) * w):sum():backward()
      assert.are.same(x2.grad:totable(), x1.grad:totable())
      assert.are.same(x3.grad:totable(), x1.grad:totable())
      assert.are.same({{-0.3, -2}, {-6, -2}}, x1.grad:totable())
    end)

    it('double backward: lg.grad with create_graph on y = revgrad(x * x)', function()
      local results = {}
      for _, grl in ipairs {RevGrad, lg.revgrad} do
        local x = f64({1, -2, 3}, true)
        local y = grl(x * x, 0.25)
        local g = lg.grad((y * y):sum(), x, {create_graph = true})[1] -- -0.25 * 2y * 2x = -x^3
        local gg = lg.grad(g:sum(), x)[1] -- g = -x * y: -y - x * (-0.5 x), y reversed again
        results[#results + 1] = {g:totable(), gg:totable()}
      end
      assert.are.same(results[2], results[1])
      assert.are.same({-1, 8, -27}, results[1][1])
      assert.are.same({-0.5, -2, -4.5}, results[1][2])
    end)

    it('gradchecks and gradgradchecks with scale -alpha', function()
      local fn = function(x) return RevGrad(x:sin() * x, 2) end
      local ok, msg = gradcheck(fn, {f64({0.5, -1, 2}, true)}, {scale = -2})
      assert.is_true(ok, msg)
      ok, msg = gradgradcheck(function(x) return RevGrad(x * x * x, 2) end, {f64({0.5, -1, 2}, true)})
      assert.is_true(ok, msg)
    end)
  end)

  describe('ctx', function()
    it('saves tensors for backward and keeps arbitrary fields', function()
      local seen
      local Mul = lg.Function{
        forward = function(ctx, a, b)
          ctx:save_for_backward(a, b)
          ctx.note = {hello = 'world'}
          return a * b
        end,
        backward = function(ctx, g)
          local a, b = table.unpack(ctx.saved_tensors)
          seen = ctx.note.hello
          return g * b, g * a
        end,
      }
      local a, b = f64({1, 2}, true), f64({3, 4}, true)
      local y = Mul(a, b)
      assert.are.equal('Function', y.grad_fn) -- the default name
      y:sum():backward()
      assert.are.same({3, 4}, a.grad:totable())
      assert.are.same({1, 2}, b.grad:totable())
      assert.are.equal('world', seen)
    end)

    it('needs_input_grad: one boolean per argument', function()
      local seen
      local F = lg.Function{
        forward = function(ctx, a, b, c, d)
          seen = ctx.needs_input_grad
          return a + b
        end,
        backward = function(ctx, g) return g, g, nil, nil end,
      }
      local a, b = lg.ones(2, {requires_grad = true}), lg.ones(2)
      F(a, b, 3, {1, 2})
      assert.are.same({true, false, false, false}, seen)
      F(b, a, 'x', nil)
      assert.are.same({false, true, false, false}, seen)
      lg.no_grad(function() F(a, a, 1, 2) end) -- no grad mode: nothing needs grad
      assert.are.same({false, false, false, false}, seen)
    end)

    it('saved_tensors: nil holes kept (n), outputs saved too, more than four', function()
      local got
      local Many = lg.Function{
        forward = function(ctx, x)
          local y = x * 2
          ctx:save_for_backward(x, nil, x + 1, x + 2, x + 3, x + 4, x + 5, y, x + 6)
          return y
        end,
        backward = function(ctx, g)
          local s = ctx.saved_tensors
          got = {n = s.n, nil2 = s[2] == nil}
          for i = 1, s.n do if s[i] then got[i] = s[i]:item() end end
          return g * 2
        end,
      }
      local x = f64({1}, true)
      Many(x):sum():backward()
      assert.are.same({n = 9, nil2 = true, 1, nil, 2, 3, 4, 5, 6, 2, 7}, got)
      assert.are.same({2}, x.grad:totable())
    end)

    it('saved tensors are freed after backward (as built-in ops), kept with retain_graph', function()
      local x = f64({1, 2}, true)
      local y = Double(x, 3)
      y:sum():backward({retain_graph = true})
      y:sum():backward()
      assert.are.same({6, 6}, x.grad:totable())
      local msg = err_of(function() y:sum():backward() end)
      assert.truthy(msg:find('backward through the graph a second time', 1, true), msg)
    end)

    it('saved tensors in more than four slots are freed after backward too', function()
      local Six = lg.Function{
        forward = function(ctx, x)
          ctx:save_for_backward(x, x, x, x, x, x)
          return x * 1
        end,
        backward = function(ctx, g) return g * ctx.saved_tensors.n end,
      }
      local x = f64({1}, true)
      local y = Six(x)
      y:backward()
      assert.are.same({6}, x.grad:totable())
      local msg = err_of(function() y:backward() end)
      assert.truthy(msg:find('second time', 1, true), msg)
    end)

    it('rejects save_for_backward of non-tensors and outside forward, saved_tensors outside backward', function()
      local F = lg.Function{
        name = 'Bad',
        forward = function(ctx, x, mode)
          if mode == 'number' then ctx:save_for_backward(x, 3) end
          if mode == 'read' then return ctx.saved_tensors end
          return x * 1
        end,
        backward = function(ctx, g)
          ctx:save_for_backward(g)
          return g, nil
        end,
      }
      local x = lg.ones(2, {requires_grad = true})
      assert.are.equal("lunagrad.Function 'Bad': ctx:save_for_backward: argument 2 is a number, not a tensor "
        .. '(keep other values in ctx fields)', err_of(function() F(x, 'number') end))
      assert.are.equal("lunagrad.Function 'Bad': ctx.saved_tensors is only available in backward",
        err_of(function() F(x, 'read') end))
      local msg = err_of(function() F(x):sum():backward() end)
      assert.truthy(msg:find("lunagrad.Function 'Bad' backward: ", 1, true), msg)
      assert.truthy(msg:find("ctx:save_for_backward can only be called in forward", 1, true), msg)
    end)
  end)

  describe('arguments and outputs', function()
    it('passes numbers and tables through (their gradient nil)', function()
      local Affine = lg.Function{
        forward = function(ctx, x, opts, shift)
          ctx.scale = opts.scale
          return x * opts.scale + shift
        end,
        backward = function(ctx, g) return g * ctx.scale, nil, nil end,
      }
      local x = f64({1, 2}, true)
      local y = Affine(x, {scale = 3}, 10)
      assert.are.same({13, 16}, y:totable())
      y:sum():backward()
      assert.are.same({3, 3}, x.grad:totable())
    end)

    it('Function.apply is the same call; Functions print their name', function()
      local x = f64({1, 2}, true)
      assert.are.same(Double(x, 2):totable(), Double.apply(x, 2):totable())
      assert.are.equal("lunagrad.Function 'Double'", tostring(Double))
    end)

    it('forward runs with grad recording off; without grad the outputs are plain', function()
      local inside
      local F = lg.Function{
        forward = function(ctx, x)
          local y = x * 2
          inside = {lg.is_grad_enabled(), y.requires_grad}
          return y
        end,
        backward = function(ctx, g) return g * 2 end,
      }
      local x = lg.ones(2, {requires_grad = true})
      local y = F(x)
      assert.are.same({false, false}, inside)
      assert.is_true(lg.is_grad_enabled())
      assert.are.equal('Function', y.grad_fn)
      local z = lg.no_grad(function() return F(x) end)
      assert.is_nil(z.grad_fn)
      assert.is_nil(F(lg.ones(2)).grad_fn)
    end)

    it('several outputs: one backward call with one gradient per output, zeros for unused ones', function()
      local calls, got = 0, nil
      local SinCos = lg.Function{
        name = 'SinCos',
        forward = function(ctx, x)
          ctx:save_for_backward(x)
          return x:sin(), x:cos(), 'label', x:argmax(1)
        end,
        backward = function(ctx, gs, gc, glabel, gidx)
          calls = calls + 1
          got = {gs:totable(), gc:totable(), glabel, gidx and gidx.dtype}
          local x = ctx.saved_tensors[1]
          return gs * x:cos() - gc * x:sin()
        end,
      }
      local x = f64({0.5, 1.5}, true)
      local s, c, label, idx = SinCos(x)
      assert.are.equal('SinCos', s.grad_fn)
      assert.are.equal('SinCos', c.grad_fn)
      assert.are.equal('label', label)
      assert.are.equal('int64', idx.dtype)
      assert.is_nil(idx.grad_fn) -- integer outputs are not differentiable
      ;(s * 2 + c * 3):sum():backward()
      assert.are.equal(1, calls)
      assert.are.same({{2, 2}, {3, 3}, nil, 'int64'}, got)
      local expect = {2 * math.cos(0.5) - 3 * math.sin(0.5), 2 * math.cos(1.5) - 3 * math.sin(1.5)}
      for i = 1, 2 do assert.is_true(math.abs(x.grad:totable()[i] - expect[i]) < 1e-12) end
      x.grad = nil
      local s2 = SinCos(x) -- the cosine unused: its gradient is zeros
      s2:sum():backward()
      assert.are.same({{1, 1}, {0, 0}, nil, 'int64'}, got)
      assert.are.equal(2, calls)
    end)

    it('several outputs of different shapes and dtypes gradcheck and gradgradcheck', function()
      local Parts = lg.Function{
        forward = function(ctx, x, w)
          ctx:save_for_backward(x, w)
          return x * w, (x * x):sum(), (w:float() * 2)
        end,
        backward = function(ctx, g1, g2, g3)
          local x, w = table.unpack(ctx.saved_tensors)
          return g1 * w + g2 * 2 * x, g1 * x + g3:double() * 2
        end,
      }
      local x, w = f64({{0.5, -1, 2}, {1, 0.25, -0.5}}, true), f64({{1, 2, -1}, {0.5, 3, 1}}, true)
      local ok, msg = gradcheck(function(a, b)
        local p, q, r = Parts(a, b)
        return p, q, r:double()
      end, {x, w}, {eps = 1e-3, rtol = 1e-3, atol = 1e-3}) -- a float32 output: a coarse step
      assert.is_true(ok, msg)
      ok, msg = gradgradcheck(function(a, b)
        local p, q = Parts(a, b)
        return p, q
      end, {x, w})
      assert.is_true(ok, msg)
    end)

    it('a gradient of the broadcast shape is summed to the input (as PyTorch allows)', function()
      local AddRow = lg.Function{
        forward = function(ctx, x, b) return x + b end,
        backward = function(ctx, g) return g, g end, -- g has x's shape [2,3]; b is [3]
      }
      local x, b = f64({{1, 2, 3}, {4, 5, 6}}, true), f64({1, 1, 1}, true)
      AddRow(x, b):sum():backward()
      assert.are.same({2, 2, 2}, b.grad:totable())
    end)
  end)

  describe('gradcheck and gradgradcheck of custom ops', function()
    -- exp saving its output: the saved output comes back attached under create_graph
    local Exp = lg.Function{
      name = 'Exp',
      forward = function(ctx, x)
        local y = x:exp()
        ctx:save_for_backward(y)
        return y
      end,
      backward = function(ctx, g) return g * ctx.saved_tensors[1] end,
    }
    local Cube = lg.Function{
      forward = function(ctx, x, c)
        ctx:save_for_backward(x)
        ctx.c = c
        return x * x * x * c
      end,
      backward = function(ctx, g)
        local x = ctx.saved_tensors[1]
        return g * x * x * (3 * ctx.c), nil
      end,
    }

    it('gradcheck', function()
      local x = f64({{0.3, -1.2}, {2, 0.1}}, true)
      assert.is_true(gradcheck(Exp, {x}))
      local ok, msg = gradcheck(function(a) return Cube(a, 0.5) end, {x})
      assert.is_true(ok, msg)
      ok, msg = gradcheck(function(a, b) return Exp(a) * Cube(b, 2) end, {x, f64({0.5, -0.5}, true)})
      assert.is_true(ok, msg)
    end)

    it('gradgradcheck (the backward is written in differentiable ops)', function()
      local x = f64({{0.3, -1.2}, {2, 0.1}}, true)
      local ok, msg = gradgradcheck(Exp, {x})
      assert.is_true(ok, msg)
      ok, msg = gradgradcheck(function(a) return Cube(Exp(a), 0.5) end, {x})
      assert.is_true(ok, msg)
    end)

    it('a saved output stays differentiable after the output itself was collected', function()
      local TwoExp = lg.Function{
        forward = function(ctx, x)
          local y = x:exp()
          ctx:save_for_backward(y)
          return y, y * 2
        end,
        backward = function(ctx, g1, g2) return (g1 + g2 * 2) * ctx.saved_tensors[1] end,
      }
      local fn = function(x)
        local y1, y2 = TwoExp(x)
        y1 = nil -- luacheck: ignore (its node goes; the saved y1 must come back attached)
        collectgarbage()
        return y2
      end
      local x = f64({0.5, -1}, true)
      local ok, msg = gradcheck(fn, {x})
      assert.is_true(ok, msg)
      ok, msg = gradgradcheck(fn, {x})
      assert.is_true(ok, msg)
    end)

    it('a backward written with another custom op (and checkpoint-style, with lg.grad inside)', function()
      local Square = lg.Function{
        forward = function(ctx, x)
          ctx:save_for_backward(x)
          return x * x
        end,
        backward = function(ctx, g) return RevGrad(Double(g * ctx.saved_tensors[1], 2), -1) end,
      }
      local x = f64({0.5, -1, 2}, true)
      local ok, msg = gradgradcheck(Square, {x})
      assert.is_true(ok, msg)
      local Recompute = lg.Function{
        forward = function(ctx, x)
          ctx:save_for_backward(x)
          return x:sin()
        end,
        backward = function(ctx, g)
          local x = ctx.saved_tensors[1]:detach()
          x.requires_grad = true
          local previous = lg.set_grad_enabled(true)
          local y = x:sin()
          lg.set_grad_enabled(previous)
          return lg.grad(y, x, {grad_outputs = g})[1]
        end,
      }
      Recompute(x):sum():backward()
      for i, v in ipairs {0.5, -1, 2} do assert.is_true(math.abs(x.grad:totable()[i] - math.cos(v)) < 1e-12) end
    end)

    it('backward runs with grad mode on only under create_graph', function()
      local modes = {}
      local F = lg.Function{
        forward = function(ctx, x) return x * x end,
        backward = function(ctx, g)
          modes[#modes + 1] = lg.is_grad_enabled()
          return g
        end,
      }
      local x = f64({1}, true)
      F(x):backward()
      F(x):backward({create_graph = true})
      lg.grad(F(x), x, {create_graph = true})
      lg.grad(F(x), x)
      assert.are.same({false, true, true, false}, modes)
    end)
  end)

  describe('errors', function()
    local function fn_with(backward, name)
      return lg.Function{name = name or 'Op', forward = function(ctx, x, k) return x * 2 end, backward = backward}
    end

    it('a gradient of the wrong shape names the Function and the argument', function()
      local F = fn_with(function(ctx, g) return lg.ones(5), nil end)
      local x = lg.ones(2, 3, {requires_grad = true})
      assert.are.equal("lunagrad.backward: lunagrad.Function 'Op' backward: the gradient for argument 1 has "
        .. 'shape [5], but the argument has shape [2,3]', err_of(function() F(x, 1):sum():backward() end))
      local msg = err_of(function() lg.grad(F(x, 1):sum(), x) end)
      assert.truthy(msg:find("^lunagrad.grad: lunagrad.Function 'Op' backward: the gradient for argument 1"), msg)
    end)

    it('a wrong number of gradients', function()
      local x = lg.ones(2, {requires_grad = true})
      local F = fn_with(function(ctx, g) return g end)
      assert.are.equal("lunagrad.backward: lunagrad.Function 'Op' backward: returned 1 value for 2 arguments "
        .. '(return one gradient per forward argument, nil for none)', err_of(function() F(x, 1):sum():backward() end))
      F = fn_with(function(ctx, g) return g, nil, nil end)
      assert.are.equal("lunagrad.backward: lunagrad.Function 'Op' backward: returned 3 values for 2 arguments "
        .. '(return one gradient per forward argument, nil for none)', err_of(function() F(x, 1):sum():backward() end))
    end)

    it('a gradient that is not a tensor, or one for an argument that is not a tensor', function()
      local x = lg.ones(2, {requires_grad = true})
      local F = fn_with(function(ctx, g) return 3, nil end)
      assert.are.equal("lunagrad.backward: lunagrad.Function 'Op' backward: the gradient for argument 1 must be "
        .. 'a tensor or nil, got number', err_of(function() F(x, 1):sum():backward() end))
      F = fn_with(function(ctx, g) return g, g end)
      assert.are.equal("lunagrad.backward: lunagrad.Function 'Op' backward: argument 2 is a number, not a "
        .. 'tensor: its gradient must be nil', err_of(function() F(x, 1):sum():backward() end))
    end)

    it('an error raised in backward, and one raised by an op in it', function()
      local x = lg.ones(2, {requires_grad = true})
      local l = line() + 1
      local F = fn_with(function(ctx, g) error('boom') end, 'Raiser')
      assert.are.equal(("lunagrad.backward: lunagrad.Function 'Raiser' backward: %s:%d: boom"):format(SPEC, l),
        err_of(function() F(x, 1):sum():backward() end))
      F = fn_with(function(ctx, g) return g:matmul(lg.ones(3, 3)), nil end)
      local msg = err_of(function() F(x, 1):sum():backward() end)
      assert.truthy(msg:find("^lunagrad.backward: lunagrad.Function 'Op' backward: .*lunagrad.matmul"), msg)
      -- the failed walk left the graph usable: a fixed Function works afterwards
      local y = Double(x, 2)
      y:sum():backward()
      assert.are.same({2, 2}, x.grad:totable())
    end)

    it('errors in forward propagate unchanged', function()
      local l = line() + 1
      local F = lg.Function{forward = function(ctx, x) error('forward failed') end, backward = function() end}
      assert.are.equal(('%s:%d: forward failed'):format(SPEC, l),
        select(2, pcall(F, lg.ones(1, {requires_grad = true}))))
      local G = lg.Function{name = 'Empty', forward = function(ctx, x) end, backward = function() end}
      assert.are.equal("lunagrad.Function 'Empty': forward returned nothing (return the output tensors)",
        err_of(function() G(lg.ones(1)) end))
    end)

    it('checks the definition table', function()
      assert.are.equal("lunagrad.Function: unknown key 'backwards' (valid: forward, backward, name)",
        err_of(function() lg.Function{forward = print, backwards = print} end))
      assert.are.equal('lunagrad.Function: backward must be a function, got nil',
        err_of(function() lg.Function{forward = print} end))
      assert.are.equal('lunagrad.Function: expects a table {forward = function(ctx, ...), backward = '
        .. 'function(ctx, ...)}, got string', err_of(function() lg.Function('x') end))
      assert.are.equal('lunagrad.Function: name must be a non-empty string, got 3',
        err_of(function() lg.Function{forward = print, backward = print, name = 3} end))
    end)
  end)

  describe('anomaly mode', function()
    it('names the Function and where it was called when its backward returns NaN', function()
      local Bad = lg.Function{
        name = 'BadGrad',
        forward = function(ctx, x) return x * 1 end,
        backward = function(ctx, g) return g * (0 / 0) end,
      }
      lg.detect_anomaly(true)
      local x = lg.ones(2, {requires_grad = true})
      local l = line() + 1
      local y = Bad(x)
      assert.are.equal(("lunagrad.backward: function 'BadGrad' returned NaN values in its 1st input gradient "
        .. '(op created at %s:%d (via lunagrad/function.lua:%%d))'):format(SPEC, l),
        (err_of(function() y:sum():backward() end):gsub('function.lua:%d+', 'function.lua:%%d')))
    end)

    it('checks the outputs of forward', function()
      local F = lg.Function{name = 'MakesInf', forward = function(ctx, x) return x / 0 end,
                            backward = function(ctx, g) return g end}
      lg.detect_anomaly(true)
      local x = lg.ones(2, {requires_grad = true})
      local l, msg = line() + 1, err_of(function()
        local y = F(x); return y end)
      assert.are.equal(("lunagrad.Function 'MakesInf': output contains Inf (at %s:%d (via lunagrad/function.lua:%%d))")
        :format(SPEC, l), (msg:gsub('function.lua:%d+', 'function.lua:%%d')))
    end)
  end)

  describe('memory', function()
    it('returns to its baseline after many custom-op steps', function()
      full_gc()
      local base = lg.memory()
      local Exp = lg.Function{
        forward = function(ctx, x, w)
          local y = (x * w):exp()
          ctx:save_for_backward(x, w, y)
          ctx.y = y -- forward's tensors in ctx fields make no cycle either
          return y, y * 2
        end,
        backward = function(ctx, g1, g2)
          local x, w, y = table.unpack(ctx.saved_tensors)
          local gy = (g1 + g2 * 2) * y
          return gy * w, gy * x
        end,
      }
      local w = lg.randn(16, 16, {requires_grad = true})
      for step = 1, 300 do
        local x = lg.randn(16, 16, {requires_grad = true})
        local a, b = Exp(x, w)
        local loss = (a + b):mean()
        if step % 3 == 0 then
          local g = lg.grad(loss, {x}, {create_graph = true})[1]
          ;(g * g):sum():backward()
        elseif step % 3 == 1 then
          loss:backward()
        end -- else: forward only, never backward
        w.grad = nil
      end
      w = nil
      full_gc()
      local now = lg.memory()
      assert.are.equal(base.tensors, now.tensors)
      assert.are.equal(base.live_bytes, now.live_bytes)
    end)

    it('works from coroutines, where tensors may be released too', function()
      full_gc()
      local base = lg.memory()
      local co = coroutine.wrap(function()
        for _ = 1, 50 do
          local x = lg.randn(8, {requires_grad = true})
          local y = Double(x, 3)
          coroutine.yield(y)
          y:sum():backward()
          assert(x.grad:sum():item() == 24)
        end
        return 'done'
      end)
      local y = co()
      while y ~= 'done' do
        y = co()
        full_gc()
      end
      full_gc()
      assert.are.equal(base.tensors, lg.memory().tensors)
      assert.are.equal(base.live_bytes, lg.memory().live_bytes)
    end)
  end)
end)
