/* Shared-prefix KV cache: the keys and values of a token prefix common to every row of
 * a batch, computed once by a forward of the prefix alone (see docs/engine.md). */
#include <string.h>

#include "model/run_internal.h"

int ac_kv_cache_create(ac_kv_cache **out, const ac_model *m, const int32_t *ids, int P,
                       ac_error *err) {
    *out = NULL;
    const ac_config *c = &m->cfg;
    if (P < 1 || P >= c->n_ctx)
        return ac_error_set(err, AC_ERR_ARG, NULL,
                            "prefix cache: %d prefix tokens (1 to %d, leaving room for a tail)", P,
                            c->n_ctx - 1);
    ac_kv_cache *kv = ac_calloc(1, sizeof *kv);
    if (!kv) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory creating a prefix cache");
    kv->m = m;
    kv->P = P;
    kv->ld = 2 * c->n_kv_head * c->d_head;
    kv->ids = ac_calloc((size_t)P, sizeof *kv->ids);
    kv->kv = ac_alloc_aligned((size_t)c->n_layer * (size_t)P * (size_t)kv->ld, sizeof(float));
    if (!kv->ids || !kv->kv) {
        ac_kv_cache_free(kv);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory creating a prefix cache");
    }
    memcpy(kv->ids, ids, (size_t)P * sizeof *ids);
    /* one forward of the prefix alone; keep each layer's k | v columns */
    ac_run *r;
    int rc = ac_run_create(&r, m, NULL, 1, P, err);
    if (rc) {
        ac_kv_cache_free(kv);
        return rc;
    }
    ac_tokens in = {.B = 1, .T = P, .ids = ids, .mask = NULL};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_NONE};
    rc = ac_run_forward(r, &in, &o, err);
    if (rc == AC_OK) {
        const size_t koff = (size_t)c->n_head * (size_t)c->d_head;
        for (int l = 0; l < c->n_layer; l++)
            for (int t = 0; t < P; t++)
                memcpy(kv->kv + ((size_t)l * (size_t)P + (size_t)t) * (size_t)kv->ld,
                       r->layers[l].qkv + (size_t)t * (size_t)r->qkv_w + koff,
                       (size_t)kv->ld * sizeof(float));
    }
    ac_run_free(r);
    if (rc) {
        ac_kv_cache_free(kv);
        return rc;
    }
    *out = kv;
    return AC_OK;
}

void ac_kv_cache_free(ac_kv_cache *kv) {
    if (!kv) return;
    ac_free(kv->ids);
    ac_free_aligned(kv->kv);
    ac_free(kv);
}

int ac_kv_cache_len(const ac_kv_cache *kv) { return kv->P; }

const int32_t *ac_kv_cache_ids(const ac_kv_cache *kv) { return kv->ids; }

size_t ac_kv_cache_bytes(const ac_kv_cache *kv) {
    return (size_t)kv->m->cfg.n_layer * (size_t)kv->P * (size_t)kv->ld * sizeof(float) +
           (size_t)kv->P * sizeof(int32_t);
}
