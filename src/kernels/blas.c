/* The only file that includes cblas.h: the GEMM entry points. */
#include <cblas.h>

#include "core/internal.h"

/* Row-major C = alpha * op(A) * op(B) + beta * C; op transposes when ta/tb.
 * Strided operands reach BLAS through lda/ldb/ldc without copies. */
void lg_gemm_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  /* AVX-512 CPUs: our kernels on our threads (OpenBLAS runs Haswell kernels here) */
  if (lg_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
              (blasint)ldc);
}

void lg_gemm_f64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                 int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
              (blasint)ldc);
}

void lg_blas_set_threads(int n) { openblas_set_num_threads(n); }
int lg_blas_get_threads(void) { return openblas_get_num_threads(); }
