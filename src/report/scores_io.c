/* Result files: edge scores, ground truths and faithfulness curves (scores.h,
 * docs/schemas.md). Writers stream the edge lists with stdio (a per-position GPT-2 file
 * has 400k edges) through an atomic output file; readers parse with jansson. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autocircuit/scores.h"
#include "report/scores_internal.h"
#include "util/atomic_file.h"
#include "util/json_util.h"

#define SCORES_FORMAT "autocircuit-scores"
#define TRUTH_FORMAT "autocircuit-ground-truth"
#define CURVE_FORMAT "autocircuit-curve"
#define FILE_VERSION 1

/* ---- small shared helpers ---------------------------------------------------------- */

static uint64_t fnv1a(const char *s, uint64_t h) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

int ac__namemap_init(ac__namemap *m, size_t n, ac_error *err) {
    size_t cap = 16;
    while (cap < 2 * n + 1) cap *= 2;
    m->cap = cap;
    m->keys = ac_calloc(cap, sizeof *m->keys);
    m->vals = ac_calloc(cap, sizeof *m->vals);
    if (!m->keys || !m->vals) {
        ac__namemap_free(m);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    return AC_OK;
}

void ac__namemap_free(ac__namemap *m) {
    ac_free(m->keys);
    ac_free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = 0;
}

int ac__namemap_put(ac__namemap *m, const char *key, int val) {
    size_t i = (size_t)fnv1a(key, 0xcbf29ce484222325ull) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    return val;
}

int ac__namemap_get(const ac__namemap *m, const char *key) {
    size_t i = (size_t)fnv1a(key, 0xcbf29ce484222325ull) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

void ac__json_put_string(FILE *fp, const char *s) {
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\t': fputs("\\t", fp); break;
        case '\r': fputs("\\r", fp); break;
        default:
            if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
            else fputc(*p, fp);
        }
    }
    fputc('"', fp);
}

void ac__json_put_score(FILE *fp, double s) {
    if (isnan(s)) fputs("null", fp);
    else if (isinf(s)) fputs(s > 0 ? "\"inf\"" : "\"-inf\"", fp);
    else fprintf(fp, "%.9g", s);
}

/* A number, null (NaN) or "inf"/"-inf" as jansson. */
static json_t *json_num(double v) {
    if (isnan(v)) return json_null();
    if (isinf(v)) return json_string(v > 0 ? "inf" : "-inf");
    return json_real(v);
}

/* Parse a JSON value as a number: numbers, "inf"/"+inf"/"-inf"; null gives NaN when
 * allow_null. Returns 0 on success, -1 for another type. */
static int num_value(const json_t *v, int allow_null, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (allow_null && json_is_null(v)) {
        *out = NAN;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "inf") || !strcmp(s, "+inf") || !strcmp(s, "Infinity")) {
            *out = INFINITY;
            return 0;
        }
        if (!strcmp(s, "-inf") || !strcmp(s, "-Infinity")) {
            *out = -INFINITY;
            return 0;
        }
        if (allow_null && (!strcmp(s, "nan") || !strcmp(s, "NaN"))) {
            *out = NAN;
            return 0;
        }
    }
    return -1;
}

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* jansson's strings are malloc'd: copy into ac_malloc memory. */
static char *dump_compact(const json_t *j) {
    char *s = ac__json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!s) return NULL;
    char *r = ac_strdup(s);
    free(s);
    return r;
}

/* Load a JSON object from a file: AC_ERR_IO when unreadable, AC_ERR_FORMAT with
 * line:column for syntax errors. */
static int load_object(const char *path, json_t **out, ac_error *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ac_error_set(err, AC_ERR_IO, path, "cannot open: %s", strerror(errno));
    /* read it whole: json_loadf reads a character at a time (10x slower on 30 MB files) */
    size_t cap = 1 << 16, n = 0, r;
    char *buf = ac_malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = cap <= SIZE_MAX / 2 ? ac_realloc(buf, cap * 2) : NULL;
            if (!nb) {
                ac_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    const int read_failed = ferror(fp);
    fclose(fp);
    if (!buf) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading the file");
    if (read_failed) {
        ac_free(buf);
        return ac_error_set(err, AC_ERR_IO, path, "read error");
    }
    json_error_t je;
    memset(&je, 0, sizeof je); /* jansson leaves it unset when it cannot allocate its lexer */
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    ac_free(buf);
    if (!j) {
        if (ac__json_oom(&je)) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading JSON");
        return ac_error_set_at(err, AC_ERR_FORMAT, path, je.line > 0 ? je.line : 1,
                               je.column > 0 ? je.column : 1, "%s", je.text);
    }
    if (!json_is_object(j)) {
        int rc = ac_error_set(err, AC_ERR_FORMAT, path, "expected a JSON object at the top level, got %s",
                              json_type_name(j));
        json_decref(j);
        return rc;
    }
    *out = j;
    return AC_OK;
}

/* "format" and "version" when present. want2 may be NULL. */
static int check_format(const json_t *root, const char *path, const char *want1, const char *want2,
                        const char **format, ac_error *err) {
    *format = NULL;
    const json_t *f = json_object_get(root, "format");
    if (f) {
        const char *s = json_string_value(f);
        if (!s || (strcmp(s, want1) && (!want2 || strcmp(s, want2)))) {
            if (want2)
                return ac_error_set(err, AC_ERR_FORMAT, path, "format: expected \"%s\" or \"%s\", got %s%s%s",
                                    want1, want2, s ? "\"" : "", s ? s : json_type_name(f), s ? "\"" : "");
            return ac_error_set(err, AC_ERR_FORMAT, path, "format: expected \"%s\", got %s%s%s", want1,
                                s ? "\"" : "", s ? s : json_type_name(f), s ? "\"" : "");
        }
        *format = s;
    }
    const json_t *v = json_object_get(root, "version");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return ac_error_set(err, AC_ERR_FORMAT, path, "version: expected a positive integer");
        if (json_integer_value(v) > FILE_VERSION)
            return ac_error_set(err, AC_ERR_UNSUPPORTED, path,
                                "version %lld is newer than this autocircuit reads (%d)",
                                (long long)json_integer_value(v), FILE_VERSION);
    }
    return AC_OK;
}

/* ---- scores and ground-truth files: writing ---------------------------------------- */

/* Building JSON values: jansson reports a failed allocation only through return values
 * (a NULL value, or -1 from a setter that then drops the member), so every member is
 * added through set_new and the failures are or-ed together: a file must not be
 * written with members silently missing. */
static int set_new(json_t *o, const char *key, json_t *v) { return json_object_set_new(o, key, v) ? 1 : 0; }

static int set_str(json_t *o, const char *key, const char *v) { return v ? set_new(o, key, json_string(v)) : 0; }

/* Add the members of the JSON object text `extra` (may be NULL) to o. */
static int merge_extra(json_t *o, const char *extra, ac_error *err) {
    if (!extra) return AC_OK;
    json_error_t je;
    memset(&je, 0, sizeof je);
    json_t *x = json_loads(extra, 0, &je);
    if (!x && ac__json_oom(&je))
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    if (!x || !json_is_object(x)) {
        json_decref(x);
        return ac_error_set(err, AC_ERR_ARG, NULL, "settings extra_json is not a JSON object");
    }
    const int bad = json_object_update(o, x);
    json_decref(x);
    if (bad) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    return AC_OK;
}

static int settings_object(const ac_scores_settings *st, json_t **out, ac_error *err) {
    json_t *o = json_object();
    if (!o) return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    int bad = 0;
    bad |= set_str(o, "algo", st->algo);
    bad |= set_str(o, "model", st->model);
    bad |= set_str(o, "data", st->data);
    bad |= set_str(o, "split", st->split);
    bad |= set_new(o, "n_prompts", json_integer((json_int_t)st->n_prompts));
    bad |= set_str(o, "ablation", st->ablation);
    bad |= set_str(o, "grad_function", st->grad_function);
    bad |= set_str(o, "answer_function", st->answer_function);
    if (st->steps > 0) bad |= set_new(o, "steps", json_integer(st->steps));
    if (st->taus && st->n_taus) {
        json_t *a = json_array();
        for (size_t i = 0; i < st->n_taus && a; i++) bad |= json_array_append_new(a, json_num(st->taus[i])) ? 1 : 0;
        bad |= set_new(o, "taus", a);
    }
    bad |= set_new(o, "seed", json_integer((json_int_t)st->seed));
    if (st->seconds >= 0) bad |= set_new(o, "seconds", json_real(st->seconds));
    if (st->seq_labels && st->n_seq_labels) {
        json_t *a = json_array();
        for (size_t i = 0; i < st->n_seq_labels && a; i++)
            bad |= json_array_append_new(a, json_string(st->seq_labels[i] ? st->seq_labels[i] : "")) ? 1 : 0;
        bad |= set_new(o, "seq_labels", a);
    }
    if (bad) {
        json_decref(o);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    int rc = merge_extra(o, st->extra_json, err);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return AC_OK;
}

/* scores NULL: a ground truth of the edges with in_circuit != 0 */
static int write_edges_file(const char *path, const ac_graph *g, const float *scores,
                            const uint8_t *in_circuit, const ac_scores_settings *st, ac_error *err) {
    if (!path || !g || (!scores && !in_circuit))
        return ac_error_set(err, AC_ERR_ARG, path, "NULL argument to a result-file writer");
    size_t n_out = 0;
    for (size_t e = 0; e < g->n_edges; e++) {
        if (scores && isnan(scores[e])) {
            char name[80];
            int pos;
            ac_graph_edge_at(g, e, &pos, NULL, NULL);
            ac_graph_edge_name(g, e, name, sizeof name);
            return pos >= 0 ? ac_error_set(err, AC_ERR_RANGE, path, "edge %s at position %d has a NaN score", name, pos)
                            : ac_error_set(err, AC_ERR_RANGE, path, "edge %s has a NaN score", name);
        }
        if (scores || in_circuit[e]) n_out++;
    }
    char *settings = NULL;
    if (st) {
        json_t *o;
        int rc = settings_object(st, &o, err);
        if (rc) return rc;
        char *s = ac__json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        json_decref(o);
        if (!s) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        settings = s;
    }
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) {
        free(settings);
        return rc;
    }
    FILE *fp = af.f;
    fprintf(fp, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n", scores ? SCORES_FORMAT : TRUTH_FORMAT, FILE_VERSION);
    if (settings) fprintf(fp, "  \"settings\": %s,\n", settings);
    free(settings);
    fprintf(fp, "  \"graph\": {\"separate_qkv\": %s, \"seq_len\": ", g->separate_qkv ? "true" : "false");
    if (g->seq_len > 0) fprintf(fp, "%d", g->seq_len);
    else fputs("null", fp);
    if (g->residual) fputs(", \"residual\": true", fp);
    fprintf(fp, ", \"n_edges\": %zu},\n  \"edges\": [", scores ? g->n_edges : n_out);
    size_t k = 0;
    for (size_t e = 0; e < g->n_edges; e++) {
        if (!scores && !in_circuit[e]) continue;
        int pos, d, s;
        ac_graph_edge_at(g, e, &pos, &d, &s);
        fputs(k++ ? ",\n    {\"src\": " : "\n    {\"src\": ", fp);
        ac__json_put_string(fp, g->srcs[s].name);
        fputs(", \"dest\": ", fp);
        ac__json_put_string(fp, g->dests[d].name);
        if (pos >= 0) fprintf(fp, ", \"pos\": %d", pos);
        else fputs(", \"pos\": null", fp);
        if (scores) {
            fputs(", \"score\": ", fp);
            ac__json_put_score(fp, (double)scores[e]);
        }
        fputc('}', fp);
    }
    fputs(k ? "\n  ]\n}\n" : "]\n}\n", fp);
    return ac__afile_commit(&af, err);
}

int ac_scores_write(const char *path, const ac_graph *g, const float *scores,
                    const ac_scores_settings *settings, ac_error *err) {
    if (!scores) return ac_error_set(err, AC_ERR_ARG, path, "no scores to write");
    return write_edges_file(path, g, scores, NULL, settings, err);
}

int ac_ground_truth_write(const char *path, const ac_graph *g, const uint8_t *in_circuit,
                          ac_error *err) {
    if (!in_circuit) return ac_error_set(err, AC_ERR_ARG, path, "no ground-truth edges to write");
    return write_edges_file(path, g, NULL, in_circuit, NULL, err);
}

/* ---- scores and ground-truth files: reading ---------------------------------------- */

void ac_scores_file_free(ac_scores_file *f) {
    if (!f) return;
    ac_free(f->edges);
    ac_free(f->settings_json);
    if (f->seq_labels)
        for (size_t i = 0; i < f->n_seq_labels; i++) ac_free(f->seq_labels[i]);
    ac_free(f->seq_labels);
    ac_free(f->algo);
    ac_free(f);
}

static int get_name(const json_t *e, const char *key, char *dst, const char *path, size_t i,
                    ac_error *err) {
    const json_t *v = json_object_get(e, key);
    if (!v) return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu]: missing key \"%s\"", i, key);
    if (!json_is_string(v))
        return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu].%s: expected a string, got %s", i, key,
                            json_type_name(v));
    const char *s = json_string_value(v);
    if (strlen(s) >= 32 || !*s)
        return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu].%s: node name \"%.40s\" %s", i, key, s,
                            *s ? "is longer than 31 bytes" : "is empty");
    memcpy(dst, s, strlen(s) + 1);
    return AC_OK;
}

static uint64_t edge_hash(const ac_edge_record *r) {
    uint64_t h = fnv1a(r->src, 0xcbf29ce484222325ull);
    h = fnv1a("->", h);
    h = fnv1a(r->dest, h);
    return (h ^ (uint64_t)(uint32_t)r->pos) * 0x100000001b3ull;
}

/* Reject a duplicated (src, dest, pos). */
static int check_duplicates(const ac_scores_file *f, const char *path, ac_error *err) {
    size_t cap = 16;
    while (cap < 2 * f->n_edges + 1) cap *= 2;
    size_t *slot = ac_malloc(cap * sizeof *slot);
    if (!slot) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    for (size_t i = 0; i < cap; i++) slot[i] = (size_t)-1;
    int rc = AC_OK;
    for (size_t i = 0; i < f->n_edges && !rc; i++) {
        const ac_edge_record *r = &f->edges[i];
        size_t k = (size_t)edge_hash(r) & (cap - 1);
        for (; slot[k] != (size_t)-1; k = (k + 1) & (cap - 1)) {
            const ac_edge_record *o = &f->edges[slot[k]];
            if (o->pos == r->pos && !strcmp(o->src, r->src) && !strcmp(o->dest, r->dest)) {
                if (r->pos >= 0)
                    rc = ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu]: %s->%s at position %d duplicates edges[%zu]",
                                      i, r->src, r->dest, r->pos, slot[k]);
                else
                    rc = ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu]: %s->%s duplicates edges[%zu]", i, r->src,
                                      r->dest, slot[k]);
                break;
            }
        }
        if (!rc) slot[k] = i;
    }
    ac_free(slot);
    return rc;
}

static int parse_graph_object(const json_t *root, const char *path, ac_scores_file *f, int *graph_seq_len,
                              long long *graph_n_edges, ac_error *err) {
    *graph_seq_len = -1; /* unknown */
    *graph_n_edges = -1;
    const json_t *gobj = json_object_get(root, "graph");
    if (!gobj) return AC_OK;
    if (!json_is_object(gobj))
        return ac_error_set(err, AC_ERR_FORMAT, path, "graph: expected an object, got %s", json_type_name(gobj));
    f->has_graph = 1;
    const json_t *v = json_object_get(gobj, "separate_qkv");
    if (v) {
        if (!json_is_boolean(v))
            return ac_error_set(err, AC_ERR_FORMAT, path, "graph.separate_qkv: expected true or false");
        f->separate_qkv = json_is_true(v);
    }
    v = json_object_get(gobj, "residual");
    if (v) {
        if (!json_is_boolean(v))
            return ac_error_set(err, AC_ERR_FORMAT, path, "graph.residual: expected true or false");
        f->residual = json_is_true(v);
    }
    v = json_object_get(gobj, "seq_len");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT_MAX)
            return ac_error_set(err, AC_ERR_FORMAT, path, "graph.seq_len: expected null or a positive integer");
        *graph_seq_len = (int)json_integer_value(v);
    } else {
        *graph_seq_len = 0;
    }
    v = json_object_get(gobj, "n_edges");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return ac_error_set(err, AC_ERR_FORMAT, path, "graph.n_edges: expected a non-negative integer");
        *graph_n_edges = (long long)json_integer_value(v);
    }
    return AC_OK;
}

static int parse_settings(const json_t *root, const char *path, ac_scores_file *f, ac_error *err) {
    const json_t *st = json_object_get(root, "settings");
    if (!st) return AC_OK;
    if (!json_is_object(st))
        return ac_error_set(err, AC_ERR_FORMAT, path, "settings: expected an object, got %s", json_type_name(st));
    if (!(f->settings_json = dump_compact(st))) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    const json_t *v = json_object_get(st, "algo");
    if (v) {
        if (!json_is_string(v)) return ac_error_set(err, AC_ERR_FORMAT, path, "settings.algo: expected a string");
        if (!(f->algo = ac_strdup(json_string_value(v)))) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    v = json_object_get(st, "seq_labels");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return ac_error_set(err, AC_ERR_FORMAT, path, "settings.seq_labels: expected an array of strings");
        const size_t n = json_array_size(v);
        if (n) {
            f->seq_labels = ac_calloc(n, sizeof *f->seq_labels);
            if (!f->seq_labels) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
            f->n_seq_labels = n;
            for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(v, i));
                if (!s) return ac_error_set(err, AC_ERR_FORMAT, path, "settings.seq_labels[%zu]: expected a string", i);
                if (!(f->seq_labels[i] = ac_strdup(s))) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
            }
        }
    }
    return AC_OK;
}

static int parse_scores_file(const json_t *root, const char *path, ac_scores_file *f, ac_error *err) {
    const char *format;
    int rc = check_format(root, path, SCORES_FORMAT, TRUTH_FORMAT, &format, err);
    if (rc) return rc;
    int graph_seq_len;
    long long graph_n_edges;
    if ((rc = parse_graph_object(root, path, f, &graph_seq_len, &graph_n_edges, err))) return rc;
    if ((rc = parse_settings(root, path, f, err))) return rc;

    const json_t *edges = json_object_get(root, "edges");
    if (!edges) return ac_error_set(err, AC_ERR_FORMAT, path, "missing key \"edges\"");
    if (!json_is_array(edges))
        return ac_error_set(err, AC_ERR_FORMAT, path, "edges: expected an array, got %s", json_type_name(edges));
    const size_t n = json_array_size(edges);
    if (graph_n_edges >= 0 && (size_t)graph_n_edges != n)
        return ac_error_set(err, AC_ERR_FORMAT, path, "graph.n_edges is %lld but \"edges\" has %zu entries",
                            graph_n_edges, n);
    f->edges = ac_calloc(n ? n : 1, sizeof *f->edges);
    if (!f->edges) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory for %zu edges", n);
    f->n_edges = n;
    size_t n_scored = 0, n_pos = 0;
    int max_pos = -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(edges, i);
        ac_edge_record *r = &f->edges[i];
        if (!json_is_object(e))
            return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu]: expected an object, got %s", i, json_type_name(e));
        if ((rc = get_name(e, "src", r->src, path, i, err)) || (rc = get_name(e, "dest", r->dest, path, i, err)))
            return rc;
        const json_t *v = json_object_get(e, "pos");
        r->pos = -1;
        if (v && !json_is_null(v)) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT_MAX)
                return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu].pos: expected null or a non-negative integer", i);
            r->pos = (int)json_integer_value(v);
            if (r->pos > max_pos) max_pos = r->pos;
            n_pos++;
        }
        v = json_object_get(e, "score");
        r->score = NAN;
        if (v) {
            if (num_value(v, 0, &r->score))
                return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu].score: expected a number or \"inf\"", i);
            n_scored++;
        }
    }
    /* all edges scored or none; all with positions or none */
    if (n_scored && n_scored != n) {
        for (size_t i = 0; i < n; i++)
            if (isnan(f->edges[i].score))
                return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu].score: missing (other edges have scores)", i);
    }
    if (n_pos && n_pos != n) {
        for (size_t i = 0; i < n; i++)
            if (f->edges[i].pos < 0)
                return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu].pos: null, but other edges have positions", i);
    }
    if (format && !strcmp(format, SCORES_FORMAT) && n && !n_scored)
        return ac_error_set(err, AC_ERR_FORMAT, path, "edges[0].score: missing (format \"%s\")", SCORES_FORMAT);
    f->has_scores = n ? n_scored > 0 : !(format && !strcmp(format, TRUTH_FORMAT));
    if (graph_seq_len >= 0) {
        if (graph_seq_len == 0 && n_pos)
            return ac_error_set(err, AC_ERR_FORMAT, path, "graph.seq_len is null but the edges have positions");
        if (graph_seq_len > 0 && n && !n_pos)
            return ac_error_set(err, AC_ERR_FORMAT, path, "graph.seq_len is %d but edges[0].pos is null", graph_seq_len);
        if (max_pos >= graph_seq_len && graph_seq_len > 0) {
            for (size_t i = 0; i < n; i++)
                if (f->edges[i].pos >= graph_seq_len)
                    return ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu].pos: %d is outside graph.seq_len %d", i,
                                        f->edges[i].pos, graph_seq_len);
        }
        f->seq_len = graph_seq_len;
    } else {
        f->seq_len = max_pos + 1;
    }
    return check_duplicates(f, path, err);
}

int ac_scores_file_read(const char *path, ac_scores_file **out, ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, path, "NULL output");
    *out = NULL;
    if (!path) return ac_error_set(err, AC_ERR_ARG, NULL, "no scores file given");
    json_t *root;
    int rc = load_object(path, &root, err);
    if (rc) return rc;
    ac_scores_file *f = ac_calloc(1, sizeof *f);
    if (!f) {
        json_decref(root);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    f->separate_qkv = 1;
    rc = parse_scores_file(root, path, f, err);
    json_decref(root);
    if (rc) {
        ac_scores_file_free(f);
        return rc;
    }
    *out = f;
    return AC_OK;
}

/* ---- mapping a file onto a graph --------------------------------------------------- */

static void edge_label(const ac_graph *g, size_t e, char *buf, size_t n) {
    int pos;
    ac_graph_edge_at(g, e, &pos, NULL, NULL);
    char name[80];
    ac_graph_edge_name(g, e, name, sizeof name);
    if (pos >= 0) snprintf(buf, n, "%s at position %d", name, pos);
    else snprintf(buf, n, "%s", name);
}

int ac_scores_file_to_graph(const ac_scores_file *f, const ac_graph *g, const char *path,
                            float *scores, uint8_t *in_file, ac_error *err) {
    if (!f || !g) return ac_error_set(err, AC_ERR_ARG, path, "NULL argument");
    const char *hint = scores ? " (scores file for another model's graph?)" : "";
    if (scores && !f->has_scores)
        return ac_error_set(err, AC_ERR_FORMAT, path, "a ground-truth file has no scores");
    if (scores && f->has_graph && f->residual != g->residual)
        return ac_error_set(err, AC_ERR_SHAPE, path, "the file's graph is the %s graph, this one the %s graph%s",
                            f->residual ? "residual" : "factorized", g->residual ? "residual" : "factorized", hint);
    if (scores && f->has_graph && !g->residual && f->separate_qkv != g->separate_qkv)
        return ac_error_set(err, AC_ERR_SHAPE, path, "the file's graph has %s Q/K/V inputs, this graph %s%s",
                            f->separate_qkv ? "separate" : "combined", g->separate_qkv ? "separate" : "combined", hint);
    if (scores && f->n_edges && f->seq_len != (g->seq_len > 0 ? g->seq_len : 0)) {
        if (g->seq_len > 0 && f->seq_len > 0)
            return ac_error_set(err, AC_ERR_SHAPE, path, "the file has per-position edges for %d positions, this graph %d%s",
                                f->seq_len, g->seq_len, hint);
        return ac_error_set(err, AC_ERR_SHAPE, path, "the file's edges are %s, this graph's %s%s",
                            f->seq_len > 0 ? "per position" : "not per position",
                            g->seq_len > 0 ? "per position (--positions)" : "not", hint);
    }
    ac__namemap srcs = {0}, dests = {0};
    uint8_t *seen = ac_calloc(g->n_edges ? g->n_edges : 1, 1);
    int rc = AC_OK;
    if (!seen) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    if ((rc = ac__namemap_init(&srcs, (size_t)g->n_src, err)) || (rc = ac__namemap_init(&dests, (size_t)g->n_dest, err)))
        goto done;
    for (int s = 0; s < g->n_src; s++) ac__namemap_put(&srcs, g->srcs[s].name, s);
    for (int d = 0; d < g->n_dest; d++) ac__namemap_put(&dests, g->dests[d].name, d);
    if (in_file) memset(in_file, 0, g->n_edges);
    size_t count = 0;
    for (size_t i = 0; i < f->n_edges && !rc; i++) {
        const ac_edge_record *r = &f->edges[i];
        const int s = ac__namemap_get(&srcs, r->src), d = ac__namemap_get(&dests, r->dest);
        if (s < 0 || d < 0 || s < g->dests[d].src_begin || s >= g->dests[d].src_begin + g->dests[d].n_in) {
            rc = ac_error_set(err, AC_ERR_SHAPE, path, "edges[%zu]: %s->%s is not an edge of this model's graph%s", i,
                              r->src, r->dest, hint);
            break;
        }
        int p0 = 0, p1 = 1;
        if (g->seq_len > 0) {
            if (r->pos < 0) {
                if (scores) {
                    rc = ac_error_set(err, AC_ERR_SHAPE, path,
                                      "edges[%zu]: %s->%s has no position, but this graph has per-position edges%s", i,
                                      r->src, r->dest, hint);
                    break;
                }
                p1 = g->seq_len; /* a position-less ground truth edge: every position */
            } else if (r->pos >= g->seq_len) {
                rc = ac_error_set(err, AC_ERR_SHAPE, path, "edges[%zu]: position %d is outside this graph's %d positions%s",
                                  i, r->pos, g->seq_len, hint);
                break;
            } else {
                p0 = r->pos;
                p1 = r->pos + 1;
            }
        } else if (r->pos >= 0) {
            rc = ac_error_set(err, AC_ERR_SHAPE, path,
                              "edges[%zu]: %s->%s has position %d, but this graph's edges are not per position "
                              "(--positions)%s",
                              i, r->src, r->dest, r->pos, hint);
            break;
        }
        for (int p = p0; p < p1; p++) {
            const size_t e = ac_graph_edge_index(g, p, d, s);
            if (seen[e]) {
                char name[120];
                edge_label(g, e, name, sizeof name);
                rc = ac_error_set(err, AC_ERR_FORMAT, path, "edges[%zu]: %s is listed twice", i, name);
                break;
            }
            seen[e] = 1;
            count++;
            if (scores) scores[e] = (float)r->score;
            if (in_file) in_file[e] = 1;
        }
    }
    if (!rc && scores && count != g->n_edges) {
        size_t e = 0;
        while (e < g->n_edges && seen[e]) e++;
        char name[120];
        edge_label(g, e, name, sizeof name);
        rc = ac_error_set(err, AC_ERR_SHAPE, path, "the file has %zu of this graph's %zu edges; first missing: %s%s",
                          count, g->n_edges, name, hint);
    }
done:
    ac__namemap_free(&srcs);
    ac__namemap_free(&dests);
    ac_free(seen);
    return rc;
}

/* ---- curves ------------------------------------------------------------------------ */

/* NULL when out of memory (never with members missing). */
static json_t *point_json(const ac_eval_point *p) {
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    bad |= set_new(o, "edges", json_integer((json_int_t)p->edges));
    bad |= set_new(o, "requested", json_integer((json_int_t)p->requested));
    bad |= set_new(o, "kl", json_num(p->kl));
    bad |= set_new(o, "logit_diff", json_num(p->logit_diff));
    bad |= set_new(o, "logit_diff_percent", json_num(p->logit_diff_percent));
    bad |= set_new(o, "answer_logit", json_num(p->answer_logit));
    bad |= set_new(o, "answer_prob", json_num(p->answer_prob));
    bad |= set_new(o, "answer_logprob", json_num(p->answer_logprob));
    bad |= set_new(o, "correct_percent", json_num(p->correct_percent));
    bad |= set_new(o, "correct_beats_wrong_percent", json_num(p->correct_beats_wrong_percent));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Write key: value where value is dumped on one line. */
static int put_member(FILE *fp, const char *key, json_t *v, int last) {
    if (!v) return -1;
    char *s = ac__json_dumps(v, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(v);
    if (!s) return -1;
    fprintf(fp, "  \"%s\": %s%s\n", key, s, last ? "" : ",");
    free(s);
    return 0;
}

int ac_curve_write(const char *path, const ac_curve *c, ac_error *err) {
    if (!c || (!c->points && c->n_points) || (!c->roc && c->n_roc))
        return ac_error_set(err, AC_ERR_ARG, path, "NULL curve");
    json_t *st = json_object();
    if (!st) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    int bad = 0;
    bad |= set_str(st, "model", c->model);
    bad |= set_str(st, "data", c->data);
    bad |= set_str(st, "scores", c->scores_path);
    bad |= set_str(st, "split", c->split);
    bad |= set_new(st, "n_prompts", json_integer((json_int_t)c->n_prompts));
    bad |= set_str(st, "patch", c->patch);
    bad |= set_str(st, "ablation", c->ablation);
    bad |= set_str(st, "ground_truth", c->n_roc ? c->ground_truth : NULL);
    if (c->seconds >= 0) bad |= set_new(st, "seconds", json_real(c->seconds));
    int rc = bad ? ac_error_set(err, AC_ERR_NOMEM, path, "out of memory") : merge_extra(st, c->extra_json, err);
    if (rc) {
        json_decref(st);
        return rc;
    }
    json_t *auc = json_object();
    if (auc) {
        bad |= set_new(auc, "logit_diff", json_num(c->auc_logit_diff));
        bad |= set_new(auc, "logit_diff_log_x", json_num(c->auc_logit_diff_log));
        bad |= set_new(auc, "kl", json_num(c->auc_kl));
    }
    if (!auc || bad) {
        json_decref(st);
        json_decref(auc);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }

    ac__afile af;
    rc = ac__afile_open(&af, path, err);
    if (rc) {
        json_decref(st);
        json_decref(auc);
        return rc;
    }
    FILE *fp = af.f;
    fprintf(fp, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n", CURVE_FORMAT, FILE_VERSION);
    bad |= put_member(fp, "settings", st, 0);
    fprintf(fp, "  \"n_edges\": %zu,\n", c->n_edges_total);
    bad |= put_member(fp, "clean_logit_diff", json_num(c->clean_logit_diff), 0);
    bad |= put_member(fp, "corrupt_logit_diff", json_num(c->corrupt_logit_diff), 0);
    fputs("  \"points\": [", fp);
    for (size_t i = 0; i < c->n_points && !bad; i++) {
        json_t *p = point_json(&c->points[i]);
        char *s = p ? ac__json_dumps(p, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
        json_decref(p);
        if (!s) {
            bad = 1;
            break;
        }
        fprintf(fp, "%s\n    %s", i ? "," : "", s);
        free(s);
    }
    fputs(c->n_points ? "\n  ],\n" : "],\n", fp);
    const int has_roc = c->n_roc > 0;
    bad |= put_member(fp, "auc", auc, !has_roc);
    if (has_roc) {
        fputs("  \"roc\": [", fp);
        for (size_t i = 0; i < c->n_roc; i++) {
            fprintf(fp, "%s\n    {\"fpr\": ", i ? "," : "");
            ac__json_put_score(fp, c->roc[i].x);
            fputs(", \"tpr\": ", fp);
            ac__json_put_score(fp, c->roc[i].y);
            fputc('}', fp);
        }
        fputs("\n  ],\n", fp);
        bad |= put_member(fp, "roc_auc", json_num(c->roc_auc), 0);
        fprintf(fp, "  \"ground_truth_edges\": %zu\n", c->ground_truth_edges);
    }
    fputs("}\n", fp);
    if (bad) {
        ac__afile_abort(&af);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    return ac__afile_commit(&af, err);
}

void ac_curve_file_free(ac_curve_file *f) {
    if (!f) return;
    ac_free(f->points);
    ac_free(f->roc);
    ac_free(f->settings_json);
    ac_free(f);
}

/* An optional number member: missing or null -> NaN. */
static int opt_num(const json_t *o, const char *key, double *out, const char *path, const char *where,
                   ac_error *err) {
    const json_t *v = json_object_get(o, key);
    *out = NAN;
    if (!v) return AC_OK;
    if (num_value(v, 1, out))
        return ac_error_set(err, AC_ERR_FORMAT, path, "%s%s: expected a number, null or \"inf\"", where, key);
    return AC_OK;
}

static int opt_count(const json_t *o, const char *key, size_t *out, int required, const char *path,
                     const char *where, ac_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) return ac_error_set(err, AC_ERR_FORMAT, path, "%s: missing key \"%s\"", where, key);
        return AC_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ac_error_set(err, AC_ERR_FORMAT, path, "%s%s%s: expected a non-negative integer", where,
                            *where ? "." : "", key);
    *out = (size_t)json_integer_value(v);
    return AC_OK;
}

static int parse_curve(json_t *root, const char *path, ac_curve_file *f, ac_error *err) {
    const char *format;
    int rc = check_format(root, path, CURVE_FORMAT, NULL, &format, err);
    if (rc) return rc;
    const json_t *pts = json_object_get(root, "points");
    if (!pts) return ac_error_set(err, AC_ERR_FORMAT, path, "missing key \"points\"");
    if (!json_is_array(pts))
        return ac_error_set(err, AC_ERR_FORMAT, path, "points: expected an array, got %s", json_type_name(pts));
    const size_t n = json_array_size(pts);
    f->points = ac_calloc(n ? n : 1, sizeof *f->points);
    if (!f->points) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    f->n_points = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(pts, i);
        char where[48];
        snprintf(where, sizeof where, "points[%zu]", i);
        if (!json_is_object(p)) return ac_error_set(err, AC_ERR_FORMAT, path, "%s: expected an object", where);
        ac_eval_point *q = &f->points[i];
        if ((rc = opt_count(p, "edges", &q->edges, 1, path, where, err))) return rc;
        q->requested = q->edges;
        if ((rc = opt_count(p, "requested", &q->requested, 0, path, where, err))) return rc;
        snprintf(where, sizeof where, "points[%zu].", i);
        if ((rc = opt_num(p, "kl", &q->kl, path, where, err)) ||
            (rc = opt_num(p, "logit_diff", &q->logit_diff, path, where, err)) ||
            (rc = opt_num(p, "logit_diff_percent", &q->logit_diff_percent, path, where, err)) ||
            (rc = opt_num(p, "answer_logit", &q->answer_logit, path, where, err)) ||
            (rc = opt_num(p, "answer_prob", &q->answer_prob, path, where, err)) ||
            (rc = opt_num(p, "answer_logprob", &q->answer_logprob, path, where, err)) ||
            (rc = opt_num(p, "correct_percent", &q->correct_percent, path, where, err)) ||
            (rc = opt_num(p, "correct_beats_wrong_percent", &q->correct_beats_wrong_percent, path, where, err)))
            return rc;
    }
    const json_t *roc = json_object_get(root, "roc");
    if (roc && !json_is_null(roc)) {
        if (!json_is_array(roc)) return ac_error_set(err, AC_ERR_FORMAT, path, "roc: expected an array");
        const size_t m = json_array_size(roc);
        f->roc = ac_calloc(m ? m : 1, sizeof *f->roc);
        if (!f->roc) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        f->n_roc = m;
        for (size_t i = 0; i < m; i++) {
            const json_t *p = json_array_get(roc, i);
            if (!json_is_object(p) || num_value(json_object_get(p, "fpr"), 0, &f->roc[i].x) ||
                num_value(json_object_get(p, "tpr"), 0, &f->roc[i].y))
                return ac_error_set(err, AC_ERR_FORMAT, path, "roc[%zu]: expected {\"fpr\": number, \"tpr\": number}", i);
        }
    }
    if ((rc = opt_num(root, "roc_auc", &f->roc_auc, path, "", err)) ||
        (rc = opt_num(root, "clean_logit_diff", &f->clean_logit_diff, path, "", err)) ||
        (rc = opt_count(root, "n_edges", &f->n_edges_total, 0, path, "", err)))
        return rc;
    f->auc_logit_diff = NAN;
    const json_t *auc = json_object_get(root, "auc");
    if (auc && !json_is_null(auc)) {
        if (!json_is_object(auc)) return ac_error_set(err, AC_ERR_FORMAT, path, "auc: expected an object");
        if ((rc = opt_num(auc, "logit_diff", &f->auc_logit_diff, path, "auc.", err))) return rc;
    }
    json_object_del(root, "points");
    json_object_del(root, "roc");
    if (!(f->settings_json = dump_compact(root))) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    return AC_OK;
}

int ac_curve_file_read(const char *path, ac_curve_file **out, ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, path, "NULL output");
    *out = NULL;
    if (!path) return ac_error_set(err, AC_ERR_ARG, NULL, "no curve file given");
    json_t *root;
    int rc = load_object(path, &root, err);
    if (rc) return rc;
    ac_curve_file *f = ac_calloc(1, sizeof *f);
    if (!f) {
        json_decref(root);
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    }
    rc = parse_curve(root, path, f, err);
    json_decref(root);
    if (rc) {
        ac_curve_file_free(f);
        return rc;
    }
    *out = f;
    return AC_OK;
}
