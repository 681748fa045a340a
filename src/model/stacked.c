/* Stacked single-edge re-runs for exact patching (see stacked.h). */
#include "model/stacked.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "model/ops.h"
#include "model/run_internal.h"

struct ac_edge_stack {
    int max_k, max_B, max_T;
    size_t max_rows;  /* max_k · max_B · max_T */
    float *x;         /* [rows, d] residual */
    float *inp;       /* [rows, d] a patched destination input */
    float *tmp;       /* [rows, d] normalised input, projection outputs */
    float *qkv;       /* [rows, qkv_w] */
    float *proj;      /* [rows, 3·dh] a destination's private q/k/v */
    float *z;         /* [rows, H·dh] */
    float *probs;     /* [k·B, H, T, T] */
    float *hpre, *hact, *up; /* [rows, d_mlp] (up: gated MLPs) */
    float *xl, *zl;   /* [k·B, d], [k·B, H·dh]: last-position rows */
    float *lrows;     /* [k·B, d] */
    int32_t *pos;     /* [rows] */
    uint8_t *mask;    /* [rows] */
};

int ac__edge_stack_k_for_rows(long rows, int B, int T) {
    const long bt = (long)B * (long)T;
    long k = bt > 0 ? rows / bt : 1;
    if (k < 1) k = 1;
    if (k > 4096) k = 4096;
    return (int)k;
}

void ac__edge_stack_free(ac_edge_stack *s) {
    if (!s) return;
    ac_free_aligned(s->x);
    ac_free_aligned(s->inp);
    ac_free_aligned(s->tmp);
    ac_free_aligned(s->qkv);
    ac_free_aligned(s->proj);
    ac_free_aligned(s->z);
    ac_free_aligned(s->probs);
    ac_free_aligned(s->hpre);
    ac_free_aligned(s->hact);
    ac_free_aligned(s->up);
    ac_free_aligned(s->xl);
    ac_free_aligned(s->zl);
    ac_free_aligned(s->lrows);
    ac_free(s->pos);
    ac_free(s->mask);
    ac_free(s);
}

int ac__edge_stack_max_k(const ac_edge_stack *s) { return s->max_k; }

int ac__edge_stack_create(ac_edge_stack **out, const ac_run *r, int max_k, ac_error *err) {
    *out = NULL;
    if (max_k < 1 || !r->g) return ac_error_set(err, AC_ERR_ARG, NULL, "edge stack: needs k >= 1 and a graph");
    const ac_config *c = &r->m->cfg;
    ac_edge_stack *s = ac_calloc(1, sizeof *s);
    if (!s) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    s->max_k = max_k;
    s->max_B = r->max_B;
    s->max_T = r->max_T;
    const size_t kb = (size_t)max_k * (size_t)r->max_B, R = kb * (size_t)r->max_T;
    const size_t d = (size_t)c->d_model, hd = (size_t)c->n_head * (size_t)c->d_head;
    const size_t hid = c->attn_only ? 0 : (size_t)c->d_mlp;
    s->max_rows = R;
    s->x = ac_alloc_aligned(R * d, sizeof(float));
    s->inp = ac_alloc_aligned(R * d, sizeof(float));
    s->tmp = ac_alloc_aligned(R * d, sizeof(float));
    s->qkv = ac_alloc_aligned(R * (size_t)r->qkv_w, sizeof(float));
    s->proj = ac_alloc_aligned(R * 3 * (size_t)c->d_head, sizeof(float));
    s->z = ac_alloc_aligned(R * hd, sizeof(float));
    s->probs = ac_alloc_aligned(kb * (size_t)c->n_head * (size_t)r->max_T * (size_t)r->max_T, sizeof(float));
    s->hpre = ac_alloc_aligned(R * hid + 1, sizeof(float));
    s->hact = ac_alloc_aligned(R * hid + 1, sizeof(float));
    s->up = ac_alloc_aligned(c->gated_mlp ? R * hid + 1 : 1, sizeof(float));
    s->xl = ac_alloc_aligned(kb * d, sizeof(float));
    s->zl = ac_alloc_aligned(kb * hd, sizeof(float));
    s->lrows = ac_alloc_aligned(kb * d, sizeof(float));
    s->pos = ac_calloc(R, sizeof *s->pos);
    s->mask = ac_calloc(R, 1);
    if (!s->x || !s->inp || !s->tmp || !s->qkv || !s->proj || !s->z || !s->probs || !s->hpre || !s->hact ||
        !s->up || !s->xl || !s->zl || !s->lrows || !s->pos || !s->mask) {
        ac__edge_stack_free(s);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory for stacked re-runs of %d edges", max_k);
    }
    *out = s;
    return AC_OK;
}

int ac__edge_stack_usable(const ac_run *r) {
    return r->g && !r->g->residual && r->forward_ok && r->patch && !r->any_active && !r->masks_per_row;
}

/* ---- helpers ------------------------------------------------------------------------- */

typedef struct stack_job {
    ac_edge_stack *s;
    const ac_run *r;
    const ac_config *c;
    int k, B, T, KB;
    size_t BT, R, d;
    const int *srcs;
    int tp; /* the patched tail position, -1: every position */
} stack_job;

/* dst[k copies][n floats] = src[n] */
static void replicate(float *dst, const float *src, size_t n, int k) {
#pragma omp parallel for schedule(static) if ((size_t)k * n > 65536)
    for (int i = 0; i < k; i++) memcpy(dst + (size_t)i * n, src, n * sizeof(float));
}

/* out[k][B][T][d] = base[B][T][d] + D_{srcs[k]} at the patched position(s) (only the
 * last position, out[k][B][d], when `last`); base is [B][T][d] (or [k][B][d] when
 * `base_stacked`, the compacted last rows). */
static void patched_input(const stack_job *j, float *out, const float *base, int last, int base_stacked) {
    const size_t d = j->d, T = (size_t)j->T, BT = j->BT;
    const int rows_per = last ? j->B : (int)BT;
    const long total = (long)j->k * rows_per;
#pragma omp parallel for schedule(static) if ((size_t)total * d > 65536)
    for (long i = 0; i < total; i++) {
        const int kk = (int)(i / rows_per), rr = (int)(i % rows_per);
        const size_t row = last ? (size_t)rr * T + T - 1 : (size_t)rr; /* row of the B×T batch */
        const int t = (int)(row % T);
        const float *b = base_stacked ? base + (size_t)i * d : base + row * d;
        float *o = out + (size_t)i * d;
        if (j->tp >= 0 && t != j->tp) {
            memcpy(o, b, d * sizeof(float));
            continue;
        }
        const float *Ds = j->r->D + ((size_t)j->srcs[kk] * BT + row) * d;
        for (size_t q = 0; q < d; q++) o[q] = b[q] + Ds[q];
    }
}

/* dst[KB][ld] = the last-position rows of src[KB·T][ld] */
static void gather_last(float *dst, const float *src, size_t ld, int KB, int T) {
#pragma omp parallel for schedule(static) if ((size_t)KB * ld > 65536)
    for (int i = 0; i < KB; i++)
        memcpy(dst + (size_t)i * ld, src + ((size_t)i * (size_t)T + (size_t)T - 1) * ld, ld * sizeof(float));
}

static void add_bias_rows(float *x, const float *bias, size_t N, size_t d) {
    if (!bias) return;
#pragma omp parallel for schedule(static) if (N * d > 65536)
    for (size_t i = 0; i < N; i++)
        for (size_t q = 0; q < d; q++) x[i * d + q] += bias[q];
}

static void add_into(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* x[N, d] += MLP(norm2(in)) */
static void mlp_block(const stack_job *j, const ac_layer_weights *lw, float *x, const float *in, int N) {
    const ac_config *c = j->c;
    ac_edge_stack *s = j->s;
    const int d = c->d_model, hid = c->d_mlp;
    ac__norm_forward(s->tmp, in, lw->ln2_w, lw->ln2_b, N, d, c->norm_eps, c->norm);
    ac__matmul_forward(s->hpre, hid, s->tmp, d, lw->w_fc, lw->b_fc, N, d, hid);
    if (c->gated_mlp) {
        ac__matmul_forward(s->up, hid, s->tmp, d, lw->w_up, NULL, N, d, hid);
        ac__gated_forward(s->hact, s->hpre, s->up, (size_t)N * (size_t)hid, c->act);
    } else {
        ac__act_forward(s->hact, s->hpre, (size_t)N * (size_t)hid, c->act);
    }
    ac__matmul_forward(s->tmp, d, s->hact, hid, lw->w_proj, lw->b_proj, N, hid, d);
    add_into(x, s->tmp, (size_t)N * (size_t)d);
}

static const float *layer_kv(const ac_run *r, int l) {
    return r->kv ? r->kv->kv + (size_t)l * (size_t)r->P * (size_t)r->kv->ld : NULL;
}

/* ---- the stacked re-run -------------------------------------------------------------- */

int ac__edge_stack_run(ac_edge_stack *s, const ac_run *r, int dest, int pos, const int *srcs, int k,
                       float *out, ac_error *err) {
    const ac_graph *g = r->g;
    if (!ac__edge_stack_usable(r))
        return ac_error_set(err, AC_ERR_ARG, NULL,
                            "stacked re-runs need an unpatched forward with patch values (factorized graph)");
    if (k < 1 || k > s->max_k || r->B > s->max_B || r->T > s->max_T || dest < 0 || dest >= g->n_dest)
        return ac_error_set(err, AC_ERR_ARG, NULL, "stacked re-runs: %d edges of destination %d out of range", k, dest);
    const ac_dest_node *dn = &g->dests[dest];
    for (int i = 0; i < k; i++)
        if (srcs[i] < dn->src_begin || srcs[i] >= dn->src_begin + dn->n_in)
            return ac_error_set(err, AC_ERR_ARG, NULL, "stacked re-runs: source %d does not feed %s", srcs[i], dn->name);
    int tp = -1;
    if (g->seq_len > 0) {
        tp = pos - r->P;
        if (tp < 0 || tp >= r->T)
            return ac_error_set(err, AC_ERR_ARG, NULL, "stacked re-runs: position %d is not one the forward ran", pos);
    }
    const ac_model *m = r->m;
    const ac_config *c = &m->cfg;
    const int B = r->B, T = r->T, KB = k * B, L = c->n_layer;
    const int H = c->n_head, Hkv = c->n_kv_head, dh = c->d_head, qw = r->qkv_w;
    const size_t BT = (size_t)B * (size_t)T, R = (size_t)k * BT, d = (size_t)c->d_model;
    const size_t hd = (size_t)H * (size_t)dh;
    stack_job j = {.s = s, .r = r, .c = c, .k = k, .B = B, .T = T, .KB = KB, .BT = BT, .R = R, .d = d,
                   .srcs = srcs, .tp = tp};
    for (int i = 0; i < k; i++) {
        memcpy(s->pos + (size_t)i * BT, r->pos, BT * sizeof(int32_t));
        memcpy(s->mask + (size_t)i * BT, r->mask, BT);
    }

    float *x = s->x;   /* the residual: R rows, then KB rows once compacted */
    int compact = 0;
    const int at_mlp = dn->kind == AC_DEST_MLP;
    const int is_attn = dn->kind == AC_DEST_Q || dn->kind == AC_DEST_K || dn->kind == AC_DEST_V ||
                        dn->kind == AC_DEST_QKV;
    const int l0 = dn->layer;

    if (is_attn) {
        /* --- the destination's layer: only its q, k or v slice changes --- */
        const ac_layer_weights *lw = &m->w.layers[l0];
        const ac_layer_acts *a = &r->layers[l0];
        replicate(s->qkv, a->qkv, BT * (size_t)qw, k);
        patched_input(&j, s->inp, a->resid_pre, 0, 0);
        ac__norm_forward(s->tmp, s->inp, lw->ln1_w, lw->ln1_b, (int)R, (int)d, c->norm_eps, c->norm);
        int cols[3], nslice = 0, rope[3];
        const float *W[3], *bias[3];
        const int h = dn->head;
        if (dn->kind == AC_DEST_Q || dn->kind == AC_DEST_QKV) {
            cols[nslice] = h * dh;
            W[nslice] = lw->wq + (size_t)h * (size_t)dh * d;
            bias[nslice] = lw->bq ? lw->bq + h * dh : NULL;
            rope[nslice++] = 1;
        }
        if (dn->kind == AC_DEST_K || dn->kind == AC_DEST_QKV) {
            cols[nslice] = H * dh + h * dh;
            W[nslice] = lw->wk + (size_t)h * (size_t)dh * d;
            bias[nslice] = lw->bk ? lw->bk + h * dh : NULL;
            rope[nslice++] = 1;
        }
        if (dn->kind == AC_DEST_V || dn->kind == AC_DEST_QKV) {
            cols[nslice] = (H + Hkv) * dh + h * dh;
            W[nslice] = lw->wv + (size_t)h * (size_t)dh * d;
            bias[nslice] = lw->bv ? lw->bv + h * dh : NULL;
            rope[nslice++] = 0;
        }
        const int pw = nslice * dh;
        for (int q = 0; q < nslice; q++) {
            ac__matmul_forward(s->proj + q * dh, pw, s->tmp, (int)d, W[q], bias[q], (int)R, (int)d, dh);
            if (rope[q]) ac__rope_apply(s->proj + q * dh, pw, s->pos, r->inv_freq, (int)R, 1, dh, c->pos, 0);
        }
        /* the new slices into the stacked q|k|v (only the patched position's rows with
         * per-position edges) */
#pragma omp parallel for schedule(static) if (R * (size_t)pw > 65536)
        for (size_t i = 0; i < R; i++) {
            if (tp >= 0 && (int)(i % (size_t)T) != tp) continue;
            for (int q = 0; q < nslice; q++)
                memcpy(s->qkv + i * (size_t)qw + cols[q], s->proj + i * (size_t)pw + q * dh, (size_t)dh * sizeof(float));
        }
        ac__attention_forward_kv(s->z, s->probs, s->qkv, qw, s->mask, KB, T, H, Hkv, dh, layer_kv(r, l0), r->P);
        /* heads whose output changed: the query head, or every head reading the kv head */
        const int group = H / Hkv;
        const int h0 = dn->kind == AC_DEST_Q || dn->kind == AC_DEST_QKV ? h : h * group;
        const int nh = dn->kind == AC_DEST_Q || dn->kind == AC_DEST_QKV ? 1 : group;
        /* residual after attention = the base one + (z_new − z_base) · W_O of those heads */
        const float *after = !c->attn_only ? a->resid_mid : l0 + 1 < L ? r->layers[l0 + 1].resid_pre : r->resid_final;
        const int last = l0 == L - 1;
        const size_t N = last ? (size_t)KB : R;
        const float *zb = a->z;
        float *zs = s->z;
        if (last) {
            gather_last(s->zl, s->z, hd, KB, T);
            zs = s->zl;
            for (int i = 0; i < k; i++) gather_last(s->xl + (size_t)i * (size_t)B * d, after, d, B, T);
            x = s->xl;
            compact = 1;
        } else {
            replicate(x, after, BT * d, k);
        }
#pragma omp parallel for schedule(static) if (N * (size_t)nh * (size_t)dh > 65536)
        for (size_t i = 0; i < N; i++) {
            const size_t brow = last ? (i % (size_t)B) * (size_t)T + (size_t)T - 1 : i % BT;
            float *zr = zs + i * hd + (size_t)h0 * (size_t)dh;
            const float *zbr = zb + brow * hd + (size_t)h0 * (size_t)dh;
            for (size_t q = 0; q < (size_t)nh * (size_t)dh; q++) zr[q] -= zbr[q];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)d, nh * dh, 1.0f, zs + h0 * dh, (int)hd,
                    lw->wo + h0 * dh, (int)hd, 1.0f, x, (int)d);
        if (!c->attn_only) {
            mlp_block(&j, lw, x, x, (int)N);
        }
    } else if (at_mlp) {
        const ac_layer_weights *lw = &m->w.layers[l0];
        const ac_layer_acts *a = &r->layers[l0];
        if (l0 == L - 1) {
            for (int i = 0; i < k; i++) gather_last(s->xl + (size_t)i * (size_t)B * d, a->resid_mid, d, B, T);
            x = s->xl;
            compact = 1;
            patched_input(&j, s->inp, x, 1, 1);
            mlp_block(&j, lw, x, s->inp, KB);
        } else {
            replicate(x, a->resid_mid, BT * d, k);
            patched_input(&j, s->inp, a->resid_mid, 0, 0);
            mlp_block(&j, lw, x, s->inp, (int)R);
        }
    } else if (dn->kind == AC_DEST_RESID_END) {
        for (int i = 0; i < k; i++) gather_last(s->xl + (size_t)i * (size_t)B * d, r->resid_final, d, B, T);
        x = s->xl;
        compact = 1;
    } else {
        return ac_error_set(err, AC_ERR_UNSUPPORTED, NULL, "stacked re-runs: destination %s not supported", dn->name);
    }

    /* --- every later block, unpatched, on the stacked batch --- */
    for (int l = (dn->kind == AC_DEST_RESID_END ? L : l0 + 1); l < L; l++) {
        const ac_layer_weights *lw = &m->w.layers[l];
        ac__norm_forward(s->tmp, x, lw->ln1_w, lw->ln1_b, (int)R, (int)d, c->norm_eps, c->norm);
        ac__matmul_forward(s->qkv, qw, s->tmp, (int)d, lw->wq, lw->bq, (int)R, (int)d, qw);
        ac__rope_apply(s->qkv, qw, s->pos, r->inv_freq, (int)R, H, dh, c->pos, 0);
        ac__rope_apply(s->qkv + H * dh, qw, s->pos, r->inv_freq, (int)R, Hkv, dh, c->pos, 0);
        ac__attention_forward_kv(s->z, s->probs, s->qkv, qw, s->mask, KB, T, H, Hkv, dh, layer_kv(r, l), r->P);
        size_t N = R;
        float *zs = s->z;
        if (l == L - 1) {
            /* only the last position reaches the logits */
            gather_last(s->zl, s->z, hd, KB, T);
            gather_last(s->xl, x, d, KB, T);
            zs = s->zl;
            x = s->xl;
            N = (size_t)KB;
            compact = 1;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)d, (int)hd, 1.0f, zs, (int)hd, lw->wo,
                    (int)hd, 1.0f, x, (int)d);
        add_bias_rows(x, lw->bo, N, d);
        if (!c->attn_only) mlp_block(&j, lw, x, x, (int)N);
    }
    if (!compact) {
        gather_last(s->xl, x, d, KB, T);
        x = s->xl;
    }
    const float *end_in = x;
    if (dn->kind == AC_DEST_RESID_END) {
        patched_input(&j, s->inp, x, 1, 1);
        end_in = s->inp;
    }
    if (c->final_norm && c->norm != AC_NORM_NONE)
        ac__norm_forward(s->lrows, end_in, m->w.lnf_w, m->w.lnf_b, KB, (int)d, c->norm_eps, c->norm);
    else
        memcpy(s->lrows, end_in, (size_t)KB * d * sizeof(float));
    ac__matmul_forward(out, c->vocab_size, s->lrows, (int)d, m->w.w_unembed, NULL, KB, (int)d, c->vocab_size);
    return AC_OK;
}

double ac__edge_stack_flops(const ac_config *c, const ac_graph *g, int dest, int k, int B, int T, int P) {
    const ac_dest_node *dn = &g->dests[dest];
    const double KB = (double)k * B, R = KB * T, d = c->d_model, dh = c->d_head, H = c->n_head;
    const double qw = (double)(c->n_head + 2 * c->n_kv_head) * dh, m = c->attn_only ? 0.0 : c->d_mlp;
    const double mlp_per_row = 2.0 * d * m * (c->gated_mlp ? 3.0 : 2.0);
    const double pairs = KB * ((double)T * (T + 1.0) / 2.0 + (double)T * P);
    const int L = c->n_layer;
    double f = 0.0;
    const int l0 = dn->layer;
    switch (dn->kind) {
    case AC_DEST_Q:
    case AC_DEST_K:
    case AC_DEST_V:
    case AC_DEST_QKV: {
        const double nslice = dn->kind == AC_DEST_QKV ? 3.0 : 1.0;
        const double nh = dn->kind == AC_DEST_K || dn->kind == AC_DEST_V ? (double)(c->n_head / c->n_kv_head) : 1.0;
        const double N = l0 == L - 1 ? KB : R;
        f += 2.0 * R * d * dh * nslice + 4.0 * H * dh * pairs + 2.0 * N * nh * dh * d + N * mlp_per_row;
        break;
    }
    case AC_DEST_MLP:
        f += (l0 == L - 1 ? KB : R) * mlp_per_row;
        break;
    default:
        break;
    }
    for (int l = dn->kind == AC_DEST_RESID_END ? L : l0 + 1; l < L; l++) {
        const double N = l == L - 1 ? KB : R;
        f += 2.0 * R * d * qw + 4.0 * H * dh * pairs + N * (2.0 * H * dh * d + mlp_per_row);
    }
    return f + 2.0 * KB * d * (double)c->vocab_size;
}
