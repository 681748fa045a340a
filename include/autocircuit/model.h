/* autocircuit — transformer models: configuration, loading, saving.
 *
 * One model type covers the GPT-2 family (LayerNorm, learned positions, GELU MLP,
 * optional attention-only) and the Llama family (RMSNorm, RoPE, SwiGLU, grouped-query
 * attention). Weights live in one contiguous fp32 arena owned by the model; every
 * matrix is stored row-major as [out, in] (nn.Linear convention) whatever the file's
 * layout was.
 */
#ifndef AUTOCIRCUIT_MODEL_H
#define AUTOCIRCUIT_MODEL_H

#include "autocircuit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AC_ARCH_GPT2 = 0, AC_ARCH_LLAMA = 1 } ac_arch;
typedef enum { AC_NORM_LAYERNORM = 0, AC_NORM_RMSNORM = 1, AC_NORM_NONE = 2 } ac_norm_kind;
typedef enum {
    AC_POS_LEARNED = 0,          /* GPT-2 wpe */
    AC_POS_ROPE_INTERLEAVED = 1, /* llama2.c: dims (2i, 2i+1) rotate together */
    AC_POS_ROPE_HALF = 2,        /* Hugging Face: dims (i, i + d_head/2) rotate together */
    AC_POS_NONE = 3
} ac_pos_kind;
typedef enum {
    AC_ACT_GELU_NEW = 0, /* tanh approximation (GPT-2 "gelu_new") */
    AC_ACT_GELU = 1,     /* exact erf GELU */
    AC_ACT_RELU = 2,
    AC_ACT_SILU = 3      /* SwiGLU gate: w_down(silu(w_gate x) * w_up x) */
} ac_act_kind;

/* Model configuration. All sizes are validated by ac_config_validate. */
typedef struct ac_config {
    ac_arch arch;
    int n_layer;
    int n_head;      /* query heads */
    int n_kv_head;   /* key/value heads (== n_head unless grouped-query attention) */
    int d_model;
    int d_head;
    int d_mlp;       /* hidden width of the MLP (0 when attn_only) */
    int vocab_size;
    int n_ctx;       /* maximum sequence length */
    float norm_eps;
    ac_norm_kind norm;
    ac_pos_kind pos;
    ac_act_kind act;
    int gated_mlp;   /* 1: SwiGLU-style (gate, up, down); 0: fc -> act -> proj */
    int attn_only;   /* 1: no MLP sublayers */
    int tied_embeddings; /* unembedding == token embedding */
    int attn_bias;   /* Q/K/V biases present */
    int out_bias;    /* attention output bias b_O present */
    int mlp_bias;    /* MLP biases present */
    int final_norm;  /* 1: ln_f / norm before the unembedding (0 only for compiled models) */
    float rope_theta;
    /* "llama3" RoPE scaling; rope_scaling_factor == 0 means none */
    float rope_scaling_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_pos;
    int bos_id, eos_id; /* -1 when unknown */
} ac_config;

/* Fill `cfg` with the defaults of an architecture (GPT-2: LayerNorm, learned positions,
 * gelu_new, biases, tied; Llama: RMSNorm, half RoPE, SiLU-gated, no biases, untied).
 * Sizes are left 0 for the caller. */
void ac_config_defaults(ac_config *cfg, ac_arch arch);

/* Check sizes and consistency (positive sizes, n_head % n_kv_head == 0, sizes small
 * enough that every weight count fits in size_t and int). Returns AC_OK or
 * AC_ERR_FORMAT with `err->file` = `source` (may be NULL) and the offending key. */
int ac_config_validate(const ac_config *cfg, const char *source, ac_error *err);

/* Number of fp32 parameters the arena of this config holds. 0 if it overflows. */
size_t ac_config_param_count(const ac_config *cfg);

typedef struct ac_model ac_model;

/* Allocate a model with zeroed weights for `cfg` (validated). *out is owned by the
 * caller: free with ac_model_free. Errors: AC_ERR_FORMAT (bad config), AC_ERR_NOMEM. */
int ac_model_create(ac_model **out, const ac_config *cfg, ac_error *err);

/* Fill every weight deterministically from `seed`: matrices ~ N(0, std^2) with
 * std = `scale` (GPT-2 uses 0.02), norm gains 1 + N(0, 0.1^2)-ish jitter, biases
 * N(0, scale^2). Same seed, same config → bit-identical weights on every machine. */
void ac_model_init_random(ac_model *m, uint64_t seed, float scale);

/* Load a checkpoint. `path` is a Hugging Face model directory (config.json plus
 * model.safetensors or model.safetensors.index.json with shards), a .safetensors file
 * with a config.json beside it, or a llama2.c checkpoint file (detected by content).
 * Dtypes F32/F16/BF16 (converted to fp32). *out is owned by the caller (ac_model_free);
 * it is NULL on failure. Errors name the file and the cause (docs/checkpoints.md):
 * AC_ERR_IO (missing path, config.json or weights), AC_ERR_FORMAT (malformed file or
 * config, missing or unexpected tensor, NaN/Inf weight), AC_ERR_SHAPE (tensor shape
 * disagrees with the config), AC_ERR_UNSUPPORTED (dtype, model type, option),
 * AC_ERR_NOMEM. */
int ac_model_load(ac_model **out, const char *path, ac_error *err);

/* Write `m` as a Hugging Face directory `dir` (created if missing): config.json and
 * model.safetensors in the GPT-2 or Llama layout of m's architecture, F32, each file
 * written atomically (NAME.tmp, then rename). Errors: AC_ERR_UNSUPPORTED (a config the
 * format cannot express), AC_ERR_RANGE (a NaN/Inf weight), AC_ERR_IO, AC_ERR_NOMEM. */
int ac_model_save(const ac_model *m, const char *dir, ac_error *err);

void ac_model_free(ac_model *m);

/* The model's configuration (borrowed; valid while the model lives). */
const ac_config *ac_model_config(const ac_model *m);

/* The path the model was loaded from ("" for models created in memory). Borrowed. */
const char *ac_model_path(const ac_model *m);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_MODEL_H */
