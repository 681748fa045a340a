/* Dataset loader errors: every case returns its status, names the file and the place
 * (line:column for JSON syntax, prompt index and key for semantic errors), never crashes
 * and never leaks (the ASan run checks that). */
#include "ac_test.h"

#include <stdio.h>
#include <string.h>

static int file_counter = 0;

/* Write `json` to a fresh temporary file; returns its path (static rotating buffer). */
static const char *write_tmp(const char *json) {
    char name[64];
    snprintf(name, sizeof name, "ds_%d.json", file_counter++);
    const char *path = ac_test_path(ac_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    return path;
}

static ac_dataset_options id_options(void) {
    ac_dataset_options o = AC_DATASET_OPTIONS_INIT;
    o.bos_id = 1;
    o.vocab_size = 50;
    o.shuffle = 0;
    o.train_size = AC_DATASET_ALL;
    o.test_size = 0;
    return o;
}

/* Load `json` (one file) and expect status `code` with `needle` in the message; the error
 * names the file. Returns the error for further checks. */
static ac_error expect_error_opts(const char *json, const ac_dataset_options *o, int code,
                                  const char *needle) {
    const char *path = write_tmp(json);
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", path);
    const char *paths[1] = {saved};
    ac_dataset *ds = (ac_dataset *)(uintptr_t)1;
    ac_error err;
    ac_error_clear(&err);
    int rc = ac_dataset_load(&ds, paths, 1, NULL, o, &err);
    if (rc != code || !strstr(err.msg, needle)) {
        char buf[1200];
        print_error("got %s: %s\nwanted %s with \"%s\"\n", ac_status_name(rc),
                    ac_error_format(&err, buf, sizeof buf), ac_status_name(code), needle);
        fail();
    }
    assert_int_equal(err.code, code);
    assert_null(ds);
    assert_string_equal(err.file, saved);
    return err;
}

static ac_error expect_error(const char *json, int code, const char *needle) {
    ac_dataset_options o = id_options();
    return expect_error_opts(json, &o, code, needle);
}

#define P_OK "{\"clean\": [2, 3], \"corrupt\": [2, 4], \"answers\": [5], \"wrong_answers\": [6]}"

static void test_malformed_json(void **state) {
    (void)state;
    ac_error e = expect_error("{\n  \"prompts\": [\n    " P_OK ",\n    ,\n  ]\n}\n", AC_ERR_FORMAT,
                              "invalid JSON");
    assert_int_equal(e.line, 4);
    assert_int_equal(e.column, 5);
    char buf[1200];
    ac_error_format(&e, buf, sizeof buf);
    assert_non_null(strstr(buf, ".json:4:5: invalid JSON"));

    e = expect_error("", AC_ERR_FORMAT, "invalid JSON");
    assert_int_equal(e.line, 1);
    assert_true(e.column >= 1);
    e = expect_error("{\"prompts\": [" P_OK "]} trailing", AC_ERR_FORMAT, "invalid JSON");
    assert_int_equal(e.line, 1);
    /* duplicate keys are rejected rather than silently overwritten */
    e = expect_error("{\"prompts\": [" P_OK "],\n\"prompts\": []}", AC_ERR_FORMAT, "duplicate");
    assert_int_equal(e.line, 2);
}

static void test_top_level(void **state) {
    (void)state;
    expect_error("[1, 2]", AC_ERR_FORMAT, "top level must be an object");
    expect_error("{\"prompt\": []}", AC_ERR_FORMAT, "missing key \"prompts\"");
    expect_error("{\"prompts\": {\"a\": 1}}", AC_ERR_FORMAT,
                 "\"prompts\" must be a list, got an object");
    expect_error("{\"prompts\": []}", AC_ERR_FORMAT, "\"prompts\" is empty");
    expect_error("{\"seq_labels\": \"A B\", \"prompts\": [" P_OK "]}", AC_ERR_FORMAT,
                 "\"seq_labels\" must be a list of strings, got a string");
    expect_error("{\"seq_labels\": [\"A\", 3], \"prompts\": [" P_OK "]}", AC_ERR_FORMAT,
                 "seq_labels[1] must be a string, got an integer");
    expect_error("{\"word_idxs\": [1], \"prompts\": [" P_OK "]}", AC_ERR_FORMAT,
                 "\"word_idxs\" must be an object");
    expect_error("{\"word_idxs\": {\"IO\": \"2\"}, \"prompts\": [" P_OK "]}", AC_ERR_FORMAT,
                 "word_idxs[\"IO\"] must be an integer position, got a string");
    expect_error("{\"word_idxs\": {\"IO\": -1}, \"prompts\": [" P_OK "]}", AC_ERR_RANGE,
                 "word_idxs[\"IO\"] = -1");
}

static void test_prompt_keys(void **state) {
    (void)state;
    expect_error("{\"prompts\": [" P_OK ", 7]}", AC_ERR_FORMAT, "prompts[1] must be an object");
    expect_error("{\"prompts\": [" P_OK ", {\"clean\": [2], \"answers\": [5], "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT, "prompts[1]: missing key \"corrupt\"");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": [3], \"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT, "prompts[0]: missing key \"answers\"");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": [3], \"answers\": [6]}]}",
                 AC_ERR_FORMAT, "prompts[0]: missing key \"wrong_answers\"");
    expect_error("{\"prompts\": [{\"clean\": 2, \"corrupt\": [3], \"answers\": [5], "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT,
                 "prompts[0].clean must be a string or a list of token ids, got an integer");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": [3, \"x\"], \"answers\": [5], "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT, "prompts[0].corrupt[1] must be an integer token id, got a string");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": [3], \"answers\": 5, "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT,
                 "prompts[0].answers must be a list of strings or token ids, got an integer");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": [3], \"answers\": [5], "
                 "\"wrong_answers\": [null]}]}",
                 AC_ERR_FORMAT,
                 "prompts[0].wrong_answers[0] must be a one-token string or a token id, got null");
}

static void test_empty_prompts(void **state) {
    (void)state;
    expect_error("{\"prompts\": [" P_OK ", {\"clean\": [], \"corrupt\": [3], \"answers\": [5], "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT, "prompts[1].clean is an empty prompt");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": \"\", \"answers\": [5], "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT, "prompts[0].corrupt is an empty prompt");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": [3], \"answers\": [], "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_FORMAT, "prompts[0].answers is empty");
}

static void test_ids_outside_vocab(void **state) {
    (void)state;
    expect_error("{\"prompts\": [" P_OK ", {\"clean\": [2], \"corrupt\": [3, 4, 50], "
                 "\"answers\": [5], \"wrong_answers\": [6]}]}",
                 AC_ERR_RANGE, "prompts[1].corrupt[2]: token id 50 outside the vocabulary [0, 50)");
    expect_error("{\"prompts\": [{\"clean\": [-1], \"corrupt\": [3], \"answers\": [5], "
                 "\"wrong_answers\": [6]}]}",
                 AC_ERR_RANGE, "prompts[0].clean[0]: token id -1 outside");
    expect_error("{\"prompts\": [{\"clean\": [1], \"corrupt\": [3], \"answers\": [5], "
                 "\"wrong_answers\": [6, 99]}]}",
                 AC_ERR_RANGE, "prompts[0].wrong_answers[1]: token id 99");
    /* without a vocabulary size, ids must still fit an int32 */
    ac_dataset_options o = id_options();
    o.vocab_size = 0;
    expect_error_opts("{\"prompts\": [{\"clean\": [4294967296], \"corrupt\": [3], "
                      "\"answers\": [5], \"wrong_answers\": [6]}]}",
                      &o, AC_ERR_RANGE,
                      "prompts[0].clean[0]: token id 4294967296 is not a valid id");
    /* the BOS id is checked too */
    o = id_options();
    o.bos_id = 50;
    expect_error_opts("{\"prompts\": [" P_OK "]}", &o, AC_ERR_RANGE, "BOS id 50 outside");
    /* and the pad id: padded positions are embedded like any token */
    o = id_options();
    o.pad_id = 60;
    expect_error_opts("{\"prompts\": [" P_OK "]}", &o, AC_ERR_RANGE, "pad id 60 outside");
}

static void test_unsupported_forms(void **state) {
    (void)state;
    expect_error("{\"prompts\": [{\"clean\": [[3, 3], [2, 2]], \"corrupt\": [3], "
                 "\"answers\": [5], \"wrong_answers\": [6]}]}",
                 AC_ERR_UNSUPPORTED, "prompts[0].clean[0] is a list");
    expect_error("{\"prompts\": [{\"clean\": [3], \"corrupt\": [3.5], "
                 "\"answers\": [5], \"wrong_answers\": [6]}]}",
                 AC_ERR_UNSUPPORTED, "prompts[0].corrupt[0] is a real number");
    expect_error("{\"prompts\": [{\"clean\": [3], \"corrupt\": [3], "
                 "\"answers\": [0.25], \"wrong_answers\": [6]}]}",
                 AC_ERR_UNSUPPORTED, "prompts[0].answers[0] is a real number: float answers");
    expect_error("{\"prompts\": [{\"clean\": [3], \"corrupt\": [3], "
                 "\"answers\": [[5], [6]], \"wrong_answers\": [6]}]}",
                 AC_ERR_UNSUPPORTED, "prompts[0].answers[0] is a list: per-position answers");
}

static void test_text_needs_tokenizer(void **state) {
    (void)state;
    expect_error("{\"prompts\": [" P_OK ", {\"clean\": \"I like\", \"corrupt\": [3], "
                 "\"answers\": [5], \"wrong_answers\": [6]}]}",
                 AC_ERR_ARG, "prompts[1].clean: text prompts need a tokenizer");
    expect_error("{\"prompts\": [{\"clean\": [2], \"corrupt\": [3], "
                 "\"answers\": [\" cheese\"], \"wrong_answers\": [6]}]}",
                 AC_ERR_ARG, "prompts[0].answers[0]: text prompts need a tokenizer");
}

static void test_bos_needs_id(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.bos_id = -1; /* and no tokenizer */
    expect_error_opts("{\"prompts\": [" P_OK "]}", &o, AC_ERR_ARG,
                      "prepend_bos needs a BOS token id");
    o.prepend_bos = 0; /* fine without */
    const char *paths[1] = {write_tmp("{\"prompts\": [" P_OK "]}")};
    ac_dataset *ds = NULL;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, paths, 1, NULL, &o, &err), &err);
    assert_int_equal(ds->train.batches[0].clean[0], 2);
    ac_dataset_free(ds);
}

static void test_fixed_length_mismatch(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.fixed_length = 1;
    expect_error_opts("{\"prompts\": [" P_OK ", " P_OK ", {\"clean\": [2, 3], \"corrupt\": "
                      "[2, 4, 4], \"answers\": [5], \"wrong_answers\": [6]}, {\"clean\": [2], "
                      "\"corrupt\": [2], \"answers\": [5], \"wrong_answers\": [6]}]}",
                      &o, AC_ERR_FORMAT, "prompts[2].corrupt has 4 tokens but");
}

/* The fixed-length error names the later file when that is where the mismatch is. */
static void test_error_in_second_file(void **state) {
    (void)state;
    char first[1024], second[1024];
    snprintf(first, sizeof first, "%s", write_tmp("{\"prompts\": [" P_OK "]}"));
    snprintf(second, sizeof second, "%s",
             write_tmp("{\"seq_labels\": 5, \"prompts\": [" P_OK ", {\"clean\": [2, 3, 4], "
                       "\"corrupt\": [2, 3, 4], \"answers\": [5], \"wrong_answers\": [6]}]}"));
    const char *paths[2] = {first, second};
    ac_dataset_options o = id_options();
    o.fixed_length = 1;
    ac_dataset *ds = NULL;
    ac_error err;
    assert_int_equal(ac_dataset_load(&ds, paths, 2, NULL, &o, &err), AC_ERR_FORMAT);
    assert_string_equal(err.file, second);
    assert_non_null(strstr(err.msg, "prompts[1].clean has 4 tokens"));
    assert_null(ds);
    /* later files' seq_labels are ignored (even malformed); without fixed length it loads */
    o.fixed_length = 0;
    assert_ac_ok(ac_dataset_load(&ds, paths, 2, NULL, &o, &err), &err);
    assert_int_equal(ds->n_loaded, 3);
    ac_dataset_free(ds);

    /* a semantic error in the second file names that file and its own prompt index */
    snprintf(second, sizeof second, "%s",
             write_tmp("{\"prompts\": [" P_OK ", {\"clean\": [2], \"corrupt\": [2]}]}"));
    assert_int_equal(ac_dataset_load(&ds, paths, 2, NULL, &o, &err), AC_ERR_FORMAT);
    assert_string_equal(err.file, second);
    assert_non_null(strstr(err.msg, "prompts[1]: missing key \"answers\""));
}

static void test_no_padding_mismatch(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.pad = 0;
    o.train_batch_size = 2;
    /* prompts 0,1 form a batch of equal lengths; prompt 3 differs from prompt 2 */
    expect_error_opts("{\"prompts\": [" P_OK ", " P_OK ", " P_OK ", {\"clean\": [2, 3], "
                      "\"corrupt\": [2, 4, 4], \"answers\": [5], \"wrong_answers\": [6]}]}",
                      &o, AC_ERR_FORMAT,
                      "prompts[3].corrupt has 4 tokens but the first "
                      "prompt of its batch");
}

static void test_sizes(void **state) {
    (void)state;
    ac_dataset_options o = id_options();
    o.train_size = 2;
    o.test_size = 2;
    expect_error_opts("{\"prompts\": [" P_OK ", " P_OK ", " P_OK "]}", &o, AC_ERR_RANGE,
                      "train_size 2 + test_size 2 is more than the 3 prompts");
    /* the reference defaults (128 + 128) on a small file */
    o = id_options();
    o.train_size = 128;
    o.test_size = 128;
    expect_error_opts("{\"prompts\": [" P_OK "]}", &o, AC_ERR_RANGE, "more than the 1 prompts");
    o.train_size = AC_DATASET_ALL;
    o.test_size = AC_DATASET_ALL;
    expect_error_opts("{\"prompts\": [" P_OK "]}", &o, AC_ERR_ARG, "cannot both be \"all\"");
    o = id_options();
    o.train_batch_size = 0;
    expect_error_opts("{\"prompts\": [" P_OK "]}", &o, AC_ERR_ARG, "batch sizes must be positive");
    o = id_options();
    o.train_size = 5;
    o.test_size = AC_DATASET_ALL;
    expect_error_opts("{\"prompts\": [" P_OK "]}", &o, AC_ERR_RANGE, "train_size 5 + test_size 0");
}

static void test_io_and_args(void **state) {
    (void)state;
    const char *missing = ac_test_path(ac_test_tmpdir(), "does_not_exist.json");
    const char *paths[1] = {missing};
    ac_dataset *ds = NULL;
    ac_error err;
    ac_dataset_options o = id_options();
    assert_int_equal(ac_dataset_load(&ds, paths, 1, NULL, &o, &err), AC_ERR_IO);
    assert_string_equal(err.file, missing);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_null(ds);
    assert_int_equal(ac_dataset_load(&ds, paths, 0, NULL, &o, &err), AC_ERR_ARG);
    /* default options: prepend_bos without a tokenizer or bos_id is refused first */
    assert_int_equal(ac_dataset_load(&ds, paths, 1, NULL, NULL, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "prepend_bos needs a BOS token id"));
    /* a directory is not a dataset */
    const char *dir[1] = {ac_test_tmpdir()};
    int rc = ac_dataset_load(&ds, dir, 1, NULL, &o, &err);
    assert_true(rc == AC_ERR_IO || rc == AC_ERR_FORMAT);
    assert_null(ds);
    /* NULL err is allowed */
    assert_int_equal(ac_dataset_load(&ds, paths, 1, NULL, &o, NULL), AC_ERR_IO);
}

/* Truncating a valid file at every byte never crashes and always gives an error. */
static void test_truncations(void **state) {
    (void)state;
    const char *full = "{\"seq_labels\": [\"a\", \"b\"], \"word_idxs\": {\"x\": 1},\n"
                       " \"prompts\": [" P_OK ",\n " P_OK "]}";
    size_t n = strlen(full);
    ac_dataset_options o = id_options();
    for (size_t cut = 0; cut < n; cut++) {
        char buf[512];
        memcpy(buf, full, cut);
        buf[cut] = 0;
        const char *paths[1] = {write_tmp(buf)};
        ac_dataset *ds = NULL;
        ac_error err;
        int rc = ac_dataset_load(&ds, paths, 1, NULL, &o, &err);
        assert_int_equal(rc, AC_ERR_FORMAT);
        assert_null(ds);
        assert_true(err.line >= 1);
    }
    const char *paths[1] = {write_tmp(full)};
    ac_dataset *ds = NULL;
    ac_error err;
    assert_ac_ok(ac_dataset_load(&ds, paths, 1, NULL, &o, &err), &err);
    ac_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_json),        cmocka_unit_test(test_top_level),
        cmocka_unit_test(test_prompt_keys),           cmocka_unit_test(test_empty_prompts),
        cmocka_unit_test(test_ids_outside_vocab),     cmocka_unit_test(test_unsupported_forms),
        cmocka_unit_test(test_text_needs_tokenizer),  cmocka_unit_test(test_bos_needs_id),
        cmocka_unit_test(test_fixed_length_mismatch), cmocka_unit_test(test_error_in_second_file),
        cmocka_unit_test(test_no_padding_mismatch),   cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_io_and_args),           cmocka_unit_test(test_truncations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
