/* max_pool2d and avg_pool2d over NCHW (or unbatched CHW) float tensors, PyTorch
 * semantics: out = floor((H + 2*pad - k) / stride) + 1, or with ceil_mode
 * ceil(...) + 1 less one when the last window would start past the padded input's
 * left part; adaptive pooling (PyTorch's adaptive_*_pool2d) is the same kernels
 * with output (oy, ox)'s window rows [floor(oy H / oH), ceil((oy + 1) H / oH)).
 * The 1-d pools are these on [N, C, 1, L] (Lua).
 *
 * max: padding counts as -inf (it never wins); ties keep the first maximum and
 * NaN wins, like PyTorch. The winner's flat position in its [H, W] plane is
 * saved as an int64 tensor (2x2 stride-2 windows: a one-byte code per output
 * instead, see below). Nothing is saved when the call is not recorded.
 * avg: with count_include_pad the divisor is the window clipped to the PADDED
 * input (kH*kW in floor mode with pad <= k/2), without it the real pixels only;
 * adaptive windows divide by their size.
 * return_indices: the winners' flat positions in their plane (int64, 0-based here).
 *
 * Backward is made of registered ops, so that gradients of gradients flow:
 *   max_pool2d:          dx = max_pool2d_backward(g, argmax)  (scatter g to the winners)
 *   max_pool2d_backward: dg = max_pool2d_gather(gg, argmax)   (read gg at the winners)
 *   max_pool2d_gather:   da = max_pool2d_backward(gg, argmax)
 *   avg_pool2d:          dx = avg_pool2d_backward(g)  (spread g/divisor over the window)
 *   avg_pool2d_backward: dg = avg_pool2d(gg)
 * The first-order path is the same call (not recording when grad mode is off), so
 * an ordinary backward runs the fast 2x2 scatter as before.
 * Each (image, channel) plane is independent: OpenMP splits over planes.
 *
 * The kernels are written once over the element type T, in the part of this file
 * after `#else`, which the file includes into itself twice (T = float, T = double);
 * TYPED(name) names the copy (name_f32, name_f64) and BY_DTYPE calls the right one. */
#ifndef LG_POOL_KERNELS
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/rules.h"

typedef struct {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, planes;
  bool ceil_mode, count_include_pad, adaptive;
  bool codes; /* max: the saved argmax holds the 2x2 path's byte codes */
} pool_geom;

/* The window of output (oy, ox) clipped to the input: rows [y0, y1), cols [x0, x1);
 * divisor counts padding (count_include_pad), not what lies beyond it. */
typedef struct {
  int64_t y0, y1, x0, x1, divisor;
} pool_window;

static inline pool_window window_at(const pool_geom *g, int64_t oy, int64_t ox) {
  if (g->adaptive) {
    int64_t y0 = oy * g->h / g->oh, y1 = ((oy + 1) * g->h + g->oh - 1) / g->oh;
    int64_t x0 = ox * g->w / g->ow, x1 = ((ox + 1) * g->w + g->ow - 1) / g->ow;
    return (pool_window){y0, y1, x0, x1, (y1 - y0) * (x1 - x0)};
  }
  int64_t y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
  int64_t y1 = y0 + g->kh < g->h ? y0 + g->kh : g->h;
  int64_t x1 = x0 + g->kw < g->w ? x0 + g->kw : g->w;
  int64_t yp = y0 + g->kh < g->h + g->ph ? y0 + g->kh : g->h + g->ph;
  int64_t xp = x0 + g->kw < g->w + g->pw ? x0 + g->kw : g->w + g->pw;
  pool_window win = {y0 < 0 ? 0 : y0, y1, x0 < 0 ? 0 : x0, x1, (yp - y0) * (xp - x0)};
  if (!g->count_include_pad) win.divisor = (win.y1 - win.y0) * (win.x1 - win.x0);
  return win;
}

/* Worth threads: enough elements in the input planes. */
static inline bool parallel_planes(const pool_geom *g) { return g->planes * g->h * g->w >= LG_PARALLEL_GRAIN; }

/* ---- 2x2 windows, stride 2, no padding (every LeNet-style net) --------------------
 * Branch-free so that the compiler vectorizes it (random data made the branchy
 * version mispredict on every other pixel). The winner is saved as a 2-bit code
 * in one byte per output (0..3 = top-left, top-right, bottom-left, bottom-right)
 * instead of an int64 position: 8x less memory traffic, and backward writes every
 * dx element exactly once, so dx needs no zero fill and no scatter.
 * The pairwise order (a vs b, then c, then d, each "v > best || v is NaN") is the
 * general kernel's scan order, so ties and NaNs pick the same element. */
static bool is_2x2(const pool_geom *g) {
  return !g->adaptive && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
         2 * g->oh <= g->h && 2 * g->ow <= g->w; /* ceil_mode's partial windows are not 2x2 */
}

/* Codes pass through int32 (the width of a float lane) inside the vector loops:
 * with uint8 lanes the compiler vectorizes 32 outputs at a time only, and the
 * short rows of small images (12, 4 outputs) fell to a branchy scalar tail. */
#define LG_POOL2_SPAN 64

#define LG_POOL_KERNELS
#define T float
#define TYPED(name) name##_f32
#include "ops/nn_pool.c"
#undef T
#undef TYPED
#define T double
#define TYPED(name) name##_f64
#include "ops/nn_pool.c"
#undef T
#undef TYPED
#define BY_DTYPE(dt, name, ...) ((dt) == LG_F32 ? name##_f32(__VA_ARGS__) : name##_f64(__VA_ARGS__))

/* ---- geometry --------------------------------------------------------------------- */

/* PyTorch's pooling_output_shape (dilation 1). */
static int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t pad, bool ceil_mode) {
  int64_t num = in + 2 * pad - k + (ceil_mode ? s - 1 : 0);
  int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) out--;
  return out;
}

static void set_output_size(pool_geom *g) {
  if (!g->adaptive) {
    g->oh = pooled_size(g->h, g->kh, g->sh, g->ph, g->ceil_mode);
    g->ow = pooled_size(g->w, g->kw, g->sw, g->pw, g->ceil_mode);
  }
  g->planes = g->n * g->c;
}

/* What a pooling call asks for (the public functions fill it). */
typedef struct {
  int k[2], stride[2], pad[2];
  bool ceil_mode, count_include_pad, adaptive;
  int64_t out[2]; /* adaptive: the output size */
} pool_args;

static int pool_geometry(const lg_tensor *x, const pool_args *a, pool_geom *g) {
  char b[96];
  if (x->ndim != 4)
    return lg_failed("expected a 4-D input [N,C,H,W] (or 3-D [C,H,W]), got %s",
                     lg_shape_str(x, b, sizeof b));
  if (!lg_is_float(x->dtype))
    return lg_failed("input must be float32 or float64, got %s", lg_dtype_name(x->dtype));
  if (a->adaptive) {
    if (a->out[0] < 1 || a->out[1] < 1)
      return lg_failed("output size must be positive, got [%lld,%lld]", (long long)a->out[0], (long long)a->out[1]);
    if (x->shape[2] < 1 || x->shape[3] < 1)
      return lg_failed("input %s has an empty plane", lg_shape_str(x, b, sizeof b));
    *g = (pool_geom){.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3], .kh = 1, .kw = 1,
                     .sh = 1, .sw = 1, .adaptive = true, .oh = a->out[0], .ow = a->out[1]};
    set_output_size(g);
    return 0;
  }
  const int *k = a->k, *stride = a->stride, *pad = a->pad;
  if (k[0] <= 0 || k[1] <= 0)
    return lg_failed("kernel size must be positive, got [%d,%d]", k[0], k[1]);
  if (stride[0] <= 0 || stride[1] <= 0)
    return lg_failed("stride must be positive, got [%d,%d]", stride[0], stride[1]);
  if (pad[0] < 0 || pad[1] < 0)
    return lg_failed("padding must be non-negative, got [%d,%d]", pad[0], pad[1]);
  if (pad[0] > k[0] / 2 || pad[1] > k[1] / 2)
    return lg_failed("padding should be at most half of the kernel size, got padding [%d,%d] "
                     "for kernel [%d,%d]", pad[0], pad[1], k[0], k[1]);
  *g = (pool_geom){.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                   .kh = k[0], .kw = k[1], .sh = stride[0], .sw = stride[1], .ph = pad[0],
                   .pw = pad[1], .ceil_mode = a->ceil_mode, .count_include_pad = a->count_include_pad};
  int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
  if (g->kh > hp || g->kw > wp)
    return lg_failed("kernel %lldx%lld is larger than the padded input %lldx%lld "
                     "(input %lldx%lld, padding [%d,%d]): the output size would be less than 1",
                     (long long)g->kh, (long long)g->kw,
                     (long long)hp, (long long)wp, (long long)g->h, (long long)g->w, pad[0], pad[1]);
  set_output_size(g);
  if (g->oh < 1 || g->ow < 1)
    return lg_failed("the output size %lldx%lld is less than 1", (long long)g->oh, (long long)g->ow);
  return 0;
}

/* Node parameters of every pool op: i[0..5] kernel, stride, padding; i[6..7] the
 * input's h, w; i[8..9] the output's oh, ow; i[10] flags. The batch and channel
 * counts come from the operand. */
enum { F_CEIL = 1, F_CIP = 2, F_ADAPTIVE = 4, F_CODES = 8 };
static void save_geometry(lg_node *node, const pool_geom *g) {
  int64_t flags = (g->ceil_mode ? F_CEIL : 0) | (g->count_include_pad ? F_CIP : 0) |
                  (g->adaptive ? F_ADAPTIVE : 0) | (g->codes ? F_CODES : 0);
  int64_t p[11] = {g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->h, g->w, g->oh, g->ow, flags};
  memcpy(node->i, p, sizeof p);
}

static pool_geom node_geometry(const lg_node *node, const lg_tensor *t) {
  const int64_t *p = node->i;
  pool_geom g = {.n = t->shape[0], .c = t->shape[1], .kh = p[0], .kw = p[1], .sh = p[2],
                 .sw = p[3], .ph = p[4], .pw = p[5], .h = p[6], .w = p[7], .oh = p[8], .ow = p[9],
                 .ceil_mode = p[10] & F_CEIL, .count_include_pad = p[10] & F_CIP,
                 .adaptive = p[10] & F_ADAPTIVE, .codes = p[10] & F_CODES};
  g.planes = g.n * g.c;
  return g;
}

/* ---- forward ---------------------------------------------------------------------- */

/* indices: when not NULL, *indices gets the winners' positions (max only). */
static lg_tensor *pool_4d(lg_tensor *x, const pool_args *pa, bool is_max, lg_tensor **indices) {
  pool_geom g = {0}; /* gcc without OpenMP cannot see pool_geometry sets it */
  if (pool_geometry(x, pa, &g)) return NULL;
  int64_t oshape[4] = {g.n, g.c, g.oh, g.ow};
  lg_tensor *in[1] = {x};
  bool record = lg_should_record(in, 1), fast = is_max && is_2x2(&g) && !indices;
  bool want_arg = is_max && (record || indices);
  g.codes = fast;
  /* the argmax only matters to backward; the 2x2 path keeps one byte per output
   * (in an int64 tensor used as a byte buffer) */
  int64_t nout = lg_shape_numel(4, oshape), nbytes[1] = {(nout + 7) / 8};
  lg_tensor *xc = lg_contiguous(x);
  lg_tensor *out = xc ? lg_new_like_shape(4, oshape, x->dtype) : NULL;
  lg_tensor *arg = NULL;
  if (out && want_arg)
    arg = fast ? lg_new_like_shape(1, nbytes, LG_I64) : lg_new_like_shape(4, oshape, LG_I64);
  if (!out || (want_arg && !arg)) {
    lg_release(xc);
    lg_release(out);
    return NULL;
  }
  void *a = arg ? lg_data_ptr(arg) : NULL;
  if (fast) BY_DTYPE(x->dtype, max_pool_2x2, lg_data_ptr(xc), &g, lg_data_ptr(out), a);
  else if (is_max) BY_DTYPE(x->dtype, max_pool, lg_data_ptr(xc), &g, lg_data_ptr(out), a);
  else BY_DTYPE(x->dtype, avg_pool, lg_data_ptr(xc), &g, lg_data_ptr(out));
  lg_release(xc);
  lg_tensor *saves[1] = {arg};
  lg_node *node;
  out = lg_recorded(is_max ? &lg_op_max_pool2d : &lg_op_avg_pool2d, out, in, 1, saves, 1, &node);
  if (node) save_geometry(node, &g);
  if (indices && out) *indices = arg;
  else lg_release(arg);
  return out;
}

static lg_tensor *pool(lg_tensor *x, const pool_args *pa, bool is_max, lg_tensor **indices) {
  if (indices) *indices = NULL;
  if (x->ndim != 3) return pool_4d(x, pa, is_max, indices);
  lg_tensor *xb = lg_unsqueeze(x, 0); /* unbatched [C,H,W] */
  lg_tensor *ob = xb ? pool_4d(xb, pa, is_max, indices) : NULL;
  lg_tensor *out = ob ? lg_squeeze(ob, 0) : NULL;
  lg_release(xb);
  lg_release(ob);
  if (indices && *indices) {
    lg_tensor *iv = out ? lg_squeeze(*indices, 0) : NULL;
    lg_release(*indices);
    *indices = iv;
  }
  return out;
}

static pool_args window_args(const int k[2], const int stride[2], const int pad[2], bool ceil_mode, bool cip) {
  return (pool_args){.k = {k[0], k[1]}, .stride = {stride[0], stride[1]}, .pad = {pad[0], pad[1]},
                     .ceil_mode = ceil_mode, .count_include_pad = cip};
}

lg_tensor *lg_max_pool2d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2]) {
  pool_args a = window_args(k, stride, pad, false, true);
  return pool(x, &a, true, NULL);
}

lg_tensor *lg_avg_pool2d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2]) {
  pool_args a = window_args(k, stride, pad, false, true);
  return pool(x, &a, false, NULL);
}

lg_tensor *lg_max_pool2d_ex(lg_tensor *x, const int k[2], const int stride[2], const int pad[2], bool ceil_mode,
                            lg_tensor **indices) {
  pool_args a = window_args(k, stride, pad, ceil_mode, true);
  return pool(x, &a, true, indices);
}

lg_tensor *lg_avg_pool2d_ex(lg_tensor *x, const int k[2], const int stride[2], const int pad[2], bool ceil_mode,
                            bool count_include_pad) {
  pool_args a = window_args(k, stride, pad, ceil_mode, count_include_pad);
  return pool(x, &a, false, NULL);
}

lg_tensor *lg_adaptive_max_pool2d(lg_tensor *x, const int64_t out[2], lg_tensor **indices) {
  pool_args a = {.adaptive = true, .out = {out[0], out[1]}};
  return pool(x, &a, true, indices);
}

lg_tensor *lg_adaptive_avg_pool2d(lg_tensor *x, const int64_t out[2]) {
  pool_args a = {.adaptive = true, .out = {out[0], out[1]}};
  return pool(x, &a, false, NULL);
}

/* avg pooling of geometry geo (the adjoint of avg_pool2d_backward). */
static lg_tensor *avg_pool_geo(lg_tensor *x, const pool_geom *geo) {
  pool_args a = {.k = {(int)geo->kh, (int)geo->kw}, .stride = {(int)geo->sh, (int)geo->sw},
                 .pad = {(int)geo->ph, (int)geo->pw}, .ceil_mode = geo->ceil_mode,
                 .count_include_pad = geo->count_include_pad, .adaptive = geo->adaptive,
                 .out = {geo->oh, geo->ow}};
  return pool_4d(x, &a, false, NULL);
}

/* ---- backward ops ------------------------------------------------------------------
 * Internal (rules call them); t is [n, c, oh, ow] for the backward ops (the output
 * gradient) and [n, c, h, w] for the gather; the result has the other shape. */

static int check_pool_operand(const lg_tensor *t, const pool_geom *g, bool input_side, const char *op) {
  char b[96];
  bool ok = t->ndim == 4 && lg_is_float(t->dtype) && t->shape[2] == (input_side ? g->h : g->oh) &&
            t->shape[3] == (input_side ? g->w : g->ow);
  return ok ? 0 : lg_failed("%s: operand %s does not fit the pooling geometry", op, lg_shape_str(t, b, sizeof b));
}

/* Makes out (shape of the other side), runs the kernel on t's dense form and records. */
static lg_tensor *pool_backward_op(const lg_op_info *op, lg_tensor *t, lg_tensor *arg, const pool_geom *g) {
  bool gather = op == &lg_op_max_pool2d_gather;
  if (check_pool_operand(t, g, gather, op->name)) return NULL;
  int64_t shape[4] = {g->n, g->c, gather ? g->oh : g->h, gather ? g->ow : g->w};
  bool fast = arg && g->codes, fills = gather || fast; /* kernels that write every element */
  lg_tensor *tc = lg_dense(t, t->dtype);
  lg_tensor *out = !tc ? NULL : fills ? lg_new_like_shape(4, shape, t->dtype) : lg_zeros(4, shape, t->dtype);
  if (out) {
    void *src = lg_data_ptr(tc), *dst = lg_data_ptr(out), *a = arg ? lg_data_ptr(arg) : NULL;
    if (gather) BY_DTYPE(t->dtype, max_gather, src, a, fast, g, dst);
    else if (fast) BY_DTYPE(t->dtype, max_unpool_2x2, src, a, g, dst);
    else if (arg) BY_DTYPE(t->dtype, max_unpool, src, a, g, dst);
    else BY_DTYPE(t->dtype, avg_unpool, src, g, dst);
  }
  lg_release(tc);
  lg_tensor *in[1] = {t}, *saves[1] = {arg};
  lg_node *node;
  out = lg_recorded(op, out, in, 1, saves, 1, &node);
  if (node) save_geometry(node, g);
  return out;
}

/* The rule vocabulary of this file (as ops/rules.h's). */
static lg_tensor *G_max_pool2d_backward(lg_tensor *g, lg_tensor *arg, const pool_geom *geo) {
  return g ? lg_adopt(pool_backward_op(&lg_op_max_pool2d_backward, g, arg, geo)) : NULL;
}
static lg_tensor *G_max_pool2d_gather(lg_tensor *a, lg_tensor *arg, const pool_geom *geo) {
  return a ? lg_adopt(pool_backward_op(&lg_op_max_pool2d_gather, a, arg, geo)) : NULL;
}
static lg_tensor *G_avg_pool2d_backward(lg_tensor *g, const pool_geom *geo) {
  return g ? lg_adopt(pool_backward_op(&lg_op_avg_pool2d_backward, g, NULL, geo)) : NULL;
}

/* ---- rules ------------------------------------------------------------------------ */

static void max_pool2d_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  pool_geom geo = node_geometry(n, g);
  gin[0] = G_max_pool2d_backward(g, n->saved[0], &geo);
}
LG_DEFINE_OP(max_pool2d);

static void max_pool2d_backward_rule(lg_node *n, lg_tensor *gg, lg_tensor **gin) {
  pool_geom geo = node_geometry(n, gg);
  gin[0] = G_max_pool2d_gather(gg, n->saved[0], &geo);
}
LG_DEFINE_OP(max_pool2d_backward);

static void max_pool2d_gather_rule(lg_node *n, lg_tensor *gg, lg_tensor **gin) {
  pool_geom geo = node_geometry(n, gg);
  gin[0] = G_max_pool2d_backward(gg, n->saved[0], &geo);
}
LG_DEFINE_OP(max_pool2d_gather);

static void avg_pool2d_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  pool_geom geo = node_geometry(n, g);
  gin[0] = G_avg_pool2d_backward(g, &geo);
}
LG_DEFINE_OP(avg_pool2d);

static void avg_pool2d_backward_rule(lg_node *n, lg_tensor *gg, lg_tensor **gin) {
  pool_geom geo = node_geometry(n, gg);
  gin[0] = gg ? lg_adopt(avg_pool_geo(gg, &geo)) : NULL;
}
LG_DEFINE_OP(avg_pool2d_backward);

#else /* ---- the kernels, once per element type T ------------------------------------ */

LG_VECTOR_CLONES static void TYPED(max2_span)(const T *restrict r0, const T *restrict r1, int64_t n,
                                              T *restrict o, int32_t *restrict k32) {
  for (int64_t ox = 0; ox < n; ox++) {
    T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
    T best = a;
    int32_t k = 0;
    if (b > best || b != b) best = b, k = 1;
    if (c > best || c != c) best = c, k = 2;
    if (d > best || d != d) best = d, k = 3;
    o[ox] = best;
    k32[ox] = k;
  }
}

static void TYPED(max2_row)(const T *r0, const T *r1, int64_t ow, T *o, uint8_t *code) {
  int32_t k32[LG_POOL2_SPAN];
  for (int64_t at = 0; at < ow; at += LG_POOL2_SPAN) {
    int64_t n = ow - at < LG_POOL2_SPAN ? ow - at : LG_POOL2_SPAN;
    TYPED(max2_span)(r0 + 2 * at, r1 + 2 * at, n, o + at, k32);
    for (int64_t i = 0; i < n; i++) code[at + i] = (uint8_t)k32[i];
  }
}

/* inference: no codes */
LG_VECTOR_CLONES static void TYPED(max2_row_nc)(const T *restrict r0, const T *restrict r1, int64_t ow,
                                                T *restrict o) {
  for (int64_t ox = 0; ox < ow; ox++) {
    T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
    T best = a;
    if (b > best || b != b) best = b;
    if (c > best || c != c) best = c;
    if (d > best || d != d) best = d;
    o[ox] = best;
  }
}

LG_VECTOR_CLONES static void TYPED(unmax2_span)(const T *restrict go, const int32_t *restrict k32, int64_t n,
                                                T *restrict d0, T *restrict d1) {
  for (int64_t ox = 0; ox < n; ox++) {
    T v = go[ox], z = 0;
    int32_t k = k32[ox];
    T e0 = k == 0 ? v : z, e1 = k == 1 ? v : z, e2 = k == 2 ? v : z, e3 = k == 3 ? v : z;
    d0[2 * ox] = e0;
    d0[2 * ox + 1] = e1;
    d1[2 * ox] = e2;
    d1[2 * ox + 1] = e3;
  }
}

static void TYPED(unmax2_row)(const T *go, const uint8_t *code, int64_t ow, T *d0, T *d1) {
  int32_t k32[LG_POOL2_SPAN];
  for (int64_t at = 0; at < ow; at += LG_POOL2_SPAN) {
    int64_t n = ow - at < LG_POOL2_SPAN ? ow - at : LG_POOL2_SPAN;
    for (int64_t i = 0; i < n; i++) k32[i] = code[at + i];
    TYPED(unmax2_span)(go + at, k32, n, d0 + 2 * at, d1 + 2 * at);
  }
}

/* code may be NULL (not recording) */
static void TYPED(max_pool_2x2)(const T *x, const pool_geom *g, T *out, uint8_t *code) {
#pragma omp parallel for schedule(static) if (parallel_planes(g))
  for (int64_t pl = 0; pl < g->planes; pl++) {
    const T *src = x + pl * g->h * g->w;
    T *o = out + pl * g->oh * g->ow;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      const T *r0 = src + 2 * oy * g->w;
      if (code) TYPED(max2_row)(r0, r0 + g->w, g->ow, o + oy * g->ow, code + (pl * g->oh + oy) * g->ow);
      else TYPED(max2_row_nc)(r0, r0 + g->w, g->ow, o + oy * g->ow);
    }
  }
}

/* Writes all of dx (uninitialised on entry); odd last rows/columns get zeros. */
static void TYPED(max_unpool_2x2)(const T *gout, const uint8_t *code, const pool_geom *g, T *dx) {
#pragma omp parallel for schedule(static) if (parallel_planes(g))
  for (int64_t pl = 0; pl < g->planes; pl++) {
    T *d = dx + pl * g->h * g->w;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      T *d0 = d + 2 * oy * g->w;
      TYPED(unmax2_row)(gout + (pl * g->oh + oy) * g->ow, code + (pl * g->oh + oy) * g->ow, g->ow, d0,
                        d0 + g->w);
      for (int64_t xx = 2 * g->ow; xx < g->w; xx++) d0[xx] = d0[g->w + xx] = 0;
    }
    for (int64_t i = 2 * g->oh * g->w; i < g->h * g->w; i++) d[i] = 0;
  }
}

/* arg may be NULL (not recording) */
static void TYPED(max_pool)(const T *x, const pool_geom *g, T *out, int64_t *arg) {
#pragma omp parallel for schedule(static) if (parallel_planes(g))
  for (int64_t pl = 0; pl < g->planes; pl++) {
    const T *src = x + pl * g->h * g->w;
    T *o = out + pl * g->oh * g->ow;
    int64_t *a = arg ? arg + pl * g->oh * g->ow : NULL;
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        pool_window win = window_at(g, oy, ox);
        T best = -INFINITY;
        int64_t at = win.y0 * g->w + win.x0; /* windows always hold a pixel when pad <= k/2 */
        for (int64_t y = win.y0; y < win.y1; y++)
          for (int64_t xx = win.x0; xx < win.x1; xx++) {
            T v = src[y * g->w + xx];
            if (v > best || isnan(v)) { /* PyTorch's rule: NaN propagates */
              best = v;
              at = y * g->w + xx;
            }
          }
        o[oy * g->ow + ox] = best;
        if (a) a[oy * g->ow + ox] = at;
      }
  }
}

/* dx (zeros on entry) += g at the winners' positions */
static void TYPED(max_unpool)(const T *gout, const int64_t *arg, const pool_geom *g, T *dx) {
#pragma omp parallel for schedule(static) if (parallel_planes(g))
  for (int64_t pl = 0; pl < g->planes; pl++) {
    T *d = dx + pl * g->h * g->w;
    const T *go = gout + pl * g->oh * g->ow;
    const int64_t *a = arg + pl * g->oh * g->ow;
    for (int64_t i = 0; i < g->oh * g->ow; i++) d[a[i]] += go[i];
  }
}

/* out[.., oy, ox] = src at the winner of window (oy, ox): positions, or 2x2 codes */
static void TYPED(max_gather)(const T *src, const void *arg, bool codes, const pool_geom *g, T *out) {
#pragma omp parallel for schedule(static) if (parallel_planes(g))
  for (int64_t pl = 0; pl < g->planes; pl++) {
    const T *s = src + pl * g->h * g->w;
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        int64_t i = (pl * g->oh + oy) * g->ow + ox, at;
        if (codes) {
          int k = ((const uint8_t *)arg)[i];
          at = (2 * oy + (k >> 1)) * g->w + 2 * ox + (k & 1);
        } else {
          at = ((const int64_t *)arg)[i];
        }
        out[i] = s[at];
      }
  }
}

static void TYPED(avg_pool)(const T *x, const pool_geom *g, T *out) {
#pragma omp parallel for schedule(static) if (parallel_planes(g))
  for (int64_t pl = 0; pl < g->planes; pl++) {
    const T *src = x + pl * g->h * g->w;
    T *o = out + pl * g->oh * g->ow;
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        pool_window win = window_at(g, oy, ox);
        double acc = 0;
        for (int64_t y = win.y0; y < win.y1; y++)
          for (int64_t xx = win.x0; xx < win.x1; xx++) acc += src[y * g->w + xx];
        o[oy * g->ow + ox] = (T)(acc / (double)win.divisor);
      }
  }
}

/* dx (zeros on entry) += g / divisor over each window's real pixels */
static void TYPED(avg_unpool)(const T *gout, const pool_geom *g, T *dx) {
#pragma omp parallel for schedule(static) if (parallel_planes(g))
  for (int64_t pl = 0; pl < g->planes; pl++) {
    T *d = dx + pl * g->h * g->w;
    const T *go = gout + pl * g->oh * g->ow;
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        pool_window win = window_at(g, oy, ox);
        T share = (T)(go[oy * g->ow + ox] / (double)win.divisor);
        for (int64_t y = win.y0; y < win.y1; y++)
          for (int64_t xx = win.x0; xx < win.x1; xx++) d[y * g->w + xx] += share;
      }
  }
}

#endif
