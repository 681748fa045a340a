/* Harnesses for the result-file readers (scores.h): scores and ground-truth files
 * (ac_scores_file_read) with everything that consumes a file read back — mapping onto
 * circuit graphs, the CSV/DOT/MIB exports and the HTML/SVG report — faithfulness
 * curve files (ac_curve_file_read) through the report's plots, and knockout files
 * (ac_knockout_file_read) through the report's completeness section. */
#include "fz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autocircuit.h"
#include "autocircuit/report.h"
#include "autocircuit/scores.h"

/* ---- graphs the files are mapped onto (no weights needed) ------------------------- */

enum { N_GRAPHS = 5 };
static ac_graph *graphs[N_GRAPHS];
static ac_scores_file *fixture_scores; /* a valid scores file of graphs[0] */

static void free_graphs(void) {
    for (int i = 0; i < N_GRAPHS; i++) ac_graph_free(graphs[i]);
    ac_scores_file_free(fixture_scores);
}

/* GPT-2, 2 layers, 2 heads: factorized (separate and combined Q/K/V), per position (3),
 * residual; and a Llama with grouped-query attention (A{l}.kv{g}.K names). */
static void make_graphs(void) {
    if (graphs[0]) return;
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 16;
    c.vocab_size = 23;
    c.n_ctx = 16;
    ac_config l;
    ac_config_defaults(&l, AC_ARCH_LLAMA);
    l.n_layer = 2;
    l.n_head = 4;
    l.n_kv_head = 2;
    l.d_model = 16;
    l.d_head = 4;
    l.d_mlp = 16;
    l.vocab_size = 23;
    l.n_ctx = 16;
    ac_error err;
    for (int i = 0; i < N_GRAPHS; i++) {
        ac_graph_opts o = ac_graph_default_opts();
        if (i == 1) o.separate_qkv = 0;
        if (i == 2) o.seq_len = 3;
        if (i == 3) o.residual = 1;
        if (ac_graph_build(&graphs[i], i == 4 ? &l : &c, &o, &err) != AC_OK) {
            fprintf(stderr, "fuzz: graph %d: %s\n", i, err.msg);
            abort();
        }
    }
    /* scores k/7 - 1 with a few infinities */
    const ac_graph *g = graphs[0];
    float *s = malloc(g->n_edges * sizeof *s);
    if (!s) abort();
    for (size_t e = 0; e < g->n_edges; e++) s[e] = (float)(e % 15) / 7.0f - 1.0f;
    s[3] = INFINITY;
    s[5] = -INFINITY;
    const char *path = fz_path("fixture_scores.json");
    if (ac_scores_write(path, g, s, NULL, &err) || ac_scores_file_read(path, &fixture_scores, &err)) {
        fprintf(stderr, "fuzz: fixture scores: %s\n", err.msg);
        abort();
    }
    free(s);
    atexit(free_graphs);
}

const struct ac_graph *fz_scores_graph(int i) {
    make_graphs();
    return i >= 0 && i < N_GRAPHS ? graphs[i] : NULL;
}

/* ---- checks ------------------------------------------------------------------------ */

/* A writer's failure leaves neither the file nor its temporary; success leaves the file
 * (removed here). */
static void check_output(const char *path, int rc, const ac_error *err) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    fz_check(access(tmp, F_OK) != 0);
    if (rc != AC_OK) {
        fz_check(err->msg[0] != 0);
        fz_check(access(path, F_OK) != 0);
    } else {
        fz_check(access(path, F_OK) == 0);
        unlink(path);
    }
}

static void check_file(const ac_scores_file *f) {
    fz_check(f->edges != NULL);
    size_t with_pos = 0;
    for (size_t i = 0; i < f->n_edges; i++) {
        const ac_edge_record *r = &f->edges[i];
        fz_check(r->src[0] && memchr(r->src, 0, sizeof r->src));
        fz_check(r->dest[0] && memchr(r->dest, 0, sizeof r->dest));
        fz_check(r->pos >= -1);
        if (r->pos >= 0) {
            with_pos++;
            fz_check(r->pos < f->seq_len);
        }
        fz_check(f->has_scores ? !isnan(r->score) : isnan(r->score));
    }
    fz_check(with_pos == 0 || with_pos == f->n_edges);
    fz_check(f->seq_len >= 0);
    if (f->seq_labels) fz_check(f->n_seq_labels > 0);
    for (size_t i = 0; i < f->n_seq_labels; i++) fz_check(f->seq_labels[i] != NULL);
}

static void render(const ac_report_input *in) {
    for (int fmt = 0; fmt < 2; fmt++) {
        char *text = NULL;
        size_t len = 0;
        ac_error err;
        int rc = ac_report_render(in, fmt ? AC_REPORT_SVG : AC_REPORT_HTML, &text, &len, &err);
        if (rc != AC_OK) {
            fz_check(text == NULL && err.msg[0]);
            return;
        }
        fz_check(text && strlen(text) == len);
        ac_free(text);
    }
}

/* Map f onto every graph; where it is that graph's scores file, write it back and read
 * it again: the same scores (as floats), exactly. */
static void map_and_round_trip(const ac_scores_file *f) {
    for (int i = 0; i < N_GRAPHS; i++) {
        const ac_graph *g = graphs[i];
        float *scores = malloc(g->n_edges * sizeof *scores);
        uint8_t *in_file = malloc(g->n_edges);
        if (!scores || !in_file) abort();
        ac_error err;
        int rc = ac_scores_file_to_graph(f, g, "in.json", NULL, in_file, &err);
        if (rc != AC_OK) fz_check(err.msg[0] != 0);
        rc = ac_scores_file_to_graph(f, g, "in.json", scores, in_file, &err);
        if (rc != AC_OK) {
            fz_check(err.msg[0] != 0);
        } else {
            fz_check(f->has_scores);
            size_t listed = 0;
            for (size_t e = 0; e < g->n_edges; e++) listed += in_file[e];
            fz_check(listed == g->n_edges && f->n_edges == g->n_edges);
            const char *path = fz_path("roundtrip.json");
            fz_check(ac_scores_write(path, g, scores, NULL, &err) == AC_OK);
            ac_scores_file *back = NULL;
            fz_check(ac_scores_file_read(path, &back, &err) == AC_OK);
            float *again = malloc(g->n_edges * sizeof *again);
            if (!again) abort();
            fz_check(ac_scores_file_to_graph(back, g, path, again, NULL, &err) == AC_OK);
            for (size_t e = 0; e < g->n_edges; e++) fz_check(again[e] == scores[e]); /* -0 reads as 0 */
            free(again);
            ac_scores_file_free(back);
            unlink(path);
        }
        free(scores);
        free(in_file);
    }
}

/* ---- harnesses --------------------------------------------------------------------- */

int fz_scores(const uint8_t *data, size_t size) {
    make_graphs();
    const char *path = fz_write("scores.json", data, size);
    ac_scores_file *f = NULL;
    ac_error err;
    if (ac_scores_file_read(path, &f, &err) != AC_OK) {
        fz_check(f == NULL && err.msg[0]);
        return 0;
    }
    check_file(f);
    map_and_round_trip(f);

    const char *out = fz_mkdir("out");
    char csv[1100], dot[1100], mib[1100];
    snprintf(csv, sizeof csv, "%s/e.csv", out);
    snprintf(dot, sizeof dot, "%s/e.dot", out);
    snprintf(mib, sizeof mib, "%s/e.json", out);
    check_output(csv, ac_export_csv(csv, f, &err), &err);
    check_output(dot, ac_export_dot(dot, f, 0, &err), &err);
    check_output(dot, ac_export_dot(dot, f, 3, &err), &err);
    check_output(mib, ac_export_mib_json(mib, f, 0, &err), &err);
    check_output(mib, ac_export_mib_json(mib, f, 2, &err), &err);

    ac_report_input in = {0};
    if (f->has_scores) {
        /* the file as scores, and as its own ground truth */
        in.scores = f;
        render(&in);
        in.top = 3;
        in.circuit = 1;
        in.ground_truth = f;
        render(&in);
    } else {
        /* a ground truth for the fixture's edges */
        in.scores = fixture_scores;
        in.ground_truth = f;
        in.top = 5;
        render(&in);
    }
    ac_scores_file_free(f);
    return 0;
}

int fz_curve(const uint8_t *data, size_t size) {
    make_graphs();
    const char *path = fz_write("curve.json", data, size);
    ac_curve_file *c = NULL;
    ac_error err;
    if (ac_curve_file_read(path, &c, &err) != AC_OK) {
        fz_check(c == NULL && err.msg[0]);
        return 0;
    }
    fz_check(c->points != NULL && c->settings_json != NULL);
    fz_check(c->n_roc == 0 || c->roc != NULL);
    for (size_t i = 0; i < c->n_roc; i++) fz_check(!isnan(c->roc[i].x) && !isnan(c->roc[i].y));
    ac_report_input in = {0};
    in.scores = fixture_scores;
    in.curve = c;
    in.top = 4;
    render(&in);
    in.circuit = 1;
    render(&in);
    ac_curve_file_free(c);
    return 0;
}

int fz_knockout(const uint8_t *data, size_t size) {
    make_graphs();
    const char *path = fz_write("knockout.json", data, size);
    ac_knockout_file *k = NULL;
    ac_error err;
    if (ac_knockout_file_read(path, &k, &err) != AC_OK) {
        fz_check(k == NULL && err.msg[0]);
        return 0;
    }
    fz_check(k->label != NULL);
    fz_check(k->n_edges == 0 || k->edges != NULL);
    fz_check(k->n_loss == 0 || k->loss != NULL);
    for (size_t i = 0; i < k->n_edges; i++) {
        const ac_knockout_edge *e = &k->edges[i];
        fz_check(memchr(e->src, 0, sizeof e->src) && memchr(e->dest, 0, sizeof e->dest));
        fz_check(e->pos >= -1);
    }
    const ac_knockout_file *const list[2] = {k, k};
    const char *const names[2] = {"a.json", NULL};
    ac_report_input in = {0};
    in.scores = fixture_scores;
    in.top = 4;
    in.knockouts = list;
    in.n_knockouts = 2;
    in.knockout_paths = names;
    render(&in);
    ac_knockout_file_free(k);
    return 0;
}
