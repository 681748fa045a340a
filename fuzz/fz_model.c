/* Harnesses for the checkpoint readers: the safetensors container, the shard index,
 * config.json and llama2.c checkpoints (with format detection). */
#include "fz.h"

#include <stdio.h>
#include <string.h>

#include "autocircuit.h"
#include "model/checkpoint.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

/* A loaded model must be usable: its config valid and its weights finite. */
static void check_model(const ac_model *m) {
    const ac_config *c = ac_model_config(m);
    fz_check(ac_config_validate(c, NULL, NULL) == AC_OK);
    fz_check(m->arena_floats == ac_config_param_count(c));
    for (size_t i = 0; i < m->arena_floats; i++) fz_check(m->arena[i] - m->arena[i] == 0.0f);
}

/* fz_dir()/NAME holding a fixture model of `kind` (made once). */
static int make_gpt2(const char *p) { return fz_fixture_model(p, 0); }
static int make_attn_only(const char *p) { return fz_fixture_model(p, 1); }
static int make_llama(const char *p) { return fz_fixture_model(p, 2); }
static int make_sharded(const char *p) { return fz_fixture_sharded(p); }

/* ---- safetensors: the container alone ----------------------------------------------- */

int fz_safetensors(const uint8_t *data, size_t size) {
    const char *path = fz_write("x.safetensors", data, size);
    (void)ac__probe_checkpoint(data, size < 256 ? size : 256, size);
    ac__st_file f;
    ac_error err;
    if (ac__st_open(&f, path, &err) == AC_OK) {
        float buf[64];
        for (size_t i = 0; i < f.n_tensors; i++) {
            const ac__st_tensor *t = &f.tensors[i];
            fz_check(t->begin <= t->end && t->end <= f.size - f.data_start);
            fz_check(ac__st_find(&f, t->name) == t);
            if (t->count == 0) continue;
            size_t n = t->count < 64 ? t->count : 64;
            (void)ac__st_read(&f, t, 0, n, buf, 1, &err);
            (void)ac__st_read(&f, t, t->count - 1, 1, buf, 1, &err);
            /* a read past the end is refused, never performed */
            fz_check(ac__st_read(&f, t, t->count, 1, buf, 1, &err) != AC_OK);
        }
        ac__st_close(&f);
    } else {
        fz_check(err.code != AC_OK && err.msg[0]);
    }
    return 0;
}

/* ---- the shard index of a sharded Hugging Face checkpoint ------------------------------- */

int fz_st_index(const uint8_t *data, size_t size) {
    const char *dir = fz_once("sharded", make_sharded);
    char index[1024];
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(index, "wb");
    fz_check(f != NULL);
    fz_check(size == 0 || fwrite(data, 1, size, f) == size);
    fz_check(fclose(f) == 0);
    ac_model *m = NULL;
    ac_error err;
    if (ac_model_load(&m, dir, &err) == AC_OK) {
        check_model(m);
        ac_model_free(m);
    } else {
        fz_check(m == NULL && err.msg[0]);
    }
    return 0;
}

/* ---- config.json, against the weights of three small models ---------------------------- */

int fz_config(const uint8_t *data, size_t size) {
    const char *dirs[3] = {fz_once("gpt2", make_gpt2), fz_once("attn_only", make_attn_only),
                           fz_once("llama", make_llama)};
    for (int k = 0; k < 3; k++) {
        char config[1024];
        snprintf(config, sizeof config, "%s/config.json", dirs[k]);
        FILE *f = fopen(config, "wb");
        fz_check(f != NULL);
        fz_check(size == 0 || fwrite(data, 1, size, f) == size);
        fz_check(fclose(f) == 0);
        ac_model *m = NULL;
        ac_error err;
        if (ac_model_load(&m, dirs[k], &err) == AC_OK) {
            check_model(m);
            ac_model_free(m);
        } else {
            fz_check(m == NULL && err.msg[0]);
        }
    }
    return 0;
}

/* ---- a checkpoint file: detection, llama2.c v0 / v1 -------------------------------------- */

int fz_checkpoint(const uint8_t *data, size_t size) {
    fz_mkdir("ckpt");
    const char *path = fz_write("ckpt/model.bin", data, size);
    char why[400];
    (void)ac__llama2c_size_mismatch(data, size < 256 ? size : 256, size, why, sizeof why);
    ac_model *m = NULL;
    ac_error err;
    if (ac_model_load(&m, path, &err) == AC_OK) {
        check_model(m);
        ac_model_free(m);
    } else {
        fz_check(m == NULL && err.msg[0]);
    }
    return 0;
}
