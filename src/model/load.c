/* ac_model_load: dispatch on what the path is. */
#include "model/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directory part of `path` ("." when it has none), ac_malloc'd. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return ac_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = ac_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

static int load_file(ac_model **out, const char *path, const struct stat *st, ac_error *err) {
    unsigned char head[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ac_error_set(err, AC_ERR_IO, path, "cannot open: %s", strerror(errno));
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    if (got < 0) return ac_error_set(err, AC_ERR_IO, path, "cannot read: %s", strerror(errno));
    const size_t head_len = (size_t)got;
    const uint64_t size = (uint64_t)st->st_size;
    switch (ac__probe_checkpoint(head, head_len, size)) {
    case AC__PROBE_LLAMA2C_V0:
    case AC__PROBE_LLAMA2C_MAGIC:
        return ac__load_llama2c(out, path, err);
    case AC__PROBE_SAFETENSORS: {
        char *dir = dir_of(path);
        char *config = dir ? ac__path_join(dir, "config.json") : NULL;
        int rc;
        struct stat cst;
        if (!dir || !config) rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        else if (stat(config, &cst) != 0)
            rc = ac_error_set(err, AC_ERR_IO, path,
                              "a safetensors file needs a config.json in its directory (%s is missing)", config);
        else rc = ac__load_hf(out, dir, path, err);
        ac_free(config);
        ac_free(dir);
        return rc;
    }
    case AC__PROBE_UNKNOWN:
        break;
    }
    char why[400];
    if (ac__llama2c_size_mismatch(head, head_len, size, why, sizeof why))
        return ac_error_set(err, AC_ERR_FORMAT, path, "%s", why);
    if (head_len < 8 && size < 8)
        return ac_error_set(err, AC_ERR_FORMAT, path, "file too short (%llu bytes) to be a checkpoint",
                            (unsigned long long)size);
    return ac_error_set(err, AC_ERR_FORMAT, path,
                        "unrecognised checkpoint: expected a Hugging Face model directory, a .safetensors "
                        "file next to a config.json, or a llama2.c .bin checkpoint");
}

int ac_model_load(ac_model **out, const char *path, ac_error *err) {
    if (!out) return ac_error_set(err, AC_ERR_ARG, path, "ac_model_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return ac_error_set(err, AC_ERR_ARG, NULL, "ac_model_load: empty path");
    if (strlen(path) >= sizeof(((ac_model *)0)->path))
        return ac_error_set(err, AC_ERR_ARG, NULL, "checkpoint path too long (%zu bytes)", strlen(path));
    struct stat st;
    if (stat(path, &st) != 0) return ac_error_set(err, AC_ERR_IO, path, "cannot access: %s", strerror(errno));
    int rc;
    if (S_ISDIR(st.st_mode)) rc = ac__load_hf(out, path, NULL, err);
    else if (S_ISREG(st.st_mode)) rc = load_file(out, path, &st, err);
    else return ac_error_set(err, AC_ERR_IO, path, "neither a directory nor a regular file");
    if (rc) return rc;
    snprintf((*out)->path, sizeof (*out)->path, "%s", path);
    return AC_OK;
}
