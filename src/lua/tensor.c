/* The Tensor userdata: lifetime, conversion, properties, metamethods, views. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

typedef struct {
  lg_tensor *t; /* NULL once released */
} tensor_ud;

static const char *METHODS = "lunagrad.methods";

/* ---- userdata ------------------------------------------------------------ */

/* The Tensor metatable is also kept under this address in the registry, so the
 * type check on every argument is a pointer lookup, not a string lookup. */
static const char TENSOR_META_KEY = 0;

static tensor_ud *test_tensor(lua_State *L, int idx) {
  tensor_ud *u = lua_touserdata(L, idx);
  if (!u || !lua_getmetatable(L, idx)) return NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &TENSOR_META_KEY);
  bool is_tensor = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return is_tensor ? u : NULL;
}

lg_tensor *lgL_test(lua_State *L, int idx) {
  tensor_ud *u = test_tensor(L, idx);
  return u ? u->t : NULL;
}

lg_tensor *lgL_check(lua_State *L, int idx, const char *fn) {
  tensor_ud *u = test_tensor(L, idx);
  if (!u)
    luaL_error(L, "lunagrad.%s: bad argument #%d (Tensor expected, got %s)", fn, idx,
               luaL_typename(L, idx));
  if (!u->t) luaL_error(L, "lunagrad.%s: tensor was already released (closed or collected)", fn);
  return u->t;
}

int lgL_raise(lua_State *L, const char *fn) { return luaL_error(L, "lunagrad.%s: %s", fn, lg_error()); }

/* Lua's GC sees only the small userdata; tell it about the C memory behind it
 * in steps, so garbage tensors are collected as fast as they are made. */
static void report_to_gc(lua_State *L) {
  static size_t pending, since_full, full_after = (size_t)16 << 20;
  size_t bytes = lg_take_allocated_bytes() + sizeof(lg_tensor);
  pending += bytes;
  since_full += bytes;
  if (pending >= 64 * 1024) {
    lua_gc(L, LUA_GCSTEP, (int)(pending / 1024));
    pending = 0;
  }
  /* Steps alone fail in generational mode (the lua5.4 interpreter's default):
   * there a step is a minor collection, a tensor that survived two of them is
   * old, and old garbage waits for a major collection that the small userdata
   * hardly ever trigger (a 1024x1024 loop reached 4 GB). So after allocating
   * as much as was live (at least 16 MiB and 4x the Lua heap, which keeps the
   * cost of a full collection amortised), collect fully. */
  if (since_full >= full_after) {
    lua_gc(L, LUA_GCCOLLECT);
    since_full = 0;
    size_t live = (size_t)lg_memory().live_bytes, heap = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024;
    full_after = (size_t)16 << 20;
    if (full_after < live) full_after = live;
    if (full_after < 4 * heap) full_after = 4 * heap;
  }
}

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
static void anomaly_forward(lua_State *L, lg_tensor *t, const char *fn) {
  char site[600];
  creation_site(L, site, sizeof site);
  if (lg_anomaly_stamp(t, site)) lgL_raise(L, fn);
  const char *bad = lg_nonfinite(t);
  if (bad) luaL_error(L, "lunagrad.%s: output contains %s (at %s)", fn, bad, site);
}

int lgL_push(lua_State *L, lg_tensor *t, const char *fn) {
  if (!t) return lgL_raise(L, fn);
  tensor_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->t = NULL; /* safe empty state until the metatable is set */
  luaL_setmetatable(L, LGL_TENSOR);
  u->t = t;
  report_to_gc(L);
  if (lg_anomaly_enabled() && lg_anomaly_pending(t)) anomaly_forward(L, t, fn); /* one branch when off */
  return 1;
}

static int t_release(lua_State *L) { /* __gc and __close: safe twice */
  tensor_ud *u = luaL_testudata(L, 1, LGL_TENSOR);
  if (!u)
    return luaL_error(L, "lunagrad.release: bad argument #1 (Tensor expected, got %s)", luaL_typename(L, 1));
  lg_release(u->t);
  u->t = NULL;
  return 0;
}

/* ---- arguments ------------------------------------------------------------ */

int lgL_dim(lua_State *L, int idx, int ndim, const char *fn) {
  if (!lua_isinteger(L, idx)) {
    if (lua_type(L, idx) == LUA_TNUMBER) luaL_error(L, "lunagrad.%s: dim must be an integer", fn);
    luaL_error(L, "lunagrad.%s: bad argument #%d (dim expected, got %s)", fn, idx, luaL_typename(L, idx));
  }
  lua_Integer d = lua_tointeger(L, idx);
  int64_t z = lgL_zero_based(d, ndim > 0 ? ndim : 1, true); /* a 0-d tensor takes dim 1 (or -1) */
  if (z < 0)
    luaL_error(L, "lunagrad.%s: dim %I out of range for a %d-d tensor (dims are 1-based; -1 is the last)",
               fn, d, ndim);
  return (int)z;
}

int lgL_optdim(lua_State *L, int idx, int ndim, const char *fn, int def) {
  return lua_isnoneornil(L, idx) ? def : lgL_dim(L, idx, ndim, fn);
}

double lgL_number(lua_State *L, int idx, const char *fn, const char *what) {
  int isnum;
  double v = lua_tonumberx(L, idx, &isnum);
  if (!isnum || lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "lunagrad.%s: %s must be a number, got %s", fn, what, luaL_typename(L, idx));
  return v;
}

/* An integer argument; floats with an integral value count (1e4 is a float). */
static lua_Integer int_arg(lua_State *L, int idx, const char *fn, const char *what) {
  int ok = 0;
  lua_Integer v = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &ok) : 0;
  if (!ok)
    luaL_error(L, "lunagrad.%s: %s must be an integer, got %s", fn, what,
               lua_type(L, idx) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, idx));
  return v;
}

static int64_t shape_entry(lua_State *L, int idx, const char *fn) {
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx) && !lua_tointegerx(L, idx, NULL)) {
    double d = lua_tonumber(L, idx);
    if (d == floor(d)) { /* integral but beyond int64 (1e300): clearly too large */
      char buf[32];
      snprintf(buf, sizeof buf, "%g", d);
      luaL_error(L, "lunagrad.%s: size %s is too large", fn, buf);
    }
  }
  lua_Integer v = int_arg(L, idx, fn, "sizes");
  if (v < -1) luaL_error(L, "lunagrad.%s: negative size %I", fn, v);
  return v;
}

int lgL_shape(lua_State *L, int idx, int64_t *shape, const char *fn, int *next) {
  int ndim = 0;
  if (lua_type(L, idx) == LUA_TTABLE && luaL_getmetafield(L, idx, "__name") == LUA_TNIL) {
    lua_Integer n = luaL_len(L, idx);
    if (n > LG_MAX_DIMS) luaL_error(L, "lunagrad.%s: at most %d dims", fn, LG_MAX_DIMS);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      shape[ndim++] = shape_entry(L, -1, fn);
      lua_pop(L, 1);
    }
    *next = idx + 1;
    return ndim;
  }
  while (lua_type(L, idx) == LUA_TNUMBER) {
    if (ndim == LG_MAX_DIMS) luaL_error(L, "lunagrad.%s: at most %d dims", fn, LG_MAX_DIMS);
    shape[ndim++] = shape_entry(L, idx, fn);
    idx++;
  }
  *next = idx;
  return ndim;
}

lg_dtype lgL_optdtype(lua_State *L, int idx, lg_dtype def, const char *fn) {
  if (lua_type(L, idx) != LUA_TTABLE) return def;
  lg_dtype d = def;
  if (lua_getfield(L, idx, "dtype") == LUA_TSTRING && lg_dtype_from_name(lua_tostring(L, -1), &d))
    lgL_raise(L, fn);
  else if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "lunagrad.%s: dtype must be a string", fn);
  lua_pop(L, 1);
  return d;
}

bool lgL_optbool(lua_State *L, int idx, const char *field, bool def) {
  if (lua_type(L, idx) != LUA_TTABLE) return def;
  lua_getfield(L, idx, field);
  bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ---- nested tables ---------------------------------------------------------- */

typedef struct {
  int ndim;
  int64_t shape[LG_MAX_DIMS];
  lg_dtype dtype;
  double *data;   /* float dtypes: the values as doubles */
  int64_t *ints;  /* int64: the values themselves (doubles would round above 2^53) */
  int64_t n;
} table_reader;

/* A Lua number as int64: integers exactly, floats truncated like a C cast but
 * only when the result exists (a NaN or 1e300 cast is undefined behaviour). */
static int64_t number_to_int64(lua_State *L, int idx, const char *fn) {
  if (lua_isinteger(L, idx)) return (int64_t)lua_tointeger(L, idx);
  double d = lua_tonumber(L, idx);
  if (!(d > -9223372036854775809.0 && d < 9223372036854775808.0)) {
    char buf[32];
    snprintf(buf, sizeof buf, "%g", d);
    luaL_error(L, "lunagrad.%s: value %s cannot be converted to int64", fn, buf);
  }
  return (int64_t)d;
}

/* First pass: the shape, following first elements. */
static void probe_shape(lua_State *L, int idx, table_reader *r, const char *fn) {
  lua_pushvalue(L, idx);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (r->ndim == LG_MAX_DIMS) luaL_error(L, "lunagrad.%s: table nested deeper than %d", fn, LG_MAX_DIMS);
    r->shape[r->ndim++] = (int64_t)lua_rawlen(L, -1);
    if (lua_rawlen(L, -1) == 0) break;
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
}

/* Second pass: every sub-table must have the probed length at its depth.
 * Run first without a buffer (validation only), then again to copy. */
static void read_values(lua_State *L, int depth, table_reader *r, const char *fn) {
  if (depth == r->ndim) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "lunagrad.%s: table holds a %s where a number was expected", fn, luaL_typename(L, -1));
    if (r->ints) r->ints[r->n++] = number_to_int64(L, -1, fn);
    else if (r->data) r->data[r->n++] = lua_tonumber(L, -1);
    return;
  }
  if (lua_type(L, -1) != LUA_TTABLE)
    luaL_error(L, "lunagrad.%s: ragged table (a %s where a list of %d was expected)", fn,
               luaL_typename(L, -1), (int)r->shape[depth]);
  if ((int64_t)lua_rawlen(L, -1) != r->shape[depth])
    luaL_error(L, "lunagrad.%s: ragged table (a list of %d where %d was expected at depth %d)", fn,
               (int)lua_rawlen(L, -1), (int)r->shape[depth], depth + 1);
  luaL_checkstack(L, 2, "nested table");
  for (int64_t i = 1; i <= r->shape[depth]; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i);
    read_values(L, depth + 1, r, fn);
    lua_pop(L, 1);
  }
}

static lg_tensor *tensor_from_table(lua_State *L, int idx, lg_dtype dtype, const char *fn) {
  table_reader r = {0};
  r.dtype = dtype;
  idx = lua_absindex(L, idx);
  probe_shape(L, idx, &r, fn);
  /* The probed shape follows first elements only, so its product can exceed
   * what the table holds (shared sub-tables, or a ragged table that the second
   * pass would reject): bound it before allocating, without overflow. */
  int64_t n = 1;
  for (int d = 0; d < r.ndim; d++) {
    if (r.shape[d] && n > (int64_t)(((size_t)1 << 40) / sizeof(double)) / r.shape[d])
      luaL_error(L, "lunagrad.%s: table too large (more than 2^37 elements)", fn);
    n *= r.shape[d];
  }
  /* validate before allocating: a ragged table of a few elements can probe
   * as a huge shape ({{{1, 1, ...}, 1, ...}, 1, ...}) */
  lua_pushvalue(L, idx);
  read_values(L, 0, &r, fn);
  lua_pop(L, 1);
  /* the buffer is a Lua userdata so an error cannot leak it */
  void *buf = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(double), 0);
  if (dtype == LG_I64) r.ints = buf;
  else r.data = buf;
  lua_pushvalue(L, idx);
  read_values(L, 0, &r, fn);
  lua_pop(L, 1);
  lg_tensor *t;
  if (dtype == LG_I64) {
    t = lg_empty(r.ndim, r.shape, LG_I64);
    if (t && n) memcpy(lg_data_ptr(t), r.ints, (size_t)n * sizeof(int64_t));
  } else {
    t = lg_from_doubles(r.ndim, r.shape, r.data, dtype);
  }
  lua_pop(L, 1);
  return t;
}

lg_tensor *lgL_totensor(lua_State *L, int idx, const char *fn, lg_dtype like) {
  idx = lua_absindex(L, idx);
  lg_tensor *t = lgL_test(L, idx);
  if (t) return t;
  int type = lua_type(L, idx);
  if (type == LUA_TNUMBER && like == LG_I64) {
    int64_t v = number_to_int64(L, idx, fn);
    t = lg_empty(0, NULL, LG_I64);
    if (t) *(int64_t *)lg_data_ptr(t) = v;
  } else if (type == LUA_TNUMBER) t = lg_scalar(lua_tonumber(L, idx), like);
  else if (type == LUA_TTABLE) t = tensor_from_table(L, idx, like, fn);
  else if (luaL_testudata(L, idx, LGL_TENSOR)) lgL_check(L, idx, fn); /* released: raises */
  else luaL_error(L, "lunagrad.%s: bad argument #%d (Tensor, number or table expected, got %s)", fn,
                  idx, luaL_typename(L, idx));
  lgL_push(L, t, fn);
  lua_replace(L, idx);
  return t;
}

/* lunagrad.tensor(table_or_number [, {dtype=, requires_grad=}]) */
static int l_tensor(lua_State *L) {
  static const char *const KEYS[] = {"dtype", "requires_grad", NULL};
  lgL_check_options(L, 2, "tensor", KEYS);
  lg_dtype dtype = lgL_optdtype(L, 2, LG_F32, "tensor");
  if (lgL_test(L, 1)) { /* a copy, like torch.tensor(t) */
    lgL_push(L, lg_to_dtype(lgL_test(L, 1), dtype), "tensor");
    lg_tensor *c = lgL_test(L, -1);
    if (c == lgL_test(L, 1)) lgL_push(L, lg_clone(c), "tensor");
  } else {
    lua_pushvalue(L, 1);
    lgL_totensor(L, -1, "tensor", dtype);
  }
  lg_tensor *t = lgL_test(L, -1);
  if (lgL_optbool(L, 2, "requires_grad", false) && lg_set_requires_grad(t, true)) lgL_raise(L, "tensor");
  return 1;
}

/* ---- properties -------------------------------------------------------------- */

/* Pushes the element at idx: int64 read as int64 (lg_get's double would round
 * values above 2^53, and casting 2^63 back is undefined). */
static void push_element(lua_State *L, const lg_tensor *t, const int64_t *idx) {
  if (t->dtype != LG_I64) {
    lua_pushnumber(L, lg_get(t, idx));
    return;
  }
  int64_t off = t->offset;
  for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
  lua_pushinteger(L, (lua_Integer)((const int64_t *)t->storage->data)[off]);
}


static int push_borrowed(lua_State *L, lg_tensor *t) {
  if (!t) {
    lua_pushnil(L);
    return 1;
  }
  lg_retain(t);
  return lgL_push(L, t, "grad");
}

static int t_index(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    const char *k = lua_tostring(L, 2);
    lg_tensor *t = lgL_check(L, 1, k);
    if (strcmp(k, "dtype") == 0) lua_pushstring(L, lg_dtype_name(t->dtype));
    else if (strcmp(k, "requires_grad") == 0) lua_pushboolean(L, t->requires_grad);
    else if (strcmp(k, "grad") == 0) return push_borrowed(L, t->grad);
    else if (strcmp(k, "grad_fn") == 0) lua_pushstring(L, lg_grad_fn_name(t)); /* nil for leaves */
    else if (strcmp(k, "is_leaf") == 0) lua_pushboolean(L, t->grad_fn == NULL);
    else lua_pushnil(L);
    return 1;
  }
  if (lua_isinteger(L, 2)) { /* x[i]: select along dim 1, a number for 1-d (Torch7) */
    lg_tensor *t = lgL_check(L, 1, "index");
    if (t->ndim == 0) return luaL_error(L, "lunagrad.index: cannot index a 0-d tensor");
    lua_Integer i = lua_tointeger(L, 2);
    int64_t z = lgL_zero_based(i, t->shape[0], true);
    if (z < 0)
      return luaL_error(L, "lunagrad.index: index %I out of range for a dim of size %I (indices are 1-based)", i,
                        (lua_Integer)t->shape[0]);
    lg_tensor *s = lg_select(t, 0, z);
    if (s && s->ndim == 0 && !s->requires_grad) {
      push_element(L, s, NULL);
      lg_release(s);
      return 1;
    }
    return lgL_push(L, s, "index");
  }
  lua_pushnil(L);
  return 1;
}

static int t_newindex(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "newindex");
  if (lua_isinteger(L, 2)) { /* x[i] = v */
    lua_Integer i = lua_tointeger(L, 2);
    if (t->ndim == 0) return luaL_error(L, "lunagrad.newindex: cannot index a 0-d tensor");
    int64_t z = lgL_zero_based(i, t->shape[0], true);
    if (z < 0)
      return luaL_error(L, "lunagrad.newindex: index %I out of range for a dim of size %I (indices are 1-based)",
                        i, (lua_Integer)t->shape[0]);
    lg_tensor *s = lg_select(t, 0, z);
    lgL_push(L, s, "newindex");
    lg_tensor *v = lgL_totensor(L, 3, "newindex", t->dtype);
    if (lg_copy(s, v)) return lgL_raise(L, "newindex");
    return 0;
  }
  if (lua_type(L, 2) != LUA_TSTRING)
    return luaL_error(L, "lunagrad.newindex: cannot set a Tensor at a %s key", luaL_typename(L, 2));
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "requires_grad") == 0) {
    if (lg_set_requires_grad(t, lua_toboolean(L, 3))) return lgL_raise(L, "requires_grad");
  } else if (strcmp(k, "grad") == 0) {
    lg_tensor *g = lua_isnil(L, 3) ? NULL : lgL_check(L, 3, "grad");
    if (g && !lg_same_shape(g, t))
      return luaL_error(L, "lunagrad.grad: gradient shape does not match the tensor's");
    if (g) lg_retain(g);
    lg_release(t->grad);
    t->grad = g;
  } else {
    return luaL_error(L, "lunagrad.newindex: cannot set field '%s' of a Tensor", k);
  }
  return 0;
}

/* ---- metadata methods ------------------------------------------------------------ */

static int push_shape(lua_State *L, const lg_tensor *t) {
  lua_createtable(L, t->ndim, 0);
  for (int d = 0; d < t->ndim; d++) {
    lua_pushinteger(L, t->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
  return 1;
}

static int t_shape(lua_State *L) { return push_shape(L, lgL_check(L, 1, "shape")); }

static int t_size(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "size");
  if (lua_isnoneornil(L, 2)) return push_shape(L, t);
  lua_pushinteger(L, t->shape[lgL_dim(L, 2, t->ndim, "size")]);
  return 1;
}

static int t_stride(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "stride");
  lua_createtable(L, t->ndim, 0);
  for (int d = 0; d < t->ndim; d++) {
    lua_pushinteger(L, t->stride[d]);
    lua_rawseti(L, -2, d + 1);
  }
  return 1;
}

static int t_dim(lua_State *L) {
  lua_pushinteger(L, lgL_check(L, 1, "dim")->ndim);
  return 1;
}

static int t_numel(lua_State *L) {
  lua_pushinteger(L, lg_numel(lgL_check(L, 1, "numel")));
  return 1;
}

static int t_len(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "len");
  lua_pushinteger(L, t->ndim ? t->shape[0] : 0);
  return 1;
}

static int t_item(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "item");
  if (lg_numel(t) != 1)
    return luaL_error(L, "lunagrad.item: only one-element tensors can be converted to a number, got %d elements",
                      (int)lg_numel(t));
  int64_t idx[LG_MAX_DIMS] = {0};
  push_element(L, t, idx);
  return 1;
}

static void push_nested(lua_State *L, const lg_tensor *t, int depth, int64_t *idx) {
  if (depth == t->ndim) {
    push_element(L, t, idx);
    return;
  }
  luaL_checkstack(L, 3, "totable");
  lua_createtable(L, (int)t->shape[depth], 0);
  for (int64_t i = 0; i < t->shape[depth]; i++) {
    idx[depth] = i;
    push_nested(L, t, depth + 1, idx);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static int t_totable(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "totable");
  int64_t idx[LG_MAX_DIMS] = {0};
  push_nested(L, t, 0, idx);
  return 1;
}

static int t_is_contiguous(lua_State *L) {
  lua_pushboolean(L, lg_is_contiguous(lgL_check(L, 1, "is_contiguous")));
  return 1;
}

static int t_storage_id(lua_State *L) { /* for specs: do two tensors share memory? */
  lua_pushlightuserdata(L, lgL_check(L, 1, "storage_id")->storage);
  return 1;
}

static int t_eq_identity(lua_State *L) {
  lua_pushboolean(L, lgL_test(L, 1) == lgL_test(L, 2));
  return 1;
}

/* ---- views ------------------------------------------------------------------ */

static int t_view(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "view");
  int64_t shape[LG_MAX_DIMS];
  int next, nd = lgL_shape(L, 2, shape, "view", &next);
  return lgL_push(L, lg_view(t, nd, shape), "view");
}

static int t_reshape(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "reshape");
  int64_t shape[LG_MAX_DIMS];
  int next, nd = lgL_shape(L, 2, shape, "reshape", &next);
  return lgL_push(L, lg_reshape(t, nd, shape), "reshape");
}

static int t_expand(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "expand");
  int64_t shape[LG_MAX_DIMS];
  int next, nd = lgL_shape(L, 2, shape, "expand", &next);
  return lgL_push(L, lg_expand(t, nd, shape), "expand");
}

static int t_transpose(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "transpose");
  int a = lgL_dim(L, 2, t->ndim, "transpose"), b = lgL_dim(L, 3, t->ndim, "transpose");
  return lgL_push(L, lg_transpose(t, a, b), "transpose");
}

static int t_t(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "t");
  if (t->ndim > 2) return luaL_error(L, "lunagrad.t: expects a tensor with <= 2 dims, got %d", t->ndim);
  if (t->ndim < 2) return lgL_push(L, lg_reshape(t, t->ndim, t->shape), "t");
  return lgL_push(L, lg_transpose(t, 0, 1), "t");
}

static int t_permute(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "permute");
  int dims[LG_MAX_DIMS];
  int base = lua_type(L, 2) == LUA_TTABLE ? 0 : 2;
  int n = base ? lua_gettop(L) - 1 : (int)luaL_len(L, 2);
  if (n != t->ndim)
    return luaL_error(L, "lunagrad.permute: %d dims given for a %d-d tensor", n, t->ndim);
  for (int d = 0; d < n; d++) {
    if (!base) lua_geti(L, 2, d + 1);
    dims[d] = lgL_dim(L, base ? base + d : -1, t->ndim, "permute");
    if (!base) lua_pop(L, 1);
  }
  return lgL_push(L, lg_permute(t, dims), "permute");
}

static int64_t index_arg(lua_State *L, int idx, int64_t size, const char *fn, const char *what, bool allow_end) {
  if (!lua_isinteger(L, idx)) luaL_error(L, "lunagrad.%s: %s must be an integer, got %s", fn, what, luaL_typename(L, idx));
  lua_Integer i = lua_tointeger(L, idx);
  int64_t z = allow_end && i == size + 1 ? size : lgL_zero_based(i, size, true); /* narrow may start at the end */
  if (z < 0)
    luaL_error(L, "lunagrad.%s: %s %I out of range for a dim of size %I (indices are 1-based)", fn, what, i,
               (lua_Integer)size);
  return z;
}

static int t_narrow(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "narrow");
  int d = lgL_dim(L, 2, t->ndim, "narrow");
  int64_t start = index_arg(L, 3, t->shape[d], "narrow", "start", true);
  lua_Integer len = int_arg(L, 4, "narrow", "length");
  if (len < 0 || start + len > t->shape[d])
    return luaL_error(L, "lunagrad.narrow: start %d with length %d exceeds size %d of dim %d",
                      (int)start + 1, (int)len, (int)t->shape[d], d + 1);
  return lgL_push(L, lg_narrow(t, d, start, len), "narrow");
}

static int t_select(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "select");
  if (t->ndim == 0) return luaL_error(L, "lunagrad.select: cannot select from a 0-d tensor");
  int d = lgL_dim(L, 2, t->ndim, "select");
  int64_t i = index_arg(L, 3, t->shape[d], "select", "index", false);
  return lgL_push(L, lg_select(t, d, i), "select");
}

/* slice(d, first, last [, step]): inclusive bounds like string.sub */
static int t_slice(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "slice");
  if (t->ndim == 0) return luaL_error(L, "lunagrad.slice: cannot slice a 0-d tensor");
  int d = lgL_dim(L, 2, t->ndim, "slice");
  int64_t size = t->shape[d];
  lua_Integer first = lua_isnoneornil(L, 3) ? 1 : int_arg(L, 3, "slice", "first");
  lua_Integer last = lua_isnoneornil(L, 4) ? -1 : int_arg(L, 4, "slice", "last");
  lua_Integer step = lua_isnoneornil(L, 5) ? 1 : int_arg(L, 5, "slice", "step");
  if (step <= 0) return luaL_error(L, "lunagrad.slice: step must be positive, got %d", (int)step);
  if (first < 0) first += size + 1;
  if (last < 0) last += size + 1;
  if (first < 1 || first > size + 1 || last > size || last < 0)
    return luaL_error(L, "lunagrad.slice: range %d..%d out of bounds for a dim of size %d",
                      (int)first, (int)last, (int)size);
  int64_t start = first - 1, stop = last < first ? start : last;
  return lgL_push(L, lg_slice(t, d, start, stop, step), "slice");
}

static int t_squeeze(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "squeeze");
  int d = lua_isnoneornil(L, 2) ? LG_ALL_DIMS : lgL_dim(L, 2, t->ndim, "squeeze");
  return lgL_push(L, lg_squeeze(t, d), "squeeze");
}

static int t_unsqueeze(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "unsqueeze");
  return lgL_push(L, lg_unsqueeze(t, lgL_dim(L, 2, t->ndim + 1, "unsqueeze")), "unsqueeze");
}

static int t_flatten(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "flatten");
  int nd = t->ndim ? t->ndim : 1;
  int a = lgL_optdim(L, 2, nd, "flatten", 0), b = lgL_optdim(L, 3, nd, "flatten", nd - 1);
  if (a > b) return luaL_error(L, "lunagrad.flatten: start dim %d is after end dim %d", a + 1, b + 1);
  return lgL_push(L, lg_flatten(t, a, b), "flatten");
}

static int t_contiguous(lua_State *L) { return lgL_push(L, lg_contiguous(lgL_check(L, 1, "contiguous")), "contiguous"); }
static int t_clone(lua_State *L) { return lgL_push(L, lg_clone(lgL_check(L, 1, "clone")), "clone"); }
static int t_detach(lua_State *L) { return lgL_push(L, lg_detach(lgL_check(L, 1, "detach")), "detach"); }

static int t_to(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "to");
  lg_dtype d;
  if (lua_type(L, 2) != LUA_TSTRING)
    return luaL_error(L, "lunagrad.to: dtype must be a string, got %s", luaL_typename(L, 2));
  if (lg_dtype_from_name(lua_tostring(L, 2), &d)) return lgL_raise(L, "to");
  return lgL_push(L, lg_to_dtype(t, d), "to");
}

static int cast_to(lua_State *L, lg_dtype d, const char *fn) { return lgL_push(L, lg_to_dtype(lgL_check(L, 1, fn), d), fn); }
static int t_float(lua_State *L) { return cast_to(L, LG_F32, "float"); }
static int t_double(lua_State *L) { return cast_to(L, LG_F64, "double"); }
static int t_long(lua_State *L) { return cast_to(L, LG_I64, "long"); }

static int t_fill(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "fill");
  double v = lgL_number(L, 2, "fill", "value");
  if (t->dtype == LG_I64) v = (double)number_to_int64(L, 2, "fill"); /* NaN/inf refused, not cast */
  if (t->requires_grad && lg_grad_enabled())
    return luaL_error(L, "lunagrad.fill: a tensor that requires grad cannot be filled in place (use lg.no_grad)");
  lg_fill(t, v);
  lua_settop(L, 1);
  return 1;
}

static int t_copy(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "copy");
  lg_tensor *src = lgL_totensor(L, 2, "copy", t->dtype);
  if (t->requires_grad && lg_grad_enabled())
    return luaL_error(L, "lunagrad.copy: a tensor that requires grad cannot be overwritten in place (use lg.no_grad)");
  if (lg_copy(t, src)) return lgL_raise(L, "copy");
  lua_settop(L, 1);
  return 1;
}

/* ---- autograd -------------------------------------------------------------- */

static int t_revgrad(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "revgrad");
  double alpha = 1.0;
  lg_tensor *a = lgL_test(L, 2);
  if (a) {
    if (lg_numel(a) != 1)
      return luaL_error(L, "lunagrad.revgrad: alpha tensor must have one element, got %d", (int)lg_numel(a));
    alpha = lg_item(a);
  } else if (!lua_isnoneornil(L, 2)) {
    alpha = lgL_number(L, 2, "revgrad", "alpha");
  }
  if (!isfinite(alpha)) return luaL_error(L, "lunagrad.revgrad: alpha must be finite, got %f", alpha);
  return lgL_push(L, lg_revgrad(x, alpha), "revgrad");
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

/* ---- registration -------------------------------------------------------------- */

void lgL_register_methods(lua_State *L, const luaL_Reg *fns) {
  lua_getfield(L, LUA_REGISTRYINDEX, METHODS);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}

static const luaL_Reg methods[] = {
    {"shape", t_shape}, {"size", t_size}, {"stride", t_stride}, {"dim", t_dim}, {"numel", t_numel},
    {"nelement", t_numel}, {"item", t_item}, {"totable", t_totable}, {"is_contiguous", t_is_contiguous},
    {"storage_id", t_storage_id}, {"view", t_view}, {"reshape", t_reshape}, {"expand", t_expand},
    {"transpose", t_transpose}, {"t", t_t}, {"permute", t_permute}, {"narrow", t_narrow},
    {"select", t_select}, {"slice", t_slice}, {"squeeze", t_squeeze}, {"unsqueeze", t_unsqueeze},
    {"flatten", t_flatten}, {"contiguous", t_contiguous}, {"clone", t_clone}, {"detach", t_detach},
    {"to", t_to}, {"float", t_float}, {"double", t_double}, {"long", t_long}, {"fill", t_fill},
    {"copy", t_copy}, {"revgrad", t_revgrad}, {"release", t_release},
    {NULL, NULL}};

/* lua_close() dlcloses this library; that also unloads libgomp while its idle
 * worker threads still exist, and the process crashes at exit. Re-opening
 * ourselves with RTLD_NODELETE keeps the library (and libgomp) loaded. */
static void pin_library(void) {
  Dl_info info;
  if (dladdr((void *)pin_library, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

void lgL_open_tensor(lua_State *L) {
  pin_library();
  lua_newtable(L); /* the methods table, shared by all binding files */
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, METHODS);
  lua_setfield(L, -2, "Tensor");
  lgL_register_methods(L, methods);

  luaL_newmetatable(L, LGL_TENSOR);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &TENSOR_META_KEY);
  lua_getfield(L, LUA_REGISTRYINDEX, METHODS);
  lua_pushcclosure(L, t_index, 1);
  lua_setfield(L, -2, "__index");
  static const luaL_Reg meta[] = {{"__newindex", t_newindex}, {"__gc", t_release}, {"__close", t_release},
                                  {"__len", t_len}, {"__eq", t_eq_identity}, {NULL, NULL}};
  luaL_setfuncs(L, meta, 0);
  lua_setfield(L, -2, "metatable");
  lua_pushcfunction(L, l_tensor);
  lua_setfield(L, -2, "tensor");
  lua_pushcfunction(L, l_raise);
  lua_setfield(L, -2, "_raise");
  find_lib_prefix(L);
  lua_pushcfunction(L, l_detect_anomaly);
  lua_setfield(L, -2, "detect_anomaly");
  lua_pushcfunction(L, l_is_anomaly_enabled);
  lua_setfield(L, -2, "is_anomaly_enabled");
}
