/* The dataset shuffle (Python's random.shuffle after random.seed(seed), reproduced
 * exactly so splits match auto-circuit's) and the batch-key hash.
 *
 * Python's generator is MT19937 (Matsumoto & Nishimura 1998). random.seed(n) for an
 * integer n seeds it with init_by_array over the 32-bit words of |n|, least significant
 * first (one word [0] for n = 0). random.shuffle(x) walks i = len-1 down to 1 and swaps
 * x[i] with x[j], j = randbelow(i+1); randbelow(m) draws k = bit_length(m) bits as the
 * top k bits of one 32-bit output and redraws while the value is >= m. */
#include "data/dataset_internal.h"

enum { MT_N = 624, MT_M = 397 };

typedef struct mt19937 {
    uint32_t state[MT_N];
    int next; /* index of the next word to temper; MT_N: regenerate */
} mt19937;

static void mt_init_scalar(mt19937 *mt, uint32_t s) {
    mt->state[0] = s;
    for (uint32_t i = 1; i < MT_N; i++) {
        uint32_t prev = mt->state[i - 1];
        mt->state[i] = 1812433253u * (prev ^ (prev >> 30)) + i;
    }
    mt->next = MT_N;
}

static void mt_init_array(mt19937 *mt, const uint32_t *key, uint32_t key_len) {
    mt_init_scalar(mt, 19650218u);
    uint32_t i = 1, j = 0;
    uint32_t k = key_len > MT_N ? key_len : MT_N;
    for (; k; k--) {
        uint32_t prev = mt->state[i - 1];
        mt->state[i] = (mt->state[i] ^ ((prev ^ (prev >> 30)) * 1664525u)) + key[j] + j;
        i++;
        j++;
        if (i >= MT_N) {
            mt->state[0] = mt->state[MT_N - 1];
            i = 1;
        }
        if (j >= key_len) j = 0;
    }
    for (k = MT_N - 1; k; k--) {
        uint32_t prev = mt->state[i - 1];
        mt->state[i] = (mt->state[i] ^ ((prev ^ (prev >> 30)) * 1566083941u)) - i;
        i++;
        if (i >= MT_N) {
            mt->state[0] = mt->state[MT_N - 1];
            i = 1;
        }
    }
    mt->state[0] = 0x80000000u; /* guarantees a non-zero state */
}

static void mt_regenerate(mt19937 *mt) {
    static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
    const uint32_t upper = 0x80000000u, lower = 0x7fffffffu;
    int i;
    for (i = 0; i < MT_N - MT_M; i++) {
        uint32_t y = (mt->state[i] & upper) | (mt->state[i + 1] & lower);
        mt->state[i] = mt->state[i + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
    }
    for (; i < MT_N - 1; i++) {
        uint32_t y = (mt->state[i] & upper) | (mt->state[i + 1] & lower);
        mt->state[i] = mt->state[i + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
    }
    uint32_t y = (mt->state[MT_N - 1] & upper) | (mt->state[0] & lower);
    mt->state[MT_N - 1] = mt->state[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
    mt->next = 0;
}

static uint32_t mt_next_u32(mt19937 *mt) {
    if (mt->next >= MT_N) mt_regenerate(mt);
    uint32_t y = mt->state[mt->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* Python's Random._randbelow_with_getrandbits for 0 < m < 2^32. */
static uint32_t mt_below(mt19937 *mt, uint32_t m) {
    unsigned bits = 0;
    for (uint32_t v = m; v; v >>= 1)
        bits++;
    for (;;) {
        uint32_t r = mt_next_u32(mt) >> (32u - bits);
        if (r < m) return r;
    }
}

int ac_dataset_shuffle_order(size_t *perm, size_t n, uint64_t seed, ac_error *err) {
    if ((uint64_t)n >= ((uint64_t)1 << 32))
        return ac_error_set(err, AC_ERR_RANGE, NULL,
                            "cannot shuffle %zu prompts: at most 2^32 - 1 are supported", n);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    if (n < 2) return AC_OK;
    uint32_t key[2] = {(uint32_t)(seed & 0xffffffffu), (uint32_t)(seed >> 32)};
    uint32_t key_len = key[1] ? 2u : 1u;
    mt19937 mt;
    mt_init_array(&mt, key, key_len);
    for (size_t i = n - 1; i >= 1; i--) {
        size_t j = mt_below(&mt, (uint32_t)(i + 1));
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return AC_OK;
}

/* ---- batch key: FNV-1a 64 ------------------------------------------------------- */

enum { FNV_BYTE_BITS = 8 };
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static uint64_t fnv_byte(uint64_t h, uint8_t b) { return (h ^ b) * FNV_PRIME; }

static uint64_t fnv_u64(uint64_t h, uint64_t v) {
    for (int i = 0; i < 8; i++)
        h = fnv_byte(h, (uint8_t)(v >> (FNV_BYTE_BITS * i)));
    return h;
}

static uint64_t fnv_i32s(uint64_t h, const int32_t *v, size_t n) {
    for (size_t k = 0; k < n; k++) {
        uint32_t u = (uint32_t)v[k];
        for (int i = 0; i < 4; i++)
            h = fnv_byte(h, (uint8_t)(u >> (FNV_BYTE_BITS * i)));
    }
    return h;
}

static uint64_t fnv_bytes(uint64_t h, const uint8_t *v, size_t n) {
    for (size_t k = 0; k < n; k++)
        h = fnv_byte(h, v[k]);
    return h;
}

uint64_t ac_batch_key(size_t batch_size, size_t seq_len, const int32_t *clean,
                      const int32_t *corrupt, const uint8_t *clean_mask,
                      const uint8_t *corrupt_mask) {
    size_t n = batch_size * seq_len; /* the caller's arrays exist, so this fits */
    uint64_t h = FNV_OFFSET;
    h = fnv_u64(h, (uint64_t)batch_size);
    h = fnv_u64(h, (uint64_t)seq_len);
    h = fnv_i32s(h, clean, n);
    h = fnv_i32s(h, corrupt, n);
    h = fnv_bytes(h, clean_mask, n);
    h = fnv_bytes(h, corrupt_mask, n);
    return h;
}
