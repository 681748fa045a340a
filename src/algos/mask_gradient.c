/* Gradient-based edge scores: mask gradients (EAP), integrated gradients over masks,
 * and EAP-IG with interpolated input embeddings. */
#include <string.h>

#include "algos/algo_internal.h"

/* Source-stack budget of one forward when the context does not set one: a batch whose
 * stack (n_src × rows × T × d floats) is larger runs as sub-batches (docs/performance.md). */
#define STACK_BUDGET ((size_t)128 << 20)
/* ... but sub-batches keep at least this many token rows (GEMM efficiency) */
#define SUB_MIN_TOKENS 256

size_t ac__algo_sub_rows(const ac_algo_ctx *c, const ac_batch *b) {
    const size_t B = b->batch_size, T = ac__algo_T(c, b);
    if (c->stack_budget == (size_t)-1 || B <= 1 || T == 0) return B;
    const size_t budget = c->stack_budget ? c->stack_budget : STACK_BUDGET;
    const size_t per_row = (size_t)c->g->n_src * T * (size_t)ac_model_config(c->m)->d_model * sizeof(float);
    size_t rows = per_row ? budget / per_row : B;
    const size_t min_rows = c->stack_budget ? 1 : (SUB_MIN_TOKENS + T - 1) / T;
    if (rows < min_rows) rows = min_rows;
    if (rows < 1) rows = 1;
    if (rows >= B) return B;
    /* equal parts: ceil(B / parts) rows each */
    const size_t parts = (B + rows - 1) / rows;
    return (B + parts - 1) / parts;
}

void ac__algo_batch_rows(const ac_batch *b, size_t r0, size_t n, ac_batch *v, int32_t *ans_off,
                         int32_t *wrong_off) {
    *v = *b;
    const size_t T = b->seq_len;
    v->batch_size = n;
    v->clean = b->clean + r0 * T;
    v->corrupt = b->corrupt + r0 * T;
    v->clean_mask = b->clean_mask + r0 * T;
    v->corrupt_mask = b->corrupt_mask + r0 * T;
    for (size_t i = 0; i <= n; i++) {
        ans_off[i] = b->answer_offsets[r0 + i] - b->answer_offsets[r0];
        if (b->wrong_offsets) wrong_off[i] = b->wrong_offsets[r0 + i] - b->wrong_offsets[r0];
    }
    v->answer_offsets = ans_off;
    v->answers = b->answers ? b->answers + b->answer_offsets[r0] : NULL;
    v->wrong_offsets = b->wrong_offsets ? wrong_off : NULL;
    v->wrong_answers = b->wrong_answers && b->wrong_offsets ? b->wrong_answers + b->wrong_offsets[r0] : NULL;
    v->prompt_index = b->prompt_index ? b->prompt_index + r0 : NULL;
}

static int mask_gradient(ac_algo_ctx *c, const ac_discover_opts *o, int ig, float *scores,
                         int32_t *offs, ac_error *err) {
    const ac_graph *g = c->g;
    const int steps = ig ? (o->steps > 0 ? o->steps : 5) : 0;
    memset(scores, 0, g->n_edges * sizeof(float));
    const size_t total = c->split->n_batches * (size_t)(steps + 1);
    size_t done = 0;
    const size_t V = (size_t)ac_model_config(c->m)->vocab_size;
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *full = &c->split->batches[bi];
        /* A batch whose source stack exceeds the budget runs in sub-batches of rows: the
         * loss is the batch mean, so each sub-batch's d loss / d logits (a mean over its
         * own rows) is scaled by rows / B, and mask gradients accumulate. */
        const size_t sub = ac__algo_sub_rows(c, full);
        for (size_t r0 = 0; r0 < full->batch_size; r0 += sub) {
            const size_t nr = full->batch_size - r0 < sub ? full->batch_size - r0 : sub;
            ac_batch view;
            const ac_batch *b = full;
            if (nr < full->batch_size) {
                ac__algo_batch_rows(full, r0, nr, &view, offs, offs + c->max_B + 1);
                b = &view;
            }
            const float scale = (float)((double)nr / (double)full->batch_size);
            int rc = ac_patch_values(c, b, o->ablation, 0, c->patch, err);
            if (rc) return rc;
            for (int k = 0; k <= steps; k++) {
                const float mval = ig ? (float)k / (float)steps : o->mask_val;
                const float *masks = NULL;
                if (mval != 0.0f) {
                    for (size_t e = 0; e < g->n_edges; e++) c->masks[e] = mval;
                    masks = c->masks;
                }
                double loss;
                /* one forward per batch's patch values (plain mask gradients): the run keeps
                 * patch − clean in the patch buffer itself, one source stack less memory */
                ac_tokens in;
                if ((rc = ac__algo_tokens(c, b, 1, &in, err))) return rc;
                ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = c->logits, .masks = masks,
                                      .patch = c->patch, .diff = steps == 0 ? c->patch : NULL,
                                      .prefix = c->use_prefix ? c->kv : NULL};
                if ((rc = ac_run_forward(c->run, &in, &fo, err))) return rc;
                if ((rc = ac__algo_loss(c, b, o, c->logits, &loss, c->dlogits, err))) return rc;
                if (nr < full->batch_size)
                    for (size_t i = 0; i < nr * V; i++) c->dlogits[i] *= scale;
                ac_backward_opts bo = {.dlogits = c->dlogits, .mask_grad = scores};
                if ((rc = ac_run_backward(c->run, &bo, err))) return rc;
                if (r0 + nr == full->batch_size)
                    ac__algo_progress(c, ++done, total, ig ? "integrated gradients" : "mask gradients");
            }
        }
    }
    return AC_OK;
}

int ac_algo_mask_gradient(ac_algo_ctx *c, const ac_discover_opts *o, int ig, float *scores,
                          ac_error *err) {
    int32_t *offs = ac_malloc(2 * ((size_t)c->max_B + 1) * sizeof(int32_t));
    if (!offs) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    ac__algo_prefix_begin(c, o->ablation);
    int rc = mask_gradient(c, o, ig, scores, offs, err);
    ac__algo_prefix_end(c);
    ac_free(offs);
    return rc;
}

static int eap_ig_inputs(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    const ac_graph *g = c->g;
    const int steps = o->steps > 0 ? o->steps : 5;
    const size_t d = (size_t)ac_model_config(c->m)->d_model;
    if (o->ablation != AC_ABLATION_RESAMPLE)
        return ac_error_set(err, AC_ERR_ARG, NULL, "EAP-IG with interpolated inputs uses resample ablation only");
    memset(scores, 0, g->n_edges * sizeof(float));
    float *acc = ac_calloc(g->n_edges, sizeof(float));
    float *emb = ac_calloc((size_t)c->max_B * (size_t)c->max_T * d, sizeof(float));
    if (!acc || !emb) {
        ac_free(acc);
        ac_free(emb);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    int rc = AC_OK;
    const size_t total = c->split->n_batches * (size_t)steps;
    size_t done = 0;
    for (size_t bi = 0; bi < c->split->n_batches && !rc; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        if (memcmp(b->clean_mask, b->corrupt_mask, b->batch_size * b->seq_len) != 0) {
            rc = ac_error_set(err, AC_ERR_ARG, NULL,
                              "EAP-IG with interpolated inputs needs clean and corrupt prompts of equal "
                              "length (batch %zu pads them differently)", bi);
            break;
        }
        /* corrupt sources (patch values) and clean sources (the difference base) */
        if ((rc = ac__algo_forward(c, b, 0, NULL, NULL, c->patch, NULL, err))) break;
        if ((rc = ac__algo_forward(c, b, 1, NULL, NULL, c->other, NULL, err))) break;
        memset(acc, 0, g->n_edges * sizeof(float));
        const size_t BT = b->batch_size * ac__algo_T(c, b); /* rows of the source stacks */
        for (int k = 0; k < steps && !rc; k++) {
            const float alpha = (float)k / (float)steps;
            /* Resid Start is source 0: corrupt + alpha (clean − corrupt) */
            for (size_t i = 0; i < BT * d; i++) emb[i] = c->patch[i] + alpha * (c->other[i] - c->patch[i]);
            ac_tokens in;
            if ((rc = ac__algo_tokens(c, b, 1, &in, err))) break;
            ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = c->logits, .patch = c->patch,
                                  .embed = emb, .diff_base = c->other,
                                  .prefix = c->use_prefix ? c->kv : NULL};
            double loss;
            if ((rc = ac_run_forward(c->run, &in, &fo, err))) break;
            if ((rc = ac__algo_loss(c, b, o, c->logits, &loss, c->dlogits, err))) break;
            ac_backward_opts bo = {.dlogits = c->dlogits, .mask_grad = acc};
            if ((rc = ac_run_backward(c->run, &bo, err))) break;
            ac__algo_progress(c, ++done, total, "EAP-IG (inputs)");
        }
        for (size_t e = 0; e < g->n_edges; e++) scores[e] += acc[e] / (float)steps;
    }
    ac_free(acc);
    ac_free(emb);
    return rc;
}

int ac_algo_eap_ig_inputs(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    int rc = eap_ig_inputs(c, o, scores, err);
    ac__algo_prefix_end(c);
    return rc;
}
