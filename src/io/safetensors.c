/* safetensors reader and writer (format: see lg_safetensors.h).
 *
 * The reader is split so that one code path serves both memory and files:
 *   check_prefix   the 8-byte header length against the file size,
 *   parse_header   a small strict JSON parser that knows the header's schema
 *                  (objects, arrays, strings with escapes, integers — nothing
 *                  else is valid in a header, so nothing else is accepted),
 *   check_header   names, shapes and offsets against the data section's size,
 *   build_tensors  lg_empty + one read per tensor through a reader callback
 *                  (memcpy from a buffer, or fseeko + fread from a file).
 * Every size is validated before it is allocated, so a hostile file costs at
 * most its own size in memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"

/* ---- small helpers ------------------------------------------------------------ */

static bool host_is_little_endian(void) {
  const uint16_t probe = 1;
  return *(const unsigned char *)&probe == 1;
}

static int require_little_endian(void) {
  if (host_is_little_endian()) return 0;
  return lg_failed("safetensors data is little-endian; this host is big-endian (not supported)");
}

static uint64_t read_le64(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
  return v;
}

static void write_le64(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence(const unsigned char *s, const unsigned char *end) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 0;
  if ((size_t)(end - s) < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

static bool valid_utf8(const char *str) {
  const unsigned char *s = (const unsigned char *)str, *end = s + strlen(str);
  while (s < end) {
    size_t n = utf8_sequence(s, end);
    if (!n) return false;
    s += n;
  }
  return true;
}

static const char *dtype_tag(lg_dtype d) { return d == LG_F32 ? "F32" : d == LG_F64 ? "F64" : "I64"; }

/* ---- the parsed header -------------------------------------------------------- */

typedef struct {
  char *name;
  lg_dtype dtype;
  int ndim;
  int64_t shape[LG_MAX_DIMS];
  uint64_t begin, end, nbytes;
  bool has_dtype, has_shape, has_offsets;
} st_entry;

typedef struct {
  char *key, *value;
} st_meta;

typedef struct {
  st_entry *entries;
  size_t n, cap;
  st_meta *meta;
  size_t n_meta, meta_cap;
  bool has_meta;
} st_header;

static void header_free(st_header *h) {
  for (size_t i = 0; i < h->n; i++) free(h->entries[i].name);
  for (size_t i = 0; i < h->n_meta; i++) {
    free(h->meta[i].key);
    free(h->meta[i].value);
  }
  free(h->entries);
  free(h->meta);
  memset(h, 0, sizeof *h);
}

/* items grown to hold at least n + 1 `size`-byte entries (the same pointer if
 * they fit already), or NULL when out of memory (items is then unchanged). */
static void *grow(void *items, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return items;
  size_t new_cap = *cap ? 2 * *cap : 8;
  void *p = realloc(items, new_cap * size);
  if (!p) return lg_fail("out of memory reading the header");
  *cap = new_cap;
  return p;
}

/* ---- JSON ------------------------------------------------------------------------ */

typedef struct {
  const unsigned char *start, *p, *end;
} jreader;

static int jfail(const jreader *j, const char *what) {
  return lg_failed("invalid JSON in header at byte %zu: %s", (size_t)(j->p - j->start), what);
}

/* The next non-whitespace byte (not consumed), or -1 at the end. */
static int jpeek(jreader *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
  return j->p < j->end ? *j->p : -1;
}

static int jexpect(jreader *j, int c, const char *what) {
  if (jpeek(j) != c) return jfail(j, what);
  j->p++;
  return 0;
}

static int hex4(const unsigned char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = s[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + d;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(unsigned char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes the escape at j->p (a backslash) into *o; NULL or what was wrong. */
static const char *unescape(jreader *j, const unsigned char *close, unsigned char **o) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  unsigned e = j->p[1]; /* exists: a string's closing quote never follows a lone backslash */
  j->p += 2;
  const char *simple = e ? strchr(from, (int)e) : NULL;
  if (simple) {
    *(*o)++ = (unsigned char)to[simple - from];
    return NULL;
  }
  unsigned cp, low;
  if (e != 'u' || close - j->p < 4 || hex4(j->p, &cp)) return "invalid escape in a string";
  j->p += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return "unpaired UTF-16 surrogate in a \\u escape";
  if (cp >= 0xD800 && cp <= 0xDBFF) { /* must be followed by a low surrogate */
    if (close - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &low) || low < 0xDC00 ||
        low > 0xDFFF)
      return "unpaired UTF-16 surrogate in a \\u escape";
    j->p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  }
  if (cp == 0) return "\\u0000 in a string is not supported";
  *o += put_utf8(*o, cp);
  return NULL;
}

/* Reads a JSON string into a new NUL-terminated UTF-8 string. Decoding never
 * makes a string longer than its encoding, so the raw span bounds the buffer. */
static int jstring(jreader *j, char **out, const char *what) {
  *out = NULL;
  if (jpeek(j) != '"') return jfail(j, what);
  const unsigned char *s = ++j->p, *close = s;
  while (close < j->end && *close != '"') close += (*close == '\\' && close + 1 < j->end) ? 2 : 1;
  if (close >= j->end) return jfail(j, "unterminated string");
  unsigned char *buf = malloc((size_t)(close - s) + 1), *o = buf;
  if (!buf) return lg_failed("out of memory reading the header");
  const char *bad = NULL;
  while (j->p < close && !bad) {
    unsigned c = *j->p;
    size_t n = c >= 0x80 ? utf8_sequence(j->p, close) : 1;
    if (c < 0x20) bad = "control character in a string";
    else if (!n) bad = "string is not valid UTF-8";
    else if (c == '\\') bad = unescape(j, close, &o);
    else {
      memcpy(o, j->p, n);
      o += n;
      j->p += n;
    }
  }
  if (bad) {
    free(buf);
    return jfail(j, bad);
  }
  *o = 0;
  j->p = close + 1;
  *out = (char *)buf;
  return 0;
}

/* Reads a non-negative JSON integer (strict: no leading zeros, no fraction or
 * exponent) of at most INT64_MAX. `tensor` and `field` name it in messages. */
static int juint(jreader *j, uint64_t *out, const char *tensor, const char *field) {
  int c = jpeek(j);
  bool negative = c == '-';
  if (negative) j->p++;
  if (j->p >= j->end || *j->p < '0' || *j->p > '9') {
    if (negative) return jfail(j, "expected digits after '-'");
    return lg_failed("tensor '%s': %s must contain integers only", tensor, field);
  }
  if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
    return jfail(j, "number with a leading zero");
  uint64_t v = 0;
  bool overflow = false;
  for (; j->p < j->end && *j->p >= '0' && *j->p <= '9'; j->p++) {
    unsigned d = (unsigned)(*j->p - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) overflow = true;
    else v = v * 10 + d;
  }
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
    return lg_failed("tensor '%s': %s must contain integers only (found a fraction or exponent)",
                     tensor, field);
  if (negative && (v || overflow))
    return lg_failed("tensor '%s': %s contains a negative number", tensor, field);
  if (overflow) return lg_failed("tensor '%s': %s contains a number too large for int64", tensor, field);
  *out = v;
  return 0;
}

/* [int, int, ...] with at most max entries. */
static int jint_array(jreader *j, uint64_t *vals, int max, int *count, const char *tensor,
                      const char *field) {
  if (jpeek(j) != '[') return lg_failed("tensor '%s': %s must be an array of integers", tensor, field);
  j->p++;
  *count = 0;
  if (jpeek(j) == ']') {
    j->p++;
    return 0;
  }
  for (;;) {
    if (*count == max) return lg_failed("tensor '%s': %s has more than %d entries", tensor, field, max);
    if (juint(j, &vals[*count], tensor, field)) return -1;
    ++*count;
    int c = jpeek(j);
    if (c != ',' && c != ']') return jfail(j, "expected ',' or ']' in an array");
    j->p++;
    if (c == ']') return 0;
  }
}

static int parse_dtype(const char *tag, const char *tensor, lg_dtype *out) {
  if (!strcmp(tag, "F32")) *out = LG_F32;
  else if (!strcmp(tag, "F64")) *out = LG_F64;
  else if (!strcmp(tag, "I64")) *out = LG_I64;
  else return lg_failed("tensor '%s': unsupported dtype %s (lunagrad reads F32, F64 and I64)", tensor, tag);
  return 0;
}

/* One field of a tensor description, after its key and ':'. */
static int parse_tensor_field(jreader *j, st_entry *e, const char *key) {
  if (!strcmp(key, "dtype")) {
    char *tag;
    if (e->has_dtype) return lg_failed("tensor '%s': duplicate field dtype", e->name);
    e->has_dtype = true;
    if (jstring(j, &tag, "dtype must be a string")) return -1;
    int rc = parse_dtype(tag, e->name, &e->dtype);
    free(tag);
    return rc;
  }
  if (!strcmp(key, "shape")) {
    uint64_t dims[LG_MAX_DIMS];
    if (e->has_shape) return lg_failed("tensor '%s': duplicate field shape", e->name);
    e->has_shape = true;
    if (jint_array(j, dims, LG_MAX_DIMS, &e->ndim, e->name, "shape")) return -1;
    for (int d = 0; d < e->ndim; d++) e->shape[d] = (int64_t)dims[d];
    return 0;
  }
  if (!strcmp(key, "data_offsets")) {
    uint64_t offsets[2];
    int count;
    if (e->has_offsets) return lg_failed("tensor '%s': duplicate field data_offsets", e->name);
    e->has_offsets = true;
    if (jint_array(j, offsets, 2, &count, e->name, "data_offsets")) return -1;
    if (count != 2)
      return lg_failed("tensor '%s': data_offsets must be [begin, end], got %d numbers", e->name, count);
    e->begin = offsets[0];
    e->end = offsets[1];
    return 0;
  }
  return lg_failed("tensor '%s': unexpected field '%s'", e->name, key);
}

/* {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} in any order. */
static int parse_tensor_info(jreader *j, st_entry *e) {
  if (jpeek(j) != '{')
    return lg_failed("tensor '%s': expected an object with dtype, shape and data_offsets", e->name);
  j->p++;
  if (jpeek(j) != '}')
    for (;;) {
      char *key;
      if (jstring(j, &key, "expected a field name")) return -1;
      int rc = jexpect(j, ':', "expected ':' after a field name") || parse_tensor_field(j, e, key);
      free(key);
      if (rc) return -1;
      int c = jpeek(j);
      if (c == '}') break;
      if (c != ',') return jfail(j, "expected ',' or '}' in a tensor description");
      j->p++;
    }
  j->p++;
  if (!e->has_dtype) return lg_failed("tensor '%s': missing dtype", e->name);
  if (!e->has_shape) return lg_failed("tensor '%s': missing shape", e->name);
  if (!e->has_offsets) return lg_failed("tensor '%s': missing data_offsets", e->name);
  return 0;
}

/* {"key": "value", ...} */
static int parse_metadata(jreader *j, st_header *h) {
  if (jpeek(j) != '{') return lg_failed("__metadata__ must be an object of strings");
  j->p++;
  if (jpeek(j) == '}') {
    j->p++;
    return 0;
  }
  for (;;) {
    st_meta *meta = grow(h->meta, &h->meta_cap, h->n_meta, sizeof *h->meta);
    if (!meta) return -1;
    h->meta = meta;
    st_meta *m = &meta[h->n_meta];
    if (jstring(j, &m->key, "expected a metadata key")) return -1;
    h->n_meta++; /* owned by h from here on, value NULL until read */
    m->value = NULL;
    if (jexpect(j, ':', "expected ':' after a metadata key")) return -1;
    if (jpeek(j) != '"') return lg_failed("__metadata__ value of '%s' must be a string", m->key);
    if (jstring(j, &m->value, "expected a string")) return -1;
    int c = jpeek(j);
    if (c == '}') break;
    if (c != ',') return jfail(j, "expected ',' or '}' in __metadata__");
    j->p++;
  }
  j->p++;
  return 0;
}

/* The whole header: one object of tensor descriptions and optional metadata,
 * then nothing but whitespace (the padding). */
static int parse_header(const unsigned char *json, size_t n, st_header *h) {
  jreader j = {json, json, json + n};
  memset(h, 0, sizeof *h);
  if (jpeek(&j) != '{') return lg_failed("header is not a JSON object");
  j.p++;
  if (jpeek(&j) == '}') j.p++;
  else
    for (;;) {
      char *key;
      if (jstring(&j, &key, "expected a tensor name")) return -1;
      if (jexpect(&j, ':', "expected ':' after a tensor name")) {
        free(key);
        return -1;
      }
      if (!strcmp(key, "__metadata__")) {
        free(key);
        if (h->has_meta) return lg_failed("duplicate __metadata__");
        h->has_meta = true;
        if (parse_metadata(&j, h)) return -1;
      } else {
        st_entry *entries = grow(h->entries, &h->cap, h->n, sizeof *h->entries);
        if (!entries) {
          free(key);
          return -1;
        }
        h->entries = entries;
        st_entry *e = &entries[h->n++];
        memset(e, 0, sizeof *e);
        e->name = key;
        if (parse_tensor_info(&j, e)) return -1;
      }
      int c = jpeek(&j);
      if (c == '}') {
        j.p++;
        break;
      }
      if (c != ',') return jfail(&j, "expected ',' or '}' after a tensor");
      j.p++;
    }
  if (jpeek(&j) != -1) return jfail(&j, "unexpected data after the header object");
  return 0;
}

/* ---- header validation --------------------------------------------------------- */

static int cmp_entry_name(const void *a, const void *b) {
  return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int cmp_entry_offsets(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

static int cmp_meta(const void *a, const void *b) {
  return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

/* Names distinct; each shape's byte size equals its data_offsets span; the
 * spans tile the data section exactly (as the reference reader requires). */
static int check_header(st_header *h, uint64_t data_len) {
  if (h->n) qsort(h->entries, h->n, sizeof *h->entries, cmp_entry_name);
  for (size_t i = 1; i < h->n; i++)
    if (!strcmp(h->entries[i - 1].name, h->entries[i].name))
      return lg_failed("duplicate tensor name '%s'", h->entries[i].name);
  if (h->n_meta) qsort(h->meta, h->n_meta, sizeof *h->meta, cmp_meta);
  for (size_t i = 1; i < h->n_meta; i++)
    if (!strcmp(h->meta[i - 1].key, h->meta[i].key))
      return lg_failed("duplicate __metadata__ key '%s'", h->meta[i].key);
  for (size_t i = 0; i < h->n; i++) {
    st_entry *e = &h->entries[i];
    /* Bound the product of all nonzero dims too: strides of an empty tensor
     * are computed from them and must not overflow. */
    uint64_t numel = 1, bound = 1, limit = (uint64_t)INT64_MAX / 8;
    for (int d = 0; d < e->ndim; d++) {
      uint64_t s = (uint64_t)e->shape[d];
      if (s > 1 && bound > limit / s)
        return lg_failed("tensor '%s': shape is too large", e->name);
      if (s) bound *= s;
      numel *= s;
    }
    e->nbytes = numel * lg_dtype_size(e->dtype);
    if (e->begin > e->end || e->end > data_len)
      return lg_failed("tensor '%s': data_offsets [%llu, %llu] lie outside the data section of %llu bytes",
                       e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)data_len);
    if (e->end - e->begin != e->nbytes) {
      char shape[160];
      lg_tensor view = {.ndim = e->ndim};
      memcpy(view.shape, e->shape, sizeof e->shape);
      return lg_failed("tensor '%s': dtype %s and shape %s need %llu bytes but data_offsets [%llu, %llu] "
                       "span %llu",
                       e->name, dtype_tag(e->dtype), lg_shape_str(&view, shape, sizeof shape),
                       (unsigned long long)e->nbytes, (unsigned long long)e->begin,
                       (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
    }
  }
  st_entry **by_offset = malloc((h->n ? h->n : 1) * sizeof *by_offset);
  if (!by_offset) return lg_failed("out of memory reading the header");
  for (size_t i = 0; i < h->n; i++) by_offset[i] = &h->entries[i];
  if (h->n) qsort(by_offset, h->n, sizeof *by_offset, cmp_entry_offsets);
  uint64_t covered = 0;
  for (size_t i = 0; i < h->n; i++) {
    if (by_offset[i]->begin != covered) {
      int rc = lg_failed("tensor '%s': data_offsets begin at %llu, expected %llu (tensor data must not "
                         "overlap or leave gaps)",
                         by_offset[i]->name, (unsigned long long)by_offset[i]->begin,
                         (unsigned long long)covered);
      free(by_offset);
      return rc;
    }
    covered = by_offset[i]->end;
  }
  free(by_offset);
  if (covered != data_len)
    return lg_failed("data section has %llu bytes but the tensors cover only %llu",
                     (unsigned long long)data_len, (unsigned long long)covered);
  return 0;
}

/* ---- building the result --------------------------------------------------------- */

/* Copies n bytes starting at `offset` in the data section into dst. */
typedef int (*st_reader)(void *ctx, uint64_t offset, void *dst, size_t n);

void lg_safetensors_free(lg_safetensors *st) {
  if (!st) return;
  for (size_t i = 0; i < st->n_tensors; i++) {
    if (st->names) free(st->names[i]);
    if (st->tensors) lg_release(st->tensors[i]);
  }
  for (size_t i = 0; i < st->n_meta; i++) {
    if (st->meta_keys) free(st->meta_keys[i]);
    if (st->meta_values) free(st->meta_values[i]);
  }
  free(st->names);
  free(st->tensors);
  free(st->meta_keys);
  free(st->meta_values);
  memset(st, 0, sizeof *st);
}

/* Moves names and metadata from h into out and reads every tensor. h is
 * emptied either way; out is left empty on error. */
static int build_tensors(st_header *h, st_reader read, void *ctx, lg_safetensors *out) {
  size_t n = h->n ? h->n : 1, m = h->n_meta ? h->n_meta : 1;
  out->names = calloc(n, sizeof *out->names);
  out->tensors = calloc(n, sizeof *out->tensors);
  out->meta_keys = calloc(m, sizeof *out->meta_keys);
  out->meta_values = calloc(m, sizeof *out->meta_values);
  int rc = 0;
  if (!out->names || !out->tensors || !out->meta_keys || !out->meta_values)
    rc = lg_failed("out of memory reading a safetensors file");
  for (size_t i = 0; !rc && i < h->n_meta; i++) { /* move, so header_free skips them */
    out->meta_keys[i] = h->meta[i].key;
    out->meta_values[i] = h->meta[i].value;
    h->meta[i].key = h->meta[i].value = NULL;
    out->n_meta++;
  }
  for (size_t i = 0; !rc && i < h->n; i++) {
    st_entry *e = &h->entries[i];
    out->names[i] = e->name;
    e->name = NULL;
    out->n_tensors++;
    lg_tensor *t = lg_empty(e->ndim, e->shape, e->dtype);
    if (!t) rc = -1;
    else if (e->nbytes && read(ctx, e->begin, lg_data_ptr(t), (size_t)e->nbytes)) rc = -1;
    out->tensors[i] = t;
  }
  header_free(h);
  if (rc) lg_safetensors_free(out);
  return rc;
}

/* The 8-byte length prefix checked against the file size. */
static int check_prefix(const unsigned char *prefix, uint64_t file_len, uint64_t *header_len) {
  if (file_len < 8)
    return lg_failed("file is %llu bytes, too short for a safetensors header (at least 8)",
                     (unsigned long long)file_len);
  uint64_t n = read_le64(prefix);
  if (n == 0) return lg_failed("header length is 0 (expected a JSON object)");
  if (n > LG_SAFETENSORS_MAX_HEADER)
    return lg_failed("header length %llu exceeds the limit of %zu bytes", (unsigned long long)n,
                     LG_SAFETENSORS_MAX_HEADER);
  if (n > file_len - 8)
    return lg_failed("header length %llu is larger than the %llu bytes after it in the file",
                     (unsigned long long)n, (unsigned long long)(file_len - 8));
  *header_len = n;
  return 0;
}

static int read_header_and_tensors(const unsigned char *json, uint64_t header_len, uint64_t data_len,
                                   st_reader read, void *ctx, lg_safetensors *out) {
  st_header h;
  if (parse_header(json, (size_t)header_len, &h) || check_header(&h, data_len)) {
    header_free(&h);
    return -1;
  }
  return build_tensors(&h, read, ctx, out);
}

/* ---- reading from memory ------------------------------------------------------------ */

static int memory_read(void *ctx, uint64_t offset, void *dst, size_t n) {
  memcpy(dst, (const unsigned char *)ctx + offset, n);
  return 0;
}

int lg_safetensors_parse(const void *buf, size_t len, lg_safetensors *out) {
  memset(out, 0, sizeof *out);
  uint64_t header_len = 0;
  if (require_little_endian() || check_prefix(buf, len, &header_len)) return -1;
  const unsigned char *bytes = buf;
  return read_header_and_tensors(bytes + 8, header_len, len - 8 - header_len, memory_read,
                                 (void *)(bytes + 8 + header_len), out);
}

/* ---- reading from a file ------------------------------------------------------------- */

typedef struct {
  FILE *f;
  uint64_t data_start;
} file_source;

static int file_read(void *ctx, uint64_t offset, void *dst, size_t n) {
  file_source *src = ctx;
  if (fseeko(src->f, (off_t)(src->data_start + offset), SEEK_SET))
    return lg_failed("cannot seek: %s", strerror(errno));
  if (fread(dst, 1, n, src->f) != n)
    return lg_failed(ferror(src->f) ? "read error" : "file ended early (was it changed while reading?)");
  return 0;
}

/* Prefixes the current error message with the file's path. */
static int fail_with_path(const char *path) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", lg_error());
  return lg_failed("'%s': %s", path, msg);
}

/* Checks the open file's size and header, then reads its tensors. */
static int load_open_file(FILE *f, lg_safetensors *out) {
  struct stat st;
  unsigned char prefix[8] = {0};
  uint64_t header_len = 0;
  if (fstat(fileno(f), &st)) return lg_failed("cannot stat: %s", strerror(errno));
  if (!S_ISREG(st.st_mode)) return lg_failed("not a regular file");
  uint64_t size = (uint64_t)st.st_size;
  if (size >= 8 && fread(prefix, 1, 8, f) != 8) return lg_failed("cannot read the header length");
  if (check_prefix(prefix, size, &header_len)) return -1;
  unsigned char *json = malloc((size_t)header_len); /* at most 100 MB, and no more than the file */
  if (!json) return lg_failed("out of memory for a %llu-byte header", (unsigned long long)header_len);
  int rc;
  if (fread(json, 1, (size_t)header_len, f) != header_len) rc = lg_failed("cannot read the header");
  else {
    file_source src = {f, 8 + header_len};
    rc = read_header_and_tensors(json, header_len, size - 8 - header_len, file_read, &src, out);
  }
  free(json);
  return rc;
}

int lg_safetensors_load(const char *path, lg_safetensors *out) {
  memset(out, 0, sizeof *out);
  if (require_little_endian()) return -1;
  FILE *f = fopen(path, "rb");
  if (!f) return lg_failed("cannot open '%s': %s", path, strerror(errno));
  int rc = load_open_file(f, out);
  fclose(f);
  return rc ? fail_with_path(path) : 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct {
  char *p;
  size_t n, cap;
  bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_uint(sbuf *b, uint64_t v) {
  char num[24];
  sb_put(b, num, (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v));
}

/* A JSON string escaped exactly as Python's json.dumps(ensure_ascii=False)
 * does, so both writers produce the same bytes. */
static void sb_json_string(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                    : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
    if (esc) sb_puts(b, esc);
    else if (c < 0x20) {
      char u[8];
      snprintf(u, sizeof u, "\\u%04x", c);
      sb_puts(b, u);
    } else sb_put(b, (const char *)&c, 1);
  }
  sb_put(b, "\"", 1);
}

typedef struct {
  const char *name;
  size_t index;
} named;

static int cmp_named(const void *a, const void *b) {
  return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Sorted copies of names with their original positions; checks them first. */
static named *sorted_names(size_t n, const char *const *names, const char *what) {
  named *s = malloc((n ? n : 1) * sizeof *s);
  if (!s) return lg_fail("out of memory");
  for (size_t i = 0; i < n; i++) {
    if (!names[i]) {
      free(s);
      return lg_fail("%s %zu is NULL", what, i + 1);
    }
    const char *problem = !valid_utf8(names[i])              ? "is not valid UTF-8"
                          : !strcmp(names[i], "__metadata__") ? "is reserved"
                                                              : NULL;
    if (problem) {
      lg_failed("%s '%s' %s", what, names[i], problem);
      free(s);
      return NULL;
    }
    s[i] = (named){names[i], i};
  }
  if (n) qsort(s, n, sizeof *s, cmp_named);
  for (size_t i = 1; i < n; i++)
    if (!strcmp(s[i - 1].name, s[i].name)) {
      lg_failed("duplicate %s '%s'", what, s[i].name);
      free(s);
      return NULL;
    }
  return s;
}

/* The padded JSON header: metadata first, then tensors by name, contiguous. */
static int build_header(sbuf *b, size_t n, const named *order, lg_tensor *const *tensors,
                        size_t n_meta, const named *meta, const char *const *values) {
  sb_puts(b, "{");
  if (n_meta) {
    sb_puts(b, "\"__metadata__\":{");
    for (size_t i = 0; i < n_meta; i++) {
      if (i) sb_puts(b, ",");
      sb_json_string(b, meta[i].name);
      sb_puts(b, ":");
      sb_json_string(b, values[meta[i].index]);
    }
    sb_puts(b, n ? "}," : "}");
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < n; i++) {
    const lg_tensor *t = tensors[order[i].index];
    uint64_t nbytes = (uint64_t)lg_numel(t) * lg_dtype_size(t->dtype);
    if (i) sb_puts(b, ",");
    sb_json_string(b, order[i].name);
    sb_puts(b, ":{\"dtype\":\"");
    sb_puts(b, dtype_tag(t->dtype));
    sb_puts(b, "\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      if (d) sb_puts(b, ",");
      sb_uint(b, (uint64_t)t->shape[d]);
    }
    sb_puts(b, "],\"data_offsets\":[");
    sb_uint(b, offset);
    sb_puts(b, ",");
    sb_uint(b, offset + nbytes);
    sb_puts(b, "]}");
    offset += nbytes;
  }
  sb_puts(b, "}");
  while (!b->oom && b->n % 8) sb_puts(b, " ");
  return b->oom ? lg_failed("out of memory building the header") : 0;
}

/* Writes one tensor's elements in row-major order. */
static int write_tensor(FILE *f, lg_tensor *t) {
  bool grad_mode = lg_set_grad_enabled(false); /* the contiguous copy needs no graph */
  lg_tensor *c = lg_contiguous(t);
  lg_set_grad_enabled(grad_mode);
  if (!c) return -1;
  size_t nbytes = (size_t)lg_numel(c) * lg_dtype_size(c->dtype);
  int rc = nbytes && fwrite(lg_data_ptr(c), 1, nbytes, f) != nbytes ? -1 : 0;
  lg_release(c);
  return rc ? lg_failed("write error: %s", strerror(errno)) : 0;
}

/* Flushes the directory entry of a rename to disk; best effort. */
static void sync_directory(const char *path) {
  char *dir = dup_string(path);
  if (!dir) return;
  char *slash = strrchr(dir, '/');
  const char *name = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
  int fd = open(name, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

static int write_file(const char *path, const sbuf *header, size_t n, const named *order,
                      lg_tensor *const *tensors) {
  size_t tmp_len = strlen(path) + 32;
  char *tmp = malloc(tmp_len);
  if (!tmp) return lg_failed("out of memory");
  snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    int rc = lg_failed("cannot create '%s': %s", tmp, strerror(errno));
    free(tmp);
    return rc;
  }
  struct stat old;
  if (!stat(path, &old) && S_ISREG(old.st_mode)) fchmod(fd, old.st_mode & 07777); /* keep its mode */
  FILE *f = fdopen(fd, "wb");
  int rc = 0;
  if (!f) {
    rc = lg_failed("cannot open '%s': %s", tmp, strerror(errno));
    close(fd);
  } else {
    unsigned char prefix[8];
    write_le64(prefix, header->n);
    if (fwrite(prefix, 1, 8, f) != 8 || fwrite(header->p, 1, header->n, f) != header->n)
      rc = lg_failed("cannot write '%s': %s", tmp, strerror(errno));
    for (size_t i = 0; !rc && i < n; i++) rc = write_tensor(f, tensors[order[i].index]);
    if (!rc && (fflush(f) || fsync(fileno(f))))
      rc = lg_failed("cannot write '%s': %s", tmp, strerror(errno));
    if (fclose(f) && !rc) rc = lg_failed("cannot write '%s': %s", tmp, strerror(errno));
  }
  if (!rc && rename(tmp, path)) rc = lg_failed("cannot replace '%s': %s", path, strerror(errno));
  if (rc) unlink(tmp);
  else sync_directory(path);
  free(tmp);
  return rc;
}

int lg_safetensors_save(const char *path, size_t n, const char *const *names,
                        lg_tensor *const *tensors, size_t n_meta, const char *const *meta_keys,
                        const char *const *meta_values) {
  if (require_little_endian()) return -1;
  for (size_t i = 0; i < n; i++)
    if (!tensors[i]) return lg_failed("tensor %zu is NULL", i + 1);
  for (size_t i = 0; i < n_meta; i++)
    if (!meta_values[i] || !valid_utf8(meta_values[i]))
      return lg_failed("metadata value of '%s' is NULL or not valid UTF-8", meta_keys[i] ? meta_keys[i] : "?");
  named *order = sorted_names(n, names, "tensor name");
  if (!order) return -1;
  named *meta = sorted_names(n_meta, meta_keys, "metadata key");
  sbuf header = {0};
  int rc = !meta || build_header(&header, n, order, tensors, n_meta, meta, meta_values) ||
                   write_file(path, &header, n, order, tensors)
               ? -1 : 0;
  free(header.p);
  free(meta);
  free(order);
  return rc;
}
