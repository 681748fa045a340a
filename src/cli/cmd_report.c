/* autocircuit report: the HTML/SVG report of a scores file (with curve, ground truth). */
#include <string.h>

#include "autocircuit/report.h"
#include "cli/cli.h"

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit report --scores FILE [--curve FILE] [--ground-truth FILE]\n"
            "                          [--top N | --edges K] [--format html|svg] [--title TEXT]\n"
            "                          [--out FILE]\n"
            "\n"
            "Write one self-contained HTML page (no scripts, no network) with the circuit diagram\n"
            "of the top edges by |score|, faithfulness curves (with --curve), the ROC curve (with\n"
            "--ground-truth, or from a curve file that has one), a table of the drawn edges and\n"
            "the run's settings; or, with --format svg, the diagram alone. See docs/report.md.\n"
            "\n"
            "  --scores FILE         scores file from 'autocircuit discover' (required)\n"
            "  --curve FILE          curve file from 'autocircuit evaluate' (default: none)\n"
            "  --ground-truth FILE   ground-truth circuit: its edges get an amber halo, and the\n"
            "                        ROC curve of the scores against it is drawn (default: none)\n"
            "  --top N               draw the N edges with the largest |score|, ties at the cutoff\n"
            "                        included, zero scores never (default %d, at most %d)\n"
            "  --edges K             the same selection named as the circuit of K edges; the\n"
            "                        curves mark K (instead of --top)\n"
            "  --format html|svg     what to write (default html)\n"
            "  --title TEXT          page title (default \"Circuit report\")\n"
            "  --out FILE            output file (default report.html, or report.svg)\n"
            "  -h, --help            this help\n",
            AC_REPORT_DEFAULT_TOP, AC_REPORT_MAX_EDGES);
}

int ac_cli_report(int argc, char **argv) {
    const char *scores_path = NULL, *curve_path = NULL, *gt_path = NULL, *out = NULL, *title = NULL;
    const char *fmt = "html", *v;
    long top = 0, edges = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            report_usage(stdout);
            return 0;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--scores", &v))) {
            if (r < 0) return AC_ERR_ARG;
            scores_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--curve", &v))) {
            if (r < 0) return AC_ERR_ARG;
            curve_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--ground-truth", &v))) {
            if (r < 0) return AC_ERR_ARG;
            gt_path = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--top", &v))) {
            if (r < 0 || ac_cli_int("--top", v, 1, AC_REPORT_MAX_EDGES, &top)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--edges", &v))) {
            if (r < 0 || ac_cli_int("--edges", v, 1, AC_REPORT_MAX_EDGES, &edges)) return AC_ERR_ARG;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--format", &v))) {
            if (r < 0) return AC_ERR_ARG;
            if (strcmp(v, "html") && strcmp(v, "svg"))
                return ac_cli_usage_error("report: --format must be html or svg, not '%s'", v);
            fmt = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--title", &v))) {
            if (r < 0) return AC_ERR_ARG;
            title = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--out", &v))) {
            if (r < 0) return AC_ERR_ARG;
            out = v;
        } else {
            return ac_cli_usage_error("report: unknown option '%s' (see 'autocircuit report --help')", argv[i]);
        }
    }
    if (!scores_path) return ac_cli_usage_error("report: --scores FILE is required");
    if (top && edges) return ac_cli_usage_error("report: give --top N or --edges K, not both");
    const int svg = !strcmp(fmt, "svg");
    if (!out) out = svg ? "report.svg" : "report.html";

    ac_error err;
    ac_scores_file *scores = NULL, *gt = NULL;
    ac_curve_file *curve = NULL;
    int rc = ac_scores_file_read(scores_path, &scores, &err);
    if (!rc && gt_path) rc = ac_scores_file_read(gt_path, &gt, &err);
    if (!rc && curve_path) rc = ac_curve_file_read(curve_path, &curve, &err);
    if (!rc) {
        ac_report_input in;
        memset(&in, 0, sizeof in);
        in.scores = scores;
        in.ground_truth = gt;
        in.curve = curve;
        in.top = (size_t)(edges ? edges : top);
        in.circuit = edges > 0;
        in.title = title;
        in.scores_path = scores_path;
        in.curve_path = curve_path;
        in.ground_truth_path = gt_path;
        rc = svg ? ac_report_write_svg(out, &in, &err) : ac_report_write_html(out, &in, &err);
    }
    ac_scores_file_free(scores);
    ac_scores_file_free(gt);
    ac_curve_file_free(curve);
    if (rc) return ac_cli_fail(&err);
    printf("wrote %s\n", out);
    return 0;
}
