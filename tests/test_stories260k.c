/* The real pretrained stories260K model (llama2.c format) against llama2.c's own greedy
 * reference, and an HF-layout copy (rotate-half RoPE) against the llama2.c path.
 * Skips when ../shared is absent. */
#include "ac_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/engine.h"
#include "model/model_internal.h"

static const char *model_path(void) {
    const char *s = ac_test_shared_dir();
    return s ? ac_test_path(s, "models/stories260K/stories260K.bin") : NULL;
}

typedef struct {
    int in[12], argmax[12];
    double logit[12], logit0[12];
    char text[4096];
} reference;

static int read_reference(reference *r) {
    const char *p = ac_test_path(ac_test_shared_dir(), "models/stories260K/greedy-reference.txt");
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    char line[2048];
    int section = 0, n = 0;
    r->text[0] = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            section++;
            continue;
        }
        if (section == 1) {
            strncat(r->text, line, sizeof r->text - strlen(r->text) - 1);
        } else if (section == 2 && n < 12) {
            int pos;
            if (sscanf(line, "pos=%d in=%d argmax=%d logit=%lf logit0=%lf", &pos, &r->in[n], &r->argmax[n],
                       &r->logit[n], &r->logit0[n]) == 5)
                n++;
        }
    }
    fclose(f);
    /* the text section ends with a blank line before the next comment */
    size_t L = strlen(r->text);
    while (L && (r->text[L - 1] == '\n')) r->text[--L] = 0;
    return n == 12 ? 0 : -1;
}

static void check_logits(ac_model *m, const reference *ref) {
    ac_run *r;
    ac_error err;
    assert_ac_ok(ac_run_create(&r, m, NULL, 1, 12, &err), &err);
    float *logits = malloc(12 * 512 * sizeof(float));
    ac_tokens in = {.B = 1, .T = 12, .ids = ref->in, .mask = NULL};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_ALL, .logits = logits};
    assert_ac_ok(ac_run_forward(r, &in, &o, &err), &err);
    for (int t = 0; t < 12; t++) {
        const float *row = logits + t * 512;
        int best = 0;
        for (int v = 1; v < 512; v++)
            if (row[v] > row[best]) best = v;
        assert_int_equal(best, ref->argmax[t]);
        assert_close(row[best], ref->logit[t], 1e-4, 0);
        assert_close(row[0], ref->logit0[t], 1e-4, 0);
    }
    free(logits);
    ac_run_free(r);
}

static void test_reference_logits(void **state) {
    (void)state;
    if (!model_path()) skip();
    reference ref;
    assert_int_equal(read_reference(&ref), 0);
    ac_model *m;
    ac_error err;
    assert_ac_ok(ac_model_load(&m, model_path(), &err), &err);
    check_logits(m, &ref);
    ac_model_free(m);
}

/* the CLI's greedy generation from BOS reproduces the reference text */
static void test_greedy_generation_via_cli(void **state) {
    (void)state;
    if (!model_path()) skip();
    reference ref;
    assert_int_equal(read_reference(&ref), 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s run --model %s --ids 1 --generate 200 --json", ac_test_cli(), model_path());
    char *out = NULL;
    assert_int_equal(ac_test_run(cmd, &out), 0);
    /* generated_text is JSON-escaped: compare the first sentence and the last words */
    assert_non_null(strstr(out, "\"generated_text\": \"Once upon a time, there was a little girl named Lily."));
    assert_non_null(strstr(out, "Lily didn't want to help her mom, so she\""));
    /* the whole text, unescaped */
    char *gt = strstr(out, "\"generated_text\": \"");
    assert_non_null(gt);
    gt += strlen("\"generated_text\": \"");
    char text[4096];
    size_t k = 0;
    for (const char *p = gt; *p && *p != '"' && k + 1 < sizeof text; p++) {
        if (*p == '\\' && p[1] == 'n') {
            text[k++] = '\n';
            p++;
        } else if (*p == '\\' && p[1]) {
            text[k++] = *++p;
        } else {
            text[k++] = *p;
        }
    }
    text[k] = 0;
    assert_string_equal(text, ref.text);
    free(out);
}

/* Write the same weights as a Hugging Face Llama directory (rotate-half RoPE: permute the
 * Q and K rows of every head from interleaved pairs to halves) and compare. */
static void test_hf_layout_equals_llama2c(void **state) {
    (void)state;
    if (!model_path()) skip();
    reference ref;
    assert_int_equal(read_reference(&ref), 0);
    ac_model *m, *h, *back;
    ac_error err;
    assert_ac_ok(ac_model_load(&m, model_path(), &err), &err);
    ac_config c = *ac_model_config(m);
    c.pos = AC_POS_ROPE_HALF;
    assert_ac_ok(ac_model_create(&h, &c, &err), &err);
    memcpy(h->arena, m->arena, m->arena_floats * sizeof(float));
    const int dh = c.d_head, d = c.d_model;
    float *tmp = malloc((size_t)dh * (size_t)d * sizeof(float));
    for (int l = 0; l < c.n_layer; l++) {
        for (int which = 0; which < 2; which++) {
            float *W = which ? h->w.layers[l].wk : h->w.layers[l].wq;
            int nh = which ? c.n_kv_head : c.n_head;
            for (int hh = 0; hh < nh; hh++) {
                float *blk = W + (size_t)hh * (size_t)dh * (size_t)d;
                memcpy(tmp, blk, (size_t)dh * (size_t)d * sizeof(float));
                for (int i = 0; i < dh / 2; i++) {
                    memcpy(blk + (size_t)i * (size_t)d, tmp + (size_t)(2 * i) * (size_t)d, (size_t)d * sizeof(float));
                    memcpy(blk + (size_t)(i + dh / 2) * (size_t)d, tmp + (size_t)(2 * i + 1) * (size_t)d, (size_t)d * sizeof(float));
                }
            }
        }
    }
    free(tmp);
    const char *dir = ac_test_path(ac_test_tmpdir(), "stories260K-hf");
    assert_ac_ok(ac_model_save(h, dir, &err), &err);
    assert_ac_ok(ac_model_load(&back, dir, &err), &err);
    assert_int_equal(ac_model_config(back)->pos, AC_POS_ROPE_HALF);
    check_logits(back, &ref);
    ac_model_free(back);
    ac_model_free(h);
    ac_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_logits),
        cmocka_unit_test(test_greedy_generation_via_cli),
        cmocka_unit_test(test_hf_layout_equals_llama2c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
