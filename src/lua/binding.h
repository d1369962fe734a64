/* Helpers shared by the binding files in src/lua/: the Tensor userdata,
 * argument conversion with 1-based dims, and error raising. Only these files
 * include lua.h; the core (lg_*.c, ops/) never does. */
#ifndef LUA_LUNAGRAD_H
#define LUA_LUNAGRAD_H

#include <lauxlib.h>
#include <lua.h>

#include "lg.h"

#define LGL_TENSOR "lunagrad.Tensor"

/* Raises "<user's source:line>: <message>": the position is the first Lua frame
 * outside lunagrad's own Lua files (tensor.c's frame finder, also anomaly mode's),
 * so a bad call made inside nn.Linear or a loss module still blames the user's line.
 * Every error of the binding goes this way: luaL_error is this function here. */
int lgL_error(lua_State *L, const char *fmt, ...);
#define luaL_error lgL_error

/* The binding's one conversion from the Lua API's 1-based positions (dims, indices,
 * class labels) to the core's 0-based ones: v in [1, n] gives v - 1; with from_end,
 * v in [-n, -1] counts from the end (-1 is n - 1). Returns -1 when v is out of range;
 * the caller raises then, in the user's 1-based terms. */
static inline int64_t lgL_zero_based(int64_t v, int64_t n, bool from_end) {
  if (v >= 1 && v <= n) return v - 1;
  if (from_end && v < 0 && v >= -n) return v + n;
  return -1;
}

/* The tensor at idx (error if not a tensor, or released). */
lg_tensor *lgL_check(lua_State *L, int idx, const char *fn);
lg_tensor *lgL_test(lua_State *L, int idx); /* NULL if not a live tensor */
/* The value at idx as a tensor: a tensor, a number (0-d, dtype `like`) or a nested
 * table. Numbers and tables are converted in place on the stack (so the GC owns
 * them and an error later cannot leak). */
lg_tensor *lgL_totensor(lua_State *L, int idx, const char *fn, lg_dtype like);
/* Pushes a new reference as a Tensor (taking ownership), or raises
 * "lunagrad.<fn>: <lg_error()>" when t is NULL. Reports bytes to the GC. */
int lgL_push(lua_State *L, lg_tensor *t, const char *fn);
/* Raises "lunagrad.<fn>: <lg_error()>" (for int-returning core calls). */
int lgL_raise(lua_State *L, const char *fn);
/* A 1-based (or negative) dim argument converted to 0-based for a tensor of
 * ndim dims (ndim + 1 for unsqueeze-like positions). */
int lgL_dim(lua_State *L, int idx, int ndim, const char *fn);
int lgL_optdim(lua_State *L, int idx, int ndim, const char *fn, int def);
/* Shape from varargs (2, 3) or a table {2, 3}, starting at idx. Returns ndim; sets
 * *next to the index after the shape (where an options table may be). */
int lgL_shape(lua_State *L, int idx, int64_t *shape, const char *fn, int *next);
/* dtype from options table field "dtype" at idx (or def). */
lg_dtype lgL_optdtype(lua_State *L, int idx, lg_dtype def, const char *fn);
bool lgL_optbool(lua_State *L, int idx, const char *field, bool def);
/* Raises unless the value at idx is nil or a table whose keys are all among
 * `valid` (NULL-terminated); the message lists them (src/lua/options.c). */
void lgL_check_options(lua_State *L, int idx, const char *fn, const char *const *valid);
double lgL_number(lua_State *L, int idx, const char *fn, const char *what);
/* An integer argument (numbers with a fraction are an error naming `what`). */
lua_Integer lgL_integer(lua_State *L, int idx, const char *fn, const char *what);
/* A number as int64 for an int64 tensor: NaN, infinities and out-of-range values
 * are an error (a C cast would be undefined). */
int64_t lgL_int64(lua_State *L, int idx, const char *fn);
/* Anomaly mode: stamps t's new nodes with the user's line, fails on NaN/Inf (frames.c). */
void lgL_anomaly_forward(lua_State *L, lg_tensor *t, const char *fn);
/* The parts of lgL_open_tensor: frames.c (_raise, anomaly mode), convert.c
 * (lunagrad.tensor), views.c (view/copy/cast methods). */
void lgL_open_frames(lua_State *L);
void lgL_open_convert(lua_State *L);
void lgL_open_views(lua_State *L);

/* Adds functions to the Tensor method table; every method is also a module function
 * (lunagrad.core.exp(x) == x:exp()). Functions that are not Tensor methods (nn
 * kernels, losses, list ops such as cat) are set on the module table alone, on top
 * of the stack in the lgL_open_* hooks: luaL_setfuncs(L, fns, 0). */
void lgL_register_methods(lua_State *L, const luaL_Reg *fns);

/* Registration hooks of each binding file, called by luaopen_lunagrad_core
 * with the module table on top of the stack. */
void lgL_open_tensor(lua_State *L);
void lgL_open_autograd(lua_State *L); /* backward, grad, the registry's op list (autograd.c) */
void lgL_open_inplace(lua_State *L);  /* add_, mul_, copy_, ... (inplace.c) */
void lgL_open_create(lua_State *L);
void lgL_open_create_more(lua_State *L); /* *_like, eye, linspace, randint, multinomial (create_more.c) */
void lgL_open_math(lua_State *L);
void lgL_open_reduce(lua_State *L); /* max/min/argmax/softmax (lua_reduce.c) */
void lgL_open_linalg(lua_State *L); /* matmul, cat, stack, index (lua_linalg.c) */
void lgL_open_conv(lua_State *L);   /* conv2d, pooling (lua_conv.c) */
void lgL_open_nn(lua_State *L);     /* linear, batch_norm, dropout, losses (lua_nn.c) */
void lgL_open_rnn(lua_State *L);    /* the recurrent op, core.rnn (rnn.c) */
void lgL_open_io(lua_State *L);     /* safetensors save/load (lua_io.c) */
void lgL_open_data(lua_State *L);   /* IDX files and images (lua_data.c) */
void lgL_open_da(lua_State *L);     /* t-SNE and PCA kernels (lua_da.c) */
void lgL_open_optim(lua_State *L);  /* fused optimiser updates (lua_optim.c) */
void lgL_open_kernels(lua_State *L); /* core._sgemm, for specs (lua_kernels.c) */
void lgL_open_function(lua_State *L); /* core._function_record, for lunagrad.Function (function.c) */

#endif
