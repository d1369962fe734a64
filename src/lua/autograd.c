/* Binding of autograd: x:backward, lunagrad.grad, leaves' grad state, and the
 * registry's op list for the specs (core._ops, core._op_call). */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

static const char *const BACKWARD_KEYS[] = {"retain_graph", "create_graph", NULL};
static const char *const GRAD_KEYS[] = {"grad_outputs", "retain_graph", "create_graph", "allow_unused", NULL};

/* An options table: string keys only, all of them known. */
static bool is_options(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || lgL_test(L, idx)) return false;
  lua_pushnil(L);
  bool strings = false;
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) strings = true;
  }
  return strings || lua_rawlen(L, idx) == 0;
}

/* x:backward([gradient] [, {retain_graph=, create_graph=}]) */
static int t_backward(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "backward");
  if (lua_gettop(L) == 1) { /* loss:backward(), the common call: nothing to parse */
    if (lg_backward_ex(t, NULL, false, false)) return lgL_raise(L, "backward");
    return 0;
  }
  int opts = 3;
  lg_tensor *g = NULL;
  if (is_options(L, 2)) {
    opts = 2;
  } else if (!lua_isnoneornil(L, 2)) {
    lua_settop(L, 3);
    g = lgL_totensor(L, 2, "backward", t->dtype);
  }
  lgL_check_options(L, opts, "backward", BACKWARD_KEYS);
  bool create = lgL_optbool(L, opts, "create_graph", false);
  bool retain = lgL_optbool(L, opts, "retain_graph", create);
  if (lg_backward_ex(t, g, retain, create)) return lgL_raise(L, "backward");
  return 0;
}

/* A tensor or a list of tensors at idx, into a new userdata-owned array on the
 * stack (so an error later frees it). `what` names the argument in messages. */
static lg_tensor **tensor_list(lua_State *L, int idx, int *n, const char *what) {
  if (lgL_test(L, idx)) {
    lg_tensor **one = lua_newuserdatauv(L, sizeof *one, 0);
    one[0] = lgL_test(L, idx);
    *n = 1;
    return one;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    luaL_error(L, "lunagrad.grad: %s must be a tensor or a list of tensors, got %s", what, luaL_typename(L, idx));
  *n = (int)lua_rawlen(L, idx);
  if (*n == 0) luaL_error(L, "lunagrad.grad: %s is an empty list", what);
  lg_tensor **list = lua_newuserdatauv(L, (size_t)*n * sizeof *list, 0);
  for (int k = 0; k < *n; k++) {
    lua_rawgeti(L, idx, k + 1);
    list[k] = lgL_test(L, -1);
    if (!list[k])
      luaL_error(L, "lunagrad.grad: %s[%d] must be a tensor, got %s", what, k + 1, luaL_typename(L, -1));
    lua_pop(L, 1); /* the list table keeps it alive */
  }
  return list;
}

/* lunagrad.grad(outputs, inputs [, {grad_outputs=, retain_graph=, create_graph=,
 * allow_unused=}]) -> {d outputs / d inputs[1], ...}, PyTorch's autograd.grad. */
static int l_grad(lua_State *L) {
  lua_settop(L, 3);
  lgL_check_options(L, 3, "grad", GRAD_KEYS);
  int n_out, n_in, n_go = 0;
  lg_tensor **outs = tensor_list(L, 1, &n_out, "outputs");
  lg_tensor **ins = tensor_list(L, 2, &n_in, "inputs");
  lg_tensor **gos = NULL;
  if (lua_type(L, 3) == LUA_TTABLE && lua_getfield(L, 3, "grad_outputs") != LUA_TNIL) {
    int at = lua_gettop(L);
    gos = tensor_list(L, at, &n_go, "grad_outputs");
    if (n_go != n_out)
      return luaL_error(L, "lunagrad.grad: %d grad_outputs for %d outputs (give one per output)", n_go, n_out);
  }
  lg_grad_options o = {.create_graph = lgL_optbool(L, 3, "create_graph", false),
                       .allow_unused = lgL_optbool(L, 3, "allow_unused", false)};
  o.retain_graph = lgL_optbool(L, 3, "retain_graph", o.create_graph);
  lg_tensor **results = lua_newuserdatauv(L, (size_t)n_in * sizeof *results, 0);
  if (lg_grad(outs, gos, n_out, ins, n_in, &o, results)) return lgL_raise(L, "grad");
  lua_createtable(L, n_in, 0);
  for (int k = 0; k < n_in; k++) { /* each push takes one result; none is left to leak */
    if (results[k]) lgL_push(L, results[k], "grad");
    else lua_pushnil(L);
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

static int t_zero_grad(lua_State *L) {
  lg_zero_grad(lgL_check(L, 1, "zero_grad"));
  return 0;
}

static int t_requires_grad_(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "requires_grad_");
  if (lg_set_requires_grad(t, lua_isnone(L, 2) ? true : lua_toboolean(L, 2))) return lgL_raise(L, "requires_grad_");
  lua_settop(L, 1);
  return 1;
}

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

/* ---- the registry, for the specs ------------------------------------------------ */

static const char *const KINDS[] = {"other", "unary", "binary"};
static const char *const DOMAINS[] = {"any", "pos", "unit", "away0", "awayc"};

/* core._ops() -> {{name=, kind=, params={...}, domain=}, ...} */
static int l_ops(lua_State *L) {
  lua_newtable(L);
  for (int k = 0; lg_registry[k]; k++) {
    const lg_op_info *op = lg_registry[k];
    lua_createtable(L, 0, 5);
    lua_pushstring(L, op->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, KINDS[op->kind]);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, DOMAINS[op->domain]);
    lua_setfield(L, -2, "domain");
    lua_createtable(L, op->n_params, 0);
    for (int p = 0; p < op->n_params; p++) {
      lua_pushnumber(L, op->samples[p]);
      lua_rawseti(L, -2, p + 1);
    }
    lua_setfield(L, -2, "params");
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

/* core._op_call(name, a [, b | c0 [, c1]]): an elementwise op by registry name. */
static int l_op_call(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (int k = 0; lg_registry[k]; k++) {
    const lg_op_info *op = lg_registry[k];
    if (strcmp(op->name, name) != 0) continue;
    if (!op->call) return luaL_error(L, "lunagrad._op_call: '%s' is not elementwise", name);
    lg_tensor *a = lgL_check(L, 2, "_op_call");
    if (op->kind == LG_KIND_BINARY) return lgL_push(L, op->call(a, lgL_check(L, 3, "_op_call"), 0, 0), name);
    return lgL_push(L, op->call(a, NULL, luaL_optnumber(L, 3, 0), luaL_optnumber(L, 4, 0)), name);
  }
  return luaL_error(L, "lunagrad._op_call: no op named '%s'", name);
}

void lgL_open_autograd(lua_State *L) {
  static const luaL_Reg methods[] = {{"backward", t_backward}, {"zero_grad", t_zero_grad},
                                     {"requires_grad_", t_requires_grad_}, {"revgrad", t_revgrad}, {NULL, NULL}};
  lgL_register_methods(L, methods);
  static const luaL_Reg fns[] = {{"grad", l_grad}, {"_ops", l_ops}, {"_op_call", l_op_call}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
