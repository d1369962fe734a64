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
/* The BLAS library, its build and the kernel set it runs, as one line. */
const char *lg_blas_info(void);

/* ---- threads (src/kernels/threads.c) ---------------------------------------
 * Threads our OpenMP loops may use (1 in a build without OpenMP). */
int lg_kernel_threads(void);
/* The calling thread's number in our parallel region (0 outside / without OpenMP). */
int lg_thread_num(void);

/* ---- lunagrad's sgemm (src/kernels/sgemm.c, one file per ISA) ----------------------
 * One API over the ISA paths, picked once by cpuid: avx512 (sgemm_avx512.c,
 * 8x48 zmm tiles), avx2 (sgemm_avx2.c, 6x16 ymm tiles, AVX2 + FMA) and generic
 * (no kernel of ours: float32 products go to OpenBLAS, conv2d to im2col +
 * OpenBLAS). LUNAGRAD_ISA=avx512|avx2|generic forces one (a path the CPU cannot
 * run falls back to the best one below it, with a warning on stderr);
 * LUNAGRAD_AVX512=0, the old switch, means generic (kept for one release).
 * Every path sums each element of C in the same order (k blocks of 256), so
 * avx512 and avx2 give the same bits, whatever the thread count.
 *
 * Only when lg_sgemm_available() (the path is not generic):
 * lg_sgemm: the whole product on our OpenMP threads (lg_gemm_f32 calls it).
 * lg_sgemm_serial: on the calling thread, for callers that parallelise
 * themselves; C = alpha * A op(B) + beta * C with A packed (once, for any
 * number of calls) by lg_sgemm_pack_a into lg_sgemm_packed_a_size floats, and a
 * work buffer of lg_sgemm_work_size(n, k) floats per thread. The packed layout
 * belongs to the path: pack and multiply on the same one. */
bool lg_sgemm_available(void);
void lg_sgemm_set_enabled(bool on); /* false: generic until set true again */
const char *lg_sgemm_isa(void);     /* the path in use: "avx512", "avx2" or "generic" */
/* Can this CPU run the path `name`? (generic: always; unknown names: false) */
bool lg_sgemm_isa_supported(const char *name);
/* Switch paths at run time (specs); 0, or -1 for an unknown name, -2 when the
 * CPU cannot run it (nothing changes then). */
int lg_sgemm_set_isa(const char *name);
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

/* The machine's float32 FMA peak on a path, in GFLOP/s: a register-only loop of
 * independent FMAs (zmm for avx512, ymm for avx2; for generic, 4-wide C vector
 * multiply-adds) on `threads` threads for about `seconds`. -1 if the CPU
 * cannot run the path. For the benchmark's fraction-of-peak columns. */
double lg_fma_peak(const char *isa, int threads, double seconds);

/* ---- what the ISA files give the dispatcher (src/kernels/ only) ----------------------- */
/* How a path's kernels reach A: packed whole beforehand (pack_a), its rows read
 * in place, or packed one MC x KC block at a time into `block` as the loops go
 * (a one-off A: scratch stays small however large A is). */
typedef enum { LG_A_PACKED, LG_A_IN_PLACE, LG_A_BLOCKS } lg_a_mode;
typedef struct {
  lg_a_mode mode;
  const float *a;
  int64_t lda; /* LG_A_IN_PLACE, LG_A_BLOCKS */
  bool ta;     /* LG_A_BLOCKS */
  float *block; /* LG_A_BLOCKS: mc x kc floats */
} lg_a_source;

typedef struct {
  const char *name;
  int mr;         /* rows per packed A panel */
  int64_t mc, kc; /* A block: mc rows x kc */
  int64_t (*work_size)(int64_t n, int64_t k);
  void (*pack_a)(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *packed);
  /* C = alpha * A op(B) + beta * C for m, n, k > 0 on the calling thread */
  void (*blocks)(int64_t m, int64_t n, int64_t k, float alpha, lg_a_source a, bool tb,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc, float *work);
  double (*fma_loop)(int64_t iters); /* returns the FLOPs done (2 per lane per FMA) */
} lg_sgemm_kernels;

/* NULL where the file is compiled without its kernels (not x86-64, not GCC/clang). */
const lg_sgemm_kernels *lg_sgemm_avx512_kernels(void);
const lg_sgemm_kernels *lg_sgemm_avx2_kernels(void);
/* dst[kk*ldd + j] = src[j*lds + kk] for j < rows, kk < cols, in 8x8 AVX blocks
 * (sgemm_avx2.c; only call it when the CPU has AVX2). */
void lg_sgemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                             int64_t ldd);

/* Functions lg_empty_cache() calls after emptying the storage cache (packing
 * buffers and other kernel scratch). Registered once, at most 8. */
typedef void (*lg_cache_hook)(void);
void lg_add_empty_cache_hook(lg_cache_hook hook);
void lg_run_empty_cache_hooks(void);

#endif
