/* IDX files (the MNIST format), plain or gzip-compressed, read and written.
 *
 * Layout: bytes 0 0 TYPE NDIM, then NDIM big-endian uint32 dims, then the
 * values in row-major order, big-endian, of the element type TYPE:
 *   0x08 ubyte  0x09 sbyte  0x0B int16  0x0C int32  0x0D float32  0x0E float64
 *
 * The reader trusts nothing: the header is validated (magic, type, 0..8 dims,
 * a dims product that neither overflows nor exceeds the data actually present)
 * before the tensor is allocated, and a compressed stream is inflated into a
 * buffer that grows only as data arrives, capped at what the header claims.
 * So a hostile file costs at most its own (decompressed) size in memory.
 * Trailing bytes after the data are REJECTED: a valid IDX file has none, and
 * extra bytes usually mean a wrong or concatenated file. */
#ifndef LG_IDX_H
#define LG_IDX_H

#include <stdbool.h>
#include <stddef.h>

#include "lg.h"

typedef enum {
  LG_IDX_UBYTE = 0x08,
  LG_IDX_SBYTE = 0x09,
  LG_IDX_SHORT = 0x0B,
  LG_IDX_INT = 0x0C,
  LG_IDX_FLOAT = 0x0D,
  LG_IDX_DOUBLE = 0x0E,
} lg_idx_type;

/* dtype argument meaning "choose for me": integer types give int64 when the
 * file is 1-d (labels) and float32 otherwise (images); float gives float32,
 * double gives float64. */
#define LG_IDX_DTYPE_DEFAULT (-1)

/* Name ("ubyte", "sbyte", "short", "int", "float", "double") of a type code,
 * or NULL for an unknown code; and the reverse (0 ok, -1 unknown name). */
const char *lg_idx_type_name(int type);
int lg_idx_type_from_name(const char *name, lg_idx_type *out);

/* Parses a complete IDX file image held in memory (uncompressed). dtype is an
 * lg_dtype or LG_IDX_DTYPE_DEFAULT; float data cannot be read as int64.
 * *type_out (may be NULL) receives the file's element type. Returns a new
 * tensor, or NULL with lg_error() saying what was wrong. This is the entry
 * point for fuzzing: lg_idx_read ends in the same function. */
lg_tensor *lg_idx_parse(const void *buf, size_t len, int dtype, int *type_out);

/* Reads a file; gzip is detected by its magic bytes 1f 8b. */
lg_tensor *lg_idx_read(const char *path, int dtype, int *type_out);

/* Writes t (any strides) as element type `type`, gzip-compressed when gzip is
 * true, atomically (a temporary file renamed over path). Values must fit the
 * type: integer types take only integral values in range (no silent rounding
 * or wrapping); float32 takes values within its range. Returns 0 or -1. */
int lg_idx_write(const char *path, lg_tensor *t, lg_idx_type type, bool gzip);

#endif
