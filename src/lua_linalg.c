/* Binding of matmul, cat, stack, index. */
#include "lg_internal.h"
#include "lua_lunagrad.h"

void lgL_open_linalg(lua_State *L) {
  static const luaL_Reg fns[] = {{NULL, NULL}};
  lgL_register_methods(L, fns);
}
