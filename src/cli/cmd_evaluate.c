/* autocircuit evaluate: the faithfulness curve of a scores file over edge counts, and
 * with a ground truth the ROC; writes a curve file. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/circuit_common.h"
#include "util/json_util.h"

static void evaluate_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit evaluate --model PATH --data FILE.json --scores FILE [options]\n"
            "\n"
            "Evaluate the circuits made of the top-k edges of a scores file (ties inclusive) for\n"
            "several k, as auto-circuit's run_circuits, print the faithfulness table and the\n"
            "areas under the curves, and write a curve file (docs/schemas.md). The graph layout\n"
            "(Q/K/V, positions) comes from the scores file.\n"
            "\n"
            "  --model PATH          the model the scores are for (required)\n"
            "  --scores FILE         scores file from 'autocircuit discover' (required)\n"
            "  --edge-counts SPEC    circuit sizes: a comma-separated list of counts and\n"
            "                        fractions of the edges (0.1), to which a list of more than\n"
            "                        two entries adds 0 and all edges; 'all' (0..E), 'log'\n"
            "                        (1..9, 10..90, ...), 'groups' (one per distinct |score|);\n"
            "                        default auto-circuit's: log above 200 edges, else all,\n"
            "                        groups when few distinct scores\n"
            "  --patch edge|tree     edge: corrupt input, clean values into the circuit; tree:\n"
            "                        clean input, ablation values into the rest (default edge)\n"
            "  --ablation KIND       patch values: resample, zero, mean-clean, mean-corrupt, mean,\n"
            "                        batch-mean, batch-all-mean (default resample)\n"
            "  --signed              rank by signed score instead of |score| (default |score|)\n"
            "  --ground-truth FILE   also ROC points at the same counts and the ROC AUC\n"
            "                        (trapezoid) against these edges (default none)\n"
            "  --out FILE            curve file to write (default curve.json)\n"
            "  --no-timing           leave the wall time out of the curve file (default: recorded)\n"
            "  --no-prefix-cache     run full prompts even when every prompt shares a prefix\n"
            "                        (default: cache it, with resample ablation)\n"
            "  --quiet               no progress and no table (default: both)\n"
            "  -h, --help            this help\n\n%s",
            ac_cli_data_help);
}

/* SPEC -> edge-count spec; ints and fracs are ac_malloc'd (caller frees). */
static int parse_counts(const char *v, ac_edge_counts_spec *spec, size_t **ints, double **fracs) {
    memset(spec, 0, sizeof *spec);
    *ints = NULL;
    *fracs = NULL;
    if (!v || !strcmp(v, "default")) return 0;
    if (!strcmp(v, "all")) return spec->kind = AC_EDGE_COUNTS_ALL, 0;
    if (!strcmp(v, "log")) return spec->kind = AC_EDGE_COUNTS_LOGARITHMIC, 0;
    if (!strcmp(v, "groups")) return spec->kind = AC_EDGE_COUNTS_GROUPS, 0;
    double *vals;
    size_t n;
    if (ac_cli_parse_doubles("--edge-counts", v, &vals, &n)) return -1;
    *ints = ac_calloc(n, sizeof **ints);
    *fracs = ac_calloc(n, sizeof **fracs);
    if (!*ints || !*fracs) {
        ac_free(vals);
        return ac_cli_usage_error("out of memory"), -1;
    }
    /* an item with '.' or an exponent is a fraction, otherwise a count */
    const char *p = v;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        int frac = 0;
        for (const char *q = p; q < end; q++) frac |= *q == '.' || *q == 'e' || *q == 'E';
        if (frac) (*fracs)[spec->n_fractions++] = vals[i];
        else if (vals[i] < 0 || vals[i] != floor(vals[i])) {
            ac_free(vals);
            return ac_cli_usage_error("--edge-counts: '%.*s' is not a count", (int)(end - p), p), -1;
        } else (*ints)[spec->n_ints++] = (size_t)vals[i];
        p = *end ? end + 1 : end;
    }
    ac_free(vals);
    spec->kind = AC_EDGE_COUNTS_LIST;
    spec->ints = *ints;
    spec->fractions = *fracs;
    return 0;
}

static double auc_or_nan(const ac_eval_point *pts, size_t n, int which, int log_x, int log_y, double y_min) {
    ac_point *xy = ac_malloc((n ? n : 1) * sizeof *xy);
    if (!xy) return NAN;
    for (size_t i = 0; i < n; i++) {
        xy[i].x = (double)pts[i].requested;
        xy[i].y = which ? pts[i].kl : pts[i].logit_diff;
    }
    double auc;
    int rc = ac_measurements_auc(xy, n, log_x, log_y, y_min, AC_AUC_EPS, &auc, NULL);
    ac_free(xy);
    return rc ? NAN : auc;
}

static void print_table(const ac_eval_point *p, size_t n) {
    printf("%9s %9s %12s %10s %10s %11s %9s\n", "requested", "edges", "logit diff", "diff %", "KL", "answer prob",
           "correct %");
    for (size_t i = 0; i < n; i++)
        printf("%9zu %9zu %12.5g %10.4g %10.4g %11.4g %9.4g\n", p[i].requested, p[i].edges, p[i].logit_diff,
               p[i].logit_diff_percent, p[i].kl, p[i].answer_prob, p[i].correct_percent);
}

int ac_cli_evaluate(int argc, char **argv) {
    const char *model_path = NULL, *scores_path = NULL, *gt_path = NULL, *out = "curve.json", *counts_arg = NULL, *v;
    int quiet = 0, no_timing = 0, no_prefix_cache = 0;
    ac_eval_opts eo = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE};
    ac_cli_data_args d;
    ac_cli_data_init(&d);
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            evaluate_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--signed")) eo.signed_rank = 1;
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--no-prefix-cache")) no_prefix_cache = 1;
        else if (!strcmp(argv[i], "--no-timing")) no_timing = 1;
        else if ((r = ac_cli_data_option(argc, argv, &i, &d))) {
            if (r < 0) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) model_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--scores", &v))) scores_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--ground-truth", &v))) gt_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--edge-counts", &v))) counts_arg = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--ablation", &v))) {
            if (r > 0 && ac_cli_parse_ablation(v, &eo.ablation)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--patch", &v))) {
            if (r > 0) {
                if (!strcmp(v, "edge")) eo.tree = 0;
                else if (!strcmp(v, "tree")) eo.tree = 1;
                else return ac_cli_usage_error("--patch: expected edge or tree, got '%s'", v);
            }
        } else return ac_cli_usage_error("evaluate: unknown option '%s' (see 'autocircuit evaluate --help')", argv[i]);
        if (r < 0) return AC_ERR_ARG;
    }
    if (!model_path) return ac_cli_usage_error("evaluate: --model PATH is required");
    if (!scores_path) return ac_cli_usage_error("evaluate: --scores FILE is required");
    if (!d.n_paths) return ac_cli_usage_error("evaluate: --data FILE.json is required");
    ac_edge_counts_spec spec;
    size_t *ints, *counts = NULL, n_counts = 0;
    double *fracs;
    if (parse_counts(counts_arg, &spec, &ints, &fracs)) return AC_ERR_ARG;

    ac_error err;
    ac_cli_progress prog;
    ac_cli_progress_init(&prog, quiet);
    ac_scores_file *sf = NULL, *gf = NULL;
    ac_cli_session s;
    memset(&s, 0, sizeof s);
    float *scores = NULL;
    uint8_t *official = NULL, *all = NULL;
    ac_eval_point *points = NULL;
    ac_point *roc = NULL;
    size_t n_roc = 0, n_official = 0;
    double roc_auc = NAN;
    int rc = ac_scores_file_read(scores_path, &sf, &err);
    if (rc) goto done;
    if (!sf->has_scores) {
        rc = ac_error_set(&err, AC_ERR_FORMAT, scores_path, "a ground-truth file has no scores (give it as --ground-truth)");
        goto done;
    }
    if ((rc = ac_cli_session_open(&s, model_path, &d, 1, sf->separate_qkv, sf->residual, sf->seq_len, &prog, &err))) goto done;
    if (no_prefix_cache) ac_algo_ctx_set_prefix_cache(s.ctx, 0);
    const ac_graph *g = s.g;
    scores = ac_malloc(g->n_edges * sizeof *scores);
    all = ac_malloc(g->n_edges);
    if (!scores || !all) {
        rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    if ((rc = ac_scores_file_to_graph(sf, g, scores_path, scores, NULL, &err))) goto done;
    if (gt_path) {
        official = ac_malloc(g->n_edges);
        if (!official) {
            rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        if ((rc = ac_scores_file_read(gt_path, &gf, &err)) ||
            (rc = ac_scores_file_to_graph(gf, g, gt_path, NULL, official, &err)))
            goto done;
        for (size_t e = 0; e < g->n_edges; e++) n_official += official[e];
    }
    if (spec.kind == AC_EDGE_COUNTS_LIST) {
        /* auto-circuit drops 0 and all edges from a list of at most two entries (a binary
         * circuit encoding); here counts given explicitly are always kept */
        const size_t E = g->n_edges, listed = spec.n_ints + spec.n_fractions;
        int zero = listed > 2, every = listed > 2;
        for (size_t i = 0; i < spec.n_ints; i++) zero |= spec.ints[i] == 0, every |= spec.ints[i] == E;
        for (size_t i = 0; i < spec.n_fractions; i++) {
            const double f = spec.fractions[i];
            if (f >= 0 && f <= 1) zero |= (size_t)((double)E * f) == 0, every |= (size_t)((double)E * f) == E;
        }
        spec.zero_edges = zero ? 1 : -1;
        spec.all_edges = every ? 1 : -1;
    }
    if ((rc = ac_edge_counts(g->n_edges, &spec, scores, &counts, &n_counts, &err))) {
        if (!err.file[0]) snprintf(err.file, sizeof err.file, "%s", scores_path);
        goto done;
    }
    points = ac_calloc(n_counts ? n_counts : 1, sizeof *points);
    if (!points) {
        rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    const double t0 = ac_cli_seconds();
    if ((rc = ac_evaluate(s.ctx, scores, counts, n_counts, &eo, points, &err))) goto done;
    /* the full model on clean and on corrupt prompts: edge patching with every / no edge */
    ac_eval_opts full = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE};
    ac_eval_point clean_pt, corrupt_pt;
    ac_cli_progress_end(&prog);
    ac_algo_ctx_set_progress(s.ctx, NULL, NULL); /* two quick passes: no progress */
    memset(all, 1, g->n_edges);
    if ((rc = ac_evaluate_circuit(s.ctx, all, &full, &clean_pt, &err))) goto done;
    memset(all, 0, g->n_edges);
    if ((rc = ac_evaluate_circuit(s.ctx, all, &full, &corrupt_pt, &err))) goto done;
    const double seconds = ac_cli_seconds() - t0;
    if (official) {
        roc = ac_malloc((n_counts + 2) * sizeof *roc);
        if (!roc) {
            rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        if ((rc = ac_roc_points(scores, official, g->n_edges, counts, n_counts, roc, &err))) {
            snprintf(err.file, sizeof err.file, "%s", gt_path);
            goto done;
        }
        n_roc = n_counts + 2;
        if ((rc = ac_roc_auc(roc, n_roc, 0, &roc_auc, &err))) goto done;
    }
    const double auc = auc_or_nan(points, n_counts, 0, 0, 0, 0), auc_log = auc_or_nan(points, n_counts, 0, 1, 0, 0),
                 auc_kl = auc_or_nan(points, n_counts, 1, 1, 1, 1e-2);
    json_t *x = json_object();
    json_object_set_new(x, "signed", json_boolean(eo.signed_rank));
    json_object_set_new(x, "edge_counts", json_string(counts_arg ? counts_arg : "default"));
    json_object_set_new(x, "separate_qkv", json_boolean(g->separate_qkv));
    json_object_set_new(x, "seq_len", g->seq_len > 0 ? json_integer(g->seq_len) : json_null());
    if (sf->algo) json_object_set_new(x, "algo", json_string(sf->algo));
    char *extra = ac__json_dumps(x, JSON_COMPACT);
    json_decref(x);
    const char *split_name = d.split_all ? "all" : d.split == AC_SPLIT_TEST ? "test" : "train";
    ac_curve c = {.model = model_path,
                  .data = s.data,
                  .scores_path = scores_path,
                  .ablation = ac_ablation_name(eo.ablation),
                  .patch = eo.tree ? "tree" : "edge",
                  .split = split_name,
                  .n_prompts = s.split->n_prompts,
                  .n_edges_total = g->n_edges,
                  .points = points,
                  .n_points = n_counts,
                  .clean_logit_diff = clean_pt.logit_diff,
                  .corrupt_logit_diff = corrupt_pt.logit_diff,
                  .auc_logit_diff = auc,
                  .auc_logit_diff_log = auc_log,
                  .auc_kl = auc_kl,
                  .ground_truth = gt_path,
                  .roc = roc,
                  .n_roc = n_roc,
                  .roc_auc = roc_auc,
                  .ground_truth_edges = n_official,
                  .seconds = no_timing ? -1.0 : seconds,
                  .extra_json = extra};
    rc = ac_curve_write(out, &c, &err);
    free(extra);
    if (rc) goto done;
    if (!quiet) {
        printf("%s: %zu edges, %zu prompts (%s split), %s patching, %s ablation, %.2f s\n", scores_path, g->n_edges,
               s.split->n_prompts, split_name, c.patch, c.ablation, seconds);
        printf("full model logit diff: clean %.6g, corrupt %.6g\n", clean_pt.logit_diff, corrupt_pt.logit_diff);
        print_table(points, n_counts);
        if (auc == auc)
            printf("AUC logit diff %.6g (log edge axis %.6g); AUC KL (log-log) %.6g\n", auc, auc_log, auc_kl);
        else
            printf("AUC: not defined on this curve (%zu point(s); it needs the 0-edge point and at\n"
                   "least one more: try --edge-counts all)\n",
                   n_counts);
        if (official)
            printf("ROC AUC %.6g against %s (%zu of %zu edges)\n", roc_auc, gt_path, n_official, g->n_edges);
        printf("wrote %s\n", out);
    }
done:
    ac_scores_file_free(sf);
    ac_scores_file_free(gf);
    ac_cli_session_close(&s);
    ac_free(scores);
    ac_free(official);
    ac_free(all);
    ac_free(points);
    ac_free(roc);
    ac_free(counts);
    ac_free(ints);
    ac_free(fracs);
    return rc ? ac_cli_fail(&err) : 0;
}
