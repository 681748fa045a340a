/* Harnesses for the tokenizer readers (GPT-2 vocab.json + merges.txt, tokenizer.json,
 * llama2.c .bin) and for encoding arbitrary bytes with fixed tokenizers. */
#include "fz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit.h"

static void load_and_exercise(const char *path) {
    ac_tokenizer *tok = NULL;
    ac_error err;
    if (ac_tokenizer_load(&tok, path, &err) == AC_OK) {
        fz_exercise_tokenizer(tok);
        ac_tokenizer_free(tok);
    } else {
        fz_check(tok == NULL && err.msg[0]);
    }
}

/* Input: vocab.json FZ_SEP merges.txt (no separator: all vocab.json, empty merges). */
int fz_gpt2_tokenizer(const uint8_t *data, size_t size) {
    const uint8_t *parts[2];
    size_t lens[2];
    size_t n = fz_split(data, size, parts, lens, 2);
    const char *dir = fz_mkdir("gpt2tok");
    fz_write("gpt2tok/vocab.json", parts[0], lens[0]);
    fz_write("gpt2tok/merges.txt", n > 1 ? parts[1] : data, n > 1 ? lens[1] : 0);
    load_and_exercise(dir);
    return 0;
}

int fz_tokenizer_json(const uint8_t *data, size_t size) {
    load_and_exercise(fz_write("tokenizer.json", data, size));
    return 0;
}

int fz_llama2c_tokenizer(const uint8_t *data, size_t size) {
    /* named like a llama2.c tokenizer; a file starting with '{' is read as JSON */
    load_and_exercise(fz_write("tok.bin", data, size));
    return 0;
}

/* ---- encode arbitrary bytes ---------------------------------------------------------- */

static int make_gpt2(const char *p) { return fz_fixture_gpt2_tokenizer(p); }
static int make_tj(const char *p) { return fz_fixture_tokenizer_json(p); }
static int make_l2c(const char *p) { return fz_fixture_llama2c_tokenizer(p); }

enum { N_FIXED = 4 };
static ac_tokenizer *fixed[N_FIXED];
static int n_fixed = -1;

static void free_fixed(void) {
    for (int i = 0; i < N_FIXED; i++) ac_tokenizer_free(fixed[i]);
}

/* The fixture tokenizers, plus the one named by $AC_FUZZ_TOKENIZER (e.g. the real GPT-2
 * files for a longer campaign). */
static void load_fixed(void) {
    if (n_fixed >= 0) return;
    const char *paths[N_FIXED] = {fz_once("enc_gpt2", make_gpt2), fz_once("enc_tj.json", make_tj),
                                  fz_once("enc_l2c.bin", make_l2c), getenv("AC_FUZZ_TOKENIZER")};
    n_fixed = 0;
    for (int i = 0; i < N_FIXED; i++) {
        if (!paths[i] || !paths[i][0]) continue;
        ac_error err;
        if (ac_tokenizer_load(&fixed[n_fixed], paths[i], &err) != AC_OK) {
            char buf[1200];
            fprintf(stderr, "fuzz: cannot load the tokenizer %s: %s\n", paths[i],
                    ac_error_format(&err, buf, sizeof buf));
            abort();
        }
        n_fixed++;
    }
    atexit(free_fixed);
}

int fz_encode(const uint8_t *data, size_t size) {
    load_fixed();
    for (int t = 0; t < n_fixed; t++) {
        const ac_tokenizer *tok = fixed[t];
        const int32_t V = ac_tokenizer_vocab_size(tok);
        int32_t *ids = NULL;
        size_t n = 0;
        ac_error err;
        fz_check(ac_tokenizer_encode(tok, (const char *)data, size, &ids, &n, &err) == AC_OK);
        for (size_t i = 0; i < n; i++) fz_check(ids[i] >= 0 && ids[i] < V);
        /* byte-level BPE with every byte in the vocabulary, and llama2.c with byte
         * fallback, lose nothing: decoding gives the input back (llama2.c after BOS,
         * which removes the dummy prefix space). A tokenizer from outside (t == 3) is
         * only required to decode. */
        const int l2c = ac_tokenizer_get_kind(tok) == AC_TOKENIZER_LLAMA2C;
        int32_t *with_bos = malloc((n + 1) * sizeof *with_bos);
        fz_check(with_bos != NULL);
        with_bos[0] = ac_tokenizer_bos(tok);
        if (n) memcpy(with_bos + 1, ids, n * sizeof *ids);
        char *text = NULL;
        size_t len = 0;
        fz_check(ac_tokenizer_decode(tok, l2c ? with_bos : ids, l2c ? n + 1 : n, &text, &len, &err) ==
                 AC_OK);
        if (t < 3) fz_check(len == size && (size == 0 || memcmp(text, data, size) == 0));
        ac_free(text);
        free(with_bos);
        ac_free(ids);
    }
    return 0;
}
