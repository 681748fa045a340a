/* autocircuit command line: dispatch to subcommands. Only the CLI prints or exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autocircuit.h"
#include "cli/cli.h"

/* OpenBLAS reads OPENBLAS_CORETYPE when the library is loaded, before main. On an
 * AVX-512 machine its auto-detection picks slower AVX2 kernels, so set it and re-execute
 * once. AC_NO_REEXEC=1 disables this. */
static void ensure_openblas_coretype(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || getenv("AC_NO_REEXEC")) return;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return;
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with whatever OpenBLAS chose */
#else
    (void)argv;
#endif
}

static const ac_cli_command commands[] = {
    {"run", "run a model on a prompt: top next tokens, greedy generation", ac_cli_run},
    {"info", "architecture and circuit-graph sizes of a model", ac_cli_info},
    {"tokenize", "text to token ids and back", ac_cli_tokenize},
    {NULL, NULL, NULL}, /* sentinel */
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit COMMAND [OPTIONS]\n"
            "\n"
            "Automated circuit discovery in transformer language models.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; commands[i].name; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f,
            "\n"
            "Run 'autocircuit COMMAND --help' for a command's options.\n"
            "  -h, --help     this help\n"
            "  --version      print the version\n");
}

int main(int argc, char **argv) {
    ensure_openblas_coretype(argv);
    if (argc < 2) {
        usage(stderr);
        return AC_ERR_ARG;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("autocircuit %s\n", AC_VERSION);
        return 0;
    }
    for (size_t i = 0; commands[i].name; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "autocircuit: unknown command '%s' (see 'autocircuit --help')\n", argv[1]);
    return AC_ERR_ARG;
}
