/* autocircuit — benchmark tasks: dataset generators (IOI, greater-than, docstring,
 * induction) and the published ("official") circuits as ground-truth edge sets.
 *
 * Generators write auto-circuit's dataset JSON (see docs/datasets.md) from built-in
 * templates and word lists, seeded and deterministic: the same task, options, seed and
 * tokenizer give the same bytes on every machine. Every prompt is tokenized and checked
 * (each template slot one token, every prompt of a template family the same length with
 * the slots at the same positions, answers single tokens); see docs/tasks.md.
 *
 * Official circuits mark the edges of a graph (graph.h) that belong to a published
 * circuit, with or without token positions, following auto-circuit's inclusion rules
 * (behaviour reference §5.4).
 */
#ifndef AUTOCIRCUIT_TASKS_H
#define AUTOCIRCUIT_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "autocircuit/base.h"
#include "autocircuit/graph.h"
#include "autocircuit/model.h"
#include "autocircuit/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dataset generators ------------------------------------------------------------ */

typedef enum {
    AC_TASK_IOI = 0,          /* indirect object identification (Wang et al. 2022) */
    AC_TASK_GREATER_THAN = 1, /* "The war lasted from the year 1732 to the year 17" (Hanna et al. 2023) */
    AC_TASK_DOCSTRING = 2,    /* next :param name in a Python docstring (Heimersheim & Janiak 2023) */
    AC_TASK_INDUCTION = 3     /* a repeated random token sequence */
} ac_task_kind;

/* "ioi", "greater-than", "docstring", "induction" (also "greaterthan", "greater_than").
 * Returns AC_OK and sets *kind, or AC_ERR_ARG (err names the known tasks). */
int ac_task_parse(const char *name, ac_task_kind *kind, ac_error *err);
const char *ac_task_name(ac_task_kind kind);

#define AC_IOI_N_TEMPLATES 15     /* the IOI paper's templates, 0..14 */
#define AC_IOI_VANILLA 15         /* "When [A] and [B] went to the [PLACE], [B] gave a [OBJECT] to" */
#define AC_IOI_ALL_TEMPLATES (-1) /* every paper template (0..14), uniformly */

typedef enum {
    AC_IOI_BOTH = 0, /* alternate: even prompts ABBA, odd prompts BABA */
    AC_IOI_ABBA = 1, /* IO named first: "Then, Mary and John went ... John gave a drink to" */
    AC_IOI_BABA = 2  /* S named first:  "Then, John and Mary went ... John gave a drink to" */
} ac_ioi_order;

/* Generator options. Initialise with AC_TASK_OPTIONS_INIT or ac_task_options_default. */
typedef struct ac_task_options {
    size_t n_prompts;     /* prompts to generate. Default 1000. */
    uint64_t seed;        /* RNG seed (xoshiro256** seeded through splitmix64). Default 0. */
    int strict;           /* 1: a prompt that fails its tokenization check is an error
                             (AC_ERR_FORMAT naming it); 0 (default): it is redrawn and
                             counted in n_rejected, with the first few listed in notes. */
    int ioi_template;     /* AC_IOI_ALL_TEMPLATES (default), 0..14, or AC_IOI_VANILLA */
    ac_ioi_order ioi_order; /* default AC_IOI_BOTH */
    int induction_len;    /* length L of the random sequence: prompt = L tokens then the
                             first L-1 again (2L-1 tokens). Default 10, at least 2. */
    int32_t vocab_size;   /* induction without a tokenizer: ids drawn from [0, vocab_size) */
} ac_task_options;

#define AC_TASK_OPTIONS_INIT                                                            \
    {.n_prompts = 1000, .seed = 0, .strict = 0, .ioi_template = AC_IOI_ALL_TEMPLATES,  \
     .ioi_order = AC_IOI_BOTH, .induction_len = 10, .vocab_size = 0}

void ac_task_options_default(ac_task_options *opts);

/* One generated prompt pair. Token ids never include BOS. */
typedef struct ac_task_prompt {
    char *clean, *corrupt;          /* text; NULL for token-id prompts (induction) */
    int32_t *clean_ids, *corrupt_ids; /* their tokens */
    size_t n_clean, n_corrupt;
    int32_t *answers;               /* [n_answers] token ids */
    char **answer_texts;            /* [n_answers] the strings written to the file, or NULL
                                       entries (whole array NULL) where the id is written:
                                       when the tokenizer does not encode the string alone
                                       as that one token (e.g. llama2.c's leading space) */
    size_t n_answers;
    int32_t *wrong;                 /* [n_wrong] */
    char **wrong_texts;             /* [n_wrong] as answer_texts */
    size_t n_wrong;
    int family;                     /* IOI: template index (AC_IOI_VANILLA for vanilla);
                                       other tasks 0. Prompts of one family have equal
                                       lengths and their slots at the same positions. */
    int order;                      /* IOI: AC_IOI_ABBA or AC_IOI_BABA; other tasks 0 */
} ac_task_prompt;

/* A generated dataset (free with ac_task_dataset_free). */
typedef struct ac_task_dataset {
    ac_task_kind kind;
    ac_task_prompt *prompts;
    size_t n_prompts;
    /* Present (non-NULL) only when every prompt has the same layout (one family, and for
     * IOI one order): per-token labels and named positions, counted WITHOUT BOS as in
     * auto-circuit's files (the loader adds 1 when it prepends BOS). */
    char **seq_labels;
    size_t n_seq_labels;
    char **word_idx_names;
    long *word_idx_values;
    size_t n_word_idxs;
    size_t seq_len;        /* tokens per prompt (clean and corrupt, no BOS) when every
                              prompt has the same length; 0 when lengths differ */
    size_t n_rejected;     /* prompts that failed a check and were redrawn */
    size_t n_pool_dropped; /* built-in words that are not one token for this tokenizer,
                              left out of the draw (listed in notes) */
    char **notes;          /* report lines for the user (what was dropped or rejected) */
    size_t n_notes;
} ac_task_dataset;

/* Generate a dataset. `tok` is required for IOI, greater-than and docstring; induction
 * takes either a tokenizer (ids drawn from its vocabulary, BOS/EOS excluded) or
 * opts->vocab_size. opts NULL = defaults. Errors: AC_ERR_ARG (bad options, no tokenizer),
 * AC_ERR_UNSUPPORTED (the tokenizer leaves too few single-token words to build the task,
 * or cannot form the answers, e.g. greater-than's two-digit years), AC_ERR_FORMAT (strict
 * mode: a prompt failed its check; or 100 consecutive rejections), AC_ERR_NOMEM. */
int ac_task_generate(ac_task_dataset **out, ac_task_kind kind, const ac_tokenizer *tok,
                     const ac_task_options *opts, ac_error *err);

void ac_task_dataset_free(ac_task_dataset *ds);

/* The dataset as auto-circuit JSON text ("seq_labels", "word_idxs" when present, then
 * "prompts", one prompt per line). *json is ac_malloc'd (caller frees with ac_free). */
int ac_task_dataset_to_json(const ac_task_dataset *ds, char **json, size_t *len, ac_error *err);

/* Write that JSON to `path` atomically. Errors: AC_ERR_IO, AC_ERR_NOMEM. */
int ac_task_dataset_write(const ac_task_dataset *ds, const char *path, ac_error *err);

/* The built-in word lists, for inspection and tests: "names", "places", "objects"
 * (IOI), "nouns" (greater-than), "params", "descriptions" (docstring). Words are given
 * without their leading space; *n is set to the count. NULL for an unknown list. */
const char *const *ac_task_word_list(const char *list, size_t *n);

/* An IOI template (0..14 or AC_IOI_VANILLA) in the given order (ABBA or BABA), with
 * [A] = indirect object, [B] = subject, [PLACE], [OBJECT]; the prompt is the template
 * up to (not including) the final " [A]". NULL for a bad index or order. */
const char *ac_task_ioi_template(int index, ac_ioi_order order);

/* ---- official circuits -------------------------------------------------------------- */

typedef struct ac_official_circuit {
    const char *name;        /* "ioi", "ioi-mlp0", "ioi-heads", "greater-than",
                                "docstring", "docstring-heads" */
    const char *description; /* one line */
    const char *source;      /* paper and the definition followed */
    const char *model;       /* "gpt2-small" or "attn-only-4l" */
    int n_layer, n_head, attn_only; /* the model shape it is defined for */
    int needs_separate_qkv;  /* 1: edge-level circuit naming Q/K/V inputs */
    const char *word_idxs;   /* named positions needed with positions, space-separated */
} ac_official_circuit;

size_t ac_official_circuit_count(void);
const ac_official_circuit *ac_official_circuit_at(size_t i); /* NULL past the end */
const ac_official_circuit *ac_official_circuit_find(const char *name); /* NULL if unknown */

/* Mark the circuit's edges: in_circuit[e] = 1 for edges of `g` in the circuit, else 0
 * (in_circuit has g->n_edges entries); *n_in (may be NULL) = their count.
 * Without positions (g->seq_len == 0) positions are not used (pos_names may be NULL).
 * With positions, pos_names/pos_values give the named token positions as graph positions
 * (BOS counted, i.e. a loaded dataset's word_idx_values) and every name the circuit needs
 * (c->word_idxs) must be present and inside [0, seq_len).
 * Errors: AC_ERR_SHAPE (g is not of the circuit's model shape), AC_ERR_UNSUPPORTED
 * (combined Q/K/V graph for an edge-level circuit), AC_ERR_ARG (a needed position missing),
 * AC_ERR_RANGE (a position outside the sequence). */
int ac_official_circuit_edges(const ac_official_circuit *c, const ac_graph *g,
                              const char *const *pos_names, const long *pos_values,
                              size_t n_pos, uint8_t *in_circuit, size_t *n_in, ac_error *err);

/* Write a ground-truth file (docs/tasks.md; the project's edge-list schema):
 * {"format": "autocircuit-ground-truth", "version": 1, "settings": {...},
 *  "graph": {"separate_qkv": bool, "seq_len": null|T, "n_edges": N},
 *  "edges": [{"src": "A0.1", "dest": "A1.2.Q", "pos": null|p}, ...]}
 * with the marked edges in graph order; n_edges is their count. `circuit`, `model` and
 * `data` (any may be NULL) are recorded under "settings". Atomic. Errors: AC_ERR_IO,
 * AC_ERR_NOMEM. */
int ac_official_circuit_write(const char *path, const ac_graph *g, const uint8_t *in_circuit,
                              const char *circuit, const char *model, const char *data,
                              ac_error *err);

/* The configuration (shape only; no weights needed) of a model a circuit is defined
 * for: "gpt2-small" (12 layers x 12 heads, d_model 768) or "attn-only-4l" (4 x 8, d_model
 * 512, attention only). Returns AC_ERR_ARG for another name. */
int ac_task_model_config(const char *name, ac_config *cfg, ac_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_TASKS_H */
