/* Refcounted, 64-byte aligned buffers with a size-class cache.
 *
 * Why a cache: faulting in fresh pages costs ~12 us per 4 KiB here and glibc
 * returns big freed blocks to the OS, so a training step that frees and
 * re-mallocs its activations would pay that every step. Freed buffers go to a
 * per-class free list instead, bounded by a byte limit; lg_empty_cache()
 * returns them. Classes are 4 steps per power of two (<= 25% waste). */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define N_CLASSES 256
#define MIN_BYTES 64

/* A cached buffer holds the link to the next one in its first bytes (every
 * buffer has at least MIN_BYTES), so caching allocates nothing. */
static struct {
  void *free_list[N_CLASSES];
  size_t cached_bytes, limit;
  int64_t live_bytes, peak_bytes, allocated_since_report;
} pool = {.limit = (size_t)1 << 30};

extern int64_t lg_live_tensor_count(void);

/* Size classes: 64, 80, 96, 112, 128, 160, ... (m * 2^k, m in 4..7). */
static int size_class(size_t n, size_t *capacity) {
  if (n < MIN_BYTES) n = MIN_BYTES;
  int k = 63 - __builtin_clzll((unsigned long long)n); /* 2^k <= n < 2^(k+1) */
  size_t base = (size_t)1 << (k - 2);
  size_t m = (n + base - 1) / base; /* 4..8 */
  if (m == 8) { k++; base <<= 1; m = 4; }
  *capacity = m * base;
  return (k - 6) * 4 + (int)(m - 4);
}

/* aligned_alloc wants a size that is a multiple of the alignment. */
static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

lg_storage *lg_storage_new(size_t nbytes) {
  lg_storage *s = malloc(sizeof *s);
  if (!s) return lg_fail("out of memory allocating a storage");
  size_t capacity;
  int cls = size_class(nbytes, &capacity);
  void *data = NULL;
  if (cls >= 0 && cls < N_CLASSES && pool.free_list[cls]) {
    data = pool.free_list[cls];
    pool.free_list[cls] = *(void **)data;
    pool.cached_bytes -= capacity;
  } else if (capacity < nbytes || !(data = aligned_alloc(64, round64(capacity)))) {
    lg_empty_cache();
    data = capacity >= nbytes ? aligned_alloc(64, round64(capacity)) : NULL;
    if (!data) {
      free(s);
      return lg_fail("out of memory allocating %zu bytes", nbytes);
    }
  }
  s->refcount = 1;
  s->version = 0;
  s->nbytes = nbytes;
  s->capacity = capacity;
  s->data = data;
  pool.live_bytes += (int64_t)capacity;
  pool.allocated_since_report += (int64_t)capacity;
  if (pool.live_bytes > pool.peak_bytes) pool.peak_bytes = pool.live_bytes;
  return s;
}

void lg_storage_retain(lg_storage *s) { s->refcount++; }

void lg_storage_release(lg_storage *s) {
  if (!s || --s->refcount > 0) return;
  size_t capacity;
  int cls = size_class(s->nbytes, &capacity);
  pool.live_bytes -= (int64_t)s->capacity;
  if (cls < N_CLASSES && pool.cached_bytes + capacity <= pool.limit) {
    *(void **)s->data = pool.free_list[cls];
    pool.free_list[cls] = s->data;
    pool.cached_bytes += capacity;
  } else {
    free(s->data);
  }
  free(s);
}

void lg_empty_cache(void) {
  for (int i = 0; i < N_CLASSES; i++) {
    while (pool.free_list[i]) {
      void *data = pool.free_list[i];
      pool.free_list[i] = *(void **)data;
      free(data);
    }
  }
  pool.cached_bytes = 0;
  lg_run_empty_cache_hooks();
}

void lg_set_cache_limit(size_t bytes) {
  pool.limit = bytes;
  if (pool.cached_bytes > bytes) lg_empty_cache();
}

lg_memory_stats lg_memory(void) {
  lg_memory_stats m = {pool.live_bytes, pool.peak_bytes, lg_live_tensor_count(),
                       (int64_t)pool.cached_bytes};
  return m;
}

size_t lg_take_allocated_bytes(void) {
  size_t n = (size_t)pool.allocated_since_report;
  pool.allocated_since_report = 0;
  return n;
}
