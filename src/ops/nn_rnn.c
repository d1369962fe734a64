/* Recurrent layers: one call runs one layer in one direction over all time steps
 * (nn.RNN / nn.LSTM / nn.GRU call it once per layer and direction; the cells
 * call it with T = 1). PyTorch's formulas, gate orders and weight layouts:
 *   rnn_tanh / rnn_relu  h' = act(W_ih x + b_ih + W_hh h + b_hh)
 *   lstm   i, f, g, o = s(.), s(.), tanh(.), s(.) of W_ih x + b_ih + W_hh h + b_hh
 *          c' = f c + i g,  h' = o tanh(c'),  then h' = W_hr h' with proj_size
 *   gru    r, z = s(W_ir x + b_ir + W_hr h + b_hr), s(...z...)
 *          n = tanh(W_in x + b_in + r (W_hn h + b_hn)),  h' = (1 - z) n + z h
 *
 *   Y = lg_rnn(mode, x [T,B,I], h0 [B,P], c0 [B,H] | NULL, w_ih [G*H,I], w_hh [G*H,P],
 *              b_ih [G*H] | NULL, b_hh | NULL, w_hr [P,H] | NULL, lengths [B] int64 | NULL,
 *              reverse)
 * returns Y [T+1, B, S], S = P (+ H for lstm), P = proj_size or H: rows 0..T-1 are
 * the outputs (h_t, and for lstm c_t in the last H columns), row T the final
 * state (h_n, c_n). With lengths, sequence b runs over steps 0..len_b-1 only (in
 * reverse from len_b-1 down to 0): its output rows past len_b are 0 and its
 * state is carried unchanged through them, so row T holds the state after its
 * last real step, exactly as PyTorch's packed sequences.
 *
 * Forward: the input projections of all steps are one GEMM [T*B, I] x [I, G*H]
 * (lg_gemm_f32/f64); then per step one GEMM [B, P] x [P, G*H] and the gates.
 * Backward (first order) is fused: per step the gate gradients and one GEMM
 * back through W_hh (and W_hr); the weight and input gradients of all steps are
 * then one GEMM each. Under create_graph the rule recomputes the forward with
 * registered ops and writes backward through time with them (per step: slow,
 * but differentiable again).
 *
 * Saved: the output Y (slot 0, as the op's output) and the gate workspace (slot 1)
 * in the node's slots, freed after backward; the inputs, their dense forms and
 * the lengths in the node's custom record, with their versions checked by the
 * rule as the engine checks its slots.
 *
 * The typed kernels sit after `#else`; the file includes itself for float and
 * double (TYPED(name) is name_f32 / name_f64). */
#ifndef LG_RNN_KERNELS
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/rules.h"

typedef enum { RNN_TANH, RNN_RELU, RNN_LSTM, RNN_GRU } rnn_mode;

typedef struct {
  rnn_mode mode;
  int64_t T, B, I, H, P, S, G, W; /* S: Y's columns; G: gates; W: workspace columns per row */
  bool reverse, proj;
  const int64_t *len; /* NULL: every sequence has length T */
} rnn_dims;

static const char *const MODE_NAMES[] = {"rnn_tanh", "rnn_relu", "lstm", "gru"};

static inline bool rnn_valid(const rnn_dims *d, int64_t t, int64_t b) { return !d->len || t < d->len[b]; }
/* Step t's predecessor in processing order, or -1 for the initial state. */
static inline int64_t rnn_prev(const rnn_dims *d, int64_t t, int64_t b) {
  if (!d->reverse) return t - 1;
  int64_t L = d->len ? d->len[b] : d->T;
  return t + 1 < L ? t + 1 : -1;
}

/* float32 gate functions on 8 lanes (GCC vector extensions: ymm in the AVX2 clone, two
 * xmm otherwise), so the gate loops are vector code (glibc's tanhf, through expm1f, was
 * half the LSTM's time): exp as Cephes' expf (range reduction, degree-6 polynomial,
 * within 8e-8 relative), the sigmoid 1 / (1 + e^-x), tanh as a rational approximation
 * below |x| = 0.5 (Eigen's fast tanh) and 1 - 2 / (e^2|x| + 1) above, exact near
 * saturation where the gradient 1 - tanh^2 is read. Checked over every float: relative
 * errors against tanh and the sigmoid in double of 2.9e-7 and 1.5e-7 (glibc's tanhf:
 * 1.6e-7). float64 runs libm. */
#pragma GCC diagnostic ignored "-Wpsabi" /* the vector helpers are static: no ABI crosses the file */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
#define v_sel(m, a, b) ((v8f)(((v8i)(a) & (m)) | ((v8i)(b) & ~(m))))
static inline v8f v_exp_p(const v8f *px) { /* by pointer: no 32-byte vector argument (psabi) */
  v8f x = *px;
  const v8f lo = (v8f){0} - 87.0f, hi = (v8f){0} + 88.0f;
  x = v_sel(x < lo, lo, x);
  x = v_sel(x > hi, hi, x);
  v8f fx = x * 1.44269504088896341f + 0.5f;
  v8f n = __builtin_convertvector(__builtin_convertvector(fx, v8i), v8f);
  n = v_sel(n > fx, n - 1.0f, n); /* floor */
  x = x - n * 0.693359375f - n * -2.12194440e-4f;
  v8f y = ((((1.9875691500E-4f * x + 1.3981999507E-3f) * x + 8.3334519073E-3f) * x + 4.1665795894E-2f) * x +
           1.6666665459E-1f) * x + 5.0000001201E-1f;
  y = y * (x * x) + x + 1.0f;
  v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
  return y * (v8f)e;
}
#define v_exp(x) ({ v8f e_ = (x); v_exp_p(&e_); })
static inline v8f v_sigm_p(const v8f *px) { return 1.0f / (1.0f + v_exp(-*px)); }
#define v_sigm(x) ({ v8f s_ = (x); v_sigm_p(&s_); })
static inline v8f v_tanh_p(const v8f *px) {
  v8f x = *px;
  v8f ax = (v8f)((v8i)x & 0x7fffffff);
  v8f big = 1.0f - 2.0f / (v_exp(2.0f * ax) + 1.0f);
  big = (v8f)((v8i)big | ((v8i)x & (int32_t)0x80000000));
  v8f x2 = x * x;
  v8f p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  v8f q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return v_sel(ax < 0.5f, p * x / q, big); /* p/q is 1 - 1.3e-7 at 0: within an ulp */
}
#define v_tanh(x) ({ v8f t_ = (x); v_tanh_p(&t_); })
/* n (1..8) floats at p as a vector (zeros beyond n), and back */
static inline v8f v_load(const float *p, int64_t n) {
  v8f v = {0};
  if (n == 8) memcpy(&v, p, sizeof v);
  else memcpy(&v, p, (size_t)n * sizeof(float));
  return v;
}
static inline void v_store_p(float *p, const v8f *v, int64_t n) {
  if (n == 8) memcpy(p, v, sizeof *v);
  else memcpy(p, v, (size_t)n * sizeof(float));
}
#define V_ROWS(H) for (int64_t j = 0, n_ = (H) < 8 ? (H) : 8; j < (H); j += 8, n_ = (H) - j < 8 ? (H) - j : 8)
#define VL(p) v_load((p) + j, n_)
#define VS(p, v) do { v8f w_ = (v); v_store_p((p) + j, &w_, n_); } while (0)

LG_VECTOR_CLONES static void lstm_row_v(int64_t H, float *gi, float *gf, float *gg, float *go, const float *cp,
                                        float *yc, float *yh) {
  V_ROWS(H) {
    v8f i = v_sigm(VL(gi)), f = v_sigm(VL(gf)), g = v_tanh(VL(gg)), o = v_sigm(VL(go));
    VS(gi, i);
    VS(gf, f);
    VS(gg, g);
    VS(go, o);
    v8f c = f * VL(cp) + i * g;
    VS(yc, c);
    VS(yh, o * v_tanh(c));
  }
}
LG_VECTOR_CLONES static void gru_row_v(int64_t H, const float *xb, const float *hb, const float *hprev, float *wr,
                                       float *wz, float *wn, float *whn, float *yh) {
  V_ROWS(H) {
    v8f r = v_sigm(VL(xb) + VL(hb)), z = v_sigm(VL(xb + H) + VL(hb + H)), hn = VL(hb + 2 * H);
    v8f nn = v_tanh(VL(xb + 2 * H) + r * hn);
    VS(wr, r);
    VS(wz, z);
    VS(wn, nn);
    VS(whn, hn);
    VS(yh, nn + z * (VL(hprev) - nn));
  }
}
LG_VECTOR_CLONES static void lstm_row_back_v(int64_t H, const float *gi, const float *gf, const float *gg,
                                             const float *go, const float *cn, const float *cp, const float *gc,
                                             const float *dhh, float *dc, float *di, float *df, float *dgg,
                                             float *dout) {
  V_ROWS(H) {
    v8f i = VL(gi), f = VL(gf), g = VL(gg), o = VL(go), tc = v_tanh(VL(cn)), dhv = VL(dhh);
    v8f dcc = VL(dc) + VL(gc) + dhv * o * (1.0f - tc * tc);
    VS(di, dcc * g * i * (1.0f - i));
    VS(df, dcc * VL(cp) * f * (1.0f - f));
    VS(dgg, dcc * i * (1.0f - g * g));
    VS(dout, dhv * tc * o * (1.0f - o));
    VS(dc, dcc * f);
  }
}
/* out = a * tanh(x) (a NULL: tanh(x)) */
LG_VECTOR_CLONES static void mul_tanh_v(int64_t H, const float *a, const float *x, float *out) {
  V_ROWS(H) {
    v8f t = v_tanh(VL(x));
    VS(out, a ? VL(a) * t : t);
  }
}
#undef V_ROWS
#undef VL
#undef VS

static inline double rnn_sigm(double v) { return v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v)); }

#define LG_RNN_KERNELS
#define T_ float
#define TYPED(name) name##_f32
#define GEMM lg_gemm_f32
#define RNN_F32
#define SIGM(v) (1 / (1 + expf(-(v))))
#define TANH(v) tanhf(v) /* unused: the float rows are vector code */
#include "ops/nn_rnn.c"
#undef T_
#undef TYPED
#undef GEMM
#undef SIGM
#undef RNN_F32
#undef TANH
#define T_ double
#define TYPED(name) name##_f64
#define GEMM lg_gemm_f64
#define SIGM rnn_sigm
#define TANH tanh
#include "ops/nn_rnn.c"
#undef T_
#undef TYPED
#undef GEMM
#undef SIGM
#undef TANH
#undef LG_RNN_KERNELS

/* ---- what the node keeps besides its slots ------------------------------------- */
enum { K_X, K_H0, K_C0, K_WIH, K_WHH, K_BIH, K_BHH, K_WHR, K_LEN, K_XD, K_H0D, K_C0D, K_WIHD, K_WHHD, K_WHRD, K_N };
typedef struct {
  lg_tensor *t[K_N];
  uint64_t ver[K_N];
  rnn_dims d;
} rnn_record;

static void rnn_record_free(void *p) {
  rnn_record *r = p;
  if (!r) return;
  for (int k = 0; k < K_N; k++) lg_release(r->t[k]);
  free(r);
}

static void keep(rnn_record *r, int k, lg_tensor *t) {
  if (!t) return;
  lg_retain(t);
  r->t[k] = t;
  r->ver[k] = t->storage->version;
}

static const lg_op_info *op_of(rnn_mode m) {
  switch (m) {
  case RNN_TANH: return &lg_op_rnn_tanh;
  case RNN_RELU: return &lg_op_rnn_relu;
  case RNN_LSTM: return &lg_op_lstm;
  default: return &lg_op_gru;
  }
}

static bool shape_is(const lg_tensor *t, int ndim, int64_t d0, int64_t d1) {
  return t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
}

/* mode: 0 tanh, 1 relu, 2 lstm, 3 gru (lg_rnn_mode_from_name in the binding). */
lg_tensor *lg_rnn(int mode_i, lg_tensor *x, lg_tensor *h0, lg_tensor *c0, lg_tensor *w_ih, lg_tensor *w_hh,
                  lg_tensor *b_ih, lg_tensor *b_hh, lg_tensor *w_hr, lg_tensor *lengths, bool reverse) {
  char s1[96], s2[96];
  if (mode_i < 0 || mode_i > 3) return lg_fail("unknown recurrent mode %d", mode_i);
  rnn_mode mode = (rnn_mode)mode_i;
  const char *name = MODE_NAMES[mode];
  if (!x || !h0 || !w_ih || !w_hh) return lg_fail("%s: input, h0, w_ih and w_hh are required", name);
  if (mode == RNN_LSTM && !c0) return lg_fail("lstm: c0 is required");
  if (mode != RNN_LSTM && (c0 || w_hr)) return lg_fail("%s: c0 and w_hr are for lstm only", name);
  lg_tensor *all[8] = {x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr};
  static const char *const WHAT[8] = {"input", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr"};
  if (!lg_is_float(x->dtype)) return lg_fail("%s: input must be float32 or float64, got %s", name, lg_dtype_name(x->dtype));
  for (int k = 1; k < 8; k++)
    if (all[k] && all[k]->dtype != x->dtype)
      return lg_fail("%s: %s is %s but the input is %s (one float dtype for input, states and weights)", name,
                     WHAT[k], lg_dtype_name(all[k]->dtype), lg_dtype_name(x->dtype));
  if (x->ndim != 3 || x->shape[0] < 1)
    return lg_fail("%s: input must be 3-d [T, B, input_size] with T >= 1, got %s", name, lg_shape_str(x, s1, sizeof s1));
  rnn_dims d = {.mode = mode, .T = x->shape[0], .B = x->shape[1], .I = x->shape[2], .reverse = reverse};
  d.G = mode == RNN_LSTM ? 4 : mode == RNN_GRU ? 3 : 1;
  if (w_ih->ndim != 2 || w_ih->shape[0] % d.G != 0 || w_ih->shape[0] == 0)
    return lg_fail("%s: w_ih must be 2-d [%lld*hidden_size, input_size], got %s", name, (long long)d.G,
                   lg_shape_str(w_ih, s1, sizeof s1));
  d.H = w_ih->shape[0] / d.G;
  if (w_ih->shape[1] != d.I)
    return lg_fail("%s: input %s does not match w_ih %s (expected input_size %lld)", name, lg_shape_str(x, s1, sizeof s1),
                   lg_shape_str(w_ih, s2, sizeof s2), (long long)w_ih->shape[1]);
  d.proj = w_hr != NULL;
  if (w_hr && (w_hr->ndim != 2 || w_hr->shape[1] != d.H || w_hr->shape[0] < 1 || w_hr->shape[0] >= d.H))
    return lg_fail("lstm: w_hr must be [proj_size, %lld] with 0 < proj_size < hidden_size, got %s", (long long)d.H,
                   lg_shape_str(w_hr, s1, sizeof s1));
  d.P = w_hr ? w_hr->shape[0] : d.H;
  d.S = d.P + (mode == RNN_LSTM ? d.H : 0);
  d.W = mode == RNN_LSTM || mode == RNN_GRU ? 4 * d.H : 0;
  if (!shape_is(w_hh, 2, d.G * d.H, d.P))
    return lg_fail("%s: w_hh must be [%lld, %lld], got %s", name, (long long)(d.G * d.H), (long long)d.P,
                   lg_shape_str(w_hh, s1, sizeof s1));
  if (b_ih && !shape_is(b_ih, 1, d.G * d.H, 0))
    return lg_fail("%s: b_ih must be [%lld], got %s", name, (long long)(d.G * d.H), lg_shape_str(b_ih, s1, sizeof s1));
  if (b_hh && !shape_is(b_hh, 1, d.G * d.H, 0))
    return lg_fail("%s: b_hh must be [%lld], got %s", name, (long long)(d.G * d.H), lg_shape_str(b_hh, s1, sizeof s1));
  if (!shape_is(h0, 2, d.B, d.P))
    return lg_fail("%s: h0 must be [%lld, %lld] (batch, %s), got %s", name, (long long)d.B, (long long)d.P,
                   w_hr ? "proj_size" : "hidden_size", lg_shape_str(h0, s1, sizeof s1));
  if (c0 && !shape_is(c0, 2, d.B, d.H))
    return lg_fail("lstm: c0 must be [%lld, %lld] (batch, hidden_size), got %s", (long long)d.B, (long long)d.H,
                   lg_shape_str(c0, s1, sizeof s1));
  lg_tensor *lend = NULL;
  if (lengths) {
    if (lengths->dtype != LG_I64 || !shape_is(lengths, 1, d.B, 0))
      return lg_fail("%s: lengths must be an int64 tensor [%lld] (one per sequence), got %s %s", name, (long long)d.B,
                     lg_dtype_name(lengths->dtype), lg_shape_str(lengths, s1, sizeof s1));
    if (!(lend = lg_dense(lengths, LG_I64))) return NULL;
    const int64_t *lp = lg_data_ptr(lend);
    for (int64_t b = 0; b < d.B; b++)
      if (lp[b] < 1 || lp[b] > d.T) {
        lg_release(lend);
        return lg_fail("%s: lengths[%lld] = %lld is out of range (lengths must be in 1..%lld, the input's T)", name,
                       (long long)b, (long long)lp[b], (long long)d.T);
      }
    d.len = lp;
  }

  lg_dtype dt = x->dtype;
  lg_tensor *xd = lg_dense(x, dt), *h0d = lg_dense(h0, dt), *c0d = c0 ? lg_dense(c0, dt) : NULL;
  lg_tensor *wihd = lg_dense(w_ih, dt), *whhd = lg_dense(w_hh, dt), *whrd = w_hr ? lg_dense(w_hr, dt) : NULL;
  lg_tensor *bihd = b_ih ? lg_dense(b_ih, dt) : NULL, *bhhd = b_hh ? lg_dense(b_hh, dt) : NULL;
  int64_t yshape[3] = {d.T + 1, d.B, d.S}, wshape[3] = {d.T, d.B, d.W > 0 ? d.W : 1};
  lg_tensor *Y = lg_new_like_shape(3, yshape, dt);
  lg_tensor *ws = d.W > 0 ? lg_new_like_shape(3, wshape, dt) : NULL;
  lg_tensor *out = NULL;
  bool ok = xd && h0d && (c0d || !c0) && wihd && whhd && (whrd || !w_hr) && (bihd || !b_ih) && (bhhd || !b_hh) && Y &&
            (ws || d.W == 0);
  if (ok) {
    int rc = dt == LG_F32
                 ? forward_f32(&d, lg_data_ptr(xd), lg_data_ptr(h0d), c0d ? lg_data_ptr(c0d) : NULL, lg_data_ptr(wihd),
                               lg_data_ptr(whhd), bihd ? lg_data_ptr(bihd) : NULL, bhhd ? lg_data_ptr(bhhd) : NULL,
                               whrd ? lg_data_ptr(whrd) : NULL, lg_data_ptr(Y), ws ? lg_data_ptr(ws) : NULL)
                 : forward_f64(&d, lg_data_ptr(xd), lg_data_ptr(h0d), c0d ? lg_data_ptr(c0d) : NULL, lg_data_ptr(wihd),
                               lg_data_ptr(whhd), bihd ? lg_data_ptr(bihd) : NULL, bhhd ? lg_data_ptr(bhhd) : NULL,
                               whrd ? lg_data_ptr(whrd) : NULL, lg_data_ptr(Y), ws ? lg_data_ptr(ws) : NULL);
    ok = rc == 0;
  }
  if (ok && lg_should_record(all, 8)) {
    rnn_record *r = calloc(1, sizeof *r);
    lg_node *node = r ? lg_record(op_of(mode), Y, all, 8) : NULL;
    if (!node) {
      rnn_record_free(r);
      lg_fail("out of memory recording %s", name);
      ok = false;
    } else {
      r->d = d;
      keep(r, K_X, x), keep(r, K_H0, h0), keep(r, K_C0, c0), keep(r, K_WIH, w_ih), keep(r, K_WHH, w_hh);
      keep(r, K_BIH, b_ih), keep(r, K_BHH, b_hh), keep(r, K_WHR, w_hr), keep(r, K_LEN, lend);
      keep(r, K_XD, xd), keep(r, K_H0D, h0d), keep(r, K_C0D, c0d), keep(r, K_WIHD, wihd), keep(r, K_WHHD, whhd);
      keep(r, K_WHRD, whrd);
      r->d.len = lend ? lg_data_ptr(lend) : NULL;
      node->custom = r;
      node->free_custom = rnn_record_free;
      if (lg_save_output(node, 0, Y) != 0) ok = false;
      if (ws) lg_save(node, 1, ws);
    }
  }
  if (ok) {
    out = Y;
    Y = NULL;
  }
  lg_release(Y);
  lg_release(ws);
  lg_release(xd), lg_release(h0d), lg_release(c0d), lg_release(wihd), lg_release(whhd), lg_release(whrd);
  lg_release(bihd), lg_release(bhhd), lg_release(lend);
  return out;
}

/* ---- backward -------------------------------------------------------------------- */

static int check_record(const lg_node *n, const rnn_record *r) {
  static const char *const WHAT[K_N] = {"input", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "lengths",
                                        "input", "h0", "c0", "w_ih", "w_hh", "w_hr"};
  for (int k = 0; k < K_N; k++)
    if (r->t[k] && r->t[k]->storage->version != r->ver[k])
      return lg_failed("the %s that '%s' saved for its gradient was modified by an in-place operation after the "
                       "op (version %llu, now %llu); modify a clone() instead, or after backward",
                       WHAT[k], n->op->name, (unsigned long long)r->ver[k],
                       (unsigned long long)r->t[k]->storage->version);
  return 0;
}

static void *ptr_or_null(lg_tensor *t) { return t ? lg_data_ptr(t) : NULL; }

/* The fused first-order backward. */
static void rnn_fused_grads(lg_node *n, const rnn_record *r, lg_tensor *g, lg_tensor **gin) {
  const rnn_dims *d = &r->d;
  lg_dtype dt = r->t[K_XD]->dtype;
  lg_tensor *gd = lg_adopt(lg_dense(g, dt));
  if (!gd) return;
  lg_tensor *res[8] = {0};
  const lg_tensor *like[8] = {r->t[K_XD], r->t[K_H0D], r->t[K_C0D], r->t[K_WIHD], r->t[K_WHHD],
                              r->t[K_BIH], r->t[K_BHH], r->t[K_WHRD]};
  for (int k = 0; k < 8; k++) /* every gradient is computed (the GEMMs need the buffers anyway) */
    if (like[k] && !(res[k] = lg_adopt(lg_new_like_shape(like[k]->ndim, like[k]->shape, dt)))) return;
  int rc = dt == LG_F32
               ? backward_f32(d, lg_data_ptr(gd), lg_data_ptr(n->saved[0]), ptr_or_null(n->saved[1]),
                              lg_data_ptr(r->t[K_XD]), lg_data_ptr(r->t[K_H0D]), ptr_or_null(r->t[K_C0D]),
                              lg_data_ptr(r->t[K_WIHD]), lg_data_ptr(r->t[K_WHHD]), ptr_or_null(r->t[K_WHRD]),
                              n->inputs[0].needs_grad, ptr_or_null(res[0]), ptr_or_null(res[1]), ptr_or_null(res[2]),
                              ptr_or_null(res[3]), ptr_or_null(res[4]), ptr_or_null(res[5]), ptr_or_null(res[6]),
                              ptr_or_null(res[7]))
               : backward_f64(d, lg_data_ptr(gd), lg_data_ptr(n->saved[0]), ptr_or_null(n->saved[1]),
                              lg_data_ptr(r->t[K_XD]), lg_data_ptr(r->t[K_H0D]), ptr_or_null(r->t[K_C0D]),
                              lg_data_ptr(r->t[K_WIHD]), lg_data_ptr(r->t[K_WHHD]), ptr_or_null(r->t[K_WHRD]),
                              n->inputs[0].needs_grad, ptr_or_null(res[0]), ptr_or_null(res[1]), ptr_or_null(res[2]),
                              ptr_or_null(res[3]), ptr_or_null(res[4]), ptr_or_null(res[5]), ptr_or_null(res[6]),
                              ptr_or_null(res[7]));
  if (rc != 0) return;
  for (int k = 0; k < 8; k++)
    if (n->inputs[k].needs_grad) gin[k] = res[k];
}

/* ---- under create_graph: the same gradients as registered ops ---------------------- */
static lg_tensor *G_lin(lg_tensor *x, lg_tensor *w, lg_tensor *b) { return x && w ? lg_adopt(lg_linear(x, w, b)) : NULL; }
static lg_tensor *G_join(lg_tensor **ts, int n, int dim, bool stack) {
  for (int k = 0; k < n; k++)
    if (!ts[k]) return NULL;
  return lg_adopt(stack ? lg_stack(ts, n, dim) : lg_cat(ts, n, dim));
}
static lg_tensor *G_flat(lg_tensor *t, int64_t rows, int64_t cols) { return G_reshape(t, 2, (int64_t[2]){rows, cols}); }
static lg_tensor *G_one_minus(lg_tensor *t) { return G_rsub_scalar(t, 1); }
/* s (1 - s) and 1 - t^2: the derivatives of sigmoid and tanh from their outputs */
static lg_tensor *G_dsig(lg_tensor *s) { return G_mul(s, G_one_minus(s)); }
static lg_tensor *G_dtanh(lg_tensor *t) { return G_one_minus(G_mul(t, t)); }

typedef struct { /* per step (index t), what backward reads */
  lg_tensor *a, *b, *c, *e, *hprev, *cprev, *cnew, *tc, *hh, *hn;
} step_vals;

static void rnn_graph_grads(lg_node *n, const rnn_record *r, lg_tensor *g, lg_tensor **gin) {
  const rnn_dims *d = &r->d;
  int64_t T = d->T, B = d->B, I = d->I, H = d->H, P = d->P, GH = d->G * d->H;
  lg_dtype dt = r->t[K_X]->dtype;
  lg_tensor *x = r->t[K_X], *wih = r->t[K_WIH], *whh = r->t[K_WHH], *bih = r->t[K_BIH], *bhh = r->t[K_BHH];
  lg_tensor *whr = r->t[K_WHR];
  step_vals *sv = calloc((size_t)T, sizeof *sv);
  lg_tensor **mask = d->len ? calloc((size_t)(2 * T), sizeof *mask) : NULL; /* m_t, 1 - m_t: [B, 1] */
  lg_tensor **dX = calloc((size_t)(5 * T), sizeof *dX), **dH = dX + T, **hp = dX + 2 * T, **dHo = dX + 3 * T,
            **hhs = dX + 4 * T;
  if (!sv || !dX || (d->len && !mask)) {
    lg_failed("out of memory in %s backward", n->op->name);
    goto done;
  }
  if (d->len)
    for (int64_t t = 0; t < T; t++) {
      int64_t shape[2] = {B, 1};
      if (!(mask[t] = lg_adopt(lg_new_like_shape(2, shape, dt))) || !(mask[T + t] = lg_adopt(lg_new_like_shape(2, shape, dt))))
        goto done;
      for (int64_t b = 0; b < B; b++) {
        lg_store_float(lg_data_ptr(mask[t]), dt, b, rnn_valid(d, t, b) ? 1 : 0);
        lg_store_float(lg_data_ptr(mask[T + t]), dt, b, rnn_valid(d, t, b) ? 0 : 1);
      }
    }
  /* the forward again, recorded */
  lg_tensor *Xp = G_reshape(G_lin(G_flat(x, T * B, I), wih, bih), 3, (int64_t[3]){T, B, GH});
  lg_tensor *h = r->t[K_H0], *c = r->t[K_C0];
  for (int64_t s = 0; s < T; s++) {
    int64_t t = d->reverse ? T - 1 - s : s;
    step_vals *v = &sv[t];
    lg_tensor *xt = G_select(Xp, 0, t), *hpj = G_lin(h, whh, bhh), *hn, *cn = NULL;
    v->hprev = h;
    v->cprev = c;
    if (d->mode == RNN_LSTM) {
      lg_tensor *a = G_add(xt, hpj);
      v->a = G_sigmoid(G_narrow(a, 1, 0, H));
      v->b = G_sigmoid(G_narrow(a, 1, H, H));
      v->c = G_tanh(G_narrow(a, 1, 2 * H, H));
      v->e = G_sigmoid(G_narrow(a, 1, 3 * H, H));
      cn = G_add(G_mul(v->b, c), G_mul(v->a, v->c));
      v->cnew = cn;
      v->tc = G_tanh(cn);
      v->hh = G_mul(v->e, v->tc);
      hn = whr ? G_matmul(v->hh, G_transpose(whr, 0, 1)) : v->hh;
    } else if (d->mode == RNN_GRU) {
      v->a = G_sigmoid(G_add(G_narrow(xt, 1, 0, H), G_narrow(hpj, 1, 0, H)));     /* r */
      v->b = G_sigmoid(G_add(G_narrow(xt, 1, H, H), G_narrow(hpj, 1, H, H)));     /* z */
      v->e = G_narrow(hpj, 1, 2 * H, H);                                          /* W_hn h + b_hn */
      v->c = G_tanh(G_add(G_narrow(xt, 1, 2 * H, H), G_mul(v->a, v->e)));        /* n */
      hn = G_add(v->c, G_mul(v->b, G_sub(h, v->c)));
    } else {
      lg_tensor *a = G_add(xt, hpj);
      hn = d->mode == RNN_TANH ? G_tanh(a) : G_relu(a);
    }
    v->hn = hn;
    if (d->len) {
      h = G_add(G_mul(mask[t], hn), G_mul(mask[T + t], h));
      if (cn) c = G_add(G_mul(mask[t], cn), G_mul(mask[T + t], c));
    } else {
      h = hn;
      if (cn) c = cn;
    }
  }
  /* backward through time, as ops */
  lg_tensor *gT = G_select(g, 0, T);
  lg_tensor *dh = G_narrow(gT, 1, 0, P), *dc = d->mode == RNN_LSTM ? G_narrow(gT, 1, P, H) : NULL;
  for (int64_t s = T - 1; s >= 0; s--) {
    int64_t t = d->reverse ? T - 1 - s : s;
    step_vals *v = &sv[t];
    lg_tensor *gt = G_select(g, 0, t);
    lg_tensor *dhn = G_add(dh, G_narrow(gt, 1, 0, P)), *m = d->len ? mask[t] : NULL, *mi = d->len ? mask[T + t] : NULL;
    if (m) dhn = G_mul(dhn, m);
    lg_tensor *dhp_direct = NULL;
    if (d->mode == RNN_LSTM) {
      lg_tensor *dcn = G_add(dc, G_narrow(gt, 1, P, H));
      if (m) dcn = G_mul(dcn, m);
      lg_tensor *dhh = dhn;
      if (whr) {
        dHo[t] = dhn;
        hhs[t] = v->hh;
        dhh = G_matmul(dhn, whr);
      }
      lg_tensor *dout = G_mul(dhh, v->tc);
      lg_tensor *dcc = G_add(dcn, G_mul(G_mul(dhh, v->e), G_dtanh(v->tc)));
      lg_tensor *parts[4] = {G_mul(G_mul(dcc, v->c), G_dsig(v->a)), G_mul(G_mul(dcc, v->cprev), G_dsig(v->b)),
                             G_mul(G_mul(dcc, v->a), G_dtanh(v->c)), G_mul(dout, G_dsig(v->e))};
      dX[t] = dH[t] = G_join(parts, 4, 1, false);
      lg_tensor *dcp = G_mul(dcc, v->b);
      dc = mi ? G_add(dcp, G_mul(mi, dc)) : dcp;
    } else if (d->mode == RNN_GRU) {
      lg_tensor *dn = G_sub(dhn, G_mul(dhn, v->b));
      lg_tensor *dz = G_mul(dhn, G_sub(v->hprev, v->c));
      dhp_direct = G_mul(dhn, v->b);
      lg_tensor *dan = G_mul(dn, G_dtanh(v->c));
      lg_tensor *dar = G_mul(G_mul(dan, v->e), G_dsig(v->a)), *daz = G_mul(dz, G_dsig(v->b));
      lg_tensor *px[3] = {dar, daz, dan}, *ph[3] = {dar, daz, G_mul(dan, v->a)};
      dX[t] = G_join(px, 3, 1, false);
      dH[t] = G_join(ph, 3, 1, false);
    } else {
      dX[t] = dH[t] = d->mode == RNN_TANH ? G_mul(dhn, G_dtanh(v->hn)) : G_relu_backward(dhn, v->hn);
    }
    hp[t] = v->hprev;
    lg_tensor *dhp = G_matmul(dH[t], whh);
    if (dhp_direct) dhp = G_add(dhp, dhp_direct);
    dh = mi ? G_add(dhp, G_mul(mi, dh)) : dhp;
  }
  lg_tensor *dXf = G_flat(G_join(dX, (int)T, 0, true), T * B, GH);
  lg_tensor *dHf = d->mode == RNN_GRU ? G_flat(G_join(dH, (int)T, 0, true), T * B, GH) : dXf;
  if (n->inputs[0].needs_grad) gin[0] = G_reshape(G_matmul(dXf, wih), 3, (int64_t[3]){T, B, I});
  if (n->inputs[1].needs_grad) gin[1] = dh;
  if (n->inputs[2].needs_grad) gin[2] = dc;
  if (n->inputs[3].needs_grad) gin[3] = G_matmul(G_transpose(dXf, 0, 1), G_flat(x, T * B, I));
  if (n->inputs[4].needs_grad)
    gin[4] = G_matmul(G_transpose(dHf, 0, 1), G_flat(G_join(hp, (int)T, 0, true), T * B, P));
  if (n->inputs[5].needs_grad) gin[5] = G_sum(dXf, 0, false);
  if (n->inputs[6].needs_grad) gin[6] = G_sum(dHf, 0, false);
  if (n->inputs[7].needs_grad)
    gin[7] = G_matmul(G_transpose(G_flat(G_join(dHo, (int)T, 0, true), T * B, P), 0, 1),
                      G_flat(G_join(hhs, (int)T, 0, true), T * B, H));
done:
  free(sv);
  free(mask);
  free(dX);
}

static void rnn_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  const rnn_record *r = n->custom;
  if (!r) {
    lg_failed("%s: the node has no saved state", n->op->name);
    return;
  }
  if (check_record(n, r) != 0) return;
  if (!lg_grad_enabled())
    rnn_fused_grads(n, r, g, gin);
  else
    rnn_graph_grads(n, r, g, gin);
}
static void rnn_tanh_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { rnn_rule(n, g, gin); }
static void rnn_relu_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { rnn_rule(n, g, gin); }
static void lstm_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { rnn_rule(n, g, gin); }
static void gru_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { rnn_rule(n, g, gin); }
LG_DEFINE_OP(rnn_tanh);
LG_DEFINE_OP(rnn_relu);
LG_DEFINE_OP(lstm);
LG_DEFINE_OP(gru);

#else /* ---- the kernels, once per element type T_ ------------------------------------ */

static void TYPED(gemm)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T_ *a, int64_t lda, const T_ *b,
                        int64_t ldb, T_ beta, T_ *c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0)
      for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(T_));
    return;
  }
  GEMM(ta, tb, m, n, k, 1, a, lda > 0 ? lda : 1, b, ldb > 0 ? ldb : 1, beta, c, ldc > 0 ? ldc : 1);
}

/* rows of [rows, cols] each set to bias (or its sum with bias2), or zeros */
static void TYPED(fill_bias)(T_ *m, int64_t rows, int64_t cols, const T_ *b1, const T_ *b2) {
  for (int64_t r = 0; r < rows; r++) {
    T_ *row = m + r * cols;
    for (int64_t j = 0; j < cols; j++) row[j] = (b1 ? b1[j] : 0) + (b2 ? b2[j] : 0);
  }
}

/* The per-row gate loops, with restrict so that they vectorise. */
__attribute__((unused)) static inline void TYPED(lstm_row)(int64_t H, T_ *restrict gi, T_ *restrict gf, T_ *restrict gg, T_ *restrict go,
                                   const T_ *restrict cp, T_ *restrict yc, T_ *restrict yh) {
  for (int64_t j = 0; j < H; j++) {
    T_ i = SIGM(gi[j]), f = SIGM(gf[j]), g = TANH(gg[j]), o = SIGM(go[j]);
    gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
    T_ c = f * cp[j] + i * g;
    yc[j] = c;
    yh[j] = o * TANH(c);
  }
}

__attribute__((unused)) static inline void TYPED(gru_row)(int64_t H, const T_ *restrict xb, const T_ *restrict hb, const T_ *restrict hprev,
                                  T_ *restrict wr, T_ *restrict wz, T_ *restrict wn, T_ *restrict whn, T_ *restrict yh) {
  for (int64_t j = 0; j < H; j++) {
    T_ r = SIGM(xb[j] + hb[j]), z = SIGM(xb[H + j] + hb[H + j]);
    T_ nn = TANH(xb[2 * H + j] + r * hb[2 * H + j]);
    wr[j] = r, wz[j] = z, wn[j] = nn, whn[j] = hb[2 * H + j];
    yh[j] = nn + z * (hprev[j] - nn);
  }
}

/* dc (in: the gradient of c from later steps, out: of c_prev) */
__attribute__((unused)) static inline void TYPED(lstm_row_back)(int64_t H, const T_ *restrict gi, const T_ *restrict gf,
                                        const T_ *restrict gg, const T_ *restrict go, const T_ *restrict cn,
                                        const T_ *restrict cp, const T_ *restrict gc, const T_ *restrict dhh,
                                        T_ *restrict dc, T_ *restrict di, T_ *restrict df,
                                        T_ *restrict dgg, T_ *restrict dout) {
  for (int64_t j = 0; j < H; j++) {
    T_ i = gi[j], f = gf[j], g = gg[j], o = go[j], tc = TANH(cn[j]), dhv = dhh[j];
    T_ dcc = dc[j] + gc[j] + dhv * o * (1 - tc * tc);
    di[j] = dcc * g * i * (1 - i);
    df[j] = dcc * cp[j] * f * (1 - f);
    dgg[j] = dcc * i * (1 - g * g);
    dout[j] = dhv * tc * o * (1 - o);
    dc[j] = dcc * f;
  }
}

__attribute__((unused)) static inline void TYPED(gru_row_back)(int64_t H, const T_ *restrict w, const T_ *restrict hp,
                                       const T_ *restrict gh, T_ *restrict dx, T_ *restrict dhb,
                                       T_ *restrict direct) {
  for (int64_t j = 0; j < H; j++) {
    T_ r = w[j], z = w[H + j], nn = w[2 * H + j], hn = w[3 * H + j], g = gh[j];
    T_ dn = g * (1 - z), dz = g * (hp[j] - nn);
    T_ dan = dn * (1 - nn * nn), dar = dan * hn * r * (1 - r), daz = dz * z * (1 - z);
    dx[j] = dhb[j] = dar;
    dx[H + j] = dhb[H + j] = daz;
    dx[2 * H + j] = dan;
    dhb[2 * H + j] = dan * r;
    direct[j] = g * z; /* the direct path h' = ... + z h */
  }
}

static int TYPED(forward)(const rnn_dims *d, const T_ *x, const T_ *h0, const T_ *c0, const T_ *wih, const T_ *whh,
                          const T_ *bih, const T_ *bhh, const T_ *whr, T_ *Y, T_ *ws) {
  int64_t T = d->T, B = d->B, I = d->I, H = d->H, P = d->P, S = d->S, GH = d->G * d->H;
  bool lstm = d->mode == RNN_LSTM, gru = d->mode == RNN_GRU;
  /* Xp: the input projections of all steps; for lstm the workspace itself */
  T_ *xp = lstm ? ws : malloc((size_t)(T * B * GH) * sizeof(T_));
  T_ *hs = malloc((size_t)(B * P) * sizeof(T_)), *cs = lstm ? malloc((size_t)(B * H) * sizeof(T_)) : NULL;
  T_ *tmp = malloc((size_t)(B * (gru ? GH : lstm && d->proj ? H + P : 1)) * sizeof(T_));
  if (!xp || !hs || (lstm && !cs) || !tmp) {
    if (!lstm) free(xp);
    free(hs), free(cs), free(tmp);
    return lg_failed("out of memory in %s forward", MODE_NAMES[d->mode]);
  }
  TYPED(fill_bias)(xp, T * B, GH, bih, gru ? NULL : bhh);
  TYPED(gemm)(false, true, T * B, GH, I, x, I, wih, I, 1, xp, GH);
  memcpy(hs, h0, (size_t)(B * P) * sizeof(T_));
  if (lstm) memcpy(cs, c0, (size_t)(B * H) * sizeof(T_));
  for (int64_t s = 0; s < T; s++) {
    int64_t t = d->reverse ? T - 1 - s : s;
    T_ *yt = Y + t * B * S;
    if (lstm) {
      T_ *gt = ws + t * B * GH; /* += h W_hh^T, then the activations in place */
      TYPED(gemm)(false, true, B, GH, P, hs, P, whh, P, 1, gt, GH);
      T_ *hh = d->proj ? tmp : NULL, *hp = d->proj ? tmp + B * H : NULL;
      for (int64_t b = 0; b < B; b++) {
        T_ *gi = gt + b * GH, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const T_ *cp = cs + b * H;
        T_ *yh = hh ? hh + b * H : yt + b * S, *yc = yt + b * S + P;
#ifdef RNN_F32
        lstm_row_v(H, gi, gf, gg, go, cp, yc, yh);
#else
        TYPED(lstm_row)(H, gi, gf, gg, go, cp, yc, yh);
#endif
        if (!rnn_valid(d, t, b)) { /* padding: 0 out, the state stays */
          memset(yt + b * S, 0, (size_t)S * sizeof(T_));
        }
      }
      if (d->proj) {
        TYPED(gemm)(false, true, B, P, H, hh, H, whr, H, 0, hp, P);
        for (int64_t b = 0; b < B; b++)
          if (rnn_valid(d, t, b)) memcpy(yt + b * S, hp + b * P, (size_t)P * sizeof(T_));
      }
      for (int64_t b = 0; b < B; b++)
        if (rnn_valid(d, t, b)) {
          memcpy(hs + b * P, yt + b * S, (size_t)P * sizeof(T_));
          memcpy(cs + b * H, yt + b * S + P, (size_t)H * sizeof(T_));
        }
    } else if (gru) {
      T_ *hp = tmp, *w = ws + t * B * 4 * H, *xt = xp + t * B * GH;
      TYPED(fill_bias)(hp, B, GH, bhh, NULL);
      TYPED(gemm)(false, true, B, GH, H, hs, H, whh, H, 1, hp, GH);
      for (int64_t b = 0; b < B; b++) {
        const T_ *xb = xt + b * GH, *hb = hp + b * GH, *hprev = hs + b * H;
        T_ *wb = w + b * 4 * H, *yh = yt + b * S;
#ifdef RNN_F32
        gru_row_v(H, xb, hb, hprev, wb, wb + H, wb + 2 * H, wb + 3 * H, yh);
#else
        TYPED(gru_row)(H, xb, hb, hprev, wb, wb + H, wb + 2 * H, wb + 3 * H, yh);
#endif
        if (!rnn_valid(d, t, b)) memset(yh, 0, (size_t)H * sizeof(T_));
      }
      for (int64_t b = 0; b < B; b++)
        if (rnn_valid(d, t, b)) memcpy(hs + b * H, yt + b * S, (size_t)H * sizeof(T_));
    } else {
      T_ *at = xp + t * B * GH;
      TYPED(gemm)(false, true, B, H, H, hs, H, whh, H, 1, at, GH);
      for (int64_t b = 0; b < B; b++) {
        bool valid = rnn_valid(d, t, b);
        const T_ *ab = at + b * H;
        T_ *yb = yt + b * S;
        if (d->mode == RNN_TANH) {
#ifdef RNN_F32
          mul_tanh_v(H, NULL, ab, yb);
#else
          for (int64_t j = 0; j < H; j++) yb[j] = TANH(ab[j]);
#endif
        } else {
          for (int64_t j = 0; j < H; j++) yb[j] = ab[j] > 0 ? ab[j] : 0;
        }
        if (!valid) memset(yb, 0, (size_t)H * sizeof(T_));
        if (valid) memcpy(hs + b * H, yt + b * S, (size_t)H * sizeof(T_));
      }
    }
  }
  T_ *yT = Y + T * B * S;
  for (int64_t b = 0; b < B; b++) {
    memcpy(yT + b * S, hs + b * P, (size_t)P * sizeof(T_));
    if (lstm) memcpy(yT + b * S + P, cs + b * H, (size_t)H * sizeof(T_));
  }
  if (!lstm) free(xp);
  free(hs), free(cs), free(tmp);
  return 0;
}

static void TYPED(colsum)(const T_ *m, int64_t rows, int64_t cols, T_ *out) {
  double *acc = calloc((size_t)(cols > 0 ? cols : 1), sizeof *acc);
  if (!acc) { /* fall back to the dtype's own sums */
    for (int64_t j = 0; j < cols; j++) out[j] = 0;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < cols; j++) out[j] += m[r * cols + j];
    return;
  }
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < cols; j++) acc[j] += m[r * cols + j];
  for (int64_t j = 0; j < cols; j++) out[j] = (T_)acc[j];
  free(acc);
}

/* gY [T+1, B, S]; writes every gradient whose pointer is not NULL (gx only when want_gx). */
static int TYPED(backward)(const rnn_dims *d, const T_ *gY, const T_ *Y, const T_ *ws, const T_ *x, const T_ *h0,
                           const T_ *c0, const T_ *wih, const T_ *whh, const T_ *whr, bool want_gx, T_ *gx, T_ *gh0,
                           T_ *gc0, T_ *gwih, T_ *gwhh, T_ *gbih, T_ *gbhh, T_ *gwhr) {
  int64_t T = d->T, B = d->B, I = d->I, H = d->H, P = d->P, S = d->S, GH = d->G * d->H, TB = T * B;
  bool lstm = d->mode == RNN_LSTM, gru = d->mode == RNN_GRU;
  T_ *dX = malloc((size_t)(TB * GH) * sizeof(T_));
  T_ *dH = gru ? malloc((size_t)(TB * GH) * sizeof(T_)) : dX;
  T_ *hprev = malloc((size_t)(TB * P) * sizeof(T_));
  T_ *dho = d->proj ? malloc((size_t)(TB * P) * sizeof(T_)) : NULL, *hhs = d->proj ? malloc((size_t)(TB * H) * sizeof(T_)) : NULL;
  T_ *dh = malloc((size_t)(B * P) * sizeof(T_)), *dc = lstm ? malloc((size_t)(B * H) * sizeof(T_)) : NULL;
  T_ *dhn = malloc((size_t)(B * P) * sizeof(T_)), *tmp = malloc((size_t)(B * (P > H ? P : H)) * sizeof(T_));
  int rc = 0;
  if (!dX || !dH || !hprev || (d->proj && (!dho || !hhs)) || !dh || (lstm && !dc) || !dhn || !tmp) {
    rc = lg_failed("out of memory in %s backward", MODE_NAMES[d->mode]);
    goto done;
  }
  const T_ *gT = gY + T * B * S;
  for (int64_t b = 0; b < B; b++) {
    memcpy(dh + b * P, gT + b * S, (size_t)P * sizeof(T_));
    if (lstm) memcpy(dc + b * H, gT + b * S + P, (size_t)H * sizeof(T_));
  }
  for (int64_t s = T - 1; s >= 0; s--) {
    int64_t t = d->reverse ? T - 1 - s : s;
    const T_ *gt = gY + t * B * S, *yt = Y + t * B * S;
    T_ *dxt = dX + t * B * GH, *dht = dH + t * B * GH, *hpt = hprev + t * B * P;
    for (int64_t b = 0; b < B; b++) { /* dhn: the gradient of this step's h (0 where the step is padding) */
      int64_t pv = rnn_prev(d, t, b);
      const T_ *hsrc = pv < 0 ? h0 + b * P : Y + (pv * B + b) * S;
      memcpy(hpt + b * P, hsrc, (size_t)P * sizeof(T_));
      bool valid = rnn_valid(d, t, b);
      for (int64_t j = 0; j < P; j++) dhn[b * P + j] = valid ? dh[b * P + j] + gt[b * S + j] : 0;
    }
    if (lstm) {
      const T_ *dhh = dhn;
      if (d->proj) {
        memcpy(dho + t * B * P, dhn, (size_t)(B * P) * sizeof(T_));
        TYPED(gemm)(false, false, B, H, P, dhn, P, whr, H, 0, tmp, H);
        dhh = tmp;
      }
      const T_ *wt = ws + t * B * GH;
      for (int64_t b = 0; b < B; b++) {
        T_ *dg = dxt + b * GH;
        if (!rnn_valid(d, t, b)) {
          memset(dg, 0, (size_t)GH * sizeof(T_));
          if (d->proj) memset(hhs + (t * B + b) * H, 0, (size_t)H * sizeof(T_));
          continue;
        }
        int64_t pv = rnn_prev(d, t, b);
        const T_ *cp = pv < 0 ? c0 + b * H : Y + (pv * B + b) * S + P;
        const T_ *gi = wt + b * GH, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H, *cn = yt + b * S + P;
        const T_ *gc = gt + b * S + P;
#ifdef RNN_F32
        lstm_row_back_v(H, gi, gf, gg, go, cn, cp, gc, dhh + b * H, dc + b * H, dg, dg + H, dg + 2 * H, dg + 3 * H);
#else
        TYPED(lstm_row_back)(H, gi, gf, gg, go, cn, cp, gc, dhh + b * H, dc + b * H, dg, dg + H, dg + 2 * H,
                             dg + 3 * H);
#endif
        if (d->proj) { /* o tanh(c), the projection's input, for the gradient of W_hr */
          T_ *hh = hhs + (t * B + b) * H;
#ifdef RNN_F32
          mul_tanh_v(H, go, cn, hh);
#else
          for (int64_t j = 0; j < H; j++) hh[j] = go[j] * TANH(cn[j]);
#endif
        }
      }
    } else if (gru) {
      const T_ *wt = ws + t * B * 4 * H;
      for (int64_t b = 0; b < B; b++) {
        T_ *dx = dxt + b * GH, *dhb = dht + b * GH;
        if (!rnn_valid(d, t, b)) {
          memset(dx, 0, (size_t)GH * sizeof(T_));
          memset(dhb, 0, (size_t)GH * sizeof(T_));
          continue;
        }
        const T_ *w = wt + b * 4 * H, *hp = hpt + b * P;
        TYPED(gru_row_back)(H, w, hp, dhn + b * P, dx, dhb, tmp + b * H);
      }
    } else {
      for (int64_t b = 0; b < B; b++) {
        T_ *da = dxt + b * GH;
        bool valid = rnn_valid(d, t, b);
        for (int64_t j = 0; j < H; j++) {
          T_ h = yt[b * S + j], gh = dhn[b * P + j];
          da[j] = !valid ? 0 : d->mode == RNN_TANH ? gh * (1 - h * h) : (h > 0 ? gh : 0);
        }
      }
    }
    /* dh <- dH_t W_hh (+ the direct path) where the step ran; carried where it was padding */
    for (int64_t b = 0; b < B; b++) {
      if (!rnn_valid(d, t, b)) continue;
      if (gru)
        memcpy(dh + b * P, tmp + b * P, (size_t)P * sizeof(T_));
    }
    if (d->len) {
      /* rows that ran get the product; rows that were padding keep dh: compute into dhn */
      TYPED(gemm)(false, false, B, P, GH, dht, GH, whh, P, 0, dhn, P);
      for (int64_t b = 0; b < B; b++)
        if (rnn_valid(d, t, b))
          for (int64_t j = 0; j < P; j++) dh[b * P + j] = (gru ? dh[b * P + j] : 0) + dhn[b * P + j];
    } else {
      TYPED(gemm)(false, false, B, P, GH, dht, GH, whh, P, gru ? 1 : 0, dh, P);
    }
  }
  if (gh0) memcpy(gh0, dh, (size_t)(B * P) * sizeof(T_));
  if (gc0 && lstm) memcpy(gc0, dc, (size_t)(B * H) * sizeof(T_));
  if (want_gx && gx) TYPED(gemm)(false, false, TB, I, GH, dX, GH, wih, I, 0, gx, I);
  if (gwih) TYPED(gemm)(true, false, GH, I, TB, dX, GH, x, I, 0, gwih, I);
  if (gwhh) TYPED(gemm)(true, false, GH, P, TB, dH, GH, hprev, P, 0, gwhh, P);
  if (gbih) TYPED(colsum)(dX, TB, GH, gbih);
  if (gbhh) TYPED(colsum)(dH, TB, GH, gbhh);
  if (gwhr && d->proj) TYPED(gemm)(true, false, P, H, TB, dho, P, hhs, H, 0, gwhr, H);
done:
  free(dX);
  if (gru) free(dH);
  free(hprev), free(dho), free(hhs), free(dh), free(dc), free(dhn), free(tmp);
  return rc;
}

#endif
