/* Views, copies and casts as Tensor methods: x:view(...), x:narrow(d, start, len),
 * x:t(), x:to('float64'), ... (dims and positions 1-based here). */
#include "core/internal.h"
#include "lua/binding.h"

/* ---- views ------------------------------------------------------------------ */

/* x:view(...), x:reshape(...), x:expand(...): a shape as varargs or one table. */
typedef lg_tensor *(*shape_fn)(lg_tensor *, int, const int64_t *);
static int with_shape(lua_State *L, const char *fn, shape_fn f) {
  lg_tensor *t = lgL_check(L, 1, fn);
  int64_t shape[LG_MAX_DIMS];
  int next, nd = lgL_shape(L, 2, shape, fn, &next);
  return lgL_push(L, f(t, nd, shape), fn);
}
static int t_view(lua_State *L) { return with_shape(L, "view", lg_view); }
static int t_reshape(lua_State *L) { return with_shape(L, "reshape", lg_reshape); }
static int t_expand(lua_State *L) { return with_shape(L, "expand", lg_expand); }

static int t_transpose(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "transpose");
  int a = lgL_dim(L, 2, t->ndim, "transpose"), b = lgL_dim(L, 3, t->ndim, "transpose");
  return lgL_push(L, lg_transpose(t, a, b), "transpose");
}

static int t_t(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "t");
  if (t->ndim > 2) return luaL_error(L, "lunagrad.t: expects a tensor with <= 2 dims, got %d", t->ndim);
  if (t->ndim < 2) return lgL_push(L, lg_reshape(t, t->ndim, t->shape), "t");
  return lgL_push(L, lg_transpose(t, 0, 1), "t");
}

static int t_permute(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "permute");
  int dims[LG_MAX_DIMS];
  int base = lua_type(L, 2) == LUA_TTABLE ? 0 : 2;
  int n = base ? lua_gettop(L) - 1 : (int)luaL_len(L, 2);
  if (n != t->ndim)
    return luaL_error(L, "lunagrad.permute: %d dims given for a %d-d tensor", n, t->ndim);
  for (int d = 0; d < n; d++) {
    if (!base) lua_geti(L, 2, d + 1);
    dims[d] = lgL_dim(L, base ? base + d : -1, t->ndim, "permute");
    if (!base) lua_pop(L, 1);
  }
  return lgL_push(L, lg_permute(t, dims), "permute");
}

static int64_t index_arg(lua_State *L, int idx, int64_t size, const char *fn, const char *what, bool allow_end) {
  if (!lua_isinteger(L, idx)) luaL_error(L, "lunagrad.%s: %s must be an integer, got %s", fn, what, luaL_typename(L, idx));
  lua_Integer i = lua_tointeger(L, idx);
  int64_t z = allow_end && i == size + 1 ? size : lgL_zero_based(i, size, true); /* narrow may start at the end */
  if (z < 0)
    luaL_error(L, "lunagrad.%s: %s %I out of range for a dim of size %I (indices are 1-based)", fn, what, i,
               (lua_Integer)size);
  return z;
}

static int t_narrow(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "narrow");
  int d = lgL_dim(L, 2, t->ndim, "narrow");
  int64_t start = index_arg(L, 3, t->shape[d], "narrow", "start", true);
  lua_Integer len = lgL_integer(L, 4, "narrow", "length");
  if (len < 0 || start + len > t->shape[d])
    return luaL_error(L, "lunagrad.narrow: start %d with length %d exceeds size %d of dim %d",
                      (int)start + 1, (int)len, (int)t->shape[d], d + 1);
  return lgL_push(L, lg_narrow(t, d, start, len), "narrow");
}

static int t_select(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "select");
  if (t->ndim == 0) return luaL_error(L, "lunagrad.select: cannot select from a 0-d tensor");
  int d = lgL_dim(L, 2, t->ndim, "select");
  int64_t i = index_arg(L, 3, t->shape[d], "select", "index", false);
  return lgL_push(L, lg_select(t, d, i), "select");
}

/* slice(d, first, last [, step]): inclusive bounds like string.sub */
static int t_slice(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "slice");
  if (t->ndim == 0) return luaL_error(L, "lunagrad.slice: cannot slice a 0-d tensor");
  int d = lgL_dim(L, 2, t->ndim, "slice");
  int64_t size = t->shape[d];
  lua_Integer first = lua_isnoneornil(L, 3) ? 1 : lgL_integer(L, 3, "slice", "first");
  lua_Integer last = lua_isnoneornil(L, 4) ? -1 : lgL_integer(L, 4, "slice", "last");
  lua_Integer step = lua_isnoneornil(L, 5) ? 1 : lgL_integer(L, 5, "slice", "step");
  if (step <= 0) return luaL_error(L, "lunagrad.slice: step must be positive, got %d", (int)step);
  if (first < 0) first += size + 1;
  if (last < 0) last += size + 1;
  if (first < 1 || first > size + 1 || last > size || last < 0)
    return luaL_error(L, "lunagrad.slice: range %d..%d out of bounds for a dim of size %d",
                      (int)first, (int)last, (int)size);
  int64_t start = first - 1, stop = last < first ? start : last;
  return lgL_push(L, lg_slice(t, d, start, stop, step), "slice");
}

static int t_squeeze(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "squeeze");
  int d = lua_isnoneornil(L, 2) ? LG_ALL_DIMS : lgL_dim(L, 2, t->ndim, "squeeze");
  return lgL_push(L, lg_squeeze(t, d), "squeeze");
}

static int t_unsqueeze(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "unsqueeze");
  return lgL_push(L, lg_unsqueeze(t, lgL_dim(L, 2, t->ndim + 1, "unsqueeze")), "unsqueeze");
}

static int t_flatten(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "flatten");
  int nd = t->ndim ? t->ndim : 1;
  int a = lgL_optdim(L, 2, nd, "flatten", 0), b = lgL_optdim(L, 3, nd, "flatten", nd - 1);
  if (a > b) return luaL_error(L, "lunagrad.flatten: start dim %d is after end dim %d", a + 1, b + 1);
  return lgL_push(L, lg_flatten(t, a, b), "flatten");
}

static int t_contiguous(lua_State *L) { return lgL_push(L, lg_contiguous(lgL_check(L, 1, "contiguous")), "contiguous"); }
static int t_clone(lua_State *L) { return lgL_push(L, lg_clone(lgL_check(L, 1, "clone")), "clone"); }
static int t_detach(lua_State *L) { return lgL_push(L, lg_detach(lgL_check(L, 1, "detach")), "detach"); }

static int t_to(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "to");
  lg_dtype d;
  if (lua_type(L, 2) != LUA_TSTRING)
    return luaL_error(L, "lunagrad.to: dtype must be a string, got %s", luaL_typename(L, 2));
  if (lg_dtype_from_name(lua_tostring(L, 2), &d)) return lgL_raise(L, "to");
  return lgL_push(L, lg_to_dtype(t, d), "to");
}

static int cast_to(lua_State *L, lg_dtype d, const char *fn) { return lgL_push(L, lg_to_dtype(lgL_check(L, 1, fn), d), fn); }
static int t_float(lua_State *L) { return cast_to(L, LG_F32, "float"); }
static int t_double(lua_State *L) { return cast_to(L, LG_F64, "double"); }
static int t_long(lua_State *L) { return cast_to(L, LG_I64, "long"); }

static int t_fill(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "fill");
  double v = lgL_number(L, 2, "fill", "value");
  if (t->dtype == LG_I64) v = (double)lgL_int64(L, 2, "fill"); /* NaN/inf refused, not cast */
  if (t->requires_grad && lg_grad_enabled())
    return luaL_error(L, "lunagrad.fill: a tensor that requires grad cannot be filled in place (use lg.no_grad)");
  lg_fill(t, v);
  lua_settop(L, 1);
  return 1;
}

static int t_copy(lua_State *L) {
  lg_tensor *t = lgL_check(L, 1, "copy");
  lg_tensor *src = lgL_totensor(L, 2, "copy", t->dtype);
  if (t->requires_grad && lg_grad_enabled())
    return luaL_error(L, "lunagrad.copy: a tensor that requires grad cannot be overwritten in place (use lg.no_grad)");
  if (lg_copy(t, src)) return lgL_raise(L, "copy");
  lua_settop(L, 1);
  return 1;
}

void lgL_open_views(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"view", t_view}, {"reshape", t_reshape}, {"expand", t_expand}, {"transpose", t_transpose}, {"t", t_t}, {"permute", t_permute}, {"narrow", t_narrow}, {"select", t_select}, {"slice", t_slice}, {"squeeze", t_squeeze}, {"unsqueeze", t_unsqueeze}, {"flatten", t_flatten}, {"contiguous", t_contiguous}, {"clone", t_clone}, {"detach", t_detach}, {"to", t_to}, {"float", t_float}, {"double", t_double}, {"long", t_long}, {"fill", t_fill}, {"copy", t_copy},
      {NULL, NULL}};
  lgL_register_methods(L, methods);
}
