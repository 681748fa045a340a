/* Algorithm context: the run, source stacks, patch values and ablations. */
#include <math.h>
#include <string.h>

#include "algos/algo_internal.h"

static const char *const ablation_names[] = {NULL, "resample", "zero", "mean-clean", "mean-corrupt",
                                             "mean", "batch-mean", "batch-all-mean"};

int ac_ablation_from_name(const char *name, ac_ablation *out, ac_error *err) {
    for (int i = 1; i <= 7; i++)
        if (!strcmp(name, ablation_names[i])) {
            *out = (ac_ablation)i;
            return AC_OK;
        }
    return ac_error_set(err, AC_ERR_ARG, NULL,
                        "unknown ablation '%s' (resample, zero, mean-clean, mean-corrupt, mean, "
                        "batch-mean, batch-all-mean)",
                        name);
}

const char *ac_ablation_name(ac_ablation a) {
    return a >= 1 && a <= 7 ? ablation_names[a] : "unknown";
}

void ac_discover_opts_default(ac_discover_opts *o) {
    memset(o, 0, sizeof *o);
    o->ablation = AC_ABLATION_RESAMPLE;
    o->grad_function = AC_VAL_LOGIT;
    o->answer_function = AC_ANSWER_AVG_DIFF;
    o->steps = 5;
    o->seed = 42;
    o->probe_epochs = 20;
    o->probe_lr = 0.1;
    o->probe_lambda = 10.0;
    o->probe_init = NAN;
    o->probe_target = AC_PROBE_KL_DIV;
    o->probe_mask_fn = AC_MASK_FN_HARD_CONCRETE;
    o->probe_avoid_lambda = 1.0;
}

void ac_algo_ctx_free(ac_algo_ctx *c) {
    if (!c) return;
    ac_run_free(c->run);
    if (!c->borrowed) ac_kv_cache_free(c->kv);
    ac_free(c->tail_ids);
    ac_free(c->tail_mask);
    ac_free_aligned(c->patch);
    ac_free_aligned(c->other);
    ac_free(c->logits);
    ac_free(c->logits_ref);
    ac_free(c->dlogits);
    ac_free(c->masks);
    if (!c->borrowed) ac_free(c->means);
    ac_free(c->scratch);
    ac_free(c);
}

/* The prefix a KV cache may hold for this split: the tokens every clean and corrupt
 * prompt starts with, when every batch pads clean and corrupt alike (so the prefix lies
 * at the same positions on both sides), leaving at least one position to run. */
static size_t split_prefix(const ac_split *sp) {
    size_t P = sp->common_prefix;
    for (size_t i = 0; i < sp->n_batches && P > 0; i++) {
        const ac_batch *b = &sp->batches[i];
        const size_t T = b->seq_len;
        if (memcmp(b->clean_mask, b->corrupt_mask, b->batch_size * T) != 0) return 0;
        for (size_t r = 0; r < b->batch_size; r++) {
            size_t len = 0;
            for (size_t t = 0; t < T; t++) len += b->clean_mask[r * T + t] != 0;
            if (len == 0) return 0;
            if (len - 1 < P) P = len - 1;
        }
    }
    return P;
}

/* The cache of the split's prefix, from the first prompt's first real tokens. */
static int create_prefix_cache(ac_algo_ctx *c, ac_error *err) {
    const ac_batch *b = &c->split->batches[0];
    size_t first = 0;
    while (!b->clean_mask[first]) first++;
    const size_t n = (size_t)c->max_B * (size_t)c->max_T;
    c->tail_ids = ac_calloc(n, sizeof *c->tail_ids);
    c->tail_mask = ac_calloc(n, 1);
    if (!c->tail_ids || !c->tail_mask) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    return ac_kv_cache_create(&c->kv, c->m, b->clean + first, (int)c->prefix, err);
}

/* The buffers of a context for c->max_B prompts of c->max_T tokens: the run, the patch
 * stack (and the `other` stack, the reference logits when asked), logits, d loss /
 * d logits, masks and scratch. Errors: AC_ERR_NOMEM (c is then freed by the caller). */
static int alloc_buffers(ac_algo_ctx *c, int with_other, int with_ref, ac_error *err) {
    int rc = ac_run_create(&c->run, c->m, c->g, c->max_B, c->max_T, err);
    if (rc) return rc;
    const ac_config *cfg = ac_model_config(c->m);
    const size_t V = (size_t)cfg->vocab_size, B = (size_t)c->max_B;
    c->stack_floats = (size_t)c->g->n_src * B * (size_t)c->max_T * (size_t)cfg->d_model;
    c->patch = ac_alloc_aligned(c->stack_floats, sizeof(float));
    if (with_other) c->other = ac_alloc_aligned(c->stack_floats, sizeof(float));
    c->logits = ac_calloc(B * V, sizeof(float));
    if (with_ref) c->logits_ref = ac_calloc(B * V, sizeof(float));
    c->dlogits = ac_calloc(B * V, sizeof(float));
    c->masks = ac_calloc(c->g->n_edges, sizeof(float));
    c->scratch = ac_calloc((size_t)c->max_T * (size_t)cfg->d_model, sizeof(float));
    if (!c->scratch || !c->patch || (with_other && !c->other) || !c->logits || (with_ref && !c->logits_ref) ||
        !c->dlogits || !c->masks)
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for the source stacks (%zu MB each)",
                            c->stack_floats * sizeof(float) >> 20);
    return AC_OK;
}

int ac_algo_ctx_create(ac_algo_ctx **out, const ac_model *m, const ac_graph *g,
                       const ac_split *split, ac_error *err) {
    *out = NULL;
    if (!split || split->n_batches == 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "the dataset split has no prompts");
    ac_algo_ctx *c = ac_calloc(1, sizeof *c);
    if (!c) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    c->m = m;
    c->g = g;
    c->split = split;
    for (size_t i = 0; i < split->n_batches; i++) {
        if ((int)split->batches[i].batch_size > c->max_B) c->max_B = (int)split->batches[i].batch_size;
        if ((int)split->batches[i].seq_len > c->max_T) c->max_T = (int)split->batches[i].seq_len;
    }
    int rc = alloc_buffers(c, 1, 1, err);
    if (rc) {
        ac_algo_ctx_free(c);
        return rc;
    }
    c->prefix_enabled = 1;
    c->prefix = split_prefix(split);
    if (c->prefix > 0 && (rc = create_prefix_cache(c, err))) {
        ac_algo_ctx_free(c);
        return rc;
    }
    *out = c;
    return AC_OK;
}

void ac_algo_ctx_set_prefix_cache(ac_algo_ctx *c, int enabled) { c->prefix_enabled = enabled != 0; }

size_t ac_algo_ctx_prefix_len(const ac_algo_ctx *c) { return c->prefix; }

void ac__algo_prefix_begin(ac_algo_ctx *c, ac_ablation ablation) {
    c->use_prefix = c->kv && c->prefix_enabled && ablation == AC_ABLATION_RESAMPLE;
}

void ac__algo_prefix_end(ac_algo_ctx *c) { c->use_prefix = 0; }

size_t ac__algo_T(const ac_algo_ctx *c, const ac_batch *b) {
    return c->use_prefix ? b->seq_len - c->prefix : b->seq_len;
}

int ac__algo_pos0(const ac_algo_ctx *c) { return c->use_prefix ? (int)c->prefix : 0; }

int ac__algo_tokens(ac_algo_ctx *c, const ac_batch *b, int clean, ac_tokens *in, ac_error *err) {
    const int32_t *ids = clean ? b->clean : b->corrupt;
    const uint8_t *mask = clean ? b->clean_mask : b->corrupt_mask;
    *in = (ac_tokens){.B = (int)b->batch_size, .T = (int)b->seq_len, .ids = ids, .mask = mask};
    if (!c->use_prefix) return AC_OK;
    /* row r's tail: positions P.. of its unpadded prompt, left-padded to T - P (tail
     * position t is full position t + P; the prefix lies in the pads it leaves) */
    const size_t B = b->batch_size, T = b->seq_len, P = c->prefix, Tt = T - P;
    const int32_t *pre = ac_kv_cache_ids(c->kv);
    for (size_t r = 0; r < B; r++) {
        const int32_t *row = ids + r * T;
        const uint8_t *mrow = mask + r * T;
        size_t first = 0;
        while (first < T && !mrow[first]) first++;
        if (T - first <= P || memcmp(row + first, pre, P * sizeof *pre) != 0)
            return ac_error_set(err, AC_ERR_ARG, NULL,
                                "prefix cache: prompt %zu of a batch does not start with the cached "
                                "%zu-token prefix", r, P);
        for (size_t t = 0; t < Tt; t++) {
            c->tail_ids[r * Tt + t] = row[t + P];
            c->tail_mask[r * Tt + t] = (uint8_t)(t >= first && mrow[t + P]);
        }
    }
    in->T = (int)Tt;
    in->ids = c->tail_ids;
    in->mask = c->tail_mask;
    return AC_OK;
}

int ac__algo_rerun(ac_algo_ctx *c, const ac_batch *b, const float *masks, const float *patch,
                   int start_block, int start_mlp, float *logits, ac_error *err) {
    ac_tokens in;
    int rc = ac__algo_tokens(c, b, 1, &in, err);
    if (rc) return rc;
    ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .masks = masks, .patch = patch,
                          .partial = 1, .start_block = start_block, .start_mlp = start_mlp,
                          .prefix = c->use_prefix ? c->kv : NULL, .last_only = 1};
    return ac_run_forward(c->run, &in, &fo, err);
}

void ac_algo_ctx_set_progress(ac_algo_ctx *c, ac_progress_fn fn, void *user) {
    c->progress = fn;
    c->progress_user = user;
}

void ac__algo_progress(ac_algo_ctx *c, size_t done, size_t total, const char *what) {
    if (c->progress) c->progress(c->progress_user, done, total, what);
}

/* ac__algo_forward with the run's last_only setting given */
static int algo_forward(ac_algo_ctx *c, const ac_batch *b, int clean, const float *masks, const float *patch,
                        float *record, float *logits, int last_only, ac_error *err) {
    ac_tokens in;
    int rc = ac__algo_tokens(c, b, clean, &in, err);
    if (rc) return rc;
    ac_forward_opts o = {.logits_mode = logits ? AC_LOGITS_LAST : AC_LOGITS_NONE, .logits = logits,
                         .masks = masks, .patch = patch, .record = record,
                         .prefix = c->use_prefix ? c->kv : NULL, .last_only = last_only};
    return ac_run_forward(c->run, &in, &o, err);
}

int ac__algo_forward(ac_algo_ctx *c, const ac_batch *b, int clean, const float *masks,
                     const float *patch, float *record, float *logits, ac_error *err) {
    /* a forward that records nothing is read at the last position only */
    return algo_forward(c, b, clean, masks, patch, record, logits, record == NULL, err);
}

int ac__algo_loss(ac_algo_ctx *c, const ac_batch *b, const ac_discover_opts *o,
                  const float *logits, double *loss, float *dlogits, ac_error *err) {
    ac_answer_sets sets;
    ac_batch_answer_sets(b, &sets);
    ac_answer_loss_spec spec = {.grad_function = o->grad_function, .answer_function = o->answer_function};
    return ac_answer_loss(logits, b->batch_size, (size_t)ac_model_config(c->m)->vocab_size, &sets, &spec,
                          loss, dlogits, err);
}

static int dataset_means(ac_algo_ctx *c, ac_ablation kind, ac_error *err);

/* ---- workers: one context per thread for data-parallel sub-batches ---- */

int ac__algo_worker_create(ac_algo_ctx **out, const ac_algo_ctx *c, int rows, int with_other, ac_error *err) {
    *out = NULL;
    ac_algo_ctx *w = ac_calloc(1, sizeof *w);
    if (!w) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    /* shared, read-only while the workers run: model, graph, split, prefix cache, means */
    w->m = c->m;
    w->g = c->g;
    w->split = c->split;
    w->kv = c->kv;
    w->prefix = c->prefix;
    w->prefix_enabled = c->prefix_enabled;
    w->use_prefix = c->use_prefix;
    w->means = c->means;
    w->means_kind = c->means_kind;
    w->means_T = c->means_T;
    w->stack_rows = c->stack_rows;
    w->stack_budget = c->stack_budget;
    w->borrowed = 1;
    w->max_B = rows;
    w->max_T = c->max_T;
    int rc = alloc_buffers(w, with_other, 0, err);
    if (rc) {
        ac__algo_worker_free(w);
        return rc;
    }
    if (c->kv) {
        const size_t n = (size_t)rows * (size_t)c->max_T;
        w->tail_ids = ac_calloc(n, sizeof *w->tail_ids);
        w->tail_mask = ac_calloc(n, 1);
        if (!w->tail_ids || !w->tail_mask) {
            ac__algo_worker_free(w);
            return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
        }
    }
    *out = w;
    return AC_OK;
}

void ac__algo_worker_free(ac_algo_ctx *w) {
    if (!w) return;
    w->kv = NULL; /* borrowed */
    w->means = NULL;
    ac_algo_ctx_free(w);
}

int ac__algo_prepare_ablation(ac_algo_ctx *c, ac_ablation kind, ac_error *err) {
    if (kind == AC_ABLATION_MEAN_CLEAN || kind == AC_ABLATION_MEAN_CORRUPT || kind == AC_ABLATION_MEAN)
        return dataset_means(c, kind, err);
    return AC_OK;
}

/* Token-wise dataset means over the split: means[s][t][:] = mean over prompts (and over
 * both sides for AC_ABLATION_MEAN) of source s's output at position t. */
static int dataset_means(ac_algo_ctx *c, ac_ablation kind, ac_error *err) {
    if (c->means && c->means_kind == kind) return AC_OK;
    const ac_split *sp = c->split;
    const size_t T = sp->batches[0].seq_len, d = (size_t)ac_model_config(c->m)->d_model;
    for (size_t i = 0; i < sp->n_batches; i++)
        if (sp->batches[i].seq_len != T)
            return ac_error_set(err, AC_ERR_ARG, NULL,
                                "token-wise mean ablation needs prompts of one length, but the batches "
                                "have %zu and %zu tokens (use the dataset's fixed-length mode)",
                                T, sp->batches[i].seq_len);
    const size_t nsrc = (size_t)c->g->n_src;
    ac_free(c->means);
    c->means = ac_calloc(nsrc * T * d, sizeof(float));
    double *acc = ac_calloc(nsrc * T * d, sizeof(double));
    if (!c->means || !acc) {
        ac_free(acc);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for dataset means");
    }
    size_t count = 0;
    for (int side = 0; side < 2; side++) {
        int clean = side == 0;
        if (kind == AC_ABLATION_MEAN_CLEAN && !clean) continue;
        if (kind == AC_ABLATION_MEAN_CORRUPT && clean) continue;
        for (size_t i = 0; i < sp->n_batches; i++) {
            const ac_batch *b = &sp->batches[i];
            int rc = ac__algo_forward(c, b, clean, NULL, NULL, c->other, NULL, err);
            if (rc) {
                ac_free(acc);
                return rc;
            }
            const size_t BTd = b->batch_size * T * d;
            for (size_t s = 0; s < nsrc; s++)
                for (size_t bb = 0; bb < b->batch_size; bb++)
                    for (size_t k = 0; k < T * d; k++) acc[(s * T * d) + k] += c->other[s * BTd + bb * T * d + k];
            count += b->batch_size;
        }
    }
    for (size_t k = 0; k < nsrc * T * d; k++) c->means[k] = (float)(acc[k] / (double)count);
    ac_free(acc);
    c->means_kind = kind;
    c->means_T = T;
    return AC_OK;
}

int ac_patch_values(ac_algo_ctx *c, const ac_batch *b, ac_ablation kind, int from_clean,
                    float *out, ac_error *err) {
    return ac__patch_values(c, b, kind, from_clean, 0, out, err);
}

int ac__patch_values(ac_algo_ctx *c, const ac_batch *b, ac_ablation kind, int from_clean, int last_only,
                     float *out, ac_error *err) {
    const size_t B = b->batch_size, T = b->seq_len, d = (size_t)ac_model_config(c->m)->d_model;
    const size_t nsrc = (size_t)c->g->n_src, BTd = B * T * d;
    int rc;
    switch (kind) {
    case AC_ABLATION_RESAMPLE:
        return algo_forward(c, b, from_clean, NULL, NULL, out, NULL, last_only, err);
    case AC_ABLATION_ZERO:
        memset(out, 0, nsrc * BTd * sizeof(float));
        return AC_OK;
    case AC_ABLATION_MEAN_CLEAN:
    case AC_ABLATION_MEAN_CORRUPT:
    case AC_ABLATION_MEAN:
        if ((rc = dataset_means(c, kind, err))) return rc;
        if (T != c->means_T)
            return ac_error_set(err, AC_ERR_ARG, NULL, "batch of %zu tokens, dataset means of %zu", T, c->means_T);
        for (size_t s = 0; s < nsrc; s++)
            for (size_t bb = 0; bb < B; bb++)
                memcpy(out + s * BTd + bb * T * d, c->means + s * T * d, T * d * sizeof(float));
        return AC_OK;
    case AC_ABLATION_BATCH_MEAN:
    case AC_ABLATION_BATCH_ALL_MEAN:
        if ((rc = ac__algo_forward(c, b, from_clean, NULL, NULL, out, NULL, err))) return rc;
        for (size_t s = 0; s < nsrc; s++) {
            float *S = out + s * BTd;
            float *mean = c->scratch; /* [T][d] or [d] */
            if (kind == AC_ABLATION_BATCH_MEAN) {
                for (size_t k = 0; k < T * d; k++) {
                    double acc = 0;
                    for (size_t bb = 0; bb < B; bb++) acc += S[bb * T * d + k];
                    mean[k] = (float)(acc / (double)B);
                }
            } else {
                for (size_t k = 0; k < d; k++) {
                    double acc = 0;
                    for (size_t i = 0; i < B * T; i++) acc += S[i * d + k];
                    mean[k] = (float)(acc / (double)(B * T));
                }
            }
            for (size_t bb = 0; bb < B; bb++)
                for (size_t t = 0; t < T; t++)
                    memcpy(S + (bb * T + t) * d, kind == AC_ABLATION_BATCH_MEAN ? mean + t * d : mean,
                           d * sizeof(float));
        }
        return AC_OK;
    }
    return ac_error_set(err, AC_ERR_ARG, NULL, "unknown ablation %d", (int)kind);
}
