/* The report's data preparation (node names, ground-truth matching, edge selection) and
 * the circuit diagram's layout: rows by graph layer, one column per token position. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"

/* ---- node names ---- */

static int parse_uint(const char **p, int *out) {
    const char *s = *p;
    long v = 0;
    int nd = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (++nd > 6) return -1;
        s++;
    }
    if (nd == 0 || (nd > 1 && **p == '0')) return -1;
    *out = (int)v;
    *p = s;
    return 0;
}

int ac__parse_node(const char *name, int is_dest, ac__node_ref *r) {
    r->layer = r->index = -1;
    r->port = 0;
    if (!strcmp(name, "Resid Start")) {
        r->kind = AC__NK_RESID_START;
        return is_dest ? -1 : 0;
    }
    if (!strcmp(name, "Resid End")) {
        r->kind = AC__NK_RESID_END;
        return is_dest ? 0 : -1;
    }
    const char *p = name;
    if (!strncmp(p, "MLP ", 4)) {
        p += 4;
        r->kind = AC__NK_MLP;
        if (parse_uint(&p, &r->layer) || *p) return -1;
        return 0;
    }
    if (*p != 'A') return -1;
    p++;
    if (parse_uint(&p, &r->layer) || *p != '.') return -1;
    p++;
    if (!strncmp(p, "kv", 2)) {
        p += 2;
        r->kind = AC__NK_KV;
        if (!is_dest || parse_uint(&p, &r->index) || *p != '.') return -1;
        p++;
        if ((p[0] != 'K' && p[0] != 'V') || p[1]) return -1;
        r->port = p[0];
        return 0;
    }
    r->kind = AC__NK_HEAD;
    if (parse_uint(&p, &r->index)) return -1;
    if (!*p) {
        if (is_dest) r->port = 'I';
        return 0;
    }
    if (!is_dest || p[0] != '.' || (p[1] != 'Q' && p[1] != 'K' && p[1] != 'V') || p[2])
        return -1;
    r->port = p[1];
    return 0;
}

/* ---- ground truth ---- */

static uint64_t edge_hash(const char *src, const char *dest, int pos) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *s = (const unsigned char *)src; *s; s++) h = (h ^ *s) * 1099511628211ull;
    h = (h ^ 0x1F) * 1099511628211ull;
    for (const unsigned char *s = (const unsigned char *)dest; *s; s++) h = (h ^ *s) * 1099511628211ull;
    h = (h ^ (uint64_t)(uint32_t)pos) * 1099511628211ull;
    return h ^ (h >> 29);
}

typedef struct edge_index {
    size_t *slots; /* edge index + 1, 0 = empty */
    size_t mask;
    const ac_scores_file *f;
} edge_index;

static int index_build(edge_index *ix, const ac_scores_file *f) {
    size_t cap = 16;
    while (cap < 2 * f->n_edges + 16) cap *= 2;
    ix->slots = ac_calloc(cap, sizeof *ix->slots);
    if (!ix->slots) return -1;
    ix->mask = cap - 1;
    ix->f = f;
    for (size_t e = 0; e < f->n_edges; e++) {
        const ac_edge_record *r = &f->edges[e];
        size_t s = (size_t)edge_hash(r->src, r->dest, r->pos) & ix->mask;
        while (ix->slots[s]) s = (s + 1) & ix->mask;
        ix->slots[s] = e + 1;
    }
    return 0;
}

/* The scores-file index of an edge, or (size_t)-1. */
static size_t index_find(const edge_index *ix, const char *src, const char *dest, int pos) {
    size_t s = (size_t)edge_hash(src, dest, pos) & ix->mask;
    while (ix->slots[s]) {
        const ac_edge_record *r = &ix->f->edges[ix->slots[s] - 1];
        if (r->pos == pos && !strcmp(r->src, src) && !strcmp(r->dest, dest)) return ix->slots[s] - 1;
        s = (s + 1) & ix->mask;
    }
    return (size_t)-1;
}

static int seq_len_of(const ac_scores_file *f) {
    int t = f->seq_len > 0 ? f->seq_len : 0;
    for (size_t e = 0; e < f->n_edges; e++)
        if (f->edges[e].pos >= t) t = f->edges[e].pos + 1;
    return t;
}

static int match_ground_truth(const ac_report_input *in, ac__report_prep *p, ac_error *err) {
    const ac_scores_file *f = in->scores, *gt = in->ground_truth;
    const char *gtname = in->ground_truth_path ? in->ground_truth_path : "ground truth";
    p->in_gt = ac_calloc(f->n_edges ? f->n_edges : 1, 1);
    edge_index ix = {0};
    if (!p->in_gt || index_build(&ix, f))
        return ac_free(ix.slots), ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    const int T = seq_len_of(f);
    for (size_t g = 0; g < gt->n_edges; g++) {
        const ac_edge_record *r = &gt->edges[g];
        int found = 0;
        if (r->pos < 0 && T > 0) { /* position-free ground truth: every position */
            for (int t = 0; t < T; t++) {
                size_t e = index_find(&ix, r->src, r->dest, t);
                if (e != (size_t)-1) p->in_gt[e] = 1, found = 1;
            }
        } else {
            size_t e = index_find(&ix, r->src, r->dest, T > 0 ? r->pos : -1);
            if (e != (size_t)-1) p->in_gt[e] = 1, found = 1;
        }
        if (!found) {
            ac_free(ix.slots);
            if (r->pos >= 0 && T > 0)
                return ac_error_set(err, AC_ERR_SHAPE, gtname,
                                    "edge %s->%s at position %d is not in the scores file "
                                    "(ground truth for another graph?)", r->src, r->dest, r->pos);
            return ac_error_set(err, AC_ERR_SHAPE, gtname,
                                "edge %s->%s is not in the scores file (ground truth for "
                                "another graph?)", r->src, r->dest);
        }
    }
    ac_free(ix.slots);
    for (size_t e = 0; e < f->n_edges; e++) p->n_gt += p->in_gt[e];
    return AC_OK;
}

/* ---- selection ---- */

typedef struct ranked {
    double a;
    size_t i;
} ranked;

static int cmp_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->a != b->a) return a->a > b->a ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

int ac__report_prepare(const ac_report_input *in, ac__report_prep *p, ac_error *err) {
    memset(p, 0, sizeof *p);
    p->in = in;
    if (!in || !in->scores) return ac_error_set(err, AC_ERR_ARG, NULL, "report: no scores file");
    const ac_scores_file *f = in->scores;
    const char *fname = in->scores_path ? in->scores_path : "scores";
    if (!f->has_scores)
        return ac_error_set(err, AC_ERR_ARG, fname,
                            "has no scores (a ground-truth file? pass it as the ground truth)");
    p->top = in->top ? in->top : AC_REPORT_DEFAULT_TOP;
    if (p->top > AC_REPORT_MAX_EDGES)
        return ac_error_set(err, AC_ERR_ARG, NULL, "report: %zu edges asked for, at most %d can be drawn",
                            p->top, AC_REPORT_MAX_EDGES);
    int max_layer = -1;
    for (int which = 0; which < 2; which++) {
        const ac_scores_file *ff = which ? in->ground_truth : f;
        if (!ff) continue;
        const char *nm = which ? (in->ground_truth_path ? in->ground_truth_path : "ground truth") : fname;
        for (size_t e = 0; e < ff->n_edges; e++) {
            ac__node_ref a, b;
            const ac_edge_record *r = &ff->edges[e];
            if (ac__parse_node(r->src, 0, &a))
                return ac_error_set(err, AC_ERR_FORMAT, nm, "edges[%zu]: '%s' is not a source node name", e, r->src);
            if (ac__parse_node(r->dest, 1, &b))
                return ac_error_set(err, AC_ERR_FORMAT, nm, "edges[%zu]: '%s' is not a destination node name", e, r->dest);
            if (a.layer > max_layer) max_layer = a.layer;
            if (b.layer > max_layer) max_layer = b.layer;
        }
    }
    p->n_layers = max_layer + 1;
    if (in->ground_truth) {
        int rc = match_ground_truth(in, p, err);
        if (rc) {
            ac__report_prep_free(p);
            return rc;
        }
    }
    ranked *rk = ac_malloc((f->n_edges ? f->n_edges : 1) * sizeof *rk);
    if (!rk) {
        ac__report_prep_free(p);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    size_t n = 0;
    for (size_t e = 0; e < f->n_edges; e++) {
        double s = f->edges[e].score;
        if (isnan(s) || s == 0) continue;
        rk[n].a = fabs(s);
        rk[n].i = e;
        n++;
    }
    qsort(rk, n, sizeof *rk, cmp_ranked);
    p->n_candidates = n;
    size_t k = p->top < n ? p->top : n, m = 0;
    if (k > 0) {
        double thr = rk[k - 1].a;
        m = k;
        while (m < n && rk[m].a >= thr) m++;
    }
    if (m > AC_REPORT_MAX_EDGES) {
        p->n_dropped = m - AC_REPORT_MAX_EDGES;
        m = AC_REPORT_MAX_EDGES;
    }
    p->sel = ac_malloc((m ? m : 1) * sizeof *p->sel);
    if (!p->sel) {
        ac_free(rk);
        ac__report_prep_free(p);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < m; i++) p->sel[i] = rk[i].i;
    p->n_sel = m;
    ac_free(rk);
    return AC_OK;
}

void ac__report_prep_free(ac__report_prep *p) {
    ac_free(p->in_gt);
    ac_free(p->sel);
    p->in_gt = NULL;
    p->sel = NULL;
}

/* ---- layout ---- */

#define FS_NODE 12.0
#define FS_PORT 10.0
#define FS_SMALL 11.0
#define FS_TITLE 13.0
#define MARGIN 16.0
#define PAD_X 6.0
#define NODE_H 24.0
#define PORT_H 16.0
#define PORT_MIN_W 18.0
#define H_GAP 12.0
#define COL_GAP 32.0
#define MIN_COL_W 360.0     /* one column (no positions) */
#define MIN_COL_W_POS 150.0 /* a token position's column */
#define MAX_POSITIONS_SHOWN 48 /* more positions: only those with drawn edges */
#define ROW_GAP 34.0
#define GUTTER_GAP 14.0
#define LEGEND_GAP 18.0
#define SWATCH_W 30.0
#define SWATCH_H 14.0
#define CHIP_PAD 8.0

typedef struct lnode {
    ac__node_ref ref; /* port ignored */
    int pos, col, row;
    char name[32];
    double x, y, w, h;
    int n_ports;          /* 0 (single input), 1 (Q: grouped-query heads), 2 (K, V), 3 */
    char ports[3];
    int box, port_box[3];
    size_t n_out, n_in[3];
} lnode;

typedef struct lay {
    const ac__report_prep *p;
    lnode *nodes;
    size_t n_nodes, cap_nodes;
    size_t *e_src, *e_dest; /* per drawn edge: node indices */
    int *e_port;            /* port slot of the destination (0 for single-input nodes) */
    ac_report_box *boxes;
    size_t n_boxes, cap_boxes;
    int head_ports;         /* ports of a head: 3 (Q,K,V), 1 (Q only: grouped-query), 0 */
} lay;

static int add_box(lay *L, ac_report_box_kind kind, int parent, double x, double y, double w,
                   double h, const char *text, int pos, double font_px, int bold) {
    if (L->n_boxes == L->cap_boxes) {
        size_t cap = L->cap_boxes ? 2 * L->cap_boxes : 256;
        ac_report_box *nb = ac_realloc(L->boxes, cap * sizeof *nb);
        if (!nb) return -1;
        L->boxes = nb;
        L->cap_boxes = cap;
    }
    ac_report_box *b = &L->boxes[L->n_boxes];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->parent = parent;
    b->x = x, b->y = y, b->w = w, b->h = h;
    snprintf(b->text, sizeof b->text, "%s", text ? text : "");
    b->pos = pos;
    b->font_px = font_px;
    b->bold = bold;
    return (int)L->n_boxes++;
}

static int same_node(const lnode *n, const ac__node_ref *r, int pos) {
    return n->pos == pos && n->ref.kind == r->kind && n->ref.layer == r->layer &&
           n->ref.index == r->index;
}

static int row_of(const ac__node_ref *r, int n_layers) {
    switch (r->kind) {
    case AC__NK_RESID_START: return 0;
    case AC__NK_HEAD:
    case AC__NK_KV: return 1 + 2 * r->layer;
    case AC__NK_MLP: return 2 + 2 * r->layer;
    default: return 2 * n_layers + 1;
    }
}

static void node_name(const ac__node_ref *r, char *buf, size_t n) {
    switch (r->kind) {
    case AC__NK_RESID_START: snprintf(buf, n, "Resid Start"); break;
    case AC__NK_RESID_END: snprintf(buf, n, "Resid End"); break;
    case AC__NK_MLP: snprintf(buf, n, "MLP %d", r->layer); break;
    case AC__NK_KV: snprintf(buf, n, "A%d.kv%d", r->layer, r->index); break;
    default: snprintf(buf, n, "A%d.%d", r->layer, r->index);
    }
}

/* Index of the node (creating it). */
static long node_get(lay *L, const ac__node_ref *r, int pos) {
    for (size_t i = 0; i < L->n_nodes; i++)
        if (same_node(&L->nodes[i], r, pos)) return (long)i;
    if (L->n_nodes == L->cap_nodes) {
        size_t cap = L->cap_nodes ? 2 * L->cap_nodes : 64;
        lnode *nn = ac_realloc(L->nodes, cap * sizeof *nn);
        if (!nn) return -1;
        L->nodes = nn;
        L->cap_nodes = cap;
    }
    lnode *n = &L->nodes[L->n_nodes];
    memset(n, 0, sizeof *n);
    n->ref = *r;
    n->ref.port = 0;
    n->pos = pos;
    n->row = row_of(r, L->p->n_layers);
    n->box = -1;
    node_name(r, n->name, sizeof n->name);
    if (r->kind == AC__NK_HEAD && L->head_ports == 3) {
        n->n_ports = 3;
        memcpy(n->ports, "QKV", 3);
    } else if (r->kind == AC__NK_HEAD && L->head_ports == 1) {
        n->n_ports = 1;
        n->ports[0] = 'Q';
    } else if (r->kind == AC__NK_KV) {
        n->n_ports = 2;
        memcpy(n->ports, "KV", 2);
    }
    return (long)L->n_nodes++;
}

static int port_slot(const lnode *n, char port) {
    for (int i = 0; i < n->n_ports; i++)
        if (n->ports[i] == port) return i;
    return 0;
}

static int cmp_node(const void *pa, const void *pb) {
    const lnode *a = pa, *b = pb;
    if (a->pos != b->pos) return a->pos < b->pos ? -1 : 1;
    if (a->row != b->row) return a->row < b->row ? -1 : 1;
    if (a->ref.kind != b->ref.kind) return a->ref.kind < b->ref.kind ? -1 : 1;
    return a->ref.index < b->ref.index ? -1 : a->ref.index > b->ref.index;
}

/* Sort keys for spreading edge ends along a side. */
typedef struct slot_key {
    double other_x;
    size_t edge;
} slot_key;

static int cmp_slot(const void *pa, const void *pb) {
    const slot_key *a = pa, *b = pb;
    if (a->other_x != b->other_x) return a->other_x < b->other_x ? -1 : 1;
    return a->edge < b->edge ? -1 : a->edge > b->edge;
}

static double port_center_x(const lnode *n, int slot) {
    if (n->n_ports == 0) return n->x + n->w / 2;
    double pw = n->w / n->n_ports;
    return n->x + pw * (slot + 0.5);
}

/* The legend: title line, then swatches with labels wrapped to max_w. Adds the boxes
 * when `emit`; returns the height used and the widest line in *used_w. */
typedef struct legend_item {
    char text[96];
    int swatch; /* 0 title, -1 note, 1 positive, 2 negative, 3 thin, 4 thick, 5 ground truth */
} legend_item;

static int legend_place(lay *L, const legend_item *it, size_t n, double x0, double y0,
                        double max_w, int emit, double *height, double *used_w) {
    const double th = ac__text_box_h(FS_TITLE), sh = ac__text_box_h(FS_SMALL);
    double x = x0, y = y0, line_h = 0, widest = 0;
    for (size_t i = 0; i < n; i++) {
        if (it[i].swatch <= 0) { /* the title (0) or a note (-1): a line of its own */
            const int title = it[i].swatch == 0;
            const double fs = title ? FS_TITLE : FS_SMALL, hh = title ? th : sh;
            if (x > x0) y += line_h + 6; /* after swatches */
            double w = ac__text_box_w(it[i].text, fs, title);
            if (emit && add_box(L, AC_REPORT_TEXT, -1, x0, y, w, hh, it[i].text, -1, fs, title) < 0) return -1;
            if (w > widest) widest = w;
            y += hh + 6;
            x = x0;
            line_h = 0;
            continue;
        }
        double tw = ac__text_box_w(it[i].text, FS_SMALL, 0);
        double w = SWATCH_W + 4 + tw;
        if (x > x0 && x + w > x0 + max_w) { /* wrap */
            y += line_h + 6;
            x = x0;
            line_h = 0;
        }
        double h = sh > SWATCH_H ? sh : SWATCH_H;
        if (emit) {
            static const char *const tags[] = {"", "positive", "negative", "min", "max", "ground-truth"};
            const char *tag = tags[it[i].swatch];
            if (add_box(L, AC_REPORT_SWATCH, -1, x, y + (h - SWATCH_H) / 2, SWATCH_W, SWATCH_H, tag, -1, 0, 0) < 0 ||
                add_box(L, AC_REPORT_TEXT, -1, x + SWATCH_W + 4, y + (h - sh) / 2, tw, sh, it[i].text, -1, FS_SMALL, 0) < 0)
                return -1;
        }
        if (h > line_h) line_h = h;
        x += w + 18;
        if (x - 18 - x0 > widest) widest = x - 18 - x0;
    }
    *height = (line_h > 0 ? y + line_h : y - 6) - y0;
    *used_w = widest;
    return 0;
}

static void free_lay(lay *L) {
    ac_free(L->nodes);
    ac_free(L->e_src);
    ac_free(L->e_dest);
    ac_free(L->e_port);
    ac_free(L->boxes);
}

static const char *token_label(const ac_scores_file *f, int pos, char *buf, size_t n) {
    if (f->seq_labels && (size_t)pos < f->n_seq_labels && f->seq_labels[pos])
        ac__label_text(f->seq_labels[pos], buf, n, 18);
    else
        snprintf(buf, n, "pos %d", pos);
    return buf;
}

/* Head slots of one column: every head index used in some row of the column gets a
 * slot, in index order, so that a head index keeps its x across layers; key/value groups
 * follow the heads. Fills slot[] (heads 0..max_h, then groups at max_h + 1 + g) with the
 * slot's x offset or -1 and *n_slots; returns the width of the slots at the given gap. */
static double column_slots(const lay *L, int pos, int max_h, int max_kv, double head_w, double kv_w,
                           double gap, double *slot, int *n_slots) {
    const int n = max_h + 1 + max_kv + 1;
    for (int i = 0; i < n; i++) slot[i] = -1;
    for (size_t i = 0; i < L->n_nodes; i++) {
        const lnode *nd = &L->nodes[i];
        if (nd->pos != pos) continue;
        if (nd->ref.kind == AC__NK_HEAD) slot[nd->ref.index] = 0;
        else if (nd->ref.kind == AC__NK_KV) slot[max_h + 1 + nd->ref.index] = 0;
    }
    double x = 0;
    *n_slots = 0;
    for (int i = 0; i < n; i++) {
        if (slot[i] < 0) continue;
        slot[i] = x;
        x += (i <= max_h ? head_w : kv_w) + gap;
        ++*n_slots;
    }
    return x > 0 ? x - gap : 0;
}

int ac__layout_build(const ac__report_prep *p, ac_report_layout **out, ac_error *err) {
    const ac_scores_file *f = p->in->scores;
    lay L;
    memset(&L, 0, sizeof L);
    L.p = p;
    *out = NULL;
    /* what a head's inputs look like in this file */
    int has_qkv = 0, has_kv = 0;
    for (size_t e = 0; e < f->n_edges; e++) {
        ac__node_ref r;
        if (ac__parse_node(f->edges[e].dest, 1, &r)) continue;
        if (r.kind == AC__NK_KV) has_kv = 1;
        if (r.kind == AC__NK_HEAD && r.port && r.port != 'I') has_qkv = 1;
    }
    L.head_ports = has_kv ? 1 : has_qkv ? 3 : 0;
    const int T = seq_len_of(f); /* 0: not per position */
    const int n_rows = 2 * p->n_layers + 2;
    const size_t ns = p->n_sel;
    ac_report_layout *res = ac_calloc(1, sizeof *res);
    L.e_src = ac_malloc((ns + 1) * sizeof *L.e_src);
    L.e_dest = ac_malloc((ns + 1) * sizeof *L.e_dest);
    L.e_port = ac_malloc((ns + 1) * sizeof *L.e_port);
    const int n_cols_all = T > 0 ? T : 1;
    int *col_active = ac_calloc((size_t)n_cols_all, sizeof *col_active);
    int *row_active = ac_calloc((size_t)n_rows, sizeof *row_active);
    double *row_h = ac_calloc((size_t)n_rows, sizeof *row_h);
    double *row_y = ac_calloc((size_t)n_rows, sizeof *row_y);
    double *col_x = ac_calloc((size_t)n_cols_all, sizeof *col_x);
    double *col_w = ac_calloc((size_t)n_cols_all, sizeof *col_w);
    slot_key *keys = ac_malloc((ns + 1) * sizeof *keys);
    double *slot = NULL;
    if (!res || !L.e_src || !L.e_dest || !L.e_port || !col_active || !row_active || !row_h ||
        !row_y || !col_x || !col_w || !keys)
        goto nomem;

    /* nodes of the drawn edges, and the resid bars of every active column */
    for (size_t i = 0; i < ns; i++) {
        const ac_edge_record *r = &f->edges[p->sel[i]];
        ac__node_ref a, b;
        ac__parse_node(r->src, 0, &a); /* validated by ac__report_prepare */
        ac__parse_node(r->dest, 1, &b);
        int pos = T > 0 ? r->pos : -1;
        if (T > 0 && pos < 0) pos = 0;
        long sa = node_get(&L, &a, pos), sb;
        if (sa < 0) goto nomem;
        sb = node_get(&L, &b, pos);
        if (sb < 0) goto nomem;
        col_active[T > 0 ? pos : 0] = 1;
        L.e_src[i] = (size_t)sa;
        L.e_dest[i] = (size_t)sb;
        L.e_port[i] = port_slot(&L.nodes[sb], b.port);
    }
    if (ns == 0) col_active[0] = 1;
    for (int c = 0; c < n_cols_all; c++) {
        if (!col_active[c]) continue;
        ac__node_ref rs = {AC__NK_RESID_START, -1, -1, 0}, re = {AC__NK_RESID_END, -1, -1, 0};
        int pos = T > 0 ? c : -1;
        if (node_get(&L, &rs, pos) < 0 || node_get(&L, &re, pos) < 0) goto nomem;
    }
    /* sort nodes (pos, row, kind, index); remap the edge ends */
    {
        size_t nn = L.n_nodes;
        lnode *sorted = ac_malloc(nn * sizeof *sorted);
        size_t *remap = ac_malloc(nn * sizeof *remap);
        if (!sorted || !remap) {
            ac_free(sorted);
            ac_free(remap);
            goto nomem;
        }
        for (size_t i = 0; i < nn; i++) L.nodes[i].box = (int)i; /* old index */
        memcpy(sorted, L.nodes, nn * sizeof *sorted);
        qsort(sorted, nn, sizeof *sorted, cmp_node);
        for (size_t i = 0; i < nn; i++) remap[sorted[i].box] = i;
        for (size_t i = 0; i < ns; i++) {
            L.e_src[i] = remap[L.e_src[i]];
            L.e_dest[i] = remap[L.e_dest[i]];
        }
        memcpy(L.nodes, sorted, nn * sizeof *sorted);
        ac_free(sorted);
        ac_free(remap);
    }

    /* node sizes: uniform per kind */
    double head_w = 0, kv_w = 0, mlp_w = 0;
    const double port_w = fmax(PORT_MIN_W, ac__text_box_w("Q", FS_PORT, 0) + 6);
    for (size_t i = 0; i < L.n_nodes; i++) {
        lnode *n = &L.nodes[i];
        double lw = ac__text_box_w(n->name, FS_NODE, 0) + 2 * PAD_X;
        double w = fmax(lw, n->n_ports * port_w);
        if (n->ref.kind == AC__NK_HEAD) head_w = fmax(head_w, w);
        else if (n->ref.kind == AC__NK_KV) kv_w = fmax(kv_w, w);
        else if (n->ref.kind == AC__NK_MLP) mlp_w = fmax(mlp_w, w);
    }
    for (size_t i = 0; i < L.n_nodes; i++) {
        lnode *n = &L.nodes[i];
        n->w = n->ref.kind == AC__NK_HEAD ? head_w : n->ref.kind == AC__NK_KV ? kv_w : mlp_w;
        n->h = NODE_H + (n->n_ports ? PORT_H : 0);
        row_active[n->row] = 1;
        if (n->h > row_h[n->row]) row_h[n->row] = n->h;
    }
    row_active[0] = row_active[n_rows - 1] = 1;
    row_h[0] = row_h[n_rows - 1] = NODE_H;

    /* row labels (left gutter) */
    double gutter = 0;
    char rl[32];
    for (int r = 1; r < n_rows - 1; r++) {
        if (!row_active[r]) continue;
        snprintf(rl, sizeof rl, "L%d %s", (r - 1) / 2, r % 2 ? "attn" : "mlp");
        gutter = fmax(gutter, ac__text_box_w(rl, FS_SMALL, 0));
    }
    const double bar_min = ac__text_box_w("Resid Start", FS_NODE, 0) + 2 * PAD_X;

    /* column widths: head slots, MLPs */
    char tok[96], idx[32];
    const double chip_h = ac__text_box_h(FS_SMALL) + 4, idx_h = ac__text_box_h(FS_PORT);
    int max_h = 0, max_kv = 0;
    for (size_t i = 0; i < L.n_nodes; i++) {
        if (L.nodes[i].ref.kind == AC__NK_HEAD && L.nodes[i].ref.index > max_h) max_h = L.nodes[i].ref.index;
        if (L.nodes[i].ref.kind == AC__NK_KV && L.nodes[i].ref.index > max_kv) max_kv = L.nodes[i].ref.index;
    }
    slot = ac_malloc((size_t)(max_h + max_kv + 2) * sizeof *slot);
    if (!slot) goto nomem;
    for (int c = 0; c < n_cols_all; c++) {
        double w = 0;
        if (T > 0) w = ac__text_box_w(token_label(f, c, tok, sizeof tok), FS_SMALL, 0) + CHIP_PAD;
        if (col_active[c]) {
            w = fmax(w, bar_min);
            w = fmax(w, mlp_w);
            int ns_;
            w = fmax(w, column_slots(&L, T > 0 ? c : -1, max_h, max_kv, head_w, kv_w, H_GAP, slot, &ns_));
            w = fmax(w, T > 0 ? MIN_COL_W_POS : MIN_COL_W); /* room for the edges to fan out */
        }
        col_w[c] = w;
    }

    /* horizontal: gutter, columns */
    double x = MARGIN + (gutter > 0 ? gutter + GUTTER_GAP : 0);
    const double content_x0 = x;
    int n_cols_drawn = 0;
    /* positions without drawn edges keep a narrow column with their token, so that the
     * prompt reads in order, unless there are many of them */
    const int show_empty = T > 0 && T <= MAX_POSITIONS_SHOWN;
    int prev = -1;
    for (int c = 0; c < n_cols_all; c++) {
        if (!col_active[c] && !show_empty) continue;
        if (prev >= 0) x += col_active[c] || col_active[prev] ? COL_GAP : 8;
        col_x[c] = x;
        x += col_w[c];
        prev = c;
        n_cols_drawn += col_active[c];
    }
    double content_right = x;

    /* legend */
    legend_item items[8];
    size_t n_items = 0;
    {
        char a[32], b[32];
        const char *unit = T > 0 ? " (edges per token position)" : "";
        if (p->in->circuit)
            snprintf(items[0].text, sizeof items[0].text, "Circuit of %s edges (top |score| of %s)%s",
                     ac__fmt_count(p->top, a, sizeof a), ac__fmt_count(f->n_edges, b, sizeof b), unit);
        else
            snprintf(items[0].text, sizeof items[0].text, "Top %s of %s edges by |score|%s",
                     ac__fmt_count(p->top, a, sizeof a), ac__fmt_count(f->n_edges, b, sizeof b), unit);
        items[0].swatch = 0;
        n_items = 1;
        if (ns == 0) {
            snprintf(items[1].text, sizeof items[1].text, "no edge has a non-zero score");
            items[1].swatch = -1;
            n_items = 2;
        } else if (T > MAX_POSITIONS_SHOWN && ns == p->top && !p->n_dropped) {
            snprintf(items[1].text, sizeof items[1].text, "%d positions: those without drawn edges are left out", T);
            items[1].swatch = -1;
            n_items = 2;
        } else if (ns != p->top || p->n_dropped) {
            char c1[32], c2[32];
            if (p->n_dropped)
                snprintf(items[1].text, sizeof items[1].text, "%s drawn; %s more tied edges left out",
                         ac__fmt_count(ns, c1, sizeof c1), ac__fmt_count(p->n_dropped, c2, sizeof c2));
            else if (ns > p->top)
                snprintf(items[1].text, sizeof items[1].text, "%s drawn: ties at the cutoff are included",
                         ac__fmt_count(ns, c1, sizeof c1));
            else
                snprintf(items[1].text, sizeof items[1].text, "%s drawn: only %s edges have a non-zero score",
                         ac__fmt_count(ns, c1, sizeof c1), ac__fmt_count(p->n_candidates, c2, sizeof c2));
            items[1].swatch = -1;
            n_items = 2;
        }
        if (ns > 0) {
            snprintf(items[n_items].text, sizeof items[n_items].text, "positive score");
            items[n_items++].swatch = 1;
            snprintf(items[n_items].text, sizeof items[n_items].text, "negative score");
            items[n_items++].swatch = 2;
        }
    }
    /* |score| range of the drawn edges */
    double max_abs = 0, min_abs = INFINITY;
    int any_inf = 0;
    for (size_t i = 0; i < ns; i++) {
        double a = fabs(f->edges[p->sel[i]].score);
        if (isinf(a)) {
            any_inf = 1;
            continue;
        }
        max_abs = fmax(max_abs, a);
        min_abs = fmin(min_abs, a);
    }
    if (!isfinite(min_abs)) min_abs = max_abs;
    if (ns > 0) {
        char a[32];
        snprintf(items[n_items].text, sizeof items[n_items].text, "|score| %s", ac__fmt_num(min_abs, a, sizeof a));
        items[n_items++].swatch = 3;
        snprintf(items[n_items].text, sizeof items[n_items].text, "|score| %s",
                 any_inf ? "inf" : ac__fmt_num(max_abs, a, sizeof a));
        items[n_items++].swatch = 4;
        if (p->in_gt) {
            size_t k = 0;
            for (size_t i = 0; i < ns; i++) k += p->in_gt[p->sel[i]];
            char c1[32], c2[32];
            snprintf(items[n_items].text, sizeof items[n_items].text, "in the ground truth (%s of %s drawn)",
                     ac__fmt_count(k, c1, sizeof c1), ac__fmt_count(ns, c2, sizeof c2));
            items[n_items++].swatch = 5;
        }
    }
    double legend_h, legend_w;
    double avail = fmax(content_right - MARGIN, 420);
    if (legend_place(&L, items, n_items, MARGIN, MARGIN, avail, 0, &legend_h, &legend_w)) goto nomem;
    double canvas_w = fmax(content_right, MARGIN + legend_w) + MARGIN;
    /* centre the columns when the legend is wider */
    double shift = 0;
    if (MARGIN + legend_w > content_right) shift = floor((MARGIN + legend_w - content_right) / 2);
    if (legend_place(&L, items, n_items, MARGIN, MARGIN, canvas_w - 2 * MARGIN, 1, &legend_h, &legend_w))
        goto nomem;

    /* vertical: rows top (Resid End) to bottom (Resid Start) */
    double y = MARGIN + legend_h + LEGEND_GAP;
    for (int r = n_rows - 1; r >= 0; r--) {
        if (!row_active[r]) continue;
        row_y[r] = y;
        y += row_h[r] + ROW_GAP;
    }
    y -= ROW_GAP;
    const double band_y = y + 10;
    if (T > 0) y = band_y + chip_h + 2 + (f->seq_labels ? idx_h : 0);
    const double canvas_h = y + MARGIN;

    /* place nodes: resid bars span the column, heads in their slots, MLPs centred */
    for (int c = 0; c < n_cols_all; c++) {
        if (!col_active[c]) continue;
        const int pos = T > 0 ? c : -1;
        const double cx = col_x[c] + shift;
        /* spread the slots when the column is wider than they need, up to 3 x H_GAP apart */
        int n_slots;
        double sw = column_slots(&L, pos, max_h, max_kv, head_w, kv_w, H_GAP, slot, &n_slots);
        if (n_slots > 0 && sw < col_w[c]) {
            double gap = H_GAP + fmin(2 * H_GAP, (col_w[c] - sw) / (n_slots + 1));
            sw = column_slots(&L, pos, max_h, max_kv, head_w, kv_w, floor(gap), slot, &n_slots);
        }
        const double sx = cx + floor((col_w[c] - sw) / 2);
        for (size_t i = 0; i < L.n_nodes; i++) {
            lnode *n = &L.nodes[i];
            if (n->pos != pos) continue;
            switch (n->ref.kind) {
            case AC__NK_RESID_START:
            case AC__NK_RESID_END:
                n->x = cx;
                n->w = col_w[c];
                n->h = NODE_H;
                break;
            case AC__NK_HEAD: n->x = sx + slot[n->ref.index]; break;
            case AC__NK_KV: n->x = sx + slot[max_h + 1 + n->ref.index]; break;
            default: n->x = cx + floor((col_w[c] - n->w) / 2);
            }
            n->y = row_y[n->row] + (row_h[n->row] - n->h) / 2;
        }
    }

    /* boxes: nodes, labels, ports */
    const double lh = ac__text_box_h(FS_NODE), ph = ac__text_box_h(FS_PORT);
    for (size_t i = 0; i < L.n_nodes; i++) {
        lnode *n = &L.nodes[i];
        int b = add_box(&L, AC_REPORT_NODE, -1, n->x, n->y, n->w, n->h, n->name, n->pos, 0, 0);
        if (b < 0) goto nomem;
        n->box = b;
        double lw = ac__text_box_w(n->name, FS_NODE, 0);
        if (add_box(&L, AC_REPORT_NODE_LABEL, b, n->x + (n->w - lw) / 2, n->y + (NODE_H - lh) / 2, lw,
                    lh, n->name, n->pos, FS_NODE, 0) < 0)
            goto nomem;
        double pw = n->n_ports ? n->w / n->n_ports : 0;
        for (int k = 0; k < n->n_ports; k++) {
            char pl[2] = {n->ports[k], 0};
            int pb = add_box(&L, AC_REPORT_PORT, b, n->x + k * pw, n->y + NODE_H, pw, PORT_H, pl, n->pos, 0, 0);
            if (pb < 0) goto nomem;
            n->port_box[k] = pb;
            double tw = ac__text_box_w(pl, FS_PORT, 0);
            if (add_box(&L, AC_REPORT_PORT_LABEL, pb, n->x + k * pw + (pw - tw) / 2,
                        n->y + NODE_H + (PORT_H - ph) / 2, tw, ph, pl, n->pos, FS_PORT, 0) < 0)
                goto nomem;
        }
    }
    /* row labels, right-aligned in the gutter */
    for (int r = 1; r < n_rows - 1; r++) {
        if (!row_active[r] || gutter <= 0) continue;
        snprintf(rl, sizeof rl, "L%d %s", (r - 1) / 2, r % 2 ? "attn" : "mlp");
        double w = ac__text_box_w(rl, FS_SMALL, 0), h = ac__text_box_h(FS_SMALL);
        if (add_box(&L, AC_REPORT_TEXT, -1, content_x0 + shift - GUTTER_GAP - w, row_y[r] + (row_h[r] - h) / 2,
                    w, h, rl, -1, FS_SMALL, 0) < 0)
            goto nomem;
    }
    /* token positions */
    if (T > 0) {
        for (int c = 0; c < n_cols_all; c++) {
            if (!col_active[c] && !show_empty) continue;
            token_label(f, c, tok, sizeof tok);
            double w = ac__text_box_w(tok, FS_SMALL, 0) + CHIP_PAD;
            double cx = col_x[c] + shift + col_w[c] / 2;
            if (add_box(&L, AC_REPORT_TOKEN, -1, cx - w / 2, band_y, w, chip_h, tok, c, FS_SMALL, 0) < 0) goto nomem;
            if (f->seq_labels) {
                snprintf(idx, sizeof idx, "%d", c);
                double iw = ac__text_box_w(idx, FS_PORT, 0);
                if (add_box(&L, AC_REPORT_TEXT, -1, cx - iw / 2, band_y + chip_h + 2, iw, idx_h, idx, c, FS_PORT, 0) < 0)
                    goto nomem;
            }
        }
    }

    /* edges: ends spread along the sides, ordered by the other end's x */
    res->edges = ac_calloc(ns + 1, sizeof *res->edges);
    if (!res->edges) goto nomem;
    for (size_t i = 0; i < ns; i++) {
        const ac_edge_record *r = &f->edges[p->sel[i]];
        ac_report_edge *e = &res->edges[i];
        e->record = p->sel[i];
        double a = fabs(r->score);
        e->width = isinf(a) || max_abs <= 0 ? 8.0 : 1.0 + 7.0 * a / max_abs;
        e->in_ground_truth = p->in_gt ? p->in_gt[p->sel[i]] : 0;
    }
    for (size_t i = 0; i < L.n_nodes; i++) {
        lnode *n = &L.nodes[i];
        /* outgoing, along the top */
        size_t k = 0;
        for (size_t j = 0; j < ns; j++)
            if (L.e_src[j] == i) {
                const lnode *d = &L.nodes[L.e_dest[j]];
                keys[k].other_x = port_center_x(d, L.e_port[j]);
                keys[k++].edge = j;
            }
        qsort(keys, k, sizeof *keys, cmp_slot);
        double inset = fmin(6, n->w / 4), span = n->w - 2 * inset;
        for (size_t j = 0; j < k; j++) {
            res->edges[keys[j].edge].x1 = n->x + inset + span * ((double)j + 0.5) / (double)k;
            res->edges[keys[j].edge].y1 = n->y;
        }
        /* incoming, per port along the bottom */
        int np = n->n_ports ? n->n_ports : 1;
        for (int s = 0; s < np; s++) {
            k = 0;
            for (size_t j = 0; j < ns; j++)
                if (L.e_dest[j] == i && L.e_port[j] == s) {
                    const lnode *a = &L.nodes[L.e_src[j]];
                    keys[k].other_x = a->x + a->w / 2;
                    keys[k++].edge = j;
                }
            qsort(keys, k, sizeof *keys, cmp_slot);
            double pw = n->w / np, left = n->x + s * pw;
            double in2 = fmin(3, pw / 4);
            for (size_t j = 0; j < k; j++) {
                res->edges[keys[j].edge].x2 = left + in2 + (pw - 2 * in2) * ((double)j + 0.5) / (double)k;
                res->edges[keys[j].edge].y2 = n->y + n->h;
            }
        }
    }

    res->width = canvas_w;
    res->height = canvas_h;
    res->boxes = L.boxes;
    res->n_boxes = L.n_boxes;
    L.boxes = NULL;
    res->n_edges = ns;
    res->n_nodes = L.n_nodes;
    res->n_columns = (size_t)n_cols_drawn;
    res->n_candidates = p->n_candidates;
    res->n_dropped_ties = p->n_dropped;
    res->max_abs = max_abs;
    res->min_abs = ns ? min_abs : 0;
    free_lay(&L);
    ac_free(col_active);
    ac_free(row_active);
    ac_free(row_h);
    ac_free(row_y);
    ac_free(col_x);
    ac_free(col_w);
    ac_free(keys);
    ac_free(slot);
    *out = res;
    return AC_OK;
nomem:
    free_lay(&L);
    ac_free(col_active);
    ac_free(row_active);
    ac_free(row_h);
    ac_free(row_y);
    ac_free(col_x);
    ac_free(col_w);
    ac_free(keys);
    ac_free(slot);
    ac_report_layout_free(res);
    return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
}

int ac_report_layout_diagram(const ac_report_input *in, ac_report_layout **out, ac_error *err) {
    *out = NULL;
    ac__report_prep p;
    int rc = ac__report_prepare(in, &p, err);
    if (rc) return rc;
    rc = ac__layout_build(&p, out, err);
    ac__report_prep_free(&p);
    return rc;
}

void ac_report_layout_free(ac_report_layout *l) {
    if (!l) return;
    ac_free(l->boxes);
    ac_free(l->edges);
    ac_free(l);
}
