/* bench_engine: throughput of the forward and forward+backward passes of a
 * GPT-2-small-shaped random model built in memory, against the sgemm throughput
 * measured on the same machine in the same run.
 *
 *   bench_engine [--threads N] [--batch B] [--seq T] [--repeat R] [--no-scan] [--tiny]
 *
 * Every case runs once untimed, then R times; the best time is reported. FLOP counts are
 * explicit (bench/bench_flops.h). See docs/performance.md. Exit status 0 on success,
 * 2 on bad options, the library's status code on a library error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bench_flops.h"

typedef struct bench {
    const ac_config *cfg;
    ac_model *m;
    ac_graph *g;
    ac_run *run_plain; /* no graph */
    ac_run *run_graph; /* with the circuit graph */
    int B, T;
    int32_t *ids;
    float *logits;     /* [B*T*V] */
    float *dlogits;    /* [B*V] */
    float *patch;      /* source stack */
    float *mask_grad;  /* [n_edges] */
    float *masks;      /* [n_edges], every mask 0.5 (an integrated-gradients step) */
    ac_error err;
} bench;

typedef int (*case_fn)(bench *b);

static int fwd_all(bench *b) {
    ac_tokens in = {.B = b->B, .T = b->T, .ids = b->ids};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_ALL, .logits = b->logits};
    return ac_run_forward(b->run_plain, &in, &o, &b->err);
}

static int fwd_last(bench *b) {
    ac_tokens in = {.B = b->B, .T = b->T, .ids = b->ids};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = b->logits};
    return ac_run_forward(b->run_plain, &in, &o, &b->err);
}

/* the ablation pass of the algorithms: record every source output, no logits */
static int fwd_record(bench *b) {
    ac_tokens in = {.B = b->B, .T = b->T, .ids = b->ids};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_NONE, .record = b->patch};
    return ac_run_forward(b->run_graph, &in, &o, &b->err);
}

/* the forward of an EAP step: patch values attached (forms patch − current) */
static int fwd_patch(bench *b) {
    ac_tokens in = {.B = b->B, .T = b->T, .ids = b->ids};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = b->logits, .patch = b->patch};
    return ac_run_forward(b->run_graph, &in, &o, &b->err);
}

static int bwd_mask(bench *b) {
    ac_backward_opts o = {.dlogits = b->dlogits, .mask_grad = b->mask_grad};
    return ac_run_backward(b->run_graph, &o, &b->err);
}

static int fwd_bwd_mask(bench *b) {
    int rc = fwd_patch(b);
    return rc ? rc : bwd_mask(b);
}

/* an integrated-gradients step: every mask non-zero, so every destination is active */
static int fwd_bwd_ig(bench *b) {
    ac_tokens in = {.B = b->B, .T = b->T, .ids = b->ids};
    ac_forward_opts o = {.logits_mode = AC_LOGITS_LAST, .logits = b->logits, .patch = b->patch, .masks = b->masks};
    int rc = ac_run_forward(b->run_graph, &in, &o, &b->err);
    return rc ? rc : bwd_mask(b);
}

/* One untimed run, then the best of `repeat` timed runs (seconds), or -1 on error.
 * *cpu (optional): the least process CPU time of a run (all threads together). */
static double time_best(bench *b, case_fn fn, int repeat, double *cpu) {
    if (fn(b)) return -1.0;
    double best = INFINITY, best_cpu = 0.0;
    for (int r = 0; r < repeat; r++) {
        double c0 = acb_cpu_now(), t0 = acb_now();
        if (fn(b)) return -1.0;
        double dt = acb_now() - t0, dc = acb_cpu_now() - c0;
        if (dt < best) best = dt;
        if (r == 0 || dc < best_cpu) best_cpu = dc;
    }
    if (cpu) *cpu = best_cpu;
    return best;
}

static void row(const char *what, const bench *b, double sec, double cpu, double flops, acb_rate ref) {
    const double tokens = (double)b->B * b->T, threads = omp_get_max_threads();
    const double gf = flops / sec * 1e-9, gc = cpu > 0 ? flops / (cpu / threads) * 1e-9 : 0.0;
    printf("  %-46s %8.2f %8.2f %9.0f %8.2f %8.1f %6.1f%% %8.1f %6.1f%%\n", what, sec * 1e3, cpu * 1e3, tokens / sec,
           flops * 1e-9, gf, 100.0 * gf / ref.wall, gc, 100.0 * gc / ref.cpu);
}

static void header(void) {
    printf("  %-46s %8s %8s %9s %8s %8s %7s %8s %7s\n", "case", "ms", "cpu ms", "tokens/s", "GFLOP", "GFLOP/s", "%sgemm",
           "cpu GF/s", "%sgemm");
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_engine [--threads N] [--batch B] [--seq T] [--repeat R] [--no-scan] [--tiny]\n"
            "  forward and forward+backward throughput of a GPT-2-small-shaped random model\n"
            "  --threads N  OpenMP/OpenBLAS threads (default: all)\n"
            "  --batch B    prompts per batch (default 32)\n"
            "  --seq T      tokens per prompt (default 16)\n"
            "  --repeat R   timed repetitions, best reported (default 5)\n"
            "  --no-scan    skip the 1..N threads scan of the forward\n"
            "  --tiny       a tiny model (2 layers, width 64) for smoke tests\n"
            "  --only K     run only case K (1-based, as listed), no sgemm or scan: for profiling\n");
}

static int fail(bench *b, int rc) {
    char buf[1200];
    fprintf(stderr, "bench_engine: %s\n", ac_error_format(&b->err, buf, sizeof buf));
    return rc ? rc : 1;
}

int main(int argc, char **argv) {
    ac_ensure_runtime_env(argv); /* same as the CLI */
    int threads = omp_get_max_threads(), B = 32, T = 16, repeat = 5, scan = 1, tiny = 0, only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int *target = NULL, lo = 1, hi = 1 << 20;
        if (!strcmp(a, "--threads")) target = &threads, hi = 1024;
        else if (!strcmp(a, "--batch")) target = &B;
        else if (!strcmp(a, "--seq")) target = &T, hi = 1024;
        else if (!strcmp(a, "--repeat")) target = &repeat, hi = 1000;
        else if (!strcmp(a, "--no-scan")) scan = 0;
        else if (!strcmp(a, "--tiny")) tiny = 1;
        else if (!strcmp(a, "--only")) target = &only, hi = 7;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_engine: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (target) {
            if (i + 1 >= argc || acb_parse_int(argv[i + 1], lo, hi, target)) {
                fprintf(stderr, "bench_engine: %s needs an integer in %d..%d\n", a, lo, hi);
                return 2;
            }
            i++;
        }
    }
    if (tiny) {
        if (B == 32) B = 2;
        if (T == 16) T = 8;
        if (repeat == 5) repeat = 1;
    }
    ac_config cfg;
    if (tiny) acb_config_tiny(&cfg);
    else acb_config_gpt2_small(&cfg);
    if (T > cfg.n_ctx) {
        fprintf(stderr, "bench_engine: --seq %d exceeds the model's context of %d\n", T, cfg.n_ctx);
        return 2;
    }
    const int max_threads = threads;
    acb_set_threads(threads);

    bench b = {.cfg = &cfg, .B = B, .T = T};
    uint8_t *all_active = NULL;
    int rc = AC_OK;
    const size_t BT = (size_t)B * (size_t)T, V = (size_t)cfg.vocab_size, d = (size_t)cfg.d_model;
    acb_print_machine(stdout);
    printf("model: %s GPT-2 shape, %d layers, %d heads of %d, width %d, MLP %d, vocabulary %d (%.1f M parameters, %.0f MB fp32); batch %d x %d tokens\n",
           tiny ? "tiny" : "small", cfg.n_layer, cfg.n_head, cfg.d_head, cfg.d_model, cfg.d_mlp, cfg.vocab_size,
           (double)ac_config_param_count(&cfg) * 1e-6, (double)ac_config_param_count(&cfg) * 4.0 / 1048576.0, B, T);
    double t0 = acb_now();
    if ((rc = ac_model_create(&b.m, &cfg, &b.err))) return fail(&b, rc);
    ac_model_init_random(b.m, 1234, 0.02f);
    ac_graph_opts go = ac_graph_default_opts();
    if ((rc = ac_graph_build(&b.g, &cfg, &go, &b.err))) goto out;
    if ((rc = ac_run_create(&b.run_plain, b.m, NULL, B, T, &b.err))) goto out;
    if ((rc = ac_run_create(&b.run_graph, b.m, b.g, B, T, &b.err))) goto out;
    b.ids = malloc(BT * sizeof *b.ids);
    b.logits = malloc(BT * V * sizeof *b.logits);
    b.dlogits = malloc((size_t)B * V * sizeof *b.dlogits);
    b.patch = malloc((size_t)b.g->n_src * BT * d * sizeof *b.patch);
    b.mask_grad = calloc(b.g->n_edges, sizeof *b.mask_grad);
    b.masks = malloc(b.g->n_edges * sizeof *b.masks);
    if (!b.ids || !b.logits || !b.dlogits || !b.patch || !b.mask_grad || !b.masks) {
        rc = ac_error_set(&b.err, AC_ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t e = 0; e < b.g->n_edges; e++) b.masks[e] = 0.5f;
    uint64_t s = 99;
    for (size_t i = 0; i < BT; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b.ids[i] = (int32_t)((s >> 33) % V);
    }
    /* d loss / d logits of a logit difference: +1/B on one token, -1/B on another */
    memset(b.dlogits, 0, (size_t)B * V * sizeof *b.dlogits);
    for (int i = 0; i < B; i++) {
        b.dlogits[(size_t)i * V + (size_t)(i % (int)V)] = -1.0f / (float)B;
        b.dlogits[(size_t)i * V + (size_t)((i + 7) % (int)V)] = 1.0f / (float)B;
    }
    printf("graph: %d sources, %d destinations, %zu edges; setup %.2f s\n\n", b.g->n_src, b.g->n_dest, b.g->n_edges,
           acb_now() - t0);

    printf("sgemm at the model's shapes (%d tokens, %d threads):\n", (int)BT, threads);
    const acb_rate ref = only ? (acb_rate){1.0, 1.0} : acb_sgemm_reference(stdout, (int)BT, cfg.d_model, cfg.d_mlp, (int)acb_qkv_width(&cfg), repeat > 3 ? repeat : 3);
    all_active = malloc((size_t)b.g->n_dest);
    if (!all_active) {
        rc = ac_error_set(&b.err, AC_ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    memset(all_active, 1, (size_t)b.g->n_dest);
    printf("\nengine, %d threads, best of %d:\n", threads, repeat);
    header();
    struct {
        const char *what;
        case_fn fn;
        double flops;
    } cases[] = {
        {"forward, logits at every position", fwd_all, acb_flops_forward(&cfg, B, T, AC_LOGITS_ALL)},
        {"forward, last-position logits", fwd_last, acb_flops_forward(&cfg, B, T, AC_LOGITS_LAST)},
        {"forward + graph, recording sources", fwd_record, acb_flops_forward(&cfg, B, T, AC_LOGITS_NONE)},
        {"forward + graph, patch values (EAP fwd)", fwd_patch, acb_flops_forward(&cfg, B, T, AC_LOGITS_LAST)},
        {"backward with mask gradients (EAP bwd)", bwd_mask,
         acb_flops_backward_run(&cfg, b.g, B, T, AC_LOGITS_LAST, NULL, 1)},
        {"forward + backward, mask gradients (EAP step)", fwd_bwd_mask,
         acb_flops_forward(&cfg, B, T, AC_LOGITS_LAST) + acb_flops_backward_run(&cfg, b.g, B, T, AC_LOGITS_LAST, NULL, 1)},
        {"forward + backward, every mask 0.5 (IG step)", fwd_bwd_ig,
         acb_flops_forward_run(&cfg, b.g, B, T, AC_LOGITS_LAST, 0, 0, all_active) +
             acb_flops_backward_run(&cfg, b.g, B, T, AC_LOGITS_LAST, all_active, 1)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (only && (int)i + 1 != only) continue;
        if (cases[i].fn == bwd_mask || cases[i].fn == fwd_patch || cases[i].fn == fwd_bwd_mask || cases[i].fn == fwd_bwd_ig) {
            if ((rc = fwd_record(&b))) goto out; /* patch values */
        }
        if (cases[i].fn == bwd_mask && (rc = fwd_patch(&b))) goto out;
        double cpu = 0.0, sec = time_best(&b, cases[i].fn, repeat, &cpu);
        if (sec < 0) {
            rc = b.err.code ? b.err.code : AC_ERR_INTERNAL;
            goto out;
        }
        row(cases[i].what, &b, sec, cpu, cases[i].flops, ref);
    }
    printf("  (mask gradients alone: %.2f GFLOP of the backward)\n",
           acb_flops_mask_grad(b.g, &cfg, B, T) * 1e-9);

    if (scan && !only && max_threads > 1) {
        printf("\nthreads scan, forward with last-position logits:\n");
        printf("  %7s %10s %10s %10s %8s %12s %8s %10s\n", "threads", "ms", "cpu ms", "tokens/s", "speedup", "sgemm GF/s",
               "%sgemm", "sgemm x");
        double base = 0.0, base_sgemm = 0.0;
        const double fl = acb_flops_forward(&cfg, B, T, AC_LOGITS_LAST);
        for (int th = 1; th <= max_threads; th++) {
            acb_set_threads(th);
            acb_rate r = acb_sgemm_gflops((int)BT, cfg.d_mlp, cfg.d_model, 3);
            double cpu = 0.0, sec = time_best(&b, fwd_last, repeat, &cpu);
            if (sec < 0) {
                rc = b.err.code ? b.err.code : AC_ERR_INTERNAL;
                goto out;
            }
            if (th == 1) {
                base = sec;
                base_sgemm = r.wall;
            }
            printf("  %7d %10.2f %10.2f %10.0f %7.2fx %12.1f %7.1f%% %9.2fx\n", th, sec * 1e3, cpu * 1e3, (double)BT / sec,
                   base / sec, r.wall, 100.0 * fl / sec * 1e-9 / r.wall, r.wall / base_sgemm);
        }
        printf("  (speedup: forward wall time against 1 thread; sgemm x: the same for sgemm, measured alongside)\n");
        acb_set_threads(max_threads);
    }
    printf("\npeak resident memory: %.0f MB\n", acb_peak_rss_mb());
out:
    if (rc) fail(&b, rc);
    free(b.ids);
    free(b.logits);
    free(b.dlogits);
    free(b.patch);
    free(b.mask_grad);
    free(b.masks);
    free(all_active);
    ac_run_free(b.run_plain);
    ac_run_free(b.run_graph);
    ac_graph_free(b.g);
    ac_model_free(b.m);
    return rc;
}
