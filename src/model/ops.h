/* Kernels of the transformer: each op is an x_forward / x_backward pair, outputs first,
 * dims last. Backward functions ACCUMULATE (+=) into input gradients; zero explicitly.
 * Matrices are row-major; weights are [out, in]. */
#ifndef AC_OPS_H
#define AC_OPS_H

#include <stdint.h>

#include "autocircuit/model.h"

/* out[N, OUT] = in[N, IN] · W[OUT, IN]^T (+ bias[OUT] if non-NULL), via sgemm.
 * ld_in / ld_out are the row strides of in / out (>= IN / OUT). */
void ac__matmul_forward(float *out, int ld_out, const float *in, int ld_in, const float *W,
                        const float *bias, int N, int IN, int OUT);
/* din[N, IN] += dout[N, OUT] · W[OUT, IN]. */
void ac__matmul_backward_input(float *din, int ld_din, const float *dout, int ld_dout,
                               const float *W, int N, int IN, int OUT);

/* The same two products for a few rows (N <= AC__FEW_ROWS), e.g. the unembedding at the
 * last position: W is streamed once, without the packing an sgemm does per call (for the
 * GPT-2 unembedding, 154 MB copied to compute 8 rows). The backward skips v whose
 * dout[r, v] is 0 (a logit difference reads two columns). Each output is summed by one
 * thread, in a fixed order: results do not depend on the thread count. */
#define AC__FEW_ROWS 16
void ac__matmul_forward_few(float *out, int ld_out, const float *in, int ld_in, const float *W, int N,
                            int IN, int OUT);
void ac__matmul_backward_input_few(float *din, int ld_din, const float *dout, int ld_dout, const float *W,
                                   int N, int IN, int OUT);

/* e^x in float as the activations compute it (vectorisable; relative error < 2.5e-7 on
 * [-87, 88]; 0 below -87.3, +inf above 88.7, NaN for NaN). */
float ac__exp_f32(float x);

/* Normalisation over the last dim C of N rows: LayerNorm (w, b), RMSNorm (w; b NULL) or
 * none (copy). out may not alias in. */
void ac__norm_forward(float *out, const float *in, const float *w, const float *b, int N,
                      int C, float eps, ac_norm_kind kind);
/* din[N, C] += d out / d in · dout, statistics recomputed from `in`. */
void ac__norm_backward(float *din, const float *dout, const float *in, const float *w, int N,
                       int C, float eps, ac_norm_kind kind);
/* The per-row statistics of a norm's input (mean, 1/std as the norm uses them; 0 and 1
 * for none), [N] each, for several backwards through norms of the same input (the Q, K
 * and V destinations of a layer all read its residual): ac__norm_backward_stats gives
 * ac__norm_backward's result with them, written over din when overwrite is non-zero
 * (no zeroing pass) or added to it. */
void ac__norm_stats(double *mean, double *rstd, const float *in, int N, int C, float eps, ac_norm_kind kind);
void ac__norm_backward_stats(float *din, int overwrite, const float *dout, const float *in, const float *w,
                             const double *mean, const double *rstd, int N, int C, ac_norm_kind kind);

/* Elementwise activation (GELU-new, GELU, ReLU, SiLU) over n values. */
void ac__act_forward(float *out, const float *in, size_t n, ac_act_kind kind);
void ac__act_backward(float *din, const float *dout, const float *in, size_t n, ac_act_kind kind);

/* Gated MLP hidden: out = act(gate) * up over n values; backward accumulates dgate, dup. */
void ac__gated_forward(float *out, const float *gate, const float *up, size_t n, ac_act_kind kind);
void ac__gated_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, size_t n, ac_act_kind kind);
/* The four above over `rows` rows of n values each, every array at row stride ld (the
 * rows a last_only forward's final block computes); ld == n is one pass over rows*n. */
void ac__act_forward_rows(float *out, const float *in, int rows, size_t ld, size_t n, ac_act_kind kind);
void ac__act_backward_rows(float *din, const float *dout, const float *in, int rows, size_t ld, size_t n,
                           ac_act_kind kind);
void ac__gated_forward_rows(float *out, const float *gate, const float *up, int rows, size_t ld, size_t n,
                            ac_act_kind kind);
void ac__gated_backward_rows(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                             int rows, size_t ld, size_t n, ac_act_kind kind);

/* Rotary position embedding, in place, on `nh` heads of width dh in each of N rows of x
 * (row stride ld). pos[N] are position ids. inv_freq[dh/2] the per-pair frequencies.
 * `inverse` rotates by the negative angle (the backward of a rotation). */
void ac__rope_apply(float *x, int ld, const int32_t *pos, const float *inv_freq, int N,
                    int nh, int dh, ac_pos_kind kind, int inverse);

/* Frequencies for RoPE (with "llama3" scaling when cfg->rope_scaling_factor > 0). */
void ac__rope_inv_freq(float *inv_freq, const ac_config *cfg);

/* Causal attention with a key-padding mask, grouped-query aware.
 * q at qkv + 0, k at qkv + H*dh, v at qkv + (H+Hkv)*dh, each row of stride ld_qkv;
 * rows are (b, t) with t fastest. z[B*T, H*dh]; probs[B, H, T, T] (kept for backward).
 * mask[B*T]: 1 real, 0 pad (NULL: all real). Pad query rows give zero probs and z. */
void ac__attention_forward(float *z, float *probs, const float *qkv, int ld_qkv,
                           const uint8_t *mask, int B, int T, int H, int Hkv, int dh);
/* dqkv (same layout as qkv) += gradients of q, k, v given dz[B*T, H*dh].
 * scratch: omp_get_max_threads() * T floats. */
void ac__attention_backward(float *dqkv, float *scratch, const float *dz, const float *probs,
                            const float *qkv, int ld_qkv, int B, int T, int H, int Hkv, int dh);

/* The same with P cached prefix positions in front of the T rows (shared-prefix KV
 * cache): pkv[P][2*Hkv*dh] holds each prefix position's keys then values (after RoPE),
 * identical for every batch row and never masked. Query t attends to the P prefix keys
 * and to rows 0..t; probs become [B, H, T, P+T] (prefix keys first); scratch needs
 * omp_get_max_threads() * (P+T) floats. No gradient flows into the prefix keys and
 * values (they are constants). P = 0 (pkv NULL) is the plain kernel. */
void ac__attention_forward_kv(float *z, float *probs, const float *qkv, int ld_qkv,
                              const uint8_t *mask, int B, int T, int H, int Hkv, int dh,
                              const float *pkv, int P);
void ac__attention_backward_kv(float *dqkv, float *scratch, const float *dz, const float *probs,
                               const float *qkv, int ld_qkv, int B, int T, int H, int Hkv, int dh,
                               const float *pkv, int P);

/* ---- weight gradients (training; see src/model/grad.c) ------------------------------
 * Each ACCUMULATES (+=) into its outputs and is deterministic for a given thread count
 * (sums over rows run in row order). */

/* dW[OUT, IN] += dout[N, OUT]^T · in[N, IN] (sgemm); db[OUT] += Σ_n dout[n, :] unless
 * db is NULL. The weight gradient of ac__matmul_forward. */
void ac__matmul_backward_weight(float *dW, float *db, const float *dout, int ld_dout,
                                const float *in, int ld_in, int N, int IN, int OUT);
/* Parameter gradients of ac__norm_forward: dw[C] += Σ_n dout ⊙ xhat, db[C] += Σ_n dout
 * (db NULL for RMSNorm), statistics recomputed from `in` as the forward computes them.
 * Nothing for AC_NORM_NONE. */
void ac__norm_backward_params(float *dw, float *db, const float *dout, const float *in, int N,
                              int C, float eps, ac_norm_kind kind);
/* Embedding (row gather) backward: dE[ids[n], :] += dout[n, :] for n < N, rows of C. */
void ac__embedding_backward(float *dE, const float *dout, const int32_t *ids, int N, int C);

#endif
