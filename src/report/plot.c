/* Line plots as SVG for the report: linear or log10 x, "nice" ticks, axis titles. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

#define FS_TICK 11.0
#define FS_AXIS 12.0
#define FS_PTITLE 13.0
#define MAX_TICKS 64

/* 1, 2, 5 times a power of ten, >= x (round: nearest) */
static double nice_num(double x, int round_it) {
    double e = floor(log10(x));
    double f = x / pow(10, e), nf;
    if (round_it) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

/* Ticks covering [lo, hi] with about `target` steps; the axis is widened to the outer
 * ticks. Returns the number of ticks and sets *step. */
static int linear_ticks(double *lo, double *hi, int target, double *ticks, double *step) {
    /* a flat series (up to float noise: ranges below 1e-6 of the magnitude) is drawn
     * as constant, centred, instead of magnifying rounding differences */
    const double mag = fmax(fabs(*lo), fabs(*hi));
    if (!(*hi > *lo) || *hi - *lo < 1e-6 * mag) {
        const double mid = 0.5 * (*lo + *hi);
        *lo = *hi = mid;
        double pad = mid == 0 ? 1 : fabs(mid) * 0.1;
        *lo -= pad;
        *hi += pad;
    }
    double range = nice_num(*hi - *lo, 0);
    double st = nice_num(range / (target > 1 ? target - 1 : 1), 1);
    double a = floor(*lo / st) * st, b = ceil(*hi / st) * st;
    int n = 0;
    for (double v = a; v <= b + st * 0.5 && n < MAX_TICKS; v += st) ticks[n++] = fabs(v) < st * 1e-9 ? 0 : v;
    *lo = a;
    *hi = b;
    *step = st;
    return n;
}

/* Tick labels share one style per axis: plain decimals with as many places as the step
 * needs; small steps with an SI prefix (50µ, 100µ); 10k, 20k for thousands. `top` is the
 * largest |tick| of the axis. */
static void tick_label(double v, double step, double top, char *buf, size_t n) {
    double a = fabs(v);
    if (a >= 1e4 && a < 1e9 && fmod(step, 1000) == 0) { /* 10k, 20k, ... */
        snprintf(buf, n, "%gk", v / 1000);
        return;
    }
    if (step < 1e-3 && top > 0 && top < 1e-1) {
        static const char *const prefix[] = {"m", "\xC2\xB5", "n", "p"}; /* milli, micro, nano, pico */
        int g = (int)floor(log10(top) / 3) * 3; /* -3, -6, ... */
        if (g > -3) g = -3;
        if (g >= -12) {
            double scale = pow(10, -g), st = step * scale;
            int dec = st >= 1 ? 0 : (int)ceil(-log10(st) - 1e-9);
            if (dec > 6) dec = 6;
            if (v == 0) snprintf(buf, n, "0");
            else snprintf(buf, n, "%.*f%s", dec, v * scale, prefix[-g / 3 - 1]);
            return;
        }
    }
    if (a >= 1e9 || (a > 0 && a < 1e-12)) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(buf, n, "%.*f", dec, v);
    if (!strcmp(buf, "-0")) snprintf(buf, n, "0");
}

static double max_abs_tick(const double *t, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(t[i]));
    return m;
}

static void log_label(int e, char *buf, size_t n) {
    static const char *const sfx[] = {"", "k", "M", "G"};
    if (e < 0) snprintf(buf, n, "%g", pow(10, e));
    else if (e < 3) snprintf(buf, n, "%d", (int)pow(10, e));
    else if (e < 12) snprintf(buf, n, "%d%s", (int)pow(10, e % 3), sfx[e / 3]);
    else snprintf(buf, n, "1e%d", e);
}

typedef struct axis {
    double lo, hi;     /* data range (log: exponents) */
    double p0, p1;     /* pixel range */
    int log;
} axis;

static double map(const axis *a, double v) {
    double t = a->log ? log10(v) : v;
    return a->p0 + (t - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

static void text(ac__sbuf *b, double x, double y, double px, const char *anchor, const char *fill, int bold,
                 const char *s, const char *transform) {
    ac__sb_printf(b, "<text class=\"ac-text\" x=\"%.1f\" y=\"%.1f\" font-size=\"%g\" text-anchor=\"%s\" fill=\"%s\"%s",
                  x, y, px, anchor, fill, bold ? " font-weight=\"bold\"" : "");
    if (transform) ac__sb_printf(b, " transform=\"%s\"", transform);
    ac__sb_puts(b, ">");
    ac__sb_esc(b, s);
    ac__sb_puts(b, "</text>\n");
}

void ac__plot_svg(ac__sbuf *b, const ac__plot *p) {
    const double W = p->width, H = p->height;
    /* data ranges */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t s = 0; s < p->n_series; s++)
        for (size_t i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y) || (p->log_x && x <= 0)) continue;
            xmin = fmin(xmin, x), xmax = fmax(xmax, x);
            ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    int empty = !(xmin <= xmax);
    if (empty) xmin = p->log_x ? 1 : 0, xmax = p->log_x ? 10 : 1, ymin = 0, ymax = 1;
    if (isfinite(p->hline)) ymin = fmin(ymin, p->hline), ymax = fmax(ymax, p->hline);
    if (p->fixed_unit) xmin = 0, xmax = 1, ymin = 0, ymax = 1;

    double yt[MAX_TICKS], ystep;
    int nyt = linear_ticks(&ymin, &ymax, 6, yt, &ystep);
    char lab[48];
    double ylab_w = 0;
    for (int i = 0; i < nyt; i++) {
        tick_label(yt[i], ystep, max_abs_tick(yt, nyt), lab, sizeof lab);
        ylab_w = fmax(ylab_w, ac__text_box_w(lab, FS_TICK, 0));
    }
    const double axis_h = ac__text_box_h(FS_AXIS), tick_h = ac__text_box_h(FS_TICK);
    const double ml = 6 + axis_h + 6 + ylab_w + 6, mr = 18;
    const double mt = 8 + ac__text_box_h(FS_PTITLE) + 8, mb = 8 + tick_h + 4 + axis_h + 6;
    axis ax = {0, 0, ml, W - mr, p->log_x}, ay = {ymin, ymax, H - mb, mt, 0};

    /* x ticks: linear with fewer ticks until the labels fit; log by decades */
    double xt[MAX_TICKS], xstep = 1;
    int nxt = 0;
    double minor_t[MAX_TICKS * 8];
    int nminor = 0;
    if (p->log_x) {
        int e0 = (int)floor(log10(xmin) + 1e-9), e1 = (int)ceil(log10(xmax) - 1e-9);
        if (e1 <= e0) e1 = e0 + 1;
        ax.lo = e0, ax.hi = e1;
        int every = 1;
        while ((e1 - e0) / every + 1 > 8) every++;
        for (int e = e0; e <= e1 && nxt < MAX_TICKS; e += every) xt[nxt++] = pow(10, e);
        if (e1 - e0 <= 6) /* minor ticks at 2..9 */
            for (int e = e0; e < e1; e++)
                for (int k = 2; k <= 9; k++) minor_t[nminor++] = k * pow(10, e);
    } else {
        for (int target = 8; target >= 2; target--) {
            double lo = xmin, hi = xmax;
            if (!p->fixed_unit && lo > 0 && lo < (hi - lo) * 0.5) lo = 0; /* edge counts from 0 */
            nxt = linear_ticks(&lo, &hi, target, xt, &xstep);
            ax.lo = lo, ax.hi = hi;
            double need = 0;
            for (int i = 0; i < nxt; i++) {
                tick_label(xt[i], xstep, max_abs_tick(xt, nxt), lab, sizeof lab);
                need = fmax(need, ac__text_box_w(lab, FS_TICK, 0));
            }
            if (nxt < 2 || (W - ml - mr) / (nxt - 1) >= need + 8) break;
        }
    }

    ac__sb_printf(b, "<svg class=\"ac-svg ac-plot\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                     "font-family=\"%s\" role=\"img\">\n",
                  W, H, W, H, AC__FONT_FAMILY);
    ac__sb_printf(b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
    /* title */
    text(b, ml + (W - ml - mr) / 2, 8 + AC__ASCENT * FS_PTITLE + 1, FS_PTITLE, "middle", "#111827", 1, p->title, NULL);
    /* grid and ticks */
    ac__sb_puts(b, "<g stroke=\"#e5e7eb\" stroke-width=\"1\">\n");
    for (int i = 0; i < nyt; i++) {
        double y = map(&ay, yt[i]);
        ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml, y, W - mr, y);
    }
    for (int i = 0; i < nxt; i++) {
        double x = map(&ax, xt[i]);
        ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, mt, x, H - mb);
    }
    ac__sb_puts(b, "</g>\n<g stroke=\"#374151\" stroke-width=\"1\">\n");
    ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml, H - mb, W - mr, H - mb);
    ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml, mt, ml, H - mb);
    for (int i = 0; i < nyt; i++) {
        double y = map(&ay, yt[i]);
        ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml - 4, y, ml, y);
    }
    for (int i = 0; i < nxt; i++) {
        double x = map(&ax, xt[i]);
        ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, H - mb, x, H - mb + 4);
    }
    for (int i = 0; i < nminor; i++) {
        if (minor_t[i] < pow(10, ax.lo) || minor_t[i] > pow(10, ax.hi)) continue;
        double x = map(&ax, minor_t[i]);
        ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, H - mb, x, H - mb + 2.5);
    }
    ac__sb_puts(b, "</g>\n");
    /* tick labels */
    for (int i = 0; i < nyt; i++) {
        tick_label(yt[i], ystep, max_abs_tick(yt, nyt), lab, sizeof lab);
        double y = map(&ay, yt[i]);
        text(b, ml - 6, y + (AC__ASCENT - AC__DESCENT) / 2 * FS_TICK, FS_TICK, "end", "#374151", 0, lab, NULL);
    }
    for (int i = 0; i < nxt; i++) {
        if (p->log_x) log_label((int)lround(log10(xt[i])), lab, sizeof lab);
        else tick_label(xt[i], xstep, max_abs_tick(xt, nxt), lab, sizeof lab);
        double x = map(&ax, xt[i]);
        text(b, x, H - mb + 8 + 1 + AC__ASCENT * FS_TICK, FS_TICK, "middle", "#374151", 0, lab, NULL);
    }
    /* axis titles */
    text(b, ml + (W - ml - mr) / 2, H - 6 - AC__DESCENT * FS_AXIS - 1, FS_AXIS, "middle", "#111827", 0, p->x_label, NULL);
    {
        char tr[96];
        double cx = 6 + AC__ASCENT * FS_AXIS + 1, cy = mt + (H - mb - mt) / 2;
        snprintf(tr, sizeof tr, "rotate(-90 %.1f %.1f)", cx, cy);
        text(b, cx, cy, FS_AXIS, "middle", "#111827", 0, p->y_label, tr);
    }
    /* reference lines */
    if (p->diagonal)
        ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9ca3af\" stroke-dasharray=\"4 4\"/>\n",
                      map(&ax, 0), map(&ay, 0), map(&ax, 1), map(&ay, 1));
    if (isfinite(p->hline)) {
        double y = map(&ay, p->hline);
        ac__sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#6b7280\" stroke-dasharray=\"5 4\"/>\n",
                      ml, y, W - mr, y);
        if (p->hline_label) {
            double ty = y - 4 - AC__DESCENT * FS_TICK;
            if (ty - AC__ASCENT * FS_TICK < mt + 2) ty = y + 4 + AC__ASCENT * FS_TICK;
            text(b, W - mr - 4, ty, FS_TICK, "end", "#6b7280", 0, p->hline_label, NULL);
        }
    }
    if (isfinite(p->vline) && (!p->log_x || p->vline > 0)) {
        double x = map(&ax, p->vline);
        if (x >= ml - 0.5 && x <= W - mr + 0.5)
            ac__sb_printf(b, "<line class=\"ac-marker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#f59e0b\" "
                             "stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>\n",
                          x, mt, x, H - mb);
    }
    if (empty) text(b, ml + (W - ml - mr) / 2, mt + (H - mb - mt) / 2, FS_AXIS, "middle", "#6b7280", 0, "no data", NULL);
    /* series */
    char nx[32], ny[32];
    for (size_t s = 0; s < p->n_series; s++) {
        const ac__plot_series *se = &p->series[s];
        int open = 0;
        for (size_t i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!isfinite(x) || !isfinite(y) || (p->log_x && x <= 0)) {
                if (open) ac__sb_puts(b, "\"/>\n");
                open = 0;
                continue;
            }
            double X = map(&ax, x), Y = map(&ay, y);
            if (!open) {
                ac__sb_printf(b, "<path class=\"ac-series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                                 "stroke-linejoin=\"round\" d=\"M%.1f %.1f",
                              se->color, X, Y);
                open = 1;
            } else if (se->step_hv) {
                ac__sb_printf(b, "H%.1fV%.1f", X, Y);
            } else {
                ac__sb_printf(b, "L%.1f %.1f", X, Y);
            }
        }
        if (open) ac__sb_puts(b, "\"/>\n");
        if (se->n <= 200) {
            ac__sb_printf(b, "<g fill=\"%s\">\n", se->color);
            for (size_t i = 0; i < se->n; i++) {
                double x = se->x[i], y = se->y[i];
                if (!isfinite(x) || !isfinite(y) || (p->log_x && x <= 0)) continue;
                ac__sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\"><title>", map(&ax, x), map(&ay, y));
                ac__sb_esc(b, se->name);
                ac__sb_printf(b, ": %s at %s</title></circle>\n", ac__fmt_num(y, ny, sizeof ny),
                              ac__fmt_num(x, nx, sizeof nx));
            }
            ac__sb_puts(b, "</g>\n");
        }
    }
    ac__sb_puts(b, "</svg>\n");
}
