/* Shared helpers for the cmocka test programs. */
#ifndef AC_TEST_H
#define AC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "autocircuit.h"

/* Directory of ../shared (tests skip when it is absent), the source tree, the CLI. */
const char *ac_test_shared_dir(void);   /* NULL when absent */
const char *ac_test_source_dir(void);
const char *ac_test_cli(void);
/* Seconds to let a CLI process start before a test interrupts it: 1, or
 * $AC_TEST_SIGNAL_DELAY (scripts/valgrind.sh sets more: under memcheck the CLI needs
 * seconds to reach main and install its handlers). A string for timeout(1). */
const char *ac_test_signal_delay(void);
/* Fresh temporary directory for one test program (removed by the OS tmp cleaner). */
const char *ac_test_tmpdir(void);
/* path join into a static rotating buffer */
const char *ac_test_path(const char *a, const char *b);

/* assert |a-b| <= atol + rtol*|b| with a readable message */
#define assert_close(a, b, atol, rtol) \
    ac_test_assert_close((double)(a), (double)(b), (atol), (rtol), #a, __FILE__, __LINE__)
void ac_test_assert_close(double a, double b, double atol, double rtol, const char *expr,
                          const char *file, int line);

/* Run a shell command, capture stdout into a malloc'd string (*out, may be NULL) and
 * return its exit status (or -1). */
int ac_test_run(const char *cmd, char **out);

/* Run the CLI (ac_test_cli()) with `args` (already shell-quoted); stdout into *out and
 * stderr into *errout (malloc'd; either pointer may be NULL), both echoed with
 * print_message. Returns the exit status. */
int ac_test_run_cli(const char *args, char **out, char **errout);

/* Assert an AC_OK status, printing the error when not. */
#define assert_ac_ok(rc, errp) ac_test_assert_ok((rc), (errp), __FILE__, __LINE__)
void ac_test_assert_ok(int rc, const ac_error *err, const char *file, int line);

#endif
