/* Harness for the dataset reader: prompt-pair JSON with token ids and with text (through
 * a small GPT-2 tokenizer), under several option sets. */
#include "fz.h"

#include <stdlib.h>
#include <string.h>

#include "autocircuit.h"

static int make_tok(const char *p) { return fz_fixture_gpt2_tokenizer(p); }

static ac_tokenizer *tok;

static void free_tok(void) { ac_tokenizer_free(tok); }

/* Invariants of a loaded split. */
static void check_split(const ac_split *s, int32_t vocab, int32_t pad_id) {
    size_t prompts = 0;
    for (size_t i = 0; i < s->n_batches; i++) {
        const ac_batch *b = &s->batches[i];
        fz_check(b->batch_size > 0 && b->seq_len > 0);
        prompts += b->batch_size;
        const size_t n = b->batch_size * b->seq_len;
        for (size_t k = 0; k < n; k++) {
            fz_check(b->clean[k] >= 0 && b->corrupt[k] >= 0);
            if (vocab > 0) fz_check(b->clean[k] < vocab && b->corrupt[k] < vocab);
            if (!b->clean_mask[k]) fz_check(b->clean[k] == pad_id);
        }
        fz_check(b->answer_offsets[0] == 0 && b->wrong_offsets[0] == 0);
        for (size_t r = 0; r < b->batch_size; r++) {
            fz_check(b->answer_offsets[r + 1] > b->answer_offsets[r]);
            fz_check(b->wrong_offsets[r + 1] >= b->wrong_offsets[r]);
        }
        fz_check(b->diverge_idx <= b->seq_len);
        fz_check(b->key == ac_batch_key(b->batch_size, b->seq_len, b->clean, b->corrupt, b->clean_mask,
                                        b->corrupt_mask));
        ac_answer_sets sets;
        ac_batch_answer_sets(b, &sets);
    }
    fz_check(prompts == s->n_prompts);
}

static void load_with(const char *path, const ac_tokenizer *t, const ac_dataset_options *o) {
    ac_dataset *ds = NULL;
    ac_error err;
    if (ac_dataset_load(&ds, &path, 1, t, o, &err) != AC_OK) {
        fz_check(ds == NULL && err.msg[0]);
        return;
    }
    const int32_t vocab = o->vocab_size ? o->vocab_size : t ? ac_tokenizer_vocab_size(t) : 0;
    check_split(&ds->train, vocab, ds->pad_id);
    check_split(&ds->test, vocab, ds->pad_id);
    ac_dataset_summary sum;
    ac_dataset_summarize(ds, &sum);
    fz_check(sum.n_used + sum.n_dropped + sum.n_unused == sum.n_loaded);
    for (size_t i = 0; i < ds->n_word_idxs; i++) {
        long pos;
        fz_check(ac_dataset_word_idx(ds, ds->word_idx_names[i], &pos, &err) == AC_OK);
    }
    for (size_t i = 0; i <= ds->n_loaded; i++) {
        const char *p;
        size_t k;
        int rc = ac_dataset_prompt_source(ds, i, &p, &k);
        fz_check(i < ds->n_loaded ? rc == AC_OK : rc == AC_ERR_RANGE);
    }
    ac_dataset_free(ds);
}

int fz_dataset(const uint8_t *data, size_t size) {
    if (!tok) {
        ac_error err;
        if (ac_tokenizer_load(&tok, fz_once("ds_tok", make_tok), &err) != AC_OK) abort();
        atexit(free_tok);
    }
    const char *path = fz_write("ds.json", data, size);
    /* token ids, defaults (shuffled, padded, batches kept) */
    ac_dataset_options o = AC_DATASET_OPTIONS_INIT;
    o.bos_id = 1;
    o.vocab_size = 50;
    o.train_batch_size = 2;
    o.test_batch_size = 3;
    o.train_size = 3;
    o.test_size = AC_DATASET_ALL;
    load_with(path, NULL, &o);
    /* text through the tokenizer: fixed length, no padding, drop_last, no shuffle */
    ac_dataset_options t = AC_DATASET_OPTIONS_INIT;
    t.train_size = AC_DATASET_ALL;
    t.test_size = 0;
    t.train_batch_size = t.test_batch_size = 2;
    t.shuffle = 0;
    t.fixed_length = 1;
    t.pad = 0;
    t.drop_last = 1;
    t.prepend_bos = 1;
    t.bos_id = 0; /* the fixture tokenizer has no BOS */
    load_with(path, tok, &t);
    /* text or ids, no BOS, everything in the test split */
    ac_dataset_options u = AC_DATASET_OPTIONS_INIT;
    u.prepend_bos = 0;
    u.train_size = 0;
    u.test_size = AC_DATASET_ALL;
    u.seed = 7;
    load_with(path, tok, &u);
    return 0;
}
