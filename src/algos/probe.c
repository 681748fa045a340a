/* Subnetwork probing (learned edge masks, hard concrete, Adam) and circuit probing, as
 * auto-circuit's subnetwork_probing_prune_scores and circuit_probing_prune_scores. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algos/probe_internal.h"

/* ---- names ------------------------------------------------------------------------- */

static const char *const target_names[] = {"kl_div",  "mse",           "answer",
                                           "wrong_answer", "correct_percent", "logit_diff_percent"};
static const char *const mask_fn_names[] = {"hard_concrete", "sigmoid", "none"};

/* name equals ref with '-' accepted for '_' */
static int name_eq(const char *name, const char *ref) {
    for (; *name && *ref; name++, ref++)
        if (*name != *ref && !(*name == '-' && *ref == '_')) return 0;
    return *name == *ref;
}

int ac_probe_target_from_name(const char *name, ac_probe_target *out, ac_error *err) {
    for (int i = 0; i < 6; i++)
        if (name && name_eq(name, target_names[i])) {
            *out = (ac_probe_target)i;
            return AC_OK;
        }
    return ac_error_set(err, AC_ERR_ARG, NULL,
                        "unknown probing target '%s' (kl_div, mse, answer, wrong_answer, "
                        "correct_percent, logit_diff_percent)",
                        name ? name : "(null)");
}

const char *ac_probe_target_name(ac_probe_target t) {
    return (int)t >= 0 && (int)t < 6 ? target_names[t] : "unknown";
}

int ac_mask_fn_from_name(const char *name, ac_mask_fn *out, ac_error *err) {
    for (int i = 0; i < 3; i++)
        if (name && name_eq(name, mask_fn_names[i])) {
            *out = (ac_mask_fn)i;
            return AC_OK;
        }
    return ac_error_set(err, AC_ERR_ARG, NULL, "unknown mask function '%s' (hard_concrete, sigmoid, none)",
                        name ? name : "(null)");
}

const char *ac_mask_fn_name(ac_mask_fn f) {
    return (int)f >= 0 && (int)f < 3 ? mask_fn_names[f] : "unknown";
}

/* ---- primitives -------------------------------------------------------------------- */

double ac_hard_concrete(double logit, double u, double *dmask) {
    if (!(u >= 1e-4)) u = 1e-4; /* also NaN */
    if (u > 1.0 - 1e-4) u = 1.0 - 1e-4;
    const double x = (log(u / (1.0 - u)) + logit) / AC_HC_TEMP; /* u in [1e-4, 1 - 1e-4]: no cancellation */
    const double s = 1.0 / (1.0 + exp(-x));
    const double sb = s * (AC_HC_RIGHT - AC_HC_LEFT) + AC_HC_LEFT;
    if (dmask) *dmask = sb >= 0.0 && sb <= 1.0 ? (AC_HC_RIGHT - AC_HC_LEFT) * s * (1.0 - s) / AC_HC_TEMP : 0.0;
    return sb < 0.0 ? 0.0 : sb > 1.0 ? 1.0 : sb;
}

double ac__probe_uniform(uint64_t seed, uint64_t k) {
    uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

void ac__adam_step(size_t n, double *theta, const double *grad, double *m, double *v, long t,
                   double lr) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double step = lr / (1.0 - pow(b1, (double)t));
    const double bc2 = sqrt(1.0 - pow(b2, (double)t));
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0 - b1) * grad[i];
        v[i] = b2 * v[i] + (1.0 - b2) * grad[i] * grad[i];
        theta[i] -= step * m[i] / (sqrt(v[i]) / bc2 + eps);
    }
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- state ------------------------------------------------------------------------- */

static int check_opts(const ac_discover_opts *o, ac_error *err) {
    if (o->probe_epochs < 0) return ac_error_set(err, AC_ERR_ARG, NULL, "probing: epochs must be >= 0");
    if (!(o->probe_lr > 0) || !isfinite(o->probe_lr))
        return ac_error_set(err, AC_ERR_ARG, NULL, "probing: the learning rate must be a positive number");
    if (!isfinite(o->probe_lambda)) return ac_error_set(err, AC_ERR_ARG, NULL, "probing: lambda must be finite");
    if (!isfinite(o->probe_avoid_lambda))
        return ac_error_set(err, AC_ERR_ARG, NULL, "probing: the avoid lambda must be finite");
    if (isinf(o->probe_init)) return ac_error_set(err, AC_ERR_ARG, NULL, "probing: the initial mask value must be finite");
    if ((int)o->probe_target < 0 || (int)o->probe_target > AC_PROBE_LOGIT_DIFF_PERCENT)
        return ac_error_set(err, AC_ERR_ARG, NULL, "probing: unknown target %d", (int)o->probe_target);
    if ((int)o->probe_mask_fn < 0 || (int)o->probe_mask_fn > AC_MASK_FN_NONE)
        return ac_error_set(err, AC_ERR_ARG, NULL, "probing: unknown mask function %d", (int)o->probe_mask_fn);
    if ((int)o->probe_ablation < 0 || (int)o->probe_ablation > AC_ABLATION_BATCH_ALL_MEAN)
        return ac_error_set(err, AC_ERR_ARG, NULL, "probing: unknown ablation %d", (int)o->probe_ablation);
    return AC_OK;
}

void ac__probe_free(ac__probe *p) {
    ac_free(p->masks);
    ac_free(p->dmask);
    ac_free(p->mgrad);
    ac_free(p->reg_ds);
    ac_free(p->clean_logits);
    ac_free(p->row0);
    ac_free(p->mse_target);
    ac_free(p->diffs);
    memset(p, 0, sizeof *p);
}

int ac__probe_init(ac__probe *p, ac_algo_ctx *c, const ac_discover_opts *o, ac_error *err) {
    memset(p, 0, sizeof *p);
    int rc = check_opts(o, err);
    if (rc) return rc;
    const ac_split *sp = c->split;
    p->c = c;
    p->o = o;
    p->E = c->g->n_edges;
    p->V = (size_t)ac_model_config(c->m)->vocab_size;
    p->per_row = o->probe_mask_fn == AC_MASK_FN_HARD_CONCRETE;
    p->patch_for = SIZE_MAX;
    const size_t rows = p->per_row ? (size_t)c->max_B : 1;
    if (o->probe_avoid)
        for (size_t e = 0; e < p->E; e++) p->n_avoid += o->probe_avoid[e] != 0;
    p->masks = ac_calloc(rows * p->E, sizeof(float));
    p->dmask = ac_calloc(rows * p->E, sizeof(float));
    p->mgrad = ac_calloc(rows * p->E, sizeof(float));
    p->reg_ds = ac_calloc(p->E, sizeof(double));
    p->row0 = ac_calloc(sp->n_batches, sizeof(size_t));
    p->mse_target = ac_calloc((size_t)c->max_B, sizeof(float));
    p->diffs = ac_calloc(2 * (size_t)c->max_B, sizeof(double));
    if (!p->masks || !p->dmask || !p->mgrad || !p->reg_ds || !p->row0 || !p->mse_target || !p->diffs) {
        ac__probe_free(p);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for probing masks (%zu edges x %zu rows)",
                            p->E, rows);
    }
    size_t n_rows = 0;
    for (size_t i = 0; i < sp->n_batches; i++) {
        p->row0[i] = n_rows;
        n_rows += sp->batches[i].batch_size;
    }
    if (o->probe_target == AC_PROBE_KL_DIV || o->probe_target == AC_PROBE_LOGIT_DIFF_PERCENT) {
        p->clean_logits = ac_calloc(n_rows * p->V, sizeof(float));
        if (!p->clean_logits) {
            ac__probe_free(p);
            return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for the clean logits (%zu prompts)", n_rows);
        }
        for (size_t i = 0; i < sp->n_batches; i++) {
            const ac_batch *b = &sp->batches[i];
            if ((rc = ac__algo_forward(c, b, 1, NULL, NULL, NULL, c->logits, err))) {
                ac__probe_free(p);
                return rc;
            }
            memcpy(p->clean_logits + p->row0[i] * p->V, c->logits, b->batch_size * p->V * sizeof(float));
        }
    }
    return AC_OK;
}

int ac__probe_patch(ac__probe *p, size_t bi, ac_error *err) {
    if (p->patch_for == bi) return AC_OK;
    const ac_discover_opts *o = p->o;
    const ac_ablation kind = o->probe_ablation ? o->probe_ablation : AC_ABLATION_MEAN_CORRUPT;
    const int from_clean = o->probe_ablation && !o->probe_tree;
    p->patch_for = SIZE_MAX;
    int rc = ac__patch_values(p->c, &p->c->split->batches[bi], kind, from_clean, 1, p->c->patch, err);
    if (!rc) p->patch_for = bi;
    return rc;
}

/* ---- faithfulness -------------------------------------------------------------------- */

/* KL(clean ‖ patched) averaged over rows and its gradient (q − p) / B */
static void kl_loss(const float *logits, const float *clean, size_t B, size_t V, double *faith, float *dl) {
    double total = 0;
    for (size_t i = 0; i < B; i++) {
        const float *z = logits + i * V, *t = clean + i * V;
        double mz = -INFINITY, mt = -INFINITY, sz = 0, st = 0;
        for (size_t j = 0; j < V; j++) {
            if (z[j] > mz) mz = z[j];
            if (t[j] > mt) mt = t[j];
        }
        for (size_t j = 0; j < V; j++) {
            sz += exp((double)z[j] - mz);
            st += exp((double)t[j] - mt);
        }
        const double lz = mz + log(sz), lt = mt + log(st);
        for (size_t j = 0; j < V; j++) {
            const double lq = (double)z[j] - lz, lp = (double)t[j] - lt, pj = exp(lp);
            if (pj > 0) total += pj * (lp - lq);
            dl[i * V + j] = (float)((exp(lq) - pj) / (double)B);
        }
    }
    *faith = total / (double)B;
}

static int faith_loss(ac__probe *p, const ac_batch *b, size_t bi, const float *logits, double *faith,
                      float *dl, ac_error *err) {
    const size_t B = b->batch_size, V = p->V;
    ac_answer_sets sets;
    ac_batch_answer_sets(b, &sets);
    ac_answer_loss_spec spec = {.grad_function = AC_VAL_LOGIT, .answer_function = AC_ANSWER_AVG_VAL};
    const float *clean = p->clean_logits ? p->clean_logits + p->row0[bi] * V : NULL;
    int rc;
    switch (p->o->probe_target) {
    case AC_PROBE_KL_DIV:
        kl_loss(logits, clean, B, V, faith, dl);
        return AC_OK;
    case AC_PROBE_MSE:
        for (size_t i = 0; i < B; i++) {
            if (b->answer_offsets[i + 1] - b->answer_offsets[i] != 1)
                return ac_error_set(err, AC_ERR_ARG, NULL,
                                    "probing target mse compares the logits with the answer as a number "
                                    "and needs exactly one answer per prompt (prompt %zu of batch %zu has %d)",
                                    i, bi, (int)(b->answer_offsets[i + 1] - b->answer_offsets[i]));
            p->mse_target[i] = (float)b->answers[b->answer_offsets[i]];
        }
        spec.answer_function = AC_ANSWER_MSE;
        spec.mse_target = p->mse_target;
        spec.mse_target_cols = 1;
        return ac_answer_loss(logits, B, V, &sets, &spec, faith, dl, err);
    case AC_PROBE_ANSWER:
        return ac_answer_loss(logits, B, V, &sets, &spec, faith, dl, err);
    case AC_PROBE_WRONG_ANSWER: {
        ac_answer_sets w = {.n_rows = B, .ans_off = sets.wrong_off, .ans = sets.wrong};
        return ac_answer_loss(logits, B, V, &w, &spec, faith, dl, err);
    }
    case AC_PROBE_CORRECT_PERCENT:
        /* auto-circuit adds the correct proportion itself: it has no gradient */
        memset(dl, 0, B * V * sizeof(float));
        return ac_correct_answer_proportion(logits, B, V, &sets, faith, err);
    case AC_PROBE_LOGIT_DIFF_PERCENT: {
        double *d = p->diffs, *t = p->diffs + B;
        if ((rc = ac_batch_answer_diffs(logits, B, V, &sets, d, err))) return rc;
        if ((rc = ac_batch_answer_diffs(clean, B, V, &sets, t, err))) return rc;
        memset(dl, 0, B * V * sizeof(float));
        double total = 0;
        for (size_t i = 0; i < B; i++) {
            const double pct = 100.0 * d[i] / t[i], r = 100.0 - pct;
            total += fabs(r);
            /* d|100 − pct| / d d_i, mean over rows (torch: sign(0) = 0) */
            const double gi = (r > 0 ? -1.0 : r < 0 ? 1.0 : 0.0) * 100.0 / t[i] / (double)B;
            const int32_t a0 = sets.ans_off[i], a1 = sets.ans_off[i + 1];
            const int32_t w0 = sets.wrong_off[i], w1 = sets.wrong_off[i + 1];
            for (int32_t k = a0; k < a1; k++) dl[i * V + (size_t)sets.ans[k]] += (float)(gi / (double)(a1 - a0));
            for (int32_t k = w0; k < w1; k++) dl[i * V + (size_t)sets.wrong[k]] -= (float)(gi / (double)(w1 - w0));
        }
        *faith = total / (double)B;
        return AC_OK;
    }
    }
    return ac_error_set(err, AC_ERR_ARG, NULL, "probing: unknown target");
}

/* ---- one step ------------------------------------------------------------------------ */

int ac__probe_loss_grad(ac__probe *p, size_t bi, const double *theta, const double *u_rows,
                        const double *u_reg, double *loss, double *faith_out, double *grad,
                        ac_error *err) {
    ac_algo_ctx *c = p->c;
    const ac_discover_opts *o = p->o;
    const ac_batch *b = &c->split->batches[bi];
    const size_t B = b->batch_size, E = p->E;
    const int hc = p->per_row, tree = o->probe_tree != 0;
    const uint64_t seed = o->seed, k0 = p->counter;
    const int draw = hc && !u_rows;
    if (hc && (!u_rows) != (!u_reg))
        return ac_error_set(err, AC_ERR_ARG, NULL, "probing: give both uniform arrays or neither");

    /* mask values for the forward */
    const size_t nm = hc ? B * E : E;
#pragma omp parallel for schedule(static) if (nm > 16384)
    for (size_t i = 0; i < nm; i++) {
        const double th = theta[i % E];
        double m, dm;
        if (hc) {
            m = ac_hard_concrete(th, draw ? ac__probe_uniform(seed, k0 + i) : u_rows[i], &dm);
        } else if (o->probe_mask_fn == AC_MASK_FN_SIGMOID) {
            m = sigmoid(th);
            dm = m * (1.0 - m);
        } else {
            m = th;
            dm = 1.0;
        }
        p->masks[i] = (float)m;
        p->dmask[i] = (float)dm;
    }
    memset(p->mgrad, 0, nm * sizeof(float));

    /* patched forward, faithfulness, backward to the masks */
    ac_tokens in = {.B = (int)B, .T = (int)b->seq_len, .ids = tree ? b->clean : b->corrupt,
                    .mask = tree ? b->clean_mask : b->corrupt_mask};
    ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = c->logits, .masks = p->masks,
                          .patch = c->patch, .masks_per_row = hc, .last_only = 1};
    int rc = ac_run_forward(c->run, &in, &fo, err);
    if (rc) return rc;
    double faith = 0;
    if ((rc = faith_loss(p, b, bi, c->logits, &faith, c->dlogits, err))) return rc;
    ac_backward_opts bo = {.dlogits = c->dlogits, .mask_grad = p->mgrad};
    if ((rc = ac_run_backward(c->run, &bo, err))) return rc;
    const size_t nrows = hc ? B : 1;
#pragma omp parallel for schedule(static) if (E > 16384)
    for (size_t e = 0; e < E; e++) {
        double acc = 0;
        for (size_t r = 0; r < nrows; r++) acc += (double)p->mgrad[r * E + e] * (double)p->dmask[r * E + e];
        grad[e] = acc;
    }

    /* regularizer: the circuit's size on one separate sample of every mask */
    const size_t kreg = k0 + B * E;
    double sum = 0;
    for (size_t e = 0; e < E; e++) {
        double s, ds;
        if (hc) {
            s = ac_hard_concrete(theta[e], draw ? ac__probe_uniform(seed, kreg + e) : u_reg[e], &ds);
        } else if (o->probe_mask_fn == AC_MASK_FN_SIGMOID) {
            s = sigmoid(theta[e]);
            ds = s * (1.0 - s);
        } else {
            s = theta[e];
            ds = 1.0;
        }
        sum += s;
        p->reg_ds[e] = ds;
    }
    double count = tree ? (double)E - sum : sum, reg, dreg;
    const double dcount = tree ? -1.0 : 1.0;
    if (o->probe_circuit_size) {
        const double size = (double)o->probe_circuit_size;
        reg = count > size ? (count - size) / size : 0.0;
        dreg = count > size ? 1.0 / size : 0.0;
    } else {
        reg = count / (double)E;
        dreg = 1.0 / (double)E;
    }
    const double lam = o->probe_lambda;
    for (size_t e = 0; e < E; e++) grad[e] += lam * dreg * dcount * p->reg_ds[e];
    /* avoided edges: ±avoid_lambda / n_avoid · sigmoid(θ − c) */
    if (p->n_avoid) {
        const double wgt = (tree ? -1.0 : 1.0) * o->probe_avoid_lambda / (double)p->n_avoid;
        const double cst = hc ? AC_HC_REGULARIZE_CONST : 0.0;
        for (size_t e = 0; e < E; e++) {
            if (!o->probe_avoid[e]) continue;
            double pen = theta[e], dpen = 1.0;
            if (o->probe_mask_fn != AC_MASK_FN_NONE) {
                pen = sigmoid(theta[e] - cst);
                dpen = pen * (1.0 - pen);
            }
            reg += wgt * pen;
            grad[e] += lam * wgt * dpen;
        }
    }
    if (draw) p->counter = kreg + E;
    *loss = faith + lam * reg;
    if (faith_out) *faith_out = faith;
    return AC_OK;
}

/* ---- training ------------------------------------------------------------------------ */

int ac__probe_train(ac_algo_ctx *c, const ac_discover_opts *o, uint64_t *counter,
                    size_t prog_base, size_t prog_total, const char *what, float *scores,
                    double *epoch_loss, ac_error *err) {
    ac__probe p;
    int rc = ac__probe_init(&p, c, o, err);
    if (rc) return rc;
    const size_t E = p.E;
    double *theta = ac_calloc(E, sizeof(double)), *grad = ac_calloc(E, sizeof(double));
    double *m = ac_calloc(E, sizeof(double)), *v = ac_calloc(E, sizeof(double));
    if (!theta || !grad || !m || !v) {
        rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for probing state (%zu edges)", E);
        goto done;
    }
    /* auto-circuit's init_val: ln(p / (1 − p)), p = (0.9 − left) / (right − left) = 5/6 */
    const double init = isnan(o->probe_init) ? log(5.0) : o->probe_init;
    for (size_t e = 0; e < E; e++) theta[e] = o->probe_tree ? init : -init;
    p.counter = *counter;
    long step = 0;
    const size_t nb = c->split->n_batches;
    for (int ep = 0; ep < o->probe_epochs; ep++) {
        double acc = 0;
        for (size_t bi = 0; bi < nb; bi++) {
            double loss;
            if ((rc = ac__probe_patch(&p, bi, err))) goto done;
            if ((rc = ac__probe_loss_grad(&p, bi, theta, NULL, NULL, &loss, NULL, grad, err))) goto done;
            ac__adam_step(E, theta, grad, m, v, ++step, o->probe_lr);
            acc += loss;
        }
        if (epoch_loss) epoch_loss[ep] = acc / (double)nb;
        ac__algo_progress(c, prog_base + (size_t)ep + 1, prog_total, what);
    }
    /* score = |extreme| + sign·θ: edge mode |min θ| + θ, tree mode |max θ| − θ */
    double ext = theta[0];
    for (size_t e = 1; e < E; e++) ext = o->probe_tree ? fmax(ext, theta[e]) : fmin(ext, theta[e]);
    ext = fabs(ext);
    for (size_t e = 0; e < E; e++) scores[e] = (float)(ext + (o->probe_tree ? -theta[e] : theta[e]));
    *counter = p.counter;
done:
    ac_free(theta);
    ac_free(grad);
    ac_free(m);
    ac_free(v);
    ac__probe_free(&p);
    return rc;
}

int ac_algo_probe(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    uint64_t counter = 0;
    const size_t total = o->probe_epochs > 0 ? (size_t)o->probe_epochs : 0;
    return ac__probe_train(c, o, &counter, 0, total, "subnetwork probing", scores, NULL, err);
}

static int cmp_size(const void *a, const void *b) {
    const size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int ac_algo_circuit_probe(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    const size_t E = c->g->n_edges, n = o->n_probe_sizes;
    if (!o->probe_sizes || n == 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "circuit probing needs at least one circuit size");
    size_t *sizes = ac_malloc(n * sizeof(size_t));
    float *tmp = ac_malloc(E * sizeof(float)), *desc = ac_malloc(E * sizeof(float));
    int rc = AC_OK;
    if (!sizes || !tmp || !desc) {
        rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    memcpy(sizes, o->probe_sizes, n * sizeof(size_t));
    qsort(sizes, n, sizeof(size_t), cmp_size);
    for (size_t i = 0; i < n; i++) {
        if (sizes[i] == 0 || sizes[i] > E || (i > 0 && sizes[i] == sizes[i - 1])) {
            rc = ac_error_set(err, AC_ERR_ARG, NULL,
                              "circuit probing sizes must be distinct and in 1..%zu (got %zu)", E, sizes[i]);
            goto done;
        }
    }
    memset(scores, 0, E * sizeof(float));
    ac_discover_opts so = *o;
    if (isnan(so.probe_init)) so.probe_init = -log(5.0);
    const size_t epochs = o->probe_epochs > 0 ? (size_t)o->probe_epochs : 0;
    uint64_t counter = 0;
    for (size_t i = 0; i < n; i++) {
        so.probe_circuit_size = sizes[i];
        if ((rc = ac__probe_train(c, &so, &counter, i * epochs, n * epochs, "circuit probing", tmp, NULL, err)))
            goto done;
        double thr;
        if ((rc = ac_desc_prune_scores(tmp, E, 0, desc, err))) goto done;
        if ((rc = ac_prune_scores_threshold(desc, E, sizes[i], &thr, err))) goto done;
        const float value = (float)(n - i);
        for (size_t e = 0; e < E; e++)
            if ((double)tmp[e] >= thr && scores[e] == 0.0f) scores[e] = value;
    }
done:
    ac_free(sizes);
    ac_free(tmp);
    ac_free(desc);
    return rc;
}
