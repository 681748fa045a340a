/* Task generators (make-dataset) and official circuits (official-circuit): determinism,
 * per-prompt checks against the tokenizer, the IOI / greater-than / docstring structure,
 * and the circuit sizes auto-circuit implies (reference §5.4). */
#include "ac_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- helpers ------------------------------------------------------------------------ */

static const char *shared_path(const char *sub) {
    const char *d = ac_test_shared_dir();
    if (!d) return NULL;
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", d, sub);
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

#define REQUIRE_SHARED(var, sub)                                     \
    const char *var = shared_path(sub);                              \
    if (!var) {                                                      \
        print_message("skipping: ../shared/%s not found\n", (sub));  \
        skip();                                                      \
    }

static ac_tokenizer *load_tok(const char *path) {
    ac_tokenizer *tok;
    ac_error err;
    assert_ac_ok(ac_tokenizer_load(&tok, path, &err), &err);
    return tok;
}

static ac_task_dataset *gen(ac_task_kind kind, const ac_tokenizer *tok, const ac_task_options *o) {
    ac_task_dataset *ds;
    ac_error err;
    assert_ac_ok(ac_task_generate(&ds, kind, tok, o, &err), &err);
    assert_int_equal(ds->n_prompts, o->n_prompts);
    return ds;
}

static int32_t one_token(const ac_tokenizer *tok, const char *text) {
    int32_t *ids;
    size_t n;
    ac_error err;
    assert_ac_ok(ac_tokenizer_encode(tok, text, strlen(text), &ids, &n, &err), &err);
    if (n != 1) fail_msg("'%s' is %zu tokens", text, n);
    int32_t id = ids[0];
    ac_free(ids);
    return id;
}

/* Every prompt's text re-tokenizes to its ids; answers are the ids of their strings. */
static void check_tokenization(const ac_tokenizer *tok, const ac_task_dataset *ds) {
    for (size_t i = 0; i < ds->n_prompts; i++) {
        const ac_task_prompt *p = &ds->prompts[i];
        for (int side = 0; side < 2; side++) {
            const char *text = side ? p->corrupt : p->clean;
            const int32_t *want = side ? p->corrupt_ids : p->clean_ids;
            const size_t nw = side ? p->n_corrupt : p->n_clean;
            assert_non_null(text);
            int32_t *ids;
            size_t n;
            ac_error err;
            assert_ac_ok(ac_tokenizer_encode(tok, text, strlen(text), &ids, &n, &err), &err);
            assert_int_equal(n, nw);
            assert_memory_equal(ids, want, n * sizeof *ids);
            ac_free(ids);
        }
        for (size_t k = 0; k < p->n_answers; k++)
            if (p->answer_texts && p->answer_texts[k]) assert_int_equal(one_token(tok, p->answer_texts[k]), p->answers[k]);
        for (size_t k = 0; k < p->n_wrong; k++)
            if (p->wrong_texts && p->wrong_texts[k]) assert_int_equal(one_token(tok, p->wrong_texts[k]), p->wrong[k]);
    }
}

static long word_idx(const ac_task_dataset *ds, const char *name) {
    for (size_t i = 0; i < ds->n_word_idxs; i++)
        if (!strcmp(ds->word_idx_names[i], name)) return ds->word_idx_values[i];
    fail_msg("no word_idx '%s'", name);
    return -1;
}

static char *to_json(const ac_task_dataset *ds) {
    char *s;
    size_t n;
    ac_error err;
    assert_ac_ok(ac_task_dataset_to_json(ds, &s, &n, &err), &err);
    assert_int_equal(strlen(s), n);
    return s;
}

/* Write and load the dataset back with the loader: every answer one token, lengths. */
static ac_dataset *load_back(const ac_task_dataset *ds, const ac_tokenizer *tok, const char *name, int fixed) {
    const char *path = ac_test_path(ac_test_tmpdir(), name);
    ac_error err;
    assert_ac_ok(ac_task_dataset_write(ds, path, &err), &err);
    ac_dataset_options o = AC_DATASET_OPTIONS_INIT;
    o.train_size = AC_DATASET_ALL;
    o.test_size = 0;
    o.shuffle = 0;
    o.fixed_length = fixed;
    ac_dataset *d;
    const char *paths[] = {path};
    assert_ac_ok(ac_dataset_load(&d, paths, 1, tok, &o, &err), &err);
    assert_int_equal(d->n_loaded, ds->n_prompts);
    return d;
}

/* Does `text` follow IOI `tmpl` (without its final " [A]") with [A] = io, [B] = s and
 * [PLACE] / [OBJECT] words from the lists? */
static int match_template(const char *t, const char *text, const char *io, const char *s) {
    if (!strcmp(t, " [A]")) return *text == 0;
    if (!*t) return 0;
    static const char *const marks[] = {"[A]", "[B]", "[PLACE]", "[OBJECT]"};
    for (int k = 0; k < 4; k++) {
        size_t ml = strlen(marks[k]);
        if (strncmp(t, marks[k], ml)) continue;
        size_t n = 0;
        const char *const *words = k == 0 ? &io : k == 1 ? &s : ac_task_word_list(k == 2 ? "places" : "objects", &n);
        if (k < 2) n = 1;
        for (size_t w = 0; w < n; w++) {
            size_t wl = strlen(words[w]);
            if (!strncmp(text, words[w], wl) && match_template(t + ml, text + wl, io, s)) return 1;
        }
        return 0;
    }
    return *t == *text && match_template(t + 1, text + 1, io, s);
}

/* ---- word lists ----------------------------------------------------------------------- */

static void test_word_lists(void **state) {
    (void)state;
    REQUIRE_SHARED(dir, "tokenizers/gpt2");
    ac_tokenizer *tok = load_tok(dir);
    const char *lists[] = {"names", "places", "objects", "nouns", "params", "descriptions"};
    for (int l = 0; l < 6; l++) {
        size_t n;
        const char *const *w = ac_task_word_list(lists[l], &n);
        assert_non_null(w);
        assert_true(n >= 20);
        for (size_t i = 0; i < n; i++) {
            char form[64];
            snprintf(form, sizeof form, " %s", w[i]);
            one_token(tok, form); /* used mid-sentence: one token with its leading space */
            if (!strcmp(lists[l], "descriptions")) one_token(tok, w[i]); /* first word after """ */
            for (size_t j = 0; j < i; j++)
                if (!strcmp(w[i], w[j])) fail_msg("%s: '%s' twice", lists[l], w[i]);
        }
    }
    /* description words are never parameter names */
    size_t np, nd;
    const char *const *p = ac_task_word_list("params", &np), *const *d = ac_task_word_list("descriptions", &nd);
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < nd; j++)
            if (!strcmp(p[i], d[j])) fail_msg("'%s' is both a parameter name and a description word", p[i]);
    assert_null(ac_task_word_list("verbs", NULL));
    ac_tokenizer_free(tok);
}

static void test_ioi_templates(void **state) {
    (void)state;
    for (int t = 0; t <= AC_IOI_VANILLA; t++) {
        const char *ab = ac_task_ioi_template(t, AC_IOI_ABBA), *ba = ac_task_ioi_template(t, AC_IOI_BABA);
        assert_non_null(ab);
        assert_non_null(ba);
        /* ABBA = BABA with the first [B] and the first [A] swapped */
        char want[256];
        snprintf(want, sizeof want, "%s", ba);
        char *b = strstr(want, "[B]"), *a = strstr(want, "[A]");
        assert_true(b && a && b < a);
        b[1] = 'A';
        a[1] = 'B';
        assert_string_equal(ab, want);
        /* one [A] before the answer, [B] twice */
        size_t len = strlen(ba);
        assert_string_equal(ba + len - 4, " [A]");
    }
    assert_string_equal(ac_task_ioi_template(0, AC_IOI_BABA),
                        "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]");
    assert_null(ac_task_ioi_template(16, AC_IOI_ABBA));
    assert_null(ac_task_ioi_template(0, AC_IOI_BOTH));
}

/* ---- IOI ------------------------------------------------------------------------------- */

static void test_ioi(void **state) {
    (void)state;
    REQUIRE_SHARED(dir, "tokenizers/gpt2");
    ac_tokenizer *tok = load_tok(dir);
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 300;
    o.seed = 3;
    ac_task_dataset *ds = gen(AC_TASK_IOI, tok, &o);
    assert_int_equal(ds->n_rejected, 0);
    assert_int_equal(ds->n_pool_dropped, 0);
    assert_null(ds->word_idx_names); /* mixed templates: no common layout */
    check_tokenization(tok, ds);
    size_t n_abba = 0, n_baba = 0, len_of[AC_IOI_N_TEMPLATES] = {0}, templates_seen = 0;
    for (size_t i = 0; i < ds->n_prompts; i++) {
        const ac_task_prompt *p = &ds->prompts[i];
        assert_int_equal(p->order, i % 2 ? AC_IOI_BABA : AC_IOI_ABBA);
        n_abba += p->order == AC_IOI_ABBA;
        n_baba += p->order == AC_IOI_BABA;
        assert_true(p->family >= 0 && p->family < AC_IOI_N_TEMPLATES);
        /* equal token length within a template */
        if (!len_of[p->family]) {
            len_of[p->family] = p->n_clean;
            templates_seen++;
        }
        assert_int_equal(p->n_clean, len_of[p->family]);
        assert_int_equal(p->n_corrupt, p->n_clean);
        /* one answer (IO) and one wrong answer (S), both names with a leading space */
        assert_int_equal(p->n_answers, 1);
        assert_int_equal(p->n_wrong, 1);
        assert_non_null(p->answer_texts);
        const char *io = p->answer_texts[0] + 1, *s = p->wrong_texts[0] + 1;
        assert_int_equal(p->answer_texts[0][0], ' ');
        assert_string_not_equal(io, s);
        /* the text is the paper's template with these names */
        const char *t = ac_task_ioi_template(p->family, (ac_ioi_order)p->order);
        if (!match_template(t, p->clean, io, s)) fail_msg("prompt %zu '%s' does not follow '%s'", i, p->clean, t);
        /* IO once, S twice; corrupt (ABC) changes exactly those three tokens, to three
         * distinct other names */
        long pos_io = -1, pos_s[2] = {-1, -1};
        int n_s = 0, n_diff = 0;
        for (size_t k = 0; k < p->n_clean; k++) {
            if (p->clean_ids[k] == p->answers[0]) {
                assert_int_equal(pos_io, -1);
                pos_io = (long)k;
            }
            if (p->clean_ids[k] == p->wrong[0]) {
                assert_true(n_s < 2);
                pos_s[n_s++] = (long)k;
            }
            if (p->clean_ids[k] != p->corrupt_ids[k]) n_diff++;
        }
        assert_int_equal(n_s, 2);
        assert_true(pos_io >= 0);
        assert_int_equal(n_diff, 3);
        const long where[3] = {pos_io, pos_s[0], pos_s[1]};
        int32_t x[3];
        for (int k = 0; k < 3; k++) {
            x[k] = p->corrupt_ids[where[k]];
            assert_int_not_equal(x[k], p->answers[0]);
            assert_int_not_equal(x[k], p->wrong[0]);
        }
        assert_true(x[0] != x[1] && x[0] != x[2] && x[1] != x[2]);
        /* ABBA: IO before the first S; BABA: S1 < IO < S2 */
        if (p->order == AC_IOI_ABBA) assert_true(pos_io < pos_s[0]);
        else assert_true(pos_s[0] < pos_io && pos_io < pos_s[1]);
    }
    assert_int_equal(n_abba, 150);
    assert_int_equal(n_baba, 150);
    assert_int_equal(templates_seen, AC_IOI_N_TEMPLATES);
    ac_dataset *d = load_back(ds, tok, "ioi_mixed.json", 0);
    ac_dataset_free(d);
    ac_task_dataset_free(ds);
    ac_tokenizer_free(tok);
}

static void test_ioi_single_template(void **state) {
    (void)state;
    REQUIRE_SHARED(dir, "tokenizers/gpt2");
    ac_tokenizer *tok = load_tok(dir);
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 40;
    o.ioi_template = AC_IOI_VANILLA;
    o.ioi_order = AC_IOI_ABBA;
    ac_task_dataset *ds = gen(AC_TASK_IOI, tok, &o);
    /* auto-circuit's vanilla template: "When A and B went to the garden, B gave a computer to" */
    assert_int_equal(ds->seq_len, 14);
    assert_int_equal(word_idx(ds, "IO"), 1);
    assert_int_equal(word_idx(ds, "S1"), 3);
    assert_int_equal(word_idx(ds, "S1+1"), 4);
    assert_int_equal(word_idx(ds, "S2"), 9);
    assert_int_equal(word_idx(ds, "end"), 13);
    assert_int_equal(ds->n_seq_labels, 14);
    assert_string_equal(ds->seq_labels[0], "When");
    assert_string_equal(ds->seq_labels[1], "IO");
    assert_string_equal(ds->seq_labels[9], "S2");
    for (size_t i = 0; i < ds->n_prompts; i++) {
        const ac_task_prompt *p = &ds->prompts[i];
        assert_int_equal(p->n_clean, 14);
        assert_int_equal(p->clean_ids[1], p->answers[0]);
        assert_int_equal(p->clean_ids[3], p->wrong[0]);
        assert_int_equal(p->clean_ids[9], p->wrong[0]);
    }
    ac_task_dataset_free(ds);

    /* BABA of template 3: S first */
    o.ioi_template = 3;
    o.ioi_order = AC_IOI_BABA;
    ds = gen(AC_TASK_IOI, tok, &o);
    const long io = word_idx(ds, "IO"), s1 = word_idx(ds, "S1"), s2 = word_idx(ds, "S2");
    assert_true(s1 < io && io < s2);
    assert_int_equal(word_idx(ds, "S1+1"), s1 + 1);
    assert_int_equal(word_idx(ds, "end"), (long)ds->seq_len - 1);
    for (size_t i = 0; i < ds->n_prompts; i++) {
        assert_int_equal(ds->prompts[i].family, 3);
        assert_int_equal(ds->prompts[i].clean_ids[io], ds->prompts[i].answers[0]);
        assert_int_equal(ds->prompts[i].clean_ids[s2], ds->prompts[i].wrong[0]);
    }
    /* the loader takes it with fixed lengths and shifts word_idxs for BOS */
    ac_dataset *d = load_back(ds, tok, "ioi3.json", 1);
    assert_int_equal(d->seq_len, ds->seq_len + 1);
    long v;
    ac_error err;
    assert_ac_ok(ac_dataset_word_idx(d, "IO", &v, &err), &err);
    assert_int_equal(v, io + 1);
    ac_dataset_free(d);
    ac_task_dataset_free(ds);

    /* one template, both orders: equal lengths, but no word_idxs */
    o.ioi_order = AC_IOI_BOTH;
    ds = gen(AC_TASK_IOI, tok, &o);
    assert_true(ds->seq_len > 0);
    assert_null(ds->word_idx_names);
    assert_true(ds->n_notes >= 1);
    ac_task_dataset_free(ds);
    ac_tokenizer_free(tok);
}

/* ---- determinism ----------------------------------------------------------------------- */

static void test_determinism(void **state) {
    (void)state;
    REQUIRE_SHARED(dir, "tokenizers/gpt2");
    ac_tokenizer *tok = load_tok(dir);
    const ac_task_kind kinds[] = {AC_TASK_IOI, AC_TASK_GREATER_THAN, AC_TASK_DOCSTRING, AC_TASK_INDUCTION};
    for (int k = 0; k < 4; k++) {
        ac_task_options o = AC_TASK_OPTIONS_INIT;
        o.n_prompts = 50;
        o.seed = 7;
        ac_task_dataset *a = gen(kinds[k], tok, &o), *b = gen(kinds[k], tok, &o);
        char *ja = to_json(a), *jb = to_json(b);
        assert_string_equal(ja, jb);
        o.seed = 8;
        ac_task_dataset *c = gen(kinds[k], tok, &o);
        char *jc = to_json(c);
        assert_string_not_equal(ja, jc);
        /* the file is exactly that text, and valid JSON */
        const char *path = ac_test_path(ac_test_tmpdir(), "det.json");
        ac_error err;
        assert_ac_ok(ac_task_dataset_write(a, path, &err), &err);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *buf = calloc(1, strlen(ja) + 16);
        size_t n = fread(buf, 1, strlen(ja) + 8, f);
        fclose(f);
        assert_int_equal(n, strlen(ja));
        assert_string_equal(buf, ja);
        json_error_t jerr;
        json_t *root = json_loads(ja, 0, &jerr);
        if (!root) fail_msg("%s: invalid JSON at %d:%d: %s", ac_task_name(kinds[k]), jerr.line, jerr.column, jerr.text);
        assert_int_equal(json_array_size(json_object_get(root, "prompts")), 50);
        json_decref(root);
        free(buf);
        ac_free(ja);
        ac_free(jb);
        ac_free(jc);
        ac_task_dataset_free(a);
        ac_task_dataset_free(b);
        ac_task_dataset_free(c);
    }
    ac_tokenizer_free(tok);
}

/* ---- greater-than ---------------------------------------------------------------------- */

static int two_digit(const ac_tokenizer *tok, int32_t id) {
    const char *t = ac_tokenizer_token_text(tok, id);
    assert_non_null(t);
    assert_int_equal(strlen(t), 2);
    return (t[0] - '0') * 10 + (t[1] - '0');
}

static void test_greater_than(void **state) {
    (void)state;
    REQUIRE_SHARED(dir, "tokenizers/gpt2");
    ac_tokenizer *tok = load_tok(dir);
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 300;
    ac_task_dataset *ds = gen(AC_TASK_GREATER_THAN, tok, &o);
    assert_int_equal(ds->n_rejected, 0);
    assert_int_equal(ds->n_pool_dropped, 0);
    check_tokenization(tok, ds);
    /* "The NOUN lasted from the year XXYY to the year XX": 12 tokens */
    assert_int_equal(ds->seq_len, 12);
    const long yy_pos = word_idx(ds, "YY"), xx1 = word_idx(ds, "XX1"), end = word_idx(ds, "end");
    assert_int_equal(word_idx(ds, "noun"), 1);
    assert_int_equal(xx1, 6);
    assert_int_equal(yy_pos, 7);
    assert_int_equal(end, 11);
    const int32_t tok01 = one_token(tok, "01");
    size_t min_ans = 100, max_ans = 0;
    for (size_t i = 0; i < ds->n_prompts; i++) {
        const ac_task_prompt *p = &ds->prompts[i];
        assert_int_equal(p->n_clean, 12);
        assert_int_equal(p->n_corrupt, 12);
        assert_true(!strncmp(p->clean, "The ", 4));
        assert_non_null(strstr(p->clean, " lasted from the year "));
        const int yy = two_digit(tok, p->clean_ids[yy_pos]);
        assert_true(yy >= 2 && yy <= 98);
        /* the century is repeated at the end */
        assert_int_equal(p->clean_ids[end], p->clean_ids[xx1]);
        /* corrupt: only YY changes, to 01 */
        for (long k = 0; k < 12; k++)
            if (k == yy_pos) assert_int_equal(p->corrupt_ids[k], tok01);
            else assert_int_equal(p->corrupt_ids[k], p->clean_ids[k]);
        /* answers are exactly the years > YY, wrong answers the others: a partition */
        int seen[100] = {0};
        assert_int_equal(p->n_answers, (size_t)(99 - yy));
        assert_int_equal(p->n_wrong, (size_t)(yy + 1));
        for (size_t k = 0; k < p->n_answers; k++) {
            const int v = two_digit(tok, p->answers[k]);
            assert_true(v > yy);
            assert_int_equal(seen[v]++, 0);
            char want[3];
            snprintf(want, sizeof want, "%02d", v);
            assert_string_equal(p->answer_texts[k], want);
        }
        for (size_t k = 0; k < p->n_wrong; k++) {
            const int v = two_digit(tok, p->wrong[k]);
            assert_true(v <= yy);
            assert_int_equal(seen[v]++, 0);
        }
        for (int v = 0; v < 100; v++) assert_int_equal(seen[v], 1);
        if (p->n_answers < min_ans) min_ans = p->n_answers;
        if (p->n_answers > max_ans) max_ans = p->n_answers;
    }
    assert_true(min_ans < max_ans); /* ragged */
    /* years that are not ' XX' + 'YY' for GPT-2 (e.g. " 1280" is one token) are reported */
    assert_true(ds->n_notes >= 1);
    assert_non_null(strstr(ds->notes[0], "years"));
    ac_dataset *d = load_back(ds, tok, "gt.json", 1);
    assert_int_equal(d->seq_len, 13);
    ac_dataset_free(d);
    ac_task_dataset_free(ds);
    ac_tokenizer_free(tok);
}

/* ---- docstring ---------------------------------------------------------------------- */

static void test_docstring(void **state) {
    (void)state;
    REQUIRE_SHARED(dir, "tokenizers/gpt2");
    ac_tokenizer *tok = load_tok(dir);
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 200;
    ac_task_dataset *ds = gen(AC_TASK_DOCSTRING, tok, &o);
    assert_int_equal(ds->n_rejected, 0);
    assert_int_equal(ds->n_pool_dropped, 0);
    check_tokenization(tok, ds);
    assert_true(ds->seq_len > 30);
    const long A = word_idx(ds, "A_def"), B = word_idx(ds, "B_def"), cB = word_idx(ds, ",_B"), C = word_idx(ds, "C_def"),
               Ad = word_idx(ds, "A_doc"), p2 = word_idx(ds, "param_2"), Bd = word_idx(ds, "B_doc"),
               p3 = word_idx(ds, "param_3");
    /* positions as in auto-circuit's file for the signature part (same tokens up to C) */
    assert_int_equal(A, 10);
    assert_int_equal(B, 12);
    assert_int_equal(cB, 13);
    assert_int_equal(C, 14);
    assert_true(C < Ad && Ad < p2 && p2 + 1 == Bd && Bd < p3);
    assert_int_equal(p3, (long)ds->seq_len - 1);
    assert_string_equal(ds->seq_labels[A], "A_def");
    assert_string_equal(ds->seq_labels[p3], "param_3");
    const int32_t param = one_token(tok, "param"), comma = one_token(tok, ",");
    for (size_t i = 0; i < ds->n_prompts; i++) {
        const ac_task_prompt *p = &ds->prompts[i];
        assert_int_equal(p->n_clean, ds->seq_len);
        assert_int_equal(p->n_corrupt, ds->seq_len);
        assert_true(!strncmp(p->clean, "\ndef ", 5));
        assert_int_equal(p->clean_ids[p2], param);
        assert_int_equal(p->clean_ids[p3], param);
        assert_int_equal(p->clean_ids[cB], comma);
        /* the documented names are A and B of the signature; the answer is C */
        assert_int_equal(p->clean_ids[Ad], p->clean_ids[A]);
        assert_int_equal(p->clean_ids[Bd], p->clean_ids[B]);
        assert_int_equal(p->n_answers, 1);
        assert_int_equal(p->answers[0], p->clean_ids[C]);
        /* corrupt: exactly A, B, C (signature) and the two documented names change, to
         * five distinct names */
        int n_diff = 0;
        for (size_t k = 0; k < p->n_clean; k++) {
            const int changed = p->clean_ids[k] != p->corrupt_ids[k];
            n_diff += changed;
            if (changed) assert_true((long)k == A || (long)k == B || (long)k == C || (long)k == Ad || (long)k == Bd);
        }
        assert_int_equal(n_diff, 5);
        /* wrong answers: the ten other names, all different from the answer and each other */
        assert_int_equal(p->n_wrong, 10);
        for (size_t k = 0; k < 10; k++) {
            assert_int_not_equal(p->wrong[k], p->answers[0]);
            for (size_t j = 0; j < k; j++) assert_int_not_equal(p->wrong[k], p->wrong[j]);
        }
        const int32_t corrupt_names[5] = {p->corrupt_ids[A], p->corrupt_ids[B], p->corrupt_ids[C], p->corrupt_ids[Ad],
                                          p->corrupt_ids[Bd]};
        for (int k = 0; k < 5; k++) assert_int_equal(p->wrong[5 + k], corrupt_names[k]);
    }
    ac_dataset *d = load_back(ds, tok, "doc.json", 1);
    ac_dataset_free(d);
    ac_task_dataset_free(ds);
    ac_tokenizer_free(tok);
}

/* ---- induction ------------------------------------------------------------------------ */

static void check_induction(const ac_task_dataset *ds, int L) {
    const size_t T = 2 * (size_t)L - 1;
    assert_int_equal(ds->seq_len, T);
    assert_int_equal(word_idx(ds, "target"), L - 1);
    assert_int_equal(word_idx(ds, "repeat"), L);
    assert_int_equal(word_idx(ds, "end"), (long)T - 1);
    for (size_t i = 0; i < ds->n_prompts; i++) {
        const ac_task_prompt *p = &ds->prompts[i];
        assert_null(p->clean);
        assert_int_equal(p->n_clean, T);
        assert_int_equal(p->n_corrupt, T);
        for (int k = 0; k < L; k++)
            for (int j = 0; j < k; j++) assert_int_not_equal(p->clean_ids[k], p->clean_ids[j]);
        for (int k = 0; k < L - 1; k++) assert_int_equal(p->clean_ids[L + k], p->clean_ids[k]);
        assert_int_equal(p->answers[0], p->clean_ids[L - 1]);
        assert_int_equal(p->wrong[0], p->corrupt_ids[L - 1]);
        for (size_t k = 0; k < T; k++)
            if ((int)k != L - 1) assert_int_equal(p->corrupt_ids[k], p->clean_ids[k]);
        for (int k = 0; k < L; k++) assert_int_not_equal(p->wrong[0], p->clean_ids[k]);
    }
}

static void test_induction(void **state) {
    (void)state;
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 100;
    o.induction_len = 6;
    o.vocab_size = 20;
    ac_task_dataset *ds = gen(AC_TASK_INDUCTION, NULL, &o);
    check_induction(ds, 6);
    for (size_t i = 0; i < ds->n_prompts; i++)
        for (size_t k = 0; k < ds->prompts[i].n_clean; k++) assert_true(ds->prompts[i].clean_ids[k] < 20);
    /* ids only: the loader reads them without a tokenizer */
    const char *path = ac_test_path(ac_test_tmpdir(), "ind.json");
    ac_error err;
    assert_ac_ok(ac_task_dataset_write(ds, path, &err), &err);
    ac_dataset_options lo = AC_DATASET_OPTIONS_INIT;
    lo.bos_id = 0;
    lo.vocab_size = 20;
    lo.fixed_length = 1;
    lo.train_size = 100;
    lo.test_size = 0;
    ac_dataset *d;
    const char *paths[] = {path};
    assert_ac_ok(ac_dataset_load(&d, paths, 1, NULL, &lo, &err), &err);
    assert_int_equal(d->seq_len, 12);
    ac_dataset_free(d);
    ac_task_dataset_free(ds);

    /* too small a vocabulary, bad length, no tokenizer for text tasks */
    ac_task_dataset *bad = NULL;
    o.vocab_size = 6;
    assert_int_equal(ac_task_generate(&bad, AC_TASK_INDUCTION, NULL, &o, &err), AC_ERR_ARG);
    assert_null(bad);
    o.vocab_size = 0;
    assert_int_equal(ac_task_generate(&bad, AC_TASK_INDUCTION, NULL, &o, &err), AC_ERR_ARG);
    o.vocab_size = 100;
    o.induction_len = 1;
    assert_int_equal(ac_task_generate(&bad, AC_TASK_INDUCTION, NULL, &o, &err), AC_ERR_ARG);
    assert_int_equal(ac_task_generate(&bad, AC_TASK_IOI, NULL, NULL, &err), AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "tokenizer"));
    ac_task_kind kind;
    assert_int_equal(ac_task_parse("induction", &kind, &err), AC_OK);
    assert_int_equal(kind, AC_TASK_INDUCTION);
    assert_int_equal(ac_task_parse("greaterthan", &kind, &err), AC_OK);
    assert_int_equal(kind, AC_TASK_GREATER_THAN);
    assert_int_equal(ac_task_parse("sports", &kind, &err), AC_ERR_ARG);
}

/* With the stories260K llama2.c tokenizer: induction over its ids; the word tasks cannot
 * be built from a 512-token vocabulary and say so. */
static void test_llama2c_tokenizer(void **state) {
    (void)state;
    REQUIRE_SHARED(path, "models/stories260K/tok512.bin");
    ac_tokenizer *tok = load_tok(path);
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 50;
    ac_task_dataset *ds = gen(AC_TASK_INDUCTION, tok, &o);
    check_induction(ds, 10);
    for (size_t i = 0; i < ds->n_prompts; i++)
        for (size_t k = 0; k < ds->prompts[i].n_clean; k++) {
            const int32_t id = ds->prompts[i].clean_ids[k];
            assert_true(id != ac_tokenizer_bos(tok) && id != ac_tokenizer_eos(tok) && id < 512);
        }
    ac_task_dataset_free(ds);
    ac_error err;
    ac_task_dataset *bad = NULL;
    assert_int_equal(ac_task_generate(&bad, AC_TASK_DOCSTRING, tok, &o, &err), AC_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "parameter names"));
    assert_int_equal(ac_task_generate(&bad, AC_TASK_IOI, tok, &o, &err), AC_ERR_UNSUPPORTED);
    assert_int_equal(ac_task_generate(&bad, AC_TASK_GREATER_THAN, tok, &o, &err), AC_ERR_UNSUPPORTED);
    assert_null(bad);
    ac_tokenizer_free(tok);
}

/* A hand-made llama2.c tokenizer: single characters, and eight names and two words built
 * up by prefix pieces. " Sam" is one token alone but never before a space: the piece
 * "m " (score 100) merges first. Exercises dropped words, redrawn prompts, strict mode and
 * answers written as ids (llama2.c encodes " Amy" alone as the dummy space, then " Amy"). */
static const char *make_tiny_llama_tokenizer(void) {
    const char *path = ac_test_path(ac_test_tmpdir(), "tiny_tok.bin");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    int32_t max_len = 16;
    fwrite(&max_len, 4, 1, f);
    char pieces[400][16];
    float scores[400];
    int n = 0;
    snprintf(pieces[n], 16, "<unk>"), scores[n++] = 0;
    snprintf(pieces[n], 16, "<s>"), scores[n++] = 0;
    snprintf(pieces[n], 16, "</s>"), scores[n++] = 0;
    for (int b = 0; b < 256; b++) snprintf(pieces[n], 16, "<0x%02X>", b), scores[n++] = 0;
    for (int c = 32; c < 127; c++) snprintf(pieces[n], 16, "%c", c), scores[n++] = 0;
    const char *words[] = {" Amy", " Max", " Joe", " Ian", " Luke", " Kate", " Jane", " Sam", " park", " cup"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        for (size_t k = 2; k <= strlen(words[w]); k++) {
            char p[16];
            memcpy(p, words[w], k);
            p[k] = 0;
            int dup = 0;
            for (int j = 0; j < n; j++) dup |= !strcmp(pieces[j], p);
            if (!dup) snprintf(pieces[n], 16, "%s", p), scores[n++] = (float)k;
        }
    snprintf(pieces[n], 16, "m "), scores[n++] = 100;
    for (int i = 0; i < n; i++) {
        int32_t len = (int32_t)strlen(pieces[i]);
        fwrite(&scores[i], 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(pieces[i], 1, (size_t)len, f);
    }
    fclose(f);
    return path;
}

static void test_checks_and_reports(void **state) {
    (void)state;
    ac_tokenizer *tok = load_tok(make_tiny_llama_tokenizer());
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 60;
    o.ioi_template = 0;
    o.ioi_order = AC_IOI_ABBA;
    ac_task_dataset *ds = gen(AC_TASK_IOI, tok, &o);
    /* most names, places and objects are not single tokens here: left out, and reported */
    size_t nn, np, no;
    ac_task_word_list("names", &nn);
    ac_task_word_list("places", &np);
    ac_task_word_list("objects", &no);
    assert_int_equal(ds->n_pool_dropped, (nn - 8) + (np - 1) + (no - 1));
    assert_non_null(strstr(ds->notes[0], "IOI names"));
    assert_non_null(strstr(ds->notes[0], "' Michael' ("));
    /* " Sam" fails in context (merged with the following space) whenever it is drawn */
    assert_true(ds->n_rejected > 0);
    int saw_redrawn = 0, saw_ids = 0;
    for (size_t i = 0; i < ds->n_notes; i++) {
        saw_redrawn |= strstr(ds->notes[i], "redrawn") != NULL;
        saw_ids |= strstr(ds->notes[i], "token ids") != NULL;
    }
    assert_true(saw_redrawn);
    assert_true(saw_ids);
    for (size_t i = 0; i < ds->n_prompts; i++) {
        assert_null(strstr(ds->prompts[i].clean, "Sam"));
        assert_null(strstr(ds->prompts[i].corrupt, "Sam"));
        assert_null(ds->prompts[i].answer_texts[0]); /* written as an id */
        assert_null(ds->prompts[i].wrong_texts[0]);
    }
    check_tokenization(tok, ds);
    /* the file loads with this tokenizer: text prompts, id answers */
    ac_dataset *d = load_back(ds, tok, "tiny_ioi.json", 1);
    ac_dataset_free(d);
    ac_task_dataset_free(ds);
    /* strict: the first failing prompt is an error naming it */
    o.strict = 1;
    ac_error err;
    ac_task_dataset *bad = NULL;
    assert_int_equal(ac_task_generate(&bad, AC_TASK_IOI, tok, &o, &err), AC_ERR_FORMAT);
    assert_null(bad);
    assert_non_null(strstr(err.msg, "Sam"));
    assert_non_null(strstr(err.msg, "strict"));
    ac_tokenizer_free(tok);
}

/* ---- official circuits ------------------------------------------------------------------ */

static ac_graph *graph_of(const char *shape, int seq_len, int separate) {
    ac_config c;
    ac_error err;
    assert_ac_ok(ac_task_model_config(shape, &c, &err), &err);
    ac_graph_opts o = {.separate_qkv = separate, .seq_len = seq_len};
    ac_graph *g;
    assert_ac_ok(ac_graph_build(&g, &c, &o, &err), &err);
    return g;
}

static size_t circuit(const char *name, const ac_graph *g, const char *const *names, const long *values, size_t n,
                      uint8_t **in) {
    const ac_official_circuit *c = ac_official_circuit_find(name);
    assert_non_null(c);
    *in = malloc(g->n_edges);
    size_t n_in = 0;
    ac_error err;
    assert_ac_ok(ac_official_circuit_edges(c, g, names, values, n, *in, &n_in, &err), &err);
    return n_in;
}

/* 1 if the named edge is in the circuit at pos (0 without positions) */
static int has(const ac_graph *g, const uint8_t *in, const char *edge, int pos) {
    size_t e = ac_graph_find_edge(g, edge, pos);
    if (e == (size_t)-1) fail_msg("'%s' is not an edge of the graph", edge);
    return in[e];
}

static void test_official_counts(void **state) {
    (void)state;
    ac_graph *g = graph_of("gpt2-small", 0, 1), *a4 = graph_of("attn-only-4l", 0, 1);
    assert_int_equal(g->n_edges, 32491);
    assert_int_equal(a4->n_edges, 1281);
    const struct {
        const char *name;
        ac_graph *g;
        size_t n;
    } want[] = {{"ioi", g, 739},         {"ioi-mlp0", g, 242},  {"ioi-heads", g, 6540},
                {"greater-than", g, 235}, {"docstring", a4, 24}, {"docstring-heads", a4, 588}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint8_t *in;
        size_t n = circuit(want[i].name, want[i].g, NULL, NULL, 0, &in);
        if (n != want[i].n) fail_msg("%s: %zu edges, expected %zu", want[i].name, n, want[i].n);
        free(in);
    }
    assert_int_equal(ac_official_circuit_count(), 6);
    assert_null(ac_official_circuit_find("sports-players"));
    ac_graph_free(g);
    ac_graph_free(a4);
}

static void test_official_ioi_edges(void **state) {
    (void)state;
    ac_graph *g = graph_of("gpt2-small", 0, 1);
    uint8_t *in;
    circuit("ioi", g, NULL, NULL, 0, &in);
    const char *yes[] = {"A9.9->Resid End",  "A10.7->Resid End", "Resid Start->A9.9.K", "Resid Start->A10.0.V",
                         "A0.1->A7.3.K",     "A3.0->A8.10.V",    "A2.2->A5.5.V",        "A4.11->A6.9.K",
                         "A7.3->A9.9.Q",     "A8.10->A11.10.Q",  "Resid Start->MLP 0",  "MLP 0->MLP 3",
                         "MLP 5->A8.6.K",    "A5.5->MLP 6",      "Resid Start->A2.2.Q", "Resid Start->A7.9.Q",
                         "MLP 8->A11.9.Q"};
    const char *no[] = {"A9.9->A10.0.Q",   "A5.5->Resid End",  "MLP 11->Resid End", "A9.9->MLP 10",
                        "A7.3->A9.9.K",    "Resid Start->A9.9.Q", "A1.0->A7.3.K",    "Resid Start->Resid End",
                        "A2.2->A5.5.Q"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!has(g, in, yes[i], 0)) fail_msg("ioi lacks %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (has(g, in, no[i], 0)) fail_msg("ioi has %s", no[i]);
    free(in);
    /* the MLP-0-only variant keeps head-to-head edges and MLP 0's */
    circuit("ioi-mlp0", g, NULL, NULL, 0, &in);
    assert_true(has(g, in, "A7.3->A9.9.Q", 0));
    assert_true(has(g, in, "Resid Start->MLP 0", 0));
    assert_true(has(g, in, "MLP 0->MLP 3", 0));
    assert_false(has(g, in, "MLP 5->A8.6.K", 0));
    free(in);
    /* node level: everything out of non-heads, out of circuit heads, nothing else */
    circuit("ioi-heads", g, NULL, NULL, 0, &in);
    assert_true(has(g, in, "MLP 3->A4.1.Q", 0));
    assert_true(has(g, in, "A9.9->A11.0.K", 0));
    assert_false(has(g, in, "A9.8->Resid End", 0));
    free(in);

    /* per position, on the vanilla template (15 tokens with BOS): 869 edges */
    ac_graph *gp = graph_of("gpt2-small", 15, 1);
    const char *names[] = {"IO", "S1", "S1+1", "S2", "end"};
    const long pos[] = {2, 4, 5, 10, 14};
    size_t n = circuit("ioi", gp, names, pos, 5, &in);
    assert_int_equal(n, 869);
    assert_true(has(gp, in, "A9.9->Resid End", 14));
    assert_false(has(gp, in, "A9.9->Resid End", 13));
    assert_true(has(gp, in, "Resid Start->A9.9.K", 2));
    assert_false(has(gp, in, "Resid Start->A9.9.K", 14));
    assert_true(has(gp, in, "A2.2->A5.5.K", 5));
    assert_true(has(gp, in, "Resid Start->A0.1.Q", 10));
    assert_true(has(gp, in, "Resid Start->A0.1.K", 4));
    /* with positions the output connections include the MLPs (reference §9.6) */
    assert_true(has(gp, in, "MLP 11->Resid End", 14));
    free(in);
    /* node level, the IOI token task's 13 positions (2 prefix tokens stripped): 41,328 */
    ac_graph *g13 = graph_of("gpt2-small", 13, 1);
    const char *hn[] = {"S1+1", "S2", "end"};
    const long hv[] = {3, 8, 12};
    n = circuit("ioi-heads", g13, hn, hv, 3, &in);
    assert_int_equal(n, 41328);
    assert_true(has(g13, in, "A2.2->A5.5.K", 3));
    assert_false(has(g13, in, "A2.2->A5.5.K", 4));
    assert_true(has(g13, in, "A9.9->Resid End", 12));
    assert_true(has(g13, in, "MLP 4->Resid End", 0));
    free(in);
    ac_graph_free(g);
    ac_graph_free(gp);
    ac_graph_free(g13);
}

static void test_official_greater_than_edges(void **state) {
    (void)state;
    ac_graph *g = graph_of("gpt2-small", 0, 1);
    uint8_t *in;
    circuit("greater-than", g, NULL, NULL, 0, &in);
    const char *yes[] = {"Resid Start->A0.3.Q", "Resid Start->MLP 2", "A0.1->MLP 0",    "A0.1->MLP 3",
                         "MLP 0->MLP 3",        "MLP 3->A5.5.K",      "A0.5->A9.1.V",   "A9.1->MLP 10",
                         "MLP 8->MLP 11",       "MLP 11->Resid End",  "A6.9->Resid End", "MLP 7->A9.1.Q",
                         "MLP 2->MLP 8",        "A7.10->MLP 8", "A8.11->MLP 8"};
    const char *no[] = {"MLP 7->A9.1.K", "A0.3->MLP 0",  "MLP 4->MLP 9",       "A5.5->MLP 7",
                        "A5.5->A6.1.Q",  "A0.2->A5.5.Q", "Resid Start->A5.5.Q", "MLP 5->Resid End"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!has(g, in, yes[i], 0)) fail_msg("greater-than lacks %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (has(g, in, no[i], 0)) fail_msg("greater-than has %s", no[i]);
    free(in);
    /* positions (autocircuit's extension): K/V of the mid heads at YY, queries and what
     * follows at the end, the early group at both */
    ac_graph *gp = graph_of("gpt2-small", 13, 1);
    const char *names[] = {"YY", "end"};
    const long pos[] = {8, 12};
    size_t n = circuit("greater-than", gp, names, pos, 2, &in);
    assert_int_equal(n, 258);
    assert_true(has(gp, in, "MLP 3->A5.5.K", 8));
    assert_false(has(gp, in, "MLP 3->A5.5.K", 12));
    assert_true(has(gp, in, "MLP 3->A5.5.Q", 12));
    assert_false(has(gp, in, "MLP 3->A5.5.Q", 8));
    assert_true(has(gp, in, "Resid Start->MLP 0", 8));
    assert_true(has(gp, in, "Resid Start->MLP 0", 12));
    assert_true(has(gp, in, "MLP 11->Resid End", 12));
    assert_false(has(gp, in, "MLP 11->Resid End", 8));
    assert_false(has(gp, in, "Resid Start->MLP 0", 5));
    free(in);
    ac_graph_free(g);
    ac_graph_free(gp);
}

static void test_official_docstring_edges(void **state) {
    (void)state;
    ac_graph *g = graph_of("attn-only-4l", 0, 1);
    uint8_t *in;
    circuit("docstring", g, NULL, NULL, 0, &in);
    assert_true(has(g, in, "A3.0->Resid End", 0));
    assert_true(has(g, in, "A3.6->Resid End", 0));
    assert_true(has(g, in, "Resid Start->A2.0.K", 0)); /* in the circuit, at no position */
    assert_true(has(g, in, "A1.4->A2.0.V", 0));
    assert_true(has(g, in, "A1.2->A3.6.K", 0));
    assert_false(has(g, in, "A0.5->A2.0.V", 0));
    assert_false(has(g, in, "A2.0->Resid End", 0));
    free(in);
    /* auto-circuit's docstring token task: 41 tokens with BOS, 11 prefix tokens stripped */
    ac_graph *gp = graph_of("attn-only-4l", 30, 1);
    const char *names[] = {"A_def", "B_def", ",_B", "C_def", "A_doc", "param_2", "B_doc", "param_3"};
    const long pos[] = {0, 2, 3, 4, 16, 22, 23, 29};
    size_t n = circuit("docstring", gp, names, pos, 8, &in);
    assert_int_equal(n, 34);
    assert_true(has(gp, in, "A1.4->A2.0.V", 3));
    assert_true(has(gp, in, "A3.0->Resid End", 29));
    assert_true(has(gp, in, "Resid Start->A1.2.K", 0));
    for (int p = 0; p < 30; p++) assert_false(has(gp, in, "Resid Start->A2.0.K", p));
    free(in);
    n = circuit("docstring-heads", gp, names, pos, 8, &in);
    assert_int_equal(n, 7565);
    assert_true(has(gp, in, "A1.0->A2.0.Q", 2));  /* extra heads: every position B_def..param_3 */
    assert_true(has(gp, in, "A1.0->A2.0.Q", 29));
    assert_false(has(gp, in, "A1.0->A2.0.Q", 1));
    assert_true(has(gp, in, "A1.4->A2.0.V", 3));
    assert_false(has(gp, in, "A1.4->A2.0.V", 4));
    assert_false(has(gp, in, "A3.3->Resid End", 29));
    free(in);
    ac_graph_free(g);
    ac_graph_free(gp);
}

static void test_official_errors(void **state) {
    (void)state;
    ac_graph *a4 = graph_of("attn-only-4l", 0, 1), *comb = graph_of("gpt2-small", 0, 0), *gp = graph_of("gpt2-small", 15, 1);
    uint8_t *in = malloc(comb->n_edges > gp->n_edges ? comb->n_edges : gp->n_edges);
    ac_error err;
    size_t n;
    assert_int_equal(ac_official_circuit_edges(ac_official_circuit_find("ioi"), a4, NULL, NULL, 0, in, &n, &err),
                     AC_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "gpt2-small"));
    assert_int_equal(ac_official_circuit_edges(ac_official_circuit_find("ioi"), comb, NULL, NULL, 0, in, &n, &err),
                     AC_ERR_UNSUPPORTED);
    /* node-level circuits work on combined Q/K/V graphs */
    assert_ac_ok(ac_official_circuit_edges(ac_official_circuit_find("ioi-heads"), comb, NULL, NULL, 0, in, &n, &err), &err);
    assert_true(n > 0 && n < comb->n_edges);
    /* positions: a needed name missing, or outside the sequence */
    const char *names[] = {"IO", "S1", "S1+1", "S2"};
    const long pos[] = {2, 4, 5, 10};
    assert_int_equal(ac_official_circuit_edges(ac_official_circuit_find("ioi"), gp, names, pos, 4, in, &n, &err),
                     AC_ERR_ARG);
    assert_non_null(strstr(err.msg, "'end'"));
    const char *names5[] = {"IO", "S1", "S1+1", "S2", "end"};
    const long pos5[] = {2, 4, 5, 10, 15};
    assert_int_equal(ac_official_circuit_edges(ac_official_circuit_find("ioi"), gp, names5, pos5, 5, in, &n, &err),
                     AC_ERR_RANGE);
    ac_config c;
    assert_int_equal(ac_task_model_config("gpt3", &c, &err), AC_ERR_ARG);
    free(in);
    ac_graph_free(a4);
    ac_graph_free(comb);
    ac_graph_free(gp);
}

static void test_ground_truth_file(void **state) {
    (void)state;
    for (int positional = 0; positional < 2; positional++) {
        ac_graph *g = graph_of("attn-only-4l", positional ? 30 : 0, 1);
        const char *names[] = {"A_def", "B_def", ",_B", "C_def", "A_doc", "B_doc", "param_3"};
        const long pos[] = {0, 2, 3, 4, 16, 23, 29};
        uint8_t *in;
        size_t n = circuit("docstring", g, names, pos, 7, &in);
        const char *path = ac_test_path(ac_test_tmpdir(), "gt_doc.json");
        ac_error err;
        assert_ac_ok(ac_official_circuit_write(path, g, in, "docstring", "attn-only-4l", NULL, &err), &err);
        json_error_t jerr;
        json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null(root);
        assert_string_equal(json_string_value(json_object_get(root, "format")), "autocircuit-ground-truth");
        assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
        json_t *gobj = json_object_get(root, "graph");
        assert_true(json_is_true(json_object_get(gobj, "separate_qkv")));
        if (positional) assert_int_equal(json_integer_value(json_object_get(gobj, "seq_len")), 30);
        else assert_true(json_is_null(json_object_get(gobj, "seq_len")));
        assert_int_equal(json_integer_value(json_object_get(gobj, "n_edges")), n);
        assert_string_equal(json_string_value(json_object_get(json_object_get(root, "settings"), "circuit")), "docstring");
        json_t *edges = json_object_get(root, "edges");
        assert_int_equal(json_array_size(edges), n);
        /* graph order, each edge once, and exactly the marked ones */
        size_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(edges, i);
            char name[80];
            snprintf(name, sizeof name, "%s->%s", json_string_value(json_object_get(e, "src")),
                     json_string_value(json_object_get(e, "dest")));
            json_t *p = json_object_get(e, "pos");
            if (positional) assert_true(json_is_integer(p));
            else assert_true(json_is_null(p));
            size_t idx = ac_graph_find_edge(g, name, positional ? (int)json_integer_value(p) : 0);
            assert_true(idx != (size_t)-1);
            assert_true(in[idx]);
            if (i) assert_true(idx > prev);
            prev = idx;
        }
        json_decref(root);
        free(in);
        ac_graph_free(g);
    }
}

/* Official circuits with positions from generated datasets (GPT-2 tokenizer). */
static void test_official_from_generated(void **state) {
    (void)state;
    REQUIRE_SHARED(dir, "tokenizers/gpt2");
    ac_tokenizer *tok = load_tok(dir);
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 20;
    const struct {
        ac_task_kind kind;
        int tmpl;
        const char *circuit, *shape;
        size_t want;
        const char *edge, *at; /* an edge that must be in the circuit at word_idx `at` */
    } cases[] = {
        {AC_TASK_IOI, AC_IOI_VANILLA, "ioi", "gpt2-small", 869, "A9.9->Resid End", "end"},
        {AC_TASK_IOI, 0, "ioi", "gpt2-small", 869, "Resid Start->A10.0.K", "IO"},
        {AC_TASK_DOCSTRING, 0, "docstring", "attn-only-4l", 34, "A1.4->A2.0.V", ",_B"},
        {AC_TASK_GREATER_THAN, 0, "greater-than", "gpt2-small", 258, "MLP 3->A5.5.K", "YY"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        o.ioi_template = cases[k].kind == AC_TASK_IOI ? cases[k].tmpl : AC_IOI_ALL_TEMPLATES;
        o.ioi_order = cases[k].kind == AC_TASK_IOI ? AC_IOI_ABBA : AC_IOI_BOTH;
        ac_task_dataset *ds = gen(cases[k].kind, tok, &o);
        ac_dataset *d = load_back(ds, tok, "for_circuit.json", 1);
        ac_graph *g = graph_of(cases[k].shape, (int)d->seq_len, 1);
        uint8_t *in;
        size_t n = circuit(cases[k].circuit, g, (const char *const *)d->word_idx_names, d->word_idx_values,
                           d->n_word_idxs, &in);
        if (n != cases[k].want) fail_msg("%s on a generated dataset: %zu edges, expected %zu", cases[k].circuit, n, cases[k].want);
        long at;
        ac_error err;
        assert_ac_ok(ac_dataset_word_idx(d, cases[k].at, &at, &err), &err);
        assert_int_equal(at, word_idx(ds, cases[k].at) + 1); /* BOS */
        assert_true(has(g, in, cases[k].edge, (int)at));
        free(in);
        ac_graph_free(g);
        ac_dataset_free(d);
        ac_task_dataset_free(ds);
    }
    ac_tokenizer_free(tok);
}

/* ---- allocation failures ----------------------------------------------------------------- */

static void test_nomem(void **state) {
    (void)state;
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 5;
    o.vocab_size = 30;
    for (long k = 1;; k++) {
        ac_task_dataset *ds = NULL;
        ac_error err;
        ac_alloc_fail_after(k);
        int rc = ac_task_generate(&ds, AC_TASK_INDUCTION, NULL, &o, &err);
        char *json = NULL;
        size_t len;
        if (!rc) rc = ac_task_dataset_to_json(ds, &json, &len, &err);
        ac_alloc_fail_after(0);
        ac_free(json);
        ac_task_dataset_free(ds);
        if (rc == AC_OK) break;
        assert_int_equal(rc, AC_ERR_NOMEM);
        assert_true(k < 10000);
    }
    const char *dir = shared_path("tokenizers/gpt2");
    if (!dir) return;
    ac_tokenizer *tok = load_tok(dir);
    o.n_prompts = 2;
    o.ioi_template = 0;
    o.ioi_order = AC_IOI_ABBA;
    const ac_task_kind kinds[] = {AC_TASK_IOI, AC_TASK_GREATER_THAN, AC_TASK_DOCSTRING};
    for (int t = 0; t < 3; t++) {
        if (t) {
            o.ioi_template = AC_IOI_ALL_TEMPLATES;
            o.ioi_order = AC_IOI_BOTH;
        }
        /* every early allocation, then a stride through the rest */
        for (long k = 1;; k += k < 200 ? 1 : 97) {
            ac_task_dataset *ds = NULL;
            ac_error err;
            ac_alloc_fail_after(k);
            int rc = ac_task_generate(&ds, kinds[t], tok, &o, &err);
            ac_alloc_fail_after(0);
            ac_task_dataset_free(ds);
            if (rc == AC_OK) break;
            if (rc != AC_ERR_NOMEM) fail_msg("%s, allocation %ld failing: %s", ac_task_name(kinds[t]), k, err.msg);
        }
    }
    ac_tokenizer_free(tok);
}

/* ---- CLI ---------------------------------------------------------------------------------- */

static int run_cli(const char *args, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", ac_test_cli(), args);
    int rc = ac_test_run(cmd, out);
    print_message("$ autocircuit %s -> %d\n%s", args, rc, *out ? *out : "");
    return rc;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static void test_cli(void **state) {
    (void)state;
    const char *tmp = ac_test_tmpdir();
    char args[4096], *out = NULL;
    /* induction by ids needs no shared files; same seed, same bytes */
    const char *f1 = ac_test_path(tmp, "cli_ind1.json"), *f2 = ac_test_path(tmp, "cli_ind2.json");
    snprintf(args, sizeof args, "make-dataset induction --vocab 100 --n 20 --seed 4 --out '%s'", f1);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "induction: 20 prompts"));
    free(out);
    snprintf(args, sizeof args, "make-dataset induction --vocab 100 --n 20 --seed 4 -q --out '%s'", f2);
    assert_int_equal(run_cli(args, &out), 0);
    free(out);
    char *a = slurp(f1), *b = slurp(f2);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(b);
    /* the library makes the same bytes */
    ac_task_options o = AC_TASK_OPTIONS_INIT;
    o.n_prompts = 20;
    o.seed = 4;
    o.vocab_size = 100;
    ac_task_dataset *ds = gen(AC_TASK_INDUCTION, NULL, &o);
    char *j = to_json(ds);
    assert_string_equal(a, j);
    ac_free(j);
    free(a);
    ac_task_dataset_free(ds);

    /* official circuits from built-in shapes */
    const char *gt = ac_test_path(tmp, "cli_gt.json");
    snprintf(args, sizeof args, "official-circuit ioi --shape gpt2-small --out '%s'", gt);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "ioi: 739 of 32491 edges"));
    free(out);
    json_error_t jerr;
    json_t *root = json_load_file(gt, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "edges")), 739);
    json_decref(root);
    snprintf(args, sizeof args, "official-circuit docstring --shape attn-only-4l --out '%s'", gt);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "docstring: 24 of 1281 edges"));
    free(out);
    assert_int_equal(run_cli("official-circuit --list", &out), 0);
    assert_non_null(strstr(out, "greater-than"));
    assert_non_null(strstr(out, "Hanna"));
    free(out);

    /* errors: one line, the right exit code */
    const struct {
        const char *args;
        int rc;
        const char *needle;
    } bad[] = {
        {"make-dataset sports --vocab 10 --out /tmp/x.json", AC_ERR_ARG, "unknown task"},
        {"make-dataset ioi --vocab 10", AC_ERR_ARG, "--out"},
        {"make-dataset induction --out /tmp/x.json", AC_ERR_ARG, "--vocab"},
        {"make-dataset induction --vocab 5 --length 9 --out /tmp/x.json", AC_ERR_ARG, "usable token ids"},
        {"make-dataset greater-than --template 3 --vocab 5 --out /tmp/x.json", AC_ERR_ARG, "IOI options"},
        {"make-dataset induction --vocab 50 --out /nonexistent-dir/x.json", AC_ERR_IO, "nonexistent-dir"},
        {"official-circuit ioi --shape gpt2-small", AC_ERR_ARG, "--out"},
        {"official-circuit nope --shape gpt2-small --out /tmp/x.json", AC_ERR_ARG, "unknown circuit"},
        {"official-circuit ioi --shape attn-only-4l --out /tmp/x.json", AC_ERR_SHAPE, "gpt2-small"},
        {"official-circuit ioi --shape gpt2-small --positions --out /tmp/x.json", AC_ERR_ARG, "--data"},
        {"official-circuit ioi --out /tmp/x.json", AC_ERR_ARG, "--shape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run_cli(bad[i].args, &out), bad[i].rc);
        if (!strstr(out, bad[i].needle)) fail_msg("'%s' lacks '%s'", out, bad[i].needle);
        assert_true(!strncmp(out, "autocircuit: ", 13));
        free(out);
    }

    /* with the GPT-2 tokenizer: make-dataset, then official-circuit with positions */
    const char *dir = shared_path("tokenizers/gpt2");
    if (!dir) return;
    char tokdir[1024];
    snprintf(tokdir, sizeof tokdir, "%s", dir);
    const char *data = ac_test_path(tmp, "cli_ioi.json");
    snprintf(args, sizeof args, "make-dataset ioi --tokenizer '%s' --template vanilla --order abba --n 30 --out '%s'", tokdir,
             data);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "IO=1 S1=3 S1+1=4 S2=9 end=13"));
    free(out);
    snprintf(args, sizeof args,
             "official-circuit ioi --shape gpt2-small --data '%s' --tokenizer '%s' --positions --out '%s'", data, tokdir, gt);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "ioi: 869 of 487365 edges (per position, 15 positions"));
    free(out);
    root = json_load_file(gt, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "graph"), "seq_len")), 15);
    json_decref(root);
    /* --no-bos shifts every position down by one */
    snprintf(args, sizeof args,
             "official-circuit ioi --shape gpt2-small --data '%s' --tokenizer '%s' --positions --no-bos --out '%s'", data,
             tokdir, gt);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "14 positions"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word_lists),
        cmocka_unit_test(test_ioi_templates),
        cmocka_unit_test(test_ioi),
        cmocka_unit_test(test_ioi_single_template),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_greater_than),
        cmocka_unit_test(test_docstring),
        cmocka_unit_test(test_induction),
        cmocka_unit_test(test_llama2c_tokenizer),
        cmocka_unit_test(test_checks_and_reports),
        cmocka_unit_test(test_official_counts),
        cmocka_unit_test(test_official_ioi_edges),
        cmocka_unit_test(test_official_greater_than_edges),
        cmocka_unit_test(test_official_docstring_edges),
        cmocka_unit_test(test_official_errors),
        cmocka_unit_test(test_ground_truth_file),
        cmocka_unit_test(test_official_from_generated),
        cmocka_unit_test(test_nomem),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
