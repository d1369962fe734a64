/* Fully connected layer: out = x @ w^T + b.
 *
 * All leading dims of x are folded into the GEMM's rows, so a [B,T,in] input is
 * one [B*T,in] x [in,out] product, not B small ones. w reaches BLAS in whatever
 * row- or column-major layout it has (w:t() views included) through the
 * transpose flag and leading dimension: no copy. The bias is written into the
 * output first and the GEMM accumulates onto it (beta = 1). */
#include <stdlib.h>
#include <string.h>

#include "ops/rules.h"


/* How a 2-D matrix can be handed to BLAS as is: row-major (trans false) or
 * column-major (trans true, i.e. its transpose is row-major), with the leading
 * dimension. False when neither holds (then the caller makes it dense). */
static bool blas_layout(const lg_tensor *m, bool *trans, int64_t *ld) {
  int64_t rows = m->shape[0], cols = m->shape[1];
  if (m->stride[1] == 1 && m->stride[0] >= (cols > 1 ? cols : 1)) {
    *trans = false;
    *ld = m->stride[0];
    return true;
  }
  if (m->stride[0] == 1 && m->stride[1] >= (rows > 1 ? rows : 1)) {
    *trans = true;
    *ld = m->stride[1];
    return true;
  }
  return false;
}

/* C[m,n] = op(A)[m,k] op(B)[k,n] + beta C, for either float dtype. Degenerate
 * sizes are handled here: BLAS rejects leading dims of 0. */
static void gemm(lg_dtype dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a,
                 int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0) memset(c, 0, (size_t)(m * n) * lg_dtype_size(dtype)); /* ldc == n here */
    return;
  }
  if (lda < 1) lda = 1;
  if (ldb < 1) ldb = 1;
  if (ldc < 1) ldc = 1;
  if (dtype == LG_F32)
    lg_gemm_f32(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, (float)beta, c, ldc);
  else
    lg_gemm_f64(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

lg_tensor *lg_linear(lg_tensor *x, lg_tensor *w, lg_tensor *b) {
  char sx[96], sw[96], sb[96];
  if (!lg_is_float(x->dtype) || x->dtype != w->dtype || (b && b->dtype != x->dtype))
    return lg_fail("x, weight and bias must share one float dtype, got %s, %s and %s",
                   lg_dtype_name(x->dtype), lg_dtype_name(w->dtype),
                   b ? lg_dtype_name(b->dtype) : "no bias");
  if (w->ndim != 2)
    return lg_fail("weight must be 2-d [out_features, in_features], got %s", lg_shape_str(w, sw, sizeof sw));
  int64_t out_f = w->shape[0], in_f = w->shape[1];
  if (x->ndim < 1 || x->shape[x->ndim - 1] != in_f)
    return lg_fail("input %s does not match weight %s (last dim of the input must be in_features = %lld)",
                   lg_shape_str(x, sx, sizeof sx), lg_shape_str(w, sw, sizeof sw), (long long)in_f);
  if (b && (b->ndim != 1 || b->shape[0] != out_f))
    return lg_fail("bias %s does not match weight %s (expected [%lld])", lg_shape_str(b, sb, sizeof sb),
                   lg_shape_str(w, sw, sizeof sw), (long long)out_f);

  int64_t rows = lg_shape_numel(x->ndim - 1, x->shape);
  int64_t oshape[LG_MAX_DIMS];
  memcpy(oshape, x->shape, sizeof oshape);
  oshape[x->ndim - 1] = out_f;

  bool wt = false;
  int64_t ldw = in_f;
  lg_tensor *xd = lg_dense(x, x->dtype);
  lg_tensor *wd = blas_layout(w, &wt, &ldw) ? lg_detach(w) : lg_dense(w, w->dtype);
  lg_tensor *bd = b ? lg_dense(b, b->dtype) : NULL;
  lg_tensor *out = xd && wd && (bd || !b) ? lg_new_like_shape(x->ndim, oshape, x->dtype) : NULL;
  if (!out) {
    lg_release(xd);
    lg_release(wd);
    lg_release(bd);
    return NULL;
  }
  blas_layout(wd, &wt, &ldw); /* a dense copy is row-major */
  size_t es = lg_dtype_size(x->dtype);
  char *o = lg_data_ptr(out);
  if (bd)
    for (int64_t r = 0; r < rows; r++) memcpy(o + (size_t)(r * out_f) * es, lg_data_ptr(bd), (size_t)out_f * es);
  /* out[rows,out] (+)= x[rows,in] @ w^T: w row-major [out,in] is B transposed. */
  gemm(x->dtype, false, !wt, rows, out_f, in_f, lg_data_ptr(xd), in_f, lg_data_ptr(wd), ldw,
       bd ? 1.0 : 0.0, o, out_f);
  lg_release(bd);

  lg_tensor *in[3] = {x, w, b};
  lg_tensor *saves[4] = {x, w, xd, wd}; /* the inputs for create_graph, dense forms for the fused backward */
  lg_node *node;
  out = lg_recorded(&lg_op_linear, out, in, 3, saves, 4, &node);
  if (node) node->i[0] = rows;
  lg_release(xd);
  lg_release(wd);
  return out;
}

/* Column sums of a [rows, cols] matrix, accumulated in double (acc zeroed),
 * written to out in the matrix's dtype. */
static void column_sums(const void *m, lg_dtype dt, int64_t rows, int64_t cols, double *acc, void *out) {
  if (dt == LG_F32) {
    const float *f = m;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < cols; j++) acc[j] += f[r * cols + j];
    for (int64_t j = 0; j < cols; j++) ((float *)out)[j] = (float)acc[j];
  } else {
    const double *d = m;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < cols; j++) acc[j] += d[r * cols + j];
    memcpy(out, acc, (size_t)cols * sizeof *acc);
  }
}

/* First order: gx = g @ w, gw = g^T @ x over the flattened rows and gb = column
 * sums of g, each one gemm (or pass) on the dense forms saved by the forward. */
static void linear_fused_grads(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *x = n->saved[2], *w = n->saved[3];
  int64_t rows = n->i[0], out_f = w->shape[0], in_f = w->shape[1];
  lg_dtype dt = x->dtype;
  bool wt = false;
  int64_t ldw = in_f;
  blas_layout(w, &wt, &ldw);
  lg_tensor *gd = lg_adopt(lg_dense(g, dt));
  if (!gd) return;
  const void *gp = lg_data_ptr(gd);
  if (n->inputs[0].needs_grad && (gin[0] = lg_adopt(lg_new_like_shape(x->ndim, x->shape, dt))))
    gemm(dt, false, wt, rows, in_f, out_f, gp, out_f, lg_data_ptr(w), ldw, 0, lg_data_ptr(gin[0]), in_f);
  if (n->inputs[1].needs_grad && (gin[1] = lg_adopt(lg_new_like_shape(2, w->shape, dt))))
    gemm(dt, true, false, out_f, in_f, rows, gp, out_f, lg_data_ptr(x), in_f, 0, lg_data_ptr(gin[1]), in_f);
  if (n->inputs[2].needs_grad) {
    double *acc = calloc((size_t)(out_f > 0 ? out_f : 1), sizeof *acc);
    if (!acc) lg_failed("out of memory in linear backward");
    else if ((gin[2] = lg_adopt(lg_new_like_shape(1, &out_f, dt))))
      column_sums(gp, dt, rows, out_f, acc, lg_data_ptr(gin[2]));
    free(acc);
  }
}

/* Under create_graph: the same gradients as ops, so they are differentiable. */
static void linear_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  if (!lg_grad_enabled()) { /* an ordinary backward */
    linear_fused_grads(n, g, gin);
    return;
  }
  lg_tensor *x = n->saved[0], *w = n->saved[1];
  int64_t rows = n->i[0], out_f = w->shape[0], in_f = w->shape[1];
  if (n->inputs[0].needs_grad) gin[0] = G_matmul(g, w);
  if (n->inputs[1].needs_grad)
    gin[1] = G_matmul(G_transpose(G_reshape(g, 2, (int64_t[2]){rows, out_f}), 0, 1),
                      G_reshape(x, 2, (int64_t[2]){rows, in_f}));
  if (n->inputs[2].needs_grad) gin[2] = G_sum_to(g, 1, &out_f);
}
LG_DEFINE_OP(linear);
