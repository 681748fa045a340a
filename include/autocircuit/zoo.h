/* autocircuit — the model zoo: small compiled transformers with known circuits.
 *
 * Each zoo model is built by construction (no training, no random weights): a GPT-2
 * layout checkpoint without LayerNorm whose weights implement one algorithm, a prompt-
 * pair dataset for that algorithm, and the ground-truth circuit: exactly the edges of
 * the factorized graph (separate Q/K/V, no positions) whose exact-patching effect under
 * resample ablation is non-zero. Everything is deterministic: the same name, prompt
 * count and seed give bit-identical files on every machine. See docs/zoo.md.
 *
 *   induction  2 attention-only layers: a previous-token head (A0.1) and an induction
 *              head (A1.0) predict B after "... A B ... A"; A0.0 and A1.1 are distractors.
 *   lookup     2 layers with MLPs: a compound-key lookup whose query is built by MLP 0
 *              (an AND of two tokens); the lookup head A1.0 reads its query from MLP 0,
 *              its key from the previous-token head A0.0 and its value from the
 *              embedding. A0.1 is a distractor designed to fool attribution patching.
 *
 * Prompts are token-id lists that already start with the BOS token (id 0): load the
 * datasets without prepending BOS (ac_dataset_options.prepend_bos = 0, CLI --no-bos).
 */
#ifndef AUTOCIRCUIT_ZOO_H
#define AUTOCIRCUIT_ZOO_H

#include <stddef.h>
#include <stdint.h>

#include "autocircuit/base.h"
#include "autocircuit/graph.h"
#include "autocircuit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AC_ZOO_DEFAULT_PROMPTS 256  /* the dataset loader's default 128 train + 128 test */
#define AC_ZOO_DEFAULT_SEED 1
#define AC_ZOO_MAX_PROMPTS 1000000

/* The zoo's model names, NULL-terminated (static; do not free). */
const char *const *ac_zoo_names(void);

/* One-line description of a zoo model, or NULL for an unknown name. Static string. */
const char *ac_zoo_summary(const char *name);

/* Build a zoo model in memory. *out is owned by the caller (ac_model_free).
 * Errors: AC_ERR_ARG (unknown name, naming the known ones), AC_ERR_NOMEM. */
int ac_zoo_model(const char *name, ac_model **out, ac_error *err);

/* A zoo model's prompt pairs: every prompt has seq_len tokens (BOS first), one answer
 * and one wrong answer (the corrupt prompt's answer). */
typedef struct ac_zoo_prompts {
    size_t n;
    int seq_len;
    int32_t *clean;   /* [n * seq_len] */
    int32_t *corrupt; /* [n * seq_len] */
    int32_t *answer;  /* [n] */
    int32_t *wrong;   /* [n] */
} ac_zoo_prompts;

/* Generate n prompt pairs from `seed` (splitmix64; same seed, same prompts everywhere).
 * *out owned by the caller (ac_zoo_prompts_free). Errors: AC_ERR_ARG (unknown name,
 * n == 0 or n > AC_ZOO_MAX_PROMPTS), AC_ERR_NOMEM, AC_ERR_INTERNAL (a generator could not
 * meet its constraints; cannot happen with the shipped designs). */
int ac_zoo_prompts_make(const char *name, size_t n, uint64_t seed, ac_zoo_prompts **out,
                        ac_error *err);
void ac_zoo_prompts_free(ac_zoo_prompts *p);

/* The ground-truth circuit as a membership mask over g's edges (in_circuit: [g->n_edges],
 * 1 = in the circuit); *n_in (may be NULL) receives the number of edges. g must be the
 * zoo model's graph without positions; with combined Q/K/V an edge is in the circuit
 * when its Q, K or V part is (the set of non-zero exact-patching effects on that graph).
 * Errors: AC_ERR_ARG (unknown name), AC_ERR_UNSUPPORTED (per-position graph),
 * AC_ERR_SHAPE (a graph of another model). */
int ac_zoo_ground_truth(const char *name, const ac_graph *g, uint8_t *in_circuit,
                        size_t *n_in, ac_error *err);

/* Write a zoo model to directory `dir` (created with its parents if missing):
 *   dir/model/            config.json + model.safetensors (ac_model_save)
 *   dir/dataset.json      n_prompts prompt pairs from `seed` (auto-circuit JSON, ids)
 *   dir/ground_truth.json the circuit ({"format": "autocircuit-ground-truth", ...})
 *   dir/README.md         the model card: architecture, task, accuracy on the dataset,
 *                         ground truth, how to regenerate
 * Each file is written atomically. Same arguments, same bytes.
 * Errors: AC_ERR_ARG (unknown name, n_prompts 0 or > AC_ZOO_MAX_PROMPTS), AC_ERR_IO
 * (naming the path), AC_ERR_NOMEM. */
int ac_zoo_write(const char *name, const char *dir, size_t n_prompts, uint64_t seed,
                 ac_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_ZOO_H */
