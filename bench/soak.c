/*
 * soak.c — many calls through ONE hl_client; the process's RSS must stay flat.
 *
 * The mix, for call i (0-based):
 *   i % 10 == 9     a stream: hl_complete_deployed_stream + hl_stream_next until NULL
 *                   (4 events + done); one in ten of them is abandoned after the first event
 *   i % 50 == 25    an invalid request (rotating: NULL, not JSON, not an object, missing
 *                   model_config, wrong type, unknown key, bad enum, invalid UTF-8, and an
 *                   invalid stream request) — must come back as invalid_request, nothing sent
 *   i % 100 == 35   hl_complete_experiment (the nginx stand-in answers 404: an api_error;
 *                   the Python test server answers 200)
 *   i % 100 == 95   hl_complete_deployed with "stream": true (the blocking call that merges
 *                   the event stream into one envelope)
 *   otherwise       hl_complete
 * RSS (resident pages from /proc/self/statm) is sampled every --every calls (default calls/10,
 * i.e. every 10,000 of the default 100,000). The first sample (after --every calls) is the
 * warmed-up reference; the check is "flat" when last/reference - 1 < --max-growth (default 5 %)
 * and the samples after it do not rise at every step (a monotonic trend).
 *
 * The heap in use (glibc mallinfo2) is printed next to RSS for information.
 *
 * Usage: soak --url=http://127.0.0.1:PORT/v4 [--calls=100000 | N] [--every=N] [--max-growth=0.05]
 *             [--leak-bytes=N]
 * --leak-bytes=N leaks N bytes per call on purpose (a self-test of the check: it must say NOT FLAT
 * for, e.g., 64).
 * Exit status: 0 flat and every answer as expected; 1 unexpected answers; 3 RSS not flat.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "humanloop.h"

#define HAS_PREFIX(s, lit) (strncmp((s), (lit), sizeof(lit) - 1) == 0)

static const char *BODY =
    "{\"project\":\"bench\","
    "\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\","
    "\"temperature\":0.7,\"max_tokens\":-1},"
    "\"inputs\":{\"question\":\"What do llamas eat?\"}}";
static const char *DEPLOYED_STREAM_BODY =
    "{\"project\":\"bench\",\"inputs\":{\"question\":\"What do llamas eat?\"},\"stream\":true}";
static const char *EXPERIMENT_BODY =
    "{\"experiment_id\":\"exp_bench\",\"inputs\":{\"question\":\"What do llamas eat?\"}}";

static const char *INVALID[] = {
    NULL,
    "not json at all",
    "[1,2,3]",
    "{\"project\":\"bench\",\"inputs\":{}}",
    "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"t\",\"temperature\":\"hot\"}}",
    "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"t\"},\"no_such_key\":1,\"another\":[1,{\"x\":2}]}",
    "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"t\",\"endpoint\":\"no-such-endpoint\"}}",
    "{\"model_config\":{\"model\":\"\xff\xfe\",\"prompt_template\":\"t\"}}",
    "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"t\"},\"num_samples\":1.5,\"inputs\":[]}",
};
#define N_INVALID (sizeof INVALID / sizeof INVALID[0])

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Bytes in use in malloc's heap (glibc): finer than RSS, shown next to it for information. */
static long heap_kib(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
#else
    return -1;
#endif
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long n_ok, n_api_error, n_invalid, n_stream_ok, n_unexpected;

static void unexpected(const char *what, const char *text) {
    if (n_unexpected++ < 5) fprintf(stderr, "soak: unexpected answer to %s: %.300s\n", what, text ? text : "NULL");
}

/* A blocking call; expect = "ok" (success), "ok_or_api" (success or api_error), "invalid". */
static void blocking(char *(*fn)(hl_client *, const char *), hl_client *c, const char *body,
                     const char *expect) {
    char *env = fn(c, body);
    if (!env) { unexpected(expect, NULL); return; }
    int ok = HAS_PREFIX(env, "{\"ok\":true,");
    int api = !ok && strstr(env, "\"type\":\"api_error\"") != NULL;
    int inv = !ok && strstr(env, "\"type\":\"invalid_request\"") != NULL;
    if (!strcmp(expect, "invalid")) { if (inv) n_invalid++; else unexpected(expect, env); }
    else if (ok) n_ok++;
    else if (api && !strcmp(expect, "ok_or_api")) n_api_error++;
    else unexpected(expect, env);
    hl_free(env);
}

/* A stream; abandon_after > 0 frees it after that many items. valid = 0 expects one error item. */
static void stream(hl_client *c, const char *body, int abandon_after, int valid) {
    hl_stream *s = hl_complete_deployed_stream(c, body);
    if (!s) { unexpected("stream", NULL); return; }
    int items = 0, events = 0, done = 0, errors = 0;
    char *item;
    while ((item = hl_stream_next(s)) != NULL) {
        items++;
        if (HAS_PREFIX(item, "{\"ok\":true,\"event\":")) events++;
        else if (HAS_PREFIX(item, "{\"ok\":true,\"done\":true")) done++;
        else if (!valid && strstr(item, "\"type\":\"invalid_request\"")) errors++;
        else unexpected("stream", item);
        hl_free(item);
        if (abandon_after && items >= abandon_after) break;
    }
    hl_stream_free(s);
    if (!valid) { if (errors == 1 && items == 1) n_invalid++; else unexpected("invalid stream", "(wrong items)"); }
    else if (abandon_after ? events == abandon_after : (events == 4 && done == 1)) n_stream_ok++;
    else unexpected("stream", "(wrong number of events)");
}

int main(int argc, char **argv) {
    const char *url = NULL;
    long calls = 100000, every = -1;
    double max_growth = 0.05;
    long leak_bytes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--url=", 6)) url = a + 6;
        else if (!strncmp(a, "--calls=", 8)) calls = atol(a + 8);
        else if (!strncmp(a, "--every=", 8)) every = atol(a + 8);
        else if (!strncmp(a, "--max-growth=", 13)) max_growth = atof(a + 13);
        else if (!strncmp(a, "--leak-bytes=", 13)) leak_bytes = atol(a + 13);
        else if (a[0] >= '0' && a[0] <= '9') calls = atol(a);
        else { fprintf(stderr, "soak: unknown argument %s\n", a); return 2; }
    }
    if (!url) { fprintf(stderr, "soak: --url=http://127.0.0.1:PORT/v4 is required\n"); return 2; }
    if (calls < 20) { fprintf(stderr, "soak: --calls must be >= 20\n"); return 2; }
    if (every <= 0) every = calls / 10;

    long rss_start = rss_kib();
    char config[512], *err = NULL;
    snprintf(config, sizeof config, "{\"api_key\":\"bench-key\",\"host\":\"%s\",\"max_retries\":0}", url);
    hl_client *c = hl_client_new(config, &err);
    if (!c) { fprintf(stderr, "soak: hl_client_new: %s\n", err ? err : "NULL"); hl_free(err); return 2; }

    printf("soak: %ld calls through one client against %s (libhumanloop %s)\n", calls, url, hl_version());
    printf("mix: 9/10 blocking (2%% invalid requests, 1%% experiment, 1%% deployed stream:true), 1/10 streams\n");
    printf("RSS before the client: %ld KiB, heap in use %ld KiB\n\n", rss_start, heap_kib());
    if (leak_bytes) printf("SELF-TEST: leaking %ld bytes per call on purpose\n", leak_bytes);
    printf("%10s %10s %10s %10s %8s\n", "calls", "RSS KiB", "vs ref", "heap KiB", "calls/s");
    fflush(stdout);

    long nsamples = calls / every;
    long *samples = calloc((size_t)nsamples + 1, sizeof(long));
    long ns = 0, inv = 0;
    double t0 = now(), tlast = t0;
    for (long i = 0; i < calls; i++) {
        if (i % 10 == 9) {
            long k = i / 10;
            if (k % 25 == 12) stream(c, k / 25 % 2 ? "{\"project\":5}" : "[]", 0, 0);   /* invalid */
            else stream(c, DEPLOYED_STREAM_BODY, k % 10 == 3 ? 1 : 0, 1);
        } else if (i % 50 == 25) {
            blocking(hl_complete, c, INVALID[inv++ % N_INVALID], "invalid");
        } else if (i % 100 == 35) {
            blocking(hl_complete_experiment, c, EXPERIMENT_BODY, "ok_or_api");
        } else if (i % 100 == 95) {
            blocking(hl_complete_deployed, c, DEPLOYED_STREAM_BODY, "ok");
        } else {
            blocking(hl_complete, c, BODY, "ok");
        }
        if (leak_bytes) {
            char *p = malloc((size_t)leak_bytes);
            if (p) memset(p, 1, (size_t)leak_bytes);   /* never freed: on purpose */
        }
        if ((i + 1) % every == 0 && ns < nsamples) {
            double t = now();
            samples[ns] = rss_kib();
            printf("%10ld %10ld %9.3fx %10ld %8.0f\n", i + 1, samples[ns],
                   (double)samples[ns] / (double)samples[0], heap_kib(), (double)every / (t - tlast));
            fflush(stdout);
            tlast = t;
            ns++;
        }
    }
    double elapsed = now() - t0;
    hl_client_free(c);
    long rss_end = rss_kib();

    printf("\n%ld calls in %.1f s (%.0f calls/s): %ld ok, %ld streams ok, %ld api_error, %ld invalid_request, "
           "%ld unexpected\n", calls, elapsed, (double)calls / elapsed, n_ok, n_stream_ok, n_api_error,
           n_invalid, n_unexpected);
    printf("RSS after hl_client_free: %ld KiB, heap in use %ld KiB\n", rss_end, heap_kib());

    int flat = 1;
    if (ns >= 2) {
        double ratio = (double)samples[ns - 1] / (double)samples[0];
        int rising = 1;
        for (long k = 1; k < ns; k++) if (samples[k] <= samples[k - 1]) rising = 0;
        /* least-squares slope over the samples, KiB per 10,000 calls */
        double mx = 0, my = 0, sxx = 0, sxy = 0;
        for (long k = 0; k < ns; k++) { mx += (double)k; my += (double)samples[k]; }
        mx /= (double)ns; my /= (double)ns;
        for (long k = 0; k < ns; k++) {
            sxx += ((double)k - mx) * ((double)k - mx);
            sxy += ((double)k - mx) * ((double)samples[k] - my);
        }
        double slope = sxx > 0 ? sxy / sxx * 10000.0 / (double)every : 0;
        flat = ratio - 1.0 < max_growth && !(rising && ns >= 3);
        printf("RSS last/first-after-warm-up (%ld / %ld KiB) = x%.3f; trend %+.1f KiB per 10,000 calls; "
               "rising at every sample: %s\n", samples[ns - 1], samples[0], ratio, slope, rising ? "yes" : "no");
        printf("%s (growth %.1f%%, limit %.0f%%)\n", flat ? "FLAT" : "NOT FLAT", (ratio - 1.0) * 100.0,
               max_growth * 100.0);
    } else {
        printf("too few samples for a verdict\n");
    }
    free(samples);
    if (n_unexpected) return 1;
    return flat ? 0 : 3;
}
