/* GPT-2 initialisation, AdamW, gradient clipping and the learning-rate schedule. */
#include <math.h>
#include <string.h>

#include "train/train_internal.h"

float ac__train_rng_normal(uint64_t *s) {
    double acc = 0;
    for (int i = 0; i < 12; i++) acc += ((double)(ac__train_rng_next(s) >> 40) + 0.5) / 16777216.0;
    return (float)(acc - 6.0);
}

static void fill_normal(float *p, size_t n, uint64_t *s, float std) {
    if (!p) return;
    for (size_t i = 0; i < n; i++) p[i] = std * ac__train_rng_normal(s);
}

static void fill_const(float *p, size_t n, float v) {
    if (!p) return;
    for (size_t i = 0; i < n; i++) p[i] = v;
}

void ac__train_init_gpt2(ac_model *m, uint64_t seed) {
    const ac_config *c = &m->cfg;
    uint64_t s = seed;
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size;
    const size_t qd = (size_t)c->n_head * (size_t)c->d_head, kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    const size_t hid = c->attn_only ? 0 : (size_t)c->d_mlp;
    const float std = 0.02f, std_res = (float)(0.02 / sqrt(2.0 * c->n_layer));
    memset(m->arena, 0, m->arena_floats * sizeof(float)); /* biases */
    fill_normal(m->w.wte, V * d, &s, std);
    fill_normal(m->w.wpe, (size_t)c->n_ctx * d, &s, std);
    for (int l = 0; l < c->n_layer; l++) {
        ac_layer_weights *L = &m->w.layers[l];
        fill_const(L->ln1_w, d, 1.0f);
        fill_normal(L->wq, qd * d, &s, std);
        fill_normal(L->wk, kvd * d, &s, std);
        fill_normal(L->wv, kvd * d, &s, std);
        fill_normal(L->wo, d * qd, &s, std_res);
        fill_const(L->ln2_w, d, 1.0f);
        fill_normal(L->w_fc, hid * d, &s, std);
        fill_normal(L->w_up, hid * d, &s, std);
        fill_normal(L->w_proj, d * hid, &s, std_res);
    }
    fill_const(m->w.lnf_w, d, 1.0f);
    if (!c->tied_embeddings) fill_normal(m->w.w_unembed, V * d, &s, std);
}

static void mark(const ac_model *m, uint8_t *mask, const float *p, size_t n) {
    if (p) memset(mask + (p - m->arena), 1, n);
}

void ac__train_decay_mask(const ac_model *m, uint8_t *mask) {
    const ac_config *c = &m->cfg;
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size;
    const size_t qd = (size_t)c->n_head * (size_t)c->d_head, kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    const size_t hid = c->attn_only ? 0 : (size_t)c->d_mlp;
    memset(mask, 0, m->arena_floats);
    mark(m, mask, m->w.wte, V * d);
    mark(m, mask, m->w.wpe, (size_t)c->n_ctx * d);
    for (int l = 0; l < c->n_layer; l++) {
        const ac_layer_weights *L = &m->w.layers[l];
        mark(m, mask, L->wq, qd * d);
        mark(m, mask, L->wk, kvd * d);
        mark(m, mask, L->wv, kvd * d);
        mark(m, mask, L->wo, d * qd);
        mark(m, mask, L->w_fc, hid * d);
        mark(m, mask, L->w_up, hid * d);
        mark(m, mask, L->w_proj, d * hid);
    }
    if (!c->tied_embeddings) mark(m, mask, m->w.w_unembed, V * d);
}

void ac__adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *decay, size_t n, int t,
                    double lr, double beta1, double beta2, double epsilon, double wd) {
    /* scalars in double, as Python computes them, then used in float as torch's float
     * kernels do */
    const double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float keep = (float)(1.0 - lr * wd), a1 = (float)(1.0 - beta1), a2 = (float)(1.0 - beta2);
    const float b2 = (float)beta2, eps = (float)epsilon;
#pragma omp parallel for schedule(static) if (n > 262144)
    for (size_t i = 0; i < n; i++) {
        float pi = p[i];
        if (wd != 0.0 && (!decay || decay[i])) pi *= keep;
        const float gi = g[i];
        const float mi = m[i] + a1 * (gi - m[i]);
        const float vi = v[i] * b2 + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi - step_size * (mi / denom);
    }
}

double ac__clip_grad_norm(float *g, size_t n, double max_norm) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    const double norm = sqrt(ss);
    if (max_norm > 0) {
        const double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            const float cf = (float)coef;
            for (size_t i = 0; i < n; i++) g[i] *= cf;
        }
    }
    return norm;
}

double ac__lr_at(int s, int steps, int warmup, double lr, double min_frac) {
    if (s < warmup) return lr * (double)(s + 1) / (double)warmup;
    const int span = steps - warmup - 1;
    const double progress = span > 0 ? (double)(s - warmup) / (double)span : 1.0;
    const double min_lr = lr * min_frac;
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(3.14159265358979323846 * progress));
}
