/* The circuit graphs (factorized and node-level residual): nodes, graph layers, edge
 * numbering and names. */
#include "autocircuit/graph.h"

#include <stdio.h>
#include <string.h>

ac_graph_opts ac_graph_default_opts(void) {
    ac_graph_opts o = {.separate_qkv = 1, .seq_len = 0, .residual = 0};
    return o;
}

void ac_graph_free(ac_graph *g) {
    if (!g) return;
    ac_free(g->srcs);
    ac_free(g->dests);
    ac_free(g->attn_dest_begin);
    ac_free(g->attn_dest_end);
    ac_free(g->mlp_dest);
    ac_free(g->head_src);
    ac_free(g->mlp_src);
    ac_free(g->resid_pre_src);
    ac_free(g->resid_mid_src);
    ac_free(g->resid_mid_dest);
    ac_free(g->resid_post_dest);
    ac_free(g);
}

static void add_dest(ac_graph *g, ac_dest_kind kind, int layer, int head, int graph_layer,
                     const char *name) {
    ac_dest_node *d = &g->dests[g->n_dest++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->kind = kind;
    d->layer = layer;
    d->head = head;
    d->graph_layer = graph_layer;
}

static void add_src(ac_graph *g, ac_src_kind kind, int layer, int head, int graph_layer,
                    const char *name) {
    ac_src_node *s = &g->srcs[g->n_src];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->layer = layer;
    s->head = head;
    s->graph_layer = graph_layer;
    s->src_idx = g->n_src++;
}

/* Residual destination fed by sources first .. n_src-1 (every source added since). */
static void add_resid_dest(ac_graph *g, ac_dest_kind kind, int layer, int graph_layer, int first,
                           const char *name) {
    add_dest(g, kind, layer, -1, graph_layer, name);
    ac_dest_node *d = &g->dests[g->n_dest - 1];
    d->src_begin = first;
    d->n_in = g->n_src - first;
}

/* The node-level residual graph (auto-circuit's simple_graph_nodes). Graph layers: the
 * residual entering block b and its heads share one layer, Resid Mid b (destination and
 * source) and MLP b the next, Resid Post b the next (shared with block b+1's heads);
 * edges join consecutive layers only. */
static void build_residual(ac_graph *g, const ac_config *cfg) {
    const int L = cfg->n_layer, H = cfg->n_head;
    char name[32];
    int gl = 0, pre = 0;
    add_src(g, AC_SRC_RESID_START, -1, -1, gl, "Resid Start");
    for (int l = 0; l < L; l++) {
        g->resid_pre_src[l] = pre;
        g->attn_dest_begin[l] = g->attn_dest_end[l] = g->n_dest;
        g->mlp_dest[l] = -1;
        g->mlp_src[l] = -1;
        g->head_src[l] = g->n_src;
        for (int h = 0; h < H; h++) {
            snprintf(name, sizeof name, "A%d.%d", l, h);
            add_src(g, AC_SRC_HEAD, l, h, gl, name);
        }
        int first = pre; /* the sources Resid Post b reads */
        if (!cfg->attn_only) {
            gl++;
            snprintf(name, sizeof name, "Resid Mid %d", l);
            g->resid_mid_dest[l] = g->n_dest;
            add_resid_dest(g, AC_DEST_RESID_MID, l, gl, pre, name);
            first = g->resid_mid_src[l] = g->n_src;
            add_src(g, AC_SRC_RESID_MID, l, -1, gl, name);
            snprintf(name, sizeof name, "MLP %d", l);
            g->mlp_src[l] = g->n_src;
            add_src(g, AC_SRC_MLP, l, -1, gl, name);
        }
        gl++;
        const int last = l == L - 1;
        if (last) snprintf(name, sizeof name, "Resid End");
        else snprintf(name, sizeof name, "Resid Post %d", l);
        g->resid_post_dest[l] = g->n_dest;
        add_resid_dest(g, last ? AC_DEST_RESID_END : AC_DEST_RESID_POST, l + 1, gl, first, name);
        if (!last) {
            pre = g->n_src;
            add_src(g, AC_SRC_RESID_POST, l, -1, gl, name);
        }
    }
    g->n_graph_layers = gl + 1;
}

int ac_graph_build(ac_graph **out, const ac_config *cfg, const ac_graph_opts *opts,
                   ac_error *err) {
    *out = NULL;
    ac_graph_opts o = opts ? *opts : ac_graph_default_opts();
    if (o.seq_len < 0) return ac_error_set(err, AC_ERR_ARG, NULL, "graph: negative sequence length");
    const int L = cfg->n_layer, H = cfg->n_head, Hkv = cfg->n_kv_head;
    const int grouped = Hkv != H;
    o.residual = o.residual != 0;
    if (o.residual) o.separate_qkv = 0; /* no Q/K/V destinations */
    if (!o.separate_qkv && grouped && !o.residual)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, NULL,
                            "graph: combined Q/K/V destinations are not defined for "
                            "grouped-query attention (%d query heads, %d key/value heads); "
                            "use separate Q/K/V",
                            H, Hkv);
    ac_graph *g = ac_calloc(1, sizeof *g);
    if (!g) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory building the graph");
    g->n_layer = L;
    g->n_head = H;
    g->n_kv_head = Hkv;
    g->seq_len = o.seq_len;
    g->separate_qkv = o.separate_qkv;
    g->residual = o.residual;
    const int per_layer_dests = (o.separate_qkv ? H + 2 * Hkv : H) + (cfg->attn_only ? 0 : 1);
    const size_t max_src = 1 + (size_t)L * (size_t)(H + 3);
    const size_t max_dest = (size_t)L * (size_t)(per_layer_dests > 2 ? per_layer_dests : 2) + 1;
    g->srcs = ac_calloc(max_src, sizeof *g->srcs);
    g->dests = ac_calloc(max_dest, sizeof *g->dests);
    g->attn_dest_begin = ac_calloc((size_t)L, sizeof(int));
    g->attn_dest_end = ac_calloc((size_t)L, sizeof(int));
    g->mlp_dest = ac_calloc((size_t)L, sizeof(int));
    g->head_src = ac_calloc((size_t)L, sizeof(int));
    g->mlp_src = ac_calloc((size_t)L, sizeof(int));
    g->resid_pre_src = ac_calloc((size_t)L, sizeof(int));
    g->resid_mid_src = ac_calloc((size_t)L, sizeof(int));
    g->resid_mid_dest = ac_calloc((size_t)L, sizeof(int));
    g->resid_post_dest = ac_calloc((size_t)L, sizeof(int));
    if (!g->srcs || !g->dests || !g->attn_dest_begin || !g->attn_dest_end || !g->mlp_dest ||
        !g->head_src || !g->mlp_src || !g->resid_pre_src || !g->resid_mid_src || !g->resid_mid_dest ||
        !g->resid_post_dest) {
        ac_graph_free(g);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory building the graph");
    }
    for (int l = 0; l < L; l++)
        g->resid_pre_src[l] = g->resid_mid_src[l] = g->resid_mid_dest[l] = g->resid_post_dest[l] = -1;
    if (o.residual) {
        build_residual(g, cfg);
        size_t off = 0;
        for (int d = 0; d < g->n_dest; d++) {
            g->dests[d].edge_offset = off;
            off += (size_t)g->dests[d].n_in;
        }
        g->n_edges_per_pos = off;
        g->n_edges = off * (size_t)(o.seq_len > 0 ? o.seq_len : 1);
        *out = g;
        return AC_OK;
    }

    /* sources, in graph-layer order */
    ac_src_node *s = &g->srcs[g->n_src++];
    snprintf(s->name, sizeof s->name, "Resid Start");
    s->kind = AC_SRC_RESID_START;
    s->layer = -1;
    s->head = -1;
    s->graph_layer = 0;
    s->src_idx = 0;
    for (int l = 0; l < L; l++) {
        const int attn_gl = cfg->attn_only ? l + 1 : 2 * l + 1;
        g->head_src[l] = g->n_src;
        for (int h = 0; h < H; h++) {
            s = &g->srcs[g->n_src];
            snprintf(s->name, sizeof s->name, "A%d.%d", l, h);
            s->kind = AC_SRC_HEAD;
            s->layer = l;
            s->head = h;
            s->graph_layer = attn_gl;
            s->src_idx = g->n_src++;
        }
        g->mlp_src[l] = -1;
        if (!cfg->attn_only) {
            s = &g->srcs[g->n_src];
            snprintf(s->name, sizeof s->name, "MLP %d", l);
            s->kind = AC_SRC_MLP;
            s->layer = l;
            s->head = -1;
            s->graph_layer = 2 * l + 2;
            s->src_idx = g->n_src;
            g->mlp_src[l] = g->n_src++;
        }
    }

    /* destinations */
    char name[32];
    for (int l = 0; l < L; l++) {
        const int attn_gl = cfg->attn_only ? l + 1 : 2 * l + 1;
        g->attn_dest_begin[l] = g->n_dest;
        if (o.separate_qkv) {
            static const char letters[3] = {'Q', 'K', 'V'};
            for (int q = 0; q < 3; q++) {
                int nh = q == 0 ? H : Hkv;
                for (int h = 0; h < nh; h++) {
                    if (q > 0 && grouped) snprintf(name, sizeof name, "A%d.kv%d.%c", l, h, letters[q]);
                    else snprintf(name, sizeof name, "A%d.%d.%c", l, h, letters[q]);
                    add_dest(g, (ac_dest_kind)q, l, h, attn_gl, name);
                }
            }
        } else {
            for (int h = 0; h < H; h++) {
                snprintf(name, sizeof name, "A%d.%d", l, h);
                add_dest(g, AC_DEST_QKV, l, h, attn_gl, name);
            }
        }
        g->attn_dest_end[l] = g->n_dest;
        g->mlp_dest[l] = -1;
        if (!cfg->attn_only) {
            snprintf(name, sizeof name, "MLP %d", l);
            g->mlp_dest[l] = g->n_dest;
            add_dest(g, AC_DEST_MLP, l, -1, 2 * l + 2, name);
        }
    }
    const int end_gl = cfg->attn_only ? L + 1 : 2 * L + 1;
    add_dest(g, AC_DEST_RESID_END, L, -1, end_gl, "Resid End");
    g->n_graph_layers = end_gl + 1;

    /* inputs and edge offsets */
    size_t off = 0;
    for (int d = 0; d < g->n_dest; d++) {
        int n_in = 0;
        while (n_in < g->n_src && g->srcs[n_in].graph_layer < g->dests[d].graph_layer) n_in++;
        g->dests[d].n_in = n_in;
        g->dests[d].edge_offset = off;
        off += (size_t)n_in;
    }
    g->n_edges_per_pos = off;
    g->n_edges = off * (size_t)(o.seq_len > 0 ? o.seq_len : 1);
    *out = g;
    return AC_OK;
}

size_t ac_graph_edge_index(const ac_graph *g, int pos, int dest, int src) {
    if (dest < 0 || dest >= g->n_dest) return (size_t)-1;
    const ac_dest_node *dn = &g->dests[dest];
    if (src < dn->src_begin || src >= dn->src_begin + dn->n_in) return (size_t)-1;
    size_t e = dn->edge_offset + (size_t)(src - dn->src_begin);
    if (g->seq_len > 0) {
        if (pos < 0 || pos >= g->seq_len) return (size_t)-1;
        e += (size_t)pos * g->n_edges_per_pos;
    }
    return e;
}

void ac_graph_edge_at(const ac_graph *g, size_t edge, int *pos, int *dest, int *src) {
    size_t e = edge;
    int p = -1;
    if (g->seq_len > 0) {
        p = (int)(edge / g->n_edges_per_pos);
        e = edge % g->n_edges_per_pos;
    }
    /* binary search the destination whose block holds e */
    int lo = 0, hi = g->n_dest - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (g->dests[mid].edge_offset <= e) lo = mid;
        else hi = mid - 1;
    }
    if (pos) *pos = p;
    if (dest) *dest = lo;
    if (src) *src = g->dests[lo].src_begin + (int)(e - g->dests[lo].edge_offset);
}

char *ac_graph_edge_name(const ac_graph *g, size_t edge, char *buf, size_t n) {
    int d, s;
    ac_graph_edge_at(g, edge, NULL, &d, &s);
    snprintf(buf, n, "%s->%s", g->srcs[s].name, g->dests[d].name);
    return buf;
}

int ac_graph_find_src(const ac_graph *g, const char *name) {
    for (int i = 0; i < g->n_src; i++)
        if (!strcmp(g->srcs[i].name, name)) return i;
    return -1;
}

int ac_graph_find_dest(const ac_graph *g, const char *name) {
    for (int i = 0; i < g->n_dest; i++)
        if (!strcmp(g->dests[i].name, name)) return i;
    return -1;
}

size_t ac_graph_find_edge(const ac_graph *g, const char *name, int pos) {
    const char *arrow = strstr(name, "->");
    if (!arrow || (size_t)(arrow - name) >= 32) return (size_t)-1;
    char src[32];
    memcpy(src, name, (size_t)(arrow - name));
    src[arrow - name] = 0;
    int s = ac_graph_find_src(g, src), d = ac_graph_find_dest(g, arrow + 2);
    if (s < 0 || d < 0) return (size_t)-1;
    return ac_graph_edge_index(g, g->seq_len > 0 ? pos : 0, d, s);
}

size_t ac_graph_residual_edge_count(const ac_config *cfg) {
    size_t per = 1 + (size_t)cfg->n_head;
    if (!cfg->attn_only) per += 2;
    return per * (size_t)cfg->n_layer;
}
