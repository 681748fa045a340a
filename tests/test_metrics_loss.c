/* The mask-gradient loss (4 grad functions x 3 answer functions): loss values by hand and
 * against an independent double-precision implementation, and every gradient against
 * central finite differences in double. */
#include "ac_test.h"

#include <math.h>
#include <string.h>

enum { N = 3, V = 6 };

/* row 0: answers {1, 4}, wrong {0}; row 1: answers {2, 2} (duplicate), wrong {3, 5};
 * row 2: answers {0}, wrong {1, 2, 3} */
static const int32_t ans_off[] = {0, 2, 4, 5};
static const int32_t ans[] = {1, 4, 2, 2, 0};
static const int32_t wrong_off[] = {0, 1, 3, 6};
static const int32_t wrong[] = {0, 3, 5, 1, 2, 3};

static ac_answer_sets test_sets(void) {
    ac_answer_sets s = {N, ans_off, ans, wrong_off, wrong};
    return s;
}

/* deterministic values in [-3, 3] on a 2^-8 grid: z +- 2^-10 stays exact in float */
static void fill(float *x, size_t n, uint32_t seed) {
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int)(s >> 16) % 1537 - 768) / 256.0f;
    }
}

/* Independent reference loss in double. frozen_sum (logit_exp only, may be NULL): the
 * per-row denominators held fixed, as auto-circuit's detach() does. */
static double ref_loss(const double *z, ac_val_kind gf, ac_answer_fn af, const float *target,
                       size_t target_cols, const double *frozen_sum) {
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        const double *r = z + i * V;
        double sum = 0.0, v[V];
        for (int j = 0; j < V; j++) sum += exp(r[j]);
        for (int j = 0; j < V; j++) {
            switch (gf) {
            case AC_VAL_LOGIT: v[j] = r[j]; break;
            case AC_VAL_PROB: v[j] = exp(r[j]) / sum; break;
            case AC_VAL_LOGPROB: v[j] = r[j] - log(sum); break;
            case AC_VAL_LOGIT_EXP: v[j] = exp(r[j]) / (frozen_sum ? frozen_sum[i] : sum); break;
            }
        }
        if (af == AC_ANSWER_MSE) {
            for (int j = 0; j < V; j++) {
                double t = target[i * (int)target_cols + (target_cols == 1 ? 0 : j)];
                total += (v[j] - t) * (v[j] - t) / (N * V);
            }
            continue;
        }
        double good = 0.0, bad = 0.0;
        for (int k = ans_off[i]; k < ans_off[i + 1]; k++) good += v[ans[k]];
        good /= ans_off[i + 1] - ans_off[i];
        for (int k = wrong_off[i]; k < wrong_off[i + 1]; k++) bad += v[wrong[k]];
        bad /= wrong_off[i + 1] - wrong_off[i];
        total -= (af == AC_ANSWER_AVG_DIFF ? good - bad : good) / N;
    }
    return total;
}

static double api_loss(const float *logits, const ac_answer_loss_spec *spec) {
    ac_answer_sets s = test_sets();
    ac_error err;
    double loss = NAN;
    assert_ac_ok(ac_answer_loss(logits, N, V, &s, spec, &loss, NULL, &err), &err);
    return loss;
}

static void check_gradient(ac_val_kind gf, ac_answer_fn af, uint32_t seed) {
    float logits[N * V], target[N * V], grad[N * V];
    fill(logits, N * V, seed);
    fill(target, N * V, seed + 99);
    for (int k = 0; k < N * V; k++) target[k] = (target[k] + 3.0f) / 6.0f; /* in [0, 1] */
    ac_answer_loss_spec spec = {gf, af, target, V};
    ac_answer_sets s = test_sets();
    ac_error err;
    double loss = NAN;
    assert_ac_ok(ac_answer_loss(logits, N, V, &s, &spec, &loss, grad, &err), &err);

    double z[N * V], frozen[N];
    for (int k = 0; k < N * V; k++) z[k] = logits[k];
    for (int i = 0; i < N; i++) {
        frozen[i] = 0.0;
        for (int j = 0; j < V; j++) frozen[i] += exp(z[i * V + j]);
    }
    assert_close(loss, ref_loss(z, gf, af, target, V, NULL), 1e-12, 1e-12);
    assert_close(loss, api_loss(logits, &spec), 0, 0); /* grad or not: same loss */

    const double h = 1.0 / 1024;
    double max_abs = 0.0;
    for (int k = 0; k < N * V; k++) {
        double fd;
        if (gf == AC_VAL_LOGIT_EXP) {
            /* the denominator is a constant for the gradient: differentiate with it frozen */
            double zp[N * V], zm[N * V];
            memcpy(zp, z, sizeof z);
            memcpy(zm, z, sizeof z);
            zp[k] += h;
            zm[k] -= h;
            fd = (ref_loss(zp, gf, af, target, V, frozen) -
                  ref_loss(zm, gf, af, target, V, frozen)) / (2 * h);
        } else {
            float lp[N * V], lm[N * V];
            memcpy(lp, logits, sizeof lp);
            memcpy(lm, logits, sizeof lm);
            lp[k] = (float)(z[k] + h); /* exact: z is on a 2^-8 grid */
            lm[k] = (float)(z[k] - h);
            assert_true((double)lp[k] - (double)lm[k] == 2 * h);
            fd = (api_loss(lp, &spec) - api_loss(lm, &spec)) / (2 * h);
        }
        if (fabs(fd) > max_abs) max_abs = fabs(fd);
        assert_close(grad[k], fd, 2e-6, 1e-4);
    }
    assert_true(max_abs > 1e-3); /* the check compared something non-trivial */
}

static void test_gradients_all_12(void **state) {
    (void)state;
    const ac_val_kind gfs[] = {AC_VAL_LOGIT, AC_VAL_PROB, AC_VAL_LOGPROB, AC_VAL_LOGIT_EXP};
    const ac_answer_fn afs[] = {AC_ANSWER_AVG_DIFF, AC_ANSWER_AVG_VAL, AC_ANSWER_MSE};
    for (int g = 0; g < 4; g++)
        for (int a = 0; a < 3; a++) check_gradient(gfs[g], afs[a], (uint32_t)(7 + 13 * g + a));
}

static void test_logit_exp_is_not_prob(void **state) {
    (void)state;
    /* same loss value as prob, different gradient (no softmax cross terms) */
    float logits[N * V], gp[N * V], ge[N * V];
    fill(logits, N * V, 5);
    ac_answer_sets s = test_sets();
    ac_error err;
    double lp, le;
    ac_answer_loss_spec sp = {AC_VAL_PROB, AC_ANSWER_AVG_DIFF, NULL, 0};
    ac_answer_loss_spec se = {AC_VAL_LOGIT_EXP, AC_ANSWER_AVG_DIFF, NULL, 0};
    assert_ac_ok(ac_answer_loss(logits, N, V, &s, &sp, &lp, gp, &err), &err);
    assert_ac_ok(ac_answer_loss(logits, N, V, &s, &se, &le, ge, &err), &err);
    assert_close(le, lp, 1e-15, 1e-12);
    double diff = 0.0;
    for (int k = 0; k < N * V; k++) diff += fabs((double)gp[k] - ge[k]);
    assert_true(diff > 1e-3);
    /* logit_exp gradient = (logit gradient) * softmax */
    float gl[N * V], p[N * V];
    ac_answer_loss_spec sl = {AC_VAL_LOGIT, AC_ANSWER_AVG_DIFF, NULL, 0};
    assert_ac_ok(ac_answer_loss(logits, N, V, &s, &sl, &lp, gl, &err), &err);
    assert_ac_ok(ac_token_vals(logits, N, V, AC_VAL_PROB, p, &err), &err);
    for (int k = 0; k < N * V; k++) assert_close(ge[k], (double)gl[k] * p[k], 1e-7, 1e-6);
}

static void test_hand_values(void **state) {
    (void)state;
    static const int32_t off[] = {0, 1, 2};
    static const int32_t a01[] = {0, 1};
    static const int32_t w22[] = {2, 2};
    ac_answer_sets s = {2, off, a01, off, w22};
    ac_error err;
    double loss;
    float grad[6];
    /* reference example: average logit diff 0.5, loss -0.5 */
    const float diff_logits[] = {0.75f, 0.2f, 0.75f, 0.3f, 1.25f, 0.25f};
    ac_answer_loss_spec spec = {AC_VAL_LOGIT, AC_ANSWER_AVG_DIFF, NULL, 0};
    assert_ac_ok(ac_answer_loss(diff_logits, 2, 3, &s, &spec, &loss, grad, &err), &err);
    assert_true(loss == -0.5);
    const float g_expect[] = {-0.5f, 0, 0.5f, 0, -0.5f, 0.5f};
    assert_memory_equal(grad, g_expect, sizeof grad);
    /* average answer logit 0.5, loss -0.5 */
    const float val_logits[] = {0.75f, 0.2f, 0.7f, 0.3f, 0.25f, 0.5f};
    spec.answer_function = AC_ANSWER_AVG_VAL;
    assert_ac_ok(ac_answer_loss(val_logits, 2, 3, &s, &spec, &loss, grad, &err), &err);
    assert_true(loss == -0.5);
    assert_true(grad[0] == -0.5f && grad[4] == -0.5f && grad[2] == 0.0f);
    /* mse against one number per row, broadcast over the vocabulary */
    const float mse_logits[] = {1, 2, 3, 5};
    const float per_row[] = {1, 4};
    ac_answer_loss_spec mse = {AC_VAL_LOGIT, AC_ANSWER_MSE, per_row, 1};
    assert_ac_ok(ac_answer_loss(mse_logits, 2, 2, NULL, &mse, &loss, grad, &err), &err);
    assert_close(loss, (0 + 1 + 1 + 1) / 4.0, 1e-15, 0);
    const float mse_grad[] = {0, 0.5f, -0.5f, 0.5f}; /* 2 (v - t) / (N V) */
    assert_memory_equal(grad, mse_grad, sizeof mse_grad);
    /* elementwise target (tracr-style: one output per row, V = 1) */
    const float one_col[] = {2, 6};
    ac_answer_loss_spec mse1 = {AC_VAL_LOGIT, AC_ANSWER_MSE, one_col, 1};
    const float outs[] = {1, 3};
    assert_ac_ok(ac_answer_loss(outs, 2, 1, NULL, &mse1, &loss, grad, &err), &err);
    assert_close(loss, (1.0 + 9.0) / 2, 1e-15, 0);
    assert_true(grad[0] == -1.0f && grad[1] == -3.0f);
}

static void test_loss_errors(void **state) {
    (void)state;
    float logits[N * V];
    fill(logits, N * V, 3);
    ac_answer_sets s = test_sets();
    ac_error err;
    double loss;
    float grad[N * V];
    ac_answer_loss_spec mse = {AC_VAL_LOGIT, AC_ANSWER_MSE, NULL, 0};
    assert_int_equal(ac_answer_loss(logits, N, V, &s, &mse, &loss, grad, &err), AC_ERR_ARG);
    mse.mse_target = logits;
    mse.mse_target_cols = 2;
    assert_int_equal(ac_answer_loss(logits, N, V, &s, &mse, &loss, grad, &err), AC_ERR_ARG);
    ac_answer_sets no_wrong = {N, ans_off, ans, NULL, NULL};
    ac_answer_loss_spec diff = {AC_VAL_PROB, AC_ANSWER_AVG_DIFF, NULL, 0};
    assert_int_equal(ac_answer_loss(logits, N, V, &no_wrong, &diff, &loss, grad, &err),
                     AC_ERR_ARG);
    ac_answer_loss_spec val = {AC_VAL_PROB, AC_ANSWER_AVG_VAL, NULL, 0};
    assert_ac_ok(ac_answer_loss(logits, N, V, &no_wrong, &val, &loss, grad, &err), &err);
    ac_answer_loss_spec bad = {(ac_val_kind)9, AC_ANSWER_AVG_VAL, NULL, 0};
    assert_int_equal(ac_answer_loss(logits, N, V, &s, &bad, &loss, grad, &err), AC_ERR_ARG);
    bad.grad_function = AC_VAL_LOGIT;
    bad.answer_function = (ac_answer_fn)5;
    assert_int_equal(ac_answer_loss(logits, N, V, &s, &bad, &loss, grad, &err), AC_ERR_ARG);
    assert_int_equal(ac_answer_loss(logits, N + 1, V, &s, &val, &loss, grad, &err), AC_ERR_SHAPE);
    ac_alloc_fail_after(1);
    assert_int_equal(ac_answer_loss(logits, N, V, &s, &val, &loss, grad, &err), AC_ERR_NOMEM);
    ac_alloc_fail_after(0);
    ac_answer_fn fn;
    assert_ac_ok(ac_answer_fn_from_name("mse", &fn, &err), &err);
    assert_int_equal(fn, AC_ANSWER_MSE);
    assert_string_equal(ac_answer_fn_name(AC_ANSWER_AVG_DIFF), "avg_diff");
    assert_int_equal(ac_answer_fn_from_name("l2", &fn, &err), AC_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_all_12),
        cmocka_unit_test(test_logit_exp_is_not_prob),
        cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_loss_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
