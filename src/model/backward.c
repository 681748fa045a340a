/* Backward pass: gradients of a scalar loss to every destination input and edge mask.
 *
 * Walks the network top-down. Each destination's input gradient G_dest is reduced into
 * edge-mask gradients right away (one GEMM per group of destinations that share their
 * sources: ∂L/∂m[dest, s] = <P_s − C_s, G_dest>), so no more than one layer's
 * destination gradients are ever held. When masks are non-zero the current source
 * outputs C_s also feed destinations through −m·C_s; those contributions are gathered
 * per source in `gsrc` and added when the backward reaches the source. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "model/ops.h"
#include "model/run_internal.h"

/* Mask gradients, source-gradient contributions and callbacks for the n destinations
 * dest0 .. dest0+n-1 (sharing one source set) whose input gradients are G[n][BT][d]. */
static void reduce_dest_grads(ac_run *r, const ac_backward_opts *o, int dest0, int n, const float *G) {
    const ac_graph *g = r->g;
    const int n_in = g->dests[dest0].n_in;
    const size_t BT = (size_t)r->B * (size_t)r->T, d = (size_t)r->m->cfg.d_model;
    const size_t off = g->dests[dest0].edge_offset;
    const int N = (int)(BT * d);
    const size_t Td = (size_t)r->T * d;
    /* the destinations' sources: rows src_begin .. src_begin+n_in-1 of the stacks */
    const size_t s0 = (size_t)g->dests[dest0].src_begin * BT * d;
    const float *D = r->D + s0;
    float *gsrc = r->gsrc + s0;
    const size_t grow = r->masks_per_row ? g->n_edges : 0; /* per-row gradient stride */
    if (o->mask_grad) {
        const int nt = r->n_part < omp_get_max_threads() ? r->n_part : omp_get_max_threads();
        if (g->seq_len == 0 && !r->masks_per_row && n == 1 && nt <= 1) {
            /* one destination: a matrix-vector product reads D once, without the packing
             * a one-row sgemm pays for */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n_in, N, 1.0f, D, N, G, 1, 1.0f, o->mask_grad + off, 1);
        } else if (g->seq_len == 0 && !r->masks_per_row) {
            /* mask_grad[n, n_in] += G[n, N] · D[n_in, N]ᵀ: tiny output, huge inner
             * dimension. A threaded sgemm synchronises its threads at every inner block;
             * instead each thread reduces its own slice of the inner dimension
             * single-threaded into a partial block, and the partials are added in thread
             * order (deterministic for a given thread count). */
            if (nt <= 1) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n_in, N, 1.0f, G, N, D, N, 1.0f,
                            o->mask_grad + off, n_in);
            } else {
                const size_t blk = (size_t)n * (size_t)n_in;
#pragma omp parallel num_threads(nt)
                {
                    const int t = omp_get_thread_num(), nth = omp_get_num_threads();
                    /* slices aligned to 16 floats */
                    const size_t per = (((size_t)N + (size_t)nth - 1) / (size_t)nth + 15u) & ~(size_t)15u;
                    const size_t k0 = (size_t)t * per < (size_t)N ? (size_t)t * per : (size_t)N;
                    const size_t k1 = k0 + per < (size_t)N ? k0 + per : (size_t)N;
                    float *part = r->parts + (size_t)t * blk;
                    if (k1 > k0 && n == 1) /* sgemv: no packing for one destination */
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, n_in, (int)(k1 - k0), 1.0f, D + k0, N, G + k0, 1, 0.0f,
                                    part, 1);
                    else if (k1 > k0)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n_in, (int)(k1 - k0), 1.0f, G + k0, N,
                                    D + k0, N, 0.0f, part, n_in);
                    else
                        memset(part, 0, blk * sizeof(float));
#pragma omp barrier
#pragma omp for schedule(static)
                    for (size_t i = 0; i < blk; i++) {
                        float acc = 0.0f;
                        for (int q = 0; q < nth; q++) acc += r->parts[(size_t)q * blk + i];
                        o->mask_grad[off + i] += acc; /* rows of n_in, contiguous */
                    }
                }
            }
        } else if (g->seq_len == 0) {
            for (int b = 0; b < r->B; b++) {
                const size_t row = (size_t)b * Td;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n_in, (int)Td, 1.0f, G + row, N,
                            D + row, N, 1.0f, o->mask_grad + (size_t)b * grow + off, n_in);
            }
        } else {
            for (int t = 0; t < r->T; t++) {
                for (int b = 0; b < r->B; b++) {
                    float *Mg = o->mask_grad + (size_t)b * grow + (size_t)(r->P + t) * g->n_edges_per_pos + off;
                    const size_t row = ((size_t)b * (size_t)r->T + (size_t)t) * d;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n_in, (int)d, 1.0f,
                                G + row, N, D + row, N, 1.0f, Mg, n_in);
                }
            }
        }
    }
    if (r->any_active) {
        if (g->seq_len == 0 && !r->masks_per_row && n == 1) {
            cblas_sger(CblasRowMajor, n_in, N, -1.0f, r->masks + off, 1, G, 1, gsrc, N);
        } else if (g->seq_len == 0 && !r->masks_per_row) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_in, N, n, -1.0f, r->masks + off,
                        n_in, G, N, 1.0f, gsrc, N);
        } else if (g->seq_len == 0) {
            for (int b = 0; b < r->B; b++) {
                const size_t row = (size_t)b * Td;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_in, (int)Td, n, -1.0f,
                            ac__run_mask_row(r, b) + off, n_in, G + row, N, 1.0f, gsrc + row, N);
            }
        } else {
            for (int t = 0; t < r->T; t++) {
                for (int b = 0; b < r->B; b++) {
                    const float *M = ac__run_mask_row(r, b) + (size_t)(r->P + t) * g->n_edges_per_pos + off;
                    const size_t row = ((size_t)b * (size_t)r->T + (size_t)t) * d;
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_in, (int)d, n, -1.0f, M,
                                n_in, G + row, N, 1.0f, gsrc + row, N);
                }
            }
        }
    }
    if (o->dest_grad)
        for (int i = 0; i < n; i++) o->dest_grad(o->dest_grad_ctx, dest0 + i, G + (size_t)i * BT * d);
}

/* The input of destination `dest` (resid + delta when active) into buf; returns the
 * pointer to use (resid itself when inactive). */
static const float *dest_input(ac_run *r, int dest, const float *resid, float *buf) {
    if (!r->g || !r->active[dest]) return resid;
    const size_t n = (size_t)r->B * (size_t)r->T * (size_t)r->m->cfg.d_model;
    ac__run_deltas(r, dest, 1, buf);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) buf[i] += resid[i];
    return buf;
}

/* The inputs of a group of destinations dest0 .. dest0+k-1 sharing one source set, as
 * the forward built them: one delta GEMM for the whole group (not one pass over the
 * source stack per destination), then resid added for the active ones, into
 * buf[k][BT][d]. Inactive destinations' slots are left unused (their input is resid). */
static void group_inputs(ac_run *r, int dest0, int k, const float *resid, float *buf) {
    int any = 0;
    for (int i = 0; i < k; i++) any |= r->active[dest0 + i];
    if (!any) return;
    const size_t n = (size_t)r->B * (size_t)r->T * (size_t)r->m->cfg.d_model;
    ac__run_deltas(r, dest0, k, buf);
    for (int i = 0; i < k; i++) {
        if (!r->active[dest0 + i]) continue;
        float *bi = buf + (size_t)i * n;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t j = 0; j < n; j++) bi[j] += resid[j];
    }
}

static void add_into(float *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* MLP of block l: from the gradient at its output (gout, [BT, d]) to the gradient at the
 * output of its norm, returned in r->tmp2 (scratch: ghid, hact, gup). */
static const float *mlp_backward_to_norm(ac_run *r, int l, const float *gout) {
    const ac_config *c = &r->m->cfg;
    const ac_layer_weights *lw = &r->m->w.layers[l];
    const ac_layer_acts *a = &r->layers[l];
    const size_t BT = (size_t)r->B * (size_t)r->T, d = (size_t)c->d_model, hid = (size_t)c->d_mlp;
    /* the block's rows (a last_only forward's final block: the last positions; the
     * gradient is zero at the others) */
    const ac__row_set rs = ac__run_block_rows(r, l);
    const size_t hf = rs.first * hid, hs = rs.stride * hid, xf = rs.first * d, xs = rs.stride * d;
    /* d loss / d hact into hact (free during the backward), then d loss / d hpre (and
     * up) into ghid */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rs.n, (int)hid, (int)d, 1.0f, gout + xf, (int)xs,
                lw->w_proj, (int)hid, 0.0f, r->hact + hf, (int)hs);
    memset(r->ghid, 0, BT * hid * sizeof(float));
    float *gxn = r->tmp2;
    memset(gxn, 0, BT * d * sizeof(float));
    if (c->gated_mlp) {
        memset(r->gup, 0, BT * hid * sizeof(float));
        ac__gated_backward_rows(r->ghid + hf, r->gup + hf, r->hact + hf, a->hpre + hf, a->up + hf, rs.n, hs, hid,
                                c->act);
        ac__matmul_backward_input(gxn + xf, (int)xs, r->gup + hf, (int)hs, lw->w_up, rs.n, (int)d, (int)hid);
    } else {
        ac__act_backward_rows(r->ghid + hf, r->hact + hf, a->hpre + hf, rs.n, hs, hid, c->act);
    }
    ac__matmul_backward_input(gxn + xf, (int)xs, r->ghid + hf, (int)hs, lw->w_fc, rs.n, (int)d, (int)hid);
    return gxn;
}

/* Attention of block l: from the residual gradient r->gx (plus, with active masks, each
 * head's gathered −m·G contributions) at the head outputs to r->gqkv, the gradient of
 * q | k | v before RoPE. */
static void attn_backward_to_qkv(ac_run *r, int l) {
    const ac_config *c = &r->m->cfg;
    const ac_graph *g = r->g;
    const ac_layer_weights *lw = &r->m->w.layers[l];
    const ac_layer_acts *a = &r->layers[l];
    const int dh = c->d_head, H = c->n_head, Hkv = c->n_kv_head;
    const size_t BT = (size_t)r->B * (size_t)r->T, d = (size_t)c->d_model, n = BT * d;
    memset(r->gz, 0, BT * (size_t)H * (size_t)dh * sizeof(float));
    /* the rows the forward ran the output projection on (the gradient is zero at others) */
    const ac__row_set rs = ac__run_block_rows(r, l);
    const size_t zw = (size_t)H * (size_t)dh, zf = rs.first * zw, xf = rs.first * d;
    const int zs = (int)(rs.stride * zw), xs = (int)(rs.stride * d);
    if (g && r->any_active) {
        for (int h = 0; h < H; h++) {
            const float *gs = r->gsrc + (size_t)(g->head_src[l] + h) * n;
            for (size_t i = 0; i < n; i++) r->tmp[i] = r->gx[i] + gs[i];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rs.n, dh, (int)d, 1.0f, r->tmp + xf, xs,
                        lw->wo + h * dh, H * dh, 1.0f, r->gz + zf + h * dh, zs);
        }
    } else {
        ac__matmul_backward_input(r->gz + zf, zs, r->gx + xf, xs, lw->wo, rs.n, H * dh, (int)d);
    }
    memset(r->gqkv, 0, BT * (size_t)r->qkv_w * sizeof(float));
    ac__attention_backward_kv(r->gqkv, r->scratch, r->gz, a->probs, a->qkv, r->qkv_w, r->B, r->T, H, Hkv, dh,
                              r->kv ? r->kv->kv + (size_t)l * (size_t)r->P * (size_t)r->kv->ld : NULL, r->P);
    ac__rope_apply(r->gqkv, r->qkv_w, r->pos, r->inv_freq, (int)BT, H, dh, c->pos, 1);
    ac__rope_apply(r->gqkv + H * dh, r->qkv_w, r->pos, r->inv_freq, (int)BT, Hkv, dh, c->pos, 1);
}

/* One shared attention input ln_in (no per-head destinations): gin += d loss / d ln_in
 * through LN1 and the fused Q/K/V projection. */
static void attn_input_backward(ac_run *r, int l, const float *ln_in, float *gin) {
    const ac_config *c = &r->m->cfg;
    const ac_layer_weights *lw = &r->m->w.layers[l];
    const size_t BT = (size_t)r->B * (size_t)r->T, d = (size_t)c->d_model;
    float *gxn = r->tmp2;
    memset(gxn, 0, BT * d * sizeof(float));
    ac__matmul_backward_input(gxn, (int)d, r->gqkv, r->qkv_w, lw->wq, (int)BT, (int)d, r->qkv_w);
    ac__norm_backward(gin, gxn, ln_in, lw->ln1_w, (int)BT, (int)d, c->norm_eps, c->norm);
}

/* The layers of the residual graph, top-down. On entry r->gx is the gradient at Resid
 * End's value. A residual destination's value v = raw + Σ m (P − C) is read by the rest
 * of the network (its gradient flows on to raw unchanged) and, as a source, by the next
 * residual destination through −m·v (gsrc); its gradient G is complete once both are in
 * r->gx, and is then reduced into mask gradients. */
static void backward_residual(ac_run *r, const ac_backward_opts *o, int per_dest) {
    const ac_config *c = &r->m->cfg;
    const ac_graph *g = r->g;
    const size_t n = (size_t)r->B * (size_t)r->T * (size_t)c->d_model, BT = (size_t)r->B * (size_t)r->T;
    const int d = c->d_model;
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const ac_layer_weights *lw = &r->m->w.layers[l];
        const ac_layer_acts *a = &r->layers[l];
        /* r->gx: gradient at block l's output before the Resid Post l patch */
        if (!c->attn_only) {
            /* resid_post = mid + mlp(mid): the MLP, then Resid Mid l */
            const float *gout = r->gx;
            if (r->any_active) {
                const float *gs = r->gsrc + (size_t)g->mlp_src[l] * n;
                for (size_t i = 0; i < n; i++) r->tmp[i] = r->gx[i] + gs[i];
                gout = r->tmp;
            }
            const float *gxn = mlp_backward_to_norm(r, l, gout);
            const float *mid = dest_input(r, g->resid_mid_dest[l], a->resid_mid, r->delta);
            ac__norm_backward(r->gx, gxn, mid, lw->ln2_w, (int)BT, d, c->norm_eps, c->norm);
            if (r->any_active) add_into(r->gx, r->gsrc + (size_t)g->resid_mid_src[l] * n, n);
            if (per_dest) reduce_dest_grads(r, o, g->resid_mid_dest[l], 1, r->gx);
        }
        /* mid = pre + Σ heads(pre) + b_O: the heads, then the block's input */
        attn_backward_to_qkv(r, l);
        const float *pre = l > 0 ? dest_input(r, g->resid_post_dest[l - 1], a->resid_pre, r->delta) : a->resid_pre;
        attn_input_backward(r, l, pre, r->gx);
        if (l == 0) break; /* Resid Start: no destination, embeddings get no gradient */
        if (r->any_active) add_into(r->gx, r->gsrc + (size_t)g->resid_pre_src[l] * n, n);
        if (per_dest) reduce_dest_grads(r, o, g->resid_post_dest[l - 1], 1, r->gx);
    }
}

/* dst += src[0] + src[1] + ... + src[k-1] (blocks of n floats, stride n), added in that
 * order: the same result as k add_into calls, in one pass over dst. */
static void add_blocks_into(float *dst, const float *src, int k, size_t n) {
    const size_t chunk = 2048; /* dst chunk stays in L1 while the k blocks stream by */
    const size_t n_chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n * (size_t)k > 65536)
    for (size_t c = 0; c < n_chunks; c++) {
        const size_t i0 = c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
        float *dc = dst + i0;
        for (int j = 0; j < k; j++) {
            const float *sc = src + (size_t)j * n + i0;
#pragma omp simd
            for (size_t i = 0; i < i1 - i0; i++) dc[i] += sc[i];
        }
    }
}

int ac_run_backward(ac_run *r, const ac_backward_opts *o, ac_error *err) {
    const ac_model *m = r->m;
    const ac_config *c = &m->cfg;
    const ac_graph *g = r->g;
    if (!r->have_forward) return ac_error_set(err, AC_ERR_ARG, NULL, "backward: no forward pass to differentiate");
    if (r->logits_mode == AC_LOGITS_NONE || !o->dlogits)
        return ac_error_set(err, AC_ERR_ARG, NULL, "backward: the forward computed no logits");
    if (o->mask_grad && (!g || !r->patch))
        return ac_error_set(err, AC_ERR_ARG, NULL, "backward: mask gradients need a graph and the forward's patch values");
    const int B = r->B, T = r->T;
    const size_t BT = (size_t)B * (size_t)T, d = (size_t)c->d_model, n = BT * d;
    const int dh = c->d_head, H = c->n_head, Hkv = c->n_kv_head;
    const int per_dest = g && (o->mask_grad || o->dest_grad || r->any_active);
    if (g && r->any_active) memset(r->gsrc, 0, (size_t)g->n_src * n * sizeof(float));

    /* --- unembedding and final norm → gradient at Resid End's input --- */
    const int rows = r->logits_mode == AC_LOGITS_LAST ? B : (int)BT;
    memset(r->tmp, 0, (size_t)rows * d * sizeof(float));
    if (rows <= AC__FEW_ROWS)
        ac__matmul_backward_input_few(r->tmp, (int)d, o->dlogits, c->vocab_size, m->w.w_unembed, rows, (int)d,
                                      c->vocab_size);
    else
        ac__matmul_backward_input(r->tmp, (int)d, o->dlogits, c->vocab_size, m->w.w_unembed, rows, (int)d,
                                  c->vocab_size);
    /* scatter rows into a full [BT, d] gradient */
    float *gend = r->gx; /* the residual gradient starts as Resid End's input gradient */
    memset(gend, 0, n * sizeof(float));
    const int end_dest = g ? g->n_dest - 1 : -1;
    const float *end_in = g ? dest_input(r, end_dest, r->resid_final, r->tmp2) : r->resid_final;
    for (int i = 0; i < rows; i++) {
        size_t row = r->logits_mode == AC_LOGITS_LAST ? (size_t)i * (size_t)T + (size_t)(T - 1) : (size_t)i;
        if (c->final_norm && c->norm != AC_NORM_NONE)
            ac__norm_backward(gend + row * d, r->tmp + (size_t)i * d, end_in + row * d, m->w.lnf_w, 1,
                              (int)d, c->norm_eps, c->norm);
        else
            add_into(gend + row * d, r->tmp + (size_t)i * d, d);
    }
    if (per_dest) reduce_dest_grads(r, o, end_dest, 1, gend);

    if (g && g->residual) {
        backward_residual(r, o, per_dest);
        return AC_OK;
    }

    for (int l = c->n_layer - 1; l >= 0; l--) {
        const ac_layer_weights *lw = &m->w.layers[l];
        ac_layer_acts *a = &r->layers[l];

        /* --- MLP --- */
        if (!c->attn_only) {
            const float *gout = r->gx;
            if (g && r->any_active) {
                float *gs = r->gsrc + (size_t)g->mlp_src[l] * n;
                for (size_t i = 0; i < n; i++) r->tmp[i] = r->gx[i] + gs[i];
                gout = r->tmp;
            }
            const float *gxn = mlp_backward_to_norm(r, l, gout);
            const int md = g ? g->mlp_dest[l] : -1;
            const float *mlp_in = g ? dest_input(r, md, a->resid_mid, r->delta) : a->resid_mid;
            float *Gm = r->G;
            memset(Gm, 0, n * sizeof(float));
            ac__norm_backward(Gm, gxn, mlp_in, lw->ln2_w, (int)BT, (int)d, c->norm_eps, c->norm);
            if (per_dest) reduce_dest_grads(r, o, md, 1, Gm);
            add_into(r->gx, Gm, n);
        }

        /* --- attention: gradient at each head's output → q, k, v --- */
        attn_backward_to_qkv(r, l);

        if (!per_dest) {
            attn_input_backward(r, l, a->resid_pre, r->gx);
            continue;
        }
        const int d0 = g->attn_dest_begin[l], d1 = g->attn_dest_end[l];
        if (r->any_active) group_inputs(r, d0, d1 - d0, a->resid_pre, r->delta);
        /* the inactive destinations all read resid_pre: its norm statistics once */
        int any_inactive = 0;
        for (int dd = d0; dd < d1; dd++) any_inactive |= !r->active[dd];
        double *mean = r->norm_stats, *rstd = r->norm_stats + BT;
        if (any_inactive) ac__norm_stats(mean, rstd, a->resid_pre, (int)BT, (int)d, c->norm_eps, c->norm);
        for (int dd = d0; dd < d1; dd++) {
            const ac_dest_node *dn = &g->dests[dd];
            float *gxn = r->tmp2;
            const size_t sd = (size_t)dh * d;
            if (dn->kind == AC_DEST_QKV) {
                const int h = dn->head;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, (int)d, dh, 1.0f, r->gqkv + h * dh,
                            r->qkv_w, lw->wq + (size_t)h * sd, (int)d, 0.0f, gxn, (int)d);
                ac__matmul_backward_input(gxn, (int)d, r->gqkv + (H + h) * dh, r->qkv_w, lw->wk + (size_t)h * sd, (int)BT, (int)d, dh);
                ac__matmul_backward_input(gxn, (int)d, r->gqkv + (H + Hkv + h) * dh, r->qkv_w, lw->wv + (size_t)h * sd,
                                          (int)BT, (int)d, dh);
            } else {
                int col = dn->kind == AC_DEST_Q ? dn->head * dh
                        : dn->kind == AC_DEST_K ? (H + dn->head) * dh
                                                : (H + Hkv + dn->head) * dh;
                const float *W = dn->kind == AC_DEST_Q ? lw->wq : dn->kind == AC_DEST_K ? lw->wk : lw->wv;
                /* gxn = g_slice · W_slice (overwrites: no zeroing pass) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, (int)d, dh, 1.0f, r->gqkv + col,
                            r->qkv_w, W + (size_t)dn->head * sd, (int)d, 0.0f, gxn, (int)d);
            }
            float *Gd = r->G + (size_t)(dd - d0) * n;
            if (r->active[dd]) {
                memset(Gd, 0, n * sizeof(float));
                ac__norm_backward(Gd, gxn, r->delta + (size_t)(dd - d0) * n, lw->ln1_w, (int)BT, (int)d,
                                  c->norm_eps, c->norm);
            } else {
                ac__norm_backward_stats(Gd, 1, gxn, a->resid_pre, lw->ln1_w, mean, rstd, (int)BT, (int)d, c->norm);
            }
        }
        reduce_dest_grads(r, o, d0, d1 - d0, r->G);
        add_blocks_into(r->gx, r->G, d1 - d0, n);
    }
    return AC_OK;
}
