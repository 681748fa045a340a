/* ac_train_write: a trained model's directory (model/, dataset.json, README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/checkpoint.h"
#include "train/train_internal.h"
#include "util/atomic_file.h"

/* The shortest decimal that reads back as exactly f. */
static const char *fmt_float(char *buf, size_t n, double f) {
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, f);
        if (strtod(buf, NULL) == f) return buf;
    }
    return buf;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void json_ids(FILE *f, const int32_t *ids, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", (int)ids[i]);
    fputc(']', f);
}

/* tokens joined by spaces, as a JSON string */
static void json_text(FILE *f, const ac_train_task *t, const int32_t *ids, int n) {
    fputc('"', f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(' ', f);
        const char *s = ac_train_task_token(t, ids[i]);
        for (const unsigned char *p = (const unsigned char *)(s ? s : "?"); *p; p++) {
            if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void text(FILE *f, const ac_train_task *t, const int32_t *ids, int n) {
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? " " : "", ac_train_task_token(t, ids[i]));
}

/* "ioi-trained" etc. */
static void model_name(char *buf, size_t n, ac_train_task_kind k) { snprintf(buf, n, "%s-trained", ac_train_task_name(k)); }

/* The CLI options that reproduce o (every option that changes the result). */
static void command_line(FILE *f, const ac_train_options *o, const char *out) {
    char a[32], b[32], c[32], d[32];
    ac_train_options def;
    ac_train_options_default(&def, o->task);
    fprintf(f, "autocircuit train --task %s --out %s --layers %d --heads %d --width %d --mlp %d --steps %d --batch %d",
            ac_train_task_name(o->task), out, o->n_layer, o->n_head, o->d_model, o->d_mlp, o->steps, o->batch);
    fprintf(f, " --lr %s --warmup %d --min-lr %s --weight-decay %s --clip %s", fmt_float(a, sizeof a, o->lr), o->warmup,
            fmt_float(b, sizeof b, o->min_lr_frac), fmt_float(c, sizeof c, o->weight_decay),
            fmt_float(d, sizeof d, o->clip));
    if (o->beta1 != def.beta1) fprintf(f, " --beta1 %s", fmt_float(a, sizeof a, o->beta1));
    if (o->beta2 != def.beta2) fprintf(f, " --beta2 %s", fmt_float(a, sizeof a, o->beta2));
    if (o->adam_eps != def.adam_eps) fprintf(f, " --adam-eps %s", fmt_float(a, sizeof a, o->adam_eps));
    fprintf(f, " --%s --seed %llu --n-train %d --n-test %d", o->lm_loss ? "lm-loss" : "no-lm-loss",
            (unsigned long long)o->seed, o->n_train, o->n_test);
}

static int write_vocab(const char *path, const ac_train_task *t, ac_error *err) {
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) return rc;
    for (int i = 0; i < ac_train_task_vocab_size(t); i++) fprintf(af.f, "%s\n", ac_train_task_token(t, i));
    return ac__afile_commit(&af, err);
}

static int write_dataset(const char *path, const ac_train_task *t, const ac_train_options *o, const ac_train_task_example *ex,
                         int n, ac_error *err) {
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) return rc;
    FILE *f = af.f;
    char name[64];
    model_name(name, sizeof name, o->task);
    fprintf(f, "{\n  \"description\": ");
    char desc[512];
    snprintf(desc, sizeof desc,
             "autocircuit trained model '%s': %d held-out prompt pairs (seed %llu). Token ids of the model's "
             "own vocabulary (\"vocab\", also model/vocab.txt), without BOS: the loader prepends the model's "
             "BOS id 0.",
             name, n, (unsigned long long)o->seed);
    json_str(f, desc);
    fprintf(f, ",\n  \"task\": ");
    json_str(f, ac_train_task_name(o->task));
    fprintf(f, ",\n  \"vocab\": [");
    for (int i = 0; i < ac_train_task_vocab_size(t); i++) {
        if (i) fputs(", ", f);
        json_str(f, ac_train_task_token(t, i));
    }
    fprintf(f, "],\n  \"seq_labels\": [");
    const char *const *labels = ac_train_task_seq_labels(t);
    for (int i = 0; i < ac_train_task_prompt_len(t); i++) {
        if (i) fputs(", ", f);
        json_str(f, labels[i]);
    }
    fprintf(f, "],\n  \"word_idxs\": {");
    const char *const *names;
    const int *pos;
    const int ni = ac_train_task_word_idxs(t, &names, &pos);
    for (int i = 0; i < ni; i++) {
        fputs(i ? ", " : "", f);
        json_str(f, names[i]);
        fprintf(f, ": %d", pos[i]);
    }
    fprintf(f, "},\n  \"prompts\": [\n");
    for (int i = 0; i < n; i++) {
        const ac_train_task_example *e = &ex[i];
        fputs("    {\"clean\": ", f);
        json_ids(f, e->clean, e->len);
        fputs(", \"corrupt\": ", f);
        json_ids(f, e->corrupt, e->len);
        fputs(", \"answers\": ", f);
        json_ids(f, e->answers, e->n_answers);
        fputs(", \"wrong_answers\": ", f);
        json_ids(f, e->wrong, e->n_wrong);
        fputs(", \"clean_text\": ", f);
        json_text(f, t, e->clean, e->len);
        fputs(", \"corrupt_text\": ", f);
        json_text(f, t, e->corrupt, e->len);
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return ac__afile_commit(&af, err);
}

static void answers_text(FILE *f, const ac_train_task *t, const int32_t *ids, int n) {
    if (n > 4) {
        fprintf(f, "%s, %s, ..., %s (%d tokens)", ac_train_task_token(t, ids[0]), ac_train_task_token(t, ids[1]),
                ac_train_task_token(t, ids[n - 1]), n);
        return;
    }
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? ", " : "", ac_train_task_token(t, ids[i]));
}

static int write_card(const char *path, const ac_train_task *t, const ac_train_options *o, const ac_model *m,
                      const ac_train_task_example *ex, int n, const ac_train_result *r, ac_error *err) {
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) return rc;
    FILE *f = af.f;
    const ac_config *c = ac_model_config(m);
    char name[64], a[32];
    model_name(name, sizeof name, o->task);
    const size_t params = ac_config_param_count(c);
    fprintf(f, "# Trained model `%s`\n\n", name);
    fprintf(f,
            "A small GPT-2-architecture model trained from scratch by `autocircuit train` on the %s task,\n"
            "with its own word-level vocabulary. Regenerating it gives bit-identical files (see\n"
            "*Regenerate* below and `docs/training.md`).\n\n",
            ac_train_task_name(o->task));
    fprintf(f, "## Files\n\n| file | content |\n| --- | --- |\n");
    fprintf(f, "| `config.json`, `model.safetensors` | the model: Hugging Face GPT-2 layout, F32 |\n");
    fprintf(f, "| `vocab.txt` | the vocabulary: line i is the text of token id i (id 0 = `<bos>`) |\n");
    fprintf(f, "| `README.md` | this card |\n");
    fprintf(f, "| `datasets/%s.json` | the %d held-out prompt pairs (token ids; readable text in `clean_text`, `corrupt_text`) |\n\n",
            name, n);
    fprintf(f, "## Architecture\n\n");
    fprintf(f, "GPT-2 layout (LayerNorm, learned positions, gelu_new, every bias, tied embeddings), ");
    if (c->attn_only) fprintf(f, "attention-only, ");
    fprintf(f, "%d layers x %d heads, width %d, head width %d, ", c->n_layer, c->n_head, c->d_model, c->d_head);
    if (!c->attn_only) fprintf(f, "MLP width %d, ", c->d_mlp);
    fprintf(f, "vocabulary %d (word level), context %d; %zu parameters (%zu KB of F32).\n\n", c->vocab_size, c->n_ctx,
            params, params * 4 / 1024);
    fprintf(f, "## Task\n\n%s\n\n", ac_train_task_description(t));
    fprintf(f,
            "Every prompt has %d tokens after BOS. `datasets/%s.json` stores them without BOS; the\n"
            "dataset loader prepends the model's `bos_token_id` (0) by default, as for any model.\n\n",
            ac_train_task_prompt_len(t), name);
    if (n > 0) {
        fprintf(f, "Example (first held-out pair):\n\n- clean: `<bos> ");
        text(f, t, ex[0].clean, ex[0].len);
        fprintf(f, "` -> ");
        answers_text(f, t, ex[0].answers, ex[0].n_answers);
        fprintf(f, "\n- corrupt: `<bos> ");
        text(f, t, ex[0].corrupt, ex[0].len);
        fprintf(f, "`\n- wrong answers: ");
        answers_text(f, t, ex[0].wrong, ex[0].n_wrong);
        fprintf(f, "\n\n");
    }
    fprintf(f, "## Held-out accuracy\n\n");
    fprintf(f, "On the %d held-out prompt pairs (none of them equal to a training prompt), run through the\n"
               "analysis engine:\n\n", r->n_test);
    fprintf(f, "| measure | value |\n| --- | --- |\n");
    fprintf(f, "| accuracy: the top token after the clean prompt is an answer | **%.1f%%** |\n", 100 * r->test_accuracy);
    fprintf(f, "| mean probability of the answers (clean) | %.4f |\n", r->test_prob);
    fprintf(f, "| mean cross-entropy to the answers (clean) | %.4f |\n", r->test_loss);
    fprintf(f, "| mean logit difference, answers - wrong answers (clean) | %.3f |\n", r->clean_logit_diff);
    fprintf(f, "| mean logit difference, answers - wrong answers (corrupt) | %.3f |\n", r->corrupt_logit_diff);
    fprintf(f, "| top token after the corrupt prompt is a clean answer | %.1f%% |\n", 100 * r->corrupt_accuracy);
    fprintf(f, "| final training loss (mean of the last 5%% of steps) | %.4f |\n\n", r->final_loss);
    fprintf(f, "## Training\n\n");
    fprintf(f, "| setting | value |\n| --- | --- |\n");
    fprintf(f, "| initialisation | GPT-2: N(0, 0.02^2), residual projections N(0, (0.02/sqrt(2x%d))^2), biases 0, LayerNorm 1/0 |\n",
            c->n_layer);
    fprintf(f, "| steps x batch | %d x %d prompts |\n", o->steps, o->batch);
    fprintf(f, "| optimiser | AdamW, betas (%s, ", fmt_float(a, sizeof a, o->beta1));
    fprintf(f, "%s), ", fmt_float(a, sizeof a, o->beta2));
    fprintf(f, "eps %s, ", fmt_float(a, sizeof a, o->adam_eps));
    fprintf(f, "weight decay %s on matrices and embeddings |\n", fmt_float(a, sizeof a, o->weight_decay));
    fprintf(f, "| learning rate | peak %s, linear warmup %d steps, cosine decay to ", fmt_float(a, sizeof a, o->lr),
            o->warmup);
    fprintf(f, "%s x peak |\n", fmt_float(a, sizeof a, o->min_lr_frac));
    fprintf(f, "| gradient clipping | global L2 norm %s |\n", fmt_float(a, sizeof a, o->clip));
    fprintf(f, "| loss | cross-entropy on the answer%s at the last position%s |\n",
            o->task == AC_TRAIN_TASK_GREATER_THAN ? "s (target spread evenly over them)" : "",
            o->lm_loss ? ", plus next-token loss on the repeated tail" : "");
    fprintf(f, "| data | %d training prompts drawn with seed %llu, batches drawn from them with replacement |\n\n",
            o->n_train, (unsigned long long)o->seed);
    fprintf(f, "## Regenerate\n\n```\nscripts/make-trained.sh %s\n```\n\nwhich runs (with `OMP_NUM_THREADS=2`)\n\n```\n",
            ac_train_task_name(o->task));
    command_line(f, o, "OUT");
    fprintf(f,
            "\n```\n\nand copies `OUT/model/*` and `OUT/README.md` here and `OUT/dataset.json` to\n"
            "`datasets/%s.json`. Same options, same thread count, same machine type: the same bytes.\n",
            name);
    return ac__afile_commit(&af, err);
}

int ac_train_write(const char *dir, const ac_train_options *o, const ac_model *model, const ac_train_task_example *examples,
                   int n_examples, const ac_train_result *res, ac_error *err) {
    ac_train_task *t = NULL;
    int rc = ac_train_task_create(&t, o->task, err);
    if (rc) return rc;
    char *mdir = ac__path_join(dir, "model");
    char *vocab = mdir ? ac__path_join(mdir, "vocab.txt") : NULL;
    char *data = ac__path_join(dir, "dataset.json");
    char *card = ac__path_join(dir, "README.md");
    if (!mdir || !vocab || !data || !card) rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
    if (!rc && ac_model_config(model)->vocab_size != ac_train_task_vocab_size(t))
        rc = ac_error_set(err, AC_ERR_ARG, dir, "the model's vocabulary is not the %s task's", ac_train_task_name(o->task));
    if (!rc) rc = ac_model_save(model, mdir, err); /* creates dir and dir/model */
    if (!rc) rc = write_vocab(vocab, t, err);
    if (!rc) rc = write_dataset(data, t, o, examples, n_examples, err);
    if (!rc) rc = write_card(card, t, o, model, examples, n_examples, res, err);
    ac_free(mdir);
    ac_free(vocab);
    ac_free(data);
    ac_free(card);
    ac_train_task_free(t);
    return rc;
}
