/* Subnetwork probing: hard-concrete samples, Adam, the uniform stream, per-row engine
 * masks against the naive reference, the probing loss gradient against finite
 * differences of a double-precision re-implementation, a planted circuit, determinism,
 * circuit probing, targets and errors. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algos/probe_internal.h"
#include "autocircuit/algos.h"
#include "model/model_internal.h"
#include "ref_model.h"

enum { V = 23 };

/* ---- fixtures ---------------------------------------------------------------------- */

/* GPT-2 style, 2 layers, 2 heads, d 8; planted: head and MLP outputs scaled down 50x so
 * that only the direct path Resid Start -> Resid End matters */
static ac_model *make_model(int planted, int attn_only) {
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
    ac_model_init_random(m, planted ? 7 : 99, 0.5f);
    if (planted) {
        const size_t d = 8, hd = 8;
        for (int l = 0; l < c.n_layer; l++) {
            ac_layer_weights *lw = &m->w.layers[l];
            for (size_t i = 0; i < d * hd; i++) lw->wo[i] *= 0.02f;
            if (lw->bo) for (size_t i = 0; i < d; i++) lw->bo[i] *= 0.02f;
            if (!attn_only) {
                for (size_t i = 0; i < d * 16; i++) lw->w_proj[i] *= 0.02f;
                if (lw->b_proj) for (size_t i = 0; i < d; i++) lw->b_proj[i] *= 0.02f;
            }
        }
    }
    return m;
}

/* n prompt pairs of 5 tokens (one of 4 when ragged); the corrupt prompt differs at the
 * last token (and at position 1 unless last_only); one answer per prompt unless multi */
static const char *write_dataset(const char *name, int n, int last_only, int multi, int ragged) {
    const char *path = ac_test_path(ac_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < n; i++) {
        int short_one = ragged && i == 1;
        fprintf(f, "{\"clean\": [");
        if (!short_one) fprintf(f, "%d, ", 1 + i % 4);
        fprintf(f, "%d, %d, %d, %d], \"corrupt\": [", 2 + i, 3, 4 + i % 3, 5 + i);
        if (!short_one) fprintf(f, "%d, ", 1 + i % 4);
        fprintf(f, "%d, %d, %d, %d], ", last_only ? 2 + i : 9 + i, 3, 4 + i % 3, 13 + i);
        if (multi && i % 3 == 2) fprintf(f, "\"answers\": [%d, %d], \"wrong_answers\": [%d]}", 7 + i, 2, 12);
        else fprintf(f, "\"answers\": [%d], \"wrong_answers\": [%d, %d]}", 7 + i, 12 + i % 4, 20);
        fprintf(f, "%s\n", i + 1 < n ? "," : "");
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

typedef struct {
    int planted, attn_only, seq_len, separate_qkv, n, batch, last_only, multi, ragged;
} fx_opts;

static fixture setup(fx_opts fo) {
    fixture f;
    ac_error err;
    f.m = make_model(fo.planted, fo.attn_only);
    ac_graph_opts go = {.separate_qkv = fo.separate_qkv, .seq_len = fo.seq_len};
    assert_ac_ok(ac_graph_build(&f.g, ac_model_config(f.m), &go, &err), &err);
    char name[64];
    snprintf(name, sizeof name, "probe_%d_%d_%d_%d.json", fo.n, fo.last_only, fo.multi, fo.ragged);
    const char *path = write_dataset(name, fo.n, fo.last_only, fo.multi, fo.ragged);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.pad_id = 0;
    o.vocab_size = V;
    o.train_size = (size_t)fo.n;
    o.test_size = 0;
    o.train_batch_size = o.test_batch_size = (size_t)fo.batch;
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

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* ---- primitives -------------------------------------------------------------------- */

static void test_hard_concrete_values(void **state) {
    (void)state;
    double dm;
    /* u = 0.5, logit 0: x = 0, s = 1/2, 0.5·1.2 − 0.1 = 0.5; d/dlogit = 1.2·(1/4)/(2/3) */
    assert_close(ac_hard_concrete(0.0, 0.5, &dm), 0.5, 1e-15, 0);
    assert_close(dm, 0.45, 1e-15, 0);
    /* u = 0.2, logit 0.3: x = (ln 0.25 + 0.3)·1.5 = −1.6294415, s = 0.16390688,
     * 1.2 s − 0.1 = 0.09668825 */
    assert_close(ac_hard_concrete(0.3, 0.2, &dm), 0.096688254532718537, 1e-14, 0);
    assert_close(dm, 0.24667454496016847, 1e-14, 0);
    /* u = 0.9, logit −1: x = (ln 9 − 1)·1.5 = 1.7958369, 1.2 s − 0.1 = 0.92916968 */
    assert_close(ac_hard_concrete(-1.0, 0.9, &dm), 0.92916968424439361, 1e-14, 0);
    assert_close(dm, 0.21976672765695934, 1e-14, 0);
    /* the stretch past 1 is clamped: ln 5 at u = 0.5 gives 1.2·0.91788 − 0.1 = 1.0015 */
    assert_true(ac_hard_concrete(log(5.0), 0.5, &dm) == 1.0);
    assert_true(dm == 0.0);
    assert_true(ac_hard_concrete(-log(5.0), 0.5, &dm) == 0.0);
    assert_true(dm == 0.0);
    assert_true(ac_hard_concrete(40.0, 0.5, NULL) == 1.0);
    assert_true(ac_hard_concrete(-40.0, 0.5, NULL) == 0.0);
    /* u is clamped to [1e-4, 1 − 1e-4]: at logit 9.21 the sample sits mid-range */
    assert_true(ac_hard_concrete(9.21, 0.0, NULL) == ac_hard_concrete(9.21, 1e-4, NULL));
    assert_true(ac_hard_concrete(9.21, 1e-7, NULL) == ac_hard_concrete(9.21, 1e-4, NULL));
    assert_close(ac_hard_concrete(9.21, 0.0, NULL), 0.49989183486204058, 1e-12, 0);
    assert_true(ac_hard_concrete(-9.21, 1.0, NULL) == ac_hard_concrete(-9.21, 1.0 - 1e-4, NULL));
    assert_close(ac_hard_concrete(-9.21, 1.0, NULL), 0.5001081651380096, 1e-12, 0);
    assert_true(ac_hard_concrete(9.21, 2e-4, NULL) != ac_hard_concrete(9.21, 1e-4, NULL));
    /* P(mask > 0) = sigmoid(logit − c), c = temp·ln(−left/right): the sample is positive
     * exactly when u > sigmoid(c − logit) (the avoid-edge penalty's constant) */
    assert_close(AC_HC_REGULARIZE_CONST, -1.598596848532247, 1e-12, 0);
    for (double th = -2.0; th <= 2.0; th += 0.5) {
        const double u0 = 1.0 / (1.0 + exp(-(AC_HC_REGULARIZE_CONST - th)));
        assert_true(ac_hard_concrete(th, u0 * (1 + 1e-9), NULL) > 0.0);
        assert_true(ac_hard_concrete(th, u0 * (1 - 1e-9), NULL) == 0.0);
    }
}

static void test_adam_steps(void **state) {
    (void)state;
    /* hand computation: t=1, g=0.5: m=0.05, v=2.5e-4, m̂=0.5, v̂=0.25: θ = 1 − 0.1·0.5/(0.5+1e-8);
     * t=2, g=−1: m=−0.055, v=1.24975e-3; t=3, g=0.25 */
    double th = 1.0, m = 0, v = 0;
    const double g[3] = {0.5, -1.0, 0.25};
    const double want[3] = {0.90000000199999985, 0.93661035424056527, 0.95027942033897606};
    for (int t = 1; t <= 3; t++) {
        ac__adam_step(1, &th, &g[t - 1], &m, &v, t, 0.1);
        assert_close(th, want[t - 1], 1e-14, 0);
    }
    assert_close(m, 0.9 * (0.9 * 0.05 - 0.1) + 0.1 * 0.25, 1e-15, 0);
    /* vector form: each element independent */
    double th2[2] = {1.0, -3.0}, g2[2] = {0.5, 0.0}, m2[2] = {0}, v2[2] = {0};
    ac__adam_step(2, th2, g2, m2, v2, 1, 0.1);
    assert_close(th2[0], want[0], 1e-14, 0);
    assert_true(th2[1] == -3.0); /* zero gradient: no move */
}

static void test_uniform_stream(void **state) {
    (void)state;
    /* the stream is splitmix64: its top 24 bits are the random baseline's values */
    fixture f = setup((fx_opts){.separate_qkv = 1, .n = 4, .batch = 4});
    float *r = calloc(f.g->n_edges, sizeof(float));
    ac_algo_random(f.g, 1234, r);
    double lo = 1, hi = 0;
    for (size_t k = 0; k < f.g->n_edges; k++) {
        const double u = ac__probe_uniform(1234, k);
        assert_true(u >= 0.0 && u < 1.0);
        assert_true((float)(floor(u * 16777216.0) / 16777216.0) == r[k]);
        lo = fmin(lo, u);
        hi = fmax(hi, u);
    }
    assert_true(lo < 0.2 && hi > 0.8);
    assert_true(ac__probe_uniform(1, 0) != ac__probe_uniform(2, 0));
    free(r);
    teardown_fx(&f);
}

static void test_names(void **state) {
    (void)state;
    ac_error err;
    ac_probe_target t;
    assert_ac_ok(ac_probe_target_from_name("logit-diff-percent", &t, &err), &err);
    assert_int_equal(t, AC_PROBE_LOGIT_DIFF_PERCENT);
    assert_ac_ok(ac_probe_target_from_name("kl_div", &t, &err), &err);
    assert_int_equal(t, AC_PROBE_KL_DIV);
    assert_int_equal(ac_probe_target_from_name("kl", &t, &err), AC_ERR_ARG);
    assert_string_equal(ac_probe_target_name(AC_PROBE_WRONG_ANSWER), "wrong_answer");
    ac_mask_fn mf;
    assert_ac_ok(ac_mask_fn_from_name("hard-concrete", &mf, &err), &err);
    assert_int_equal(mf, AC_MASK_FN_HARD_CONCRETE);
    assert_ac_ok(ac_mask_fn_from_name("sigmoid", &mf, &err), &err);
    assert_int_equal(mf, AC_MASK_FN_SIGMOID);
    assert_int_equal(ac_mask_fn_from_name("relu", &mf, &err), AC_ERR_ARG);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    assert_int_equal(o.probe_epochs, 20);
    assert_close(o.probe_lr, 0.1, 0, 0);
    assert_close(o.probe_lambda, 10.0, 0, 0);
    assert_true(isnan(o.probe_init));
    assert_int_equal(o.probe_tree, 0);
    assert_int_equal(o.probe_circuit_size, 0);
    assert_int_equal(o.probe_ablation, 0);
}

/* ---- per-row masks in the engine ----------------------------------------------------- */

enum { RB = 3, RT = 7 };
static const int32_t clean_ids[RB * RT] = {5, 9, 2, 3, 11, 4, 17, 0, 0, 8, 3, 3, 21, 6, 0, 12, 1, 13, 7, 7, 2};
static const int32_t corrupt_ids[RB * RT] = {5, 9, 14, 3, 11, 2, 17, 0, 0, 8, 19, 3, 21, 16, 0, 12, 1, 10, 7, 7, 2};
static const uint8_t pad_mask[RB * RT] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
static const int32_t r_ans[RB] = {3, 14, 20}, r_wrong[RB] = {20, 2, 5};

/* row b of a source stack [n_src][RB*RT][d] as doubles [n_src][RT][d] */
static double *row_stack(const float *S, int n_src, int b, int T, int Btot, int d) {
    double *o = malloc((size_t)n_src * (size_t)T * (size_t)d * sizeof(double));
    for (int s = 0; s < n_src; s++)
        for (int i = 0; i < T * d; i++)
            o[((size_t)s * (size_t)T) * (size_t)d + (size_t)i] =
                S[((size_t)s * (size_t)Btot * (size_t)T + (size_t)b * (size_t)T) * (size_t)d + (size_t)i];
    return o;
}

static void check_per_row(ac_model *m, ac_graph *g) {
    const int d = ac_model_config(m)->d_model;
    const size_t E = g->n_edges, S = (size_t)g->n_src * RB * RT * (size_t)d;
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, g, RB, RT, &err), &err);
    float *patch = calloc(S, sizeof(float)), *masks = calloc(RB * E, sizeof(float));
    float *grad = calloc(RB * E, sizeof(float)), *shared_grad = calloc(E, sizeof(float));
    float logits[RB * V], shared_logits[RB * V], dl[RB * V];
    ac_tokens cor = {RB, RT, corrupt_ids, pad_mask}, cle = {RB, RT, clean_ids, pad_mask};
    ac_forward_opts o1 = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .record = patch};
    assert_ac_ok(ac_run_forward(r, &cor, &o1, &err), &err);
    for (size_t i = 0; i < RB * E; i++) masks[i] = (float)urand();
    ac_forward_opts o2 = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .masks = masks, .patch = patch,
                          .masks_per_row = 1};
    assert_ac_ok(ac_run_forward(r, &cle, &o2, &err), &err);
    memset(dl, 0, sizeof dl);
    for (int b = 0; b < RB; b++) {
        dl[b * V + r_ans[b]] -= 1.0f / RB;
        dl[b * V + r_wrong[b]] += 1.0f / RB;
    }
    ac_backward_opts bo = {.dlogits = dl, .mask_grad = grad};
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
    /* each row against the reference run on that row alone with its own masks */
    double maxg = 0;
    for (size_t i = 0; i < RB * E; i++) maxg = fmax(maxg, fabs(grad[i]));
    assert_true(maxg > 1e-3);
    for (int b = 0; b < RB; b++) {
        double *dp = row_stack(patch, g->n_src, b, RT, RB, d);
        double *dm = malloc(E * sizeof(double));
        for (size_t e = 0; e < E; e++) dm[e] = masks[(size_t)b * E + e];
        double ref[V], lp[V], lm[V];
        ac_ref_forward(m, g, 1, RT, clean_ids + b * RT, pad_mask + b * RT, dm, dp, NULL, ref, 0);
        for (int v = 0; v < V; v++) assert_close(logits[b * V + v], ref[v], 2e-4, 1e-4);
        const size_t stride = E > 200 ? 5 : 1;
        for (size_t e = (size_t)b; e < E; e += stride) {
            const double h = 1e-4, keep = dm[e];
            dm[e] = keep + h;
            ac_ref_forward(m, g, 1, RT, clean_ids + b * RT, pad_mask + b * RT, dm, dp, NULL, lp, 0);
            dm[e] = keep - h;
            ac_ref_forward(m, g, 1, RT, clean_ids + b * RT, pad_mask + b * RT, dm, dp, NULL, lm, 0);
            dm[e] = keep;
            const double fd = (-(lp[r_ans[b]] - lp[r_wrong[b]]) + (lm[r_ans[b]] - lm[r_wrong[b]])) / RB / (2 * h);
            assert_close(grad[(size_t)b * E + e], fd, 1e-4 + 1e-4 * maxg, 2e-3);
        }
        free(dp);
        free(dm);
    }
    /* identical rows: the per-row forward is the shared one, per-row gradients sum to
     * the shared gradient */
    for (int b = 1; b < RB; b++) memcpy(masks + (size_t)b * E, masks, E * sizeof(float));
    memset(grad, 0, RB * E * sizeof(float));
    assert_ac_ok(ac_run_forward(r, &cle, &o2, &err), &err);
    assert_ac_ok(ac_run_backward(r, &bo, &err), &err);
    ac_forward_opts o3 = {.logits_mode = AC_LOGITS_LAST, .logits = shared_logits, .masks = masks, .patch = patch};
    assert_ac_ok(ac_run_forward(r, &cle, &o3, &err), &err);
    ac_backward_opts bo3 = {.dlogits = dl, .mask_grad = shared_grad};
    assert_ac_ok(ac_run_backward(r, &bo3, &err), &err);
    for (int i = 0; i < RB * V; i++) assert_close(logits[i], shared_logits[i], 1e-5, 1e-5);
    for (size_t e = 0; e < E; e++)
        assert_close((double)grad[e] + grad[E + e] + grad[2 * E + e], shared_grad[e], 1e-5, 1e-4);
    free(patch); free(masks); free(grad); free(shared_grad);
    ac_run_free(r);
}

static void test_per_row_masks_match_reference(void **state) {
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        ac_model *m = make_model(0, variant == 2);
        ac_graph *g;
        ac_error err;
        ac_graph_opts go = {.separate_qkv = variant != 1, .seq_len = variant == 2 ? RT : 0};
        assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &go, &err), &err);
        check_per_row(m, g);
        ac_graph_free(g);
        ac_model_free(m);
    }
}

/* ---- the probing loss gradient against finite differences ---------------------------- */

/* a double-precision re-implementation of one probing step's loss, each prompt run alone
 * through the reference model with its own masks */
static double mask_value(const ac_discover_opts *o, double th, double u, double *sb_raw) {
    if (o->probe_mask_fn == AC_MASK_FN_SIGMOID) return 1.0 / (1.0 + exp(-th));
    if (o->probe_mask_fn == AC_MASK_FN_NONE) return th;
    u = fmin(fmax(u, 1e-4), 1 - 1e-4);
    const double s = 1.0 / (1.0 + exp(-(log(u / (1 - u)) + th) * 1.5));
    const double sb = s * 1.2 - 0.1;
    if (sb_raw) *sb_raw = sb;
    return fmin(fmax(sb, 0.0), 1.0);
}

typedef struct {
    fixture *f;
    const ac_discover_opts *o;
    const ac_batch *b;
    double **patch_rows; /* [B] */
    double *clean;       /* [B][V] reference clean logits */
} ref_loss_ctx;

static double ref_loss(ref_loss_ctx *x, const double *theta, const double *u_rows, const double *u_reg) {
    const ac_graph *g = x->f->g;
    const ac_discover_opts *o = x->o;
    const ac_batch *b = x->b;
    const size_t E = g->n_edges, B = b->batch_size, T = b->seq_len;
    double *mk = malloc(E * sizeof(double)), z[V];
    double faith = 0;
    for (size_t r = 0; r < B; r++) {
        for (size_t e = 0; e < E; e++) mk[e] = mask_value(o, theta[e], u_rows ? u_rows[r * E + e] : 0, NULL);
        const int32_t *ids = (o->probe_tree ? b->clean : b->corrupt) + r * T;
        const uint8_t *msk = (o->probe_tree ? b->clean_mask : b->corrupt_mask) + r * T;
        ac_ref_forward(x->f->m, g, 1, (int)T, ids, msk, mk, x->patch_rows[r], NULL, z, 0);
        const double *t = x->clean + r * V;
        const int32_t *A = b->answers + b->answer_offsets[r], *W = b->wrong_answers + b->wrong_offsets[r];
        const int na = b->answer_offsets[r + 1] - b->answer_offsets[r], nw = b->wrong_offsets[r + 1] - b->wrong_offsets[r];
        switch (o->probe_target) {
        case AC_PROBE_KL_DIV: {
            double mz = -1e300, mt = -1e300, sz = 0, st = 0;
            for (int v = 0; v < V; v++) { mz = fmax(mz, z[v]); mt = fmax(mt, t[v]); }
            for (int v = 0; v < V; v++) { sz += exp(z[v] - mz); st += exp(t[v] - mt); }
            for (int v = 0; v < V; v++) {
                double lp = t[v] - mt - log(st), lq = z[v] - mz - log(sz);
                faith += exp(lp) * (lp - lq) / (double)B;
            }
            break;
        }
        case AC_PROBE_ANSWER:
        case AC_PROBE_WRONG_ANSWER: {
            const int w = o->probe_target == AC_PROBE_WRONG_ANSWER;
            double s = 0;
            for (int k = 0; k < (w ? nw : na); k++) s += z[(w ? W : A)[k]];
            faith -= s / (w ? nw : na) / (double)B;
            break;
        }
        case AC_PROBE_LOGIT_DIFF_PERCENT: {
            double dz = 0, dt = 0;
            for (int k = 0; k < na; k++) { dz += z[A[k]] / na; dt += t[A[k]] / na; }
            for (int k = 0; k < nw; k++) { dz -= z[W[k]] / nw; dt -= t[W[k]] / nw; }
            faith += fabs(100.0 - 100.0 * dz / dt) / (double)B;
            break;
        }
        default:
            fail();
        }
    }
    double sum = 0;
    for (size_t e = 0; e < E; e++) sum += mask_value(o, theta[e], u_reg ? u_reg[e] : 0, NULL);
    double count = o->probe_tree ? (double)E - sum : sum, reg;
    if (o->probe_circuit_size) reg = fmax(count - (double)o->probe_circuit_size, 0.0) / (double)o->probe_circuit_size;
    else reg = count / (double)E;
    if (o->probe_avoid) {
        size_t n = 0;
        for (size_t e = 0; e < E; e++) n += o->probe_avoid[e];
        const double c = o->probe_mask_fn == AC_MASK_FN_HARD_CONCRETE ? (2.0 / 3.0) * log(0.1 / 1.1) : 0.0;
        for (size_t e = 0; e < E; e++)
            if (o->probe_avoid[e])
                reg += (o->probe_tree ? -1.0 : 1.0) * o->probe_avoid_lambda / (double)n / (1.0 + exp(-(theta[e] - c)));
    }
    free(mk);
    return faith + o->probe_lambda * reg;
}

static void check_probe_grad(fixture *f, ac_discover_opts *o) {
    ac_error err;
    ac__probe p;
    assert_ac_ok(ac__probe_init(&p, f->c, o, &err), &err);
    assert_ac_ok(ac__probe_patch(&p, 0, &err), &err);
    const ac_batch *b = &f->c->split->batches[0];
    const size_t E = f->g->n_edges, B = b->batch_size, T = b->seq_len;
    const int d = ac_model_config(f->m)->d_model;
    double *theta = malloc(E * sizeof(double)), *grad = malloc(E * sizeof(double));
    double *u_rows = malloc(B * E * sizeof(double)), *u_reg = malloc(E * sizeof(double));
    for (size_t e = 0; e < E; e++) theta[e] = 4.0 * urand() - 2.0;
    for (size_t i = 0; i < B * E; i++) u_rows[i] = urand();
    for (size_t e = 0; e < E; e++) u_reg[e] = urand();
    const int hc = o->probe_mask_fn == AC_MASK_FN_HARD_CONCRETE;
    double loss, faith;
    assert_ac_ok(ac__probe_loss_grad(&p, 0, theta, hc ? u_rows : NULL, hc ? u_reg : NULL, &loss, &faith, grad, &err),
                 &err);
    assert_int_equal(p.counter, 0); /* explicit uniforms leave the stream alone */
    ref_loss_ctx x = {.f = f, .o = o, .b = b, .patch_rows = malloc(B * sizeof(double *)), .clean = malloc(B * V * sizeof(double))};
    for (size_t r = 0; r < B; r++) {
        x.patch_rows[r] = row_stack(f->c->patch, f->g->n_src, (int)r, (int)T, (int)B, d);
        ac_ref_forward(f->m, f->g, 1, (int)T, b->clean + r * T, b->clean_mask + r * T, NULL, NULL, NULL, x.clean + r * V, 0);
    }
    const double *ur = hc ? u_rows : NULL, *ug = hc ? u_reg : NULL;
    const double L0 = ref_loss(&x, theta, ur, ug);
    assert_close(loss, L0, 1e-4, 1e-4);
    double maxg = 0;
    for (size_t e = 0; e < E; e++) maxg = fmax(maxg, fabs(grad[e]));
    assert_true(maxg > 1e-3);
    size_t checked = 0, nonzero = 0;
    for (size_t e = 0; e < E; e++) {
        /* skip edges whose sample sits on a clamp kink */
        int kink = 0;
        for (size_t r = 0; r <= B && hc; r++) {
            double sb = 0.5;
            mask_value(o, theta[e], r < B ? u_rows[r * E + e] : u_reg[e], &sb);
            kink |= fabs(sb) < 1e-4 || fabs(sb - 1.0) < 1e-4;
        }
        if (kink) continue;
        const double h = 1e-5, keep = theta[e];
        theta[e] = keep + h;
        const double lp = ref_loss(&x, theta, ur, ug);
        theta[e] = keep - h;
        const double lm = ref_loss(&x, theta, ur, ug);
        theta[e] = keep;
        const double fd = (lp - lm) / (2 * h);
        assert_close(grad[e], fd, 2e-4 + 1e-4 * maxg, 2e-3);
        checked++;
        nonzero += fabs(fd) > 1e-6;
    }
    assert_true(checked > E / 3);
    assert_true(nonzero > 3);
    for (size_t r = 0; r < B; r++) free(x.patch_rows[r]);
    free(x.patch_rows); free(x.clean);
    free(theta); free(grad); free(u_rows); free(u_reg);
    ac__probe_free(&p);
}

static void test_probe_gradient_matches_finite_differences(void **state) {
    (void)state;
    /* KL, edge mode, hard concrete, explicit resample (clean-side values), with padding */
    {
        fixture f = setup((fx_opts){.separate_qkv = 1, .n = 3, .batch = 3, .multi = 1, .ragged = 1});
        ac_discover_opts o;
        ac_discover_opts_default(&o);
        o.probe_ablation = AC_ABLATION_RESAMPLE;
        check_probe_grad(&f, &o);
        teardown_fx(&f);
    }
    /* logit-diff percent, tree mode, default (mean corrupt) patches, circuit size and
     * avoided edges */
    {
        fixture f = setup((fx_opts){.separate_qkv = 1, .n = 3, .batch = 3, .multi = 1});
        ac_discover_opts o;
        ac_discover_opts_default(&o);
        o.probe_target = AC_PROBE_LOGIT_DIFF_PERCENT;
        o.probe_tree = 1;
        o.probe_circuit_size = 4;
        uint8_t *avoid = calloc(f.g->n_edges, 1);
        avoid[2] = avoid[17] = avoid[f.g->n_edges - 1] = 1;
        o.probe_avoid = avoid;
        o.probe_avoid_lambda = 3.0;
        check_probe_grad(&f, &o);
        free(avoid);
        teardown_fx(&f);
    }
    /* wrong-answer logit with sigmoid masks (one mask vector for every prompt), per
     * position, attention only */
    {
        fixture f = setup((fx_opts){.attn_only = 1, .separate_qkv = 1, .seq_len = 5, .n = 3, .batch = 3, .multi = 1});
        ac_discover_opts o;
        ac_discover_opts_default(&o);
        o.probe_target = AC_PROBE_WRONG_ANSWER;
        o.probe_mask_fn = AC_MASK_FN_SIGMOID;
        o.probe_lambda = 0.5;
        check_probe_grad(&f, &o);
        teardown_fx(&f);
    }
    /* answer logit, hard concrete, per position, combined Q/K/V */
    {
        fixture f = setup((fx_opts){.separate_qkv = 0, .seq_len = 5, .n = 2, .batch = 2});
        ac_discover_opts o;
        ac_discover_opts_default(&o);
        o.probe_target = AC_PROBE_ANSWER;
        o.probe_ablation = AC_ABLATION_ZERO;
        check_probe_grad(&f, &o);
        teardown_fx(&f);
    }
}

/* ---- the algorithm ------------------------------------------------------------------- */

static size_t argmax(const float *s, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] > s[best]) best = i;
    return best;
}

static void check_planted(int tree, int seq_len) {
    fixture f = setup((fx_opts){.planted = 1, .separate_qkv = 1, .seq_len = seq_len, .n = 6, .batch = 3, .last_only = 1});
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.probe_epochs = 30;
    o.probe_tree = tree;
    if (!tree) o.probe_ablation = AC_ABLATION_RESAMPLE; /* edge mode: patch clean values in */
    ac_error err;
    const size_t E = f.g->n_edges;
    float *sc = calloc(E, sizeof(float));
    double loss[30];
    uint64_t counter = 0;
    assert_ac_ok(ac__probe_train(f.c, &o, &counter, 0, 30, "probe", sc, loss, &err), &err);
    const size_t planted = ac_graph_find_edge(f.g, "Resid Start->Resid End", seq_len ? seq_len - 1 : 0);
    assert_true(planted != (size_t)-1);
    assert_int_equal(argmax(sc, E), planted);
    float second = -1;
    double mn = INFINITY;
    for (size_t e = 0; e < E; e++) {
        assert_true(sc[e] >= 0.0f);
        mn = fmin(mn, sc[e]);
        if (e != planted) second = fmaxf(second, sc[e]);
    }
    assert_true(sc[planted] > second + 1.0f);
    assert_close(mn, 0.0, 1e-6, 0); /* the extreme logit scores 0 */
    assert_true(loss[29] < loss[0]);
    assert_int_equal(counter, 30ull * 2 * (3 + 1) * E); /* 2 batches of 3 per epoch */
    free(sc);
    teardown_fx(&f);
}

static void test_planted_circuit(void **state) {
    (void)state;
    check_planted(0, 0);
    check_planted(1, 0);
    check_planted(0, 5); /* per-position edges: the edge at the last position */
    check_planted(1, 5);
}

typedef struct {
    size_t calls, last_done, last_total;
} progress_rec;
static void on_progress(void *u, size_t done, size_t total, const char *what) {
    progress_rec *p = u;
    assert_true(done == p->last_done + 1);
    assert_non_null(what);
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

static void test_determinism_and_progress(void **state) {
    (void)state;
    fixture f = setup((fx_opts){.separate_qkv = 1, .n = 4, .batch = 2});
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.probe_epochs = 3;
    ac_error err;
    const size_t E = f.g->n_edges;
    float *a = calloc(E, sizeof(float)), *b = calloc(E, sizeof(float));
    progress_rec pr = {0};
    ac_algo_ctx_set_progress(f.c, on_progress, &pr);
    assert_ac_ok(ac_algo_probe(f.c, &o, a, &err), &err);
    assert_int_equal(pr.calls, 3);
    assert_int_equal(pr.last_total, 3);
    ac_algo_ctx_set_progress(f.c, NULL, NULL);
    assert_ac_ok(ac_algo_probe(f.c, &o, b, &err), &err);
    assert_memory_equal(a, b, E * sizeof(float));
    o.seed = 43;
    assert_ac_ok(ac_algo_probe(f.c, &o, b, &err), &err);
    assert_true(memcmp(a, b, E * sizeof(float)) != 0);
    /* no epochs: every logit stays at −ln 5, every score |−ln 5| − ln 5 = 0 */
    o.probe_epochs = 0;
    assert_ac_ok(ac_algo_probe(f.c, &o, b, &err), &err);
    for (size_t e = 0; e < E; e++) assert_true(b[e] == 0.0f);
    /* one epoch of one deterministic step by hand: sigmoid masks, so θ moves by exactly
     * −lr·sign(grad) on the first Adam step (|m̂| / sqrt(v̂) = 1) */
    fixture g1 = setup((fx_opts){.separate_qkv = 1, .n = 2, .batch = 2});
    ac_discover_opts o1;
    ac_discover_opts_default(&o1);
    o1.probe_epochs = 1;
    o1.probe_mask_fn = AC_MASK_FN_SIGMOID;
    const size_t E1 = g1.g->n_edges;
    float *s1 = calloc(E1, sizeof(float));
    assert_ac_ok(ac_algo_probe(g1.c, &o1, s1, &err), &err);
    ac__probe p;
    assert_ac_ok(ac__probe_init(&p, g1.c, &o1, &err), &err);
    assert_ac_ok(ac__probe_patch(&p, 0, &err), &err);
    double *th = malloc(E1 * sizeof(double)), *gr = malloc(E1 * sizeof(double)), loss;
    for (size_t e = 0; e < E1; e++) th[e] = -log(5.0);
    assert_ac_ok(ac__probe_loss_grad(&p, 0, th, NULL, NULL, &loss, NULL, gr, &err), &err);
    double mn = INFINITY;
    for (size_t e = 0; e < E1; e++) {
        th[e] -= 0.1 * (gr[e] > 0 ? 1 : gr[e] < 0 ? -1 : 0) / (1.0 + 1e-8 / fabs(gr[e] ? gr[e] : 1));
        mn = fmin(mn, th[e]);
    }
    for (size_t e = 0; e < E1; e++) assert_close(s1[e], fabs(mn) + th[e], 1e-5, 0);
    free(th); free(gr); free(s1);
    ac__probe_free(&p);
    teardown_fx(&g1);
    free(a); free(b);
    teardown_fx(&f);
}

/* drawn uniforms follow the documented order: the prompts' samples (prompt-major), then
 * the regularizer's, from the stream position; the position advances by (B + 1)·E */
static void test_stream_order(void **state) {
    (void)state;
    fixture f = setup((fx_opts){.separate_qkv = 1, .n = 3, .batch = 3});
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.seed = 77;
    ac_error err;
    ac__probe p;
    assert_ac_ok(ac__probe_init(&p, f.c, &o, &err), &err);
    assert_ac_ok(ac__probe_patch(&p, 0, &err), &err);
    const size_t E = f.g->n_edges, B = 3;
    double *th = malloc(E * sizeof(double)), *g1 = malloc(E * sizeof(double)), *g2 = malloc(E * sizeof(double));
    double *ur = malloc(B * E * sizeof(double)), *ug = malloc(E * sizeof(double)), l1, l2;
    for (size_t e = 0; e < E; e++) th[e] = 2.0 * urand() - 1.0;
    p.counter = 1000;
    for (size_t i = 0; i < B * E; i++) ur[i] = ac__probe_uniform(77, 1000 + i);
    for (size_t e = 0; e < E; e++) ug[e] = ac__probe_uniform(77, 1000 + B * E + e);
    assert_ac_ok(ac__probe_loss_grad(&p, 0, th, NULL, NULL, &l1, NULL, g1, &err), &err);
    assert_int_equal(p.counter, 1000 + (B + 1) * E);
    assert_ac_ok(ac__probe_loss_grad(&p, 0, th, ur, ug, &l2, NULL, g2, &err), &err);
    assert_true(l1 == l2);
    assert_memory_equal(g1, g2, E * sizeof(double));
    /* a different regularizer sample changes the loss */
    for (size_t e = 0; e < E; e++) ug[e] = ac__probe_uniform(77, 1000 + e);
    assert_ac_ok(ac__probe_loss_grad(&p, 0, th, ur, ug, &l2, NULL, g2, &err), &err);
    assert_true(l1 != l2);
    assert_int_equal(ac__probe_loss_grad(&p, 0, th, ur, NULL, &l2, NULL, g2, &err), AC_ERR_ARG);
    free(th); free(g1); free(g2); free(ur); free(ug);
    ac__probe_free(&p);
    teardown_fx(&f);
}

/* A source stack [n_src][B*T][d] as a last_only forward records it: the final block's
 * heads and MLP 0 off the last position. */
static void zero_final_block_off_last(float *stack, const ac_graph *g, size_t B, size_t T, size_t d) {
    for (int s = 0; s < g->n_src; s++) {
        const ac_src_node *sn = &g->srcs[s];
        if (sn->layer != g->n_layer - 1 || (sn->kind != AC_SRC_HEAD && sn->kind != AC_SRC_MLP)) continue;
        for (size_t row = 0; row < B * T; row++)
            if (row % T != T - 1) memset(stack + ((size_t)s * B * T + row) * d, 0, d * sizeof(float));
    }
}

static void test_patch_values(void **state) {
    (void)state;
    fixture f = setup((fx_opts){.separate_qkv = 1, .n = 4, .batch = 2});
    ac_error err;
    const ac_batch *b = &f.c->split->batches[1];
    const size_t S = (size_t)f.g->n_src * b->batch_size * b->seq_len * 8;
    float *want = calloc(S, sizeof(float)), *got = calloc(S, sizeof(float));
    const struct { ac_ablation set; int tree; ac_ablation kind; int from_clean; } cases[] = {
        {0, 0, AC_ABLATION_MEAN_CORRUPT, 0},   /* auto-circuit's hard-coded values */
        {0, 1, AC_ABLATION_MEAN_CORRUPT, 0},
        {AC_ABLATION_RESAMPLE, 0, AC_ABLATION_RESAMPLE, 1}, /* edge mode: clean values in */
        {AC_ABLATION_RESAMPLE, 1, AC_ABLATION_RESAMPLE, 0}, /* tree mode: corrupt values */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ac_discover_opts o;
        ac_discover_opts_default(&o);
        o.probe_ablation = cases[i].set;
        o.probe_tree = cases[i].tree;
        ac__probe p;
        assert_ac_ok(ac__probe_init(&p, f.c, &o, &err), &err);
        assert_ac_ok(ac__probe_patch(&p, 1, &err), &err);
        memcpy(got, f.c->patch, S * sizeof(float));
        assert_ac_ok(ac_patch_values(f.c, b, cases[i].kind, cases[i].from_clean, want, &err), &err);
        if (cases[i].kind != AC_ABLATION_RESAMPLE) {
            assert_memory_equal(got, want, S * sizeof(float));
        } else {
            /* probing patches last_only forwards: resample values come from one, whose
             * final block's heads and MLP are 0 off the last position (and its products
             * over fewer rows may round differently there) */
            zero_final_block_off_last(want, f.g, b->batch_size, b->seq_len, 8);
            for (size_t q = 0; q < S; q++) assert_close(got[q], want[q], 1e-6 + 1e-5 * fabs(want[q]), 0);
        }
        ac__probe_free(&p);
    }
    /* the two sides differ, so the cases above are not vacuous (want: corrupt side) */
    assert_ac_ok(ac_patch_values(f.c, b, AC_ABLATION_RESAMPLE, 1, got, &err), &err);
    assert_true(memcmp(got, want, S * sizeof(float)) != 0);
    free(want); free(got);
    teardown_fx(&f);
}

static void test_targets_and_errors(void **state) {
    (void)state;
    fixture f = setup((fx_opts){.separate_qkv = 1, .n = 4, .batch = 2});
    fixture fm = setup((fx_opts){.separate_qkv = 1, .n = 3, .batch = 3, .multi = 1});
    ac_error err;
    const size_t E = f.g->n_edges;
    float *sc = calloc(E, sizeof(float));
    for (int t = 0; t <= AC_PROBE_LOGIT_DIFF_PERCENT; t++)
        for (int mf = 0; mf <= AC_MASK_FN_NONE; mf++) {
            ac_discover_opts o;
            ac_discover_opts_default(&o);
            o.probe_epochs = 2;
            o.probe_target = (ac_probe_target)t;
            o.probe_mask_fn = (ac_mask_fn)mf;
            o.probe_tree = t % 2;
            assert_ac_ok(ac_algo_probe(f.c, &o, sc, &err), &err);
            for (size_t e = 0; e < E; e++) assert_true(isfinite(sc[e]) && sc[e] >= 0.0f);
        }
    /* mse against the answer as a number needs one answer per prompt */
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.probe_target = AC_PROBE_MSE;
    o.probe_epochs = 1;
    assert_int_equal(ac_algo_probe(fm.c, &o, sc, &err), AC_ERR_ARG);
    /* mse value: mean over [B, V] of (logit − answer id)² */
    ac__probe p;
    o.probe_mask_fn = AC_MASK_FN_NONE;
    o.probe_lambda = 0;
    assert_ac_ok(ac__probe_init(&p, f.c, &o, &err), &err);
    assert_ac_ok(ac__probe_patch(&p, 0, &err), &err);
    double *th = calloc(E, sizeof(double)), *gr = calloc(E, sizeof(double)), loss;
    assert_ac_ok(ac__probe_loss_grad(&p, 0, th, NULL, NULL, &loss, NULL, gr, &err), &err);
    const ac_batch *b = &f.c->split->batches[0];
    float lg[2 * V];
    assert_ac_ok(ac__algo_forward(f.c, b, 0, NULL, NULL, NULL, lg, &err), &err); /* masks 0: corrupt run */
    double want = 0;
    for (int r = 0; r < 2; r++)
        for (int v = 0; v < V; v++) {
            double dlt = (double)lg[r * V + v] - (double)b->answers[r];
            want += dlt * dlt / (2 * V);
        }
    assert_close(loss, want, 1e-4, 1e-5);
    ac__probe_free(&p);
    free(th); free(gr);
    /* bad options */
    ac_discover_opts bad;
    ac_discover_opts_default(&bad);
    bad.probe_epochs = -1;
    assert_int_equal(ac_algo_probe(f.c, &bad, sc, &err), AC_ERR_ARG);
    ac_discover_opts_default(&bad);
    bad.probe_lr = 0;
    assert_int_equal(ac_algo_probe(f.c, &bad, sc, &err), AC_ERR_ARG);
    ac_discover_opts_default(&bad);
    bad.probe_target = (ac_probe_target)9;
    assert_int_equal(ac_algo_probe(f.c, &bad, sc, &err), AC_ERR_ARG);
    ac_discover_opts_default(&bad);
    bad.probe_init = INFINITY;
    assert_int_equal(ac_algo_probe(f.c, &bad, sc, &err), AC_ERR_ARG);
    free(sc);
    teardown_fx(&f);
    teardown_fx(&fm);
}

static void test_circuit_probing(void **state) {
    (void)state;
    fixture f = setup((fx_opts){.planted = 1, .separate_qkv = 1, .n = 6, .batch = 3, .last_only = 1});
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.probe_epochs = 20;
    o.probe_lambda = 1.0;
    o.probe_ablation = AC_ABLATION_RESAMPLE;
    const size_t sizes[2] = {6, 1}; /* unsorted on purpose */
    o.probe_sizes = sizes;
    o.n_probe_sizes = 2;
    ac_error err;
    const size_t E = f.g->n_edges;
    float *sc = calloc(E, sizeof(float)), *again = calloc(E, sizeof(float));
    assert_ac_ok(ac_algo_circuit_probe(f.c, &o, sc, &err), &err);
    size_t n2 = 0, n1 = 0;
    for (size_t e = 0; e < E; e++) {
        assert_true(sc[e] == 0.0f || sc[e] == 1.0f || sc[e] == 2.0f);
        n2 += sc[e] == 2.0f;
        n1 += sc[e] == 1.0f;
    }
    const size_t planted = ac_graph_find_edge(f.g, "Resid Start->Resid End", 0);
    assert_true(sc[planted] == 2.0f);
    assert_true(n2 >= 1);
    assert_true(n1 + n2 >= 6);
    /* the same as two probing runs by hand: size 1, then size 6 continuing the stream */
    ac_discover_opts so = o;
    so.probe_init = -log(5.0);
    uint64_t counter = 0;
    float *run = calloc(E, sizeof(float)), *desc = calloc(E, sizeof(float));
    memset(again, 0, E * sizeof(float));
    for (int i = 0; i < 2; i++) {
        so.probe_circuit_size = i == 0 ? 1 : 6;
        assert_ac_ok(ac__probe_train(f.c, &so, &counter, 0, 1, "x", run, NULL, &err), &err);
        memcpy(desc, run, E * sizeof(float));
        for (size_t a = 0; a < E; a++)
            for (size_t c = a + 1; c < E; c++)
                if (desc[c] > desc[a]) { float t = desc[a]; desc[a] = desc[c]; desc[c] = t; }
        const float thr = desc[so.probe_circuit_size - 1];
        for (size_t e = 0; e < E; e++)
            if (run[e] >= thr && again[e] == 0.0f) again[e] = (float)(2 - i);
    }
    assert_memory_equal(sc, again, E * sizeof(float));
    /* errors */
    const size_t dup[2] = {3, 3}, zero[1] = {0}, big[1] = {100000};
    o.probe_sizes = dup;
    assert_int_equal(ac_algo_circuit_probe(f.c, &o, sc, &err), AC_ERR_ARG);
    o.probe_sizes = zero;
    o.n_probe_sizes = 1;
    assert_int_equal(ac_algo_circuit_probe(f.c, &o, sc, &err), AC_ERR_ARG);
    o.probe_sizes = big;
    assert_int_equal(ac_algo_circuit_probe(f.c, &o, sc, &err), AC_ERR_ARG);
    o.n_probe_sizes = 0;
    assert_int_equal(ac_algo_circuit_probe(f.c, &o, sc, &err), AC_ERR_ARG);
    free(sc); free(again); free(run); free(desc);
    teardown_fx(&f);
}

/* every allocation failure is reported as AC_ERR_NOMEM and leaks nothing (ASan) */
static void test_allocation_failures(void **state) {
    (void)state;
    fixture f = setup((fx_opts){.separate_qkv = 1, .n = 4, .batch = 2});
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    o.probe_epochs = 1;
    const size_t sizes[2] = {2, 5};
    o.probe_sizes = sizes;
    o.n_probe_sizes = 2;
    ac_error err;
    float *sc = calloc(f.g->n_edges, sizeof(float));
    for (int algo = 0; algo < 2; algo++) {
        int ok = 0, failures = 0;
        for (long n = 1; n < 200 && !ok; n++) {
            ac_alloc_fail_after(n);
            int rc = algo ? ac_algo_circuit_probe(f.c, &o, sc, &err) : ac_algo_probe(f.c, &o, sc, &err);
            ac_alloc_fail_after(0);
            if (rc == AC_OK) ok = 1;
            else {
                assert_int_equal(rc, AC_ERR_NOMEM);
                failures++;
            }
        }
        assert_true(ok);
        assert_true(failures >= 8);
    }
    free(sc);
    teardown_fx(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hard_concrete_values),
        cmocka_unit_test(test_adam_steps),
        cmocka_unit_test(test_uniform_stream),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_per_row_masks_match_reference),
        cmocka_unit_test(test_probe_gradient_matches_finite_differences),
        cmocka_unit_test(test_planted_circuit),
        cmocka_unit_test(test_determinism_and_progress),
        cmocka_unit_test(test_stream_order),
        cmocka_unit_test(test_patch_values),
        cmocka_unit_test(test_targets_and_errors),
        cmocka_unit_test(test_circuit_probing),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
