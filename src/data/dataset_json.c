/* Dataset JSON parsing: one file into tokenized prompt pairs (see docs/datasets.md). */
#include "data/dataset_internal.h"
#include "util/json_util.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>


void ac__dataset_tokenizer_info(const ac_tokenizer *tok, int32_t *vocab_size, int32_t *bos) {
    *vocab_size = tok ? ac_tokenizer_vocab_size(tok) : 0;
    *bos = tok ? ac_tokenizer_bos(tok) : -1;
}

/* ---- small helpers ------------------------------------------------------------- */

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* Read a whole file into an ac_malloc'd buffer. */
static int read_file(const char *path, char **buf_out, size_t *len_out, ac_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ac_error_set(err, AC_ERR_IO, path, "cannot open: %s", strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = ac_malloc(cap);
    if (!buf) {
        fclose(f);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading the file");
    }
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) {
            if (ferror(f)) {
                int e = errno;
                ac_free(buf);
                fclose(f);
                return ac_error_set(err, AC_ERR_IO, path, "read error: %s", strerror(e));
            }
            break;
        }
        size_t new_cap;
        char *grown = NULL;
        if (ac_mul_size(cap, 2, &new_cap) == 0) grown = ac_realloc(buf, new_cap);
        if (!grown) {
            ac_free(buf);
            fclose(f);
            return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading the file");
        }
        buf = grown;
        cap = new_cap;
    }
    fclose(f);
    *buf_out = buf;
    *len_out = len;
    return AC_OK;
}

/* Check a JSON integer as a token id. `what` names it ("prompts[3].clean[2]"). */
static int check_id(json_int_t v, const ac__parse_ctx *ctx, const char *path, const char *what,
                    int32_t *out, ac_error *err) {
    if (v < 0 || v > INT32_MAX || (ctx->vocab_size > 0 && v >= ctx->vocab_size)) {
        if (ctx->vocab_size > 0)
            return ac_error_set(err, AC_ERR_RANGE, path,
                                "%s: token id %lld outside the vocabulary [0, %d)", what,
                                (long long)v, (int)ctx->vocab_size);
        return ac_error_set(err, AC_ERR_RANGE, path,
                            "%s: token id %lld is not a valid id (0 to %d)", what, (long long)v,
                            (int)INT32_MAX);
    }
    *out = (int32_t)v;
    return AC_OK;
}

/* Encode text, or fail with "text prompts need a tokenizer". */
static int encode_text(const json_t *s, const ac__parse_ctx *ctx, const char *path,
                       const char *what, int32_t **ids, size_t *n, ac_error *err) {
    if (!ctx->tok)
        return ac_error_set(err, AC_ERR_ARG, path,
                            "%s: text prompts need a tokenizer (give token ids, or load "
                            "the model's tokenizer)",
                            what);
    ac_error sub;
    ac_error_clear(&sub);
    int rc =
        ac_tokenizer_encode(ctx->tok, json_string_value(s), json_string_length(s), ids, n, &sub);
    if (rc != AC_OK)
        return ac_error_set(err, rc, path, "%s: tokenizing failed: %s", what,
                            sub.msg[0] ? sub.msg : ac_status_message(rc));
    return AC_OK;
}

/* A prompt: a non-empty string (tokenized) or a non-empty list of token ids; the BOS id
 * (if any) is put in front. */
static int parse_prompt_seq(const json_t *v, const ac__parse_ctx *ctx, const char *path, size_t pi,
                            const char *key, int32_t **out, size_t *n_out, ac_error *err) {
    char what[96];
    snprintf(what, sizeof what, "prompts[%zu].%s", pi, key);
    size_t n_bos = ctx->bos_id >= 0 ? 1 : 0;
    int32_t *ids = NULL;
    size_t n = 0;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0)
            return ac_error_set(err, AC_ERR_FORMAT, path, "%s is an empty prompt", what);
        int32_t *text_ids = NULL;
        size_t n_text = 0;
        int rc = encode_text(v, ctx, path, what, &text_ids, &n_text, err);
        if (rc != AC_OK) return rc;
        if (n_text == 0) {
            ac_free(text_ids);
            return ac_error_set(err, AC_ERR_FORMAT, path, "%s encodes to no tokens", what);
        }
        if (n_bos) {
            size_t total;
            if (ac_add_size(n_text, n_bos, &total) || ac_mul_size(total, sizeof *ids, &total)) {
                ac_free(text_ids);
                return ac_error_set(err, AC_ERR_NOMEM, path, "%s: too many tokens", what);
            }
            ids = ac_malloc(total);
            if (!ids) {
                ac_free(text_ids);
                return ac_error_set(err, AC_ERR_NOMEM, path, "%s: out of memory", what);
            }
            ids[0] = ctx->bos_id;
            memcpy(ids + 1, text_ids, n_text * sizeof *ids);
            ac_free(text_ids);
        } else {
            ids = text_ids;
        }
        n = n_text + n_bos;
    } else if (json_is_array(v)) {
        size_t n_src = json_array_size(v);
        if (n_src == 0)
            return ac_error_set(err, AC_ERR_FORMAT, path, "%s is an empty prompt", what);
        size_t bytes;
        if (ac_add_size(n_src, n_bos, &n) || ac_mul_size(n, sizeof *ids, &bytes))
            return ac_error_set(err, AC_ERR_NOMEM, path, "%s: too many tokens", what);
        ids = ac_malloc(bytes);
        if (!ids) return ac_error_set(err, AC_ERR_NOMEM, path, "%s: out of memory", what);
        if (n_bos) ids[0] = ctx->bos_id;
        for (size_t i = 0; i < n_src; i++) {
            const json_t *e = json_array_get(v, i);
            char ewhat[128];
            snprintf(ewhat, sizeof ewhat, "%s[%zu]", what, i);
            int rc = AC_OK;
            if (json_is_integer(e)) {
                rc = check_id(json_integer_value(e), ctx, path, ewhat, &ids[n_bos + i], err);
            } else if (json_is_array(e)) {
                rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                  "%s is a list: vector inputs (lists of lists) are not "
                                  "supported, give one token id per position",
                                  ewhat);
            } else if (json_is_real(e)) {
                rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                  "%s is a real number: float inputs are not supported, "
                                  "give integer token ids",
                                  ewhat);
            } else {
                rc = ac_error_set(err, AC_ERR_FORMAT, path,
                                  "%s must be an integer token id, got %s", ewhat, json_kind(e));
            }
            if (rc != AC_OK) {
                ac_free(ids);
                return rc;
            }
        }
    } else {
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "%s must be a string or a list of token ids, got %s", what,
                            json_kind(v));
    }
    *out = ids;
    *n_out = n;
    return AC_OK;
}

/* Answers: a list whose elements are one-token strings or token ids. `allow_empty`
 * is 0 for "answers" (a prompt needs a correct answer) and 1 for "wrong_answers". */
static int parse_answers(const json_t *v, const ac__parse_ctx *ctx, const char *path, size_t pi,
                         const char *key, int allow_empty, int32_t **out, size_t *n_out,
                         ac_error *err) {
    char what[96];
    snprintf(what, sizeof what, "prompts[%zu].%s", pi, key);
    if (!json_is_array(v))
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "%s must be a list of strings or token ids, got %s", what,
                            json_kind(v));
    size_t n = json_array_size(v);
    if (n == 0 && !allow_empty)
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "%s is empty: every prompt needs at least one answer", what);
    int32_t *ids = ac_calloc(n ? n : 1, sizeof *ids);
    if (!ids) return ac_error_set(err, AC_ERR_NOMEM, path, "%s: out of memory", what);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        char ewhat[128];
        snprintf(ewhat, sizeof ewhat, "%s[%zu]", what, i);
        int rc = AC_OK;
        if (json_is_integer(e)) {
            rc = check_id(json_integer_value(e), ctx, path, ewhat, &ids[i], err);
        } else if (json_is_string(e)) {
            int32_t *enc = NULL;
            size_t n_enc = 0;
            rc = encode_text(e, ctx, path, ewhat, &enc, &n_enc, err);
            if (rc == AC_OK) {
                if (n_enc != 1)
                    rc = ac_error_set(err, AC_ERR_FORMAT, path,
                                      "%s \"%.64s\" is %zu tokens: an answer must be exactly "
                                      "one token",
                                      ewhat, json_string_value(e), n_enc);
                else
                    rc = check_id(enc[0], ctx, path, ewhat, &ids[i], err);
            }
            ac_free(enc);
        } else if (json_is_array(e)) {
            rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                              "%s is a list: per-position answers (lists of lists) are not "
                              "supported",
                              ewhat);
        } else if (json_is_real(e)) {
            rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                              "%s is a real number: float answers (regression targets) are "
                              "not supported",
                              ewhat);
        } else {
            rc = ac_error_set(err, AC_ERR_FORMAT, path,
                              "%s must be a one-token string or a token id, got %s", ewhat,
                              json_kind(e));
        }
        if (rc != AC_OK) {
            ac_free(ids);
            return rc;
        }
    }
    *out = ids;
    *n_out = n;
    return AC_OK;
}

static void prompt_free(ac__prompt *p) {
    ac_free(p->clean);
    ac_free(p->corrupt);
    ac_free(p->answers);
    ac_free(p->wrong);
    memset(p, 0, sizeof *p);
}

void ac__prompt_list_free(ac__prompt_list *list) {
    if (!list) return;
    for (size_t i = 0; i < list->n; i++)
        prompt_free(&list->items[i]);
    ac_free(list->items);
    memset(list, 0, sizeof *list);
}

static int list_reserve(ac__prompt_list *list, size_t extra) {
    size_t need;
    if (ac_add_size(list->n, extra, &need)) return -1;
    if (need <= list->cap) return 0;
    size_t cap = list->cap ? list->cap : 64;
    while (cap < need)
        if (ac_mul_size(cap, 2, &cap)) return -1;
    size_t bytes;
    if (ac_mul_size(cap, sizeof *list->items, &bytes)) return -1;
    ac__prompt *items = ac_realloc(list->items, bytes);
    if (!items) return -1;
    list->items = items;
    list->cap = cap;
    return 0;
}

static int get_key(const json_t *obj, const char *key, const char *path, size_t pi,
                   const json_t **out, ac_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return ac_error_set(err, AC_ERR_FORMAT, path, "prompts[%zu]: missing key \"%s\"", pi, key);
    *out = v;
    return AC_OK;
}

static int parse_prompt(const json_t *obj, const ac__parse_ctx *ctx, const char *path, size_t pi,
                        ac__prompt *p, ac_error *err) {
    if (!json_is_object(obj))
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "prompts[%zu] must be an object with clean, corrupt, answers and "
                            "wrong_answers, got %s",
                            pi, json_kind(obj));
    const json_t *clean = NULL, *corrupt = NULL, *answers = NULL, *wrong = NULL;
    int rc;
    if ((rc = get_key(obj, "clean", path, pi, &clean, err)) != AC_OK) return rc;
    if ((rc = get_key(obj, "corrupt", path, pi, &corrupt, err)) != AC_OK) return rc;
    if ((rc = get_key(obj, "answers", path, pi, &answers, err)) != AC_OK) return rc;
    if ((rc = get_key(obj, "wrong_answers", path, pi, &wrong, err)) != AC_OK) return rc;
    memset(p, 0, sizeof *p);
    rc = parse_prompt_seq(clean, ctx, path, pi, "clean", &p->clean, &p->n_clean, err);
    if (rc == AC_OK)
        rc = parse_prompt_seq(corrupt, ctx, path, pi, "corrupt", &p->corrupt, &p->n_corrupt, err);
    if (rc == AC_OK)
        rc = parse_answers(answers, ctx, path, pi, "answers", 0, &p->answers, &p->n_answers, err);
    if (rc == AC_OK)
        rc = parse_answers(wrong, ctx, path, pi, "wrong_answers", 1, &p->wrong, &p->n_wrong, err);
    if (rc != AC_OK) prompt_free(p);
    return rc;
}

/* seq_labels: list of strings; "<|BOS|>" first when a BOS is prepended. */
static int parse_seq_labels(const json_t *v, int bos, const char *path, ac_dataset *ds,
                            ac_error *err) {
    if (!json_is_array(v))
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "\"seq_labels\" must be a list of strings, got %s", json_kind(v));
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++)
        if (!json_is_string(json_array_get(v, i)))
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "seq_labels[%zu] must be a string, got %s", i,
                                json_kind(json_array_get(v, i)));
    size_t total = n + (bos ? 1 : 0);
    ds->seq_labels = ac_calloc(total ? total : 1, sizeof *ds->seq_labels);
    if (!ds->seq_labels) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory (seq_labels)");
    ds->n_seq_labels = total;
    size_t k = 0;
    if (bos) {
        ds->seq_labels[k] = ac_strdup("<|BOS|>");
        if (!ds->seq_labels[k++])
            return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory (seq_labels)");
    }
    for (size_t i = 0; i < n; i++) {
        ds->seq_labels[k] = ac_strdup(json_string_value(json_array_get(v, i)));
        if (!ds->seq_labels[k++])
            return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory (seq_labels)");
    }
    return AC_OK;
}

/* word_idxs: object of name -> integer position (counted without BOS in the file). */
static int parse_word_idxs(const json_t *v, int bos, const char *path, ac_dataset *ds,
                           ac_error *err) {
    if (!json_is_object(v))
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "\"word_idxs\" must be an object of name: integer, got %s",
                            json_kind(v));
    size_t n = json_object_size(v);
    const char *name;
    const json_t *val;
    json_object_foreach((json_t *)v, name, val) {
        if (!json_is_integer(val))
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "word_idxs[\"%.64s\"] must be an integer position, got %s", name,
                                json_kind(val));
        json_int_t x = json_integer_value(val);
        if (x < 0 || x >= LONG_MAX)
            return ac_error_set(err, AC_ERR_RANGE, path,
                                "word_idxs[\"%.64s\"] = %lld is not a valid position", name,
                                (long long)x);
    }
    ds->word_idx_names = ac_calloc(n ? n : 1, sizeof *ds->word_idx_names);
    ds->word_idx_values = ac_calloc(n ? n : 1, sizeof *ds->word_idx_values);
    if (!ds->word_idx_names || !ds->word_idx_values)
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory (word_idxs)");
    size_t k = 0;
    json_object_foreach((json_t *)v, name, val) {
        ds->word_idx_names[k] = ac_strdup(name);
        if (!ds->word_idx_names[k])
            return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory (word_idxs)");
        ds->word_idx_values[k] = (long)json_integer_value(val) + (bos ? 1 : 0);
        ds->n_word_idxs = ++k;
    }
    return AC_OK;
}

int ac__dataset_parse_file(const char *path, size_t file_index, const ac__parse_ctx *ctx,
                           ac__prompt_list *list, ac_dataset *ds, ac_error *err) {
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err);
    if (rc != AC_OK) return rc;
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr);
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    ac_free(buf);
    if (!root && ac__json_oom(&jerr))
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory parsing JSON");
    if (!root)
        return ac_error_set_at(err, AC_ERR_FORMAT, path, jerr.line > 0 ? jerr.line : 1,
                               jerr.column > 0 ? jerr.column : 1, "invalid JSON: %s", jerr.text);
    if (!json_is_object(root)) {
        rc = ac_error_set(err, AC_ERR_FORMAT, path,
                          "the top level must be an object with a \"prompts\" list, got %s",
                          json_kind(root));
        goto done;
    }
    const json_t *prompts = json_object_get(root, "prompts");
    if (!prompts) {
        rc = ac_error_set(err, AC_ERR_FORMAT, path, "missing key \"prompts\"");
        goto done;
    }
    if (!json_is_array(prompts)) {
        rc = ac_error_set(err, AC_ERR_FORMAT, path, "\"prompts\" must be a list, got %s",
                          json_kind(prompts));
        goto done;
    }
    size_t n = json_array_size(prompts);
    if (n == 0) {
        rc = ac_error_set(err, AC_ERR_FORMAT, path, "\"prompts\" is empty");
        goto done;
    }
    if (file_index == 0) {
        const json_t *labels = json_object_get(root, "seq_labels");
        const json_t *words = json_object_get(root, "word_idxs");
        int bos = ctx->bos_id >= 0;
        if (labels && !json_is_null(labels) &&
            (rc = parse_seq_labels(labels, bos, path, ds, err)) != AC_OK)
            goto done;
        if (words && !json_is_null(words) &&
            (rc = parse_word_idxs(words, bos, path, ds, err)) != AC_OK)
            goto done;
    }
    if (list_reserve(list, n)) {
        rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory (%zu prompts)", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        ac__prompt *p = &list->items[list->n];
        rc = parse_prompt(json_array_get(prompts, i), ctx, path, i, p, err);
        if (rc != AC_OK) goto done;
        p->file = file_index;
        p->index_in_file = i;
        list->n++;
    }
    rc = AC_OK;
done:
    json_decref(root);
    return rc;
}
