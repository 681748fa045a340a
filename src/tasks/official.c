/* Official circuits: the published IOI, greater-than and docstring circuits as edge sets
 * of the factorized graph, following auto-circuit's definitions (behaviour reference
 * §5.4; those in turn follow the ACDC repository). docs/tasks.md lists the rules. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/tasks.h"
#include "util/atomic_file.h"
#include "util/json_util.h"

enum { C_IOI, C_IOI_MLP0, C_IOI_HEADS, C_GT, C_DOC, C_DOC_HEADS, N_CIRCUITS };

static const ac_official_circuit circuits[N_CIRCUITS] = {
    {"ioi", "IOI circuit, edge level: 26 heads in 7 classes, 15 class-to-class connections with Q/K/V inputs and token positions, MLPs in between",
     "Wang et al. 2022 (arXiv 2211.00593); edges as defined in the ACDC repository and auto-circuit's ioi_true_edges",
     "gpt2-small", 12, 12, 0, 1, "IO S1 S1+1 S2 end"},
    {"ioi-mlp0", "the IOI circuit keeping, of the MLP edges, only those to or from MLP 0",
     "auto-circuit's ioi_true_edges_mlp_0_only", "gpt2-small", 12, 12, 0, 1, "IO S1 S1+1 S2 end"},
    {"ioi-heads", "IOI circuit, node level: every edge out of a non-head source, and the edges out of the 26 circuit heads (at their class's position)",
     "Wang et al. 2022; auto-circuit's ioi_head_based_official_edges", "gpt2-small", 12, 12, 0, 0, "S1+1 S2 end"},
    {"greater-than", "greater-than circuit: attention 0.1/0.3/0.5, MLPs 0-3, mid heads 5.5 6.1 6.9 7.10 8.11 9.1, MLPs 8-11",
     "Hanna et al. 2023 (arXiv 2305.00586); edges as defined in the ACDC repository and auto-circuit's greaterthan_true_edges; positions: autocircuit's extension",
     "gpt2-small", 12, 12, 0, 1, "YY end"},
    {"docstring", "docstring circuit, edge level: heads 0.5 1.2 1.4 2.0 3.0 3.6",
     "Heimersheim & Janiak 2023; edges as defined in the ACDC repository, positions as auto-circuit's docstring_true_edges",
     "attn-only-4l", 4, 8, 1, 1, "A_def B_def ,_B C_def A_doc B_doc param_3"},
    {"docstring-heads", "docstring circuit, node level: the edges out of non-head sources and out of 11 heads",
     "Heimersheim & Janiak 2023; auto-circuit's docstring_node_based_official_edges", "attn-only-4l", 4, 8, 1, 0,
     "B_def ,_B C_def A_doc B_doc param_3"},
};

size_t ac_official_circuit_count(void) { return N_CIRCUITS; }

const ac_official_circuit *ac_official_circuit_at(size_t i) { return i < N_CIRCUITS ? &circuits[i] : NULL; }

const ac_official_circuit *ac_official_circuit_find(const char *name) {
    for (int i = 0; name && i < N_CIRCUITS; i++)
        if (!strcmp(name, circuits[i].name)) return &circuits[i];
    return NULL;
}

/* ---- marking --------------------------------------------------------------------------- */

typedef struct marker {
    const ac_graph *g;
    uint8_t *in;
    int positional;
    /* named positions (positional mode) */
    const char *const *names;
    const long *values;
    size_t n;
} marker;

/* A named position: its value, or 0 without positions (auto-circuit's word_idxs.get(name, 0)). */
static long posv(const marker *m, const char *name) {
    if (!m->positional) return 0;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name)) return m->values[i];
    return 0; /* checked up front */
}

/* Mark src->dest at each of `pos` (positional) or once; absent nodes or non-edges (src
 * not before dest) are skipped, as auto-circuit matches names against the graph's edges. */
static void mark(marker *m, int src, int dest, const long *pos, int n_pos) {
    if (src < 0 || dest < 0) return;
    if (!m->positional) {
        size_t e = ac_graph_edge_index(m->g, 0, dest, src);
        if (e != (size_t)-1) m->in[e] = 1;
        return;
    }
    for (int k = 0; k < n_pos; k++) {
        size_t e = ac_graph_edge_index(m->g, (int)pos[k], dest, src);
        if (e != (size_t)-1) m->in[e] = 1;
    }
}

static int head_src(const ac_graph *g, int l, int h) {
    char name[32];
    snprintf(name, sizeof name, "A%d.%d", l, h);
    return ac_graph_find_src(g, name);
}
static int mlp_src(const ac_graph *g, int l) {
    char name[32];
    snprintf(name, sizeof name, "MLP %d", l);
    return ac_graph_find_src(g, name);
}
static int mlp_dest(const ac_graph *g, int l) {
    char name[32];
    snprintf(name, sizeof name, "MLP %d", l);
    return ac_graph_find_dest(g, name);
}
static int qkv_dest(const ac_graph *g, int l, int h, char letter) {
    char name[32];
    snprintf(name, sizeof name, "A%d.%d.%c", l, h, letter);
    return ac_graph_find_dest(g, name);
}

/* ---- IOI ------------------------------------------------------------------------------- */

typedef struct head {
    int l, h;
} head;

enum { NM, BNM, NEG, S2I, IND, DUP, PREV, N_CLASSES, INPUT = -1, OUTPUT = -2 };

static const head ioi_heads[N_CLASSES][8] = {
    [NM] = {{9, 9}, {10, 0}, {9, 6}},
    [BNM] = {{10, 10}, {10, 6}, {10, 2}, {10, 1}, {11, 2}, {9, 7}, {9, 0}, {11, 9}},
    [NEG] = {{10, 7}, {11, 10}},
    [S2I] = {{7, 3}, {7, 9}, {8, 6}, {8, 10}},
    [IND] = {{5, 5}, {5, 8}, {5, 9}, {6, 9}},
    [DUP] = {{0, 1}, {0, 10}, {3, 0}},
    [PREV] = {{2, 2}, {4, 11}},
};
static const int ioi_n_heads[N_CLASSES] = {3, 8, 2, 4, 4, 3, 2};

typedef struct conn {
    int from, to;
    int n;
    char letter[3];      /* 'q', 'k', 'v'; 0 for the output */
    const char *pos[3];  /* named positions */
} conn;

static const conn ioi_conns[] = {
    {INPUT, PREV, 3, {'q', 'k', 'v'}, {"S1+1", "S1", "S1"}},
    {INPUT, DUP, 3, {'q', 'k', 'v'}, {"S2", "S1", "S1"}},
    {INPUT, S2I, 1, {'q'}, {"end"}},
    {INPUT, NEG, 2, {'k', 'v'}, {"IO", "IO"}},
    {INPUT, NM, 2, {'k', 'v'}, {"IO", "IO"}},
    {INPUT, BNM, 2, {'k', 'v'}, {"IO", "IO"}},
    {PREV, IND, 2, {'k', 'v'}, {"S1+1", "S1+1"}},
    {IND, S2I, 2, {'k', 'v'}, {"S2", "S2"}},
    {DUP, S2I, 2, {'k', 'v'}, {"S2", "S2"}},
    {S2I, NEG, 1, {'q'}, {"end"}},
    {S2I, NM, 1, {'q'}, {"end"}},
    {S2I, BNM, 1, {'q'}, {"end"}},
    {NEG, OUTPUT, 1, {0}, {"end"}},
    {NM, OUTPUT, 1, {0}, {"end"}},
    {BNM, OUTPUT, 1, {0}, {"end"}},
};

static void ioi_edges(marker *m) {
    const ac_graph *g = m->g;
    for (size_t c = 0; c < sizeof ioi_conns / sizeof ioi_conns[0]; c++) {
        const conn *cn = &ioi_conns[c];
        int srcs[64], n_src = 0;
        int dests[128], n_dest = 0;
        long dpos[128];
        if (cn->from == INPUT) srcs[n_src++] = 0; /* Resid Start */
        else
            for (int k = 0; k < ioi_n_heads[cn->from]; k++)
                srcs[n_src++] = head_src(g, ioi_heads[cn->from][k].l, ioi_heads[cn->from][k].h);
        if (cn->to == OUTPUT) {
            dests[n_dest] = g->n_dest - 1; /* Resid End */
            dpos[n_dest++] = posv(m, cn->pos[0]);
        } else {
            for (int k = 0; k < ioi_n_heads[cn->to]; k++)
                for (int q = 0; q < cn->n; q++) {
                    const char letter = (char)(cn->letter[q] - 'a' + 'A');
                    dests[n_dest] = qkv_dest(g, ioi_heads[cn->to][k].l, ioi_heads[cn->to][k].h, letter);
                    dpos[n_dest++] = posv(m, cn->pos[q]);
                }
        }
        /* The MLPs between the two classes (the paper lets paths run through MLPs): from
         * the source class's first layer (inclusive: the MLP follows the attention) up to
         * the destination class's last layer. For the output the bound is the end token's
         * *position* (auto-circuit's quirk, reference §9.6): 0 without positions, so no
         * MLPs; with positions every MLP from the source layer on, as the end position
         * exceeds the layer count. */
        int lo = 0, hi;
        if (cn->from != INPUT) {
            lo = 1 << 30;
            for (int k = 0; k < ioi_n_heads[cn->from]; k++)
                if (ioi_heads[cn->from][k].l < lo) lo = ioi_heads[cn->from][k].l;
        }
        if (cn->to == OUTPUT) {
            hi = (int)posv(m, "end");
        } else {
            hi = -1;
            for (int k = 0; k < ioi_n_heads[cn->to]; k++)
                if (ioi_heads[cn->to][k].l > hi) hi = ioi_heads[cn->to][k].l;
        }
        if (hi > g->n_layer) hi = g->n_layer;
        for (int l = lo; l < hi; l++)
            for (int q = 0; q < cn->n; q++) {
                srcs[n_src++] = mlp_src(g, l);
                dests[n_dest] = mlp_dest(g, l);
                dpos[n_dest++] = posv(m, cn->pos[q]);
            }
        for (int s = 0; s < n_src; s++)
            for (int d = 0; d < n_dest; d++) mark(m, srcs[s], dests[d], &dpos[d], 1);
    }
}

static int is_mlp_src(const ac_graph *g, int s) { return g->srcs[s].kind == AC_SRC_MLP; }
static int is_mlp_dest(const ac_graph *g, int d) { return g->dests[d].kind == AC_DEST_MLP; }

/* Keep only the MLP edges that touch MLP 0 (auto-circuit: edge names containing "MLP 0",
 * or no "MLP" at all). */
static void keep_mlp0(marker *m) {
    const ac_graph *g = m->g;
    for (size_t e = 0; e < g->n_edges; e++) {
        if (!m->in[e]) continue;
        int pos, d, s;
        ac_graph_edge_at(g, e, &pos, &d, &s);
        const int sm = is_mlp_src(g, s), dm = is_mlp_dest(g, d);
        if (!sm && !dm) continue;
        if ((sm && g->srcs[s].layer == 0) || (dm && g->dests[d].layer == 0)) continue;
        m->in[e] = 0;
    }
}

/* Node-level circuits: every edge out of a non-head source; out of a listed head at its
 * positions (all positions without positions); nothing out of other heads. */
typedef struct head_pos {
    const long *pos; /* positions, or NULL: every position lo..hi */
    int n;
    long lo, hi;
} head_pos;

static void heads_edges(marker *m, const head *hs, const head_pos *hp, int n_heads) {
    const ac_graph *g = m->g;
    for (size_t e = 0; e < g->n_edges; e++) {
        int pos, d, s;
        ac_graph_edge_at(g, e, &pos, &d, &s);
        const ac_src_node *sn = &g->srcs[s];
        if (sn->kind != AC_SRC_HEAD) {
            m->in[e] = 1;
            continue;
        }
        for (int k = 0; k < n_heads; k++) {
            if (hs[k].l != sn->layer || hs[k].h != sn->head) continue;
            if (!m->positional) m->in[e] = 1;
            else if (!hp[k].pos) {
                if (pos >= hp[k].lo && pos <= hp[k].hi) m->in[e] = 1;
            }
            else
                for (int p = 0; p < hp[k].n; p++)
                    if (hp[k].pos[p] == pos) m->in[e] = 1;
        }
    }
}

static void ioi_heads_edges(marker *m) {
    head hs[26];
    long cls_pos[N_CLASSES];
    head_pos hp[26];
    int n = 0;
    const char *at[N_CLASSES] = {[NM] = "end", [BNM] = "end", [NEG] = "end", [S2I] = "end",
                                 [IND] = "S2", [DUP] = "S2", [PREV] = "S1+1"};
    for (int c = 0; c < N_CLASSES; c++) {
        cls_pos[c] = posv(m, at[c]);
        for (int k = 0; k < ioi_n_heads[c]; k++) {
            hs[n] = ioi_heads[c][k];
            hp[n++] = (head_pos){&cls_pos[c], 1, 0, 0};
        }
    }
    heads_edges(m, hs, hp, n);
}

/* ---- greater-than ---------------------------------------------------------------------- */

typedef struct gnode {
    int l, h; /* h = -1: the MLP */
} gnode;

enum { G_A0_35, G_A0_1, G_EARLY_MLP, G_MID, G_LATE_MLP, N_GROUPS };
static const gnode gt_groups[N_GROUPS][6] = {
    [G_A0_35] = {{0, 3}, {0, 5}},
    [G_A0_1] = {{0, 1}},
    [G_EARLY_MLP] = {{0, -1}, {1, -1}, {2, -1}, {3, -1}},
    [G_MID] = {{5, 5}, {6, 1}, {6, 9}, {7, 10}, {8, 11}, {9, 1}},
    [G_LATE_MLP] = {{8, -1}, {9, -1}, {10, -1}, {11, -1}},
};
static const int gt_n[N_GROUPS] = {2, 1, 4, 6, 4};

/* With positions (autocircuit's extension; auto-circuit defines none): an edge sits at the
 * position where its destination reads it. Query inputs of the mid heads, the late MLPs,
 * the MLP chain above layer 3 and the output: the last token ("end"); key/value inputs of
 * the mid heads: the YY token; the early group (heads 0.1/0.3/0.5 and MLPs 0-3) feeds
 * both, so its inputs are kept at both. */
static void gt_mark(marker *m, int src, int dest) {
    const ac_graph *g = m->g;
    if (src < 0 || dest < 0) return;
    const long yy = posv(m, "YY"), end = posv(m, "end");
    const ac_dest_node *d = &g->dests[dest];
    long pos[2];
    int n = 0;
    int early = (d->kind == AC_DEST_MLP && d->layer <= 3) ||
                (d->kind != AC_DEST_MLP && d->kind != AC_DEST_RESID_END && d->layer == 0);
    if (early) {
        pos[n++] = yy;
        pos[n++] = end;
    } else if (d->kind == AC_DEST_K || d->kind == AC_DEST_V) {
        pos[n++] = yy;
    } else {
        pos[n++] = end;
    }
    mark(m, src, dest, pos, n);
}

static int gnode_src(const ac_graph *g, gnode n) { return n.h < 0 ? mlp_src(g, n.l) : head_src(g, n.l, n.h); }

/* The destination nodes of a group member: the MLP, or the head's Q, K and V. */
static int gnode_dests(const ac_graph *g, gnode n, int *out) {
    if (n.h < 0) {
        out[0] = mlp_dest(g, n.l);
        return 1;
    }
    out[0] = qkv_dest(g, n.l, n.h, 'Q');
    out[1] = qkv_dest(g, n.l, n.h, 'K');
    out[2] = qkv_dest(g, n.l, n.h, 'V');
    return 3;
}

static void gt_edges(marker *m) {
    const ac_graph *g = m->g;
    const int resid_end = g->n_dest - 1;
    int dd[3];
    /* the input feeds the early groups */
    const int from_input[] = {G_A0_35, G_A0_1, G_EARLY_MLP};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < gt_n[from_input[i]]; k++) {
            int nd = gnode_dests(g, gt_groups[from_input[i]][k], dd);
            for (int j = 0; j < nd; j++) gt_mark(m, 0, dd[j]);
        }
    /* the mid heads and late MLPs feed the output */
    const int to_output[] = {G_MID, G_LATE_MLP};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < gt_n[to_output[i]]; k++) gt_mark(m, gnode_src(g, gt_groups[to_output[i]][k]), resid_end);
    /* the MLPs of each MLP group are chained */
    const int mlp_groups[] = {G_EARLY_MLP, G_LATE_MLP};
    for (int i = 0; i < 2; i++)
        for (int a = 0; a < gt_n[mlp_groups[i]]; a++)
            for (int b = 0; b < gt_n[mlp_groups[i]]; b++) {
                const int la = gt_groups[mlp_groups[i]][a].l, lb = gt_groups[mlp_groups[i]][b].l;
                if (la < lb) gt_mark(m, mlp_src(g, la), mlp_dest(g, lb));
            }
    /* connected group pairs (a head feeds its own layer's MLP; otherwise layers ascend) */
    static const int pairs[][2] = {{G_A0_1, G_EARLY_MLP}, {G_A0_1, G_MID}, {G_A0_35, G_MID}, {G_EARLY_MLP, G_MID},
                                   {G_MID, G_LATE_MLP}};
    for (int i = 0; i < 5; i++)
        for (int a = 0; a < gt_n[pairs[i][0]]; a++)
            for (int b = 0; b < gt_n[pairs[i][1]]; b++) {
                const gnode s = gt_groups[pairs[i][0]][a], d = gt_groups[pairs[i][1]][b];
                const int head_to_own_mlp = s.h >= 0 && d.h < 0 && s.l == d.l;
                if (s.l >= d.l && !head_to_own_mlp) continue;
                int nd = gnode_dests(g, d, dd);
                for (int j = 0; j < nd; j++) gt_mark(m, gnode_src(g, s), dd[j]);
            }
    /* Hanna et al. keep the mid heads' queries fully clean: every MLP below the last mid
     * head's layer feeds every later such MLP, and every MLP below a mid head feeds its Q */
    int max_mid = 0;
    for (int k = 0; k < gt_n[G_MID]; k++)
        if (gt_groups[G_MID][k].l > max_mid) max_mid = gt_groups[G_MID][k].l;
    for (int a = 0; a < max_mid; a++)
        for (int b = a + 1; b < max_mid; b++) gt_mark(m, mlp_src(g, a), mlp_dest(g, b));
    for (int k = 0; k < gt_n[G_MID]; k++)
        for (int a = 0; a < gt_groups[G_MID][k].l; a++)
            gt_mark(m, mlp_src(g, a), qkv_dest(g, gt_groups[G_MID][k].l, gt_groups[G_MID][k].h, 'Q'));
}

/* ---- docstring ------------------------------------------------------------------------- */

typedef struct doc_edge {
    const char *src, *dest;
    const char *pos[4]; /* named positions, NULL-terminated */
} doc_edge;

static const doc_edge doc_table[] = {
    {"A0.5", "A1.4.V", {"B_def", "B_doc"}},
    {"Resid Start", "A0.5.V", {"B_def", "C_def", "B_doc"}},
    {"Resid Start", "A2.0.Q", {"C_def"}},
    {"A0.5", "A2.0.Q", {"C_def"}},
    {"Resid Start", "A2.0.K", {NULL}}, /* in the circuit, but at no position */
    {"A0.5", "A2.0.K", {"B_def"}},
    {"A1.4", "A2.0.V", {",_B"}},
    {"Resid Start", "A1.4.V", {"B_def", "B_doc"}},
    {"Resid Start", "A1.2.K", {"A_def", "B_def", "A_doc", "B_doc"}},
    {"Resid Start", "A1.2.Q", {"A_doc", "B_doc"}},
    {"A0.5", "A1.2.Q", {"B_doc"}},
    {"A0.5", "A1.2.K", {"B_def", "B_doc"}},
    {"A3.0", "Resid End", {"param_3"}},
    {"A1.4", "A3.0.Q", {"param_3"}},
    {"Resid Start", "A3.0.V", {"C_def"}},
    {"A0.5", "A3.0.V", {"C_def"}},
    {"A2.0", "A3.0.K", {"C_def"}},
    {"A1.2", "A3.0.K", {"A_doc", "B_doc"}},
    {"A3.6", "Resid End", {"param_3"}},
    {"A1.4", "A3.6.Q", {"param_3"}},
    {"Resid Start", "A3.6.V", {"C_def"}},
    {"A0.5", "A3.6.V", {"C_def"}},
    {"A2.0", "A3.6.K", {"C_def"}},
    {"A1.2", "A3.6.K", {"A_doc", "B_doc"}},
};

static void doc_edges(marker *m) {
    for (size_t i = 0; i < sizeof doc_table / sizeof doc_table[0]; i++) {
        const doc_edge *t = &doc_table[i];
        long pos[4];
        int n = 0;
        while (n < 4 && t->pos[n]) {
            pos[n] = posv(m, t->pos[n]);
            n++;
        }
        mark(m, ac_graph_find_src(m->g, t->src), ac_graph_find_dest(m->g, t->dest), pos, n);
    }
}

static void doc_heads_edges(marker *m) {
    static const head hs[11] = {{1, 4}, {2, 0}, {3, 0}, {3, 6}, {0, 5}, {1, 2}, {0, 2}, {0, 4}, {1, 0}, {0, 1}, {2, 3}};
    const long bdef = posv(m, "B_def"), cb = posv(m, ",_B"), cdef = posv(m, "C_def"), adoc = posv(m, "A_doc"),
               bdoc = posv(m, "B_doc"), p3 = posv(m, "param_3");
    const long p_14[] = {cb}, p_20[] = {cdef}, p_3x[] = {p3}, p_05[] = {bdef, cdef, bdoc}, p_12[] = {adoc, bdoc},
               p_02[] = {bdoc};
    /* the extra heads (positions unspecified in the post): every position from the first
     * to the last of the named ones */
    const long all[] = {bdef, cb, cdef, adoc, bdoc, p3};
    long lo = all[0], hi = all[0];
    for (int i = 1; i < 6; i++) {
        if (all[i] < lo) lo = all[i];
        if (all[i] > hi) hi = all[i];
    }
    const head_pos hp[11] = {{p_14, 1, 0, 0}, {p_20, 1, 0, 0}, {p_3x, 1, 0, 0}, {p_3x, 1, 0, 0},
                             {p_05, 3, 0, 0}, {p_12, 2, 0, 0}, {p_02, 1, 0, 0}, {p_3x, 1, 0, 0},
                             {NULL, 0, lo, hi}, {NULL, 0, lo, hi}, {NULL, 0, lo, hi}};
    heads_edges(m, hs, hp, 11);
}

/* ---- entry points ---------------------------------------------------------------------- */

int ac_official_circuit_edges(const ac_official_circuit *c, const ac_graph *g,
                              const char *const *pos_names, const long *pos_values,
                              size_t n_pos, uint8_t *in_circuit, size_t *n_in, ac_error *err) {
    if (n_in) *n_in = 0;
    if (!c || !g || !in_circuit) return ac_error_set(err, AC_ERR_ARG, NULL, "official circuit: NULL argument");
    const int attn_only = g->n_layer > 0 && g->mlp_src[0] < 0;
    if (g->n_layer != c->n_layer || g->n_head != c->n_head || g->n_kv_head != c->n_head || attn_only != c->attn_only)
        return ac_error_set(err, AC_ERR_SHAPE, NULL,
                            "the %s circuit is defined for %s (%d layers x %d heads%s); this model has %d layers x %d "
                            "heads%s",
                            c->name, c->model, c->n_layer, c->n_head, c->attn_only ? ", attention only" : "",
                            g->n_layer, g->n_head, attn_only ? ", attention only" : "");
    if (c->needs_separate_qkv && !g->separate_qkv)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, NULL,
                            "the %s circuit names Q/K/V inputs: it needs a graph with separate Q/K/V", c->name);
    marker m = {.g = g, .in = in_circuit, .positional = g->seq_len > 0, .names = pos_names, .values = pos_values,
                .n = n_pos};
    if (m.positional) {
        /* every needed name present and inside the sequence */
        char need[128];
        snprintf(need, sizeof need, "%s", c->word_idxs);
        for (char *p = need, *q; p && *p; p = q) {
            q = strchr(p, ' ');
            if (q) *q++ = 0;
            size_t i;
            for (i = 0; i < n_pos && strcmp(pos_names[i], p); i++) {
            }
            if (i == n_pos)
                return ac_error_set(err, AC_ERR_ARG, NULL,
                                    "the %s circuit with token positions needs the named position '%s' (word_idxs: %s)",
                                    c->name, p, c->word_idxs);
            if (pos_values[i] < 0 || pos_values[i] >= g->seq_len)
                return ac_error_set(err, AC_ERR_RANGE, NULL, "named position '%s' = %ld is outside the sequence (0..%d)",
                                    p, pos_values[i], g->seq_len - 1);
        }
    }
    const ac_official_circuit *known = ac_official_circuit_find(c->name);
    if (!known) return ac_error_set(err, AC_ERR_ARG, NULL, "unknown official circuit '%s'", c->name ? c->name : "");
    memset(in_circuit, 0, g->n_edges);
    switch (known - circuits) {
    case C_IOI: ioi_edges(&m); break;
    case C_IOI_MLP0:
        ioi_edges(&m);
        keep_mlp0(&m);
        break;
    case C_IOI_HEADS: ioi_heads_edges(&m); break;
    case C_GT: gt_edges(&m); break;
    case C_DOC: doc_edges(&m); break;
    case C_DOC_HEADS: doc_heads_edges(&m); break;
    default: return ac_error_set(err, AC_ERR_ARG, NULL, "unknown official circuit");
    }
    if (n_in) {
        size_t k = 0;
        for (size_t e = 0; e < g->n_edges; e++) k += in_circuit[e];
        *n_in = k;
    }
    return AC_OK;
}

int ac_task_model_config(const char *name, ac_config *cfg, ac_error *err) {
    ac_config_defaults(cfg, AC_ARCH_GPT2);
    if (name && !strcmp(name, "gpt2-small")) {
        cfg->n_layer = 12;
        cfg->n_head = cfg->n_kv_head = 12;
        cfg->d_model = 768;
        cfg->d_head = 64;
        cfg->d_mlp = 3072;
        cfg->vocab_size = 50257;
        cfg->n_ctx = 1024;
        return AC_OK;
    }
    if (name && !strcmp(name, "attn-only-4l")) {
        cfg->n_layer = 4;
        cfg->n_head = cfg->n_kv_head = 8;
        cfg->d_model = 512;
        cfg->d_head = 64;
        cfg->d_mlp = 0;
        cfg->attn_only = 1;
        cfg->vocab_size = 48262;
        cfg->n_ctx = 2048;
        return AC_OK;
    }
    return ac_error_set(err, AC_ERR_ARG, NULL, "unknown model shape '%s' (known: gpt2-small, attn-only-4l)",
                        name ? name : "(null)");
}

/* ---- ground-truth file ------------------------------------------------------------------- */

static void put_json_string(FILE *f, const char *s) {
    json_t *v = json_string(s ? s : "");
    char *t = v ? ac__json_dumps(v, JSON_ENCODE_ANY) : NULL;
    fputs(t ? t : "\"\"", f);
    free(t);
    json_decref(v);
}

int ac_official_circuit_write(const char *path, const ac_graph *g, const uint8_t *in_circuit,
                              const char *circuit, const char *model, const char *data,
                              ac_error *err) {
    if (!g || !in_circuit) return ac_error_set(err, AC_ERR_ARG, path, "NULL argument to the ground-truth writer");
    size_t n = 0;
    for (size_t e = 0; e < g->n_edges; e++) n += in_circuit[e] != 0;
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) return rc;
    FILE *f = af.f;
    fputs("{\n  \"format\": \"autocircuit-ground-truth\",\n  \"version\": 1,\n  \"settings\": {", f);
    int k = 0;
    const char *keys[] = {"circuit", "model", "data"}, *vals[] = {circuit, model, data};
    for (int i = 0; i < 3; i++) {
        if (!vals[i]) continue;
        fprintf(f, "%s\"%s\": ", k++ ? ", " : "", keys[i]);
        put_json_string(f, vals[i]);
    }
    fprintf(f, "},\n  \"graph\": {\"separate_qkv\": %s, \"seq_len\": ", g->separate_qkv ? "true" : "false");
    if (g->seq_len > 0) fprintf(f, "%d", g->seq_len);
    else fputs("null", f);
    fprintf(f, ", \"n_edges\": %zu},\n  \"edges\": [", n);
    size_t w = 0;
    for (size_t e = 0; e < g->n_edges; e++) {
        if (!in_circuit[e]) continue;
        int pos, d, s;
        ac_graph_edge_at(g, e, &pos, &d, &s);
        fputs(w++ ? ",\n    {\"src\": " : "\n    {\"src\": ", f);
        put_json_string(f, g->srcs[s].name);
        fputs(", \"dest\": ", f);
        put_json_string(f, g->dests[d].name);
        if (pos >= 0) fprintf(f, ", \"pos\": %d}", pos);
        else fputs(", \"pos\": null}", f);
    }
    fputs(w ? "\n  ]\n}\n" : "]\n}\n", f);
    return ac__afile_commit(&af, err);
}
