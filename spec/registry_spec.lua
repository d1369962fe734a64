-- Every op of the registry (src/ops/ops.def), gradchecked and gradgradchecked
-- against float64 finite differences without a spec line of its own:
-- elementwise ops are called from their registry entry (inputs drawn from the
-- entry's domain), the others through spec/op_recipes.lua.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local gradcheck = require 'helpers.gradcheck'
local gradgradcheck = require 'helpers.gradgradcheck'
local recipes = require 'op_recipes'

-- float64 values in the op's domain, away from its kinks.
local function draw(op, shape)
  local x = lg.rand(shape, {dtype = 'float64'})
  local d = op.domain
  if d == 'pos' then return x * 2 + 0.5 end
  if d == 'unit' then return x * 1.8 - 0.9 end
  local v = x * 4 - 2
  if d == 'away0' then return v:sign() * (v:abs() * 0.9 + 0.2) end
  if d == 'awayc' then -- keep 0.1 away from each parameter (clamp's bounds)
    local values = v:view(v:numel()):totable()
    for i, e in ipairs(values) do
      for _, c in ipairs(op.params) do
        if math.abs(e - c) < 0.1 then values[i] = c + 0.15 end
      end
    end
    return lg.tensor(values, {dtype = 'float64'}):view(table.unpack(shape))
  end
  return v
end

local function elementwise_case(op)
  lg.manual_seed(#op.name)
  if op.kind == 'binary' then
    local a, b = draw(op, {2, 3}):requires_grad_(), draw(op, {3}):requires_grad_() -- b broadcasts
    return function(x, y) return core._op_call(op.name, x, y) end, {a, b}
  end
  local a = draw(op, {2, 3}):requires_grad_()
  return function(x) return core._op_call(op.name, x, op.params[1], op.params[2]) end, {a}
end

describe('the op registry', function()
  local ops = core._ops()

  it('lists every op once, sin and cos among them', function()
    local seen = {}
    for _, op in ipairs(ops) do
      assert.is_nil(seen[op.name], op.name .. ' listed twice')
      seen[op.name] = true
    end
    assert.truthy(seen.sin and seen.cos and seen.conv2d and seen.revgrad)
    assert.truthy(#ops >= 60)
  end)

  for _, op in ipairs(ops) do
    local case = op.kind == 'other' and recipes[op.name] or (op.kind ~= 'other' and function() return elementwise_case(op) end)

    it(op.name .. ' has a recipe (spec/op_recipes.lua) or is elementwise', function()
      assert.is_function(case, 'no recipe for ' .. op.name .. ' in spec/op_recipes.lua')
    end)

    if case then
      it(op.name .. ': gradcheck', function()
        local fn, inputs, opts = case()
        local ok, msg = gradcheck(fn, inputs, opts)
        assert(ok, op.name .. ': ' .. msg)
      end)

      it(op.name .. ': gradgradcheck', function()
        local fn, inputs, opts = case()
        local ok, msg = gradgradcheck(fn, inputs, opts)
        assert(ok, op.name .. ': ' .. msg)
      end)
    end
  end
end)
