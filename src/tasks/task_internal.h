/* Internal helpers shared by the task generators (src/tasks/task_*.c): the RNG, word
 * pools filtered by the tokenizer, prompts rendered from segments and checked token by
 * token, and the growing dataset. */
#ifndef AC_TASK_INTERNAL_H
#define AC_TASK_INTERNAL_H

#include "autocircuit/tasks.h"

/* ---- RNG: xoshiro256** seeded through splitmix64 ------------------------------------ */

typedef struct ac__rng {
    uint64_t s[4];
} ac__rng;

void ac__rng_seed(ac__rng *r, uint64_t seed);
uint64_t ac__rng_next(ac__rng *r);
/* Uniform in [0, n) (n >= 1), unbiased (Lemire's multiply-and-reject). */
uint32_t ac__rng_below(ac__rng *r, uint32_t n);
/* k distinct values of [0, n) in draw order (each drawn with ac__rng_below, redrawn
 * while it repeats an earlier one). Requires k <= n. */
void ac__rng_distinct(ac__rng *r, uint32_t n, uint32_t k, uint32_t *out);

/* ---- word pools ---------------------------------------------------------------------- */

/* Words as they are inserted into prompts (`forms`, e.g. " Mary") and their token ids. */
typedef struct ac__pool {
    char **forms;
    int32_t *ids;
    size_t n;
} ac__pool;

/* Keep the words of `words` whose form (lead + word) is exactly one token after the text
 * `ctx` (encode(ctx + form) == encode(ctx) + [id]). Left-out words are counted in
 * ds->n_pool_dropped and listed in a note naming `what`. AC_ERR_UNSUPPORTED when fewer than
 * `min_keep` remain. */
int ac__pool_build(ac__pool *p, const ac_tokenizer *tok, const char *const *words, size_t n,
                   const char *lead, const char *ctx, const char *what, size_t min_keep,
                   ac_task_dataset *ds, ac_error *err);
void ac__pool_free(ac__pool *p);

/* ---- prompts from segments ----------------------------------------------------------- */

#define AC__MAX_SEGS 64
#define AC__MAX_SLOTS 32

/* A prompt is a list of segments; slot segments (slot >= 0, numbered 0.. in order) must
 * each be exactly one token in context. */
typedef struct ac__seg {
    const char *text;
    int slot; /* -1 for fixed text */
} ac__seg;

typedef struct ac__rendered {
    char *text;        /* ac_malloc'd */
    int32_t *ids;      /* ac_malloc'd */
    size_t n;
    int n_slots;
    long slot_pos[AC__MAX_SLOTS];   /* token position of each slot */
    int32_t slot_id[AC__MAX_SLOTS]; /* its token id */
} ac__rendered;

/* Render and check. On success *ok = 1 and `out` is filled (free with ac__rendered_free);
 * when a slot is not one token in context *ok = 0 and `why` says which (out is empty).
 * Errors: AC_ERR_NOMEM only. */
int ac__render(const ac_tokenizer *tok, const ac__seg *segs, int n_segs, ac__rendered *out,
               int *ok, char *why, size_t why_n, ac_error *err);
void ac__rendered_free(ac__rendered *r);

/* 1 when two renderings have the same length and slot positions. */
int ac__same_layout(const ac__rendered *a, const ac__rendered *b);

/* ---- the dataset under construction --------------------------------------------------- */

int ac__ds_new(ac_task_dataset **out, ac_task_kind kind, ac_error *err);
/* Append a note line (printf format). Errors: AC_ERR_NOMEM. */
int ac__ds_note(ac_task_dataset *ds, ac_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append a zeroed prompt and return it (NULL on allocation failure). */
ac_task_prompt *ac__ds_push(ac_task_dataset *ds);
/* Move a rendering's text and ids into a prompt's clean (which = 0) or corrupt side. */
void ac__prompt_take(ac_task_prompt *p, int which, ac__rendered *r);
/* Set the answers (ids, with candidate strings `texts`, may be NULL) and wrong answers. A
 * string is kept when the tokenizer encodes it alone as exactly that id; otherwise the id
 * is written (ds->... note added once by the caller via *ids_written). */
int ac__prompt_set_answers(ac_task_prompt *p, const ac_tokenizer *tok, const int32_t *ans,
                           const char *const *ans_texts, size_t n_ans, const int32_t *wrong,
                           const char *const *wrong_texts, size_t n_wrong, int *ids_written,
                           ac_error *err);
/* Set word_idxs (names borrowed and copied) and seq_labels from a reference rendering:
 * labels[slot] (NULL entries: the token's text) name the slot tokens, every other token
 * is labelled with its text. */
int ac__ds_set_layout(ac_task_dataset *ds, const ac_tokenizer *tok, const ac__rendered *ref,
                      const char *const *slot_labels, const char *const *idx_names,
                      const long *idx_values, size_t n_idx, ac_error *err);

/* Record a rejected prompt: strict mode → AC_ERR_FORMAT; otherwise count it, note the
 * first three, and fail with AC_ERR_FORMAT after 100 rejections in a row (*streak). */
int ac__ds_reject(ac_task_dataset *ds, const ac_task_options *o, size_t index, int *streak,
                  const char *why, ac_error *err);

/* ---- generators ----------------------------------------------------------------------- */

int ac__gen_ioi(ac_task_dataset *ds, const ac_tokenizer *tok, const ac_task_options *o,
                ac_error *err);
int ac__gen_greater_than(ac_task_dataset *ds, const ac_tokenizer *tok,
                         const ac_task_options *o, ac_error *err);
int ac__gen_docstring(ac_task_dataset *ds, const ac_tokenizer *tok, const ac_task_options *o,
                      ac_error *err);
int ac__gen_induction(ac_task_dataset *ds, const ac_tokenizer *tok, const ac_task_options *o,
                      ac_error *err);

#endif
