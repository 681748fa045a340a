/* Internal model layout shared by the loaders, kernels and the forward/backward. */
#ifndef AC_MODEL_INTERNAL_H
#define AC_MODEL_INTERNAL_H

#include "autocircuit/model.h"

/* Per-layer weights: named pointers into the model's arena. Matrices are [out, in]
 * row-major. Pointers are NULL where the architecture has no such tensor. */
typedef struct ac_layer_weights {
    float *ln1_w, *ln1_b; /* [d_model]; ln1_b NULL for RMSNorm */
    float *wq;            /* [n_head*d_head, d_model] */
    float *wk, *wv;       /* [n_kv_head*d_head, d_model] */
    float *bq;            /* [n_head*d_head] or NULL */
    float *bk, *bv;       /* [n_kv_head*d_head] or NULL */
    float *wo;            /* [d_model, n_head*d_head] */
    float *bo;            /* [d_model] or NULL */
    float *ln2_w, *ln2_b; /* [d_model]; NULL when attn_only */
    float *w_fc;          /* [d_mlp, d_model]: GPT-2 c_fc, or Llama gate_proj (w1) */
    float *b_fc;          /* [d_mlp] or NULL */
    float *w_up;          /* [d_mlp, d_model]: Llama up_proj (w3); NULL unless gated */
    float *w_proj;        /* [d_model, d_mlp]: GPT-2 c_proj, or Llama down_proj (w2) */
    float *b_proj;        /* [d_model] or NULL */
} ac_layer_weights;

typedef struct ac_weights {
    float *wte;           /* [vocab_size, d_model] token embedding */
    float *wpe;           /* [n_ctx, d_model] learned positions, or NULL */
    ac_layer_weights *layers; /* [n_layer] */
    float *lnf_w, *lnf_b; /* [d_model]; lnf_b NULL for RMSNorm; both NULL if !final_norm */
    float *w_unembed;     /* [vocab_size, d_model]; == wte when tied */
} ac_weights;

struct ac_model {
    ac_config cfg;
    ac_weights w;
    float *arena;         /* one contiguous block holding every weight */
    size_t arena_floats;
    char path[1024];
};

#endif
