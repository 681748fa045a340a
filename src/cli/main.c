/* autocircuit command line: dispatch to subcommands. Only the CLI prints or exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autocircuit.h"
#include "cli/cli.h"

/* OPENBLAS_CORETYPE and OMP_WAIT_POLICY must be set before the process starts (OpenBLAS
 * and libgomp read them when loaded): ac_ensure_runtime_env re-executes once. */

static const ac_cli_command commands[] = {
    {"demo", "discover, evaluate and report on the shipped model with a known circuit", ac_cli_demo},
    {"run", "run a model on a prompt: top next tokens, greedy generation", ac_cli_run},
    {"info", "architecture and circuit-graph sizes of a model", ac_cli_info},
    {"tokenize", "text to token ids and back", ac_cli_tokenize},
    {"data", "load a prompt-pair dataset and summarise it", ac_cli_data},
    {"discover", "score every edge of the circuit graph with an algorithm", ac_cli_discover},
    {"evaluate", "faithfulness curve of a scores file (and ROC against a ground truth)", ac_cli_evaluate},
    {"report", "HTML/SVG report of a scores file: diagram, curves, top edges", ac_cli_report},
    {"compare", "top-N overlap between the edge rankings of several scores files", ac_cli_compare},
    {"knockout", "completeness: learn the knockouts that most separate a circuit from the model", ac_cli_knockout},
    {"export", "convert a scores file to CSV, Graphviz DOT or MIB graph JSON", ac_cli_export},
    {"zoo", "compiled models with known circuits: list, or write one", ac_cli_zoo},
    {"bench-zoo", "every algorithm on every shipped model: ROC AUC, faithfulness, time", ac_cli_bench_zoo},
    {"make-dataset", "generate a benchmark dataset (ioi, greater-than, docstring, induction)", ac_cli_make_dataset},
    {"official-circuit", "write a published circuit (IOI, greater-than, docstring) as a ground truth", ac_cli_official_circuit},
    {"train", "train a small GPT-2 model on a synthetic task (ioi, greater-than, induction)", ac_cli_train},
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
        fprintf(f, "  %-17s %s\n", commands[i].name, commands[i].help);
    fprintf(f,
            "\n"
            "Run 'autocircuit COMMAND --help' for a command's options.\n"
            "  -h, --help     this help\n"
            "  --version      print the version\n");
}

int main(int argc, char **argv) {
    ac_ensure_runtime_env(argv);
    ac_cli_install_signal_handlers();
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
