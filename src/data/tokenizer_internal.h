/* Internal layout of ac_tokenizer, shared by the tokenizer loaders and encoders:
 *   tokenizer.c          public entry points, format detection, decode
 *   tokenizer_util.c     byte-string hash map, pair map, growable buffers, file reading
 *   tokenizer_bpe.c      GPT-2 byte-level BPE: vocab.json + merges.txt, encode
 *   tokenizer_hf.c       Hugging Face tokenizer.json (BPE family) into the same structure
 *   tokenizer_llama2c.c  llama2.c tokenizer .bin, encode
 */
#ifndef AC_TOKENIZER_INTERNAL_H
#define AC_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>

#include "autocircuit/tokenizer.h"

/* ---- growable buffers ------------------------------------------------------------ */

typedef struct ac__buf {
    char *data;
    size_t len, cap;
} ac__buf;

/* Append n bytes (data may be NULL only when n == 0). AC_OK or AC_ERR_NOMEM. */
int ac__buf_append(ac__buf *b, const void *data, size_t n);
void ac__buf_free(ac__buf *b);

typedef struct ac__ids {
    int32_t *data;
    size_t len, cap;
} ac__ids;

int ac__ids_push(ac__ids *v, int32_t id);
void ac__ids_free(ac__ids *v);

/* ---- byte string -> int32 hash map (owns copies of its keys) ---------------------- */

typedef struct ac__strmap_slot {
    size_t off;    /* key offset in keys.data */
    uint32_t len;  /* key length in bytes */
    int32_t value; /* < 0: empty slot */
} ac__strmap_slot;

typedef struct ac__strmap {
    ac__strmap_slot *slots;
    size_t cap;   /* power of two, or 0 */
    size_t count;
    ac__buf keys;
} ac__strmap;

/* Insert key -> value (value >= 0). When the key is present already, the map is left
 * unchanged and *existing (if non-NULL) receives the old value; otherwise *existing = -1.
 * Errors: AC_ERR_NOMEM, AC_ERR_RANGE (key longer than 4 GiB). */
int ac__strmap_put(ac__strmap *m, const char *key, size_t len, int32_t value,
                   int32_t *existing);
/* The value of a key, -1 when absent. */
int32_t ac__strmap_get(const ac__strmap *m, const char *key, size_t len);
void ac__strmap_free(ac__strmap *m);

/* ---- (left id, right id) -> (merge rank, merged id) hash map ---------------------- */

typedef struct ac__pair_slot {
    uint64_t key; /* UINT64_MAX: empty */
    int32_t rank;
    int32_t merged;
} ac__pair_slot;

typedef struct ac__pairmap {
    ac__pair_slot *slots;
    size_t cap, count;
} ac__pairmap;

/* Insert unless present (then *existing_rank gets the old rank, else -1). */
int ac__pairmap_put(ac__pairmap *m, int32_t left, int32_t right, int32_t rank,
                    int32_t merged, int32_t *existing_rank);
/* The slot of a pair, NULL when absent. */
const ac__pair_slot *ac__pairmap_get(const ac__pairmap *m, int32_t left, int32_t right);
void ac__pairmap_free(ac__pairmap *m);

/* ---- files ----------------------------------------------------------------------- */

/* Read a whole file into *data (ac_malloc'd, NUL-terminated, caller frees) of *len
 * bytes. Errors: AC_ERR_IO (cannot open / read, naming the file), AC_ERR_NOMEM. */
int ac__read_file(const char *path, char **data, size_t *len, ac_error *err);

/* ---- UTF-8 ----------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s[0..n) (1..4; RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when s does not start with one. */
size_t ac__utf8_valid_len(const unsigned char *s, size_t n);

/* Write code point cp (< 0x110000) as UTF-8 into out (4 bytes room); returns length. */
size_t ac__utf8_put(uint32_t cp, char *out);

/* ---- the tokenizer --------------------------------------------------------------- */

/* A text that is split out before pre-tokenization and maps to one id (GPT-2's
 * <|endoftext|>, tokenizer.json's added_tokens). */
typedef struct ac__special {
    char *text; /* ac_malloc'd */
    size_t len;
    int32_t id;
    int lstrip, rstrip; /* absorb whitespace on the left / right */
} ac__special;

/* One pre-tokenizer step of the byte-level BPE pipeline, applied in order. */
typedef enum {
    AC__STAGE_SPLIT = 0,       /* split each piece by a regex ("Isolated": matches and the
                                * gaps between them both become pieces) */
    AC__STAGE_PREFIX_SPACE = 1 /* prepend ' ' unless the piece starts with one */
} ac__stage_kind;

typedef struct ac__stage {
    ac__stage_kind kind;
    pcre2_code *re; /* AC__STAGE_SPLIT */
} ac__stage;

#define AC__MAX_STAGES 8

struct ac_tokenizer {
    ac_tokenizer_kind kind;
    int32_t n_vocab; /* ids are 0 .. n_vocab-1 */
    int32_t bos, eos;

    /* Per id: the token's string as the file spells it (GPT-2: the byte-level unicode
     * string; llama2.c: the raw piece), and the bytes decode prints for it. Both are
     * NUL-terminated inside their buffers. A missing id (gap in a tokenizer.json vocab)
     * has present[id] == 0. */
    ac__buf raw, text;
    size_t *raw_off, *text_off;
    uint32_t *raw_len, *text_len;
    uint8_t *present;

    /* byte-level BPE */
    ac__strmap vocab;   /* token string (GPT-2: byte-level unicode) -> id */
    ac__pairmap merges; /* (left, right) -> (rank, merged) */
    int32_t byte_id[256]; /* id of each single byte's token, -1 when missing */
    int32_t unk_id;       /* tokenizer.json unk_token, -1 when none */
    int ignore_merges;    /* a piece that is a whole vocab entry is emitted as is */
    pcre2_general_context *gctx;
    ac__stage stages[AC__MAX_STAGES];
    int n_stages;
    ac__special *specials; /* sorted longest first */
    size_t n_specials;
    uint8_t special_first[256]; /* 1 if some special text starts with this byte */

    /* llama2.c */
    float *scores;
    int32_t max_token_length;
};

/* Allocate an empty tokenizer of `kind` with room for n_vocab ids (all absent). */
int ac__tokenizer_alloc(ac_tokenizer **out, ac_tokenizer_kind kind, int32_t n_vocab,
                        const char *path, ac_error *err);

/* Record the file string and decoded bytes of `id`. */
int ac__tokenizer_set_token(ac_tokenizer *tok, int32_t id, const char *raw, size_t raw_len,
                            const char *text, size_t text_len);

/* GPT-2 byte-to-unicode table: the code point standing for byte b. */
uint32_t ac__byte_to_unicode(unsigned b);
/* Inverse: the byte a code point stands for, or -1. */
int ac__unicode_to_byte(uint32_t cp);

/* Decode a byte-level unicode string (UTF-8) to the bytes it stands for, appending to
 * out. A string with a character outside the table is appended verbatim (the Hugging
 * Face ByteLevel decoder does the same). */
int ac__bytelevel_decode(const char *s, size_t n, ac__buf *out);

/* Compile `pattern` (UTF + UCP, JIT when available) into a split stage. */
int ac__bpe_add_regex_stage(ac_tokenizer *tok, const char *pattern, size_t len, int literal,
                            const char *path, ac_error *err);
/* The GPT-2 pre-tokenizer pattern. */
extern const char ac__gpt2_pattern[];

/* Register a special text (copied). */
int ac__bpe_add_special(ac_tokenizer *tok, const char *text, size_t len, int32_t id,
                        int lstrip, int rstrip);
/* Sort specials longest first and fill special_first. Call after the last add. */
void ac__bpe_finish_specials(ac_tokenizer *tok);

/* Fill byte_id[] from the vocab. */
void ac__bpe_fill_byte_ids(ac_tokenizer *tok);

/* Parse merges given as (left string, right string) of rank `rank`: look both and their
 * concatenation up in the vocab. `where` describes the position for messages.
 * Errors: AC_ERR_FORMAT naming the token that is not in the vocab, AC_ERR_NOMEM. */
int ac__bpe_add_merge(ac_tokenizer *tok, const char *left, size_t left_len, const char *right,
                      size_t right_len, int32_t rank, const char *path, long line, long column,
                      ac_error *err);

/* Parse a JSON file (duplicate keys rejected). Errors: AC_ERR_IO, AC_ERR_FORMAT with
 * line:column, AC_ERR_NOMEM. *out is released with json_decref. */
int ac__json_load(const char *path, json_t **out, ac_error *err);

/* A JSON object token -> id: check every id is an integer in 0..2^24-1 and give the
 * largest. `what` names the object in messages. */
int ac__bpe_check_vocab(const json_t *vocab, const char *path, const char *what,
                        int32_t *max_id, ac_error *err);
/* Put a checked vocab object into tok (vocab map, per-id strings and decoded bytes,
 * byte ids). Errors: AC_ERR_FORMAT (an id given twice), AC_ERR_NOMEM. */
int ac__bpe_fill_vocab(ac_tokenizer *tok, const json_t *vocab, const char *path,
                       const char *what, ac_error *err);

/* Loaders. */
int ac__gpt2_load_files(ac_tokenizer **out, const char *vocab_path, const char *merges_path,
                        ac_error *err);
int ac__hf_load_json(ac_tokenizer **out, const char *path, ac_error *err);
int ac__llama2c_load(ac_tokenizer **out, const char *path, ac_error *err);

/* Encoders: append ids to *out. */
int ac__bpe_encode(const ac_tokenizer *tok, const char *text, size_t len, ac__ids *out);
int ac__llama2c_encode(const ac_tokenizer *tok, const char *text, size_t len, ac__ids *out);

/* Priority queue of candidate merges for both encoders: smallest key first, ties by
 * smallest position (the leftmost pair). */
typedef struct ac__merge_cand {
    double key;
    int32_t pos;      /* index of the left symbol */
    int32_t left, right, merged;
} ac__merge_cand;

typedef struct ac__merge_heap {
    ac__merge_cand *data;
    size_t len, cap;
} ac__merge_heap;

int ac__heap_push(ac__merge_heap *h, ac__merge_cand c);
/* Pop the best candidate into *c; returns 0 when empty. */
int ac__heap_pop(ac__merge_heap *h, ac__merge_cand *c);
void ac__heap_free(ac__merge_heap *h);

#endif
