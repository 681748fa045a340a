/* llama2.c tokenizer (tok512.bin of stories260K): known ids, round trips, and equality
 * with a verbatim port of llama2.c's run.c encode()/decode() on many strings. */
#include "test_tokenizer_common.h"

#include <unistd.h>

/* ---- reference: llama2.c run.c (build_tokenizer, str_lookup, encode, decode) ----- */

typedef struct {
    char *str;
    int id;
} TokenIndex;

typedef struct {
    char **vocab;
    float *vocab_scores;
    TokenIndex *sorted_vocab;
    int vocab_size;
    unsigned int max_token_length;
    unsigned char byte_pieces[512];
} RefTokenizer;

static int compare_tokens(const void *a, const void *b) {
    return strcmp(((const TokenIndex *)a)->str, ((const TokenIndex *)b)->str);
}

static void ref_build(RefTokenizer *t, const char *path, int vocab_size) {
    t->vocab_size = vocab_size;
    t->vocab = malloc((size_t)vocab_size * sizeof(char *));
    t->vocab_scores = malloc((size_t)vocab_size * sizeof(float));
    t->sorted_vocab = NULL;
    for (int i = 0; i < 256; i++) {
        t->byte_pieces[i * 2] = (unsigned char)i;
        t->byte_pieces[i * 2 + 1] = '\0';
    }
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fread(&t->max_token_length, sizeof(int), 1, file), 1);
    int len;
    for (int i = 0; i < vocab_size; i++) {
        assert_int_equal(fread(t->vocab_scores + i, sizeof(float), 1, file), 1);
        assert_int_equal(fread(&len, sizeof(int), 1, file), 1);
        t->vocab[i] = malloc((size_t)len + 1);
        assert_int_equal(fread(t->vocab[i], (size_t)len, 1, file), len > 0 ? 1 : 0);
        t->vocab[i][len] = '\0';
    }
    fclose(file);
}

static void ref_free(RefTokenizer *t) {
    for (int i = 0; i < t->vocab_size; i++) free(t->vocab[i]);
    free(t->vocab);
    free(t->vocab_scores);
    free(t->sorted_vocab);
}

static const char *ref_decode(RefTokenizer *t, int prev_token, int token) {
    char *piece = t->vocab[token];
    if (prev_token == 1 && piece[0] == ' ') piece++;
    unsigned char byte_val;
    if (sscanf(piece, "<0x%02hhX>", &byte_val) == 1) piece = (char *)t->byte_pieces + byte_val * 2;
    return piece;
}

static int str_lookup(char *str, TokenIndex *sorted_vocab, int vocab_size) {
    TokenIndex tok = {.str = str};
    TokenIndex *res = bsearch(&tok, sorted_vocab, (size_t)vocab_size, sizeof(TokenIndex),
                              compare_tokens);
    return res != NULL ? res->id : -1;
}

static void ref_encode(RefTokenizer *t, const char *text, int *tokens, int *n_tokens) {
    if (t->sorted_vocab == NULL) {
        t->sorted_vocab = malloc((size_t)t->vocab_size * sizeof(TokenIndex));
        for (int i = 0; i < t->vocab_size; i++) {
            t->sorted_vocab[i].str = t->vocab[i];
            t->sorted_vocab[i].id = i;
        }
        qsort(t->sorted_vocab, (size_t)t->vocab_size, sizeof(TokenIndex), compare_tokens);
    }
    char *str_buffer = malloc((t->max_token_length * 2 + 1 + 2) * sizeof(char));
    size_t str_len = 0;
    *n_tokens = 0;
    if (text[0] != '\0') {
        char space[] = " ";
        int dummy_prefix = str_lookup(space, t->sorted_vocab, t->vocab_size);
        tokens[(*n_tokens)++] = dummy_prefix;
    }
    for (const char *c = text; *c != '\0'; c++) {
        if ((*c & 0xC0) != 0x80) str_len = 0;
        str_buffer[str_len++] = *c;
        str_buffer[str_len] = '\0';
        if ((*(c + 1) & 0xC0) == 0x80 && str_len < 4) continue;
        int id = str_lookup(str_buffer, t->sorted_vocab, t->vocab_size);
        if (id != -1) {
            tokens[(*n_tokens)++] = id;
        } else {
            for (size_t i = 0; i < str_len; i++)
                tokens[(*n_tokens)++] = (unsigned char)str_buffer[i] + 3;
        }
        str_len = 0;
    }
    while (1) {
        float best_score = -1e10;
        int best_id = -1;
        int best_idx = -1;
        for (int i = 0; i < (*n_tokens - 1); i++) {
            snprintf(str_buffer, t->max_token_length * 2 + 3, "%s%s", t->vocab[tokens[i]],
                     t->vocab[tokens[i + 1]]);
            int id = str_lookup(str_buffer, t->sorted_vocab, t->vocab_size);
            if (id != -1 && t->vocab_scores[id] > best_score) {
                best_score = t->vocab_scores[id];
                best_id = id;
                best_idx = i;
            }
        }
        if (best_idx == -1) break;
        tokens[best_idx] = best_id;
        for (int i = best_idx + 1; i < (*n_tokens - 1); i++) tokens[i] = tokens[i + 1];
        (*n_tokens)--;
    }
    free(str_buffer);
}

/* ---- helpers --------------------------------------------------------------------- */

static void assert_matches_reference(const ac_tokenizer *tok, RefTokenizer *ref, const char *s) {
    size_t len = strlen(s);
    int *want = malloc((len + 2) * sizeof *want);
    int n_want;
    ref_encode(ref, s, want, &n_want);
    int32_t *ids;
    size_t n;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, s, len, &ids, &n, &err), &err);
    int same = (size_t)n_want == n;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        print_error("\"%s\": got", s);
        for (size_t i = 0; i < n; i++) print_error(" %d", ids[i]);
        print_error("; llama2.c gives");
        for (int i = 0; i < n_want; i++) print_error(" %d", want[i]);
        print_error("\n");
    }
    assert_true(same);
    /* decode after BOS equals llama2.c's pieces printed one after another */
    char expect[8192] = "";
    size_t m = 0;
    int prev = 1;
    for (size_t i = 0; i < n; i++) {
        const char *piece = ref_decode(ref, prev, ids[i]);
        size_t k = ids[i] == 3 ? 1 : strlen(piece); /* <0x00> is a NUL byte */
        assert_true(m + k < sizeof expect);
        memcpy(expect + m, piece, k);
        m += k;
        prev = ids[i];
    }
    int32_t *with_bos = malloc((n + 1) * sizeof *with_bos);
    with_bos[0] = 1;
    memcpy(with_bos + 1, ids, n * sizeof *ids);
    char *text;
    size_t text_len;
    assert_ac_ok(ac_tokenizer_decode(tok, with_bos, n + 1, &text, &text_len, &err), &err);
    assert_int_equal(text_len, m);
    assert_memory_equal(text, expect, m);
    ac_free(text);
    free(with_bos);
    ac_free(ids);
    free(want);
}

static ac_tokenizer *load_tok512(const char **path_out) {
    const char *path = tt_shared("models/stories260K/tok512.bin");
    if (!path) {
        print_message("skipping: ../shared/models/stories260K not found\n");
        skip();
    }
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, path, &err), &err);
    if (path_out) *path_out = path;
    return tok;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_basics(void **state) {
    (void)state;
    ac_tokenizer *tok = load_tok512(NULL);
    assert_int_equal(ac_tokenizer_get_kind(tok), AC_TOKENIZER_LLAMA2C);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 512);
    assert_int_equal(ac_tokenizer_bos(tok), 1);
    assert_int_equal(ac_tokenizer_eos(tok), 2);
    TT_ENCODES(tok, "Once upon a time", 403, 407, 261, 378);
    int32_t *ids;
    size_t n;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, "", 0, &ids, &n, &err), &err);
    assert_int_equal(n, 0); /* no dummy prefix for empty text, as llama2.c */
    ac_free(ids);
    /* token texts: byte tokens are the byte, BOS/EOS print nothing */
    assert_string_equal(ac_tokenizer_token_text(tok, 403), " Once");
    assert_string_equal(ac_tokenizer_token_text(tok, 3 + 'A'), "A");
    assert_string_equal(ac_tokenizer_token_text(tok, 0), "<unk>");
    assert_string_equal(ac_tokenizer_token_text(tok, 1), "");
    assert_string_equal(ac_tokenizer_token_text(tok, 2), "");
    assert_null(ac_tokenizer_token_text(tok, 512));
    /* decode: the token after BOS loses its leading space; byte tokens do not */
    const int32_t a[] = {1, 403, 407, 261, 378, 2};
    char *text;
    size_t len;
    assert_ac_ok(ac_tokenizer_decode(tok, a, 6, &text, &len, &err), &err);
    assert_string_equal(text, "Once upon a time");
    ac_free(text);
    assert_ac_ok(ac_tokenizer_decode(tok, a + 1, 4, &text, &len, &err), &err);
    assert_string_equal(text, " Once upon a time");
    ac_free(text);
    const int32_t b[] = {1, 3 + ' ', 3 + 'x'};
    assert_ac_ok(ac_tokenizer_decode(tok, b, 3, &text, &len, &err), &err);
    assert_string_equal(text, " x");
    ac_free(text);
    const int32_t bad[] = {1, 512};
    assert_int_equal(ac_tokenizer_decode(tok, bad, 2, &text, &len, &err), AC_ERR_RANGE);
    ac_tokenizer_free(tok);
}

static void test_greedy_reference_round_trip(void **state) {
    (void)state;
    ac_tokenizer *tok = load_tok512(NULL);
    const char *ref_path = tt_shared("models/stories260K/greedy-reference.txt");
    assert_non_null(ref_path);
    FILE *f = fopen(ref_path, "r");
    assert_non_null(f);
    char line[4096], story[8192] = "";
    assert_non_null(fgets(line, sizeof line, f)); /* "# llama2.c reference ..." */
    /* the story: the lines up to the first empty one */
    while (fgets(line, sizeof line, f) && line[0] != '\n') strncat(story, line, sizeof story - strlen(story) - 1);
    fclose(f);
    size_t story_len = strlen(story);
    if (story_len && story[story_len - 1] == '\n') story[--story_len] = 0;
    assert_true(story_len > 200);
    assert_memory_equal(story, "Once upon a time, there was a little girl named Lily.", 53);
    char first[64];
    snprintf(first, sizeof first, "%.*s", 53, story);
    tt_assert_round_trip(tok, first, strlen(first), 1);
    tt_assert_round_trip(tok, story, story_len, 1);

    const char *bin = tt_shared("models/stories260K/tok512.bin");
    RefTokenizer ref;
    ref_build(&ref, bin, 512);
    assert_matches_reference(tok, &ref, first);
    assert_matches_reference(tok, &ref, story);
    ref_free(&ref);
    ac_tokenizer_free(tok);
}

/* Same ids as llama2.c on the GPT-2 golden strings and on random text. */
static void test_matches_llama2c(void **state) {
    (void)state;
    const char *bin;
    ac_tokenizer *tok = load_tok512(&bin);
    RefTokenizer ref;
    ref_build(&ref, bin, 512);
    json_t *root;
    json_t *cases = tt_load_golden(&root);
    size_t i, checked = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const json_t *text = json_object_get(c, "text");
        if (strlen(json_string_value(text)) != json_string_length(text)) continue; /* NUL */
        assert_matches_reference(tok, &ref, json_string_value(text));
        tt_assert_round_trip(tok, json_string_value(text), json_string_length(text), 1);
        checked++;
    }
    assert_true(checked > 300);
    json_decref(root);
    /* random text: words, spaces, punctuation, multi-byte and invalid bytes */
    static const char *const parts[] = {"the", " ", "  ", "Lily", "was", ",", ".", "\n", "!", "\"",
                                        "e", "é", "日本", "🙂", "\x80", "\xC3", "\xE2\x82",
                                        "\xFF", "\x80\x80\x80\x80\x80\x80", "x", "Q", "1", "23",
                                        "'s", "\t", "<0x41>", "<unk>", "\n<s>\n"};
    uint64_t rng = 7;
    for (int k = 0; k < 1500; k++) {
        char s[512] = "";
        int n_parts = 1 + (int)(tt_rand(&rng) % 24);
        for (int p = 0; p < n_parts; p++)
            strncat(s, parts[tt_rand(&rng) % (sizeof parts / sizeof *parts)],
                    sizeof s - strlen(s) - 1);
        assert_matches_reference(tok, &ref, s);
        tt_assert_round_trip(tok, s, strlen(s), 1);
    }
    ref_free(&ref);
    ac_tokenizer_free(tok);
}

/* A synthetic vocabulary over {a, b, c, ' '} with many equal scores exercises the
 * tie-breaking (leftmost pair) and the score order against the reference. */
static void write_token(FILE *f, float score, const char *s, size_t n) {
    int32_t len = (int32_t)n;
    assert_int_equal(fwrite(&score, 4, 1, f), 1);
    assert_int_equal(fwrite(&len, 4, 1, f), 1);
    if (n) assert_int_equal(fwrite(s, 1, n, f), n);
}

static int write_synthetic(const char *path, int with_space) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    int32_t max_len = 6; /* llama2.c's buffer must hold two byte tokens "<0xC3><0xC3>" */
    assert_int_equal(fwrite(&max_len, 4, 1, f), 1);
    write_token(f, 0, "<unk>", 5);
    write_token(f, 0, "\n<s>\n", 5);
    write_token(f, 0, "\n</s>\n", 6);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        write_token(f, 0, s, 6);
    }
    int count = 259;
    const char alphabet[] = "abc ";
    uint64_t rng = 99;
    for (int len = 1; len <= 3; len++) {
        int total = 1;
        for (int k = 0; k < len; k++) total *= 4;
        for (int code = 0; code < total; code++) {
            char s[4];
            int x = code;
            for (int k = 0; k < len; k++, x /= 4) s[k] = alphabet[x % 4];
            if (!with_space && memchr(s, ' ', (size_t)len)) continue;
            if (len > 1 && tt_rand(&rng) % 3 == 0) continue; /* leave some out */
            float score = len == 1 ? 0.0f : -(float)(tt_rand(&rng) % 3);
            write_token(f, score, s, (size_t)len);
            count++;
        }
    }
    assert_int_equal(fclose(f), 0);
    return count;
}

static void test_ties_synthetic(void **state) {
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/syn1.bin", ac_test_tmpdir());
    int count = write_synthetic(p, 1);
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, p, &err), &err);
    assert_int_equal(ac_tokenizer_vocab_size(tok), count);
    RefTokenizer ref;
    ref_build(&ref, p, count);
    uint64_t rng = 5;
    for (int k = 0; k < 3000; k++) {
        char s[64];
        size_t n = 1 + tt_rand(&rng) % 40;
        for (size_t i = 0; i < n; i++) s[i] = "abcab c\xC3"[tt_rand(&rng) % 8];
        s[n] = 0;
        assert_matches_reference(tok, &ref, s);
    }
    ref_free(&ref);
    ac_tokenizer_free(tok);

    /* without a " " token the dummy prefix falls back to the byte (llama2.c would use
     * id -1 here) */
    snprintf(p, sizeof p, "%s/syn0.bin", ac_test_tmpdir());
    write_synthetic(p, 0);
    assert_ac_ok(ac_tokenizer_load(&tok, p, &err), &err);
    TT_ENCODES(tok, "a", 3 + ' ', 259);
    /* ... and, being a byte token, it is not stripped after BOS */
    const int32_t ids[] = {1, 3 + ' ', 259};
    char *text;
    size_t len;
    assert_ac_ok(ac_tokenizer_decode(tok, ids, 3, &text, &len, &err), &err);
    assert_string_equal(text, " a");
    ac_free(text);
    ac_tokenizer_free(tok);
}

static void copy_prefix(const char *from, const char *to, long n) {
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    tt_write_file(to, buf, (size_t)n);
    free(buf);
}

static void expect_load_error(const char *path, int code, const char *needle, int has_offset) {
    ac_tokenizer *tok;
    ac_error err;
    int rc = ac_tokenizer_load(&tok, path, &err);
    char buf[1200];
    print_message("%s\n", ac_error_format(&err, buf, sizeof buf));
    assert_int_equal(rc, code);
    assert_null(tok);
    assert_string_equal(err.file, path);
    if (needle && !strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    if (has_offset) assert_true(err.offset >= 0);
}

static void test_truncated_and_malformed(void **state) {
    (void)state;
    TT_REQUIRE_SHARED(bin, "models/stories260K/tok512.bin");
    char src[1024];
    snprintf(src, sizeof src, "%s", bin);
    char path[1024];
    snprintf(path, sizeof path, "%s/tok-cut.bin", ac_test_tmpdir());
    copy_prefix(src, path, 2);
    expect_load_error(path, AC_ERR_FORMAT, "too short", 1);
    copy_prefix(src, path, 4);
    expect_load_error(path, AC_ERR_FORMAT, "259", 0);
    copy_prefix(src, path, 9);
    expect_load_error(path, AC_ERR_FORMAT, "truncated", 1);
    copy_prefix(src, path, 14);
    expect_load_error(path, AC_ERR_FORMAT, "past the end", 1);
    copy_prefix(src, path, 3000);
    expect_load_error(path, AC_ERR_FORMAT, NULL, 1);
    copy_prefix(src, path, 6226);
    expect_load_error(path, AC_ERR_FORMAT, "past the end", 1);
    /* a bad header and a negative length */
    tt_write_file(path, "\0\0\0\0", 4);
    expect_load_error(path, AC_ERR_FORMAT, "max_token_length", 1);
    const unsigned char neg[] = {7, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    tt_write_file(path, neg, sizeof neg);
    expect_load_error(path, AC_ERR_FORMAT, "length -1", 1);
    /* missing file */
    snprintf(path, sizeof path, "%s/no-such-tok.bin", ac_test_tmpdir());
    expect_load_error(path, AC_ERR_IO, "No such file", 0);

    /* random corruption: never a crash, only AC_OK or AC_ERR_FORMAT */
    FILE *f = fopen(src, "rb");
    unsigned char orig[8192];
    size_t size = fread(orig, 1, sizeof orig, f);
    fclose(f);
    assert_int_equal(size, 6227);
    uint64_t rng = 3;
    snprintf(path, sizeof path, "%s/tok-fuzz.bin", ac_test_tmpdir());
    for (int k = 0; k < 300; k++) {
        unsigned char buf[8192];
        memcpy(buf, orig, size);
        for (int j = 0; j < 4; j++) buf[tt_rand(&rng) % size] = (unsigned char)tt_rand(&rng);
        size_t n = k % 3 == 0 ? tt_rand(&rng) % size : size;
        tt_write_file(path, buf, n);
        ac_tokenizer *tok;
        ac_error err;
        int rc = ac_tokenizer_load(&tok, path, &err);
        if (rc == AC_OK) {
            int32_t *ids;
            size_t m;
            assert_ac_ok(ac_tokenizer_encode(tok, "Once upon a time\xFF", 17, &ids, &m, &err), &err);
            ac_free(ids);
            ac_tokenizer_free(tok);
        } else {
            assert_int_equal(rc, AC_ERR_FORMAT);
        }
    }
}

static void test_load_for_model(void **state) {
    (void)state;
    TT_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
    char model_path[1024], tok_path[1024];
    snprintf(model_path, sizeof model_path, "%s", model);
    snprintf(tok_path, sizeof tok_path, "%s", tt_shared("models/stories260K/tok512.bin"));
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load_for_model(&tok, model_path, &err), &err);
    assert_int_equal(ac_tokenizer_get_kind(tok), AC_TOKENIZER_LLAMA2C);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 512);
    TT_ENCODES(tok, "Once upon a time", 403, 407, 261, 378);
    ac_tokenizer_free(tok);
    /* the directory itself */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tt_shared("models/stories260K"));
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 512);
    ac_tokenizer_free(tok);

    /* a checkpoint alone: no tokenizer */
    char lone[512], p[1024];
    snprintf(lone, sizeof lone, "%s/lone", ac_test_tmpdir());
    mkdir(lone, 0755);
    snprintf(p, sizeof p, "%s/model.bin", lone);
    copy_prefix(model_path, p, 28);
    assert_int_equal(ac_tokenizer_load_for_model(&tok, p, &err), AC_ERR_IO);
    assert_null(tok);
    assert_string_equal(err.file, p);
    /* a tokenizer of the wrong size beside it */
    snprintf(p, sizeof p, "%s/tok-small.bin", lone);
    int count = write_synthetic(p, 1);
    assert_true(count != 512);
    snprintf(p, sizeof p, "%s/model.bin", lone);
    assert_int_equal(ac_tokenizer_load_for_model(&tok, p, &err), AC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "but the model"));
    /* with the right one too, the right one is chosen (tokenizer.bin is tried first) */
    snprintf(p, sizeof p, "%s/tokenizer.bin", lone);
    assert_int_equal(symlink(tok_path, p), 0);
    snprintf(p, sizeof p, "%s/model.bin", lone);
    assert_ac_ok(ac_tokenizer_load_for_model(&tok, p, &err), &err);
    assert_int_equal(ac_tokenizer_vocab_size(tok), 512);
    ac_tokenizer_free(tok);
}

static void test_alloc_failures(void **state) {
    (void)state;
    const char *bin;
    ac_tokenizer *probe = load_tok512(&bin);
    ac_tokenizer_free(probe);
    int loaded = 0;
    for (long k = 1; k < 100000 && !loaded; k++) {
        ac_tokenizer *tok;
        ac_error err;
        ac_alloc_fail_after(k);
        int rc = ac_tokenizer_load(&tok, bin, &err);
        ac_alloc_fail_after(0);
        if (rc != AC_OK) {
            assert_int_equal(rc, AC_ERR_NOMEM);
            continue;
        }
        loaded = 1;
        int encoded = 0;
        for (long j = 1; j < 1000 && !encoded; j++) {
            int32_t *ids;
            size_t n;
            ac_alloc_fail_after(j);
            rc = ac_tokenizer_encode(tok, "Once upon a time", 16, &ids, &n, &err);
            ac_alloc_fail_after(0);
            if (rc == AC_OK) {
                encoded = 1;
                assert_int_equal(n, 4);
                ac_free(ids);
            } else {
                assert_int_equal(rc, AC_ERR_NOMEM);
            }
        }
        assert_true(encoded);
        ac_tokenizer_free(tok);
    }
    assert_true(loaded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_greedy_reference_round_trip),
        cmocka_unit_test(test_matches_llama2c),
        cmocka_unit_test(test_ties_synthetic),
        cmocka_unit_test(test_truncated_and_malformed),
        cmocka_unit_test(test_load_for_model),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
