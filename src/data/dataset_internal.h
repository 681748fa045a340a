/* Internal types shared by the dataset parser (dataset_json.c), the batcher
 * (dataset.c) and the shuffle/key helpers (dataset_rng.c). */
#ifndef AC_DATASET_INTERNAL_H
#define AC_DATASET_INTERNAL_H

#include "autocircuit/dataset.h"

/* One parsed prompt pair, tokenized, BOS already prepended. Arrays ac_malloc'd. */
typedef struct ac__prompt {
    int32_t *clean, *corrupt, *answers, *wrong;
    size_t n_clean, n_corrupt, n_answers, n_wrong;
    size_t file;          /* index into the dataset's paths */
    size_t index_in_file; /* index in that file's "prompts" */
} ac__prompt;

typedef struct ac__prompt_list {
    ac__prompt *items;
    size_t n, cap;
} ac__prompt_list;

/* What the parser needs besides the file. */
typedef struct ac__parse_ctx {
    const ac_tokenizer *tok; /* NULL: token ids only */
    int32_t vocab_size;      /* > 0: ids must be below it */
    int32_t bos_id;          /* >= 0: prepended to every prompt */
} ac__parse_ctx;

/* Parse dataset file number `file_index` (`path`) and append its prompts to `list`.
 * For the first file (file_index 0) also fill ds->seq_labels and ds->word_idx_* (with
 * the BOS shift when ctx->bos_id >= 0). Errors as documented for ac_dataset_load. */
int ac__dataset_parse_file(const char *path, size_t file_index, const ac__parse_ctx *ctx,
                           ac__prompt_list *list, ac_dataset *ds, ac_error *err);

/* The tokenizer's vocabulary size and BOS id (-1 when none); tok may be NULL (0, -1). */
void ac__dataset_tokenizer_info(const ac_tokenizer *tok, int32_t *vocab_size, int32_t *bos);

void ac__prompt_list_free(ac__prompt_list *list);

#endif
