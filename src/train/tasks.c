/* Task generators with their own word-level vocabularies (see autocircuit/train.h and
 * docs/training.md): IOI, greater-than, induction. */
#include <stdio.h>
#include <string.h>

#include "autocircuit/train.h"
#include "train/train_internal.h"

/* ---- words ----------------------------------------------------------------------------- */

/* IOI: every template has 14 tokens, with the slots at the same positions:
 * {A} 1, {B} 3, {P} 7, {S} 9, {O} 12. */
static const char *const ioi_templates[] = {
    "When {A} and {B} went to the {P} , {S} gave a {O} to",
    "After {A} and {B} went to the {P} , {S} handed a {O} to",
    "While {A} and {B} were at the {P} , {S} gave a {O} to",
    "Then {A} and {B} went to the {P} , {S} passed a {O} to",
    "When {A} and {B} arrived at the {P} , {S} showed a {O} to",
    "After {A} and {B} walked to the {P} , {S} sold a {O} to",
    "Once {A} and {B} got to the {P} , {S} threw a {O} to",
    "While {A} and {B} worked at the {P} , {S} offered a {O} to",
    "Since {A} and {B} stayed at the {P} , {S} brought a {O} to",
    "When {A} and {B} came to the {P} , {S} sent a {O} to",
};
static const char *const ioi_names[] = {
    "Mary",  "John",   "Alice", "Bob",  "Sarah", "James",  "Emma",   "David",   "Laura", "Michael",
    "Anna",  "Robert", "Julia", "Thomas", "Kate", "Daniel", "Lisa",  "Paul",    "Rachel", "Mark",
    "Helen", "Peter",  "Susan", "George", "Grace", "Henry", "Alex",  "Jessica", "Edward", "Rose",
    "Frank", "Lucy",   "Chris", "Amy",  "Tom",   "Clara",  "Adam",   "Nina",    "Sam",   "Eva",
};
static const char *const ioi_places[] = {
    "store",  "park",    "school", "garden", "office", "restaurant", "hospital", "station",
    "library", "market", "beach",  "museum", "house",  "church",     "cafe",     "river",
};
static const char *const ioi_objects[] = {
    "drink",  "book",   "ring", "bone",   "kiss", "necklace", "basketball", "computer",
    "snack",  "letter", "flower", "ball", "gift", "hat",      "key",        "bag",
};
static const char *const ioi_labels[] = {"[intro]", "[A]", "and", "[B]", "[verb]", "[prep]", "the",
                                         "[PLACE]", ",", "[S2]", "[action]", "a", "[OBJECT]", "to"};
static const char *const ioi_idx_names[] = {"A", "B", "S2", "end"};
static const int ioi_idx_pos[] = {1, 3, 9, 13};

/* greater-than: 12 tokens, {N} noun 1, {V} verb 2, {C} century 6 and 11, {Y} year 7 */
static const char *const gt_template = "The {N} {V} from the year {C} {Y} to the year {C}";
static const char *const gt_nouns[] = {
    "war",     "deal",   "contract", "pact",   "treaty",  "strike",     "drought",  "siege",    "trial",    "reign",
    "expedition", "voyage", "dispute", "famine", "occupation", "project", "campaign", "journey", "alliance", "festival",
};
static const char *const gt_verbs[] = {"lasted", "ran", "continued", "spanned"};
static const char *const gt_labels[] = {"The", "[NOUN]", "[verb]", "from", "the", "year",
                                        "[XX1]", "[YY]", "to", "the", "year", "[XX2]"};
static const char *const gt_idx_names[] = {"noun", "XX1", "YY", "end"};
static const int gt_idx_pos[] = {1, 6, 7, 11};

/* induction: 20 tokens drawn from 48 */
enum { IND_LEN = 20, IND_TOKENS = 48, IND_MAX_M = 5 };
static const char *const ind_idx_names[] = {"end"};
static const int ind_idx_pos[] = {IND_LEN - 1};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define IOI_LEN 14
#define GT_LEN 12

/* ---- vocabulary builder --------------------------------------------------------------- */

static int vocab_find(const ac_train_task *t, const char *w, size_t n) {
    for (int i = 0; i < t->vocab_size; i++)
        if (strlen(t->vocab[i]) == n && !memcmp(t->vocab[i], w, n)) return i;
    return -1;
}

/* id of word w[0..n), appended when new; -1 when out of memory */
static int vocab_add(ac_train_task *t, const char *w, size_t n) {
    int id = vocab_find(t, w, n);
    if (id >= 0) return id;
    if (t->vocab_size == AC__TASK_MAX_VOCAB) return -1;
    char *s = ac_malloc(n + 1);
    if (!s) return -1;
    memcpy(s, w, n);
    s[n] = 0;
    t->vocab[t->vocab_size] = s;
    return t->vocab_size++;
}

static int vocab_add_all(ac_train_task *t, const char *const *words, int n) {
    int first = -1;
    for (int i = 0; i < n; i++) {
        int id = vocab_add(t, words[i], strlen(words[i]));
        if (id < 0) return -1;
        if (i == 0) first = id;
        else if (id != first + i) return -1; /* fillers must be new and consecutive */
    }
    return first;
}

/* Tokenise a template: words become ids (added to the vocabulary), "{X}" slots become
 * -(X) (negative character code). Returns the token count or -1. */
static int tokenize_template(ac_train_task *t, const char *s, int32_t *out, int max) {
    int n = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != ' ') e++;
        if (n == max) return -1;
        if (*s == '{' && e - s == 3 && s[2] == '}') {
            out[n++] = -(int32_t)(unsigned char)s[1];
        } else {
            int id = vocab_add(t, s, (size_t)(e - s));
            if (id < 0) return -1;
            out[n++] = id;
        }
        s = e;
    }
    return n;
}

/* ---- random numbers -------------------------------------------------------------------- */

uint64_t ac__train_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int ac__train_rng_below(uint64_t *s, int n) {
    return (int)(ac__train_rng_next(s) % (uint64_t)n);
}

/* k distinct values of 0..n-1 in random order (partial Fisher-Yates); k <= n <= 256 */
static void sample_distinct(uint64_t *rng, int n, int k, int *out) {
    int pool[256];
    for (int i = 0; i < n; i++) pool[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + ac__train_rng_below(rng, n - i);
        int tmp = pool[i];
        pool[i] = pool[j];
        pool[j] = tmp;
        out[i] = pool[i];
    }
}

/* ---- creation -------------------------------------------------------------------------- */

const char *ac_train_task_name(ac_train_task_kind kind) {
    switch (kind) {
    case AC_TRAIN_TASK_IOI: return "ioi";
    case AC_TRAIN_TASK_GREATER_THAN: return "greater-than";
    case AC_TRAIN_TASK_INDUCTION: return "induction";
    }
    return "?";
}

int ac_train_task_parse(const char *name, ac_train_task_kind *out, ac_error *err) {
    for (int k = 0; k <= AC_TRAIN_TASK_INDUCTION; k++)
        if (name && !strcmp(name, ac_train_task_name((ac_train_task_kind)k))) {
            *out = (ac_train_task_kind)k;
            return AC_OK;
        }
    return ac_error_set(err, AC_ERR_ARG, NULL, "unknown task '%s' (expected ioi, greater-than or induction)",
                        name ? name : "");
}

static int build_ioi(ac_train_task *t) {
    t->len = IOI_LEN;
    t->n_templates = COUNT(ioi_templates);
    for (int i = 0; i < t->n_templates; i++) {
        if (tokenize_template(t, ioi_templates[i], t->tmpl[i], AC_TRAIN_TASK_MAX_LEN) != IOI_LEN) return -1;
        /* every template puts its slots at the same positions */
        if (t->tmpl[i][1] != -'A' || t->tmpl[i][3] != -'B' || t->tmpl[i][7] != -'P' || t->tmpl[i][9] != -'S' ||
            t->tmpl[i][12] != -'O')
            return -1;
    }
    t->names0 = vocab_add_all(t, ioi_names, COUNT(ioi_names));
    t->n_names = COUNT(ioi_names);
    t->places0 = vocab_add_all(t, ioi_places, COUNT(ioi_places));
    t->n_places = COUNT(ioi_places);
    t->objects0 = vocab_add_all(t, ioi_objects, COUNT(ioi_objects));
    t->n_objects = COUNT(ioi_objects);
    if (t->names0 < 0 || t->places0 < 0 || t->objects0 < 0) return -1;
    t->labels = ioi_labels;
    t->idx_names = ioi_idx_names;
    t->idx_pos = ioi_idx_pos;
    t->n_idx = COUNT(ioi_idx_names);
    t->description =
        "Indirect object identification (IOI). Each prompt is one of 10 templates such as "
        "\"When [A] and [B] went to the [PLACE] , [S2] gave a [OBJECT] to\" with two distinct names "
        "out of 40 (16 places, 16 objects); [S2] repeats one of the two names (the subject), in ABBA "
        "or BABA order with equal probability, and the answer is the other name (the indirect "
        "object); the wrong answer is the subject. The corrupt prompt is the IOI paper's ABC "
        "distribution: the same template, place and object with the three name slots filled by "
        "three distinct random names.";
    return 0;
}

static int build_gt(ac_train_task *t) {
    t->len = GT_LEN;
    t->n_templates = 1;
    if (tokenize_template(t, gt_template, t->tmpl[0], AC_TRAIN_TASK_MAX_LEN) != GT_LEN) return -1;
    const int32_t *p = t->tmpl[0];
    if (p[1] != -'N' || p[2] != -'V' || p[6] != -'C' || p[7] != -'Y' || p[11] != -'C') return -1;
    t->verbs0 = vocab_add_all(t, gt_verbs, COUNT(gt_verbs));
    t->n_verbs = COUNT(gt_verbs);
    t->nouns0 = vocab_add_all(t, gt_nouns, COUNT(gt_nouns));
    t->n_nouns = COUNT(gt_nouns);
    if (t->verbs0 < 0 || t->nouns0 < 0) return -1;
    for (int y = 0; y < 100; y++) {
        char buf[3] = {(char)('0' + y / 10), (char)('0' + y % 10), 0};
        int id = vocab_add(t, buf, 2);
        if (id < 0 || (y > 0 && id != t->years0 + y)) return -1;
        if (y == 0) t->years0 = id;
    }
    t->labels = gt_labels;
    t->idx_names = gt_idx_names;
    t->idx_pos = gt_idx_pos;
    t->n_idx = COUNT(gt_idx_names);
    t->description =
        "Greater-than. Each prompt is \"The [NOUN] [verb] from the year [XX] [YY] to the year [XX]\" "
        "(20 nouns, 4 verbs, century XX in 11..17, YY in 02..98; every two-digit year is one "
        "token). The answers are the years YY+1 .. 99, the wrong answers 00 .. YY. The corrupt "
        "prompt has YY = 01. Training spreads the target evenly over the answers, so the model "
        "learns P(year) for every year, as GPT-2 does.";
    return 0;
}

static int build_induction(ac_train_task *t) {
    t->len = IND_LEN;
    t->n_templates = 0;
    for (int i = 0; i < IND_TOKENS; i++) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "tok%d", i + 1);
        int id = vocab_add(t, buf, (size_t)n);
        if (id < 0 || (i > 0 && id != t->tokens0 + i)) return -1;
        if (i == 0) t->tokens0 = id;
    }
    t->n_tokens = IND_TOKENS;
    for (int i = 0; i < IND_LEN; i++) {
        if (i == IND_LEN - 1) snprintf(t->label_buf[i], sizeof t->label_buf[i], "query");
        else snprintf(t->label_buf[i], sizeof t->label_buf[i], "x%d", i + 1);
        t->label_ptrs[i] = t->label_buf[i];
    }
    t->labels = t->label_ptrs;
    t->idx_names = ind_idx_names;
    t->idx_pos = ind_idx_pos;
    t->n_idx = COUNT(ind_idx_names);
    t->description =
        "Induction on random tokens (48 token ids, tok1 .. tok48). Each prompt has 20 tokens, all "
        "distinct except one repeated segment: r1 .. r(m+1) appears at a random position and the "
        "prompt ends with r1 .. rm (m = 1..5), so the last token A = rm occurred exactly once "
        "before, followed by B = r(m+1): ... A B ... A -> B. The corrupt prompt replaces that "
        "first B by a token B' that does not occur in the prompt; B' is the wrong answer. Training "
        "also asks each position of the repeated tail to predict its successor.";
    return 0;
}

int ac_train_task_create(ac_train_task **out, ac_train_task_kind kind, ac_error *err) {
    *out = NULL;
    if (kind != AC_TRAIN_TASK_IOI && kind != AC_TRAIN_TASK_GREATER_THAN && kind != AC_TRAIN_TASK_INDUCTION)
        return ac_error_set(err, AC_ERR_ARG, NULL, "unknown task kind %d", (int)kind);
    ac_train_task *t = ac_calloc(1, sizeof *t);
    if (!t) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory (task)");
    t->kind = kind;
    int bos = vocab_add(t, "<bos>", 5);
    int bad = bos != 0;
    if (!bad) {
        bad = kind == AC_TRAIN_TASK_IOI ? build_ioi(t) : kind == AC_TRAIN_TASK_GREATER_THAN ? build_gt(t) : build_induction(t);
    }
    if (bad) {
        ac_train_task_free(t);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory building the %s vocabulary", ac_train_task_name(kind));
    }
    *out = t;
    return AC_OK;
}

void ac_train_task_free(ac_train_task *t) {
    if (!t) return;
    for (int i = 0; i < t->vocab_size; i++) ac_free(t->vocab[i]);
    ac_free(t);
}

ac_train_task_kind ac_train_task_get_kind(const ac_train_task *t) { return t->kind; }
int ac_train_task_vocab_size(const ac_train_task *t) { return t->vocab_size; }
const char *ac_train_task_token(const ac_train_task *t, int id) {
    return id >= 0 && id < t->vocab_size ? t->vocab[id] : NULL;
}
int ac_train_task_prompt_len(const ac_train_task *t) { return t->len; }
const char *const *ac_train_task_seq_labels(const ac_train_task *t) { return t->labels; }
int ac_train_task_word_idxs(const ac_train_task *t, const char *const **names, const int **positions) {
    *names = t->idx_names;
    *positions = t->idx_pos;
    return t->n_idx;
}
const char *ac_train_task_description(const ac_train_task *t) { return t->description; }

/* ---- generators ------------------------------------------------------------------------ */

static void fill_template(const int32_t *tmpl, int len, int32_t a, int32_t b, int32_t s, int32_t p, int32_t o,
                          int32_t *out) {
    for (int i = 0; i < len; i++) {
        int32_t v = tmpl[i];
        out[i] = v == -'A' ? a : v == -'B' ? b : v == -'S' ? s : v == -'P' ? p : v == -'O' ? o : v;
    }
}

static void gen_ioi(const ac_train_task *t, uint64_t *rng, ac_train_task_example *ex) {
    const int32_t *tmpl = t->tmpl[ac__train_rng_below(rng, t->n_templates)];
    int two[2];
    sample_distinct(rng, t->n_names, 2, two);
    const int32_t io = t->names0 + two[0], s = t->names0 + two[1];
    const int abba = ac__train_rng_below(rng, 2) == 0;
    const int32_t place = t->places0 + ac__train_rng_below(rng, t->n_places);
    const int32_t obj = t->objects0 + ac__train_rng_below(rng, t->n_objects);
    fill_template(tmpl, IOI_LEN, abba ? io : s, abba ? s : io, s, place, obj, ex->clean);
    int abc[3];
    sample_distinct(rng, t->n_names, 3, abc);
    fill_template(tmpl, IOI_LEN, t->names0 + abc[0], t->names0 + abc[1], t->names0 + abc[2], place, obj, ex->corrupt);
    ex->len = IOI_LEN;
    ex->n_answers = 1;
    ex->answers[0] = io;
    ex->n_wrong = 1;
    ex->wrong[0] = s;
}

static void gen_gt(const ac_train_task *t, uint64_t *rng, ac_train_task_example *ex) {
    const int32_t noun = t->nouns0 + ac__train_rng_below(rng, t->n_nouns);
    const int32_t verb = t->verbs0 + ac__train_rng_below(rng, t->n_verbs);
    const int cc = 11 + ac__train_rng_below(rng, 7);
    const int yy = 2 + ac__train_rng_below(rng, 97); /* 02 .. 98 */
    const int32_t *tmpl = t->tmpl[0];
    for (int k = 0; k < 2; k++) {
        int32_t *out = k ? ex->corrupt : ex->clean;
        for (int i = 0; i < GT_LEN; i++) {
            int32_t v = tmpl[i];
            out[i] = v == -'N' ? noun : v == -'V' ? verb : v == -'C' ? t->years0 + cc : v == -'Y' ? t->years0 + (k ? 1 : yy) : v;
        }
    }
    ex->len = GT_LEN;
    ex->n_answers = 0;
    for (int y = yy + 1; y < 100; y++) ex->answers[ex->n_answers++] = t->years0 + y;
    ex->n_wrong = 0;
    for (int y = 0; y <= yy; y++) ex->wrong[ex->n_wrong++] = t->years0 + y;
}

static void gen_induction(const ac_train_task *t, uint64_t *rng, ac_train_task_example *ex) {
    const int L = IND_LEN;
    const int m = 1 + ac__train_rng_below(rng, IND_MAX_M);  /* tail r1..rm */
    const int s = ac__train_rng_below(rng, L - 2 * m);      /* first occurrence r1..r(m+1) at s..s+m */
    int tok[IND_TOKENS];
    sample_distinct(rng, t->n_tokens, L - m + 1, tok); /* r1..r(m+1), fillers, then B' */
    int filler = m + 1;
    for (int i = 0; i < L; i++) {
        int v;
        if (i >= s && i <= s + m) v = tok[i - s];
        else if (i >= L - m) v = tok[i - (L - m)];
        else v = tok[filler++];
        ex->clean[i] = t->tokens0 + v;
    }
    const int32_t bprime = t->tokens0 + tok[L - m];
    memcpy(ex->corrupt, ex->clean, sizeof ex->clean);
    ex->corrupt[s + m] = bprime;
    ex->len = L;
    ex->n_answers = 1;
    ex->answers[0] = t->tokens0 + tok[m];
    ex->n_wrong = 1;
    ex->wrong[0] = bprime;
    ex->n_lm = 0;
    for (int k = 0; k + 1 < m; k++) { /* tail position L-m+k holds r(k+1) and precedes r(k+2) */
        ex->lm_pos[ex->n_lm] = L - m + k;
        ex->lm_next[ex->n_lm++] = t->tokens0 + tok[k + 1];
    }
}

void ac_train_task_generate(const ac_train_task *t, uint64_t *rng, ac_train_task_example *ex) {
    memset(ex, 0, sizeof *ex);
    switch (t->kind) {
    case AC_TRAIN_TASK_IOI: gen_ioi(t, rng, ex); break;
    case AC_TRAIN_TASK_GREATER_THAN: gen_gt(t, rng, ex); break;
    case AC_TRAIN_TASK_INDUCTION: gen_induction(t, rng, ex); break;
    }
}
