/* In-place Tensor methods (names end in _): each computes its out-of-place op
 * and hands the result to lg_inplace, which stores it into x, moves the autograd
 * history over and bumps x's version. All return x itself. */
#include <math.h>

#include "core/internal.h"
#include "lua/binding.h"

/* x takes `result`, then x is returned. */
static int into_self(lua_State *L, lg_tensor *x, lg_tensor *result, const char *fn) {
  if (!result || lg_inplace(x, result, fn)) return lgL_raise(L, fn);
  lua_settop(L, 1);
  return 1;
}

static const char *const ALPHA_KEYS[] = {"alpha", NULL};

/* The other operand (a number or a tensor), times {alpha = a} if given. */
static lg_tensor *scaled_operand(lua_State *L, lg_tensor *x, const char *fn, double *number, bool *is_number) {
  lgL_check_options(L, 3, fn, ALPHA_KEYS);
  double alpha = 1;
  if (lua_type(L, 3) == LUA_TTABLE && lua_getfield(L, 3, "alpha") != LUA_TNIL) {
    alpha = lgL_number(L, -1, fn, "alpha");
    lua_pop(L, 1);
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    *is_number = true;
    *number = lua_tonumber(L, 2) * alpha;
    return NULL;
  }
  *is_number = false;
  lg_tensor *y = lgL_totensor(L, 2, fn, x->dtype);
  return alpha == 1 ? (lg_retain(y), y) : lg_mul_scalar(y, alpha);
}

static int add_or_sub(lua_State *L, const char *fn, double sign) {
  lg_tensor *x = lgL_check(L, 1, fn);
  lua_settop(L, 3);
  double s;
  bool is_number;
  lg_tensor *y = scaled_operand(L, x, fn, &s, &is_number);
  if (is_number) return into_self(L, x, lg_add_scalar(x, sign * s), fn);
  if (!y) return lgL_raise(L, fn);
  lg_tensor *r = sign > 0 ? lg_add(x, y) : lg_sub(x, y);
  lg_release(y);
  return into_self(L, x, r, fn);
}
static int t_add_(lua_State *L) { return add_or_sub(L, "add_", 1); }
static int t_sub_(lua_State *L) { return add_or_sub(L, "sub_", -1); }

static int mul_or_div(lua_State *L, const char *fn, bool divide) {
  lg_tensor *x = lgL_check(L, 1, fn);
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    double s = lua_tonumber(L, 2);
    return into_self(L, x, lg_mul_scalar(x, divide ? 1 / s : s), fn);
  }
  lg_tensor *y = lgL_totensor(L, 2, fn, x->dtype);
  return into_self(L, x, divide ? lg_div(x, y) : lg_mul(x, y), fn);
}
static int t_mul_(lua_State *L) { return mul_or_div(L, "mul_", false); }
static int t_div_(lua_State *L) { return mul_or_div(L, "div_", true); }

static int t_clamp_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "clamp_");
  double lo = lua_isnoneornil(L, 2) ? -INFINITY : lgL_number(L, 2, "clamp_", "min");
  double hi = lua_isnoneornil(L, 3) ? INFINITY : lgL_number(L, 3, "clamp_", "max");
  if (isnan(lo) || isnan(hi)) return luaL_error(L, "lunagrad.clamp_: bounds must not be NaN");
  return into_self(L, x, lg_clamp(x, lo, hi), "clamp_");
}

static int t_relu_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "relu_");
  return into_self(L, x, lg_relu(x), "relu_");
}

static int t_fill_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "fill_");
  double v = lgL_number(L, 2, "fill_", "value");
  return into_self(L, x, lg_full(x->ndim, x->shape, v, x->dtype), "fill_");
}

static int t_zero_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "zero_");
  return into_self(L, x, lg_zeros(x->ndim, x->shape, x->dtype), "zero_");
}

/* copy_(src): src broadcast to x's shape and converted to x's dtype (differentiable in src). */
static int t_copy_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "copy_");
  lua_settop(L, 2);
  lg_tensor *src = lgL_totensor(L, 2, "copy_", x->dtype);
  lg_tensor *wide = lg_expand(src, x->ndim, x->shape);
  lg_tensor *r = wide ? lg_to_dtype(wide, x->dtype) : NULL;
  lg_release(wide);
  return into_self(L, x, r, "copy_");
}

/* Random fills draw in x's dtype from lunagrad's generator (lg.manual_seed). */
static int t_uniform_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "uniform_");
  double a = luaL_optnumber(L, 2, 0), b = luaL_optnumber(L, 3, 1);
  if (!(a <= b)) return luaL_error(L, "lunagrad.uniform_: expects from <= to, got %g and %g", a, b);
  lg_tensor *u = lg_rand(x->ndim, x->shape, x->dtype == LG_I64 ? LG_F64 : x->dtype);
  lg_tensor *s = u ? lg_mul_scalar(u, b - a) : NULL, *r = s ? lg_add_scalar(s, a) : NULL;
  lg_release(u);
  lg_release(s);
  return into_self(L, x, r, "uniform_");
}

static int t_normal_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "normal_");
  double mean = luaL_optnumber(L, 2, 0), std = luaL_optnumber(L, 3, 1);
  if (!(std >= 0)) return luaL_error(L, "lunagrad.normal_: std must be >= 0, got %g", std);
  if (x->dtype == LG_I64) return luaL_error(L, "lunagrad.normal_: expects a float tensor, got int64");
  lg_tensor *z = lg_randn(x->ndim, x->shape, x->dtype);
  lg_tensor *s = z ? lg_mul_scalar(z, std) : NULL, *r = s ? lg_add_scalar(s, mean) : NULL;
  lg_release(z);
  lg_release(s);
  return into_self(L, x, r, "normal_");
}

static int t_bernoulli_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "bernoulli_");
  double p = luaL_optnumber(L, 2, 0.5);
  if (!(p >= 0 && p <= 1)) return luaL_error(L, "lunagrad.bernoulli_: p must be in [0, 1], got %g", p);
  lg_tensor *u = lg_rand(x->ndim, x->shape, LG_F64);
  lg_tensor *r = u ? lg_compare_scalar(u, p, LG_LT) : NULL;
  lg_release(u);
  return into_self(L, x, r, "bernoulli_");
}

/* masked_fill_(mask, value): value where mask is nonzero (mask broadcasts). */
static int t_masked_fill_(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "masked_fill_");
  lua_settop(L, 3);
  lg_tensor *mask = lgL_totensor(L, 2, "masked_fill_", x->dtype);
  double v = lgL_number(L, 3, "masked_fill_", "value");
  lg_tensor *ne = lg_compare_scalar(mask, 0, LG_NE), *nz = ne ? lg_to_dtype(ne, x->dtype) : NULL;
  lg_release(ne);
  lg_tensor *kept = nz ? lg_zero_where(x, nz) : NULL, *filled = kept ? lg_mul_scalar(nz, v) : NULL;
  lg_tensor *r = filled ? lg_add(kept, filled) : NULL;
  lg_release(nz);
  lg_release(kept);
  lg_release(filled);
  return into_self(L, x, r, "masked_fill_");
}

void lgL_open_inplace(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"add_", t_add_}, {"sub_", t_sub_}, {"mul_", t_mul_}, {"div_", t_div_}, {"clamp_", t_clamp_},
      {"relu_", t_relu_}, {"fill_", t_fill_}, {"zero_", t_zero_}, {"copy_", t_copy_},
      {"uniform_", t_uniform_}, {"normal_", t_normal_}, {"bernoulli_", t_bernoulli_},
      {"masked_fill_", t_masked_fill_}, {NULL, NULL}};
  lgL_register_methods(L, methods);
}
