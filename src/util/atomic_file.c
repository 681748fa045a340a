/* Atomic output files (see atomic_file.h). */
#include "util/atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporary files currently open, so an interrupt handler can remove them. */
#define AC__AFILE_MAX 16
static char *volatile open_tmps[AC__AFILE_MAX];

static void track(char *tmp) {
    for (int i = 0; i < AC__AFILE_MAX; i++)
        if (!open_tmps[i]) {
            open_tmps[i] = tmp;
            return;
        }
}

static void untrack(const char *tmp) {
    for (int i = 0; i < AC__AFILE_MAX; i++)
        if (open_tmps[i] == tmp) open_tmps[i] = NULL;
}

void ac__afile_cleanup_all(void) {
    for (int i = 0; i < AC__AFILE_MAX; i++) {
        char *t = open_tmps[i];
        if (t) unlink(t);
    }
}

static void release(ac__afile *af) {
    if (af->tmp) untrack(af->tmp);
    ac_free(af->path);
    ac_free(af->tmp);
    af->f = NULL;
    af->path = af->tmp = NULL;
}

int ac__afile_open(ac__afile *af, const char *path, ac_error *err) {
    memset(af, 0, sizeof *af);
    if (!path || !*path) return ac_error_set(err, AC_ERR_ARG, NULL, "empty output path");
    size_t n = strlen(path) + 32;
    af->path = ac_strdup(path);
    af->tmp = ac_malloc(n);
    if (!af->path || !af->tmp) {
        release(af);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        int e = errno;
        release(af);
        return ac_error_set(err, AC_ERR_IO, path, "cannot create: %s", strerror(e));
    }
    track(af->tmp);
    return AC_OK;
}

int ac__afile_commit(ac__afile *af, ac_error *err) {
    if (!af->f) {
        release(af);
        return ac_error_set(err, AC_ERR_INTERNAL, NULL, "commit of a closed output file");
    }
    int bad = ferror(af->f);
    int e = bad ? EIO : 0;
    if (!bad && fflush(af->f) != 0) bad = 1, e = errno;
    if (!bad && fsync(fileno(af->f)) != 0 && errno != EINVAL && errno != EROFS)
        bad = 1, e = errno;
    if (fclose(af->f) != 0 && !bad) bad = 1, e = errno;
    af->f = NULL;
    if (!bad && rename(af->tmp, af->path) != 0) bad = 1, e = errno;
    int rc = AC_OK;
    if (bad) {
        unlink(af->tmp);
        rc = ac_error_set(err, AC_ERR_IO, af->path, "write failed: %s",
                          strerror(e ? e : EIO));
    }
    release(af);
    return rc;
}

void ac__afile_abort(ac__afile *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    release(af);
}

int ac__make_dirs(const char *dir, ac_error *err) {
    char *p = ac_strdup(dir);
    if (!p) return ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
    int rc = AC_OK;
    for (char *c = p + 1; !rc; c++) {
        const int end = *c == 0;
        if (*c != '/' && !end) continue;
        *c = 0;
        struct stat st;
        if (stat(p, &st) != 0) {
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                rc = ac_error_set(err, AC_ERR_IO, p, "cannot create directory: %s", strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            rc = ac_error_set(err, AC_ERR_IO, p, "exists and is not a directory");
        }
        if (end) break;
        *c = '/';
    }
    ac_free(p);
    return rc;
}
