/* Answer metrics, vocabulary transforms and KL divergence (auto-circuit tensor_ops and
 * prune metrics), with the reference's test_tensor_ops values and hand-computed numbers. */
#include "ac_test.h"

#include <math.h>
#include <string.h>

/* one answer and one wrong answer per row: answers [[0],[1]], wrong [[2],[2]] */
static const int32_t one_off[] = {0, 1, 2};
static const int32_t ans_01[] = {0, 1};
static const int32_t wrong_22[] = {2, 2};

static ac_answer_sets sets_01_22(void) {
    ac_answer_sets s = {2, one_off, ans_01, one_off, wrong_22};
    return s;
}

static void test_batch_avg_answer_val(void **state) {
    (void)state;
    const float logits[] = {0.75f, 0.2f, 0.7f, 0.3f, 0.25f, 0.5f};
    ac_answer_sets s = sets_01_22();
    ac_error err;
    double v = -1;
    assert_ac_ok(ac_batch_avg_answer_val(logits, 2, 3, &s, 0, &v, &err), &err);
    assert_true(v == 0.5); /* (0.75 + 0.25) / 2, exact */
    assert_ac_ok(ac_batch_avg_answer_val(logits, 2, 3, &s, 1, &v, &err), &err);
    assert_close(v, (0.7 + 0.5) / 2, 1e-7, 0);
    double one = 0;
    const int32_t idx[] = {0, 2, 2};
    assert_ac_ok(ac_vocab_avg_val(logits, 3, idx, 3, &one, &err), &err);
    assert_close(one, (0.75 + 0.7 + 0.7) / 3, 1e-7, 0);
}

static void test_batch_avg_answer_diff(void **state) {
    (void)state;
    const float logits[] = {0.75f, 0.2f, 0.75f, 0.3f, 1.25f, 0.25f};
    ac_answer_sets s = sets_01_22();
    ac_error err;
    double v = -1, d[2];
    assert_ac_ok(ac_batch_avg_answer_diff(logits, 2, 3, &s, &v, &err), &err);
    assert_true(v == 0.5); /* mean of (0.75 - 0.75) and (1.25 - 0.25) */
    assert_ac_ok(ac_batch_answer_diffs(logits, 2, 3, &s, d, &err), &err);
    assert_true(d[0] == 0.0 && d[1] == 1.0);
    /* the same through the logit-kind prune metric */
    assert_ac_ok(ac_measure_answer_diff(logits, 2, 3, AC_VAL_LOGIT, &s, &v, &err), &err);
    assert_true(v == 0.5);
}

static void test_correct_answer_proportion(void **state) {
    (void)state;
    const float correct[] = {1.0f, 0.2f, 0.7f, 0.3f, 0.9f, 0.5f};
    const float half[] = {0.5f, 0.2f, 0.7f, 0.3f, 0.6f, 0.5f};
    const float incorrect[] = {0.1f, 0.2f, 0.7f, 0.3f, 0.2f, 0.5f};
    ac_answer_sets s = sets_01_22();
    ac_error err;
    double p = -1;
    assert_ac_ok(ac_correct_answer_proportion(correct, 2, 3, &s, &p, &err), &err);
    assert_true(p == 1.0);
    assert_ac_ok(ac_correct_answer_proportion(half, 2, 3, &s, &p, &err), &err);
    assert_true(p == 0.5);
    assert_ac_ok(ac_correct_answer_proportion(incorrect, 2, 3, &s, &p, &err), &err);
    assert_true(p == 0.0);
    assert_ac_ok(ac_measure_correct_answer_percent(half, 2, 3, &s, 0, &p, &err), &err);
    assert_true(p == 50.0);
    /* ties: torch.argmax picks the first maximum */
    const float tie[] = {0.5f, 0.5f, 0.1f, 0.9f, 0.9f, 0.1f};
    assert_ac_ok(ac_correct_answer_proportion(tie, 2, 3, &s, &p, &err), &err);
    assert_true(p == 0.5);
}

static void test_correct_greater_than_incorrect(void **state) {
    (void)state;
    /* answers [[0],[1]], wrong answers [[1,3],[0,3]] */
    static const int32_t wrong_off[] = {0, 2, 4};
    static const int32_t wrong[] = {1, 3, 0, 3};
    ac_answer_sets s = {2, one_off, ans_01, wrong_off, wrong};
    const float correct[] = {9, 2, 7, 1, 3, 9, 5, 1};
    const float vs_wrong_only[] = {6, 2, 7, 1, 3, 4, 5, 1};
    const float half[] = {5, 7, 7, 1, 3, 6, 5, 1};
    const float half_vs_wrong_only[] = {5, 7, 7, 1, 3, 6, 9, 1};
    const float incorrect[] = {1, 2, 7, 1, 3, 2, 5, 1};
    ac_error err;
    double p = -1;
#define GT(x, expect)                                                                       \
    do {                                                                                    \
        assert_ac_ok(ac_correct_answer_greater_than_incorrect_proportion(x, 2, 4, &s, &p,   \
                                                                         &err),             \
                     &err);                                                                 \
        assert_true(p == (expect));                                                         \
    } while (0)
#define ARGMAX(x, expect)                                                                   \
    do {                                                                                    \
        assert_ac_ok(ac_correct_answer_proportion(x, 2, 4, &s, &p, &err), &err);            \
        assert_true(p == (expect));                                                         \
    } while (0)
    GT(correct, 1.0);
    ARGMAX(vs_wrong_only, 0.0);
    GT(vs_wrong_only, 1.0);
    GT(half, 0.5);
    ARGMAX(half_vs_wrong_only, 0.0);
    GT(half_vs_wrong_only, 0.5);
    GT(incorrect, 0.0);
    /* a tie between the correct and a wrong answer goes to the correct one */
    const float tie[] = {5, 5, 1, 5, 1, 1, 1, 0};
    GT(tie, 1.0);
#undef GT
#undef ARGMAX
    assert_ac_ok(ac_measure_correct_answer_percent(half, 2, 4, &s, 1, &p, &err), &err);
    assert_true(p == 50.0);
}

/* ragged answers with a duplicate: row 0 answers {0, 2}, wrong {1}; row 1 answers {3, 3},
 * wrong {0, 1, 2} */
static const int32_t rag_ans_off[] = {0, 2, 4};
static const int32_t rag_ans[] = {0, 2, 3, 3};
static const int32_t rag_wrong_off[] = {0, 1, 4};
static const int32_t rag_wrong[] = {1, 0, 1, 2};

static ac_answer_sets ragged(void) {
    ac_answer_sets s = {2, rag_ans_off, rag_ans, rag_wrong_off, rag_wrong};
    return s;
}

static void test_ragged_answers(void **state) {
    (void)state;
    const float vals[] = {1, 2, 3, 4, 10, 20, 30, 40};
    ac_answer_sets s = ragged();
    ac_error err;
    double v, d[2];
    assert_ac_ok(ac_batch_avg_answer_val(vals, 2, 4, &s, 0, &v, &err), &err);
    assert_close(v, (2.0 + 40.0) / 2, 1e-12, 0);
    assert_ac_ok(ac_batch_avg_answer_val(vals, 2, 4, &s, 1, &v, &err), &err);
    assert_close(v, (2.0 + 20.0) / 2, 1e-12, 0);
    assert_ac_ok(ac_batch_answer_diffs(vals, 2, 4, &s, d, &err), &err);
    assert_close(d[0], 0.0, 1e-12, 0);
    assert_close(d[1], 20.0, 1e-12, 0);
    assert_ac_ok(ac_batch_avg_answer_diff(vals, 2, 4, &s, &v, &err), &err);
    assert_close(v, 10.0, 1e-12, 0);
}

static void test_answer_diff_percent(void **state) {
    (void)state;
    ac_answer_sets s = ragged();
    /* pred diffs: row 0 (2+4)/2 - 1 = 2; row 1 10 - 5/3 = 25/3. target diffs: 1, 5 */
    const float pred[] = {2, 1, 4, 0, 0, 5, 0, 10};
    const float target[] = {1, 0, 1, 0, 0, 0, 0, 5};
    ac_error err;
    double pct[2];
    assert_ac_ok(ac_batch_answer_diff_percents(pred, target, 2, 4, &s, pct, &err), &err);
    assert_close(pct[0], 200.0, 1e-9, 0);
    assert_close(pct[1], 100.0 * (25.0 / 3) / 5, 1e-9, 0);

    double mean, sd, rows[2];
    assert_ac_ok(ac_measure_answer_diff_percent(pred, target, 2, 4, AC_VAL_LOGIT, &s, 0, &mean,
                                                &sd, rows, &err),
                 &err);
    double p1 = 100.0 * (25.0 / 3) / 5;
    assert_close(mean, (200.0 + p1) / 2, 1e-9, 0);
    assert_close(sd, fabs(200.0 - p1) / sqrt(2.0), 1e-9, 0); /* n-1 = 1 */
    assert_close(rows[1], p1, 1e-9, 0);
    /* difference of means: 100 * mean(2, 25/3) / mean(1, 5) */
    assert_ac_ok(ac_measure_answer_diff_percent(pred, target, 2, 4, AC_VAL_LOGIT, &s, 1, &mean,
                                                &sd, NULL, &err),
                 &err);
    assert_close(mean, 100.0 * ((2.0 + 25.0 / 3) / 2) / 3.0, 1e-9, 0);
    assert_true(sd == 0.0);
    /* one row: the sample std is NaN, as torch's */
    ac_answer_sets one = {1, rag_ans_off, rag_ans, rag_wrong_off, rag_wrong};
    assert_ac_ok(ac_measure_answer_diff_percent(pred, target, 1, 4, AC_VAL_LOGIT, &one, 0,
                                                &mean, &sd, NULL, &err),
                 &err);
    assert_close(mean, 200.0, 1e-9, 0);
    assert_true(isnan(sd));
}

static void test_transforms(void **state) {
    (void)state;
    /* p = [1, 2, 3, 4] / 10 */
    const float logits[] = {0.0f, (float)log(2.0), (float)log(3.0), (float)log(4.0),
                            1000.0f, 1000.0f, 999.0f, -1000.0f};
    float out[8];
    ac_error err;
    assert_ac_ok(ac_token_vals(logits, 2, 4, AC_VAL_PROB, out, &err), &err);
    for (int j = 0; j < 4; j++) assert_close(out[j], (j + 1) / 10.0, 1e-6, 0);
    double e1 = exp(-1.0), z = 2.0 + e1;
    assert_close(out[4], 1.0 / z, 1e-6, 0); /* stable at logit 1000 */
    assert_close(out[6], e1 / z, 1e-6, 0);
    assert_true(out[7] == 0.0f);
    assert_ac_ok(ac_token_vals(logits, 2, 4, AC_VAL_LOGIT_EXP, out, &err), &err);
    assert_close(out[2], 0.3, 1e-6, 0); /* same value as softmax */
    assert_ac_ok(ac_token_vals(logits, 2, 4, AC_VAL_LOGPROB, out, &err), &err);
    for (int j = 0; j < 4; j++) assert_close(out[j], log((j + 1) / 10.0), 1e-6, 0);
    assert_close(out[4], -log(z), 1e-4, 0);
    float inplace[8];
    memcpy(inplace, logits, sizeof inplace);
    assert_ac_ok(ac_token_vals(inplace, 2, 4, AC_VAL_LOGPROB, inplace, &err), &err);
    assert_memory_equal(inplace, out, sizeof out);
    assert_ac_ok(ac_token_vals(logits, 2, 4, AC_VAL_LOGIT, out, &err), &err);
    assert_memory_equal(logits, out, sizeof out);

    ac_val_kind k;
    assert_ac_ok(ac_val_kind_from_name("log_softmax", &k, &err), &err);
    assert_int_equal(k, AC_VAL_LOGPROB);
    assert_ac_ok(ac_val_kind_from_name("logit_exp", &k, &err), &err);
    assert_string_equal(ac_val_kind_name(k), "logit_exp");
    assert_int_equal(ac_val_kind_from_name("probability", &k, &err), AC_ERR_ARG);

    /* the prune metrics on probabilities and log-probabilities */
    ac_answer_sets s = ragged();
    double v;
    assert_ac_ok(ac_measure_answer_val(logits, 1, 4, AC_VAL_PROB,
                                       &(ac_answer_sets){1, rag_ans_off, rag_ans, NULL, NULL},
                                       0, &v, &err),
                 &err);
    assert_close(v, (0.1 + 0.3) / 2, 1e-7, 0);
    s.n_rows = 1;
    assert_ac_ok(ac_measure_answer_diff(logits, 1, 4, AC_VAL_LOGPROB, &s, &v, &err), &err);
    assert_close(v, (log(0.1) + log(0.3)) / 2 - log(0.2), 1e-6, 0);
}

static void test_kl_div(void **state) {
    (void)state;
    ac_error err;
    /* reference p = softmax(0, ln 3) = (1/4, 3/4); circuit q = (1/2, 1/2), and a second
     * row where both are equal */
    const float ref[] = {0.0f, (float)log(3.0), 1.0f, 2.0f};
    const float circ[] = {5.0f, 5.0f, 1.0f, 2.0f};
    double kl = -1;
    assert_ac_ok(ac_measure_kl_div(circ, ref, 1, 2, &kl, &err), &err);
    double expect = 0.25 * log(0.25 / 0.5) + 0.75 * log(0.75 / 0.5);
    assert_close(kl, expect, 1e-7, 0);
    assert_ac_ok(ac_measure_kl_div(circ, ref, 2, 2, &kl, &err), &err);
    assert_close(kl, expect / 2, 1e-7, 0); /* divided by the number of rows */
    assert_ac_ok(ac_measure_kl_div(ref, ref, 2, 2, &kl, &err), &err);
    assert_true(kl == 0.0);
    /* the other direction differs: KL is not symmetric */
    assert_ac_ok(ac_measure_kl_div(ref, circ, 1, 2, &kl, &err), &err);
    assert_close(kl, 0.5 * log(0.5 / 0.25) + 0.5 * log(0.5 / 0.75), 1e-7, 0);

    /* multibatch_kl_div on log-probabilities: sum exp(t) (t - in) / rows, no clamp */
    const float in_lp[] = {(float)log(0.5), (float)log(0.5), 0.0f, 0.0f};
    const float tg_lp[] = {(float)log(0.25), (float)log(0.75), (float)log(0.5), (float)log(0.5)};
    assert_ac_ok(ac_multibatch_kl_div(in_lp, tg_lp, 1, 2, &kl, &err), &err);
    assert_close(kl, expect, 1e-6, 0);
    assert_ac_ok(ac_multibatch_kl_div(in_lp + 2, tg_lp + 2, 1, 2, &kl, &err), &err);
    assert_close(kl, log(0.5), 1e-6, 0); /* unnormalised input: negative, kept */
    const float tg_zero[] = {-INFINITY, 0.0f};
    const float in_any[] = {-3.0f, 0.0f};
    assert_ac_ok(ac_multibatch_kl_div(in_any, tg_zero, 1, 2, &kl, &err), &err);
    assert_true(kl == 0.0); /* 0 * log 0 counts 0 */
}

static void test_errors(void **state) {
    (void)state;
    const float logits[] = {1, 2, 3, 4, 5, 6};
    ac_error err;
    double v;
    static const int32_t bad_ans[] = {0, 3};
    ac_answer_sets bad = {2, one_off, bad_ans, one_off, wrong_22};
    assert_int_equal(ac_batch_avg_answer_val(logits, 2, 3, &bad, 0, &v, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "row 1"));
    ac_answer_sets s = sets_01_22();
    assert_int_equal(ac_batch_avg_answer_val(logits, 3, 2, &s, 0, &v, &err), AC_ERR_SHAPE);
    assert_int_equal(ac_batch_avg_answer_val(NULL, 2, 3, &s, 0, &v, &err), AC_ERR_ARG);
    assert_int_equal(ac_batch_avg_answer_val(logits, 0, 3, &s, 0, &v, &err), AC_ERR_ARG);
    /* empty answer sets are rejected where a mean over them is needed */
    static const int32_t empty_off[] = {0, 1, 1};
    ac_answer_sets empty = {2, empty_off, ans_01, one_off, wrong_22};
    assert_int_equal(ac_batch_avg_answer_diff(logits, 2, 3, &empty, &v, &err), AC_ERR_ARG);
    assert_int_equal(ac_correct_answer_proportion(logits, 2, 3, &empty, &v, &err), AC_ERR_ARG);
    /* wrong answers missing */
    ac_answer_sets no_wrong = {2, one_off, ans_01, NULL, NULL};
    double d2[2];
    assert_int_equal(ac_batch_answer_diffs(logits, 2, 3, &no_wrong, d2, &err), AC_ERR_ARG);
    assert_ac_ok(ac_batch_avg_answer_val(logits, 2, 3, &no_wrong, 0, &v, &err), &err);
    /* decreasing offsets */
    static const int32_t dec_off[] = {0, 2, 1};
    ac_answer_sets dec = {2, dec_off, ans_01, one_off, wrong_22};
    assert_int_equal(ac_answer_sets_validate(&dec, 2, 3, 0, 0, &err), AC_ERR_ARG);
    assert_int_equal(ac_token_vals(logits, 2, 3, (ac_val_kind)7, (float[6]){0}, &err),
                     AC_ERR_ARG);
    assert_int_equal(ac_measure_kl_div(logits, logits, SIZE_MAX / 2, 3, &v, &err), AC_ERR_RANGE);
    /* allocation failure reported, nothing leaked (ASan checks) */
    ac_alloc_fail_after(1);
    assert_int_equal(ac_batch_avg_answer_diff(logits, 2, 3, &s, &v, &err), AC_ERR_NOMEM);
    ac_alloc_fail_after(0);
    ac_alloc_fail_after(2);
    assert_int_equal(ac_measure_answer_diff_percent(logits, logits, 2, 3, AC_VAL_LOGIT, &s, 1,
                                                    &v, NULL, NULL, &err),
                     AC_ERR_NOMEM);
    ac_alloc_fail_after(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_avg_answer_val),
        cmocka_unit_test(test_batch_avg_answer_diff),
        cmocka_unit_test(test_correct_answer_proportion),
        cmocka_unit_test(test_correct_greater_than_incorrect),
        cmocka_unit_test(test_ragged_answers),
        cmocka_unit_test(test_answer_diff_percent),
        cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_kl_div),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
