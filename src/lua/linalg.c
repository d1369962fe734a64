/* Binding of matmul, cat, stack and index (1-based indices, converted here), and
 * of the internal backward ops the registry specs call (core._name). */
#include <limits.h>

#include "lua/binding.h"
#include "ops/rules.h"

/* x:matmul(y) / lunagrad.matmul(a, b); b may be a number table like other ops. */
static int l_matmul(lua_State *L) {
  lg_tensor *a = lgL_check(L, 1, "matmul");
  lua_settop(L, 2);
  lg_tensor *b = lgL_totensor(L, 2, "matmul", a->dtype);
  return lgL_push(L, lg_matmul(a, b), "matmul");
}

/* The tensors of the list at idx 1, in a userdata array the GC owns (the list
 * keeps the tensors alive during the call). */
static lg_tensor **tensor_list(lua_State *L, const char *fn, int *n) {
  lua_settop(L, 2); /* the array goes to index 3 */
  if (lua_type(L, 1) != LUA_TTABLE)
    luaL_error(L, "lunagrad.%s: bad argument #1 (list of tensors expected, got %s)", fn,
               luaL_typename(L, 1));
  lua_Integer len = (lua_Integer)lua_rawlen(L, 1);
  if (len == 0) luaL_error(L, "lunagrad.%s: expected a non-empty list of tensors", fn);
  if (len > INT_MAX / 2) luaL_error(L, "lunagrad.%s: list of %d tensors is too long", fn, (int)len);
  lg_tensor **ts = lua_newuserdatauv(L, (size_t)len * sizeof *ts, 0);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, 1, i);
    if (!(ts[i - 1] = lgL_test(L, -1))) {
      if (luaL_testudata(L, -1, LGL_TENSOR)) lgL_check(L, -1, fn); /* released: raises */
      luaL_error(L, "lunagrad.%s: list element %d is a %s, expected a Tensor", fn, (int)i,
                 luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
  *n = (int)len;
  return ts;
}

/* lunagrad.cat(list [, d = 1]) */
static int l_cat(lua_State *L) {
  int n;
  lg_tensor **ts = tensor_list(L, "cat", &n);
  int d = lgL_optdim(L, 2, ts[0]->ndim, "cat", 0);
  return lgL_push(L, lg_cat(ts, n, d), "cat");
}

/* lunagrad.stack(list [, d = 1]); d may be ndim + 1 (a new last dim). */
static int l_stack(lua_State *L) {
  int n;
  lg_tensor **ts = tensor_list(L, "stack", &n);
  int d = lgL_optdim(L, 2, ts[0]->ndim + 1, "stack", 0);
  return lgL_push(L, lg_stack(ts, n, d), "stack");
}

/* x:index(d, idx): idx an int64 tensor or a table of 1-based integers. */
static int l_index(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "index");
  if (t->ndim == 0) return luaL_error(L, "lunagrad.index: cannot index a 0-d tensor");
  int d = lgL_dim(L, 2, t->ndim, "index");
  int64_t size = t->shape[d], n;
  lg_tensor *given = lgL_test(L, 3);
  const int64_t *gp = NULL;
  int64_t gstep = 0;
  if (given) {
    if (given->dtype != LG_I64)
      return luaL_error(L, "lunagrad.index: index tensor must be int64, got %s (use :long())",
                        lg_dtype_name(given->dtype));
    if (given->ndim > 1)
      return luaL_error(L, "lunagrad.index: index tensor must be 1-d, got %d dims", given->ndim);
    n = lg_numel(given);
    gp = lg_data_ptr(given);
    gstep = given->ndim ? given->stride[0] : 0;
  } else if (lua_type(L, 3) == LUA_TTABLE) {
    n = (int64_t)lua_rawlen(L, 3);
  } else {
    if (luaL_testudata(L, 3, LGL_TENSOR)) lgL_check(L, 3, "index"); /* released: raises */
    return luaL_error(L, "lunagrad.index: indices must be an int64 tensor or a table of integers, got %s",
                      luaL_typename(L, 3));
  }
  lgL_push(L, lg_empty(1, &n, LG_I64), "index"); /* 0-based copy, owned by the GC */
  int64_t *zp = lg_data_ptr(lgL_test(L, -1));
  for (int64_t j = 0; j < n; j++) {
    lua_Integer v;
    if (gp) {
      v = (lua_Integer)gp[j * gstep];
    } else {
      int isint;
      lua_rawgeti(L, 3, (lua_Integer)j + 1);
      v = lua_tointegerx(L, -1, &isint);
      if (!isint || lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "lunagrad.index: index table holds a %s at position %d, expected an integer",
                          lua_type(L, -1) == LUA_TNUMBER ? "fraction" : luaL_typename(L, -1), (int)j + 1);
      lua_pop(L, 1);
    }
    if ((zp[j] = lgL_zero_based(v, size, false)) < 0)
      return luaL_error(L, "lunagrad.index: index %I out of range for dim %d of size %I",
                        v, d + 1, (lua_Integer)size);
  }
  return lgL_push(L, lg_index_select(t, d, lgL_test(L, -1)), "index");
}

/* ---- backward ops, for the registry specs: core._gather(x, d, index),
 * core._scatter_to(g, d, index, shape), core._index_add_to(g, d, index, shape),
 * core._slice_backward(g, shape, d [, first, last, step]); dims and indices 1-based. */

/* The int64 index at idx, 0-based (a new tensor on the stack, owned by the GC). */
static lg_tensor *zero_based_index(lua_State *L, int idx, const char *fn) {
  lg_tensor *index = lgL_check(L, idx, fn);
  if (index->dtype != LG_I64)
    luaL_error(L, "lunagrad.%s: index must be an int64 tensor, got %s", fn, lg_dtype_name(index->dtype));
  lgL_push(L, lg_add_scalar(index, -1), fn);
  return lgL_test(L, -1);
}

static int to_shape(lua_State *L, int idx, int64_t *shape, const char *fn) {
  int next;
  luaL_checktype(L, idx, LUA_TTABLE);
  return lgL_shape(L, idx, shape, fn, &next);
}

static int l_gather(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "_gather");
  int d = lgL_dim(L, 2, x->ndim, "_gather");
  return lgL_push(L, lg_gather(x, d, zero_based_index(L, 3, "_gather")), "_gather");
}

static int l_scatter_to(lua_State *L) {
  lg_tensor *g = lgL_check(L, 1, "_scatter_to");
  int64_t shape[LG_MAX_DIMS];
  int ndim = to_shape(L, 4, shape, "_scatter_to");
  int d = lgL_dim(L, 2, ndim, "_scatter_to");
  return lgL_push(L, lg_scatter_to(g, d, zero_based_index(L, 3, "_scatter_to"), ndim, shape), "_scatter_to");
}

static int l_index_add_to(lua_State *L) {
  lg_tensor *g = lgL_check(L, 1, "_index_add_to");
  int64_t shape[LG_MAX_DIMS];
  int ndim = to_shape(L, 4, shape, "_index_add_to");
  int d = lgL_dim(L, 2, ndim, "_index_add_to");
  return lgL_push(L, lg_index_add_to(g, d, zero_based_index(L, 3, "_index_add_to"), ndim, shape),
                  "_index_add_to");
}

/* first..last (inclusive, 1-based, negative from the end) as in x:slice */
static int l_slice_backward(lua_State *L) {
  lg_tensor *g = lgL_check(L, 1, "_slice_backward");
  int64_t shape[LG_MAX_DIMS];
  int ndim = to_shape(L, 2, shape, "_slice_backward");
  if (ndim == 0) return luaL_error(L, "lunagrad._slice_backward: cannot slice a 0-d tensor");
  int d = lgL_dim(L, 3, ndim, "_slice_backward");
  lua_Integer size = (lua_Integer)shape[d];
  lua_Integer first = luaL_optinteger(L, 4, 1), last = luaL_optinteger(L, 5, -1), step = luaL_optinteger(L, 6, 1);
  if (first < 0) first += size + 1;
  if (last < 0) last += size + 1;
  int64_t start = first - 1, stop = last < first ? start : last;
  return lgL_push(L, lg_slice_backward(g, d, start, stop, step, ndim, shape), "_slice_backward");
}

void lgL_open_linalg(lua_State *L) {
  static const luaL_Reg methods[] = {{"matmul", l_matmul}, {"index", l_index}, {NULL, NULL}};
  lgL_register_methods(L, methods);
  static const luaL_Reg fns[] = {{"cat", l_cat}, {"stack", l_stack}, {NULL, NULL}}; /* take a list: no methods */
  luaL_setfuncs(L, fns, 0);
  static const luaL_Reg internal[] = {{"_gather", l_gather}, {"_scatter_to", l_scatter_to},
                                      {"_index_add_to", l_index_add_to}, {"_slice_backward", l_slice_backward},
                                      {NULL, NULL}};
  luaL_setfuncs(L, internal, 0);
}
