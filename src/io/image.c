/* Image decoding with stb_image (Debian's libstb-dev): see lg_image.h.
 * stb_image is compiled into this one file, with only the decoders we need
 * (less code exposed to hostile input) and without its stdio layer: files are
 * read here, so that errors such as a missing file get a proper message. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/image.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_FAILURE_USERMSG
#define STBI_MAX_DIMENSIONS (1 << 16)
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
/* stb declares a few static functions it never defines when decoders are left
 * out; GCC reports those at the end of the file, past the pop above. */
#pragma GCC diagnostic ignored "-Wunused-function"

lg_tensor *lg_image_decode(const void *buf, size_t len) {
  if (!buf || len == 0) return lg_fail("empty image data");
  if (len > INT_MAX) return lg_fail("image data of %zu bytes is too large (at most %d)", len, INT_MAX);
  int w, h, comp;
  if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp))
    return lg_fail("not a decodable image (PNG, JPEG, BMP or PNM): %s", stbi_failure_reason());
  if (w <= 0 || h <= 0 || (int64_t)w * h > LG_IMAGE_MAX_PIXELS)
    return lg_fail("image of %d x %d pixels exceeds the limit of %lld pixels", w, h,
                   (long long)LG_IMAGE_MAX_PIXELS);
  unsigned char *px = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, 3);
  if (!px) return lg_fail("cannot decode image: %s", stbi_failure_reason());
  int64_t shape[3] = {h, w, 3};
  lg_tensor *t = lg_empty(3, shape, LG_F32);
  if (t) {
    float *d = lg_data_ptr(t);
    size_t n = (size_t)w * (size_t)h * 3;
    for (size_t i = 0; i < n; i++) d[i] = px[i];
  }
  stbi_image_free(px);
  return t;
}

lg_tensor *lg_image_load(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lg_fail("cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return lg_fail("cannot read '%s': not a regular file", path);
  }
  if (st.st_size <= 0 || st.st_size > INT_MAX) {
    close(fd);
    return lg_fail("'%s': %s", path, st.st_size <= 0 ? "empty file" : "file too large for an image");
  }
  size_t len = (size_t)st.st_size, got = 0;
  unsigned char *buf = malloc(len);
  if (!buf) {
    close(fd);
    return lg_fail("'%s': out of memory", path);
  }
  int read_errno = 0;
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) read_errno = errno;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  lg_tensor *t = NULL;
  if (got < len)
    lg_fail("cannot read '%s': %s", path, read_errno ? strerror(read_errno) : "file shrank while reading");
  else if (!(t = lg_image_decode(buf, len))) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lg_error());
    lg_fail("'%s': %s", path, msg);
  }
  free(buf);
  return t;
}

/* ---- MNIST-M blending ------------------------------------------------------ */

/* splitmix64: a small generator of our own, so building a data set neither
 * depends on nor disturbs the tensor generator (lg_manual_seed). */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in 0..n-1 without modulo bias (rejection of the short last range). */
static uint64_t random_below(uint64_t *state, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n, r;
  do r = next_random(state);
  while (r >= limit);
  return r % n;
}

lg_tensor *lg_mnistm_blend(lg_tensor *digits, lg_tensor *const *photos, int n_photos, double threshold,
                           uint64_t seed, lg_tensor **sources) {
  if (sources) *sources = NULL;
  if (!digits || digits->ndim != 3) return lg_fail("digits must be N x H x W");
  if (n_photos < 1 || !photos) return lg_fail("no photos given");
  int64_t n = digits->shape[0], h = digits->shape[1], w = digits->shape[2];
  for (int p = 0; p < n_photos; p++) {
    const lg_tensor *ph = photos[p];
    if (!ph || ph->ndim != 3 || ph->shape[2] != 3)
      return lg_fail("photo %d must be an H x W x 3 tensor", p + 1);
    if (ph->shape[0] < h || ph->shape[1] < w)
      return lg_fail("photo %d (%lld x %lld) is smaller than a digit (%lld x %lld)", p + 1,
                     (long long)ph->shape[0], (long long)ph->shape[1], (long long)h, (long long)w);
  }
  bool grad_mode = lg_set_grad_enabled(false);
  lg_tensor *out = NULL, *src = NULL, **flat = calloc((size_t)n_photos, sizeof *flat);
  lg_tensor *d = lg_to_dtype(digits, LG_F64), *dc = d ? lg_contiguous(d) : NULL;
  int64_t out_shape[4] = {n, h, w, 3}, src_shape[2] = {n, 3};
  bool ok = flat && dc;
  for (int p = 0; ok && p < n_photos; p++) {
    lg_tensor *f = lg_to_dtype(photos[p], LG_F32);
    flat[p] = f ? lg_contiguous(f) : NULL;
    lg_release(f);
    ok = flat[p] != NULL;
  }
  if (ok) out = lg_empty(4, out_shape, LG_F32);
  if (out) src = lg_empty(2, src_shape, LG_I64);
  if (src) {
    const double *dg = lg_data_ptr(dc);
    float *o = lg_data_ptr(out);
    int64_t *s = lg_data_ptr(src);
    uint64_t state = seed;
    for (int64_t i = 0; i < n; i++) {
      int p = (int)random_below(&state, (uint64_t)n_photos);
      const lg_tensor *ph = flat[p];
      int64_t row = (int64_t)random_below(&state, (uint64_t)(ph->shape[0] - h + 1));
      int64_t col = (int64_t)random_below(&state, (uint64_t)(ph->shape[1] - w + 1));
      s[3 * i] = p + 1, s[3 * i + 1] = row + 1, s[3 * i + 2] = col + 1;
      const float *pix = lg_data_ptr(ph);
      for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
          /* where the digit is on, the patch is inverted: |patch - 255| */
          float on = dg[(i * h + y) * w + x] > threshold ? 255.0f : 0.0f;
          const float *px = pix + ((row + y) * ph->shape[1] + col + x) * 3;
          float *ox = o + ((i * h + y) * w + x) * 3;
          for (int c = 0; c < 3; c++) ox[c] = fabsf(px[c] - on);
        }
    }
  } else {
    lg_release(out);
    out = NULL;
    if (!flat) lg_fail("out of memory");
  }
  for (int p = 0; flat && p < n_photos; p++) lg_release(flat[p]);
  free(flat);
  lg_release(dc);
  lg_release(d);
  lg_set_grad_enabled(grad_mode);
  if (out && sources) *sources = src;
  else lg_release(src);
  return out;
}
