/* t-SNE and PCA for looking at learned features (lunagrad.da.tsne / da.pca).
 *
 * t-SNE follows van der Maaten's reference implementation (bhtsne): Gaussian
 * input similarities calibrated to a perplexity by binary search, Student-t
 * output similarities, gradient descent with momentum and per-coordinate gains,
 * early exaggeration. The input side uses each point's 3 * perplexity nearest
 * neighbours (what Barnes-Hut t-SNE does; it is exact once N - 1 <= 3 * perplexity,
 * and the far terms it drops are below exp(-9)). The output side is exact: every
 * iteration visits all N^2 pairs in float32 SIMD rows, which for a few thousand
 * points is as fast as a Barnes-Hut tree and has no approximation.
 *
 * PCA centres the data and finds the top eigenvectors of the covariance by
 * subspace iteration with Rayleigh-Ritz (Jacobi on the small projected matrix);
 * when D is small the covariance is diagonalised directly. */
#include <float.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "da/embed.h"
#include "core/internal.h"

/* ---- shared: the input as a private float64 copy --------------------------- */

static double *rows_f64(lg_tensor *x, int64_t *n, int64_t *d) {
  char buf[64];
  if (!x) return lg_fail("expects a tensor");
  if (x->ndim != 2)
    return lg_fail("expects an N x D tensor (one point per row), got shape %s", lg_shape_str(x, buf, sizeof buf));
  *n = x->shape[0];
  *d = x->shape[1];
  if (*n < 1 || *d < 1) return lg_fail("expects a non-empty N x D tensor, got shape %s", lg_shape_str(x, buf, sizeof buf));
  lg_tensor *xd = lg_to_dtype(x, LG_F64);
  if (!xd) return NULL;
  lg_tensor *xc = lg_contiguous(xd);
  lg_release(xd);
  if (!xc) return NULL;
  size_t count = (size_t)(*n * *d);
  double *out = malloc(count * sizeof *out);
  if (!out) {
    lg_release(xc);
    return lg_fail("out of memory copying %s", lg_shape_str(x, buf, sizeof buf));
  }
  memcpy(out, lg_data_ptr(xc), count * sizeof *out);
  lg_release(xc);
  for (size_t i = 0; i < count; i++)
    if (!isfinite(out[i])) {
      free(out);
      return lg_fail("input has a non-finite value (NaN or inf) at row %lld", (long long)(i / (size_t)*d) + 1);
    }
  return out;
}

/* Subtracts the column means (written to mean[d] when not NULL). */
static int center_columns(double *x, int64_t n, int64_t d, double *mean) {
  double *m = mean ? mean : calloc((size_t)d, sizeof *m);
  if (!m) return lg_failed("out of memory");
  memset(m, 0, (size_t)d * sizeof *m);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) m[j] += x[i * d + j];
  for (int64_t j = 0; j < d; j++) m[j] /= (double)n;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) x[i * d + j] -= m[j];
  if (!mean) free(m);
  return 0;
}

static lg_tensor *tensor_from(const double *v, int ndim, const int64_t *shape, lg_dtype dtype) {
  return lg_from_doubles(ndim, shape, v, dtype);
}

/* ======================================================================
 * t-SNE
 * ====================================================================== */

void lg_tsne_default_opts(lg_tsne_opts *o) {
  memset(o, 0, sizeof *o);
  o->dims = 2;
  o->perplexity = 30;
  o->iterations = 1000;
  o->learning_rate = 0; /* auto */
  o->early_exaggeration = 12;
  o->exaggeration_iters = 250;
  o->momentum = 0.5;
  o->final_momentum = 0.8;
}

typedef struct {
  double d;
  int64_t j;
} neighbour;

/* Moves the k smallest distances to a[0..k) (quickselect, deterministic pivots). */
static void select_smallest(neighbour *a, int64_t n, int64_t k) {
  int64_t lo = 0, hi = n - 1;
  while (lo < hi) {
    double pivot = a[lo + (hi - lo) / 2].d;
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (a[i].d < pivot) i++;
      while (a[j].d > pivot) j--;
      if (i <= j) {
        neighbour t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else return;
  }
}

/* Conditional p_{j|i} over the k neighbours with squared distances d[]: the
 * Gaussian precision beta is bisected until the entropy is log(perplexity). */
static void calibrate_row(const neighbour *nb, int64_t k, double perplexity, double *p) {
  double dmin = INFINITY, dmean = 0;
  for (int64_t j = 0; j < k; j++) {
    if (nb[j].d < dmin) dmin = nb[j].d;
    dmean += nb[j].d;
  }
  dmean = dmean / (double)k - dmin;
  /* distances are shifted by the nearest one: p is unchanged, exp cannot underflow to all zeros */
  double beta = dmean > 0 ? 1.0 / dmean : 1.0, lo = -DBL_MAX, hi = DBL_MAX;
  double target = log(perplexity);
  for (int it = 0; it < 200; it++) {
    double sum = 0, dsum = 0;
    for (int64_t j = 0; j < k; j++) {
      double dj = nb[j].d - dmin;
      p[j] = exp(-beta * dj);
      sum += p[j];
      dsum += dj * p[j];
    }
    double h = log(sum) + beta * dsum / sum;
    double diff = h - target;
    if (fabs(diff) < 1e-5) break;
    if (diff > 0) { /* too flat: sharpen */
      lo = beta;
      beta = hi == DBL_MAX ? beta * 2 : (beta + hi) / 2;
    } else {
      hi = beta;
      beta = lo == -DBL_MAX ? beta / 2 : (beta + lo) / 2;
    }
  }
  double sum = 0;
  for (int64_t j = 0; j < k; j++) {
    p[j] = exp(-beta * (nb[j].d - dmin));
    sum += p[j];
  }
  for (int64_t j = 0; j < k; j++) p[j] /= sum;
}

/* The symmetric joint P as a CSR matrix (rows sorted by column). */
typedef struct {
  int64_t *start; /* n + 1 */
  int64_t *col;
  double *val;
} csr;

typedef struct {
  int64_t row, col;
  double v;
} triple;

static int triple_cmp(const void *a, const void *b) {
  const triple *x = a, *y = b;
  if (x->row != y->row) return x->row < y->row ? -1 : 1;
  if (x->col != y->col) return x->col < y->col ? -1 : 1;
  return 0;
}

/* P = (P_cond + P_cond^T) / sum, from k neighbours per row. */
static int symmetrize(int64_t n, int64_t k, const int64_t *nbr, const double *pc, csr *out) {
  int64_t m = 2 * n * k;
  triple *t = malloc((size_t)m * sizeof *t);
  out->start = calloc((size_t)n + 1, sizeof *out->start);
  out->col = malloc((size_t)m * sizeof *out->col);
  out->val = malloc((size_t)m * sizeof *out->val);
  if (!t || !out->start || !out->col || !out->val) {
    free(t);
    return lg_failed("out of memory for the t-SNE affinities (%lld points)", (long long)n);
  }
  for (int64_t i = 0, e = 0; i < n; i++)
    for (int64_t a = 0; a < k; a++, e += 2) {
      int64_t j = nbr[i * k + a];
      double v = pc[i * k + a];
      t[e] = (triple){i, j, v};
      t[e + 1] = (triple){j, i, v};
    }
  qsort(t, (size_t)m, sizeof *t, triple_cmp);
  double total = 0;
  int64_t nnz = 0;
  for (int64_t e = 0; e < m; e++) {
    total += t[e].v;
    if (nnz > 0 && e > 0 && t[e].row == t[e - 1].row && t[e].col == t[e - 1].col) {
      out->val[nnz - 1] += t[e].v;
    } else {
      out->col[nnz] = t[e].col;
      out->val[nnz] = t[e].v;
      out->start[t[e].row + 1]++;
      nnz++;
    }
  }
  for (int64_t i = 0; i < n; i++) out->start[i + 1] += out->start[i];
  for (int64_t e = 0; e < nnz; e++) out->val[e] /= total;
  free(t);
  return 0;
}

/* Input affinities: squared distances of row blocks against all rows via one
 * GEMM per block (|a|^2 + |b|^2 - 2 a.b on centred data), then kNN + calibration. */
static int input_affinities(double *x, int64_t n, int64_t d, double perplexity, csr *p) {
  int64_t k = (int64_t)(3 * perplexity);
  if (k > n - 1) k = n - 1;
  if (k < 1) k = 1;
  int64_t block = (int64_t)((32u << 20) / (8 * (size_t)n));
  if (block < 1) block = 1;
  if (block > n) block = n;
  double *sq = malloc((size_t)n * sizeof *sq);
  double *g = malloc((size_t)(block * n) * sizeof *g);
  neighbour *nb = malloc((size_t)n * sizeof *nb);
  int64_t *nbr = malloc((size_t)(n * k) * sizeof *nbr);
  double *pc = malloc((size_t)(n * k) * sizeof *pc);
  int rc = -1;
  if (!sq || !g || !nb || !nbr || !pc) {
    lg_failed("out of memory for the t-SNE distances (%lld points)", (long long)n);
    goto done;
  }
  if (center_columns(x, n, d, NULL)) goto done;
  for (int64_t i = 0; i < n; i++) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += x[i * d + j] * x[i * d + j];
    sq[i] = s;
  }
  for (int64_t r0 = 0; r0 < n; r0 += block) {
    int64_t rows = n - r0 < block ? n - r0 : block;
    lg_gemm_f64(false, true, rows, n, d, 1.0, x + r0 * d, d, x, d, 0.0, g, n);
    for (int64_t r = 0; r < rows; r++) {
      int64_t i = r0 + r, m = 0;
      for (int64_t j = 0; j < n; j++) {
        if (j == i) continue;
        double dist = sq[i] + sq[j] - 2 * g[r * n + j];
        nb[m++] = (neighbour){dist > 0 ? dist : 0, j};
      }
      select_smallest(nb, m, k);
      calibrate_row(nb, k, perplexity, pc + i * k);
      for (int64_t a = 0; a < k; a++) nbr[i * k + a] = nb[a].j;
    }
  }
  rc = symmetrize(n, k, nbr, pc, p);
done:
  free(sq);
  free(g);
  free(nb);
  free(nbr);
  free(pc);
  return rc;
}

/* ---- the repulsive term: all pairs, float32 SIMD rows --------------------
 * For row i: z_i = sum_j 1/(1+|y_i-y_j|^2) and r_i = sum_j num^2 (y_i - y_j).
 * Rows are independent, so the result does not depend on how they are split. */
typedef float lg_v8sf __attribute__((vector_size(32)));

typedef struct {
  int64_t n;
  int dims;
  const float *y; /* dims planes of n floats */
  double *z;      /* n */
  double *r;      /* n x dims */
} repulse_ctx;

static inline __attribute__((always_inline)) void repulse_rows_d(int64_t begin, int64_t end,
                                                                  const repulse_ctx *c, int dims) {
  int64_t n = c->n;
  for (int64_t i = begin; i < end; i++) {
    lg_v8sf zacc = {0}, racc[3] = {{0}, {0}, {0}};
    lg_v8sf yi[3];
    for (int k = 0; k < 3; k++) yi[k] = (lg_v8sf){0} + (k < dims ? c->y[k * n + i] : 0.0f);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      lg_v8sf diff[3], d2 = {0};
      for (int k = 0; k < dims; k++) {
        lg_v8sf yj;
        memcpy(&yj, c->y + k * n + j, sizeof yj);
        diff[k] = yi[k] - yj;
        d2 += diff[k] * diff[k];
      }
      lg_v8sf num = 1.0f / (1.0f + d2);
      zacc += num;
      lg_v8sf num2 = num * num;
      for (int k = 0; k < dims; k++) racc[k] += num2 * diff[k];
    }
    double z = 0, r[3] = {0, 0, 0};
    for (int l = 0; l < 8; l++) {
      z += zacc[l];
      for (int k = 0; k < dims; k++) r[k] += racc[k][l];
    }
    for (; j < n; j++) {
      float diff[3], d2 = 0;
      for (int k = 0; k < dims; k++) {
        diff[k] = c->y[k * n + i] - c->y[k * n + j];
        d2 += diff[k] * diff[k];
      }
      float num = 1.0f / (1.0f + d2);
      z += num;
      for (int k = 0; k < dims; k++) r[k] += num * num * diff[k];
    }
    c->z[i] = z - 1.0; /* the j == i term */
    for (int k = 0; k < dims; k++) c->r[i * dims + k] = r[k];
  }
}

/* Any dims: scalar double loop (t-SNE beyond 3-D is rare). */
static void repulse_rows_generic(int64_t begin, int64_t end, const repulse_ctx *c) {
  int64_t n = c->n;
  int dims = c->dims;
  for (int64_t i = begin; i < end; i++) {
    double z = 0, *r = c->r + i * dims;
    for (int k = 0; k < dims; k++) r[k] = 0;
    for (int64_t j = 0; j < n; j++) {
      if (j == i) continue;
      double d2 = 0;
      for (int k = 0; k < dims; k++) {
        double df = (double)c->y[k * n + i] - c->y[k * n + j];
        d2 += df * df;
      }
      double num = 1 / (1 + d2);
      z += num;
      for (int k = 0; k < dims; k++) r[k] += num * num * ((double)c->y[k * n + i] - c->y[k * n + j]);
    }
    c->z[i] = z;
  }
}


LG_VECTOR_CLONES static void repulse_rows(int64_t begin, int64_t end, void *ctx) {
  const repulse_ctx *c = ctx;
  switch (c->dims) {
  case 1: repulse_rows_d(begin, end, c, 1); break;
  case 2: repulse_rows_d(begin, end, c, 2); break;
  case 3: repulse_rows_d(begin, end, c, 3); break;
  default: repulse_rows_generic(begin, end, c); break;
  }
}

/* Runs fn over [0, n) in chunks of rows on the OpenMP threads: rows are
 * independent, so the split does not change the result. */
static void for_rows(int64_t n, void (*fn)(int64_t, int64_t, void *), void *ctx) {
  enum { ROWS_PER_CHUNK = 64 };
  int64_t chunks = (n + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
#pragma omp parallel for schedule(dynamic) if (chunks > 1)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t begin = c * ROWS_PER_CHUNK, end = begin + ROWS_PER_CHUNK < n ? begin + ROWS_PER_CHUNK : n;
    fn(begin, end, ctx);
  }
}

/* Sum of z over rows; fills r. */
static double repulsion(repulse_ctx *c) {
  for_rows(c->n, repulse_rows, c);
  double z = 0;
  for (int64_t i = 0; i < c->n; i++) z += c->z[i];
  return z;
}

/* attr[i] = sum_j p_ij (y_i - y_j) / (1 + |y_i - y_j|^2) over the sparse P. */
static void attraction(const csr *p, const double *y, int64_t n, int dims, double *attr) {
  for (int64_t i = 0; i < n; i++) {
    double *ai = attr + i * dims;
    const double *yi = y + i * dims;
    for (int k = 0; k < dims; k++) ai[k] = 0;
    for (int64_t e = p->start[i]; e < p->start[i + 1]; e++) {
      const double *yj = y + p->col[e] * dims;
      double d2 = 0;
      for (int k = 0; k < dims; k++) d2 += (yi[k] - yj[k]) * (yi[k] - yj[k]);
      double w = p->val[e] / (1 + d2);
      for (int k = 0; k < dims; k++) ai[k] += w * (yi[k] - yj[k]);
    }
  }
}

/* KL(P || Q) = sum p log(p / q) over the non-zero p, q_ij = (1 + d_ij^2)^-1 / Z. */
static double kl_divergence(const csr *p, const double *y, int64_t n, int dims, double zsum) {
  double acc = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t e = p->start[i]; e < p->start[i + 1]; e++) {
      const double *yi = y + i * dims, *yj = y + p->col[e] * dims;
      double d2 = 0;
      for (int k = 0; k < dims; k++) d2 += (yi[k] - yj[k]) * (yi[k] - yj[k]);
      double q = 1 / (1 + d2) / zsum, pv = p->val[e];
      if (pv > 0) acc += pv * log(pv / (q > DBL_MIN ? q : DBL_MIN));
    }
  return acc;
}

/* Standard normal from the core generator (Box-Muller on (0, 1] uniforms). */
static double core_gauss(void) {
  double u1 = 1.0 - lg_random_uniform(), u2 = lg_random_uniform();
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static const char *check_tsne_opts(const lg_tsne_opts *o, int64_t n) {
  static char msg[160];
  if (o->dims < 1) return "dims must be >= 1";
  if (!(o->perplexity > 0)) return "perplexity must be > 0";
  if (n < 2) return "needs at least 2 points";
  if (o->perplexity > (double)(n - 1)) {
    snprintf(msg, sizeof msg, "perplexity (%g) must be at most the number of points - 1 (%lld)", o->perplexity,
             (long long)(n - 1));
    return msg;
  }
  if (o->iterations < 0) return "iterations must be >= 0";
  if (!isfinite(o->learning_rate)) return "learning_rate must be finite";
  if (!(o->early_exaggeration > 0) || !isfinite(o->early_exaggeration)) return "early_exaggeration must be > 0";
  if (o->exaggeration_iters < 0) return "exaggeration_iters must be >= 0";
  if (!(o->momentum >= 0 && o->momentum < 1) || !(o->final_momentum >= 0 && o->final_momentum < 1))
    return "momentum must be in [0, 1)";
  return NULL;
}

lg_tensor *lg_tsne(lg_tensor *x, const lg_tsne_opts *opts, double *kl) {
  lg_tsne_opts o;
  if (opts) o = *opts;
  else lg_tsne_default_opts(&o);
  int64_t n, d;
  double *xs = rows_f64(x, &n, &d);
  if (!xs) return NULL;
  const char *bad = check_tsne_opts(&o, n);
  if (bad) {
    free(xs);
    return lg_fail("%s", bad);
  }
  int dims = o.dims;
  lg_dtype out_dtype = x->dtype == LG_F64 ? LG_F64 : LG_F32;
  csr p = {0};
  int64_t nd = n * dims;
  double *y = calloc((size_t)nd, sizeof *y), *upd = calloc((size_t)nd, sizeof *upd);
  double *gains = malloc((size_t)nd * sizeof *gains), *attr = malloc((size_t)nd * sizeof *attr);
  double *rep = malloc((size_t)nd * sizeof *rep), *z = malloc((size_t)n * sizeof *z);
  float *yf = malloc((size_t)nd * sizeof *yf);
  lg_tensor *result = NULL;
  if (!y || !upd || !gains || !attr || !rep || !z || !yf) {
    lg_fail("out of memory for t-SNE of %lld points", (long long)n);
    goto done;
  }
  if (input_affinities(xs, n, d, o.perplexity, &p)) goto done;
  free(xs);
  xs = NULL;

  /* initial layout: N(0, 1e-4^2), from the core generator */
  uint64_t resume = 0;
  if (o.use_seed) {
    resume = (uint64_t)(lg_random_uniform() * 9007199254740992.0);
    lg_manual_seed(o.seed);
  }
  for (int64_t e = 0; e < nd; e++) y[e] = 1e-4 * core_gauss();
  if (o.use_seed) lg_manual_seed(resume);
  for (int64_t e = 0; e < nd; e++) gains[e] = 1.0;

  double lr = o.learning_rate > 0 ? o.learning_rate : ((double)n / 12 > 200 ? (double)n / 12 : 200);
  repulse_ctx rc = {n, dims, yf, z, rep};
  for (int it = 0; it <= o.iterations; it++) {
    for (int64_t i = 0; i < n; i++)
      for (int k = 0; k < dims; k++) yf[k * n + i] = (float)y[i * dims + k];
    double zsum = repulsion(&rc);
    if (zsum < DBL_MIN) zsum = DBL_MIN;
    if (it == o.iterations) { /* one more pass at the final layout: its Z gives KL(P || Q) */
      if (kl) *kl = kl_divergence(&p, y, n, dims, zsum);
      break;
    }
    double exag = it < o.exaggeration_iters ? o.early_exaggeration : 1.0;
    double mom = it < o.exaggeration_iters ? o.momentum : o.final_momentum;
    attraction(&p, y, n, dims, attr);
    /* gradient step with momentum and gains (Jacobs' delta-bar-delta, as bhtsne) */
    for (int64_t e = 0; e < nd; e++) {
      double g = exag * attr[e] - rep[e] / zsum;
      gains[e] = (g > 0) != (upd[e] > 0) ? gains[e] + 0.2 : gains[e] * 0.8;
      if (gains[e] < 0.01) gains[e] = 0.01;
      upd[e] = mom * upd[e] - lr * gains[e] * g;
      y[e] += upd[e];
    }
    /* keep the layout centred (the objective is translation invariant) */
    for (int k = 0; k < dims; k++) {
      double mean = 0;
      for (int64_t i = 0; i < n; i++) mean += y[i * dims + k];
      mean /= (double)n;
      for (int64_t i = 0; i < n; i++) y[i * dims + k] -= mean;
    }
  }
  {
    int64_t shape[2] = {n, dims};
    result = tensor_from(y, 2, shape, out_dtype);
  }
done:
  free(xs);
  free(y);
  free(upd);
  free(gains);
  free(attr);
  free(rep);
  free(z);
  free(yf);
  free(p.start);
  free(p.col);
  free(p.val);
  return result;
}

/* ======================================================================
 * PCA
 * ====================================================================== */

/* Eigen-decomposition of the symmetric n x n matrix a (destroyed) by cyclic
 * Jacobi rotations: w gets the eigenvalues in descending order, row i of v the
 * matching unit eigenvector. */
static void jacobi_eigen(double *a, int64_t n, double *v, double *w) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) v[i * n + j] = i == j; /* v holds eigenvectors as columns */
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0, diag = 0;
    for (int64_t i = 0; i < n; i++) {
      diag += a[i * n + i] * a[i * n + i];
      for (int64_t j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
    }
    if (off <= 1e-30 * diag || off == 0) break;
    for (int64_t p = 0; p < n; p++)
      for (int64_t q = p + 1; q < n; q++) {
        double apq = a[p * n + q];
        if (apq == 0) continue;
        double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; k++) { /* columns p, q */
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; k++) { /* rows p, q */
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; k++) {
          double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  /* sort descending (selection sort: n is small), transposing to rows */
  int64_t *order = malloc((size_t)n * sizeof *order);
  double *tmp = malloc((size_t)(n * n) * sizeof *tmp);
  if (!order || !tmp) { /* leave unsorted columns: callers treat as best effort */
    free(order);
    free(tmp);
    for (int64_t i = 0; i < n; i++) w[i] = a[i * n + i];
    return;
  }
  for (int64_t i = 0; i < n; i++) order[i] = i;
  for (int64_t i = 0; i < n; i++) {
    int64_t best = i;
    for (int64_t j = i + 1; j < n; j++)
      if (a[order[j] * n + order[j]] > a[order[best] * n + order[best]]) best = j;
    int64_t t = order[i];
    order[i] = order[best];
    order[best] = t;
  }
  for (int64_t i = 0; i < n; i++) {
    w[i] = a[order[i] * n + order[i]];
    for (int64_t k = 0; k < n; k++) tmp[i * n + k] = v[k * n + order[i]];
  }
  memcpy(v, tmp, (size_t)(n * n) * sizeof *v);
  free(order);
  free(tmp);
}

/* Orthonormalises the m rows of q (length d) by modified Gram-Schmidt, twice
 * for stability; a row that vanishes (rank deficiency) is replaced by a fixed
 * pseudo-random vector and orthogonalised again. */
static void orthonormalize(double *q, int64_t m, int64_t d) {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (int64_t i = 0; i < m; i++) {
    double *qi = q + i * d;
    for (int attempt = 0; attempt < 4; attempt++) {
      double before = 0;
      for (int64_t t = 0; t < d; t++) before += qi[t] * qi[t];
      for (int pass = 0; pass < 2; pass++)
        for (int64_t j = 0; j < i; j++) {
          const double *qj = q + j * d;
          double dot = 0;
          for (int64_t t = 0; t < d; t++) dot += qi[t] * qj[t];
          for (int64_t t = 0; t < d; t++) qi[t] -= dot * qj[t];
        }
      double norm = 0;
      for (int64_t t = 0; t < d; t++) norm += qi[t] * qi[t];
      if (norm > 1e-20 * before && norm > 0) {
        norm = 1 / sqrt(norm);
        for (int64_t t = 0; t < d; t++) qi[t] *= norm;
        break;
      }
      for (int64_t t = 0; t < d; t++) { /* xorshift64: deterministic restart */
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        qi[t] = (double)(state >> 11) / 9007199254740992.0 - 0.5;
      }
    }
  }
}

typedef struct {
  const double *x; /* n x d centred */
  const double *cov; /* d x d or NULL */
  int64_t n, d;
  double *tmp; /* m x n when cov == NULL */
} cov_op;

/* w (m x d) = q (m x d) C, C = x^T x / (n - 1). */
static void apply_cov(const cov_op *c, const double *q, int64_t m, double *w) {
  if (c->cov) {
    lg_gemm_f64(false, false, m, c->d, c->d, 1.0, q, c->d, c->cov, c->d, 0.0, w, c->d);
  } else {
    lg_gemm_f64(false, true, m, c->n, c->d, 1.0, q, c->d, c->x, c->d, 0.0, c->tmp, c->n);
    lg_gemm_f64(false, false, m, c->d, c->n, 1.0 / (double)(c->n - 1), c->tmp, c->n, c->x, c->d, 0.0, w, c->d);
  }
}

/* Top-k eigenpairs of C into comp (k x d) and val (k). */
static int top_eigen(const cov_op *c, int64_t k, double *comp, double *val) {
  int64_t d = c->d;
  int64_t m = 2 * k + 10 < d ? 2 * k + 10 : d;
  int rc = -1;
  double *q = malloc((size_t)(m * d) * sizeof *q), *w = malloc((size_t)(m * d) * sizeof *w);
  double *h = malloc((size_t)(m * m) * sizeof *h), *v = malloc((size_t)(m * m) * sizeof *v);
  double *theta = malloc((size_t)m * sizeof *theta), *u = malloc((size_t)(m * d) * sizeof *u);
  double *cu = malloc((size_t)(m * d) * sizeof *cu);
  if (!q || !w || !h || !v || !theta || !u || !cu) {
    lg_failed("out of memory for PCA (%lld dims)", (long long)d);
    goto done;
  }
  if (m == d && c->cov) { /* small: diagonalise C itself */
    double *a = malloc((size_t)(d * d) * sizeof *a);
    if (!a) {
      lg_failed("out of memory for PCA (%lld dims)", (long long)d);
      goto done;
    }
    memcpy(a, c->cov, (size_t)(d * d) * sizeof *a);
    jacobi_eigen(a, d, v, theta);
    free(a);
    memcpy(comp, v, (size_t)(k * d) * sizeof *comp);
    memcpy(val, theta, (size_t)k * sizeof *val);
    rc = 0;
    goto done;
  }
  /* start: a fixed pseudo-random block (no draw from the user's generator) */
  memset(q, 0, (size_t)(m * d) * sizeof *q);
  orthonormalize(q, m, d);
  for (int it = 0; it < 1000; it++) {
    apply_cov(c, q, m, w);
    lg_gemm_f64(false, true, m, m, d, 1.0, q, d, w, d, 0.0, h, m); /* Rayleigh quotient Q C Q^T */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = i + 1; j < m; j++) h[i * m + j] = h[j * m + i] = (h[i * m + j] + h[j * m + i]) / 2;
    jacobi_eigen(h, m, v, theta);
    lg_gemm_f64(false, false, m, d, m, 1.0, v, m, q, d, 0.0, u, d);  /* Ritz vectors */
    lg_gemm_f64(false, false, m, d, m, 1.0, v, m, w, d, 0.0, cu, d); /* C times them */
    double worst = 0, scale = fabs(theta[0]) > DBL_MIN ? fabs(theta[0]) : DBL_MIN;
    for (int64_t i = 0; i < k; i++) {
      double r = 0;
      for (int64_t t = 0; t < d; t++) {
        double e = cu[i * d + t] - theta[i] * u[i * d + t];
        r += e * e;
      }
      if (sqrt(r) > worst) worst = sqrt(r);
    }
    memcpy(comp, u, (size_t)(k * d) * sizeof *comp);
    memcpy(val, theta, (size_t)k * sizeof *val);
    if (worst <= 1e-10 * scale) break;
    memcpy(q, cu, (size_t)(m * d) * sizeof *q);
    orthonormalize(q, m, d);
  }
  rc = 0;
done:
  free(q);
  free(w);
  free(h);
  free(v);
  free(theta);
  free(u);
  free(cu);
  return rc;
}

void lg_pca_result_release(lg_pca_result *r) {
  lg_release(r->projected);
  lg_release(r->components);
  lg_release(r->variance);
  lg_release(r->ratio);
  lg_release(r->mean);
  memset(r, 0, sizeof *r);
}

int lg_pca(lg_tensor *x, int k, lg_pca_result *out) {
  memset(out, 0, sizeof *out);
  int64_t n, d;
  double *xs = rows_f64(x, &n, &d);
  if (!xs) return -1;
  if (n < 2) {
    free(xs);
    return lg_failed("needs at least 2 points, got %lld", (long long)n);
  }
  int64_t kmax = n < d ? n : d;
  if (k < 1 || k > kmax) {
    free(xs);
    return lg_failed("k must be in [1, min(N, D)] = [1, %lld], got %d", (long long)kmax, k);
  }
  lg_dtype dt = x->dtype == LG_F64 ? LG_F64 : LG_F32;
  int rc = -1;
  double *mean = malloc((size_t)d * sizeof *mean), *comp = malloc((size_t)(k * d) * sizeof *comp);
  double *val = malloc((size_t)k * sizeof *val), *ratio = malloc((size_t)k * sizeof *ratio);
  double *proj = malloc((size_t)(n * k) * sizeof *proj);
  /* the covariance is formed when it is small next to the data (or D is tiny) */
  bool use_cov = d <= 64 || d <= n;
  double *cov = use_cov ? malloc((size_t)(d * d) * sizeof *cov) : NULL;
  int64_t m = 2 * (int64_t)k + 10 < d ? 2 * (int64_t)k + 10 : d;
  double *tmp = use_cov ? NULL : malloc((size_t)(m * n) * sizeof *tmp);
  if (!mean || !comp || !val || !ratio || !proj || (use_cov ? !cov : !tmp)) {
    lg_failed("out of memory for PCA of %lld x %lld", (long long)n, (long long)d);
    goto done;
  }
  center_columns(xs, n, d, mean);
  double total = 0;
  for (int64_t e = 0; e < n * d; e++) total += xs[e] * xs[e];
  total /= (double)(n - 1);
  if (use_cov) lg_gemm_f64(true, false, d, d, n, 1.0 / (double)(n - 1), xs, d, xs, d, 0.0, cov, d);
  cov_op op = {xs, cov, n, d, tmp};
  if (top_eigen(&op, k, comp, val)) goto done;
  for (int64_t i = 0; i < k; i++) {
    double *ci = comp + i * d;
    int64_t best = 0;
    for (int64_t t = 1; t < d; t++)
      if (fabs(ci[t]) > fabs(ci[best]) * (1 + 1e-12)) best = t;
    if (ci[best] < 0)
      for (int64_t t = 0; t < d; t++) ci[t] = -ci[t];
    if (val[i] < 0) val[i] = 0; /* rounding on a rank-deficient covariance */
    ratio[i] = total > 0 ? val[i] / total : 0;
  }
  lg_gemm_f64(false, true, n, k, d, 1.0, xs, d, comp, d, 0.0, proj, k);
  {
    int64_t s_proj[2] = {n, k}, s_comp[2] = {k, d}, s_k[1] = {k}, s_d[1] = {d};
    out->projected = tensor_from(proj, 2, s_proj, dt);
    out->components = tensor_from(comp, 2, s_comp, dt);
    out->variance = tensor_from(val, 1, s_k, dt);
    out->ratio = tensor_from(ratio, 1, s_k, dt);
    out->mean = tensor_from(mean, 1, s_d, dt);
    if (!out->projected || !out->components || !out->variance || !out->ratio || !out->mean) {
      lg_pca_result_release(out);
      goto done;
    }
  }
  rc = 0;
done:
  free(xs);
  free(mean);
  free(comp);
  free(val);
  free(ratio);
  free(proj);
  free(cov);
  free(tmp);
  return rc;
}
