/* Helpers shared by the fuzz harnesses. */
#include "fz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autocircuit.h"

void fz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
    abort();
}

static char scratch[512];

/* Remove a directory tree (only what the harnesses make: files and directories). */
static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(child);
            else unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
}

static pid_t scratch_owner;

static void remove_scratch(void) {
    /* forked children (none today) must not remove their parent's directory */
    if (scratch[0] && getpid() == scratch_owner) remove_tree(scratch);
}

const char *fz_dir(void) {
    if (!scratch[0]) {
        struct stat st;
        const char *base = getenv("TMPDIR");
        if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
            base = "/dev/shm";
        snprintf(scratch, sizeof scratch, "%s/acfuzz.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(scratch)) {
            fprintf(stderr, "fuzz: cannot create a scratch directory: %s\n", strerror(errno));
            abort();
        }
        scratch_owner = getpid();
        atexit(remove_scratch);
    }
    return scratch;
}

const char *fz_path(const char *rel) {
    static char bufs[8][1024];
    static unsigned k = 0;
    char *p = bufs[k++ & 7];
    snprintf(p, sizeof bufs[0], "%s/%s", fz_dir(), rel);
    return p;
}

const char *fz_mkdir(const char *rel) {
    const char *path = fz_path(rel);
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + strlen(fz_dir()) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(tmp, 0777);
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", tmp, strerror(errno));
        abort();
    }
    return path;
}

const char *fz_write(const char *rel, const void *data, size_t size) {
    const char *path = fz_path(rel);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

size_t fz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens,
                size_t max) {
    const size_t sep_len = sizeof FZ_SEP - 1;
    size_t n = 0, start = 0, i = 0;
    while (n + 1 < max && size >= sep_len && i <= size - sep_len) {
        if (memcmp(data + i, FZ_SEP, sep_len) == 0) {
            parts[n] = data + start;
            lens[n] = i - start;
            n++;
            i += sep_len;
            start = i;
        } else {
            i++;
        }
    }
    parts[n] = data + start;
    lens[n] = size - start;
    return n + 1;
}

const char *fz_once(const char *name, int (*make)(const char *path)) {
    /* a small table: each fixture made once per process */
    static struct {
        const char *name;
        char path[1024];
    } made[16];
    static int n_made = 0;
    for (int i = 0; i < n_made; i++)
        if (!strcmp(made[i].name, name)) return made[i].path;
    if (n_made == 16) abort();
    snprintf(made[n_made].path, sizeof made[0].path, "%s", fz_path(name));
    if (make(made[n_made].path) != 0) {
        fprintf(stderr, "fuzz: cannot make the fixture %s\n", made[n_made].path);
        abort();
    }
    made[n_made].name = name;
    return made[n_made++].path;
}

void fz_exercise_tokenizer(const ac_tokenizer *tok) {
    static const struct {
        const char *s;
        size_t n;
    } texts[] = {
        {"hello world", 11},
        {" Hello, World! 123 ", 19},
        {"<|endoftext|>a<s>b</s>", 22},
        {"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 15},
        {"\xFF\xFE\x80 bad \xC0\xAF utf8", 15},
        {"a\0b", 3},
        {"", 0},
    };
    const int32_t V = ac_tokenizer_vocab_size(tok);
    fz_check(V > 0);
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        int32_t *ids = NULL;
        size_t n = 0;
        ac_error err;
        if (ac_tokenizer_encode(tok, texts[t].s, texts[t].n, &ids, &n, &err) != AC_OK) continue;
        for (size_t i = 0; i < n; i++) fz_check(ids[i] >= 0 && ids[i] < V);
        char *text = NULL;
        size_t len = 0;
        if (ac_tokenizer_decode(tok, ids, n, &text, &len, &err) == AC_OK) {
            fz_check(text != NULL && text[len] == 0);
            ac_free(text);
        }
        ac_free(ids);
    }
    /* each id alone, and token_text: the first 4096 ids and the last few (a vocabulary
     * may declare up to 2^24 ids in a few bytes) */
    for (int32_t id = -1; id <= V; id = (id == 4096 && V - 2 > id) ? V - 2 : id + 1) {
        const char *tt = ac_tokenizer_token_text(tok, id);
        char *text = NULL;
        size_t len = 0;
        ac_error err;
        int rc = ac_tokenizer_decode(tok, &id, 1, &text, &len, &err);
        if (rc == AC_OK) {
            fz_check(tt != NULL);
            ac_free(text);
        } else {
            fz_check(rc == AC_ERR_RANGE && tt == NULL);
        }
    }
}
