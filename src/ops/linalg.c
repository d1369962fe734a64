/* Matrix products: lg_matmul on OpenBLAS gemm, with PyTorch's rules.
 *
 *   [k] @ [k] -> []            (dot)
 *   [k] @ [..., k, m] -> [..., m]     (a is a row [1, k], then that dim is dropped)
 *   [..., n, k] @ [k] -> [..., n]     (b is a column [k, 1], then that dim is dropped)
 *   [..., n, k] @ [..., k, m] -> [bcast(...), n, m]  (batch dims broadcast)
 *
 * Operands reach gemm without copies whenever each matrix has a unit stride in
 * one of its two dims: a .t() view is passed as a transpose flag with its leading
 * dimension. Only a matrix with no unit stride (a step-2 slice, an expanded row)
 * is copied first. When b is shared by every batch and a's batch and row dims
 * walk memory as one run (e.g. a contiguous [B, n, k]), the whole product is ONE
 * gemm of [B*n, k] x [k, m]. int64 operands are an error (convert with :float()
 * or :double()); float32 with float64 promotes to float64, like elementwise ops. */
#include <string.h>

#include "ops/rules.h"

/* ---- layouts ------------------------------------------------------------------ */

/* How gemm can read a rows x cols matrix with element strides rs, cs as it is:
 * row-major with ld = rs when columns are adjacent, or as the transpose of a
 * row-major cols x rows matrix with ld = cs when rows are adjacent. A size-1 dim
 * makes its stride irrelevant. BLAS wants ld >= max(1, row length). */
static bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool *trans,
                        int64_t *ld) {
  int64_t mc = cols > 1 ? cols : 1, mr = rows > 1 ? rows : 1;
  if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= mc)) {
    *trans = false;
    *ld = rows <= 1 ? mc : rs;
    return true;
  }
  if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= mr)) {
    *trans = true;
    *ld = cols <= 1 ? mr : cs;
    return true;
  }
  return false;
}

/* One operand as a stack of matrices. A 1-D a is a row [1, k]; a 1-D b a column. */
typedef struct {
  int64_t rows, cols, rs, cs;
  int nbatch; /* leading dims before the matrix */
} mat_view;

static mat_view view_of(const lg_tensor *t, bool is_a) {
  mat_view v;
  if (t->ndim == 1) {
    if (is_a) v = (mat_view){1, t->shape[0], t->shape[0], t->stride[0], 0};
    else v = (mat_view){t->shape[0], 1, t->stride[0], 1, 0};
    return v;
  }
  int nd = t->ndim;
  v = (mat_view){t->shape[nd - 2], t->shape[nd - 1], t->stride[nd - 2], t->stride[nd - 1], nd - 2};
  return v;
}

/* A contiguous copy that records nothing (the caller records the matmul). */
/* t itself (retained) when gemm can read its matrices, else a contiguous copy. */
static lg_tensor *blas_ready(lg_tensor *t, bool is_a) {
  mat_view v = view_of(t, is_a);
  bool trans;
  int64_t ld;
  if (blas_layout(v.rows, v.cols, v.rs, v.cs, &trans, &ld)) {
    lg_retain(t);
    return t;
  }
  return lg_dense(t, t->dtype);
}

static void gemm(lg_dtype dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const char *a,
                 int64_t lda, const char *b, int64_t ldb, char *c, int64_t ldc) {
  if (dtype == LG_F32)
    lg_gemm_f32(ta, tb, m, n, k, 1.0f, (const float *)a, lda, (const float *)b, ldb, 0.0f,
                (float *)c, ldc);
  else
    lg_gemm_f64(ta, tb, m, n, k, 1.0, (const double *)a, lda, (const double *)b, ldb, 0.0,
                (double *)c, ldc);
}

/* When b is the same matrix for every batch entry: can a's batch dims and rows be
 * read as one [B*n, k] matrix? Returns its row stride, or 0 if not. */
static int64_t merged_row_stride(const mat_view *va, int nb,
                                 const int64_t *bshape, const int64_t *astride) {
  if (va->cols > 1 && va->cs != 1) return 0; /* the merged matrix must be row-major */
  int64_t size[LG_MAX_DIMS + 1], stride[LG_MAX_DIMS + 1];
  int n = 0;
  for (int d = 0; d < nb; d++)
    if (bshape[d] != 1) {
      if (astride[d] == 0) return 0; /* a is broadcast over this batch dim */
      size[n] = bshape[d];
      stride[n++] = astride[d];
    }
  if (va->rows != 1) {
    size[n] = va->rows;
    stride[n++] = va->rs;
  }
  if (n == 0) return va->cols > 1 ? va->cols : 1;
  for (int i = 0; i + 1 < n; i++)
    if (stride[i] != stride[i + 1] * size[i + 1]) return 0;
  int64_t rs = stride[n - 1];
  return rs >= (va->cols > 1 ? va->cols : 1) ? rs : 0;
}

/* The product of two same-dtype float tensors, recording nothing. */
static lg_tensor *matmul_compute(lg_tensor *a, lg_tensor *b) {
  char sa[96], sb[96];
  mat_view va = view_of(a, true), vb = view_of(b, false);
  if (va.cols != vb.rows)
    return lg_fail("shapes %s and %s don't match", lg_shape_str(a, sa, sizeof sa),
                   lg_shape_str(b, sb, sizeof sb));
  /* broadcast batch dims, right-aligned */
  int nb = va.nbatch > vb.nbatch ? va.nbatch : vb.nbatch;
  int64_t bshape[LG_MAX_DIMS], shape[LG_MAX_DIMS];
  for (int d = 0; d < nb; d++) {
    int da = d - (nb - va.nbatch), db = d - (nb - vb.nbatch);
    int64_t na = da >= 0 ? a->shape[da] : 1, nbb = db >= 0 ? b->shape[db] : 1;
    if (na != nbb && na != 1 && nbb != 1)
      return lg_fail("batch dims of %s and %s don't broadcast", lg_shape_str(a, sa, sizeof sa),
                     lg_shape_str(b, sb, sizeof sb));
    bshape[d] = na == 1 ? nbb : na;
  }
  int nd = nb;
  memcpy(shape, bshape, sizeof(int64_t) * (size_t)nb);
  if (a->ndim > 1) shape[nd++] = va.rows;
  if (b->ndim > 1) shape[nd++] = vb.cols;
  lg_tensor *out = lg_new_like_shape(nd, shape, a->dtype);
  if (!out) return NULL;
  int64_t n = va.rows, k = va.cols, m = vb.cols, batch = lg_shape_numel(nb, bshape);
  if (n == 0 || m == 0 || batch == 0) return out;
  if (k == 0) { /* an empty sum: zeros (and BLAS would see lda = 0) */
    memset(lg_data_ptr(out), 0, (size_t)lg_numel(out) * lg_dtype_size(out->dtype));
    return out;
  }

  lg_tensor *ca = blas_ready(a, true), *cb = ca ? blas_ready(b, false) : NULL;
  if (!cb) {
    lg_release(ca);
    lg_release(out);
    return NULL;
  }
  va = view_of(ca, true);
  vb = view_of(cb, false);
  bool ta = false, tb = false; /* set by blas_layout; initialised for -O3 -Wmaybe-uninitialized */
  int64_t lda = 0, ldb = 0;
  blas_layout(va.rows, va.cols, va.rs, va.cs, &ta, &lda);
  blas_layout(vb.rows, vb.cols, vb.rs, vb.cs, &tb, &ldb);
  int64_t astride[LG_MAX_DIMS] = {0}, bstride[LG_MAX_DIMS] = {0};
  for (int d = 0; d < nb; d++) {
    int da = d - (nb - va.nbatch), db = d - (nb - vb.nbatch);
    astride[d] = da >= 0 && ca->shape[da] == bshape[d] && bshape[d] != 1 ? ca->stride[da] : 0;
    bstride[d] = db >= 0 && cb->shape[db] == bshape[d] && bshape[d] != 1 ? cb->stride[db] : 0;
  }
  size_t es = lg_dtype_size(a->dtype);
  const char *abase = lg_data_ptr(ca), *bbase = lg_data_ptr(cb);
  char *obase = lg_data_ptr(out);
  bool b_shared = true;
  for (int d = 0; d < nb; d++) b_shared = b_shared && bstride[d] == 0;
  int64_t merged = b_shared ? merged_row_stride(&va, nb, bshape, astride) : 0;
  if (merged > 0) {
    gemm(a->dtype, false, tb, batch * n, m, k, abase, merged, bbase, ldb, obase, m);
  } else {
    int64_t idx[LG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < batch; i++) {
      int64_t aoff = 0, boff = 0;
      for (int d = 0; d < nb; d++) {
        aoff += idx[d] * astride[d];
        boff += idx[d] * bstride[d];
      }
      gemm(a->dtype, ta, tb, n, m, k, abase + aoff * (int64_t)es, lda, bbase + boff * (int64_t)es,
           ldb, obase + i * n * m * (int64_t)es, m);
      for (int d = nb - 1; d >= 0 && ++idx[d] == bshape[d]; d--) idx[d] = 0;
    }
  }
  lg_release(ca);
  lg_release(cb);
  return out;
}

lg_tensor *lg_matmul(lg_tensor *a, lg_tensor *b) {
  char sa[96], sb[96];
  if (a->ndim == 0 || b->ndim == 0)
    return lg_fail("both arguments need at least 1 dim, got shapes %s and %s",
                   lg_shape_str(a, sa, sizeof sa), lg_shape_str(b, sb, sizeof sb));
  if (!lg_is_float(a->dtype) || !lg_is_float(b->dtype))
    return lg_fail("expected float tensors, got %s and %s (convert with :float() or :double())",
                   lg_dtype_name(a->dtype), lg_dtype_name(b->dtype));
  if (a->dtype != b->dtype) { /* promote through recorded casts so grads flow back */
    lg_tensor *pa = lg_to_dtype(a, LG_F64), *pb = pa ? lg_to_dtype(b, LG_F64) : NULL;
    lg_tensor *out = pb ? lg_matmul(pa, pb) : NULL;
    lg_release(pa);
    lg_release(pb);
    return out;
  }
  lg_tensor *out = matmul_compute(a, b);
  if (!out) return NULL;
  lg_tensor *in[2] = {a, b};
  return lg_recorded(&lg_op_matmul, out, in, 2, in, 2, NULL);
}

/* ---- backward: ga = g @ b^T, gb = a^T @ g --------------------------------------
 * 1-D operands are lifted to matrices (a -> [1, k], b -> [k, 1]) and g to
 * [..., n, m]; the lifted dim is dropped from the result again. Batch dims a or b
 * were broadcast over are summed by the engine; when b has no batch dims but a
 * does, gb is one product over a's [B*n, k] rows instead of a [B, k, m] one summed
 * afterwards. Written with ops, so the gradients are differentiable in turn. */
static lg_tensor *mT(lg_tensor *t) { return G_transpose(t, -1, -2); }

static void matmul_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *a = n->saved[0], *b = n->saved[1];
  bool a1 = a->ndim == 1, b1 = b->ndim == 1;
  if (a1 && b1) { /* dot: g is 0-d */
    if (n->inputs[0].needs_grad) gin[0] = G_mul(g, b);
    if (n->inputs[1].needs_grad) gin[1] = G_mul(g, a);
    return;
  }
  lg_tensor *A = a1 ? G_unsqueeze(a, 0) : a, *B = b1 ? G_unsqueeze(b, 1) : b;
  lg_tensor *G = b1 ? G_unsqueeze(g, g->ndim) : g;
  if (a1) G = G_unsqueeze(G, g->ndim + b1 - 1);
  if (n->inputs[0].needs_grad) {
    lg_tensor *ga = G_matmul(G, mT(B));
    gin[0] = a1 ? G_squeeze(ga, -2) : ga;
  }
  if (n->inputs[1].needs_grad) {
    int64_t ra[2] = {-1, a->shape[a->ndim - 1]}, rg[2] = {-1, b1 ? 1 : b->shape[b->ndim - 1]};
    lg_tensor *gb = (b1 || b->ndim == 2) && a->ndim > 2 ? G_matmul(mT(G_reshape(A, 2, ra)), G_reshape(G, 2, rg))
                                       : G_matmul(mT(A), G);
    gin[1] = b1 ? G_squeeze(gb, -1) : gb;
  }
}
LG_DEFINE_OP(matmul);
