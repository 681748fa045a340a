/* Exact patching: the true change of the loss when one edge alone is patched. Edges are
 * visited by destination, last destination first. The re-runs of a destination's edges
 * are stacked: chunks of k edges run together as one batch of k·B prompts from the
 * destination's block on (src/model/stacked.h), starting from the unpatched forward's
 * cached activations (nothing below the destination differs between runs). Where the
 * stacked path does not apply (the residual graph), each edge re-runs alone from the
 * destination's block. */
#include <string.h>

#include "algos/algo_internal.h"
#include "model/stacked.h"

/* Token rows of one stacked re-run when the context does not say (ac_algo_ctx.stack_rows) */
#define EXACT_STACK_ROWS 2048

int ac__algo_exact_chunk(ac_algo_ctx *c, ac_edge_stack *st, float *logits, const ac_batch *b,
                         const ac_discover_opts *o, int dest, int pos, const int *srcs, int k, double base,
                         float *scores, ac_error *err) {
    const ac_graph *g = c->g;
    int rc = ac__edge_stack_run(st, c->run, dest, pos, srcs, k, logits, err);
    if (rc) return rc;
    const size_t BV = b->batch_size * (size_t)ac_model_config(c->m)->vocab_size;
    for (int i = 0; i < k; i++) {
        double loss;
        if ((rc = ac__algo_loss(c, b, o, logits + (size_t)i * BV, &loss, NULL, err))) return rc;
        if (scores) scores[ac_graph_edge_index(g, pos < 0 ? 0 : pos, dest, srcs[i])] += (float)(loss - base);
    }
    return AC_OK;
}

static int exact(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_edge_stack *st, float *klogits,
                 int *srcs, ac_error *err) {
    const ac_graph *g = c->g;
    memset(scores, 0, g->n_edges * sizeof(float));
    memset(c->masks, 0, g->n_edges * sizeof(float));
    const size_t total = c->split->n_batches * g->n_edges;
    size_t done = 0, reported = 0;
    const int npos = g->seq_len > 0 ? g->seq_len : 1;
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        int rc = ac__patch_values(c, b, o->ablation, 0, 1, c->patch, err);
        if (rc) return rc;
        double base;
        if ((rc = ac__algo_forward(c, b, 1, c->masks, c->patch, NULL, c->logits, err))) return rc;
        if ((rc = ac__algo_loss(c, b, o, c->logits, &base, NULL, err))) return rc;
        const int stacked = st && ac__edge_stack_usable(c->run);
        const int kmax = st ? ac__edge_stack_max_k(st) : 1;
        /* with the prefix cache, edges at prefix positions (per-position graphs) change
         * nothing: their score stays 0 */
        const int p0 = g->seq_len > 0 ? ac__algo_pos0(c) : 0;
        for (int dd = g->n_dest - 1; dd >= 0; dd--) {
            const ac_dest_node *dn = &g->dests[dd];
            for (int p = npos - 1; p >= 0; p--) {
                if (p < p0) {
                    done += (size_t)dn->n_in;
                    continue;
                }
                if (stacked) {
                    for (int hi = dn->src_begin + dn->n_in; hi > dn->src_begin;) {
                        const int k = hi - dn->src_begin < kmax ? hi - dn->src_begin : kmax;
                        for (int i = 0; i < k; i++) srcs[i] = hi - 1 - i;
                        rc = ac__algo_exact_chunk(c, st, klogits, b, o, dd, g->seq_len > 0 ? p : -1, srcs, k, base,
                                                  scores, err);
                        if (rc) return rc;
                        hi -= k;
                        done += (size_t)k;
                        if (done - reported >= 256) {
                            ac__algo_progress(c, done, total, "exact patching");
                            reported = done;
                        }
                    }
                    continue;
                }
                for (int s = dn->src_begin + dn->n_in - 1; s >= dn->src_begin; s--) {
                    const size_t e = ac_graph_edge_index(g, p, dd, s);
                    c->masks[e] = 1.0f;
                    rc = ac__algo_rerun(c, b, c->masks, c->patch, dn->layer, ac__algo_dest_at_mlp(dn), c->logits, err);
                    c->masks[e] = 0.0f;
                    double loss;
                    if (rc || (rc = ac__algo_loss(c, b, o, c->logits, &loss, NULL, err))) return rc;
                    scores[e] += (float)(loss - base);
                    if ((++done & 255) == 0) ac__algo_progress(c, done, total, "exact patching");
                }
            }
        }
        ac__algo_progress(c, done, total, "exact patching");
    }
    return AC_OK;
}

int ac__algo_exact_stack_create(ac_algo_ctx *c, ac_edge_stack **st, float **klogits, int **srcs, ac_error *err) {
    *st = NULL;
    *klogits = NULL;
    *srcs = NULL;
    if (c->stack_rows < 0 || c->g->residual) return AC_OK; /* edge by edge */
    const int T = c->max_T - (c->use_prefix ? (int)c->prefix : 0);
    int k = ac__edge_stack_k_for_rows(c->stack_rows ? c->stack_rows : EXACT_STACK_ROWS, c->max_B, T);
    int max_in = 1;
    for (int dd = 0; dd < c->g->n_dest; dd++)
        if (c->g->dests[dd].n_in > max_in) max_in = c->g->dests[dd].n_in;
    if (k > max_in) k = max_in;
    int rc = ac__edge_stack_create(st, c->run, k, err);
    if (rc) return rc;
    *klogits = ac_malloc((size_t)k * (size_t)c->max_B * (size_t)ac_model_config(c->m)->vocab_size * sizeof(float));
    *srcs = ac_malloc((size_t)k * sizeof(int));
    if (!*klogits || !*srcs) {
        ac__edge_stack_free(*st);
        ac_free(*klogits);
        ac_free(*srcs);
        *st = NULL;
        *klogits = NULL;
        *srcs = NULL;
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for stacked exact patching");
    }
    return AC_OK;
}

int ac_algo_exact(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    ac_edge_stack *st;
    float *klogits;
    int *srcs;
    int rc = ac__algo_exact_stack_create(c, &st, &klogits, &srcs, err);
    if (!rc) rc = exact(c, o, scores, st, klogits, srcs, err);
    ac__edge_stack_free(st);
    ac_free(klogits);
    ac_free(srcs);
    ac__algo_prefix_end(c);
    return rc;
}
