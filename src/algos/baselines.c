/* Baseline scores: activation magnitude, random, ground truth. */
#include <math.h>
#include <string.h>

#include "algos/algo_internal.h"

int ac_algo_activation_magnitude(ac_algo_ctx *c, float *scores, ac_error *err) {
    const ac_graph *g = c->g;
    const size_t d = (size_t)ac_model_config(c->m)->d_model, nsrc = (size_t)g->n_src;
    double *mean = ac_calloc(nsrc, sizeof(double));
    if (!mean) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        int rc = ac__algo_forward(c, b, 1, NULL, NULL, c->other, NULL, err);
        if (rc) {
            ac_free(mean);
            return rc;
        }
        const size_t n = b->batch_size * b->seq_len * d;
        for (size_t s = 0; s < nsrc; s++) {
            double acc = 0;
            for (size_t i = 0; i < n; i++) acc += c->other[s * n + i];
            mean[s] += acc / (double)n / (double)c->split->n_batches;
        }
        ac__algo_progress(c, bi + 1, c->split->n_batches, "activation magnitude");
    }
    for (size_t e = 0; e < g->n_edges; e++) {
        int src;
        ac_graph_edge_at(g, e, NULL, NULL, &src);
        scores[e] = (float)fabs(mean[src]);
    }
    ac_free(mean);
    return AC_OK;
}

void ac_algo_random(const ac_graph *g, uint64_t seed, float *scores) {
    uint64_t s = seed;
    for (size_t e = 0; e < g->n_edges; e++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        scores[e] = (float)(z >> 40) / 16777216.0f;
    }
}

int ac_algo_ground_truth(const ac_graph *g, const uint8_t *official, float *scores, ac_error *err) {
    if (!official) return ac_error_set(err, AC_ERR_ARG, NULL, "the ground-truth algorithm needs a ground-truth edge file");
    for (size_t e = 0; e < g->n_edges; e++) scores[e] = official[e] ? 1.0f : 0.0f;
    return AC_OK;
}
