/* Reductions: sum, mean, max/min, argmax, softmax and log_softmax. */
#include <math.h>
#include <string.h>

#include "../lg_internal.h"

/* ---- sum-like reductions ------------------------------------------------------
 * Summing x into out where out has x's shape with reduced dims set to size 1:
 * iterate over x's shape with out's strides zeroed on reduced dims, adding into a
 * float64 accumulator (for accuracy), then cast to the result dtype. */

static void accumulate_row(int64_t n, char **p, const int64_t *s, void *ctx) {
  lg_dtype src = *(const lg_dtype *)ctx;
  double *o = (double *)p[0];
  if (src == LG_F32) {
    const float *x = (const float *)p[1];
    if (s[0] == 0) {
      double acc = 0;
      for (int64_t i = 0; i < n; i++) acc += x[i * s[1]];
      *o += acc;
    } else {
      for (int64_t i = 0; i < n; i++) o[i * s[0]] += x[i * s[1]];
    }
  } else if (src == LG_F64) {
    const double *x = (const double *)p[1];
    for (int64_t i = 0; i < n; i++) o[i * s[0]] += x[i * s[1]];
  } else {
    const int64_t *x = (const int64_t *)p[1];
    for (int64_t i = 0; i < n; i++) o[i * s[0]] += (double)x[i * s[1]];
  }
}

/* Sums a over the dims where keep_shape (same ndim as a) has size 1 but a does
 * not; the result has keep_shape, in `dtype`. */
static lg_tensor *reduce_sum_into(lg_tensor *a, const int64_t *keep_shape, lg_dtype dtype) {
  lg_tensor *acc = lg_zeros(a->ndim, keep_shape, LG_F64);
  if (!acc) return NULL;
  lg_tensor *ops[2] = {acc, a};
  int64_t strides[2][LG_MAX_DIMS];
  lg_broadcast_strides(acc, a->ndim, a->shape, strides[0]);
  memcpy(strides[1], a->stride, sizeof a->stride);
  lg_dtype src = a->dtype;
  lg_iterate(2, ops, strides, a->ndim, a->shape, accumulate_row, &src, false);
  if (dtype == LG_F64) return acc;
  lg_tensor *out = lg_to_dtype(acc, dtype);
  lg_release(acc);
  return out;
}

lg_tensor *lg_sum_to(lg_tensor *a, int ndim, const int64_t *shape) {
  char b[96];
  int lead = a->ndim - ndim;
  if (lead < 0) return lg_fail("cannot sum %s to %d dims", lg_shape_str(a, b, sizeof b), ndim);
  int64_t keep[LG_MAX_DIMS];
  for (int d = 0; d < a->ndim; d++) {
    int64_t want = d < lead ? 1 : shape[d - lead];
    if (want != a->shape[d] && want != 1)
      return lg_fail("cannot sum %s to the given shape", lg_shape_str(a, b, sizeof b));
    keep[d] = want;
  }
  lg_tensor *summed = reduce_sum_into(a, keep, a->dtype);
  if (!summed) return NULL;
  lg_tensor *out = lg_reshape(summed, ndim, shape);
  lg_release(summed);
  lg_tensor *in[1] = {a};
  if (out && lg_should_record(in, 1) && !lg_record(&lg_op_sum_to, out, in, 1)) {
    lg_release(out);
    return NULL;
  }
  return out;
}

/* The gradient of a sum is the gradient broadcast back: expand, then copy. */
static int broadcast_back(lg_node *n, lg_tensor *g, lg_tensor **gin, double scale) {
  const lg_edge *e = &n->inputs[0];
  lg_tensor *kept = g;
  if (n->i[0] != LG_ALL_DIMS && !n->i[1]) kept = lg_unsqueeze(g, (int)n->i[0]); /* keepdim off */
  else lg_retain(kept);
  if (!kept) return -1;
  lg_tensor *full = lg_zeros(e->ndim, e->shape, g->dtype);
  int rc = full ? lg_copy(full, kept) : -1;
  lg_release(kept);
  if (rc == 0 && scale != 1) {
    lg_tensor *scaled = lg_mul_scalar(full, scale);
    lg_release(full);
    full = scaled;
    rc = full ? 0 : -1;
  }
  if (rc) {
    lg_release(full);
    return -1;
  }
  gin[0] = full;
  return 0;
}

static int sum_to_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  const lg_edge *e = &n->inputs[0];
  gin[0] = lg_expand(g, e->ndim, e->shape);
  return gin[0] ? 0 : -1;
}
LG_DEFINE_OP(sum_to);

/* Shape of a reduced over dim (or all dims), with size-1 dims kept. */
static int reduced_shape(lg_tensor *a, int dim, int *d, int64_t *keep) {
  if (dim == LG_ALL_DIMS) {
    *d = LG_ALL_DIMS;
    for (int k = 0; k < a->ndim; k++) keep[k] = 1;
    return 0;
  }
  if (a->ndim == 0) {
    if (lg_wrap_dim(dim, 0, d)) return -1;
    *d = LG_ALL_DIMS;
    return 0;
  }
  if (lg_wrap_dim(dim, a->ndim, d)) return -1;
  memcpy(keep, a->shape, sizeof a->shape);
  keep[*d] = 1;
  return 0;
}

/* Drops the reduced dim(s) unless keepdim. */
static lg_tensor *finish_shape(lg_tensor *r, int d, bool keepdim) {
  if (keepdim) return r;
  lg_tensor *out = d == LG_ALL_DIMS ? lg_reshape(r, 0, NULL) : lg_squeeze(r, d);
  lg_release(r);
  return out;
}

static lg_tensor *sum_or_mean(lg_tensor *a, int dim, bool keepdim, bool mean) {
  int d;
  int64_t keep[LG_MAX_DIMS];
  if (reduced_shape(a, dim, &d, keep)) return NULL;
  lg_dtype dtype = mean && a->dtype == LG_I64 ? LG_F32 : a->dtype;
  lg_tensor *r = reduce_sum_into(a, keep, dtype);
  int64_t count = d == LG_ALL_DIMS ? lg_numel(a) : a->shape[d];
  if (r && mean) {
    lg_tensor *scaled = lg_mul_scalar(r, count ? 1.0 / (double)count : NAN);
    lg_release(r);
    r = scaled;
  }
  lg_tensor *out = r ? finish_shape(r, d, keepdim) : NULL;
  if (!out) return NULL;
  lg_tensor *in[1] = {a};
  if (lg_should_record(in, 1)) {
    lg_node *node = lg_record(mean ? &lg_op_mean : &lg_op_sum, out, in, 1);
    if (!node) {
      lg_release(out);
      return NULL;
    }
    node->i[0] = d;
    node->i[1] = keepdim;
    node->f[0] = count ? 1.0 / (double)count : NAN;
  }
  return out;
}

lg_tensor *lg_sum(lg_tensor *a, int dim, bool keepdim) { return sum_or_mean(a, dim, keepdim, false); }
lg_tensor *lg_mean(lg_tensor *a, int dim, bool keepdim) { return sum_or_mean(a, dim, keepdim, true); }

static int sum_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) { return broadcast_back(n, g, gin, 1); }
LG_DEFINE_OP(sum);

static int mean_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return broadcast_back(n, g, gin, n->f[0]);
}
LG_DEFINE_OP(mean);
