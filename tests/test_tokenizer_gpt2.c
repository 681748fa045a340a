/* GPT-2 byte-level BPE from vocab.json + merges.txt: golden ids from gpt-3-encoder,
 * special tokens, round trips, invalid UTF-8, error reporting, speed. */
#include "test_tokenizer_common.h"

#include <time.h>
#include <unistd.h>

static ac_tokenizer *load_gpt2(void) {
    const char *dir = tt_shared("tokenizers/gpt2");
    if (!dir) {
        print_message("skipping: ../shared/tokenizers/gpt2 not found\n");
        skip();
    }
    ac_tokenizer *tok = NULL;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    return tok;
}

static void test_basics(void **state) {
    (void)state;
    ac_tokenizer *tok = load_gpt2();
    assert_int_equal(ac_tokenizer_get_kind(tok), AC_TOKENIZER_GPT2_BPE);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 50257);
    assert_int_equal(ac_tokenizer_bos(tok), 50256);
    assert_int_equal(ac_tokenizer_eos(tok), 50256);
    TT_ENCODES(tok, " The capital of France is", 383, 3139, 286, 4881, 318);
    TT_ENCODES(tok, "<|endoftext|>", 50256);
    TT_ENCODES(tok, "<|endoftext|><|endoftext|>", 50256, 50256);
    /* split out before the regex: the text around it is encoded on its own */
    TT_ENCODES(tok, "Hello world<|endoftext|> The", 15496, 995, 50256, 383);
    TT_ENCODES(tok, "a<|endoftext|>b", 64, 50256, 65);
    /* "world  " ends with spaces before the special: "\s+(?!\S)" sees the segment end */
    TT_ENCODES(tok, "world  <|endoftext|>", 6894, 220, 220, 50256);
    /* an incomplete special is ordinary text */
    int32_t *ids;
    size_t n;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, "<|endoftext", 11, &ids, &n, &err), &err);
    assert_true(n > 1);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], 50256);
    ac_free(ids);
    /* empty text: zero ids, non-NULL array */
    assert_ac_ok(ac_tokenizer_encode(tok, "", 0, &ids, &n, &err), &err);
    assert_non_null(ids);
    assert_int_equal(n, 0);
    ac_free(ids);
    /* token texts */
    assert_string_equal(ac_tokenizer_token_text(tok, 383), " The");
    assert_string_equal(ac_tokenizer_token_text(tok, 50256), "<|endoftext|>");
    assert_string_equal(ac_tokenizer_token_text(tok, 0), "!");
    assert_string_equal(ac_tokenizer_token_text(tok, 198), "\n");
    assert_null(ac_tokenizer_token_text(tok, -1));
    assert_null(ac_tokenizer_token_text(tok, 50257));
    /* decode */
    const int32_t france[] = {383, 3139, 286, 4881, 318, 50256};
    char *text;
    size_t len;
    assert_ac_ok(ac_tokenizer_decode(tok, france, 6, &text, &len, &err), &err);
    assert_string_equal(text, " The capital of France is<|endoftext|>");
    assert_int_equal(len, strlen(text));
    ac_free(text);
    const int32_t bad[] = {383, 50257};
    assert_int_equal(ac_tokenizer_decode(tok, bad, 2, &text, &len, &err), AC_ERR_RANGE);
    assert_null(text);
    assert_non_null(strstr(err.msg, "50257"));
    const int32_t negative[] = {-1};
    assert_int_equal(ac_tokenizer_decode(tok, negative, 1, &text, &len, &err), AC_ERR_RANGE);
    assert_ac_ok(ac_tokenizer_decode(tok, NULL, 0, &text, &len, &err), &err);
    assert_string_equal(text, "");
    ac_free(text);
    ac_tokenizer_free(tok);
}

static void test_golden(void **state) {
    (void)state;
    ac_tokenizer *tok = load_gpt2();
    json_t *root;
    json_t *cases = tt_load_golden(&root);
    size_t i, mismatches = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const json_t *text = json_object_get(c, "text");
        const json_t *want = json_object_get(c, "ids");
        int32_t *ids;
        size_t n;
        ac_error err;
        assert_ac_ok(ac_tokenizer_encode(tok, json_string_value(text), json_string_length(text),
                                         &ids, &n, &err),
                     &err);
        int same = n == json_array_size(want);
        for (size_t k = 0; same && k < n; k++)
            same = ids[k] == json_integer_value(json_array_get(want, k));
        if (!same) {
            mismatches++;
            print_error("golden case %zu \"%s\": got", i, json_string_value(text));
            for (size_t k = 0; k < n; k++) print_error(" %d", ids[k]);
            print_error("\n");
        }
        ac_free(ids);
        /* decode(golden ids) == text and decode(encode(text)) == text */
        tt_assert_round_trip(tok, json_string_value(text), json_string_length(text), -1);
        size_t m = json_array_size(want);
        int32_t *gold = malloc((m ? m : 1) * sizeof *gold);
        for (size_t k = 0; k < m; k++) gold[k] = (int32_t)json_integer_value(json_array_get(want, k));
        char *out;
        size_t len;
        assert_ac_ok(ac_tokenizer_decode(tok, gold, m, &out, &len, &err), &err);
        assert_int_equal(len, json_string_length(text));
        assert_memory_equal(out, json_string_value(text), len);
        ac_free(out);
        free(gold);
    }
    assert_int_equal(mismatches, 0);
    json_decref(root);
    ac_tokenizer_free(tok);
}

/* Each byte that is not part of well-formed UTF-8 is a piece of its own, mapped through
 * the byte table, so decode(encode(s)) == s for any bytes. */
static void test_invalid_utf8(void **state) {
    (void)state;
    ac_tokenizer *tok = load_gpt2();
    static const char *const cases[] = {
        "\x80",                 /* lone continuation byte */
        "abc\x80\x80" "def",      /* continuation bytes inside a word */
        "\xC3",                 /* truncated 2-byte sequence */
        "caf\xC3",              /* truncated at the end */
        "\xE2\x82",             /* truncated 3-byte sequence */
        "\xE2\x82 x",           /* truncated, followed by text */
        "\xF0\x9F\x98",         /* truncated 4-byte sequence (emoji) */
        "\xC0\xAF",             /* overlong '/' */
        "\xE0\x80\xAF",         /* overlong, 3 bytes */
        "\xF0\x80\x80\xAF",     /* overlong, 4 bytes */
        "\xED\xA0\x80",         /* UTF-16 surrogate */
        "\xF4\x90\x80\x80",     /* above U+10FFFF */
        "\xF8\x88\x80\x80\x80", /* 5-byte form */
        "\xFF\xFE",             /* never valid */
        "caf\xE9 na\xEF" "ve",  /* Latin-1 text */
        "  \xFF  ",             /* between spaces */
        "I\xFF'm",              /* inside a contraction */
        "<|endoftext|>\x80<|endoftext|>",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        tt_assert_round_trip(tok, cases[i], strlen(cases[i]), -1);

    /* the policy itself: "a\xFF" + "b" gives a, the byte token for 0xFF, b */
    int32_t *ids;
    size_t n;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, "a\xFF" "b", 3, &ids, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 64);
    assert_int_equal(ids[1], 187); /* the token "ÿ" */
    assert_string_equal(ac_tokenizer_token_text(tok, ids[1]), "\xFF");
    assert_int_equal(ids[2], 65);
    ac_free(ids);
    /* a truncated sequence: each of its bytes alone, the text after it normally */
    assert_ac_ok(ac_tokenizer_encode(tok, "\xE2\x82 The", 6, &ids, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_string_equal(ac_tokenizer_token_text(tok, ids[0]), "\xE2");
    assert_string_equal(ac_tokenizer_token_text(tok, ids[1]), "\x82");
    assert_int_equal(ids[2], 383);
    ac_free(ids);
    /* embedded NUL bytes are ordinary bytes */
    tt_assert_round_trip(tok, "a\0b\0", 4, -1);

    /* random bytes */
    uint64_t rng = 42;
    char buf[64];
    for (int k = 0; k < 2000; k++) {
        size_t len = tt_rand(&rng) % sizeof buf;
        for (size_t j = 0; j < len; j++) {
            uint32_t r = tt_rand(&rng);
            /* mostly high bytes and spaces, some letters */
            uint32_t byte = r % 4 == 0 ? 0x20u : r % 4 == 1 ? 0x61u + r % 26u : 0x80u + r % 128u;
            buf[j] = (char)(unsigned char)byte;
        }
        tt_assert_round_trip(tok, buf, len, -1);
    }
    ac_tokenizer_free(tok);
}

static void test_long_inputs(void **state) {
    (void)state;
    ac_tokenizer *tok = load_gpt2();
    size_t n = 200000;
    char *s = malloc(n);
    assert_non_null(s);
    /* one long whitespace run, one long letter run, long digits and symbols */
    const char fills[] = {' ', 'a', '7', '!', '\n'};
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(s, fills[f], n);
        tt_assert_round_trip(tok, s, n, -1);
        memset(s, fills[f], n - 1);
        s[n - 1] = 'x';
        tt_assert_round_trip(tok, s, n, -1);
    }
    /* 200k spaces then a word: "\s+(?!\S)" leaves the last space to " x" */
    int32_t *ids;
    size_t m;
    ac_error err;
    memset(s, ' ', n - 1);
    s[n - 1] = 'x';
    assert_ac_ok(ac_tokenizer_encode(tok, s, n, &ids, &m, &err), &err);
    assert_true(m >= 2);
    assert_int_equal(ids[m - 1], 2124); /* " x" */
    ac_free(ids);
    free(s);
    ac_tokenizer_free(tok);
}

/* Texts of 4 KiB and more use a per-call cache of encoded pieces: same ids. */
static void test_long_text_cache(void **state) {
    (void)state;
    ac_tokenizer *tok = load_gpt2();
    static const char block[] = " The capital of France is Paris. Caf\xC3\xA9 \xFF 12345 don't\n";
    size_t block_len = sizeof block - 1, reps = 400;
    int32_t *block_ids, *ids;
    size_t n_block, n;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, block, block_len, &block_ids, &n_block, &err), &err);
    char *text = malloc(block_len * reps);
    for (size_t r = 0; r < reps; r++) memcpy(text + r * block_len, block, block_len);
    assert_ac_ok(ac_tokenizer_encode(tok, text, block_len * reps, &ids, &n, &err), &err);
    assert_int_equal(n, n_block * reps);
    for (size_t r = 0; r < reps; r++)
        assert_memory_equal(ids + r * n_block, block_ids, n_block * sizeof *ids);
    ac_free(ids);
    ac_free(block_ids);
    free(text);
    /* all golden texts joined: decode(encode(big)) == big */
    json_t *root;
    json_t *cases = tt_load_golden(&root);
    size_t cap = 1 << 20, len = 0;
    char *big = malloc(cap);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const json_t *t = json_object_get(c, "text");
        assert_true(len + json_string_length(t) + 1 < cap);
        memcpy(big + len, json_string_value(t), json_string_length(t));
        len += json_string_length(t);
        big[len++] = i % 2 ? ' ' : '\n';
    }
    assert_true(len > 4096);
    tt_assert_round_trip(tok, big, len, -1);
    free(big);
    json_decref(root);
    ac_tokenizer_free(tok);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_speed(void **state) {
    (void)state;
    ac_tokenizer *tok = load_gpt2();
    json_t *root;
    json_t *cases = tt_load_golden(&root);
    size_t n_cases = json_array_size(cases), total_ids = 0, prompts = 0;
    double t0 = now_seconds();
    for (int rep = 0; rep < 10; rep++) {
        for (size_t i = 0; i < n_cases; i++) {
            const json_t *text = json_object_get(json_array_get(cases, i), "text");
            int32_t *ids;
            size_t n;
            ac_error err;
            assert_ac_ok(ac_tokenizer_encode(tok, json_string_value(text),
                                             json_string_length(text), &ids, &n, &err),
                         &err);
            total_ids += n;
            prompts++;
            ac_free(ids);
        }
    }
    double dt = now_seconds() - t0;
    print_message("encoded %zu prompts (%zu tokens) in %.3f s\n", prompts, total_ids, dt);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
    assert_true(dt < 1.0); /* thousands of prompts in well under a second */
#endif
    json_decref(root);
    ac_tokenizer_free(tok);
}

/* OpenAI's names for the same files, and a vocab.json path given directly. */
static void test_openai_names(void **state) {
    (void)state;
    TT_REQUIRE_SHARED(dir, "tokenizers/gpt2");
    char src[1024];
    const char *tmp = ac_test_path(ac_test_tmpdir(), "openai");
    mkdir(tmp, 0755);
    snprintf(src, sizeof src, "%s/vocab.json", dir);
    assert_int_equal(symlink(src, ac_test_path(tmp, "encoder.json")), 0);
    snprintf(src, sizeof src, "%s/merges.txt", dir);
    assert_int_equal(symlink(src, ac_test_path(tmp, "vocab.bpe")), 0);
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, tmp, &err), &err);
    TT_ENCODES(tok, " The capital of France is", 383, 3139, 286, 4881, 318);
    TT_ENCODES(tok, "<|endoftext|>", 50256);
    ac_tokenizer_free(tok);
    assert_ac_ok(ac_tokenizer_load(&tok, ac_test_path(tmp, "encoder.json"), &err), &err);
    TT_ENCODES(tok, " The capital of France is", 383, 3139, 286, 4881, 318);
    ac_tokenizer_free(tok);
    assert_ac_ok(ac_tokenizer_load(&tok, ac_test_path(dir, "vocab.json"), &err), &err);
    TT_ENCODES(tok, " The capital of France is", 383, 3139, 286, 4881, 318);
    ac_tokenizer_free(tok);
    /* a model directory with the GPT-2 files */
    assert_ac_ok(ac_tokenizer_load_for_model(&tok, tmp, &err), &err);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 50257);
    ac_tokenizer_free(tok);
}

/* A tiny vocabulary: merges apply by rank, not by position or length. */
static void make_small(const char *dir, const char *merges) {
    mkdir(dir, 0755);
    tt_write_text(ac_test_path(dir, "vocab.json"),
                  "{\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4, \"abc\": 5, \"\\u0120\": 6,"
                  " \"\\u0120a\": 7, \"<|endoftext|>\": 8}");
    tt_write_text(ac_test_path(dir, "merges.txt"), merges);
}

static void test_merge_order(void **state) {
    (void)state;
    const char *dir = ac_test_path(ac_test_tmpdir(), "small1");
    make_small(dir, "#version: 0.2\nb c\na b\na bc\n\u0120 a\n");
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 9);
    assert_int_equal(ac_tokenizer_bos(tok), 8);
    TT_ENCODES(tok, "abc", 5);       /* b c first, then a bc */
    TT_ENCODES(tok, "abcabc", 5, 5); /* one piece: both occurrences */
    TT_ENCODES(tok, "ab", 3);
    TT_ENCODES(tok, " abc", 6, 5);   /* b c (rank 0), then a bc (2); Ġ a (3) never applies */
    TT_ENCODES(tok, " a", 7);
    TT_ENCODES(tok, "abd", 3);       /* 'd' has no token and no unk: dropped */
    TT_ENCODES(tok, "a<|endoftext|>c", 0, 8, 2);
    ac_tokenizer_free(tok);

    dir = ac_test_path(ac_test_tmpdir(), "small2");
    make_small(dir, "a b\nb c\nab c\n"); /* no #version line; "ab c" -> "abc" */
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    TT_ENCODES(tok, "abc", 5); /* a b first, then ab c */
    TT_ENCODES(tok, "bcab", 4, 3);
    ac_tokenizer_free(tok);

    dir = ac_test_path(ac_test_tmpdir(), "small3");
    make_small(dir, "a b\nb c\r\n"); /* CRLF line ending; no merge to abc */
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    TT_ENCODES(tok, "abc", 3, 2);
    ac_tokenizer_free(tok);
}

static void expect_error(const char *path, int code, const char *file_suffix, long line,
                         long column, const char *needle) {
    ac_tokenizer *tok = (ac_tokenizer *)&tok; /* must be reset to NULL */
    ac_error err;
    int rc = ac_tokenizer_load(&tok, path, &err);
    char buf[1200];
    print_message("%s -> %s\n", path, ac_error_format(&err, buf, sizeof buf));
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_null(tok);
    size_t n = strlen(err.file), m = strlen(file_suffix);
    assert_true(n >= m && !strcmp(err.file + n - m, file_suffix));
    if (line >= 0) assert_int_equal(err.line, line);
    if (column >= 0) assert_int_equal(err.column, column);
    if (needle && !strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_null(strchr(err.msg, '\n'));
}

static void test_errors(void **state) {
    (void)state;
    const char *tmp = ac_test_tmpdir();
    /* missing path */
    expect_error(ac_test_path(tmp, "no-such-dir"), AC_ERR_IO, "no-such-dir", -1, -1,
                 "No such file");
    /* directory without tokenizer files */
    char empty[1024];
    snprintf(empty, sizeof empty, "%s", ac_test_path(tmp, "empty"));
    mkdir(empty, 0755);
    expect_error(empty, AC_ERR_IO, "empty", -1, -1, "no tokenizer files");
    /* vocab.json without merges.txt */
    char lone[1024];
    snprintf(lone, sizeof lone, "%s", ac_test_path(tmp, "lone"));
    mkdir(lone, 0755);
    tt_write_text(ac_test_path(lone, "vocab.json"), "{\"a\": 0}");
    expect_error(ac_test_path(lone, "vocab.json"), AC_ERR_IO, "vocab.json", -1, -1,
                 "merges.txt");
    expect_error(lone, AC_ERR_IO, "lone", -1, -1, "no tokenizer files");
    /* vocab.json syntax error: line 3, column of the error */
    char syn[1024];
    snprintf(syn, sizeof syn, "%s", ac_test_path(tmp, "syntax"));
    mkdir(syn, 0755);
    tt_write_text(ac_test_path(syn, "vocab.json"), "{\n  \"a\": 0,\n  \"b\" 1\n}\n");
    tt_write_text(ac_test_path(syn, "merges.txt"), "#version: 0.2\n");
    expect_error(syn, AC_ERR_FORMAT, "syntax/vocab.json", 3, 7, NULL);
    /* vocab.json structure errors */
    tt_write_text(ac_test_path(syn, "vocab.json"), "[1, 2]");
    expect_error(syn, AC_ERR_FORMAT, "vocab.json", 0, 0, "object");
    tt_write_text(ac_test_path(syn, "vocab.json"), "{\"a\": 0, \"b\": \"one\"}");
    expect_error(syn, AC_ERR_FORMAT, "vocab.json", 0, 0, "'b'");
    tt_write_text(ac_test_path(syn, "vocab.json"), "{\"a\": 0, \"b\": 0}");
    expect_error(syn, AC_ERR_FORMAT, "vocab.json", 0, 0, "id 0");
    tt_write_text(ac_test_path(syn, "vocab.json"), "{\"a\": 0, \"a\": 1}");
    expect_error(syn, AC_ERR_FORMAT, "vocab.json", 1, -1, "duplicate");
    tt_write_text(ac_test_path(syn, "vocab.json"), "{\"a\": 99999999999}");
    expect_error(syn, AC_ERR_FORMAT, "vocab.json", 0, 0, "'a'");
    /* merges naming tokens that are not in the vocabulary */
    char mg[1024];
    snprintf(mg, sizeof mg, "%s", ac_test_path(tmp, "merges"));
    mkdir(mg, 0755);
    tt_write_text(ac_test_path(mg, "vocab.json"), "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    tt_write_text(ac_test_path(mg, "merges.txt"), "#version: 0.2\na b\na c\n");
    expect_error(mg, AC_ERR_FORMAT, "merges/merges.txt", 3, 3, "'c' is not in the vocabulary");
    tt_write_text(ac_test_path(mg, "merges.txt"), "#version: 0.2\nx b\n");
    expect_error(mg, AC_ERR_FORMAT, "merges.txt", 2, 1, "'x' is not in the vocabulary");
    tt_write_text(ac_test_path(mg, "merges.txt"), "#version: 0.2\nb a\n");
    expect_error(mg, AC_ERR_FORMAT, "merges.txt", 2, 1, "'ba' is not in the vocabulary");
    tt_write_text(ac_test_path(mg, "merges.txt"), "#version: 0.2\na b\nab\n");
    expect_error(mg, AC_ERR_FORMAT, "merges.txt", 3, 3, "two tokens");
    tt_write_text(ac_test_path(mg, "merges.txt"), "a b c\n");
    expect_error(mg, AC_ERR_FORMAT, "merges.txt", 1, 4, "two tokens");
    /* an unreadable merges file (a directory) */
    unlink(ac_test_path(mg, "merges.txt"));
    mkdir(ac_test_path(mg, "merges.txt"), 0755);
    expect_error(mg, AC_ERR_IO, "merges", -1, -1, "no tokenizer files");
    expect_error(ac_test_path(mg, "vocab.json"), AC_ERR_IO, "vocab.json", -1, -1,
                 "needs merges.txt");
}

/* Allocation failures anywhere in loading or encoding give AC_ERR_NOMEM, never a crash
 * or a leak (the ASan build checks leaks). */
static void fail_every_allocation_of_encode(const ac_tokenizer *tok, const char *text,
                                            size_t len) {
    for (long j = 1; j < 100000; j++) {
        int32_t *ids;
        size_t n;
        ac_error err;
        ac_alloc_fail_after(j);
        int rc = ac_tokenizer_encode(tok, text, len, &ids, &n, &err);
        ac_alloc_fail_after(0);
        if (rc == AC_OK) {
            char *out;
            size_t out_len;
            ac_alloc_fail_after(1);
            assert_int_equal(ac_tokenizer_decode(tok, ids, n, &out, &out_len, &err), AC_ERR_NOMEM);
            ac_alloc_fail_after(0);
            assert_null(out);
            ac_free(ids);
            return;
        }
        assert_int_equal(rc, AC_ERR_NOMEM);
        assert_null(ids);
    }
    fail_msg("encode never succeeded");
}

static void test_alloc_failures(void **state) {
    (void)state;
    const char *dir = ac_test_path(ac_test_tmpdir(), "alloc");
    make_small(dir, "#version: 0.2\nb c\na b\na bc\n\u0120 a\n");
    ac_tokenizer *tok = NULL;
    for (long k = 1; k < 10000; k++) {
        ac_error err;
        ac_alloc_fail_after(k);
        int rc = ac_tokenizer_load(&tok, dir, &err);
        ac_alloc_fail_after(0);
        if (rc == AC_OK) break;
        if (rc != AC_ERR_NOMEM) print_error("allocation %ld: %s\n", k, err.msg);
        assert_int_equal(rc, AC_ERR_NOMEM);
        assert_null(tok);
    }
    assert_non_null(tok);
    static const char piece[] = " abc\xFF<|endoftext|>abcabc bca";
    char text[6000];
    size_t len = 0;
    while (len + sizeof piece < sizeof text) {
        memcpy(text + len, piece, sizeof piece - 1);
        len += sizeof piece - 1;
    }
    fail_every_allocation_of_encode(tok, piece, sizeof piece - 1);
    fail_every_allocation_of_encode(tok, text, len); /* long: with the piece cache */
    ac_tokenizer_free(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),       cmocka_unit_test(test_golden),
        cmocka_unit_test(test_invalid_utf8), cmocka_unit_test(test_long_inputs),
        cmocka_unit_test(test_speed),        cmocka_unit_test(test_openai_names),
        cmocka_unit_test(test_long_text_cache),
        cmocka_unit_test(test_merge_order),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
