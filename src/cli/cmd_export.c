/* autocircuit export: a scores file as CSV, Graphviz DOT or MIB graph JSON. */
#include <string.h>

#include "cli/cli.h"

static void export_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit export --scores FILE --format csv|dot|mib --out FILE [--top N]\n"
            "\n"
            "Convert a scores or ground-truth file (docs/schemas.md):\n"
            "  csv   one row per edge: src,dest,pos,score,abs_score,rank\n"
            "  dot   Graphviz graph of the top-N edges by |score| (render: dot -Tsvg FILE)\n"
            "  mib   the MIB benchmark's graph JSON (EAP-IG's Graph.to_json), top-N edges in_graph;\n"
            "        per-position scores summed over positions\n"
            "\n"
            "  --scores FILE         scores or ground-truth file (required)\n"
            "  --format FMT          csv, dot or mib (required)\n"
            "  --out FILE            file to write (required)\n"
            "  --top N               dot and mib: the N edges of largest |score|, ties included;\n"
            "                        0 = every edge with a non-zero score (default 0)\n"
            "  -h, --help            this help\n");
}

int ac_cli_export(int argc, char **argv) {
    const char *scores_path = NULL, *format = NULL, *out = NULL, *v;
    long top = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            export_usage(stdout);
            return 0;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--scores", &v))) scores_path = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--format", &v))) format = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = ac_cli_opt(argc, argv, &i, "--top", &v))) {
            if (r > 0 && ac_cli_int("--top", v, 0, 2000000000L, &top)) return AC_ERR_ARG;
        } else return ac_cli_usage_error("export: unknown option '%s' (see 'autocircuit export --help')", argv[i]);
        if (r < 0) return AC_ERR_ARG;
    }
    if (!scores_path) return ac_cli_usage_error("export: --scores FILE is required");
    if (!format) return ac_cli_usage_error("export: --format csv|dot|mib is required");
    if (!out) return ac_cli_usage_error("export: --out FILE is required");
    const int fmt = !strcmp(format, "csv") ? 0 : !strcmp(format, "dot") ? 1 : !strcmp(format, "mib") ? 2 : -1;
    if (fmt < 0) return ac_cli_usage_error("export: --format: expected csv, dot or mib, got '%s'", format);
    if (fmt == 0 && top) return ac_cli_usage_error("export: --top applies to dot and mib only");
    ac_error err;
    ac_scores_file *f;
    int rc = ac_scores_file_read(scores_path, &f, &err);
    if (rc) return ac_cli_fail(&err);
    if (fmt == 0) rc = ac_export_csv(out, f, &err);
    else if (fmt == 1) rc = ac_export_dot(out, f, (size_t)top, &err);
    else rc = ac_export_mib_json(out, f, (size_t)top, &err);
    ac_scores_file_free(f);
    /* what the writers refuse besides I/O and memory is the input's doing: name it */
    if (rc && rc != AC_ERR_IO && rc != AC_ERR_NOMEM) snprintf(err.file, sizeof err.file, "%s", scores_path);
    return rc ? ac_cli_fail(&err) : 0;
}
