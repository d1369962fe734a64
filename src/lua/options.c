/* Options tables: every key must be one the function knows, so a typo such as
 * {retain_grpah = true} is an error that names the valid keys, not a no-op. */
#include <string.h>

#include "lua/binding.h"

void lgL_check_options(lua_State *L, int idx, const char *fn, const char *const *valid) {
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) != LUA_TTABLE) {
    luaL_error(L, "lunagrad.%s: options must be a table, got %s", fn, luaL_typename(L, idx));
    return;
  }
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    bool known = false;
    for (int k = 0; key && valid[k] && !known; k++) known = strcmp(key, valid[k]) == 0;
    if (known) continue;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int k = 0; valid[k]; k++) {
      if (k) luaL_addstring(&b, ", ");
      luaL_addstring(&b, valid[k]);
    }
    luaL_pushresult(&b);
    if (key) luaL_error(L, "lunagrad.%s: unknown option '%s' (valid: %s)", fn, key, lua_tostring(L, -1));
    else luaL_error(L, "lunagrad.%s: options must have string keys (valid: %s)", fn, lua_tostring(L, -1));
  }
}
