/* Softmax and log-softmax over one dim, with their backward rules.
 *
 * Both subtract the row's max before exponentiating, so logits of +-100 (or
 * +-1e30) neither overflow nor lose the small terms:
 *   softmax(x)     = exp(x - m) / sum(exp(x - m))
 *   log_softmax(x) = (x - m) - log(sum(exp(x - m)))
 * Sums are accumulated in double for float32 too. The input is viewed as a
 * contiguous [outer, len, inner] block normalised over len. inner == 1 (the last
 * dim: cross-entropy over [N, C]) is one pass per row; otherwise a task sweeps
 * whole rows of up to LG_SM_COLS columns with its running max/sum on the stack.
 *
 * Backward (s = softmax output, y = log_softmax output, both saved as outputs):
 *   softmax:     gx = s * (g - sum(g * s))
 *   log_softmax: gx = g - exp(y) * sum(g)
 * written with ops under create_graph (so the gradient is differentiable), and
 * by fused kernels otherwise: these ops sit in every training step. */
#include <math.h>
#include <string.h>

#include "ops/rules.h"

#define LG_SM_COLS 256

/* exp for float32 that the compiler vectorises (glibc's expf is a call per
 * element): Cephes' expf, x = n ln2 + r with |r| <= ln2/2 and a degree-5
 * polynomial for e^r, times 2^n applied as two normal factors 2^n1 * 2^n2 so
 * that results down to the smallest subnormal come out right (exp(-100) =
 * 3.8e-44, as libm). Max error ~1 ulp; NaN stays NaN, x < -104 gives 0 and
 * x > 88.75 gives +inf. Out-of-range inputs are patched afterwards by bit
 * masks rather than ?: on floats: GCC sinks the polynomial into the branch of
 * a float select and then cannot vectorise the loop. Rounding uses the
 * 1.5*2^23 trick, so no float->int conversion (undefined for NaN) is involved. */
static inline uint32_t sm_bits(float f) {
  union { float f; uint32_t u; } v = {f};
  return v.u;
}
static inline float sm_pow2(float n) { /* n integral in [-126, 127] */
  union { uint32_t u; float f; } v = {(sm_bits(n + 12582912.0f) - 0x4B400000u + 127u) << 23};
  return v.f;
}
static inline float sm_expf(float x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  float n1 = (n * 0.5f - 0.25f + magic) - magic; /* floor(n / 2) */
  float y = p * sm_pow2(n1) * sm_pow2(n - n1);
  uint32_t u = sm_bits(x), mag = u & 0x7FFFFFFFu, neg = u >> 31, num = mag <= 0x7F800000u;
  uint32_t under = neg & (mag > 0x42D00000u) & num;          /* x < -104 */
  uint32_t over = (neg ^ 1u) & (mag > 0x42B18000u) & num;    /* x > 88.75 */
  union { uint32_t u; float f; } out = {(sm_bits(y) & ((under | over) - 1u)) | (over * 0x7F800000u)};
  return out.f;
}

typedef struct {
  int64_t outer, len, inner;
} sm_blocks;

/* One task: rows [o0, o1) and columns [j0, j1) of the [outer, len, inner] view. */
typedef struct {
  int64_t o0, o1, j0, j1;
} sm_task;

#define SM_SIMD _Pragma("omp simd")
#define SM_PRAGMA(x) _Pragma(#x)
#define SM_SIMD_SUM(v) SM_PRAGMA(omp simd reduction(+ : v))
#define SM_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Row max in 8 independent lanes, which GCC keeps in vector registers (an
 * `omp simd reduction(max)` goes through a stack array instead). A NaN may be
 * skipped here; it still reaches every output through the sum of exps. */
#define DEFINE_SM_ROWMAX(NAME, T)                                                         \
  static inline T NAME(const T *x, int64_t len) {                                        \
    T m[8], best;                                                                         \
    int64_t r = 0;                                                                        \
    for (int k = 0; k < 8; k++) m[k] = x[0];                                              \
    for (; r + 8 <= len; r += 8)                                                          \
      for (int k = 0; k < 8; k++) m[k] = SM_MAX(x[r + k], m[k]);                          \
    best = m[0];                                                                          \
    for (int k = 1; k < 8; k++) best = SM_MAX(m[k], best);                                \
    for (; r < len; r++) best = SM_MAX(x[r], best);                                       \
    return best;                                                                          \
  }
DEFINE_SM_ROWMAX(sm_rowmax_f32, float)
DEFINE_SM_ROWMAX(sm_rowmax_f64, double)

/* ---- forward kernels: sm_forward_f32 / sm_forward_f64 ----------------------
 * Per row (inner == 1): m = max, then sum of e = exp(x - m), then the output. */

#define DEFINE_SM_FORWARD(NAME, T, EXP, ROWMAX)                                                 \
  static void NAME(const T *x, T *y, sm_blocks b, sm_task t, bool logarithm) {           \
    int64_t len = b.len, in = b.inner;                                                   \
    for (int64_t o = t.o0; o < t.o1; o++) {                                               \
      const T *xp = x + o * len * in;                                                     \
      T *yp = y + o * len * in;                                                           \
      if (in == 1) {                                                                      \
        T m = ROWMAX(xp, len);                                                            \
        double sum = 0; /* the exps go to y first (as scratch for log_softmax) */         \
        SM_SIMD_SUM(sum) for (int64_t r = 0; r < len; r++) sum += (yp[r] = EXP(xp[r] - m)); \
        if (logarithm) {                                                                  \
          T lse = (T)log(sum); /* (x - m) - lse: m + lse would round away digits */      \
          SM_SIMD for (int64_t r = 0; r < len; r++) yp[r] = (xp[r] - m) - lse;            \
        } else {                                                                          \
          T inv = (T)(1.0 / sum);                                                         \
          SM_SIMD for (int64_t r = 0; r < len; r++) yp[r] *= inv;                         \
        }                                                                                 \
        continue;                                                                         \
      }                                                                                   \
      T m[LG_SM_COLS];                                                                    \
      double sum[LG_SM_COLS];                                                             \
      int64_t w = t.j1 - t.j0;                                                            \
      xp += t.j0;                                                                         \
      yp += t.j0;                                                                         \
      SM_SIMD for (int64_t j = 0; j < w; j++) m[j] = xp[j], sum[j] = 0;                   \
      for (int64_t r = 1; r < len; r++)                                                   \
        SM_SIMD for (int64_t j = 0; j < w; j++) m[j] = SM_MAX(xp[r * in + j], m[j]);      \
      for (int64_t r = 0; r < len; r++) {                                                 \
        const T *xr = xp + r * in;                                                        \
        T *yr = yp + r * in;                                                              \
        SM_SIMD for (int64_t j = 0; j < w; j++) sum[j] += (yr[j] = EXP(xr[j] - m[j]));    \
      }                                                                                   \
      if (logarithm) {                                                                    \
        T lse[LG_SM_COLS];                                                                \
        for (int64_t j = 0; j < w; j++) lse[j] = (T)log(sum[j]);                          \
        for (int64_t r = 0; r < len; r++)                                                 \
          SM_SIMD for (int64_t j = 0; j < w; j++)                                         \
            yp[r * in + j] = (xp[r * in + j] - m[j]) - lse[j];                            \
      } else {                                                                            \
        SM_SIMD for (int64_t j = 0; j < w; j++) m[j] = (T)(1.0 / sum[j]);                 \
        for (int64_t r = 0; r < len; r++)                                                 \
          SM_SIMD for (int64_t j = 0; j < w; j++) yp[r * in + j] *= m[j];                 \
      }                                                                                   \
    }                                                                                     \
  }

DEFINE_SM_FORWARD(sm_forward_f32, float, sm_expf, sm_rowmax_f32)
DEFINE_SM_FORWARD(sm_forward_f64, double, exp, sm_rowmax_f64)

/* ---- backward kernels: sm_backward_f32 / sm_backward_f64 -------------------- */

#define DEFINE_SM_BACKWARD(NAME, T, EXP)                                                  \
  static void NAME(const T *g, const T *s, T *gx, sm_blocks b, sm_task t, bool logarithm) { \
    int64_t len = b.len, in = b.inner;                                                   \
    for (int64_t o = t.o0; o < t.o1; o++) {                                               \
      int64_t base = o * len * in;                                                        \
      const T *gp = g + base, *sp = s + base;                                             \
      T *dp = gx + base;                                                                  \
      if (in == 1) {                                                                      \
        double acc = 0;                                                                   \
        if (logarithm) {                                                                  \
          SM_SIMD_SUM(acc) for (int64_t r = 0; r < len; r++) acc += gp[r];                \
          T total = (T)acc;                                                               \
          SM_SIMD for (int64_t r = 0; r < len; r++) dp[r] = gp[r] - EXP(sp[r]) * total;   \
        } else {                                                                          \
          SM_SIMD_SUM(acc) for (int64_t r = 0; r < len; r++) acc += (double)(gp[r] * sp[r]); \
          T dot = (T)acc;                                                                 \
          SM_SIMD for (int64_t r = 0; r < len; r++) dp[r] = sp[r] * (gp[r] - dot);        \
        }                                                                                 \
        continue;                                                                         \
      }                                                                                   \
      double acc[LG_SM_COLS];                                                             \
      T tot[LG_SM_COLS];                                                                  \
      int64_t w = t.j1 - t.j0;                                                            \
      gp += t.j0;                                                                         \
      sp += t.j0;                                                                         \
      dp += t.j0;                                                                         \
      SM_SIMD for (int64_t j = 0; j < w; j++) acc[j] = 0;                                 \
      for (int64_t r = 0; r < len; r++) {                                                 \
        if (logarithm) SM_SIMD for (int64_t j = 0; j < w; j++) acc[j] += gp[r * in + j];  \
        else SM_SIMD for (int64_t j = 0; j < w; j++) acc[j] += (double)(gp[r * in + j] * sp[r * in + j]); \
      }                                                                                   \
      SM_SIMD for (int64_t j = 0; j < w; j++) tot[j] = (T)acc[j];                         \
      for (int64_t r = 0; r < len; r++) {                                                 \
        const T *gr = gp + r * in, *sr = sp + r * in;                                     \
        T *dr = dp + r * in;                                                              \
        if (logarithm) SM_SIMD for (int64_t j = 0; j < w; j++) dr[j] = gr[j] - EXP(sr[j]) * tot[j]; \
        else SM_SIMD for (int64_t j = 0; j < w; j++) dr[j] = sr[j] * (gr[j] - tot[j]);    \
      }                                                                                   \
    }                                                                                     \
  }

DEFINE_SM_BACKWARD(sm_backward_f32, float, sm_expf)
DEFINE_SM_BACKWARD(sm_backward_f64, double, exp)

/* ---- driver: splits the work into tasks, threaded above LG_PARALLEL_GRAIN --- */

typedef enum { SM_FORWARD, SM_BACKWARD } sm_pass;

static void run_tasks(sm_pass pass, lg_dtype dtype, const void *a, const void *b2, void *dst,
                      sm_blocks b, bool logarithm) {
  int64_t cols = b.inner == 1 ? 1 : (b.inner + LG_SM_COLS - 1) / LG_SM_COLS;
  /* Rows per task: enough work per task (~4k elements) to amortise scheduling. */
  int64_t per_row = b.len * (b.inner < LG_SM_COLS ? b.inner : LG_SM_COLS);
  int64_t rows = per_row >= 4096 ? 1 : 4096 / (per_row > 0 ? per_row : 1);
  int64_t row_tasks = (b.outer + rows - 1) / rows, tasks = row_tasks * cols;
#pragma omp parallel for schedule(static) if (b.outer * b.len * b.inner >= LG_PARALLEL_GRAIN && tasks > 1)
  for (int64_t k = 0; k < tasks; k++) {
    int64_t rt = k / cols, ct = k % cols;
    sm_task t = {rt * rows, (rt + 1) * rows < b.outer ? (rt + 1) * rows : b.outer, 0, 1};
    if (b.inner > 1) {
      t.j0 = ct * LG_SM_COLS;
      t.j1 = t.j0 + LG_SM_COLS < b.inner ? t.j0 + LG_SM_COLS : b.inner;
    }
    if (pass == SM_FORWARD) {
      if (dtype == LG_F32) sm_forward_f32(a, dst, b, t, logarithm);
      else sm_forward_f64(a, dst, b, t, logarithm);
    } else {
      if (dtype == LG_F32) sm_backward_f32(a, b2, dst, b, t, logarithm);
      else sm_backward_f64(a, b2, dst, b, t, logarithm);
    }
  }
}

static sm_blocks split_at(int ndim, const int64_t *shape, int d) {
  sm_blocks b = {1, 1, 1};
  for (int k = 0; k < ndim; k++) {
    if (k < d) b.outer *= shape[k];
    else if (k == d) b.len = shape[k];
    else b.inner *= shape[k];
  }
  return b;
}

/* ---- the ops -------------------------------------------------------------- */

static lg_tensor *softmax_impl(lg_tensor *a, int dim, bool logarithm) {
  int d;
  if (lg_wrap_dim(dim, a->ndim, &d)) return NULL;
  /* int64 logits are promoted to float32; the copy is recorded in no graph */
  bool was = lg_set_grad_enabled(false);
  lg_tensor *f = lg_to_dtype(a, a->dtype == LG_I64 ? LG_F32 : a->dtype);
  lg_tensor *c = f ? lg_contiguous(f) : NULL;
  lg_set_grad_enabled(was);
  lg_release(f);
  lg_tensor *out = c ? lg_new_like_shape(a->ndim, a->shape, c->dtype) : NULL;
  if (!out) {
    lg_release(c);
    return NULL;
  }
  sm_blocks b = split_at(a->ndim, a->shape, d);
  if (lg_numel(a) > 0) run_tasks(SM_FORWARD, c->dtype, lg_data_ptr(c), NULL, lg_data_ptr(out), b, logarithm);
  lg_release(c);
  lg_tensor *in[1] = {a};
  lg_node *node;
  out = lg_recorded(logarithm ? &lg_op_log_softmax : &lg_op_softmax, out, in, 1, &out, 1, &node);
  if (node) node->i[0] = d;
  return out;
}

lg_tensor *lg_softmax(lg_tensor *a, int dim) { return softmax_impl(a, dim, false); }
lg_tensor *lg_log_softmax(lg_tensor *a, int dim) { return softmax_impl(a, dim, true); }

/* The fused first-order gradient (grad mode off in the rule: no create_graph). */
static lg_tensor *softmax_grad_fused(lg_node *n, lg_tensor *g, bool logarithm) {
  lg_tensor *out = n->saved[0]; /* contiguous: made by the forward */
  lg_tensor *gc = lg_dense(g, out->dtype);
  lg_tensor *gx = gc ? lg_new_like_shape(out->ndim, out->shape, out->dtype) : NULL;
  sm_blocks b = split_at(out->ndim, out->shape, (int)n->i[0]);
  if (gx && lg_numel(out) > 0)
    run_tasks(SM_BACKWARD, out->dtype, lg_data_ptr(gc), lg_data_ptr(out), lg_data_ptr(gx), b, logarithm);
  lg_release(gc);
  return gx;
}

static void softmax_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  int d = (int)n->i[0];
  if (!lg_grad_enabled()) {
    gin[0] = lg_adopt(softmax_grad_fused(n, g, false));
    return;
  }
  lg_tensor *y = lg_rule_output(n, 0);
  gin[0] = G_mul(y, G_sub(g, G_sum(G_mul(g, y), d, true)));
}
LG_DEFINE_OP(softmax);

static void log_softmax_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  int d = (int)n->i[0];
  if (!lg_grad_enabled()) {
    gin[0] = lg_adopt(softmax_grad_fused(n, g, true));
    return;
  }
  lg_tensor *y = lg_rule_output(n, 0);
  gin[0] = G_sub(g, G_mul(G_exp(y), G_sum(g, d, true)));
}
LG_DEFINE_OP(log_softmax);
