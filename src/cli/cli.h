/* Internal CLI interface: each subcommand is `int ac_cli_NAME(int argc, char **argv)`
 * (argv[0] is the command name) returning the process exit status. */
#ifndef AC_CLI_H
#define AC_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "autocircuit.h"

typedef struct ac_cli_command {
    const char *name;
    const char *help;
    int (*fn)(int argc, char **argv);
} ac_cli_command;

int ac_cli_tokenize(int argc, char **argv);

int ac_cli_run(int argc, char **argv);
int ac_cli_info(int argc, char **argv);
int ac_cli_data(int argc, char **argv);
int ac_cli_discover(int argc, char **argv);
int ac_cli_evaluate(int argc, char **argv);
int ac_cli_export(int argc, char **argv);
int ac_cli_zoo(int argc, char **argv);
int ac_cli_make_dataset(int argc, char **argv);
int ac_cli_official_circuit(int argc, char **argv);
int ac_cli_report(int argc, char **argv);
int ac_cli_demo(int argc, char **argv);
int ac_cli_compare(int argc, char **argv);
int ac_cli_knockout(int argc, char **argv);
int ac_cli_bench_zoo(int argc, char **argv);
int ac_cli_train(int argc, char **argv);

/* Print "autocircuit: <formatted error>" on stderr and return the error's code. */
int ac_cli_fail(const ac_error *err);

/* ---- progress and interrupts (src/cli/progress.c) ---- */

/* Progress on stderr, plugged into ac_algo_ctx_set_progress(ctx, ac_cli_progress_cb, &p):
 * on a terminal a redrawn bar "what [#####.....] 12/40 3.1/s ETA 0:09"; otherwise a plain
 * line at most every 2 s and one at the end of each phase. Disabled by quiet. */
typedef struct ac_cli_progress {
    int enabled, tty, drawn;
    double interval, start, last;
    char what[64];
} ac_cli_progress;
void ac_cli_progress_init(ac_cli_progress *p, int quiet);
void ac_cli_progress_cb(void *p, size_t done, size_t total, const char *what);
void ac_cli_progress_end(ac_cli_progress *p);
/* Monotonic clock in seconds. */
double ac_cli_seconds(void);
/* SIGINT/SIGTERM: remove every partial output file (ac__afile_cleanup_all), exit 130. */
void ac_cli_install_signal_handlers(void);

#endif

/* ---- small option-parsing helpers (src/cli/common.c) ---- */

/* If argv[*i] is "--name VALUE" or "--name=VALUE", store VALUE in *val, advance *i
 * past it and return 1; return -1 (and print an error) when the value is missing;
 * 0 when argv[*i] is another option. */
int ac_cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Parse an int option value in [lo, hi]; prints an error and returns -1 on failure. */
int ac_cli_int(const char *opt, const char *s, long lo, long hi, long *out);
/* Parse "1,2,3" into ids (malloc'd via ac_malloc); prints an error, returns -1 on failure. */
int ac_cli_ids(const char *opt, const char *s, int32_t **ids, int *n);
/* Print "autocircuit: MSG" on stderr and return AC_ERR_ARG. */
int ac_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
