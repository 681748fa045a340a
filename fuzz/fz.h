/* Fuzz harnesses: one body per parser that reads user files, shared by the libFuzzer
 * programs (fuzz/fuzz_main.c, built with -DAC_FUZZ=ON and clang) and the corpus replay
 * test (tests/test_fuzz_replay.c, every build). See docs/reliability.md.
 *
 * A body takes arbitrary bytes, feeds them to the library through the same entry point
 * a user file would reach (most write the bytes to a file first), exercises what the
 * parser produced, and returns 0. Crashes, sanitizer reports, leaks and failed
 * invariants (fz_check aborts) are the findings. Bodies must be deterministic and leave
 * no state behind between calls.
 */
#ifndef AC_FUZZ_FZ_H
#define AC_FUZZ_FZ_H

#include <stddef.h>
#include <stdint.h>

/* X(name): harness fz_NAME, corpus fuzz/corpus/NAME, binary fuzz_NAME. */
#define AC_FZ_HARNESSES(X) \
    X(safetensors)         \
    X(st_index)            \
    X(config)              \
    X(checkpoint)          \
    X(gpt2_tokenizer)      \
    X(tokenizer_json)      \
    X(llama2c_tokenizer)   \
    X(dataset)             \
    X(encode)              \
    X(scores)              \
    X(curve)               \
    X(knockout)

#define AC__FZ_DECLARE(name) int fz_##name(const uint8_t *data, size_t size);
AC_FZ_HARNESSES(AC__FZ_DECLARE)
#undef AC__FZ_DECLARE

/* ---- helpers (fuzz/fz_common.c) ---------------------------------------------------- */

/* This process's scratch directory (created on first use, removed at exit): under
 * /dev/shm when it exists, else $TMPDIR or /tmp. */
const char *fz_dir(void);

/* "fz_dir()/rel" in one of 8 rotating static buffers. */
const char *fz_path(const char *rel);

/* Create the directory fz_dir()/rel (and its parents); returns its path. */
const char *fz_mkdir(const char *rel);

/* Write size bytes to fz_dir()/rel (replacing it); returns its path. Aborts on I/O
 * errors (those are the harness's fault, not a finding). */
const char *fz_write(const char *rel, const void *data, size_t size);

/* Split data at each occurrence of FZ_SEP into at most max parts (the last part keeps
 * any further separators). Returns the number of parts (>= 1). */
#define FZ_SEP "\n@@@@\n"
size_t fz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens,
                size_t max);

/* Abort with a message when an invariant fails (a finding). */
#define fz_check(cond) \
    ((cond) ? (void)0 : fz_fail(__FILE__, __LINE__, #cond))
void fz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* Exercise a loaded tokenizer: encode a few fixed texts, decode them and every id,
 * token_text of every id. Checks that every id encode returns is in range. */
struct ac_tokenizer;
void fz_exercise_tokenizer(const struct ac_tokenizer *tok);

/* ---- fixtures: small valid files, generated (fuzz/fz_fixtures.c) ------------------- */

/* Each writes into directory `dir` (which must exist) and returns 0, or -1 on failure. */
int fz_fixture_model(const char *dir, int kind);   /* config.json + model.safetensors;
                                                      kind 0 GPT-2 (MLP, LayerNorm),
                                                      1 GPT-2 attention-only without
                                                      LayerNorm, 2 Llama with GQA */
int fz_fixture_sharded(const char *dir);           /* Llama, 2 shards + index */
int fz_fixture_llama2c(const char *path, int version); /* llama2.c checkpoint v0 or v1 */
int fz_fixture_gpt2_tokenizer(const char *dir);    /* vocab.json + merges.txt */
int fz_fixture_tokenizer_json(const char *path);   /* tokenizer.json (Split + ByteLevel) */
int fz_fixture_llama2c_tokenizer(const char *path);/* tokenizer .bin with byte fallback */

/* A fixture written once per process into fz_dir()/name (a directory or file as the
 * function makes it) and its path; aborts when it cannot be made. */
const char *fz_once(const char *name, int (*make)(const char *path));

/* The circuit graphs the scores harness maps files onto (fuzz/fz_scores.c), built once
 * from configs alone: 0 GPT-2 2 layers x 2 heads, separate Q/K/V; 1 the same, combined
 * Q/K/V; 2 per position (3 positions); 3 the residual graph; 4 a Llama with
 * grouped-query attention (4 heads, 2 key/value heads). NULL for other i. */
struct ac_graph;
const struct ac_graph *fz_scores_graph(int i);

#endif
