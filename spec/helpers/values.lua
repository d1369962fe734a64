-- Flat values of tensors and back, and the small deterministic generator the
-- gradient checkers draw their upstream gradients from (independent of
-- lg.manual_seed, so a check never disturbs the code it checks).
local M = {}

-- Row-major flat values of a tensor.
function M.flat(t)
  if t:dim() == 0 then return {t:item()} end
  return t:contiguous():view(t:numel()):totable()
end

-- Nested table (or bare number for 0-d) from flat values and a shape.
function M.unflatten(values, shape)
  if #shape == 0 then return values[1] end
  local pos = 0
  local function build(d)
    local t = {}
    for i = 1, shape[d] do
      if d == #shape then
        pos = pos + 1
        t[i] = values[pos]
      else
        t[i] = build(d + 1)
      end
    end
    return t
  end
  return build(1)
end

-- Numbers in [-1, 1) from a seed; `salt` gives an independent stream for the same seed.
function M.lcg(seed, salt)
  local state = (seed * 2654435761 + (salt or 12345)) & 0x7fffffff
  return function()
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state / 0x40000000 - 1
  end
end

return M
