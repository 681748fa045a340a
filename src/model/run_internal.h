/* Internal state of a run (activation arena with named pointers), shared by the
 * forward (run.c) and backward (backward.c). */
#ifndef AC_RUN_INTERNAL_H
#define AC_RUN_INTERNAL_H

#include "autocircuit/engine.h"
#include "model/model_internal.h"

typedef struct ac_layer_acts {
    float *resid_pre;  /* [BT, d] residual entering the block (residual graph: before the
                          Resid Post l-1 patch, i.e. that destination's normal value) */
    float *resid_mid;  /* [BT, d] residual after attention (NULL when attn_only; residual
                          graph: before the Resid Mid l patch) */
    float *qkv;        /* [BT, qkv_w] q | k | v after biases and RoPE */
    float *probs;      /* [B, H, T, T] attention probabilities */
    float *z;          /* [BT, H*dh] attention-weighted values */
    float *hpre;       /* [BT, d_mlp] MLP pre-activation (gate for gated MLPs) */
    float *up;         /* [BT, d_mlp] up projection (gated MLPs), else NULL */
} ac_layer_acts;

struct ac_run {
    const ac_model *m;
    const ac_graph *g;
    int max_B, max_T;
    int B, T;                /* shape of the last forward */
    int qkv_w;               /* (H + 2 Hkv) * dh */
    int max_group;           /* most destinations sharing one input set (a layer's attention) */
    /* the last forward's inputs */
    int32_t *ids;            /* [max_BT] */
    uint8_t *mask;           /* [max_BT] */
    int32_t *pos;            /* [max_BT] position ids */
    const float *masks;      /* borrowed edge masks ([B][n_edges] when masks_per_row) */
    int masks_per_row;       /* the forward's masks are per batch row */
    const float *patch;      /* borrowed patch stack */
    ac_logits_mode logits_mode;
    int last_only;           /* the forward's last_only: final block on last rows only */
    int have_forward;        /* the last forward succeeded and kept what backward needs */
    int forward_ok;          /* activations of a complete forward are cached (partial re-runs) */
    const float *diff_base;  /* borrowed; see ac_forward_opts */
    const ac_kv_cache *kv;   /* borrowed prefix cache of the last forward, or NULL */
    int P;                   /* its length (0 without a cache): per-position masks of tail
                                position t are those of position P + t */
    int any_active;
    uint8_t *active;         /* [n_dest]: destination has a non-zero mask */
    float *inv_freq;         /* [dh/2] */
    /* activations */
    ac_layer_acts *layers;   /* [n_layer] */
    float *x;                /* [BT, d] working residual */
    float *tmp;              /* [BT, d] */
    float *tmp2;             /* [BT, d] */
    float *resid_final;      /* [BT, d] */
    float *hact;             /* [BT, d_mlp] */
    float *ghid;             /* [BT, d_mlp] */
    float *gup;              /* [BT, d_mlp] */
    float *gqkv;             /* [BT, qkv_w] */
    float *gz;               /* [BT, H*dh] */
    float *gx;               /* [BT, d] */
    float *lrows;            /* [BT, d] rows fed to the unembedding */
    float *D;                /* [n_src][BT][d] patch − current, when a graph is attached:
                                D_own or the last forward's opts.diff */
    float *D_own;            /* the arena's stack for D */
    float *gsrc;             /* [n_src][BT][d] −Σ_dest m·G_dest per source */
    float *delta;            /* [max_group][BT][d] */
    float *G;                /* [max_group][BT][d] */
    float *mrows;            /* [max_group][n_src] gathered mask rows */
    float *scratch;          /* attention backward scratch, threads × T */
    float *parts;            /* [n_part][max_group][n_src]: per-thread partial mask
                                gradients of one destination group (backward.c) */
    int n_part;              /* threads the mask-gradient reduction splits into */
    double *norm_stats;      /* [2][max_BT] mean and 1/std of a layer's residual, shared
                                by its attention destinations' norm backwards */
    float *arena;
    size_t arena_floats;
};

/* A shared-prefix cache: keys and values of P positions for every layer. */
struct ac_kv_cache {
    const ac_model *m;
    int P;
    int ld;                  /* 2 * n_kv_head * d_head floats per position */
    int32_t *ids;            /* [P] */
    float *kv;               /* [n_layer][P][ld]: keys | values after RoPE */
};

/* The mask vector of batch row b: the shared one, or row b's with per-row masks. */
static inline const float *ac__run_mask_row(const ac_run *r, int b) {
    return r->masks + (r->masks_per_row ? (size_t)b * r->g->n_edges : 0);
}

/* Delta inputs Σ_s m[dest, s] (P_s − C_s) for `n` destinations dest0 .. dest0+n-1 that
 * share one source set: out[n][BT][d]. */
void ac__run_deltas(ac_run *r, int dest0, int n, float *out);

/* The rows block l runs its output projection and MLP on: all B*T (first row 0, row
 * stride 1) or, in the final block of a last_only forward, the B last-position rows
 * (first row T-1, stride T). Rows outside the set are not computed there. */
typedef struct ac__row_set {
    int n;
    size_t first, stride;
} ac__row_set;

static inline ac__row_set ac__run_block_rows(const ac_run *r, int l) {
    if (r->last_only && r->T > 1 && l == r->m->cfg.n_layer - 1)
        return (ac__row_set){.n = r->B, .first = (size_t)r->T - 1, .stride = (size_t)r->T};
    return (ac__row_set){.n = r->B * r->T, .first = 0, .stride = 1};
}

#endif
