/* safetensors files: save and load named tensors plus string metadata.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 * padded with spaces, then the raw little-endian data; offsets are relative to
 * the start of the data section. lunagrad reads and writes F32, F64 and I64.
 *
 * The reader trusts nothing in the file: every length is checked against the
 * file size before anything is allocated, and errors come back as -1 with
 * lg_error() saying what was wrong. The writer is atomic: it writes
 * `path.tmp.<pid>`, fsyncs it and renames it over `path`, so a failed save
 * leaves any previous file untouched. */
#ifndef LG_SAFETENSORS_H
#define LG_SAFETENSORS_H

#include <stddef.h>

#include "lg.h"

/* Headers larger than this are refused (the reference implementation's limit). */
#define LG_SAFETENSORS_MAX_HEADER ((size_t)100 * 1000 * 1000)

/* What a file holds. Tensors are sorted by name; all strings are NUL-free UTF-8. */
typedef struct lg_safetensors {
  size_t n_tensors;
  char **names;
  lg_tensor **tensors; /* owned references; an entry may be set to NULL after taking it */
  size_t n_meta;
  char **meta_keys; /* sorted */
  char **meta_values;
} lg_safetensors;

/* Writes n tensors (any strides, any of the three dtypes) and n_meta key/value
 * strings to path atomically. Names must be distinct, valid UTF-8 and not
 * "__metadata__"; so must metadata keys. Returns 0, or -1 after lg_failed. */
int lg_safetensors_save(const char *path, size_t n, const char *const *names,
                        lg_tensor *const *tensors, size_t n_meta, const char *const *meta_keys,
                        const char *const *meta_values);

/* Parses a complete file image held in memory (the entry point for fuzzing:
 * it runs the same validation as lg_safetensors_load). On success fills *out
 * (release with lg_safetensors_free) and returns 0; on error returns -1 and
 * leaves *out empty. */
int lg_safetensors_parse(const void *buf, size_t len, lg_safetensors *out);

/* Reads a file: the header is parsed as by lg_safetensors_parse, then each
 * tensor is read with fread straight into its own storage. */
int lg_safetensors_load(const char *path, lg_safetensors *out);

/* Releases everything in st and empties it; safe on an empty struct and twice. */
void lg_safetensors_free(lg_safetensors *st);

#endif
