/* lunagrad core: tensors, reverse-mode autograd and the Gradient Reversal Layer.
 *
 * A tour in twenty lines: f(x) = a*x^2 + b, then df/dx by backward.
 *
 *   int64_t one[1] = {1};
 *   lg_tensor *x = lg_full(1, one, 3.0, LG_F32);      // new reference
 *   lg_set_requires_grad(x, true);                      // a leaf we want .grad of
 *   lg_tensor *x2 = lg_mul(x, x);                       // records a node: x2->grad_fn
 *   lg_tensor *ax2 = lg_mul_scalar(x2, 2.0);
 *   lg_tensor *f = lg_add_scalar(ax2, 1.0);             // f = 2*9 + 1 = 19
 *   lg_backward(f, NULL, false);                        // walks the graph once
 *   double g = lg_item(x->grad);                        // 12 = 2*a*x
 *   lg_release(f); lg_release(ax2); lg_release(x2); lg_release(x);
 *
 * Rules every function follows:
 * - A function returning lg_tensor* returns a NEW reference (release it with
 *   lg_release) or NULL on error; lg_error() then says what was wrong.
 *   Tensor arguments are borrowed. Nothing here exits, aborts or longjmps.
 * - Dims are 0-based here and may be negative (from the end); the Lua binding
 *   converts its 1-based dims before calling in.
 * - An op records an autograd node only when grad mode is on and an input
 *   requires grad. Backward rules live next to their kernels in src/ops/.
 */
#ifndef LG_H
#define LG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_MAX_DIMS 8

typedef enum { LG_F32 = 0, LG_F64 = 1, LG_I64 = 2 } lg_dtype;

typedef struct lg_storage {
  int64_t refcount;
  size_t nbytes;   /* bytes requested */
  size_t capacity; /* bytes of the size class actually held */
  void *data;      /* 64-byte aligned */
  uint64_t version; /* bumped by every in-place write: backward checks what it saved */
} lg_storage;

typedef struct lg_node lg_node;

typedef struct lg_tensor {
  int64_t refcount;
  lg_storage *storage;
  int64_t offset; /* in elements */
  int ndim;
  lg_dtype dtype;
  int64_t shape[LG_MAX_DIMS];
  int64_t stride[LG_MAX_DIMS]; /* in elements; 0 for expanded dims */
  bool requires_grad;
  struct lg_tensor *grad; /* accumulated gradient of a leaf, or NULL */
  lg_node *grad_fn;       /* node that produced this tensor, NULL for leaves */
} lg_tensor;

/* ---- errors ------------------------------------------------------------ */
const char *lg_error(void);
/* Sets the message (printf-style) and returns NULL, for `return lg_fail(...)`. */
void *lg_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, returning -1 for int-returning functions. */
int lg_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes "[2,3,4]" into buf. */
const char *lg_shape_str(const lg_tensor *t, char *buf, size_t len);

/* ---- storage and memory accounting --------------------------------------- */
lg_storage *lg_storage_new(size_t nbytes);
void lg_storage_retain(lg_storage *s);
void lg_storage_release(lg_storage *s);
typedef struct {
  int64_t live_bytes, peak_bytes, tensors, cached_bytes;
} lg_memory_stats;
lg_memory_stats lg_memory(void);
void lg_empty_cache(void);
void lg_set_cache_limit(size_t bytes);
/* Bytes allocated since the last call: the binding reports them to the Lua GC. */
size_t lg_take_allocated_bytes(void);

/* ---- tensor lifetime and metadata ----------------------------------------- */
void lg_retain(lg_tensor *t);
void lg_release(lg_tensor *t); /* NULL-safe */
size_t lg_dtype_size(lg_dtype d);
const char *lg_dtype_name(lg_dtype d);
int lg_dtype_from_name(const char *name, lg_dtype *out); /* 0 ok, -1 unknown */
bool lg_is_float(lg_dtype d);
int64_t lg_numel(const lg_tensor *t);
bool lg_is_contiguous(const lg_tensor *t);
void *lg_data_ptr(const lg_tensor *t); /* storage data + offset */
double lg_get(const lg_tensor *t, const int64_t *idx); /* idx: ndim entries */
int lg_set(lg_tensor *t, const int64_t *idx, double v);
double lg_item(const lg_tensor *t); /* first element; caller checks numel==1 */
/* Normalises a possibly negative dim against ndim; -1 (with message) if out of range. */
int lg_wrap_dim(int dim, int ndim, int *out);

/* ---- creation ----------------------------------------------------------- */
lg_tensor *lg_empty(int ndim, const int64_t *shape, lg_dtype dtype);
lg_tensor *lg_zeros(int ndim, const int64_t *shape, lg_dtype dtype);
lg_tensor *lg_ones(int ndim, const int64_t *shape, lg_dtype dtype);
lg_tensor *lg_full(int ndim, const int64_t *shape, double value, lg_dtype dtype);
lg_tensor *lg_scalar(double value, lg_dtype dtype); /* 0-d */
lg_tensor *lg_from_doubles(int ndim, const int64_t *shape, const double *data, lg_dtype dtype);
lg_tensor *lg_arange(double start, double end, double step, lg_dtype dtype);
/* Random numbers: xoshiro256** seeded by splitmix64 from lg_manual_seed;
 * randn uses Box-Muller on two uniforms in (0,1]. */
void lg_manual_seed(uint64_t seed);
double lg_random_uniform(void); /* [0,1) */
void lg_get_rng_state(uint64_t out[4]);      /* the generator's 4 words */
int lg_set_rng_state(const uint64_t in[4]); /* 0, or -1 (all zero) */
lg_tensor *lg_rand(int ndim, const int64_t *shape, lg_dtype dtype);
lg_tensor *lg_randn(int ndim, const int64_t *shape, lg_dtype dtype);
lg_tensor *lg_randperm(int64_t n); /* int64, 0-based */

/* ---- views (share storage; differentiable) ------------------------------- */
lg_tensor *lg_view(lg_tensor *t, int ndim, const int64_t *shape); /* one -1 allowed */
lg_tensor *lg_reshape(lg_tensor *t, int ndim, const int64_t *shape);
lg_tensor *lg_transpose(lg_tensor *t, int d0, int d1);
lg_tensor *lg_permute(lg_tensor *t, const int *dims); /* ndim entries */
lg_tensor *lg_narrow(lg_tensor *t, int dim, int64_t start, int64_t length);
lg_tensor *lg_select(lg_tensor *t, int dim, int64_t index);
lg_tensor *lg_slice(lg_tensor *t, int dim, int64_t start, int64_t stop, int64_t step); /* stop exclusive */
lg_tensor *lg_squeeze(lg_tensor *t, int dim); /* dim == LG_ALL_DIMS: all size-1 dims */
lg_tensor *lg_unsqueeze(lg_tensor *t, int dim);
lg_tensor *lg_flatten(lg_tensor *t, int start, int end);
lg_tensor *lg_expand(lg_tensor *t, int ndim, const int64_t *shape); /* -1 keeps a size */
#define LG_ALL_DIMS (-1000)

/* ---- copies ------------------------------------------------------------- */
lg_tensor *lg_contiguous(lg_tensor *t); /* t itself (retained) if already contiguous */
lg_tensor *lg_clone(lg_tensor *t);
lg_tensor *lg_to_dtype(lg_tensor *t, lg_dtype dtype); /* retained t if same dtype */
lg_tensor *lg_detach(lg_tensor *t);                   /* alias without graph */
int lg_fill(lg_tensor *t, double value);              /* in place */
int lg_copy(lg_tensor *dst, lg_tensor *src);          /* in place, src broadcasts to dst */

/* ---- in-place ops (core/inplace.c) ----------------------------------------
 * t takes the value of `result`, an out-of-place result of t's shape computed from
 * t (for instance lg_add(t, b) for add_), and, under grad mode, its history: t's
 * grad_fn becomes result's, so backward goes through the in-place op. Bumps t's
 * version, so a node that saved t before fails at backward instead of reading
 * the new values. Refuses a leaf that requires grad while grad mode is on.
 * Takes result's reference (also on failure); returns 0 or -1. */
int lg_inplace(lg_tensor *t, lg_tensor *result, const char *op);

/* ---- elementwise (broadcasting): declared from the registry, ops/ops.def -------
 * lg_tensor *lg_NAME(lg_tensor *a [, double c0 [, double c1]]) for each LG_UNARY,
 * lg_tensor *lg_NAME(lg_tensor *a, lg_tensor *b) for each LG_BINARY. Among them:
 * add sub mul div pow_tensor, add_scalar mul_scalar rsub_scalar (s - a) rdiv_scalar
 * (s / a) pow rpow_scalar (s ^ a), neg exp log sqrt sin cos abs sign relu
 * leaky_relu(a, slope) sigmoid tanh clamp(a, lo, hi) (+-INFINITY: no bound). */
#define LG_PARAMS_P0 (lg_tensor *a)
#define LG_PARAMS_P1(s0) (lg_tensor *a, double c0)
#define LG_PARAMS_P2(s0, s1) (lg_tensor *a, double c0, double c1)
#define LG_UNARY(name, params, ...) lg_tensor *lg_##name LG_PARAMS_##params;
#define LG_BINARY(name, ...) lg_tensor *lg_##name(lg_tensor *a, lg_tensor *b);
#define LG_OP(name)
#include "ops/ops.def"
#undef LG_UNARY
#undef LG_BINARY
#undef LG_OP
/* Comparisons return 0/1 of the broadcast shape (ne = not equal), float64 when an
 * input is float64, else float32; never differentiable. */
typedef enum { LG_EQ, LG_NE, LG_LT, LG_LE, LG_GT, LG_GE } lg_cmp;
lg_tensor *lg_compare(lg_tensor *a, lg_tensor *b, lg_cmp op);
lg_tensor *lg_compare_scalar(lg_tensor *a, double s, lg_cmp op);
/* Broadcast shape of a and b into out (LG_MAX_DIMS); returns ndim or -1. */
int lg_broadcast_shape(const lg_tensor *a, const lg_tensor *b, int64_t *out);

/* ---- reductions ----------------------------------------------------- */
lg_tensor *lg_sum(lg_tensor *a, int dim, bool keepdim); /* dim == LG_ALL_DIMS: 0-d */
lg_tensor *lg_mean(lg_tensor *a, int dim, bool keepdim);
/* Sums a down to the given (broadcast-compatible) shape: the gradient of expand. */
lg_tensor *lg_sum_to(lg_tensor *a, int ndim, const int64_t *shape);
/* values (differentiable) and indices (int64, 0-based); indices may be NULL. */
int lg_max(lg_tensor *a, int dim, bool keepdim, lg_tensor **values, lg_tensor **indices);
int lg_min(lg_tensor *a, int dim, bool keepdim, lg_tensor **values, lg_tensor **indices);
lg_tensor *lg_max_all(lg_tensor *a);
lg_tensor *lg_min_all(lg_tensor *a);
lg_tensor *lg_argmax(lg_tensor *a, int dim, bool keepdim); /* dim == LG_ALL_DIMS: flat */
lg_tensor *lg_softmax(lg_tensor *a, int dim);
lg_tensor *lg_log_softmax(lg_tensor *a, int dim);

/* ---- linear algebra and joins -------------------------------------- */
lg_tensor *lg_matmul(lg_tensor *a, lg_tensor *b);
lg_tensor *lg_cat(lg_tensor **ts, int n, int dim);
lg_tensor *lg_stack(lg_tensor **ts, int n, int dim);
lg_tensor *lg_index_select(lg_tensor *a, int dim, lg_tensor *index); /* int64, 0-based */

/* ---- gradient reversal ---------------------------------------------- */
/* Identity forward (a view sharing x's storage); backward multiplies by -alpha. */
lg_tensor *lg_revgrad(lg_tensor *x, double alpha);

/* ---- neural network kernels (src/ops/nn_*.c) ------------------------ */
lg_tensor *lg_linear(lg_tensor *x, lg_tensor *w, lg_tensor *b); /* b may be NULL */
lg_tensor *lg_conv2d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2]);
/* PyTorch's F.conv2d with dilation and groups (w [Cout, Cin/groups, kH, kW]), and
 * F.conv_transpose2d (w [Cin, Cout/groups, kH, kW]; output_padding < stride). */
lg_tensor *lg_conv2d_ex(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2],
                        const int dilation[2], int groups);
lg_tensor *lg_conv_transpose2d(lg_tensor *x, lg_tensor *w, lg_tensor *b, const int stride[2], const int pad[2],
                               const int output_pad[2], const int dilation[2], int groups);
lg_tensor *lg_max_pool2d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2]);
lg_tensor *lg_avg_pool2d(lg_tensor *x, const int k[2], const int stride[2], const int pad[2]);
/* PyTorch's options: ceil_mode; count_include_pad (avg); *indices (when indices is not
 * NULL) gets the winners' flat positions in their [H, W] plane, int64, 0-based (max).
 * Adaptive pools: the output size out {oH, oW}, windows as PyTorch's. */
lg_tensor *lg_max_pool2d_ex(lg_tensor *x, const int k[2], const int stride[2], const int pad[2], bool ceil_mode,
                            lg_tensor **indices);
lg_tensor *lg_avg_pool2d_ex(lg_tensor *x, const int k[2], const int stride[2], const int pad[2], bool ceil_mode,
                            bool count_include_pad);
lg_tensor *lg_adaptive_max_pool2d(lg_tensor *x, const int64_t out[2], lg_tensor **indices);
lg_tensor *lg_adaptive_avg_pool2d(lg_tensor *x, const int64_t out[2]);
/* running_mean/var may be NULL; updated in place when training. */
lg_tensor *lg_batch_norm(lg_tensor *x, lg_tensor *running_mean, lg_tensor *running_var,
                         lg_tensor *weight, lg_tensor *bias, bool training, double momentum,
                         double eps);
lg_tensor *lg_dropout(lg_tensor *x, double p, bool training);
typedef enum { LG_REDUCE_MEAN, LG_REDUCE_SUM, LG_REDUCE_NONE } lg_reduction;
/* targets: int64 class indices, 0-based */
lg_tensor *lg_nll_loss(lg_tensor *logp, lg_tensor *target, lg_reduction r);
lg_tensor *lg_cross_entropy(lg_tensor *logits, lg_tensor *target, lg_reduction r);
lg_tensor *lg_bce_with_logits(lg_tensor *logits, lg_tensor *target, lg_reduction r);
lg_tensor *lg_mse_loss(lg_tensor *a, lg_tensor *b, lg_reduction r);

/* ---- optimisers (in place, no graph) ----------------------------------- */
typedef struct {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first; /* first step with momentum: the buffer is set to d */
} lg_sgd_options;
/* One SGD step on param (PyTorch's rule); buf may be NULL when momentum == 0. */
int lg_sgd_update(lg_tensor *param, lg_tensor *grad, lg_tensor *buf, const lg_sgd_options *o);

/* ---- autograd ------------------------------------------------------- */
int lg_set_requires_grad(lg_tensor *t, bool on); /* float leaves only */
bool lg_grad_enabled(void);
bool lg_set_grad_enabled(bool on); /* returns the previous mode */
/* grad may be NULL for a one-element t. retain_graph keeps saved tensors. */
int lg_backward(lg_tensor *t, lg_tensor *grad, bool retain_graph);
/* The same; with create_graph the gradients are recorded (differentiable again,
 * PyTorch's create_graph=True), and the graph is kept as with retain_graph. */
int lg_backward_ex(lg_tensor *t, lg_tensor *grad, bool retain_graph, bool create_graph);
typedef struct {
  bool retain_graph, create_graph, allow_unused;
} lg_grad_options;
/* PyTorch's torch.autograd.grad: results[k] = d(sum of outputs . grad_outputs) /
 * d inputs[k], new references (NULL for an unused input with allow_unused).
 * grad_outputs may be NULL (one-element outputs), or hold NULL entries. No
 * leaf's .grad changes. */
int lg_grad(lg_tensor *const *outputs, lg_tensor *const *grad_outputs, int n_out,
            lg_tensor *const *inputs, int n_in, const lg_grad_options *o, lg_tensor **results);
const char *lg_grad_fn_name(const lg_tensor *t); /* NULL for leaves */
/* Called by backward (not lg_grad) each time a gradient is added into a leaf's
 * .grad, with the leaf; one hook at a time (NULL removes it). A leaf used once in
 * the graph gets one call, after which its .grad is final for this backward. */
typedef void (*lg_grad_ready_fn)(lg_tensor *leaf, void *ud);
void lg_set_grad_ready_hook(lg_grad_ready_fn fn, void *ud);
void lg_zero_grad(lg_tensor *t);                 /* drops .grad */

/* ---- threads -------------------------------------------------------- */
void lg_set_num_threads(int n);
int lg_get_num_threads(void);

#endif
