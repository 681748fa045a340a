/* The circuit diagram as SVG, drawn from its layout (layout.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

#define COLOR_POS "#1d4ed8"
#define COLOR_NEG "#dc2626"
#define COLOR_ZERO "#888888"
#define COLOR_GT "#fbbf24"

static const char *edge_color(double s) { return s > 0 ? COLOR_POS : s < 0 ? COLOR_NEG : COLOR_ZERO; }

/* <text> centred in box b. */
static void text_in_box(ac__sbuf *sb, const ac_report_box *b, double px, int bold, const char *fill,
                        const char *data_box) {
    double lh = (AC__ASCENT + AC__DESCENT) * px;
    double base = b->y + (b->h - lh) / 2 + AC__ASCENT * px;
    ac__sb_printf(sb, "<text class=\"ac-text\" x=\"%.1f\" y=\"%.1f\" font-size=\"%g\"%s fill=\"%s\" text-anchor=\"middle\"",
                  b->x + b->w / 2, base, px, bold ? " font-weight=\"bold\"" : "", fill);
    if (data_box) ac__sb_printf(sb, " data-box=\"%s\"", data_box);
    ac__sb_puts(sb, ">");
    ac__sb_esc(sb, b->text);
    ac__sb_puts(sb, "</text>\n");
}

static void node_style(const char *name, const char **fill, const char **stroke) {
    if (!strncmp(name, "Resid", 5)) *fill = "#f1f1f1", *stroke = "#8a8a8a";
    else if (!strncmp(name, "MLP", 3)) *fill = "#e6f4ea", *stroke = "#4f8a5e";
    else *fill = "#e8eefc", *stroke = "#55688f";
}

static void edge_path(ac__sbuf *sb, const ac_report_edge *e) {
    double dy = e->y1 - e->y2;
    double k = dy * 0.45;
    ac__sb_printf(sb, "M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f", e->x1, e->y1, e->x1, e->y1 - k, e->x2,
                  e->y2 + k, e->x2, e->y2);
}

void ac__diagram_svg(ac__sbuf *sb, const ac__report_prep *p, const ac_report_layout *l, int standalone) {
    const ac_scores_file *f = p->in->scores;
    if (standalone) ac__sb_puts(sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    ac__sb_printf(sb, "<svg%s class=\"ac-svg ac-diagram\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                      "font-family=\"%s\" role=\"img\" aria-label=\"circuit diagram\">\n",
                  standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : "", l->width, l->height, l->width,
                  l->height, "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, sans-serif");
    ac__sb_printf(sb, "<title>");
    ac__sb_esc(sb, p->in->title ? p->in->title : "Circuit diagram");
    ac__sb_printf(sb, "</title>\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", l->width,
                  l->height);

    /* edges: ground-truth halos first, then the edges thinnest first */
    ac__sb_puts(sb, "<g class=\"ac-edges\" fill=\"none\" stroke-linecap=\"round\">\n");
    for (size_t i = l->n_edges; i-- > 0;) {
        const ac_report_edge *e = &l->edges[i];
        if (!e->in_ground_truth) continue;
        ac__sb_printf(sb, "<path class=\"ac-gt-halo\" d=\"");
        edge_path(sb, e);
        ac__sb_printf(sb, "\" stroke=\"%s\" stroke-opacity=\"0.45\" stroke-width=\"%.1f\"/>\n", COLOR_GT, e->width + 4);
    }
    char num[32], rank[32];
    for (size_t i = l->n_edges; i-- > 0;) {
        const ac_report_edge *e = &l->edges[i];
        const ac_edge_record *r = &f->edges[e->record];
        ac__sb_printf(sb, "<path class=\"ac-edge%s\" d=\"", e->in_ground_truth ? " ac-gt" : "");
        edge_path(sb, e);
        /* stronger edges are also more opaque: 0.35 .. 0.85 */
        double opacity = 0.35 + 0.5 * (e->width - 1) / 7;
        ac__sb_printf(sb, "\" stroke=\"%s\" stroke-opacity=\"%.2f\" stroke-width=\"%.2f\"><title>",
                      edge_color(r->score), opacity, e->width);
        ac__sb_esc(sb, r->src);
        ac__sb_puts(sb, " \xE2\x86\x92 ");
        ac__sb_esc(sb, r->dest);
        if (r->pos >= 0) {
            ac__sb_printf(sb, " at position %d", r->pos);
            if (f->seq_labels && (size_t)r->pos < f->n_seq_labels) {
                ac__sb_puts(sb, " (\xE2\x80\x9C");
                ac__sb_esc(sb, f->seq_labels[r->pos]);
                ac__sb_puts(sb, "\xE2\x80\x9D)");
            }
        }
        ac__sb_printf(sb, ": score %s, rank %s%s</title></path>\n", ac__fmt_num(r->score, num, sizeof num),
                      ac__fmt_count(i + 1, rank, sizeof rank), e->in_ground_truth ? ", in the ground truth" : "");
    }
    ac__sb_puts(sb, "</g>\n<g class=\"ac-nodes\">\n");

    /* nodes with their labels and ports; then free text and legend swatches */
    char id[32], pid[32];
    for (size_t i = 0; i < l->n_boxes; i++) {
        const ac_report_box *b = &l->boxes[i];
        switch (b->kind) {
        case AC_REPORT_NODE: {
            const char *fill, *stroke;
            node_style(b->text, &fill, &stroke);
            snprintf(id, sizeof id, "b%zu", i);
            ac__sb_printf(sb, "<g><title>");
            ac__sb_esc(sb, b->text);
            if (b->pos >= 0) ac__sb_printf(sb, " at position %d", b->pos);
            ac__sb_printf(sb, "</title><rect id=\"%s\" class=\"ac-box ac-node\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                              "height=\"%.1f\" rx=\"4\" fill=\"%s\" fill-opacity=\"0.82\" stroke=\"%s\"/></g>\n",
                          id, b->x, b->y, b->w, b->h, fill, stroke);
            break;
        }
        case AC_REPORT_NODE_LABEL:
            snprintf(pid, sizeof pid, "b%d", b->parent);
            text_in_box(sb, b, b->font_px, 0, "#1f2937", pid);
            break;
        case AC_REPORT_PORT:
            ac__sb_printf(sb, "<rect class=\"ac-port\" data-box=\"b%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                              "height=\"%.1f\" fill=\"#ffffff\" fill-opacity=\"0.7\" stroke=\"#9aa5bd\" "
                              "stroke-width=\"0.8\"/>\n",
                          b->parent, b->x, b->y, b->w, b->h);
            break;
        case AC_REPORT_PORT_LABEL:
            snprintf(pid, sizeof pid, "b%d", l->boxes[b->parent].parent);
            text_in_box(sb, b, b->font_px, 0, "#4b5563", pid);
            break;
        case AC_REPORT_TOKEN:
            snprintf(id, sizeof id, "b%zu", i);
            ac__sb_printf(sb, "<rect id=\"%s\" class=\"ac-box ac-chip\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                              "height=\"%.1f\" rx=\"3\" fill=\"#f3f4f6\" stroke=\"#d1d5db\"/>\n",
                          id, b->x, b->y, b->w, b->h);
            text_in_box(sb, b, b->font_px, 0, "#111827", id);
            break;
        case AC_REPORT_TEXT:
            text_in_box(sb, b, b->font_px, b->bold, b->bold ? "#111827" : b->pos >= 0 ? "#6b7280" : "#4b5563", NULL);
            break;
        case AC_REPORT_SWATCH: {
            int kind = !strcmp(b->text, "positive") ? 1 : !strcmp(b->text, "negative") ? 2
                     : !strcmp(b->text, "min") ? 3 : !strcmp(b->text, "max") ? 4 : 5;
            double cy = b->y + b->h / 2;
            ac__sb_printf(sb, "<g><rect class=\"ac-box ac-swatch\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                              "fill=\"none\"/>",
                          b->x, b->y, b->w, b->h);
            const char *color = kind == 2 ? COLOR_NEG : kind == 1 ? COLOR_POS : "#6b7280";
            double w = kind == 4 ? 8 : kind == 3 ? 1 : 3;
            if (kind == 5) {
                ac__sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-opacity=\"0.5\" "
                                  "stroke-width=\"10\" stroke-linecap=\"round\"/>",
                              b->x + 6, cy, b->x + b->w - 6, cy, COLOR_GT);
                color = COLOR_POS;
            }
            ac__sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-opacity=\"%s\" "
                              "stroke-width=\"%g\" stroke-linecap=\"round\"/></g>\n",
                          b->x + 6, cy, b->x + b->w - 6, cy, color, kind >= 3 && kind <= 4 ? "0.8" : "0.6", w);
            break;
        }
        }
    }
    ac__sb_puts(sb, "</g>\n</svg>\n");
}
