/* Induction on random tokens. Clean: L distinct random tokens t0 .. t(L-1), then
 * t0 .. t(L-2) again; the answer is t(L-1) (what an induction head copies). Corrupt: the
 * same with t(L-1) in the first half replaced by another random token r, so induction
 * predicts r, the wrong answer. Prompts and answers are token ids. */
#include <stdio.h>
#include <string.h>

#include "tasks/task_internal.h"

int ac__gen_induction(ac_task_dataset *ds, const ac_tokenizer *tok, const ac_task_options *o, ac_error *err) {
    const int L = o->induction_len;
    if (L < 2 || L > 100000) return ac_error_set(err, AC_ERR_ARG, NULL, "induction length %d: expected 2..100000", L);
    int32_t V;
    int32_t *usable = NULL; /* ids that may be drawn */
    size_t n_usable = 0;
    if (tok) {
        V = ac_tokenizer_vocab_size(tok);
        if (o->vocab_size > 0 && o->vocab_size < V) V = o->vocab_size;
    } else {
        V = o->vocab_size;
        if (V <= 0) return ac_error_set(err, AC_ERR_ARG, NULL, "induction needs a tokenizer or a vocabulary size");
    }
    usable = ac_malloc((size_t)V * sizeof *usable);
    if (!usable) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    const int32_t bos = tok ? ac_tokenizer_bos(tok) : -1, eos = tok ? ac_tokenizer_eos(tok) : -1;
    for (int32_t id = 0; id < V; id++) {
        if (id == bos || id == eos) continue;
        if (tok) {
            const char *t = ac_tokenizer_token_text(tok, id);
            if (!t || !*t) continue;
        }
        usable[n_usable++] = id;
    }
    int rc = AC_OK;
    if (n_usable < (size_t)L + 1)
        rc = ac_error_set(err, AC_ERR_ARG, NULL,
                          "induction with length %d needs at least %d usable token ids; the vocabulary has %zu", L, L + 1,
                          n_usable);
    else if ((size_t)V != n_usable)
        rc = ac__ds_note(ds, err, "induction: %zu of %d ids are not drawn (BOS, EOS, or tokens that print nothing)",
                         (size_t)V - n_usable, (int)V);
    const size_t T = 2 * (size_t)L - 1;
    ac__rng rng;
    ac__rng_seed(&rng, o->seed);
    int ids_written = 0;
    for (size_t i = 0; i < o->n_prompts && !rc; i++) {
        /* L + 1 distinct tokens t0 .. t(L-1), r: a partial Fisher-Yates shuffle of the
         * usable ids (continuing from the previous prompt's order) */
        for (size_t k = 0; k <= (size_t)L; k++) {
            const size_t j = k + ac__rng_below(&rng, (uint32_t)(n_usable - k));
            const int32_t tmp = usable[k];
            usable[k] = usable[j];
            usable[j] = tmp;
        }
        ac_task_prompt *pr = ac__ds_push(ds);
        if (!pr) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        pr->clean_ids = ac_malloc(T * sizeof *pr->clean_ids);
        pr->corrupt_ids = ac_malloc(T * sizeof *pr->corrupt_ids);
        if (!pr->clean_ids || !pr->corrupt_ids) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        pr->n_clean = pr->n_corrupt = T;
        for (int k = 0; k < L; k++) pr->clean_ids[k] = usable[k];
        for (int k = 0; k < L - 1; k++) pr->clean_ids[L + k] = pr->clean_ids[k];
        memcpy(pr->corrupt_ids, pr->clean_ids, T * sizeof *pr->clean_ids);
        const int32_t ans = pr->clean_ids[L - 1], wrong = usable[L];
        pr->corrupt_ids[L - 1] = wrong;
        rc = ac__prompt_set_answers(pr, NULL, &ans, NULL, 1, &wrong, NULL, 1, &ids_written, err);
    }
    if (!rc) {
        ds->seq_len = T;
        static const char *const idx_names[] = {"target", "repeat", "end"};
        const long pos[3] = {L - 1, L, (long)T - 1};
        rc = ac__ds_set_layout(ds, NULL, NULL, NULL, idx_names, pos, 3, err);
    }
    ac_free(usable);
    return rc;
}
