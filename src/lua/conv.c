/* Binding of conv2d and pooling:
 *   lunagrad.conv2d(x, w [, b] [, stride] [, padding])
 *   lunagrad.max_pool2d(x, kernel [, stride] [, padding])   (avg_pool2d alike)
 * Each size is a number (both dims) or a table {h, w}. Defaults: conv stride 1,
 * padding 0; pool stride = kernel, padding 0. Validation of values (positive
 * stride, padding rules, shapes) is the core's, so C callers get it too. */
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

/* conv2d(x, w, b_or_nil, stride, padding) */
static int l_conv2d(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "conv2d");
  lg_tensor *w = lgL_check(L, 2, "conv2d");
  lg_tensor *b = lua_isnoneornil(L, 3) ? NULL : lgL_check(L, 3, "conv2d");
  int stride[2], pad[2];
  int_pair(L, 4, "conv2d", "stride", (const int[2]){1, 1}, stride);
  int_pair(L, 5, "conv2d", "padding", (const int[2]){0, 0}, pad);
  return lgL_push(L, lg_conv2d(x, w, b, stride, pad), "conv2d");
}

static int pool(lua_State *L, const char *fn,
                lg_tensor *(*op)(lg_tensor *, const int *, const int *, const int *)) {
  lg_tensor *x = lgL_check(L, 1, fn);
  if (lua_isnoneornil(L, 2)) return luaL_error(L, "lunagrad.%s: kernel size is required", fn);
  int k[2], stride[2], pad[2];
  int_pair(L, 2, fn, "kernel size", (const int[2]){1, 1}, k);
  int_pair(L, 3, fn, "stride", k, stride);
  int_pair(L, 4, fn, "padding", (const int[2]){0, 0}, pad);
  return lgL_push(L, op(x, k, stride, pad), fn);
}

static int l_max_pool2d(lua_State *L) { return pool(L, "max_pool2d", lg_max_pool2d); }
static int l_avg_pool2d(lua_State *L) { return pool(L, "avg_pool2d", lg_avg_pool2d); }

void lgL_open_conv(lua_State *L) {
  static const luaL_Reg fns[] = {{"conv2d", l_conv2d},
                                 {"max_pool2d", l_max_pool2d},
                                 {"avg_pool2d", l_avg_pool2d},
                                 {NULL, NULL}};
  lgL_register_methods(L, fns);
}
