/* Jansson helpers shared by the JSON readers (internal). */
#ifndef AC_UTIL_JSON_UTIL_H
#define AC_UTIL_JSON_UTIL_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Whether a failed jansson parse ran out of memory. Jansson says so with
 * json_error_out_of_memory, or, when its lexer cannot even allocate its buffer, not at
 * all: the error text stays empty (every other failure sets one). Zero `jerr` before
 * the parse so the code and text are defined. */
static inline int ac__json_oom(const json_error_t *jerr) {
    return json_error_code(jerr) == json_error_out_of_memory || jerr->text[0] == 0;
}

/* json_dumps, or NULL when out of memory. Jansson 2.14 does not always notice its own
 * failed allocations while dumping: an object key it could not append is dropped and the
 * dump goes on, returning text that is not the value (found by the allocation-failure
 * test). The text is parsed back and refused unless it parses; every value jansson
 * dumps parses, and a dropped key breaks the syntax. Free the result with free(), as
 * json_dumps'. */
static inline char *ac__json_dumps(const json_t *j, size_t flags) {
    char *s = json_dumps(j, flags);
    if (!s) return NULL;
    json_error_t jerr;
    json_t *back = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!back) {
        free(s);
        return NULL;
    }
    json_decref(back);
    return s;
}

#endif
