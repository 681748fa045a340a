/* Tokenizers: public entry points, format detection, decoding. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/tokenizer_internal.h"

/* Ids above this are rejected as malformed (keeps per-id tables bounded). */
#define MAX_VOCAB (1 << 24)

int ac__tokenizer_alloc(ac_tokenizer **out, ac_tokenizer_kind kind, int32_t n_vocab,
                        const char *path, ac_error *err) {
    *out = NULL;
    if (n_vocab <= 0 || n_vocab > MAX_VOCAB)
        return ac_error_set(err, AC_ERR_FORMAT, path, "vocabulary size %ld out of range (1..%d)",
                            (long)n_vocab, MAX_VOCAB);
    ac_tokenizer *tok = ac_calloc(1, sizeof *tok);
    if (!tok) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    size_t n = (size_t)n_vocab;
    tok->kind = kind;
    tok->n_vocab = n_vocab;
    tok->bos = tok->eos = tok->unk_id = -1;
    for (int b = 0; b < 256; b++) tok->byte_id[b] = -1;
    tok->raw_off = ac_calloc(n, sizeof *tok->raw_off);
    tok->text_off = ac_calloc(n, sizeof *tok->text_off);
    tok->raw_len = ac_calloc(n, sizeof *tok->raw_len);
    tok->text_len = ac_calloc(n, sizeof *tok->text_len);
    tok->present = ac_calloc(n, 1);
    if (!tok->raw_off || !tok->text_off || !tok->raw_len || !tok->text_len || !tok->present) {
        ac_tokenizer_free(tok);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory for %ld tokens",
                            (long)n_vocab);
    }
    *out = tok;
    return AC_OK;
}

int ac__tokenizer_set_token(ac_tokenizer *tok, int32_t id, const char *raw, size_t raw_len,
                            const char *text, size_t text_len) {
    if (id < 0 || id >= tok->n_vocab) return AC_ERR_RANGE;
    if (raw_len > UINT32_MAX - 1 || text_len > UINT32_MAX - 1) return AC_ERR_RANGE;
    size_t raw_off = tok->raw.len, text_off = tok->text.len;
    static const char nul = 0;
    int rc = ac__buf_append(&tok->raw, raw, raw_len);
    if (!rc) rc = ac__buf_append(&tok->raw, &nul, 1);
    if (!rc) rc = ac__buf_append(&tok->text, text, text_len);
    if (!rc) rc = ac__buf_append(&tok->text, &nul, 1);
    if (rc) return rc;
    size_t i = (size_t)id;
    tok->raw_off[i] = raw_off;
    tok->raw_len[i] = (uint32_t)raw_len;
    tok->text_off[i] = text_off;
    tok->text_len[i] = (uint32_t)text_len;
    tok->present[i] = 1;
    return AC_OK;
}

void ac_tokenizer_free(ac_tokenizer *tok) {
    if (!tok) return;
    ac__buf_free(&tok->raw);
    ac__buf_free(&tok->text);
    ac_free(tok->raw_off);
    ac_free(tok->text_off);
    ac_free(tok->raw_len);
    ac_free(tok->text_len);
    ac_free(tok->present);
    ac__strmap_free(&tok->vocab);
    ac__pairmap_free(&tok->merges);
    for (int i = 0; i < tok->n_stages; i++) pcre2_code_free(tok->stages[i].re);
    for (size_t i = 0; i < tok->n_specials; i++) ac_free(tok->specials[i].text);
    ac_free(tok->specials);
    pcre2_general_context_free(tok->gctx);
    ac_free(tok->scores);
    ac_free(tok);
}

ac_tokenizer_kind ac_tokenizer_get_kind(const ac_tokenizer *tok) {
    return tok ? tok->kind : AC_TOKENIZER_GPT2_BPE;
}
int ac_tokenizer_vocab_size(const ac_tokenizer *tok) { return tok ? (int)tok->n_vocab : 0; }
int ac_tokenizer_bos(const ac_tokenizer *tok) { return tok ? (int)tok->bos : -1; }
int ac_tokenizer_eos(const ac_tokenizer *tok) { return tok ? (int)tok->eos : -1; }

/* ---- format detection ------------------------------------------------------------ */

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int join_path(char *out, size_t n, const char *dir, const char *name) {
    int w = snprintf(out, n, "%s/%s", dir, name);
    return w >= 0 && (size_t)w < n ? 0 : -1;
}

/* Directory part of a path ("." when none). */
static void dir_of(const char *path, char *out, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(out, n, ".");
    } else if (slash == path) {
        snprintf(out, n, "/");
    } else {
        size_t len = (size_t)(slash - path);
        snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), path);
    }
}

static const char *base_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Load the GPT-2 pair in `dir` named vocab_name + merges_name if both exist. Returns
 * -1 when they do not, else the load status. */
static int try_gpt2_pair(ac_tokenizer **out, const char *dir, const char *vocab_name,
                         const char *merges_name, ac_error *err) {
    char vocab[4096], merges[4096];
    if (join_path(vocab, sizeof vocab, dir, vocab_name) ||
        join_path(merges, sizeof merges, dir, merges_name))
        return -1;
    if (!is_file(vocab) || !is_file(merges)) return -1;
    return ac__gpt2_load_files(out, vocab, merges, err);
}

static int has_prefix(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of llama2.c tokenizer candidates in `dir`: tokenizer.bin first, then
 * tokenizer*.bin and tok*.bin in name order. *names is ac_malloc'd (free each and it). */
static int list_llama2c_candidates(const char *dir, char ***names, size_t *count) {
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return AC_OK;
    char **list = NULL;
    size_t n = 0, cap = 0;
    int rc = AC_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_prefix(e->d_name, "tok") || !has_suffix(e->d_name, ".bin")) continue;
        if (n == cap) {
            size_t new_cap = cap ? cap * 2 : 8;
            char **p = ac_realloc(list, new_cap * sizeof *p);
            if (!p) {
                rc = AC_ERR_NOMEM;
                break;
            }
            list = p;
            cap = new_cap;
        }
        list[n] = ac_strdup(e->d_name);
        if (!list[n]) {
            rc = AC_ERR_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++) ac_free(list[i]);
        ac_free(list);
        return rc;
    }
    if (n > 1) qsort(list, n, sizeof *list, compare_names);
    /* tokenizer.bin to the front */
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(list[i], "tokenizer.bin")) {
            char *t = list[i];
            memmove(list + 1, list, i * sizeof *list);
            list[0] = t;
            break;
        }
    }
    *names = list;
    *count = n;
    return AC_OK;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) ac_free(names[i]);
    ac_free(names);
}

/* A file that starts (after whitespace and a UTF-8 BOM) with '{'. */
static int looks_like_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char buf[64];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t i = 0;
    if (n >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF) i = 3;
    while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r')) i++;
    return i < n && buf[i] == '{';
}

static int load_from_dir(ac_tokenizer **out, const char *dir, ac_error *err) {
    char path[4096];
    if (!join_path(path, sizeof path, dir, "tokenizer.json") && is_file(path))
        return ac__hf_load_json(out, path, err);
    int rc = try_gpt2_pair(out, dir, "vocab.json", "merges.txt", err);
    if (rc >= 0) return rc;
    rc = try_gpt2_pair(out, dir, "encoder.json", "vocab.bpe", err);
    if (rc >= 0) return rc;
    char **names;
    size_t n;
    rc = list_llama2c_candidates(dir, &names, &n);
    if (rc) return ac_error_set(err, rc, dir, "out of memory listing the directory");
    if (n > 0 && !join_path(path, sizeof path, dir, names[0])) {
        free_names(names, n);
        return ac__llama2c_load(out, path, err);
    }
    free_names(names, n);
    return ac_error_set(err, AC_ERR_IO, dir,
                        "no tokenizer files (tokenizer.json, vocab.json + merges.txt, "
                        "encoder.json + vocab.bpe, tokenizer.bin or tok*.bin)");
}

int ac_tokenizer_load(ac_tokenizer **out, const char *path, ac_error *err) {
    ac_error_clear(err);
    if (!out || !path) return ac_error_set(err, AC_ERR_ARG, NULL, "tokenizer path is NULL");
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return ac_error_set(err, AC_ERR_IO, path, "cannot open: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) return load_from_dir(out, path, err);

    /* a GPT-2 vocab/merges file named directly: take its partner from the same dir */
    const char *base = base_of(path);
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    static const char *const pairs[2][2] = {{"vocab.json", "merges.txt"},
                                            {"encoder.json", "vocab.bpe"}};
    for (int i = 0; i < 2; i++) {
        if (strcmp(base, pairs[i][0]) && strcmp(base, pairs[i][1])) continue;
        int rc = try_gpt2_pair(out, dir, pairs[i][0], pairs[i][1], err);
        if (rc >= 0) return rc;
        return ac_error_set(err, AC_ERR_IO, path, "%s needs %s in the same directory",
                            pairs[i][0], pairs[i][1]);
    }
    if (has_suffix(path, ".json") || looks_like_json(path)) return ac__hf_load_json(out, path, err);
    return ac__llama2c_load(out, path, err);
}

/* vocab_size of a llama2.c checkpoint header (legacy 7-int header or "ak42" v1/v2),
 * 0 when unreadable. */
static int32_t llama2c_checkpoint_vocab(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char h[36];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    int32_t v[9];
    for (size_t i = 0; i < 9; i++) {
        if (n < 4 * (i + 1)) {
            v[i] = 0;
            continue;
        }
        uint32_t u = (uint32_t)h[4 * i] | (uint32_t)h[4 * i + 1] << 8 |
                     (uint32_t)h[4 * i + 2] << 16 | (uint32_t)h[4 * i + 3] << 24;
        memcpy(&v[i], &u, sizeof u);
    }
    int32_t vocab = (uint32_t)v[0] == 0x616b3432u ? v[7] : v[5];
    if (vocab == INT32_MIN) return 0;
    return vocab < 0 ? -vocab : vocab;
}

int ac_tokenizer_load_for_model(ac_tokenizer **out, const char *model_path, ac_error *err) {
    ac_error_clear(err);
    if (!out || !model_path) return ac_error_set(err, AC_ERR_ARG, NULL, "model path is NULL");
    *out = NULL;
    struct stat st;
    if (stat(model_path, &st) != 0)
        return ac_error_set(err, AC_ERR_IO, model_path, "cannot open: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) return load_from_dir(out, model_path, err);

    /* a checkpoint file: a llama2.c tokenizer beside it whose vocabulary matches */
    char dir[4096], path[4096];
    dir_of(model_path, dir, sizeof dir);
    int32_t want = llama2c_checkpoint_vocab(model_path);
    char **names;
    size_t n;
    int rc = list_llama2c_candidates(dir, &names, &n);
    if (rc) return ac_error_set(err, rc, dir, "out of memory listing the directory");
    int first_rc = AC_OK;
    ac_error first_err;
    ac_error_clear(&first_err);
    for (size_t i = 0; i < n; i++) {
        if (join_path(path, sizeof path, dir, names[i])) continue;
        if (!strcmp(base_of(model_path), names[i])) continue;
        ac_tokenizer *tok;
        ac_error e;
        rc = ac__llama2c_load(&tok, path, &e);
        if (rc == AC_OK && (want <= 0 || tok->n_vocab == want)) {
            free_names(names, n);
            *out = tok;
            return AC_OK;
        }
        if (rc == AC_OK) {
            long have = (long)tok->n_vocab;
            ac_tokenizer_free(tok);
            rc = ac_error_set(&e, AC_ERR_FORMAT, path,
                              "tokenizer has %ld tokens but the model %s has %ld", have,
                              model_path, (long)want);
        }
        if (!first_rc) {
            first_rc = rc;
            first_err = e;
        }
    }
    free_names(names, n);
    /* Hugging Face files next to a weights file */
    if (!join_path(path, sizeof path, dir, "tokenizer.json") && is_file(path))
        return ac__hf_load_json(out, path, err);
    rc = try_gpt2_pair(out, dir, "vocab.json", "merges.txt", err);
    if (rc >= 0) return rc;
    rc = try_gpt2_pair(out, dir, "encoder.json", "vocab.bpe", err);
    if (rc >= 0) return rc;
    if (first_rc) {
        if (err) *err = first_err;
        return first_rc;
    }
    return ac_error_set(err, AC_ERR_IO, model_path,
                        "no tokenizer found beside the model (tokenizer.bin, tok*.bin, "
                        "tokenizer.json or vocab.json + merges.txt in %s)",
                        dir);
}

/* ---- encode / decode --------------------------------------------------------------- */

int ac_tokenizer_encode(const ac_tokenizer *tok, const char *text, size_t len,
                        int32_t **ids, size_t *n, ac_error *err) {
    ac_error_clear(err);
    if (!tok || !ids || !n || (!text && len))
        return ac_error_set(err, AC_ERR_ARG, NULL, "encode: NULL argument");
    *ids = NULL;
    *n = 0;
    ac__ids v = {0};
    int rc = tok->kind == AC_TOKENIZER_LLAMA2C ? ac__llama2c_encode(tok, text, len, &v)
                                               : ac__bpe_encode(tok, text, len, &v);
    if (!rc && !v.data) {
        v.data = ac_malloc(sizeof *v.data);
        if (!v.data) rc = AC_ERR_NOMEM;
    }
    if (rc) {
        ac__ids_free(&v);
        return ac_error_set(err, rc, NULL, "encode: %s", ac_status_message(rc));
    }
    *ids = v.data;
    *n = v.len;
    return AC_OK;
}

/* The bytes decode prints for `id` given the previous id (-1 at the start). */
static void token_bytes(const ac_tokenizer *tok, int32_t id, int32_t prev, const char **s,
                        size_t *len) {
    size_t i = (size_t)id;
    *s = tok->text.data + tok->text_off[i];
    *len = tok->text_len[i];
    /* llama2.c: a token following BOS loses its leading space (sentencepiece's dummy
     * prefix). Byte tokens ("<0x20>") are not affected, as in llama2.c. */
    if (tok->kind == AC_TOKENIZER_LLAMA2C && prev == tok->bos && prev >= 0 &&
        tok->raw_len[i] > 0 && tok->raw.data[tok->raw_off[i]] == ' ' && *len > 0 &&
        (*s)[0] == ' ') {
        (*s)++;
        (*len)--;
    }
}

int ac_tokenizer_decode(const ac_tokenizer *tok, const int32_t *ids, size_t n, char **text,
                        size_t *len, ac_error *err) {
    ac_error_clear(err);
    if (!tok || !text || (!ids && n))
        return ac_error_set(err, AC_ERR_ARG, NULL, "decode: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    ac__buf out = {0};
    int32_t prev = -1;
    for (size_t k = 0; k < n; k++) {
        int32_t id = ids[k];
        if (id < 0 || id >= tok->n_vocab || !tok->present[id]) {
            ac__buf_free(&out);
            return ac_error_set(err, AC_ERR_RANGE, NULL,
                                "decode: token id %ld at position %zu is outside the "
                                "vocabulary (0..%ld)",
                                (long)id, k, (long)tok->n_vocab - 1);
        }
        const char *s;
        size_t m;
        token_bytes(tok, id, prev, &s, &m);
        if (ac__buf_append(&out, s, m)) {
            ac__buf_free(&out);
            return ac_error_set(err, AC_ERR_NOMEM, NULL, "decode: out of memory");
        }
        prev = id;
    }
    static const char nul = 0;
    if (ac__buf_append(&out, &nul, 1)) {
        ac__buf_free(&out);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "decode: out of memory");
    }
    *text = out.data;
    if (len) *len = out.len - 1;
    return AC_OK;
}

const char *ac_tokenizer_token_text(const ac_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_vocab || !tok->present[id]) return NULL;
    return tok->text.data + tok->text_off[id];
}
