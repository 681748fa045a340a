/* Text output for the report: a growable buffer, XML/HTML escaping, label sanitising,
 * number formatting and text-extent estimates (DejaVu Sans advance widths). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

/* ---- buffer ---- */

static int sb_reserve(ac__sbuf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = ac_realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void ac__sb_putn(ac__sbuf *b, const char *s, size_t n) {
    if (sb_reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void ac__sb_puts(ac__sbuf *b, const char *s) { ac__sb_putn(b, s, strlen(s)); }

void ac__sb_printf(ac__sbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        ac__sb_putn(b, small, (size_t)n);
        return;
    }
    if (sb_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void ac__sb_free(ac__sbuf *b) {
    ac_free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---- UTF-8 ---- */

/* Decode one character at s (strict: no overlongs, surrogates or > U+10FFFF). Returns its
 * byte length and sets *cp, or returns 1 with *cp = -1 for an invalid byte. */
static size_t utf8_next(const unsigned char *s, long *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (long)c;
        return 1;
    }
    size_t len;
    long v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = -1;
        return 1;
    }
    *cp = v;
    return len;
}

/* The displayed form of one character into out[0..15]; returns its byte length. */
static size_t display_char(long cp, const unsigned char *src, size_t len, char *out) {
    if (cp < 0 || cp == 0xFFFE || cp == 0xFFFF) {
        memcpy(out, "\xEF\xBF\xBD", 3); /* U+FFFD */
        return 3;
    }
    if (cp == '\n') return memcpy(out, "\\n", 2), 2;
    if (cp == '\t') return memcpy(out, "\\t", 2), 2;
    if (cp == '\r') return memcpy(out, "\\r", 2), 2;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
        return (size_t)snprintf(out, 16, "\\x%02lX", (unsigned long)cp);
    memcpy(out, src, len);
    return len;
}

void ac__label_text(const char *in, char *out, size_t n, size_t max_chars) {
    if (n == 0) return;
    out[0] = 0;
    if (!in) return;
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0, chars = 0;
    static const char ell[] = "\xE2\x80\xA6"; /* … */
    while (*s) {
        long cp;
        size_t len = utf8_next(s, &cp);
        char piece[16];
        size_t pn = display_char(cp, s, len, piece);
        int more = s[len] != 0;
        /* cut before the last allowed character when more follow: it becomes "…" */
        int cut = max_chars && chars + 1 >= max_chars && more;
        if (cut || o + pn + 1 > n) {
            if (o + sizeof ell <= n) {
                memcpy(out + o, ell, sizeof ell - 1);
                o += sizeof ell - 1;
            }
            break;
        }
        memcpy(out + o, piece, pn);
        o += pn;
        chars++;
        s += len;
    }
    out[o] = 0;
}

void ac__sb_esc(ac__sbuf *b, const char *in) {
    if (!in) return;
    const unsigned char *s = (const unsigned char *)in;
    while (*s) {
        long cp;
        size_t len = utf8_next(s, &cp);
        switch (cp) {
        case '&': ac__sb_puts(b, "&amp;"); break;
        case '<': ac__sb_puts(b, "&lt;"); break;
        case '>': ac__sb_puts(b, "&gt;"); break;
        case '"': ac__sb_puts(b, "&quot;"); break;
        case '\'': ac__sb_puts(b, "&#39;"); break;
        default: {
            char piece[16];
            size_t pn = display_char(cp, s, len, piece);
            ac__sb_putn(b, piece, pn);
        }
        }
        s += len;
    }
}

/* ---- numbers ---- */

const char *ac__fmt_num(double v, char *buf, size_t n) {
    if (isnan(v)) snprintf(buf, n, "NaN");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else {
        snprintf(buf, n, "%.4g", v);
        if (!strcmp(buf, "-0")) snprintf(buf, n, "0");
    }
    return buf;
}

const char *ac__fmt_count(size_t v, char *buf, size_t n) {
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%zu", v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < n; i++) {
        buf[o++] = raw[i];
        int left = len - i - 1;
        if (left > 0 && left % 3 == 0) buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}

/* ---- text extents ---- */

/* DejaVu Sans (2.37) advance widths of ' '..'~' in units of 1/2048 em, read from the
 * fonts' hmtx tables. */
static const uint16_t dejavu_regular[95] = {
    651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716,
    651, 739, 651, 690, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303,
    1303, 1303, 690, 690, 1716, 1716, 1716, 1087, 2048, 1401, 1405, 1430,
    1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612,
    1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799,
    690, 799, 1716, 1024, 1024, 1255, 1300, 1126, 1300, 1260, 721, 1300,
    1298, 569, 569, 1186, 569, 1995, 1298, 1253, 1300, 1300, 842, 1067,
    803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
};
static const uint16_t dejavu_bold[95] = {
    713, 934, 1067, 1716, 1425, 2052, 1786, 627, 936, 936, 1071, 1716,
    778, 850, 778, 748, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425,
    1425, 1425, 819, 819, 1716, 1716, 1716, 1188, 2048, 1585, 1561, 1503,
    1700, 1399, 1399, 1681, 1714, 762, 762, 1587, 1305, 2038, 1714, 1741,
    1501, 1741, 1577, 1475, 1397, 1663, 1585, 2259, 1579, 1483, 1485, 936,
    748, 936, 1716, 1024, 1024, 1382, 1466, 1214, 1466, 1389, 891, 1466,
    1458, 702, 702, 1362, 702, 2134, 1458, 1407, 1466, 1466, 1010, 1219,
    979, 1458, 1335, 1892, 1321, 1335, 1192, 1458, 748, 1458, 1716,
};

double ac_report_text_width(const char *utf8, double px, int bold) {
    if (!utf8) return 0;
    const uint16_t *t = bold ? dejavu_bold : dejavu_regular;
    const unsigned char *s = (const unsigned char *)utf8;
    double units = 0;
    while (*s) {
        long cp;
        size_t len = utf8_next(s, &cp);
        if (cp >= 32 && cp < 127) units += t[cp - 32];
        else if (cp >= 0x2E80) units += 2048 * 1.25; /* CJK, emoji: full width or more */
        else units += 2048 * 1.05;                   /* other scripts, symbols, U+FFFD */
        s += len;
    }
    return units / 2048.0 * px;
}

double ac__text_box_w(const char *utf8, double px, int bold) {
    /* 6% for kerning-free fallbacks and hinting, plus a pixel each side */
    return ceil(ac_report_text_width(utf8, px, bold) * 1.06 + 2);
}

double ac__text_box_h(double px) { return ceil((AC__ASCENT + AC__DESCENT) * px + 2); }
