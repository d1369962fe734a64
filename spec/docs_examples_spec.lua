-- The docs' examples run, and every `-->` in them shows what the code really gives
-- (issue 16, item 8). Sources: README.md and docs/*.md.
--
-- What is a snippet:
--   * a fenced ```lua block: run as one chunk;
--   * a code span `...` in the last column of a Markdown table row that contains
--     `-->`: run as a one-line chunk (`\|` in a table cell stands for `|`).
-- Each snippet runs in a fresh lua5.4 process, in an empty temporary directory
-- (files it writes go there), with this run's package.path/cpath made absolute and
-- the globals lg, nn, optim, F (nn.functional), data, da, plot and progress loaded.
-- Error messages carry the doc's file and line.
--
-- The `-->` rule, for a line `code --> expected`:
--   * expected is the text after `-->`, trimmed; a remark after two or more spaces
--     in parentheses is not part of it: `--> -5.0   (without revgrad: 5.0)`;
--   * code `print(...)`: expected is what that print writes (tostring of each
--     argument, tab-separated; so tensors as lunagrad prints them);
--   * code an expression (or list): expected is what the lunagrad REPL prints for
--     it (bin/lunagrad's repr: strings as %q, i.e. "float32"; plain tables as
--     {1, 2} / {a = 1}; everything else, tensors included, by tostring; several
--     values tab-separated);
--   * code `[local] a, b = ...`: the assignment runs, then a, b as for an
--     expression list;
--   * anything else is an error, as is a `-->` the spec does not find (in prose,
--     in a ```sh block, ...): every `-->` in the docs is checked.
-- A fenced block that starts with the comment `-- (not run by the docs spec: why)`
-- is skipped (and listed on stdout): for the few that need data/ or long runs. One
-- that starts with `-- (continues the block above)` runs in the same chunk as the
-- ```lua block before it (its locals visible), for docs that build an example up.

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('a')
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end

local ROOT
do
  local p = assert(io.popen('pwd'))
  ROOT = p:read('l')
  p:close()
end

local function doc_files()
  local files = { 'README.md' }
  local p = assert(io.popen('ls docs/*.md 2>/dev/null'))
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

-- package.path / cpath with relative templates made absolute (the snippets run
-- elsewhere); `make sanitize`'s build-asan/ and other builds carry over.
local function absolute(paths)
  local out = {}
  for entry in paths:gmatch('[^;]+') do
    if not entry:match('^/') then entry = ROOT .. '/' .. entry:gsub('^%./', '') end
    out[#out + 1] = entry
  end
  return table.concat(out, ';')
end

---------------------------------------------------------------- extraction
-- Table cells, split on | outside code spans, \| kept as |.
local function cells(row)
  local out, cur, in_code, i = {}, {}, false, 1
  while i <= #row do
    local c = row:sub(i, i)
    if c == '\\' and row:sub(i + 1, i + 1) == '|' then
      cur[#cur + 1] = '|'
      i = i + 1
    elseif c == '`' then
      in_code = not in_code
      cur[#cur + 1] = c
    elseif c == '|' and not in_code then
      out[#out + 1] = table.concat(cur)
      cur = {}
    else
      cur[#cur + 1] = c
    end
    i = i + 1
  end
  out[#out + 1] = table.concat(cur)
  -- '| a | b |' -> '', ' a ', ' b ', '' : drop the empty ends
  if out[1]:match('^%s*$') then table.remove(out, 1) end
  if out[#out] and out[#out]:match('^%s*$') then table.remove(out) end
  return out
end

-- Returns the snippets of one doc: {file=, line=, kind='block'|'row', code=, skip=},
-- and the number of `-->` found anywhere in it (lines outside snippets listed).
local function extract(file, text)
  local snippets, stray, total = {}, {}, 0
  local lines = {}
  for l in (text .. (text:sub(-1) == '\n' and '' or '\n')):gmatch('(.-)\n') do lines[#lines + 1] = l end
  local i = 1
  while i <= #lines do
    local l = lines[i]
    for _ in l:gmatch('%-%->') do total = total + 1 end
    local fence = l:match('^%s*```%s*(%S*)%s*$')
    if fence then
      local body, start = {}, i + 1
      i = i + 1
      while i <= #lines and not lines[i]:match('^%s*```%s*$') do
        body[#body + 1] = lines[i]
        for _ in lines[i]:gmatch('%-%->') do total = total + 1 end
        i = i + 1
      end
      local prev = snippets[#snippets]
      if fence == 'lua' and (body[1] or ''):match('^%s*%-%- %(continues the block above') and prev and prev.kind == 'block' then
        local _, nprev = (prev.code .. '\n'):gsub('\n', '')
        prev.code = prev.code .. '\n' .. string.rep('\n', start - prev.line - nprev) .. table.concat(body, '\n')
      elseif fence == 'lua' then
        local first = body[1] or ''
        snippets[#snippets + 1] = { file = file, line = start, kind = 'block', code = table.concat(body, '\n'),
          skip = first:match('^%s*%-%- %(not run by the docs spec: (.-)%)') }
      else
        for k, b in ipairs(body) do
          if b:find('-->', 1, true) then stray[#stray + 1] = string.format('%s:%d (a ```%s block)', file, start + k - 1, fence) end
        end
      end
    elseif l:match('^%s*|') then
      local c = cells(l)
      local found = 0
      for span in (c[#c] or ''):gmatch('`([^`]+)`') do
        if span:find('-->', 1, true) then
          snippets[#snippets + 1] = { file = file, line = i, kind = 'row', code = span }
          found = found + 1
        end
      end
      local all = 0
      for _ in l:gmatch('%-%->') do all = all + 1 end
      if all > found then stray[#stray + 1] = string.format('%s:%d (a table row, outside its example column\'s code)', file, i) end
    elseif l:find('-->', 1, true) then
      stray[#stray + 1] = string.format('%s:%d (prose)', file, i)
    end
    i = i + 1
  end
  return snippets, total, stray
end

---------------------------------------------------------------- the -> rule
local function trim(s) return (s:match('^%s*(.-)%s*$')) end

-- Rewrites one line holding `-->`: returns the new line (same line count) and the
-- expected text, or nil and why.
local function rewrite_line(line, n)
  local at = line:find('-->', 1, true)
  local code, expected = line:sub(1, at - 1), trim(line:sub(at + 3))
  expected = expected:match('^(.-)%s%s+%(.*%)$') or expected
  local c = trim(code):gsub(';$', '')
  if c == '' then return nil, '`-->` without code before it' end
  if c:match('^print%s*%(') and load(c) then
    return string.format('__check_print(%d, function() %s end)', n, c), expected
  end
  if load('return ' .. c) then
    return string.format('__check_values(%d, %s)', n, c), expected
  end
  local names = c:match('^local%s+([^=]-)%s*=[^=]') or c:match('^([^=]-)%s*=[^=]')
  local valid = names ~= nil
  for name in (names or ''):gmatch('[^,]+') do
    if not trim(name):match('^[%a_][%w_]*$') and not (not c:match('^local') and trim(name):match('^[%a_][%w_.]*$')) then
      valid = false
    end
  end
  if valid and load(c) then
    return string.format('%s; __check_values(%d, %s)', c, n, names), expected
  end
  return nil, 'cannot check `-->` after `' .. c .. '` (not print(...), an expression or an assignment)'
end

-- The snippet as a chunk whose line numbers are the doc's, and its checks.
local function transform(snippet)
  local out, checks = {}, {}
  local n = snippet.line
  for l in (snippet.code .. '\n'):gmatch('(.-)\n') do
    if l:find('-->', 1, true) then
      local new, expected = rewrite_line(l, n)
      if not new then return nil, string.format('%s:%d: %s', snippet.file, n, expected) end
      out[#out + 1] = new
      checks[#checks + 1] = { line = n, expected = expected }
    else
      out[#out + 1] = l
    end
    n = n + 1
  end
  return string.rep('\n', snippet.line - 1) .. table.concat(out, '\n') .. '\n', checks
end

-- Runs in the fresh process: loads the globals, defines the checks, runs the chunk.
-- Results go to a file, one record per check: "<line> <length>\n<text>\n".
local RUNNER = [==[
local chunk_path, chunkname, results_path = arg[1], arg[2], arg[3]
local results = assert(io.open(results_path, 'wb'))
local function record(tag, text)
  results:write(string.format('%s %d\n%s\n', tag, #text, text))
  results:flush()
end
lg = require 'lunagrad'
nn = require 'lunagrad.nn'
optim = require 'lunagrad.optim'
F = nn.functional
data = require 'lunagrad.data'
da = require 'lunagrad.da'
plot = require 'lunagrad.plot'
progress = require 'lunagrad.progress'

-- bin/lunagrad's repr (what the REPL prints for a value).
local function repr(v, depth)
  if type(v) ~= 'table' or getmetatable(v) then
    return type(v) == 'string' and string.format('%q', v) or tostring(v)
  end
  if depth > 2 then return '{...}' end
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = repr(v[i], depth + 1) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == 'integer' and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    if #parts >= 20 then parts[#parts + 1] = '...'; break end
    local key = type(k) == 'string' and k:match('^[%a_][%w_]*$') and k or '[' .. repr(k, 3) .. ']'
    parts[#parts + 1] = key .. ' = ' .. repr(v[k], depth + 1)
  end
  return '{' .. table.concat(parts, ', ') .. '}'
end

function __check_values(line, ...)
  local parts = {}
  for i = 1, select('#', ...) do parts[i] = repr((select(i, ...)), 0) end
  record(tostring(line), table.concat(parts, '\t'))
end

function __check_print(line, fn)
  local lines, real_print = {}, print
  print = function(...)
    local parts = {}
    for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, '\t')
  end
  local ok, err = pcall(fn)
  print = real_print
  if not ok then error(err, 0) end
  record(tostring(line), table.concat(lines, '\n'))
end

local f = assert(io.open(chunk_path, 'rb'))
local src = f:read('a')
f:close()
local fn, err = load(src, '@' .. chunkname)
if not fn then record('error', err) os.exit(1) end
local ok, msg = xpcall(fn, debug.traceback)
if not ok then record('error', tostring(msg)) os.exit(1) end
record('done', '')
]==]

local function read_results(path)
  local f = io.open(path, 'rb')
  if not f then return {} end
  local s = f:read('a')
  f:close()
  local out, pos = {}, 1
  while pos <= #s do
    local tag, len, rest = s:match('^(%S+) (%d+)\n()', pos)
    if not tag then break end
    len = tonumber(len)
    out[#out + 1] = { tag = tag, text = s:sub(rest, rest + len - 1) }
    pos = rest + len + 1
  end
  return out
end

local WORK = os.tmpname()
os.remove(WORK)
assert(os.execute('mkdir -p ' .. shell_quote(WORK)))
local RUNNER_PATH = WORK .. '/runner.lua'
write(RUNNER_PATH, RUNNER)
local ENV = string.format('LUA_PATH=%s LUA_CPATH=%s LUNAGRAD_ISA=%s ', shell_quote(absolute(package.path)),
  shell_quote(absolute(package.cpath)), shell_quote(os.getenv('LUNAGRAD_ISA') or ''))

local counter = 0
-- Runs a snippet; returns the list of {line, expected, got} and the error or nil.
local function run(snippet)
  local chunk, checks = transform(snippet)
  if not chunk then return nil, checks end
  counter = counter + 1
  local dir = string.format('%s/%d', WORK, counter)
  assert(os.execute('mkdir -p ' .. shell_quote(dir)))
  write(dir .. '.lua', chunk)
  local cmd = string.format('cd %s && %s timeout 120 lua5.4 %s %s %s %s 2>&1', shell_quote(dir), ENV,
    shell_quote(RUNNER_PATH), shell_quote(dir .. '.lua'), shell_quote(snippet.file), shell_quote(dir .. '.results'))
  local p = assert(io.popen(cmd))
  local output = p:read('a')
  p:close()
  local results = read_results(dir .. '.results')
  local got, err, done = {}, nil, false
  for _, r in ipairs(results) do
    if r.tag == 'error' then err = r.text
    elseif r.tag == 'done' then done = true
    else got[#got + 1] = { line = tonumber(r.tag), text = r.text } end
  end
  if not done and not err then err = 'the snippet did not finish; its output:\n' .. output end
  local pairs_ = {}
  for k, c in ipairs(checks) do
    pairs_[k] = { line = c.line, expected = c.expected, got = got[k] and got[k].text }
  end
  return pairs_, err
end

local function check(snippet)
  local results, err = run(snippet)
  assert(results, err)
  assert(not err, string.format('%s:%d: the example fails:\n%s', snippet.file, snippet.line, tostring(err)))
  for _, r in ipairs(results) do
    assert(r.got ~= nil, string.format('%s:%d: the line with `-->` did not run', snippet.file, r.line))
    assert(r.got == r.expected, string.format('%s:%d: the doc says `--> %s`, the code gives `%s`',
      snippet.file, r.line, r.expected, r.got))
  end
  return #results
end

describe('the docs spec itself', function()
  it('catches a wrong --> and reads the remark and REPL rules', function()
    local ok_results = assert(run({ file = 'self-test', line = 1, kind = 'block', code = table.concat({
      'local t = lg.tensor{4}',
      'print(t:item(), "x")   --> 4.0\tx   (print: tostring, tabs)',
      't.dtype --> "float32"',
      'local a, b = 1, {2, k = "v"} --> 1\t{2, k = "v"}',
    }, '\n') }))
    for _, r in ipairs(ok_results) do assert.are.equal(r.expected, r.got) end
    assert.are.equal(3, #ok_results)
    local bad = assert(run({ file = 'self-test', line = 1, kind = 'row', code = '1 + 1 --> 3' }))
    assert.are.equal('3', bad[1].expected)
    assert.are.equal('2', bad[1].got)
    assert.is_nil(transform({ file = 'self-test', line = 1, code = 'for i = 1, 2 do end --> 2' }))
    local chained = extract('self-test', table.concat({ '```lua', 'local a = 20', '```', 'text', '```lua',
      '-- (continues the block above)', 'a + 1 --> 21', '```' }, '\n'))
    assert.are.equal(1, #chained)
    local r = assert(run(chained[1]))
    assert.are.same({ { line = 7, expected = '21', got = '21' } }, r)
  end)
end)

-- One test per doc (every snippet of it runs; the failures are listed together), and
-- nothing kept between tests: soak_spec, later in the suite, is sensitive to the heap
-- that earlier specs leave behind.
describe('docs examples', function()
  for _, file in ipairs(doc_files()) do
    it(file .. ': every ```lua block and `-->` example runs and shows what it gives', function()
      local snippets, total, stray = extract(file, read(file))
      assert(#stray == 0, '`-->` the spec does not check (use a ```lua block or a table example):\n  '
        .. table.concat(stray, '\n  '))
      local in_snippets, failures, skipped = 0, {}, {}
      for _, s in ipairs(snippets) do
        for _ in s.code:gmatch('%-%->') do in_snippets = in_snippets + 1 end
        if s.skip then
          skipped[#skipped + 1] = string.format('%s:%d (%s)', file, s.line, s.skip)
        else
          local ok, err = pcall(check, s)
          if not ok then failures[#failures + 1] = tostring(err) end
        end
      end
      assert.are.equal(total, in_snippets)
      if #skipped > 0 then print('docs spec: not run: ' .. table.concat(skipped, ', ')) end
      assert(#failures == 0, table.concat(failures, '\n\n'))
    end)
  end
  teardown(function()
    os.execute('rm -rf ' .. shell_quote(WORK))
    collectgarbage()
  end)
end)
