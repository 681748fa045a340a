/* Helpers shared by the metric sources (src/metrics/). Not part of the public API. */
#ifndef AC_METRICS_INTERNAL_H
#define AC_METRICS_INTERNAL_H

#include "autocircuit/metrics.h"

/* log sum_j exp(row[j]) computed stably in double (max subtracted first). */
double ac__row_logsumexp(const float *row, size_t vocab);

/* The transformed value kind(x) given the row's log-sum-exp (ignored for logits). */
double ac__val_of(double x, ac_val_kind kind, double lse);

/* n_rows * vocab with overflow and zero checks; AC_OK or an error naming `what`. */
int ac__check_matrix(const void *p, size_t n_rows, size_t vocab, const char *what,
                     size_t *total, ac_error *err);

/* An edge index with its ranking key, for sorting. */
typedef struct ac__ranked {
    float key;
    size_t idx;
} ac__ranked;

/* Fill ranked[e] = {key(scores[e]), e} (key = |s|, or s when signed_rank) and sort by
 * key descending, ties by ascending index. Rejects NaN scores (AC_ERR_RANGE). */
int ac__rank_scores(const float *scores, size_t n_edges, int signed_rank,
                    ac__ranked *ranked, ac_error *err);

/* Number of leading entries of the descending array `desc` that are >= t. */
size_t ac__count_at_least(const float *desc, size_t n, double t);

#endif
