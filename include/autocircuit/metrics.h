/* autocircuit — metric arithmetic on float arrays: vocabulary transforms, answer
 * metrics, KL divergence, the mask-gradient loss and its gradient, prune-score ranking,
 * edge-count sweeps, ROC and area-under-curve numbers. Every definition matches the
 * auto-circuit function named in brackets; docs/metrics.md states each one exactly.
 *
 * Conventions
 *   - Model outputs at the scored positions are `logits` [n_rows, vocab], row-major: one
 *     row per prompt, or per (prompt, position) when several positions are scored. A
 *     "vals" argument is the same shape after a transform (logits, probabilities, ...).
 *   - Answers are ragged, in CSR form (ac_answer_sets): row i's correct answers are
 *     ans[ans_off[i] .. ans_off[i+1]), its wrong answers wrong[wrong_off[i] ..
 *     wrong_off[i+1]). Duplicated indices count twice, as in a gather.
 *   - Sums and means are accumulated in double; scalar results are double. Nothing is
 *     allocated unless a function says so; borrowed pointers are never freed here.
 *   - Prune scores are one float per edge, flattened [n_edges]; importance is |score|.
 *     NaN scores are rejected (AC_ERR_RANGE) by every function that ranks them.
 *   - All functions return AC_OK or an ac_status and fill `err` (may be NULL). Shape
 *     errors (n_rows of the answers != n_rows of the logits) are AC_ERR_SHAPE; a NULL
 *     required pointer, an empty answer set that is needed, or an index outside the
 *     vocabulary is AC_ERR_ARG; out-of-range numbers (k > n_edges, fractions outside
 *     [0, 1], NaN scores) are AC_ERR_RANGE; failed allocations AC_ERR_NOMEM.
 */
#ifndef AUTOCIRCUIT_METRICS_H
#define AUTOCIRCUIT_METRICS_H

#include "autocircuit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- answers ------------------------------------------------------------------- */

/* Correct and wrong answer token sets per row, CSR. All pointers are borrowed.
 * ans_off / wrong_off have n_rows + 1 entries, start at 0 and never decrease. The wrong
 * answers may be absent (wrong_off == NULL) for functions that do not use them. */
typedef struct ac_answer_sets {
    size_t n_rows;
    const int32_t *ans_off;   /* [n_rows + 1] */
    const int32_t *ans;       /* [ans_off[n_rows]] vocabulary indices */
    const int32_t *wrong_off; /* [n_rows + 1] or NULL */
    const int32_t *wrong;     /* [wrong_off[n_rows]] vocabulary indices */
} ac_answer_sets;

/* Check `sets` against an output of [n_rows, vocab]: offsets well-formed, every index in
 * [0, vocab). need_wrong: the wrong answers must be present. nonempty bit 0 / bit 1:
 * every row must have at least one correct / wrong answer. Returns AC_OK,
 * AC_ERR_SHAPE (row count differs) or AC_ERR_ARG naming the row and index. */
int ac_answer_sets_validate(const ac_answer_sets *sets, size_t n_rows, size_t vocab,
                            int need_wrong, int nonempty, ac_error *err);

/* ---- vocabulary transforms ------------------------------------------------------ */

/* What is read off the vocabulary row [grad_function / prob_func]. */
typedef enum {
    AC_VAL_LOGIT = 0,    /* the raw logits ("logit", prob_func "logits") */
    AC_VAL_PROB = 1,     /* softmax ("prob", "softmax") */
    AC_VAL_LOGPROB = 2,  /* log-softmax ("logprob", "log_softmax") */
    AC_VAL_LOGIT_EXP = 3 /* exp(z) / sum exp(z) with the sum held constant for
                          * gradients ("logit_exp"): the value equals softmax */
} ac_val_kind;

/* Parse "logit"/"logits", "prob"/"softmax", "logprob"/"log_softmax", "logit_exp".
 * Returns AC_OK or AC_ERR_ARG. */
int ac_val_kind_from_name(const char *name, ac_val_kind *out, ac_error *err);
/* The canonical name ("logit", "prob", "logprob", "logit_exp"); "?" if unknown. */
const char *ac_val_kind_name(ac_val_kind kind);

/* out[r, j] = transform of logits[r, :] at j, per row, in double then rounded to float.
 * Softmax and log-softmax subtract the row maximum first (stable); logit_exp is computed
 * the same stable way (auto-circuit computes exp(z) literally and overflows past
 * z ≈ 88). logits, out: [n_rows, vocab]; out may equal logits (in place).
 * Errors: AC_ERR_ARG (NULL, n_rows or vocab 0, unknown kind), AC_ERR_RANGE (overflow). */
int ac_token_vals(const float *logits, size_t n_rows, size_t vocab, ac_val_kind kind,
                  float *out, ac_error *err);

/* ---- answer metrics on transformed values (utils/tensor_ops.py) ------------------ */

/* [vocab_avg_val] Mean of row[idx[0..k)). row: [vocab]. Errors: AC_ERR_ARG for k == 0
 * or an index outside [0, vocab). */
int ac_vocab_avg_val(const float *row, size_t vocab, const int32_t *idx, size_t k,
                     double *out, ac_error *err);

/* [batch_avg_answer_val] Mean over rows of the row's mean value at its correct answers
 * (wrong_answer != 0: at its wrong answers). vals: [n_rows, vocab]. */
int ac_batch_avg_answer_val(const float *vals, size_t n_rows, size_t vocab,
                            const ac_answer_sets *answers, int wrong_answer, double *out,
                            ac_error *err);

/* [batch_answer_diffs] diffs[i] = mean(vals[i, ans_i]) - mean(vals[i, wrong_i]).
 * vals: [n_rows, vocab]; diffs: [n_rows], caller-owned. */
int ac_batch_answer_diffs(const float *vals, size_t n_rows, size_t vocab,
                          const ac_answer_sets *answers, double *diffs, ac_error *err);

/* [batch_avg_answer_diff] Mean over rows of batch_answer_diffs. */
int ac_batch_avg_answer_diff(const float *vals, size_t n_rows, size_t vocab,
                             const ac_answer_sets *answers, double *out, ac_error *err);

/* [batch_answer_diff_percents] pct[i] = 100 * diff_pred[i] / diff_target[i] with the
 * diffs of batch_answer_diffs (IEEE division: a zero target diff gives ±inf or NaN).
 * pred, target: [n_rows, vocab]; pct: [n_rows], caller-owned. */
int ac_batch_answer_diff_percents(const float *pred, const float *target, size_t n_rows,
                                  size_t vocab, const ac_answer_sets *answers, double *pct,
                                  ac_error *err);

/* [correct_answer_proportion] Fraction of rows whose argmax over the vocabulary (first
 * maximum on ties, NaN counts as maximal, as torch.argmax) is the row's correct answer.
 * Every row must have exactly one correct answer (AC_ERR_ARG otherwise). */
int ac_correct_answer_proportion(const float *logits, size_t n_rows, size_t vocab,
                                 const ac_answer_sets *answers, double *out, ac_error *err);

/* [correct_answer_greater_than_incorrect_proportion] Fraction of rows where the correct
 * answer's value is >= every listed wrong answer's value (ties go to the correct one:
 * argmax of [correct, wrong...] is 0). Exactly one correct answer per row; the wrong set
 * may be empty (counts as correct). */
int ac_correct_answer_greater_than_incorrect_proportion(const float *logits, size_t n_rows,
                                                        size_t vocab,
                                                        const ac_answer_sets *answers,
                                                        double *out, ac_error *err);

/* [multibatch_kl_div] sum over rows and vocabulary of exp(t) * (t - in), divided by
 * n_rows, where in = input_logprobs and t = target_logprobs, both [n_rows, vocab]:
 * KL(target || input) averaged over rows. A term with t = -inf counts 0 (torch gives
 * NaN there). No clamping. */
int ac_multibatch_kl_div(const float *input_logprobs, const float *target_logprobs,
                         size_t n_rows, size_t vocab, double *out, ac_error *err);

/* ---- prune metrics on raw logits (metrics/prune_metrics/) ------------------------ */
/* These take the logits of one circuit over the whole test set (all equal-size batches
 * concatenated: auto-circuit's mean of batch means equals the mean over rows) and apply
 * `kind` per row in double. The caller loops over edge counts. */

/* [measure_answer_val] batch_avg_answer_val of kind(logits). */
int ac_measure_answer_val(const float *logits, size_t n_rows, size_t vocab,
                          ac_val_kind kind, const ac_answer_sets *answers, int wrong_answer,
                          double *out, ac_error *err);

/* [measure_answer_diff] batch_avg_answer_diff of kind(logits). */
int ac_measure_answer_diff(const float *logits, size_t n_rows, size_t vocab,
                           ac_val_kind kind, const ac_answer_sets *answers, double *out,
                           ac_error *err);

/* [answer_diff_percent / measure_answer_diff_percent] circuit vs the full model on the
 * clean prompts (clean_logits), both [n_rows, vocab].
 *   diff_of_means != 0 ("[Average Logit Diff] %"): *mean = 100 * mean_i d_circ[i] /
 *     mean_i d_clean[i]; *std = 0.
 *   diff_of_means == 0 ("Average [Logit Diff %]"): p[i] = 100 * d_circ[i] / d_clean[i];
 *     *mean = mean(p), *std = sample standard deviation of p (n-1; NaN for one row).
 * per_row (may be NULL): [n_rows], receives p[i] in both modes. mean/std may be NULL. */
int ac_measure_answer_diff_percent(const float *circuit_logits, const float *clean_logits,
                                   size_t n_rows, size_t vocab, ac_val_kind kind,
                                   const ac_answer_sets *answers, int diff_of_means,
                                   double *mean, double *std, double *per_row,
                                   ac_error *err);

/* [measure_kl_div] KL(reference || circuit): multibatch_kl_div of the log-softmax of
 * circuit_logits (input) against that of reference_logits (target; the full model on
 * the clean prompts, or on the corrupt ones), computed in double, clamped at >= 0
 * (NaN stays NaN). Both [n_rows, vocab]. */
int ac_measure_kl_div(const float *circuit_logits, const float *reference_logits,
                      size_t n_rows, size_t vocab, double *out, ac_error *err);

/* [measure_correct_ans_percent] 100 * correct_answer_proportion, or with
 * out_of_correct_and_incorrect != 0, 100 * correct_answer_greater_than_incorrect_
 * proportion. */
int ac_measure_correct_answer_percent(const float *logits, size_t n_rows, size_t vocab,
                                      const ac_answer_sets *answers,
                                      int out_of_correct_and_incorrect, double *out,
                                      ac_error *err);

/* ---- mask-gradient loss (prune_algos/mask_gradient.py) --------------------------- */

/* [answer_function] */
typedef enum {
    AC_ANSWER_AVG_DIFF = 0, /* loss = -batch_avg_answer_diff(v) */
    AC_ANSWER_AVG_VAL = 1,  /* loss = -batch_avg_answer_val(v) */
    AC_ANSWER_MSE = 2       /* loss = mean over [n_rows, vocab] of (v - target)^2 */
} ac_answer_fn;

/* Parse "avg_diff", "avg_val", "mse". Returns AC_OK or AC_ERR_ARG. */
int ac_answer_fn_from_name(const char *name, ac_answer_fn *out, ac_error *err);
const char *ac_answer_fn_name(ac_answer_fn fn);

typedef struct ac_answer_loss_spec {
    ac_val_kind grad_function;    /* v = grad_function(logits) */
    ac_answer_fn answer_function;
    /* AC_ANSWER_MSE only: auto-circuit's target is batch.answers as a float tensor, so
     * MSE only makes sense for tasks whose answers are numbers (tracr xproportion).
     * mse_target: [n_rows, mse_target_cols] borrowed; mse_target_cols is 1 (one number
     * per row, broadcast over the vocabulary, as torch broadcasts [N,1] against [N,V])
     * or vocab (elementwise). */
    const float *mse_target;
    size_t mse_target_cols;
} ac_answer_loss_spec;

/* The loss auto-circuit backpropagates to the masks for one batch, and its gradient with
 * respect to the raw logits, so an engine can continue the backward pass.
 *   logits: [n_rows, vocab]. answers: needed for avg_diff (correct and wrong sets, each
 *   row non-empty) and avg_val (correct sets, non-empty); ignored (may be NULL) for mse.
 *   *loss: the loss (double). grad (may be NULL): [n_rows, vocab], overwritten with
 *   dloss/dlogits in float (computed in double). For logit_exp the row sum is treated
 *   as a constant, so grad = dloss/dv * softmax, not the softmax Jacobian.
 * Errors: AC_ERR_ARG (NULL, empty sets, bad indices, bad mse target), AC_ERR_SHAPE,
 * AC_ERR_RANGE (size overflow), AC_ERR_NOMEM. */
int ac_answer_loss(const float *logits, size_t n_rows, size_t vocab,
                   const ac_answer_sets *answers, const ac_answer_loss_spec *spec,
                   double *loss, float *grad, ac_error *err);

/* ---- prune scores (utils/tensor_ops.py) ------------------------------------------ */

/* [flat_prune_scores] Concatenate n_parts score arrays (parts[i] has sizes[i] floats)
 * into *out (ac_malloc'd, caller frees with ac_free; NULL when the total is 0) of
 * *n_out floats. Errors: AC_ERR_ARG, AC_ERR_RANGE (size overflow), AC_ERR_NOMEM. */
int ac_flat_prune_scores(const float *const *parts, const size_t *sizes, size_t n_parts,
                         float **out, size_t *n_out, ac_error *err);

/* [desc_prune_scores] out[0..n_edges) = |scores| sorted descending (signed_rank != 0:
 * the signed scores sorted descending, for signed top-k). out: caller-owned [n_edges].
 * Errors: AC_ERR_RANGE (NaN score), AC_ERR_NOMEM. */
int ac_desc_prune_scores(const float *scores, size_t n_edges, int signed_rank, float *out,
                         ac_error *err);

/* [prune_scores_threshold] +inf for k == 0, else desc[k-1] (desc from
 * ac_desc_prune_scores). Errors: AC_ERR_RANGE for k > n_edges. */
int ac_prune_scores_threshold(const float *desc, size_t n_edges, size_t k, double *out,
                              ac_error *err);

/* A deterministic ranking: order[0..n_edges) = edge indices by |score| (signed_rank:
 * score) descending, ties by ascending edge index. order: caller-owned [n_edges].
 * Taking order[0..k) gives exactly k edges (MIB-style top-n). Errors: AC_ERR_RANGE
 * (NaN), AC_ERR_NOMEM. */
int ac_prune_scores_order(const float *scores, size_t n_edges, int signed_rank,
                          size_t *order, ac_error *err);

/* Top-k with inclusive ties, as run_circuits patches: selected[e] = 1 when
 * key(e) >= threshold(k), key = |score| (signed_rank: score), else 0. The realised
 * count *n_selected (may be NULL) can exceed k when scores tie at the threshold; for
 * k == 0 the threshold is +inf, so only edges whose key is +inf are selected (the
 * reference does the same). selected: caller-owned [n_edges]. Errors: AC_ERR_RANGE
 * (k > n_edges, NaN), AC_ERR_NOMEM. */
int ac_prune_scores_select(const float *scores, size_t n_edges, size_t k, int signed_rank,
                           uint8_t *selected, size_t *n_selected, ac_error *err);

/* ---- edge-count sweeps (utils/graph_utils.py edge_counts_util) ------------------- */

typedef enum {
    AC_EDGE_COUNTS_DEFAULT = 0,     /* test_counts=None: LOGARITHMIC if n_edges > 200
                                     * else ALL; GROUPS when scores are given and have
                                     * fewer than min(n_edges/2, 100) distinct |values| */
    AC_EDGE_COUNTS_ALL = 1,         /* 0, 1, ..., n_edges */
    AC_EDGE_COUNTS_LOGARITHMIC = 2, /* 1..9, 10..90 step 10, 100..900 step 100, ... < n */
    AC_EDGE_COUNTS_GROUPS = 3,      /* cumulative sizes of equal-|score| groups, desc */
    AC_EDGE_COUNTS_LIST = 4         /* ints, then floor(n_edges * fraction) per fraction */
} ac_edge_counts_kind;

/* A zero-initialised spec is the reference default (test_counts, zero_edges and
 * all_edges None, no true_edge_count). */
typedef struct ac_edge_counts_spec {
    ac_edge_counts_kind kind;
    const size_t *ints; /* AC_EDGE_COUNTS_LIST: explicit counts, each <= n_edges */
    size_t n_ints;
    const double *fractions; /* AC_EDGE_COUNTS_LIST: fractions of n_edges in [0, 1] */
    size_t n_fractions;
    int zero_edges; /* 0: default (include 0 iff the list has > 2 entries); +1 yes; -1 no */
    int all_edges;  /* same for n_edges */
    int has_true_edge_count;
    size_t true_edge_count; /* inserted when has_true_edge_count and not present */
} ac_edge_counts_spec;

/* [edge_counts_util] The edge counts to test, ascending (duplicates in an explicit list
 * are kept, as in the reference). spec NULL = default. scores: [n_edges] or NULL
 * (needed for GROUPS; used by DEFAULT). *counts is ac_malloc'd (caller frees with
 * ac_free; NULL when *n_counts is 0). Errors: AC_ERR_ARG (GROUPS without scores, bad
 * kind), AC_ERR_RANGE (count > n_edges, fraction outside [0, 1], NaN score),
 * AC_ERR_NOMEM. */
int ac_edge_counts(size_t n_edges, const ac_edge_counts_spec *spec, const float *scores,
                   size_t **counts, size_t *n_counts, ac_error *err);

/* ---- curves ------------------------------------------------------------------------ */

/* One measurement: x is usually an edge count (FPR for ROC), y the metric. */
typedef struct ac_point {
    double x, y;
} ac_point;

/* ROC points of a ranking against a ground-truth edge set: points[0] = (0, 0); for each
 * counts[i], with S = the inclusive top-k set of ac_prune_scores_select (|score|),
 * points[i+1] = (|S \ official| / (n_edges - n_official), |S ∩ official| / n_official);
 * points[n_counts+1] = (1, 1). scores, official (0/1): [n_edges]; points: caller-owned
 * [n_counts + 2]. Errors: AC_ERR_ARG (official empty or everything), AC_ERR_RANGE
 * (a count > n_edges, NaN), AC_ERR_NOMEM. */
int ac_roc_points(const float *scores, const uint8_t *official, size_t n_edges,
                  const size_t *counts, size_t n_counts, ac_point *points, ac_error *err);

/* [measure_task_roc] ac_roc_points at the default edge counts of these scores
 * (edge_counts_util(edges, prune_scores=scores)), or at every count 0..n_edges when
 * all_edges != 0. *points is ac_malloc'd (caller frees with ac_free), *n_points long. */
int ac_measure_task_roc(const float *scores, const uint8_t *official, size_t n_edges,
                        int all_edges, ac_point **points, size_t *n_points, ac_error *err);

/* Area under ROC points in the given order (x must not decrease: AC_ERR_ARG).
 * pessimistic == 0: trapezoid, sum (x2 - x1) (y1 + y2) / 2. pessimistic != 0: the "hv"
 * step curve roc_plot draws (the paper's pessimistic ROC), sum (x2 - x1) * y1: within a
 * group of tied scores the false positives are counted before the true ones.
 * auto-circuit itself computes no ROC AUC number. Errors: AC_ERR_ARG (n == 0, NULL). */
int ac_roc_auc(const ac_point *points, size_t n, int pessimistic, double *auc,
               ac_error *err);

#define AC_AUC_EPS 1e-3

/* [measurements_auc] Points are sorted by x (stable); the first x must be 0 and its raw y
 * is the baseline b. Over consecutive pairs: with log_y, y = max(y, y_min) then
 * log(y)/log(10) - log(y_min)/log(10) (Python math.log(y, 10)); with log_x, pairs with
 * an x == 0 are skipped and x = log(x)/log(10); area += (x2 - x1) * ((y1 - b) + (y2 - b))
 * / 2. Result max(area, eps) (eps: AC_AUC_EPS in the reference). Note the baseline is
 * the untransformed first y even with log_y, as in the reference.
 * Errors: AC_ERR_ARG (n == 0, first x != 0, log_y with y_min <= 0), AC_ERR_RANGE
 * (log_x with a negative x), AC_ERR_NOMEM. */
int ac_measurements_auc(const ac_point *points, size_t n, int log_x, int log_y,
                        double y_min, double eps, double *auc, ac_error *err);

/* [average_auc_plot] An algorithm's AUC on one task normalised by the Random
 * algorithm's AUC on that task: auc / (random_auc * n_tasks), so summing over the tasks
 * averages; inverse != 0 (lower-is-better metrics): 2/n_tasks - that.
 * Errors: AC_ERR_ARG (n_tasks == 0, random_auc == 0). */
int ac_normalised_auc(double auc, double random_auc, size_t n_tasks, int inverse,
                      double *out, ac_error *err);

/* MIB circuit-track faithfulness numbers. */
typedef struct ac_mib_scores {
    double cpr;  /* area under f over the x values (trapezoid, linear axis) */
    double cmd;  /* area under |1 - f| (trapezoid) */
    double mean; /* plain mean of f over the points */
} ac_mib_scores;

/* points: (x = fraction of edges in the circuit, y = m(C)), x not decreasing;
 * f(C) = (m(C) - m_empty) / (m_full - m_empty) (m_full: the whole model, m_empty: every
 * edge ablated). f (may be NULL): [n] receives f per point. Errors: AC_ERR_ARG (n == 0,
 * x decreasing, m_full == m_empty). */
int ac_mib_faithfulness(const ac_point *points, size_t n, double m_empty, double m_full,
                        double *f, ac_mib_scores *out, ac_error *err);

/* [prune_score_similarities] for two rankings of the same edges, at each counts[i]:
 * out[i] = |top(a) ∩ top(b)| / k with the inclusive top-k sets of
 * ac_prune_scores_select (|score|); NaN when either realised set size differs from k
 * (ties make it inexact) and for k == 0. a, b: [n_edges]; out: [n_counts].
 * Errors: AC_ERR_RANGE (k > n_edges, NaN), AC_ERR_NOMEM. */
int ac_prune_score_similarities(const float *a, const float *b, size_t n_edges,
                                const size_t *counts, size_t n_counts, double *out,
                                ac_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_METRICS_H */
