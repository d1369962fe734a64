/* conv2d: zero-padded 2-D cross-correlation, PyTorch's F.conv2d with groups = 1
 * and dilation = 1, for float32 and float64.
 *
 * Lowering: images are unfolded into columns (im2col), col[K, P] with
 * K = Cin*kH*kW rows and P = oH*oW output pixels, so that out = W[Cout, K] @ col.
 * A chunk of G images is unfolded side by side into col[K, G*P] and multiplied
 * in ONE gemm: per-image gemms are too small for OpenBLAS to thread (and its
 * pthread build must not be called from inside our OpenMP regions), while one
 * wide gemm keeps both cores busy. The price is a copy between the chunk's
 * [Cout, G*P] result and the NCHW layout [G, Cout, P], far cheaper than the gemm.
 * Chunks bound the scratch memory (LG_CONV_COL_ELEMS); the scratch buffers are
 * ordinary storages, so the size-class cache makes them reusable across calls.
 *
 * Backward, per chunk, with gT[Cout, G*P] the output gradient in chunk layout:
 *   dW += gT @ col^T                 (gemm accumulating over chunks)
 *   dcol = W^T @ gT, dx = col2im(dcol) (the adjoint of im2col: a scatter-add)
 *   db = sum of g over N, oH, oW.
 * OpenMP splits im2col/col2im/copies over (image, channel) pairs, which touch
 * disjoint memory; every allocation happens before those parallel regions
 * (the storage allocator is not thread-safe). */
#include <string.h>

#include "../lg_internal.h"

/* Scratch budget per chunk (elements of col): 512K = 2 MiB in float32. Small
 * enough that the gemm reads col while it is still in cache: measured on LeNet
 * conv1, 2^19 beats 2^22 by ~25% (CPU time) and 2^15..2^19 are on par. */
#ifndef LG_CONV_COL_ELEMS
#define LG_CONV_COL_ELEMS ((int64_t)1 << 19)
#endif

typedef struct {
  int64_t n, cin, h, w;     /* input */
  int64_t cout, kh, kw;     /* weight */
  int64_t sh, sw, ph, pw;   /* stride, padding */
  int64_t oh, ow, p, k;     /* output size, p = oh*ow, k = cin*kh*kw */
} conv_geom;

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

/* ---- im2col / col2im for one (image, channel) pair ----------------------------
 * x points at the channel's [h, w] plane; col at its first row (row c*kh*kw)
 * and column offset of the image; ld is the row length of col. */
#define LG_DEFINE_IM2COL(T, SUF)                                                          \
  static void im2col_##SUF(const T *x, const conv_geom *g, T *col, int64_t ld) {         \
    for (int64_t i = 0; i < g->kh; i++)                                                   \
      for (int64_t j = 0; j < g->kw; j++) {                                               \
        T *row = col + (i * g->kw + j) * ld;                                              \
        int64_t lo, hi;                                                                   \
        valid_range(j, g->sw, g->pw, g->w, g->ow, &lo, &hi);                              \
        for (int64_t oy = 0; oy < g->oh; oy++) {                                          \
          T *dst = row + oy * g->ow;                                                      \
          int64_t iy = oy * g->sh - g->ph + i;                                            \
          if (iy < 0 || iy >= g->h) {                                                     \
            for (int64_t ox = 0; ox < g->ow; ox++) dst[ox] = 0;                           \
            continue;                                                                     \
          }                                                                               \
          const T *src = x + iy * g->w - g->pw + j;                                       \
          for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0;                                \
          if (g->sw == 1) memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(T));      \
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
        valid_range(j, g->sw, g->pw, g->w, g->ow, &lo, &hi);                              \
        for (int64_t oy = 0; oy < g->oh; oy++) {                                          \
          int64_t iy = oy * g->sh - g->ph + i;                                            \
          if (iy < 0 || iy >= g->h) continue;                                             \
          const T *src = row + oy * g->ow;                                                \
          T *dst = dx + iy * g->w - g->pw + j;                                            \
          for (int64_t ox = lo; ox < hi; ox++) dst[ox * g->sw] += src[ox];                \
        }                                                                                 \
      }                                                                                   \
  }
LG_DEFINE_IM2COL(float, f32)
LG_DEFINE_IM2COL(double, f64)

/* ---- the chunked kernels, one copy per dtype ------------------------------------
 * x: [n, cin, h, w] contiguous; w: [cout, k]; col, tmp: scratch of k*G*p and
 * cout*G*p elements. */
#define LG_DEFINE_CONV_KERNELS(T, SUF)                                                      \
  static void unfold_chunk_##SUF(const T *x, const conv_geom *g, int64_t n0, int64_t gn,   \
                                 T *col) {                                                  \
    int64_t ld = gn * g->p, pairs = gn * g->cin, rows = g->kh * g->kw;                      \
    _Pragma("omp parallel for schedule(static) if (g->k * ld >= LG_PARALLEL_GRAIN)")        \
    for (int64_t q = 0; q < pairs; q++) {                                                   \
      int64_t im = q / g->cin, c = q % g->cin;                                              \
      im2col_##SUF(x + ((n0 + im) * g->cin + c) * g->h * g->w, g, col + c * rows * ld + im * g->p, \
                   ld);                                                                     \
    }                                                                                       \
  }                                                                                         \
  static void conv_forward_##SUF(const T *x, const T *w, const T *b, T *out,               \
                                 const conv_geom *g, int64_t chunk, T *col, T *tmp) {       \
    for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {                                          \
      int64_t gn = g->n - n0 < chunk ? g->n - n0 : chunk, ld = gn * g->p;                   \
      T *dst = gn == 1 ? out + n0 * g->cout * g->p : tmp; /* one image: already NCHW */    \
      unfold_chunk_##SUF(x, g, n0, gn, col);                                                \
      lg_gemm_##SUF(false, false, g->cout, ld, g->k, 1, w, g->k, col, ld, 0, dst, ld);      \
      int64_t pairs = gn * g->cout;                                                         \
      _Pragma("omp parallel for schedule(static) if (pairs * g->p >= LG_PARALLEL_GRAIN)")   \
      for (int64_t q = 0; q < pairs; q++) {                                                 \
        int64_t im = q / g->cout, co = q % g->cout;                                         \
        T *o = out + ((n0 + im) * g->cout + co) * g->p;                                     \
        const T *s = dst + co * ld + im * g->p;                                             \
        T bias = b ? b[co] : 0;                                                             \
        for (int64_t i = 0; i < g->p; i++) o[i] = s[i] + bias; /* in place when gn == 1 */  \
      }                                                                                     \
    }                                                                                       \
  }                                                                                         \
  /* dx (zeroed, may be NULL), dw (may be NULL) from gout [n, cout, p]. */                  \
  static void conv_backward_##SUF(const T *x, const T *w, const T *gout, T *dx, T *dw,     \
                                  const conv_geom *g, int64_t chunk, T *col, T *tmp) {      \
    for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {                                          \
      int64_t gn = g->n - n0 < chunk ? g->n - n0 : chunk, ld = gn * g->p;                   \
      const T *gt = gout + n0 * g->cout * g->p; /* one image: already [cout, p] */          \
      if (gn > 1) {                                                                         \
        int64_t pairs = gn * g->cout;                                                       \
        _Pragma("omp parallel for schedule(static) if (pairs * g->p >= LG_PARALLEL_GRAIN)") \
        for (int64_t q = 0; q < pairs; q++) {                                               \
          int64_t im = q / g->cout, co = q % g->cout;                                       \
          memcpy(tmp + co * ld + im * g->p, gt + (im * g->cout + co) * g->p,                \
                 (size_t)g->p * sizeof(T));                                                 \
        }                                                                                   \
        gt = tmp;                                                                           \
      }                                                                                     \
      if (dw) {                                                                             \
        unfold_chunk_##SUF(x, g, n0, gn, col);                                              \
        lg_gemm_##SUF(false, true, g->cout, g->k, ld, 1, gt, ld, col, ld, n0 ? 1 : 0, dw,   \
                      g->k);                                                                \
      }                                                                                     \
      if (dx) {                                                                             \
        lg_gemm_##SUF(true, false, g->k, ld, g->cout, 1, w, g->k, gt, ld, 0, col, ld);      \
        int64_t pairs = gn * g->cin, rows = g->kh * g->kw;                                  \
        _Pragma("omp parallel for schedule(static) if (g->k * ld >= LG_PARALLEL_GRAIN)")    \
        for (int64_t q = 0; q < pairs; q++) {                                               \
          int64_t im = q / g->cin, c = q % g->cin;                                          \
          col2im_##SUF(col + c * rows * ld + im * g->p, g, ld,                              \
                       dx + ((n0 + im) * g->cin + c) * g->h * g->w);                        \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }
LG_DEFINE_CONV_KERNELS(float, f32)
LG_DEFINE_CONV_KERNELS(double, f64)

/* Images per chunk: as many as fit the scratch budget, balanced across chunks. */
static int64_t chunk_size(const conv_geom *g) {
  int64_t per = g->k * g->p > 0 ? g->k * g->p : 1;
  int64_t fit = LG_CONV_COL_ELEMS / per;
  if (fit < 1) fit = 1;
  if (fit >= g->n) return g->n > 0 ? g->n : 1;
  int64_t chunks = (g->n + fit - 1) / fit;
  return (g->n + chunks - 1) / chunks;
}

/* Scratch col[k, G*p] and tmp[cout, G*p] (tmp only when G > 1). */
static int scratch(const conv_geom *g, int64_t chunk, lg_dtype dt, lg_tensor **col, lg_tensor **tmp) {
  int64_t ncol[1] = {g->k * chunk * g->p}, ntmp[1] = {chunk > 1 ? g->cout * chunk * g->p : 1};
  *col = lg_new_like_shape(1, ncol, dt);
  *tmp = *col ? lg_new_like_shape(1, ntmp, dt) : NULL;
  if (*tmp) return 0;
  lg_release(*col);
  *col = NULL;
  return -1;
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

static int conv_geometry(const lg_tensor *x, const lg_tensor *w, const lg_tensor *b,
                         const int stride[2], const int pad[2], conv_geom *g) {
  char b1[96], b2[96];
  if (x->ndim != 4)
    return lg_failed("expected a 4-D input [N,C,H,W] (or 3-D [C,H,W]), got %s",
                     lg_shape_str(x, b1, sizeof b1));
  if (w->ndim != 4)
    return lg_failed("expected a 4-D weight [Cout,Cin,kH,kW], got %s",
                     lg_shape_str(w, b1, sizeof b1));
  if (check_float(x, "input", x->dtype) || check_float(w, "weight", x->dtype)) return -1;
  if (stride[0] <= 0 || stride[1] <= 0)
    return lg_failed("stride must be positive, got [%d,%d]", stride[0], stride[1]);
  if (pad[0] < 0 || pad[1] < 0)
    return lg_failed("padding must be non-negative, got [%d,%d]", pad[0], pad[1]);
  if (x->shape[1] != w->shape[1])
    return lg_failed("input has %lld channels but weight expects %lld (input %s, weight %s)",
                     (long long)x->shape[1], (long long)w->shape[1], lg_shape_str(x, b1, sizeof b1),
                     lg_shape_str(w, b2, sizeof b2));
  if (b) {
    if (check_float(b, "bias", x->dtype)) return -1;
    if (b->ndim != 1 || b->shape[0] != w->shape[0])
      return lg_failed("bias has shape %s but weight has %lld output channels",
                       lg_shape_str(b, b1, sizeof b1), (long long)w->shape[0]);
  }
  *g = (conv_geom){.n = x->shape[0], .cin = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                   .cout = w->shape[0], .kh = w->shape[2], .kw = w->shape[3], .sh = stride[0],
                   .sw = stride[1], .ph = pad[0], .pw = pad[1]};
  int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
  if (g->kh < 1 || g->kw < 1)
    return lg_failed("kernel size must be positive, got %lldx%lld", (long long)g->kh,
                     (long long)g->kw);
  if (g->kh > hp || g->kw > wp)
    return lg_failed("kernel %lldx%lld is larger than the padded input %lldx%lld "
                     "(input %lldx%lld, padding [%d,%d])",
                     (long long)g->kh, (long long)g->kw, (long long)hp, (long long)wp,
                     (long long)g->h, (long long)g->w, pad[0], pad[1]);
  g->oh = (hp - g->kh) / g->sh + 1;
  g->ow = (wp - g->kw) / g->sw + 1;
  g->p = g->oh * g->ow;
  g->k = g->cin * g->kh * g->kw;
  return 0;
}

/* ---- forward --------------------------------------------------------------------- */

static lg_tensor *conv2d_4d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2],
                            const int pad[2]) {
  conv_geom g;
  if (conv_geometry(x, w, b, stride, pad, &g)) return NULL;
  int64_t oshape[4] = {g.n, g.cout, g.oh, g.ow};
  lg_tensor *out = lg_new_like_shape(4, oshape, x->dtype);
  lg_tensor *xc = out ? lg_contiguous(x) : NULL;
  lg_tensor *wc = xc ? lg_contiguous(w) : NULL;
  lg_tensor *bc = wc && b ? lg_contiguous(b) : NULL;
  lg_tensor *col = NULL, *tmp = NULL;
  int64_t chunk = chunk_size(&g);
  bool ok = wc && (!b || bc);
  if (ok && lg_numel(out) > 0) {
    if (g.k == 0) { /* no input channels: the output is the bias */
      ok = lg_fill(out, 0) == 0;
      if (ok && bc) {
        lg_tensor *bv = lg_view(bc, 4, (int64_t[4]){1, g.cout, 1, 1});
        ok = bv && lg_copy(out, bv) == 0;
        lg_release(bv);
      }
    } else if ((ok = scratch(&g, chunk, x->dtype, &col, &tmp) == 0)) {
      if (x->dtype == LG_F32)
        conv_forward_f32(lg_data_ptr(xc), lg_data_ptr(wc), bc ? lg_data_ptr(bc) : NULL,
                         lg_data_ptr(out), &g, chunk, lg_data_ptr(col), lg_data_ptr(tmp));
      else
        conv_forward_f64(lg_data_ptr(xc), lg_data_ptr(wc), bc ? lg_data_ptr(bc) : NULL,
                         lg_data_ptr(out), &g, chunk, lg_data_ptr(col), lg_data_ptr(tmp));
    }
  }
  lg_release(col);
  lg_release(tmp);
  lg_release(bc);
  if (!ok) {
    lg_release(out);
    lg_release(xc);
    lg_release(wc);
    return NULL;
  }
  lg_tensor *in[3] = {x, w, b};
  lg_node *node = NULL;
  if (lg_should_record(in, b ? 3 : 2) && !(node = lg_record(&lg_op_conv2d, out, in, b ? 3 : 2))) {
    lg_release(out);
    out = NULL;
  }
  if (node) {
    lg_save(node, 0, xc);
    lg_save(node, 1, wc);
    node->i[0] = g.sh, node->i[1] = g.sw, node->i[2] = g.ph, node->i[3] = g.pw;
  }
  lg_release(xc);
  lg_release(wc);
  return out;
}

lg_tensor *lg_conv2d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2]) {
  if (x->ndim != 3) return conv2d_4d(x, w, b, stride, pad);
  /* an unbatched [C,H,W] input, as PyTorch allows: through a batch of one */
  lg_tensor *xb = lg_unsqueeze(x, 0);
  lg_tensor *ob = xb ? conv2d_4d(xb, w, b, stride, pad) : NULL;
  lg_tensor *out = ob ? lg_squeeze(ob, 0) : NULL;
  lg_release(xb);
  lg_release(ob);
  return out;
}

/* ---- backward -------------------------------------------------------------------- */

static int conv2d_backward(lg_node *n, lg_tensor *gout, lg_tensor **gin) {
  lg_tensor *x = n->saved[0], *w = n->saved[1];
  bool need_x = n->inputs[0].needs_grad, need_w = n->inputs[1].needs_grad;
  bool need_b = n->n_inputs > 2 && n->inputs[2].needs_grad;
  const int stride[2] = {(int)n->i[0], (int)n->i[1]}, pad[2] = {(int)n->i[2], (int)n->i[3]};
  conv_geom g;
  if (conv_geometry(x, w, NULL, stride, pad, &g)) return -1;
  lg_tensor *gd = lg_to_dtype(gout, x->dtype);
  lg_tensor *gc = gd ? lg_contiguous(gd) : NULL;
  lg_release(gd);
  if (!gc) return -1;
  int rc = 0;
  if (need_b && !(gin[2] = lg_sum_to(gc, 3, (int64_t[3]){g.cout, 1, 1}))) rc = -1;
  if (rc == 0 && need_b) { /* [Cout,1,1] -> [Cout] */
    lg_tensor *flat = lg_view(gin[2], 1, (int64_t[1]){g.cout});
    lg_release(gin[2]);
    if (!(gin[2] = flat)) rc = -1;
  }
  if (rc == 0 && need_x && !(gin[0] = lg_zeros(4, x->shape, x->dtype))) rc = -1;
  if (rc == 0 && need_w && !(gin[1] = lg_new_like_shape(4, w->shape, x->dtype))) rc = -1;
  lg_tensor *col = NULL, *tmp = NULL;
  int64_t chunk = chunk_size(&g);
  if (rc == 0 && (need_x || need_w)) {
    if (g.k == 0 || lg_numel(gc) == 0) {
      if (gin[1]) rc = lg_fill(gin[1], 0);
    } else if ((rc = scratch(&g, chunk, x->dtype, &col, &tmp)) == 0) {
      if (x->dtype == LG_F32)
        conv_backward_f32(lg_data_ptr(x), lg_data_ptr(w), lg_data_ptr(gc),
                          need_x ? lg_data_ptr(gin[0]) : NULL, need_w ? lg_data_ptr(gin[1]) : NULL,
                          &g, chunk, lg_data_ptr(col), lg_data_ptr(tmp));
      else
        conv_backward_f64(lg_data_ptr(x), lg_data_ptr(w), lg_data_ptr(gc),
                          need_x ? lg_data_ptr(gin[0]) : NULL, need_w ? lg_data_ptr(gin[1]) : NULL,
                          &g, chunk, lg_data_ptr(col), lg_data_ptr(tmp));
    }
  }
  lg_release(col);
  lg_release(tmp);
  lg_release(gc);
  return rc; /* on error the engine releases what gin holds */
}
LG_DEFINE_OP(conv2d);
