/* Tensor lifetime, geometry, creation, random numbers, fill and copy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static int64_t live_tensors;

int64_t lg_live_tensor_count(void) { return live_tensors; }

/* ---- lifetime ----------------------------------------------------------- */

void lg_retain(lg_tensor *t) { t->refcount++; }

void lg_release(lg_tensor *t) {
  if (!t || --t->refcount > 0) return;
  lg_release(t->grad);
  lg_node_release(t->grad_fn);
  lg_storage_release(t->storage);
  free(t);
  live_tensors--;
}

lg_tensor *lg_make_view(lg_storage *storage, lg_dtype dtype, int ndim, const int64_t *shape,
                        const int64_t *stride, int64_t offset) {
  lg_tensor *t = calloc(1, sizeof *t);
  if (!t) return lg_fail("out of memory allocating a tensor");
  t->refcount = 1;
  t->storage = storage;
  lg_storage_retain(storage);
  t->offset = offset;
  t->ndim = ndim;
  t->dtype = dtype;
  for (int d = 0; d < ndim; d++) {
    t->shape[d] = shape[d];
    t->stride[d] = stride[d];
  }
  live_tensors++;
  return t;
}

/* ---- metadata ------------------------------------------------------------- */

size_t lg_dtype_size(lg_dtype d) { return d == LG_F32 ? 4 : 8; }

static const char *const dtype_names[] = {"float32", "float64", "int64"};

const char *lg_dtype_name(lg_dtype d) { return dtype_names[d]; }

int lg_dtype_from_name(const char *name, lg_dtype *out) {
  static const struct { const char *name; lg_dtype d; } aliases[] = {
      {"float32", LG_F32}, {"float", LG_F32},  {"float64", LG_F64},
      {"double", LG_F64},  {"int64", LG_I64},  {"long", LG_I64}};
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcmp(name, aliases[i].name) == 0) {
      *out = aliases[i].d;
      return 0;
    }
  return lg_failed("unknown dtype '%s' (expected float32, float64 or int64)", name);
}

bool lg_is_float(lg_dtype d) { return d != LG_I64; }

lg_dtype lg_promote(lg_dtype a, lg_dtype b) {
  if (a == LG_F64 || b == LG_F64) return LG_F64;
  if (a == LG_F32 || b == LG_F32) return LG_F32;
  return LG_I64;
}

int64_t lg_shape_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return n;
}

int64_t lg_numel(const lg_tensor *t) { return lg_shape_numel(t->ndim, t->shape); }

void lg_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d] > 0 ? shape[d] : 1;
  }
}

bool lg_is_contiguous(const lg_tensor *t) {
  int64_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != s) return false;
    s *= t->shape[d] > 0 ? t->shape[d] : 1; /* as lg_contiguous_strides counts empty dims */
  }
  return true;
}

bool lg_same_shape(const lg_tensor *a, const lg_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

void *lg_data_ptr(const lg_tensor *t) {
  return (char *)t->storage->data + t->offset * (int64_t)lg_dtype_size(t->dtype);
}

int lg_wrap_dim(int dim, int ndim, int *out) {
  int lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  if (dim < lo || dim > hi)
    return lg_failed("dim %d out of range for a %d-d tensor", dim, ndim);
  *out = dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim;
  return 0;
}

static int64_t element_offset(const lg_tensor *t, const int64_t *idx) {
  int64_t off = t->offset;
  for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
  return off;
}

static double read_at(const lg_tensor *t, int64_t off) {
  switch (t->dtype) {
  case LG_F32: return ((const float *)t->storage->data)[off];
  case LG_F64: return ((const double *)t->storage->data)[off];
  default: return (double)((const int64_t *)t->storage->data)[off];
  }
}

double lg_get(const lg_tensor *t, const int64_t *idx) { return read_at(t, element_offset(t, idx)); }

int lg_set(lg_tensor *t, const int64_t *idx, double v) {
  int64_t off = element_offset(t, idx);
  switch (t->dtype) {
  case LG_F32: ((float *)t->storage->data)[off] = (float)v; break;
  case LG_F64: ((double *)t->storage->data)[off] = v; break;
  default: ((int64_t *)t->storage->data)[off] = lg_to_int64(v); break;
  }
  t->storage->version++;
  return 0;
}

double lg_item(const lg_tensor *t) { return read_at(t, t->offset); }

/* ---- creation ----------------------------------------------------------- */

static int check_shape(int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > LG_MAX_DIMS)
    return lg_failed("%d dims requested, at most %d are supported", ndim, LG_MAX_DIMS);
  double total = 1, extent = 1; /* extent ignores 0 sizes: the strides must fit too */
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return lg_failed("negative size %lld in dim %d", (long long)shape[d], d + 1);
    total *= (double)shape[d];
    extent *= shape[d] > 0 ? (double)shape[d] : 1;
  }
  if (total * 8 > 1e15 || extent > 1e18)
    return lg_failed("shape of %.0f elements is too large to allocate", total > 0 ? total : extent);
  return 0;
}

lg_tensor *lg_new_like_shape(int ndim, const int64_t *shape, lg_dtype dtype) {
  int64_t stride[LG_MAX_DIMS];
  /* results of ops on huge expanded views land here: the byte count must not wrap */
  if (check_shape(ndim, shape)) return NULL;
  lg_contiguous_strides(ndim, shape, stride);
  lg_storage *s = lg_storage_new((size_t)lg_shape_numel(ndim, shape) * lg_dtype_size(dtype));
  if (!s) return NULL;
  lg_tensor *t = lg_make_view(s, dtype, ndim, shape, stride, 0);
  lg_storage_release(s);
  return t;
}

lg_tensor *lg_empty(int ndim, const int64_t *shape, lg_dtype dtype) {
  if (check_shape(ndim, shape)) return NULL;
  return lg_new_like_shape(ndim, shape, dtype);
}

lg_tensor *lg_full(int ndim, const int64_t *shape, double value, lg_dtype dtype) {
  lg_tensor *t = lg_empty(ndim, shape, dtype);
  if (t) lg_fill(t, value);
  return t;
}

lg_tensor *lg_zeros(int ndim, const int64_t *shape, lg_dtype dtype) {
  lg_tensor *t = lg_empty(ndim, shape, dtype);
  if (t) memset(t->storage->data, 0, t->storage->nbytes);
  return t;
}

lg_tensor *lg_ones(int ndim, const int64_t *shape, lg_dtype dtype) {
  return lg_full(ndim, shape, 1.0, dtype);
}

lg_tensor *lg_scalar(double value, lg_dtype dtype) { return lg_full(0, NULL, value, dtype); }

lg_tensor *lg_from_doubles(int ndim, const int64_t *shape, const double *data, lg_dtype dtype) {
  lg_tensor *t = lg_empty(ndim, shape, dtype);
  if (!t) return NULL;
  int64_t n = lg_numel(t);
  void *p = t->storage->data;
  for (int64_t i = 0; i < n; i++) {
    if (dtype == LG_F32) ((float *)p)[i] = (float)data[i];
    else if (dtype == LG_F64) ((double *)p)[i] = data[i];
    else ((int64_t *)p)[i] = lg_to_int64(data[i]);
  }
  return t;
}

lg_tensor *lg_arange(double start, double end, double step, lg_dtype dtype) {
  if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(end))
    return lg_fail("step must be finite and non-zero, bounds finite");
  double count = ceil((end - start) / step);
  if (count < 0) count = 0;
  if (count > 1e12) return lg_fail("%.0f elements is too many", count);
  int64_t n = (int64_t)count;
  lg_tensor *t = lg_empty(1, &n, dtype);
  if (!t) return NULL;
  for (int64_t i = 0; i < n; i++) lg_set(t, &i, start + (double)i * step); /* t is 1-d */
  return t;
}

/* ---- random numbers: xoshiro256**, seeded through splitmix64 ------------- */

static uint64_t rng[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull, 1};

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(void) {
  uint64_t result = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
  rng[2] ^= rng[0];
  rng[3] ^= rng[1];
  rng[1] ^= rng[2];
  rng[0] ^= rng[3];
  rng[2] ^= t;
  rng[3] = rotl(rng[3], 45);
  return result;
}

void lg_manual_seed(uint64_t seed) {
  for (int i = 0; i < 4; i++) {
    uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    rng[i] = z ^ (z >> 31);
  }
}

/* The generator's state as four words (lg.get_rng_state / lg.set_rng_state);
 * all-zero is xoshiro's one invalid state and is refused. */
void lg_get_rng_state(uint64_t out[4]) { memcpy(out, rng, sizeof rng); }

int lg_set_rng_state(const uint64_t in[4]) {
  if (!(in[0] | in[1] | in[2] | in[3])) return lg_failed("an all-zero generator state is invalid");
  memcpy(rng, in, sizeof rng);
  return 0;
}

double lg_random_uniform(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; }

static lg_tensor *fill_random(int ndim, const int64_t *shape, lg_dtype dtype, bool normal) {
  if (!lg_is_float(dtype)) return lg_fail("random values need a float dtype, got int64");
  lg_tensor *t = lg_empty(ndim, shape, dtype);
  if (!t) return NULL;
  int64_t n = lg_numel(t);
  for (int64_t i = 0; i < n; i += 2) {
    double u1 = lg_random_uniform(), u2 = lg_random_uniform(), v1 = u1, v2 = u2;
    if (normal) { /* Box-Muller; 1 - u1 lies in (0, 1], so the log is finite */
      double r = sqrt(-2.0 * log(1.0 - u1)), theta = 2.0 * M_PI * u2;
      v1 = r * cos(theta);
      v2 = r * sin(theta);
    }
    if (dtype == LG_F32) {
      float *p = t->storage->data;
      p[i] = (float)v1;
      if (i + 1 < n) p[i + 1] = (float)v2;
    } else {
      double *p = t->storage->data;
      p[i] = v1;
      if (i + 1 < n) p[i + 1] = v2;
    }
  }
  return t;
}

lg_tensor *lg_rand(int ndim, const int64_t *shape, lg_dtype dtype) {
  return fill_random(ndim, shape, dtype, false);
}

lg_tensor *lg_randn(int ndim, const int64_t *shape, lg_dtype dtype) {
  return fill_random(ndim, shape, dtype, true);
}

lg_tensor *lg_randperm(int64_t n) {
  lg_tensor *t = lg_arange(0, (double)n, 1, LG_I64);
  if (!t) return NULL;
  int64_t *p = t->storage->data;
  for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
    int64_t j = (int64_t)(lg_random_uniform() * (double)(i + 1)), tmp = p[i];
    p[i] = p[j];
    p[j] = tmp;
  }
  return t;
}

/* ---- fill and copy ---------------------------------------------------------- */

typedef struct { lg_dtype dst, src; double value; } copy_ctx;

#define COPY_LOOP(TD, TS)                                                            \
  do {                                                                               \
    TD *o = (TD *)ptr[0];                                                            \
    const TS *a = (const TS *)ptr[1];                                                \
    if (stride[0] == 1 && stride[1] == 1)                                            \
      for (int64_t i = 0; i < n; i++) o[i] = (TD)a[i];                               \
    else                                                                             \
      for (int64_t i = 0; i < n; i++) o[i * stride[0]] = (TD)a[i * stride[1]];       \
  } while (0)

/* float -> int64 goes through lg_to_int64: a plain cast is undefined for NaN,
 * infinities and values beyond the int64 range. */
#define TO_INT64_LOOP(TS)                                                            \
  do {                                                                               \
    int64_t *o = (int64_t *)ptr[0];                                                  \
    const TS *a = (const TS *)ptr[1];                                                \
    for (int64_t i = 0; i < n; i++) o[i * stride[0]] = lg_to_int64(a[i * stride[1]]); \
  } while (0)

static void copy_row(int64_t n, char **ptr, const int64_t *stride, void *vctx) {
  const copy_ctx *c = vctx;
  switch (c->dst * 3 + c->src) {
  case LG_F32 * 3 + LG_F32: COPY_LOOP(float, float); break;
  case LG_F32 * 3 + LG_F64: COPY_LOOP(float, double); break;
  case LG_F32 * 3 + LG_I64: COPY_LOOP(float, int64_t); break;
  case LG_F64 * 3 + LG_F32: COPY_LOOP(double, float); break;
  case LG_F64 * 3 + LG_F64: COPY_LOOP(double, double); break;
  case LG_F64 * 3 + LG_I64: COPY_LOOP(double, int64_t); break;
  case LG_I64 * 3 + LG_F32: TO_INT64_LOOP(float); break;
  case LG_I64 * 3 + LG_F64: TO_INT64_LOOP(double); break;
  default: COPY_LOOP(int64_t, int64_t); break;
  }
}

static void set_row(int64_t n, char **ptr, const int64_t *stride, void *vctx) {
  const copy_ctx *c = vctx;
  switch (c->dst) {
  case LG_F32: for (int64_t i = 0; i < n; i++) ((float *)ptr[0])[i * stride[0]] = (float)c->value; break;
  case LG_F64: for (int64_t i = 0; i < n; i++) ((double *)ptr[0])[i * stride[0]] = c->value; break;
  default: for (int64_t i = 0; i < n; i++) ((int64_t *)ptr[0])[i * stride[0]] = lg_to_int64(c->value); break;
  }
}

int lg_fill(lg_tensor *t, double value) {
  copy_ctx c = {t->dtype, t->dtype, value};
  lg_tensor *ops[1] = {t};
  int64_t strides[1][LG_MAX_DIMS];
  memcpy(strides[0], t->stride, sizeof t->stride);
  lg_iterate(1, ops, strides, t->ndim, t->shape, set_row, &c, true);
  t->storage->version++;
  return 0;
}

int lg_copy(lg_tensor *dst, lg_tensor *src) {
  char bd[96], bs[96];
  int64_t shape[LG_MAX_DIMS];
  int nd = lg_broadcast_shape(dst, src, shape);
  bool fits = nd == dst->ndim;
  for (int d = 0; fits && d < nd; d++) fits = shape[d] == dst->shape[d];
  if (!fits)
    return lg_failed("source of shape %s does not broadcast to destination %s",
                     lg_shape_str(src, bs, sizeof bs), lg_shape_str(dst, bd, sizeof bd));
  copy_ctx c = {dst->dtype, src->dtype, 0};
  lg_tensor *ops[2] = {dst, src};
  int64_t strides[2][LG_MAX_DIMS];
  memcpy(strides[0], dst->stride, sizeof dst->stride);
  lg_broadcast_strides(src, nd, shape, strides[1]);
  lg_iterate(2, ops, strides, nd, shape, copy_row, &c, true);
  dst->storage->version++;
  return 0;
}

lg_tensor *lg_dense(lg_tensor *t, lg_dtype dtype) {
  if (t->dtype == dtype && lg_is_contiguous(t)) return lg_detach(t);
  lg_tensor *c = lg_new_like_shape(t->ndim, t->shape, dtype);
  if (c && lg_copy(c, t)) {
    lg_release(c);
    return NULL;
  }
  return c;
}

lg_tensor *lg_detach(lg_tensor *t) {
  return lg_make_view(t->storage, t->dtype, t->ndim, t->shape, t->stride, t->offset);
}

int lg_broadcast_shape(const lg_tensor *a, const lg_tensor *b, int64_t *out) {
  int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int d = 0; d < nd; d++) {
    int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
    int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
    if (sa != sb && sa != 1 && sb != 1) return -1;
    out[d] = sa == 1 ? sb : sa;
  }
  return nd;
}
