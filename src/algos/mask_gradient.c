/* Gradient-based edge scores: mask gradients (EAP), integrated gradients over masks,
 * and EAP-IG with interpolated input embeddings. */
#include <string.h>

#include "algos/algo_internal.h"

static int mask_gradient(ac_algo_ctx *c, const ac_discover_opts *o, int ig, float *scores,
                         ac_error *err) {
    const ac_graph *g = c->g;
    const int steps = ig ? (o->steps > 0 ? o->steps : 5) : 0;
    memset(scores, 0, g->n_edges * sizeof(float));
    const size_t total = c->split->n_batches * (size_t)(steps + 1);
    size_t done = 0;
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *b = &c->split->batches[bi];
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
            ac_backward_opts bo = {.dlogits = c->dlogits, .mask_grad = scores};
            if ((rc = ac_run_backward(c->run, &bo, err))) return rc;
            ac__algo_progress(c, ++done, total, ig ? "integrated gradients" : "mask gradients");
        }
    }
    return AC_OK;
}

int ac_algo_mask_gradient(ac_algo_ctx *c, const ac_discover_opts *o, int ig, float *scores,
                          ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    int rc = mask_gradient(c, o, ig, scores, err);
    ac__algo_prefix_end(c);
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
