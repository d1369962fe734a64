/* Elementwise ops with NumPy broadcasting, and their backward rules.
 *
 * Kernels are generated per dtype from one expression (tgmath.h picks expf for
 * float and exp for double); each has a contiguous fast path the compiler
 * vectorises. int64 inputs of float-valued functions are promoted to float32. */
#include <math.h>
#include <string.h>
#include <tgmath.h>

#include "core/internal.h"

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

/* ---- kernel generators ---------------------------------------------------- */

typedef void (*row_fn)(int64_t, char **, const int64_t *, void *);
typedef struct { row_fn f32, f64, i64; } kernel_set;

#define BINARY_BODY(T, EXPR)                                                       \
  T *o = (T *)p[0];                                                                \
  const T *x = (const T *)p[1], *y = (const T *)p[2];                              \
  (void)ctx;                                                                       \
  if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                                       \
    for (int64_t i = 0; i < n; i++) { T a = x[i], b = y[i]; o[i] = (T)(EXPR); }    \
  } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {                                \
    T b = y[0];                                                                    \
    for (int64_t i = 0; i < n; i++) { T a = x[i]; o[i] = (T)(EXPR); }              \
  } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {                                \
    T a = x[0];                                                                    \
    for (int64_t i = 0; i < n; i++) { T b = y[i]; o[i] = (T)(EXPR); }              \
  } else {                                                                         \
    for (int64_t i = 0; i < n; i++) {                                              \
      T a = x[i * s[1]], b = y[i * s[2]];                                          \
      o[i * s[0]] = (T)(EXPR);                                                     \
    }                                                                              \
  }

#define DEFINE_BINARY(NAME, EXPR)                                                       \
  LG_VECTOR_CLONES static void NAME##_f32(int64_t n, char **p, const int64_t *s, void *ctx) { BINARY_BODY(float, EXPR) } \
  LG_VECTOR_CLONES static void NAME##_f64(int64_t n, char **p, const int64_t *s, void *ctx) { BINARY_BODY(double, EXPR) } \
  LG_VECTOR_CLONES static void NAME##_i64(int64_t n, char **p, const int64_t *s, void *ctx) { BINARY_BODY(int64_t, EXPR) } \
  static const kernel_set NAME##_kernels = {NAME##_f32, NAME##_f64, NAME##_i64};

/* Unary kernels read parameters c[0], c[1] from ctx (a double array). */
#define UNARY_BODY(T, EXPR)                                                        \
  T *o = (T *)p[0];                                                                \
  const T *x = (const T *)p[1];                                                    \
  const double *c = ctx;                                                           \
  (void)c;                                                                         \
  if (s[0] == 1 && s[1] == 1) {                                                    \
    for (int64_t i = 0; i < n; i++) { T a = x[i]; o[i] = (T)(EXPR); }              \
  } else {                                                                         \
    for (int64_t i = 0; i < n; i++) { T a = x[i * s[1]]; o[i * s[0]] = (T)(EXPR); } \
  }

#define DEFINE_UNARY(NAME, EXPR)                                                        \
  LG_VECTOR_CLONES static void NAME##_f32(int64_t n, char **p, const int64_t *s, void *ctx) { UNARY_BODY(float, EXPR) } \
  LG_VECTOR_CLONES static void NAME##_f64(int64_t n, char **p, const int64_t *s, void *ctx) { UNARY_BODY(double, EXPR) } \
  LG_VECTOR_CLONES static void NAME##_i64(int64_t n, char **p, const int64_t *s, void *ctx) { UNARY_BODY(int64_t, EXPR) } \
  static const kernel_set NAME##_kernels = {NAME##_f32, NAME##_f64, NAME##_i64};

DEFINE_BINARY(add, a + b)
DEFINE_BINARY(sub, a - b)
DEFINE_BINARY(mul, a * b)
DEFINE_BINARY(div, a / b) /* int64 never reaches it: division promotes to float */
DEFINE_BINARY(powt, pow((double)a, (double)b))
DEFINE_BINARY(relu_grad, b > 0 ? a : 0) /* a = incoming gradient, b = relu's input */

DEFINE_UNARY(add_s, a + c[0])
DEFINE_UNARY(mul_s, a * c[0])
DEFINE_UNARY(rsub_s, c[0] - a)
DEFINE_UNARY(rdiv_s, c[0] / a)
DEFINE_UNARY(pow_s, pow(a, c[0]))
DEFINE_UNARY(square, a * a)
DEFINE_UNARY(rpow_s, pow(c[0], a))
DEFINE_UNARY(neg, -a)
DEFINE_UNARY(exp, exp(a))
DEFINE_UNARY(log, log(a))
DEFINE_UNARY(sqrt, sqrt(a))
DEFINE_UNARY(abs, a < 0 ? -a : a)
DEFINE_UNARY(relu, a > 0 ? a : 0)
DEFINE_UNARY(leaky, a > 0 ? a : a * c[0])
DEFINE_UNARY(sigmoid, a >= 0 ? 1 / (1 + exp(-a)) : exp(a) / (1 + exp(a)))
DEFINE_UNARY(tanh, tanh(a))
DEFINE_UNARY(clamp, a < c[0] ? c[0] : (a > c[1] ? c[1] : a))
DEFINE_UNARY(sign, (a > 0) - (a < 0))

static row_fn pick(const kernel_set *k, lg_dtype d) {
  return d == LG_F32 ? k->f32 : d == LG_F64 ? k->f64 : k->i64;
}

/* ---- drivers ---------------------------------------------------------------- */

/* out[out_dtype] = kernel(a, b) with broadcasting, the inputs cast to `dtype`. */
static lg_tensor *broadcast_apply(lg_tensor *a, lg_tensor *b, lg_dtype dtype, lg_dtype out_dtype,
                                  lg_row_kernel kernel, void *ctx) {
  char sa[96], sb[96];
  int64_t shape[LG_MAX_DIMS];
  int nd = lg_broadcast_shape(a, b, shape);
  if (nd < 0)
    return lg_fail("shapes %s and %s are not broadcastable", lg_shape_str(a, sa, sizeof sa),
                   lg_shape_str(b, sb, sizeof sb));
  lg_tensor *ca = lg_to_dtype(a, dtype), *cb = ca ? lg_to_dtype(b, dtype) : NULL;
  lg_tensor *out = cb ? lg_new_like_shape(nd, shape, out_dtype) : NULL;
  if (out) {
    lg_tensor *ops[3] = {out, ca, cb};
    int64_t strides[3][LG_MAX_DIMS];
    memcpy(strides[0], out->stride, sizeof out->stride);
    lg_broadcast_strides(ca, nd, shape, strides[1]);
    lg_broadcast_strides(cb, nd, shape, strides[2]);
    lg_iterate(3, ops, strides, nd, shape, kernel, ctx, true);
  }
  lg_release(ca);
  lg_release(cb);
  return out;
}

/* out = k(a, b) with broadcasting, computed in `dtype` (inputs cast if needed). */
static lg_tensor *run_binary(const kernel_set *k, lg_tensor *a, lg_tensor *b, lg_dtype dtype) {
  return broadcast_apply(a, b, dtype, dtype, pick(k, dtype), NULL);
}

static lg_tensor *run_unary(const kernel_set *k, lg_tensor *a, lg_dtype dtype, double c0, double c1) {
  double c[2] = {c0, c1};
  lg_tensor *ca = lg_to_dtype(a, dtype);
  lg_tensor *out = ca ? lg_new_like_shape(a->ndim, a->shape, dtype) : NULL;
  if (out) {
    lg_tensor *ops[2] = {out, ca};
    int64_t strides[2][LG_MAX_DIMS];
    memcpy(strides[0], out->stride, sizeof out->stride);
    memcpy(strides[1], ca->stride, sizeof ca->stride);
    lg_iterate(2, ops, strides, a->ndim, a->shape, pick(k, dtype), c, true);
  }
  lg_release(ca);
  return out;
}

static lg_dtype float_of(lg_dtype d) { return d == LG_I64 ? LG_F32 : d; }
static bool is_integral(double s) { return s == floor(s) && fabs(s) < 9.0e15; }

/* ---- binary ops ------------------------------------------------------------ */

lg_tensor *lg_add(lg_tensor *a, lg_tensor *b) {
  lg_tensor *out = run_binary(&add_kernels, a, b, lg_promote(a->dtype, b->dtype));
  if (!out) return NULL;
  lg_tensor *in[2] = {a, b};
  LG_RECORD(node, add, out, in, 2);
  (void)node;
  return out;
}

lg_tensor *lg_sub(lg_tensor *a, lg_tensor *b) {
  lg_tensor *out = run_binary(&sub_kernels, a, b, lg_promote(a->dtype, b->dtype));
  if (!out) return NULL;
  lg_tensor *in[2] = {a, b};
  LG_RECORD(node, sub, out, in, 2);
  (void)node;
  return out;
}

/* mul, div and pow keep both inputs for backward. */
static lg_tensor *binary_saving_inputs(const kernel_set *k, const lg_op_info *op, lg_tensor *a,
                                       lg_tensor *b, lg_dtype dtype) {
  lg_tensor *out = run_binary(k, a, b, dtype);
  if (!out) return NULL;
  lg_tensor *in[2] = {a, b};
  if (lg_should_record(in, 2)) {
    lg_node *node = lg_record(op, out, in, 2);
    if (!node) {
      lg_release(out);
      return NULL;
    }
    lg_save(node, 0, a);
    lg_save(node, 1, b);
  }
  return out;
}

lg_tensor *lg_mul(lg_tensor *a, lg_tensor *b) {
  return binary_saving_inputs(&mul_kernels, &lg_op_mul, a, b, lg_promote(a->dtype, b->dtype));
}

lg_tensor *lg_div(lg_tensor *a, lg_tensor *b) {
  return binary_saving_inputs(&div_kernels, &lg_op_div, a, b,
                              float_of(lg_promote(a->dtype, b->dtype)));
}

lg_tensor *lg_pow_tensor(lg_tensor *a, lg_tensor *b) {
  return binary_saving_inputs(&powt_kernels, &lg_op_pow_tensor, a, b,
                              float_of(lg_promote(a->dtype, b->dtype)));
}

static int add_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  (void)n;
  lg_retain(g);
  lg_retain(g);
  gin[0] = g;
  gin[1] = g;
  return 0;
}
LG_DEFINE_OP(add);

static int sub_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  (void)n;
  lg_retain(g);
  gin[0] = g;
  return (gin[1] = lg_neg(g)) ? 0 : -1;
}
LG_DEFINE_OP(sub);

static int mul_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  if (n->inputs[0].needs_grad && !(gin[0] = lg_mul(g, n->saved[1]))) return -1;
  if (n->inputs[1].needs_grad && !(gin[1] = lg_mul(g, n->saved[0]))) return -1;
  return 0;
}
LG_DEFINE_OP(mul);

static int div_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *a = n->saved[0], *b = n->saved[1];
  lg_tensor *ga = lg_div(g, b); /* d(a/b)/da = 1/b */
  if (!ga) return -1;
  if (n->inputs[1].needs_grad) { /* d(a/b)/db = -(a/b)/b */
    lg_tensor *t = lg_mul(ga, a), *t2 = t ? lg_div(t, b) : NULL;
    gin[1] = t2 ? lg_neg(t2) : NULL;
    lg_release(t);
    lg_release(t2);
    if (!gin[1]) {
      lg_release(ga);
      return -1;
    }
  }
  gin[0] = ga;
  return 0;
}
LG_DEFINE_OP(div);

static int pow_tensor_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  lg_tensor *a = n->saved[0], *b = n->saved[1];
  if (n->inputs[0].needs_grad) { /* b * a^(b-1) */
    lg_tensor *bm1 = lg_add_scalar(b, -1), *p = bm1 ? lg_pow_tensor(a, bm1) : NULL;
    lg_tensor *bp = p ? lg_mul(b, p) : NULL;
    gin[0] = bp ? lg_mul(g, bp) : NULL;
    lg_release(bm1);
    lg_release(p);
    lg_release(bp);
    if (!gin[0]) return -1;
  }
  if (n->inputs[1].needs_grad) { /* a^b * log(a) */
    lg_tensor *p = lg_pow_tensor(a, b), *la = p ? lg_log(a) : NULL;
    lg_tensor *pl = la ? lg_mul(p, la) : NULL;
    gin[1] = pl ? lg_mul(g, pl) : NULL;
    lg_release(p);
    lg_release(la);
    lg_release(pl);
    if (!gin[1]) return -1;
  }
  return 0;
}
LG_DEFINE_OP(pow_tensor);

/* ---- tensor-scalar ops ----------------------------------------------------- */

/* Runs a unary kernel and records `op` with the scalar in f[0], saving the input
 * (slot 0) and, when save_out, the output (slot 1). */
/* What a unary op's backward reads: saved[0] = its input, saved[1] = its output.
 * Saving nothing keeps the input free to go, and lets backward run twice. */
enum { SAVE_NOTHING = 0, SAVE_IN = 1, SAVE_OUT = 2, SAVE_IN_OUT = 3 };

static lg_tensor *unary_op(const kernel_set *k, const lg_op_info *op, lg_tensor *a, lg_dtype dtype,
                           double c0, double c1, int save) {
  lg_tensor *out = run_unary(k, a, dtype, c0, c1);
  if (!out || !op) return out;
  lg_tensor *in[1] = {a};
  if (!lg_should_record(in, 1)) return out;
  lg_node *node = lg_record(op, out, in, 1);
  if (!node || ((save & 2) && lg_save_output(node, 1, out))) {
    lg_release(out);
    return NULL;
  }
  if (save & 1) lg_save(node, 0, a);
  node->f[0] = c0;
  node->f[1] = c1;
  return out;
}

static lg_dtype scalar_result(lg_dtype d, double s) { return is_integral(s) ? d : float_of(d); }

lg_tensor *lg_add_scalar(lg_tensor *a, double s) {
  return unary_op(&add_s_kernels, &lg_op_add_scalar, a, scalar_result(a->dtype, s), s, 0, SAVE_NOTHING);
}
lg_tensor *lg_mul_scalar(lg_tensor *a, double s) {
  return unary_op(&mul_s_kernels, &lg_op_mul_scalar, a, scalar_result(a->dtype, s), s, 0, SAVE_NOTHING);
}
lg_tensor *lg_rsub_scalar(lg_tensor *a, double s) {
  return unary_op(&rsub_s_kernels, &lg_op_rsub_scalar, a, scalar_result(a->dtype, s), s, 0, SAVE_NOTHING);
}
lg_tensor *lg_rdiv_scalar(lg_tensor *a, double s) {
  return unary_op(&rdiv_s_kernels, &lg_op_rdiv_scalar, a, float_of(a->dtype), s, 0, SAVE_IN_OUT);
}
lg_tensor *lg_pow(lg_tensor *a, double p) {
  const kernel_set *k = p == 2 ? &square_kernels : &pow_s_kernels;
  lg_dtype d = is_integral(p) && p >= 0 ? a->dtype : float_of(a->dtype);
  return unary_op(k, &lg_op_pow, a, d, p, 0, SAVE_IN);
}
lg_tensor *lg_rpow_scalar(lg_tensor *a, double s) {
  return unary_op(&rpow_s_kernels, &lg_op_rpow_scalar, a, float_of(a->dtype), s, 0, SAVE_OUT);
}

static int add_scalar_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  (void)n;
  lg_retain(g);
  gin[0] = g;
  return 0;
}
LG_DEFINE_OP(add_scalar);

static int mul_scalar_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return (gin[0] = lg_mul_scalar(g, n->f[0])) ? 0 : -1;
}
LG_DEFINE_OP(mul_scalar);

static int rsub_scalar_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  (void)n;
  return (gin[0] = lg_neg(g)) ? 0 : -1;
}
LG_DEFINE_OP(rsub_scalar);

/* g * out * k / a: covers d(s/a) (k = -1) and the exponent rules below. */
static lg_tensor *g_out_over_a(lg_tensor *g, lg_tensor *out, lg_tensor *a, double k) {
  lg_tensor *t = lg_mul(g, out), *t2 = t ? lg_div(t, a) : NULL;
  lg_tensor *r = t2 ? lg_mul_scalar(t2, k) : NULL;
  lg_release(t);
  lg_release(t2);
  return r;
}

static int rdiv_scalar_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return (gin[0] = g_out_over_a(g, n->saved[1], n->saved[0], -1)) ? 0 : -1;
}
LG_DEFINE_OP(rdiv_scalar);

static int pow_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) { /* p * a^(p-1) */
  double p = n->f[0];
  lg_tensor *t = p == 2 ? lg_mul_scalar(n->saved[0], 2) : lg_pow(n->saved[0], p - 1);
  lg_tensor *t2 = t && p != 2 ? lg_mul_scalar(t, p) : t;
  if (t2 != t) lg_release(t);
  gin[0] = t2 ? lg_mul(g, t2) : NULL;
  lg_release(t2);
  return gin[0] ? 0 : -1;
}
LG_DEFINE_OP(pow);

static int rpow_scalar_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) { /* s^a ln s */
  lg_tensor *t = lg_mul(g, n->saved[1]);
  gin[0] = t ? lg_mul_scalar(t, log(n->f[0])) : NULL;
  lg_release(t);
  return gin[0] ? 0 : -1;
}
LG_DEFINE_OP(rpow_scalar);

/* ---- unary functions --------------------------------------------------------- */

lg_tensor *lg_neg(lg_tensor *a) { return unary_op(&neg_kernels, &lg_op_neg, a, a->dtype, 0, 0, SAVE_NOTHING); }
lg_tensor *lg_exp(lg_tensor *a) { return unary_op(&exp_kernels, &lg_op_exp, a, float_of(a->dtype), 0, 0, SAVE_OUT); }
lg_tensor *lg_log(lg_tensor *a) { return unary_op(&log_kernels, &lg_op_log, a, float_of(a->dtype), 0, 0, SAVE_IN); }
lg_tensor *lg_sqrt(lg_tensor *a) { return unary_op(&sqrt_kernels, &lg_op_sqrt, a, float_of(a->dtype), 0, 0, SAVE_OUT); }
lg_tensor *lg_abs(lg_tensor *a) { return unary_op(&abs_kernels, &lg_op_abs, a, a->dtype, 0, 0, SAVE_IN); }
lg_tensor *lg_relu(lg_tensor *a) { return unary_op(&relu_kernels, &lg_op_relu, a, a->dtype, 0, 0, SAVE_IN); }
lg_tensor *lg_leaky_relu(lg_tensor *a, double slope) {
  return unary_op(&leaky_kernels, &lg_op_leaky_relu, a, float_of(a->dtype), slope, 0, SAVE_IN);
}
lg_tensor *lg_sigmoid(lg_tensor *a) { return unary_op(&sigmoid_kernels, &lg_op_sigmoid, a, float_of(a->dtype), 0, 0, SAVE_OUT); }
lg_tensor *lg_tanh(lg_tensor *a) { return unary_op(&tanh_kernels, &lg_op_tanh, a, float_of(a->dtype), 0, 0, SAVE_OUT); }
lg_tensor *lg_clamp(lg_tensor *a, double lo, double hi) {
  if (lo > hi) return lg_fail("min %g is greater than max %g", lo, hi);
  return unary_op(&clamp_kernels, &lg_op_clamp, a, a->dtype, lo, hi, SAVE_IN);
}
lg_tensor *lg_sign(lg_tensor *a) { return unary_op(&sign_kernels, NULL, a, a->dtype, 0, 0, SAVE_IN); }

static int neg_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  (void)n;
  return (gin[0] = lg_neg(g)) ? 0 : -1;
}
LG_DEFINE_OP(neg);

static int exp_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return (gin[0] = lg_mul(g, n->saved[1])) ? 0 : -1;
}
LG_DEFINE_OP(exp);

static int log_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return (gin[0] = lg_div(g, n->saved[0])) ? 0 : -1;
}
LG_DEFINE_OP(log);

static int sqrt_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) { /* 1 / (2 sqrt a) */
  lg_tensor *t = lg_div(g, n->saved[1]);
  gin[0] = t ? lg_mul_scalar(t, 0.5) : NULL;
  lg_release(t);
  return gin[0] ? 0 : -1;
}
LG_DEFINE_OP(sqrt);

/* g * m where m = mask(a) is built by a comparison-style op. */
static int times(lg_tensor *g, lg_tensor *m, lg_tensor **gin) {
  gin[0] = m ? lg_mul(g, m) : NULL;
  lg_release(m);
  return gin[0] ? 0 : -1;
}

static int abs_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return times(g, lg_sign(n->saved[0]), gin);
}
LG_DEFINE_OP(abs);

/* One fused pass (no mask tensor): relu's backward runs after every hidden layer. */
static int relu_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  return (gin[0] = run_binary(&relu_grad_kernels, g, n->saved[0], g->dtype)) ? 0 : -1;
}
LG_DEFINE_OP(relu);

static int leaky_relu_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  /* slope + (1 - slope) * (a > 0) */
  lg_tensor *pos = lg_compare_scalar(n->saved[0], 0, LG_GT);
  lg_tensor *scaled = pos ? lg_mul_scalar(pos, 1 - n->f[0]) : NULL;
  lg_release(pos);
  lg_tensor *m = scaled ? lg_add_scalar(scaled, n->f[0]) : NULL;
  lg_release(scaled);
  return times(g, m, gin);
}
LG_DEFINE_OP(leaky_relu);

static int sigmoid_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) { /* s (1 - s) */
  lg_tensor *s = n->saved[1], *one_minus = lg_rsub_scalar(s, 1);
  lg_tensor *m = one_minus ? lg_mul(s, one_minus) : NULL;
  lg_release(one_minus);
  return times(g, m, gin);
}
LG_DEFINE_OP(sigmoid);

static int tanh_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) { /* 1 - t^2 */
  lg_tensor *sq = lg_pow(n->saved[1], 2), *m = sq ? lg_rsub_scalar(sq, 1) : NULL;
  lg_release(sq);
  return times(g, m, gin);
}
LG_DEFINE_OP(tanh);

static int clamp_backward(lg_node *n, lg_tensor *g, lg_tensor **gin) { /* lo <= a <= hi */
  lg_tensor *ge = lg_compare_scalar(n->saved[0], n->f[0], LG_GE);
  lg_tensor *le = ge ? lg_compare_scalar(n->saved[0], n->f[1], LG_LE) : NULL;
  lg_tensor *m = le ? lg_mul(ge, le) : NULL;
  lg_release(ge);
  lg_release(le);
  return times(g, m, gin);
}
LG_DEFINE_OP(clamp);

/* ---- comparisons: float32 0/1, never differentiable --------------------------- */

/* One loop per (dtype, comparison), with the common "tensor vs scalar,
 * contiguous" case separate so that it vectorises. */
#define CMP_LOOP(T, EXPR)                                                                \
  do {                                                                                   \
    const T *x = (const T *)p[1], *y = (const T *)p[2];                                  \
    if (s[0] == 1 && s[1] == 1 && s[2] == 0) {                                           \
      T b = y[0];                                                                        \
      for (int64_t i = 0; i < n; i++) { T a = x[i]; o[i] = (EXPR) ? 1.0f : 0.0f; }       \
    } else {                                                                             \
      for (int64_t i = 0; i < n; i++) {                                                  \
        T a = x[i * s[1]], b = y[i * s[2]];                                              \
        o[i * s[0]] = (EXPR) ? 1.0f : 0.0f;                                              \
      }                                                                                  \
    }                                                                                    \
  } while (0)

#define CMP_CASES(T)                                                                     \
  switch (op) {                                                                          \
  case LG_EQ: CMP_LOOP(T, a == b); break;                                                \
  case LG_NE: CMP_LOOP(T, a != b); break;                                                \
  case LG_LT: CMP_LOOP(T, a < b); break;                                                 \
  case LG_LE: CMP_LOOP(T, a <= b); break;                                                \
  case LG_GT: CMP_LOOP(T, a > b); break;                                                 \
  default: CMP_LOOP(T, a >= b); break;                                                   \
  }

typedef struct { lg_cmp op; lg_dtype dtype; } cmp_ctx;

LG_VECTOR_CLONES static void compare_row(int64_t n, char **p, const int64_t *s, void *vctx) {
  const cmp_ctx *c = vctx;
  lg_cmp op = c->op;
  float *o = (float *)p[0];
  if (c->dtype == LG_F32) CMP_CASES(float)
  else if (c->dtype == LG_F64) CMP_CASES(double)
  else CMP_CASES(int64_t)
}

lg_tensor *lg_compare(lg_tensor *a, lg_tensor *b, lg_cmp op) {
  cmp_ctx c = {op, lg_promote(a->dtype, b->dtype)};
  return broadcast_apply(a, b, c.dtype, LG_F32, compare_row, &c);
}

lg_tensor *lg_compare_scalar(lg_tensor *a, double s, lg_cmp op) {
  lg_tensor *b = lg_scalar(s, is_integral(s) ? a->dtype : float_of(a->dtype));
  if (!b) return NULL;
  bool was = lg_set_grad_enabled(false);
  lg_tensor *out = lg_compare(a, b, op);
  lg_set_grad_enabled(was);
  lg_release(b);
  return out;
}
