/* safetensors reader (mmap, validating) and writer. */
#include "model/safetensors.h"
#include "util/json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER ((uint64_t)100000000)

static const struct {
    const char *name;
    size_t size;
} dtype_info[AC__ST_DTYPE_COUNT] = {
    [AC__ST_F32] = {"F32", 4},       [AC__ST_F16] = {"F16", 2},
    [AC__ST_BF16] = {"BF16", 2},     [AC__ST_F64] = {"F64", 8},
    [AC__ST_BOOL] = {"BOOL", 1},     [AC__ST_U8] = {"U8", 1},
    [AC__ST_I8] = {"I8", 1},         [AC__ST_I16] = {"I16", 2},
    [AC__ST_U16] = {"U16", 2},       [AC__ST_I32] = {"I32", 4},
    [AC__ST_U32] = {"U32", 4},       [AC__ST_I64] = {"I64", 8},
    [AC__ST_U64] = {"U64", 8},       [AC__ST_F8_E4M3] = {"F8_E4M3", 1},
    [AC__ST_F8_E5M2] = {"F8_E5M2", 1}, [AC__ST_F8_E8M0] = {"F8_E8M0", 1},
    [AC__ST_C64] = {"C64", 8},
};

const char *ac__st_dtype_name(ac__st_dtype dtype) {
    return (unsigned)dtype < AC__ST_DTYPE_COUNT ? dtype_info[dtype].name : "?";
}

size_t ac__st_dtype_size(ac__st_dtype dtype) {
    return (unsigned)dtype < AC__ST_DTYPE_COUNT ? dtype_info[dtype].size : 0;
}

static int dtype_from_name(const char *s, ac__st_dtype *out) {
    for (int i = 0; i < AC__ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (ac__st_dtype)i;
            return 1;
        }
    return 0;
}

static int dtype_convertible(ac__st_dtype d) {
    return d == AC__ST_F32 || d == AC__ST_F16 || d == AC__ST_BF16;
}

/* ---- scalar conversions ------------------------------------------------------------ */

static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float ac__f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    const uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {
        /* zero or subnormal: mantissa * 2^-24, exact in fp32 */
        float magnitude = (float)mantissa * 0x1p-24f;
        return bits_to_f32(sign | f32_to_bits(magnitude));
    }
    if (exponent == 0x1f) return bits_to_f32(sign | 0x7f800000u | (mantissa << 13));
    return bits_to_f32(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

float ac__bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

uint16_t ac__f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

uint16_t ac__f32_to_f16(float f) {
    const uint32_t u = f32_to_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {
        /* result is subnormal or zero: round a * 2^24 to an integer, ties to even */
        if (a < 0x33000000u) return sign; /* below half the smallest subnormal */
        const uint32_t exponent = a >> 23;
        const uint32_t mantissa = (a & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126u - exponent; /* 14..24 */
        uint32_t result = mantissa >> shift;
        const uint32_t rest = mantissa & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1u);
        if (rest > half || (rest == half && (result & 1u))) result++;
        return (uint16_t)(sign | result);
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

/* ---- reader -------------------------------------------------------------------------- */

static uint64_t read_u64_le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void ac__st_close(ac__st_file *f) {
    if (!f) return;
    if (f->map && f->size) munmap((void *)(uintptr_t)f->map, f->size);
    for (size_t i = 0; i < f->n_tensors; i++) ac_free(f->tensors[i].name);
    ac_free(f->tensors);
    ac_free(f->path);
    memset(f, 0, sizeof *f);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const ac__st_tensor *)a)->name, ((const ac__st_tensor *)b)->name);
}

static int cmp_tensor_ptr_begin(const void *a, const void *b) {
    const ac__st_tensor *x = *(const ac__st_tensor *const *)a;
    const ac__st_tensor *y = *(const ac__st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Non-negative JSON integer as size_t. */
static int json_size(const json_t *v, size_t *out) {
    if (!json_is_integer(v)) return 0;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (unsigned long long)x > (unsigned long long)SIZE_MAX) return 0;
    *out = (size_t)x;
    return 1;
}

/* Parse one tensor entry of the header into *t (name already set). */
static int parse_entry(const ac__st_file *f, ac__st_tensor *t, const json_t *v,
                       size_t data_size, ac_error *err) {
    const char *path = f->path, *name = t->name;
    if (!json_is_object(v))
        return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: header entry is not an object", name);
    const json_t *jd = json_object_get(v, "dtype");
    const json_t *js = json_object_get(v, "shape");
    const json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: missing or non-string \"dtype\"", name);
    if (!dtype_from_name(json_string_value(jd), &t->dtype))
        return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: unknown dtype \"%s\"", name,
                            json_string_value(jd));
    if (!json_is_array(js))
        return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: missing or non-array \"shape\"", name);
    if (json_array_size(js) > AC__ST_MAX_DIMS)
        return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: %zu dimensions (at most %d supported)",
                            name, json_array_size(js), AC__ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    t->count = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (!json_size(json_array_get(js, (size_t)i), &t->shape[i]))
            return ac_error_set(err, AC_ERR_FORMAT, path,
                                "tensor %s: shape entry %d is not a non-negative integer", name, i);
        if (ac_mul_size(t->count, t->shape[i], &t->count))
            return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: element count overflows", name);
    }
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !json_size(json_array_get(jo, 0), &t->begin) || !json_size(json_array_get(jo, 1), &t->end))
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "tensor %s: \"data_offsets\" must be two non-negative integers", name);
    if (t->begin > t->end)
        return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: data offsets out of order [%zu, %zu)",
                            name, t->begin, t->end);
    if (t->end > data_size)
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "tensor %s: data [%zu, %zu) past the end of the data section (%zu bytes; file truncated?)",
                            name, t->begin, t->end, data_size);
    size_t bytes;
    if (ac_mul_size(t->count, ac__st_dtype_size(t->dtype), &bytes))
        return ac_error_set(err, AC_ERR_FORMAT, path, "tensor %s: byte length overflows", name);
    if (bytes != t->end - t->begin)
        return ac_error_set(err, AC_ERR_FORMAT, path,
                            "tensor %s: byte length %zu does not match shape x dtype %s (%zu elements = %zu bytes)",
                            name, t->end - t->begin, ac__st_dtype_name(t->dtype), t->count, bytes);
    return AC_OK;
}

static int parse_header(ac__st_file *f, ac_error *err) {
    const char *path = f->path;
    const size_t header_len = f->data_start - 8;
    const size_t data_size = f->size - f->data_start;
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr);
    json_t *root = json_loadb((const char *)f->map + 8, header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root && ac__json_oom(&jerr))
        return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory parsing the safetensors header");
    if (!root)
        return ac_error_set_at(err, AC_ERR_FORMAT, path, jerr.line, jerr.column,
                               "invalid JSON in the safetensors header: %s", jerr.text);
    int rc = AC_OK;
    if (!json_is_object(root)) {
        rc = ac_error_set(err, AC_ERR_FORMAT, path, "safetensors header is not a JSON object");
        goto done;
    }
    size_t n = json_object_size(root);
    f->tensors = ac_calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading the safetensors header");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(value)) {
                rc = ac_error_set(err, AC_ERR_FORMAT, path, "\"__metadata__\" is not an object");
                goto done;
            }
            json_object_foreach(value, mk, mv) {
                if (!json_is_string(mv)) {
                    rc = ac_error_set(err, AC_ERR_FORMAT, path, "\"__metadata__\" value \"%s\" is not a string", mk);
                    goto done;
                }
            }
            continue;
        }
        ac__st_tensor *t = &f->tensors[f->n_tensors];
        t->name = ac_strdup(key);
        if (!t->name) {
            rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading the safetensors header");
            goto done;
        }
        f->n_tensors++;
        rc = parse_entry(f, t, value, data_size, err);
        if (rc) goto done;
    }

    /* overlap check: sort by start, compare with the furthest end seen so far */
    if (f->n_tensors > 1) {
        ac__st_tensor **order = ac_calloc(f->n_tensors, sizeof *order);
        if (!order) {
            rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory reading the safetensors header");
            goto done;
        }
        for (size_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
        qsort(order, f->n_tensors, sizeof *order, cmp_tensor_ptr_begin);
        const ac__st_tensor *furthest = NULL;
        for (size_t i = 0; i < f->n_tensors && !rc; i++) {
            const ac__st_tensor *t = order[i];
            if (t->begin == t->end) continue;
            if (furthest && t->begin < furthest->end)
                rc = ac_error_set(err, AC_ERR_FORMAT, path,
                                  "tensors %s [%zu, %zu) and %s [%zu, %zu) overlap", furthest->name,
                                  furthest->begin, furthest->end, t->name, t->begin, t->end);
            if (!furthest || t->end > furthest->end) furthest = t;
        }
        ac_free(order);
        if (rc) goto done;
    }
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_tensor_name);
done:
    json_decref(root);
    return rc;
}

int ac__st_open(ac__st_file *f, const char *path, ac_error *err) {
    memset(f, 0, sizeof *f);
    f->path = ac_strdup(path);
    if (!f->path) return ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = ac_error_set(err, AC_ERR_IO, path, "cannot open: %s", strerror(errno));
        ac__st_close(f);
        return rc;
    }
    struct stat st;
    int rc = AC_OK;
    if (fstat(fd, &st) != 0) {
        rc = ac_error_set(err, AC_ERR_IO, path, "cannot stat: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = ac_error_set(err, AC_ERR_IO, path, "not a regular file");
    } else if (st.st_size < 8) {
        rc = ac_error_set_offset(err, AC_ERR_FORMAT, path, 0,
                                 "file too short for a safetensors header (%lld bytes; truncated?)",
                                 (long long)st.st_size);
    } else if ((unsigned long long)st.st_size > (unsigned long long)SIZE_MAX) {
        rc = ac_error_set(err, AC_ERR_IO, path, "file too large to map");
    } else {
        f->size = (size_t)st.st_size;
        void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            f->size = 0;
            rc = ac_error_set(err, AC_ERR_IO, path, "cannot map: %s", strerror(errno));
        } else {
            f->map = map;
        }
    }
    close(fd);
    if (rc) {
        ac__st_close(f);
        return rc;
    }
    uint64_t header_len = read_u64_le(f->map);
    if (header_len > (uint64_t)(f->size - 8)) {
        rc = ac_error_set_offset(err, AC_ERR_FORMAT, path, 0,
                                 "header length %llu larger than the file (%zu bytes; truncated?)",
                                 (unsigned long long)header_len, f->size);
    } else if (header_len > ST_MAX_HEADER) {
        rc = ac_error_set_offset(err, AC_ERR_FORMAT, path, 0, "header length %llu above the 100 MB limit",
                                 (unsigned long long)header_len);
    } else {
        f->data_start = 8 + (size_t)header_len;
        rc = parse_header(f, err);
    }
    if (rc) ac__st_close(f);
    return rc;
}

ac__st_tensor *ac__st_find(const ac__st_file *f, const char *name) {
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[mid].name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

static void format_shape(char *buf, size_t n, int ndim, const size_t *shape) {
    size_t used = 0;
    buf[0] = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%zu", i ? "," : "", shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

int ac__st_expect(const ac__st_file *f, const ac__st_tensor *t, int ndim, const size_t *shape,
                  ac_error *err) {
    if (!dtype_convertible(t->dtype))
        return ac_error_set(err, AC_ERR_UNSUPPORTED, f->path,
                            "tensor %s has dtype %s (only F32, F16 and BF16 are supported)", t->name,
                            ac__st_dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[128], want[128];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return ac_error_set(err, AC_ERR_SHAPE, f->path, "tensor %s has shape %s, expected %s", t->name,
                            have, want);
    }
    return AC_OK;
}

static int non_finite(const ac__st_file *f, const ac__st_tensor *t, size_t index, ac_error *err) {
    return ac_error_set(err, AC_ERR_FORMAT, f->path,
                        "tensor %s has a non-finite value (NaN or Inf) at flat index %zu", t->name, index);
}

int ac__st_read(const ac__st_file *f, const ac__st_tensor *t, size_t first, size_t count,
                float *dst, size_t dst_stride, ac_error *err) {
    size_t last;
    if (ac_add_size(first, count, &last) || last > t->count)
        return ac_error_set(err, AC_ERR_INTERNAL, f->path, "tensor %s: read of [%zu, +%zu) outside %zu elements",
                            t->name, first, count, t->count);
    if (!dtype_convertible(t->dtype))
        return ac_error_set(err, AC_ERR_UNSUPPORTED, f->path,
                            "tensor %s has dtype %s (only F32, F16 and BF16 are supported)", t->name,
                            ac__st_dtype_name(t->dtype));
    const size_t esize = ac__st_dtype_size(t->dtype);
    const unsigned char *p = f->map + f->data_start + t->begin + first * esize;
    switch (t->dtype) {
    case AC__ST_F32:
        for (size_t k = 0; k < count; k++, p += 4) {
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            if ((u & 0x7f800000u) == 0x7f800000u) return non_finite(f, t, first + k, err);
            dst[k * dst_stride] = bits_to_f32(u);
        }
        break;
    case AC__ST_F16:
        for (size_t k = 0; k < count; k++, p += 2) {
            uint16_t h = (uint16_t)(p[0] | p[1] << 8);
            if ((h & 0x7c00u) == 0x7c00u) return non_finite(f, t, first + k, err);
            dst[k * dst_stride] = ac__f16_to_f32(h);
        }
        break;
    case AC__ST_BF16:
        for (size_t k = 0; k < count; k++, p += 2) {
            uint16_t b = (uint16_t)(p[0] | p[1] << 8);
            if ((b & 0x7f80u) == 0x7f80u) return non_finite(f, t, first + k, err);
            dst[k * dst_stride] = ac__bf16_to_f32(b);
        }
        break;
    default:
        return ac_error_set(err, AC_ERR_INTERNAL, f->path, "unreachable dtype");
    }
    return AC_OK;
}

void ac__st_release(const ac__st_file *f, const ac__st_tensor *t) {
    if (!f->map || !f->size) return;
    const long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) return;
    const uintptr_t page = (uintptr_t)ps;
    const uintptr_t base = (uintptr_t)f->map, end = (base + f->size + page - 1) & ~(page - 1);
    uintptr_t a = (base + f->data_start + t->begin) & ~(page - 1);
    uintptr_t b = (base + f->data_start + t->end + page - 1) & ~(page - 1);
    if (b > end) b = end;
    if (a < b) (void)madvise((void *)a, (size_t)(b - a), MADV_DONTNEED);
}

/* ---- writer -------------------------------------------------------------------------- */

static void put_u64_le(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int write_tensor_data(FILE *fp, const ac__st_out_tensor *t, size_t count, float *scratch) {
    const size_t esize = ac__st_dtype_size(t->dtype);
    if (t->raw) return fwrite(t->raw, esize, count, fp) == count ? 0 : -1;
    const float *values = t->data;
    if (!values) {
        t->fill(t->fill_ctx, scratch);
        values = scratch;
    }
    enum { CHUNK = 4096 };
    unsigned char buf[CHUNK * 4];
    for (size_t first = 0; first < count; first += CHUNK) {
        size_t n = count - first < CHUNK ? count - first : CHUNK;
        const float *src = values + first;
        unsigned char *q = buf;
        for (size_t k = 0; k < n; k++) {
            if (t->dtype == AC__ST_F32) {
                uint32_t u = f32_to_bits(src[k]);
                for (int b = 0; b < 4; b++) *q++ = (unsigned char)(u >> (8 * b));
            } else {
                uint16_t h = t->dtype == AC__ST_F16 ? ac__f32_to_f16(src[k]) : ac__f32_to_bf16(src[k]);
                *q++ = (unsigned char)h;
                *q++ = (unsigned char)(h >> 8);
            }
        }
        if (fwrite(buf, 1, (size_t)(q - buf), fp) != (size_t)(q - buf)) return -1;
    }
    return 0;
}

/* 1 when `s` is well-formed UTF-8 (what jansson requires of keys and strings: no
 * overlong forms, surrogates or code points above U+10FFFF), else 0. */
static int utf8_ok(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s, n, min;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) n = 1, min = 0x80, cp = c & 0x1Fu;
        else if (c >= 0xE0 && c <= 0xEF) n = 2, min = 0x800, cp = c & 0x0Fu;
        else if (c >= 0xF0 && c <= 0xF4) n = 3, min = 0x10000, cp = c & 0x07u;
        else return 0;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        s += n + 1;
    }
    return 1;
}

int ac__st_write(const char *path, const ac__st_out_tensor *tensors, size_t n,
                 const char *const *meta_keys, const char *const *meta_values,
                 size_t n_metadata, ac_error *err) {
    int rc = AC_OK;
    json_t *root = json_object();
    char *header = NULL, *tmp = NULL;
    float *scratch = NULL;
    FILE *fp = NULL;
    size_t *counts = ac_calloc(n ? n : 1, sizeof *counts);
    if (!root || !counts) {
        rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory writing safetensors");
        goto done;
    }
    if (n_metadata) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta)) {
            rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory writing safetensors");
            goto done;
        }
        for (size_t i = 0; i < n_metadata; i++) {
            if (!utf8_ok(meta_keys[i]) || !utf8_ok(meta_values[i])) {
                rc = ac_error_set(err, AC_ERR_ARG, path, "metadata entry \"%s\" is not UTF-8", meta_keys[i]);
                goto done;
            }
            if (json_object_set_new(meta, meta_keys[i], json_string(meta_values[i]))) {
                rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory writing safetensors");
                goto done;
            }
        }
    }
    size_t offset = 0, scratch_count = 0;
    for (size_t i = 0; i < n; i++) {
        const ac__st_out_tensor *t = &tensors[i];
        if (!dtype_convertible(t->dtype) || t->ndim < 0 || t->ndim > AC__ST_MAX_DIMS ||
            (!t->data && !t->raw && !t->fill) || strcmp(t->name, "__metadata__") == 0) {
            rc = ac_error_set(err, AC_ERR_ARG, path, "tensor %s: bad dtype, shape or data", t->name);
            goto done;
        }
        if (json_object_get(root, t->name)) {
            rc = ac_error_set(err, AC_ERR_ARG, path, "tensor %s written twice", t->name);
            goto done;
        }
        size_t count = 1, bytes, end;
        json_t *shape = json_array();
        json_t *entry = json_object();
        json_t *offsets = json_array();
        int bad = !shape || !entry || !offsets;
        for (int d = 0; !bad && d < t->ndim; d++) {
            bad |= ac_mul_size(count, t->shape[d], &count) != 0;
            bad |= json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0;
        }
        bad = bad || ac_mul_size(count, ac__st_dtype_size(t->dtype), &bytes) || ac_add_size(offset, bytes, &end);
        if (!bad) {
            bad |= json_array_append_new(offsets, json_integer((json_int_t)offset)) != 0;
            bad |= json_array_append_new(offsets, json_integer((json_int_t)end)) != 0;
            bad |= json_object_set_new(entry, "dtype", json_string(ac__st_dtype_name(t->dtype))) != 0;
            bad |= json_object_set(entry, "shape", shape) != 0;
            bad |= json_object_set(entry, "data_offsets", offsets) != 0;
            bad |= json_object_set(root, t->name, entry) != 0;
        }
        json_decref(shape);
        json_decref(offsets);
        json_decref(entry);
        if (bad) {
            rc = ac_error_set(err, AC_ERR_NOMEM, path, "tensor %s: cannot build the header entry", t->name);
            goto done;
        }
        counts[i] = count;
        offset = end;
        if (!t->data && !t->raw && count > scratch_count) scratch_count = count;
    }
    if (scratch_count && !(scratch = ac_alloc_aligned(scratch_count, sizeof *scratch))) {
        rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory writing safetensors");
        goto done;
    }
    header = ac__json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!header) {
        rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory writing safetensors");
        goto done;
    }
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) & ~(size_t)7;
    size_t plen = strlen(path);
    tmp = ac_malloc(plen + 5);
    if (!tmp) {
        rc = ac_error_set(err, AC_ERR_NOMEM, path, "out of memory");
        goto done;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    fp = fopen(tmp, "wb");
    if (!fp) {
        rc = ac_error_set(err, AC_ERR_IO, tmp, "cannot create: %s", strerror(errno));
        goto done;
    }
    unsigned char len8[8];
    put_u64_le(len8, padded);
    int bad = fwrite(len8, 1, 8, fp) != 8 || fwrite(header, 1, hlen, fp) != hlen;
    for (size_t i = hlen; !bad && i < padded; i++) bad = fputc(' ', fp) == EOF;
    for (size_t i = 0; !bad && i < n; i++) bad = write_tensor_data(fp, &tensors[i], counts[i], scratch) != 0;
    if (!bad) bad = fflush(fp) != 0 || fsync(fileno(fp)) != 0;
    if (fclose(fp) != 0) bad = 1;
    fp = NULL;
    if (bad) {
        rc = ac_error_set(err, AC_ERR_IO, tmp, "write failed: %s", strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = ac_error_set(err, AC_ERR_IO, path, "cannot rename %s into place: %s", tmp, strerror(errno));
        unlink(tmp);
    }
done:
    if (fp) fclose(fp);
    free(header); /* from jansson */
    ac_free(tmp);
    ac_free(counts);
    ac_free_aligned(scratch);
    json_decref(root);
    return rc;
}
