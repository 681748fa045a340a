/* Helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int ac_cli_fail(const ac_error *err) {
    char buf[1200];
    fprintf(stderr, "autocircuit: %s\n", ac_error_format(err, buf, sizeof buf));
    return err->code ? err->code : AC_ERR_INTERNAL;
}

int ac_cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("autocircuit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return AC_ERR_ARG;
}

int ac_cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != 0) return 0;
    if (*i + 1 >= argc) {
        ac_cli_usage_error("option %s needs a value", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int ac_cli_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        ac_cli_usage_error("%s: '%s' is not an integer in %ld..%ld", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int ac_cli_ids(const char *opt, const char *s, int32_t **ids, int *n) {
    size_t cap = 16;
    int k = 0;
    int32_t *v = ac_malloc(cap * sizeof *v);
    if (!v) return ac_cli_usage_error("out of memory"), -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            ac_free(v);
            ac_cli_usage_error("%s: expected comma-separated token ids, got '%s'", opt, s);
            return -1;
        }
        if ((size_t)k == cap) {
            cap *= 2;
            int32_t *nv = ac_realloc(v, cap * sizeof *v);
            if (!nv) {
                ac_free(v);
                return ac_cli_usage_error("out of memory"), -1;
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    if (k == 0) {
        ac_free(v);
        ac_cli_usage_error("%s: no token ids given", opt);
        return -1;
    }
    *ids = v;
    *n = k;
    return 0;
}
