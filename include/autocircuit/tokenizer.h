/* autocircuit — tokenizers: GPT-2 byte-level BPE (vocab.json + merges.txt, or a
 * Hugging Face tokenizer.json) and llama2.c / sentencepiece-style BPE (tokenizer .bin).
 */
#ifndef AUTOCIRCUIT_TOKENIZER_H
#define AUTOCIRCUIT_TOKENIZER_H

#include "autocircuit/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ac_tokenizer ac_tokenizer;

typedef enum {
    AC_TOKENIZER_GPT2_BPE = 0,  /* byte-level BPE with a pre-tokenizer regex */
    AC_TOKENIZER_LLAMA2C = 1    /* score-ordered merges, leading space, byte fallback */
} ac_tokenizer_kind;

/* Load a tokenizer. `path` is one of: a directory holding vocab.json + merges.txt
 * (or encoder.json + vocab.bpe), or tokenizer.json, or a llama2.c tokenizer .bin; a
 * tokenizer.json file; a llama2.c tokenizer file (detected by content). *out is owned
 * by the caller (ac_tokenizer_free). Errors name the file and the cause: AC_ERR_IO
 * (missing/unreadable), AC_ERR_FORMAT (malformed; line:column for JSON and merges.txt,
 * byte offset for .bin), AC_ERR_UNSUPPORTED (a tokenizer.json feature we do not
 * implement), AC_ERR_NOMEM. See docs/tokenizers.md. */
int ac_tokenizer_load(ac_tokenizer **out, const char *path, ac_error *err);

/* Find and load the tokenizer that belongs to a model path (a Hugging Face directory's
 * tokenizer files, or for a llama2.c checkpoint a tokenizer*.bin / tok*.bin beside it).
 * Returns AC_ERR_IO when none is found. */
int ac_tokenizer_load_for_model(ac_tokenizer **out, const char *model_path, ac_error *err);

/* Release a tokenizer (NULL allowed). A loaded tokenizer is read-only: encode, decode
 * and the getters may run concurrently from several threads. */
void ac_tokenizer_free(ac_tokenizer *tok);

/* Kind and number of ids (ids are 0 .. vocab_size-1). */

ac_tokenizer_kind ac_tokenizer_get_kind(const ac_tokenizer *tok);
int ac_tokenizer_vocab_size(const ac_tokenizer *tok);
/* Beginning/end-of-sequence ids (GPT-2: both <|endoftext|> = 50256; llama2.c: 1 and 2),
 * -1 when the tokenizer has none. */
int ac_tokenizer_bos(const ac_tokenizer *tok);
int ac_tokenizer_eos(const ac_tokenizer *tok);

/* Encode `len` bytes of UTF-8 `text` (no BOS added: callers prepend it). On success
 * *ids is an array of *n token ids allocated with ac_malloc (caller frees with ac_free).
 * GPT-2: special tokens such as <|endoftext|> in the text map to their ids. llama2.c:
 * a leading space is added as sentencepiece does. Invalid UTF-8 is encoded byte-wise
 * (never an error). Errors: AC_ERR_NOMEM. */
int ac_tokenizer_encode(const ac_tokenizer *tok, const char *text, size_t len,
                        int32_t **ids, size_t *n, ac_error *err);

/* Decode ids to bytes: *text (NUL-terminated, ac_malloc'd, caller frees) of *len bytes.
 * llama2.c: BOS/EOS print nothing and the token after BOS loses its leading space, so
 * decode(BOS + encode(s)) == s. Errors: AC_ERR_RANGE for an id outside the vocabulary,
 * AC_ERR_NOMEM. */
int ac_tokenizer_decode(const ac_tokenizer *tok, const int32_t *ids, size_t n,
                        char **text, size_t *len, ac_error *err);

/* The text of one token as decode would print it alone (borrowed pointer into a
 * per-tokenizer buffer; valid while the tokenizer lives; NULL for out-of-range ids). */
const char *ac_tokenizer_token_text(const ac_tokenizer *tok, int32_t id);

#ifdef __cplusplus
}
#endif
#endif /* AUTOCIRCUIT_TOKENIZER_H */
