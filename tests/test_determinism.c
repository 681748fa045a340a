/* Determinism (issue 8, part 4). Same inputs and seed give bit-identical scores and
 * curves:
 *   - twice in one process, each time from a freshly loaded model and dataset;
 *   - in two other processes (this program re-run with --emit FILE), so nothing depends
 *     on addresses, uninitialised memory or leftover state;
 * for EAP, integrated gradients, EAP-IG over inputs, exact patching, ACDC, activation
 * magnitude, random, and the evaluation curves (edge and tree patching).
 * Across OpenMP thread counts (1 and 2, which OpenBLAS follows too) results may differ by
 * the order of floating-point sums; they must agree within the tolerance documented in
 * docs/reliability.md: |a - b| <= 1e-5 * max|score| + 1e-7 for scores and
 * |a - b| <= 1e-5 |a| + 1e-6 for the curve metrics (a logit difference near 0 is the
 * difference of logits near 1: its rounding error is absolute, not relative). The model and batches are large enough that the row-parallel
 * loops and the attention kernel take their parallel branches. */
#include "ac_test.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autocircuit/algos.h"

enum { N_ALGOS = 8, N_COUNTS = 4, N_METRICS = 3 };
static const char *const algo_names[N_ALGOS] = {"EAP", "IG", "EAP-IG inputs", "exact", "ACDC",
                                                "activation magnitude", "random", "EAP (mean ablation)"};

/* Everything one run produces: scores per algorithm, then the curve metrics. */
typedef struct results {
    size_t n_edges;
    float *scores[N_ALGOS];
    double curves[2][N_COUNTS][N_METRICS];
} results;

static const char *dataset_path(void) {
    static char path[700];
    if (path[0]) return path;
    snprintf(path, sizeof path, "%s", ac_test_path(ac_test_tmpdir(), "determinism.json"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < 10; i++) {
        fprintf(f, "{\"clean\": [");
        for (int t = 0; t < 16; t++) fprintf(f, "%s%d", t ? ", " : "", 1 + (i * 7 + t * 3) % 40);
        fprintf(f, "], \"corrupt\": [");
        for (int t = 0; t < 16; t++) fprintf(f, "%s%d", t ? ", " : "", 1 + (i * 5 + t * 11 + (t > 8)) % 40);
        fprintf(f, "], \"answers\": [%d], \"wrong_answers\": [%d, %d]}%s\n", 41 + i % 5, 42 + i % 3, 45,
                i < 9 ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
    return path;
}

/* Compute every result from scratch: model from the seed, dataset from the file. */
static void compute(results *r) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 4;
    c.d_model = 32;
    c.d_head = 8;
    c.d_mlp = 64;
    c.vocab_size = 50;
    c.n_ctx = 16;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 2024, 0.2f);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.pad_id = 0;
    o.vocab_size = 50;
    o.train_size = 10;
    o.test_size = 0;
    o.train_batch_size = 10; /* B*T = 160 rows: parallel row loops and attention */
    o.seed = 7;
    const char *path = dataset_path();
    ac_dataset *ds;
    assert_ac_ok(ac_dataset_load(&ds, &path, 1, NULL, &o, &err), &err);
    ac_graph *g;
    ac_graph_opts go = ac_graph_default_opts();
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &go, &err), &err);
    ac_algo_ctx *ctx;
    assert_ac_ok(ac_algo_ctx_create(&ctx, m, g, ac_dataset_split(ds, AC_SPLIT_TRAIN), &err), &err);
    const size_t E = g->n_edges;
    r->n_edges = E;
    for (int a = 0; a < N_ALGOS; a++) r->scores[a] = calloc(E, sizeof(float));
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    assert_ac_ok(ac_algo_mask_gradient(ctx, &d, 0, r->scores[0], &err), &err);
    d.steps = 3;
    assert_ac_ok(ac_algo_mask_gradient(ctx, &d, 1, r->scores[1], &err), &err);
    assert_ac_ok(ac_algo_eap_ig_inputs(ctx, &d, r->scores[2], &err), &err);
    ac_discover_opts_default(&d);
    assert_ac_ok(ac_algo_exact(ctx, &d, r->scores[3], &err), &err);
    const double taus[3] = {1e-4, 1e-3, 1e-2};
    d.taus = taus;
    d.n_taus = 3;
    assert_ac_ok(ac_algo_acdc(ctx, &d, r->scores[4], &err), &err);
    assert_ac_ok(ac_algo_activation_magnitude(ctx, r->scores[5], &err), &err);
    ac_algo_random(g, 99, r->scores[6]);
    ac_discover_opts_default(&d);
    d.ablation = AC_ABLATION_MEAN;
    assert_ac_ok(ac_algo_mask_gradient(ctx, &d, 0, r->scores[7], &err), &err);
    const size_t counts[N_COUNTS] = {0, 10, E / 2, E};
    for (int tree = 0; tree < 2; tree++) {
        ac_eval_point pts[N_COUNTS];
        ac_eval_opts eo = {.tree = tree, .ablation = AC_ABLATION_RESAMPLE};
        assert_ac_ok(ac_evaluate(ctx, r->scores[0], counts, N_COUNTS, &eo, pts, &err), &err);
        for (int k = 0; k < N_COUNTS; k++) {
            r->curves[tree][k][0] = pts[k].kl;
            r->curves[tree][k][1] = pts[k].logit_diff;
            r->curves[tree][k][2] = pts[k].answer_logprob;
        }
    }
    ac_algo_ctx_free(ctx);
    ac_graph_free(g);
    ac_dataset_free(ds);
    ac_model_free(m);
}

static void free_results(results *r) {
    for (int a = 0; a < N_ALGOS; a++) free(r->scores[a]);
}

static void assert_identical(const results *a, const results *b, const char *what) {
    assert_int_equal(a->n_edges, b->n_edges);
    for (int k = 0; k < N_ALGOS; k++)
        if (memcmp(a->scores[k], b->scores[k], a->n_edges * sizeof(float)))
            fail_msg("%s: %s scores differ", what, algo_names[k]);
    if (memcmp(a->curves, b->curves, sizeof a->curves)) fail_msg("%s: the evaluation curves differ", what);
}

/* The results as bytes: n_edges, scores, curves. */
static void emit(const results *r, const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(&r->n_edges, sizeof r->n_edges, 1, f);
    for (int a = 0; a < N_ALGOS; a++) fwrite(r->scores[a], sizeof(float), r->n_edges, f);
    fwrite(r->curves, sizeof r->curves, 1, f);
    assert_int_equal(fclose(f), 0);
}

static void load(results *r, const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(&r->n_edges, sizeof r->n_edges, 1, f), 1);
    for (int a = 0; a < N_ALGOS; a++) {
        r->scores[a] = calloc(r->n_edges, sizeof(float));
        assert_int_equal(fread(r->scores[a], sizeof(float), r->n_edges, f), r->n_edges);
    }
    assert_int_equal(fread(r->curves, sizeof r->curves, 1, f), 1);
    fclose(f);
}

static char self_path[1024];

static void test_same_process_twice(void **state) {
    (void)state;
    omp_set_num_threads(2);
    results a, b;
    compute(&a);
    compute(&b);
    assert_identical(&a, &b, "two runs in one process");
    /* the scores are not trivially equal: something was computed */
    for (int k = 0; k < N_ALGOS; k++) {
        int nonzero = 0;
        for (size_t e = 0; e < a.n_edges; e++) nonzero += a.scores[k][e] != 0;
        if (nonzero < 2) fail_msg("%s: only %d non-zero scores", algo_names[k], nonzero);
    }
    free_results(&a);
    free_results(&b);
}

static void test_separate_processes(void **state) {
    (void)state;
    omp_set_num_threads(2);
    results here, there[2];
    compute(&here);
    for (int p = 0; p < 2; p++) {
        char out[700], cmd[2048];
        snprintf(out, sizeof out, "%s/emit%d.bin", ac_test_tmpdir(), p);
        snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive '%s' --emit '%s'", self_path, out);
        assert_int_equal(ac_test_run(cmd, NULL), 0);
        load(&there[p], out);
        assert_identical(&here, &there[p], p ? "the second other process" : "another process");
        free_results(&there[p]);
    }
    free_results(&here);
}

static void test_thread_counts(void **state) {
    (void)state;
    results one, two;
    omp_set_num_threads(1);
    compute(&one);
    omp_set_num_threads(2);
    compute(&two);
    omp_set_num_threads(2);
    double worst = 0;
    for (int k = 0; k < N_ALGOS; k++) {
        double scale = 0, diff = 0;
        for (size_t e = 0; e < one.n_edges; e++) {
            const double x = one.scores[k][e], y = two.scores[k][e];
            if (isinf(x) || isinf(y)) {
                if (x != y) fail_msg("%s: edge %zu is %g with 1 thread and %g with 2", algo_names[k], e, x, y);
                continue;
            }
            scale = fmax(scale, fabs(x));
            diff = fmax(diff, fabs(x - y));
        }
        if (diff > 1e-5 * scale + 1e-7)
            fail_msg("%s: 1 and 2 threads differ by %g (max |score| %g)", algo_names[k], diff, scale);
        if (scale > 0) worst = fmax(worst, diff / scale);
    }
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < N_COUNTS; k++)
            for (int j = 0; j < N_METRICS; j++) {
                const double x = one.curves[t][k][j], y = two.curves[t][k][j];
                if (!(fabs(x - y) <= 1e-5 * fabs(x) + 1e-6))
                    fail_msg("curve %d point %d metric %d: %.17g with 1 thread, %.17g with 2", t, k, j, x, y);
            }
    print_message("largest 1-vs-2-thread score difference: %.3g of the largest score\n", worst);
    free_results(&one);
    free_results(&two);
}

int main(int argc, char **argv) {
    snprintf(self_path, sizeof self_path, "%s", argv[0][0] == '/' ? argv[0] : "/proc/self/exe");
    if (argc == 3 && !strcmp(argv[1], "--emit")) {
        results r;
        compute(&r);
        emit(&r, argv[2]);
        free_results(&r);
        return 0;
    }
    /* the children must be this very program: resolve /proc/self/exe now */
    char buf[1024];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = 0;
        snprintf(self_path, sizeof self_path, "%s", buf);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_process_twice),
        cmocka_unit_test(test_separate_processes),
        cmocka_unit_test(test_thread_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
