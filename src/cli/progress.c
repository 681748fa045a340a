/* Progress on stderr for long runs, and the interrupt handler that removes partial
 * output files. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/atomic_file.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double ac_cli_seconds(void) { return now_s(); }

void ac_cli_progress_init(ac_cli_progress *p, int quiet) {
    memset(p, 0, sizeof *p);
    p->enabled = !quiet;
    p->tty = isatty(STDERR_FILENO);
    p->interval = p->tty ? 0.1 : 2.0;
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 359999) {
        snprintf(buf, n, "?");
        return;
    }
    const long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* Finish the current bar (newline on a terminal). */
void ac_cli_progress_end(ac_cli_progress *p) {
    if (p->drawn && p->tty) fputc('\n', stderr);
    p->drawn = 0;
    p->what[0] = 0;
    fflush(stderr);
}

void ac_cli_progress_cb(void *user, size_t done, size_t total, const char *what) {
    ac_cli_progress *p = user;
    if (!p || !p->enabled) return;
    const double t = now_s();
    if (!what) what = "working";
    if (strncmp(p->what, what, sizeof p->what - 1) != 0) { /* a new phase */
        ac_cli_progress_end(p);
        snprintf(p->what, sizeof p->what, "%s", what);
        p->start = p->last = t; /* the first line after one interval */
    }
    const int finished = total && done >= total;
    if (!finished && t - p->last < p->interval) return;
    p->last = t;
    const double el = t - p->start, rate = el > 0 ? (double)done / el : 0;
    char eta[32];
    fmt_eta(eta, sizeof eta, rate > 0 && total >= done ? (double)(total - done) / rate : -1);
    if (p->tty) {
        char bar[31];
        const int w = 30, fill = total ? (int)((double)w * (double)(done < total ? done : total) / (double)total) : 0;
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\r%s [%s] %zu/%zu %.1f/s ETA %s\033[K", p->what, bar, done, total, rate,
                finished ? "0:00" : eta);
        p->drawn = 1;
        if (finished) ac_cli_progress_end(p);
    } else {
        if (finished) fprintf(stderr, "%s: %zu/%zu done in %.1f s\n", p->what, done, total, el);
        else fprintf(stderr, "%s: %zu/%zu (%.1f/s, ETA %s)\n", p->what, done, total, rate, eta);
    }
    fflush(stderr);
}

/* ---- interrupts ---------------------------------------------------------------------- */

static void on_signal(int sig) {
    (void)sig;
    ac__afile_cleanup_all();
    static const char msg[] = "\nautocircuit: interrupted\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
    _exit(130);
}

void ac_cli_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
