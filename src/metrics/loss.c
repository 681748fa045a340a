/* The mask-gradient loss (auto-circuit prune_algos/mask_gradient.py) and its gradient with
 * respect to the raw logits. See docs/metrics.md, "Mask-gradient loss". */
#include "metrics_internal.h"

#include <math.h>
#include <string.h>

static const char *const answer_fn_names[] = {"avg_diff", "avg_val", "mse"};

int ac_answer_fn_from_name(const char *name, ac_answer_fn *out, ac_error *err) {
    if (!name || !out) return ac_error_set(err, AC_ERR_ARG, NULL, "answer function: NULL");
    for (unsigned i = 0; i < 3; i++) {
        if (strcmp(name, answer_fn_names[i]) == 0) {
            *out = (ac_answer_fn)i;
            return AC_OK;
        }
    }
    return ac_error_set(err, AC_ERR_ARG, NULL,
                        "unknown answer function '%s' (avg_diff, avg_val, mse)", name);
}

const char *ac_answer_fn_name(ac_answer_fn fn) {
    unsigned k = (unsigned)fn;
    return k < 3 ? answer_fn_names[k] : "?";
}

/* dloss/dv (in g) to dloss/dz (into out) through v = kind(z) for one row. */
static void backprop_row(const float *z, size_t vocab, ac_val_kind kind, double lse,
                         const double *g, float *out) {
    switch (kind) {
    case AC_VAL_LOGIT:
        for (size_t j = 0; j < vocab; j++) out[j] = (float)g[j];
        return;
    case AC_VAL_PROB: {
        /* softmax Jacobian: dz_j = p_j (g_j - sum_k g_k p_k) */
        double c = 0.0;
        for (size_t j = 0; j < vocab; j++)
            if (g[j] != 0.0) c += g[j] * exp((double)z[j] - lse);
        for (size_t j = 0; j < vocab; j++) {
            double p = exp((double)z[j] - lse);
            out[j] = (float)(p * (g[j] - c));
        }
        return;
    }
    case AC_VAL_LOGPROB: {
        /* dz_j = g_j - p_j sum_k g_k */
        double gs = 0.0;
        for (size_t j = 0; j < vocab; j++) gs += g[j];
        for (size_t j = 0; j < vocab; j++) {
            double p = exp((double)z[j] - lse);
            out[j] = (float)(g[j] - p * gs);
        }
        return;
    }
    case AC_VAL_LOGIT_EXP:
        /* v_j = exp(z_j) / S with S constant: dv_j/dz_j = v_j, no cross terms */
        for (size_t j = 0; j < vocab; j++) out[j] = (float)(g[j] * exp((double)z[j] - lse));
        return;
    }
}

int ac_answer_loss(const float *logits, size_t n_rows, size_t vocab,
                   const ac_answer_sets *answers, const ac_answer_loss_spec *spec,
                   double *loss, float *grad, ac_error *err) {
    int rc = ac__check_matrix(logits, n_rows, vocab, "logits", NULL, err);
    if (rc != AC_OK) return rc;
    if (!spec || !loss) return ac_error_set(err, AC_ERR_ARG, NULL, "answer loss: NULL argument");
    ac_val_kind kind = spec->grad_function;
    if (kind != AC_VAL_LOGIT && kind != AC_VAL_PROB && kind != AC_VAL_LOGPROB &&
        kind != AC_VAL_LOGIT_EXP)
        return ac_error_set(err, AC_ERR_ARG, NULL, "answer loss: unknown grad function %d",
                            (int)kind);
    ac_answer_fn fn = spec->answer_function;
    switch (fn) {
    case AC_ANSWER_AVG_DIFF:
        rc = ac_answer_sets_validate(answers, n_rows, vocab, 1, 3, err);
        break;
    case AC_ANSWER_AVG_VAL:
        rc = ac_answer_sets_validate(answers, n_rows, vocab, 0, 1, err);
        break;
    case AC_ANSWER_MSE:
        if (!spec->mse_target)
            rc = ac_error_set(err, AC_ERR_ARG, NULL, "answer loss: mse needs a float target");
        else if (spec->mse_target_cols != 1 && spec->mse_target_cols != vocab)
            rc = ac_error_set(err, AC_ERR_ARG, NULL,
                              "answer loss: mse target has %zu columns, needs 1 or %zu",
                              spec->mse_target_cols, vocab);
        break;
    default:
        rc = ac_error_set(err, AC_ERR_ARG, NULL, "answer loss: unknown answer function %d",
                          (int)fn);
    }
    if (rc != AC_OK) return rc;

    double *g = NULL;
    if (grad) {
        g = ac_calloc(vocab, sizeof *g);
        if (!g) return ac_error_set(err, AC_ERR_NOMEM, NULL, "answer loss: out of memory");
    }
    const double n = (double)n_rows;
    const double nv = (double)n_rows * (double)vocab;
    double total = 0.0;
    for (size_t i = 0; i < n_rows; i++) {
        const float *z = logits + i * vocab;
        double lse = kind == AC_VAL_LOGIT ? 0.0 : ac__row_logsumexp(z, vocab);
        if (g) memset(g, 0, vocab * sizeof *g);
        if (fn == AC_ANSWER_MSE) {
            const float *t = spec->mse_target + i * spec->mse_target_cols;
            for (size_t j = 0; j < vocab; j++) {
                double d = ac__val_of((double)z[j], kind, lse) -
                           (double)t[spec->mse_target_cols == 1 ? 0 : j];
                total += d * d;
                if (g) g[j] = 2.0 * d / nv;
            }
        } else {
            /* -(mean over the correct set) [+ (mean over the wrong set)], / n_rows */
            int32_t lo = answers->ans_off[i], hi = answers->ans_off[i + 1];
            double w = 1.0 / (double)(hi - lo);
            double s = 0.0;
            for (int32_t k = lo; k < hi; k++) {
                int32_t a = answers->ans[k];
                s += ac__val_of((double)z[a], kind, lse);
                if (g) g[a] -= w / n;
            }
            total -= s * w;
            if (fn == AC_ANSWER_AVG_DIFF) {
                lo = answers->wrong_off[i];
                hi = answers->wrong_off[i + 1];
                w = 1.0 / (double)(hi - lo);
                s = 0.0;
                for (int32_t k = lo; k < hi; k++) {
                    int32_t a = answers->wrong[k];
                    s += ac__val_of((double)z[a], kind, lse);
                    if (g) g[a] += w / n;
                }
                total += s * w;
            }
        }
        if (g) backprop_row(z, vocab, kind, lse, g, grad + i * vocab);
    }
    *loss = fn == AC_ANSWER_MSE ? total / nv : total / n;
    ac_free(g);
    return AC_OK;
}
