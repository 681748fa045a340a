/* Model configuration, the weight arena and deterministic random initialisation. */
#include "model/model_internal.h"

#include <limits.h>
#include <math.h>
#include <string.h>

void ac_config_defaults(ac_config *cfg, ac_arch arch) {
    memset(cfg, 0, sizeof *cfg);
    cfg->arch = arch;
    cfg->bos_id = -1;
    cfg->eos_id = -1;
    cfg->final_norm = 1;
    cfg->rope_theta = 10000.0f;
    if (arch == AC_ARCH_GPT2) {
        cfg->norm = AC_NORM_LAYERNORM;
        cfg->norm_eps = 1e-5f;
        cfg->pos = AC_POS_LEARNED;
        cfg->act = AC_ACT_GELU_NEW;
        cfg->gated_mlp = 0;
        cfg->tied_embeddings = 1;
        cfg->attn_bias = cfg->out_bias = cfg->mlp_bias = 1;
    } else {
        cfg->norm = AC_NORM_RMSNORM;
        cfg->norm_eps = 1e-5f;
        cfg->pos = AC_POS_ROPE_HALF;
        cfg->act = AC_ACT_SILU;
        cfg->gated_mlp = 1;
        cfg->tied_embeddings = 0;
    }
}

/* Walk the arena layout once: with base == NULL only count, else assign pointers. */
static size_t layout(const ac_config *c, float *base, ac_weights *w, ac_layer_weights *lw) {
    size_t off = 0;
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size;
    const size_t qd = (size_t)c->n_head * (size_t)c->d_head;
    const size_t kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    const size_t hid = (size_t)c->d_mlp;
    const int ln_bias = c->norm == AC_NORM_LAYERNORM;
    const int has_norm = c->norm != AC_NORM_NONE;
#define TAKE(ptr, n)                              \
    do {                                          \
        if (base) (ptr) = base + off;           \
        off += (n);                               \
    } while (0)

    TAKE(w->wte, V * d);
    if (c->pos == AC_POS_LEARNED) TAKE(w->wpe, (size_t)c->n_ctx * d);
    for (int l = 0; l < c->n_layer; l++) {
        ac_layer_weights *L = base ? &lw[l] : NULL;
        if (has_norm) TAKE(L->ln1_w, d);
        if (has_norm && ln_bias) TAKE(L->ln1_b, d);
        TAKE(L->wq, qd * d);
        TAKE(L->wk, kvd * d);
        TAKE(L->wv, kvd * d);
        if (c->attn_bias) {
            TAKE(L->bq, qd);
            TAKE(L->bk, kvd);
            TAKE(L->bv, kvd);
        }
        TAKE(L->wo, d * qd);
        if (c->out_bias) TAKE(L->bo, d);
        if (!c->attn_only) {
            if (has_norm) TAKE(L->ln2_w, d);
            if (has_norm && ln_bias) TAKE(L->ln2_b, d);
            TAKE(L->w_fc, hid * d);
            if (c->mlp_bias) TAKE(L->b_fc, hid);
            if (c->gated_mlp) TAKE(L->w_up, hid * d);
            TAKE(L->w_proj, d * hid);
            if (c->mlp_bias) TAKE(L->b_proj, d);
        }
    }
    if (c->final_norm && has_norm) {
        TAKE(w->lnf_w, d);
        if (ln_bias) TAKE(w->lnf_b, d);
    }
    if (!c->tied_embeddings) TAKE(w->w_unembed, V * d);
    else if (base) w->w_unembed = w->wte;
#undef TAKE

    return off;
}

int ac_config_validate(const ac_config *c, const char *source, ac_error *err) {
#define CHECK(cond, ...) \
    do { if (!(cond)) return ac_error_set(err, AC_ERR_FORMAT, source, __VA_ARGS__); } while (0)
    const int cap = 1 << 24;
    CHECK(c->n_layer > 0 && c->n_layer <= 4096, "config: number of layers %d out of range (1..4096)", c->n_layer);
    CHECK(c->d_model > 0 && c->d_model <= cap, "config: model width %d out of range", c->d_model);
    CHECK(c->n_head > 0 && c->n_head <= 65536, "config: number of heads %d out of range", c->n_head);
    CHECK(c->n_kv_head > 0 && c->n_kv_head <= c->n_head, "config: number of key/value heads %d out of range (1..%d)", c->n_kv_head, c->n_head);
    CHECK(c->n_head % c->n_kv_head == 0, "config: %d heads are not a multiple of %d key/value heads", c->n_head, c->n_kv_head);
    CHECK(c->d_head > 0 && c->d_head <= cap, "config: head width %d out of range", c->d_head);
    CHECK(c->vocab_size > 0 && c->vocab_size <= (1 << 26), "config: vocabulary size %d out of range", c->vocab_size);
    CHECK(c->n_ctx > 0 && c->n_ctx <= (1 << 24), "config: context length %d out of range", c->n_ctx);
    CHECK(c->attn_only || (c->d_mlp > 0 && c->d_mlp <= cap), "config: MLP width %d out of range", c->d_mlp);
    CHECK(c->norm == AC_NORM_NONE || (c->norm_eps > 0 && isfinite(c->norm_eps)), "config: normalisation epsilon must be positive");
    CHECK(c->pos == AC_POS_LEARNED || c->pos == AC_POS_NONE || (c->d_head % 2 == 0), "config: rotary embeddings need an even head width, got %d", c->d_head);
    CHECK(c->pos == AC_POS_LEARNED || c->pos == AC_POS_NONE || (c->rope_theta > 0 && isfinite(c->rope_theta)), "config: rope_theta must be positive");
    CHECK(((int64_t)c->n_head + 2 * (int64_t)c->n_kv_head) * c->d_head <= INT_MAX,
          "config: %d heads (%d key/value) of width %d are too wide (fused Q/K/V width above 2^31)",
          c->n_head, c->n_kv_head, c->d_head);
    CHECK(ac_config_param_count(c) > 0, "config: sizes too large (parameter count overflows)");
#undef CHECK
    return AC_OK;
}

size_t ac_config_param_count(const ac_config *c) {
    /* guard every product with doubles first: sizes are bounded above */
    double d = c->d_model, V = c->vocab_size, L = c->n_layer;
    double qd = (double)c->n_head * c->d_head, kvd = (double)c->n_kv_head * c->d_head;
    double per = 2 * d + qd * d + 2 * kvd * d + 3 * qd + d * qd + d;
    if (!c->attn_only) per += 2 * d + 3.0 * c->d_mlp * d + c->d_mlp + d;
    double total = V * d * 2 + (double)c->n_ctx * d + L * per + 2 * d;
    if (total > (double)(SIZE_MAX / 8) || total > 1e12) return 0;
    return layout(c, NULL, NULL, NULL);
}

int ac_model_create(ac_model **out, const ac_config *cfg, ac_error *err) {
    *out = NULL;
    int rc = ac_config_validate(cfg, NULL, err);
    if (rc) return rc;
    ac_model *m = ac_calloc(1, sizeof *m);
    if (!m) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory allocating the model");
    m->cfg = *cfg;
    m->arena_floats = ac_config_param_count(cfg);
    m->w.layers = ac_calloc((size_t)cfg->n_layer, sizeof *m->w.layers);
    m->arena = ac_alloc_aligned(m->arena_floats, sizeof(float));
    if (!m->w.layers || !m->arena) {
        ac_model_free(m);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory allocating %zu weights",
                            ac_config_param_count(cfg));
    }
    memset(m->arena, 0, m->arena_floats * sizeof(float));
    layout(cfg, m->arena, &m->w, m->w.layers);
    *out = m;
    return AC_OK;
}

void ac_model_free(ac_model *m) {
    if (!m) return;
    ac_free_aligned(m->arena);
    ac_free(m->w.layers);
    ac_free(m);
}

const ac_config *ac_model_config(const ac_model *m) { return &m->cfg; }
const char *ac_model_path(const ac_model *m) { return m->path; }

/* ---- deterministic random initialisation ----------------------------------------- */

/* splitmix64: the seed stream; documented in docs/rng.md (same on every machine). */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1) from the top 24 bits: exact in float, never 0. */
static double rng_uniform(uint64_t *s) {
    return ((double)(splitmix64(s) >> 40) + 0.5) / 16777216.0;
}

/* Approximate normal (Irwin–Hall sum of 12 uniforms − 6): portable bit for bit, since
 * it avoids libm functions whose last bit varies between C libraries. */
static float rng_normal(uint64_t *s) {
    double acc = 0;
    for (int i = 0; i < 12; i++) acc += rng_uniform(s);
    return (float)(acc - 6.0);
}

static void fill(float *p, size_t n, uint64_t *s, float mean, float std) {
    if (!p) return;
    for (size_t i = 0; i < n; i++) p[i] = mean + std * rng_normal(s);
}

void ac_model_init_random(ac_model *m, uint64_t seed, float scale) {
    const ac_config *c = &m->cfg;
    uint64_t s = seed;
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size;
    const size_t qd = (size_t)c->n_head * (size_t)c->d_head;
    const size_t kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    const size_t hid = (size_t)c->d_mlp;
    fill(m->w.wte, V * d, &s, 0, scale);
    fill(m->w.wpe, (size_t)c->n_ctx * d, &s, 0, scale);
    for (int l = 0; l < c->n_layer; l++) {
        ac_layer_weights *L = &m->w.layers[l];
        fill(L->ln1_w, d, &s, 1, 0.1f);
        fill(L->ln1_b, d, &s, 0, 0.1f);
        fill(L->wq, qd * d, &s, 0, scale);
        fill(L->wk, kvd * d, &s, 0, scale);
        fill(L->wv, kvd * d, &s, 0, scale);
        fill(L->bq, qd, &s, 0, scale);
        fill(L->bk, kvd, &s, 0, scale);
        fill(L->bv, kvd, &s, 0, scale);
        fill(L->wo, d * qd, &s, 0, scale);
        fill(L->bo, d, &s, 0, scale);
        fill(L->ln2_w, d, &s, 1, 0.1f);
        fill(L->ln2_b, d, &s, 0, 0.1f);
        fill(L->w_fc, hid * d, &s, 0, scale);
        fill(L->b_fc, hid, &s, 0, scale);
        fill(L->w_up, hid * d, &s, 0, scale);
        fill(L->w_proj, d * hid, &s, 0, scale);
        fill(L->b_proj, d, &s, 0, scale);
    }
    fill(m->w.lnf_w, d, &s, 1, 0.1f);
    fill(m->w.lnf_b, d, &s, 0, 0.1f);
    if (!c->tied_embeddings) fill(m->w.w_unembed, V * d, &s, 0, scale);
}
