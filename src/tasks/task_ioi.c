/* Indirect object identification (Wang et al. 2022, "Interpretability in the Wild").
 * Clean: "Then, Mary and John went to the store. John gave a drink to" → " Mary" (the
 * indirect object, IO), wrong answer " John" (the subject, S). Corrupt: the ABC
 * distribution, every name replaced by a different third name ("Then, Alice and Bob went
 * to the store. Carol gave a drink to"), place and object kept. */
#include <stdio.h>
#include <string.h>

#include "tasks/task_internal.h"

/* The paper's fifteen templates (its Figure 14 / Appendix), in BABA order: [B] = S,
 * [A] = IO. The final " [A]" is the answer and not part of the prompt. Index 15 is
 * auto-circuit's "vanilla" template. */
static const char *const baba[AC_IOI_N_TEMPLATES + 1] = {
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
    "When [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
};

/* The same in ABBA order: the first [B] and the first [A] swapped. */
static const char *const abba[AC_IOI_N_TEMPLATES + 1] = {
    "Then, [A] and [B] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [A] and [B] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [A] and [B] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [A] and [B] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [A] and [B] had a long argument, and afterwards [B] said to [A]",
    "After [A] and [B] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [A] and [B] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [A] and [B] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [A] and [B] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [A] and [B] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [A] and [B] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [A] and [B] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [A] and [B] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [A] and [B] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [A] and [B] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
    "When [A] and [B] went to the [PLACE], [B] gave a [OBJECT] to [A]",
};

const char *ac_task_ioi_template(int index, ac_ioi_order order) {
    if (index < 0 || index > AC_IOI_N_TEMPLATES) return NULL;
    if (order == AC_IOI_ABBA) return abba[index];
    if (order == AC_IOI_BABA) return baba[index];
    return NULL;
}

enum { K_A = 0, K_B = 1, K_PLACE = 2, K_OBJECT = 3 };

/* A template cut into fixed text and markers (a marker owns the space before it). */
typedef struct parsed {
    char fixed[16][128]; /* fixed text pieces */
    int n_seg;
    int seg_kind[32];    /* -1: fixed piece (index in seg_ref), else marker kind */
    int seg_ref[32];
    int n_markers;
} parsed;

static int parse_template(const char *t, parsed *p) {
    memset(p, 0, sizeof *p);
    size_t len = strlen(t);
    const char *tail = " [A]";
    if (len < 4 || strcmp(t + len - 4, tail)) return -1;
    len -= 4; /* the prompt stops before the answer */
    size_t i = 0;
    int n_fixed = 0;
    while (i < len) {
        static const char *const marks[] = {"[A]", "[B]", "[PLACE]", "[OBJECT]"};
        /* next marker (with its leading space) */
        size_t j = i, mlen = 0;
        int kind = -1;
        for (; j < len && kind < 0; j++)
            for (int k = 0; k < 4; k++) {
                size_t ml = strlen(marks[k]);
                if (j + ml <= len && !strncmp(t + j, marks[k], ml)) {
                    kind = k;
                    mlen = ml;
                    break;
                }
            }
        size_t mstart = kind >= 0 ? j - 1 : len; /* j was incremented past the match start */
        size_t fixed_end = mstart;
        if (kind >= 0 && mstart > i && t[mstart - 1] == ' ') fixed_end = mstart - 1;
        if (fixed_end > i) {
            if (n_fixed >= 16 || fixed_end - i >= 128 || p->n_seg >= 32) return -1;
            memcpy(p->fixed[n_fixed], t + i, fixed_end - i);
            p->seg_kind[p->n_seg] = -1;
            p->seg_ref[p->n_seg++] = n_fixed++;
        }
        if (kind < 0) break;
        if (p->n_seg >= 32) return -1;
        p->seg_kind[p->n_seg] = kind;
        p->seg_ref[p->n_seg++] = fixed_end < mstart; /* 1: marker takes a leading space */
        p->n_markers++;
        i = mstart + mlen;
    }
    return 0;
}

/* Per-template layout reference (the first prompt of the family that passed). */
typedef struct family_ref {
    int set;
    ac__rendered layout; /* only n, n_slots and slot_pos are used */
} family_ref;

/* Words of one draw. names[0] = IO, names[1] = S, names[2..4] = the corrupt X, Y, Z. */
typedef struct draw {
    uint32_t names[5];
    uint32_t place, object;
} draw;

static int build_segs(const parsed *tp, const ac__pool *names, const ac__pool *places, const ac__pool *objects,
                      const draw *d, int corrupt, ac__seg *segs, int *slot_role) {
    int n = 0, slot = 0, name_seen = 0, b_seen = 0;
    for (int k = 0; k < tp->n_seg; k++) {
        int kind = tp->seg_kind[k];
        if (kind < 0) {
            segs[n++] = (ac__seg){tp->fixed[tp->seg_ref[k]], -1};
            continue;
        }
        const char *form;
        int role;
        if (kind == K_A || kind == K_B) {
            uint32_t w = corrupt ? d->names[2 + name_seen] : d->names[kind == K_A ? 0 : 1];
            form = names->forms[w];
            role = kind == K_A ? 0 : (b_seen++ ? 2 : 1); /* 0 IO, 1 S1, 2 S2 */
            name_seen++;
        } else if (kind == K_PLACE) {
            form = places->forms[d->place];
            role = 3;
        } else {
            form = objects->forms[d->object];
            role = 4;
        }
        /* every form carries a leading space; drop it where the template has none */
        if (!tp->seg_ref[k]) form++;
        slot_role[slot] = role;
        segs[n++] = (ac__seg){form, slot++};
    }
    return n;
}

int ac__gen_ioi(ac_task_dataset *ds, const ac_tokenizer *tok, const ac_task_options *o, ac_error *err) {
    if (o->ioi_template != AC_IOI_ALL_TEMPLATES && (o->ioi_template < 0 || o->ioi_template > AC_IOI_VANILLA))
        return ac_error_set(err, AC_ERR_ARG, NULL, "IOI template %d: expected 0..14 or vanilla", o->ioi_template);
    if (o->ioi_order != AC_IOI_BOTH && o->ioi_order != AC_IOI_ABBA && o->ioi_order != AC_IOI_BABA)
        return ac_error_set(err, AC_ERR_ARG, NULL, "IOI order %d: expected both, ABBA or BABA", (int)o->ioi_order);
    parsed tp[2][AC_IOI_N_TEMPLATES + 1];
    for (int t = 0; t <= AC_IOI_N_TEMPLATES; t++)
        if (parse_template(abba[t], &tp[0][t]) || parse_template(baba[t], &tp[1][t]))
            return ac_error_set(err, AC_ERR_INTERNAL, NULL, "IOI template %d does not parse", t);

    size_t nn, np, no;
    const char *const *wn = ac_task_word_list("names", &nn);
    const char *const *wp = ac_task_word_list("places", &np);
    const char *const *wo = ac_task_word_list("objects", &no);
    ac__pool names = {0}, places = {0}, objects = {0};
    int rc = ac__pool_build(&names, tok, wn, nn, " ", "Then,", "IOI names", 5, ds, err);
    if (!rc) rc = ac__pool_build(&places, tok, wp, np, " ", "went to the", "IOI places", 1, ds, err);
    if (!rc) rc = ac__pool_build(&objects, tok, wo, no, " ", "gave a", "IOI objects", 1, ds, err);

    family_ref refs[AC_IOI_N_TEMPLATES + 1];
    memset(refs, 0, sizeof refs);
    ac__rng rng;
    ac__rng_seed(&rng, o->seed);
    int ids_written = 0, streak = 0;
    const int single = o->ioi_template != AC_IOI_ALL_TEMPLATES && o->ioi_order != AC_IOI_BOTH;
    ac__rendered first = {0}; /* the first clean prompt, for labels (single layout only) */
    int first_roles[AC__MAX_SLOTS];

    for (size_t i = 0; i < o->n_prompts && !rc;) {
        const int t = o->ioi_template == AC_IOI_ALL_TEMPLATES ? (int)ac__rng_below(&rng, AC_IOI_N_TEMPLATES)
                                                              : o->ioi_template;
        const ac_ioi_order order = o->ioi_order != AC_IOI_BOTH ? o->ioi_order : (i % 2 ? AC_IOI_BABA : AC_IOI_ABBA);
        draw d;
        ac__rng_distinct(&rng, (uint32_t)names.n, 5, d.names);
        d.place = ac__rng_below(&rng, (uint32_t)places.n);
        d.object = ac__rng_below(&rng, (uint32_t)objects.n);

        const parsed *p = &tp[order == AC_IOI_ABBA ? 0 : 1][t];
        ac__seg segs[AC__MAX_SEGS];
        int roles_c[AC__MAX_SLOTS], roles_x[AC__MAX_SLOTS];
        int ns = build_segs(p, &names, &places, &objects, &d, 0, segs, roles_c);
        ac__rendered c = {0}, x = {0};
        int ok_c = 0, ok_x = 0;
        char why[256] = "";
        rc = ac__render(tok, segs, ns, &c, &ok_c, why, sizeof why, err);
        if (!rc && ok_c) {
            ns = build_segs(p, &names, &places, &objects, &d, 1, segs, roles_x);
            rc = ac__render(tok, segs, ns, &x, &ok_x, why, sizeof why, err);
        }
        if (rc) {
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            break;
        }
        int good = ok_c && ok_x;
        if (good && !refs[t].set) {
            refs[t].set = 1;
            refs[t].layout.n = c.n;
            refs[t].layout.n_slots = c.n_slots;
            memcpy(refs[t].layout.slot_pos, c.slot_pos, sizeof c.slot_pos);
        }
        if (good && (!ac__same_layout(&c, &refs[t].layout) || !ac__same_layout(&x, &refs[t].layout))) {
            good = 0;
            snprintf(why, sizeof why, "template %d: the prompt's length or name positions differ from the template's first prompt", t);
        }
        if (!good) {
            char what[300];
            snprintf(what, sizeof what, "%s (template %d, %s)", why, t, order == AC_IOI_ABBA ? "ABBA" : "BABA");
            rc = ac__ds_reject(ds, o, i, &streak, what, err);
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            continue;
        }
        streak = 0;
        /* answer: the IO token as it appears in the prompt; wrong answer: S */
        int32_t io = -1, s = -1;
        for (int k = 0; k < c.n_slots; k++) {
            if (roles_c[k] == 0) io = c.slot_id[k];
            if (roles_c[k] == 1) s = c.slot_id[k];
        }
        if (i == 0 && single) {
            first = c;
            memcpy(first_roles, roles_c, sizeof first_roles);
            first.text = NULL;
            first.ids = ac_malloc((c.n ? c.n : 1) * sizeof *first.ids);
            if (!first.ids) {
                rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
                ac__rendered_free(&c);
                ac__rendered_free(&x);
                break;
            }
            memcpy(first.ids, c.ids, c.n * sizeof *c.ids);
        }
        ac_task_prompt *pr = ac__ds_push(ds);
        if (!pr) {
            rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
            ac__rendered_free(&c);
            ac__rendered_free(&x);
            break;
        }
        ac__prompt_take(pr, 0, &c);
        ac__prompt_take(pr, 1, &x);
        pr->family = t;
        pr->order = (int)order;
        const char *at = names.forms[d.names[0]], *wt = names.forms[d.names[1]];
        rc = ac__prompt_set_answers(pr, tok, &io, &at, 1, &s, &wt, 1, &ids_written, err);
        i++;
    }
    if (!rc && ids_written)
        rc = ac__ds_note(ds, err, "answers are written as token ids: this tokenizer does not encode ' Name' alone as the name's token");
    /* equal lengths across the whole dataset? */
    if (!rc && ds->n_prompts) {
        ds->seq_len = ds->prompts[0].n_clean;
        for (size_t i = 0; i < ds->n_prompts; i++)
            if (ds->prompts[i].n_clean != ds->seq_len || ds->prompts[i].n_corrupt != ds->seq_len) ds->seq_len = 0;
    }
    if (!rc && single && first.ids) {
        static const char *const role_label[] = {"IO", "S1", "S2", "PLACE", "OBJECT"};
        const char *labels[AC__MAX_SLOTS];
        long pos[5] = {-1, -1, -1, -1, (long)first.n - 1};
        for (int k = 0; k < first.n_slots; k++) {
            labels[k] = role_label[first_roles[k]];
            if (first_roles[k] <= 2) pos[first_roles[k] == 0 ? 0 : first_roles[k] == 1 ? 1 : 3] = first.slot_pos[k];
        }
        pos[2] = pos[1] + 1;
        static const char *const idx_names[] = {"IO", "S1", "S1+1", "S2", "end"};
        rc = ac__ds_set_layout(ds, tok, &first, labels, idx_names, pos, 5, err);
    } else if (!rc && o->ioi_template != AC_IOI_ALL_TEMPLATES && o->ioi_order == AC_IOI_BOTH) {
        rc = ac__ds_note(ds, err, "no word_idxs: ABBA and BABA prompts put IO and S1 at swapped positions (choose one order for word_idxs)");
    } else if (!rc && o->ioi_template == AC_IOI_ALL_TEMPLATES) {
        rc = ac__ds_note(ds, err, "no word_idxs or seq_labels: the templates differ in length (choose one template and one order for them)");
    }
    ac__rendered_free(&first);
    ac__pool_free(&names);
    ac__pool_free(&places);
    ac__pool_free(&objects);
    return rc;
}
