/* Exact patching: the true change of the loss when one edge alone is patched. Edges are
 * visited by destination, last destination first, and each run restarts at the
 * destination's block from the activations the previous run cached (nothing below the
 * destination differs between runs). */
#include <string.h>

#include "algos/algo_internal.h"

static int exact(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    const ac_graph *g = c->g;
    memset(scores, 0, g->n_edges * sizeof(float));
    memset(c->masks, 0, g->n_edges * sizeof(float));
    const size_t total = c->split->n_batches * g->n_edges;
    size_t done = 0;
    const int npos = g->seq_len > 0 ? g->seq_len : 1;
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        int rc = ac_patch_values(c, b, o->ablation, 0, c->patch, err);
        if (rc) return rc;
        double base;
        if ((rc = ac__algo_forward(c, b, 1, c->masks, c->patch, NULL, c->logits, err))) return rc;
        if ((rc = ac__algo_loss(c, b, o, c->logits, &base, NULL, err))) return rc;
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

int ac_algo_exact(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    int rc = exact(c, o, scores, err);
    ac__algo_prefix_end(c);
    return rc;
}
