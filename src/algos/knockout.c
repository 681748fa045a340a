/* Completeness: same under knockouts (auto-circuit's same_under_knockout) and the
 * learned knockout search (train_same_under_knockout_prune_scores). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "algos/knockout_internal.h"
#include "algos/probe_internal.h"

void ac_knockout_opts_default(ac_knockout_opts *o) {
    memset(o, 0, sizeof *o);
    o->epochs = 100;
    o->lr = 0.02;
    o->lambda = 0.0;
    o->threshold = 0.0;
    o->init = NAN;
    o->target = AC_KNOCKOUT_KL_DIV;
    o->ablation = AC_ABLATION_RESAMPLE;
    o->seed = 42;
}

static int check_ablation(ac_ablation a, ac_error *err) {
    if ((int)a < AC_ABLATION_RESAMPLE || (int)a > AC_ABLATION_BATCH_ALL_MEAN)
        return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: unknown ablation %d", (int)a);
    return AC_OK;
}

/* One forward of the clean side of b with masks (shared, or per row) and c->patch. */
static int forward(ac_algo_ctx *c, const ac_batch *b, const float *masks, int per_row, float *logits,
                   ac_error *err) {
    ac_tokens in;
    int rc = ac__algo_tokens(c, b, 1, &in, err);
    if (rc) return rc;
    ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .masks = masks, .patch = c->patch,
                          .masks_per_row = per_row, .prefix = c->use_prefix ? c->kv : NULL, .last_only = 1};
    return ac_run_forward(c->run, &in, &fo, err);
}

/* ---- evaluation ---------------------------------------------------------------------- */

typedef struct {
    double kl, ko_kl, ld_m, ld_c, ld_mk, ld_ck;
} ko_sums;

static int same_under_knockout_(ac_algo_ctx *c, const uint8_t *in_circuit, const uint8_t *knockout,
                                ac_ablation ablation, ac_knockout_result *r, ac_error *err) {
    const ac_graph *g = c->g;
    const size_t E = g->n_edges, V = (size_t)ac_model_config(c->m)->vocab_size;
    size_t nC = 0, nK = 0;
    for (size_t e = 0; e < E; e++) {
        nC += in_circuit[e] != 0;
        nK += in_circuit[e] && knockout && knockout[e];
    }
    if (nC == 0) return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: the circuit has no edges");
    float *lm = ac_malloc((size_t)c->max_B * V * sizeof(float));
    if (!lm) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    ko_sums s = {0};
    size_t n_prompts = 0;
    int rc = AC_OK;
    for (size_t bi = 0; bi < c->split->n_batches && !rc; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        const size_t B = b->batch_size;
        const double w = (double)B;
        ac_answer_sets sets;
        ac_batch_answer_sets(b, &sets);
        double v;
        /* M: the full model on the clean prompts */
        if ((rc = ac__algo_forward(c, b, 1, NULL, NULL, NULL, c->logits_ref, err))) break;
        if ((rc = ac_measure_answer_diff(c->logits_ref, B, V, AC_VAL_LOGIT, &sets, &v, err))) break;
        s.ld_m += w * v;
        if ((rc = ac__patch_values(c, b, ablation, 0, 1, c->patch, err))) break;
        /* C: every edge outside the circuit patched */
        for (size_t e = 0; e < E; e++) c->masks[e] = in_circuit[e] ? 0.0f : 1.0f;
        if ((rc = forward(c, b, c->masks, 0, c->logits, err))) break;
        if ((rc = ac_measure_kl_div(c->logits, c->logits_ref, B, V, &v, err))) break;
        s.kl += w * v;
        if ((rc = ac_measure_answer_diff(c->logits, B, V, AC_VAL_LOGIT, &sets, &v, err))) break;
        s.ld_c += w * v;
        /* M − K: only K patched */
        for (size_t e = 0; e < E; e++) c->masks[e] = in_circuit[e] && knockout && knockout[e] ? 1.0f : 0.0f;
        if ((rc = forward(c, b, c->masks, 0, lm, err))) break;
        if ((rc = ac_measure_answer_diff(lm, B, V, AC_VAL_LOGIT, &sets, &v, err))) break;
        s.ld_mk += w * v;
        /* C − K: everything outside the circuit and K patched */
        for (size_t e = 0; e < E; e++) c->masks[e] = !in_circuit[e] || (knockout && knockout[e]) ? 1.0f : 0.0f;
        if ((rc = forward(c, b, c->masks, 0, c->logits, err))) break;
        if ((rc = ac_measure_kl_div(c->logits, lm, B, V, &v, err))) break;
        s.ko_kl += w * v;
        if ((rc = ac_measure_answer_diff(c->logits, B, V, AC_VAL_LOGIT, &sets, &v, err))) break;
        s.ld_ck += w * v;
        n_prompts += B;
    }
    ac_free(lm);
    if (rc) return rc;
    const double n = (double)n_prompts;
    r->circuit_size = nC;
    r->n_knockouts = nK;
    r->kl = s.kl / n;
    r->knockout_kl = s.ko_kl / n;
    r->logit_diff_model = s.ld_m / n;
    r->logit_diff_circuit = s.ld_c / n;
    r->logit_diff_model_ko = s.ld_mk / n;
    r->logit_diff_circuit_ko = s.ld_ck / n;
    return AC_OK;
}

int ac_same_under_knockout(ac_algo_ctx *c, const uint8_t *in_circuit, const uint8_t *knockout,
                           ac_ablation ablation, ac_knockout_result *r, ac_error *err) {
    int rc = check_ablation(ablation, err);
    if (rc) return rc;
    ac__algo_prefix_begin(c, ablation);
    rc = same_under_knockout_(c, in_circuit, knockout, ablation, r, err);
    ac__algo_prefix_end(c);
    return rc;
}

/* ---- training state -------------------------------------------------------------------- */

static int check_opts(const ac_knockout_opts *o, ac_error *err) {
    if (o->epochs < 0) return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: epochs must be >= 0");
    if (!(o->lr > 0) || !isfinite(o->lr))
        return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: the learning rate must be a positive number");
    if (!(o->lambda >= 0) || !isfinite(o->lambda))
        return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: lambda must be a finite number >= 0");
    if (!isfinite(o->threshold)) return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: the threshold must be finite");
    if (isinf(o->init)) return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: the initial mask logit must be finite");
    if ((int)o->target < AC_KNOCKOUT_KL_DIV || (int)o->target > AC_KNOCKOUT_LOGIT_DIFF)
        return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: unknown target %d", (int)o->target);
    return check_ablation(o->ablation, err);
}

void ac__knockout_free(ac__knockout *k) {
    ac_free(k->cidx);
    ac_free(k->masks_ck);
    ac_free(k->masks_mk);
    ac_free(k->dm_ck);
    ac_free(k->dm_mk);
    ac_free(k->mgrad);
    ac_free(k->logits_ck);
    ac_free(k->logits_mk);
    ac_free(k->dl_ck);
    ac_free(k->dl_mk);
    ac_free(k->reg_ds);
    memset(k, 0, sizeof *k);
}

int ac__knockout_init(ac__knockout *k, ac_algo_ctx *c, const uint8_t *in_circuit, const ac_knockout_opts *o,
                      ac_error *err) {
    memset(k, 0, sizeof *k);
    int rc = check_opts(o, err);
    if (rc) return rc;
    k->c = c;
    k->o = o;
    k->E = c->g->n_edges;
    k->V = (size_t)ac_model_config(c->m)->vocab_size;
    k->patch_for = SIZE_MAX;
    for (size_t e = 0; e < k->E; e++) k->nC += in_circuit[e] != 0;
    if (k->nC == 0) return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: the circuit has no edges");
    const size_t size = o->circuit_size ? o->circuit_size : k->nC;
    size_t target = o->max_knockouts ? o->max_knockouts : size / 5;
    k->n_target = (double)(target ? target : 1);
    const size_t B = (size_t)c->max_B, E = k->E, nC = k->nC, V = k->V;
    k->cidx = ac_malloc(nC * sizeof *k->cidx);
    k->masks_ck = ac_malloc(B * E * sizeof(float));
    k->masks_mk = ac_malloc(B * E * sizeof(float));
    k->dm_ck = ac_calloc(B * nC, sizeof(float));
    k->dm_mk = ac_calloc(B * nC, sizeof(float));
    k->mgrad = ac_calloc(B * E, sizeof(float));
    k->logits_ck = ac_calloc(B * V, sizeof(float));
    k->logits_mk = ac_calloc(B * V, sizeof(float));
    k->dl_ck = ac_calloc(B * V, sizeof(float));
    k->dl_mk = ac_calloc(B * V, sizeof(float));
    k->reg_ds = ac_calloc(nC, sizeof(double));
    if (!k->reg_ds || !k->cidx || !k->masks_ck || !k->masks_mk || !k->dm_ck || !k->dm_mk || !k->mgrad || !k->logits_ck ||
        !k->logits_mk || !k->dl_ck || !k->dl_mk) {
        ac__knockout_free(k);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for knockout masks (%zu edges x %zu rows)", E, B);
    }
    size_t j = 0;
    for (size_t e = 0; e < E; e++)
        if (in_circuit[e]) k->cidx[j++] = e;
    /* edges outside the circuit: always patched in C − K, never in M − K */
    for (size_t r = 0; r < B; r++)
        for (size_t e = 0; e < E; e++) {
            k->masks_ck[r * E + e] = in_circuit[e] ? 0.0f : 1.0f;
            k->masks_mk[r * E + e] = 0.0f;
        }
    return AC_OK;
}

int ac__knockout_patch(ac__knockout *k, size_t bi, ac_error *err) {
    if (k->patch_for == bi) return AC_OK;
    k->patch_for = SIZE_MAX;
    int rc = ac__patch_values(k->c, &k->c->split->batches[bi], k->o->ablation, 0, 1, k->c->patch, err);
    if (!rc) k->patch_for = bi;
    return rc;
}

/* ---- one step ------------------------------------------------------------------------- */

/* KL(p ‖ q) per row, mean over rows (multibatch_kl_div, unclamped), p = softmax(zp) the
 * M − K run, q = softmax(zq) the C − K run; gradients of −KL (the faith term) with
 * respect to zq: −(q − p) / B, and zp: −p (ln p − ln q − KL_row) / B. */
static double neg_kl_grad(const float *zq, const float *zp, size_t B, size_t V, float *dq, float *dp) {
    double total = 0;
    for (size_t i = 0; i < B; i++) {
        const float *q = zq + i * V, *p = zp + i * V;
        double mq = -INFINITY, mp = -INFINITY, sq = 0, sp = 0;
        for (size_t j = 0; j < V; j++) {
            if (q[j] > mq) mq = q[j];
            if (p[j] > mp) mp = p[j];
        }
        for (size_t j = 0; j < V; j++) {
            sq += exp((double)q[j] - mq);
            sp += exp((double)p[j] - mp);
        }
        const double lzq = mq + log(sq), lzp = mp + log(sp);
        double kl = 0;
        for (size_t j = 0; j < V; j++) {
            const double lp = (double)p[j] - lzp, lq = (double)q[j] - lzq, pj = exp(lp);
            if (pj > 0) kl += pj * (lp - lq);
        }
        for (size_t j = 0; j < V; j++) {
            const double lp = (double)p[j] - lzp, lq = (double)q[j] - lzq, pj = exp(lp);
            dq[i * V + j] = (float)(-(exp(lq) - pj) / (double)B);
            dp[i * V + j] = (float)(pj > 0 ? -pj * (lp - lq - kl) / (double)B : 0.0);
        }
        total += kl;
    }
    return -total / (double)B;
}

/* backward of the last forward, then grad[j] += Σ_rows d faith / d mask · d mask / d θ */
static int backward_into(ac__knockout *k, const float *dl, size_t B, const float *dm, double *grad, ac_error *err) {
    const size_t E = k->E, nC = k->nC;
    memset(k->mgrad, 0, B * E * sizeof(float));
    ac_backward_opts bo = {.dlogits = dl, .mask_grad = k->mgrad};
    int rc = ac_run_backward(k->c->run, &bo, err);
    if (rc) return rc;
    for (size_t j = 0; j < nC; j++) {
        double acc = 0;
        for (size_t r = 0; r < B; r++) acc += (double)k->mgrad[r * E + k->cidx[j]] * (double)dm[r * nC + j];
        grad[j] += acc;
    }
    return AC_OK;
}

int ac__knockout_loss_grad(ac__knockout *k, size_t bi, const double *theta, const double *u_ck, const double *u_mk,
                           const double *u_reg, double *loss, double *faith_out, double *grad, ac_error *err) {
    ac_algo_ctx *c = k->c;
    const ac_knockout_opts *o = k->o;
    const ac_batch *b = &c->split->batches[bi];
    const size_t B = b->batch_size, E = k->E, nC = k->nC, V = k->V;
    const int draw = !u_ck;
    if ((!u_ck) != (!u_mk) || (!u_ck) != (!u_reg))
        return ac_error_set(err, AC_ERR_ARG, NULL, "knockouts: give all three uniform arrays or none");
    const uint64_t k0 = k->counter, seed = o->seed;
    /* the two runs' hard-concrete samples of the circuit edges, one per prompt */
    for (int run = 0; run < 2; run++) {
        float *masks = run ? k->masks_mk : k->masks_ck, *dm = run ? k->dm_mk : k->dm_ck;
        const double *u = run ? u_mk : u_ck;
        const uint64_t base = k0 + (uint64_t)run * B * nC;
        for (size_t r = 0; r < B; r++)
            for (size_t j = 0; j < nC; j++) {
                const size_t i = r * nC + j;
                double d;
                const double m = ac_hard_concrete(theta[j], draw ? ac__probe_uniform(seed, base + i) : u[i], &d);
                masks[r * E + k->cidx[j]] = (float)m;
                dm[i] = (float)d;
            }
    }
    /* forwards: C − K, then M − K */
    int rc = forward(c, b, k->masks_ck, 1, k->logits_ck, err);
    if (rc) return rc;
    if ((rc = forward(c, b, k->masks_mk, 1, k->logits_mk, err))) return rc;
    double faith;
    if (o->target == AC_KNOCKOUT_KL_DIV) {
        faith = neg_kl_grad(k->logits_ck, k->logits_mk, B, V, k->dl_ck, k->dl_mk);
    } else {
        /* faith = diff(C − K) − diff(M − K); ac_answer_loss gives −diff and its gradient */
        ac_answer_sets sets;
        ac_batch_answer_sets(b, &sets);
        ac_answer_loss_spec spec = {.grad_function = AC_VAL_LOGIT, .answer_function = AC_ANSWER_AVG_DIFF};
        double lck, lmk;
        if ((rc = ac_answer_loss(k->logits_ck, B, V, &sets, &spec, &lck, k->dl_ck, err))) return rc;
        if ((rc = ac_answer_loss(k->logits_mk, B, V, &sets, &spec, &lmk, k->dl_mk, err))) return rc;
        for (size_t i = 0; i < B * V; i++) k->dl_ck[i] = -k->dl_ck[i];
        faith = -lck + lmk;
    }
    for (size_t j = 0; j < nC; j++) grad[j] = 0.0;
    /* backward of M − K (the last forward), then the C − K forward again and its backward */
    if ((rc = backward_into(k, k->dl_mk, B, k->dm_mk, grad, err))) return rc;
    if ((rc = forward(c, b, k->masks_ck, 1, k->logits_ck, err))) return rc;
    if ((rc = backward_into(k, k->dl_ck, B, k->dm_ck, grad, err))) return rc;
    /* the size penalty on one more sample: relu(Σ s − n_t) / n_t */
    const uint64_t kreg = k0 + 2 * (uint64_t)B * nC;
    double sum = 0;
    for (size_t j = 0; j < nC; j++) {
        double d;
        sum += ac_hard_concrete(theta[j], draw ? ac__probe_uniform(seed, kreg + j) : u_reg[j], &d);
        k->reg_ds[j] = d;
    }
    const double nt = k->n_target, lam = o->lambda;
    const double reg = sum > nt ? (sum - nt) / nt : 0.0;
    if (sum > nt && lam != 0.0)
        for (size_t j = 0; j < nC; j++) grad[j] += lam / nt * k->reg_ds[j];
    if (draw) k->counter = kreg + nC;
    *loss = faith + lam * reg;
    if (faith_out) *faith_out = faith;
    return AC_OK;
}

/* ---- training ----------------------------------------------------------------------- */

static int knockout_(ac_algo_ctx *c, const uint8_t *in_circuit, const ac_knockout_opts *o, float *scores,
                     double *epoch_loss, ac_error *err) {
    ac__knockout k;
    int rc = ac__knockout_init(&k, c, in_circuit, o, err);
    if (rc) return rc;
    const size_t nC = k.nC;
    double *theta = ac_calloc(nC, sizeof(double)), *grad = ac_calloc(nC, sizeof(double));
    double *m = ac_calloc(nC, sizeof(double)), *v = ac_calloc(nC, sizeof(double));
    if (!theta || !grad || !m || !v) {
        rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for knockout state (%zu edges)", nC);
        goto done;
    }
    /* auto-circuit: set_all_masks(-init_mask_val), init_mask_val = ln((0.9 - left) /
     * (right - 0.9)) = ln 5 */
    const double init = isnan(o->init) ? -log(5.0) : o->init;
    for (size_t j = 0; j < nC; j++) theta[j] = init;
    const size_t nb = c->split->n_batches, total = (size_t)o->epochs;
    long step = 0;
    ac__algo_prefix_begin(c, o->ablation);
    for (int ep = 0; ep < o->epochs && !rc; ep++) {
        double acc = 0;
        for (size_t bi = 0; bi < nb; bi++) {
            double loss;
            if ((rc = ac__knockout_patch(&k, bi, err))) break;
            if ((rc = ac__knockout_loss_grad(&k, bi, theta, NULL, NULL, NULL, &loss, NULL, grad, err))) break;
            ac__adam_step(nC, theta, grad, m, v, ++step, o->lr);
            acc += loss;
        }
        if (rc) break;
        if (epoch_loss) epoch_loss[ep] = acc / (double)nb;
        ac__algo_progress(c, (size_t)ep + 1, total, "learning knockouts");
    }
    ac__algo_prefix_end(c);
    if (rc) goto done;
    for (size_t e = 0; e < k.E; e++) scores[e] = -INFINITY;
    for (size_t j = 0; j < nC; j++) scores[k.cidx[j]] = (float)theta[j];
done:
    ac_free(theta);
    ac_free(grad);
    ac_free(m);
    ac_free(v);
    ac__knockout_free(&k);
    return rc;
}

int ac_algo_knockout(ac_algo_ctx *c, const uint8_t *in_circuit, const ac_knockout_opts *o, float *scores,
                     double *epoch_loss, ac_knockout_result *learned, ac_knockout_result *empty, ac_error *err) {
    int rc = knockout_(c, in_circuit, o, scores, epoch_loss, err);
    if (rc) return rc;
    const size_t E = c->g->n_edges;
    uint8_t *ko = ac_calloc(E ? E : 1, 1);
    if (!ko) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (size_t e = 0; e < E; e++) ko[e] = in_circuit[e] && (double)scores[e] >= o->threshold;
    if (learned) rc = ac_same_under_knockout(c, in_circuit, ko, o->ablation, learned, err);
    if (!rc && empty) rc = ac_same_under_knockout(c, in_circuit, NULL, o->ablation, empty, err);
    ac_free(ko);
    return rc;
}
