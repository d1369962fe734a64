/* lunagrad.env: loaded by `require 'lunagrad'` BEFORE the core, to set the OpenMP
 * wait policy while libgomp is not yet in the process (it reads its environment
 * once, when the core library pulls it in).
 *
 * Why: libgomp's idle workers spin after every parallel region; on 2 cores they
 * fight OpenBLAS's threads and made a Linear forward+backward loop 20x slower with
 * 2 threads than with 1 (6.3 s vs 0.3 s; passive: 0.13 s). A user's own
 * OMP_WAIT_POLICY is kept. */
#include <stdlib.h>

#include <lua.h>

int luaopen_lunagrad_env(lua_State *L);

int luaopen_lunagrad_env(lua_State *L) {
  setenv("OMP_WAIT_POLICY", "passive", 0);
  lua_pushstring(L, getenv("OMP_WAIT_POLICY"));
  return 1;
}
