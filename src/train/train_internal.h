/* Internals of the trainer shared by tasks.c, optim.c, train.c, write.c and the tests. */
#ifndef AC_TRAIN_INTERNAL_H
#define AC_TRAIN_INTERNAL_H

#include "autocircuit/train.h"
#include "model/model_internal.h"

#define AC__TASK_MAX_VOCAB 256
#define AC__TASK_MAX_TEMPLATES 16

struct ac_train_task {
    ac_train_task_kind kind;
    int vocab_size;
    char *vocab[AC__TASK_MAX_VOCAB];     /* owned strings; id 0 = "<bos>" */
    int len;                             /* prompt tokens without BOS */
    int n_templates;
    int32_t tmpl[AC__TASK_MAX_TEMPLATES][AC_TRAIN_TASK_MAX_LEN]; /* ids, or -'X' for slot {X} */
    int names0, n_names, places0, n_places, objects0, n_objects; /* IOI fillers */
    int nouns0, n_nouns, verbs0, n_verbs, years0;                /* greater-than */
    int tokens0, n_tokens;                                       /* induction */
    const char *const *labels;
    char label_buf[AC_TRAIN_TASK_MAX_LEN][8];
    const char *label_ptrs[AC_TRAIN_TASK_MAX_LEN];
    const char *const *idx_names;
    const int *idx_pos;
    int n_idx;
    const char *description;
};

/* splitmix64 step, and a value in 0..n-1 (n > 0; modulo bias below 2^-56). */
uint64_t ac__train_rng_next(uint64_t *s);
int ac__train_rng_below(uint64_t *s, int n);

/* Approximately standard normal value (Irwin-Hall: sum of 12 uniforms - 6), portable
 * bit for bit (no libm). */
float ac__train_rng_normal(uint64_t *s);

/* GPT-2 initialisation (Hugging Face GPT2PreTrainedModel._init_weights): every weight
 * matrix and embedding ~ N(0, 0.02^2), the residual projections (attention output and
 * MLP output) ~ N(0, (0.02 / sqrt(2 n_layer))^2), biases 0, norm gains 1 and biases 0.
 * Drawn in arena order from `seed`. */
void ac__train_init_gpt2(ac_model *m, uint64_t seed);

/* Weight-decay mask over the arena (1 = decayed: weight matrices and embeddings; 0:
 * biases and norm parameters). `mask` has m->arena_floats entries. */
void ac__train_decay_mask(const ac_model *m, uint8_t *mask);

/* One AdamW step (torch.optim.AdamW semantics, single-tensor path):
 *   p *= 1 - lr * wd                (only where decay[i], or everywhere when decay NULL)
 *   m  = m + (1 - b1) * (g - m)     (torch: exp_avg.lerp_(grad, 1 - beta1))
 *   v  = b2 * v + (1 - b2) * g * g
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * with step t >= 1. The scalars (1 - b1, 1 - lr*wd, lr / (1 - b1^t), ...) are computed in
 * double, as Python does for torch, and applied in float. Elementwise; deterministic. */
void ac__adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *decay, size_t n, int t,
                    double lr, double b1, double b2, double eps, double wd);

/* Scale g[n] so that its L2 norm is at most max_norm (torch clip_grad_norm_: coefficient
 * max_norm / (norm + 1e-6), applied when below 1). Returns the norm before clipping
 * (double, summed in order). max_norm <= 0: only the norm. */
double ac__clip_grad_norm(float *g, size_t n, double max_norm);

/* Learning rate at 0-based step s: linear warmup (s+1)/warmup * lr for s < warmup, then
 * cosine decay from lr to min_frac * lr at the last step. */
double ac__lr_at(int s, int steps, int warmup, double lr, double min_frac);

#endif
