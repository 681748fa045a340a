/* Setup shared by `discover` and `evaluate` (circuit_common.h). */
#include "cli/circuit_common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ac_cli_session_close(ac_cli_session *s) {
    ac_algo_ctx_free(s->ctx);
    ac_graph_free(s->g);
    ac_dataset_free(s->ds);
    ac_tokenizer_free(s->tok);
    ac_model_free(s->m);
    memset(s, 0, sizeof *s);
}

/* the split's common length, or an error naming the lengths found */
static int split_length(const ac_split *sp, const char *data, int *T, ac_error *err) {
    size_t lo = (size_t)-1, hi = 0;
    int padded = 0;
    for (size_t i = 0; i < sp->n_batches; i++) {
        const ac_batch *b = &sp->batches[i];
        if (b->seq_len < lo) lo = b->seq_len;
        if (b->seq_len > hi) hi = b->seq_len;
        padded |= b->padded;
    }
    if (padded || lo != hi)
        return ac_error_set(err, AC_ERR_ARG, data,
                            "per-position edges need prompts of one length, but the split's prompts are padded "
                            "(batches of %zu to %zu tokens); use a dataset whose prompts all have the same length",
                            lo, hi);
    *T = (int)hi;
    return AC_OK;
}

int ac_cli_session_open(ac_cli_session *s, const char *model_path, const ac_cli_data_args *d,
                        int need_data, int separate_qkv, int seq_len, ac_cli_progress *prog,
                        ac_error *err) {
    memset(s, 0, sizeof *s);
    int rc = ac_model_load(&s->m, model_path, err);
    if (rc) return rc;
    if (need_data) {
        if ((rc = ac_cli_data_load(d, model_path, s->m, &s->tok, &s->ds, err))) goto fail;
        s->split = ac_cli_data_split(d, s->ds, &s->merged);
        if (!s->split->n_batches) {
            rc = ac_error_set(err, AC_ERR_ARG, d->paths[0], "the %s split has no prompts (see --train-test, --split)",
                              d->split_all ? "merged" : d->split == AC_SPLIT_TEST ? "test" : "train");
            goto fail;
        }
        size_t k = 0;
        for (size_t i = 0; i < d->n_paths && k + 2 < sizeof s->data; i++)
            k += (size_t)snprintf(s->data + k, sizeof s->data - k, "%s%s", i ? "," : "", d->paths[i]);
    }
    if (seq_len != 0) {
        if (!s->split) {
            rc = ac_error_set(err, AC_ERR_ARG, NULL, "per-position edges need a dataset (--data)");
            goto fail;
        }
        int T = 0;
        if ((rc = split_length(s->split, s->data, &T, err))) goto fail;
        if (seq_len > 0 && seq_len != T) {
            rc = ac_error_set(err, AC_ERR_SHAPE, s->data,
                              "the scores have per-position edges for %d positions, but these prompts have %d tokens",
                              seq_len, T);
            goto fail;
        }
        seq_len = T;
    }
    ac_graph_opts go = ac_graph_default_opts();
    go.separate_qkv = separate_qkv;
    go.seq_len = seq_len;
    if ((rc = ac_graph_build(&s->g, ac_model_config(s->m), &go, err))) {
        if (!err->file[0]) snprintf(err->file, sizeof err->file, "%s", model_path);
        goto fail;
    }
    if (s->split) {
        if ((rc = ac_algo_ctx_create(&s->ctx, s->m, s->g, s->split, err))) goto fail;
        if (prog) ac_algo_ctx_set_progress(s->ctx, ac_cli_progress_cb, prog);
    }
    return AC_OK;
fail:
    ac_cli_session_close(s);
    return rc;
}

int ac_cli_parse_ablation(const char *v, ac_ablation *out) {
    char name[64];
    snprintf(name, sizeof name, "%s", v);
    for (char *p = name; *p; p++)
        if (*p == '_') *p = '-';
    ac_error err;
    if (ac_ablation_from_name(name, out, &err)) {
        ac_cli_usage_error("--ablation: %s", err.msg);
        return -1;
    }
    return 0;
}

int ac_cli_parse_doubles(const char *opt, const char *v, double **vals, size_t *n) {
    size_t cap = 1;
    for (const char *p = v; *p; p++) cap += *p == ',';
    double *a = ac_malloc(cap * sizeof *a);
    if (!a) return ac_cli_usage_error("out of memory"), -1;
    size_t k = 0;
    const char *p = v;
    for (;;) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (errno || end == p || !isfinite(x) || (*end && *end != ',')) {
            ac_free(a);
            ac_cli_usage_error("%s: expected comma-separated numbers, got '%s'", opt, v);
            return -1;
        }
        a[k++] = x;
        if (!*end) break;
        p = end + 1;
    }
    *vals = a;
    *n = k;
    return 0;
}
