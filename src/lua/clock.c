/* Wall clock and terminal size for the Lua side (progress bars, examples' timings).
 *   lg.clock()          seconds from clock_gettime(CLOCK_MONOTONIC): wall time that
 *                       never jumps back; os.clock() is CPU time (wrong with threads
 *                       or sleeps), os.time() has whole seconds.
 *   lg.term_width([fd]) columns of the terminal on fd (default 1, stdout) from
 *                       ioctl(TIOCGWINSZ), or nil when fd is not a terminal. */
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "lua/binding.h"

void lgL_open_clock(lua_State *L);

static int l_clock(lua_State *L) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return luaL_error(L, "lunagrad.clock: clock_gettime failed");
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int l_term_width(lua_State *L) {
  int fd = (int)luaL_optinteger(L, 1, 1);
  struct winsize ws;
  if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushinteger(L, ws.ws_col);
  return 1;
}

void lgL_open_clock(lua_State *L) {
  static const luaL_Reg fns[] = {{"clock", l_clock}, {"term_width", l_term_width}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
