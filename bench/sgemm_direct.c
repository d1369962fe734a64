/* W5's reference: cblas_sgemm called directly, the ceiling for lunagrad's matmul.
 * Built and run by bench/run.lua:
 *   cc -O2 -o sgemm_direct sgemm_direct.c $(pkg-config --cflags openblas) -lopenblas
 *   ./sgemm_direct --time 1.0 --warmup 0.5 --threads 1 --sizes 256,512,1024,2048
 * Prints `RESULT W5direct n256=... ` in GFLOP/s (2 n^3 per product), like workloads.lua.
 * The output matrix is allocated once per size: this is the pure gemm, no allocation. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

void openblas_set_num_threads(int num_threads);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long vmhwm_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static double last_cpu; /* CPU seconds per wall second of the last measured window */

/* Same policy as workloads.lua's measure(): warm up, then batches until `time` passed. */
static double gflops(int n, double time, double warmup) {
  size_t nn = (size_t)n * (size_t)n;
  float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
  double t0, elapsed;
  long iters = 0;
  if (!a || !b || !c) {
    fprintf(stderr, "sgemm_direct: out of memory for n=%d\n", n);
    exit(1);
  }
  srand(0);
  for (size_t i = 0; i < nn; i++) {
    a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  }
  t0 = now();
  do {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  } while (now() - t0 < warmup);
  clock_t c0 = clock();
  t0 = now();
  do {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    iters++;
    elapsed = now() - t0;
  } while (elapsed < time || iters < 2);
  last_cpu = (double)(clock() - c0) / CLOCKS_PER_SEC / elapsed;
  free(a);
  free(b);
  free(c);
  return 2.0 * n * (double)n * n * (double)iters / elapsed / 1e9;
}

int main(int argc, char **argv) {
  double time = 1.0, warmup = 0.5;
  int threads = 0, sizes[16], nsizes = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--time") == 0) time = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--warmup") == 0) warmup = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--sizes") == 0) {
      for (char *s = strtok(argv[i + 1], ","); s && nsizes < 16; s = strtok(NULL, ","))
        if (atoi(s) > 0) sizes[nsizes++] = atoi(s);
    } else {
      fprintf(stderr, "sgemm_direct: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (nsizes == 0) {
    int defaults[] = {256, 512, 1024, 2048};
    for (nsizes = 0; nsizes < 4; nsizes++) sizes[nsizes] = defaults[nsizes];
  }
  if (threads > 0) openblas_set_num_threads(threads);
  printf("RESULT W5direct");
  for (int i = 0; i < nsizes; i++) {
    double gf = gflops(sizes[i], time, warmup);
    printf(" n%d=%.6g cpu%d=%.3f", sizes[i], gf, sizes[i], last_cpu);
  }
  printf(" rss_kb=%ld threads=%d unit=GFLOP/s\n", vmhwm_kb(), threads);
  return 0;
}
