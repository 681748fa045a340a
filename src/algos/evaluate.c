/* Circuit evaluation: auto-circuit's run_circuits (edge or tree patching) and the prune
 * metrics of each circuit. */
#include <math.h>
#include <string.h>

#include "algos/algo_internal.h"

/* Accumulate one batch's metrics, weighted by its size. */
typedef struct {
    double kl, diff, clean_diff, ans_logit, ans_prob, ans_logprob, correct, beats;
} sums;

static int batch_metrics(ac_algo_ctx *c, const ac_batch *b, const float *logits, const float *clean,
                         sums *acc, ac_error *err) {
    const size_t B = b->batch_size, V = (size_t)ac_model_config(c->m)->vocab_size;
    ac_answer_sets sets;
    ac_batch_answer_sets(b, &sets);
    double v;
    int rc;
    const double w = (double)B;
    if ((rc = ac_measure_kl_div(logits, clean, B, V, &v, err))) return rc;
    acc->kl += w * v;
    if ((rc = ac_measure_answer_diff(logits, B, V, AC_VAL_LOGIT, &sets, &v, err))) return rc;
    acc->diff += w * v;
    if ((rc = ac_measure_answer_diff(clean, B, V, AC_VAL_LOGIT, &sets, &v, err))) return rc;
    acc->clean_diff += w * v;
    if ((rc = ac_measure_answer_val(logits, B, V, AC_VAL_LOGIT, &sets, 0, &v, err))) return rc;
    acc->ans_logit += w * v;
    if ((rc = ac_measure_answer_val(logits, B, V, AC_VAL_PROB, &sets, 0, &v, err))) return rc;
    acc->ans_prob += w * v;
    if ((rc = ac_measure_answer_val(logits, B, V, AC_VAL_LOGPROB, &sets, 0, &v, err))) return rc;
    acc->ans_logprob += w * v;
    /* "correct answer percent" is defined for one correct answer per prompt only */
    int single = 1;
    for (size_t i = 0; i < B; i++) single &= sets.ans_off[i + 1] - sets.ans_off[i] == 1;
    if (single) {
        if ((rc = ac_measure_correct_answer_percent(logits, B, V, &sets, 0, &v, err))) return rc;
        acc->correct += w * v;
        if ((rc = ac_measure_correct_answer_percent(logits, B, V, &sets, 1, &v, err))) return rc;
        acc->beats += w * v;
    } else {
        acc->correct = acc->beats = NAN;
    }
    return AC_OK;
}

/* masks for a circuit: edge patching patches the circuit, tree patching the rest */
static void circuit_masks(float *masks, const uint8_t *in_circuit, size_t n, int tree) {
    for (size_t e = 0; e < n; e++) masks[e] = (in_circuit[e] != 0) != (tree != 0) ? 1.0f : 0.0f;
}

static int evaluate_sets_(ac_algo_ctx *c, uint8_t *const *sets, size_t n_sets, const ac_eval_opts *o,
                          ac_eval_point *points, ac_error *err) {
    const ac_graph *g = c->g;
    sums *acc = ac_calloc(n_sets, sizeof *acc);
    if (!acc) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    size_t n_prompts = 0;
    int rc = AC_OK;
    /* tree: clean input, ablation values from the corrupt side; edge: the reverse */
    const int input_clean = (o->tree != 0) != (o->reverse != 0);
    const size_t total = c->split->n_batches * n_sets;
    size_t done = 0;
    for (size_t bi = 0; bi < c->split->n_batches && !rc; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        /* the full model on the clean prompts: KL reference and logit-diff baseline */
        if ((rc = ac__algo_forward(c, b, 1, NULL, NULL, NULL, c->logits_ref, err))) break;
        if ((rc = ac__patch_values(c, b, o->ablation, !input_clean, 1, c->patch, err))) break;
        for (size_t k = 0; k < n_sets && !rc; k++) {
            circuit_masks(c->masks, sets[k], g->n_edges, o->tree);
            if ((rc = ac__algo_forward(c, b, input_clean, c->masks, c->patch, NULL, c->logits, err))) break;
            rc = batch_metrics(c, b, c->logits, c->logits_ref, &acc[k], err);
            ac__algo_progress(c, ++done, total, "evaluating circuits");
        }
        n_prompts += b->batch_size;
    }
    for (size_t k = 0; k < n_sets && !rc; k++) {
        const double n = (double)n_prompts;
        ac_eval_point *p = &points[k];
        p->kl = acc[k].kl / n;
        p->logit_diff = acc[k].diff / n;
        p->logit_diff_percent = 100.0 * acc[k].diff / acc[k].clean_diff;
        p->answer_logit = acc[k].ans_logit / n;
        p->answer_prob = acc[k].ans_prob / n;
        p->answer_logprob = acc[k].ans_logprob / n;
        p->correct_percent = acc[k].correct / n;
        p->correct_beats_wrong_percent = acc[k].beats / n;
    }
    ac_free(acc);
    return rc;
}

static int evaluate_sets(ac_algo_ctx *c, uint8_t *const *sets, size_t n_sets, const ac_eval_opts *o,
                         ac_eval_point *points, ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    int rc = evaluate_sets_(c, sets, n_sets, o, points, err);
    ac__algo_prefix_end(c);
    return rc;
}

int ac_evaluate(ac_algo_ctx *c, const float *scores, const size_t *counts, size_t n_counts,
                const ac_eval_opts *o, ac_eval_point *points, ac_error *err) {
    const ac_graph *g = c->g;
    uint8_t **sets = ac_calloc(n_counts ? n_counts : 1, sizeof *sets);
    if (!sets) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    int rc = AC_OK;
    for (size_t k = 0; k < n_counts && !rc; k++) {
        sets[k] = ac_calloc(g->n_edges, 1);
        if (!sets[k]) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        size_t n_sel = 0;
        rc = ac_prune_scores_select(scores, g->n_edges, counts[k], o->signed_rank, sets[k], &n_sel, err);
        points[k].requested = counts[k];
        points[k].edges = n_sel;
    }
    if (!rc) rc = evaluate_sets(c, sets, n_counts, o, points, err);
    for (size_t k = 0; k < n_counts; k++) ac_free(sets[k]);
    ac_free(sets);
    return rc;
}

int ac_evaluate_circuit(ac_algo_ctx *c, const uint8_t *in_circuit, const ac_eval_opts *o,
                        ac_eval_point *point, ac_error *err) {
    uint8_t *set = (uint8_t *)in_circuit;
    size_t n = 0;
    for (size_t e = 0; e < c->g->n_edges; e++) n += in_circuit[e] != 0;
    point->requested = point->edges = n;
    return evaluate_sets(c, &set, 1, o, point, err);
}
