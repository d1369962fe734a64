/* Binding of t-SNE and PCA kernels. */
#include "lg_internal.h"
#include "lua_lunagrad.h"

void lgL_open_da(lua_State *L) {
  static const luaL_Reg fns[] = {{NULL, NULL}};
  lgL_register_methods(L, fns);
}
