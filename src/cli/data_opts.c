/* Dataset options shared by the subcommands. */
#include "cli/data_opts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

const char ac_cli_data_help[] =
    "dataset options (auto-circuit's load_datasets_from_json; defaults as there):\n"
    "  --data FILE.json[,FILE2.json...]  prompt pairs (required; several files, comma-\n"
    "                        separated or repeated: the first is read in full, later ones\n"
    "                        add prompts)\n"
    "  --tokenizer PATH      tokenizer for text prompts (default: the model's own)\n"
    "  --no-bos              do not prepend BOS (default: prepend)\n"
    "  --batch-size N[,M]    prompts per batch, or train,test (default 32)\n"
    "  --train-test N,M      prompts in the train and test splits; 'all' for either\n"
    "                        takes the rest (default 128,128)\n"
    "  --split train|test|all  which split to use (default train)\n"
    "  --no-shuffle          keep file order (default: shuffle once, Python's RNG)\n"
    "  --seed S              shuffle seed (default 42)\n"
    "  --fixed-length        every prompt must have the same length (no padding)\n"
    "  --drop-last           drop an incomplete last batch as auto-circuit does\n"
    "                        (default: keep it as a smaller batch)\n";

void ac_cli_data_init(ac_cli_data_args *d) {
    memset(d, 0, sizeof *d);
    ac_dataset_options_default(&d->opts);
    d->split = AC_SPLIT_TRAIN;
}

static int parse_size_pair(const char *opt, const char *v, size_t *a, size_t *b, int allow_all) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    char *comma = strchr(buf, ',');
    if (comma) *comma = 0;
    const char *parts[2] = {buf, comma ? comma + 1 : buf};
    size_t *outs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (allow_all && !strcmp(parts[k], "all")) {
            *outs[k] = AC_DATASET_ALL;
            continue;
        }
        long x;
        if (ac_cli_int(opt, parts[k], 0, 100000000, &x)) return -1;
        *outs[k] = (size_t)x;
    }
    return 1;
}

int ac_cli_data_option(int argc, char **argv, int *i, ac_cli_data_args *d) {
    const char *v;
    int r;
    if (!strcmp(argv[*i], "--no-bos")) return d->opts.prepend_bos = 0, 1;
    if (!strcmp(argv[*i], "--no-shuffle")) return d->opts.shuffle = 0, 1;
    if (!strcmp(argv[*i], "--fixed-length")) return d->opts.fixed_length = 1, 1;
    if (!strcmp(argv[*i], "--drop-last")) return d->opts.drop_last = 1, 1;
    if ((r = ac_cli_opt(argc, argv, i, "--data", &v))) {
        if (r < 0) return -1;
        /* FILE1,FILE2: several files, unless a file of that very name exists; the
         * argument string is split in place (argv strings are writable) */
        char *p = (char *)v, *comma = NULL;
        if (strchr(v, ',') && access(v, F_OK) != 0) comma = strchr(p, ',');
        for (;;) {
            if (comma) *comma = 0;
            if (*p) {
                if (d->n_paths == sizeof d->paths / sizeof d->paths[0])
                    return ac_cli_usage_error("too many --data files"), -1;
                d->paths[d->n_paths++] = p;
            }
            if (!comma) break;
            p = comma + 1;
            comma = strchr(p, ',');
        }
        return 1;
    }
    if ((r = ac_cli_opt(argc, argv, i, "--tokenizer", &v))) {
        if (r < 0) return -1;
        d->tokenizer = v;
        return 1;
    }
    if ((r = ac_cli_opt(argc, argv, i, "--batch-size", &v))) {
        if (r < 0) return -1;
        if (parse_size_pair("--batch-size", v, &d->opts.train_batch_size, &d->opts.test_batch_size, 0) < 0) return -1;
        if (!d->opts.train_batch_size || !d->opts.test_batch_size)
            return ac_cli_usage_error("--batch-size must be positive"), -1;
        return 1;
    }
    if ((r = ac_cli_opt(argc, argv, i, "--train-test", &v))) {
        if (r < 0) return -1;
        return parse_size_pair("--train-test", v, &d->opts.train_size, &d->opts.test_size, 1) < 0 ? -1 : 1;
    }
    if ((r = ac_cli_opt(argc, argv, i, "--seed", &v))) {
        long x;
        if (r < 0 || ac_cli_int("--seed", v, 0, 2147483647, &x)) return -1;
        d->opts.seed = (uint64_t)x;
        return 1;
    }
    if ((r = ac_cli_opt(argc, argv, i, "--split", &v))) {
        if (r < 0) return -1;
        if (!strcmp(v, "train")) d->split = AC_SPLIT_TRAIN;
        else if (!strcmp(v, "test")) d->split = AC_SPLIT_TEST;
        else if (!strcmp(v, "all")) d->split_all = 1;
        else return ac_cli_usage_error("--split: expected train, test or all, got '%s'", v), -1;
        return 1;
    }
    return 0;
}

int ac_cli_data_load(const ac_cli_data_args *d, const char *model_path, const ac_model *m,
                     ac_tokenizer **tok, ac_dataset **ds, ac_error *err) {
    *tok = NULL;
    *ds = NULL;
    if (d->n_paths == 0) return ac_error_set(err, AC_ERR_ARG, NULL, "--data FILE.json is required");
    int rc;
    if (d->tokenizer) {
        if ((rc = ac_tokenizer_load(tok, d->tokenizer, err))) return rc;
    } else if (model_path && ac_tokenizer_load_for_model(tok, model_path, NULL)) {
        *tok = NULL; /* token-id datasets need none */
    }
    ac_dataset_options o = d->opts;
    if (m) {
        const ac_config *c = ac_model_config(m);
        o.vocab_size = c->vocab_size;
        if (o.bos_id < 0 && !*tok && c->bos_id >= 0) o.bos_id = c->bos_id;
    }
    if (d->split_all) {
        /* one split holding every requested prompt */
        if (o.train_size != AC_DATASET_ALL && o.test_size != AC_DATASET_ALL) o.train_size += o.test_size;
        else o.train_size = AC_DATASET_ALL;
        o.test_size = 0;
    }
    rc = ac_dataset_load(ds, d->paths, d->n_paths, *tok, &o, err);
    if (rc) {
        ac_tokenizer_free(*tok);
        *tok = NULL;
    }
    return rc;
}

const ac_split *ac_cli_data_split(const ac_cli_data_args *d, const ac_dataset *ds, ac_split *merged) {
    (void)merged;
    return ac_dataset_split(ds, d->split_all ? AC_SPLIT_TRAIN : d->split);
}
