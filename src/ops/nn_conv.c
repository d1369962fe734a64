/* conv2d: zero-padded 2-D cross-correlation, PyTorch's F.conv2d (stride, padding,
 * dilation, groups), for float32 and float64; conv_transpose2d is conv2d's input
 * gradient (conv2d_input_grad, below), and conv1d is conv2d on [N, C, 1, L] (Lua).
 *
 * Lowering: an image is unfolded into columns (im2col), col[K, P] with
 * K = (Cin/groups)*kH*kW rows and P = oH*oW output pixels, so that out = W[Cout, K] @ col,
 * one gemm per group (group j: input channels j*Cin/groups.., output channels
 * j*Cout/groups..). Dilation only moves the taps: tap (i, j) reads input pixel
 * (oy*sH - pH + i*dH, ox*sW - pW + j*dW).
 * One image at a time: col stays small enough for L2 between im2col and the gemm,
 * and the gemm writes the image's [Cout, P] block straight into the NCHW output
 * (beta = 1 onto the bias, so nothing else touches the output). Measured on
 * LeNet's shapes with OpenBLAS's Haswell kernels, per-image gemms run as fast as
 * gemms over chunks of images, and they need no chunk-layout copies.
 * The scratch buffers are ordinary storages, reused through the size-class cache.
 *
 * Backward, per image, with g[Cout, P] the image's output gradient:
 *   dW^T += col @ g^T   ([K, Cout]: OpenBLAS is faster in this orientation; one
 *                        transpose at the end gives dW)
 *   dcol = W^T @ g, dx = col2im(dcol) (the adjoint of im2col: a scatter-add)
 *   db = sum of g over images and pixels (per-pixel sums while g is in cache).
 * Stride 1 without padding (the common case) has copy loops without any window
 * arithmetic. OpenBLAS threads the gemms; the rest is serial.
 *
 * float32 on CPUs with AVX-512 takes a faster route with the same lowering
 * ("float32 on AVX-512" below): images split across our threads, each running
 * lg_sgemm's 16-wide kernels single-threaded, the weight packed once per call.
 * It is 1.5-2x OpenBLAS's Haswell kernels on LeNet's shapes (OpenBLAS must run
 * those here: OPENBLAS_CORETYPE=Haswell). The path above stays for float64,
 * other CPUs, and specs (spec/sgemm_spec.lua compares the two). */
#include <string.h>

#include "ops/rules.h"

typedef struct {
  int64_t n, cin, h, w;     /* input */
  int64_t cout, kh, kw;     /* weight */
  int64_t sh, sw, ph, pw;   /* stride, padding */
  int64_t dil_h, dil_w;     /* dilation */
  int64_t groups, cin_g, cout_g; /* cin_g = cin/groups, cout_g = cout/groups */
  int64_t oh, ow, p, k;     /* output size, p = oh*ow, k = cin_g*kh*kw (one group's rows) */
} conv_geom;

/* The common case: one plain im2col copy per tap row. */
static inline bool conv_plain(const conv_geom *g) {
  return g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->dil_h == 1 && g->dil_w == 1;
}

/* Output columns ox whose input column ox*s - pad + j lies inside [0, w):
 * [lo, hi) (possibly empty, then lo == hi). */
static void valid_range(int64_t j, int64_t s, int64_t pad, int64_t w, int64_t ow, int64_t *lo,
                        int64_t *hi) {
  int64_t first = pad - j; /* need ox*s >= first */
  int64_t l = first <= 0 ? 0 : (first + s - 1) / s;
  int64_t last = w - 1 + pad - j; /* need ox*s <= last */
  int64_t h = last < 0 ? 0 : last / s + 1;
  if (l > ow) l = ow;
  if (h > ow) h = ow;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

/* ---- small loops ---------------------------------------------------------------
 * Rows of small images are short (LeNet: 24 and 8 pixels): a memcpy call per row
 * cost more than the copy, so spans are copied in constant-size pieces the
 * compiler inlines as vector moves. */
#define LG_DEFINE_SPANS(T, SUF)                                                           \
  static inline void copy_span_##SUF(T *restrict dst, const T *restrict src, int64_t n) { \
    for (; n >= 8; n -= 8, dst += 8, src += 8) memcpy(dst, src, 8 * sizeof(T));           \
    if (n & 4) memcpy(dst, src, 4 * sizeof(T)), dst += 4, src += 4;                       \
    if (n & 2) memcpy(dst, src, 2 * sizeof(T)), dst += 2, src += 2;                       \
    if (n & 1) *dst = *src;                                                               \
  }                                                                                       \
  static inline void add_span_##SUF(T *restrict dst, const T *restrict src, int64_t n) {  \
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];                                     \
  }                                                                                       \
  LG_VECTOR_CLONES static void fill_bias_##SUF(T *o, const T *b, int64_t rows, int64_t p) { \
    for (int64_t r = 0; r < rows; r++) {                                                  \
      T v = b[r];                                                                         \
      for (int64_t i = 0; i < p; i++) o[r * p + i] = v;                                   \
    }                                                                                     \
  }                                                                                       \
  /* acc = src (first) or acc += src */                                                   \
  LG_VECTOR_CLONES static void add_rows_##SUF(T *restrict acc, const T *restrict src,     \
                                              int64_t n, bool first) {                    \
    if (first) memcpy(acc, src, (size_t)n * sizeof(T));                                   \
    else                                                                                  \
      for (int64_t i = 0; i < n; i++) acc[i] += src[i];                                   \
  }
LG_DEFINE_SPANS(float, f32)
LG_DEFINE_SPANS(double, f64)

/* ---- im2col / col2im for one (image, channel) pair ----------------------------
 * x points at the channel's [h, w] plane; col at its first row (row c*kh*kw)
 * and column offset of the image; ld is the row length of col. */
#define LG_DEFINE_IM2COL(T, SUF)                                                          \
  static void im2col_##SUF(const T *x, const conv_geom *g, T *col, int64_t ld) {         \
    for (int64_t i = 0; i < g->kh; i++)                                                   \
      for (int64_t j = 0; j < g->kw; j++) {                                               \
        T *row = col + (i * g->kw + j) * ld;                                              \
        int64_t lo, hi;                                                                   \
        valid_range(j * g->dil_w, g->sw, g->pw, g->w, g->ow, &lo, &hi);                   \
        for (int64_t oy = 0; oy < g->oh; oy++) {                                          \
          T *dst = row + oy * g->ow;                                                      \
          int64_t iy = oy * g->sh - g->ph + i * g->dil_h;                                 \
          if (iy < 0 || iy >= g->h) {                                                     \
            for (int64_t ox = 0; ox < g->ow; ox++) dst[ox] = 0;                           \
            continue;                                                                     \
          }                                                                               \
          const T *src = x + iy * g->w - g->pw + j * g->dil_w;                            \
          for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0;                                \
          if (g->sw == 1) copy_span_##SUF(dst + lo, src + lo, hi - lo);                   \
          else                                                                            \
            for (int64_t ox = lo; ox < hi; ox++) dst[ox] = src[ox * g->sw];               \
          for (int64_t ox = hi; ox < g->ow; ox++) dst[ox] = 0;                            \
        }                                                                                 \
      }                                                                                   \
  }                                                                                       \
  static void col2im_##SUF(const T *col, const conv_geom *g, int64_t ld, T *dx) {        \
    for (int64_t i = 0; i < g->kh; i++)                                                   \
      for (int64_t j = 0; j < g->kw; j++) {                                               \
        const T *row = col + (i * g->kw + j) * ld;                                        \
        int64_t lo, hi;                                                                   \
        valid_range(j * g->dil_w, g->sw, g->pw, g->w, g->ow, &lo, &hi);                   \
        for (int64_t oy = 0; oy < g->oh; oy++) {                                          \
          int64_t iy = oy * g->sh - g->ph + i * g->dil_h;                                 \
          if (iy < 0 || iy >= g->h) continue;                                             \
          const T *src = row + oy * g->ow;                                                \
          T *dst = dx + iy * g->w - g->pw + j * g->dil_w;                                 \
          if (g->sw == 1) add_span_##SUF(dst + lo, src + lo, hi - lo);                    \
          else                                                                            \
            for (int64_t ox = lo; ox < hi; ox++) dst[ox * g->sw] += src[ox];              \
        }                                                                                 \
      }                                                                                   \
  }
/* Stride 1, no padding (most nets): every tap row is oh plain copies of ow pixels.
 * ckh = cin*kh; x is the image's [cin, h, w], col its [cin*kh*kw, oh*ow]. */
#define LG_DEFINE_IM2COL_S1(T, SUF)                                                        \
  LG_VECTOR_CLONES static void im2col_s1_##SUF(const T *x, int64_t ckh, int64_t kh,        \
                                               int64_t kw, int64_t h, int64_t w, int64_t oh, \
                                               int64_t ow, T *col) {                       \
    for (int64_t ci = 0; ci < ckh; ci++) {                                                 \
      const T *plane = x + (ci / kh) * h * w + (ci % kh) * w;                              \
      for (int64_t j = 0; j < kw; j++, col += oh * ow)                                     \
        for (int64_t oy = 0; oy < oh; oy++) copy_span_##SUF(col + oy * ow, plane + oy * w + j, ow); \
    }                                                                                      \
  }                                                                                        \
  /* the adjoint: dx[c, oy+i, ox+j] += col[(c,i,j), (oy,ox)] */                          \
  LG_VECTOR_CLONES static void col2im_s1_##SUF(const T *col, int64_t ckh, int64_t kh,      \
                                               int64_t kw, int64_t h, int64_t w, int64_t oh, \
                                               int64_t ow, T *dx) {                        \
    for (int64_t ci = 0; ci < ckh; ci++) {                                                 \
      T *plane = dx + (ci / kh) * h * w + (ci % kh) * w;                                   \
      for (int64_t j = 0; j < kw; j++, col += oh * ow)                                     \
        for (int64_t oy = 0; oy < oh; oy++) add_span_##SUF(plane + oy * w + j, col + oy * ow, ow); \
    }                                                                                      \
  }
LG_DEFINE_IM2COL_S1(float, f32)
LG_DEFINE_IM2COL_S1(double, f64)
LG_DEFINE_IM2COL(float, f32)
LG_DEFINE_IM2COL(double, f64)

/* ---- the per-image kernels, one copy per dtype -----------------------------------
 * x: [n, cin, h, w] contiguous; w: [cout, k]; col: scratch of k*p elements, small
 * enough (LeNet: 170-200 KiB) to stay in L2 between im2col and the gemm, and the
 * gemm writes the image's [cout, p] output straight into NCHW: no chunk-layout
 * copy, and the bias is added while the output is still in cache. Measured with
 * OpenBLAS (Haswell kernels) the per-image gemms run as fast as chunked ones for
 * LeNet's shapes, and the dW gemm is faster in the [k, cout] orientation. */
#define LG_DEFINE_CONV_KERNELS(T, SUF)                                                      \
  /* x: the group's first channel plane; unfolds its cin_g channels */                    \
  static void unfold_image_##SUF(const T *x, const conv_geom *g, T *col) {                  \
    int64_t rows = g->kh * g->kw;                                                           \
    if (conv_plain(g)) {                                                                    \
      im2col_s1_##SUF(x, g->cin_g * g->kh, g->kh, g->kw, g->h, g->w, g->oh, g->ow, col);    \
      return;                                                                               \
    }                                                                                       \
    for (int64_t c = 0; c < g->cin_g; c++)                                                  \
      im2col_##SUF(x + c * g->h * g->w, g, col + c * rows * g->p, g->p);                    \
  }                                                                                         \
  /* dx += col2im(col): the adjoint of unfold_image */                                     \
  static void fold_image_##SUF(const T *col, const conv_geom *g, T *dx) {                   \
    int64_t rows = g->kh * g->kw;                                                           \
    if (conv_plain(g)) {                                                                    \
      col2im_s1_##SUF(col, g->cin_g * g->kh, g->kh, g->kw, g->h, g->w, g->oh, g->ow, dx);   \
      return;                                                                               \
    }                                                                                       \
    for (int64_t c = 0; c < g->cin_g; c++)                                                  \
      col2im_##SUF(col + c * rows * g->p, g, g->p, dx + c * g->h * g->w);                   \
  }                                                                                         \
  static void conv_forward_##SUF(const T *x, const T *w, const T *b, T *out,               \
                                 const conv_geom *g, T *col) {                              \
    int64_t xg = g->cin_g * g->h * g->w, wg = g->cout_g * g->k, og = g->cout_g * g->p;      \
    for (int64_t im = 0; im < g->n; im++) {                                                 \
      T *o = out + im * g->cout * g->p;                                                     \
      /* beta = 1 onto the bias: OpenBLAS would otherwise zero o in a pass of its own */  \
      if (b) fill_bias_##SUF(o, b, g->cout, g->p);                                          \
      for (int64_t gr = 0; gr < g->groups; gr++) {                                          \
        unfold_image_##SUF(x + im * g->cin * g->h * g->w + gr * xg, g, col);                \
        lg_gemm_##SUF(false, false, g->cout_g, g->p, g->k, 1, w + gr * wg, g->k, col, g->p, \
                      b ? 1 : 0, o + gr * og, g->p);                                        \
      }                                                                                     \
    }                                                                                       \
  }                                                                                         \
  /* dx (may be NULL; fully written), dwt [groups][k, cout_g] (may be NULL), dbs          \
   * [cout, p] per-pixel bias sums (may be NULL) from gout [n, cout, p]. */                 \
  static void conv_backward_##SUF(const T *x, const T *w, const T *gout, T *dx, T *dwt,    \
                                  T *dbs, const conv_geom *g, T *col) {                     \
    int64_t xg = g->cin_g * g->h * g->w, wg = g->cout_g * g->k, og = g->cout_g * g->p;      \
    for (int64_t im = 0; im < g->n; im++) {                                                 \
      const T *gi = gout + im * g->cout * g->p;                                             \
      if (dbs) add_rows_##SUF(dbs, gi, g->cout * g->p, im == 0);                            \
      if (dwt)                                                                              \
        for (int64_t gr = 0; gr < g->groups; gr++) {                                        \
          unfold_image_##SUF(x + im * g->cin * g->h * g->w + gr * xg, g, col);              \
          lg_gemm_##SUF(false, true, g->k, g->cout_g, g->p, 1, col, g->p, gi + gr * og,     \
                        g->p, im ? 1 : 0, dwt + gr * wg, g->cout_g);                        \
        }                                                                                   \
      if (dx) {                                                                             \
        T *d = dx + im * g->cin * g->h * g->w;                                              \
        memset(d, 0, (size_t)(g->cin * g->h * g->w) * sizeof(T));                           \
        for (int64_t gr = 0; gr < g->groups; gr++) {                                        \
          lg_gemm_##SUF(true, false, g->k, g->p, g->cout_g, 1, w + gr * wg, g->k,           \
                        gi + gr * og, g->p, 0, col, g->p);                                  \
          fold_image_##SUF(col, g, d + gr * xg);                                            \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }
LG_DEFINE_CONV_KERNELS(float, f32)
LG_DEFINE_CONV_KERNELS(double, f64)

/* ---- float32 on AVX-512: images split across threads ------------------------------
 * Each thread runs its share of the images with lg_sgemm (single-threaded,
 * AVX-512) on scratch of its own; the weight is packed once for every image.
 * Backward sums dW and the bias over images in CHUNKS fixed groups of images,
 * each group in image order, then the groups in order: the same bits whatever
 * the thread count (threads take whole groups). */
#define CHUNKS 8

/* Scratch layout in floats, every part 64-byte aligned: per thread col and work
 * (B panels); after all threads, per chunk dW^T and bias sums (dbs). */
typedef struct {
  int64_t work, thread, dbs, chunk;
} conv_parts;

static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

static conv_parts plan_parts(const conv_geom *g, bool backward) {
  conv_parts t = {0};
  int64_t work = lg_sgemm_work_size(g->p, g->cout_g > g->k ? g->cout_g : g->k);
  if (backward && lg_sgemm_work_size(g->cout_g, g->p) > work) work = lg_sgemm_work_size(g->cout_g, g->p);
  t.work = round16(g->k * g->p);
  t.thread = t.work + round16(work);
  if (backward) {
    t.dbs = round16(g->k * g->cout); /* dW^T, [groups][k, cout_g] */
    t.chunk = t.dbs + round16(g->cout * g->p);
  }
  return t;
}

static int64_t chunks_for(const conv_geom *g) { return g->n < CHUNKS ? g->n : CHUNKS; }

/* Threads for a conv over g->n images: never more than images (or chunks). */
static int threads_for(const conv_geom *g, bool backward) {
  int64_t most = backward ? chunks_for(g) : g->n;
  int nt = lg_kernel_threads();
  return nt > most ? (int)most : nt < 1 ? 1 : nt;
}

static int64_t scratch_floats(const conv_geom *g, bool backward) {
  conv_parts tp = plan_parts(g, backward);
  return threads_for(g, backward) * tp.thread + (backward ? chunks_for(g) * tp.chunk : 0);
}

/* Packed weights: one block per group, each 64-byte aligned. */
static int64_t packed_group(int64_t m, int64_t k) { return round16(lg_sgemm_packed_a_size(m, k)); }

static void conv_forward_avx512(const float *x, const float *w, const float *b, float *out,
                                const conv_geom *g, float *packed_w, float *scratch) {
  conv_parts tp = plan_parts(g, false);
  int nt = threads_for(g, false);
  int64_t pg = packed_group(g->cout_g, g->k), xg = g->cin_g * g->h * g->w, og = g->cout_g * g->p;
  for (int64_t gr = 0; gr < g->groups; gr++)
    lg_sgemm_pack_a(false, g->cout_g, g->k, w + gr * g->cout_g * g->k, g->k, packed_w + gr * pg);
#pragma omp parallel num_threads(nt)
  {
    int t = lg_thread_num();
    float *col = scratch + t * tp.thread, *work = col + tp.work;
    for (int64_t im = g->n * t / nt; im < g->n * (t + 1) / nt; im++) {
      float *o = out + im * g->cout * g->p;
      if (b) fill_bias_f32(o, b, g->cout, g->p);
      for (int64_t gr = 0; gr < g->groups; gr++) {
        unfold_image_f32(x + im * g->cin * g->h * g->w + gr * xg, g, col);
        lg_sgemm_serial(g->cout_g, g->p, g->k, 1, packed_w + gr * pg, false, col, g->p,
                        b ? 1 : 0, o + gr * og, g->p, work);
      }
    }
  }
}

/* As conv_backward_f32. Returns the chunk area, whose first chunk ends up
 * holding the totals: dW^T at +0, per-pixel bias sums at +plan_parts().dbs. */
static float *conv_backward_avx512(const float *x, const float *w, const float *gout, float *dx,
                                   bool want_dw, bool want_db, const conv_geom *g,
                                   float *packed_wt, float *scratch) {
  conv_parts tp = plan_parts(g, true);
  int nt = threads_for(g, true);
  int64_t nc = chunks_for(g);
  float *chunks = scratch + nt * tp.thread;
  int64_t pg = packed_group(g->k, g->cout_g), xg = g->cin_g * g->h * g->w, og = g->cout_g * g->p;
  int64_t wg = g->cout_g * g->k;
  if (dx) /* A = W_g^T per group */
    for (int64_t gr = 0; gr < g->groups; gr++)
      lg_sgemm_pack_a(true, g->k, g->cout_g, w + gr * wg, g->k, packed_wt + gr * pg);
#pragma omp parallel num_threads(nt)
  {
    int t = lg_thread_num();
    float *col = scratch + t * tp.thread, *work = col + tp.work;
    for (int64_t c = nc * t / nt; c < nc * (t + 1) / nt; c++) {
      float *dwt = chunks + c * tp.chunk, *dbs = dwt + tp.dbs;
      int64_t first = g->n * c / nc;
      for (int64_t im = first; im < g->n * (c + 1) / nc; im++) {
        const float *gi = gout + im * g->cout * g->p;
        if (want_db) add_rows_f32(dbs, gi, g->cout * g->p, im == first);
        if (want_dw) /* dW_g^T [k, cout_g] += col @ g_i^T, per group */
          for (int64_t gr = 0; gr < g->groups; gr++) {
            unfold_image_f32(x + im * g->cin * g->h * g->w + gr * xg, g, col);
            lg_sgemm_serial_rows(g->k, g->cout_g, g->p, 1, col, g->p, true, gi + gr * og, g->p,
                                 im == first ? 0 : 1, dwt + gr * wg, g->cout_g, work);
          }
        if (dx) {
          float *d = dx + im * g->cin * g->h * g->w;
          memset(d, 0, (size_t)(g->cin * g->h * g->w) * sizeof(float));
          for (int64_t gr = 0; gr < g->groups; gr++) {
            lg_sgemm_serial(g->k, g->p, g->cout_g, 1, packed_wt + gr * pg, false, gi + gr * og,
                            g->p, 0, col, g->p, work);
            fold_image_f32(col, g, d + gr * xg);
          }
        }
      }
    }
  }
  for (int64_t c = 1; c < nc; c++) {
    float *part = chunks + c * tp.chunk;
    if (want_dw) add_rows_f32(chunks, part, g->k * g->cout, false);
    if (want_db) add_rows_f32(chunks + tp.dbs, part + tp.dbs, g->cout * g->p, false);
  }
  return chunks;
}

/* ---- checks ------------------------------------------------------------------ */

static int check_float(const lg_tensor *t, const char *what, lg_dtype want) {
  if (!lg_is_float(t->dtype))
    return lg_failed("%s must be float32 or float64, got %s", what, lg_dtype_name(t->dtype));
  if (t->dtype != want)
    return lg_failed("%s is %s but input is %s", what, lg_dtype_name(t->dtype),
                     lg_dtype_name(want));
  return 0;
}

/* Checks the (dilated) kernel against the padded input and sets the output size;
 * g->groups, cin and cout are set and checked by the caller. */
static int finish_geometry(conv_geom *g) {
  int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
  if (g->kh < 1 || g->kw < 1)
    return lg_failed("kernel size must be positive, got %lldx%lld", (long long)g->kh,
                     (long long)g->kw);
  int64_t eh = g->dil_h * (g->kh - 1) + 1, ew = g->dil_w * (g->kw - 1) + 1; /* dilated extent */
  if (eh > hp || ew > wp) {
    if (g->dil_h == 1 && g->dil_w == 1)
      return lg_failed("kernel %lldx%lld is larger than the padded input %lldx%lld "
                       "(input %lldx%lld, padding [%lld,%lld]): the output size would be less than 1",
                       (long long)g->kh, (long long)g->kw, (long long)hp, (long long)wp,
                       (long long)g->h, (long long)g->w, (long long)g->ph, (long long)g->pw);
    return lg_failed("kernel %lldx%lld with dilation [%lld,%lld] spans %lldx%lld, larger than the padded "
                     "input %lldx%lld (input %lldx%lld, padding [%lld,%lld]): the output size would be less than 1",
                     (long long)g->kh, (long long)g->kw, (long long)g->dil_h, (long long)g->dil_w,
                     (long long)eh, (long long)ew, (long long)hp, (long long)wp, (long long)g->h,
                     (long long)g->w, (long long)g->ph, (long long)g->pw);
  }
  g->oh = (hp - eh) / g->sh + 1;
  g->ow = (wp - ew) / g->sw + 1;
  g->p = g->oh * g->ow;
  g->cin_g = g->cin / g->groups;
  g->cout_g = g->cout / g->groups;
  g->k = g->cin_g * g->kh * g->kw;
  return 0;
}

static int check_groups(int64_t groups, int64_t cin, int64_t cout, const char *in_name, const char *out_name) {
  if (groups < 1) return lg_failed("groups must be positive, got %lld", (long long)groups);
  if (cin % groups)
    return lg_failed("%s (%lld) must be divisible by groups (%lld)", in_name, (long long)cin, (long long)groups);
  if (cout % groups)
    return lg_failed("%s (%lld) must be divisible by groups (%lld)", out_name, (long long)cout, (long long)groups);
  return 0;
}

static int check_conv_params(const int stride[2], const int pad[2], const int dilation[2]) {
  if (stride[0] <= 0 || stride[1] <= 0)
    return lg_failed("stride must be positive, got [%d,%d]", stride[0], stride[1]);
  if (pad[0] < 0 || pad[1] < 0)
    return lg_failed("padding must be non-negative, got [%d,%d]", pad[0], pad[1]);
  if (dilation[0] <= 0 || dilation[1] <= 0)
    return lg_failed("dilation must be positive, got [%d,%d]", dilation[0], dilation[1]);
  return 0;
}

static int conv_geometry(const lg_tensor *x, const lg_tensor *w, const lg_tensor *b,
                         const int stride[2], const int pad[2], const int dilation[2], int groups,
                         conv_geom *g) {
  char b1[96], b2[96];
  if (x->ndim != 4)
    return lg_failed("expected a 4-D input [N,C,H,W] (or 3-D [C,H,W]), got %s",
                     lg_shape_str(x, b1, sizeof b1));
  if (w->ndim != 4)
    return lg_failed("expected a 4-D weight [Cout,Cin,kH,kW], got %s",
                     lg_shape_str(w, b1, sizeof b1));
  if (check_float(x, "input", x->dtype) || check_float(w, "weight", x->dtype)) return -1;
  if (check_conv_params(stride, pad, dilation) ||
      check_groups(groups, x->shape[1], w->shape[0], "input channels", "output channels (weight's first size)"))
    return -1;
  if (x->shape[1] != w->shape[1] * groups) {
    if (groups == 1)
      return lg_failed("input has %lld channels but weight expects %lld (input %s, weight %s)",
                       (long long)x->shape[1], (long long)w->shape[1], lg_shape_str(x, b1, sizeof b1),
                       lg_shape_str(w, b2, sizeof b2));
    return lg_failed("input has %lld channels but weight expects %lld x groups %d = %lld (input %s, weight %s)",
                     (long long)x->shape[1], (long long)w->shape[1], groups, (long long)(w->shape[1] * groups),
                     lg_shape_str(x, b1, sizeof b1), lg_shape_str(w, b2, sizeof b2));
  }
  if (b) {
    if (check_float(b, "bias", x->dtype)) return -1;
    if (b->ndim != 1 || b->shape[0] != w->shape[0])
      return lg_failed("bias has shape %s but weight has %lld output channels",
                       lg_shape_str(b, b1, sizeof b1), (long long)w->shape[0]);
  }
  *g = (conv_geom){.n = x->shape[0], .cin = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                   .cout = w->shape[0], .kh = w->shape[2], .kw = w->shape[3], .sh = stride[0],
                   .sw = stride[1], .ph = pad[0], .pw = pad[1], .dil_h = dilation[0],
                   .dil_w = dilation[1], .groups = groups};
  return finish_geometry(g);
}

/* ---- forward --------------------------------------------------------------------- */

/* Scratch of `elems` elements (a storage, so the size-class cache reuses it). */
static lg_tensor *scratch(int64_t elems, lg_dtype dt) {
  int64_t n[1] = {elems > 0 ? elems : 1};
  return lg_new_like_shape(1, n, dt);
}

static lg_tensor *conv2d_4d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2],
                            const int pad[2], const int dilation[2], int groups) {
  conv_geom g;
  if (conv_geometry(x, w, b, stride, pad, dilation, groups, &g)) return NULL;
  int64_t oshape[4] = {g.n, g.cout, g.oh, g.ow};
  lg_tensor *out = lg_new_like_shape(4, oshape, x->dtype);
  lg_tensor *xc = out ? lg_contiguous(x) : NULL;
  lg_tensor *wc = xc ? lg_contiguous(w) : NULL;
  lg_tensor *bc = wc && b ? lg_contiguous(b) : NULL;
  lg_tensor *col = NULL, *packed = NULL;
  bool ok = wc && (!b || bc);
  if (ok && lg_numel(out) > 0) {
    if (g.k == 0) { /* no input channels: the output is the bias */
      ok = lg_fill(out, 0) == 0;
      if (ok && bc) {
        lg_tensor *bv = lg_view(bc, 4, (int64_t[4]){1, g.cout, 1, 1});
        ok = bv && lg_copy(out, bv) == 0;
        lg_release(bv);
      }
    } else if (x->dtype == LG_F32 && lg_sgemm_available()) {
      col = scratch(scratch_floats(&g, false), LG_F32);
      packed = col ? scratch(g.groups * packed_group(g.cout_g, g.k), LG_F32) : NULL;
      if ((ok = packed != NULL))
        conv_forward_avx512(lg_data_ptr(xc), lg_data_ptr(wc), bc ? lg_data_ptr(bc) : NULL,
                            lg_data_ptr(out), &g, lg_data_ptr(packed), lg_data_ptr(col));
    } else if ((ok = (col = scratch(g.k * g.p, x->dtype)) != NULL)) {
      if (x->dtype == LG_F32)
        conv_forward_f32(lg_data_ptr(xc), lg_data_ptr(wc), bc ? lg_data_ptr(bc) : NULL,
                         lg_data_ptr(out), &g, lg_data_ptr(col));
      else
        conv_forward_f64(lg_data_ptr(xc), lg_data_ptr(wc), bc ? lg_data_ptr(bc) : NULL,
                         lg_data_ptr(out), &g, lg_data_ptr(col));
    }
  }
  lg_release(col);
  lg_release(packed);
  lg_release(bc);
  if (!ok) {
    lg_release(out);
    lg_release(xc);
    lg_release(wc);
    return NULL;
  }
  lg_tensor *in[3] = {x, w, b}, *saves[2] = {xc, wc};
  lg_node *node;
  out = lg_recorded(&lg_op_conv2d, out, in, b ? 3 : 2, saves, 2, &node);
  if (node) {
    node->i[0] = g.sh, node->i[1] = g.sw, node->i[2] = g.ph, node->i[3] = g.pw;
    node->i[6] = g.dil_h, node->i[7] = g.dil_w, node->i[8] = g.groups;
  }
  lg_release(xc);
  lg_release(wc);
  return out;
}

lg_tensor *lg_conv2d_ex(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2],
                        const int dilation[2], int groups) {
  if (x->ndim != 3) return conv2d_4d(x, w, b, stride, pad, dilation, groups);
  /* an unbatched [C,H,W] input, as PyTorch allows: through a batch of one */
  lg_tensor *xb = lg_unsqueeze(x, 0);
  lg_tensor *ob = xb ? conv2d_4d(xb, w, b, stride, pad, dilation, groups) : NULL;
  lg_tensor *out = ob ? lg_squeeze(ob, 0) : NULL;
  lg_release(xb);
  lg_release(ob);
  return out;
}

lg_tensor *lg_conv2d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2]) {
  return lg_conv2d_ex(x, w, b, stride, pad, (const int[2]){1, 1}, 1);
}

/* ---- backward -------------------------------------------------------------------
 * Three registered ops, so that gradients of gradients flow through conv2d:
 *   conv2d(x, w, b)                    -> out
 *   conv2d_input_grad(gout, w; h, w)   -> dx, the transposed convolution
 *   conv2d_weight_grad(x, gout; kh, kw) -> dW
 * each linear in each input, so each one's rule is made of the others:
 *   conv2d:             dx = input_grad(g, w),    dW = weight_grad(x, g), db = sum of g
 *   conv2d_input_grad:  dgout = conv2d(gg, w),    dW = weight_grad(gg, gout)
 *   conv2d_weight_grad: dx = input_grad(gout, gg), dgout = conv2d(x, gg)
 * An ordinary backward (grad mode off in the rule) keeps the fused kernels: dx, dW
 * and db in one pass over the images (conv_grads). Node parameters, all three ops:
 * i[0..3] = stride and padding, i[4..5] = the input's h, w (input_grad) or the
 * kernel's kh, kw (weight_grad), i[6..7] = dilation, i[8] = groups. */

/* dw[co, j] = dwt[group of co][j, co within the group];
 * db[co] = sum over pixels of dbs[co, :] (summed in double). */
#define LG_DEFINE_CONV_FINISH(T, SUF)                                                    \
  static void finish_grads_##SUF(const T *dwt, const T *dbs, const conv_geom *g, T *dw, \
                                 T *db) {                                                \
    if (dw)                                                                              \
      for (int64_t co = 0; co < g->cout; co++)                                           \
        for (int64_t j = 0; j < g->k; j++)                                               \
          dw[co * g->k + j] = dwt[(co / g->cout_g) * g->k * g->cout_g + j * g->cout_g + co % g->cout_g]; \
    if (db)                                                                              \
      for (int64_t co = 0; co < g->cout; co++) {                                         \
        double acc = 0;                                                                  \
        for (int64_t i = 0; i < g->p; i++) acc += dbs[co * g->p + i];                    \
        db[co] = (T)acc;                                                                 \
      }                                                                                  \
  }
LG_DEFINE_CONV_FINISH(float, f32)
LG_DEFINE_CONV_FINISH(double, f64)

#define LG_CONV_PTR(t) ((t) ? lg_data_ptr(t) : NULL)

/* The wanted gradients (dx, dw, db not NULL) of a conv of geometry g from gout
 * [n, cout, oh, ow], as new tensors of dtype dt, in one pass over the images.
 * x (for dw) and w (for dx) are contiguous of dt; the other may be NULL.
 * Returns 0, or -1 with nothing made. */
static int conv_grads(const conv_geom *g, lg_dtype dt, lg_tensor *x, lg_tensor *w, lg_tensor *gout,
                      lg_tensor **dx, lg_tensor **dw, lg_tensor **db) {
  int64_t xshape[4] = {g->n, g->cin, g->h, g->w}, wshape[4] = {g->cout, g->cin_g, g->kh, g->kw};
  bool empty = g->n * g->p == 0 || g->k == 0; /* no products to sum */
  lg_tensor *gc = lg_dense(gout, dt);
  int rc = gc ? 0 : -1;
  if (rc == 0 && dx && !(*dx = empty ? lg_zeros(4, xshape, dt) : lg_new_like_shape(4, xshape, dt))) rc = -1;
  if (rc == 0 && dw && !(*dw = empty ? lg_zeros(4, wshape, dt) : lg_new_like_shape(4, wshape, dt))) rc = -1;
  if (rc == 0 && db && !(*db = lg_new_like_shape(1, (int64_t[1]){g->cout}, dt))) rc = -1;
  if (rc == 0 && empty) {
    if (db) {
      lg_tensor *s = lg_sum_to(gc, 3, (int64_t[3]){g->cout, 1, 1});
      lg_tensor *flat = s ? lg_view(s, 1, (int64_t[1]){g->cout}) : NULL;
      rc = flat ? lg_copy(*db, flat) : -1;
      lg_release(s);
      lg_release(flat);
    }
  } else if (rc == 0 && dt == LG_F32 && lg_sgemm_available()) {
    lg_tensor *ws = scratch(scratch_floats(g, true), dt);
    lg_tensor *packed = ws && dx ? scratch(g->groups * packed_group(g->k, g->cout_g), dt) : NULL;
    if (!ws || (dx && !packed)) rc = -1;
    else {
      float *sums = conv_backward_avx512(LG_CONV_PTR(x), LG_CONV_PTR(w), lg_data_ptr(gc),
                                         dx ? lg_data_ptr(*dx) : NULL, dw != NULL, db != NULL, g,
                                         LG_CONV_PTR(packed), lg_data_ptr(ws));
      finish_grads_f32(sums, sums + plan_parts(g, true).dbs, g, dw ? lg_data_ptr(*dw) : NULL,
                       db ? lg_data_ptr(*db) : NULL);
    }
    lg_release(ws);
    lg_release(packed);
  } else if (rc == 0) {
    lg_tensor *col = dx || dw ? scratch(g->k * g->p, dt) : NULL;
    lg_tensor *dwt = dw ? scratch(g->k * g->cout, dt) : NULL;
    lg_tensor *dbs = db ? scratch(g->cout * g->p, dt) : NULL;
    if (((dx || dw) && !col) || (dw && !dwt) || (db && !dbs)) rc = -1;
    void *pdx = dx ? lg_data_ptr(*dx) : NULL, *pdw = dw ? lg_data_ptr(*dw) : NULL;
    void *pdb = db ? lg_data_ptr(*db) : NULL;
    if (rc == 0 && dt == LG_F32) {
      conv_backward_f32(LG_CONV_PTR(x), LG_CONV_PTR(w), lg_data_ptr(gc), pdx, LG_CONV_PTR(dwt),
                        LG_CONV_PTR(dbs), g, LG_CONV_PTR(col));
      finish_grads_f32(LG_CONV_PTR(dwt), LG_CONV_PTR(dbs), g, pdw, pdb);
    } else if (rc == 0) {
      conv_backward_f64(LG_CONV_PTR(x), LG_CONV_PTR(w), lg_data_ptr(gc), pdx, LG_CONV_PTR(dwt),
                        LG_CONV_PTR(dbs), g, LG_CONV_PTR(col));
      finish_grads_f64(LG_CONV_PTR(dwt), LG_CONV_PTR(dbs), g, pdw, pdb);
    }
    lg_release(col);
    lg_release(dwt);
    lg_release(dbs);
  }
  lg_release(gc);
  if (rc != 0) {
    lg_tensor **made[3] = {dx, dw, db};
    for (int i = 0; i < 3; i++)
      if (made[i]) lg_release(*made[i]), *made[i] = NULL;
  }
  return rc;
}

/* Node-style parameters of the backward ops: stride, padding, h/w or kh/kw,
 * dilation, groups (as the conv2d node's i[0..8]). */
#define CONV_NP 9

/* Geometry of a backward op from its node-style parameters p and the sizes the
 * operands give; checks gout's size. */
static int backward_geometry(const int64_t p[CONV_NP], int64_t n, int64_t cin, int64_t cout, int64_t h,
                             int64_t w, int64_t kh, int64_t kw, const lg_tensor *gout, conv_geom *g) {
  char b[96];
  *g = (conv_geom){.n = n, .cin = cin, .h = h, .w = w, .cout = cout, .kh = kh, .kw = kw,
                   .sh = p[0], .sw = p[1], .ph = p[2], .pw = p[3], .dil_h = p[6], .dil_w = p[7],
                   .groups = p[8]};
  if (g->sh < 1 || g->sw < 1 || g->ph < 0 || g->pw < 0 || g->dil_h < 1 || g->dil_w < 1)
    return lg_failed("conv2d backward: bad geometry");
  if (check_groups(g->groups, cin, cout, "input channels", "output channels") || finish_geometry(g)) return -1;
  if (gout->ndim != 4 || gout->shape[0] != n || gout->shape[1] != cout || gout->shape[2] != g->oh ||
      gout->shape[3] != g->ow)
    return lg_failed("conv2d backward: output gradient %s does not match [%lld,%lld,%lld,%lld]",
                     lg_shape_str(gout, b, sizeof b), (long long)n, (long long)cout, (long long)g->oh,
                     (long long)g->ow);
  return 0;
}

static int check_operands(const lg_tensor *a, const lg_tensor *b, const char *op) {
  if (a->ndim != 4 || b->ndim != 4) return lg_failed("%s expects 4-D operands", op);
  if (!lg_is_float(a->dtype) || !lg_is_float(b->dtype))
    return lg_failed("%s expects float operands, got %s and %s", op, lg_dtype_name(a->dtype),
                     lg_dtype_name(b->dtype));
  if (a->dtype != b->dtype)
    return lg_failed("%s: operands are %s and %s", op, lg_dtype_name(a->dtype), lg_dtype_name(b->dtype));
  return 0;
}

/* Records a backward op's result with its inputs saved in slots 0 and 1. */
static lg_tensor *record_backward_op(const lg_op_info *op, lg_tensor *out, lg_tensor *a, lg_tensor *b,
                                     const int64_t p[CONV_NP]) {
  lg_tensor *in[2] = {a, b};
  lg_node *node;
  if (!lg_recorded(op, out, in, 2, in, 2, &node)) return NULL;
  if (node) memcpy(node->i, p, CONV_NP * sizeof *p);
  return out;
}

/* dx [n, cin, p[4], p[5]] of conv2d(x, w) given gout. */
static lg_tensor *conv2d_input_grad(lg_tensor *gout, lg_tensor *w, const int64_t p[CONV_NP]) {
  conv_geom g;
  if (check_operands(gout, w, "conv2d_input_grad") ||
      backward_geometry(p, gout->shape[0], w->shape[1] * p[8], w->shape[0], p[4], p[5], w->shape[2],
                        w->shape[3], gout, &g))
    return NULL;
  lg_tensor *wc = lg_dense(w, w->dtype), *dx = NULL;
  if (wc) conv_grads(&g, w->dtype, NULL, wc, gout, &dx, NULL, NULL);
  lg_release(wc);
  return record_backward_op(&lg_op_conv2d_input_grad, dx, gout, w, p);
}

/* dW [cout, cin/groups, p[4], p[5]] of conv2d(x, w) given gout. */
static lg_tensor *conv2d_weight_grad(lg_tensor *x, lg_tensor *gout, const int64_t p[CONV_NP]) {
  conv_geom g;
  if (check_operands(x, gout, "conv2d_weight_grad") ||
      backward_geometry(p, x->shape[0], x->shape[1], gout->shape[1], x->shape[2], x->shape[3], p[4],
                        p[5], gout, &g))
    return NULL;
  lg_tensor *xc = lg_dense(x, x->dtype), *dw = NULL;
  if (xc) conv_grads(&g, x->dtype, xc, NULL, gout, NULL, &dw, NULL);
  lg_release(xc);
  return record_backward_op(&lg_op_conv2d_weight_grad, dw, x, gout, p);
}

/* The rule vocabulary of this file (as ops/rules.h's). */
static lg_tensor *G_conv2d_input_grad(lg_tensor *gout, lg_tensor *w, const int64_t p[CONV_NP]) {
  return gout && w ? lg_adopt(conv2d_input_grad(gout, w, p)) : NULL;
}
static lg_tensor *G_conv2d_weight_grad(lg_tensor *x, lg_tensor *gout, const int64_t p[CONV_NP]) {
  return x && gout ? lg_adopt(conv2d_weight_grad(x, gout, p)) : NULL;
}

/* A node's parameters with i[4..5] replaced by t's spatial size. */
#define CONV_PARAMS(n, t)                                                                            \
  ((const int64_t[CONV_NP]){(n)->i[0], (n)->i[1], (n)->i[2], (n)->i[3], (t)->shape[2], (t)->shape[3], \
                            (n)->i[6], (n)->i[7], (n)->i[8]})
#define CONV_STRIDE(n) ((const int[2]){(int)(n)->i[0], (int)(n)->i[1]})
#define CONV_PAD(n) ((const int[2]){(int)(n)->i[2], (int)(n)->i[3]})
#define CONV_DIL(n) ((const int[2]){(int)(n)->i[6], (int)(n)->i[7]})
#define CONV_GROUPS(n) ((int)(n)->i[8])
static lg_tensor *G_conv2d_node(lg_tensor *x, lg_tensor *w, const lg_node *n) {
  return x && w ? lg_adopt(lg_conv2d_ex(x, w, NULL, CONV_STRIDE(n), CONV_PAD(n), CONV_DIL(n), CONV_GROUPS(n))) : NULL;
}

/* First order: dx, dW and db in one pass of the fused kernels (AVX-512 included). */
static void conv2d_fused_grads(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *x = n->saved[0], *w = n->saved[1];
  conv_geom geo;
  if (conv_geometry(x, w, NULL, CONV_STRIDE(n), CONV_PAD(n), CONV_DIL(n), CONV_GROUPS(n), &geo)) return;
  bool need_b = n->n_inputs > 2 && n->inputs[2].needs_grad;
  conv_grads(&geo, x->dtype, x, w, g, n->inputs[0].needs_grad ? &gin[0] : NULL,
             n->inputs[1].needs_grad ? &gin[1] : NULL, need_b ? &gin[2] : NULL);
  for (int i = 0; i < n->n_inputs; i++) lg_adopt(gin[i]);
}

static void conv2d_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *x = n->saved[0], *w = n->saved[1];
  if (!lg_grad_enabled()) { /* an ordinary backward */
    conv2d_fused_grads(n, g, gin);
    return;
  }
  if (n->inputs[0].needs_grad) gin[0] = G_conv2d_input_grad(g, w, CONV_PARAMS(n, x));
  if (n->inputs[1].needs_grad) gin[1] = G_conv2d_weight_grad(x, g, CONV_PARAMS(n, w));
  if (n->n_inputs > 2 && n->inputs[2].needs_grad)
    gin[2] = G_reshape(G_sum_to(g, 3, (int64_t[3]){w->shape[0], 1, 1}), 1, w->shape);
}
LG_DEFINE_OP(conv2d);

static void conv2d_input_grad_rule(lg_node *n, lg_tensor *gg, lg_tensor **gin) {
  lg_tensor *gout = n->saved[0], *w = n->saved[1];
  if (n->inputs[0].needs_grad) gin[0] = G_conv2d_node(gg, w, n);
  if (n->inputs[1].needs_grad) gin[1] = G_conv2d_weight_grad(gg, gout, CONV_PARAMS(n, w));
}
LG_DEFINE_OP(conv2d_input_grad);

static void conv2d_weight_grad_rule(lg_node *n, lg_tensor *gg, lg_tensor **gin) {
  lg_tensor *x = n->saved[0], *gout = n->saved[1];
  if (n->inputs[0].needs_grad) gin[0] = G_conv2d_input_grad(gout, gg, CONV_PARAMS(n, x));
  if (n->inputs[1].needs_grad) gin[1] = G_conv2d_node(x, gg, n);
}
LG_DEFINE_OP(conv2d_weight_grad);

/* ---- conv_transpose2d -------------------------------------------------------------
 * PyTorch's F.conv_transpose2d(x [N, Cin, H, W], w [Cin, Cout/groups, kH, kW]) is the
 * input gradient of conv2d(y [N, Cout, oH, oW], w) with x as the output gradient, so
 * it is conv2d_input_grad (differentiable twice) plus the bias:
 *   oH = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding + 1. */
static lg_tensor *conv_transpose2d_4d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2],
                                      const int pad[2], const int opad[2], const int dilation[2], int groups) {
  char b1[96], b2[96];
  if (x->ndim != 4)
    return lg_fail("expected a 4-D input [N,C,H,W] (or 3-D [C,H,W]), got %s", lg_shape_str(x, b1, sizeof b1));
  if (w->ndim != 4)
    return lg_fail("expected a 4-D weight [Cin,Cout/groups,kH,kW], got %s", lg_shape_str(w, b1, sizeof b1));
  if (check_float(x, "input", x->dtype) || check_float(w, "weight", x->dtype) ||
      check_conv_params(stride, pad, dilation) ||
      check_groups(groups, x->shape[1], w->shape[1] * (groups > 0 ? groups : 1), "input channels", "output channels"))
    return NULL;
  if (x->shape[1] != w->shape[0])
    return lg_fail("input has %lld channels but weight expects %lld (input %s, weight %s)",
                          (long long)x->shape[1], (long long)w->shape[0], lg_shape_str(x, b1, sizeof b1),
                          lg_shape_str(w, b2, sizeof b2));
  for (int d = 0; d < 2; d++)
    if (opad[d] < 0 || opad[d] >= stride[d])
      return lg_fail("output_padding must be non-negative and smaller than stride, got output_padding "
                            "[%d,%d] for stride [%d,%d]", opad[0], opad[1], stride[0], stride[1]);
  int64_t cout = w->shape[1] * groups;
  int64_t oh = (x->shape[2] - 1) * stride[0] - 2 * pad[0] + dilation[0] * (w->shape[2] - 1) + opad[0] + 1;
  int64_t ow = (x->shape[3] - 1) * stride[1] - 2 * pad[1] + dilation[1] * (w->shape[3] - 1) + opad[1] + 1;
  if (oh < 1 || ow < 1)
    return lg_fail("the output size %lldx%lld is less than 1 (input %s, weight %s, stride [%d,%d], "
                          "padding [%d,%d], dilation [%d,%d])", (long long)oh, (long long)ow,
                          lg_shape_str(x, b1, sizeof b1), lg_shape_str(w, b2, sizeof b2), stride[0], stride[1],
                          pad[0], pad[1], dilation[0], dilation[1]);
  if (b) {
    if (check_float(b, "bias", x->dtype)) return NULL;
    if (b->ndim != 1 || b->shape[0] != cout)
      return lg_fail("bias has shape %s but the output has %lld channels", lg_shape_str(b, b1, sizeof b1),
                            (long long)cout);
  }
  const int64_t p[CONV_NP] = {stride[0], stride[1], pad[0], pad[1], oh, ow, dilation[0], dilation[1], groups};
  lg_tensor *y = conv2d_input_grad(x, w, p);
  if (!y || !b) return y;
  lg_tensor *bv = lg_reshape(b, 4, (int64_t[4]){1, cout, 1, 1});
  lg_tensor *out = bv ? lg_add(y, bv) : NULL;
  lg_release(bv);
  lg_release(y);
  return out;
}

lg_tensor *lg_conv_transpose2d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2],
                               const int output_pad[2], const int dilation[2], int groups) {
  if (x->ndim != 3) return conv_transpose2d_4d(x, w, b, stride, pad, output_pad, dilation, groups);
  lg_tensor *xb = lg_unsqueeze(x, 0);
  lg_tensor *ob = xb ? conv_transpose2d_4d(xb, w, b, stride, pad, output_pad, dilation, groups) : NULL;
  lg_tensor *out = ob ? lg_squeeze(ob, 0) : NULL;
  lg_release(xb);
  lg_release(ob);
  return out;
}
