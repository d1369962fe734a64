/* The Tensor userdata: lifetime and GC accounting, properties (x.grad, x[i]),
 * metadata methods, metamethods, and the registration every binding file shares. */
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

int lgL_push(lua_State *L, lg_tensor *t, const char *fn) {
  if (!t) return lgL_raise(L, fn);
  tensor_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->t = NULL; /* safe empty state until the metatable is set */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &TENSOR_META_KEY); /* no string lookup: this runs once per op */
  lua_setmetatable(L, -2);
  u->t = t;
  report_to_gc(L);
  if (lg_anomaly_enabled() && lg_anomaly_pending(t)) lgL_anomaly_forward(L, t, fn); /* one branch when off */
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

/* ---- registration -------------------------------------------------------------- */

void lgL_register_methods(lua_State *L, const luaL_Reg *fns) {
  lua_getfield(L, LUA_REGISTRYINDEX, METHODS);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}

static const luaL_Reg methods[] = {
    {"shape", t_shape}, {"size", t_size}, {"stride", t_stride}, {"dim", t_dim}, {"numel", t_numel}, {"nelement", t_numel}, {"item", t_item}, {"totable", t_totable}, {"is_contiguous", t_is_contiguous}, {"storage_id", t_storage_id}, {"release", t_release},
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
  lgL_open_frames(L);
  lgL_open_convert(L);
  lgL_open_views(L);
}
