/* Hugging Face tokenizer.json, byte-level BPE family (GPT-2, Llama-3, Qwen2, ...):
 * model BPE with vocab + merges, added_tokens, pre_tokenizer ByteLevel or a Sequence of
 * Split regexes ending in ByteLevel, decoder ByteLevel. */
#include <string.h>

#include "data/tokenizer_internal.h"

static const char *type_of(const json_t *obj) {
    const char *t = json_string_value(json_object_get(obj, "type"));
    return t ? t : "";
}

/* A member that must be absent, null, false, 0 or "" for us to support the file. */
static int is_unset(const json_t *v) {
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_number(v) && json_number_value(v) == 0.0) ||
           (json_is_string(v) && json_string_length(v) == 0);
}

static int bool_member(const json_t *obj, const char *key, int dflt) {
    const json_t *v = json_object_get(obj, key);
    if (json_is_boolean(v)) return json_is_true(v);
    return dflt;
}

static int add_prefix_stage(ac_tokenizer *tok, const char *path, ac_error *err) {
    if (tok->n_stages >= AC__MAX_STAGES)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path, "more than %d pre-tokenizer steps",
                            AC__MAX_STAGES);
    tok->stages[tok->n_stages].kind = AC__STAGE_PREFIX_SPACE;
    tok->stages[tok->n_stages].re = NULL;
    tok->n_stages++;
    return AC_OK;
}

static int add_pre_tokenizer(ac_tokenizer *tok, const json_t *pt, int top, int last,
                             int *saw_bytelevel, const char *path, ac_error *err) {
    const char *type = type_of(pt);
    if (!json_is_object(pt))
        return ac_error_set(err, AC_ERR_FORMAT, path, "pre_tokenizer: expected an object");
    if (*saw_bytelevel)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                            "pre_tokenizer: a %s step after ByteLevel is not supported", type);
    if (!strcmp(type, "Sequence") && top) {
        const json_t *list = json_object_get(pt, "pretokenizers");
        if (!json_is_array(list) || json_array_size(list) == 0)
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "pre_tokenizer Sequence: expected a non-empty "
                                "\"pretokenizers\" array");
        size_t n = json_array_size(list);
        for (size_t i = 0; i < n; i++) {
            int rc = add_pre_tokenizer(tok, json_array_get(list, i), 0, i + 1 == n,
                                       saw_bytelevel, path, err);
            if (rc) return rc;
        }
        return AC_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        if (!last)
            return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                "pre_tokenizer: ByteLevel must be the last step");
        *saw_bytelevel = 1;
        int rc = AC_OK;
        if (bool_member(pt, "add_prefix_space", 1)) rc = add_prefix_stage(tok, path, err);
        if (!rc && bool_member(pt, "use_regex", 1))
            rc = ac__bpe_add_regex_stage(tok, ac__gpt2_pattern, strlen(ac__gpt2_pattern), 0,
                                         path, err);
        return rc;
    }
    if (!strcmp(type, "Split")) {
        const json_t *pattern = json_object_get(pt, "pattern");
        const json_t *regex = json_object_get(pattern, "Regex");
        const json_t *literal = json_object_get(pattern, "String");
        const char *behavior = json_string_value(json_object_get(pt, "behavior"));
        if (!json_is_string(regex) && !json_is_string(literal))
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "pre_tokenizer Split: expected pattern {\"Regex\": ...} or "
                                "{\"String\": ...}");
        if (!behavior || strcmp(behavior, "Isolated"))
            return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                "pre_tokenizer Split: behavior '%s' is not supported (only "
                                "Isolated)",
                                behavior ? behavior : "(none)");
        if (bool_member(pt, "invert", 0))
            return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                "pre_tokenizer Split: invert is not supported");
        const json_t *p = json_is_string(regex) ? regex : literal;
        return ac__bpe_add_regex_stage(tok, json_string_value(p), json_string_length(p),
                                       p == literal, path, err);
    }
    return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                        "pre_tokenizer '%s' is not supported (only ByteLevel, or a Sequence "
                        "of Split steps ending in ByteLevel)",
                        type);
}

static int check_supported(const json_t *root, const json_t *model, const char *path,
                           ac_error *err) {
    const char *type = json_string_value(json_object_get(model, "type"));
    if (type && strcmp(type, "BPE"))
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                            "model type '%s' is not supported (only BPE)", type);
    static const char *const unset[] = {"dropout", "continuing_subword_prefix",
                                        "end_of_word_suffix", "byte_fallback"};
    for (size_t i = 0; i < sizeof unset / sizeof *unset; i++)
        if (!is_unset(json_object_get(model, unset[i])))
            return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                "BPE option '%s' is not supported", unset[i]);
    const json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm) && strcmp(type_of(norm), "NFC"))
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                            "normalizer '%s' is not supported (only none or NFC)",
                            json_is_object(norm) ? type_of(norm) : "?");
    const json_t *pt = json_object_get(root, "pre_tokenizer");
    if (!pt || json_is_null(pt))
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                            "no pre_tokenizer: only byte-level BPE (ByteLevel) is supported");
    const json_t *dec = json_object_get(root, "decoder");
    if (!json_is_object(dec) || strcmp(type_of(dec), "ByteLevel"))
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                            "decoder '%s' is not supported (only ByteLevel)",
                            json_is_object(dec) ? type_of(dec) : "null");
    return AC_OK;
}

/* Check added_tokens and raise *max_id to cover their ids. */
static int check_added(const json_t *added, const char *path, int32_t *max_id,
                       ac_error *err) {
    if (!added || json_is_null(added)) return AC_OK;
    if (!json_is_array(added))
        return ac_error_set(err, AC_ERR_FORMAT, path, "added_tokens: expected an array");
    size_t i;
    const json_t *t;
    json_array_foreach(added, i, t) {
        const json_t *id = json_object_get(t, "id");
        const json_t *content = json_object_get(t, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= (1 << 24) || !json_is_string(content))
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "added_tokens[%zu]: expected an integer \"id\" in 0..%d and a "
                                "string \"content\"",
                                i, (1 << 24) - 1);
        if (bool_member(t, "single_word", 0))
            return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                "added_tokens[%zu] '%.100s': single_word is not supported", i,
                                json_string_value(content));
        if ((int32_t)json_integer_value(id) > *max_id) *max_id = (int32_t)json_integer_value(id);
    }
    return AC_OK;
}

static int add_merges(ac_tokenizer *tok, const json_t *merges, const char *path,
                      ac_error *err) {
    if (!json_is_array(merges))
        return ac_error_set(err, AC_ERR_FORMAT, path, "model.merges: expected an array");
    size_t i;
    const json_t *m;
    json_array_foreach(merges, i, m) {
        if (i >= INT32_MAX) return ac_error_set(err, AC_ERR_FORMAT, path, "too many merges");
        const char *left, *right;
        size_t left_len, right_len;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            size_t n = json_string_length(m);
            const char *space = memchr(s, ' ', n);
            if (!space || memchr(space + 1, ' ', n - (size_t)(space - s) - 1))
                return ac_error_set(err, AC_ERR_FORMAT, path,
                                    "model.merges[%zu] '%.100s': expected two tokens "
                                    "separated by one space",
                                    i, s);
            left = s;
            left_len = (size_t)(space - s);
            right = space + 1;
            right_len = n - left_len - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            left = json_string_value(json_array_get(m, 0));
            left_len = json_string_length(json_array_get(m, 0));
            right = json_string_value(json_array_get(m, 1));
            right_len = json_string_length(json_array_get(m, 1));
        } else {
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "model.merges[%zu]: expected \"left right\" or [\"left\", "
                                "\"right\"]",
                                i);
        }
        int rc = ac__bpe_add_merge(tok, left, left_len, right, right_len, (int32_t)i, path, 0,
                                   0, err);
        if (rc) return rc;
    }
    return AC_OK;
}

static int add_added_tokens(ac_tokenizer *tok, const json_t *added, const char *path,
                            ac_error *err) {
    size_t i;
    const json_t *t;
    ac__buf text = {0};
    json_array_foreach(added, i, t) {
        int32_t id = (int32_t)json_integer_value(json_object_get(t, "id"));
        const json_t *content = json_object_get(t, "content");
        const char *s = json_string_value(content);
        size_t n = json_string_length(content);
        text.len = 0;
        int rc = ac__bytelevel_decode(s, n, &text);
        if (!rc) rc = ac__tokenizer_set_token(tok, id, s, n, text.data, text.len);
        if (!rc)
            rc = ac__bpe_add_special(tok, s, n, id, bool_member(t, "lstrip", 0),
                                     bool_member(t, "rstrip", 0));
        if (rc) {
            ac__buf_free(&text);
            return ac_error_set(err, rc, path, "added_tokens: %s", ac_status_message(rc));
        }
    }
    ac__buf_free(&text);
    return AC_OK;
}

/* Id of the first of `names` that is an added token or in the vocab, else -1. */
static int32_t find_named(const ac_tokenizer *tok, const char *const *names, size_t n) {
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(names[k]);
        for (size_t i = 0; i < tok->n_specials; i++)
            if (tok->specials[i].len == len && !memcmp(tok->specials[i].text, names[k], len))
                return tok->specials[i].id;
        int32_t id = ac__strmap_get(&tok->vocab, names[k], len);
        if (id >= 0) return id;
    }
    return -1;
}

int ac__hf_load_json(ac_tokenizer **out, const char *path, ac_error *err) {
    *out = NULL;
    json_t *root;
    int rc = ac__json_load(path, &root, err);
    if (rc) return rc;
    ac_tokenizer *tok = NULL;
    const json_t *model = json_object_get(root, "model");
    const json_t *vocab = json_object_get(model, "vocab");
    const json_t *added = json_object_get(root, "added_tokens");
    int32_t max_id = -1;
    if (!json_is_object(root))
        rc = ac_error_set(err, AC_ERR_FORMAT, path, "expected a JSON object");
    else if (!json_is_object(model))
        rc = ac_error_set(err, AC_ERR_FORMAT, path, "no \"model\" object");
    if (!rc) rc = check_supported(root, model, path, err);
    if (!rc) rc = ac__bpe_check_vocab(vocab, path, "model.vocab", &max_id, err);
    if (!rc) rc = check_added(added, path, &max_id, err);
    if (!rc) rc = ac__tokenizer_alloc(&tok, AC_TOKENIZER_GPT2_BPE, max_id + 1, path, err);
    if (!rc) rc = ac__bpe_fill_vocab(tok, vocab, path, "model.vocab", err);
    if (!rc) rc = add_merges(tok, json_object_get(model, "merges"), path, err);
    if (!rc) {
        const char *unk = json_string_value(json_object_get(model, "unk_token"));
        if (unk) tok->unk_id = ac__strmap_get(&tok->vocab, unk, strlen(unk));
        tok->ignore_merges = bool_member(model, "ignore_merges", 0);
        int saw_bytelevel = 0;
        rc = add_pre_tokenizer(tok, json_object_get(root, "pre_tokenizer"), 1, 1,
                               &saw_bytelevel, path, err);
        if (!rc && !saw_bytelevel)
            rc = ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                              "pre_tokenizer without ByteLevel is not supported");
    }
    if (!rc && added && json_is_array(added)) rc = add_added_tokens(tok, added, path, err);
    if (!rc) {
        ac__bpe_finish_specials(tok);
        static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<|endoftext|>"};
        static const char *const eos[] = {"<|end_of_text|>", "</s>", "<|endoftext|>"};
        tok->bos = find_named(tok, bos, 3);
        tok->eos = find_named(tok, eos, 3);
    }
    json_decref(root);
    if (rc) {
        ac_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return AC_OK;
}
