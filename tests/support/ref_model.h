/* A naive double-precision reference transformer for tests: every destination's input
 * is built explicitly as resid + Σ_s m·(patch_s − curr_s), loops only, no BLAS. It reads
 * the weights of an ac_model but shares no code with the engine. With a residual graph
 * (g->residual) the residual stream itself is patched at Resid Mid / Resid Post and the
 * patched stream recorded as the same-named source. */
#ifndef AC_REF_MODEL_H
#define AC_REF_MODEL_H

#include "autocircuit.h"
#include "autocircuit/engine.h"
#include "autocircuit/graph.h"

/* masks: [g->n_edges] or NULL; patch/record: [n_src][B*T][d] or NULL.
 * logits: [B][V] at position T-1 (logits_all == 0) or [B][T][V]. */
void ac_ref_forward(const ac_model *m, const ac_graph *g, int B, int T, const int32_t *ids,
                    const uint8_t *mask, const double *masks, const double *patch,
                    double *record, double *logits, int logits_all);

#endif
