/* IDX reader and writer (format and guarantees: see lg_idx.h).
 *
 * One code path reads both plain and gzip files: zlib's gzread inflates a
 * gzip stream and copies any other file through unchanged. The header is read
 * first so the buffer for the rest can be capped at what it claims (plus one
 * byte, to notice trailing data); the buffer grows by doubling as bytes
 * actually arrive, so a short file claiming a huge shape never allocates more
 * than it holds. The complete image then goes through lg_idx_parse, the same
 * validation a fuzzer calls. Multi-byte values are big-endian on disk and are
 * assembled byte by byte, so the host's byte order does not matter. */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/idx.h"

#define HEADER_MAX (4 + 4 * LG_MAX_DIMS)

typedef struct {
  int type;
  int ndim;
  int64_t shape[LG_MAX_DIMS];
  size_t elem_size;
  size_t header_bytes;
  size_t payload_bytes;
} idx_header;

static const struct {
  int code;
  const char *name;
  size_t size;
} TYPES[] = {
    {LG_IDX_UBYTE, "ubyte", 1}, {LG_IDX_SBYTE, "sbyte", 1}, {LG_IDX_SHORT, "short", 2},
    {LG_IDX_INT, "int", 4},     {LG_IDX_FLOAT, "float", 4}, {LG_IDX_DOUBLE, "double", 8},
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

const char *lg_idx_type_name(int type) {
  for (size_t i = 0; i < N_TYPES; i++)
    if (TYPES[i].code == type) return TYPES[i].name;
  return NULL;
}

int lg_idx_type_from_name(const char *name, lg_idx_type *out) {
  for (size_t i = 0; i < N_TYPES; i++)
    if (strcmp(TYPES[i].name, name) == 0) {
      *out = (lg_idx_type)TYPES[i].code;
      return 0;
    }
  return -1;
}

static size_t type_size(int type) {
  for (size_t i = 0; i < N_TYPES; i++)
    if (TYPES[i].code == type) return TYPES[i].size;
  return 0;
}

static bool is_integer_type(int type) { return type != LG_IDX_FLOAT && type != LG_IDX_DOUBLE; }

static uint32_t read_be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void write_be(unsigned char *b, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

static const char *dims_str(const idx_header *h, char *buf, size_t len) {
  size_t used = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < h->ndim && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, i ? ",%lld" : "%lld", (long long)h->shape[i]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}

/* Validates the magic, type and dims at the start of buf (len bytes available)
 * and fills h. Does not look at the data. */
static int parse_header(const unsigned char *b, size_t len, idx_header *h) {
  if (len < 4)
    return lg_failed("truncated: %zu bytes, an IDX file starts with 4 magic bytes 00 00 <type> <ndim>", len);
  if (b[0] || b[1])
    return lg_failed("bad magic %02x %02x %02x %02x (an IDX file starts with 00 00 <type> <ndim>)", b[0], b[1],
                     b[2], b[3]);
  h->type = b[2];
  h->elem_size = type_size(h->type);
  if (!h->elem_size)
    return lg_failed("unknown element type 0x%02x (expected 08 ubyte, 09 sbyte, 0B short, 0C int, 0D float, 0E double)",
                     b[2]);
  h->ndim = b[3];
  if (h->ndim > LG_MAX_DIMS) return lg_failed("%d dims; lunagrad tensors have at most %d", h->ndim, LG_MAX_DIMS);
  h->header_bytes = 4 + 4 * (size_t)h->ndim;
  if (len < h->header_bytes)
    return lg_failed("truncated header: %d dims need %zu bytes, got %zu", h->ndim, h->header_bytes, len);
  /* The element count must fit int64 and the byte count size_t: both are
   * checked on every multiplication, before anything is allocated. */
  uint64_t count = 1, limit = (uint64_t)INT64_MAX < (uint64_t)SIZE_MAX ? (uint64_t)INT64_MAX : (uint64_t)SIZE_MAX;
  bool overflow = false;
  for (int i = 0; i < h->ndim; i++) {
    uint32_t d = read_be32(b + 4 + 4 * (size_t)i);
    h->shape[i] = d;
    if (d && count > limit / d) overflow = true;
    else count *= d;
  }
  if (overflow || count > limit / h->elem_size) {
    char dims[160];
    return lg_failed("dims %s of %s overflow: too many elements", dims_str(h, dims, sizeof dims),
                     lg_idx_type_name(h->type));
  }
  h->payload_bytes = (size_t)(count * h->elem_size);
  return 0;
}

/* Checks the data size against the header: exactly payload_bytes must follow. */
static int check_payload(const idx_header *h, size_t data_bytes) {
  if (data_bytes == h->payload_bytes) return 0;
  char dims[160];
  dims_str(h, dims, sizeof dims);
  if (data_bytes < h->payload_bytes)
    return lg_failed("truncated data: dims %s of %s need %zu bytes, the file holds %zu", dims,
                     lg_idx_type_name(h->type), h->payload_bytes, data_bytes);
  return lg_failed("trailing data: dims %s of %s need %zu bytes, the file holds more (trailing bytes are rejected)",
                   dims, lg_idx_type_name(h->type), h->payload_bytes);
}

/* The i-th big-endian value of type `type` at src, as a double (exact for
 * every IDX type). */
static double value_at(const unsigned char *src, int type, size_t i) {
  switch (type) {
  case LG_IDX_UBYTE: return src[i];
  case LG_IDX_SBYTE: return (signed char)src[i];
  case LG_IDX_SHORT: return (int16_t)(uint16_t)(src[2 * i] << 8 | src[2 * i + 1]);
  case LG_IDX_INT: return (int32_t)read_be32(src + 4 * i);
  case LG_IDX_FLOAT: {
    uint32_t u = read_be32(src + 4 * i);
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  default: {
    uint64_t u = (uint64_t)read_be32(src + 8 * i) << 32 | read_be32(src + 8 * i + 4);
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  }
}

static int default_dtype(const idx_header *h) {
  if (h->type == LG_IDX_FLOAT) return LG_F32;
  if (h->type == LG_IDX_DOUBLE) return LG_F64;
  return h->ndim <= 1 ? LG_I64 : LG_F32;
}

lg_tensor *lg_idx_parse(const void *buf, size_t len, int dtype, int *type_out) {
  const unsigned char *b = buf;
  idx_header h;
  if (!b && len) return lg_fail("no buffer");
  if (parse_header(b, len, &h) || check_payload(&h, len - h.header_bytes)) return NULL;
  if (dtype == LG_IDX_DTYPE_DEFAULT) dtype = default_dtype(&h);
  if (dtype != LG_F32 && dtype != LG_F64 && dtype != LG_I64) return lg_fail("unknown dtype %d", dtype);
  if (dtype == LG_I64 && !is_integer_type(h.type))
    return lg_fail("cannot read %s data as int64 (use float32 or float64)", lg_idx_type_name(h.type));
  lg_tensor *t = lg_empty(h.ndim, h.shape, (lg_dtype)dtype);
  if (!t) return NULL;
  const unsigned char *src = b + h.header_bytes;
  size_t n = h.payload_bytes / h.elem_size;
  void *dst = lg_data_ptr(t);
  if (dtype == LG_F32 && h.type == LG_IDX_UBYTE) { /* images: the common case, kept tight */
    float *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = src[i];
  } else if (dtype == LG_F32) {
    float *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = (float)value_at(src, h.type, i);
  } else if (dtype == LG_F64) {
    double *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = value_at(src, h.type, i);
  } else {
    int64_t *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = (int64_t)value_at(src, h.type, i);
  }
  if (type_out) *type_out = h.type;
  return t;
}

/* ---- reading files -------------------------------------------------------- */

/* zlib prefixes its messages with the stream's name, "<fd:3>" for gzdopen. */
static const char *gz_message(gzFile f, int *err) {
  const char *msg = gzerror(f, err);
  const char *colon = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
  return colon ? colon + 2 : msg;
}

/* Reads up to n bytes; returns the count, or -1 after lg_failed on a read or
 * inflate error (a gzip stream that ends early is an error too). */
static long long gz_read_full(gzFile f, unsigned char *dst, size_t n, const char *path) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
    int r = gzread(f, dst + got, (unsigned)want);
    int err = Z_OK;
    const char *msg = r <= 0 ? gz_message(f, &err) : NULL;
    if (r == 0 && err == Z_BUF_ERROR) return lg_failed("'%s': truncated gzip stream", path);
    if (r < 0 || (r == 0 && err != Z_OK))
      return lg_failed("'%s': cannot read: %s", path, err == Z_ERRNO ? strerror(errno) : msg);
    if (r == 0) break; /* end of file */
    got += (size_t)r;
  }
  return (long long)got;
}

/* Re-raises the current message with the path in front. */
static void *fail_with_path(const char *path) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", lg_error());
  return lg_fail("'%s': %s", path, msg);
}

lg_tensor *lg_idx_read(const char *path, int dtype, int *type_out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lg_fail("cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return lg_fail("cannot read '%s': it is a directory", path);
  }
  gzFile f = gzdopen(fd, "rb");
  if (!f) {
    close(fd);
    return lg_fail("cannot open '%s': out of memory", path);
  }
  gzbuffer(f, 1u << 17);
  unsigned char head[HEADER_MAX];
  idx_header h;
  unsigned char *buf = NULL;
  lg_tensor *t = NULL;
  long long got = gz_read_full(f, head, 4, path);
  if (got < 0) goto done;
  if (got == 4 && !head[0] && !head[1] && head[3] <= LG_MAX_DIMS) {
    long long more = gz_read_full(f, head + 4, 4 * (size_t)head[3], path);
    if (more < 0) goto done;
    got += more;
  }
  if (parse_header(head, (size_t)got, &h)) {
    fail_with_path(path);
    goto done;
  }
  /* room for the header, the data and one more byte that reveals trailing data */
  size_t cap = h.header_bytes + h.payload_bytes + 1;
  if (cap < h.payload_bytes) {
    lg_fail("'%s': file too large", path);
    goto done;
  }
  size_t size = cap < ((size_t)1 << 20) ? cap : (size_t)1 << 20, used = (size_t)got;
  buf = malloc(size);
  if (!buf) {
    lg_fail("'%s': out of memory", path);
    goto done;
  }
  memcpy(buf, head, used);
  for (;;) {
    if (used == size) {
      if (size == cap) break;
      size_t bigger = size > cap / 2 ? cap : 2 * size;
      unsigned char *p = realloc(buf, bigger);
      if (!p) {
        lg_fail("'%s': out of memory (%zu bytes)", path, bigger);
        goto done;
      }
      buf = p;
      size = bigger;
    }
    long long r = gz_read_full(f, buf + used, size - used, path);
    if (r < 0) goto done;
    used += (size_t)r;
    if (used < size) break; /* end of file */
  }
  t = lg_idx_parse(buf, used, dtype, type_out);
  if (!t) fail_with_path(path);
done:
  free(buf);
  gzclose(f);
  return t;
}

/* ---- writing ----------------------------------------------------------- */

/* Encodes v as `type` into out; -1 (with message) if v does not fit. */
static int encode(unsigned char *out, int type, double v, size_t index) {
  static const double lo[] = {0, -128, -32768, -2147483648.0}, hi[] = {255, 127, 32767, 2147483647.0};
  int k = type == LG_IDX_UBYTE ? 0 : type == LG_IDX_SBYTE ? 1 : type == LG_IDX_SHORT ? 2 : 3;
  if (is_integer_type(type)) {
    if (!(v >= lo[k] && v <= hi[k] && v == floor(v)))
      return lg_failed("element %zu (value %g) does not fit %s (integers %.0f..%.0f)", index + 1, v,
                       lg_idx_type_name(type), lo[k], hi[k]);
    int64_t i = (int64_t)v;
    write_be(out, (uint64_t)i, type_size(type));
    return 0;
  }
  if (type == LG_IDX_FLOAT) {
    if (isfinite(v) && fabs(v) > FLT_MAX)
      return lg_failed("element %zu (value %g) is out of float range", index + 1, v);
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    write_be(out, u, 4);
    return 0;
  }
  uint64_t u;
  memcpy(&u, &v, 8);
  write_be(out, u, 8);
  return 0;
}

static double element(const lg_tensor *c, size_t i) {
  const void *p = lg_data_ptr(c);
  switch (c->dtype) {
  case LG_F32: return ((const float *)p)[i];
  case LG_F64: return ((const double *)p)[i];
  default: return (double)((const int64_t *)p)[i];
  }
}

static int write_body(gzFile f, const lg_tensor *c, int type) {
  unsigned char header[HEADER_MAX] = {0, 0, (unsigned char)type, (unsigned char)c->ndim};
  for (int i = 0; i < c->ndim; i++) write_be(header + 4 + 4 * i, (uint64_t)c->shape[i], 4);
  unsigned hb = 4 + 4 * (unsigned)c->ndim;
  if (gzwrite(f, header, hb) != (int)hb) return -1;
  enum { CHUNK = 1 << 16 };
  unsigned char out[CHUNK];
  size_t es = type_size(type), n = (size_t)lg_numel(c), fill = 0;
  for (size_t i = 0; i < n; i++) {
    if (encode(out + fill, type, element(c, i), i)) return -2;
    fill += es;
    if (fill + es > CHUNK || i + 1 == n) {
      if (gzwrite(f, out, (unsigned)fill) != (int)fill) return -1;
      fill = 0;
    }
  }
  return 0;
}

int lg_idx_write(const char *path, lg_tensor *t, lg_idx_type type, bool gzip) {
  if (!t) return lg_failed("no tensor");
  if (!lg_idx_type_name((int)type)) return lg_failed("unknown IDX type 0x%02x", (unsigned)type);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] > (int64_t)UINT32_MAX)
      return lg_failed("dim %d has size %lld; IDX dims are at most 4294967295", i + 1, (long long)t->shape[i]);
  bool grad_mode = lg_set_grad_enabled(false); /* the copy must not join a graph */
  lg_tensor *c = lg_contiguous(t);
  lg_set_grad_enabled(grad_mode);
  if (!c) return -1;
  size_t tmp_len = strlen(path) + 32;
  char *tmp = malloc(tmp_len);
  if (!tmp) {
    lg_release(c);
    return lg_failed("out of memory");
  }
  snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
  int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    rc = lg_failed("cannot create '%s': %s", tmp, strerror(errno));
    free(tmp);
    lg_release(c);
    return rc;
  }
  int sync_fd = dup(fd); /* gzclose closes fd; this one outlives it for fsync */
  gzFile f = gzdopen(fd, gzip ? "wb6" : "wbT");
  if (!f) {
    close(fd);
    rc = lg_failed("cannot write '%s': out of memory", tmp);
  } else {
    int w = write_body(f, c, (int)type);
    int err = Z_OK;
    const char *msg = w == -1 ? gz_message(f, &err) : NULL;
    if (w == -1) rc = lg_failed("cannot write '%s': %s", tmp, err == Z_ERRNO ? strerror(errno) : msg);
    else if (w) rc = -1; /* a value did not fit: message already set */
    if (gzclose(f) != Z_OK && !rc) rc = lg_failed("cannot write '%s': %s", tmp, strerror(errno));
  }
  if (!rc && sync_fd >= 0 && fsync(sync_fd)) rc = lg_failed("cannot write '%s': %s", tmp, strerror(errno));
  if (sync_fd >= 0) close(sync_fd);
  if (!rc && rename(tmp, path)) rc = lg_failed("cannot replace '%s': %s", path, strerror(errno));
  if (rc) unlink(tmp);
  free(tmp);
  lg_release(c);
  return rc;
}
