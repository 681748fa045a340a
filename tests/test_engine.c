/* Forward, patching and edge-mask gradients of the engine against the naive double
 * reference model (tests/support/ref_model.c) and finite differences of it. */
#include "ac_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/engine.h"
#include "ref_model.h"

enum { B = 3, T = 7 };

typedef enum { M_GPT2, M_ATTN_ONLY, M_NO_LN, M_LLAMA_GQA, M_LLAMA_INTERLEAVED, M_QWEN_BIAS } model_kind;

static ac_model *make_model(model_kind k) {
    ac_config c;
    ac_config_defaults(&c, k >= M_LLAMA_GQA ? AC_ARCH_LLAMA : AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 4;
    c.d_model = 16;
    c.d_head = 4;
    c.d_mlp = 24;
    c.vocab_size = 37;
    c.n_ctx = 16;
    if (k == M_ATTN_ONLY) { c.attn_only = 1; c.d_mlp = 0; c.n_layer = 3; }
    if (k == M_NO_LN) { c.norm = AC_NORM_NONE; c.final_norm = 0; }
    if (k >= M_LLAMA_GQA) c.n_kv_head = 2;
    if (k == M_LLAMA_INTERLEAVED) c.pos = AC_POS_ROPE_INTERLEAVED;
    if (k == M_QWEN_BIAS) c.attn_bias = 1;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 1234u + (unsigned)k, k == M_NO_LN ? 0.15f : 0.3f);
    return m;
}

/* left-padded batch: lengths 7, 5, 6 */
static const int32_t clean_ids[B * T] = {5, 9, 2, 30, 11, 4, 17, 0, 0, 8, 3, 3, 21, 6, 0, 12, 1, 33, 7, 7, 2};
static const int32_t corrupt_ids[B * T] = {5, 9, 14, 30, 11, 25, 17, 0, 0, 8, 19, 3, 21, 36, 0, 12, 1, 10, 7, 7, 2};
static const uint8_t pad_mask[B * T] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
static const int32_t answers[B] = {3, 14, 29};
static const int32_t wrongs[B] = {20, 2, 5};

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static ac_graph *make_graph(const ac_model *m, int separate, int seq_len) {
    ac_graph *g;
    ac_error err;
    ac_graph_opts o = {.separate_qkv = separate, .seq_len = seq_len};
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &o, &err), &err);
    return g;
}

static size_t stack_size(const ac_model *m, const ac_graph *g) {
    return (size_t)g->n_src * B * T * (size_t)ac_model_config(m)->d_model;
}

/* engine forward with optional masks/patch, logits at the last position */
static void engine_forward(ac_run *r, const int32_t *ids, const float *masks, const float *patch,
                           float *record, float *logits) {
    ac_error err;
    ac_tokens in = {.B = B, .T = T, .ids = ids, .mask = pad_mask};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .masks = masks, .patch = patch, .record = record};
    assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
}

static const model_kind all_kinds[] = {M_GPT2, M_ATTN_ONLY, M_NO_LN, M_LLAMA_GQA, M_LLAMA_INTERLEAVED, M_QWEN_BIAS};

static void test_forward_matches_reference(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof all_kinds / sizeof *all_kinds; k++) {
        ac_model *m = make_model(all_kinds[k]);
        const int V = ac_model_config(m)->vocab_size;
        ac_graph *g = make_graph(m, 1, 0);
        ac_run *r;
        ac_error err;
        assert_ac_ok(ac_run_create(&r, m, NULL, B, T, &err), &err);
        float logits[B * T * 64];
        ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
        ac_forward_opts o = {.logits_mode = AC_LOGITS_ALL, .logits = logits};
        assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
        double ref[B * T * 64];
        ac_ref_forward(m, g, B, T, clean_ids, pad_mask, NULL, NULL, NULL, ref, 1);
        for (int i = 0; i < B * T; i++) {
            if (!pad_mask[i]) continue;
            for (int v = 0; v < V; v++) assert_close(logits[i * V + v], ref[i * V + v], 2e-4, 1e-4);
        }
        ac_run_free(r);
        ac_graph_free(g);
        ac_model_free(m);
    }
}

static void test_padding_does_not_change_logits(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof all_kinds / sizeof *all_kinds; k++) {
        ac_model *m = make_model(all_kinds[k]);
        const int V = ac_model_config(m)->vocab_size;
        ac_run *r;
        ac_error err;
        assert_ac_ok(ac_run_create(&r, m, NULL, B, T, &err), &err);
        float padded[B * T * 64], alone[T * 64];
        ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
        ac_forward_opts o = {.logits_mode = AC_LOGITS_ALL, .logits = padded};
        assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
        /* prompt 1 alone: its 5 real tokens */
        ac_tokens one = {.B = 1, .T = 5, .ids = clean_ids + T + 2, .mask = NULL};
        ac_forward_opts o1 = {.logits_mode = AC_LOGITS_ALL, .logits = alone};
        assert_ac_ok(ac_run_forward(r, &one, &o1, &err), &err);
        for (int t = 0; t < 5; t++)
            for (int v = 0; v < V; v++) assert_close(padded[(T + 2 + t) * V + v], alone[t * V + v], 1e-5, 1e-5);
        ac_run_free(r);
        ac_model_free(m);
    }
}

static void test_masks_zero_and_one(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof all_kinds / sizeof *all_kinds; k++) {
        ac_model *m = make_model(all_kinds[k]);
        const int V = ac_model_config(m)->vocab_size;
        ac_graph *g = make_graph(m, 1, 0);
        ac_run *r, *plain;
        ac_error err;
        assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
        assert_ac_ok(ac_run_create(&plain, m, NULL, B, T, &err), &err);
        float *patch = calloc(stack_size(m, g), sizeof(float));
        float *masks = calloc(g->n_edges, sizeof(float));
        float corrupt[B * 64], clean[B * 64], clean_plain[B * 64], patched[B * 64], nomask[B * 64];
        engine_forward(r, corrupt_ids, NULL, NULL, patch, corrupt);
        engine_forward(r, clean_ids, NULL, NULL, NULL, nomask);
        engine_forward(r, clean_ids, masks, patch, NULL, clean);
        engine_forward(plain, clean_ids, NULL, NULL, NULL, clean_plain);
        for (int i = 0; i < B * V; i++) {
            assert_true(clean[i] == nomask[i]); /* masks 0: exactly the plain forward */
            assert_close(clean[i], clean_plain[i], 1e-5, 1e-5);
        }
        for (size_t e = 0; e < g->n_edges; e++) masks[e] = 1.0f;
        engine_forward(r, clean_ids, masks, patch, NULL, patched);
        for (int i = 0; i < B * V; i++) assert_close(patched[i], corrupt[i], 2e-4, 1e-4);
        free(patch);
        free(masks);
        ac_run_free(r);
        ac_run_free(plain);
        ac_graph_free(g);
        ac_model_free(m);
    }
}

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* patched forwards vs the reference: single edges, several edges, random masks,
 * combined Q/K/V, per-position masks */
static void check_patch(ac_model *m, ac_graph *g, float *masks) {
    const int V = ac_model_config(m)->vocab_size;
    const size_t S = stack_size(m, g);
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    float *patch = calloc(S, sizeof(float));
    float logits[B * 64];
    engine_forward(r, corrupt_ids, NULL, NULL, patch, logits);
    engine_forward(r, clean_ids, masks, patch, NULL, logits);
    double *dpatch = to_double(patch, S), *dmasks = to_double(masks, g->n_edges);
    double ref[B * 64];
    ac_ref_forward(m, g, B, T, clean_ids, pad_mask, dmasks, dpatch, NULL, ref, 0);
    for (int i = 0; i < B * V; i++) assert_close(logits[i], ref[i], 2e-4, 1e-4);
    free(patch); free(dpatch); free(dmasks);
    ac_run_free(r);
}

static void test_patching_matches_reference(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof all_kinds / sizeof *all_kinds; k++) {
        ac_model *m = make_model(all_kinds[k]);
        for (int variant = 0; variant < 3; variant++) {
            int separate = variant != 1 || all_kinds[k] >= M_LLAMA_GQA ? 1 : 0;
            ac_graph *g = make_graph(m, separate, variant == 2 ? T : 0);
            float *masks = calloc(g->n_edges, sizeof(float));
            /* single edges */
            for (int trial = 0; trial < 4; trial++) {
                memset(masks, 0, g->n_edges * sizeof(float));
                masks[(size_t)(urand() * (double)g->n_edges)] = 1.0f;
                check_patch(m, g, masks);
            }
            /* several edges, fractional masks */
            memset(masks, 0, g->n_edges * sizeof(float));
            for (int i = 0; i < 6; i++) masks[(size_t)(urand() * (double)g->n_edges)] = (float)urand();
            check_patch(m, g, masks);
            /* every mask random */
            for (size_t e = 0; e < g->n_edges; e++) masks[e] = (float)urand();
            check_patch(m, g, masks);
            free(masks);
            ac_graph_free(g);
        }
        ac_model_free(m);
    }
}

/* loss = −mean_b (logit[answer] − logit[wrong]) at the last position */
static double loss_of(const double *logits, int V) {
    double s = 0;
    for (int b = 0; b < B; b++) s += logits[b * V + answers[b]] - logits[b * V + wrongs[b]];
    return -s / B;
}

static void check_grads(ac_model *m, ac_graph *g, const float *masks) {
    const int V = ac_model_config(m)->vocab_size;
    const size_t S = stack_size(m, g);
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    float *patch = calloc(S, sizeof(float));
    float logits[B * 64], dlogits[B * 64];
    engine_forward(r, corrupt_ids, NULL, NULL, patch, logits);
    engine_forward(r, clean_ids, masks, patch, NULL, logits);
    memset(dlogits, 0, sizeof dlogits);
    for (int b = 0; b < B; b++) {
        dlogits[b * V + answers[b]] -= 1.0f / B;
        dlogits[b * V + wrongs[b]] += 1.0f / B;
    }
    float *grad = calloc(g->n_edges, sizeof(float));
    ac_backward_opts bo = {.dlogits = dlogits, .mask_grad = grad};
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
    /* central finite differences of the double reference */
    double *dpatch = to_double(patch, S), *dm = to_double(masks, g->n_edges);
    double lp[B * 64], lm[B * 64];
    const double h = 1e-4;
    double maxg = 0;
    for (size_t e = 0; e < g->n_edges; e++) maxg = fmax(maxg, fabs(grad[e]));
    for (size_t e = 0; e < g->n_edges; e++) {
        double keep = dm[e];
        dm[e] = keep + h;
        ac_ref_forward(m, g, B, T, clean_ids, pad_mask, dm, dpatch, NULL, lp, 0);
        dm[e] = keep - h;
        ac_ref_forward(m, g, B, T, clean_ids, pad_mask, dm, dpatch, NULL, lm, 0);
        dm[e] = keep;
        double fd = (loss_of(lp, V) - loss_of(lm, V)) / (2 * h);
        assert_close(grad[e], fd, 1e-4 + 1e-4 * maxg, 2e-3);
    }
    assert_true(maxg > 1e-3); /* the check is not vacuous */
    free(patch); free(grad); free(dpatch); free(dm);
    ac_run_free(r);
}

static void test_mask_gradients_match_finite_differences(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof all_kinds / sizeof *all_kinds; k++) {
        ac_model *m = make_model(all_kinds[k]);
        for (int variant = 0; variant < 3; variant++) {
            int separate = variant != 1 || all_kinds[k] >= M_LLAMA_GQA ? 1 : 0;
            ac_graph *g = make_graph(m, separate, variant == 2 ? T : 0);
            float *masks = calloc(g->n_edges, sizeof(float));
            check_grads(m, g, masks); /* EAP point: masks 0 */
            for (size_t e = 0; e < g->n_edges; e++) masks[e] = (float)urand();
            check_grads(m, g, masks); /* interior point: every destination patched */
            free(masks);
            ac_graph_free(g);
        }
        ac_model_free(m);
    }
}

/* Partial re-runs from a block equal full forwards when masks change, in descending
 * destination order (ACDC / exact patching), including reverting a mask. */
static void test_partial_reruns(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof all_kinds / sizeof *all_kinds; k++) {
        ac_model *m = make_model(all_kinds[k]);
        const ac_config *c = ac_model_config(m);
        const int V = c->vocab_size;
        ac_graph *g = make_graph(m, 1, 0);
        ac_run *r, *full;
        ac_error err;
        assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
        assert_ac_ok(ac_run_create(&full, m, g, B, T, &err), &err);
        float *patch = calloc(stack_size(m, g), sizeof(float));
        float *masks = calloc(g->n_edges, sizeof(float));
        float a[B * 64], b[B * 64];
        engine_forward(r, corrupt_ids, NULL, NULL, patch, a);
        engine_forward(r, clean_ids, masks, patch, NULL, a);
        for (int dd = g->n_dest - 1; dd >= 0; dd--) {
            const ac_dest_node *dn = &g->dests[dd];
            for (int s = 0; s < dn->n_in; s += 2) {
                size_t e = dn->edge_offset + (size_t)s;
                masks[e] = 1.0f;
                ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
                ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = a, .masks = masks, .patch = patch,
                                     .partial = 1, .start_block = dn->layer, .start_mlp = dn->kind == AC_DEST_MLP};
                assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
                engine_forward(full, clean_ids, masks, patch, NULL, b);
                for (int i = 0; i < B * V; i++) assert_close(a[i], b[i], 1e-5, 1e-5);
                if (s % 4 == 2) masks[e] = 0.0f; /* revert some, as ACDC does */
            }
        }
        /* a partial run without a previous forward of the batch is refused */
        ac_run *fresh;
        assert_ac_ok(ac_run_create(&fresh, m, g, B, T, &err), &err);
        ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
        ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = a, .masks = masks, .patch = patch, .partial = 1};
        assert_int_equal(ac_run_forward(fresh, &in, &o, &err), AC_ERR_ARG);
        ac_run_free(fresh);
        free(patch);
        free(masks);
        ac_run_free(r);
        ac_run_free(full);
        ac_graph_free(g);
        ac_model_free(m);
    }
}

typedef struct {
    const ac_graph *g;
    const float *patch, *base;
    size_t n;
    double *expect;
} dest_grad_ctx;

/* brute force: for each edge into `dest`, Σ (patch_s − base_s) · G_dest */
static void collect_dest_grad(void *p, int dest, const float *G) {
    dest_grad_ctx *c = p;
    const ac_dest_node *dn = &c->g->dests[dest];
    for (int s = 0; s < dn->n_in; s++) {
        double acc = 0;
        for (size_t i = 0; i < c->n; i++)
            acc += ((double)c->patch[(size_t)s * c->n + i] - c->base[(size_t)s * c->n + i]) * G[i];
        c->expect[dn->edge_offset + (size_t)s] = acc;
    }
}

/* An embedding override equal to the token embedding changes nothing; diff_base makes
 * mask gradients use patch − base instead of patch − current. */
static void test_embed_and_diff_base(void **state) {
    (void)state;
    ac_model *m = make_model(M_GPT2);
    const int V = ac_model_config(m)->vocab_size, d = ac_model_config(m)->d_model;
    ac_graph *g = make_graph(m, 1, 0);
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    const size_t S = stack_size(m, g);
    float *patch = calloc(S, sizeof(float)), *clean_rec = calloc(S, sizeof(float));
    float a[B * 64], b[B * 64], dl[B * 64];
    engine_forward(r, corrupt_ids, NULL, NULL, patch, a);
    engine_forward(r, clean_ids, NULL, NULL, clean_rec, a);
    /* Resid Start of the clean run is the clean embedding */
    ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = b, .embed = clean_rec};
    assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
    for (int i = 0; i < B * V; i++) assert_true(a[i] == b[i]);
    /* diff_base = clean sources while running the clean input: same gradients as usual */
    memset(dl, 0, sizeof dl);
    for (int bb = 0; bb < B; bb++) { dl[bb * V + answers[bb]] = -1.0f / B; dl[bb * V + wrongs[bb]] = 1.0f / B; }
    float *g1 = calloc(g->n_edges, sizeof(float)), *g2 = calloc(g->n_edges, sizeof(float));
    ac_forward_opts o1 = {.logits_mode = AC_LOGITS_LAST, .logits = a, .patch = patch};
    assert_ac_ok(ac_run_forward(r, &in, &o1, &err), &err);
    ac_backward_opts bo = {.dlogits = dl, .mask_grad = g1};
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
    /* half-way interpolated embeddings with diff_base = clean: every mask gradient is
     * Σ (patch_s − clean_s) · G_dest, with G_dest from the destination-gradient callback */
    float *emb = calloc((size_t)(B * T * d), sizeof(float));
    for (int i = 0; i < B * T * d; i++) emb[i] = 0.5f * (clean_rec[i] + patch[i]);
    ac_forward_opts o2 = {.logits_mode = AC_LOGITS_LAST, .logits = a, .patch = patch, .embed = emb, .diff_base = clean_rec};
    assert_ac_ok(ac_run_forward(r, &in, &o2, &err), &err);
    dest_grad_ctx ctx = {g, patch, clean_rec, (size_t)(B * T * d), calloc(g->n_edges, sizeof(double))};
    ac_backward_opts bo2 = {.dlogits = dl, .mask_grad = g2, .dest_grad = collect_dest_grad, .dest_grad_ctx = &ctx};
    assert_ac_ok(ac_run_backward(r, &bo2, &err), &err);
    int differ = 0;
    for (size_t e = 0; e < g->n_edges; e++) {
        differ |= fabsf(g1[e] - g2[e]) > 1e-4f;
        assert_close(g2[e], ctx.expect[e], 1e-5, 1e-4);
    }
    assert_true(differ);
    free(ctx.expect);
    free(patch); free(clean_rec); free(g1); free(g2); free(emb);
    ac_run_free(r);
    ac_graph_free(g);
    ac_model_free(m);
}

static void test_errors(void **state) {
    (void)state;
    ac_model *m = make_model(M_GPT2);
    ac_graph *g = make_graph(m, 1, 5);
    ac_run *r;
    ac_error err;
    assert_int_equal(ac_run_create(&r, m, NULL, B, 99, &err), AC_ERR_ARG);
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    float logits[B * 64];
    int32_t bad[B * T];
    memcpy(bad, clean_ids, sizeof bad);
    bad[4] = 37;
    ac_tokens in = {.B = B, .T = T, .ids = bad, .mask = pad_mask};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = logits};
    assert_int_equal(ac_run_forward(r, &in, &o, &err), AC_ERR_ARG); /* graph has 5 positions */
    ac_run_free(r);
    ac_graph_free(g);
    assert_ac_ok(ac_run_create(&r, m, NULL, B, T, &err), &err);
    assert_int_equal(ac_run_forward(r, &in, &o, &err), AC_ERR_RANGE);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    ac_backward_opts bo = {.dlogits = logits};
    assert_int_equal(ac_run_backward(r, &bo, &err), AC_ERR_ARG);
    ac_run_free(r);
    ac_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_padding_does_not_change_logits),
        cmocka_unit_test(test_masks_zero_and_one),
        cmocka_unit_test(test_patching_matches_reference),
        cmocka_unit_test(test_mask_gradients_match_finite_differences),
        cmocka_unit_test(test_partial_reruns),
        cmocka_unit_test(test_embed_and_diff_base),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
