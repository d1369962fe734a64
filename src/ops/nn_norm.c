/* Batch normalisation and (inverted) dropout, with their backward rules.
 *
 * Batch norm sees x as [N, C, S] (S = product of the dims after 1, so [N,C],
 * [N,C,L] and [N,C,H,W] share one kernel) and works channel by channel: the
 * statistics are accumulated in float64 whatever x's dtype, and channels are
 * split across threads for large inputs. Its ordinary backward is a fused
 * closed-form kernel; under create_graph the rule writes the same formulas with
 * ops, recomputing the batch statistics from x so that second derivatives flow
 * through them too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/rules.h"


/* A 1-d per-channel tensor (weight, bias, running stat) into a double array,
 * or `def` everywhere when t is NULL. */
static void read_channels(const lg_tensor *t, int64_t C, double def, double *out) {
  for (int64_t c = 0; c < C; c++) out[c] = t ? lg_get(t, &c) : def;
}

/* A double array as a new 1-d tensor of `dtype`. */
static lg_tensor *channels_tensor(const double *v, int64_t C, lg_dtype dtype) {
  lg_tensor *t = lg_new_like_shape(1, &C, dtype);
  if (t)
    for (int64_t c = 0; c < C; c++) lg_store_float(lg_data_ptr(t), dtype, c, v[c]);
  return t;
}

/* ---- batch norm -------------------------------------------------------------- */

/* Channel c of x seen as [N, C, S]: N runs of S contiguous values. */
typedef struct { int64_t N, C, S, c; } bn_channel;
#define BN_AT(ch, i, k) (((i) * (ch).C + (ch).c) * (ch).S + (k))

/* The per-channel loops take the dtype as a parameter and are always inlined
 * at call sites with a constant dtype, so ld/st compile to plain typed loads
 * and the inner loops vectorise: one body, two specialisations. */
static inline __attribute__((always_inline)) void
bn_forward_channel(bn_channel ch, lg_dtype dt, const void *xp, void *op, bool training, double eps,
                   const double *w, const double *b, double *mean, double *invstd, double *var) {
  int64_t c = ch.c;
  double mu = mean[c], v = var[c]; /* preset to the running stats */
  if (training) { /* two passes: the mean, then the centred sum of squares */
    double s = 0, ss = 0, m = (double)(ch.N * ch.S);
    for (int64_t i = 0; i < ch.N; i++)
      for (int64_t k = 0; k < ch.S; k++) s += lg_load_float(xp, dt, BN_AT(ch, i, k));
    mu = s / m;
    for (int64_t i = 0; i < ch.N; i++)
      for (int64_t k = 0; k < ch.S; k++) {
        double d = lg_load_float(xp, dt, BN_AT(ch, i, k)) - mu;
        ss += d * d;
      }
    v = ss / m;
  }
  mean[c] = mu;
  var[c] = v;
  invstd[c] = 1.0 / sqrt(v + eps);
  double scale = w[c] * invstd[c], shift = b[c];
  for (int64_t i = 0; i < ch.N; i++)
    for (int64_t k = 0; k < ch.S; k++) {
      int64_t at = BN_AT(ch, i, k);
      lg_store_float(op, dt, at, (lg_load_float(xp, dt, at) - mu) * scale + shift);
    }
}

/* With xhat = (x - mean) * invstd and dy the incoming gradient, per channel:
 *   gbias = sum dy, gweight = sum dy * xhat,
 *   training: gx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
 *   eval (constant statistics): gx = weight * invstd * dy. */
static inline __attribute__((always_inline)) void
bn_backward_channel(bn_channel ch, lg_dtype dt, const void *xp, const void *gp, void *gxp, bool training,
                    const double *mean, const double *invstd, const double *w, double *gw, double *gb) {
  int64_t c = ch.c;
  double sdy = 0, sdyx = 0, mu = mean[c], is = invstd[c], m = (double)(ch.N * ch.S);
  for (int64_t i = 0; i < ch.N; i++)
    for (int64_t k = 0; k < ch.S; k++) {
      int64_t at = BN_AT(ch, i, k);
      double dy = lg_load_float(gp, dt, at);
      sdy += dy;
      sdyx += dy * (lg_load_float(xp, dt, at) - mu);
    }
  sdyx *= is;
  gb[c] = sdy;
  gw[c] = sdyx;
  if (!gxp) return;
  double scale = w[c] * is, a = training ? sdy / m : 0, bcoef = training ? sdyx / m : 0;
  for (int64_t i = 0; i < ch.N; i++)
    for (int64_t k = 0; k < ch.S; k++) {
      int64_t at = BN_AT(ch, i, k);
      double xhat = (lg_load_float(xp, dt, at) - mu) * is;
      lg_store_float(gxp, dt, at, scale * (lg_load_float(gp, dt, at) - a - xhat * bcoef));
    }
}

static int check_channels(const lg_tensor *t, const char *what, int64_t C, const lg_tensor *x) {
  char st_[96], sx[96];
  if (!t) return 0;
  if (t->ndim != 1 || t->shape[0] != C)
    return lg_failed("%s must have shape [%lld] (one value per channel of input %s), got %s", what,
                     (long long)C, lg_shape_str(x, sx, sizeof sx), lg_shape_str(t, st_, sizeof st_));
  if (!lg_is_float(t->dtype)) return lg_failed("%s must be a float tensor, got %s", what, lg_dtype_name(t->dtype));
  return 0;
}

lg_tensor *lg_batch_norm(lg_tensor *x, lg_tensor *running_mean, lg_tensor *running_var,
                         lg_tensor *weight, lg_tensor *bias, bool training, double momentum,
                         double eps) {
  char sx[96];
  if (x->ndim < 2)
    return lg_fail("input must have at least 2 dims [N, C, ...], got %s", lg_shape_str(x, sx, sizeof sx));
  if (!lg_is_float(x->dtype)) return lg_fail("input must be a float tensor, got %s", lg_dtype_name(x->dtype));
  int64_t N = x->shape[0], C = x->shape[1], S = lg_shape_numel(x->ndim - 2, x->shape + 2), m = N * S;
  if (check_channels(running_mean, "running_mean", C, x) || check_channels(running_var, "running_var", C, x) ||
      check_channels(weight, "weight", C, x) || check_channels(bias, "bias", C, x))
    return NULL;
  if ((running_mean == NULL) != (running_var == NULL))
    return lg_fail("running_mean and running_var must be given together");
  if (!training && !running_mean)
    return lg_fail("running_mean and running_var are required in eval mode (training = false)");
  if (training && m <= 1)
    return lg_fail("expected more than 1 value per channel when training, got input %s",
                   lg_shape_str(x, sx, sizeof sx));
  if (!(eps >= 0)) return lg_fail("eps must be >= 0, got %g", eps);

  /* per channel: weight, bias, batch (or running) var, running mean, running var */
  double *buf = malloc((size_t)(C > 0 ? C : 1) * 5 * sizeof *buf);
  lg_tensor *xd = buf ? lg_dense(x, x->dtype) : NULL;
  lg_tensor *out = xd ? lg_new_like_shape(x->ndim, x->shape, x->dtype) : NULL;
  lg_tensor *stats = out ? lg_new_like_shape(2, (int64_t[]){2, C}, LG_F64) : NULL;
  if (!stats) {
    lg_release(xd);
    lg_release(out);
    free(buf);
    return buf ? NULL : lg_fail("out of memory in batch_norm");
  }
  double *w = buf, *b = buf + C, *var = buf + 2 * C, *rm = buf + 3 * C, *rv = buf + 4 * C;
  double *mean = lg_data_ptr(stats), *invstd = mean + C; /* saved for backward */
  read_channels(weight, C, 1.0, w);
  read_channels(bias, C, 0.0, b);
  read_channels(running_mean, C, 0.0, rm);
  read_channels(running_var, C, 1.0, rv);
  memcpy(mean, rm, (size_t)C * sizeof *mean); /* what eval mode normalises with */
  memcpy(var, rv, (size_t)C * sizeof *var);
  const void *xp = lg_data_ptr(xd);
  void *op = lg_data_ptr(out);
  lg_dtype dt = x->dtype;

#pragma omp parallel for schedule(static) if (N * C * S >= LG_PARALLEL_GRAIN && C > 1)
  for (int64_t c = 0; c < C; c++) {
    bn_channel ch = {N, C, S, c};
    if (dt == LG_F32) bn_forward_channel(ch, LG_F32, xp, op, training, eps, w, b, mean, invstd, var);
    else bn_forward_channel(ch, LG_F64, xp, op, training, eps, w, b, mean, invstd, var);
  }

  if (training && running_mean) { /* unbiased variance in the running estimate */
    for (int64_t c = 0; c < C; c++) {
      lg_set(running_mean, &c, (1 - momentum) * rm[c] + momentum * mean[c]);
      lg_set(running_var, &c, (1 - momentum) * rv[c] + momentum * var[c] * (double)m / (double)(m - 1));
    }
  }
  free(buf);

  lg_tensor *in[3] = {x, weight, bias};
  lg_tensor *saves[3] = {x, stats, weight}; /* x and weight themselves: create_graph differentiates them */
  lg_node *node;
  out = lg_recorded(&lg_op_batch_norm, out, in, 3, saves, 3, &node);
  if (node) node->i[0] = training, node->f[0] = eps;
  lg_release(xd);
  lg_release(stats);
  return out;
}

/* The fused first-order backward (closed form in bn_backward_channel); new
 * references in gin. */
static int batch_norm_fused(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *x0 = n->saved[0], *stats = n->saved[1], *wt = n->saved[2];
  bool training = n->i[0];
  lg_dtype dt = x0->dtype;
  int64_t N = x0->shape[0], C = x0->shape[1], S = lg_shape_numel(x0->ndim - 2, x0->shape + 2);
  const double *mean = lg_data_ptr(stats), *invstd = mean + C;
  double *buf = malloc((size_t)(C > 0 ? C : 1) * 3 * sizeof *buf);
  lg_tensor *x = buf ? lg_dense(x0, dt) : NULL, *gd = x ? lg_dense(g, dt) : NULL;
  bool need_x = n->inputs[0].needs_grad;
  lg_tensor *gx = gd && need_x ? lg_new_like_shape(x->ndim, x->shape, dt) : NULL;
  if (!gd || (need_x && !gx)) {
    free(buf);
    lg_release(x);
    lg_release(gd);
    return buf ? -1 : lg_failed("out of memory in batch_norm backward");
  }
  double *w = buf, *gw = buf + C, *gb = buf + 2 * C;
  read_channels(wt, C, 1.0, w);
  const void *xp = lg_data_ptr(x), *gp = lg_data_ptr(gd);
  void *gxp = gx ? lg_data_ptr(gx) : NULL;

#pragma omp parallel for schedule(static) if (N * C * S >= LG_PARALLEL_GRAIN && C > 1)
  for (int64_t c = 0; c < C; c++) {
    bn_channel ch = {N, C, S, c};
    if (dt == LG_F32) bn_backward_channel(ch, LG_F32, xp, gp, gxp, training, mean, invstd, w, gw, gb);
    else bn_backward_channel(ch, LG_F64, xp, gp, gxp, training, mean, invstd, w, gw, gb);
  }
  gin[0] = gx;
  int rc = 0;
  if (n->inputs[1].needs_grad && !(gin[1] = channels_tensor(gw, C, n->inputs[1].dtype))) rc = -1;
  if (rc == 0 && n->inputs[2].needs_grad && !(gin[2] = channels_tensor(gb, C, n->inputs[2].dtype))) rc = -1;
  free(buf);
  lg_release(x);
  lg_release(gd);
  return rc;
}

/* Per channel over the [N, C, S] view: sum over dims 0 and 2, kept as [1, C, 1]. */
static lg_tensor *channel_sum(lg_tensor *t) { return G_sum(G_sum(t, 2, true), 0, true); }

/* With m = N * S values per channel, xhat = (x - mean) * invstd and dy = g:
 *   gbias = sum dy, gweight = sum dy * xhat,
 *   training: gx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)),
 *             mean and invstd recomputed from x with ops (they depend on x);
 *   eval: gx = weight * invstd * dy, invstd of the running variance (a constant). */
static void batch_norm_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  if (!lg_grad_enabled()) {
    batch_norm_fused(n, g, gin);
    for (int k = 0; k < 3; k++) lg_adopt(gin[k]);
    return;
  }
  lg_tensor *x = n->saved[0], *weight = n->saved[2];
  int64_t N = x->shape[0], C = x->shape[1], S = lg_shape_numel(x->ndim - 2, x->shape + 2);
  int64_t ncs[3] = {N, C, S}, col[3] = {1, C, 1}, m = N * S;
  lg_tensor *x3 = G_reshape(x, 3, ncs), *g3 = G_reshape(g, 3, ncs);
  lg_tensor *mean, *invstd;
  if (n->i[0]) {
    mean = G_mul_scalar(channel_sum(x3), 1.0 / (double)m);
    lg_tensor *xc = G_sub(x3, mean);
    invstd = G_pow(G_add_scalar(G_mul_scalar(channel_sum(G_mul(xc, xc)), 1.0 / (double)m), n->f[0]), -0.5);
  } else { /* the saved running statistics, float64 [2, C]: mean, then invstd */
    mean = G_reshape(G_to_dtype(G_select(n->saved[1], 0, 0), x->dtype), 3, col);
    invstd = G_reshape(G_to_dtype(G_select(n->saved[1], 0, 1), x->dtype), 3, col);
  }
  lg_tensor *xhat = G_mul(G_sub(x3, mean), invstd);
  lg_tensor *w = weight ? G_reshape(weight, 3, col) : NULL;
  if (n->inputs[1].needs_grad) gin[1] = G_reshape(channel_sum(G_mul(g3, xhat)), 1, &C);
  if (n->inputs[2].needs_grad) gin[2] = G_reshape(channel_sum(g3), 1, &C);
  if (!n->inputs[0].needs_grad) return;
  lg_tensor *scale = w ? G_mul(w, invstd) : invstd, *dy = g3;
  if (n->i[0]) {
    double inv_m = 1.0 / (double)m;
    lg_tensor *mean_dy = G_mul_scalar(channel_sum(g3), inv_m);
    lg_tensor *mean_dyx = G_mul_scalar(channel_sum(G_mul(g3, xhat)), inv_m);
    dy = G_sub(G_sub(g3, mean_dy), G_mul(xhat, mean_dyx));
  }
  gin[0] = G_reshape(G_mul(scale, dy), x->ndim, x->shape);
}
LG_DEFINE_OP(batch_norm);

/* ---- dropout -------------------------------------------------------------------
 * Inverted dropout: kept elements are scaled by 1/(1-p) during training so the
 * expected activation is unchanged and eval mode is the plain identity. The
 * mask (0 or 1/(1-p), x's dtype) is drawn from the core RNG, sequentially so a
 * seed gives the same mask whatever the thread count, and kept for backward. */

lg_tensor *lg_dropout(lg_tensor *x, double p, bool training) {
  if (!(p >= 0 && p <= 1)) return lg_fail("dropout probability must be between 0 and 1, got %g", p);
  if (!lg_is_float(x->dtype)) return lg_fail("input must be a float tensor, got %s", lg_dtype_name(x->dtype));
  if (!training || p == 0) {
    lg_retain(x);
    return x;
  }
  double scale = p < 1 ? 1.0 / (1.0 - p) : 0.0;
  lg_dtype dt = x->dtype;
  lg_tensor *xd = lg_dense(x, dt);
  lg_tensor *mask = xd ? lg_new_like_shape(x->ndim, x->shape, dt) : NULL;
  lg_tensor *out = mask ? lg_new_like_shape(x->ndim, x->shape, dt) : NULL;
  if (!out) {
    lg_release(xd);
    lg_release(mask);
    return NULL;
  }
  int64_t total = lg_numel(x);
  void *mp = lg_data_ptr(mask), *op = lg_data_ptr(out);
  const void *xp = lg_data_ptr(xd);
  for (int64_t i = 0; i < total; i++) {
    double keep = lg_random_uniform() >= p ? scale : 0.0;
    lg_store_float(mp, dt, i, keep);
    lg_store_float(op, dt, i, lg_load_float(xp, dt, i) * keep);
  }
  lg_release(xd);
  lg_tensor *in[1] = {x};
  out = lg_recorded(&lg_op_dropout, out, in, 1, &mask, 1, NULL);
  lg_release(mask);
  return out;
}

/* g times the saved mask (0 or 1/(1-p): the scale is in it), a constant. */
static void dropout_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { gin[0] = G_mul(g, n->saved[0]); }
LG_DEFINE_OP(dropout);
