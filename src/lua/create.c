/* lunagrad.core functions that make tensors or touch global state:
 * creation, random seeds, memory statistics, grad mode, threads.
 * The *_like functions, eye, linspace, randint, multinomial, bernoulli and uniform:
 * create_more.c. */
#include <math.h>

#include "core/internal.h"
#include "lua/binding.h"

/* An integer argument (an integral float such as 1e4 counts), with a lunagrad error. */
static lua_Integer int_arg(lua_State *L, int idx, const char *fn, const char *what) {
  int ok = 0;
  lua_Integer v = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &ok) : 0;
  if (!ok)
    luaL_error(L, "lunagrad.%s: %s must be an integer, got %s", fn, what,
               lua_type(L, idx) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, idx));
  return v;
}

/* The options of every creation function. */
static const char *const CREATE_KEYS[] = {"dtype", "requires_grad", NULL};

/* Pushes the tensor made (or raises), then sets requires_grad from the options at opts. */
static int push_created(lua_State *L, lg_tensor *t, int opts, const char *fn) {
  lgL_push(L, t, fn);
  if (lgL_optbool(L, opts, "requires_grad", false) && lg_set_requires_grad(lgL_test(L, -1), true))
    return lgL_raise(L, fn);
  return 1;
}

/* zeros/ones/empty(shape... [, opts]) */
static int create(lua_State *L, const char *fn, lg_tensor *(*make)(int, const int64_t *, lg_dtype)) {
  int64_t shape[LG_MAX_DIMS];
  int next, nd = lgL_shape(L, 1, shape, fn, &next);
  if (!lua_isnoneornil(L, next) && lua_type(L, next) != LUA_TTABLE)
    return luaL_error(L, "lunagrad.%s: sizes must be integers, got %s", fn, luaL_typename(L, next));
  lgL_check_options(L, next, fn, CREATE_KEYS);
  return push_created(L, make(nd, shape, lgL_optdtype(L, next, LG_F32, fn)), next, fn);
}

static int l_zeros(lua_State *L) { return create(L, "zeros", lg_zeros); }
static int l_ones(lua_State *L) { return create(L, "ones", lg_ones); }
static int l_empty(lua_State *L) { return create(L, "empty", lg_empty); }
static int l_rand(lua_State *L) { return create(L, "rand", lg_rand); }
static int l_randn(lua_State *L) { return create(L, "randn", lg_randn); }

/* full(shape, value [, opts]) with shape a table or leading integers: full(2, 3, 7.5) */
static int l_full(lua_State *L) {
  int64_t shape[LG_MAX_DIMS];
  int nd, value_idx;
  if (lua_type(L, 1) == LUA_TTABLE) {
    nd = lgL_shape(L, 1, shape, "full", &value_idx);
  } else {
    value_idx = 1;
    while (lua_type(L, value_idx + 1) == LUA_TNUMBER) value_idx++;
    lua_pushnil(L);
    lua_insert(L, value_idx); /* stop the shape reader before the value */
    int next;
    nd = lgL_shape(L, 1, shape, "full", &next);
    value_idx++;
  }
  double v = lgL_number(L, value_idx, "full", "fill value");
  lgL_check_options(L, value_idx + 1, "full", CREATE_KEYS);
  lg_dtype dtype = lgL_optdtype(L, value_idx + 1, LG_F32, "full");
  if (dtype == LG_I64 && !(v > -9223372036854775809.0 && v < 9223372036854775808.0))
    return luaL_error(L, "lunagrad.full: fill value %f cannot be converted to int64", v);
  return push_created(L, lg_full(nd, shape, v, dtype), value_idx + 1, "full");
}

/* arange(a, b [, step] [, opts]) or arange(b): half-open like PyTorch */
static int l_arange(lua_State *L) {
  int n = 0;
  double v[3];
  while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
    v[n] = lua_tonumber(L, n + 1);
    n++;
  }
  if (n == 0) return luaL_error(L, "lunagrad.arange: expects (end), (start, end) or (start, end, step) numbers");
  double start = n >= 2 ? v[0] : 0, end = n >= 2 ? v[1] : v[0], step = n == 3 ? v[2] : 1;
  bool all_int = true;
  for (int i = 1; i <= n; i++) all_int = all_int && lua_isinteger(L, i);
  lgL_check_options(L, n + 1, "arange", CREATE_KEYS);
  lg_dtype dtype = lgL_optdtype(L, n + 1, all_int ? LG_I64 : LG_F32, "arange");
  return push_created(L, lg_arange(start, end, step, dtype), n + 1, "arange");
}

static int l_randperm(lua_State *L) {
  lua_Integer n = int_arg(L, 1, "randperm", "n");
  if (n < 0 || n > ((lua_Integer)1 << 40))
    return luaL_error(L, "lunagrad.randperm: n must be in 0..2^40, got %I", n);
  /* 1-based like every index in the Lua API */
  lg_tensor *p = lg_randperm(n), *one_based = p ? lg_add_scalar(p, 1) : NULL;
  lg_release(p);
  return lgL_push(L, one_based, "randperm");
}

static int l_manual_seed(lua_State *L) {
  lg_manual_seed((uint64_t)int_arg(L, 1, "manual_seed", "seed"));
  return 0;
}

static int l_memory(lua_State *L) {
  lg_memory_stats m = lg_memory();
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, m.live_bytes);
  lua_setfield(L, -2, "live_bytes");
  lua_pushinteger(L, m.peak_bytes);
  lua_setfield(L, -2, "peak_bytes");
  lua_pushinteger(L, m.tensors);
  lua_setfield(L, -2, "tensors");
  lua_pushinteger(L, m.cached_bytes);
  lua_setfield(L, -2, "cached_bytes");
  return 1;
}

static int l_empty_cache(lua_State *L) {
  (void)L;
  lg_empty_cache();
  return 0;
}

static int l_set_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lg_set_grad_enabled(lua_toboolean(L, 1)));
  return 1;
}

static int l_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lg_grad_enabled());
  return 1;
}

static int l_set_num_threads(lua_State *L) {
  lua_Integer n = int_arg(L, 1, "set_num_threads", "n");
  if (n < 1 || n > 256)
    return luaL_error(L, "lunagrad.set_num_threads: n must be in 1..256, got %I", n);
  lg_set_num_threads((int)n);
  return 0;
}

static int l_get_num_threads(lua_State *L) {
  lua_pushinteger(L, lg_get_num_threads());
  return 1;
}

static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, LGL_TENSOR) != NULL);
  return 1;
}

void lgL_open_create(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty}, {"rand", l_rand}, {"randn", l_randn},
      {"full", l_full}, {"arange", l_arange}, {"randperm", l_randperm}, {"manual_seed", l_manual_seed},
      {"memory", l_memory}, {"empty_cache", l_empty_cache},
      {"set_grad_enabled", l_set_grad_enabled}, {"is_grad_enabled", l_is_grad_enabled},
      {"set_num_threads", l_set_num_threads}, {"get_num_threads", l_get_num_threads},
      {"is_tensor", l_is_tensor}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
