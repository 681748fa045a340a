/* autocircuit demo: discover → evaluate → report on the shipped default model (the
 * compiled induction model, whose circuit is known), printing the ROC AUC of each
 * algorithm against that circuit and where the report is.
 *
 * The demo drives the other commands in-process (the same code a user runs), so what
 * it shows is exactly what `discover`, `evaluate` and `report` do. */
#include <errno.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autocircuit/zoo.h"
#include "cli/cli.h"
#include "util/atomic_file.h"

#ifndef AC_SOURCE_DATA_DIR
#define AC_SOURCE_DATA_DIR ""
#endif
#ifndef AC_INSTALL_DATA_DIR
#define AC_INSTALL_DATA_DIR ""
#endif

#define DEMO_DEFAULT_ALGOS "eap,ig,exact,acdc,random"

static void demo_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit demo [--out DIR] [--algos LIST] [--model NAME] [--quiet]\n"
            "\n"
            "Discover, evaluate and report a circuit on a model whose circuit is known: by\n"
            "default the shipped compiled induction model (models/induction, docs/zoo.md).\n"
            "Each algorithm scores every edge (discover), the circuits of its top edges are\n"
            "evaluated and compared with the ground truth (evaluate --ground-truth), and an\n"
            "HTML report of the first algorithm is written (report).\n"
            "\n"
            "  --out DIR       output directory, created if missing (default autocircuit-demo)\n"
            "  --algos LIST    algorithms, comma-separated (default " DEMO_DEFAULT_ALGOS ")\n"
            "  --model NAME    a zoo model: induction or lookup (default induction); its shipped\n"
            "                  copy is used when found, otherwise it is generated into DIR/zoo\n"
            "  --regenerate    build the model from its construction into DIR/zoo instead of\n"
            "                  using the shipped copy (the files are bit-identical)\n"
            "  --verbose       show each step's full output (progress, tables)\n"
            "  --quiet         print only the summary table and the report path\n"
            "  -h, --help      this help\n"
            "\n"
            "Files written: DIR/scores-ALGO.json, DIR/curve-ALGO.json (docs/schemas.md),\n"
            "DIR/report.html (self-contained; open it in a browser), DIR/circuit.svg.\n");
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}


/* Find the shipped copy of zoo model `name` (models/NAME + datasets/NAME.json) under the
 * source tree or the installed data directory; AC_DATA_DIR in the environment first. */
static int find_shipped(const char *name, char *model, char *data, char *truth, size_t n) {
    const char *env = getenv("AC_DATA_DIR");
    const char *roots[3] = {env ? env : "", AC_SOURCE_DATA_DIR, AC_INSTALL_DATA_DIR};
    for (int i = 0; i < 3; i++) {
        if (!roots[i][0]) continue;
        snprintf(model, n, "%s/models/%s", roots[i], name);
        snprintf(data, n, "%s/datasets/%s.json", roots[i], name);
        snprintf(truth, n, "%s/models/%s/ground_truth.json", roots[i], name);
        char st[1200];
        snprintf(st, sizeof st, "%s/model.safetensors", model);
        if (is_file(st) && is_file(data) && is_file(truth)) return 1;
    }
    return 0;
}

/* Run one subcommand with a NULL-terminated argument list. */
static int call(int (*fn)(int, char **), char **args) {
    int argc = 0;
    while (args[argc]) argc++;
    return fn(argc, args);
}

/* Smallest edge count whose circuit keeps >= 90% of the logit difference (SIZE_MAX: none). */
static size_t edges_for_90(const ac_curve_file *c) {
    for (size_t i = 0; i < c->n_points; i++)
        if (c->points[i].logit_diff_percent >= 90.0) return c->points[i].edges;
    return (size_t)-1;
}

/* One row of results: an algorithm on one model. */
typedef struct suite_row {
    char algo[32];
    double roc_auc, ld_auc, seconds;
    size_t e90, n_edges;
} suite_row;

/* discover + evaluate every algorithm of `algos` (comma-separated) on one model; rows
 * filled (at most max_rows); the first algorithm's scores/curve paths are returned. */
static int run_suite(const char *model, const char *data, const char *truth, int no_bos, const char *algos,
                     const char *out, const char *tag, int quiet, int verbose, suite_row *rows, int max_rows,
                     int *n_rows, char *first_scores, char *first_curve, char *first_algo) {
    char algo_list[256];
    snprintf(algo_list, sizeof algo_list, "%s", algos);
    *n_rows = 0;
    char *save = NULL;
    for (char *a = strtok_r(algo_list, ",", &save); a && *n_rows < max_rows; a = strtok_r(NULL, ",", &save)) {
        char scores[1200], curve[1200];
        snprintf(scores, sizeof scores, "%s/scores-%s%s.json", out, tag, a);
        snprintf(curve, sizeof curve, "%s/curve-%s%s.json", out, tag, a);
        char *disc[16] = {"discover", "--model", (char *)model, "--data", (char *)data, "--algo", a,
                          "--out", scores, "--top", "5"};
        int k = 11;
        if (no_bos) disc[k++] = "--no-bos";
        if (!verbose) disc[k++] = "--quiet";
        disc[k] = NULL;
        if (!quiet) printf("discover --algo %-22s -> %s\n", a, scores), fflush(stdout);
        const double t0 = ac_cli_seconds();
        int rc = call(ac_cli_discover, disc);
        const double seconds = ac_cli_seconds() - t0;
        if (rc) return rc;
        char *eval[20] = {"evaluate", "--model", (char *)model, "--data", (char *)data, "--scores", scores,
                          "--edge-counts", "all", "--out", curve};
        k = 11;
        if (truth) eval[k++] = "--ground-truth", eval[k++] = (char *)truth;
        if (no_bos) eval[k++] = "--no-bos";
        if (!verbose) eval[k++] = "--quiet";
        eval[k] = NULL;
        if (!quiet) printf("%-38s -> %s\n", "evaluate --edge-counts all", curve), fflush(stdout);
        if ((rc = call(ac_cli_evaluate, eval))) return rc;
        ac_curve_file *cf = NULL;
        ac_error err;
        if (ac_curve_file_read(curve, &cf, &err)) return ac_cli_fail(&err);
        suite_row *rw = &rows[(*n_rows)++];
        snprintf(rw->algo, sizeof rw->algo, "%s", a);
        rw->roc_auc = truth ? cf->roc_auc : NAN;
        /* the area needs the 0-edge point; with infinite scores (ACDC's kept edges) the
         * smallest circuit already holds them (auto-circuit's inclusive +inf threshold) */
        rw->ld_auc = cf->n_points && cf->points[0].edges == 0 ? cf->auc_logit_diff : NAN;
        rw->e90 = edges_for_90(cf);
        rw->n_edges = cf->n_edges_total;
        rw->seconds = seconds;
        ac_curve_file_free(cf);
        if (first_scores && !first_scores[0]) {
            snprintf(first_scores, 1200, "%s", scores);
            snprintf(first_curve, 1200, "%s", curve);
            snprintf(first_algo, 32, "%s", a);
        }
        if (verbose) printf("\n");
    }
    return 0;
}

static void print_rows(const char *model, const suite_row *rows, int n, int with_time) {
    if (model) printf("%-22s ", "model");
    printf("%-22s %8s %14s %20s", "algorithm", "ROC AUC", "AUC logit diff", "edges for 90% diff");
    if (with_time) printf(" %9s", "time (s)");
    printf("\n");
    for (int i = 0; i < n; i++) {
        char e90[32], auc[32], roc[32];
        if (rows[i].e90 == (size_t)-1) snprintf(e90, sizeof e90, "never");
        else snprintf(e90, sizeof e90, "%zu of %zu", rows[i].e90, rows[i].n_edges);
        if (rows[i].ld_auc == rows[i].ld_auc) snprintf(auc, sizeof auc, "%.4g", rows[i].ld_auc);
        else snprintf(auc, sizeof auc, "n/a");
        if (rows[i].roc_auc == rows[i].roc_auc) snprintf(roc, sizeof roc, "%.4f", rows[i].roc_auc);
        else snprintf(roc, sizeof roc, "-");
        if (model) printf("%-22s ", model);
        printf("%-22s %8s %14s %20s", rows[i].algo, roc, auc, e90);
        if (with_time) printf(" %9.2f", rows[i].seconds);
        printf("\n");
    }
}

int ac_cli_demo(int argc, char **argv) {
    const char *out = "autocircuit-demo", *algos = DEMO_DEFAULT_ALGOS, *name = "induction", *v;
    int quiet = 0, verbose = 0, regenerate = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            demo_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--verbose")) verbose = 1;
        else if (!strcmp(argv[i], "--regenerate")) regenerate = 1;
        else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--algos", &v))) algos = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) name = v;
        else return ac_cli_usage_error("demo: unknown option '%s' (see 'autocircuit demo --help')", argv[i]);
        if (r < 0) return AC_ERR_ARG;
    }
    if (!ac_zoo_summary(name)) return ac_cli_usage_error("demo: --model: unknown zoo model '%s' (see 'autocircuit zoo list')", name);
    ac_error derr;
    if (ac__make_dirs(out, &derr)) return ac_cli_fail(&derr);

    char model[1100], data[1100], truth[1100];
    if (regenerate || !find_shipped(name, model, data, truth, sizeof model)) {
        char dir[1000];
        snprintf(dir, sizeof dir, "%s/zoo/%s", out, name);
        ac_error err;
        if (ac__make_dirs(dir, &err)) return ac_cli_fail(&err);
        if (ac_zoo_write(name, dir, AC_ZOO_DEFAULT_PROMPTS, AC_ZOO_DEFAULT_SEED, &err)) return ac_cli_fail(&err);
        snprintf(model, sizeof model, "%s/model", dir);
        snprintf(data, sizeof data, "%s/dataset.json", dir);
        snprintf(truth, sizeof truth, "%s/ground_truth.json", dir);
    }
    printf("autocircuit demo: %s\n  model %s\n  data  %s (prompts start with BOS: --no-bos)\n  known circuit %s\n\n",
           ac_zoo_summary(name), model, data, truth);
    fflush(stdout);

    char first_scores[1200] = "", first_curve[1200] = "", first_algo[32] = "";
    suite_row rows[16];
    int n_rows = 0;
    int rc = run_suite(model, data, truth, 1, algos, out, "", quiet, verbose, rows, 16, &n_rows, first_scores,
                       first_curve, first_algo);
    if (rc) return rc;
    if (n_rows == 0) return ac_cli_usage_error("demo: --algos is empty");

    char report[1200], svg[1200], title[200];
    snprintf(report, sizeof report, "%s/report.html", out);
    snprintf(svg, sizeof svg, "%s/circuit.svg", out);
    snprintf(title, sizeof title, "%s on the compiled %s model", first_algo, name);
    char *rep[] = {"report", "--scores", first_scores, "--curve", first_curve, "--ground-truth", truth,
                   "--title", title, "--out", report, NULL};
    rc = call(ac_cli_report, rep);
    if (rc) return rc;
    char *rep_svg[] = {"report", "--scores", first_scores, "--ground-truth", truth, "--format", "svg",
                       "--out", svg, NULL};
    if ((rc = call(ac_cli_report, rep_svg))) return rc;

    printf("\n");
    print_rows(NULL, rows, n_rows, 0);
    printf("\nROC AUC is against the known circuit (1 = every circuit edge ranked above every\n"
           "other edge). Report: %s (open it in a browser); diagram: %s\n", report, svg);
    return 0;
}

/* ---- bench-zoo: every algorithm on every model of the zoo ----------------------------- */

#define BENCH_ZOO_ALGOS "eap,ig,eap-ig-inputs,exact,acdc,probe,activation-magnitude,random"

static void bench_zoo_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit bench-zoo [--out DIR] [--algos LIST] [--models LIST]\n"
            "\n"
            "Run every algorithm on every shipped model (the compiled models, whose circuits\n"
            "are known, and the trained task models) and print one table: ROC AUC against the\n"
            "ground truth (compiled models), the area under the logit-difference curve, the\n"
            "edges needed for 90%% of the full model's logit difference, and the discovery\n"
            "time. docs/zoo.md records the table.\n"
            "\n"
            "  --out DIR       where result files go (default autocircuit-bench-zoo)\n"
            "  --algos LIST    algorithms (default " BENCH_ZOO_ALGOS ")\n"
            "  --models LIST   models under models/ (default: induction,lookup and every\n"
            "                  *-trained model found)\n"
            "  -h, --help      this help\n");
}

int ac_cli_bench_zoo(int argc, char **argv) {
    const char *out = "autocircuit-bench-zoo", *algos = BENCH_ZOO_ALGOS, *models = NULL, *v;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            bench_zoo_usage(stdout);
            return 0;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--algos", &v))) algos = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--models", &v))) models = v;
        else return ac_cli_usage_error("bench-zoo: unknown option '%s' (see 'autocircuit bench-zoo --help')", argv[i]);
        if (r < 0) return AC_ERR_ARG;
    }
    ac_error derr;
    if (ac__make_dirs(out, &derr)) return ac_cli_fail(&derr);
    char list[512];
    snprintf(list, sizeof list, "%s",
             models ? models : "induction,lookup,ioi-trained,greater-than-trained,induction-trained");
    enum { MAX_ROWS = 128 };
    static suite_row rows[MAX_ROWS];
    static char row_model[MAX_ROWS][40];
    int n = 0;
    char *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        char model[1100], data[1100], truth[1100];
        const int compiled = ac_zoo_summary(name) != NULL;
        if (!find_shipped(name, model, data, truth, sizeof model)) {
            /* trained models have no ground truth: look for the model and dataset only */
            const char *env = getenv("AC_DATA_DIR");
            const char *roots[3] = {env ? env : "", AC_SOURCE_DATA_DIR, AC_INSTALL_DATA_DIR};
            int found = 0;
            for (int i = 0; i < 3 && !found; i++) {
                if (!roots[i][0]) continue;
                snprintf(model, sizeof model, "%s/models/%s", roots[i], name);
                snprintf(data, sizeof data, "%s/datasets/%s.json", roots[i], name);
                char st[1200];
                snprintf(st, sizeof st, "%s/model.safetensors", model);
                found = is_file(st) && is_file(data);
            }
            if (!found) {
                if (models) {
                    fprintf(stderr, "autocircuit: %s: model or dataset not found under models/ and datasets/\n", name);
                    return AC_ERR_IO;
                }
                continue; /* default list: skip what is not shipped */
            }
            truth[0] = 0;
        }
        char tag[64];
        snprintf(tag, sizeof tag, "%s-", name);
        int got = 0;
        printf("%s\n", name);
        fflush(stdout);
        int rc = run_suite(model, data, truth[0] ? truth : NULL, compiled, algos, out, tag, 1, 0, rows + n,
                           MAX_ROWS - n, &got, NULL, NULL, NULL);
        if (rc) return rc;
        for (int i = 0; i < got; i++) snprintf(row_model[n + i], sizeof row_model[0], "%s", name);
        n += got;
    }
    printf("\n");
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(row_model[j], row_model[i])) j++;
        if (i == 0) print_rows(row_model[i], rows + i, j - i, 1);
        else {
            /* continue the table without repeating the header */
            for (int k = i; k < j; k++) {
                char e90[32], auc[32], roc[32];
                if (rows[k].e90 == (size_t)-1) snprintf(e90, sizeof e90, "never");
                else snprintf(e90, sizeof e90, "%zu of %zu", rows[k].e90, rows[k].n_edges);
                if (rows[k].ld_auc == rows[k].ld_auc) snprintf(auc, sizeof auc, "%.4g", rows[k].ld_auc);
                else snprintf(auc, sizeof auc, "n/a");
                if (rows[k].roc_auc == rows[k].roc_auc) snprintf(roc, sizeof roc, "%.4f", rows[k].roc_auc);
                else snprintf(roc, sizeof roc, "-");
                printf("%-22s %-22s %8s %14s %20s %9.2f\n", row_model[k], rows[k].algo, roc, auc, e90,
                       rows[k].seconds);
            }
        }
        i = j;
    }
    return 0;
}
