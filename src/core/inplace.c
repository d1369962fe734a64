/* In-place ops: t takes the value and the history of an out-of-place result.
 *
 * Every in-place op is its out-of-place op plus this step (x:add_(y) is
 * lg_inplace(x, lg_add(x, y))), so each one records, checks and differentiates
 * exactly like its out-of-place form. The storage's version goes up, so a node
 * that saved t earlier refuses to run at backward (autograd.c, check_saved). */
#include "core/internal.h"

/* True when another tensor may see t's memory (views, saved aliases). */
static bool shares_storage(const lg_tensor *t) { return t->storage->refcount > 1; }

int lg_inplace(lg_tensor *t, lg_tensor *result, const char *op) {
  char bt[96], br[96];
  if (!result) return -1;
  int rc = 0;
  bool recording = lg_grad_enabled() && result->requires_grad;
  if (!lg_same_shape(result, t))
    rc = lg_failed("%s: the result's shape %s does not match the tensor's %s (in-place ops keep the "
                   "shape; broadcasting may only widen the other operand)", op,
                   lg_shape_str(result, br, sizeof br), lg_shape_str(t, bt, sizeof bt));
  else if (t->dtype == LG_I64 && result->dtype != LG_I64)
    rc = lg_failed("%s: the result is %s and cannot be stored in place into an int64 tensor (use the "
                   "out-of-place op, or convert first with :float())", op, lg_dtype_name(result->dtype));
  else if (lg_grad_enabled() && t->requires_grad && !t->grad_fn)
    rc = lg_failed("%s: a leaf tensor that requires grad cannot be modified in place (do it under "
                   "lunagrad.no_grad, or on a clone())", op);
  else if (recording && shares_storage(t))
    rc = lg_failed("%s: in place with autograd on a tensor that shares its memory (a view, a tensor "
                   "with views, or an output an op saved) is not supported; use the out-of-place op "
                   "(x = x:op(...))", op);
  lg_tensor *typed = rc == 0 ? lg_to_dtype(result, t->dtype) : NULL;
  if (rc == 0 && !typed) rc = -1;
  /* A rule that reads t (mul_ needs the old value for the other operand's
   * gradient) gets the old value as a clone, recorded, so t -> node -> t is no
   * cycle and double backward still sees t's history (PyTorch saves it so too). */
  for (int k = 0; rc == 0 && recording && k < LG_MAX_SAVED; k++) {
    lg_node *node = result->grad_fn;
    if (node->saved[k] != t) continue;
    lg_tensor *old = lg_clone(t);
    if (!old) rc = -1;
    else {
      lg_save(node, k, old);
      lg_release(old);
    }
  }
  lg_release(result);
  if (rc == 0) rc = lg_copy(t, typed); /* bumps the version */
  if (rc == 0 && recording) { /* t continues typed's history */
    lg_node *node = typed->grad_fn;
    node->refcount++;
    lg_node_release(t->grad_fn);
    t->grad_fn = node;
    t->requires_grad = true;
  } else if (rc == 0 && t->grad_fn && lg_grad_enabled()) { /* the new value has no history */
    lg_node_release(t->grad_fn);
    t->grad_fn = NULL;
    t->requires_grad = false;
  }
  lg_release(typed);
  return rc;
}
