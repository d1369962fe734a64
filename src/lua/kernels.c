/* lunagrad.core.config() (lg.config): the ISA path, threads and BLAS in use.
 * lunagrad.core._set_isa(name) / core._isas(): switch the sgemm path at run
 * time and list the paths this CPU runs (specs run on each; not a user API).
 * lunagrad.core._fma_peak(isa, threads, seconds) -> GFLOP/s (the benchmark).
 * lunagrad.core._sgemm: the sgemm behind float32 products and conv2d (on the
 * path in use), exposed so specs can check it against OpenBLAS directly and
 * switch it off to test the generic path (not a user API):
 *   available() -> bool     enable(bool)     gemm(a, b, c, ta, tb, alpha, beta, rows)
 * gemm computes c = alpha * op(a) op(b) + beta * c in place on contiguous 2-D
 * float32 tensors, single-threaded, with a packed or (`rows`, not ta) read in place. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

#define FN "core._sgemm.gemm"

static lg_tensor *matrix(lua_State *L, int idx, int64_t *rows, int64_t *cols) {
  lg_tensor *t = lgL_check(L, idx, FN);
  if (t->dtype != LG_F32 || t->ndim != 2 || !lg_is_contiguous(t))
    luaL_error(L, FN ": argument #%d must be a contiguous 2-D float32 tensor", idx);
  *rows = t->shape[0];
  *cols = t->shape[1];
  return t;
}

static int l_gemm(lua_State *L) {
  int64_t ar, ac, br, bc, m, n;
  lg_tensor *a = matrix(L, 1, &ar, &ac), *b = matrix(L, 2, &br, &bc), *c = matrix(L, 3, &m, &n);
  bool ta = lua_toboolean(L, 4), tb = lua_toboolean(L, 5);
  float alpha = (float)luaL_optnumber(L, 6, 1), beta = (float)luaL_optnumber(L, 7, 0);
  bool in_place = lua_toboolean(L, 8);
  if (in_place && ta) return luaL_error(L, FN ": A read in place cannot be transposed");
  int64_t k = ta ? ar : ac;
  if ((ta ? ac : ar) != m || (tb ? bc : br) != k || (tb ? br : bc) != n)
    return luaL_error(L, FN ": shapes do not match");
  if (!lg_sgemm_available())
    return luaL_error(L, FN ": no sgemm kernel of ours on this path (generic, or disabled)");
  float *packed = malloc(sizeof(float) * (size_t)(lg_sgemm_packed_a_size(m, k) + 1));
  float *work = malloc(sizeof(float) * (size_t)(lg_sgemm_work_size(n, k) + 1));
  if (packed && work) {
    if (in_place) {
      lg_sgemm_serial_rows(m, n, k, alpha, lg_data_ptr(a), ac, tb, lg_data_ptr(b), bc, beta,
                           lg_data_ptr(c), n, work);
    } else {
      lg_sgemm_pack_a(ta, m, k, lg_data_ptr(a), ac, packed);
      lg_sgemm_serial(m, n, k, alpha, packed, tb, lg_data_ptr(b), bc, beta, lg_data_ptr(c), n,
                      work);
    }
  }
  free(packed);
  free(work);
  if (!packed || !work) return luaL_error(L, FN ": out of memory");
  return 0;
}

static int l_available(lua_State *L) {
  lua_pushboolean(L, lg_sgemm_available());
  return 1;
}

static int l_enable(lua_State *L) {
  lg_sgemm_set_enabled(lua_toboolean(L, 1));
  return 0;
}

static int l_isa(lua_State *L) {
  lua_pushstring(L, lg_sgemm_isa());
  return 1;
}

static int l_config(lua_State *L) {
  lua_createtable(L, 0, 5);
  lua_pushstring(L, lg_sgemm_isa());
  lua_setfield(L, -2, "isa");
  lua_pushinteger(L, lg_get_num_threads());
  lua_setfield(L, -2, "threads");
  lua_pushstring(L, lg_blas_info());
  lua_setfield(L, -2, "blas");
  lua_pushinteger(L, lg_blas_get_threads());
  lua_setfield(L, -2, "blas_threads");
#ifdef _OPENMP
  lua_pushboolean(L, 1);
#else
  lua_pushboolean(L, 0);
#endif
  lua_setfield(L, -2, "openmp");
  return 1;
}

static const char *const ISAS[] = {"avx512", "avx2", "generic"};

static int l_set_isa(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  int rc = lg_sgemm_set_isa(name);
  if (rc == -1)
    return luaL_error(L, "lunagrad._set_isa: unknown ISA '%s' (avx512, avx2 or generic)", name);
  if (rc == -2) return luaL_error(L, "lunagrad._set_isa: this CPU cannot run the %s kernels", name);
  return 0;
}

/* The paths this CPU runs, best first (generic always last). */
static int l_isas(lua_State *L) {
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < sizeof ISAS / sizeof *ISAS; i++)
    if (lg_sgemm_isa_supported(ISAS[i])) {
      lua_pushstring(L, ISAS[i]);
      lua_rawseti(L, -2, ++n);
    }
  return 1;
}

static int l_fma_peak(lua_State *L) {
  const char *isa = luaL_checkstring(L, 1);
  int threads = (int)luaL_optinteger(L, 2, 1);
  double seconds = luaL_optnumber(L, 3, 0.2);
  double gflops = lg_fma_peak(isa, threads, seconds);
  if (gflops < 0) lua_pushnil(L);
  else lua_pushnumber(L, gflops);
  return 1;
}

void lgL_open_kernels(lua_State *L) {
  static const luaL_Reg fns[] = {{"gemm", l_gemm}, {"available", l_available},
                                 {"enable", l_enable}, {"isa", l_isa}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setfield(L, -2, "_sgemm");
  static const luaL_Reg core_fns[] = {{"config", l_config}, {"_set_isa", l_set_isa},
                                      {"_isas", l_isas}, {"_fma_peak", l_fma_peak}, {NULL, NULL}};
  luaL_setfuncs(L, core_fns, 0);
}
