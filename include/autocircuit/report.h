/* autocircuit — the HTML/SVG report of a discovery run (docs/report.md).
 *
 * A report is drawn from result files alone (no model): a scores file (ac_scores_file),
 * optionally a faithfulness curve (ac_curve_file) and a ground-truth circuit. The HTML
 * page is one self-contained file (inline CSS and SVG, no scripts, no network, no
 * external fonts) with
 *   - the circuit diagram: the top edges by |score| and their nodes, laid out by graph
 *     layer (Resid Start at the bottom, Resid End at the top, the heads of one layer side
 *     by side with their Q/K/V inputs as ports), edge width by |score|, colour by sign
 *     (blue positive, red negative), ground-truth edges under an amber halo; with
 *     per-position edges one column per token position, labelled with seq_labels;
 *   - faithfulness curves (each metric against the edge count, linear and log x) and the
 *     ROC curve when a ground truth is known;
 *   - a table of the drawn edges and the run's settings.
 *
 * Node names are auto-circuit's and are parsed for the layout: sources "Resid Start",
 * "A{l}.{h}", "MLP {l}"; destinations "A{l}.{h}.Q|K|V" (or "A{l}.{h}" with combined
 * Q/K/V), "A{l}.kv{g}.K|V" (grouped-query key/value heads), "MLP {l}", "Resid End".
 *
 * Text extents are estimated with DejaVu Sans advance widths (the font the SVG asks for
 * first) plus a margin, so that nothing overlaps with DejaVu Sans or any narrower
 * fallback font.
 */
#ifndef AUTOCIRCUIT_REPORT_H
#define AUTOCIRCUIT_REPORT_H

#include "autocircuit/scores.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AC_REPORT_DEFAULT_TOP 30   /* edges drawn when ac_report_input.top is 0 */
#define AC_REPORT_MAX_EDGES 1000   /* the most edges a diagram draws (ties included) */

typedef struct ac_report_input {
    const ac_scores_file *scores;       /* required; must have scores (has_scores) */
    const ac_curve_file *curve;         /* NULL: no faithfulness section */
    const ac_scores_file *ground_truth; /* NULL: none. Edges are matched by (src, dest,
                                           pos); a ground truth without positions
                                           matches the edge at every position, one with
                                           positions matches a file without them by
                                           (src, dest). */
    size_t top;      /* draw the `top` edges with the largest |score|, ties at the cutoff
                        included (edges with score 0 or NaN never); 0: the default
                        AC_REPORT_DEFAULT_TOP. At most AC_REPORT_MAX_EDGES: ties beyond
                        that are dropped in file order (and the diagram says so). */
    int circuit;     /* != 0: `top` names a circuit size (the CLI's --edges K): the
                        diagram is titled "circuit of K edges" and the curves mark K */
    /* Optional "Completeness (same under knockouts)" section: knockout files from
     * `autocircuit knockout` (paths: [n_knockouts] names for the table, may be NULL). */
    const ac_knockout_file *const *knockouts;
    size_t n_knockouts;
    const char *const *knockout_paths;
    /* Optional "Similarity" section: top-N overlap of `scores` and these scores files of
     * the same graph (paths: [n_similar], may be NULL) at the counts similarity_top
     * (NULL or 0 of them: 10 and 100, those not above the edge count). Errors:
     * AC_ERR_SHAPE (another graph), AC_ERR_FORMAT (a ground-truth file). */
    const ac_scores_file *const *similar;
    size_t n_similar;
    const char *const *similar_paths;
    const size_t *similarity_top;
    size_t n_similarity_top;
    const char *title;               /* page title; NULL: "Circuit report" */
    const char *scores_path;         /* shown in the settings; NULL: omitted */
    const char *curve_path;
    const char *ground_truth_path;
} ac_report_input;

/* ---- diagram geometry (for tests and other renderers) ------------------------------ */

typedef enum ac_report_box_kind {
    AC_REPORT_NODE = 0,       /* a node's box; text = the node's name (e.g. "A3.1") */
    AC_REPORT_NODE_LABEL = 1, /* the node's label, inside its node (parent) */
    AC_REPORT_PORT = 2,       /* a Q/K/V input cell along a node's bottom (parent: node) */
    AC_REPORT_PORT_LABEL = 3, /* "Q", "K", "V", inside its port (parent: port) */
    AC_REPORT_TEXT = 4,       /* free text: row, position and legend labels */
    AC_REPORT_SWATCH = 5,     /* free graphic: a legend sample line; text "positive",
                                 "negative", "min", "max" or "ground-truth" */
    AC_REPORT_TOKEN = 6       /* free: a token position's label in a framed chip */
} ac_report_box_kind;

typedef struct ac_report_box {
    ac_report_box_kind kind;
    int parent;          /* index of the containing box, -1 for free boxes */
    double x, y, w, h;   /* px; origin top left, y down. For text: the area the text
                            must fit in (estimated extent plus margin) */
    char text[96];       /* displayed text (sanitised UTF-8), a node's name, or "" */
    int pos;             /* token position of the box's column, -1 when none */
    double font_px;      /* font size of the text, 0 for boxes without text */
    int bold;            /* the text is bold */
} ac_report_box;

typedef struct ac_report_edge {
    size_t record;          /* index into scores->edges */
    double x1, y1;          /* start: on the top side of the source's box */
    double x2, y2;          /* end: on the bottom side of the destination's port/box */
    double width;           /* stroke width, px (grows with |score|) */
    int in_ground_truth;    /* 1 when the ground truth contains the edge */
} ac_report_edge;

typedef struct ac_report_layout {
    double width, height;      /* canvas, px */
    ac_report_box *boxes;      /* [n_boxes]; parents come before their children */
    size_t n_boxes;
    ac_report_edge *edges;     /* [n_edges]: the drawn edges, by descending |score| */
    size_t n_edges;
    size_t n_nodes;            /* AC_REPORT_NODE boxes */
    size_t n_columns;          /* token positions drawn (1 without positions) */
    size_t n_candidates;       /* edges with a non-zero, non-NaN score */
    size_t n_dropped_ties;     /* tied edges beyond AC_REPORT_MAX_EDGES, not drawn */
    double max_abs, min_abs;   /* largest / smallest |score| drawn (finite part) */
} ac_report_layout;

/* Lay out the diagram of in->scores' top edges. *out is owned by the caller
 * (ac_report_layout_free). Errors: AC_ERR_ARG (no scores, a ground-truth file given as
 * scores, top > AC_REPORT_MAX_EDGES), AC_ERR_FORMAT (a node name that is not
 * auto-circuit's), AC_ERR_SHAPE (a ground-truth edge that the scores file lacks),
 * AC_ERR_NOMEM. */
int ac_report_layout_diagram(const ac_report_input *in, ac_report_layout **out,
                             ac_error *err);
void ac_report_layout_free(ac_report_layout *l);

/* Estimated advance width in px of UTF-8 text at font size px in DejaVu Sans (bold != 0:
 * DejaVu Sans Bold); non-ASCII characters are counted wide. Without the layout margin. */
double ac_report_text_width(const char *utf8, double px, int bold);

/* ---- output ------------------------------------------------------------------------ */

typedef enum ac_report_format {
    AC_REPORT_HTML = 0,  /* the whole page */
    AC_REPORT_SVG = 1    /* the diagram alone, a standalone SVG document */
} ac_report_format;

/* Render into a NUL-terminated ac_malloc'd string (*text, caller frees with ac_free;
 * *len without the NUL, len may be NULL). The output depends on the inputs only (no
 * dates), so equal inputs give byte-identical reports. Errors: those of
 * ac_report_layout_diagram. */
int ac_report_render(const ac_report_input *in, ac_report_format format, char **text,
                     size_t *len, ac_error *err);

/* Render and write atomically (src/util/atomic_file.h). Errors: those of
 * ac_report_render, AC_ERR_IO naming the path. */
int ac_report_write_html(const char *path, const ac_report_input *in, ac_error *err);
int ac_report_write_svg(const char *path, const ac_report_input *in, ac_error *err);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_REPORT_H */
