/* The generator's state (src/core/tensor.c), for checkpoints:
 *   lg.get_rng_state() -> a 4-element int64 tensor (xoshiro256**'s words, bit for bit)
 *   lg.set_rng_state(s)   restores it, so the next random numbers repeat exactly.
 * Like PyTorch's torch.get_rng_state: a tensor, so lg.save writes it as an entry. */
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

static int l_get_rng_state(lua_State *L) {
  uint64_t words[4];
  lg_get_rng_state(words);
  int64_t n = 4;
  lg_tensor *t = lg_empty(1, &n, LG_I64);
  if (!t) return lgL_raise(L, "get_rng_state");
  memcpy(lg_data_ptr(t), words, sizeof words);
  return lgL_push(L, t, "get_rng_state");
}

static int l_set_rng_state(lua_State *L) {
  lg_tensor *t = lgL_test(L, 1);
  if (!t)
    return luaL_error(L, "lunagrad.set_rng_state: expects the tensor from lg.get_rng_state(), got %s",
                      luaL_typename(L, 1));
  if (t->dtype != LG_I64 || t->ndim != 1 || t->shape[0] != 4)
    return luaL_error(L, "lunagrad.set_rng_state: expects a 4-element 1-d int64 tensor (from lg.get_rng_state()), "
                      "got a %dd %s tensor of %d elements", t->ndim, lg_dtype_name(t->dtype), (int)lg_numel(t));
  const int64_t *p = lg_data_ptr(t);
  uint64_t words[4];
  for (int i = 0; i < 4; i++) words[i] = (uint64_t)p[i * t->stride[0]];
  if (lg_set_rng_state(words)) return lgL_raise(L, "set_rng_state");
  return 0;
}

void lgL_open_rng(lua_State *L);
void lgL_open_rng(lua_State *L) {
  lua_pushcfunction(L, l_get_rng_state);
  lua_setfield(L, -2, "get_rng_state");
  lua_pushcfunction(L, l_set_rng_state);
  lua_setfield(L, -2, "set_rng_state");
}
