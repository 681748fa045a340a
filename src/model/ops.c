/* Transformer kernels (see ops.h). Vectorised with OpenMP SIMD and BLAS; no fast-math. */
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

void ac__norm_backward(float *din, const float *dout, const float *in, const float *w, int N,
                       int C, float eps, ac_norm_kind kind) {
    if (kind == AC_NORM_NONE) {
        size_t n = (size_t)N * (size_t)C;
#pragma omp simd
        for (size_t i = 0; i < n; i++) din[i] += dout[i];
        return;
    }
#pragma omp parallel for schedule(static) if (N > 64)
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * (size_t)C;
        const float *dy = dout + (size_t)i * (size_t)C;
        float *dx = din + (size_t)i * (size_t)C;
        double mean, rstd;
        norm_stats(x, C, eps, kind, &mean, &rstd);
        /* xhat = (x - mean) * rstd; g = dy * w */
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
#pragma omp simd
        for (int c = 0; c < C; c++) {
            double g = (double)dy[c] * w[c];
            double xh = ((double)x[c] - mean) * rstd;
            dx[c] += (float)(rstd * (g - mg - xh * mgx));
        }
    }
}

/* ---- activations ------------------------------------------------------------------- */

#define GELU_K 0.7978845608028654 /* sqrt(2/pi) */

static inline float act_value(float x, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_GELU_NEW: {
        /* 0.5·x·(1 + tanh(u)) = x·sigmoid(2u): one expf instead of glibc's much slower
         * tanhf, and no cancellation in 1 + tanh(u) for negative u */
        float u = (float)GELU_K * (x + 0.044715f * x * x * x);
        return x / (1.0f + expf(-2.0f * u));
    }
    case AC_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case AC_ACT_RELU:
        return x > 0 ? x : 0.0f;
    case AC_ACT_SILU:
    default:
        return x / (1.0f + expf(-x));
    }
}

static inline float act_grad(float x, ac_act_kind kind) {
    switch (kind) {
    case AC_ACT_GELU_NEW: {
        /* with s = sigmoid(2u) = (1 + tanh u)/2: s + 2·x·s·(1 − s)·du/dx */
        float x2 = x * x;
        float u = (float)GELU_K * (x + 0.044715f * x2 * x);
        float s = 1.0f / (1.0f + expf(-2.0f * u));
        float du = (float)GELU_K * (1.0f + 3.0f * 0.044715f * x2);
        return s + 2.0f * x * s * (1.0f - s) * du;
    }
    case AC_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = expf(-0.5f * x * x) * 0.3989422804014327f;
        return cdf + x * pdf;
    }
    case AC_ACT_RELU:
        return x > 0 ? 1.0f : 0.0f;
    case AC_ACT_SILU:
    default: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    }
}

void ac__act_forward(float *out, const float *in, size_t n, ac_act_kind kind) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = act_value(in[i], kind);
}

void ac__act_backward(float *din, const float *dout, const float *in, size_t n, ac_act_kind kind) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * act_grad(in[i], kind);
}

void ac__gated_forward(float *out, const float *gate, const float *up, size_t n, ac_act_kind kind) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = act_value(gate[i], kind) * up[i];
}

void ac__gated_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, size_t n, ac_act_kind kind) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        dgate[i] += dout[i] * up[i] * act_grad(gate[i], kind);
        dup[i] += dout[i] * act_value(gate[i], kind);
    }
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

void ac__attention_forward(float *z, float *probs, const float *qkv, int ld_qkv,
                           const uint8_t *mask, int B, int T, int H, int Hkv, int dh) {
    const int group = H / Hkv;
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t koff = (size_t)H * (size_t)dh, voff = (size_t)(H + Hkv) * (size_t)dh;
    const size_t ldz = (size_t)H * (size_t)dh;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * (size_t)H * (size_t)T * (size_t)T * (size_t)dh > 65536)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const int g = h / group;
            for (int t = 0; t < T; t++) {
                float *p = probs + (((size_t)b * (size_t)H + (size_t)h) * (size_t)T + (size_t)t) * (size_t)T;
                float *zr = z + ((size_t)b * (size_t)T + (size_t)t) * ldz + (size_t)h * (size_t)dh;
                memset(p, 0, (size_t)T * sizeof(float));
                memset(zr, 0, (size_t)dh * sizeof(float));
                if (mask && !mask[b * T + t]) continue;
                const float *q = qkv + ((size_t)b * (size_t)T + (size_t)t) * (size_t)ld_qkv + (size_t)h * (size_t)dh;
                float maxv = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    if (mask && !mask[b * T + j]) continue;
                    const float *k = qkv + ((size_t)b * (size_t)T + (size_t)j) * (size_t)ld_qkv + koff + (size_t)g * (size_t)dh;
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int c = 0; c < dh; c++) s += q[c] * k[c];
                    s *= scale;
                    p[j] = s;
                    if (s > maxv) maxv = s;
                }
                double sum = 0;
                for (int j = 0; j <= t; j++) {
                    if (mask && !mask[b * T + j]) { p[j] = 0; continue; }
                    float e = expf(p[j] - maxv);
                    p[j] = e;
                    sum += e;
                }
                const float inv = (float)(1.0 / sum);
                for (int j = 0; j <= t; j++) {
                    if (p[j] == 0) continue;
                    p[j] *= inv;
                    const float *v = qkv + ((size_t)b * (size_t)T + (size_t)j) * (size_t)ld_qkv + voff + (size_t)g * (size_t)dh;
                    const float pj = p[j];
#pragma omp simd
                    for (int c = 0; c < dh; c++) zr[c] += pj * v[c];
                }
            }
        }
    }
}

void ac__attention_backward(float *dqkv, float *scratch, const float *dz, const float *probs,
                            const float *qkv, int ld_qkv, int B, int T, int H, int Hkv, int dh) {
    const int group = H / Hkv;
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t koff = (size_t)H * (size_t)dh, voff = (size_t)(H + Hkv) * (size_t)dh;
    const size_t ldz = (size_t)H * (size_t)dh;
    /* parallel over (batch, key/value head): each thread owns its dk, dv rows */
#pragma omp parallel if ((size_t)B * (size_t)H * (size_t)T * (size_t)T * (size_t)dh > 65536)
    {
        float *dp = scratch + (size_t)omp_get_thread_num() * (size_t)T;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int g = 0; g < Hkv; g++) {
                for (int h = g * group; h < (g + 1) * group; h++) {
                    for (int t = 0; t < T; t++) {
                        const float *p = probs + (((size_t)b * (size_t)H + (size_t)h) * (size_t)T + (size_t)t) * (size_t)T;
                        const float *dzr = dz + ((size_t)b * (size_t)T + (size_t)t) * ldz + (size_t)h * (size_t)dh;
                        const float *q = qkv + ((size_t)b * (size_t)T + (size_t)t) * (size_t)ld_qkv + (size_t)h * (size_t)dh;
                        float *dq = dqkv + ((size_t)b * (size_t)T + (size_t)t) * (size_t)ld_qkv + (size_t)h * (size_t)dh;
                        double pdp = 0;
                        for (int j = 0; j <= t; j++) {
                            dp[j] = 0;
                            if (p[j] == 0) continue;
                            const size_t rj = ((size_t)b * (size_t)T + (size_t)j) * (size_t)ld_qkv;
                            const float *v = qkv + rj + voff + (size_t)g * (size_t)dh;
                            float *dv = dqkv + rj + voff + (size_t)g * (size_t)dh;
                            float s = 0;
                            const float pj = p[j];
#pragma omp simd reduction(+ : s)
                            for (int c = 0; c < dh; c++) {
                                s += dzr[c] * v[c];
                                dv[c] += pj * dzr[c];
                            }
                            dp[j] = s;
                            pdp += (double)pj * s;
                        }
                        for (int j = 0; j <= t; j++) {
                            if (p[j] == 0) continue;
                            const float ds = p[j] * (dp[j] - (float)pdp) * scale;
                            const size_t rj = ((size_t)b * (size_t)T + (size_t)j) * (size_t)ld_qkv;
                            const float *k = qkv + rj + koff + (size_t)g * (size_t)dh;
                            float *dk = dqkv + rj + koff + (size_t)g * (size_t)dh;
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
