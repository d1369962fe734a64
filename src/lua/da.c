/* Binding of the t-SNE and PCA kernels (src/da/embed.c). They live in the
 * subtable lunagrad.core._da rather than among the Tensor methods: the user-facing
 * API is lunagrad.da.tsne / da.pca (lua/lunagrad/da), which checks options first. */
#include <math.h>

#include "da/embed.h"
#include "lua/binding.h"

static double field_number(lua_State *L, int opts, const char *name, double def, const char *fn) {
  if (lua_isnoneornil(L, opts)) return def;
  lua_getfield(L, opts, name);
  double v = def;
  if (!lua_isnil(L, -1)) {
    if (!lua_isnumber(L, -1))
      luaL_error(L, "lunagrad.%s: option %s must be a number, got %s", fn, name, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static int field_int(lua_State *L, int opts, const char *name, int def, const char *fn) {
  double v = field_number(L, opts, name, def, fn);
  if (v != floor(v) || v < -2147483647.0 || v > 2147483647.0)
    luaL_error(L, "lunagrad.%s: option %s must be an integer, got %g", fn, name, v);
  return (int)v;
}

/* _da.tsne(x [, {dims=, perplexity=, iterations=, learning_rate=, early_exaggeration=,
 *   exaggeration_iters=, momentum=, final_momentum=, seed=}]) -> y, kl */
static int l_tsne(lua_State *L) {
  const char *fn = "da.tsne";
  lg_tensor *x = lgL_check(L, 1, fn);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lg_tsne_opts o;
  lg_tsne_default_opts(&o);
  o.dims = field_int(L, 2, "dims", o.dims, fn);
  o.perplexity = field_number(L, 2, "perplexity", o.perplexity, fn);
  o.iterations = field_int(L, 2, "iterations", o.iterations, fn);
  o.learning_rate = field_number(L, 2, "learning_rate", o.learning_rate, fn);
  o.early_exaggeration = field_number(L, 2, "early_exaggeration", o.early_exaggeration, fn);
  o.exaggeration_iters = field_int(L, 2, "exaggeration_iters", o.exaggeration_iters, fn);
  o.momentum = field_number(L, 2, "momentum", o.momentum, fn);
  o.final_momentum = field_number(L, 2, "final_momentum", o.final_momentum, fn);
  if (!lua_isnoneornil(L, 2)) {
    lua_getfield(L, 2, "seed");
    if (!lua_isnil(L, -1)) {
      if (!lua_isinteger(L, -1))
        return luaL_error(L, "lunagrad.%s: option seed must be an integer, got %s", fn, luaL_typename(L, -1));
      o.use_seed = true;
      o.seed = (uint64_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  double kl = NAN;
  lgL_push(L, lg_tsne(x, &o, &kl), fn);
  lua_pushnumber(L, kl);
  return 2;
}

/* _da.pca(x, k) -> projected, components, variance, ratio, mean */
static int l_pca(lua_State *L) {
  const char *fn = "da.pca";
  lg_tensor *x = lgL_check(L, 1, fn);
  lua_Integer k = luaL_checkinteger(L, 2);
  if (k < 1 || k > 2147483647) return luaL_error(L, "lunagrad.%s: k must be a positive integer, got %d", fn, (int)k);
  lg_pca_result r;
  if (lg_pca(x, (int)k, &r)) return lgL_raise(L, fn);
  /* each push takes ownership; the pointers are cleared as they go so nothing leaks */
  lg_tensor *parts[5] = {r.projected, r.components, r.variance, r.ratio, r.mean};
  for (int i = 0; i < 5; i++) {
    if (!lua_checkstack(L, 1)) {
      for (int j = i; j < 5; j++) lg_release(parts[j]);
      return luaL_error(L, "lunagrad.%s: Lua stack overflow", fn);
    }
    lgL_push(L, parts[i], fn);
  }
  return 5;
}

void lgL_open_da(lua_State *L) {
  static const luaL_Reg fns[] = {{"tsne", l_tsne}, {"pca", l_pca}, {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, -2, "_da");
}
