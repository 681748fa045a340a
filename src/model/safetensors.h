/* safetensors: a validating, read-only, memory-mapped reader and a small writer.
 *
 * File layout: 8-byte little-endian header length N, N bytes of JSON
 *   { "NAME": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...,
 *     "__metadata__": {"key": "value"} }
 * then the data section; offsets are relative to its start (byte 8 + N).
 * See docs/checkpoints.md for the validation rules.
 */
#ifndef AC_MODEL_SAFETENSORS_H
#define AC_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "autocircuit/base.h"

#define AC__ST_MAX_DIMS 8

/* Element types. The first three are the ones converted to fp32; the others are known
 * to the format (so their byte lengths are validated) but rejected when read. */
typedef enum {
    AC__ST_F32 = 0,
    AC__ST_F16,
    AC__ST_BF16,
    AC__ST_F64,
    AC__ST_BOOL,
    AC__ST_U8,
    AC__ST_I8,
    AC__ST_I16,
    AC__ST_U16,
    AC__ST_I32,
    AC__ST_U32,
    AC__ST_I64,
    AC__ST_U64,
    AC__ST_F8_E4M3,
    AC__ST_F8_E5M2,
    AC__ST_F8_E8M0,
    AC__ST_C64,
    AC__ST_DTYPE_COUNT
} ac__st_dtype;

/* "F32", "BF16", ...; static string. */
const char *ac__st_dtype_name(ac__st_dtype dtype);
/* Bytes per element of `dtype`. */
size_t ac__st_dtype_size(ac__st_dtype dtype);

typedef struct ac__st_tensor {
    char *name;
    ac__st_dtype dtype;
    int ndim;
    size_t shape[AC__ST_MAX_DIMS];
    size_t count;        /* product of shape (1 for a scalar) */
    size_t begin, end;   /* byte range relative to the data section */
    int used;            /* 0 after ac__st_open; callers mark tensors they consumed */
} ac__st_tensor;

typedef struct ac__st_file {
    char *path;                    /* owned copy */
    const unsigned char *map;      /* the whole file, read-only */
    size_t size;                   /* file size in bytes */
    size_t data_start;             /* 8 + header length */
    ac__st_tensor *tensors;        /* sorted by name */
    size_t n_tensors;
} ac__st_file;

/* Map and validate `path`. On success *f owns the mapping and the tensor table; release
 * with ac__st_close (also safe on a zeroed or failed *f). Errors (err->file = path):
 * AC_ERR_IO (cannot open/map, not a regular file), AC_ERR_FORMAT (truncated, header
 * length past the end, JSON syntax with line:column of the header, bad entries, unknown
 * dtype, byte length != elements x dtype size, range outside the data section, overlapping
 * tensors, duplicate names), AC_ERR_NOMEM. */
int ac__st_open(ac__st_file *f, const char *path, ac_error *err);
void ac__st_close(ac__st_file *f);

/* The tensor called `name`, or NULL. Borrowed from f. */
ac__st_tensor *ac__st_find(const ac__st_file *f, const char *name);

/* Check that `t` has a dtype we convert (F32/F16/BF16; else AC_ERR_UNSUPPORTED naming
 * tensor and dtype) and exactly the shape `shape[0..ndim)` (else AC_ERR_SHAPE,
 * "tensor NAME has shape [a,b], expected [c,d]"). */
int ac__st_expect(const ac__st_file *f, const ac__st_tensor *t, int ndim, const size_t *shape,
                  ac_error *err);

/* Convert `count` consecutive elements of `t` starting at flat element index `first`
 * to fp32, writing dst[k * dst_stride]. A range outside the tensor gives
 * AC_ERR_INTERNAL. NaN or infinite values are an error (AC_ERR_FORMAT naming the tensor
 * and its flat index). Unsupported dtypes give AC_ERR_UNSUPPORTED. */
int ac__st_read(const ac__st_file *f, const ac__st_tensor *t, size_t first, size_t count,
                float *dst, size_t dst_stride, ac_error *err);

/* Drop the mapped pages of tensor `t` from the process's resident memory once its
 * values have been copied out (madvise MADV_DONTNEED on the read-only private mapping:
 * touched again, they are read back from the file). Keeps a loader's peak resident
 * memory near the model's size rather than the model plus the file. Never fails. */
void ac__st_release(const ac__st_file *f, const ac__st_tensor *t);

/* Exact scalar conversions (all 65536 inputs map to the exactly equal float; NaN stays
 * NaN with its sign and top payload bits), and round-to-nearest-even back. */
float ac__f16_to_f32(uint16_t h);
float ac__bf16_to_f32(uint16_t b);
uint16_t ac__f32_to_f16(float f);
uint16_t ac__f32_to_bf16(float f);

/* ---- writer ------------------------------------------------------------------------ */

typedef struct ac__st_out_tensor {
    const char *name;
    ac__st_dtype dtype;           /* F32, F16 or BF16 */
    int ndim;
    size_t shape[AC__ST_MAX_DIMS];
    const float *data;            /* fp32 values in file order (converted to dtype) ... */
    const void *raw;              /* ... or, if non-NULL, bytes already in dtype (LE) ... */
    /* ... or, when both are NULL, fill(fill_ctx, buf) writes the fp32 values in file
     * order into a scratch buffer of the tensor's element count (one tensor at a time) */
    void (*fill)(const void *fill_ctx, float *buf);
    const void *fill_ctx;
} ac__st_out_tensor;

/* Write `n` tensors to `path` in the given order (offsets consecutive), with the
 * optional `metadata` (string pairs: keys[i] -> values[i], n_metadata of them) as
 * "__metadata__". The header is padded with spaces to a multiple of 8. Written to
 * "PATH.tmp" and renamed over PATH. Errors: AC_ERR_ARG (bad dtype/shape, duplicate
 * names), AC_ERR_IO, AC_ERR_NOMEM. */
int ac__st_write(const char *path, const ac__st_out_tensor *tensors, size_t n,
                 const char *const *meta_keys, const char *const *meta_values,
                 size_t n_metadata, ac_error *err);

#endif
