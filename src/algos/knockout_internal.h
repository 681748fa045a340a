/* Learned knockouts (same under knockouts) internals, exposed for tests: one training
 * step's loss and gradient with explicit uniforms. */
#ifndef AC_KNOCKOUT_INTERNAL_H
#define AC_KNOCKOUT_INTERNAL_H

#include "algos/algo_internal.h"

typedef struct ac__knockout {
    ac_algo_ctx *c;
    const ac_knockout_opts *o;
    size_t E, V, nC;
    size_t *cidx;         /* [nC] circuit edges in graph order */
    double n_target;      /* the penalty's target |K| */
    float *masks_ck;      /* [max_B][E] C − K masks (outside C: 1) */
    float *masks_mk;      /* [max_B][E] M − K masks (outside C: 0) */
    float *dm_ck, *dm_mk; /* [max_B][nC] d mask / d theta */
    float *mgrad;         /* [max_B][E] d faith / d mask of one run */
    float *logits_ck, *logits_mk, *dl_ck, *dl_mk; /* [max_B][V] */
    double *reg_ds;       /* [nC] d (penalty sample) / d theta */
    size_t patch_for;     /* batch whose patch values are in c->patch, or SIZE_MAX */
    uint64_t counter;     /* uniforms drawn so far */
} ac__knockout;

/* Validate o, allocate. Errors: AC_ERR_ARG (bad options, empty circuit), AC_ERR_NOMEM.
 * On error k is freed. */
int ac__knockout_init(ac__knockout *k, ac_algo_ctx *c, const uint8_t *in_circuit,
                      const ac_knockout_opts *o, ac_error *err);
void ac__knockout_free(ac__knockout *k);

/* Patch values of batch bi into c->patch (skipped when already there). */
int ac__knockout_patch(ac__knockout *k, size_t bi, ac_error *err);

/* Loss = faith + lambda · penalty of batch bi at mask logits theta [nC] and its gradient
 * grad [nC]. u_ck, u_mk: [B][nC] uniforms of the two runs' samples, u_reg [nC] the
 * penalty's; all NULL: drawn from the stream at k->counter, which then advances by
 * (2B + 1)·nC. *faith (may be NULL) receives the faith term. */
int ac__knockout_loss_grad(ac__knockout *k, size_t bi, const double *theta, const double *u_ck,
                           const double *u_mk, const double *u_reg, double *loss, double *faith,
                           double *grad, ac_error *err);

#endif
