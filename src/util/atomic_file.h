/* Atomic output files: write "PATH.tmp.PID", rename over PATH when complete.
 * Internal (ac__ prefix); used by every writer of result files. */
#ifndef AC_UTIL_ATOMIC_FILE_H
#define AC_UTIL_ATOMIC_FILE_H

#include <stdio.h>

#include "autocircuit/base.h"

typedef struct ac__afile {
    FILE *f;          /* write here */
    char *path;       /* final path (owned) */
    char *tmp;        /* temporary path (owned) */
} ac__afile;

/* Create the temporary file next to `path`. Errors: AC_ERR_IO naming `path` and the
 * cause (directory missing or not writable), AC_ERR_NOMEM. On error nothing is left. */
int ac__afile_open(ac__afile *af, const char *path, ac_error *err);

/* Flush, check every write succeeded (ferror, fflush, fsync), close and rename over the
 * final path. On any failure the temporary file is removed and AC_ERR_IO returned (for
 * example "disk full"). Always releases af's resources. */
int ac__afile_commit(ac__afile *af, ac_error *err);

/* Close and remove the temporary file (after an error). Safe on a zeroed or already
 * committed ac__afile. */
void ac__afile_abort(ac__afile *af);

/* mkdir -p: create `dir` and its missing parents (mode 0777 less the umask). Errors:
 * AC_ERR_IO naming the component that cannot be created or exists as a non-directory,
 * AC_ERR_NOMEM. */
int ac__make_dirs(const char *dir, ac_error *err);

/* Unlink every temporary file still open (for a SIGINT handler: async-signal-safe). */
void ac__afile_cleanup_all(void);

#endif
