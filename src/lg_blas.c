/* The only file that includes cblas.h: GEMM wrappers and the thread count.
 * One thread count for both pools, OpenMP (our kernels) and OpenBLAS (gemm):
 * two pools busy-waiting on 2 cores can make 2 threads slower than 1. */
#include <cblas.h>

#include "lg_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void lg_set_num_threads(int n) {
  if (n < 1) n = 1;
  openblas_set_num_threads(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

/* Threads our own parallel loops may use: without OpenMP they run serially, even
 * when OpenBLAS has threads. */
int lg_kernel_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* This thread's number inside one of our parallel regions (0 outside, or
 * without OpenMP). */
int lg_thread_num(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

int lg_get_num_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return openblas_get_num_threads();
#endif
}

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
