/* Task generators: options, RNG, word pools, checked prompt rendering, the dataset and
 * its JSON form. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/task_internal.h"
#include "util/atomic_file.h"
#include "util/json_util.h"

/* ---- options and names ---------------------------------------------------------------- */

void ac_task_options_default(ac_task_options *opts) {
    const ac_task_options d = AC_TASK_OPTIONS_INIT;
    *opts = d;
}

static const char *const task_names[] = {"ioi", "greater-than", "docstring", "induction"};

const char *ac_task_name(ac_task_kind kind) {
    return (unsigned)kind < 4 ? task_names[kind] : "unknown";
}

int ac_task_parse(const char *name, ac_task_kind *kind, ac_error *err) {
    if (name) {
        for (int i = 0; i < 4; i++)
            if (!strcmp(name, task_names[i])) {
                *kind = (ac_task_kind)i;
                return AC_OK;
            }
        if (!strcmp(name, "greaterthan") || !strcmp(name, "greater_than")) {
            *kind = AC_TASK_GREATER_THAN;
            return AC_OK;
        }
    }
    return ac_error_set(err, AC_ERR_ARG, NULL,
                        "unknown task '%s' (known: ioi, greater-than, docstring, induction)",
                        name ? name : "(null)");
}

/* ---- RNG ------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ac__rng_seed(ac__rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ac__rng_next(ac__rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t ac__rng_below(ac__rng *r, uint32_t n) {
    /* Lemire: m = x * n (64-bit) with x the top 32 bits of a draw; reject the low part
     * below 2^32 mod n. */
    uint64_t m = (ac__rng_next(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        const uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (ac__rng_next(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void ac__rng_distinct(ac__rng *r, uint32_t n, uint32_t k, uint32_t *out) {
    for (uint32_t i = 0; i < k; i++) {
        for (;;) {
            uint32_t v = ac__rng_below(r, n), j;
            for (j = 0; j < i && out[j] != v; j++) {
            }
            if (j == i) {
                out[i] = v;
                break;
            }
        }
    }
}

/* ---- small helpers ------------------------------------------------------------------- */

static int encode(const ac_tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *n,
                  ac_error *err) {
    *ids = NULL;
    *n = 0;
    return ac_tokenizer_encode(tok, text, len, ids, n, err);
}

static char *concat2(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = ac_malloc(la + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

/* Is `form` exactly one token after `ctx`? *id receives it. */
static int one_token_after(const ac_tokenizer *tok, const char *ctx, const char *form, int *ok,
                           int32_t *id, size_t *n_tokens, ac_error *err) {
    *ok = 0;
    char *both = concat2(ctx, form);
    if (!both) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    int32_t *p = NULL, *q = NULL;
    size_t np = 0, nq = 0;
    int rc = encode(tok, ctx, strlen(ctx), &p, &np, err);
    if (!rc) rc = encode(tok, both, strlen(both), &q, &nq, err);
    if (!rc) {
        *ok = nq == np + 1 && !memcmp(p, q, np * sizeof *p);
        if (*ok) *id = q[np];
        *n_tokens = nq >= np ? nq - np : 0;
    }
    ac_free(both);
    ac_free(p);
    ac_free(q);
    return rc;
}

/* ---- word pools ---------------------------------------------------------------------- */

void ac__pool_free(ac__pool *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) ac_free(p->forms[i]);
    ac_free(p->forms);
    ac_free(p->ids);
    memset(p, 0, sizeof *p);
}

int ac__pool_build(ac__pool *p, const ac_tokenizer *tok, const char *const *words, size_t n,
                   const char *lead, const char *ctx, const char *what, size_t min_keep,
                   ac_task_dataset *ds, ac_error *err) {
    memset(p, 0, sizeof *p);
    p->forms = ac_calloc(n ? n : 1, sizeof *p->forms);
    p->ids = ac_calloc(n ? n : 1, sizeof *p->ids);
    if (!p->forms || !p->ids) {
        ac__pool_free(p);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    char dropped[400];
    size_t n_dropped = 0, used = 0;
    dropped[0] = 0;
    int rc = AC_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        char *form = concat2(lead, words[i]);
        if (!form) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        int ok;
        int32_t id = -1;
        size_t nt = 0;
        rc = one_token_after(tok, ctx, form, &ok, &id, &nt, err);
        if (rc) {
            ac_free(form);
            break;
        }
        for (size_t j = 0; ok && j < p->n; j++)
            if (p->ids[j] == id) ok = 0; /* two spellings of one token: keep the first */
        if (ok) {
            p->forms[p->n] = form;
            p->ids[p->n++] = id;
        } else {
            n_dropped++;
            if (used < sizeof dropped - 40) {
                int k = snprintf(dropped + used, sizeof dropped - used, "%s'%s' (%zu tokens)",
                                 n_dropped > 1 ? ", " : "", form, nt);
                if (k > 0) used += (size_t)k;
            } else if (used < sizeof dropped - 5) {
                used += (size_t)snprintf(dropped + used, sizeof dropped - used, ", ...");
            }
            ac_free(form);
        }
    }
    if (!rc && n_dropped) {
        ds->n_pool_dropped += n_dropped;
        rc = ac__ds_note(ds, err, "%s: %zu of %zu words are not one token for this tokenizer and are not used: %s",
                         what, n_dropped, n, dropped);
    }
    if (!rc && p->n < min_keep)
        rc = ac_error_set(err, AC_ERR_UNSUPPORTED, NULL,
                          "%s: only %zu of %zu words are one token for this tokenizer; the task needs %zu",
                          what, p->n, n, min_keep);
    if (rc) ac__pool_free(p);
    return rc;
}

/* ---- rendering ----------------------------------------------------------------------- */

void ac__rendered_free(ac__rendered *r) {
    if (!r) return;
    ac_free(r->text);
    ac_free(r->ids);
    memset(r, 0, sizeof *r);
}

int ac__same_layout(const ac__rendered *a, const ac__rendered *b) {
    if (a->n != b->n || a->n_slots != b->n_slots) return 0;
    for (int s = 0; s < a->n_slots; s++)
        if (a->slot_pos[s] != b->slot_pos[s]) return 0;
    return 1;
}

int ac__render(const ac_tokenizer *tok, const ac__seg *segs, int n_segs, ac__rendered *out,
               int *ok, char *why, size_t why_n, ac_error *err) {
    memset(out, 0, sizeof *out);
    *ok = 0;
    size_t offs[AC__MAX_SEGS + 1], total = 0;
    if (n_segs > AC__MAX_SEGS) return ac_error_set(err, AC_ERR_INTERNAL, NULL, "too many prompt segments");
    for (int k = 0; k < n_segs; k++) {
        offs[k] = total;
        total += strlen(segs[k].text);
    }
    offs[n_segs] = total;
    char *text = ac_malloc(total + 1);
    if (!text) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (int k = 0; k < n_segs; k++) memcpy(text + offs[k], segs[k].text, offs[k + 1] - offs[k]);
    text[total] = 0;
    int32_t *full = NULL;
    size_t n_full = 0;
    int rc = encode(tok, text, total, &full, &n_full, err);
    int good = rc == AC_OK;
    int n_slots = 0;
    for (int k = 0; k < n_segs && good && !rc; k++) {
        if (segs[k].slot < 0) continue;
        if (segs[k].slot != n_slots || n_slots >= AC__MAX_SLOTS) {
            rc = ac_error_set(err, AC_ERR_INTERNAL, NULL, "prompt slots out of order");
            break;
        }
        int32_t *p = NULL, *q = NULL;
        size_t np = 0, nq = 0;
        rc = encode(tok, text, offs[k], &p, &np, err);
        if (!rc) rc = encode(tok, text, offs[k + 1], &q, &nq, err);
        if (!rc) {
            if (nq != np + 1 || memcmp(p, q, np * sizeof *p)) {
                good = 0;
                snprintf(why, why_n, "'%s' is %zu tokens in context, not 1", segs[k].text, nq >= np ? nq - np : 0);
            } else if (n_full < nq || memcmp(q, full, nq * sizeof *q)) {
                good = 0;
                snprintf(why, why_n, "the tokens up to '%s' change when the rest of the prompt follows",
                         segs[k].text);
            } else {
                out->slot_pos[n_slots] = (long)np;
                out->slot_id[n_slots] = q[np];
                n_slots++;
            }
        }
        ac_free(p);
        ac_free(q);
    }
    if (rc || !good) {
        ac_free(text);
        ac_free(full);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->text = text;
    out->ids = full;
    out->n = n_full;
    out->n_slots = n_slots;
    *ok = 1;
    return AC_OK;
}

/* ---- the dataset ---------------------------------------------------------------------- */

int ac__ds_new(ac_task_dataset **out, ac_task_kind kind, ac_error *err) {
    *out = ac_calloc(1, sizeof **out);
    if (!*out) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    (*out)->kind = kind;
    return AC_OK;
}

static void free_strv(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) ac_free(v[i]);
    ac_free(v);
}

void ac_task_dataset_free(ac_task_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n_prompts; i++) {
        ac_task_prompt *p = &ds->prompts[i];
        ac_free(p->clean);
        ac_free(p->corrupt);
        ac_free(p->clean_ids);
        ac_free(p->corrupt_ids);
        ac_free(p->answers);
        ac_free(p->wrong);
        free_strv(p->answer_texts, p->n_answers);
        free_strv(p->wrong_texts, p->n_wrong);
    }
    ac_free(ds->prompts);
    free_strv(ds->seq_labels, ds->n_seq_labels);
    free_strv(ds->word_idx_names, ds->n_word_idxs);
    ac_free(ds->word_idx_values);
    free_strv(ds->notes, ds->n_notes);
    ac_free(ds);
}

int ac__ds_note(ac_task_dataset *ds, ac_error *err, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nv = ac_realloc(ds->notes, (ds->n_notes + 1) * sizeof *nv);
    if (!nv) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    ds->notes = nv;
    if (!(nv[ds->n_notes] = ac_strdup(buf))) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    ds->n_notes++;
    return AC_OK;
}

ac_task_prompt *ac__ds_push(ac_task_dataset *ds) {
    /* capacity: grow by doubling; the array is exactly reallocated at powers of two */
    size_t n = ds->n_prompts;
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? 2 * n : 1;
        ac_task_prompt *np = ac_realloc(ds->prompts, cap * sizeof *np);
        if (!np) return NULL;
        ds->prompts = np;
    }
    ac_task_prompt *p = &ds->prompts[ds->n_prompts++];
    memset(p, 0, sizeof *p);
    return p;
}

void ac__prompt_take(ac_task_prompt *p, int which, ac__rendered *r) {
    if (which == 0) {
        p->clean = r->text;
        p->clean_ids = r->ids;
        p->n_clean = r->n;
    } else {
        p->corrupt = r->text;
        p->corrupt_ids = r->ids;
        p->n_corrupt = r->n;
    }
    r->text = NULL;
    r->ids = NULL;
}

static int set_answer_list(const ac_tokenizer *tok, const int32_t *ids, const char *const *texts, size_t n,
                           int32_t **out_ids, char ***out_texts, int *ids_written, ac_error *err) {
    *out_ids = ac_malloc((n ? n : 1) * sizeof **out_ids);
    if (!*out_ids) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    memcpy(*out_ids, ids, n * sizeof *ids);
    if (!texts || !tok) {
        if (n) *ids_written = 1;
        return AC_OK;
    }
    *out_texts = ac_calloc(n ? n : 1, sizeof **out_texts);
    if (!*out_texts) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int32_t *e = NULL;
        size_t ne = 0;
        int rc = encode(tok, texts[i], strlen(texts[i]), &e, &ne, err);
        if (rc) return rc;
        int same = ne == 1 && e[0] == ids[i];
        ac_free(e);
        if (!same) {
            *ids_written = 1;
            continue;
        }
        if (!((*out_texts)[i] = ac_strdup(texts[i]))) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    return AC_OK;
}

int ac__prompt_set_answers(ac_task_prompt *p, const ac_tokenizer *tok, const int32_t *ans,
                           const char *const *ans_texts, size_t n_ans, const int32_t *wrong,
                           const char *const *wrong_texts, size_t n_wrong, int *ids_written,
                           ac_error *err) {
    p->n_answers = n_ans;
    p->n_wrong = n_wrong;
    int rc = set_answer_list(tok, ans, ans_texts, n_ans, &p->answers, &p->answer_texts, ids_written, err);
    if (!rc) rc = set_answer_list(tok, wrong, wrong_texts, n_wrong, &p->wrong, &p->wrong_texts, ids_written, err);
    return rc;
}

int ac__ds_set_layout(ac_task_dataset *ds, const ac_tokenizer *tok, const ac__rendered *ref,
                      const char *const *slot_labels, const char *const *idx_names,
                      const long *idx_values, size_t n_idx, ac_error *err) {
    ds->word_idx_names = ac_calloc(n_idx ? n_idx : 1, sizeof *ds->word_idx_names);
    ds->word_idx_values = ac_calloc(n_idx ? n_idx : 1, sizeof *ds->word_idx_values);
    if (!ds->word_idx_names || !ds->word_idx_values) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n_idx; i++) {
        if (!(ds->word_idx_names[i] = ac_strdup(idx_names[i]))) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
        ds->word_idx_values[i] = idx_values[i];
        ds->n_word_idxs = i + 1;
    }
    if (!ref || !tok) return AC_OK;
    ds->seq_labels = ac_calloc(ref->n ? ref->n : 1, sizeof *ds->seq_labels);
    if (!ds->seq_labels) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    for (size_t t = 0; t < ref->n; t++) {
        const char *label = NULL;
        for (int s = 0; s < ref->n_slots && slot_labels; s++)
            if (ref->slot_pos[s] == (long)t && slot_labels[s]) label = slot_labels[s];
        if (!label) label = ac_tokenizer_token_text(tok, ref->ids[t]);
        if (!(ds->seq_labels[t] = ac_strdup(label ? label : ""))) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
        ds->n_seq_labels = t + 1;
    }
    return AC_OK;
}

int ac__ds_reject(ac_task_dataset *ds, const ac_task_options *o, size_t index, int *streak,
                  const char *why, ac_error *err) {
    if (o->strict) return ac_error_set(err, AC_ERR_FORMAT, NULL, "prompt %zu: %s (strict mode)", index, why);
    ds->n_rejected++;
    if (++*streak >= 100)
        return ac_error_set(err, AC_ERR_FORMAT, NULL,
                            "100 draws in a row for prompt %zu failed their tokenization checks; last: %s", index, why);
    if (ds->n_rejected <= 3) return ac__ds_note(ds, err, "prompt %zu redrawn: %s", index, why);
    return AC_OK;
}

/* ---- generation entry point ------------------------------------------------------------ */

int ac_task_generate(ac_task_dataset **out, ac_task_kind kind, const ac_tokenizer *tok,
                     const ac_task_options *opts, ac_error *err) {
    *out = NULL;
    ac_task_options o;
    if (opts) o = *opts;
    else ac_task_options_default(&o);
    if (o.n_prompts == 0) return ac_error_set(err, AC_ERR_ARG, NULL, "the number of prompts must be positive");
    if (o.n_prompts > 10000000) return ac_error_set(err, AC_ERR_ARG, NULL, "at most 10,000,000 prompts");
    if (kind != AC_TASK_INDUCTION && !tok)
        return ac_error_set(err, AC_ERR_ARG, NULL, "the %s task needs a tokenizer", ac_task_name(kind));
    ac_task_dataset *ds;
    int rc = ac__ds_new(&ds, kind, err);
    if (rc) return rc;
    switch (kind) {
    case AC_TASK_IOI: rc = ac__gen_ioi(ds, tok, &o, err); break;
    case AC_TASK_GREATER_THAN: rc = ac__gen_greater_than(ds, tok, &o, err); break;
    case AC_TASK_DOCSTRING: rc = ac__gen_docstring(ds, tok, &o, err); break;
    case AC_TASK_INDUCTION: rc = ac__gen_induction(ds, tok, &o, err); break;
    default: rc = ac_error_set(err, AC_ERR_ARG, NULL, "unknown task %d", (int)kind);
    }
    if (!rc && ds->n_rejected > 3)
        rc = ac__ds_note(ds, err, "%zu prompts redrawn in all (the first 3 are listed above)", ds->n_rejected);
    if (rc) {
        ac_task_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return AC_OK;
}

/* ---- JSON ------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = ac_realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Append a jansson value in one line ("key": value separators ", " and ": "). Steals v. */
static void sb_json(sbuf *b, json_t *v) {
    if (!v) {
        b->oom = 1;
        return;
    }
    char *s = ac__json_dumps(v, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(v);
    if (!s) {
        b->oom = 1;
        return;
    }
    sb_str(b, s);
    free(s);
}

static json_t *answer_array(const int32_t *ids, char *const *texts, size_t n) {
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *v = texts && texts[i] ? json_string(texts[i]) : json_integer(ids[i]);
        if (!v || json_array_append_new(a, v)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *ids_array(const int32_t *ids, size_t n) { return answer_array(ids, NULL, n); }

int ac_task_dataset_to_json(const ac_task_dataset *ds, char **json, size_t *len, ac_error *err) {
    *json = NULL;
    if (len) *len = 0;
    sbuf b = {0};
    sb_str(&b, "{\n");
    if (ds->seq_labels) {
        sb_str(&b, "  \"seq_labels\": [");
        for (size_t i = 0; i < ds->n_seq_labels; i++) {
            if (i) sb_str(&b, ", ");
            sb_json(&b, json_string(ds->seq_labels[i]));
        }
        sb_str(&b, "],\n");
    }
    if (ds->word_idx_names) {
        sb_str(&b, "  \"word_idxs\": {");
        for (size_t i = 0; i < ds->n_word_idxs; i++) {
            if (i) sb_str(&b, ", ");
            sb_json(&b, json_string(ds->word_idx_names[i]));
            char num[32];
            snprintf(num, sizeof num, ": %ld", ds->word_idx_values[i]);
            sb_str(&b, num);
        }
        sb_str(&b, "},\n");
    }
    sb_str(&b, "  \"prompts\": [\n");
    for (size_t i = 0; i < ds->n_prompts && !b.oom; i++) {
        const ac_task_prompt *p = &ds->prompts[i];
        json_t *o = json_object();
        if (!o) {
            b.oom = 1;
            break;
        }
        json_object_set_new(o, "clean", p->clean ? json_string(p->clean) : ids_array(p->clean_ids, p->n_clean));
        json_object_set_new(o, "corrupt", p->corrupt ? json_string(p->corrupt) : ids_array(p->corrupt_ids, p->n_corrupt));
        json_object_set_new(o, "answers", answer_array(p->answers, p->answer_texts, p->n_answers));
        json_object_set_new(o, "wrong_answers", answer_array(p->wrong, p->wrong_texts, p->n_wrong));
        if (json_object_size(o) != 4) {
            json_decref(o);
            b.oom = 1;
            break;
        }
        sb_str(&b, "    ");
        sb_json(&b, o);
        sb_str(&b, i + 1 < ds->n_prompts ? ",\n" : "\n");
    }
    sb_str(&b, "  ]\n}\n");
    if (b.oom) {
        ac_free(b.s);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    *json = b.s;
    if (len) *len = b.n;
    return AC_OK;
}

int ac_task_dataset_write(const ac_task_dataset *ds, const char *path, ac_error *err) {
    char *text;
    size_t n;
    int rc = ac_task_dataset_to_json(ds, &text, &n, err);
    if (rc) return rc;
    ac__afile af;
    rc = ac__afile_open(&af, path, err);
    if (!rc) {
        fwrite(text, 1, n, af.f);
        rc = ac__afile_commit(&af, err);
    }
    ac_free(text);
    return rc;
}
