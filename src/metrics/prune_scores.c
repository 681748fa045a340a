/* Prune-score ranking, thresholds, top-k selection, edge-count sweeps and ranking
 * similarity. See docs/metrics.md, "Prune scores" and "Edge-count sweeps". */
#include "metrics_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- ranking ---------------------------------------------------------------------------- */

static int check_scores(const float *scores, size_t n_edges, const char *what, ac_error *err) {
    if (n_edges > 0 && !scores)
        return ac_error_set(err, AC_ERR_ARG, NULL, "%s: NULL scores", what);
    for (size_t e = 0; e < n_edges; e++)
        if (isnan(scores[e]))
            return ac_error_set(err, AC_ERR_RANGE, NULL, "%s: score of edge %zu is NaN", what,
                                e);
    return AC_OK;
}

static int cmp_ranked(const void *pa, const void *pb) {
    const ac__ranked *a = pa, *b = pb;
    if (a->key > b->key) return -1;
    if (a->key < b->key) return 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_float_desc(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a < b) - (a > b);
}

static int cmp_size_asc(const void *pa, const void *pb) {
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return (a > b) - (a < b);
}

int ac__rank_scores(const float *scores, size_t n_edges, int signed_rank,
                    ac__ranked *ranked, ac_error *err) {
    int rc = check_scores(scores, n_edges, "rank scores", err);
    if (rc != AC_OK) return rc;
    for (size_t e = 0; e < n_edges; e++) {
        ranked[e].key = signed_rank ? scores[e] : fabsf(scores[e]);
        ranked[e].idx = e;
    }
    if (n_edges > 1) qsort(ranked, n_edges, sizeof *ranked, cmp_ranked);
    return AC_OK;
}

size_t ac__count_at_least(const float *desc, size_t n, double t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((double)desc[mid] >= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int ac_flat_prune_scores(const float *const *parts, const size_t *sizes, size_t n_parts,
                         float **out, size_t *n_out, ac_error *err) {
    if (!out || !n_out || (n_parts > 0 && (!parts || !sizes)))
        return ac_error_set(err, AC_ERR_ARG, NULL, "flat prune scores: NULL argument");
    *out = NULL;
    *n_out = 0;
    size_t total = 0;
    for (size_t i = 0; i < n_parts; i++) {
        if (sizes[i] > 0 && !parts[i])
            return ac_error_set(err, AC_ERR_ARG, NULL, "flat prune scores: part %zu is NULL",
                                i);
        if (ac_add_size(total, sizes[i], &total) != 0)
            return ac_error_set(err, AC_ERR_RANGE, NULL, "flat prune scores: size overflows");
    }
    if (total == 0) return AC_OK;
    size_t bytes;
    if (ac_mul_size(total, sizeof(float), &bytes) != 0)
        return ac_error_set(err, AC_ERR_RANGE, NULL, "flat prune scores: size overflows");
    float *flat = ac_malloc(bytes);
    if (!flat) return ac_error_set(err, AC_ERR_NOMEM, NULL, "flat prune scores: out of memory");
    size_t at = 0;
    for (size_t i = 0; i < n_parts; i++) {
        if (sizes[i] > 0) memcpy(flat + at, parts[i], sizes[i] * sizeof(float));
        at += sizes[i];
    }
    *out = flat;
    *n_out = total;
    return AC_OK;
}

int ac_desc_prune_scores(const float *scores, size_t n_edges, int signed_rank, float *out,
                         ac_error *err) {
    int rc = check_scores(scores, n_edges, "desc prune scores", err);
    if (rc != AC_OK) return rc;
    if (n_edges > 0 && !out)
        return ac_error_set(err, AC_ERR_ARG, NULL, "desc prune scores: NULL output");
    for (size_t e = 0; e < n_edges; e++) out[e] = signed_rank ? scores[e] : fabsf(scores[e]);
    if (n_edges > 1) qsort(out, n_edges, sizeof *out, cmp_float_desc);
    return AC_OK;
}

int ac_prune_scores_threshold(const float *desc, size_t n_edges, size_t k, double *out,
                              ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "threshold: NULL output");
    if (k > n_edges)
        return ac_error_set(err, AC_ERR_RANGE, NULL, "threshold: %zu edges requested of %zu", k,
                            n_edges);
    if (k == 0) {
        *out = INFINITY;
        return AC_OK;
    }
    if (!desc) return ac_error_set(err, AC_ERR_ARG, NULL, "threshold: NULL scores");
    *out = (double)desc[k - 1];
    return AC_OK;
}

int ac_prune_scores_order(const float *scores, size_t n_edges, int signed_rank,
                          size_t *order, ac_error *err) {
    if (n_edges == 0) return AC_OK;
    if (!order) return ac_error_set(err, AC_ERR_ARG, NULL, "prune scores order: NULL output");
    ac__ranked *ranked = ac_calloc(n_edges, sizeof *ranked);
    if (!ranked) return ac_error_set(err, AC_ERR_NOMEM, NULL, "prune scores order: out of memory");
    int rc = ac__rank_scores(scores, n_edges, signed_rank, ranked, err);
    if (rc == AC_OK)
        for (size_t e = 0; e < n_edges; e++) order[e] = ranked[e].idx;
    ac_free(ranked);
    return rc;
}

/* |score| or score of edge e */
static double key_of(const float *scores, size_t e, int signed_rank) {
    return signed_rank ? (double)scores[e] : (double)fabsf(scores[e]);
}

int ac_prune_scores_select(const float *scores, size_t n_edges, size_t k, int signed_rank,
                           uint8_t *selected, size_t *n_selected, ac_error *err) {
    if (k > n_edges)
        return ac_error_set(err, AC_ERR_RANGE, NULL, "top-k: %zu edges requested of %zu", k,
                            n_edges);
    if (n_edges == 0) {
        if (n_selected) *n_selected = 0;
        return AC_OK;
    }
    if (!selected) return ac_error_set(err, AC_ERR_ARG, NULL, "top-k: NULL output");
    float *desc = ac_calloc(n_edges, sizeof *desc);
    if (!desc) return ac_error_set(err, AC_ERR_NOMEM, NULL, "top-k: out of memory");
    int rc = ac_desc_prune_scores(scores, n_edges, signed_rank, desc, err);
    double t = 0.0;
    if (rc == AC_OK) rc = ac_prune_scores_threshold(desc, n_edges, k, &t, err);
    ac_free(desc);
    if (rc != AC_OK) return rc;
    size_t count = 0;
    for (size_t e = 0; e < n_edges; e++) {
        selected[e] = key_of(scores, e, signed_rank) >= t;
        count += selected[e];
    }
    if (n_selected) *n_selected = count;
    return AC_OK;
}

/* ---- edge-count sweeps ------------------------------------------------------------------ */

typedef struct count_list {
    size_t *v;
    size_t n, cap;
} count_list;

static int list_push(count_list *l, size_t x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16, bytes;
        if (ac_mul_size(cap, sizeof *l->v, &bytes) != 0) return -1;
        size_t *v = ac_realloc(l->v, bytes);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

static long list_find(const count_list *l, size_t x) {
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == x) return (long)i;
    return -1;
}

static void list_remove_at(count_list *l, size_t at) {
    memmove(l->v + at, l->v + at + 1, (l->n - at - 1) * sizeof *l->v);
    l->n--;
}

/* Cumulative sizes of the groups of equal |score|, by |score| descending; also the
 * number of groups (distinct |score| values). groups may be NULL (count only). */
static int score_groups(const float *scores, size_t n_edges, count_list *groups,
                        size_t *n_unique, ac_error *err) {
    *n_unique = 0;
    if (n_edges == 0) return AC_OK;
    float *desc = ac_calloc(n_edges, sizeof *desc);
    if (!desc) return ac_error_set(err, AC_ERR_NOMEM, NULL, "edge counts: out of memory");
    int rc = ac_desc_prune_scores(scores, n_edges, 0, desc, err);
    for (size_t e = 0; rc == AC_OK && e < n_edges; e++) {
        if (e + 1 == n_edges || desc[e + 1] != desc[e]) {
            (*n_unique)++;
            if (groups && list_push(groups, e + 1) != 0)
                rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "edge counts: out of memory");
        }
    }
    ac_free(desc);
    return rc;
}

int ac_edge_counts(size_t n_edges, const ac_edge_counts_spec *spec, const float *scores,
                   size_t **counts, size_t *n_counts, ac_error *err) {
    static const ac_edge_counts_spec default_spec;
    if (!counts || !n_counts)
        return ac_error_set(err, AC_ERR_ARG, NULL, "edge counts: NULL output");
    *counts = NULL;
    *n_counts = 0;
    if (!spec) spec = &default_spec;
    int rc = AC_OK;
    if (scores && (rc = check_scores(scores, n_edges, "edge counts", err)) != AC_OK) return rc;

    ac_edge_counts_kind kind = spec->kind;
    if (kind == AC_EDGE_COUNTS_DEFAULT) {
        kind = n_edges > 200 ? AC_EDGE_COUNTS_LOGARITHMIC : AC_EDGE_COUNTS_ALL;
        if (scores) {
            size_t n_unique = 0;
            if ((rc = score_groups(scores, n_edges, NULL, &n_unique, err)) != AC_OK) return rc;
            double limit = (double)n_edges / 2.0;
            if (limit > 100.0) limit = 100.0;
            if ((double)n_unique < limit) kind = AC_EDGE_COUNTS_GROUPS;
        }
    }

    count_list l = {NULL, 0, 0};
    int nomem = 0;
    switch (kind) {
    case AC_EDGE_COUNTS_ALL:
        for (size_t c = 0; c <= n_edges && !nomem; c++) nomem = list_push(&l, c) != 0;
        break;
    case AC_EDGE_COUNTS_LOGARITHMIC:
        /* n in [1, n_edges) with n a multiple of the largest power of ten <= n */
        for (size_t p = 1; p < n_edges && !nomem; p *= 10) {
            for (size_t d = 1; d <= 9 && d * p < n_edges && !nomem; d++)
                nomem = list_push(&l, d * p) != 0;
            if (p > SIZE_MAX / 10) break;
        }
        break;
    case AC_EDGE_COUNTS_GROUPS: {
        if (!scores && n_edges > 0) {
            rc = ac_error_set(err, AC_ERR_ARG, NULL, "edge counts: GROUPS needs prune scores");
            break;
        }
        size_t n_unique;
        rc = score_groups(scores, n_edges, &l, &n_unique, err);
        break;
    }
    case AC_EDGE_COUNTS_LIST:
        if ((spec->n_ints > 0 && !spec->ints) || (spec->n_fractions > 0 && !spec->fractions)) {
            rc = ac_error_set(err, AC_ERR_ARG, NULL, "edge counts: NULL list");
            break;
        }
        for (size_t i = 0; i < spec->n_ints && rc == AC_OK && !nomem; i++) {
            if (spec->ints[i] > n_edges)
                rc = ac_error_set(err, AC_ERR_RANGE, NULL, "edge counts: %zu exceeds %zu edges",
                                  spec->ints[i], n_edges);
            else
                nomem = list_push(&l, spec->ints[i]) != 0;
        }
        for (size_t i = 0; i < spec->n_fractions && rc == AC_OK && !nomem; i++) {
            double f = spec->fractions[i];
            if (!(f >= 0.0 && f <= 1.0))
                rc = ac_error_set(err, AC_ERR_RANGE, NULL,
                                  "edge counts: fraction %g outside [0, 1]", f);
            else
                nomem = list_push(&l, (size_t)((double)n_edges * f)) != 0; /* truncates */
        }
        break;
    default:
        rc = ac_error_set(err, AC_ERR_ARG, NULL, "edge counts: unknown kind %d", (int)kind);
    }
    if (rc == AC_OK && nomem) rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "edge counts: out of memory");
    if (rc != AC_OK) {
        ac_free(l.v);
        return rc;
    }

    /* 0 and n_edges by default only when the list has more than two entries (a list of
     * at most two is likely a binary circuit encoding) */
    int zero = spec->zero_edges == 0 ? l.n > 2 : spec->zero_edges > 0;
    int all = spec->all_edges == 0 ? l.n > 2 : spec->all_edges > 0;
    if (zero && list_find(&l, 0) < 0) {
        nomem |= list_push(&l, 0) != 0; /* order does not matter: sorted below */
    }
    if (all && !nomem && list_find(&l, n_edges) < 0) nomem |= list_push(&l, n_edges) != 0;
    long at;
    if (!zero && (at = list_find(&l, 0)) >= 0) list_remove_at(&l, (size_t)at);
    if (!all && (at = list_find(&l, n_edges)) >= 0) list_remove_at(&l, (size_t)at);
    if (spec->has_true_edge_count && !nomem) {
        if (spec->true_edge_count > n_edges) {
            ac_free(l.v);
            return ac_error_set(err, AC_ERR_RANGE, NULL,
                                "edge counts: true edge count %zu exceeds %zu edges",
                                spec->true_edge_count, n_edges);
        }
        if (list_find(&l, spec->true_edge_count) < 0)
            nomem |= list_push(&l, spec->true_edge_count) != 0;
    }
    if (nomem) {
        ac_free(l.v);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "edge counts: out of memory");
    }
    if (l.n > 1) qsort(l.v, l.n, sizeof *l.v, cmp_size_asc);
    if (l.n == 0) {
        ac_free(l.v);
        l.v = NULL;
    }
    *counts = l.v;
    *n_counts = l.n;
    return AC_OK;
}

/* ---- similarity ---------------------------------------------------------------------------- */

int ac_prune_score_similarities(const float *a, const float *b, size_t n_edges,
                                const size_t *counts, size_t n_counts, double *out,
                                ac_error *err) {
    if (n_counts == 0) return AC_OK;
    if (!counts || !out) return ac_error_set(err, AC_ERR_ARG, NULL, "similarity: NULL argument");
    for (size_t i = 0; i < n_counts; i++)
        if (counts[i] > n_edges)
            return ac_error_set(err, AC_ERR_RANGE, NULL, "similarity: %zu edges requested of %zu",
                                counts[i], n_edges);
    int rc = check_scores(a, n_edges, "similarity", err);
    if (rc == AC_OK) rc = check_scores(b, n_edges, "similarity", err);
    if (rc != AC_OK) return rc;
    size_t n_alloc = n_edges ? n_edges : 1;
    float *da = ac_calloc(n_alloc, sizeof *da);
    float *db = ac_calloc(n_alloc, sizeof *db);
    if (!da || !db) {
        ac_free(da);
        ac_free(db);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "similarity: out of memory");
    }
    ac_desc_prune_scores(a, n_edges, 0, da, NULL);
    ac_desc_prune_scores(b, n_edges, 0, db, NULL);
    for (size_t i = 0; i < n_counts; i++) {
        size_t k = counts[i];
        double ta = INFINITY, tb = INFINITY;
        if (k > 0) {
            ta = (double)da[k - 1];
            tb = (double)db[k - 1];
        }
        size_t ra = ac__count_at_least(da, n_edges, ta);
        size_t rb = ac__count_at_least(db, n_edges, tb);
        if (k == 0 || ra != k || rb != k) {
            out[i] = NAN;
            continue;
        }
        size_t common = 0;
        for (size_t e = 0; e < n_edges; e++)
            common += (double)fabsf(a[e]) >= ta && (double)fabsf(b[e]) >= tb;
        out[i] = (double)common / (double)k;
    }
    ac_free(da);
    ac_free(db);
    return AC_OK;
}
