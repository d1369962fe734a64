/* max_pool2d and avg_pool2d over NCHW (or unbatched CHW) float tensors, PyTorch
 * semantics with floor mode: out = floor((H + 2*pad - k) / stride) + 1.
 *
 * max: padding counts as -inf (it never wins); ties keep the first maximum and
 * NaN wins, like PyTorch. The winner's flat position in its [H, W] plane is
 * saved as an int64 tensor, so backward is a scatter-add of g into those spots
 * (2x2 stride-2 windows: a one-byte code per output instead, see below).
 * Nothing is saved when the call is not recorded (no_grad, inference).
 * avg: count_include_pad = true, so the divisor is the window clipped to the
 * PADDED input (always kH*kW in floor mode with pad <= k/2); backward spreads
 * g/divisor over the window's real pixels.
 * Each (image, channel) plane is independent: OpenMP splits over planes. */
#include <math.h>
#include <stdint.h>

#include "core/internal.h"

typedef struct {
  int64_t planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} pool_geom;

static int pool_geometry(const lg_tensor *x, const int k[2], const int stride[2],
                         const int pad[2], pool_geom *g) {
  char b[96];
  if (x->ndim != 4)
    return lg_failed("expected a 4-D input [N,C,H,W] (or 3-D [C,H,W]), got %s",
                     lg_shape_str(x, b, sizeof b));
  if (!lg_is_float(x->dtype))
    return lg_failed("input must be float32 or float64, got %s", lg_dtype_name(x->dtype));
  if (k[0] <= 0 || k[1] <= 0)
    return lg_failed("kernel size must be positive, got [%d,%d]", k[0], k[1]);
  if (stride[0] <= 0 || stride[1] <= 0)
    return lg_failed("stride must be positive, got [%d,%d]", stride[0], stride[1]);
  if (pad[0] < 0 || pad[1] < 0)
    return lg_failed("padding must be non-negative, got [%d,%d]", pad[0], pad[1]);
  if (pad[0] > k[0] / 2 || pad[1] > k[1] / 2)
    return lg_failed("padding should be at most half of the kernel size, got padding [%d,%d] "
                     "for kernel [%d,%d]", pad[0], pad[1], k[0], k[1]);
  *g = (pool_geom){.planes = x->shape[0] * x->shape[1], .h = x->shape[2], .w = x->shape[3],
                   .kh = k[0], .kw = k[1], .sh = stride[0], .sw = stride[1], .ph = pad[0],
                   .pw = pad[1]};
  int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
  if (g->kh > hp || g->kw > wp)
    return lg_failed("kernel %lldx%lld is larger than the padded input %lldx%lld "
                     "(input %lldx%lld, padding [%d,%d])", (long long)g->kh, (long long)g->kw,
                     (long long)hp, (long long)wp, (long long)g->h, (long long)g->w, pad[0], pad[1]);
  g->oh = (hp - g->kh) / g->sh + 1;
  g->ow = (wp - g->kw) / g->sw + 1;
  return 0;
}

/* The window of output (oy, ox) clipped to the input: rows [y0, y1), cols [x0, x1). */
#define LG_POOL_WINDOW(g, oy, ox)                                                 \
  int64_t y0 = (oy) * (g)->sh - (g)->ph, x0 = (ox) * (g)->sw - (g)->pw;           \
  int64_t y1 = y0 + (g)->kh < (g)->h ? y0 + (g)->kh : (g)->h;                     \
  int64_t x1 = x0 + (g)->kw < (g)->w ? x0 + (g)->kw : (g)->w;                     \
  /* count_include_pad: the divisor counts padding, not what lies beyond it */    \
  int64_t yp = y0 + (g)->kh < (g)->h + (g)->ph ? y0 + (g)->kh : (g)->h + (g)->ph; \
  int64_t xp = x0 + (g)->kw < (g)->w + (g)->pw ? x0 + (g)->kw : (g)->w + (g)->pw; \
  int64_t divisor = (yp - y0) * (xp - x0);                                        \
  if (y0 < 0) y0 = 0;                                                             \
  if (x0 < 0) x0 = 0;                                                             \
  (void)divisor

#define LG_PARALLEL_PLANES(g) \
  _Pragma("omp parallel for schedule(static) if ((g)->planes * (g)->h * (g)->w >= LG_PARALLEL_GRAIN)")

/* ---- 2x2 windows, stride 2, no padding (every LeNet-style net) --------------------
 * Branch-free so that the compiler vectorizes it (random data made the branchy
 * version mispredict on every other pixel). The winner is saved as a 2-bit code
 * in one byte per output (0..3 = top-left, top-right, bottom-left, bottom-right)
 * instead of an int64 position: 8x less memory traffic, and backward writes every
 * dx element exactly once, so dx needs no zero fill and no scatter.
 * The pairwise order (a vs b, then c, then d, each "v > best || v is NaN") is the
 * general kernel's scan order, so ties and NaNs pick the same element. */
static bool is_2x2(const pool_geom *g) {
  return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

/* Codes pass through int32 (the width of a float lane) inside the vector loops:
 * with uint8 lanes the compiler vectorizes 32 outputs at a time only, and the
 * short rows of small images (12, 4 outputs) fell to a branchy scalar tail. */
#define LG_POOL2_SPAN 64
#define LG_DEFINE_POOL2_ROWS(T, SUF)                                                           \
  LG_VECTOR_CLONES static void max2_span_##SUF(const T *restrict r0, const T *restrict r1,       \
                                               int64_t n, T *restrict o, int32_t *restrict k32) { \
    for (int64_t ox = 0; ox < n; ox++) {                                                       \
      T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];                \
      T best = a;                                                                              \
      int32_t k = 0;                                                                           \
      if (b > best || b != b) best = b, k = 1;                                                 \
      if (c > best || c != c) best = c, k = 2;                                                 \
      if (d > best || d != d) best = d, k = 3;                                                 \
      o[ox] = best;                                                                            \
      k32[ox] = k;                                                                             \
    }                                                                                          \
  }                                                                                            \
  static void max2_row_##SUF(const T *r0, const T *r1, int64_t ow, T *o, uint8_t *code) {       \
    int32_t k32[LG_POOL2_SPAN];                                                                \
    for (int64_t at = 0; at < ow; at += LG_POOL2_SPAN) {                                       \
      int64_t n = ow - at < LG_POOL2_SPAN ? ow - at : LG_POOL2_SPAN;                           \
      max2_span_##SUF(r0 + 2 * at, r1 + 2 * at, n, o + at, k32);                               \
      for (int64_t i = 0; i < n; i++) code[at + i] = (uint8_t)k32[i];                          \
    }                                                                                          \
  }                                                                                            \
  /* inference: no codes */                                                                    \
  LG_VECTOR_CLONES static void max2_row_nc_##SUF(const T *restrict r0, const T *restrict r1,     \
                                                 int64_t ow, T *restrict o) {                  \
    for (int64_t ox = 0; ox < ow; ox++) {                                                      \
      T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];                \
      T best = a;                                                                              \
      if (b > best || b != b) best = b;                                                        \
      if (c > best || c != c) best = c;                                                        \
      if (d > best || d != d) best = d;                                                        \
      o[ox] = best;                                                                            \
    }                                                                                          \
  }                                                                                            \
  LG_VECTOR_CLONES static void unmax2_span_##SUF(const T *restrict go,                         \
                                                 const int32_t *restrict k32, int64_t n,       \
                                                 T *restrict d0, T *restrict d1) {             \
    for (int64_t ox = 0; ox < n; ox++) {                                                       \
      T v = go[ox], z = 0;                                                                     \
      int32_t k = k32[ox];                                                                     \
      T e0 = k == 0 ? v : z, e1 = k == 1 ? v : z, e2 = k == 2 ? v : z, e3 = k == 3 ? v : z;    \
      d0[2 * ox] = e0;                                                                         \
      d0[2 * ox + 1] = e1;                                                                     \
      d1[2 * ox] = e2;                                                                         \
      d1[2 * ox + 1] = e3;                                                                     \
    }                                                                                          \
  }                                                                                            \
  static void unmax2_row_##SUF(const T *go, const uint8_t *code, int64_t ow, T *d0, T *d1) {    \
    int32_t k32[LG_POOL2_SPAN];                                                                \
    for (int64_t at = 0; at < ow; at += LG_POOL2_SPAN) {                                       \
      int64_t n = ow - at < LG_POOL2_SPAN ? ow - at : LG_POOL2_SPAN;                           \
      for (int64_t i = 0; i < n; i++) k32[i] = code[at + i];                                   \
      unmax2_span_##SUF(go + at, k32, n, d0 + 2 * at, d1 + 2 * at);                            \
    }                                                                                          \
  }                                                                                            \
  /* code may be NULL (not recording) */                                                       \
  static void max_pool_2x2_##SUF(const T *x, const pool_geom *g, T *out, uint8_t *code) {      \
    LG_PARALLEL_PLANES(g)                                                                      \
    for (int64_t pl = 0; pl < g->planes; pl++) {                                               \
      const T *src = x + pl * g->h * g->w;                                                     \
      T *o = out + pl * g->oh * g->ow;                                                         \
      for (int64_t oy = 0; oy < g->oh; oy++) {                                                 \
        const T *r0 = src + 2 * oy * g->w;                                                     \
        if (code)                                                                              \
          max2_row_##SUF(r0, r0 + g->w, g->ow, o + oy * g->ow,                                 \
                         code + (pl * g->oh + oy) * g->ow);                                    \
        else                                                                                   \
          max2_row_nc_##SUF(r0, r0 + g->w, g->ow, o + oy * g->ow);                             \
      }                                                                                        \
    }                                                                                          \
  }                                                                                            \
  /* Writes all of dx (uninitialised on entry); odd last rows/columns get zeros. */            \
  static void max_unpool_2x2_##SUF(const T *gout, const uint8_t *code, const pool_geom *g,     \
                                   T *dx) {                                                    \
    LG_PARALLEL_PLANES(g)                                                                      \
    for (int64_t pl = 0; pl < g->planes; pl++) {                                               \
      T *d = dx + pl * g->h * g->w;                                                            \
      for (int64_t oy = 0; oy < g->oh; oy++) {                                                 \
        T *d0 = d + 2 * oy * g->w;                                                             \
        unmax2_row_##SUF(gout + (pl * g->oh + oy) * g->ow, code + (pl * g->oh + oy) * g->ow,   \
                         g->ow, d0, d0 + g->w);                                                \
        for (int64_t xx = 2 * g->ow; xx < g->w; xx++) d0[xx] = d0[g->w + xx] = 0;              \
      }                                                                                        \
      for (int64_t i = 2 * g->oh * g->w; i < g->h * g->w; i++) d[i] = 0;                       \
    }                                                                                          \
  }
LG_DEFINE_POOL2_ROWS(float, f32)
LG_DEFINE_POOL2_ROWS(double, f64)

#define LG_DEFINE_POOL_KERNELS(T, SUF)                                                         \
  static void max_pool_##SUF(const T *x, const pool_geom *g, T *out, int64_t *arg) {          \
    LG_PARALLEL_PLANES(g)                                                                      \
    for (int64_t pl = 0; pl < g->planes; pl++) {                                               \
      const T *src = x + pl * g->h * g->w;                                                      \
      T *o = out + pl * g->oh * g->ow;                                                         \
      int64_t *a = arg ? arg + pl * g->oh * g->ow : NULL; /* NULL: not recording */           \
      for (int64_t oy = 0; oy < g->oh; oy++)                                                   \
        for (int64_t ox = 0; ox < g->ow; ox++) {                                               \
          LG_POOL_WINDOW(g, oy, ox);                                                           \
          T best = -INFINITY;                                                                  \
          int64_t at = y0 * g->w + x0; /* windows always hold a pixel when pad <= k/2 */       \
          for (int64_t y = y0; y < y1; y++)                                                    \
            for (int64_t xx = x0; xx < x1; xx++) {                                             \
              T v = src[y * g->w + xx];                                                         \
              if (v > best || isnan(v)) { /* PyTorch's rule: NaN propagates */               \
                best = v;                                                                      \
                at = y * g->w + xx;                                                            \
              }                                                                                \
            }                                                                                  \
          o[oy * g->ow + ox] = best;                                                           \
          if (a) a[oy * g->ow + ox] = at;                                                      \
        }                                                                                      \
    }                                                                                          \
  }                                                                                            \
  static void max_unpool_##SUF(const T *gout, const int64_t *arg, const pool_geom *g, T *dx) { \
    LG_PARALLEL_PLANES(g)                                                                      \
    for (int64_t pl = 0; pl < g->planes; pl++) {                                               \
      T *d = dx + pl * g->h * g->w;                                                            \
      const T *go = gout + pl * g->oh * g->ow;                                                 \
      const int64_t *a = arg + pl * g->oh * g->ow;                                             \
      for (int64_t i = 0; i < g->oh * g->ow; i++) d[a[i]] += go[i];                            \
    }                                                                                          \
  }                                                                                            \
  static void avg_pool_##SUF(const T *x, const pool_geom *g, T *out) {                         \
    LG_PARALLEL_PLANES(g)                                                                      \
    for (int64_t pl = 0; pl < g->planes; pl++) {                                               \
      const T *src = x + pl * g->h * g->w;                                                      \
      T *o = out + pl * g->oh * g->ow;                                                         \
      for (int64_t oy = 0; oy < g->oh; oy++)                                                   \
        for (int64_t ox = 0; ox < g->ow; ox++) {                                               \
          LG_POOL_WINDOW(g, oy, ox);                                                           \
          double acc = 0;                                                                      \
          for (int64_t y = y0; y < y1; y++)                                                    \
            for (int64_t xx = x0; xx < x1; xx++) acc += src[y * g->w + xx];                     \
          o[oy * g->ow + ox] = (T)(acc / (double)divisor);                                     \
        }                                                                                      \
    }                                                                                          \
  }                                                                                            \
  static void avg_unpool_##SUF(const T *gout, const pool_geom *g, T *dx) {                     \
    LG_PARALLEL_PLANES(g)                                                                      \
    for (int64_t pl = 0; pl < g->planes; pl++) {                                               \
      T *d = dx + pl * g->h * g->w;                                                            \
      const T *go = gout + pl * g->oh * g->ow;                                                 \
      for (int64_t oy = 0; oy < g->oh; oy++)                                                   \
        for (int64_t ox = 0; ox < g->ow; ox++) {                                               \
          LG_POOL_WINDOW(g, oy, ox);                                                           \
          T share = (T)(go[oy * g->ow + ox] / (double)divisor);                                \
          for (int64_t y = y0; y < y1; y++)                                                    \
            for (int64_t xx = x0; xx < x1; xx++) d[y * g->w + xx] += share;                    \
        }                                                                                      \
    }                                                                                          \
  }
LG_DEFINE_POOL_KERNELS(float, f32)
LG_DEFINE_POOL_KERNELS(double, f64)

/* ---- forward ---------------------------------------------------------------------- */

static lg_tensor *pool_4d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2],
                          bool is_max) {
  pool_geom g = {0}; /* gcc without OpenMP cannot see pool_geometry sets it */
  if (pool_geometry(x, k, stride, pad, &g)) return NULL;
  int64_t oshape[4] = {x->shape[0], x->shape[1], g.oh, g.ow};
  lg_tensor *in[1] = {x};
  bool record = lg_should_record(in, 1), fast = is_max && is_2x2(&g);
  /* the argmax only matters to backward; the 2x2 path keeps one byte per output
   * (in an int64 tensor used as a byte buffer) */
  int64_t nout = lg_shape_numel(4, oshape), nbytes[1] = {(nout + 7) / 8};
  lg_tensor *xc = lg_contiguous(x);
  lg_tensor *out = xc ? lg_new_like_shape(4, oshape, x->dtype) : NULL;
  lg_tensor *arg = NULL;
  if (out && is_max && record)
    arg = fast ? lg_new_like_shape(1, nbytes, LG_I64) : lg_new_like_shape(4, oshape, LG_I64);
  if (!out || (is_max && record && !arg)) {
    lg_release(xc);
    lg_release(out);
    return NULL;
  }
  bool f32 = x->dtype == LG_F32;
  void *a = arg ? lg_data_ptr(arg) : NULL;
  if (fast && f32) max_pool_2x2_f32(lg_data_ptr(xc), &g, lg_data_ptr(out), a);
  else if (fast) max_pool_2x2_f64(lg_data_ptr(xc), &g, lg_data_ptr(out), a);
  else if (is_max && f32) max_pool_f32(lg_data_ptr(xc), &g, lg_data_ptr(out), a);
  else if (is_max) max_pool_f64(lg_data_ptr(xc), &g, lg_data_ptr(out), a);
  else if (f32) avg_pool_f32(lg_data_ptr(xc), &g, lg_data_ptr(out));
  else avg_pool_f64(lg_data_ptr(xc), &g, lg_data_ptr(out));
  lg_release(xc);
  lg_node *node = NULL;
  if (record && !(node = lg_record(is_max ? &lg_op_max_pool2d : &lg_op_avg_pool2d, out, in, 1))) {
    lg_release(out);
    out = NULL;
  }
  if (node) {
    if (arg) lg_save(node, 0, arg);
    int64_t params[6] = {k[0], k[1], stride[0], stride[1], pad[0], pad[1]};
    for (int i = 0; i < 6; i++) node->i[i] = params[i];
  }
  lg_release(arg);
  return out;
}

static lg_tensor *pool(lg_tensor *x, const int k[2], const int stride[2], const int pad[2],
                       bool is_max) {
  if (x->ndim != 3) return pool_4d(x, k, stride, pad, is_max);
  lg_tensor *xb = lg_unsqueeze(x, 0); /* unbatched [C,H,W] */
  lg_tensor *ob = xb ? pool_4d(xb, k, stride, pad, is_max) : NULL;
  lg_tensor *out = ob ? lg_squeeze(ob, 0) : NULL;
  lg_release(xb);
  lg_release(ob);
  return out;
}

lg_tensor *lg_max_pool2d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2]) {
  return pool(x, k, stride, pad, true);
}

lg_tensor *lg_avg_pool2d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2]) {
  return pool(x, k, stride, pad, false);
}

/* ---- backward ----------------------------------------------------------------------- */

static int pool_backward(lg_node *n, lg_tensor *gout, lg_tensor **gin, bool is_max) {
  const lg_edge *e = &n->inputs[0];
  pool_geom g = {.planes = e->shape[0] * e->shape[1], .h = e->shape[2], .w = e->shape[3],
                 .kh = n->i[0], .kw = n->i[1], .sh = n->i[2], .sw = n->i[3], .ph = n->i[4],
                 .pw = n->i[5], .oh = gout->shape[2], .ow = gout->shape[3]};
  bool fast = is_max && is_2x2(&g); /* writes every element of dx: no zero fill */
  lg_tensor *gd = lg_to_dtype(gout, e->dtype);
  lg_tensor *gc = gd ? lg_contiguous(gd) : NULL;
  lg_release(gd);
  lg_tensor *dx = !gc ? NULL
                  : fast ? lg_new_like_shape(4, e->shape, e->dtype)
                         : lg_zeros(4, e->shape, e->dtype);
  if (!dx) {
    lg_release(gc);
    return -1;
  }
  bool f32 = e->dtype == LG_F32;
  void *a = is_max ? lg_data_ptr(n->saved[0]) : NULL;
  if (fast && f32) max_unpool_2x2_f32(lg_data_ptr(gc), a, &g, lg_data_ptr(dx));
  else if (fast) max_unpool_2x2_f64(lg_data_ptr(gc), a, &g, lg_data_ptr(dx));
  else if (is_max && f32) max_unpool_f32(lg_data_ptr(gc), a, &g, lg_data_ptr(dx));
  else if (is_max) max_unpool_f64(lg_data_ptr(gc), a, &g, lg_data_ptr(dx));
  else if (f32) avg_unpool_f32(lg_data_ptr(gc), &g, lg_data_ptr(dx));
  else avg_unpool_f64(lg_data_ptr(gc), &g, lg_data_ptr(dx));
  lg_release(gc);
  gin[0] = dx;
  return 0;
}

static int max_pool2d_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return pool_backward(n, g, gin, true);
}
LG_DEFINE_FIRST_ORDER_OP(max_pool2d);

static int avg_pool2d_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return pool_backward(n, g, gin, false);
}
LG_DEFINE_FIRST_ORDER_OP(avg_pool2d);
