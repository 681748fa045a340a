/* Training forward and backward: gradients for every weight (see grad.h). */
#include "model/grad.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "model/ops.h"

typedef struct layer_acts {
    float *resid_pre; /* [BT, d] */
    float *ln1;       /* [BT, d] normalised attention input */
    float *qkv;       /* [BT, qkv_w] after biases and RoPE */
    float *probs;     /* [B, H, T, T] */
    float *z;         /* [BT, H*dh] */
    float *resid_mid; /* [BT, d] (MLP layers) */
    float *ln2;       /* [BT, d] normalised MLP input */
    float *hpre;      /* [BT, hid] pre-activation (gate) */
    float *up;        /* [BT, hid] gated MLPs */
    float *hact;      /* [BT, hid] activation */
} layer_acts;

struct ac__grad_ws {
    const ac_model *m;
    int max_B, max_T, max_terms, qkv_w;
    layer_acts *layers;
    int32_t *pos;   /* [max_BT] position ids 0..T-1 */
    float *x;       /* [BT, d] residual */
    float *rows;    /* [terms, d] residual rows the loss reads */
    float *lnf;     /* [terms, d] after the final norm */
    float *logits;  /* [terms, V] */
    float *dx;      /* [BT, d] residual gradient */
    float *dtmp;    /* [BT, d] */
    float *dhact;   /* [BT, hid] */
    float *dhpre;   /* [BT, hid] */
    float *dup;     /* [BT, hid] */
    float *dqkv;    /* [BT, qkv_w] */
    float *dz;      /* [BT, H*dh] */
    float *drows;   /* [terms, d] */
    float *dlnf;    /* [terms, d] */
    float *inv_freq;
    float *scratch; /* threads * T */
    float *arena;
    size_t arena_floats;
};

int ac__grad_ws_create(ac__grad_ws **out, const ac_model *m, int max_B, int max_T, int max_terms,
                       ac_error *err) {
    *out = NULL;
    const ac_config *c = &m->cfg;
    if (max_B <= 0 || max_T <= 0 || max_terms <= 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "train: batch %d x %d tokens, %d loss terms must be positive",
                            max_B, max_T, max_terms);
    if (max_T > c->n_ctx)
        return ac_error_set(err, AC_ERR_ARG, NULL, "train: %d tokens exceed the model's context of %d", max_T,
                            c->n_ctx);
    ac__grad_ws *ws = ac_calloc(1, sizeof *ws);
    if (!ws) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory (training workspace)");
    ws->m = m;
    ws->max_B = max_B;
    ws->max_T = max_T;
    ws->max_terms = max_terms;
    ws->qkv_w = (c->n_head + 2 * c->n_kv_head) * c->d_head;
    const size_t BT = (size_t)max_B * (size_t)max_T, d = (size_t)c->d_model;
    const size_t H = (size_t)c->n_head, dh = (size_t)c->d_head, L = (size_t)c->n_layer;
    const size_t hid = c->attn_only ? 0 : (size_t)c->d_mlp, qw = (size_t)ws->qkv_w;
    const size_t V = (size_t)c->vocab_size, NT = (size_t)max_terms;
    const int gated = c->gated_mlp && !c->attn_only;
#define RND(n) ((((size_t)(n)) + 15u) & ~(size_t)15u)
    const size_t per_layer = 2 * RND(BT * d) + RND(BT * qw) + RND((size_t)max_B * H * (size_t)max_T * (size_t)max_T) +
                             RND(BT * H * dh) + (hid ? 2 * RND(BT * d) + (gated ? 3 : 2) * RND(BT * hid) : 0);
    const size_t total = L * per_layer + 3 * RND(BT * d) + 4 * RND(NT * d) + RND(NT * V) + 3 * RND(BT * hid) +
                         RND(BT * qw) + RND(BT * H * dh) + RND(dh) +
                         RND((size_t)omp_get_max_threads() * (size_t)max_T);
    ws->arena_floats = total;
    ws->arena = ac_alloc_aligned(total, sizeof(float));
    ws->layers = ac_calloc(L, sizeof *ws->layers);
    ws->pos = ac_calloc(BT, sizeof *ws->pos);
    if (!ws->arena || !ws->layers || !ws->pos) {
        ac__grad_ws_free(ws);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory: the training workspace needs %zu MB",
                            total * sizeof(float) >> 20);
    }
    memset(ws->arena, 0, total * sizeof(float));
    float *p = ws->arena;
#define CARVE(ptr, n)            \
    do {                         \
        (ptr) = p;               \
        p += RND(n);             \
    } while (0)
    for (size_t l = 0; l < L; l++) {
        layer_acts *a = &ws->layers[l];
        CARVE(a->resid_pre, BT * d);
        CARVE(a->ln1, BT * d);
        CARVE(a->qkv, BT * qw);
        CARVE(a->probs, (size_t)max_B * H * (size_t)max_T * (size_t)max_T);
        CARVE(a->z, BT * H * dh);
        if (hid) {
            CARVE(a->resid_mid, BT * d);
            CARVE(a->ln2, BT * d);
            CARVE(a->hpre, BT * hid);
            CARVE(a->hact, BT * hid);
            if (gated) CARVE(a->up, BT * hid);
        }
    }
    CARVE(ws->x, BT * d);
    CARVE(ws->dx, BT * d);
    CARVE(ws->dtmp, BT * d);
    CARVE(ws->rows, NT * d);
    CARVE(ws->lnf, NT * d);
    CARVE(ws->drows, NT * d);
    CARVE(ws->dlnf, NT * d);
    CARVE(ws->logits, NT * V);
    CARVE(ws->dhact, BT * hid);
    CARVE(ws->dhpre, BT * hid);
    CARVE(ws->dup, BT * hid);
    CARVE(ws->dqkv, BT * qw);
    CARVE(ws->dz, BT * H * dh);
    CARVE(ws->inv_freq, dh);
    CARVE(ws->scratch, (size_t)omp_get_max_threads() * (size_t)max_T);
#undef CARVE
#undef RND
    ac__rope_inv_freq(ws->inv_freq, c);
    *out = ws;
    return AC_OK;
}

void ac__grad_ws_free(ac__grad_ws *ws) {
    if (!ws) return;
    ac_free_aligned(ws->arena);
    ac_free(ws->layers);
    ac_free(ws->pos);
    ac_free(ws);
}

static void add_rows(float *dst, const float *src, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

static int check_args(const ac__grad_ws *ws, const ac_model *m, const ac_model *grad, const int32_t *ids, int B,
                      int T, const ac__loss_terms *terms, ac_error *err) {
    const ac_config *c = &m->cfg;
    if (m != ws->m) return ac_error_set(err, AC_ERR_ARG, NULL, "train: the workspace was made for another model");
    if (B <= 0 || T <= 0 || B > ws->max_B || T > ws->max_T)
        return ac_error_set(err, AC_ERR_ARG, NULL, "train: batch %d x %d exceeds the workspace's %d x %d", B, T,
                            ws->max_B, ws->max_T);
    if (!terms || terms->n <= 0 || terms->n > ws->max_terms)
        return ac_error_set(err, AC_ERR_ARG, NULL, "train: %d loss terms (workspace: 1..%d)", terms ? terms->n : 0,
                            ws->max_terms);
    if (grad && (grad->arena_floats != m->arena_floats || grad->cfg.n_layer != c->n_layer ||
                 grad->cfg.tied_embeddings != c->tied_embeddings || grad->cfg.d_model != c->d_model))
        return ac_error_set(err, AC_ERR_ARG, NULL, "train: the gradient arena does not match the model");
    for (int i = 0; i < B * T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return ac_error_set(err, AC_ERR_RANGE, NULL,
                                "train: token id %d at batch %d position %d is outside the vocabulary (0..%d)", ids[i],
                                i / T, i % T, c->vocab_size - 1);
    if (terms->offsets[0] != 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "train: loss term offsets must start at 0");
    for (int k = 0; k < terms->n; k++) {
        if (terms->rows[k] < 0 || terms->rows[k] >= B * T)
            return ac_error_set(err, AC_ERR_ARG, NULL, "train: loss term %d reads row %d of %d", k, terms->rows[k],
                                B * T);
        if (terms->offsets[k + 1] <= terms->offsets[k])
            return ac_error_set(err, AC_ERR_ARG, NULL, "train: loss term %d has no target", k);
        for (int j = terms->offsets[k]; j < terms->offsets[k + 1]; j++)
            if (terms->targets[j] < 0 || terms->targets[j] >= c->vocab_size)
                return ac_error_set(err, AC_ERR_ARG, NULL, "train: loss term %d has target %d outside the vocabulary",
                                    k, terms->targets[j]);
    }
    return AC_OK;
}

int ac__grad_loss(ac__grad_ws *ws, const ac_model *m, ac_model *grad, const int32_t *ids, int B, int T,
                  const ac__loss_terms *terms, double *loss, float *logits, ac_error *err) {
    int rc = check_args(ws, m, grad, ids, B, T, terms, err);
    if (rc) return rc;
    const ac_config *c = &m->cfg;
    const ac_weights *w = &m->w;
    const size_t BT = (size_t)B * (size_t)T, d = (size_t)c->d_model, V = (size_t)c->vocab_size;
    const int H = c->n_head, Hkv = c->n_kv_head, dh = c->d_head, qw = ws->qkv_w;
    const size_t hid = c->attn_only ? 0 : (size_t)c->d_mlp;
    const int NT = terms->n;
    const int has_final_norm = c->final_norm && c->norm != AC_NORM_NONE;
    float *x = ws->x;

    /* ---- forward ---- */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) ws->pos[b * T + t] = t;
    for (size_t i = 0; i < BT; i++) {
        const float *e = w->wte + (size_t)ids[i] * d;
        float *xr = x + i * d;
        memcpy(xr, e, d * sizeof(float));
        if (w->wpe) add_rows(xr, w->wpe + (size_t)ws->pos[i] * d, d);
    }
    for (int l = 0; l < c->n_layer; l++) {
        const ac_layer_weights *lw = &w->layers[l];
        layer_acts *a = &ws->layers[l];
        memcpy(a->resid_pre, x, BT * d * sizeof(float));
        ac__norm_forward(a->ln1, x, lw->ln1_w, lw->ln1_b, (int)BT, (int)d, c->norm_eps, c->norm);
        /* wq | wk | wv (and bq | bk | bv) are contiguous in the arena: one [qkv_w, d] matrix */
        ac__matmul_forward(a->qkv, qw, a->ln1, (int)d, lw->wq, lw->bq, (int)BT, (int)d, qw);
        ac__rope_apply(a->qkv, qw, ws->pos, ws->inv_freq, (int)BT, H, dh, c->pos, 0);
        ac__rope_apply(a->qkv + H * dh, qw, ws->pos, ws->inv_freq, (int)BT, Hkv, dh, c->pos, 0);
        ac__attention_forward(a->z, a->probs, a->qkv, qw, NULL, B, T, H, Hkv, dh);
        ac__matmul_forward(ws->dtmp, (int)d, a->z, H * dh, lw->wo, lw->bo, (int)BT, H * dh, (int)d);
        add_rows(x, ws->dtmp, BT * d);
        if (!hid) continue;
        memcpy(a->resid_mid, x, BT * d * sizeof(float));
        ac__norm_forward(a->ln2, x, lw->ln2_w, lw->ln2_b, (int)BT, (int)d, c->norm_eps, c->norm);
        ac__matmul_forward(a->hpre, (int)hid, a->ln2, (int)d, lw->w_fc, lw->b_fc, (int)BT, (int)d, (int)hid);
        if (c->gated_mlp) {
            ac__matmul_forward(a->up, (int)hid, a->ln2, (int)d, lw->w_up, NULL, (int)BT, (int)d, (int)hid);
            ac__gated_forward(a->hact, a->hpre, a->up, BT * hid, c->act);
        } else {
            ac__act_forward(a->hact, a->hpre, BT * hid, c->act);
        }
        ac__matmul_forward(ws->dtmp, (int)d, a->hact, (int)hid, lw->w_proj, lw->b_proj, (int)BT, (int)hid, (int)d);
        add_rows(x, ws->dtmp, BT * d);
    }
    for (int k = 0; k < NT; k++) memcpy(ws->rows + (size_t)k * d, x + (size_t)terms->rows[k] * d, d * sizeof(float));
    if (has_final_norm)
        ac__norm_forward(ws->lnf, ws->rows, w->lnf_w, w->lnf_b, NT, (int)d, c->norm_eps, c->norm);
    else
        memcpy(ws->lnf, ws->rows, (size_t)NT * d * sizeof(float));
    ac__matmul_forward(ws->logits, (int)V, ws->lnf, (int)d, w->w_unembed, NULL, NT, (int)d, (int)V);
    if (logits) memcpy(logits, ws->logits, (size_t)NT * V * sizeof(float));

    /* ---- loss, and d loss / d logits in place of the logits ---- */
    double total = 0;
    for (int k = 0; k < NT; k++) {
        float *z = ws->logits + (size_t)k * V;
        float mx = z[0];
        for (size_t v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double s = 0;
        for (size_t v = 0; v < V; v++) s += exp((double)z[v] - mx);
        const double lse = mx + log(s);
        const int j0 = terms->offsets[k], j1 = terms->offsets[k + 1];
        const double wt = 1.0 / (j1 - j0);
        double lk = 0;
        for (int j = j0; j < j1; j++) lk += lse - z[terms->targets[j]];
        total += lk * wt;
        if (!grad) continue;
        for (size_t v = 0; v < V; v++) z[v] = (float)(exp((double)z[v] - lse) / NT);
        for (int j = j0; j < j1; j++) z[terms->targets[j]] -= (float)(wt / NT);
    }
    *loss = total / NT;
    if (!grad) return AC_OK;

    /* ---- backward ---- */
    ac_weights *gw = &grad->w;
    const float *dlogits = ws->logits;
    ac__matmul_backward_weight(gw->w_unembed, NULL, dlogits, (int)V, ws->lnf, (int)d, NT, (int)d, (int)V);
    memset(ws->dlnf, 0, (size_t)NT * d * sizeof(float));
    ac__matmul_backward_input(ws->dlnf, (int)d, dlogits, (int)V, w->w_unembed, NT, (int)d, (int)V);
    memset(ws->drows, 0, (size_t)NT * d * sizeof(float));
    if (has_final_norm) {
        ac__norm_backward_params(gw->lnf_w, gw->lnf_b, ws->dlnf, ws->rows, NT, (int)d, c->norm_eps, c->norm);
        ac__norm_backward(ws->drows, ws->dlnf, ws->rows, w->lnf_w, NT, (int)d, c->norm_eps, c->norm);
    } else {
        add_rows(ws->drows, ws->dlnf, (size_t)NT * d);
    }
    float *dx = ws->dx;
    memset(dx, 0, BT * d * sizeof(float));
    for (int k = 0; k < NT; k++) add_rows(dx + (size_t)terms->rows[k] * d, ws->drows + (size_t)k * d, d);

    for (int l = c->n_layer - 1; l >= 0; l--) {
        const ac_layer_weights *lw = &w->layers[l];
        ac_layer_weights *gl = &gw->layers[l];
        layer_acts *a = &ws->layers[l];
        if (hid) {
            /* x_out = resid_mid + proj(hact) */
            ac__matmul_backward_weight(gl->w_proj, gl->b_proj, dx, (int)d, a->hact, (int)hid, (int)BT, (int)hid, (int)d);
            memset(ws->dhact, 0, BT * hid * sizeof(float));
            ac__matmul_backward_input(ws->dhact, (int)hid, dx, (int)d, lw->w_proj, (int)BT, (int)hid, (int)d);
            memset(ws->dhpre, 0, BT * hid * sizeof(float));
            if (c->gated_mlp) {
                memset(ws->dup, 0, BT * hid * sizeof(float));
                ac__gated_backward(ws->dhpre, ws->dup, ws->dhact, a->hpre, a->up, BT * hid, c->act);
                ac__matmul_backward_weight(gl->w_up, NULL, ws->dup, (int)hid, a->ln2, (int)d, (int)BT, (int)d, (int)hid);
            } else {
                ac__act_backward(ws->dhpre, ws->dhact, a->hpre, BT * hid, c->act);
            }
            ac__matmul_backward_weight(gl->w_fc, gl->b_fc, ws->dhpre, (int)hid, a->ln2, (int)d, (int)BT, (int)d, (int)hid);
            float *dln = ws->dtmp;
            memset(dln, 0, BT * d * sizeof(float));
            ac__matmul_backward_input(dln, (int)d, ws->dhpre, (int)hid, lw->w_fc, (int)BT, (int)d, (int)hid);
            if (c->gated_mlp)
                ac__matmul_backward_input(dln, (int)d, ws->dup, (int)hid, lw->w_up, (int)BT, (int)d, (int)hid);
            ac__norm_backward_params(gl->ln2_w, gl->ln2_b, dln, a->resid_mid, (int)BT, (int)d, c->norm_eps, c->norm);
            ac__norm_backward(dx, dln, a->resid_mid, lw->ln2_w, (int)BT, (int)d, c->norm_eps, c->norm);
        }
        /* x_mid = resid_pre + z · Wo^T + bo */
        ac__matmul_backward_weight(gl->wo, gl->bo, dx, (int)d, a->z, H * dh, (int)BT, H * dh, (int)d);
        memset(ws->dz, 0, BT * (size_t)(H * dh) * sizeof(float));
        ac__matmul_backward_input(ws->dz, H * dh, dx, (int)d, lw->wo, (int)BT, H * dh, (int)d);
        memset(ws->dqkv, 0, BT * (size_t)qw * sizeof(float));
        ac__attention_backward(ws->dqkv, ws->scratch, ws->dz, a->probs, a->qkv, qw, B, T, H, Hkv, dh);
        ac__rope_apply(ws->dqkv, qw, ws->pos, ws->inv_freq, (int)BT, H, dh, c->pos, 1);
        ac__rope_apply(ws->dqkv + H * dh, qw, ws->pos, ws->inv_freq, (int)BT, Hkv, dh, c->pos, 1);
        ac__matmul_backward_weight(gl->wq, gl->bq, ws->dqkv, qw, a->ln1, (int)d, (int)BT, (int)d, qw);
        float *dln = ws->dtmp;
        memset(dln, 0, BT * d * sizeof(float));
        ac__matmul_backward_input(dln, (int)d, ws->dqkv, qw, lw->wq, (int)BT, (int)d, qw);
        ac__norm_backward_params(gl->ln1_w, gl->ln1_b, dln, a->resid_pre, (int)BT, (int)d, c->norm_eps, c->norm);
        ac__norm_backward(dx, dln, a->resid_pre, lw->ln1_w, (int)BT, (int)d, c->norm_eps, c->norm);
    }
    ac__embedding_backward(gw->wte, dx, ids, (int)BT, (int)d);
    if (gw->wpe) ac__embedding_backward(gw->wpe, dx, ws->pos, (int)BT, (int)d);
    return AC_OK;
}
