/* Zoo model "induction": a compiled two-layer attention-only induction circuit with one
 * distractor head per layer. Design and proofs of the ground truth: docs/zoo.md. */
#include "zoo/zoo_internal.h"

/* sizes */
enum { V = 32, CTX = 16, D = 144, DH = 72, T = 12, NCONTENT = 10 };
/* residual-stream layout: one-hot token, one-hot position, previous token (written by
 * A0.1), prediction (written by A1.0, read by the unembedding), junk (A0.0 and A1.1) */
enum { TOK = 0, POS = 32, PREV = 48, OUT = 80, JUNK = 112 };

/* scales: position queries (score gap 64/sqrt(72) = 7.5), induction query, the BOS
 * "no match" sink, the induction head's output */
#define ALPHA 64.0f
#define BETA 64.0f
#define SINK 32.0f
#define GAMMA 8.0f

static void config(ac_config *c) {
    ac_config_defaults(c, AC_ARCH_GPT2);
    c->n_layer = 2;
    c->n_head = c->n_kv_head = 2;
    c->d_model = D;
    c->d_head = DH;
    c->d_mlp = 0;
    c->attn_only = 1;
    c->vocab_size = V;
    c->n_ctx = CTX;
    c->norm = AC_NORM_NONE;
    c->final_norm = 0;
    c->tied_embeddings = 0;
    c->bos_id = 0;
}

static void weights(ac_model *m) {
    ac_weights *w = &m->w;
    for (int t = 0; t < V; t++) ac__zoo_set(w->wte, D, t, TOK + t, 1.0f);
    for (int p = 0; p < CTX; p++) ac__zoo_set(w->wpe, D, p, POS + p, 1.0f);

    /* layer 0 */
    ac_layer_weights *l0 = &w->layers[0];
    /* A0.0, distractor: attends two positions back, copies that token into JUNK */
    for (int c = 0; c + 2 < CTX; c++) ac__zoo_set(l0->wq, D, c, POS + c + 2, ALPHA);
    for (int c = 0; c < CTX; c++) ac__zoo_set(l0->wk, D, c, POS + c, 1.0f);
    for (int c = 0; c < V; c++) {
        ac__zoo_set(l0->wv, D, c, TOK + c, 1.0f);
        ac__zoo_set(l0->wo, 2 * DH, JUNK + c, c, 1.0f);
    }
    /* A0.1, previous-token head: attends one position back, copies that token into PREV */
    for (int c = 0; c + 1 < CTX; c++) ac__zoo_set(l0->wq, D, DH + c, POS + c + 1, ALPHA);
    for (int c = 0; c < CTX; c++) ac__zoo_set(l0->wk, D, DH + c, POS + c, 1.0f);
    for (int c = 0; c < V; c++) {
        ac__zoo_set(l0->wv, D, DH + c, TOK + c, 1.0f);
        ac__zoo_set(l0->wo, 2 * DH, PREV + c, DH + c, 1.0f);
    }

    /* layer 1 */
    ac_layer_weights *l1 = &w->layers[1];
    /* A1.0, induction head: query = current token, key = previous token (PREV), value =
     * token, output into OUT; key dim V reads the BOS token and query dim V is a
     * constant, so with no match the head rests on BOS, whose value is zero */
    for (int c = 1; c < V; c++) {
        ac__zoo_set(l1->wq, D, c, TOK + c, BETA);
        ac__zoo_set(l1->wk, D, c, PREV + c, 1.0f);
        ac__zoo_set(l1->wv, D, c, TOK + c, 1.0f);
        ac__zoo_set(l1->wo, 2 * DH, OUT + c, c, GAMMA);
    }
    l1->bq[V] = SINK;
    ac__zoo_set(l1->wk, D, V, TOK + 0, 1.0f);
    /* A1.1, distractor: the same head reading A0.0's JUNK as its key (it finds the token
     * two after the earlier A) and writing into JUNK, which nothing reads */
    for (int c = 1; c < V; c++) {
        ac__zoo_set(l1->wq, D, DH + c, TOK + c, BETA);
        ac__zoo_set(l1->wk, D, DH + c, JUNK + c, 1.0f);
        ac__zoo_set(l1->wv, D, DH + c, TOK + c, 1.0f);
        ac__zoo_set(l1->wo, 2 * DH, JUNK + c, DH + c, 1.0f);
    }
    l1->bq[DH + V] = SINK;
    ac__zoo_set(l1->wk, D, DH + V, TOK + 0, 1.0f);

    /* unembedding reads OUT only */
    for (int t = 0; t < V; t++) ac__zoo_set(w->w_unembed, D, t, OUT + t, 1.0f);
}

/* BOS, ten distinct content tokens x1..x10, then x_i again (1 <= i <= 9): answer x_{i+1}.
 * The corrupt prompt has the same shape with ten other tokens (disjoint from the clean
 * ones) and the same i; its answer is the wrong answer. */
static int prompt(uint64_t *rng, int32_t *clean, int32_t *corrupt, int32_t *answer, int32_t *wrong) {
    int32_t pool[V - 1];
    for (int t = 1; t < V; t++) pool[t - 1] = t;
    ac__zoo_shuffle(rng, pool, V - 1);
    const int i = 1 + ac__zoo_below(rng, NCONTENT - 1);
    clean[0] = corrupt[0] = 0;
    for (int k = 1; k <= NCONTENT; k++) {
        clean[k] = pool[k - 1];
        corrupt[k] = pool[NCONTENT + k - 1];
    }
    clean[T - 1] = clean[i];
    corrupt[T - 1] = corrupt[i];
    *answer = clean[i + 1];
    *wrong = corrupt[i + 1];
    return 0;
}

static const char *const labels[T] = {"<bos>", "tok1", "tok2", "tok3", "tok4", "tok5",
                                      "tok6",  "tok7", "tok8", "tok9", "tok10", "query"};

static const char *const truth[] = {
    "Resid Start->A0.1.V", /* the previous token's identity */
    "A0.1->A1.0.K",        /* "my previous token was ..." as the induction key */
    "Resid Start->A1.0.Q", /* the current token A as the query */
    "Resid Start->A1.0.V", /* the token B to copy */
    "A1.0->Resid End",     /* the prediction */
    NULL,
};

static const char task_md[] =
    "Induction on random tokens. Each prompt is the BOS token (id 0) followed by ten\n"
    "distinct tokens x1 .. x10 (ids 1-31) and then a repeat of one of them, x_i with\n"
    "1 <= i <= 9: `<bos> ... A B ... A`. The answer is B = x_{i+1}. The corrupt prompt has\n"
    "the same shape and the same i with ten different tokens (disjoint from the clean\n"
    "ones); its answer B' is the wrong answer, so the logit difference is\n"
    "logit(B) - logit(B').\n";

static const char construction_md[] =
    "The residual stream (width 144) is a sum of named one-hot blocks: TOK (dims 0-31,\n"
    "the token), POS (32-47, the position), PREV (48-79, written by A0.1), OUT (80-111,\n"
    "the prediction, the only block the unembedding reads) and JUNK (112-143, written by\n"
    "the distractors, read by nothing that reaches the logits). There is no LayerNorm, so\n"
    "every head reads exactly the blocks its weights select.\n"
    "\n"
    "| head | query | key | value | writes | role |\n"
    "| --- | --- | --- | --- | --- | --- |\n"
    "| A0.0 | position t-2 | position | token | JUNK | distractor: copies the token two back |\n"
    "| A0.1 | position t-1 | position | token | PREV | previous-token head |\n"
    "| A1.0 | token (+ constant) | PREV (+ BOS) | token | OUT | induction head |\n"
    "| A1.1 | token (+ constant) | JUNK (+ BOS) | token | JUNK | distractor: an induction-like head that finds the token two after the earlier A |\n"
    "\n"
    "A0.1 puts about 99.4% of its attention on the previous token. A1.0 scores a key by\n"
    "whether the position's previous token equals the current token (score 7.5) against a\n"
    "constant 3.8 on BOS (value zero), so it puts about 97% of its attention on B and\n"
    "writes 8 times B's one-hot into OUT. The distractors are real, active heads whose\n"
    "outputs change between clean and corrupt prompts, but they write only into JUNK.\n";

const ac__zoo_spec ac__zoo_induction = {
    .name = "induction",
    .summary = "2-layer attention-only induction circuit (previous-token head A0.1, induction head A1.0) with a distractor head per layer",
    .seq_len = T,
    .seq_labels = labels,
    .ground_truth = truth,
    .config = config,
    .weights = weights,
    .prompt = prompt,
    .task_md = task_md,
    .construction_md = construction_md,
};
