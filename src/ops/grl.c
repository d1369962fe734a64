/* The Gradient Reversal Layer (Ganin & Lempitsky, 2015).
 * Forward: the identity, as a view sharing x's storage (no copy).
 * Backward: the incoming gradient times -alpha, alpha captured at forward time. */
#include <math.h>

#include "ops/rules.h"

lg_tensor *lg_revgrad(lg_tensor *x, double alpha) {
  if (!isfinite(alpha)) return lg_fail("alpha must be a finite number, got %g", alpha);
  lg_tensor *out = lg_make_view(x->storage, x->dtype, x->ndim, x->shape, x->stride, x->offset);
  if (!out) return NULL;
  lg_tensor *in[1] = {x};
  lg_node *node;
  out = lg_recorded(&lg_op_revgrad, out, in, 1, NULL, 0, &node);
  if (node) node->f[0] = alpha;
  return out;
}

static void revgrad_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { gin[0] = G_mul_scalar(g, -n->f[0]); }
LG_DEFINE_OP(revgrad);
