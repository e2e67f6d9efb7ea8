/*
 * bench_c_api.c — the three ways a C program runs asynchronous calls of libhumanloop 0.2, side by
 * side in one process ("Measured in bench/", the C row): B calls (default 2000), at
 * most C (default 100) in flight, against the bench server (nginx static files when run.sh has
 * nginx, else the Python test server). Rows:
 *
 *   (a) callback  hl_call_start with a C callback (on the client's engine thread); the callback
 *                 re-submits the next call (hl_call_start from the callback) and frees its own
 *                 handle; the main thread waits on a condition variable for the last one.
 *   (b) queue     hl_call_submit to one hl_queue; the main thread is the one consumer:
 *                 hl_queue_wait, then hl_queue_drain of up to 256 items, re-submitting one call
 *                 per terminal item as they arrive.
 *   (c) loop      hl_loop_submit + hl_loop_run(loop, -1, items, 256) on the calling thread (no
 *                 thread of the library involved), re-submitting as items arrive.
 *   (d) libcurl   reference, not the library: the same B POSTs at most C at once on plain
 *                 libcurl multi (curl_multi_poll + curl_multi_perform, C easy handles reused),
 *                 every answer parsed with json_loadb: the least a C program does for it.
 *
 * Every terminal item is checked ({"ok":true,...}) inside the timed part (strncmp: cheap).
 * CPU = getrusage(RUSAGE_SELF) user + sys of the whole process (the engine thread included),
 * per call; wall = CLOCK_MONOTONIC. Each variant has its own client (so its own connections),
 * warmed up by one uncounted run. Also context switches of the process per call (getrusage). R rounds (default 5) in rotating order (abcd, dcba, bcda, adcb,
 * ...), so drift from the load of the machine spreads over all variants. Reported: per round and
 * per variant the CPU per call and its ratio to (a) in the same round; the median over rounds of
 * those ratios (the figure to quote), and min..max.
 *
 * Usage: bench_c_api --url=http://127.0.0.1:PORT/v4 [--calls=2000] [--concurrency=100]
 *                    [--rounds=5] [--label=TEXT]
 * Exit status: 0 when every call succeeded (whatever the figures), 1 otherwise.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "humanloop.h"

#define BENCH_NAME "bench_c_api"
#include "bench_util.h"   /* BODY, die, mono, cpu, bench_client, the libcurl multi reference */

static const char *g_url = NULL, *g_label = "";
static long g_calls = 2000, g_conc = 100, g_rounds = 5;
static long g_failures = 0;

#define NV 4
static const char *NAMES[NV] = {"(a) callback", "(b) queue", "(c) loop", "(d) libcurl multi"};

static long csw(void) {   /* context switches of the process (every thread), voluntary + involuntary */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

static int ok_item(const char *json) { return json && strncmp(json, "{\"ok\":true,", 11) == 0; }

static void bad_item(const char *variant, const char *json) {
    if (g_failures++ < 3) fprintf(stderr, "  %s: %.300s\n", variant, json ? json : "(null)");
}

static hl_client *new_client(void) { return bench_client(g_url, ""); }

/* ---- (a) the callback API ------------------------------------------------------------------------ */

static struct {
    hl_client *client;
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    long started, done, n;   /* started and done: only on the engine thread once the first calls run */
    long bad;
} A = { .lock = PTHREAD_MUTEX_INITIALIZER, .done_cv = PTHREAD_COND_INITIALIZER };

static void a_callback(hl_call *call, int kind, const char *json, size_t len, void *ud) {
    (void)len; (void)ud;
    if (kind != HL_ITEM_RESULT) return;
    if (!ok_item(json)) A.bad++;
    hl_call_free(call);   /* its own handle, from inside its callback: allowed */
    pthread_mutex_lock(&A.lock);
    long next = A.started < A.n ? A.started++ : -1;
    long done = ++A.done;
    pthread_mutex_unlock(&A.lock);
    if (next >= 0 && !hl_call_start(A.client, "complete", BODY, NULL, a_callback, NULL)) die("hl_call_start: NULL");
    if (done == A.n) {
        pthread_mutex_lock(&A.lock);
        pthread_cond_signal(&A.done_cv);
        pthread_mutex_unlock(&A.lock);
    }
}

static long run_callback(hl_client *c, long n) {
    A.client = c; A.n = n; A.started = 0; A.done = 0; A.bad = 0;
    pthread_mutex_lock(&A.lock);
    long first = n < g_conc ? n : g_conc;
    A.started = first;
    pthread_mutex_unlock(&A.lock);
    for (long i = 0; i < first; i++)
        if (!hl_call_start(c, "complete", BODY, NULL, a_callback, NULL)) die("hl_call_start: NULL");
    pthread_mutex_lock(&A.lock);
    while (A.done < n) pthread_cond_wait(&A.done_cv, &A.lock);
    pthread_mutex_unlock(&A.lock);
    if (A.bad) { g_failures += A.bad; fprintf(stderr, "  (a) callback: %ld bad items\n", A.bad); }
    return n - A.bad;
}

/* ---- (b) a queue, consumed by this thread ---------------------------------------------------------- */

static hl_item g_items[256];

static long run_queue(hl_client *c, hl_queue *q, long n) {
    long started = 0, done = 0, good = 0;
    for (; started < n && started < g_conc; started++)
        if (!hl_call_submit(c, "complete", BODY, NULL, q, NULL)) die("hl_call_submit: NULL");
    while (done < n) {
        size_t k = hl_queue_drain(q, g_items, 256);
        if (k == 0) { hl_queue_wait(q, 1000); continue; }
        for (size_t i = 0; i < k; i++) {
            if (g_items[i].kind != HL_ITEM_RESULT) continue;
            if (ok_item(g_items[i].json)) good++; else bad_item("(b) queue", g_items[i].json);
            hl_call_free(g_items[i].call);
            done++;
            if (started < n) {
                if (!hl_call_submit(c, "complete", BODY, NULL, q, NULL)) die("hl_call_submit: NULL");
                started++;
            }
        }
    }
    return good;
}

/* ---- (c) a loop run by this thread ---------------------------------------------------------------- */

static long run_loop(hl_loop *l, long n) {
    long started = 0, done = 0, good = 0;
    for (; started < n && started < g_conc; started++)
        if (!hl_loop_submit(l, "complete", BODY, NULL, NULL)) die("hl_loop_submit: NULL");
    while (done < n) {
        size_t k = hl_loop_run(l, 1000, g_items, 256);
        for (size_t i = 0; i < k; i++) {
            if (g_items[i].kind != HL_ITEM_RESULT) continue;
            if (ok_item(g_items[i].json)) good++; else bad_item("(c) loop", g_items[i].json);
            hl_call_free(g_items[i].call);
            done++;
            if (started < n) {
                if (!hl_loop_submit(l, "complete", BODY, NULL, NULL)) die("hl_loop_submit: NULL");
                started++;
            }
        }
    }
    return good;
}

/* ---- (d) plain libcurl multi + jansson (as bench_engine's baseline: curl_multi_batch, bench_util.h) */

static void curl_bad(int result, long status) {
    if (g_failures++ < 3) fprintf(stderr, "  (d) libcurl: result %d, status %ld\n", result, status);
}

static long run_curl(long n) { return curl_multi_batch(g_url, "/completion", n, g_conc, curl_bad); }

/* ---- rounds ---------------------------------------------------------------------------------------- */

static hl_client *g_ca, *g_cb, *g_cc;
static hl_queue *g_q;
static hl_loop *g_l;

static long run_variant(int v, long n) {
    switch (v) {
    case 0: return run_callback(g_ca, n);
    case 1: return run_queue(g_cb, g_q, n);
    case 2: return run_loop(g_l, n);
    default: return run_curl(n);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, long n) {
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) die("out of memory");
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define OPT(name) (strncmp(a, name "=", sizeof(name)) == 0 ? a + sizeof(name) : NULL)
        const char *v;
        if ((v = OPT("--url"))) g_url = v;
        else if ((v = OPT("--calls"))) g_calls = atol(v);
        else if ((v = OPT("--concurrency"))) g_conc = atol(v);
        else if ((v = OPT("--rounds"))) g_rounds = atol(v);
        else if ((v = OPT("--label"))) g_label = v;
        else { fprintf(stderr, "bench_c_api: unknown argument %s\n", a); return 2; }
    }
    if (!g_url) die("--url=http://127.0.0.1:PORT/v4 is required");
    if (g_calls < 1 || g_conc < 1 || g_rounds < 1) die("bad numbers");
    raise_nofile_limit();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_ca = new_client(); g_cb = new_client(); g_cc = new_client();
    g_q = hl_queue_new(NULL);
    g_l = hl_loop_new(g_cc, NULL);
    if (!g_q || !g_l) die("hl_queue_new or hl_loop_new failed");

    printf("bench_c_api — libhumanloop %s: %ld calls at concurrency %ld, %s %s\n", hl_version(), g_calls,
           g_conc, g_url, g_label);
    printf("CPU = getrusage(RUSAGE_SELF) user+sys of this process / calls; ratios to (a) in the same round\n\n");

    /* warm-up: the engine thread, 100 connections per variant, libcurl's and the server's caches */
    for (int v = 0; v < NV; v++) {
        long good = run_variant(v, g_conc * 3);
        if (good != g_conc * 3) fprintf(stderr, "bench_c_api: warm-up of %s: %ld of %ld good\n", NAMES[v], good, g_conc * 3);
    }

    double *cpu_pc = calloc((size_t)(g_rounds * NV), sizeof *cpu_pc);
    double *wall_pc = calloc((size_t)(g_rounds * NV), sizeof *wall_pc);
    double *ratio = calloc((size_t)(g_rounds * NV), sizeof *ratio);
    double *csw_pc = calloc((size_t)(g_rounds * NV), sizeof *csw_pc);
    if (!cpu_pc || !wall_pc || !ratio || !csw_pc) die("out of memory");
    printf("%-6s %-6s", "round", "order");
    for (int v = 0; v < NV; v++) printf(" %22s", NAMES[v]);
    printf("   (CPU us per call, x ratio to (a))\n");
    for (long r = 0; r < g_rounds; r++) {
        int order[NV];
        for (int k = 0; k < NV; k++) order[k] = (int)((k + r / 2) % NV);
        if (r % 2) for (int k = 0; k < NV / 2; k++) { int t = order[k]; order[k] = order[NV - 1 - k]; order[NV - 1 - k] = t; }
        char ord[NV + 1];
        for (int k = 0; k < NV; k++) {
            int v = order[k];
            ord[k] = (char)('a' + v);
            long s0 = csw();
            double w0 = mono(), c0 = cpu();
            long good = run_variant(v, g_calls);
            double w = mono() - w0, c = cpu() - c0;
            csw_pc[r * NV + v] = (double)(csw() - s0) / (double)g_calls;
            if (good != g_calls) fprintf(stderr, "bench_c_api: round %ld, %s: %ld of %ld good\n", r + 1, NAMES[v], good, g_calls);
            cpu_pc[r * NV + v] = c / (double)g_calls;
            wall_pc[r * NV + v] = w / (double)g_calls;
        }
        ord[NV] = 0;
        printf("%-6ld %-6s", r + 1, ord);
        for (int v = 0; v < NV; v++) {
            ratio[r * NV + v] = cpu_pc[r * NV + v] / cpu_pc[r * NV + 0];
            printf(" %12.1f us x%6.2f", cpu_pc[r * NV + v] * 1e6, ratio[r * NV + v]);
        }
        printf("\n");
    }
    printf("\n%-20s %14s %14s %12s %22s %16s\n", "variant", "cpu us/call", "wall us/call", "csw/call",
           "cpu / (a): median", "rounds");
    for (int v = 0; v < NV; v++) {
        double cv[64], wv[64], rv[64], sv[64], lo = 1e9, hi = 0;
        long nr = g_rounds < 64 ? g_rounds : 64;
        for (long r = 0; r < nr; r++) {
            cv[r] = cpu_pc[r * NV + v]; wv[r] = wall_pc[r * NV + v]; rv[r] = ratio[r * NV + v];
            sv[r] = csw_pc[r * NV + v];
            if (rv[r] < lo) lo = rv[r];
            if (rv[r] > hi) hi = rv[r];
        }
        printf("%-20s %14.1f %14.1f %12.2f %21s%.2f %7.2f..%.2f\n", NAMES[v], median(cv, nr) * 1e6,
               median(wv, nr) * 1e6, median(sv, nr), "x", median(rv, nr), lo, hi);
    }
    printf("(medians over %ld rounds; csw = context switches of the process per call, getrusage;\n"
           " goal of issue 17: (b) and (c) <= (a))\n", g_rounds);

    hl_loop_free(g_l);
    hl_queue_free(g_q);
    hl_client_free(g_ca); hl_client_free(g_cb); hl_client_free(g_cc);
    free(cpu_pc); free(wall_pc); free(ratio); free(csw_pc);
    if (g_failures) { printf("FAILURES: %ld\n", g_failures); return 1; }
    return 0;
}
