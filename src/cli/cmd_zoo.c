/* autocircuit zoo: list the compiled models with known circuits, or write one. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/zoo.h"
#include "cli/cli.h"

static void zoo_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit zoo list\n"
            "       autocircuit zoo NAME --out DIR [--n N] [--seed S]\n"
            "\n"
            "Compiled models with known circuits: small transformers whose weights are set by\n"
            "construction, each with a prompt-pair dataset and its ground-truth circuit (the\n"
            "edges whose exact-patching effect under resample ablation is non-zero).\n"
            "\n"
            "'list' prints the models. 'NAME --out DIR' writes, deterministically:\n"
            "  DIR/model/            config.json + model.safetensors (load with --model DIR/model)\n"
            "  DIR/dataset.json      prompt pairs as token ids, BOS included (use --no-bos)\n"
            "  DIR/ground_truth.json the ground-truth circuit\n"
            "  DIR/README.md         the model card: architecture, task, accuracy, ground truth\n"
            "\n"
            "  --out DIR    output directory, created if missing (required)\n"
            "  --n N        prompt pairs in the dataset (default %d)\n"
            "  --seed S     dataset seed (default %d)\n"
            "  -h, --help   this help\n"
            "\n"
            "The shipped copies (models/NAME, datasets/NAME.json) are made by scripts/make-zoo.sh.\n",
            AC_ZOO_DEFAULT_PROMPTS, AC_ZOO_DEFAULT_SEED);
}

static int parse_seed(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

int ac_cli_zoo(int argc, char **argv) {
    const char *name = NULL, *out = NULL, *v;
    long n = AC_ZOO_DEFAULT_PROMPTS;
    uint64_t seed = AC_ZOO_DEFAULT_SEED;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            zoo_usage(stdout);
            return 0;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) {
            if (r < 0) return AC_ERR_ARG;
            out = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--n", &v))) {
            if (r < 0 || ac_cli_int("--n", v, 1, AC_ZOO_MAX_PROMPTS, &n)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--seed", &v))) {
            if (r < 0) return AC_ERR_ARG;
            if (parse_seed(v, &seed))
                return ac_cli_usage_error("--seed: '%s' is not a non-negative 64-bit integer", v);
        } else if (argv[i][0] == '-') {
            return ac_cli_usage_error("zoo: unknown option '%s' (see 'autocircuit zoo --help')", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return ac_cli_usage_error("zoo: unexpected argument '%s'", argv[i]);
        }
    }
    if (!name) {
        zoo_usage(stderr);
        return AC_ERR_ARG;
    }
    if (!strcmp(name, "list")) {
        if (out) return ac_cli_usage_error("zoo list: takes no --out");
        for (const char *const *z = ac_zoo_names(); *z; z++) printf("%-10s %s\n", *z, ac_zoo_summary(*z));
        return 0;
    }
    if (!out && ac_zoo_summary(name))
        return ac_cli_usage_error("zoo: --out DIR is required (see 'autocircuit zoo --help')");
    ac_error err; /* an unknown name is reported first, with the known ones */
    if (ac_zoo_write(name, out, (size_t)n, seed, &err)) return ac_cli_fail(&err);
    printf("wrote %s/model (config.json, model.safetensors), %s/dataset.json (%ld prompt pairs, seed %" PRIu64
           "), %s/ground_truth.json, %s/README.md\n",
           out, out, n, seed, out, out);
    return 0;
}
