/*
 * bench_engine.c — the engine (asynchronous calls on libcurl's multi interface) of libhumanloop,
 * against bench/slow_server.py: a loopback server that answers each request after 50 ms and
 * holds any number of requests at once. Rows:
 *
 *   batch      hl_batch of B calls (default 2000) at concurrency C (default 100).
 *              wall / ideal, where ideal = B/C x delay (2000/100 x 50 ms = 1.0 s);
 *              client CPU per call (getrusage(RUSAGE_SELF), user+sys, the whole process: the
 *              engine thread included) / the CPU per call of sequential hl_complete (S calls,
 *              default 40, through another client, same server, same process). Each round also
 *              runs the same batch on plain libcurl (C): the multi interface, C easy handles
 *              reused, the same URL, body and headers, every answer parsed with jansson; the
 *              least a C program does for it, i.e. what the server and the machine cost by
 *              themselves. R rounds (default 4), alternating the order (S C B, B C S, ...). The
 *              batch's results are checked (every envelope "ok") outside the timed part. The
 *              server's peak of requests in flight is read from its /stats route after each batch.
 *   inflight   N (default 1000) hl_call_start calls at once, through a fresh client, each held
 *              H ms (default 1000) by the server (per-call option "headers":{"X-Delay":...}).
 *              VmRSS (/proc/self/status) before the first start (client made, one blocking call
 *              done) and sampled every 2 ms until the last callback: peak - before. Done twice on
 *              the same client (the second time the client's handles and connections exist),
 *              then a third time with the server's plain delay (50 ms): its peak in flight then
 *              shows how many of the N requests reach the server within one delay.
 *   idle       CPU of the process over 0.5 s with an idle engine (after the batches).
 *
 * Usage: bench_engine --server=http://127.0.0.1:PORT [--batch=2000] [--concurrency=100]
 *                     [--seq=40] [--rounds=4] [--inflight=1000] [--hold-ms=1000]
 *                     [--delay-ms=50] [--no-batch] [--no-inflight] [--label=TEXT]
 * Exit status: 0 when every call succeeded (whatever the figures), 1 otherwise.
 *
 * Build: cc -O2 -Iinclude bench/bench_engine.c -Lbuild/lib -lhumanloop -lcurl -ljansson -lpthread
 *           -Wl,-rpath,$PWD/build/lib
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

#define BENCH_NAME "bench_engine"
#include "bench_util.h"   /* BODY, die, mono, cpu, bench_client, the libcurl multi reference */

static const char *g_server = NULL, *g_label = "";
static long g_batch = 2000, g_conc = 100, g_seq = 40, g_rounds = 4, g_inflight = 1000;
static long g_hold_ms = 1000, g_delay_ms = 50;
static int g_do_batch = 1, g_do_inflight = 1;
static int g_failures = 0;

static long vmrss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { kib = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kib;
}

/* ---- the server's counters (GET /stats, /stats/reset) ------------------------------------------ */

/* Returns max_in_flight of the server (and resets the counters when reset != 0); -1 on error. */
static long server_stats(int reset, long *requests) {
    char url[512];
    buf b = { NULL, 0, 0 };
    long peak = -1;
    snprintf(url, sizeof url, "%s/stats%s", g_server, reset ? "/reset" : "");
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(h) == CURLE_OK && b.p) {
        json_t *j = json_loads(b.p, 0, NULL);
        if (j) {
            peak = (long)json_integer_value(json_object_get(j, "max_in_flight"));
            if (requests) *requests = (long)json_integer_value(json_object_get(j, "requests"));
            json_decref(j);
        }
    }
    curl_easy_cleanup(h);
    free(b.p);
    return peak;
}

static hl_client *client_for(const char *path) { return bench_client(g_server, path); }

/* ---- sequential hl_complete ---------------------------------------------------------------------- */

static void seq_calls(hl_client *c, long n, double *wall, double *cpu_s) {
    double w0 = mono(), c0 = cpu();
    for (long i = 0; i < n; i++) {
        char *r = hl_complete(c, BODY);
        if (!r || strncmp(r, "{\"ok\":true,", 11) != 0) {
            if (g_failures++ < 3) fprintf(stderr, "  hl_complete: %.300s\n", r ? r : "(null)");
        }
        hl_free(r);
    }
    *wall += mono() - w0;
    *cpu_s += cpu() - c0;
}

/* ---- the baseline: plain libcurl multi, C handles at once ------------------------------------------ */

/* B POSTs of the same body with the same headers, at most C at once, on libcurl's multi interface
 * (curl_multi_poll + curl_multi_perform, C easy handles reused with their connections); every
 * answer parsed with jansson and checked. The least a C program can do for the batch
 * (curl_multi_batch, bench_util.h). */
static long curl_batch(long n, long conc) {   /* returns the number of good answers */
    return curl_multi_batch(g_server, "/v4/completion", n, conc, NULL);
}

/* ---- hl_batch ------------------------------------------------------------------------------------- */

static char *batch_json(long n, long conc) {
    size_t one = strlen(BODY) + 64, cap = (size_t)n * one + 128, len = 0;
    char *s = malloc(cap);
    if (!s) die("out of memory");
    len += (size_t)snprintf(s + len, cap - len, "{\"concurrency\":%ld,\"requests\":[", conc);
    for (long i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s{\"call\":\"complete\",\"request\":%s}", i ? "," : "", BODY);
    snprintf(s + len, cap - len, "]}");
    return s;
}

static long check_batch(const char *r, long n) {   /* returns the number of ok envelopes */
    json_error_t e;
    json_t *j = json_loads(r, 0, &e);
    long ok = 0;
    if (!j) return -1;
    json_t *res = json_object_get(j, "results");
    if (json_is_true(json_object_get(j, "ok")) && json_is_array(res) && (long)json_array_size(res) == n) {
        for (size_t i = 0; i < json_array_size(res); i++) {
            json_t *env = json_array_get(res, i);
            if (json_is_true(json_object_get(env, "ok"))) ok++;
            else if (g_failures < 3) {
                char *d = json_dumps(env, 0);
                fprintf(stderr, "  batch item %zu: %.300s\n", i, d ? d : "?");
                free(d);
                g_failures++;
            }
        }
    }
    json_decref(j);
    return ok;
}

static void run_batch_rows(void) {
    hl_client *seq = client_for("/v4"), *eng = client_for("/v4");
    char *bj = batch_json(g_batch, g_conc);
    double ideal = (double)g_batch / (double)g_conc * (double)g_delay_ms / 1000.0;

    /* warm-up: connections of both clients, the engine thread, the server's answer cache */
    { double w = 0, c = 0; seq_calls(seq, 5, &w, &c); }
    {
        char *wj = batch_json(g_conc * 2, g_conc);
        char *r = hl_batch(eng, wj);
        if (check_batch(r, g_conc * 2) != g_conc * 2) { fprintf(stderr, "bench_engine: warm-up batch failed: %.300s\n", r ? r : "(null)"); g_failures++; }
        hl_free(r); free(wj);
    }

    if (curl_batch(g_conc * 2, g_conc) != g_conc * 2) { fprintf(stderr, "bench_engine: warm-up of the libcurl baseline failed\n"); g_failures++; }

    double sw = 0, sc = 0, bw = 0, bc = 0, bw_min = 1e9, bw_max = 0, cw = 0, cc = 0;
    double rr_min = 1e9, rr_max = 0;
    long peak_min = -1, peak_max = -1, req_total = 0;
    printf("batch: %ld x hl_batch(%ld calls, concurrency %ld) vs %ld x %ld sequential hl_complete; "
           "server delay %ld ms; ideal wall %.3f s\n\n", g_rounds, g_batch, g_conc, g_rounds, g_seq,
           g_delay_ms, ideal);
    printf("%-6s %-7s %12s %12s %14s %14s %10s %14s %14s\n", "round", "order", "batch wall s", "wall/ideal",
           "batch cpu/call", "seq cpu/call", "cpu ratio", "curl wall/ideal", "curl cpu/call");
    for (long r = 0; r < g_rounds; r++) {
        double w1 = 0, c1 = 0, w2 = 0, c2 = 0;
        int seq_first = (r % 2 == 0);
        long reqs = 0;
        /* the libcurl multi baseline, same batch: before hl_batch in odd rounds, after in even */
        double w3 = 0, c3 = 0;
        long good = 0;
#define CURL_BATCH() do { double t2 = mono(), k2 = cpu(); good = curl_batch(g_batch, g_conc); \
                          w3 = mono() - t2; c3 = cpu() - k2; } while (0)
        if (seq_first) { seq_calls(seq, g_seq, &w1, &c1); CURL_BATCH(); }
        server_stats(1, NULL);
        double t0 = mono(), k0 = cpu();
        char *res = hl_batch(eng, bj);
        double t1 = mono(), k1 = cpu();
        w2 = t1 - t0; c2 = k1 - k0;
        long peak = server_stats(0, &reqs);
        req_total += reqs;
        if (!seq_first) CURL_BATCH();
        long ok = check_batch(res, g_batch);
        if (ok != g_batch) {
            fprintf(stderr, "bench_engine: batch: %ld of %ld ok: %.300s\n", ok, g_batch, res ? res : "(null)");
            g_failures++;
        }
        hl_free(res);
        if (!seq_first) seq_calls(seq, g_seq, &w1, &c1);
        if (good != g_batch) { fprintf(stderr, "bench_engine: libcurl baseline: %ld of %ld good\n", good, g_batch); g_failures++; }
        cw += w3; cc += c3;
        double bcpc = c2 / (double)g_batch, scpc = c1 / (double)g_seq;
        printf("%-6ld %-7s %12.3f %12.3f %11.1f us %11.1f us %10.2f %14.3f %11.1f us  (server peak %ld)\n",
               r + 1, seq_first ? "S C B" : "B C S", w2, w2 / ideal, bcpc * 1e6, scpc * 1e6, bcpc / scpc,
               w3 / ideal, c3 / (double)g_batch * 1e6, peak);
        sw += w1; sc += c1; bw += w2; bc += c2;
        if (w2 < bw_min) bw_min = w2;
        if (w2 > bw_max) bw_max = w2;
        if (bcpc / scpc < rr_min) rr_min = bcpc / scpc;
        if (bcpc / scpc > rr_max) rr_max = bcpc / scpc;
        if (peak_min < 0 || peak < peak_min) peak_min = peak;
        if (peak > peak_max) peak_max = peak;
    }
    double bcpc = bc / (double)(g_batch * g_rounds), scpc = sc / (double)(g_seq * g_rounds);
    printf("\nbatch wall / ideal      x%.3f  (mean over rounds; rounds %.3f..%.3f; target <= 1.15)\n",
           bw / (double)g_rounds / ideal, bw_min / ideal, bw_max / ideal);
    printf("libcurl multi baseline  wall/ideal x%.3f, cpu per call %.1f us  (the same batch, plain libcurl + jansson)\n",
           cw / (double)g_rounds / ideal, cc / (double)(g_batch * g_rounds) * 1e6);
    printf("hl_batch / baseline     wall x%.3f, cpu x%.2f\n", bw / cw, bc / cc);
    printf("batch cpu per call      %.1f us; sequential hl_complete cpu per call %.1f us (wall %.1f ms per call)\n",
           bcpc * 1e6, scpc * 1e6, sw / (double)(g_seq * g_rounds) * 1e3);
    printf("cpu ratio batch/seq     x%.2f  (rounds %.2f..%.2f; target <= 1.3)\n", bcpc / scpc, rr_min, rr_max);
    printf("server peak in flight   %ld..%ld during the batches (%ld requests seen)\n", peak_min, peak_max, req_total);

    /* The idle engine: CPU over 0.5 s while nothing is in flight. */
    double k0 = cpu();
    usleep(500000);
    printf("idle engine             %.2f ms CPU in 0.5 s\n\n", (cpu() - k0) * 1e3);
    free(bj);
    hl_client_free(seq);
    hl_client_free(eng);
}

/* ---- 1000 calls in flight ------------------------------------------------------------------------- */

static atomic_long g_done, g_ok;

static void on_item(hl_call *call, int kind, const char *item, size_t len, void *ud) {
    (void)call; (void)kind; (void)len; (void)ud;
    if (item && strncmp(item, "{\"ok\":true,", 11) == 0) atomic_fetch_add(&g_ok, 1);
    else if (atomic_load(&g_done) < 3) fprintf(stderr, "  async call: %.300s\n", item ? item : "(null)");
    atomic_fetch_add(&g_done, 1);
}

static void inflight_round(hl_client *c, int round, long hold_ms) {
    char opts[128];
    snprintf(opts, sizeof opts, "{\"headers\":{\"X-Delay\":\"%.3f\"}}", (double)hold_ms / 1000.0);
    hl_call **calls = calloc((size_t)g_inflight, sizeof *calls);
    if (!calls) die("out of memory");
    atomic_store(&g_done, 0); atomic_store(&g_ok, 0);
    server_stats(1, NULL);
    long before = vmrss_kib(), peak = before;
    double t0 = mono(), k0 = cpu(), t_peak = 0;
    for (long i = 0; i < g_inflight; i++) {
        calls[i] = hl_call_start(c, "complete", BODY, opts, on_item, NULL);
        if (!calls[i]) die("hl_call_start returned NULL");
    }
    double t_started = mono() - t0;
    while (atomic_load(&g_done) < g_inflight) {
        long r = vmrss_kib();
        if (r > peak) { peak = r; t_peak = mono() - t0; }
        usleep(2000);
        if (mono() - t0 > 60) { fprintf(stderr, "bench_engine: in-flight calls not done after 60 s\n"); break; }
    }
    double wall = mono() - t0, k = cpu() - k0;
    long after = vmrss_kib();
    long server_peak = server_stats(0, NULL);
    for (long i = 0; i < g_inflight; i++) hl_call_free(calls[i]);
    free(calls);
    long freed = vmrss_kib();
    long okc = atomic_load(&g_ok);
    if (okc != g_inflight) g_failures++;
    printf("%-6d %10.1f %10.1f %10.1f %12.1f %10.1f %9.3f %9.3f %8.0f %7ld %6ld\n", round,
           before / 1024.0, peak / 1024.0, (peak - before) / 1024.0, (double)(peak - before) / (double)g_inflight,
           after / 1024.0, t_started, wall, k / (double)g_inflight * 1e6, server_peak, okc);
    (void)t_peak; (void)freed;
}

static void run_inflight_rows(void) {
    hl_client *c = client_for("/v4");
    char *r = hl_complete(c, BODY);  /* libcurl and the library initialised; one connection */
    if (!r || strncmp(r, "{\"ok\":true,", 11) != 0) { fprintf(stderr, "bench_engine: warm-up: %.300s\n", r ? r : "(null)"); g_failures++; }
    hl_free(r);
    printf("inflight: %ld hl_call_start at once, each held %ld ms by the server; VmRSS sampled every 2 ms\n\n",
           g_inflight, g_hold_ms);
    printf("(round 3: each held only %ld ms, the batch's delay)\n", g_delay_ms);
    printf("%-6s %10s %10s %10s %12s %10s %9s %9s %8s %7s %6s\n", "round", "RSS0 MiB", "peak MiB", "added MiB",
           "KiB/call", "done MiB", "start s", "wall s", "cpu us", "srv max", "ok");
    inflight_round(c, 1, g_hold_ms);
    inflight_round(c, 2, g_hold_ms);
    /* The same with the server's plain delay: how many of the 1000 reach the server within it
     * (the peak then also depends on how fast 1000 requests can be sent and received). */
    inflight_round(c, 3, g_delay_ms);
    long before_free = vmrss_kib();
    hl_client_free(c);
    printf("\nRSS %.1f MiB before hl_client_free, %.1f MiB after (target: added <= 100 MiB)\n\n",
           before_free / 1024.0, vmrss_kib() / 1024.0);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define OPT(name) (strncmp(a, name "=", sizeof(name)) == 0 ? a + sizeof(name) : NULL)
        const char *v;
        if ((v = OPT("--server"))) g_server = v;
        else if ((v = OPT("--batch"))) g_batch = atol(v);
        else if ((v = OPT("--concurrency"))) g_conc = atol(v);
        else if ((v = OPT("--seq"))) g_seq = atol(v);
        else if ((v = OPT("--rounds"))) g_rounds = atol(v);
        else if ((v = OPT("--inflight"))) g_inflight = atol(v);
        else if ((v = OPT("--hold-ms"))) g_hold_ms = atol(v);
        else if ((v = OPT("--delay-ms"))) g_delay_ms = atol(v);
        else if ((v = OPT("--label"))) g_label = v;
        else if (strcmp(a, "--no-batch") == 0) g_do_batch = 0;
        else if (strcmp(a, "--no-inflight") == 0) g_do_inflight = 0;
        else { fprintf(stderr, "bench_engine: unknown argument %s\n", a); return 2; }
    }
    if (!g_server) die("--server=http://127.0.0.1:PORT is required");
    if (g_batch < 1 || g_conc < 1 || g_seq < 1 || g_rounds < 1 || g_inflight < 1) die("bad numbers");
    raise_nofile_limit();   /* 1000 calls in flight are 1000 connections */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    printf("bench_engine — libhumanloop %s engine vs bench/slow_server.py %s%s\n", hl_version(),
           g_server, *g_label ? g_label : "");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("%ld CPUs online; CPU = getrusage(RUSAGE_SELF) user+sys of this process (the server is another process)\n\n", ncpu);
    if (g_do_inflight) run_inflight_rows();   /* first: the RSS baseline is least disturbed */
    if (g_do_batch) run_batch_rows();
    if (g_failures) { printf("FAILURES: %d\n", g_failures); return 1; }
    return 0;
}
