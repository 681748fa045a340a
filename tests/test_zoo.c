/* The model zoo: each compiled model does its task, its ground truth is exactly the set
 * of edges with a non-zero exact-patching effect, the ground truth alone keeps the whole
 * logit difference and its complement none of it; files are deterministic and the
 * shipped copies equal regenerated ones. */
#include "ac_test.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/algos.h"
#include "autocircuit/zoo.h"

/* ---- helpers --------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

/* assert two files have the same bytes */
static void assert_same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    if (!x || !y) fail_msg("cannot read %s or %s", a, b);
    if (na != nb || memcmp(x, y, na) != 0) fail_msg("%s and %s differ (%zu vs %zu bytes)", a, b, na, nb);
    free(x);
    free(y);
}

static const char *write_zoo(const char *name, const char *tag, size_t n, uint64_t seed) {
    static char dirs[8][1024];
    static int k = 0;
    char *dir = dirs[k++ & 7];
    snprintf(dir, 1024, "%s/%s-%s", ac_test_tmpdir(), name, tag);
    ac_error err;
    assert_ac_ok(ac_zoo_write(name, dir, n, seed, &err), &err);
    return dir;
}

/* The default files of a model, written once per test program (writing syncs every file
 * to disk, which is slow on some machines). */
static const char *default_zoo(const char *name) {
    static char done[4][64], dirs[4][1024];
    int i = 0;
    for (; i < 4 && done[i][0]; i++)
        if (!strcmp(done[i], name)) return dirs[i];
    assert_true(i < 4);
    snprintf(dirs[i], sizeof dirs[i], "%s", write_zoo(name, "default", AC_ZOO_DEFAULT_PROMPTS, AC_ZOO_DEFAULT_SEED));
    snprintf(done[i], sizeof done[i], "%s", name);
    return dirs[i];
}

/* A written zoo model, loaded back from its files, with its dataset and ground truth. */
typedef struct {
    const char *name;
    ac_model *m;
    ac_graph *g;
    ac_dataset *ds;
    uint8_t *gt;
    size_t n_gt;
} zoo_fx;

static zoo_fx load_zoo(const char *name, const char *dir) {
    zoo_fx f = {.name = name};
    ac_error err;
    assert_ac_ok(ac_model_load(&f.m, ac_test_path(dir, "model"), &err), &err);
    ac_graph_opts go = ac_graph_default_opts();
    assert_ac_ok(ac_graph_build(&f.g, ac_model_config(f.m), &go, &err), &err);
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.prepend_bos = 0;
    o.vocab_size = ac_model_config(f.m)->vocab_size;
    o.fixed_length = 1;
    const char *data = ac_test_path(dir, "dataset.json");
    assert_ac_ok(ac_dataset_load(&f.ds, &data, 1, NULL, &o, &err), &err);
    f.gt = calloc(f.g->n_edges, 1);
    assert_ac_ok(ac_zoo_ground_truth(name, f.g, f.gt, &f.n_gt, &err), &err);
    return f;
}

static void free_zoo(zoo_fx *f) {
    free(f->gt);
    ac_dataset_free(f->ds);
    ac_graph_free(f->g);
    ac_model_free(f->m);
}

/* ---- behaviour ------------------------------------------------------------------------- */

typedef struct {
    double gt_percent, complement_percent, eap_auc, eap_auc_pessimistic;
    size_t eap_false_positives; /* non-ground-truth edges with a non-zero EAP score */
} zoo_result;

static zoo_result check_model(const char *name, size_t expect_n_gt) {
    zoo_result res;
    zoo_fx f = load_zoo(name, default_zoo(name));
    assert_int_equal(f.n_gt, expect_n_gt);
    ac_error err;
    const size_t E = f.g->n_edges;
    uint8_t *all = malloc(E), *complement = malloc(E);
    memset(all, 1, E);
    for (size_t e = 0; e < E; e++) complement[e] = !f.gt[e];

    for (int sp = 0; sp < 2; sp++) {
        const ac_split *split = ac_dataset_split(f.ds, sp ? AC_SPLIT_TEST : AC_SPLIT_TRAIN);
        assert_int_equal(split->n_prompts, 128);
        ac_algo_ctx *c;
        assert_ac_ok(ac_algo_ctx_create(&c, f.m, f.g, split, &err), &err);
        ac_eval_opts eo = {.tree = 1, .ablation = AC_ABLATION_RESAMPLE};
        ac_eval_point full;
        /* the whole model (tree patching with every edge kept = the clean run): accuracy
         * on all 256 prompts */
        assert_ac_ok(ac_evaluate_circuit(c, all, &eo, &full, &err), &err);
        printf("%s %s: accuracy %.1f%%, logit diff %.4f\n", name, sp ? "test" : "train", full.correct_percent,
               full.logit_diff);
        assert_true(full.correct_percent >= 99.0);
        assert_true(full.logit_diff > 7.0);
        if (sp == 0) {
            /* the ground truth alone, and its complement alone (train split) */
            ac_eval_point gt, comp;
            assert_ac_ok(ac_evaluate_circuit(c, f.gt, &eo, &gt, &err), &err);
            assert_ac_ok(ac_evaluate_circuit(c, complement, &eo, &comp, &err), &err);
            printf("  ground truth alone %.4f%% (accuracy %.1f%%, KL %.3g), complement alone %.4f%%\n",
                   gt.logit_diff_percent, gt.correct_percent, gt.kl, comp.logit_diff_percent);
            assert_true(gt.logit_diff_percent >= 95.0);
            assert_true(comp.logit_diff_percent <= 5.0);
            /* by construction the ground truth reproduces the model exactly and its
             * complement turns the prediction into the corrupt answer */
            assert_close(gt.logit_diff_percent, 100.0, 1e-4, 0);
            assert_close(gt.kl, 0.0, 1e-6, 0);
            assert_true(comp.logit_diff_percent < -90.0);
            res.gt_percent = gt.logit_diff_percent;
            res.complement_percent = comp.logit_diff_percent;
        }

        if (sp == 0) {
            /* exact patching: the ground truth is exactly the set of non-zero effects */
            ac_discover_opts o;
            ac_discover_opts_default(&o);
            float *exact = calloc(E, sizeof(float)), *eap = calloc(E, sizeof(float));
            assert_ac_ok(ac_algo_exact(c, &o, exact, &err), &err);
            double min_gt = INFINITY, max_other = 0;
            for (size_t e = 0; e < E; e++) {
                char nm[96];
                const double a = fabs((double)exact[e]);
                if (f.gt[e]) {
                    printf("  exact %-24s %10.4f\n", ac_graph_edge_name(f.g, e, nm, sizeof nm), exact[e]);
                    if (a < min_gt) min_gt = a;
                } else if (a > max_other) {
                    max_other = a;
                }
                if ((a > 1e-6) != (f.gt[e] != 0))
                    fail_msg("%s: edge %s has exact score %g but is %sin the ground truth", name,
                             ac_graph_edge_name(f.g, e, nm, sizeof nm), exact[e], f.gt[e] ? "" : "not ");
            }
            printf("  exact: smallest |ground-truth score| %.4f, largest other %g\n", min_gt, max_other);
            assert_true(max_other == 0.0); /* not just small: exactly zero by construction */

            /* EAP against the ground truth */
            assert_ac_ok(ac_algo_mask_gradient(c, &o, 0, eap, &err), &err);
            ac_point *roc;
            size_t n_roc;
            assert_ac_ok(ac_measure_task_roc(eap, f.gt, E, 1, &roc, &n_roc, &err), &err);
            assert_ac_ok(ac_roc_auc(roc, n_roc, 0, &res.eap_auc, &err), &err);
            assert_ac_ok(ac_roc_auc(roc, n_roc, 1, &res.eap_auc_pessimistic, &err), &err);
            ac_free(roc);
            res.eap_false_positives = 0;
            for (size_t e = 0; e < E; e++) {
                char nm[96];
                if (f.gt[e] || eap[e] != 0.0f)
                    printf("  eap   %-24s %10.4f%s\n", ac_graph_edge_name(f.g, e, nm, sizeof nm), eap[e],
                           f.gt[e] ? "" : "   (not in the ground truth)");
                if (!f.gt[e] && eap[e] != 0.0f) res.eap_false_positives++;
            }
            printf("  EAP ROC AUC %.4f (pessimistic %.4f), %zu non-circuit edges with non-zero EAP\n", res.eap_auc,
                   res.eap_auc_pessimistic, res.eap_false_positives);
            free(exact);
            free(eap);
        }
        ac_algo_ctx_free(c);
    }

    /* combined Q/K/V: the ground truth projected onto the combined graph is again
     * exactly the set of non-zero exact-patching effects */
    ac_graph *gc;
    ac_graph_opts go = {.separate_qkv = 0, .seq_len = 0};
    assert_ac_ok(ac_graph_build(&gc, ac_model_config(f.m), &go, &err), &err);
    uint8_t *gtc = calloc(gc->n_edges, 1);
    size_t n_gtc;
    assert_ac_ok(ac_zoo_ground_truth(name, gc, gtc, &n_gtc, &err), &err);
    ac_split first = *ac_dataset_split(f.ds, AC_SPLIT_TRAIN); /* its first batch is enough here */
    first.n_batches = 1;
    first.n_prompts = first.last_batch_size = first.batches[0].batch_size;
    ac_algo_ctx *c;
    assert_ac_ok(ac_algo_ctx_create(&c, f.m, gc, &first, &err), &err);
    ac_discover_opts o;
    ac_discover_opts_default(&o);
    float *exact = calloc(gc->n_edges, sizeof(float));
    assert_ac_ok(ac_algo_exact(c, &o, exact, &err), &err);
    for (size_t e = 0; e < gc->n_edges; e++) {
        char nm[96];
        if ((fabsf(exact[e]) > 1e-6f) != (gtc[e] != 0))
            fail_msg("%s, combined Q/K/V: edge %s has exact score %g but is %sin the ground truth", name,
                     ac_graph_edge_name(gc, e, nm, sizeof nm), exact[e], gtc[e] ? "" : "not ");
    }
    printf("  combined Q/K/V: %zu of %zu edges in the ground truth, all others exactly 0\n", n_gtc, gc->n_edges);
    free(exact);
    ac_algo_ctx_free(c);
    free(gtc);
    ac_graph_free(gc);

    free(all);
    free(complement);
    free_zoo(&f);
    return res;
}

static void test_induction(void **state) {
    (void)state;
    zoo_result r = check_model("induction", 5);
    /* every non-circuit edge has an exactly-zero EAP score and every circuit edge a
     * non-zero one: EAP ranks the ground truth first */
    assert_int_equal(r.eap_false_positives, 0);
    assert_close(r.eap_auc, 1.0, 1e-12, 0);
}

static void test_lookup(void **state) {
    (void)state;
    zoo_result r = check_model("lookup", 7);
    /* the A0.1 trap: two edges with zero effect but large EAP scores (Resid Start->A0.1.V
     * and A0.1->MLP 0), ranked above two of the seven ground-truth edges (the lookup
     * head's Q and K inputs, whose EAP scores the saturated softmax shrinks): AUC =
     * 1 - (2 x 2) / (7 x 39) */
    assert_int_equal(r.eap_false_positives, 2);
    assert_close(r.eap_auc, 1.0 - 4.0 / (7.0 * 39.0), 1e-9, 0);
}

/* ---- files ----------------------------------------------------------------------------- */

static const char *const files[][2] = {
    /* written path (under DIR), shipped path (under the source tree, NAME = the model) */
    {"model/config.json", "models/NAME/config.json"},
    {"model/model.safetensors", "models/NAME/model.safetensors"},
    {"README.md", "models/NAME/README.md"},
    {"ground_truth.json", "models/NAME/ground_truth.json"},
    {"dataset.json", "datasets/NAME.json"},
};

/* files[i][1] with NAME replaced */
static const char *shipped(size_t i, const char *name) {
    static char buf[256];
    const char *t = files[i][1], *at = strstr(t, "NAME");
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - t), t, name, at + 4);
    return buf;
}

static void test_deterministic(void **state) {
    (void)state;
    for (const char *const *z = ac_zoo_names(); *z; z++) {
        /* (test_shipped_files compares the default files with the committed ones) */
        char a[1024];
        snprintf(a, sizeof a, "%s", write_zoo(*z, "a", 16, 7));
        const char *b = write_zoo(*z, "b", 16, 7);
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
            assert_same_file(ac_test_path(a, files[i][0]), ac_test_path(b, files[i][0]));
        /* another seed gives other prompts; the same seed the same ones */
        ac_error err;
        ac_zoo_prompts *p, *q, *r;
        assert_ac_ok(ac_zoo_prompts_make(*z, 40, 7, &p, &err), &err);
        assert_ac_ok(ac_zoo_prompts_make(*z, 40, 7, &q, &err), &err);
        assert_ac_ok(ac_zoo_prompts_make(*z, 40, 8, &r, &err), &err);
        const size_t bytes = 40 * (size_t)p->seq_len * sizeof(int32_t);
        assert_memory_equal(p->clean, q->clean, bytes);
        assert_memory_equal(p->corrupt, q->corrupt, bytes);
        assert_memory_not_equal(p->clean, r->clean, bytes);
        ac_zoo_prompts_free(p);
        ac_zoo_prompts_free(q);
        ac_zoo_prompts_free(r);
    }
}

static void test_shipped_files(void **state) {
    (void)state;
    for (const char *const *z = ac_zoo_names(); *z; z++) {
        const char *dir = default_zoo(*z);
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            assert_same_file(ac_test_path(dir, files[i][0]), ac_test_path(ac_test_source_dir(), shipped(i, *z)));
        }
        /* each checkpoint well under 5 MB */
        size_t n;
        char rel[256];
        snprintf(rel, sizeof rel, "models/%s/model.safetensors", *z);
        free(slurp(ac_test_path(ac_test_source_dir(), rel), &n));
        assert_true(n < 1024 * 1024);
    }
}

/* the prompts the dataset file holds are the ones ac_zoo_prompts_make generates */
static void test_prompts_api(void **state) {
    (void)state;
    ac_error err;
    ac_zoo_prompts *p;
    assert_ac_ok(ac_zoo_prompts_make("lookup", 5, 3, &p, &err), &err);
    assert_int_equal(p->n, 5);
    assert_int_equal(p->seq_len, 15);
    for (size_t i = 0; i < p->n; i++) {
        const int32_t *cl = p->clean + i * 15, *co = p->corrupt + i * 15;
        assert_int_equal(cl[0], 0);
        assert_int_equal(co[0], 0);
        /* the query (a, b) is one of the records, whose value is the answer */
        const int32_t rec = 9 + 4 * (cl[13] - 1) + (cl[14] - 5);
        int found = 0;
        for (int k = 0; k < 6; k++)
            if (cl[1 + 2 * k] == rec) found++, assert_int_equal(cl[2 + 2 * k], p->answer[i]);
        assert_int_equal(found, 1);
        assert_true(p->answer[i] != p->wrong[i]);
        assert_true((co[14] - cl[14]) % 2 != 0); /* b' has the other sign class */
    }
    ac_zoo_prompts_free(p);
    assert_ac_ok(ac_zoo_prompts_make("induction", 3, 3, &p, &err), &err);
    for (size_t i = 0; i < p->n; i++) {
        const int32_t *cl = p->clean + i * 12;
        int at = -1;
        for (int k = 1; k < 11; k++)
            if (cl[k] == cl[11]) at = k;
        assert_true(at >= 1 && at <= 9);
        assert_int_equal(p->answer[i], cl[at + 1]);
    }
    ac_zoo_prompts_free(p);
}

static void test_errors(void **state) {
    (void)state;
    ac_error err;
    ac_model *m;
    assert_int_equal(ac_zoo_model("nope", &m, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "induction"));
    assert_null(m);
    assert_null(ac_zoo_summary("nope"));
    assert_int_equal(ac_zoo_write("induction", ac_test_tmpdir(), 0, 1, &err), AC_ERR_ARG);
    ac_zoo_prompts *p;
    assert_int_equal(ac_zoo_prompts_make("lookup", AC_ZOO_MAX_PROMPTS + 1, 1, &p, &err), AC_ERR_ARG);
    /* a file where the directory should be */
    const char *file = ac_test_path(ac_test_tmpdir(), "plain-file");
    FILE *f = fopen(file, "w");
    fclose(f);
    assert_int_equal(ac_zoo_write("induction", file, 4, 1, &err), AC_ERR_IO);
    /* ground truth only on the position-less graph of the same model */
    assert_ac_ok(ac_zoo_model("induction", &m, &err), &err);
    ac_graph *g;
    ac_graph_opts go = {.separate_qkv = 1, .seq_len = 12};
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &go, &err), &err);
    uint8_t *in = calloc(g->n_edges, 1);
    assert_int_equal(ac_zoo_ground_truth("induction", g, in, NULL, &err), AC_ERR_UNSUPPORTED);
    free(in);
    ac_graph_free(g);
    go.seq_len = 0;
    assert_ac_ok(ac_graph_build(&g, ac_model_config(m), &go, &err), &err);
    in = calloc(g->n_edges, 1);
    assert_int_equal(ac_zoo_ground_truth("lookup", g, in, NULL, &err), AC_ERR_SHAPE);
    free(in);
    ac_graph_free(g);
    ac_model_free(m);
}

static void test_cli(void **state) {
    (void)state;
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s zoo list", ac_test_cli());
    assert_int_equal(ac_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "induction "));
    assert_non_null(strstr(out, "lookup "));
    free(out);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/cli-zoo", ac_test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s zoo lookup --out %s --n 12 --seed 5 2>&1", ac_test_cli(), dir);
    assert_int_equal(ac_test_run(cmd, &out), 0);
    free(out);
    /* the same model as the library writes; the card names the non-default settings */
    assert_same_file(ac_test_path(dir, "model/model.safetensors"),
                     ac_test_path(default_zoo("lookup"), "model/model.safetensors"));
    char *card = slurp(ac_test_path(dir, "README.md"), NULL);
    assert_non_null(card);
    assert_non_null(strstr(card, "autocircuit zoo lookup --out DIR --n 12 --seed 5"));
    assert_non_null(strstr(card, "for 12 of 12 clean prompts (100.0%)"));
    free(card);
    /* the written model runs through the CLI and predicts the first prompt's answer */
    ac_error err;
    ac_zoo_prompts *p;
    assert_ac_ok(ac_zoo_prompts_make("lookup", 12, 5, &p, &err), &err);
    int n = snprintf(cmd, sizeof cmd, "%s run --model %s/model --top-k 1 --json --ids ", ac_test_cli(), dir);
    for (int t = 0; t < p->seq_len; t++) n += snprintf(cmd + n, sizeof cmd - (size_t)n, t ? ",%d" : "%d", p->clean[t]);
    assert_int_equal(ac_test_run(cmd, &out), 0);
    char want[64];
    snprintf(want, sizeof want, "\"id\": %d", p->answer[0]);
    if (!strstr(out, want)) fail_msg("run output lacks %s: %s", want, out);
    free(out);
    ac_zoo_prompts_free(p);
    /* errors */
    snprintf(cmd, sizeof cmd, "%s zoo nope --out %s 2>&1", ac_test_cli(), dir);
    assert_int_equal(ac_test_run(cmd, &out), AC_ERR_ARG);
    assert_non_null(strstr(out, "unknown zoo model 'nope'"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s zoo lookup 2>&1", ac_test_cli());
    assert_int_equal(ac_test_run(cmd, &out), AC_ERR_ARG);
    assert_non_null(strstr(out, "--out"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s zoo lookup --out %s --n 0 2>&1", ac_test_cli(), dir);
    assert_int_equal(ac_test_run(cmd, &out), AC_ERR_ARG);
    free(out);
    snprintf(cmd, sizeof cmd, "%s zoo --help", ac_test_cli());
    assert_int_equal(ac_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "usage: autocircuit zoo list"));
    free(out);
}

int main(void) {
    /* The zoo models are tiny: threads only add synchronisation (several times the
     * work under the sanitizers on a busy machine). The shipped files, written by the
     * CLI with threads, must still equal the ones written here with one. */
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_induction),     cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_shipped_files),
        cmocka_unit_test(test_prompts_api),   cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
