/* Binding of conv2d and pooling:
 *   lunagrad.conv2d(x, w [, b] [, stride] [, padding] [, dilation] [, groups])
 *   lunagrad.conv_transpose2d(x, w [, b] [, stride] [, padding] [, output_padding]
 *                             [, dilation] [, groups])
 *   lunagrad.max_pool2d(x, kernel [, stride] [, padding] [, ceil_mode] [, return_indices])
 *     -> out [, indices] (1-based flat positions in each [H, W] plane)
 *   lunagrad.avg_pool2d(x, kernel [, stride] [, padding] [, ceil_mode] [, count_include_pad = true])
 *   lunagrad.adaptive_avg_pool2d(x, size), lunagrad.adaptive_max_pool2d(x, size [, return_indices])
 * Each size is a number (both dims) or a table {h, w}. Defaults: conv stride 1,
 * padding 0, dilation 1, groups 1; pool stride = kernel, padding 0. Validation of
 * values (positive stride, padding rules, shapes) is the core's, so C callers get it too. */
#include "core/internal.h"
#include "lua/binding.h"

static int int_value(lua_State *L, int idx, const char *fn, const char *what) {
  int isnum = 0;
  lua_Integer v = lua_tointegerx(L, idx, &isnum);
  if (!isnum)
    return luaL_error(L, "lunagrad.%s: %s must be integers, got %s", fn, what,
                      lua_type(L, idx) == LUA_TNUMBER ? "a fractional number" : luaL_typename(L, idx));
  if (v < -(1 << 30) || v > (1 << 30)) return luaL_error(L, "lunagrad.%s: %s out of range", fn, what);
  return (int)v;
}

/* A number n (-> {n, n}) or a table {h, w} at idx; def when none/nil. */
static void int_pair(lua_State *L, int idx, const char *fn, const char *what, const int def[2],
                     int out[2]) {
  int type = lua_type(L, idx);
  if (type == LUA_TNONE || type == LUA_TNIL) {
    out[0] = def[0], out[1] = def[1];
  } else if (type == LUA_TNUMBER) {
    out[0] = out[1] = int_value(L, idx, fn, what);
  } else if (type == LUA_TTABLE) {
    lua_Integer len = luaL_len(L, idx);
    if (len != 2 && len != 1)
      luaL_error(L, "lunagrad.%s: %s must be a number or a table {h, w}, got a table of %d values", fn,
                 what, (int)len);
    for (int d = 0; d < 2; d++) {
      lua_geti(L, idx, len == 1 ? 1 : d + 1);
      out[d] = int_value(L, -1, fn, what);
      lua_pop(L, 1);
    }
  } else {
    luaL_error(L, "lunagrad.%s: %s must be a number or a table {h, w}, got %s", fn, what,
               luaL_typename(L, idx));
  }
}

static int opt_int(lua_State *L, int idx, const char *fn, const char *what, int def) {
  return lua_isnoneornil(L, idx) ? def : int_value(L, idx, fn, what);
}

/* conv2d(x, w, b_or_nil, stride, padding, dilation, groups) */
static int l_conv2d(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "conv2d");
  lg_tensor *w = lgL_check(L, 2, "conv2d");
  lg_tensor *b = lua_isnoneornil(L, 3) ? NULL : lgL_check(L, 3, "conv2d");
  int stride[2], pad[2], dil[2];
  int_pair(L, 4, "conv2d", "stride", (const int[2]){1, 1}, stride);
  int_pair(L, 5, "conv2d", "padding", (const int[2]){0, 0}, pad);
  int_pair(L, 6, "conv2d", "dilation", (const int[2]){1, 1}, dil);
  int groups = opt_int(L, 7, "conv2d", "groups", 1);
  return lgL_push(L, lg_conv2d_ex(x, w, b, stride, pad, dil, groups), "conv2d");
}

/* conv_transpose2d(x, w, b_or_nil, stride, padding, output_padding, dilation, groups) */
static int l_conv_transpose2d(lua_State *L) {
  const char *fn = "conv_transpose2d";
  lg_tensor *x = lgL_check(L, 1, fn);
  lg_tensor *w = lgL_check(L, 2, fn);
  lg_tensor *b = lua_isnoneornil(L, 3) ? NULL : lgL_check(L, 3, fn);
  int stride[2], pad[2], opad[2], dil[2];
  int_pair(L, 4, fn, "stride", (const int[2]){1, 1}, stride);
  int_pair(L, 5, fn, "padding", (const int[2]){0, 0}, pad);
  int_pair(L, 6, fn, "output_padding", (const int[2]){0, 0}, opad);
  int_pair(L, 7, fn, "dilation", (const int[2]){1, 1}, dil);
  int groups = opt_int(L, 8, fn, "groups", 1);
  return lgL_push(L, lg_conv_transpose2d(x, w, b, stride, pad, opad, dil, groups), fn);
}

/* Pushes out, and with want_idx the indices + 1 (a new tensor: the 0-based one
 * the graph saved stays intact). */
static int push_pooled(lua_State *L, lg_tensor *out, lg_tensor *idx, bool want_idx, const char *fn) {
  if (!out) {
    lg_release(idx);
    return lgL_raise(L, fn);
  }
  lgL_push(L, out, fn);
  if (!want_idx) return 1;
  lg_tensor *shifted = lg_add_scalar(idx, 1);
  lg_release(idx);
  lgL_push(L, shifted, fn);
  return 2;
}

static int pool(lua_State *L, bool is_max) {
  const char *fn = is_max ? "max_pool2d" : "avg_pool2d";
  lg_tensor *x = lgL_check(L, 1, fn);
  if (lua_isnoneornil(L, 2)) return luaL_error(L, "lunagrad.%s: kernel size is required", fn);
  int k[2], stride[2], pad[2];
  int_pair(L, 2, fn, "kernel size", (const int[2]){1, 1}, k);
  int_pair(L, 3, fn, "stride", k, stride);
  int_pair(L, 4, fn, "padding", (const int[2]){0, 0}, pad);
  bool ceil_mode = lua_toboolean(L, 5);
  if (!is_max) {
    bool cip = lua_isnoneornil(L, 6) ? true : lua_toboolean(L, 6);
    return lgL_push(L, lg_avg_pool2d_ex(x, k, stride, pad, ceil_mode, cip), fn);
  }
  bool want_idx = lua_toboolean(L, 6);
  lg_tensor *idx = NULL;
  lg_tensor *out = lg_max_pool2d_ex(x, k, stride, pad, ceil_mode, want_idx ? &idx : NULL);
  return push_pooled(L, out, idx, want_idx, fn);
}

static int l_max_pool2d(lua_State *L) { return pool(L, true); }
static int l_avg_pool2d(lua_State *L) { return pool(L, false); }

static void out_size(lua_State *L, int idx, const char *fn, int64_t out[2]) {
  if (lua_isnoneornil(L, idx)) luaL_error(L, "lunagrad.%s: output_size is required", fn);
  int o[2];
  int_pair(L, idx, fn, "output_size", (const int[2]){1, 1}, o);
  out[0] = o[0], out[1] = o[1];
}

static int l_adaptive_avg_pool2d(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "adaptive_avg_pool2d");
  int64_t out[2];
  out_size(L, 2, "adaptive_avg_pool2d", out);
  return lgL_push(L, lg_adaptive_avg_pool2d(x, out), "adaptive_avg_pool2d");
}

static int l_adaptive_max_pool2d(lua_State *L) {
  const char *fn = "adaptive_max_pool2d";
  lg_tensor *x = lgL_check(L, 1, fn);
  int64_t out[2];
  out_size(L, 2, fn, out);
  bool want_idx = lua_toboolean(L, 3);
  lg_tensor *idx = NULL;
  lg_tensor *y = lg_adaptive_max_pool2d(x, out, want_idx ? &idx : NULL);
  return push_pooled(L, y, idx, want_idx, fn);
}

void lgL_open_conv(lua_State *L) {
  static const luaL_Reg fns[] = {{"conv2d", l_conv2d},
                                 {"max_pool2d", l_max_pool2d},
                                 {"avg_pool2d", l_avg_pool2d},
                                 {NULL, NULL}};
  lgL_register_methods(L, fns);
  static const luaL_Reg module_fns[] = {{"conv_transpose2d", l_conv_transpose2d},
                                        {"adaptive_avg_pool2d", l_adaptive_avg_pool2d},
                                        {"adaptive_max_pool2d", l_adaptive_max_pool2d},
                                        {NULL, NULL}};
  luaL_setfuncs(L, module_fns, 0);
}
