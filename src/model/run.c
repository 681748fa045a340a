/* Run state and the forward pass with source recording and edge patching. */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "model/ops.h"
#include "model/run_internal.h"

/* ---- creation ---------------------------------------------------------------------- */

int ac_run_create(ac_run **out, const ac_model *m, const ac_graph *g, int max_B, int max_T,
                  ac_error *err) {
    *out = NULL;
    const ac_config *c = &m->cfg;
    if (max_B <= 0 || max_T <= 0)
        return ac_error_set(err, AC_ERR_ARG, NULL, "run: batch %d x %d tokens must be positive", max_B, max_T);
    if (max_T > c->n_ctx)
        return ac_error_set(err, AC_ERR_ARG, NULL, "run: %d tokens exceed the model's context of %d", max_T, c->n_ctx);
    if (g && (g->n_layer != c->n_layer || g->n_head != c->n_head || g->n_kv_head != c->n_kv_head))
        return ac_error_set(err, AC_ERR_ARG, NULL, "run: the graph was built for another model");
    ac_run *r = ac_calloc(1, sizeof *r);
    if (!r) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory creating a run");
    r->m = m;
    r->g = g;
    r->max_B = max_B;
    r->max_T = max_T;
    const size_t BT = (size_t)max_B * (size_t)max_T, d = (size_t)c->d_model;
    const size_t H = (size_t)c->n_head, dh = (size_t)c->d_head, L = (size_t)c->n_layer;
    const size_t hid = c->attn_only ? 0 : (size_t)c->d_mlp;
    r->qkv_w = (c->n_head + 2 * c->n_kv_head) * c->d_head;
    r->max_group = 1;
    if (g)
        for (int l = 0; l < g->n_layer; l++)
            if (g->attn_dest_end[l] - g->attn_dest_begin[l] > r->max_group)
                r->max_group = g->attn_dest_end[l] - g->attn_dest_begin[l];
    const size_t nsrc = g ? (size_t)g->n_src : 0, ndest = g ? (size_t)g->n_dest : 0;
    const size_t group = (size_t)r->max_group;
    const size_t threads = (size_t)omp_get_max_threads();

    /* The arena size, estimated in double first: the sizes come from the model's config
     * and the caller, and their products must not wrap around size_t (the padding of
     * each block to 16 floats is far below the margin). */
    {
        const double dBT = (double)max_B * (double)max_T, dd = (double)d, dq = (double)r->qkv_w;
        const double dhid = (double)hid, dattn = (double)max_B * (double)H * (double)max_T * (double)max_T;
        const double est = (double)L * (2 * dBT * dd + dBT * dq + dattn + dBT * (double)(H * dh) + 2 * dBT * dhid) +
                           6 * dBT * dd + 3 * dBT * dhid + dBT * dq + dBT * (double)(H * dh) + (double)dh +
                           2 * (double)nsrc * dBT * dd + 2 * (double)group * dBT * dd +
                           (double)group * (double)(nsrc + 1) * (1.0 + (double)threads) + (double)threads * (double)max_T +
                           16.0 * (8.0 * (double)L + 32.0);
        if (!(est < (double)(SIZE_MAX / 8))) {
            ac_run_free(r);
            return ac_error_set(err, AC_ERR_NOMEM, NULL,
                                "run: the activation arena for %d x %d tokens is too large to allocate", max_B,
                                max_T);
        }
    }
    /* one arena; every block rounded to 16 floats (64 bytes) */
#define RND(n) ((((size_t)(n)) + 15u) & ~(size_t)15u)
    size_t per_layer = RND(BT * d) + (c->attn_only ? 0 : RND(BT * d)) + RND(BT * (size_t)r->qkv_w) +
                       RND((size_t)max_B * H * (size_t)max_T * (size_t)max_T) + RND(BT * H * dh) +
                       RND(BT * hid) + (c->gated_mlp && !c->attn_only ? RND(BT * hid) : 0);
    size_t total = L * per_layer + 6 * RND(BT * d) + 3 * RND(BT * hid) + RND(BT * (size_t)r->qkv_w) +
                   RND(BT * H * dh) + RND(dh) + 2 * RND(nsrc * BT * d) + 2 * RND(group * BT * d) +
                   RND(group * (nsrc + 1)) + RND(threads * (size_t)max_T) + RND(threads * group * (nsrc + 1));
#undef RND
    r->arena_floats = total;
    r->arena = ac_alloc_aligned(total, sizeof(float));
    r->layers = ac_calloc(L, sizeof *r->layers);
    r->norm_stats = ac_calloc(2 * BT, sizeof *r->norm_stats);
    r->ids = ac_calloc(BT, sizeof *r->ids);
    r->mask = ac_calloc(BT, 1);
    r->pos = ac_calloc(BT, sizeof *r->pos);
    r->active = ac_calloc(ndest + 1, 1);
    if (!r->arena || !r->layers || !r->norm_stats || !r->ids || !r->mask || !r->pos || !r->active) {
        ac_run_free(r);
        return ac_error_set(err, AC_ERR_NOMEM, NULL,
                            "out of memory: the activation arena for %d x %d tokens needs %zu MB",
                            max_B, max_T, total * sizeof(float) >> 20);
    }
    float *p = r->arena;
#define CARVE(ptr, n)                                    \
    do {                                                 \
        (ptr) = p;                                       \
        p += ((((size_t)(n)) + 15u) & ~(size_t)15u);     \
    } while (0)
    for (size_t l = 0; l < L; l++) {
        ac_layer_acts *a = &r->layers[l];
        CARVE(a->resid_pre, BT * d);
        if (!c->attn_only) CARVE(a->resid_mid, BT * d);
        CARVE(a->qkv, BT * (size_t)r->qkv_w);
        CARVE(a->probs, (size_t)max_B * H * (size_t)max_T * (size_t)max_T);
        CARVE(a->z, BT * H * dh);
        CARVE(a->hpre, BT * hid);
        if (c->gated_mlp && !c->attn_only) CARVE(a->up, BT * hid);
    }
    CARVE(r->x, BT * d);
    CARVE(r->tmp, BT * d);
    CARVE(r->tmp2, BT * d);
    CARVE(r->resid_final, BT * d);
    CARVE(r->gx, BT * d);
    CARVE(r->lrows, BT * d);
    CARVE(r->hact, BT * hid);
    CARVE(r->ghid, BT * hid);
    CARVE(r->gup, BT * hid);
    CARVE(r->gqkv, BT * (size_t)r->qkv_w);
    CARVE(r->gz, BT * H * dh);
    CARVE(r->inv_freq, dh);
    CARVE(r->D_own, nsrc * BT * d);
    CARVE(r->gsrc, nsrc * BT * d);
    CARVE(r->delta, group * BT * d);
    CARVE(r->G, group * BT * d);
    CARVE(r->mrows, group * (nsrc + 1));
    CARVE(r->scratch, threads * (size_t)max_T);
    CARVE(r->parts, threads * group * (nsrc + 1));
    r->n_part = (int)threads;
#undef CARVE
    if (!g) r->D_own = r->gsrc = NULL;
    r->D = r->D_own;
    ac__rope_inv_freq(r->inv_freq, c);
    *out = r;
    return AC_OK;
}

void ac_run_free(ac_run *r) {
    if (!r) return;
    ac_free_aligned(r->arena);
    ac_free(r->layers);
    ac_free(r->norm_stats);
    ac_free(r->ids);
    ac_free(r->mask);
    ac_free(r->pos);
    ac_free(r->active);
    ac_free(r);
}

size_t ac_run_arena_bytes(const ac_run *r) { return r->arena_floats * sizeof(float); }

/* ---- helpers ----------------------------------------------------------------------- */

static size_t bt_d(const ac_run *r) {
    return (size_t)r->B * (size_t)r->T * (size_t)r->m->cfg.d_model;
}

/* A source's output is ready: record it and form patch − current (or patch − base). */
static void emit_source(ac_run *r, const float *val, float *record, int src) {
    const size_t n = bt_d(r);
    if (record) memcpy(record + (size_t)src * n, val, n * sizeof(float));
    if (r->g && r->patch) {
        float *Ds = r->D + (size_t)src * n;
        const float *Ps = r->patch + (size_t)src * n;
        if (r->diff_base) val = r->diff_base + (size_t)src * n;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) Ds[i] = Ps[i] - val[i];
    }
}

void ac__run_deltas(ac_run *r, int dest0, int n, float *out) {
    const ac_graph *g = r->g;
    const int n_in = g->dests[dest0].n_in;
    const size_t BT = (size_t)r->B * (size_t)r->T, d = (size_t)r->m->cfg.d_model;
    const size_t off = g->dests[dest0].edge_offset;
    /* the destinations' sources: D rows src_begin .. src_begin+n_in-1 */
    const float *D = r->D + (size_t)g->dests[dest0].src_begin * BT * d;
    if (g->seq_len == 0 && !r->masks_per_row && n == 1) {
        /* one destination: out = Dᵀ·m reads D once, without sgemm's packing */
        cblas_sgemv(CblasRowMajor, CblasTrans, n_in, (int)(BT * d), 1.0f, D, (int)(BT * d), r->masks + off, 1,
                    0.0f, out, 1);
        return;
    }
    if (g->seq_len == 0 && !r->masks_per_row) {
        /* out[n, BT*d] = M[n, n_in] · D[n_in, BT*d]; M rows are contiguous in the masks */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)(BT * d), n_in, 1.0f,
                    r->masks + off, n_in, D, (int)(BT * d), 0.0f, out, (int)(BT * d));
        return;
    }
    if (g->seq_len == 0) {
        /* per-row masks: one GEMM per batch row over its T*d block */
        const size_t Td = (size_t)r->T * d;
        for (int b = 0; b < r->B; b++) {
            const size_t row = (size_t)b * Td;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)Td, n_in, 1.0f,
                        ac__run_mask_row(r, b) + off, n_in, D + row, (int)(BT * d), 0.0f, out + row,
                        (int)(BT * d));
        }
        return;
    }
    for (int t = 0; t < r->T; t++) {
        for (int b = 0; b < r->B; b++) {
            const float *M = ac__run_mask_row(r, b) + (size_t)(r->P + t) * g->n_edges_per_pos + off;
            const size_t row = ((size_t)b * (size_t)r->T + (size_t)t) * d;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)d, n_in, 1.0f, M,
                        n_in, D + row, (int)(BT * d), 0.0f, out + row, (int)(BT * d));
        }
    }
}

/* Residual graph: patch the residual stream x in place at destination `dest` (x += Σ m ·
 * (P − C)) when any of its masks is non-zero. */
static void patch_residual(ac_run *r, int dest, float *x) {
    if (dest < 0 || !r->active[dest]) return;
    const size_t n = bt_d(r);
    ac__run_deltas(r, dest, 1, r->delta);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] += r->delta[i];
}

/* Is any mask of destination `dest` non-zero (at any position this forward runs)? */
static int dest_is_active(const ac_run *r, int dest) {
    const ac_graph *g = r->g;
    const ac_dest_node *dn = &g->dests[dest];
    const int npos = g->seq_len > 0 ? g->seq_len : 1;
    const int nrows = r->masks_per_row ? r->B : 1;
    for (int b = 0; b < nrows; b++)
        for (int t = g->seq_len > 0 ? r->P : 0; t < npos; t++) {
            const float *M = ac__run_mask_row(r, b) + (size_t)t * g->n_edges_per_pos + dn->edge_offset;
            for (int s = 0; s < dn->n_in; s++)
                if (M[s] != 0.0f) return 1;
        }
    return 0;
}

/* Columns of the qkv row a destination writes: (first column, width, weight rows). */
static void dest_qkv_slice(const ac_run *r, const ac_dest_node *dn, int *col, const float **W,
                           const float **bias, const ac_layer_weights *lw) {
    const ac_config *c = &r->m->cfg;
    const int dh = c->d_head, H = c->n_head, Hkv = c->n_kv_head;
    const size_t d = (size_t)c->d_model;
    switch (dn->kind) {
    case AC_DEST_Q:
        *col = dn->head * dh;
        *W = lw->wq + (size_t)dn->head * (size_t)dh * d;
        *bias = lw->bq ? lw->bq + dn->head * dh : NULL;
        break;
    case AC_DEST_K:
        *col = H * dh + dn->head * dh;
        *W = lw->wk + (size_t)dn->head * (size_t)dh * d;
        *bias = lw->bk ? lw->bk + dn->head * dh : NULL;
        break;
    default: /* AC_DEST_V */
        *col = (H + Hkv) * dh + dn->head * dh;
        *W = lw->wv + (size_t)dn->head * (size_t)dh * d;
        *bias = lw->bv ? lw->bv + dn->head * dh : NULL;
        break;
    }
}

/* ---- forward ----------------------------------------------------------------------- */

int ac_run_forward(ac_run *r, const ac_tokens *in, const ac_forward_opts *o, ac_error *err) {
    const ac_model *m = r->m;
    const ac_config *c = &m->cfg;
    const ac_graph *g = r->g;
    r->have_forward = 0;
    if (in->B <= 0 || in->T <= 0 || in->B > r->max_B || in->T > r->max_T)
        return ac_error_set(err, AC_ERR_ARG, NULL, "forward: batch %d x %d exceeds the run's %d x %d",
                            in->B, in->T, r->max_B, r->max_T);
    if (o->masks && (!g || !o->patch))
        return ac_error_set(err, AC_ERR_ARG, NULL, "forward: edge masks need a graph and patch values");
    const ac_kv_cache *kv = o->prefix;
    const int P = kv ? kv->P : 0;
    if (kv && kv->m != m)
        return ac_error_set(err, AC_ERR_ARG, NULL, "forward: the prefix cache was built for another model");
    if (kv && P + in->T > r->max_T)
        return ac_error_set(err, AC_ERR_ARG, NULL,
                            "forward: a cached prefix of %d and %d tail tokens exceed the run's %d tokens",
                            P, in->T, r->max_T);
    if (o->last_only && o->logits_mode == AC_LOGITS_ALL)
        return ac_error_set(err, AC_ERR_ARG, NULL, "forward: last_only computes logits at the last position only");
    if (o->diff && (!g || o->partial))
        return ac_error_set(err, AC_ERR_ARG, NULL, "forward: a diff stack needs a graph and a full forward");
    if (g && g->seq_len > 0 && g->seq_len != P + in->T)
        return ac_error_set(err, AC_ERR_ARG, NULL,
                            "forward: the graph has edges for %d positions but the batch has %d",
                            g->seq_len, P + in->T);
    const int B = in->B, T = in->T;
    const size_t BT = (size_t)B * (size_t)T, d = (size_t)c->d_model;
    const int dh = c->d_head, H = c->n_head, Hkv = c->n_kv_head;
    const int partial = o->partial != 0;
    if (partial) {
        if (!r->forward_ok || B != r->B || T != r->T || o->patch != r->patch || o->diff_base != r->diff_base ||
            kv != r->kv || r->D != r->D_own || (o->last_only != 0) != r->last_only)
            return ac_error_set(err, AC_ERR_ARG, NULL,
                                "forward: a partial re-run needs a previous forward of the same batch and patch values");
        if (o->start_block < 0 || o->start_block > c->n_layer || (o->start_mlp && (c->attn_only || o->start_block == c->n_layer)))
            return ac_error_set(err, AC_ERR_ARG, NULL, "forward: invalid start block %d", o->start_block);
    }
    r->have_forward = 0;
    r->forward_ok = 0; /* until this forward completes */
    r->B = B;
    r->T = T;
    r->masks = o->masks;
    r->masks_per_row = o->masks && o->masks_per_row;
    r->patch = o->patch;
    r->diff_base = o->diff_base;
    r->kv = kv;
    r->P = P;
    r->logits_mode = o->logits_mode;
    r->last_only = o->last_only != 0;
    if (!partial) r->D = o->diff ? o->diff : r->D_own;

    /* inputs, padding mask and position ids (padding does not advance positions; tails
     * continue after the cached prefix) */
    for (int b = 0; b < B && !partial; b++) {
        int p = P;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * (size_t)T + (size_t)t;
            int32_t id = in->ids[i];
            uint8_t real = in->mask ? (in->mask[i] != 0) : 1;
            if (real && (id < 0 || id >= c->vocab_size))
                return ac_error_set(err, AC_ERR_RANGE, NULL,
                                    "forward: token id %d at batch %d position %d is outside the vocabulary (0..%d)",
                                    id, b, t, c->vocab_size - 1);
            r->ids[i] = (id >= 0 && id < c->vocab_size) ? id : 0;
            r->mask[i] = real;
            r->pos[i] = real ? p++ : 0;
        }
    }
    r->any_active = 0;
    if (g) {
        for (int dd = 0; dd < g->n_dest; dd++) {
            r->active[dd] = (uint8_t)(o->masks ? dest_is_active(r, dd) : 0);
            r->any_active |= r->active[dd];
        }
    }

    float *x = r->x;
    const int l0 = partial ? o->start_block : 0;
    if (partial) {
        const float *from = l0 == c->n_layer ? r->resid_final
                          : o->start_mlp     ? r->layers[l0].resid_mid
                                             : r->layers[l0].resid_pre;
        memcpy(x, from, BT * d * sizeof(float));
    } else if (o->embed) {
        memcpy(x, o->embed, BT * d * sizeof(float));
    }
    /* Resid Start: token (+ learned position) embedding */
#pragma omp parallel for schedule(static) if (BT > 64)
    for (size_t i = 0; i < BT; i++) {
        if (partial || o->embed) continue;
        const float *e = m->w.wte + (size_t)r->ids[i] * d;
        float *xr = x + i * d;
        if (m->w.wpe) {
            const float *pe = m->w.wpe + (size_t)r->pos[i] * d;
            for (size_t k = 0; k < d; k++) xr[k] = e[k] + pe[k];
        } else {
            memcpy(xr, e, d * sizeof(float));
        }
    }
    if (g && !partial) emit_source(r, x, o->record, 0);

    for (int l = l0; l < c->n_layer; l++) {
        const ac_layer_weights *lw = &m->w.layers[l];
        ac_layer_acts *a = &r->layers[l];
        if (partial && l == l0 && o->start_mlp) goto mlp;
        memcpy(a->resid_pre, x, BT * d * sizeof(float)); /* before any residual patch */
        if (g && g->residual && l > 0) {
            /* Resid Post l-1: the patched residual is block l's input and a source */
            patch_residual(r, g->resid_post_dest[l - 1], x);
            emit_source(r, x, o->record, g->resid_pre_src[l]);
        }

        /* --- attention: shared input for every unpatched destination --- */
        ac__norm_forward(r->tmp, x, lw->ln1_w, lw->ln1_b, (int)BT, (int)d, c->norm_eps, c->norm);
        ac__matmul_forward(a->qkv, r->qkv_w, r->tmp, (int)d, lw->wq, lw->bq, (int)BT, (int)d, r->qkv_w);
        if (g && r->any_active) {
            const int d0 = g->attn_dest_begin[l], d1 = g->attn_dest_end[l];
            int any = 0;
            for (int dd = d0; dd < d1; dd++) any |= r->active[dd];
            if (any) {
                ac__run_deltas(r, d0, d1 - d0, r->delta);
                for (int dd = d0; dd < d1; dd++) {
                    if (!r->active[dd]) continue;
                    const ac_dest_node *dn = &g->dests[dd];
                    float *inp = r->delta + (size_t)(dd - d0) * BT * d; /* becomes the input */
#pragma omp parallel for schedule(static) if (BT * d > 65536)
                    for (size_t i = 0; i < BT * d; i++) inp[i] += x[i];
                    ac__norm_forward(r->tmp2, inp, lw->ln1_w, lw->ln1_b, (int)BT, (int)d, c->norm_eps, c->norm);
                    if (dn->kind == AC_DEST_QKV) {
                        /* one input for q, k and v of head h */
                        const int h = dn->head;
                        ac__matmul_forward(a->qkv + h * dh, r->qkv_w, r->tmp2, (int)d, lw->wq + (size_t)h * (size_t)dh * d,
                                           lw->bq ? lw->bq + h * dh : NULL, (int)BT, (int)d, dh);
                        ac__matmul_forward(a->qkv + (H + h) * dh, r->qkv_w, r->tmp2, (int)d, lw->wk + (size_t)h * (size_t)dh * d,
                                           lw->bk ? lw->bk + h * dh : NULL, (int)BT, (int)d, dh);
                        ac__matmul_forward(a->qkv + (H + Hkv + h) * dh, r->qkv_w, r->tmp2, (int)d,
                                           lw->wv + (size_t)h * (size_t)dh * d, lw->bv ? lw->bv + h * dh : NULL,
                                           (int)BT, (int)d, dh);
                    } else {
                        int col;
                        const float *W, *bias;
                        dest_qkv_slice(r, dn, &col, &W, &bias, lw);
                        ac__matmul_forward(a->qkv + col, r->qkv_w, r->tmp2, (int)d, W, bias, (int)BT, (int)d, dh);
                    }
                }
            }
        }
        ac__rope_apply(a->qkv, r->qkv_w, r->pos, r->inv_freq, (int)BT, H, dh, c->pos, 0);
        ac__rope_apply(a->qkv + H * dh, r->qkv_w, r->pos, r->inv_freq, (int)BT, Hkv, dh, c->pos, 0);
        ac__attention_forward_kv(a->z, a->probs, a->qkv, r->qkv_w, r->mask, B, T, H, Hkv, dh,
                                 kv ? kv->kv + (size_t)l * (size_t)P * (size_t)kv->ld : NULL, P);

        /* --- per-head outputs (sources) into the residual, on the block's rows --- */
        const ac__row_set rs = ac__run_block_rows(r, l);
        const size_t zw = (size_t)H * (size_t)dh, zf = rs.first * zw, xf = rs.first * d;
        const int zs = (int)(rs.stride * zw), xs = (int)(rs.stride * d);
        if (g) {
            if (rs.stride > 1) memset(r->tmp, 0, BT * d * sizeof(float)); /* the other rows: 0 */
            for (int h = 0; h < H; h++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rs.n, (int)d, dh, 1.0f, a->z + zf + h * dh, zs,
                            lw->wo + h * dh, H * dh, 0.0f, r->tmp + xf, xs);
                emit_source(r, r->tmp, o->record, g->head_src[l] + h);
#pragma omp parallel for schedule(static) if (BT * d > 65536)
                for (size_t i = 0; i < BT * d; i++) x[i] += r->tmp[i];
            }
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rs.n, (int)d, H * dh, 1.0f, a->z + zf, zs, lw->wo,
                        H * dh, 1.0f, x + xf, xs);
        }
        if (lw->bo) {
#pragma omp parallel for schedule(static) if (BT > 64)
            for (size_t i = 0; i < BT; i++)
                for (size_t k = 0; k < d; k++) x[i * d + k] += lw->bo[k];
        }
        if (c->attn_only) continue;
    mlp:
        /* --- MLP --- */
        memcpy(a->resid_mid, x, BT * d * sizeof(float)); /* before any residual patch */
        if (g && g->residual) {
            patch_residual(r, g->resid_mid_dest[l], x);
            emit_source(r, x, o->record, g->resid_mid_src[l]);
        }
        const float *mlp_in = x;
        if (g && g->mlp_dest[l] >= 0 && r->active[g->mlp_dest[l]]) {
            ac__run_deltas(r, g->mlp_dest[l], 1, r->delta);
#pragma omp parallel for schedule(static) if (BT * d > 65536)
            for (size_t i = 0; i < BT * d; i++) r->delta[i] += x[i];
            mlp_in = r->delta;
        }
        const size_t hid = (size_t)c->d_mlp;
        const ac__row_set ms = ac__run_block_rows(r, l);
        const size_t hf = ms.first * hid, hs = ms.stride * hid, mf = ms.first * d, mstride = ms.stride * d;
        ac__norm_forward(r->tmp, mlp_in, lw->ln2_w, lw->ln2_b, (int)BT, (int)d, c->norm_eps, c->norm);
        ac__matmul_forward(a->hpre + hf, (int)hs, r->tmp + mf, (int)mstride, lw->w_fc, lw->b_fc, ms.n, (int)d,
                           (int)hid);
        if (c->gated_mlp) {
            ac__matmul_forward(a->up + hf, (int)hs, r->tmp + mf, (int)mstride, lw->w_up, NULL, ms.n, (int)d,
                               (int)hid);
            ac__gated_forward_rows(r->hact + hf, a->hpre + hf, a->up + hf, ms.n, hs, hid, c->act);
        } else {
            ac__act_forward_rows(r->hact + hf, a->hpre + hf, ms.n, hs, hid, c->act);
        }
        if (ms.stride > 1) memset(r->tmp, 0, BT * d * sizeof(float)); /* the other rows: 0 */
        ac__matmul_forward(r->tmp + mf, (int)mstride, r->hact + hf, (int)hs, lw->w_proj, lw->b_proj, ms.n, (int)hid,
                           (int)d);
        if (g) emit_source(r, r->tmp, o->record, g->mlp_src[l]);
#pragma omp parallel for schedule(static) if (BT * d > 65536)
        for (size_t i = 0; i < BT * d; i++) x[i] += r->tmp[i];
    }
    memcpy(r->resid_final, x, BT * d * sizeof(float));

    /* --- Resid End and the unembedding at the requested positions --- */
    if (o->logits_mode != AC_LOGITS_NONE) {
        const float *end_in = x;
        if (g && r->active[g->n_dest - 1]) {
            ac__run_deltas(r, g->n_dest - 1, 1, r->delta);
#pragma omp parallel for schedule(static) if (BT * d > 65536)
            for (size_t i = 0; i < BT * d; i++) r->delta[i] += x[i];
            end_in = r->delta;
        }
        int rows = o->logits_mode == AC_LOGITS_LAST ? B : (int)BT;
        for (int i = 0; i < rows; i++) {
            size_t src_row = o->logits_mode == AC_LOGITS_LAST ? (size_t)i * (size_t)T + (size_t)(T - 1) : (size_t)i;
            memcpy(r->tmp + (size_t)i * d, end_in + src_row * d, d * sizeof(float));
        }
        if (c->final_norm && c->norm != AC_NORM_NONE)
            ac__norm_forward(r->lrows, r->tmp, m->w.lnf_w, m->w.lnf_b, rows, (int)d, c->norm_eps, c->norm);
        else
            memcpy(r->lrows, r->tmp, (size_t)rows * d * sizeof(float));
        if (rows <= AC__FEW_ROWS)
            ac__matmul_forward_few(o->logits, c->vocab_size, r->lrows, (int)d, m->w.w_unembed, rows, (int)d,
                                   c->vocab_size);
        else
            ac__matmul_forward(o->logits, c->vocab_size, r->lrows, (int)d, m->w.w_unembed, NULL, rows,
                               (int)d, c->vocab_size);
    }
    r->have_forward = 1;
    r->forward_ok = 1;
    return AC_OK;
}
