/* Thread helpers, the thread count and the empty-cache hooks.
 * One thread count for both pools, OpenMP (our kernels) and OpenBLAS (gemm):
 * two pools busy-waiting on 2 cores can make 2 threads slower than 1. */
#include "core/internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void lg_set_num_threads(int n) {
  if (n < 1) n = 1;
  lg_blas_set_threads(n);
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
  return lg_blas_get_threads();
#endif
}


static lg_cache_hook hooks[8];
static int n_hooks;

void lg_add_empty_cache_hook(lg_cache_hook hook) {
  for (int i = 0; i < n_hooks; i++)
    if (hooks[i] == hook) return;
  if (n_hooks < 8) hooks[n_hooks++] = hook;
}

void lg_run_empty_cache_hooks(void) {
  for (int i = 0; i < n_hooks; i++) hooks[i]();
}
