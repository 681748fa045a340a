/* ac_model_save: a Hugging Face directory (config.json + safetensors). */
#include "model/checkpoint.h"
#include "model/hf_layout.h"
#include "util/atomic_file.h"
#include "util/json_util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static int write_file_atomic(const char *path, const char *text, ac_error *err) {
    char *tmp = NULL;
    size_t n = strlen(path), len = strlen(text);
    tmp = ac_malloc(n + 5);
    if (!tmp) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    int rc = AC_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        rc = ac_error_set(err, AC_ERR_IO, tmp, "cannot create: %s", strerror(errno));
    } else {
        int bad = fwrite(text, 1, len, fp) != len || fputc('\n', fp) == EOF || fflush(fp) != 0 ||
                  fsync(fileno(fp)) != 0;
        if (fclose(fp) != 0) bad = 1;
        if (bad) rc = ac_error_set(err, AC_ERR_IO, tmp, "write failed: %s", strerror(errno));
        else if (rename(tmp, path) != 0)
            rc = ac_error_set(err, AC_ERR_IO, path, "cannot rename %s into place: %s", tmp, strerror(errno));
        if (rc) unlink(tmp);
    }
    ac_free(tmp);
    return rc;
}

static int write_json_atomic(const char *path, const json_t *root, ac_error *err) {
    /* 9 significant digits print every float-derived real exactly (see json_float) */
    char *text = ac__json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    if (!text) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    int rc = write_file_atomic(path, text, err);
    free(text); /* from jansson */
    return rc;
}

/* The shortest decimal that reads back (through a double) as exactly `f`. */
static json_t *json_float(float f) {
    char buf[40];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return json_real(d);
    }
    return json_real((double)f);
}

/* ---- config.json ------------------------------------------------------------------- */

static const char *act_name(ac_act_kind a) {
    switch (a) {
    case AC_ACT_GELU_NEW: return "gelu_new";
    case AC_ACT_GELU: return "gelu";
    case AC_ACT_RELU: return "relu";
    case AC_ACT_SILU: return "silu";
    }
    return "?";
}

static int unsupported(ac_error *err, const char *dir, const char *why) {
    return ac_error_set(err, AC_ERR_UNSUPPORTED, dir, "cannot save in the Hugging Face layout: %s", why);
}

static int check_gpt2(const ac_config *c, const char *dir, ac_error *err) {
    if (c->n_kv_head != c->n_head) return unsupported(err, dir, "GPT-2 has no grouped-query attention");
    if ((long long)c->n_head * c->d_head != c->d_model)
        return unsupported(err, dir, "GPT-2 needs n_head * d_head == d_model");
    if (c->pos != AC_POS_LEARNED) return unsupported(err, dir, "GPT-2 needs learned positions");
    if (c->gated_mlp || c->act == AC_ACT_SILU) return unsupported(err, dir, "GPT-2 has no gated MLP");
    if (c->norm == AC_NORM_RMSNORM) return unsupported(err, dir, "GPT-2 has LayerNorm, not RMSNorm");
    if (c->norm == AC_NORM_LAYERNORM && !c->final_norm)
        return unsupported(err, dir, "GPT-2 with LayerNorm always has ln_f");
    if (!c->attn_bias || !c->out_bias || (!c->attn_only && !c->mlp_bias))
        return unsupported(err, dir, "GPT-2 has every bias");
    return AC_OK;
}

static int check_llama(const ac_config *c, const char *dir, ac_error *err) {
    if (c->norm != AC_NORM_RMSNORM || !c->final_norm) return unsupported(err, dir, "Llama needs RMSNorm everywhere");
    if (c->pos != AC_POS_ROPE_HALF && c->pos != AC_POS_ROPE_INTERLEAVED)
        return unsupported(err, dir, "Llama needs rotary position embeddings");
    if (!c->gated_mlp || c->act != AC_ACT_SILU || c->attn_only)
        return unsupported(err, dir, "Llama needs a SiLU-gated MLP in every layer");
    if (c->mlp_bias) return unsupported(err, dir, "Llama MLP biases are not supported");
    if (c->out_bias && !c->attn_bias) return unsupported(err, dir, "an output bias needs Q/K/V biases");
    if (!isfinite(c->rope_scaling_factor) || !isfinite(c->rope_low_freq_factor) ||
        !isfinite(c->rope_high_freq_factor))
        return unsupported(err, dir, "non-finite rope_scaling factors");
    return AC_OK;
}

static int set_token_id(json_t *o, const char *key, int id) {
    return json_object_set_new(o, key, id >= 0 ? json_integer(id) : json_null());
}

static json_t *gpt2_config(const ac_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    bad |= json_object_set_new(o, "model_type", json_string("gpt2"));
    bad |= json_object_set_new(o, "architectures", json_pack("[s]", "GPT2LMHeadModel"));
    bad |= json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    bad |= json_object_set_new(o, "n_positions", json_integer(c->n_ctx));
    bad |= json_object_set_new(o, "n_ctx", json_integer(c->n_ctx));
    bad |= json_object_set_new(o, "n_embd", json_integer(c->d_model));
    bad |= json_object_set_new(o, "n_layer", json_integer(c->n_layer));
    bad |= json_object_set_new(o, "n_head", json_integer(c->n_head));
    /* n_inner null means 4 * n_embd (or no MLP for attention-only models) */
    int default_inner = c->attn_only ? c->d_mlp == 0 : (long long)c->d_mlp == 4LL * c->d_model;
    bad |= json_object_set_new(o, "n_inner", default_inner ? json_null() : json_integer(c->d_mlp));
    bad |= json_object_set_new(o, "activation_function", json_string(act_name(c->act)));
    bad |= json_object_set_new(o, "layer_norm_epsilon", json_float(c->norm_eps));
    bad |= set_token_id(o, "bos_token_id", c->bos_id);
    bad |= set_token_id(o, "eos_token_id", c->eos_id);
    bad |= json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tied_embeddings));
    if (c->attn_only) bad |= json_object_set_new(o, "attn_only", json_true());
    if (c->norm == AC_NORM_NONE) bad |= json_object_set_new(o, "layer_norm", json_false());
    bad |= json_object_set_new(o, "torch_dtype", json_string("float32"));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *llama_config(const ac_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    const int qwen2 = c->attn_bias && !c->out_bias;
    int bad = 0;
    bad |= json_object_set_new(o, "model_type", json_string(qwen2 ? "qwen2" : "llama"));
    bad |= json_object_set_new(o, "architectures", json_pack("[s]", qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    bad |= json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    bad |= json_object_set_new(o, "hidden_size", json_integer(c->d_model));
    bad |= json_object_set_new(o, "intermediate_size", json_integer(c->d_mlp));
    bad |= json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layer));
    bad |= json_object_set_new(o, "num_attention_heads", json_integer(c->n_head));
    bad |= json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_head));
    bad |= json_object_set_new(o, "head_dim", json_integer(c->d_head));
    bad |= json_object_set_new(o, "max_position_embeddings", json_integer(c->n_ctx));
    bad |= json_object_set_new(o, "rms_norm_eps", json_float(c->norm_eps));
    bad |= json_object_set_new(o, "rope_theta", json_float(c->rope_theta));
    if (c->rope_scaling_factor != 0) {
        json_t *rs = json_object();
        bad |= !rs;
        bad |= json_object_set_new(o, "rope_scaling", rs);
        if (rs) {
            bad |= json_object_set_new(rs, "rope_type", json_string("llama3"));
            bad |= json_object_set_new(rs, "factor", json_float(c->rope_scaling_factor));
            bad |= json_object_set_new(rs, "low_freq_factor", json_float(c->rope_low_freq_factor));
            bad |= json_object_set_new(rs, "high_freq_factor", json_float(c->rope_high_freq_factor));
            bad |= json_object_set_new(rs, "original_max_position_embeddings", json_integer(c->rope_original_max_pos));
        }
    } else {
        bad |= json_object_set_new(o, "rope_scaling", json_null());
    }
    bad |= json_object_set_new(o, "hidden_act", json_string("silu"));
    if (!qwen2) bad |= json_object_set_new(o, "attention_bias", json_boolean(c->attn_bias));
    if (!qwen2) bad |= json_object_set_new(o, "mlp_bias", json_false());
    if (qwen2) bad |= json_object_set_new(o, "use_sliding_window", json_false());
    bad |= json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tied_embeddings));
    bad |= set_token_id(o, "bos_token_id", c->bos_id);
    bad |= set_token_id(o, "eos_token_id", c->eos_id);
    bad |= json_object_set_new(o, "torch_dtype", json_string("float32"));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- weights ------------------------------------------------------------------------- */

typedef struct gather_ctx {
    const ac__hf_entry *entry;
    int interleaved_to_half;
} gather_ctx;

static void gather_fill(const void *ctx, float *buf) {
    const gather_ctx *g = ctx;
    ac__hf_entry_gather(g->entry, g->interleaved_to_half, buf);
}

static int write_weights(const ac_model *m, const char *dir, const ac__save_options *opt, ac_error *err) {
    const ac_config *c = &m->cfg;
    const int to_half = c->arch == AC_ARCH_LLAMA && c->pos == AC_POS_ROPE_INTERLEAVED;
    ac__hf_entry *entries = NULL;
    size_t n = 0;
    int rc = ac__hf_layout(c, &m->w, &entries, &n, err);
    if (rc) return rc;
    ac__st_out_tensor *tensors = ac_calloc(n ? n : 1, sizeof *tensors);
    gather_ctx *ctx = ac_calloc(n ? n : 1, sizeof *ctx);
    size_t *shard_of = ac_calloc(n ? n : 1, sizeof *shard_of);
    char (*names)[112] = ac_calloc(n ? n : 1, sizeof *names);
    char *path = NULL, *single = NULL, *index_path = NULL;
    json_t *index = NULL, *meta = NULL, *map = NULL;
    if (!tensors || !ctx || !shard_of || !names) {
        rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
        goto done;
    }
    size_t total_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const ac__hf_entry *e = &entries[i];
        ac__st_out_tensor *t = &tensors[i];
        for (int k = 0; k < e->n_parts; k++) {
            const size_t count = e->part[k].rows * (e->ndim == 2 ? (e->transpose ? e->shape[0] : e->shape[1]) : 1);
            for (size_t j = 0; j < count; j++)
                if (!isfinite(e->part[k].data[j])) {
                    rc = ac_error_set(err, AC_ERR_RANGE, dir,
                                      "cannot save: weight %s has a non-finite value (NaN or Inf)", e->name);
                    goto done;
                }
        }
        const int prefix = c->arch == AC_ARCH_GPT2 && opt->gpt2_prefix && strcmp(e->name, "lm_head.weight") != 0;
        snprintf(names[i], sizeof names[i], "%s%s", prefix ? "transformer." : "", e->name);
        t->name = names[i];
        t->dtype = opt->dtype_for ? opt->dtype_for(e->name, opt->ctx) : opt->dtype;
        t->ndim = e->ndim;
        t->shape[0] = e->shape[0];
        t->shape[1] = e->shape[1];
        if (e->n_parts == 1 && !(e->ndim == 2 && e->transpose) && !(to_half && e->rope_head_dim)) {
            t->data = e->part[0].data;
        } else {
            ctx[i].entry = e;
            ctx[i].interleaved_to_half = to_half;
            t->fill = gather_fill;
            t->fill_ctx = &ctx[i];
        }
        total_bytes += ac__hf_entry_count(e) * ac__st_dtype_size(t->dtype);
    }

    static const char *const meta_keys[] = {"format"};
    static const char *const meta_values[] = {"pt"};
    single = ac__path_join(dir, "model.safetensors");
    index_path = ac__path_join(dir, "model.safetensors.index.json");
    if (!single || !index_path) {
        rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
        goto done;
    }
    if (opt->n_shards <= 1) {
        rc = ac__st_write(single, tensors, n, meta_keys, meta_values, 1, err);
        if (!rc) unlink(index_path); /* a stale index would describe other weights */
        goto done;
    }

    /* shards: split the tensor sequence into contiguous runs of about equal bytes */
    size_t shards = (size_t)opt->n_shards, used = 0, before = 0, last = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t k = total_bytes ? (size_t)((double)before * (double)shards / (double)total_bytes) : 0;
        if (k >= shards) k = shards - 1;
        if (k != last) {
            used++;
            last = k;
        }
        shard_of[i] = used - 1;
        before += ac__hf_entry_count(&entries[i]) * ac__st_dtype_size(tensors[i].dtype);
    }
    index = json_object();
    meta = json_object();
    map = json_object();
    if (!index || !meta || !map || json_object_set_new(meta, "total_size", json_integer((json_int_t)total_bytes)) ||
        json_object_set(index, "metadata", meta) || json_object_set(index, "weight_map", map)) {
        rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
        goto done;
    }
    char shard_name[64];
    for (size_t s = 0, first = 0; s < used && !rc; s++) {
        size_t end = first;
        while (end < n && shard_of[end] == s) end++;
        snprintf(shard_name, sizeof shard_name, "model-%05zu-of-%05zu.safetensors", s + 1, used);
        path = ac__path_join(dir, shard_name);
        if (!path) rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
        if (!rc) rc = ac__st_write(path, tensors + first, end - first, meta_keys, meta_values, 1, err);
        for (size_t i = first; !rc && i < end; i++)
            if (json_object_set_new(map, tensors[i].name, json_string(shard_name)))
                rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
        ac_free(path);
        path = NULL;
        first = end;
    }
    if (!rc) rc = write_json_atomic(index_path, index, err);
    if (!rc) unlink(single); /* would take precedence over the index */
done:
    json_decref(index);
    json_decref(meta);
    json_decref(map);
    ac_free(single);
    ac_free(index_path);
    ac_free(path);
    ac_free(names);
    ac_free(shard_of);
    ac_free(ctx);
    ac_free(tensors);
    ac_free(entries);
    return rc;
}

int ac__model_save_hf(const ac_model *m, const char *dir, const ac__save_options *opt, ac_error *err) {
    if (!m || !dir || !*dir || !opt) return ac_error_set(err, AC_ERR_ARG, dir, "ac_model_save: bad arguments");
    const ac_config *c = &m->cfg;
    int rc = c->arch == AC_ARCH_GPT2 ? check_gpt2(c, dir, err) : check_llama(c, dir, err);
    if (rc) return rc;
    if ((rc = ac__make_dirs(dir, err))) return rc;
    json_t *config = c->arch == AC_ARCH_GPT2 ? gpt2_config(c) : llama_config(c);
    char *config_path = ac__path_join(dir, "config.json");
    if (!config || !config_path) rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
    if (!rc) rc = write_weights(m, dir, opt, err);
    if (!rc) rc = write_json_atomic(config_path, config, err);
    json_decref(config);
    ac_free(config_path);
    return rc;
}

int ac_model_save(const ac_model *m, const char *dir, ac_error *err) {
    const ac__save_options opt = {AC__ST_F32, NULL, NULL, 1, 0};
    return ac__model_save_hf(m, dir, &opt, err);
}
