/* The engine against golden files from an independent float64 PyTorch implementation
 * (scripts/golden/engine_golden.py; layout in docs/golden.md): graph names, logits with
 * padding, per-source outputs, patched runs and edge-mask gradients. */
#include "ac_test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/engine.h"

#define ATOL 1e-4
#define RTOL 1e-4

typedef struct {
    ac_model *m;
    json_t *j;
    int B, T, V, d;
    int32_t *clean, *corrupt, *answers, *wrong;
    uint8_t *mask;
} golden;

static int32_t *ints2(json_t *a, int B, int T) {
    int32_t *o = calloc((size_t)(B * T), sizeof *o);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) o[b * T + t] = (int32_t)json_integer_value(json_array_get(json_array_get(a, (size_t)b), (size_t)t));
    return o;
}

static golden load(const char *name) {
    golden G;
    memset(&G, 0, sizeof G);
    const char *dir = ac_test_path(ac_test_path(ac_test_source_dir(), "tests/data/golden"), name);
    ac_error err;
    assert_ac_ok(ac_model_load(&G.m, dir, &err), &err);
    json_error_t je;
    G.j = json_load_file(ac_test_path(dir, "golden.json"), 0, &je);
    assert_non_null(G.j);
    G.B = (int)json_integer_value(json_object_get(G.j, "batch"));
    G.T = (int)json_integer_value(json_object_get(G.j, "seq_len"));
    G.V = (int)json_integer_value(json_object_get(G.j, "vocab_size"));
    G.d = (int)json_integer_value(json_object_get(G.j, "d_model"));
    G.clean = ints2(json_object_get(G.j, "clean_ids"), G.B, G.T);
    G.corrupt = ints2(json_object_get(G.j, "corrupt_ids"), G.B, G.T);
    int32_t *mk = ints2(json_object_get(G.j, "mask"), G.B, G.T);
    G.mask = calloc((size_t)(G.B * G.T), 1);
    for (int i = 0; i < G.B * G.T; i++) G.mask[i] = (uint8_t)mk[i];
    free(mk);
    G.answers = calloc((size_t)G.B, sizeof(int32_t));
    G.wrong = calloc((size_t)G.B, sizeof(int32_t));
    for (int b = 0; b < G.B; b++) {
        G.answers[b] = (int32_t)json_integer_value(json_array_get(json_object_get(G.j, "answers"), (size_t)b));
        G.wrong[b] = (int32_t)json_integer_value(json_array_get(json_object_get(G.j, "wrong_answers"), (size_t)b));
    }
    return G;
}

static void unload(golden *G) {
    ac_model_free(G->m);
    json_decref(G->j);
    free(G->clean); free(G->corrupt); free(G->mask); free(G->answers); free(G->wrong);
}

static double num(json_t *x) { return json_number_value(x); }

static void check_graph(const golden *G, const ac_graph *g) {
    json_t *src = json_object_get(G->j, "sources"), *dst = json_object_get(G->j, "destinations"),
           *edges = json_object_get(G->j, "edges");
    assert_int_equal(g->n_src, (int)json_array_size(src));
    assert_int_equal(g->n_dest, (int)json_array_size(dst));
    assert_int_equal(g->n_edges, json_array_size(edges));
    for (int i = 0; i < g->n_src; i++) {
        assert_string_equal(g->srcs[i].name, json_string_value(json_array_get(src, (size_t)i)));
        assert_int_equal(g->srcs[i].graph_layer, json_integer_value(json_array_get(json_object_get(G->j, "source_layers"), (size_t)i)));
    }
    for (int i = 0; i < g->n_dest; i++) {
        assert_string_equal(g->dests[i].name, json_string_value(json_array_get(dst, (size_t)i)));
        assert_int_equal(g->dests[i].graph_layer, json_integer_value(json_array_get(json_object_get(G->j, "destination_layers"), (size_t)i)));
    }
    char buf[80];
    for (size_t e = 0; e < g->n_edges; e++)
        assert_string_equal(ac_graph_edge_name(g, e, buf, sizeof buf), json_string_value(json_array_get(edges, e)));
}

static void run(ac_run *r, const golden *G, const int32_t *ids, const float *masks, const float *patch,
                float *record, float *logits, ac_logits_mode mode) {
    ac_error err;
    ac_tokens in = {.B = G->B, .T = G->T, .ids = ids, .mask = G->mask};
    ac_forward_opts o = {.logits_mode = mode, .logits = logits, .masks = masks, .patch = patch, .record = record};
    assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
}

static void check_last_logits(const golden *G, const float *logits, json_t *expect) {
    for (int b = 0; b < G->B; b++)
        for (int v = 0; v < G->V; v++)
            assert_close(logits[b * G->V + v], num(json_array_get(json_array_get(expect, (size_t)b), (size_t)v)), ATOL, RTOL);
}

static void sparse_masks(float *masks, const ac_graph *g, json_t *list, int per_pos) {
    memset(masks, 0, g->n_edges * sizeof(float));
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        size_t e = (size_t)json_integer_value(json_object_get(it, "edge"));
        if (per_pos) e += (size_t)json_integer_value(json_object_get(it, "pos")) * g->n_edges_per_pos;
        masks[e] = (float)num(json_object_get(it, "value"));
    }
}

static void check_model(const char *name) {
    golden G = load(name);
    const int B = G.B, T = G.T, V = G.V, d = G.d;
    ac_error err;
    ac_graph *g, *gp;
    ac_graph_opts op = {.separate_qkv = 1, .seq_len = T};
    assert_ac_ok(ac_graph_build(&g, ac_model_config(G.m), NULL, &err), &err);
    assert_ac_ok(ac_graph_build(&gp, ac_model_config(G.m), &op, &err), &err);
    check_graph(&G, g);
    ac_run *r, *rp;
    assert_ac_ok(ac_run_create(&r, G.m, g, B, T, &err), &err);
    assert_ac_ok(ac_run_create(&rp, G.m, gp, B, T, &err), &err);
    const size_t S = (size_t)g->n_src * (size_t)(B * T * d);
    float *patch = calloc(S, sizeof(float)), *rec = calloc(S, sizeof(float));
    float *all = calloc((size_t)(B * T * V), sizeof(float)), *last = calloc((size_t)(B * V), sizeof(float));

    /* unpatched logits at every real position, clean and corrupt */
    const char *keys[2] = {"logits_clean", "logits_corrupt"};
    for (int k = 0; k < 2; k++) {
        run(r, &G, k ? G.corrupt : G.clean, NULL, NULL, k ? patch : rec, all, AC_LOGITS_ALL);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(G.j, keys[k]), i, it) {
            int b = (int)json_integer_value(json_object_get(it, "b")), t = (int)json_integer_value(json_object_get(it, "t"));
            for (int v = 0; v < V; v++)
                assert_close(all[(b * T + t) * V + v], num(json_array_get(json_object_get(it, "logits"), (size_t)v)), ATOL, RTOL);
        }
    }
    /* per-source outputs at the last position (clean) */
    json_t *so = json_object_get(G.j, "source_outputs_clean");
    for (int s = 0; s < g->n_src; s++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < d; c++)
                assert_close(rec[((size_t)s * (size_t)(B * T) + (size_t)(b * T + T - 1)) * (size_t)d + (size_t)c],
                             num(json_array_get(json_array_get(json_array_get(so, (size_t)s), (size_t)b), (size_t)c)), ATOL, RTOL);
    /* prompt 1 alone */
    json_t *un = json_object_get(G.j, "logits_clean_unpadded");
    json_t *uids = json_object_get(un, "ids");
    int n1 = (int)json_array_size(uids);
    int32_t ids1[64];
    for (int t = 0; t < n1; t++) ids1[t] = (int32_t)json_integer_value(json_array_get(uids, (size_t)t));
    ac_tokens one = {.B = 1, .T = n1, .ids = ids1, .mask = NULL};
    ac_forward_opts o1 = {.logits_mode = AC_LOGITS_ALL, .logits = all};
    assert_ac_ok(ac_run_forward(r, &one, &o1, &err), &err);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(un, "logits"), i, it) {
        int t = (int)json_integer_value(json_object_get(it, "t"));
        for (int v = 0; v < V; v++)
            assert_close(all[t * V + v], num(json_array_get(json_object_get(it, "logits"), (size_t)v)), ATOL, RTOL);
    }

    /* patched runs (patch = the corrupt run's sources, recorded above) */
    float *masks = calloc(g->n_edges, sizeof(float)), *pmasks = calloc(gp->n_edges, sizeof(float));
    sparse_masks(masks, g, json_object_get(json_object_get(G.j, "patch_single_edge"), "masks"), 0);
    run(r, &G, G.clean, masks, patch, NULL, last, AC_LOGITS_LAST);
    check_last_logits(&G, last, json_object_get(json_object_get(G.j, "patch_single_edge"), "logits_last"));
    sparse_masks(masks, g, json_object_get(json_object_get(G.j, "patch_three_edges"), "masks"), 0);
    run(r, &G, G.clean, masks, patch, NULL, last, AC_LOGITS_LAST);
    check_last_logits(&G, last, json_object_get(json_object_get(G.j, "patch_three_edges"), "logits_last"));
    for (size_t e = 0; e < g->n_edges; e++) masks[e] = 1.0f;
    run(r, &G, G.clean, masks, patch, NULL, last, AC_LOGITS_LAST);
    check_last_logits(&G, last, json_object_get(json_object_get(G.j, "patch_all_ones"), "logits_last"));
    json_t *rnd = json_object_get(json_object_get(G.j, "patch_random"), "masks");
    for (size_t e = 0; e < g->n_edges; e++) masks[e] = (float)num(json_array_get(rnd, e));
    run(r, &G, G.clean, masks, patch, NULL, last, AC_LOGITS_LAST);
    check_last_logits(&G, last, json_object_get(json_object_get(G.j, "patch_random"), "logits_last"));
    sparse_masks(pmasks, gp, json_object_get(json_object_get(G.j, "patch_per_pos"), "masks"), 1);
    run(rp, &G, G.clean, pmasks, patch, NULL, last, AC_LOGITS_LAST);
    check_last_logits(&G, last, json_object_get(json_object_get(G.j, "patch_per_pos"), "logits_last"));

    /* gradients of loss = −mean_b (logit[answer] − logit[wrong]) at T−1 */
    float *dl = calloc((size_t)(B * V), sizeof(float));
    for (int b = 0; b < B; b++) {
        dl[b * V + G.answers[b]] -= 1.0f / (float)B;
        dl[b * V + G.wrong[b]] += 1.0f / (float)B;
    }
    float *grad = calloc(gp->n_edges, sizeof(float));
    for (int k = 0; k < 2; k++) {
        if (k == 0) memset(masks, 0, g->n_edges * sizeof(float));
        else for (size_t e = 0; e < g->n_edges; e++) masks[e] = (float)num(json_array_get(rnd, e));
        run(r, &G, G.clean, masks, patch, NULL, last, AC_LOGITS_LAST);
        memset(grad, 0, g->n_edges * sizeof(float));
        ac_backward_opts bo = {.dlogits = dl, .mask_grad = grad};
        assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
        json_t *ge = json_object_get(G.j, k ? "grad_mask_random" : "grad_mask0");
        for (size_t e = 0; e < g->n_edges; e++) assert_close(grad[e], num(json_array_get(ge, e)), ATOL, RTOL);
    }
    memset(pmasks, 0, gp->n_edges * sizeof(float));
    run(rp, &G, G.clean, pmasks, patch, NULL, last, AC_LOGITS_LAST);
    memset(grad, 0, gp->n_edges * sizeof(float));
    ac_backward_opts bo = {.dlogits = dl, .mask_grad = grad};
    assert_ac_ok(ac_run_backward(rp, &bo, &err), &err);
    json_t *gpp = json_object_get(G.j, "grad_mask0_per_pos");
    for (size_t e = 0; e < g->n_edges; e++)
        for (int t = 0; t < T; t++)
            assert_close(grad[(size_t)t * gp->n_edges_per_pos + e], num(json_array_get(json_array_get(gpp, e), (size_t)t)), ATOL, RTOL);

    free(patch); free(rec); free(all); free(last); free(masks); free(pmasks); free(dl); free(grad);
    ac_run_free(r);
    ac_run_free(rp);
    ac_graph_free(g);
    ac_graph_free(gp);
    unload(&G);
}

static void test_gpt2_tiny(void **state) { (void)state; check_model("gpt2_tiny"); }
static void test_attn_only_tiny(void **state) { (void)state; check_model("attn_only_tiny"); }
static void test_llama_tiny(void **state) { (void)state; check_model("llama_tiny"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_tiny),
        cmocka_unit_test(test_attn_only_tiny),
        cmocka_unit_test(test_llama_tiny),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
