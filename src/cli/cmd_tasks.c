/* autocircuit make-dataset / official-circuit: benchmark datasets and published circuits. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"

/* ---- make-dataset --------------------------------------------------------------------- */

static void make_dataset_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit make-dataset TASK --tokenizer PATH [options] --out FILE.json\n"
            "\n"
            "Generate a prompt-pair dataset in auto-circuit's JSON format. TASK is one of:\n"
            "  ioi           indirect object identification (Wang et al.): the IOI paper's 15\n"
            "                templates in ABBA and BABA order, corrupt = ABC (three new names)\n"
            "  greater-than  \"The war lasted from the year 1732 to the year 17\" (Hanna et al.);\n"
            "                answers 33..99, wrong answers 00..32; corrupt year XX01\n"
            "  docstring     next :param name of a Python docstring (Heimersheim & Janiak)\n"
            "  induction     random tokens, then the same tokens again (token ids)\n"
            "Same task, options, seed and tokenizer give the same file. Every prompt is checked\n"
            "token by token; words that are not single tokens and redrawn prompts are reported.\n"
            "\n"
            "  --tokenizer PATH      tokenizer (vocab.json+merges.txt directory, tokenizer.json,\n"
            "                        llama2.c .bin); required except for induction with --vocab\n"
            "  --model PATH          take the tokenizer that belongs to this model\n"
            "  --n N                 prompts (default 1000)\n"
            "  --seed S              RNG seed (default 0)\n"
            "  --template T          ioi: all (default, 15 templates), 0..14, or vanilla\n"
            "  --order O             ioi: both (default; alternating), abba or baba. One\n"
            "                        template and one order give word_idxs and seq_labels.\n"
            "  --length L            induction: random sequence length (default 10)\n"
            "  --vocab N             induction without a tokenizer: ids in 0..N-1\n"
            "  --strict              a prompt failing its check is an error (default: redraw)\n"
            "  --out FILE.json       output file (required; written atomically)\n"
            "  -q, --quiet           no summary\n"
            "  -h, --help            this help\n");
}

int ac_cli_make_dataset(int argc, char **argv) {
    const char *task = NULL, *tok_path = NULL, *model_path = NULL, *out = NULL, *v;
    int quiet = 0;
    ac_task_options o;
    ac_task_options_default(&o);
    for (int i = 1; i < argc; i++) {
        int r;
        long x;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            make_dataset_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--strict")) {
            o.strict = 1;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--tokenizer", &v))) {
            if (r < 0) return AC_ERR_ARG;
            tok_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) {
            if (r < 0) return AC_ERR_ARG;
            model_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) {
            if (r < 0) return AC_ERR_ARG;
            out = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--n", &v))) {
            if (r < 0 || ac_cli_int("--n", v, 1, 10000000, &x)) return AC_ERR_ARG;
            o.n_prompts = (size_t)x;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--seed", &v))) {
            if (r < 0 || ac_cli_int("--seed", v, 0, 2147483647, &x)) return AC_ERR_ARG;
            o.seed = (uint64_t)x;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--length", &v))) {
            if (r < 0 || ac_cli_int("--length", v, 2, 100000, &x)) return AC_ERR_ARG;
            o.induction_len = (int)x;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--vocab", &v))) {
            if (r < 0 || ac_cli_int("--vocab", v, 1, 2147483647, &x)) return AC_ERR_ARG;
            o.vocab_size = (int32_t)x;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--template", &v))) {
            if (r < 0) return AC_ERR_ARG;
            if (!strcmp(v, "all")) o.ioi_template = AC_IOI_ALL_TEMPLATES;
            else if (!strcmp(v, "vanilla")) o.ioi_template = AC_IOI_VANILLA;
            else if (ac_cli_int("--template", v, 0, AC_IOI_N_TEMPLATES - 1, &x)) return AC_ERR_ARG;
            else o.ioi_template = (int)x;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--order", &v))) {
            if (r < 0) return AC_ERR_ARG;
            if (!strcmp(v, "both")) o.ioi_order = AC_IOI_BOTH;
            else if (!strcmp(v, "abba") || !strcmp(v, "ABBA")) o.ioi_order = AC_IOI_ABBA;
            else if (!strcmp(v, "baba") || !strcmp(v, "BABA")) o.ioi_order = AC_IOI_BABA;
            else return ac_cli_usage_error("--order: expected both, abba or baba, got '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return ac_cli_usage_error("make-dataset: unknown option '%s' (see 'autocircuit make-dataset --help')",
                                      argv[i]);
        } else if (!task) {
            task = argv[i];
        } else {
            return ac_cli_usage_error("make-dataset: one TASK only ('%s' and '%s')", task, argv[i]);
        }
    }
    if (!task) return ac_cli_usage_error("make-dataset: TASK is required (ioi, greater-than, docstring, induction)");
    if (!out) return ac_cli_usage_error("make-dataset: --out FILE.json is required");
    if (tok_path && model_path) return ac_cli_usage_error("make-dataset: give --tokenizer or --model, not both");
    ac_error err;
    ac_task_kind kind;
    if (ac_task_parse(task, &kind, &err)) return ac_cli_fail(&err);
    if (kind != AC_TASK_IOI && (o.ioi_template != AC_IOI_ALL_TEMPLATES || o.ioi_order != AC_IOI_BOTH))
        return ac_cli_usage_error("make-dataset: --template and --order are IOI options");
    ac_tokenizer *tok = NULL;
    if (tok_path && ac_tokenizer_load(&tok, tok_path, &err)) return ac_cli_fail(&err);
    if (model_path && ac_tokenizer_load_for_model(&tok, model_path, &err)) return ac_cli_fail(&err);
    if (!tok && !(kind == AC_TASK_INDUCTION && o.vocab_size > 0)) {
        return ac_cli_usage_error(kind == AC_TASK_INDUCTION
                                      ? "make-dataset: induction needs --tokenizer, --model or --vocab N"
                                      : "make-dataset: --tokenizer PATH (or --model PATH) is required");
    }
    ac_task_dataset *ds = NULL;
    int rc = ac_task_generate(&ds, kind, tok, &o, &err);
    if (!rc) rc = ac_task_dataset_write(ds, out, &err);
    if (rc) {
        ac_tokenizer_free(tok);
        ac_task_dataset_free(ds);
        return ac_cli_fail(&err);
    }
    for (size_t i = 0; i < ds->n_notes; i++) fprintf(stderr, "autocircuit: note: %s\n", ds->notes[i]);
    if (!quiet) {
        size_t lo = (size_t)-1, hi = 0;
        for (size_t i = 0; i < ds->n_prompts; i++) {
            const ac_task_prompt *p = &ds->prompts[i];
            if (p->n_clean < lo) lo = p->n_clean;
            if (p->n_corrupt < lo) lo = p->n_corrupt;
            if (p->n_clean > hi) hi = p->n_clean;
            if (p->n_corrupt > hi) hi = p->n_corrupt;
        }
        printf("%s: %zu prompts (seed %llu) -> %s\n", ac_task_name(kind), ds->n_prompts, (unsigned long long)o.seed, out);
        if (ds->seq_len) printf("length  every prompt %zu tokens (without BOS)\n", ds->seq_len);
        else printf("length  %zu..%zu tokens (without BOS)\n", lo, hi);
        if (ds->n_word_idxs) {
            printf("word_idxs");
            for (size_t i = 0; i < ds->n_word_idxs; i++)
                printf(" %s=%ld", ds->word_idx_names[i], ds->word_idx_values[i]);
            printf(" (without BOS)\n");
        }
        printf("checks  every prompt tokenized and checked; %zu redrawn, %zu words not single tokens\n",
               ds->n_rejected, ds->n_pool_dropped);
    }
    ac_task_dataset_free(ds);
    ac_tokenizer_free(tok);
    return 0;
}

/* ---- official-circuit ------------------------------------------------------------------- */

static void official_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit official-circuit NAME (--model PATH | --shape NAME) [--data FILE.json\n"
            "                                    --positions] --out FILE.json\n"
            "       autocircuit official-circuit --list\n"
            "\n"
            "Write the edges of a published circuit as a ground-truth file for the given model's\n"
            "graph (separate Q/K/V), without token positions or, with --positions, per token\n"
            "position (the dataset's word_idxs place the positions; BOS as the dataset options).\n"
            "Only the model's shape matters: --model loads a checkpoint (weights included), --shape\n"
            "gpt2-small|attn-only-4l needs none.\n"
            "\n"
            "  --model PATH          the model the ground truth is for\n"
            "  --shape NAME          or a built-in shape: gpt2-small, attn-only-4l\n"
            "  --positions           per-token-position edges (needs --data)\n"
            "  --data FILE.json      the dataset whose word_idxs give the positions; loaded with\n"
            "                        the dataset options (--tokenizer, --no-bos) as discover does;\n"
            "                        every prompt must have the same length\n"
            "  --combined-qkv        combined Q/K/V graph (node-level circuits only)\n"
            "  --out FILE.json       output file (required)\n"
            "  --list                list the circuits\n"
            "  -h, --help            this help\n\n"
            "With --positions every prompt of the dataset is read; the batch, split and shuffle\n"
            "options below make no difference.\n%s",
            ac_cli_data_help);
}

int ac_cli_official_circuit(int argc, char **argv) {
    const char *name = NULL, *model_path = NULL, *shape = NULL, *out = NULL, *v;
    int positions = 0, combined = 0, list = 0;
    ac_cli_data_args d;
    ac_cli_data_init(&d);
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            official_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--list")) {
            list = 1;
        } else if (!strcmp(argv[i], "--positions")) {
            positions = 1;
        } else if (!strcmp(argv[i], "--combined-qkv")) {
            combined = 1;
        } else if ((r = ac_cli_data_option(argc, argv, &i, &d))) {
            if (r < 0) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) {
            if (r < 0) return AC_ERR_ARG;
            model_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--shape", &v))) {
            if (r < 0) return AC_ERR_ARG;
            shape = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) {
            if (r < 0) return AC_ERR_ARG;
            out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return ac_cli_usage_error("official-circuit: unknown option '%s' (see 'autocircuit official-circuit --help')",
                                      argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return ac_cli_usage_error("official-circuit: one NAME only ('%s' and '%s')", name, argv[i]);
        }
    }
    if (list) {
        for (size_t i = 0; i < ac_official_circuit_count(); i++) {
            const ac_official_circuit *c = ac_official_circuit_at(i);
            printf("%-16s %s; %s\n%-16s   source: %s\n%-16s   positions from word_idxs: %s\n", c->name, c->model,
                   c->description, "", c->source, "", c->word_idxs);
        }
        return 0;
    }
    if (!name) return ac_cli_usage_error("official-circuit: NAME is required (see --list)");
    const ac_official_circuit *c = ac_official_circuit_find(name);
    if (!c) return ac_cli_usage_error("official-circuit: unknown circuit '%s' (see --list)", name);
    if (!out) return ac_cli_usage_error("official-circuit: --out FILE.json is required");
    if (!model_path == !shape) return ac_cli_usage_error("official-circuit: give --model PATH or --shape NAME");
    if (positions && d.n_paths == 0) return ac_cli_usage_error("official-circuit: --positions needs --data FILE.json");
    if (!positions && d.n_paths)
        return ac_cli_usage_error("official-circuit: --data is only used with --positions (token positions)");

    ac_error err;
    ac_model *m = NULL;
    ac_config shape_cfg;
    const ac_config *cfg = &shape_cfg;
    if (model_path) {
        if (ac_model_load(&m, model_path, &err)) return ac_cli_fail(&err);
        cfg = ac_model_config(m);
    } else if (ac_task_model_config(shape, &shape_cfg, &err)) {
        return ac_cli_fail(&err);
    }
    ac_tokenizer *tok = NULL;
    ac_dataset *ds = NULL;
    ac_graph *g = NULL;
    uint8_t *in = NULL;
    int rc = AC_OK;
    ac_graph_opts go = ac_graph_default_opts();
    go.separate_qkv = !combined;
    if (positions) {
        d.opts.train_size = AC_DATASET_ALL;
        d.opts.test_size = 0;
        d.opts.shuffle = 0;
        d.opts.fixed_length = 1;
        d.split_all = 0;
        rc = ac_cli_data_load(&d, model_path, m, &tok, &ds, &err);
        if (!rc) {
            if (ds->seq_len > (size_t)cfg->n_ctx)
                rc = ac_error_set(&err, AC_ERR_RANGE, d.paths[0], "prompts of %zu tokens exceed the model's context (%d)",
                                  ds->seq_len, cfg->n_ctx);
            go.seq_len = (int)ds->seq_len;
        }
    }
    if (!rc) rc = ac_graph_build(&g, cfg, &go, &err);
    size_t n_in = 0;
    if (!rc && !(in = ac_malloc(g->n_edges ? g->n_edges : 1))) rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
    if (!rc)
        rc = ac_official_circuit_edges(c, g, ds ? (const char *const *)ds->word_idx_names : NULL,
                                       ds ? ds->word_idx_values : NULL, ds ? ds->n_word_idxs : 0, in, &n_in, &err);
    if (!rc) rc = ac_official_circuit_write(out, g, in, c->name, model_path ? model_path : shape, positions ? d.paths[0] : NULL, &err);
    if (!rc) {
        printf("%s: %zu of %zu edges", c->name, n_in, g->n_edges);
        if (g->seq_len > 0) printf(" (per position, %d positions", g->seq_len);
        else printf(" (no positions");
        printf(", %s Q/K/V) -> %s\n", g->separate_qkv ? "separate" : "combined", out);
    }
    ac_free(in);
    ac_graph_free(g);
    ac_dataset_free(ds);
    ac_tokenizer_free(tok);
    ac_model_free(m);
    return rc ? ac_cli_fail(&err) : 0;
}
