/* autocircuit info: architecture and circuit-graph sizes of a model. */
#include <jansson.h>
#include <string.h>

#include "autocircuit/graph.h"
#include "cli/cli.h"
#include "util/json_util.h"

static void info_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit info --model PATH [--seq-len N] [--residual] [--json]\n"
            "\n"
            "Print a model's architecture and the sizes of its circuit graphs: sources,\n"
            "destinations and edges with separate and with combined Q/K/V inputs, the\n"
            "node-level residual graph, and per-position edge counts.\n"
            "\n"
            "  --model PATH   Hugging Face directory or llama2.c checkpoint (required)\n"
            "  --seq-len N    also count per-token-position edges for N positions (default: none)\n"
            "  --residual     also list the residual graph's edges, in edge order\n"
            "  --json         print JSON instead of text\n"
            "  -h, --help     this help\n");
}

static const char *arch_name(const ac_config *c) { return c->arch == AC_ARCH_GPT2 ? "gpt2" : "llama"; }
static const char *norm_name(ac_norm_kind k) {
    return k == AC_NORM_LAYERNORM ? "layernorm" : k == AC_NORM_RMSNORM ? "rmsnorm" : "none";
}
static const char *pos_name(ac_pos_kind k) {
    switch (k) {
    case AC_POS_LEARNED: return "learned";
    case AC_POS_ROPE_INTERLEAVED: return "rope-interleaved";
    case AC_POS_ROPE_HALF: return "rope-half";
    default: return "none";
    }
}
static const char *act_name(ac_act_kind k) {
    switch (k) {
    case AC_ACT_GELU_NEW: return "gelu_new";
    case AC_ACT_GELU: return "gelu";
    case AC_ACT_RELU: return "relu";
    default: return "silu";
    }
}

int ac_cli_info(int argc, char **argv) {
    const char *model_path = NULL, *v;
    long seq_len = 0;
    int as_json = 0, list_residual = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            info_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (!strcmp(argv[i], "--residual")) {
            list_residual = 1;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) {
            if (r < 0) return AC_ERR_ARG;
            model_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--seq-len", &v))) {
            if (r < 0 || ac_cli_int("--seq-len", v, 1, 1 << 20, &seq_len)) return AC_ERR_ARG;
        } else {
            return ac_cli_usage_error("info: unknown option '%s' (see 'autocircuit info --help')", argv[i]);
        }
    }
    if (!model_path) return ac_cli_usage_error("info: --model PATH is required");
    ac_error err;
    ac_model *m;
    if (ac_model_load(&m, model_path, &err)) return ac_cli_fail(&err);
    const ac_config *c = ac_model_config(m);
    ac_graph *g = NULL, *gc = NULL;
    ac_graph_opts o = ac_graph_default_opts();
    if (ac_graph_build(&g, c, &o, &err)) {
        ac_model_free(m);
        return ac_cli_fail(&err);
    }
    o.separate_qkv = 0;
    if (ac_graph_build(&gc, c, &o, NULL)) gc = NULL; /* not defined for grouped-query models */
    ac_graph *gr = NULL;
    ac_graph_opts ro = ac_graph_default_opts();
    ro.residual = 1;
    if (ac_graph_build(&gr, c, &ro, &err)) {
        ac_graph_free(g);
        ac_graph_free(gc);
        ac_model_free(m);
        return ac_cli_fail(&err);
    }
    const size_t resid = gr->n_edges;
    char ename[80];
    if (as_json) {
        json_t *j = json_object();
        json_object_set_new(j, "path", json_string(model_path));
        json_object_set_new(j, "architecture", json_string(arch_name(c)));
        json_object_set_new(j, "n_layer", json_integer(c->n_layer));
        json_object_set_new(j, "n_head", json_integer(c->n_head));
        json_object_set_new(j, "n_kv_head", json_integer(c->n_kv_head));
        json_object_set_new(j, "d_model", json_integer(c->d_model));
        json_object_set_new(j, "d_head", json_integer(c->d_head));
        json_object_set_new(j, "d_mlp", json_integer(c->d_mlp));
        json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
        json_object_set_new(j, "n_ctx", json_integer(c->n_ctx));
        json_object_set_new(j, "attn_only", json_boolean(c->attn_only));
        json_object_set_new(j, "norm", json_string(norm_name(c->norm)));
        json_object_set_new(j, "positions", json_string(pos_name(c->pos)));
        json_object_set_new(j, "activation", json_string(act_name(c->act)));
        json_object_set_new(j, "gated_mlp", json_boolean(c->gated_mlp));
        json_object_set_new(j, "tied_embeddings", json_boolean(c->tied_embeddings));
        json_object_set_new(j, "parameters", json_integer((json_int_t)ac_config_param_count(c)));
        json_t *gj = json_object();
        json_object_set_new(gj, "sources", json_integer(g->n_src));
        json_object_set_new(gj, "destinations", json_integer(g->n_dest));
        json_object_set_new(gj, "edges", json_integer((json_int_t)g->n_edges));
        json_object_set_new(gj, "destinations_combined_qkv", gc ? json_integer(gc->n_dest) : json_null());
        json_object_set_new(gj, "edges_combined_qkv", gc ? json_integer((json_int_t)gc->n_edges) : json_null());
        json_object_set_new(gj, "residual_graph_edges", json_integer((json_int_t)resid));
        json_object_set_new(gj, "residual_graph_sources", json_integer(gr->n_src));
        json_object_set_new(gj, "residual_graph_destinations", json_integer(gr->n_dest));
        if (seq_len > 0) {
            json_object_set_new(gj, "seq_len", json_integer(seq_len));
            json_object_set_new(gj, "edges_per_position_total", json_integer((json_int_t)(g->n_edges * (size_t)seq_len)));
            json_object_set_new(gj, "edges_combined_qkv_per_position_total",
                                gc ? json_integer((json_int_t)(gc->n_edges * (size_t)seq_len)) : json_null());
            json_object_set_new(gj, "residual_graph_edges_per_position_total",
                                json_integer((json_int_t)(resid * (size_t)seq_len)));
        }
        if (list_residual) {
            json_t *arr = json_array();
            for (size_t e = 0; e < gr->n_edges; e++)
                json_array_append_new(arr, json_string(ac_graph_edge_name(gr, e, ename, sizeof ename)));
            json_object_set_new(gj, "residual_graph_edge_names", arr);
        }
        json_object_set_new(j, "graph", gj);
        char *s = ac__json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(j);
    } else {
        printf("model         %s\n", model_path);
        printf("architecture  %s%s, %d layers, %d heads (%d key/value), width %d, head width %d\n",
               arch_name(c), c->attn_only ? " (attention-only)" : "", c->n_layer, c->n_head,
               c->n_kv_head, c->d_model, c->d_head);
        if (!c->attn_only)
            printf("mlp           width %d, %s%s\n", c->d_mlp, act_name(c->act), c->gated_mlp ? " (gated)" : "");
        printf("norm          %s, positions %s, vocabulary %d, context %d, %s embeddings\n",
               norm_name(c->norm), pos_name(c->pos), c->vocab_size, c->n_ctx,
               c->tied_embeddings ? "tied" : "untied");
        printf("parameters    %zu\n", ac_config_param_count(c));
        printf("graph         %d sources, %d destinations, %zu edges (separate Q/K/V)\n", g->n_src,
               g->n_dest, g->n_edges);
        if (gc)
            printf("              %d sources, %d destinations, %zu edges (combined Q/K/V)\n", gc->n_src,
                   gc->n_dest, gc->n_edges);
        else
            printf("              combined Q/K/V: not defined for grouped-query attention\n");
        printf("              %d sources, %d destinations, %zu edges (node-level residual graph)\n", gr->n_src,
               gr->n_dest, resid);
        if (seq_len > 0) {
            printf("per position  %ld positions: %zu edges", seq_len, g->n_edges * (size_t)seq_len);
            if (gc) printf(" (%zu combined)", gc->n_edges * (size_t)seq_len);
            printf(", %zu residual\n", resid * (size_t)seq_len);
        }
        if (list_residual) {
            printf("residual graph edges\n");
            for (size_t e = 0; e < gr->n_edges; e++)
                printf("  %4zu  %s\n", e, ac_graph_edge_name(gr, e, ename, sizeof ename));
        }
    }
    ac_graph_free(g);
    ac_graph_free(gc);
    ac_graph_free(gr);
    ac_model_free(m);
    return 0;
}
