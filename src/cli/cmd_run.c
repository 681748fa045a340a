/* autocircuit run: next-token predictions of a model, optionally greedy generation. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/engine.h"
#include "autocircuit/tokenizer.h"
#include "cli/cli.h"
#include "util/json_util.h"

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit run --model PATH (--prompt TEXT | --ids 1,2,3) [options]\n"
            "\n"
            "Run a model and print the top next tokens with their logits.\n"
            "\n"
            "  --model PATH       Hugging Face directory or llama2.c checkpoint (required)\n"
            "  --prompt TEXT      text, tokenized with the model's tokenizer\n"
            "  --ids LIST         comma-separated token ids (no BOS is added)\n"
            "  --tokenizer PATH   tokenizer to use instead of the model's own\n"
            "  --bos / --no-bos   prepend the BOS token to --prompt text (default: on for the\n"
            "                     Llama family, as sentencepiece does; off for GPT-2, as its\n"
            "                     tokenizer does)\n"
            "  --top-k K          how many tokens to list per position (default 5)\n"
            "  --all-positions    report every position, not only the last\n"
            "  --generate N       continue greedily for N tokens (default 0)\n"
            "  --json             print JSON: {\"ids\": [...], \"positions\": [{\"pos\": P, \"top\":\n"
            "                     [{\"id\": I, \"logit\": L, \"text\": S}, ...]}], \"generated\": [...]}\n"
            "  -h, --help         this help\n");
}

typedef struct {
    int id;
    float logit;
} scored;

static int by_logit_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

/* top k of one row of logits (ties: lower id first) */
static void top_k(const float *row, int V, int k, scored *out) {
    int n = 0;
    for (int v = 0; v < V; v++) {
        scored s = {v, row[v]};
        if (n < k) {
            out[n++] = s;
            qsort(out, (size_t)n, sizeof *out, by_logit_desc);
        } else if (by_logit_desc(&s, &out[k - 1]) < 0) {
            out[k - 1] = s;
            qsort(out, (size_t)n, sizeof *out, by_logit_desc);
        }
    }
}

static json_t *text_or_null(const ac_tokenizer *tok, int id) {
    const char *t = tok ? ac_tokenizer_token_text(tok, id) : NULL;
    return t ? json_string(t) : json_null();
}

static void print_quoted(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p == '"') fputs("\\\"", stdout);
        else if (*p < 0x20) printf("\\x%02x", *p);
        else putchar(*p);
    }
    putchar('"');
}

int ac_cli_run(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *ids_arg = NULL, *tok_path = NULL, *v;
    long k = 5, gen = 0;
    int all_pos = 0, as_json = 0, bos = -1;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) as_json = 1;
        else if (!strcmp(argv[i], "--all-positions")) all_pos = 1;
        else if (!strcmp(argv[i], "--bos")) bos = 1;
        else if (!strcmp(argv[i], "--no-bos")) bos = 0;
        else if ((r = ac_cli_opt(argc, argv, &i, "--model", &v))) model_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--prompt", &v))) prompt = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--ids", &v))) ids_arg = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--tokenizer", &v))) tok_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--top-k", &v))) {
            if (r > 0 && ac_cli_int("--top-k", v, 1, 1000, &k)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--generate", &v))) {
            if (r > 0 && ac_cli_int("--generate", v, 0, 1 << 20, &gen)) return AC_ERR_ARG;
        } else return ac_cli_usage_error("run: unknown option '%s' (see 'autocircuit run --help')", argv[i]);
        if (r < 0) return AC_ERR_ARG;
    }
    if (!model_path) return ac_cli_usage_error("run: --model PATH is required");
    if (!prompt == !ids_arg) return ac_cli_usage_error("run: give exactly one of --prompt TEXT and --ids LIST");

    ac_error err;
    ac_model *m = NULL;
    ac_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    ac_run *run = NULL;
    int rc = 0, n = 0;
    if ((rc = ac_model_load(&m, model_path, &err))) return ac_cli_fail(&err);
    const ac_config *c = ac_model_config(m);
    if (tok_path) rc = ac_tokenizer_load(&tok, tok_path, &err);
    else if (ac_tokenizer_load_for_model(&tok, model_path, &err)) tok = NULL; /* ids only */
    if (rc) goto fail;
    if (prompt) {
        if (!tok) {
            rc = ac_error_set(&err, AC_ERR_ARG, model_path,
                              "no tokenizer found beside the model: use --ids or --tokenizer PATH");
            goto fail;
        }
        int32_t *t;
        size_t nt;
        if ((rc = ac_tokenizer_encode(tok, prompt, strlen(prompt), &t, &nt, &err))) goto fail;
        if (bos < 0) bos = c->arch == AC_ARCH_LLAMA;
        int b = bos && ac_tokenizer_bos(tok) >= 0;
        ids = ac_malloc((nt + (size_t)b) * sizeof *ids);
        if (!ids) {
            ac_free(t);
            rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
            goto fail;
        }
        if (b) ids[0] = ac_tokenizer_bos(tok);
        memcpy(ids + b, t, nt * sizeof *ids);
        n = (int)nt + b;
        ac_free(t);
        if (n == 0) {
            rc = ac_error_set(&err, AC_ERR_ARG, NULL, "the prompt is empty");
            goto fail;
        }
    } else if (ac_cli_ids("--ids", ids_arg, &ids, &n)) {
        rc = AC_ERR_ARG;
        goto cleanup;
    }
    const int max_T = n + (int)gen;
    if (max_T > c->n_ctx) {
        rc = ac_error_set(&err, AC_ERR_ARG, model_path, "%d prompt tokens + %ld generated exceed the context of %d",
                          n, gen, c->n_ctx);
        goto fail;
    }
    int32_t *seq = ac_realloc(ids, (size_t)max_T * sizeof *ids);
    if (!seq) {
        rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    ids = seq;
    const int V = c->vocab_size;
    logits = ac_malloc((size_t)n * (size_t)V * sizeof(float));
    if (!logits) {
        rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    if ((rc = ac_run_create(&run, m, NULL, 1, max_T, &err))) goto fail;
    ac_tokens in = {.B = 1, .T = n, .ids = ids, .mask = NULL};
    ac_forward_opts o = {.logits_mode = all_pos ? AC_LOGITS_ALL : AC_LOGITS_LAST, .logits = logits};
    if ((rc = ac_run_forward(run, &in, &o, &err))) goto fail;

    scored *top = ac_malloc((size_t)k * sizeof *top);
    if (!top) {
        rc = ac_error_set(&err, AC_ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    if ((int)k > V) k = V;
    json_t *j = as_json ? json_object() : NULL, *jpos = as_json ? json_array() : NULL;
    if (as_json) {
        json_t *ja = json_array();
        for (int t = 0; t < n; t++) json_array_append_new(ja, json_integer(ids[t]));
        json_object_set_new(j, "ids", ja);
    } else {
        printf("ids:");
        for (int t = 0; t < n; t++) printf(" %d", ids[t]);
        printf("\n");
    }
    for (int t = all_pos ? 0 : n - 1; t < n; t++) {
        const float *row = logits + (size_t)(all_pos ? t : 0) * (size_t)V;
        top_k(row, V, (int)k, top);
        if (as_json) {
            json_t *p = json_object(), *tl = json_array();
            json_object_set_new(p, "pos", json_integer(t));
            for (int i = 0; i < k; i++) {
                json_t *e = json_object();
                json_object_set_new(e, "id", json_integer(top[i].id));
                json_object_set_new(e, "logit", json_real(top[i].logit));
                json_object_set_new(e, "text", text_or_null(tok, top[i].id));
                json_array_append_new(tl, e);
            }
            json_object_set_new(p, "top", tl);
            json_array_append_new(jpos, p);
        } else {
            printf("position %d (input id %d", t, ids[t]);
            if (tok && ac_tokenizer_token_text(tok, ids[t])) {
                printf(" ");
                print_quoted(ac_tokenizer_token_text(tok, ids[t]));
            }
            printf("):\n");
            for (int i = 0; i < k; i++) {
                printf("  %2d. %6d  %10.4f", i + 1, top[i].id, (double)top[i].logit);
                if (tok && ac_tokenizer_token_text(tok, top[i].id)) {
                    printf("  ");
                    print_quoted(ac_tokenizer_token_text(tok, top[i].id));
                }
                printf("\n");
            }
        }
    }
    ac_free(top);
    /* greedy continuation: argmax of the last position, appended, repeated */
    int total = n;
    for (long s = 0; s < gen && rc == 0; s++) {
        ac_tokens gi = {.B = 1, .T = total, .ids = ids, .mask = NULL};
        ac_forward_opts go = {.logits_mode = AC_LOGITS_LAST, .logits = logits};
        if (s > 0 || all_pos) rc = ac_run_forward(run, &gi, &go, &err);
        if (rc) break;
        int best = 0;
        for (int vv = 1; vv < V; vv++)
            if (logits[vv] > logits[best]) best = vv;
        ids[total++] = best;
    }
    if (rc) {
        json_decref(j);
        goto fail;
    }
    /* decode the whole sequence and keep what follows the prompt, so that context-dependent
     * decoding (sentencepiece drops the space after BOS) matches a decoder that saw it all */
    char *text = NULL, *ptext = NULL;
    size_t tl = 0, pl = 0;
    if (gen > 0 && tok && !ac_tokenizer_decode(tok, ids, (size_t)total, &text, &tl, NULL) &&
        !ac_tokenizer_decode(tok, ids, (size_t)n, &ptext, &pl, NULL) && pl <= tl && !memcmp(text, ptext, pl)) {
        memmove(text, text + pl, tl - pl + 1);
        tl -= pl;
    } else if (gen > 0 && tok) {
        ac_free(text);
        text = NULL;
        if (ac_tokenizer_decode(tok, ids + n, (size_t)(total - n), &text, &tl, NULL)) text = NULL;
    }
    ac_free(ptext);
    if (as_json) {
        json_object_set_new(j, "positions", jpos);
        if (gen > 0) {
            json_t *g = json_array();
            for (int t = n; t < total; t++) json_array_append_new(g, json_integer(ids[t]));
            json_object_set_new(j, "generated", g);
            json_object_set_new(j, "generated_text", text ? json_stringn(text, tl) : json_null());
        }
        char *s = ac__json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        if (s) puts(s);
        free(s);
        json_decref(j);
    } else if (gen > 0) {
        printf("generated:");
        for (int t = n; t < total; t++) printf(" %d", ids[t]);
        printf("\n");
        if (text) printf("%s\n", text);
    }
    ac_free(text);
    goto cleanup;
fail:
    rc = ac_cli_fail(&err);
cleanup:
    ac_run_free(run);
    ac_free(logits);
    ac_free(ids);
    ac_tokenizer_free(tok);
    ac_model_free(m);
    return rc;
}
