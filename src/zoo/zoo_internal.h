/* Internal interface of the model zoo: one spec per compiled model. */
#ifndef AC_ZOO_INTERNAL_H
#define AC_ZOO_INTERNAL_H

#include "autocircuit/zoo.h"
#include "model/model_internal.h"

typedef struct ac__zoo_spec {
    const char *name;
    const char *summary;          /* one line */
    int seq_len;                  /* tokens per prompt, BOS included */
    const char *const *seq_labels;/* [seq_len] */
    const char *const *ground_truth; /* "SRC->DEST" edge names, NULL-terminated */
    /* Build the model: fill the zeroed weights of a created model. */
    void (*config)(ac_config *c);
    void (*weights)(ac_model *m);
    /* One prompt pair from the generator state; returns 0, or -1 when the generator
     * could not satisfy its constraints (never happens for the shipped designs). */
    int (*prompt)(uint64_t *rng, int32_t *clean, int32_t *corrupt, int32_t *answer,
                  int32_t *wrong);
    const char *task_md;          /* model card: the task, markdown */
    const char *construction_md;  /* model card: how the weights compute it, markdown */
} ac__zoo_spec;

extern const ac__zoo_spec ac__zoo_induction;
extern const ac__zoo_spec ac__zoo_lookup;

/* splitmix64 and helpers shared by the generators */
uint64_t ac__zoo_next(uint64_t *s);
/* uniform integer in [0, n) (n > 0) */
int ac__zoo_below(uint64_t *s, int n);
/* Fisher-Yates shuffle of v[0..n) */
void ac__zoo_shuffle(uint64_t *s, int32_t *v, int n);

/* Weight helpers: matrices are [out, in] row-major (model_internal.h). */
static inline void ac__zoo_set(float *W, int in, int row, int col, float v) {
    W[(size_t)row * (size_t)in + (size_t)col] = v;
}

#endif
