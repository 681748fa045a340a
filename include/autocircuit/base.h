/* autocircuit — status codes, errors and allocation.
 *
 * Every fallible library call returns an int status (AC_OK == 0 on success) and, when
 * given a non-NULL `ac_error *err`, fills it with the code, the file the error is about,
 * a position in it and a one-line cause. The library never prints and never exits.
 */
#ifndef AUTOCIRCUIT_BASE_H
#define AUTOCIRCUIT_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AC_VERSION "0.1.0"

/* X-macro table of status codes: name, value, message. Exit codes of the CLI equal
 * these values (see docs/cli.md and docs/schemas.md). */
#define AC_STATUS_TABLE(X)                                                        \
    X(AC_OK, 0, "success")                                                        \
    X(AC_ERR_ARG, 2, "invalid argument")                                          \
    X(AC_ERR_IO, 3, "input/output error")                                         \
    X(AC_ERR_FORMAT, 4, "malformed input")                                        \
    X(AC_ERR_NOMEM, 5, "out of memory")                                           \
    X(AC_ERR_UNSUPPORTED, 6, "unsupported")                                       \
    X(AC_ERR_SHAPE, 7, "shape mismatch")                                          \
    X(AC_ERR_RANGE, 8, "value out of range")                                      \
    X(AC_ERR_INTERRUPTED, 9, "interrupted")                                       \
    X(AC_ERR_INTERNAL, 10, "internal error")

enum ac_status {
#define AC__STATUS_ENUM(name, value, msg) name = value,
    AC_STATUS_TABLE(AC__STATUS_ENUM)
#undef AC__STATUS_ENUM
};

/* Symbolic name ("AC_ERR_IO") and message ("input/output error") of a status code.
 * Unknown codes give "AC_ERR_UNKNOWN" / "unknown error". Static strings: do not free. */
const char *ac_status_name(int code);
const char *ac_status_message(int code);

/* An error: what went wrong, in which file, where. Plain value type, no ownership. */
typedef struct ac_error {
    int code;        /* an ac_status */
    char file[512];  /* the file the error is about, "" if none */
    long line;       /* 1-based line for text formats, 0 if not applicable */
    long column;     /* 1-based column for text formats, 0 if not applicable */
    long offset;     /* byte offset for binary formats, -1 if not applicable */
    char msg[512];   /* one-line cause, no trailing newline */
} ac_error;

/* Reset `err` to AC_OK with empty fields. NULL is allowed (no-op). */
void ac_error_clear(ac_error *err);

/* Set `err` (if non-NULL) and return `code`, so callers can write
 *   return ac_error_set(err, AC_ERR_FORMAT, path, "header length %llu past end", n);
 * `file` may be NULL. The message is printf-formatted and truncated to fit. */
int ac_error_set(ac_error *err, int code, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like ac_error_set with a text position (1-based line and column). */
int ac_error_set_at(ac_error *err, int code, const char *file, long line, long column,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Like ac_error_set with a byte offset into a binary file. */
int ac_error_set_offset(ac_error *err, int code, const char *file, long offset,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Format as one line: "FILE:LINE:COL: cause", "FILE: at byte N: cause", "FILE: cause"
 * or "cause". Writes at most `n` bytes including the NUL; returns `buf`. */
char *ac_error_format(const ac_error *err, char *buf, size_t n);

/* ---- allocation ------------------------------------------------------------------
 * All library allocation goes through these, so tests can inject failures. Memory from
 * ac_malloc/ac_calloc/ac_realloc is released with ac_free. ac_calloc and ac_alloc_array
 * check the size multiplication for overflow and return NULL on overflow. */
void *ac_malloc(size_t n);
void *ac_calloc(size_t count, size_t size);
void *ac_realloc(void *p, size_t n);
void ac_free(void *p);
char *ac_strdup(const char *s);
/* 64-byte aligned block of count*size bytes (for SIMD/BLAS), freed with ac_free_aligned. */
void *ac_alloc_aligned(size_t count, size_t size);
void ac_free_aligned(void *p);

/* Test hook: make the N-th allocation from now fail (1 = the next one); 0 disables.
 * Returns the number of allocations performed since the last call. Not thread-safe. */
long ac_alloc_fail_after(long n);

/* Overflow-checked size arithmetic: return 0 and set *out, or return -1 on overflow. */
int ac_mul_size(size_t a, size_t b, size_t *out);
int ac_add_size(size_t a, size_t b, size_t *out);

/* Call first thing in main(argv) of a program using the library. OpenBLAS and libgomp
 * read their environment when they are loaded, before main, so this sets, unless the
 * user did, OPENBLAS_CORETYPE=SkylakeX on AVX-512 machines (OpenBLAS otherwise picks its
 * slower AVX2 kernels there: ~230 vs ~430 GFLOP/s sgemm on 2 cores) and
 * OMP_WAIT_POLICY=passive (idle threads sleep instead of spinning), then re-executes the
 * program once with the same argv (the path /proc/self/exe links to). Returns without doing anything
 * when nothing needed setting, when AC_NO_REEXEC or AC_REEXECED is set, or when the
 * exec fails (the program then carries on with the defaults). */
void ac_ensure_runtime_env(char **argv);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_BASE_H */
