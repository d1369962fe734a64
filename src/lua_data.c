/* Binding of IDX files and image decoding. */
#include "lg_internal.h"
#include "lua_lunagrad.h"

void lgL_open_data(lua_State *L) {
  static const luaL_Reg fns[] = {{NULL, NULL}};
  lgL_register_methods(L, fns);
}
