/* Binding of the fused optimiser updates, as lunagrad.core._optim (used by
 * lunagrad.optim; not Tensor methods). */
#include "core/internal.h"
#include "lua/binding.h"

/* sgd_update(p, g, buf_or_nil, {lr=, momentum=, dampening=, weight_decay=, nesterov=,
 * maximize=, first=}) */
static int l_sgd_update(lua_State *L) {
  lg_tensor *p = lgL_check(L, 1, "optim.SGD");
  lg_tensor *g = lgL_check(L, 2, "optim.SGD");
  lg_tensor *buf = lua_isnil(L, 3) ? NULL : lgL_check(L, 3, "optim.SGD");
  luaL_checktype(L, 4, LUA_TTABLE);
  lg_sgd_options o = {0};
  const char *numbers[] = {"lr", "momentum", "dampening", "weight_decay"};
  double *slots[] = {&o.lr, &o.momentum, &o.dampening, &o.weight_decay};
  for (int i = 0; i < 4; i++) {
    lua_getfield(L, 4, numbers[i]);
    *slots[i] = lua_isnil(L, -1) ? 0 : lgL_number(L, -1, "optim.SGD", numbers[i]);
    lua_pop(L, 1);
  }
  o.nesterov = lgL_optbool(L, 4, "nesterov", false);
  o.maximize = lgL_optbool(L, 4, "maximize", false);
  o.first = lgL_optbool(L, 4, "first", false);
  if (lg_sgd_update(p, g, buf, &o)) return lgL_raise(L, "optim.SGD");
  return 0;
}

void lgL_open_optim(lua_State *L) {
  static const luaL_Reg fns[] = {{"sgd_update", l_sgd_update}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setfield(L, -2, "_optim");
}
