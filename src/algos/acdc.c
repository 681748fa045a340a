/* ACDC (Conmy et al.) as auto-circuit implements it: greedy removal of edges in reverse
 * topological order, one threshold at a time. */
#include <math.h>
#include <string.h>

#include "algos/algo_internal.h"

/* faithfulness of the current patched logits against the clean logits: KL(clean ‖
 * patched) (batch mean) or the mean squared error */
static int faithfulness(ac_algo_ctx *c, int mse, size_t B, double *out, ac_error *err) {
    const size_t V = (size_t)ac_model_config(c->m)->vocab_size;
    if (!mse) return ac_measure_kl_div(c->logits, c->logits_ref, B, V, out, err);
    double acc = 0;
    for (size_t i = 0; i < B * V; i++) {
        double dlt = (double)c->logits[i] - c->logits_ref[i];
        acc += dlt * dlt;
    }
    *out = acc / (double)(B * V);
    return AC_OK;
}

static int acdc(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    static const double default_taus[] = {1e-6, 1e-5, 1e-4, 1e-3};
    const double *taus = o->taus ? o->taus : default_taus;
    const size_t n_taus = o->taus ? o->n_taus : 4;
    const ac_graph *g = c->g;
    for (size_t e = 0; e < g->n_edges; e++) scores[e] = INFINITY;
    const size_t nb = o->acdc_all_batches ? c->split->n_batches : 1;
    if (nb > 1)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, NULL,
                            "ACDC over several batches is not supported yet: use one batch (the "
                            "first, as auto-circuit) or a larger batch size");
    const ac_batch *b = &c->split->batches[0];
    const size_t B = b->batch_size;
    int rc = ac__patch_values(c, b, o->ablation, 0, 1, c->patch, err);
    if (rc) return rc;
    /* clean reference output */
    if ((rc = ac__algo_forward(c, b, 1, NULL, NULL, NULL, c->logits_ref, err))) return rc;
    const int npos = g->seq_len > 0 ? g->seq_len : 1;
    /* with the prefix cache, patching an edge at a prefix position (per-position graphs)
     * leaves the output unchanged: faithfulness − previous = 0 */
    const int p0 = g->seq_len > 0 ? ac__algo_pos0(c) : 0;
    const size_t total = n_taus * g->n_edges;
    size_t done = 0;
    for (size_t ti = 0; ti < n_taus; ti++) {
        const double tau = taus[ti];
        memset(c->masks, 0, g->n_edges * sizeof(float));
        /* full forward with every mask 0 caches the activations partial runs start from */
        if ((rc = ac__algo_forward(c, b, 1, c->masks, c->patch, NULL, c->logits, err))) return rc;
        double prev;
        if ((rc = faithfulness(c, o->acdc_mse, B, &prev, err))) return rc;
        /* destination graph layer descending; within it, descending edge index */
        for (int dd = g->n_dest - 1; dd >= 0; dd--) {
            const ac_dest_node *dn = &g->dests[dd];
            for (int p = npos - 1; p >= 0; p--) {
                for (int s = dn->src_begin + dn->n_in - 1; s >= dn->src_begin; s--) {
                    const size_t e = ac_graph_edge_index(g, p, dd, s);
                    c->masks[e] = 1.0f;
                    double faith = prev;
                    if (p >= p0) {
                        if ((rc = ac__algo_rerun(c, b, c->masks, c->patch, dn->layer, ac__algo_dest_at_mlp(dn),
                                                 c->logits, err)))
                            return rc;
                        if ((rc = faithfulness(c, o->acdc_mse, B, &faith, err))) return rc;
                    }
                    if (faith - prev < tau) {
                        /* the edge stays removed */
                        if ((float)tau < scores[e]) scores[e] = (float)tau;
                        prev = faith;
                    } else {
                        c->masks[e] = 0.0f;
                    }
                    if ((++done & 255) == 0) ac__algo_progress(c, done, total, "ACDC");
                }
            }
        }
        ac__algo_progress(c, done, total, "ACDC");
    }
    return AC_OK;
}

int ac_algo_acdc(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    int rc = acdc(c, o, scores, err);
    ac__algo_prefix_end(c);
    return rc;
}
