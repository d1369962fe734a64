/* Binding of max/min/argmax/softmax. Indices come back 1-based (int64). */
#include "core/internal.h"
#include "lua/binding.h"

/* Pushes idx + 1 (a new tensor, so the 0-based one the graph saved stays intact). */
static int push_one_based(lua_State *L, lg_tensor *idx, const char *fn) {
  lg_tensor *shifted = idx ? lg_add_scalar(idx, 1) : NULL;
  lg_release(idx);
  return lgL_push(L, shifted, fn);
}

/* x:max() -> 0-d max; x:max(d [, keepdim]) -> values, indices (1-based) */
static int extreme(lua_State *L, const char *fn, lg_tensor *(*all)(lg_tensor *),
                   int (*along)(lg_tensor *, int, bool, lg_tensor **, lg_tensor **)) {
  lg_tensor *t = lgL_check(L, 1, fn);
  if (lua_isnoneornil(L, 2)) return lgL_push(L, all(t), fn);
  int d = lgL_dim(L, 2, t->ndim, fn);
  lg_tensor *values, *indices;
  if (along(t, d, lua_toboolean(L, 3), &values, &indices)) return lgL_raise(L, fn);
  lgL_push(L, values, fn); /* the stack owns it now, so an error below cannot leak it */
  push_one_based(L, indices, fn);
  return 2;
}
static int m_max(lua_State *L) { return extreme(L, "max", lg_max_all, lg_max); }
static int m_min(lua_State *L) { return extreme(L, "min", lg_min_all, lg_min); }

/* x:argmax() -> 0-d flat index; x:argmax(d [, keepdim]); both 1-based */
static int m_argmax(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "argmax");
  int d = lua_isnoneornil(L, 2) ? LG_ALL_DIMS : lgL_dim(L, 2, t->ndim, "argmax");
  lg_tensor *idx = lg_argmax(t, d, lua_toboolean(L, 3));
  if (!idx) return lgL_raise(L, "argmax");
  return push_one_based(L, idx, "argmax");
}

static int normalise(lua_State *L, const char *fn, lg_tensor *(*f)(lg_tensor *, int)) {
  lg_tensor *t = lgL_check(L, 1, fn);
  if (lua_isnoneornil(L, 2))
    return luaL_error(L, "lunagrad.%s: dim is required (e.g. x:%s(-1) for the last dim)", fn, fn);
  return lgL_push(L, f(t, lgL_dim(L, 2, t->ndim, fn)), fn);
}
static int m_softmax(lua_State *L) { return normalise(L, "softmax", lg_softmax); }
static int m_log_softmax(lua_State *L) { return normalise(L, "log_softmax", lg_log_softmax); }

void lgL_open_reduce(lua_State *L) {
  static const luaL_Reg fns[] = {{"max", m_max}, {"min", m_min}, {"argmax", m_argmax},
                                 {"softmax", m_softmax}, {"log_softmax", m_log_softmax},
                                 {NULL, NULL}};
  lgL_register_methods(L, fns);
}
