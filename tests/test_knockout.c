/* Completeness, "same under knockouts": the loss gradient against finite differences,
 * K = ∅ against circuit evaluation, the learned search (it beats K = ∅, the penalty
 * caps |K|, a complete zoo circuit stays complete), determinism, the knockout file and
 * errors. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algos/knockout_internal.h"
#include "autocircuit/algos.h"
#include "autocircuit/scores.h"

enum { V = 23 };

static ac_model *make_model(uint64_t seed) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 16;
    c.vocab_size = V;
    c.n_ctx = 16;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, seed, 0.5f);
    return m;
}

/* n prompt pairs of 5 tokens sharing the first token (so the prefix cache is used) */
static const char *write_dataset(const char *name, int n) {
    const char *path = ac_test_path(ac_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "{\"clean\": [1, %d, 3, %d, %d], \"corrupt\": [1, %d, 3, %d, %d], ", 2 + i, 4 + i % 3, 5 + i, 9 + i,
                4 + (i + 1) % 3, 13 + i);
        fprintf(f, "\"answers\": [%d], \"wrong_answers\": [%d]}%s\n", 7 + i, 12 + i % 4, i + 1 < n ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
    return path;
}

typedef struct {
    ac_model *m;
    ac_graph *g;
    ac_dataset *ds;
    ac_algo_ctx *c;
} fixture;

static fixture setup_fx(int n, int batch, int seq_len) {
    fixture f;
    ac_error err;
    f.m = make_model(99);
    ac_graph_opts go = {.separate_qkv = 1, .seq_len = seq_len};
    assert_ac_ok(ac_graph_build(&f.g, ac_model_config(f.m), &go, &err), &err);
    char name[64];
    snprintf(name, sizeof name, "ko_%d.json", n);
    const char *path = write_dataset(name, n);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.pad_id = 0;
    o.vocab_size = V;
    o.train_size = (size_t)n;
    o.test_size = 0;
    o.train_batch_size = o.test_batch_size = (size_t)batch;
    assert_ac_ok(ac_dataset_load(&f.ds, &path, 1, NULL, &o, &err), &err);
    assert_ac_ok(ac_algo_ctx_create(&f.c, f.m, f.g, ac_dataset_split(f.ds, AC_SPLIT_TRAIN), &err), &err);
    return f;
}

static void teardown_fx(fixture *f) {
    ac_algo_ctx_free(f->c);
    ac_dataset_free(f->ds);
    ac_graph_free(f->g);
    ac_model_free(f->m);
}

/* every other edge, starting at `first` */
static uint8_t *half_circuit(const ac_graph *g, int first) {
    uint8_t *c = calloc(g->n_edges, 1);
    for (size_t e = (size_t)first; e < g->n_edges; e += 2) c[e] = 1;
    return c;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* ---- gradient ---------------------------------------------------------------------- */

static void check_grad(fixture *f, ac_knockout_opts *o, const uint8_t *circ) {
    ac_error err;
    ac__knockout k;
    assert_ac_ok(ac__knockout_init(&k, f->c, circ, o, &err), &err);
    const size_t nC = k.nC, B = f->c->split->batches[0].batch_size;
    double *theta = calloc(nC, sizeof(double)), *grad = calloc(nC, sizeof(double)), *g2 = calloc(nC, sizeof(double));
    double *uc = calloc(B * nC, sizeof(double)), *um = calloc(B * nC, sizeof(double)), *ur = calloc(nC, sizeof(double));
    /* uniforms and logits that keep every sample inside (0, 1): no clamp is active */
    for (size_t j = 0; j < nC; j++) {
        theta[j] = urand() - 0.5;
        ur[j] = 0.3 + 0.4 * urand();
    }
    for (size_t i = 0; i < B * nC; i++) uc[i] = 0.3 + 0.4 * urand(), um[i] = 0.3 + 0.4 * urand();
    double loss, faith;
    assert_ac_ok(ac__knockout_patch(&k, 0, &err), &err);
    assert_ac_ok(ac__knockout_loss_grad(&k, 0, theta, uc, um, ur, &loss, &faith, grad, &err), &err);
    assert_true(isfinite(loss));
    double gmax = 0;
    for (size_t j = 0; j < nC; j++) gmax = fmax(gmax, fabs(grad[j]));
    assert_true(gmax > 1e-4); /* the check below must be able to fail */
    const double h = 1e-2;
    size_t checked = 0;
    for (size_t j = 0; j < nC; j++) {
        const double t = theta[j];
        double lp, lm;
        theta[j] = t + h;
        assert_ac_ok(ac__knockout_loss_grad(&k, 0, theta, uc, um, ur, &lp, NULL, g2, &err), &err);
        theta[j] = t - h;
        assert_ac_ok(ac__knockout_loss_grad(&k, 0, theta, uc, um, ur, &lm, NULL, g2, &err), &err);
        theta[j] = t;
        const double fd = (lp - lm) / (2 * h);
        assert_close(grad[j], fd, 2e-3 * gmax + 1e-6, 3e-2);
        checked++;
    }
    assert_int_equal(checked, nC);
    ac__knockout_free(&k);
    free(theta), free(grad), free(g2), free(uc), free(um), free(ur);
}

static void test_gradient_matches_finite_differences(void **state) {
    (void)state;
    /* KL target, shared prefix (cache in use), the penalty active */
    {
        fixture f = setup_fx(3, 3, 0);
        uint8_t *circ = half_circuit(f.g, 0);
        ac_knockout_opts o;
        ac_knockout_opts_default(&o);
        o.lambda = 0.7;
        o.max_knockouts = 1;
        ac__algo_prefix_begin(f.c, o.ablation);
        assert_true(f.c->use_prefix);
        check_grad(&f, &o, circ);
        ac__algo_prefix_end(f.c);
        free(circ);
        teardown_fx(&f);
    }
    /* logit-diff target, zero ablation, per-position edges */
    {
        fixture f = setup_fx(2, 2, 5);
        uint8_t *circ = half_circuit(f.g, 1);
        ac_knockout_opts o;
        ac_knockout_opts_default(&o);
        o.target = AC_KNOCKOUT_LOGIT_DIFF;
        o.ablation = AC_ABLATION_ZERO;
        check_grad(&f, &o, circ);
        free(circ);
        teardown_fx(&f);
    }
}

/* ---- evaluation ------------------------------------------------------------------------ */

static void test_empty_knockout_equals_evaluate(void **state) {
    (void)state;
    fixture f = setup_fx(6, 4, 0); /* batches of 4 and 2 */
    ac_error err;
    uint8_t *circ = half_circuit(f.g, 0);
    ac_eval_opts eo = {.tree = 1, .ablation = AC_ABLATION_RESAMPLE};
    ac_eval_point pt;
    assert_ac_ok(ac_evaluate_circuit(f.c, circ, &eo, &pt, &err), &err);
    ac_knockout_result r;
    assert_ac_ok(ac_same_under_knockout(f.c, circ, NULL, AC_ABLATION_RESAMPLE, &r, &err), &err);
    assert_true(pt.kl > 1e-4);
    assert_true(r.kl == pt.kl); /* the same runs: bit-identical */
    assert_true(r.knockout_kl == pt.kl);
    assert_true(r.logit_diff_circuit == pt.logit_diff);
    assert_true(r.logit_diff_circuit_ko == r.logit_diff_circuit);
    assert_true(r.logit_diff_model_ko == r.logit_diff_model);
    assert_int_equal(r.n_knockouts, 0);
    assert_int_equal(r.circuit_size, pt.edges);
    /* K outside the circuit is ignored; without the prefix cache the numbers agree */
    uint8_t *outside = half_circuit(f.g, 1);
    ac_knockout_result r2;
    ac_algo_ctx_set_prefix_cache(f.c, 0);
    assert_ac_ok(ac_same_under_knockout(f.c, circ, outside, AC_ABLATION_RESAMPLE, &r2, &err), &err);
    assert_int_equal(r2.n_knockouts, 0);
    assert_close(r2.kl, r.kl, 1e-6, 1e-4);
    assert_close(r2.knockout_kl, r.knockout_kl, 1e-6, 1e-4);
    /* the whole graph as the circuit: C = M and C − K = M − K for any K */
    uint8_t *all = calloc(f.g->n_edges, 1);
    memset(all, 1, f.g->n_edges);
    assert_ac_ok(ac_same_under_knockout(f.c, all, circ, AC_ABLATION_RESAMPLE, &r2, &err), &err);
    assert_true(r2.kl == 0.0 && r2.knockout_kl == 0.0);
    assert_int_equal(r2.n_knockouts, r.circuit_size);
    /* the full model's logit difference is the clean run's */
    ac_eval_opts full = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE};
    assert_ac_ok(ac_evaluate_circuit(f.c, all, &full, &pt, &err), &err);
    assert_close(r.logit_diff_model, pt.logit_diff, 1e-5, 1e-5);
    free(all);
    free(outside);
    free(circ);
    teardown_fx(&f);
}

/* ---- the learned search ------------------------------------------------------------------ */

static size_t count_ge(const float *s, size_t n, double thr) {
    size_t k = 0;
    for (size_t e = 0; e < n; e++) k += (double)s[e] >= thr;
    return k;
}

static void test_learned_knockouts(void **state) {
    (void)state;
    fixture f = setup_fx(6, 3, 0);
    ac_error err;
    const size_t E = f.g->n_edges;
    /* a nearly faithful circuit: every edge but one in four */
    uint8_t *circ = calloc(E, 1);
    for (size_t e = 0; e < E; e++) circ[e] = e % 4 != 1;
    size_t nC = 0;
    for (size_t e = 0; e < E; e++) nC += circ[e];
    ac_knockout_opts o;
    ac_knockout_opts_default(&o);
    o.epochs = 25;
    o.lr = 0.1;
    float *s = calloc(E, sizeof(float)), *s2 = calloc(E, sizeof(float));
    double loss[25], loss2[25];
    ac_knockout_result learned, empty;
    assert_ac_ok(ac_algo_knockout(f.c, circ, &o, s, loss, &learned, &empty, &err), &err);
    /* K = ∅ is the circuit's faithfulness; the learned K separates C from M more */
    assert_true(empty.knockout_kl == empty.kl);
    assert_true(learned.kl == empty.kl);
    assert_true(learned.n_knockouts > 0);
    print_message("K %zu: KL %g -> %g, loss %g -> %g\n", learned.n_knockouts, empty.knockout_kl, learned.knockout_kl, loss[0], loss[24]);
    assert_true(learned.knockout_kl > 1.5 * empty.knockout_kl);
    assert_true(loss[24] < loss[0]);
    assert_int_equal(learned.circuit_size, nC);
    for (size_t e = 0; e < E; e++) {
        if (!circ[e]) assert_true(isinf(s[e]) && s[e] < 0);
        else assert_true(isfinite(s[e]));
    }
    assert_int_equal(count_ge(s, E, 0.0), learned.n_knockouts);
    /* deterministic for a seed; another seed gives other samples */
    assert_ac_ok(ac_algo_knockout(f.c, circ, &o, s2, loss2, NULL, NULL, &err), &err);
    assert_memory_equal(s, s2, E * sizeof(float));
    assert_memory_equal(loss, loss2, sizeof loss);
    o.seed = 7;
    assert_ac_ok(ac_algo_knockout(f.c, circ, &o, s2, NULL, NULL, NULL, &err), &err);
    assert_true(memcmp(s, s2, E * sizeof(float)) != 0);
    /* a strong penalty keeps the sampled |K| near the cap of 1; without it K grows */
    o.seed = 42;
    o.lambda = 20;
    o.max_knockouts = 1;
    ac_knockout_result capped;
    assert_ac_ok(ac_algo_knockout(f.c, circ, &o, s2, NULL, &capped, NULL, &err), &err);
    print_message("|C| %zu: K %zu (KL %g -> %g), capped K %zu (KL %g)\n", nC, learned.n_knockouts, empty.knockout_kl,
                  learned.knockout_kl, capped.n_knockouts, capped.knockout_kl);
    assert_true(capped.n_knockouts <= 2);
    assert_true(capped.n_knockouts < learned.n_knockouts);
    /* 0 epochs: every logit stays at −ln 5, K = ∅ */
    o.epochs = 0;
    assert_ac_ok(ac_algo_knockout(f.c, circ, &o, s2, NULL, &capped, NULL, &err), &err);
    assert_int_equal(capped.n_knockouts, 0);
    for (size_t e = 0; e < E; e++)
        if (circ[e]) assert_close(s2[e], -log(5.0), 1e-6, 0);
    free(s), free(s2), free(circ);
    teardown_fx(&f);
}

static void test_stream_position(void **state) {
    (void)state;
    fixture f = setup_fx(5, 3, 0); /* batches of 3 and 2 */
    ac_error err;
    uint8_t *circ = half_circuit(f.g, 1);
    ac_knockout_opts o;
    ac_knockout_opts_default(&o);
    ac__knockout k;
    assert_ac_ok(ac__knockout_init(&k, f.c, circ, &o, &err), &err);
    double *theta = calloc(k.nC, sizeof(double)), *grad = calloc(k.nC, sizeof(double)), loss;
    for (size_t bi = 0; bi < 2; bi++) {
        assert_ac_ok(ac__knockout_patch(&k, bi, &err), &err);
        assert_ac_ok(ac__knockout_loss_grad(&k, bi, theta, NULL, NULL, NULL, &loss, NULL, grad, &err), &err);
    }
    assert_int_equal(k.counter, (2 * 3 + 1) * k.nC + (2 * 2 + 1) * k.nC);
    assert_close(k.n_target, (double)(k.nC / 5), 0, 0);
    ac__knockout_free(&k);
    free(theta), free(grad), free(circ);
    teardown_fx(&f);
}

/* The induction zoo model's ground truth is exactly its circuit: every other edge has no
 * effect, also with parts of the circuit knocked out, so no K separates C from M. */
static void test_zoo_circuit_is_complete(void **state) {
    (void)state;
    const char *src = ac_test_source_dir();
    if (!src) skip();
    ac_error err;
    ac_model *m;
    char mp[1024], dp[1024];
    snprintf(mp, sizeof mp, "%s/models/induction", src);
    snprintf(dp, sizeof dp, "%s/datasets/induction.json", src);
    assert_ac_ok(ac_model_load(&m, mp, &err), &err);
    ac_graph *g;
    ac_graph_opts go = ac_graph_default_opts();
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &go, &err), &err);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.train_size = 32;
    o.test_size = 0;
    o.train_batch_size = 16;
    ac_dataset *ds;
    const char *paths[1] = {dp};
    assert_ac_ok(ac_dataset_load(&ds, paths, 1, NULL, &o, &err), &err);
    ac_algo_ctx *c;
    assert_ac_ok(ac_algo_ctx_create(&c, m, g, ac_dataset_split(ds, AC_SPLIT_TRAIN), &err), &err);
    uint8_t *gt = calloc(g->n_edges, 1);
    size_t n_gt = 0;
    assert_ac_ok(ac_zoo_ground_truth("induction", g, gt, &n_gt, &err), &err);
    ac_knockout_opts ko;
    ac_knockout_opts_default(&ko);
    ko.epochs = 10;
    ko.lr = 0.2;
    float *s = calloc(g->n_edges, sizeof(float));
    ac_knockout_result learned, empty;
    assert_ac_ok(ac_algo_knockout(c, gt, &ko, s, NULL, &learned, &empty, &err), &err);
    print_message("induction GT (%zu edges): KL %g, K %zu KL %g\n", n_gt, empty.kl, learned.n_knockouts,
                  learned.knockout_kl);
    assert_int_equal(learned.circuit_size, n_gt);
    assert_true(empty.kl < 1e-6);
    assert_true(learned.knockout_kl < 1e-6);
    /* whereas knocking the whole circuit out of the full model breaks the task */
    assert_ac_ok(ac_same_under_knockout(c, gt, gt, AC_ABLATION_RESAMPLE, &learned, &err), &err);
    assert_true(learned.logit_diff_model_ko < 0.5 * learned.logit_diff_model);
    assert_true(learned.knockout_kl < 1e-6);
    free(s), free(gt);
    ac_algo_ctx_free(c);
    ac_dataset_free(ds);
    ac_graph_free(g);
    ac_model_free(m);
}

/* ---- file and errors -------------------------------------------------------------------- */

static void test_file_round_trip_and_errors(void **state) {
    (void)state;
    fixture f = setup_fx(3, 3, 0);
    ac_error err;
    const size_t E = f.g->n_edges;
    uint8_t *circ = half_circuit(f.g, 0);
    ac_knockout_opts o;
    ac_knockout_opts_default(&o);
    o.epochs = 3;
    o.threshold = -1.0; /* every logit starts at −ln 5 < −1: K is what moved up */
    float *s = calloc(E, sizeof(float));
    double loss[3];
    ac_knockout_result learned, empty;
    assert_ac_ok(ac_algo_knockout(f.c, circ, &o, s, loss, &learned, &empty, &err), &err);
    ac_knockout_doc d = {.model = "m", .data = "d.json", .scores_path = "s.json", .algo = "eap", .split = "train",
                         .n_prompts = 3, .opts = &o, .requested_size = 12, .g = f.g, .in_circuit = circ, .scores = s,
                         .learned = &learned, .empty = &empty, .loss = loss, .n_loss = 3, .seconds = -1};
    const char *path = ac_test_path(ac_test_tmpdir(), "ko.json");
    assert_ac_ok(ac_knockout_write(path, &d, &err), &err);
    ac_knockout_file *kf;
    assert_ac_ok(ac_knockout_file_read(path, &kf, &err), &err);
    assert_string_equal(kf->label, "eap");
    assert_int_equal(kf->requested_size, 12);
    assert_int_equal(kf->learned.n_knockouts, learned.n_knockouts);
    assert_int_equal(kf->learned.circuit_size, learned.circuit_size);
    assert_close(kf->learned.knockout_kl, learned.knockout_kl, 0, 1e-9);
    assert_close(kf->empty.kl, empty.kl, 0, 1e-9);
    assert_close(kf->learned.logit_diff_model_ko, learned.logit_diff_model_ko, 0, 1e-9);
    assert_int_equal(kf->n_edges, learned.circuit_size);
    assert_int_equal(kf->n_loss, 3);
    size_t nko = 0;
    for (size_t i = 0; i < kf->n_edges; i++) {
        nko += (size_t)kf->edges[i].knocked_out;
        assert_int_equal(kf->edges[i].knocked_out, kf->edges[i].score >= -1.0);
    }
    assert_int_equal(nko, learned.n_knockouts);
    assert_non_null(strstr(kf->settings_json, "\"threshold\":-1"));
    ac_knockout_file_free(kf);
    /* another format, a missing key, a missing file */
    const char *bad = ac_test_path(ac_test_tmpdir(), "bad.json");
    FILE *fp = fopen(bad, "w");
    fputs("{\"format\": \"autocircuit-scores\", \"edges\": []}", fp);
    fclose(fp);
    assert_int_equal(ac_knockout_file_read(bad, &kf, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "autocircuit-knockout"));
    fp = fopen(bad, "w");
    fputs("{\"format\": \"autocircuit-knockout\", \"circuit_size\": 3, \"n_knockouts\": 1, \"kl\": 0.1}", fp);
    fclose(fp);
    assert_int_equal(ac_knockout_file_read(bad, &kf, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "knockout_kl"));
    assert_int_equal(ac_knockout_file_read(ac_test_path(ac_test_tmpdir(), "nope.json"), &kf, &err), AC_ERR_IO);
    /* bad options and an empty circuit */
    uint8_t *none = calloc(E, 1);
    assert_int_equal(ac_algo_knockout(f.c, none, &o, s, NULL, NULL, NULL, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "no edges"));
    assert_int_equal(ac_same_under_knockout(f.c, none, NULL, AC_ABLATION_RESAMPLE, &learned, &err), AC_ERR_ARG);
    o.lr = 0;
    assert_int_equal(ac_algo_knockout(f.c, circ, &o, s, NULL, NULL, NULL, &err), AC_ERR_ARG);
    o.lr = 0.1;
    o.lambda = -1;
    assert_int_equal(ac_algo_knockout(f.c, circ, &o, s, NULL, NULL, NULL, &err), AC_ERR_ARG);
    o.lambda = 0;
    o.ablation = (ac_ablation)0;
    assert_int_equal(ac_algo_knockout(f.c, circ, &o, s, NULL, NULL, NULL, &err), AC_ERR_ARG);
    free(none), free(s), free(circ);
    teardown_fx(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_matches_finite_differences),
        cmocka_unit_test(test_empty_knockout_equals_evaluate),
        cmocka_unit_test(test_learned_knockouts),
        cmocka_unit_test(test_stream_position),
        cmocka_unit_test(test_zoo_circuit_is_complete),
        cmocka_unit_test(test_file_round_trip_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
