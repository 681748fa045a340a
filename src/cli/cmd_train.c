/* autocircuit train: train a small GPT-2-architecture model on a synthetic task. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autocircuit/train.h"
#include "cli/cli.h"

static void train_usage(FILE *f) {
    ac_train_options d;
    ac_train_options_default(&d, AC_TRAIN_TASK_IOI);
    fprintf(f,
            "usage: autocircuit train --task ioi|greater-than|induction --out DIR [options]\n"
            "\n"
            "Train a GPT-2-architecture model from scratch on a task with its own word-level\n"
            "vocabulary, then write DIR/model/ (config.json, model.safetensors, vocab.txt),\n"
            "DIR/dataset.json (held-out prompt pairs, token ids) and DIR/README.md (model card).\n"
            "Seeded: the same options and thread count give bit-identical files.\n"
            "\n"
            "  --task NAME          ioi, greater-than or induction (required)\n"
            "  --out DIR            output directory (required; created if missing)\n"
            "  --layers N           layers (default %d)\n"
            "  --heads N            attention heads (default %d)\n"
            "  --width N            model width d_model, a multiple of --heads (default %d)\n"
            "  --mlp N              MLP width; 0 = attention-only (default %d; induction 0)\n"
            "  --steps N            optimiser steps (default %d; greater-than 1500)\n"
            "  --batch N            prompts per step (default %d)\n"
            "  --lr X               peak learning rate (default %g; greater-than and\n"
            "                       induction 0.003)\n"
            "  --warmup N           linear warmup steps (default %d)\n"
            "  --min-lr X           cosine decay ends at X * peak (default %g)\n"
            "  --weight-decay X     AdamW weight decay on matrices and embeddings (default %g)\n"
            "  --beta1 X, --beta2 X, --adam-eps X   AdamW constants (default 0.9, 0.999, 1e-8)\n"
            "  --clip X             clip the gradient's global norm to X; 0 = off (default %g)\n"
            "  --lm-loss / --no-lm-loss   also train next-token prediction on the repeated\n"
            "                       tail (induction; default on for induction, off otherwise)\n"
            "  --seed S             seed for initialisation, data and batches (default %llu)\n"
            "  --n-train N          training prompts (default %d)\n"
            "  --n-test N           held-out prompt pairs (default %d)\n"
            "  --quiet              no progress bar\n"
            "  -h, --help           this help\n",
            d.n_layer, d.n_head, d.d_model, d.d_mlp, d.steps, d.batch, d.lr, d.warmup, d.min_lr_frac,
            d.weight_decay, d.clip, (unsigned long long)d.seed, d.n_train, d.n_test);
}

static int parse_float(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return ac_cli_usage_error("%s: '%s' is not a number in %g..%g", opt, s, lo, hi), -1;
    *out = v;
    return 0;
}

typedef struct progress_state {
    int tty;
} progress_state;

static void progress(void *ctx, int step, int steps, double loss, double lr) {
    progress_state *p = ctx;
    const int pct = (int)(100.0 * step / steps);
    if (p->tty) {
        char bar[41];
        const int fill = (int)(40.0 * step / steps);
        for (int i = 0; i < 40; i++) bar[i] = i < fill ? '#' : '.';
        bar[40] = 0;
        fprintf(stderr, "\rtrain [%s] %3d%% step %d/%d loss %.4f lr %.2e", bar, pct, step, steps, loss, lr);
        if (step == steps) fputc('\n', stderr);
    } else {
        fprintf(stderr, "train: step %d/%d (%d%%) loss %.4f lr %.2e\n", step, steps, pct, loss, lr);
    }
    fflush(stderr);
}

int ac_cli_train(int argc, char **argv) {
    const char *task_name = NULL, *out = NULL, *v;
    int quiet = 0, lm = -1;
    /* options are applied after the task's defaults: remember them first */
    struct { const char *name; const char *val; } given[32];
    int ng = 0;
    static const char *const value_opts[] = {"--layers", "--heads", "--width", "--mlp", "--steps", "--batch",
                                             "--lr", "--warmup", "--min-lr", "--weight-decay", "--beta1", "--beta2",
                                             "--adam-eps", "--clip", "--seed", "--n-train", "--n-test"};
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            train_usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(argv[i], "--lm-loss") || !strcmp(argv[i], "--no-lm-loss")) {
            lm = !strcmp(argv[i], "--lm-loss");
            continue;
        }
        if ((r = ac_cli_opt(argc, argv, &i, "--task", &v))) {
            if (r < 0) return AC_ERR_ARG;
            task_name = v;
            continue;
        }
        if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) {
            if (r < 0) return AC_ERR_ARG;
            out = v;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof value_opts / sizeof value_opts[0]; k++)
            if ((r = ac_cli_opt(argc, argv, &i, value_opts[k], &v))) break;
        if (r < 0) return AC_ERR_ARG;
        if (r == 0) return ac_cli_usage_error("train: unknown option '%s' (see 'autocircuit train --help')", argv[i]);
        if (ng == (int)(sizeof given / sizeof given[0])) return ac_cli_usage_error("train: too many options");
        given[ng].name = value_opts[k];
        given[ng++].val = v;
    }
    if (!task_name) return ac_cli_usage_error("train: --task ioi|greater-than|induction is required");
    if (!out) return ac_cli_usage_error("train: --out DIR is required");
    ac_error err;
    ac_train_task_kind kind;
    if (ac_train_task_parse(task_name, &kind, &err)) return ac_cli_fail(&err);
    ac_train_options o;
    ac_train_options_default(&o, kind);
    if (lm >= 0) o.lm_loss = lm;
    for (int g = 0; g < ng; g++) {
        const char *n = given[g].name, *s = given[g].val;
        long x = 0;
        int bad = 0;
#define INT_OPT(name, lo, hi, field) \
    else if (!strcmp(n, name)) { bad = ac_cli_int(name, s, lo, hi, &x); field = (int)x; }
#define FLOAT_OPT(name, lo, hi, field) \
    else if (!strcmp(n, name)) bad = parse_float(name, s, lo, hi, &field);
        if (0) {}
        INT_OPT("--layers", 1, 64, o.n_layer)
        INT_OPT("--heads", 1, 64, o.n_head)
        INT_OPT("--width", 1, 4096, o.d_model)
        INT_OPT("--mlp", 0, 16384, o.d_mlp)
        INT_OPT("--steps", 1, 10000000, o.steps)
        INT_OPT("--batch", 1, 65536, o.batch)
        INT_OPT("--warmup", 0, 10000000, o.warmup)
        INT_OPT("--n-train", 1, 10000000, o.n_train)
        INT_OPT("--n-test", 1, 1000000, o.n_test)
        FLOAT_OPT("--lr", 1e-9, 10, o.lr)
        FLOAT_OPT("--min-lr", 0, 1, o.min_lr_frac)
        FLOAT_OPT("--weight-decay", 0, 0.999, o.weight_decay)
        FLOAT_OPT("--beta1", 0, 0.999999, o.beta1)
        FLOAT_OPT("--beta2", 0, 0.999999, o.beta2)
        FLOAT_OPT("--adam-eps", 1e-30, 1, o.adam_eps)
        FLOAT_OPT("--clip", 0, 1e9, o.clip)
        else if (!strcmp(n, "--seed")) {
            bad = ac_cli_int("--seed", s, 0, 2147483647, &x);
            o.seed = (uint64_t)x;
        }
#undef INT_OPT
#undef FLOAT_OPT
        if (bad) return AC_ERR_ARG;
    }
    if (o.warmup > o.steps) o.warmup = o.steps;
    progress_state ps = {isatty(fileno(stderr))};
    if (!quiet) {
        o.progress = progress;
        o.progress_ctx = &ps;
        o.progress_every = ps.tty ? (o.steps >= 200 ? o.steps / 200 : 1) : (o.steps >= 20 ? o.steps / 20 : 1);
    }
    ac_model *m = NULL;
    ac_train_task_example *ex = NULL;
    ac_train_result res;
    int rc = ac_train(&o, &m, &ex, &res, &err);
    if (!rc) rc = ac_train_write(out, &o, m, ex, o.n_test, &res, &err);
    if (rc) {
        ac_free(ex);
        ac_model_free(m);
        return ac_cli_fail(&err);
    }
    printf("trained %s: %zu parameters, %d steps x %d prompts in %.1f s\n", ac_train_task_name(kind), res.n_params, o.steps,
           o.batch, res.seconds);
    printf("held-out accuracy %.1f%% on %d prompts (mean P(answer) %.4f, logit diff clean %.3f / corrupt %.3f)\n",
           100 * res.test_accuracy, res.n_test, res.test_prob, res.clean_logit_diff, res.corrupt_logit_diff);
    printf("wrote %s/model/, %s/dataset.json, %s/README.md\n", out, out, out);
    ac_free(ex);
    ac_model_free(m);
    return 0;
}
