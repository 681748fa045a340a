/* Explicit FLOP counts of the engine's work, for the benchmarks (bench_engine,
 * bench_algos) and their test (tests/test_bench_flops.c). Header-only.
 *
 * Convention: a multiply-add is 2 FLOPs, and only matrix products are counted (the
 * GEMMs and the attention score / weighted-value products). Norms, activations,
 * softmax, patch differences and copies are O(B·T·d) elementwise work and left out.
 * Counts follow what the engine executes (src/model/run.c, backward.c), not an ideal:
 *   - attention is causal and computed only for key <= query, so a batch of B prompts
 *     of T tokens (no padding) has P = B·T(T+1)/2 (query, key) pairs per head;
 *   - the backward computes input (activation) gradients only, no weight gradients;
 *   - a destination with a non-zero mask ("active") costs its delta input
 *     M[dests, n_in]·D[n_in, B·T·d] (computed for the whole group of destinations that
 *     share its sources: a layer's attention destinations, once any of them is active)
 *     and its private slice of W_Q / W_K / W_V, on top of the shared fused QKV GEMM.
 *
 * With N = B·T, d = d_model, H/Hkv query/key-value heads of width dh, m = d_mlp,
 * V = vocabulary, L = layers, R = rows unembedded (B for the last position, N for all):
 *   forward, one block   2·N·d·(H+2·Hkv)·dh      fused QKV projection
 *                      + 4·H·dh·P                 scores Q·Kᵀ and probabilities · V
 *                      + 2·N·H·dh·d               output projection
 *                      + 2·N·d·m·(gated ? 3 : 2)  MLP (attention-only models: 0)
 *   forward            L · block + 2·R·d·V (unembedding, when logits are asked for)
 *   backward, one block the same with 8·H·dh·P for attention (dP, dV, dQ, dK)
 *   backward           L · block + 2·R·d·V
 *   mask gradients     2·E·N·d with E = edges per position (one dot product of length
 *                      N·d — or B·d per position for per-position graphs — per edge)
 *   active destination 2·n_in·N·d for its delta (per destination of its group)
 *                      + 2·N·d·dh (3× for combined Q/K/V) for its private projection
 *                      and, in the backward, the same delta GEMM again (per group) to
 *                      rebuild its input plus 2·n_in·N·d to pass −m·G back to its sources.
 *   last_only forward   the final block's output projection and MLP on the B last-position
 *                      rows only: 2·B(T−1)·H·dh·d + the MLP of B(T−1) rows less; its
 *                      backward saves the same (acb_flops_last_only_saved).
 */
#ifndef AC_BENCH_FLOPS_H
#define AC_BENCH_FLOPS_H

#include <stddef.h>
#include <stdint.h>

#include "autocircuit/engine.h"
#include "autocircuit/graph.h"
#include "autocircuit/model.h"

/* Causal (query, key) pairs per head of B prompts of T tokens without padding. */
static inline double acb_attn_pairs(double B, double T) { return B * T * (T + 1.0) / 2.0; }

static inline double acb_qkv_width(const ac_config *c) {
    return (double)(c->n_head + 2 * c->n_kv_head) * (double)c->d_head;
}

/* Forward of the attention half of one block (fused QKV, attention, output proj). */
static inline double acb_flops_attn_forward(const ac_config *c, double B, double T) {
    const double N = B * T, d = c->d_model, dh = c->d_head, H = c->n_head;
    return 2.0 * N * d * acb_qkv_width(c) + 4.0 * H * dh * acb_attn_pairs(B, T) + 2.0 * N * H * dh * d;
}

/* Forward of the MLP half of one block. */
static inline double acb_flops_mlp_forward(const ac_config *c, double B, double T) {
    if (c->attn_only) return 0.0;
    return 2.0 * B * T * (double)c->d_model * (double)c->d_mlp * (c->gated_mlp ? 3.0 : 2.0);
}

static inline double acb_flops_block_forward(const ac_config *c, double B, double T) {
    return acb_flops_attn_forward(c, B, T) + acb_flops_mlp_forward(c, B, T);
}

/* Input-gradient backward of one block. */
static inline double acb_flops_block_backward(const ac_config *c, double B, double T) {
    const double dh = c->d_head, H = c->n_head;
    return acb_flops_block_forward(c, B, T) + 4.0 * H * dh * acb_attn_pairs(B, T);
}

static inline double acb_flops_unembed(const ac_config *c, double rows) {
    return 2.0 * rows * (double)c->d_model * (double)c->vocab_size;
}

/* Rows unembedded for a logits mode (0: last position, 1: all, 2: none). */
static inline double acb_logit_rows(int logits_mode, double B, double T) {
    return logits_mode == AC_LOGITS_LAST ? B : logits_mode == AC_LOGITS_ALL ? B * T : 0.0;
}

/* What a last_only forward (ac_forward_opts.last_only) leaves out, and its backward
 * again: the final block's output projection and MLP on the B·(T−1) rows off the last
 * position (0 for T = 1). `mlp_only`: a partial re-run starting at the final MLP. */
static inline double acb_flops_last_only_saved(const ac_config *c, double B, double T, int mlp_only) {
    if (T <= 1.0) return 0.0;
    const double off = B * (T - 1.0);
    return (mlp_only ? 0.0 : 2.0 * off * (double)c->n_head * (double)c->d_head * (double)c->d_model) +
           acb_flops_mlp_forward(c, B, T - 1.0);
}

/* A plain forward (no active destination). */
static inline double acb_flops_forward(const ac_config *c, double B, double T, int logits_mode) {
    return (double)c->n_layer * acb_flops_block_forward(c, B, T) +
           acb_flops_unembed(c, acb_logit_rows(logits_mode, B, T));
}

/* The backward of a forward with logits_mode (no active destination, no mask gradients). */
static inline double acb_flops_backward(const ac_config *c, double B, double T, int logits_mode) {
    return (double)c->n_layer * acb_flops_block_backward(c, B, T) +
           acb_flops_unembed(c, acb_logit_rows(logits_mode, B, T));
}

/* Edge-mask gradient reductions of one backward. */
static inline double acb_flops_mask_grad(const ac_graph *g, const ac_config *c, double B, double T) {
    return 2.0 * (double)g->n_edges_per_pos * B * T * (double)c->d_model;
}

/* Private projection of an active destination (its own W_Q/W_K/W_V slice). */
static inline double acb_flops_dest_proj(const ac_graph *g, const ac_config *c, int dest, double B, double T) {
    const ac_dest_node *dn = &g->dests[dest];
    const double one = 2.0 * B * T * (double)c->d_model * (double)c->d_head;
    switch (dn->kind) {
    case AC_DEST_Q:
    case AC_DEST_K:
    case AC_DEST_V:
        return one;
    case AC_DEST_QKV:
        return 3.0 * one;
    default:
        return 0.0;
    }
}

/* A forward that starts at block `start_block` (its MLP when start_mlp; start_block ==
 * n_layer: only Resid End and the unembedding; 0/0: a full forward) with destinations
 * `active` (uint8 per destination, NULL: none) — the work of one ac_run_forward. */
static inline double acb_flops_forward_run(const ac_config *c, const ac_graph *g, double B, double T,
                                           int logits_mode, int start_block, int start_mlp,
                                           const uint8_t *active) {
    const double N = B * T, d = c->d_model;
    double f = 0.0;
    for (int l = start_block; l < c->n_layer; l++) {
        if (!(l == start_block && start_mlp)) {
            f += acb_flops_attn_forward(c, B, T);
            if (g && active) {
                const int d0 = g->attn_dest_begin[l], d1 = g->attn_dest_end[l];
                int any = 0;
                for (int k = d0; k < d1; k++) any |= active[k] != 0;
                if (any) {
                    f += 2.0 * (double)(d1 - d0) * (double)g->dests[d0].n_in * N * d;
                    for (int k = d0; k < d1; k++)
                        if (active[k]) f += acb_flops_dest_proj(g, c, k, B, T);
                }
            }
        }
        if (c->attn_only) continue;
        f += acb_flops_mlp_forward(c, B, T);
        if (g && active && active[g->mlp_dest[l]]) f += 2.0 * (double)g->dests[g->mlp_dest[l]].n_in * N * d;
    }
    const double rows = acb_logit_rows(logits_mode, B, T);
    if (rows > 0) {
        f += acb_flops_unembed(c, rows);
        if (g && active && active[g->n_dest - 1]) f += 2.0 * (double)g->dests[g->n_dest - 1].n_in * N * d;
    }
    return f;
}

/* The backward of a full forward with destinations `active` (NULL: none), with edge-mask
 * gradients when `mask_grad` (the per-destination reductions run whenever a graph has
 * mask gradients or active destinations). */
static inline double acb_flops_backward_run(const ac_config *c, const ac_graph *g, double B, double T,
                                            int logits_mode, const uint8_t *active, int mask_grad) {
    const double N = B * T, d = c->d_model;
    double f = acb_flops_backward(c, B, T, logits_mode);
    if (!g) return f;
    int any_active = 0;
    if (active)
        for (int k = 0; k < g->n_dest; k++) any_active |= active[k] != 0;
    const double per_reduce = (mask_grad ? 1.0 : 0.0) + (any_active ? 1.0 : 0.0);
    for (int k = 0; k < g->n_dest; k++)
        f += per_reduce * 2.0 * (double)g->dests[k].n_in * N * d; /* mask gradients, −m·G to sources */
    if (!any_active) return f;
    /* rebuild the active destinations' inputs as the forward did: per attention group
     * (all of it once one is active), per MLP, Resid End */
    for (int l = 0; l < c->n_layer; l++) {
        const int d0 = g->attn_dest_begin[l], d1 = g->attn_dest_end[l];
        int any = 0;
        for (int k = d0; k < d1; k++) any |= active[k] != 0;
        if (any) f += 2.0 * (double)(d1 - d0) * (double)g->dests[d0].n_in * N * d;
        if (!c->attn_only && active[g->mlp_dest[l]]) f += 2.0 * (double)g->dests[g->mlp_dest[l]].n_in * N * d;
    }
    if (active[g->n_dest - 1]) f += 2.0 * (double)g->dests[g->n_dest - 1].n_in * N * d;
    return f;
}

#endif /* AC_BENCH_FLOPS_H */
