/* Joins and gathers: cat, stack, index_select, with backward rules.
 * cat and stack copy each input into its place in the output; their gradients
 * are views of g (narrow / select). index_select gathers slices along a dim
 * (memcpy of whole runs when the input is contiguous: the DataLoader's minibatch
 * path); its gradient is the op index_add_to, which adds g into zeros (repeated
 * indices accumulate) and whose own gradient is index_select of gg.
 * Messages count dims, list positions and indices from 1 like the Lua API. */
#include <string.h>

#include "ops/rules.h"

/* A non-recording view of out's storage with the given geometry. */
static int copy_into(lg_tensor *out, int ndim, const int64_t *shape, const int64_t *stride,
                     int64_t offset, lg_tensor *src) {
  lg_tensor *dst = lg_make_view(out->storage, out->dtype, ndim, shape, stride, offset);
  int rc = dst ? lg_copy(dst, src) : -1;
  lg_release(dst);
  return rc;
}

/* Common checks of a list: non-empty, no NULLs, one dtype. */
static int check_list(lg_tensor **ts, int n) {
  if (n <= 0 || !ts) return lg_failed("expected a non-empty list of tensors");
  for (int i = 0; i < n; i++) {
    if (!ts[i]) return lg_failed("list element %d is missing", i + 1);
    if (ts[i]->dtype != ts[0]->dtype)
      return lg_failed("list element %d has dtype %s but element 1 has %s", i + 1,
                       lg_dtype_name(ts[i]->dtype), lg_dtype_name(ts[0]->dtype));
  }
  return 0;
}

static lg_tensor *record_join(const lg_op_info *op, lg_tensor *out, lg_tensor **ts, int n, int d) {
  lg_node *node;
  out = lg_recorded(op, out, ts, n, NULL, 0, &node);
  if (node) node->i[0] = d;
  return out;
}

/* ---- cat ----------------------------------------------------------------------- */

lg_tensor *lg_cat(lg_tensor **ts, int n, int dim) {
  char s0[96], si[96];
  if (check_list(ts, n)) return NULL;
  lg_tensor *t0 = ts[0];
  if (t0->ndim == 0) return lg_fail("0-d tensors cannot be concatenated (use stack)");
  int d;
  if (lg_wrap_dim(dim, t0->ndim, &d)) return NULL;
  int64_t shape[LG_MAX_DIMS];
  memcpy(shape, t0->shape, sizeof shape);
  shape[d] = 0;
  for (int i = 0; i < n; i++) {
    lg_tensor *t = ts[i];
    bool fits = t->ndim == t0->ndim;
    for (int k = 0; fits && k < t0->ndim; k++) fits = k == d || t->shape[k] == t0->shape[k];
    if (!fits)
      return lg_fail("shapes %s (element 1) and %s (element %d) differ outside dim %d",
                     lg_shape_str(t0, s0, sizeof s0), lg_shape_str(t, si, sizeof si), i + 1, d + 1);
    shape[d] += t->shape[d];
  }
  lg_tensor *out = lg_empty(t0->ndim, shape, t0->dtype);
  if (!out) return NULL;
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    if (copy_into(out, out->ndim, ts[i]->shape, out->stride, at * out->stride[d], ts[i])) {
      lg_release(out);
      return NULL;
    }
    at += ts[i]->shape[d];
  }
  return record_join(&lg_op_cat, out, ts, n, d);
}

static void cat_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  int d = (int)n->i[0];
  int64_t at = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    const lg_edge *e = &n->inputs[i];
    if (e->needs_grad) gin[i] = G_narrow(g, d, at, e->shape[d]);
    at += e->shape[d];
  }
}
LG_DEFINE_OP(cat);

/* ---- stack --------------------------------------------------------------------- */

lg_tensor *lg_stack(lg_tensor **ts, int n, int dim) {
  char s0[96], si[96];
  if (check_list(ts, n)) return NULL;
  lg_tensor *t0 = ts[0];
  if (t0->ndim >= LG_MAX_DIMS) return lg_fail("stacking would exceed %d dims", LG_MAX_DIMS);
  int d;
  if (lg_wrap_dim(dim, t0->ndim + 1, &d)) return NULL;
  for (int i = 1; i < n; i++)
    if (!lg_same_shape(ts[i], t0))
      return lg_fail("expects tensors of one shape, got %s (element 1) and %s (element %d)",
                     lg_shape_str(t0, s0, sizeof s0), lg_shape_str(ts[i], si, sizeof si), i + 1);
  int64_t shape[LG_MAX_DIMS];
  for (int k = 0, j = 0; k <= t0->ndim; k++) shape[k] = k == d ? n : t0->shape[j++];
  lg_tensor *out = lg_empty(t0->ndim + 1, shape, t0->dtype);
  if (!out) return NULL;
  int64_t stride[LG_MAX_DIMS]; /* out's strides without dim d: one input's slot */
  for (int k = 0, j = 0; k <= t0->ndim; k++)
    if (k != d) stride[j++] = out->stride[k];
  for (int i = 0; i < n; i++)
    if (copy_into(out, t0->ndim, t0->shape, stride, i * out->stride[d], ts[i])) {
      lg_release(out);
      return NULL;
    }
  return record_join(&lg_op_stack, out, ts, n, d);
}

static void stack_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  for (int i = 0; i < n->n_inputs; i++)
    if (n->inputs[i].needs_grad) gin[i] = G_select(g, (int)n->i[0], i);
}
LG_DEFINE_OP(stack);

/* ---- index_select ------------------------------------------------------------------ */

/* outer x size x inner: the geometry of a contiguous tensor around dim d. */
static void split_at(int ndim, const int64_t *shape, int d, int64_t *outer, int64_t *inner) {
  *outer = lg_shape_numel(d, shape);
  *inner = lg_shape_numel(ndim - d - 1, shape + d + 1);
}

lg_tensor *lg_index_select(lg_tensor *a, int dim, lg_tensor *index) {
  char b[96];
  if (a->ndim == 0) return lg_fail("cannot index a 0-d tensor");
  int d;
  if (lg_wrap_dim(dim, a->ndim, &d)) return NULL;
  if (index->dtype != LG_I64)
    return lg_fail("index must be an int64 tensor, got %s", lg_dtype_name(index->dtype));
  if (index->ndim > 1)
    return lg_fail("index must be 1-d, got shape %s", lg_shape_str(index, b, sizeof b));
  const int64_t *idx = lg_data_ptr(index);
  int64_t nidx = lg_numel(index), istep = index->ndim ? index->stride[0] : 0, size = a->shape[d];
  for (int64_t j = 0; j < nidx; j++) {
    int64_t v = idx[j * istep];
    if (v < 0 || v >= size)
      return lg_fail("index %lld out of range for dim %d of size %lld", (long long)v + 1, d + 1,
                     (long long)size);
  }
  int64_t shape[LG_MAX_DIMS];
  memcpy(shape, a->shape, sizeof shape);
  shape[d] = nidx;
  lg_tensor *out = lg_new_like_shape(a->ndim, shape, a->dtype);
  if (!out) return NULL;
  size_t es = lg_dtype_size(a->dtype);
  if (lg_is_contiguous(a)) { /* whole runs of `inner` elements */
    int64_t outer, inner;
    split_at(a->ndim, a->shape, d, &outer, &inner);
    size_t run = (size_t)inner * es;
    const char *src = lg_data_ptr(a);
    char *dst = lg_data_ptr(out);
    int64_t pieces = outer * nidx;
#pragma omp parallel for schedule(static) if ((int64_t)run * pieces >= 8 * LG_PARALLEL_GRAIN)
    for (int64_t p = 0; p < pieces; p++) {
      int64_t o = p / nidx, j = p % nidx;
      memcpy(dst + (size_t)p * run, src + (size_t)(o * size + idx[j * istep]) * run, run);
    }
  } else { /* one strided copy per index, a's slice into out's slice */
    int64_t one[LG_MAX_DIMS];
    memcpy(one, a->shape, sizeof one);
    one[d] = 1;
    for (int64_t j = 0; j < nidx; j++) {
      lg_tensor *src = lg_make_view(a->storage, a->dtype, a->ndim, one, a->stride,
                                    a->offset + idx[j * istep] * a->stride[d]);
      int rc = src ? copy_into(out, out->ndim, one, out->stride, j * out->stride[d], src) : -1;
      lg_release(src);
      if (rc) {
        lg_release(out);
        return NULL;
      }
    }
  }
  lg_tensor *in[1] = {a};
  lg_node *node;
  out = lg_recorded(&lg_op_index_select, out, in, 1, &index, 1, &node);
  if (node) node->i[0] = d;
  return out;
}

static void index_select_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_index_add_to(g, (int)n->i[0], n->saved[0], n->inputs[0].ndim, n->inputs[0].shape);
}
LG_DEFINE_OP(index_select);

/* index_add_to(g, d, index, shape): zeros of `shape` with
 * out[.., index[j], ..] += g[.., j, ..] for every j (index 1-d, int64, 0-based). */
lg_tensor *lg_index_add_to(lg_tensor *g, int dim, lg_tensor *index, int ndim, const int64_t *shape) {
  char b[96];
  int d;
  if (!lg_is_float(g->dtype)) return lg_fail("source must be a float tensor, got %s", lg_dtype_name(g->dtype));
  if (ndim < 1 || ndim > LG_MAX_DIMS) return lg_fail("cannot index_add into %d dims", ndim);
  if (lg_wrap_dim(dim, ndim, &d)) return NULL;
  if (index->dtype != LG_I64)
    return lg_fail("index must be an int64 tensor, got %s", lg_dtype_name(index->dtype));
  if (index->ndim > 1)
    return lg_fail("index must be 1-d, got shape %s", lg_shape_str(index, b, sizeof b));
  int64_t nidx = lg_numel(index), size = shape[d];
  bool fits = g->ndim == ndim;
  for (int k = 0; fits && k < ndim; k++) fits = g->shape[k] == (k == d ? nidx : shape[k]);
  if (!fits) return lg_fail("source %s does not fit the index and the output shape", lg_shape_str(g, b, sizeof b));
  const int64_t *idx = lg_data_ptr(index);
  int64_t istep = index->ndim ? index->stride[0] : 0;
  for (int64_t j = 0; j < nidx; j++)
    if (idx[j * istep] < 0 || idx[j * istep] >= size)
      return lg_fail("index %lld out of range for dim %d of size %lld", (long long)idx[j * istep] + 1, d + 1,
                     (long long)size);
  lg_tensor *z = lg_zeros(ndim, shape, g->dtype), *gc = z ? lg_dense(g, g->dtype) : NULL;
  if (!gc) {
    lg_release(z);
    return NULL;
  }
  int64_t outer, inner;
  split_at(ndim, shape, d, &outer, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < nidx; j++) {
      int64_t to = (o * size + idx[j * istep]) * inner, from = (o * nidx + j) * inner;
      if (g->dtype == LG_F32) {
        float *dst = (float *)lg_data_ptr(z) + to;
        const float *src = (const float *)lg_data_ptr(gc) + from;
        for (int64_t t = 0; t < inner; t++) dst[t] += src[t];
      } else {
        double *dst = (double *)lg_data_ptr(z) + to;
        const double *src = (const double *)lg_data_ptr(gc) + from;
        for (int64_t t = 0; t < inner; t++) dst[t] += src[t];
      }
    }
  lg_release(gc);
  lg_tensor *in[1] = {g}, *saves[1] = {index};
  lg_node *node;
  z = lg_recorded(&lg_op_index_add_to, z, in, 1, saves, 1, &node);
  if (node) node->i[0] = d;
  return z;
}

static void index_add_to_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_index_select(g, (int)n->i[0], n->saved[0]);
}
LG_DEFINE_OP(index_add_to);
