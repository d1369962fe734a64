-- Fast paths must agree with the general code they short-cut.
local lg = require 'lunagrad'
local nn = require 'lunagrad.nn'
local optim = require 'lunagrad.optim'

local function max_abs_diff(a, b) return (a - b):abs():max():item() end

describe('fast paths', function()
  it('max_pool2d 2x2 stride 2 equals the max of the four strided slices, with its gradient', function()
    lg.manual_seed(3)
    local x = lg.randn(2, 3, 6, 8, { dtype = 'float64', requires_grad = true })
    local y = lg.max_pool2d(x, 2, 2)
    local function part(r, c) return x:slice(3, r, -1, 2):slice(4, c, -1, 2) end
    local ref = lg.stack({ part(1, 1), part(1, 2), part(2, 1), part(2, 2) }, 1):max(1)
    assert.are.equal(0, max_abs_diff(y, ref))
    y:sum():backward()
    -- each window passes its gradient to exactly one input
    assert.are.equal(2 * 3 * 3 * 4, x.grad:sum():item())
    assert.are.equal(1, x.grad:max():item())
  end)

  it('max_pool2d 2x2 keeps the first of tied maxima', function()
    local x = lg.tensor({ { { { 5, 5 }, { 5, 5 } } } }, { requires_grad = true })
    lg.max_pool2d(x, 2, 2):sum():backward()
    assert.are.same({ { { { 1, 0 }, { 0, 0 } } } }, x.grad:totable())
  end)

  it('relu backward passes the gradient where the input is positive only', function()
    local x = lg.tensor({ -2, -0.0, 0, 0.5, 3 }, { requires_grad = true })
    x:relu():backward(lg.tensor({ 10, 20, 30, 40, 50 }))
    assert.are.same({ 0, 0, 0, 40, 50 }, x.grad:totable())
  end)

  it('comparisons against a number agree with comparisons against a tensor', function()
    local x = lg.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }):t() -- non-contiguous too
    for _, op in ipairs({ 'eq', 'ne', 'lt', 'le', 'gt', 'ge' }) do
      assert.are.same(x[op](x, lg.full({ 3, 2 }, 3)):totable(), x[op](x, 3):totable())
      assert.are.same(x:contiguous()[op](x:contiguous(), 3):totable(), x[op](x, 3):totable())
    end
  end)

  it('the fused SGD update follows the tensor-op formula (momentum, dampening, nesterov, decay)', function()
    for _, cfg in ipairs({
      { lr = 0.1 }, { lr = 0.1, momentum = 0.9 }, { lr = 0.05, momentum = 0.9, dampening = 0.3, weight_decay = 0.01 },
      { lr = 0.05, momentum = 0.8, nesterov = true, weight_decay = 0.001 }, { lr = 0.1, momentum = 0.5, maximize = true },
    }) do
      lg.manual_seed(1)
      local p = lg.randn(4, 3, { dtype = 'float64', requires_grad = true })
      local ref, buf = p:detach():clone(), nil
      local opt = optim.SGD({ p }, cfg)
      for step = 1, 3 do
        local g = lg.randn(4, 3, { dtype = 'float64' })
        p.grad = g
        opt:step()
        local d = cfg.maximize and -g or g
        if cfg.weight_decay then d = d + ref * cfg.weight_decay end
        if cfg.momentum then
          buf = buf and (buf * cfg.momentum + d * (1 - (cfg.dampening or 0))) or d
          d = cfg.nesterov and (d + buf * cfg.momentum) or buf
        end
        ref = ref - d * cfg.lr
        assert.is_true(max_abs_diff(p:detach(), ref) < 1e-12, 'step ' .. step)
      end
    end
  end)

  it('the fused SGD update works on a non-contiguous parameter', function()
    local p = lg.tensor({ { 1, 2 }, { 3, 4 } }):t()
    p.requires_grad = true
    p.grad = lg.ones(2, 2)
    optim.SGD({ p }, { lr = 0.5 }):step()
    assert.are.same({ { 0.5, 2.5 }, { 1.5, 3.5 } }, p:totable())
  end)

  it('a small CNN step runs through every fast path and reduces the loss', function()
    lg.manual_seed(0)
    local net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 2))
    local x, y = lg.randn(8, 1, 8, 8), lg.tensor({ 1, 2, 1, 2, 1, 2, 1, 2 }, { dtype = 'int64' })
    local opt = optim.SGD(net:parameters(), { lr = 0.05, momentum = 0.9 })
    local crit = nn.CrossEntropyLoss()
    local first, last
    for _ = 1, 30 do
      opt:zero_grad()
      local loss = crit(net(x), y)
      loss:backward()
      opt:step()
      first = first or loss:item()
      last = loss:item()
    end
    assert.is_true(last < first * 0.5)
  end)
end)
