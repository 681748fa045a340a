/* Setup shared by `discover` and `evaluate`: model, dataset split, graph, algorithm
 * context, and the option parsers both use. */
#ifndef AC_CLI_CIRCUIT_COMMON_H
#define AC_CLI_CIRCUIT_COMMON_H

#include "autocircuit.h"
#include "cli/cli.h"
#include "cli/data_opts.h"

typedef struct ac_cli_session {
    ac_model *m;
    ac_tokenizer *tok;
    ac_dataset *ds;          /* NULL when the command needs no data */
    const ac_split *split;   /* NULL likewise */
    ac_split merged;
    ac_graph *g;
    ac_algo_ctx *ctx;        /* NULL without data */
    char data[4096];         /* the dataset paths, comma-joined ("" without data) */
} ac_cli_session;

/* Load the model and (need_data) the dataset, build the graph (separate_qkv; seq_len:
 * 0 = no positions, -1 = per position at the split's common sequence length, > 0 = per
 * position, the split's length must equal it) and the algorithm context with progress
 * `prog` (may be NULL). On error everything is released. */
int ac_cli_session_open(ac_cli_session *s, const char *model_path, const ac_cli_data_args *d,
                        int need_data, int separate_qkv, int seq_len, ac_cli_progress *prog,
                        ac_error *err);
void ac_cli_session_close(ac_cli_session *s);

/* "--ablation NAME" etc. as the library parses them, with '-' for '_' accepted.
 * Return 0, or print an error and return -1. */
int ac_cli_parse_ablation(const char *v, ac_ablation *out);
/* Comma-separated doubles; *vals is ac_malloc'd. */
int ac_cli_parse_doubles(const char *opt, const char *v, double **vals, size_t *n);

#endif
