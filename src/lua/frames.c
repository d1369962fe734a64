/* The user's frame: where the binding's errors point (the first Lua frame
 * outside lunagrad's own Lua files), lunagrad.core._raise for the Lua modules,
 * and anomaly mode (creation sites stamped on nodes, NaN/Inf checks). */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

/* ---- the user's frame: error positions and anomaly creation sites ----------------
 * The binding's one frame finder. The user's frame is the first Lua frame outside
 * lunagrad's own Lua files, so an error raised for a call made inside nn.Linear or
 * nn.CrossEntropyLoss (or by util.raise in a Lua module) blames the user's line. */

static char lib_prefix[512]; /* "@lua/lunagrad/": sources starting with it are lunagrad's */

/* Finds where require 'lunagrad' loads from, with package.searchpath (once, when the
 * core opens; anomaly mode refreshes it in case package.path changed since). */
static void find_lib_prefix(lua_State *L) {
  lib_prefix[0] = 0;
  int top = lua_gettop(L);
  if (lua_getglobal(L, "package") == LUA_TTABLE && lua_getfield(L, -1, "searchpath") == LUA_TFUNCTION) {
    lua_pushliteral(L, "lunagrad");
    lua_getfield(L, -3, "path");
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
      const char *path = lua_tostring(L, -1), *slash = strrchr(path, '/');
      /* only a package directory (.../lunagrad/init.lua) identifies our files */
      if (slash && slash - path >= 8 && !strcmp(slash, "/init.lua") && !strncmp(slash - 8, "lunagrad", 8) &&
          (size_t)(slash - path) + 3 < sizeof lib_prefix)
        snprintf(lib_prefix, sizeof lib_prefix, "@%.*s", (int)(slash - path + 1), path);
    }
  }
  lua_settop(L, top);
}

static bool in_library(const lua_Debug *ar) {
  return lib_prefix[0] && strncmp(ar->source, lib_prefix, strlen(lib_prefix)) == 0;
}

/* Walks the stack from `level` up: fills *user with the first Lua frame outside
 * lunagrad's files and returns true, or returns false when there is none. When
 * `via` is given it receives up to three lunagrad frames passed on the way,
 * innermost first ("lunagrad/nn/Linear.lua:31, ..."), and *n_lib their count. */
static bool user_frame(lua_State *L, int level, lua_Debug *user, char *via, size_t via_len, int *n_lib) {
  size_t used = 0;
  int n = 0;
  if (via && via_len) via[0] = 0;
  for (; lua_getstack(L, level, user); level++) {
    if (!lua_getinfo(L, "Sl", user) || user->currentline < 0) continue; /* C functions */
    if (in_library(user)) {
      if (via && n++ < 3 && used < via_len)
        used += (size_t)snprintf(via + used, via_len - used, "%slunagrad/%s:%d", n > 1 ? ", " : "",
                                 user->source + strlen(lib_prefix), user->currentline);
      continue;
    }
    if (n_lib) *n_lib = n;
    return true;
  }
  if (n_lib) *n_lib = n;
  return false;
}

/* Writes the calling Lua code's "source:line" into buf, followed by up to
 * three lunagrad frames it went through, innermost first. */
static void creation_site(lua_State *L, char *buf, size_t len) {
  lua_Debug ar;
  char via[256];
  int n_lib;
  if (user_frame(L, 1, &ar, via, sizeof via, &n_lib))
    snprintf(buf, len, n_lib ? "%s:%d (via %s%s)" : "%s:%d", ar.short_src, ar.currentline, via,
             n_lib > 3 ? ", ..." : "");
  else
    snprintf(buf, len, "%s", n_lib ? via : "?"); /* called from lunagrad's Lua code only */
}

/* Pushes "source:line: " of the user's frame ("" when there is none), like luaL_where.
 * As in Lua, a function called straight from C (pcall(lg.exp, 'a')) gets no position. */
static void push_user_where(lua_State *L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) && ar.what[0] == 'C') lua_pushliteral(L, "");
  else if (user_frame(L, 1, &ar, NULL, 0, NULL)) lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
  else lua_pushliteral(L, "");
}

/* luaL_error is this function in the binding (binding.h); lua_error below is Lua's own raise. */
int lgL_error(lua_State *L, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  push_user_where(L);
  lua_pushvfstring(L, fmt, args);
  va_end(args);
  lua_concat(L, 2);
  return lua_error(L);
}

/* lunagrad.core._raise(msg): raises msg at the user's line (util.raise, for the Lua modules). */
static int l_raise(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) return lua_error(L); /* non-string errors pass unchanged */
  push_user_where(L);
  lua_pushvalue(L, 1);
  lua_concat(L, 2);
  return lua_error(L);
}

/* The output of an op recorded in anomaly mode: stamp its nodes with the
 * caller's line, then fail if it holds NaN or Inf. (Tensors made from data,
 * such as lunagrad.tensor or load, record no node and are not checked.) */
void lgL_anomaly_forward(lua_State *L, lg_tensor *t, const char *fn) {
  char site[600];
  creation_site(L, site, sizeof site);
  if (lg_anomaly_stamp(t, site)) lgL_raise(L, fn);
  const char *bad = lg_nonfinite(t);
  if (bad) luaL_error(L, "lunagrad.%s: output contains %s (at %s)", fn, bad, site);
}

/* ---- anomaly mode ------------------------------------------------------------ */

/* detect_anomaly(true|false) -> previous mode; detect_anomaly(fn, ...) runs fn
 * with anomaly mode on and returns its results, restoring the mode even on error. */
static int l_detect_anomaly(lua_State *L) {
  if (lua_type(L, 1) == LUA_TFUNCTION) {
    find_lib_prefix(L);
    bool was = lg_set_anomaly_enabled(true);
    int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    lg_set_anomaly_enabled(was);
    if (rc != LUA_OK) return lua_error(L);
    return lua_gettop(L);
  }
  if (lua_type(L, 1) != LUA_TBOOLEAN)
    return luaL_error(L, "lunagrad.detect_anomaly: expects true, false or a function, got %s", luaL_typename(L, 1));
  bool on = lua_toboolean(L, 1);
  if (on) find_lib_prefix(L);
  lua_pushboolean(L, lg_set_anomaly_enabled(on));
  return 1;
}

static int l_is_anomaly_enabled(lua_State *L) {
  lua_pushboolean(L, lg_anomaly_enabled());
  return 1;
}

void lgL_open_frames(lua_State *L) {
  static const luaL_Reg fns[] = {{"_raise", l_raise}, {"detect_anomaly", l_detect_anomaly},
                                 {"is_anomaly_enabled", l_is_anomaly_enabled}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  find_lib_prefix(L);
}
