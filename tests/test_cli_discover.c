/* autocircuit discover / evaluate / export end to end on a tiny random GPT-2 checkpoint
 * written by the test, against the library's own numbers. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autocircuit/scores.h"

enum { V = 23, NPROMPT = 6, TLEN = 6 };

static char model_dir[1024], model3_dir[1024], data_path[1024];
static const char *DATA_OPTS = "--no-bos --train-test 6,0 --batch-size 4";

static const char *tmp(const char *name) { return ac_test_path(ac_test_tmpdir(), name); }

static void save_model(const char *dir, int n_layer) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = n_layer;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 16;
    c.vocab_size = V;
    c.n_ctx = 16;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 99, 0.5f);
    assert_ac_ok(ac_model_save(m, dir, &err), &err);
    ac_model_free(m);
}

static void write_dataset(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < NPROMPT; i++) {
        fprintf(f, "{\"clean\": [%d, %d, %d, %d, %d, %d], \"corrupt\": [%d, %d, %d, %d, %d, %d], ", 1 + i, 2 + i, 3,
                4 + i % 3, 5, 6 + i, 1 + i, 9 + i, 3, 11, 5, 6 + i);
        fprintf(f, "\"answers\": [%d], \"wrong_answers\": [%d]}%s\n", 7 + i, 12 + i % 4, i + 1 < NPROMPT ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(model_dir, sizeof model_dir, "%s", tmp("model"));
    snprintf(model3_dir, sizeof model3_dir, "%s", tmp("model3"));
    snprintf(data_path, sizeof data_path, "%s", tmp("data.json"));
    save_model(model_dir, 2);
    save_model(model3_dir, 3);
    write_dataset(data_path);
    return 0;
}

static int run_cli(const char *args, char **out, char **errout) {
    return ac_test_run_cli(args, out, errout);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t r = fread(s, 1, (size_t)n, f);
    s[r] = 0;
    fclose(f);
    return s;
}

/* the library side: the checkpoint as saved, the dataset as the CLI loads it */
typedef struct {
    ac_model *m;
    ac_graph *g;
    ac_dataset *ds;
    ac_algo_ctx *c;
} lib;

static lib lib_open_graph(const char *model, int residual) {
    lib L;
    ac_error err;
    assert_ac_ok(ac_model_load(&L.m, model, &err), &err);
    ac_graph_opts go = ac_graph_default_opts();
    go.residual = residual;
    assert_ac_ok(ac_graph_build(&L.g, ac_model_config(L.m), &go, &err), &err);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.vocab_size = V;
    o.train_size = NPROMPT;
    o.test_size = 0;
    o.train_batch_size = o.test_batch_size = 4;
    const char *p = data_path;
    assert_ac_ok(ac_dataset_load(&L.ds, &p, 1, NULL, &o, &err), &err);
    assert_ac_ok(ac_algo_ctx_create(&L.c, L.m, L.g, ac_dataset_split(L.ds, AC_SPLIT_TRAIN), &err), &err);
    return L;
}

static lib lib_open(const char *model) { return lib_open_graph(model, 0); }

static void lib_close(lib *L) {
    ac_algo_ctx_free(L->c);
    ac_dataset_free(L->ds);
    ac_graph_free(L->g);
    ac_model_free(L->m);
}

/* read a scores file and map it onto g */
static float *read_scores(const char *path, const ac_graph *g, ac_scores_file **keep) {
    ac_scores_file *f;
    ac_error err;
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    float *s = calloc(g->n_edges, sizeof(float));
    assert_ac_ok(ac_scores_file_to_graph(f, g, path, s, NULL, &err), &err);
    if (keep) *keep = f;
    else ac_scores_file_free(f);
    return s;
}

static void test_discover_eap_matches_library(void **state) {
    (void)state;
    const char *out = tmp("eap.json");
    char args[4096], *so, *se;
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo eap --out '%s' --top 3", model_dir,
             data_path, DATA_OPTS, out);
    assert_int_equal(run_cli(args, &so, &se), 0);
    /* summary on stdout, progress lines on stderr (not a terminal) */
    assert_non_null(strstr(so, "algo eap: 46 edges (separate Q/K/V), 6 prompts in 2 batches"));
    assert_non_null(strstr(so, "top 3 edges by |score|:\n     1  "));
    assert_null(strstr(so, "\n     4  "));
    assert_non_null(strstr(so, "wrote "));
    assert_non_null(strstr(se, "mask gradients: 2/2 done in"));
    free(so);
    free(se);

    lib L = lib_open(model_dir);
    ac_scores_file *f;
    float *cli = read_scores(out, L.g, &f);
    assert_string_equal(f->algo, "eap");
    assert_non_null(strstr(f->settings_json, "\"n_prompts\":6"));
    assert_non_null(strstr(f->settings_json, "\"ablation\":\"resample\""));
    assert_non_null(strstr(f->settings_json, "\"seconds\":"));
    ac_scores_file_free(f);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    float *want = calloc(L.g->n_edges, sizeof(float));
    ac_error err;
    assert_ac_ok(ac_algo_mask_gradient(L.c, &o, 0, want, &err), &err);
    double maxv = 0;
    for (size_t e = 0; e < L.g->n_edges; e++) {
        assert_close(cli[e], want[e], 1e-6, 1e-5);
        maxv = fmax(maxv, fabs(want[e]));
    }
    assert_true(maxv > 1e-3); /* not trivially zero */
    free(cli);
    free(want);

    /* --quiet: nothing on stdout or stderr; --data as a comma list of one file works */
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo eap --out '%s' --quiet", model_dir,
             data_path, DATA_OPTS, out);
    assert_int_equal(run_cli(args, &so, &se), 0);
    assert_string_equal(so, "");
    assert_string_equal(se, "");
    free(so);
    free(se);
    lib_close(&L);
}

/* --algo probe and circuit-probe with options equal the library's ac_algo_probe /
 * ac_algo_circuit_probe with the same settings; bad --sizes is a usage error. */
static void test_discover_probe_matches_library(void **state) {
    (void)state;
    const char *out = tmp("probe.json");
    char args[4096];
    snprintf(args, sizeof args,
             "discover --model '%s' --data '%s' %s --algo probe --epochs 3 --lr 0.05 --lambda 2 --tree "
             "--probe-target logit-diff-percent --out '%s' --quiet",
             model_dir, data_path, DATA_OPTS, out);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    lib L = lib_open(model_dir);
    ac_scores_file *f;
    float *cli = read_scores(out, L.g, &f);
    assert_string_equal(f->algo, "probe");
    assert_non_null(strstr(f->settings_json, "\"epochs\":3"));
    assert_non_null(strstr(f->settings_json, "\"tree\":true"));
    ac_scores_file_free(f);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.probe_epochs = 3;
    o.probe_lr = 0.05;
    o.probe_lambda = 2;
    o.probe_tree = 1;
    o.probe_target = AC_PROBE_LOGIT_DIFF_PERCENT;
    o.seed = 42; /* the CLI's --seed default (it also seeds the dataset shuffle) */
    float *want = calloc(L.g->n_edges, sizeof(float));
    ac_error err;
    assert_ac_ok(ac_algo_probe(L.c, &o, want, &err), &err);
    int differs_from_init = 0;
    for (size_t e = 0; e < L.g->n_edges; e++) {
        assert_close(cli[e], want[e], 1e-6, 1e-5);
        differs_from_init |= fabs(want[e] - want[0]) > 1e-6;
    }
    assert_true(differs_from_init); /* training moved the masks apart */
    free(cli);

    snprintf(args, sizeof args,
             "discover --model '%s' --data '%s' %s --algo circuit-probe --sizes 3,10 --epochs 2 --out '%s' --quiet",
             model_dir, data_path, DATA_OPTS, out);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    cli = read_scores(out, L.g, &f);
    ac_scores_file_free(f);
    ac_discover_opts_default(&o);
    o.probe_epochs = 2;
    const size_t sizes[2] = {3, 10};
    o.probe_sizes = sizes;
    o.n_probe_sizes = 2;
    assert_ac_ok(ac_algo_circuit_probe(L.c, &o, want, &err), &err);
    for (size_t e = 0; e < L.g->n_edges; e++) assert_close(cli[e], want[e], 1e-6, 1e-5);
    free(cli);
    free(want);
    lib_close(&L);

    char *so, *se;
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo circuit-probe --sizes 3,x --out '%s'",
             model_dir, data_path, DATA_OPTS, tmp("bad.json"));
    assert_int_equal(run_cli(args, &so, &se), AC_ERR_ARG);
    assert_non_null(strstr(se, "--sizes: 'x'"));
    free(so);
    free(se);
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo circuit-probe --out '%s'", model_dir,
             data_path, DATA_OPTS, tmp("bad.json"));
    assert_int_equal(run_cli(args, &so, &se), AC_ERR_ARG);
    assert_non_null(strstr(se, "needs --sizes"));
    free(so);
    free(se);
}

/* --residual: discover on the node-level residual graph equals the library's EAP on
 * that graph; the file says so, evaluate rebuilds the same graph, and a residual scores
 * file is refused for the factorized graph. */
static void test_discover_residual_graph(void **state) {
    (void)state;
    const char *out = tmp("resid.json"), *curve = tmp("resid-curve.json");
    char args[4096], *so, *se;
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo eap --residual --out '%s' --quiet",
             model_dir, data_path, DATA_OPTS, out);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    lib L = lib_open_graph(model_dir, 1);
    assert_int_equal(L.g->n_edges, 10); /* 2 layers x (1 + 2 heads + 2) */
    ac_scores_file *f;
    float *cli = read_scores(out, L.g, &f);
    assert_true(f->residual);
    ac_scores_file_free(f);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    float *want = calloc(L.g->n_edges, sizeof(float));
    ac_error err;
    assert_ac_ok(ac_algo_mask_gradient(L.c, &o, 0, want, &err), &err);
    double maxv = 0;
    for (size_t e = 0; e < L.g->n_edges; e++) {
        assert_close(cli[e], want[e], 1e-6, 1e-5);
        maxv = fmax(maxv, fabs(want[e]));
    }
    assert_true(maxv > 1e-3);
    free(cli);
    free(want);
    lib_close(&L);

    snprintf(args, sizeof args, "evaluate --model '%s' --data '%s' %s --scores '%s' --edge-counts all --out '%s'",
             model_dir, data_path, DATA_OPTS, out, curve);
    assert_int_equal(run_cli(args, &so, &se), 0);
    assert_non_null(strstr(so, "       10        10 "));
    free(so);
    free(se);

    /* the factorized graph refuses it */
    ac_scores_file *rf;
    assert_ac_ok(ac_scores_file_read(out, &rf, &err), &err);
    L = lib_open(model_dir);
    float *tmpbuf = calloc(L.g->n_edges, sizeof(float));
    assert_int_equal(ac_scores_file_to_graph(rf, L.g, out, tmpbuf, NULL, &err), AC_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "residual"));
    free(tmpbuf);
    ac_scores_file_free(rf);
    lib_close(&L);
}

static void test_discover_positions_and_combined(void **state) {
    (void)state;
    const char *out = tmp("pos.json");
    char args[4096];
    snprintf(args, sizeof args,
             "discover --model '%s' --data '%s' %s --algo activation-magnitude --positions --combined-qkv --out '%s' "
             "--quiet",
             model_dir, data_path, DATA_OPTS, out);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    ac_scores_file *f;
    ac_error err;
    assert_ac_ok(ac_scores_file_read(out, &f, &err), &err);
    assert_int_equal(f->seq_len, TLEN);
    assert_int_equal(f->separate_qkv, 0);
    assert_int_equal(f->n_edges, 26 * TLEN);
    assert_int_equal(f->edges[26].pos, 1);
    ac_scores_file_free(f);
    /* evaluate builds the same graph from the file's "graph" object */
    const char *curve = tmp("pos-curve.json");
    snprintf(args, sizeof args, "evaluate --model '%s' --data '%s' %s --scores '%s' --edge-counts 0,1.0 --out '%s' --quiet",
             model_dir, data_path, DATA_OPTS, out, curve);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    ac_curve_file *cf;
    assert_ac_ok(ac_curve_file_read(curve, &cf, &err), &err);
    assert_int_equal(cf->n_edges_total, 26 * TLEN);
    assert_int_equal(cf->n_points, 2);
    assert_int_equal(cf->points[1].edges, 26 * TLEN);
    assert_close(cf->points[1].logit_diff_percent, 100.0, 1e-3, 0);
    assert_non_null(strstr(cf->settings_json, "\"seq_len\":6"));
    ac_curve_file_free(cf);
}

static void test_random_deterministic(void **state) {
    (void)state;
    const char *a = tmp("rand-a.json"), *b = tmp("rand-b.json"), *c = tmp("rand-c.json");
    char args[4096];
    snprintf(args, sizeof args, "discover --model '%s' --algo random --seed 7 --no-timing --out '%s' --quiet",
             model_dir, a);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "discover --model '%s' --algo random --seed 7 --no-timing --out '%s' --quiet",
             model_dir, b);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "discover --model '%s' --algo random --seed 8 --no-timing --out '%s' --quiet",
             model_dir, c);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    char *ta = slurp(a), *tb = slurp(b), *tc = slurp(c);
    assert_string_equal(ta, tb);
    assert_string_not_equal(ta, tc);
    free(ta);
    free(tb);
    free(tc);
    lib L = lib_open(model_dir);
    float *cli = read_scores(a, L.g, NULL), *want = calloc(L.g->n_edges, sizeof(float));
    ac_algo_random(L.g, 7, want);
    assert_memory_equal(cli, want, L.g->n_edges * sizeof(float));
    free(cli);
    free(want);
    lib_close(&L);
}

static void test_evaluate_matches_library(void **state) {
    (void)state;
    const char *scores = tmp("eval-scores.json"), *curve = tmp("curve.json");
    char args[4096], *so;
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo eap --out '%s' --quiet", model_dir,
             data_path, DATA_OPTS, scores);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "evaluate --model '%s' --data '%s' %s --scores '%s' --edge-counts 0,10,0.5,46 --out '%s'",
             model_dir, data_path, DATA_OPTS, scores, curve);
    assert_int_equal(run_cli(args, &so, NULL), 0);
    assert_non_null(strstr(so, "requested"));
    assert_non_null(strstr(so, "AUC logit diff"));
    free(so);
    ac_curve_file *cf;
    ac_error err;
    assert_ac_ok(ac_curve_file_read(curve, &cf, &err), &err);
    assert_int_equal(cf->n_points, 4);
    assert_int_equal(cf->n_edges_total, 46);
    assert_int_equal(cf->points[2].requested, 23);
    assert_int_equal(cf->n_roc, 0);

    lib L = lib_open(model_dir);
    float *s = read_scores(scores, L.g, NULL);
    const size_t counts[4] = {0, 10, 23, 46};
    ac_eval_point want[4];
    ac_eval_opts eo = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE};
    assert_ac_ok(ac_evaluate(L.c, s, counts, 4, &eo, want, &err), &err);
    for (int i = 0; i < 4; i += 3) {
        const ac_eval_point *p = &cf->points[i], *q = &want[i];
        assert_int_equal(p->edges, q->edges);
        assert_close(p->kl, q->kl, 1e-9, 1e-6);
        assert_close(p->logit_diff, q->logit_diff, 1e-9, 1e-6);
        assert_close(p->logit_diff_percent, q->logit_diff_percent, 1e-7, 1e-6);
        assert_close(p->answer_prob, q->answer_prob, 1e-9, 1e-6);
        assert_close(p->correct_percent, q->correct_percent, 1e-9, 1e-9);
    }
    /* all edges patched with clean values: the clean model */
    assert_close(cf->points[3].logit_diff_percent, 100.0, 1e-3, 0);
    assert_close(cf->clean_logit_diff, want[3].logit_diff, 1e-5, 1e-5);
    /* the AUC of the curve (linear x) */
    ac_point xy[4];
    for (int i = 0; i < 4; i++) xy[i] = (ac_point){(double)counts[i], want[i].logit_diff};
    double auc;
    assert_ac_ok(ac_measurements_auc(xy, 4, 0, 0, 0, AC_AUC_EPS, &auc, &err), &err);
    assert_close(cf->auc_logit_diff, auc, 1e-6, 1e-5);
    ac_curve_file_free(cf);
    free(s);
    lib_close(&L);
}

static void test_evaluate_ground_truth_roc(void **state) {
    (void)state;
    lib L = lib_open(model_dir);
    uint8_t *in = calloc(L.g->n_edges, 1);
    const char *names[] = {"Resid Start->A0.1.V", "A0.1->A1.0.K", "A1.0->Resid End", "MLP 1->Resid End"};
    for (int i = 0; i < 4; i++) {
        size_t e = ac_graph_find_edge(L.g, names[i], 0);
        assert_true(e != (size_t)-1);
        in[e] = 1;
    }
    const char *gt = tmp("truth.json"), *scores = tmp("gt-scores.json"), *curve = tmp("gt-curve.json");
    ac_error err;
    assert_ac_ok(ac_ground_truth_write(gt, L.g, in, &err), &err);
    char args[4096], *so;
    snprintf(args, sizeof args, "discover --model '%s' --algo ground-truth --official '%s' --out '%s' --quiet",
             model_dir, gt, scores);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    float *s = read_scores(scores, L.g, NULL);
    for (size_t e = 0; e < L.g->n_edges; e++) assert_true(s[e] == (in[e] ? 1.0f : 0.0f));
    snprintf(args, sizeof args, "evaluate --model '%s' --data '%s' %s --scores '%s' --ground-truth '%s' --edge-counts all --out '%s'",
             model_dir, data_path, DATA_OPTS, scores, gt, curve);
    assert_int_equal(run_cli(args, &so, NULL), 0);
    assert_non_null(strstr(so, "ROC AUC 1 against"));
    free(so);
    ac_curve_file *cf;
    assert_ac_ok(ac_curve_file_read(curve, &cf, &err), &err);
    assert_int_equal(cf->n_points, 47);
    assert_int_equal(cf->n_roc, 49);
    assert_close(cf->roc_auc, 1.0, 1e-12, 0);
    assert_non_null(strstr(cf->settings_json, "\"ground_truth_edges\":4"));
    ac_curve_file_free(cf);
    /* random scores do worse */
    snprintf(args, sizeof args, "discover --model '%s' --algo random --seed 3 --out '%s' --quiet", model_dir, scores);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "evaluate --model '%s' --data '%s' %s --scores '%s' --ground-truth '%s' --edge-counts all --out '%s' --quiet",
             model_dir, data_path, DATA_OPTS, scores, gt, curve);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    assert_ac_ok(ac_curve_file_read(curve, &cf, &err), &err);
    assert_true(cf->roc_auc < 0.99);
    ac_curve_file_free(cf);
    free(s);
    free(in);
    lib_close(&L);
}

/* one stderr line "autocircuit: ...needle...", exit code want, and no output file */
static void expect_failure(const char *args, int want, const char *needle, const char *out) {
    char *se;
    int rc = run_cli(args, NULL, &se);
    assert_int_equal(rc, want);
    assert_true(!strncmp(se, "autocircuit: ", 13));
    if (!strstr(se, needle)) fail_msg("stderr '%s' lacks '%s'", se, needle);
    char *nl = strchr(se, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], 0);
    free(se);
    if (out) assert_false(file_exists(out));
}

static void test_bad_inputs(void **state) {
    (void)state;
    char out[1100]; /* tmp() rotates its buffers */
    snprintf(out, sizeof out, "%s", tmp("bad-out.json"));
    char args[4096];
    /* a missing dataset file */
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo eap --out '%s'", model_dir,
             tmp("no-such-data.json"), DATA_OPTS, out);
    expect_failure(args, AC_ERR_IO, "no-such-data.json", out);
    /* a missing model */
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --out '%s'", tmp("no-model"), data_path,
             DATA_OPTS, out);
    expect_failure(args, AC_ERR_IO, "no-model", out);
    /* an unknown algorithm, a bad option value */
    snprintf(args, sizeof args, "discover --model '%s' --algo magic --out '%s'", model_dir, out);
    expect_failure(args, AC_ERR_ARG, "unknown --algo 'magic'", out);
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' --ablation sideways --out '%s'", model_dir,
             data_path, out);
    expect_failure(args, AC_ERR_ARG, "unknown ablation 'sideways'", out);
    /* scores for another model (3 layers) evaluated on this one */
    const char *s3 = tmp("scores3.json");
    snprintf(args, sizeof args, "discover --model '%s' --algo random --out '%s' --quiet", model3_dir, s3);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "evaluate --model '%s' --data '%s' %s --scores '%s' --out '%s'", model_dir, data_path,
             DATA_OPTS, s3, out);
    expect_failure(args, AC_ERR_SHAPE, "another model's graph?", out);
    /* a missing scores file, malformed JSON with its position */
    snprintf(args, sizeof args, "evaluate --model '%s' --data '%s' %s --scores '%s' --out '%s'", model_dir, data_path,
             DATA_OPTS, tmp("none.json"), out);
    expect_failure(args, AC_ERR_IO, "none.json", out);
    FILE *f = fopen(tmp("broken.json"), "w");
    fputs("{\"edges\": [\n  {\"src\": }\n]}\n", f);
    fclose(f);
    snprintf(args, sizeof args, "export --scores '%s' --format csv --out '%s'", tmp("broken.json"), out);
    expect_failure(args, AC_ERR_FORMAT, "broken.json:2:", out);
    /* per-position discovery needs prompts of one length */
    FILE *d = fopen(tmp("ragged.json"), "w");
    fputs("{\"prompts\": [{\"clean\": [1, 2, 3], \"corrupt\": [1, 4, 3], \"answers\": [5], \"wrong_answers\": [6]},"
          " {\"clean\": [1, 2], \"corrupt\": [1, 4], \"answers\": [5], \"wrong_answers\": [6]}]}",
          d);
    fclose(d);
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' --no-bos --train-test 2,0 --positions --out '%s'",
             model_dir, tmp("ragged.json"), out);
    expect_failure(args, AC_ERR_ARG, "one length", out);
    /* the output directory does not exist */
    snprintf(args, sizeof args, "discover --model '%s' --algo random --out '%s'", model_dir, tmp("nodir/x.json"));
    expect_failure(args, AC_ERR_IO, "nodir/x.json", NULL);
}

static void test_export_cli(void **state) {
    (void)state;
    const char *scores = tmp("exp-scores.json"), *csv = tmp("exp.csv"), *dot = tmp("exp.dot"), *mib = tmp("exp-mib.json");
    char args[4096];
    snprintf(args, sizeof args, "discover --model '%s' --algo random --out '%s' --quiet", model_dir, scores);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "export --scores '%s' --format csv --out '%s'", scores, csv);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    char *t = slurp(csv);
    int lines = 0;
    for (char *p = t; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 47);
    free(t);
    snprintf(args, sizeof args, "export --scores '%s' --format dot --top 5 --out '%s'", scores, dot);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    t = slurp(dot);
    int arrows = 0;
    for (char *p = strstr(t, " -> "); p; p = strstr(p + 1, " -> ")) arrows++;
    assert_int_equal(arrows, 5);
    free(t);
    snprintf(args, sizeof args, "export --scores '%s' --format mib --top 5 --out '%s'", scores, mib);
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    t = slurp(mib);
    assert_non_null(strstr(t, "\"cfg\": {\"n_layers\": 2, \"n_heads\": 2"));
    free(t);
    snprintf(args, sizeof args, "export --scores '%s' --format pdf --out '%s'", scores, tmp("x.pdf"));
    expect_failure(args, AC_ERR_ARG, "expected csv, dot or mib", tmp("x.pdf"));
}

static void test_help_lists_options(void **state) {
    (void)state;
    const char *cmds[] = {"discover", "evaluate", "export"};
    const char *opts[][8] = {{"--algo", "--ablation", "--grad", "--tau", "--positions", "--out", "--quiet", "--batch-size"},
                             {"--scores", "--edge-counts", "--patch", "--signed", "--ground-truth", "--out", "--quiet", "--split"},
                             {"--scores", "--format", "--top", "--out", NULL, NULL, NULL, NULL}};
    for (int c = 0; c < 3; c++) {
        char args[64], *so;
        snprintf(args, sizeof args, "%s --help", cmds[c]);
        assert_int_equal(run_cli(args, &so, NULL), 0);
        for (int k = 0; k < 8 && opts[c][k]; k++)
            if (!strstr(so, opts[c][k])) fail_msg("%s --help lacks %s", cmds[c], opts[c][k]);
        assert_non_null(strstr(so, "default"));
        free(so);
    }
}

/* SIGINT during a long run: exit 130, no output and no temporary file left */
static void test_interrupt(void **state) {
    (void)state;
    const char *dir = tmp("intr");
    mkdir(dir, 0755);
    char out[1100], cmd[8192];
    snprintf(out, sizeof out, "%s/scores.json", dir);
    snprintf(cmd, sizeof cmd,
             "timeout --preserve-status -s INT %s '%s' discover --model '%s' --data '%s' %s --algo ig --steps 1000000 --out '%s' --quiet",
             ac_test_signal_delay(), ac_test_cli(), model_dir, data_path, DATA_OPTS, out);
    int rc = ac_test_run(cmd, NULL);
    assert_int_equal(rc, 130);
    char ls[1200], *listing;
    snprintf(ls, sizeof ls, "ls -A '%s'", dir);
    assert_int_equal(ac_test_run(ls, &listing), 0);
    assert_string_equal(listing, "");
    free(listing);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discover_eap_matches_library),
        cmocka_unit_test(test_discover_probe_matches_library),
        cmocka_unit_test(test_discover_residual_graph),
        cmocka_unit_test(test_discover_positions_and_combined),
        cmocka_unit_test(test_random_deterministic),
        cmocka_unit_test(test_evaluate_matches_library),
        cmocka_unit_test(test_evaluate_ground_truth_roc),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_export_cli),
        cmocka_unit_test(test_help_lists_options),
        cmocka_unit_test(test_interrupt),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
