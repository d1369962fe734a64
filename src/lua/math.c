/* Elementwise math, comparisons and sum/mean as Tensor methods and operators. */
#include <math.h>

#include "core/internal.h"
#include "lua/binding.h"

typedef lg_tensor *(*tensor_tensor_fn)(lg_tensor *, lg_tensor *);
typedef lg_tensor *(*tensor_scalar_fn)(lg_tensor *, double);

static lg_tensor *sub_scalar(lg_tensor *a, double s) { return lg_add_scalar(a, -s); }
static lg_tensor *div_scalar(lg_tensor *a, double s) {
  if (a->dtype == LG_I64) { /* true division: promote first */
    lg_tensor *f = lg_to_dtype(a, LG_F32), *r = f ? lg_mul_scalar(f, 1.0 / s) : NULL;
    lg_release(f);
    return r;
  }
  return lg_mul_scalar(a, 1.0 / s);
}

/* f(a, b) of two tensors; numbers and tables become tensors of the other's dtype. */
static int tensors2(lua_State *L, const char *fn, tensor_tensor_fn f) {
  lua_settop(L, 2);
  lg_tensor *a = lgL_test(L, 1), *b = lgL_test(L, 2);
  lg_dtype like = a ? a->dtype : b ? b->dtype : LG_F32;
  a = lgL_totensor(L, 1, fn, like);
  b = lgL_totensor(L, 2, fn, like);
  return lgL_push(L, f(a, b), fn);
}

/* a op b where either may be a number: tensor-scalar kernels avoid a temporary. */
static int binary(lua_State *L, const char *fn, tensor_tensor_fn tt, tensor_scalar_fn ts,
                  tensor_scalar_fn st) {
  if (lua_type(L, 2) == LUA_TNUMBER && lgL_test(L, 1))
    return lgL_push(L, ts(lgL_check(L, 1, fn), lua_tonumber(L, 2)), fn);
  if (lua_type(L, 1) == LUA_TNUMBER && lgL_test(L, 2))
    return lgL_push(L, st(lgL_check(L, 2, fn), lua_tonumber(L, 1)), fn);
  return tensors2(L, fn, tt);
}

static int m_add(lua_State *L) { return binary(L, "add", lg_add, lg_add_scalar, lg_add_scalar); }
static int m_sub(lua_State *L) { return binary(L, "sub", lg_sub, sub_scalar, lg_rsub_scalar); }
static int m_mul(lua_State *L) { return binary(L, "mul", lg_mul, lg_mul_scalar, lg_mul_scalar); }
static int m_div(lua_State *L) { return binary(L, "div", lg_div, div_scalar, lg_rdiv_scalar); }
static int m_pow(lua_State *L) { return binary(L, "pow", lg_pow_tensor, lg_pow, lg_rpow_scalar); }

/* Every parameterless unary op of the registry is a Tensor method (x:sin()), or a
 * module function only for LG_UNARY_FN entries (lunagrad.gelu(x), the activations). */
#define METHOD_P0(NAME) \
  static int m_##NAME(lua_State *L) { return lgL_push(L, lg_##NAME(lgL_check(L, 1, #NAME)), #NAME); }
#define NO_METHOD(NAME)
#define METHOD_P1(s0) NO_METHOD
#define METHOD_P2(s0, s1) NO_METHOD
#define LG_UNARY(name, params, ...) METHOD_##params(name)
#define LG_UNARY_FN(name, params, ...) METHOD_##params(name)
#define LG_BINARY(name, ...)
#define LG_OP(name)
#include "ops/ops.def"
#undef LG_UNARY
#undef LG_UNARY_FN
#define ENTRY_P0(NAME) {#NAME, m_##NAME},
#define ENTRY_P1(s0) NO_METHOD
#define ENTRY_P2(s0, s1) NO_METHOD
#define LG_UNARY(name, params, ...) ENTRY_##params(name)
#define LG_UNARY_FN(name, params, ...)
static const luaL_Reg unary_methods[] = {
#include "ops/ops.def"
    {NULL, NULL}};
#undef LG_UNARY
#undef LG_UNARY_FN
#define LG_UNARY(name, params, ...)
#define LG_UNARY_FN(name, params, ...) ENTRY_##params(name)
static const luaL_Reg unary_functions[] = {
#include "ops/ops.def"
    {NULL, NULL}};
#undef LG_UNARY
#undef LG_UNARY_FN
#undef LG_BINARY
#undef LG_OP

/* The activations with parameters, PyTorch's defaults. */
static double opt_param(lua_State *L, int idx, const char *fn, const char *what, double def) {
  return lua_isnoneornil(L, idx) ? def : lgL_number(L, idx, fn, what);
}
static int m_elu(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "elu");
  return lgL_push(L, lg_elu(x, opt_param(L, 2, "elu", "alpha", 1.0)), "elu");
}
static int m_celu(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "celu");
  double alpha = opt_param(L, 2, "celu", "alpha", 1.0);
  if (alpha == 0) return luaL_error(L, "lunagrad.celu: alpha must not be 0");
  return lgL_push(L, lg_celu(x, alpha), "celu");
}
static int m_softplus(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "softplus");
  double beta = opt_param(L, 2, "softplus", "beta", 1.0), threshold = opt_param(L, 3, "softplus", "threshold", 20.0);
  if (beta == 0) return luaL_error(L, "lunagrad.softplus: beta must not be 0");
  return lgL_push(L, lg_softplus(x, beta, threshold), "softplus");
}

/* Binary ops without scalar kernels. */
static int m_minimum(lua_State *L) { return tensors2(L, "minimum", lg_minimum); }
static int m_maximum(lua_State *L) { return tensors2(L, "maximum", lg_maximum); }
static int m_atan2(lua_State *L) { return tensors2(L, "atan2", lg_atan2); }

static int m_leaky_relu(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "leaky_relu");
  double slope = lua_isnoneornil(L, 2) ? 0.01 : lgL_number(L, 2, "leaky_relu", "negative slope");
  return lgL_push(L, lg_leaky_relu(t, slope), "leaky_relu");
}

static int m_clamp(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "clamp");
  double lo = lua_isnoneornil(L, 2) ? -INFINITY : lgL_number(L, 2, "clamp", "min");
  double hi = lua_isnoneornil(L, 3) ? INFINITY : lgL_number(L, 3, "clamp", "max");
  if (isnan(lo) || isnan(hi)) return luaL_error(L, "lunagrad.clamp: bounds must not be NaN");
  return lgL_push(L, lg_clamp(t, lo, hi), "clamp");
}

static int compare(lua_State *L, lg_cmp op, const char *fn) {
  lg_tensor *a = lgL_check(L, 1, fn);
  if (lua_type(L, 2) == LUA_TNUMBER) return lgL_push(L, lg_compare_scalar(a, lua_tonumber(L, 2), op), fn);
  lua_settop(L, 2);
  lg_tensor *b = lgL_totensor(L, 2, fn, a->dtype);
  return lgL_push(L, lg_compare(a, b, op), fn);
}
static int m_eq(lua_State *L) { return compare(L, LG_EQ, "eq"); }
static int m_ne(lua_State *L) { return compare(L, LG_NE, "ne"); }
static int m_lt(lua_State *L) { return compare(L, LG_LT, "lt"); }
static int m_le(lua_State *L) { return compare(L, LG_LE, "le"); }
static int m_gt(lua_State *L) { return compare(L, LG_GT, "gt"); }
static int m_ge(lua_State *L) { return compare(L, LG_GE, "ge"); }

/* sum([dim [, keepdim]]) and mean */
static int reduce(lua_State *L, const char *fn, lg_tensor *(*f)(lg_tensor *, int, bool)) {
  lg_tensor *t = lgL_check(L, 1, fn);
  int d = lua_isnoneornil(L, 2) ? LG_ALL_DIMS : lgL_dim(L, 2, t->ndim, fn);
  return lgL_push(L, f(t, d, lua_toboolean(L, 3)), fn);
}
static int m_sum(lua_State *L) { return reduce(L, "sum", lg_sum); }
static int m_mean(lua_State *L) { return reduce(L, "mean", lg_mean); }

void lgL_open_math(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"add", m_add}, {"sub", m_sub}, {"mul", m_mul}, {"div", m_div}, {"pow", m_pow},
      {"minimum", m_minimum}, {"maximum", m_maximum}, {"atan2", m_atan2},
      {"leaky_relu", m_leaky_relu}, {"clamp", m_clamp}, {"eq", m_eq}, {"ne", m_ne},
      {"lt", m_lt}, {"le", m_le}, {"gt", m_gt}, {"ge", m_ge}, {"sum", m_sum}, {"mean", m_mean},
      {NULL, NULL}};
  lgL_register_methods(L, fns);
  lgL_register_methods(L, unary_methods);
  luaL_setfuncs(L, unary_functions, 0); /* the module table is on top */
  static const luaL_Reg activations[] = {{"elu", m_elu}, {"celu", m_celu}, {"softplus", m_softplus}, {NULL, NULL}};
  luaL_setfuncs(L, activations, 0);
  luaL_getmetatable(L, LGL_TENSOR);
  static const luaL_Reg ops[] = {{"__add", m_add}, {"__sub", m_sub}, {"__mul", m_mul},
                                 {"__div", m_div}, {"__pow", m_pow}, {"__unm", m_neg}, {NULL, NULL}};
  luaL_setfuncs(L, ops, 0);
  lua_pop(L, 1);
}
