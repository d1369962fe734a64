/* Views (new geometry over the same storage) and copies, with backward rules.
 * A view's gradient is the incoming gradient put back into the input's geometry:
 * another view of g, or for slice/select the op slice_backward (zeros with g
 * written into the part), whose own gradient is the slice of gg again. */
#include <string.h>

#include "ops/rules.h"

/* A view of t recorded as `op` (NULL: not differentiable), with i[] params. */
static lg_tensor *make_alias(lg_tensor *t, const lg_op_info *op, int ndim, const int64_t *shape,
                             const int64_t *stride, int64_t offset, const int64_t *params, int nparams) {
  lg_tensor *out = lg_make_view(t->storage, t->dtype, ndim, shape, stride, offset);
  if (!op) return out;
  lg_tensor *in[1] = {t};
  lg_node *node;
  out = lg_recorded(op, out, in, 1, NULL, 0, &node);
  for (int k = 0; node && k < nparams; k++) node->i[k] = params[k];
  return out;
}

/* Resolves one -1 and checks the element count. */
static int infer_shape(const lg_tensor *t, int ndim, const int64_t *shape, int64_t *out) {
  char b[96];
  if (ndim < 0 || ndim > LG_MAX_DIMS) return lg_failed("%d dims requested, at most %d", ndim, LG_MAX_DIMS);
  int infer = -1;
  int64_t known = 1;
  bool zero = false; /* known skips 0 sizes so that the strides are checked too */
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == -1) {
      if (infer >= 0) return lg_failed("only one dimension can be -1");
      infer = d;
    } else if (shape[d] < 0) {
      return lg_failed("invalid size %lld", (long long)shape[d]);
    } else if (__builtin_mul_overflow(known, shape[d] > 0 ? shape[d] : 1, &known)) {
      return lg_failed("shape is too large (more than 2^63 elements)");
    }
    if (shape[d] == 0) zero = true;
    out[d] = shape[d];
  }
  int64_t n = lg_numel(t);
  if (zero) known = 0;
  if (infer >= 0) {
    if (known == 0 || n % known != 0)
      return lg_failed("shape with -1 does not fit the %lld elements of %s", (long long)n,
                       lg_shape_str(t, b, sizeof b));
    out[infer] = n / known;
  } else if (known != n) {
    return lg_failed("shape of %lld elements does not fit the %lld elements of %s", (long long)known,
                     (long long)n, lg_shape_str(t, b, sizeof b));
  }
  return 0;
}

lg_tensor *lg_view(lg_tensor *t, int ndim, const int64_t *shape) {
  int64_t s[LG_MAX_DIMS], stride[LG_MAX_DIMS];
  if (infer_shape(t, ndim, shape, s)) return NULL;
  if (!lg_is_contiguous(t))
    return lg_fail("view needs a contiguous tensor (use reshape, or contiguous() first)");
  lg_contiguous_strides(ndim, s, stride);
  return make_alias(t, &lg_op_view, ndim, s, stride, t->offset, NULL, 0);
}

lg_tensor *lg_reshape(lg_tensor *t, int ndim, const int64_t *shape) {
  int64_t s[LG_MAX_DIMS];
  if (infer_shape(t, ndim, shape, s)) return NULL;
  if (lg_is_contiguous(t)) return lg_view(t, ndim, s);
  lg_tensor *c = lg_contiguous(t);
  lg_tensor *out = c ? lg_view(c, ndim, s) : NULL;
  lg_release(c);
  return out;
}

/* view, squeeze and unsqueeze: the gradient reshaped to the input. */
static void view_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_reshape(g, n->inputs[0].ndim, n->inputs[0].shape);
}
#define squeeze_rule view_rule
#define unsqueeze_rule view_rule
LG_DEFINE_OP(view);
LG_DEFINE_OP(squeeze);
LG_DEFINE_OP(unsqueeze);

lg_tensor *lg_flatten(lg_tensor *t, int start, int end) {
  int s, e;
  int nd = t->ndim > 0 ? t->ndim : 1;
  if (lg_wrap_dim(start, nd, &s) || lg_wrap_dim(end, nd, &e)) return NULL;
  if (s > e) return lg_fail("start dim %d comes after end dim %d", s + 1, e + 1);
  if (t->ndim == 0) return lg_reshape(t, 1, (int64_t[]){1});
  int64_t shape[LG_MAX_DIMS];
  int k = 0;
  for (int d = 0; d < s; d++) shape[k++] = t->shape[d];
  int64_t merged = 1;
  for (int d = s; d <= e; d++) merged *= t->shape[d];
  shape[k++] = merged;
  for (int d = e + 1; d < t->ndim; d++) shape[k++] = t->shape[d];
  return lg_reshape(t, k, shape);
}

lg_tensor *lg_squeeze(lg_tensor *t, int dim) {
  int64_t shape[LG_MAX_DIMS], stride[LG_MAX_DIMS];
  int k = 0, only = -1;
  if (dim != LG_ALL_DIMS && lg_wrap_dim(dim, t->ndim, &only)) return NULL;
  for (int d = 0; d < t->ndim; d++) {
    bool drop = t->shape[d] == 1 && (only < 0 || d == only);
    if (drop) continue;
    shape[k] = t->shape[d];
    stride[k++] = t->stride[d];
  }
  return make_alias(t, &lg_op_squeeze, k, shape, stride, t->offset, NULL, 0);
}

lg_tensor *lg_unsqueeze(lg_tensor *t, int dim) {
  int d0;
  if (t->ndim >= LG_MAX_DIMS) return lg_fail("tensor already has %d dims", LG_MAX_DIMS);
  if (lg_wrap_dim(dim, t->ndim + 1, &d0)) return NULL;
  int64_t shape[LG_MAX_DIMS], stride[LG_MAX_DIMS];
  for (int d = 0, k = 0; d <= t->ndim; d++) {
    if (d == d0) {
      shape[d] = 1;
      stride[d] = d < t->ndim ? t->stride[d] * t->shape[d] : 1;
    } else {
      shape[d] = t->shape[k];
      stride[d] = t->stride[k++];
    }
  }
  return make_alias(t, &lg_op_unsqueeze, t->ndim + 1, shape, stride, t->offset, NULL, 0);
}

lg_tensor *lg_permute(lg_tensor *t, const int *dims) {
  int64_t shape[LG_MAX_DIMS] = {0}, stride[LG_MAX_DIMS] = {0}, inverse[LG_MAX_DIMS]; /* {0}: gcc cannot see ndim 0 reads none */
  bool seen[LG_MAX_DIMS] = {false};
  for (int d = 0; d < t->ndim; d++) {
    int src;
    if (lg_wrap_dim(dims[d], t->ndim, &src)) return NULL;
    if (seen[src]) return lg_fail("dim %d repeated in permutation", src + 1);
    seen[src] = true;
    shape[d] = t->shape[src];
    stride[d] = t->stride[src];
    inverse[src] = d;
  }
  return make_alias(t, &lg_op_permute, t->ndim, shape, stride, t->offset, inverse, t->ndim);
}

static void permute_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  int dims[LG_MAX_DIMS];
  for (int d = 0; d < g->ndim; d++) dims[d] = (int)n->i[d];
  gin[0] = G_permute(g, dims);
}
LG_DEFINE_OP(permute);

lg_tensor *lg_transpose(lg_tensor *t, int d0, int d1) {
  int a, b;
  int nd = t->ndim > 0 ? t->ndim : 1;
  if (lg_wrap_dim(d0, nd, &a) || lg_wrap_dim(d1, nd, &b)) return NULL;
  if (t->ndim == 0) return make_alias(t, NULL, 0, NULL, NULL, t->offset, NULL, 0);
  int64_t shape[LG_MAX_DIMS], stride[LG_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(stride, t->stride, sizeof stride);
  shape[a] = t->shape[b];
  shape[b] = t->shape[a];
  stride[a] = t->stride[b];
  stride[b] = t->stride[a];
  int64_t params[2] = {a, b};
  return make_alias(t, &lg_op_transpose, t->ndim, shape, stride, t->offset, params, 2);
}

static void transpose_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_transpose(g, (int)n->i[0], (int)n->i[1]);
}
LG_DEFINE_OP(transpose);

lg_tensor *lg_slice(lg_tensor *t, int dim, int64_t start, int64_t stop, int64_t step) {
  int d;
  if (lg_wrap_dim(dim, t->ndim, &d)) return NULL;
  if (t->ndim == 0) return lg_fail("cannot slice a 0-d tensor");
  if (step <= 0) return lg_fail("slice step must be positive, got %lld", (long long)step);
  int64_t size = t->shape[d];
  if (start < 0 || stop > size || start > stop)
    return lg_fail("range [%lld, %lld) out of bounds for dim %d of size %lld", (long long)start + 1,
                   (long long)stop + 1, d + 1, (long long)size);
  int64_t shape[LG_MAX_DIMS], stride[LG_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(stride, t->stride, sizeof stride);
  shape[d] = (stop - start + step - 1) / step;
  stride[d] = t->stride[d] * step;
  int64_t params[4] = {d, start, stop, step};
  return make_alias(t, &lg_op_slice, t->ndim, shape, stride, t->offset + start * t->stride[d],
                    params, 4);
}

lg_tensor *lg_narrow(lg_tensor *t, int dim, int64_t start, int64_t length) {
  if (length < 0) return lg_fail("negative length %lld", (long long)length);
  return lg_slice(t, dim, start, start + length, 1);
}

/* slice_backward(g, dim, start, stop, step, shape): zeros of `shape` with g written
 * into the part that slice(dim, start, stop, step) of such a tensor would view:
 * the gradient of slice and select, linear in g, so its gradient is the slice of gg. */
lg_tensor *lg_slice_backward(lg_tensor *g, int dim, int64_t start, int64_t stop, int64_t step, int ndim,
                             const int64_t *shape) {
  char b[96];
  if (!lg_is_float(g->dtype)) return lg_fail("gradient must be a float tensor, got %s", lg_dtype_name(g->dtype));
  lg_tensor *z = lg_zeros(ndim, shape, g->dtype); /* checks ndim and the sizes */
  lg_tensor *part = z ? lg_slice(z, dim, start, stop, step) : NULL; /* checks dim and the range */
  int rc = part ? 0 : -1;
  if (part && !lg_same_shape(part, g))
    rc = lg_failed("gradient %s does not fit the slice of the input", lg_shape_str(g, b, sizeof b));
  if (rc == 0) rc = lg_copy(part, g);
  lg_release(part);
  if (rc) {
    lg_release(z);
    return NULL;
  }
  lg_tensor *in[1] = {g};
  lg_node *node;
  z = lg_recorded(&lg_op_slice_backward, z, in, 1, NULL, 0, &node);
  if (node) {
    node->i[0] = dim < 0 ? dim + ndim : dim;
    node->i[1] = start;
    node->i[2] = stop;
    node->i[3] = step;
  }
  return z;
}

static void slice_backward_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_slice(g, (int)n->i[0], n->i[1], n->i[2], n->i[3]);
}
LG_DEFINE_OP(slice_backward);

static void slice_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  const lg_edge *e = &n->inputs[0];
  gin[0] = G_slice_backward(g, (int)n->i[0], n->i[1], n->i[2], n->i[3], e->ndim, e->shape);
}
LG_DEFINE_OP(slice);

lg_tensor *lg_select(lg_tensor *t, int dim, int64_t index) {
  int d;
  if (t->ndim == 0) return lg_fail("cannot select from a 0-d tensor");
  if (lg_wrap_dim(dim, t->ndim, &d)) return NULL;
  if (index < 0) index += t->shape[d];
  if (index < 0 || index >= t->shape[d])
    return lg_fail("index %lld out of range for dim %d of size %lld", (long long)index + 1, d + 1,
                   (long long)t->shape[d]);
  int64_t shape[LG_MAX_DIMS], stride[LG_MAX_DIMS];
  for (int s = 0, k = 0; s < t->ndim; s++) {
    if (s == d) continue;
    shape[k] = t->shape[s];
    stride[k++] = t->stride[s];
  }
  int64_t params[2] = {d, index};
  return make_alias(t, &lg_op_select, t->ndim - 1, shape, stride, t->offset + index * t->stride[d],
                    params, 2);
}

/* select(d, i) is slice(d, i, i + 1) without dim d: g gets it back, then goes in. */
static void select_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  const lg_edge *e = &n->inputs[0];
  int d = (int)n->i[0];
  gin[0] = G_slice_backward(G_unsqueeze(g, d), d, n->i[1], n->i[1] + 1, 1, e->ndim, e->shape);
}
LG_DEFINE_OP(select);

lg_tensor *lg_expand(lg_tensor *t, int ndim, const int64_t *shape) {
  char b[96];
  if (ndim < t->ndim || ndim > LG_MAX_DIMS)
    return lg_fail("cannot expand %s to %d dims", lg_shape_str(t, b, sizeof b), ndim);
  int64_t s[LG_MAX_DIMS], stride[LG_MAX_DIMS], extent = 1;
  int lead = ndim - t->ndim;
  for (int d = 0; d < ndim; d++) {
    int td = d - lead;
    int64_t have = td >= 0 ? t->shape[td] : 1;
    s[d] = shape[d] == -1 ? have : shape[d];
    if (shape[d] == -1 && td < 0) return lg_fail("-1 is not allowed for a new leading dim");
    if (have != s[d] && have != 1)
      return lg_fail("cannot expand size %lld to %lld in dim %d", (long long)have, (long long)s[d], d + 1);
    if (s[d] < 0) return lg_fail("invalid size %lld", (long long)s[d]);
    /* 2^53: element counts and offsets of any op on the result stay in int64 */
    if (__builtin_mul_overflow(extent, s[d] > 0 ? s[d] : 1, &extent) || extent > ((int64_t)1 << 53))
      return lg_fail("shape is too large (more than 2^53 elements)");
    stride[d] = (td < 0 || have != s[d]) ? 0 : t->stride[td];
  }
  return make_alias(t, &lg_op_expand, ndim, s, stride, t->offset, NULL, 0);
}

/* The engine sums gradients back to the input's shape (it does that for any
 * broadcast), so expand's rule only passes g through. */
static void expand_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  (void)n;
  gin[0] = g;
}
#define contiguous_rule expand_rule
#define clone_rule expand_rule
LG_DEFINE_OP(expand);
LG_DEFINE_OP(contiguous);
LG_DEFINE_OP(clone);

/* ---- copies ---------------------------------------------------------------- */

static lg_tensor *copy_as(lg_tensor *t, lg_dtype dtype, const lg_op_info *op) {
  lg_tensor *out = lg_new_like_shape(t->ndim, t->shape, dtype);
  if (!out) return NULL;
  if (lg_copy(out, t)) {
    lg_release(out);
    return NULL;
  }
  lg_tensor *in[1] = {t};
  return lg_is_float(dtype) ? lg_recorded(op, out, in, 1, NULL, 0, NULL) : out;
}

lg_tensor *lg_clone(lg_tensor *t) { return copy_as(t, t->dtype, &lg_op_clone); }

lg_tensor *lg_contiguous(lg_tensor *t) {
  if (lg_is_contiguous(t)) {
    lg_retain(t);
    return t;
  }
  return copy_as(t, t->dtype, &lg_op_contiguous);
}

lg_tensor *lg_to_dtype(lg_tensor *t, lg_dtype dtype) {
  if (t->dtype == dtype) {
    lg_retain(t);
    return t;
  }
  return copy_as(t, dtype, &lg_op_to_dtype);
}

static void to_dtype_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  gin[0] = G_to_dtype(g, n->inputs[0].dtype);
}
LG_DEFINE_OP(to_dtype);
