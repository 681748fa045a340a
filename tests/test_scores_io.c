/* Result files (scores.h): scores and ground-truth round trips, mapping onto graphs,
 * schema and syntax errors, atomic writes, curves, and the CSV / DOT / MIB exports. */
#include "ac_test.h"

#include <dirent.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autocircuit/scores.h"

/* 2 layers x 2 heads, with MLPs: 46 edges (separate Q/K/V), 26 combined */
static ac_graph *make_graph(int n_layer, int separate, int seq_len) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = n_layer;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 16;
    c.vocab_size = 23;
    c.n_ctx = 16;
    ac_graph *g;
    ac_error err;
    ac_graph_opts o = {.separate_qkv = separate, .seq_len = seq_len};
    assert_ac_ok(ac_graph_build(&g, &c, &o, &err), &err);
    return g;
}

static const char *tmp(const char *name) { return ac_test_path(ac_test_tmpdir(), name); }

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t r = fread(s, 1, (size_t)n, f);
    s[r] = 0;
    fclose(f);
    return s;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* number of entries in a directory other than . and .. */
static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* scores exercising the number formats: signs, tiny and huge values, infinities */
static void fill_scores(float *s, size_t n) {
    for (size_t e = 0; e < n; e++) s[e] = (float)(((double)e - 20.0) / 3.0) * (e % 2 ? 1e-3f : 1.0f);
    s[0] = INFINITY;
    s[1] = -INFINITY;
    s[2] = 1e-40f; /* denormal */
    s[3] = 3.4e38f;
    s[4] = 0.0f;
    s[5] = 0.1f;
}

static void test_scores_roundtrip(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 1, 0);
    assert_int_equal(g->n_edges, 46);
    float *s = calloc(g->n_edges, sizeof(float)), *back = calloc(g->n_edges, sizeof(float));
    fill_scores(s, g->n_edges);
    const double taus[2] = {1e-6, 0.5};
    const char *labels[3] = {"<|BOS|>", "When", "Mary \"and\" John"};
    ac_scores_settings st = {.algo = "eap", .model = "models/tiny", .data = "a.json,b.json", .ablation = "resample",
                             .grad_function = "logit", .answer_function = "avg_diff", .steps = 0, .taus = taus,
                             .n_taus = 2, .split = "train", .n_prompts = 6, .seed = 7, .seconds = 1.5,
                             .seq_labels = labels, .n_seq_labels = 3, .extra_json = "{\"mask_val\": 0}"};
    ac_error err;
    const char *path = tmp("roundtrip.json");
    assert_ac_ok(ac_scores_write(path, g, s, &st, &err), &err);
    char *text = slurp(path);
    assert_non_null(strstr(text, "\"format\": \"autocircuit-scores\""));
    assert_non_null(strstr(text, "{\"src\": \"Resid Start\", \"dest\": \"A0.0.Q\", \"pos\": null, \"score\": \"inf\"}"));
    assert_non_null(strstr(text, "\"score\": \"-inf\""));
    assert_non_null(strstr(text, "\"score\": 0.100000001}")); /* %.9g of 0.1f */
    assert_non_null(strstr(text, "\"graph\": {\"separate_qkv\": true, \"seq_len\": null, \"n_edges\": 46}"));
    free(text);

    ac_scores_file *f;
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_int_equal(f->n_edges, 46);
    assert_true(f->has_scores);
    assert_true(f->has_graph);
    assert_int_equal(f->separate_qkv, 1);
    assert_int_equal(f->seq_len, 0);
    assert_string_equal(f->algo, "eap");
    assert_int_equal(f->n_seq_labels, 3);
    assert_string_equal(f->seq_labels[2], "Mary \"and\" John");
    assert_non_null(strstr(f->settings_json, "\"mask_val\":0"));
    assert_non_null(strstr(f->settings_json, "\"taus\":[1e-"));
    assert_non_null(strstr(f->settings_json, ",0.5],"));
    assert_non_null(strstr(f->settings_json, "\"seconds\":1.5"));
    for (size_t e = 0; e < g->n_edges; e++) {
        int d, src;
        ac_graph_edge_at(g, e, NULL, &d, &src);
        assert_string_equal(f->edges[e].src, g->srcs[src].name);
        assert_string_equal(f->edges[e].dest, g->dests[d].name);
        assert_int_equal(f->edges[e].pos, -1);
    }
    assert_true(isinf(f->edges[0].score) && f->edges[0].score > 0);
    assert_true(isinf(f->edges[1].score) && f->edges[1].score < 0);
    uint8_t in_file[46];
    assert_ac_ok(ac_scores_file_to_graph(f, g, path, back, in_file, &err), &err);
    assert_memory_equal(s, back, g->n_edges * sizeof(float)); /* bit-exact, incl. the denormal */
    for (size_t e = 0; e < g->n_edges; e++) assert_int_equal(in_file[e], 1);
    ac_scores_file_free(f);

    /* no settings: no "settings" key, nothing lost */
    assert_ac_ok(ac_scores_write(path, g, s, NULL, &err), &err);
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_null(f->settings_json);
    assert_null(f->algo);
    assert_ac_ok(ac_scores_file_to_graph(f, g, path, back, NULL, &err), &err);
    assert_memory_equal(s, back, g->n_edges * sizeof(float));
    ac_scores_file_free(f);
    free(s);
    free(back);
    ac_graph_free(g);
}

static void test_scores_roundtrip_positions(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 1, 3), *g0 = make_graph(2, 1, 0), *g4 = make_graph(2, 1, 4);
    assert_int_equal(g->n_edges, 3 * 46);
    float *s = calloc(g->n_edges, sizeof(float)), *back = calloc(g->n_edges, sizeof(float));
    fill_scores(s, g->n_edges);
    ac_error err;
    const char *path = tmp("positions.json");
    assert_ac_ok(ac_scores_write(path, g, s, NULL, &err), &err);
    char *text = slurp(path);
    assert_non_null(strstr(text, "\"seq_len\": 3, \"n_edges\": 138}"));
    assert_non_null(strstr(text, "{\"src\": \"A1.1\", \"dest\": \"Resid End\", \"pos\": 2, \"score\": "));
    free(text);
    ac_scores_file *f;
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_int_equal(f->seq_len, 3);
    assert_int_equal(f->edges[46].pos, 1);
    assert_string_equal(f->edges[46].src, "Resid Start");
    assert_ac_ok(ac_scores_file_to_graph(f, g, path, back, NULL, &err), &err);
    assert_memory_equal(s, back, g->n_edges * sizeof(float));
    /* per-position scores do not fit a shared or a longer graph */
    assert_int_equal(ac_scores_file_to_graph(f, g0, path, back, NULL, &err), AC_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "per position"));
    assert_int_equal(ac_scores_file_to_graph(f, g4, path, back, NULL, &err), AC_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "3 positions, this graph 4"));
    ac_scores_file_free(f);

    /* hand-written positions without a "graph" object: seq_len = largest pos + 1 */
    write_text(path, "{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"Resid End\", \"pos\": 4},"
                     " {\"src\": \"A0.0\", \"dest\": \"Resid End\", \"pos\": 0}]}");
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_int_equal(f->seq_len, 5);
    assert_false(f->has_scores);
    assert_false(f->has_graph);
    uint8_t *in = calloc(g->n_edges, 1);
    assert_int_equal(ac_scores_file_to_graph(f, g, path, NULL, in, &err), AC_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "edges[0]: position 4 is outside this graph's 3 positions"));
    ac_scores_file_free(f);
    free(in);
    free(s);
    free(back);
    ac_graph_free(g);
    ac_graph_free(g0);
    ac_graph_free(g4);
}

static void test_combined_qkv(void **state) {
    (void)state;
    ac_graph *gc = make_graph(2, 0, 0), *gs = make_graph(2, 1, 0);
    assert_int_equal(gc->n_edges, 26);
    float s[26], back[46];
    fill_scores(s, 26);
    ac_error err;
    const char *path = tmp("combined.json");
    assert_ac_ok(ac_scores_write(path, gc, s, NULL, &err), &err);
    ac_scores_file *f;
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_int_equal(f->separate_qkv, 0);
    assert_ac_ok(ac_scores_file_to_graph(f, gc, path, back, NULL, &err), &err);
    assert_memory_equal(s, back, sizeof s);
    assert_int_equal(ac_scores_file_to_graph(f, gs, path, back, NULL, &err), AC_ERR_SHAPE);
    assert_string_equal(err.file, path);
    assert_non_null(strstr(err.msg, "combined Q/K/V inputs, this graph separate"));
    ac_scores_file_free(f);
    ac_graph_free(gc);
    ac_graph_free(gs);
}

static void test_ground_truth_subset(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 1, 0), *gp = make_graph(2, 1, 3);
    uint8_t in[46] = {0}, back[46];
    const size_t pick[5] = {0, 7, 20, 33, 45};
    for (int i = 0; i < 5; i++) in[pick[i]] = 1;
    ac_error err;
    const char *path = tmp("truth.json");
    assert_ac_ok(ac_ground_truth_write(path, g, in, &err), &err);
    char *text = slurp(path);
    assert_non_null(strstr(text, "\"format\": \"autocircuit-ground-truth\""));
    assert_null(strstr(text, "\"score\""));
    assert_non_null(strstr(text, "\"n_edges\": 5}"));
    free(text);
    ac_scores_file *f;
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_false(f->has_scores);
    assert_int_equal(f->n_edges, 5);
    assert_true(isnan(f->edges[0].score));
    assert_ac_ok(ac_scores_file_to_graph(f, g, path, NULL, back, &err), &err);
    assert_memory_equal(in, back, sizeof in);
    float sc[46];
    assert_int_equal(ac_scores_file_to_graph(f, g, path, sc, NULL, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "ground-truth file has no scores"));
    ac_scores_file_free(f);

    /* a minimal hand-written ground truth ("pos" may be absent) */
    write_text(path, "{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.1.Q\", \"pos\": null},\n"
                     "            {\"src\": \"MLP 1\", \"dest\": \"Resid End\"}]}");
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_false(f->has_scores);
    assert_ac_ok(ac_scores_file_to_graph(f, g, path, NULL, back, &err), &err);
    size_t e1 = ac_graph_find_edge(g, "A0.0->A1.1.Q", 0), e2 = ac_graph_find_edge(g, "MLP 1->Resid End", 0);
    for (size_t e = 0; e < 46; e++) assert_int_equal(back[e], e == e1 || e == e2);
    /* onto a per-position graph: every position */
    uint8_t *bp = calloc(gp->n_edges, 1);
    assert_ac_ok(ac_scores_file_to_graph(f, gp, path, NULL, bp, &err), &err);
    size_t n = 0;
    for (size_t e = 0; e < gp->n_edges; e++) n += bp[e];
    assert_int_equal(n, 6);
    for (int p = 0; p < 3; p++) assert_int_equal(bp[ac_graph_find_edge(gp, "A0.0->A1.1.Q", p)], 1);
    free(bp);
    ac_scores_file_free(f);

    /* an edge the graph does not have: MLP 1 comes after block 1's attention */
    write_text(path, "{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.1.Q\"}, {\"src\": \"MLP 1\", \"dest\": \"A1.0.Q\"}]}");
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    assert_int_equal(ac_scores_file_to_graph(f, g, path, NULL, back, &err), AC_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "edges[1]: MLP 1->A1.0.Q is not an edge of this model's graph"));
    ac_scores_file_free(f);
    ac_graph_free(g);
    ac_graph_free(gp);
}

static void test_other_graph_rejected(void **state) {
    (void)state;
    ac_graph *g2 = make_graph(2, 1, 0), *g3 = make_graph(3, 1, 0), *g1 = make_graph(1, 1, 0);
    float s[46];
    fill_scores(s, 46);
    ac_error err;
    const char *path = tmp("other.json");
    assert_ac_ok(ac_scores_write(path, g2, s, NULL, &err), &err);
    ac_scores_file *f;
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    float *b3 = calloc(g3->n_edges, sizeof(float)), *b1 = calloc(g1->n_edges, sizeof(float));
    /* a bigger model: every edge of the file exists, but not every edge of the graph */
    assert_int_equal(ac_scores_file_to_graph(f, g3, path, b3, NULL, &err), AC_ERR_SHAPE);
    assert_string_equal(err.file, path);
    assert_non_null(strstr(err.msg, "the file has 46 of this graph's"));
    assert_non_null(strstr(err.msg, "first missing: "));
    assert_non_null(strstr(err.msg, "another model's graph?"));
    /* a smaller model: a file edge that the graph lacks */
    assert_int_equal(ac_scores_file_to_graph(f, g1, path, b1, NULL, &err), AC_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "is not an edge of this model's graph (scores file for another model's graph?)"));
    ac_scores_file_free(f);
    free(b3);
    free(b1);
    ac_graph_free(g1);
    ac_graph_free(g2);
    ac_graph_free(g3);
}

static void test_malformed_json(void **state) {
    (void)state;
    const char *path = tmp("malformed.json");
    write_text(path, "{\n  \"edges\": [\n    {\"src\": \"A0.0\",, \"dest\": \"A1.0.Q\"}\n  ]\n}\n");
    ac_scores_file *f = (ac_scores_file *)1;
    ac_error err;
    assert_int_equal(ac_scores_file_read(path, &f, &err), AC_ERR_FORMAT);
    assert_null(f);
    assert_int_equal(err.line, 3);
    assert_true(err.column > 10);
    char buf[1200], want[600];
    snprintf(want, sizeof want, "%s:3:", path);
    ac_error_format(&err, buf, sizeof buf);
    assert_memory_equal(buf, want, strlen(want));
    assert_null(strchr(buf, '\n'));
    /* truncated file */
    write_text(path, "{\"edges\": [{\"src\": \"A0.0\"");
    assert_int_equal(ac_scores_file_read(path, &f, &err), AC_ERR_FORMAT);
    assert_int_equal(err.line, 1);
    /* missing file */
    assert_int_equal(ac_scores_file_read(tmp("no-such-file.json"), &f, &err), AC_ERR_IO);
    assert_non_null(strstr(err.msg, "No such file"));
    ac_curve_file *c;
    assert_int_equal(ac_curve_file_read(tmp("no-such-file.json"), &c, &err), AC_ERR_IO);
}

typedef struct {
    const char *json;
    int code;
    const char *msg;
} bad_case;

static void test_schema_errors(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"[1, 2]", AC_ERR_FORMAT, "expected a JSON object at the top level, got an array"},
        {"{}", AC_ERR_FORMAT, "missing key \"edges\""},
        {"{\"edges\": {}}", AC_ERR_FORMAT, "edges: expected an array, got an object"},
        {"{\"edges\": [3]}", AC_ERR_FORMAT, "edges[0]: expected an object, got a number"},
        {"{\"edges\": [{\"dest\": \"A1.0.Q\"}]}", AC_ERR_FORMAT, "edges[0]: missing key \"src\""},
        {"{\"edges\": [{\"src\": 1, \"dest\": \"A1.0.Q\"}]}", AC_ERR_FORMAT, "edges[0].src: expected a string, got a number"},
        {"{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\"}, {\"src\": \"A0.0\", \"dest\": \"A1.1.Q\", \"score\": null}]}",
         AC_ERR_FORMAT, "edges[1].score: expected a number or \"inf\""},
        {"{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\", \"score\": \"big\"}]}", AC_ERR_FORMAT,
         "edges[0].score: expected a number or \"inf\""},
        {"{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\", \"score\": 1}, {\"src\": \"A0.1\", \"dest\": \"A1.0.Q\"}]}",
         AC_ERR_FORMAT, "edges[1].score: missing (other edges have scores)"},
        {"{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\", \"pos\": -1}]}", AC_ERR_FORMAT,
         "edges[0].pos: expected null or a non-negative integer"},
        {"{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\", \"pos\": 1}, {\"src\": \"A0.0\", \"dest\": \"A1.1.Q\"}]}",
         AC_ERR_FORMAT, "edges[1].pos: null, but other edges have positions"},
        {"{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\", \"score\": 1}, {\"src\": \"A0.0\", \"dest\": \"A1.0.Q\", \"score\": 2}]}",
         AC_ERR_FORMAT, "edges[1]: A0.0->A1.0.Q duplicates edges[0]"},
        {"{\"edges\": [{\"src\": \"0123456789012345678901234567890123\", \"dest\": \"A1.0.Q\"}]}", AC_ERR_FORMAT,
         "is longer than 31 bytes"},
        {"{\"format\": \"autocircuit-curve\", \"edges\": []}", AC_ERR_FORMAT,
         "format: expected \"autocircuit-scores\" or \"autocircuit-ground-truth\", got \"autocircuit-curve\""},
        {"{\"format\": \"autocircuit-scores\", \"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\"}]}", AC_ERR_FORMAT,
         "edges[0].score: missing"},
        {"{\"version\": 2, \"edges\": []}", AC_ERR_UNSUPPORTED, "version 2 is newer"},
        {"{\"graph\": {\"n_edges\": 3}, \"edges\": []}", AC_ERR_FORMAT, "graph.n_edges is 3 but \"edges\" has 0 entries"},
        {"{\"graph\": {\"seq_len\": 2}, \"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.0.Q\", \"pos\": 2}]}", AC_ERR_FORMAT,
         "edges[0].pos: 2 is outside graph.seq_len 2"},
        {"{\"graph\": {\"separate_qkv\": 1}, \"edges\": []}", AC_ERR_FORMAT, "graph.separate_qkv: expected true or false"},
        {"{\"settings\": [], \"edges\": []}", AC_ERR_FORMAT, "settings: expected an object, got an array"},
        {"{\"settings\": {\"seq_labels\": [\"a\", 3]}, \"edges\": []}", AC_ERR_FORMAT, "settings.seq_labels[1]: expected a string"},
        {"{\"edges\": [], \"edges\": []}", AC_ERR_FORMAT, "duplicate object key"},
    };
    const char *path = tmp("schema.json");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].json);
        ac_scores_file *f = NULL;
        ac_error err;
        int rc = ac_scores_file_read(path, &f, &err);
        if (rc != cases[i].code || !strstr(err.msg, cases[i].msg)) {
            print_error("case %zu (%s): got %s '%s', want %s '%s'\n", i, cases[i].json, ac_status_name(rc), err.msg,
                        ac_status_name(cases[i].code), cases[i].msg);
            fail();
        }
        assert_null(f);
        assert_string_equal(err.file, path);
    }
}

static void test_atomic_writes(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 1, 0);
    float s[46];
    fill_scores(s, 46);
    ac_error err;
    /* a missing directory: AC_ERR_IO naming the path, nothing created */
    const char *dir = tmp("atomic");
    assert_int_equal(mkdir(dir, 0755), 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/missing/scores.json", dir);
    assert_int_equal(ac_scores_write(path, g, s, NULL, &err), AC_ERR_IO);
    assert_string_equal(err.file, path);
    assert_int_equal(dir_entries(dir), 0);
    /* a directory that cannot be written (as root, chmod does not stop writes: use a
     * regular file as the parent instead) */
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/locked", dir);
    if (geteuid() != 0) {
        assert_int_equal(mkdir(sub, 0555), 0);
    } else {
        write_text(sub, "not a directory\n");
    }
    snprintf(path, sizeof path, "%s/scores.json", sub);
    assert_int_equal(ac_scores_write(path, g, s, NULL, &err), AC_ERR_IO);
    assert_string_equal(err.file, path);
    uint8_t in[46] = {1};
    assert_int_equal(ac_ground_truth_write(path, g, in, &err), AC_ERR_IO);
    ac_curve c = {.seconds = -1, .auc_logit_diff = NAN};
    assert_int_equal(ac_curve_write(path, &c, &err), AC_ERR_IO);
    if (geteuid() != 0) assert_int_equal(dir_entries(sub), 0);
    assert_int_equal(dir_entries(dir), 1);
    /* a NaN score: AC_ERR_RANGE naming the edge, no file */
    snprintf(path, sizeof path, "%s/nan.json", dir);
    s[7] = NAN;
    assert_int_equal(ac_scores_write(path, g, s, NULL, &err), AC_ERR_RANGE);
    char name[80];
    assert_non_null(strstr(err.msg, ac_graph_edge_name(g, 7, name, sizeof name)));
    assert_false(file_exists(path));
    /* bad extra settings: AC_ERR_ARG, no file */
    s[7] = 1;
    ac_scores_settings st = {.seconds = -1, .extra_json = "[1]"};
    assert_int_equal(ac_scores_write(path, g, s, &st, &err), AC_ERR_ARG);
    assert_false(file_exists(path));
    /* overwriting: the old content is replaced as a whole, no temporary left */
    write_text(path, "old content that is much longer than nothing at all ... ... ...\n");
    assert_ac_ok(ac_scores_write(path, g, s, NULL, &err), &err);
    char *text = slurp(path);
    assert_memory_equal(text, "{\n  \"format\"", 12);
    assert_null(strstr(text, "old content"));
    free(text);
    assert_int_equal(dir_entries(dir), 2);
    ac_graph_free(g);
}

static void test_curve_roundtrip(void **state) {
    (void)state;
    ac_eval_point pts[3] = {
        {.requested = 0, .edges = 0, .kl = 1.25, .logit_diff = -0.5, .logit_diff_percent = -10, .answer_logit = 1,
         .answer_prob = 0.1, .answer_logprob = -2.3, .correct_percent = NAN, .correct_beats_wrong_percent = NAN},
        {.requested = 5, .edges = 7, .kl = 0.5, .logit_diff = 2.0, .logit_diff_percent = INFINITY, .answer_logit = 2,
         .answer_prob = 0.2, .answer_logprob = -1.6, .correct_percent = 50, .correct_beats_wrong_percent = 75},
        {.requested = 46, .edges = 46, .kl = 0, .logit_diff = 5.0, .logit_diff_percent = 100, .answer_logit = 3,
         .answer_prob = 0.3, .answer_logprob = -1.2, .correct_percent = 100, .correct_beats_wrong_percent = 100},
    };
    ac_point roc[4] = {{0, 0}, {0.25, 0.5}, {0.5, 1.0 / 3.0}, {1, 1}};
    ac_curve c = {.model = "m", .data = "d.json", .scores_path = "s.json", .ablation = "resample", .patch = "edge",
                  .split = "train", .n_prompts = 6, .n_edges_total = 46, .points = pts, .n_points = 3,
                  .clean_logit_diff = 5.0, .corrupt_logit_diff = -0.5, .auc_logit_diff = 12.5,
                  .auc_logit_diff_log = NAN, .auc_kl = 0.75, .ground_truth = "gt.json", .roc = roc, .n_roc = 4,
                  .roc_auc = 0.625, .ground_truth_edges = 5, .seconds = 2.0, .extra_json = "{\"signed\": false}"};
    ac_error err;
    const char *path = tmp("curve.json");
    assert_ac_ok(ac_curve_write(path, &c, &err), &err);
    char *text = slurp(path);
    assert_non_null(strstr(text, "\"format\": \"autocircuit-curve\""));
    assert_non_null(strstr(text, "\"correct_percent\": null"));
    assert_non_null(strstr(text, "\"logit_diff_percent\": \"inf\""));
    assert_non_null(strstr(text, "\"logit_diff_log_x\": null"));
    assert_non_null(strstr(text, "\"signed\": false"));
    free(text);
    ac_curve_file *f;
    assert_ac_ok(ac_curve_file_read(path, &f, &err), &err);
    assert_int_equal(f->n_points, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->points[i].requested, pts[i].requested);
        assert_int_equal(f->points[i].edges, pts[i].edges);
        assert_true(f->points[i].kl == pts[i].kl);
        assert_true(f->points[i].logit_diff == pts[i].logit_diff);
        assert_true(f->points[i].logit_diff_percent == pts[i].logit_diff_percent);
        assert_true(f->points[i].answer_logprob == pts[i].answer_logprob);
        assert_true(f->points[i].answer_prob == pts[i].answer_prob);
        assert_true(f->points[i].answer_logit == pts[i].answer_logit);
        assert_int_equal(isnan(f->points[i].correct_percent), isnan(pts[i].correct_percent));
        if (i) assert_true(f->points[i].correct_beats_wrong_percent == pts[i].correct_beats_wrong_percent);
    }
    assert_int_equal(f->n_roc, 4);
    assert_close(f->roc[2].y, 1.0 / 3.0, 1e-9, 0);
    assert_true(f->roc[3].x == 1 && f->roc[3].y == 1);
    assert_true(f->roc_auc == 0.625);
    assert_true(f->auc_logit_diff == 12.5);
    assert_true(f->clean_logit_diff == 5.0);
    assert_int_equal(f->n_edges_total, 46);
    assert_non_null(strstr(f->settings_json, "\"model\":\"m\""));
    assert_non_null(strstr(f->settings_json, "\"ground_truth_edges\":5"));
    assert_null(strstr(f->settings_json, "\"points\""));
    assert_null(strstr(f->settings_json, "\"roc\""));
    ac_curve_file_free(f);

    /* without a ground truth: no ROC */
    c.n_roc = 0;
    c.roc = NULL;
    c.auc_logit_diff = NAN;
    assert_ac_ok(ac_curve_write(path, &c, &err), &err);
    assert_ac_ok(ac_curve_file_read(path, &f, &err), &err);
    assert_int_equal(f->n_roc, 0);
    assert_true(isnan(f->roc_auc));
    assert_true(isnan(f->auc_logit_diff));
    assert_null(strstr(f->settings_json, "ground_truth"));
    ac_curve_file_free(f);

    /* a scores file is not a curve; a curve is not a scores file */
    write_text(path, "{\"format\": \"autocircuit-scores\", \"edges\": []}");
    assert_int_equal(ac_curve_file_read(path, &f, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "format: expected \"autocircuit-curve\""));
    write_text(path, "{\"points\": [{\"edges\": 1, \"kl\": \"x\"}]}");
    assert_int_equal(ac_curve_file_read(path, &f, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "points[0].kl: expected a number"));
    write_text(path, "{\"points\": [{\"kl\": 1}]}");
    assert_int_equal(ac_curve_file_read(path, &f, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "points[0]: missing key \"edges\""));
}

/* ---- exports ------------------------------------------------------------------------ */

static ac_scores_file *write_and_read(const ac_graph *g, const float *s, const char *name) {
    ac_error err;
    const char *path = tmp(name);
    assert_ac_ok(ac_scores_write(path, g, s, NULL, &err), &err);
    ac_scores_file *f;
    assert_ac_ok(ac_scores_file_read(path, &f, &err), &err);
    return f;
}

static int count_lines(const char *text) {
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    return n;
}

static int count_substr(const char *text, const char *sub) {
    int n = 0;
    for (const char *p = strstr(text, sub); p; p = strstr(p + 1, sub)) n++;
    return n;
}

static void test_export_csv(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 1, 0);
    float s[46];
    for (int e = 0; e < 46; e++) s[e] = (float)((e * 7) % 11 - 5) * 0.25f; /* ties and signs */
    s[3] = -INFINITY;
    ac_scores_file *f = write_and_read(g, s, "csv.json");
    ac_error err;
    const char *out = tmp("scores.csv");
    assert_ac_ok(ac_export_csv(out, f, &err), &err);
    char *text = slurp(out);
    assert_int_equal(count_lines(text), 47);
    assert_memory_equal(text, "src,dest,pos,score,abs_score,rank\n", 34);
    /* expected ranks: |score| descending, ties by file order */
    int rank[46];
    for (int e = 0; e < 46; e++) {
        int r = 1;
        for (int o = 0; o < 46; o++) {
            const float a = fabsf(s[o]), b = fabsf(s[e]);
            if (a > b || (a == b && o < e)) r++;
        }
        rank[e] = r;
    }
    assert_int_equal(rank[3], 1);
    char line[200];
    int d, src;
    for (int e = 0; e < 46; e++) {
        ac_graph_edge_at(g, (size_t)e, NULL, &d, &src);
        char sc[40], ab[40];
        if (isinf(s[e])) snprintf(sc, sizeof sc, "-inf"), snprintf(ab, sizeof ab, "inf");
        else snprintf(sc, sizeof sc, "%.9g", (double)s[e]), snprintf(ab, sizeof ab, "%.9g", fabs((double)s[e]));
        snprintf(line, sizeof line, "\n%s,%s,,%s,%s,%d\n", g->srcs[src].name, g->dests[d].name, sc, ab, rank[e]);
        if (!strstr(text, line)) {
            print_error("missing CSV row %s", line);
            fail();
        }
    }
    free(text);
    ac_scores_file_free(f);

    /* per position: the pos column */
    ac_graph *gp = make_graph(2, 1, 2);
    float sp[92];
    for (int e = 0; e < 92; e++) sp[e] = (float)e;
    f = write_and_read(gp, sp, "csvpos.json");
    assert_ac_ok(ac_export_csv(out, f, &err), &err);
    text = slurp(out);
    assert_non_null(strstr(text, "\nMLP 1,Resid End,1,91,91,1\n"));
    assert_non_null(strstr(text, "\nResid Start,A0.0.Q,0,0,0,92\n"));
    free(text);
    ac_scores_file_free(f);

    /* a ground truth: no scores, no ranks; names that need quoting */
    const char *gt = tmp("csvgt.json");
    write_text(gt, "{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"A1.1.Q\"}, {\"src\": \"odd,\\\"name\", \"dest\": \"x\"}]}");
    assert_ac_ok(ac_scores_file_read(gt, &f, &err), &err);
    assert_ac_ok(ac_export_csv(out, f, &err), &err);
    text = slurp(out);
    assert_string_equal(text, "src,dest,pos,score,abs_score,rank\nA0.0,A1.1.Q,,,,\n\"odd,\"\"name\",x,,,,\n");
    free(text);
    ac_scores_file_free(f);
    ac_graph_free(g);
    ac_graph_free(gp);
}

static void test_export_dot(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 1, 0);
    float s[46];
    for (int e = 0; e < 46; e++) s[e] = 0.001f * (float)(e + 1);
    const size_t e_q = ac_graph_find_edge(g, "A0.1->A1.0.Q", 0), e_end = ac_graph_find_edge(g, "MLP 1->Resid End", 0),
                 e_mlp = ac_graph_find_edge(g, "A1.1->MLP 1", 0);
    s[e_q] = 2.0f;
    s[e_end] = -1.5f;
    s[e_mlp] = 1.0f;
    s[0] = 0.0f;
    ac_scores_file *f = write_and_read(g, s, "dot.json");
    ac_error err;
    const char *out = tmp("circuit.dot");
    assert_ac_ok(ac_export_dot(out, f, 3, &err), &err);
    char *text = slurp(out);
    assert_memory_equal(text, "digraph circuit {", 17);
    assert_int_equal(count_substr(text, " -> "), 3);
    /* Q input drawn as its head, the letter in the label; colours by sign */
    assert_non_null(strstr(text, "\"A0.1\" -> \"A1.0\" [label=\"Q: 2\", color=\"#2060c0\""));
    assert_non_null(strstr(text, "\"MLP 1\" -> \"Resid End\" [label=\"-1.5\", color=\"#c02020\""));
    assert_non_null(strstr(text, "\"A1.1\" -> \"MLP 1\" [label=\"1\""));
    assert_non_null(strstr(text, "penwidth=5.00]")); /* the largest |score| */
    assert_non_null(strstr(text, "  \"A0.1\" [label=\"A0.1\"];\n"));
    assert_null(strstr(text, "A0.0"));
    free(text);
    /* ties at the boundary are inclusive */
    s[e_mlp] = 1.5f;
    ac_scores_file_free(f);
    f = write_and_read(g, s, "dot.json");
    assert_ac_ok(ac_export_dot(out, f, 2, &err), &err);
    text = slurp(out);
    assert_int_equal(count_substr(text, " -> "), 3);
    free(text);
    /* top_k 0: every edge with a non-zero score */
    assert_ac_ok(ac_export_dot(out, f, 0, &err), &err);
    text = slurp(out);
    assert_int_equal(count_substr(text, " -> "), 45);
    free(text);
    ac_scores_file_free(f);

    /* per position: one cluster per position, position-qualified node ids */
    ac_graph *gp = make_graph(2, 1, 2);
    float sp[92] = {0};
    sp[46 + e_q] = 3.0f;
    sp[e_end] = 1.0f;
    f = write_and_read(gp, sp, "dotpos.json");
    assert_ac_ok(ac_export_dot(out, f, 2, &err), &err);
    text = slurp(out);
    assert_non_null(strstr(text, "subgraph \"cluster_pos0\""));
    assert_non_null(strstr(text, "subgraph \"cluster_pos1\""));
    assert_non_null(strstr(text, "\"A0.1@1\" -> \"A1.0@1\""));
    assert_non_null(strstr(text, "\"MLP 1@0\" -> \"Resid End@0\""));
    free(text);
    ac_scores_file_free(f);
    ac_graph_free(g);
    ac_graph_free(gp);
}

static void test_mib_names(void **state) {
    (void)state;
    char buf[32], q = 'x';
    assert_string_equal(ac_mib_node_name("A3.1", buf, sizeof buf, &q), "a3.h1");
    assert_int_equal(q, 0);
    assert_string_equal(ac_mib_node_name("MLP 4", buf, sizeof buf, &q), "m4");
    assert_string_equal(ac_mib_node_name("Resid Start", buf, sizeof buf, &q), "input");
    assert_string_equal(ac_mib_node_name("Resid End", buf, sizeof buf, &q), "logits");
    assert_string_equal(ac_mib_node_name("A3.1.Q", buf, sizeof buf, &q), "a3.h1");
    assert_int_equal(q, 'q');
    assert_string_equal(ac_mib_node_name("A10.11.K", buf, sizeof buf, &q), "a10.h11");
    assert_int_equal(q, 'k');
    assert_string_equal(ac_mib_node_name("A0.0.V", buf, sizeof buf, NULL), "a0.h0");
    const char *bad[] = {"A3.kv1.K", "A3", "A3.", "MLP x", "MLP ", "MLP -1", "A3.1.X", "A-1.2", "A 1.2", "A1.2.QQ",
                         "Resid", "resid start", "", "B1.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ac_mib_node_name(bad[i], buf, sizeof buf, &q)) {
            print_error("'%s' gave '%s'\n", bad[i], buf);
            fail();
        }
    }
}

static void test_export_mib(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 1, 0);
    float s[46];
    for (int e = 0; e < 46; e++) s[e] = 0.001f * (float)((e * 13) % 46) - 0.02f;
    const size_t e1 = ac_graph_find_edge(g, "Resid Start->A1.0.V", 0), e2 = ac_graph_find_edge(g, "A1.0->Resid End", 0);
    s[e1] = INFINITY;
    s[e2] = -5.0f;
    ac_scores_file *f = write_and_read(g, s, "mib.json");
    ac_error err;
    const char *out = tmp("mib-graph.json");
    assert_ac_ok(ac_export_mib_json(out, f, 2, &err), &err);
    json_error_t je;
    json_t *j = json_load_file(out, 0, &je);
    assert_non_null(j);
    json_t *cfg = json_object_get(j, "cfg"), *nodes = json_object_get(j, "nodes"), *edges = json_object_get(j, "edges");
    assert_int_equal(json_integer_value(json_object_get(cfg, "n_layers")), 2);
    assert_int_equal(json_integer_value(json_object_get(cfg, "n_heads")), 2);
    assert_true(json_is_false(json_object_get(cfg, "parallel_attn_mlp")));
    assert_int_equal(json_object_size(edges), 46);
    assert_int_equal(json_object_size(nodes), 8);
    /* every edge under its MIB name with the file's score */
    int n_in = 0;
    for (size_t e = 0; e < 46; e++) {
        int d, src;
        ac_graph_edge_at(g, e, NULL, &d, &src);
        char a[24], b[24], q, key[64];
        assert_non_null(ac_mib_node_name(g->srcs[src].name, a, sizeof a, NULL));
        assert_non_null(ac_mib_node_name(g->dests[d].name, b, sizeof b, &q));
        if (q) snprintf(key, sizeof key, "%s->%s<%c>", a, b, q);
        else snprintf(key, sizeof key, "%s->%s", a, b);
        json_t *v = json_object_get(edges, key);
        if (!v) {
            print_error("no MIB edge %s\n", key);
            fail();
        }
        const double sc = json_number_value(json_object_get(v, "score"));
        if (isinf(s[e])) assert_true((float)sc == FLT_MAX);
        else assert_true((float)sc == s[e]);
        const int in = json_is_true(json_object_get(v, "in_graph"));
        assert_int_equal(in, e == e1 || e == e2);
        n_in += in;
    }
    assert_int_equal(n_in, 2);
    assert_non_null(json_object_get(edges, "input->a1.h0<v>"));
    assert_non_null(json_object_get(edges, "a1.h0->logits"));
    assert_non_null(json_object_get(edges, "a0.h1->m0"));
    /* nodes: the circuit input -> a1.h0 -> logits */
    const char *on[] = {"input", "a1.h0", "logits"}, *off[] = {"a0.h0", "a0.h1", "m0", "a1.h1", "m1"};
    for (int i = 0; i < 3; i++) assert_true(json_is_true(json_object_get(nodes, on[i])));
    for (int i = 0; i < 5; i++) assert_true(json_is_false(json_object_get(nodes, off[i])));
    json_decref(j);
    char *text = slurp(out);
    assert_non_null(strstr(text, "\"input->a1.h0<v>\": {\"score\": 3.40282347e+38, \"in_graph\": true}"));
    assert_true(strstr(text, "\"input\"") < strstr(text, "\"a0.h0\"")); /* canonical node order */
    assert_true(strstr(text, "\"m1\"") < strstr(text, "\"logits\""));
    free(text);
    ac_scores_file_free(f);

    /* per position: summed over positions */
    ac_graph *gp = make_graph(2, 1, 3);
    float *sp = calloc(gp->n_edges, sizeof(float));
    for (size_t e = 0; e < gp->n_edges; e++) sp[e] = 0.01f * (float)(e % 17) - 0.05f;
    f = write_and_read(gp, sp, "mibpos.json");
    assert_ac_ok(ac_export_mib_json(out, f, 0, &err), &err);
    j = json_load_file(out, 0, &je);
    assert_non_null(j);
    edges = json_object_get(j, "edges");
    assert_int_equal(json_object_size(edges), 46);
    const size_t e3 = ac_graph_find_edge(gp, "A0.1->A1.0.K", 0);
    double want = 0;
    for (int p = 0; p < 3; p++) want += sp[(size_t)p * 46 + e3];
    json_t *v = json_object_get(edges, "a0.h1->a1.h0<k>");
    assert_close(json_number_value(json_object_get(v, "score")), want, 1e-6, 1e-6);
    assert_int_equal(json_is_true(json_object_get(v, "in_graph")), want != 0);
    json_decref(j);
    ac_scores_file_free(f);
    free(sp);

    /* combined Q/K/V cannot be expressed */
    ac_graph *gc = make_graph(2, 0, 0);
    float sc[26] = {1};
    f = write_and_read(gc, sc, "mibcomb.json");
    assert_int_equal(ac_export_mib_json(tmp("mibcomb-out.json"), f, 3, &err), AC_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "separate Q/K/V"));
    assert_false(file_exists(tmp("mibcomb-out.json")));
    ac_scores_file_free(f);
    ac_graph_free(gc);
    ac_graph_free(gp);
    ac_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores_roundtrip),
        cmocka_unit_test(test_scores_roundtrip_positions),
        cmocka_unit_test(test_combined_qkv),
        cmocka_unit_test(test_ground_truth_subset),
        cmocka_unit_test(test_other_graph_rejected),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_atomic_writes),
        cmocka_unit_test(test_curve_roundtrip),
        cmocka_unit_test(test_export_csv),
        cmocka_unit_test(test_export_dot),
        cmocka_unit_test(test_mib_names),
        cmocka_unit_test(test_export_mib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
