/* autocircuit — prompt-pair datasets (auto-circuit's JSON format) and deterministic
 * batching into train and test splits.
 *
 * A dataset file is JSON (full description in docs/datasets.md):
 *   { "seq_labels"?: [str, ...], "word_idxs"?: {str: int, ...},
 *     "prompts": [ { "clean": str | [int, ...], "corrupt": str | [int, ...],
 *                    "answers": [str | int, ...], "wrong_answers": [str | int, ...] },
 *                  ... ] }
 * Prompts are text (tokenized with an ac_tokenizer) or token-id lists. Each answer is a
 * string that must encode to exactly one token, or a token id; prompts may have
 * different numbers of answers ("ragged").
 *
 * Loading follows auto-circuit's load_datasets_from_json: the prompts of every file are
 * concatenated, shuffled once with Python's random.shuffle(random.seed(seed)) order
 * (reproduced exactly: MT19937 + Python's rejection sampler), the first train_size go to
 * the train split and the next test_size to the test split, and each split is cut into
 * batches in order. Unlike auto-circuit, an incomplete last batch is kept by default
 * (drop_last = 0) and the summary always says how many prompts were dropped or unused.
 */
#ifndef AUTOCIRCUIT_DATASET_H
#define AUTOCIRCUIT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "autocircuit/base.h"
#include "autocircuit/metrics.h"
#include "autocircuit/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A train or test size meaning "every prompt the other split does not take". */
#define AC_DATASET_ALL ((size_t)-1)

/* Loader options. Initialise with AC_DATASET_OPTIONS_INIT or ac_dataset_options_default,
 * then change fields. Defaults are auto-circuit's load_datasets_from_json defaults except
 * drop_last (auto-circuit always drops incomplete batches). */
typedef struct ac_dataset_options {
    int prepend_bos;          /* 1: put the BOS id before every clean and corrupt prompt;
                                 word_idxs then shift by +1 and seq_labels gain a leading
                                 "<|BOS|>". Default 1. */
    int32_t bos_id;           /* BOS id to prepend; -1 (default): the tokenizer's BOS. With
                                 prepend_bos and no BOS id known, loading fails. */
    int32_t pad_id;           /* id written at padded positions (their mask is 0);
                                 -1 (default): the BOS id if known, else 0. */
    size_t train_batch_size;  /* prompts per train batch. Default 32. */
    size_t test_batch_size;   /* prompts per test batch. Default 32. (auto-circuit's single
                                 batch_size = both fields equal.) */
    size_t train_size;        /* prompts in the train split. Default 128. AC_DATASET_ALL:
                                 every prompt test_size leaves over. */
    size_t test_size;         /* prompts in the test split (after the train ones).
                                 Default 128. AC_DATASET_ALL: every prompt after train. */
    int shuffle;              /* 1: shuffle the prompt order once, before the split.
                                 Default 1. 0: file order. */
    uint64_t seed;            /* shuffle seed, Python random.seed(seed). Default 42. */
    int fixed_length;         /* auto-circuit's return_seq_length: every prompt (clean and
                                 corrupt, all files) must have the same token count, exposed
                                 as ac_dataset.seq_len. Default 0. */
    int pad;                  /* 1: left-pad each batch to its longest prompt, with masks.
                                 0: no padding; every prompt of a batch must have the same
                                 length. Default 1. */
    int drop_last;            /* 1: drop an incomplete last batch (auto-circuit's behaviour,
                                 counted in ac_split.n_dropped). 0 (default): keep it as a
                                 smaller final batch. */
    int32_t vocab_size;       /* token ids must be < vocab_size; 0 (default): the
                                 tokenizer's vocabulary size, or no upper bound without a
                                 tokenizer. */
} ac_dataset_options;

#define AC_DATASET_OPTIONS_INIT                                                      \
    {.prepend_bos = 1, .bos_id = -1, .pad_id = -1, .train_batch_size = 32,            \
     .test_batch_size = 32, .train_size = 128, .test_size = 128, .shuffle = 1,        \
     .seed = 42, .fixed_length = 0, .pad = 1, .drop_last = 0, .vocab_size = 0}

/* Fill `opts` with the defaults above. */
void ac_dataset_options_default(ac_dataset_options *opts);

/* One batch of B prompt pairs, left-padded to a common length T (clean and corrupt
 * share T). All arrays are owned by the dataset. Rows are in split order. */
typedef struct ac_batch {
    size_t batch_size;        /* B (the last batch of a split may be smaller) */
    size_t seq_len;           /* T = longest clean or corrupt prompt of the batch */
    int32_t *clean;           /* [B*T] row-major token ids, left padded with pad_id */
    int32_t *corrupt;         /* [B*T] */
    uint8_t *clean_mask;      /* [B*T] 1 = real token, 0 = padding */
    uint8_t *corrupt_mask;    /* [B*T] */
    /* answers in CSR form: row b's answers are answers[answer_offsets[b] ..
     * answer_offsets[b+1]); likewise wrong answers. */
    int32_t *answer_offsets;  /* [B+1], answer_offsets[0] = 0 (int32, as ac_answer_sets) */
    int32_t *answers;         /* [answer_offsets[B]] */
    int32_t *wrong_offsets;   /* [B+1] */
    int32_t *wrong_answers;   /* [wrong_offsets[B]] */
    int answers_dense;        /* 1: every row has the same number of answers */
    int wrong_dense;          /* 1: every row has the same number of wrong answers */
    size_t diverge_idx;       /* auto-circuit's batch_diverge_idx: min over rows of the
                                 first position where clean and corrupt differ (token or
                                 mask); T for a row whose clean and corrupt are equal */
    int padded;               /* 1 when any mask entry is 0 */
    uint64_t key;             /* batch key: FNV-1a 64 of B, T, ids and masks (see
                                 docs/datasets.md); stable across runs and machines */
    size_t *prompt_index;     /* [B] each row's index among the loaded prompts (files
                                 concatenated in order, before shuffling) */
} ac_batch;

/* A batch's answers as the metrics take them: `sets` borrows the batch's arrays (valid
 * while the dataset lives); n_rows = B. */
void ac_batch_answer_sets(const ac_batch *b, ac_answer_sets *sets);

typedef enum { AC_SPLIT_TRAIN = 0, AC_SPLIT_TEST = 1 } ac_split_kind;

/* A split: its prompts cut into batches in order. */
typedef struct ac_split {
    ac_batch *batches;        /* [n_batches], owned by the dataset */
    size_t n_batches;
    size_t batch_size;        /* requested batch size */
    size_t n_prompts;         /* prompts in the batches */
    size_t last_batch_size;   /* size of the last batch (0 when there are none) */
    size_t n_dropped;         /* prompts of the split left out by drop_last */
    /* Divergence. Positions count from the start of the unpadded prompt (BOS = 0). */
    size_t common_prefix;     /* length of the token prefix shared by every clean and
                                 every corrupt prompt of the split (issue #17's correct
                                 tail-divergence position); 0 for an empty split */
    size_t cacheable_prefix;  /* leading positions identical (tokens and masks) in every
                                 row of every batch, capped at (shortest T) - 1 so one
                                 position is left to run: common_prefix (capped) when no
                                 batch is padded, else 0. What a shared KV cache may hold. */
    size_t pair_diverge_idx;  /* auto-circuit's diverge_idx: min over the batches'
                                 diverge_idx (per-pair prefixes, the issue #17 bug when used
                                 for caching); 0 for an empty split */
} ac_split;

/* A loaded dataset. Read its fields; free with ac_dataset_free. */
typedef struct ac_dataset {
    ac_split train;
    ac_split test;
    size_t n_loaded;          /* prompts in all files */
    size_t n_unused;          /* loaded prompts in neither split (beyond train + test) */
    size_t seq_len;           /* fixed_length mode: every prompt's length; else 0 */
    int prepend_bos;          /* whether BOS was prepended */
    int32_t bos_id;           /* BOS id used (-1 when none) */
    int32_t pad_id;           /* id at padded positions */
    char **seq_labels;        /* [n_seq_labels] from the first file ("<|BOS|>" first when
                                 prepend_bos), or NULL when the file has none */
    size_t n_seq_labels;
    char **word_idx_names;    /* [n_word_idxs] from the first file, in file order */
    long *word_idx_values;    /* [n_word_idxs] token positions, +1 when prepend_bos */
    size_t n_word_idxs;
    char **paths;             /* [n_paths] the files, as given */
    size_t n_paths;
    size_t *file_first_prompt;/* [n_paths+1] loaded index of each file's first prompt */
} ac_dataset;

/* Load and batch a dataset from `n_paths` JSON files (the first is read in full, later
 * ones contribute only their "prompts"). `tok` may be NULL: then every prompt and answer
 * must be token ids ("text prompts need a tokenizer" otherwise). `opts` NULL = defaults.
 * *out is owned by the caller (ac_dataset_free).
 * Errors (err->file names the file; JSON syntax errors carry line:column, semantic errors
 * name the prompt and key, e.g. "prompts[3].answers[1]: ..."):
 *   AC_ERR_IO       a file cannot be read
 *   AC_ERR_FORMAT   malformed JSON, missing or mistyped keys, empty prompt list, empty
 *                   prompt, an answer string that is not exactly one token, unequal
 *                   lengths in fixed_length mode or in a batch with pad = 0
 *   AC_ERR_RANGE    a token id (or the BOS or pad id) outside [0, vocab_size);
 *                   train_size + test_size larger than the number of prompts
 *   AC_ERR_ARG      bad options (zero batch size, both sizes AC_DATASET_ALL, no paths),
 *                   text without a tokenizer, prepend_bos without a BOS id
 *   AC_ERR_UNSUPPORTED  nested lists (vector inputs, per-position answers) or
 *                   non-integer numbers as prompts or answers
 *   AC_ERR_NOMEM */
int ac_dataset_load(ac_dataset **out, const char *const *paths, size_t n_paths,
                    const ac_tokenizer *tok, const ac_dataset_options *opts, ac_error *err);

/* Free a dataset and everything it owns. NULL is allowed. */
void ac_dataset_free(ac_dataset *ds);

/* The train or test split (borrowed). */
const ac_split *ac_dataset_split(const ac_dataset *ds, ac_split_kind kind);

/* Look up a word index by name (already shifted for BOS). Returns AC_OK and sets *pos,
 * or AC_ERR_ARG when the dataset has no such name (err names it). */
int ac_dataset_word_idx(const ac_dataset *ds, const char *name, long *pos, ac_error *err);

/* Where a loaded prompt came from: its file (borrowed) and its index in that file's
 * "prompts". Returns AC_ERR_RANGE for an index >= n_loaded. */
int ac_dataset_prompt_source(const ac_dataset *ds, size_t loaded_index, const char **path,
                             size_t *index_in_file);

/* Per-split numbers for reporting. Lengths are unpadded token counts (BOS included). */
typedef struct ac_split_summary {
    size_t n_prompts;
    size_t n_batches;
    size_t batch_size;        /* requested */
    size_t last_batch_size;   /* 0 when there are no batches */
    size_t n_dropped;         /* prompts lost to drop_last */
    size_t n_padded_batches;  /* batches with any padding */
    size_t min_len, max_len;  /* over clean and corrupt prompts; 0 for an empty split */
    size_t min_answers, max_answers;  /* per prompt */
    size_t min_wrong, max_wrong;
    int answers_dense;        /* 1: every prompt of the split has the same answer count */
    int wrong_dense;
    size_t common_prefix, cacheable_prefix, pair_diverge_idx; /* as in ac_split */
} ac_split_summary;

typedef struct ac_dataset_summary {
    size_t n_files;
    size_t n_loaded;          /* prompts in all files */
    size_t n_used;            /* in the batches of either split */
    size_t n_dropped;         /* train + test drop_last losses */
    size_t n_unused;          /* beyond train_size + test_size */
    size_t seq_len;           /* fixed_length mode, else 0 */
    int prepend_bos;
    int32_t bos_id, pad_id;
    size_t n_seq_labels, n_word_idxs;
    ac_split_summary train, test;
} ac_dataset_summary;

/* Fill `sum` from `ds`. Never fails. */
void ac_dataset_summarize(const ac_dataset *ds, ac_dataset_summary *sum);

/* The shuffle used by the loader, exposed for tests and tools: a permutation of 0..n-1,
 * identical to Python's `x = list(range(n)); random.seed(seed); random.shuffle(x)`.
 * `perm` has room for n entries. Errors: AC_ERR_RANGE when n >= 2^32. */
int ac_dataset_shuffle_order(size_t *perm, size_t n, uint64_t seed, ac_error *err);

/* The batch-key hash: FNV-1a 64 over B and T (u64 little-endian), the clean then corrupt
 * ids (i32 little-endian) and the clean then corrupt masks (one byte each). */
uint64_t ac_batch_key(size_t batch_size, size_t seq_len, const int32_t *clean,
                      const int32_t *corrupt, const uint8_t *clean_mask,
                      const uint8_t *corrupt_mask);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_DATASET_H */
