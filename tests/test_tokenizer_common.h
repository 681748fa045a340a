/* Helpers shared by the tokenizer test programs (header-only: each test_*.c is its own
 * program). */
#ifndef TEST_TOKENIZER_COMMON_H
#define TEST_TOKENIZER_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ac_test.h"
#include "autocircuit/tokenizer.h"

/* ../shared/SUB, or NULL (after cmocka skip()) when it is absent. */
static inline const char *tt_shared(const char *sub) {
    const char *shared = ac_test_shared_dir();
    if (!shared) return NULL;
    static char buf[8][1024];
    static int k = 0;
    char *p = buf[k++ & 7];
    snprintf(p, 1024, "%s/%s", shared, sub);
    struct stat st;
    if (stat(p, &st) != 0) return NULL;
    return p;
}

#define TT_REQUIRE_SHARED(var, sub)                                   \
    const char *var = tt_shared(sub);                                 \
    if (!var) {                                                       \
        print_message("skipping: ../shared/%s not found\n", (sub));   \
        skip();                                                       \
    }

/* The golden cases: a JSON array of {"text": ..., "ids": [...]}; json_decref the root. */
static inline json_t *tt_load_golden(json_t **root) {
    const char *path = ac_test_path(ac_test_source_dir(), "tests/data/tokenizer/gpt2_golden.json");
    json_error_t jerr;
    *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!*root) fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    json_t *cases = json_object_get(*root, "cases");
    assert_true(json_is_array(cases));
    assert_true(json_array_size(cases) >= 300);
    return cases;
}

static inline void tt_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static inline void tt_write_text(const char *path, const char *text) {
    tt_write_file(path, text, strlen(text));
}

/* Encode and compare with expected ids (n of them). */
static inline void tt_assert_encodes(const ac_tokenizer *tok, const char *text, size_t len,
                                     const int32_t *want, size_t n) {
    int32_t *ids = NULL;
    size_t got = 0;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, text, len, &ids, &got, &err), &err);
    int same = got == n;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        print_error("encoding of \"%.*s\": got", (int)len, text);
        for (size_t i = 0; i < got; i++) print_error(" %d", ids[i]);
        print_error(", want");
        for (size_t i = 0; i < n; i++) print_error(" %d", want[i]);
        print_error("\n");
    }
    ac_free(ids);
    assert_true(same);
}

#define TT_ENCODES(tok, text, ...)                                                   \
    do {                                                                             \
        const int32_t tt_want_[] = {__VA_ARGS__};                                    \
        tt_assert_encodes((tok), (text), strlen(text), tt_want_,                     \
                          sizeof tt_want_ / sizeof tt_want_[0]);                     \
    } while (0)

/* decode(encode(s)) == s, optionally with a prefix id (BOS) before the ids. */
static inline void tt_assert_round_trip(const ac_tokenizer *tok, const char *s, size_t len,
                                        int32_t prefix) {
    int32_t *ids = NULL;
    size_t n = 0;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, s, len, &ids, &n, &err), &err);
    int32_t *all = malloc((n + 1) * sizeof *all);
    assert_non_null(all);
    size_t m = 0;
    if (prefix >= 0) all[m++] = prefix;
    memcpy(all + m, ids, n * sizeof *ids);
    m += n;
    char *text = NULL;
    size_t text_len = 0;
    assert_ac_ok(ac_tokenizer_decode(tok, all, m, &text, &text_len, &err), &err);
    if (text_len != len || memcmp(text, s, len)) {
        print_error("round trip of \"%.*s\" (%zu bytes) gave \"%s\" (%zu bytes)\n", (int)len, s,
                    len, text, text_len);
        fail();
    }
    assert_int_equal(text[text_len], 0);
    free(all);
    ac_free(ids);
    ac_free(text);
}

/* Deterministic pseudo-random numbers for generated inputs. */
static inline uint32_t tt_rand(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

#endif
