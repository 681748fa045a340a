/* The Hugging Face tensor layout of a model: which file tensor feeds which part of the
 * weight arena. Shared by the loader (scatter file -> arena) and the saver (gather
 * arena -> file), so both agree on names, shapes and transposes. */
#ifndef AC_MODEL_HF_LAYOUT_H
#define AC_MODEL_HF_LAYOUT_H

#include "model/model_internal.h"
#include "model/safetensors.h"

/* A destination block in the arena: `rows` rows of the tensor's output axis. */
typedef struct ac__hf_part {
    float *data;
    size_t rows;
} ac__hf_part;

typedef struct ac__hf_entry {
    char name[96];         /* without the GPT-2 "transformer." prefix */
    int ndim;              /* 1 or 2 */
    size_t shape[2];       /* shape in the file */
    int transpose;         /* 2-D only: file is [in, out] (GPT-2 Conv1D), arena [out, in] */
    int rope_head_dim;     /* Q/K projections of RoPE models: head width (rows permuted
                            * when converting interleaved RoPE to the half convention) */
    int n_parts;           /* the output axis is the concatenation of the parts */
    ac__hf_part part[3];
} ac__hf_entry;

/* Build the list of tensors a model with config `cfg` has in the Hugging Face layout of
 * its architecture (GPT-2 names for AC_ARCH_GPT2, Llama names otherwise; the untied
 * lm_head.weight included only when !cfg->tied_embeddings). `w` gives the arena
 * pointers; with w == NULL every data pointer is NULL (shapes only). *out is allocated
 * with ac_calloc, freed by the caller with ac_free. Errors: AC_ERR_NOMEM. */
int ac__hf_layout(const ac_config *cfg, const ac_weights *w, ac__hf_entry **out, size_t *n,
                  ac_error *err);

/* Number of elements of the entry. */
size_t ac__hf_entry_count(const ac__hf_entry *e);

/* Copy tensor `t` of file `f` (already checked with ac__st_expect against e's shape)
 * into the arena parts of `e`. Errors: those of ac__st_read (NaN/Inf, dtype). */
int ac__hf_entry_load(const ac__hf_entry *e, const ac__st_file *f, const ac__st_tensor *t,
                      ac_error *err);

/* Write the entry's values in file order into buf[ac__hf_entry_count(e)]. With
 * `interleaved_to_half` set, the rows of Q/K projections (entries with rope_head_dim)
 * are permuted from the interleaved RoPE convention to the half convention:
 * file row h*dh + j*dh/2 + i  <-  arena row h*dh + 2i + j. */
void ac__hf_entry_gather(const ac__hf_entry *e, int interleaved_to_half, float *buf);

#endif
