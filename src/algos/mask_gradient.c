/* Gradient-based edge scores: mask gradients (EAP), integrated gradients over masks,
 * and EAP-IG with interpolated input embeddings. */
#include <omp.h>
#include <string.h>

#include "algos/algo_internal.h"

/* Source-stack budget of one sub-batch when the context does not set one
 * (docs/performance.md) ... */
#define STACK_BUDGET ((size_t)64 << 20)
/* ... sub-batches keep at least this many token rows (GEMM efficiency) ... */
#define SUB_MIN_TOKENS 128
/* ... and a batch splits into up to this many parts, for the threads to share */
#define SUB_PARTS 4

size_t ac__algo_sub_rows(const ac_algo_ctx *c, const ac_batch *b, ac_ablation ablation) {
    const size_t B = b->batch_size, T = ac__algo_T(c, b);
    if (c->stack_budget == (size_t)-1 || B <= 1 || T == 0) return B;
    if (ablation == AC_ABLATION_BATCH_MEAN || ablation == AC_ABLATION_BATCH_ALL_MEAN) return B;
    const size_t budget = c->stack_budget ? c->stack_budget : STACK_BUDGET;
    const size_t per_row = (size_t)c->g->n_src * T * (size_t)ac_model_config(c->m)->d_model * sizeof(float);
    size_t rows_budget = per_row ? budget / per_row : B;
    if (rows_budget < 1) rows_budget = 1;
    size_t rows = rows_budget;
    if (!c->stack_budget) {
        const size_t min_rows = (SUB_MIN_TOKENS + T - 1) / T, par_rows = (B + SUB_PARTS - 1) / SUB_PARTS;
        rows = min_rows > par_rows ? min_rows : par_rows;
        if (rows > rows_budget) rows = rows_budget;
    }
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

enum { MODE_EAP, MODE_IG, MODE_IG_INPUTS };

/* One gradient step on sub-batch b: the clean forward with the options fo (its logits,
 * logits mode and prefix filled in here), the loss, d loss / d logits scaled by the
 * sub-batch's share of its batch's rows (the loss is the batch mean), and the backward,
 * mask gradients accumulated into grad. */
static int gradient_step(ac_algo_ctx *w, const ac_batch *b, const ac_discover_opts *o, ac_forward_opts *fo,
                         float scale, float *grad, ac_error *err) {
    ac_tokens in;
    int rc = ac__algo_tokens(w, b, 1, &in, err);
    if (rc) return rc;
    fo->logits_mode = AC_LOGITS_LAST;
    fo->logits = w->logits;
    fo->prefix = w->use_prefix ? w->kv : NULL;
    fo->last_only = 1; /* the loss reads the last position */
    double loss;
    if ((rc = ac_run_forward(w->run, &in, fo, err))) return rc;
    if ((rc = ac__algo_loss(w, b, o, w->logits, &loss, w->dlogits, err))) return rc;
    if (scale != 1.0f) {
        const size_t n = b->batch_size * (size_t)ac_model_config(w->m)->vocab_size;
        for (size_t i = 0; i < n; i++) w->dlogits[i] *= scale;
    }
    ac_backward_opts bo = {.dlogits = w->dlogits, .mask_grad = grad};
    return ac_run_backward(w->run, &bo, err);
}

/* EAP-IG over interpolated inputs, one sub-batch b (scale: its share of the batch's
 * rows): corrupt and clean sources, then per step the input embedding corrupt +
 * alpha (clean − corrupt), mask gradients against clean − corrupt into grad. */
static int sub_batch_ig_inputs(ac_algo_ctx *w, const ac_discover_opts *o, const ac_batch *b, float scale,
                               float *grad, ac_error *err) {
    const int steps = o->steps > 0 ? o->steps : 5;
    const size_t d = (size_t)ac_model_config(w->m)->d_model;
    int rc;
    /* corrupt sources (patch values) and clean sources (the difference base) */
    if ((rc = ac__algo_forward(w, b, 0, NULL, NULL, w->patch, NULL, err))) return rc;
    if ((rc = ac__algo_forward(w, b, 1, NULL, NULL, w->other, NULL, err))) return rc;
    const size_t BT = b->batch_size * ac__algo_T(w, b); /* rows of the source stacks */
    float *emb = ac_malloc(BT * d * sizeof(float));
    if (!emb) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (int k = 0; k < steps && !rc; k++) {
        const float alpha = (float)k / (float)steps;
        /* Resid Start is source 0: corrupt + alpha (clean − corrupt) */
        for (size_t i = 0; i < BT * d; i++) emb[i] = w->patch[i] + alpha * (w->other[i] - w->patch[i]);
        ac_forward_opts fo = {.patch = w->patch, .embed = emb, .diff_base = w->other};
        rc = gradient_step(w, b, o, &fo, scale, grad, err);
    }
    ac_free(emb);
    return rc;
}

/* One sub-batch (rows r0 .. r0+nr-1 of batch `full`) on context w: its patch values,
 * then a forward and backward per step, mask gradients accumulated into grad. */
static int sub_batch(ac_algo_ctx *w, const ac_discover_opts *o, int mode, const ac_batch *full, size_t r0,
                     size_t nr, float *grad, int32_t *offs, ac_error *err) {
    const ac_graph *g = w->g;
    const int ig = mode == MODE_IG;
    const int steps = ig ? (o->steps > 0 ? o->steps : 5) : 0;
    ac_batch view;
    const ac_batch *b = full;
    if (nr < full->batch_size) {
        ac__algo_batch_rows(full, r0, nr, &view, offs, offs + nr + 1);
        b = &view;
    }
    /* the loss is the batch mean: each sub-batch's d loss / d logits (a mean over its
     * own rows) is scaled by rows / B */
    const float scale = (float)((double)nr / (double)full->batch_size);
    if (mode == MODE_IG_INPUTS) return sub_batch_ig_inputs(w, o, b, scale, grad, err);
    int rc = ac__patch_values(w, b, o->ablation, 0, 1, w->patch, err);
    if (rc) return rc;
    for (int k = 0; k <= steps; k++) {
        const float mval = ig ? (float)k / (float)steps : o->mask_val;
        const float *masks = NULL;
        if (mval != 0.0f) {
            for (size_t e = 0; e < g->n_edges; e++) w->masks[e] = mval;
            masks = w->masks;
        }
        /* one forward per batch's patch values (plain mask gradients): the run keeps
         * patch − clean in the patch buffer itself, one source stack less memory */
        ac_forward_opts fo = {.masks = masks, .patch = w->patch, .diff = steps == 0 ? w->patch : NULL};
        if ((rc = gradient_step(w, b, o, &fo, scale, grad, err))) return rc;
    }
    return AC_OK;
}

typedef struct sub_task {
    size_t batch, r0, nr;
} sub_task;

typedef struct worker {
    ac_algo_ctx *c;
    float *grad;   /* [n_edges] the current sub-batch's mask gradients */
    int32_t *offs; /* answer offsets of its sub-batch view */
    int rc;
    ac_error err;
} worker;

/* Mask gradients of every batch, as sub-batches (ac__algo_sub_rows). With more than one
 * thread and more than one sub-batch, the threads run sub-batches at once, each on its own
 * worker context with single-threaded kernels (data parallel: no synchronisation inside a
 * forward or backward), in rounds of one sub-batch per thread. Each sub-batch's gradients
 * go to its own buffer, added to the scores in sub-batch order, so a thread count gives
 * the same scores in every run (and 1 and 2 threads agree within float rounding). With
 * one thread, or a single sub-batch, the sub-batches run in turn with threaded kernels. */
static int mask_gradient(ac_algo_ctx *c, const ac_discover_opts *o, int mode, float *scores, ac_error *err) {
    const ac_graph *g = c->g;
    const int ig = mode == MODE_IG;
    const int steps = ig ? (o->steps > 0 ? o->steps : 5) : 0;
    /* IG over inputs: every step's gradients count 1/steps, after the sum over steps */
    const float step_weight = mode == MODE_IG_INPUTS ? 1.0f / (float)(o->steps > 0 ? o->steps : 5) : 1.0f;
    memset(scores, 0, g->n_edges * sizeof(float));
    int rc = ac__algo_prepare_ablation(c, o->ablation, err);
    if (rc) return rc;
    /* the sub-batches, in order */
    size_t n_tasks = 0, max_rows = 0;
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        const size_t sub = ac__algo_sub_rows(c, b, o->ablation);
        n_tasks += (b->batch_size + sub - 1) / sub;
        if (sub > max_rows) max_rows = sub;
    }
    sub_task *tasks = ac_calloc(n_tasks, sizeof *tasks);
    if (!tasks) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    n_tasks = 0;
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        const size_t sub = ac__algo_sub_rows(c, b, o->ablation);
        for (size_t r0 = 0; r0 < b->batch_size; r0 += sub)
            tasks[n_tasks++] = (sub_task){bi, r0, b->batch_size - r0 < sub ? b->batch_size - r0 : sub};
    }
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    const int nw = n_tasks < 2 || threads < 2 ? 1 : (size_t)threads < n_tasks ? threads : (int)n_tasks;
    worker *ws = ac_calloc((size_t)nw, sizeof *ws);
    if (!ws) {
        ac_free(tasks);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    for (int w = 0; w < nw && !rc; w++) {
        if (nw > 1) {
            rc = ac__algo_worker_create(&ws[w].c, c, (int)max_rows, mode == MODE_IG_INPUTS, err);
        } else {
            ws[w].c = c; /* one at a time: the context's own run and buffers */
        }
        if (rc) break;
        ws[w].grad = ac_calloc(g->n_edges, sizeof(float));
        ws[w].offs = ac_malloc(2 * (max_rows + 1) * sizeof(int32_t));
        if (!ws[w].grad || !ws[w].offs) rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    const size_t total = c->split->n_batches * (size_t)(steps + 1);
    for (size_t t0 = 0; t0 < n_tasks && !rc; t0 += (size_t)nw) {
        const int n_round = n_tasks - t0 < (size_t)nw ? (int)(n_tasks - t0) : nw;
        for (int w = 0; w < n_round; w++) memset(ws[w].grad, 0, g->n_edges * sizeof(float));
        if (n_round == 1 || nw == 1) {
            for (int w = 0; w < n_round; w++) {
                const sub_task *t = &tasks[t0 + (size_t)w];
                ws[w].rc = sub_batch(ws[nw > 1 ? w : 0].c, o, mode, &c->split->batches[t->batch], t->r0, t->nr,
                                     ws[w].grad, ws[w].offs, &ws[w].err);
            }
        } else {
#pragma omp parallel num_threads(n_round)
            {
                /* each thread its worker, single-threaded kernels inside (a team smaller
                 * than asked for takes the rest of the round in turn) */
                omp_set_num_threads(1);
                for (int w = omp_get_thread_num(); w < n_round; w += omp_get_num_threads()) {
                    const sub_task *t = &tasks[t0 + (size_t)w];
                    ws[w].rc = sub_batch(ws[w].c, o, mode, &c->split->batches[t->batch], t->r0, t->nr, ws[w].grad,
                                         ws[w].offs, &ws[w].err);
                }
            }
        }
        for (int w = 0; w < n_round && !rc; w++) {
            if (ws[w].rc) {
                rc = ws[w].rc;
                *err = ws[w].err;
                break;
            }
            if (step_weight != 1.0f)
                for (size_t e = 0; e < g->n_edges; e++) scores[e] += ws[w].grad[e] * step_weight;
            else
                for (size_t e = 0; e < g->n_edges; e++) scores[e] += ws[w].grad[e];
            const sub_task *t = &tasks[t0 + (size_t)w];
            if (t->r0 + t->nr == c->split->batches[t->batch].batch_size)
                for (int k = 0; k <= steps; k++)
                    ac__algo_progress(c, t->batch * (size_t)(steps + 1) + (size_t)k + 1, total,
                                      mode == MODE_IG_INPUTS ? "EAP-IG (inputs)"
                                      : ig                   ? "integrated gradients"
                                                             : "mask gradients");
        }
    }
    for (int w = 0; w < nw; w++) {
        if (nw > 1) ac__algo_worker_free(ws[w].c);
        ac_free(ws[w].grad);
        ac_free(ws[w].offs);
    }
    ac_free(ws);
    ac_free(tasks);
    return rc;
}

int ac_algo_mask_gradient(ac_algo_ctx *c, const ac_discover_opts *o, int ig, float *scores,
                          ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    int rc = mask_gradient(c, o, ig ? MODE_IG : MODE_EAP, scores, err);
    ac__algo_prefix_end(c);
    return rc;
}

static int eap_ig_inputs(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    if (o->ablation != AC_ABLATION_RESAMPLE)
        return ac_error_set(err, AC_ERR_ARG, NULL, "EAP-IG with interpolated inputs uses resample ablation only");
    for (size_t bi = 0; bi < c->split->n_batches; bi++) {
        const ac_batch *b = &c->split->batches[bi];
        if (memcmp(b->clean_mask, b->corrupt_mask, b->batch_size * b->seq_len) != 0)
            return ac_error_set(err, AC_ERR_ARG, NULL,
                                "EAP-IG with interpolated inputs needs clean and corrupt prompts of equal "
                                "length (batch %zu pads them differently)", bi);
    }
    return mask_gradient(c, o, MODE_IG_INPUTS, scores, err);
}

int ac_algo_eap_ig_inputs(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err) {
    ac__algo_prefix_begin(c, o->ablation);
    int rc = eap_ig_inputs(c, o, scores, err);
    ac__algo_prefix_end(c);
    return rc;
}
