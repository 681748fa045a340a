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
};

/* The forward of one side of a batch: clean (from_clean) or corrupt input. */
int ac__algo_forward(ac_algo_ctx *c, const ac_batch *b, int clean, const float *masks,
                     const float *patch, float *record, float *logits, ac_error *err);

/* Loss and d loss / d logits of the last forward's last-position logits. */
int ac__algo_loss(ac_algo_ctx *c, const ac_batch *b, const ac_discover_opts *o,
                  const float *logits, double *loss, float *dlogits, ac_error *err);

void ac__algo_progress(ac_algo_ctx *c, size_t done, size_t total, const char *what);

#endif
