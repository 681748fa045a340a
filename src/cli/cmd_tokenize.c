/* autocircuit tokenize: text -> token ids, ids -> text. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/tokenizer.h"
#include "cli/cli.h"
#include "data/tokenizer_internal.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit tokenize (--model PATH | --tokenizer PATH) [--json] [--bos] "
            "TEXT...\n"
            "       autocircuit tokenize (--model PATH | --tokenizer PATH) [--json] --decode "
            "IDS...\n"
            "\n"
            "Print the token ids of each TEXT on a line of its own (space-separated), or with\n"
            "--decode the text of each comma-separated id list.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH       the tokenizer that belongs to a model: a Hugging Face\n"
            "                         directory, or a llama2.c checkpoint (tokenizer.bin or\n"
            "                         tok*.bin beside it)\n"
            "  -t, --tokenizer PATH   a tokenizer: tokenizer.json, a directory with vocab.json +\n"
            "                         merges.txt (or encoder.json + vocab.bpe), or a llama2.c\n"
            "                         tokenizer .bin\n"
            "  -d, --decode IDS       decode comma-separated ids, e.g. 383,3139 (repeatable)\n"
            "      --bos              prepend the beginning-of-sequence id when encoding\n"
            "      --json             print {\"ids\": [[...], ...]} or {\"texts\": [...]}\n"
            "  -h, --help             this help\n"
            "Use -- before a TEXT that starts with '-'.\n");
}

static int arg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "autocircuit: tokenize: <message>" and return AC_ERR_ARG. */
static int arg_error(const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ac_error e;
    ac_error_set(&e, AC_ERR_ARG, NULL, "tokenize: %s", msg);
    return ac_cli_fail(&e);
}

/* Parse "1,2,3" into ids (ac_malloc'd). */
static int parse_ids(const char *s, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    ac__ids v = {0};
    const char *p = s;
    while (*p == ' ') p++;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < INT32_MIN || x > INT32_MAX) {
            ac__ids_free(&v);
            return AC_ERR_ARG;
        }
        if (ac__ids_push(&v, (int32_t)x)) {
            ac__ids_free(&v);
            return AC_ERR_NOMEM;
        }
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') {
            p++;
            while (*p == ' ') p++;
            if (!*p) {
                ac__ids_free(&v);
                return AC_ERR_ARG;
            }
        } else if (*p) {
            ac__ids_free(&v);
            return AC_ERR_ARG;
        }
    }
    *ids = v.data;
    *n = v.len;
    return AC_OK;
}

/* A JSON string; bytes that are not well-formed UTF-8 become U+FFFD. */
static void print_json_string(FILE *f, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char ch = u[i];
        size_t k = ac__utf8_valid_len(u + i, n - i);
        if (k == 0) {
            fputs("\\ufffd", f);
            i++;
        } else if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
            i++;
        } else if (ch == '\n') {
            fputs("\\n", f);
            i++;
        } else if (ch == '\t') {
            fputs("\\t", f);
            i++;
        } else if (ch == '\r') {
            fputs("\\r", f);
            i++;
        } else if (ch < 0x20 || ch == 0x7F) {
            fprintf(f, "\\u%04x", ch);
            i++;
        } else {
            fwrite(u + i, 1, k, f);
            i += k;
        }
    }
    fputc('"', f);
}

int ac_cli_tokenize(int argc, char **argv) {
    const char *model = NULL, *tokenizer = NULL;
    int json = 0, bos = 0;
    char **texts = NULL, **decodes = NULL;
    size_t n_texts = 0, n_decodes = 0;
    int rc = AC_OK;
    size_t cap = argc > 0 ? (size_t)argc : 1;
    texts = ac_calloc(cap, sizeof *texts);
    decodes = ac_calloc(cap, sizeof *decodes);
    if (!texts || !decodes) {
        ac_free(texts);
        ac_free(decodes);
        fprintf(stderr, "autocircuit: tokenize: out of memory\n");
        return AC_ERR_NOMEM;
    }
    int only_texts = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (only_texts || a[0] != '-' || !a[1]) {
            texts[n_texts++] = argv[i];
        } else if (!strcmp(a, "--")) {
            only_texts = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            ac_free(texts);
            ac_free(decodes);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--bos")) {
            bos = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-t") ||
                   !strcmp(a, "--tokenizer") || !strcmp(a, "-d") || !strcmp(a, "--decode")) {
            if (i + 1 >= argc) {
                rc = arg_error("option %s needs a value", a);
                break;
            }
            char *v = argv[++i];
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
            else if (!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) tokenizer = v;
            else decodes[n_decodes++] = v;
        } else {
            rc = arg_error("unknown option '%s' (see 'autocircuit tokenize --help')", a);
        }
    }
    if (!rc && (!model) == (!tokenizer))
        rc = arg_error("%s", "give exactly one of --model PATH or --tokenizer PATH");
    else if (!rc && n_texts && n_decodes)
        rc = arg_error("%s", "give either TEXT arguments or --decode IDS, not both");
    else if (!rc && !n_texts && !n_decodes)
        rc = arg_error("%s", "nothing to do: give TEXT arguments or --decode IDS");
    if (rc) {
        ac_free(texts);
        ac_free(decodes);
        return rc;
    }

    ac_error err;
    ac_tokenizer *tok = NULL;
    rc = model ? ac_tokenizer_load_for_model(&tok, model, &err)
               : ac_tokenizer_load(&tok, tokenizer, &err);
    if (rc) {
        ac_free(texts);
        ac_free(decodes);
        return ac_cli_fail(&err);
    }
    if (bos && ac_tokenizer_bos(tok) < 0) {
        ac_tokenizer_free(tok);
        ac_free(texts);
        ac_free(decodes);
        return arg_error("%s", "--bos: this tokenizer has no beginning-of-sequence token");
    }

    int failed = 0; /* an error in err still to be printed */
    if (json) fputs(n_texts ? "{\"ids\": [" : "{\"texts\": [", stdout);
    const char *sep = json ? ", " : " ";
    for (size_t k = 0; k < n_texts && !rc; k++) {
        int32_t *ids;
        size_t n;
        rc = ac_tokenizer_encode(tok, texts[k], strlen(texts[k]), &ids, &n, &err);
        if (rc) {
            failed = 1;
            break;
        }
        if (json) fputs(k ? ", [" : "[", stdout);
        if (bos) printf("%d", ac_tokenizer_bos(tok));
        for (size_t i = 0; i < n; i++) printf("%s%ld", i || bos ? sep : "", (long)ids[i]);
        fputs(json ? "]" : "\n", stdout);
        ac_free(ids);
    }
    for (size_t k = 0; k < n_decodes && !rc; k++) {
        int32_t *ids;
        size_t n;
        int prc = parse_ids(decodes[k], &ids, &n);
        if (prc == AC_ERR_ARG) {
            rc = arg_error("--decode: '%.400s' is not a comma-separated list of token ids",
                           decodes[k]);
            break;
        }
        if (prc) {
            rc = ac_error_set(&err, prc, NULL, "tokenize: out of memory");
            failed = 1;
            break;
        }
        char *text;
        size_t len;
        rc = ac_tokenizer_decode(tok, ids, n, &text, &len, &err);
        ac_free(ids);
        if (rc) {
            failed = 1;
            break;
        }
        if (json) {
            if (k) fputs(", ", stdout);
            print_json_string(stdout, text, len);
        } else {
            fwrite(text, 1, len, stdout);
            fputc('\n', stdout);
        }
        ac_free(text);
    }
    if (failed) rc = ac_cli_fail(&err);
    else if (!rc && json) fputs("]}\n", stdout);
    ac_tokenizer_free(tok);
    ac_free(texts);
    ac_free(decodes);
    return rc;
}
