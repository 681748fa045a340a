/* Fuzz corpora as regression tests: every seed (fuzz/corpus/NAME) and every input that
 * once crashed a harness (fuzz/regressions/NAME) runs through the harness body in the
 * normal and the sanitizer builds, without clang or libFuzzer. The fixtures the
 * harnesses and seeds are made from must themselves be valid. */
#include "ac_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"

typedef int (*harness_fn)(const uint8_t *, size_t);

static const struct {
    const char *name;
    harness_fn fn;
} harnesses[] = {
#define AC__FZ_ENTRY(n) {#n, fz_##n},
    AC_FZ_HARNESSES(AC__FZ_ENTRY)
#undef AC__FZ_ENTRY
};
enum { N_HARNESSES = sizeof harnesses / sizeof harnesses[0] };

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *n = len;
    return buf;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Run every file of DIR through fn; returns how many (0 when DIR is absent). */
static size_t replay_dir(const char *dir, harness_fn fn) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len;
        unsigned char *data = slurp(path, &len);
        assert_int_equal(fn(data, len), 0);
        free(data);
        free(names[i]);
    }
    return n;
}

static void test_replay(void **state) {
    (void)state;
    for (int h = 0; h < N_HARNESSES; h++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", ac_test_source_dir(), harnesses[h].name);
        size_t seeds = replay_dir(dir, harnesses[h].fn);
        snprintf(dir, sizeof dir, "%s/fuzz/regressions/%s", ac_test_source_dir(), harnesses[h].name);
        size_t regressions = replay_dir(dir, harnesses[h].fn);
        print_message("%-18s %3zu seeds, %3zu regression inputs\n", harnesses[h].name, seeds, regressions);
        if (seeds == 0) fail_msg("no seed corpus for harness %s", harnesses[h].name);
    }
}

/* The fixtures load, so the seeds made from them are valid inputs. */
static void test_fixtures_valid(void **state) {
    (void)state;
    ac_error err;
    ac_model *m = NULL;
    for (int kind = 0; kind < 3; kind++) {
        char name[32];
        snprintf(name, sizeof name, "fixture_model_%d", kind);
        const char *dir = fz_mkdir(name);
        assert_int_equal(fz_fixture_model(dir, kind), 0);
        assert_ac_ok(ac_model_load(&m, dir, &err), &err);
        ac_model_free(m);
    }
    const char *dir = fz_mkdir("fixture_sharded");
    assert_int_equal(fz_fixture_sharded(dir), 0);
    assert_ac_ok(ac_model_load(&m, dir, &err), &err);
    ac_model_free(m);
    for (int v = 0; v < 2; v++) {
        const char *path = fz_path(v ? "fixture_v1.bin" : "fixture_v0.bin");
        assert_int_equal(fz_fixture_llama2c(path, v), 0);
        assert_ac_ok(ac_model_load(&m, path, &err), &err);
        assert_int_equal(ac_model_config(m)->n_kv_head, 1);
        ac_model_free(m);
    }
    ac_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    dir = fz_mkdir("fixture_gpt2tok");
    assert_int_equal(fz_fixture_gpt2_tokenizer(dir), 0);
    assert_ac_ok(ac_tokenizer_load(&tok, dir, &err), &err);
    assert_ac_ok(ac_tokenizer_encode(tok, " Mary hello world", 17, &ids, &n, &err), &err);
    assert_int_equal(n, 3); /* " Mary", " hello", " world" */
    ac_free(ids);
    ac_tokenizer_free(tok);
    const char *path = fz_path("fixture_tokenizer.json");
    assert_int_equal(fz_fixture_tokenizer_json(path), 0);
    assert_ac_ok(ac_tokenizer_load(&tok, path, &err), &err);
    assert_ac_ok(ac_tokenizer_encode(tok, "hello world<|endoftext|>", 24, &ids, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_int_equal(ids[2], ac_tokenizer_vocab_size(tok) - 1);
    ac_free(ids);
    ac_tokenizer_free(tok);
    path = fz_path("fixture_tok.bin");
    assert_int_equal(fz_fixture_llama2c_tokenizer(path), 0);
    assert_ac_ok(ac_tokenizer_load(&tok, path, &err), &err);
    assert_ac_ok(ac_tokenizer_encode(tok, "hello world", 11, &ids, &n, &err), &err);
    assert_int_equal(n, 2); /* " hello", " world" */
    ac_free(ids);
    ac_tokenizer_free(tok);
}

/* The round-trip invariant of the encode harness holds on hand-picked texts. */
static void test_encode_round_trip(void **state) {
    (void)state;
    static const char *const texts[] = {"", " ", "  leading", "trailing  ", "\xFF\x00\xC3", "<|endoftext|>",
                                        "\xC3\xA9t\xC3\xA9", "\n\n\t x"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t len = i == 4 ? 3 : strlen(texts[i]);
        assert_int_equal(fz_encode((const uint8_t *)texts[i], len), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_valid),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
