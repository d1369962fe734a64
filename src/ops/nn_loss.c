/* Losses: nll, cross entropy (fused log-softmax + nll), BCE with logits, MSE.
 *
 * Each forward computes the per-element losses in float64 into a scratch array
 * and then reduces them (mean, sum or none). Each rule scales the gradient per
 * element by the incoming gradient (none) or by the one scalar gradient (mean
 * also divides by the element count); it is written with ops (differentiable
 * again under create_graph), and cross_entropy, bce_with_logits and mse_loss keep
 * a fused kernel for ordinary (first-order) backward, where it is faster. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/rules.h"


static int check_reduction(lg_reduction r) {
  if (r != LG_REDUCE_MEAN && r != LG_REDUCE_SUM && r != LG_REDUCE_NONE)
    return lg_failed("unknown reduction %d (expected mean, sum or none)", (int)r);
  return 0;
}

static double *scratch(int64_t n) {
  double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
  if (!p) lg_fail("out of memory computing a loss");
  return p;
}

/* The losses l[0..n) as the op's output: shape `shape` for none, else 0-d.
 * Takes ownership of l. */
static lg_tensor *reduce_losses(double *l, int64_t n, lg_reduction r, lg_dtype dtype, int ndim,
                                const int64_t *shape) {
  lg_tensor *out;
  if (r == LG_REDUCE_NONE) {
    out = lg_new_like_shape(ndim, shape, dtype);
    if (out)
      for (int64_t i = 0; i < n; i++) lg_store_float(lg_data_ptr(out), dtype, i, l[i]);
  } else {
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += l[i];
    if (r == LG_REDUCE_MEAN) acc = n > 0 ? acc / (double)n : NAN;
    out = lg_scalar(acc, dtype);
  }
  free(l);
  return out;
}

/* Per-element factors of the incoming gradient, read from a dense copy. */
typedef struct {
  lg_tensor *g;
  const void *p;
  lg_dtype dt;
  bool each;    /* reduction none: one gradient per element */
  double scale; /* otherwise g * scale for every element */
} grad_in;

static int grad_open(grad_in *gi, lg_tensor *g, lg_reduction r, int64_t n) {
  gi->g = lg_dense(g, g->dtype);
  if (!gi->g) return -1;
  gi->p = lg_data_ptr(gi->g);
  gi->dt = g->dtype;
  gi->each = r == LG_REDUCE_NONE;
  gi->scale = gi->each ? 1 : lg_load_float(gi->p, gi->dt, 0) * (r == LG_REDUCE_MEAN ? 1.0 / (double)(n > 0 ? n : 1) : 1.0);
  return 0;
}
static inline double grad_at(const grad_in *gi, int64_t i) { return gi->each ? lg_load_float(gi->p, gi->dt, i) : gi->scale; }

/* The same in ops: the incoming gradient for each element of an input of `shape`. */
static lg_tensor *grad_each(lg_tensor *g, lg_reduction r, int ndim, const int64_t *shape) {
  if (r == LG_REDUCE_NONE) return g;
  int64_t n = lg_shape_numel(ndim, shape);
  return G_expand(r == LG_REDUCE_MEAN ? G_mul_scalar(g, 1.0 / (double)(n > 0 ? n : 1)) : g, ndim, shape);
}

/* ---- class-index losses ---------------------------------------------------------- */

/* Shapes [N,C] and [N] and every target within [0, C), reported 0-based (the
 * binding converts and checks the Lua API's 1-based labels before calling in). */
static int check_class_target(const lg_tensor *x, const lg_tensor *t, const char *what) {
  char sx[96], stt[96];
  if (!lg_is_float(x->dtype)) return lg_failed("%s must be a float tensor, got %s", what, lg_dtype_name(x->dtype));
  if (x->ndim != 2)
    return lg_failed("%s must be 2-d [N, C], got %s", what, lg_shape_str(x, sx, sizeof sx));
  if (t->dtype != LG_I64)
    return lg_failed("target must be an int64 tensor of class indices, got %s", lg_dtype_name(t->dtype));
  if (t->ndim != 1 || t->shape[0] != x->shape[0])
    return lg_failed("target %s does not match %s %s (expected [%lld], one class per row)",
                     lg_shape_str(t, stt, sizeof stt), what, lg_shape_str(x, sx, sizeof sx),
                     (long long)x->shape[0]);
  int64_t C = x->shape[1];
  for (int64_t i = 0; i < t->shape[0]; i++) {
    int64_t k = (int64_t)lg_get(t, &i);
    if (k < 0 || k >= C)
      return lg_failed("target %lld out of range for %lld classes (expected 0 to %lld)", (long long)k, (long long)C,
                       (long long)C - 1);
  }
  return 0;
}

lg_tensor *lg_nll_loss(lg_tensor *logp, lg_tensor *target, lg_reduction r) {
  if (check_reduction(r) || check_class_target(logp, target, "input")) return NULL;
  int64_t N = logp->shape[0], C = logp->shape[1];
  lg_tensor *xd = lg_dense(logp, logp->dtype), *td = xd ? lg_dense(target, LG_I64) : NULL;
  double *l = td ? scratch(N) : NULL;
  if (!l) {
    lg_release(xd);
    lg_release(td);
    return NULL;
  }
  const int64_t *t = lg_data_ptr(td);
  for (int64_t i = 0; i < N; i++) l[i] = -lg_load_float(lg_data_ptr(xd), logp->dtype, i * C + t[i]);
  lg_tensor *out = reduce_losses(l, N, r, logp->dtype, 1, &N);
  lg_tensor *in[1] = {logp};
  lg_node *node;
  out = lg_recorded(&lg_op_nll_loss, out, in, 1, &td, 1, &node);
  if (node) node->i[0] = r;
  lg_release(xd);
  lg_release(td);
  return out;
}

/* d loss_i / d logp[i, j] = -1 where j is the target, 0 elsewhere: -g scattered
 * to the targets (the op scatter_to, whose gradient is a gather). */
static void nll_loss_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  const lg_edge *e = &n->inputs[0];
  lg_tensor *gcol = G_unsqueeze(grad_each(g, (lg_reduction)n->i[0], 1, e->shape), 1);
  gin[0] = G_scatter_to(G_neg(gcol), 1, G_unsqueeze(n->saved[0], 1), 2, e->shape);
}
LG_DEFINE_OP(nll_loss);

/* loss_i = logsumexp(x_i) - x_i[t_i], computed as (max - x[t]) + log1p(sum of
 * exp(x_j - max) over j other than the argmax): no overflow for large logits,
 * and no cancellation when the target is the (dominant) argmax. */
lg_tensor *lg_cross_entropy(lg_tensor *logits, lg_tensor *target, lg_reduction r) {
  if (check_reduction(r) || check_class_target(logits, target, "logits")) return NULL;
  int64_t N = logits->shape[0], C = logits->shape[1];
  lg_dtype dt = logits->dtype;
  lg_tensor *xd = lg_dense(logits, dt), *td = xd ? lg_dense(target, LG_I64) : NULL;
  lg_tensor *lse = td ? lg_new_like_shape(1, &N, LG_F64) : NULL;
  double *l = lse ? scratch(N) : NULL;
  if (!l) {
    lg_release(xd);
    lg_release(td);
    lg_release(lse);
    return NULL;
  }
  const void *xp = lg_data_ptr(xd);
  const int64_t *t = lg_data_ptr(td);
  double *lsep = lg_data_ptr(lse);
  for (int64_t i = 0; i < N; i++) {
    const int64_t row = i * C;
    int64_t k = 0;
    for (int64_t j = 1; j < C; j++)
      if (lg_load_float(xp, dt, row + j) > lg_load_float(xp, dt, row + k)) k = j;
    double mx = lg_load_float(xp, dt, row + k), rest = 0;
    for (int64_t j = 0; j < C; j++)
      if (j != k) rest += exp(lg_load_float(xp, dt, row + j) - mx);
    double tail = log1p(rest);
    lsep[i] = mx + tail;
    l[i] = (mx - lg_load_float(xp, dt, row + t[i])) + tail;
  }
  lg_tensor *out = reduce_losses(l, N, r, dt, 1, &N);
  lg_tensor *in[1] = {logits}, *saves[3] = {logits, td, lse};
  lg_node *node;
  out = lg_recorded(&lg_op_cross_entropy, out, in, 1, saves, 3, &node);
  if (node) node->i[0] = r;
  lg_release(xd);
  lg_release(td);
  lg_release(lse);
  return out;
}

/* d loss_i / d x[i, j] = softmax(x_i)_j - [j == t_i]; fused for first order. */
static lg_tensor *cross_entropy_fused(lg_node *n, lg_tensor *g) {
  lg_dtype dt = n->saved[0]->dtype;
  lg_tensor *x = lg_dense(n->saved[0], dt);
  if (!x) return NULL;
  int64_t N = x->shape[0], C = x->shape[1];
  grad_in gi;
  if (grad_open(&gi, g, (lg_reduction)n->i[0], N)) {
    lg_release(x);
    return NULL;
  }
  lg_tensor *gx = lg_new_like_shape(2, x->shape, dt);
  if (gx) {
    const void *xp = lg_data_ptr(x);
    const int64_t *t = lg_data_ptr(n->saved[1]);
    const double *lse = lg_data_ptr(n->saved[2]);
    void *gp = lg_data_ptr(gx);
    for (int64_t i = 0; i < N; i++) {
      double gs = grad_at(&gi, i);
      for (int64_t j = 0; j < C; j++) {
        double p = exp(lg_load_float(xp, dt, i * C + j) - lse[i]);
        lg_store_float(gp, dt, i * C + j, (p - (j == t[i] ? 1.0 : 0.0)) * gs);
      }
    }
  }
  lg_release(gi.g);
  lg_release(x);
  return gx;
}

static void cross_entropy_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  if (!lg_grad_enabled()) {
    gin[0] = lg_adopt(cross_entropy_fused(n, g));
    return;
  }
  lg_tensor *x = n->saved[0];
  lg_tensor *gcol = G_unsqueeze(grad_each(g, (lg_reduction)n->i[0], 1, x->shape), 1);
  gin[0] = G_sub(G_mul(G_softmax(x, 1), gcol), G_scatter_to(gcol, 1, G_unsqueeze(n->saved[1], 1), 2, x->shape));
}
LG_DEFINE_OP(cross_entropy);

/* ---- elementwise losses ------------------------------------------------------------ */

static int check_same_shape(const lg_tensor *a, const lg_tensor *b, const char *an, const char *bn) {
  char sa[96], sb[96];
  if (!lg_same_shape(a, b))
    return lg_failed("%s %s and %s %s must have the same shape", an, lg_shape_str(a, sa, sizeof sa), bn,
                     lg_shape_str(b, sb, sizeof sb));
  return 0;
}

/* An elementwise loss records both inputs and saves them (its rule's ops need the
 * inputs themselves, attached to their graph). */
static lg_tensor *record_pair(const lg_op_info *op, lg_tensor *out, lg_tensor *a, lg_tensor *b,
                              lg_tensor *ad, lg_tensor *bd, lg_reduction r) {
  lg_tensor *in[2] = {a, b};
  lg_node *node;
  out = lg_recorded(op, out, in, 2, in, 2, &node);
  if (node) node->i[0] = r;
  lg_release(ad);
  lg_release(bd);
  return out;
}

/* max(x, 0) - x t + log1p(exp(-|x|)): log(1 + exp(x)) - x t without overflow. */
lg_tensor *lg_bce_with_logits(lg_tensor *logits, lg_tensor *target, lg_reduction r) {
  if (check_reduction(r) || check_same_shape(logits, target, "logits", "target")) return NULL;
  if (!lg_is_float(logits->dtype))
    return lg_fail("logits must be a float tensor, got %s", lg_dtype_name(logits->dtype));
  lg_dtype dt = logits->dtype;
  int64_t n = lg_numel(logits);
  lg_tensor *xd = lg_dense(logits, dt), *td = xd ? lg_dense(target, dt) : NULL;
  double *l = td ? scratch(n) : NULL;
  if (!l) {
    lg_release(xd);
    lg_release(td);
    return NULL;
  }
  const void *xp = lg_data_ptr(xd), *tp = lg_data_ptr(td);
#pragma omp parallel for schedule(static) if (n >= LG_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double x = lg_load_float(xp, dt, i), t = lg_load_float(tp, dt, i);
    l[i] = (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
  }
  lg_tensor *out = reduce_losses(l, n, r, dt, logits->ndim, logits->shape);
  return record_pair(&lg_op_bce_with_logits, out, logits, target, xd, td, r);
}

/* d/dx = sigmoid(x) - t, d/dt = -x; fused for first order (new references in gin). */
static int bce_with_logits_fused(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_dtype dt = n->saved[0]->dtype;
  lg_tensor *x = lg_dense(n->saved[0], dt), *t = x ? lg_dense(n->saved[1], dt) : NULL;
  int64_t cnt = lg_numel(n->saved[0]);
  grad_in gi;
  if (!t || grad_open(&gi, g, (lg_reduction)n->i[0], cnt)) {
    lg_release(x);
    lg_release(t);
    return -1;
  }
  const void *xp = lg_data_ptr(x), *tp = lg_data_ptr(t);
  int rc = 0;
  for (int k = 0; k < 2 && rc == 0; k++) {
    if (!n->inputs[k].needs_grad) continue;
    lg_tensor *gt = lg_new_like_shape(x->ndim, x->shape, dt);
    if (!gt) {
      rc = -1;
      break;
    }
    void *gp = lg_data_ptr(gt);
#pragma omp parallel for schedule(static) if (cnt >= LG_PARALLEL_GRAIN)
    for (int64_t i = 0; i < cnt; i++) {
      double v = lg_load_float(xp, dt, i), d;
      if (k == 0) {
        double s = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
        d = s - lg_load_float(tp, dt, i);
      } else {
        d = -v;
      }
      lg_store_float(gp, dt, i, d * grad_at(&gi, i));
    }
    gin[k] = gt;
  }
  lg_release(gi.g);
  lg_release(x);
  lg_release(t);
  return rc;
}

static void bce_with_logits_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *x = n->saved[0], *t = n->saved[1];
  if (!lg_grad_enabled()) {
    bce_with_logits_fused(n, g, gin);
    for (int k = 0; k < 2; k++) lg_adopt(gin[k]);
    return;
  }
  lg_tensor *gs = grad_each(g, (lg_reduction)n->i[0], x->ndim, x->shape);
  if (n->inputs[0].needs_grad) gin[0] = G_mul(G_sub(G_sigmoid(x), t), gs);
  if (n->inputs[1].needs_grad) gin[1] = G_mul(G_neg(x), gs);
}
LG_DEFINE_OP(bce_with_logits);

lg_tensor *lg_mse_loss(lg_tensor *a, lg_tensor *b, lg_reduction r) {
  if (check_reduction(r) || check_same_shape(a, b, "input", "target")) return NULL;
  lg_dtype dt = lg_promote(a->dtype, b->dtype);
  if (dt == LG_I64) dt = LG_F32;
  int64_t n = lg_numel(a);
  lg_tensor *ad = lg_dense(a, dt), *bd = ad ? lg_dense(b, dt) : NULL;
  double *l = bd ? scratch(n) : NULL;
  if (!l) {
    lg_release(ad);
    lg_release(bd);
    return NULL;
  }
  const void *ap = lg_data_ptr(ad), *bp = lg_data_ptr(bd);
#pragma omp parallel for schedule(static) if (n >= LG_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double d = lg_load_float(ap, dt, i) - lg_load_float(bp, dt, i);
    l[i] = d * d;
  }
  lg_tensor *out = reduce_losses(l, n, r, dt, a->ndim, a->shape);
  return record_pair(&lg_op_mse_loss, out, a, b, ad, bd, r);
}

/* d/da = 2 (a - b), d/db = -2 (a - b); fused for first order (new references in gin). */
static int mse_loss_fused(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_dtype dt = lg_promote(n->saved[0]->dtype, n->saved[1]->dtype);
  if (dt == LG_I64) dt = LG_F32;
  lg_tensor *a = lg_dense(n->saved[0], dt), *b = a ? lg_dense(n->saved[1], dt) : NULL;
  int64_t cnt = lg_numel(n->saved[0]);
  grad_in gi;
  if (!b || grad_open(&gi, g, (lg_reduction)n->i[0], cnt)) {
    lg_release(a);
    lg_release(b);
    return -1;
  }
  const void *ap = lg_data_ptr(a), *bp = lg_data_ptr(b);
  int rc = 0;
  for (int k = 0; k < 2 && rc == 0; k++) {
    if (!n->inputs[k].needs_grad) continue;
    lg_tensor *gt = lg_new_like_shape(a->ndim, a->shape, dt);
    if (!gt) {
      rc = -1;
      break;
    }
    void *gp = lg_data_ptr(gt);
    double sign = k == 0 ? 2.0 : -2.0;
#pragma omp parallel for schedule(static) if (cnt >= LG_PARALLEL_GRAIN)
    for (int64_t i = 0; i < cnt; i++)
      lg_store_float(gp, dt, i, sign * (lg_load_float(ap, dt, i) - lg_load_float(bp, dt, i)) * grad_at(&gi, i));
    gin[k] = gt;
  }
  lg_release(gi.g);
  lg_release(a);
  lg_release(b);
  return rc;
}

static void mse_loss_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *a = n->saved[0], *b = n->saved[1];
  if (!lg_grad_enabled()) {
    mse_loss_fused(n, g, gin);
    for (int k = 0; k < 2; k++) lg_adopt(gin[k]);
    return;
  }
  lg_tensor *d = G_mul(G_sub(a, b), G_mul_scalar(grad_each(g, (lg_reduction)n->i[0], a->ndim, a->shape), 2));
  if (n->inputs[0].needs_grad) gin[0] = d;
  if (n->inputs[1].needs_grad) gin[1] = G_neg(d);
}
LG_DEFINE_OP(mse_loss);
