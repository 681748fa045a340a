/* Prompt-pair datasets: loading, BOS, shuffle/split, batching with left padding, CSR
 * answers, divergence positions, batch keys, the summary. Error cases are in
 * test_dataset_errors.c. */
#include "ac_test.h"

#include <stdio.h>
#include <string.h>

static const char *data_file(const char *name) {
    static char buf[4][1024];
    static int k = 0;
    char *p = buf[k++ & 3];
    snprintf(p, 1024, "%s/tests/data/datasets/%s", ac_test_source_dir(), name);
    return p;
}

/* Options for the id-form test files: BOS 1, pad 0, vocabulary 200, no shuffle. */
static ac_dataset_options id_options(void) {
    ac_dataset_options o = AC_DATASET_OPTIONS_INIT;
    o.bos_id = 1;
    o.pad_id = 0;
    o.vocab_size = 200;
    o.shuffle = 0;
    return o;
}

static ac_dataset *load_one(const char *name, const ac_dataset_options *o) {
    const char *paths[1] = {data_file(name)};
    ac_dataset *ds = NULL;
    ac_error err;
    ac_error_clear(&err);
    int rc = ac_dataset_load(&ds, paths, 1, NULL, o, &err);
    assert_ac_ok(rc, &err);
    assert_non_null(ds);
    return ds;
}

static void assert_i32s(const int32_t *got, const int32_t *want, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            print_error("element %zu: got %d, want %d\n", i, (int)got[i], (int)want[i]);
            fail();
        }
    }
}

static void assert_u8s(const uint8_t *got, const uint8_t *want, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            print_error("mask element %zu: got %d, want %d\n", i, got[i], want[i]);
            fail();
        }
    }
}

static void assert_sizes(const size_t *got, const size_t *want, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            print_error("element %zu: got %zu, want %zu\n", i, got[i], want[i]);
            fail();
        }
    }
}

static void test_defaults(void **state) {
    (void)state;
    ac_dataset_options o;
    ac_dataset_options_default(&o);
    assert_int_equal(o.prepend_bos, 1);
    assert_int_equal(o.bos_id, -1);
    assert_int_equal(o.pad_id, -1);
    assert_int_equal(o.train_batch_size, 32);
    assert_int_equal(o.test_batch_size, 32);
    assert_int_equal(o.train_size, 128);
    assert_int_equal(o.test_size, 128);
    assert_int_equal(o.shuffle, 1);
    assert_int_equal(o.seed, 42);
    assert_int_equal(o.fixed_length, 0);
    assert_int_equal(o.pad, 1);
    assert_int_equal(o.drop_last, 0);
    assert_int_equal(o.vocab_size, 0);
}

/* small_ids.json, no shuffle, train 3 / test 2, batch 2: every array checked. */
static void test_exact_batches(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = 3;
    o.test_size = 2;
    o.train_batch_size = 2;
    o.test_batch_size = 2;
    ac_dataset *ds = load_one("small_ids.json", &o);
    assert_int_equal(ds->n_loaded, 5);
    assert_int_equal(ds->n_unused, 0);
    assert_int_equal(ds->bos_id, 1);
    assert_int_equal(ds->pad_id, 0);
    assert_int_equal(ds->seq_len, 0);

    const ac_split *tr = ac_dataset_split(ds, AC_SPLIT_TRAIN);
    assert_ptr_equal(tr, &ds->train);
    assert_int_equal(tr->n_batches, 2);
    assert_int_equal(tr->n_prompts, 3);
    assert_int_equal(tr->last_batch_size, 1);
    assert_int_equal(tr->n_dropped, 0);

    /* batch 0: prompts 0 (5 tokens with BOS) and 1 (4 tokens, one left pad) */
    const ac_batch *b = &tr->batches[0];
    assert_int_equal(b->batch_size, 2);
    assert_int_equal(b->seq_len, 5);
    const int32_t clean0[] = {1, 10, 11, 12, 13, 0, 1, 10, 15, 16};
    const int32_t corrupt0[] = {1, 10, 11, 14, 13, 0, 1, 10, 17, 16};
    const uint8_t mask0[] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1};
    assert_i32s(b->clean, clean0, 10);
    assert_i32s(b->corrupt, corrupt0, 10);
    assert_u8s(b->clean_mask, mask0, 10);
    assert_u8s(b->corrupt_mask, mask0, 10);
    const int32_t off0[] = {0, 1, 2};
    const int32_t ans0[] = {20, 22}, wrong0[] = {21, 23};
    assert_i32s(b->answer_offsets, off0, 3);
    assert_i32s(b->wrong_offsets, off0, 3);
    assert_i32s(b->answers, ans0, 2);
    assert_i32s(b->wrong_answers, wrong0, 2);
    assert_int_equal(b->answers_dense, 1);
    assert_int_equal(b->wrong_dense, 1);
    assert_int_equal(b->diverge_idx, 3); /* both rows differ at batch position 3 */
    assert_int_equal(b->padded, 1);
    const size_t idx0[] = {0, 1};
    assert_sizes(b->prompt_index, idx0, 2);
    /* pinned FNV-1a value (computed independently in Python) */
    assert_true(b->key == UINT64_C(0x2d4ab1c506dba7e6));
    assert_true(b->key == ac_batch_key(2, 5, clean0, corrupt0, mask0, mask0));

    /* batch 1: prompt 2 alone; clean 3 tokens, corrupt 4: clean padded by one */
    b = &tr->batches[1];
    assert_int_equal(b->batch_size, 1);
    assert_int_equal(b->seq_len, 4);
    const int32_t clean1[] = {0, 1, 10, 11}, corrupt1[] = {1, 10, 12, 13};
    const uint8_t cmask1[] = {0, 1, 1, 1}, kmask1[] = {1, 1, 1, 1};
    assert_i32s(b->clean, clean1, 4);
    assert_i32s(b->corrupt, corrupt1, 4);
    assert_u8s(b->clean_mask, cmask1, 4);
    assert_u8s(b->corrupt_mask, kmask1, 4);
    const int32_t aoff1[] = {0, 2}, woff1[] = {0, 1};
    const int32_t ans1[] = {24, 25}, wrong1[] = {26};
    assert_i32s(b->answer_offsets, aoff1, 2);
    assert_i32s(b->answers, ans1, 2);
    assert_i32s(b->wrong_offsets, woff1, 2);
    assert_i32s(b->wrong_answers, wrong1, 1);
    assert_int_equal(b->diverge_idx, 0);

    /* train split: prompts agree on [BOS, 10] only */
    assert_int_equal(tr->common_prefix, 2);
    assert_int_equal(tr->pair_diverge_idx, 0);
    assert_int_equal(tr->cacheable_prefix, 0); /* padded batches */

    /* test split: prompts 3 and 4 with ragged wrong answers (3 and 0) */
    const ac_split *te = ac_dataset_split(ds, AC_SPLIT_TEST);
    assert_int_equal(te->n_batches, 1);
    b = &te->batches[0];
    assert_int_equal(b->seq_len, 6);
    const int32_t clean2[] = {1, 10, 11, 12, 13, 14, 0, 0, 1, 10, 18, 12};
    const int32_t corrupt2[] = {1, 10, 11, 12, 13, 15, 0, 0, 1, 10, 18, 19};
    const uint8_t mask2[] = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
    assert_i32s(b->clean, clean2, 12);
    assert_i32s(b->corrupt, corrupt2, 12);
    assert_u8s(b->clean_mask, mask2, 12);
    assert_u8s(b->corrupt_mask, mask2, 12);
    const int32_t aoff2[] = {0, 1, 2}, woff2[] = {0, 3, 3};
    const int32_t ans2[] = {27, 31}, wrong2[] = {28, 29, 30};
    assert_i32s(b->answer_offsets, aoff2, 3);
    assert_i32s(b->answers, ans2, 2);
    assert_i32s(b->wrong_offsets, woff2, 3);
    assert_i32s(b->wrong_answers, wrong2, 3);
    assert_int_equal(b->answers_dense, 1);
    assert_int_equal(b->wrong_dense, 0);
    assert_int_equal(b->diverge_idx, 5);
    /* issue #17: per-pair divergence 5, but the prompts only agree on 2 positions */
    assert_int_equal(te->pair_diverge_idx, 5);
    assert_int_equal(te->common_prefix, 2);
    assert_int_equal(te->cacheable_prefix, 0);
    const size_t idx2[] = {3, 4};
    assert_sizes(b->prompt_index, idx2, 2);
    ac_dataset_free(ds);
}

/* The default pad id is the BOS id. */
static void test_pad_defaults_to_bos(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.pad_id = -1;
    o.bos_id = 7;
    o.train_size = 2;
    o.test_size = 0;
    ac_dataset *ds = load_one("small_ids.json", &o);
    assert_int_equal(ds->pad_id, 7);
    const ac_batch *b = &ds->train.batches[0];
    assert_int_equal(b->clean[5], 7); /* padding */
    assert_int_equal(b->clean[6], 7); /* BOS */
    assert_int_equal(b->clean_mask[5], 0);
    assert_int_equal(b->clean_mask[6], 1);
    assert_int_equal(ds->test.n_batches, 0);
    ac_dataset_free(ds);
}

static void test_bos_shifts_labels(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = AC_DATASET_ALL;
    o.test_size = 0;
    ac_dataset *ds = load_one("small_ids.json", &o);
    assert_int_equal(ds->prepend_bos, 1);
    assert_int_equal(ds->n_seq_labels, 5);
    assert_string_equal(ds->seq_labels[0], "<|BOS|>");
    assert_string_equal(ds->seq_labels[1], "A");
    assert_string_equal(ds->seq_labels[4], "D");
    assert_int_equal(ds->n_word_idxs, 2);
    assert_string_equal(ds->word_idx_names[0], "subject");
    assert_int_equal(ds->word_idx_values[0], 2);
    long pos = -1;
    ac_error err;
    assert_ac_ok(ac_dataset_word_idx(ds, "end", &pos, &err), &err);
    assert_int_equal(pos, 4);
    assert_int_equal(ac_dataset_word_idx(ds, "nope", &pos, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "\"nope\""));
    assert_int_equal(ds->train.batches[0].seq_len, 6);
    assert_int_equal(ds->train.batches[0].clean[0], 0); /* prompt 0 padded by one */
    assert_int_equal(ds->train.batches[0].clean[1], 1); /* then BOS */
    ac_dataset_free(ds);

    o.prepend_bos = 0;
    o.bos_id = -1;
    ds = load_one("small_ids.json", &o);
    assert_int_equal(ds->prepend_bos, 0);
    assert_int_equal(ds->bos_id, -1);
    assert_int_equal(ds->pad_id, 0);
    assert_int_equal(ds->n_seq_labels, 4);
    assert_string_equal(ds->seq_labels[0], "A");
    assert_int_equal(ds->word_idx_values[0], 1);
    assert_ac_ok(ac_dataset_word_idx(ds, "end", &pos, &err), &err);
    assert_int_equal(pos, 3);
    const ac_batch *b = &ds->train.batches[0];
    assert_int_equal(b->seq_len, 5);  /* prompt 3: five tokens, no BOS */
    assert_int_equal(b->clean[0], 0); /* prompt 0 (4 tokens) padded by one */
    assert_int_equal(b->clean[1], 10);
    ac_dataset_free(ds);
}

/* Python: x = list(range(40)); random.seed(s); random.shuffle(x) */
static const size_t perm40_seed42[40] = {9,  3,  10, 36, 25, 24, 30, 11, 4,  32, 21, 28, 23, 18,
                                         12, 34, 35, 26, 13, 22, 20, 31, 37, 29, 19, 16, 39, 33,
                                         2,  0,  38, 27, 5,  6,  8,  14, 15, 17, 1,  7};
static const size_t perm40_seed0[40] = {0,  27, 12, 21, 29, 15, 38, 34, 1,  20, 7,  5, 10, 13,
                                        14, 37, 22, 39, 23, 17, 8,  35, 3,  33, 9,  4, 36, 6,
                                        28, 18, 11, 30, 19, 25, 31, 32, 16, 2,  26, 24};
static const size_t perm40_seed_big[40] = {16, 31, 11, 6,  27, 9,  0,  19, 35, 15, 34, 26, 24, 23,
                                           39, 18, 13, 22, 36, 14, 25, 37, 3,  12, 28, 30, 4,  21,
                                           20, 29, 7,  8,  5,  10, 2,  38, 1,  17, 33, 32};

static void test_shuffle_pinned(void **state) {
    (void)state;
    size_t perm[1000];
    ac_error err;
    assert_ac_ok(ac_dataset_shuffle_order(perm, 40, 42, &err), &err);
    assert_sizes(perm, perm40_seed42, 40);
    assert_ac_ok(ac_dataset_shuffle_order(perm, 40, 0, &err), &err);
    assert_sizes(perm, perm40_seed0, 40);
    /* a seed over 32 bits seeds with two key words */
    assert_ac_ok(ac_dataset_shuffle_order(perm, 40, (UINT64_C(1) << 40) + 5, &err), &err);
    assert_sizes(perm, perm40_seed_big, 40);
    /* long enough to regenerate the MT state: first and last 8 of range(1000), seed 42 */
    assert_ac_ok(ac_dataset_shuffle_order(perm, 1000, 42, &err), &err);
    const size_t head[8] = {776, 507, 895, 922, 33, 483, 85, 750};
    const size_t tail[8] = {142, 228, 250, 281, 759, 25, 114, 654};
    assert_sizes(perm, head, 8);
    assert_sizes(perm + 992, tail, 8);
    /* tiny cases */
    assert_ac_ok(ac_dataset_shuffle_order(perm, 1, 42, &err), &err);
    assert_int_equal(perm[0], 0);
    assert_ac_ok(ac_dataset_shuffle_order(perm, 0, 42, &err), &err);
}

/* The loader uses that order: the batches' prompt indices are the permutation. */
static void test_shuffle_split_order(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.shuffle = 1;
    o.seed = 42;
    o.train_size = 16;
    o.test_size = 16;
    o.train_batch_size = 4;
    o.test_batch_size = 8;
    ac_dataset *ds = load_one("many.json", &o);
    assert_int_equal(ds->n_loaded, 40);
    assert_int_equal(ds->n_unused, 8);
    assert_int_equal(ds->train.n_batches, 4);
    assert_int_equal(ds->test.n_batches, 2);
    for (size_t k = 0; k < 4; k++)
        assert_sizes(ds->train.batches[k].prompt_index, perm40_seed42 + 4 * k, 4);
    for (size_t k = 0; k < 2; k++)
        assert_sizes(ds->test.batches[k].prompt_index, perm40_seed42 + 16 + 8 * k, 8);
    /* row content follows the index: prompt i's clean is [BOS, 3, 4 + i%5, 10 + i] */
    const ac_batch *b = &ds->train.batches[0];
    assert_int_equal(b->seq_len, 4);
    assert_int_equal(b->clean[3], 10 + 9);
    assert_int_equal(b->corrupt[3], 60 + 9);
    assert_int_equal(b->answers[0], 100 + 9 % 3);
    assert_int_equal(b->padded, 0);
    /* every prompt agrees on [BOS, 3]; no padding, so a cache may hold both */
    assert_int_equal(ds->train.common_prefix, 2);
    assert_int_equal(ds->train.cacheable_prefix, 2);
    assert_int_equal(ds->train.pair_diverge_idx, 3);
    ac_dataset_free(ds);
}

static void collect_keys(const ac_dataset *ds, uint64_t *keys, size_t *n) {
    *n = 0;
    for (size_t k = 0; k < ds->train.n_batches; k++)
        keys[(*n)++] = ds->train.batches[k].key;
    for (size_t k = 0; k < ds->test.n_batches; k++)
        keys[(*n)++] = ds->test.batches[k].key;
}

static void test_seed_determinism(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.shuffle = 1;
    o.train_size = 20;
    o.test_size = 20;
    o.train_batch_size = 5;
    o.test_batch_size = 5;
    uint64_t k1[16], k2[16], k3[16];
    size_t n1, n2, n3;
    o.seed = 0;
    ac_dataset *a = load_one("many.json", &o);
    ac_dataset *b = load_one("many.json", &o);
    o.seed = 1;
    ac_dataset *c = load_one("many.json", &o);
    collect_keys(a, k1, &n1);
    collect_keys(b, k2, &n2);
    collect_keys(c, k3, &n3);
    assert_int_equal(n1, 8);
    assert_int_equal(n2, 8);
    assert_int_equal(n3, 8);
    for (size_t i = 0; i < n1; i++)
        assert_true(k1[i] == k2[i]);
    for (size_t k = 0; k < a->train.n_batches; k++)
        assert_sizes(a->train.batches[k].prompt_index, b->train.batches[k].prompt_index, 5);
    int differ = 0;
    for (size_t i = 0; i < n1; i++)
        differ += k1[i] != k3[i];
    assert_true(differ > 0);
    int order_differs = 0;
    for (size_t r = 0; r < 5; r++)
        order_differs += a->train.batches[0].prompt_index[r] != c->train.batches[0].prompt_index[r];
    assert_true(order_differs > 0);
    /* all keys within one load are distinct */
    for (size_t i = 0; i < n1; i++)
        for (size_t j = i + 1; j < n1; j++)
            assert_true(k1[i] != k1[j]);
    ac_dataset_free(a);
    ac_dataset_free(b);
    ac_dataset_free(c);
}

static void test_key_depends_on_content(void **state) {
    (void)state;
    const int32_t c[] = {1, 2, 3, 4}, k[] = {1, 2, 3, 5};
    const uint8_t m[] = {1, 1, 1, 1}, m2[] = {0, 1, 1, 1};
    uint64_t base = ac_batch_key(2, 2, c, k, m, m);
    assert_true(base != ac_batch_key(1, 4, c, k, m, m));  /* shape */
    assert_true(base != ac_batch_key(2, 2, k, c, m, m));  /* clean/corrupt swapped */
    assert_true(base != ac_batch_key(2, 2, c, k, m2, m)); /* mask */
    assert_true(base == ac_batch_key(2, 2, c, k, m, m));
    /* FNV-1a 64 of the empty stream would be the offset basis; B=T=0 hashes 16 zero bytes */
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int i = 0; i < 16; i++)
        h = h * UINT64_C(0x100000001b3);
    assert_true(ac_batch_key(0, 0, c, k, m, m) == h);
}

/* Issue #17: per-pair prefixes (4 + BOS) are longer than the prefix every prompt shares. */
static void test_split_divergence(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = 4;
    o.test_size = 0;
    o.train_batch_size = 2;
    ac_dataset *ds = load_one("divergence.json", &o);
    const ac_split *s = &ds->train;
    assert_int_equal(s->n_batches, 2);
    assert_int_equal(s->batches[0].diverge_idx, 5);
    assert_int_equal(s->batches[1].diverge_idx, 4); /* prompt 2's pair differs at 4 */
    assert_int_equal(s->pair_diverge_idx, 4);
    /* prompts agree on [BOS, 5, 6] only (prompt 1 has 2 where the others have 7) */
    assert_int_equal(s->common_prefix, 3);
    assert_int_equal(s->cacheable_prefix, 3);
    for (size_t k = 0; k < 2; k++)
        assert_int_equal(s->batches[k].padded, 0);
    ac_dataset_free(ds);

    /* train = prompt 0 alone: its pair shares [BOS 5 6 7 8]; test = prompts 1-3 */
    o.train_size = 1;
    o.test_size = 3;
    ds = load_one("divergence.json", &o);
    assert_int_equal(ds->train.common_prefix, 5);
    assert_int_equal(ds->train.cacheable_prefix, 5);
    assert_int_equal(ds->test.common_prefix, 3);
    assert_int_equal(ds->test.pair_diverge_idx, 4);
    ac_dataset_free(ds);
}

/* A split whose prompts are all identical: everything is common, the cache keeps T-1. */
static void test_cacheable_capped(void **state) {
    (void)state;
    const char *path = ac_test_path(ac_test_tmpdir(), "same.json");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"prompts\": [{\"clean\": [4, 5], \"corrupt\": [4, 5], \"answers\": [6], "
          "\"wrong_answers\": [7]}, {\"clean\": [4, 5], \"corrupt\": [4, 5], \"answers\": [6], "
          "\"wrong_answers\": [7]}]}",
          f);
    fclose(f);
    ac_dataset_options o = id_options();
    o.train_size = 2;
    o.test_size = 0;
    const char *paths[1] = {path};
    ac_dataset *ds = NULL;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, paths, 1, NULL, &o, &err), &err);
    assert_int_equal(ds->train.batches[0].diverge_idx, 3); /* identical pairs: T */
    assert_int_equal(ds->train.common_prefix, 3);
    assert_int_equal(ds->train.cacheable_prefix, 2);
    ac_dataset_free(ds);
}

static void test_multiple_files(void **state) {
    (void)state;
    const char *paths[2] = {data_file("small_ids.json"), data_file("extra.json")};
    ac_dataset_options o = id_options();
    o.train_size = AC_DATASET_ALL;
    o.test_size = 2;
    o.train_batch_size = 8;
    ac_dataset *ds = NULL;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, paths, 2, NULL, &o, &err), &err);
    assert_int_equal(ds->n_loaded, 7);
    assert_int_equal(ds->n_paths, 2);
    assert_int_equal(ds->train.n_prompts, 5);
    assert_int_equal(ds->test.n_prompts, 2);
    /* seq_labels and word_idxs come from the first file only */
    assert_int_equal(ds->n_seq_labels, 5);
    assert_int_equal(ds->n_word_idxs, 2);
    /* the test split is the second file's prompts, in order */
    const ac_batch *b = &ds->test.batches[0];
    const size_t idx[] = {5, 6};
    assert_sizes(b->prompt_index, idx, 2);
    assert_int_equal(b->clean[1], 40);
    assert_int_equal(b->clean[2], 41);
    const int32_t aoff[] = {0, 1, 3};
    const int32_t ans[] = {43, 47, 48};
    assert_i32s(b->answer_offsets, aoff, 3);
    assert_i32s(b->answers, ans, 3);
    assert_int_equal(b->answers_dense, 0);
    const char *src = NULL;
    size_t in_file = 99;
    assert_int_equal(ac_dataset_prompt_source(ds, 6, &src, &in_file), AC_OK);
    assert_string_equal(src, paths[1]);
    assert_int_equal(in_file, 1);
    assert_int_equal(ac_dataset_prompt_source(ds, 4, &src, &in_file), AC_OK);
    assert_string_equal(src, paths[0]);
    assert_int_equal(in_file, 4);
    assert_int_equal(ac_dataset_prompt_source(ds, 7, &src, &in_file), AC_ERR_RANGE);
    ac_dataset_free(ds);
}

static void test_last_batch_kept_or_dropped(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = 10;
    o.test_size = 7;
    o.train_batch_size = 4;
    o.test_batch_size = 8;
    ac_dataset *ds = load_one("many.json", &o);
    assert_int_equal(ds->train.n_batches, 3);
    assert_int_equal(ds->train.last_batch_size, 2);
    assert_int_equal(ds->train.batches[2].batch_size, 2);
    assert_int_equal(ds->train.n_prompts, 10);
    assert_int_equal(ds->train.n_dropped, 0);
    assert_int_equal(ds->test.n_batches, 1);
    assert_int_equal(ds->test.last_batch_size, 7);
    ac_dataset_summary sum;
    ac_dataset_summarize(ds, &sum);
    assert_int_equal(sum.n_used, 17);
    assert_int_equal(sum.n_dropped, 0);
    assert_int_equal(sum.n_unused, 23);
    ac_dataset_free(ds);

    o.drop_last = 1;
    ds = load_one("many.json", &o);
    assert_int_equal(ds->train.n_batches, 2);
    assert_int_equal(ds->train.last_batch_size, 4);
    assert_int_equal(ds->train.n_prompts, 8);
    assert_int_equal(ds->train.n_dropped, 2);
    assert_int_equal(ds->test.n_batches, 0);
    assert_int_equal(ds->test.n_dropped, 7);
    assert_int_equal(ds->test.last_batch_size, 0);
    assert_int_equal(ds->test.common_prefix, 0);
    ac_dataset_summarize(ds, &sum);
    assert_int_equal(sum.n_used, 8);
    assert_int_equal(sum.n_dropped, 9);
    assert_int_equal(sum.test.n_batches, 0);
    assert_int_equal(sum.test.min_len, 0);
    ac_dataset_free(ds);
}

static void test_sizes_all(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = 30;
    o.test_size = AC_DATASET_ALL;
    ac_dataset *ds = load_one("many.json", &o);
    assert_int_equal(ds->train.n_prompts, 30);
    assert_int_equal(ds->test.n_prompts, 10);
    assert_int_equal(ds->n_unused, 0);
    assert_int_equal(ds->train.n_batches, 1);
    assert_int_equal(ds->train.batches[0].batch_size, 30);
    ac_dataset_free(ds);
}

static void test_fixed_length(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.fixed_length = 1;
    o.train_size = 2;
    o.test_size = 2;
    ac_dataset *ds = load_one("divergence.json", &o);
    assert_int_equal(ds->seq_len, 6);
    assert_int_equal(ds->train.batches[0].seq_len, 6);
    ac_dataset_free(ds);
}

/* pad = 0 accepts batches whose prompts have equal lengths. */
static void test_no_padding_equal_lengths(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.pad = 0;
    o.train_size = 4;
    o.test_size = 0;
    ac_dataset *ds = load_one("divergence.json", &o);
    assert_int_equal(ds->train.batches[0].padded, 0);
    ac_dataset_free(ds);
}

static void test_summary(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = 3;
    o.test_size = 2;
    o.train_batch_size = 2;
    o.test_batch_size = 2;
    ac_dataset *ds = load_one("small_ids.json", &o);
    ac_dataset_summary s;
    ac_dataset_summarize(ds, &s);
    assert_int_equal(s.n_files, 1);
    assert_int_equal(s.n_loaded, 5);
    assert_int_equal(s.n_used, 5);
    assert_int_equal(s.n_unused, 0);
    assert_int_equal(s.n_dropped, 0);
    assert_int_equal(s.seq_len, 0);
    assert_int_equal(s.prepend_bos, 1);
    assert_int_equal(s.bos_id, 1);
    assert_int_equal(s.pad_id, 0);
    assert_int_equal(s.n_seq_labels, 5);
    assert_int_equal(s.n_word_idxs, 2);
    assert_int_equal(s.train.n_prompts, 3);
    assert_int_equal(s.train.n_batches, 2);
    assert_int_equal(s.train.batch_size, 2);
    assert_int_equal(s.train.last_batch_size, 1);
    assert_int_equal(s.train.n_padded_batches, 2);
    assert_int_equal(s.train.min_len, 3);
    assert_int_equal(s.train.max_len, 5);
    assert_int_equal(s.train.min_answers, 1);
    assert_int_equal(s.train.max_answers, 2);
    assert_int_equal(s.train.answers_dense, 0);
    assert_int_equal(s.train.min_wrong, 1);
    assert_int_equal(s.train.max_wrong, 1);
    assert_int_equal(s.train.wrong_dense, 1);
    assert_int_equal(s.train.common_prefix, 2);
    assert_int_equal(s.train.pair_diverge_idx, 0);
    assert_int_equal(s.test.min_len, 4);
    assert_int_equal(s.test.max_len, 6);
    assert_int_equal(s.test.min_wrong, 0);
    assert_int_equal(s.test.max_wrong, 3);
    assert_int_equal(s.test.wrong_dense, 0);
    assert_int_equal(s.test.answers_dense, 1);
    assert_int_equal(s.test.pair_diverge_idx, 5);
    assert_int_equal(s.test.common_prefix, 2);
    ac_dataset_free(ds);
}

/* A batch's CSR answers plug into the metrics: ragged answers of small_ids.json, train
 * batch 1 (prompt 2, answers {24, 25}, wrong {26}) and the test batch (wrong {28,29,30}, {}). */
static void test_answer_sets_for_metrics(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = 3;
    o.test_size = 2;
    o.train_batch_size = 2;
    o.test_batch_size = 2;
    ac_dataset *ds = load_one("small_ids.json", &o);
    enum { VOCAB = 40 };
    float vals[2 * VOCAB];
    for (int i = 0; i < 2 * VOCAB; i++)
        vals[i] = (float)(i % VOCAB); /* value = token id */
    ac_answer_sets sets;
    ac_error err;
    double got = 0;
    ac_batch_answer_sets(&ds->train.batches[1], &sets);
    assert_int_equal(sets.n_rows, 1);
    assert_ac_ok(ac_answer_sets_validate(&sets, 1, VOCAB, 1, 3, &err), &err);
    assert_ac_ok(ac_batch_avg_answer_diff(vals, 1, VOCAB, &sets, &got, &err), &err);
    assert_close(got, 24.5 - 26.0, 1e-12, 0);
    ac_batch_answer_sets(&ds->test.batches[0], &sets);
    assert_int_equal(sets.n_rows, 2);
    assert_ac_ok(ac_answer_sets_validate(&sets, 2, VOCAB, 1, 1, &err), &err);
    assert_ac_ok(ac_batch_avg_answer_val(vals, 2, VOCAB, &sets, 0, &got, &err), &err);
    assert_close(got, (27.0 + 31.0) / 2, 1e-12, 0);
    /* the second row has no wrong answers: a validation that needs them says so */
    assert_int_equal(ac_answer_sets_validate(&sets, 2, VOCAB, 1, 3, &err), AC_ERR_ARG);
    ac_dataset_free(ds);
}

/* Every allocation failure is reported as AC_ERR_NOMEM without leaks or crashes. */
static void test_allocation_failures(void **state) {
    (void)state;
    const char *paths[2] = {data_file("small_ids.json"), data_file("extra.json")};
    ac_dataset_options o = id_options();
    o.train_size = 4;
    o.test_size = AC_DATASET_ALL;
    o.shuffle = 1;
    o.train_batch_size = 3;
    int succeeded = 0;
    for (long k = 1; k < 2000 && !succeeded; k++) {
        ac_dataset *ds = NULL;
        ac_error err;
        ac_alloc_fail_after(k);
        int rc = ac_dataset_load(&ds, paths, 2, NULL, &o, &err);
        long used = ac_alloc_fail_after(0);
        if (rc == AC_OK) {
            assert_true(used < k); /* no allocation failed */
            assert_int_equal(ds->n_loaded, 7);
            succeeded = 1;
        } else {
            assert_int_equal(rc, AC_ERR_NOMEM);
            assert_null(ds);
        }
        ac_dataset_free(ds);
    }
    assert_true(succeeded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_exact_batches),
        cmocka_unit_test(test_pad_defaults_to_bos),
        cmocka_unit_test(test_bos_shifts_labels),
        cmocka_unit_test(test_shuffle_pinned),
        cmocka_unit_test(test_shuffle_split_order),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_key_depends_on_content),
        cmocka_unit_test(test_split_divergence),
        cmocka_unit_test(test_cacheable_capped),
        cmocka_unit_test(test_multiple_files),
        cmocka_unit_test(test_last_batch_kept_or_dropped),
        cmocka_unit_test(test_sizes_all),
        cmocka_unit_test(test_fixed_length),
        cmocka_unit_test(test_no_padding_equal_lengths),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_answer_sets_for_metrics),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
