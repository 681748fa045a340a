/* Subnetwork probing internals, exposed for tests: the uniform stream, Adam, and one
 * training step's loss and gradient with explicit uniforms. */
#ifndef AC_PROBE_INTERNAL_H
#define AC_PROBE_INTERNAL_H

#include "algos/algo_internal.h"

/* auto-circuit's regularize_const = temp · ln(−left / right) ≈ −1.5986 */
#define AC_HC_REGULARIZE_CONST (AC_HC_TEMP * -2.3978952727983707) /* ln(0.1 / 1.1) */

/* The k-th uniform of a seeded stream: splitmix64 output k (the state after k + 1
 * increments of the golden gamma), top 53 bits, in [0, 1). Counter-based, so it can be
 * drawn in parallel and is the same for any thread count. */
double ac__probe_uniform(uint64_t seed, uint64_t k);

/* One Adam step (torch defaults β1 0.9, β2 0.999, eps 1e-8, no weight decay) at step
 * t >= 1: m = β1 m + (1−β1) g, v = β2 v + (1−β2) g², θ −= lr/(1−β1^t) · m /
 * (sqrt(v)/sqrt(1−β2^t) + eps). */
void ac__adam_step(size_t n, double *theta, const double *grad, double *m, double *v, long t,
                   double lr);

/* Working state of one probing run. */
typedef struct ac__probe {
    ac_algo_ctx *c;
    const ac_discover_opts *o;
    size_t E, V;
    int per_row;          /* hard concrete: one mask vector per prompt */
    float *masks;         /* [max_B][E] (per row) or [E] */
    float *dmask;         /* same shape: d mask / d theta */
    float *mgrad;         /* same shape: d faith / d mask */
    double *reg_ds;       /* [E] d (regularizer sample) / d theta */
    float *clean_logits;  /* [n_prompts][V] full model on the clean prompts, or NULL */
    size_t *row0;         /* [n_batches] first row of each batch in clean_logits */
    float *mse_target;    /* [max_B] answer ids as numbers (mse target) */
    double *diffs;        /* [2 max_B] logit-diff-percent scratch */
    size_t n_avoid;
    size_t patch_for;     /* batch whose patch values are in c->patch, or SIZE_MAX */
    uint64_t counter;     /* uniforms drawn so far */
} ac__probe;

/* Validate o, allocate, cache the clean logits when the target needs them.
 * Errors: AC_ERR_ARG, AC_ERR_NOMEM, forward errors. On error p is freed. */
int ac__probe_init(ac__probe *p, ac_algo_ctx *c, const ac_discover_opts *o, ac_error *err);
void ac__probe_free(ac__probe *p);

/* Patch values of batch bi into c->patch (skipped when already there). */
int ac__probe_patch(ac__probe *p, size_t bi, ac_error *err);

/* Loss = faith + lambda · regularizer of batch bi at mask logits theta [E], and its
 * gradient grad [E] (overwritten). Patch values must be in place (ac__probe_patch).
 * Hard concrete: u_rows [B][E] and u_reg [E] are the uniforms of the prompts' samples
 * and of the regularizer's sample; both NULL: drawn from the stream at p->counter,
 * which then advances by (B + 1)·E. *faith (may be NULL) receives the faith term. */
int ac__probe_loss_grad(ac__probe *p, size_t bi, const double *theta, const double *u_rows,
                        const double *u_reg, double *loss, double *faith, double *grad,
                        ac_error *err);

/* A whole subnetwork-probing run: scores [E]; epoch_loss [epochs] (may be NULL): the
 * mean loss of each epoch's steps. *counter: the uniform stream position (in/out).
 * Progress reports prog_base + epoch + 1 of prog_total. */
int ac__probe_train(ac_algo_ctx *c, const ac_discover_opts *o, uint64_t *counter,
                    size_t prog_base, size_t prog_total, const char *what, float *scores,
                    double *epoch_loss, ac_error *err);

#endif
