/* autocircuit — training small GPT-2-architecture models on synthetic tasks.
 *
 * Three task generators, each with its own small word-level vocabulary (every name,
 * place, object, template word, two-digit year, random token is one id; id 0 is the BOS
 * token "<bos>"):
 *   - AC_TRAIN_TASK_IOI: indirect object identification, "When Mary and John went to the
 *     store , John gave a drink to" -> Mary; corrupt prompts from the IOI paper's ABC
 *     distribution (the three names replaced by three distinct random names);
 *   - AC_TRAIN_TASK_GREATER_THAN: "The war lasted from the year 17 32 to the year 17" -> any
 *     year token greater than 32 (answers YY+1..99, wrong answers 00..YY); corrupt
 *     prompts use YY = 01;
 *   - AC_TRAIN_TASK_INDUCTION: random distinct tokens with a repeated segment ... A B ... A ->
 *     B; the corrupt prompt replaces the first B by a fresh token B' (its wrong answer).
 * The trainer (ac_train) initialises a model as GPT-2 does, trains it with AdamW, a
 * linear-warmup + cosine learning-rate schedule and global-norm gradient clipping, and
 * measures its accuracy on held-out prompts with the analysis engine. Everything is
 * seeded: the same options give bit-identical weights for a given OpenMP thread count
 * on a given machine (docs/training.md).
 */
#ifndef AUTOCIRCUIT_TRAIN_H
#define AUTOCIRCUIT_TRAIN_H

#include "autocircuit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AC_TRAIN_TASK_IOI = 0, AC_TRAIN_TASK_GREATER_THAN = 1, AC_TRAIN_TASK_INDUCTION = 2 } ac_train_task_kind;

/* "ioi", "greater-than", "induction" <-> kind. ac_train_task_parse returns AC_OK or AC_ERR_ARG
 * (with the accepted names in err). */
const char *ac_train_task_name(ac_train_task_kind kind);
int ac_train_task_parse(const char *name, ac_train_task_kind *out, ac_error *err);

/* ---- task generators ---------------------------------------------------------------- */

#define AC_TRAIN_TASK_MAX_LEN 32     /* tokens of a prompt, without BOS */
#define AC_TRAIN_TASK_MAX_ANSWERS 100

/* One prompt pair. Token ids WITHOUT the BOS token (the dataset loader prepends it). */
typedef struct ac_train_task_example {
    int len;                               /* every prompt of a task has the same length */
    int32_t clean[AC_TRAIN_TASK_MAX_LEN];
    int32_t corrupt[AC_TRAIN_TASK_MAX_LEN];
    int n_answers, n_wrong;
    int32_t answers[AC_TRAIN_TASK_MAX_ANSWERS];  /* correct next tokens after the clean prompt */
    int32_t wrong[AC_TRAIN_TASK_MAX_ANSWERS];    /* wrong answers (IOI: the subject; greater-than:
                                              00..YY; induction: B') */
    /* Extra language-model targets inside the clean prompt (induction: every position of
     * the repeated segment predicts the token that followed it the first time): position
     * p (0-based, without BOS) predicts lm_next[k]. The last position is not listed. */
    int n_lm;
    int lm_pos[AC_TRAIN_TASK_MAX_LEN];
    int32_t lm_next[AC_TRAIN_TASK_MAX_LEN];
} ac_train_task_example;

typedef struct ac_train_task ac_train_task;

/* Create a task (its vocabulary and templates). *out owned by the caller
 * (ac_train_task_free). Errors: AC_ERR_ARG (unknown kind), AC_ERR_NOMEM. */
int ac_train_task_create(ac_train_task **out, ac_train_task_kind kind, ac_error *err);
void ac_train_task_free(ac_train_task *t);

ac_train_task_kind ac_train_task_get_kind(const ac_train_task *t);
/* Vocabulary size, and the text of token `id` (borrowed; NULL outside 0..size-1). */
int ac_train_task_vocab_size(const ac_train_task *t);
const char *ac_train_task_token(const ac_train_task *t, int id);
/* Prompt length in tokens without BOS (the model's context is this + 1). */
int ac_train_task_prompt_len(const ac_train_task *t);
/* Per-position labels of a prompt (without BOS; ac_train_task_prompt_len of them, borrowed)
 * and named positions (n of them; names and positions borrowed). */
const char *const *ac_train_task_seq_labels(const ac_train_task *t);
int ac_train_task_word_idxs(const ac_train_task *t, const char *const **names, const int **positions);
/* A one-paragraph description of the task (borrowed). */
const char *ac_train_task_description(const ac_train_task *t);

/* Draw one example with the generator state *rng (a 64-bit state advanced by the call;
 * seed it with any value). Deterministic: same state, same example, on every machine. */
void ac_train_task_generate(const ac_train_task *t, uint64_t *rng, ac_train_task_example *ex);

/* ---- training ----------------------------------------------------------------------- */

typedef struct ac_train_options {
    ac_train_task_kind task;
    /* architecture (GPT-2 layout: LayerNorm, learned positions, gelu_new, biases, tied
     * embeddings); d_mlp 0 = attention-only */
    int n_layer, n_head, d_model, d_mlp;
    /* optimisation */
    int steps, batch;
    double lr;            /* peak learning rate */
    int warmup;           /* linear warmup steps; then cosine decay to min_lr_frac * lr */
    double min_lr_frac;
    double weight_decay;  /* AdamW decoupled decay, on weight matrices and embeddings only */
    double beta1, beta2, adam_eps;
    double clip;          /* clip the gradient's global L2 norm to this (0: off) */
    int lm_loss;          /* 1: add the task's extra LM targets to the loss (induction) */
    uint64_t seed;        /* initialisation, training prompts and batch order */
    /* data */
    int n_train;          /* distinct training prompts drawn before training */
    int n_test;           /* held-out prompt pairs (never equal to a training prompt) */
    /* progress: called every `progress_every` steps (0: never) and after the last */
    int progress_every;
    void (*progress)(void *ctx, int step, int steps, double loss, double lr);
    void *progress_ctx;
} ac_train_options;

/* Defaults for a task (the settings the shipped models were trained with). */
void ac_train_options_default(ac_train_options *o, ac_train_task_kind task);

typedef struct ac_train_result {
    double final_loss;       /* mean training loss over the last 5% of steps */
    double test_accuracy;    /* fraction of held-out clean prompts whose top token is an answer */
    double test_loss;        /* mean of the training loss at the last position: the
                                mean over answers of -log p(answer) */
    double test_prob;        /* mean probability mass on the answers (clean prompts) */
    double clean_logit_diff; /* mean over prompts of mean answer logit - mean wrong logit */
    double corrupt_logit_diff;
    double corrupt_accuracy; /* top token of the corrupt prompt is a CLEAN answer */
    int n_test;
    size_t n_params;
    double seconds;          /* wall time of the training loop (not deterministic) */
} ac_train_result;

/* Train a model. On success *model (owned by the caller) is the trained model with
 * bos_id = eos_id = 0, context prompt_len + 1; *examples (if non-NULL) receives the
 * n_test held-out examples (ac_malloc'd; free with ac_free); *res the measurements.
 * Errors: AC_ERR_ARG (option out of range), AC_ERR_NOMEM, AC_ERR_RANGE (the loss became
 * NaN or infinite: lower the learning rate). */
int ac_train(const ac_train_options *o, ac_model **model, ac_train_task_example **examples,
             ac_train_result *res, ac_error *err);

/* Measure a model on examples of a task (the ac_train_result fields except
 * final_loss, n_params and seconds), running the analysis engine on BOS + prompt.
 * Errors: AC_ERR_ARG (model context or vocabulary too small), AC_ERR_NOMEM. */
int ac_train_evaluate(const ac_model *m, const ac_train_task_example *ex, int n, ac_train_result *res,
                      ac_error *err);

/* Write a trained model's files into `dir` (created if missing):
 *   dir/model/  config.json, model.safetensors (ac_model_save) and vocab.txt (one token
 *               per line, line i = id i);
 *   dir/dataset.json  the examples as auto-circuit prompt pairs (token ids without BOS,
 *               plus "clean_text"/"corrupt_text", seq_labels, word_idxs and the vocab);
 *   dir/README.md     a model card: architecture, task, held-out accuracy, the options
 *               and the one command that regenerates the files.
 * Everything written is a function of (o, model, examples, res minus seconds): the same
 * training gives byte-identical files. Errors: AC_ERR_IO, AC_ERR_NOMEM, as
 * ac_model_save. */
int ac_train_write(const char *dir, const ac_train_options *o, const ac_model *model,
                   const ac_train_task_example *examples, int n_examples, const ac_train_result *res,
                   ac_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_TRAIN_H */
