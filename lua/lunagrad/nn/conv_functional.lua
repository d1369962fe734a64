-- The convolution family of nn.functional, in PyTorch's arguments and defaults:
-- conv1d, conv2d, conv_transpose1d/2d, max/avg pools (1-d and 2-d, ceil_mode,
-- return_indices, count_include_pad), adaptive pools, interpolate and pad.
-- Installed into nn.functional by functional.lua: conv(F).
--
-- The 1-d forms are the 2-d kernels on [N, C, 1, L]; interpolate and pad are made of
-- index_select, cat and elementwise ops, so everything here is differentiable twice.
-- Options go in a trailing table (PyTorch's keyword arguments); sizes are numbers or
-- {h, w}; indices (return_indices) are 1-based, as lunagrad's other indices.
local lg = require 'lunagrad'
local core = require 'lunagrad.core'
local util = require 'lunagrad.nn.util'

local function raise(fname, fmt, ...)
  util.raise(string.format('lunagrad.nn.functional.' .. fname .. ': ' .. fmt, ...))
end

local function check_tensor(fname, what, x)
  if not util.is_tensor(x) then raise(fname, '%s must be a Tensor, got %s', what, type(x)) end
end

-- A number or a 1-element table -> n; for the 1-d forms.
local function single(fname, what, v, lo)
  if type(v) == 'table' and not util.is_tensor(v) then
    if #v ~= 1 then raise(fname, '%s must be a number or {n}, got a table of %d', what, #v) end
    v = v[1]
  end
  return util.check_int('nn.functional.' .. fname, what, v, lo)
end

-- A trailing options table may sit where an optional tensor would be: F.conv2d(x, w, {stride=2}).
local function split_optional(b, opts)
  if type(b) == 'table' and not util.is_tensor(b) then return nil, b end
  return b, opts
end

local CONV_OPTS = util.set { 'stride', 'padding', 'dilation', 'groups' }

-- 'same' padding: {left/top, extra right/bottom} per dim, PyTorch's split (the odd one to the end).
local function same_padding(fname, k, dilation, stride)
  local pad, extra = {}, {}
  for d = 1, 2 do
    if stride[d] ~= 1 then raise(fname, "padding = 'same' is not supported for strided convolutions") end
    local total = dilation[d] * (k[d] - 1)
    pad[d], extra[d] = total // 2, total - 2 * (total // 2)
  end
  return pad, extra
end

local function conv2d_args(fname, w, opts)
  opts = util.options('nn.functional.' .. fname, opts, CONV_OPTS)
  local ufn = 'nn.functional.' .. fname
  local stride = util.pair(ufn, 'stride', opts.stride or 1, 1)
  local dilation = util.pair(ufn, 'dilation', opts.dilation or 1, 1)
  local groups = util.check_int(ufn, 'groups', opts.groups or 1, 1)
  local padding, extra = opts.padding or 0, nil
  if padding == 'same' then
    padding, extra = same_padding(fname, { w:size(w:dim() - 1), w:size(w:dim()) }, dilation, stride)
    if extra[1] == 0 and extra[2] == 0 then extra = nil end
  elseif padding == 'valid' then
    padding = { 0, 0 }
  elseif type(padding) == 'string' then
    raise(fname, "padding must be a number, {h, w}, 'same' or 'valid', got '%s'", padding)
  else
    padding = util.pair(ufn, 'padding', padding, 0)
  end
  return stride, padding, dilation, groups, extra
end

return function(F)
  local pad -- F.pad, below

  --- F.conv2d(x, w [, b] [, {stride=1, padding=0, dilation=1, groups=1}]): padding a number,
  --- {h, w}, 'same' (stride 1) or 'valid'.
  function F.conv2d(x, w, b, opts)
    b, opts = split_optional(b, opts)
    check_tensor('conv2d', 'weight', w)
    local stride, padding, dilation, groups, extra = conv2d_args('conv2d', w, opts)
    if extra then x = pad(x, { 0, extra[2], 0, extra[1] }) end
    return core.conv2d(x, w, b, stride, padding, dilation, groups)
  end

  --- F.conv1d(x [N,C,L] or [C,L], w [Cout,Cin/groups,k] [, b] [, {stride, padding, dilation, groups}]).
  function F.conv1d(x, w, b, opts)
    b, opts = split_optional(b, opts)
    check_tensor('conv1d', 'input', x)
    check_tensor('conv1d', 'weight', w)
    if w:dim() ~= 3 then raise('conv1d', 'expected a 3-D weight [Cout,Cin/groups,k], got %s', util.shape_str(w)) end
    if x:dim() ~= 2 and x:dim() ~= 3 then
      raise('conv1d', 'expected a 3-D input [N,C,L] (or 2-D [C,L]), got %s', util.shape_str(x))
    end
    opts = util.options('nn.functional.conv1d', opts, CONV_OPTS)
    local padding = opts.padding or 0
    if type(padding) ~= 'string' then padding = { 0, single('conv1d', 'padding', padding, 0) } end
    local o2 = { stride = { 1, single('conv1d', 'stride', opts.stride or 1, 1) }, padding = padding,
      dilation = { 1, single('conv1d', 'dilation', opts.dilation or 1, 1) }, groups = opts.groups }
    local at = x:dim() -- the new height dim, before L
    local y = F.conv2d(x:unsqueeze(at), w:unsqueeze(3), b, o2)
    return y:squeeze(at)
  end

  local CONVT_OPTS = util.set { 'stride', 'padding', 'output_padding', 'dilation', 'groups' }

  --- F.conv_transpose2d(x, w [Cin,Cout/groups,kH,kW] [, b] [, {stride=1, padding=0, output_padding=0,
  --- dilation=1, groups=1}]): the gradient of conv2d with respect to its input.
  function F.conv_transpose2d(x, w, b, opts)
    b, opts = split_optional(b, opts)
    local fn = 'nn.functional.conv_transpose2d'
    opts = util.options(fn, opts, CONVT_OPTS)
    return core.conv_transpose2d(x, w, b, util.pair(fn, 'stride', opts.stride or 1, 1),
      util.pair(fn, 'padding', opts.padding or 0, 0), util.pair(fn, 'output_padding', opts.output_padding or 0, 0),
      util.pair(fn, 'dilation', opts.dilation or 1, 1), util.check_int(fn, 'groups', opts.groups or 1, 1))
  end

  --- F.conv_transpose1d(x [N,Cin,L], w [Cin,Cout/groups,k] [, b] [, opts as conv_transpose2d's]).
  function F.conv_transpose1d(x, w, b, opts)
    b, opts = split_optional(b, opts)
    check_tensor('conv_transpose1d', 'input', x)
    check_tensor('conv_transpose1d', 'weight', w)
    if w:dim() ~= 3 then raise('conv_transpose1d', 'expected a 3-D weight [Cin,Cout/groups,k], got %s', util.shape_str(w)) end
    if x:dim() ~= 2 and x:dim() ~= 3 then
      raise('conv_transpose1d', 'expected a 3-D input [N,C,L] (or 2-D [C,L]), got %s', util.shape_str(x))
    end
    opts = util.options('nn.functional.conv_transpose1d', opts, CONVT_OPTS)
    local function one(what, v, def, lo) return { lo == 1 and 1 or 0, single('conv_transpose1d', what, v or def, lo) } end
    local at = x:dim()
    return F.conv_transpose2d(x:unsqueeze(at), w:unsqueeze(3), b, {
      stride = one('stride', opts.stride, 1, 1), padding = one('padding', opts.padding, 0, 0),
      output_padding = one('output_padding', opts.output_padding, 0, 0), dilation = one('dilation', opts.dilation, 1, 1),
      groups = opts.groups }):squeeze(at)
  end

  -- ---- pooling -------------------------------------------------------------------
  local POOL_OPTS = util.set { 'kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices',
    'count_include_pad' }

  -- (x, {kernel_size=, ...}) or (x, k [, stride [, padding]] [, {options}]), options anywhere after k.
  local function pool_opts(fname, k, stride, padding, opts)
    if type(k) == 'table' and #k == 0 and not util.is_tensor(k) then
      opts, k, stride, padding = k, nil, nil, nil
    elseif type(stride) == 'table' and #stride == 0 then
      opts, stride, padding = stride, nil, nil
    elseif type(padding) == 'table' and #padding == 0 then
      opts, padding = padding, nil
    end
    opts = util.options('nn.functional.' .. fname, opts, POOL_OPTS)
    local o = {}
    for key in pairs(POOL_OPTS) do o[key] = opts[key] end
    if k ~= nil then o.kernel_size = k end
    if stride ~= nil then o.stride = stride end
    if padding ~= nil then o.padding = padding end
    if o.kernel_size == nil then raise(fname, 'kernel_size is required') end
    if o.dilation ~= nil and o.dilation ~= 1 and not (type(o.dilation) == 'table' and o.dilation[1] == 1 and o.dilation[#o.dilation] == 1) then
      raise(fname, 'dilation other than 1 is not supported')
    end
    return o
  end

  local function pair2(fname, o)
    local fn = 'nn.functional.' .. fname
    local k = util.pair(fn, 'kernel_size', o.kernel_size, 1)
    return k, o.stride ~= nil and util.pair(fn, 'stride', o.stride, 1) or { k[1], k[2] },
        util.pair(fn, 'padding', o.padding or 0, 0)
  end

  local function pair1(fname, o) -- the 1-d form's sizes as 2-d ones
    local k = single(fname, 'kernel_size', o.kernel_size, 1)
    local s = o.stride ~= nil and single(fname, 'stride', o.stride, 1) or k
    return { 1, k }, { 1, s }, { 0, single(fname, 'padding', o.padding or 0, 0) }
  end

  local function check_dims(fname, x, lo, hi, shape)
    check_tensor(fname, 'input', x)
    if x:dim() < lo or x:dim() > hi then raise(fname, 'expected input %s, got %s', shape, util.shape_str(x)) end
  end

  --- F.max_pool2d(x, k [, stride=k [, padding=0]] [, {ceil_mode=false, return_indices=false}])
  --- -> out [, indices] (1-based flat positions in each [H, W] plane).
  function F.max_pool2d(x, k, stride, padding, opts)
    local o = pool_opts('max_pool2d', k, stride, padding, opts)
    local kk, s, p = pair2('max_pool2d', o)
    return core.max_pool2d(x, kk, s, p, o.ceil_mode == true, o.return_indices == true)
  end

  --- F.avg_pool2d(x, k [, stride=k [, padding=0]] [, {ceil_mode=false, count_include_pad=true}]).
  function F.avg_pool2d(x, k, stride, padding, opts)
    local o = pool_opts('avg_pool2d', k, stride, padding, opts)
    if o.return_indices ~= nil then raise('avg_pool2d', 'return_indices is an option of max pooling') end
    local kk, s, p = pair2('avg_pool2d', o)
    return core.avg_pool2d(x, kk, s, p, o.ceil_mode == true, o.count_include_pad ~= false)
  end

  -- A 1-d op through its 2-d form on [N, C, 1, L] (or [C, 1, L]).
  local function via_2d(x, fn2, ...)
    local at = x:dim()
    local y, idx = fn2(x:unsqueeze(at), ...)
    if idx then return y:squeeze(at), idx:squeeze(at) end
    return y:squeeze(at)
  end

  --- F.max_pool1d(x [N,C,L] or [C,L], k [, stride=k [, padding=0]] [, {ceil_mode, return_indices}]).
  function F.max_pool1d(x, k, stride, padding, opts)
    check_dims('max_pool1d', x, 2, 3, '[N,C,L] or [C,L]')
    local o = pool_opts('max_pool1d', k, stride, padding, opts)
    local kk, s, p = pair1('max_pool1d', o)
    return via_2d(x, core.max_pool2d, kk, s, p, o.ceil_mode == true, o.return_indices == true)
  end

  --- F.avg_pool1d(x [N,C,L] or [C,L], k [, stride=k [, padding=0]] [, {ceil_mode, count_include_pad}]).
  function F.avg_pool1d(x, k, stride, padding, opts)
    check_dims('avg_pool1d', x, 2, 3, '[N,C,L] or [C,L]')
    local o = pool_opts('avg_pool1d', k, stride, padding, opts)
    if o.return_indices ~= nil then raise('avg_pool1d', 'return_indices is an option of max pooling') end
    local kk, s, p = pair1('avg_pool1d', o)
    return via_2d(x, core.avg_pool2d, kk, s, p, o.ceil_mode == true, o.count_include_pad ~= false)
  end

  -- output_size: a number, {h, w} (nil/false entries keep the input's size) for 2-d.
  local function out2(fname, x, size)
    check_dims(fname, x, 3, 4, '[N,C,H,W] or [C,H,W]')
    if size == nil then raise(fname, 'output_size is required') end
    if type(size) ~= 'table' then size = { size, size } end
    if #size ~= 2 and not (size[1] == nil and size[2] ~= nil) then
      raise(fname, 'output_size must be a number or {h, w}, got a table of %d', #size)
    end
    local d = x:dim()
    local h = size[1] or x:size(d - 1)
    local w = size[2] or x:size(d)
    return { util.check_int('nn.functional.' .. fname, 'output_size', h, 1),
      util.check_int('nn.functional.' .. fname, 'output_size', w, 1) }
  end

  --- F.adaptive_avg_pool2d(x, output_size): PyTorch's windows [floor(i H / oH), ceil((i + 1) H / oH)).
  function F.adaptive_avg_pool2d(x, size) return core.adaptive_avg_pool2d(x, out2('adaptive_avg_pool2d', x, size)) end

  --- F.adaptive_max_pool2d(x, output_size [, return_indices=false]) -> out [, indices].
  function F.adaptive_max_pool2d(x, size, return_indices)
    return core.adaptive_max_pool2d(x, out2('adaptive_max_pool2d', x, size), return_indices == true)
  end

  local function out1(fname, x, size)
    check_dims(fname, x, 2, 3, '[N,C,L] or [C,L]')
    if size == nil then raise(fname, 'output_size is required') end
    return { 1, single(fname, 'output_size', size, 1) }
  end

  --- F.adaptive_avg_pool1d(x [N,C,L] or [C,L], output_size).
  function F.adaptive_avg_pool1d(x, size)
    return via_2d(x, core.adaptive_avg_pool2d, out1('adaptive_avg_pool1d', x, size))
  end

  --- F.adaptive_max_pool1d(x, output_size [, return_indices=false]).
  function F.adaptive_max_pool1d(x, size, return_indices)
    return via_2d(x, core.adaptive_max_pool2d, out1('adaptive_max_pool1d', x, size), return_indices == true)
  end

  -- ---- interpolate -----------------------------------------------------------------
  local INTERP_OPTS = util.set { 'size', 'scale_factor', 'mode', 'align_corners', 'recompute_scale_factor' }
  local MODES = { nearest = true, linear = true, bilinear = true }

  local function index_tensor(values) return lg.tensor(values, { dtype = 'int64' }) end

  -- Along dim d of x (size n) to m outputs; scale: PyTorch's source scale for this dim.
  local function nearest_dim(x, d, n, m, scale)
    local idx = {}
    for o = 0, m - 1 do
      local i = math.floor(o * scale)
      if n == m then i = o end
      idx[o + 1] = math.min(i, n - 1) + 1
    end
    return x:index(d, index_tensor(idx))
  end

  local function linear_dim(x, d, n, m, scale, align_corners)
    local i0, i1, l0, l1 = {}, {}, {}, {}
    for o = 0, m - 1 do
      local src
      if align_corners then src = o * scale
      else src = math.max((o + 0.5) * scale - 0.5, 0) end
      local a = math.floor(src)
      if a > n - 1 then a = n - 1 end
      local b = a < n - 1 and a + 1 or a
      local lam = src - a
      i0[o + 1], i1[o + 1], l0[o + 1], l1[o + 1] = a + 1, b + 1, 1 - lam, lam
    end
    local shape = {}
    for k = 1, x:dim() do shape[k] = 1 end
    shape[d] = m
    local dt = { dtype = x.dtype }
    local w0, w1 = lg.tensor(l0, dt):view(table.unpack(shape)), lg.tensor(l1, dt):view(table.unpack(shape))
    return x:index(d, index_tensor(i0)) * w0 + x:index(d, index_tensor(i1)) * w1
  end

  --- F.interpolate(x, {size= | scale_factor=, mode='nearest'|'linear'|'bilinear', align_corners=false}):
  --- [N,C,L] (nearest, linear) or [N,C,H,W] (nearest, bilinear), PyTorch 1.13's index and weight rules.
  function F.interpolate(x, opts, ...)
    local fname = 'interpolate'
    check_tensor(fname, 'input', x)
    if type(opts) ~= 'table' or util.is_tensor(opts) then -- PyTorch's positional (x, size, scale_factor, mode, align_corners)
      local a = table.pack(...)
      opts = { size = opts, scale_factor = a[1], mode = a[2], align_corners = a[3] }
    elseif #opts > 0 then
      opts = { size = opts }
    end
    opts = util.options('nn.functional.interpolate', opts, INTERP_OPTS)
    local mode = opts.mode or 'nearest'
    if not MODES[mode] then
      raise(fname, "mode must be 'nearest', 'linear' or 'bilinear', got '%s'", tostring(mode))
    end
    local spatial = x:dim() - 2
    if spatial ~= 1 and spatial ~= 2 then
      raise(fname, 'expected a 3-D [N,C,L] or 4-D [N,C,H,W] input, got %s', util.shape_str(x))
    end
    if mode == 'linear' and spatial ~= 1 then raise(fname, "mode 'linear' expects a 3-D input [N,C,L], got %s", util.shape_str(x)) end
    if mode == 'bilinear' and spatial ~= 2 then raise(fname, "mode 'bilinear' expects a 4-D input [N,C,H,W], got %s", util.shape_str(x)) end
    if opts.align_corners ~= nil and mode == 'nearest' then
      raise(fname, "align_corners can only be set with the interpolating modes 'linear' and 'bilinear'")
    end
    if (opts.size == nil) == (opts.scale_factor == nil) then
      raise(fname, 'exactly one of size and scale_factor must be given')
    end
    local function per_dim(v, what, is_int)
      if type(v) ~= 'table' then v = {} for d = 1, spatial do v[d] = opts[what] end end
      if #v ~= spatial then raise(fname, '%s must be a number or a table of %d, got a table of %d', what, spatial, #v) end
      for d = 1, spatial do
        if type(v[d]) ~= 'number' or v[d] <= 0 or (is_int and math.type(v[d]) ~= 'integer' and v[d] ~= math.floor(v[d])) then
          raise(fname, '%s must be positive %s, got %s', what, is_int and 'integers' or 'numbers', tostring(v[d]))
        end
      end
      return v
    end
    local sizes, scales = {}, {}
    local sf = opts.scale_factor ~= nil and per_dim(opts.scale_factor, 'scale_factor', false)
    local sz = opts.size ~= nil and per_dim(opts.size, 'size', true)
    for d = 1, spatial do
      local n = x:size(2 + d)
      local m = sz and math.tointeger(sz[d]) or math.floor(n * sf[d])
      if m < 1 then raise(fname, 'the output size %d is less than 1 (input size %d, scale_factor %s)', m, n, tostring(sf[d])) end
      sizes[d] = m
      -- PyTorch: 1 / scale_factor when one is given (and not recomputed), else in / out
      scales[d] = (sf and opts.recompute_scale_factor ~= true) and 1 / sf[d] or n / m
    end
    local y = x
    for d = 1, spatial do
      local n, m = x:size(2 + d), sizes[d]
      if mode == 'nearest' then
        y = nearest_dim(y, 2 + d, n, m, scales[d])
      else
        local ac = opts.align_corners == true
        local scale = ac and (m > 1 and (n - 1) / (m - 1) or 0) or scales[d]
        y = linear_dim(y, 2 + d, n, m, scale, ac)
      end
    end
    return y
  end

  -- ---- pad ----------------------------------------------------------------------------
  local PAD_MODES = { constant = true, reflect = true, replicate = true, circular = true }

  --- F.pad(x, pad [, mode='constant' [, value=0]]): pad = {left, right [, top, bottom [, front, back]]},
  --- last dim first, as PyTorch's; negative entries crop. mode 'constant', 'reflect', 'replicate', 'circular'.
  function pad(x, p, mode, value)
    local fname = 'pad'
    check_tensor(fname, 'input', x)
    if type(mode) == 'table' then mode, value = mode.mode, mode.value end
    mode = mode or 'constant'
    if not PAD_MODES[mode] then
      raise(fname, "mode must be 'constant', 'reflect', 'replicate' or 'circular', got '%s'", tostring(mode))
    end
    if type(p) ~= 'table' or #p % 2 ~= 0 or #p == 0 then
      raise(fname, 'pad must be a table of an even number of sizes {left, right, ...}, got %s',
        type(p) == 'table' and ('a table of ' .. #p) or type(p))
    end
    local npad = #p // 2
    local given = p
    p = {}
    for i = 1, #given do p[i] = util.check_int('nn.functional.pad', 'pad', given[i], math.mininteger) end
    if npad > x:dim() then raise(fname, 'pad has %d sizes but the input %s has only %d dims', #p, util.shape_str(x), x:dim()) end
    if mode ~= 'constant' then
      if value ~= nil and value ~= 0 then raise(fname, "value is only used in mode 'constant'") end
      if npad > x:dim() - 1 then
        raise(fname, "mode '%s' pads at most the last %d dims of a %s input (not the first), got %d pairs",
          mode, x:dim() - 1, util.shape_str(x), npad)
      end
    end
    value = value or 0
    local y = x
    for i = 1, npad do
      local d = x:dim() - i + 1
      local l, r = p[2 * i - 1], p[2 * i]
      local n = x:size(d)
      if l ~= 0 or r ~= 0 then
        if n + l + r < 1 then
          raise(fname, 'the padded size %d of dim %d is less than 1 (size %d, pad %d, %d)', n + l + r, d, n, l, r)
        end
        if mode == 'constant' then
          if l < 0 then y = y:narrow(d, 1 - l, y:size(d) + l) l = 0 end
          if r < 0 then y = y:narrow(d, 1, y:size(d) + r) r = 0 end
          local parts = {}
          local function block(len)
            local shape = y:shape()
            shape[d] = len
            return lg.full(shape, value, { dtype = y.dtype })
          end
          if l > 0 then parts[#parts + 1] = block(l) end
          parts[#parts + 1] = y
          if r > 0 then parts[#parts + 1] = block(r) end
          y = #parts > 1 and lg.cat(parts, d) or y
        else
          if mode == 'reflect' and (l >= n or r >= n) then
            raise(fname, "reflect padding (%d, %d) of dim %d must be less than its size %d (input %s)",
              l, r, d, n, util.shape_str(x))
          end
          if mode == 'circular' and (l > n or r > n) then
            raise(fname, "circular padding (%d, %d) of dim %d must be at most its size %d (input %s)",
              l, r, d, n, util.shape_str(x))
          end
          local idx = {}
          for o = 0, n + l + r - 1 do
            local j = o - l
            if mode == 'reflect' then
              if j < 0 then j = -j end
              if j > n - 1 then j = 2 * (n - 1) - j end
            elseif mode == 'replicate' then
              j = math.max(0, math.min(n - 1, j))
            else
              j = j % n
            end
            idx[#idx + 1] = j + 1
          end
          y = y:index(d, index_tensor(idx))
        end
      end
    end
    return y
  end
  F.pad = pad

  return F
end
