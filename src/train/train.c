/* The training loop and held-out evaluation (autocircuit/train.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autocircuit/engine.h"
#include "model/grad.h"
#include "train/train_internal.h"

void ac_train_options_default(ac_train_options *o, ac_train_task_kind task) {
    memset(o, 0, sizeof *o);
    o->task = task;
    o->n_layer = 2;
    o->n_head = 4;
    o->d_model = 64;
    o->d_mlp = 256;
    o->steps = 3000;
    o->batch = 64;
    o->lr = 1e-3;
    o->warmup = 100;
    o->min_lr_frac = 0.1;
    o->weight_decay = 0.01;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->adam_eps = 1e-8;
    o->clip = 1.0;
    o->lm_loss = 0;
    o->seed = 1;
    o->n_train = 20000;
    o->n_test = 1000;
    /* per task: the settings of the shipped models (docs/training.md) */
    switch (task) {
    case AC_TRAIN_TASK_IOI:
        o->steps = 2000;
        o->lr = 1e-2;
        break;
    case AC_TRAIN_TASK_GREATER_THAN:
        o->steps = 1500;
        o->lr = 3e-3;
        break;
    case AC_TRAIN_TASK_INDUCTION:
        o->d_mlp = 0;
        o->lm_loss = 1;
        o->steps = 2000;
        o->lr = 3e-3;
        break;
    }
}

static int check_options(const ac_train_options *o, ac_error *err) {
#define CHECK(cond, ...) \
    do { if (!(cond)) return ac_error_set(err, AC_ERR_ARG, NULL, __VA_ARGS__); } while (0)
    CHECK(o->n_layer >= 1 && o->n_layer <= 64, "train: layers %d out of range (1..64)", o->n_layer);
    CHECK(o->n_head >= 1 && o->n_head <= 64, "train: heads %d out of range (1..64)", o->n_head);
    CHECK(o->d_model >= 1 && o->d_model <= 4096, "train: width %d out of range (1..4096)", o->d_model);
    CHECK(o->d_model % o->n_head == 0, "train: width %d is not a multiple of %d heads", o->d_model, o->n_head);
    CHECK(o->d_mlp >= 0 && o->d_mlp <= 16384, "train: MLP width %d out of range (0..16384)", o->d_mlp);
    CHECK(o->steps >= 1 && o->steps <= 10000000, "train: steps %d out of range", o->steps);
    CHECK(o->batch >= 1 && o->batch <= 65536, "train: batch %d out of range", o->batch);
    CHECK(isfinite(o->lr) && o->lr > 0 && o->lr < 10, "train: learning rate %g out of range", o->lr);
    CHECK(o->warmup >= 0 && o->warmup <= o->steps, "train: warmup %d out of range (0..steps)", o->warmup);
    CHECK(o->min_lr_frac >= 0 && o->min_lr_frac <= 1, "train: min_lr_frac %g out of range", o->min_lr_frac);
    CHECK(o->weight_decay >= 0 && o->weight_decay < 1, "train: weight decay %g out of range", o->weight_decay);
    CHECK(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->adam_eps > 0,
          "train: Adam betas must be in [0, 1) and eps positive");
    CHECK(o->clip >= 0 && isfinite(o->clip), "train: clip %g out of range", o->clip);
    CHECK(o->n_train >= 1 && o->n_train <= 10000000, "train: n_train %d out of range", o->n_train);
    CHECK(o->n_test >= 1 && o->n_test <= 1000000, "train: n_test %d out of range", o->n_test);
    CHECK(o->progress_every >= 0, "train: progress_every must not be negative");
#undef CHECK
    return AC_OK;
}

/* FNV-1a of a prompt's ids (to keep held-out prompts out of the training set) */
static uint64_t prompt_hash(const int32_t *ids, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int k = 0; k < 4; k++) {
            h ^= (v >> (8 * k)) & 0xffu;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Independent generator streams derived from the seed. */
static uint64_t stream(uint64_t seed, uint64_t which) {
    uint64_t s = seed ^ (0xA0761D6478BD642Full * (which + 1));
    return ac__train_rng_next(&s);
}

int ac_train_evaluate(const ac_model *m, const ac_train_task_example *ex, int n, ac_train_result *res, ac_error *err) {
    const ac_config *c = ac_model_config(m);
    memset(res, 0, sizeof *res);
    if (n <= 0) return ac_error_set(err, AC_ERR_ARG, NULL, "evaluate: no examples");
    const int T = ex[0].len + 1, V = c->vocab_size;
    if (T > c->n_ctx) return ac_error_set(err, AC_ERR_ARG, NULL, "evaluate: %d tokens exceed the context of %d", T, c->n_ctx);
    const int B = n < 64 ? n : 64;
    ac_run *run = NULL;
    int rc = ac_run_create(&run, m, NULL, B, T, err);
    if (rc) return rc;
    int32_t *ids = ac_malloc((size_t)B * (size_t)T * sizeof *ids);
    float *logits = ac_malloc((size_t)B * (size_t)V * sizeof *logits);
    if (!ids || !logits) {
        rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory (evaluation)");
        goto done;
    }
    double acc = 0, loss = 0, prob = 0, ld_clean = 0, ld_corrupt = 0, acc_corrupt = 0;
    for (int b0 = 0; b0 < n && !rc; b0 += B) {
        const int nb = n - b0 < B ? n - b0 : B;
        for (int k = 0; k < 2 && !rc; k++) {
            for (int b = 0; b < nb; b++) {
                const ac_train_task_example *e = &ex[b0 + b];
                if (e->len + 1 != T) {
                    rc = ac_error_set(err, AC_ERR_ARG, NULL, "evaluate: examples of different lengths");
                    break;
                }
                ids[b * T] = c->bos_id >= 0 ? c->bos_id : 0;
                memcpy(ids + b * T + 1, k ? e->corrupt : e->clean, (size_t)e->len * sizeof *ids);
            }
            if (rc) break;
            ac_tokens in = {nb, T, ids, NULL};
            ac_forward_opts fo;
            memset(&fo, 0, sizeof fo);
            fo.logits_mode = AC_LOGITS_LAST;
            fo.logits = logits;
            if ((rc = ac_run_forward(run, &in, &fo, err))) break;
            for (int b = 0; b < nb; b++) {
                const ac_train_task_example *e = &ex[b0 + b];
                const float *z = logits + (size_t)b * (size_t)V;
                int top = 0;
                for (int v = 1; v < V; v++)
                    if (z[v] > z[top]) top = v;
                int hit = 0;
                double ma = 0, mw = 0;
                for (int j = 0; j < e->n_answers; j++) {
                    hit |= e->answers[j] == top;
                    ma += z[e->answers[j]];
                }
                ma /= e->n_answers;
                for (int j = 0; j < e->n_wrong; j++) mw += z[e->wrong[j]];
                if (e->n_wrong) mw /= e->n_wrong;
                const double ld = e->n_wrong ? ma - mw : 0;
                if (k) {
                    acc_corrupt += hit;
                    ld_corrupt += ld;
                    continue;
                }
                acc += hit;
                ld_clean += ld;
                double mx = z[top], s = 0;
                for (int v = 0; v < V; v++) s += exp((double)z[v] - mx);
                const double lse = mx + log(s);
                double pa = 0, la = 0;
                for (int j = 0; j < e->n_answers; j++) {
                    pa += exp((double)z[e->answers[j]] - lse);
                    la += lse - z[e->answers[j]];
                }
                prob += pa;
                loss += la / e->n_answers;
            }
        }
    }
    if (!rc) {
        res->n_test = n;
        res->test_accuracy = acc / n;
        res->test_loss = loss / n;
        res->test_prob = prob / n;
        res->clean_logit_diff = ld_clean / n;
        res->corrupt_logit_diff = ld_corrupt / n;
        res->corrupt_accuracy = acc_corrupt / n;
    }
done:
    ac_free(ids);
    ac_free(logits);
    ac_run_free(run);
    return rc;
}

int ac_train(const ac_train_options *o, ac_model **model, ac_train_task_example **examples, ac_train_result *res,
             ac_error *err) {
    *model = NULL;
    if (examples) *examples = NULL;
    memset(res, 0, sizeof *res);
    int rc = check_options(o, err);
    if (rc) return rc;
    ac_train_task *task = NULL;
    ac_model *m = NULL, *grad = NULL;
    ac__grad_ws *ws = NULL;
    ac_train_task_example *train = NULL, *test = NULL;
    uint64_t *hashes = NULL;
    float *adam_m = NULL, *adam_v = NULL;
    uint8_t *decay = NULL;
    int32_t *ids = NULL, *rows = NULL, *offsets = NULL, *targets = NULL;
    double *loss_hist = NULL;
    if ((rc = ac_train_task_create(&task, o->task, err))) return rc;

    const int len = ac_train_task_prompt_len(task), T = len + 1;
    ac_config cfg;
    ac_config_defaults(&cfg, AC_ARCH_GPT2);
    cfg.n_layer = o->n_layer;
    cfg.n_head = cfg.n_kv_head = o->n_head;
    cfg.d_model = o->d_model;
    cfg.d_head = o->d_model / o->n_head;
    cfg.d_mlp = o->d_mlp;
    cfg.attn_only = o->d_mlp == 0;
    cfg.vocab_size = ac_train_task_vocab_size(task);
    cfg.n_ctx = T;
    cfg.bos_id = cfg.eos_id = 0;
    if ((rc = ac_model_create(&m, &cfg, err)) || (rc = ac_model_create(&grad, &cfg, err))) goto done;
    ac__train_init_gpt2(m, stream(o->seed, 0));

    /* data: the training pool, then held-out prompts that are not in it */
    const size_t NP = m->arena_floats;
    train = ac_malloc((size_t)o->n_train * sizeof *train);
    test = ac_malloc((size_t)o->n_test * sizeof *test);
    hashes = ac_malloc((size_t)o->n_train * sizeof *hashes);
    adam_m = ac_calloc(NP, sizeof *adam_m);
    adam_v = ac_calloc(NP, sizeof *adam_v);
    decay = ac_malloc(NP);
    const int max_terms = o->batch * T;
    ids = ac_malloc((size_t)o->batch * (size_t)T * sizeof *ids);
    rows = ac_malloc((size_t)max_terms * sizeof *rows);
    offsets = ac_malloc(((size_t)max_terms + 1) * sizeof *offsets);
    targets = ac_malloc((size_t)o->batch * (size_t)(T + AC_TRAIN_TASK_MAX_ANSWERS) * sizeof *targets);
    loss_hist = ac_malloc((size_t)o->steps * sizeof *loss_hist);
    if (!train || !test || !hashes || !adam_m || !adam_v || !decay || !ids || !rows || !offsets || !targets ||
        !loss_hist) {
        rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory (training data)");
        goto done;
    }
    uint64_t rng = stream(o->seed, 1);
    for (int i = 0; i < o->n_train; i++) {
        ac_train_task_generate(task, &rng, &train[i]);
        hashes[i] = prompt_hash(train[i].clean, len);
    }
    qsort(hashes, (size_t)o->n_train, sizeof *hashes, cmp_u64);
    rng = stream(o->seed, 2);
    for (int i = 0, tries = 0; i < o->n_test;) {
        if (++tries > 1000 * o->n_test + 1000) {
            rc = ac_error_set(err, AC_ERR_ARG, NULL,
                              "train: cannot draw %d held-out prompts outside %d training prompts", o->n_test,
                              o->n_train);
            goto done;
        }
        ac_train_task_generate(task, &rng, &test[i]);
        uint64_t h = prompt_hash(test[i].clean, len);
        if (!bsearch(&h, hashes, (size_t)o->n_train, sizeof h, cmp_u64)) i++;
    }

    if ((rc = ac__grad_ws_create(&ws, m, o->batch, T, max_terms, err))) goto done;
    ac__train_decay_mask(m, decay);
    uint64_t brng = stream(o->seed, 3);
    const double t0 = now_seconds();
    double ema = 0;
    for (int step = 0; step < o->steps; step++) {
        /* the batch: BOS + prompt; loss on the answer set at the last position (and the
         * extra LM targets when asked) */
        int nt = 0, nj = 0;
        offsets[0] = 0;
        for (int b = 0; b < o->batch; b++) {
            const ac_train_task_example *e = &train[ac__train_rng_below(&brng, o->n_train)];
            ids[b * T] = 0;
            memcpy(ids + b * T + 1, e->clean, (size_t)len * sizeof *ids);
            if (o->lm_loss)
                for (int k = 0; k < e->n_lm; k++) {
                    rows[nt] = b * T + e->lm_pos[k] + 1;
                    targets[nj++] = e->lm_next[k];
                    offsets[++nt] = nj;
                }
            rows[nt] = b * T + T - 1;
            for (int j = 0; j < e->n_answers; j++) targets[nj++] = e->answers[j];
            offsets[++nt] = nj;
        }
        ac__loss_terms terms = {nt, rows, offsets, targets};
        memset(grad->arena, 0, NP * sizeof(float));
        double loss;
        if ((rc = ac__grad_loss(ws, m, grad, ids, o->batch, T, &terms, &loss, NULL, err))) goto done;
        if (!isfinite(loss)) {
            rc = ac_error_set(err, AC_ERR_RANGE, NULL, "train: the loss is %g at step %d (lower the learning rate)",
                              loss, step + 1);
            goto done;
        }
        loss_hist[step] = loss;
        ac__clip_grad_norm(grad->arena, NP, o->clip);
        const double lr = ac__lr_at(step, o->steps, o->warmup, o->lr, o->min_lr_frac);
        ac__adamw_step(m->arena, grad->arena, adam_m, adam_v, decay, NP, step + 1, lr, o->beta1, o->beta2,
                       o->adam_eps, o->weight_decay);
        ema = step == 0 ? loss : 0.98 * ema + 0.02 * loss;
        if (o->progress && ((o->progress_every > 0 && (step + 1) % o->progress_every == 0) || step + 1 == o->steps))
            o->progress(o->progress_ctx, step + 1, o->steps, ema, lr);
    }
    res->seconds = now_seconds() - t0;
    {
        const int tail = o->steps / 20 > 0 ? o->steps / 20 : 1;
        double s = 0;
        for (int i = o->steps - tail; i < o->steps; i++) s += loss_hist[i];
        res->final_loss = s / tail;
    }
    for (size_t i = 0; i < NP; i++)
        if (!isfinite(m->arena[i])) {
            rc = ac_error_set(err, AC_ERR_RANGE, NULL, "train: a weight became NaN or infinite");
            goto done;
        }
    {
        const double secs = res->seconds, fl = res->final_loss;
        if ((rc = ac_train_evaluate(m, test, o->n_test, res, err))) goto done;
        res->seconds = secs;
        res->final_loss = fl;
    }
    res->n_params = NP;
    *model = m;
    m = NULL;
    if (examples) {
        *examples = test;
        test = NULL;
    }
done:
    ac_free(loss_hist);
    ac_free(targets);
    ac_free(offsets);
    ac_free(rows);
    ac_free(ids);
    ac_free(decay);
    ac_free(adam_v);
    ac_free(adam_m);
    ac_free(hashes);
    ac_free(test);
    ac_free(train);
    ac__grad_ws_free(ws);
    ac_model_free(grad);
    ac_model_free(m);
    ac_train_task_free(task);
    return rc;
}
