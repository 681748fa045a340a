/* GPT-2 byte-level BPE: the byte-to-unicode table, vocab.json + merges.txt, the
 * pre-tokenizer regex (PCRE2), special tokens, and encoding by merge rank. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data/tokenizer_internal.h"
#include "util/json_util.h"

const char ac__gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- byte <-> unicode ------------------------------------------------------------ */

/* Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other
 * 68 bytes map, in order, to U+0100 .. U+0143. */
uint32_t ac__byte_to_unicode(unsigned b) {
    b &= 0xFFu;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256 + b;         /* 0..32 -> U+0100..U+0120 */
    if (b <= 160) return b + 162;        /* 127..160 -> U+0121..U+0142 */
    return 323;                          /* 173 (soft hyphen) -> U+0143 */
}

int ac__unicode_to_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 173;
    return -1;
}

/* Next code point of well-formed UTF-8; returns its length, 0 if malformed. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    *cp = 0;
    size_t k = ac__utf8_valid_len(s, n);
    switch (k) {
    case 1: *cp = s[0]; break;
    case 2: *cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F); break;
    case 3: *cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F); break;
    case 4:
        *cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
              (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        break;
    default: break;
    }
    return k;
}

int ac__bytelevel_decode(const char *s, size_t n, ac__buf *out) {
    const unsigned char *u = (const unsigned char *)s;
    size_t start = out->len;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_next(u + i, n - i, &cp);
        int b = k ? ac__unicode_to_byte(cp) : -1;
        if (b < 0) { /* not a byte-level string: take it verbatim */
            out->len = start;
            return ac__buf_append(out, s, n);
        }
        unsigned char byte = (unsigned char)b;
        int rc = ac__buf_append(out, &byte, 1);
        if (rc) return rc;
        i += k;
    }
    return AC_OK;
}

/* ---- regex stages ---------------------------------------------------------------- */

static void *pcre_alloc(size_t n, void *data) {
    (void)data;
    return ac_malloc(n);
}

static void pcre_free(void *p, void *data) {
    (void)data;
    ac_free(p);
}

int ac__bpe_add_regex_stage(ac_tokenizer *tok, const char *pattern, size_t len, int literal,
                            const char *path, ac_error *err) {
    if (tok->n_stages >= AC__MAX_STAGES)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path, "more than %d pre-tokenizer steps",
                            AC__MAX_STAGES);
    if (!tok->gctx) {
        tok->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
        if (!tok->gctx) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    pcre2_compile_context *cctx = pcre2_compile_context_create(tok->gctx);
    if (!cctx) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, options, &errcode, &erroff, cctx);
    pcre2_compile_context_free(cctx);
    if (!re) {
        if (errcode == PCRE2_ERROR_HEAP_FAILED)
            return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory compiling a regex");
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0) msg[0] = 0;
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "pre-tokenizer regex /%.*s/: %s at offset %zu",
                            (int)(len > 200 ? 200 : len), pattern, (const char *)msg,
                            (size_t)erroff);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreter if JIT is unavailable */
    tok->stages[tok->n_stages].kind = AC__STAGE_SPLIT;
    tok->stages[tok->n_stages].re = re;
    tok->n_stages++;
    return AC_OK;
}

/* ---- special tokens -------------------------------------------------------------- */

int ac__bpe_add_special(ac_tokenizer *tok, const char *text, size_t len, int32_t id,
                        int lstrip, int rstrip) {
    if (len == 0) return AC_OK; /* an empty special can never be split out */
    for (size_t i = 0; i < tok->n_specials; i++) {
        ac__special *s = &tok->specials[i];
        if (s->len == len && !memcmp(s->text, text, len)) { /* redefinition: last wins */
            s->id = id;
            s->lstrip = lstrip;
            s->rstrip = rstrip;
            return AC_OK;
        }
    }
    size_t bytes;
    if (ac_mul_size(tok->n_specials + 1, sizeof *tok->specials, &bytes)) return AC_ERR_NOMEM;
    ac__special *p = ac_realloc(tok->specials, bytes);
    if (!p) return AC_ERR_NOMEM;
    tok->specials = p;
    char *copy = ac_malloc(len);
    if (!copy) return AC_ERR_NOMEM;
    memcpy(copy, text, len);
    p[tok->n_specials].text = copy;
    p[tok->n_specials].len = len;
    p[tok->n_specials].id = id;
    p[tok->n_specials].lstrip = lstrip;
    p[tok->n_specials].rstrip = rstrip;
    tok->n_specials++;
    return AC_OK;
}

static int special_longer_first(const void *a, const void *b) {
    const ac__special *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    size_t n = x->len;
    return memcmp(x->text, y->text, n);
}

void ac__bpe_finish_specials(ac_tokenizer *tok) {
    if (tok->n_specials > 1)
        qsort(tok->specials, tok->n_specials, sizeof *tok->specials, special_longer_first);
    memset(tok->special_first, 0, sizeof tok->special_first);
    for (size_t i = 0; i < tok->n_specials; i++)
        tok->special_first[(unsigned char)tok->specials[i].text[0]] = 1;
}

/* ---- vocabulary and merges ------------------------------------------------------- */

void ac__bpe_fill_byte_ids(ac_tokenizer *tok) {
    for (unsigned b = 0; b < 256; b++) {
        char s[4];
        size_t k = ac__utf8_put(ac__byte_to_unicode(b), s);
        tok->byte_id[b] = ac__strmap_get(&tok->vocab, s, k);
    }
}

int ac__bpe_add_merge(ac_tokenizer *tok, const char *left, size_t left_len, const char *right,
                      size_t right_len, int32_t rank, const char *path, long line, long column,
                      ac_error *err) {
    int32_t a = ac__strmap_get(&tok->vocab, left, left_len);
    int32_t b = ac__strmap_get(&tok->vocab, right, right_len);
    const char *missing = a < 0 ? left : b < 0 ? right : NULL;
    size_t missing_len = a < 0 ? left_len : right_len;
    long missing_col = a < 0 || column <= 0 ? column : column + (long)left_len + 1;
    int32_t merged = -1;
    if (!missing) {
        size_t total;
        if (ac_add_size(left_len, right_len, &total)) return AC_ERR_NOMEM;
        char small[256];
        char *cat = total <= sizeof small ? small : ac_malloc(total);
        if (!cat) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        memcpy(cat, left, left_len);
        memcpy(cat + left_len, right, right_len);
        merged = ac__strmap_get(&tok->vocab, cat, total);
        if (cat != small) ac_free(cat);
        if (merged < 0) {
            if (line > 0)
                return ac_error_set_at(err, AC_ERR_FORMAT, path, line, column,
                                       "merge '%.*s %.*s': the merged token '%.*s%.*s' is not "
                                       "in the vocabulary",
                                       (int)left_len, left, (int)right_len, right,
                                       (int)left_len, left, (int)right_len, right);
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "model.merges[%ld] '%.*s %.*s': the merged token '%.*s%.*s' "
                                "is not in the vocabulary",
                                (long)rank, (int)left_len, left, (int)right_len, right,
                                (int)left_len, left, (int)right_len, right);
        }
    }
    if (missing) {
        if (line > 0)
            return ac_error_set_at(err, AC_ERR_FORMAT, path, line, missing_col,
                                   "merge '%.*s %.*s': token '%.*s' is not in the vocabulary",
                                   (int)left_len, left, (int)right_len, right,
                                   (int)missing_len, missing);
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "model.merges[%ld] '%.*s %.*s': token '%.*s' is not in the "
                            "vocabulary",
                            (long)rank, (int)left_len, left, (int)right_len, right,
                            (int)missing_len, missing);
    }
    int32_t old_rank;
    if (ac__pairmap_put(&tok->merges, a, b, rank, merged, &old_rank))
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    if (old_rank >= 0) { /* a repeated merge takes its later rank (as GPT-2's dict does) */
        ac__pair_slot *s = (ac__pair_slot *)ac__pairmap_get(&tok->merges, a, b);
        s->rank = rank;
    }
    return AC_OK;
}

int ac__bpe_check_vocab(const json_t *vocab, const char *path, const char *what,
                        int32_t *max_id, ac_error *err) {
    if (!json_is_object(vocab))
        return ac_error_set(err, AC_ERR_FORMAT, path, "%s: expected a JSON object", what);
    const char *key;
    json_t *value;
    int32_t max = -1;
    json_object_foreach((json_t *)vocab, key, value) {
        if (!json_is_integer(value) || json_integer_value(value) < 0 ||
            json_integer_value(value) >= (1 << 24))
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "%s: token '%.100s' has id %s; expected an integer in 0..%d",
                                what, key, json_is_integer(value) ? "out of range" : "not an integer",
                                (1 << 24) - 1);
        int32_t id = (int32_t)json_integer_value(value);
        if (id > max) max = id;
    }
    if (max < 0) return ac_error_set(err, AC_ERR_FORMAT, path, "%s: empty vocabulary", what);
    *max_id = max;
    return AC_OK;
}

int ac__bpe_fill_vocab(ac_tokenizer *tok, const json_t *vocab, const char *path,
                       const char *what, ac_error *err) {
    const char *key;
    json_t *value;
    ac__buf text = {0};
    json_object_foreach((json_t *)vocab, key, value) {
        int32_t id = (int32_t)json_integer_value(value);
        size_t len = strlen(key);
        if (tok->present[id]) {
            const char *other = tok->raw.data + tok->raw_off[id];
            ac__buf_free(&text);
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "%s: id %ld is given to both '%.100s' and '%.100s'", what,
                                (long)id, other, key);
        }
        int32_t existing;
        text.len = 0;
        int rc = ac__strmap_put(&tok->vocab, key, len, id, &existing);
        if (!rc) rc = ac__bytelevel_decode(key, len, &text);
        if (!rc) rc = ac__tokenizer_set_token(tok, id, key, len, text.data, text.len);
        if (rc) {
            ac__buf_free(&text);
            return ac_error_set(err, rc, path, "%s: %s", what, ac_status_message(rc));
        }
    }
    ac__buf_free(&text);
    ac__bpe_fill_byte_ids(tok);
    return AC_OK;
}

int ac__json_load(const char *path, json_t **out, ac_error *err) {
    *out = NULL;
    char *data;
    size_t len;
    int rc = ac__read_file(path, &data, &len, err);
    if (rc) return rc;
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr);
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    ac_free(data);
    if (!root) {
        if (ac__json_oom(&jerr))
            return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory parsing JSON");
        if (jerr.line > 0)
            return ac_error_set_at(err, AC_ERR_FORMAT, path, jerr.line,
                                   jerr.column > 0 ? jerr.column : 1, "%s", jerr.text);
        return ac_error_set(err, AC_ERR_FORMAT, path, "%s", jerr.text);
    }
    *out = root;
    return AC_OK;
}

/* merges.txt / vocab.bpe: an optional "#version" first line, then "left right" lines in
 * rank order. */
static int parse_merges_txt(ac_tokenizer *tok, const char *path, ac_error *err) {
    char *data;
    size_t len;
    int rc = ac__read_file(path, &data, &len, err);
    if (rc) return rc;
    long line = 0;
    int32_t rank = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        line++;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        size_t n = (size_t)(line_end - p);
        if (n == 0 || (line == 1 && n >= 8 && !memcmp(p, "#version", 8))) {
            p = next;
            continue;
        }
        const char *space = memchr(p, ' ', n);
        if (!space || space == p || space + 1 == line_end ||
            memchr(space + 1, ' ', (size_t)(line_end - space - 1))) {
            long col = space ? (long)(space - p) + 1 : (long)n + 1;
            if (space && space != p && space + 1 != line_end)
                col = (long)((const char *)memchr(space + 1, ' ', (size_t)(line_end - space - 1)) -
                             p) + 1;
            ac_free(data);
            return ac_error_set_at(err, AC_ERR_FORMAT, path, line, col,
                                   "expected two tokens separated by one space");
        }
        if (rank == INT32_MAX) {
            ac_free(data);
            return ac_error_set_at(err, AC_ERR_FORMAT, path, line, 1, "too many merges");
        }
        rc = ac__bpe_add_merge(tok, p, (size_t)(space - p), space + 1,
                               (size_t)(line_end - space - 1), rank++, path, line, 1, err);
        if (rc) {
            ac_free(data);
            return rc;
        }
        p = next;
    }
    ac_free(data);
    return AC_OK;
}

int ac__gpt2_load_files(ac_tokenizer **out, const char *vocab_path, const char *merges_path,
                        ac_error *err) {
    *out = NULL;
    json_t *vocab;
    int rc = ac__json_load(vocab_path, &vocab, err);
    if (rc) return rc;
    int32_t max_id;
    rc = ac__bpe_check_vocab(vocab, vocab_path, "vocabulary", &max_id, err);
    ac_tokenizer *tok = NULL;
    if (!rc) rc = ac__tokenizer_alloc(&tok, AC_TOKENIZER_GPT2_BPE, max_id + 1, vocab_path, err);
    if (!rc) rc = ac__bpe_fill_vocab(tok, vocab, vocab_path, "vocabulary", err);
    json_decref(vocab);
    if (!rc) rc = parse_merges_txt(tok, merges_path, err);
    if (!rc)
        rc = ac__bpe_add_regex_stage(tok, ac__gpt2_pattern, sizeof ac__gpt2_pattern - 1, 0,
                                     vocab_path, err);
    if (!rc) {
        static const char eot[] = "<|endoftext|>";
        int32_t id = ac__strmap_get(&tok->vocab, eot, sizeof eot - 1);
        if (id >= 0) {
            if (ac__bpe_add_special(tok, eot, sizeof eot - 1, id, 0, 0))
                rc = ac_error_set(err, AC_ERR_NOMEM, vocab_path, "out of memory");
            tok->bos = tok->eos = id;
        }
        ac__bpe_finish_specials(tok);
    }
    if (rc) {
        ac_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return AC_OK;
}

/* ---- encoding -------------------------------------------------------------------- */

/* Texts at least this long keep a cache of the pieces they encoded (words repeat). */
#define CACHE_MIN_TEXT 4096
#define CACHE_MAX_IDS (1 << 22)

typedef struct encode_ctx {
    const ac_tokenizer *tok;
    ac__ids *out;
    pcre2_match_data *md;
    int32_t *sym_id, *sym_prev, *sym_next;
    size_t sym_cap;
    ac__merge_heap heap;
    ac__buf scratch;
    int use_cache;
    ac__strmap cache;   /* piece bytes -> offset in cache_ids of [count, ids...] */
    ac__ids cache_ids;
} encode_ctx;

static int ensure_symbols(encode_ctx *c, size_t n) {
    if (n <= c->sym_cap) return AC_OK;
    if (n > INT32_MAX) return AC_ERR_NOMEM;
    size_t cap = c->sym_cap ? c->sym_cap : 64;
    while (cap < n) cap *= 2;
    size_t bytes;
    if (ac_mul_size(cap, sizeof(int32_t), &bytes)) return AC_ERR_NOMEM;
    int32_t *a = ac_realloc(c->sym_id, bytes);
    if (!a) return AC_ERR_NOMEM;
    c->sym_id = a;
    a = ac_realloc(c->sym_prev, bytes);
    if (!a) return AC_ERR_NOMEM;
    c->sym_prev = a;
    a = ac_realloc(c->sym_next, bytes);
    if (!a) return AC_ERR_NOMEM;
    c->sym_next = a;
    c->sym_cap = cap;
    return AC_OK;
}

static int push_pair(encode_ctx *c, int32_t pos) {
    int32_t nx = c->sym_next[pos];
    const ac__pair_slot *s = ac__pairmap_get(&c->tok->merges, c->sym_id[pos], c->sym_id[nx]);
    if (!s) return AC_OK;
    ac__merge_cand cand = {(double)s->rank, pos, c->sym_id[pos], c->sym_id[nx], s->merged};
    return ac__heap_push(&c->heap, cand);
}

static int bpe_merge(encode_ctx *c, const unsigned char *p, size_t n);

/* Byte-level BPE of one pre-tokenized piece (any bytes), through the cache if on. */
static int bpe_piece(encode_ctx *c, const unsigned char *p, size_t n) {
    if (n == 0) return AC_OK;
    if (n == 1 || !c->use_cache) return bpe_merge(c, p, n);
    int32_t at = ac__strmap_get(&c->cache, (const char *)p, n);
    if (at >= 0) {
        const int32_t *e = c->cache_ids.data + at;
        for (int32_t i = 1; i <= e[0]; i++) {
            int rc = ac__ids_push(c->out, e[i]);
            if (rc) return rc;
        }
        return AC_OK;
    }
    size_t before = c->out->len;
    int rc = bpe_merge(c, p, n);
    if (rc) return rc;
    size_t count = c->out->len - before, offset = c->cache_ids.len;
    if (offset + count + 1 > CACHE_MAX_IDS) return AC_OK; /* full: no more entries */
    rc = ac__ids_push(&c->cache_ids, (int32_t)count);
    for (size_t i = 0; i < count && !rc; i++)
        rc = ac__ids_push(&c->cache_ids, c->out->data[before + i]);
    if (!rc) rc = ac__strmap_put(&c->cache, (const char *)p, n, (int32_t)offset, NULL);
    return rc;
}

static int bpe_merge(encode_ctx *c, const unsigned char *p, size_t n) {
    const ac_tokenizer *tok = c->tok;
    if (tok->ignore_merges && n > 1) {
        c->scratch.len = 0;
        for (size_t i = 0; i < n; i++) {
            char u[4];
            int rc = ac__buf_append(&c->scratch, u, ac__utf8_put(ac__byte_to_unicode(p[i]), u));
            if (rc) return rc;
        }
        int32_t id = ac__strmap_get(&tok->vocab, c->scratch.data, c->scratch.len);
        if (id >= 0) return ac__ids_push(c->out, id);
    }
    int rc = ensure_symbols(c, n);
    if (rc) return rc;
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_id[p[i]];
        if (id < 0) id = tok->unk_id;
        if (id < 0) continue; /* no token for this byte and no unk: dropped */
        c->sym_id[m] = id;
        c->sym_prev[m] = m - 1;
        c->sym_next[m] = m + 1;
        m++;
    }
    if (m == 0) return AC_OK;
    c->sym_next[m - 1] = -1;
    if (m > 1) {
        c->heap.len = 0;
        for (int32_t i = 0; i + 1 < m; i++)
            if ((rc = push_pair(c, i))) return rc;
        ac__merge_cand cand;
        while (ac__heap_pop(&c->heap, &cand)) {
            int32_t pos = cand.pos;
            if (c->sym_id[pos] != cand.left) continue;
            int32_t nx = c->sym_next[pos];
            if (nx < 0 || c->sym_id[nx] != cand.right) continue;
            c->sym_id[pos] = cand.merged;
            c->sym_id[nx] = -1;
            c->sym_next[pos] = c->sym_next[nx];
            if (c->sym_next[nx] >= 0) c->sym_prev[c->sym_next[nx]] = pos;
            if (c->sym_prev[pos] >= 0 && (rc = push_pair(c, c->sym_prev[pos]))) return rc;
            if (c->sym_next[pos] >= 0 && (rc = push_pair(c, pos))) return rc;
        }
    }
    for (int32_t i = 0; i >= 0; i = c->sym_next[i])
        if ((rc = ac__ids_push(c->out, c->sym_id[i]))) return rc;
    return AC_OK;
}

static int run_stages(encode_ctx *c, int stage, const unsigned char *p, size_t n);

/* Split a well-formed UTF-8 run with a regex: matches and the gaps between them
 * become pieces ("Isolated"). */
static int split_valid_run(encode_ctx *c, int stage, const unsigned char *s, size_t n) {
    const pcre2_code *re = c->tok->stages[stage].re;
    size_t start = 0, from = 0;
    int rc;
    while (from < n) {
        int m = pcre2_match(re, s, n, from, PCRE2_NO_UTF_CHECK, c->md, NULL);
        if (m == PCRE2_ERROR_JIT_STACKLIMIT)
            m = pcre2_match(re, s, n, from, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, c->md, NULL);
        if (m == PCRE2_ERROR_NOMATCH) break;
        if (m == PCRE2_ERROR_NOMEMORY) return AC_ERR_NOMEM;
        size_t ms, me;
        if (m < 0) { /* a match/depth/heap limit: take one character and go on */
            ms = from;
            me = from + ac__utf8_valid_len(s + from, n - from);
        } else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
            ms = ov[0];
            me = ov[1];
            if (ms < from || me < ms || me > n) break; /* cannot happen; be safe */
        }
        if (me == ms) { /* empty match: not a piece; look again one character on */
            if (ms >= n) break;
            from = ms + ac__utf8_valid_len(s + ms, n - ms);
            continue;
        }
        if (ms > start && (rc = run_stages(c, stage + 1, s + start, ms - start))) return rc;
        if ((rc = run_stages(c, stage + 1, s + ms, me - ms))) return rc;
        start = from = me;
    }
    if (start < n && (rc = run_stages(c, stage + 1, s + start, n - start))) return rc;
    return AC_OK;
}

/* Apply pre-tokenizer stage `stage` (and the following ones) to a piece, then BPE. */
static int run_stages(encode_ctx *c, int stage, const unsigned char *p, size_t n) {
    if (n == 0) return AC_OK;
    if (stage >= c->tok->n_stages) return bpe_piece(c, p, n);
    if (c->tok->stages[stage].kind == AC__STAGE_PREFIX_SPACE) {
        if (p[0] == ' ') return run_stages(c, stage + 1, p, n);
        size_t total;
        if (ac_add_size(n, 1, &total)) return AC_ERR_NOMEM;
        unsigned char *q = ac_malloc(total);
        if (!q) return AC_ERR_NOMEM;
        q[0] = ' ';
        memcpy(q + 1, p, n);
        int rc = run_stages(c, stage + 1, q, total);
        ac_free(q);
        return rc;
    }
    /* Split: well-formed UTF-8 runs go through the regex; each byte that is not part
     * of a well-formed sequence is a piece of its own. */
    size_t i = 0;
    int rc;
    while (i < n) {
        size_t j = i;
        size_t k;
        while (j < n && (k = ac__utf8_valid_len(p + j, n - j)) > 0) j += k;
        if (j > i && (rc = split_valid_run(c, stage, p + i, j - i))) return rc;
        if (j < n && (rc = run_stages(c, stage + 1, p + j, 1))) return rc;
        i = j + 1;
    }
    return AC_OK;
}

static int is_ascii_space(unsigned char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Leftmost (then longest) special token at or after `from`; returns its index or -1. */
static long find_special(const ac_tokenizer *tok, const unsigned char *t, size_t len,
                         size_t from, size_t *at) {
    for (size_t i = from; i < len; i++) {
        if (!tok->special_first[t[i]]) continue;
        for (size_t k = 0; k < tok->n_specials; k++) {
            const ac__special *s = &tok->specials[k];
            if (s->len <= len - i && !memcmp(t + i, s->text, s->len)) {
                *at = i;
                return (long)k;
            }
        }
    }
    return -1;
}

int ac__bpe_encode(const ac_tokenizer *tok, const char *text, size_t len, ac__ids *out) {
    encode_ctx c;
    memset(&c, 0, sizeof c);
    c.tok = tok;
    c.out = out;
    c.use_cache = len >= CACHE_MIN_TEXT;
    if (tok->gctx) {
        c.md = pcre2_match_data_create(1, tok->gctx);
        if (!c.md) return AC_ERR_NOMEM;
    }
    const unsigned char *t = (const unsigned char *)text;
    size_t pos = 0;
    int rc = AC_OK;
    while (pos < len && !rc) {
        size_t at = len;
        long k = tok->n_specials ? find_special(tok, t, len, pos, &at) : -1;
        size_t seg_end = k >= 0 ? at : len;
        const ac__special *s = k >= 0 ? &tok->specials[k] : NULL;
        size_t cut = seg_end;
        if (s && s->lstrip)
            while (cut > pos && is_ascii_space(t[cut - 1])) cut--;
        rc = run_stages(&c, 0, t + pos, cut - pos);
        if (rc || !s) break;
        rc = ac__ids_push(out, s->id);
        pos = seg_end + s->len;
        if (s->rstrip)
            while (pos < len && is_ascii_space(t[pos])) pos++;
    }
    pcre2_match_data_free(c.md);
    ac_free(c.sym_id);
    ac_free(c.sym_prev);
    ac_free(c.sym_next);
    ac__heap_free(&c.heap);
    ac__buf_free(&c.scratch);
    ac__strmap_free(&c.cache);
    ac__ids_free(&c.cache_ids);
    return rc;
}
