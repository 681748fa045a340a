/* Hugging Face model directories: config.json + safetensors (single file or sharded). */
#include "model/checkpoint.h"
#include "model/hf_layout.h"
#include "util/json_util.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

char *ac__path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), total;
    if (ac_add_size(la, lb, &total) || ac_add_size(total, 2, &total)) return NULL;
    char *p = ac_malloc(total);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t at = la;
    if (la && a[la - 1] != '/') p[at++] = '/';
    memcpy(p + at, b, lb + 1);
    return p;
}

static int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Parse a JSON file; syntax errors carry line:column. */
static int load_json(const char *path, json_t **out, ac_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return ac_error_set(err, AC_ERR_IO, path, "cannot read: %s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return ac_error_set(err, AC_ERR_IO, path, "not a regular file");
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr);
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (*out) return AC_OK;
    if (ac__json_oom(&jerr))
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory parsing JSON");
    if (jerr.line < 1) return ac_error_set(err, AC_ERR_IO, path, "cannot read: %s", jerr.text);
    return ac_error_set_at(err, AC_ERR_FORMAT, path, jerr.line, jerr.column, "invalid JSON: %s", jerr.text);
}

/* ---- config.json ------------------------------------------------------------------- */

typedef struct config_json {
    const json_t *root;
    const char *path;
    ac_error *err;
} config_json;

static int cfg_error(const config_json *c, int code, const char *key, const char *what) {
    return ac_error_set(c->err, code, c->path, "config: \"%s\" %s", key, what);
}

/* Integer key >= min_value. Absent or null: `def` unless required. */
static int get_int(const config_json *c, const char *key, int required, int def, int min_value, int *out) {
    const json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        if (required) return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: missing required key \"%s\"", key);
        *out = def;
        return AC_OK;
    }
    if (!json_is_integer(v)) return cfg_error(c, AC_ERR_FORMAT, key, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < min_value) {
        if (min_value == 1)
            return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: \"%s\" must be a positive integer, got %lld",
                                key, (long long)x);
        return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: \"%s\" must be at least %d, got %lld", key,
                            min_value, (long long)x);
    }
    if (x > INT_MAX)
        return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: \"%s\" = %lld is out of range (too large)", key,
                            (long long)x);
    *out = (int)x;
    return AC_OK;
}

/* Finite number (integer or real) that fits a float. */
static int get_float(const config_json *c, const char *key, int required, float def, float *out) {
    const json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        if (required) return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: missing required key \"%s\"", key);
        *out = def;
        return AC_OK;
    }
    if (!json_is_number(v)) return cfg_error(c, AC_ERR_FORMAT, key, "must be a number");
    const double x = json_number_value(v);
    if (!isfinite(x) || fabs(x) > FLT_MAX) return cfg_error(c, AC_ERR_FORMAT, key, "must be a finite number");
    *out = (float)x;
    return AC_OK;
}

static int get_bool(const config_json *c, const char *key, int def, int *out) {
    const json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return AC_OK;
    }
    if (!json_is_boolean(v)) return cfg_error(c, AC_ERR_FORMAT, key, "must be true or false");
    *out = json_is_true(v);
    return AC_OK;
}

static int get_string(const config_json *c, const char *key, const char *def, const char **out) {
    const json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return AC_OK;
    }
    if (!json_is_string(v)) return cfg_error(c, AC_ERR_FORMAT, key, "must be a string");
    *out = json_string_value(v);
    return AC_OK;
}

/* Token id: absent/null -> -1; an integer; or a list (first element, e.g. Llama 3 eos). */
static int get_token_id(const config_json *c, const char *key, int *out) {
    const json_t *v = json_object_get(c->root, key);
    *out = -1;
    if (!v || json_is_null(v)) return AC_OK;
    if (json_is_array(v)) {
        if (json_array_size(v) == 0) return AC_OK;
        v = json_array_get(v, 0);
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT_MAX)
        return cfg_error(c, AC_ERR_FORMAT, key, "must be a non-negative integer (or a list of them)");
    *out = (int)json_integer_value(v);
    return AC_OK;
}

#define TRY(expr)              \
    do {                       \
        int rc_ = (expr);      \
        if (rc_) return rc_;   \
    } while (0)

static int parse_gpt2(const config_json *c, ac_config *cfg) {
    ac_config_defaults(cfg, AC_ARCH_GPT2);
    int n_embd, n_inner, layer_norm, scale_attn, scale_by_layer;
    const char *act;
    TRY(get_int(c, "n_embd", 1, 0, 1, &n_embd));
    TRY(get_int(c, "n_layer", 1, 0, 1, &cfg->n_layer));
    TRY(get_int(c, "n_head", 1, 0, 1, &cfg->n_head));
    const json_t *np = json_object_get(c->root, "n_positions");
    TRY(get_int(c, np && !json_is_null(np) ? "n_positions" : "n_ctx", 1, 0, 1, &cfg->n_ctx));
    TRY(get_int(c, "vocab_size", 1, 0, 1, &cfg->vocab_size));
    TRY(get_float(c, "layer_norm_epsilon", 0, 1e-5f, &cfg->norm_eps));
    TRY(get_string(c, "activation_function", "gelu_new", &act));
    if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0) cfg->act = AC_ACT_GELU_NEW;
    else if (strcmp(act, "gelu") == 0) cfg->act = AC_ACT_GELU;
    else if (strcmp(act, "relu") == 0) cfg->act = AC_ACT_RELU;
    else
        return ac_error_set(c->err, AC_ERR_UNSUPPORTED, c->path,
                            "config: activation_function \"%s\" is not supported (gelu_new, gelu or relu)", act);
    TRY(get_bool(c, "attn_only", 0, &cfg->attn_only));
    TRY(get_bool(c, "layer_norm", 1, &layer_norm));
    TRY(get_bool(c, "tie_word_embeddings", 1, &cfg->tied_embeddings));
    TRY(get_bool(c, "scale_attn_weights", 1, &scale_attn));
    TRY(get_bool(c, "scale_attn_by_inverse_layer_idx", 0, &scale_by_layer));
    if (!scale_attn || scale_by_layer)
        return ac_error_set(c->err, AC_ERR_UNSUPPORTED, c->path,
                            "config: only the standard 1/sqrt(d_head) attention scale is supported "
                            "(scale_attn_weights true, scale_attn_by_inverse_layer_idx false)");
    if (n_embd % cfg->n_head != 0)
        return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: n_embd %d is not divisible by n_head %d",
                            n_embd, cfg->n_head);
    /* n_inner: null means 4 * n_embd (0 for attention-only models) */
    long long four_d = 4LL * n_embd;
    TRY(get_int(c, "n_inner", 0, 0, 1, &n_inner));
    if (n_inner) cfg->d_mlp = n_inner;
    else if (cfg->attn_only) cfg->d_mlp = 0;
    else if (four_d > INT_MAX)
        return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: n_embd %d is out of range (4 x n_embd overflows)",
                            n_embd);
    else cfg->d_mlp = (int)four_d;
    cfg->d_model = n_embd;
    cfg->n_kv_head = cfg->n_head;
    cfg->d_head = n_embd / cfg->n_head;
    if (!layer_norm) {
        cfg->norm = AC_NORM_NONE;
        cfg->final_norm = 0;
    }
    TRY(get_token_id(c, "bos_token_id", &cfg->bos_id));
    TRY(get_token_id(c, "eos_token_id", &cfg->eos_id));
    return AC_OK;
}

static int parse_rope_scaling(const config_json *c, ac_config *cfg) {
    const json_t *rs = json_object_get(c->root, "rope_scaling");
    if (!rs || json_is_null(rs)) return AC_OK;
    if (!json_is_object(rs)) return cfg_error(c, AC_ERR_FORMAT, "rope_scaling", "must be an object or null");
    const json_t *type = json_object_get(rs, "rope_type");
    if (!type) type = json_object_get(rs, "type");
    if (!json_is_string(type))
        return ac_error_set(c->err, AC_ERR_FORMAT, c->path, "config: rope_scaling has no \"rope_type\" string");
    const char *t = json_string_value(type);
    if (strcmp(t, "default") == 0) return AC_OK;
    if (strcmp(t, "llama3") != 0)
        return ac_error_set(c->err, AC_ERR_UNSUPPORTED, c->path,
                            "config: rope_scaling type \"%s\" is not supported (only \"llama3\")", t);
    config_json sub = {rs, c->path, c->err};
    TRY(get_float(&sub, "factor", 1, 0, &cfg->rope_scaling_factor));
    TRY(get_float(&sub, "low_freq_factor", 1, 0, &cfg->rope_low_freq_factor));
    TRY(get_float(&sub, "high_freq_factor", 1, 0, &cfg->rope_high_freq_factor));
    TRY(get_int(&sub, "original_max_position_embeddings", 1, 0, 1, &cfg->rope_original_max_pos));
    if (!(cfg->rope_scaling_factor > 0) || !(cfg->rope_low_freq_factor > 0) ||
        !(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
        return ac_error_set(c->err, AC_ERR_FORMAT, c->path,
                            "config: rope_scaling needs factor > 0 and high_freq_factor > low_freq_factor > 0");
    return AC_OK;
}

static int parse_llama(const config_json *c, const char *model_type, ac_config *cfg) {
    ac_config_defaults(cfg, AC_ARCH_LLAMA);
    const int qwen2 = strcmp(model_type, "qwen2") == 0;
    const int mistral = strcmp(model_type, "mistral") == 0;
    const char *act;
    int head_dim, attention_bias, mlp_bias, sliding_window, use_sliding_window;
    TRY(get_int(c, "hidden_size", 1, 0, 1, &cfg->d_model));
    TRY(get_int(c, "intermediate_size", 1, 0, 1, &cfg->d_mlp));
    TRY(get_int(c, "num_hidden_layers", 1, 0, 1, &cfg->n_layer));
    TRY(get_int(c, "num_attention_heads", 1, 0, 1, &cfg->n_head));
    TRY(get_int(c, "num_key_value_heads", 0, cfg->n_head, 1, &cfg->n_kv_head));
    TRY(get_int(c, "vocab_size", 1, 0, 1, &cfg->vocab_size));
    TRY(get_int(c, "head_dim", 0, 0, 1, &head_dim));
    if (!head_dim) {
        if (cfg->d_model % cfg->n_head != 0)
            return ac_error_set(c->err, AC_ERR_FORMAT, c->path,
                                "config: hidden_size %d is not divisible by num_attention_heads %d (and no head_dim)",
                                cfg->d_model, cfg->n_head);
        head_dim = cfg->d_model / cfg->n_head;
    }
    cfg->d_head = head_dim;
    TRY(get_float(c, "rms_norm_eps", 0, 1e-6f, &cfg->norm_eps));
    TRY(get_float(c, "rope_theta", 0, 10000.0f, &cfg->rope_theta));
    TRY(parse_rope_scaling(c, cfg));
    TRY(get_bool(c, "tie_word_embeddings", 0, &cfg->tied_embeddings));
    TRY(get_int(c, "max_position_embeddings", 0, qwen2 ? 32768 : mistral ? 131072 : 2048, 1, &cfg->n_ctx));
    TRY(get_string(c, "hidden_act", "silu", &act));
    if (strcmp(act, "silu") != 0)
        return ac_error_set(c->err, AC_ERR_UNSUPPORTED, c->path,
                            "config: hidden_act \"%s\" is not supported (only \"silu\")", act);
    TRY(get_bool(c, "attention_bias", 0, &attention_bias));
    TRY(get_bool(c, "mlp_bias", 0, &mlp_bias));
    if (mlp_bias)
        return ac_error_set(c->err, AC_ERR_UNSUPPORTED, c->path, "config: mlp_bias true is not supported");
    if (qwen2) {
        cfg->attn_bias = 1;
        cfg->out_bias = 0;
    } else if (attention_bias) {
        cfg->attn_bias = cfg->out_bias = 1;
    }
    /* Sliding-window attention equals full attention on sequences no longer than the
     * window, so the context is capped at the window. */
    TRY(get_bool(c, "use_sliding_window", mistral, &use_sliding_window));
    TRY(get_int(c, "sliding_window", 0, 0, 1, &sliding_window));
    if (use_sliding_window && sliding_window > 0 && sliding_window < cfg->n_ctx) cfg->n_ctx = sliding_window;
    cfg->pos = AC_POS_ROPE_HALF;
    TRY(get_token_id(c, "bos_token_id", &cfg->bos_id));
    TRY(get_token_id(c, "eos_token_id", &cfg->eos_id));
    return AC_OK;
}

static int parse_config(const char *path, const json_t *root, ac_config *cfg, ac_error *err) {
    config_json c = {root, path, err};
    if (!json_is_object(root)) return ac_error_set(err, AC_ERR_FORMAT, path, "config: not a JSON object");
    const char *model_type;
    TRY(get_string(&c, "model_type", NULL, &model_type));
    if (!model_type) return ac_error_set(err, AC_ERR_FORMAT, path, "config: missing required key \"model_type\"");
    if (strcmp(model_type, "gpt2") == 0) TRY(parse_gpt2(&c, cfg));
    else if (strcmp(model_type, "llama") == 0 || strcmp(model_type, "mistral") == 0 ||
             strcmp(model_type, "qwen2") == 0)
        TRY(parse_llama(&c, model_type, cfg));
    else
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                            "config: model_type \"%s\" is not supported (gpt2, llama, mistral, qwen2)", model_type);
    return ac_config_validate(cfg, path, err);
}

/* ---- weights ------------------------------------------------------------------------- */

typedef struct weight_source {
    char *index_path;     /* sharded: the index file; NULL for a single file */
    json_t *index;        /* the parsed index (owns weight_map) */
    json_t *weight_map;
    ac__st_file *files;
    char **file_names;    /* sharded: shard names as written in weight_map */
    size_t n_files;
} weight_source;

static void source_close(weight_source *s) {
    for (size_t i = 0; i < s->n_files; i++) {
        ac__st_close(&s->files[i]);
        if (s->file_names) ac_free(s->file_names[i]);
    }
    ac_free(s->files);
    ac_free(s->file_names);
    ac_free(s->index_path);
    json_decref(s->index);
    memset(s, 0, sizeof *s);
}

static int source_open_single(weight_source *s, const char *path, ac_error *err) {
    s->files = ac_calloc(1, sizeof *s->files);
    if (!s->files) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    s->n_files = 1;
    return ac__st_open(&s->files[0], path, err);
}

static int shard_name_ok(const char *name) {
    return name[0] && strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int source_open_index(weight_source *s, const char *dir, const char *index_path, ac_error *err) {
    s->index_path = ac_strdup(index_path);
    if (!s->index_path) return ac_error_set(err, AC_ERR_NOMEM, index_path, "out of memory");
    TRY(load_json(index_path, &s->index, err));
    s->weight_map = json_is_object(s->index) ? json_object_get(s->index, "weight_map") : NULL;
    if (!json_is_object(s->weight_map))
        return ac_error_set(err, AC_ERR_FORMAT, index_path, "index: missing \"weight_map\" object");
    size_t cap = json_object_size(s->weight_map);
    s->files = ac_calloc(cap ? cap : 1, sizeof *s->files);
    s->file_names = ac_calloc(cap ? cap : 1, sizeof *s->file_names);
    if (!s->files || !s->file_names) return ac_error_set(err, AC_ERR_NOMEM, index_path, "out of memory");
    const char *key;
    json_t *value;
    json_object_foreach(s->weight_map, key, value) {
        if (!json_is_string(value) || !shard_name_ok(json_string_value(value)))
            return ac_error_set(err, AC_ERR_FORMAT, index_path,
                                "index: weight_map entry for %s must be a file name in the same directory", key);
        const char *shard = json_string_value(value);
        size_t i = 0;
        while (i < s->n_files && strcmp(s->file_names[i], shard) != 0) i++;
        if (i < s->n_files) continue;
        s->file_names[i] = ac_strdup(shard);
        char *path = ac__path_join(dir, shard);
        if (!s->file_names[i] || !path) {
            ac_free(path);
            ac_free(s->file_names[i]);
            s->file_names[i] = NULL;
            return ac_error_set(err, AC_ERR_NOMEM, index_path, "out of memory");
        }
        s->n_files++;
        int rc = ac__st_open(&s->files[i], path, err);
        ac_free(path);
        if (rc) return rc;
    }
    return AC_OK;
}

/* Find tensor `name`: AC_OK with the file index and tensor set, or AC_OK with a NULL
 * tensor when absent. */
static int source_find(const weight_source *s, const char *name, size_t *file, ac__st_tensor **t,
                       ac_error *err) {
    *t = NULL;
    if (!s->weight_map) {
        *file = 0;
        *t = ac__st_find(&s->files[0], name);
        return AC_OK;
    }
    const json_t *v = json_object_get(s->weight_map, name);
    if (!v) return AC_OK;
    size_t i = 0;
    while (i < s->n_files && strcmp(s->file_names[i], json_string_value(v)) != 0) i++;
    if (i == s->n_files) return ac_error_set(err, AC_ERR_INTERNAL, s->index_path, "shard not opened");
    *file = i;
    *t = ac__st_find(&s->files[i], name);
    if (!*t)
        return ac_error_set(err, AC_ERR_FORMAT, s->files[i].path,
                            "the index maps tensor %s to this shard, which does not contain it", name);
    return AC_OK;
}

static const char *source_name(const weight_source *s) {
    return s->index_path ? s->index_path : s->files[0].path;
}

/* Tensors a checkpoint may hold that are not weights of ours: GPT-2 causal-mask buffers,
 * Llama rotary inv_freq buffers, and lm_head.weight of tied models. */
static int ignorable(const char *name, const ac_config *cfg) {
    if (cfg->tied_embeddings && strcmp(name, "lm_head.weight") == 0) return 1;
    size_t n = strlen(name);
#define ENDS_WITH(s) (n >= sizeof(s) - 1 && strcmp(name + n - (sizeof(s) - 1), s) == 0)
    if (cfg->arch == AC_ARCH_GPT2) {
        if (strncmp(name, "transformer.", 12) == 0) {
            name += 12;
            n -= 12;
        }
        if (!ENDS_WITH(".attn.bias") && !ENDS_WITH(".attn.masked_bias")) return 0;
        if (name[0] != 'h' || name[1] != '.') return 0;
        const char *p = name + 2;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
        return strcmp(p, ".attn.bias") == 0 || strcmp(p, ".attn.masked_bias") == 0;
    }
    if (strncmp(name, "model.layers.", 13) != 0) return 0;
    const char *p = name + 13;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return strcmp(p, ".self_attn.rotary_emb.inv_freq") == 0;
#undef ENDS_WITH
}

typedef struct found_tensor {
    size_t file;
    ac__st_tensor *t;
} found_tensor;

/* Resolve and check every tensor of the layout; flag anything unexpected. */
static int match_tensors(weight_source *s, const ac_config *cfg, const ac__hf_entry *entries, size_t n,
                         found_tensor *found, ac_error *err) {
    char prefixed[128];
    for (size_t i = 0; i < n; i++) {
        const ac__hf_entry *e = &entries[i];
        TRY(source_find(s, e->name, &found[i].file, &found[i].t, err));
        if (!found[i].t && cfg->arch == AC_ARCH_GPT2 && strcmp(e->name, "lm_head.weight") != 0) {
            snprintf(prefixed, sizeof prefixed, "transformer.%s", e->name);
            TRY(source_find(s, prefixed, &found[i].file, &found[i].t, err));
        }
        if (!found[i].t)
            return ac_error_set(err, AC_ERR_FORMAT, source_name(s), "missing tensor %s", e->name);
        if (found[i].t->used)
            return ac_error_set(err, AC_ERR_FORMAT, s->files[found[i].file].path, "tensor %s used twice", e->name);
        found[i].t->used = 1;
        TRY(ac__st_expect(&s->files[found[i].file], found[i].t, e->ndim, e->shape, err));
    }
    for (size_t f = 0; f < s->n_files; f++)
        for (size_t k = 0; k < s->files[f].n_tensors; k++) {
            const ac__st_tensor *t = &s->files[f].tensors[k];
            if (!t->used && !ignorable(t->name, cfg))
                return ac_error_set(err, AC_ERR_FORMAT, s->files[f].path,
                                    "unexpected tensor %s (not a weight of the model config.json describes)",
                                    t->name);
        }
    return AC_OK;
}

static int load_weights(weight_source *s, const ac_config *cfg, const char *config_path, ac_model **out,
                        ac_error *err) {
    ac__hf_entry *entries = NULL;
    size_t n = 0;
    found_tensor *found = NULL;
    ac_model *m = NULL;
    int rc = ac__hf_layout(cfg, NULL, &entries, &n, err);
    if (!rc) {
        found = ac_calloc(n ? n : 1, sizeof *found);
        if (!found) rc = ac_error_set(err, AC_ERR_NOMEM, config_path, "out of memory");
    }
    if (!rc) rc = match_tensors(s, cfg, entries, n, found, err);
    /* only now, with every tensor present at its exact shape, allocate the arena */
    if (!rc) rc = ac_model_create(&m, cfg, err);
    ac_free(entries);
    entries = NULL;
    if (!rc) rc = ac__hf_layout(cfg, &m->w, &entries, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = ac__hf_entry_load(&entries[i], &s->files[found[i].file], found[i].t, err);
        /* the file's pages of a copied tensor need not stay resident beside the arena */
        if (!rc) ac__st_release(&s->files[found[i].file], found[i].t);
    }
    ac_free(entries);
    ac_free(found);
    if (rc) {
        ac_model_free(m);
        return rc;
    }
    *out = m;
    return AC_OK;
}

int ac__load_hf(ac_model **out, const char *dir, const char *weights_file, ac_error *err) {
    *out = NULL;
    int rc = AC_OK;
    json_t *root = NULL;
    weight_source src = {0};
    ac_config cfg;
    char *config_path = ac__path_join(dir, "config.json");
    char *single = ac__path_join(dir, "model.safetensors");
    char *index = ac__path_join(dir, "model.safetensors.index.json");
    char *pickle = ac__path_join(dir, "pytorch_model.bin");
    if (!config_path || !single || !index || !pickle) {
        rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
        goto done;
    }
    if (!path_exists(config_path)) {
        rc = ac_error_set(err, AC_ERR_IO, config_path,
                          "missing config.json (a Hugging Face model directory needs one)");
        goto done;
    }
    if ((rc = load_json(config_path, &root, err))) goto done;
    if ((rc = parse_config(config_path, root, &cfg, err))) goto done;
    if (weights_file) rc = source_open_single(&src, weights_file, err);
    else if (path_exists(single)) rc = source_open_single(&src, single, err);
    else if (path_exists(index)) rc = source_open_index(&src, dir, index, err);
    else if (path_exists(pickle))
        rc = ac_error_set(err, AC_ERR_UNSUPPORTED, pickle,
                          "PyTorch pickle checkpoints are not supported; convert to model.safetensors");
    else
        rc = ac_error_set(err, AC_ERR_IO, dir,
                          "no weights: neither model.safetensors nor model.safetensors.index.json");
    if (!rc) rc = load_weights(&src, &cfg, config_path, out, err);
done:
    source_close(&src);
    json_decref(root);
    ac_free(config_path);
    ac_free(single);
    ac_free(index);
    ac_free(pickle);
    return rc;
}
