/* Top-N overlap between scores files (similarity.h). */
#include <string.h>

#include "report/similarity.h"

int ac__scores_similarity(const ac_scores_file *const *files, const char *const *paths, size_t n,
                          const size_t *counts, size_t n_counts, double *out, ac_error *err) {
    if (n == 0) return AC_OK;
    const size_t E = files[0]->n_edges;
    int rc = AC_OK;
    for (size_t i = 0; i < n; i++) {
        const ac_scores_file *f = files[i];
        if (!f->has_scores) return ac_error_set(err, AC_ERR_FORMAT, paths[i], "a ground-truth file has no scores");
        if (f->n_edges != E)
            return ac_error_set(err, AC_ERR_SHAPE, paths[i], "%zu edges, but %s has %zu: not the same graph", f->n_edges,
                                paths[0], E);
        /* same graph: the same edges in the same order */
        for (size_t e = 0; e < E; e++) {
            const ac_edge_record *a = &files[0]->edges[e], *b = &f->edges[e];
            if (strcmp(a->src, b->src) || strcmp(a->dest, b->dest) || a->pos != b->pos)
                return ac_error_set(err, AC_ERR_SHAPE, paths[i], "edge %zu is %s->%s, but %s->%s in %s: not the same graph",
                                    e, b->src, b->dest, a->src, a->dest, paths[0]);
        }
    }
    for (size_t k = 0; k < n_counts; k++)
        if (counts[k] > E) return ac_error_set(err, AC_ERR_RANGE, NULL, "top %zu: the graph has %zu edges", counts[k], E);
    float **sc = ac_calloc(n, sizeof *sc);
    if (!sc) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        sc[i] = ac_malloc((E ? E : 1) * sizeof(float));
        if (!sc[i]) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        for (size_t e = 0; e < E; e++) sc[i][e] = (float)files[i]->edges[e].score;
    }
    for (size_t i = 0; i < n && !rc; i++)
        for (size_t j = 0; j < n && !rc; j++)
            rc = ac_prune_score_similarities(sc[i], sc[j], E, counts, n_counts, out + (i * n + j) * n_counts, err);
    for (size_t i = 0; i < n; i++) ac_free(sc[i]);
    ac_free(sc);
    return rc;
}
