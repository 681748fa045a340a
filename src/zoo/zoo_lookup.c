/* Zoo model "lookup": a compiled compound-key lookup whose circuit runs through an MLP
 * and whose lookup head takes its query, key and value from three different sources.
 * Design and proofs of the ground truth: docs/zoo.md. */
#include <string.h>

#include "zoo/zoo_internal.h"

/* sizes: NA first-key tokens, NB second-key tokens, one record token per (a, b) pair,
 * NVAL value tokens; NREC records per prompt */
enum { NA = 4, NB = 4, NP = NA * NB, NVAL = 16, NREC = 6 };
enum { V = 1 + NA + NB + NP + NVAL, CTX = 16, D = 128, DH = 64, MLP = 18, T = 1 + 2 * NREC + 2 };
/* token ids */
enum { BOS = 0, TA = 1, TB = TA + NA, TP = TB + NB, TV = TP + NP };
/* residual-stream layout */
enum {
    TOK = 0,             /* one-hot token [V] */
    POS = TOK + V,       /* one-hot position [CTX] */
    PREV_A = POS + CTX,  /* previous token if a first-key token [NA] (A0.0) */
    PREV_P = PREV_A + NA,/* previous token if a record token [NP] (A0.0) */
    PAIRQ = PREV_P + NP, /* AND of (previous a, current b) [NP] (MLP 0) */
    OUT = PAIRQ + NP,    /* value prediction [NVAL] (A1.0), read by the unembedding */
    SIGN = OUT + NVAL,   /* +-1 class of a second-key token (A0.1) */
    ABS = SIGN + 1,      /* |SIGN| (MLP 0) */
    JUNK = ABS + 1       /* [D - JUNK] written by A1.1 and MLP 1, read by nothing */
};
_Static_assert(JUNK + NVAL <= D, "lookup: residual layout does not fit");

#define ALPHA 64.0f      /* previous-token query: score gap 64/8 = 8 */
#define ALPHA_SELF 1024.0f /* A0.1 attends to itself: score gap 128, exactly one-hot */
#define BETA 64.0f       /* lookup query */
#define GAMMA_T 64.0f    /* |SIGN| -> the lookup head's BOS sink ... */
#define SINK_BIAS -32.0f /* ... offset: sink score (64 - 32) / 8 = 4 when |SIGN| = 1 */
#define KAPPA 8.0f       /* lookup output */
#define SPREAD 16.0f     /* A1.1's constant query */

static int second_key_sign(int b) { return b % 2 == 0 ? 1 : -1; }

static void config(ac_config *c) {
    ac_config_defaults(c, AC_ARCH_GPT2);
    c->n_layer = 2;
    c->n_head = c->n_kv_head = 2;
    c->d_model = D;
    c->d_head = DH;
    c->d_mlp = MLP;
    c->attn_only = 0;
    c->act = AC_ACT_RELU;
    c->vocab_size = V;
    c->n_ctx = CTX;
    c->norm = AC_NORM_NONE;
    c->final_norm = 0;
    c->tied_embeddings = 0;
    c->bos_id = BOS;
}

static void weights(ac_model *m) {
    ac_weights *w = &m->w;
    for (int t = 0; t < V; t++) ac__zoo_set(w->wte, D, t, TOK + t, 1.0f);
    for (int p = 0; p < CTX; p++) ac__zoo_set(w->wpe, D, p, POS + p, 1.0f);

    /* layer 0 attention */
    ac_layer_weights *l0 = &w->layers[0];
    /* A0.0, previous-token head: copies a previous first-key or record token */
    for (int c = 0; c + 1 < CTX; c++) ac__zoo_set(l0->wq, D, c, POS + c + 1, ALPHA);
    for (int c = 0; c < CTX; c++) ac__zoo_set(l0->wk, D, c, POS + c, 1.0f);
    for (int a = 0; a < NA; a++) {
        ac__zoo_set(l0->wv, D, a, TOK + TA + a, 1.0f);
        ac__zoo_set(l0->wo, 2 * DH, PREV_A + a, a, 1.0f);
    }
    for (int p = 0; p < NP; p++) {
        ac__zoo_set(l0->wv, D, NA + p, TOK + TP + p, 1.0f);
        ac__zoo_set(l0->wo, 2 * DH, PREV_P + p, NA + p, 1.0f);
    }
    /* A0.1, distractor: attends to itself only (exactly) and writes the sign class of a
     * second-key token, +1 for even b, -1 for odd b, into SIGN */
    for (int c = 0; c < CTX; c++) {
        ac__zoo_set(l0->wq, D, DH + c, POS + c, ALPHA_SELF);
        ac__zoo_set(l0->wk, D, DH + c, POS + c, 1.0f);
    }
    for (int b = 0; b < NB; b++) ac__zoo_set(l0->wv, D, DH, TOK + TB + b, (float)second_key_sign(b));
    ac__zoo_set(l0->wo, 2 * DH, SIGN, DH, 1.0f);

    /* MLP 0: AND units relu(2 prev_a + 2 cur_b - 3) -> PAIRQ, and |SIGN| -> ABS */
    for (int a = 0; a < NA; a++)
        for (int b = 0; b < NB; b++) {
            const int u = a * NB + b;
            ac__zoo_set(l0->w_fc, D, u, PREV_A + a, 2.0f);
            ac__zoo_set(l0->w_fc, D, u, TOK + TB + b, 2.0f);
            l0->b_fc[u] = -3.0f;
            ac__zoo_set(l0->w_proj, MLP, PAIRQ + u, u, 1.0f);
        }
    ac__zoo_set(l0->w_fc, D, NP, SIGN, 1.0f);
    ac__zoo_set(l0->w_fc, D, NP + 1, SIGN, -1.0f);
    ac__zoo_set(l0->w_proj, MLP, ABS, NP, 1.0f);
    ac__zoo_set(l0->w_proj, MLP, ABS, NP + 1, 1.0f);

    /* layer 1 attention */
    ac_layer_weights *l1 = &w->layers[1];
    /* A1.0, lookup head: query = the pair code from MLP 0, key = the record token before
     * each position (A0.0), value = the value token (embedding); query dim NP is the BOS
     * sink, GAMMA_T * ABS + SINK_BIAS */
    for (int p = 0; p < NP; p++) {
        ac__zoo_set(l1->wq, D, p, PAIRQ + p, BETA);
        ac__zoo_set(l1->wk, D, p, PREV_P + p, 1.0f);
    }
    ac__zoo_set(l1->wq, D, NP, ABS, GAMMA_T);
    l1->bq[NP] = SINK_BIAS;
    ac__zoo_set(l1->wk, D, NP, TOK + BOS, 1.0f);
    for (int v = 0; v < NVAL; v++) {
        ac__zoo_set(l1->wv, D, v, TOK + TV + v, 1.0f);
        ac__zoo_set(l1->wo, 2 * DH, OUT + v, v, KAPPA);
    }
    /* A1.1, distractor: spreads its attention over the value tokens and copies them into
     * JUNK */
    l1->bq[DH] = SPREAD;
    for (int v = 0; v < NVAL; v++) {
        ac__zoo_set(l1->wk, D, DH, TOK + TV + v, 1.0f);
        ac__zoo_set(l1->wv, D, DH + v, TOK + TV + v, 1.0f);
        ac__zoo_set(l1->wo, 2 * DH, JUNK + v, DH + v, 1.0f);
    }
    /* MLP 1, distractor: relu of the prediction, into JUNK */
    for (int v = 0; v < NVAL; v++) {
        ac__zoo_set(l1->w_fc, D, v, OUT + v, 1.0f);
        ac__zoo_set(l1->w_proj, MLP, JUNK + v, v, 1.0f);
    }

    /* unembedding: value tokens read OUT; every other token's logit is 0 */
    for (int v = 0; v < NVAL; v++) ac__zoo_set(w->w_unembed, D, TV + v, OUT + v, 1.0f);
}

static int pair_of(int a, int b) { return a * NB + b; }

/* Choose NREC distinct record pairs containing (qa, qb), one other pair with first key qa
 * and one with second key qb (so neither key alone identifies the record), none of them
 * in `avoid`; values distinct and not in `avoid_val`. Records are shuffled. Returns -1
 * when the constraints cannot be met. */
static int records(uint64_t *rng, int qa, int qb, const uint8_t *avoid, const uint8_t *avoid_val,
                   int32_t *pairs, int32_t *vals, uint8_t *used, uint8_t *used_val) {
    memset(used, 0, NP);
    memset(used_val, 0, NVAL);
    int n = 0;
    pairs[n++] = pair_of(qa, qb);
    used[pair_of(qa, qb)] = 1;
    for (int tries = 0;; tries++) { /* same first key */
        if (tries > 1000) return -1;
        int b = ac__zoo_below(rng, NB), p = pair_of(qa, b);
        if (b != qb && !avoid[p]) {
            pairs[n++] = p;
            used[p] = 1;
            break;
        }
    }
    for (int tries = 0;; tries++) { /* same second key */
        if (tries > 1000) return -1;
        int a = ac__zoo_below(rng, NA), p = pair_of(a, qb);
        if (a != qa && !avoid[p]) {
            pairs[n++] = p;
            used[p] = 1;
            break;
        }
    }
    for (int tries = 0; n < NREC; tries++) {
        if (tries > 1000) return -1;
        int p = ac__zoo_below(rng, NP);
        if (!used[p] && !avoid[p]) {
            pairs[n++] = p;
            used[p] = 1;
        }
    }
    for (int k = 0, tries = 0; k < NREC; tries++) {
        if (tries > 1000) return -1;
        int v = ac__zoo_below(rng, NVAL);
        if (!used_val[v] && !avoid_val[v]) {
            vals[k++] = v;
            used_val[v] = 1;
        }
    }
    /* shuffle records (pairs and values together): vals[0] belongs to the query pair */
    int32_t order[NREC];
    for (int k = 0; k < NREC; k++) order[k] = k;
    ac__zoo_shuffle(rng, order, NREC);
    int32_t p2[NREC], v2[NREC];
    for (int k = 0; k < NREC; k++) {
        p2[k] = pairs[order[k]];
        v2[k] = vals[order[k]];
    }
    memcpy(pairs, p2, sizeof p2);
    memcpy(vals, v2, sizeof v2);
    return 0;
}

static void emit(int32_t *ids, const int32_t *pairs, const int32_t *vals, int qa, int qb) {
    ids[0] = BOS;
    for (int k = 0; k < NREC; k++) {
        ids[1 + 2 * k] = TP + pairs[k];
        ids[2 + 2 * k] = TV + vals[k];
    }
    ids[T - 2] = TA + qa;
    ids[T - 1] = TB + qb;
}

static int32_t answer_of(const int32_t *pairs, const int32_t *vals, int qa, int qb) {
    for (int k = 0; k < NREC; k++)
        if (pairs[k] == pair_of(qa, qb)) return TV + vals[k];
    return -1;
}

/* BOS, six records "pair-token value-token", then the query as two tokens "a b"; the
 * answer is the value of record (a, b). The corrupt prompt uses six other record pairs
 * and six other values, and a query (a', b') with a' != a and b' of the other sign
 * class than b; its answer is the wrong answer. */
static int prompt(uint64_t *rng, int32_t *clean, int32_t *corrupt, int32_t *answer, int32_t *wrong) {
    uint8_t none[NP] = {0}, none_val[NVAL] = {0}, used[NP], used_val[NVAL];
    int32_t cp[NREC], cv[NREC], xp[NREC], xv[NREC];
    const int qa = ac__zoo_below(rng, NA), qb = ac__zoo_below(rng, NB);
    if (records(rng, qa, qb, none, none_val, cp, cv, used, used_val)) return -1;
    uint8_t avoid[NP], avoid_val[NVAL];
    memcpy(avoid, used, NP);
    memcpy(avoid_val, used_val, NVAL);
    for (int tries = 0;; tries++) {
        if (tries > 1000) return -1;
        int xa = ac__zoo_below(rng, NA), xb = ac__zoo_below(rng, NB);
        if (xa == qa || second_key_sign(xb) == second_key_sign(qb) || avoid[pair_of(xa, xb)]) continue;
        if (records(rng, xa, xb, avoid, avoid_val, xp, xv, used, used_val)) continue;
        emit(clean, cp, cv, qa, qb);
        emit(corrupt, xp, xv, xa, xb);
        *answer = answer_of(cp, cv, qa, qb);
        *wrong = answer_of(xp, xv, xa, xb);
        return 0;
    }
}

static const char *const labels[T] = {"<bos>", "key1", "val1", "key2", "val2", "key3", "val3", "key4",
                                      "val4",  "key5", "val5", "key6", "val6", "qa",   "qb"};

static const char *const truth[] = {
    "Resid Start->A0.0.V", /* record tokens and the query's first key, moved one position on */
    "Resid Start->MLP 0",  /* the query's second key */
    "A0.0->MLP 0",         /* the query's first key */
    "MLP 0->A1.0.Q",       /* the query: the pair code */
    "A0.0->A1.0.K",        /* the keys: each value position's record pair */
    "Resid Start->A1.0.V", /* the values */
    "A1.0->Resid End",     /* the prediction */
    NULL,
};

static const char task_md[] =
    "Compound-key lookup. Vocabulary: BOS (0), first keys a0-a3 (ids 1-4), second keys\n"
    "b0-b3 (5-8), one record token per pair (a, b) (9-24, id 9 + 4a + b) and values\n"
    "v0-v15 (25-40). A prompt is BOS, six records `(a,b) v`, then a query written as two\n"
    "tokens `a b`: `<bos> (a,b) v (a,b) v ... a b`. The answer is the value stored under\n"
    "the record (a, b). One other record shares the query's first key and one its second\n"
    "key, so neither key alone finds the answer. The corrupt prompt has six other\n"
    "records, six other values and a query (a', b') with a' != a and b' of the other sign\n"
    "class (even/odd) than b; its answer is the wrong answer.\n";

static const char construction_md[] =
    "The residual stream (width 128) is a sum of named blocks: TOK (0-40, one-hot token),\n"
    "POS (41-56, one-hot position), PREV_A (57-60) and PREV_P (61-76) written by A0.0,\n"
    "PAIRQ (77-92) written by MLP 0, OUT (93-108, the prediction, the only block the\n"
    "unembedding reads), SIGN (109) written by A0.1, ABS (110) written by MLP 0, and JUNK\n"
    "(111-127) written by A1.1 and MLP 1 and read by nothing. No LayerNorm; ReLU MLPs.\n"
    "\n"
    "| component | reads | writes | role |\n"
    "| --- | --- | --- | --- |\n"
    "| A0.0 | Q, K: positions (t-1); V: first-key and record tokens | PREV_A, PREV_P | previous-token head |\n"
    "| A0.1 | Q, K: positions (itself, exactly); V: +1 for b0, b2, -1 for b1, b3 | SIGN | distractor |\n"
    "| MLP 0 | PREV_A, TOK (second keys), SIGN | PAIRQ, ABS | 16 AND units relu(2 prev_a + 2 cur_b - 3) give the pair code of the query; two units relu(SIGN) + relu(-SIGN) give ABS = \\|SIGN\\| |\n"
    "| A1.0 | Q: PAIRQ (+ ABS on the BOS sink); K: PREV_P (+ BOS); V: value tokens | OUT | lookup head |\n"
    "| A1.1 | Q: constant; K, V: value tokens | JUNK | distractor: attends to the values |\n"
    "| MLP 1 | OUT | JUNK | distractor: relu of the prediction |\n"
    "\n"
    "At the last position A0.0 brings the query's first key, MLP 0 ANDs it with the\n"
    "current second key into a one-hot pair code, and A1.0 matches that code against the\n"
    "record token before each value (moved there by A0.0) and copies the value into OUT\n"
    "(about 97% of its attention on the answer's position, the rest mostly on BOS).\n"
    "\n"
    "A0.1 is a trap for linear attribution. Its output at the last position is +1 or -1\n"
    "and flips sign between clean and corrupt prompts (b' has the other sign class), so\n"
    "ABS = |SIGN| = 1 either way: patching it changes nothing, exactly. But ABS feeds the\n"
    "lookup head's BOS sink, so the derivative of the logit difference with respect to\n"
    "SIGN is not zero, and attribution patching (EAP) gives `Resid Start->A0.1.V` and\n"
    "`A0.1->MLP 0` large scores although their true effect is zero.\n";

const ac__zoo_spec ac__zoo_lookup = {
    .name = "lookup",
    .summary = "2-layer compound-key lookup through MLP 0; the lookup head A1.0 reads Q from MLP 0, K from A0.0, V from the embedding",
    .seq_len = T,
    .seq_labels = labels,
    .ground_truth = truth,
    .config = config,
    .weights = weights,
    .prompt = prompt,
    .task_md = task_md,
    .construction_md = construction_md,
};
