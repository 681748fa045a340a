/* Prune-score ranking and thresholds, edge-count sweeps (the reference's test_graph_utils
 * cases), ROC points and AUC, faithfulness AUC, MIB CPR/CMD, ranking similarity. */
#include "ac_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_desc_threshold_select(void **state) {
    (void)state;
    const float s[] = {0.5f, -2.0f, 1.0f, -1.0f, 0.0f};
    float desc[5];
    ac_error err;
    assert_ac_ok(ac_desc_prune_scores(s, 5, 0, desc, &err), &err);
    const float expect_abs[] = {2, 1, 1, 0.5f, 0};
    assert_memory_equal(desc, expect_abs, sizeof desc);
    double t;
    assert_ac_ok(ac_prune_scores_threshold(desc, 5, 0, &t, &err), &err);
    assert_true(isinf(t) && t > 0);
    assert_ac_ok(ac_prune_scores_threshold(desc, 5, 1, &t, &err), &err);
    assert_true(t == 2.0);
    assert_ac_ok(ac_prune_scores_threshold(desc, 5, 3, &t, &err), &err);
    assert_true(t == 1.0);
    assert_int_equal(ac_prune_scores_threshold(desc, 5, 6, &t, &err), AC_ERR_RANGE);

    float sdesc[5];
    assert_ac_ok(ac_desc_prune_scores(s, 5, 1, sdesc, &err), &err);
    const float expect_signed[] = {1, 0.5f, 0, -1, -2};
    assert_memory_equal(sdesc, expect_signed, sizeof sdesc);

    /* inclusive ties: asking for 2 edges gives the 3 with |score| >= 1 */
    uint8_t sel[5];
    size_t n_sel = 0;
    assert_ac_ok(ac_prune_scores_select(s, 5, 2, 0, sel, &n_sel, &err), &err);
    const uint8_t expect_sel[] = {0, 1, 1, 1, 0};
    assert_memory_equal(sel, expect_sel, 5);
    assert_int_equal(n_sel, 3);
    assert_ac_ok(ac_prune_scores_select(s, 5, 2, 1, sel, &n_sel, &err), &err); /* signed */
    const uint8_t expect_signed_sel[] = {1, 0, 1, 0, 0};
    assert_memory_equal(sel, expect_signed_sel, 5);
    assert_int_equal(n_sel, 2);
    assert_ac_ok(ac_prune_scores_select(s, 5, 0, 0, sel, &n_sel, &err), &err);
    assert_int_equal(n_sel, 0);
    assert_ac_ok(ac_prune_scores_select(s, 5, 5, 0, sel, &n_sel, &err), &err);
    assert_int_equal(n_sel, 5);
    /* +inf scores (ACDC's never-removed edges) pass even the k = 0 threshold */
    const float with_inf[] = {INFINITY, 1.0f, 2.0f};
    assert_ac_ok(ac_prune_scores_select(with_inf, 3, 0, 0, sel, &n_sel, &err), &err);
    assert_int_equal(n_sel, 1);
    assert_int_equal(sel[0], 1);

    /* deterministic order: ties by ascending edge index */
    size_t order[5];
    assert_ac_ok(ac_prune_scores_order(s, 5, 0, order, &err), &err);
    const size_t expect_order[] = {1, 2, 3, 0, 4};
    assert_memory_equal(order, expect_order, sizeof order);
    assert_ac_ok(ac_prune_scores_order(s, 5, 1, order, &err), &err);
    const size_t expect_sorder[] = {2, 0, 4, 3, 1};
    assert_memory_equal(order, expect_sorder, sizeof order);

    const float with_nan[] = {1.0f, NAN};
    assert_int_equal(ac_desc_prune_scores(with_nan, 2, 0, desc, &err), AC_ERR_RANGE);
    assert_int_equal(ac_prune_scores_select(s, 5, 6, 0, sel, &n_sel, &err), AC_ERR_RANGE);

    /* flat_prune_scores concatenates per-destination arrays */
    const float p0[] = {1, 2}, p2[] = {3};
    const float *parts[] = {p0, NULL, p2};
    const size_t sizes[] = {2, 0, 1};
    float *flat = NULL;
    size_t n_flat = 0;
    assert_ac_ok(ac_flat_prune_scores(parts, sizes, 3, &flat, &n_flat, &err), &err);
    assert_int_equal(n_flat, 3);
    assert_true(flat[0] == 1 && flat[1] == 2 && flat[2] == 3);
    ac_free(flat);
}

/* run ac_edge_counts and compare with an expected list */
static void expect_counts(size_t n_edges, const ac_edge_counts_spec *spec, const float *scores,
                          const size_t *expect, size_t n_expect) {
    size_t *c = NULL, n = 99;
    ac_error err;
    assert_ac_ok(ac_edge_counts(n_edges, spec, scores, &c, &n, &err), &err);
    assert_int_equal(n, n_expect);
    for (size_t i = 0; i < n; i++) assert_int_equal(c[i], expect[i]);
    ac_free(c);
}

static void test_edge_counts_reference_cases(void **state) {
    (void)state;
    /* test_edge_counts_util: fractions [0.0, 0.5, 1.0] on the mini transformer, E = 26 */
    const double fr[] = {0.0, 0.5, 1.0};
    ac_edge_counts_spec spec = {0};
    spec.kind = AC_EDGE_COUNTS_LIST;
    spec.fractions = fr;
    spec.n_fractions = 3;
    expect_counts(26, &spec, NULL, (const size_t[]){0, 13, 26}, 3);
    /* ALL = 0..E */
    size_t all[27];
    for (size_t i = 0; i <= 26; i++) all[i] = i;
    ac_edge_counts_spec all_spec = {0};
    all_spec.kind = AC_EDGE_COUNTS_ALL;
    expect_counts(26, &all_spec, NULL, all, 27);

    /* test_groups_edge_counts: GROUPS on the 13-edge micro model */
    float ps[13];
    memset(ps, 0, sizeof ps);
    ac_edge_counts_spec g = {0};
    g.kind = AC_EDGE_COUNTS_GROUPS;
    g.zero_edges = g.all_edges = 1;
    expect_counts(13, &g, ps, (const size_t[]){0, 13}, 2);
    g.zero_edges = g.all_edges = -1;
    expect_counts(13, &g, ps, NULL, 0);
    ps[0] = 1.0f;
    expect_counts(13, &g, ps, (const size_t[]){1}, 1);
    ps[1] = 1.0f;
    expect_counts(13, &g, ps, (const size_t[]){2}, 1);
    ps[2] = 2.0f;
    expect_counts(13, &g, ps, (const size_t[]){1, 3}, 2);
    ps[1] = 2.0f;
    expect_counts(13, &g, ps, (const size_t[]){2, 3}, 2);
    /* importance is |score| */
    ps[1] = -2.0f;
    expect_counts(13, &g, ps, (const size_t[]){2, 3}, 2);
}

static void test_edge_counts_rules(void **state) {
    (void)state;
    /* LOGARITHMIC by default above 200 edges: 1-9, 10-90, 100-900, plus 0 and E */
    size_t log1000[29], n = 0;
    log1000[n++] = 0;
    for (size_t p = 1; p <= 100; p *= 10)
        for (size_t d = 1; d <= 9; d++) log1000[n++] = d * p;
    log1000[n++] = 1000;
    expect_counts(1000, NULL, NULL, log1000, n);
    expect_counts(250, NULL, NULL,
                  (const size_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80,
                                   90, 100, 200, 250},
                  22);
    /* ALL by default at 200 edges and below (distinct scores) */
    float distinct[13];
    for (int i = 0; i < 13; i++) distinct[i] = (float)i;
    size_t all13[14];
    for (size_t i = 0; i <= 13; i++) all13[i] = i;
    expect_counts(13, NULL, distinct, all13, 14);
    /* GROUPS when fewer than min(E/2, 100) distinct |scores|: ground-truth scores give
     * one group size; a list of <= 2 entries drops 0 and E */
    float gt[13] = {0};
    gt[3] = gt[5] = gt[7] = 1.0f;
    expect_counts(13, NULL, gt, (const size_t[]){3}, 1);
    float three[13] = {0};
    three[0] = 3;
    three[1] = 2;
    three[2] = 2;
    expect_counts(13, NULL, three, (const size_t[]){0, 1, 3, 13}, 4);
    /* 6 distinct values of 13 edges: 6 < 6.5 -> GROUPS; 7 distinct -> ALL */
    float six[13] = {0};
    for (int i = 0; i < 5; i++) six[i] = (float)(i + 1);
    expect_counts(13, NULL, six, (const size_t[]){0, 1, 2, 3, 4, 5, 13}, 7);
    six[5] = 6.0f;
    expect_counts(13, NULL, six, all13, 14);

    /* explicit lists: duplicates kept, floats truncated as Python int(E * f) */
    ac_edge_counts_spec l = {0};
    l.kind = AC_EDGE_COUNTS_LIST;
    const size_t ints[] = {5, 5, 1};
    l.ints = ints;
    l.n_ints = 3;
    expect_counts(10, &l, NULL, (const size_t[]){0, 1, 5, 5, 10}, 5);
    const double trunc[] = {0.29, 0.7};
    l.n_ints = 0;
    l.fractions = trunc;
    l.n_fractions = 2;
    expect_counts(100, &l, NULL, (const size_t[]){28, 70}, 2); /* 100 * 0.29 = 28.999... */
    /* true_edge_count is inserted in order */
    l.n_fractions = 0;
    l.ints = (const size_t[]){2};
    l.n_ints = 1;
    l.has_true_edge_count = 1;
    l.true_edge_count = 7;
    expect_counts(10, &l, NULL, (const size_t[]){2, 7}, 2);
    l.true_edge_count = 2;
    expect_counts(10, &l, NULL, (const size_t[]){2}, 1);
    /* forced zero and all on a short list */
    l.has_true_edge_count = 0;
    l.zero_edges = 1;
    l.all_edges = 1;
    expect_counts(10, &l, NULL, (const size_t[]){0, 2, 10}, 3);

    /* errors */
    size_t *c = NULL, nc = 0;
    ac_error err;
    l.ints = (const size_t[]){11};
    assert_int_equal(ac_edge_counts(10, &l, NULL, &c, &nc, &err), AC_ERR_RANGE);
    l.n_ints = 0;
    l.fractions = (const double[]){1.5};
    l.n_fractions = 1;
    assert_int_equal(ac_edge_counts(10, &l, NULL, &c, &nc, &err), AC_ERR_RANGE);
    ac_edge_counts_spec g = {0};
    g.kind = AC_EDGE_COUNTS_GROUPS;
    assert_int_equal(ac_edge_counts(10, &g, NULL, &c, &nc, &err), AC_ERR_ARG);
    const float nan_scores[] = {1.0f, NAN};
    assert_int_equal(ac_edge_counts(2, NULL, nan_scores, &c, &nc, &err), AC_ERR_RANGE);
    assert_null(c);
    ac_alloc_fail_after(1);
    assert_int_equal(ac_edge_counts(1000, NULL, NULL, &c, &nc, &err), AC_ERR_NOMEM);
    ac_alloc_fail_after(0);
}

static void test_roc(void **state) {
    (void)state;
    ac_error err;
    const uint8_t official[] = {1, 1, 0, 0, 0, 0};
    const float perfect[] = {6, 5, 4, 3, 2, 1};
    const float reversed[] = {1, 2, 3, 4, 5, 6};
    ac_point *pts = NULL;
    size_t n = 0;
    double auc;
    assert_ac_ok(ac_measure_task_roc(perfect, official, 6, 1, &pts, &n, &err), &err);
    assert_int_equal(n, 9); /* (0,0), counts 0..6, (1,1) */
    const ac_point expect[] = {{0, 0}, {0, 0}, {0, 0.5}, {0, 1}, {0.25, 1},
                               {0.5, 1}, {0.75, 1}, {1, 1}, {1, 1}};
    for (size_t i = 0; i < n; i++) {
        assert_close(pts[i].x, expect[i].x, 1e-15, 0);
        assert_close(pts[i].y, expect[i].y, 1e-15, 0);
    }
    assert_ac_ok(ac_roc_auc(pts, n, 0, &auc, &err), &err);
    assert_close(auc, 1.0, 1e-15, 0);
    assert_ac_ok(ac_roc_auc(pts, n, 1, &auc, &err), &err);
    assert_close(auc, 1.0, 1e-15, 0);
    ac_free(pts);
    assert_ac_ok(ac_measure_task_roc(reversed, official, 6, 0, &pts, &n, &err), &err);
    assert_ac_ok(ac_roc_auc(pts, n, 0, &auc, &err), &err);
    assert_close(auc, 0.0, 1e-15, 0);
    ac_free(pts);

    /* ties: a group of 4 at |score| 1 holds one official and three other edges... */
    const uint8_t off2[] = {1, 0, 1, 0, 0, 0};
    const float tied[] = {2, -1, 1, 1, 0, 0};
    const size_t counts[] = {0, 1, 2, 3, 4, 5, 6};
    ac_point tp[9];
    assert_ac_ok(ac_roc_points(tied, off2, 6, counts, 7, tp, &err), &err);
    assert_close(tp[2].y, 0.5, 1e-15, 0); /* k=1: {0} */
    assert_close(tp[3].x, 0.5, 1e-15, 0); /* k=2: threshold 1 takes {0,1,2,3} */
    assert_close(tp[3].y, 1.0, 1e-15, 0);
    assert_ac_ok(ac_roc_auc(tp, 9, 0, &auc, &err), &err);
    assert_close(auc, 0.5 * 0.75 + 0.5, 1e-15, 0); /* trapezoid across the tie */
    assert_ac_ok(ac_roc_auc(tp, 9, 1, &auc, &err), &err);
    assert_close(auc, 0.5 * 0.5 + 0.5, 1e-15, 0); /* pessimistic: false positives first */

    /* ground-truth scores: default counts are GROUPS [2], so (0,0) (0,1) (1,1) */
    const float gt[] = {1, 1, 0, 0, 0, 0};
    assert_ac_ok(ac_measure_task_roc(gt, official, 6, 0, &pts, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_true(pts[1].x == 0.0 && pts[1].y == 1.0);
    ac_free(pts);

    const uint8_t none[] = {0, 0, 0, 0, 0, 0};
    assert_int_equal(ac_measure_task_roc(gt, none, 6, 0, &pts, &n, &err), AC_ERR_ARG);
    const ac_point back[] = {{0, 0}, {0.5, 1}, {0.4, 1}};
    assert_int_equal(ac_roc_auc(back, 3, 0, &auc, &err), AC_ERR_ARG);
}

static void test_measurements_auc(void **state) {
    (void)state;
    ac_error err;
    double auc;
    /* sorted by x first; baseline = y at x = 0 */
    const ac_point lin[] = {{2, 3}, {0, 1}, {1, 2}};
    assert_ac_ok(ac_measurements_auc(lin, 3, 0, 0, 0, AC_AUC_EPS, &auc, &err), &err);
    assert_close(auc, 0.5 + 1.5, 1e-12, 0);
    /* log x: the segment from 0 is skipped */
    const ac_point logx[] = {{0, 1}, {1, 2}, {10, 4}, {100, 4}};
    assert_ac_ok(ac_measurements_auc(logx, 4, 1, 0, 0, AC_AUC_EPS, &auc, &err), &err);
    assert_close(auc, 2.0 + 3.0, 1e-12, 0);
    /* log y with y_min 0.01: y -> log10(max(y, y_min)) + 2, baseline stays the raw 0.1 */
    const ac_point logy[] = {{0, 0.1}, {1, 1}, {2, 0.001}};
    assert_ac_ok(ac_measurements_auc(logy, 3, 0, 1, 0.01, AC_AUC_EPS, &auc, &err), &err);
    assert_close(auc, (0.9 + 1.9) / 2 + (1.9 - 0.1) / 2, 1e-12, 0);
    /* never below eps */
    const ac_point down[] = {{0, 1}, {1, 0}};
    assert_ac_ok(ac_measurements_auc(down, 2, 0, 0, 0, AC_AUC_EPS, &auc, &err), &err);
    assert_true(auc == 1e-3);
    const ac_point single[] = {{0, 5}};
    assert_ac_ok(ac_measurements_auc(single, 1, 1, 1, 1e-6, AC_AUC_EPS, &auc, &err), &err);
    assert_true(auc == 1e-3);
    const ac_point no_zero[] = {{1, 1}, {2, 2}};
    assert_int_equal(ac_measurements_auc(no_zero, 2, 0, 0, 0, AC_AUC_EPS, &auc, &err),
                     AC_ERR_ARG);
    assert_int_equal(ac_measurements_auc(lin, 3, 0, 1, 0.0, AC_AUC_EPS, &auc, &err), AC_ERR_ARG);
    const ac_point neg[] = {{-1, 1}, {0, 1}, {1, 1}};
    assert_int_equal(ac_measurements_auc(neg, 3, 0, 0, 0, AC_AUC_EPS, &auc, &err), AC_ERR_ARG);

    /* normalisation by Random and the number of tasks */
    double v;
    assert_ac_ok(ac_normalised_auc(2.0, 4.0, 2, 0, &v, &err), &err);
    assert_close(v, 0.25, 1e-15, 0);
    assert_ac_ok(ac_normalised_auc(2.0, 4.0, 2, 1, &v, &err), &err);
    assert_close(v, 0.75, 1e-15, 0);
    assert_int_equal(ac_normalised_auc(2.0, 4.0, 0, 0, &v, &err), AC_ERR_ARG);
}

static void test_mib_cpr_cmd(void **state) {
    (void)state;
    ac_error err;
    /* m(empty) = 1, m(model) = 3: f = 0, 1.5, 1 */
    const ac_point pts[] = {{0, 1}, {0.5, 4}, {1, 3}};
    double f[3];
    ac_mib_scores s;
    assert_ac_ok(ac_mib_faithfulness(pts, 3, 1.0, 3.0, f, &s, &err), &err);
    assert_close(f[0], 0.0, 1e-15, 0);
    assert_close(f[1], 1.5, 1e-15, 0);
    assert_close(f[2], 1.0, 1e-15, 0);
    assert_close(s.cpr, 0.5 * (0 + 1.5) / 2 + 0.5 * (1.5 + 1) / 2, 1e-15, 0);
    assert_close(s.cmd, 0.5 * (1 + 0.5) / 2 + 0.5 * (0.5 + 0) / 2, 1e-15, 0);
    assert_close(s.mean, 2.5 / 3, 1e-15, 0);
    /* a perfect circuit at every size: CPR = span, CMD = 0 */
    const ac_point flat[] = {{0.1, 3}, {0.5, 3}, {1.0, 3}};
    assert_ac_ok(ac_mib_faithfulness(flat, 3, 1.0, 3.0, NULL, &s, &err), &err);
    assert_close(s.cpr, 0.9, 1e-15, 0);
    assert_close(s.cmd, 0.0, 1e-15, 0);
    assert_int_equal(ac_mib_faithfulness(pts, 3, 2.0, 2.0, f, &s, &err), AC_ERR_ARG);
}

static void test_similarity(void **state) {
    (void)state;
    ac_error err;
    const float a[] = {4, 3, 2, 1, 0};
    const float b[] = {-4, 0, 3, 2, 1};
    const float tied[] = {1, 1, 0, 0, 0};
    const size_t counts[] = {0, 1, 2, 3, 5};
    double out[5];
    assert_ac_ok(ac_prune_score_similarities(a, b, 5, counts, 5, out, &err), &err);
    assert_true(isnan(out[0]));
    assert_close(out[1], 1.0, 1e-15, 0);
    assert_close(out[2], 0.5, 1e-15, 0);
    assert_close(out[3], 2.0 / 3, 1e-15, 0);
    assert_close(out[4], 1.0, 1e-15, 0);
    assert_ac_ok(ac_prune_score_similarities(a, tied, 5, counts, 5, out, &err), &err);
    assert_true(isnan(out[1]));     /* top-1 of `tied` realises 2 edges */
    assert_close(out[2], 1.0, 1e-15, 0);
    assert_true(isnan(out[3]));     /* top-3 of `tied` realises 5 */
    const size_t too_many[] = {6};
    assert_int_equal(ac_prune_score_similarities(a, b, 5, too_many, 1, out, &err),
                     AC_ERR_RANGE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desc_threshold_select),
        cmocka_unit_test(test_edge_counts_reference_cases),
        cmocka_unit_test(test_edge_counts_rules),
        cmocka_unit_test(test_roc),
        cmocka_unit_test(test_measurements_auc),
        cmocka_unit_test(test_mib_cpr_cmd),
        cmocka_unit_test(test_similarity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
