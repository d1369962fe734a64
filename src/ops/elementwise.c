/* Elementwise ops with NumPy broadcasting, made from the registry (ops/ops.def).
 *
 * Kernels are generated per dtype from one expression (tgmath.h picks expf for
 * float and exp for double); each has a contiguous fast path the compiler
 * vectorises. int64 inputs of float-valued functions are promoted to float32. */
#include <math.h>
#include <string.h>
#include <tgmath.h>

#include "ops/rules.h"

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
  const double *c = ctx, c0 = c[0], c1 = c[1];                                    \
  (void)c0, (void)c1;                                                              \
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

/* ---- the registry's elementwise ops ---------------------------------------------- */

/* What a rule reads: saved[0] = the input a, saved[1] = b or the output y.
 * Saving nothing keeps the inputs free to go, and lets backward run twice. */
#define SAVE_NONE 0
#define SAVE_A 1
#define SAVE_B 2
#define SAVE_AB 3
#define SAVE_Y 4
#define SAVE_AY 5

static lg_dtype DT_SAME(lg_dtype d, double c0) { (void)c0; return d; }
static lg_dtype DT_FLOAT(lg_dtype d, double c0) { (void)c0; return float_of(d); }
static lg_dtype DT_INT_IF_C0(lg_dtype d, double c0) { return is_integral(c0) ? d : float_of(d); }
static lg_dtype DT_POW(lg_dtype d, double c0) { return is_integral(c0) && c0 >= 0 ? d : float_of(d); }

static lg_tensor *unary_op(const kernel_set *k, const lg_op_info *op, lg_tensor *a, lg_dtype dtype,
                           double c0, double c1, int save) {
  lg_tensor *out = run_unary(k, a, dtype, c0, c1);
  lg_tensor *saves[2] = {save & SAVE_A ? a : NULL, save & SAVE_Y ? out : NULL};
  lg_node *node;
  lg_tensor *in[1] = {a};
  if (!lg_recorded(op, out, in, 1, saves, 2, &node)) return NULL;
  if (node) node->f[0] = c0, node->f[1] = c1;
  return out;
}

static lg_tensor *binary_op(const kernel_set *k, const lg_op_info *op, lg_tensor *a, lg_tensor *b,
                            lg_dtype dtype, int save) {
  lg_tensor *saves[2] = {save & SAVE_A ? a : NULL, save & SAVE_B ? b : NULL};
  lg_tensor *in[2] = {a, b};
  return lg_recorded(op, run_binary(k, a, b, dtype), in, 2, saves, 2, NULL);
}

#define PARAMS_P0 (lg_tensor *a)
#define PARAMS_P1(s0) (lg_tensor *a, double c0)
#define PARAMS_P2(s0, s1) (lg_tensor *a, double c0, double c1)
#define CONSTS_P0 0, 0
#define CONSTS_P1(s0) c0, 0
#define CONSTS_P2(s0, s1) c0, c1
#define META_P0 .n_params = 0
#define META_P1(s0) .n_params = 1, .samples = {s0}
#define META_P2(s0, s1) .n_params = 2, .samples = {s0, s1}
#define CALL_P0 (a)
#define CALL_P1(s0) (a, c0)
#define CALL_P2(s0, s1) (a, c0, c1)

#define LG_UNARY(NAME, PARAMS, DTYPE, SAVES, DOMAIN, FORWARD, DERIVATIVE)                        \
  DEFINE_UNARY(NAME, FORWARD)                                                                     \
  lg_tensor *lg_##NAME PARAMS_##PARAMS {                                                          \
    double k0_[2] = {CONSTS_##PARAMS};                                                            \
    return unary_op(&NAME##_kernels, &lg_op_##NAME, a, DT_##DTYPE(a->dtype, k0_[0]), k0_[0],      \
                    k0_[1], SAVE_##SAVES);                                                        \
  }                                                                                               \
  static void NAME##_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {                            \
    lg_tensor *a = n->saved[0], *y = (SAVE_##SAVES & SAVE_Y) ? lg_rule_output(n, 1) : NULL;      \
    double c0 = n->f[0], c1 = n->f[1];                                                            \
    (void)a, (void)y, (void)c0, (void)c1, (void)g;                                                \
    gin[0] = (DERIVATIVE);                                                                        \
  }                                                                                               \
  static lg_tensor *NAME##_call(lg_tensor *a, lg_tensor *b, double c0, double c1) {               \
    (void)b, (void)c0, (void)c1;                                                                  \
    return lg_##NAME CALL_##PARAMS;                                                               \
  }                                                                                               \
  const lg_op_info lg_op_##NAME = {.name = #NAME, .rule = NAME##_rule, .kind = LG_KIND_UNARY,     \
                                   META_##PARAMS, .domain = LG_DOMAIN_##DOMAIN, .call = NAME##_call};

#define LG_BINARY(NAME, DTYPE, SAVES, DOMAIN, FORWARD, GRAD_A, GRAD_B)                           \
  DEFINE_BINARY(NAME, FORWARD)                                                                    \
  lg_tensor *lg_##NAME(lg_tensor *a, lg_tensor *b) {                                              \
    return binary_op(&NAME##_kernels, &lg_op_##NAME, a, b,                                        \
                     DT_##DTYPE(lg_promote(a->dtype, b->dtype), 0), SAVE_##SAVES);                \
  }                                                                                               \
  static void NAME##_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {                            \
    lg_tensor *a = n->saved[0], *b = n->saved[1];                                                 \
    (void)a, (void)b;                                                                             \
    if (n->inputs[0].needs_grad) gin[0] = (GRAD_A);                                               \
    if (n->inputs[1].needs_grad) gin[1] = (GRAD_B);                                               \
  }                                                                                               \
  static lg_tensor *NAME##_call(lg_tensor *a, lg_tensor *b, double c0, double c1) {               \
    (void)c0, (void)c1;                                                                           \
    return lg_##NAME(a, b);                                                                       \
  }                                                                                               \
  const lg_op_info lg_op_##NAME = {.name = #NAME, .rule = NAME##_rule, .kind = LG_KIND_BINARY,    \
                                   .domain = LG_DOMAIN_##DOMAIN, .call = NAME##_call};
#define LG_OP(name)
#include "ops/ops.def"
#undef LG_UNARY
#undef LG_BINARY
#undef LG_OP

/* ---- comparisons: 0/1 in float64 for float64 inputs, else float32; never
 * differentiable ------------------------------------------------------------------ */

/* One loop per (dtype, comparison), with the common "tensor vs scalar,
 * contiguous" case separate so that it vectorises. */
#define CMP_LOOP(T, EXPR)                                                                \
  do {                                                                                   \
    const T *x = (const T *)p[1], *y = (const T *)p[2];                                  \
    if (s[0] == 1 && s[1] == 1 && s[2] == 0) {                                           \
      T b = y[0];                                                                        \
      for (int64_t i = 0; i < n; i++) { T a = x[i]; o[i] = (EXPR) ? 1 : 0; }             \
    } else {                                                                             \
      for (int64_t i = 0; i < n; i++) {                                                  \
        T a = x[i * s[1]], b = y[i * s[2]];                                              \
        o[i * s[0]] = (EXPR) ? 1 : 0;                                                    \
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

#define DEFINE_COMPARE_ROW(NAME, OT)                                                     \
  LG_VECTOR_CLONES static void NAME(int64_t n, char **p, const int64_t *s, void *vctx) {  \
    const cmp_ctx *c = vctx;                                                               \
    lg_cmp op = c->op;                                                                     \
    OT *o = (OT *)p[0];                                                                    \
    if (c->dtype == LG_F32) CMP_CASES(float)                                               \
    else if (c->dtype == LG_F64) CMP_CASES(double)                                         \
    else CMP_CASES(int64_t)                                                                \
  }
DEFINE_COMPARE_ROW(compare_row_f32, float)
DEFINE_COMPARE_ROW(compare_row_f64, double)

lg_tensor *lg_compare(lg_tensor *a, lg_tensor *b, lg_cmp op) {
  cmp_ctx c = {op, lg_promote(a->dtype, b->dtype)};
  return c.dtype == LG_F64 ? broadcast_apply(a, b, c.dtype, LG_F64, compare_row_f64, &c)
                           : broadcast_apply(a, b, c.dtype, LG_F32, compare_row_f32, &c);
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
