/* Dataset loading: options, shuffle and split, batching with left padding, divergence
 * positions, summary. Parsing is in dataset_json.c, the RNG and key in dataset_rng.c. */
#include "data/dataset_internal.h"

#include <stdint.h>
#include <string.h>

void ac_dataset_options_default(ac_dataset_options *opts) {
    ac_dataset_options d = AC_DATASET_OPTIONS_INIT;
    *opts = d;
}

/* ---- freeing --------------------------------------------------------------------- */

static void batch_free(ac_batch *b) {
    ac_free(b->clean);
    ac_free(b->corrupt);
    ac_free(b->clean_mask);
    ac_free(b->corrupt_mask);
    ac_free(b->answer_offsets);
    ac_free(b->answers);
    ac_free(b->wrong_offsets);
    ac_free(b->wrong_answers);
    ac_free(b->prompt_index);
}

static void split_free(ac_split *s) {
    for (size_t i = 0; i < s->n_batches; i++)
        batch_free(&s->batches[i]);
    ac_free(s->batches);
}

static void free_strings(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++)
        ac_free(v[i]);
    ac_free(v);
}

void ac_dataset_free(ac_dataset *ds) {
    if (!ds) return;
    split_free(&ds->train);
    split_free(&ds->test);
    free_strings(ds->seq_labels, ds->n_seq_labels);
    free_strings(ds->word_idx_names, ds->n_word_idxs);
    ac_free(ds->word_idx_values);
    free_strings(ds->paths, ds->n_paths);
    ac_free(ds->file_first_prompt);
    ac_free(ds);
}

/* ---- accessors ------------------------------------------------------------------- */

const ac_split *ac_dataset_split(const ac_dataset *ds, ac_split_kind kind) {
    return kind == AC_SPLIT_TEST ? &ds->test : &ds->train;
}

int ac_dataset_word_idx(const ac_dataset *ds, const char *name, long *pos, ac_error *err) {
    for (size_t i = 0; i < ds->n_word_idxs; i++) {
        if (strcmp(ds->word_idx_names[i], name) == 0) {
            *pos = ds->word_idx_values[i];
            return AC_OK;
        }
    }
    return ac_error_set(err, AC_ERR_ARG, ds->n_paths ? ds->paths[0] : NULL,
                        "the dataset has no word_idxs entry \"%s\"", name);
}

int ac_dataset_prompt_source(const ac_dataset *ds, size_t loaded_index, const char **path,
                             size_t *index_in_file) {
    if (loaded_index >= ds->n_loaded) return AC_ERR_RANGE;
    size_t f = 0;
    while (f + 1 < ds->n_paths && ds->file_first_prompt[f + 1] <= loaded_index)
        f++;
    if (path) *path = ds->paths[f];
    if (index_in_file) *index_in_file = loaded_index - ds->file_first_prompt[f];
    return AC_OK;
}

void ac_batch_answer_sets(const ac_batch *b, ac_answer_sets *sets) {
    sets->n_rows = b->batch_size;
    sets->ans_off = b->answer_offsets;
    sets->ans = b->answers;
    sets->wrong_off = b->wrong_offsets;
    sets->wrong = b->wrong_answers;
}

/* ---- validation helpers ---------------------------------------------------------- */

/* The key of a prompt's clean (0) or corrupt (1) sequence, for error messages. */
static const char *seq_name(int corrupt) { return corrupt ? "corrupt" : "clean"; }

static size_t seq_len_of(const ac__prompt *p, int corrupt) {
    return corrupt ? p->n_corrupt : p->n_clean;
}

static const int32_t *seq_of(const ac__prompt *p, int corrupt) {
    return corrupt ? p->corrupt : p->clean;
}

/* fixed_length: every clean and corrupt prompt as long as the first clean one. */
static int check_fixed_length(const ac__prompt_list *list, const ac_dataset *ds, ac_error *err) {
    const ac__prompt *first = &list->items[0];
    size_t want = first->n_clean;
    for (size_t i = 0; i < list->n; i++) {
        const ac__prompt *p = &list->items[i];
        for (int c = 0; c < 2; c++) {
            if (seq_len_of(p, c) != want)
                return ac_error_set(err, AC_ERR_FORMAT, ds->paths[p->file],
                                    "prompts[%zu].%s has %zu tokens but %s prompts[0].clean "
                                    "has %zu: fixed-length mode needs every prompt the same "
                                    "length",
                                    p->index_in_file, seq_name(c), seq_len_of(p, c),
                                    ds->paths[first->file], want);
        }
    }
    return AC_OK;
}

/* pad = 0: every prompt of a batch as long as the batch's first clean prompt. */
static int check_unpadded_batch(const ac__prompt_list *list, const size_t *rows, size_t n_rows,
                                const ac_dataset *ds, ac_error *err) {
    const ac__prompt *first = &list->items[rows[0]];
    for (size_t r = 0; r < n_rows; r++) {
        const ac__prompt *p = &list->items[rows[r]];
        for (int c = 0; c < 2; c++) {
            if (seq_len_of(p, c) != first->n_clean)
                return ac_error_set(err, AC_ERR_FORMAT, ds->paths[p->file],
                                    "prompts[%zu].%s has %zu tokens but the first prompt of "
                                    "its batch (%s prompts[%zu].clean) has %zu: padding is "
                                    "off, so a batch's prompts must have equal lengths",
                                    p->index_in_file, seq_name(c), seq_len_of(p, c),
                                    ds->paths[first->file], first->index_in_file, first->n_clean);
        }
    }
    return AC_OK;
}

/* ---- batching -------------------------------------------------------------------- */

/* CSR answers (wrong = 0) or wrong answers (wrong = 1) of a batch's rows. Offsets are
 * int32 like ac_answer_sets; AC_ERR_RANGE when a batch holds more than INT32_MAX. */
static int fill_answers(const ac__prompt_list *list, const size_t *rows, size_t n_rows, int wrong,
                        int32_t **offsets_out, int32_t **ids_out, int *dense_out) {
    size_t total = 0;
    int dense = 1;
    const ac__prompt *first = &list->items[rows[0]];
    const size_t n_first = wrong ? first->n_wrong : first->n_answers;
    for (size_t r = 0; r < n_rows; r++) {
        const ac__prompt *p = &list->items[rows[r]];
        size_t n = wrong ? p->n_wrong : p->n_answers;
        if (n != n_first) dense = 0;
        if (ac_add_size(total, n, &total) || total > INT32_MAX) return AC_ERR_RANGE;
    }
    int32_t *offsets = ac_calloc(n_rows + 1, sizeof *offsets);
    int32_t *ids = ac_calloc(total ? total : 1, sizeof *ids);
    if (!offsets || !ids) {
        ac_free(offsets);
        ac_free(ids);
        return AC_ERR_NOMEM;
    }
    size_t at = 0;
    for (size_t r = 0; r < n_rows; r++) {
        const ac__prompt *p = &list->items[rows[r]];
        size_t n = wrong ? p->n_wrong : p->n_answers;
        if (n) memcpy(ids + at, wrong ? p->wrong : p->answers, n * sizeof *ids);
        at += n;
        offsets[r + 1] = (int32_t)at;
    }
    *offsets_out = offsets;
    *ids_out = ids;
    *dense_out = dense;
    return AC_OK;
}

/* Build one batch from the prompts list->items[rows[0..n_rows)]. */
static int build_batch(const ac__prompt_list *list, const size_t *rows, size_t n_rows,
                       int32_t pad_id, ac_batch *b) {
    memset(b, 0, sizeof *b);
    size_t T = 0;
    for (size_t r = 0; r < n_rows; r++) {
        const ac__prompt *p = &list->items[rows[r]];
        if (p->n_clean > T) T = p->n_clean;
        if (p->n_corrupt > T) T = p->n_corrupt;
    }
    size_t cells;
    if (ac_mul_size(n_rows, T, &cells)) return AC_ERR_NOMEM;
    b->batch_size = n_rows;
    b->seq_len = T;
    b->clean = ac_calloc(cells, sizeof *b->clean);
    b->corrupt = ac_calloc(cells, sizeof *b->corrupt);
    b->clean_mask = ac_calloc(cells, 1);
    b->corrupt_mask = ac_calloc(cells, 1);
    b->prompt_index = ac_calloc(n_rows, sizeof *b->prompt_index);
    if (!b->clean || !b->corrupt || !b->clean_mask || !b->corrupt_mask || !b->prompt_index)
        return AC_ERR_NOMEM;
    for (size_t r = 0; r < n_rows; r++) {
        const ac__prompt *p = &list->items[rows[r]];
        b->prompt_index[r] = rows[r];
        for (int c = 0; c < 2; c++) {
            int32_t *ids = (c ? b->corrupt : b->clean) + r * T;
            uint8_t *mask = (c ? b->corrupt_mask : b->clean_mask) + r * T;
            size_t n = seq_len_of(p, c);
            size_t pad = T - n;
            for (size_t t = 0; t < pad; t++)
                ids[t] = pad_id;
            memcpy(ids + pad, seq_of(p, c), n * sizeof *ids);
            memset(mask + pad, 1, n);
            if (pad) b->padded = 1;
        }
    }
    int rc =
        fill_answers(list, rows, n_rows, 0, &b->answer_offsets, &b->answers, &b->answers_dense);
    if (rc == AC_OK)
        rc = fill_answers(list, rows, n_rows, 1, &b->wrong_offsets, &b->wrong_answers,
                          &b->wrong_dense);
    if (rc != AC_OK) return rc;
    /* per-pair divergence, minimum over rows */
    size_t div = T;
    for (size_t r = 0; r < n_rows; r++) {
        size_t t = 0;
        const size_t o = r * T;
        while (t < T && b->clean[o + t] == b->corrupt[o + t] &&
               b->clean_mask[o + t] == b->corrupt_mask[o + t])
            t++;
        if (t < div) div = t;
    }
    b->diverge_idx = div;
    b->key = ac_batch_key(n_rows, T, b->clean, b->corrupt, b->clean_mask, b->corrupt_mask);
    return AC_OK;
}

static size_t common_prefix_len(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Cut rows[0..n_rows) into batches of `batch_size`, fill `s`. */
static int build_split(const ac__prompt_list *list, const size_t *rows, size_t n_rows,
                       size_t batch_size, const ac_dataset_options *opts, ac_dataset *ds,
                       ac_split *s, ac_error *err) {
    memset(s, 0, sizeof *s);
    s->batch_size = batch_size;
    size_t n_full = n_rows / batch_size, rest = n_rows % batch_size;
    size_t n_batches = n_full + (rest && !opts->drop_last ? 1 : 0);
    s->n_dropped = opts->drop_last ? rest : 0;
    s->n_prompts = n_rows - s->n_dropped;
    if (n_batches) {
        s->batches = ac_calloc(n_batches, sizeof *s->batches);
        if (!s->batches)
            return ac_error_set(err, AC_ERR_NOMEM, ds->paths[0], "out of memory (batches)");
    }
    size_t min_T = 0;
    int any_padded = 0;
    for (size_t k = 0; k < n_batches; k++) {
        const size_t *brows = rows + k * batch_size;
        size_t bn = k < n_full ? batch_size : rest;
        if (!opts->pad) {
            int rc = check_unpadded_batch(list, brows, bn, ds, err);
            if (rc != AC_OK) return rc;
        }
        int rc = build_batch(list, brows, bn, ds->pad_id, &s->batches[k]);
        s->n_batches = k + 1; /* so split_free releases a partly built batch */
        if (rc == AC_ERR_RANGE)
            return ac_error_set(err, rc, ds->paths[0],
                                "batch %zu holds more than %d answers or wrong answers", k,
                                (int)INT32_MAX);
        if (rc != AC_OK)
            return ac_error_set(err, rc, ds->paths[0], "out of memory building batch %zu", k);
        const ac_batch *b = &s->batches[k];
        if (k == 0 || b->seq_len < min_T) min_T = b->seq_len;
        if (b->padded) any_padded = 1;
        if (k == 0 || b->diverge_idx < s->pair_diverge_idx) s->pair_diverge_idx = b->diverge_idx;
        s->last_batch_size = bn;
    }
    /* prefix common to every clean and corrupt prompt in the batches */
    if (s->n_prompts) {
        const ac__prompt *p0 = &list->items[rows[0]];
        size_t prefix = p0->n_clean;
        for (size_t r = 0; r < s->n_prompts; r++) {
            const ac__prompt *p = &list->items[rows[r]];
            for (int c = 0; c < 2; c++) {
                size_t l =
                    common_prefix_len(p0->clean, p0->n_clean, seq_of(p, c), seq_len_of(p, c));
                if (l < prefix) prefix = l;
            }
        }
        s->common_prefix = prefix;
        if (!any_padded && min_T > 0) s->cacheable_prefix = prefix < min_T - 1 ? prefix : min_T - 1;
    }
    return AC_OK;
}

/* ---- loading ---------------------------------------------------------------------- */

static int resolve_sizes(const ac_dataset_options *opts, size_t n, size_t *n_train, size_t *n_test,
                         const char *path, ac_error *err) {
    size_t tr = opts->train_size, te = opts->test_size;
    if (tr == AC_DATASET_ALL && te == AC_DATASET_ALL)
        return ac_error_set(err, AC_ERR_ARG, path,
                            "train_size and test_size cannot both be \"all\"");
    if (tr == AC_DATASET_ALL) tr = te <= n ? n - te : 0;
    if (te == AC_DATASET_ALL) te = tr <= n ? n - tr : 0;
    size_t total;
    if (ac_add_size(tr, te, &total) || total > n)
        return ac_error_set(err, AC_ERR_RANGE, path,
                            "train_size %zu + test_size %zu is more than the %zu prompts in "
                            "the dataset",
                            tr, te, n);
    *n_train = tr;
    *n_test = te;
    return AC_OK;
}

int ac_dataset_load(ac_dataset **out, const char *const *paths, size_t n_paths,
                    const ac_tokenizer *tok, const ac_dataset_options *opts_in, ac_error *err) {
    *out = NULL;
    ac_dataset_options opts;
    if (opts_in)
        opts = *opts_in;
    else
        ac_dataset_options_default(&opts);
    if (!paths || n_paths == 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "no dataset files given");
    for (size_t i = 0; i < n_paths; i++)
        if (!paths[i]) return ac_error_set(err, AC_ERR_ARG, NULL, "dataset path %zu is NULL", i);
    const char *first = paths[0];
    if (opts.train_batch_size == 0 || opts.test_batch_size == 0)
        return ac_error_set(err, AC_ERR_ARG, first,
                            "batch sizes must be positive (train %zu, test %zu)",
                            opts.train_batch_size, opts.test_batch_size);
    if (opts.vocab_size < 0)
        return ac_error_set(err, AC_ERR_ARG, first, "vocab_size %d is negative",
                            (int)opts.vocab_size);

    int32_t tok_vocab, tok_bos;
    ac__dataset_tokenizer_info(tok, &tok_vocab, &tok_bos);
    ac__parse_ctx ctx = {.tok = tok, .vocab_size = opts.vocab_size, .bos_id = -1};
    if (ctx.vocab_size == 0) ctx.vocab_size = tok_vocab;
    int32_t bos = opts.bos_id >= 0 ? opts.bos_id : tok_bos;
    if (opts.prepend_bos) {
        if (bos < 0)
            return ac_error_set(err, AC_ERR_ARG, first,
                                "prepend_bos needs a BOS token id: load a tokenizer that has "
                                "one, set bos_id, or turn prepend_bos off");
        if (ctx.vocab_size > 0 && bos >= ctx.vocab_size)
            return ac_error_set(err, AC_ERR_RANGE, first,
                                "BOS id %d outside the vocabulary [0, %d)", (int)bos,
                                (int)ctx.vocab_size);
        ctx.bos_id = bos;
    }

    ac_dataset *ds = ac_calloc(1, sizeof *ds);
    if (!ds) return ac_error_set(err, AC_ERR_NOMEM, first, "out of memory");
    ac__prompt_list list = {0};
    size_t *order = NULL;
    int rc = AC_OK;

    ds->prepend_bos = opts.prepend_bos ? 1 : 0;
    ds->bos_id = bos;
    ds->pad_id = opts.pad_id >= 0 ? opts.pad_id : (bos >= 0 ? bos : 0);
    if (ctx.vocab_size > 0 && ds->pad_id >= ctx.vocab_size) {
        rc = ac_error_set(err, AC_ERR_RANGE, first, "pad id %d outside the vocabulary [0, %d)",
                          (int)ds->pad_id, (int)ctx.vocab_size);
        goto fail;
    }
    ds->paths = ac_calloc(n_paths, sizeof *ds->paths);
    ds->file_first_prompt = ac_calloc(n_paths + 1, sizeof *ds->file_first_prompt);
    if (!ds->paths || !ds->file_first_prompt) {
        rc = ac_error_set(err, AC_ERR_NOMEM, first, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_paths; i++) {
        ds->paths[i] = ac_strdup(paths[i]);
        ds->n_paths = i + 1;
        if (!ds->paths[i]) {
            rc = ac_error_set(err, AC_ERR_NOMEM, first, "out of memory");
            goto fail;
        }
    }

    for (size_t f = 0; f < n_paths; f++) {
        ds->file_first_prompt[f] = list.n;
        rc = ac__dataset_parse_file(paths[f], f, &ctx, &list, ds, err);
        if (rc != AC_OK) goto fail;
    }
    ds->file_first_prompt[n_paths] = list.n;
    ds->n_loaded = list.n;

    if (opts.fixed_length) {
        rc = check_fixed_length(&list, ds, err);
        if (rc != AC_OK) goto fail;
        ds->seq_len = list.items[0].n_clean;
    }

    size_t n_train = 0, n_test = 0;
    rc = resolve_sizes(&opts, list.n, &n_train, &n_test, first, err);
    if (rc != AC_OK) goto fail;
    ds->n_unused = list.n - n_train - n_test;

    order = ac_calloc(list.n, sizeof *order);
    if (!order) {
        rc = ac_error_set(err, AC_ERR_NOMEM, first, "out of memory");
        goto fail;
    }
    if (opts.shuffle) {
        rc = ac_dataset_shuffle_order(order, list.n, opts.seed, err);
        if (rc != AC_OK) goto fail;
    } else {
        for (size_t i = 0; i < list.n; i++)
            order[i] = i;
    }

    rc = build_split(&list, order, n_train, opts.train_batch_size, &opts, ds, &ds->train, err);
    if (rc != AC_OK) goto fail;
    rc = build_split(&list, order + n_train, n_test, opts.test_batch_size, &opts, ds, &ds->test,
                     err);
    if (rc != AC_OK) goto fail;

    ac_free(order);
    ac__prompt_list_free(&list);
    *out = ds;
    return AC_OK;
fail:
    ac_free(order);
    ac__prompt_list_free(&list);
    ac_dataset_free(ds);
    return rc;
}

/* ---- summary ---------------------------------------------------------------------- */

static size_t row_len(const uint8_t *mask, size_t T) {
    size_t n = 0;
    for (size_t t = 0; t < T; t++)
        n += mask[t];
    return n;
}

static void summarize_split(const ac_split *s, ac_split_summary *out) {
    memset(out, 0, sizeof *out);
    out->n_prompts = s->n_prompts;
    out->n_batches = s->n_batches;
    out->batch_size = s->batch_size;
    out->last_batch_size = s->last_batch_size;
    out->n_dropped = s->n_dropped;
    out->common_prefix = s->common_prefix;
    out->cacheable_prefix = s->cacheable_prefix;
    out->pair_diverge_idx = s->pair_diverge_idx;
    int first = 1;
    for (size_t k = 0; k < s->n_batches; k++) {
        const ac_batch *b = &s->batches[k];
        if (b->padded) out->n_padded_batches++;
        for (size_t r = 0; r < b->batch_size; r++) {
            size_t lc = row_len(b->clean_mask + r * b->seq_len, b->seq_len);
            size_t lk = row_len(b->corrupt_mask + r * b->seq_len, b->seq_len);
            size_t lo = lc < lk ? lc : lk, hi = lc < lk ? lk : lc;
            size_t na = (size_t)(b->answer_offsets[r + 1] - b->answer_offsets[r]);
            size_t nw = (size_t)(b->wrong_offsets[r + 1] - b->wrong_offsets[r]);
            if (first || lo < out->min_len) out->min_len = lo;
            if (first || hi > out->max_len) out->max_len = hi;
            if (first || na < out->min_answers) out->min_answers = na;
            if (first || na > out->max_answers) out->max_answers = na;
            if (first || nw < out->min_wrong) out->min_wrong = nw;
            if (first || nw > out->max_wrong) out->max_wrong = nw;
            first = 0;
        }
    }
    out->answers_dense = out->min_answers == out->max_answers;
    out->wrong_dense = out->min_wrong == out->max_wrong;
}

void ac_dataset_summarize(const ac_dataset *ds, ac_dataset_summary *sum) {
    memset(sum, 0, sizeof *sum);
    sum->n_files = ds->n_paths;
    sum->n_loaded = ds->n_loaded;
    sum->n_used = ds->train.n_prompts + ds->test.n_prompts;
    sum->n_dropped = ds->train.n_dropped + ds->test.n_dropped;
    sum->n_unused = ds->n_unused;
    sum->seq_len = ds->seq_len;
    sum->prepend_bos = ds->prepend_bos;
    sum->bos_id = ds->bos_id;
    sum->pad_id = ds->pad_id;
    sum->n_seq_labels = ds->n_seq_labels;
    sum->n_word_idxs = ds->n_word_idxs;
    summarize_split(&ds->train, &sum->train);
    summarize_split(&ds->test, &sum->test);
}
