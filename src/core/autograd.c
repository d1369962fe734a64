/* Reverse-mode autograd: recording nodes, the backward walk, grad mode.
 *
 * backward(t) in three steps, all iterative so deep graphs never recurse:
 *   1. depth-first from t->grad_fn, counting for each node how many of the
 *      reached nodes consume its output (deps);
 *   2. Kahn's order: a node runs once every consumer has added its gradient
 *      into node->grad_acc; its rule yields one gradient per input, summed to
 *      the input's shape, added to the producer's grad_acc or the leaf's .grad;
 *   3. unless retain_graph, each node frees its saved tensors once run; a
 *      second backward through a node that had some is an error.
 * With create_graph, grad mode stays on while rules run, so the gradients are
 * recorded like any other result and can be differentiated again. lg_grad is
 * the same walk, returning the gradients of chosen tensors instead of
 * accumulating into leaves, and running only the nodes that lead to them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static bool grad_enabled = true;
static bool anomaly_enabled;

bool lg_grad_enabled(void) { return grad_enabled; }

bool lg_set_grad_enabled(bool on) {
  bool was = grad_enabled;
  grad_enabled = on;
  return was;
}

/* ---- node lifetime: freed through a worklist, never recursively ---------- */

static lg_node **dying;
static size_t n_dying, cap_dying;
static bool draining;

static void free_node(lg_node *n) {
  for (int k = 0; k < LG_MAX_SAVED; k++) lg_release(n->saved[k]);
  for (int i = 0; i < n->n_inputs; i++) {
    lg_node_release(n->inputs[i].fn);
    lg_release(n->inputs[i].leaf);
  }
  lg_release(n->grad_acc);
  if (n->free_custom) n->free_custom(n->custom);
  free(n->site);
  free(n->inputs);
  free(n);
}

void lg_node_release(lg_node *n) {
  if (!n || --n->refcount > 0) return;
  if (n_dying == cap_dying) {
    size_t cap = cap_dying ? cap_dying * 2 : 64;
    lg_node **grown = realloc(dying, cap * sizeof *grown);
    if (!grown) { /* no room to defer: free now (recursion depth = graph depth) */
      free_node(n);
      return;
    }
    dying = grown;
    cap_dying = cap;
  }
  dying[n_dying++] = n;
  if (draining) return;
  draining = true;
  while (n_dying > 0) free_node(dying[--n_dying]);
  draining = false;
}

/* ---- recording ---------------------------------------------------------- */

bool lg_should_record(lg_tensor *const *inputs, int n) {
  if (!grad_enabled) return false;
  for (int i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) return true;
  return false;
}

lg_node *lg_record(const lg_op_info *op, lg_tensor *out, lg_tensor *const *inputs, int n) {
  lg_node *node = calloc(1, sizeof *node);
  lg_edge *edges = calloc((size_t)(n > 0 ? n : 1), sizeof *edges);
  if (!node || !edges) {
    free(node);
    free(edges);
    return lg_fail("out of memory recording %s", op->name);
  }
  node->refcount = 1;
  node->op = op;
  node->site_pending = anomaly_enabled;
  node->n_inputs = n;
  node->inputs = edges;
  for (int i = 0; i < n; i++) {
    lg_tensor *in = inputs[i];
    if (!in) continue;
    lg_edge *e = &edges[i];
    e->ndim = in->ndim;
    memcpy(e->shape, in->shape, sizeof e->shape);
    e->dtype = in->dtype;
    if (!in->requires_grad) continue;
    e->needs_grad = true;
    if (in->grad_fn) {
      e->fn = in->grad_fn;
      e->fn->refcount++;
    } else {
      e->leaf = in;
      lg_retain(in);
    }
  }
  lg_node_release(out->grad_fn);
  out->grad_fn = node;
  out->requires_grad = true;
  return node;
}

void lg_save(lg_node *node, int slot, lg_tensor *t) {
  lg_retain(t);
  lg_release(node->saved[slot]);
  node->saved[slot] = t;
  node->saved_version[slot] = t->storage->version;
}

int lg_save_output(lg_node *node, int slot, lg_tensor *t) {
  lg_tensor *alias = lg_detach(t);
  if (!alias) return -1;
  lg_release(node->saved[slot]);
  node->saved[slot] = alias;
  node->saved_version[slot] = t->storage->version;
  return 0;
}

lg_tensor *lg_recorded(const lg_op_info *op, lg_tensor *out, lg_tensor *const *inputs, int n,
                       lg_tensor *const *saves, int n_saves, lg_node **node_out) {
  if (node_out) *node_out = NULL;
  if (!out || !lg_should_record(inputs, n)) return out;
  lg_node *node = lg_record(op, out, inputs, n);
  for (int k = 0; node && k < n_saves; k++) {
    if (!saves[k]) continue;
    if (saves[k] != out) lg_save(node, k, saves[k]);
    else if (lg_save_output(node, k, out)) node = NULL;
  }
  if (!node) {
    lg_release(out);
    return NULL;
  }
  if (node_out) *node_out = node;
  return out;
}

lg_tensor *lg_rule_output(lg_node *node, int slot) {
  lg_tensor *saved = node->saved[slot];
  if (!saved || !lg_grad_enabled()) return saved;
  lg_tensor *attached = lg_adopt(lg_detach(saved));
  if (!attached) return NULL;
  attached->grad_fn = node;
  node->refcount++;
  attached->requires_grad = true;
  return attached;
}

/* ---- leaf gradient hook (data-parallel training starts its reductions there) ---- */

static lg_grad_ready_fn grad_ready_hook;
static void *grad_ready_ud;

void lg_set_grad_ready_hook(lg_grad_ready_fn fn, void *ud) {
  grad_ready_hook = fn;
  grad_ready_ud = ud;
}

/* ---- leaves ------------------------------------------------------------- */

int lg_set_requires_grad(lg_tensor *t, bool on) {
  if (t->grad_fn)
    return lg_failed("requires_grad can only be changed on leaf tensors (use detach())");
  if (on && !lg_is_float(t->dtype))
    return lg_failed("only float tensors can require grad, got %s", lg_dtype_name(t->dtype));
  t->requires_grad = on;
  return 0;
}

const char *lg_grad_fn_name(const lg_tensor *t) { return t->grad_fn ? t->grad_fn->op->name : NULL; }

void lg_zero_grad(lg_tensor *t) {
  lg_release(t->grad);
  t->grad = NULL;
}

/* A gradient we may keep as .grad: ours alone, contiguous, of the leaf's dtype. */
static lg_tensor *owned_grad(lg_tensor *g, lg_dtype dtype) {
  if (g->dtype != dtype) return lg_to_dtype(g, dtype);
  if (g->refcount == 1 && g->storage->refcount == 1 && lg_is_contiguous(g) && !g->grad_fn) {
    lg_retain(g);
    return g;
  }
  return lg_clone(g);
}

/* Adds g into *slot. A node's running sum is only ever replaced, never written
 * in place, so it may share g; a leaf's .grad is the user's and must be its own. */
static int accumulate(lg_tensor **slot, lg_tensor *g, lg_dtype dtype, bool leaf) {
  lg_tensor *next;
  if (*slot) next = lg_add(*slot, g);
  else if (leaf) next = owned_grad(g, dtype);
  else next = lg_to_dtype(g, dtype); /* g itself, retained, when the dtype matches */
  if (!next) return -1;
  if (*slot && next->dtype != dtype) {
    lg_tensor *cast = lg_to_dtype(next, dtype);
    lg_release(next);
    if (!(next = cast)) return -1;
  }
  lg_release(*slot);
  *slot = next;
  return 0;
}

/* Sums a gradient of the broadcast shape back to the input's shape. */
static lg_tensor *fit_to_edge(lg_tensor *g, const lg_edge *e) {
  bool same = g->ndim == e->ndim;
  for (int d = 0; same && d < e->ndim; d++) same = g->shape[d] == e->shape[d];
  if (same) {
    lg_retain(g);
    return g;
  }
  return lg_sum_to(g, e->ndim, e->shape);
}

/* ---- anomaly mode ------------------------------------------------------------ */

bool lg_anomaly_enabled(void) { return anomaly_enabled; }

bool lg_set_anomaly_enabled(bool on) {
  bool was = anomaly_enabled;
  anomaly_enabled = on;
  return was;
}

typedef struct {
  bool nan, inf;
} finite_scan;

const char *lg_nonfinite(const lg_tensor *t) {
  if (!lg_is_float(t->dtype) || lg_numel(t) == 0) return NULL;
  finite_scan f = {false, false};
  int64_t n = lg_numel(t);
  if (lg_is_contiguous(t)) { /* the common case, without the iterator */
    if (t->dtype == LG_F32) {
      const float *x = lg_data_ptr(t);
      for (int64_t i = 0; i < n && !f.nan; i++) f.nan = x[i] != x[i], f.inf |= x[i] - x[i] != 0;
    } else {
      const double *x = lg_data_ptr(t);
      for (int64_t i = 0; i < n && !f.nan; i++) f.nan = x[i] != x[i], f.inf |= x[i] - x[i] != 0;
    }
  } else { /* strided (views): walk the index like an odometer */
    int64_t idx[LG_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n && !f.nan; k++) {
      double v = lg_get(t, idx);
      f.nan = v != v;
      f.inf |= !f.nan && v - v != 0;
      for (int d = t->ndim - 1; d >= 0 && ++idx[d] == t->shape[d]; d--) idx[d] = 0;
    }
  }
  return f.nan ? "NaN" : f.inf ? "Inf" : NULL;
}

bool lg_anomaly_pending(const lg_tensor *t) { return t->grad_fn && t->grad_fn->site_pending; }

int lg_anomaly_stamp(lg_tensor *t, const char *site) {
  if (!lg_anomaly_pending(t)) return 0;
  lg_node **stack = malloc(16 * sizeof *stack);
  size_t n = 0, cap = 16;
  if (!stack) return lg_failed("out of memory in anomaly mode");
  stack[n++] = t->grad_fn;
  t->grad_fn->site_pending = false;
  int rc = 0;
  while (n > 0) {
    lg_node *node = stack[--n];
    free(node->site);
    size_t len = strlen(site) + 1;
    if ((node->site = malloc(len))) memcpy(node->site, site, len);
    for (int i = 0; i < node->n_inputs; i++) {
      lg_node *in = node->inputs[i].fn;
      if (!in || !in->site_pending) continue;
      in->site_pending = false; /* marked when pushed: each node once */
      if (n == cap) {
        lg_node **grown = realloc(stack, 2 * cap * sizeof *grown);
        if (!grown) {
          rc = lg_failed("out of memory in anomaly mode");
          n = 0;
          break;
        }
        stack = grown;
        cap *= 2;
      }
      stack[n++] = in;
    }
  }
  free(stack);
  return rc;
}

static const char *ordinal(int i) {
  static char buf[16];
  const char *suffix = (i % 100 >= 11 && i % 100 <= 13) ? "th" : i % 10 == 1 ? "st" : i % 10 == 2 ? "nd"
                       : i % 10 == 3 ? "rd" : "th";
  snprintf(buf, sizeof buf, "%d%s", i, suffix);
  return buf;
}

/* Anomaly mode: the first gradient with NaN/Inf among what n's rule returned. */
static int check_gradients(const lg_node *n, lg_tensor *const *gin) {
  for (int i = 0; i < n->n_inputs; i++) {
    const char *bad = gin[i] && n->inputs[i].needs_grad ? lg_nonfinite(gin[i]) : NULL;
    if (!bad) continue;
    if (n->site)
      return lg_failed("function '%s' returned %s values in its %s input gradient (op created at %s)",
                       n->op->name, bad, ordinal(i + 1), n->site);
    return lg_failed("function '%s' returned %s values in its %s input gradient (creation site "
                     "unknown: enable anomaly mode before the forward pass)", n->op->name, bad, ordinal(i + 1));
  }
  return 0;
}

/* ---- the backward walk ---------------------------------------------------- */

typedef struct {
  lg_node **items;
  size_t n, cap;
} node_list;

static int push(node_list *l, lg_node *n) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    lg_node **grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) return lg_failed("out of memory walking the graph");
    l->items = grown;
    l->cap = cap;
  }
  l->items[l->n++] = n;
  return 0;
}

static int visit_epoch;

/* Step 1: every node reachable from root, with deps = number of consumers.
 * Called once per output of a walk: the first call starts a new epoch, later
 * ones add what the previous roots did not reach. */
static int collect_more(lg_node *root, node_list *all) {
  node_list stack = {0};
  if (all->n == 0) ++visit_epoch;
  int epoch = visit_epoch, rc = 0;
  if (root->visit == epoch) return 0;
  root->visit = epoch;
  if (push(&stack, root) || push(all, root)) rc = -1;
  while (rc == 0 && stack.n > 0) {
    lg_node *n = stack.items[--stack.n];
    if (n->released) {
      rc = lg_failed("trying to backward through the graph a second time (its saved "
                     "tensors were freed by the first backward); pass {retain_graph=true} to "
                     "the first backward to keep them");
      break;
    }
    for (int i = 0; i < n->n_inputs; i++) {
      lg_node *fn = n->inputs[i].fn;
      if (!fn) continue;
      fn->deps++;
      if (fn->visit != epoch) {
        fn->visit = epoch;
        if (push(&stack, fn) || push(all, fn)) { rc = -1; break; }
      }
    }
  }
  free(stack.items);
  return rc;
}

/* What one walk is asked for. With targets (lg_grad), gradients reaching the
 * target tensors land in results[] instead of any leaf's .grad, and only the
 * nodes marked `needed` run. */
typedef struct {
  bool retain, create_graph;
  int n_targets;
  lg_tensor *const *targets;
  lg_tensor **results;
} walk;

static int target_of_leaf(const walk *w, const lg_tensor *leaf) {
  for (int k = 0; k < w->n_targets; k++)
    if (w->targets[k] == leaf) return k;
  return -1;
}

static int target_of_node(const walk *w, const lg_node *n) {
  for (int k = 0; k < w->n_targets; k++)
    if (w->targets[k]->grad_fn == n) return k;
  return -1;
}

/* Where input e's gradient goes: the producer's running sum, the leaf's .grad,
 * a result slot of lg_grad, or nowhere (NULL: a leaf lg_grad was not asked for). */
/* Takes g's reference: a gradient nobody else holds becomes a leaf's .grad
 * without a copy (owned_grad). */
static int deliver(const walk *w, lg_edge *e, lg_tensor *g) {
  lg_tensor *fitted = fit_to_edge(g, e);
  lg_release(g);
  if (!fitted) return -1;
  int rc = 0;
  if (e->fn) {
    if (!w->targets || e->fn->needed) rc = accumulate(&e->fn->grad_acc, fitted, e->dtype, false);
  } else if (!w->targets) {
    rc = accumulate(&e->leaf->grad, fitted, e->leaf->dtype, true);
    if (rc == 0 && grad_ready_hook) grad_ready_hook(e->leaf, grad_ready_ud);
  } else {
    int k = target_of_leaf(w, e->leaf);
    if (k >= 0) rc = accumulate(&w->results[k], fitted, e->dtype, false);
  }
  lg_release(fitted);
  return rc;
}

/* PyTorch's version-counter check: what the rule will read is what was saved. */
static int check_saved(const lg_node *n) {
  char b[96];
  for (int k = 0; k < LG_MAX_SAVED; k++) {
    const lg_tensor *s = n->saved[k];
    if (s && s->storage->version != n->saved_version[k])
      return lg_failed("a tensor that '%s' saved for its gradient (saved tensor %d, shape %s) was "
                       "modified by an in-place operation after the op (version %llu, now %llu); "
                       "modify a clone() instead, or after backward", n->op->name, k + 1,
                       lg_shape_str(s, b, sizeof b), (unsigned long long)n->saved_version[k],
                       (unsigned long long)s->storage->version);
  }
  return 0;
}

/* The rule's gradients, in its scope; a needed input left NULL gets zeros. */
static int run_rule(lg_node *n, lg_tensor *g, lg_tensor **gin) {
  size_t mark = lg_scope_open();
  unsigned long failures = lg_failures();
  n->op->rule(n, g, gin);
  int rc = lg_failures() == failures ? 0 : -1;
  for (int i = 0; i < n->n_inputs; i++) {
    lg_edge *e = &n->inputs[i];
    if (rc == 0 && e->needs_grad && !gin[i]) gin[i] = lg_zeros(e->ndim, e->shape, e->dtype);
    else if (gin[i]) lg_retain(gin[i]); /* out of the scope, into our hands */
    if (!gin[i] && e->needs_grad && rc == 0) rc = -1;
  }
  lg_scope_close(mark);
  return rc;
}

static int run_node(lg_node *n, node_list *ready, const walk *w) {
  lg_tensor *g = n->grad_acc;
  n->grad_acc = NULL;
  int rc = 0;
  if (w->targets) {
    int k = target_of_node(w, n);
    if (k >= 0 && g) rc = accumulate(&w->results[k], g, g->dtype, false);
  }
  lg_tensor *stack_gin[4] = {0};
  lg_tensor **gin = n->n_inputs <= 4 ? stack_gin : calloc((size_t)n->n_inputs, sizeof *gin);
  if (rc == 0 && !gin) rc = lg_failed("out of memory in backward");
  bool run = rc == 0 && g && (!w->targets || n->needed);
  if (run) rc = check_saved(n);
  if (run && rc == 0) rc = run_rule(n, g, gin);
  if (rc == 0 && run && anomaly_enabled) rc = check_gradients(n, gin);
  for (int i = 0; i < n->n_inputs; i++) {
    lg_edge *e = &n->inputs[i];
    if (rc == 0 && gin && gin[i] && e->needs_grad) {
      rc = deliver(w, e, gin[i]);
      gin[i] = NULL;
    }
    if (gin) lg_release(gin[i]);
    if (e->fn && --e->fn->deps == 0 && rc == 0 && (!w->targets || e->fn->needed)) rc = push(ready, e->fn);
  }
  if (gin != stack_gin) free(gin);
  lg_release(g);
  if (!w->retain && run) { /* a node that saved nothing can run again (PyTorch allows that too) */
    bool had_saved = false;
    for (int k = 0; k < LG_MAX_SAVED; k++) {
      had_saved |= n->saved[k] != NULL;
      lg_release(n->saved[k]);
      n->saved[k] = NULL;
    }
    n->released = had_saved;
  }
  return rc;
}

/* lg_grad runs only the nodes from which a target can be reached: marks them,
 * visiting each node after all its inputs (a topological order found by a
 * second Kahn pass over the deps counted by collect). */
static int mark_needed(node_list *all, const walk *w, lg_node *const *roots, int n_roots) {
  node_list order = {0}, ready = {0};
  int rc = 0;
  for (size_t i = 0; i < all->n; i++) all->items[i]->needed = false, all->items[i]->visit = (int)all->items[i]->deps;
  for (int r = 0; r < n_roots && rc == 0; r++)
    if (roots[r] && roots[r]->visit == 0 && !roots[r]->needed) { /* not pushed twice */
      roots[r]->needed = true; /* borrowed as a "queued" mark, reset below */
      rc = push(&ready, roots[r]);
    }
  while (rc == 0 && ready.n > 0) {
    lg_node *n = ready.items[--ready.n];
    rc = push(&order, n);
    for (int i = 0; i < n->n_inputs && rc == 0; i++) {
      lg_node *fn = n->inputs[i].fn;
      if (fn && --fn->visit == 0) rc = push(&ready, fn);
    }
  }
  for (size_t i = order.n; rc == 0 && i-- > 0;) { /* inputs before consumers */
    lg_node *n = order.items[i];
    bool needed = target_of_node(w, n) >= 0;
    for (int j = 0; j < n->n_inputs && !needed; j++) {
      lg_edge *e = &n->inputs[j];
      needed = (e->fn && e->fn->needed && e->fn->visit == -1) || (e->leaf && target_of_leaf(w, e->leaf) >= 0);
    }
    n->needed = needed;
    n->visit = -1; /* decided */
  }
  free(order.items);
  free(ready.items);
  return rc;
}

/* The walk from several outputs, each seeded with its gradient. */
static int run_walk(lg_tensor *const *outs, lg_tensor *const *seeds, int n_out, const walk *w) {
  bool was = lg_set_grad_enabled(w->create_graph);
  node_list all = {0}, ready = {0};
  lg_node *stack_roots[8];
  lg_node **roots = n_out <= 8 ? stack_roots : calloc((size_t)n_out, sizeof *roots);
  int rc = roots ? 0 : lg_failed("out of memory in backward");
  for (int k = 0; k < n_out && rc == 0; k++) {
    roots[k] = outs[k]->grad_fn;
    if (!roots[k]) { /* a leaf output: its gradient is its seed */
      if (!w->targets) {
        rc = accumulate(&outs[k]->grad, seeds[k], outs[k]->dtype, true);
        if (rc == 0 && grad_ready_hook) grad_ready_hook(outs[k], grad_ready_ud);
      } else {
        int t = target_of_leaf(w, outs[k]);
        if (t >= 0) rc = accumulate(&w->results[t], seeds[k], outs[k]->dtype, false);
      }
      continue;
    }
    rc = collect_more(roots[k], &all);
    if (rc == 0) rc = accumulate(&roots[k]->grad_acc, seeds[k], outs[k]->dtype, false);
  }
  if (rc == 0 && w->targets) rc = mark_needed(&all, w, roots, n_out);
  for (int k = 0; k < n_out && rc == 0; k++) /* roots nobody else consumes start the walk */
    if (roots[k] && roots[k]->deps == 0 && (!w->targets || roots[k]->needed)) {
      roots[k]->deps = -1; /* queued once even if listed twice */
      rc = push(&ready, roots[k]);
    }
  while (rc == 0 && ready.n > 0) rc = run_node(ready.items[--ready.n], &ready, w);
  for (size_t i = 0; i < all.n; i++) { /* leave no scratch behind, even on error */
    all.items[i]->deps = 0;
    all.items[i]->needed = false;
    lg_release(all.items[i]->grad_acc);
    all.items[i]->grad_acc = NULL;
  }
  if (roots != stack_roots) free(roots);
  free(all.items);
  free(ready.items);
  lg_set_grad_enabled(was);
  return rc;
}

static lg_tensor *make_seed(lg_tensor *t, lg_tensor *grad) {
  char b1[96], b2[96];
  if (!grad && lg_numel(t) != 1)
    return lg_fail("grad can be implicitly created only for one-element outputs, got shape %s "
                   "(pass a gradient of the same shape)", lg_shape_str(t, b1, sizeof b1));
  if (grad && !lg_same_shape(grad, t))
    return lg_fail("gradient of shape %s does not match the tensor's shape %s",
                   lg_shape_str(grad, b1, sizeof b1), lg_shape_str(t, b2, sizeof b2));
  return grad ? lg_to_dtype(grad, t->dtype) : lg_ones(t->ndim, t->shape, t->dtype);
}

static int seeded_walk(lg_tensor *const *outs, lg_tensor *const *grads, int n_out, const walk *w) {
  lg_tensor *stack_seeds[8] = {0};
  lg_tensor **seeds = n_out <= 8 ? stack_seeds : calloc((size_t)n_out, sizeof *seeds);
  int rc = seeds ? 0 : lg_failed("out of memory in backward");
  for (int k = 0; k < n_out && rc == 0; k++) {
    if (!outs[k]->requires_grad)
      rc = n_out > 1 ? lg_failed("output %d does not require grad and has no grad_fn", k + 1)
                     : lg_failed("tensor does not require grad and has no grad_fn");
    else if (!(seeds[k] = make_seed(outs[k], grads ? grads[k] : NULL))) rc = -1;
  }
  if (rc == 0) rc = run_walk(outs, seeds, n_out, w);
  for (int k = 0; k < n_out && seeds; k++) lg_release(seeds[k]);
  if (seeds != stack_seeds) free(seeds);
  return rc;
}

int lg_backward_ex(lg_tensor *t, lg_tensor *grad, bool retain_graph, bool create_graph) {
  walk w = {.retain = retain_graph || create_graph, .create_graph = create_graph};
  lg_tensor *grads[1] = {grad};
  return seeded_walk(&t, grad ? grads : NULL, 1, &w);
}

int lg_backward(lg_tensor *t, lg_tensor *grad, bool retain_graph) {
  return lg_backward_ex(t, grad, retain_graph, false);
}

int lg_grad(lg_tensor *const *outputs, lg_tensor *const *grad_outputs, int n_out,
            lg_tensor *const *inputs, int n_in, const lg_grad_options *o, lg_tensor **results) {
  for (int k = 0; k < n_in; k++) {
    results[k] = NULL;
    if (!inputs[k]->requires_grad)
      return lg_failed("input %d does not require grad (only tensors with requires_grad, or "
                       "computed from one, can be differentiated against)", k + 1);
  }
  walk w = {.retain = o->retain_graph || o->create_graph, .create_graph = o->create_graph,
            .n_targets = n_in, .targets = inputs, .results = results};
  int rc = seeded_walk(outputs, grad_outputs, n_out, &w);
  for (int k = 0; k < n_in && rc == 0; k++)
    if (!results[k] && !o->allow_unused)
      rc = lg_failed("input %d was not used to compute the outputs (pass allow_unused = true to "
                     "get nil for it)", k + 1);
  if (rc != 0)
    for (int k = 0; k < n_in; k++) lg_release(results[k]), results[k] = NULL;
  return rc;
}
