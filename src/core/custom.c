/* Custom ops: an op whose forward ran elsewhere (lunagrad.Function in Lua) and
 * whose backward is a callback with opaque state (see internal.h).
 *
 * The graph it records, for outputs y1..yn of inputs x1..xm:
 *   - one output (the common case): y1's node M, inputs x1..xm, calls back;
 *   - several: M has a link tensor of shape [total] (every float output's
 *     elements, flattened one after the other) and each yk gets its own node Ok
 *     whose rule places yk's gradient at its offset in a zero vector of that
 *     shape (a cat, differentiable). The engine runs M once, after every Ok
 *     that was reached, with the sum: so the callback runs once per walk with
 *     one gradient per output (zeros for outputs nothing used);
 *   - saved tensors live in M's saved slots and, past LG_MAX_SAVED, in holder
 *     nodes that are extra inputs of M. The engine frees saved slots after
 *     backward unless retain_graph (and refuses a second walk through them),
 *     exactly as for built-in ops. A saved output is kept detached (no cycle
 *     output -> node -> output) and comes back attached to its output's node
 *     under create_graph, as built-in rules see saved outputs (lg_rule_output).
 * All nodes share one refcounted record (the op infos named after the op, the
 * outputs' shapes, the callback and its state); each node's `custom` points at
 * its slot in it and the last node freed frees the state. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

enum { OUT_NONE, OUT_INT, OUT_FLOAT };

typedef struct custom_fn custom_fn;
typedef struct {
  custom_fn *fn;
  int k;         /* output index of an Ok node; -1 for M, -2 for holders */
  lg_node *node; /* the node holding this slot (outputs and M; NULL for holders) */
} custom_slot;

typedef struct {
  int kind, ndim;
  lg_dtype dtype;
  int64_t shape[LG_MAX_DIMS];
  int64_t offset, numel; /* where it sits in the link vector */
  lg_node *node;         /* the node its gradient enters (M when n_diff == 1), while it lives */
} custom_out;

struct custom_fn {
  int64_t refs; /* nodes holding a slot */
  lg_op_info main_op, out_op, holder_op;
  lg_custom_backward backward;
  void *state;
  void (*free_state)(void *);
  int n_in, n_out, n_saved, n_diff, n_holders;
  lg_dtype pack_dtype;
  int64_t total;
  lg_node *main;      /* M, while it lives */
  custom_slot *slots; /* n_out outputs, M, the holders */
  int *saved_out;     /* per saved tensor: the output it is, or -1 */
  char *name;
  custom_out outs[];  /* then slots, saved_out and name, in the same block */
};

static void unref(custom_fn *fn) {
  if (--fn->refs > 0) return;
  if (fn->free_state) fn->free_state(fn->state);
  free(fn);
}

static void free_slot(void *p) {
  custom_slot *s = p;
  custom_fn *fn = s->fn;
  for (int k = 0; k < fn->n_out; k++)
    if (s->node && fn->outs[k].node == s->node) fn->outs[k].node = NULL;
  if (s->node && fn->main == s->node) fn->main = NULL;
  s->node = NULL;
  unref(fn);
}

static void own(lg_node *node, custom_slot *s, bool track);

/* Where saved tensor j lives: M's slots, then the holders'. */
static lg_node *saved_node(custom_fn *fn, lg_node *main, int j, int *slot) {
  *slot = j % LG_MAX_SAVED;
  return j < LG_MAX_SAVED ? main : main->inputs[fn->n_in + (j - LG_MAX_SAVED) / LG_MAX_SAVED].fn;
}

/* A tensor whose grad_fn is M, of the link shape [total]: the input of an Ok. */
static lg_tensor *link_to_main(custom_fn *fn) {
  lg_tensor *zero = lg_scalar(0, fn->pack_dtype);
  int64_t shape[1] = {fn->total};
  lg_tensor *link = zero ? lg_expand(zero, 1, shape) : NULL;
  lg_release(zero);
  if (!link) return NULL;
  link->grad_fn = fn->main;
  fn->main->refcount++;
  link->requires_grad = true;
  return link;
}

/* Records `out` as output k's node Ok (several outputs). */
static lg_node *record_output(custom_fn *fn, int k, lg_tensor *out) {
  lg_tensor *link = link_to_main(fn);
  lg_node *node = link ? lg_record(&fn->out_op, out, &link, 1) : NULL;
  lg_release(link);
  if (!node) return NULL;
  own(node, &fn->slots[k], true);
  fn->outs[k].node = node;
  return node;
}

/* Saved output k in a rule: as saved, or under create_graph attached to the
 * node its gradient enters (recreated if that output has died since). */
static lg_tensor *saved_output(custom_fn *fn, int k, lg_tensor *saved) {
  if (!saved || !lg_grad_enabled()) return saved;
  lg_tensor *attached = lg_adopt(lg_detach(saved));
  if (!attached) return NULL;
  if (fn->outs[k].node) {
    attached->grad_fn = fn->outs[k].node;
    fn->outs[k].node->refcount++;
    attached->requires_grad = true;
  } else if (!record_output(fn, k, attached)) {
    return NULL;
  }
  return attached;
}

/* Ok: output k's gradient, flattened, at its offset in a zero vector of [total]. */
static void out_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  custom_slot *s = n->custom;
  custom_fn *fn = s->fn;
  int64_t off = fn->outs[s->k].offset, nk = fn->outs[s->k].numel, after = fn->total - off - nk;
  if (nk == 0) return; /* the engine gives the link zeros */
  lg_tensor *flat = lg_adopt(lg_reshape(g, 1, &nk));
  if (flat) flat = lg_adopt(lg_to_dtype(flat, fn->pack_dtype));
  if (!flat) return;
  lg_tensor *pieces[3];
  int np = 0;
  if (off > 0 && !(pieces[np++] = lg_adopt(lg_zeros(1, &off, fn->pack_dtype)))) return;
  pieces[np++] = flat;
  if (after > 0 && !(pieces[np++] = lg_adopt(lg_zeros(1, &after, fn->pack_dtype)))) return;
  gin[0] = np == 1 ? flat : lg_adopt(lg_cat(pieces, np, 0));
}

static void holder_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) { (void)n, (void)g, (void)gin; }

/* Output k's gradient from what reached M. */
static lg_tensor *output_grad(custom_fn *fn, int k, lg_tensor *g) {
  const custom_out *o = &fn->outs[k];
  if (o->kind == OUT_NONE) return NULL;
  if (o->kind == OUT_INT || o->numel == 0) return lg_adopt(lg_zeros(o->ndim, o->shape, o->dtype));
  if (fn->n_diff == 1) return g;
  lg_tensor *piece = lg_adopt(lg_narrow(g, 0, o->offset, o->numel));
  lg_tensor *shaped = piece ? lg_adopt(lg_reshape(piece, o->ndim, o->shape)) : NULL;
  return shaped ? lg_adopt(lg_to_dtype(shaped, o->dtype)) : NULL;
}

/* M: the callback, with one gradient per output and the saved tensors. */
static void main_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  custom_fn *fn = ((custom_slot *)n->custom)->fn;
  size_t n_ptrs = (size_t)fn->n_out + (size_t)fn->n_saved;
  lg_tensor *stack[16] = {0};
  lg_tensor **ptrs = n_ptrs <= 16 ? stack : calloc(n_ptrs, sizeof *ptrs);
  if (!ptrs) {
    lg_fail("out of memory in %s backward", fn->name);
    return;
  }
  lg_tensor **grads = ptrs, **saved = ptrs + fn->n_out;
  bool ok = true;
  for (int k = 0; k < fn->n_out && ok; k++) ok = (grads[k] = output_grad(fn, k, g)) || fn->outs[k].kind == OUT_NONE;
  for (int j = 0; j < fn->n_saved && ok; j++) {
    int slot;
    lg_tensor *t = saved_node(fn, n, j, &slot)->saved[slot];
    saved[j] = fn->saved_out[j] >= 0 ? saved_output(fn, fn->saved_out[j], t) : t;
    ok = saved[j] || !t;
  }
  if (ok) {
    lg_custom_call call = {.node = n, .grads = grads, .n_out = fn->n_out, .saved = saved,
                           .n_saved = fn->n_saved, .gin = gin, .n_in = fn->n_in};
    unsigned long failures = lg_failures();
    int rc = fn->backward(fn->state, &call);
    for (int i = 0; i < fn->n_in; i++) lg_adopt(gin[i]); /* the callback's references, to the scope */
    if (rc && lg_failures() == failures) lg_fail("%s backward failed", fn->name);
  }
  if (ptrs != stack) free(ptrs);
}

/* One block for the record, its arrays and its name. */
static custom_fn *new_fn(const char *name, int n_in, int n_out, int n_saved, int n_holders) {
  size_t len = strlen(name) + 1, no = (size_t)n_out, ns = (size_t)n_saved;
  custom_fn *fn = calloc(1, sizeof *fn + no * sizeof(custom_out) + (no + 2) * sizeof(custom_slot) +
                                ns * sizeof(int) + len);
  if (!fn) return NULL;
  fn->slots = (custom_slot *)(fn->outs + no);
  fn->saved_out = (int *)(fn->slots + no + 2);
  fn->name = (char *)(fn->saved_out + ns);
  memcpy(fn->name, name, len);
  fn->n_in = n_in, fn->n_out = n_out, fn->n_saved = n_saved, fn->n_holders = n_holders;
  fn->main_op = (lg_op_info){.name = fn->name, .rule = main_rule};
  fn->out_op = (lg_op_info){.name = fn->name, .rule = out_rule};
  fn->holder_op = (lg_op_info){.name = fn->name, .rule = holder_rule};
  for (size_t s = 0; s < no + 2; s++) fn->slots[s] = (custom_slot){.fn = fn, .k = s < no ? (int)s : s == no ? -1 : -2};
  return fn;
}

/* own: the node holds a slot (and so a reference to the record). */
static void own(lg_node *node, custom_slot *s, bool track) {
  if (track) s->node = node;
  node->custom = s;
  node->free_custom = free_slot;
  s->fn->refs++;
}

int lg_record_custom(const char *name, lg_custom_backward backward, void *state, void (*free_state)(void *),
                     lg_tensor *const *inputs, int n_in, lg_tensor *const *outputs, int n_out,
                     lg_tensor *const *saved, int n_saved, lg_tensor **results) {
  for (int k = 0; k < n_out; k++) results[k] = NULL;
  if (!lg_should_record(inputs, n_in)) { /* nothing to differentiate: the outputs as they are */
    for (int k = 0; k < n_out; k++)
      if ((results[k] = outputs[k])) lg_retain(outputs[k]);
    if (free_state) free_state(state);
    return 0;
  }
  int n_holders = n_saved > LG_MAX_SAVED ? (n_saved - 1) / LG_MAX_SAVED : 0;
  custom_fn *fn = new_fn(name, n_in, n_out, n_saved, n_holders);
  if (!fn) {
    if (free_state) free_state(state);
    return lg_failed("out of memory recording %s", name);
  }
  fn->backward = backward, fn->state = state, fn->free_state = free_state;
  fn->refs = 1; /* ours until the end: failures below release nodes, not the record */
  fn->pack_dtype = LG_F32;
  int k0 = -1;
  for (int k = 0; k < n_out; k++) {
    custom_out *o = &fn->outs[k];
    lg_tensor *t = outputs[k];
    if (!t) continue;
    o->ndim = t->ndim;
    memcpy(o->shape, t->shape, sizeof o->shape);
    o->dtype = t->dtype;
    o->numel = lg_numel(t);
    o->kind = lg_is_float(t->dtype) ? OUT_FLOAT : OUT_INT;
    if (o->kind != OUT_FLOAT) continue;
    o->offset = fn->total;
    fn->total += o->numel;
    if (t->dtype == LG_F64) fn->pack_dtype = LG_F64;
    fn->n_diff++;
    k0 = k;
  }
  for (int j = 0; j < n_saved; j++) {
    fn->saved_out[j] = -1;
    for (int k = 0; k < n_out && saved[j]; k++)
      if (outputs[k] == saved[j] && fn->outs[k].kind == OUT_FLOAT) fn->saved_out[j] = k;
  }
  int rc = 0;
  for (int k = 0; k < n_out && rc == 0; k++)
    if (outputs[k] && !(results[k] = lg_detach(outputs[k]))) rc = -1;
  lg_tensor **ins = NULL, *anchor = NULL;
  if (rc == 0 && fn->n_diff > 0) {
    ins = calloc((size_t)(n_in + n_holders) + 1, sizeof *ins);
    if (!ins) rc = lg_failed("out of memory recording %s", name);
  }
  if (rc == 0 && fn->n_diff > 0) {
    memcpy(ins, inputs, (size_t)n_in * sizeof *ins);
    for (int h = 0; h < n_holders && rc == 0; h++) { /* a scalar whose grad_fn holds saved slots */
      lg_tensor *t = ins[n_in + h] = lg_scalar(0, LG_F32);
      lg_node *holder = t ? lg_record(&fn->holder_op, t, NULL, 0) : NULL;
      if (holder) own(holder, &fn->slots[n_out + 1], false);
      else rc = -1;
    }
    anchor = rc == 0 && fn->n_diff > 1 ? lg_scalar(0, LG_F32) : NULL;
    lg_tensor *m_out = fn->n_diff == 1 ? results[k0] : anchor;
    lg_node *m = m_out ? lg_record(&fn->main_op, m_out, ins, n_in + n_holders) : NULL;
    if (m) {
      own(m, &fn->slots[n_out], true);
      fn->main = m;
      if (fn->n_diff == 1) fn->outs[k0].node = m;
      for (int j = 0; j < n_saved; j++) {
        if (!saved[j]) continue;
        int slot;
        lg_node *holder = saved_node(fn, m, j, &slot);
        if (fn->saved_out[j] < 0) lg_save(holder, slot, saved[j]);
        else if (lg_save_output(holder, slot, saved[j])) rc = -1; /* detached: no cycle */
      }
      for (int k = 0; k < n_out && rc == 0 && fn->n_diff > 1; k++)
        if (fn->outs[k].kind == OUT_FLOAT && !record_output(fn, k, results[k])) rc = -1;
    } else {
      rc = -1;
    }
  }
  for (int h = 0; ins && h < n_holders; h++) lg_release(ins[n_in + h]);
  free(ins);
  lg_release(anchor); /* M lives on in its outputs' nodes */
  if (rc != 0)
    for (int k = 0; k < n_out; k++) lg_release(results[k]), results[k] = NULL;
  unref(fn);
  return rc;
}
