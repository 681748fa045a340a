/* Top-N overlap between the rankings of several scores files (auto-circuit's
 * prune_score_similarities), shared by `autocircuit compare` and the report. */
#ifndef AC_REPORT_SIMILARITY_H
#define AC_REPORT_SIMILARITY_H

#include "autocircuit/scores.h"

/* files[0..n): scores files of the same graph (the same edges in the same order;
 * paths[i] names file i in errors). out: [n][n][n_counts], out[(i*n + j)*n_counts + k] =
 * |top-counts[k](i) ∩ top-counts[k](j)| / counts[k], NaN where ties make a top set
 * inexact. Errors: AC_ERR_FORMAT (a ground-truth file), AC_ERR_SHAPE (another graph,
 * naming the first differing edge), AC_ERR_RANGE (a count above the edge count),
 * AC_ERR_NOMEM. */
int ac__scores_similarity(const ac_scores_file *const *files, const char *const *paths, size_t n,
                          const size_t *counts, size_t n_counts, double *out, ac_error *err);

#endif
