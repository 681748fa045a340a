/* Malformed checkpoints: each one is rejected with the right status, the file named, and a
 * one-line cause. */
#include "ac_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

/* ---- helpers --------------------------------------------------------------------- */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh directory under the test's temporary directory. */
static const char *fresh_dir(const char *name) {
    const char *dir = ac_test_path(ac_test_tmpdir(), name);
    assert_int_equal(mkdir(dir, 0777), 0);
    return dir;
}

static void expect_error_(int rc, const ac_error *err, int code, const char *file_part, const char *phrase,
                          const char *file, int line) {
    char buf[1200];
    ac_error_format(err, buf, sizeof buf);
    if (rc != code || err->code != code || !strstr(err->file, file_part) || !strstr(err->msg, phrase)) {
        print_error("%s:%d: got %s (%s), expected %s with file containing \"%s\" and message containing \"%s\"\n",
                    file, line, ac_status_name(rc), buf, ac_status_name(code), file_part, phrase);
        _fail(file, line);
    }
    /* one line */
    assert_null(strchr(buf, '\n'));
}
#define expect_error(rc, err, code, file_part, phrase) \
    expect_error_((rc), (err), (code), (file_part), (phrase), __FILE__, __LINE__)

/* Load `path`, expecting failure; the output pointer must stay NULL. */
static int load_fails(const char *path, ac_error *err) {
    ac_model *m = (ac_model *)(uintptr_t)1;
    int rc = ac_model_load(&m, path, err);
    assert_null(m);
    return rc;
}

/* The tiny model used by most cases: GPT-2, 1 layer, attention only, no LayerNorm. */
static const char *tiny_config =
    "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2, \"n_positions\": 2,\n"
    " \"vocab_size\": 3, \"attn_only\": true, \"layer_norm\": false}\n";

typedef struct raw_entry {
    const char *name, *dtype, *shape;
    size_t begin, end;
} raw_entry;

enum { TINY_N = 6, TINY_BYTES = 400 };
static const raw_entry tiny_entries[TINY_N] = {
    {"wte.weight", "F32", "[3,4]", 0, 48},
    {"wpe.weight", "F32", "[2,4]", 48, 80},
    {"h.0.attn.c_attn.weight", "F32", "[4,12]", 80, 272},
    {"h.0.attn.c_attn.bias", "F32", "[12]", 272, 320},
    {"h.0.attn.c_proj.weight", "F32", "[4,4]", 320, 384},
    {"h.0.attn.c_proj.bias", "F32", "[4]", 384, 400},
};

/* Write a safetensors file from header entries and raw data. header_len < 0: the real
 * length; else that value is written as the length. */
static void write_raw(const char *path, const raw_entry *e, size_t n, const void *data, size_t data_len,
                      long long header_len) {
    char header[4096];
    size_t used = (size_t)snprintf(header, sizeof header, "{");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(header + used, sizeof header - used,
                                 "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}", i ? "," : "",
                                 e[i].name, e[i].dtype, e[i].shape, e[i].begin, e[i].end);
    used += (size_t)snprintf(header + used, sizeof header - used, "}");
    while (used % 8) header[used++] = ' ';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t len = header_len < 0 ? used : (uint64_t)header_len;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(len >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, used, f);
    if (data_len) fwrite(data, 1, data_len, f);
    fclose(f);
}

static float tiny_data[TINY_BYTES / 4];

/* A HF directory with the tiny config and a safetensors file of the given entries. */
static const char *tiny_dir(const char *name, const raw_entry *e, size_t n) {
    const char *dir = fresh_dir(name);
    for (size_t i = 0; i < TINY_BYTES / 4; i++) tiny_data[i] = 0.01f * (float)i - 0.5f;
    write_text(ac_test_path(dir, "config.json"), tiny_config);
    write_raw(ac_test_path(dir, "model.safetensors"), e, n, tiny_data, TINY_BYTES, -1);
    return dir;
}

static void test_tiny_is_valid(void **state) {
    (void)state;
    ac_error err;
    ac_model *m = NULL;
    const char *dir = tiny_dir("tiny_ok", tiny_entries, TINY_N);
    assert_ac_ok(ac_model_load(&m, dir, &err), &err);
    assert_true(m->w.wte[5] == tiny_data[5]);
    /* c_attn.weight [4,12] at float 20: element [1][2] -> wq[2][1] */
    assert_true(m->w.layers[0].wq[2 * 4 + 1] == tiny_data[20 + 1 * 12 + 2]);
    ac_model_free(m);
}

/* ---- safetensors container --------------------------------------------------------- */

static void test_truncated_file(void **state) {
    (void)state;
    ac_error err;
    const char *dir = tiny_dir("truncated", tiny_entries, TINY_N);
    const char *st = ac_test_path(dir, "model.safetensors");
    struct stat s;
    assert_int_equal(stat(st, &s), 0);
    assert_int_equal(truncate(st, s.st_size - 10), 0);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "past the end of the data section");
    assert_int_equal(truncate(st, 5), 0);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "too short");
}

static void test_header_length_past_end(void **state) {
    (void)state;
    ac_error err;
    const char *dir = fresh_dir("header_len");
    write_text(ac_test_path(dir, "config.json"), tiny_config);
    write_raw(ac_test_path(dir, "model.safetensors"), tiny_entries, TINY_N, tiny_data, TINY_BYTES, 100000);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "larger than the file");
    assert_int_equal(err.offset, 0);
}

static void test_overlapping_offsets(void **state) {
    (void)state;
    ac_error err;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[1].begin = 40; /* wpe [40, 72) overlaps wte [0, 48) */
    e[1].end = 72;
    expect_error(load_fails(tiny_dir("overlap", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "overlap");
    assert_non_null(strstr(err.msg, "wte.weight"));
    assert_non_null(strstr(err.msg, "wpe.weight"));
}

static void test_offsets_out_of_order_or_past_end(void **state) {
    (void)state;
    ac_error err;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[2].begin = 272; /* begin > end */
    e[2].end = 80;
    expect_error(load_fails(tiny_dir("out_of_order", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "out of order");
    assert_non_null(strstr(err.msg, "h.0.attn.c_attn.weight"));
    memcpy(e, tiny_entries, sizeof e);
    e[5].begin = 400; /* past the 400-byte data section */
    e[5].end = 416;
    expect_error(load_fails(tiny_dir("past_end", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "past the end");
    assert_non_null(strstr(err.msg, "h.0.attn.c_proj.bias"));
}

static void test_byte_length_mismatch(void **state) {
    (void)state;
    ac_error err;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[0].shape = "[3,5]"; /* 60 bytes, not 48 */
    expect_error(load_fails(tiny_dir("bytes_shape", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "byte length 48 does not match");
    memcpy(e, tiny_entries, sizeof e);
    e[0].dtype = "F16"; /* 24 bytes, not 48 */
    expect_error(load_fails(tiny_dir("bytes_dtype", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "does not match");
    assert_non_null(strstr(err.msg, "wte.weight"));
    memcpy(e, tiny_entries, sizeof e);
    e[0].shape = "[3,-4]";
    expect_error(load_fails(tiny_dir("bytes_negative", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "not a non-negative integer");
    memcpy(e, tiny_entries, sizeof e);
    e[0].shape = "[4294967296,4294967296,16]"; /* element count overflows */
    expect_error(load_fails(tiny_dir("bytes_overflow", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "overflows");
}

static void test_unknown_and_unsupported_dtype(void **state) {
    (void)state;
    ac_error err;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[1].dtype = "F17";
    expect_error(load_fails(tiny_dir("dtype_unknown", e, TINY_N), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "unknown dtype \"F17\"");
    memcpy(e, tiny_entries, sizeof e);
    e[1].dtype = "I32"; /* a known dtype of the same size, but not a float */
    expect_error(load_fails(tiny_dir("dtype_i32", e, TINY_N), &err), &err, AC_ERR_UNSUPPORTED, "model.safetensors",
                 "tensor wpe.weight has dtype I32");
    memcpy(e, tiny_entries, sizeof e);
    e[1].dtype = "F64";
    e[1].shape = "[2,2]"; /* same bytes as [2,4] F32, but not the expected shape */
    expect_error(load_fails(tiny_dir("dtype_f64", e, TINY_N), &err), &err, AC_ERR_UNSUPPORTED, "model.safetensors",
                 "dtype F64");
}

static void test_header_json_errors(void **state) {
    (void)state;
    ac_error err;
    const char *dir = fresh_dir("bad_header_json");
    write_text(ac_test_path(dir, "config.json"), tiny_config);
    const char *st = ac_test_path(dir, "model.safetensors");
    /* header: {"wte.weight": {"dtype": "F32",, ...} on two lines */
    const char header[] = "{\"wte.weight\":\n {\"dtype\": \"F32\",, \"shape\": [1]}}    ";
    FILE *f = fopen(st, "wb");
    uint64_t len = sizeof header - 1;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(len >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, len, f);
    fclose(f);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "invalid JSON");
    assert_int_equal(err.line, 2);
    assert_true(err.column > 0);

    /* valid JSON, wrong structure */
    raw_entry e[1] = {{"wte.weight", "F32", "\"3x4\"", 0, 48}};
    write_raw(st, e, 1, tiny_data, 48, -1);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "\"shape\"");
    /* duplicate tensor names */
    raw_entry dup[2] = {{"wte.weight", "F32", "[3,4]", 0, 48}, {"wte.weight", "F32", "[3,4]", 48, 96}};
    write_raw(st, dup, 2, tiny_data, 96, -1);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "duplicate");
}

/* ---- tensors vs config --------------------------------------------------------------- */

static void test_missing_tensor(void **state) {
    (void)state;
    ac_error err;
    expect_error(load_fails(tiny_dir("missing_tensor", tiny_entries, TINY_N - 1), &err), &err, AC_ERR_FORMAT,
                 "model.safetensors", "missing tensor h.0.attn.c_proj.bias");
}

static void test_wrong_shape_for_config(void **state) {
    (void)state;
    ac_error err;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[2].shape = "[4,3,4]"; /* same bytes, wrong shape */
    expect_error(load_fails(tiny_dir("wrong_shape3", e, TINY_N), &err), &err, AC_ERR_SHAPE, "model.safetensors",
                 "tensor h.0.attn.c_attn.weight has shape [4,3,4], expected [4,12]");
    memcpy(e, tiny_entries, sizeof e);
    e[2].shape = "[12,4]"; /* transposed (nn.Linear) instead of Conv1D */
    expect_error(load_fails(tiny_dir("wrong_shape_t", e, TINY_N), &err), &err, AC_ERR_SHAPE, "model.safetensors",
                 "tensor h.0.attn.c_attn.weight has shape [12,4], expected [4,12]");
}

static void test_unexpected_tensor(void **state) {
    (void)state;
    ac_error err;
    raw_entry e[TINY_N + 1];
    memcpy(e, tiny_entries, sizeof tiny_entries);
    /* an MLP weight in an attention-only model: the config and the weights disagree */
    e[TINY_N] = (raw_entry){"h.0.mlp.c_fc.weight", "F32", "[0,16]", 400, 400};
    expect_error(load_fails(tiny_dir("unexpected", e, TINY_N + 1), &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "unexpected tensor h.0.mlp.c_fc.weight");
    /* the causal-mask buffers are fine */
    e[TINY_N] = (raw_entry){"h.0.attn.masked_bias", "F32", "[]", 400, 404};
    ac_model *m = NULL;
    const char *dir = fresh_dir("mask_buffer");
    write_text(ac_test_path(dir, "config.json"), tiny_config);
    float data[101] = {0};
    data[100] = -1e4f;
    write_raw(ac_test_path(dir, "model.safetensors"), e, TINY_N + 1, data, sizeof data, -1);
    assert_ac_ok(ac_model_load(&m, dir, &err), &err);
    ac_model_free(m);
}

static void test_nan_weight(void **state) {
    (void)state;
    ac_error err;
    const char *dir = tiny_dir("nan", tiny_entries, TINY_N);
    tiny_data[20 + 7] = NAN; /* c_attn.weight flat index 7 */
    write_raw(ac_test_path(dir, "model.safetensors"), tiny_entries, TINY_N, tiny_data, TINY_BYTES, -1);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors",
                 "tensor h.0.attn.c_attn.weight has a non-finite value (NaN or Inf) at flat index 7");
    tiny_data[20 + 7] = 0;
    tiny_data[2] = -INFINITY;
    write_raw(ac_test_path(dir, "model.safetensors"), tiny_entries, TINY_N, tiny_data, TINY_BYTES, -1);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "wte.weight has a non-finite value");

    /* F16 infinity and BF16 NaN */
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    uint16_t half[200] = {0};
    e[0] = (raw_entry){"wte.weight", "F16", "[3,4]", 0, 24};
    e[1] = (raw_entry){"wpe.weight", "BF16", "[2,4]", 24, 40};
    for (size_t i = 2; i < TINY_N; i++) {
        e[i].begin -= 40;
        e[i].end -= 40;
    }
    unsigned char data[TINY_BYTES - 40] = {0};
    half[11] = 0x7C00;
    memcpy(data, half, 40);
    write_raw(ac_test_path(dir, "model.safetensors"), e, TINY_N, data, sizeof data, -1);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "wte.weight has a non-finite value");
    assert_non_null(strstr(err.msg, "index 11"));
    half[11] = 0x3C00;
    half[12 + 3] = 0x7FC0;
    memcpy(data, half, 40);
    write_raw(ac_test_path(dir, "model.safetensors"), e, TINY_N, data, sizeof data, -1);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model.safetensors", "wpe.weight has a non-finite value");
    assert_non_null(strstr(err.msg, "index 3"));
    half[12 + 3] = 0x3F80;
    memcpy(data, half, 40);
    write_raw(ac_test_path(dir, "model.safetensors"), e, TINY_N, data, sizeof data, -1);
    ac_model *m = NULL;
    assert_ac_ok(ac_model_load(&m, dir, &err), &err);
    assert_true(m->w.wte[11] == 1.0f && m->w.wpe[3] == 1.0f);
    ac_model_free(m);

    /* saving a model with a NaN is refused too */
    m = NULL;
    assert_ac_ok(ac_model_load(&m, dir, &err), &err);
    m->w.layers[0].bo[1] = NAN;
    expect_error(ac_model_save(m, ac_test_path(ac_test_tmpdir(), "nan_save"), &err), &err, AC_ERR_RANGE, "nan_save",
                 "h.0.attn.c_proj.bias has a non-finite value");
    ac_model_free(m);
}

/* ---- config.json --------------------------------------------------------------------- */

/* Tiny weights with a replaced config; returns the load status. */
static int load_with_config(const char *name, const char *config, ac_error *err) {
    const char *dir = tiny_dir(name, tiny_entries, TINY_N);
    write_text(ac_test_path(dir, "config.json"), config);
    return load_fails(dir, err);
}

static void test_config_zero_or_negative(void **state) {
    (void)state;
    ac_error err;
    expect_error(load_with_config("cfg_zero_layers",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 0, \"n_head\": 2,"
                                  " \"n_positions\": 2, \"vocab_size\": 3}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "\"n_layer\" must be a positive integer, got 0");
    expect_error(load_with_config("cfg_neg_heads",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 4, \"intermediate_size\": 8,"
                                  " \"num_hidden_layers\": 1, \"num_attention_heads\": -2, \"vocab_size\": 3}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "\"num_attention_heads\" must be a positive integer, got -2");
    expect_error(load_with_config("cfg_missing_key", "{\"model_type\": \"gpt2\", \"n_embd\": 4}", &err), &err,
                 AC_ERR_FORMAT, "config.json", "missing required key \"n_layer\"");
    expect_error(load_with_config("cfg_huge_eps",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2,"
                                  " \"n_positions\": 2, \"vocab_size\": 3, \"layer_norm_epsilon\": 1e300}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "\"layer_norm_epsilon\" must be a finite number");
    expect_error(load_with_config("cfg_string_size",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": \"4\", \"n_layer\": 1}", &err),
                 &err, AC_ERR_FORMAT, "config.json", "\"n_embd\" must be an integer");
}

static void test_config_heads_not_dividing(void **state) {
    (void)state;
    ac_error err;
    expect_error(load_with_config("cfg_heads",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 10, \"n_layer\": 1, \"n_head\": 4,"
                                  " \"n_positions\": 2, \"vocab_size\": 3}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "n_embd 10 is not divisible by n_head 4");
    expect_error(load_with_config("cfg_heads_llama",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 10, \"intermediate_size\": 8,"
                                  " \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"vocab_size\": 3}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "not divisible by num_attention_heads 4");
    expect_error(load_with_config("cfg_kv_heads",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 12, \"intermediate_size\": 8,"
                                  " \"num_hidden_layers\": 1, \"num_attention_heads\": 6, \"num_key_value_heads\": 4,"
                                  " \"vocab_size\": 3}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "not a multiple of 4 key/value heads");
}

static void test_config_absurd_sizes(void **state) {
    (void)state;
    ac_error err;
    /* must fail validation; ASan would report a failed 4-TB allocation otherwise */
    expect_error(load_with_config("cfg_huge_width",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 1073741824, \"n_layer\": 1, \"n_head\": 1,"
                                  " \"n_positions\": 2, \"vocab_size\": 3}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "out of range");
    expect_error(load_with_config("cfg_huge_vocab",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2,"
                                  " \"n_positions\": 2, \"vocab_size\": 4294967296}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "\"vocab_size\" = 4294967296 is out of range");
    /* every size individually plausible, the product too large */
    expect_error(load_with_config("cfg_huge_product",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 16777216, \"intermediate_size\": 16777216,"
                                  " \"num_hidden_layers\": 4096, \"num_attention_heads\": 1, \"vocab_size\": 67108864}",
                                  &err),
                 &err, AC_ERR_FORMAT, "config.json", "too large");
    /* plausible config, tiny file: the shapes disagree before anything is allocated */
    expect_error(load_with_config("cfg_big_vs_file",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 4096, \"n_layer\": 1, \"n_head\": 2,"
                                  " \"n_positions\": 2, \"vocab_size\": 3, \"attn_only\": true, \"layer_norm\": false}",
                                  &err),
                 &err, AC_ERR_SHAPE, "model.safetensors", "expected [3,4096]");
}

static void test_config_syntax_error(void **state) {
    (void)state;
    ac_error err;
    expect_error(load_with_config("cfg_syntax", "{\n  \"model_type\": \"gpt2\",\n  \"n_embd\": 4,,\n}\n", &err), &err,
                 AC_ERR_FORMAT, "config.json", "invalid JSON");
    assert_int_equal(err.line, 3);
    assert_true(err.column >= 13);
    char buf[1200];
    ac_error_format(&err, buf, sizeof buf);
    assert_non_null(strstr(buf, "config.json:3:"));
}

static void test_config_unsupported(void **state) {
    (void)state;
    ac_error err;
    expect_error(load_with_config("cfg_bert", "{\"model_type\": \"bert\"}", &err), &err, AC_ERR_UNSUPPORTED,
                 "config.json", "model_type \"bert\"");
    expect_error(load_with_config("cfg_yarn",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 4, \"intermediate_size\": 8,"
                                  " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 3,"
                                  " \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}}",
                                  &err),
                 &err, AC_ERR_UNSUPPORTED, "config.json", "rope_scaling type \"yarn\"");
    expect_error(load_with_config("cfg_gelu_fast",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2,"
                                  " \"n_positions\": 2, \"vocab_size\": 3, \"activation_function\": \"quick_gelu\"}",
                                  &err),
                 &err, AC_ERR_UNSUPPORTED, "config.json", "activation_function \"quick_gelu\"");
    expect_error(load_with_config("cfg_gelu_act",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 4, \"intermediate_size\": 8,"
                                  " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 3,"
                                  " \"hidden_act\": \"gelu\"}",
                                  &err),
                 &err, AC_ERR_UNSUPPORTED, "config.json", "hidden_act \"gelu\"");
}

/* Keys that only change defaults: checked against a Llama config read in full. */
static void test_config_llama_keys(void **state) {
    (void)state;
    ac_error err;
    const char *dir = fresh_dir("cfg_llama_keys");
    /* a config, and a valid model for it saved by us, then the config replaced */
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_LLAMA);
    c.n_layer = 1;
    c.n_head = 4;
    c.n_kv_head = 1;
    c.d_model = 8;
    c.d_head = 6; /* head_dim given explicitly, != hidden / heads */
    c.d_mlp = 12;
    c.vocab_size = 5;
    c.n_ctx = 4096;
    ac_model *m = NULL, *b = NULL;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 1, 0.02f);
    assert_ac_ok(ac_model_save(m, dir, &err), &err);
    write_text(ac_test_path(dir, "config.json"),
               "{\"model_type\": \"mistral\", \"hidden_size\": 8, \"intermediate_size\": 12,"
               " \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"num_key_value_heads\": 1,"
               " \"head_dim\": 6, \"vocab_size\": 5, \"max_position_embeddings\": 32768, \"sliding_window\": 4096,"
               " \"rms_norm_eps\": 1e-05, \"rope_theta\": 1000000.0, \"bos_token_id\": 1, \"eos_token_id\": [2, 7],"
               " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0,"
               " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}");
    assert_ac_ok(ac_model_load(&b, dir, &err), &err);
    const ac_config *k = ac_model_config(b);
    assert_int_equal(k->d_head, 6);
    assert_int_equal(k->n_kv_head, 1);
    assert_int_equal(k->n_ctx, 4096); /* capped at the sliding window */
    assert_true(k->norm_eps == 1e-5f);
    assert_true(k->rope_theta == 1e6f);
    assert_true(k->rope_scaling_factor == 32.0f);
    assert_true(k->rope_low_freq_factor == 1.0f);
    assert_true(k->rope_high_freq_factor == 4.0f);
    assert_int_equal(k->rope_original_max_pos, 8192);
    assert_int_equal(k->bos_id, 1);
    assert_int_equal(k->eos_id, 2);
    assert_false(k->tied_embeddings);
    assert_int_equal(k->pos, AC_POS_ROPE_HALF);
    assert_int_equal(memcmp(b->arena, m->arena, m->arena_floats * 4), 0);
    ac_model_free(b);
    ac_model_free(m);
}

/* ---- paths and directories ------------------------------------------------------------ */

static void test_missing_config(void **state) {
    (void)state;
    ac_error err;
    const char *dir = tiny_dir("no_config", tiny_entries, TINY_N);
    unlink(ac_test_path(dir, "config.json"));
    expect_error(load_fails(dir, &err), &err, AC_ERR_IO, "no_config/config.json", "missing config.json");
    /* the safetensors file alone, with no config.json beside it */
    expect_error(load_fails(ac_test_path(dir, "model.safetensors"), &err), &err, AC_ERR_IO, "model.safetensors",
                 "needs a config.json");
}

static void test_nonexistent_path(void **state) {
    (void)state;
    ac_error err;
    const char *path = ac_test_path(ac_test_tmpdir(), "does/not/exist");
    expect_error(load_fails(path, &err), &err, AC_ERR_IO, "does/not/exist", "No such file");
    assert_string_equal(err.file, path);
}

static void test_directory_without_weights(void **state) {
    (void)state;
    ac_error err;
    const char *dir = fresh_dir("no_weights");
    write_text(ac_test_path(dir, "config.json"), tiny_config);
    expect_error(load_fails(dir, &err), &err, AC_ERR_IO, "no_weights", "no weights");
    write_text(ac_test_path(dir, "pytorch_model.bin"), "PK");
    expect_error(load_fails(dir, &err), &err, AC_ERR_UNSUPPORTED, "pytorch_model.bin", "not supported");
}

static void test_unrecognised_file(void **state) {
    (void)state;
    ac_error err;
    const char *path = ac_test_path(ac_test_tmpdir(), "notes.txt");
    write_text(path, "these are not the weights you are looking for\n");
    expect_error(load_fails(path, &err), &err, AC_ERR_FORMAT, "notes.txt", "unrecognised checkpoint");
    write_text(path, "");
    expect_error(load_fails(path, &err), &err, AC_ERR_FORMAT, "notes.txt", "too short");
}

static void test_sharded_errors(void **state) {
    (void)state;
    ac_error err;
    const char *dir = tiny_dir("shards_bad", tiny_entries, TINY_N);
    rename(ac_test_path(dir, "model.safetensors"), ac_test_path(dir, "model-00001-of-00001.safetensors"));
    const char *index = ac_test_path(dir, "model.safetensors.index.json");
    /* a shard that does not exist */
    write_text(index, "{\"weight_map\": {\"wte.weight\": \"model-00001-of-00002.safetensors\"}}");
    expect_error(load_fails(dir, &err), &err, AC_ERR_IO, "model-00001-of-00002.safetensors", "cannot open");
    /* a shard outside the directory */
    write_text(index, "{\"weight_map\": {\"wte.weight\": \"../x.safetensors\"}}");
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "index.json", "same directory");
    /* a tensor the index maps to a shard that lacks it */
    write_text(index, "{\"weight_map\": {\"wte.weight\": \"model-00001-of-00001.safetensors\","
                      " \"wpe.weight\": \"model-00001-of-00001.safetensors\","
                      " \"h.0.attn.c_attn.weight\": \"model-00001-of-00001.safetensors\","
                      " \"h.0.attn.c_attn.bias\": \"model-00001-of-00001.safetensors\","
                      " \"h.0.attn.c_proj.weight\": \"model-00001-of-00001.safetensors\","
                      " \"h.0.attn.c_proj.bias\": \"model-00001-of-00002.safetensors\"}}");
    write_raw(ac_test_path(dir, "model-00001-of-00002.safetensors"), tiny_entries, 1, tiny_data, 48, -1);
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "model-00001-of-00002.safetensors",
                 "maps tensor h.0.attn.c_proj.bias to this shard, which does not contain it");
    write_text(index, "{\"weight_map\": {\"wte.weight\": \"model-00001-of-00001.safetensors\"}}");
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "index.json", "missing tensor wpe.weight");
    write_text(index, "{\"weight_map\": [1, 2]}");
    expect_error(load_fails(dir, &err), &err, AC_ERR_FORMAT, "index.json", "weight_map");
}

/* ---- llama2.c -------------------------------------------------------------------------- */

static void test_llama2c_errors(void **state) {
    (void)state;
    ac_error err;
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_LLAMA);
    c.n_layer = 1;
    c.n_head = 2;
    c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 8;
    c.vocab_size = 6;
    c.n_ctx = 4;
    c.tied_embeddings = 1; /* positive vocab_size in the header */
    const size_t floats = ac_config_param_count(&c) + (size_t)c.n_ctx * (size_t)c.d_head;
    float *w = calloc(floats, 4);
    for (size_t i = 0; i < floats; i++) w[i] = 0.001f * (float)i;
    int32_t header[7] = {8, 8, 1, 2, 2, 6, 4};
    const char *path = ac_test_path(ac_test_tmpdir(), "tiny.bin");
    FILE *f = fopen(path, "wb");
    fwrite(header, 4, 7, f);
    fwrite(w, 4, floats, f);
    fclose(f);
    ac_model *m = NULL;
    assert_ac_ok(ac_model_load(&m, path, &err), &err);
    assert_true(m->w.wte[47] == w[47]);
    ac_model_free(m);
    /* NaN: a version-0 file is plain floats, so the error has a byte offset */
    w[60] = NAN; /* rms_att is floats 48..55; wq starts at 56 */
    f = fopen(path, "wb");
    fwrite(header, 4, 7, f);
    fwrite(w, 4, floats, f);
    fclose(f);
    expect_error(load_fails(path, &err), &err, AC_ERR_FORMAT, "tiny.bin", "non-finite weight (NaN or Inf) in wq");
    assert_int_equal(err.offset, 28 + 60 * 4);
    /* truncated */
    assert_int_equal(truncate(path, 28 + 4 * (off_t)floats - 4), 0);
    expect_error(load_fails(path, &err), &err, AC_ERR_FORMAT, "tiny.bin", "header implies");
    /* a versioned export other than 1 */
    f = fopen(path, "wb");
    int32_t v2[2] = {0x616b3432, 2};
    fwrite(v2, 4, 2, f);
    fwrite(header, 4, 7, f);
    unsigned char pad[256 - 36] = {0};
    fwrite(pad, 1, sizeof pad, f);
    fwrite(w, 4, 100, f);
    fclose(f);
    expect_error(load_fails(path, &err), &err, AC_ERR_UNSUPPORTED, "tiny.bin", "unsupported llama2.c export version 2");
    /* version 1 with the wrong size */
    v2[1] = 1;
    f = fopen(path, "wb");
    fwrite(v2, 4, 2, f);
    fwrite(header, 4, 7, f);
    fwrite(pad, 1, sizeof pad, f);
    fwrite(w, 4, 100, f);
    fclose(f);
    expect_error(load_fails(path, &err), &err, AC_ERR_FORMAT, "tiny.bin", "version 1 header implies");
    free(w);
}

/* ---- allocation failures -------------------------------------------------------------- */

/* Every allocation the loader makes may fail: the result is AC_ERR_NOMEM, never a crash
 * or a leak (ASan checks the latter). */
static void test_allocation_failures(void **state) {
    (void)state;
    ac_error err;
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_LLAMA);
    c.n_layer = 2;
    c.n_head = 2;
    c.n_kv_head = 1;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 8;
    c.vocab_size = 6;
    c.n_ctx = 4;
    c.attn_bias = 1;
    ac_model *m = NULL;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 3, 0.1f);
    const char *dir = ac_test_path(ac_test_tmpdir(), "alloc_fail");
    ac__save_options opt = {AC__ST_F32, NULL, NULL, 2, 0};
    assert_ac_ok(ac__model_save_hf(m, dir, &opt, &err), &err);
    int saw_failure = 0;
    for (long k = 1; k < 10000; k++) {
        ac_model *b = NULL;
        ac_alloc_fail_after(k);
        int rc = ac_model_load(&b, dir, &err);
        ac_alloc_fail_after(0);
        if (rc == AC_OK) {
            assert_int_equal(memcmp(b->arena, m->arena, m->arena_floats * 4), 0);
            ac_model_free(b);
            break;
        }
        assert_int_equal(rc, AC_ERR_NOMEM);
        assert_null(b);
        saw_failure = 1;
    }
    assert_true(saw_failure);
    /* and saving */
    for (long k = 1; k < 10000; k++) {
        ac_alloc_fail_after(k);
        int rc = ac__model_save_hf(m, dir, &opt, &err);
        ac_alloc_fail_after(0);
        if (rc == AC_OK) break;
        assert_int_equal(rc, AC_ERR_NOMEM);
    }
    ac_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_is_valid),
        cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_header_length_past_end),
        cmocka_unit_test(test_overlapping_offsets),
        cmocka_unit_test(test_offsets_out_of_order_or_past_end),
        cmocka_unit_test(test_byte_length_mismatch),
        cmocka_unit_test(test_unknown_and_unsupported_dtype),
        cmocka_unit_test(test_header_json_errors),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape_for_config),
        cmocka_unit_test(test_unexpected_tensor),
        cmocka_unit_test(test_nan_weight),
        cmocka_unit_test(test_config_zero_or_negative),
        cmocka_unit_test(test_config_heads_not_dividing),
        cmocka_unit_test(test_config_absurd_sizes),
        cmocka_unit_test(test_config_syntax_error),
        cmocka_unit_test(test_config_unsupported),
        cmocka_unit_test(test_config_llama_keys),
        cmocka_unit_test(test_missing_config),
        cmocka_unit_test(test_nonexistent_path),
        cmocka_unit_test(test_directory_without_weights),
        cmocka_unit_test(test_unrecognised_file),
        cmocka_unit_test(test_sharded_errors),
        cmocka_unit_test(test_llama2c_errors),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
