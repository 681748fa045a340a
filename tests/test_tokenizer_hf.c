/* Hugging Face tokenizer.json (byte-level BPE family): a tokenizer.json written from the
 * GPT-2 files must give the same ids as vocab.json + merges.txt; a small hand-written
 * one checks Split regexes, added tokens, ignore_merges, prefix spaces; the rest must be
 * refused as unsupported. */
#include "test_tokenizer_common.h"

#include <unistd.h>

/* ---- tokenizer.json from the GPT-2 files ------------------------------------------ */

static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* tokenizer.json with GPT-2's vocab and merges; pre_tokenizer ByteLevel with its regex,
 * or (split_pattern != NULL) a Sequence of Split(split_pattern) and ByteLevel. */
static void write_gpt2_tokenizer_json(const char *gpt2_dir, const char *out, int pair_merges,
                                      const char *split_pattern) {
    json_error_t jerr;
    json_t *vocab = json_load_file(ac_test_path(gpt2_dir, "vocab.json"), 0, &jerr);
    assert_non_null(vocab);
    FILE *f = fopen(ac_test_path(gpt2_dir, "merges.txt"), "rb");
    assert_non_null(f);
    char *merges_txt = calloc(1, 1 << 20);
    assert_non_null(merges_txt);
    size_t got = fread(merges_txt, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(got > 400000 && got < (1 << 20) - 1);
    json_t *merges = json_array();
    char *save = NULL;
    for (char *line = strtok_r(merges_txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "#version", 8)) continue;
        if (pair_merges) {
            char *space = strchr(line, ' ');
            assert_non_null(space);
            *space = 0;
            json_array_append_new(merges, json_pack("[ss]", line, space + 1));
        } else {
            json_array_append_new(merges, json_string(line));
        }
    }
    free(merges_txt);
    assert_int_equal(json_array_size(merges), 50000);
    json_t *pre;
    if (split_pattern)
        pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type",
                        "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
                        split_pattern, "behavior", "Isolated", "invert", 0, "type", "ByteLevel",
                        "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
    else
        pre = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                        "trim_offsets", 1, "use_regex", 1);
    assert_non_null(pre);
    json_t *root = json_pack(
        "{s:s, s:n, s:n, s:[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}], s:n, s:o,"
        " s:{s:s, s:b, s:b, s:b}, s:{s:s, s:b, s:b, s:b},"
        " s:{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", "id", 50256, "content",
        "<|endoftext|>", "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 1, "special", 1,
        "normalizer", "pre_tokenizer", pre, "post_processor", "type", "ByteLevel",
        "add_prefix_space", 1, "trim_offsets", 0, "use_regex", 1, "decoder", "type", "ByteLevel",
        "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1, "model", "type", "BPE",
        "dropout", "unk_token", "continuing_subword_prefix", "", "end_of_word_suffix", "",
        "fuse_unk", 0, "byte_fallback", 0, "vocab", vocab, "merges", merges);
    assert_non_null(root);
    assert_int_equal(json_dump_file(root, out, JSON_COMPACT), 0);
    json_decref(root);
}

static void assert_same_ids(const ac_tokenizer *a, const ac_tokenizer *b, const char *s,
                            size_t len) {
    int32_t *x, *y;
    size_t nx, ny;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(a, s, len, &x, &nx, &err), &err);
    assert_ac_ok(ac_tokenizer_encode(b, s, len, &y, &ny, &err), &err);
    if (nx != ny || memcmp(x, y, nx * sizeof *x)) fail_msg("ids differ for \"%.*s\"", (int)len, s);
    ac_free(x);
    ac_free(y);
}

static void test_gpt2_tokenizer_json(void **state) {
    (void)state;
    TT_REQUIRE_SHARED(gpt2_dir, "tokenizers/gpt2");
    char gpt2[1024];
    snprintf(gpt2, sizeof gpt2, "%s", gpt2_dir);
    ac_tokenizer *ref;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&ref, gpt2, &err), &err);
    json_t *golden_root;
    json_t *cases = tt_load_golden(&golden_root);
    static const char *const extra[] = {"<|endoftext|>", "a<|endoftext|>b", "x  <|endoftext|>  ",
                                        "\xFF\xFE", "caf\xC3", "\xE2\x82 x", "\xED\xA0\x80"};
    for (int variant = 0; variant < 3; variant++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/gpt2-%d.json", ac_test_tmpdir(), variant);
        write_gpt2_tokenizer_json(gpt2, path, variant >= 1, variant == 2 ? gpt2_pattern : NULL);
        ac_tokenizer *tok;
        assert_ac_ok(ac_tokenizer_load(&tok, path, &err), &err);
        assert_int_equal(ac_tokenizer_get_kind(tok), AC_TOKENIZER_GPT2_BPE);
        assert_int_equal(ac_tokenizer_vocab_size(tok), 50257);
        assert_int_equal(ac_tokenizer_bos(tok), 50256);
        assert_int_equal(ac_tokenizer_eos(tok), 50256);
        TT_ENCODES(tok, " The capital of France is", 383, 3139, 286, 4881, 318);
        TT_ENCODES(tok, "<|endoftext|>", 50256);
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c) {
            const json_t *text = json_object_get(c, "text");
            const json_t *want = json_object_get(c, "ids");
            size_t n = json_array_size(want);
            int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
            for (size_t k = 0; k < n; k++)
                ids[k] = (int32_t)json_integer_value(json_array_get(want, k));
            tt_assert_encodes(tok, json_string_value(text), json_string_length(text), ids, n);
            tt_assert_round_trip(tok, json_string_value(text), json_string_length(text), -1);
            free(ids);
        }
        for (size_t k = 0; k < sizeof extra / sizeof *extra; k++) {
            assert_same_ids(ref, tok, extra[k], strlen(extra[k]));
            tt_assert_round_trip(tok, extra[k], strlen(extra[k]), -1);
        }
        assert_string_equal(ac_tokenizer_token_text(tok, 383), " The");
        ac_tokenizer_free(tok);
    }
    json_decref(golden_root);
    ac_tokenizer_free(ref);
}

/* The Llama-3 pre-tokenizer pattern (Split, PCRE2) with GPT-2's vocabulary: pieces
 * differ from GPT-2's; expected ids from Python's regex module + OpenAI's BPE. */
static void test_llama3_pattern(void **state) {
    (void)state;
    TT_REQUIRE_SHARED(gpt2_dir, "tokenizers/gpt2");
    char gpt2[1024], path[1024];
    snprintf(gpt2, sizeof gpt2, "%s", gpt2_dir);
    snprintf(path, sizeof path, "%s/llama3-split.json", ac_test_tmpdir());
    write_gpt2_tokenizer_json(gpt2, path, 1, llama3_pattern);
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, path, &err), &err);
    TT_ENCODES(tok, "a\n\nb", 64, 628, 65); /* "\s*[\r\n]+" keeps "\n\n" whole */
    TT_ENCODES(tok, "Caf\xC3\xA9 2024!!\n", 34, 1878, 2634, 220, 19004, 19, 3228, 198);
    TT_ENCODES(tok, "DON'T STOP", 41173, 6, 51, 44934);
    tt_assert_round_trip(tok, "a\n\nb \xFF x", 8, -1);
    ac_tokenizer_free(tok);
}

/* ---- a small hand-written tokenizer.json ----------------------------------------- */

static const char small_json[] =
    "{\n"
    "  \"version\": \"1.0\",\n"
    "  \"added_tokens\": [\n"
    "    {\"id\": 20, \"content\": \"<sep>\", \"single_word\": false, \"lstrip\": true,\n"
    "     \"rstrip\": true, \"normalized\": false, \"special\": true},\n"
    "    {\"id\": 21, \"content\": \"<|end|>\", \"special\": true},\n"
    "    {\"id\": 22, \"content\": \"<|end|>x\", \"special\": false}\n"
    "  ],\n"
    "  \"normalizer\": null,\n"
    "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [\n"
    "    {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+|\\\\p{L}+|[^\\\\s\\\\p{L}]+\"},\n"
    "     \"behavior\": \"Isolated\", \"invert\": false},\n"
    "    {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true,\n"
    "     \"use_regex\": false}]},\n"
    "  \"post_processor\": null,\n"
    "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true,\n"
    "              \"use_regex\": true},\n"
    "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null,\n"
    "    \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false,\n"
    "    \"byte_fallback\": false, \"ignore_merges\": false,\n"
    "    \"vocab\": {\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"\\u0120\": 4, \"w\": 5, \"r\": 6,\n"
    "      \"d\": 7, \"he\": 8, \"ll\": 9, \"hell\": 10, \"hello\": 11, \"or\": 12, \"wor\": 13,\n"
    "      \"!\": 14, \"\\u0120\\u0120\": 15, \"hlo\": 16, \"\\u00c3\": 17, \"\\u00a9\": 18,\n"
    "      \"\\u00c3\\u00a9\": 19, \"<unk>\": 23},\n"
    "    \"merges\": [\"h e\", \"l l\", \"he ll\", \"hell o\", \"o r\", [\"w\", \"or\"],\n"
    "      \"\\u0120 \\u0120\", [\"\\u00c3\", \"\\u00a9\"]]\n"
    "  }\n"
    "}\n";

/* Write small_json with the member at `pointer` ("model.type", "pre_tokenizer", ...)
 * replaced by the JSON `value` (NULL: unchanged), load it, return the status. */
static int load_variant(const char *pointer, const char *value, ac_tokenizer **tok,
                        ac_error *err) {
    json_error_t jerr;
    json_t *root = json_loads(small_json, 0, &jerr);
    if (!root) fail_msg("small_json:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    if (pointer) {
        json_t *parent = root;
        char key[128];
        snprintf(key, sizeof key, "%s", pointer);
        char *dot;
        char *k = key;
        while ((dot = strchr(k, '.')) != NULL) {
            *dot = 0;
            parent = json_is_array(parent) ? json_array_get(parent, (size_t)atoi(k))
                                           : json_object_get(parent, k);
            assert_non_null(parent);
            k = dot + 1;
        }
        json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
        if (!v) fail_msg("value %s: %s", value, jerr.text);
        json_object_set_new(parent, k, v);
    }
    const char *path = ac_test_path(ac_test_tmpdir(), "small-tokenizer.json");
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(1)), 0);
    json_decref(root);
    *tok = (ac_tokenizer *)tok; /* must be overwritten */
    int rc = ac_tokenizer_load(tok, path, err);
    char buf[1200];
    if (rc) print_message("%s=%s -> %s\n", pointer, value, ac_error_format(err, buf, sizeof buf));
    return rc;
}

static void test_small(void **state) {
    (void)state;
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(load_variant(NULL, NULL, &tok, &err), &err);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 24);
    assert_int_equal(ac_tokenizer_bos(tok), -1);
    assert_int_equal(ac_tokenizer_eos(tok), -1);
    /* Split gives "hello", " ", "world", "!"; merges by rank, pair-form merges too */
    TT_ENCODES(tok, "hello world!", 11, 4, 13, 2, 7, 14);
    TT_ENCODES(tok, "hello  world", 11, 15, 13, 2, 7);
    /* lstrip/rstrip absorb the whitespace around <sep> */
    TT_ENCODES(tok, "hello <sep>  hello", 11, 20, 11);
    /* leftmost, then longest added token; 'i' has no token and no unk: dropped */
    TT_ENCODES(tok, "hi<|end|>x<|end|>", 0, 22, 21);
    TT_ENCODES(tok, "\xC3\xA9", 19);    /* é as bytes Ã © merged */
    TT_ENCODES(tok, "h\xC3\xA9", 0, 19);
    TT_ENCODES(tok, "hlo", 0, 2, 3);   /* hlo is in the vocab but no merges lead there */
    const int32_t ids[] = {11, 4, 13, 2, 7, 14, 20, 19};
    char *text;
    size_t len;
    assert_ac_ok(ac_tokenizer_decode(tok, ids, 8, &text, &len, &err), &err);
    assert_string_equal(text, "hello world!<sep>\xC3\xA9");
    ac_free(text);
    assert_null(ac_tokenizer_token_text(tok, 15 + 100));
    assert_string_equal(ac_tokenizer_token_text(tok, 15), "  ");
    ac_tokenizer_free(tok);

    /* ignore_merges: a piece that is a vocab entry is taken whole */
    assert_ac_ok(load_variant("model.ignore_merges", "true", &tok, &err), &err);
    TT_ENCODES(tok, "hlo", 16);
    TT_ENCODES(tok, "hello", 11);
    ac_tokenizer_free(tok);

    /* unk_token replaces bytes that have no token */
    assert_ac_ok(load_variant("model.unk_token", "\"<unk>\"", &tok, &err), &err);
    TT_ENCODES(tok, "hi", 0, 23);
    ac_tokenizer_free(tok);

    /* ByteLevel add_prefix_space: each piece reaching it gets a leading space */
    assert_ac_ok(load_variant("pre_tokenizer.pretokenizers.1.add_prefix_space", "true", &tok, &err),
                 &err);
    TT_ENCODES(tok, "hello", 4, 11);
    TT_ENCODES(tok, "hello world", 4, 11, 4, 4, 13, 2, 7);
    ac_tokenizer_free(tok);

    /* a literal Split pattern: split on "l" */
    assert_ac_ok(load_variant("pre_tokenizer.pretokenizers.0.pattern", "{\"String\": \"l\"}", &tok,
                              &err),
                 &err);
    TT_ENCODES(tok, "hello", 8, 2, 2, 3);
    ac_tokenizer_free(tok);

    /* NFC normalizer accepted (text is taken as already NFC) */
    assert_ac_ok(load_variant("normalizer", "{\"type\": \"NFC\"}", &tok, &err), &err);
    TT_ENCODES(tok, "hello", 11);
    ac_tokenizer_free(tok);

    /* bos/eos recognised by name */
    assert_ac_ok(load_variant("added_tokens.0.content", "\"<|begin_of_text|>\"", &tok, &err), &err);
    assert_int_equal(ac_tokenizer_bos(tok), 20);
    ac_tokenizer_free(tok);
}

static void expect_refused(const char *pointer, const char *value, int code,
                           const char *needle) {
    ac_tokenizer *tok;
    ac_error err;
    int rc = load_variant(pointer, value, &tok, &err);
    assert_int_equal(rc, code);
    assert_null(tok);
    assert_non_null(strstr(err.file, "small-tokenizer.json"));
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_refused(void **state) {
    (void)state;
    expect_refused("model.type", "\"WordPiece\"", AC_ERR_UNSUPPORTED, "WordPiece");
    expect_refused("model.type", "\"Unigram\"", AC_ERR_UNSUPPORTED, "Unigram");
    expect_refused("model.byte_fallback", "true", AC_ERR_UNSUPPORTED, "byte_fallback");
    expect_refused("model.dropout", "0.1", AC_ERR_UNSUPPORTED, "dropout");
    expect_refused("model.continuing_subword_prefix", "\"##\"", AC_ERR_UNSUPPORTED,
                   "continuing_subword_prefix");
    expect_refused("normalizer", "{\"type\": \"Lowercase\"}", AC_ERR_UNSUPPORTED, "Lowercase");
    expect_refused("pre_tokenizer", "{\"type\": \"Whitespace\"}", AC_ERR_UNSUPPORTED,
                   "Whitespace");
    expect_refused("pre_tokenizer", "{\"type\": \"Metaspace\", \"replacement\": \"_\"}",
                   AC_ERR_UNSUPPORTED, "Metaspace");
    expect_refused("pre_tokenizer", "null", AC_ERR_UNSUPPORTED, "pre_tokenizer");
    expect_refused("pre_tokenizer.pretokenizers.0.behavior", "\"Removed\"", AC_ERR_UNSUPPORTED,
                   "Removed");
    expect_refused("pre_tokenizer.pretokenizers.0.invert", "true", AC_ERR_UNSUPPORTED, "invert");
    expect_refused("pre_tokenizer",
                   "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"},"
                   " {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": "
                   "\"Isolated\"}]}",
                   AC_ERR_UNSUPPORTED, "ByteLevel");
    expect_refused("pre_tokenizer",
                   "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                   "\"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Isolated\"}]}",
                   AC_ERR_UNSUPPORTED, "without ByteLevel");
    expect_refused("decoder", "null", AC_ERR_UNSUPPORTED, "decoder");
    expect_refused("decoder", "{\"type\": \"WordPiece\"}", AC_ERR_UNSUPPORTED, "WordPiece");
    expect_refused("added_tokens.0.single_word", "true", AC_ERR_UNSUPPORTED, "single_word");
    /* malformed */
    expect_refused("pre_tokenizer.pretokenizers.0.pattern", "{\"Regex\": \"(\"}", AC_ERR_FORMAT,
                   "regex");
    expect_refused("pre_tokenizer.pretokenizers.0.pattern", "{}", AC_ERR_FORMAT, "pattern");
    expect_refused("model.merges", "[\"h e\", \"h x\"]", AC_ERR_FORMAT,
                   "'x' is not in the vocabulary");
    expect_refused("model.merges", "[\"h e\", \"l o\"]", AC_ERR_FORMAT, "'lo'");
    expect_refused("model.merges", "[[\"h\"]]", AC_ERR_FORMAT, "model.merges[0]");
    expect_refused("model.merges", "[\"he\"]", AC_ERR_FORMAT, "two tokens");
    expect_refused("model.merges", "null", AC_ERR_FORMAT, "model.merges");
    expect_refused("model.vocab", "{\"h\": -1}", AC_ERR_FORMAT, "'h'");
    expect_refused("model.vocab", "[]", AC_ERR_FORMAT, "model.vocab");
    expect_refused("model", "7", AC_ERR_FORMAT, "model");
    expect_refused("added_tokens", "[{\"id\": \"x\", \"content\": \"a\"}]", AC_ERR_FORMAT,
                   "added_tokens[0]");
    expect_refused("added_tokens", "{}", AC_ERR_FORMAT, "added_tokens");

    /* a syntax error is reported with line:column */
    const char *path = ac_test_path(ac_test_tmpdir(), "broken.json");
    tt_write_text(path, "{\n  \"model\": {\n    \"type\": \"BPE\",,\n  }\n}\n");
    ac_tokenizer *tok;
    ac_error err;
    assert_int_equal(ac_tokenizer_load(&tok, path, &err), AC_ERR_FORMAT);
    assert_int_equal(err.line, 3);
    assert_true(err.column > 0);
    assert_string_equal(err.file, path);
}

/* Detection: a directory's tokenizer.json wins over vocab.json + merges.txt; a JSON file
 * with another name is recognised by content. */
static void test_detection(void **state) {
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/hfdir", ac_test_tmpdir());
    mkdir(dir, 0755);
    tt_write_text(ac_test_path(dir, "tokenizer.json"), small_json);
    tt_write_text(ac_test_path(dir, "vocab.json"), "{\"h\": 0, \"e\": 1}");
    tt_write_text(ac_test_path(dir, "merges.txt"), "#version: 0.2\n");
    tt_write_text(ac_test_path(dir, "weights.txt"), small_json);
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    TT_ENCODES(tok, "hello", 11);
    ac_tokenizer_free(tok);
    assert_ac_ok(ac_tokenizer_load_for_model(&tok, dir, &err), &err);
    TT_ENCODES(tok, "hello", 11);
    ac_tokenizer_free(tok);
    assert_ac_ok(ac_tokenizer_load(&tok, ac_test_path(dir, "weights.txt"), &err), &err);
    TT_ENCODES(tok, "hello", 11);
    ac_tokenizer_free(tok);
    /* a weights file in an HF directory: its tokenizer.json */
    tt_write_text(ac_test_path(dir, "model.safetensors"), "not really");
    assert_ac_ok(ac_tokenizer_load_for_model(&tok, ac_test_path(dir, "model.safetensors"), &err),
                 &err);
    TT_ENCODES(tok, "hello", 11);
    ac_tokenizer_free(tok);
    /* the vocab.json pair is used once tokenizer.json is gone */
    unlink(ac_test_path(dir, "tokenizer.json"));
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 2);
    TT_ENCODES(tok, "he", 0, 1);
    ac_tokenizer_free(tok);
}

static void test_alloc_failures(void **state) {
    (void)state;
    const char *path = ac_test_path(ac_test_tmpdir(), "alloc-tokenizer.json");
    tt_write_text(path, small_json);
    int loaded = 0;
    for (long k = 1; k < 10000 && !loaded; k++) {
        ac_tokenizer *tok;
        ac_error err;
        ac_alloc_fail_after(k);
        int rc = ac_tokenizer_load(&tok, path, &err);
        ac_alloc_fail_after(0);
        if (rc == AC_OK) {
            loaded = 1;
            TT_ENCODES(tok, "hello <sep>  hello", 11, 20, 11);
            ac_tokenizer_free(tok);
        } else {
            if (rc != AC_ERR_NOMEM) print_error("allocation %ld: %s\n", k, err.msg);
            assert_int_equal(rc, AC_ERR_NOMEM);
            assert_null(tok);
        }
    }
    assert_true(loaded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_gpt2_tokenizer_json),
        cmocka_unit_test(test_llama3_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
