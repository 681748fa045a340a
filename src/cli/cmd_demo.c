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

#ifndef AC_SOURCE_DATA_DIR
#define AC_SOURCE_DATA_DIR ""
#endif
#ifndef AC_INSTALL_DATA_DIR
#define AC_INSTALL_DATA_DIR ""
#endif

#define DEMO_DEFAULT_ALGOS "eap,ig,exact,acdc,random"

static void demo_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit demo [--out DIR] [--algos LIST] [--model NAME|DIR] [--quiet]\n"
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

static int mkdir_p(const char *dir) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    return 0;
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
    if (mkdir_p(out) != 0) {
        fprintf(stderr, "autocircuit: %s: cannot create directory: %s\n", out, strerror(errno));
        return AC_ERR_IO;
    }

    char model[1100], data[1100], truth[1100];
    if (regenerate || !find_shipped(name, model, data, truth, sizeof model)) {
        char dir[1000];
        snprintf(dir, sizeof dir, "%s/zoo/%s", out, name);
        ac_error err;
        if (mkdir_p(dir) != 0) {
            fprintf(stderr, "autocircuit: %s: cannot create directory: %s\n", dir, strerror(errno));
            return AC_ERR_IO;
        }
        if (ac_zoo_write(name, dir, AC_ZOO_DEFAULT_PROMPTS, AC_ZOO_DEFAULT_SEED, &err)) return ac_cli_fail(&err);
        snprintf(model, sizeof model, "%s/model", dir);
        snprintf(data, sizeof data, "%s/dataset.json", dir);
        snprintf(truth, sizeof truth, "%s/ground_truth.json", dir);
    }
    printf("autocircuit demo: %s\n  model %s\n  data  %s (prompts start with BOS: --no-bos)\n  known circuit %s\n\n",
           ac_zoo_summary(name), model, data, truth);
    fflush(stdout);

    /* the subcommands print their own progress/summary unless quiet */
    char algo_list[256];
    snprintf(algo_list, sizeof algo_list, "%s", algos);
    char first_scores[1200] = "", first_curve[1200] = "", first_algo[32] = "";
    typedef struct row {
        char algo[32];
        double roc_auc, ld_auc;
        size_t e90, n_edges;
    } row;
    row rows[16];
    int n_rows = 0;
    char *save = NULL;
    for (char *a = strtok_r(algo_list, ",", &save); a && n_rows < 16; a = strtok_r(NULL, ",", &save)) {
        char scores[1200], curve[1200];
        snprintf(scores, sizeof scores, "%s/scores-%s.json", out, a);
        snprintf(curve, sizeof curve, "%s/curve-%s.json", out, a);
        char *disc[] = {"discover", "--model", model, "--data", data, "--no-bos", "--algo", a,
                        "--out", scores, "--top", "5", verbose ? NULL : "--quiet", NULL};
        if (!quiet) printf("discover --algo %-22s -> %s\n", a, scores), fflush(stdout);
        int rc = call(ac_cli_discover, disc);
        if (rc) return rc;
        char *eval[] = {"evaluate", "--model", model, "--data", data, "--no-bos", "--scores", scores,
                        "--edge-counts", "all", "--ground-truth", truth, "--out", curve,
                        verbose ? NULL : "--quiet", NULL};
        if (!quiet) printf("%-38s -> %s\n", "evaluate --edge-counts all", curve), fflush(stdout);
        if ((rc = call(ac_cli_evaluate, eval))) return rc;
        ac_curve_file *cf = NULL;
        ac_error err;
        if (ac_curve_file_read(curve, &cf, &err)) return ac_cli_fail(&err);
        row *rw = &rows[n_rows++];
        snprintf(rw->algo, sizeof rw->algo, "%s", a);
        rw->roc_auc = cf->roc_auc;
        /* the area needs the 0-edge point; with infinite scores (ACDC's kept edges) the
         * smallest circuit already holds them (auto-circuit's inclusive +inf threshold) */
        rw->ld_auc = cf->n_points && cf->points[0].edges == 0 ? cf->auc_logit_diff : NAN;
        rw->e90 = edges_for_90(cf);
        rw->n_edges = cf->n_edges_total;
        ac_curve_file_free(cf);
        if (!first_scores[0]) {
            snprintf(first_scores, sizeof first_scores, "%s", scores);
            snprintf(first_curve, sizeof first_curve, "%s", curve);
            snprintf(first_algo, sizeof first_algo, "%s", a);
        }
        if (verbose) printf("\n");
    }
    if (n_rows == 0) return ac_cli_usage_error("demo: --algos is empty");

    char report[1200], svg[1200], title[200];
    snprintf(report, sizeof report, "%s/report.html", out);
    snprintf(svg, sizeof svg, "%s/circuit.svg", out);
    snprintf(title, sizeof title, "%s on the compiled %s model", first_algo, name);
    char *rep[] = {"report", "--scores", first_scores, "--curve", first_curve, "--ground-truth", truth,
                   "--title", title, "--out", report, NULL};
    int rc = call(ac_cli_report, rep);
    if (rc) return rc;
    char *rep_svg[] = {"report", "--scores", first_scores, "--ground-truth", truth, "--format", "svg",
                       "--out", svg, NULL};
    if ((rc = call(ac_cli_report, rep_svg))) return rc;

    printf("\n");
    printf("%-22s %8s %14s %22s\n", "algorithm", "ROC AUC", "AUC logit diff", "edges for 90% diff");
    for (int i = 0; i < n_rows; i++) {
        char e90[32];
        if (rows[i].e90 == (size_t)-1) snprintf(e90, sizeof e90, "never");
        else snprintf(e90, sizeof e90, "%zu of %zu", rows[i].e90, rows[i].n_edges);
        char auc[32];
        if (rows[i].ld_auc == rows[i].ld_auc) snprintf(auc, sizeof auc, "%.4g", rows[i].ld_auc);
        else snprintf(auc, sizeof auc, "n/a");
        printf("%-22s %8.4f %14s %22s\n", rows[i].algo, rows[i].roc_auc, auc, e90);
    }
    printf("\nROC AUC is against the known circuit (1 = every circuit edge ranked above every\n"
           "other edge). Report: %s (open it in a browser); diagram: %s\n", report, svg);
    return 0;
}
