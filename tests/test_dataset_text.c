/* Text datasets tokenized with GPT-2 (../shared/tokenizers/gpt2; skipped when absent). */
#include "ac_test.h"

#include <stdio.h>
#include <string.h>

#include <sys/stat.h>

static ac_tokenizer *tok;

/* Load GPT-2's tokenizer when ../shared has it; a present but unloadable one fails. */
static int setup(void **state) {
    (void)state;
    const char *shared = ac_test_shared_dir();
    if (!shared) return 0;
    const char *dir = ac_test_path(shared, "tokenizers/gpt2");
    struct stat st;
    if (stat(dir, &st) != 0) return 0;
    ac_error err;
    int rc = ac_tokenizer_load(&tok, dir, &err);
    if (rc != AC_OK) {
        char buf[1200];
        fprintf(stderr, "cannot load %s: %s\n", dir, ac_error_format(&err, buf, sizeof buf));
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ac_tokenizer_free(tok);
    tok = NULL;
    return 0;
}

static const char *write_tmp(const char *name, const char *json) {
    const char *path = ac_test_path(ac_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    return path;
}

static ac_dataset_options text_options(void) {
    ac_dataset_options o = AC_DATASET_OPTIONS_INIT;
    o.shuffle = 0;
    o.train_size = AC_DATASET_ALL;
    o.test_size = 0;
    return o;
}

/* auto-circuit's mini_prompts.json: "I like" / "I hate" -> " cheese" vs " bees". */
static void test_mini_prompts(void **state) {
    (void)state;
    if (!tok) skip();
    const char *paths[1] = {write_tmp("mini.json",
        "{\"prompts\": [{\"clean\": \"I like\", \"corrupt\": \"I hate\", \"answers\": [\" cheese\"], "
        "\"wrong_answers\": [\" bees\"]}, {\"clean\": \"I hate\", \"corrupt\": [40, 588], "
        "\"answers\": [\" bees\", 9891], \"wrong_answers\": []}]}")};
    ac_dataset_options o = text_options();
    ac_dataset *ds = NULL;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, paths, 1, tok, &o, &err), &err);
    assert_int_equal(ds->bos_id, 50256);
    assert_int_equal(ds->pad_id, 50256);
    const ac_batch *b = &ds->train.batches[0];
    assert_int_equal(b->batch_size, 2);
    assert_int_equal(b->seq_len, 3);
    const int32_t clean[] = {50256, 40, 588, 50256, 40, 5465};
    const int32_t corrupt[] = {50256, 40, 5465, 50256, 40, 588};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(b->clean[i], clean[i]);
        assert_int_equal(b->corrupt[i], corrupt[i]);
        assert_int_equal(b->clean_mask[i], 1);
    }
    assert_int_equal(b->answers[0], 9891);
    assert_int_equal(b->answers[1], 17002);
    assert_int_equal(b->answers[2], 9891);
    assert_int_equal(b->answer_offsets[2], 3);
    assert_int_equal(b->wrong_answers[0], 17002);
    assert_int_equal(b->wrong_offsets[2], 1);
    assert_int_equal(b->diverge_idx, 2);
    assert_int_equal(ds->train.common_prefix, 2);
    assert_int_equal(ds->train.cacheable_prefix, 2);
    ac_dataset_free(ds);
}

/* Text of different lengths is left padded with the pad id (BOS for GPT-2). */
static void test_text_padding(void **state) {
    (void)state;
    if (!tok) skip();
    const char *paths[1] = {write_tmp("pad.json",
        "{\"prompts\": [{\"clean\": \"When Mary and John went\", \"corrupt\": \"When John went\", "
        "\"answers\": [\" Paris\"], \"wrong_answers\": [\" Mary\"]}]}")};
    ac_dataset_options o = text_options();
    ac_dataset *ds = NULL;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, paths, 1, tok, &o, &err), &err);
    const ac_batch *b = &ds->train.batches[0];
    assert_int_equal(b->seq_len, 6);
    const int32_t clean[] = {50256, 2215, 5335, 290, 1757, 1816};
    const int32_t corrupt[] = {50256, 50256, 50256, 2215, 1757, 1816};
    const uint8_t kmask[] = {0, 0, 1, 1, 1, 1};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(b->clean[i], clean[i]);
        assert_int_equal(b->corrupt[i], corrupt[i]);
        assert_int_equal(b->clean_mask[i], 1);
        assert_int_equal(b->corrupt_mask[i], kmask[i]);
    }
    assert_int_equal(b->answers[0], 6342);
    assert_int_equal(b->wrong_answers[0], 5335);
    assert_int_equal(b->diverge_idx, 0);
    ac_dataset_free(ds);
}

static void test_text_errors(void **state) {
    (void)state;
    if (!tok) skip();
    ac_dataset_options o = text_options();
    ac_dataset *ds = NULL;
    ac_error err;
    const char *paths[1] = {write_tmp("multi.json",
        "{\"prompts\": [{\"clean\": \"I like\", \"corrupt\": \"I hate\", \"answers\": [\" cheese\"], "
        "\"wrong_answers\": [\" bees\"]}, {\"clean\": \"I like\", \"corrupt\": \"I hate\", "
        "\"answers\": [\" cheese\"], \"wrong_answers\": [\" bees\", \" cheesecake factory\"]}]}")};
    assert_int_equal(ac_dataset_load(&ds, paths, 1, tok, &o, &err), AC_ERR_FORMAT);
    assert_null(ds);
    assert_string_equal(err.file, paths[0]);
    assert_non_null(strstr(err.msg, "prompts[1].wrong_answers[1] \" cheesecake factory\" is "));
    assert_non_null(strstr(err.msg, "exactly one token"));
    /* the tokenizer's vocabulary bounds ids */
    paths[0] = write_tmp("range.json",
        "{\"prompts\": [{\"clean\": \"I like\", \"corrupt\": [40, 50257], \"answers\": [1], "
        "\"wrong_answers\": [2]}]}");
    assert_int_equal(ac_dataset_load(&ds, paths, 1, tok, &o, &err), AC_ERR_RANGE);
    assert_non_null(strstr(err.msg, "prompts[0].corrupt[1]: token id 50257 outside the vocabulary [0, 50257)"));
    /* an empty string answer encodes to no token */
    paths[0] = write_tmp("empty_answer.json",
        "{\"prompts\": [{\"clean\": \"I like\", \"corrupt\": \"I hate\", \"answers\": [\"\"], "
        "\"wrong_answers\": [2]}]}");
    assert_int_equal(ac_dataset_load(&ds, paths, 1, tok, &o, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "prompts[0].answers[0] \"\" is 0 tokens"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mini_prompts),
        cmocka_unit_test(test_text_padding),
        cmocka_unit_test(test_text_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
