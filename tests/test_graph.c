/* Graph sizes and names against auto-circuit's counts (reference §2.9). */
#include "ac_test.h"

#include <string.h>

#include "autocircuit/graph.h"

static ac_config gpt2_shape(int L, int H, int d, int attn_only) {
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_GPT2);
    c.n_layer = L;
    c.n_head = c.n_kv_head = H;
    c.d_model = d;
    c.d_head = d / H;
    c.d_mlp = attn_only ? 0 : 4 * d;
    c.attn_only = attn_only;
    c.vocab_size = 50257;
    c.n_ctx = 1024;
    return c;
}

static void check_counts(const ac_config *c, int separate, int seq_len, int n_src, int n_dest, size_t n_edges) {
    ac_graph *g;
    ac_error err;
    ac_graph_opts o = {.separate_qkv = separate, .seq_len = seq_len};
    assert_ac_ok(ac_graph_build(&g, c, &o, &err), &err);
    assert_int_equal(g->n_src, n_src);
    assert_int_equal(g->n_dest, n_dest);
    assert_int_equal(g->n_edges, n_edges);
    ac_graph_free(g);
}

static void test_gpt2_small_counts(void **state) {
    (void)state;
    ac_config c = gpt2_shape(12, 12, 768, 0);
    check_counts(&c, 1, 0, 157, 445, 32491);
    check_counts(&c, 0, 0, 157, 157, 11611);
    check_counts(&c, 1, 13, 157, 445, 422383); /* IOI token task */
    assert_int_equal(ac_graph_residual_edge_count(&c), 180);
}

static void test_other_counts(void **state) {
    (void)state;
    ac_config a = gpt2_shape(4, 8, 512, 1); /* attn-only-4l */
    check_counts(&a, 1, 0, 33, 97, 1281);
    check_counts(&a, 0, 0, 33, 33, 449);
    ac_config mini = gpt2_shape(2, 2, 4, 0); /* mini_tl_transformer */
    check_counts(&mini, 1, 0, 7, 15, 46);
    check_counts(&mini, 0, 0, 7, 7, 26);
    ac_config tr = gpt2_shape(4, 1, 4, 0); /* tracr-reverse: 4L x 1H */
    check_counts(&tr, 1, 0, 9, 17, 77);
    check_counts(&tr, 1, 6, 9, 17, 462);
}

static void test_names_and_order(void **state) {
    (void)state;
    ac_config c = gpt2_shape(12, 12, 768, 0);
    ac_graph *g;
    ac_error err;
    assert_ac_ok(ac_graph_build(&g, &c, NULL, &err), &err);
    assert_string_equal(g->srcs[0].name, "Resid Start");
    assert_string_equal(g->srcs[1].name, "A0.0");
    assert_string_equal(g->srcs[13].name, "MLP 0");
    assert_string_equal(g->srcs[156].name, "MLP 11");
    assert_string_equal(g->dests[0].name, "A0.0.Q");
    assert_string_equal(g->dests[12].name, "A0.0.K");
    assert_string_equal(g->dests[24].name, "A0.0.V");
    assert_string_equal(g->dests[36].name, "MLP 0");
    assert_string_equal(g->dests[444].name, "Resid End");
    /* auto-circuit's demo names "MLP 2->A2.4.Q", but MLP 2 (graph layer 6) comes after
     * block 2's attention (layer 5): by the graph rule that is not an edge. */
    assert_true(ac_graph_find_edge(g, "MLP 2->A2.4.Q", 0) == (size_t)-1);
    const char *names[] = {"Resid Start->MLP 2", "MLP 1->A2.4.Q", "A2.4->Resid End"};
    char buf[80];
    for (int i = 0; i < 3; i++) {
        size_t e = ac_graph_find_edge(g, names[i], 0);
        assert_true(e != (size_t)-1);
        assert_string_equal(ac_graph_edge_name(g, e, buf, sizeof buf), names[i]);
    }
    /* heads of one block never connect; MLP b receives from its own block's heads */
    assert_true(ac_graph_find_edge(g, "A2.1->A2.4.Q", 0) == (size_t)-1);
    assert_true(ac_graph_find_edge(g, "A2.1->MLP 2", 0) != (size_t)-1);
    assert_true(ac_graph_find_edge(g, "MLP 2->MLP 2", 0) == (size_t)-1);
    /* mask shapes as in auto-circuit: q_input of block b has 1 + 13b inputs, MLP b 13(b+1), Resid End 157 */
    for (int b = 0; b < 12; b++) {
        assert_int_equal(g->dests[g->attn_dest_begin[b]].n_in, 1 + 13 * b);
        assert_int_equal(g->dests[g->mlp_dest[b]].n_in, 13 * (b + 1));
    }
    assert_int_equal(g->dests[444].n_in, 157);
    /* edge index round trip */
    for (size_t e = 0; e < g->n_edges; e += 997) {
        int p, dd, s;
        ac_graph_edge_at(g, e, &p, &dd, &s);
        assert_int_equal(p, -1);
        assert_true(ac_graph_edge_index(g, 0, dd, s) == e);
    }
    ac_graph_free(g);
}

static void test_positions_and_gqa(void **state) {
    (void)state;
    ac_config c;
    ac_config_defaults(&c, AC_ARCH_LLAMA);
    c.n_layer = 5; c.n_head = 8; c.n_kv_head = 4; c.d_model = 64; c.d_head = 8;
    c.d_mlp = 172; c.vocab_size = 512; c.n_ctx = 512;
    ac_graph *g;
    ac_error err;
    assert_ac_ok(ac_graph_build(&g, &c, NULL, &err), &err);
    /* per layer: 8 Q + 4 K + 4 V + MLP */
    assert_int_equal(g->n_src, 1 + 5 * 9);
    assert_int_equal(g->n_dest, 5 * 17 + 1);
    assert_string_equal(g->dests[8].name, "A0.kv0.K");
    assert_string_equal(g->dests[15].name, "A0.kv3.V");
    ac_graph_free(g);
    ac_graph_opts o = {.separate_qkv = 0};
    assert_int_equal(ac_graph_build(&g, &c, &o, &err), AC_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "grouped-query"));

    ac_config m = gpt2_shape(2, 2, 4, 0);
    ac_graph_opts op = {.separate_qkv = 1, .seq_len = 3};
    assert_ac_ok(ac_graph_build(&g, &m, &op, &err), &err);
    size_t e = ac_graph_find_edge(g, "A0.1->MLP 1", 2);
    int p, dd, s;
    ac_graph_edge_at(g, e, &p, &dd, &s);
    assert_int_equal(p, 2);
    assert_string_equal(g->dests[dd].name, "MLP 1");
    assert_string_equal(g->srcs[s].name, "A0.1");
    assert_true(e == 2 * g->n_edges_per_pos + g->dests[dd].edge_offset + (size_t)s);
    ac_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_small_counts),
        cmocka_unit_test(test_other_counts),
        cmocka_unit_test(test_names_and_order),
        cmocka_unit_test(test_positions_and_gqa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
