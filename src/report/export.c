/* Exports of a scores file: CSV, Graphviz DOT and the MIB benchmark's graph JSON
 * (scores.h, docs/schemas.md). Every output goes through an atomic file. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/scores.h"
#include "report/scores_internal.h"
#include "util/atomic_file.h"

/* The file's scores as floats (ground truths: 1 on every listed edge). */
static float *file_scores(const ac_scores_file *f, const char *path, ac_error *err) {
    float *s = ac_malloc((f->n_edges ? f->n_edges : 1) * sizeof *s);
    if (!s) {
        ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < f->n_edges; i++) s[i] = f->has_scores ? (float)f->edges[i].score : 1.0f;
    return s;
}

/* selected[i] for the top_k edges by |score| with inclusive ties; top_k 0: every edge
 * with a non-zero score. */
static int select_top(const float *s, size_t n, size_t top_k, uint8_t *selected, ac_error *err) {
    if (top_k == 0) {
        for (size_t i = 0; i < n; i++) selected[i] = s[i] != 0.0f;
        return AC_OK;
    }
    return ac_prune_scores_select(s, n, top_k < n ? top_k : n, 0, selected, NULL, err);
}

/* ---- CSV --------------------------------------------------------------------------- */

static void csv_field(FILE *fp, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

static void csv_number(FILE *fp, double v) {
    if (isnan(v)) return;
    if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", fp);
    else fprintf(fp, "%.9g", v);
}

int ac_export_csv(const char *path, const ac_scores_file *f, ac_error *err) {
    if (!f) return ac_error_set(err, AC_ERR_ARG, path, "no scores file");
    size_t *rank = NULL;
    if (f->has_scores && f->n_edges) {
        float *s = file_scores(f, path, err);
        size_t *order = ac_malloc(f->n_edges * sizeof *order);
        rank = ac_malloc(f->n_edges * sizeof *rank);
        int rc = s && order && rank ? ac_prune_scores_order(s, f->n_edges, 0, order, err)
                                    : ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        if (!rc)
            for (size_t i = 0; i < f->n_edges; i++) rank[order[i]] = i + 1;
        ac_free(s);
        ac_free(order);
        if (rc) {
            ac_free(rank);
            return rc;
        }
    }
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) {
        ac_free(rank);
        return rc;
    }
    FILE *fp = af.f;
    fputs("src,dest,pos,score,abs_score,rank\n", fp);
    for (size_t i = 0; i < f->n_edges; i++) {
        const ac_edge_record *r = &f->edges[i];
        csv_field(fp, r->src);
        fputc(',', fp);
        csv_field(fp, r->dest);
        fputc(',', fp);
        if (r->pos >= 0) fprintf(fp, "%d", r->pos);
        fputc(',', fp);
        csv_number(fp, r->score);
        fputc(',', fp);
        csv_number(fp, fabs(r->score));
        fputc(',', fp);
        if (rank) fprintf(fp, "%zu", rank[i]);
        fputc('\n', fp);
    }
    ac_free(rank);
    return ac__afile_commit(&af, err);
}

/* ---- DOT --------------------------------------------------------------------------- */

/* The drawn node of a destination: Q/K/V inputs merge into their head ("A1.2.Q" ->
 * "A1.2", letter 'Q'); everything else is itself. */
static void dot_node(const char *name, char *node, size_t n, char *letter) {
    const size_t len = strlen(name);
    *letter = 0;
    snprintf(node, n, "%s", name);
    if (name[0] == 'A' && len > 2 && name[len - 2] == '.' &&
        (name[len - 1] == 'Q' || name[len - 1] == 'K' || name[len - 1] == 'V')) {
        *letter = name[len - 1];
        if (len - 2 < n) node[len - 2] = 0;
    }
}

static void dot_string(FILE *fp, const char *s) {
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', fp);
        if (*s == '\n') fputs("\\n", fp);
        else fputc(*s, fp);
    }
    fputc('"', fp);
}

static void dot_node_id(FILE *fp, const char *node, int pos) {
    char id[64];
    if (pos >= 0) snprintf(id, sizeof id, "%s@%d", node, pos);
    else snprintf(id, sizeof id, "%s", node);
    dot_string(fp, id);
}

typedef struct {
    char name[32];
    int pos;
} dot_vertex;

int ac_export_dot(const char *path, const ac_scores_file *f, size_t top_k, ac_error *err) {
    if (!f) return ac_error_set(err, AC_ERR_ARG, path, "no scores file");
    const size_t n = f->n_edges;
    float *s = file_scores(f, path, err);
    if (!s) return AC_ERR_NOMEM;
    uint8_t *sel = ac_calloc(n ? n : 1, 1);
    dot_vertex *vs = ac_calloc(2 * n + 1, sizeof *vs);
    char (*keys)[48] = ac_calloc(2 * n + 1, sizeof *keys);
    ac__namemap seen = {0};
    int rc = !sel || !vs || !keys ? ac_error_set(err, AC_ERR_NOMEM, path, "out of memory") : AC_OK;
    if (!rc) rc = select_top(s, n, top_k, sel, err);
    if (!rc) rc = ac__namemap_init(&seen, 2 * n + 1, err);
    /* the vertices, in order of first appearance */
    size_t nv = 0;
    double max_abs = 0;
    int max_pos = -1;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!sel[i]) continue;
        if (isfinite(s[i]) && fabs(s[i]) > max_abs) max_abs = fabs(s[i]);
        const int pos = f->edges[i].pos;
        if (pos > max_pos) max_pos = pos;
        for (int end = 0; end < 2; end++) {
            char node[32], letter;
            dot_node(end ? f->edges[i].dest : f->edges[i].src, node, sizeof node, &letter);
            snprintf(keys[nv], sizeof keys[nv], "%s@%d", node, pos);
            if (ac__namemap_put(&seen, keys[nv], (int)nv) == (int)nv) {
                memcpy(vs[nv].name, node, sizeof node);
                vs[nv].pos = pos;
                nv++;
            }
        }
    }
    ac__afile af = {0};
    if (!rc) rc = ac__afile_open(&af, path, err);
    if (rc) goto done;
    FILE *fp = af.f;
    fputs("digraph circuit {\n"
          "  rankdir=BT;\n"
          "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f4f4f4\", fontname=\"Helvetica\"];\n"
          "  edge [fontname=\"Helvetica\", fontsize=9];\n",
          fp);
    for (int p = max_pos < 0 ? -1 : 0; p <= max_pos; p++) {
        const char *indent = p >= 0 ? "    " : "  ";
        int opened = 0;
        for (size_t v = 0; v < nv; v++) {
            if (vs[v].pos != p) continue;
            if (p >= 0 && !opened) {
                fprintf(fp, "  subgraph \"cluster_pos%d\" {\n    label=", p);
                char lab[96];
                if (f->seq_labels && (size_t)p < f->n_seq_labels)
                    snprintf(lab, sizeof lab, "position %d: %.60s", p, f->seq_labels[p]);
                else snprintf(lab, sizeof lab, "position %d", p);
                dot_string(fp, lab);
                fputs(";\n", fp);
                opened = 1;
            }
            fputs(indent, fp);
            dot_node_id(fp, vs[v].name, p);
            fputs(" [label=", fp);
            dot_string(fp, vs[v].name);
            if (!strcmp(vs[v].name, "Resid Start") || !strcmp(vs[v].name, "Resid End"))
                fputs(", fillcolor=\"#dddddd\"", fp);
            fputs("];\n", fp);
        }
        if (opened) fputs("  }\n", fp);
    }
    for (size_t i = 0; i < n; i++) {
        if (!sel[i]) continue;
        const ac_edge_record *r = &f->edges[i];
        char dnode[32], letter;
        dot_node(r->dest, dnode, sizeof dnode, &letter);
        fputs("  ", fp);
        dot_node_id(fp, r->src, r->pos);
        fputs(" -> ", fp);
        dot_node_id(fp, dnode, r->pos);
        char lab[64], let[4] = {0};
        if (letter) snprintf(let, sizeof let, "%c%s", letter, f->has_scores ? ": " : "");
        const double v = s[i];
        const char *colour = v > 0 ? "#2060c0" : v < 0 ? "#c02020" : "#909090";
        const double w = isinf(v) || max_abs == 0 ? 5.0 : 1.0 + 4.0 * fabs(v) / max_abs;
        if (!f->has_scores) snprintf(lab, sizeof lab, "%s", let);
        else if (isinf(v)) snprintf(lab, sizeof lab, "%s%s", let, v > 0 ? "inf" : "-inf");
        else snprintf(lab, sizeof lab, "%s%.3g", let, v);
        fputs(" [label=", fp);
        dot_string(fp, lab);
        fprintf(fp, ", color=\"%s\", fontcolor=\"%s\", penwidth=%.2f];\n", colour, colour, w);
    }
    fputs("}\n", fp);
    rc = ac__afile_commit(&af, err);
done:
    ac__namemap_free(&seen);
    ac_free(keys);
    ac_free(vs);
    ac_free(sel);
    ac_free(s);
    return rc;
}

/* ---- MIB graph JSON ---------------------------------------------------------------- */

/* Parse a non-negative decimal integer at *p (digits only), advancing *p. */
static int parse_uint(const char **p, int *out) {
    const char *s = *p;
    long v = 0;
    if (*s < '0' || *s > '9') return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
        if (v > 1000000) return 0;
    }
    *out = (int)v;
    *p = s;
    return 1;
}

char *ac_mib_node_name(const char *name, char *buf, size_t n, char *qkv) {
    if (qkv) *qkv = 0;
    if (!name || !buf || n == 0) return NULL;
    int l, h;
    const char *p;
    if (!strcmp(name, "Resid Start")) {
        snprintf(buf, n, "input");
        return buf;
    }
    if (!strcmp(name, "Resid End")) {
        snprintf(buf, n, "logits");
        return buf;
    }
    if (!strncmp(name, "MLP ", 4)) {
        p = name + 4;
        if (!parse_uint(&p, &l) || *p) return NULL;
        snprintf(buf, n, "m%d", l);
        return buf;
    }
    if (name[0] != 'A') return NULL;
    p = name + 1;
    if (!parse_uint(&p, &l) || *p++ != '.' || !parse_uint(&p, &h)) return NULL;
    char c = 0;
    if (*p) {
        if (p[0] != '.' || (p[1] != 'Q' && p[1] != 'K' && p[1] != 'V') || p[2]) return NULL;
        c = (char)(p[1] - 'A' + 'a');
    }
    snprintf(buf, n, "a%d.h%d", l, h);
    if (qkv) *qkv = c;
    return buf;
}

typedef struct {
    char name[80];   /* "a0.h1->a1.h2<q>" */
    int src_node, dest_node; /* indices into the node table */
    double score;
} mib_edge;

typedef struct {
    char name[24];
    int layer, head; /* input: layer -1; logits: layer INT_MAX-ish; mlp: head -1 */
    int out, in;     /* has a selected outgoing / incoming edge */
} mib_node;

/* canonical order: input, then per layer its heads then its MLP, then logits */
static int node_order(const void *a, const void *b) {
    const mib_node *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    const int hx = x->head < 0 ? 1 << 30 : x->head, hy = y->head < 0 ? 1 << 30 : y->head;
    return hx < hy ? -1 : hx > hy;
}

static void parse_mib_node(const char *mib, mib_node *nd) {
    snprintf(nd->name, sizeof nd->name, "%s", mib);
    nd->head = -1;
    if (!strcmp(mib, "input")) nd->layer = -1;
    else if (!strcmp(mib, "logits")) nd->layer = 1 << 30;
    else if (mib[0] == 'm') nd->layer = atoi(mib + 1);
    else {
        nd->layer = atoi(mib + 1);
        nd->head = atoi(strchr(mib, 'h') + 1);
    }
}

int ac_export_mib_json(const char *path, const ac_scores_file *f, size_t top_k,
                       ac_error *err) {
    if (!f) return ac_error_set(err, AC_ERR_ARG, path, "no scores file");
    if (f->has_graph && !f->separate_qkv)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                            "MIB graphs need separate Q/K/V inputs; this file has combined ones (discover without "
                            "--combined-qkv)");
    const size_t n = f->n_edges;
    mib_edge *edges = ac_calloc(n ? n : 1, sizeof *edges);
    mib_node *nodes = ac_calloc(2 * n + 2, sizeof *nodes); /* at most 2 new nodes per edge */
    ac__namemap emap = {0}, nmap = {0};
    float *agg = NULL;
    uint8_t *sel = NULL;
    mib_node *sorted = NULL;
    size_t n_agg = 0, n_nodes = 0;
    int rc = !edges || !nodes ? ac_error_set(err, AC_ERR_NOMEM, path, "out of memory") : AC_OK;
    if (!rc) rc = ac__namemap_init(&emap, n, err);
    if (!rc) rc = ac__namemap_init(&nmap, 2 * n + 2, err);
    /* aggregate over positions by MIB edge name */
    for (size_t i = 0; i < n && !rc; i++) {
        const ac_edge_record *r = &f->edges[i];
        char sname[24], dname[24], sq, dq;
        if (!ac_mib_node_name(r->src, sname, sizeof sname, &sq) || sq) {
            rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path, "edges[%zu]: source %s has no MIB name", i, r->src);
            break;
        }
        if (!ac_mib_node_name(r->dest, dname, sizeof dname, &dq)) {
            rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                              "edges[%zu]: destination %s has no MIB name (grouped-query K/V inputs are not "
                              "expressible in MIB's graph)",
                              i, r->dest);
            break;
        }
        if (dname[0] == 'a' && !dq) {
            rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                              "edges[%zu]: %s is a combined Q/K/V input; MIB graphs need separate Q/K/V inputs", i,
                              r->dest);
            break;
        }
        char ename[80];
        if (dq) snprintf(ename, sizeof ename, "%s->%s<%c>", sname, dname, dq);
        else snprintf(ename, sizeof ename, "%s->%s", sname, dname);
        int k = ac__namemap_get(&emap, ename);
        if (k < 0) {
            k = (int)n_agg++;
            memcpy(edges[k].name, ename, sizeof ename);
            ac__namemap_put(&emap, edges[k].name, k);
            const char *ends[2] = {sname, dname};
            int *idx[2] = {&edges[k].src_node, &edges[k].dest_node};
            for (int e = 0; e < 2; e++) {
                int v = ac__namemap_get(&nmap, ends[e]);
                if (v < 0) {
                    v = (int)n_nodes++;
                    parse_mib_node(ends[e], &nodes[v]);
                    ac__namemap_put(&nmap, nodes[v].name, v);
                }
                *idx[e] = v;
            }
        }
        edges[k].score += f->has_scores ? r->score : 1.0;
    }
    if (!rc) {
        agg = ac_malloc((n_agg ? n_agg : 1) * sizeof *agg);
        sel = ac_calloc(n_agg ? n_agg : 1, 1);
        sorted = ac_malloc((n_nodes ? n_nodes : 1) * sizeof *sorted);
        if (!agg || !sel || !sorted) rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    if (!rc) {
        for (size_t k = 0; k < n_agg; k++) agg[k] = (float)edges[k].score;
        rc = select_top(agg, n_agg, top_k, sel, err);
    }
    ac__afile af = {0};
    if (!rc) rc = ac__afile_open(&af, path, err);
    if (rc) goto done;
    /* nodes in canonical order; in_graph: logits always, input with a selected outgoing
     * edge, others with both a selected incoming and outgoing edge (no further pruning) */
    for (size_t k = 0; k < n_agg; k++)
        if (sel[k]) {
            nodes[edges[k].src_node].out = 1;
            nodes[edges[k].dest_node].in = 1;
        }
    int n_layers = 0, n_heads = 0;
    for (size_t v = 0; v < n_nodes; v++) {
        if (nodes[v].layer >= 0 && nodes[v].layer < (1 << 30) && nodes[v].layer + 1 > n_layers) n_layers = nodes[v].layer + 1;
        if (nodes[v].head + 1 > n_heads) n_heads = nodes[v].head + 1;
    }
    memcpy(sorted, nodes, n_nodes * sizeof *nodes);
    qsort(sorted, n_nodes, sizeof *sorted, node_order);
    FILE *fp = af.f;
    fprintf(fp, "{\"cfg\": {\"n_layers\": %d, \"n_heads\": %d, \"parallel_attn_mlp\": false},\n \"nodes\": {", n_layers,
            n_heads);
    for (size_t v = 0; v < n_nodes; v++) {
        const mib_node *nd = &sorted[v];
        const int in_graph = nd->layer == (1 << 30) ? 1 : nd->layer < 0 ? nd->out : nd->out && nd->in;
        fprintf(fp, "%s\n  ", v ? "," : "");
        ac__json_put_string(fp, nd->name);
        fprintf(fp, ": %s", in_graph ? "true" : "false");
    }
    fputs("\n },\n \"edges\": {", fp);
    for (size_t k = 0; k < n_agg; k++) {
        fprintf(fp, "%s\n  ", k ? "," : "");
        ac__json_put_string(fp, edges[k].name);
        /* MIB's loader is Python's json: keep to finite numbers (±inf -> ±FLT_MAX) */
        double v = edges[k].score;
        if (isinf(v)) v = v > 0 ? FLT_MAX : -FLT_MAX;
        fprintf(fp, ": {\"score\": %.9g, \"in_graph\": %s}", v, sel[k] ? "true" : "false");
    }
    fputs("\n }\n}\n", fp);
    rc = ac__afile_commit(&af, err);
done:
    ac__namemap_free(&emap);
    ac__namemap_free(&nmap);
    ac_free(edges);
    ac_free(nodes);
    ac_free(agg);
    ac_free(sel);
    ac_free(sorted);
    return rc;
}
