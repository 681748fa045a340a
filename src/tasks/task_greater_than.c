/* Greater-than (Hanna, Liu & Variengien 2023, "How does GPT-2 compute greater-than?").
 * Clean: "The war lasted from the year 1732 to the year 17"; answers: the two-digit
 * continuations greater than 32 ("33" .. "99"), wrong answers the others ("00" .. "32").
 * Corrupt: the same with YY = 01 ("... from the year 1701 to the year 17"). */
#include <stdio.h>
#include <string.h>

#include "tasks/task_internal.h"

#define FIRST_CENTURY 11
#define LAST_CENTURY 17

int ac__gen_greater_than(ac_task_dataset *ds, const ac_tokenizer *tok, const ac_task_options *o,
                         ac_error *err) {
    /* two-digit tokens "00" .. "99" */
    int32_t two[100];
    char two_text[100][4];
    for (int k = 0; k < 100; k++) {
        snprintf(two_text[k], sizeof two_text[k], "%02d", k);
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = ac_tokenizer_encode(tok, two_text[k], 2, &ids, &n, err);
        if (rc) return rc;
        two[k] = n == 1 ? ids[0] : -1;
        ac_free(ids);
        if (n != 1)
            return ac_error_set(err, AC_ERR_UNSUPPORTED, NULL,
                                "greater-than needs every two-digit number as one token; '%s' is %zu tokens for this tokenizer",
                                two_text[k], n);
    }
    size_t nn;
    const char *const *wn = ac_task_word_list("nouns", &nn);
    ac__pool nouns = {0};
    int rc = ac__pool_build(&nouns, tok, wn, nn, " ", "The", "greater-than nouns", 1, ds, err);
    if (rc) return rc;

    /* valid (century, YY): " XXYY" after "the year" is " XX" then the token of "YY",
     * for YY = 02..98, and the century's corrupt year XX01 too */
    int years[(LAST_CENTURY - FIRST_CENTURY + 1) * 97];
    size_t n_years = 0, n_bad = 0, n_tried = 0;
    char bad[300] = "";
    size_t bad_used = 0;
    int32_t century_id[LAST_CENTURY + 1];
    for (int cent = FIRST_CENTURY; cent <= LAST_CENTURY && !rc; cent++) {
        char form[16];
        snprintf(form, sizeof form, " %d", cent);
        int ok;
        ac__seg s1[2] = {{"The year", -1}, {form, 0}};
        ac__rendered r;
        char why[200];
        rc = ac__render(tok, s1, 2, &r, &ok, why, sizeof why, err);
        if (rc) break;
        century_id[cent] = ok ? r.slot_id[0] : -1;
        ac__rendered_free(&r);
        for (int yy = 1; yy <= 98 && !rc; yy++) {
            char syy[16];
            snprintf(syy, sizeof syy, "%02d", yy);
            ac__seg s2[3] = {{"The year", -1}, {form, 0}, {syy, 1}};
            rc = ac__render(tok, s2, 3, &r, &ok, why, sizeof why, err);
            if (rc) break;
            ok = ok && century_id[cent] >= 0 && r.slot_id[0] == century_id[cent] && r.slot_id[1] == two[yy];
            ac__rendered_free(&r);
            if (yy == 1) {
                if (!ok) {
                    rc = ac__ds_note(ds, err, "greater-than: century %d not used: its corrupt year %d01 is not ' %d' + '01'",
                                     cent, cent, cent);
                    break;
                }
                continue;
            }
            n_tried++;
            if (ok) {
                years[n_years++] = cent * 100 + yy;
            } else {
                n_bad++;
                if (bad_used < sizeof bad - 12)
                    bad_used += (size_t)snprintf(bad + bad_used, sizeof bad - bad_used, "%s%d", n_bad > 1 ? " " : "", cent * 100 + yy);
            }
        }
    }
    if (!rc && n_bad)
        rc = ac__ds_note(ds, err, "greater-than: %zu of %zu years are not ' XX' + 'YY' tokens and are not used: %s%s", n_bad,
                         n_tried, bad, bad_used >= sizeof bad - 12 ? " ..." : "");
    if (!rc && n_years == 0)
        rc = ac_error_set(err, AC_ERR_UNSUPPORTED, NULL,
                          "greater-than: no year 1102..1798 tokenizes as ' XX' + 'YY' with this tokenizer");

    ac__rng rng;
    ac__rng_seed(&rng, o->seed);
    int ids_written = 0, streak = 0;
    ac__rendered ref = {0};
    int have_ref = 0;
    const char *ans_text[100];
    for (int k = 0; k < 100; k++) ans_text[k] = two_text[k];
    for (size_t i = 0; i < o->n_prompts && !rc;) {
        const uint32_t noun = ac__rng_below(&rng, (uint32_t)nouns.n);
        const int year = years[ac__rng_below(&rng, (uint32_t)n_years)];
        const int cent = year / 100, yy = year % 100;
        char xx[16], syy[16];
        snprintf(xx, sizeof xx, " %d", cent % 100);
        snprintf(syy, sizeof syy, "%02d", yy);
        ac__seg all[7] = {{"The", -1}, {nouns.forms[noun], 0}, {" lasted from the year", -1}, {xx, 1},
                          {syy, 2},    {" to the year", -1},   {xx, 3}};
        ac__rendered c = {0}, x = {0};
        int ok_c = 0, ok_x = 0;
        char why[256] = "";
        rc = ac__render(tok, all, 7, &c, &ok_c, why, sizeof why, err);
        if (!rc && ok_c) {
            all[4].text = "01";
            rc = ac__render(tok, all, 7, &x, &ok_x, why, sizeof why, err);
        }
        if (rc) {
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            break;
        }
        int good = ok_c && ok_x;
        if (good && (c.slot_id[2] != two[yy] || x.slot_id[2] != two[1])) {
            good = 0;
            snprintf(why, sizeof why, "the year's last two digits are not the token of '%s'", syy);
        }
        if (good && !have_ref) {
            have_ref = 1;
            ref = c;
            ref.text = NULL;
            ref.ids = ac_malloc((c.n ? c.n : 1) * sizeof *ref.ids);
            if (!ref.ids) {
                rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
                ac__rendered_free(&c);
                ac__rendered_free(&x);
                break;
            }
            memcpy(ref.ids, c.ids, c.n * sizeof *c.ids);
        }
        if (good && (!ac__same_layout(&c, &ref) || !ac__same_layout(&x, &ref))) {
            good = 0;
            snprintf(why, sizeof why, "the prompt's length or slot positions differ from the first prompt's");
        }
        if (!good) {
            rc = ac__ds_reject(ds, o, i, &streak, why, err);
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            continue;
        }
        streak = 0;
        ac_task_prompt *pr = ac__ds_push(ds);
        if (!pr) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            break;
        }
        ac__prompt_take(pr, 0, &c);
        ac__prompt_take(pr, 1, &x);
        /* answers: YY+1 .. 99; wrong answers: 00 .. YY */
        rc = ac__prompt_set_answers(pr, tok, two + yy + 1, ans_text + yy + 1, (size_t)(99 - yy), two, ans_text,
                                    (size_t)yy + 1, &ids_written, err);
        i++;
    }
    if (!rc && ids_written)
        rc = ac__ds_note(ds, err, "answers are written as token ids: this tokenizer does not encode them alone as one token");
    if (!rc && have_ref) {
        ds->seq_len = ref.n;
        static const char *const labels[] = {"NOUN", "XX1", "YY", "XX2"};
        static const char *const idx_names[] = {"noun", "XX1", "YY", "end"};
        const long pos[4] = {ref.slot_pos[0], ref.slot_pos[1], ref.slot_pos[2], ref.slot_pos[3]};
        rc = ac__ds_set_layout(ds, tok, &ref, labels, idx_names, pos, 4, err);
    }
    ac__rendered_free(&ref);
    ac__pool_free(&nouns);
    return rc;
}
