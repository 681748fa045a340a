/* autocircuit discover: score every edge of the circuit graph with one algorithm and
 * write a scores file. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/circuit_common.h"

/* ---- the algorithms ------------------------------------------------------------------
 * An algorithm either has the library's common signature (ctx_fn: context, options,
 * scores) or needs a small adaptor (own_fn). Adding one with the common signature is one
 * line in the table. */

typedef struct algo_env {
    ac_algo_ctx *ctx;          /* NULL when the algorithm needs no data */
    const ac_graph *g;
    const ac_discover_opts *o;
} algo_env;

typedef int (*ctx_algo_fn)(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err);
typedef int (*own_algo_fn)(const algo_env *env, float *scores, ac_error *err);

static int run_eap(const algo_env *e, float *s, ac_error *err) { return ac_algo_mask_gradient(e->ctx, e->o, 0, s, err); }
static int run_ig(const algo_env *e, float *s, ac_error *err) { return ac_algo_mask_gradient(e->ctx, e->o, 1, s, err); }
static int run_actmag(const algo_env *e, float *s, ac_error *err) { return ac_algo_activation_magnitude(e->ctx, s, err); }
static int run_random(const algo_env *e, float *s, ac_error *err) {
    (void)err;
    ac_algo_random(e->g, e->o->seed, s);
    return AC_OK;
}
static int run_truth(const algo_env *e, float *s, ac_error *err) { return ac_algo_ground_truth(e->g, e->o->official, s, err); }

typedef struct algo_def {
    const char *name;
    ctx_algo_fn ctx_fn;
    own_algo_fn own_fn;
    int needs_data;
    const char *help;
} algo_def;

static const algo_def algos[] = {
    {"eap", NULL, run_eap, 1, "mask gradients at --mask-val (0: Edge Attribution Patching)"},
    {"ig", NULL, run_ig, 1, "integrated gradients over the masks, --steps N (N+1 samples summed)"},
    {"eap-ig-inputs", ac_algo_eap_ig_inputs, NULL, 1, "EAP-IG with interpolated input embeddings (--steps)"},
    {"acdc", ac_algo_acdc, NULL, 1, "ACDC over the thresholds --tau (KL, or --acdc-mse)"},
    {"exact", ac_algo_exact, NULL, 1, "exact patching of every edge alone"},
    {"activation-magnitude", NULL, run_actmag, 1, "|mean clean output| of each edge's source"},
    {"random", NULL, run_random, 0, "uniform [0, 1) seeded by --seed"},
    {"ground-truth", NULL, run_truth, 0, "1 on the edges of --official FILE, 0 elsewhere"},
    {NULL, NULL, NULL, 0, NULL},
};

static void discover_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit discover --model PATH --data FILE.json --algo NAME [options]\n"
            "\n"
            "Score every edge of the model's circuit graph and write a scores file\n"
            "(docs/schemas.md). Importance is |score|; signs follow auto-circuit (derivatives\n"
            "of the loss, the negated metric). See docs/algorithms.md.\n"
            "\n"
            "  --model PATH          Hugging Face directory or llama2.c checkpoint (required)\n"
            "  --algo NAME           the algorithm (default eap):\n");
    for (const algo_def *a = algos; a->name; a++) fprintf(f, "      %-20s %s\n", a->name, a->help);
    fprintf(f,
            "  --ablation KIND       patch values: resample, zero, mean-clean, mean-corrupt, mean,\n"
            "                        batch-mean, batch-all-mean (default resample)\n"
            "  --grad FN             value the mask-gradient loss reads: logit, prob, logprob,\n"
            "                        logit-exp (default logit)\n"
            "  --answer FN           loss over the answers: avg-diff, avg-val, mse (default avg-diff)\n"
            "  --mask-val V          mask value for eap (default 0)\n"
            "  --steps N             ig / eap-ig-inputs steps (default 5)\n"
            "  --tau LIST            ACDC thresholds, comma-separated (default\n"
            "                        1e-6,1e-5,1e-4,1e-3)\n"
            "  --acdc-mse            ACDC measures the MSE to the clean logits (default KL)\n"
            "  --acdc-all-batches    ACDC measures over every batch (default: the first, as\n"
            "                        auto-circuit)\n"
            "  --official FILE       ground-truth edges for --algo ground-truth (scores or\n"
            "                        ground-truth file)\n"
            "  --positions           one edge per token position (prompts of one length)\n"
            "                        (default: edges shared by all positions)\n"
            "  --combined-qkv        one input per head instead of separate Q/K/V (default\n"
            "                        separate)\n"
            "  --seed S              also seeds --algo random (default 42)\n"
            "  --out FILE            scores file to write (default scores.json)\n"
            "  --top N               edges listed in the summary (default 10)\n"
            "  --no-timing           leave the wall time out of the scores file, so identical\n"
            "                        runs give identical files (default: recorded)\n"
            "  --quiet               no progress and no summary (default: both)\n"
            "  -h, --help            this help\n"
            "\n"
            "--data is not needed by random and ground-truth.\n\n%s",
            ac_cli_data_help);
}

static int parse_val_kind(const char *opt, const char *v, ac_val_kind *out) {
    char name[32];
    snprintf(name, sizeof name, "%s", v);
    for (char *p = name; *p; p++)
        if (*p == '-') *p = '_';
    ac_error err;
    if (ac_val_kind_from_name(name, out, &err)) return ac_cli_usage_error("%s: %s", opt, err.msg), -1;
    return 0;
}

static int parse_answer(const char *opt, const char *v, ac_answer_fn *out) {
    char name[32];
    snprintf(name, sizeof name, "%s", v);
    for (char *p = name; *p; p++)
        if (*p == '-') *p = '_';
    ac_error err;
    if (ac_answer_fn_from_name(name, out, &err)) return ac_cli_usage_error("%s: %s", opt, err.msg), -1;
    return 0;
}

static void print_summary(const ac_cli_session *s, const algo_def *a, const float *scores, const size_t *order,
                          size_t top, double seconds, const char *out) {
    const ac_graph *g = s->g;
    printf("algo %s: %zu edges (%s Q/K/V", a->name, g->n_edges, g->separate_qkv ? "separate" : "combined");
    if (g->seq_len > 0) printf(", %d positions", g->seq_len);
    printf(")");
    if (s->split) printf(", %zu prompts in %zu batches", s->split->n_prompts, s->split->n_batches);
    printf(", %.2f s\n", seconds);
    if (top > g->n_edges) top = g->n_edges;
    if (top) printf("top %zu edges by |score|:\n", top);
    for (size_t i = 0; i < top; i++) {
        const size_t e = order[i];
        char name[80];
        int pos;
        ac_graph_edge_at(g, e, &pos, NULL, NULL);
        ac_graph_edge_name(g, e, name, sizeof name);
        if (pos >= 0) {
            char with[100];
            snprintf(with, sizeof with, "%s @%d", name, pos);
            printf("  %4zu  %-36s %14.6g\n", i + 1, with, (double)scores[e]);
        } else {
            printf("  %4zu  %-36s %14.6g\n", i + 1, name, (double)scores[e]);
        }
    }
    printf("wrote %s\n", out);
}

int ac_cli_discover(int argc, char **argv) {
    const char *model_path = NULL, *algo = "eap", *official = NULL, *out = "scores.json", *v;
    long top = 10, steps = 5;
    int positions = 0, combined = 0, quiet = 0, no_timing = 0;
    double mask_val = 0, *taus = NULL;
    size_t n_taus = 0;
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    ac_cli_data_args d;
    ac_cli_data_init(&d);
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            discover_usage(stdout);
            ac_free(taus);
            return 0;
        } else if (!strcmp(argv[i], "--positions")) positions = 1;
        else if (!strcmp(argv[i], "--combined-qkv")) combined = 1;
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--no-timing")) no_timing = 1;
        else if (!strcmp(argv[i], "--acdc-mse")) o.acdc_mse = 1;
        else if (!strcmp(argv[i], "--acdc-all-batches")) o.acdc_all_batches = 1;
        else if ((r = ac_cli_data_option(argc, argv, &i, &d))) {
            if (r < 0) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) model_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--algo", &v))) algo = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--official", &v))) official = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--ablation", &v))) {
            if (r > 0 && ac_cli_parse_ablation(v, &o.ablation)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--grad", &v))) {
            if (r > 0 && parse_val_kind("--grad", v, &o.grad_function)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--answer", &v))) {
            if (r > 0 && parse_answer("--answer", v, &o.answer_function)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--steps", &v))) {
            if (r > 0 && ac_cli_int("--steps", v, 1, 1000000, &steps)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--top", &v))) {
            if (r > 0 && ac_cli_int("--top", v, 0, 1000000000, &top)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--mask-val", &v))) {
            double *mv;
            size_t nmv;
            if (r > 0) {
                if (ac_cli_parse_doubles("--mask-val", v, &mv, &nmv)) goto usage_fail;
                mask_val = mv[0];
                ac_free(mv);
                if (nmv != 1) {
                    ac_cli_usage_error("--mask-val: expected one number, got '%s'", v);
                    goto usage_fail;
                }
            }
        } else if ((r = ac_cli_opt(argc, argv, &i, "--tau", &v))) {
            ac_free(taus);
            taus = NULL;
            if (r > 0 && ac_cli_parse_doubles("--tau", v, &taus, &n_taus)) goto usage_fail;
        } else {
            ac_cli_usage_error("discover: unknown option '%s' (see 'autocircuit discover --help')", argv[i]);
            goto usage_fail;
        }
        if (r < 0) goto usage_fail;
    }
    const algo_def *a = algos;
    while (a->name && strcmp(a->name, algo)) a++;
    if (!a->name) {
        char list[256] = "";
        for (const algo_def *x = algos; x->name; x++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", x == algos ? "" : ", ", x->name);
        ac_cli_usage_error("discover: unknown --algo '%s' (%s)", algo, list);
        goto usage_fail;
    }
    if (!model_path) {
        ac_cli_usage_error("discover: --model PATH is required");
        goto usage_fail;
    }
    if (official && strcmp(a->name, "ground-truth")) {
        ac_cli_usage_error("discover: --official is for --algo ground-truth");
        goto usage_fail;
    }
    if (!strcmp(a->name, "ground-truth") && !official) {
        ac_cli_usage_error("discover: --algo ground-truth needs --official FILE");
        goto usage_fail;
    }
    const int need_data = a->needs_data || positions;
    if (need_data && d.n_paths == 0) {
        ac_cli_usage_error("discover: --data FILE.json is required for --algo %s", a->name);
        goto usage_fail;
    }
    o.steps = (int)steps;
    o.mask_val = (float)mask_val;
    o.taus = taus;
    o.n_taus = n_taus;
    o.seed = d.opts.seed;

    ac_error err;
    ac_cli_progress prog;
    ac_cli_progress_init(&prog, quiet);
    ac_cli_session s;
    int rc = ac_cli_session_open(&s, model_path, &d, need_data || d.n_paths > 0, !combined, positions ? -1 : 0,
                                 &prog, &err);
    if (rc) {
        ac_free(taus);
        return ac_cli_fail(&err);
    }
    float *scores = ac_calloc(s.g->n_edges, sizeof *scores);
    size_t *order = ac_calloc(s.g->n_edges, sizeof *order);
    uint8_t *off = NULL;
    ac_scores_file *sf = NULL;
    if (!scores || !order) {
        rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory for %zu edges", s.g->n_edges);
        goto done;
    }
    if (official) {
        off = ac_calloc(s.g->n_edges, 1);
        if (!off) {
            rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        if ((rc = ac_scores_file_read(official, &sf, &err)) ||
            (rc = ac_scores_file_to_graph(sf, s.g, official, NULL, off, &err)))
            goto done;
        o.official = off;
    }
    const double t0 = ac_cli_seconds();
    algo_env env = {.ctx = s.ctx, .g = s.g, .o = &o};
    rc = a->ctx_fn ? a->ctx_fn(s.ctx, &o, scores, &err) : a->own_fn(&env, scores, &err);
    ac_cli_progress_end(&prog);
    const double seconds = ac_cli_seconds() - t0;
    if (rc) goto done;

    json_t *x = json_object();
    json_object_set_new(x, "mask_val", json_real(mask_val));
    json_object_set_new(x, "acdc_mse", json_boolean(o.acdc_mse));
    json_object_set_new(x, "acdc_all_batches", json_boolean(o.acdc_all_batches));
    json_object_set_new(x, "positions", json_boolean(positions));
    if (official) json_object_set_new(x, "official", json_string(official));
    char *extra_json = json_dumps(x, JSON_COMPACT);
    json_decref(x);
    const char *split_name = d.split_all ? "all" : d.split == AC_SPLIT_TEST ? "test" : "train";
    const int uses_steps = !strcmp(a->name, "ig") || !strcmp(a->name, "eap-ig-inputs");
    static const double default_taus[4] = {1e-6, 1e-5, 1e-4, 1e-3};
    const int is_acdc = !strcmp(a->name, "acdc");
    ac_scores_settings st = {
        .algo = a->name,
        .model = model_path,
        .data = s.split ? s.data : NULL,
        .ablation = ac_ablation_name(o.ablation),
        .grad_function = ac_val_kind_name(o.grad_function),
        .answer_function = ac_answer_fn_name(o.answer_function),
        .steps = uses_steps ? o.steps : 0,
        .taus = is_acdc ? (taus ? taus : default_taus) : NULL,
        .n_taus = is_acdc ? (taus ? n_taus : 4) : 0,
        .split = s.split ? split_name : NULL,
        .n_prompts = s.split ? s.split->n_prompts : 0,
        .seed = o.seed,
        .seconds = no_timing ? -1.0 : seconds,
        .seq_labels = s.ds ? (const char *const *)s.ds->seq_labels : NULL,
        .n_seq_labels = s.ds ? s.ds->n_seq_labels : 0,
        .extra_json = extra_json,
    };
    rc = ac_scores_write(out, s.g, scores, &st, &err);
    free(extra_json);
    if (rc) goto done;
    if (!quiet) {
        if ((rc = ac_prune_scores_order(scores, s.g->n_edges, 0, order, &err))) goto done;
        print_summary(&s, a, scores, order, (size_t)top, seconds, out);
    }
done:
    ac_scores_file_free(sf);
    ac_free(off);
    ac_free(scores);
    ac_free(order);
    ac_free(taus);
    ac_cli_session_close(&s);
    return rc ? ac_cli_fail(&err) : 0;
usage_fail:
    ac_free(taus);
    return AC_ERR_ARG;
}
