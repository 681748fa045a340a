/* Internal helpers of the report (src/report/{svg,layout,diagram,plot,report_html}.c). */
#ifndef AC_REPORT_INTERNAL_H
#define AC_REPORT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "autocircuit/report.h"

/* ---- growable text buffer (svg.c) ---- */
typedef struct ac__sbuf {
    char *p;
    size_t n, cap;
    int failed; /* an allocation failed: later appends are ignored */
} ac__sbuf;

void ac__sb_putn(ac__sbuf *b, const char *s, size_t n);
void ac__sb_puts(ac__sbuf *b, const char *s);
void ac__sb_printf(ac__sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s XML/HTML-escaped (& < > " '), sanitised like ac__label_text without a length
 * limit: invalid UTF-8 becomes U+FFFD, control characters visible escapes. */
void ac__sb_esc(ac__sbuf *b, const char *s);
void ac__sb_free(ac__sbuf *b);

/* Displayable form of a label: valid UTF-8 is kept, invalid bytes and the XML-illegal
 * U+FFFE/U+FFFF become U+FFFD, "\n" "\t" "\r" become backslash escapes, other control
 * characters "\xHH"; more than max_chars characters (0: no limit) are cut and end in an
 * ellipsis. Writes at most n bytes including the NUL (never splitting a character). */
void ac__label_text(const char *in, char *out, size_t n, size_t max_chars);

/* A number for display: %.4g, "inf"/"-inf"/"NaN" spelled out. buf >= 32 bytes. */
const char *ac__fmt_num(double v, char *buf, size_t n);
/* An integer with thousands separators (",") */
const char *ac__fmt_count(size_t v, char *buf, size_t n);

/* Fonts and sizes shared by the SVG parts. The font's ascent/descent (DejaVu Sans:
 * 1901 + 483 of 2048 units) give a text line's height. */
#define AC__FONT_FAMILY "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, sans-serif"
#define AC__ASCENT 0.9283
#define AC__DESCENT 0.2359
/* Box for text of the given size: estimated width with margin, line height. */
double ac__text_box_w(const char *utf8, double px, int bold);
double ac__text_box_h(double px);

/* ---- parsed node names (layout.c) ---- */
typedef enum { AC__NK_RESID_START, AC__NK_HEAD, AC__NK_KV, AC__NK_MLP, AC__NK_RESID_END } ac__node_kind;
typedef struct ac__node_ref {
    ac__node_kind kind;
    int layer;  /* -1 for Resid Start/End */
    int index;  /* head or key/value group, else -1 */
    char port;  /* 'Q', 'K', 'V' for Q/K/V destinations, 'I' for a combined head input,
                   0 otherwise */
} ac__node_ref;
/* Parse an auto-circuit node name as a source (is_dest 0) or destination. Returns 0, or
 * -1 when the name is not one. */
int ac__parse_node(const char *name, int is_dest, ac__node_ref *r);

/* Prepared data shared by the diagram, the table and the curves (layout.c). */
typedef struct ac__report_prep {
    const ac_report_input *in;
    size_t top;           /* requested (default applied) */
    uint8_t *in_gt;       /* [scores->n_edges] or NULL without ground truth */
    size_t n_gt;          /* scores edges in the ground truth */
    size_t *sel;          /* drawn edge indices, by descending |score| (file order ties) */
    size_t n_sel;
    size_t n_candidates, n_dropped;
    int n_layers;         /* blocks, from the largest layer of any name */
} ac__report_prep;

int ac__report_prepare(const ac_report_input *in, ac__report_prep *p, ac_error *err);
void ac__report_prep_free(ac__report_prep *p);
int ac__layout_build(const ac__report_prep *p, ac_report_layout **out, ac_error *err);

/* ---- drawing ---- */
/* The diagram's <svg> element (standalone: with the XML declaration and namespace). */
void ac__diagram_svg(ac__sbuf *b, const ac__report_prep *p, const ac_report_layout *l,
                     int standalone);

/* A line plot (plot.c): series of (x, y) points, NaN y values break the line. */
typedef struct ac__plot_series {
    const char *name;
    const double *x, *y;
    size_t n;
    const char *color;
    int step_hv;   /* draw as a step curve: horizontal then vertical */
} ac__plot_series;

typedef struct ac__plot {
    const char *title, *x_label, *y_label;
    int log_x;                 /* log10 x axis; points with x <= 0 are left out */
    double width, height;
    const ac__plot_series *series;
    size_t n_series;
    double hline;              /* dashed reference line at y (NaN: none) */
    const char *hline_label;
    double vline;              /* dashed marker at x (NaN: none) */
    int diagonal;              /* chance line y = x (ROC) */
    int fixed_unit;            /* both axes [0, 1] (ROC) */
} ac__plot;

void ac__plot_svg(ac__sbuf *b, const ac__plot *p);

#endif
