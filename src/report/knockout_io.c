/* Knockout files (format "autocircuit-knockout"): what `autocircuit knockout` writes and
 * the report reads. Schema: docs/schemas.md. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/scores.h"
#include "util/atomic_file.h"

#define KNOCKOUT_FORMAT "autocircuit-knockout"
#define KNOCKOUT_VERSION 1

/* ---- writing ------------------------------------------------------------------------- */

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *result_json(const ac_knockout_result *r) {
    json_t *o = json_object(), *ld = json_object();
    json_object_set_new(o, "circuit_size", json_integer((json_int_t)r->circuit_size));
    json_object_set_new(o, "n_knockouts", json_integer((json_int_t)r->n_knockouts));
    json_object_set_new(o, "kl", num(r->kl));
    json_object_set_new(o, "knockout_kl", num(r->knockout_kl));
    json_object_set_new(ld, "model", num(r->logit_diff_model));
    json_object_set_new(ld, "circuit", num(r->logit_diff_circuit));
    json_object_set_new(ld, "model_knockout", num(r->logit_diff_model_ko));
    json_object_set_new(ld, "circuit_knockout", num(r->logit_diff_circuit_ko));
    json_object_set_new(o, "logit_diff", ld);
    return o;
}

static json_t *edge_json(const ac_graph *g, size_t e, double score, int knocked, int with_flag) {
    int pos, d, s;
    ac_graph_edge_at(g, e, &pos, &d, &s);
    json_t *o = json_object();
    json_object_set_new(o, "src", json_string(g->srcs[s].name));
    json_object_set_new(o, "dest", json_string(g->dests[d].name));
    json_object_set_new(o, "pos", pos >= 0 ? json_integer(pos) : json_null());
    json_object_set_new(o, "score", num(score));
    if (with_flag) json_object_set_new(o, "knocked_out", json_boolean(knocked));
    return o;
}

int ac_knockout_write(const char *path, const ac_knockout_doc *d, ac_error *err) {
    const ac_graph *g = d->g;
    const ac_knockout_opts *o = d->opts;
    const size_t E = g->n_edges;
    size_t *ks = ac_malloc((E ? E : 1) * sizeof *ks), nk = 0;
    float *tmp = ac_malloc((E ? E : 1) * sizeof *tmp);
    if (!ks || !tmp) {
        ac_free(ks);
        ac_free(tmp);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    /* K by descending score, ties by graph order */
    for (size_t e = 0; e < E; e++) {
        const int in_k = d->in_circuit[e] && (double)d->scores[e] >= o->threshold;
        nk += (size_t)in_k;
        tmp[e] = in_k ? d->scores[e] : -INFINITY;
    }
    int rc = ac_prune_scores_order(tmp, E, 1, ks, err);
    ac_free(tmp);
    if (rc) {
        ac_free(ks);
        return rc;
    }
    json_t *root = json_object(), *st = json_object(), *gr = json_object();
    json_object_set_new(root, "format", json_string(KNOCKOUT_FORMAT));
    json_object_set_new(root, "version", json_integer(KNOCKOUT_VERSION));
    if (d->algo) json_object_set_new(st, "algo", json_string(d->algo));
    json_object_set_new(st, "model", str_or_null(d->model));
    json_object_set_new(st, "data", str_or_null(d->data));
    json_object_set_new(st, "scores", str_or_null(d->scores_path));
    json_object_set_new(st, "ground_truth", str_or_null(d->ground_truth_path));
    json_object_set_new(st, "split", str_or_null(d->split));
    json_object_set_new(st, "n_prompts", json_integer((json_int_t)d->n_prompts));
    json_object_set_new(st, "ablation", json_string(ac_ablation_name(o->ablation)));
    json_object_set_new(st, "target", json_string(o->target == AC_KNOCKOUT_LOGIT_DIFF ? "logit_diff" : "kl_div"));
    json_object_set_new(st, "epochs", json_integer(o->epochs));
    json_object_set_new(st, "lr", json_real(o->lr));
    json_object_set_new(st, "lambda", json_real(o->lambda));
    json_object_set_new(st, "max_knockouts", json_integer((json_int_t)o->max_knockouts));
    json_object_set_new(st, "threshold", json_real(o->threshold));
    json_object_set_new(st, "init", json_real(isnan(o->init) ? -log(5.0) : o->init));
    json_object_set_new(st, "seed", json_integer((json_int_t)o->seed));
    if (d->seconds >= 0) json_object_set_new(st, "seconds", json_real(d->seconds));
    json_object_set_new(root, "settings", st);
    json_object_set_new(gr, "separate_qkv", json_boolean(g->separate_qkv));
    json_object_set_new(gr, "seq_len", g->seq_len > 0 ? json_integer(g->seq_len) : json_null());
    json_object_set_new(gr, "n_edges", json_integer((json_int_t)E));
    json_object_set_new(root, "graph", gr);
    json_object_set_new(root, "circuit_size_requested",
                        d->requested_size ? json_integer((json_int_t)d->requested_size) : json_null());
    /* the learned K's evaluation at the top level, K = ∅ under "empty" */
    json_t *lr = result_json(d->learned);
    json_object_update(root, lr);
    json_decref(lr);
    json_object_set_new(root, "empty", result_json(d->empty));
    json_t *ka = json_array(), *ca = json_array(), *la = json_array();
    for (size_t i = 0; i < nk; i++) json_array_append_new(ka, edge_json(g, ks[i], (double)d->scores[ks[i]], 1, 0));
    for (size_t e = 0; e < E; e++)
        if (d->in_circuit[e])
            json_array_append_new(ca, edge_json(g, e, (double)d->scores[e], (double)d->scores[e] >= o->threshold, 1));
    for (size_t i = 0; i < d->n_loss; i++) json_array_append_new(la, num(d->loss[i]));
    json_object_set_new(root, "knockouts", ka);
    json_object_set_new(root, "circuit", ca);
    json_object_set_new(root, "loss", la);
    ac_free(ks);

    ac__afile af;
    rc = ac__afile_open(&af, path, err);
    if (rc) {
        json_decref(root);
        return rc;
    }
    if (json_dumpf(root, af.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) != 0) {
        json_decref(root);
        ac__afile_abort(&af);
        return ac_error_set(err, AC_ERR_IO, path, "cannot write the knockout file");
    }
    fputc('\n', af.f);
    json_decref(root);
    return ac__afile_commit(&af, err);
}

/* ---- reading ------------------------------------------------------------------------- */

void ac_knockout_file_free(ac_knockout_file *f) {
    if (!f) return;
    ac_free(f->label);
    ac_free(f->edges);
    ac_free(f->loss);
    ac_free(f->settings_json);
    ac_free(f);
}

static int get_num(const json_t *o, const char *key, const char *where, const char *path, double *out, ac_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v) return ac_error_set(err, AC_ERR_FORMAT, path, "missing key \"%s%s\"", where, key);
    if (json_is_null(v)) {
        *out = NAN;
        return AC_OK;
    }
    if (!json_is_number(v)) return ac_error_set(err, AC_ERR_FORMAT, path, "%s%s: expected a number", where, key);
    *out = json_number_value(v);
    return AC_OK;
}

static int get_count(const json_t *o, const char *key, const char *where, const char *path, size_t *out,
                     ac_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v) return ac_error_set(err, AC_ERR_FORMAT, path, "missing key \"%s%s\"", where, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ac_error_set(err, AC_ERR_FORMAT, path, "%s%s: expected a non-negative integer", where, key);
    *out = (size_t)json_integer_value(v);
    return AC_OK;
}

static int get_result(const json_t *o, const char *where, const char *path, ac_knockout_result *r, ac_error *err) {
    int rc;
    if ((rc = get_count(o, "circuit_size", where, path, &r->circuit_size, err)) ||
        (rc = get_count(o, "n_knockouts", where, path, &r->n_knockouts, err)) ||
        (rc = get_num(o, "kl", where, path, &r->kl, err)) ||
        (rc = get_num(o, "knockout_kl", where, path, &r->knockout_kl, err)))
        return rc;
    r->logit_diff_model = r->logit_diff_circuit = r->logit_diff_model_ko = r->logit_diff_circuit_ko = NAN;
    const json_t *ld = json_object_get(o, "logit_diff");
    if (ld && json_is_object(ld)) {
        char w[64];
        snprintf(w, sizeof w, "%slogit_diff.", where);
        if ((rc = get_num(ld, "model", w, path, &r->logit_diff_model, err)) ||
            (rc = get_num(ld, "circuit", w, path, &r->logit_diff_circuit, err)) ||
            (rc = get_num(ld, "model_knockout", w, path, &r->logit_diff_model_ko, err)) ||
            (rc = get_num(ld, "circuit_knockout", w, path, &r->logit_diff_circuit_ko, err)))
            return rc;
    }
    return AC_OK;
}

static int parse(json_t *root, const char *path, ac_knockout_file *f, ac_error *err) {
    const json_t *fmt = json_object_get(root, "format");
    if (!fmt || !json_is_string(fmt) || strcmp(json_string_value(fmt), KNOCKOUT_FORMAT))
        return ac_error_set(err, AC_ERR_FORMAT, path, "format: expected \"%s\" (a file from 'autocircuit knockout')",
                            KNOCKOUT_FORMAT);
    const json_t *ver = json_object_get(root, "version");
    if (ver && json_is_integer(ver) && json_integer_value(ver) > KNOCKOUT_VERSION)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, path, "version %lld is newer than this reader's %d",
                            (long long)json_integer_value(ver), KNOCKOUT_VERSION);
    int rc = get_result(root, "", path, &f->learned, err);
    if (rc) return rc;
    const json_t *em = json_object_get(root, "empty");
    if (!em || !json_is_object(em)) return ac_error_set(err, AC_ERR_FORMAT, path, "empty: expected an object");
    if ((rc = get_result(em, "empty.", path, &f->empty, err))) return rc;
    const json_t *req = json_object_get(root, "circuit_size_requested");
    if (req && json_is_integer(req) && json_integer_value(req) > 0) f->requested_size = (size_t)json_integer_value(req);
    const json_t *st = json_object_get(root, "settings");
    const char *label = "";
    if (st && json_is_object(st)) {
        const json_t *a = json_object_get(st, "algo"), *s = json_object_get(st, "scores"),
                     *gt = json_object_get(st, "ground_truth");
        if (a && json_is_string(a)) label = json_string_value(a);
        else if (s && json_is_string(s)) label = json_string_value(s);
        else if (gt && json_is_string(gt)) label = json_string_value(gt);
        char *txt = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (!txt) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        f->settings_json = ac_strdup(txt);
        free(txt);
        if (!f->settings_json) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    if (!(f->label = ac_strdup(label))) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    const json_t *ca = json_object_get(root, "circuit");
    if (!ca || !json_is_array(ca)) return ac_error_set(err, AC_ERR_FORMAT, path, "circuit: expected an array");
    const size_t n = json_array_size(ca);
    f->edges = ac_calloc(n ? n : 1, sizeof *f->edges);
    if (!f->edges) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    f->n_edges = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(ca, i);
        const json_t *src = json_object_get(e, "src"), *dest = json_object_get(e, "dest"),
                     *pos = json_object_get(e, "pos"), *ko = json_object_get(e, "knocked_out");
        ac_knockout_edge *r = &f->edges[i];
        if (!json_is_object(e) || !json_is_string(src) || !json_is_string(dest) ||
            strlen(json_string_value(src)) >= sizeof r->src || strlen(json_string_value(dest)) >= sizeof r->dest)
            return ac_error_set(err, AC_ERR_FORMAT, path, "circuit[%zu]: expected {\"src\": name, \"dest\": name, ...}", i);
        snprintf(r->src, sizeof r->src, "%s", json_string_value(src));
        snprintf(r->dest, sizeof r->dest, "%s", json_string_value(dest));
        r->pos = pos && json_is_integer(pos) ? (int)json_integer_value(pos) : -1;
        char w[48];
        snprintf(w, sizeof w, "circuit[%zu].", i);
        if ((rc = get_num(e, "score", w, path, &r->score, err))) return rc;
        r->knocked_out = ko && json_is_true(ko);
    }
    const json_t *la = json_object_get(root, "loss");
    if (la && json_is_array(la)) {
        const size_t m = json_array_size(la);
        f->loss = ac_calloc(m ? m : 1, sizeof *f->loss);
        if (!f->loss) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        f->n_loss = m;
        for (size_t i = 0; i < m; i++) {
            const json_t *v = json_array_get(la, i);
            f->loss[i] = json_is_number(v) ? json_number_value(v) : NAN;
        }
    }
    return AC_OK;
}

int ac_knockout_file_read(const char *path, ac_knockout_file **out, ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, path, "NULL output");
    *out = NULL;
    if (!path) return ac_error_set(err, AC_ERR_ARG, NULL, "no knockout file given");
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        FILE *fp = fopen(path, "rb");
        if (!fp) return ac_error_set(err, AC_ERR_IO, path, "cannot open the knockout file");
        fclose(fp);
        return ac_error_set_at(err, AC_ERR_FORMAT, path, je.line > 0 ? je.line : 1, je.column > 0 ? je.column : 1,
                               "%s", je.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return ac_error_set(err, AC_ERR_FORMAT, path, "expected a JSON object at the top level");
    }
    ac_knockout_file *f = ac_calloc(1, sizeof *f);
    if (!f) {
        json_decref(root);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    int rc = parse(root, path, f, err);
    json_decref(root);
    if (rc) {
        ac_knockout_file_free(f);
        return rc;
    }
    *out = f;
    return AC_OK;
}
