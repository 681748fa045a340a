/* Shared-prefix KV cache ("tail divergence", issue 4): a forward of the tails over the
 * cached keys and values of the prefix common to every prompt gives the logits, source
 * outputs, patched outputs and mask gradients of the full forward; a per-pair prefix
 * (auto-circuit's issue #17) does not; and every algorithm gives the same scores and
 * evaluation points with the cache on and off. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autocircuit/algos.h"
#include "autocircuit/engine.h"

/* ---- engine ------------------------------------------------------------------------ */

enum { B = 4, T = 9, P = 3, TT = T - P, PAIR = 5, V = 37 };

/* Every prompt starts with 5 9 2 (the common prefix, P = 3). Each clean/corrupt pair
 * agrees on its first 5 tokens or more (the per-pair divergence auto-circuit caches),
 * but rows 1-3 leave row 0 at position 3 or 4. Row 2 is left-padded by two. */
static const int32_t clean_ids[B * T] = {
    5, 9, 2, 30, 11, 4, 17, 8, 3,
    5, 9, 2, 12, 11, 4, 6, 21, 19,
    0, 0, 5, 9, 2, 30, 7, 1, 13,
    5, 9, 2, 14, 11, 4, 6, 10, 22};
static const int32_t corrupt_ids[B * T] = {
    5, 9, 2, 30, 11, 25, 17, 8, 3,
    5, 9, 2, 12, 11, 4, 33, 21, 19,
    0, 0, 5, 9, 2, 30, 7, 24, 13,
    5, 9, 2, 14, 11, 15, 6, 10, 22};
static const uint8_t pad_mask[B * T] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1};
static const int32_t prefix_ids[PAIR] = {5, 9, 2, 30, 11}; /* row 0's first 5 tokens */

typedef enum { M_GPT2, M_ATTN_ONLY, M_LLAMA_GQA, M_LLAMA_INTERLEAVED, M_QWEN_BIAS } model_kind;
static const model_kind all_kinds[] = {M_GPT2, M_ATTN_ONLY, M_LLAMA_GQA, M_LLAMA_INTERLEAVED, M_QWEN_BIAS};
static const char *const kind_names[] = {"gpt2", "attn-only", "llama-gqa", "llama-interleaved", "qwen-bias"};
#define N_KINDS (sizeof all_kinds / sizeof *all_kinds)

static ac_model *make_model(model_kind k, int vocab) {
    ac_config c;
    ac_config_defaults(&c, k >= M_LLAMA_GQA ? AC_ARCH_LLAMA : AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 4;
    c.d_model = 16;
    c.d_head = 4;
    c.d_mlp = 24;
    c.vocab_size = vocab;
    c.n_ctx = 16;
    if (k == M_ATTN_ONLY) { c.attn_only = 1; c.d_mlp = 0; c.n_layer = 3; }
    if (k >= M_LLAMA_GQA) c.n_kv_head = 2;
    if (k == M_LLAMA_INTERLEAVED) c.pos = AC_POS_ROPE_INTERLEAVED;
    if (k == M_QWEN_BIAS) c.attn_bias = 1;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 4321u + (unsigned)k, 0.4f);
    return m;
}

static ac_graph *make_graph(const ac_model *m, int seq_len) {
    ac_graph *g;
    ac_error err;
    ac_graph_opts o = {.separate_qkv = 1, .seq_len = seq_len};
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &o, &err), &err);
    return g;
}

/* Tails after a prefix of p tokens, built independently of the library: each row's
 * tokens from its (p+1)-th real one, left-padded to T - p. */
static void make_tails(const int32_t *ids, int p, int32_t *tids, uint8_t *tmask) {
    for (int b = 0; b < B; b++) {
        int first = 0;
        while (!pad_mask[b * T + first]) first++;
        for (int t = 0; t < T - p; t++) {
            int real = t >= first;
            tids[b * (T - p) + t] = real ? ids[b * T + t + p] : 0;
            tmask[b * (T - p) + t] = (uint8_t)real;
        }
    }
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static void test_cache_basics_and_errors(void **state) {
    (void)state;
    ac_model *m = make_model(M_LLAMA_GQA, V), *other = make_model(M_GPT2, V);
    ac_error err;
    ac_kv_cache *kv;
    assert_int_equal(ac_kv_cache_create(&kv, m, prefix_ids, 0, &err), AC_ERR_ARG);
    assert_int_equal(ac_kv_cache_create(&kv, m, prefix_ids, 16, &err), AC_ERR_ARG);
    const int32_t bad[2] = {5, 99};
    assert_int_equal(ac_kv_cache_create(&kv, m, bad, 2, &err), AC_ERR_RANGE);
    assert_ac_ok(ac_kv_cache_create(&kv, m, prefix_ids, P, &err), &err);
    assert_int_equal(ac_kv_cache_len(kv), P);
    assert_memory_equal(ac_kv_cache_ids(kv), prefix_ids, P * sizeof(int32_t));
    /* 2 layers x 3 positions x (2 kv heads x 4) x (k, v) floats + the ids */
    assert_int_equal(ac_kv_cache_bytes(kv), 2 * 3 * 16 * sizeof(float) + 3 * sizeof(int32_t));

    ac_run *r, *ro, *small;
    assert_ac_ok(ac_run_create(&r, m, NULL, B, T, &err), &err);
    assert_ac_ok(ac_run_create(&ro, other, NULL, B, T, &err), &err);
    assert_ac_ok(ac_run_create(&small, m, NULL, B, TT, &err), &err);
    int32_t tids[B * TT];
    uint8_t tmask[B * TT];
    make_tails(clean_ids, P, tids, tmask);
    float logits[B * V];
    ac_tokens in = {.B = B, .T = TT, .ids = tids, .mask = tmask};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .prefix = kv};
    assert_int_equal(ac_run_forward(ro, &in, &o, &err), AC_ERR_ARG); /* another model */
    assert_non_null(strstr(err.msg, "another model"));
    assert_int_equal(ac_run_forward(small, &in, &o, &err), AC_ERR_ARG); /* P + T > max_T */
    assert_non_null(strstr(err.msg, "prefix"));
    /* a per-position graph must cover prefix + tail */
    ac_graph *g = make_graph(m, TT);
    ac_run *rg;
    assert_ac_ok(ac_run_create(&rg, m, g, B, T, &err), &err);
    assert_int_equal(ac_run_forward(rg, &in, &o, &err), AC_ERR_ARG);
    /* a partial re-run must use the forward's cache */
    assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
    ac_forward_opts op = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .partial = 1, .start_block = 1};
    assert_int_equal(ac_run_forward(r, &in, &op, &err), AC_ERR_ARG);
    op.prefix = kv;
    assert_ac_ok(ac_run_forward(r, &in, &op, &err), &err);
    ac_run_free(rg);
    ac_graph_free(g);
    ac_run_free(r);
    ac_run_free(ro);
    ac_run_free(small);
    ac_kv_cache_free(kv);
    ac_kv_cache_free(NULL);
    ac_model_free(m);
    ac_model_free(other);
}

/* Logits at every tail position equal the full forward's; a per-pair prefix (row 0's
 * first 5 tokens reused for every row) changes the logits of the rows it does not fit. */
static void test_logits_equal_and_per_pair_prefix_wrong(void **state) {
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        ac_model *m = make_model(all_kinds[k], V);
        ac_error err;
        ac_run *r;
        assert_ac_ok(ac_run_create(&r, m, NULL, B, T, &err), &err);
        float full[B * T * V], tail[B * TT * V], pair[B * (T - PAIR) * V];
        ac_tokens in = {.B = B, .T = T, .ids = clean_ids, .mask = pad_mask};
        ac_forward_opts o = {.logits_mode = AC_LOGITS_ALL, .logits = full};
        assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);

        /* the correct prefix: common to every prompt */
        ac_kv_cache *kv;
        assert_ac_ok(ac_kv_cache_create(&kv, m, prefix_ids, P, &err), &err);
        int32_t tids[B * TT];
        uint8_t tmask[B * TT];
        make_tails(clean_ids, P, tids, tmask);
        ac_tokens tin = {.B = B, .T = TT, .ids = tids, .mask = tmask};
        ac_forward_opts to = {.logits_mode = AC_LOGITS_ALL, .logits = tail, .prefix = kv};
        assert_ac_ok(ac_run_forward(r, &tin, &to, &err), &err);
        double worst = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < TT; t++) {
                if (!tmask[b * TT + t]) continue;
                for (int v = 0; v < V; v++) {
                    float a = tail[(b * TT + t) * V + v], e = full[(b * T + t + P) * V + v];
                    assert_close(a, e, 1e-5, 1e-5);
                    worst = fmax(worst, fabs((double)a - e));
                }
            }
        /* last-position logits too */
        float last[B * V];
        to.logits_mode = AC_LOGITS_LAST;
        to.logits = last;
        assert_ac_ok(ac_run_forward(r, &tin, &to, &err), &err);
        for (int b = 0; b < B; b++)
            for (int v = 0; v < V; v++) assert_close(last[b * V + v], full[(b * T + T - 1) * V + v], 1e-5, 1e-5);

        /* the per-pair prefix (issue #17): right for row 0, wrong for the others */
        ac_kv_cache *bad;
        assert_ac_ok(ac_kv_cache_create(&bad, m, prefix_ids, PAIR, &err), &err);
        int32_t pids[B * (T - PAIR)];
        uint8_t pmask[B * (T - PAIR)];
        make_tails(clean_ids, PAIR, pids, pmask);
        ac_tokens pin = {.B = B, .T = T - PAIR, .ids = pids, .mask = pmask};
        ac_forward_opts po = {.logits_mode = AC_LOGITS_ALL, .logits = pair, .prefix = bad};
        assert_ac_ok(ac_run_forward(r, &pin, &po, &err), &err);
        double err_row0 = 0, err_rows = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T - PAIR; t++) {
                if (!pmask[b * (T - PAIR) + t]) continue;
                for (int v = 0; v < V; v++) {
                    double dlt = fabs((double)pair[(b * (T - PAIR) + t) * V + v] - full[(b * T + t + PAIR) * V + v]);
                    if (b == 0) err_row0 = fmax(err_row0, dlt);
                    else err_rows = fmax(err_rows, dlt);
                }
            }
        printf("  %-18s cached prefix %d: max |logit error| %.2e; per-pair prefix %d: row 0 %.2e, other rows %.2e\n",
               kind_names[k], P, worst, PAIR, err_row0, err_rows);
        assert_true(err_row0 < 1e-4);
        assert_true(err_rows > 1e-2);
        ac_kv_cache_free(bad);
        ac_kv_cache_free(kv);
        ac_run_free(r);
        ac_model_free(m);
    }
}

/* Source outputs recorded at tail positions, patched forwards (random masks at every
 * edge, resample patch values) and mask gradients equal the full forward's, for shared
 * and per-position edges. */
static void check_patch_and_grads(model_kind kind, int per_pos) {
    ac_model *m = make_model(kind, V);
    ac_graph *g = make_graph(m, per_pos ? T : 0);
    const size_t d = (size_t)ac_model_config(m)->d_model, ns = (size_t)g->n_src;
    const size_t nf = (size_t)B * T * d, nt = (size_t)B * TT * d;
    ac_error err;
    ac_run *r;
    assert_ac_ok(ac_run_create(&r, m, g, B, T, &err), &err);
    ac_kv_cache *kv;
    assert_ac_ok(ac_kv_cache_create(&kv, m, prefix_ids, P, &err), &err);
    int32_t tclean[B * TT], tcorrupt[B * TT];
    uint8_t tmask[B * TT], tmask2[B * TT];
    make_tails(clean_ids, P, tclean, tmask);
    make_tails(corrupt_ids, P, tcorrupt, tmask2);
    float *pf = calloc(ns * nf, sizeof(float)), *pt = calloc(ns * nt, sizeof(float));
    float lf[B * V], lt[B * V];
    /* resample patch values: the corrupt prompts' source outputs, full and tails */
    ac_tokens fin = {.B = B, .T = T, .ids = corrupt_ids, .mask = pad_mask};
    ac_tokens tin = {.B = B, .T = TT, .ids = tcorrupt, .mask = tmask};
    ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = lf, .record = pf};
    ac_forward_opts to = {.logits_mode = AC_LOGITS_LAST, .logits = lt, .record = pt, .prefix = kv};
    assert_ac_ok(ac_run_forward(r, &fin, &fo, &err), &err);
    assert_ac_ok(ac_run_forward(r, &tin, &to, &err), &err);
    for (size_t s = 0; s < ns; s++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < TT; t++) {
                if (!tmask[b * TT + t]) continue;
                for (size_t c = 0; c < d; c++)
                    assert_close(pt[s * nt + ((size_t)b * TT + t) * d + c], pf[s * nf + ((size_t)b * T + t + P) * d + c],
                                 1e-5, 1e-5);
            }
    /* clean input, masks 0 then random in [0, 1] on every edge (prefix positions too) */
    float *masks = calloc(g->n_edges, sizeof(float));
    float *gf = calloc(g->n_edges, sizeof(float)), *gt = calloc(g->n_edges, sizeof(float));
    fin.ids = clean_ids;
    tin.ids = tclean;
    uint64_t x = 77;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            for (size_t e = 0; e < g->n_edges; e++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                masks[e] = (float)(x >> 40) / (float)(1u << 24);
            }
        ac_forward_opts fp = {.logits_mode = AC_LOGITS_LAST, .logits = lf, .masks = masks, .patch = pf};
        ac_forward_opts tp = {.logits_mode = AC_LOGITS_LAST, .logits = lt, .masks = masks, .patch = pt, .prefix = kv};
        float dl[B * V];
        for (int i = 0; i < B * V; i++) dl[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
        memset(gf, 0, g->n_edges * sizeof(float));
        memset(gt, 0, g->n_edges * sizeof(float));
        ac_backward_opts bf = {.dlogits = dl, .mask_grad = gf}, bt = {.dlogits = dl, .mask_grad = gt};
        assert_ac_ok(ac_run_forward(r, &fin, &fp, &err), &err);
        assert_ac_ok(ac_run_backward(r, &bf, &err), &err);
        assert_ac_ok(ac_run_forward(r, &tin, &tp, &err), &err);
        assert_ac_ok(ac_run_backward(r, &bt, &err), &err);
        for (int i = 0; i < B * V; i++) assert_close(lt[i], lf[i], 1e-5, 1e-5);
        const double gmax = max_abs(gf, g->n_edges);
        assert_true(gmax > 1e-2);
        for (size_t e = 0; e < g->n_edges; e++) {
            int pos = per_pos ? (int)(e / g->n_edges_per_pos) : -1;
            if (per_pos && pos < P) {
                /* prefix positions: patch − current is 0 there, so no gradient; the cached
                 * backward leaves them untouched */
                assert_true(gt[e] == 0.0f);
                assert_close(gf[e], 0.0, 1e-6 * gmax, 0);
            } else {
                assert_close(gt[e], gf[e], 1e-5 * gmax, 1e-5);
            }
        }
    }
    free(masks);
    free(gf);
    free(gt);
    free(pf);
    free(pt);
    ac_kv_cache_free(kv);
    ac_run_free(r);
    ac_graph_free(g);
    ac_model_free(m);
}

static void test_patched_forward_and_gradients(void **state) {
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        check_patch_and_grads(all_kinds[k], 0);
        check_patch_and_grads(all_kinds[k], 1);
    }
}

/* ---- algorithms -------------------------------------------------------------------- */

enum { NP = 8, DLEN = 10, DPRE = 4, DV = 37 };

/* NP prompt pairs of DLEN tokens sharing the first DPRE (3 8 1 6); each pair agrees up
 * to position 6 at least (the per-pair divergence is 6 > 4). ragged: odd prompts lose
 * their 5th token (clean and corrupt alike), so batches are padded. */
static const char *write_dataset(const char *name, int ragged, int uneven) {
    const char *path = ac_test_path(ac_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < NP; i++) {
        int cl[DLEN] = {3, 8, 1, 6, 10 + i, 20 + i % 3, 12 + i, 7, 30 + i % 4, 2 + i};
        int co[DLEN];
        memcpy(co, cl, sizeof co);
        co[6] = 25 + i % 5;
        if (i % 2) co[8] = 34;
        for (int side = 0; side < 2; side++) {
            const int *x = side ? co : cl;
            fprintf(f, "%s\"%s\": [", side ? ", " : "{", side ? "corrupt" : "clean");
            int first = 1;
            for (int t = 0; t < DLEN; t++) {
                if (ragged && i % 2 && t == 4) continue;
                if (uneven && side && i == 1 && t == 5) continue; /* one corrupt prompt shorter */
                fprintf(f, "%s%d", first ? "" : ", ", x[t]);
                first = 0;
            }
            fprintf(f, "]");
        }
        fprintf(f, ", \"answers\": [%d], \"wrong_answers\": [%d, %d]}%s\n", 14 + i % 5, 33 - i % 3, 21,
                i + 1 < NP ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
    return path;
}

static ac_dataset *load_dataset(const char *path, size_t batch) {
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.pad_id = 0;
    o.vocab_size = DV;
    o.train_size = NP;
    o.test_size = 0;
    o.train_batch_size = o.test_batch_size = batch;
    ac_dataset *ds;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, &path, 1, NULL, &o, &err), &err);
    return ds;
}

static void compare_scores(const char *what, const float *on, const float *off, size_t n, double rtol) {
    double mx = 0, worst = 0;
    for (size_t e = 0; e < n; e++)
        if (!isinf(off[e])) mx = fmax(mx, fabs(off[e]));
    for (size_t e = 0; e < n; e++) {
        if (isinf(off[e]) || isinf(on[e])) {
            assert_true(on[e] == off[e]);
            continue;
        }
        assert_close(on[e], off[e], rtol * mx, rtol);
        worst = fmax(worst, fabs((double)on[e] - off[e]));
    }
    printf("    %-26s max |cached - uncached| %.2e (max |score| %.2e)\n", what, worst, mx);
}

static void compare_points(const ac_eval_point *a, const ac_eval_point *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a[i].edges, b[i].edges);
        assert_close(a[i].kl, b[i].kl, 1e-6, 1e-4);
        assert_close(a[i].logit_diff, b[i].logit_diff, 1e-6, 1e-5);
        assert_close(a[i].logit_diff_percent, b[i].logit_diff_percent, 1e-5, 1e-5);
        assert_close(a[i].answer_logit, b[i].answer_logit, 1e-6, 1e-5);
        assert_close(a[i].answer_prob, b[i].answer_prob, 1e-7, 1e-5);
        assert_close(a[i].answer_logprob, b[i].answer_logprob, 1e-6, 1e-5);
        assert_close(a[i].correct_percent, b[i].correct_percent, 1e-9, 0);
        assert_close(a[i].correct_beats_wrong_percent, b[i].correct_beats_wrong_percent, 1e-9, 0);
    }
}

typedef int (*algo_fn)(ac_algo_ctx *, const ac_discover_opts *, float *, ac_error *);
static int run_eap(ac_algo_ctx *c, const ac_discover_opts *o, float *s, ac_error *e) { return ac_algo_mask_gradient(c, o, 0, s, e); }
static int run_ig(ac_algo_ctx *c, const ac_discover_opts *o, float *s, ac_error *e) { return ac_algo_mask_gradient(c, o, 1, s, e); }

/* one algorithm with the cache on and off */
static void on_off(ac_algo_ctx *c, const ac_graph *g, const char *what, algo_fn fn, const ac_discover_opts *o,
                   double rtol, float *on_out) {
    ac_error err;
    float *on = calloc(g->n_edges, sizeof(float)), *off = calloc(g->n_edges, sizeof(float));
    ac_algo_ctx_set_prefix_cache(c, 1);
    assert_ac_ok(fn(c, o, on, &err), &err);
    ac_algo_ctx_set_prefix_cache(c, 0);
    assert_ac_ok(fn(c, o, off, &err), &err);
    ac_algo_ctx_set_prefix_cache(c, 1);
    compare_scores(what, on, off, g->n_edges, rtol);
    if (on_out) memcpy(on_out, on, g->n_edges * sizeof(float));
    free(on);
    free(off);
}

static void check_algorithms(model_kind kind, const char *path, int per_pos, size_t expect_prefix) {
    ac_model *m = make_model(kind, DV);
    ac_dataset *ds = load_dataset(path, 4);
    const ac_split *sp = ac_dataset_split(ds, AC_SPLIT_TRAIN);
    assert_int_equal(sp->n_batches, 2);
    ac_graph *g = make_graph(m, per_pos ? (int)sp->batches[0].seq_len : 0);
    ac_algo_ctx *c;
    ac_error err;
    assert_ac_ok(ac_algo_ctx_create(&c, m, g, sp, &err), &err);
    assert_int_equal(ac_algo_ctx_prefix_len(c), expect_prefix);
    printf("  %s, %s edges, prefix %zu (common %zu, cacheable %zu, per-pair %zu)\n", kind_names[kind],
           per_pos ? "per-position" : "shared", expect_prefix, sp->common_prefix, sp->cacheable_prefix,
           sp->pair_diverge_idx);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.steps = 3;
    float *eap = calloc(g->n_edges, sizeof(float));
    on_off(c, g, "EAP (mask gradients)", run_eap, &o, 1e-5, eap);
    assert_true(max_abs(eap, g->n_edges) > 1e-2);
    on_off(c, g, "integrated gradients", run_ig, &o, 1e-5, NULL);
    if (!per_pos) on_off(c, g, "EAP-IG (inputs)", ac_algo_eap_ig_inputs, &o, 1e-5, NULL);
    on_off(c, g, "exact patching", ac_algo_exact, &o, 1e-4, NULL);
    static const double taus[] = {1e-3, 1e-2};
    o.taus = taus;
    o.n_taus = 2;
    float *acdc = calloc(g->n_edges, sizeof(float));
    on_off(c, g, "ACDC", ac_algo_acdc, &o, 0, acdc);
    size_t removed = 0;
    for (size_t e = 0; e < g->n_edges; e++) removed += !isinf(acdc[e]);
    assert_true(removed > 0 && removed < g->n_edges);
    /* zero ablation never uses the cache (patch − current is not zero in the prefix) */
    o.ablation = AC_ABLATION_ZERO;
    on_off(c, g, "EAP, zero ablation", run_eap, &o, 0, NULL);
    /* circuit evaluation: edge and tree patching, reversed */
    const size_t counts[] = {0, 3, 12, 40, g->n_edges};
    const size_t nc = sizeof counts / sizeof *counts;
    ac_eval_point on[5], off[5];
    for (int variant = 0; variant < 3; variant++) {
        ac_eval_opts eo = {.tree = variant == 1, .ablation = AC_ABLATION_RESAMPLE, .reverse = variant == 2};
        ac_algo_ctx_set_prefix_cache(c, 1);
        assert_ac_ok(ac_evaluate(c, eap, counts, nc, &eo, on, &err), &err);
        ac_algo_ctx_set_prefix_cache(c, 0);
        assert_ac_ok(ac_evaluate(c, eap, counts, nc, &eo, off, &err), &err);
        compare_points(on, off, nc);
    }
    ac_algo_ctx_set_prefix_cache(c, 1);
    /* patch values requested directly are full-length whatever the cache */
    const ac_batch *b = &sp->batches[0];
    const size_t n = (size_t)g->n_src * b->batch_size * b->seq_len * (size_t)ac_model_config(m)->d_model;
    float *pv = calloc(n, sizeof(float)), *pv2 = calloc(n, sizeof(float));
    assert_ac_ok(ac_patch_values(c, b, AC_ABLATION_RESAMPLE, 0, pv, &err), &err);
    ac_algo_ctx_set_prefix_cache(c, 0);
    assert_ac_ok(ac_patch_values(c, b, AC_ABLATION_RESAMPLE, 0, pv2, &err), &err);
    assert_memory_equal(pv, pv2, n * sizeof(float));
    free(pv);
    free(pv2);
    free(eap);
    free(acdc);
    ac_algo_ctx_free(c);
    ac_graph_free(g);
    ac_dataset_free(ds);
    ac_model_free(m);
}

static void test_algorithms_equal_with_and_without_cache(void **state) {
    (void)state;
    const char *plain = write_dataset("shared.json", 0, 0);
    const char *ragged = write_dataset("ragged.json", 1, 0);
    /* the dataset's own numbers: the prefix common to all prompts is 4 while every pair
     * agrees up to 6 (what auto-circuit would wrongly cache) */
    ac_dataset *ds = load_dataset(plain, 4);
    assert_int_equal(ds->train.common_prefix, DPRE);
    assert_int_equal(ds->train.cacheable_prefix, DPRE);
    assert_int_equal(ds->train.pair_diverge_idx, 6);
    ac_dataset_free(ds);
    check_algorithms(M_GPT2, plain, 0, DPRE);
    check_algorithms(M_GPT2, plain, 1, DPRE);
    check_algorithms(M_LLAMA_GQA, plain, 0, DPRE);
    check_algorithms(M_LLAMA_GQA, plain, 1, DPRE);
    /* padded batches (clean and corrupt padded alike): cacheable over tails */
    check_algorithms(M_GPT2, ragged, 0, DPRE);
    check_algorithms(M_LLAMA_INTERLEAVED, ragged, 0, DPRE);
}

static void test_no_cache_when_not_shared(void **state) {
    (void)state;
    ac_model *m = make_model(M_GPT2, DV);
    ac_graph *g = make_graph(m, 0);
    ac_error err;
    /* clean and corrupt padded differently: the prefix is not at the same positions */
    const char *uneven = write_dataset("uneven.json", 1, 1);
    ac_dataset *ds = load_dataset(uneven, 4);
    ac_algo_ctx *c;
    assert_ac_ok(ac_algo_ctx_create(&c, m, g, ac_dataset_split(ds, AC_SPLIT_TRAIN), &err), &err);
    assert_int_equal(ac_algo_ctx_prefix_len(c), 0);
    ac_algo_ctx_free(c);
    ac_dataset_free(ds);
    ac_graph_free(g);
    ac_model_free(m);
}

/* Every allocation failure while creating a context with a prefix cache is reported as
 * AC_ERR_NOMEM without leaks. */
static void test_allocation_failures(void **state) {
    (void)state;
    ac_model *m = make_model(M_LLAMA_GQA, DV);
    ac_graph *g = make_graph(m, 0);
    ac_dataset *ds = load_dataset(write_dataset("alloc.json", 0, 0), 4);
    int succeeded = 0;
    for (long k = 1; k < 500 && !succeeded; k++) {
        ac_algo_ctx *c = NULL;
        ac_error err;
        ac_alloc_fail_after(k);
        int rc = ac_algo_ctx_create(&c, m, g, ac_dataset_split(ds, AC_SPLIT_TRAIN), &err);
        long used = ac_alloc_fail_after(0);
        if (rc == AC_OK) {
            assert_true(used < k);
            assert_int_equal(ac_algo_ctx_prefix_len(c), DPRE);
            succeeded = 1;
        } else {
            assert_int_equal(rc, AC_ERR_NOMEM);
            assert_null(c);
        }
        ac_algo_ctx_free(c);
    }
    assert_true(succeeded);
    ac_dataset_free(ds);
    ac_graph_free(g);
    ac_model_free(m);
}

/* ---- speed ------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A longer shared prefix (48 of 56 tokens): report the speed-up (not asserted). */
static void test_speedup_report(void **state) {
    (void)state;
    enum { SN = 16, SLEN = 56, SPRE = 48 };
    const char *path = ac_test_path(ac_test_tmpdir(), "long.json");
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < SN; i++) {
        for (int side = 0; side < 2; side++) {
            fprintf(f, "%s\"%s\": [", side ? ", " : "{", side ? "corrupt" : "clean");
            for (int t = 0; t < SLEN; t++) {
                int tok = t < SPRE ? (t * 7 + 3) % 60 : (t * 13 + i * 5 + (side && t == SLEN - 3 ? 17 : 0)) % 60;
                fprintf(f, "%s%d", t ? ", " : "", tok);
            }
            fprintf(f, "]");
        }
        fprintf(f, ", \"answers\": [%d], \"wrong_answers\": [%d]}%s\n", i % 60, (i + 30) % 60, i + 1 < SN ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.pad_id = 0;
    o.vocab_size = 64;
    o.train_size = SN;
    o.test_size = 0;
    o.train_batch_size = 8;
    ac_dataset *ds;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, &path, 1, NULL, &o, &err), &err);
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 4;
    c.n_head = c.n_kv_head = 4;
    c.d_model = 64;
    c.d_head = 16;
    c.d_mlp = 256;
    c.vocab_size = 64;
    c.n_ctx = 64;
    ac_model *m;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 5, 0.2f);
    ac_graph *g = make_graph(m, 0);
    ac_algo_ctx *ctx;
    assert_ac_ok(ac_algo_ctx_create(&ctx, m, g, ac_dataset_split(ds, AC_SPLIT_TRAIN), &err), &err);
    assert_int_equal(ac_algo_ctx_prefix_len(ctx), SPRE);
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    float *on = calloc(g->n_edges, sizeof(float)), *off = calloc(g->n_edges, sizeof(float));
    double t_on = 0, t_off = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        ac_algo_ctx_set_prefix_cache(ctx, 0);
        assert_ac_ok(ac_algo_mask_gradient(ctx, &d, 0, off, &err), &err);
        double t1 = now_s();
        ac_algo_ctx_set_prefix_cache(ctx, 1);
        assert_ac_ok(ac_algo_mask_gradient(ctx, &d, 0, on, &err), &err);
        double t2 = now_s();
        if (rep == 0 || t1 - t0 < t_off) t_off = t1 - t0;
        if (rep == 0 || t2 - t1 < t_on) t_on = t2 - t1;
    }
    compare_scores("EAP, 48-token prefix", on, off, g->n_edges, 1e-5);
    printf("  speed: EAP over %d prompts of %d tokens (prefix %d): %.2f ms without the cache, "
           "%.2f ms with it: x%.1f\n", SN, SLEN, SPRE, 1e3 * t_off, 1e3 * t_on, t_off / t_on);
    free(on);
    free(off);
    ac_algo_ctx_free(ctx);
    ac_graph_free(g);
    ac_model_free(m);
    ac_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_basics_and_errors),
        cmocka_unit_test(test_logits_equal_and_per_pair_prefix_wrong),
        cmocka_unit_test(test_patched_forward_and_gradients),
        cmocka_unit_test(test_algorithms_equal_with_and_without_cache),
        cmocka_unit_test(test_no_cache_when_not_shared),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_speedup_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
