/* autocircuit report: the HTML/SVG report of a scores file (with curve, ground truth). */
#include <string.h>

#include "autocircuit/report.h"
#include "cli/cli.h"

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: autocircuit report --scores FILE [--curve FILE] [--ground-truth FILE]\n"
            "                          [--top N | --edges K] [--format html|svg] [--title TEXT]\n"
            "                          [--knockout FILE]... [--similar FILE]... [--similarity-top LIST]\n"
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
            "  --knockout FILE       knockout file from 'autocircuit knockout': adds the section\n"
            "                        \"Completeness (same under knockouts)\" (repeatable, up to 16)\n"
            "  --similar FILE        another scores file of the same graph: adds the section\n"
            "                        \"Similarity\", the top-N overlap of every pair (repeatable,\n"
            "                        up to 31)\n"
            "  --similarity-top LIST the N of the similarity tables, comma-separated (default\n"
            "                        10,100, those not above the edge count)\n"
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
    const char *ko_paths[16], *sim_paths[31];
    size_t n_ko = 0, n_sim = 0, n_simtop = 0;
    size_t simtop[64];
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
        } else if ((r = ac_cli_opt(argc, argv, &i, "--knockout", &v))) {
            if (r < 0) return AC_ERR_ARG;
            if (n_ko == 16) return ac_cli_usage_error("report: at most 16 --knockout files");
            ko_paths[n_ko++] = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--similar", &v))) {
            if (r < 0) return AC_ERR_ARG;
            if (n_sim == 31) return ac_cli_usage_error("report: at most 31 --similar files");
            sim_paths[n_sim++] = v;
        } else if ((r = ac_cli_opt(argc, argv, &i, "--similarity-top", &v))) {
            if (r < 0) return AC_ERR_ARG;
            int32_t *ids = NULL;
            int n = 0;
            if (ac_cli_ids("--similarity-top", v, &ids, &n)) return AC_ERR_ARG;
            n_simtop = 0;
            for (int k = 0; k < n && k < 64; k++) {
                if (ids[k] < 1) {
                    ac_free(ids);
                    return ac_cli_usage_error("--similarity-top: counts must be positive");
                }
                simtop[n_simtop++] = (size_t)ids[k];
            }
            ac_free(ids);
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
    ac_knockout_file *kos[16] = {0};
    ac_scores_file *sims[31] = {0};
    int rc = ac_scores_file_read(scores_path, &scores, &err);
    if (!rc && gt_path) rc = ac_scores_file_read(gt_path, &gt, &err);
    if (!rc && curve_path) rc = ac_curve_file_read(curve_path, &curve, &err);
    for (size_t k = 0; !rc && k < n_ko; k++) rc = ac_knockout_file_read(ko_paths[k], &kos[k], &err);
    for (size_t k = 0; !rc && k < n_sim; k++) rc = ac_scores_file_read(sim_paths[k], &sims[k], &err);
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
        in.knockouts = (const ac_knockout_file *const *)kos;
        in.n_knockouts = n_ko;
        in.knockout_paths = ko_paths;
        in.similar = (const ac_scores_file *const *)sims;
        in.n_similar = n_sim;
        in.similar_paths = sim_paths;
        in.similarity_top = n_simtop ? simtop : NULL;
        in.n_similarity_top = n_simtop;
        rc = svg ? ac_report_write_svg(out, &in, &err) : ac_report_write_html(out, &in, &err);
    }
    ac_scores_file_free(scores);
    ac_scores_file_free(gt);
    ac_curve_file_free(curve);
    for (size_t k = 0; k < n_ko; k++) ac_knockout_file_free(kos[k]);
    for (size_t k = 0; k < n_sim; k++) ac_scores_file_free(sims[k]);
    if (rc) return ac_cli_fail(&err);
    printf("wrote %s\n", out);
    return 0;
}
