/* autocircuit compare: top-N overlap between the rankings of several scores files
 * (auto-circuit's prune_score_similarities). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "report/similarity.h"

static void compare_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit compare [--top LIST] [--json] SCORES.json SCORES.json...\n"
            "\n"
            "How much the rankings of several algorithms agree: for each pair of scores files\n"
            "(the same graph) and each N of --top, |top-N(A) ∩ top-N(B)| / N by |score|\n"
            "(auto-circuit's prune_score_similarities; '-' where ties make the top-N set\n"
            "larger than N).\n"
            "\n"
            "  --top LIST    edge counts, comma-separated (default 10,100)\n"
            "  --json        print {\"files\": [...], \"top\": [...], \"overlap\": [[[...]]]}\n"
            "                (overlap[i][j][k]: files i and j at top[k]; null when undefined)\n"
            "  -h, --help    this help\n");
}

int ac_cli_compare(int argc, char **argv) {
    const char *top_arg = "10,100", *v;
    int json = 0;
    const char *files[32];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            compare_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if ((r = ac_cli_opt(argc, argv, &i, "--top", &v))) top_arg = v;
        else if (argv[i][0] == '-' && argv[i][1]) return ac_cli_usage_error("compare: unknown option '%s'", argv[i]);
        else if (n_files < 32) files[n_files++] = argv[i];
        else return ac_cli_usage_error("compare: at most 32 files");
        if (r < 0) return AC_ERR_ARG;
    }
    if (n_files < 2) return ac_cli_usage_error("compare: give at least two scores files");
    int32_t *tops32 = NULL;
    int n_top = 0;
    if (ac_cli_ids("--top", top_arg, &tops32, &n_top)) return AC_ERR_ARG;
    size_t counts[64];
    if (n_top > 64) n_top = 64;
    for (int k = 0; k < n_top; k++) {
        if (tops32[k] < 1) {
            ac_free(tops32);
            return ac_cli_usage_error("--top: counts must be positive");
        }
        counts[k] = (size_t)tops32[k];
    }
    ac_free(tops32);

    ac_error err;
    ac_scores_file *sf[32] = {0};
    int rc = 0;
    for (int i = 0; i < n_files && !rc; i++) rc = ac_scores_file_read(files[i], &sf[i], &err);
    double *ov = rc ? NULL : ac_calloc((size_t)n_files * (size_t)n_files * (size_t)n_top, sizeof(double));
    if (!rc && !ov) rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
    if (!rc)
        rc = ac__scores_similarity((const ac_scores_file *const *)sf, files, (size_t)n_files, counts, (size_t)n_top, ov,
                                   &err);
    if (!rc) {
        if (json) {
            printf("{\"files\": [");
            for (int i = 0; i < n_files; i++) printf("%s\"%s\"", i ? ", " : "", sf[i]->algo ? sf[i]->algo : files[i]);
            printf("], \"top\": [");
            for (int k = 0; k < n_top; k++) printf("%s%zu", k ? ", " : "", counts[k]);
            printf("], \"overlap\": [");
            for (int i = 0; i < n_files; i++) {
                printf("%s[", i ? ", " : "");
                for (int j = 0; j < n_files; j++) {
                    printf("%s[", j ? ", " : "");
                    for (int k = 0; k < n_top; k++) {
                        double x = ov[((size_t)i * (size_t)n_files + (size_t)j) * (size_t)n_top + (size_t)k];
                        if (x == x) printf("%s%.6g", k ? ", " : "", x);
                        else printf("%snull", k ? ", " : "");
                    }
                    printf("]");
                }
                printf("]");
            }
            printf("]}\n");
        } else {
            for (int k = 0; k < n_top; k++) {
                printf("top-%zu overlap\n%-22s", counts[k], "");
                for (int j = 0; j < n_files; j++) printf(" %10.10s", sf[j]->algo ? sf[j]->algo : "?");
                printf("\n");
                for (int i = 0; i < n_files; i++) {
                    printf("%-22.22s", sf[i]->algo ? sf[i]->algo : files[i]);
                    for (int j = 0; j < n_files; j++) {
                        double x = ov[((size_t)i * (size_t)n_files + (size_t)j) * (size_t)n_top + (size_t)k];
                        if (x == x) printf(" %10.3f", x);
                        else printf(" %10s", "-");
                    }
                    printf("\n");
                }
                if (k + 1 < n_top) printf("\n");
            }
        }
    }
    ac_free(ov);
    for (int i = 0; i < n_files; i++) ac_scores_file_free(sf[i]);
    return rc ? ac_cli_fail(&err) : 0;
}
