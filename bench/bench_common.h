/* Helpers shared by the benchmark programs (header-only; each bench/NAME.c is its own
 * executable): runtime environment, clocks, the sgemm reference, model shapes, memory.
 */
#ifndef AC_BENCH_COMMON_H
#define AC_BENCH_COMMON_H

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "autocircuit.h"


static inline double acb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (every thread), seconds. */
static inline double acb_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Threads for OpenMP loops and OpenBLAS (its OpenMP build follows omp_get_max_threads). */
static inline void acb_set_threads(int n) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

/* Peak resident set of this process so far, in MiB (getrusage ru_maxrss). */
static inline double acb_peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0;
}

/* The CPU model name from /proc/cpuinfo into buf ("unknown" when absent). */
static inline void acb_cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t') p++;
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, n, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

/* One line describing the machine and the BLAS. */
static inline void acb_print_machine(FILE *f) {
    char cpu[256];
    acb_cpu_model(cpu, sizeof cpu);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    fprintf(f, "machine: %s, %ld online CPUs, %d OpenMP threads; OpenBLAS %s (core %s, OPENBLAS_CORETYPE=%s, OMP_WAIT_POLICY=%s)\n",
            cpu, sysconf(_SC_NPROCESSORS_ONLN), omp_get_max_threads(), openblas_get_config(),
            openblas_get_corename(), ct ? ct : "(unset)", getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)");
}

/* ---- sgemm reference ---------------------------------------------------------------- */

/* Throughput figures. `wall`: FLOPs per wall-clock second. `cpu`: FLOPs per CPU-second of
 * the process times the thread count — what the wall figure would be if every thread had
 * a core to itself the whole time; on a machine shared with other work it is the figure
 * that contention does not move (much). */
typedef struct acb_rate {
    double wall, cpu;
} acb_rate;

/* GEMM shapes of a GPT-2-small block at N tokens, in the engine's layout
 * (C[M,N] = A[M,K] · W[N,K]ᵀ, row-major). */
typedef struct acb_gemm_shape {
    const char *what;
    int M, N, K;
} acb_gemm_shape;

/* Best GFLOP/s of cblas_sgemm (A·Wᵀ) at M×N×K over `repeat` timed rounds, each round
 * long enough (≥ ~50 ms) to be measurable; one untimed warm-up call first. Both figures
 * are the best of the rounds. */
static inline acb_rate acb_sgemm_gflops(int M, int N, int K, int repeat) {
    acb_rate best = {0.0, 0.0};
    float *A = malloc((size_t)M * (size_t)K * sizeof(float));
    float *W = malloc((size_t)N * (size_t)K * sizeof(float));
    float *C = malloc((size_t)M * (size_t)N * sizeof(float));
    if (!A || !W || !C) {
        free(A);
        free(W);
        free(C);
        return best;
    }
    uint32_t s = 12345u;
    for (size_t i = 0; i < (size_t)M * (size_t)K; i++) A[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) * 0x1p-24f - 0.5f;
    for (size_t i = 0; i < (size_t)N * (size_t)K; i++) W[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) * 0x1p-24f - 0.5f;
    const double flops = 2.0 * M * N * K;
    const double threads = omp_get_max_threads();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, W, K, 0.0f, C, N);
    double t0 = acb_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, W, K, 0.0f, C, N);
    double one = acb_now() - t0;
    int calls = one > 0 ? (int)(0.05 / one) : 1;
    if (calls < 1) calls = 1;
    if (calls > 1000) calls = 1000;
    for (int r = 0; r < repeat; r++) {
        const double c0 = acb_cpu_now();
        t0 = acb_now();
        for (int i = 0; i < calls; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, W, K, 0.0f, C, N);
        const double dt = acb_now() - t0, dc = acb_cpu_now() - c0;
        const double gf = flops * calls / dt * 1e-9, gc = dc > 0 ? flops * calls / (dc / threads) * 1e-9 : 0.0;
        if (gf > best.wall) best.wall = gf;
        if (gc > best.cpu) best.cpu = gc;
    }
    free(A);
    free(W);
    free(C);
    return best;
}

/* Measure the shapes of a block of width d, MLP width m at N tokens and return the best
 * figures among them (the reference "sgemm throughput"); prints one line per shape when
 * f is non-NULL. */
static inline acb_rate acb_sgemm_reference(FILE *f, int N, int d, int m, int qkv, int repeat) {
    const acb_gemm_shape shapes[] = {
        {"QKV projection", N, qkv, d},
        {"output projection", N, d, d},
        {"MLP in", N, m, d},
        {"MLP out", N, d, m},
    };
    acb_rate best = {0.0, 0.0};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        acb_rate r = acb_sgemm_gflops(shapes[i].M, shapes[i].N, shapes[i].K, repeat);
        if (f)
            fprintf(f, "  sgemm %-18s %5d x %5d x %5d  %8.1f GFLOP/s  (%.1f per CPU-second x threads)\n", shapes[i].what,
                    shapes[i].M, shapes[i].N, shapes[i].K, r.wall, r.cpu);
        if (r.wall > best.wall) best.wall = r.wall;
        if (r.cpu > best.cpu) best.cpu = r.cpu;
    }
    if (f) fprintf(f, "  sgemm reference (best of the shapes): %.1f GFLOP/s wall, %.1f CPU-normalised\n", best.wall, best.cpu);
    return best;
}

/* ---- model shapes -------------------------------------------------------------------- */

/* GPT-2 small: 12 layers, 12 heads of 64, width 768, MLP 3072, vocabulary 50257. */
static inline void acb_config_gpt2_small(ac_config *c) {
    ac_config_defaults(c, AC_ARCH_GPT2);
    c->n_layer = 12;
    c->n_head = c->n_kv_head = 12;
    c->d_model = 768;
    c->d_head = 64;
    c->d_mlp = 3072;
    c->vocab_size = 50257;
    c->n_ctx = 1024;
    c->bos_id = c->eos_id = 50256;
}

/* A tiny GPT-2 for smoke tests: 2 layers, 4 heads of 16, width 64, vocabulary 512. */
static inline void acb_config_tiny(ac_config *c) {
    ac_config_defaults(c, AC_ARCH_GPT2);
    c->n_layer = 2;
    c->n_head = c->n_kv_head = 4;
    c->d_model = 64;
    c->d_head = 16;
    c->d_mlp = 256;
    c->vocab_size = 512;
    c->n_ctx = 64;
    c->bos_id = c->eos_id = 511;
}

static inline int acb_parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

#endif /* AC_BENCH_COMMON_H */
