/* Answer sets, vocabulary transforms, answer metrics and KL divergence.
 * Definitions: docs/metrics.md (auto-circuit utils/tensor_ops.py, metrics/prune_metrics). */
#include "metrics_internal.h"

#include <math.h>
#include <string.h>

/* ---- shared helpers ----------------------------------------------------------------- */

int ac__check_matrix(const void *p, size_t n_rows, size_t vocab, const char *what,
                     size_t *total, ac_error *err) {
    if (!p) return ac_error_set(err, AC_ERR_ARG, NULL, "%s: NULL array", what);
    if (n_rows == 0 || vocab == 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "%s: empty shape [%zu, %zu]", what, n_rows,
                            vocab);
    size_t n;
    if (ac_mul_size(n_rows, vocab, &n) != 0 || ac_mul_size(n, sizeof(double), &n) != 0)
        return ac_error_set(err, AC_ERR_RANGE, NULL, "%s: shape [%zu, %zu] overflows", what,
                            n_rows, vocab);
    if (total) *total = n_rows * vocab;
    return AC_OK;
}

double ac__row_logsumexp(const float *row, size_t vocab) {
    double m = -INFINITY;
    for (size_t j = 0; j < vocab; j++)
        if ((double)row[j] > m) m = (double)row[j];
    if (isinf(m)) return NAN; /* all -inf, or a +inf entry: softmax is NaN (as torch) */
    double s = 0.0;
    for (size_t j = 0; j < vocab; j++) s += exp((double)row[j] - m);
    return m + log(s);
}

double ac__val_of(double x, ac_val_kind kind, double lse) {
    switch (kind) {
    case AC_VAL_LOGIT:
        return x;
    case AC_VAL_PROB:
    case AC_VAL_LOGIT_EXP:
        return exp(x - lse);
    case AC_VAL_LOGPROB:
        return x - lse;
    }
    return NAN;
}

static int check_kind(ac_val_kind kind, ac_error *err) {
    if (kind != AC_VAL_LOGIT && kind != AC_VAL_PROB && kind != AC_VAL_LOGPROB &&
        kind != AC_VAL_LOGIT_EXP)
        return ac_error_set(err, AC_ERR_ARG, NULL, "unknown value kind %d", (int)kind);
    return AC_OK;
}

/* ---- answer sets ---------------------------------------------------------------------- */

static int check_csr(const int32_t *off, const int32_t *idx, size_t n_rows, size_t vocab,
                     const char *what, int nonempty, ac_error *err) {
    if (!off) return ac_error_set(err, AC_ERR_ARG, NULL, "%s: NULL offsets", what);
    if (off[0] != 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "%s: offsets start at %d, not 0", what,
                            (int)off[0]);
    for (size_t i = 0; i < n_rows; i++) {
        if (off[i + 1] < off[i])
            return ac_error_set(err, AC_ERR_ARG, NULL, "%s: offsets decrease at row %zu", what,
                                i);
        if (nonempty && off[i + 1] == off[i])
            return ac_error_set(err, AC_ERR_ARG, NULL, "%s: row %zu has none", what, i);
    }
    if (off[n_rows] > 0 && !idx)
        return ac_error_set(err, AC_ERR_ARG, NULL, "%s: NULL index array", what);
    for (size_t i = 0; i < n_rows; i++) {
        for (int32_t k = off[i]; k < off[i + 1]; k++) {
            if (idx[k] < 0 || (size_t)idx[k] >= vocab)
                return ac_error_set(err, AC_ERR_ARG, NULL,
                                    "%s: row %zu has token %d outside the vocabulary of %zu",
                                    what, i, (int)idx[k], vocab);
        }
    }
    return AC_OK;
}

int ac_answer_sets_validate(const ac_answer_sets *sets, size_t n_rows, size_t vocab,
                            int need_wrong, int nonempty, ac_error *err) {
    if (!sets) return ac_error_set(err, AC_ERR_ARG, NULL, "answer sets: NULL");
    if (sets->n_rows != n_rows)
        return ac_error_set(err, AC_ERR_SHAPE, NULL,
                            "answer sets have %zu rows, the outputs have %zu", sets->n_rows,
                            n_rows);
    int rc = check_csr(sets->ans_off, sets->ans, n_rows, vocab, "answers", nonempty & 1, err);
    if (rc != AC_OK) return rc;
    if (need_wrong) {
        if (!sets->wrong_off)
            return ac_error_set(err, AC_ERR_ARG, NULL, "wrong answers: required but absent");
        rc = check_csr(sets->wrong_off, sets->wrong, n_rows, vocab, "wrong answers",
                       nonempty & 2, err);
        if (rc != AC_OK) return rc;
    }
    return AC_OK;
}

/* ---- transforms ------------------------------------------------------------------------ */

static const char *const val_kind_names[] = {"logit", "prob", "logprob", "logit_exp"};

int ac_val_kind_from_name(const char *name, ac_val_kind *out, ac_error *err) {
    static const struct {
        const char *name;
        ac_val_kind kind;
    } table[] = {{"logit", AC_VAL_LOGIT},     {"logits", AC_VAL_LOGIT},
                 {"prob", AC_VAL_PROB},       {"softmax", AC_VAL_PROB},
                 {"logprob", AC_VAL_LOGPROB}, {"log_softmax", AC_VAL_LOGPROB},
                 {"logit_exp", AC_VAL_LOGIT_EXP}};
    if (!name || !out) return ac_error_set(err, AC_ERR_ARG, NULL, "value kind: NULL");
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) == 0) {
            *out = table[i].kind;
            return AC_OK;
        }
    }
    return ac_error_set(err, AC_ERR_ARG, NULL,
                        "unknown value kind '%s' (logit, prob, logprob, logit_exp)", name);
}

const char *ac_val_kind_name(ac_val_kind kind) {
    unsigned k = (unsigned)kind;
    return k < 4 ? val_kind_names[k] : "?";
}

int ac_token_vals(const float *logits, size_t n_rows, size_t vocab, ac_val_kind kind,
                  float *out, ac_error *err) {
    int rc = ac__check_matrix(logits, n_rows, vocab, "logits", NULL, err);
    if (rc != AC_OK) return rc;
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "token values: NULL output");
    if ((rc = check_kind(kind, err)) != AC_OK) return rc;
    for (size_t i = 0; i < n_rows; i++) {
        const float *row = logits + i * vocab;
        float *dst = out + i * vocab;
        double lse = kind == AC_VAL_LOGIT ? 0.0 : ac__row_logsumexp(row, vocab);
        for (size_t j = 0; j < vocab; j++)
            dst[j] = (float)ac__val_of((double)row[j], kind, lse);
    }
    return AC_OK;
}

/* ---- answer metrics ------------------------------------------------------------------------ */

/* Mean of kind(row[idx[lo..hi)]); hi > lo checked by the caller. */
static double set_mean(const float *row, const int32_t *idx, int32_t lo, int32_t hi,
                       ac_val_kind kind, double lse) {
    double s = 0.0;
    for (int32_t k = lo; k < hi; k++) s += ac__val_of((double)row[idx[k]], kind, lse);
    return s / (double)(hi - lo);
}

int ac_vocab_avg_val(const float *row, size_t vocab, const int32_t *idx, size_t k,
                     double *out, ac_error *err) {
    if (!row || !out || (k > 0 && !idx))
        return ac_error_set(err, AC_ERR_ARG, NULL, "vocab_avg_val: NULL argument");
    if (k == 0) return ac_error_set(err, AC_ERR_ARG, NULL, "vocab_avg_val: no indices");
    double s = 0.0;
    for (size_t i = 0; i < k; i++) {
        if (idx[i] < 0 || (size_t)idx[i] >= vocab)
            return ac_error_set(err, AC_ERR_ARG, NULL,
                                "vocab_avg_val: index %d outside the vocabulary of %zu",
                                (int)idx[i], vocab);
        s += (double)row[idx[i]];
    }
    *out = s / (double)k;
    return AC_OK;
}

static int avg_answer_val(const float *x, size_t n_rows, size_t vocab, ac_val_kind kind,
                          const ac_answer_sets *answers, int wrong_answer, double *out,
                          ac_error *err) {
    int rc = ac__check_matrix(x, n_rows, vocab, "values", NULL, err);
    if (rc != AC_OK) return rc;
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "answer value: NULL output");
    if ((rc = check_kind(kind, err)) != AC_OK) return rc;
    rc = ac_answer_sets_validate(answers, n_rows, vocab, wrong_answer, wrong_answer ? 2 : 1,
                                 err);
    if (rc != AC_OK) return rc;
    const int32_t *off = wrong_answer ? answers->wrong_off : answers->ans_off;
    const int32_t *idx = wrong_answer ? answers->wrong : answers->ans;
    double s = 0.0;
    for (size_t i = 0; i < n_rows; i++) {
        const float *row = x + i * vocab;
        double lse = kind == AC_VAL_LOGIT ? 0.0 : ac__row_logsumexp(row, vocab);
        s += set_mean(row, idx, off[i], off[i + 1], kind, lse);
    }
    *out = s / (double)n_rows;
    return AC_OK;
}

static int answer_diffs(const float *x, size_t n_rows, size_t vocab, ac_val_kind kind,
                        const ac_answer_sets *answers, double *diffs, ac_error *err) {
    int rc = ac__check_matrix(x, n_rows, vocab, "values", NULL, err);
    if (rc != AC_OK) return rc;
    if (!diffs) return ac_error_set(err, AC_ERR_ARG, NULL, "answer diffs: NULL output");
    if ((rc = check_kind(kind, err)) != AC_OK) return rc;
    rc = ac_answer_sets_validate(answers, n_rows, vocab, 1, 3, err);
    if (rc != AC_OK) return rc;
    for (size_t i = 0; i < n_rows; i++) {
        const float *row = x + i * vocab;
        double lse = kind == AC_VAL_LOGIT ? 0.0 : ac__row_logsumexp(row, vocab);
        double good = set_mean(row, answers->ans, answers->ans_off[i], answers->ans_off[i + 1],
                               kind, lse);
        double bad = set_mean(row, answers->wrong, answers->wrong_off[i],
                              answers->wrong_off[i + 1], kind, lse);
        diffs[i] = good - bad;
    }
    return AC_OK;
}

static int avg_answer_diff(const float *x, size_t n_rows, size_t vocab, ac_val_kind kind,
                           const ac_answer_sets *answers, double *out, ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "answer diff: NULL output");
    int rc = ac__check_matrix(x, n_rows, vocab, "values", NULL, err);
    if (rc != AC_OK) return rc;
    double *d = ac_calloc(n_rows, sizeof *d);
    if (!d) return ac_error_set(err, AC_ERR_NOMEM, NULL, "answer diff: out of memory");
    rc = answer_diffs(x, n_rows, vocab, kind, answers, d, err);
    if (rc == AC_OK) {
        double s = 0.0;
        for (size_t i = 0; i < n_rows; i++) s += d[i];
        *out = s / (double)n_rows;
    }
    ac_free(d);
    return rc;
}

int ac_batch_avg_answer_val(const float *vals, size_t n_rows, size_t vocab,
                            const ac_answer_sets *answers, int wrong_answer, double *out,
                            ac_error *err) {
    return avg_answer_val(vals, n_rows, vocab, AC_VAL_LOGIT, answers, wrong_answer, out, err);
}

int ac_batch_answer_diffs(const float *vals, size_t n_rows, size_t vocab,
                          const ac_answer_sets *answers, double *diffs, ac_error *err) {
    return answer_diffs(vals, n_rows, vocab, AC_VAL_LOGIT, answers, diffs, err);
}

int ac_batch_avg_answer_diff(const float *vals, size_t n_rows, size_t vocab,
                             const ac_answer_sets *answers, double *out, ac_error *err) {
    return avg_answer_diff(vals, n_rows, vocab, AC_VAL_LOGIT, answers, out, err);
}

/* per-row percentages of two diff computations; mean_ratio: 100 * mean(dp)/mean(dt) */
static int diff_percents(const float *pred, const float *target, size_t n_rows, size_t vocab,
                         ac_val_kind kind, const ac_answer_sets *answers, double *pct,
                         double *mean_ratio, ac_error *err) {
    int rc = ac__check_matrix(pred, n_rows, vocab, "predicted values", NULL, err);
    if (rc != AC_OK) return rc;
    rc = ac__check_matrix(target, n_rows, vocab, "target values", NULL, err);
    if (rc != AC_OK) return rc;
    double *dp = ac_calloc(n_rows, sizeof *dp);
    double *dt = ac_calloc(n_rows, sizeof *dt);
    if (!dp || !dt) {
        ac_free(dp);
        ac_free(dt);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "answer diff percent: out of memory");
    }
    rc = answer_diffs(pred, n_rows, vocab, kind, answers, dp, err);
    if (rc == AC_OK) rc = answer_diffs(target, n_rows, vocab, kind, answers, dt, err);
    if (rc == AC_OK) {
        double sp = 0.0, st = 0.0;
        for (size_t i = 0; i < n_rows; i++) {
            if (pct) pct[i] = dp[i] / dt[i] * 100.0;
            sp += dp[i];
            st += dt[i];
        }
        if (mean_ratio) *mean_ratio = (sp / (double)n_rows) / (st / (double)n_rows) * 100.0;
    }
    ac_free(dp);
    ac_free(dt);
    return rc;
}

int ac_batch_answer_diff_percents(const float *pred, const float *target, size_t n_rows,
                                  size_t vocab, const ac_answer_sets *answers, double *pct,
                                  ac_error *err) {
    if (!pct) return ac_error_set(err, AC_ERR_ARG, NULL, "answer diff percents: NULL output");
    return diff_percents(pred, target, n_rows, vocab, AC_VAL_LOGIT, answers, pct, NULL, err);
}

/* torch.argmax over values: the first NaN if any, else the first maximum */
static size_t argmax_first(const float *v, size_t n) {
    size_t best = 0;
    if (isnan(v[0])) return 0;
    for (size_t j = 1; j < n; j++) {
        if (isnan(v[j])) return j;
        if (v[j] > v[best]) best = j;
    }
    return best;
}

static int correct_proportion(const float *logits, size_t n_rows, size_t vocab,
                              const ac_answer_sets *answers, int vs_wrong, double *out,
                              ac_error *err) {
    int rc = ac__check_matrix(logits, n_rows, vocab, "logits", NULL, err);
    if (rc != AC_OK) return rc;
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "correct proportion: NULL output");
    rc = ac_answer_sets_validate(answers, n_rows, vocab, vs_wrong, 0, err);
    if (rc != AC_OK) return rc;
    size_t n_correct = 0;
    for (size_t i = 0; i < n_rows; i++) {
        int32_t lo = answers->ans_off[i], hi = answers->ans_off[i + 1];
        if (hi - lo != 1)
            return ac_error_set(err, AC_ERR_ARG, NULL,
                                "correct proportion: row %zu has %d correct answers, needs 1",
                                i, (int)(hi - lo));
        const float *row = logits + i * vocab;
        size_t answer = (size_t)answers->ans[lo];
        if (!vs_wrong) {
            n_correct += argmax_first(row, vocab) == answer;
            continue;
        }
        /* argmax of [correct, wrong...] == 0 */
        float good = row[answer];
        int wins = 1;
        if (!isnan(good)) {
            for (int32_t k = answers->wrong_off[i]; k < answers->wrong_off[i + 1]; k++) {
                float bad = row[answers->wrong[k]];
                if (isnan(bad) || bad > good) {
                    wins = 0;
                    break;
                }
            }
        }
        n_correct += (size_t)wins;
    }
    *out = (double)n_correct / (double)n_rows;
    return AC_OK;
}

int ac_correct_answer_proportion(const float *logits, size_t n_rows, size_t vocab,
                                 const ac_answer_sets *answers, double *out, ac_error *err) {
    return correct_proportion(logits, n_rows, vocab, answers, 0, out, err);
}

int ac_correct_answer_greater_than_incorrect_proportion(const float *logits, size_t n_rows,
                                                        size_t vocab,
                                                        const ac_answer_sets *answers,
                                                        double *out, ac_error *err) {
    return correct_proportion(logits, n_rows, vocab, answers, 1, out, err);
}

int ac_multibatch_kl_div(const float *input_logprobs, const float *target_logprobs,
                         size_t n_rows, size_t vocab, double *out, ac_error *err) {
    size_t total;
    int rc = ac__check_matrix(input_logprobs, n_rows, vocab, "input logprobs", &total, err);
    if (rc != AC_OK) return rc;
    rc = ac__check_matrix(target_logprobs, n_rows, vocab, "target logprobs", NULL, err);
    if (rc != AC_OK) return rc;
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "kl div: NULL output");
    double s = 0.0;
    for (size_t k = 0; k < total; k++) {
        double t = (double)target_logprobs[k];
        if (t == -INFINITY) continue;
        s += exp(t) * (t - (double)input_logprobs[k]);
    }
    *out = s / (double)n_rows;
    return AC_OK;
}

/* ---- prune metrics on logits ---------------------------------------------------------- */

int ac_measure_answer_val(const float *logits, size_t n_rows, size_t vocab,
                          ac_val_kind kind, const ac_answer_sets *answers, int wrong_answer,
                          double *out, ac_error *err) {
    return avg_answer_val(logits, n_rows, vocab, kind, answers, wrong_answer, out, err);
}

int ac_measure_answer_diff(const float *logits, size_t n_rows, size_t vocab,
                           ac_val_kind kind, const ac_answer_sets *answers, double *out,
                           ac_error *err) {
    return avg_answer_diff(logits, n_rows, vocab, kind, answers, out, err);
}

int ac_measure_answer_diff_percent(const float *circuit_logits, const float *clean_logits,
                                   size_t n_rows, size_t vocab, ac_val_kind kind,
                                   const ac_answer_sets *answers, int diff_of_means,
                                   double *mean, double *std, double *per_row,
                                   ac_error *err) {
    int rc = ac__check_matrix(circuit_logits, n_rows, vocab, "circuit logits", NULL, err);
    if (rc != AC_OK) return rc;
    double *p = ac_calloc(n_rows, sizeof *p);
    if (!p) return ac_error_set(err, AC_ERR_NOMEM, NULL, "answer diff percent: out of memory");
    double ratio = 0.0;
    rc = diff_percents(circuit_logits, clean_logits, n_rows, vocab, kind, answers, p, &ratio,
                       err);
    if (rc == AC_OK) {
        double m, sd;
        if (diff_of_means) {
            m = ratio;
            sd = 0.0;
        } else {
            double s = 0.0;
            for (size_t i = 0; i < n_rows; i++) s += p[i];
            m = s / (double)n_rows;
            if (n_rows < 2) {
                sd = NAN;
            } else {
                double ss = 0.0;
                for (size_t i = 0; i < n_rows; i++) ss += (p[i] - m) * (p[i] - m);
                sd = sqrt(ss / (double)(n_rows - 1));
            }
        }
        if (mean) *mean = m;
        if (std) *std = sd;
        if (per_row) memcpy(per_row, p, n_rows * sizeof *p);
    }
    ac_free(p);
    return rc;
}

int ac_measure_kl_div(const float *circuit_logits, const float *reference_logits,
                      size_t n_rows, size_t vocab, double *out, ac_error *err) {
    int rc = ac__check_matrix(circuit_logits, n_rows, vocab, "circuit logits", NULL, err);
    if (rc != AC_OK) return rc;
    rc = ac__check_matrix(reference_logits, n_rows, vocab, "reference logits", NULL, err);
    if (rc != AC_OK) return rc;
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "kl div: NULL output");
    double s = 0.0;
    for (size_t i = 0; i < n_rows; i++) {
        const float *c = circuit_logits + i * vocab;
        const float *r = reference_logits + i * vocab;
        double lse_c = ac__row_logsumexp(c, vocab);
        double lse_r = ac__row_logsumexp(r, vocab);
        for (size_t j = 0; j < vocab; j++) {
            double lt = (double)r[j] - lse_r;
            if (lt == -INFINITY) continue;
            s += exp(lt) * (lt - ((double)c[j] - lse_c));
        }
    }
    double kl = s / (double)n_rows;
    *out = kl < 0.0 ? 0.0 : kl; /* numerical error can give tiny negatives; NaN stays */
    return AC_OK;
}

int ac_measure_correct_answer_percent(const float *logits, size_t n_rows, size_t vocab,
                                      const ac_answer_sets *answers,
                                      int out_of_correct_and_incorrect, double *out,
                                      ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, NULL, "correct percent: NULL output");
    double p = 0.0;
    int rc = correct_proportion(logits, n_rows, vocab, answers,
                                out_of_correct_and_incorrect ? 1 : 0, &p, err);
    if (rc == AC_OK) *out = 100.0 * p;
    return rc;
}
