/* autocircuit — running a model: forward pass with source recording and edge patching,
 * and the backward pass to destination inputs and edge masks.
 *
 * A run (ac_run) owns one contiguous activation arena sized for at most max_B prompts
 * of at most max_T tokens. Batches are left-padded: mask[b*T + t] is 1 for real tokens
 * and 0 for padding; position ids count real tokens only, so a padded prompt gives the
 * same logits as the same prompt alone.
 *
 * Patching (auto-circuit's arithmetic): with edge masks m (one per graph edge, per
 * position if the graph has positions) and patch values P_s per source s, each
 * destination's input is   resid + Σ_s m[dest, s] · (P_s − C_s)   where C_s is the
 * source's output in this same forward pass. Only destinations with a non-zero mask pay
 * for a private input; the residual stream itself is never copied per head.
 *
 * Source-stacked tensors ([n_src][B*T][d_model], "source stacks") hold one [B, T, d]
 * block per source in graph src order.
 *
 * Shared-prefix KV cache ("tail divergence", see docs/engine.md): when the first P
 * tokens of every prompt are the same, their keys and values are computed once
 * (ac_kv_cache) and a forward given the cache runs only the tails: the batch then holds
 * positions P .. P+T-1 of each prompt, and every per-position quantity (logits, source
 * stacks, patch values, embeddings, destination gradients) covers the tail only.
 */
#ifndef AUTOCIRCUIT_ENGINE_H
#define AUTOCIRCUIT_ENGINE_H

#include "autocircuit/graph.h"
#include "autocircuit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A batch of token ids [B*T] (t fastest) with an optional padding mask (NULL: no pads). */
typedef struct ac_tokens {
    int B, T;
    const int32_t *ids;
    const uint8_t *mask;
} ac_tokens;

typedef enum {
    AC_LOGITS_LAST = 0, /* logits [B, V] at position T-1 */
    AC_LOGITS_ALL = 1,  /* logits [B, T, V] */
    AC_LOGITS_NONE = 2  /* no unembedding */
} ac_logits_mode;

/* Keys and values of a token prefix shared by every row of a batch, for every layer. */
typedef struct ac_kv_cache ac_kv_cache;

/* Run the prefix ids[0..P) (1 <= P < the model's context; no padding) through model m
 * (borrowed; must outlive the cache) and keep each layer's keys and values (after RoPE).
 * *out owned by the caller (ac_kv_cache_free).
 * Errors: AC_ERR_ARG (P out of range), AC_ERR_RANGE (a token id outside the vocabulary),
 * AC_ERR_NOMEM. */
int ac_kv_cache_create(ac_kv_cache **out, const ac_model *m, const int32_t *ids, int P,
                       ac_error *err);
void ac_kv_cache_free(ac_kv_cache *kv);
/* The prefix length P, its tokens [P] (borrowed), and the bytes the cache holds. */
int ac_kv_cache_len(const ac_kv_cache *kv);
const int32_t *ac_kv_cache_ids(const ac_kv_cache *kv);
size_t ac_kv_cache_bytes(const ac_kv_cache *kv);

typedef struct ac_forward_opts {
    ac_logits_mode logits_mode;
    float *logits;       /* out, shape by logits_mode (ignored for NONE) */
    const float *masks;  /* [graph n_edges] edge masks, or NULL: no patching */
    const float *patch;  /* source stack of patch values; required with masks or when a
                            backward with mask gradients follows; borrowed until the
                            backward is done */
    float *record;       /* out: source stack of this run's source outputs, or NULL */
    /* Partial re-run (ACDC, exact patching): when `partial` is 1, start at block
     * `start_block` (its MLP when `start_mlp`; start_block == n_layer: only Resid End)
     * from the activations cached by the previous forward of this run, which must have
     * had the same tokens and patch values, and masks that differ only on destinations
     * at or after the start. `in` must be the same batch. Sources produced before the
     * start keep their recorded values (and are not written to `record`). A destination's
     * changes are covered by starting at its `layer`, at the MLP for MLP and (residual
     * graph) Resid Mid destinations. */
    int partial;
    int start_block;
    int start_mlp;
    /* Optional input embeddings [B*T, d_model] used as Resid Start instead of the token
     * (+ position) embedding (interpolated inputs for EAP-IG). */
    const float *embed;
    /* Optional source stack: edge-mask gradients use patch − diff_base instead of
     * patch − current (EAP-IG: corrupt − clean while the inputs are interpolated). Only
     * meaningful when masks are NULL or zero. */
    const float *diff_base;
    /* Optional shared-prefix cache (borrowed until the backward is done; same model): the
     * batch `in` is then the TAILS, T positions following the cached P (position ids
     * continue from P; tail padding is allowed and does not advance positions). P + T
     * must fit the run's max_T. With a per-position graph (seq_len = P + T) masks are read
     * at positions P..P+T-1 only: edges at prefix positions are never patched and get no
     * gradient. That is exact only where every source's patch − current is zero in the
     * prefix (resample ablation between prompts sharing the prefix); with other patch
     * values do not use the cache. A partial re-run must use the same cache. */
    const ac_kv_cache *prefix;
    /* Per-row masks: when 1, `masks` holds one mask vector per batch row, [B][n_edges]
     * (auto-circuit's per-example masks: hard-concrete samples, set_mask_batch_size),
     * and a backward of this forward accumulates mask gradients per row into
     * mask_grad[B][n_edges]. 0 (default): one mask vector shared by every row. */
    int masks_per_row;
    /* Optional source stack that receives patch − current (what edge masks and mask
     * gradients use) instead of the run's own stack. It may be the caller's writable
     * patch buffer itself: the patch values are then overwritten source by source, which
     * saves one source stack of memory when they serve this one forward (and its
     * backward) only (EAP). Borrowed until the backward is done. Not with `partial`. */
    float *diff;
    /* Last position only (a forward whose logits mode is LAST or NONE): the caller reads
     * nothing of the final block but its outputs at position T-1 (the logits there, and
     * recorded sources patched only into such forwards). The final block's output
     * projection and MLP then run on the B last-position rows alone (about 1/L less work
     * for T >> 1); its attention still runs at every position (the keys and values are
     * needed). Logits, and the backward's gradients at every position, are the same as
     * without it. At the other positions the final block's sources are not its true
     * outputs: its heads and MLP are recorded as 0 (and the run's diff stack holds
     * patch − 0 there: finite, and multiplied by zero gradients), and a residual graph's
     * Resid Mid L-1 lacks the heads' outputs. Not with
     * AC_LOGITS_ALL; a partial re-run must use the same setting as the forward it
     * continues. Do not use it to record patch values that are averaged over positions. */
    int last_only;
} ac_forward_opts;

/* Called once per destination during the backward with its input gradient
 * grad[B*T*d_model] (borrowed, valid during the call; tail positions with a prefix
 * cache). */
typedef void (*ac_dest_grad_fn)(void *ctx, int dest, const float *grad);

typedef struct ac_backward_opts {
    const float *dlogits;   /* d loss / d logits, same shape as the forward's logits */
    float *mask_grad;       /* [graph n_edges] ([B][n_edges] after a forward with
                               masks_per_row): d loss / d mask ACCUMULATED (+=), or NULL */
    ac_dest_grad_fn dest_grad; /* optional per-destination input gradients */
    void *dest_grad_ctx;
} ac_backward_opts;

typedef struct ac_run ac_run;

/* Create a run for model m (borrowed; must outlive the run), optional graph g (borrowed;
 * NULL disables patching and source stacks), at most max_B × max_T tokens. Allocates
 * the activation arena once. *out owned by the caller (ac_run_free).
 * Errors: AC_ERR_ARG (sizes), AC_ERR_NOMEM. */
int ac_run_create(ac_run **out, const ac_model *m, const ac_graph *g, int max_B, int max_T,
                  ac_error *err);
void ac_run_free(ac_run *r);

/* Bytes held by the run's activation arena. */
size_t ac_run_arena_bytes(const ac_run *r);

/* Forward pass. Errors: AC_ERR_ARG (batch larger than the run, T (+ the cached prefix)
 * beyond the run, masks without graph or patch, per-position graph whose seq_len is not
 * T (+ the cached prefix), a cache built for another model),
 * AC_ERR_RANGE (a token id outside the vocabulary). */
int ac_run_forward(ac_run *r, const ac_tokens *in, const ac_forward_opts *o, ac_error *err);

/* Backward pass of the last forward (same masks and patch values): gradients of a
 * scalar loss given d loss / d logits. Mask gradients need the forward's patch values.
 * After a forward with a prefix cache, gradients reach tail positions only (the cached
 * keys and values are constants).
 * Errors: AC_ERR_ARG (no forward, logits mode NONE, mask_grad without patch). */
int ac_run_backward(ac_run *r, const ac_backward_opts *o, ac_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_ENGINE_H */
