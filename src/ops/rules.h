/* The vocabulary of backward rules: G_name(...) is lg_name(...) with its result
 * handed to the rule's scope (lg_adopt) and NULL arguments passed through, so a
 * rule is one expression of ops, with no releases and no error checks:
 *   sin: G_mul(g, G_cos(a))
 * Elementwise wrappers come from the registry (ops/ops.def); the others are
 * listed below, one line each. Only rule code includes this header. */
#ifndef LG_RULES_H
#define LG_RULES_H

#include <math.h>

#include "core/internal.h"

#define G_PARAMS_P0 (lg_tensor *a)
#define G_PARAMS_P1(s0) (lg_tensor *a, double c0)
#define G_PARAMS_P2(s0, s1) (lg_tensor *a, double c0, double c1)
#define G_ARGS_P0 (a)
#define G_ARGS_P1(s0) (a, c0)
#define G_ARGS_P2(s0, s1) (a, c0, c1)
#define LG_UNARY(name, params, ...) \
  static inline lg_tensor *G_##name G_PARAMS_##params { return a ? lg_adopt(lg_##name G_ARGS_##params) : NULL; }
#define LG_BINARY(name, ...) \
  static inline lg_tensor *G_##name(lg_tensor *a, lg_tensor *b) { return a && b ? lg_adopt(lg_##name(a, b)) : NULL; }
#define LG_OP(name)
#include "ops/ops.def"
#undef LG_UNARY
#undef LG_BINARY
#undef LG_OP

/* ---- the rest of the core, as rules use it ---- */
static inline lg_tensor *G_cmp_scalar(lg_tensor *a, double s, lg_cmp op) {
  return a ? lg_adopt(lg_compare_scalar(a, s, op)) : NULL;
}
static inline lg_tensor *G_sum_to(lg_tensor *a, int ndim, const int64_t *shape) {
  return a ? lg_adopt(lg_sum_to(a, ndim, shape)) : NULL;
}
static inline lg_tensor *G_sum(lg_tensor *a, int dim, bool keepdim) {
  return a ? lg_adopt(lg_sum(a, dim, keepdim)) : NULL;
}
static inline lg_tensor *G_expand(lg_tensor *a, int ndim, const int64_t *shape) {
  return a ? lg_adopt(lg_expand(a, ndim, shape)) : NULL;
}
static inline lg_tensor *G_reshape(lg_tensor *a, int ndim, const int64_t *shape) {
  return a ? lg_adopt(lg_reshape(a, ndim, shape)) : NULL;
}
static inline lg_tensor *G_unsqueeze(lg_tensor *a, int dim) { return a ? lg_adopt(lg_unsqueeze(a, dim)) : NULL; }
static inline lg_tensor *G_squeeze(lg_tensor *a, int dim) { return a ? lg_adopt(lg_squeeze(a, dim)) : NULL; }
static inline lg_tensor *G_transpose(lg_tensor *a, int d0, int d1) {
  return a ? lg_adopt(lg_transpose(a, d0, d1)) : NULL;
}
static inline lg_tensor *G_permute(lg_tensor *a, const int *dims) {
  return a ? lg_adopt(lg_permute(a, dims)) : NULL;
}
static inline lg_tensor *G_matmul(lg_tensor *a, lg_tensor *b) {
  return a && b ? lg_adopt(lg_matmul(a, b)) : NULL;
}
static inline lg_tensor *G_to_dtype(lg_tensor *a, lg_dtype d) {
  return a ? lg_adopt(lg_to_dtype(a, d)) : NULL;
}
static inline lg_tensor *G_mean(lg_tensor *a, int dim, bool keepdim) {
  return a ? lg_adopt(lg_mean(a, dim, keepdim)) : NULL;
}
static inline lg_tensor *G_softmax(lg_tensor *a, int dim) { return a ? lg_adopt(lg_softmax(a, dim)) : NULL; }
static inline lg_tensor *G_slice(lg_tensor *a, int dim, int64_t start, int64_t stop, int64_t step) {
  return a ? lg_adopt(lg_slice(a, dim, start, stop, step)) : NULL;
}
static inline lg_tensor *G_narrow(lg_tensor *a, int dim, int64_t start, int64_t length) {
  return a ? lg_adopt(lg_narrow(a, dim, start, length)) : NULL;
}
static inline lg_tensor *G_select(lg_tensor *a, int dim, int64_t i) { return a ? lg_adopt(lg_select(a, dim, i)) : NULL; }
static inline lg_tensor *G_index_select(lg_tensor *a, int dim, lg_tensor *index) {
  return a && index ? lg_adopt(lg_index_select(a, dim, index)) : NULL;
}
/* Backward ops (registered and differentiable, but internal: not in lg.h; the
 * binding exposes them as lunagrad.core._name for the registry specs). Each takes
 * the gradient g and puts it into zeros of the input's shape (ndim, shape):
 *   slice_backward: into the part slice(dim, start, stop, step) views (views.c)
 *   scatter_to: out[.., index[.., j, ..], ..] += g[.., j, ..] along dim, index of g's
 *     shape (reduce.c); gather is its adjoint: out[.., j, ..] = a[.., index[.., j, ..], ..]
 *   index_add_to: out[.., index[j], ..] += g[.., j, ..], index 1-d (join.c) */
lg_tensor *lg_slice_backward(lg_tensor *g, int dim, int64_t start, int64_t stop, int64_t step, int ndim,
                             const int64_t *shape);
lg_tensor *lg_scatter_to(lg_tensor *g, int dim, lg_tensor *index, int ndim, const int64_t *shape);
lg_tensor *lg_gather(lg_tensor *a, int dim, lg_tensor *index);
lg_tensor *lg_index_add_to(lg_tensor *g, int dim, lg_tensor *index, int ndim, const int64_t *shape);
static inline lg_tensor *G_slice_backward(lg_tensor *g, int dim, int64_t start, int64_t stop, int64_t step,
                                          int ndim, const int64_t *shape) {
  return g ? lg_adopt(lg_slice_backward(g, dim, start, stop, step, ndim, shape)) : NULL;
}
static inline lg_tensor *G_scatter_to(lg_tensor *g, int dim, lg_tensor *index, int ndim, const int64_t *shape) {
  return g && index ? lg_adopt(lg_scatter_to(g, dim, index, ndim, shape)) : NULL;
}
static inline lg_tensor *G_gather(lg_tensor *a, int dim, lg_tensor *index) {
  return a && index ? lg_adopt(lg_gather(a, dim, index)) : NULL;
}
static inline lg_tensor *G_index_add_to(lg_tensor *g, int dim, lg_tensor *index, int ndim, const int64_t *shape) {
  return g && index ? lg_adopt(lg_index_add_to(g, dim, index, ndim, shape)) : NULL;
}
static inline lg_tensor *G_conv2d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2]) { return x && w ? lg_adopt(lg_conv2d(x, w, b, stride, pad)) : NULL; }
static inline lg_tensor *G_avg_pool2d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2]) { return x ? lg_adopt(lg_avg_pool2d(x, k, stride, pad)) : NULL; }

/* ---- derivatives too long for a registry line (PyTorch's formulas) ---- */

/* activations: derivatives as PyTorch 1.13 computes them */
#define GELU_K 0.7978845608028654 /* sqrt(2 / pi) */
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

/* where(m, b, a) for a 0/1 mask m: a outside the mask, b inside */
static inline lg_tensor *rule_select(lg_tensor *m, lg_tensor *inside, lg_tensor *outside) {
  return G_add(G_zero_where(outside, m), G_zero_where(inside, G_rsub_scalar(m, 1)));
}
static inline lg_tensor *rule_gelu(lg_tensor *g, lg_tensor *a) { /* Phi(a) + a phi(a) */
  lg_tensor *cdf = G_mul_scalar(G_add_scalar(G_erf(G_mul_scalar(a, M_SQRT1_2)), 1), 0.5);
  lg_tensor *pdf = G_mul_scalar(G_exp(G_mul_scalar(G_mul(a, a), -0.5)), 0.3989422804014327);
  return G_mul(g, G_add(cdf, G_mul(a, pdf)));
}
static inline lg_tensor *rule_gelu_tanh(lg_tensor *g, lg_tensor *a) {
  lg_tensor *a2 = G_mul(a, a);
  lg_tensor *t = G_tanh(G_mul_scalar(G_mul(a, G_add_scalar(G_mul_scalar(a2, 0.044715), 1)), GELU_K));
  lg_tensor *inner = G_mul_scalar(G_add_scalar(G_mul_scalar(a2, 3 * 0.044715), 1), GELU_K);
  lg_tensor *dt = G_mul(G_rsub_scalar(G_mul(t, t), 1), inner);
  return G_mul(g, G_mul_scalar(G_add(G_add_scalar(t, 1), G_mul(a, dt)), 0.5));
}
static inline lg_tensor *rule_silu(lg_tensor *g, lg_tensor *a) { /* s (1 + a (1 - s)) */
  lg_tensor *s = G_sigmoid(a);
  return G_mul(g, G_mul(s, G_add_scalar(G_mul(a, G_rsub_scalar(s, 1)), 1)));
}
static inline lg_tensor *rule_elu(lg_tensor *g, lg_tensor *a, double alpha) { /* 1 | alpha e^a */
  lg_tensor *pos = G_cmp_scalar(a, 0, LG_GT);
  return G_mul(g, rule_select(pos, G_to_dtype(pos, a ? a->dtype : LG_F32), G_mul_scalar(G_exp(a), alpha)));
}
static inline lg_tensor *rule_celu(lg_tensor *g, lg_tensor *a, double alpha) { /* 1 | e^(a / alpha) */
  lg_tensor *pos = G_cmp_scalar(a, 0, LG_GT);
  return G_mul(g, rule_select(pos, G_to_dtype(pos, a ? a->dtype : LG_F32), G_exp(G_mul_scalar(a, 1 / alpha))));
}
static inline lg_tensor *rule_softplus(lg_tensor *g, lg_tensor *a, double beta, double threshold) {
  lg_tensor *linear = G_cmp_scalar(G_mul_scalar(a, beta), threshold, LG_GT);
  return G_mul(g, rule_select(linear, G_to_dtype(linear, a ? a->dtype : LG_F32), G_sigmoid(G_mul_scalar(a, beta))));
}
static inline lg_tensor *rule_mish(lg_tensor *g, lg_tensor *a) { /* tanh(sp) + a sech^2(sp) s */
  lg_tensor *t = G_tanh(G_softplus(a, 1, 20));
  return G_mul(g, G_add(t, G_mul(G_mul(a, G_rsub_scalar(G_mul(t, t), 1)), G_sigmoid(a))));
}
static inline lg_tensor *rule_hardswish(lg_tensor *g, lg_tensor *a) { /* 0 | a/3 + 1/2 | 1 */
  lg_tensor *mid = G_clamp_mask(a, -3, 3), *high = G_cmp_scalar(a, 3, LG_GT);
  return G_mul(g, G_add(G_mul(mid, G_add_scalar(G_mul_scalar(a, 1.0 / 3), 0.5)), high));
}

/* minimum/maximum: the gradient goes to the chosen input, half to each on ties */
static inline lg_tensor *rule_pick_mask(lg_tensor *chosen, lg_tensor *other) {
  lg_tensor *lt = chosen && other ? lg_adopt(lg_compare(chosen, other, LG_LT)) : NULL;
  lg_tensor *eq = chosen && other ? lg_adopt(lg_compare(chosen, other, LG_EQ)) : NULL;
  return G_add(lt, G_mul_scalar(eq, 0.5));
}

/* d(a^p)/da = p a^(p-1); exactly zero for p == 0 (where a^-1 would make 0 * inf) */
static inline lg_tensor *rule_pow(lg_tensor *g, lg_tensor *a, double p) {
  if (p == 0) return NULL;
  if (p == 2) return G_mul(g, G_mul_scalar(a, 2));
  return G_mul(g, G_mul_scalar(G_pow(a, p - 1), p));
}

/* d(a^b)/da = b a^(b-1), zero where b == 0 */
static inline lg_tensor *rule_pow_tensor_a(lg_tensor *g, lg_tensor *a, lg_tensor *b) {
  return G_zero_where(G_mul(g, G_mul(b, G_pow_tensor(a, G_add_scalar(b, -1)))), G_cmp_scalar(b, 0, LG_EQ));
}

/* d(a^b)/db = a^b ln a, zero where a == 0 and b >= 0 (the limit PyTorch takes) */
static inline lg_tensor *rule_pow_tensor_b(lg_tensor *g, lg_tensor *a, lg_tensor *b) {
  return G_zero_where(G_mul(g, G_mul(G_pow_tensor(a, b), G_log(a))),
                      G_mul(G_cmp_scalar(a, 0, LG_EQ), G_cmp_scalar(b, 0, LG_GE)));
}

/* d(s^a)/da = s^a ln s; for s == 0, zero where a >= 0 */
static inline lg_tensor *rule_rpow(lg_tensor *g, lg_tensor *a, lg_tensor *y, double s) {
  lg_tensor *d = G_mul_scalar(G_mul(g, y), log(s));
  return s == 0 ? G_zero_where(d, G_cmp_scalar(a, 0, LG_GE)) : d;
}

#endif
