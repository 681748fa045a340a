/* Helpers shared by the subcommands. */
#include "cli/cli.h"

int ac_cli_fail(const ac_error *err) {
    char buf[1200];
    fprintf(stderr, "autocircuit: %s\n", ac_error_format(err, buf, sizeof buf));
    return err->code ? err->code : AC_ERR_INTERNAL;
}
