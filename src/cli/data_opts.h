/* Dataset options shared by `data`, `discover` and `evaluate`. */
#ifndef AC_CLI_DATA_OPTS_H
#define AC_CLI_DATA_OPTS_H

#include "autocircuit.h"

typedef struct ac_cli_data_args {
    const char *paths[16];
    size_t n_paths;
    const char *tokenizer;
    ac_dataset_options opts;
    ac_split_kind split;
    int split_all; /* --split all: train and test together as one split */
} ac_cli_data_args;

void ac_cli_data_init(ac_cli_data_args *d);

/* Consume argv[*i] (and its value) if it is a dataset option: returns 1 if consumed,
 * 0 if not one, -1 on a bad value (an error was printed). */
int ac_cli_data_option(int argc, char **argv, int *i, ac_cli_data_args *d);

/* Help text of the dataset options, for the commands' --help. */
extern const char ac_cli_data_help[];

/* Load the tokenizer (--tokenizer, else the model's own, else none) and the dataset.
 * On success *tok (may be NULL) and *ds are owned by the caller. */
int ac_cli_data_load(const ac_cli_data_args *d, const char *model_path, const ac_model *m,
                     ac_tokenizer **tok, ac_dataset **ds, ac_error *err);

/* The split the command works on (train, test, or both merged when split_all). */
const ac_split *ac_cli_data_split(const ac_cli_data_args *d, const ac_dataset *ds, ac_split *merged);

#endif
