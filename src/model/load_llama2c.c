/* llama2.c checkpoints: legacy version 0 (7-int header, detected by its exact size) and
 * version 1 (256-byte header with the "ak42" magic, fp32). */
#include "model/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LLAMA2C_MAGIC 0x616b3432u
#define V0_HEADER_BYTES 28u
#define V1_HEADER_BYTES 256u

static int32_t read_i32_le(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

typedef struct llama2c_header {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int version;        /* 0 or 1 */
    int shared;         /* classifier tied to the embedding */
    size_t header_bytes;
} llama2c_header;

static void parse_params(const unsigned char *p, llama2c_header *h) {
    h->dim = read_i32_le(p);
    h->hidden_dim = read_i32_le(p + 4);
    h->n_layers = read_i32_le(p + 8);
    h->n_heads = read_i32_le(p + 12);
    h->n_kv_heads = read_i32_le(p + 16);
    h->vocab_size = read_i32_le(p + 20);
    h->seq_len = read_i32_le(p + 24);
}

/* Sizes positive (vocab in absolute value), heads dividing the width. */
static int params_plausible(const llama2c_header *h) {
    return h->dim > 0 && h->hidden_dim > 0 && h->n_layers > 0 && h->n_heads > 0 && h->n_kv_heads > 0 &&
           h->n_kv_heads <= h->n_heads && h->vocab_size != 0 && h->vocab_size != INT32_MIN && h->seq_len > 0 &&
           h->dim % h->n_heads == 0 && (h->dim / h->n_heads) % 2 == 0;
}

/* Number of floats of the weights, with and without the classifier. 0 on overflow. */
static int weight_floats(const llama2c_header *h, size_t *without_cls, size_t *with_cls) {
    const size_t d = (size_t)h->dim, hid = (size_t)h->hidden_dim, L = (size_t)h->n_layers;
    const size_t V = (size_t)(h->vocab_size < 0 ? -(int64_t)h->vocab_size : h->vocab_size);
    const size_t head = d / (size_t)h->n_heads, kvd = head * (size_t)h->n_kv_heads;
    size_t total = 0, t;
#define ADD3(a, b, c)                                                                     \
    do {                                                                                  \
        if (ac_mul_size((a), (b), &t) || ac_mul_size(t, (c), &t) || ac_add_size(total, t, &total)) \
            return -1;                                                                    \
    } while (0)
    ADD3(V, d, 1);          /* token embedding */
    ADD3(L, d, 1);          /* rms_att */
    ADD3(L, d, d);          /* wq */
    ADD3(L, kvd, d);        /* wk */
    ADD3(L, kvd, d);        /* wv */
    ADD3(L, d, d);          /* wo */
    ADD3(L, d, 1);          /* rms_ffn */
    ADD3(L, hid, d);        /* w1 */
    ADD3(L, d, hid);        /* w2 */
    ADD3(L, hid, d);        /* w3 */
    ADD3(d, 1, 1);          /* rms_final */
    if (h->version == 0) ADD3((size_t)h->seq_len, head, 1); /* freq_cis real + imag: 2 * seq * head/2 */
    *without_cls = total;
    ADD3(V, d, 1);
    *with_cls = total;
#undef ADD3
    return 0;
}

/* Expected file sizes in bytes; -1 on overflow. */
static int expected_sizes(const llama2c_header *h, size_t *tied, size_t *untied) {
    size_t a, b;
    if (weight_floats(h, &a, &b) || ac_mul_size(a, 4, &a) || ac_mul_size(b, 4, &b) ||
        ac_add_size(a, h->header_bytes, tied) || ac_add_size(b, h->header_bytes, untied))
        return -1;
    return 0;
}

ac__probe_kind ac__probe_checkpoint(const unsigned char *head, size_t head_len, uint64_t file_size) {
    if (head_len >= 4 && (uint32_t)read_i32_le(head) == LLAMA2C_MAGIC) return AC__PROBE_LLAMA2C_MAGIC;
    if (head_len >= V0_HEADER_BYTES) {
        llama2c_header h = {0};
        parse_params(head, &h);
        h.header_bytes = V0_HEADER_BYTES;
        size_t tied, untied;
        if (params_plausible(&h) && expected_sizes(&h, &tied, &untied) == 0 &&
            file_size == (uint64_t)(h.vocab_size > 0 ? tied : untied))
            return AC__PROBE_LLAMA2C_V0;
    }
    if (head_len >= 9 && file_size >= 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | head[i];
        if (n >= 2 && n <= file_size - 8 && head[8] == '{') return AC__PROBE_SAFETENSORS;
    }
    return AC__PROBE_UNKNOWN;
}

int ac__llama2c_size_mismatch(const unsigned char *head, size_t head_len, uint64_t file_size, char *buf,
                              size_t n) {
    if (head_len < V0_HEADER_BYTES) return 0;
    llama2c_header h = {0};
    parse_params(head, &h);
    h.header_bytes = V0_HEADER_BYTES;
    size_t tied, untied;
    if (!params_plausible(&h) || h.dim > (1 << 24) || h.n_layers > 4096 || expected_sizes(&h, &tied, &untied))
        return 0;
    snprintf(buf, n,
             "looks like a llama2.c checkpoint (dim %d, %d layers, vocab %d) but the header implies %zu bytes "
             "and the file has %llu (truncated or not a llama2.c file)",
             h.dim, h.n_layers, h.vocab_size, h.vocab_size > 0 ? tied : untied, (unsigned long long)file_size);
    return 1;
}

/* ---- loading ------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *map;
    size_t size, pos;
    const char *path;
} reader;

/* Copy `count` little-endian floats into dst, advancing; non-finite values are errors. */
static int take(reader *r, float *dst, size_t count, const char *what, int layer, ac_error *err) {
    if (count > (r->size - r->pos) / 4)
        return ac_error_set_offset(err, AC_ERR_INTERNAL, r->path, (long)r->pos, "read past the end");
    const unsigned char *p = r->map + r->pos;
    for (size_t k = 0; k < count; k++, p += 4) {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if ((u & 0x7f800000u) == 0x7f800000u) {
            long off = (long)(r->pos + 4 * k);
            if (layer >= 0)
                return ac_error_set_offset(err, AC_ERR_FORMAT, r->path, off,
                                           "non-finite weight (NaN or Inf) in %s of layer %d at index %zu", what,
                                           layer, k);
            return ac_error_set_offset(err, AC_ERR_FORMAT, r->path, off,
                                       "non-finite weight (NaN or Inf) in %s at index %zu", what, k);
        }
        memcpy(&dst[k], &u, sizeof u);
    }
    r->pos += 4 * count;
    return AC_OK;
}

#define TAKE_LAYERS(field, count, what)                                         \
    for (int l = 0; l < c->n_layer && !rc; l++) rc = take(r, m->w.layers[l].field, (count), (what), l, err)

static int read_v0(reader *r, ac_model *m, ac_error *err) {
    const ac_config *c = &m->cfg;
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size, hid = (size_t)c->d_mlp;
    const size_t kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    int rc = take(r, m->w.wte, V * d, "token_embedding", -1, err);
    TAKE_LAYERS(ln1_w, d, "rms_att");
    TAKE_LAYERS(wq, d * d, "wq");
    TAKE_LAYERS(wk, kvd * d, "wk");
    TAKE_LAYERS(wv, kvd * d, "wv");
    TAKE_LAYERS(wo, d * d, "wo");
    TAKE_LAYERS(ln2_w, d, "rms_ffn");
    TAKE_LAYERS(w_fc, hid * d, "w1");
    TAKE_LAYERS(w_proj, d * hid, "w2");
    TAKE_LAYERS(w_up, hid * d, "w3");
    if (!rc) rc = take(r, m->w.lnf_w, d, "rms_final", -1, err);
    if (!rc) r->pos += 4 * (size_t)c->n_ctx * (size_t)c->d_head; /* unused RoPE tables */
    if (!rc && !c->tied_embeddings) rc = take(r, m->w.w_unembed, V * d, "classifier", -1, err);
    return rc;
}

static int read_v1(reader *r, ac_model *m, ac_error *err) {
    const ac_config *c = &m->cfg;
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size, hid = (size_t)c->d_mlp;
    const size_t kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    int rc = AC_OK;
    TAKE_LAYERS(ln1_w, d, "rms_att");
    TAKE_LAYERS(ln2_w, d, "rms_ffn");
    if (!rc) rc = take(r, m->w.lnf_w, d, "rms_final", -1, err);
    if (!rc) rc = take(r, m->w.wte, V * d, "token_embedding", -1, err);
    TAKE_LAYERS(wq, d * d, "wq");
    TAKE_LAYERS(wk, kvd * d, "wk");
    TAKE_LAYERS(wv, kvd * d, "wv");
    TAKE_LAYERS(wo, d * d, "wo");
    TAKE_LAYERS(w_fc, hid * d, "w1");
    TAKE_LAYERS(w_proj, d * hid, "w2");
    TAKE_LAYERS(w_up, hid * d, "w3");
    if (!rc && !c->tied_embeddings) rc = take(r, m->w.w_unembed, V * d, "classifier", -1, err);
    return rc;
}

#undef TAKE_LAYERS

static int parse_header(const reader *r, llama2c_header *h, ac_error *err) {
    memset(h, 0, sizeof *h);
    if (r->size >= 4 && (uint32_t)read_i32_le(r->map) == LLAMA2C_MAGIC) {
        if (r->size < V1_HEADER_BYTES)
            return ac_error_set_offset(err, AC_ERR_FORMAT, r->path, 0,
                                       "llama2.c checkpoint shorter than its 256-byte header (truncated)");
        int32_t version = read_i32_le(r->map + 4);
        if (version != 1)
            return ac_error_set_offset(err, AC_ERR_UNSUPPORTED, r->path, 4,
                                       "unsupported llama2.c export version %d (only version 0 and fp32 "
                                       "version 1 are supported)",
                                       (int)version);
        parse_params(r->map + 8, h);
        h->version = 1;
        h->shared = r->map[36] != 0;
        h->header_bytes = V1_HEADER_BYTES;
        if (h->vocab_size < 0)
            return ac_error_set_offset(err, AC_ERR_FORMAT, r->path, 28, "negative vocab_size %d in a version 1 header",
                                       (int)h->vocab_size);
    } else {
        if (r->size < V0_HEADER_BYTES)
            return ac_error_set_offset(err, AC_ERR_FORMAT, r->path, 0, "file too short for a llama2.c header");
        parse_params(r->map, h);
        h->version = 0;
        h->shared = h->vocab_size > 0;
        h->header_bytes = V0_HEADER_BYTES;
    }
    if (!params_plausible(h))
        return ac_error_set_offset(err, AC_ERR_FORMAT, r->path, h->version ? 8 : 0,
                                   "llama2.c header has invalid sizes (dim %d, hidden %d, layers %d, heads %d, "
                                   "kv heads %d, vocab %d, seq_len %d)",
                                   (int)h->dim, (int)h->hidden_dim, (int)h->n_layers, (int)h->n_heads,
                                   (int)h->n_kv_heads, (int)h->vocab_size, (int)h->seq_len);
    size_t tied, untied;
    if (expected_sizes(h, &tied, &untied))
        return ac_error_set_offset(err, AC_ERR_FORMAT, r->path, 0, "llama2.c header sizes overflow");
    size_t want = h->shared ? tied : untied;
    if (r->size != want)
        return ac_error_set(err, AC_ERR_FORMAT, r->path,
                            "llama2.c version %d header implies %zu bytes but the file has %zu (truncated?)",
                            h->version, want, r->size);
    return AC_OK;
}

int ac__load_llama2c(ac_model **out, const char *path, ac_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ac_error_set(err, AC_ERR_IO, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (unsigned long long)st.st_size > (unsigned long long)SIZE_MAX) {
        close(fd);
        return ac_error_set(err, AC_ERR_IO, path, "not a readable non-empty regular file");
    }
    reader r = {NULL, (size_t)st.st_size, 0, path};
    void *map = mmap(NULL, r.size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ac_error_set(err, AC_ERR_IO, path, "cannot map: %s", strerror(errno));
    r.map = map;

    llama2c_header h;
    ac_model *m = NULL;
    int rc = parse_header(&r, &h, err);
    if (!rc) {
        ac_config cfg;
        ac_config_defaults(&cfg, AC_ARCH_LLAMA);
        cfg.d_model = h.dim;
        cfg.d_mlp = h.hidden_dim;
        cfg.n_layer = h.n_layers;
        cfg.n_head = h.n_heads;
        cfg.n_kv_head = h.n_kv_heads;
        cfg.d_head = h.dim / h.n_heads;
        cfg.vocab_size = h.vocab_size < 0 ? -h.vocab_size : h.vocab_size;
        cfg.n_ctx = h.seq_len;
        cfg.norm_eps = 1e-5f;
        cfg.pos = AC_POS_ROPE_INTERLEAVED;
        cfg.rope_theta = 10000.0f;
        cfg.tied_embeddings = h.shared;
        cfg.bos_id = 1;
        cfg.eos_id = 2;
        rc = ac_config_validate(&cfg, path, err);
        if (!rc) rc = ac_model_create(&m, &cfg, err);
    }
    if (!rc) {
        r.pos = h.header_bytes;
        rc = h.version == 0 ? read_v0(&r, m, err) : read_v1(&r, m, err);
    }
    munmap(map, r.size);
    if (rc) {
        ac_model_free(m);
        return rc;
    }
    *out = m;
    return AC_OK;
}
