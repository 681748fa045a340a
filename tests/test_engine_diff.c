/* ac_forward_opts.diff: patch − current kept in a caller's stack, possibly the patch
 * buffer itself (EAP's memory saving), gives exactly the gradients of the run's own stack. */
#include "ac_test.h"

#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 5 };

typedef struct {
    ac_model *m;
    ac_graph *g;
    ac_run *run;
    size_t stack, V;
    int32_t clean[B * T], corrupt[B * T];
} fixture;

static void setup(fixture *f, int per_position) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 2;
    c.n_head = c.n_kv_head = 2;
    c.d_model = 8;
    c.d_head = 4;
    c.d_mlp = 16;
    c.vocab_size = 17;
    c.n_ctx = 8;
    ac_error err;
    assert_ac_ok(ac_model_create(&f->m, &c, &err), &err);
    ac_model_init_random(f->m, 5, 0.5f);
    ac_graph_opts go = ac_graph_default_opts();
    go.seq_len = per_position ? T : 0;
    assert_ac_ok(ac_graph_build(&f->g, &c, &go, &err), &err);
    assert_ac_ok(ac_run_create(&f->run, f->m, f->g, B, T, &err), &err);
    f->stack = (size_t)f->g->n_src * B * T * (size_t)c.d_model;
    f->V = (size_t)c.vocab_size;
    for (int i = 0; i < B * T; i++) {
        f->clean[i] = (i * 7 + 3) % 17;
        f->corrupt[i] = i % T == 2 ? (i * 5 + 1) % 17 : f->clean[i];
    }
}

static void teardown(fixture *f) {
    ac_run_free(f->run);
    ac_graph_free(f->g);
    ac_model_free(f->m);
}

/* forward (clean input, patch values, optional masks and diff stack) and backward with a
 * logit-difference gradient; mask gradients into grad, last logits into logits */
static void fwd_bwd(fixture *f, const float *patch, float *diff, const float *masks, float *logits,
                    float *grad) {
    ac_error err;
    ac_tokens in = {.B = B, .T = T, .ids = f->clean};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .patch = patch, .masks = masks,
                         .diff = diff};
    assert_ac_ok(ac_run_forward(f->run, &in, &o, &err), &err);
    float *dl = calloc(B * f->V, sizeof *dl);
    for (int b = 0; b < B; b++) {
        dl[b * f->V + 1] = -0.5f;
        dl[b * f->V + 4] = 0.5f;
    }
    memset(grad, 0, f->g->n_edges * sizeof *grad);
    ac_backward_opts bo = {.dlogits = dl, .mask_grad = grad};
    assert_ac_ok(ac_run_backward(f->run, &bo, &err), &err);
    free(dl);
}

static void check_same(int per_position, int with_masks) {
    fixture f;
    setup(&f, per_position);
    ac_error err;
    float *patch = malloc(f.stack * sizeof *patch), *clean_src = malloc(f.stack * sizeof *clean_src);
    float *work = malloc(f.stack * sizeof *work), *other = malloc(f.stack * sizeof *other);
    float *masks = NULL;
    if (with_masks) {
        masks = malloc(f.g->n_edges * sizeof *masks);
        for (size_t e = 0; e < f.g->n_edges; e++) masks[e] = (float)(e % 3) * 0.25f;
    }
    /* patch values: the corrupt run's sources; the clean run's sources for reference */
    ac_tokens cin = {.B = B, .T = T, .ids = f.corrupt};
    ac_forward_opts ro = {.logits_mode = AC_LOGITS_NONE, .record = patch};
    assert_ac_ok(ac_run_forward(f.run, &cin, &ro, &err), &err);
    ac_tokens kin = {.B = B, .T = T, .ids = f.clean};
    ro.record = clean_src;
    assert_ac_ok(ac_run_forward(f.run, &kin, &ro, &err), &err);

    float *l1 = malloc(B * f.V * sizeof *l1), *l2 = malloc(B * f.V * sizeof *l2), *l3 = malloc(B * f.V * sizeof *l3);
    float *g1 = malloc(f.g->n_edges * sizeof *g1), *g2 = malloc(f.g->n_edges * sizeof *g2);
    float *g3 = malloc(f.g->n_edges * sizeof *g3);
    fwd_bwd(&f, patch, NULL, masks, l1, g1);
    /* in place: the patch buffer becomes patch − current */
    memcpy(work, patch, f.stack * sizeof *work);
    fwd_bwd(&f, work, work, masks, l2, g2);
    /* a separate diff stack leaves the patch values alone */
    fwd_bwd(&f, patch, other, masks, l3, g3);
    assert_memory_equal(l1, l2, B * f.V * sizeof *l1);
    assert_memory_equal(g1, g2, f.g->n_edges * sizeof *g1);
    assert_memory_equal(l1, l3, B * f.V * sizeof *l1);
    assert_memory_equal(g1, g3, f.g->n_edges * sizeof *g1);
    assert_memory_equal(work, other, f.stack * sizeof *work);
    int nonzero = 0;
    for (size_t e = 0; e < f.g->n_edges; e++) nonzero += g1[e] != 0.0f;
    assert_true(nonzero > 0);
    if (!with_masks) {
        /* without masks the current sources are the clean ones */
        for (size_t i = 0; i < f.stack; i++) assert_true(work[i] == patch[i] - clean_src[i]);
    }
    free(l1);
    free(l2);
    free(l3);
    free(g1);
    free(g2);
    free(g3);
    free(patch);
    free(clean_src);
    free(work);
    free(other);
    free(masks);
    teardown(&f);
}

static void test_same_gradients(void **state) {
    (void)state;
    check_same(0, 0);
}

static void test_same_gradients_masks(void **state) {
    (void)state;
    check_same(0, 1);
}

static void test_same_gradients_per_position(void **state) {
    (void)state;
    check_same(1, 1);
}

static void test_refused(void **state) {
    (void)state;
    fixture f;
    setup(&f, 0);
    ac_error err;
    float *patch = calloc(f.stack, sizeof *patch), *logits = malloc(B * f.V * sizeof *logits);
    ac_tokens in = {.B = B, .T = T, .ids = f.clean};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .patch = patch, .diff = patch};
    assert_ac_ok(ac_run_forward(f.run, &in, &o, &err), &err);
    /* a partial re-run after a forward whose differences went elsewhere */
    o.diff = NULL;
    o.partial = 1;
    o.start_block = 1;
    assert_int_equal(ac_run_forward(f.run, &in, &o, &err), AC_ERR_ARG);
    /* ... or with a diff stack itself */
    o.diff = patch;
    assert_int_equal(ac_run_forward(f.run, &in, &o, &err), AC_ERR_ARG);
    /* a full forward with the run's own stack makes partial re-runs possible again */
    o.diff = NULL;
    o.partial = 0;
    assert_ac_ok(ac_run_forward(f.run, &in, &o, &err), &err);
    o.partial = 1;
    assert_ac_ok(ac_run_forward(f.run, &in, &o, &err), &err);
    /* no graph: no difference stack */
    ac_run *plain;
    assert_ac_ok(ac_run_create(&plain, f.m, NULL, B, T, &err), &err);
    ac_forward_opts po = {.logits_mode = AC_LOGITS_LAST, .logits = logits, .diff = patch};
    assert_int_equal(ac_run_forward(plain, &in, &po, &err), AC_ERR_ARG);
    ac_run_free(plain);
    free(patch);
    free(logits);
    teardown(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_gradients),
        cmocka_unit_test(test_same_gradients_masks),
        cmocka_unit_test(test_same_gradients_per_position),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
