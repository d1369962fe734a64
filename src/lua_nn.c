/* Binding of linear, batch_norm, dropout and the losses. */
#include "lg_internal.h"
#include "lua_lunagrad.h"

void lgL_open_nn(lua_State *L) {
  static const luaL_Reg fns[] = {{NULL, NULL}};
  lgL_register_methods(L, fns);
}
