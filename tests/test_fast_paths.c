/* The performance paths against their reference paths (docs/performance.md).
 *
 * Exact patching's stacked re-runs (src/model/stacked.c) against the edge-by-edge
 * reference path (one partial re-run per edge through ac_run_forward): every model
 * family, separate and combined Q/K/V, shared and per-position edges, padded batches,
 * with and without the shared-prefix cache, and chunk sizes from one edge to whole
 * destinations. Also the stacked logits of single chunks against explicit patched
 * forwards, and the engine's argument checks.
 *
 * Mask gradients (EAP, integrated gradients) in sub-batches under a source-stack budget
 * against whole batches. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algos/algo_internal.h"
#include "autocircuit/algos.h"
#include "model/stacked.h"

enum { V = 40, NP = 6, LEN = 8 };

typedef enum { M_GPT2, M_ATTN_ONLY, M_LLAMA_GQA, M_QWEN_BIAS, M_NO_LN } model_kind;
static const char *const kind_names[] = {"gpt2", "attn-only", "llama-gqa", "qwen-bias", "gpt2-no-ln"};

static ac_model *make_model(model_kind k) {
    ac_config c;
    ac_config_defaults(&c, k == M_LLAMA_GQA || k == M_QWEN_BIAS ? AC_ARCH_LLAMA : AC_ARCH_GPT2);
    c.n_layer = 3;
    c.n_head = c.n_kv_head = 4;
    c.d_model = 16;
    c.d_head = 4;
    c.d_mlp = 24;
    c.vocab_size = V;
    c.n_ctx = 16;
    if (k == M_ATTN_ONLY) {
        c.attn_only = 1;
        c.d_mlp = 0;
    }
    if (k == M_LLAMA_GQA || k == M_QWEN_BIAS) c.n_kv_head = 2;
    if (k == M_QWEN_BIAS) c.attn_bias = 1;
    if (k == M_NO_LN) c.norm = AC_NORM_NONE;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 777u + (unsigned)k, k == M_NO_LN ? 0.2f : 0.4f); /* no norm: keep activations tame */
    return m;
}

/* NP pairs sharing a 2-token opening; odd prompts one token shorter (padded batches) */
static const char *write_dataset(void) {
    const char *path = ac_test_path(ac_test_tmpdir(), "stacked.json");
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < NP; i++) {
        int cl[LEN] = {3, 8, 1 + i, 6, 10 + i, 20 + i % 3, 12 + i, 7};
        int co[LEN];
        memcpy(co, cl, sizeof co);
        co[2] = 30 + i % 5;
        co[5] = 25;
        for (int side = 0; side < 2; side++) {
            const int *x = side ? co : cl;
            fprintf(f, "%s\"%s\": [", side ? ", " : "{", side ? "corrupt" : "clean");
            for (int t = 0, first = 1; t < LEN; t++) {
                if (i % 2 && t == 4) continue;
                fprintf(f, "%s%d", first ? "" : ", ", x[t]);
                first = 0;
            }
            fprintf(f, "]");
        }
        fprintf(f, ", \"answers\": [%d], \"wrong_answers\": [%d]}%s\n", 14 + i % 5, 33 - i % 3, i + 1 < NP ? "," : "");
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
    o.train_size = NP;
    o.test_size = 0;
    o.train_batch_size = o.test_batch_size = batch;
    ac_dataset *ds;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, &path, 1, NULL, &o, &err), &err);
    return ds;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* exact patching with stack_rows = -1 (reference) and several chunk sizes */
static void check_case(model_kind kind, int separate_qkv, int per_pos, ac_ablation ablation, int prefix) {
    ac_model *m = make_model(kind);
    ac_dataset *ds = load_dataset(4); /* batches of 4 and 2 */
    const ac_split *sp = ac_dataset_split(ds, AC_SPLIT_TRAIN);
    ac_graph *g;
    ac_error err;
    ac_graph_opts go = {.separate_qkv = separate_qkv, .seq_len = per_pos ? (int)sp->batches[0].seq_len : 0};
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &go, &err), &err);
    ac_algo_ctx *c;
    assert_ac_ok(ac_algo_ctx_create(&c, m, g, sp, &err), &err);
    ac_algo_ctx_set_prefix_cache(c, prefix);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.ablation = ablation;
    const size_t E = g->n_edges;
    float *ref = calloc(E, sizeof(float)), *got = calloc(E, sizeof(float));
    c->stack_rows = -1;
    assert_ac_ok(ac_algo_exact(c, &o, ref, &err), &err);
    const double mx = max_abs(ref, E);
    assert_true(mx > 1e-3);
    /* rows per chunk: one edge (k = 1), 3 edges of a batch of 4 (chunks ending part-way
       through a destination), the default (whole destinations here) */
    const long rows[] = {1, 3 * 4 * (long)sp->batches[0].seq_len, 0};
    double worst = 0;
    for (size_t v = 0; v < sizeof rows / sizeof *rows; v++) {
        c->stack_rows = rows[v];
        assert_ac_ok(ac_algo_exact(c, &o, got, &err), &err);
        for (size_t e = 0; e < E; e++) {
            assert_close(got[e], ref[e], 2e-5 * mx + 1e-6, 1e-4);
            worst = fmax(worst, fabs((double)got[e] - ref[e]));
        }
    }
    printf("  %-11s %s, %s edges, %s%s: max |stacked - reference| %.2e (max |score| %.2e)\n", kind_names[kind],
           separate_qkv ? "Q/K/V" : "combined QKV", per_pos ? "per-position" : "shared", ac_ablation_name(ablation),
           prefix && ac_algo_ctx_prefix_len(c) ? ", prefix cache" : "", worst, mx);
    free(ref);
    free(got);
    ac_algo_ctx_free(c);
    ac_graph_free(g);
    ac_dataset_free(ds);
    ac_model_free(m);
}

static void test_stacked_equals_edge_by_edge(void **state) {
    (void)state;
    for (int k = M_GPT2; k <= M_NO_LN; k++) {
        check_case((model_kind)k, 1, 0, AC_ABLATION_RESAMPLE, 1);
        check_case((model_kind)k, 1, 1, AC_ABLATION_RESAMPLE, 1);
    }
    check_case(M_GPT2, 0, 0, AC_ABLATION_RESAMPLE, 1);   /* combined Q/K/V */
    check_case(M_GPT2, 0, 1, AC_ABLATION_ZERO, 0);       /* combined, per position, no cache */
    check_case(M_LLAMA_GQA, 1, 0, AC_ABLATION_MEAN, 0);  /* GQA without the cache */
    check_case(M_ATTN_ONLY, 1, 1, AC_ABLATION_RESAMPLE, 0);
}

static int find_dest(const ac_graph *g, int layer, ac_dest_kind kind, int head) {
    for (int d = 0; d < g->n_dest; d++)
        if (g->dests[d].layer == layer && g->dests[d].kind == kind && g->dests[d].head == head) return d;
    fail_msg("no destination of kind %d head %d in layer %d", (int)kind, head, layer);
    return -1;
}

/* One chunk's logits against explicit patched forwards, and argument checks */
static void test_chunk_logits_and_errors(void **state) {
    (void)state;
    ac_model *m = make_model(M_LLAMA_GQA);
    const ac_config *cfg = ac_model_config(m);
    ac_graph *g;
    ac_error err;
    ac_graph_opts go = ac_graph_default_opts();
    assert_ac_ok(ac_graph_build(&g, cfg, &go, &err), &err);
    enum { B = 3, T = 5 };
    int32_t ids[B * T], cids[B * T];
    for (int i = 0; i < B * T; i++) {
        ids[i] = (i * 7 + 3) % V;
        cids[i] = (i * 11 + 5) % V;
    }
    ac_run *r;
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    const size_t stack = (size_t)g->n_src * B * T * (size_t)cfg->d_model;
    float *patch = calloc(stack, sizeof(float)), *masks = calloc(g->n_edges, sizeof(float));
    float *base = calloc((size_t)B * V, sizeof(float)), *want = calloc((size_t)B * V, sizeof(float));
    ac_tokens cor = {B, T, cids, NULL}, cle = {B, T, ids, NULL};
    ac_forward_opts rec = {.logits_mode = AC_LOGITS_NONE, .record = patch};
    assert_ac_ok(ac_run_forward(r, &cor, &rec, &err), &err);
    ac_edge_stack *st;
    assert_ac_ok(ac__edge_stack_create(&st, r, 4, &err), &err);
    float *got = calloc((size_t)4 * B * V, sizeof(float));
    /* no patch values yet: not usable */
    ac_forward_opts plain = {.logits_mode = AC_LOGITS_LAST, .logits = base};
    assert_ac_ok(ac_run_forward(r, &cle, &plain, &err), &err);
    assert_false(ac__edge_stack_usable(r));
    int s0[1] = {0};
    assert_int_equal(ac__edge_stack_run(st, r, g->n_dest - 1, 0, s0, 1, got, &err), AC_ERR_ARG);
    /* destinations of every kind: a K input (two query heads read it), Q, V, an MLP,
       a last-layer MLP, Resid End */
    const int dests[] = {find_dest(g, 1, AC_DEST_K, 1), find_dest(g, 2, AC_DEST_Q, 2), find_dest(g, 0, AC_DEST_V, 1),
                         g->mlp_dest[0], g->mlp_dest[cfg->n_layer - 1], g->n_dest - 1};
    for (size_t i = 0; i < sizeof dests / sizeof *dests; i++) {
        const ac_dest_node *dn = &g->dests[dests[i]];
        int srcs[4], k = dn->n_in < 4 ? dn->n_in : 4;
        for (int j = 0; j < k; j++) srcs[j] = dn->src_begin + (j * 5) % dn->n_in;
        ac_forward_opts fb = {.logits_mode = AC_LOGITS_LAST, .logits = base, .masks = masks, .patch = patch};
        assert_ac_ok(ac_run_forward(r, &cle, &fb, &err), &err);
        assert_true(ac__edge_stack_usable(r));
        assert_ac_ok(ac__edge_stack_run(st, r, dests[i], 0, srcs, k, got, &err), &err);
        for (int j = 0; j < k; j++) {
            /* a fresh full forward with that edge alone patched */
            const size_t e = ac_graph_edge_index(g, 0, dests[i], srcs[j]);
            masks[e] = 1.0f;
            ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = want, .masks = masks, .patch = patch};
            assert_ac_ok(ac_run_forward(r, &cle, &fo, &err), &err);
            masks[e] = 0.0f;
            double diff = 0;
            for (int q = 0; q < B * V; q++) {
                assert_close(got[(size_t)j * B * V + (size_t)q], want[q], 1e-5, 1e-4);
                diff = fmax(diff, fabs((double)want[q] - base[q]));
            }
            if (j == 0 && dn->kind != AC_DEST_RESID_END) assert_true(diff > 1e-4); /* the patch did something */
        }
    }
    /* argument errors */
    ac_forward_opts fb = {.logits_mode = AC_LOGITS_LAST, .logits = base, .masks = masks, .patch = patch};
    assert_ac_ok(ac_run_forward(r, &cle, &fb, &err), &err);
    int bad[1] = {g->n_src - 1}; /* Resid End's last source does not feed layer 0 */
    assert_int_equal(ac__edge_stack_run(st, r, g->attn_dest_begin[0], 0, bad, 1, got, &err), AC_ERR_ARG);
    assert_int_equal(ac__edge_stack_run(st, r, g->n_dest - 1, 0, s0, 5, got, &err), AC_ERR_ARG);
    assert_int_equal(ac__edge_stack_run(st, r, g->n_dest, 0, s0, 1, got, &err), AC_ERR_ARG);
    masks[ac_graph_edge_index(g, 0, g->n_dest - 1, 0)] = 0.5f; /* an active destination */
    assert_ac_ok(ac_run_forward(r, &cle, &fb, &err), &err);
    assert_false(ac__edge_stack_usable(r));
    assert_int_equal(ac__edge_stack_k_for_rows(1, B, T), 1);
    assert_int_equal(ac__edge_stack_k_for_rows(2048, 16, 16), 8);
    free(got);
    ac__edge_stack_free(st);
    free(patch);
    free(masks);
    free(base);
    free(want);
    ac_run_free(r);
    ac_graph_free(g);
    ac_model_free(m);
}

/* EAP, IG and EAP-IG over inputs with batches split into sub-batches of 1, 2 and 3 rows
 * (run two at a time at 2 threads) equal the whole batches (padded batches, with and
 * without the prefix cache, zero ablation) */
static void test_mask_gradient_sub_batches(void **state) {
    (void)state;
    const model_kind kinds[] = {M_GPT2, M_LLAMA_GQA};
    for (size_t ki = 0; ki < 2; ki++) {
        ac_model *m = make_model(kinds[ki]);
        ac_dataset *ds = load_dataset(5); /* batches of 5 and 1 */
        const ac_split *sp = ac_dataset_split(ds, AC_SPLIT_TRAIN);
        ac_graph *g;
        ac_error err;
        ac_graph_opts go = ac_graph_default_opts();
        assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &go, &err), &err);
        ac_algo_ctx *c;
        assert_ac_ok(ac_algo_ctx_create(&c, m, g, sp, &err), &err);
        const size_t E = g->n_edges;
        float *ref = calloc(E, sizeof(float)), *got = calloc(E, sizeof(float));
        for (int variant = 0; variant < 5; variant++) {
            ac_discover_opts o;
            ac_discover_opts_default(&o);
            o.steps = 2;
            const int ig = variant == 1, ig_inputs = variant == 4;
            ac_algo_ctx_set_prefix_cache(c, variant != 2);
            if (variant == 3) o.ablation = AC_ABLATION_ZERO;
            c->stack_budget = (size_t)-1;
            assert_int_equal(ac__algo_sub_rows(c, &sp->batches[0], AC_ABLATION_RESAMPLE), 5);
            if (ig_inputs)
                assert_ac_ok(ac_algo_eap_ig_inputs(c, &o, ref, &err), &err);
            else
                assert_ac_ok(ac_algo_mask_gradient(c, &o, ig, ref, &err), &err);
            const double mx = max_abs(ref, E);
            assert_true(mx > 1e-3);
            const size_t T = ac__algo_T(c, &sp->batches[0]);
            const size_t row_bytes = (size_t)g->n_src * T * (size_t)ac_model_config(m)->d_model * sizeof(float);
            const size_t want_rows[] = {1, 2, 3}; /* budgets of 1, 2 and 4 rows: 5 = 1+1+1+1+1, 2+2+1, 3+2 */
            const size_t budgets[] = {1, 2 * row_bytes, 4 * row_bytes};
            for (int bi = 0; bi < 3; bi++) {
                c->stack_budget = budgets[bi];
                assert_int_equal(ac__algo_sub_rows(c, &sp->batches[0], AC_ABLATION_RESAMPLE), want_rows[bi]);
                if (ig_inputs)
                    assert_ac_ok(ac_algo_eap_ig_inputs(c, &o, got, &err), &err);
                else
                    assert_ac_ok(ac_algo_mask_gradient(c, &o, ig, got, &err), &err);
                for (size_t e = 0; e < E; e++) assert_close(got[e], ref[e], 1e-5 * mx, 1e-4);
            }
        }
        /* the default budget keeps these tiny batches whole */
        c->stack_budget = 0;
        assert_int_equal(ac__algo_sub_rows(c, &sp->batches[0], AC_ABLATION_RESAMPLE), 5);
        free(ref);
        free(got);
        ac_algo_ctx_free(c);
        ac_graph_free(g);
        ac_dataset_free(ds);
        ac_model_free(m);
    }
}

/* the sub-batch policy at GPT-2-small sizes: the stack of 32 × 15 tokens (231 MB) in
 * four parts of 8 rows (58 MB each, under the 64 MiB budget; 120 tokens); long prompts
 * one row each; small batches whole; batch-mean ablations always whole */
static void test_sub_batch_policy(void **state) {
    (void)state;
    ac_config cfg;
    ac_config_defaults(&cfg, AC_ARCH_GPT2);
    cfg.n_layer = 12;
    cfg.n_head = cfg.n_kv_head = 12;
    cfg.d_model = 768;
    cfg.d_head = 64;
    cfg.d_mlp = 3072;
    cfg.n_ctx = 1024;
    ac_graph *g;
    ac_error err;
    ac_graph_opts go = ac_graph_default_opts();
    assert_ac_ok(ac_graph_build(&g, &cfg, &go, &err), &err);
    assert_int_equal(g->n_src, 157);
    ac_algo_ctx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    ac_model *m;
    cfg.vocab_size = 16; /* a small model object of the same shape would still be 85 M
                            parameters: build the real shape only for d_model */
    cfg.n_layer = 1;
    cfg.n_head = cfg.n_kv_head = 1;
    assert_ac_ok(ac_model_create(&m, &cfg, &err), &err);
    c.m = m;
    ac_batch b;
    memset(&b, 0, sizeof b);
    b.batch_size = 32;
    b.seq_len = 15;
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_RESAMPLE), 8);
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_ZERO), 8);
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_BATCH_MEAN), 32);
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_BATCH_ALL_MEAN), 32);
    b.batch_size = 64; /* 4 parts would be 16 rows (116 MB): the budget makes 8 parts */
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_RESAMPLE), 8);
    b.batch_size = 32;
    b.seq_len = 128; /* 157 × 128 × 768 × 4 = 62 MB per row: 1 row of 128 tokens */
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_RESAMPLE), 1);
    b.batch_size = 12;
    b.seq_len = 4; /* 1.9 MB per row: 4 parts of 3 rows would be 12 tokens; 128 tokens is all */
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_RESAMPLE), 12);
    b.batch_size = 64;
    b.seq_len = 8; /* 3.9 MB per row: min 16 rows (128 tokens), 4 parts of 16 */
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_RESAMPLE), 16);
    b.batch_size = 8;
    b.seq_len = 8; /* 3.9 MB per row: whole */
    assert_int_equal(ac__algo_sub_rows(&c, &b, AC_ABLATION_RESAMPLE), 8);
    ac_model_free(m);
    ac_graph_free(g);
}

/* ---- last_only forwards: the final block on the last position's rows -------------- */

/* One forward (and backward) of batch b with masks (NULL: none) and patch values P,
 * last_only or not: logits [B][V], recorded sources, mask gradients [E]. */
static void run_once(ac_run *r, const ac_graph *g, const ac_batch *b, const float *masks, const float *P,
                     int last_only, const float *dlogits, float *logits, float *rec, float *mgrad) {
    ac_error err;
    ac_tokens in = {.B = (int)b->batch_size, .T = (int)b->seq_len, .ids = b->clean, .mask = b->clean_mask};
    ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .masks = masks, .patch = P,
                          .record = rec, .last_only = last_only};
    assert_ac_ok(ac_run_forward(r, &in, &fo, &err), &err);
    memset(mgrad, 0, g->n_edges * sizeof(float));
    ac_backward_opts bo = {.dlogits = dlogits, .mask_grad = mgrad};
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
}

static void check_last_only(model_kind kind, ac_graph_opts go) {
    ac_model *m = make_model(kind);
    const ac_config *cfg = ac_model_config(m);
    ac_dataset *ds = load_dataset(4);
    const ac_split *sp = ac_dataset_split(ds, AC_SPLIT_TRAIN);
    const ac_batch *b = &sp->batches[0];
    const size_t B = b->batch_size, T = b->seq_len, d = (size_t)cfg->d_model, Vv = (size_t)cfg->vocab_size;
    if (go.seq_len) go.seq_len = (int)T;
    ac_graph *g;
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_graph_build(&g, cfg, &go, &err), &err);
    assert_ac_ok(ac_run_create(&r, m, g, (int)B, (int)T, &err), &err);
    const size_t S = (size_t)g->n_src * B * T * d, E = g->n_edges;
    float *P = calloc(S, sizeof(float)), *rec0 = calloc(S, sizeof(float)), *rec1 = calloc(S, sizeof(float));
    float *masks = calloc(E, sizeof(float)), *dl = calloc(B * Vv, sizeof(float));
    float *lg0 = calloc(B * Vv, sizeof(float)), *lg1 = calloc(B * Vv, sizeof(float));
    float *mg0 = calloc(E, sizeof(float)), *mg1 = calloc(E, sizeof(float));
    /* patch values: the corrupt prompts' sources */
    ac_tokens cin = {.B = (int)B, .T = (int)T, .ids = b->corrupt, .mask = b->corrupt_mask};
    ac_forward_opts po = {.logits_mode = AC_LOGITS_NONE, .record = P};
    assert_ac_ok(ac_run_forward(r, &cin, &po, &err), &err);
    for (size_t i = 0; i < B * Vv; i++) dl[i] = (float)sin(0.37 * (double)i) / (float)B;
    /* no masks, every mask 0.5, a mix (some destinations active, some not) */
    for (int mv = 0; mv < 3; mv++) {
        for (size_t e = 0; e < E; e++) masks[e] = mv == 1 ? 0.5f : mv == 2 && e % 7 == 3 ? 1.0f : 0.0f;
        const float *M = mv ? masks : NULL;
        run_once(r, g, b, M, P, 0, dl, lg0, rec0, mg0);
        run_once(r, g, b, M, P, 1, dl, lg1, rec1, mg1);
        const double ml = max_abs(lg0, B * Vv), mm = max_abs(mg0, E);
        assert_true(mm > 1e-4);
        for (size_t i = 0; i < B * Vv; i++) assert_close(lg1[i], lg0[i], 1e-5 * ml + 1e-7, 1e-5);
        for (size_t e = 0; e < E; e++) assert_close(mg1[e], mg0[e], 1e-5 * mm + 1e-7, 1e-5);
        /* sources: the same at the last position, and before the final block everywhere;
         * the final block's heads and MLP are 0 off the last position */
        for (int s = 0; s < g->n_src; s++) {
            const ac_src_node *sn = &g->srcs[s];
            const int final = sn->layer == cfg->n_layer - 1;
            const int zero_off_last = final && (sn->kind == AC_SRC_HEAD || sn->kind == AC_SRC_MLP);
            for (size_t row = 0; row < B * T; row++) {
                const float *x0 = rec0 + ((size_t)s * B * T + row) * d, *x1 = rec1 + ((size_t)s * B * T + row) * d;
                const int last = row % T == T - 1;
                for (size_t k = 0; k < d; k++) {
                    if (last || !final) assert_close(x1[k], x0[k], 1e-5 * max_abs(x0, d) + 1e-7, 1e-5);
                    else if (zero_off_last) assert_true(x1[k] == 0.0f);
                    assert_true(isfinite(x1[k]));
                }
            }
        }
    }
    /* a partial re-run continues a forward of the same setting; no last_only with every
     * position's logits */
    ac_tokens in = {.B = (int)B, .T = (int)T, .ids = b->clean, .mask = b->clean_mask};
    ac_forward_opts ro = {.logits_mode = AC_LOGITS_LAST, .logits = lg1, .masks = masks, .patch = P, .partial = 1,
                          .start_block = cfg->n_layer - 1, .last_only = 0};
    assert_int_equal(ac_run_forward(r, &in, &ro, &err), AC_ERR_ARG);
    ro.last_only = 1;
    run_once(r, g, b, masks, P, 1, dl, lg0, NULL, mg0);
    assert_ac_ok(ac_run_forward(r, &in, &ro, &err), &err);
    for (size_t i = 0; i < B * Vv; i++) assert_close(lg1[i], lg0[i], 1e-5 * max_abs(lg0, B * Vv) + 1e-7, 1e-5);
    float *all = calloc(B * T * Vv, sizeof(float));
    ac_forward_opts ao = {.logits_mode = AC_LOGITS_ALL, .logits = all, .last_only = 1};
    assert_int_equal(ac_run_forward(r, &in, &ao, &err), AC_ERR_ARG);
    free(all);
    free(P); free(rec0); free(rec1); free(masks); free(dl); free(lg0); free(lg1); free(mg0); free(mg1);
    ac_run_free(r);
    ac_graph_free(g);
    ac_dataset_free(ds);
    ac_model_free(m);
}

/* last_only forwards and their backwards against full ones: the same logits and mask
 * gradients (every model family; separate and combined Q/K/V, per-position and residual
 * graphs; no, uniform and mixed masks; a padded batch) */
static void test_last_only_equals_full(void **state) {
    (void)state;
    for (int k = 0; k <= M_NO_LN; k++) {
        check_last_only((model_kind)k, (ac_graph_opts){.separate_qkv = 1});
        if (k != M_LLAMA_GQA && k != M_QWEN_BIAS) /* combined Q/K/V needs H == Hkv */
            check_last_only((model_kind)k, (ac_graph_opts){.separate_qkv = 0});
        check_last_only((model_kind)k, (ac_graph_opts){.separate_qkv = 1, .seq_len = 1});
        check_last_only((model_kind)k, (ac_graph_opts){.residual = 1});
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_only_equals_full),
        cmocka_unit_test(test_mask_gradient_sub_batches),
        cmocka_unit_test(test_sub_batch_policy),
        cmocka_unit_test(test_stacked_equals_edge_by_edge),
        cmocka_unit_test(test_chunk_logits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
