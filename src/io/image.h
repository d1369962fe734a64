/* Image decoding (PNG, JPEG, BMP, PNM) through stb_image, into tensors.
 *
 * Every image comes back as an H x W x 3 float32 tensor with values 0..255:
 * grey images are replicated into three channels and an alpha channel is
 * dropped (not composited). Images above LG_IMAGE_MAX_PIXELS are refused from
 * their header, before anything is decoded, so a tiny file claiming a huge
 * size costs nothing. Errors come back as NULL with lg_error() saying why. */
#ifndef LG_IMAGE_H
#define LG_IMAGE_H

#include <stddef.h>

#include "lg.h"

#define LG_IMAGE_MAX_PIXELS ((int64_t)1 << 26) /* 8192 x 8192 */

/* Decodes a complete image file held in memory (the entry point for fuzzing). */
lg_tensor *lg_image_decode(const void *buf, size_t len);

/* Reads and decodes a file. */
lg_tensor *lg_image_load(const char *path);

/* The MNIST-M recipe (Ganin & Lempitsky 2015): for each of the N digits
 * (N x H x W, any dtype), a photo is drawn uniformly from photos (each
 * Hp x Wp x 3, Hp >= H, Wp >= W, values 0..255), then a uniformly placed
 * H x W patch of it; the output pixel is |patch - 255 * (digit > threshold)|
 * per channel, i.e. the patch inverted where the digit is on. Returns an
 * N x H x W x 3 float32 tensor; *sources (if not NULL) receives an N x 3
 * int64 tensor of 1-based (photo, row, col) of each patch. Draws come from a
 * splitmix64 generator seeded with seed (in the order photo, row, col per
 * digit), so the result depends on the seed only, never on lg_manual_seed. */
lg_tensor *lg_mnistm_blend(lg_tensor *digits, lg_tensor *const *photos, int n_photos, double threshold,
                           uint64_t seed, lg_tensor **sources);

#endif
