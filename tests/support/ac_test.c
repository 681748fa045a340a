#define _XOPEN_SOURCE 700 /* nftw */
#include "ac_test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *ac_test_shared_dir(void) {
    static char buf[1024];
    const char *d = getenv("AC_SHARED_DIR");
    if (!d) return NULL;
    struct stat st;
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    snprintf(buf, sizeof buf, "%s", d);
    return buf;
}

const char *ac_test_source_dir(void) {
    const char *d = getenv("AC_SOURCE_DIR");
    return d ? d : ".";
}

const char *ac_test_cli(void) {
    const char *d = getenv("AC_CLI");
    return d ? d : "autocircuit";
}

const char *ac_test_signal_delay(void) {
    const char *d = getenv("AC_TEST_SIGNAL_DELAY");
    return d && *d ? d : "1";
}

static char tmpdir_path[256];
static pid_t tmpdir_owner;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path); /* best effort: keep going */
    return 0;
}

/* The scratch directory goes when the test program that made it exits (not a forked
 * child); AC_TEST_KEEP_TMP=1 keeps it for a post-mortem. */
static void remove_tmpdir(void) {
    if (!tmpdir_path[0] || getpid() != tmpdir_owner) return;
    const char *keep = getenv("AC_TEST_KEEP_TMP");
    if (keep && *keep && strcmp(keep, "0") != 0) {
        fprintf(stderr, "test files kept in %s\n", tmpdir_path);
        return;
    }
    nftw(tmpdir_path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *ac_test_tmpdir(void) {
    char *dir = tmpdir_path;
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof tmpdir_path, "%s/actest.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "mkdtemp failed\n");
            exit(1);
        }
        tmpdir_owner = getpid();
        atexit(remove_tmpdir);
    }
    return dir;
}

const char *ac_test_path(const char *a, const char *b) {
    static char bufs[8][1024];
    static int k = 0;
    char *p = bufs[k++ & 7];
    snprintf(p, 1024, "%s/%s", a, b);
    return p;
}

void ac_test_assert_close(double a, double b, double atol, double rtol, const char *expr,
                          const char *file, int line) {
    double diff = a > b ? a - b : b - a;
    double tol = atol + rtol * (b < 0 ? -b : b);
    if (!(diff <= tol)) {
        print_error("%s:%d: %s = %.9g, expected %.9g (|diff| %.3g > tol %.3g)\n", file, line,
                    expr, a, b, diff, tol);
        _fail(file, line);
    }
}

int ac_test_run(const char *cmd, char **out) {
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (buf) buf[n] = 0;
    int st = pclose(f);
    if (out) *out = buf;
    else free(buf);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void ac_test_assert_ok(int rc, const ac_error *err, const char *file, int line) {
    if (rc != AC_OK) {
        char buf[1200];
        print_error("%s:%d: status %s: %s\n", file, line, ac_status_name(rc),
                    err ? ac_error_format(err, buf, sizeof buf) : "");
        _fail(file, line);
    }
}

int ac_test_run_cli(const char *args, char **out, char **errout) {
    char cmd[8192];
    const char *errfile = ac_test_path(ac_test_tmpdir(), "stderr.txt");
    snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s'", ac_test_cli(), args, errfile);
    char *o = NULL;
    int rc = ac_test_run(cmd, &o);
    FILE *f = fopen(errfile, "r");
    char *e = calloc(1, 65536);
    if (f) {
        size_t n = fread(e, 1, 65535, f);
        e[n] = 0;
        fclose(f);
    }
    print_message("$ autocircuit %s -> %d\n%s%s", args, rc, o ? o : "", e);
    if (out) *out = o;
    else free(o);
    if (errout) *errout = e;
    else free(e);
    return rc;
}
