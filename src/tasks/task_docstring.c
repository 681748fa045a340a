/* Docstring (Heimersheim & Janiak 2023, "A circuit for Python docstrings in a 4-layer
 * attention-only transformer"). Clean:
 *
 *     \ndef old(self, first, files, page, names, size, read):
 *         """sector gap population
 *
 *         :param page: message tree
 *         :param names: detail mine
 *         :param
 *
 * answer " size" (the next parameter after the two documented ones), wrong answers the
 * other parameter names of the clean and corrupt prompts. Corrupt ("random_random"): the
 * three parameters A, B, C in the signature and the two documented names are replaced by
 * five other random names. */
#include <stdio.h>
#include <string.h>

#include "tasks/task_internal.h"

/* slots, in prompt order */
enum {
    S_FN, S_X1, S_X2, S_A_DEF, S_B_DEF, S_COMMA_B, S_C_DEF, S_X3, S_W1, S_W2, S_W3, S_PARAM_1, S_A_DOC, S_D1, S_D2,
    S_PARAM_2, S_B_DOC, S_D3, S_D4, S_PARAM_3, N_SLOTS
};

/* draw: params[0] = function name, 1..6 = x1 x2 A B C x3, 7..11 = corrupt A' B' C' A'' B'' */
typedef struct draw {
    uint32_t params[12];
    uint32_t first_desc;
    uint32_t desc[6];
} draw;

static int build(const ac__pool *params, const ac__pool *desc_first, const ac__pool *desc, const draw *d, int corrupt,
                 ac__seg *s) {
    const char *A = params->forms[d->params[corrupt ? 7 : 3]];
    const char *B = params->forms[d->params[corrupt ? 8 : 4]];
    const char *C = params->forms[d->params[corrupt ? 9 : 5]];
    const char *Ad = params->forms[d->params[corrupt ? 10 : 3]];
    const char *Bd = params->forms[d->params[corrupt ? 11 : 4]];
    int n = 0;
#define FIX(t) s[n++] = (ac__seg){(t), -1}
#define SLOT(t, k) s[n++] = (ac__seg){(t), (k)}
    FIX("\ndef");
    SLOT(params->forms[d->params[0]], S_FN);
    FIX("(self,");
    SLOT(params->forms[d->params[1]], S_X1);
    FIX(",");
    SLOT(params->forms[d->params[2]], S_X2);
    FIX(",");
    SLOT(A, S_A_DEF);
    FIX(",");
    SLOT(B, S_B_DEF);
    SLOT(",", S_COMMA_B);
    SLOT(C, S_C_DEF);
    FIX(",");
    SLOT(params->forms[d->params[6]], S_X3);
    FIX("):\n    \"\"\"");
    SLOT(desc_first->forms[d->first_desc], S_W1);
    SLOT(desc->forms[d->desc[0]], S_W2);
    SLOT(desc->forms[d->desc[1]], S_W3);
    FIX("\n\n    :");
    SLOT("param", S_PARAM_1);
    SLOT(Ad, S_A_DOC);
    FIX(":");
    SLOT(desc->forms[d->desc[2]], S_D1);
    SLOT(desc->forms[d->desc[3]], S_D2);
    FIX("\n    :");
    SLOT("param", S_PARAM_2);
    SLOT(Bd, S_B_DOC);
    FIX(":");
    SLOT(desc->forms[d->desc[4]], S_D3);
    SLOT(desc->forms[d->desc[5]], S_D4);
    FIX("\n    :");
    SLOT("param", S_PARAM_3);
#undef FIX
#undef SLOT
    return n;
}

int ac__gen_docstring(ac_task_dataset *ds, const ac_tokenizer *tok, const ac_task_options *o, ac_error *err) {
    size_t np, nd;
    const char *const *wp = ac_task_word_list("params", &np);
    const char *const *wd = ac_task_word_list("descriptions", &nd);
    ac__pool params = {0}, desc_first = {0}, desc = {0};
    int rc = ac__pool_build(&params, tok, wp, np, " ", "(self,", "docstring parameter names", 12, ds, err);
    if (!rc) rc = ac__pool_build(&desc_first, tok, wd, nd, "", "    \"\"\"", "docstring first description words", 1, ds, err);
    if (!rc) rc = ac__pool_build(&desc, tok, wd, nd, " ", ": a", "docstring description words", 6, ds, err);

    ac__rng rng;
    ac__rng_seed(&rng, o->seed);
    int ids_written = 0, streak = 0, have_ref = 0;
    ac__rendered ref = {0};
    for (size_t i = 0; i < o->n_prompts && !rc;) {
        draw d;
        ac__rng_distinct(&rng, (uint32_t)params.n, 12, d.params);
        d.first_desc = ac__rng_below(&rng, (uint32_t)desc_first.n);
        ac__rng_distinct(&rng, (uint32_t)desc.n, 6, d.desc);
        ac__seg segs[AC__MAX_SEGS];
        ac__rendered c = {0}, x = {0};
        int ok_c = 0, ok_x = 0;
        char why[256] = "";
        int n = build(&params, &desc_first, &desc, &d, 0, segs);
        rc = ac__render(tok, segs, n, &c, &ok_c, why, sizeof why, err);
        if (!rc && ok_c) {
            n = build(&params, &desc_first, &desc, &d, 1, segs);
            rc = ac__render(tok, segs, n, &x, &ok_x, why, sizeof why, err);
        }
        if (rc) {
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            break;
        }
        int good = ok_c && ok_x;
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
        if (good && ref.slot_pos[S_PARAM_3] != (long)ref.n - 1) {
            rc = ac_error_set(err, AC_ERR_UNSUPPORTED, NULL, "docstring: the final 'param' is not the last token");
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            break;
        }
        if (!good) {
            rc = ac__ds_reject(ds, o, i, &streak, why, err);
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            continue;
        }
        streak = 0;
        /* answer C; wrong: the clean prompt's other names, then the corrupt prompt's new ones */
        const int32_t ans = c.slot_id[S_C_DEF];
        const int32_t wrong[10] = {c.slot_id[S_X1],    c.slot_id[S_X2],    c.slot_id[S_A_DEF], c.slot_id[S_B_DEF],
                                   c.slot_id[S_X3],    x.slot_id[S_A_DEF], x.slot_id[S_B_DEF], x.slot_id[S_C_DEF],
                                   x.slot_id[S_A_DOC], x.slot_id[S_B_DOC]};
        const char *ans_text = params.forms[d.params[5]];
        const char *wrong_text[10] = {params.forms[d.params[1]],  params.forms[d.params[2]], params.forms[d.params[3]],
                                      params.forms[d.params[4]],  params.forms[d.params[6]], params.forms[d.params[7]],
                                      params.forms[d.params[8]],  params.forms[d.params[9]], params.forms[d.params[10]],
                                      params.forms[d.params[11]]};
        ac_task_prompt *pr = ac__ds_push(ds);
        if (!pr) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            break;
        }
        ac__prompt_take(pr, 0, &c);
        ac__prompt_take(pr, 1, &x);
        rc = ac__prompt_set_answers(pr, tok, &ans, &ans_text, 1, wrong, wrong_text, 10, &ids_written, err);
        i++;
    }
    if (!rc && ids_written)
        rc = ac__ds_note(ds, err, "answers are written as token ids: this tokenizer does not encode ' name' alone as the name's token");
    if (!rc && have_ref) {
        ds->seq_len = ref.n;
        const char *labels[N_SLOTS] = {0};
        labels[S_A_DEF] = "A_def";
        labels[S_B_DEF] = "B_def";
        labels[S_COMMA_B] = ",_B";
        labels[S_C_DEF] = "C_def";
        labels[S_PARAM_1] = "param_1";
        labels[S_A_DOC] = "A_doc";
        labels[S_PARAM_2] = "param_2";
        labels[S_B_DOC] = "B_doc";
        labels[S_PARAM_3] = "param_3";
        static const char *const idx_names[] = {"A_def", "B_def", ",_B", "C_def", "A_doc", "param_2", "B_doc", "param_3"};
        const long pos[8] = {ref.slot_pos[S_A_DEF], ref.slot_pos[S_B_DEF], ref.slot_pos[S_COMMA_B],
                             ref.slot_pos[S_C_DEF], ref.slot_pos[S_A_DOC], ref.slot_pos[S_PARAM_2],
                             ref.slot_pos[S_B_DOC], ref.slot_pos[S_PARAM_3]};
        rc = ac__ds_set_layout(ds, tok, &ref, labels, idx_names, pos, 8, err);
    }
    ac__rendered_free(&ref);
    ac__pool_free(&params);
    ac__pool_free(&desc_first);
    ac__pool_free(&desc);
    return rc;
}
