-- The `lunagrad` REPL on a real terminal: tmux runs it in a pane, keys go in with
-- send-keys and the screen comes back with capture-pane. Also the lua5.4-like options.
local lg = require 'lunagrad'

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function run(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "exit=$?"')
  local out = p:read('a')
  p:close()
  return out
end

-- The REPL process gets the suite's module paths (and the sanitizer's preload, if
-- any); tmux itself runs without it.
local function repl_env(home, extra)
  local parts = { 'HOME=' .. sh_quote(home), 'TERM=xterm', 'LUA_PATH=' .. sh_quote(package.path),
    'LUA_CPATH=' .. sh_quote(package.cpath) }
  for _, name in ipairs({ 'LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS' }) do
    if os.getenv(name) then parts[#parts + 1] = name .. '=' .. sh_quote(os.getenv(name)) end
  end
  for k, v in pairs(extra or {}) do parts[#parts + 1] = k .. '=' .. sh_quote(v) end
  return 'env ' .. table.concat(parts, ' ')
end

local sessions = 0
local Session = {}
Session.__index = Session

local function new_home()
  local home = os.tmpname()
  os.remove(home)
  assert(os.execute('mkdir -p ' .. sh_quote(home)))
  return home
end

-- Starts `lunagrad` in a detached 100 x 40 tmux pane (a private tmux server).
local function start(home, extra_env)
  sessions = sessions + 1
  local self = setmetatable({ socket = string.format('%s/tmux-%d.sock', home, sessions), home = home }, Session)
  local cmd = repl_env(home, extra_env) .. ' lua5.4 bin/lunagrad; echo "[repl exited $?]"; sleep 600'
  local out = run(self:tmux('-f /dev/null new-session -d -s repl -x 100 -y 40 -c ' .. sh_quote(os.getenv('PWD') or '.')
    .. ' ' .. sh_quote(cmd)))
  assert(out:match('exit=0'), 'tmux new-session failed: ' .. out)
  self:wait_for('Ctrl-D quits')
  return self
end

function Session:tmux(args) return 'env -u LD_PRELOAD tmux -S ' .. sh_quote(self.socket) .. ' ' .. args end

function Session:screen()
  local p = io.popen(self:tmux('capture-pane -p -J -S -200 -t repl') .. ' 2>&1')
  local text = p:read('a')
  p:close()
  return text
end

-- Waits (up to 30 s) until the screen holds `text` `count` times; returns the screen.
function Session:wait_for(text, count)
  count = count or 1
  local deadline = lg.clock() + 30
  local screen
  repeat
    screen = self:screen()
    local n, from = 0, 1
    while true do
      local i, j = screen:find(text, from, true)
      if not i then break end
      n, from = n + 1, j + 1
    end
    if n >= count then return screen end
    os.execute('sleep 0.05')
  until lg.clock() > deadline
  error(string.format('the REPL never showed %q (x%d); screen:\n%s', text, count, screen), 2)
end

function Session:type(text) assert(os.execute(self:tmux('send-keys -t repl -l ' .. sh_quote(text)))) end
function Session:key(...) assert(os.execute(self:tmux('send-keys -t repl ' .. table.concat({ ... }, ' ')))) end
function Session:line(text) self:type(text); self:key('Enter') end
function Session:close()
  os.execute(self:tmux('kill-server') .. ' >/dev/null 2>&1')
  os.remove(self.socket)
end

-- Lines of the screen exactly equal to s.
local function count_lines(screen, s)
  local n = 0
  for line in screen:gmatch('[^\n]*') do if line == s then n = n + 1 end end
  return n
end

describe('the lunagrad REPL in a terminal (tmux)', function()
  local session
  after_each(function()
    if session then
      session:close()
      os.execute('rm -rf ' .. sh_quote(session.home))
    end
    session = nil
  end)

  it('edits lines with readline and prints expressions, `= expr` and multi-line statements', function()
    session = start(new_home())
    local screen = session:wait_for('> ')
    assert.truthy(screen:find('Tab completes', 1, true), 'no line editing:\n' .. screen)
    session:line('x = lg.tensor{{1, 2}, {3, 4}}')
    session:line('x:sum(1)')
    session:wait_for('tensor([4.0000, 6.0000], shape={2}')
    session:line('= 1+1')
    screen = session:wait_for('\n2\n')
    -- a typo fixed with Left/Backspace before Enter: only the edited line runs
    session:type('= 10 * 5X')
    session:key('BSpace', 'Left', 'Left', 'Left', 'Left', 'BSpace') -- "= 1| * 5"
    session:type('4')
    session:key('Enter')
    screen = session:wait_for('\n70\n') -- "= 14 * 5"
    assert.are.equal(1, count_lines(screen, '70'))
    session:line('function twice(a)')
    session:wait_for('>> ')
    session:line('return 2 * a')
    session:line('end')
    session:line('= twice(21)')
    screen = session:wait_for('\n42\n')
    assert.is_nil(screen:find("'end' expected", 1, true))
  end)

  it('recalls history with the up arrow and keeps it in ~/.lunagrad_history', function()
    local home = new_home()
    session = start(home)
    session:line('= 40 + 2')
    session:wait_for('\n42\n')
    session:key('Up')
    session:wait_for('> = 40 + 2', 2) -- the recalled line is on the prompt again
    session:key('Enter')
    local screen = session:wait_for('\n42\n', 2)
    assert.are.equal(2, count_lines(screen, '42'))
    session:key('C-d')
    session:wait_for('[repl exited 0]')
    session:close()
    local f = assert(io.open(home .. '/.lunagrad_history'))
    local history = f:read('a')
    f:close()
    assert.truthy(history:find('= 40 + 2', 1, true))
    -- a new session starts with that history
    session = start(home)
    session:key('Up')
    session:wait_for('> = 40 + 2')
    session:key('Enter')
    session:wait_for('\n42\n')
  end)

  it('completes tensor methods, table fields and globals with Tab', function()
    session = start(new_home())
    session:line('x = lg.tensor{1, 2, 3}')
    session:type('x:nume')
    session:key('Tab')
    session:wait_for('> x:numel')
    session:type('()')
    session:key('Enter')
    session:wait_for('\n3\n')
    session:type('nn.GradientRev')
    session:key('Tab')
    session:wait_for('> nn.GradientReversal')
    session:type('(0.25).alpha')
    session:key('Enter')
    session:wait_for('\n0.25\n')
    session:type('opti')
    session:key('Tab')
    session:wait_for('> optim')
    session:key('C-u')
    -- ambiguous: one Tab lists the candidates
    session:type('lg.zer')
    session:key('Tab')
    local screen = session:wait_for('lg.zeros')
    assert.truthy(screen:find('lg.zero_grad', 1, true) or screen:find('lg.zeros_like', 1, true), screen)
  end)

  it('cancels the line with Ctrl-C at the prompt and keeps the session', function()
    session = start(new_home())
    session:type('half typed')
    session:key('C-c')
    session:wait_for('half typed^C')
    session:key('C-c') -- at an empty prompt too
    session:line('for i = 1, 2 do')
    session:wait_for('>> ')
    session:key('C-c') -- drops the unfinished statement
    -- SIGINT arrives asynchronously: type on only once the REPL has shown its third ^C
    -- and a fresh prompt (keys sent earlier can reach readline before the signal)
    session:wait_for('^C\n>', 3)
    session:line('= 6 * 7')
    local screen = session:wait_for('\n42\n')
    assert.is_nil(screen:find('[repl exited', 1, true))
    assert.is_nil(screen:find('unexpected symbol', 1, true))
  end)

  it('interrupts running code with Ctrl-C and keeps the session', function()
    session = start(new_home())
    session:line('n = 0; while true do n = n + 1 end')
    session:wait_for('> n = 0; while true do n = n + 1 end')
    os.execute('sleep 0.3')
    session:key('C-c')
    session:wait_for('interrupted!')
    session:line('= n > 0')
    local screen = session:wait_for('\ntrue\n')
    assert.is_nil(screen:find('[repl exited', 1, true))
  end)

  it('shows errors with a traceback of the user code only', function()
    session = start(new_home())
    session:line('local function boom() error("kaboom") end boom()')
    local screen = session:wait_for('stack traceback:')
    screen = session:wait_for("in main chunk\n> ")
    assert.truthy(screen:find('stdin:1: kaboom', 1, true), screen)
    assert.truthy(screen:find("stdin:1: in local 'boom'", 1, true), screen)
    assert.truthy(screen:find('stdin:1: in main chunk', 1, true), screen)
    for _, internal in ipairs({ 'bin/lunagrad', 'readline.call', 'xpcall', '[C]: in ?', 'tail calls' }) do
      assert.is_nil(screen:find(internal, 1, true), internal .. ' in:\n' .. screen)
    end
  end)

  it('falls back to plain lines, with a notice, without line editing', function()
    session = start(new_home(), { LUNAGRAD_READLINE = '0' })
    local screen = session:wait_for('> ')
    assert.truthy(screen:find('reading plain lines', 1, true))
    session:type('half')
    session:key('C-c')
    session:line('= 2 + 3')
    screen = session:wait_for('\n5\n')
    assert.is_nil(screen:find('[repl exited', 1, true))
  end)
end)

describe('lunagrad command-line options', function()
  local function lunagrad(args, stdin)
    local env = string.format("LUA_PATH=%s LUA_CPATH=%s ", sh_quote(package.path), sh_quote(package.cpath))
    local input = ''
    if stdin then
      input = os.tmpname()
      local f = assert(io.open(input, 'w'))
      f:write(stdin)
      f:close()
    end
    local out = run(env .. 'lua5.4 bin/lunagrad ' .. args .. (stdin and (' < ' .. input) or ' < /dev/null'))
    if stdin then os.remove(input) end
    return out
  end

  it('--help and -h print the usage and exit 0', function()
    for _, flag in ipairs({ '--help', '-h' }) do
      local out = lunagrad(flag)
      assert.matches('usage: lunagrad %[options%] %[script %[args%]%]', out)
      assert.matches('-e stat', out, 1, true)
      assert.matches('exit=0', out, 1, true)
    end
  end)

  it('-e runs a statement (with lg loaded) and exits', function()
    local out = lunagrad("-e 'print(lg.tensor{1, 2}:sum():item())'")
    assert.matches('^3.0\n', out)
    assert.matches('exit=0', out, 1, true)
  end)

  it('-l requires a module into a global (g=mod names it), -i then opens the REPL', function()
    local out = lunagrad("-l lunagrad.json -l P=lunagrad.progress -e 'y = 5' -i",
      '= type(_G["lunagrad.json"]), type(P.new), y\n')
    assert.matches('"table"\t"function"\t5', out, 1, true)
    assert.matches('exit=0', out, 1, true)
  end)

  it('runs stdin as a script with -, passing the arguments', function()
    local out = lunagrad('- a b', 'print(select("#", ...), arg[1], arg[2], arg[0])\n')
    assert.matches('2\ta\tb\t-', out, 1, true)
  end)

  it('-v prints the version; an unknown option fails with the usage', function()
    assert.matches('lunagrad %(Lua 5%.4%)', lunagrad('-v'))
    local out = lunagrad('--bogus')
    assert.matches("unrecognized option '--bogus'", out, 1, true)
    assert.matches('exit=1', out, 1, true)
  end)

  it('a failing -e or script exits 1 with its message and no REPL frames', function()
    local out = lunagrad("-e 'error(\"nope\")'")
    assert.matches('nope', out, 1, true)
    assert.matches('exit=1', out, 1, true)
    assert.is_nil(out:find('bin/lunagrad:', 1, true))
  end)
end)
