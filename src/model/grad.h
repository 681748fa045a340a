/* Training gradients: a forward pass that keeps every activation the weight gradients
 * need, a cross-entropy loss on chosen positions, and a backward pass that accumulates
 * d loss / d weight for EVERY weight of the model into a gradient arena shaped like the
 * weights (a second ac_model of the same configuration). Internal (ac__ prefix).
 *
 * It shares the kernels of src/model/ops.c with the analysis engine (run.c, backward.c)
 * but not their state: no graph, no patching, no padding. Batches are B prompts of
 * exactly T tokens, positions 0 .. T-1. Every model the engine runs is supported (GPT-2
 * with or without LayerNorm/MLPs, Llama with RMSNorm, RoPE, SwiGLU, grouped-query
 * attention; tied or untied unembedding).
 *
 * Deterministic: the same inputs give bit-identical gradients for a given OpenMP thread
 * count (every reduction runs in a fixed order; OpenBLAS sgemm as configured).
 */
#ifndef AC_MODEL_GRAD_H
#define AC_MODEL_GRAD_H

#include "model/model_internal.h"

/* The loss: mean over `n` terms; term i reads the logits of flat row rows[i] = b*T + t
 * and its loss is the cross-entropy against the uniform distribution over its targets
 * targets[offsets[i] .. offsets[i+1]) (one target: the usual -log p(target); several:
 * the mean of their -log p, whose optimum spreads the probability evenly over them).
 * A row may appear in several terms. */
typedef struct ac__loss_terms {
    int n;
    const int32_t *rows;    /* [n] */
    const int32_t *offsets; /* [n + 1], offsets[0] = 0, increasing */
    const int32_t *targets; /* [offsets[n]] token ids */
} ac__loss_terms;

typedef struct ac__grad_ws ac__grad_ws;

/* Workspace for batches of at most max_B × max_T tokens and max_terms loss terms
 * (max_T <= the model's context). Errors: AC_ERR_ARG, AC_ERR_NOMEM. */
int ac__grad_ws_create(ac__grad_ws **out, const ac_model *m, int max_B, int max_T,
                       int max_terms, ac_error *err);
void ac__grad_ws_free(ac__grad_ws *ws);

/* Forward of ids[B*T] (t fastest) and the loss (*loss, computed in double). When `grad`
 * is non-NULL (a model created with the same configuration as m) the gradient of the
 * loss is ACCUMULATED (+=) into its weights; with tied embeddings the unembedding's
 * gradient lands in grad's token embedding. `logits` (optional) receives the terms'
 * logits [n_terms, vocab]. Errors: AC_ERR_ARG (sizes beyond the workspace, a row or
 * target out of range, a grad model of another shape), AC_ERR_RANGE (an input id outside
 * the vocabulary). */
int ac__grad_loss(ac__grad_ws *ws, const ac_model *m, ac_model *grad, const int32_t *ids, int B,
                  int T, const ac__loss_terms *terms, double *loss, float *logits, ac_error *err);

#endif
