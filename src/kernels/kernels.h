/* The kernel layer: one GEMM entry point per dtype, lunagrad's own sgemm, and
 * the thread helpers. Ops call lg_gemm_f32/lg_gemm_f64; only src/kernels/
 * knows whether OpenBLAS or lunagrad's micro-kernels run underneath. */
#ifndef LG_KERNELS_H
#define LG_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* ---- BLAS (src/kernels/blas.c) ---------------------------------------------------
 * Row-major C = alpha * op(A) op(B) + beta * C, op = transpose when ta/tb; lda,
 * ldb, ldc are row strides in elements (any stride >= the row length works). */
void lg_gemm_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void lg_gemm_f64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                 int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

/* OpenBLAS's own thread count (lg_set_num_threads sets both pools). */
void lg_blas_set_threads(int n);
int lg_blas_get_threads(void);

/* ---- threads (src/kernels/threads.c) ---------------------------------------
 * Threads our OpenMP loops may use (1 in a build without OpenMP). */
int lg_kernel_threads(void);
/* The calling thread's number in our parallel region (0 outside / without OpenMP). */
int lg_thread_num(void);

/* ---- AVX-512 sgemm (src/kernels/sgemm_avx512.c) ----------------------------------------------
 * Only when lg_sgemm_available() (the CPU has AVX-512F, not switched off).
 * lg_sgemm: the whole product on our OpenMP threads (lg_gemm_f32 calls it).
 * lg_sgemm_serial: on the calling thread, for callers that parallelise
 * themselves; C = alpha * A op(B) + beta * C with A packed (once, for any
 * number of calls) by lg_sgemm_pack_a into lg_sgemm_packed_a_size floats, and a
 * work buffer of lg_sgemm_work_size(n, k) floats per thread. */
bool lg_sgemm_available(void);
void lg_sgemm_set_enabled(bool on);
bool lg_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void lg_sgemm_release_workspace(void); /* lg_sgemm's packing buffers (lg_empty_cache) */
int64_t lg_sgemm_packed_a_size(int64_t m, int64_t k);
int64_t lg_sgemm_work_size(int64_t n, int64_t k);
void lg_sgemm_pack_a(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *packed);
void lg_sgemm_serial(int64_t m, int64_t n, int64_t k, float alpha, const float *packed_a, bool tb,
                     const float *b, int64_t ldb, float beta, float *c, int64_t ldc, float *work);
/* The same with A [m, k] read in place, rows lda apart (no packing: for an A
 * used once, such as conv2d's unfolded image in the weight gradient). */
void lg_sgemm_serial_rows(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, bool tb, const float *b, int64_t ldb, float beta, float *c,
                          int64_t ldc, float *work);

/* Functions lg_empty_cache() calls after emptying the storage cache (packing
 * buffers and other kernel scratch). Registered once, at most 8. */
typedef void (*lg_cache_hook)(void);
void lg_add_empty_cache_hook(lg_cache_hook hook);
void lg_run_empty_cache_hooks(void);

#endif
