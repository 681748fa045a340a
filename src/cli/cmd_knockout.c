/* autocircuit knockout: the IOI paper's completeness test ("same under knockouts"):
 * learn the knockout set K of a circuit C that most separates C − K from M − K, and
 * write the evaluation (docs/tasks.md, "Completeness"). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/circuit_common.h"

static void knockout_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit knockout --model PATH --data FILE.json\n"
            "                            (--scores FILE (--edges N | --ground-truth FILE) |\n"
            "                             --ground-truth FILE) [options]\n"
            "\n"
            "Completeness of a circuit (the IOI paper's \"same under knockouts\", auto-circuit's\n"
            "same_under_knockout): learn with hard-concrete masks the knockout set K inside the\n"
            "circuit C that most separates the circuit from the full model M when both lose K,\n"
            "then report KL(M ‖ C) and KL(M − K ‖ C − K) (clean input, knocked-out edges patched\n"
            "with corrupt-prompt values), and the same for K = ∅. A complete circuit keeps the\n"
            "second KL small for every K. Writes a knockout file (docs/schemas.md).\n"
            "\n"
            "  --model PATH          the model (required)\n"
            "  --scores FILE         scores file: the circuit is its top edges by |score| (ties\n"
            "                        inclusive)\n"
            "  --edges N             ... the top N edges\n"
            "  --ground-truth FILE   with --scores: N = the ground truth's edge count (auto-circuit's\n"
            "                        true_edge_count); alone: the circuit is the ground truth\n"
            "  --epochs N            training epochs, one Adam step per batch (default 100;\n"
            "                        --steps is the same option)\n"
            "  --lr X                Adam learning rate (default 0.02)\n"
            "  --lambda X            weight of the penalty relu(|K| - n)/n on the sampled knockout\n"
            "                        count (default 0, as the paper's runs)\n"
            "  --max-knockouts N     the penalty's n (default: circuit size / 5, at least 1)\n"
            "  --threshold X         K = circuit edges whose learned mask logit >= X (default 0)\n"
            "  --init X              initial mask logit (default -ln 5: K starts nearly empty)\n"
            "  --target kl_div|logit_diff\n"
            "                        what K tries to break: -KL(M-K ‖ C-K), or the logit-difference\n"
            "                        gap diff(C-K) - diff(M-K) (default kl_div)\n"
            "  --ablation KIND       patch values of knocked-out edges: resample, zero, mean-clean,\n"
            "                        mean-corrupt, mean, batch-mean, batch-all-mean (default resample)\n"
            "  --seed N              hard-concrete samples (default 42)\n"
            "  --out FILE            knockout file to write (default knockout.json)\n"
            "  --no-timing           leave the wall time out of the file (default: recorded)\n"
            "  --no-prefix-cache     run full prompts even when every prompt shares a prefix\n"
            "  --quiet               no progress and no summary\n"
            "  -h, --help            this help\n\n%s",
            ac_cli_data_help);
}

static int parse_double(const char *opt, const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) return ac_cli_usage_error("%s: '%s' is not a number", opt, v);
    *out = x;
    return 0;
}

static void print_result(const char *what, const ac_knockout_result *r) {
    printf("%-14s |K| %6zu   KL(M ‖ C) %-11.5g KL(M-K ‖ C-K) %-11.5g logit diff C-K %.5g, M-K %.5g\n", what,
           r->n_knockouts, r->kl, r->knockout_kl, r->logit_diff_circuit_ko, r->logit_diff_model_ko);
}

int ac_cli_knockout(int argc, char **argv) {
    const char *model_path = NULL, *scores_path = NULL, *gt_path = NULL, *out = "knockout.json", *v;
    long edges = 0, epochs = -1, max_ko = 0, seed = -1;
    int quiet = 0, no_timing = 0, no_prefix_cache = 0;
    ac_knockout_opts ko;
    ac_knockout_opts_default(&ko);
    ac_cli_data_args d;
    ac_cli_data_init(&d);
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            knockout_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--no-timing")) no_timing = 1;
        else if (!strcmp(argv[i], "--no-prefix-cache")) no_prefix_cache = 1;
        else if ((r = ac_cli_data_option(argc, argv, &i, &d))) {
            if (r < 0) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) model_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--scores", &v))) scores_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--ground-truth", &v))) gt_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--edges", &v))) {
            if (r > 0 && ac_cli_int("--edges", v, 1, 1L << 40, &edges)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--epochs", &v)) || (r = ac_cli_opt(argc, argv, &i, "--steps", &v))) {
            if (r > 0 && ac_cli_int("--epochs", v, 0, 1000000, &epochs)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--max-knockouts", &v))) {
            if (r > 0 && ac_cli_int("--max-knockouts", v, 1, 1L << 40, &max_ko)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--seed", &v))) {
            if (r > 0 && ac_cli_int("--seed", v, 0, 0x7fffffffL, &seed)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--lr", &v))) {
            if (r > 0 && (parse_double("--lr", v, &ko.lr) || (!(ko.lr > 0) && ac_cli_usage_error("--lr: must be positive"))))
                return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--lambda", &v))) {
            if (r > 0 && (parse_double("--lambda", v, &ko.lambda) ||
                          (ko.lambda < 0 && ac_cli_usage_error("--lambda: must be >= 0"))))
                return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--threshold", &v))) {
            if (r > 0 && parse_double("--threshold", v, &ko.threshold)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--init", &v))) {
            if (r > 0 && parse_double("--init", v, &ko.init)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--target", &v))) {
            if (r > 0) {
                if (!strcmp(v, "kl_div") || !strcmp(v, "kl-div") || !strcmp(v, "kl")) ko.target = AC_KNOCKOUT_KL_DIV;
                else if (!strcmp(v, "logit_diff") || !strcmp(v, "logit-diff")) ko.target = AC_KNOCKOUT_LOGIT_DIFF;
                else return ac_cli_usage_error("--target: expected kl_div or logit_diff, got '%s'", v);
            }
        } else if ((r = ac_cli_opt(argc, argv, &i, "--ablation", &v))) {
            if (r > 0 && ac_cli_parse_ablation(v, &ko.ablation)) return AC_ERR_ARG;
        } else return ac_cli_usage_error("knockout: unknown option '%s' (see 'autocircuit knockout --help')", argv[i]);
        if (r < 0) return AC_ERR_ARG;
    }
    if (!model_path) return ac_cli_usage_error("knockout: --model PATH is required");
    if (!d.n_paths) return ac_cli_usage_error("knockout: --data FILE.json is required");
    if (!scores_path && !gt_path) return ac_cli_usage_error("knockout: give --scores FILE with --edges N, or --ground-truth FILE");
    if (scores_path && !edges && !gt_path)
        return ac_cli_usage_error("knockout: --scores needs the circuit size: --edges N or --ground-truth FILE");
    if (edges && gt_path) return ac_cli_usage_error("knockout: give --edges N or --ground-truth FILE, not both");
    if (edges && !scores_path) return ac_cli_usage_error("knockout: --edges N needs --scores FILE");
    if (epochs >= 0) ko.epochs = (int)epochs;
    if (seed >= 0) ko.seed = (uint64_t)seed;
    ko.max_knockouts = (size_t)max_ko;

    ac_error err;
    ac_cli_progress prog;
    ac_cli_progress_init(&prog, quiet);
    ac_scores_file *sf = NULL, *gf = NULL;
    ac_cli_session s;
    memset(&s, 0, sizeof s);
    float *scores = NULL, *learned_scores = NULL;
    uint8_t *circuit = NULL;
    double *loss = NULL;
    int rc = AC_OK;
    if (scores_path) {
        if ((rc = ac_scores_file_read(scores_path, &sf, &err))) goto done;
        if (!sf->has_scores) {
            rc = ac_error_set(&err, AC_ERR_FORMAT, scores_path, "a ground-truth file has no scores (give it as --ground-truth)");
            goto done;
        }
    }
    if (gt_path && (rc = ac_scores_file_read(gt_path, &gf, &err))) goto done;
    const ac_scores_file *layout = sf ? sf : gf;
    if ((rc = ac_cli_session_open(&s, model_path, &d, 1, layout->separate_qkv, layout->residual, layout->seq_len, &prog,
                                  &err)))
        goto done;
    if (no_prefix_cache) ac_algo_ctx_set_prefix_cache(s.ctx, 0);
    const ac_graph *g = s.g;
    const size_t E = g->n_edges;
    scores = ac_malloc(E * sizeof *scores);
    learned_scores = ac_malloc(E * sizeof *learned_scores);
    circuit = ac_calloc(E, 1);
    loss = ac_calloc(ko.epochs > 0 ? (size_t)ko.epochs : 1, sizeof *loss);
    if (!scores || !learned_scores || !circuit || !loss) {
        rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    size_t requested = 0, n_circuit = 0;
    if (gf) {
        if ((rc = ac_scores_file_to_graph(gf, g, gt_path, NULL, circuit, &err))) goto done;
        for (size_t e = 0; e < E; e++) requested += circuit[e] != 0;
        if (!requested) {
            rc = ac_error_set(&err, AC_ERR_ARG, gt_path, "the ground truth lists no edge of this graph");
            goto done;
        }
    } else {
        requested = (size_t)edges;
    }
    if (sf) {
        if ((rc = ac_scores_file_to_graph(sf, g, scores_path, scores, NULL, &err))) goto done;
        if (requested > E) {
            rc = ac_error_set(&err, AC_ERR_RANGE, scores_path, "--edges %zu: the graph has %zu edges", requested, E);
            goto done;
        }
        if ((rc = ac_prune_scores_select(scores, E, requested, 0, circuit, &n_circuit, &err))) goto done;
    } else {
        n_circuit = requested;
    }
    ko.circuit_size = requested;
    ac_knockout_result learned, empty;
    const double t0 = ac_cli_seconds();
    if ((rc = ac_algo_knockout(s.ctx, circuit, &ko, learned_scores, loss, &learned, &empty, &err))) goto done;
    const double seconds = ac_cli_seconds() - t0;
    ac_cli_progress_end(&prog);
    const char *split_name = d.split_all ? "all" : d.split == AC_SPLIT_TEST ? "test" : "train";
    ac_knockout_doc doc = {.model = model_path,
                           .data = s.data,
                           .scores_path = scores_path,
                           .ground_truth_path = gt_path,
                           .algo = sf ? sf->algo : gf ? "ground-truth" : NULL,
                           .split = split_name,
                           .n_prompts = s.split->n_prompts,
                           .opts = &ko,
                           .requested_size = sf ? requested : 0,
                           .g = g,
                           .in_circuit = circuit,
                           .scores = learned_scores,
                           .learned = &learned,
                           .empty = &empty,
                           .loss = loss,
                           .n_loss = (size_t)ko.epochs,
                           .seconds = no_timing ? -1.0 : seconds};
    if ((rc = ac_knockout_write(out, &doc, &err))) goto done;
    if (!quiet) {
        printf("circuit: %zu edges", n_circuit);
        if (sf) printf(" (top %zu of %s)", requested, scores_path);
        else printf(" (%s)", gt_path);
        printf(", %zu prompts (%s split), %d epochs, %.2f s\n", s.split->n_prompts, split_name, ko.epochs, seconds);
        print_result("no knockouts", &empty);
        print_result("learned K", &learned);
        printf("wrote %s\n", out);
    }
done:
    ac_scores_file_free(sf);
    ac_scores_file_free(gf);
    ac_cli_session_close(&s);
    ac_free(scores);
    ac_free(learned_scores);
    ac_free(circuit);
    ac_free(loss);
    return rc ? ac_cli_fail(&err) : 0;
}
