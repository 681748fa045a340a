/* Helpers shared by the result-file writers and exporters (scores_io.c, export.c). */
#ifndef AC_REPORT_SCORES_INTERNAL_H
#define AC_REPORT_SCORES_INTERNAL_H

#include <stdio.h>

#include "autocircuit/scores.h"

/* A string -> int map with borrowed keys (open addressing, FNV-1a). */
typedef struct ac__namemap {
    size_t cap;          /* power of two */
    const char **keys;   /* [cap], NULL = empty slot */
    int *vals;           /* [cap] */
} ac__namemap;

/* Room for n keys. Errors: AC_ERR_NOMEM. */
int ac__namemap_init(ac__namemap *m, size_t n, ac_error *err);
void ac__namemap_free(ac__namemap *m);
/* Insert key (borrowed; must outlive the map) unless present; returns the value stored
 * for key (the existing one when it was present already). */
int ac__namemap_put(ac__namemap *m, const char *key, int val);
/* The value of key, or -1. */
int ac__namemap_get(const ac__namemap *m, const char *key);

/* Write s as a JSON string literal (quotes, escapes). */
void ac__json_put_string(FILE *fp, const char *s);

/* A score as JSON: %.9g (round-trips a float), "inf" / "-inf" strings for infinities,
 * null for NaN. */
void ac__json_put_score(FILE *fp, double s);

#endif
