/* lg_sgemm: float32 GEMM with an AVX-512 micro-kernel. On CPUs with AVX-512
 * every float32 product goes through it: lg_gemm_f32 calls the threaded driver
 * at the end of this file, and conv2d calls the single-threaded entry points
 * from its own parallel loop over images. float64, and CPUs without AVX-512
 * (or LUNAGRAD_AVX512=0), stay on OpenBLAS.
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
 * split, so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define MR 8
#define KC 256 /* a 48-column B panel of KC rows is 48 KiB: L1-sized */
#define MC 192 /* rows of A per block: 192 x KC floats (192 KiB) stay in L2 */

static int panel_vectors(int64_t cols_left) {
  /* 64 columns as 2 + 2 vectors rather than 3 + 1 (a 1-vector tile is load-bound) */
  if (cols_left >= 48 && cols_left != 64) return 3;
  return cols_left > 16 ? 2 : 1;
}

int64_t lg_sgemm_packed_a_size(int64_t m, int64_t k) {
  return (m + MR - 1) / MR * MR * k;
}

int64_t lg_sgemm_work_size(int64_t n, int64_t k) {
  return (k < KC ? k : KC) * (n + 47);
}

/* dst[kk*ldd + j] = src[j*lds + kk] for j < rows, kk < cols (packing a
 * transposed operand); transpose_block below does full 8x8 blocks faster. */
static void transpose_scalar(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                             int64_t ldd) {
  for (int64_t j = 0; j < rows; j++)
    for (int64_t kk = 0; kk < cols; kk++) dst[kk * ldd + j] = src[j * lds + kk];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LG_HAVE_AVX512_KERNEL 1

#define AVX512 __attribute__((target("avx512f")))

/* transpose_scalar in 8x8 blocks of AVX shuffles (the scalar loop alone was
 * ~10% of an MLP training step). Only reached when the AVX-512 kernels run. */
AVX512 static void transpose_block(const float *src, int64_t lds, int64_t rows, int64_t cols,
                                   float *dst, int64_t ldd) {
  int64_t j = 0;
  for (; j + 8 <= rows; j += 8) {
    int64_t kk = 0;
    for (; kk + 8 <= cols; kk += 8) {
      const float *s = src + j * lds + kk;
      __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lds);
      __m256 r2 = _mm256_loadu_ps(s + 2 * lds), r3 = _mm256_loadu_ps(s + 3 * lds);
      __m256 r4 = _mm256_loadu_ps(s + 4 * lds), r5 = _mm256_loadu_ps(s + 5 * lds);
      __m256 r6 = _mm256_loadu_ps(s + 6 * lds), r7 = _mm256_loadu_ps(s + 7 * lds);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float *d = dst + kk * ldd + j;
      _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
    transpose_scalar(src + j * lds + kk, lds, 8, cols - kk, dst + kk * ldd + j, ldd);
  }
  transpose_scalar(src + j * lds, lds, rows - j, cols, dst + j, ldd);
}

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
#else
static void transpose_block(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                            int64_t ldd) {
  transpose_scalar(src, lds, rows, cols, dst, ldd);
}
#endif

void lg_sgemm_pack_a(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *packed) {
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


static bool enabled = true;

/* LUNAGRAD_AVX512=0 in the environment turns the kernels off for the process
 * (`make test-portable` runs the suite that way, as on a CPU without AVX-512). */
bool lg_sgemm_available(void) {
#ifdef LG_HAVE_AVX512_KERNEL
  static int cpu = -1; /* the answer never changes */
  if (cpu < 0) {
    const char *env = getenv("LUNAGRAD_AVX512");
    cpu = __builtin_cpu_supports("avx512f") && !(env && strcmp(env, "0") == 0) ? 1 : 0;
  }
  return enabled && cpu;
#else
  return false;
#endif
}

void lg_sgemm_set_enabled(bool on) { enabled = on; }

/* B rows this far apart (floats) are packed even untransposed: 4 KiB strides
 * would map a panel's rows onto a few L1 sets. */
#define DIRECT_B_MAX_LD 1024

/* How the kernels reach A: packed whole beforehand (lg_sgemm_pack_a), its rows
 * read in place, or packed one MC x KC block at a time into `block` as the loops
 * go (a one-off A: scratch stays small however large A is). */
typedef enum { A_PACKED, A_IN_PLACE, A_BLOCKS } a_mode;
typedef struct {
  a_mode mode;
  const float *a;
  int64_t lda; /* A_IN_PLACE, A_BLOCKS */
  bool ta;     /* A_BLOCKS */
  float *block;
} a_source;

/* The blocked loops over k, rows and column panels. */
static void run_blocks(int64_t m, int64_t n, int64_t k, float alpha, a_source a, bool tb,
                       const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                       float *work) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) { /* no products: C = beta * C */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
    return;
  }
#ifdef LG_HAVE_AVX512_KERNEL
  bool direct_b = !tb && ldb < DIRECT_B_MAX_LD, in_place = a.mode == A_IN_PLACE;
  for (int64_t k0 = 0; k0 < k; k0 += KC) {
    int64_t kc = k - k0 < KC ? k - k0 : KC;
    float blk_beta = k0 == 0 ? beta : 1;
    if (!direct_b) pack_b(tb, n, k0, kc, b, ldb, work);
    for (int64_t ib = 0; ib < m; ib += MC) {
      int64_t iend = m - ib < MC ? m : ib + MC;
      if (a.mode == A_BLOCKS)
        lg_sgemm_pack_a(a.ta, iend - ib, kc, a.ta ? a.a + k0 * a.lda + ib : a.a + ib * a.lda + k0,
                        a.lda, a.block);
      const float *bp = direct_b ? b + k0 * ldb : work;
      for (int64_t j0 = 0; j0 < n;) {
        int nv = panel_vectors(n - j0);
        int64_t w = 16 * nv, cols = n - j0 < w ? n - j0 : w, bs = direct_b ? ldb : w;
        tile_fn *run = tiles[in_place][nv];
        for (int64_t i0 = ib; i0 < iend; i0 += MR) {
          const float *ap = a.mode == A_PACKED ? a.a + i0 * k + k0 * MR
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
#else
  (void)alpha, (void)a, (void)tb, (void)b, (void)ldb, (void)work;
#endif
}

void lg_sgemm_serial(int64_t m, int64_t n, int64_t k, float alpha, const float *packed_a, bool tb,
                     const float *b, int64_t ldb, float beta, float *c, int64_t ldc, float *work) {
  run_blocks(m, n, k, alpha, (a_source){.mode = A_PACKED, .a = packed_a}, tb, b, ldb, beta, c,
             ldc, work);
}

void lg_sgemm_serial_rows(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, bool tb, const float *b, int64_t ldb, float beta, float *c,
                          int64_t ldc, float *work) {
  run_blocks(m, n, k, alpha, (a_source){.mode = A_IN_PLACE, .a = a, .lda = lda}, tb, b, ldb, beta,
             c, ldc, work);
}

/* ---- threaded driver ---------------------------------------------------------------
 * Splits C across our OpenMP threads: by rows when there are enough 8-row
 * panels, else by columns; each thread packs the blocks of A it uses.
 * Small products stay on the calling thread: a fork costs more than they do. */
#define MIN_PARALLEL_MACS (1 << 18) /* 64^3 multiply-adds */

/* Packing scratch, kept between calls (as BLAS libraries keep theirs): fresh
 * pages cost ~12 us per 4 KiB here. Not tensor memory, so not in lg_memory();
 * lg_empty_cache() frees it. Only the main thread calls lg_sgemm. */
static struct {
  float *data;
  int64_t floats;
} scratch;

static float *workspace(int64_t floats) {
  if (floats <= scratch.floats) return scratch.data;
  lg_add_empty_cache_hook(lg_sgemm_release_workspace);
  free(scratch.data);
  size_t bytes = ((size_t)floats * sizeof(float) + 63) & ~(size_t)63;
  scratch.data = aligned_alloc(64, bytes);
  scratch.floats = scratch.data ? floats : 0;
  return scratch.data;
}

void lg_sgemm_release_workspace(void) {
  free(scratch.data);
  scratch.data = NULL;
  scratch.floats = 0;
}

typedef struct {
  bool ta, tb, by_rows;
  int64_t m, n, k, lda, ldb, ldc, units, per_thread;
  float alpha, beta;
  const float *a, *b;
  float *c, *scratch;
} gemm_job;

/* Thread t's share of the job: units [t*units/nt, (t+1)*units/nt); its scratch
 * holds one packed block of A, then B's panels. */
static void run_share(const gemm_job *j, int t, int nt) {
  float *mine = j->scratch + t * j->per_thread;
  a_source a = {.mode = A_BLOCKS, .a = j->a, .lda = j->lda, .ta = j->ta, .block = mine};
  float *work = mine + MC * KC;
  int64_t u0 = j->units * t / nt, u1 = j->units * (t + 1) / nt;
  if (j->by_rows) {
    int64_t r0 = u0 * MR, r1 = u1 * MR < j->m ? u1 * MR : j->m;
    if (r1 <= r0) return;
    a.a = j->ta ? j->a + r0 : j->a + r0 * j->lda;
    run_blocks(r1 - r0, j->n, j->k, j->alpha, a, j->tb, j->b, j->ldb, j->beta, j->c + r0 * j->ldc,
               j->ldc, work);
  } else {
    int64_t c0 = u0 * 16, c1 = u1 * 16 < j->n ? u1 * 16 : j->n;
    if (c1 <= c0) return;
    run_blocks(j->m, c1 - c0, j->k, j->alpha, a, j->tb, j->tb ? j->b + c0 * j->ldb : j->b + c0,
               j->ldb, j->beta, j->c + c0, j->ldc, work);
  }
}

bool lg_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (!lg_sgemm_available()) return false;
  if (m <= 0 || n <= 0) return true;
  int nt = (double)m * (double)n * (double)k < MIN_PARALLEL_MACS ? 1 : lg_kernel_threads();
  gemm_job j = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc,
                .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c};
  j.by_rows = (m + MR - 1) / MR >= 2 * nt || m >= n;
  j.units = j.by_rows ? (m + MR - 1) / MR : (n + 15) / 16; /* 8-row / 16-column units */
  if (nt > j.units) nt = (int)j.units;
  if (nt < 1) nt = 1;
  j.per_thread = (MC * KC + lg_sgemm_work_size(n, k) + 15) / 16 * 16;
  if (!(j.scratch = workspace(nt * j.per_thread))) return false; /* caller uses OpenBLAS */
  if (nt == 1) { /* no parallel region at all: even a team of one costs ~1 us */
    run_share(&j, 0, 1);
    return true;
  }
#pragma omp parallel num_threads(nt)
  run_share(&j, lg_thread_num(), nt);
  return true;
}
