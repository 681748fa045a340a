/* Algorithms and circuit evaluation on a tiny random model and a token-id dataset. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/algos.h"

enum { V = 23, NPROMPT = 6, TLEN = 6 };

static ac_model *make_model(int attn_only) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = attn_only ? 0 : 16;
    c.attn_only = attn_only;
    c.vocab_size = V;
    c.n_ctx = 16;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 99, 0.5f);
    return m;
}

/* a dataset file of NPROMPT prompt pairs of TLEN tokens (two with ragged answers) */
static const char *write_dataset(void) {
    const char *path = ac_test_path(ac_test_tmpdir(), "algos.json");
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < NPROMPT; i++) {
        fprintf(f, "{\"clean\": [%d, %d, %d, %d, %d, %d], \"corrupt\": [%d, %d, %d, %d, %d, %d], ",
                1 + i, 2 + i, 3, 4 + i % 3, 5, 6 + i, 1 + i, 9 + i, 3, 11, 5, 6 + i);
        if (i % 3 == 2) fprintf(f, "\"answers\": [%d, %d], \"wrong_answers\": [%d]}", 7 + i, 2, 12);
        else fprintf(f, "\"answers\": [%d], \"wrong_answers\": [%d, %d]}", 7 + i, 12 + i % 4, 20);
        fprintf(f, "%s\n", i + 1 < NPROMPT ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
    return path;
}

static ac_dataset *load_dataset(size_t batch) {
    const char *path = write_dataset();
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.pad_id = 0;
    o.vocab_size = V;
    o.train_size = NPROMPT;
    o.test_size = 0;
    o.train_batch_size = o.test_batch_size = batch;
    ac_dataset *ds;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, &path, 1, NULL, &o, &err), &err);
    return ds;
}

typedef struct {
    ac_model *m;
    ac_graph *g;
    ac_dataset *ds;
    ac_algo_ctx *c;
} fixture;

static fixture setup(int attn_only, size_t batch, int seq_len) {
    fixture f;
    ac_error err;
    f.m = make_model(attn_only);
    ac_graph_opts go = {.separate_qkv = 1, .seq_len = seq_len};
    assert_ac_ok(ac_graph_build(&f.g, ac_model_config(f.m), &go, &err), &err);
    f.ds = load_dataset(batch);
    assert_ac_ok(ac_algo_ctx_create(&f.c, f.m, f.g, ac_dataset_split(f.ds, AC_SPLIT_TRAIN), &err), &err);
    return f;
}

static void teardown_fx(fixture *f) {
    ac_algo_ctx_free(f->c);
    ac_dataset_free(f->ds);
    ac_graph_free(f->g);
    ac_model_free(f->m);
}

/* EAP = Σ over batches of Σ_{b,t,c} (patch − clean) · d loss / d dest input, edge by
 * edge from the destination gradients (the slow reference EAP of auto-circuit) */
typedef struct {
    const ac_graph *g;
    const float *patch, *clean;
    size_t n;
    double *acc;
} brute_ctx;
static void brute(void *p, int dest, const float *G) {
    brute_ctx *c = p;
    const ac_dest_node *dn = &c->g->dests[dest];
    for (int s = 0; s < dn->n_in; s++) {
        double a = 0;
        for (size_t i = 0; i < c->n; i++) a += ((double)c->patch[(size_t)s * c->n + i] - c->clean[(size_t)s * c->n + i]) * G[i];
        c->acc[dn->edge_offset + (size_t)s] += a;
    }
}

static void test_eap_matches_brute_force(void **state) {
    (void)state;
    fixture f = setup(0, 4, 0); /* batches of 4 and 2 */
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    ac_error err;
    float *eap = calloc(f.g->n_edges, sizeof(float));
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, eap, &err), &err);
    /* brute force with a separate run */
    const ac_split *sp = ac_dataset_split(f.ds, AC_SPLIT_TRAIN);
    assert_int_equal(sp->n_batches, 2);
    const int d = ac_model_config(f.m)->d_model;
    double *acc = calloc(f.g->n_edges, sizeof(double));
    for (size_t bi = 0; bi < sp->n_batches; bi++) {
        const ac_batch *b = &sp->batches[bi];
        const size_t n = b->batch_size * b->seq_len * (size_t)d, S = (size_t)f.g->n_src * n;
        float *patch = calloc(S, sizeof(float)), *clean = calloc(S, sizeof(float));
        float logits[8 * V], dl[8 * V];
        ac_run *r;
        assert_ac_ok(ac_run_create(&r, f.m, f.g, (int)b->batch_size, (int)b->seq_len, &err), &err);
        ac_tokens cor = {(int)b->batch_size, (int)b->seq_len, b->corrupt, b->corrupt_mask};
        ac_tokens cle = {(int)b->batch_size, (int)b->seq_len, b->clean, b->clean_mask};
        ac_forward_opts o1 = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .record = patch};
        assert_ac_ok(ac_run_forward(r, &cor, &o1, &err), &err);
        ac_forward_opts o2 = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .record = clean, .patch = patch};
        assert_ac_ok(ac_run_forward(r, &cle, &o2, &err), &err);
        ac_answer_sets sets;
        ac_batch_answer_sets(b, &sets);
        ac_answer_loss_spec spec = {.grad_function = AC_VAL_LOGIT, .answer_function = AC_ANSWER_AVG_DIFF};
        double loss;
        assert_ac_ok(ac_answer_loss(logits, b->batch_size, V, &sets, &spec, &loss, dl, &err), &err);
        brute_ctx bc = {f.g, patch, clean, n, acc};
        ac_backward_opts bo = {.dlogits = dl, .dest_grad = brute, .dest_grad_ctx = &bc};
        assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
        ac_run_free(r);
        free(patch);
        free(clean);
    }
    double maxv = 0;
    for (size_t e = 0; e < f.g->n_edges; e++) {
        assert_close(eap[e], acc[e], 1e-5, 1e-4);
        maxv = fmax(maxv, fabs(acc[e]));
    }
    assert_true(maxv > 1e-2);
    free(eap);
    free(acc);
    teardown_fx(&f);
}

static void test_ig_one_step_is_sum_of_endpoints(void **state) {
    (void)state;
    fixture f = setup(0, 3, 0);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.steps = 1;
    ac_error err;
    const size_t E = f.g->n_edges;
    float *ig = calloc(E, sizeof(float)), *a = calloc(E, sizeof(float)), *b = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 1, ig, &err), &err);
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, a, &err), &err);
    o.mask_val = 1.0f;
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, b, &err), &err);
    int differs = 0;
    for (size_t e = 0; e < E; e++) {
        assert_close(ig[e], a[e] + b[e], 1e-5, 1e-4);
        differs |= fabsf(a[e] - b[e]) > 1e-3f;
    }
    assert_true(differs); /* gradients at masks 1 are not those at masks 0 */
    free(ig); free(a); free(b);
    teardown_fx(&f);
}

/* exact patching of edge e equals the change of the logit difference when tree patching
 * keeps every edge but e (only e patched) */
static void test_exact_matches_evaluate(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        fixture f = setup(variant, 6, variant ? TLEN : 0);
        ac_discover_opts o;
        ac_discover_opts_default(&o);
        ac_error err;
        const size_t E = f.g->n_edges;
        float *ex = calloc(E, sizeof(float));
        assert_ac_ok(ac_algo_exact(f.c, &o, ex, &err), &err);
        uint8_t *all = malloc(E);
        memset(all, 1, E);
        ac_eval_opts eo = {.tree = 1, .ablation = AC_ABLATION_RESAMPLE};
        ac_eval_point full;
        assert_ac_ok(ac_evaluate_circuit(f.c, all, &eo, &full, &err), &err);
        int nonzero = 0;
        for (size_t e = 0; e < E; e += (variant ? 7 : 1)) {
            all[e] = 0;
            ac_eval_point p;
            assert_ac_ok(ac_evaluate_circuit(f.c, all, &eo, &p, &err), &err);
            all[e] = 1;
            /* loss = −logit diff; the split is one batch so the means agree */
            assert_close(ex[e], -(p.logit_diff - full.logit_diff), 2e-5, 1e-4);
            nonzero += fabsf(ex[e]) > 1e-4f;
        }
        assert_true(nonzero > 0);
        free(ex);
        free(all);
        teardown_fx(&f);
    }
}

/* EAP approximates exact patching: strongly correlated on a small random model */
static void test_eap_tracks_exact(void **state) {
    (void)state;
    fixture f = setup(0, 6, 0);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    ac_error err;
    const size_t E = f.g->n_edges;
    float *ex = calloc(E, sizeof(float)), *eap = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_exact(f.c, &o, ex, &err), &err);
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, eap, &err), &err);
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t e = 0; e < E; e++) {
        sxy += (double)ex[e] * eap[e];
        sxx += (double)ex[e] * ex[e];
        syy += (double)eap[e] * eap[e];
    }
    assert_true(sxy / sqrt(sxx * syy) > 0.8);
    free(ex);
    free(eap);
    teardown_fx(&f);
}

/* ACDC against a naive ACDC whose every step is a tree-patching evaluation */
static void test_acdc_steps_equal_tree_patching(void **state) {
    (void)state;
    fixture f = setup(0, 6, 0);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    double taus[2] = {3e-3, 3e-2};
    o.taus = taus;
    o.n_taus = 2;
    ac_error err;
    const size_t E = f.g->n_edges;
    float *sc = calloc(E, sizeof(float)), *naive = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_acdc(f.c, &o, sc, &err), &err);
    uint8_t *circ = malloc(E);
    ac_eval_opts eo = {.tree = 1, .ablation = AC_ABLATION_RESAMPLE};
    for (size_t e = 0; e < E; e++) naive[e] = INFINITY;
    int removed = 0, kept = 0;
    for (int ti = 0; ti < 2; ti++) {
        memset(circ, 1, E);
        double prev = 0;
        for (int dd = f.g->n_dest - 1; dd >= 0; dd--)
            for (int s = f.g->dests[dd].n_in - 1; s >= 0; s--) {
                size_t e = f.g->dests[dd].edge_offset + (size_t)s;
                circ[e] = 0;
                ac_eval_point p;
                assert_ac_ok(ac_evaluate_circuit(f.c, circ, &eo, &p, &err), &err);
                if (p.kl - prev < taus[ti]) {
                    if ((float)taus[ti] < naive[e]) naive[e] = (float)taus[ti];
                    prev = p.kl;
                } else {
                    circ[e] = 1;
                }
            }
    }
    for (size_t e = 0; e < E; e++) {
        assert_true(sc[e] == naive[e]);
        removed += isfinite(sc[e]);
        kept += isinf(sc[e]);
    }
    assert_true(removed > 0 && kept > 0);
    free(sc); free(naive); free(circ);
    teardown_fx(&f);
}

static void test_evaluate_invariants(void **state) {
    (void)state;
    fixture f = setup(0, 4, 0);
    ac_error err;
    const size_t E = f.g->n_edges;
    float *sc = calloc(E, sizeof(float));
    ac_algo_random(f.g, 7, sc);
    size_t counts[3] = {0, 5, E};
    ac_eval_point p[3];
    ac_eval_opts eo = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE};
    assert_ac_ok(ac_evaluate(f.c, sc, counts, 3, &eo, p, &err), &err);
    /* edge patching: 0 edges = the corrupt run, all edges = the clean run */
    assert_int_equal(p[0].edges, 0);
    assert_int_equal(p[2].edges, E);
    assert_close(p[2].kl, 0.0, 1e-6, 0);
    assert_close(p[2].logit_diff_percent, 100.0, 1e-3, 0);
    assert_true(p[0].kl > 1e-3);
    assert_true(fabs(p[1].logit_diff - p[0].logit_diff) > 0);
    ac_eval_opts to = {.tree = 1, .ablation = AC_ABLATION_RESAMPLE};
    assert_ac_ok(ac_evaluate(f.c, sc, counts, 3, &to, p, &err), &err);
    /* tree patching: all edges = the clean run, none = everything ablated (corrupt) */
    assert_close(p[2].kl, 0.0, 1e-6, 0);
    assert_true(p[0].kl > 1e-3);
    free(sc);
    teardown_fx(&f);
}

static void test_ablations(void **state) {
    (void)state;
    fixture f = setup(0, 3, 0);
    ac_error err;
    const ac_split *sp = ac_dataset_split(f.ds, AC_SPLIT_TRAIN);
    const ac_batch *b = &sp->batches[0];
    const size_t d = 8, n = b->batch_size * b->seq_len * d, S = (size_t)f.g->n_src * n;
    float *p = calloc(S, sizeof(float)), *q = calloc(S, sizeof(float));
    assert_ac_ok(ac_patch_values(f.c, b, AC_ABLATION_ZERO, 0, p, &err), &err);
    for (size_t i = 0; i < S; i++) assert_true(p[i] == 0.0f);
    assert_ac_ok(ac_patch_values(f.c, b, AC_ABLATION_RESAMPLE, 0, p, &err), &err);
    assert_ac_ok(ac_patch_values(f.c, b, AC_ABLATION_BATCH_MEAN, 0, q, &err), &err);
    /* batch token-wise mean of the resample values */
    for (size_t s = 0; s < (size_t)f.g->n_src; s += 3)
        for (size_t t = 0; t < b->seq_len; t++)
            for (size_t k = 0; k < d; k++) {
                double m = 0;
                for (size_t bb = 0; bb < b->batch_size; bb++) m += p[s * n + (bb * b->seq_len + t) * d + k];
                m /= (double)b->batch_size;
                for (size_t bb = 0; bb < b->batch_size; bb++) assert_close(q[s * n + (bb * b->seq_len + t) * d + k], m, 1e-6, 1e-5);
            }
    assert_ac_ok(ac_patch_values(f.c, b, AC_ABLATION_BATCH_ALL_MEAN, 0, q, &err), &err);
    for (size_t k = 0; k < d; k++) {
        double m = 0;
        for (size_t i = 0; i < b->batch_size * b->seq_len; i++) m += p[i * d + k];
        assert_close(q[k], m / (double)(b->batch_size * b->seq_len), 1e-6, 1e-5);
        assert_close(q[(b->batch_size * b->seq_len - 1) * d + k], q[k], 0, 0);
    }
    /* dataset mean over both batches (the split has 6 prompts: 3 + 3) of the corrupt side */
    assert_ac_ok(ac_patch_values(f.c, b, AC_ABLATION_MEAN_CORRUPT, 0, q, &err), &err);
    const ac_batch *b2 = &sp->batches[1];
    float *p2 = calloc(S, sizeof(float));
    assert_ac_ok(ac_patch_values(f.c, b2, AC_ABLATION_RESAMPLE, 0, p2, &err), &err);
    for (size_t k = 0; k < n; k += 5) {
        size_t t_d = k % (b->seq_len * d);
        double m = 0;
        for (size_t bb = 0; bb < 3; bb++) m += p[bb * b->seq_len * d + t_d] + p2[bb * b->seq_len * d + t_d];
        assert_close(q[k], m / 6.0, 1e-6, 1e-5);
    }
    ac_ablation a;
    assert_ac_ok(ac_ablation_from_name("mean-clean", &a, &err), &err);
    assert_int_equal(a, AC_ABLATION_MEAN_CLEAN);
    assert_int_equal(ac_ablation_from_name("bogus", &a, &err), AC_ERR_ARG);
    free(p); free(q); free(p2);
    teardown_fx(&f);
}

static void test_determinism_and_baselines(void **state) {
    (void)state;
    fixture f = setup(0, 3, 0);
    ac_error err;
    const size_t E = f.g->n_edges;
    float *a = calloc(E, sizeof(float)), *b = calloc(E, sizeof(float));
    ac_algo_random(f.g, 5, a);
    ac_algo_random(f.g, 5, b);
    assert_memory_equal(a, b, E * sizeof(float));
    ac_algo_random(f.g, 6, b);
    assert_true(memcmp(a, b, E * sizeof(float)) != 0);
    for (size_t e = 0; e < E; e++) assert_true(a[e] >= 0.0f && a[e] < 1.0f);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, a, &err), &err);
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, b, &err), &err);
    assert_memory_equal(a, b, E * sizeof(float));
    assert_ac_ok(ac_algo_eap_ig_inputs(f.c, &o, a, &err), &err);
    assert_ac_ok(ac_algo_eap_ig_inputs(f.c, &o, b, &err), &err);
    assert_memory_equal(a, b, E * sizeof(float));
    /* activation magnitude: one value per source, on every edge from it */
    assert_ac_ok(ac_algo_activation_magnitude(f.c, a, &err), &err);
    for (size_t e = 0; e < E; e++) {
        int s;
        ac_graph_edge_at(f.g, e, NULL, NULL, &s);
        assert_true(a[e] >= 0);
        assert_true(a[e] == a[f.g->dests[f.g->n_dest - 1].edge_offset + (size_t)s]);
    }
    uint8_t *gt = calloc(E + 8, 1);
    gt[3] = gt[7] = 1;
    assert_ac_ok(ac_algo_ground_truth(f.g, gt, a, &err), &err);
    for (size_t e = 0; e < E; e++) assert_true(a[e] == (e == 3 || e == 7 ? 1.0f : 0.0f));
    assert_int_equal(ac_algo_ground_truth(f.g, NULL, a, &err), AC_ERR_ARG);
    free(a); free(b); free(gt);
    teardown_fx(&f);
}

/* EAP-IG with one step at alpha 0 runs the corrupt input: its scores are the gradients
 * at the corrupt input times (corrupt − clean) */
static void test_eap_ig_inputs_single_step(void **state) {
    (void)state;
    fixture f = setup(0, 6, 0);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.steps = 1;
    ac_error err;
    const size_t E = f.g->n_edges;
    float *a = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_eap_ig_inputs(f.c, &o, a, &err), &err);
    /* reference: mask gradient on the corrupt input with patch = clean sources and
     * negated sign: Σ (corrupt − clean)·G = −Σ (clean − corrupt)·G */
    const ac_batch *b = &ac_dataset_split(f.ds, AC_SPLIT_TRAIN)->batches[0];
    const size_t S = (size_t)f.g->n_src * b->batch_size * b->seq_len * 8;
    float *clean = calloc(S, sizeof(float)), *g = calloc(E, sizeof(float));
    float logits[8 * V], dl[8 * V];
    ac_run *r;
    assert_ac_ok(ac_run_create(&r, f.m, f.g, (int)b->batch_size, (int)b->seq_len, &err), &err);
    ac_tokens cle = {(int)b->batch_size, (int)b->seq_len, b->clean, b->clean_mask};
    ac_tokens cor = {(int)b->batch_size, (int)b->seq_len, b->corrupt, b->corrupt_mask};
    ac_forward_opts o1 = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .record = clean};
    assert_ac_ok(ac_run_forward(r, &cle, &o1, &err), &err);
    ac_forward_opts o2 = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .patch = clean};
    assert_ac_ok(ac_run_forward(r, &cor, &o2, &err), &err);
    ac_answer_sets sets;
    ac_batch_answer_sets(b, &sets);
    ac_answer_loss_spec spec = {.grad_function = AC_VAL_LOGIT, .answer_function = AC_ANSWER_AVG_DIFF};
    double loss;
    assert_ac_ok(ac_answer_loss(logits, b->batch_size, V, &sets, &spec, &loss, dl, &err), &err);
    ac_backward_opts bo = {.dlogits = dl, .mask_grad = g};
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
    for (size_t e = 0; e < E; e++) assert_close(a[e], -g[e], 1e-5, 1e-4);
    ac_run_free(r);
    free(a); free(clean); free(g);
    teardown_fx(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eap_matches_brute_force),
        cmocka_unit_test(test_ig_one_step_is_sum_of_endpoints),
        cmocka_unit_test(test_exact_matches_evaluate),
        cmocka_unit_test(test_eap_tracks_exact),
        cmocka_unit_test(test_acdc_steps_equal_tree_patching),
        cmocka_unit_test(test_evaluate_invariants),
        cmocka_unit_test(test_ablations),
        cmocka_unit_test(test_determinism_and_baselines),
        cmocka_unit_test(test_eap_ig_inputs_single_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
