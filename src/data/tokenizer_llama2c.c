/* llama2.c tokenizer (tokenizer.bin / tok512.bin): int32 max_token_length, then per
 * token float32 score, int32 length, bytes. Encoding follows llama2.c's encode(). */
#include <string.h>

#include "data/tokenizer_internal.h"

#define LLAMA2C_BOS 1
#define LLAMA2C_EOS 2
#define LLAMA2C_BYTE0 3 /* id of <0x00>; byte b is id b + 3 */

static int32_t read_i32(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float read_f32(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* llama2.c: sscanf(piece, "<0x%02hhX>", &b) == 1, i.e. "<0x" and one or two hex digits. */
static int byte_piece(const unsigned char *s, size_t n) {
    if (n < 4 || memcmp(s, "<0x", 3)) return -1;
    int hi = hex_digit(s[3]);
    if (hi < 0) return -1;
    int lo = n > 4 ? hex_digit(s[4]) : -1;
    return lo < 0 ? hi : hi * 16 + lo;
}

int ac__llama2c_load(ac_tokenizer **out, const char *path, ac_error *err) {
    *out = NULL;
    char *data;
    size_t size;
    int rc = ac__read_file(path, &data, &size, err);
    if (rc) return rc;
    const unsigned char *d = (const unsigned char *)data;
    ac_tokenizer *tok = NULL;
    if (size < 4) {
        ac_free(data);
        return ac_error_set_offset(err, AC_ERR_FORMAT, path, 0,
                                   "not a llama2.c tokenizer: %zu bytes, too short for the "
                                   "header",
                                   size);
    }
    int32_t max_len = read_i32(d);
    if (max_len <= 0 || max_len > (1 << 20)) {
        ac_free(data);
        return ac_error_set_offset(err, AC_ERR_FORMAT, path, 0,
                                   "not a llama2.c tokenizer: max_token_length %ld out of range",
                                   (long)max_len);
    }
    /* first pass: count and check the records */
    size_t off = 4, count = 0;
    while (off < size) {
        if (size - off < 8) {
            ac_free(data);
            return ac_error_set_offset(err, AC_ERR_FORMAT, path, (long)off,
                                       "token %zu: truncated record header (%zu of 8 bytes)",
                                       count, size - off);
        }
        int32_t len = read_i32(d + off + 4);
        if (len < 0 || (size_t)len > size - off - 8) {
            ac_free(data);
            return ac_error_set_offset(err, AC_ERR_FORMAT, path, (long)(off + 4),
                                       "token %zu: length %ld runs past the end of the file "
                                       "(%zu bytes)",
                                       count, (long)len, size);
        }
        off += 8 + (size_t)len;
        count++;
        if (count > (1u << 24)) {
            ac_free(data);
            return ac_error_set_offset(err, AC_ERR_FORMAT, path, (long)off,
                                       "more than %d tokens", 1 << 24);
        }
    }
    if (count < 259) {
        ac_free(data);
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "llama2.c tokenizer has %zu tokens; at least 259 needed (<unk>, "
                            "BOS, EOS and 256 byte tokens)",
                            count);
    }
    rc = ac__tokenizer_alloc(&tok, AC_TOKENIZER_LLAMA2C, (int32_t)count, path, err);
    if (!rc) {
        tok->scores = ac_calloc(count, sizeof *tok->scores);
        if (!tok->scores) rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    off = 4;
    for (size_t i = 0; i < count && !rc; i++) {
        float score = read_f32(d + off);
        size_t len = (size_t)read_i32(d + off + 4);
        const char *piece = data + off + 8;
        off += 8 + len;
        tok->scores[i] = score;
        /* decode prints: BOS/EOS nothing, <0xXX> the raw byte, else the piece */
        char byte;
        const char *text = piece;
        size_t text_len = len;
        int b = byte_piece((const unsigned char *)piece, len);
        if (i == LLAMA2C_BOS || i == LLAMA2C_EOS) {
            text_len = 0;
        } else if (b >= 0) {
            byte = (char)(unsigned char)b;
            text = &byte;
            text_len = 1;
        }
        int32_t existing;
        rc = ac__strmap_put(&tok->vocab, piece, len, (int32_t)i, &existing);
        if (!rc) rc = ac__tokenizer_set_token(tok, (int32_t)i, piece, len, text, text_len);
        if (rc) rc = ac_error_set(err, rc, path, "%s", ac_status_message(rc));
    }
    ac_free(data);
    if (rc) {
        ac_tokenizer_free(tok);
        return rc;
    }
    tok->max_token_length = max_len;
    tok->bos = LLAMA2C_BOS;
    tok->eos = LLAMA2C_EOS;
    *out = tok;
    return AC_OK;
}

/* ---- encoding -------------------------------------------------------------------- */

typedef struct llama_ctx {
    const ac_tokenizer *tok;
    int32_t *id, *prev, *next;
    ac__merge_heap heap;
    ac__buf cat;
} llama_ctx;

/* Queue the merge of symbols pos and next[pos] if their concatenation is a token. */
static int push_pair(llama_ctx *c, int32_t pos) {
    const ac_tokenizer *tok = c->tok;
    int32_t a = c->id[pos], b = c->id[c->next[pos]];
    c->cat.len = 0;
    int rc = ac__buf_append(&c->cat, tok->raw.data + tok->raw_off[a], tok->raw_len[a]);
    if (!rc) rc = ac__buf_append(&c->cat, tok->raw.data + tok->raw_off[b], tok->raw_len[b]);
    if (rc) return rc;
    int32_t merged = ac__strmap_get(&tok->vocab, c->cat.data, c->cat.len);
    /* llama2.c starts from best_score = -1e10 and needs a strictly greater score */
    if (merged < 0 || !(tok->scores[merged] > -1e10f)) return AC_OK;
    ac__merge_cand cand = {-(double)tok->scores[merged], pos, a, b, merged};
    return ac__heap_push(&c->heap, cand);
}

static void add_symbol(llama_ctx *c, int32_t *m, int32_t id) {
    c->id[*m] = id;
    c->prev[*m] = *m - 1;
    c->next[*m] = *m + 1;
    (*m)++;
}

int ac__llama2c_encode(const ac_tokenizer *tok, const char *text, size_t len, ac__ids *out) {
    if (len == 0) return AC_OK; /* llama2.c adds the dummy prefix only to non-empty text */
    size_t cap, bytes;
    if (ac_add_size(len, 1, &cap) || cap > INT32_MAX || ac_mul_size(cap, sizeof(int32_t), &bytes))
        return AC_ERR_NOMEM;
    llama_ctx c;
    memset(&c, 0, sizeof c);
    c.tok = tok;
    c.id = ac_malloc(bytes);
    c.prev = ac_malloc(bytes);
    c.next = ac_malloc(bytes);
    int rc = (c.id && c.prev && c.next) ? AC_OK : AC_ERR_NOMEM;
    int32_t m = 0;
    if (!rc) {
        /* the dummy prefix: the token " " (byte fallback if the vocabulary lacks it) */
        int32_t space = ac__strmap_get(&tok->vocab, " ", 1);
        add_symbol(&c, &m, space >= 0 ? space : ' ' + LLAMA2C_BYTE0);
        /* one symbol per UTF-8 character: a byte and up to three continuation bytes
         * after it, as llama2.c groups them; unknown ones fall back to bytes */
        const unsigned char *t = (const unsigned char *)text;
        for (size_t i = 0; i < len;) {
            size_t j = i + 1;
            while (j < len && (t[j] & 0xC0) == 0x80 && j - i < 4) j++;
            int32_t id = ac__strmap_get(&tok->vocab, text + i, j - i);
            if (id >= 0) {
                add_symbol(&c, &m, id);
            } else {
                for (size_t k = i; k < j; k++) add_symbol(&c, &m, t[k] + LLAMA2C_BYTE0);
            }
            i = j;
        }
        c.next[m - 1] = -1;
    }
    for (int32_t i = 0; i + 1 < m && !rc; i++) rc = push_pair(&c, i);
    ac__merge_cand cand;
    while (!rc && ac__heap_pop(&c.heap, &cand)) {
        int32_t pos = cand.pos;
        if (c.id[pos] != cand.left) continue;
        int32_t nx = c.next[pos];
        if (nx < 0 || c.id[nx] != cand.right) continue;
        c.id[pos] = cand.merged;
        c.id[nx] = -1;
        c.next[pos] = c.next[nx];
        if (c.next[nx] >= 0) c.prev[c.next[nx]] = pos;
        if (c.prev[pos] >= 0) rc = push_pair(&c, c.prev[pos]);
        if (!rc && c.next[pos] >= 0) rc = push_pair(&c, pos);
    }
    for (int32_t i = 0; !rc && m > 0 && i >= 0; i = c.next[i]) rc = ac__ids_push(out, c.id[i]);
    ac_free(c.id);
    ac_free(c.prev);
    ac_free(c.next);
    ac__heap_free(&c.heap);
    ac__buf_free(&c.cat);
    return rc;
}
