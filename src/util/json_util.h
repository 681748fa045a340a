/* Jansson helpers shared by the JSON readers (internal). */
#ifndef AC_UTIL_JSON_UTIL_H
#define AC_UTIL_JSON_UTIL_H

#include <jansson.h>
#include <string.h>

/* Whether a failed jansson parse ran out of memory. Jansson says so with
 * json_error_out_of_memory, or, when its lexer cannot even allocate its buffer, not at
 * all: the error text stays empty (every other failure sets one). Zero `jerr` before
 * the parse so the code and text are defined. */
static inline int ac__json_oom(const json_error_t *jerr) {
    return json_error_code(jerr) == json_error_out_of_memory || jerr->text[0] == 0;
}

#endif
