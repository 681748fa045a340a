/* autocircuit data: load a dataset the way discover/evaluate will and summarise it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"
#include "util/json_util.h"

static void data_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit data --model PATH --data FILE.json [options] [--json]\n"
            "\n"
            "Load a prompt-pair dataset with the given options and print a summary: prompt\n"
            "counts, splits and batches, sequence lengths, divergence positions, answer\n"
            "counts and a few decoded examples. The way to check a dataset before a long run.\n"
            "\n"
            "  --model PATH          model (vocabulary, BOS id, tokenizer); required\n"
            "  --examples N          decoded examples to show (default 3)\n"
            "  --json                print JSON\n"
            "  -h, --help            this help\n\n%s",
            ac_cli_data_help);
}

static json_t *split_json(const ac_split_summary *s) {
    json_t *j = json_object();
    json_object_set_new(j, "prompts", json_integer((json_int_t)s->n_prompts));
    json_object_set_new(j, "batches", json_integer((json_int_t)s->n_batches));
    json_object_set_new(j, "batch_size", json_integer((json_int_t)s->batch_size));
    json_object_set_new(j, "last_batch_size", json_integer((json_int_t)s->last_batch_size));
    json_object_set_new(j, "dropped", json_integer((json_int_t)s->n_dropped));
    json_object_set_new(j, "padded_batches", json_integer((json_int_t)s->n_padded_batches));
    json_object_set_new(j, "min_len", json_integer((json_int_t)s->min_len));
    json_object_set_new(j, "max_len", json_integer((json_int_t)s->max_len));
    json_object_set_new(j, "min_answers", json_integer((json_int_t)s->min_answers));
    json_object_set_new(j, "max_answers", json_integer((json_int_t)s->max_answers));
    json_object_set_new(j, "min_wrong_answers", json_integer((json_int_t)s->min_wrong));
    json_object_set_new(j, "max_wrong_answers", json_integer((json_int_t)s->max_wrong));
    json_object_set_new(j, "common_prefix", json_integer((json_int_t)s->common_prefix));
    json_object_set_new(j, "cacheable_prefix", json_integer((json_int_t)s->cacheable_prefix));
    json_object_set_new(j, "pair_diverge_idx", json_integer((json_int_t)s->pair_diverge_idx));
    return j;
}

static void print_split(const char *name, const ac_split_summary *s) {
    printf("%-6s %zu prompts in %zu batches of %zu", name, s->n_prompts, s->n_batches, s->batch_size);
    if (s->n_batches && s->last_batch_size != s->batch_size) printf(" (last batch %zu)", s->last_batch_size);
    if (s->n_dropped) printf(", %zu dropped (--drop-last)", s->n_dropped);
    printf("\n");
    if (!s->n_prompts) return;
    printf("       lengths %zu..%zu tokens, %zu padded batches; answers %zu..%zu, wrong answers %zu..%zu\n",
           s->min_len, s->max_len, s->n_padded_batches, s->min_answers, s->max_answers, s->min_wrong, s->max_wrong);
    printf("       prefix common to all prompts %zu (cacheable %zu); auto-circuit's per-pair divergence %zu\n",
           s->common_prefix, s->cacheable_prefix, s->pair_diverge_idx);
}

static char *decode_row(const ac_tokenizer *tok, const int32_t *ids, const uint8_t *mask, size_t T) {
    int32_t buf[4096];
    size_t n = 0;
    for (size_t t = 0; t < T && n < 4096; t++)
        if (mask[t]) buf[n++] = ids[t];
    char *text = NULL;
    size_t len;
    if (!tok || ac_tokenizer_decode(tok, buf, n, &text, &len, NULL)) {
        /* ids only */
        size_t cap = n * 12 + 2, k = 0;
        text = ac_malloc(cap);
        if (!text) return NULL;
        text[0] = 0;
        for (size_t i = 0; i < n; i++) k += (size_t)snprintf(text + k, cap - k, i ? " %d" : "%d", buf[i]);
    }
    return text;
}

int ac_cli_data(int argc, char **argv) {
    const char *model_path = NULL, *v;
    long examples = 3;
    int as_json = 0;
    ac_cli_data_args d;
    ac_cli_data_init(&d);
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            data_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) as_json = 1;
        else if ((r = ac_cli_data_option(argc, argv, &i, &d))) {
            if (r < 0) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) {
            if (r < 0) return AC_ERR_ARG;
            model_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--examples", &v))) {
            if (r < 0 || ac_cli_int("--examples", v, 0, 1000, &examples)) return AC_ERR_ARG;
        } else return ac_cli_usage_error("data: unknown option '%s' (see 'autocircuit data --help')", argv[i]);
    }
    if (!model_path) return ac_cli_usage_error("data: --model PATH is required");
    ac_error err;
    ac_model *m = NULL;
    ac_tokenizer *tok = NULL;
    ac_dataset *ds = NULL;
    if (ac_model_load(&m, model_path, &err) || ac_cli_data_load(&d, model_path, m, &tok, &ds, &err)) {
        int rc = ac_cli_fail(&err);
        ac_model_free(m);
        return rc;
    }
    ac_dataset_summary s;
    ac_dataset_summarize(ds, &s);
    const ac_split *sp = ac_dataset_split(ds, AC_SPLIT_TRAIN);
    if (!sp->n_batches) sp = ac_dataset_split(ds, AC_SPLIT_TEST);
    if (as_json) {
        json_t *j = json_object(), *ex = json_array();
        json_object_set_new(j, "files", json_integer((json_int_t)s.n_files));
        json_object_set_new(j, "prompts", json_integer((json_int_t)s.n_loaded));
        json_object_set_new(j, "used", json_integer((json_int_t)s.n_used));
        json_object_set_new(j, "dropped", json_integer((json_int_t)s.n_dropped));
        json_object_set_new(j, "unused", json_integer((json_int_t)s.n_unused));
        json_object_set_new(j, "prepend_bos", json_boolean(s.prepend_bos));
        json_object_set_new(j, "bos_id", json_integer(s.bos_id));
        json_object_set_new(j, "pad_id", json_integer(s.pad_id));
        json_object_set_new(j, "fixed_seq_len", json_integer((json_int_t)s.seq_len));
        json_object_set_new(j, "train", split_json(&s.train));
        json_object_set_new(j, "test", split_json(&s.test));
        for (long k = 0; sp->n_batches && k < examples && (size_t)k < sp->batches[0].batch_size; k++) {
            const ac_batch *b = &sp->batches[0];
            const size_t T = b->seq_len;
            char *c = decode_row(tok, b->clean + (size_t)k * T, b->clean_mask + (size_t)k * T, T);
            char *x = decode_row(tok, b->corrupt + (size_t)k * T, b->corrupt_mask + (size_t)k * T, T);
            json_t *e = json_object();
            json_object_set_new(e, "clean", json_string(c ? c : ""));
            json_object_set_new(e, "corrupt", json_string(x ? x : ""));
            json_array_append_new(ex, e);
            ac_free(c);
            ac_free(x);
        }
        json_object_set_new(j, "examples", ex);
        char *out = ac__json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (out) puts(out);
        free(out);
        json_decref(j);
    } else {
        printf("dataset %zu file(s), %zu prompts: %zu used, %zu beyond the splits, %zu dropped\n", s.n_files,
               s.n_loaded, s.n_used, s.n_unused, s.n_dropped);
        printf("BOS    %s (id %d), padding id %d%s\n", s.prepend_bos ? "prepended" : "not prepended", s.bos_id,
               s.pad_id, s.seq_len ? ", fixed length" : "");
        print_split("train", &s.train);
        print_split("test", &s.test);
        for (long k = 0; sp->n_batches && k < examples && (size_t)k < sp->batches[0].batch_size; k++) {
            const ac_batch *b = &sp->batches[0];
            const size_t T = b->seq_len;
            char *c = decode_row(tok, b->clean + (size_t)k * T, b->clean_mask + (size_t)k * T, T);
            char *x = decode_row(tok, b->corrupt + (size_t)k * T, b->corrupt_mask + (size_t)k * T, T);
            printf("example %ld\n  clean:   %s\n  corrupt: %s\n", k + 1, c ? c : "", x ? x : "");
            ac_free(c);
            ac_free(x);
        }
    }
    ac_dataset_free(ds);
    ac_tokenizer_free(tok);
    ac_model_free(m);
    return 0;
}
