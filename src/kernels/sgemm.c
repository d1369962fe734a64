/* lg_sgemm: lunagrad's float32 GEMM, dispatched at run time over the ISA paths
 * (kernels.h): avx512 (sgemm_avx512.c), avx2 (sgemm_avx2.c) or generic (none:
 * float32 products on OpenBLAS). The path is chosen once, at first use, by
 * cpuid (__builtin_cpu_supports), or forced with LUNAGRAD_ISA; a path the CPU
 * cannot run is never entered (no SIGILL): the best one below it is used, with
 * a warning. This file holds what the paths share: the public entry points
 * (which check for empty products), the threaded driver and its workspace, and
 * the FMA-peak measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"

typedef enum { ISA_GENERIC, ISA_AVX2, ISA_AVX512, ISA_COUNT } isa_id;
static const char *const isa_names[ISA_COUNT] = {"generic", "avx2", "avx512"};

static const lg_sgemm_kernels *kernels_of(isa_id id) {
  switch (id) {
  case ISA_AVX512: return lg_sgemm_avx512_kernels();
  case ISA_AVX2: return lg_sgemm_avx2_kernels();
  default: return NULL;
  }
}

/* Does the CPU (and the OS, which must save ymm/zmm state: libgcc checks XCR0)
 * run this path, and was its kernel compiled in? */
static bool cpu_runs(isa_id id) {
  if (id == ISA_GENERIC) return true;
  if (!kernels_of(id)) return false;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return id == ISA_AVX2 ? avx2 : avx2 && __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

static isa_id best_from(isa_id id) {
  while (id > ISA_GENERIC && !cpu_runs(id)) id = (isa_id)(id - 1);
  return id;
}

static int lookup(const char *name) {
  for (int i = 0; name && i < ISA_COUNT; i++)
    if (strcmp(name, isa_names[i]) == 0) return i;
  return -1;
}

/* LUNAGRAD_ISA, else the old LUNAGRAD_AVX512=0 (= generic), else the best the CPU runs. */
static isa_id choose(void) {
  const char *env = getenv("LUNAGRAD_ISA");
  if (env && *env) {
    int id = lookup(env);
    if (id >= 0) {
      isa_id got = best_from((isa_id)id);
      if ((int)got != id)
        fprintf(stderr, "lunagrad: LUNAGRAD_ISA=%s: this CPU cannot run the %s kernels; using %s\n",
                env, env, isa_names[got]);
      return got;
    }
    fprintf(stderr, "lunagrad: LUNAGRAD_ISA=%s is not avx512, avx2 or generic; ignored\n", env);
  }
  const char *old = getenv("LUNAGRAD_AVX512");
  if (old && strcmp(old, "0") == 0) return ISA_GENERIC;
  return best_from(ISA_AVX512);
}

static int selected = -1; /* isa_id once chosen (first called from the main thread) */
static bool enabled = true;

static isa_id current(void) {
  if (selected < 0) selected = choose();
  return enabled ? (isa_id)selected : ISA_GENERIC;
}

static const lg_sgemm_kernels *active(void) { return kernels_of(current()); }

bool lg_sgemm_available(void) { return active() != NULL; }
void lg_sgemm_set_enabled(bool on) { enabled = on; }
const char *lg_sgemm_isa(void) { return isa_names[current()]; }

bool lg_sgemm_isa_supported(const char *name) {
  int id = lookup(name);
  return id >= 0 && cpu_runs((isa_id)id);
}

int lg_sgemm_set_isa(const char *name) {
  int id = lookup(name);
  if (id < 0) return -1;
  if (!cpu_runs((isa_id)id)) return -2;
  selected = id;
  return 0;
}

/* ---- single-threaded entry points ---------------------------------------------------- */
int64_t lg_sgemm_packed_a_size(int64_t m, int64_t k) {
  const lg_sgemm_kernels *kr = active();
  int64_t mr = kr ? kr->mr : 8;
  return (m + mr - 1) / mr * mr * k;
}

int64_t lg_sgemm_work_size(int64_t n, int64_t k) {
  const lg_sgemm_kernels *kr = active();
  return kr ? kr->work_size(n, k) : (k < 256 ? k : 256) * (n + 47);
}

void lg_sgemm_pack_a(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *packed) {
  const lg_sgemm_kernels *kr = active();
  if (kr && m > 0 && k > 0) kr->pack_a(ta, m, k, a, lda, packed);
}

static void run(const lg_sgemm_kernels *kr, int64_t m, int64_t n, int64_t k, float alpha,
                lg_a_source a, bool tb, const float *b, int64_t ldb, float beta, float *c,
                int64_t ldc, float *work) {
  if (m <= 0 || n <= 0 || !kr) return;
  if (k <= 0) { /* no products: C = beta * C */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
    return;
  }
  kr->blocks(m, n, k, alpha, a, tb, b, ldb, beta, c, ldc, work);
}

void lg_sgemm_serial(int64_t m, int64_t n, int64_t k, float alpha, const float *packed_a, bool tb,
                     const float *b, int64_t ldb, float beta, float *c, int64_t ldc, float *work) {
  run(active(), m, n, k, alpha, (lg_a_source){.mode = LG_A_PACKED, .a = packed_a}, tb, b, ldb,
      beta, c, ldc, work);
}

void lg_sgemm_serial_rows(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, bool tb, const float *b, int64_t ldb, float beta, float *c,
                          int64_t ldc, float *work) {
  run(active(), m, n, k, alpha, (lg_a_source){.mode = LG_A_IN_PLACE, .a = a, .lda = lda}, tb, b,
      ldb, beta, c, ldc, work);
}

/* ---- threaded driver ---------------------------------------------------------------
 * Splits C across our OpenMP threads: by rows when there are enough MR-row
 * panels, else by columns (16 at a time); each thread packs the blocks of A it
 * uses. Small products stay on the calling thread: a fork costs more than they do. */
#define MIN_PARALLEL_MACS (1 << 18) /* 64^3 multiply-adds */
#define COL_UNIT 16

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
  const lg_sgemm_kernels *kr;
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
  lg_a_source a = {.mode = LG_A_BLOCKS, .a = j->a, .lda = j->lda, .ta = j->ta, .block = mine};
  float *work = mine + j->kr->mc * j->kr->kc;
  int64_t u0 = j->units * t / nt, u1 = j->units * (t + 1) / nt, mr = j->kr->mr;
  if (j->by_rows) {
    int64_t r0 = u0 * mr, r1 = u1 * mr < j->m ? u1 * mr : j->m;
    if (r1 <= r0) return;
    a.a = j->ta ? j->a + r0 : j->a + r0 * j->lda;
    run(j->kr, r1 - r0, j->n, j->k, j->alpha, a, j->tb, j->b, j->ldb, j->beta,
        j->c + r0 * j->ldc, j->ldc, work);
  } else {
    int64_t c0 = u0 * COL_UNIT, c1 = u1 * COL_UNIT < j->n ? u1 * COL_UNIT : j->n;
    if (c1 <= c0) return;
    run(j->kr, j->m, c1 - c0, j->k, j->alpha, a, j->tb, j->tb ? j->b + c0 * j->ldb : j->b + c0,
        j->ldb, j->beta, j->c + c0, j->ldc, work);
  }
}

bool lg_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  const lg_sgemm_kernels *kr = active();
  if (!kr) return false;
  if (m <= 0 || n <= 0) return true;
  int nt = (double)m * (double)n * (double)k < MIN_PARALLEL_MACS ? 1 : lg_kernel_threads();
  gemm_job j = {.kr = kr, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb,
                .ldc = ldc, .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c};
  int64_t panels = (m + kr->mr - 1) / kr->mr;
  j.by_rows = panels >= 2 * nt || m >= n;
  j.units = j.by_rows ? panels : (n + COL_UNIT - 1) / COL_UNIT;
  if (nt > j.units) nt = (int)j.units;
  if (nt < 1) nt = 1;
  j.per_thread = (kr->mc * kr->kc + kr->work_size(n, k) + 15) / 16 * 16;
  if (!(j.scratch = workspace(nt * j.per_thread))) return false; /* caller uses OpenBLAS */
  if (nt == 1) { /* no parallel region at all: even a team of one costs ~1 us */
    run_share(&j, 0, 1);
    return true;
  }
#pragma omp parallel num_threads(nt)
  run_share(&j, lg_thread_num(), nt);
  return true;
}

/* ---- FMA peak --------------------------------------------------------------------- */
typedef float v4f __attribute__((vector_size(16)));

/* The generic path's loop: 4-wide multiply-adds in plain C vectors (SSE2 on
 * x86-64 without -march, NEON on aarch64), 12 independent chains. */
static double generic_fma_loop(int64_t iters) {
  v4f x[12];
  const v4f mul = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, add = {1e-6f, 1e-6f, 1e-6f, 1e-6f};
  for (int i = 0; i < 12; i++) x[i] = (v4f){(float)i, (float)i, (float)i, (float)i};
  for (int64_t it = 0; it < iters; it++) {
    for (int r = 0; r < 8; r++)
      for (int i = 0; i < 12; i++) x[i] = x[i] * mul + add;
    __asm__ volatile("" : : "g"(&x) : "memory");
  }
  float sum = 0;
  for (int i = 0; i < 12; i++) sum += x[i][0];
  volatile float sink = sum;
  (void)sink;
  return (double)iters * 8 * 12 * 4 * 2;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double lg_fma_peak(const char *isa, int threads, double seconds) {
  int id = lookup(isa);
  if (id < 0 || !cpu_runs((isa_id)id)) return -1;
  double (*loop)(int64_t) = id == ISA_GENERIC ? generic_fma_loop : kernels_of((isa_id)id)->fma_loop;
  if (threads < 1) threads = 1;
  if (seconds <= 0) seconds = 0.2;
  int64_t iters = 1000;
  double t;
  for (;;) { /* calibrate on this thread: ~1/10 of the time */
    double t0 = now();
    loop(iters);
    t = now() - t0;
    if (t >= seconds / 10 || iters > ((int64_t)1 << 40)) break;
    iters *= 4;
  }
  iters = (int64_t)((double)iters * seconds / (t > 0 ? t : 1e-9)) + 1;
  double flops = 0, t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
  flops += loop(iters);
  t = now() - t0;
  return flops / t / 1e9;
}
