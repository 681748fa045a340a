/* Small valid files for the harnesses and the seed corpora, generated with the library
 * (models) or by hand (tokenizers), so nothing is copied from elsewhere. */
#include "fz.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autocircuit.h"
#include "data/tokenizer_internal.h"
#include "model/checkpoint.h"

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = n && fwrite(data, 1, n, f) != n;
    if (fclose(f) != 0) bad = 1;
    return bad ? -1 : 0;
}

static int ensure_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : -1;
    return mkdir(dir, 0777);
}

static void tiny_config(ac_config *c, int kind) {
    if (kind == 2) {
        ac_config_defaults(c, AC_ARCH_LLAMA);
        c->n_layer = 1;
        c->n_head = 2;
        c->n_kv_head = 1;
        c->d_model = 4;
        c->d_head = 2;
        c->d_mlp = 6;
        c->vocab_size = 7;
        c->n_ctx = 8;
        return;
    }
    ac_config_defaults(c, AC_ARCH_GPT2);
    c->n_layer = 1;
    c->n_head = c->n_kv_head = 2;
    c->d_model = 4;
    c->d_head = 2;
    c->d_mlp = kind == 1 ? 0 : 8;
    c->attn_only = kind == 1;
    c->vocab_size = 7;
    c->n_ctx = 4;
    if (kind == 1) {
        c->norm = AC_NORM_NONE;
        c->final_norm = 0;
    }
}

static int save_model(const char *dir, int kind, int shards) {
    if (ensure_dir(dir)) return -1;
    ac_config c;
    tiny_config(&c, kind);
    ac_model *m = NULL;
    ac_error err;
    if (ac_model_create(&m, &c, &err)) return -1;
    ac_model_init_random(m, 7 + (uint64_t)kind, 0.1f);
    ac__save_options opt = {AC__ST_F32, NULL, NULL, shards, 0};
    int rc = ac__model_save_hf(m, dir, &opt, &err);
    ac_model_free(m);
    return rc ? -1 : 0;
}

int fz_fixture_model(const char *dir, int kind) { return save_model(dir, kind, 1); }

int fz_fixture_sharded(const char *dir) { return save_model(dir, 2, 2); }

/* llama2.c: dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab 5 (shared), seq 3. */
int fz_fixture_llama2c(const char *path, int version) {
    const int32_t p[7] = {4, 6, 1, 2, 1, 5, 3};
    const size_t d = 4, hid = 6, V = 5, kvd = 2, head = 2, seq = 3;
    size_t floats = V * d + d + d * d + 2 * kvd * d + d * d + d + 3 * hid * d + d;
    if (version == 0) floats += seq * head; /* freq_cis tables */
    unsigned char header[256] = {0};
    size_t header_len;
    if (version == 0) {
        memcpy(header, p, sizeof p);
        header_len = 28;
    } else {
        const uint32_t magic = 0x616b3432u;
        const int32_t v = 1;
        memcpy(header, &magic, 4);
        memcpy(header + 4, &v, 4);
        memcpy(header + 8, p, sizeof p);
        header[36] = 1; /* shared classifier */
        header_len = 256;
    }
    unsigned char *buf = malloc(header_len + 4 * floats);
    if (!buf) return -1;
    memcpy(buf, header, header_len);
    for (size_t i = 0; i < floats; i++) {
        float x = (float)((int)(i * 37 % 23) - 11) / 16.0f;
        if (i < V * d + 0) x *= 0.5f;
        memcpy(buf + header_len + 4 * i, &x, 4);
    }
    int rc = write_file(path, buf, header_len + 4 * floats);
    free(buf);
    return rc;
}

/* ---- GPT-2 byte-level BPE ----------------------------------------------------------- */

/* Merges in byte-level unicode (Ġ = space), applied to a vocab of the 256 byte tokens;
 * each adds the concatenation as a new token. */
static const char *const gpt2_merges[][2] = {
    {"h", "e"},    {"l", "l"},     {"he", "ll"},     {"hell", "o"},    {"\xC4\xA0", "hello"},
    {"\xC4\xA0", "w"}, {"o", "r"}, {"\xC4\xA0w", "or"}, {"l", "d"},    {"\xC4\xA0wor", "ld"},
    {"\xC4\xA0", "A"}, {"\xC4\xA0", "B"}, {"\xC4\xA0", "M"}, {"a", "r"}, {"\xC4\xA0M", "ar"},
    {"\xC4\xA0Mar", "y"}, {"\xC4\xA0", "J"}, {"\xC4\xA0J", "o"}, {"h", "n"}, {"\xC4\xA0Jo", "hn"},
    {"\xC3\x83", "\xC2\xA9"}, {"\xC4\xA0", "\xC4\xA0"}, {"t", "h"}, {"\xC4\xA0", "th"}, {"\xC4\xA0th", "e"},
};
enum { N_GPT2_MERGES = sizeof gpt2_merges / sizeof gpt2_merges[0] };

/* vocab object: 256 byte tokens (ids in byte order), merged tokens, <|endoftext|>. */
static json_t *gpt2_vocab(void) {
    json_t *v = json_object();
    if (!v) return NULL;
    int id = 0;
    for (unsigned b = 0; b < 256; b++) {
        char s[8];
        size_t n = ac__utf8_put(ac__byte_to_unicode(b), s);
        s[n] = 0;
        json_object_set_new(v, s, json_integer(id++));
    }
    for (int i = 0; i < N_GPT2_MERGES; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s%s", gpt2_merges[i][0], gpt2_merges[i][1]);
        if (!json_object_get(v, s)) json_object_set_new(v, s, json_integer(id++));
    }
    json_object_set_new(v, "<|endoftext|>", json_integer(id));
    return v;
}

int fz_fixture_gpt2_tokenizer(const char *dir) {
    if (ensure_dir(dir)) return -1;
    json_t *v = gpt2_vocab();
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    int rc = v && json_dump_file(v, path, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 ? 0 : -1;
    json_decref(v);
    if (rc) return rc;
    char merges[4096];
    size_t used = (size_t)snprintf(merges, sizeof merges, "#version: 0.2\n");
    for (int i = 0; i < N_GPT2_MERGES; i++)
        used += (size_t)snprintf(merges + used, sizeof merges - used, "%s %s\n", gpt2_merges[i][0],
                                 gpt2_merges[i][1]);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    return write_file(path, merges, used);
}

/* tokenizer.json: the same vocab and merges, a Llama-3-style Split then ByteLevel, and
 * <|endoftext|> as an added token. */
int fz_fixture_tokenizer_json(const char *path) {
    static const char pattern[] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    json_t *vocab = gpt2_vocab();
    json_t *merges = json_array();
    if (!vocab || !merges) {
        json_decref(vocab);
        json_decref(merges);
        return -1;
    }
    for (int i = 0; i < N_GPT2_MERGES; i++)
        json_array_append_new(merges, i % 2 ? json_pack("[ss]", gpt2_merges[i][0], gpt2_merges[i][1])
                                             : json_sprintf("%s %s", gpt2_merges[i][0], gpt2_merges[i][1]));
    const json_int_t eot = json_integer_value(json_object_get(vocab, "<|endoftext|>"));
    json_t *root = json_pack(
        "{s:s, s:[{s:I, s:s, s:b, s:b, s:b, s:b, s:b}], s:n,"
        " s:{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]},"
        " s:n, s:{s:s}, s:{s:s, s:n, s:n, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "added_tokens", "id", eot, "content", "<|endoftext|>", "single_word", 0,
        "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1, "normalizer", "pre_tokenizer", "type",
        "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex", pattern, "behavior", "Isolated",
        "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0,
        "post_processor", "decoder", "type", "ByteLevel", "model", "type", "BPE", "dropout", "unk_token",
        "fuse_unk", 0, "byte_fallback", 0, "vocab", vocab, "merges", merges);
    if (!root) return -1;
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0 ? 0 : -1;
    json_decref(root);
    return rc;
}

/* ---- llama2.c tokenizer ----------------------------------------------------------------- */

static int put_piece(FILE *f, float score, const char *s, size_t n) {
    int32_t len = (int32_t)n;
    return fwrite(&score, 4, 1, f) == 1 && fwrite(&len, 4, 1, f) == 1 && (n == 0 || fwrite(s, 1, n, f) == n)
               ? 0
               : -1;
}

int fz_fixture_llama2c_tokenizer(const char *path) {
    static const char *const pieces[] = {" ", "e", "h", "l", "o", "w", "r", "d", "he", "ll", "hell",
                                         "hello", " hello", " w", "or", " wor", "ld", " world", "\xC3\xA9",
                                         " \xC3\xA9"};
    const size_t n_pieces = sizeof pieces / sizeof pieces[0];
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int32_t max_len = 8;
    int bad = fwrite(&max_len, 4, 1, f) != 1;
    bad |= put_piece(f, 0, "<unk>", 5);
    bad |= put_piece(f, 0, "\n<s>\n", 5);
    bad |= put_piece(f, 0, "\n</s>\n", 6);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        bad |= put_piece(f, 0, s, 6);
    }
    for (size_t i = 0; i < n_pieces; i++)
        bad |= put_piece(f, -(float)i, pieces[i], strlen(pieces[i]));
    if (fclose(f) != 0) bad = 1;
    return bad ? -1 : 0;
}
