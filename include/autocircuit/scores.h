/* autocircuit — result files: edge scores, ground truths, faithfulness curves, exports.
 *
 * Schemas are documented in docs/schemas.md. Every writer is atomic: it writes
 * "PATH.tmp.PID" and renames it over PATH only when complete, so an interrupted run never
 * leaves a truncated result (and on error no file is left behind).
 *
 * In memory a scores or ground-truth file is an ac_scores_file: a list of named edges in
 * the file's order, independent of any model. ac_scores_file_to_graph maps it onto a graph
 * (checking that it describes exactly that graph's edges).
 */
#ifndef AUTOCIRCUIT_SCORES_H
#define AUTOCIRCUIT_SCORES_H

#include "autocircuit/algos.h"
#include "autocircuit/graph.h"
#include "autocircuit/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One edge of a file. Names are auto-circuit's ("A0.1", "A1.2.Q", "MLP 3", ...). */
typedef struct ac_edge_record {
    char src[32];
    char dest[32];
    int pos;      /* token position, -1 when edges are not per position ("pos": null) */
    double score; /* +INFINITY / -INFINITY are written as the strings "inf" / "-inf";
                     NaN for ground-truth files (no "score" key) */
} ac_edge_record;

/* Settings of a discovery run, written under "settings" in the scores file. Strings are
 * borrowed (may be NULL: omitted). */
typedef struct ac_scores_settings {
    const char *algo;       /* "eap", "ig", "acdc", ... */
    const char *model;      /* model path as given */
    const char *data;       /* dataset path(s) as given, comma-joined */
    const char *ablation;   /* ac_ablation_name */
    const char *grad_function, *answer_function;
    int steps;              /* 0: not applicable */
    const double *taus;     /* ACDC thresholds, n_taus of them */
    size_t n_taus;
    const char *split;      /* "train", "test", "all" */
    size_t n_prompts;       /* prompts scored */
    uint64_t seed;
    double seconds;         /* wall time of the scoring, < 0: omitted */
    const char *const *seq_labels; /* dataset's seq_labels (n_seq_labels), NULL: none */
    size_t n_seq_labels;
    const char *extra_json; /* NULL, or a JSON object whose members are added to
                               "settings" (e.g. {"mask_val": 0, "positions": true}) */
} ac_scores_settings;

typedef struct ac_scores_file {
    size_t n_edges;
    ac_edge_record *edges;  /* [n_edges], file order */
    int has_scores;         /* 0: a ground-truth file */
    int has_graph;          /* 1: the file has a "graph" object */
    int separate_qkv;       /* from the file's "graph" object (1 if absent) */
    int residual;           /* node-level residual graph ("residual": true; 0 if absent) */
    int seq_len;            /* > 0 when edges are per position: graph.seq_len, or (no
                               "graph" object) the largest "pos" + 1 */
    char *settings_json;    /* the "settings" object as compact JSON text, or NULL */
    char **seq_labels;      /* settings.seq_labels if present (n_seq_labels), else NULL */
    size_t n_seq_labels;
    char *algo;             /* settings.algo if present, else NULL */
} ac_scores_file;

/* Write the scores of every edge of g (scores: [g->n_edges], graph order) with settings
 * (may be NULL: no "settings" key). Errors: AC_ERR_IO (cannot create/write/rename, naming
 * the path), AC_ERR_RANGE (a NaN score, naming the edge; nothing is written),
 * AC_ERR_ARG (extra_json is not a JSON object), AC_ERR_NOMEM. */
int ac_scores_write(const char *path, const ac_graph *g, const float *scores,
                    const ac_scores_settings *settings, ac_error *err);

/* Write a ground-truth file: the edges e with in_circuit[e] != 0, no scores. */
int ac_ground_truth_write(const char *path, const ac_graph *g, const uint8_t *in_circuit,
                          ac_error *err);

/* Read a scores or ground-truth file. *out is owned by the caller
 * (ac_scores_file_free). Errors (one line, with line:column for JSON syntax):
 * AC_ERR_IO, AC_ERR_FORMAT (missing/mistyped keys, bad score strings, duplicate edges,
 * scores in some edges but not others), AC_ERR_NOMEM. */
int ac_scores_file_read(const char *path, ac_scores_file **out, ac_error *err);
void ac_scores_file_free(ac_scores_file *f);

/* Map a file onto a graph. scores (may be NULL): [g->n_edges], filled in graph order
 * (requires every edge of g to be present exactly once, i.e. a scores file for this
 * graph); in_file (may be NULL): [g->n_edges], 1 for the edges the file lists (ground
 * truths list a subset). A ground truth without positions mapped onto a per-position
 * graph marks the edge at every position. Errors: AC_ERR_SHAPE naming the first edge
 * that the graph does not have (or whose position it lacks), or, for scores, a
 * different Q/K/V or position layout, the count mismatch and the first missing edge
 * ("scores file for another model's graph?"); AC_ERR_FORMAT (scores asked of a
 * ground-truth file); AC_ERR_NOMEM. `path` is used in error messages only. */
int ac_scores_file_to_graph(const ac_scores_file *f, const ac_graph *g, const char *path,
                            float *scores, uint8_t *in_file, ac_error *err);

/* ---- curves ------------------------------------------------------------------------ */

/* A faithfulness curve (the evaluate command's result). Strings borrowed. */
typedef struct ac_curve {
    const char *model, *data, *scores_path, *ablation, *patch, *split;
    size_t n_prompts;
    size_t n_edges_total;       /* edges of the graph */
    const ac_eval_point *points;/* [n_points], ascending edge counts */
    size_t n_points;
    double clean_logit_diff;    /* full model, clean input */
    double corrupt_logit_diff;  /* full model, corrupt input */
    double auc_logit_diff;      /* ac_measurements_auc of (edges, logit_diff), NaN: none */
    double auc_logit_diff_log;  /* the same on a log x axis */
    double auc_kl;              /* of (edges, kl) */
    /* with a ground truth (n_roc > 0) */
    const char *ground_truth;
    const ac_point *roc;        /* [n_roc] */
    size_t n_roc;
    double roc_auc;
    size_t ground_truth_edges;
    double seconds;             /* < 0: omitted */
    const char *extra_json;     /* NULL, or a JSON object whose members are added to
                                   "settings" (e.g. {"signed": false}) */
} ac_curve;

/* Write a curve file. Errors: AC_ERR_IO, AC_ERR_ARG (extra_json is not a JSON object),
 * AC_ERR_NOMEM. NaN values are written as null, infinities as "inf" / "-inf". */
int ac_curve_write(const char *path, const ac_curve *c, ac_error *err);

/* A curve read back (for reports): owned arrays, freed by ac_curve_file_free. */
typedef struct ac_curve_file {
    ac_eval_point *points; size_t n_points;
    ac_point *roc; size_t n_roc;
    double roc_auc, auc_logit_diff, clean_logit_diff;
    size_t n_edges_total;
    char *settings_json;   /* the whole top-level object minus points/roc, compact JSON */
} ac_curve_file;

int ac_curve_file_read(const char *path, ac_curve_file **out, ac_error *err);
void ac_curve_file_free(ac_curve_file *f);

/* ---- knockout files (autocircuit knockout; docs/schemas.md) ------------------------ */

/* A learned-knockout run to write. Strings borrowed (NULL: omitted). */
typedef struct ac_knockout_doc {
    const char *model, *data, *scores_path, *ground_truth_path, *algo, *split;
    size_t n_prompts;
    const ac_knockout_opts *opts;       /* the options used */
    size_t requested_size;              /* circuit size asked for (--edges), 0: a ground truth */
    const ac_graph *g;
    const uint8_t *in_circuit;          /* [g->n_edges] */
    const float *scores;                /* [g->n_edges] learned logits (circuit edges) */
    const ac_knockout_result *learned, *empty;
    const double *loss;                 /* [n_loss] mean loss per epoch */
    size_t n_loss;
    double seconds;                     /* < 0: omitted */
} ac_knockout_doc;

/* Write a knockout file. Errors: AC_ERR_IO, AC_ERR_NOMEM. */
int ac_knockout_write(const char *path, const ac_knockout_doc *d, ac_error *err);

/* One circuit edge of a knockout file. */
typedef struct ac_knockout_edge {
    char src[32], dest[32];
    int pos;           /* -1 when not per position */
    double score;      /* the learned logit */
    int knocked_out;   /* in K */
} ac_knockout_edge;

/* A knockout file read back (for reports). */
typedef struct ac_knockout_file {
    char *label;                 /* settings.algo, else settings.scores, else "" */
    size_t requested_size;
    ac_knockout_result learned, empty;
    ac_knockout_edge *edges;     /* [n_edges] the circuit's edges, file order */
    size_t n_edges;
    double *loss;                /* [n_loss] */
    size_t n_loss;
    char *settings_json;         /* "settings" as compact JSON, or NULL */
} ac_knockout_file;

/* Errors: AC_ERR_IO, AC_ERR_FORMAT (another format, missing or mistyped keys, naming
 * the key), AC_ERR_NOMEM. */
int ac_knockout_file_read(const char *path, ac_knockout_file **out, ac_error *err);
void ac_knockout_file_free(ac_knockout_file *f);

/* ---- exports ----------------------------------------------------------------------- */

/* CSV: header "src,dest,pos,score,abs_score,rank" then one row per edge in file order
 * (rank 1 = largest |score|, ties by file order; pos empty when not per position; score,
 * abs_score and rank empty for a ground-truth file). Names with commas or quotes are
 * quoted as RFC 4180 says. */
int ac_export_csv(const char *path, const ac_scores_file *f, ac_error *err);

/* Graphviz DOT of the circuit made of the top_k edges by |score| (ties inclusive, as
 * ac_prune_scores_select): nodes named as in the graph (Q/K/V inputs drawn as their
 * head, the letter in the edge label), edges labelled with scores, coloured by sign
 * (blue positive, red negative), width by |score|. top_k 0: all edges with a non-zero
 * score. Per-position files get one cluster of nodes per position (labelled with
 * seq_labels when the file has them). Ground-truth files: every listed edge. */
int ac_export_dot(const char *path, const ac_scores_file *f, size_t top_k, ac_error *err);

/* The MIB benchmark's graph JSON, as EAP-IG's Graph.to_json writes it: {"cfg":
 * {"n_layers", "n_heads", "parallel_attn_mlp"}, "nodes": {name: in_graph (bool)},
 * "edges": {"a0.h1->a1.h2<q>": {"score": s, "in_graph": bool}}} with MIB's names
 * (input, a{l}.h{h}, m{l}, logits; <q>/<k>/<v> on attention inputs). The top_k edges
 * (ties inclusive; top_k 0: every edge with a non-zero score) are in_graph; a node is
 * in_graph when a selected edge enters it and one leaves it (input: one leaves; logits:
 * always), without MIB's further pruning. Per-position files are summed over positions;
 * ±inf scores are written as ±FLT_MAX (MIB reads plain JSON numbers); ground truths
 * score 1 per listed edge. Errors: AC_ERR_UNSUPPORTED for combined-Q/K/V files (MIB
 * needs q/k/v) and grouped-query K/V inputs (A{l}.kv{g}.K), which MIB cannot name. */
int ac_export_mib_json(const char *path, const ac_scores_file *f, size_t top_k,
                       ac_error *err);

/* MIB name of an auto-circuit node name ("A3.1" -> "a3.h1", "MLP 4" -> "m4",
 * "Resid Start" -> "input", "Resid End" -> "logits"; "A3.1.Q" -> "a3.h1" with
 * *qkv = 'q'; *qkv = 0 otherwise, qkv may be NULL). Returns buf, or NULL for an unknown
 * name (including grouped-query "A3.kv1.K"). */
char *ac_mib_node_name(const char *name, char *buf, size_t n, char *qkv);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_SCORES_H */
