/* autocircuit discover: score every edge of the circuit graph with one algorithm and
 * write a scores file. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/circuit_common.h"
#include "util/json_util.h"

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
    {"probe", ac_algo_probe, NULL, 1, "subnetwork probing: learned hard-concrete masks (Adam)"},
    {"circuit-probe", ac_algo_circuit_probe, NULL, 1, "subnetwork probing at each of --sizes"},
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
            "                        ground-truth file); for circuit-probe, the size 'true'\n"
            "  --positions           one edge per token position (prompts of one length)\n"
            "                        (default: edges shared by all positions)\n"
            "  --combined-qkv        one input per head instead of separate Q/K/V (default\n"
            "                        separate)\n"
            "  --residual            the node-level residual graph (auto-circuit's\n"
            "                        factorized=False; docs/graph.md) (default: factorized)\n"
            "  --seed S              also seeds --algo random and probe (default 42)\n"
            "  --no-prefix-cache     run full prompts even when every prompt shares a prefix\n"
            "                        (default: cache it, with resample ablation)\n"
            "  --out FILE            scores file to write (default scores.json)\n"
            "  --top N               edges listed in the summary (default 10)\n"
            "  --no-timing           leave the wall time out of the scores file, so identical\n"
            "                        runs give identical files (default: recorded)\n"
            "  --quiet               no progress and no summary (default: both)\n"
            "  -h, --help            this help\n"
            "\n"
            "\n"
            "probe and circuit-probe (auto-circuit's subnetwork_probing_prune_scores):\n"
            "  --epochs N            epochs, one Adam step per batch (default 20)\n"
            "  --lr X                Adam learning rate (default 0.1)\n"
            "  --lambda X            weight of the sparsity regularizer (default 10)\n"
            "  --init X              initial mask logit (default ln 5 for probe, -ln 5 for\n"
            "                        circuit-probe; tree mode flips the sign)\n"
            "  --circuit-size N      regularize towards N edges (default: expected count)\n"
            "  --tree                tree mode: clean input, masks learn what to ablate\n"
            "                        (default: edge mode, corrupt input)\n"
            "  --probe-target NAME   kl-div, mse, answer, wrong-answer, correct-percent,\n"
            "                        logit-diff-percent (default kl-div)\n"
            "  --mask-fn NAME        hard-concrete, sigmoid, none (default hard-concrete)\n"
            "  --avoid FILE          edges (ground-truth schema) to keep out of the circuit\n"
            "  --avoid-lambda X      weight of the avoid penalty (default 1)\n"
            "  --sizes LIST          circuit-probe sizes, e.g. 10,100,true (true: the\n"
            "                        --official circuit's edge count)\n"
            "  Probe patch values: token-wise mean over the corrupt prompts (as auto-circuit)\n"
            "  unless --ablation is given.\n"
            "\n"
            "--data is not needed by random and ground-truth.\n\n%s",
            ac_cli_data_help);
}

static int parse_one_double(const char *opt, const char *v, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || x != x) return ac_cli_usage_error("%s: expected a number, got '%s'", opt, v), -1;
    *out = x;
    return 0;
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
    int positions = 0, combined = 0, residual = 0, quiet = 0, no_timing = 0, no_prefix_cache = 0;
    int ablation_given = 0;
    const char *avoid = NULL, *sizes_arg = NULL;
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
        else if (!strcmp(argv[i], "--residual")) residual = 1;
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--no-timing")) no_timing = 1;
        else if (!strcmp(argv[i], "--no-prefix-cache")) no_prefix_cache = 1;
        else if (!strcmp(argv[i], "--tree")) o.probe_tree = 1;
        else if (!strcmp(argv[i], "--acdc-mse")) o.acdc_mse = 1;
        else if (!strcmp(argv[i], "--acdc-all-batches")) o.acdc_all_batches = 1;
        else if ((r = ac_cli_data_option(argc, argv, &i, &d))) {
            if (r < 0) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) model_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--algo", &v))) algo = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--official", &v))) official = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--avoid", &v))) avoid = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--sizes", &v))) sizes_arg = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--epochs", &v))) {
            long ep;
            if (r > 0 && ac_cli_int("--epochs", v, 1, 100000000, &ep)) goto usage_fail;
            if (r > 0) o.probe_epochs = (int)ep;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--circuit-size", &v))) {
            long cs;
            if (r > 0 && ac_cli_int("--circuit-size", v, 1, 2000000000, &cs)) goto usage_fail;
            if (r > 0) o.probe_circuit_size = (size_t)cs;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--lr", &v))) {
            if (r > 0 && parse_one_double("--lr", v, &o.probe_lr)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--lambda", &v))) {
            if (r > 0 && parse_one_double("--lambda", v, &o.probe_lambda)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--init", &v))) {
            if (r > 0 && parse_one_double("--init", v, &o.probe_init)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--avoid-lambda", &v))) {
            if (r > 0 && parse_one_double("--avoid-lambda", v, &o.probe_avoid_lambda)) goto usage_fail;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--probe-target", &v))) {
            ac_error e2;
            if (r > 0 && ac_probe_target_from_name(v, &o.probe_target, &e2)) {
                ac_cli_usage_error("--probe-target: %s", e2.msg);
                goto usage_fail;
            }
        } else if ((r = ac_cli_opt(argc, argv, &i, "--mask-fn", &v))) {
            ac_error e2;
            if (r > 0 && ac_mask_fn_from_name(v, &o.probe_mask_fn, &e2)) {
                ac_cli_usage_error("--mask-fn: %s", e2.msg);
                goto usage_fail;
            }
        } else if ((r = ac_cli_opt(argc, argv, &i, "--ablation", &v))) {
            if (r > 0 && ac_cli_parse_ablation(v, &o.ablation)) goto usage_fail;
            ablation_given = 1;
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
    const int is_cprobe = !strcmp(a->name, "circuit-probe");
    const int is_probe = is_cprobe || !strcmp(a->name, "probe");
    if (official && strcmp(a->name, "ground-truth") && !is_cprobe) {
        ac_cli_usage_error("discover: --official is for --algo ground-truth and circuit-probe");
        goto usage_fail;
    }
    if (!strcmp(a->name, "ground-truth") && !official) {
        ac_cli_usage_error("discover: --algo ground-truth needs --official FILE");
        goto usage_fail;
    }
    if (is_cprobe && !sizes_arg) {
        ac_cli_usage_error("discover: --algo circuit-probe needs --sizes LIST");
        goto usage_fail;
    }
    if ((sizes_arg && !is_cprobe) || (avoid && !is_probe)) {
        ac_cli_usage_error("discover: --sizes and --avoid are for --algo probe / circuit-probe");
        goto usage_fail;
    }
    if (is_probe && ablation_given) o.probe_ablation = o.ablation;
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
    int rc = ac_cli_session_open(&s, model_path, &d, need_data || d.n_paths > 0, !combined, residual, positions ? -1 : 0,
                                 &prog, &err);
    if (rc) {
        ac_free(taus);
        return ac_cli_fail(&err);
    }
    float *scores = ac_calloc(s.g->n_edges, sizeof *scores);
    size_t *order = ac_calloc(s.g->n_edges, sizeof *order);
    uint8_t *off = NULL, *avoid_mask = NULL;
    size_t *sizes = NULL;
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
    if (avoid) {
        ac_scores_file *af = NULL;
        avoid_mask = ac_calloc(s.g->n_edges, 1);
        if (!avoid_mask) {
            rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        rc = ac_scores_file_read(avoid, &af, &err);
        if (!rc) rc = ac_scores_file_to_graph(af, s.g, avoid, NULL, avoid_mask, &err);
        ac_scores_file_free(af);
        if (rc) goto done;
        o.probe_avoid = avoid_mask;
    }
    if (sizes_arg) {
        size_t n_sizes = 1;
        for (const char *p = sizes_arg; *p; p++) n_sizes += *p == ',';
        sizes = ac_calloc(n_sizes, sizeof *sizes);
        if (!sizes) {
            rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        size_t k = 0;
        for (const char *p = sizes_arg; *p;) {
            const char *q = strchr(p, ',');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            char tok[32];
            snprintf(tok, sizeof tok, "%.*s", (int)(len < 31 ? len : 31), p);
            if (!strcmp(tok, "true")) {
                if (!off) {
                    rc = ac_error_set(&err, AC_ERR_ARG, NULL, "--sizes: 'true' needs --official FILE");
                    goto done;
                }
                size_t cnt = 0;
                for (size_t e = 0; e < s.g->n_edges; e++) cnt += off[e] != 0;
                sizes[k++] = cnt;
            } else {
                char *end;
                long val = strtol(tok, &end, 10);
                if (!*tok || *end || val < 1 || (size_t)val > s.g->n_edges) {
                    rc = ac_error_set(&err, AC_ERR_ARG, NULL, "--sizes: '%s' is not an edge count in 1..%zu or 'true'",
                                      tok, s.g->n_edges);
                    goto done;
                }
                sizes[k++] = (size_t)val;
            }
            p = q ? q + 1 : p + len;
        }
        o.probe_sizes = sizes;
        o.n_probe_sizes = k;
    }
    if (no_prefix_cache && s.ctx) ac_algo_ctx_set_prefix_cache(s.ctx, 0);
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
    json_object_set_new(x, "residual", json_boolean(residual));
    if (s.ctx)
        json_object_set_new(x, "prefix_cache",
                            json_integer((json_int_t)(no_prefix_cache ? 0 : ac_algo_ctx_prefix_len(s.ctx))));
    if (is_probe) {
        json_object_set_new(x, "epochs", json_integer(o.probe_epochs));
        json_object_set_new(x, "lr", json_real(o.probe_lr));
        json_object_set_new(x, "lambda", json_real(o.probe_lambda));
        json_object_set_new(x, "tree", json_boolean(o.probe_tree));
        json_object_set_new(x, "probe_target", json_string(ac_probe_target_name(o.probe_target)));
        json_object_set_new(x, "mask_fn", json_string(ac_mask_fn_name(o.probe_mask_fn)));
        if (o.probe_circuit_size)
            json_object_set_new(x, "circuit_size", json_integer((json_int_t)o.probe_circuit_size));
        if (sizes_arg) json_object_set_new(x, "sizes", json_string(sizes_arg));
    }
    if (official) json_object_set_new(x, "official", json_string(official));
    char *extra_json = ac__json_dumps(x, JSON_COMPACT);
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
    ac_free(avoid_mask);
    ac_free(sizes);
    ac_free(scores);
    ac_free(order);
    ac_free(taus);
    ac_cli_session_close(&s);
    return rc ? ac_cli_fail(&err) : 0;
usage_fail:
    ac_free(taus);
    return AC_ERR_ARG;
}
