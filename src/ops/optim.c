/* Fused optimiser updates: one pass over (param, grad, momentum buffer) instead
 * of the four kernels and two copies that the same rule costs as tensor ops. */
#include <string.h>

#include "core/internal.h"

typedef struct {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first;
} sgd_ctx;

/* PyTorch's SGD, step by step in the parameter's precision:
 *   d = g + wd p;  buf = d (first) | momentum buf + (1 - dampening) d;
 *   d = nesterov ? d + momentum buf : buf;  p = p - lr d */
#define SGD_BODY(T)                                                                    \
  T *p = (T *)ptr[0], *buf = (T *)ptr[2];                                              \
  const T *g = (const T *)ptr[1];                                                      \
  const T lr = (T)c->lr, mom = (T)c->momentum, damp = (T)(1 - c->dampening);           \
  const T wd = (T)c->weight_decay;                                                     \
  for (int64_t i = 0; i < n; i++) {                                                    \
    T pi = p[i * s[0]], d = c->maximize ? -g[i * s[1]] : g[i * s[1]];                  \
    if (c->weight_decay != 0) d = d + wd * pi;                                         \
    if (c->momentum != 0) {                                                            \
      T b = c->first ? d : mom * buf[i * s[2]] + damp * d;                             \
      buf[i * s[2]] = b;                                                               \
      d = c->nesterov ? d + mom * b : b;                                               \
    }                                                                                  \
    p[i * s[0]] = pi - lr * d;                                                         \
  }

LG_VECTOR_CLONES static void sgd_row_f32(int64_t n, char **ptr, const int64_t *s, void *vctx) {
  const sgd_ctx *c = vctx;
  SGD_BODY(float)
}

LG_VECTOR_CLONES static void sgd_row_f64(int64_t n, char **ptr, const int64_t *s, void *vctx) {
  const sgd_ctx *c = vctx;
  SGD_BODY(double)
}

int lg_sgd_update(lg_tensor *param, lg_tensor *grad, lg_tensor *buf, const lg_sgd_options *o) {
  char b1[96], b2[96];
  if (!lg_is_float(param->dtype)) return lg_failed("parameters must be float tensors");
  if (!lg_same_shape(param, grad) || grad->dtype != param->dtype)
    return lg_failed("gradient %s %s does not match parameter %s %s", lg_shape_str(grad, b1, sizeof b1),
                     lg_dtype_name(grad->dtype), lg_shape_str(param, b2, sizeof b2),
                     lg_dtype_name(param->dtype));
  if (o->momentum != 0 && (!buf || !lg_same_shape(buf, param) || buf->dtype != param->dtype))
    return lg_failed("momentum buffer missing or not shaped like the parameter");
  sgd_ctx c = {o->lr, o->momentum, o->dampening, o->weight_decay, o->nesterov, o->maximize, o->first};
  lg_tensor *ops[3] = {param, grad, buf ? buf : param};
  int64_t strides[3][LG_MAX_DIMS];
  for (int k = 0; k < 3; k++) memcpy(strides[k], ops[k]->stride, sizeof strides[k]);
  lg_iterate(3, ops, strides, param->ndim, param->shape,
             param->dtype == LG_F32 ? sgd_row_f32 : sgd_row_f64, &c, true);
  param->storage->version++;
  return 0;
}
