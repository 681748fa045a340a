/* Status table, error formatting and the allocation hook. */
#include "autocircuit/base.h"
#include "util/self_exe.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *ac_status_name(int code) {
    switch (code) {
#define AC__STATUS_NAME(name, value, msg) \
    case value:                           \
        return #name;
        AC_STATUS_TABLE(AC__STATUS_NAME)
#undef AC__STATUS_NAME
    default:
        return "AC_ERR_UNKNOWN";
    }
}

const char *ac_status_message(int code) {
    switch (code) {
#define AC__STATUS_MSG(name, value, msg) \
    case value:                          \
        return msg;
        AC_STATUS_TABLE(AC__STATUS_MSG)
#undef AC__STATUS_MSG
    default:
        return "unknown error";
    }
}

void ac_error_clear(ac_error *err) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->offset = -1;
}

__attribute__((format(printf, 7, 0)))
static void error_fill(ac_error *err, int code, const char *file, long line, long column,
                       long offset, const char *fmt, va_list ap) {
    ac_error_clear(err);
    err->code = code;
    if (file) snprintf(err->file, sizeof err->file, "%s", file);
    err->line = line;
    err->column = column;
    err->offset = offset;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    /* keep it one line */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

int ac_error_set(ac_error *err, int code, const char *file, const char *fmt, ...) {
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    error_fill(err, code, file, 0, 0, -1, fmt, ap);
    va_end(ap);
    return code;
}

int ac_error_set_at(ac_error *err, int code, const char *file, long line, long column,
                    const char *fmt, ...) {
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    error_fill(err, code, file, line, column, -1, fmt, ap);
    va_end(ap);
    return code;
}

int ac_error_set_offset(ac_error *err, int code, const char *file, long offset,
                        const char *fmt, ...) {
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    error_fill(err, code, file, 0, 0, offset, fmt, ap);
    va_end(ap);
    return code;
}

char *ac_error_format(const ac_error *err, char *buf, size_t n) {
    if (!buf || n == 0) return buf;
    const char *msg = err->msg[0] ? err->msg : ac_status_message(err->code);
    if (err->file[0] && err->line > 0)
        snprintf(buf, n, "%s:%ld:%ld: %s", err->file, err->line, err->column, msg);
    else if (err->file[0] && err->offset >= 0)
        snprintf(buf, n, "%s: at byte %ld: %s", err->file, err->offset, msg);
    else if (err->file[0])
        snprintf(buf, n, "%s: %s", err->file, msg);
    else
        snprintf(buf, n, "%s", msg);
    return buf;
}

/* ---- allocation ---------------------------------------------------------------- */

/* atomic: workers of data-parallel algorithms allocate from several threads */
static _Atomic long alloc_countdown = 0; /* >0: fail when it reaches 0 */
static _Atomic long alloc_count = 0;

static int alloc_should_fail(void) {
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    long c = atomic_load_explicit(&alloc_countdown, memory_order_relaxed);
    while (c > 0)
        if (atomic_compare_exchange_weak_explicit(&alloc_countdown, &c, c - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return c == 1;
    return 0;
}

long ac_alloc_fail_after(long n) {
    long c = atomic_exchange(&alloc_count, 0);
    atomic_store(&alloc_countdown, n > 0 ? n : 0);
    return c;
}

int ac_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int ac_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

void *ac_malloc(size_t n) {
    if (alloc_should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *ac_calloc(size_t count, size_t size) {
    size_t total;
    if (ac_mul_size(count, size, &total)) return NULL;
    if (alloc_should_fail()) return NULL;
    return calloc(total ? total : 1, 1);
}

void *ac_realloc(void *p, size_t n) {
    if (alloc_should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void ac_free(void *p) { free(p); }

char *ac_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ac_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void *ac_alloc_aligned(size_t count, size_t size) {
    size_t total;
    if (ac_mul_size(count, size, &total)) return NULL;
    if (ac_add_size(total, 63, &total)) return NULL;
    total &= ~(size_t)63;
    if (alloc_should_fail()) return NULL;
    void *p = NULL;
#ifdef MADV_HUGEPAGE
    /* large blocks (weights, activation arenas, source stacks) on transparent huge pages
     * where the kernel offers them on request: 512 times fewer page faults when first
     * touched, fewer TLB misses while GEMMs stream them */
    const size_t huge = (size_t)2 << 20;
    if (total >= 2 * huge) {
        const size_t rounded = (total + huge - 1) & ~(huge - 1);
        if (posix_memalign(&p, huge, rounded) != 0) return NULL;
        (void)madvise(p, rounded, MADV_HUGEPAGE);
        return p;
    }
#endif
    if (posix_memalign(&p, 64, total ? total : 64) != 0) return NULL;
    return p;
}

void ac_free_aligned(void *p) { free(p); }

const char *ac__self_exe(char *buf, size_t n) {
    const ssize_t k = n > 1 ? readlink("/proc/self/exe", buf, n - 1) : -1;
    if (k <= 0 || (size_t)k >= n - 1) return "/proc/self/exe";
    buf[k] = '\0';
    return buf;
}

void ac_ensure_runtime_env(char **argv) {
    if (getenv("AC_NO_REEXEC") || getenv("AC_REEXECED")) return;
    int changed = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f")) {
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
        changed = 1;
    }
#endif
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        changed = 1;
    }
    if (!changed) return;
    setenv("AC_REEXECED", "1", 1);
    char self[4096];
    execv(ac__self_exe(self, sizeof self), argv);
    /* exec failed: carry on with the defaults */
}
