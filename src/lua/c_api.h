/* The core's C API for other Lua C modules (lunagrad.distributed_mpi today).
 *
 * Why a table of function pointers: Lua loads C modules with dlopen(RTLD_LOCAL),
 * so lunagrad/core.so's symbols (lg_*, lgL_*) are invisible to a module loaded
 * after it. Linking such a module against core.so instead would tie it to one
 * install path (build/, a LuaRocks tree) and could load a second copy of the core,
 * with its own tensors, allocator and autograd hook, if the paths differ. The
 * core therefore puts a pointer to one static lg_c_api in its module table,
 * `lunagrad.core._c_api` (a light userdata); a module requires lunagrad.core,
 * checks `version` and `size`, and calls through the table. Modules see the core's
 * public types (src/lg.h) but no symbol of it, and the core knows nothing of them
 * (it never includes mpi.h).
 *
 * Compatibility: fields are only ever appended; `version` is bumped when one is
 * added, so a module built against version N runs on a core >= N.
 */
#ifndef LG_C_API_H
#define LG_C_API_H

#include <lua.h>

#include "lg.h"

#define LG_C_API_VERSION 1

typedef struct lg_c_api {
  int version;  /* LG_C_API_VERSION of the core */
  size_t size;  /* sizeof(lg_c_api) of the core */
  /* Lua side (src/lua/binding.h): a live tensor argument or a Lua error; NULL if
   * not a tensor; push a new reference as a Tensor (raises "lunagrad.<fn>: ..." on NULL). */
  lg_tensor *(*check)(lua_State *L, int idx, const char *fn);
  lg_tensor *(*test)(lua_State *L, int idx);
  int (*push)(lua_State *L, lg_tensor *t, const char *fn);
  /* core (src/lg.h) */
  void (*retain)(lg_tensor *t);
  void (*release)(lg_tensor *t);
  lg_tensor *(*empty)(int ndim, const int64_t *shape, lg_dtype dtype);
  lg_tensor *(*zeros)(int ndim, const int64_t *shape, lg_dtype dtype);
  lg_tensor *(*contiguous)(lg_tensor *t);
  int64_t (*numel)(const lg_tensor *t);
  bool (*is_contiguous)(const lg_tensor *t);
  void *(*data_ptr)(const lg_tensor *t);
  size_t (*dtype_size)(lg_dtype d);
  const char *(*dtype_name)(lg_dtype d);
  const char *(*shape_str)(const lg_tensor *t, char *buf, size_t len);
  const char *(*error)(void);
  void (*set_grad_ready_hook)(lg_grad_ready_fn fn, void *ud);
} lg_c_api;

/* Defined by core.c only (LG_C_API_DEFINE): sets module_table._c_api, the module
 * table being on top of the stack. */
#ifdef LG_C_API_DEFINE
static void lgL_open_c_api(lua_State *L) {
  static const lg_c_api api = {
      LG_C_API_VERSION, sizeof(lg_c_api), lgL_check, lgL_test, lgL_push, lg_retain, lg_release, lg_empty, lg_zeros,
      lg_contiguous, lg_numel, lg_is_contiguous, lg_data_ptr, lg_dtype_size, lg_dtype_name, lg_shape_str, lg_error,
      lg_set_grad_ready_hook,
  };
  lua_pushlightuserdata(L, (void *)&api);
  lua_setfield(L, -2, "_c_api");
}
#endif

#endif
