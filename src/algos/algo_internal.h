/* Internal state shared by the algorithm files. */
#ifndef AC_ALGO_INTERNAL_H
#define AC_ALGO_INTERNAL_H

#include "autocircuit/algos.h"

struct ac_algo_ctx {
    const ac_model *m;
    const ac_graph *g;
    const ac_split *split;
    ac_run *run;
    int max_B, max_T;
    size_t stack_floats;   /* n_src * max_B * max_T * d */
    float *patch;          /* source stack: patch values */
    float *other;          /* source stack: the other side's sources */
    float *logits;         /* [max_B, V] */
    float *logits_ref;     /* [max_B, V] reference (unpatched) logits */
    float *dlogits;        /* [max_B, V] */
    float *masks;          /* [n_edges] */
    float *scratch;        /* [max_T * d] */
    float *means;          /* [n_src][T][d] dataset means, or NULL until needed */
    ac_ablation means_kind;
    size_t means_T;
    ac_progress_fn progress;
    void *progress_user;
    /* shared-prefix KV cache (docs/engine.md, "Shared-prefix cache") */
    ac_kv_cache *kv;       /* keys/values of the prefix every prompt of the split shares */
    size_t prefix;         /* its length P (0: none) */
    int prefix_enabled;    /* ac_algo_ctx_set_prefix_cache (default 1) */
    int use_prefix;        /* set while an algorithm for which the cache is exact runs:
                              forwards then run tails and source stacks cover tails only */
    int32_t *tail_ids;     /* [max_B * max_T] the tails of the current forward */
    uint8_t *tail_mask;    /* [max_B * max_T] */
    /* exact patching: token rows of one stacked re-run (0: the default, 2048; < 0: one
       edge per re-run, the unstacked reference path) */
    long stack_rows;
    /* mask gradients / EAP / IG: bytes one sub-batch's source stack may take (0: the
       default, 64 MiB, and batches split into up to 4 parts of at least 128 tokens for
       the threads; (size_t)-1: never split; other: that budget, parts of any size) */
    size_t stack_budget;
    /* a worker (ac__algo_worker_create): kv and means are the parent's */
    int borrowed;
};

/* A worker context for one thread of data-parallel sub-batches: its own run (for `rows`
 * prompts of up to the parent's max_T tokens), patch stack, logits, d loss / d logits,
 * masks and prefix-tail buffers (and a second source stack, `other`, when with_other is
 * non-zero); the model, graph, split, prefix cache and dataset means
 * are the parent's (read-only while workers run; call ac__algo_prepare_ablation first).
 * Free with ac__algo_worker_free. Errors: AC_ERR_NOMEM. */
int ac__algo_worker_create(ac_algo_ctx **out, const ac_algo_ctx *c, int rows, int with_other, ac_error *err);
void ac__algo_worker_free(ac_algo_ctx *w);
/* Compute what ac_patch_values needs once for the whole split (dataset means), so that
 * workers only read it. */
int ac__algo_prepare_ablation(ac_algo_ctx *c, ac_ablation kind, ac_error *err);

/* Turn the prefix cache on for the algorithm about to run when it is exact for this
 * ablation (resample: patch − current is zero on the shared prefix), and off again. */
void ac__algo_prefix_begin(ac_algo_ctx *c, ac_ablation ablation);
void ac__algo_prefix_end(ac_algo_ctx *c);

/* Positions a forward of batch b runs: b->seq_len, less the prefix while it is in use;
 * and the first position it runs (P or 0). */
size_t ac__algo_T(const ac_algo_ctx *c, const ac_batch *b);
int ac__algo_pos0(const ac_algo_ctx *c);

/* The tokens a forward of one side of batch b runs (the tails while the prefix is in
 * use; then *in borrows the context's tail buffers). Errors: AC_ERR_ARG when a row does
 * not start with the cached prefix. */
int ac__algo_tokens(ac_algo_ctx *c, const ac_batch *b, int clean, ac_tokens *in, ac_error *err);

/* Whether a partial re-run after a change of destination dn's masks starts at its
 * block's MLP (MLP inputs, the residual graph's Resid Mid) or at the block's start
 * (dn->layer is the block either way). */
static inline int ac__algo_dest_at_mlp(const ac_dest_node *dn) {
    return dn->kind == AC_DEST_MLP || dn->kind == AC_DEST_RESID_MID;
}

/* A partial re-run (ac_forward_opts.partial) of the clean side of b from `start_block`
 * with last-position logits (last_only, as the ac__algo_forward it continues). */
int ac__algo_rerun(ac_algo_ctx *c, const ac_batch *b, const float *masks, const float *patch,
                   int start_block, int start_mlp, float *logits, ac_error *err);

/* The forward of one side of a batch: clean (from_clean) or corrupt input. Without
 * `record` it is a last_only forward (ac_forward_opts): the algorithms read only the
 * last position's logits. */
int ac__algo_forward(ac_algo_ctx *c, const ac_batch *b, int clean, const float *masks,
                     const float *patch, float *record, float *logits, ac_error *err);

/* ac_patch_values; with last_only, resample patch values come from a last_only forward
 * (the final block's sources are 0 off the last position): for patching forwards that
 * read the last position only, as every algorithm's do. */
int ac__patch_values(ac_algo_ctx *c, const ac_batch *b, ac_ablation kind, int from_clean, int last_only,
                     float *out, ac_error *err);

/* Loss and d loss / d logits of the last forward's last-position logits. */
int ac__algo_loss(ac_algo_ctx *c, const ac_batch *b, const ac_discover_opts *o,
                  const float *logits, double *loss, float *dlogits, ac_error *err);

/* Exact patching's stacked re-runs (src/model/stacked.h). The workspace for the current
 * context and use_prefix state: *st, *klogits ([k][max_B][V]) and *srcs ([k]) owned by the
 * caller (ac__edge_stack_free, ac_free); all NULL when stacking is off (stack_rows < 0)
 * or not applicable (residual graph). */
typedef struct ac_edge_stack ac_edge_stack;
int ac__algo_exact_stack_create(ac_algo_ctx *c, ac_edge_stack **st, float **klogits, int **srcs,
                                ac_error *err);
/* Score k edges (pos, dest, srcs[i]) of batch b on top of the unpatched forward just run
 * (loss `base`): scores[edge] += loss − base (scores may be NULL: losses only). pos: the
 * graph position, -1 without positions. */
int ac__algo_exact_chunk(ac_algo_ctx *c, ac_edge_stack *st, float *logits, const ac_batch *b,
                         const ac_discover_opts *o, int dest, int pos, const int *srcs, int k,
                         double base, float *scores, ac_error *err);

/* Rows per sub-batch of batch b for mask gradients (b's size when it stays whole): under
 * the stack budget, and, with the default budget, split into up to 4 parts of at least
 * 128 tokens each, so that threads can run them at once. Batch-mean ablations keep
 * batches whole (their patch values are means over the batch). The split depends on the
 * batch and the budget only, never on the thread count. */
size_t ac__algo_sub_rows(const ac_algo_ctx *c, const ac_batch *b, ac_ablation ablation);
/* A view of rows r0 .. r0+n-1 of batch b: ids and masks borrowed from b, answer offsets
 * rebased into ans_off / wrong_off ([n+1] each, caller's). */
void ac__algo_batch_rows(const ac_batch *b, size_t r0, size_t n, ac_batch *v, int32_t *ans_off,
                         int32_t *wrong_off);

void ac__algo_progress(ac_algo_ctx *c, size_t done, size_t total, const char *what);

#endif
