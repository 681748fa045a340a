/* A catalogue of bad inputs, run through the command line (issue 8, part 2): one case per
 * kind of malformed checkpoint, config, tokenizer or dataset. Each must end with
 *   - the documented non-zero exit status (the ac_status of the error),
 *   - exactly one line on stderr, "autocircuit: FILE...: cause", naming the file and
 *     the cause,
 *   - nothing on stdout and no file created in the working directory,
 *   - no sanitizer report (the ASan build runs the same cases against its own CLI).
 * The library-level checks of the same inputs (status codes, offsets, line:column) are
 * in test_loader_errors.c and test_dataset_errors.c; this file checks what a user sees.
 * The commands that read and write result files (discover, evaluate, report, export,
 * compare) get the same treatment for bad scores, ground-truth and curve files, an output
 * directory that cannot be written and a full disk (a file-size limit); the library's
 * writers are also checked directly at the end. */
#include "ac_test.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autocircuit/scores.h"
#include "model/checkpoint.h"
#include "util/atomic_file.h"

/* ---- running the CLI ---------------------------------------------------------------- */

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int dir_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            print_error("left behind: %s/%s\n", dir, e->d_name);
            empty = 0;
        }
    closedir(d);
    return empty;
}

static int case_counter = 0;

/* Run `autocircuit ARGS` (ARGS already shell-quoted) in a fresh empty directory and check
 * the failure as described at the top. */
static void cli_fails_(const char *prefix, const char *args, int code, const char *file_part, const char *phrase,
                       const char *file, int line) {
    char cwd[600], out[700], errp[700], cmd[8192];
    snprintf(cwd, sizeof cwd, "%s/run%03d", ac_test_tmpdir(), case_counter++);
    assert_int_equal(mkdir(cwd, 0777), 0);
    snprintf(out, sizeof out, "%s.out", cwd);
    snprintf(errp, sizeof errp, "%s.err", cwd);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s '%s' %s > '%s' 2> '%s'", cwd, prefix, ac_test_cli(), args, out, errp);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    char *so = read_all(out), *se = read_all(errp);
    /* a coverage build's gcov runtime complains when it cannot write its counters (the
       disk-full cases): not the program's output */
    for (char *g; (g = strstr(se, "libgcov profiling error:")) != NULL;) {
        char *end = strchr(g, '\n');
        memmove(g, end ? end + 1 : g + strlen(g), strlen(end ? end + 1 : g + strlen(g)) + 1);
    }
    const char *nl = strchr(se, '\n');
    int ok = rc == code && so[0] == 0 && nl && nl[1] == 0 && !strncmp(se, "autocircuit: ", 13) &&
             strstr(se, file_part) && strstr(se, phrase) && !strstr(se, "Sanitizer") &&
             !strstr(se, "runtime error");
    if (!ok) {
        print_error("%s:%d: autocircuit %s\n  exit %d (want %d)\n  stdout: %s\n  stderr: %s"
                    "  (want one line naming \"%s\" with \"%s\")\n",
                    file, line, args, rc, code, so, se, file_part, phrase);
        free(so);
        free(se);
        _fail(file, line);
    }
    free(so);
    free(se);
    if (!dir_is_empty(cwd)) _fail(file, line);
}
#define cli_fails(args, code, file_part, phrase) cli_fails_("", (args), (code), (file_part), (phrase), __FILE__, __LINE__)
/* The same with a shell prefix before the command (e.g. a ulimit). */
#define cli_fails_with(prefix, args, code, file_part, phrase) \
    cli_fails_((prefix), (args), (code), (file_part), (phrase), __FILE__, __LINE__)

/* ---- files -------------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

static const char *fresh_dir(const char *name) {
    const char *dir = ac_test_path(ac_test_tmpdir(), name);
    assert_int_equal(mkdir(dir, 0777), 0);
    return dir;
}

/* A GPT-2, attention-only, no LayerNorm: 1 layer, width 4, 2 heads, 2 positions,
 * vocabulary 3, and its six tensors. */
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

/* A safetensors file from header entries; header_len < 0: the true length. */
static void write_safetensors(const char *path, const raw_entry *e, size_t n, const float *data,
                              long long header_len) {
    char header[4096];
    size_t used = (size_t)snprintf(header, sizeof header, "{");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(header + used, sizeof header - used,
                                 "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                                 i ? "," : "", e[i].name, e[i].dtype, e[i].shape, e[i].begin, e[i].end);
    used += (size_t)snprintf(header + used, sizeof header - used, "}");
    while (used % 8) header[used++] = ' ';
    unsigned char buf[8 + sizeof header + TINY_BYTES];
    uint64_t len = header_len < 0 ? used : (uint64_t)header_len;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8, header, used);
    memcpy(buf + 8 + used, data, TINY_BYTES);
    write_bytes(path, buf, 8 + used + TINY_BYTES);
}

static float tiny_data[TINY_BYTES / 4];

/* A model directory NAME with `config` and a safetensors file of the given entries. */
static const char *model_dir(const char *name, const char *config, const raw_entry *e, size_t n) {
    const char *dir = fresh_dir(name);
    static char saved[8][700];
    static int k = 0;
    char *d = saved[k++ & 7];
    snprintf(d, sizeof saved[0], "%s", dir);
    for (size_t i = 0; i < TINY_BYTES / 4; i++) tiny_data[i] = 0.01f * (float)i - 0.5f;
    write_text(ac_test_path(d, "config.json"), config);
    write_safetensors(ac_test_path(d, "model.safetensors"), e, n, tiny_data, -1);
    return d;
}

static const char *tiny_dir(const char *name, const raw_entry *e) {
    return model_dir(name, tiny_config, e, TINY_N);
}

static char args_buf[4096];

static const char *info_args(const char *model) {
    snprintf(args_buf, sizeof args_buf, "info --model '%s'", model);
    return args_buf;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static void test_valid_tiny_model(void **state) {
    (void)state;
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' info --model '%s' 2>&1", ac_test_cli(), tiny_dir("valid", tiny_entries));
    assert_int_equal(ac_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "attention-only"));
    free(out);
    /* and as JSON */
    snprintf(cmd, sizeof cmd, "'%s' info --json --seq-len 3 --model '%s'", ac_test_cli(),
             ac_test_path(ac_test_tmpdir(), "valid"));
    assert_int_equal(ac_test_run(cmd, &out), 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "n_layer")), 1);
    assert_true(json_is_true(json_object_get(j, "attn_only")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "graph"), "seq_len")), 3);
    json_decref(j);
    free(out);
}

static void test_truncated_safetensors(void **state) {
    (void)state;
    const char *dir = tiny_dir("truncated", tiny_entries);
    const char *st = ac_test_path(dir, "model.safetensors");
    struct stat s;
    assert_int_equal(stat(st, &s), 0);
    assert_int_equal(truncate(st, s.st_size - 10), 0);
    cli_fails(info_args(dir), AC_ERR_FORMAT, "truncated/model.safetensors", "past the end of the data section");
    assert_int_equal(truncate(st, 3), 0);
    cli_fails(info_args(dir), AC_ERR_FORMAT, "truncated/model.safetensors", "file too short");
}

static void test_header_length_beyond_file(void **state) {
    (void)state;
    const char *dir = tiny_dir("header_len", tiny_entries);
    write_safetensors(ac_test_path(dir, "model.safetensors"), tiny_entries, TINY_N, tiny_data, 1LL << 40);
    cli_fails(info_args(dir), AC_ERR_FORMAT, "header_len/model.safetensors: at byte 0:", "larger than the file");
}

static void test_offsets_overlapping(void **state) {
    (void)state;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[1].begin = 40;
    e[1].end = 72;
    cli_fails(info_args(tiny_dir("overlap", e)), AC_ERR_FORMAT, "overlap/model.safetensors",
              "tensors wte.weight [0, 48) and wpe.weight [40, 72) overlap");
}

static void test_offsets_out_of_order(void **state) {
    (void)state;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[2].begin = 272;
    e[2].end = 80;
    cli_fails(info_args(tiny_dir("out_of_order", e)), AC_ERR_FORMAT, "out_of_order/model.safetensors",
              "tensor h.0.attn.c_attn.weight: data offsets out of order [272, 80)");
}

static void test_offsets_past_end(void **state) {
    (void)state;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[5].begin = 400;
    e[5].end = 416;
    cli_fails(info_args(tiny_dir("past_end", e)), AC_ERR_FORMAT, "past_end/model.safetensors",
              "tensor h.0.attn.c_proj.bias: data [400, 416) past the end of the data section");
}

static void test_dtype_shape_bytes_mismatch(void **state) {
    (void)state;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[0].dtype = "F16"; /* 24 bytes by shape and dtype, 48 by offsets */
    cli_fails(info_args(tiny_dir("bytes_mismatch", e)), AC_ERR_FORMAT, "bytes_mismatch/model.safetensors",
              "tensor wte.weight: byte length 48 does not match shape x dtype F16");
}

static void test_unknown_dtype(void **state) {
    (void)state;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[1].dtype = "F24";
    cli_fails(info_args(tiny_dir("dtype_unknown", e)), AC_ERR_FORMAT, "dtype_unknown/model.safetensors",
              "tensor wpe.weight: unknown dtype \"F24\"");
    memcpy(e, tiny_entries, sizeof e);
    e[1].dtype = "I32";
    cli_fails(info_args(tiny_dir("dtype_int", e)), AC_ERR_UNSUPPORTED, "dtype_int/model.safetensors",
              "tensor wpe.weight has dtype I32 (only F32, F16 and BF16 are supported)");
}

static void test_missing_tensor(void **state) {
    (void)state;
    cli_fails(info_args(model_dir("missing_tensor", tiny_config, tiny_entries, TINY_N - 1)), AC_ERR_FORMAT,
              "missing_tensor/model.safetensors", "missing tensor h.0.attn.c_proj.bias");
}

static void test_wrong_shape_for_config(void **state) {
    (void)state;
    raw_entry e[TINY_N];
    memcpy(e, tiny_entries, sizeof e);
    e[2].shape = "[12,4]";
    cli_fails(info_args(tiny_dir("wrong_shape", e)), AC_ERR_SHAPE, "wrong_shape/model.safetensors",
              "tensor h.0.attn.c_attn.weight has shape [12,4], expected [4,12]");
}

/* NaN and Inf weights are errors (docs/reliability.md): a model that computes NaN would
 * give meaningless scores silently. */
static void test_nan_inf_weights(void **state) {
    (void)state;
    const char *dir = tiny_dir("nan", tiny_entries);
    tiny_data[20 + 5] = NAN;
    write_safetensors(ac_test_path(dir, "model.safetensors"), tiny_entries, TINY_N, tiny_data, -1);
    cli_fails(info_args(dir), AC_ERR_FORMAT, "nan/model.safetensors",
              "tensor h.0.attn.c_attn.weight has a non-finite value (NaN or Inf) at flat index 5");
    tiny_data[20 + 5] = 0;
    tiny_data[1] = INFINITY;
    write_safetensors(ac_test_path(dir, "model.safetensors"), tiny_entries, TINY_N, tiny_data, -1);
    cli_fails(info_args(dir), AC_ERR_FORMAT, "nan/model.safetensors",
              "tensor wte.weight has a non-finite value (NaN or Inf) at flat index 1");
}

static void test_config_zero_size(void **state) {
    (void)state;
    cli_fails(info_args(model_dir("cfg_zero",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 0, \"n_head\": 2,"
                                  " \"n_positions\": 2, \"vocab_size\": 3}",
                                  tiny_entries, TINY_N)),
              AC_ERR_FORMAT, "cfg_zero/config.json", "\"n_layer\" must be a positive integer, got 0");
}

static void test_config_negative_size(void **state) {
    (void)state;
    cli_fails(info_args(model_dir("cfg_negative",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 4, \"intermediate_size\": -8,"
                                  " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 3}",
                                  tiny_entries, TINY_N)),
              AC_ERR_FORMAT, "cfg_negative/config.json", "\"intermediate_size\" must be a positive integer, got -8");
}

static void test_config_heads_not_dividing(void **state) {
    (void)state;
    cli_fails(info_args(model_dir("cfg_heads",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 10, \"n_layer\": 1, \"n_head\": 4,"
                                  " \"n_positions\": 2, \"vocab_size\": 3}",
                                  tiny_entries, TINY_N)),
              AC_ERR_FORMAT, "cfg_heads/config.json", "n_embd 10 is not divisible by n_head 4");
}

/* Sizes whose products overflow size_t (or would allocate terabytes) are refused before
 * any allocation. */
static void test_config_absurd_sizes(void **state) {
    (void)state;
    cli_fails(info_args(model_dir("cfg_absurd",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 16777216, \"intermediate_size\": 16777216,"
                                  " \"num_hidden_layers\": 4096, \"num_attention_heads\": 1, \"vocab_size\": 67108864}",
                                  tiny_entries, TINY_N)),
              AC_ERR_FORMAT, "cfg_absurd/config.json", "sizes too large (parameter count overflows)");
    cli_fails(info_args(model_dir("cfg_int_overflow",
                                  "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2,"
                                  " \"n_positions\": 2, \"vocab_size\": 18446744073709551617}",
                                  tiny_entries, TINY_N)),
              AC_ERR_FORMAT, "cfg_int_overflow/config.json:1:", "too big integer");
}

/* Heads too wide for the fused Q/K/V projection (its width is an int BLAS dimension). */
static void test_config_heads_too_wide(void **state) {
    (void)state;
    cli_fails(info_args(model_dir("cfg_wide_heads",
                                  "{\"model_type\": \"llama\", \"hidden_size\": 4, \"intermediate_size\": 8,"
                                  " \"num_hidden_layers\": 1, \"num_attention_heads\": 65536, \"head_dim\": 65536,"
                                  " \"vocab_size\": 3}",
                                  tiny_entries, TINY_N)),
              AC_ERR_FORMAT, "cfg_wide_heads/config.json", "too wide (fused Q/K/V width above 2^31)");
}

/* A run sized from a plausible model and an absurd batch: the arena size would wrap
 * around size_t; it is refused instead of allocating a wrapped-around size. */
static void test_run_arena_overflow(void **state) {
    (void)state;
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_LLAMA);
    c.n_layer = 1;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 4;
    c.d_head = 2;
    c.d_mlp = 4;
    c.vocab_size = 3;
    c.n_ctx = 1 << 24; /* no position table: costs nothing */
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_run *r = (ac_run *)(uintptr_t)1;
    assert_int_equal(ac_run_create(&r, m, NULL, 2147483647, 1 << 24, &err), AC_ERR_NOMEM);
    assert_null(r);
    assert_non_null(strstr(err.msg, "too large to allocate"));
    ac_model_free(m);
}

static void test_config_syntax_error(void **state) {
    (void)state;
    cli_fails(info_args(model_dir("cfg_syntax", "{\n  \"model_type\": \"gpt2\",\n  \"n_embd\": 4,,\n}\n",
                                  tiny_entries, TINY_N)),
              AC_ERR_FORMAT, "cfg_syntax/config.json:3:", "invalid JSON");
}

static void test_missing_files(void **state) {
    (void)state;
    const char *dir = tiny_dir("no_config", tiny_entries);
    unlink(ac_test_path(dir, "config.json"));
    cli_fails(info_args(dir), AC_ERR_IO, "no_config/config.json", "missing config.json");
    cli_fails(info_args(ac_test_path(ac_test_tmpdir(), "no/such/model")), AC_ERR_IO, "no/such/model",
              "No such file or directory");
    dir = fresh_dir("no_weights");
    write_text(ac_test_path(dir, "config.json"), tiny_config);
    cli_fails(info_args(dir), AC_ERR_IO, "no_weights", "no weights");
}

/* A file that cannot be read: a directory where config.json should be (and, when not
 * running as root, a file without read permission). */
static void test_unreadable_files(void **state) {
    (void)state;
    const char *dir = tiny_dir("config_is_dir", tiny_entries);
    unlink(ac_test_path(dir, "config.json"));
    assert_int_equal(mkdir(ac_test_path(dir, "config.json"), 0777), 0);
    cli_fails(info_args(dir), AC_ERR_IO, "config_is_dir/config.json", "not a regular file");
    if (geteuid() != 0) {
        dir = tiny_dir("unreadable", tiny_entries);
        assert_int_equal(chmod(ac_test_path(dir, "model.safetensors"), 0), 0);
        cli_fails(info_args(dir), AC_ERR_IO, "unreadable/model.safetensors", "Permission denied");
    }
}

static void test_llama2c_truncated(void **state) {
    (void)state;
    /* dim 8, hidden 8, 1 layer, 2 heads, 2 kv heads, vocab 6 (shared), seq 4: 536 floats
     * with the RoPE tables of a version-0 file */
    const int32_t header[7] = {8, 8, 1, 2, 2, 6, 4};
    unsigned char buf[28 + 4 * 536] = {0};
    memcpy(buf, header, sizeof header);
    const char *path = ac_test_path(ac_test_tmpdir(), "stories.bin");
    write_bytes(path, buf, sizeof buf - 4);
    cli_fails(info_args(path), AC_ERR_FORMAT, "stories.bin", "header implies 2172 bytes and the file has 2168");
}

static void test_shard_missing(void **state) {
    (void)state;
    const char *dir = tiny_dir("shards", tiny_entries);
    rename(ac_test_path(dir, "model.safetensors"), ac_test_path(dir, "model-00001-of-00002.safetensors"));
    write_text(ac_test_path(dir, "model.safetensors.index.json"),
               "{\"weight_map\": {\"wte.weight\": \"model-00002-of-00002.safetensors\"}}");
    cli_fails(info_args(dir), AC_ERR_IO, "shards/model-00002-of-00002.safetensors", "cannot open");
}

/* ---- tokenizers ----------------------------------------------------------------------- */

static const char *tok_args(const char *tokenizer) {
    snprintf(args_buf, sizeof args_buf, "tokenize --tokenizer '%s' hello", tokenizer);
    return args_buf;
}

static void test_tokenizer_vocab_syntax(void **state) {
    (void)state;
    const char *dir = fresh_dir("tok_vocab_syntax");
    write_text(ac_test_path(dir, "vocab.json"), "{\"a\": 0,\n \"b\": }\n");
    write_text(ac_test_path(dir, "merges.txt"), "#version: 0.2\n");
    cli_fails(tok_args(dir), AC_ERR_FORMAT, "tok_vocab_syntax/vocab.json:2:7:", "unexpected token");
}

static void test_tokenizer_merge_unknown_token(void **state) {
    (void)state;
    const char *dir = fresh_dir("tok_merge");
    write_text(ac_test_path(dir, "vocab.json"), "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    write_text(ac_test_path(dir, "merges.txt"), "#version: 0.2\na b\na c\n");
    cli_fails(tok_args(dir), AC_ERR_FORMAT, "tok_merge/merges.txt:3:", "is not in the vocabulary");
}

static void test_tokenizer_json_unsupported(void **state) {
    (void)state;
    const char *path = ac_test_path(ac_test_tmpdir(), "wordpiece.json");
    write_text(path, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}");
    cli_fails(tok_args(path), AC_ERR_UNSUPPORTED, "wordpiece.json", "model type 'WordPiece' is not supported");
}

static void test_tokenizer_llama2c_truncated(void **state) {
    (void)state;
    /* max_token_length, then a record whose length runs past the end */
    const int32_t words[3] = {8, 0, 100};
    const char *path = ac_test_path(ac_test_tmpdir(), "tok_trunc.bin");
    write_bytes(path, words, sizeof words);
    cli_fails(tok_args(path), AC_ERR_FORMAT, "tok_trunc.bin: at byte 8:", "runs past the end of the file");
}

static void test_tokenizer_missing(void **state) {
    (void)state;
    cli_fails(tok_args(ac_test_path(ac_test_tmpdir(), "no_tokenizer.json")), AC_ERR_IO, "no_tokenizer.json",
              "No such file or directory");
}

/* ---- datasets ------------------------------------------------------------------------- */

/* The model and tokenizer the dataset cases load with: GPT-2 attention-only, vocabulary
 * 50; a word-level-ish GPT-2 tokenizer: a b c Ġ Ġa ab. */
static const char *ds_model, *ds_tok;

static void make_dataset_fixtures(void) {
    if (ds_model) return;
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 1;
    c.n_head = c.n_kv_head = 1;
    c.d_model = c.d_head = 4;
    c.attn_only = 1;
    c.vocab_size = 50;
    c.n_ctx = 8;
    c.bos_id = c.eos_id = 0;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 1, 0.1f);
    static char model[700], tok[700];
    snprintf(model, sizeof model, "%s", ac_test_path(ac_test_tmpdir(), "ds_model"));
    assert_ac_ok(ac_model_save(m, model, &err), &err);
    ac_model_free(m);
    snprintf(tok, sizeof tok, "%s", fresh_dir("ds_tok"));
    write_text(ac_test_path(tok, "vocab.json"),
               "{\"a\": 0, \"b\": 1, \"c\": 2, \"\\u0120\": 3, \"\\u0120a\": 4, \"ab\": 5}");
    write_text(ac_test_path(tok, "merges.txt"), "#version: 0.2\n\xC4\xA0 a\na b\n");
    ds_model = model;
    ds_tok = tok;
}

static int ds_counter = 0;

/* Args for `data` on a new dataset file holding `json`; *path gets its path. */
static const char *data_args(const char *json, const char *extra, const char **path) {
    make_dataset_fixtures();
    static char p[700];
    char name[64];
    snprintf(name, sizeof name, "dataset%02d.json", ds_counter++);
    snprintf(p, sizeof p, "%s", ac_test_path(ac_test_tmpdir(), name));
    write_text(p, json);
    snprintf(args_buf, sizeof args_buf, "data --model '%s' --tokenizer '%s' --no-bos --train-test all,0 --data '%s' %s", ds_model, ds_tok, p,
             extra ? extra : "");
    if (path) *path = p;
    return args_buf;
}

#define P_OK "{\"clean\": [2, 3], \"corrupt\": [2, 4], \"answers\": [5], \"wrong_answers\": [6]}"

static void test_dataset_valid(void **state) {
    (void)state;
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", ac_test_cli(),
             data_args("{\"prompts\": [" P_OK ", {\"clean\": \"ab c\", \"corrupt\": \"c c\", \"answers\": [\" a\"],"
                       " \"wrong_answers\": [\"b\"]}]}",
                       NULL, NULL));
    assert_int_equal(ac_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "2 prompts"));
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' %s --json --examples 2 2>&1", ac_test_cli(),
             data_args("{\"prompts\": [" P_OK ", {\"clean\": \"ab c\", \"corrupt\": \"c c\", \"answers\": [\" a\"],"
                       " \"wrong_answers\": [\"b\"]}]}",
                       NULL, NULL));
    assert_int_equal(ac_test_run(cmd, &out), 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "prompts")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "examples")), 2);
    json_decref(j);
    free(out);
}

static void test_dataset_syntax_error(void **state) {
    (void)state;
    const char *path;
    const char *args = data_args("{\"prompts\": [\n  " P_OK ",\n  ,\n]}", NULL, &path);
    char want[800];
    snprintf(want, sizeof want, "%s:3:3:", path);
    cli_fails(args, AC_ERR_FORMAT, want, "invalid JSON");
}

static void test_dataset_wrong_types(void **state) {
    (void)state;
    const char *path;
    const char *args = data_args("{\"prompts\": [{\"clean\": [2, \"x\"], \"corrupt\": [2, 4], \"answers\": [5],"
                                 " \"wrong_answers\": [6]}]}",
                                 NULL, &path);
    cli_fails(args, AC_ERR_FORMAT, path, "prompts[0].clean[1] must be an integer token id, got a string");
}

static void test_dataset_empty_list(void **state) {
    (void)state;
    const char *path;
    const char *args = data_args("{\"prompts\": []}", NULL, &path);
    cli_fails(args, AC_ERR_FORMAT, path, "\"prompts\" is empty");
}

static void test_dataset_out_of_vocabulary(void **state) {
    (void)state;
    const char *path;
    const char *args = data_args("{\"prompts\": [" P_OK ", {\"clean\": [2, 50], \"corrupt\": [2, 4],"
                                 " \"answers\": [5], \"wrong_answers\": [6]}]}",
                                 NULL, &path);
    cli_fails(args, AC_ERR_RANGE, path, "prompts[1].clean[1]: token id 50 outside the vocabulary [0, 50)");
}

static void test_dataset_multi_token_answer(void **state) {
    (void)state;
    const char *path;
    const char *args = data_args("{\"prompts\": [{\"clean\": \"ab c\", \"corrupt\": \"c c\", \"answers\": [\" b\"],"
                                 " \"wrong_answers\": [\"a\"]}]}",
                                 NULL, &path);
    cli_fails(args, AC_ERR_FORMAT, path, "prompts[0].answers[0] \" b\" is 2 tokens: an answer must be exactly one token");
}

static void test_dataset_fixed_length_mismatch(void **state) {
    (void)state;
    const char *path;
    const char *args = data_args("{\"prompts\": [" P_OK ", {\"clean\": [2, 3, 4], \"corrupt\": [2, 4, 4],"
                                 " \"answers\": [5], \"wrong_answers\": [6]}]}",
                                 "--fixed-length", &path);
    cli_fails(args, AC_ERR_FORMAT, path, "prompts[1].clean has 3 tokens but");
}

static void test_dataset_missing_file(void **state) {
    (void)state;
    make_dataset_fixtures();
    const char *missing = ac_test_path(ac_test_tmpdir(), "no_dataset.json");
    snprintf(args_buf, sizeof args_buf, "data --model '%s' --data '%s'", ds_model, missing);
    cli_fails(args_buf, AC_ERR_IO, "no_dataset.json", "No such file or directory");
    const char *dir = fresh_dir("dataset_is_dir.json");
    snprintf(args_buf, sizeof args_buf, "data --model '%s' --data '%s'", ds_model, dir);
    cli_fails(args_buf, AC_ERR_IO, "dataset_is_dir.json", "Is a directory");
}

/* ---- output files: not writable, disk full ---------------------------------------------- */

static ac_model *tiny_model(void) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_LLAMA);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 16;
    c.d_head = 8;
    c.d_mlp = 32;
    c.vocab_size = 64;
    c.n_ctx = 8;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 5, 0.1f);
    return m;
}

/* An output directory that cannot be created or written: its parent is a file (the
 * tests run as root in CI, where permissions would not stop a write). */
static void test_output_dir_not_writable(void **state) {
    (void)state;
    ac_model *m = tiny_model();
    ac_error err;
    const char *file = ac_test_path(ac_test_tmpdir(), "a_file");
    write_text(file, "x");
    char out[800];
    snprintf(out, sizeof out, "%s/model", file);
    assert_int_equal(ac_model_save(m, out, &err), AC_ERR_IO);
    assert_non_null(strstr(err.file, "a_file"));
    assert_non_null(strstr(err.msg, "not a directory"));
    ac__afile af;
    assert_int_equal(ac__afile_open(&af, ac_test_path(out, "scores.json"), &err), AC_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot create"));
    ac__afile_abort(&af); /* safe after a failed open */
    ac_model_free(m);
}

/* Disk full, simulated with a file-size limit: every write past it fails (EFBIG). The
 * writer reports AC_ERR_IO naming the file and leaves neither the file nor its
 * temporary behind. Runs in a child process so the limit cannot leak into other tests. */
static void test_disk_full(void **state) {
    (void)state;
    const char *dir = fresh_dir("full");
    char out[700];
    snprintf(out, sizeof out, "%s/model", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = 4096;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(90);
        ac_model *m = tiny_model(); /* ~24 KB of weights */
        ac_error err;
        int rc = ac_model_save(m, out, &err);
        ac_model_free(m);
        if (rc != AC_ERR_IO) _exit(91);
        if (!strstr(err.file, "model.safetensors")) _exit(92);
        if (!strstr(err.msg, "write failed")) _exit(93);
        /* an atomic result file: the same */
        char path[800];
        snprintf(path, sizeof path, "%s/scores.json", dir);
        ac__afile af;
        if (ac__afile_open(&af, path, &err)) _exit(94);
        for (int i = 0; i < 2000; i++) fprintf(af.f, "{\"edge\": %d, \"score\": 0.125}\n", i);
        rc = ac__afile_commit(&af, &err);
        if (rc != AC_ERR_IO || !strstr(err.file, "scores.json") || !strstr(err.msg, "write failed")) _exit(95);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* nothing left but the (empty) model directory ac_model_save created */
    assert_true(dir_is_empty(out));
    assert_int_equal(rmdir(out), 0);
    assert_true(dir_is_empty(dir));
}

/* ---- result files: discover, evaluate, report, export, compare ---------------------------- */

/* A 2-layer and a 3-layer GPT-2 (2 heads, width 8), a dataset of 6 id prompts, and
 * result files for them written by the library: scores of both graphs, a ground truth
 * of each, combined-Q/K/V scores, a curve. */
enum { RV = 23 };
static char rf_model2[700], rf_model3[700], rf_data[700], rf_scores2[700], rf_scores3[700], rf_truth2[700],
    rf_truth3[700], rf_combined[700], rf_curve[700];
static const char *RF_DATA_OPTS = "--no-bos --train-test 6,0 --batch-size 4";

static void rf_save_model(const char *dir, int n_layer, ac_config *out) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = n_layer;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 16;
    c.vocab_size = RV;
    c.n_ctx = 16;
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_create(&m, &c, &err), &err);
    ac_model_init_random(m, 7, 0.5f);
    assert_ac_ok(ac_model_save(m, dir, &err), &err);
    ac_model_free(m);
    *out = c;
}

static void rf_write_results(const ac_config *c, int combined, const char *scores, const char *truth) {
    ac_graph_opts o = ac_graph_default_opts();
    o.separate_qkv = !combined;
    ac_graph *g;
    ac_error err;
    assert_ac_ok(ac_graph_build(&g, c, &o, &err), &err);
    float *s = calloc(g->n_edges, sizeof *s);
    uint8_t *in = calloc(g->n_edges, 1);
    for (size_t e = 0; e < g->n_edges; e++) {
        s[e] = (float)((int)(e * 5 % 13) - 6) / 4.0f;
        in[e] = e % 4 == 0;
    }
    assert_ac_ok(ac_scores_write(scores, g, s, NULL, &err), &err);
    if (truth) assert_ac_ok(ac_ground_truth_write(truth, g, in, &err), &err);
    free(s);
    free(in);
    ac_graph_free(g);
}

static void make_result_fixtures(void) {
    if (rf_model2[0]) return;
    ac_config c2, c3;
    snprintf(rf_model2, sizeof rf_model2, "%s", ac_test_path(ac_test_tmpdir(), "rf_model2"));
    snprintf(rf_model3, sizeof rf_model3, "%s", ac_test_path(ac_test_tmpdir(), "rf_model3"));
    rf_save_model(rf_model2, 2, &c2);
    rf_save_model(rf_model3, 3, &c3);
    snprintf(rf_data, sizeof rf_data, "%s", ac_test_path(ac_test_tmpdir(), "rf_data.json"));
    FILE *f = fopen(rf_data, "w");
    assert_non_null(f);
    fprintf(f, "{\"prompts\": [\n");
    for (int i = 0; i < 6; i++)
        fprintf(f, "{\"clean\": [%d, %d, 3, 5], \"corrupt\": [%d, %d, 3, 5], \"answers\": [%d], \"wrong_answers\": [%d]}%s\n",
                1 + i, 2 + i, 1 + i, 9 + i, 7 + i, 12 + i % 4, i < 5 ? "," : "");
    fprintf(f, "]}\n");
    fclose(f);
#define RF_PATH(var, name) snprintf(var, sizeof var, "%s", ac_test_path(ac_test_tmpdir(), name))
    RF_PATH(rf_scores2, "rf_scores2.json");
    RF_PATH(rf_scores3, "rf_scores3.json");
    RF_PATH(rf_truth2, "rf_truth2.json");
    RF_PATH(rf_truth3, "rf_truth3.json");
    RF_PATH(rf_combined, "rf_combined.json");
    RF_PATH(rf_curve, "rf_curve.json");
#undef RF_PATH
    rf_write_results(&c2, 0, rf_scores2, rf_truth2);
    rf_write_results(&c3, 0, rf_scores3, rf_truth3);
    rf_write_results(&c2, 1, rf_combined, NULL);
    const ac_eval_point pts[2] = {{0, 0, 1.0, 0.1, 5, 1, 0.5, -0.7, 50, 50}, {10, 10, 0.5, 0.9, 80, 2, 0.6, -0.5, 50, 50}};
    ac_curve cv = {.model = "m", .data = "d", .scores_path = "s", .ablation = "resample", .patch = "edge",
                   .split = "train", .n_prompts = 6, .n_edges_total = 46, .points = pts, .n_points = 2,
                   .clean_logit_diff = 1, .corrupt_logit_diff = 0, .auc_logit_diff = 3, .auc_logit_diff_log = NAN,
                   .auc_kl = NAN, .seconds = -1};
    ac_error err;
    assert_ac_ok(ac_curve_write(rf_curve, &cv, &err), &err);
}

/* A file NAME in the temporary directory holding text; returns its path (static). */
static const char *rf_text(const char *name, const char *text) {
    static char bufs[4][700];
    static int k = 0;
    char *p = bufs[k++ & 3];
    snprintf(p, sizeof bufs[0], "%s", ac_test_path(ac_test_tmpdir(), name));
    write_text(p, text);
    return p;
}

static const char *eval_args(const char *scores, const char *extra) {
    snprintf(args_buf, sizeof args_buf, "evaluate --model '%s' --data '%s' %s --scores '%s' --quiet %s", rf_model2,
             rf_data, RF_DATA_OPTS, scores, extra ? extra : "");
    return args_buf;
}

/* A scores file valid for the library as a file, but for another model: evaluate,
 * report with a ground truth, discover with --avoid, compare. */
static void test_scores_for_another_graph(void **state) {
    (void)state;
    make_result_fixtures();
    cli_fails(eval_args(rf_scores3, NULL), AC_ERR_SHAPE, "rf_scores3.json", "scores file for another model's graph?");
    char extra[800];
    snprintf(extra, sizeof extra, "--ground-truth '%s'", rf_truth3);
    cli_fails(eval_args(rf_scores2, extra), AC_ERR_SHAPE, "rf_truth3.json", "is not an edge of this model's graph");
    snprintf(args_buf, sizeof args_buf, "report --scores '%s' --ground-truth '%s'", rf_scores2, rf_truth3);
    cli_fails(args_buf, AC_ERR_SHAPE, "rf_truth3.json", "A2.");
    snprintf(args_buf, sizeof args_buf, "discover --model '%s' --data '%s' %s --algo probe --epochs 1 --quiet --avoid '%s'",
             rf_model2, rf_data, RF_DATA_OPTS, rf_truth3);
    cli_fails(args_buf, AC_ERR_SHAPE, "rf_truth3.json", "is not an edge of this model's graph");
    snprintf(args_buf, sizeof args_buf, "compare '%s' '%s'", rf_scores2, rf_scores3);
    cli_fails(args_buf, AC_ERR_SHAPE, "rf_scores3.json", "not the same graph");
}

/* Malformed scores, ground-truth and curve files: syntax (with line:column), schema,
 * a ground truth where scores are needed, a newer version, a missing file. */
static void test_bad_result_files(void **state) {
    (void)state;
    make_result_fixtures();
    char broken[700];
    snprintf(broken, sizeof broken, "%s", rf_text("rf_broken.json", "{\"edges\": [\n  {\"src\": }\n]}\n"));
    char want[800];
    snprintf(want, sizeof want, "%s:2:", broken);
    cli_fails(eval_args(broken, NULL), AC_ERR_FORMAT, want, "unexpected token");
    snprintf(args_buf, sizeof args_buf, "report --scores '%s'", broken);
    cli_fails(args_buf, AC_ERR_FORMAT, want, "unexpected token");
    snprintf(args_buf, sizeof args_buf, "export --scores '%s' --format dot --out e.dot", broken);
    cli_fails(args_buf, AC_ERR_FORMAT, want, "unexpected token");
    snprintf(args_buf, sizeof args_buf, "compare '%s' '%s'", rf_scores2, broken);
    cli_fails(args_buf, AC_ERR_FORMAT, want, "unexpected token");
    const char *schema = rf_text("rf_schema.json",
                                 "{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"MLP 0\", \"score\": 1},"
                                 " {\"src\": \"A0.1\", \"score\": 2}]}");
    cli_fails(eval_args(schema, NULL), AC_ERR_FORMAT, "rf_schema.json", "edges[1]: missing key \"dest\"");
    const char *mixed = rf_text("rf_mixed.json",
                                "{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"MLP 0\", \"score\": \"big\"}]}");
    cli_fails(eval_args(mixed, NULL), AC_ERR_FORMAT, "rf_mixed.json", "edges[0].score: expected a number or \"inf\"");
    const char *dup = rf_text("rf_dup.json",
                              "{\"edges\": [{\"src\": \"A0.0\", \"dest\": \"MLP 0\", \"score\": 1},"
                              " {\"src\": \"A0.0\", \"dest\": \"MLP 0\", \"score\": 2}]}");
    snprintf(args_buf, sizeof args_buf, "export --scores '%s' --format csv --out e.csv", dup);
    cli_fails(args_buf, AC_ERR_FORMAT, "rf_dup.json", "edges[1]: A0.0->MLP 0 duplicates edges[0]");
    const char *newer = rf_text("rf_newer.json", "{\"format\": \"autocircuit-scores\", \"version\": 2, \"edges\": []}");
    cli_fails(eval_args(newer, NULL), AC_ERR_UNSUPPORTED, "rf_newer.json", "version 2 is newer");
    cli_fails(eval_args(rf_truth2, NULL), AC_ERR_FORMAT, "rf_truth2.json", "a ground-truth file has no scores");
    snprintf(args_buf, sizeof args_buf, "compare '%s' '%s'", rf_scores2, rf_truth2);
    cli_fails(args_buf, AC_ERR_FORMAT, "rf_truth2.json", "a ground-truth file has no scores");
    cli_fails(eval_args(ac_test_path(ac_test_tmpdir(), "rf_none.json"), NULL), AC_ERR_IO, "rf_none.json",
              "No such file or directory");
    /* ground truths for discover: --official, --avoid */
    snprintf(args_buf, sizeof args_buf, "discover --model '%s' --data '%s' %s --algo ground-truth --quiet --official '%s'",
             rf_model2, rf_data, RF_DATA_OPTS, broken);
    cli_fails(args_buf, AC_ERR_FORMAT, want, "unexpected token");
    /* curves for report */
    const char *nopoints = rf_text("rf_nopoints.json", "{\"format\": \"autocircuit-curve\", \"roc\": []}");
    snprintf(args_buf, sizeof args_buf, "report --scores '%s' --curve '%s'", rf_scores2, nopoints);
    cli_fails(args_buf, AC_ERR_FORMAT, "rf_nopoints.json", "missing key \"points\"");
    const char *badpoint = rf_text("rf_badpoint.json", "{\"points\": [{\"edges\": 1}, {\"edges\": -3}]}");
    snprintf(args_buf, sizeof args_buf, "report --scores '%s' --curve '%s'", rf_scores2, badpoint);
    cli_fails(args_buf, AC_ERR_FORMAT, "rf_badpoint.json", "points[1].edges: expected a non-negative integer");
    snprintf(args_buf, sizeof args_buf, "report --scores '%s' --curve '%s'", rf_scores2, rf_scores2);
    cli_fails(args_buf, AC_ERR_FORMAT, "rf_scores2.json", "format: expected \"autocircuit-curve\"");
    /* MIB cannot name combined Q/K/V inputs */
    snprintf(args_buf, sizeof args_buf, "export --scores '%s' --format mib --out m.json", rf_combined);
    cli_fails(args_buf, AC_ERR_UNSUPPORTED, "rf_combined.json", "MIB graphs need separate Q/K/V inputs");
}

/* --out into a directory that does not exist, or under a regular file, and (when not
 * root) into a read-only directory: AC_ERR_IO naming the output, nothing written. */
static void test_result_output_not_writable(void **state) {
    (void)state;
    make_result_fixtures();
    const char *file = rf_text("rf_a_file", "x");
    char outs[3][600];
    snprintf(outs[0], sizeof outs[0], "%s/out.json", ac_test_path(ac_test_tmpdir(), "rf_no_such_dir"));
    snprintf(outs[1], sizeof outs[1], "%s/out.json", file);
    int n_outs = 2;
    if (geteuid() != 0) {
        const char *ro = fresh_dir("rf_read_only");
        assert_int_equal(chmod(ro, 0555), 0);
        snprintf(outs[2], sizeof outs[2], "%s/out.json", ro);
        n_outs = 3;
    }
    for (int i = 0; i < n_outs; i++) {
        const char *o = outs[i];
        snprintf(args_buf, sizeof args_buf, "discover --model '%s' --data '%s' %s --algo random --quiet --out '%s'",
                 rf_model2, rf_data, RF_DATA_OPTS, o);
        cli_fails(args_buf, AC_ERR_IO, o, "cannot create");
        char extra[1900];
        snprintf(extra, sizeof extra, "--out '%s'", o);
        cli_fails(eval_args(rf_scores2, extra), AC_ERR_IO, o, "cannot create");
        snprintf(args_buf, sizeof args_buf, "report --scores '%s' --out '%s'", rf_scores2, o);
        cli_fails(args_buf, AC_ERR_IO, o, "cannot create");
        snprintf(args_buf, sizeof args_buf, "export --scores '%s' --format csv --out '%s'", rf_scores2, o);
        cli_fails(args_buf, AC_ERR_IO, o, "cannot create");
    }
}

/* Disk full during the write, through the CLI: a 512-byte file-size limit (dash's ulimit
 * counts 512-byte blocks; SIGXFSZ ignored, so writes fail with EFBIG). Every result
 * file is larger: AC_ERR_IO "write failed" naming it, and no file or temporary left in
 * the working directory (where the outputs go by default). */
static void test_result_disk_full(void **state) {
    (void)state;
    make_result_fixtures();
    const char *limit = "trap '' XFSZ; ulimit -f 1;";
    snprintf(args_buf, sizeof args_buf, "discover --model '%s' --data '%s' %s --algo eap --quiet", rf_model2, rf_data,
             RF_DATA_OPTS);
    cli_fails_with(limit, args_buf, AC_ERR_IO, "scores.json", "write failed");
    cli_fails_with(limit, eval_args(rf_scores2, NULL), AC_ERR_IO, "curve.json", "write failed");
    snprintf(args_buf, sizeof args_buf, "report --scores '%s' --curve '%s'", rf_scores2, rf_curve);
    cli_fails_with(limit, args_buf, AC_ERR_IO, "report.html", "write failed");
    snprintf(args_buf, sizeof args_buf, "export --scores '%s' --format csv --out e.csv", rf_scores2);
    cli_fails_with(limit, args_buf, AC_ERR_IO, "e.csv", "write failed");
    snprintf(args_buf, sizeof args_buf, "export --scores '%s' --format mib --out m.json", rf_scores2);
    cli_fails_with(limit, args_buf, AC_ERR_IO, "m.json", "write failed");
}

/* The same commands succeed on the fixtures (so the failures above are the inputs'). */
static void test_result_files_valid(void **state) {
    (void)state;
    make_result_fixtures();
    char cmd[8192];
    const char *dir = fresh_dir("rf_ok");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > /dev/null", dir, ac_test_cli(), eval_args(rf_scores2, NULL));
    assert_int_equal(ac_test_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' report --scores '%s' --curve curve.json --ground-truth '%s' > /dev/null",
             dir, ac_test_cli(), rf_scores2, rf_truth2);
    assert_int_equal(ac_test_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' export --scores '%s' --format mib --out m.json && '%s' compare --top 10 '%s' '%s' > /dev/null",
             dir, ac_test_cli(), rf_scores2, ac_test_cli(), rf_scores2, rf_scores2);
    assert_int_equal(ac_test_run(cmd, NULL), 0);
    /* compare --json escapes the names it takes from the files (settings.algo) */
    const char *quoted = rf_text("rf_quoted.json",
                                 "{\"settings\": {\"algo\": \"e\\\"a\\\\p\"}, \"edges\": [{\"src\": \"A0.0\","
                                 " \"dest\": \"MLP 0\", \"score\": 1}, {\"src\": \"A0.1\", \"dest\": \"MLP 0\", \"score\": 2}]}");
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' compare --top 1 --json '%s' '%s'", ac_test_cli(), quoted, quoted);
    assert_int_equal(ac_test_run(cmd, &out), 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j) fail_msg("compare --json printed invalid JSON: %s (%s)", out, jerr.text);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "files"), 0)), "e\"a\\p");
    json_decref(j);
    free(out);
}

/* Interrupts: the CLI's SIGINT/SIGTERM handler removes every open temporary output
 * (ac__afile_cleanup_all) and exits 130; checked on the library's side with two files
 * open at once, and through the CLI with SIGTERM during a long discovery (SIGINT is
 * test_cli_discover's). A rename that fails (the output path is a directory) is a
 * write failure that leaves the temporary behind neither. */
static void test_interrupt_cleanup(void **state) {
    (void)state;
    const char *dir = fresh_dir("intr_lib");
    char a[800], b[800];
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    ac__afile fa, fb;
    ac_error err;
    assert_ac_ok(ac__afile_open(&fa, a, &err), &err);
    assert_ac_ok(ac__afile_open(&fb, b, &err), &err);
    fputs("{\"partial\": ", fa.f);
    fflush(fa.f);
    ac__afile_cleanup_all();
    assert_true(dir_is_empty(dir));
    ac__afile_abort(&fa);
    ac__afile_abort(&fb);
    assert_true(dir_is_empty(dir));
    /* the output path is a directory: the rename fails */
    char sub[800];
    snprintf(sub, sizeof sub, "%s/out.json", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_ac_ok(ac__afile_open(&fa, sub, &err), &err);
    fputs("{}\n", fa.f);
    assert_int_equal(ac__afile_commit(&fa, &err), AC_ERR_IO);
    assert_non_null(strstr(err.msg, "write failed"));
    assert_non_null(strstr(err.file, "out.json"));
    assert_int_equal(rmdir(sub), 0);
    assert_true(dir_is_empty(dir));

    make_result_fixtures();
    const char *cwd = fresh_dir("intr_cli");
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && timeout --preserve-status -s TERM %s '%s' discover --model '%s' --data '%s' %s --algo ig "
             "--steps 1000000 --quiet 2>/dev/null",
             cwd, ac_test_signal_delay(), ac_test_cli(), rf_model2, rf_data, RF_DATA_OPTS);
    assert_int_equal(ac_test_run(cmd, NULL), 130);
    assert_true(dir_is_empty(cwd));
}

/* Command-line mistakes end the same way: an unknown command, an option without its
 * value, a list of counts that is not one. */
static void test_command_line_mistakes(void **state) {
    (void)state;
    cli_fails("frobnicate --model x", AC_ERR_ARG, "unknown command 'frobnicate'", "autocircuit --help");
    cli_fails("export --format csv --scores", AC_ERR_ARG, "option --scores needs a value", "");
    make_result_fixtures();
    snprintf(args_buf, sizeof args_buf, "compare --top 1,x,3 '%s' '%s'", rf_scores2, rf_scores2);
    cli_fails(args_buf, AC_ERR_ARG, "expected comma-separated", "1,x,3");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_tiny_model),
        cmocka_unit_test(test_truncated_safetensors),
        cmocka_unit_test(test_header_length_beyond_file),
        cmocka_unit_test(test_offsets_overlapping),
        cmocka_unit_test(test_offsets_out_of_order),
        cmocka_unit_test(test_offsets_past_end),
        cmocka_unit_test(test_dtype_shape_bytes_mismatch),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape_for_config),
        cmocka_unit_test(test_nan_inf_weights),
        cmocka_unit_test(test_config_zero_size),
        cmocka_unit_test(test_config_negative_size),
        cmocka_unit_test(test_config_heads_not_dividing),
        cmocka_unit_test(test_config_absurd_sizes),
        cmocka_unit_test(test_config_heads_too_wide),
        cmocka_unit_test(test_run_arena_overflow),
        cmocka_unit_test(test_config_syntax_error),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_llama2c_truncated),
        cmocka_unit_test(test_shard_missing),
        cmocka_unit_test(test_tokenizer_vocab_syntax),
        cmocka_unit_test(test_tokenizer_merge_unknown_token),
        cmocka_unit_test(test_tokenizer_json_unsupported),
        cmocka_unit_test(test_tokenizer_llama2c_truncated),
        cmocka_unit_test(test_tokenizer_missing),
        cmocka_unit_test(test_dataset_valid),
        cmocka_unit_test(test_dataset_syntax_error),
        cmocka_unit_test(test_dataset_wrong_types),
        cmocka_unit_test(test_dataset_empty_list),
        cmocka_unit_test(test_dataset_out_of_vocabulary),
        cmocka_unit_test(test_dataset_multi_token_answer),
        cmocka_unit_test(test_dataset_fixed_length_mismatch),
        cmocka_unit_test(test_dataset_missing_file),
        cmocka_unit_test(test_output_dir_not_writable),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_result_files_valid),
        cmocka_unit_test(test_scores_for_another_graph),
        cmocka_unit_test(test_bad_result_files),
        cmocka_unit_test(test_result_output_not_writable),
        cmocka_unit_test(test_result_disk_full),
        cmocka_unit_test(test_interrupt_cleanup),
        cmocka_unit_test(test_command_line_mistakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
