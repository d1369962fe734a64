-- Conformance against the PyTorch reference values (spec/fixtures/golden.json, or the
-- file named by $GOLDEN). One it() per case that runs; cases whose API is not there
-- yet are skipped and counted. Prints one line: golden: N passed, M failed, K skipped.
local golden = require 'helpers.golden'

describe('golden', function()
  local ok, doc = pcall(golden.load)
  if not ok then
    it('loads the golden file', function() error(doc, 0) end)
    return
  end

  local results, counts = golden.run_all(doc)
  io.stdout:write(golden.summary(counts), '\n')
  io.stdout:flush()

  it('has cases that ran', function()
    assert.is_true(#results == doc.n_cases and counts.passed + counts.failed > 0,
      'no golden case could run: ' .. golden.summary(counts))
  end)

  for _, r in ipairs(results) do
    if r.status ~= 'skipped' then
      it(r.name, function()
        assert(r.status == 'passed', r.message)
      end)
    end
  end
end)
