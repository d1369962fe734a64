/* The strided iterator every elementwise kernel and copy runs on. */
#include <string.h>

#include "core/internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void lg_broadcast_strides(const lg_tensor *t, int ndim, const int64_t *shape, int64_t *out) {
  int lead = ndim - t->ndim;
  for (int d = 0; d < ndim; d++) {
    int td = d - lead;
    out[d] = (td < 0 || (t->shape[td] == 1 && shape[d] != 1)) ? 0 : t->stride[td];
  }
}

typedef struct {
  int nops, ndim;
  int64_t shape[LG_MAX_DIMS];
  int64_t stride[LG_ITER_MAX_OPS][LG_MAX_DIMS];
  char *base[LG_ITER_MAX_OPS];
} iter_plan;

/* Merges dim d into d+1 when every operand steps through them as one run, and
 * drops size-1 dims; the innermost dim ends up as long as memory allows. */
static void collapse(iter_plan *p) {
  int out = 0;
  int64_t shape[LG_MAX_DIMS] = {0}, stride[LG_ITER_MAX_OPS][LG_MAX_DIMS] = {{0}};
  for (int d = 0; d < p->ndim; d++) {
    if (p->shape[d] == 1) continue;
    if (out > 0) {
      bool mergeable = true;
      for (int k = 0; k < p->nops; k++)
        if (stride[k][out - 1] != p->stride[k][d] * p->shape[d]) mergeable = false;
      if (mergeable) {
        shape[out - 1] *= p->shape[d];
        for (int k = 0; k < p->nops; k++) stride[k][out - 1] = p->stride[k][d];
        continue;
      }
    }
    shape[out] = p->shape[d];
    for (int k = 0; k < p->nops; k++) stride[k][out] = p->stride[k][d];
    out++;
  }
  if (out == 0) { /* a single element */
    shape[0] = 1;
    for (int k = 0; k < p->nops; k++) stride[k][0] = 0;
    out = 1;
  }
  p->ndim = out;
  memcpy(p->shape, shape, sizeof shape);
  memcpy(p->stride, stride, sizeof stride);
}

/* Every operand steps through `shape` in row-major order with unit steps. */
static bool all_contiguous(int nops, const int64_t strides[][LG_MAX_DIMS], int ndim, const int64_t *shape) {
  for (int k = 0; k < nops; k++) {
    int64_t expect = 1;
    for (int d = ndim - 1; d >= 0; d--) {
      if (shape[d] != 1 && strides[k][d] != expect) return false;
      expect *= shape[d];
    }
  }
  return true;
}

/* One piece = `chunk` elements of one innermost row. */
static void run_piece(const iter_plan *p, const size_t *esize, const int64_t *istride, int64_t piece,
                      int64_t pieces_per_row, int64_t chunk, lg_row_kernel kernel, void *ctx) {
  int inner = p->ndim - 1;
  int64_t n = p->shape[inner];
  int64_t row = piece / pieces_per_row, start = (piece % pieces_per_row) * chunk;
  int64_t len = n - start < chunk ? n - start : chunk;
  char *ptr[LG_ITER_MAX_OPS];
  for (int k = 0; k < p->nops; k++) ptr[k] = p->base[k] + (int64_t)esize[k] * start * istride[k];
  for (int d = inner - 1; d >= 0; d--) {
    int64_t i = row % p->shape[d];
    row /= p->shape[d];
    for (int k = 0; k < p->nops; k++) ptr[k] += (int64_t)esize[k] * i * p->stride[k][d];
  }
  kernel(len, ptr, istride, ctx);
}

void lg_iterate(int nops, lg_tensor *const *ops, const int64_t strides[][LG_MAX_DIMS], int ndim,
                const int64_t *shape, lg_row_kernel kernel, void *ctx, bool parallel) {
  int64_t total = lg_shape_numel(ndim, shape);
  if (total == 0) return;
  if (total < LG_PARALLEL_GRAIN && all_contiguous(nops, strides, ndim, shape)) {
    /* the common small case: one row, no plan to build */
    char *ptr[LG_ITER_MAX_OPS];
    int64_t ones[LG_ITER_MAX_OPS];
    for (int k = 0; k < nops; k++) {
      ptr[k] = (char *)lg_data_ptr(ops[k]);
      ones[k] = 1;
    }
    kernel(total, ptr, ones, ctx);
    return;
  }
  iter_plan p = {.nops = nops, .ndim = ndim};
  for (int d = 0; d < ndim; d++) p.shape[d] = shape[d];
  for (int k = 0; k < nops; k++) {
    for (int d = 0; d < ndim; d++) p.stride[k][d] = strides[k][d];
    p.base[k] = (char *)lg_data_ptr(ops[k]);
  }
  collapse(&p);
  size_t esize[LG_ITER_MAX_OPS];
  for (int k = 0; k < nops; k++) esize[k] = lg_dtype_size(ops[k]->dtype);
  int inner = p.ndim - 1;
  int64_t n = p.shape[inner], rows = total / n;
  int64_t istride[LG_ITER_MAX_OPS];
  for (int k = 0; k < nops; k++) istride[k] = p.stride[k][inner];

  /* A single long row is cut into chunks so threads can share it. */
  int64_t chunk = n;
  if (parallel && rows == 1 && n >= 2 * LG_PARALLEL_GRAIN) chunk = LG_PARALLEL_GRAIN;
  int64_t pieces_per_row = (n + chunk - 1) / chunk, pieces = rows * pieces_per_row;
  bool threaded = parallel && total >= LG_PARALLEL_GRAIN && pieces > 1;
  if (!threaded) { /* no OpenMP region at all: entering one costs more than small ops */
    for (int64_t piece = 0; piece < pieces; piece++)
      run_piece(&p, esize, istride, piece, pieces_per_row, chunk, kernel, ctx);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t piece = 0; piece < pieces; piece++)
    run_piece(&p, esize, istride, piece, pieces_per_row, chunk, kernel, ctx);
}
