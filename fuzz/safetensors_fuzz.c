/* libFuzzer target: the safetensors reader (src/io/safetensors.c).
 *
 * Every input goes through lg_safetensors_parse (the in-memory reader). Inputs
 * of odd size also go through lg_safetensors_load from an
 * in-memory file (memfd), which exercises the fseeko/fread path; the choice
 * depends on the input only, so runs stay reproducible. A successful parse
 * must give tensors whose byte size matches the header (all bytes are read so
 * ASan sees any overrun), and both readers must agree. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte of t's data (so an undersized buffer is caught by ASan). */
static uint64_t checksum(const lg_tensor *t) {
  const unsigned char *p = lg_data_ptr(t);
  size_t n = (size_t)lg_numel(t) * lg_dtype_size(t->dtype);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static int mem_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lg_safetensors st;
  int rc = lg_safetensors_parse(data, size, &st);
  if (rc == 0) {
    for (size_t i = 0; i < st.n_tensors; i++) {
      if (!st.names[i] || !st.tensors[i]) abort();
      (void)checksum(st.tensors[i]);
    }
    for (size_t i = 0; i < st.n_meta; i++)
      if (!st.meta_keys[i] || !st.meta_values[i] || strlen(st.meta_values[i]) > size) abort();
  } else if (!lg_error() || !*lg_error()) {
    abort(); /* a failure must say why */
  }

  if (size & 1) {
    if (mem_fd < 0) mem_fd = memfd_create("safetensors_fuzz", 0);
    if (mem_fd >= 0 && ftruncate(mem_fd, 0) == 0 && pwrite(mem_fd, data, size, 0) == (ssize_t)size) {
      char path[64];
      snprintf(path, sizeof path, "/proc/self/fd/%d", mem_fd);
      lg_safetensors loaded;
      int rc2 = lg_safetensors_load(path, &loaded);
      if ((rc2 == 0) != (rc == 0)) abort(); /* the two readers disagree */
      if (rc2 == 0) {
        if (loaded.n_tensors != st.n_tensors || loaded.n_meta != st.n_meta) abort();
        for (size_t i = 0; i < st.n_tensors; i++) {
          if (strcmp(loaded.names[i], st.names[i])) abort();
          if (checksum(loaded.tensors[i]) != checksum(st.tensors[i])) abort();
        }
      }
      lg_safetensors_free(&loaded);
    }
  }
  lg_safetensors_free(&st);
  lg_safetensors_free(&st); /* documented as safe twice */
  return 0;
}
