/* lg_sgemm's AVX-512 path: float32 GEMM with an 8x48 zmm micro-kernel. On CPUs
 * with AVX-512 every float32 product goes through it (unless LUNAGRAD_ISA
 * says otherwise): the dispatcher (sgemm.c) runs the threaded driver over the
 * table at the end of this file, and conv2d calls the single-threaded entry
 * points from its own parallel loop over images. float64 stays on OpenBLAS.
 *
 * Why not OpenBLAS: OPENBLAS_CORETYPE=Haswell must stay set on our machines, so
 * OpenBLAS runs 8-wide AVX2 kernels on CPUs with 16-wide AVX-512 FMA units; and
 * its idle workers spin (sched_yield) against our OpenMP threads on 2 cores.
 *
 * Row-major C = alpha * op(A) op(B) + beta * C, BLIS-style:
 *  - A is packed into panels of MR = 8 rows: for each k, the panel's 8 values
 *    (zero padded past m). Packing once serves every call with the same A; the
 *    `_rows` entry point reads A in place instead (an A used once).
 *  - B is packed per block of KC rows into panels of 16, 32 or 48 columns
 *    (1-3 zmm registers wide, zero padded past n), or read in place when it is
 *    untransposed with short rows, its last vector loaded under a mask.
 *  - The micro-kernel keeps an 8 x (16*nv) tile of C in up to 24 zmm registers;
 *    partial tiles at the edges are written back through a stack tile.
 * Each element of C is summed in the same order whatever the tile or thread
 * split (and as on the AVX2 path: same k blocks), so results depend on neither. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MR 8
#define KC 256 /* a 48-column B panel of KC rows is 48 KiB: L1-sized */
#define MC 192 /* rows of A per block: 192 x KC floats (192 KiB) stay in L2 */

static int panel_vectors(int64_t cols_left) {
  /* 64 columns as 2 + 2 vectors rather than 3 + 1 (a 1-vector tile is load-bound) */
  if (cols_left >= 48 && cols_left != 64) return 3;
  return cols_left > 16 ? 2 : 1;
}

static int64_t work_size(int64_t n, int64_t k) { return (k < KC ? k : KC) * (n + 47); }


#define AVX512 __attribute__((target("avx512f")))

/* Packing transposed operands: 8x8 blocks of AVX shuffles (the scalar loop alone
 * was ~10% of an MLP training step). AVX-512 CPUs have AVX2. */
#define transpose_block lg_sgemm_transpose_avx2

/* C[0:rows, 0:cols] = alpha * (A panel @ B panel) + beta * C; beta == 0 never
 * reads C (it may hold garbage or NaN, as BLAS allows). A is a packed panel
 * (8 values per k) or, `plain`, 8 rows of A in place lda apart. B panel row p starts at bp + p*bs: packed (bs = panel width,
 * zero padded) or B in place, its last vector masked by `cols` so nothing past
 * the matrix is read. */
AVX512 static inline __attribute__((always_inline)) void
tile(const int nv, const bool plain, int64_t kc, const float *restrict ap, int64_t lda,
     const float *restrict bp, int64_t bs, float *c, int64_t ldc, int64_t rows, int64_t cols,
     float alpha, float beta) {
  const float *ar[MR]; /* plain: A's rows in place (edge tiles repeat the last row) */
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) ar[i] = plain ? ap + (i < rows ? i : rows - 1) * lda : ap;
  int64_t left = cols - 16 * (nv - 1);
  __mmask16 last = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
  __m512 acc[MR][3];
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < 3; v++) acc[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; p++, ap += MR, bp += bs) {
    __m512 b0 = nv == 1 ? _mm512_maskz_loadu_ps(last, bp) : _mm512_loadu_ps(bp);
    __m512 b1 = nv == 2 ? _mm512_maskz_loadu_ps(last, bp + 16)
                : nv > 2 ? _mm512_loadu_ps(bp + 16) : b0;
    __m512 b2 = nv == 3 ? _mm512_maskz_loadu_ps(last, bp + 32) : b0;
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      __m512 av = _mm512_set1_ps(plain ? ar[i][p] : ap[i]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      if (nv > 1) acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
      if (nv > 2) acc[i][2] = _mm512_fmadd_ps(av, b2, acc[i][2]);
    }
  }
  /* acc is only ever indexed by constants (fully unrolled loops, no early
   * exits): otherwise GCC gives it an address and stores all 24 registers to
   * the stack on every k step (3x slower). Edge tiles go through `edge`. */
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  bool full = rows == MR && cols == 16 * nv;
  __attribute__((aligned(64))) float edge[MR][48];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 3
    for (int v = 0; v < nv; v++) {
      __m512 r = _mm512_mul_ps(acc[i][v], va);
      if (!full) {
        _mm512_store_ps(&edge[i][16 * v], r);
        continue;
      }
      float *cp = c + i * ldc + 16 * v;
      if (beta != 0) r = _mm512_fmadd_ps(_mm512_loadu_ps(cp), vb, r);
      _mm512_storeu_ps(cp, r);
    }
  }
  if (full) return;
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      c[i * ldc + j] = beta == 0 ? edge[i][j] : fmaf(c[i * ldc + j], beta, edge[i][j]); /* as above */
}

typedef void tile_fn(int64_t kc, const float *ap, int64_t lda, const float *bp, int64_t bs,
                     float *c, int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta);
#define LG_DEFINE_TILE(NV, PLAIN, NAME)                                                     \
  AVX512 static void NAME(int64_t kc, const float *ap, int64_t lda, const float *bp,       \
                          int64_t bs, float *c, int64_t ldc, int64_t rows, int64_t cols,    \
                          float alpha, float beta) {                                        \
    tile(NV, PLAIN, kc, ap, lda, bp, bs, c, ldc, rows, cols, alpha, beta);                  \
  }
LG_DEFINE_TILE(1, false, tile1)
LG_DEFINE_TILE(2, false, tile2)
LG_DEFINE_TILE(3, false, tile3)
LG_DEFINE_TILE(1, true, tile1_plain)
LG_DEFINE_TILE(2, true, tile2_plain)
LG_DEFINE_TILE(3, true, tile3_plain)
static tile_fn *const tiles[2][4] = {{NULL, tile1, tile2, tile3},
                                     {NULL, tile1_plain, tile2_plain, tile3_plain}};
static void pack_a(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *packed) {
  for (int64_t i0 = 0; i0 < m; i0 += MR, packed += MR * k) {
    int64_t rows = m - i0 < MR ? m - i0 : MR;
    if (ta) { /* A[i, kk] = a[kk*lda + i]: each k's 8 values are contiguous */
      for (int64_t kk = 0; kk < k; kk++) {
        float *dst = packed + kk * MR;
        memcpy(dst, a + kk * lda + i0, (size_t)rows * sizeof(float));
        for (int64_t i = rows; i < MR; i++) dst[i] = 0;
      }
    } else {
      transpose_block(a + i0 * lda, lda, rows, k, packed, MR);
      for (int64_t i = rows; i < MR; i++)
        for (int64_t kk = 0; kk < k; kk++) packed[kk * MR + i] = 0;
    }
  }
}

/* Rows k0..k0+kc of op(B), as panels of 16*nv columns one after the other. */
static void pack_b(bool tb, int64_t n, int64_t k0, int64_t kc, const float *b, int64_t ldb,
                   float *dst) {
  for (int64_t j0 = 0; j0 < n;) {
    int64_t w = 16 * panel_vectors(n - j0), valid = n - j0 < w ? n - j0 : w;
    if (!tb) {
      for (int64_t kk = 0; kk < kc; kk++) {
        float *row = dst + kk * w;
        memcpy(row, b + (k0 + kk) * ldb + j0, (size_t)valid * sizeof(float));
        for (int64_t j = valid; j < w; j++) row[j] = 0;
      }
    } else { /* B[kk, j] = b[j*ldb + kk] */
      transpose_block(b + j0 * ldb + k0, ldb, valid, kc, dst, w);
      for (int64_t kk = 0; kk < kc; kk++)
        for (int64_t j = valid; j < w; j++) dst[kk * w + j] = 0;
    }
    dst += kc * w;
    j0 += w;
  }
}


/* B rows this far apart (floats) are packed even untransposed: 4 KiB strides
 * would map a panel's rows onto a few L1 sets. */
#define DIRECT_B_MAX_LD 1024

/* The blocked loops over k, rows and column panels (m, n, k > 0). */
static void blocks(int64_t m, int64_t n, int64_t k, float alpha, lg_a_source a, bool tb,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc, float *work) {
  bool direct_b = !tb && ldb < DIRECT_B_MAX_LD, in_place = a.mode == LG_A_IN_PLACE;
  for (int64_t k0 = 0; k0 < k; k0 += KC) {
    int64_t kc = k - k0 < KC ? k - k0 : KC;
    float blk_beta = k0 == 0 ? beta : 1;
    if (!direct_b) pack_b(tb, n, k0, kc, b, ldb, work);
    for (int64_t ib = 0; ib < m; ib += MC) {
      int64_t iend = m - ib < MC ? m : ib + MC;
      if (a.mode == LG_A_BLOCKS)
        pack_a(a.ta, iend - ib, kc, a.ta ? a.a + k0 * a.lda + ib : a.a + ib * a.lda + k0,
                        a.lda, a.block);
      const float *bp = direct_b ? b + k0 * ldb : work;
      for (int64_t j0 = 0; j0 < n;) {
        int nv = panel_vectors(n - j0);
        int64_t w = 16 * nv, cols = n - j0 < w ? n - j0 : w, bs = direct_b ? ldb : w;
        tile_fn *run = tiles[in_place][nv];
        for (int64_t i0 = ib; i0 < iend; i0 += MR) {
          const float *ap = a.mode == LG_A_PACKED ? a.a + i0 * k + k0 * MR
                            : in_place         ? a.a + i0 * a.lda + k0
                                               : a.block + (i0 - ib) * kc;
          int64_t rows = m - i0 < MR ? m - i0 : MR;
          run(kc, ap, a.lda, bp, bs, c + i0 * ldc + j0, ldc, rows, cols, alpha, blk_beta);
        }
        bp += direct_b ? w : kc * w;
        j0 += w;
      }
    }
  }
}

/* 12 independent chains of zmm FMAs, 8 rounds per iteration; registers only. */
AVX512 static double fma_loop(int64_t iters) {
  __m512 x[12];
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-6f);
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) x[i] = _mm512_set1_ps((float)i);
  for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; i++) x[i] = _mm512_fmadd_ps(x[i], mul, add);
    }
    __asm__ volatile("" : "+v"(x[0]), "+v"(x[1]), "+v"(x[2]), "+v"(x[3]), "+v"(x[4]), "+v"(x[5]),
                     "+v"(x[6]), "+v"(x[7]), "+v"(x[8]), "+v"(x[9]), "+v"(x[10]), "+v"(x[11]));
  }
  __m512 s = x[0];
#pragma GCC unroll 11
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, x[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return (double)iters * 8 * 12 * 16 * 2;
}

static const lg_sgemm_kernels kernels = {
    .name = "avx512", .mr = MR, .mc = MC, .kc = KC, .work_size = work_size, .pack_a = pack_a,
    .blocks = blocks, .fma_loop = fma_loop};

const lg_sgemm_kernels *lg_sgemm_avx512_kernels(void) { return &kernels; }

#else /* not x86-64: no AVX-512 path */

const lg_sgemm_kernels *lg_sgemm_avx512_kernels(void) { return NULL; }

#endif
