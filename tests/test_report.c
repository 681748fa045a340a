/* The HTML/SVG report (report.h): diagram geometry (no overlaps, everything on the canvas,
 * layers in order, edge ends on their nodes) for GPT-2-small-sized, per-position,
 * grouped-query and tiny graphs; edge selection with ties; ground-truth matching and
 * styling; escaping; self-contained HTML; curves and ROC; errors; the CLI end to end.
 *
 * `test_report --samples DIR` writes the sample result files that scripts/check-report.sh
 * renders in a browser, and exits. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autocircuit/report.h"
#include "report/report_internal.h"

/* ---------------------------------------------------------------- fixtures */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double nrand(void) {
    double u = urand(), v = urand();
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static ac_graph *make_graph(int n_layer, int n_head, int n_kv, int attn_only, int separate, int seq_len) {
    ac_config c;
    ac_config_defaults(&c, n_kv == n_head ? AC_ARCH_GPT2 : AC_ARCH_LLAMA);
    c.n_layer = n_layer;
    c.n_head = n_head;
    c.n_kv_head = n_kv;
    c.d_head = 4;
    c.d_model = 4 * n_head;
    c.d_mlp = attn_only ? 0 : 16;
    c.attn_only = attn_only;
    c.vocab_size = 23;
    c.n_ctx = 64;
    ac_graph *g;
    ac_error err;
    ac_graph_opts o = {.separate_qkv = separate, .seq_len = seq_len};
    assert_ac_ok(ac_graph_build(&g, &c, &o, &err), &err);
    return g;
}

static size_t find_edge(const ac_graph *g, const char *src, const char *dest, int pos) {
    int s = -1, d = -1;
    for (int i = 0; i < g->n_src; i++)
        if (!strcmp(g->srcs[i].name, src)) s = i;
    for (int i = 0; i < g->n_dest; i++)
        if (!strcmp(g->dests[i].name, dest)) d = i;
    if (s < 0 || d < 0) return (size_t)-1;
    return ac_graph_edge_index(g, pos < 0 ? 0 : pos, d, s);
}

/* Scores: small noise plus a planted circuit of `n_plant` edges (names below), whose
 * edges are also the ground truth (gt may be NULL). */
typedef struct planted {
    const char *src, *dest;
    int pos;
    double score;
} planted;

static const planted gpt2_circuit[] = {
    {"A9.9", "Resid End", -1, 0.92},   {"A9.6", "Resid End", -1, 0.71},    {"A10.0", "Resid End", -1, 0.55},
    {"A10.7", "Resid End", -1, -0.48}, {"A11.10", "Resid End", -1, -0.37}, {"A8.6", "A9.9.Q", -1, 0.41},
    {"A8.10", "A9.9.Q", -1, 0.33},     {"A7.3", "A9.6.Q", -1, 0.29},       {"A7.9", "A10.0.Q", -1, 0.26},
    {"A8.6", "A9.6.Q", -1, 0.24},      {"A5.5", "A8.6.V", -1, 0.21},       {"A6.9", "A8.10.V", -1, 0.19},
    {"A5.8", "A7.3.V", -1, 0.17},      {"A0.1", "A5.5.K", -1, 0.16},       {"A3.0", "A7.9.V", -1, 0.15},
    {"A4.11", "A8.6.K", -1, -0.14},    {"MLP 0", "A9.9.K", -1, 0.13},      {"MLP 0", "A5.5.Q", -1, 0.12},
    {"Resid Start", "MLP 0", -1, 0.35}, {"Resid Start", "A0.1.V", -1, 0.11}, {"MLP 0", "A3.0.V", -1, 0.105},
    {"A9.9", "MLP 9", -1, -0.1},       {"MLP 9", "Resid End", -1, 0.095},  {"A2.2", "A4.11.Q", -1, -0.09},
    {"A10.2", "MLP 10", -1, 0.085},    {"MLP 10", "Resid End", -1, 0.08},  {"A11.2", "Resid End", -1, -0.075},
    {"Resid Start", "A1.4.K", -1, 0.07}, {"A6.0", "A10.7.Q", -1, 0.065},   {"A1.4", "A6.9.V", -1, 0.06},
};

static const char *const ioi_labels[] = {"<|BOS|>", "When", " Mary", " and", " John", " went", " to",
                                         " the", " <&\"store'>", ",", " John", " gave", " a", " drink",
                                         " to"};

static const planted pos_circuit[] = {
    {"A5.1", "Resid End", 14, 0.8},  {"A4.3", "Resid End", 14, 0.6},  {"A3.2", "A5.1.Q", 14, 0.5},
    {"A2.0", "A5.1.K", 14, -0.3},    {"Resid Start", "A5.1.V", 2, 0.45}, {"Resid Start", "A4.3.V", 4, 0.4},
    {"A0.5", "A3.2.V", 10, 0.35},    {"Resid Start", "MLP 0", 10, 0.3}, {"MLP 0", "A2.0.V", 10, 0.25},
    {"A1.7", "A3.2.K", 10, -0.22},   {"MLP 1", "A4.3.Q", 14, 0.2},     {"A0.5", "MLP 1", 14, 0.18},
    {"Resid Start", "A0.5.V", 8, 0.15}, {"A4.3", "MLP 4", 14, -0.12},  {"MLP 4", "Resid End", 14, 0.11},
};

static float *planted_scores(const ac_graph *g, const planted *pl, size_t n_pl, double noise, uint8_t *gt) {
    float *s = malloc(g->n_edges * sizeof *s);
    for (size_t e = 0; e < g->n_edges; e++) s[e] = (float)(noise * nrand());
    if (gt) memset(gt, 0, g->n_edges);
    for (size_t i = 0; i < n_pl; i++) {
        size_t e = find_edge(g, pl[i].src, pl[i].dest, pl[i].pos);
        assert_true(e != (size_t)-1);
        s[e] = (float)pl[i].score;
        if (gt) gt[e] = 1;
    }
    return s;
}

/* An in-memory scores file (as ac_scores_file_read would give), freed by mem_free. */
static ac_scores_file *mem_scores(const ac_graph *g, const float *s, const uint8_t *subset,
                                  const char *const *labels, size_t n_labels) {
    ac_scores_file *f = calloc(1, sizeof *f);
    f->edges = calloc(g->n_edges, sizeof *f->edges);
    for (size_t e = 0; e < g->n_edges; e++) {
        if (subset && !subset[e]) continue;
        int pos, d, src;
        ac_graph_edge_at(g, e, &pos, &d, &src);
        ac_edge_record *r = &f->edges[f->n_edges++];
        snprintf(r->src, sizeof r->src, "%s", g->srcs[src].name);
        snprintf(r->dest, sizeof r->dest, "%s", g->dests[d].name);
        r->pos = pos;
        r->score = s ? (double)s[e] : NAN;
    }
    f->has_scores = s != NULL;
    f->has_graph = 1;
    f->separate_qkv = g->separate_qkv;
    f->seq_len = g->seq_len;
    if (labels) {
        f->seq_labels = calloc(n_labels, sizeof *f->seq_labels);
        for (size_t i = 0; i < n_labels; i++) f->seq_labels[i] = strdup(labels[i]);
        f->n_seq_labels = n_labels;
    }
    return f;
}

static void mem_free(ac_scores_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_seq_labels; i++) free(f->seq_labels[i]);
    free(f->seq_labels);
    free(f->edges);
    free(f->settings_json);
    free(f->algo);
    free(f);
}

/* A synthetic faithfulness curve over the default edge counts of n_edges. */
static ac_eval_point *synthetic_points(size_t n_edges, size_t *n_points, int nan_correct) {
    size_t *counts, n;
    ac_error err;
    assert_ac_ok(ac_edge_counts(n_edges, NULL, NULL, &counts, &n, &err), &err);
    ac_eval_point *p = calloc(n, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        double k = (double)counts[i], t = log10(k + 1) / log10((double)n_edges + 1);
        double f = 1 / (1 + exp(-12 * (t - 0.35)));
        p[i].requested = p[i].edges = counts[i];
        p[i].logit_diff_percent = -15 + 118 * f - 3 * t;
        p[i].logit_diff = 3.2 * p[i].logit_diff_percent / 100;
        p[i].kl = 2.4 * (1 - f) + 0.01;
        p[i].answer_logit = 11 + 4 * f;
        p[i].answer_prob = 0.02 + 0.5 * f;
        p[i].answer_logprob = log(p[i].answer_prob);
        p[i].correct_percent = nan_correct ? NAN : 100 * f;
        p[i].correct_beats_wrong_percent = nan_correct ? NAN : 40 + 60 * f;
    }
    free(counts);
    *n_points = n;
    return p;
}

/* ---------------------------------------------------------------- geometry checks */

static int overlap(const ac_report_box *a, const ac_report_box *b) {
    const double eps = 1e-6;
    return a->x < b->x + b->w - eps && b->x < a->x + a->w - eps && a->y < b->y + b->h - eps &&
           b->y < a->y + a->h - eps;
}

static int inside(const ac_report_box *c, const ac_report_box *p) {
    const double eps = 1e-6;
    return c->x >= p->x - eps && c->y >= p->y - eps && c->x + c->w <= p->x + p->w + eps &&
           c->y + c->h <= p->y + p->h + eps;
}

static void print_box(const char *what, const ac_report_layout *l, size_t i) {
    const ac_report_box *b = &l->boxes[i];
    print_error("%s box %zu kind %d '%s' pos %d at (%.1f, %.1f) %.1f x %.1f\n", what, i, (int)b->kind, b->text,
                b->pos, b->x, b->y, b->w, b->h);
}

/* The node name an edge end belongs to: "A3.1.Q" -> "A3.1", "A3.kv0.K" -> "A3.kv0". */
static void node_of(const char *name, char *out, size_t n, char *port) {
    snprintf(out, n, "%s", name);
    *port = 0;
    size_t len = strlen(out);
    if (name[0] == 'A' && len > 2 && out[len - 2] == '.' && strchr("QKV", out[len - 1])) {
        *port = out[len - 1];
        out[len - 2] = 0;
    }
}

static long find_node(const ac_report_layout *l, const char *name, int pos) {
    for (size_t i = 0; i < l->n_boxes; i++)
        if (l->boxes[i].kind == AC_REPORT_NODE && l->boxes[i].pos == pos && !strcmp(l->boxes[i].text, name))
            return (long)i;
    return -1;
}

/* Everything on the canvas, free boxes pairwise disjoint, children inside their parent
 * and disjoint from their siblings, edge ends on their nodes. */
static void check_geometry(const ac_report_layout *l, const ac_scores_file *f) {
    assert_true(l->width > 0 && l->height > 0);
    size_t nodes = 0;
    for (size_t i = 0; i < l->n_boxes; i++) {
        const ac_report_box *b = &l->boxes[i];
        if (!(b->w > 0 && b->h > 0 && b->x >= 0 && b->y >= 0 && b->x + b->w <= l->width &&
              b->y + b->h <= l->height)) {
            print_box("off-canvas", l, i);
            fail();
        }
        nodes += b->kind == AC_REPORT_NODE;
        if (b->parent >= 0) {
            assert_true((size_t)b->parent < i);
            if (!inside(b, &l->boxes[b->parent])) {
                print_box("outside its parent", l, i);
                print_box("parent", l, (size_t)b->parent);
                fail();
            }
        }
        if (b->kind == AC_REPORT_NODE_LABEL || b->kind == AC_REPORT_PORT_LABEL || b->kind == AC_REPORT_TEXT ||
            b->kind == AC_REPORT_TOKEN) {
            /* the estimated extent fits the text at its size */
            assert_true(b->font_px > 0);
            assert_true(b->w >= ac_report_text_width(b->text, b->font_px, b->bold));
            assert_true(b->h >= b->font_px * 1.16);
        }
    }
    assert_int_equal(nodes, l->n_nodes);
    for (size_t i = 0; i < l->n_boxes; i++)
        for (size_t j = i + 1; j < l->n_boxes; j++) {
            const ac_report_box *a = &l->boxes[i], *b = &l->boxes[j];
            if (a->parent != b->parent) continue; /* free vs free, or siblings */
            if (overlap(a, b)) {
                print_box("overlap", l, i);
                print_box("with", l, j);
                fail();
            }
        }
    /* edge ends: on the source's top side and the destination port's bottom side */
    for (size_t k = 0; k < l->n_edges; k++) {
        const ac_report_edge *e = &l->edges[k];
        const ac_edge_record *r = &f->edges[e->record];
        char sname[32], dname[32], sp, dp;
        node_of(r->src, sname, sizeof sname, &sp);
        node_of(r->dest, dname, sizeof dname, &dp);
        long s = find_node(l, sname, r->pos), d = find_node(l, dname, r->pos);
        assert_true(s >= 0 && d >= 0);
        const ac_report_box *bs = &l->boxes[s], *bd = &l->boxes[d];
        assert_true(e->x1 > bs->x && e->x1 < bs->x + bs->w);
        assert_true(fabs(e->y1 - bs->y) < 1e-9);
        assert_true(e->x2 > bd->x && e->x2 < bd->x + bd->w);
        assert_true(fabs(e->y2 - (bd->y + bd->h)) < 1e-9);
        assert_true(e->y2 < e->y1); /* upwards */
        if (dp) { /* inside its Q/K/V port */
            int found = 0;
            for (size_t i = (size_t)d + 1; i < l->n_boxes && l->boxes[i].parent >= d; i++) {
                const ac_report_box *p = &l->boxes[i];
                if (p->kind == AC_REPORT_PORT && p->parent == d && p->text[0] == dp) {
                    assert_true(e->x2 > p->x && e->x2 < p->x + p->w);
                    found = 1;
                }
            }
            assert_true(found);
        }
        assert_true(e->width >= 1 && e->width <= 8);
        if (k > 0) assert_true(e->width <= l->edges[k - 1].width + 1e-12);
    }
}

/* Rows by layer: Resid Start lowest, Resid End highest, heads of a layer on one row below
 * its MLP, which is below the next layer's heads. */
static void check_layers(const ac_report_layout *l) {
    for (size_t i = 0; i < l->n_boxes; i++) {
        const ac_report_box *a = &l->boxes[i];
        if (a->kind != AC_REPORT_NODE) continue;
        int la = -1, ka; /* kind: 0 start, 1 head, 2 mlp, 3 end */
        if (!strcmp(a->text, "Resid Start")) ka = 0;
        else if (!strcmp(a->text, "Resid End")) ka = 3;
        else if (a->text[0] == 'M') ka = 2, la = atoi(a->text + 4);
        else ka = 1, la = atoi(a->text + 1);
        for (size_t j = 0; j < l->n_boxes; j++) {
            const ac_report_box *b = &l->boxes[j];
            if (b->kind != AC_REPORT_NODE || j == i || b->pos != a->pos) continue;
            int lb = -1, kb;
            if (!strcmp(b->text, "Resid Start")) kb = 0;
            else if (!strcmp(b->text, "Resid End")) kb = 3;
            else if (b->text[0] == 'M') kb = 2, lb = atoi(b->text + 4);
            else kb = 1, lb = atoi(b->text + 1);
            double ya = a->y + a->h, yb = b->y + b->h; /* bottoms */
            int ra = ka == 0 ? 0 : ka == 3 ? 1000 : 1 + 2 * la + (ka == 2);
            int rb = kb == 0 ? 0 : kb == 3 ? 1000 : 1 + 2 * lb + (kb == 2);
            if (ra < rb) assert_true(ya > yb + 20);
            if (ra == rb && ka == 1) assert_true(fabs(a->y - b->y) < 1e-9 && a->x != b->x);
        }
    }
}

static ac_report_layout *layout_ok(const ac_report_input *in) {
    ac_report_layout *l = NULL;
    ac_error err;
    assert_ac_ok(ac_report_layout_diagram(in, &l, &err), &err);
    check_geometry(l, in->scores);
    check_layers(l);
    return l;
}

static char *render_ok(const ac_report_input *in, ac_report_format fmt) {
    char *text = NULL;
    size_t n = 0;
    ac_error err;
    assert_ac_ok(ac_report_render(in, fmt, &text, &n, &err), &err);
    assert_non_null(text);
    assert_int_equal(strlen(text), n);
    return text;
}

static size_t count_of(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---------------------------------------------------------------- unit tests */

static void test_node_names(void **state) {
    (void)state;
    ac__node_ref r;
    assert_int_equal(ac__parse_node("Resid Start", 0, &r), 0);
    assert_int_equal(r.kind, AC__NK_RESID_START);
    assert_int_equal(ac__parse_node("Resid Start", 1, &r), -1);
    assert_int_equal(ac__parse_node("Resid End", 1, &r), 0);
    assert_int_equal(r.kind, AC__NK_RESID_END);
    assert_int_equal(ac__parse_node("Resid End", 0, &r), -1);
    assert_int_equal(ac__parse_node("MLP 11", 0, &r), 0);
    assert_true(r.kind == AC__NK_MLP && r.layer == 11);
    assert_int_equal(ac__parse_node("A10.7", 0, &r), 0);
    assert_true(r.kind == AC__NK_HEAD && r.layer == 10 && r.index == 7 && r.port == 0);
    assert_int_equal(ac__parse_node("A10.7", 1, &r), 0); /* combined Q/K/V input */
    assert_int_equal(r.port, 'I');
    assert_int_equal(ac__parse_node("A3.1.K", 1, &r), 0);
    assert_true(r.kind == AC__NK_HEAD && r.layer == 3 && r.index == 1 && r.port == 'K');
    assert_int_equal(ac__parse_node("A3.1.K", 0, &r), -1);
    assert_int_equal(ac__parse_node("A2.kv3.V", 1, &r), 0);
    assert_true(r.kind == AC__NK_KV && r.layer == 2 && r.index == 3 && r.port == 'V');
    const char *bad[] = {"A2.kv3.Q", "A1", "A1.", "A1.2.X", "A1.2.QK", "MLP", "MLP x", "MLP 01", "B0.1",
                         "A-1.2", "Resid", "A1.2 ", "MLP 1234567"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ac__parse_node(bad[i], 1, &r), -1);
        assert_int_equal(ac__parse_node(bad[i], 0, &r), -1);
    }
}

static void test_text(void **state) {
    (void)state;
    char buf[64];
    ac__label_text(" garden", buf, sizeof buf, 0);
    assert_string_equal(buf, " garden");
    ac__label_text("a\nb\tc\x01", buf, sizeof buf, 0);
    assert_string_equal(buf, "a\\nb\\tc\\x01");
    ac__label_text("ab\xff" "c", buf, sizeof buf, 0); /* invalid UTF-8 */
    assert_string_equal(buf, "ab\xEF\xBF\xBD" "c");
    ac__label_text("\xED\xA0\x80", buf, sizeof buf, 0); /* a surrogate: 3 invalid bytes */
    assert_string_equal(buf, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    ac__label_text("abcdefgh", buf, sizeof buf, 5);
    assert_string_equal(buf, "abcd\xE2\x80\xA6");
    ac__label_text("abcde", buf, sizeof buf, 5);
    assert_string_equal(buf, "abcde");
    ac__label_text("\xC3\xA9\xC3\xA9\xC3\xA9", buf, 6, 0); /* never splits a character */
    assert_string_equal(buf, "\xC3\xA9\xC3\xA9");

    ac__sbuf b = {0};
    ac__sb_esc(&b, "<a href=\"x\">&'</a>\x7f");
    assert_string_equal(b.p, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;\\x7F");
    ac__sb_free(&b);

    /* DejaVu Sans advances: '1' is 1303/2048 em, 'i' 569/2048 */
    assert_close(ac_report_text_width("11", 12, 0), 2 * 1303.0 / 2048 * 12, 1e-9, 0);
    assert_close(ac_report_text_width("i", 10, 0), 569.0 / 2048 * 10, 1e-9, 0);
    assert_true(ac_report_text_width("M", 12, 1) > ac_report_text_width("M", 12, 0));
    assert_true(ac_report_text_width("\xE6\xBC\xA2", 12, 0) >= 12); /* CJK: full width */
    assert_true(ac__text_box_w("A11.11", 12, 0) > ac_report_text_width("A11.11", 12, 0));

    char n[32];
    assert_string_equal(ac__fmt_count(32491, n, sizeof n), "32,491");
    assert_string_equal(ac__fmt_count(999, n, sizeof n), "999");
    assert_string_equal(ac__fmt_count(1000000, n, sizeof n), "1,000,000");
    assert_string_equal(ac__fmt_num(-INFINITY, n, sizeof n), "-inf");
    assert_string_equal(ac__fmt_num(0.000123456, n, sizeof n), "0.0001235");
}

/* Plots: ticks and their labels, log axes, NaN gaps, reference lines. */
static void test_plot(void **state) {
    (void)state;
    double x[] = {0, 1, 3, 10, 30, 100, 300, 1000}, y[] = {1e-4, 1.2e-4, 1.5e-4, NAN, 1.8e-4, 1.9e-4, 2e-4, 2e-4};
    ac__plot_series se = {"kl", x, y, 8, "#123456", 0};
    ac__plot p = {"T", "edges", "KL", 1, 500, 300, &se, 1, NAN, NULL, NAN, 0, 0};
    ac__sbuf b = {0};
    ac__plot_svg(&b, &p);
    assert_false(b.failed);
    const char *want[] = {">1</text>", ">10</text>", ">100</text>", ">1k</text>", ">200\xC2\xB5</text>",
                          ">120\xC2\xB5</text>", ">edges</text>", ">KL</text>", ">T</text>"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(b.p, want[i])) print_error("missing %s in\n%s\n", want[i], b.p);
        assert_non_null(strstr(b.p, want[i]));
    }
    assert_int_equal(count_of(b.p, "<path class=\"ac-series\""), 2); /* the NaN splits the line */
    assert_int_equal(count_of(b.p, "<circle"), 6);                   /* x = 0 and the NaN left out */
    assert_null(strstr(b.p, "e-05"));
    ac__sb_free(&b);
    /* linear x from 0, a reference line with its label, a marker */
    p.log_x = 0;
    p.hline = 2.5e-4;
    p.hline_label = "full model";
    p.vline = 30;
    ac__plot_svg(&b, &p);
    assert_non_null(strstr(b.p, ">0</text>"));
    assert_non_null(strstr(b.p, ">1000</text>"));
    assert_non_null(strstr(b.p, ">250\xC2\xB5</text>")); /* the y axis reaches the reference line */
    assert_non_null(strstr(b.p, ">full model</text>"));
    assert_int_equal(count_of(b.p, "class=\"ac-marker\""), 1);
    assert_int_equal(count_of(b.p, "<circle"), 7);
    ac__sb_free(&b);
    /* no finite point at all */
    double nan_y[] = {NAN, NAN};
    ac__plot_series se2 = {"none", x, nan_y, 2, "#000000", 0};
    p.series = &se2;
    p.hline = NAN;
    ac__plot_svg(&b, &p);
    assert_non_null(strstr(b.p, ">no data</text>"));
    ac__sb_free(&b);
}

/* GPT-2 small: 12 layers x 12 heads, separate Q/K/V, top 50 and top 300 edges */
static void test_layout_gpt2(void **state) {
    (void)state;
    ac_graph *g = make_graph(12, 12, 12, 0, 1, 0);
    assert_int_equal(g->n_edges, 32491);
    uint8_t *gt = malloc(g->n_edges);
    float *s = planted_scores(g, gpt2_circuit, sizeof gpt2_circuit / sizeof gpt2_circuit[0], 0.01, gt);
    ac_scores_file *f = mem_scores(g, s, NULL, NULL, 0), *gtf = mem_scores(g, NULL, gt, NULL, 0);
    const size_t tops[] = {50, 300};
    for (size_t t = 0; t < 2; t++) {
        ac_report_input in = {.scores = f, .ground_truth = gtf, .top = tops[t]};
        ac_report_layout *l = layout_ok(&in);
        assert_int_equal(l->n_edges, tops[t]); /* random floats: no ties */
        assert_int_equal(l->n_columns, 1);
        assert_true(l->n_nodes > 20);
        /* the largest planted edge is drawn first and thickest, in the ground truth */
        assert_string_equal(f->edges[l->edges[0].record].src, "A9.9");
        assert_string_equal(f->edges[l->edges[0].record].dest, "Resid End");
        assert_close(l->edges[0].width, 8, 1e-12, 0);
        assert_int_equal(l->edges[0].in_ground_truth, 1);
        size_t n_gt = 0;
        for (size_t k = 0; k < l->n_edges; k++) n_gt += l->edges[k].in_ground_truth;
        assert_int_equal(n_gt, sizeof gpt2_circuit / sizeof gpt2_circuit[0]);
        /* every head box shows its Q, K and V inputs */
        for (size_t i = 0; i < l->n_boxes; i++)
            if (l->boxes[i].kind == AC_REPORT_NODE && l->boxes[i].text[0] == 'A') {
                assert_int_equal(l->boxes[i + 2].kind, AC_REPORT_PORT);
                assert_string_equal(l->boxes[i + 2].text, "Q");
                assert_string_equal(l->boxes[i + 4].text, "K");
                assert_string_equal(l->boxes[i + 6].text, "V");
            }
        /* readable: never wider than 12 heads side by side plus margins */
        assert_true(l->width < 1200);
        if (t == 0) assert_true(l->height < 1600);
        ac_report_layout_free(l);
    }
    mem_free(f);
    mem_free(gtf);
    free(s);
    free(gt);
    ac_graph_free(g);
}

/* Per-position edges: one column per position with edges, every position labelled. */
static void test_layout_positions(void **state) {
    (void)state;
    const int T = 15;
    ac_graph *g = make_graph(6, 8, 8, 0, 1, T);
    float *s = planted_scores(g, pos_circuit, sizeof pos_circuit / sizeof pos_circuit[0], 0.005, NULL);
    ac_scores_file *f = mem_scores(g, s, NULL, ioi_labels, (size_t)T);
    ac_report_input in = {.scores = f, .top = 15};
    ac_report_layout *l = layout_ok(&in);
    assert_int_equal(l->n_edges, 15);
    assert_int_equal(l->n_columns, 5); /* positions 2, 4, 8, 10, 14 */
    int tokens = 0;
    double last_x = -1;
    for (size_t i = 0; i < l->n_boxes; i++) {
        const ac_report_box *b = &l->boxes[i];
        if (b->kind != AC_REPORT_TOKEN) continue;
        char want[96];
        ac__label_text(ioi_labels[b->pos], want, sizeof want, 18);
        assert_string_equal(b->text, want);
        assert_int_equal(b->pos, tokens);
        assert_true(b->x > last_x); /* left to right in order */
        last_x = b->x;
        tokens++;
        /* columns with edges: the token chip sits below the column's Resid Start */
        long rs = find_node(l, "Resid Start", b->pos);
        if (rs >= 0) {
            const ac_report_box *r = &l->boxes[rs];
            assert_true(b->y > r->y + r->h);
            assert_true(b->x + b->w / 2 > r->x && b->x + b->w / 2 < r->x + r->w);
        }
    }
    assert_int_equal(tokens, T);
    assert_true(find_node(l, "A5.1", 14) >= 0 && find_node(l, "A5.1", 2) >= 0 && find_node(l, "A5.1", 3) < 0);
    ac_report_layout_free(l);

    /* the label with <&"'> is escaped in the SVG and the HTML, never raw */
    for (int fmt = 0; fmt < 2; fmt++) {
        char *text = render_ok(&in, (ac_report_format)fmt);
        assert_non_null(strstr(text, "&lt;&amp;&quot;store&#39;&gt;"));
        assert_null(strstr(text, "<&\"store"));
        assert_null(strstr(text, "<|BOS|>"));
        assert_non_null(strstr(text, "&lt;|BOS|&gt;"));
        ac_free(text);
    }
    mem_free(f);
    free(s);
    ac_graph_free(g);

    /* long prompts: only the positions with drawn edges get a column and a label */
    g = make_graph(2, 2, 2, 0, 1, 60);
    s = calloc(g->n_edges, sizeof *s);
    s[find_edge(g, "A0.1", "Resid End", 5)] = 1;
    s[find_edge(g, "A1.0", "Resid End", 50)] = -2;
    f = mem_scores(g, s, NULL, NULL, 0);
    in = (ac_report_input){.scores = f, .top = 2};
    l = layout_ok(&in);
    assert_int_equal(l->n_columns, 2);
    tokens = 0;
    for (size_t i = 0; i < l->n_boxes; i++)
        if (l->boxes[i].kind == AC_REPORT_TOKEN) {
            assert_true(l->boxes[i].pos == 5 || l->boxes[i].pos == 50);
            assert_string_equal(l->boxes[i].text, l->boxes[i].pos == 5 ? "pos 5" : "pos 50");
            tokens++;
        }
    assert_int_equal(tokens, 2);
    assert_true(l->width < 600);
    ac_report_layout_free(l);
    char *svg = render_ok(&in, AC_REPORT_SVG);
    assert_non_null(strstr(svg, "60 positions: those without drawn edges are left out"));
    ac_free(svg);
    mem_free(f);
    free(s);
    ac_graph_free(g);
}

/* Small graphs: 2 layers x 2 heads with separate and combined Q/K/V, attention-only,
 * grouped-query; every edge drawn. */
static void test_layout_small(void **state) {
    (void)state;
    struct {
        int L, H, KV, attn_only, sep;
        size_t n_edges;
    } cases[] = {{2, 2, 2, 0, 1, 46}, {2, 2, 2, 0, 0, 26}, {4, 1, 1, 1, 1, 0}, {5, 8, 4, 0, 1, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ac_graph *g = make_graph(cases[c].L, cases[c].H, cases[c].KV, cases[c].attn_only, cases[c].sep, 0);
        if (cases[c].n_edges) assert_int_equal(g->n_edges, cases[c].n_edges);
        float *s = malloc(g->n_edges * sizeof *s);
        for (size_t e = 0; e < g->n_edges; e++) s[e] = (float)((double)(e % 7) - 3.2) * (float)(1 + e % 5);
        ac_scores_file *f = mem_scores(g, s, NULL, NULL, 0);
        size_t top = g->n_edges < 100 ? g->n_edges : 80;
        ac_report_input in = {.scores = f, .top = top};
        ac_report_layout *l = layout_ok(&in);
        assert_true(l->n_edges >= top);
        if (cases[c].KV != cases[c].H) { /* grouped-query: heads have Q, kv groups K and V */
            long kv = find_node(l, "A4.kv1", -1), h = find_node(l, "A4.1", -1);
            if (kv >= 0) {
                assert_string_equal(l->boxes[kv + 2].text, "K");
                assert_string_equal(l->boxes[kv + 4].text, "V");
            }
            if (h >= 0) {
                assert_string_equal(l->boxes[h + 2].text, "Q");
                assert_true(l->boxes[h + 4].kind != AC_REPORT_PORT_LABEL || l->boxes[h + 4].parent != h + 3);
            }
        }
        if (!cases[c].sep)
            for (size_t i = 0; i < l->n_boxes; i++) assert_true(l->boxes[i].kind != AC_REPORT_PORT);
        ac_report_layout_free(l);
        mem_free(f);
        free(s);
        ac_graph_free(g);
    }
}

/* Selection: |score| order, ties at the cutoff included, zeros and NaN never, the cap. */
static void test_selection(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 2, 2, 0, 1, 0); /* 46 edges */
    float *s = calloc(g->n_edges, sizeof *s);
    s[3] = 2, s[10] = -2, s[11] = 2, s[20] = 1, s[21] = NAN, s[30] = INFINITY, s[31] = -0.5f;
    ac_scores_file *f = mem_scores(g, s, NULL, NULL, 0);
    ac_report_input in = {.scores = f, .top = 2};
    ac_report_layout *l = layout_ok(&in);
    assert_int_equal(l->n_edges, 4); /* inf, then the three tied at |2| */
    assert_int_equal(l->edges[0].record, 30);
    assert_int_equal(l->edges[1].record, 3);
    assert_int_equal(l->edges[2].record, 10);
    assert_int_equal(l->edges[3].record, 11);
    assert_int_equal(l->n_candidates, 6);
    assert_close(l->max_abs, 2, 0, 0);
    assert_close(l->edges[0].width, 8, 0, 0);
    ac_report_layout_free(l);
    in.top = 30; /* more than the non-zero edges: zeros are not drawn */
    l = layout_ok(&in);
    assert_int_equal(l->n_edges, 6);
    assert_close(l->min_abs, 0.5, 0, 0);
    assert_close(l->edges[5].width, 1 + 7 * 0.25, 1e-12, 0);
    ac_report_layout_free(l);
    in.top = 0; /* default 30 */
    char *html = render_ok(&in, AC_REPORT_HTML);
    assert_non_null(strstr(html, "Top 30 of 46 edges by |score|"));
    assert_non_null(strstr(html, "6 drawn: only 6 edges have a non-zero score"));
    ac_free(html);
    mem_free(f);
    for (size_t e = 0; e < g->n_edges; e++) s[e] = 0;
    f = mem_scores(g, s, NULL, NULL, 0);
    in.scores = f;
    l = layout_ok(&in);
    assert_int_equal(l->n_edges, 0);
    assert_true(find_node(l, "Resid Start", -1) >= 0 && find_node(l, "Resid End", -1) >= 0);
    ac_report_layout_free(l);
    html = render_ok(&in, AC_REPORT_HTML);
    assert_non_null(strstr(html, "no edge has a non-zero score"));
    ac_free(html);
    mem_free(f);
    free(s);
    ac_graph_free(g);

    /* ties beyond the cap are dropped in file order */
    g = make_graph(12, 12, 12, 0, 1, 0);
    s = malloc(g->n_edges * sizeof *s);
    for (size_t e = 0; e < g->n_edges; e++) s[e] = e < 1500 ? 1.0f : 0.5f;
    f = mem_scores(g, s, NULL, NULL, 0);
    in = (ac_report_input){.scores = f, .top = 5};
    l = layout_ok(&in);
    assert_int_equal(l->n_edges, AC_REPORT_MAX_EDGES);
    assert_int_equal(l->n_dropped_ties, 1500 - AC_REPORT_MAX_EDGES);
    assert_int_equal(l->edges[AC_REPORT_MAX_EDGES - 1].record, AC_REPORT_MAX_EDGES - 1);
    ac_report_layout_free(l);
    mem_free(f);
    free(s);
    ac_graph_free(g);
}

/* Ground truth: matched by name and position, styled, counted; ROC. */
static void test_ground_truth(void **state) {
    (void)state;
    ac_graph *g = make_graph(12, 12, 12, 0, 1, 0);
    uint8_t *gt = malloc(g->n_edges);
    const size_t n_pl = sizeof gpt2_circuit / sizeof gpt2_circuit[0];
    float *s = planted_scores(g, gpt2_circuit, n_pl, 0.01, gt);
    gt[find_edge(g, "A9.9", "Resid End", -1)] = 0; /* one drawn edge not in the ground truth */
    gt[find_edge(g, "A1.1", "A2.2.Q", -1)] = 1;    /* and one ground-truth edge not drawn */
    ac_scores_file *f = mem_scores(g, s, NULL, NULL, 0), *gtf = mem_scores(g, NULL, gt, NULL, 0);
    ac_report_input in = {.scores = f, .ground_truth = gtf, .top = 40, .ground_truth_path = "gt.json"};
    char *svg = render_ok(&in, AC_REPORT_SVG);
    assert_int_equal(count_of(svg, "class=\"ac-edge ac-gt\""), n_pl - 1);
    assert_int_equal(count_of(svg, "class=\"ac-gt-halo\""), n_pl - 1);
    assert_int_equal(count_of(svg, "class=\"ac-edge\""), 40 - (n_pl - 1));
    assert_non_null(strstr(svg, "in the ground truth (29 of 40 drawn)"));
    ac_free(svg);
    char *html = render_ok(&in, AC_REPORT_HTML);
    assert_non_null(strstr(html, "<h2>ROC against the ground truth</h2>"));
    assert_int_equal(count_of(html, "<td class=\"yes\">yes</td>"), n_pl - 1);
    ac_free(html);

    /* ROC AUC 1 when the ground truth is exactly the top edges */
    memset(gt, 0, g->n_edges);
    for (size_t i = 0; i < n_pl; i++) gt[find_edge(g, gpt2_circuit[i].src, gpt2_circuit[i].dest, -1)] = 1;
    mem_free(gtf);
    gtf = mem_scores(g, NULL, gt, NULL, 0);
    in.ground_truth = gtf;
    html = render_ok(&in, AC_REPORT_HTML);
    assert_non_null(strstr(html, "Area under the curve 1 (trapezoid), 1 (step curve as drawn)"));
    assert_non_null(strstr(html, "ROC (AUC 1)"));
    ac_free(html);

    /* an edge the scores file lacks */
    snprintf(gtf->edges[0].dest, sizeof gtf->edges[0].dest, "A12.0.Q");
    ac_report_layout *l = NULL;
    ac_error err;
    assert_int_equal(ac_report_layout_diagram(&in, &l, &err), AC_ERR_SHAPE);
    assert_null(l);
    assert_string_equal(err.file, "gt.json");
    assert_non_null(strstr(err.msg, "A12.0.Q"));
    mem_free(gtf);
    mem_free(f);
    free(s);
    free(gt);
    ac_graph_free(g);

    /* a position-free ground truth marks the edge at every position */
    ac_graph *gp = make_graph(6, 8, 8, 0, 1, 15), *g0 = make_graph(6, 8, 8, 0, 1, 0);
    s = planted_scores(gp, pos_circuit, sizeof pos_circuit / sizeof pos_circuit[0], 0.0, NULL);
    gt = calloc(g0->n_edges, 1);
    gt[find_edge(g0, "A5.1", "Resid End", -1)] = 1;
    f = mem_scores(gp, s, NULL, ioi_labels, 15);
    gtf = mem_scores(g0, NULL, gt, NULL, 0);
    in = (ac_report_input){.scores = f, .ground_truth = gtf, .top = 15};
    l = layout_ok(&in);
    size_t n_gt = 0;
    for (size_t k = 0; k < l->n_edges; k++) n_gt += l->edges[k].in_ground_truth;
    assert_int_equal(n_gt, 1); /* only position 14 has a non-zero score for it */
    ac_report_layout_free(l);
    html = render_ok(&in, AC_REPORT_HTML);
    assert_non_null(strstr(html, "<td>scores-file edges in it</td><td>15</td>"));
    ac_free(html);
    mem_free(f);
    mem_free(gtf);
    free(s);
    free(gt);
    ac_graph_free(gp);
    ac_graph_free(g0);
}

/* The page: self-contained, sections present, curves with ticks, settings. */
static void test_html(void **state) {
    (void)state;
    ac_graph *g = make_graph(12, 12, 12, 0, 1, 0);
    float *s = planted_scores(g, gpt2_circuit, sizeof gpt2_circuit / sizeof gpt2_circuit[0], 0.01, NULL);
    ac_scores_file *f = mem_scores(g, s, NULL, NULL, 0);
    f->settings_json = strdup("{\"algo\":\"eap\",\"model\":\"<gpt2>\",\"steps\":0,\"taus\":[0.1,0.2],"
                              "\"nested\":{\"a\":1.5,\"b\":null}}");
    f->algo = strdup("eap");
    ac_curve_file c = {0};
    c.points = synthetic_points(g->n_edges, &c.n_points, 1);
    c.clean_logit_diff = 3.2;
    c.auc_logit_diff = 12.5;
    c.roc_auc = NAN;
    c.n_edges_total = g->n_edges;
    c.settings_json = strdup("{\"settings\":{\"patch\":\"edge\"},\"clean_logit_diff\":3.2}");
    ac_report_input in = {.scores = f, .curve = &c, .top = 30, .title = "IOI <EAP> & \"friends\"",
                          .scores_path = "runs/scores.json", .curve_path = "runs/curve.json"};
    char *html = render_ok(&in, AC_REPORT_HTML);
    /* self-contained: no network, no scripts, no external resources */
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "@import"));
    assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(html, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(html, "</html>\n"));
    /* title escaped */
    assert_non_null(strstr(html, "<title>IOI &lt;EAP&gt; &amp; &quot;friends&quot;</title>"));
    assert_null(strstr(html, "<EAP>"));
    /* sections */
    assert_non_null(strstr(html, "<section id=\"circuit\">"));
    assert_non_null(strstr(html, "<section id=\"faithfulness\">"));
    assert_non_null(strstr(html, "<section id=\"edges\">"));
    assert_non_null(strstr(html, "<section id=\"settings\">"));
    assert_null(strstr(html, "<section id=\"roc\">")); /* no ground truth, no ROC in the curve */
    /* one linear and one log plot per metric with values; NaN metrics left out */
    const char *have[] = {"logit_diff_percent", "logit_diff", "kl", "answer_logit", "answer_prob", "answer_logprob"};
    char key[64];
    for (size_t i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "data-metric=\"%s\"", have[i]);
        assert_int_equal(count_of(html, key), 2);
    }
    assert_int_equal(count_of(html, "data-metric=\"correct_percent\""), 0);
    assert_int_equal(count_of(html, "class=\"ac-svg ac-plot\""), 12);
    assert_int_equal(count_of(html, "edges in the circuit (log scale)"), 6);
    /* ticks: log decades 1 .. 100k, linear 0 .. 40k in steps of 10k */
    assert_non_null(strstr(html, ">1</text>"));
    assert_non_null(strstr(html, ">10k</text>"));
    assert_non_null(strstr(html, ">100k</text>"));
    assert_non_null(strstr(html, ">40k</text>"));
    assert_non_null(strstr(html, ">30k</text>"));
    assert_null(strstr(html, ">40000</text>"));
    assert_non_null(strstr(html, ">full model</text>"));
    assert_null(strstr(html, "class=\"ac-marker\"")); /* --top: no marker */
    /* table of the 30 edges and the settings */
    assert_int_equal(count_of(html, "<tr><td class=\"num\">"), 30);
    assert_non_null(strstr(html, "<td class=\"name\">A9.9</td><td class=\"name\">Resid End</td>"));
    assert_non_null(strstr(html, "<td>model</td><td>&lt;gpt2&gt;</td>"));
    assert_non_null(strstr(html, "<td>taus</td><td>[0.1, 0.2]</td>"));
    assert_non_null(strstr(html, "<td>nested.a</td><td>1.5</td>"));
    assert_non_null(strstr(html, "<td>settings.patch</td><td>edge</td>"));
    assert_non_null(strstr(html, "<td>path</td><td>runs/curve.json</td>"));
    assert_non_null(strstr(html, "Algorithm <b>eap</b>"));
    /* deterministic */
    char *again = render_ok(&in, AC_REPORT_HTML);
    assert_string_equal(html, again);
    ac_free(again);
    ac_free(html);

    /* --edges K: the circuit named and marked on every curve */
    in.circuit = 1;
    html = render_ok(&in, AC_REPORT_HTML);
    assert_non_null(strstr(html, "Circuit of 30 edges (top |score| of 32,491)"));
    assert_int_equal(count_of(html, "class=\"ac-marker\""), 12);
    ac_free(html);

    /* the diagram alone */
    char *svg = render_ok(&in, AC_REPORT_SVG);
    const char *prolog = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"";
    assert_int_equal(strncmp(svg, prolog, strlen(prolog)), 0);
    assert_non_null(strstr(svg, "</svg>\n"));
    assert_null(strstr(svg, "<html"));
    assert_int_equal(count_of(svg, "<path class=\"ac-edge"), 30);
    ac_free(svg);

    /* the ROC from the curve file, without a ground truth */
    ac_point roc[] = {{0, 0}, {0, 0.5}, {0.5, 0.5}, {1, 1}};
    c.roc = roc;
    c.n_roc = 4;
    in.circuit = 0;
    html = render_ok(&in, AC_REPORT_HTML);
    assert_non_null(strstr(html, "<section id=\"roc\">"));
    assert_non_null(strstr(html, "Area under the curve 0.625 (trapezoid), 0.5 (step curve as drawn)"));
    ac_free(html);
    c.roc = NULL;
    c.n_roc = 0;

    free(c.points);
    free(c.settings_json);
    mem_free(f);
    free(s);
    ac_graph_free(g);
}

static void test_errors(void **state) {
    (void)state;
    ac_graph *g = make_graph(2, 2, 2, 0, 1, 0);
    float *s = malloc(g->n_edges * sizeof *s);
    for (size_t e = 0; e < g->n_edges; e++) s[e] = (float)e - 20.5f;
    ac_scores_file *f = mem_scores(g, s, NULL, NULL, 0), *gtf = mem_scores(g, NULL, NULL, NULL, 0);
    ac_report_layout *l;
    ac_error err;
    char *text;
    ac_report_input in = {.scores = NULL};
    assert_int_equal(ac_report_layout_diagram(&in, &l, &err), AC_ERR_ARG);
    in.scores = gtf; /* a ground truth as scores */
    in.scores_path = "gt.json";
    assert_int_equal(ac_report_render(&in, AC_REPORT_HTML, &text, NULL, &err), AC_ERR_ARG);
    assert_string_equal(err.file, "gt.json");
    assert_non_null(strstr(err.msg, "no scores"));
    in.scores = f;
    in.top = AC_REPORT_MAX_EDGES + 1;
    assert_int_equal(ac_report_layout_diagram(&in, &l, &err), AC_ERR_ARG);
    in.top = 0;
    assert_int_equal(ac_report_render(&in, (ac_report_format)7, &text, NULL, &err), AC_ERR_ARG);
    snprintf(f->edges[5].src, sizeof f->edges[5].src, "B0.1");
    in.scores_path = "s.json";
    assert_int_equal(ac_report_layout_diagram(&in, &l, &err), AC_ERR_FORMAT);
    assert_string_equal(err.msg, "edges[5]: 'B0.1' is not a source node name");
    assert_string_equal(err.file, "s.json");
    snprintf(f->edges[5].src, sizeof f->edges[5].src, "Resid Start");

    /* unwritable output: AC_ERR_IO naming the path, nothing left behind */
    const char *bad = ac_test_path(ac_test_tmpdir(), "missing/dir/report.html");
    assert_int_equal(ac_report_write_html(bad, &in, &err), AC_ERR_IO);
    assert_string_equal(err.file, bad);
    struct stat st;
    assert_int_not_equal(stat(bad, &st), 0);
    const char *good = ac_test_path(ac_test_tmpdir(), "r.svg");
    assert_ac_ok(ac_report_write_svg(good, &in, &err), &err);
    assert_int_equal(stat(good, &st), 0);

    /* every allocation failure is reported, without leaks (ASan) */
    ac_curve_file c = {0};
    c.points = synthetic_points(g->n_edges, &c.n_points, 0);
    c.clean_logit_diff = 1;
    c.settings_json = strdup("{\"a\":[1,2]}");
    f->settings_json = strdup("{\"algo\":\"eap\"}");
    uint8_t *gt = calloc(g->n_edges, 1);
    gt[3] = gt[40] = 1;
    ac_scores_file *gt2 = mem_scores(g, NULL, gt, NULL, 0);
    in = (ac_report_input){.scores = f, .curve = &c, .ground_truth = gt2, .top = 10};
    int failures = 0;
    for (long k = 1;; k++) {
        ac_alloc_fail_after(k);
        int rc = ac_report_render(&in, AC_REPORT_HTML, &text, NULL, &err);
        ac_alloc_fail_after(0);
        if (rc == AC_OK) {
            ac_free(text);
            break;
        }
        assert_int_equal(rc, AC_ERR_NOMEM);
        failures++;
        assert_true(k < 100000);
    }
    assert_true(failures > 5);
    free(c.points);
    free(c.settings_json);
    free(gt);
    mem_free(gt2);
    mem_free(f);
    mem_free(gtf);
    free(s);
    ac_graph_free(g);
}

/* ---------------------------------------------------------------- result files */

/* Sample result files: gpt2-scores.json (12 x 12, planted circuit), gpt2-ground-truth.json,
 * gpt2-curve.json (synthetic metrics, ROC), pos-scores.json (6 x 8, 15 positions,
 * seq_labels), tiny-scores.json (2 x 2, combined Q/K/V). */
static int write_samples(const char *dir) {
    ac_error err;
    char path[1024];
    int rc = 0;
    ac_graph *g = make_graph(12, 12, 12, 0, 1, 0);
    uint8_t *gt = malloc(g->n_edges);
    const size_t n_pl = sizeof gpt2_circuit / sizeof gpt2_circuit[0];
    float *s = planted_scores(g, gpt2_circuit, n_pl, 0.012, gt);
    gt[find_edge(g, "A9.9", "Resid End", -1)] = 1;
    gt[find_edge(g, "A11.2", "Resid End", -1)] = 0;
    gt[find_edge(g, "A0.10", "A3.0.K", -1)] = 1;
    ac_scores_settings st = {0};
    st.algo = "eap";
    st.model = "gpt2";
    st.data = "ioi_vanilla_template_prompts.json";
    st.ablation = "resample";
    st.grad_function = "logit";
    st.answer_function = "avg-diff";
    st.split = "train";
    st.n_prompts = 200;
    st.seed = 42;
    st.seconds = 12.5;
    snprintf(path, sizeof path, "%s/gpt2-scores.json", dir);
    rc |= ac_scores_write(path, g, s, &st, &err);
    snprintf(path, sizeof path, "%s/gpt2-ground-truth.json", dir);
    rc |= ac_ground_truth_write(path, g, gt, &err);
    ac_curve c = {0};
    size_t n_points;
    ac_eval_point *pts = synthetic_points(g->n_edges, &n_points, 0);
    c.model = "gpt2";
    c.data = st.data;
    c.scores_path = "gpt2-scores.json";
    c.ablation = "resample";
    c.patch = "edge";
    c.split = "test";
    c.n_prompts = 200;
    c.n_edges_total = g->n_edges;
    c.points = pts;
    c.n_points = n_points;
    c.clean_logit_diff = 3.2;
    c.corrupt_logit_diff = -0.4;
    c.auc_logit_diff = 0.45;
    c.auc_logit_diff_log = 2.1;
    c.auc_kl = 0.3;
    ac_point *roc = NULL;
    size_t n_roc = 0;
    rc |= ac_measure_task_roc(s, gt, g->n_edges, 0, &roc, &n_roc, &err);
    c.ground_truth = "gpt2-ground-truth.json";
    c.roc = roc;
    c.n_roc = n_roc;
    ac_roc_auc(roc, n_roc, 0, &c.roc_auc, NULL);
    c.ground_truth_edges = n_pl;
    c.seconds = 30;
    snprintf(path, sizeof path, "%s/gpt2-curve.json", dir);
    rc |= ac_curve_write(path, &c, &err);
    ac_free(roc);
    free(pts);
    free(s);
    free(gt);
    ac_graph_free(g);

    g = make_graph(6, 8, 8, 0, 1, 15);
    s = planted_scores(g, pos_circuit, sizeof pos_circuit / sizeof pos_circuit[0], 0.01, NULL);
    ac_scores_settings sp = {0};
    sp.algo = "eap";
    sp.model = "toy-6x8";
    sp.seq_labels = ioi_labels;
    sp.n_seq_labels = 15;
    sp.seconds = -1;
    snprintf(path, sizeof path, "%s/pos-scores.json", dir);
    rc |= ac_scores_write(path, g, s, &sp, &err);
    free(s);
    ac_graph_free(g);

    g = make_graph(2, 2, 2, 0, 0, 0);
    s = malloc(g->n_edges * sizeof *s);
    for (size_t e = 0; e < g->n_edges; e++) s[e] = (float)((double)((e * 7) % 11) - 4.5) / 10;
    snprintf(path, sizeof path, "%s/tiny-scores.json", dir);
    rc |= ac_scores_write(path, g, s, NULL, &err);
    free(s);
    ac_graph_free(g);
    if (rc) {
        char buf[1200];
        fprintf(stderr, "test_report --samples: %s\n", ac_error_format(&err, buf, sizeof buf));
        return 1;
    }
    return 0;
}

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

static int run_cli(const char *args, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' report %s 2>&1", ac_test_cli(), args);
    return ac_test_run(cmd, out);
}

/* The command line on files written by the scores.h writers. */
static void test_cli(void **state) {
    (void)state;
    const char *dir = ac_test_path(ac_test_tmpdir(), "samples");
    mkdir(dir, 0700);
    assert_int_equal(write_samples(dir), 0);
    char args[3072], *out;
    const char *html = ac_test_path(dir, "report.html");
    snprintf(args, sizeof args,
             "--scores '%s/gpt2-scores.json' --curve '%s/gpt2-curve.json' --ground-truth '%s/gpt2-ground-truth.json' "
             "--top 40 --title 'IOI & EAP' --out '%s'",
             dir, dir, dir, html);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "wrote "));
    free(out);
    char *text = slurp(html);
    assert_non_null(text);
    assert_non_null(strstr(text, "<title>IOI &amp; EAP</title>"));
    assert_non_null(strstr(text, "Top 40 of 32,491 edges by |score|"));
    assert_non_null(strstr(text, "<section id=\"roc\">"));
    assert_non_null(strstr(text, "data-metric=\"correct_percent\""));
    assert_non_null(strstr(text, "<td>algo</td><td>eap</td>"));
    assert_non_null(strstr(text, "<td>ablation</td><td>resample</td>"));
    assert_null(strstr(text, "http"));
    assert_null(strstr(text, "<script"));
    free(text);

    const char *svg = ac_test_path(dir, "d.svg");
    snprintf(args, sizeof args, "--scores '%s/pos-scores.json' --format svg --edges 12 --out '%s'", dir, svg);
    assert_int_equal(run_cli(args, &out), 0);
    free(out);
    text = slurp(svg);
    assert_non_null(text);
    assert_int_equal(strncmp(text, "<?xml", 5), 0);
    assert_non_null(strstr(text, "Circuit of 12 edges"));
    assert_non_null(strstr(text, "&lt;&amp;&quot;store&#39;&gt;"));
    free(text);

    snprintf(args, sizeof args, "--scores '%s/tiny-scores.json' --out '%s/tiny.html'", dir, dir);
    assert_int_equal(run_cli(args, &out), 0);
    free(out);

    /* help lists every option with its default */
    assert_int_equal(run_cli("--help", &out), 0);
    const char *opts[] = {"--scores", "--curve", "--ground-truth", "--top", "--edges", "--format",
                          "--title", "--out", "default 30", "default html", "default report.html"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) assert_non_null(strstr(out, opts[i]));
    free(out);

    /* errors: one line, exit code = status, no output file */
    const char *none = ac_test_path(dir, "none.html");
    struct {
        const char *args;
        int code;
        const char *msg;
    } bad[] = {
        {"", AC_ERR_ARG, "--scores FILE is required"},
        {"--scores x.json --top 3 --edges 4", AC_ERR_ARG, "not both"},
        {"--scores x.json --top 0", AC_ERR_ARG, "--top"},
        {"--scores x.json --format pdf", AC_ERR_ARG, "--format"},
        {"--scores x.json --bogus", AC_ERR_ARG, "unknown option '--bogus'"},
        {"--scores /nonexistent/s.json", AC_ERR_IO, "/nonexistent/s.json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "%s --out '%s'", bad[i].args, none);
        int rc = run_cli(args, &out);
        if (rc != bad[i].code || !strstr(out, bad[i].msg)) print_error("case %zu: rc %d: %s\n", i, rc, out);
        assert_int_equal(rc, bad[i].code);
        assert_non_null(strstr(out, bad[i].msg));
        assert_int_equal(count_of(out, "\n"), 1);
        free(out);
        struct stat st;
        assert_int_not_equal(stat(none, &st), 0);
    }
    /* a ground truth for another graph */
    snprintf(args, sizeof args, "--scores '%s/tiny-scores.json' --ground-truth '%s/gpt2-ground-truth.json' --out '%s'",
             dir, dir, none);
    assert_int_equal(run_cli(args, &out), AC_ERR_SHAPE);
    assert_non_null(strstr(out, "is not in the scores file"));
    free(out);
    /* a ground-truth file given as the scores */
    snprintf(args, sizeof args, "--scores '%s/gpt2-ground-truth.json' --out '%s'", dir, none);
    assert_int_equal(run_cli(args, &out), AC_ERR_ARG);
    assert_non_null(strstr(out, "has no scores"));
    free(out);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--samples")) return write_samples(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_names),  cmocka_unit_test(test_text),
        cmocka_unit_test(test_plot),        cmocka_unit_test(test_layout_gpt2),
        cmocka_unit_test(test_layout_positions),
        cmocka_unit_test(test_layout_small), cmocka_unit_test(test_selection),
        cmocka_unit_test(test_ground_truth), cmocka_unit_test(test_html),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
