/* The C half of lunagrad.Function (custom ops in Lua; the Lua half is
 * lua/lunagrad/function.lua): core._function_record records a Function's outputs
 * with lg_record_custom (core/custom.c), the node's state holding the Lua
 * "runner" (a closure over ctx and the user's backward) in the registry; the
 * rule calls it under lua_pcall and turns a Lua error into lg_fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

static const char RESULTS_META = 0; /* registry key of the results guard's metatable */

typedef struct {
  lua_State *L; /* the main thread: a node may be freed (and the callback run) from any coroutine */
  int ref;      /* the runner, in the registry */
  char name[];
} fn_state;

static void free_state(void *p) {
  fn_state *s = p;
  luaL_unref(s->L, LUA_REGISTRYINDEX, s->ref);
  free(s);
}

/* A list {t1, ..., n = n} of new Tensors for ts (nil holes for NULL entries). */
static void push_list(lua_State *L, lg_tensor *const *ts, int n) {
  lua_createtable(L, n, 1);
  for (int k = 0; k < n; k++) {
    if (!ts[k]) continue;
    lg_retain(ts[k]);
    lgL_push(L, ts[k], "Function");
    lua_rawseti(L, -2, k + 1);
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
}

static void edge_shape(const lg_edge *e, char *buf, size_t len) {
  size_t used = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < e->ndim && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, d ? ",%lld" : "%lld", (long long)e->shape[d]);
  if (used < len) snprintf(buf + used, len - used, "]");
}

/* A gradient may have the input's shape or one the input broadcasts to (the
 * engine sums it back), as PyTorch allows. */
static bool fits(const lg_tensor *g, const lg_edge *e) {
  if (g->ndim < e->ndim) return false;
  for (int d = 0; d < e->ndim; d++) {
    int64_t gs = g->shape[g->ndim - e->ndim + d];
    if (gs != e->shape[d] && e->shape[d] != 1) return false;
  }
  return true;
}

typedef struct {
  fn_state *s;
  const lg_custom_call *call;
} call_ctx;

/* Under lua_pcall: runner(grads, saved) -> {gradient or nil per argument}, the
 * count and types already checked by the runner; the shapes checked here. */
static int run_backward(lua_State *L) {
  call_ctx *c = lua_touserdata(L, 1);
  const lg_custom_call *call = c->call;
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->s->ref);
  push_list(L, call->grads, call->n_out);
  push_list(L, call->saved, call->n_saved);
  lua_call(L, 2, 1);
  luaL_checktype(L, -1, LUA_TTABLE);
  int res = lua_gettop(L);
  for (int i = 0; i < call->n_in; i++) {
    lua_rawgeti(L, res, i + 1);
    lg_tensor *g = lgL_test(L, -1);
    lua_pop(L, 1); /* the result table keeps it alive */
    const lg_edge *e = &call->node->inputs[i];
    if (!g || !e->needs_grad) continue;
    if (!fits(g, e)) {
      char gs[96], es[96];
      edge_shape(e, es, sizeof es);
      return luaL_error(L, "the gradient for argument %d has shape %s, but the argument has shape %s", i + 1,
                        lg_shape_str(g, gs, sizeof gs), es);
    }
    lg_retain(g);
    call->gin[i] = g; /* the core takes it (even if a later argument fails) */
  }
  return 0;
}

static int backward_cb(void *p, const lg_custom_call *call) {
  fn_state *s = p;
  lua_State *L = s->L;
  if (!lua_checkstack(L, 8)) return lg_failed("lunagrad.Function '%s' backward: Lua stack overflow", s->name);
  int top = lua_gettop(L);
  call_ctx c = {s, call};
  lua_pushcfunction(L, run_backward);
  lua_pushlightuserdata(L, &c);
  int rc = 0;
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    rc = lg_failed("lunagrad.Function '%s' backward: %s", s->name, msg ? msg : "(a non-string error)");
  }
  lua_settop(L, top);
  return rc;
}

/* Results not yet handed to Lua, released if an error comes first. */
typedef struct {
  int n;
  lg_tensor *t[];
} results_guard;

static int results_gc(lua_State *L) {
  results_guard *g = lua_touserdata(L, 1);
  for (int k = 0; k < g->n; k++) lg_release(g->t[k]), g->t[k] = NULL;
  return 0;
}

/* The tensors at t[1..n] (NULL for other values), into a GC-owned array. */
static lg_tensor **tensors_of(lua_State *L, int t, int n) {
  lg_tensor **list = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *list, 0);
  for (int k = 0; k < n; k++) {
    lua_rawgeti(L, t, k + 1);
    list[k] = lgL_test(L, -1);
    lua_pop(L, 1); /* the table keeps it alive */
  }
  return list;
}

static int count_arg(lua_State *L, int idx) {
  lua_Integer n = luaL_checkinteger(L, idx);
  luaL_argcheck(L, n >= 0 && n <= 100000, idx, "count out of range");
  return (int)n;
}

/* core._function_record(name, runner, n_in, inputs, n_out, outputs, n_saved, saved)
 * -> the outputs, tensors replaced by recorded aliases (function.lua calls it). */
static int l_function_record(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int n_in = count_arg(L, 3), n_out = count_arg(L, 5), n_saved = count_arg(L, 7);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 6, LUA_TTABLE);
  luaL_checktype(L, 8, LUA_TTABLE);
  lua_settop(L, 8);
  luaL_checkstack(L, n_out + 8, "too many outputs");
  lg_tensor **ins = tensors_of(L, 4, n_in), **outs = tensors_of(L, 6, n_out), **saved = tensors_of(L, 8, n_saved);
  results_guard *guard = lua_newuserdatauv(L, sizeof *guard + (size_t)n_out * sizeof(lg_tensor *), 0);
  guard->n = n_out;
  for (int k = 0; k < n_out; k++) guard->t[k] = NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &RESULTS_META);
  lua_setmetatable(L, -2);

  size_t len = strlen(name) + 1;
  lua_pushvalue(L, 2);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  fn_state *s = malloc(sizeof *s + len);
  if (!s) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, "lunagrad.Function '%s': out of memory", name);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  s->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  s->ref = ref;
  memcpy(s->name, name, len);
  /* from here the core owns s (it frees it on failure too) */
  if (lg_record_custom(name, backward_cb, s, free_state, ins, n_in, outs, n_out, saved, n_saved, guard->t))
    return luaL_error(L, "lunagrad.Function '%s': %s", name, lg_error());
  char label[160];
  snprintf(label, sizeof label, "Function '%s'", name);
  for (int k = 0; k < n_out; k++) {
    lg_tensor *t = guard->t[k];
    guard->t[k] = NULL;
    if (t) lgL_push(L, t, label); /* stamps the nodes' creation site in anomaly mode */
    else lua_rawgeti(L, 6, k + 1);
  }
  return n_out;
}

void lgL_open_function(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, results_gc);
  lua_setfield(L, -2, "__gc");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RESULTS_META);
  lua_pushcfunction(L, l_function_record);
  lua_setfield(L, -2, "_function_record");
}
