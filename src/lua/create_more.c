/* More creation functions (issue 12 item 1), PyTorch's names and semantics with the
 * Lua API's 1-based conventions and a trailing options table {dtype=, requires_grad=}:
 *   zeros_like ones_like empty_like rand_like randn_like (x [, opts]), full_like(x, v [, opts])
 *   eye(n [, m] [, opts]), linspace(a, b, n [, opts]), logspace(a, b, n [, base] [, opts])
 *   randint(lo, hi, shape [, opts])   lo..hi INCLUSIVE (Lua style), int64 by default
 *   multinomial(p, n [, replacement]) 1-based category indices, rows of a 2-d p independently
 *   bernoulli(p [, opts]) / bernoulli(prob, shape [, opts])
 * Every random draw comes from lunagrad's generator (lg_random_uniform), so
 * lg.manual_seed reproduces the results. */
#include <math.h>
#include <stdlib.h>

#include "core/internal.h"
#include "lua/binding.h"

static const char *const CREATE_KEYS[] = {"dtype", "requires_grad", NULL};

static int push_made(lua_State *L, lg_tensor *t, int opts, const char *fn) {
  lgL_push(L, t, fn);
  if (lgL_optbool(L, opts, "requires_grad", false) && lg_set_requires_grad(lgL_test(L, -1), true))
    return lgL_raise(L, fn);
  return 1;
}

/* Writes v (already in the dtype's range) at flat position i of a contiguous tensor. */
static void put(lg_tensor *t, int64_t i, double v) {
  void *p = lg_data_ptr(t);
  switch (t->dtype) {
  case LG_F32: ((float *)p)[i] = (float)v; break;
  case LG_F64: ((double *)p)[i] = v; break;
  default: ((int64_t *)p)[i] = (int64_t)v; break;
  }
}

/* Element i (row-major) of any tensor, strided. */
static double get_flat(const lg_tensor *t, int64_t i) {
  int64_t idx[LG_MAX_DIMS];
  for (int d = t->ndim - 1; d >= 0; d--) {
    idx[d] = t->shape[d] ? i % t->shape[d] : 0;
    i = t->shape[d] ? i / t->shape[d] : 0;
  }
  return lg_get(t, idx);
}

/* ---- *_like ------------------------------------------------------------------ */
static int like(lua_State *L, const char *fn, int kind) {
  lg_tensor *x = lgL_check(L, 1, fn);
  int opts = kind == 5 ? 3 : 2;
  double v = kind == 5 ? lgL_number(L, 2, fn, "fill value") : 0;
  if (!lua_isnoneornil(L, opts + 1))
    return luaL_error(L, "lunagrad.%s: expects (x%s [, opts]), got an extra %s argument", fn,
                      kind == 5 ? ", value" : "", luaL_typename(L, opts + 1));
  lgL_check_options(L, opts, fn, CREATE_KEYS);
  lg_dtype dt = lgL_optdtype(L, opts, x->dtype, fn);
  if ((kind == 3 || kind == 4) && dt == LG_I64)
    return luaL_error(L, "lunagrad.%s: expects a float dtype (int64 has no %s; use lg.randint)", fn,
                      kind == 3 ? "uniform draws" : "normal draws");
  if (kind == 5 && dt == LG_I64 && !(v > -9223372036854775809.0 && v < 9223372036854775808.0))
    return luaL_error(L, "lunagrad.%s: fill value %f cannot be converted to int64", fn, v);
  lg_tensor *t;
  switch (kind) {
  case 0: t = lg_zeros(x->ndim, x->shape, dt); break;
  case 1: t = lg_ones(x->ndim, x->shape, dt); break;
  case 2: t = lg_empty(x->ndim, x->shape, dt); break;
  case 3: t = lg_rand(x->ndim, x->shape, dt); break;
  case 4: t = lg_randn(x->ndim, x->shape, dt); break;
  default: t = lg_full(x->ndim, x->shape, v, dt); break;
  }
  return push_made(L, t, opts, fn);
}
static int l_zeros_like(lua_State *L) { return like(L, "zeros_like", 0); }
static int l_ones_like(lua_State *L) { return like(L, "ones_like", 1); }
static int l_empty_like(lua_State *L) { return like(L, "empty_like", 2); }
static int l_rand_like(lua_State *L) { return like(L, "rand_like", 3); }
static int l_randn_like(lua_State *L) { return like(L, "randn_like", 4); }
static int l_full_like(lua_State *L) { return like(L, "full_like", 5); }

/* ---- eye, linspace, logspace -------------------------------------------------- */
static lua_Integer count_arg(lua_State *L, int idx, const char *fn, const char *what) {
  lua_Integer n = lgL_integer(L, idx, fn, what);
  if (n < 0 || n > ((lua_Integer)1 << 40))
    luaL_error(L, "lunagrad.%s: %s must be in 0..2^40, got %I", fn, what, n);
  return n;
}

static int l_eye(lua_State *L) {
  lua_Integer n = count_arg(L, 1, "eye", "n"), m = n;
  int opts = 2;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    m = count_arg(L, 2, "eye", "m");
    opts = 3;
  }
  lgL_check_options(L, opts, "eye", CREATE_KEYS);
  lg_dtype dt = lgL_optdtype(L, opts, LG_F32, "eye");
  int64_t shape[2] = {n, m};
  lg_tensor *t = lg_zeros(2, shape, dt);
  for (int64_t i = 0; t && i < n && i < m; i++) put(t, i * m + i, 1);
  return push_made(L, t, opts, "eye");
}

/* PyTorch's linspace: step = (b - a) / (n - 1); the first half counts up from a, the
 * second half down from b, so both endpoints are exact. */
static double lin_at(double a, double b, int64_t n, int64_t i) {
  if (n == 1) return a;
  double step = (b - a) / (double)(n - 1);
  return i < n / 2 ? a + step * (double)i : b - step * (double)(n - 1 - i);
}

static int spaced(lua_State *L, const char *fn, bool log) {
  double a = lgL_number(L, 1, fn, "start"), b = lgL_number(L, 2, fn, "end");
  lua_Integer n = lgL_integer(L, 3, fn, "steps");
  if (n < 0 || n > ((lua_Integer)1 << 40))
    return luaL_error(L, "lunagrad.%s: steps must be in 0..2^40, got %I", fn, n);
  double base = 10;
  int opts = 4;
  if (log && lua_type(L, 4) == LUA_TNUMBER) {
    base = lua_tonumber(L, 4);
    opts = 5;
  }
  if (!lua_isnoneornil(L, opts) && lua_type(L, opts) != LUA_TTABLE)
    return luaL_error(L, "lunagrad.%s: expects (start, end, steps%s [, opts]), got a %s", fn,
                      log ? " [, base]" : "", luaL_typename(L, opts));
  lgL_check_options(L, opts, fn, CREATE_KEYS);
  lg_dtype dt = lgL_optdtype(L, opts, LG_F32, fn);
  int64_t shape[1] = {n};
  lg_tensor *t = lg_empty(1, shape, dt);
  for (int64_t i = 0; t && i < n; i++) {
    double v = lin_at(a, b, n, i);
    if (log) v = pow(base, v);
    if (dt == LG_I64 && !(v > -9223372036854775809.0 && v < 9223372036854775808.0)) {
      lg_release(t);
      return luaL_error(L, "lunagrad.%s: value %f cannot be converted to int64", fn, v);
    }
    put(t, i, v);
  }
  return push_made(L, t, opts, fn);
}
static int l_linspace(lua_State *L) { return spaced(L, "linspace", false); }
static int l_logspace(lua_State *L) { return spaced(L, "logspace", true); }

/* ---- random ------------------------------------------------------------------- */
/* An integer uniform in 0..range-1 (range <= 2^53): the top bits of one draw. */
static int64_t below(int64_t range) {
  int64_t k = (int64_t)(lg_random_uniform() * (double)range);
  return k < range ? k : range - 1;
}

static int l_randint(lua_State *L) {
  lua_Integer lo = lgL_integer(L, 1, "randint", "lo"), hi = lgL_integer(L, 2, "randint", "hi");
  if (lo > hi)
    return luaL_error(L, "lunagrad.randint: expects lo <= hi (both inclusive), got %I and %I", lo, hi);
  if (lua_isnoneornil(L, 3))
    return luaL_error(L, "lunagrad.randint: expects (lo, hi, shape [, opts]): the shape is missing");
  /* (hi - lo + 1) computed without overflow, and at most 2^53 (one draw's resolution) */
  if ((double)hi - (double)lo + 1 > 9007199254740992.0)
    return luaL_error(L, "lunagrad.randint: the range %I..%I is wider than 2^53 values", lo, hi);
  int64_t range = (int64_t)((uint64_t)hi - (uint64_t)lo + 1);
  int64_t shape[LG_MAX_DIMS];
  int next, nd = lgL_shape(L, 3, shape, "randint", &next);
  if (!lua_isnoneornil(L, next) && lua_type(L, next) != LUA_TTABLE)
    return luaL_error(L, "lunagrad.randint: sizes must be integers, got %s", luaL_typename(L, next));
  lgL_check_options(L, next, "randint", CREATE_KEYS);
  lg_dtype dt = lgL_optdtype(L, next, LG_I64, "randint");
  lg_tensor *t = lg_empty(nd, shape, dt);
  int64_t numel = t ? lg_numel(t) : 0;
  for (int64_t i = 0; i < numel; i++) {
    int64_t v = (int64_t)((uint64_t)lo + (uint64_t)below(range));
    if (dt == LG_I64) ((int64_t *)lg_data_ptr(t))[i] = v;
    else put(t, i, (double)v);
  }
  return push_made(L, t, next, "randint");
}

/* multinomial(p, n [, replacement]): p 1-d (k categories) or 2-d (rows x k), nonnegative
 * finite weights with a positive sum per row; int64 1-based indices, shape {n} or {rows, n}. */
static int l_multinomial(lua_State *L) {
  lg_tensor *p = lgL_check(L, 1, "multinomial");
  lua_Integer n = lgL_integer(L, 2, "multinomial", "n");
  if (!lua_isnoneornil(L, 3) && !lua_isboolean(L, 3))
    return luaL_error(L, "lunagrad.multinomial: replacement must be a boolean, got %s", luaL_typename(L, 3));
  bool repl = lua_toboolean(L, 3);
  if (p->ndim != 1 && p->ndim != 2)
    return luaL_error(L, "lunagrad.multinomial: p must be 1-d or 2-d, got %d-d", p->ndim);
  if (n < 1) return luaL_error(L, "lunagrad.multinomial: n must be >= 1, got %I", n);
  int64_t rows = p->ndim == 2 ? p->shape[0] : 1, k = p->shape[p->ndim - 1];
  if (k < 1) return luaL_error(L, "lunagrad.multinomial: p has no categories");
  if (n > ((lua_Integer)1 << 40)) return luaL_error(L, "lunagrad.multinomial: n must be at most 2^40, got %I", n);
  double *w = malloc(sizeof(double) * (size_t)k);
  if (!w) return luaL_error(L, "lunagrad.multinomial: out of memory");
  /* validate every row first, so an error leaks nothing but w */
  for (int64_t r = 0; r < rows; r++) {
    double total = 0;
    int64_t nonzero = 0;
    for (int64_t j = 0; j < k; j++) {
      double v = get_flat(p, r * k + j);
      if (!(v >= 0) || isinf(v)) {
        free(w);
        return luaL_error(L, "lunagrad.multinomial: probabilities must be finite and >= 0, got %f (row %I, "
                          "category %I)", v, (lua_Integer)r + 1, (lua_Integer)j + 1);
      }
      total += v;
      nonzero += v > 0;
    }
    if (!(total > 0)) {
      free(w);
      return luaL_error(L, "lunagrad.multinomial: row %I of p sums to 0", (lua_Integer)r + 1);
    }
    if (!repl && n > nonzero) {
      free(w);
      return luaL_error(L, "lunagrad.multinomial: cannot draw %I samples without replacement from %I nonzero "
                        "categories (row %I); pass replacement = true", n, (lua_Integer)nonzero, (lua_Integer)r + 1);
    }
  }
  int64_t shape[2] = {rows, n};
  lg_tensor *out = p->ndim == 2 ? lg_empty(2, shape, LG_I64) : lg_empty(1, shape + 1, LG_I64);
  if (!out) {
    free(w);
    return lgL_raise(L, "multinomial");
  }
  int64_t *o = lg_data_ptr(out);
  for (int64_t r = 0; r < rows; r++) {
    double total = 0;
    for (int64_t j = 0; j < k; j++) total += (w[j] = get_flat(p, r * k + j));
    for (int64_t s = 0; s < n; s++) {
      double u = lg_random_uniform() * total, acc = 0;
      int64_t pick = -1;
      for (int64_t j = 0; j < k; j++) {
        if (w[j] <= 0) continue;
        acc += w[j];
        pick = j;
        if (u < acc) break;
      }
      o[r * n + s] = pick + 1;
      if (!repl) { /* remove it; the total is re-summed so rounding cannot drift */
        w[pick] = 0;
        total = 0;
        for (int64_t j = 0; j < k; j++) total += w[j];
      }
    }
  }
  free(w);
  return lgL_push(L, out, "multinomial");
}

/* bernoulli(p [, opts]): 0/1 draws with p's shape and dtype; bernoulli(prob, shape [, opts]) */
static int l_bernoulli(lua_State *L) {
  lg_tensor *p = lgL_test(L, 1), *t;
  int opts;
  if (p) {
    opts = 2;
    if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TTABLE)
      return luaL_error(L, "lunagrad.bernoulli: expects (p [, opts]) for a tensor p, got a %s second argument",
                        luaL_typename(L, 2));
    lgL_check_options(L, opts, "bernoulli", CREATE_KEYS);
    lg_dtype dt = lgL_optdtype(L, opts, p->dtype == LG_I64 ? LG_F32 : p->dtype, "bernoulli");
    int64_t numel = lg_numel(p);
    for (int64_t i = 0; i < numel; i++) {
      double v = get_flat(p, i);
      if (!(v >= 0 && v <= 1)) return luaL_error(L, "lunagrad.bernoulli: probabilities must be in [0, 1], got %f", v);
    }
    t = lg_empty(p->ndim, p->shape, dt);
    for (int64_t i = 0; t && i < numel; i++) put(t, i, lg_random_uniform() < get_flat(p, i) ? 1 : 0);
  } else if (lua_type(L, 1) == LUA_TNUMBER) {
    double prob = lua_tonumber(L, 1);
    if (!(prob >= 0 && prob <= 1))
      return luaL_error(L, "lunagrad.bernoulli: p must be in [0, 1], got %f", prob);
    if (lua_isnoneornil(L, 2))
      return luaL_error(L, "lunagrad.bernoulli: a number p needs a shape: lg.bernoulli(%f, shape [, opts])", prob);
    int64_t shape[LG_MAX_DIMS];
    int nd = lgL_shape(L, 2, shape, "bernoulli", &opts);
    if (!lua_isnoneornil(L, opts) && lua_type(L, opts) != LUA_TTABLE)
      return luaL_error(L, "lunagrad.bernoulli: sizes must be integers, got %s", luaL_typename(L, opts));
    lgL_check_options(L, opts, "bernoulli", CREATE_KEYS);
    lg_dtype dt = lgL_optdtype(L, opts, LG_F32, "bernoulli");
    t = lg_empty(nd, shape, dt);
    int64_t numel = t ? lg_numel(t) : 0;
    for (int64_t i = 0; i < numel; i++) put(t, i, lg_random_uniform() < prob ? 1 : 0);
  } else {
    return luaL_error(L, "lunagrad.bernoulli: expects a tensor of probabilities or a number and a shape, got %s",
                      luaL_typename(L, 1));
  }
  return push_made(L, t, opts, "bernoulli");
}

/* uniform(): one number in [0, 1); uniform(a, b, shape [, opts]): a tensor of U[a, b) draws. */
static int l_uniform(lua_State *L) {
  if (lua_gettop(L) == 0) {
    lua_pushnumber(L, lg_random_uniform());
    return 1;
  }
  double a = lgL_number(L, 1, "uniform", "a"), b = lgL_number(L, 2, "uniform", "b");
  if (!(a <= b) || isinf(a) || isinf(b))
    return luaL_error(L, "lunagrad.uniform: expects finite a <= b, got %f and %f", a, b);
  if (lua_isnoneornil(L, 3))
    return luaL_error(L, "lunagrad.uniform: expects (a, b, shape [, opts]): the shape is missing "
                      "(lg.uniform() alone gives one number in [0, 1))");
  int64_t shape[LG_MAX_DIMS];
  int next, nd = lgL_shape(L, 3, shape, "uniform", &next);
  if (!lua_isnoneornil(L, next) && lua_type(L, next) != LUA_TTABLE)
    return luaL_error(L, "lunagrad.uniform: sizes must be integers, got %s", luaL_typename(L, next));
  lgL_check_options(L, next, "uniform", CREATE_KEYS);
  lg_dtype dt = lgL_optdtype(L, next, LG_F32, "uniform");
  if (dt == LG_I64) return luaL_error(L, "lunagrad.uniform: expects a float dtype (use lg.randint for integers)");
  lg_tensor *u = lg_rand(nd, shape, dt);
  lg_tensor *s = u ? lg_mul_scalar(u, b - a) : NULL, *r = s ? lg_add_scalar(s, a) : NULL;
  lg_release(u);
  lg_release(s);
  return push_made(L, r, next, "uniform");
}

void lgL_open_create_more(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like}, {"empty_like", l_empty_like},
      {"rand_like", l_rand_like}, {"randn_like", l_randn_like}, {"full_like", l_full_like},
      {"eye", l_eye}, {"linspace", l_linspace}, {"logspace", l_logspace}, {"randint", l_randint},
      {"multinomial", l_multinomial}, {"bernoulli", l_bernoulli}, {"uniform", l_uniform}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
