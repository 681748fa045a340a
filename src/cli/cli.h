/* Internal CLI interface: each subcommand is `int ac_cli_NAME(int argc, char **argv)`
 * (argv[0] is the command name) returning the process exit status. */
#ifndef AC_CLI_H
#define AC_CLI_H

#include <stdio.h>

#include "autocircuit.h"

typedef struct ac_cli_command {
    const char *name;
    const char *help;
    int (*fn)(int argc, char **argv);
} ac_cli_command;

int ac_cli_tokenize(int argc, char **argv);

/* Print "autocircuit: <formatted error>" on stderr and return the error's code. */
int ac_cli_fail(const ac_error *err);

#endif
