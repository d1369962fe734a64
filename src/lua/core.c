/* luaopen_lunagrad_core: builds the module from each binding file's functions.
 * The Tensor methods are also module functions: lg.exp(x) == x:exp(); the nn
 * kernels are module functions only. */
#include <unistd.h>

#include "lua/binding.h"
#define LG_C_API_DEFINE /* core._c_api: the core for other C modules (lua/c_api.h) */
#include "lua/c_api.h"

int luaopen_lunagrad_core(lua_State *L);

/* isatty(fd): is this stream a terminal? (progress bars redraw only there) */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

int luaopen_lunagrad_core(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_isatty);
  lua_setfield(L, -2, "isatty");
  lgL_open_tensor(L);
  lgL_open_autograd(L);
  lgL_open_inplace(L);
  lgL_open_create(L);
  lgL_open_create_more(L); /* *_like, eye, linspace, randint, multinomial, ... (create_more.c) */
  lgL_open_math(L);
  lgL_open_reduce(L);
  lgL_open_linalg(L);
  lgL_open_conv(L);
  lgL_open_nn(L);
  lgL_open_rnn(L); /* rnn.c */
  lgL_open_io(L);
  lgL_open_data(L);
  lgL_open_da(L);
  lgL_open_optim(L);
  lgL_open_kernels(L);
  lgL_open_c_api(L);
  lgL_open_function(L);
  { void lgL_open_clock(lua_State *L); lgL_open_clock(L); }             /* clock.c */
  { void lgL_open_image_write(lua_State *L); lgL_open_image_write(L); } /* image_write.c */
  { void lgL_open_rng(lua_State *L); lgL_open_rng(L); }                 /* rng.c */
  /* copy the methods into the module table */
  lua_getfield(L, -1, "Tensor");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  /* Only real Tensor methods stay on the Tensor: nn kernels are module functions
   * (lunagrad.core, nn.functional). nn.c and linalg.c register theirs on the module
   * alone; conv.c still registers conv2d and the pools as methods, so drop them. */
  static const char *const NOT_METHODS[] = {"conv2d", "max_pool2d", "avg_pool2d", NULL};
  for (int i = 0; NOT_METHODS[i]; i++) {
    lua_pushnil(L);
    lua_setfield(L, -2, NOT_METHODS[i]);
  }
  lua_pop(L, 1);
  return 1;
}
