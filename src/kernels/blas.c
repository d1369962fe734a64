/* The only file that includes cblas.h: the GEMM entry points. */
#include <cblas.h>
#include <stdio.h>

#include "core/internal.h"

/* Row-major C = alpha * op(A) * op(B) + beta * C; op transposes when ta/tb.
 * Strided operands reach BLAS through lda/ldb/ldc without copies. */
void lg_gemm_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  /* our kernels on our threads (avx512/avx2 paths); generic: OpenBLAS */
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

/* "OpenBLAS <version and build options> (core <kernel set in use>)". */
const char *lg_blas_info(void) {
  static char info[256];
  if (!info[0]) {
    const char *core = openblas_get_corename();
    snprintf(info, sizeof info, "%s (core %s)", openblas_get_config(), core ? core : "?");
  }
  return info;
}
