/* The report page: inline CSS, the diagram, faithfulness and ROC plots, the top-edges
 * table and the run's settings. No scripts, no external resources. */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"
#include "report/similarity.h"
#include "util/atomic_file.h"

static const char page_css[] =
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:#f8fafc;color:#111827;font:14px/1.45 'DejaVu Sans','Bitstream Vera Sans',Verdana,sans-serif}\n"
    "main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}\n"
    "h1{font-size:22px;margin:0 0 6px}\n"
    "h2{font-size:17px;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid #e5e7eb}\n"
    "h3{font-size:14px;margin:16px 0 6px}\n"
    "p{margin:6px 0}\n"
    ".meta{color:#4b5563;overflow-wrap:anywhere}\n"
    ".figure{background:#fff;border:1px solid #e5e7eb;border-radius:6px;overflow-x:auto;max-width:100%}\n"
    ".figure svg{display:block;margin:0 auto}\n"
    ".caption{color:#4b5563;font-size:13px;max-width:900px}\n"
    ".plots{display:flex;flex-wrap:wrap;gap:12px}\n"
    ".plots .figure{flex:0 1 auto}\n"
    "table{border-collapse:collapse;background:#fff;font-size:13px;max-width:100%}\n"
    "th,td{border-bottom:1px solid #e5e7eb;padding:3px 10px;text-align:left;vertical-align:top}\n"
    "th{background:#f3f4f6;font-weight:bold}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "td.name{white-space:nowrap}\n"
    "td.tok{white-space:pre;font-family:'DejaVu Sans Mono',monospace}\n"
    ".bar{display:inline-block;height:9px;border-radius:2px;vertical-align:middle}\n"
    ".pos{background:#1d4ed8}.neg{background:#dc2626}\n"
    ".kv td:first-child{color:#374151;white-space:nowrap}\n"
    ".kv td:last-child{overflow-wrap:anywhere;word-break:break-word}\n"
    ".kv{table-layout:fixed;width:100%}\n"
    ".kv col.k{width:260px}\n"
    ".yes{color:#b45309;font-weight:bold}\n"
    "footer{margin-top:36px;color:#6b7280;font-size:12px}\n";

static void esc(ac__sbuf *b, const char *s) { ac__sb_esc(b, s); }

/* ---- settings tables ---- */

/* A JSON value for display: strings bare at the top level and quoted inside arrays and
 * objects, reals with 6 significant digits, a space after commas so that long arrays
 * wrap. */
static void json_value_text_at(ac__sbuf *b, json_t *v, int nested) {
    char num[48];
    if (json_is_string(v)) {
        if (!nested) {
            esc(b, json_string_value(v));
            return;
        }
        char *q = json_dumps(v, JSON_ENCODE_ANY); /* JSON-quoted */
        if (q) esc(b, q);
        else b->failed = 1;
        free(q);
    } else if (json_is_integer(v)) {
        ac__sb_printf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isfinite(d)) snprintf(num, sizeof num, "%.6g", d);
        else ac__fmt_num(d, num, sizeof num);
        ac__sb_puts(b, num);
    } else if (json_is_true(v)) {
        ac__sb_puts(b, "true");
    } else if (json_is_false(v)) {
        ac__sb_puts(b, "false");
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        ac__sb_puts(b, "[");
        json_array_foreach(v, i, x) {
            if (i) ac__sb_puts(b, ", ");
            json_value_text_at(b, x, 1);
        }
        ac__sb_puts(b, "]");
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        int first = 1;
        ac__sb_puts(b, "{");
        json_object_foreach(v, k, x) {
            if (!first) ac__sb_puts(b, ", ");
            first = 0;
            json_t *ks = json_string(k);
            json_value_text_at(b, ks, 1);
            json_decref(ks);
            ac__sb_puts(b, ": ");
            json_value_text_at(b, x, 1);
        }
        ac__sb_puts(b, "}");
    } else {
        ac__sb_puts(b, "null");
    }
}

static void json_value_text(ac__sbuf *b, json_t *v) { json_value_text_at(b, v, 0); }

static void json_rows(ac__sbuf *b, json_t *obj, const char *prefix) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v) && json_object_size(v) > 0) {
            json_rows(b, v, full);
            continue;
        }
        ac__sb_puts(b, "<tr><td>");
        esc(b, full);
        ac__sb_puts(b, "</td><td>");
        json_value_text(b, v);
        ac__sb_puts(b, "</td></tr>\n");
    }
}

static void kv_row(ac__sbuf *b, const char *k, const char *v) {
    ac__sb_puts(b, "<tr><td>");
    esc(b, k);
    ac__sb_puts(b, "</td><td>");
    esc(b, v);
    ac__sb_puts(b, "</td></tr>\n");
}

static void kv_open(ac__sbuf *b, const char *title) {
    ac__sb_puts(b, "<h3>");
    esc(b, title);
    ac__sb_puts(b, "</h3>\n<table class=\"kv\"><colgroup><col class=\"k\"><col></colgroup>\n");
}

static void settings_json_rows(ac__sbuf *b, const char *text) {
    if (!text) return;
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) {
        kv_row(b, "settings", text);
        return;
    }
    if (json_is_object(j)) json_rows(b, j, "");
    else {
        ac__sb_puts(b, "<tr><td>settings</td><td>");
        json_value_text(b, j);
        ac__sb_puts(b, "</td></tr>\n");
    }
    json_decref(j);
}

/* ---- sections ---- */

typedef struct metric_desc {
    const char *key, *title, *y_label;
    size_t offset;
} metric_desc;

static const metric_desc metrics[] = {
    {"logit_diff_percent", "Logit difference, % of the full model", "logit diff (%)",
     offsetof(ac_eval_point, logit_diff_percent)},
    {"logit_diff", "Logit difference", "logit diff", offsetof(ac_eval_point, logit_diff)},
    {"kl", "KL divergence from the full model", "KL (nats)", offsetof(ac_eval_point, kl)},
    {"answer_logit", "Answer logit", "logit", offsetof(ac_eval_point, answer_logit)},
    {"answer_prob", "Answer probability", "probability", offsetof(ac_eval_point, answer_prob)},
    {"answer_logprob", "Answer log-probability", "log-probability", offsetof(ac_eval_point, answer_logprob)},
    {"correct_percent", "Correct answer ranked first", "prompts (%)", offsetof(ac_eval_point, correct_percent)},
    {"correct_beats_wrong_percent", "Correct answer beats the wrong ones", "prompts (%)",
     offsetof(ac_eval_point, correct_beats_wrong_percent)},
};

static double metric_at(const ac_eval_point *p, size_t offset) {
    double v;
    memcpy(&v, (const char *)p + offset, sizeof v);
    return v;
}

static int curves_section(ac__sbuf *b, const ac__report_prep *p, const ac_report_layout *l) {
    const ac_curve_file *c = p->in->curve;
    const size_t n = c->n_points;
    double *x = ac_malloc((n ? n : 1) * sizeof *x), *y = ac_malloc((n ? n : 1) * sizeof *y);
    if (!x || !y) {
        ac_free(x);
        ac_free(y);
        return -1;
    }
    char num[48], cnt[32];
    ac__sb_puts(b, "<section id=\"faithfulness\">\n<h2>Faithfulness</h2>\n<p class=\"caption\">Each metric of the "
                   "circuit made of the top edges by |score| against its edge count, on a linear and on a log x axis "
                   "(the log axis leaves out the circuit of 0 edges). Dashed grey lines: the full model.");
    if (p->in->circuit)
        ac__sb_printf(b, " The amber dashed line marks the drawn circuit (%s edges).",
                      ac__fmt_count(l->n_edges, cnt, sizeof cnt));
    ac__sb_puts(b, "</p>\n<p>");
    ac__sb_printf(b, "%s points", ac__fmt_count(n, cnt, sizeof cnt));
    if (c->n_edges_total) ac__sb_printf(b, " over %s edges", ac__fmt_count(c->n_edges_total, cnt, sizeof cnt));
    if (isfinite(c->clean_logit_diff))
        ac__sb_printf(b, "; full-model logit difference %s", ac__fmt_num(c->clean_logit_diff, num, sizeof num));
    if (isfinite(c->auc_logit_diff))
        ac__sb_printf(b, "; area under the logit-difference curve %s", ac__fmt_num(c->auc_logit_diff, num, sizeof num));
    ac__sb_puts(b, ".</p>\n<div class=\"plots\">\n");
    for (size_t i = 0; i < n; i++) x[i] = (double)c->points[i].edges;
    int drawn = 0;
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            y[i] = metric_at(&c->points[i], metrics[m].offset);
            any |= isfinite(y[i]);
        }
        if (!any) continue;
        drawn++;
        double hl = NAN;
        const char *hl_label = "full model";
        if (!strcmp(metrics[m].key, "logit_diff_percent")) hl = 100;
        else if (!strcmp(metrics[m].key, "logit_diff")) hl = c->clean_logit_diff;
        else if (!strcmp(metrics[m].key, "kl")) hl = 0;
        ac__plot_series s = {metrics[m].title, x, y, n, "#1d4ed8", 0};
        for (int lg = 0; lg < 2; lg++) {
            ac__plot pl = {metrics[m].title, lg ? "edges in the circuit (log scale)" : "edges in the circuit",
                           metrics[m].y_label, lg, 540, 290, &s, 1, hl, hl_label,
                           p->in->circuit ? (double)l->n_edges : NAN, 0, 0};
            ac__sb_printf(b, "<div class=\"figure\" data-metric=\"%s\">\n", metrics[m].key);
            ac__plot_svg(b, &pl);
            ac__sb_puts(b, "</div>\n");
        }
    }
    ac__sb_puts(b, "</div>\n");
    if (!drawn) ac__sb_puts(b, "<p>The curve file has no finite metric values.</p>\n");
    ac__sb_puts(b, "</section>\n");
    ac_free(x);
    ac_free(y);
    return 0;
}

static int roc_section(ac__sbuf *b, const ac__report_prep *p) {
    const ac_scores_file *f = p->in->scores;
    const ac_point *pts = NULL;
    size_t npts = 0;
    ac_point *own = NULL;
    const char *source = NULL;
    char note[600] = "";
    if (p->in_gt) {
        float *s = ac_malloc((f->n_edges ? f->n_edges : 1) * sizeof *s);
        if (!s) return -1;
        for (size_t e = 0; e < f->n_edges; e++) s[e] = isnan(f->edges[e].score) ? 0.0f : (float)f->edges[e].score;
        ac_error e2;
        int rc = ac_measure_task_roc(s, p->in_gt, f->n_edges, 0, &own, &npts, &e2);
        ac_free(s);
        if (rc == AC_ERR_NOMEM) return -1;
        if (rc == AC_OK) pts = own, source = "the scores ranked against the ground truth";
        else snprintf(note, sizeof note, "No ROC curve: %s.", e2.msg);
    } else if (p->in->curve && p->in->curve->n_roc > 0) {
        pts = p->in->curve->roc;
        npts = p->in->curve->n_roc;
        source = "the curve file";
    }
    if (!pts && !note[0]) return 0;
    ac__sb_puts(b, "<section id=\"roc\">\n<h2>ROC against the ground truth</h2>\n");
    if (!pts) {
        ac__sb_puts(b, "<p>");
        esc(b, note);
        ac__sb_puts(b, "</p>\n</section>\n");
        return 0;
    }
    double *x = ac_malloc(npts * sizeof *x), *y = ac_malloc(npts * sizeof *y);
    if (!x || !y) {
        ac_free(x);
        ac_free(y);
        ac_free(own);
        return -1;
    }
    for (size_t i = 0; i < npts; i++) x[i] = pts[i].x, y[i] = pts[i].y;
    double auc = NAN, pauc = NAN;
    ac_roc_auc(pts, npts, 0, &auc, NULL);
    ac_roc_auc(pts, npts, 1, &pauc, NULL);
    char a1[32], a2[32], c1[32], c2[32];
    ac__sb_printf(b, "<p class=\"caption\">True-positive against false-positive rate of the top-k edges by |score| "
                     "as k grows (points from %s; ties are counted false positives first, as auto-circuit's roc_plot "
                     "draws). Area under the curve %s (trapezoid), %s (step curve as drawn).",
                  source, ac__fmt_num(auc, a1, sizeof a1), ac__fmt_num(pauc, a2, sizeof a2));
    if (p->in_gt)
        ac__sb_printf(b, " Ground truth: %s of %s edges.", ac__fmt_count(p->n_gt, c1, sizeof c1),
                      ac__fmt_count(f->n_edges, c2, sizeof c2));
    ac__sb_puts(b, "</p>\n<div class=\"plots\"><div class=\"figure\" data-metric=\"roc\">\n");
    char title[64];
    snprintf(title, sizeof title, "ROC (AUC %s)", ac__fmt_num(auc, a1, sizeof a1));
    ac__plot_series s = {"true-positive rate", x, y, npts, "#b45309", 1};
    ac__plot pl = {title, "false-positive rate", "true-positive rate", 0, 420, 380, &s, 1, NAN, NULL, NAN, 1, 1};
    ac__plot_svg(b, &pl);
    ac__sb_puts(b, "</div></div>\n</section>\n");
    ac_free(x);
    ac_free(y);
    ac_free(own);
    return 0;
}

static void edges_table(ac__sbuf *b, const ac__report_prep *p, const ac_report_layout *l) {
    const ac_scores_file *f = p->in->scores;
    const int per_pos = l->n_edges > 0 && f->edges[l->edges[0].record].pos >= 0;
    char num[48], cnt[32];
    ac__sb_printf(b, "<section id=\"edges\">\n<h2>Top edges</h2>\n<p class=\"caption\">The %s drawn edges by "
                     "descending |score|",
                  ac__fmt_count(l->n_edges, cnt, sizeof cnt));
    ac__sb_printf(b, " (of %s with a non-zero score).</p>\n", ac__fmt_count(l->n_candidates, cnt, sizeof cnt));
    if (l->n_edges == 0) {
        ac__sb_puts(b, "<p>No edge has a non-zero score.</p>\n</section>\n");
        return;
    }
    ac__sb_puts(b, "<table class=\"edges\">\n<thead><tr><th>#</th><th>source</th><th>destination</th>");
    if (per_pos) ac__sb_puts(b, "<th>position</th><th>token</th>");
    ac__sb_puts(b, "<th>score</th><th>|score|</th>");
    if (p->in_gt) ac__sb_puts(b, "<th>in ground truth</th>");
    ac__sb_puts(b, "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < l->n_edges; i++) {
        const ac_report_edge *e = &l->edges[i];
        const ac_edge_record *r = &f->edges[e->record];
        ac__sb_printf(b, "<tr><td class=\"num\">%zu</td><td class=\"name\">", i + 1);
        esc(b, r->src);
        ac__sb_puts(b, "</td><td class=\"name\">");
        esc(b, r->dest);
        ac__sb_puts(b, "</td>");
        if (per_pos) {
            ac__sb_printf(b, "<td class=\"num\">%d</td><td class=\"tok\">", r->pos);
            if (f->seq_labels && r->pos >= 0 && (size_t)r->pos < f->n_seq_labels) esc(b, f->seq_labels[r->pos]);
            ac__sb_puts(b, "</td>");
        }
        double a = fabs(r->score);
        double frac = isinf(a) ? 1 : l->max_abs > 0 ? a / l->max_abs : 1;
        if (isfinite(r->score)) snprintf(num, sizeof num, "%.6g", r->score);
        else ac__fmt_num(r->score, num, sizeof num);
        ac__sb_printf(b, "<td class=\"num\">%s</td><td><span class=\"bar %s\" style=\"width:%.0fpx\"></span></td>", num,
                      r->score < 0 ? "neg" : "pos", 2 + 118 * frac);
        if (p->in_gt) ac__sb_puts(b, e->in_ground_truth ? "<td class=\"yes\">yes</td>" : "<td></td>");
        ac__sb_puts(b, "</tr>\n");
    }
    ac__sb_puts(b, "</tbody></table>\n</section>\n");
}

static void settings_section(ac__sbuf *b, const ac__report_prep *p, const ac_report_layout *l) {
    const ac_report_input *in = p->in;
    const ac_scores_file *f = in->scores;
    char cnt[32], buf[160];
    ac__sb_puts(b, "<section id=\"settings\">\n<h2>Settings</h2>\n");
    kv_open(b, "Report");
    snprintf(buf, sizeof buf, "%s %zu", in->circuit ? "--edges" : "--top", p->top);
    kv_row(b, "selection", buf);
    kv_row(b, "edges drawn", ac__fmt_count(l->n_edges, cnt, sizeof cnt));
    if (l->n_dropped_ties) kv_row(b, "tied edges left out", ac__fmt_count(l->n_dropped_ties, cnt, sizeof cnt));
    ac__sb_puts(b, "</table>\n");
    kv_open(b, "Scores file");
    if (in->scores_path) kv_row(b, "path", in->scores_path);
    kv_row(b, "edges", ac__fmt_count(f->n_edges, cnt, sizeof cnt));
    kv_row(b, "Q/K/V inputs", f->separate_qkv ? "separate" : "combined");
    if (f->seq_len > 0) {
        snprintf(buf, sizeof buf, "%d token positions", f->seq_len);
        kv_row(b, "edges per position", buf);
    }
    settings_json_rows(b, f->settings_json);
    ac__sb_puts(b, "</table>\n");
    if (in->ground_truth) {
        kv_open(b, "Ground truth");
        if (in->ground_truth_path) kv_row(b, "path", in->ground_truth_path);
        kv_row(b, "edges listed", ac__fmt_count(in->ground_truth->n_edges, cnt, sizeof cnt));
        kv_row(b, "scores-file edges in it", ac__fmt_count(p->n_gt, cnt, sizeof cnt));
        ac__sb_puts(b, "</table>\n");
    }
    if (in->curve) {
        kv_open(b, "Curve file");
        if (in->curve_path) kv_row(b, "path", in->curve_path);
        settings_json_rows(b, in->curve->settings_json);
        ac__sb_puts(b, "</table>\n");
    }
    ac__sb_puts(b, "</section>\n");
}

/* ---- completeness and similarity ---- */

static const char *const palette[] = {"#1d4ed8", "#dc2626", "#059669", "#d97706",
                                      "#7c3aed", "#0891b2", "#be185d", "#4b5563"};

static const char *knockout_name(const ac_report_input *in, size_t i) {
    const ac_knockout_file *k = in->knockouts[i];
    if (k->label && k->label[0]) return k->label;
    return in->knockout_paths && in->knockout_paths[i] ? in->knockout_paths[i] : "knockouts";
}

static void num_cell(ac__sbuf *b, double v) {
    char num[48];
    if (isfinite(v)) snprintf(num, sizeof num, "%.4g", v);
    else ac__fmt_num(v, num, sizeof num);
    ac__sb_printf(b, "<td class=\"num\">%s</td>", num);
}

static int completeness_section(ac__sbuf *b, const ac_report_input *in) {
    const size_t n = in->n_knockouts;
    char cnt[32];
    ac__sb_puts(b, "<section id=\"completeness\">\n<h2>Completeness (same under knockouts)</h2>\n<p class=\"caption\">"
                   "The IOI paper's completeness test: a circuit C is complete when, for every set K of its edges, "
                   "the circuit without K behaves like the full model M without K. K was learned with hard-concrete "
                   "masks to make KL(M &minus; K &#8214; C &minus; K) as large as possible (clean prompts; knocked-out "
                   "edges and, for the circuit, every edge outside it take their values on the corrupt prompts). "
                   "KL(M &#8214; C) is the circuit's faithfulness (K = &empty;). A point far above the dashed line "
                   "y = x means a knockout separates circuit and model: the circuit is incomplete.</p>\n");
    ac__sb_puts(b, "<table class=\"knockouts\">\n<thead><tr><th></th><th>circuit</th><th>K</th><th>edges</th>"
                   "<th>|K|</th><th>KL(M &#8214; C)</th><th>KL(M&minus;K &#8214; C&minus;K)</th>"
                   "<th>logit diff M&minus;K</th><th>logit diff C&minus;K</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const ac_knockout_file *k = in->knockouts[i];
        for (int row = 0; row < 2; row++) {
            const ac_knockout_result *r = row ? &k->learned : &k->empty;
            ac__sb_printf(b, "<tr><td><span class=\"bar\" style=\"width:10px;background:%s\"></span></td><td class=\"name\">",
                          palette[i % 8]);
            esc(b, knockout_name(in, i));
            ac__sb_printf(b, "</td><td>%s</td><td class=\"num\">%s</td>", row ? "learned" : "&empty;",
                          ac__fmt_count(r->circuit_size, cnt, sizeof cnt));
            ac__sb_printf(b, "<td class=\"num\">%zu</td>", r->n_knockouts);
            num_cell(b, r->kl);
            num_cell(b, r->knockout_kl);
            num_cell(b, r->logit_diff_model_ko);
            num_cell(b, r->logit_diff_circuit_ko);
            ac__sb_puts(b, "</tr>\n");
        }
    }
    ac__sb_puts(b, "</tbody></table>\n<div class=\"plots\">\n");
    /* the IOI paper's figure: (KL, knockout KL) per circuit, joined to its projection on y = x */
    ac__plot_series *se = ac_calloc(n + 1, sizeof *se);
    double *xy = ac_calloc(4 * n + 4, sizeof *xy);
    if (!se || !xy) {
        ac_free(se);
        ac_free(xy);
        return -1;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const ac_knockout_result *r = &in->knockouts[i]->learned;
        double *x = xy + 4 * i, *y = x + 2;
        x[0] = r->kl, y[0] = r->knockout_kl;
        x[1] = y[1] = 0.5 * (r->kl + r->knockout_kl);
        se[i] = (ac__plot_series){knockout_name(in, i), x, y, 2, palette[i % 8], 0};
        if (isfinite(x[0]) && isfinite(y[0])) lo = fmin(lo, fmin(x[0], y[0])), hi = fmax(hi, fmax(x[0], y[0]));
    }
    double *dx = xy + 4 * n, *dy = dx + 2;
    if (!(lo <= hi)) lo = 0, hi = 1;
    dx[0] = dy[0] = lo;
    dx[1] = dy[1] = hi;
    se[n] = (ac__plot_series){"y = x", dx, dy, 2, "#9ca3af", 0};
    ac__plot pl = {"Same under knockouts", "KL(M \xE2\x80\x96 C)", "KL(M\xE2\x88\x92K \xE2\x80\x96 C\xE2\x88\x92K)", 0, 420, 360,
                   se, n + 1, NAN, NULL, NAN, 0, 0};
    ac__sb_puts(b, "<div class=\"figure\" data-metric=\"knockouts\">\n");
    ac__plot_svg(b, &pl);
    ac__sb_puts(b, "</div>\n");
    ac_free(xy);
    /* training loss */
    size_t any = 0, longest = 0;
    for (size_t i = 0; i < n; i++) any += in->knockouts[i]->n_loss > 0, longest = longest > in->knockouts[i]->n_loss ? longest : in->knockouts[i]->n_loss;
    double *ep = any ? ac_malloc(longest * sizeof *ep) : NULL;
    if (any && !ep) {
        ac_free(se);
        return -1;
    }
    if (any) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (in->knockouts[i]->n_loss)
                se[m++] = (ac__plot_series){knockout_name(in, i), ep, in->knockouts[i]->loss, in->knockouts[i]->n_loss,
                                            palette[i % 8], 0};
        for (size_t e = 0; e < longest; e++) ep[e] = (double)(e + 1);
        ac__plot lp = {"Knockout training loss", "epoch", "loss (\xE2\x88\x92KL + penalty)", 0, 420, 360, se, m, NAN, NULL,
                       NAN, 0, 0};
        ac__sb_puts(b, "<div class=\"figure\" data-metric=\"knockout-loss\">\n");
        ac__plot_svg(b, &lp);
        ac__sb_puts(b, "</div>\n");
    }
    ac_free(ep);
    ac_free(se);
    ac__sb_puts(b, "</div>\n");
    /* the knocked-out edges */
    for (size_t i = 0; i < n; i++) {
        const ac_knockout_file *k = in->knockouts[i];
        ac__sb_puts(b, "<h3>");
        esc(b, knockout_name(in, i));
        ac__sb_printf(b, ": %zu knocked-out edge%s</h3>\n", k->learned.n_knockouts, k->learned.n_knockouts == 1 ? "" : "s");
        size_t shown = 0;
        for (size_t e = 0; e < k->n_edges; e++) {
            const ac_knockout_edge *r = &k->edges[e];
            if (!r->knocked_out) continue;
            if (shown == 0)
                ac__sb_puts(b, "<table class=\"edges\">\n<thead><tr><th>source</th><th>destination</th><th>position</th>"
                               "<th>mask logit</th></tr></thead>\n<tbody>\n");
            if (++shown > 100) continue;
            ac__sb_puts(b, "<tr><td class=\"name\">");
            esc(b, r->src);
            ac__sb_puts(b, "</td><td class=\"name\">");
            esc(b, r->dest);
            if (r->pos >= 0) ac__sb_printf(b, "</td><td class=\"num\">%d</td>", r->pos);
            else ac__sb_puts(b, "</td><td></td>");
            num_cell(b, r->score);
            ac__sb_puts(b, "</tr>\n");
        }
        if (shown) ac__sb_puts(b, "</tbody></table>\n");
        if (shown > 100) ac__sb_printf(b, "<p>(the first 100 of %zu in graph order)</p>\n", shown);
        if (!shown) ac__sb_puts(b, "<p>None: no learned knockout reached the threshold.</p>\n");
    }
    ac__sb_puts(b, "</section>\n");
    return 0;
}

typedef struct similarity_data {
    const double *ov;   /* [n][n][n_tops] */
    const size_t *tops;
    size_t n_tops, n;   /* n = 1 + n_similar */
} similarity_data;

static const char *similar_name(const ac_report_input *in, size_t i) {
    const ac_scores_file *f = i ? in->similar[i - 1] : in->scores;
    if (f->algo) return f->algo;
    const char *p = i ? (in->similar_paths ? in->similar_paths[i - 1] : NULL) : in->scores_path;
    return p ? p : i ? "scores" : "this report";
}

static void similarity_section(ac__sbuf *b, const ac_report_input *in, const similarity_data *sd) {
    char cnt[32], num[32];
    ac__sb_puts(b, "<section id=\"similarity\">\n<h2>Similarity</h2>\n<p class=\"caption\">How much the rankings agree: "
                   "|top-N(A) &cap; top-N(B)| / N by |score| (auto-circuit's prune_score_similarities; "
                   "&ndash; where ties make a top-N set larger than N). Darker cells agree more.</p>\n<div class=\"plots\">\n");
    for (size_t k = 0; k < sd->n_tops; k++) {
        ac__sb_printf(b, "<div><h3>top-%s</h3>\n<table class=\"similarity\">\n<thead><tr><th></th>",
                      ac__fmt_count(sd->tops[k], cnt, sizeof cnt));
        for (size_t j = 0; j < sd->n; j++) {
            ac__sb_puts(b, "<th>");
            esc(b, similar_name(in, j));
            ac__sb_puts(b, "</th>");
        }
        ac__sb_puts(b, "</tr></thead>\n<tbody>\n");
        for (size_t i = 0; i < sd->n; i++) {
            ac__sb_puts(b, "<tr><th>");
            esc(b, similar_name(in, i));
            ac__sb_puts(b, "</th>");
            for (size_t j = 0; j < sd->n; j++) {
                const double v = sd->ov[(i * sd->n + j) * sd->n_tops + k];
                if (v == v)
                    ac__sb_printf(b, "<td class=\"num\" style=\"background:rgba(29,78,216,%.2f);color:%s\">%s</td>",
                                  0.08 + 0.72 * v, v > 0.55 ? "#ffffff" : "#111827", (snprintf(num, sizeof num, "%.3f", v), num));
                else
                    ac__sb_puts(b, "<td class=\"num\">&ndash;</td>");
            }
            ac__sb_puts(b, "</tr>\n");
        }
        ac__sb_puts(b, "</tbody></table></div>\n");
    }
    ac__sb_puts(b, "</div>\n</section>\n");
}

static int html_page(ac__sbuf *b, const ac__report_prep *p, const ac_report_layout *l, const similarity_data *sd) {
    const ac_report_input *in = p->in;
    const ac_scores_file *f = in->scores;
    const char *title = in->title ? in->title : "Circuit report";
    char cnt[32], cnt2[32];
    ac__sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<meta name=\"generator\" content=\"autocircuit " AC_VERSION "\">\n<title>");
    esc(b, title);
    ac__sb_printf(b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<header>\n<h1>", page_css);
    esc(b, title);
    ac__sb_puts(b, "</h1>\n<p class=\"meta\">");
    if (f->algo) {
        ac__sb_puts(b, "Algorithm <b>");
        esc(b, f->algo);
        ac__sb_puts(b, "</b> &middot; ");
    }
    ac__sb_printf(b, "%s edges", ac__fmt_count(f->n_edges, cnt, sizeof cnt));
    if (f->seq_len > 0) ac__sb_printf(b, " over %d token positions", f->seq_len);
    ac__sb_printf(b, " &middot; %s drawn", ac__fmt_count(l->n_edges, cnt2, sizeof cnt2));
    if (in->scores_path) {
        ac__sb_puts(b, " &middot; ");
        esc(b, in->scores_path);
    }
    ac__sb_puts(b, "</p>\n</header>\n");

    ac__sb_puts(b, "<section id=\"circuit\">\n<h2>Circuit</h2>\n<div class=\"figure\">\n");
    ac__diagram_svg(b, p, l, 0);
    ac__sb_puts(b, "</div>\n<p class=\"caption\">Edges run upwards from a source's top to a destination's "
                   "input: Resid Start (the embeddings) at the bottom, Resid End (the final residual) at the "
                   "top, one row per attention layer and MLP. A head's box has its output on top and its "
                   "Q/K/V inputs as the cells along its bottom. Width grows with |score| (linearly), blue is a "
                   "positive score, red a negative one");
    if (p->in_gt) ac__sb_puts(b, "; an amber halo marks edges in the ground truth");
    if (f->seq_len > 0) ac__sb_puts(b, ". One column per token position, labelled with its token below");
    ac__sb_puts(b, ". Hover over an edge or node for its name and score.</p>\n</section>\n");

    if (in->curve && curves_section(b, p, l)) return -1;
    if (roc_section(b, p)) return -1;
    if (in->n_knockouts && completeness_section(b, in)) return -1;
    if (sd->n > 1) similarity_section(b, in, sd);
    edges_table(b, p, l);
    settings_section(b, p, l);
    ac__sb_puts(b, "<footer>Made by autocircuit " AC_VERSION ".</footer>\n</main>\n</body>\n</html>\n");
    return 0;
}

int ac_report_render(const ac_report_input *in, ac_report_format format, char **text, size_t *len,
                     ac_error *err) {
    if (!text) return ac_error_set(err, AC_ERR_ARG, NULL, "report: NULL output");
    *text = NULL;
    if (len) *len = 0;
    if (format != AC_REPORT_HTML && format != AC_REPORT_SVG)
        return ac_error_set(err, AC_ERR_ARG, NULL, "report: unknown format %d", (int)format);
    ac__report_prep p;
    int rc = ac__report_prepare(in, &p, err);
    if (rc) return rc;
    ac_report_layout *l = NULL;
    rc = ac__layout_build(&p, &l, err);
    if (rc) {
        ac__report_prep_free(&p);
        return rc;
    }
    /* the similarity matrix first: a scores file of another graph is an error */
    similarity_data sd = {NULL, NULL, 0, 1};
    double *ov = NULL;
    size_t tops[64];
    if (format == AC_REPORT_HTML && in->n_similar > 0) {
        const size_t n = in->n_similar + 1, E = in->scores->n_edges;
        if (in->similarity_top && in->n_similarity_top)
            for (size_t k = 0; k < in->n_similarity_top && sd.n_tops < 64; k++) tops[sd.n_tops++] = in->similarity_top[k];
        else
            for (size_t t = 10; t <= 100; t *= 10)
                if (t <= E) tops[sd.n_tops++] = t;
        const ac_scores_file **files = ac_calloc(n, sizeof *files);
        const char **paths = ac_calloc(n, sizeof *paths);
        ov = ac_calloc(n * n * (sd.n_tops ? sd.n_tops : 1), sizeof *ov);
        if (!files || !paths || !ov) rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "report: out of memory");
        for (size_t i = 0; !rc && i < n; i++) {
            files[i] = i ? in->similar[i - 1] : in->scores;
            paths[i] = i ? (in->similar_paths && in->similar_paths[i - 1] ? in->similar_paths[i - 1] : "scores")
                         : (in->scores_path ? in->scores_path : "scores");
        }
        if (!rc) rc = ac__scores_similarity(files, paths, n, tops, sd.n_tops, ov, err);
        ac_free(files);
        ac_free(paths);
        sd = (similarity_data){ov, tops, sd.n_tops, n};
        if (rc) {
            ac_free(ov);
            ac_report_layout_free(l);
            ac__report_prep_free(&p);
            return rc;
        }
    }
    ac__sbuf b = {0};
    int bad = 0;
    if (format == AC_REPORT_SVG) ac__diagram_svg(&b, &p, l, 1);
    else bad = html_page(&b, &p, l, &sd);
    ac_free(ov);
    ac_report_layout_free(l);
    ac__report_prep_free(&p);
    if (bad || b.failed || !b.p) {
        ac__sb_free(&b);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "report: out of memory");
    }
    *text = b.p;
    if (len) *len = b.n;
    return AC_OK;
}

static int write_format(const char *path, const ac_report_input *in, ac_report_format fmt, ac_error *err) {
    char *text;
    size_t n;
    int rc = ac_report_render(in, fmt, &text, &n, err);
    if (rc) return rc;
    ac__afile af;
    rc = ac__afile_open(&af, path, err);
    if (rc) {
        ac_free(text);
        return rc;
    }
    fwrite(text, 1, n, af.f);
    ac_free(text);
    return ac__afile_commit(&af, err);
}

int ac_report_write_html(const char *path, const ac_report_input *in, ac_error *err) {
    return write_format(path, in, AC_REPORT_HTML, err);
}

int ac_report_write_svg(const char *path, const ac_report_input *in, ac_error *err) {
    return write_format(path, in, AC_REPORT_SVG, err);
}
