/* Transformer kernels (see ops.h). Vectorised with OpenMP SIMD and BLAS; IEEE float
 * semantics throughout (no value-changing compiler flags). */
#include "model/ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

void ac__matmul_forward(float *out, int ld_out, const float *in, int ld_in, const float *W,
                        const float *bias, int N, int IN, int OUT) {
    if (N <= 0 || OUT <= 0) return;
    if (bias) {
        for (int i = 0; i < N; i++) memcpy(out + (size_t)i * (size_t)ld_out, bias, (size_t)OUT * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, in, ld_in, W, IN,
                bias ? 1.0f : 0.0f, out, ld_out);
}

void ac__matmul_backward_input(float *din, int ld_din, const float *dout, int ld_dout,
                               const float *W, int N, int IN, int OUT) {
    if (N <= 0 || IN <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, ld_dout, W,
                IN, 1.0f, din, ld_din);
}

/* ---- few-row products (the unembedding at the last position) ---------------------------- */

void ac__matmul_forward_few(float *out, int ld_out, const float *in, int ld_in, const float *W, int N,
                            int IN, int OUT) {
    if (N <= 0 || OUT <= 0) return;
    const size_t ldi = (size_t)ld_in, ldo = (size_t)ld_out;
#pragma omp parallel for schedule(static) if ((size_t)OUT * (size_t)IN > 65536)
    for (int v = 0; v < OUT; v++) {
        const float *w = W + (size_t)v * (size_t)IN;
        int r = 0;
        /* four rows at a time: four independent sums per pass over w */
        for (; r + 4 <= N; r += 4) {
            const float *x0 = in + (size_t)r * ldi, *x1 = x0 + ldi, *x2 = x1 + ldi, *x3 = x2 + ldi;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
            for (int k = 0; k < IN; k++) {
                a0 += x0[k] * w[k];
                a1 += x1[k] * w[k];
                a2 += x2[k] * w[k];
                a3 += x3[k] * w[k];
            }
            out[(size_t)r * ldo + (size_t)v] = a0;
            out[(size_t)(r + 1) * ldo + (size_t)v] = a1;
            out[(size_t)(r + 2) * ldo + (size_t)v] = a2;
            out[(size_t)(r + 3) * ldo + (size_t)v] = a3;
        }
        for (; r < N; r++) {
            const float *x = in + (size_t)r * ldi;
            float a = 0.0f;
#pragma omp simd reduction(+ : a)
            for (int k = 0; k < IN; k++) a += x[k] * w[k];
            out[(size_t)r * ldo + (size_t)v] = a;
        }
    }
}

void ac__matmul_backward_input_few(float *din, int ld_din, const float *dout, int ld_dout, const float *W,
                                   int N, int IN, int OUT) {
    if (N <= 0 || IN <= 0) return;
    /* threads split the IN columns (each sums over every v in order: the result does not
     * depend on the thread count); a v whose dout entries are all zero costs one test */
    const int chunk = 128;
    const int n_chunks = (IN + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if ((size_t)OUT * (size_t)IN > 65536)
    for (int c = 0; c < n_chunks; c++) {
        const int k0 = c * chunk, k1 = k0 + chunk < IN ? k0 + chunk : IN;
        for (int v = 0; v < OUT; v++) {
            const float *w = W + (size_t)v * (size_t)IN;
            for (int r = 0; r < N; r++) {
                const float g = dout[(size_t)r * (size_t)ld_dout + (size_t)v];
                if (g == 0.0f) continue;
                float *dst = din + (size_t)r * (size_t)ld_din;
#pragma omp simd
                for (int k = k0; k < k1; k++) dst[k] += g * w[k];
            }
        }
    }
}

/* ---- normalisation ---------------------------------------------------------------- */

static void norm_stats(const float *x, int C, float eps, ac_norm_kind kind, double *mean,
                       double *rstd) {
    double s = 0, ss = 0;
    if (kind == AC_NORM_LAYERNORM) {
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += x[c];
        double m = s / C;
#pragma omp simd reduction(+ : ss)
        for (int c = 0; c < C; c++) ss += (x[c] - m) * (x[c] - m);
        *mean = m;
        *rstd = 1.0 / sqrt(ss / C + (double)eps);
    } else {
#pragma omp simd reduction(+ : ss)
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        *mean = 0;
        *rstd = 1.0 / sqrt(ss / C + (double)eps);
    }
}

void ac__norm_forward(float *out, const float *in, const float *w, const float *b, int N,
                      int C, float eps, ac_norm_kind kind) {
    if (kind == AC_NORM_NONE) {
        memcpy(out, in, (size_t)N * (size_t)C * sizeof(float));
        return;
    }
#pragma omp parallel for schedule(static) if (N > 64)
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * (size_t)C;
        float *y = out + (size_t)i * (size_t)C;
        double mean, rstd;
        norm_stats(x, C, eps, kind, &mean, &rstd);
        const float m = (float)mean, r = (float)rstd;
        if (b) {
#pragma omp simd
            for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * w[c] + b[c];
        } else {
#pragma omp simd
            for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * w[c];
        }
    }
}

/* One row of the norm backward with its statistics: dx = (or +=) rstd·(g − mean(g) −
 * x̂·mean(g·x̂)), g = dy·w, x̂ = (x − mean)·rstd (RMSNorm: no mean(g) term). */
static inline void norm_backward_row(float *dx, int overwrite, const float *dy, const float *x, const float *w,
                                     double mean, double rstd, int C, ac_norm_kind kind) {
    double sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int c = 0; c < C; c++) {
        double g = (double)dy[c] * w[c];
        double xh = ((double)x[c] - mean) * rstd;
        sum_g += g;
        sum_gx += g * xh;
    }
    const double mg = kind == AC_NORM_LAYERNORM ? sum_g / C : 0.0;
    const double mgx = sum_gx / C;
    if (overwrite) {
#pragma omp simd
        for (int c = 0; c < C; c++) {
            double g = (double)dy[c] * w[c];
            double xh = ((double)x[c] - mean) * rstd;
            dx[c] = (float)(rstd * (g - mg - xh * mgx));
        }
    } else {
#pragma omp simd
        for (int c = 0; c < C; c++) {
            double g = (double)dy[c] * w[c];
            double xh = ((double)x[c] - mean) * rstd;
            dx[c] += (float)(rstd * (g - mg - xh * mgx));
        }
    }
}

/* kind NONE: the gradient passes through */
static void norm_none_backward(float *din, int overwrite, const float *dout, int N, int C) {
    const size_t n = (size_t)N * (size_t)C;
    if (overwrite) {
        memcpy(din, dout, n * sizeof(float));
        return;
    }
#pragma omp simd
    for (size_t i = 0; i < n; i++) din[i] += dout[i];
}

void ac__norm_backward(float *din, const float *dout, const float *in, const float *w, int N,
                       int C, float eps, ac_norm_kind kind) {
    if (kind == AC_NORM_NONE) {
        norm_none_backward(din, 0, dout, N, C);
        return;
    }
#pragma omp parallel for schedule(static) if (N > 64)
    for (int i = 0; i < N; i++) {
        const size_t row = (size_t)i * (size_t)C;
        double mean, rstd;
        norm_stats(in + row, C, eps, kind, &mean, &rstd);
        norm_backward_row(din + row, 0, dout + row, in + row, w, mean, rstd, C, kind);
    }
}

void ac__norm_stats(double *mean, double *rstd, const float *in, int N, int C, float eps, ac_norm_kind kind) {
#pragma omp parallel for schedule(static) if (N > 64)
    for (int i = 0; i < N; i++) {
        if (kind == AC_NORM_NONE) {
            mean[i] = 0;
            rstd[i] = 1;
            continue;
        }
        norm_stats(in + (size_t)i * (size_t)C, C, eps, kind, &mean[i], &rstd[i]);
    }
}

void ac__norm_backward_stats(float *din, int overwrite, const float *dout, const float *in, const float *w,
                             const double *mean, const double *rstd, int N, int C, ac_norm_kind kind) {
    if (kind == AC_NORM_NONE) {
        norm_none_backward(din, overwrite, dout, N, C);
        return;
    }
#pragma omp parallel for schedule(static) if (N > 64)
    for (int i = 0; i < N; i++) {
        const size_t row = (size_t)i * (size_t)C;
        norm_backward_row(din + row, overwrite, dout + row, in + row, w, mean[i], rstd[i], C, kind);
    }
}

/* ---- activations ------------------------------------------------------------------- */

#define GELU_K 0.7978845608028654 /* sqrt(2/pi) */

/* e^x in float, written so that `omp simd` loops vectorise it (glibc's expf is a scalar
 * call per element unless value-changing float flags are on): Cephes' expf, range
 * reduction by n·ln 2 in two parts, a degree-5 polynomial on [-ln2/2, ln2/2] and 2^n
 * through the exponent bits.
 * Relative error below 2.5e-7 on [-87, 88] (tests/test_ops.c checks it against exp);
 * 0 below -87.3, +inf above 88.7, NaN for NaN. */
#pragma omp declare simd
static inline float exp_f32(float x) {
    const float hi = 88.72283f, lo = -87.33654f;
    const float xc = x < lo ? lo : x <= hi ? x : hi; /* NaN: hi, finite (the result is NaN below) */
    /* n = round(x / ln 2): adding 1.5·2^23 rounds to an integer (the vectorisable way;
     * floorf would not vectorise without relaxed float flags) */
    const float shifted = xc * 1.44269504088896341f + 12582912.0f;
    const float n = shifted - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = p * r * r + r + 1.0f;
    /* 2^n (n in [-126, 128]: 2^128 overflows to +inf through the two halves) */
    const int32_t ni = (int32_t)n; /* exact: n is an integer in [-126, 128] */
    const int32_t n1 = ni / 2, n2 = ni - n1;
    const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1); /* a bit cast, which vectorises (a union would not) */
    memcpy(&s2, &b2, sizeof s2);
    float v = y * s1 * s2;
    if (x > hi) v = INFINITY;
    if (x < lo) v = 0.0f;
    return x != x ? x : v;
}

float ac__exp_f32(float x) { return exp_f32(x); }

/* x·sigmoid(2u), u = √(2/π)(x + 0.044715x³): 0.5·x·(1 + tanh(u)) without tanhf and
 * without cancellation in 1 + tanh(u) for negative u */
#pragma omp declare simd
static inline float gelu_new_value(float x) {
    const float u = (float)GELU_K * (x + 0.044715f * x * x * x);
    return x / (1.0f + exp_f32(-2.0f * u));
}

/* with s = sigmoid(2u) = (1 + tanh u)/2: s + 2·x·s·(1 − s)·du/dx */
#pragma omp declare simd
static inline float gelu_new_grad(float x) {
    const float x2 = x * x;
    const float u = (float)GELU_K * (x + 0.044715f * x2 * x);
    const float s = 1.0f / (1.0f + exp_f32(-2.0f * u));
    const float du = (float)GELU_K * (1.0f + 3.0f * 0.044715f * x2);
    return s + 2.0f * x * s * (1.0f - s) * du;
}

#pragma omp declare simd
static inline float silu_value(float x) { return x / (1.0f + exp_f32(-x)); }

#pragma omp declare simd
static inline float silu_grad(float x) {
    const float s = 1.0f / (1.0f + exp_f32(-x));
    return s * (1.0f + x * (1.0f - s));
}

static inline float act_value(float x, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_GELU_NEW:
        return gelu_new_value(x);
    case AC_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case AC_ACT_RELU:
        return x > 0 ? x : 0.0f;
    case AC_ACT_SILU:
    default:
        return silu_value(x);
    }
}

static inline float act_grad(float x, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_GELU_NEW:
        return gelu_new_grad(x);
    case AC_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = exp_f32(-0.5f * x * x) * 0.3989422804014327f;
        return cdf + x * pdf;
    }
    case AC_ACT_RELU:
        return x > 0 ? 1.0f : 0.0f;
    case AC_ACT_SILU:
    default:
        return silu_grad(x);
    }
}

/* The element-wise loops, one per kind so that each vectorises (the kind is a loop
 * invariant; a switch inside the loop would keep it scalar). */
#define ACT_LOOP(n, body)                                                                          \
    _Pragma("omp parallel for simd schedule(static) if (n > 65536)") for (size_t i = 0; i < (n); i++) body

void ac__act_forward(float *out, const float *in, size_t n, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_GELU_NEW:
        ACT_LOOP(n, { out[i] = gelu_new_value(in[i]); })
        return;
    case AC_ACT_SILU:
        ACT_LOOP(n, { out[i] = silu_value(in[i]); })
        return;
    default:
        ACT_LOOP(n, { out[i] = act_value(in[i], kind); })
        return;
    }
}

void ac__act_backward(float *din, const float *dout, const float *in, size_t n, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_GELU_NEW:
        ACT_LOOP(n, { din[i] += dout[i] * gelu_new_grad(in[i]); })
        return;
    case AC_ACT_SILU:
        ACT_LOOP(n, { din[i] += dout[i] * silu_grad(in[i]); })
        return;
    default:
        ACT_LOOP(n, { din[i] += dout[i] * act_grad(in[i], kind); })
        return;
    }
}

void ac__gated_forward(float *out, const float *gate, const float *up, size_t n, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_SILU:
        ACT_LOOP(n, { out[i] = silu_value(gate[i]) * up[i]; })
        return;
    default:
        ACT_LOOP(n, { out[i] = act_value(gate[i], kind) * up[i]; })
        return;
    }
}

void ac__gated_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, size_t n, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_SILU:
        ACT_LOOP(n, {
            dgate[i] += dout[i] * up[i] * silu_grad(gate[i]);
            dup[i] += dout[i] * silu_value(gate[i]);
        })
        return;
    default:
        ACT_LOOP(n, {
            dgate[i] += dout[i] * up[i] * act_grad(gate[i], kind);
            dup[i] += dout[i] * act_value(gate[i], kind);
        })
        return;
    }
}

/* The same over `rows` rows of n values at row stride ld (ld == n: one pass). */
void ac__act_forward_rows(float *out, const float *in, int rows, size_t ld, size_t n, ac_act_kind kind) {
    if (ld == n) {
        ac__act_forward(out, in, (size_t)rows * n, kind);
        return;
    }
    for (size_t i = 0; i < (size_t)rows; i++) ac__act_forward(out + i * ld, in + i * ld, n, kind);
}

void ac__act_backward_rows(float *din, const float *dout, const float *in, int rows, size_t ld, size_t n,
                           ac_act_kind kind) {
    if (ld == n) {
        ac__act_backward(din, dout, in, (size_t)rows * n, kind);
        return;
    }
    for (size_t i = 0; i < (size_t)rows; i++) ac__act_backward(din + i * ld, dout + i * ld, in + i * ld, n, kind);
}

void ac__gated_forward_rows(float *out, const float *gate, const float *up, int rows, size_t ld, size_t n,
                            ac_act_kind kind) {
    if (ld == n) {
        ac__gated_forward(out, gate, up, (size_t)rows * n, kind);
        return;
    }
    for (size_t i = 0; i < (size_t)rows; i++) ac__gated_forward(out + i * ld, gate + i * ld, up + i * ld, n, kind);
}

void ac__gated_backward_rows(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                             int rows, size_t ld, size_t n, ac_act_kind kind) {
    if (ld == n) {
        ac__gated_backward(dgate, dup, dout, gate, up, (size_t)rows * n, kind);
        return;
    }
    for (size_t i = 0; i < (size_t)rows; i++)
        ac__gated_backward(dgate + i * ld, dup + i * ld, dout + i * ld, gate + i * ld, up + i * ld, n, kind);
}

/* ---- rotary embeddings ------------------------------------------------------------- */

void ac__rope_inv_freq(float *inv_freq, const ac_config *cfg) {
    const int half = cfg->d_head / 2;
    for (int i = 0; i < half; i++) {
        /* as Hugging Face and llama2.c compute it, in float */
        float f = 1.0f / powf(cfg->rope_theta, (float)(2 * i) / (float)cfg->d_head);
        if (cfg->rope_scaling_factor > 0) {
            /* "llama3" scaling (Hugging Face _compute_llama3_parameters) */
            const float factor = cfg->rope_scaling_factor;
            const float lo = cfg->rope_low_freq_factor, hi = cfg->rope_high_freq_factor;
            const float old = (float)cfg->rope_original_max_pos;
            const float low_wavelen = old / lo, high_wavelen = old / hi;
            const float wavelen = 2.0f * 3.14159265358979323846f / f;
            if (wavelen > low_wavelen) f = f / factor;
            else if (wavelen >= high_wavelen) {
                float smooth = (old / wavelen - lo) / (hi - lo);
                f = (1.0f - smooth) * f / factor + smooth * f;
            }
        }
        inv_freq[i] = f;
    }
}

void ac__rope_apply(float *x, int ld, const int32_t *pos, const float *inv_freq, int N,
                    int nh, int dh, ac_pos_kind kind, int inverse) {
    if (kind != AC_POS_ROPE_INTERLEAVED && kind != AC_POS_ROPE_HALF) return;
    const int half = dh / 2;
#pragma omp parallel for schedule(static) if (N > 64)
    for (int r = 0; r < N; r++) {
        float *row = x + (size_t)r * (size_t)ld;
        for (int i = 0; i < half; i++) {
            float ang = (float)pos[r] * inv_freq[i];
            float c = cosf(ang), s = sinf(ang);
            if (inverse) s = -s;
            for (int h = 0; h < nh; h++) {
                float *v = row + h * dh;
                int a = kind == AC_POS_ROPE_INTERLEAVED ? 2 * i : i;
                int b = kind == AC_POS_ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
        }
    }
}

/* ---- attention --------------------------------------------------------------------- */

/* Key jj of (batch b, kv head g): prefix row jj (< P) of pkv, else tail row jj - P. */
static inline const float *att_key(const float *qkv, size_t ld_qkv, size_t koff, const float *pkv,
                                   size_t ld_kv, int P, int T, int b, int g, int dh, int jj) {
    if (jj < P) return pkv + (size_t)jj * ld_kv + (size_t)g * (size_t)dh;
    return qkv + ((size_t)b * (size_t)T + (size_t)(jj - P)) * ld_qkv + koff + (size_t)g * (size_t)dh;
}

void ac__attention_forward(float *z, float *probs, const float *qkv, int ld_qkv,
                           const uint8_t *mask, int B, int T, int H, int Hkv, int dh) {
    ac__attention_forward_kv(z, probs, qkv, ld_qkv, mask, B, T, H, Hkv, dh, NULL, 0);
}

void ac__attention_forward_kv(float *z, float *probs, const float *qkv, int ld_qkv,
                              const uint8_t *mask, int B, int T, int H, int Hkv, int dh,
                              const float *pkv, int P) {
    const int group = H / Hkv;
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t koff = (size_t)H * (size_t)dh, voff = (size_t)(H + Hkv) * (size_t)dh;
    const size_t ldz = (size_t)H * (size_t)dh, ldq = (size_t)ld_qkv;
    const size_t ld_kv = 2 * (size_t)Hkv * (size_t)dh, pvoff = (size_t)Hkv * (size_t)dh;
    const int S = P + T; /* keys per query row */
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * (size_t)H * (size_t)T * (size_t)S * (size_t)dh > 65536)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const int g = h / group;
            for (int t = 0; t < T; t++) {
                float *p = probs + (((size_t)b * (size_t)H + (size_t)h) * (size_t)T + (size_t)t) * (size_t)S;
                float *zr = z + ((size_t)b * (size_t)T + (size_t)t) * ldz + (size_t)h * (size_t)dh;
                memset(p, 0, (size_t)S * sizeof(float));
                memset(zr, 0, (size_t)dh * sizeof(float));
                if (mask && !mask[b * T + t]) continue;
                const float *q = qkv + ((size_t)b * (size_t)T + (size_t)t) * ldq + (size_t)h * (size_t)dh;
                const int last = P + t; /* causal: keys 0 .. P + t */
                float maxv = -INFINITY;
                for (int jj = 0; jj <= last; jj++) {
                    if (jj >= P && mask && !mask[b * T + jj - P]) continue;
                    const float *k = att_key(qkv, ldq, koff, pkv, ld_kv, P, T, b, g, dh, jj);
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int c = 0; c < dh; c++) s += q[c] * k[c];
                    s *= scale;
                    p[jj] = s;
                    if (s > maxv) maxv = s;
                }
                double sum = 0;
                for (int jj = 0; jj <= last; jj++) {
                    if (jj >= P && mask && !mask[b * T + jj - P]) { p[jj] = 0; continue; }
                    float e = expf(p[jj] - maxv);
                    p[jj] = e;
                    sum += e;
                }
                const float inv = (float)(1.0 / sum);
                for (int jj = 0; jj <= last; jj++) {
                    if (p[jj] == 0) continue;
                    p[jj] *= inv;
                    const float *v = jj < P ? pkv + (size_t)jj * ld_kv + pvoff + (size_t)g * (size_t)dh
                                            : qkv + ((size_t)b * (size_t)T + (size_t)(jj - P)) * ldq + voff + (size_t)g * (size_t)dh;
                    const float pj = p[jj];
#pragma omp simd
                    for (int c = 0; c < dh; c++) zr[c] += pj * v[c];
                }
            }
        }
    }
}

void ac__attention_backward(float *dqkv, float *scratch, const float *dz, const float *probs,
                            const float *qkv, int ld_qkv, int B, int T, int H, int Hkv, int dh) {
    ac__attention_backward_kv(dqkv, scratch, dz, probs, qkv, ld_qkv, B, T, H, Hkv, dh, NULL, 0);
}

void ac__attention_backward_kv(float *dqkv, float *scratch, const float *dz, const float *probs,
                               const float *qkv, int ld_qkv, int B, int T, int H, int Hkv, int dh,
                               const float *pkv, int P) {
    const int group = H / Hkv;
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t koff = (size_t)H * (size_t)dh, voff = (size_t)(H + Hkv) * (size_t)dh;
    const size_t ldz = (size_t)H * (size_t)dh, ldq = (size_t)ld_qkv;
    const size_t ld_kv = 2 * (size_t)Hkv * (size_t)dh, pvoff = (size_t)Hkv * (size_t)dh;
    const int S = P + T;
    /* parallel over (batch, key/value head): each thread owns its dk, dv rows; the
     * prefix keys and values are constants (no gradient) */
#pragma omp parallel if ((size_t)B * (size_t)H * (size_t)T * (size_t)S * (size_t)dh > 65536)
    {
        float *dp = scratch + (size_t)omp_get_thread_num() * (size_t)S;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int g = 0; g < Hkv; g++) {
                for (int h = g * group; h < (g + 1) * group; h++) {
                    for (int t = 0; t < T; t++) {
                        const float *p = probs + (((size_t)b * (size_t)H + (size_t)h) * (size_t)T + (size_t)t) * (size_t)S;
                        const float *dzr = dz + ((size_t)b * (size_t)T + (size_t)t) * ldz + (size_t)h * (size_t)dh;
                        const float *q = qkv + ((size_t)b * (size_t)T + (size_t)t) * ldq + (size_t)h * (size_t)dh;
                        float *dq = dqkv + ((size_t)b * (size_t)T + (size_t)t) * ldq + (size_t)h * (size_t)dh;
                        const int last = P + t;
                        double pdp = 0;
                        for (int jj = 0; jj <= last; jj++) {
                            dp[jj] = 0;
                            if (p[jj] == 0) continue;
                            const float pj = p[jj];
                            float s = 0;
                            if (jj < P) {
                                const float *v = pkv + (size_t)jj * ld_kv + pvoff + (size_t)g * (size_t)dh;
#pragma omp simd reduction(+ : s)
                                for (int c = 0; c < dh; c++) s += dzr[c] * v[c];
                            } else {
                                const size_t rj = ((size_t)b * (size_t)T + (size_t)(jj - P)) * ldq;
                                const float *v = qkv + rj + voff + (size_t)g * (size_t)dh;
                                float *dv = dqkv + rj + voff + (size_t)g * (size_t)dh;
#pragma omp simd reduction(+ : s)
                                for (int c = 0; c < dh; c++) {
                                    s += dzr[c] * v[c];
                                    dv[c] += pj * dzr[c];
                                }
                            }
                            dp[jj] = s;
                            pdp += (double)pj * s;
                        }
                        for (int jj = 0; jj <= last; jj++) {
                            if (p[jj] == 0) continue;
                            const float ds = p[jj] * (dp[jj] - (float)pdp) * scale;
                            const float *k = att_key(qkv, ldq, koff, pkv, ld_kv, P, T, b, g, dh, jj);
                            if (jj < P) {
#pragma omp simd
                                for (int c = 0; c < dh; c++) dq[c] += ds * k[c];
                            } else {
                                float *dk = dqkv + ((size_t)b * (size_t)T + (size_t)(jj - P)) * ldq + koff + (size_t)g * (size_t)dh;
#pragma omp simd
                                for (int c = 0; c < dh; c++) {
                                    dq[c] += ds * k[c];
                                    dk[c] += ds * q[c];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/* ---- weight gradients ---------------------------------------------------------------- */

void ac__matmul_backward_weight(float *dW, float *db, const float *dout, int ld_dout,
                                const float *in, int ld_in, int N, int IN, int OUT) {
    if (N <= 0 || OUT <= 0 || IN <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, ld_dout, in,
                ld_in, 1.0f, dW, IN);
    if (!db) return;
    /* rows in order (deterministic); columns vectorised */
    for (int i = 0; i < N; i++) {
        const float *g = dout + (size_t)i * (size_t)ld_dout;
#pragma omp simd
        for (int o = 0; o < OUT; o++) db[o] += g[o];
    }
}

void ac__norm_backward_params(float *dw, float *db, const float *dout, const float *in, int N,
                              int C, float eps, ac_norm_kind kind) {
    if (kind == AC_NORM_NONE) return;
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * (size_t)C;
        const float *dy = dout + (size_t)i * (size_t)C;
        double mean, rstd;
        norm_stats(x, C, eps, kind, &mean, &rstd);
        const float m = (float)mean, r = (float)rstd;
#pragma omp simd
        for (int c = 0; c < C; c++) dw[c] += dy[c] * ((x[c] - m) * r);
        if (db) {
#pragma omp simd
            for (int c = 0; c < C; c++) db[c] += dy[c];
        }
    }
}

void ac__embedding_backward(float *dE, const float *dout, const int32_t *ids, int N, int C) {
    for (int i = 0; i < N; i++) {
        float *row = dE + (size_t)ids[i] * (size_t)C;
        const float *g = dout + (size_t)i * (size_t)C;
#pragma omp simd
        for (int c = 0; c < C; c++) row[c] += g[c];
    }
}
