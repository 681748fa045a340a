/* ROC points and areas, faithfulness-curve AUC, MIB CPR/CMD. See docs/metrics.md,
 * "Curves". */
#include "metrics_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ac_roc_points(const float *scores, const uint8_t *official, size_t n_edges,
                  const size_t *counts, size_t n_counts, ac_point *points, ac_error *err) {
    if (!scores || !official || !points || (n_counts > 0 && !counts))
        return ac_error_set(err, AC_ERR_ARG, NULL, "roc: NULL argument");
    size_t n_official = 0;
    for (size_t e = 0; e < n_edges; e++) n_official += official[e] != 0;
    if (n_official == 0 || n_official == n_edges)
        return ac_error_set(err, AC_ERR_ARG, NULL,
                            "roc: the official circuit has %zu of %zu edges (needs some in "
                            "and some out)",
                            n_official, n_edges);
    for (size_t i = 0; i < n_counts; i++)
        if (counts[i] > n_edges)
            return ac_error_set(err, AC_ERR_RANGE, NULL, "roc: %zu edges requested of %zu",
                                counts[i], n_edges);
    ac__ranked *ranked = ac_calloc(n_edges, sizeof *ranked);
    float *desc = ac_calloc(n_edges, sizeof *desc);
    size_t *official_prefix = ac_calloc(n_edges + 1, sizeof *official_prefix);
    int rc = AC_OK;
    if (!ranked || !desc || !official_prefix)
        rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "roc: out of memory");
    if (rc == AC_OK) rc = ac__rank_scores(scores, n_edges, 0, ranked, err);
    if (rc == AC_OK) {
        /* the inclusive top-k set {|s| >= t} is a prefix of the ranking, whatever the
         * order inside a tie */
        for (size_t r = 0; r < n_edges; r++) {
            desc[r] = ranked[r].key;
            official_prefix[r + 1] = official_prefix[r] + (official[ranked[r].idx] != 0);
        }
        const double n_complement = (double)(n_edges - n_official);
        points[0] = (ac_point){0.0, 0.0};
        for (size_t i = 0; i < n_counts; i++) {
            double t = counts[i] == 0 ? INFINITY : (double)desc[counts[i] - 1];
            size_t m = ac__count_at_least(desc, n_edges, t);
            size_t tp = official_prefix[m], fp = m - tp;
            points[i + 1] = (ac_point){(double)fp / n_complement, (double)tp / (double)n_official};
        }
        points[n_counts + 1] = (ac_point){1.0, 1.0};
    }
    ac_free(ranked);
    ac_free(desc);
    ac_free(official_prefix);
    return rc;
}

int ac_measure_task_roc(const float *scores, const uint8_t *official, size_t n_edges,
                        int all_edges, ac_point **points, size_t *n_points, ac_error *err) {
    if (!points || !n_points) return ac_error_set(err, AC_ERR_ARG, NULL, "roc: NULL output");
    *points = NULL;
    *n_points = 0;
    ac_edge_counts_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.kind = all_edges ? AC_EDGE_COUNTS_ALL : AC_EDGE_COUNTS_DEFAULT;
    size_t *counts = NULL, n_counts = 0;
    int rc = ac_edge_counts(n_edges, &spec, all_edges ? NULL : scores, &counts, &n_counts, err);
    if (rc != AC_OK) return rc;
    ac_point *pts = ac_calloc(n_counts + 2, sizeof *pts);
    if (!pts) {
        ac_free(counts);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "roc: out of memory");
    }
    rc = ac_roc_points(scores, official, n_edges, counts, n_counts, pts, err);
    ac_free(counts);
    if (rc != AC_OK) {
        ac_free(pts);
        return rc;
    }
    *points = pts;
    *n_points = n_counts + 2;
    return AC_OK;
}

int ac_roc_auc(const ac_point *points, size_t n, int pessimistic, double *auc,
               ac_error *err) {
    if (!points || !auc || n == 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "roc auc: no points");
    double area = 0.0;
    for (size_t i = 1; i < n; i++) {
        double x1 = points[i - 1].x, x2 = points[i].x;
        double y1 = points[i - 1].y, y2 = points[i].y;
        if (!(x2 >= x1))
            return ac_error_set(err, AC_ERR_ARG, NULL, "roc auc: x decreases at point %zu", i);
        area += pessimistic ? (x2 - x1) * y1 : (x2 - x1) * (y1 + y2) / 2.0;
    }
    *auc = area;
    return AC_OK;
}

typedef struct indexed_point {
    ac_point p;
    size_t idx;
} indexed_point;

static int cmp_point_x(const void *pa, const void *pb) {
    const indexed_point *a = pa, *b = pb;
    if (a->p.x < b->p.x) return -1;
    if (a->p.x > b->p.x) return 1;
    return (a->idx > b->idx) - (a->idx < b->idx); /* stable, as Python's sorted */
}

/* math.log(v, 10) in Python is log(v) / log(10), not log10(v) */
static double py_log10(double v) {
    return log(v) / log(10.0);
}

int ac_measurements_auc(const ac_point *points, size_t n, int log_x, int log_y,
                        double y_min, double eps, double *auc, ac_error *err) {
    if (!points || !auc || n == 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "measurements auc: no points");
    if (log_y && !(y_min > 0.0))
        return ac_error_set(err, AC_ERR_ARG, NULL, "measurements auc: log_y needs y_min > 0");
    for (size_t i = 0; i < n; i++)
        if (isnan(points[i].x))
            return ac_error_set(err, AC_ERR_ARG, NULL, "measurements auc: x of point %zu is NaN",
                                i);
    indexed_point *s = ac_calloc(n, sizeof *s);
    if (!s) return ac_error_set(err, AC_ERR_NOMEM, NULL, "measurements auc: out of memory");
    for (size_t i = 0; i < n; i++) s[i] = (indexed_point){points[i], i};
    qsort(s, n, sizeof *s, cmp_point_x);
    int rc = AC_OK;
    if (s[0].p.x != 0.0)
        rc = ac_error_set(err, AC_ERR_ARG, NULL,
                          "measurements auc: the smallest x is %g, must be 0", s[0].p.x);
    double baseline = s[0].p.y, area = 0.0;
    for (size_t i = 1; i < n && rc == AC_OK; i++) {
        double x1 = s[i - 1].p.x, x2 = s[i].p.x;
        double y1 = s[i - 1].p.y, y2 = s[i].p.y;
        if (log_y) {
            y1 = y1 > y_min ? y1 : y_min; /* Python max(y, y_min) */
            y2 = y2 > y_min ? y2 : y_min;
        }
        if (log_x && (x1 == 0.0 || x2 == 0.0)) continue;
        if (log_x) {
            if (!(x1 > 0.0 && x2 > 0.0)) {
                rc = ac_error_set(err, AC_ERR_RANGE, NULL,
                                  "measurements auc: log_x with a negative x (%g)", x1);
                break;
            }
            x1 = py_log10(x1);
            x2 = py_log10(x2);
        }
        if (log_y) {
            y1 = py_log10(y1) - py_log10(y_min);
            y2 = py_log10(y2) - py_log10(y_min);
        }
        area += (x2 - x1) * ((y1 - baseline) + (y2 - baseline)) / 2.0;
    }
    ac_free(s);
    if (rc == AC_OK) *auc = area > eps ? area : eps; /* Python max(area, eps) */
    return rc;
}

int ac_normalised_auc(double auc, double random_auc, size_t n_tasks, int inverse,
                      double *out, ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "normalised auc: NULL output");
    if (n_tasks == 0 || random_auc == 0.0)
        return ac_error_set(err, AC_ERR_ARG, NULL,
                            "normalised auc: needs n_tasks > 0 and a non-zero Random AUC");
    double v = auc / (random_auc * (double)n_tasks);
    if (inverse) {
        double unit = 1.0 / (double)n_tasks;
        v = unit + (unit - v);
    }
    *out = v;
    return AC_OK;
}

int ac_mib_faithfulness(const ac_point *points, size_t n, double m_empty, double m_full,
                        double *f, ac_mib_scores *out, ac_error *err) {
    if (!points || !out || n == 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "mib faithfulness: no points");
    if (m_full == m_empty)
        return ac_error_set(err, AC_ERR_ARG, NULL,
                            "mib faithfulness: m(model) == m(empty circuit) = %g", m_full);
    for (size_t i = 1; i < n; i++)
        if (!(points[i].x >= points[i - 1].x))
            return ac_error_set(err, AC_ERR_ARG, NULL,
                                "mib faithfulness: x decreases at point %zu", i);
    const double denom = m_full - m_empty;
    double cpr = 0.0, cmd = 0.0, sum = 0.0;
    double f_prev = 0.0;
    for (size_t i = 0; i < n; i++) {
        double fi = (points[i].y - m_empty) / denom;
        if (f) f[i] = fi;
        sum += fi;
        if (i > 0) {
            double dx = points[i].x - points[i - 1].x;
            cpr += dx * (f_prev + fi) / 2.0;
            cmd += dx * (fabs(1.0 - f_prev) + fabs(1.0 - fi)) / 2.0;
        }
        f_prev = fi;
    }
    out->cpr = cpr;
    out->cmd = cmd;
    out->mean = sum / (double)n;
    return AC_OK;
}
