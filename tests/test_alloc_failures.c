/* Allocation failures, SQLite's way (issue 8, part 3): a small end-to-end run — load a
 * checkpoint, a tokenizer and a text dataset, build the graph, score edges with EAP,
 * exact patching, ACDC, the baselines and (circuit) probing, evaluate circuits, write
 * and read scores, ground-truth and curve files, render the report, export CSV/DOT/MIB,
 * save the model — is
 * repeated with the N-th allocation failing, for N = 1, 2, ... until a run succeeds.
 * Every failing run must return an error status (AC_ERR_NOMEM, or the status of the
 * step that saw the failure), set err, leave output pointers NULL, and release
 * everything: ASan's leak check in the sanitizer build, and the heap's in-use byte count
 * in the others. Jansson's allocations are routed through the same hook, so JSON parsing
 * fails too; jansson does not always report its own allocation failures as such (a
 * failed string allocation reads as a syntax error), so when the failing allocation was
 * jansson's, AC_ERR_FORMAT is accepted as well (and AC_ERR_ARG from a writer parsing the
 * settings JSON text it was given). A run may also succeed despite a failed
 * allocation (PCRE2 falls back from JIT to its interpreter), as long as its results are
 * the full run's. OpenMP runs on one thread: the failure
 * counter is not thread-safe. */
#include "ac_test.h"

#include <jansson.h>
#include <malloc.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autocircuit/algos.h"
#include "autocircuit/report.h"
#include "autocircuit/scores.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

static const char *model_dir, *tok_dir, *data_path, *save_dir, *res_dir;

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Jansson's allocator: the hook, remembering whether it was the one that failed. */
static int json_alloc_failed;
static void *json_malloc(size_t n) {
    void *p = ac_malloc(n);
    if (!p) json_alloc_failed = 1;
    return p;
}

static int setup(void **state) {
    (void)state;
    omp_set_num_threads(1);
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 16;
    c.vocab_size = 12;
    c.n_ctx = 8;
    ac_model *m;
    ac_error err;
    if (ac_model_create(&m, &c, &err)) return -1;
    ac_model_init_random(m, 11, 0.3f);
    static char md[700], td[700], dp[700], sd[700], rd[700];
    snprintf(md, sizeof md, "%s", ac_test_path(ac_test_tmpdir(), "model"));
    snprintf(td, sizeof td, "%s", ac_test_path(ac_test_tmpdir(), "tok"));
    snprintf(dp, sizeof dp, "%s", ac_test_path(ac_test_tmpdir(), "data.json"));
    snprintf(sd, sizeof sd, "%s", ac_test_path(ac_test_tmpdir(), "saved"));
    snprintf(rd, sizeof rd, "%s", ac_test_path(ac_test_tmpdir(), "results"));
    if (mkdir(rd, 0777)) return -1;
    res_dir = rd;
    int rc = ac_model_save(m, md, &err);
    ac_model_free(m);
    if (rc || mkdir(td, 0777)) return -1;
    /* a GPT-2 tokenizer over a few letters; ids < 12 */
    write_text(ac_test_path(td, "vocab.json"),
               "{\"a\": 0, \"b\": 1, \"c\": 2, \"d\": 3, \"\\u0120\": 4, \"\\u0120a\": 5, \"\\u0120b\": 6,"
               " \"ab\": 7, \"cd\": 8, \"\\u0120c\": 9, \"\\u0120d\": 10, \"<|endoftext|>\": 11}");
    write_text(ac_test_path(td, "merges.txt"), "#version: 0.2\n\xC4\xA0 a\n\xC4\xA0 b\na b\nc d\n\xC4\xA0 c\n\xC4\xA0 d\n");
    write_text(dp,
               "{\"seq_labels\": [\"x\", \"y\", \"z\"], \"word_idxs\": {\"end\": 2},\n"
               " \"prompts\": [\n"
               "  {\"clean\": \"ab cd a\", \"corrupt\": \"ab ab a\", \"answers\": [\" b\"], \"wrong_answers\": [\" c\"]},\n"
               "  {\"clean\": \"cd ab b\", \"corrupt\": \"cd cd b\", \"answers\": [\" a\"], \"wrong_answers\": [\" d\"]},\n"
               "  {\"clean\": \"ab ab c\", \"corrupt\": \"cd ab c\", \"answers\": [\" d\", 3], \"wrong_answers\": [\" a\"]},\n"
               "  {\"clean\": [7, 8, 2, 2], \"corrupt\": [8, 8, 2, 2], \"answers\": [9], \"wrong_answers\": [10, 5]}\n"
               " ]}\n");
    model_dir = md;
    tok_dir = td;
    data_path = dp;
    save_dir = sd;
    /* every JSON allocation goes through the hook as well */
    json_set_alloc_funcs(json_malloc, ac_free);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    json_set_alloc_funcs(malloc, free);
    return 0;
}

/* ---- the pipeline, as steps ------------------------------------------------------------
 * Each step takes the state the earlier ones built, adds to it on success, and on failure
 * returns the error with its output untouched (NULL) and nothing of its own allocated.
 * Results go to the test's own buffers; `digest` summarises them for comparison. */

typedef struct state {
    ac_model *m;
    ac_tokenizer *tok;
    ac_dataset *ds;
    ac_graph *g;
    ac_algo_ctx *ctx;
    float *scores;      /* [n_edges], the test's (malloc) */
    double digest;
} state;

static const void *const untouched = (const void *)(uintptr_t)1;

static int step_model(state *s, ac_error *err) {
    ac_model *m = (ac_model *)(uintptr_t)untouched;
    int rc = ac_model_load(&m, model_dir, err);
    if (rc) {
        assert_null(m);
        return rc;
    }
    s->m = m;
    s->digest = (double)ac_model_config(m)->vocab_size;
    return AC_OK;
}

static int step_tokenizer(state *s, ac_error *err) {
    ac_tokenizer *tok = (ac_tokenizer *)(uintptr_t)untouched;
    int rc = ac_tokenizer_load(&tok, tok_dir, err);
    if (rc) {
        assert_null(tok);
        return rc;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    rc = ac_tokenizer_encode(tok, "ab cd a", 7, &ids, &n, err);
    if (rc) {
        ac_tokenizer_free(tok);
        return rc;
    }
    s->tok = tok;
    s->digest = (double)n * 100 + ids[0];
    ac_free(ids);
    return AC_OK;
}

static int step_dataset(state *s, ac_error *err) {
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    o.bos_id = 11;
    o.train_size = 3;
    o.test_size = 1;
    o.train_batch_size = 2;
    o.test_batch_size = 1;
    ac_dataset *ds = (ac_dataset *)(uintptr_t)untouched;
    int rc = ac_dataset_load(&ds, &data_path, 1, s->tok, &o, err);
    if (rc) {
        assert_null(ds);
        return rc;
    }
    s->ds = ds;
    s->digest = (double)ds->train.batches[0].key;
    return AC_OK;
}

static int step_graph(state *s, ac_error *err) {
    ac_graph_opts go = ac_graph_default_opts();
    ac_graph *g = (ac_graph *)(uintptr_t)untouched;
    int rc = ac_graph_build(&g, ac_model_config(s->m), &go, err);
    if (rc) {
        assert_null(g);
        return rc;
    }
    s->g = g;
    s->scores = calloc(g->n_edges, sizeof *s->scores);
    s->digest = (double)g->n_edges;
    return AC_OK;
}

static int step_context(state *s, ac_error *err) {
    ac_algo_ctx *ctx = (ac_algo_ctx *)(uintptr_t)untouched;
    int rc = ac_algo_ctx_create(&ctx, s->m, s->g, ac_dataset_split(s->ds, AC_SPLIT_TRAIN), err);
    if (rc) {
        assert_null(ctx);
        return rc;
    }
    s->ctx = ctx;
    s->digest = 1;
    return AC_OK;
}

static void digest_scores(state *s) {
    double sum = 0;
    for (size_t e = 0; e < s->g->n_edges; e++) sum += (double)s->scores[e] * (double)(e % 7 + 1);
    s->digest = sum;
}

static int step_eap(state *s, ac_error *err) {
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    int rc = ac_algo_mask_gradient(s->ctx, &d, 0, s->scores, err);
    if (!rc) digest_scores(s);
    return rc;
}

static int step_ig(state *s, ac_error *err) {
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    d.steps = 2;
    d.ablation = AC_ABLATION_BATCH_MEAN;
    int rc = ac_algo_mask_gradient(s->ctx, &d, 1, s->scores, err);
    if (!rc) digest_scores(s);
    return rc;
}

static int step_eap_ig_inputs(state *s, ac_error *err) {
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    d.steps = 2;
    int rc = ac_algo_eap_ig_inputs(s->ctx, &d, s->scores, err);
    if (!rc) digest_scores(s);
    return rc;
}

static int step_exact(state *s, ac_error *err) {
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    d.ablation = AC_ABLATION_MEAN; /* dataset means: computed (and allocated) on first use */
    int rc = ac_algo_exact(s->ctx, &d, s->scores, err);
    if (!rc) digest_scores(s);
    return rc;
}

static int step_acdc(state *s, ac_error *err) {
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    const double taus[2] = {1e-3, 1e-1};
    d.taus = taus;
    d.n_taus = 2;
    int rc = ac_algo_acdc(s->ctx, &d, s->scores, err);
    if (!rc) {
        /* +inf for edges kept */
        double sum = 0;
        for (size_t e = 0; e < s->g->n_edges; e++)
            sum += isinf(s->scores[e]) ? 1e6 * (double)(e + 1) : (double)s->scores[e];
        s->digest = sum;
    }
    return rc;
}

static int step_baselines(state *s, ac_error *err) {
    int rc = ac_algo_activation_magnitude(s->ctx, s->scores, err);
    if (!rc) digest_scores(s);
    return rc;
}

static int step_evaluate(state *s, ac_error *err) {
    float *r = calloc(s->g->n_edges, sizeof *r);
    ac_algo_random(s->g, 3, r);
    const size_t counts[3] = {0, 5, s->g->n_edges};
    ac_eval_point pts[3];
    ac_eval_opts eo = {.tree = 0, .ablation = AC_ABLATION_RESAMPLE};
    int rc = ac_evaluate(s->ctx, r, counts, 3, &eo, pts, err);
    double sum = 0;
    if (!rc) {
        sum = pts[1].logit_diff + pts[2].kl;
        eo.tree = 1;
        eo.ablation = AC_ABLATION_ZERO;
        rc = ac_evaluate(s->ctx, r, counts, 3, &eo, pts, err);
        sum += pts[1].kl;
    }
    free(r);
    if (!rc) s->digest = sum;
    return rc;
}

static int step_probe(state *s, ac_error *err) {
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    d.probe_epochs = 2;
    int rc = ac_algo_probe(s->ctx, &d, s->scores, err);
    if (!rc) digest_scores(s);
    return rc;
}

static int step_circuit_probe(state *s, ac_error *err) {
    ac_discover_opts d;
    ac_discover_opts_default(&d);
    d.probe_epochs = 1;
    const size_t sizes[2] = {3, 10};
    d.probe_sizes = sizes;
    d.n_probe_sizes = 2;
    int rc = ac_algo_circuit_probe(s->ctx, &d, s->scores, err);
    if (!rc) digest_scores(s);
    return rc;
}

/* ---- result files: the writers must leave no file behind when they fail --------------- */

static const char *res_path(const char *name) { return ac_test_path(res_dir, name); }

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A failed write leaves neither the file nor a temporary in the results directory. */
static void assert_not_written(const char *path) {
    if (file_exists(path)) fail_msg("%s exists after a failed write", path);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (file_exists(tmp)) fail_msg("%s left behind", tmp);
}

/* Write scores (with settings) and a ground truth, read both back, map them onto the
 * graph. */
static int step_scores_io(state *s, ac_error *err) {
    const char *path = res_path("scores.json");
    char truth[800];
    snprintf(truth, sizeof truth, "%s", res_path("truth.json"));
    unlink(path);
    unlink(truth);
    static const char *const labels[3] = {"x", "y", "z"};
    static const double taus[2] = {1e-3, 1e-1};
    ac_scores_settings st = {.algo = "probe", .model = "m", .data = "d.json", .ablation = "resample",
                             .taus = taus, .n_taus = 2, .split = "train", .n_prompts = 3, .seed = 7, .seconds = 0.5,
                             .seq_labels = labels, .n_seq_labels = 3, .extra_json = "{\"epochs\": 2}"};
    int rc = ac_scores_write(path, s->g, s->scores, &st, err);
    if (rc) {
        assert_not_written(path);
        return rc;
    }
    uint8_t *in = calloc(s->g->n_edges, 1);
    for (size_t e = 0; e < s->g->n_edges; e += 3) in[e] = 1;
    rc = ac_ground_truth_write(truth, s->g, in, err);
    if (rc) {
        free(in);
        assert_not_written(truth);
        return rc;
    }
    ac_scores_file *f = (ac_scores_file *)(uintptr_t)untouched, *t = (ac_scores_file *)(uintptr_t)untouched;
    rc = ac_scores_file_read(path, &f, err);
    if (rc) assert_null(f);
    if (!rc) {
        rc = ac_scores_file_read(truth, &t, err);
        if (rc) assert_null(t);
    }
    float *back = calloc(s->g->n_edges, sizeof *back);
    uint8_t *listed = calloc(s->g->n_edges, 1);
    if (!rc) rc = ac_scores_file_to_graph(f, s->g, path, back, NULL, err);
    if (!rc) rc = ac_scores_file_to_graph(t, s->g, truth, NULL, listed, err);
    if (!rc) {
        double sum = 0;
        for (size_t e = 0; e < s->g->n_edges; e++) sum += (double)back[e] * (double)(e % 7 + 1) + 1000.0 * listed[e];
        assert_memory_equal(listed, in, s->g->n_edges);
        s->digest = sum + (double)f->n_seq_labels + (double)strlen(f->settings_json);
    }
    if (rc != AC_OK && f != (ac_scores_file *)(uintptr_t)untouched) ac_scores_file_free(f);
    if (rc != AC_OK && t != (ac_scores_file *)(uintptr_t)untouched) ac_scores_file_free(t);
    if (rc == AC_OK) {
        ac_scores_file_free(f);
        ac_scores_file_free(t);
    }
    free(back);
    free(listed);
    free(in);
    return rc;
}

/* A faithfulness curve with a ROC part, written and read back. */
static int step_curve_io(state *s, ac_error *err) {
    const char *path = res_path("curve.json");
    unlink(path);
    ac_eval_point pts[3];
    for (int i = 0; i < 3; i++) {
        pts[i] = (ac_eval_point){.requested = (size_t)(5 * i), .edges = (size_t)(5 * i), .kl = 1.0 / (i + 1),
                                 .logit_diff = 0.25 * i, .logit_diff_percent = 30.0 * i, .answer_logit = 1,
                                 .answer_prob = 0.5, .answer_logprob = -0.7, .correct_percent = NAN,
                                 .correct_beats_wrong_percent = 50};
    }
    const ac_point roc[3] = {{0, 0}, {0.5, 0.75}, {1, 1}};
    ac_curve c = {.model = "m", .data = "d.json", .scores_path = "scores.json", .ablation = "resample",
                  .patch = "edge", .split = "test", .n_prompts = 1, .n_edges_total = s->g->n_edges, .points = pts,
                  .n_points = 3, .clean_logit_diff = 1, .corrupt_logit_diff = -1, .auc_logit_diff = 2,
                  .auc_logit_diff_log = 1, .auc_kl = INFINITY, .ground_truth = "truth.json", .roc = roc, .n_roc = 3,
                  .roc_auc = 0.625, .ground_truth_edges = 5, .seconds = -1, .extra_json = "{\"signed\": false}"};
    int rc = ac_curve_write(path, &c, err);
    if (rc) {
        assert_not_written(path);
        return rc;
    }
    ac_curve_file *f = (ac_curve_file *)(uintptr_t)untouched;
    rc = ac_curve_file_read(path, &f, err);
    if (rc) {
        assert_null(f);
        return rc;
    }
    s->digest = f->points[2].logit_diff + f->roc_auc + (double)f->n_roc + (double)f->n_edges_total +
                (double)strlen(f->settings_json);
    ac_curve_file_free(f);
    return AC_OK;
}

/* The report, from the files the two steps above wrote: rendered (HTML and SVG) and
 * written. */
static int step_report(state *s, ac_error *err) {
    char html[800];
    snprintf(html, sizeof html, "%s", res_path("report.html"));
    unlink(html);
    ac_scores_file *f = NULL, *t = NULL;
    ac_curve_file *c = NULL;
    int rc = ac_scores_file_read(res_path("scores.json"), &f, err);
    if (!rc) rc = ac_scores_file_read(res_path("truth.json"), &t, err);
    if (!rc) rc = ac_curve_file_read(res_path("curve.json"), &c, err);
    ac_report_input in = {.scores = f, .curve = c, .ground_truth = t, .top = 8, .title = "alloc",
                          .scores_path = "scores.json", .curve_path = "curve.json", .ground_truth_path = "truth.json"};
    char *text = (char *)(uintptr_t)untouched;
    size_t len = 0, total = 0;
    for (int fmt = 0; fmt < 2 && !rc; fmt++) {
        rc = ac_report_render(&in, fmt ? AC_REPORT_SVG : AC_REPORT_HTML, &text, &len, err);
        if (rc) {
            assert_null(text);
            break;
        }
        total += len;
        ac_free(text);
    }
    long written = 0;
    if (!rc) {
        rc = ac_report_write_html(html, &in, err);
        if (rc) assert_not_written(html);
        else written = file_size(html);
    }
    ac_scores_file_free(f);
    ac_scores_file_free(t);
    ac_curve_file_free(c);
    /* the page written is the page rendered */
    if (!rc) s->digest = (double)total + 1e9 * (double)(written != (long)(total - len));
    return rc;
}

/* CSV, DOT and MIB exports of the scores file. */
static int step_exports(state *s, ac_error *err) {
    char csv[800], dot[800], mib[800];
    snprintf(csv, sizeof csv, "%s", res_path("e.csv"));
    snprintf(dot, sizeof dot, "%s", res_path("e.dot"));
    snprintf(mib, sizeof mib, "%s", res_path("e.json"));
    unlink(csv);
    unlink(dot);
    unlink(mib);
    ac_scores_file *f = NULL;
    int rc = ac_scores_file_read(res_path("scores.json"), &f, err);
    if (rc) return rc;
    if ((rc = ac_export_csv(csv, f, err))) assert_not_written(csv);
    else if ((rc = ac_export_dot(dot, f, 6, err))) assert_not_written(dot);
    else if ((rc = ac_export_mib_json(mib, f, 6, err))) assert_not_written(mib);
    ac_scores_file_free(f);
    if (!rc) s->digest = (double)(file_size(csv) + 1000 * file_size(dot) + 1000000 * file_size(mib));
    return rc;
}

static int step_save(state *s, ac_error *err) {
    int rc = ac_model_save(s->m, save_dir, err);
    if (!rc) s->digest = 2;
    return rc;
}

static const struct {
    const char *name;
    int (*fn)(state *, ac_error *);
} steps[] = {
    {"load the model", step_model},
    {"load the tokenizer", step_tokenizer},
    {"load the dataset", step_dataset},
    {"build the graph", step_graph},
    {"create the algorithm context", step_context},
    {"EAP", step_eap},
    {"integrated gradients (batch-mean ablation)", step_ig},
    {"EAP-IG over inputs", step_eap_ig_inputs},
    {"exact patching (dataset-mean ablation)", step_exact},
    {"ACDC", step_acdc},
    {"activation magnitude", step_baselines},
    {"evaluate (edge and tree patching)", step_evaluate},
    {"subnetwork probing", step_probe},
    {"circuit probing", step_circuit_probe},
    {"write and read scores and a ground truth", step_scores_io},
    {"write and read a curve", step_curve_io},
    {"render and write the report", step_report},
    {"export CSV, DOT and MIB JSON", step_exports},
    {"save the model", step_save},
};
enum { N_STEPS = sizeof steps / sizeof steps[0] };

static void free_state(state *s) {
    free(s->scores);
    ac_algo_ctx_free(s->ctx);
    ac_graph_free(s->g);
    ac_dataset_free(s->ds);
    ac_tokenizer_free(s->tok);
    ac_model_free(s->m);
    memset(s, 0, sizeof *s);
}

static size_t heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void test_every_allocation_fails_once(void **state_) {
    (void)state_;
    ac_error err;
    /* clean runs first: the reference digests and allocation counts per step; the
     * second warms every lazily allocated runtime buffer (OpenMP, OpenBLAS, stdio) */
    double want[N_STEPS];
    long allocs[N_STEPS];
    for (int round = 0; round < 2; round++) {
        state s = {0};
        for (int k = 0; k < N_STEPS; k++) {
            ac_alloc_fail_after(0);
            assert_ac_ok(steps[k].fn(&s, &err), &err);
            allocs[k] = ac_alloc_fail_after(0);
            want[k] = s.digest;
        }
        free_state(&s);
    }
    const size_t heap_before = heap_in_use();
    long total = 0, failures = 0, nomem = 0, in_json = 0, recovered = 0, jansson_lossy = 0;
    state s = {0};
    for (int k = 0; k < N_STEPS; k++) {
        total += allocs[k];
        for (long n = 1;; n++) {
            ac_error_clear(&err);
            json_alloc_failed = 0;
            s.digest = -12345;
            ac_alloc_fail_after(n);
            int rc = steps[k].fn(&s, &err);
            ac_alloc_fail_after(0);
            if (rc == AC_OK) {
                /* the full result, either because the failure point is past the step's
                 * last allocation, or because the failure was recovered from by design
                 * (jansson retrying, PCRE2 falling back from JIT to its interpreter) */
                if (s.digest != want[k]) {
                    /* jansson 2.14's lexer ignores a failed growth of its token buffer
                     * (lex_save) and goes on without the character: a token longer than
                     * 16 bytes can come back shorter. Not ours to fix; counted. */
                    if (!json_alloc_failed)
                        fail_msg("%s: allocation %ld failed and the step succeeded with other results (%.17g, not %.17g)",
                                 steps[k].name, n, s.digest, want[k]);
                    jansson_lossy++;
                }
                if (n > allocs[k]) break;
                recovered++;
                /* undo the step's success, to keep failing the allocations after n */
                free_state(&s);
                for (int j = 0; j < k; j++) assert_ac_ok(steps[j].fn(&s, &err), &err);
                continue;
            }
            failures++;
            nomem += rc == AC_ERR_NOMEM;
            in_json += json_alloc_failed;
            char buf[1200];
            if (err.code != rc || !err.msg[0])
                fail_msg("%s: allocation %ld: status %s but err = %s (%s)", steps[k].name, n, ac_status_name(rc),
                         ac_status_name(err.code), ac_error_format(&err, buf, sizeof buf));
            /* jansson's misreported failures: a syntax error in a file; for the settings
             * JSON text a writer is given (extra_json), "not a JSON object" */
            const int jansson_said_syntax =
                json_alloc_failed && (rc == AC_ERR_FORMAT || (rc == AC_ERR_ARG && strstr(err.msg, "extra_json")));
            if (rc != AC_ERR_NOMEM && !jansson_said_syntax)
                fail_msg("%s: allocation %ld failed and the step reported %s: %s", steps[k].name, n,
                         ac_status_name(rc), ac_error_format(&err, buf, sizeof buf));
            assert_true(n <= allocs[k]);
        }
        if (getenv("AC_TEST_HEAP_TRACE")) print_message("after %s: %zu\n", steps[k].name, heap_in_use());
    }
    free_state(&s);
    print_message("%ld allocations in %d steps: %ld failing runs (%ld in jansson), %ld of them AC_ERR_NOMEM; "
                  "%ld recovered from (%ld of them with a token jansson shortened)\n",
                  total, N_STEPS, failures, in_json, nomem, recovered, jansson_lossy);
    assert_true(total > 200);
    assert_int_equal(failures + recovered, total);
    assert_true(nomem >= failures - in_json);
#ifndef HAVE_ASAN
    /* nothing leaked: the heap holds what it held before the failing runs */
    const size_t heap_after = heap_in_use();
    if (heap_after != heap_before)
        fail_msg("heap in use %zu bytes before the failing runs, %zu after", heap_before, heap_after);
#else
    (void)heap_before;
#endif
}

int main(int argc, char **argv) {
    (void)argc;
#ifndef HAVE_ASAN
    /* glibc's per-thread cache keeps freed blocks counted as in use: turn it off (it is
     * read at start-up, so re-execute once) to compare heap sizes exactly */
    if (!getenv("AC_TEST_TCACHE_OFF")) {
        setenv("AC_TEST_TCACHE_OFF", "1", 1);
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
        /* the resolved path (under valgrind, /proc/self/exe itself is the tool) */
        char self[1024];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = 0;
            execv(self, argv);
        }
    }
#else
    (void)argv;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
