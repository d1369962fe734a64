/* lg_sgemm's AVX2 + FMA path: float32 GEMM with a 6x16 ymm micro-kernel, for
 * CPUs without AVX-512 (and LUNAGRAD_ISA=avx2 on those with it). The
 * dispatcher (sgemm.c) holds the threaded driver and the public API; this file
 * gives it packing, the blocked loops and the micro-kernels (lg_sgemm_kernels).
 *
 * Every function that uses AVX2 carries __attribute__((target("avx2,fma"))):
 * the core builds with plain -O3 (or -O2, no -march) and the code only runs
 * after cpuid said yes. Off x86-64 the file compiles to a NULL table.
 *
 * Row-major C = alpha * op(A) op(B) + beta * C, BLIS-style, as sgemm_avx512.c:
 *  - A is packed into panels of MR = 6 rows: for each k, the panel's 6 values
 *    (zero padded past m); or its rows read in place (`plain` tiles).
 *  - B is packed per block of KC = 256 rows into panels of 8 or 16 columns
 *    (zero padded past n): a 16-column panel is 16 KiB, it stays in L1 while
 *    the MC = 192 rows of packed A (192 KiB, L2) stream past it. Small
 *    untransposed B is read in place instead, its last vector under a mask.
 *  - The micro-kernel keeps a 6 x 16 tile of C in 12 ymm registers (2 loads of
 *    B and 6 broadcasts of A feed 12 FMAs per k); partial tiles at the edges are
 *    written back through a stack tile.
 * Each element of C is the same chain of FMAs in k order, restarted at every
 * k block of 256 (then alpha * sum + beta * C, one rounding), exactly as on the
 * AVX-512 path: the two paths, and any thread split, give the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MR 6
#define KC 256 /* must match the AVX-512 path's k blocks (same bits on both) */
#define MC 192 /* multiple of MR: 192 x KC floats = 192 KiB of packed A */

#define AVX2 __attribute__((target("avx2,fma")))

static int panel_vectors(int64_t cols_left) { return cols_left > 8 ? 2 : 1; }

static int64_t work_size(int64_t n, int64_t k) { return (k < KC ? k : KC) * (n + 15); }

static void transpose_scalar(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                             int64_t ldd) {
  for (int64_t j = 0; j < rows; j++)
    for (int64_t kk = 0; kk < cols; kk++) dst[kk * ldd + j] = src[j * lds + kk];
}

/* 8 rows of 8 floats -> 8 columns (r[i][j] -> o[j][i]), in registers. */
AVX2 static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* transpose_scalar in 8x8 blocks of AVX shuffles (packing transposed operands;
 * the AVX-512 path uses it too). */
AVX2 void lg_sgemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols,
                                  float *dst, int64_t ldd) {
  int64_t j = 0;
  for (; j + 8 <= rows; j += 8) {
    int64_t kk = 0;
    for (; kk + 8 <= cols; kk += 8) {
      const float *s = src + j * lds + kk;
      __m256 r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + i * lds);
      transpose8(r);
      float *d = dst + kk * ldd + j;
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) _mm256_storeu_ps(d + i * ldd, r[i]);
    }
    transpose_scalar(src + j * lds + kk, lds, 8, cols - kk, dst + kk * ldd + j, ldd);
  }
  transpose_scalar(src + j * lds, lds, rows - j, cols, dst + j, ldd);
}

/* 6 full rows of A (lda apart) -> one packed panel: packed[kk*6 + i] = a[i*lda + kk]. */
AVX2 static void pack_panel6(const float *a, int64_t lda, int64_t k, float *packed) {
  const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    __m256 r[8];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) r[i] = _mm256_loadu_ps(a + i * lda + kk);
    r[6] = r[7] = _mm256_setzero_ps();
    transpose8(r);
    float *d = packed + kk * MR;
    /* 8 floats per k, 2 of them overwritten by the next k; the last one masked
     * so nothing past the panel is touched */
#pragma GCC unroll 7
    for (int i = 0; i < 7; i++) _mm256_storeu_ps(d + i * MR, r[i]);
    _mm256_maskstore_ps(d + 7 * MR, six, r[7]);
  }
  transpose_scalar(a + kk, lda, MR, k - kk, packed + kk * MR, MR);
}

AVX2 static void pack_a(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *packed) {
  for (int64_t i0 = 0; i0 < m; i0 += MR, packed += MR * k) {
    int64_t rows = m - i0 < MR ? m - i0 : MR;
    if (ta) { /* A[i, kk] = a[kk*lda + i]: each k's 6 values are contiguous */
      for (int64_t kk = 0; kk < k; kk++) {
        float *dst = packed + kk * MR;
        const float *src = a + kk * lda + i0;
        for (int64_t i = 0; i < MR; i++) dst[i] = i < rows ? src[i] : 0;
      }
    } else if (rows == MR) {
      pack_panel6(a + i0 * lda, lda, k, packed);
    } else {
      transpose_scalar(a + i0 * lda, lda, rows, k, packed, MR);
      for (int64_t i = rows; i < MR; i++)
        for (int64_t kk = 0; kk < k; kk++) packed[kk * MR + i] = 0;
    }
  }
}

/* Rows k0..k0+kc of op(B), as panels of 8*nv columns one after the other. */
AVX2 static void pack_b(bool tb, int64_t n, int64_t k0, int64_t kc, const float *b, int64_t ldb,
                        float *dst) {
  for (int64_t j0 = 0; j0 < n;) {
    int64_t w = 8 * panel_vectors(n - j0), valid = n - j0 < w ? n - j0 : w;
    if (!tb) {
      const float *src = b + k0 * ldb + j0;
      if (valid == 16) {
        for (int64_t kk = 0; kk < kc; kk++, src += ldb) {
          _mm256_storeu_ps(dst + kk * 16, _mm256_loadu_ps(src));
          _mm256_storeu_ps(dst + kk * 16 + 8, _mm256_loadu_ps(src + 8));
        }
      } else {
        for (int64_t kk = 0; kk < kc; kk++, src += ldb) {
          float *row = dst + kk * w;
          memcpy(row, src, (size_t)valid * sizeof(float));
          for (int64_t j = valid; j < w; j++) row[j] = 0;
        }
      }
    } else { /* B[kk, j] = b[j*ldb + kk] */
      lg_sgemm_transpose_avx2(b + j0 * ldb + k0, ldb, valid, kc, dst, w);
      for (int64_t kk = 0; kk < kc; kk++)
        for (int64_t j = valid; j < w; j++) dst[kk * w + j] = 0;
    }
    dst += kc * w;
    j0 += w;
  }
}

/* C[0:rows, 0:cols] = alpha * (A panel @ B panel) + beta * C; beta == 0 never
 * reads C (it may hold garbage or NaN, as BLAS allows). A is a packed panel
 * (6 values per k) or, `plain`, 6 rows of A in place lda apart. B panel row p
 * starts at bp + p*bs: packed (bs = panel width, zero padded) or B in place;
 * `masked`: B in place with fewer than 8*nv columns left, its last vector
 * loaded under a mask so nothing past the matrix is read. */
AVX2 static inline __attribute__((always_inline)) void
tile(const int nv, const bool plain, const bool masked, int64_t kc, const float *restrict ap,
     int64_t lda, const float *restrict bp, int64_t bs, float *c, int64_t ldc, int64_t rows,
     int64_t cols, float alpha, float beta) {
  const float *ar[MR]; /* plain: A's rows in place (edge tiles repeat the last row) */
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) ar[i] = plain ? ap + (i < rows ? i : rows - 1) * lda : ap;
  __m256i mask = _mm256_set1_epi32(-1);
  if (masked)
    mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(cols - 8 * (nv - 1))),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  /* C's rows are far apart (often 4 KiB multiples) and needed only at the end:
   * fetch them now, behind the k loop, rather than stall on them there. */
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + i * ldc + 8 * nv - 1), _MM_HINT_T0);
  }
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; p++, ap += MR, bp += bs) {
    __m256 b0 = masked && nv == 1 ? _mm256_maskload_ps(bp, mask) : _mm256_loadu_ps(bp);
    __m256 b1 = nv == 1 ? b0 : masked ? _mm256_maskload_ps(bp + 8, mask) : _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      __m256 av = _mm256_broadcast_ss(plain ? ar[i] + p : ap + i);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      if (nv > 1) acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  /* acc is only ever indexed by constants (fully unrolled loops, no early
   * exits): otherwise GCC gives it an address and spills the accumulators on
   * every k step (bench/README.md). Edge tiles go through `edge`. */
  __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  bool full = rows == MR && cols == 8 * nv;
  __attribute__((aligned(32))) float edge[MR][16];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
      __m256 r = _mm256_mul_ps(acc[i][v], va);
      if (!full) {
        _mm256_store_ps(&edge[i][8 * v], r);
        continue;
      }
      float *cp = c + i * ldc + 8 * v;
      if (beta != 0) r = _mm256_fmadd_ps(_mm256_loadu_ps(cp), vb, r);
      _mm256_storeu_ps(cp, r);
    }
  }
  if (full) return;
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) /* the same single rounding as above */
      c[i * ldc + j] = beta == 0 ? edge[i][j] : fmaf(c[i * ldc + j], beta, edge[i][j]);
}

typedef void tile_fn(int64_t kc, const float *ap, int64_t lda, const float *bp, int64_t bs,
                     float *c, int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta);
#define LG_DEFINE_TILE(NV, PLAIN, MASKED, NAME)                                             \
  AVX2 static void NAME(int64_t kc, const float *ap, int64_t lda, const float *bp, int64_t bs, \
                        float *c, int64_t ldc, int64_t rows, int64_t cols, float alpha,        \
                        float beta) {                                                          \
    tile(NV, PLAIN, MASKED, kc, ap, lda, bp, bs, c, ldc, rows, cols, alpha, beta);             \
  }
LG_DEFINE_TILE(1, false, false, tile1)
LG_DEFINE_TILE(2, false, false, tile2)
LG_DEFINE_TILE(1, true, false, tile1_plain)
LG_DEFINE_TILE(2, true, false, tile2_plain)
LG_DEFINE_TILE(1, false, true, tile1_masked)
LG_DEFINE_TILE(2, false, true, tile2_masked)
LG_DEFINE_TILE(1, true, true, tile1_plain_masked)
LG_DEFINE_TILE(2, true, true, tile2_plain_masked)
/* [plain][masked][nv] */
static tile_fn *const tiles[2][2][3] = {
    {{NULL, tile1, tile2}, {NULL, tile1_masked, tile2_masked}},
    {{NULL, tile1_plain, tile2_plain}, {NULL, tile1_plain_masked, tile2_plain_masked}}};

/* B is read in place (not packed) when it is untransposed and small: packing
 * costs more than it saves when few row panels of A share each B panel, and
 * rows far apart would map a panel onto a few L1 sets. */
static bool read_b_in_place(bool tb, int64_t m, int64_t n, int64_t ldb) {
  (void)n;
  return !tb && (m <= 4 * MR || ldb <= 64);
}

/* The blocked loops over k, rows and column panels (m, n, k > 0). */
AVX2 static void blocks(int64_t m, int64_t n, int64_t k, float alpha, lg_a_source a, bool tb,
                        const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                        float *work) {
  bool direct_b = read_b_in_place(tb, m, n, ldb), in_place = a.mode == LG_A_IN_PLACE;
  for (int64_t k0 = 0; k0 < k; k0 += KC) {
    int64_t kc = k - k0 < KC ? k - k0 : KC;
    float blk_beta = k0 == 0 ? beta : 1;
    if (!direct_b) pack_b(tb, n, k0, kc, b, ldb, work);
    for (int64_t ib = 0; ib < m; ib += MC) {
      int64_t iend = m - ib < MC ? m : ib + MC;
      if (a.mode == LG_A_BLOCKS)
        pack_a(a.ta, iend - ib, kc, a.ta ? a.a + k0 * a.lda + ib : a.a + ib * a.lda + k0, a.lda,
               a.block);
      const float *bp = direct_b ? b + k0 * ldb : work;
      for (int64_t j0 = 0; j0 < n;) {
        int nv = panel_vectors(n - j0);
        int64_t w = 8 * nv, cols = n - j0 < w ? n - j0 : w, bs = direct_b ? ldb : w;
        tile_fn *run = tiles[in_place][direct_b && cols < w][nv];
        for (int64_t i0 = ib; i0 < iend; i0 += MR) {
          const float *ap = a.mode == LG_A_PACKED ? a.a + i0 * k + k0 * MR
                            : in_place            ? a.a + i0 * a.lda + k0
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

/* 12 independent chains of ymm FMAs (2 FMA pipes x 4 cycles latency need 8),
 * 8 rounds per iteration; nothing but registers. */
AVX2 static double fma_loop(int64_t iters) {
  __m256 x[12];
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-6f);
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) x[i] = _mm256_set1_ps((float)i);
  for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; i++) x[i] = _mm256_fmadd_ps(x[i], mul, add);
    }
    __asm__ volatile("" : "+x"(x[0]), "+x"(x[1]), "+x"(x[2]), "+x"(x[3]), "+x"(x[4]), "+x"(x[5]),
                     "+x"(x[6]), "+x"(x[7]), "+x"(x[8]), "+x"(x[9]), "+x"(x[10]), "+x"(x[11]));
  }
  __m256 s = x[0];
#pragma GCC unroll 11
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, x[i]);
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return (double)iters * 8 * 12 * 8 * 2;
}

static const lg_sgemm_kernels kernels = {
    .name = "avx2", .mr = MR, .mc = MC, .kc = KC, .work_size = work_size, .pack_a = pack_a,
    .blocks = blocks, .fma_loop = fma_loop};

const lg_sgemm_kernels *lg_sgemm_avx2_kernels(void) { return &kernels; }

#else /* not x86-64: no AVX2 path */

const lg_sgemm_kernels *lg_sgemm_avx2_kernels(void) { return NULL; }

void lg_sgemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                             int64_t ldd) {
  for (int64_t j = 0; j < rows; j++)
    for (int64_t kk = 0; kk < cols; kk++) dst[kk * ldd + j] = src[j * lds + kk];
}

#endif
