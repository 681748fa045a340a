/* autocircuit — the circuit graph: source nodes, destination nodes and edges.
 *
 * The factorized graph is auto-circuit's (see docs/graph.md):
 *   sources       Resid Start, A{l}.{h} (each head's slice of the output projection,
 *                 without b_O), MLP {l} (the MLP sublayer's output)
 *   destinations  A{l}.{h}.Q / .K / .V (or A{l}.{h} with combined Q/K/V), MLP {l},
 *                 Resid End; for grouped-query models K/V destinations are per
 *                 key/value head and named A{l}.kv{g}.K / A{l}.kv{g}.V
 *   edges         every (source, destination) with source graph layer < destination
 *                 graph layer; optionally once per token position.
 * Sources are numbered in graph-layer order, so the sources feeding a destination are
 * exactly src 0 .. n_in-1, and a destination's edges form one contiguous block.
 *
 * Edge order: destinations in order (per layer: Q heads, K heads, V heads, then MLP;
 * Resid End last), within a destination its sources in src order. With per-position
 * edges the whole list is repeated for each position: edge (pos, e) has index
 * pos * n_edges_per_pos + e.
 */
#ifndef AUTOCIRCUIT_GRAPH_H
#define AUTOCIRCUIT_GRAPH_H

#include "autocircuit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AC_SRC_RESID_START = 0,
    AC_SRC_HEAD = 1,
    AC_SRC_MLP = 2
} ac_src_kind;

typedef enum {
    AC_DEST_Q = 0,
    AC_DEST_K = 1,
    AC_DEST_V = 2,
    AC_DEST_QKV = 3, /* combined Q/K/V input of one head */
    AC_DEST_MLP = 4,
    AC_DEST_RESID_END = 5
} ac_dest_kind;

typedef struct ac_src_node {
    char name[32];
    ac_src_kind kind;
    int layer;       /* transformer block, -1 for Resid Start */
    int head;        /* head index for AC_SRC_HEAD, else -1 */
    int graph_layer;
    int src_idx;
} ac_src_node;

typedef struct ac_dest_node {
    char name[32];
    ac_dest_kind kind;
    int layer;       /* transformer block; n_layer for Resid End */
    int head;        /* query head (Q, QKV) or key/value head (K, V); else -1 */
    int graph_layer;
    int n_in;        /* sources feeding it: src 0 .. n_in-1 */
    size_t edge_offset; /* index of its first edge within one position's edge list */
} ac_dest_node;

typedef struct ac_graph_opts {
    int separate_qkv; /* 1 (default): Q, K, V destinations; 0: one per head */
    int seq_len;      /* > 0: edges per token position; 0 (default): shared */
} ac_graph_opts;

typedef struct ac_graph {
    int n_src, n_dest;
    ac_src_node *srcs;    /* [n_src] */
    ac_dest_node *dests;  /* [n_dest] */
    size_t n_edges_per_pos; /* edges without positions */
    size_t n_edges;         /* n_edges_per_pos * max(seq_len, 1) */
    int seq_len;
    int separate_qkv;
    int n_graph_layers;   /* graph layer of Resid End + 1 */
    /* per transformer block: the range of destinations of its attention and its MLP */
    int *attn_dest_begin, *attn_dest_end; /* [n_layer] */
    int *mlp_dest;                        /* [n_layer], -1 when attention-only */
    int *head_src;                        /* [n_layer]: src index of head 0 */
    int *mlp_src;                         /* [n_layer]: src index of the MLP, -1 if none */
    int n_layer, n_head, n_kv_head;
} ac_graph;

/* Build the graph of a model configuration. Errors: AC_ERR_UNSUPPORTED for combined
 * Q/K/V on a grouped-query model, AC_ERR_ARG for a negative seq_len, AC_ERR_NOMEM.
 * *out is owned by the caller (ac_graph_free). */
int ac_graph_build(ac_graph **out, const ac_config *cfg, const ac_graph_opts *opts,
                   ac_error *err);
void ac_graph_free(ac_graph *g);

/* Default options: separate Q/K/V, no positions. */
ac_graph_opts ac_graph_default_opts(void);

/* Edge index of (pos, dest, src) (pos ignored/0 without positions), or (size_t)-1 if
 * src does not feed dest. */
size_t ac_graph_edge_index(const ac_graph *g, int pos, int dest, int src);

/* Decompose an edge index into (pos, dest, src); pos = -1 without positions. */
void ac_graph_edge_at(const ac_graph *g, size_t edge, int *pos, int *dest, int *src);

/* Write "SRC->DEST" (no position) into buf (at most n bytes); returns buf. */
char *ac_graph_edge_name(const ac_graph *g, size_t edge, char *buf, size_t n);

/* Look up nodes by name; -1 when absent. */
int ac_graph_find_src(const ac_graph *g, const char *name);
int ac_graph_find_dest(const ac_graph *g, const char *name);

/* Parse "SRC->DEST" into an edge index for position pos (0 without positions).
 * Returns (size_t)-1 when the name is not an edge of the graph. */
size_t ac_graph_find_edge(const ac_graph *g, const char *name, int pos);

/* Node-level residual ("unfactorized") graph edge count per position for this config:
 * Resid Mid b <- resid in + heads; Resid Post b <- Resid Mid b, MLP b. */
size_t ac_graph_residual_edge_count(const ac_config *cfg);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_GRAPH_H */
