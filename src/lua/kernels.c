/* lunagrad.core._sgemm: the AVX-512 sgemm behind float32 products and conv2d,
 * exposed so specs can check it against OpenBLAS directly and switch it off to
 * test the portable path (not a user API):
 *   available() -> bool     enable(bool)     gemm(a, b, c, ta, tb, alpha, beta, rows)
 * gemm computes c = alpha * op(a) op(b) + beta * c in place on contiguous 2-D
 * float32 tensors, single-threaded, with a packed or (`rows`, not ta) read in place. */
#include <stdlib.h>

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
  if (!lg_sgemm_available()) return luaL_error(L, FN ": no AVX-512 on this CPU (or disabled)");
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

void lgL_open_kernels(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"gemm", l_gemm}, {"available", l_available}, {"enable", l_enable}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setfield(L, -2, "_sgemm");
}
