#include "ref_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

static double *dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

static void ref_norm(double *y, const double *x, const float *w, const float *b, int C, double eps,
                     ac_norm_kind kind) {
    if (kind == AC_NORM_NONE) {
        memcpy(y, x, (size_t)C * sizeof(double));
        return;
    }
    double mean = 0, var = 0;
    if (kind == AC_NORM_LAYERNORM) {
        for (int c = 0; c < C; c++) mean += x[c];
        mean /= C;
    }
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    var /= C;
    double r = 1.0 / sqrt(var + eps);
    for (int c = 0; c < C; c++) y[c] = (x[c] - mean) * r * w[c] + (b ? b[c] : 0.0);
}

static double ref_act(double x, ac_act_kind k) {
    switch (k) {
    case AC_ACT_GELU_NEW: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case AC_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case AC_ACT_RELU: return x > 0 ? x : 0;
    default: return x / (1 + exp(-x));
    }
}

/* y[out] = W[out, in] x[in] + b */
static void ref_linear(double *y, const float *W, const float *b, const double *x, int in, int out) {
    for (int o = 0; o < out; o++) {
        double s = b ? b[o] : 0.0;
        for (int i = 0; i < in; i++) s += (double)W[(size_t)o * (size_t)in + (size_t)i] * x[i];
        y[o] = s;
    }
}

static void ref_rope(double *v, int pos, int dh, const ac_config *c) {
    if (c->pos != AC_POS_ROPE_HALF && c->pos != AC_POS_ROPE_INTERLEAVED) return;
    for (int i = 0; i < dh / 2; i++) {
        double f = 1.0 / pow((double)c->rope_theta, (double)(2 * i) / dh);
        double ang = pos * f, cs = cos(ang), sn = sin(ang);
        int a = c->pos == AC_POS_ROPE_INTERLEAVED ? 2 * i : i;
        int bb = c->pos == AC_POS_ROPE_INTERLEAVED ? 2 * i + 1 : i + dh / 2;
        double x0 = v[a], x1 = v[bb];
        v[a] = x0 * cs - x1 * sn;
        v[bb] = x0 * sn + x1 * cs;
    }
}

/* the input of destination `dest` at row i: resid + Σ m (patch − curr) */
static void dest_in(double *out, const ac_graph *g, int dest, size_t i, int T, size_t BT, int d,
                    const double *resid, const double *masks, const double *patch, const double *curr) {
    memcpy(out, resid + i * (size_t)d, (size_t)d * sizeof(double));
    if (!masks) return;
    const ac_dest_node *dn = &g->dests[dest];
    int t = (int)(i % (size_t)T);
    const double *M = masks + (g->seq_len > 0 ? (size_t)t * g->n_edges_per_pos : 0) + dn->edge_offset;
    for (int s = 0; s < dn->n_in; s++) {
        if (M[s] == 0) continue;
        const size_t src = (size_t)(dn->src_begin + s);
        const double *P = patch + (src * BT + i) * (size_t)d;
        const double *C = curr + (src * BT + i) * (size_t)d;
        for (int k = 0; k < d; k++) out[k] += M[s] * (P[k] - C[k]);
    }
}

/* Residual graph: the residual stream itself is destination `dest` at every row:
 * resid = resid + Σ m (patch − curr), then recorded as source `src` (when >= 0). */
static void patch_stream(const ac_graph *g, int dest, int src, int T, size_t BT, int d, double *resid,
                         const double *masks, const double *patch, double *curr) {
    double *tmp = dalloc((size_t)d);
    for (size_t i = 0; i < BT; i++) {
        dest_in(tmp, g, dest, i, T, BT, d, resid, masks, patch, curr);
        memcpy(resid + i * (size_t)d, tmp, (size_t)d * sizeof(double));
        if (src >= 0) memcpy(curr + ((size_t)src * BT + i) * (size_t)d, tmp, (size_t)d * sizeof(double));
    }
    free(tmp);
}

void ac_ref_forward(const ac_model *m, const ac_graph *g, int B, int T, const int32_t *ids,
                    const uint8_t *mask, const double *masks, const double *patch,
                    double *record, double *logits, int logits_all) {
    const ac_config *c = ac_model_config(m);
    const int d = c->d_model, H = c->n_head, Hkv = c->n_kv_head, dh = c->d_head, V = c->vocab_size;
    const size_t BT = (size_t)B * (size_t)T;
    const double eps = c->norm_eps;
    double *curr = dalloc((size_t)g->n_src * BT * (size_t)d);
    double *resid = dalloc(BT * (size_t)d);
    double *tmp = dalloc((size_t)d), *tmp2 = dalloc((size_t)d);
    int *pos = calloc(BT, sizeof(int));
    for (int b = 0; b < B; b++) {
        int p = 0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * (size_t)T + (size_t)t;
            int real = mask ? mask[i] : 1;
            pos[i] = real ? p++ : 0;
        }
    }
    for (size_t i = 0; i < BT; i++) {
        for (int k = 0; k < d; k++) {
            double v = m->w.wte[(size_t)ids[i] * (size_t)d + (size_t)k];
            if (m->w.wpe) v += m->w.wpe[(size_t)pos[i] * (size_t)d + (size_t)k];
            resid[i * (size_t)d + (size_t)k] = v;
            curr[i * (size_t)d + (size_t)k] = v;
        }
    }
    const int qw = (H + 2 * Hkv) * dh;
    double *q = dalloc(BT * (size_t)qw), *z = dalloc(BT * (size_t)H * (size_t)dh);
    double *hid = dalloc((size_t)(c->d_mlp > 0 ? c->d_mlp : 1)), *up = dalloc((size_t)(c->d_mlp > 0 ? c->d_mlp : 1));
    for (int l = 0; l < c->n_layer; l++) {
        const ac_layer_weights *lw = &m->w.layers[l];
        if (g->residual && l > 0)
            patch_stream(g, g->resid_post_dest[l - 1], g->resid_pre_src[l], T, BT, d, resid, masks, patch, curr);
        /* q, k, v per destination (residual graph: every head from the stream) */
        for (size_t i = 0; i < BT; i++) {
            if (g->residual) {
                double *row = q + i * (size_t)qw;
                ref_norm(tmp2, resid + i * (size_t)d, lw->ln1_w, lw->ln1_b, d, eps, c->norm);
                for (int h = 0; h < H; h++)
                    ref_linear(row + h * dh, lw->wq + (size_t)h * (size_t)dh * (size_t)d, lw->bq ? lw->bq + h * dh : NULL, tmp2, d, dh);
                for (int h = 0; h < Hkv; h++) {
                    ref_linear(row + (H + h) * dh, lw->wk + (size_t)h * (size_t)dh * (size_t)d, lw->bk ? lw->bk + h * dh : NULL, tmp2, d, dh);
                    ref_linear(row + (H + Hkv + h) * dh, lw->wv + (size_t)h * (size_t)dh * (size_t)d, lw->bv ? lw->bv + h * dh : NULL, tmp2, d, dh);
                }
            }
            for (int dd = g->attn_dest_begin[l]; dd < g->attn_dest_end[l]; dd++) {
                const ac_dest_node *dn = &g->dests[dd];
                dest_in(tmp, g, dd, i, T, BT, d, resid, masks, patch, curr);
                ref_norm(tmp2, tmp, lw->ln1_w, lw->ln1_b, d, eps, c->norm);
                double *row = q + i * (size_t)qw;
                int h = dn->head;
                if (dn->kind == AC_DEST_Q || dn->kind == AC_DEST_QKV)
                    ref_linear(row + h * dh, lw->wq + (size_t)h * (size_t)dh * (size_t)d, lw->bq ? lw->bq + h * dh : NULL, tmp2, d, dh);
                if (dn->kind == AC_DEST_K || dn->kind == AC_DEST_QKV)
                    ref_linear(row + (H + h) * dh, lw->wk + (size_t)h * (size_t)dh * (size_t)d, lw->bk ? lw->bk + h * dh : NULL, tmp2, d, dh);
                if (dn->kind == AC_DEST_V || dn->kind == AC_DEST_QKV)
                    ref_linear(row + (H + Hkv + h) * dh, lw->wv + (size_t)h * (size_t)dh * (size_t)d, lw->bv ? lw->bv + h * dh : NULL, tmp2, d, dh);
            }
            for (int h = 0; h < H + Hkv; h++) ref_rope(q + i * (size_t)qw + h * dh, pos[i], dh, c);
        }
        /* attention */
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                int gk = h / (H / Hkv);
                for (int t = 0; t < T; t++) {
                    size_t i = (size_t)b * (size_t)T + (size_t)t;
                    double *zr = z + i * (size_t)H * (size_t)dh + h * dh;
                    for (int k = 0; k < dh; k++) zr[k] = 0;
                    if (mask && !mask[i]) continue;
                    double sc[512], mx = -1e300, sum = 0;
                    for (int j = 0; j <= t; j++) {
                        size_t jj = (size_t)b * (size_t)T + (size_t)j;
                        if (mask && !mask[jj]) continue;
                        double s = 0;
                        for (int k = 0; k < dh; k++) s += q[i * (size_t)qw + h * dh + k] * q[jj * (size_t)qw + (H + gk) * dh + k];
                        sc[j] = s / sqrt((double)dh);
                        if (sc[j] > mx) mx = sc[j];
                    }
                    for (int j = 0; j <= t; j++) {
                        size_t jj = (size_t)b * (size_t)T + (size_t)j;
                        if (mask && !mask[jj]) { sc[j] = 0; continue; }
                        sc[j] = exp(sc[j] - mx);
                        sum += sc[j];
                    }
                    for (int j = 0; j <= t; j++) {
                        size_t jj = (size_t)b * (size_t)T + (size_t)j;
                        if (mask && !mask[jj]) continue;
                        for (int k = 0; k < dh; k++) zr[k] += sc[j] / sum * q[jj * (size_t)qw + (H + Hkv + gk) * dh + k];
                    }
                }
            }
        /* head outputs are sources */
        for (size_t i = 0; i < BT; i++) {
            for (int h = 0; h < H; h++) {
                double *o = curr + ((size_t)(g->head_src[l] + h) * BT + i) * (size_t)d;
                for (int k = 0; k < d; k++) {
                    double s = 0;
                    for (int e = 0; e < dh; e++)
                        s += (double)lw->wo[(size_t)k * (size_t)(H * dh) + (size_t)(h * dh + e)] * z[i * (size_t)H * (size_t)dh + h * dh + e];
                    o[k] = s;
                    resid[i * (size_t)d + (size_t)k] += s;
                }
            }
            if (lw->bo)
                for (int k = 0; k < d; k++) resid[i * (size_t)d + (size_t)k] += lw->bo[k];
        }
        if (c->attn_only) continue;
        if (g->residual)
            patch_stream(g, g->resid_mid_dest[l], g->resid_mid_src[l], T, BT, d, resid, masks, patch, curr);
        for (size_t i = 0; i < BT; i++) {
            if (g->residual) memcpy(tmp, resid + i * (size_t)d, (size_t)d * sizeof(double));
            else dest_in(tmp, g, g->mlp_dest[l], i, T, BT, d, resid, masks, patch, curr);
            ref_norm(tmp2, tmp, lw->ln2_w, lw->ln2_b, d, eps, c->norm);
            ref_linear(hid, lw->w_fc, lw->b_fc, tmp2, d, c->d_mlp);
            if (c->gated_mlp) {
                ref_linear(up, lw->w_up, NULL, tmp2, d, c->d_mlp);
                for (int k = 0; k < c->d_mlp; k++) hid[k] = ref_act(hid[k], c->act) * up[k];
            } else {
                for (int k = 0; k < c->d_mlp; k++) hid[k] = ref_act(hid[k], c->act);
            }
            double *o = curr + ((size_t)g->mlp_src[l] * BT + i) * (size_t)d;
            ref_linear(o, lw->w_proj, lw->b_proj, hid, c->d_mlp, d);
        }
        for (size_t i = 0; i < BT; i++)
            for (int k = 0; k < d; k++) resid[i * (size_t)d + (size_t)k] += curr[((size_t)g->mlp_src[l] * BT + i) * (size_t)d + (size_t)k];
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            if (!logits_all && t != T - 1) continue;
            size_t i = (size_t)b * (size_t)T + (size_t)t;
            dest_in(tmp, g, g->n_dest - 1, i, T, BT, d, resid, masks, patch, curr);
            if (c->final_norm && c->norm != AC_NORM_NONE) ref_norm(tmp2, tmp, m->w.lnf_w, m->w.lnf_b, d, eps, c->norm);
            else memcpy(tmp2, tmp, (size_t)d * sizeof(double));
            double *out = logits + (logits_all ? i : (size_t)b) * (size_t)V;
            ref_linear(out, m->w.w_unembed, NULL, tmp2, d, V);
        }
    if (record) memcpy(record, curr, (size_t)g->n_src * BT * (size_t)d * sizeof(double));
    free(curr); free(resid); free(tmp); free(tmp2); free(pos); free(q); free(z); free(hid); free(up);
}
