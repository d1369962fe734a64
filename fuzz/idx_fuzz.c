/* libFuzzer target: the IDX reader (src/io/idx.c).
 *
 * The input is parsed by lg_idx_parse once per requested dtype (the default
 * choice, float32, float64 and int64). Inputs that start with the gzip magic
 * bytes 1f 8b are also read by lg_idx_read from an in-memory file (memfd), so
 * the inflate path with its growing buffer is fuzzed too; other inputs go
 * through lg_idx_read when their 4th byte is odd (the plain-file path). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/io/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double touch(const lg_tensor *t) { /* read every element */
  int64_t n = lg_numel(t);
  double s = 0;
  const void *p = lg_data_ptr(t);
  for (int64_t i = 0; i < n; i++) {
    if (t->dtype == LG_F32) s += ((const float *)p)[i];
    else if (t->dtype == LG_F64) s += ((const double *)p)[i];
    else s += (double)(((const int64_t *)p)[i] & 0xff);
  }
  return s;
}

static int mem_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int dtypes[] = {LG_IDX_DTYPE_DEFAULT, LG_F32, LG_F64, LG_I64};
  int64_t numel = -1;
  for (size_t k = 0; k < sizeof dtypes / sizeof *dtypes; k++) {
    int type = -1;
    lg_tensor *t = lg_idx_parse(size ? data : NULL, size, dtypes[k], &type);
    if (t) {
      if (!lg_idx_type_name(type)) abort(); /* accepted an unknown type */
      if (numel >= 0 && lg_numel(t) != numel) abort();
      numel = lg_numel(t);
      (void)touch(t);
      lg_release(t);
    } else if (!lg_error() || !*lg_error()) {
      abort();
    }
  }
  bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (gz || (size > 3 && (data[3] & 1))) {
    if (mem_fd < 0) mem_fd = memfd_create("idx_fuzz", 0);
    if (mem_fd >= 0 && ftruncate(mem_fd, 0) == 0 && pwrite(mem_fd, data, size, 0) == (ssize_t)size) {
      char path[64];
      snprintf(path, sizeof path, "/proc/self/fd/%d", mem_fd);
      lg_tensor *t = lg_idx_read(path, LG_IDX_DTYPE_DEFAULT, NULL);
      if (t) {
        if (!gz && lg_numel(t) != numel) abort(); /* file and buffer readers disagree */
        (void)touch(t);
        lg_release(t);
      } else if (!gz && numel >= 0) {
        abort();
      }
    }
  }
  return 0;
}
