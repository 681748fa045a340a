/* Tokenizer helpers: growable buffers, hash maps, merge heap, file reading, UTF-8. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data/tokenizer_internal.h"

/* ---- growable buffers ------------------------------------------------------------ */

static int grow_capacity(size_t need, size_t cap, size_t elem, size_t *new_cap) {
    size_t c = cap ? cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2) return -1;
        c *= 2;
    }
    size_t bytes;
    if (ac_mul_size(c, elem, &bytes)) return -1;
    *new_cap = c;
    return 0;
}

int ac__buf_append(ac__buf *b, const void *data, size_t n) {
    size_t need;
    if (ac_add_size(b->len, n, &need)) return AC_ERR_NOMEM;
    if (need > b->cap || !b->data) {
        size_t cap;
        if (grow_capacity(need, b->cap, 1, &cap)) return AC_ERR_NOMEM;
        char *p = ac_realloc(b->data, cap);
        if (!p) return AC_ERR_NOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, data, n);
    b->len = need;
    return AC_OK;
}

void ac__buf_free(ac__buf *b) {
    ac_free(b->data);
    memset(b, 0, sizeof *b);
}

int ac__ids_push(ac__ids *v, int32_t id) {
    if (v->len == v->cap) {
        size_t cap;
        if (grow_capacity(v->len + 1, v->cap, sizeof *v->data, &cap)) return AC_ERR_NOMEM;
        int32_t *p = ac_realloc(v->data, cap * sizeof *v->data);
        if (!p) return AC_ERR_NOMEM;
        v->data = p;
        v->cap = cap;
    }
    v->data[v->len++] = id;
    return AC_OK;
}

void ac__ids_free(ac__ids *v) {
    ac_free(v->data);
    memset(v, 0, sizeof *v);
}

/* ---- byte string -> int32 map ---------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static int strmap_grow(ac__strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    if (cap < m->cap) return AC_ERR_NOMEM;
    ac__strmap_slot *slots = ac_calloc(cap, sizeof *slots);
    if (!slots) return AC_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) slots[i].value = -1;
    for (size_t i = 0; i < m->cap; i++) {
        const ac__strmap_slot *s = &m->slots[i];
        if (s->value < 0) continue;
        size_t j = (size_t)hash_bytes(m->keys.data + s->off, s->len) & (cap - 1);
        while (slots[j].value >= 0) j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    ac_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return AC_OK;
}

int32_t ac__strmap_get(const ac__strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    size_t j = (size_t)hash_bytes(key, len) & (m->cap - 1);
    for (;;) {
        const ac__strmap_slot *s = &m->slots[j];
        if (s->value < 0) return -1;
        if (s->len == len && (len == 0 || !memcmp(m->keys.data + s->off, key, len)))
            return s->value;
        j = (j + 1) & (m->cap - 1);
    }
}

int ac__strmap_put(ac__strmap *m, const char *key, size_t len, int32_t value,
                   int32_t *existing) {
    if (existing) *existing = -1;
    if (len > UINT32_MAX) return AC_ERR_RANGE;
    int32_t old = ac__strmap_get(m, key, len);
    if (old >= 0) {
        if (existing) *existing = old;
        return AC_OK;
    }
    if ((m->count + 1) * 2 > m->cap) {
        int rc = strmap_grow(m);
        if (rc) return rc;
    }
    size_t off = m->keys.len;
    int rc = ac__buf_append(&m->keys, key, len);
    if (rc) return rc;
    size_t j = (size_t)hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[j].value >= 0) j = (j + 1) & (m->cap - 1);
    m->slots[j].off = off;
    m->slots[j].len = (uint32_t)len;
    m->slots[j].value = value;
    m->count++;
    return AC_OK;
}

void ac__strmap_free(ac__strmap *m) {
    ac_free(m->slots);
    ac__buf_free(&m->keys);
    memset(m, 0, sizeof *m);
}

/* ---- pair map -------------------------------------------------------------------- */

static uint64_t pair_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

static size_t pair_hash(uint64_t key, size_t cap) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 32)) & (cap - 1);
}

static int pairmap_grow(ac__pairmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    if (cap < m->cap) return AC_ERR_NOMEM;
    ac__pair_slot *slots = ac_calloc(cap, sizeof *slots);
    if (!slots) return AC_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) slots[i].key = UINT64_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == UINT64_MAX) continue;
        size_t j = pair_hash(m->slots[i].key, cap);
        while (slots[j].key != UINT64_MAX) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    ac_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return AC_OK;
}

const ac__pair_slot *ac__pairmap_get(const ac__pairmap *m, int32_t left, int32_t right) {
    if (!m->cap) return NULL;
    uint64_t key = pair_key(left, right);
    size_t j = pair_hash(key, m->cap);
    for (;;) {
        const ac__pair_slot *s = &m->slots[j];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        j = (j + 1) & (m->cap - 1);
    }
}

int ac__pairmap_put(ac__pairmap *m, int32_t left, int32_t right, int32_t rank,
                    int32_t merged, int32_t *existing_rank) {
    if (existing_rank) *existing_rank = -1;
    const ac__pair_slot *old = ac__pairmap_get(m, left, right);
    if (old) {
        if (existing_rank) *existing_rank = old->rank;
        return AC_OK;
    }
    if ((m->count + 1) * 2 > m->cap) {
        int rc = pairmap_grow(m);
        if (rc) return rc;
    }
    uint64_t key = pair_key(left, right);
    size_t j = pair_hash(key, m->cap);
    while (m->slots[j].key != UINT64_MAX) j = (j + 1) & (m->cap - 1);
    m->slots[j].key = key;
    m->slots[j].rank = rank;
    m->slots[j].merged = merged;
    m->count++;
    return AC_OK;
}

void ac__pairmap_free(ac__pairmap *m) {
    ac_free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- merge heap ------------------------------------------------------------------ */

static int cand_before(const ac__merge_cand *a, const ac__merge_cand *b) {
    if (a->key != b->key) return a->key < b->key;
    return a->pos < b->pos;
}

int ac__heap_push(ac__merge_heap *h, ac__merge_cand c) {
    if (h->len == h->cap) {
        size_t cap;
        if (grow_capacity(h->len + 1, h->cap, sizeof *h->data, &cap)) return AC_ERR_NOMEM;
        ac__merge_cand *p = ac_realloc(h->data, cap * sizeof *p);
        if (!p) return AC_ERR_NOMEM;
        h->data = p;
        h->cap = cap;
    }
    size_t i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_before(&c, &h->data[parent])) break;
        h->data[i] = h->data[parent];
        i = parent;
    }
    h->data[i] = c;
    return AC_OK;
}

int ac__heap_pop(ac__merge_heap *h, ac__merge_cand *c) {
    if (h->len == 0) return 0;
    *c = h->data[0];
    ac__merge_cand last = h->data[--h->len];
    size_t i = 0, n = h->len;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t best = l;
        if (l + 1 < n && cand_before(&h->data[l + 1], &h->data[l])) best = l + 1;
        if (!cand_before(&h->data[best], &last)) break;
        h->data[i] = h->data[best];
        i = best;
    }
    if (n) h->data[i] = last;
    return 1;
}

void ac__heap_free(ac__merge_heap *h) {
    ac_free(h->data);
    memset(h, 0, sizeof *h);
}

/* ---- files ----------------------------------------------------------------------- */

int ac__read_file(const char *path, char **data, size_t *len, ac_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ac_error_set(err, AC_ERR_IO, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ac_error_set(err, AC_ERR_IO, path, "not a regular file");
    }
    size_t size = (size_t)st.st_size, total;
    if (st.st_size < 0 || (off_t)size != st.st_size || ac_add_size(size, 1, &total)) {
        fclose(f);
        return ac_error_set(err, AC_ERR_IO, path, "file too large");
    }
    char *buf = ac_malloc(total);
    if (!buf) {
        fclose(f);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading %zu bytes", size);
    }
    size_t got = size ? fread(buf, 1, size, f) : 0;
    int failed = ferror(f);
    fclose(f);
    if (failed || got != size) {
        ac_free(buf);
        return ac_error_set(err, AC_ERR_IO, path, "read error (%zu of %zu bytes)", got, size);
    }
    buf[size] = 0;
    *data = buf;
    *len = size;
    return AC_OK;
}

/* ---- UTF-8 ----------------------------------------------------------------------- */

size_t ac__utf8_valid_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0; /* continuation byte or overlong 2-byte lead */
    if (c < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

size_t ac__utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}
