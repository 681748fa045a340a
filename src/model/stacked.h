/* Stacked single-edge re-runs (exact patching, docs/performance.md).
 *
 * Exact patching patches one edge at a time on top of an unpatched forward and re-runs
 * the network from the edge's destination on. The re-runs of k edges of one destination
 * share everything below the destination, so they are computed together as one batch of
 * k·B prompts ("stacked"): the destination's k patched inputs are formed from the base
 * forward's cached activations and its patch − current stack, and every later layer runs
 * once on k·B·T rows (large GEMMs instead of k small ones; the weights are read once per
 * chunk instead of once per edge). At the destination's own layer only what the patch
 * changes is recomputed (for a Q/K/V input, the affected heads' attention; their output
 * projections are added to the base residual as a difference), and the last layer runs
 * its output projection and MLP on the last position only (the only one read).
 *
 * Internal to the library (ac__ prefix). */
#ifndef AC_MODEL_STACKED_H
#define AC_MODEL_STACKED_H

#include "autocircuit/engine.h"

typedef struct ac_edge_stack ac_edge_stack;

/* A workspace for stacked re-runs of up to max_k edges on batches of run r (at most its
 * max_B × max_T tokens). *out owned by the caller (ac__edge_stack_free).
 * Errors: AC_ERR_ARG (max_k < 1, run without graph), AC_ERR_NOMEM. */
int ac__edge_stack_create(ac_edge_stack **out, const ac_run *r, int max_k, ac_error *err);
void ac__edge_stack_free(ac_edge_stack *s);
int ac__edge_stack_max_k(const ac_edge_stack *s);

/* Edges per chunk so that a chunk holds about `rows` token rows of a B × T batch
 * (at least 1). */
int ac__edge_stack_k_for_rows(long rows, int B, int T);

/* Whether run r's last forward can serve as the base of stacked re-runs: it completed,
 * had patch values and no destination with a non-zero mask, shared (not per-row) masks,
 * and r's graph is the factorized one. */
int ac__edge_stack_usable(const ac_run *r);

/* Last-position logits out[k][B][V] of k forwards that each patch one edge
 * (pos, dest, srcs[i]) alone with mask 1 on top of run r's last forward (the base; see
 * ac__edge_stack_usable), for srcs[i] sources of `dest`. pos is the edge's graph
 * position with a per-position graph (it must be one the forward ran: >= the cached
 * prefix length), ignored otherwise. The base forward's activations are not changed.
 * Errors: AC_ERR_ARG (unusable base, k out of range, a source that does not feed dest,
 * pos out of range). */
int ac__edge_stack_run(ac_edge_stack *s, const ac_run *r, int dest, int pos, const int *srcs, int k,
                       float *out, ac_error *err);

/* FLOPs (matrix products, the convention of bench/bench_flops.h) of one
 * ac__edge_stack_run of k edges of `dest` on a B × T batch (T: the positions the forward
 * runs; P: the cached prefix). */
double ac__edge_stack_flops(const ac_config *c, const ac_graph *g, int dest, int k, int B, int T, int P);

#endif
