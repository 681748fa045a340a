/* The benchmarks' FLOP counts (bench/bench_flops.h) on hand-computed configurations,
 * and smoke runs of bench_engine and bench_algos at tiny sizes. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench_flops.h"
#include "ac_test.h"

/* 1 layer, 2 heads of width 2, width 4, MLP 8, vocabulary 10. */
static void tiny_config(ac_config *c) {
    ac_config_defaults(c, AC_ARCH_GPT2);
    c->n_layer = 1;
    c->n_head = c->n_kv_head = 2;
    c->d_head = 2;
    c->d_model = 4;
    c->d_mlp = 8;
    c->vocab_size = 10;
    c->n_ctx = 8;
}

static void test_hand_computed(void **state) {
    (void)state;
    ac_config c;
    tiny_config(&c);
    /* B = 1, T = 2: N = 2 tokens, P = 3 causal (query, key) pairs per head
     *   QKV      2·N·d·(H+2Hkv)·dh = 2·2·4·12  = 192
     *   scores+PV 4·H·dh·P          = 4·2·2·3   =  48
     *   out proj 2·N·H·dh·d         = 2·2·4·4   =  64
     *   MLP      2·N·d·m·2          = 2·2·4·8·2 = 256   → block 560
     *   unembed  2·rows·d·V: last 80, all 160 */
    assert_true(acb_attn_pairs(1, 2) == 3.0);
    assert_true(acb_flops_attn_forward(&c, 1, 2) == 304.0);
    assert_true(acb_flops_mlp_forward(&c, 1, 2) == 256.0);
    assert_true(acb_flops_forward(&c, 1, 2, AC_LOGITS_NONE) == 560.0);
    assert_true(acb_flops_forward(&c, 1, 2, AC_LOGITS_LAST) == 640.0);
    assert_true(acb_flops_forward(&c, 1, 2, AC_LOGITS_ALL) == 720.0);
    /* backward: attention costs twice its forward (dP, dV, dQ, dK): 560 + 48 + 80 */
    assert_true(acb_flops_backward(&c, 1, 2, AC_LOGITS_LAST) == 688.0);
    /* B = 3, T = 4: P = 30 per head */
    assert_true(acb_attn_pairs(3, 4) == 30.0);
    assert_true(acb_flops_attn_forward(&c, 3, 4) == 2.0 * 12 * 4 * 12 + 4.0 * 2 * 2 * 30 + 2.0 * 12 * 4 * 4);

    /* gated MLP (3 matrices) and attention-only */
    c.gated_mlp = 1;
    assert_true(acb_flops_mlp_forward(&c, 1, 2) == 384.0);
    c.gated_mlp = 0;
    c.attn_only = 1;
    assert_true(acb_flops_forward(&c, 1, 2, AC_LOGITS_NONE) == 304.0);
    c.attn_only = 0;
    /* grouped-query attention narrows the fused QKV: (4 + 2·1)·2 = 12 → (H=4, Hkv=1) */
    c.n_head = 4;
    c.n_kv_head = 1;
    c.d_head = 1;
    assert_true(acb_qkv_width(&c) == 6.0);
    tiny_config(&c);

    /* graph: sources Resid Start, A0.0, A0.1, MLP 0; destinations 6 Q/K/V (1 input
     * each), MLP 0 (3 inputs), Resid End (4 inputs): 13 edges */
    ac_graph *g = NULL;
    ac_error err;
    ac_graph_opts go = ac_graph_default_opts();
    assert_ac_ok(ac_graph_build(&g, &c, &go, &err), &err);
    assert_int_equal(g->n_edges, 13);
    /* mask gradients: 2·E·N·d = 2·13·2·4 */
    assert_true(acb_flops_mask_grad(g, &c, 1, 2) == 208.0);
    assert_true(acb_flops_backward_run(&c, g, 1, 2, AC_LOGITS_LAST, NULL, 1) == 688.0 + 208.0);
    assert_true(acb_flops_backward_run(&c, g, 1, 2, AC_LOGITS_LAST, NULL, 0) == 688.0);
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_LAST, 0, 0, NULL) == 640.0);

    uint8_t active[8] = {0};
    assert_int_equal(g->n_dest, 8);
    const int mlp = g->mlp_dest[0], end = g->n_dest - 1, q0 = g->attn_dest_begin[0];
    /* MLP 0 active: its delta 2·n_in·N·d = 2·3·8 = 48 */
    active[mlp] = 1;
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_LAST, 0, 0, active) == 640.0 + 48.0);
    /* ... a partial run from layer 0's MLP: MLP 256 + delta 48 + unembedding 80 */
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_LAST, 0, 1, active) == 384.0);
    active[mlp] = 0;
    /* one attention destination active: the whole group's deltas 2·6·1·8 = 96 plus its
     * private projection 2·N·d·dh = 32 */
    active[q0] = 1;
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_LAST, 0, 0, active) == 640.0 + 96.0 + 32.0);
    active[q0 + 1] = 1; /* a second one: one more projection, the same group GEMM */
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_LAST, 0, 0, active) == 640.0 + 96.0 + 64.0);
    memset(active, 0, sizeof active);
    /* Resid End alone: unembedding 80 + delta 2·4·8 = 64 */
    active[end] = 1;
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_LAST, 1, 0, active) == 144.0);
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_NONE, 1, 0, active) == 0.0);
    /* everything active: forward 640 + deltas 2·13·8 = 208 + 6 projections 192; backward
     * 688 + 3 × 208 (rebuild inputs, mask gradients, −m·G to the sources) */
    memset(active, 1, sizeof active);
    assert_true(acb_flops_forward_run(&c, g, 1, 2, AC_LOGITS_LAST, 0, 0, active) == 640.0 + 208.0 + 192.0);
    assert_true(acb_flops_backward_run(&c, g, 1, 2, AC_LOGITS_LAST, active, 1) == 688.0 + 3 * 208.0);
    assert_true(acb_flops_backward_run(&c, g, 1, 2, AC_LOGITS_LAST, active, 0) == 688.0 + 2 * 208.0);
    ac_graph_free(g);

    /* combined Q/K/V destinations: a private projection is three slices */
    go.separate_qkv = 0;
    assert_ac_ok(ac_graph_build(&g, &c, &go, &err), &err);
    assert_true(acb_flops_dest_proj(g, &c, g->attn_dest_begin[0], 1, 2) == 96.0);
    ac_graph_free(g);
}

/* GPT-2 small, one token: twice the matrix weights of the blocks (85 M) plus the
 * single attention pair, and the unembedding 2·768·50257. */
static void test_gpt2_small(void **state) {
    (void)state;
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = 12;
    c.n_head = c.n_kv_head = 12;
    c.d_model = 768;
    c.d_head = 64;
    c.d_mlp = 3072;
    c.vocab_size = 50257;
    c.n_ctx = 1024;
    const double block_weights = 768.0 * 2304 + 768.0 * 768 + 2 * 768.0 * 3072;
    assert_true(acb_flops_forward(&c, 1, 1, AC_LOGITS_NONE) == 12 * (2 * block_weights + 4.0 * 12 * 64));
    assert_true(acb_flops_forward(&c, 1, 1, AC_LOGITS_LAST) ==
                12 * (2 * block_weights + 4.0 * 12 * 64) + 2.0 * 768 * 50257);
    ac_graph *g = NULL;
    ac_error err;
    ac_graph_opts go = ac_graph_default_opts();
    assert_ac_ok(ac_graph_build(&g, &c, &go, &err), &err);
    assert_int_equal(g->n_edges, 32491);
    /* per token: 2 · 32491 · 768 */
    assert_true(acb_flops_mask_grad(g, &c, 1, 1) == 2.0 * 32491 * 768);
    ac_graph_free(g);
}

/* the benchmark executables live next to the CLI in the build directory */
static const char *bench_exe(const char *name) {
    static char buf[2][2048];
    static int k;
    char cli[2048];
    snprintf(cli, sizeof cli, "%s", ac_test_cli());
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dirname(cli), name);
    return buf[k];
}

static void test_bench_engine_tiny(void **state) {
    (void)state;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' --tiny --no-scan 2>&1", bench_exe("bench_engine"));
    char *out = NULL;
    int rc = ac_test_run(cmd, &out);
    print_message("%s\n", out ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "sgemm reference"));
    assert_non_null(strstr(out, "forward + backward, mask gradients"));
    assert_null(strstr(out, "nan"));
    free(out);
    /* a bad option is refused with status 2 */
    snprintf(cmd, sizeof cmd, "'%s' --batch 0 2>&1", bench_exe("bench_engine"));
    out = NULL;
    assert_int_equal(ac_test_run(cmd, &out), 2);
    free(out);
}

static void test_bench_algos_tiny(void **state) {
    (void)state;
    char cmd[4096];
    const char *cache = ac_test_path(ac_test_tmpdir(), "bench-cache");
    snprintf(cmd, sizeof cmd, "'%s' --tiny --cache '%s' 2>&1", bench_exe("bench_algos"), cache);
    char *out = NULL;
    int rc = ac_test_run(cmd, &out);
    print_message("%s\n", out ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "checkpoint written, dataset written"));
    const char *phases[] = {"load", "forward", "eap", "ig", "eap-ig-inputs", "exact", "acdc", "tree-eval"};
    const char *table = strstr(out, "results (");
    assert_non_null(table);
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n  %s ", phases[i]);
        if (!strstr(table, needle)) fail_msg("no result row for %s", phases[i]);
    }
    free(out);
    /* the second run reuses the cache; a subset of phases */
    snprintf(cmd, sizeof cmd, "'%s' --tiny --cache '%s' --phases eap,exact,exact-unstacked 2>&1", bench_exe("bench_algos"),
             cache);
    out = NULL;
    assert_int_equal(ac_test_run(cmd, &out), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "checkpoint cached, dataset cached"));
    assert_null(strstr(out, "running forward"));
    /* the stacked and the edge-by-edge exact patching, and the targets */
    assert_non_null(strstr(out, "\n  exact-unstacked "));
    assert_non_null(strstr(out, "stacked re-runs of"));
    assert_non_null(strstr(out, "targets (issue #9):"));
    assert_non_null(strstr(out, "peak RSS <= 1.3 x"));
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --tiny --cache '%s' --phases nope 2>&1", bench_exe("bench_algos"), cache);
    out = NULL;
    assert_int_equal(ac_test_run(cmd, &out), 2);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_gpt2_small),
        cmocka_unit_test(test_bench_engine_tiny),
        cmocka_unit_test(test_bench_algos_tiny),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
