/* Reductions: sum, mean, max/min, argmax, softmax and log_softmax. */
#include <math.h>
#include <string.h>

#include "ops/rules.h"

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
  return lg_recorded(&lg_op_sum_to, out, in, 1, NULL, 0, NULL);
}

/* The gradient of a sum is the gradient broadcast back to the input (a view;
 * scaled for a mean). */
static lg_tensor *broadcast_back(lg_node *n, lg_tensor *g, double scale) {
  const lg_edge *e = &n->inputs[0];
  int d = (int)n->i[0];
  lg_tensor *kept = d != LG_ALL_DIMS && !n->i[1] ? G_unsqueeze(g, d) : g; /* keepdim off */
  lg_tensor *full = G_expand(kept, e->ndim, e->shape);
  return scale == 1 ? full : G_mul_scalar(full, scale);
}

static void sum_to_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_expand(g, n->inputs[0].ndim, n->inputs[0].shape);
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
  lg_node *node;
  out = lg_recorded(mean ? &lg_op_mean : &lg_op_sum, out, in, 1, NULL, 0, &node);
  if (node) node->i[0] = d, node->i[1] = keepdim, node->f[0] = count ? 1.0 / (double)count : NAN;
  return out;
}

lg_tensor *lg_sum(lg_tensor *a, int dim, bool keepdim) { return sum_or_mean(a, dim, keepdim, false); }
lg_tensor *lg_mean(lg_tensor *a, int dim, bool keepdim) { return sum_or_mean(a, dim, keepdim, true); }

static void sum_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { gin[0] = broadcast_back(n, g, 1); }
LG_DEFINE_OP(sum);

static void mean_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { gin[0] = broadcast_back(n, g, n->f[0]); }
LG_DEFINE_OP(mean);

/* ---- max / min ---------------------------------------------------------------
 * Every kernel below sees its input as a contiguous [outer, len, inner] block,
 * reducing (or normalising) over len. The first extreme wins ties; a NaN wins
 * over numbers and the first NaN stays, as in PyTorch. */

typedef struct {
  int64_t outer, len, inner;
} lg_blocks;

/* The [outer, len, inner] split of shape at dim d (0-d tensors: all ones). */
static lg_blocks split_at(int ndim, const int64_t *shape, int d) {
  lg_blocks b = {1, 1, 1};
  for (int k = 0; k < ndim; k++) {
    if (k < d) b.outer *= shape[k];
    else if (k == d) b.len = shape[k];
    else b.inner *= shape[k];
  }
  return b;
}

/* A contiguous copy (or retained alias) recorded in no graph: kernels only read it. */
static lg_tensor *contiguous_untracked(lg_tensor *a) {
  bool was = lg_set_grad_enabled(false);
  lg_tensor *c = lg_contiguous(a);
  lg_set_grad_enabled(was);
  return c;
}

#define LG_GT_FIRST(v, b, NUM) (!((v) <= (b)) && NUM(b))
#define LG_LT_FIRST(v, b, NUM) (!((v) >= (b)) && NUM(b))
#define LG_IS_NUM(b) ((b) == (b))
#define LG_ALWAYS(b) 1

/* extreme_<op>_<type>(x, val, idx, blocks, o0, o1): rows o0..o1 of the output.
 * inner == 1 scans each row; otherwise whole rows of len are swept into the
 * [inner] output, which reads memory in order. */
#define DEFINE_EXTREME(NAME, T, BETTER, NUM)                                           \
  static void NAME(const T *x, T *val, int64_t *idx, lg_blocks b, int64_t o0, int64_t o1) { \
    for (int64_t o = o0; o < o1; o++) {                                                \
      const T *p = x + o * b.len * b.inner;                                            \
      if (b.inner == 1) {                                                              \
        T best = p[0];                                                                 \
        int64_t bi = 0;                                                                \
        for (int64_t r = 1; r < b.len; r++)                                            \
          if (BETTER(p[r], best, NUM)) best = p[r], bi = r;                            \
        val[o] = best;                                                                 \
        idx[o] = bi;                                                                   \
        continue;                                                                      \
      }                                                                                \
      T *v = val + o * b.inner;                                                        \
      int64_t *ix = idx + o * b.inner;                                                 \
      for (int64_t j = 0; j < b.inner; j++) v[j] = p[j], ix[j] = 0;                    \
      for (int64_t r = 1; r < b.len; r++) {                                            \
        const T *q = p + r * b.inner;                                                  \
        for (int64_t j = 0; j < b.inner; j++)                                          \
          if (BETTER(q[j], v[j], NUM)) v[j] = q[j], ix[j] = r;                         \
      }                                                                                \
    }                                                                                  \
  }

DEFINE_EXTREME(extreme_max_f32, float, LG_GT_FIRST, LG_IS_NUM)
DEFINE_EXTREME(extreme_max_f64, double, LG_GT_FIRST, LG_IS_NUM)
DEFINE_EXTREME(extreme_max_i64, int64_t, LG_GT_FIRST, LG_ALWAYS)
DEFINE_EXTREME(extreme_min_f32, float, LG_LT_FIRST, LG_IS_NUM)
DEFINE_EXTREME(extreme_min_f64, double, LG_LT_FIRST, LG_IS_NUM)
DEFINE_EXTREME(extreme_min_i64, int64_t, LG_LT_FIRST, LG_ALWAYS)

static void run_extreme(lg_tensor *c, lg_tensor *val, lg_tensor *idx, lg_blocks b, bool is_max) {
  const void *x = lg_data_ptr(c);
  void *v = lg_data_ptr(val);
  int64_t *ix = lg_data_ptr(idx);
  bool threaded = b.outer > 1 && b.outer * b.len * b.inner >= LG_PARALLEL_GRAIN;
  int64_t tasks = threaded ? (b.outer < 64 ? b.outer : 64) : 1;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t t = 0; t < tasks; t++) {
    int64_t o0 = b.outer * t / tasks, o1 = b.outer * (t + 1) / tasks;
    switch (c->dtype * 2 + is_max) {
    case LG_F32 * 2 + 1: extreme_max_f32(x, v, ix, b, o0, o1); break;
    case LG_F64 * 2 + 1: extreme_max_f64(x, v, ix, b, o0, o1); break;
    case LG_I64 * 2 + 1: extreme_max_i64(x, v, ix, b, o0, o1); break;
    case LG_F32 * 2: extreme_min_f32(x, v, ix, b, o0, o1); break;
    case LG_F64 * 2: extreme_min_f64(x, v, ix, b, o0, o1); break;
    default: extreme_min_i64(x, v, ix, b, o0, o1); break;
    }
  }
}

static int extreme_dim(lg_tensor *a, int dim, bool keepdim, bool is_max, lg_tensor **values,
                       lg_tensor **indices) {
  char buf[96];
  const char *what = is_max ? "max" : "min";
  if (values) *values = NULL;
  if (indices) *indices = NULL;
  int d;
  if (lg_wrap_dim(dim, a->ndim, &d)) return -1;
  if (a->ndim > 0 && a->shape[d] == 0)
    return lg_failed("cannot take the %s over dim %d of size 0 (shape %s)", what, d + 1,
                     lg_shape_str(a, buf, sizeof buf));
  lg_blocks b = split_at(a->ndim, a->shape, d);
  int64_t keep[LG_MAX_DIMS];
  memcpy(keep, a->shape, sizeof keep);
  if (a->ndim > 0) keep[d] = 1;
  lg_tensor *c = contiguous_untracked(a);
  lg_tensor *val = c ? lg_new_like_shape(a->ndim, keep, a->dtype) : NULL;
  lg_tensor *idx = val ? lg_new_like_shape(a->ndim, keep, LG_I64) : NULL;
  if (idx) run_extreme(c, val, idx, b, is_max);
  lg_release(c);
  if (!idx) {
    lg_release(val);
    return -1;
  }
  lg_tensor *vout = NULL, *iout = NULL;
  if (values) {
    lg_retain(val);
    vout = a->ndim > 0 ? finish_shape(val, d, keepdim) : val;
  }
  if (indices) {
    lg_retain(idx);
    iout = a->ndim > 0 ? finish_shape(idx, d, keepdim) : idx;
  }
  lg_release(val);
  int rc = (values && !vout) || (indices && !iout) ? -1 : 0;
  lg_tensor *in[1] = {a};
  if (rc == 0 && vout) { /* idx is keepdim-shaped, contiguous: [outer, 1, inner] */
    lg_node *node;
    vout = lg_recorded(is_max ? &lg_op_max : &lg_op_min, vout, in, 1, &idx, 1, &node);
    if (!vout) rc = -1;
    else if (node) node->i[0] = d;
  }
  lg_release(idx);
  if (rc) {
    lg_release(vout);
    lg_release(iout);
    return -1;
  }
  if (values) *values = vout;
  if (indices) *indices = iout;
  return 0;
}

int lg_max(lg_tensor *a, int dim, bool keepdim, lg_tensor **values, lg_tensor **indices) {
  return extreme_dim(a, dim, keepdim, true, values, indices);
}
int lg_min(lg_tensor *a, int dim, bool keepdim, lg_tensor **values, lg_tensor **indices) {
  return extreme_dim(a, dim, keepdim, false, values, indices);
}

/* The gradient of max/min over a dim: g put at the saved (keepdim-shaped) indices
 * into zeros, by scatter_to, whose own gradient is a gather of gg. */
static void max_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  const lg_edge *e = &n->inputs[0];
  int d = (int)n->i[0];
  if (e->ndim == 0) { /* the max of one element is that element */
    gin[0] = g;
    return;
  }
  lg_tensor *kept = g->ndim < e->ndim ? G_unsqueeze(g, d) : g; /* keepdim off */
  gin[0] = G_scatter_to(kept, d, n->saved[0], e->ndim, e->shape);
}
#define min_rule max_rule
LG_DEFINE_OP(max);
LG_DEFINE_OP(min);

/* ---- gather and scatter_to ---------------------------------------------------
 * Along dim d, with the index of the small side's shape ([outer, m, inner]) and
 * the big side [outer, len, inner] (the same sizes outside d):
 *   gather:     out[o, j, i] = a[o, index[o, j, i], i]
 *   scatter_to: out = zeros(big); out[o, index[o, j, i], i] += g[o, j, i]
 * Each is the other's adjoint, so each one's gradient is the other. */

/* index: int64, ndim dims, shape[k] except along d; values in [0, len). */
static int check_gather_index(const lg_tensor *index, int ndim, const int64_t *shape, int d, const char *big,
                              const lg_tensor *dense) {
  char si[96];
  if (index->dtype != LG_I64) return lg_failed("index must be an int64 tensor, got %s", lg_dtype_name(index->dtype));
  bool fits = index->ndim == ndim;
  for (int k = 0; fits && k < ndim; k++) fits = k == d || index->shape[k] == shape[k];
  if (!fits)
    return lg_failed("index %s does not match the %s outside dim %d", lg_shape_str(index, si, sizeof si), big,
                     d + 1);
  if (!dense) return 0;
  const int64_t *ix = lg_data_ptr(dense);
  for (int64_t k = 0, n = lg_numel(dense); k < n; k++)
    if (ix[k] < 0 || ix[k] >= shape[d])
      return lg_failed("index %lld out of range for dim %d of size %lld", (long long)ix[k] + 1, d + 1,
                       (long long)shape[d]);
  return 0;
}

#define DEFINE_GATHER(NAME, T)                                                                 \
  static void NAME(const T *a, const int64_t *ix, T *out, lg_blocks big, int64_t m) {          \
    for (int64_t o = 0; o < big.outer; o++)                                                    \
      for (int64_t j = 0; j < m; j++) {                                                        \
        int64_t at = (o * m + j) * big.inner;                                                  \
        for (int64_t i = 0; i < big.inner; i++)                                                \
          out[at + i] = a[(o * big.len + ix[at + i]) * big.inner + i];                         \
      }                                                                                        \
  }
#define DEFINE_SCATTER(NAME, T)                                                                \
  static void NAME(const T *g, const int64_t *ix, T *out, lg_blocks big, int64_t m) {          \
    for (int64_t o = 0; o < big.outer; o++)                                                    \
      for (int64_t j = 0; j < m; j++) {                                                        \
        int64_t at = (o * m + j) * big.inner;                                                  \
        for (int64_t i = 0; i < big.inner; i++)                                                \
          out[(o * big.len + ix[at + i]) * big.inner + i] += g[at + i];                        \
      }                                                                                        \
  }
DEFINE_GATHER(gather_f32, float)
DEFINE_GATHER(gather_f64, double)
DEFINE_GATHER(gather_i64, int64_t)
DEFINE_SCATTER(scatter_f32, float)
DEFINE_SCATTER(scatter_f64, double)

/* The recorded op's node keeps the dense 0-based index and the dim. */
static lg_tensor *record_indexed(const lg_op_info *op, lg_tensor *out, lg_tensor *in, lg_tensor *ix, int d) {
  lg_tensor *ins[1] = {in}, *saves[1] = {ix};
  lg_node *node;
  out = lg_recorded(op, out, ins, 1, saves, 1, &node);
  if (node) node->i[0] = d;
  return out;
}

lg_tensor *lg_gather(lg_tensor *a, int dim, lg_tensor *index) {
  int d;
  if (a->ndim == 0) return lg_fail("cannot gather from a 0-d tensor");
  if (lg_wrap_dim(dim, a->ndim, &d) || check_gather_index(index, a->ndim, a->shape, d, "input", NULL)) return NULL;
  lg_tensor *ix = lg_dense(index, LG_I64), *c = ix ? contiguous_untracked(a) : NULL;
  lg_tensor *out = c && !check_gather_index(index, a->ndim, a->shape, d, "input", ix)
                       ? lg_new_like_shape(index->ndim, index->shape, a->dtype) : NULL;
  if (out && lg_numel(out) > 0) {
    lg_blocks big = split_at(a->ndim, a->shape, d);
    const int64_t *ip = lg_data_ptr(ix);
    if (a->dtype == LG_F32) gather_f32(lg_data_ptr(c), ip, lg_data_ptr(out), big, index->shape[d]);
    else if (a->dtype == LG_F64) gather_f64(lg_data_ptr(c), ip, lg_data_ptr(out), big, index->shape[d]);
    else gather_i64(lg_data_ptr(c), ip, lg_data_ptr(out), big, index->shape[d]);
  }
  lg_release(c);
  out = out ? record_indexed(&lg_op_gather, out, a, ix, d) : NULL;
  lg_release(ix);
  return out;
}

static void gather_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_scatter_to(g, (int)n->i[0], n->saved[0], n->inputs[0].ndim, n->inputs[0].shape);
}
LG_DEFINE_OP(gather);

lg_tensor *lg_scatter_to(lg_tensor *g, int dim, lg_tensor *index, int ndim, const int64_t *shape) {
  char sg[96];
  int d;
  if (!lg_is_float(g->dtype)) return lg_fail("source must be a float tensor, got %s", lg_dtype_name(g->dtype));
  if (ndim < 1 || ndim > LG_MAX_DIMS) return lg_fail("cannot scatter into %d dims", ndim);
  if (lg_wrap_dim(dim, ndim, &d) || check_gather_index(index, ndim, shape, d, "output", NULL)) return NULL;
  if (!lg_same_shape(g, index))
    return lg_fail("index must have the source's shape %s", lg_shape_str(g, sg, sizeof sg));
  lg_tensor *ix = lg_dense(index, LG_I64), *gc = ix ? contiguous_untracked(g) : NULL;
  lg_tensor *out = gc && !check_gather_index(index, ndim, shape, d, "output", ix) ? lg_zeros(ndim, shape, g->dtype)
                                                                                  : NULL;
  if (out && lg_numel(g) > 0) {
    lg_blocks big = split_at(ndim, shape, d);
    if (g->dtype == LG_F32) scatter_f32(lg_data_ptr(gc), lg_data_ptr(ix), lg_data_ptr(out), big, g->shape[d]);
    else scatter_f64(lg_data_ptr(gc), lg_data_ptr(ix), lg_data_ptr(out), big, g->shape[d]);
  }
  lg_release(gc);
  out = out ? record_indexed(&lg_op_scatter_to, out, g, ix, d) : NULL;
  lg_release(ix);
  return out;
}

static void scatter_to_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_gather(g, (int)n->i[0], n->saved[0]);
}
LG_DEFINE_OP(scatter_to);

/* Flat index of the first extreme of contiguous c (numel n > 0). Threads scan
 * chunks in parallel; merging the chunk winners in order keeps "first wins". */
#define DEFINE_FLAT_EXTREME(NAME, T, BETTER, NUM)                                    \
  static int64_t NAME(const T *x, int64_t lo, int64_t hi) {                          \
    int64_t bi = lo;                                                                 \
    for (int64_t i = lo + 1; i < hi; i++)                                            \
      if (BETTER(x[i], x[bi], NUM)) bi = i;                                          \
    return bi;                                                                       \
  }
DEFINE_FLAT_EXTREME(flat_max_f32, float, LG_GT_FIRST, LG_IS_NUM)
DEFINE_FLAT_EXTREME(flat_max_f64, double, LG_GT_FIRST, LG_IS_NUM)
DEFINE_FLAT_EXTREME(flat_max_i64, int64_t, LG_GT_FIRST, LG_ALWAYS)
DEFINE_FLAT_EXTREME(flat_min_f32, float, LG_LT_FIRST, LG_IS_NUM)
DEFINE_FLAT_EXTREME(flat_min_f64, double, LG_LT_FIRST, LG_IS_NUM)
DEFINE_FLAT_EXTREME(flat_min_i64, int64_t, LG_LT_FIRST, LG_ALWAYS)

static int64_t flat_extreme(lg_tensor *c, bool is_max, int64_t lo, int64_t hi) {
  const void *x = lg_data_ptr(c);
  switch (c->dtype * 2 + is_max) {
  case LG_F32 * 2 + 1: return flat_max_f32(x, lo, hi);
  case LG_F64 * 2 + 1: return flat_max_f64(x, lo, hi);
  case LG_I64 * 2 + 1: return flat_max_i64(x, lo, hi);
  case LG_F32 * 2: return flat_min_f32(x, lo, hi);
  case LG_F64 * 2: return flat_min_f64(x, lo, hi);
  default: return flat_min_i64(x, lo, hi);
  }
}

/* Does element `cand` beat element `best` (both flat indices of contiguous c)? */
static bool replaces(lg_tensor *c, bool is_max, int64_t cand, int64_t best) {
  const void *x = lg_data_ptr(c);
  switch (c->dtype * 2 + is_max) {
  case LG_F32 * 2 + 1: return LG_GT_FIRST(((const float *)x)[cand], ((const float *)x)[best], LG_IS_NUM);
  case LG_F64 * 2 + 1: return LG_GT_FIRST(((const double *)x)[cand], ((const double *)x)[best], LG_IS_NUM);
  case LG_I64 * 2 + 1: return ((const int64_t *)x)[cand] > ((const int64_t *)x)[best];
  case LG_F32 * 2: return LG_LT_FIRST(((const float *)x)[cand], ((const float *)x)[best], LG_IS_NUM);
  case LG_F64 * 2: return LG_LT_FIRST(((const double *)x)[cand], ((const double *)x)[best], LG_IS_NUM);
  default: return ((const int64_t *)x)[cand] < ((const int64_t *)x)[best];
  }
}

#define LG_FLAT_CHUNKS 64
static int64_t flat_arg_extreme(lg_tensor *c, bool is_max) {
  int64_t n = lg_numel(c);
  int chunks = n >= 2 * LG_PARALLEL_GRAIN ? LG_FLAT_CHUNKS : 1;
  int64_t winner[LG_FLAT_CHUNKS];
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int k = 0; k < chunks; k++)
    winner[k] = flat_extreme(c, is_max, n * k / chunks, n * (k + 1) / chunks);
  int64_t best = winner[0];
  for (int k = 1; k < chunks; k++) /* chunks in order, so an earlier tie stays */
    if (replaces(c, is_max, winner[k], best)) best = winner[k];
  return best;
}

static lg_tensor *extreme_all(lg_tensor *a, bool is_max) {
  char buf[96];
  if (lg_numel(a) == 0)
    return lg_fail("cannot take the %s of an empty tensor (shape %s)", is_max ? "max" : "min",
                   lg_shape_str(a, buf, sizeof buf));
  lg_tensor *c = contiguous_untracked(a);
  lg_tensor *out = c ? lg_new_like_shape(0, NULL, a->dtype) : NULL;
  if (!out) {
    lg_release(c);
    return NULL;
  }
  int64_t at = flat_arg_extreme(c, is_max);
  size_t es = lg_dtype_size(a->dtype);
  memcpy(lg_data_ptr(out), (const char *)lg_data_ptr(c) + at * (int64_t)es, es);
  lg_release(c);
  lg_tensor *in[1] = {a};
  lg_node *node;
  if (!(out = lg_recorded(is_max ? &lg_op_max_all : &lg_op_min_all, out, in, 1, NULL, 0, &node))) return NULL;
  if (node) {
    lg_tensor *ix = lg_new_like_shape(1, (int64_t[]){1}, LG_I64); /* where the gradient goes */
    if (!ix) {
      lg_release(out);
      return NULL;
    }
    *(int64_t *)lg_data_ptr(ix) = at;
    lg_save(node, 0, ix);
    lg_release(ix);
  }
  return out;
}

lg_tensor *lg_max_all(lg_tensor *a) { return extreme_all(a, true); }
lg_tensor *lg_min_all(lg_tensor *a) { return extreme_all(a, false); }

/* The whole gradient goes to the one element chosen (the first of ties): scattered
 * into the flattened input at the saved index. */
static void max_all_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  const lg_edge *e = &n->inputs[0];
  int64_t one = 1, numel = lg_shape_numel(e->ndim, e->shape);
  lg_tensor *flat = G_scatter_to(G_reshape(g, 1, &one), 0, n->saved[0], 1, &numel);
  gin[0] = G_reshape(flat, e->ndim, e->shape);
}
#define min_all_rule max_all_rule
LG_DEFINE_OP(max_all);
LG_DEFINE_OP(min_all);

/* ---- argmax -------------------------------------------------------------- */

lg_tensor *lg_argmax(lg_tensor *a, int dim, bool keepdim) {
  char buf[96];
  if (dim != LG_ALL_DIMS) {
    lg_tensor *idx;
    return lg_max(a, dim, keepdim, NULL, &idx) ? NULL : idx;
  }
  if (lg_numel(a) == 0)
    return lg_fail("cannot take the argmax of an empty tensor (shape %s)", lg_shape_str(a, buf, sizeof buf));
  lg_tensor *c = contiguous_untracked(a);
  if (!c) return NULL;
  int64_t at = flat_arg_extreme(c, true), ones[LG_MAX_DIMS];
  lg_release(c);
  for (int d = 0; d < a->ndim; d++) ones[d] = 1;
  lg_tensor *out = lg_new_like_shape(keepdim ? a->ndim : 0, ones, LG_I64);
  if (out) *(int64_t *)lg_data_ptr(out) = at;
  return out;
}
