/* autocircuit — the circuit graph: source nodes, destination nodes and edges.
 *
 * Two graphs (see docs/graph.md). The factorized graph is auto-circuit's default:
 *   sources       Resid Start, A{l}.{h} (each head's slice of the output projection,
 *                 without b_O), MLP {l} (the MLP sublayer's output)
 *   destinations  A{l}.{h}.Q / .K / .V (or A{l}.{h} with combined Q/K/V), MLP {l},
 *                 Resid End; for grouped-query models K/V destinations are per
 *                 key/value head and named A{l}.kv{g}.K / A{l}.kv{g}.V
 *   edges         every (source, destination) with source graph layer < destination
 *                 graph layer; optionally once per token position.
 * The node-level residual ("unfactorized") graph (ac_graph_opts.residual) patches the
 * residual stream itself, auto-circuit's simple_graph_nodes:
 *   sources       Resid Start, A{b}.{h}, Resid Mid {b}, MLP {b}, Resid Post {b}
 *                 (every block's output but the last)
 *   destinations  Resid Mid {b} (the residual after attention) and Resid Post {b} (after
 *                 the MLP; the last one is named Resid End)
 *   edges         Resid Mid b <- the residual entering block b (Resid Start or Resid
 *                 Post b-1) and block b's heads; Resid Post b <- Resid Mid b, MLP b.
 *                 Attention-only models have no Resid Mid: Resid Post b <- the residual
 *                 entering block b and its heads.
 * A residual destination's value is its normal value + Σ m (P_s − C_s); that patched
 * value is what the rest of the network reads and what the same-named source records.
 *
 * Sources are numbered in graph-layer order, so the sources feeding a destination are
 * exactly src src_begin .. src_begin+n_in-1 (src_begin is 0 in the factorized graph),
 * and a destination's edges form one contiguous block.
 *
 * Edge order: destinations in order (factorized, per layer: Q heads, K heads, V heads,
 * then MLP; residual: Resid Mid b, Resid Post b; Resid End last), within a destination
 * its sources in src order. With per-position edges the whole list is repeated for each
 * position: edge (pos, e) has index pos * n_edges_per_pos + e.
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
    AC_SRC_MLP = 2,
    AC_SRC_RESID_MID = 3,  /* residual graph: Resid Mid {b} (the patched residual) */
    AC_SRC_RESID_POST = 4  /* residual graph: Resid Post {b}, the residual entering b+1 */
} ac_src_kind;

typedef enum {
    AC_DEST_Q = 0,
    AC_DEST_K = 1,
    AC_DEST_V = 2,
    AC_DEST_QKV = 3, /* combined Q/K/V input of one head */
    AC_DEST_MLP = 4,
    AC_DEST_RESID_END = 5,
    AC_DEST_RESID_MID = 6, /* residual graph: the residual after block b's attention */
    AC_DEST_RESID_POST = 7 /* residual graph: block b's output (b < n_layer-1) */
} ac_dest_kind;

typedef struct ac_src_node {
    char name[32];
    ac_src_kind kind;
    int layer;       /* transformer block that produces it, -1 for Resid Start */
    int head;        /* head index for AC_SRC_HEAD, else -1 */
    int graph_layer;
    int src_idx;
} ac_src_node;

typedef struct ac_dest_node {
    char name[32];
    ac_dest_kind kind;
    int layer;       /* transformer block that reads it (a partial re-run starts there,
                        at its MLP for MLP and Resid Mid); n_layer for Resid End. In the
                        residual graph Resid Post b has layer b+1 */
    int head;        /* query head (Q, QKV) or key/value head (K, V); else -1 */
    int graph_layer;
    int n_in;        /* sources feeding it: src src_begin .. src_begin+n_in-1 */
    size_t edge_offset; /* index of its first edge within one position's edge list */
    int src_begin;   /* its first source (0 in the factorized graph) */
} ac_dest_node;

typedef struct ac_graph_opts {
    int separate_qkv; /* 1 (default): Q, K, V destinations; 0: one per head */
    int seq_len;      /* > 0: edges per token position; 0 (default): shared */
    int residual;     /* 1: the node-level residual graph (separate_qkv is then ignored);
                         0 (default): the factorized graph */
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
    int *attn_dest_begin, *attn_dest_end; /* [n_layer]; empty ranges in the residual graph */
    int *mlp_dest;                        /* [n_layer], -1 when attention-only or residual */
    int *head_src;                        /* [n_layer]: src index of head 0 */
    int *mlp_src;                         /* [n_layer]: src index of the MLP, -1 if none */
    int n_layer, n_head, n_kv_head;
    /* residual graph only (every entry -1 in the factorized graph), [n_layer] each */
    int residual;         /* built with ac_graph_opts.residual */
    int *resid_pre_src;   /* the source of the residual entering block b (0: Resid Start,
                             else Resid Post b-1) */
    int *resid_mid_src;   /* Resid Mid b as a source, -1 when attention-only */
    int *resid_mid_dest;  /* Resid Mid b as a destination, -1 when attention-only */
    int *resid_post_dest; /* Resid Post b (the last is Resid End) */
} ac_graph;

/* Build the graph of a model configuration. Errors: AC_ERR_UNSUPPORTED for combined
 * Q/K/V on a grouped-query model (factorized graph), AC_ERR_ARG for a negative seq_len,
 * AC_ERR_NOMEM.
 * *out is owned by the caller (ac_graph_free). */
int ac_graph_build(ac_graph **out, const ac_config *cfg, const ac_graph_opts *opts,
                   ac_error *err);
void ac_graph_free(ac_graph *g);

/* Default options: factorized, separate Q/K/V, no positions. */
ac_graph_opts ac_graph_default_opts(void);

/* Edge index of (pos, dest, src) (src a global source index; pos ignored/0 without
 * positions), or (size_t)-1 if src does not feed dest. */
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

/* Node-level residual ("unfactorized") graph edge count per position for this config
 * (the n_edges_per_pos of the graph built with residual = 1):
 * Resid Mid b <- resid in + heads; Resid Post b <- Resid Mid b, MLP b. */
size_t ac_graph_residual_edge_count(const ac_config *cfg);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_GRAPH_H */
