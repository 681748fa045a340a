/* Training: weight gradients against finite differences, the training forward against
 * the engine, AdamW / clipping / schedule against hand computation, the task generators,
 * a tiny training run (loss falls, bit-identical on repeat) and the CLI. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/engine.h"
#include "autocircuit/train.h"
#include "model/grad.h"
#include "model/ops.h"
#include "train/train_internal.h"

/* ---- tiny models ---------------------------------------------------------------------- */

enum { TB = 2, TT = 5, TV = 11 };

typedef enum { M_GPT2, M_ATTN_ONLY, M_NO_NORM, M_LLAMA } model_kind;

static ac_model *tiny_model(model_kind k) {
    ac_config c;
    ac_config_defaults(&c, k == M_LLAMA ? AC_ARCH_LLAMA : AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = 2;
    c.n_kv_head = k == M_LLAMA ? 1 : 2; /* grouped-query attention in the Llama case */
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 12;
    c.vocab_size = TV;
    c.n_ctx = 6;
    if (k == M_ATTN_ONLY) {
        c.attn_only = 1;
        c.d_mlp = 0;
        c.tied_embeddings = 0;
    }
    if (k == M_NO_NORM) {
        c.norm = AC_NORM_NONE;
        c.final_norm = 0;
    }
    ac_model *m = NULL;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 7 + (uint64_t)k, 0.4f);
    return m;
}

static const int32_t tiny_ids[TB * TT] = {1, 4, 9, 2, 7, 3, 3, 10, 0, 5};
/* terms: (b0, last) -> {3}; (b1, last) -> {2, 5, 7}; (b1, t2) -> {4}; (b0, last) again -> {8} */
static const int32_t tiny_rows[] = {TT - 1, 2 * TT - 1, TT + 2, TT - 1};
static const int32_t tiny_offsets[] = {0, 1, 4, 5, 6};
static const int32_t tiny_targets[] = {3, 2, 5, 7, 4, 8};

static double tiny_loss(ac__grad_ws *ws, const ac_model *m, ac_model *grad) {
    ac__loss_terms terms = {4, tiny_rows, tiny_offsets, tiny_targets};
    double loss;
    ac_error err;
    assert_ac_ok(ac__grad_loss(ws, m, grad, tiny_ids, TB, TT, &terms, &loss, NULL, &err), &err);
    return loss;
}

/* the loss computed independently from the engine's logits (double) */
static double engine_loss(const ac_model *m) {
    ac_run *r = NULL;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, NULL, TB, TT, &err), &err);
    float logits[TB * TT * TV];
    ac_tokens in = {TB, TT, tiny_ids, NULL};
    ac_forward_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.logits_mode = AC_LOGITS_ALL;
    fo.logits = logits;
    assert_ac_ok(ac_run_forward(r, &in, &fo, &err), &err);
    ac_run_free(r);
    double total = 0;
    for (int k = 0; k < 4; k++) {
        const float *z = logits + tiny_rows[k] * TV;
        double s = 0;
        for (int v = 0; v < TV; v++) s += exp((double)z[v]);
        double l = 0;
        for (int j = tiny_offsets[k]; j < tiny_offsets[k + 1]; j++) l += log(s) - z[tiny_targets[j]];
        total += l / (tiny_offsets[k + 1] - tiny_offsets[k]);
    }
    return total / 4;
}

static void check_model_grads(model_kind k) {
    ac_model *m = tiny_model(k), *grad = NULL;
    ac_error err;
    assert_ac_ok(ac_model_create(&grad, ac_model_config(m), &err), &err);
    ac__grad_ws *ws = NULL;
    assert_ac_ok(ac__grad_ws_create(&ws, m, TB, TT, 4, &err), &err);
    memset(grad->arena, 0, grad->arena_floats * sizeof(float));
    const double l0 = tiny_loss(ws, m, grad);
    /* the training forward agrees with the engine */
    assert_close(l0, engine_loss(m), 1e-5, 1e-5);
    /* the logits it returns are the engine's too (checked through the loss above) and
     * gradients accumulate: a second call doubles them */
    const size_t n = m->arena_floats;
    float *g1 = malloc(n * sizeof *g1);
    memcpy(g1, grad->arena, n * sizeof *g1);
    tiny_loss(ws, m, grad);
    for (size_t i = 0; i < n; i++) assert_close(grad->arena[i], 2.0f * g1[i], 1e-6, 1e-5);

    /* every weight against central differences (loss in double, forward in float) */
    double maxg = 0;
    for (size_t i = 0; i < n; i++) maxg = fmax(maxg, fabs(g1[i]));
    assert_true(maxg > 1e-2);
    const float h = 4e-3f;
    int nonzero = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const float keep = m->arena[i];
        m->arena[i] = keep + h;
        const double fp = tiny_loss(ws, m, NULL);
        m->arena[i] = keep - h;
        const double fm = tiny_loss(ws, m, NULL);
        m->arena[i] = keep;
        const double fd = (fp - fm) / (2.0 * (double)h);
        const double diff = fabs(fd - g1[i]);
        if (diff > worst) worst = diff;
        if (fabs(g1[i]) > 1e-3 * maxg) nonzero++;
        if (diff > 3e-4 + 2e-2 * fabs(fd))
            fail_msg("model kind %d: weight %zu of %zu: gradient %.7g, finite difference %.7g", (int)k, i, n,
                     (double)g1[i], fd);
    }
    /* nearly every weight matters in these models (the test cannot pass vacuously) */
    assert_true(nonzero > (int)(n * 3 / 4));
    print_message("model kind %d: %zu weights, worst |grad - fd| %.2g (max |grad| %.3g)\n", (int)k, n, worst, maxg);
    free(g1);
    ac__grad_ws_free(ws);
    ac_model_free(grad);
    ac_model_free(m);
}

static void test_grad_gpt2(void **state) {
    (void)state;
    check_model_grads(M_GPT2);
}
static void test_grad_attn_only_untied(void **state) {
    (void)state;
    check_model_grads(M_ATTN_ONLY);
}
static void test_grad_no_layernorm(void **state) {
    (void)state;
    check_model_grads(M_NO_NORM);
}
static void test_grad_llama_gqa(void **state) {
    (void)state;
    check_model_grads(M_LLAMA);
}

/* the new ops on their own: dW, db, norm parameters, embedding */
static void test_weight_ops(void **state) {
    (void)state;
    enum { N = 3, IN = 4, OUT = 2 };
    float dout[N * OUT] = {1, 2, -1, 0.5f, 3, -2};
    float in[N * IN] = {1, 0, 2, -1, 0.5f, 1, 1, 1, -1, 2, 0, 3};
    float dW[OUT * IN], db[OUT] = {10, 20};
    for (int i = 0; i < OUT * IN; i++) dW[i] = 1;
    ac__matmul_backward_weight(dW, db, dout, OUT, in, IN, N, IN, OUT);
    for (int o = 0; o < OUT; o++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += dout[n * OUT + o];
        assert_close(db[o], (o ? 20 : 10) + s, 1e-6, 0);
        for (int i = 0; i < IN; i++) {
            double w = 1;
            for (int n = 0; n < N; n++) w += (double)dout[n * OUT + o] * in[n * IN + i];
            assert_close(dW[o * IN + i], w, 1e-5, 0);
        }
    }
    /* LayerNorm parameter gradients: dw = Σ dy * xhat, db = Σ dy */
    float x[2 * 3] = {1, 2, 4, -1, 0, 3}, dy[2 * 3] = {0.5f, -1, 2, 1, 1, -3};
    float dw[3] = {0}, dbb[3] = {0};
    ac__norm_backward_params(dw, dbb, dy, x, 2, 3, 1e-5f, AC_NORM_LAYERNORM);
    double ew[3] = {0}, eb[3] = {0};
    for (int r = 0; r < 2; r++) {
        double mu = (x[r * 3] + x[r * 3 + 1] + x[r * 3 + 2]) / 3.0, var = 0;
        for (int c = 0; c < 3; c++) var += (x[r * 3 + c] - mu) * (x[r * 3 + c] - mu) / 3.0;
        for (int c = 0; c < 3; c++) {
            ew[c] += dy[r * 3 + c] * (x[r * 3 + c] - mu) / sqrt(var + 1e-5);
            eb[c] += dy[r * 3 + c];
        }
    }
    for (int c = 0; c < 3; c++) {
        assert_close(dw[c], ew[c], 1e-5, 1e-5);
        assert_close(dbb[c], eb[c], 1e-6, 0);
    }
    /* RMSNorm: no bias gradient, xhat = x / rms */
    float dw2[3] = {0};
    ac__norm_backward_params(dw2, NULL, dy, x, 2, 3, 1e-5f, AC_NORM_RMSNORM);
    double ew2[3] = {0};
    for (int r = 0; r < 2; r++) {
        double ms = 0;
        for (int c = 0; c < 3; c++) ms += x[r * 3 + c] * x[r * 3 + c] / 3.0;
        for (int c = 0; c < 3; c++) ew2[c] += dy[r * 3 + c] * x[r * 3 + c] / sqrt(ms + 1e-5);
    }
    for (int c = 0; c < 3; c++) assert_close(dw2[c], ew2[c], 1e-5, 1e-5);
    /* embedding: repeated ids accumulate */
    float dE[4 * 2] = {0};
    const int32_t ids[3] = {2, 0, 2};
    const float g[3 * 2] = {1, 2, 3, 4, 5, 6};
    ac__embedding_backward(dE, g, ids, 3, 2);
    const float want[8] = {3, 4, 0, 0, 6, 8, 0, 0};
    assert_memory_equal(dE, want, sizeof want);
}

/* ---- optimiser --------------------------------------------------------------------------- */

static void test_adamw_by_hand(void **state) {
    (void)state;
    enum { n = 4 };
    float p[n] = {0.5f, -1.0f, 2.0f, 0.0f}, m[n] = {0}, v[n] = {0};
    const uint8_t decay[n] = {1, 0, 1, 1};
    const float grads[3][n] = {{0.1f, -0.2f, 0.0f, 1.0f}, {0.3f, 0.1f, -0.5f, 1.0f}, {-0.2f, 0.0f, 0.25f, -2.0f}};
    const double lrs[3] = {1e-2, 5e-3, 2e-3};
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    double P[n], M[n] = {0}, Vv[n] = {0};
    for (int i = 0; i < n; i++) P[i] = p[i];
    for (int t = 1; t <= 3; t++) {
        ac__adamw_step(p, grads[t - 1], m, v, decay, n, t, lrs[t - 1], 0.9, 0.999, 1e-8, 0.1);
        /* torch.optim.AdamW, written out in double */
        for (int i = 0; i < n; i++) {
            const double g = grads[t - 1][i], lr = lrs[t - 1];
            if (decay[i]) P[i] *= 1 - lr * wd;
            M[i] = b1 * M[i] + (1 - b1) * g;
            Vv[i] = b2 * Vv[i] + (1 - b2) * g * g;
            const double mh = M[i] / (1 - pow(b1, t)), vh = Vv[i] / (1 - pow(b2, t));
            P[i] -= lr * mh / (sqrt(vh) + eps);
        }
        for (int i = 0; i < n; i++) {
            assert_close(p[i], P[i], 1e-6, 1e-6);
            assert_close(m[i], M[i], 1e-7, 1e-6);
            assert_close(v[i], Vv[i], 1e-9, 1e-5);
        }
    }
    /* the first step moves every weight with a gradient by about lr (Adam's sign step) */
    float q[2] = {1.0f, 1.0f}, qm[2] = {0}, qv[2] = {0};
    const float qg[2] = {1e-3f, -50.0f};
    ac__adamw_step(q, qg, qm, qv, NULL, 2, 1, 0.01, 0.9, 0.999, 1e-8, 0.0);
    assert_close(q[0], 0.99, 1e-6, 0);
    assert_close(q[1], 1.01, 1e-6, 0);
}

static void test_clip_and_schedule(void **state) {
    (void)state;
    float g[3] = {3, 4, 0};
    assert_close(ac__clip_grad_norm(g, 3, 1.0f), 5.0, 1e-12, 0);
    assert_close(g[0], 0.6, 1e-6, 0);
    assert_close(g[1], 0.8, 1e-6, 0);
    float h[2] = {0.3f, 0.4f};
    assert_close(ac__clip_grad_norm(h, 2, 1.0f), 0.5, 1e-7, 0);
    assert_true(h[0] == 0.3f && h[1] == 0.4f); /* below the limit: untouched */
    /* warmup 10 of 110 steps, peak 1e-3, floor 10% */
    assert_close(ac__lr_at(0, 110, 10, 1e-3, 0.1), 1e-4, 1e-15, 0);
    assert_close(ac__lr_at(4, 110, 10, 1e-3, 0.1), 5e-4, 1e-15, 0);
    assert_close(ac__lr_at(9, 110, 10, 1e-3, 0.1), 1e-3, 1e-15, 0);
    assert_close(ac__lr_at(10, 110, 10, 1e-3, 0.1), 1e-3, 1e-15, 0);
    assert_close(ac__lr_at(109, 110, 10, 1e-3, 0.1), 1e-4, 1e-15, 0);
    /* half way through the decay: the mean of peak and floor */
    assert_close(ac__lr_at(10 + 99 / 2, 110, 10, 1e-3, 0.1), 1e-4 + 0.5 * 9e-4 * (1 + cos(M_PI * 49.0 / 99.0)), 1e-15, 0);
    for (int s = 11; s < 110; s++) assert_true(ac__lr_at(s, 110, 10, 1e-3, 0.1) <= ac__lr_at(s - 1, 110, 10, 1e-3, 0.1));
}

static void test_gpt2_init(void **state) {
    (void)state;
    ac_train_options o;
    ac_train_options_default(&o, AC_TRAIN_TASK_IOI);
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 4;
    c.n_head = c.n_kv_head = 4;
    c.d_model = 64;
    c.d_head = 16;
    c.d_mlp = 256;
    c.vocab_size = 100;
    c.n_ctx = 16;
    ac_model *m = NULL;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac__train_init_gpt2(m, 5);
    double s = 0, ss = 0;
    const size_t n = (size_t)100 * 64;
    for (size_t i = 0; i < n; i++) {
        s += m->w.wte[i];
        ss += (double)m->w.wte[i] * m->w.wte[i];
    }
    assert_close(s / (double)n, 0.0, 1e-3, 0);
    assert_close(sqrt(ss / (double)n), 0.02, 1e-3, 0);
    ss = 0;
    for (size_t i = 0; i < (size_t)64 * 256; i++) ss += (double)m->w.layers[2].w_proj[i] * m->w.layers[2].w_proj[i];
    assert_close(sqrt(ss / (64 * 256)), 0.02 / sqrt(8.0), 2e-4, 0);
    assert_true(m->w.layers[1].ln1_w[3] == 1.0f && m->w.layers[1].ln1_b[3] == 0.0f && m->w.layers[0].bq[0] == 0.0f);
    assert_true(m->w.lnf_w[0] == 1.0f && m->w.layers[3].b_fc[7] == 0.0f);
    /* decay mask: matrices and embeddings only */
    uint8_t *mask = malloc(m->arena_floats);
    ac__train_decay_mask(m, mask);
    assert_int_equal(mask[m->w.wte - m->arena], 1);
    assert_int_equal(mask[m->w.layers[1].wv - m->arena + 5], 1);
    assert_int_equal(mask[m->w.layers[1].bv - m->arena], 0);
    assert_int_equal(mask[m->w.layers[1].ln2_w - m->arena], 0);
    assert_int_equal(mask[m->w.lnf_b - m->arena], 0);
    free(mask);
    ac_model_free(m);
}

/* ---- tasks -------------------------------------------------------------------------------- */

static int contains(const int32_t *a, int n, int32_t v) {
    for (int i = 0; i < n; i++)
        if (a[i] == v) return 1;
    return 0;
}

static void test_task_ioi(void **state) {
    (void)state;
    ac_train_task *t = NULL;
    ac_error err;
    assert_ac_ok(ac_train_task_create(&t, AC_TRAIN_TASK_IOI, &err), &err);
    assert_string_equal(ac_train_task_token(t, 0), "<bos>");
    assert_int_equal(ac_train_task_prompt_len(t), 14);
    assert_true(ac_train_task_vocab_size(t) < 128);
    uint64_t rng = 3;
    int abba = 0;
    for (int i = 0; i < 500; i++) {
        ac_train_task_example e;
        ac_train_task_generate(t, &rng, &e);
        assert_int_equal(e.len, 14);
        assert_int_equal(e.n_answers, 1);
        assert_int_equal(e.n_wrong, 1);
        const int32_t io = e.answers[0], s = e.wrong[0];
        assert_true(io != s);
        /* names at 1 and 3 are {IO, S} in some order; S2 (9) is S */
        assert_true((e.clean[1] == io && e.clean[3] == s) || (e.clean[1] == s && e.clean[3] == io));
        abba += e.clean[1] == io;
        assert_int_equal(e.clean[9], s);
        assert_string_equal(ac_train_task_token(t, e.clean[13]), "to");
        assert_string_equal(ac_train_task_token(t, e.clean[8]), ",");
        /* ABC: three distinct names, everything else unchanged */
        assert_true(e.corrupt[1] != e.corrupt[3] && e.corrupt[1] != e.corrupt[9] && e.corrupt[3] != e.corrupt[9]);
        for (int p = 0; p < 14; p++)
            if (p != 1 && p != 3 && p != 9) assert_int_equal(e.corrupt[p], e.clean[p]);
        /* every id is a real token */
        for (int p = 0; p < 14; p++) assert_true(e.clean[p] > 0 && e.clean[p] < ac_train_task_vocab_size(t));
    }
    assert_true(abba > 200 && abba < 300);
    /* the same state gives the same example */
    ac_train_task_example a, b;
    uint64_t r1 = 99, r2 = 99;
    ac_train_task_generate(t, &r1, &a);
    ac_train_task_generate(t, &r2, &b);
    assert_memory_equal(&a, &b, sizeof a);
    const char *const *names;
    const int *pos;
    assert_int_equal(ac_train_task_word_idxs(t, &names, &pos), 4);
    assert_string_equal(names[2], "S2");
    assert_int_equal(pos[2], 9);
    ac_train_task_free(t);
}

static void test_task_greater_than(void **state) {
    (void)state;
    ac_train_task *t = NULL;
    ac_error err;
    assert_ac_ok(ac_train_task_create(&t, AC_TRAIN_TASK_GREATER_THAN, &err), &err);
    assert_int_equal(ac_train_task_prompt_len(t), 12);
    uint64_t rng = 11;
    for (int i = 0; i < 500; i++) {
        ac_train_task_example e;
        ac_train_task_generate(t, &rng, &e);
        const int yy = atoi(ac_train_task_token(t, e.clean[7]));
        assert_true(yy >= 2 && yy <= 98);
        assert_string_equal(ac_train_task_token(t, e.clean[6]), ac_train_task_token(t, e.clean[11])); /* same century */
        assert_int_equal(e.n_answers, 99 - yy);
        assert_int_equal(e.n_wrong, yy + 1);
        for (int j = 0; j < e.n_answers; j++) assert_int_equal(atoi(ac_train_task_token(t, e.answers[j])), yy + 1 + j);
        for (int j = 0; j < e.n_wrong; j++) assert_int_equal(atoi(ac_train_task_token(t, e.wrong[j])), j);
        assert_string_equal(ac_train_task_token(t, e.corrupt[7]), "01");
        for (int p = 0; p < 12; p++)
            if (p != 7) assert_int_equal(e.corrupt[p], e.clean[p]);
    }
    ac_train_task_free(t);
}

static void test_task_induction(void **state) {
    (void)state;
    ac_train_task *t = NULL;
    ac_error err;
    assert_ac_ok(ac_train_task_create(&t, AC_TRAIN_TASK_INDUCTION, &err), &err);
    const int L = ac_train_task_prompt_len(t);
    assert_int_equal(L, 20);
    uint64_t rng = 5;
    for (int i = 0; i < 500; i++) {
        ac_train_task_example e;
        ac_train_task_generate(t, &rng, &e);
        const int32_t A = e.clean[L - 1], Bt = e.answers[0], Bp = e.wrong[0];
        /* A occurs exactly once before the end, followed by the answer */
        int at = -1, count = 0;
        for (int p = 0; p < L - 1; p++)
            if (e.clean[p] == A) {
                at = p;
                count++;
            }
        assert_int_equal(count, 1);
        assert_int_equal(e.clean[at + 1], Bt);
        assert_false(contains(e.clean, L, Bp));
        /* the corrupt prompt swaps that B for B' and nothing else */
        for (int p = 0; p < L; p++) assert_int_equal(e.corrupt[p], p == at + 1 ? Bp : e.clean[p]);
        /* LM targets: each tail position's earlier occurrence is followed by the target */
        for (int k = 0; k < e.n_lm; k++) {
            const int p = e.lm_pos[k];
            int q = -1;
            for (int r = 0; r < p; r++)
                if (e.clean[r] == e.clean[p]) q = r;
            assert_true(q >= 0 && q + 1 < p);
            assert_int_equal(e.clean[q + 1], e.lm_next[k]);
            assert_int_equal(e.clean[p + 1], e.lm_next[k]);
        }
    }
    ac_train_task_free(t);
}

static void test_task_names(void **state) {
    (void)state;
    ac_train_task_kind k;
    ac_error err;
    assert_int_equal(ac_train_task_parse("greater-than", &k, &err), AC_OK);
    assert_int_equal(k, AC_TRAIN_TASK_GREATER_THAN);
    assert_int_equal(ac_train_task_parse("gt", &k, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "ioi, greater-than or induction"));
}

/* ---- training ------------------------------------------------------------------------------ */

typedef struct { double first, last; int calls; } loss_log;
static void log_progress(void *ctx, int step, int steps, double loss, double lr) {
    loss_log *l = ctx;
    (void)steps;
    (void)lr;
    if (step == 1) l->first = loss;
    l->last = loss;
    l->calls++;
}

static void tiny_options(ac_train_options *o, ac_train_task_kind k) {
    ac_train_options_default(o, k);
    o->n_layer = 1;
    o->n_head = 2;
    o->d_model = 16;
    o->d_mlp = k == AC_TRAIN_TASK_INDUCTION ? 0 : 32;
    o->steps = 100;
    o->batch = 16;
    o->lr = 1e-2;
    o->warmup = 5;
    o->n_train = 400;
    o->n_test = 40;
}

static void test_tiny_training(void **state) {
    (void)state;
    ac_train_options o;
    tiny_options(&o, AC_TRAIN_TASK_IOI);
    loss_log log = {0, 0, 0};
    o.progress = log_progress;
    o.progress_ctx = &log;
    o.progress_every = 1;
    ac_model *m1 = NULL, *m2 = NULL;
    ac_train_task_example *ex1 = NULL, *ex2 = NULL;
    ac_train_result r1, r2;
    ac_error err;
    assert_ac_ok(ac_train(&o, &m1, &ex1, &r1, &err), &err);
    assert_int_equal(log.calls, 100);
    /* from ln(V) ~ 4.6 to well below: the model learns at least that a name comes next */
    assert_true(log.first > 4.0);
    assert_true(r1.final_loss < log.first - 1.0);
    assert_true(r1.test_loss < log.first - 1.0);
    assert_int_equal(r1.n_test, 40);
    assert_int_equal(ac_model_config(m1)->bos_id, 0);
    assert_int_equal(ac_model_config(m1)->n_ctx, 15);
    /* bit-identical on repeat */
    o.progress = NULL;
    assert_ac_ok(ac_train(&o, &m2, &ex2, &r2, &err), &err);
    assert_memory_equal(m1->arena, m2->arena, m1->arena_floats * sizeof(float));
    assert_memory_equal(ex1, ex2, (size_t)o.n_test * sizeof *ex1);
    assert_true(r1.test_accuracy == r2.test_accuracy && r1.final_loss == r2.final_loss);
    /* held-out prompts are never training prompts; another seed, other weights */
    ac_model_free(m2);
    ac_free(ex2);
    o.seed = 2;
    assert_ac_ok(ac_train(&o, &m2, &ex2, &r2, &err), &err);
    assert_true(memcmp(m1->arena, m2->arena, m1->arena_floats * sizeof(float)) != 0);
    /* ac_train_evaluate on the returned examples reproduces the result */
    ac_train_result r3;
    assert_ac_ok(ac_train_evaluate(m1, ex1, 40, &r3, &err), &err);
    assert_true(r3.test_accuracy == r1.test_accuracy && r3.test_loss == r1.test_loss);
    ac_model_free(m1);
    ac_model_free(m2);
    ac_free(ex1);
    ac_free(ex2);
}

static void test_training_errors(void **state) {
    (void)state;
    ac_train_options o;
    tiny_options(&o, AC_TRAIN_TASK_IOI);
    o.d_model = 15; /* not a multiple of 2 heads */
    ac_model *m = NULL;
    ac_train_result r;
    ac_error err;
    assert_int_equal(ac_train(&o, &m, NULL, &r, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "multiple"));
    assert_null(m);
    tiny_options(&o, AC_TRAIN_TASK_IOI);
    o.lr = 1e6;
    assert_int_equal(ac_train(&o, &m, NULL, &r, &err), AC_ERR_ARG);
    /* allocation failures are reported, never crash or leak */
    tiny_options(&o, AC_TRAIN_TASK_INDUCTION);
    o.steps = 2;
    o.warmup = 1;
    o.n_test = 4;
    o.n_train = 20;
    int succeeded = 0;
    for (long k = 1; k < 2000 && !succeeded; k++) {
        ac_alloc_fail_after(k);
        int rc = ac_train(&o, &m, NULL, &r, &err);
        long used = ac_alloc_fail_after(0);
        if (rc == AC_OK) {
            assert_true(used < k);
            ac_model_free(m);
            succeeded = 1;
            break;
        }
        if (rc != AC_ERR_NOMEM) fail_msg("allocation %ld: %s", k, err.msg);
        assert_null(m);
    }
    assert_true(succeeded);
}

/* ---- CLI ------------------------------------------------------------------------------------ */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    buf[*n] = 0;
    fclose(f);
    return buf;
}

static void assert_same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
}

static void test_cli_train(void **state) {
    (void)state;
    const char *tmp = ac_test_tmpdir();
    char cmd[4096];
    const char *dirs[2] = {"cli_a", "cli_b"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "'%s' train --task induction --out '%s' --layers 1 --heads 2 --width 16 --steps 20 --batch 8 "
                 "--n-train 200 --n-test 64 --lr 0.003 --warmup 2 %s 2>&1",
                 ac_test_cli(), ac_test_path(tmp, dirs[k]), k ? "--quiet" : "");
        char *out = NULL;
        int st = ac_test_run(cmd, &out);
        if (st != 0) fail_msg("train failed (%d): %s", st, out ? out : "");
        assert_non_null(strstr(out, "held-out accuracy"));
        if (k == 0) assert_non_null(strstr(out, "train: step 20/20"));
        else assert_null(strstr(out, "train: step"));
        free(out);
    }
    /* identical runs, identical bytes */
    static const char *const files[] = {"model/config.json", "model/model.safetensors", "model/vocab.txt",
                                        "dataset.json", "README.md"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[2200], b[2200];
        snprintf(a, sizeof a, "%s/%s/%s", tmp, dirs[0], files[i]);
        snprintf(b, sizeof b, "%s/%s/%s", tmp, dirs[1], files[i]);
        assert_same_file(a, b);
    }
    /* the checkpoint loads; the dataset loads with the model's BOS; run works */
    char mdir[1100], data[1100];
    snprintf(mdir, sizeof mdir, "%s/cli_a/model", tmp);
    snprintf(data, sizeof data, "%s/cli_a/dataset.json", tmp);
    ac_model *m = NULL;
    ac_error err;
    assert_ac_ok(ac_model_load(&m, mdir, &err), &err);
    const ac_config *c = ac_model_config(m);
    assert_int_equal(c->n_layer, 1);
    assert_int_equal(c->attn_only, 1);
    assert_int_equal(c->bos_id, 0);
    assert_int_equal(c->vocab_size, 49);
    assert_int_equal(c->n_ctx, 21);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.bos_id = c->bos_id;
    o.vocab_size = c->vocab_size;
    o.train_size = 32;
    o.test_size = 32;
    ac_dataset *ds = NULL;
    const char *paths[1] = {data};
    assert_ac_ok(ac_dataset_load(&ds, paths, 1, NULL, &o, &err), &err);
    ac_dataset_summary sum;
    ac_dataset_summarize(ds, &sum);
    assert_int_equal(sum.train.min_len, 21);
    assert_int_equal(sum.test.max_len, 21);
    assert_int_equal(sum.n_seq_labels, 21); /* with "<|BOS|>" */
    ac_dataset_free(ds);
    ac_model_free(m);
    snprintf(cmd, sizeof cmd, "'%s' run --model '%s' --ids 0,1,2,3,1 --top-k 3 >/dev/null 2>&1", ac_test_cli(), mdir);
    assert_int_equal(ac_test_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "'%s' data --model '%s' --data '%s' --train-test 32,32 >/dev/null 2>&1", ac_test_cli(), mdir, data);
    assert_int_equal(ac_test_run(cmd, NULL), 0);
    /* usage errors */
    snprintf(cmd, sizeof cmd, "'%s' train --task nope --out '%s/x' 2>&1", ac_test_cli(), tmp);
    char *out = NULL;
    assert_int_equal(ac_test_run(cmd, &out), AC_ERR_ARG);
    assert_non_null(strstr(out, "unknown task"));
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' train --task ioi 2>&1", ac_test_cli());
    assert_int_equal(ac_test_run(cmd, NULL), AC_ERR_ARG);
}

/* ---- the shipped models (models/TASK-trained, datasets/TASK-trained.json) ------------------ */

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_shipped_models(void **state) {
    (void)state;
    static const char *const tasks[] = {"ioi", "greater-than", "induction"};
    char mdir[1024], data[1024], path[1100];
    long total = 0;
    snprintf(mdir, sizeof mdir, "%s/models/ioi-trained", ac_test_source_dir());
    if (file_size(ac_test_path(mdir, "model.safetensors")) < 0) skip();
    for (int k = 0; k < 3; k++) {
        snprintf(mdir, sizeof mdir, "%s/models/%s-trained", ac_test_source_dir(), tasks[k]);
        snprintf(data, sizeof data, "%s/datasets/%s-trained.json", ac_test_source_dir(), tasks[k]);
        snprintf(path, sizeof path, "%s/model.safetensors", mdir);
        const long size = file_size(path);
        assert_true(size > 0 && size < 5L * 1024 * 1024); /* each well under 5 MB */
        total += size;
        ac_model *m = NULL;
        ac_error err;
        assert_ac_ok(ac_model_load(&m, mdir, &err), &err);
        const ac_config *c = ac_model_config(m);
        /* the vocabulary file has one line per token */
        size_t n;
        snprintf(path, sizeof path, "%s/vocab.txt", mdir);
        char *vocab = slurp(path, &n);
        assert_non_null(vocab);
        int lines = 0;
        for (size_t i = 0; i < n; i++) lines += vocab[i] == '\n';
        assert_int_equal(lines, c->vocab_size);
        assert_memory_equal(vocab, "<bos>\n", 6);
        free(vocab);
        /* >= 95% top-1 accuracy on every held-out clean prompt, through the dataset loader */
        ac_dataset_options o;
        ac_dataset_options_default(&o);
        o.bos_id = c->bos_id;
        o.vocab_size = c->vocab_size;
        o.train_size = AC_DATASET_ALL;
        o.test_size = 0;
        o.train_batch_size = 100;
        ac_dataset *ds = NULL;
        const char *paths[1] = {data};
        assert_ac_ok(ac_dataset_load(&ds, paths, 1, NULL, &o, &err), &err);
        assert_true(ds->train.n_prompts >= 500);
        ac_run *r = NULL;
        assert_ac_ok(ac_run_create(&r, m, NULL, 100, c->n_ctx, &err), &err);
        float *logits = malloc(100 * (size_t)c->vocab_size * sizeof *logits);
        size_t hits = 0;
        for (size_t bi = 0; bi < ds->train.n_batches; bi++) {
            const ac_batch *b = &ds->train.batches[bi];
            ac_tokens in = {(int)b->batch_size, (int)b->seq_len, b->clean, b->clean_mask};
            ac_forward_opts fo;
            memset(&fo, 0, sizeof fo);
            fo.logits_mode = AC_LOGITS_LAST;
            fo.logits = logits;
            assert_ac_ok(ac_run_forward(r, &in, &fo, &err), &err);
            for (size_t row = 0; row < b->batch_size; row++) {
                const float *z = logits + row * (size_t)c->vocab_size;
                int top = 0;
                for (int v = 1; v < c->vocab_size; v++)
                    if (z[v] > z[top]) top = v;
                for (int j = b->answer_offsets[row]; j < b->answer_offsets[row + 1]; j++) hits += b->answers[j] == top;
            }
        }
        const double acc = (double)hits / (double)ds->train.n_prompts;
        print_message("%s-trained: %zu parameters, %ld bytes, held-out accuracy %.2f%%\n", tasks[k],
                      ac_config_param_count(c), size, 100 * acc);
        assert_true(acc >= 0.95);
        free(logits);
        ac_run_free(r);
        ac_dataset_free(ds);
        ac_model_free(m);
    }
    assert_true(total < 20L * 1024 * 1024);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weight_ops),
        cmocka_unit_test(test_grad_gpt2),
        cmocka_unit_test(test_grad_attn_only_untied),
        cmocka_unit_test(test_grad_no_layernorm),
        cmocka_unit_test(test_grad_llama_gqa),
        cmocka_unit_test(test_adamw_by_hand),
        cmocka_unit_test(test_clip_and_schedule),
        cmocka_unit_test(test_gpt2_init),
        cmocka_unit_test(test_task_ioi),
        cmocka_unit_test(test_task_greater_than),
        cmocka_unit_test(test_task_induction),
        cmocka_unit_test(test_task_names),
        cmocka_unit_test(test_tiny_training),
        cmocka_unit_test(test_training_errors),
        cmocka_unit_test(test_cli_train),
        cmocka_unit_test(test_shipped_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
