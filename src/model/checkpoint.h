/* Internal entry points of the checkpoint loaders and the saver (see docs/checkpoints.md). */
#ifndef AC_MODEL_CHECKPOINT_H
#define AC_MODEL_CHECKPOINT_H

#include "model/model_internal.h"
#include "model/safetensors.h"

/* Load a Hugging Face model directory `dir` (config.json + model.safetensors, or
 * model.safetensors.index.json + shards). With `weights_file` non-NULL, that single
 * safetensors file is used instead of looking in `dir`. m->path is left empty. */
int ac__load_hf(ac_model **out, const char *dir, const char *weights_file, ac_error *err);

/* What the first bytes of a regular file look like. */
typedef enum {
    AC__PROBE_UNKNOWN = 0,
    AC__PROBE_LLAMA2C_V0,     /* 7-int header whose implied size equals the file size */
    AC__PROBE_LLAMA2C_MAGIC,  /* starts with the "ak42" magic of versioned exports */
    AC__PROBE_SAFETENSORS     /* plausible header length followed by '{' */
} ac__probe_kind;

/* Classify a file from its first `head_len` bytes (up to 256 are looked at) and its
 * total size. Never reads past head_len. */
ac__probe_kind ac__probe_checkpoint(const unsigned char *head, size_t head_len, uint64_t file_size);

/* Load a llama2.c checkpoint (legacy version 0, or version 1 fp32 with the "ak42" magic).
 * m->path is left empty. Errors: AC_ERR_IO, AC_ERR_FORMAT (sizes, NaN/Inf weights, with
 * the byte offset), AC_ERR_UNSUPPORTED (other export versions), AC_ERR_NOMEM. */
int ac__load_llama2c(ac_model **out, const char *path, ac_error *err);

/* A one-line explanation of why a file of this size with these first bytes is not a
 * llama2.c version-0 checkpoint, if its header looks like one ("header implies N bytes
 * ..."); returns 0 and leaves `buf` alone when the header does not look like one. */
int ac__llama2c_size_mismatch(const unsigned char *head, size_t head_len, uint64_t file_size,
                              char *buf, size_t n);

/* ---- saving -------------------------------------------------------------------------- */

typedef struct ac__save_options {
    ac__st_dtype dtype;       /* dtype of every tensor (F32, F16 or BF16) ... */
    /* ... unless this returns another one for a tensor name (may be NULL) */
    ac__st_dtype (*dtype_for)(const char *tensor_name, void *ctx);
    void *ctx;
    int n_shards;             /* <= 1: model.safetensors; else model-0000k-of-0000n.safetensors
                               * plus model.safetensors.index.json */
    int gpt2_prefix;          /* GPT-2: name tensors "transformer.h.0..." */
} ac__save_options;

/* ac_model_save with options (ac_model_save uses {F32, NULL, NULL, 1, 0}). Also a test
 * helper: it produces F16/BF16 and sharded checkpoints. */
int ac__model_save_hf(const ac_model *m, const char *dir, const ac__save_options *opt, ac_error *err);

/* Allocate "a/b" with ac_malloc (NULL on overflow or out of memory). */
char *ac__path_join(const char *a, const char *b);

#endif
