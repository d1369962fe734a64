/* Binding of linear, batch_norm, dropout and the losses: module functions of
 * lunagrad.core (and nn.functional's kernels), not Tensor methods.
 *
 * Class targets arrive 1-based (an int64 tensor, a float tensor of whole
 * numbers or a Lua list) and leave for the core 0-based, converted and
 * range-checked here (lgL_zero_based), so messages use the numbers users wrote;
 * the core checks its 0-based rule again for C callers. */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "lua/binding.h"

static lg_tensor *opt_tensor(lua_State *L, int idx, const char *fn) {
  return lua_isnoneornil(L, idx) ? NULL : lgL_check(L, idx, fn);
}

/* lunagrad.linear(x, w [, b]) */
static int l_linear(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "linear"), *w = lgL_check(L, 2, "linear");
  return lgL_push(L, lg_linear(x, w, opt_tensor(L, 3, "linear")), "linear");
}

static bool opt_boolean(lua_State *L, int idx, const char *fn, const char *what, bool def) {
  if (lua_isnoneornil(L, idx)) return def;
  if (!lua_isboolean(L, idx))
    luaL_error(L, "lunagrad.%s: %s must be a boolean, got %s", fn, what, luaL_typename(L, idx));
  return lua_toboolean(L, idx);
}

static double opt_number(lua_State *L, int idx, const char *fn, const char *what, double def) {
  return lua_isnoneornil(L, idx) ? def : lgL_number(L, idx, fn, what);
}

/* lunagrad.batch_norm(x, running_mean|nil, running_var|nil, weight|nil, bias|nil,
 *                     training=false, momentum=0.1, eps=1e-5) */
static int l_batch_norm(lua_State *L) {
  const char *fn = "batch_norm";
  lg_tensor *x = lgL_check(L, 1, fn);
  lg_tensor *rm = opt_tensor(L, 2, fn), *rv = opt_tensor(L, 3, fn);
  lg_tensor *w = opt_tensor(L, 4, fn), *b = opt_tensor(L, 5, fn);
  bool training = opt_boolean(L, 6, fn, "training", false);
  double momentum = opt_number(L, 7, fn, "momentum", 0.1), eps = opt_number(L, 8, fn, "eps", 1e-5);
  return lgL_push(L, lg_batch_norm(x, rm, rv, w, b, training, momentum, eps), fn);
}

/* lunagrad.dropout(x, p=0.5, training=true) */
static int l_dropout(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "dropout");
  double p = opt_number(L, 2, "dropout", "p", 0.5);
  bool training = opt_boolean(L, 3, "dropout", "training", true);
  return lgL_push(L, lg_dropout(x, p, training), "dropout");
}

/* 'mean' (default) | 'sum' | 'none', as a string or a {reduction=} table. */
static lg_reduction reduction_arg(lua_State *L, int idx, const char *fn) {
  static const char *const KEYS[] = {"reduction", NULL};
  if (lua_type(L, idx) == LUA_TTABLE) {
    lgL_check_options(L, idx, fn, KEYS);
    lua_getfield(L, idx, "reduction");
    lua_replace(L, idx);
  }
  if (lua_isnoneornil(L, idx)) return LG_REDUCE_MEAN;
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
  if (s && strcmp(s, "mean") == 0) return LG_REDUCE_MEAN;
  if (s && strcmp(s, "sum") == 0) return LG_REDUCE_SUM;
  if (s && strcmp(s, "none") == 0) return LG_REDUCE_NONE;
  if (s) luaL_error(L, "lunagrad.%s: reduction must be 'mean', 'sum' or 'none', got '%s'", fn, s);
  return luaL_error(L, "lunagrad.%s: reduction must be 'mean', 'sum' or 'none', got %s", fn,
                    luaL_typename(L, idx));
}

/* "[4,3]" into buf. */
static const char *shape_text(const lg_tensor *t, char *buf, size_t len) {
  size_t used = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < t->ndim && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, d ? ",%lld" : "%lld", (long long)t->shape[d]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}

/* crit(labels, logits): an int64 input, or a float target with more dims than the
 * input (labels [N] first, scores [N,C] second), is the arguments swapped. */
static void check_swapped(lua_State *L, const lg_tensor *x, int tidx, const char *fn, const char *want) {
  lg_tensor *t = lgL_test(L, tidx);
  bool swapped = t ? lg_is_float(t->dtype) && (x->dtype == LG_I64 || t->ndim > x->ndim) : x->dtype == LG_I64;
  if (!swapped) return;
  char xs[96], ts[96];
  if (t)
    luaL_error(L, "lunagrad.%s: arguments look swapped: call crit(input, target) (F.%s(input, target)) with %s; "
               "got input %s %s and target %s %s", fn, fn, want, lg_dtype_name(x->dtype), shape_text(x, xs, sizeof xs),
               lg_dtype_name(t->dtype), shape_text(t, ts, sizeof ts));
  luaL_error(L, "lunagrad.%s: input is int64 %s: arguments look swapped? call crit(input, target) (F.%s(input, "
             "target)) with %s", fn, shape_text(x, xs, sizeof xs), fn, want);
}

/* The 1-based class labels at idx, of `classes` classes (-1: unknown, the core
 * then reports the input's shape), as a 0-based int64 tensor (left on the stack
 * in place of the argument, so the GC owns it). */
static lg_tensor *class_target(lua_State *L, int idx, int64_t classes, const char *fn) {
  lg_tensor *t = lgL_test(L, idx);
  if (!t) {
    if (lua_type(L, idx) != LUA_TTABLE)
      luaL_error(L, "lunagrad.%s: target must be a tensor or a list of class labels, got %s", fn,
                 luaL_typename(L, idx));
    t = lgL_totensor(L, idx, fn, LG_F64);
  }
  lg_tensor *src = lg_contiguous(t);
  if (!src) lgL_raise(L, fn);
  lgL_push(L, src, fn); /* GC-owned while we read it */
  lg_tensor *out = lg_new_like_shape(src->ndim, src->shape, LG_I64);
  if (!out) lgL_raise(L, fn);
  lgL_push(L, out, fn);
  int64_t n = lg_numel(src), *o = lg_data_ptr(out);
  const void *p = lg_data_ptr(src);
  for (int64_t i = 0; i < n; i++) {
    int64_t label;
    if (src->dtype == LG_I64) {
      label = ((const int64_t *)p)[i];
    } else {
      double v = src->dtype == LG_F32 ? ((const float *)p)[i] : ((const double *)p)[i];
      if (!(v == floor(v)) || fabs(v) > 9.0e15)
        luaL_error(L, "lunagrad.%s: target must hold whole class labels, got %f at position %I: labels are 1-based "
                   "integers, e.g. an int64 tensor lg.tensor({3, 1}, {dtype = 'int64'})%s", fn, (lua_Number)v,
                   (lua_Integer)(i + 1),
                   classes >= 0 && src->ndim == 2 ? " (class-probability targets [N,C] are not supported)" : "");
      label = (int64_t)v;
    }
    if (classes < 0) {
      o[i] = label - 1;
    } else if ((o[i] = lgL_zero_based(label, classes, false)) < 0) {
      luaL_error(L, "lunagrad.%s: target %I out of range for %I classes%s", fn, (lua_Integer)label,
                 (lua_Integer)classes, label == 0 ? " (class labels are 1-based)" : "");
    }
  }
  lua_replace(L, idx);
  lua_pop(L, 1);
  return out;
}

/* lunagrad.nll_loss(logp, target, reduction) */
static int l_nll_loss(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "nll_loss");
  check_swapped(L, x, 2, "nll_loss", "the log-probabilities [N,C] first, the class labels [N] second");
  lg_reduction r = reduction_arg(L, 3, "nll_loss");
  lg_tensor *t = class_target(L, 2, x->ndim == 2 ? x->shape[1] : -1, "nll_loss");
  return lgL_push(L, lg_nll_loss(x, t, r), "nll_loss");
}

/* lunagrad.cross_entropy(logits, target, reduction) */
static int l_cross_entropy(lua_State *L) {
  lg_tensor *x = lgL_check(L, 1, "cross_entropy");
  check_swapped(L, x, 2, "cross_entropy", "the scores (logits) [N,C] first, the class labels [N] second");
  lg_reduction r = reduction_arg(L, 3, "cross_entropy");
  lg_tensor *t = class_target(L, 2, x->ndim == 2 ? x->shape[1] : -1, "cross_entropy");
  return lgL_push(L, lg_cross_entropy(x, t, r), "cross_entropy");
}

/* lunagrad.binary_cross_entropy_with_logits(logits, target, reduction) */
static int l_bce_with_logits(lua_State *L) {
  const char *fn = "binary_cross_entropy_with_logits";
  lg_tensor *x = lgL_check(L, 1, fn);
  lg_tensor *given = lgL_test(L, 2);
  if (x->dtype == LG_I64 || (given && !lg_is_float(given->dtype))) {
    char xs[96], ts[96];
    if (x->dtype == LG_I64 && given && lg_is_float(given->dtype))
      luaL_error(L, "lunagrad.%s: arguments look swapped: call crit(input, target) with the logits first, the "
                 "0/1 targets second; got input int64 %s and target %s %s", fn, shape_text(x, xs, sizeof xs),
                 lg_dtype_name(given->dtype), shape_text(given, ts, sizeof ts));
    if (x->dtype == LG_I64)
      luaL_error(L, "lunagrad.%s: input must be float logits, got int64 %s", fn, shape_text(x, xs, sizeof xs));
    luaL_error(L, "lunagrad.%s: target must be a float tensor (probabilities in [0, 1], like PyTorch's), got %s %s; "
               "convert it: target:to('%s')", fn, lg_dtype_name(given->dtype), shape_text(given, ts, sizeof ts),
               lg_dtype_name(x->dtype));
  }
  lg_reduction r = reduction_arg(L, 3, fn);
  lg_tensor *t = lgL_totensor(L, 2, fn, x->dtype);
  return lgL_push(L, lg_bce_with_logits(x, t, r), fn);
}

/* lunagrad.mse_loss(a, b, reduction) */
static int l_mse_loss(lua_State *L) {
  lg_tensor *a = lgL_check(L, 1, "mse_loss");
  lg_reduction r = reduction_arg(L, 3, "mse_loss");
  lg_tensor *b = lgL_totensor(L, 2, "mse_loss", a->dtype);
  return lgL_push(L, lg_mse_loss(a, b, r), "mse_loss");
}

void lgL_open_nn(lua_State *L) {
  static const luaL_Reg fns[] = {{"linear", l_linear},
                                 {"batch_norm", l_batch_norm},
                                 {"dropout", l_dropout},
                                 {"nll_loss", l_nll_loss},
                                 {"cross_entropy", l_cross_entropy},
                                 {"binary_cross_entropy_with_logits", l_bce_with_logits},
                                 {"mse_loss", l_mse_loss},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0); /* module functions only: x:cross_entropy(t) is no Tensor method */
}
