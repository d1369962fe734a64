/* Embeddings for looking at features: t-SNE and PCA (used by lunagrad.da).
 *
 *   lg_tsne_opts o;
 *   lg_tsne_default_opts(&o);          // dims 2, perplexity 30, 1000 iterations
 *   o.seed = 7; o.use_seed = true;
 *   double kl;
 *   lg_tensor *y = lg_tsne(x, &o, &kl); // x: N x D -> y: N x 2, new reference
 *
 * Both take any N x D tensor (int64 is converted), work in float64 and return
 * float64 for float64 input, float32 otherwise. Nothing records autograd nodes. */
#ifndef LG_EMBED_H
#define LG_EMBED_H

#include "lg.h"

typedef struct lg_tsne_opts {
  int dims;                  /* output dimensions (2) */
  double perplexity;         /* effective number of neighbours (30); 0 < perplexity <= N - 1 */
  int iterations;            /* gradient steps (1000) */
  double learning_rate;      /* <= 0: max(200, N / 12) */
  double early_exaggeration; /* P is multiplied by this during the first phase (12) */
  int exaggeration_iters;    /* length of that phase; momentum switches then too (250) */
  double momentum;           /* during the first phase (0.5) */
  double final_momentum;     /* afterwards (0.8) */
  bool use_seed;             /* reseed the core generator with `seed` for the initial layout */
  uint64_t seed;
} lg_tsne_opts;

void lg_tsne_default_opts(lg_tsne_opts *opts);

/* t-SNE (van der Maaten & Hinton 2008) of the rows of x (N x D) into opts->dims
 * dimensions. Input similarities use each point's 3 * perplexity nearest
 * neighbours (all points when N - 1 is smaller: then this is exact t-SNE); the
 * gradient's repulsive term is exact over all pairs. With use_seed, the core
 * generator is reseeded for the initial layout and afterwards continues from a
 * value drawn from its previous state (so the caller's stream stays a function
 * of its own seed). kl (may be NULL) receives the final KL(P || Q). */
lg_tensor *lg_tsne(lg_tensor *x, const lg_tsne_opts *opts, double *kl);

/* Principal component analysis of the rows of x (N x D), k <= min(N, D). */
typedef struct lg_pca_result {
  lg_tensor *projected;  /* N x k: centred x times components^T */
  lg_tensor *components; /* k x D: unit principal axes, largest-|entry| positive */
  lg_tensor *variance;   /* k: variance along each axis (eigenvalues, N - 1 denominator) */
  lg_tensor *ratio;      /* k: variance / total variance */
  lg_tensor *mean;       /* D: the column means that were subtracted */
} lg_pca_result;

/* Fills *out with new references (all NULL on failure); returns 0 or -1. */
int lg_pca(lg_tensor *x, int k, lg_pca_result *out);
void lg_pca_result_release(lg_pca_result *r);

#endif
