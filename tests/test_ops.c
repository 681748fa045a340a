/* Every kernel's backward against central finite differences of its forward, with
 * loss = Σ w ⊙ out for random w. Forward values are accumulated in double. */
#include "ac_test.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"

static uint64_t rs = 0x1234567ull;
static float frand(void) {
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rs >> 40) / 16777216.0 * 2.0 - 1.0);
}
static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * frand();
}
static double dot(const float *a, const float *w, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * w[i];
    return s;
}

/* compare analytic gradient g of f at x (n values) with central differences */
typedef double (*loss_fn)(void *ctx, const float *x);
static void check_fd(loss_fn f, void *ctx, float *x, const float *g, size_t n) {
    const float h = 1e-2f;
    double maxg = 0;
    for (size_t i = 0; i < n; i++) maxg = fmax(maxg, fabs(g[i]));
    assert_true(maxg > 1e-3);
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double fp = f(ctx, x);
        x[i] = keep - h;
        double fm = f(ctx, x);
        x[i] = keep;
        double fd = (fp - fm) / (2.0 * (double)h);
        assert_close(g[i], fd, 2e-3 * (1 + maxg), 5e-3);
    }
}

/* ---- norms ---- */
typedef struct { int N, C; const float *w, *b, *wl; ac_norm_kind kind; float *out; } norm_ctx;
static double norm_loss(void *p, const float *x) {
    norm_ctx *c = p;
    ac__norm_forward(c->out, x, c->w, c->b, c->N, c->C, 1e-5f, c->kind);
    return dot(c->out, c->wl, (size_t)(c->N * c->C));
}
static void test_norm_backward(void **state) {
    (void)state;
    enum { N = 3, C = 8 };
    for (int k = 0; k < 3; k++) {
        float x[N * C], w[C], b[C], wl[N * C], out[N * C], g[N * C];
        fill(x, N * C, 2.0f);
        fill(w, C, 1.0f);
        fill(b, C, 1.0f);
        fill(wl, N * C, 1.0f);
        norm_ctx c = {N, C, w, k == 0 ? b : NULL, wl, (ac_norm_kind)k, out};
        memset(g, 0, sizeof g);
        ac__norm_backward(g, wl, x, w, N, C, 1e-5f, (ac_norm_kind)k);
        check_fd(norm_loss, &c, x, g, N * C);
        /* backward accumulates */
        float g2[N * C];
        for (int i = 0; i < N * C; i++) g2[i] = 1.0f;
        ac__norm_backward(g2, wl, x, w, N, C, 1e-5f, (ac_norm_kind)k);
        for (int i = 0; i < N * C; i++) assert_close(g2[i], g[i] + 1.0f, 1e-6, 1e-6);
    }
}

/* ---- activations ---- */
typedef struct { size_t n; const float *wl; ac_act_kind kind; float *out; const float *up; int gated; } act_ctx;
static double act_loss(void *p, const float *x) {
    act_ctx *c = p;
    if (c->gated) ac__gated_forward(c->out, x, c->up, c->n, c->kind);
    else ac__act_forward(c->out, x, c->n, c->kind);
    return dot(c->out, c->wl, c->n);
}
static double gated_up_loss(void *p, const float *up) {
    act_ctx *c = p;
    return dot((ac__gated_forward(c->out, c->up, up, c->n, c->kind), c->out), c->wl, c->n);
}
static void test_act_backward(void **state) {
    (void)state;
    enum { n = 40 };
    float x[n], wl[n], out[n], g[n], up[n], gup[n];
    for (int k = 0; k < 4; k++) {
        fill(x, n, 3.0f);
        for (int i = 0; i < n; i++)
            if (fabsf(x[i]) < 0.05f) x[i] = 0.5f; /* keep ReLU away from its kink */
        fill(wl, n, 1.0f);
        fill(up, n, 1.5f);
        act_ctx c = {n, wl, (ac_act_kind)k, out, up, 0};
        memset(g, 0, sizeof g);
        ac__act_backward(g, wl, x, n, (ac_act_kind)k);
        check_fd(act_loss, &c, x, g, n);
        /* gated: gradients for gate and up */
        c.gated = 1;
        memset(g, 0, sizeof g);
        memset(gup, 0, sizeof gup);
        ac__gated_backward(g, gup, wl, x, up, n, (ac_act_kind)k);
        check_fd(act_loss, &c, x, g, n);
        act_ctx cu = {n, wl, (ac_act_kind)k, out, x, 1};
        check_fd(gated_up_loss, &cu, up, gup, n);
    }
    /* gelu_new at known points */
    float in[3] = {0.0f, 1.0f, -2.0f}, o[3];
    ac__act_forward(o, in, 3, AC_ACT_GELU_NEW);
    assert_close(o[0], 0.0, 1e-7, 0);
    assert_close(o[1], 0.8411919906082768, 1e-6, 0);
    assert_close(o[2], -0.04540230591222, 1e-6, 0);
}

/* ---- rotary embeddings: backward is the inverse rotation ---- */
typedef struct { int N, nh, dh; const int32_t *pos; const float *inv, *wl; ac_pos_kind kind; float *buf; } rope_ctx;
static double rope_loss(void *p, const float *x) {
    rope_ctx *c = p;
    size_t n = (size_t)(c->N * c->nh * c->dh);
    memcpy(c->buf, x, n * sizeof(float));
    ac__rope_apply(c->buf, c->nh * c->dh, c->pos, c->inv, c->N, c->nh, c->dh, c->kind, 0);
    return dot(c->buf, c->wl, n);
}
static void test_rope_backward(void **state) {
    (void)state;
    enum { N = 4, nh = 2, dh = 6 };
    ac_config cfg;
    ac_config_defaults(&cfg, AC_ARCH_LLAMA);
    cfg.d_head = dh;
    float inv[dh / 2];
    ac__rope_inv_freq(inv, &cfg);
    assert_close(inv[0], 1.0, 0, 0);
    assert_close(inv[1], pow(10000.0, -2.0 / 6.0), 1e-7, 1e-6);
    int32_t pos[N] = {0, 1, 5, 11};
    for (int k = AC_POS_ROPE_INTERLEAVED; k <= AC_POS_ROPE_HALF; k++) {
        float x[N * nh * dh], wl[N * nh * dh], buf[N * nh * dh], g[N * nh * dh];
        fill(x, N * nh * dh, 1.0f);
        fill(wl, N * nh * dh, 1.0f);
        rope_ctx c = {N, nh, dh, pos, inv, wl, (ac_pos_kind)k, buf};
        memcpy(g, wl, sizeof g);
        ac__rope_apply(g, nh * dh, pos, inv, N, nh, dh, (ac_pos_kind)k, 1);
        check_fd(rope_loss, &c, x, g, N * nh * dh);
        /* position 0 is the identity; rotation keeps pair norms */
        memcpy(buf, x, sizeof buf);
        ac__rope_apply(buf, nh * dh, pos, inv, N, nh, dh, (ac_pos_kind)k, 0);
        for (int i = 0; i < nh * dh; i++) assert_close(buf[i], x[i], 1e-7, 0);
    }
}

/* ---- attention (grouped, padded) ---- */
enum { AB = 2, AT = 5, AH = 4, AKV = 2, ADH = 3 };
#define AW ((AH + 2 * AKV) * ADH)
static const uint8_t amask[AB * AT] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
typedef struct { const float *wl; float *z, *probs; } att_ctx;
static double att_loss(void *p, const float *qkv) {
    att_ctx *c = p;
    ac__attention_forward(c->z, c->probs, qkv, AW, amask, AB, AT, AH, AKV, ADH);
    return dot(c->z, c->wl, AB * AT * AH * ADH);
}
static void test_attention_backward(void **state) {
    (void)state;
    float qkv[AB * AT * AW], wl[AB * AT * AH * ADH], z[AB * AT * AH * ADH], probs[AB * AH * AT * AT];
    float g[AB * AT * AW], scratch[64 * AT];
    fill(qkv, AB * AT * AW, 1.5f);
    fill(wl, AB * AT * AH * ADH, 1.0f);
    for (int i = 0; i < AB * AT; i++)
        if (!amask[i]) for (int j = 0; j < AH * ADH; j++) wl[i * AH * ADH + j] = 0; /* pad rows unread */
    att_ctx c = {wl, z, probs};
    att_loss(&c, qkv);
    /* rows of probs sum to 1 for real queries, 0 for pads; causal */
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < AH; h++)
            for (int t = 0; t < AT; t++) {
                double s = 0;
                for (int j = 0; j < AT; j++) {
                    float pv = probs[((b * AH + h) * AT + t) * AT + j];
                    if (j > t || !amask[b * AT + j]) assert_true(pv == 0.0f);
                    s += pv;
                }
                assert_close(s, amask[b * AT + t] ? 1.0 : 0.0, 1e-6, 0);
            }
    memset(g, 0, sizeof g);
    ac__attention_backward(g, scratch, wl, probs, qkv, AW, AB, AT, AH, AKV, ADH);
    check_fd(att_loss, &c, qkv, g, AB * AT * AW);
}

/* ---- matmul ---- */
static void test_matmul(void **state) {
    (void)state;
    float in[2 * 3] = {1, 2, 3, 4, 5, 6}, W[2 * 3] = {1, 0, -1, 2, 1, 0}, b[2] = {0.5f, -1};
    float out[4];
    ac__matmul_forward(out, 2, in, 3, W, b, 2, 3, 2);
    assert_close(out[0], 1 - 3 + 0.5, 0, 0);
    assert_close(out[1], 2 + 2 - 1, 0, 0);
    assert_close(out[2], 4 - 6 + 0.5, 0, 0);
    assert_close(out[3], 8 + 5 - 1, 0, 0);
    float din[6] = {0}, dout[4] = {1, 0, 0, 1};
    ac__matmul_backward_input(din, 3, dout, 2, W, 2, 3, 2);
    float expect[6] = {1, 0, -1, 2, 1, 0};
    for (int i = 0; i < 6; i++) assert_close(din[i], expect[i], 0, 0);
}

/* the few-row kernels against a naive double-precision reference: row counts 1..9 (the
 * four-row blocks and the remainder), odd widths, row strides, sparse and dense dout,
 * identical at 1 and 2 threads; and equal to the sgemm path within rounding */
static void test_matmul_few(void **state) {
    (void)state;
    enum { IN = 37, OUT = 301, LDI = 41, LDO = 307 };
    float *W = malloc(sizeof(float) * OUT * IN), *in = malloc(sizeof(float) * 9 * LDI);
    float *out = malloc(sizeof(float) * 9 * LDO), *out2 = malloc(sizeof(float) * 9 * LDO);
    float *dout = malloc(sizeof(float) * 9 * LDO);
    float *din = malloc(sizeof(float) * 9 * LDI), *din2 = malloc(sizeof(float) * 9 * LDI);
    for (int i = 0; i < OUT * IN; i++) W[i] = 0.5f * frand();
    for (int i = 0; i < 9 * LDI; i++) in[i] = 0.5f * frand();
    for (int N = 1; N <= 9; N++) {
        for (int dense = 0; dense < 2; dense++) {
            for (int i = 0; i < 9 * LDO; i++) out[i] = out2[i] = -99.0f;
            omp_set_num_threads(2);
            ac__matmul_forward_few(out, LDO, in, LDI, W, N, IN, OUT);
            omp_set_num_threads(1);
            ac__matmul_forward_few(out2, LDO, in, LDI, W, N, IN, OUT);
            omp_set_num_threads(2);
            for (int r = 0; r < N; r++)
                for (int v = 0; v < OUT; v++) {
                    double ref = 0;
                    for (int k = 0; k < IN; k++) ref += (double)in[r * LDI + k] * W[v * IN + k];
                    assert_close(out[r * LDO + v], ref, 1e-5, 1e-5);
                    assert_true(out[r * LDO + v] == out2[r * LDO + v]);
                }
            assert_true(out[N * LDO - 1] == -99.0f || N == 9); /* padding columns untouched */
            /* dout: dense, or two non-zero columns per row (a logit difference) */
            for (int i = 0; i < 9 * LDO; i++) dout[i] = dense ? 0.5f * frand() : 0.0f;
            if (!dense)
                for (int r = 0; r < N; r++) {
                    dout[r * LDO + (r * 31) % OUT] = 1.0f;
                    dout[r * LDO + (r * 17 + 5) % OUT] = -0.5f;
                }
            for (int i = 0; i < 9 * LDI; i++) din[i] = din2[i] = 0.25f; /* accumulates */
            ac__matmul_backward_input_few(din, LDI, dout, LDO, W, N, IN, OUT);
            omp_set_num_threads(1);
            ac__matmul_backward_input_few(din2, LDI, dout, LDO, W, N, IN, OUT);
            omp_set_num_threads(2);
            for (int r = 0; r < N; r++)
                for (int k = 0; k < IN; k++) {
                    double ref = 0.25;
                    for (int v = 0; v < OUT; v++) ref += (double)dout[r * LDO + v] * W[v * IN + k];
                    assert_close(din[r * LDI + k], ref, 1e-5, 1e-5);
                    assert_true(din[r * LDI + k] == din2[r * LDI + k]);
                }
            /* the sgemm path agrees */
            for (int i = 0; i < 9 * LDI; i++) din2[i] = 0.25f;
            ac__matmul_backward_input(din2, LDI, dout, LDO, W, N, IN, OUT);
            ac__matmul_forward(out2, LDO, in, LDI, W, NULL, N, IN, OUT);
            for (int r = 0; r < N; r++) {
                for (int k = 0; k < IN; k++) assert_close(din[r * LDI + k], din2[r * LDI + k], 1e-5, 1e-5);
                for (int v = 0; v < OUT; v++) assert_close(out[r * LDO + v], out2[r * LDO + v], 1e-5, 1e-5);
            }
        }
    }
    free(W);
    free(in);
    free(out);
    free(out2);
    free(dout);
    free(din);
    free(din2);
}

/* the vectorisable exp of the activations against double exp: relative error over a
 * dense sweep of [-87, 88], and the edges (underflow to 0, overflow to +inf, NaN) */
static void test_exp_f32(void **state) {
    (void)state;
    double worst = 0;
    for (int i = 0; i <= 2000000; i++) {
        const float x = -87.0f + 175.0f * (float)i / 2000000.0f;
        const double ref = exp((double)x), got = ac__exp_f32(x);
        const double rel = fabs(got - ref) / ref;
        if (rel > worst) worst = rel;
    }
    print_message("exp_f32: largest relative error %.3g\n", worst);
    assert_true(worst < 2.5e-7);
    assert_true(ac__exp_f32(0.0f) == 1.0f);
    assert_true(ac__exp_f32(-100.0f) == 0.0f);
    assert_true(ac__exp_f32(-INFINITY) == 0.0f);
    assert_true(isinf(ac__exp_f32(89.0f)) && ac__exp_f32(89.0f) > 0);
    assert_true(isinf(ac__exp_f32(INFINITY)));
    assert_true(isnan(ac__exp_f32(NAN)));
    /* the activations that use it stay within float rounding of the double formulas */
    for (int i = 0; i <= 4000; i++) {
        const float x = -20.0f + 40.0f * (float)i / 4000.0f;
        float y, gy, dy = 1.0f;
        ac__act_forward(&y, &x, 1, AC_ACT_GELU_NEW);
        gy = 0;
        ac__act_backward(&gy, &dy, &x, 1, AC_ACT_GELU_NEW);
        const double u = 0.7978845608028654 * (x + 0.044715 * (double)x * x * x);
        const double ref = 0.5 * x * (1 + tanh(u));
        const double du = 0.7978845608028654 * (1 + 3 * 0.044715 * (double)x * x);
        const double gref = 0.5 * (1 + tanh(u)) + 0.5 * x * (1 - tanh(u) * tanh(u)) * du;
        assert_close(y, ref, 1e-6, 2e-6);
        assert_close(gy, gref, 1e-6, 2e-6);
        ac__act_forward(&y, &x, 1, AC_ACT_SILU);
        assert_close(y, x / (1 + exp(-(double)x)), 1e-6, 2e-6);
    }
}

/* the norm backward with shared statistics equals the plain one, bit for bit: written
 * over din, or added to it */
static void test_norm_backward_stats(void **state) {
    (void)state;
    enum { N = 70, C = 45 };
    static float in[N * C], dout[N * C], w[C], a[N * C], b[N * C];
    static double mean[N], rstd[N];
    fill(in, N * C, 2.0f);
    fill(dout, N * C, 1.0f);
    fill(w, C, 1.5f);
    const ac_norm_kind kinds[] = {AC_NORM_LAYERNORM, AC_NORM_RMSNORM, AC_NORM_NONE};
    for (int k = 0; k < 3; k++) {
        ac__norm_stats(mean, rstd, in, N, C, 1e-5f, kinds[k]);
        for (int acc = 0; acc < 2; acc++) {
            for (int i = 0; i < N * C; i++) a[i] = b[i] = acc ? 0.5f * (float)(i % 7) : -7.0f;
            if (!acc) memset(a, 0, sizeof a);
            ac__norm_backward(a, dout, in, w, N, C, 1e-5f, kinds[k]);
            ac__norm_backward_stats(b, !acc, dout, in, w, mean, rstd, N, C, kinds[k]);
            for (int i = 0; i < N * C; i++)
                if (a[i] != b[i]) fail_msg("kind %d, %s: element %d is %g, want %g", k, acc ? "added" : "written", i, b[i], a[i]);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_backward),   cmocka_unit_test(test_act_backward),
        cmocka_unit_test(test_rope_backward),   cmocka_unit_test(test_attention_backward),
        cmocka_unit_test(test_matmul),          cmocka_unit_test(test_matmul_few),
        cmocka_unit_test(test_exp_f32),         cmocka_unit_test(test_norm_backward_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
