/* autocircuit — circuit-discovery algorithms, ablations and circuit evaluation.
 *
 * Every algorithm scores every edge of a graph: scores[n_edges] in the graph's edge
 * order; importance is |score|. Signs follow auto-circuit: gradient-based scores are
 * derivatives of the loss (the NEGATED metric) with respect to the edge masks, exact
 * patching reports the change of that loss, ACDC reports +inf for edges it keeps and
 * the threshold at which it removed the others. All runs use the output at the last
 * position (auto-circuit's slice_output "last_seq"). See docs/algorithms.md.
 */
#ifndef AUTOCIRCUIT_ALGOS_H
#define AUTOCIRCUIT_ALGOS_H

#include "autocircuit/dataset.h"
#include "autocircuit/engine.h"
#include "autocircuit/graph.h"
#include "autocircuit/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Patch values (auto-circuit's AblationType; values equal its enum). */
typedef enum {
    AC_ABLATION_RESAMPLE = 1,        /* the other prompt's source outputs (default) */
    AC_ABLATION_ZERO = 2,
    AC_ABLATION_MEAN_CLEAN = 3,      /* token-wise mean over the split's clean prompts */
    AC_ABLATION_MEAN_CORRUPT = 4,    /* ... over its corrupt prompts */
    AC_ABLATION_MEAN = 5,            /* ... over both */
    AC_ABLATION_BATCH_MEAN = 6,      /* token-wise mean over the current batch */
    AC_ABLATION_BATCH_ALL_MEAN = 7   /* mean over the current batch and all positions */
} ac_ablation;

/* "resample", "zero", "mean-clean", "mean-corrupt", "mean", "batch-mean",
 * "batch-all-mean". Errors: AC_ERR_ARG naming the accepted values. */
int ac_ablation_from_name(const char *name, ac_ablation *out, ac_error *err);
const char *ac_ablation_name(ac_ablation a);

/* A working context: one run sized for the largest batch of a split, source stacks,
 * logits buffers and, for dataset-mean ablations, the per-position means. */
typedef struct ac_algo_ctx ac_algo_ctx;

/* m, g, split borrowed (must outlive the context). Errors: AC_ERR_ARG (empty split,
 * batch longer than the model's context), AC_ERR_NOMEM. */
int ac_algo_ctx_create(ac_algo_ctx **out, const ac_model *m, const ac_graph *g,
                       const ac_split *split, ac_error *err);
void ac_algo_ctx_free(ac_algo_ctx *c);

/* Shared-prefix KV cache (docs/engine.md): when every clean and corrupt prompt of the
 * split starts with the same P >= 1 tokens (the split's common_prefix, capped to leave
 * one position; batches must pad clean and corrupt alike), the context caches their keys
 * and values once, and mask gradients, EAP-IG, exact patching, ACDC and circuit
 * evaluation with RESAMPLE ablation run only the tails. Results are those of the
 * uncached runs (patch − current is zero on the shared prefix); other ablations, the
 * activation-magnitude baseline and ac_patch_values called directly never use it.
 * With a per-position graph, edges at prefix positions then score exactly 0 (exact,
 * gradients), are treated as removed by ACDC (their patch changes nothing) and are
 * ignored by evaluation. ac_algo_ctx_prefix_len: P (0: nothing to cache);
 * ac_algo_ctx_set_prefix_cache(c, 0) turns the cache off (default on). */
size_t ac_algo_ctx_prefix_len(const ac_algo_ctx *c);
void ac_algo_ctx_set_prefix_cache(ac_algo_ctx *c, int enabled);

/* Optional progress callback: called with (done, total, what) as work proceeds. */
typedef void (*ac_progress_fn)(void *ctx, size_t done, size_t total, const char *what);
void ac_algo_ctx_set_progress(ac_algo_ctx *c, ac_progress_fn fn, void *user);

/* Patch values for one batch into `out` (a source stack [n_src][B*T][d], caller-owned).
 * `from_clean` chooses which prompt side resample and batch means read (auto-circuit's
 * clean_corrupt; discovery uses the corrupt side). Dataset means are computed over the
 * context's split on first use (they need every batch to have the same length).
 * Errors: AC_ERR_ARG (means over batches of different lengths). */
int ac_patch_values(ac_algo_ctx *c, const ac_batch *b, ac_ablation kind, int from_clean,
                    float *out, ac_error *err);

/* ---- discovery --------------------------------------------------------------------- */

/* What subnetwork probing makes the circuit faithful to (auto-circuit's
 * faithfulness_target). The loss per batch is faith + lambda * regularizer. */
typedef enum {
    AC_PROBE_KL_DIV = 0,          /* KL(full model on clean ‖ patched), mean over prompts */
    AC_PROBE_MSE = 1,             /* mean over [B, V] of (logit − answer id)², one answer
                                     per prompt (auto-circuit's mse_loss(logits, answers)) */
    AC_PROBE_ANSWER = 2,          /* −(mean correct-answer logit) */
    AC_PROBE_WRONG_ANSWER = 3,    /* −(mean wrong-answer logit) */
    AC_PROBE_CORRECT_PERCENT = 4, /* fraction whose argmax is the answer: no gradient, as
                                     in auto-circuit (only the regularizer trains) */
    AC_PROBE_LOGIT_DIFF_PERCENT = 5 /* mean over prompts of |100 − 100·diff/clean diff| */
} ac_probe_target;

/* "kl_div", "mse", "answer", "wrong_answer", "correct_percent", "logit_diff_percent"
 * ('-' may replace '_'). Errors: AC_ERR_ARG naming the accepted values. */
int ac_probe_target_from_name(const char *name, ac_probe_target *out, ac_error *err);
const char *ac_probe_target_name(ac_probe_target t);

/* How learned mask logits become mask values (auto-circuit's MaskFn). */
typedef enum {
    AC_MASK_FN_HARD_CONCRETE = 0, /* a fresh hard-concrete sample per prompt and edge */
    AC_MASK_FN_SIGMOID = 1,       /* sigmoid(logit) */
    AC_MASK_FN_NONE = 2           /* the logit itself */
} ac_mask_fn;

/* "hard_concrete" ('-' may replace '_'), "sigmoid", "none". Errors: AC_ERR_ARG. */
int ac_mask_fn_from_name(const char *name, ac_mask_fn *out, ac_error *err);
const char *ac_mask_fn_name(ac_mask_fn f);

/* Hard-concrete constants (Cao et al.'s subnetwork probing; Louizos et al. 2017). */
#define AC_HC_LEFT (-0.1)
#define AC_HC_RIGHT 1.1
#define AC_HC_TEMP (2.0 / 3.0)

/* One hard-concrete sample: u clamped to [1e-4, 1 − 1e-4], s = sigmoid((ln u −
 * ln(1 − u) + logit) / temp), result clamp(s·(right − left) + left, 0, 1).
 * *dmask (may be NULL) = d result / d logit (0 where the clamp is active, as torch's
 * clamp gradient outside [0, 1]). */
double ac_hard_concrete(double logit, double u, double *dmask);

typedef struct ac_discover_opts {
    ac_ablation ablation;      /* default AC_ABLATION_RESAMPLE */
    ac_val_kind grad_function; /* default AC_VAL_LOGIT */
    ac_answer_fn answer_function; /* default AC_ANSWER_AVG_DIFF */
    float mask_val;            /* mask value for plain mask gradients (EAP: 0) */
    int steps;                 /* integrated gradients / EAP-IG steps (default 5) */
    /* ACDC */
    const double *taus;        /* thresholds, ascending or not; NULL: 1e-6..1e-3 ×10 */
    size_t n_taus;
    int acdc_mse;              /* 1: MSE to the clean output instead of KL */
    int acdc_all_batches;      /* 0 (auto-circuit): only the first batch; 1: all batches
                                  concatenated as one faithfulness measurement */
    uint64_t seed;             /* random baseline; probing's hard-concrete samples */
    const uint8_t *official;   /* ground truth membership [n_edges] (ground-truth algo) */
    /* Subnetwork probing (ac_algo_probe) and circuit probing (ac_algo_circuit_probe);
     * defaults are auto-circuit's. */
    int probe_epochs;          /* default 20; one Adam step per batch per epoch */
    double probe_lr;           /* Adam learning rate, default 0.1 */
    double probe_lambda;       /* regularize_lambda, default 10 */
    double probe_init;         /* init_val; NaN (default): the algorithm's own default,
                                  ln 5 for probing, −ln 5 for circuit probing. Masks
                                  start at +init (tree) or −init (edge mode) */
    size_t probe_circuit_size; /* 0 (default): regularizer = count / n_edges; else
                                  relu(count − size) / size */
    int probe_tree;            /* 0 (default): corrupt input, masks learn what to patch
                                  in; 1: tree optimisation, clean input, masks learn
                                  what to ablate */
    ac_probe_target probe_target; /* default AC_PROBE_KL_DIV */
    ac_mask_fn probe_mask_fn;  /* default AC_MASK_FN_HARD_CONCRETE */
    ac_ablation probe_ablation; /* 0 (default): token-wise mean over the corrupt prompts,
                                  which auto-circuit hard-codes whatever the ablation
                                  asked for; else this ablation (read from the clean
                                  side in edge mode, from the corrupt side in tree mode) */
    const uint8_t *probe_avoid; /* [n_edges] edges to keep out of the circuit, or NULL */
    double probe_avoid_lambda;  /* weight of the avoid penalty, default 1 */
    const size_t *probe_sizes;  /* circuit probing: circuit sizes (each in 1..n_edges,
                                   distinct; auto-circuit's "true_size" is the caller's
                                   job) */
    size_t n_probe_sizes;
} ac_discover_opts;

void ac_discover_opts_default(ac_discover_opts *o);

/* Mask gradients (auto-circuit's mask_gradient_prune_scores): masks at mask_val (or,
 * with ig != 0, at k/steps for k = 0..steps, both ends included), clean input, patch
 * values from the ablation; score = Σ over batches (and IG samples) of d loss / d mask.
 * With mask_val 0, logit, avg_diff this is Edge Attribution Patching. */
int ac_algo_mask_gradient(ac_algo_ctx *c, const ac_discover_opts *o, int ig, float *scores,
                          ac_error *err);

/* EAP-IG with interpolated inputs (Hanna et al.): input embeddings corrupt + (k/steps)
 * (clean − corrupt), k = 0..steps−1; score = Σ_batches mean_k Σ (corrupt − clean
 * source output) · d loss / d destination input. Clean and corrupt prompts of a batch
 * must have the same padding. Resample ablation only. */
int ac_algo_eap_ig_inputs(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err);

/* Exact patching: for each edge alone (mask 1, clean input, ablation patch values), the
 * change of the loss: score = Σ_batches (loss(edge patched) − loss(nothing patched)).
 * Re-runs only from the destination's block, over cached activations. */
int ac_algo_exact(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err);

/* ACDC (auto-circuit's acdc_prune_scores). For each tau: masks 0, edges visited by
 * destination graph layer descending (within a layer in descending edge index); each
 * edge is patched (mask 1) and kept patched ("removed") when faithfulness − previous <
 * tau; removed edges score min(tau, current score), edges never removed +inf. */
int ac_algo_acdc(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err);

/* Subnetwork probing (auto-circuit's subnetwork_probing_prune_scores). Learned mask
 * logits θ, one per edge, start at −init (edge mode) or +init (tree mode). Patch values:
 * see probe_ablation. Per epoch, per batch: every prompt gets its own mask sample
 * (hard concrete: a fresh sample per prompt and edge), the patched forward on the
 * corrupt (edge mode) or clean (tree mode) input gives faith (probe_target); the
 * regularizer counts the circuit on ONE separate sample of every mask: count = Σ mask
 * (edge mode: patched edges) or n_edges − Σ mask (tree: unablated edges), divided by
 * n_edges, or relu(count − size) / size with probe_circuit_size; avoided edges add
 * ±avoid_lambda/n_avoid · sigmoid(θ − c) (c = temp·ln(−left/right) for hard concrete,
 * else 0; − in tree mode). loss = faith + lambda · regularizer; one Adam step (torch
 * defaults: β 0.9, 0.999, eps 1e-8). Final score = |extreme θ| + sign·θ (edge mode:
 * sign +1, extreme = min θ; tree: −1, max θ), so every score is >= 0.
 * Uniforms: the k-th draw of a run is splitmix64(seed + (k+1)·0x9E3779B97F4A7C15)
 * >> 11 times 2^-53; per step the prompts' samples come first (prompt-major, edges in
 * graph order), then the regularizer's. Progress: once per epoch.
 * Errors: AC_ERR_ARG (bad options; mse without exactly one answer per prompt; dataset
 * means over batches of different lengths), AC_ERR_NOMEM. */
int ac_algo_probe(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err);

/* Circuit probing (auto-circuit's circuit_probing_prune_scores): subnetwork probing for
 * each of o->probe_sizes in ascending order (as probe_circuit_size; probe_init NaN means
 * −ln 5); after each run, the edges of its top-size set (|score| >= the size-th largest,
 * ties inclusive) that have no score yet get n_sizes − index. Edges in no circuit score
 * 0. The uniform stream continues from one run to the next. */
int ac_algo_circuit_probe(ac_algo_ctx *c, const ac_discover_opts *o, float *scores, ac_error *err);

/* Baselines: activation magnitude (per source, the signed mean of its clean output over
 * batch, positions and channels, averaged over batches; |value| on every edge from the
 * source), random (uniform [0, 1), seeded, splitmix64), ground truth (1 on o->official). */
int ac_algo_activation_magnitude(ac_algo_ctx *c, float *scores, ac_error *err);
void ac_algo_random(const ac_graph *g, uint64_t seed, float *scores);
int ac_algo_ground_truth(const ac_graph *g, const uint8_t *official, float *scores, ac_error *err);

/* ---- circuit evaluation (auto-circuit's run_circuits + prune metrics) --------------- */

typedef struct ac_eval_opts {
    int tree;                  /* 0: edge patching (corrupt input, clean values into the
                                  circuit; auto-circuit's default); 1: tree patching (clean
                                  input, ablation values into every edge outside it) */
    ac_ablation ablation;      /* default resample */
    int reverse;               /* swap clean and corrupt inputs */
    int signed_rank;           /* rank by signed score instead of |score| */
} ac_eval_opts;

/* Metrics of one circuit size: means over the split's prompts (batch means weighted by
 * batch size; equal to auto-circuit's mean of batch means for equal batches). */
typedef struct ac_eval_point {
    size_t requested;          /* edge count asked for */
    size_t edges;              /* edges actually in the circuit (ties are inclusive) */
    double kl;                 /* KL(full model on clean ‖ circuit) */
    double logit_diff;         /* mean over prompts of mean correct − mean wrong logit */
    double logit_diff_percent; /* 100 · mean circuit diff / mean clean full-model diff */
    double answer_logit, answer_prob, answer_logprob;
    double correct_percent;    /* argmax is the correct answer (NaN unless every prompt
                                  has exactly one correct answer) */
    double correct_beats_wrong_percent; /* (NaN likewise) */
} ac_eval_point;

/* Evaluate the circuits made of the top-counts[i] edges of `scores` for every count.
 * points: caller-owned [n_counts]. */
int ac_evaluate(ac_algo_ctx *c, const float *scores, const size_t *counts, size_t n_counts,
                const ac_eval_opts *o, ac_eval_point *points, ac_error *err);

/* Evaluate one explicit circuit given as a membership mask [n_edges]. */
int ac_evaluate_circuit(ac_algo_ctx *c, const uint8_t *in_circuit, const ac_eval_opts *o,
                        ac_eval_point *point, ac_error *err);


/* ---- completeness: same under knockouts (auto-circuit's same_under_knockout and
 * train_same_under_knockout_prune_scores; the IOI paper's completeness test) -------- */

/* Completeness asks whether a circuit C behaves like the full model M under every
 * knockout K ⊆ C: F(C \ K) ≈ F(M \ K). Knocking out an edge patches it (mask 1) with
 * the ablation's values from the corrupt prompts; the input is always clean. Runs:
 *   M      the full model, unpatched;
 *   C      every edge outside the circuit patched (tree patching);
 *   M − K  only the edges of K patched;
 *   C − K  every edge outside the circuit and every edge of K patched.
 * KLs are the project's KL metric, KL(reference ‖ circuit) of the last-position
 * distributions (ac_measure_kl_div), mean over the split's prompts (batch means
 * weighted by batch size); the circuit side is C or C − K, the reference M or M − K. */
typedef struct ac_knockout_result {
    size_t circuit_size;      /* edges in the circuit */
    size_t n_knockouts;       /* |K ∩ C| (edges of K outside the circuit are ignored) */
    double kl;                /* KL(M ‖ C): the circuit's faithfulness, equal to
                                 ac_evaluate_circuit's kl with tree patching */
    double knockout_kl;       /* KL(M − K ‖ C − K) */
    double logit_diff_model, logit_diff_circuit;       /* mean logit difference of M, C */
    double logit_diff_model_ko, logit_diff_circuit_ko; /* ... of M − K, C − K */
} ac_knockout_result;

/* Evaluate one knockout set. in_circuit, knockout (may be NULL: K = ∅): membership
 * [n_edges]. ablation: the patch values (auto-circuit: resample), read from the corrupt
 * prompts. Errors: AC_ERR_ARG (an empty circuit, a bad ablation), forward errors. */
int ac_same_under_knockout(ac_algo_ctx *c, const uint8_t *in_circuit, const uint8_t *knockout,
                           ac_ablation ablation, ac_knockout_result *r, ac_error *err);

/* What the learned knockouts try to break (auto-circuit's faithfulness_target). */
typedef enum {
    AC_KNOCKOUT_KL_DIV = 0,    /* faith = −KL(M − K ‖ C − K) */
    AC_KNOCKOUT_LOGIT_DIFF = 1 /* faith = logit diff(C − K) − logit diff(M − K) */
} ac_knockout_target;

typedef struct ac_knockout_opts {
    int epochs;               /* default 100; one Adam step per batch per epoch */
    double lr;                /* Adam learning rate, default 0.02 */
    double lambda;            /* weight of the size penalty, default 0 (the paper
                                 pipeline's; auto-circuit notes it "can reasonably be
                                 set to 0") */
    size_t circuit_size;      /* the circuit size asked for (the penalty's target is
                                 floor(circuit_size / 5)); 0: the circuit's edge count */
    size_t max_knockouts;     /* the penalty's target n_t; 0 (default):
                                 floor(circuit_size / 5), at least 1 */
    double threshold;         /* K = circuit edges whose learned logit >= threshold
                                 (auto-circuit's knockout_ps >= knockout_threshold);
                                 default 0 */
    double init;              /* initial mask logit; NaN (default): −ln 5 */
    ac_knockout_target target;/* default AC_KNOCKOUT_KL_DIV */
    ac_ablation ablation;     /* default AC_ABLATION_RESAMPLE (auto-circuit's only one) */
    uint64_t seed;            /* hard-concrete uniforms, default 42 */
} ac_knockout_opts;

void ac_knockout_opts_default(ac_knockout_opts *o);

/* Learn the knockout set K ⊆ C that most breaks "C behaves like M" (the IOI paper's
 * completeness search), then evaluate it and K = ∅.
 * One mask logit θ per circuit edge, starting at init; per epoch, per batch (clean
 * input, patch values from the corrupt prompts): the C − K run (edges outside C at 1,
 * circuit edges at a fresh hard-concrete sample of θ per prompt) and the M − K run
 * (outside C at 0, circuit edges at another fresh sample per prompt) give logits q and
 * p; loss = faith + lambda · relu(Σ s − n_t) / n_t with s one more hard-concrete sample
 * of every circuit edge's θ; the gradient with respect to θ sums both runs' mask
 * gradients (the KL depends on both distributions) and the penalty's; one Adam step
 * (torch defaults). Uniforms: the stream of ac_algo_probe (splitmix64 of seed), per
 * step the C − K samples (prompt-major, circuit edges in graph order), then the M − K
 * samples, then the penalty's.
 *   in_circuit: [n_edges] membership (e.g. ac_prune_scores_select of a scores file's
 *   top circuit_size edges, ties inclusive, as auto-circuit's |score| >= threshold).
 *   scores: [n_edges] out: θ for circuit edges, −INFINITY for the others (never
 *   knocked out). epoch_loss: [epochs] (may be NULL): each epoch's mean loss.
 *   learned: the evaluation of K = {e ∈ C : θ_e >= threshold}; empty (may be NULL):
 *   of K = ∅ (its knockout_kl equals its kl).
 * Progress: once per epoch. Errors: AC_ERR_ARG (bad options, an empty circuit),
 * AC_ERR_NOMEM, forward errors. */
int ac_algo_knockout(ac_algo_ctx *c, const uint8_t *in_circuit, const ac_knockout_opts *o,
                     float *scores, double *epoch_loss, ac_knockout_result *learned,
                     ac_knockout_result *empty, ac_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_ALGOS_H */
