/* What op kernels need beyond the public API: graph nodes, recording, the
 * strided iterator and the tensor constructors that skip checks.
 * Included by the core and op files only; never by the Lua binding's users. */
#ifndef LG_INTERNAL_H
#define LG_INTERNAL_H

#include "lg.h"

/* ---- autograd nodes ------------------------------------------------------
 * A node is one recorded op. Each input becomes an edge: either the node that
 * produced it, or the leaf tensor whose .grad accumulates. Edges keep the input's
 * shape so the engine can sum broadcast gradients back to it.  Saved tensors
 * are what the backward rule needs; outputs are saved as detached aliases
 * (lg_detach) so that output -> node -> output is never a reference cycle. */
#define LG_MAX_SAVED 4

typedef struct lg_edge {
  lg_node *fn;     /* producer of the input, retained, or NULL */
  lg_tensor *leaf; /* leaf input that requires grad, retained, or NULL */
  bool needs_grad; /* fn or leaf is set */
  int ndim;
  int64_t shape[LG_MAX_DIMS];
  lg_dtype dtype;
} lg_edge;

/* A backward rule: sets gin[i], for each input i whose edge needs_grad, to the
 * gradient of that input given g, the gradient of the output. It is written with
 * ops (the G_* wrappers of ops/rules.h), so that under create_graph the
 * gradients are differentiable too; the engine runs it inside a scope that
 * releases every op result the rule made, keeps what it put in gin, and checks
 * lg_failures() afterwards, so rules carry no error handling. A NULL gin[i] for
 * an input that needs grad means a zero gradient. Gradients may have the
 * broadcast (output) shape: the engine sums them to the input's. */
typedef void (*lg_rule_fn)(lg_node *node, lg_tensor *g, lg_tensor **gin);

/* What the specs need to call an elementwise op from the registry. */
typedef enum { LG_KIND_OTHER, LG_KIND_UNARY, LG_KIND_BINARY } lg_op_kind;
typedef enum { LG_DOMAIN_ANY, LG_DOMAIN_POS, LG_DOMAIN_UNIT, LG_DOMAIN_AWAY0, LG_DOMAIN_AWAYC } lg_domain;

typedef struct lg_op_info {
  const char *name;
  lg_rule_fn rule;
  lg_op_kind kind;
  int n_params;             /* scalar parameters of a unary op */
  double samples[2];        /* parameter values the registry specs use */
  lg_domain domain;
  /* elementwise ops: out = op(a, b) or op(a, c0, c1), whichever applies */
  lg_tensor *(*call)(lg_tensor *a, lg_tensor *b, double c0, double c1);
} lg_op_info;

struct lg_node {
  int64_t refcount;
  const lg_op_info *op;
  int n_inputs;
  lg_edge *inputs;
  lg_tensor *saved[LG_MAX_SAVED];
  uint64_t saved_version[LG_MAX_SAVED]; /* each saved tensor's storage version when saved */
  double f[4];              /* op parameters (alpha, exponent, ...) */
  int64_t i[2 * LG_MAX_DIMS]; /* integer parameters (dims, sizes) */
  bool released;            /* saved tensors freed after backward */
  /* custom ops (lg_function): the binding's state, freed with the node */
  void *custom;
  void (*free_custom)(void *custom);
  /* engine scratch */
  int64_t deps;
  lg_tensor *grad_acc;
  int visit;
  bool needed;              /* lg_grad: some requested input lies behind it */
  /* anomaly mode: where the op was called ("file.lua:12", owned), stamped by
   * the binding after the op returns; site_pending marks nodes recorded in
   * anomaly mode that have no site yet. Both stay NULL/false when it is off. */
  char *site;
  bool site_pending;
};

/* The op table: each registry entry becomes `extern const lg_op_info lg_op_NAME;`.
 * A hand-written op's file writes `LG_DEFINE_OP(NAME)` after its rule
 * `static void NAME_rule(lg_node *n, lg_tensor *g, lg_tensor **gin)`. */
#define LG_UNARY(name, ...) extern const lg_op_info lg_op_##name;
#define LG_BINARY(name, ...) extern const lg_op_info lg_op_##name;
#define LG_OP(name) extern const lg_op_info lg_op_##name;
#include "ops/ops.def"
#undef LG_UNARY
#undef LG_BINARY
#undef LG_OP
#define LG_DEFINE_OP(N) const lg_op_info lg_op_##N = {.name = #N, .rule = N##_rule}
/* Every registered op, in registry order, NULL-terminated (ops/registry.c). */
extern const lg_op_info *const lg_registry[];

/* True when grad mode is on and any of the inputs requires grad. */
bool lg_should_record(lg_tensor *const *inputs, int n);
/* Records out = op(inputs): makes out->grad_fn a new node and returns it
 * (borrowed, so the caller can fill saved/f/i). Call it only when
 * lg_should_record(inputs, n); NULL means out of memory. */
lg_node *lg_record(const lg_op_info *op, lg_tensor *out, lg_tensor *const *inputs, int n);
/* The one recording step of an op: if an input requires grad (and grad mode is
 * on), records `out` as op(inputs) and saves saves[k] into slot k (NULL entries
 * skipped; a saved tensor equal to out is saved as the op's output, see
 * lg_save_output). Returns out, or NULL after releasing out if recording failed.
 * `node`, when not NULL, receives the new node (NULL when nothing was recorded)
 * for parameters. */
lg_tensor *lg_recorded(const lg_op_info *op, lg_tensor *out, lg_tensor *const *inputs, int n,
                       lg_tensor *const *saves, int n_saves, lg_node **node);
/* Stores a retained reference in node->saved[slot]. */
void lg_save(lg_node *node, int slot, lg_tensor *t);
/* Stores a detached alias of t (for saving an op's own output). */
int lg_save_output(lg_node *node, int slot, lg_tensor *t);
/* In a rule: the op's output saved in `slot` with lg_save_output. Under
 * create_graph it comes back attached to the node (so gradients through it are
 * differentiable, as PyTorch unpacks saved outputs); otherwise as saved. */
lg_tensor *lg_rule_output(lg_node *node, int slot);
void lg_node_release(lg_node *n);

/* ---- the rule scope (core/scope.c) --------------------------------------- */
size_t lg_scope_open(void);
/* Hands t (a new reference, or NULL) to the open scope; returns t. */
lg_tensor *lg_adopt(lg_tensor *t);
void lg_scope_close(size_t mark);
/* Failures so far (core/error.c): a rule failed when the count moved. */
unsigned long lg_failures(void);

/* ---- custom ops (core/custom.c) ------------------------------------------------
 * An op defined outside the core (lunagrad.Function in Lua): its forward has run,
 * with grad mode off; lg_record_custom records the outputs as op `name` (their
 * grad_fn) with a rule that calls backward(state, call). The callback gets one
 * gradient per output (zeros for outputs nothing used, NULL for NULL outputs)
 * and the saved tensors, and sets call->gin[i] to a new reference (or NULL: a
 * zero gradient) for each input; it returns 0, or -1 after lg_fail. It runs in
 * the rule's scope, with grad mode on under create_graph. Saved tensors are
 * freed after backward unless retain_graph, as for built-in ops. free_state(state)
 * runs when the last node of the op is freed (at once if nothing is recorded). */
typedef struct lg_custom_call {
  const lg_node *node; /* node->inputs[i]: input i's shape and whether it needs grad */
  lg_tensor *const *grads;
  int n_out;
  lg_tensor *const *saved;
  int n_saved;
  lg_tensor **gin;
  int n_in;
} lg_custom_call;
typedef int (*lg_custom_backward)(void *state, const lg_custom_call *call);
/* inputs: n_in (NULL for arguments that are not tensors); outputs: the forward's
 * n_out results (NULL for non-tensors); saved: n_saved (NULL entries allowed; an
 * output among them is saved as that output). results[k] gets a new reference per
 * tensor output: a detached alias of outputs[k], recorded when it is a float
 * tensor and an input requires grad (else outputs[k] itself). 0, or -1. */
int lg_record_custom(const char *name, lg_custom_backward backward, void *state, void (*free_state)(void *),
                     lg_tensor *const *inputs, int n_in, lg_tensor *const *outputs, int n_out,
                     lg_tensor *const *saved, int n_saved, lg_tensor **results);

/* ---- anomaly mode (lunagrad.detect_anomaly; src/core/autograd.c) -------------
 * When on, nodes are marked for a creation site, and backward checks every
 * gradient a node's rule returns, failing at the first NaN/Inf with the op's
 * name and site. The binding checks forward outputs (it knows the Lua line).
 * When off it costs one branch per recorded op and per backward node. */
bool lg_anomaly_enabled(void);
bool lg_set_anomaly_enabled(bool on); /* returns the previous mode */
/* "NaN" if t holds a NaN, else "Inf" if it holds an infinity, else NULL
 * (int64 tensors: always NULL). */
const char *lg_nonfinite(const lg_tensor *t);
/* True when t->grad_fn was recorded in anomaly mode and has no site yet. */
bool lg_anomaly_pending(const lg_tensor *t);
/* Gives `site` (copied) to t->grad_fn and every node behind it that is still
 * pending: the nodes one call of the binding recorded. 0, or -1 out of memory. */
int lg_anomaly_stamp(lg_tensor *t, const char *site);

/* ---- tensor construction ---------------------------------------------- */
/* A tensor struct sharing `storage` (retained) with the given geometry. */
lg_tensor *lg_make_view(lg_storage *storage, lg_dtype dtype, int ndim, const int64_t *shape,
                        const int64_t *stride, int64_t offset);
/* Uninitialised contiguous tensor, like lg_empty but shape already validated. */
lg_tensor *lg_new_like_shape(int ndim, const int64_t *shape, lg_dtype dtype);
/* t as a contiguous tensor of `dtype` that records nothing (alias or copy). */
lg_tensor *lg_dense(lg_tensor *t, lg_dtype dtype);
/* Element i of a float32/float64 buffer, as double (for kernels written once). */
static inline double lg_load_float(const void *p, lg_dtype d, int64_t i) {
  return d == LG_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static inline void lg_store_float(void *p, lg_dtype d, int64_t i, double v) {
  if (d == LG_F32) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}
/* double -> int64 truncating toward zero, saturating at the int64 range, NaN -> 0
 * (a C cast is undefined there). */
static inline int64_t lg_to_int64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}
void lg_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
int64_t lg_shape_numel(int ndim, const int64_t *shape);
bool lg_same_shape(const lg_tensor *a, const lg_tensor *b);
/* Type promotion: float64 > float32 > int64. */
lg_dtype lg_promote(lg_dtype a, lg_dtype b);

/* ---- strided iteration ----------------------------------------------------
 * Walks `nops` operands that share one iteration shape (each with its own
 * element strides, 0 where broadcast). The shape is collapsed where memory is
 * contiguous, and the kernel is called once per innermost row:
 *   kernel(n, ptr[k] (char* to the row's first element), stride[k] (elements), ctx)
 * With parallel=true, rows (or chunks of a single long row) are split across
 * OpenMP threads; the kernel must then not write to shared locations. */
#define LG_ITER_MAX_OPS 4
typedef void (*lg_row_kernel)(int64_t n, char **ptr, const int64_t *stride, void *ctx);
void lg_iterate(int nops, lg_tensor *const *ops, const int64_t strides[][LG_MAX_DIMS], int ndim,
                const int64_t *shape, lg_row_kernel kernel, void *ctx, bool parallel);
/* Strides of t viewed with the broadcast shape (ndim dims, right-aligned). */
void lg_broadcast_strides(const lg_tensor *t, int ndim, const int64_t *shape, int64_t *out);

#include "kernels/kernels.h"

/* Hot loops are also compiled for AVX2 (8 floats per instruction instead of 4)
 * and picked at load time on x86-64 with glibc; elsewhere the portable build only. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
#define LG_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LG_VECTOR_CLONES
#endif

/* Minimum elements before OpenMP splits work (below it threads cost more). */
#define LG_PARALLEL_GRAIN 32768

#endif
