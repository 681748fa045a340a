/* The node-level residual ("unfactorized") graph (reference §2.1): nodes, edge names,
 * order and counts; patched forwards, recorded sources and edge-mask gradients against
 * the naive double reference and its finite differences; the reference's equivalence
 * with the factorized graph (test_unfactorized_edges); per-row masks; partial re-runs;
 * and every algorithm and circuit evaluation on it, with and without the prefix cache. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/algos.h"
#include "autocircuit/engine.h"
#include "ref_model.h"

/* ---- graph --------------------------------------------------------------------------- */

static ac_config shape(ac_arch arch, int L, int H, int Hkv, int d, int attn_only) {
    ac_config c;
    ac_config_defaults(&c, arch);
    c.n_layer = L;
    c.n_head = H;
    c.n_kv_head = Hkv;
    c.d_model = d;
    c.d_head = d / H;
    c.d_mlp = attn_only ? 0 : 4 * d;
    c.attn_only = attn_only;
    c.vocab_size = 50257;
    c.n_ctx = 1024;
    return c;
}

static ac_graph *build(const ac_config *c, int seq_len) {
    ac_graph *g;
    ac_error err;
    ac_graph_opts o = {.separate_qkv = 1, .seq_len = seq_len, .residual = 1};
    assert_ac_ok(ac_graph_build(&g, c, &o, &err), &err);
    return g;
}

static const char *edge_name(const ac_graph *g, size_t e) {
    static char buf[80];
    return ac_graph_edge_name(g, e, buf, sizeof buf);
}

/* every edge joins consecutive graph layers; names, indices and positions round-trip */
static void check_structure(const ac_graph *g) {
    size_t off = 0;
    for (int dd = 0; dd < g->n_dest; dd++) {
        const ac_dest_node *dn = &g->dests[dd];
        assert_int_equal(dn->edge_offset, off);
        off += (size_t)dn->n_in;
        assert_true(dn->src_begin >= 0 && dn->n_in > 0 && dn->src_begin + dn->n_in <= g->n_src);
        for (int s = 0; s < g->n_src; s++) {
            const int feeds = s >= dn->src_begin && s < dn->src_begin + dn->n_in;
            assert_int_equal(feeds, g->srcs[s].graph_layer + 1 == dn->graph_layer);
            if (!feeds) assert_true(ac_graph_edge_index(g, 0, dd, s) == (size_t)-1);
        }
    }
    assert_int_equal(off, g->n_edges_per_pos);
    for (int s = 0; s < g->n_src; s++) {
        assert_int_equal(g->srcs[s].src_idx, s);
        if (s > 0) assert_true(g->srcs[s].graph_layer >= g->srcs[s - 1].graph_layer);
    }
    assert_int_equal(g->n_graph_layers, g->dests[g->n_dest - 1].graph_layer + 1);
    for (size_t e = 0; e < g->n_edges; e++) {
        int pos, dd, s;
        ac_graph_edge_at(g, e, &pos, &dd, &s);
        assert_int_equal(pos, g->seq_len > 0 ? (int)(e / g->n_edges_per_pos) : -1);
        assert_true(ac_graph_edge_index(g, pos < 0 ? 0 : pos, dd, s) == e);
        assert_true(ac_graph_find_edge(g, edge_name(g, e), pos < 0 ? 0 : pos) == e);
    }
}

static void test_gpt2_small_names_order_counts(void **state) {
    (void)state;
    ac_config c = shape(AC_ARCH_GPT2, 12, 12, 12, 768, 0);
    ac_graph *g = build(&c, 0);
    assert_int_equal(g->residual, 1);
    assert_int_equal(g->n_src, 180); /* 1 + 12 × (12 heads, Resid Mid, MLP) + 11 Resid Post */
    assert_int_equal(g->n_dest, 24);
    assert_int_equal(g->n_edges, 180);
    assert_int_equal(g->n_edges, ac_graph_residual_edge_count(&c));
    assert_int_equal(g->n_graph_layers, 25);
    assert_string_equal(g->srcs[0].name, "Resid Start");
    assert_string_equal(g->srcs[1].name, "A0.0");
    assert_string_equal(g->srcs[12].name, "A0.11");
    assert_string_equal(g->srcs[13].name, "Resid Mid 0");
    assert_string_equal(g->srcs[14].name, "MLP 0");
    assert_string_equal(g->srcs[15].name, "Resid Post 0");
    assert_string_equal(g->srcs[16].name, "A1.0");
    assert_string_equal(g->srcs[165].name, "Resid Post 10");
    assert_string_equal(g->srcs[179].name, "MLP 11");
    assert_int_equal(g->srcs[13].kind, AC_SRC_RESID_MID);
    assert_int_equal(g->srcs[15].kind, AC_SRC_RESID_POST);
    assert_int_equal(g->srcs[15].layer, 0);
    assert_string_equal(g->dests[0].name, "Resid Mid 0");
    assert_string_equal(g->dests[1].name, "Resid Post 0");
    assert_string_equal(g->dests[22].name, "Resid Mid 11");
    assert_string_equal(g->dests[23].name, "Resid End");
    assert_int_equal(g->dests[0].kind, AC_DEST_RESID_MID);
    assert_int_equal(g->dests[1].kind, AC_DEST_RESID_POST);
    assert_int_equal(g->dests[23].kind, AC_DEST_RESID_END);
    assert_int_equal(g->dests[23].layer, 12);
    for (int b = 0; b < 12; b++) {
        const ac_dest_node *mid = &g->dests[g->resid_mid_dest[b]], *post = &g->dests[g->resid_post_dest[b]];
        assert_int_equal(g->resid_mid_dest[b], 2 * b);
        assert_int_equal(g->resid_post_dest[b], 2 * b + 1);
        assert_int_equal(g->resid_pre_src[b], 15 * b);
        assert_int_equal(mid->src_begin, 15 * b);
        assert_int_equal(mid->n_in, 13);
        assert_int_equal(mid->layer, b);
        assert_int_equal(post->src_begin, g->resid_mid_src[b]);
        assert_int_equal(post->n_in, 2);
        assert_int_equal(post->layer, b + 1);
        assert_int_equal(g->head_src[b], 15 * b + 1);
        assert_int_equal(g->mlp_src[b], 15 * b + 14);
        assert_int_equal(g->mlp_dest[b], -1);
        assert_int_equal(g->attn_dest_begin[b], g->attn_dest_end[b]);
    }
    assert_string_equal(edge_name(g, 0), "Resid Start->Resid Mid 0");
    assert_string_equal(edge_name(g, 12), "A0.11->Resid Mid 0");
    assert_string_equal(edge_name(g, 13), "Resid Mid 0->Resid Post 0");
    assert_string_equal(edge_name(g, 14), "MLP 0->Resid Post 0");
    assert_string_equal(edge_name(g, 15), "Resid Post 0->Resid Mid 1");
    assert_string_equal(edge_name(g, 179), "MLP 11->Resid End");
    /* names that are no edge of the residual graph */
    assert_true(ac_graph_find_edge(g, "Resid Start->Resid Post 0", 0) == (size_t)-1);
    assert_true(ac_graph_find_edge(g, "A0.1->Resid End", 0) == (size_t)-1);
    assert_true(ac_graph_find_edge(g, "A0.1->A1.0.Q", 0) == (size_t)-1);
    assert_true(ac_graph_find_edge(g, "A3.4->Resid Mid 3", 0) == 15 * 3 + 5);
    check_structure(g);
    ac_graph_free(g);
    /* per position: the IOI token task's 13 positions */
    g = build(&c, 13);
    assert_int_equal(g->n_edges_per_pos, 180);
    assert_int_equal(g->n_edges, 2340);
    assert_true(ac_graph_find_edge(g, "MLP 0->Resid Post 0", 4) == 4 * 180 + 14);
    int pos, dd, s;
    ac_graph_edge_at(g, 12 * 180 + 179, &pos, &dd, &s);
    assert_int_equal(pos, 12);
    assert_string_equal(g->dests[dd].name, "Resid End");
    assert_string_equal(g->srcs[s].name, "MLP 11");
    check_structure(g);
    ac_graph_free(g);
}

static void test_attention_only_and_other_shapes(void **state) {
    (void)state;
    /* MicroModel(2)-shaped: 2 layers × 2 heads, attention only: 6 edges (reference §2.9) */
    ac_config micro = shape(AC_ARCH_GPT2, 2, 2, 2, 4, 1);
    ac_graph *g = build(&micro, 0);
    assert_int_equal(g->n_edges, 6);
    assert_int_equal(g->n_edges, ac_graph_residual_edge_count(&micro));
    assert_int_equal(g->n_src, 6);
    assert_int_equal(g->n_dest, 2);
    static const char *const srcs[] = {"Resid Start", "A0.0", "A0.1", "Resid Post 0", "A1.0", "A1.1"};
    for (int s = 0; s < 6; s++) assert_string_equal(g->srcs[s].name, srcs[s]);
    static const char *const edges[] = {"Resid Start->Resid Post 0", "A0.0->Resid Post 0", "A0.1->Resid Post 0",
                                        "Resid Post 0->Resid End", "A1.0->Resid End", "A1.1->Resid End"};
    for (size_t e = 0; e < 6; e++) assert_string_equal(edge_name(g, e), edges[e]);
    assert_int_equal(g->resid_mid_dest[0], -1);
    assert_int_equal(g->resid_mid_src[1], -1);
    assert_int_equal(g->resid_pre_src[1], 3);
    assert_int_equal(g->dests[0].layer, 1);
    assert_int_equal(g->n_graph_layers, 3);
    check_structure(g);
    ac_graph_free(g);
    /* attn-only-4l: 4 × (1 + 8) */
    ac_config a4 = shape(AC_ARCH_GPT2, 4, 8, 8, 512, 1);
    g = build(&a4, 6);
    assert_int_equal(g->n_edges_per_pos, 36);
    assert_int_equal(g->n_edges, 216);
    assert_int_equal(g->n_src, 1 + 32 + 3);
    check_structure(g);
    ac_graph_free(g);
    /* 2-layer GPT-2 (mini_tl_transformer shape): 2 × (3 + 2) */
    ac_config mini = shape(AC_ARCH_GPT2, 2, 2, 2, 4, 0);
    g = build(&mini, 0);
    assert_int_equal(g->n_edges, 10);
    check_structure(g);
    ac_graph_free(g);
    /* grouped-query Llama (stories260K shape): no Q/K/V destinations, so combined or
     * separate Q/K/V does not matter and nothing is refused */
    ac_config ll = shape(AC_ARCH_LLAMA, 5, 8, 4, 64, 0);
    for (int sep = 0; sep < 2; sep++) {
        ac_error err;
        ac_graph_opts o = {.separate_qkv = sep, .residual = 1};
        assert_ac_ok(ac_graph_build(&g, &ll, &o, &err), &err);
        assert_int_equal(g->n_edges, 5 * 11);
        assert_int_equal(g->n_edges, ac_graph_residual_edge_count(&ll));
        check_structure(g);
        ac_graph_free(g);
    }
    /* the factorized graph is unchanged: src_begin 0, no residual nodes */
    ac_error err;
    ac_graph_opts fo = ac_graph_default_opts();
    assert_int_equal(fo.residual, 0);
    assert_ac_ok(ac_graph_build(&g, &mini, &fo, &err), &err);
    assert_int_equal(g->residual, 0);
    assert_int_equal(g->n_edges, 46);
    for (int dd = 0; dd < g->n_dest; dd++) assert_int_equal(g->dests[dd].src_begin, 0);
    for (int l = 0; l < 2; l++) {
        assert_int_equal(g->resid_pre_src[l], -1);
        assert_int_equal(g->resid_mid_dest[l], -1);
        assert_int_equal(g->resid_post_dest[l], -1);
    }
    ac_graph_free(g);
    ac_graph_opts bad = {.seq_len = -1, .residual = 1};
    assert_int_equal(ac_graph_build(&g, &mini, &bad, &err), AC_ERR_ARG);
}

/* ---- engine -------------------------------------------------------------------------- */

enum { B = 3, T = 7 };

typedef enum { M_GPT2, M_ATTN_ONLY, M_LLAMA_GQA, M_NO_LN } model_kind;
static const model_kind all_kinds[] = {M_GPT2, M_ATTN_ONLY, M_LLAMA_GQA, M_NO_LN};
#define N_KINDS (sizeof all_kinds / sizeof *all_kinds)

static ac_model *make_model(model_kind k) {
    ac_config c;
    ac_config_defaults(&c, k == M_LLAMA_GQA ? AC_ARCH_LLAMA : AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 4;
    c.d_model = 16;
    c.d_head = 4;
    c.d_mlp = 24;
    c.vocab_size = 37;
    c.n_ctx = 16;
    if (k == M_ATTN_ONLY) { c.attn_only = 1; c.d_mlp = 0; c.n_layer = 3; }
    if (k == M_LLAMA_GQA) c.n_kv_head = 2;
    if (k == M_NO_LN) { c.norm = AC_NORM_NONE; c.final_norm = 0; }
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 777u + (unsigned)k, k == M_NO_LN ? 0.15f : 0.3f);
    return m;
}

/* left-padded batch: lengths 7, 5, 6 */
static const int32_t clean_ids[B * T] = {5, 9, 2, 30, 11, 4, 17, 0, 0, 8, 3, 3, 21, 6, 0, 12, 1, 33, 7, 7, 2};
static const int32_t corrupt_ids[B * T] = {5, 9, 14, 30, 11, 25, 17, 0, 0, 8, 19, 3, 21, 36, 0, 12, 1, 10, 7, 7, 2};
static const uint8_t pad_mask[B * T] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
static const int32_t answers[B] = {3, 14, 29};
static const int32_t wrongs[B] = {20, 2, 5};

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static ac_graph *make_graph(const ac_model *m, int residual, int seq_len) {
    ac_graph *g;
    ac_error err;
    ac_graph_opts o = {.separate_qkv = 1, .seq_len = seq_len, .residual = residual};
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &o, &err), &err);
    return g;
}

static size_t stack_size(const ac_model *m, const ac_graph *g) {
    return (size_t)g->n_src * B * T * (size_t)ac_model_config(m)->d_model;
}

static void forward(ac_run *r, const int32_t *ids, const float *masks, const float *patch, float *record,
                    float *logits, ac_logits_mode mode) {
    ac_error err;
    ac_tokens in = {.B = B, .T = T, .ids = ids, .mask = pad_mask};
    ac_forward_opts o = {.logits_mode = mode, .logits = logits, .masks = masks, .patch = patch, .record = record};
    assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
}

/* the engine's patched forward (logits at every position and the recorded sources) vs
 * the double reference */
static void check_patch(ac_model *m, ac_graph *g, const float *masks) {
    const int V = ac_model_config(m)->vocab_size;
    const size_t S = stack_size(m, g);
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    float *patch = calloc(S, sizeof(float)), *rec = calloc(S, sizeof(float));
    float *logits = calloc((size_t)(B * T * V), sizeof(float));
    forward(r, corrupt_ids, NULL, NULL, patch, logits, AC_LOGITS_LAST);
    forward(r, clean_ids, masks, patch, rec, logits, AC_LOGITS_ALL);
    double *dpatch = to_double(patch, S), *dmasks = to_double(masks, g->n_edges);
    double *ref = calloc((size_t)(B * T * V), sizeof(double)), *drec = calloc(S, sizeof(double));
    ac_ref_forward(m, g, B, T, clean_ids, pad_mask, dmasks, dpatch, drec, ref, 1);
    for (int i = 0; i < B * T; i++) {
        if (!pad_mask[i]) continue;
        for (int v = 0; v < V; v++) assert_close(logits[i * V + v], ref[i * V + v], 2e-4, 1e-4);
    }
    const size_t n = (size_t)B * T * (size_t)ac_model_config(m)->d_model;
    for (int s = 0; s < g->n_src; s++)
        for (size_t i = 0; i < n; i++)
            if (pad_mask[i / (size_t)ac_model_config(m)->d_model])
                assert_close(rec[(size_t)s * n + i], drec[(size_t)s * n + i], 2e-4, 1e-4);
    free(patch); free(rec); free(logits); free(dpatch); free(dmasks); free(ref); free(drec);
    ac_run_free(r);
}

static void test_patching_matches_reference(void **state) {
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        ac_model *m = make_model(all_kinds[k]);
        for (int per_pos = 0; per_pos < 2; per_pos++) {
            ac_graph *g = make_graph(m, 1, per_pos ? T : 0);
            float *masks = calloc(g->n_edges, sizeof(float));
            check_patch(m, g, masks); /* nothing patched */
            for (int trial = 0; trial < 4; trial++) { /* single edges */
                memset(masks, 0, g->n_edges * sizeof(float));
                masks[(size_t)(urand() * (double)g->n_edges)] = 1.0f;
                check_patch(m, g, masks);
            }
            /* the last edge of every destination alone (Resid End's included) */
            for (int dd = 0; dd < g->n_dest; dd++) {
                memset(masks, 0, g->n_edges * sizeof(float));
                masks[g->dests[dd].edge_offset + (size_t)g->dests[dd].n_in - 1 +
                      (per_pos ? (T - 1) * g->n_edges_per_pos : 0)] = 1.0f;
                check_patch(m, g, masks);
            }
            for (size_t e = 0; e < g->n_edges; e++) masks[e] = (float)urand(); /* every mask */
            check_patch(m, g, masks);
            free(masks);
            ac_graph_free(g);
        }
        ac_model_free(m);
    }
}

/* masks 0: exactly the unpatched forward; masks 1 with corrupt patch values: the corrupt
 * run (each residual destination then equals its corrupt value) */
static void test_masks_zero_and_one(void **state) {
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        ac_model *m = make_model(all_kinds[k]);
        const int V = ac_model_config(m)->vocab_size;
        for (int per_pos = 0; per_pos < 2; per_pos++) {
            ac_graph *g = make_graph(m, 1, per_pos ? T : 0);
            ac_run *r, *plain;
            ac_error err;
            assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
            assert_ac_ok(ac_run_create(&plain, m, NULL, B, T, &err), &err);
            float *patch = calloc(stack_size(m, g), sizeof(float));
            float *masks = calloc(g->n_edges, sizeof(float));
            float corrupt[B * 64], clean[B * 64], plain_l[B * 64], patched[B * 64];
            forward(r, corrupt_ids, NULL, NULL, patch, corrupt, AC_LOGITS_LAST);
            forward(r, clean_ids, masks, patch, NULL, clean, AC_LOGITS_LAST);
            forward(plain, clean_ids, NULL, NULL, NULL, plain_l, AC_LOGITS_LAST);
            int differ = 0;
            for (int i = 0; i < B * V; i++) {
                assert_close(clean[i], plain_l[i], 1e-5, 1e-5);
                differ |= fabsf(clean[i] - corrupt[i]) > 1e-2f;
            }
            assert_true(differ);
            for (size_t e = 0; e < g->n_edges; e++) masks[e] = 1.0f;
            forward(r, clean_ids, masks, patch, NULL, patched, AC_LOGITS_LAST);
            for (int i = 0; i < B * V; i++) assert_close(patched[i], corrupt[i], 2e-4, 1e-4);
            free(patch);
            free(masks);
            ac_run_free(r);
            ac_run_free(plain);
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

static void loss_grad(float *dl, int V) {
    memset(dl, 0, (size_t)(B * V) * sizeof(float));
    for (int b = 0; b < B; b++) {
        dl[b * V + answers[b]] -= 1.0f / B;
        dl[b * V + wrongs[b]] += 1.0f / B;
    }
}

typedef struct {
    const ac_graph *g;
    const float *patch, *curr;
    size_t n;
    int pos_T; /* > 0: per-position sums */
    double *expect;
} dest_grad_ctx;

/* Σ (P_s − C_s) · G_dest for every edge into `dest` (per position when edges are) */
static void collect(void *p, int dest, const float *G) {
    dest_grad_ctx *c = p;
    const ac_dest_node *dn = &c->g->dests[dest];
    const size_t d = c->n / (B * T);
    for (int s = 0; s < dn->n_in; s++) {
        const size_t src = (size_t)(dn->src_begin + s);
        for (size_t i = 0; i < c->n; i++) {
            const size_t t = (i / d) % T;
            const size_t e = dn->edge_offset + (size_t)s + (c->pos_T ? t * c->g->n_edges_per_pos : 0);
            c->expect[e] += ((double)c->patch[src * c->n + i] - c->curr[src * c->n + i]) * G[i];
        }
    }
}

static void check_grads(ac_model *m, ac_graph *g, const float *masks) {
    const int V = ac_model_config(m)->vocab_size;
    const size_t S = stack_size(m, g), n = (size_t)B * T * (size_t)ac_model_config(m)->d_model;
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    float *patch = calloc(S, sizeof(float)), *curr = calloc(S, sizeof(float));
    float logits[B * 64], dl[B * 64];
    forward(r, corrupt_ids, NULL, NULL, patch, logits, AC_LOGITS_LAST);
    forward(r, clean_ids, masks, patch, curr, logits, AC_LOGITS_LAST);
    loss_grad(dl, V);
    float *grad = calloc(g->n_edges, sizeof(float));
    dest_grad_ctx ctx = {g, patch, curr, n, g->seq_len, calloc(g->n_edges, sizeof(double))};
    ac_backward_opts bo = {.dlogits = dl, .mask_grad = grad, .dest_grad = collect, .dest_grad_ctx = &ctx};
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
    double maxg = 0;
    for (size_t e = 0; e < g->n_edges; e++) maxg = fmax(maxg, fabs(grad[e]));
    assert_true(maxg > 1e-3); /* not vacuous */
    /* Σ (P − C) · ∂L/∂dest, from the destination gradients */
    for (size_t e = 0; e < g->n_edges; e++) assert_close(grad[e], ctx.expect[e], 1e-5 + 1e-5 * maxg, 1e-4);
    /* central finite differences of the double reference */
    double *dpatch = to_double(patch, S), *dm = to_double(masks, g->n_edges);
    double lp[B * 64], lm[B * 64];
    const double h = 1e-4;
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
    free(ctx.expect);
    free(patch); free(curr); free(grad); free(dpatch); free(dm);
    ac_run_free(r);
}

static void test_mask_gradients(void **state) {
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        ac_model *m = make_model(all_kinds[k]);
        for (int per_pos = 0; per_pos < 2; per_pos++) {
            ac_graph *g = make_graph(m, 1, per_pos ? T : 0);
            float *masks = calloc(g->n_edges, sizeof(float));
            check_grads(m, g, masks); /* EAP point */
            for (size_t e = 0; e < g->n_edges; e++) masks[e] = (float)urand();
            check_grads(m, g, masks); /* interior: every destination patched */
            free(masks);
            ac_graph_free(g);
        }
        ac_model_free(m);
    }
}

/* test_unfactorized_edges: patching every out-edge of a source in the factorized graph
 * (into destinations of graph layer >= min_dest_gl) equals patching its one edge in the
 * residual graph, at mask 1 and at mask 0.5, and differs from no patching. By the same
 * linearity the residual edge's mask gradient is the sum of those factorized edges'
 * gradients (at masks 0 and 0.5). */
static void check_equivalence(ac_model *m, const char *src_name, int min_dest_gl) {
    const int V = ac_model_config(m)->vocab_size;
    for (int per_pos = 0; per_pos < 2; per_pos++) {
        ac_graph *gf = make_graph(m, 0, per_pos ? T : 0), *gr = make_graph(m, 1, per_pos ? T : 0);
        const int sf = ac_graph_find_src(gf, src_name), sr = ac_graph_find_src(gr, src_name);
        assert_true(sf >= 0 && sr >= 0);
        uint8_t *sel_f = calloc(gf->n_edges, 1), *sel_r = calloc(gr->n_edges, 1);
        size_t nf = 0, nr = 0;
        for (size_t e = 0; e < gf->n_edges; e++) {
            int s, dd;
            ac_graph_edge_at(gf, e, NULL, &dd, &s);
            if (s == sf && gf->dests[dd].graph_layer >= min_dest_gl) sel_f[e] = 1, nf++;
        }
        for (size_t e = 0; e < gr->n_edges; e++) {
            int s;
            ac_graph_edge_at(gr, e, NULL, NULL, &s);
            if (s == sr) sel_r[e] = 1, nr++;
        }
        assert_int_equal(nr, per_pos ? T : 1); /* one edge per position */
        assert_true(nf >= nr);
        ac_run *rf, *rr;
        ac_error err;
        assert_ac_ok(ac_run_create(&rf, m, gf, B, T, &err), &err);
        assert_ac_ok(ac_run_create(&rr, m, gr, B, T, &err), &err);
        float *pf = calloc(stack_size(m, gf), sizeof(float)), *pr = calloc(stack_size(m, gr), sizeof(float));
        float *mf = calloc(gf->n_edges, sizeof(float)), *mr = calloc(gr->n_edges, sizeof(float));
        float *gradf = calloc(gf->n_edges, sizeof(float)), *gradr = calloc(gr->n_edges, sizeof(float));
        float *lf = calloc((size_t)(B * T * V), sizeof(float)), *lr = calloc((size_t)(B * T * V), sizeof(float));
        float *l0 = calloc((size_t)(B * T * V), sizeof(float));
        float dl[B * 64];
        forward(rf, corrupt_ids, NULL, NULL, pf, lf, AC_LOGITS_LAST);
        forward(rr, corrupt_ids, NULL, NULL, pr, lr, AC_LOGITS_LAST);
        forward(rf, clean_ids, NULL, NULL, NULL, l0, AC_LOGITS_ALL);
        static const float vals[3] = {1.0f, 0.5f, 0.0f};
        for (int k = 0; k < 3; k++) {
            for (size_t e = 0; e < gf->n_edges; e++) mf[e] = sel_f[e] ? vals[k] : 0.0f;
            for (size_t e = 0; e < gr->n_edges; e++) mr[e] = sel_r[e] ? vals[k] : 0.0f;
            forward(rf, clean_ids, mf, pf, NULL, lf, AC_LOGITS_ALL);
            forward(rr, clean_ids, mr, pr, NULL, lr, AC_LOGITS_ALL);
            double diff = 0;
            for (int i = 0; i < B * T; i++) {
                if (!pad_mask[i]) continue;
                for (int v = 0; v < V; v++) {
                    assert_close(lr[i * V + v], lf[i * V + v], 1e-5, 1e-5);
                    diff = fmax(diff, fabs(lf[i * V + v] - l0[i * V + v]));
                }
            }
            if (k < 2) assert_true(diff > 1e-3);
            if (k == 0) continue;
            /* gradients at the last position's loss (every position's logits above) */
            forward(rf, clean_ids, mf, pf, NULL, lf, AC_LOGITS_LAST);
            forward(rr, clean_ids, mr, pr, NULL, lr, AC_LOGITS_LAST);
            loss_grad(dl, V);
            memset(gradf, 0, gf->n_edges * sizeof(float));
            memset(gradr, 0, gr->n_edges * sizeof(float));
            ac_backward_opts bf = {.dlogits = dl, .mask_grad = gradf}, br = {.dlogits = dl, .mask_grad = gradr};
            assert_ac_ok(ac_run_backward(rf, &bf, &err), &err);
            assert_ac_ok(ac_run_backward(rr, &br, &err), &err);
            for (int pos = 0; pos < (per_pos ? T : 1); pos++) {
                double sum = 0, gmax = 0;
                for (size_t e = 0; e < gf->n_edges; e++) {
                    int p;
                    ac_graph_edge_at(gf, e, &p, NULL, NULL);
                    if (sel_f[e] && p == (per_pos ? pos : -1)) sum += gradf[e];
                    gmax = fmax(gmax, fabs(gradf[e]));
                }
                double got = 0;
                for (size_t e = 0; e < gr->n_edges; e++) {
                    int p;
                    ac_graph_edge_at(gr, e, &p, NULL, NULL);
                    if (sel_r[e] && p == (per_pos ? pos : -1)) got = gradr[e];
                }
                assert_close(got, sum, 1e-5 + 1e-5 * gmax, 1e-4);
            }
        }
        free(sel_f); free(sel_r); free(mf); free(mr); free(gradf); free(gradr);
        free(pf); free(pr); free(lf); free(lr); free(l0);
        ac_run_free(rf);
        ac_run_free(rr);
        ac_graph_free(gf);
        ac_graph_free(gr);
    }
}

static void test_equivalence_with_factorized(void **state) {
    (void)state;
    ac_model *m = make_model(M_GPT2);
    check_equivalence(m, "A0.1", 0);
    check_equivalence(m, "A1.2", 0);
    check_equivalence(m, "MLP 0", 0);
    /* block 0's attention reads Resid Start directly, not through a residual destination:
     * Resid Start->Resid Mid 0 is the factorized Resid Start edges of graph layer >= 2
     * (everything but block 0's Q/K/V) */
    check_equivalence(m, "Resid Start", 2);
    ac_model_free(m);
    m = make_model(M_ATTN_ONLY);
    check_equivalence(m, "A0.1", 0);
    check_equivalence(m, "A1.3", 0);
    check_equivalence(m, "Resid Start", 2);
    ac_model_free(m);
    m = make_model(M_LLAMA_GQA);
    check_equivalence(m, "A0.1", 0);
    check_equivalence(m, "MLP 1", 0);
    ac_model_free(m);
}

/* partial re-runs from a destination's block equal full forwards, destinations visited
 * last first, some masks reverted (as ACDC and exact patching use them) */
static void test_partial_reruns(void **state) {
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        ac_model *m = make_model(all_kinds[k]);
        const int V = ac_model_config(m)->vocab_size;
        for (int per_pos = 0; per_pos < 2; per_pos++) {
            ac_graph *g = make_graph(m, 1, per_pos ? T : 0);
            ac_run *r, *full;
            ac_error err;
            assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
            assert_ac_ok(ac_run_create(&full, m, g, B, T, &err), &err);
            float *patch = calloc(stack_size(m, g), sizeof(float));
            float *masks = calloc(g->n_edges, sizeof(float));
            float a[B * 64], b[B * 64];
            forward(r, corrupt_ids, NULL, NULL, patch, a, AC_LOGITS_LAST);
            forward(r, clean_ids, masks, patch, NULL, a, AC_LOGITS_LAST);
            int n = 0;
            for (int dd = g->n_dest - 1; dd >= 0; dd--) {
                const ac_dest_node *dn = &g->dests[dd];
                for (int s = dn->src_begin + dn->n_in - 1; s >= dn->src_begin; s--, n++) {
                    size_t e = ac_graph_edge_index(g, per_pos ? T - 1 - n % 2 : 0, dd, s);
                    masks[e] = 1.0f;
                    ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
                    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = a, .masks = masks, .patch = patch,
                                         .partial = 1, .start_block = dn->layer,
                                         .start_mlp = dn->kind == AC_DEST_RESID_MID};
                    assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
                    forward(full, clean_ids, masks, patch, NULL, b, AC_LOGITS_LAST);
                    for (int i = 0; i < B * V; i++) assert_close(a[i], b[i], 1e-5, 1e-5);
                    if (n % 3 == 1) masks[e] = 0.0f;
                }
            }
            free(patch);
            free(masks);
            ac_run_free(r);
            ac_run_free(full);
            ac_graph_free(g);
        }
        ac_model_free(m);
    }
}

/* per-row masks (subnetwork probing): row b of a per-row forward and backward equals a
 * shared-mask forward with row b's masks, its loss alone */
static void test_per_row_masks(void **state) {
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        ac_model *m = make_model(all_kinds[k]);
        const int V = ac_model_config(m)->vocab_size;
        for (int per_pos = 0; per_pos < 2; per_pos++) {
            ac_graph *g = make_graph(m, 1, per_pos ? T : 0);
            const size_t E = g->n_edges;
            ac_run *r;
            ac_error err;
            assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
            float *patch = calloc(stack_size(m, g), sizeof(float));
            float *masks = calloc(B * E, sizeof(float)), *grad = calloc(B * E, sizeof(float));
            float *g1 = calloc(E, sizeof(float));
            for (size_t i = 0; i < B * E; i++) masks[i] = (float)urand();
            float lrow[B * 64], l1[B * 64], dl[B * 64], dl1[B * 64];
            forward(r, corrupt_ids, NULL, NULL, patch, lrow, AC_LOGITS_LAST);
            ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
            ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = lrow, .masks = masks, .patch = patch,
                                 .masks_per_row = 1};
            assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
            loss_grad(dl, V);
            ac_backward_opts bo = {.dlogits = dl, .mask_grad = grad};
            assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
            int rows_differ = 0;
            for (int b = 0; b < B; b++) {
                forward(r, clean_ids, masks + (size_t)b * E, patch, NULL, l1, AC_LOGITS_LAST);
                for (int v = 0; v < V; v++) assert_close(lrow[b * V + v], l1[b * V + v], 1e-5, 1e-5);
                memset(dl1, 0, sizeof dl1);
                memcpy(dl1 + b * V, dl + b * V, (size_t)V * sizeof(float));
                memset(g1, 0, E * sizeof(float));
                ac_backward_opts b1 = {.dlogits = dl1, .mask_grad = g1};
                assert_ac_ok(ac_run_backward(r, &b1, &err), &err);
                for (size_t e = 0; e < E; e++) {
                    assert_close(grad[(size_t)b * E + e], g1[e], 1e-5, 1e-4);
                    if (b > 0) rows_differ |= fabsf(grad[(size_t)b * E + e] - grad[e]) > 1e-4f;
                }
            }
            assert_true(rows_differ);
            free(patch); free(masks); free(grad); free(g1);
            ac_run_free(r);
            ac_graph_free(g);
        }
        ac_model_free(m);
    }
}

/* ---- algorithms ---------------------------------------------------------------------- */

enum { DV = 23, NPROMPT = 6 };

/* prompt pairs of 7 tokens; with `shared` every prompt starts with 4 9 (a cacheable
 * prefix of 2) */
static const char *write_dataset(const char *name, int shared) {
    const char *path = ac_test_path(ac_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < NPROMPT; i++) {
        const int a = shared ? 4 : 1 + i, b = shared ? 9 : 2 + i;
        fprintf(f, "{\"clean\": [%d, %d, %d, %d, %d, %d, %d], \"corrupt\": [%d, %d, %d, %d, %d, %d, %d], ", a, b,
                3 + i, 4 + i % 3, 5, 6 + i, 2, a, b, 10 + i, 11, 5, 6 + i, 2);
        if (i % 3 == 2) fprintf(f, "\"answers\": [%d, %d], \"wrong_answers\": [%d]}", 7 + i, 2, 12);
        else fprintf(f, "\"answers\": [%d], \"wrong_answers\": [%d, %d]}", 7 + i, 12 + i % 4, 20);
        fprintf(f, "%s\n", i + 1 < NPROMPT ? "," : "");
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

static fixture setup(model_kind kind, int per_pos, size_t batch, int shared) {
    fixture f;
    ac_error err;
    ac_config c;
    ac_config_defaults(&c, kind == M_LLAMA_GQA ? AC_ARCH_LLAMA : AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = 2;
    c.n_kv_head = kind == M_LLAMA_GQA ? 1 : 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = kind == M_ATTN_ONLY ? 0 : 16;
    c.attn_only = kind == M_ATTN_ONLY;
    c.vocab_size = DV;
    c.n_ctx = 16;
    assert_ac_ok(ac_model_create(&f.m, &c, &err), &err);
    ac_model_init_random(f.m, 99, 0.5f);
    ac_graph_opts go = {.seq_len = per_pos ? 7 : 0, .residual = 1};
    assert_ac_ok(ac_graph_build(&f.g, &c, &go, &err), &err);
    const char *path = write_dataset(shared ? "shared.json" : "plain.json", shared);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.pad_id = 0;
    o.vocab_size = DV;
    o.train_size = NPROMPT;
    o.test_size = 0;
    o.train_batch_size = o.test_batch_size = batch;
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

/* exact patching of one edge equals evaluating the one-edge circuit: edge patching,
 * reversed (clean input, the corrupt value patched into that edge alone) */
static void test_exact_equals_single_edge_evaluate(void **state) {
    (void)state;
    static const model_kind kinds[] = {M_GPT2, M_ATTN_ONLY, M_LLAMA_GQA};
    for (size_t k = 0; k < 3; k++)
        for (int per_pos = 0; per_pos < 2; per_pos++) {
            fixture f = setup(kinds[k], per_pos, NPROMPT, 0);
            ac_discover_opts o;
            ac_discover_opts_default(&o);
            ac_error err;
            const size_t E = f.g->n_edges;
            float *ex = calloc(E, sizeof(float));
            assert_ac_ok(ac_algo_exact(f.c, &o, ex, &err), &err);
            uint8_t *one = calloc(E, 1);
            ac_eval_opts eo = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE, .reverse = 1};
            ac_eval_point none;
            assert_ac_ok(ac_evaluate_circuit(f.c, one, &eo, &none, &err), &err);
            int nonzero = 0;
            for (size_t e = 0; e < E; e++) {
                one[e] = 1;
                ac_eval_point p;
                assert_ac_ok(ac_evaluate_circuit(f.c, one, &eo, &p, &err), &err);
                one[e] = 0;
                assert_int_equal(p.edges, 1);
                /* loss = −logit diff; one batch, so the means agree */
                assert_close(ex[e], -(p.logit_diff - none.logit_diff), 2e-5, 1e-4);
                nonzero += fabsf(ex[e]) > 1e-4f;
            }
            assert_true(nonzero > (int)E / 4);
            free(ex);
            free(one);
            teardown_fx(&f);
        }
}

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
        const size_t src = (size_t)(dn->src_begin + s);
        double a = 0;
        for (size_t i = 0; i < c->n; i++) a += ((double)c->patch[src * c->n + i] - c->clean[src * c->n + i]) * G[i];
        c->acc[dn->edge_offset + (size_t)s] += a;
    }
}

/* EAP = Σ (patch − clean) · ∂L/∂dest from the destination gradients; IG with one step =
 * the gradients at masks 0 and 1; EAP-IG with one input step = −(clean-patch mask
 * gradient on the corrupt input); EAP follows exact patching on this graph */
static void test_gradient_algorithms(void **state) {
    (void)state;
    fixture f = setup(M_GPT2, 0, NPROMPT, 0);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    ac_error err;
    const size_t E = f.g->n_edges;
    const ac_batch *b = &ac_dataset_split(f.ds, AC_SPLIT_TRAIN)->batches[0];
    const size_t n = b->batch_size * b->seq_len * 8, S = (size_t)f.g->n_src * n;
    float *eap = calloc(E, sizeof(float)), *ex = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, eap, &err), &err);
    assert_ac_ok(ac_algo_exact(f.c, &o, ex, &err), &err);
    /* brute force with a separate run */
    float *patch = calloc(S, sizeof(float)), *clean = calloc(S, sizeof(float));
    float logits[NPROMPT * DV], dl[NPROMPT * DV];
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
    assert_ac_ok(ac_answer_loss(logits, b->batch_size, DV, &sets, &spec, &loss, dl, &err), &err);
    double *acc = calloc(E, sizeof(double));
    brute_ctx bc = {f.g, patch, clean, n, acc};
    ac_backward_opts bo = {.dlogits = dl, .dest_grad = brute, .dest_grad_ctx = &bc};
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
    double maxv = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t e = 0; e < E; e++) {
        assert_close(eap[e], acc[e], 1e-5, 1e-4);
        maxv = fmax(maxv, fabs(acc[e]));
        sxy += (double)ex[e] * eap[e];
        sxx += (double)ex[e] * ex[e];
        syy += (double)eap[e] * eap[e];
    }
    assert_true(maxv > 1e-2);
    /* node-level patches of this random model are far from linear (EAP and exact even
     * disagree in sign on whole-residual edges): informational only */
    printf("  residual graph: EAP vs exact correlation %.3f\n", sxy / sqrt(sxx * syy));
    /* IG with one step */
    o.steps = 1;
    float *ig = calloc(E, sizeof(float)), *at1 = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 1, ig, &err), &err);
    o.mask_val = 1.0f;
    assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, at1, &err), &err);
    o.mask_val = 0.0f;
    int differs = 0;
    for (size_t e = 0; e < E; e++) {
        assert_close(ig[e], eap[e] + at1[e], 1e-5, 1e-4);
        differs |= fabsf(eap[e] - at1[e]) > 1e-3f;
    }
    assert_true(differs);
    /* EAP-IG over inputs, one step: the corrupt input, mask gradients of clean − corrupt */
    float *eig = calloc(E, sizeof(float)), *gc = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_eap_ig_inputs(f.c, &o, eig, &err), &err);
    ac_forward_opts o3 = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .patch = clean};
    assert_ac_ok(ac_run_forward(r, &cor, &o3, &err), &err);
    assert_ac_ok(ac_answer_loss(logits, b->batch_size, DV, &sets, &spec, &loss, dl, &err), &err);
    ac_backward_opts bo3 = {.dlogits = dl, .mask_grad = gc};
    assert_ac_ok(ac_run_backward(r, &bo3, &err), &err);
    for (size_t e = 0; e < E; e++) assert_close(eig[e], -gc[e], 1e-5, 1e-4);
    ac_run_free(r);
    free(eap); free(ex); free(patch); free(clean); free(acc); free(ig); free(at1); free(eig); free(gc);
    teardown_fx(&f);
}

/* ACDC against a naive ACDC whose every step is a tree-patching evaluation */
static void test_acdc_steps_equal_tree_patching(void **state) {
    (void)state;
    static const model_kind kinds[] = {M_GPT2, M_ATTN_ONLY};
    for (size_t k = 0; k < 2; k++) {
        fixture f = setup(kinds[k], 0, NPROMPT, 0);
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
        int removed = 0, kept = 0;
        for (size_t e = 0; e < E; e++) {
            assert_true(sc[e] == naive[e]);
            removed += isfinite(sc[e]);
            kept += isinf(sc[e]);
        }
        assert_true(removed > 0 && kept > 0);
        free(sc); free(naive); free(circ);
        teardown_fx(&f);
    }
}

/* circuit evaluation: no edges = the corrupt run, every edge = the clean run; the
 * activation-magnitude baseline scores an edge by its source's mean output */
static void test_evaluate_and_baselines(void **state) {
    (void)state;
    fixture f = setup(M_GPT2, 0, 4, 0);
    ac_error err;
    const size_t E = f.g->n_edges;
    float *sc = calloc(E, sizeof(float));
    ac_algo_random(f.g, 7, sc);
    size_t counts[3] = {0, 3, E};
    ac_eval_point p[3];
    ac_eval_opts eo = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE};
    assert_ac_ok(ac_evaluate(f.c, sc, counts, 3, &eo, p, &err), &err);
    assert_int_equal(p[2].edges, E);
    assert_close(p[2].kl, 0.0, 1e-6, 0);
    assert_close(p[2].logit_diff_percent, 100.0, 1e-3, 0);
    assert_true(p[0].kl > 1e-3);
    ac_eval_opts to = {.tree = 1, .ablation = AC_ABLATION_MEAN_CORRUPT};
    assert_ac_ok(ac_evaluate(f.c, sc, counts, 3, &to, p, &err), &err);
    assert_close(p[2].kl, 0.0, 1e-6, 0);
    assert_true(p[0].kl > 1e-3);
    /* activation magnitude: every edge of a source scores |its mean clean output| */
    assert_ac_ok(ac_algo_activation_magnitude(f.c, sc, &err), &err);
    const ac_split *sp = ac_dataset_split(f.ds, AC_SPLIT_TRAIN);
    const int src = f.g->resid_mid_src[1];
    double mean = 0;
    for (size_t bi = 0; bi < sp->n_batches; bi++) {
        const ac_batch *b = &sp->batches[bi];
        const size_t n = b->batch_size * b->seq_len * 8;
        float *rec = calloc((size_t)f.g->n_src * n, sizeof(float));
        ac_run *r;
        assert_ac_ok(ac_run_create(&r, f.m, f.g, (int)b->batch_size, (int)b->seq_len, &err), &err);
        ac_tokens cle = {(int)b->batch_size, (int)b->seq_len, b->clean, b->clean_mask};
        ac_forward_opts fo = {.logits_mode = AC_LOGITS_NONE, .record = rec};
        assert_ac_ok(ac_run_forward(r, &cle, &fo, &err), &err);
        double acc = 0;
        for (size_t i = 0; i < n; i++) acc += rec[(size_t)src * n + i];
        mean += acc / (double)n / (double)sp->n_batches;
        ac_run_free(r);
        free(rec);
    }
    size_t e = ac_graph_find_edge(f.g, "Resid Mid 1->Resid End", 0);
    assert_true(e != (size_t)-1);
    assert_close(sc[e], fabs(mean), 1e-6, 1e-5);
    free(sc);
    teardown_fx(&f);
}

/* subnetwork probing (per-row hard-concrete masks) runs on the residual graph */
static void test_probing_runs(void **state) {
    (void)state;
    fixture f = setup(M_GPT2, 0, 3, 0);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.probe_epochs = 3;
    ac_error err;
    const size_t E = f.g->n_edges;
    float *sc = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_probe(f.c, &o, sc, &err), &err);
    int moved = 0;
    for (size_t e = 0; e < E; e++) {
        assert_true(isfinite(sc[e]) && sc[e] >= 0);
        moved |= sc[e] > 1e-6f;
    }
    assert_true(moved);
    free(sc);
    teardown_fx(&f);
}

static void compare(const char *what, const float *a, const float *b, size_t n, double rtol) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        if (isinf(b[i])) {
            assert_true(a[i] == b[i]);
            continue;
        }
        if (!(fabs(a[i] - b[i]) <= 1e-5 * mx + rtol * fabs(b[i]))) {
            print_error("%s: edge %zu: %.9g vs %.9g\n", what, i, a[i], b[i]);
            fail();
        }
    }
}

/* the shared-prefix cache gives the uncached results on the residual graph */
static void test_prefix_cache(void **state) {
    (void)state;
    static const model_kind kinds[] = {M_GPT2, M_ATTN_ONLY, M_LLAMA_GQA};
    for (size_t k = 0; k < 3; k++)
        for (int per_pos = 0; per_pos < 2; per_pos++) {
            fixture f = setup(kinds[k], per_pos, 3, 1);
            assert_int_equal(ac_algo_ctx_prefix_len(f.c), 2);
            ac_discover_opts o;
            ac_discover_opts_default(&o);
            static const double taus[] = {1e-3, 1e-2};
            o.taus = taus;
            o.n_taus = 2;
            o.acdc_all_batches = 0;
            ac_error err;
            const size_t E = f.g->n_edges;
            float *on = calloc(E, sizeof(float)), *off = calloc(E, sizeof(float));
            for (int algo = 0; algo < 3; algo++) {
                for (int cache = 1; cache >= 0; cache--) {
                    ac_algo_ctx_set_prefix_cache(f.c, cache);
                    float *out = cache ? on : off;
                    if (algo == 0) assert_ac_ok(ac_algo_mask_gradient(f.c, &o, 0, out, &err), &err);
                    if (algo == 1) assert_ac_ok(ac_algo_exact(f.c, &o, out, &err), &err);
                    if (algo == 2) assert_ac_ok(ac_algo_acdc(f.c, &o, out, &err), &err);
                }
                compare(algo == 0 ? "EAP" : algo == 1 ? "exact" : "ACDC", on, off, E, algo == 2 ? 0 : 1e-4);
            }
            size_t counts[3] = {0, 4, E};
            ac_eval_point a[3], b[3];
            ac_eval_opts eo = {.tree = 1, .ablation = AC_ABLATION_RESAMPLE};
            ac_algo_ctx_set_prefix_cache(f.c, 1);
            assert_ac_ok(ac_evaluate(f.c, on, counts, 3, &eo, a, &err), &err);
            ac_algo_ctx_set_prefix_cache(f.c, 0);
            assert_ac_ok(ac_evaluate(f.c, on, counts, 3, &eo, b, &err), &err);
            for (int i = 0; i < 3; i++) {
                assert_close(a[i].kl, b[i].kl, 1e-6, 1e-4);
                assert_close(a[i].logit_diff, b[i].logit_diff, 1e-5, 1e-5);
            }
            free(on);
            free(off);
            teardown_fx(&f);
        }
}

/* autocircuit info: the residual graph's sizes come from the real graph; --residual
 * lists its edges */
static void test_cli_info(void **state) {
    (void)state;
    ac_model *m = make_model(M_GPT2);
    const char *dir = ac_test_path(ac_test_tmpdir(), "gpt2-tiny");
    ac_error err;
    assert_ac_ok(ac_model_save(m, dir, &err), &err);
    ac_model_free(m);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' info --model '%s' --seq-len 3 --residual", ac_test_cli(), dir);
    char *out = NULL;
    assert_int_equal(ac_test_run(cmd, &out), 0);
    assert_non_null(out);
    static const char *const want[] = {"14 sources, 4 destinations, 14 edges (node-level residual graph)",
                                       ", 42 residual\n", "residual graph edges\n",
                                       "     0  Resid Start->Resid Mid 0\n", "     5  Resid Mid 0->Resid Post 0\n",
                                       "     7  Resid Post 0->Resid Mid 1\n", "    13  MLP 1->Resid End\n"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(out, want[i])) fail_msg("info output lacks '%s':\n%s", want[i], out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' info --model '%s' --json --residual", ac_test_cli(), dir);
    assert_int_equal(ac_test_run(cmd, &out), 0);
    static const char *const want_json[] = {"\"residual_graph_edges\": 14", "\"residual_graph_sources\": 14",
                                            "\"residual_graph_destinations\": 4", "\"MLP 0->Resid Post 0\""};
    for (size_t i = 0; i < sizeof want_json / sizeof *want_json; i++)
        if (!strstr(out, want_json[i])) fail_msg("info --json output lacks '%s':\n%s", want_json[i], out);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_small_names_order_counts),
        cmocka_unit_test(test_attention_only_and_other_shapes),
        cmocka_unit_test(test_patching_matches_reference),
        cmocka_unit_test(test_masks_zero_and_one),
        cmocka_unit_test(test_mask_gradients),
        cmocka_unit_test(test_equivalence_with_factorized),
        cmocka_unit_test(test_partial_reruns),
        cmocka_unit_test(test_per_row_masks),
        cmocka_unit_test(test_exact_equals_single_edge_evaluate),
        cmocka_unit_test(test_gradient_algorithms),
        cmocka_unit_test(test_acdc_steps_equal_tree_patching),
        cmocka_unit_test(test_evaluate_and_baselines),
        cmocka_unit_test(test_probing_runs),
        cmocka_unit_test(test_prefix_cache),
        cmocka_unit_test(test_cli_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
