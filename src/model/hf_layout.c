/* Hugging Face tensor names and shapes of a model, and the arena <-> file copies. */
#include "model/hf_layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct layout_builder {
    ac__hf_entry *entries;
    size_t n, cap;
} layout_builder;

/* Append an entry; the name is printf-formatted. Returns the entry or NULL. */
static ac__hf_entry *add(layout_builder *b, int ndim, size_t d0, size_t d1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static ac__hf_entry *add(layout_builder *b, int ndim, size_t d0, size_t d1, const char *fmt, ...) {
    if (b->n == b->cap) return NULL; /* capacity computed up front */
    ac__hf_entry *e = &b->entries[b->n++];
    memset(e, 0, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->ndim = ndim;
    e->shape[0] = d0;
    e->shape[1] = ndim == 2 ? d1 : 0;
    return e;
}

static void part(ac__hf_entry *e, float *data, size_t rows) {
    e->part[e->n_parts].data = data;
    e->part[e->n_parts].rows = rows;
    e->n_parts++;
}

/* vector [n] */
static void vec(layout_builder *b, float *data, size_t n, const char *name) {
    ac__hf_entry *e = add(b, 1, n, 0, "%s", name);
    if (e) part(e, data, n);
}

/* nn.Linear weight: file [out, in] == arena */
static ac__hf_entry *linear(layout_builder *b, float *data, size_t out, size_t in, const char *name) {
    ac__hf_entry *e = add(b, 2, out, in, "%s", name);
    if (e) part(e, data, out);
    return e;
}

/* Conv1D weight: file [in, out], arena [out, in] */
static ac__hf_entry *conv1d(layout_builder *b, size_t in, size_t out, const char *name) {
    ac__hf_entry *e = add(b, 2, in, out, "%s", name);
    if (e) e->transpose = 1;
    return e;
}

#define W(field) (w ? w->field : NULL)
#define LW(field) (w ? w->layers[l].field : NULL)

static void gpt2_layout(layout_builder *b, const ac_config *c, const ac_weights *w) {
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size;
    const size_t qd = (size_t)c->n_head * (size_t)c->d_head;
    const size_t kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    const size_t hid = (size_t)c->d_mlp;
    const int norm = c->norm != AC_NORM_NONE;
    const int ln_bias = c->norm == AC_NORM_LAYERNORM;
    char nm[96];
    linear(b, W(wte), V, d, "wte.weight");
    if (c->pos == AC_POS_LEARNED) linear(b, W(wpe), (size_t)c->n_ctx, d, "wpe.weight");
    for (int l = 0; l < c->n_layer; l++) {
        if (norm) {
            snprintf(nm, sizeof nm, "h.%d.ln_1.weight", l);
            vec(b, LW(ln1_w), d, nm);
            if (ln_bias) {
                snprintf(nm, sizeof nm, "h.%d.ln_1.bias", l);
                vec(b, LW(ln1_b), d, nm);
            }
        }
        snprintf(nm, sizeof nm, "h.%d.attn.c_attn.weight", l);
        ac__hf_entry *e = conv1d(b, d, qd + 2 * kvd, nm);
        if (e) {
            part(e, LW(wq), qd);
            part(e, LW(wk), kvd);
            part(e, LW(wv), kvd);
        }
        if (c->attn_bias) {
            e = add(b, 1, qd + 2 * kvd, 0, "h.%d.attn.c_attn.bias", l);
            if (e) {
                part(e, LW(bq), qd);
                part(e, LW(bk), kvd);
                part(e, LW(bv), kvd);
            }
        }
        snprintf(nm, sizeof nm, "h.%d.attn.c_proj.weight", l);
        e = conv1d(b, qd, d, nm);
        if (e) part(e, LW(wo), d);
        if (c->out_bias) {
            snprintf(nm, sizeof nm, "h.%d.attn.c_proj.bias", l);
            vec(b, LW(bo), d, nm);
        }
        if (c->attn_only) continue;
        if (norm) {
            snprintf(nm, sizeof nm, "h.%d.ln_2.weight", l);
            vec(b, LW(ln2_w), d, nm);
            if (ln_bias) {
                snprintf(nm, sizeof nm, "h.%d.ln_2.bias", l);
                vec(b, LW(ln2_b), d, nm);
            }
        }
        snprintf(nm, sizeof nm, "h.%d.mlp.c_fc.weight", l);
        e = conv1d(b, d, hid, nm);
        if (e) part(e, LW(w_fc), hid);
        if (c->mlp_bias) {
            snprintf(nm, sizeof nm, "h.%d.mlp.c_fc.bias", l);
            vec(b, LW(b_fc), hid, nm);
        }
        snprintf(nm, sizeof nm, "h.%d.mlp.c_proj.weight", l);
        e = conv1d(b, hid, d, nm);
        if (e) part(e, LW(w_proj), d);
        if (c->mlp_bias) {
            snprintf(nm, sizeof nm, "h.%d.mlp.c_proj.bias", l);
            vec(b, LW(b_proj), d, nm);
        }
    }
    if (norm && c->final_norm) {
        vec(b, W(lnf_w), d, "ln_f.weight");
        if (ln_bias) vec(b, W(lnf_b), d, "ln_f.bias");
    }
    if (!c->tied_embeddings) linear(b, W(w_unembed), V, d, "lm_head.weight");
}

static void llama_layout(layout_builder *b, const ac_config *c, const ac_weights *w) {
    const size_t d = (size_t)c->d_model, V = (size_t)c->vocab_size;
    const size_t qd = (size_t)c->n_head * (size_t)c->d_head;
    const size_t kvd = (size_t)c->n_kv_head * (size_t)c->d_head;
    const size_t hid = (size_t)c->d_mlp;
    const int rope = c->pos == AC_POS_ROPE_HALF || c->pos == AC_POS_ROPE_INTERLEAVED;
    const int dh = rope ? c->d_head : 0;
    char nm[96];
    ac__hf_entry *e;
    linear(b, W(wte), V, d, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layer; l++) {
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l);
        vec(b, LW(ln1_w), d, nm);
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.q_proj.weight", l);
        if ((e = linear(b, LW(wq), qd, d, nm))) e->rope_head_dim = dh;
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.k_proj.weight", l);
        if ((e = linear(b, LW(wk), kvd, d, nm))) e->rope_head_dim = dh;
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.v_proj.weight", l);
        linear(b, LW(wv), kvd, d, nm);
        if (c->attn_bias) {
            if ((e = add(b, 1, qd, 0, "model.layers.%d.self_attn.q_proj.bias", l))) {
                part(e, LW(bq), qd);
                e->rope_head_dim = dh;
            }
            if ((e = add(b, 1, kvd, 0, "model.layers.%d.self_attn.k_proj.bias", l))) {
                part(e, LW(bk), kvd);
                e->rope_head_dim = dh;
            }
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.v_proj.bias", l);
            vec(b, LW(bv), kvd, nm);
        }
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.o_proj.weight", l);
        linear(b, LW(wo), d, qd, nm);
        if (c->out_bias) {
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.o_proj.bias", l);
            vec(b, LW(bo), d, nm);
        }
        if (c->attn_only) continue;
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l);
        vec(b, LW(ln2_w), d, nm);
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.gate_proj.weight", l);
        linear(b, LW(w_fc), hid, d, nm);
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.up_proj.weight", l);
        linear(b, LW(w_up), hid, d, nm);
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.down_proj.weight", l);
        linear(b, LW(w_proj), d, hid, nm);
    }
    vec(b, W(lnf_w), d, "model.norm.weight");
    if (!c->tied_embeddings) linear(b, W(w_unembed), V, d, "lm_head.weight");
}

#undef W
#undef LW

int ac__hf_layout(const ac_config *cfg, const ac_weights *w, ac__hf_entry **out, size_t *n,
                  ac_error *err) {
    *out = NULL;
    *n = 0;
    layout_builder b = {0};
    /* at most 18 tensors per layer plus 6 global ones */
    if (ac_mul_size((size_t)cfg->n_layer, 18, &b.cap) || ac_add_size(b.cap, 6, &b.cap))
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "too many layers");
    b.entries = ac_calloc(b.cap, sizeof *b.entries);
    if (!b.entries) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory building the tensor list");
    if (cfg->arch == AC_ARCH_GPT2) gpt2_layout(&b, cfg, w);
    else llama_layout(&b, cfg, w);
    *out = b.entries;
    *n = b.n;
    return AC_OK;
}

size_t ac__hf_entry_count(const ac__hf_entry *e) {
    return e->ndim == 2 ? e->shape[0] * e->shape[1] : e->shape[0];
}

int ac__hf_entry_load(const ac__hf_entry *e, const ac__st_file *f, const ac__st_tensor *t,
                      ac_error *err) {
    int rc = AC_OK;
    if (e->ndim == 1 || !e->transpose) {
        const size_t cols = e->ndim == 2 ? e->shape[1] : 1;
        size_t row = 0;
        for (int k = 0; k < e->n_parts && !rc; k++) {
            rc = ac__st_read(f, t, row * cols, e->part[k].rows * cols, e->part[k].data, 1, err);
            row += e->part[k].rows;
        }
        return rc;
    }
    /* file [in, out]: file row i scatters into column i of every part */
    const size_t in = e->shape[0], out = e->shape[1];
    for (size_t i = 0; i < in && !rc; i++) {
        size_t col = 0;
        for (int k = 0; k < e->n_parts && !rc; k++) {
            rc = ac__st_read(f, t, i * out + col, e->part[k].rows, e->part[k].data + i, in, err);
            col += e->part[k].rows;
        }
    }
    return rc;
}

/* Arena row feeding file row r of a Q/K projection when converting interleaved RoPE
 * (pairs 2i, 2i+1) to the half convention (pairs i, i + dh/2). */
static size_t rope_source_row(size_t r, size_t dh) {
    const size_t head = r / dh, within = r % dh, half = dh / 2;
    const size_t j = within / half, i = within % half;
    return head * dh + 2 * i + j;
}

void ac__hf_entry_gather(const ac__hf_entry *e, int interleaved_to_half, float *buf) {
    if (e->ndim == 1 || !e->transpose) {
        const size_t cols = e->ndim == 2 ? e->shape[1] : 1;
        const int permute = interleaved_to_half && e->rope_head_dim > 0;
        size_t row = 0;
        for (int k = 0; k < e->n_parts; k++) {
            const size_t rows = e->part[k].rows;
            for (size_t r = 0; r < rows; r++) {
                size_t src = permute ? rope_source_row(r, (size_t)e->rope_head_dim) : r;
                memcpy(buf + (row + r) * cols, e->part[k].data + src * cols, cols * sizeof *buf);
            }
            row += rows;
        }
        return;
    }
    const size_t in = e->shape[0], out = e->shape[1];
    size_t col = 0;
    for (int k = 0; k < e->n_parts; k++) {
        const float *src = e->part[k].data;
        for (size_t o = 0; o < e->part[k].rows; o++)
            for (size_t i = 0; i < in; i++) buf[i * out + col + o] = src[o * in + i];
        col += e->part[k].rows;
    }
}
