/*
 * bench_calls.c — libhumanloop against a plain libcurl + jansson baseline, in ONE process.
 *
 * Rows (each: baseline vs library, same URL, same body, same headers, same process):
 *   blocking   N sequential calls.  baseline: one reused curl easy handle POSTs the JSON body
 *              (X-API-KEY, Content-Type, Accept, no Expect, same User-Agent), reply parsed with
 *              jansson.  library: hl_complete through one hl_client.
 *   stream     N/4 sequential streaming calls (the server's 4-event SSE answer).  baseline: a
 *              curl write callback that splits the body on blank lines.  library:
 *              hl_complete_stream + hl_stream_next until NULL.
 *   threads    T threads x (N/T) calls.  baseline: each thread owns a curl handle.  library:
 *              the T threads share one hl_client.
 * Every row runs in R rounds, alternating the order (AB BA AB BA ...) so slow drift of the
 * machine or the server cancels out; per-round ratios are printed as min..max.
 *
 * Measured per call: wall time (CLOCK_MONOTONIC; mean, p50, p99), CPU time of the calling
 * thread (CLOCK_THREAD_CPUTIME_ID) and CPU time of the whole process (CLOCK_PROCESS_CPUTIME_ID;
 * catches work done on helper threads, if any). The server runs in another process, so its
 * CPU is not counted. The numbers that matter are the ratios library/baseline.
 *
 * Usage: bench_calls --url=http://127.0.0.1:PORT/v4 [--stream-url=URL] [--calls=2000]
 *                    [--rounds=10] [--warmup=200] [--stream-calls=N/4] [--threads=4]
 *                    [--thread-calls=N] [--no-stream] [--no-threads] [--label=TEXT]
 * --stream-url is the base for the streaming row (default: --url); a static server that cannot
 * look at the body (nginx) serves the event stream under another path.
 *
 * Build: cc -O2 -Iinclude bench/bench_calls.c -Lbuild/lib -lhumanloop -lcurl -ljansson -lpthread
 *           -Wl,-rpath,$PWD/build/lib
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "humanloop.h"

#define API_KEY "bench-key"

static const char *BODY =
    "{\"project\":\"bench\","
    "\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\","
    "\"temperature\":0.7,\"max_tokens\":-1},"
    "\"inputs\":{\"question\":\"What do llamas eat?\"}}";
static const char *STREAM_BODY =
    "{\"project\":\"bench\","
    "\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\","
    "\"temperature\":0.7,\"max_tokens\":-1},"
    "\"inputs\":{\"question\":\"What do llamas eat?\"},\"stream\":true}";

/* ---- options -------------------------------------------------------------------------------- */

static const char *g_url = NULL, *g_stream_url = NULL, *g_label = "";
static long g_calls = 2000, g_rounds = 10, g_warmup = 200, g_stream_calls = -1;
static long g_threads = 4, g_thread_calls = -1;
static int g_do_stream = 1, g_do_threads = 1;
static char g_completion_url[512], g_stream_completion_url[512];
static char g_user_agent[64];

static void die(const char *what) { fprintf(stderr, "bench_calls: %s\n", what); exit(2); }

/* ---- clocks ----------------------------------------------------------------------------------- */

static double now(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct { double wall, tcpu, pcpu; } stamp;

static stamp take(void) {
    stamp s = { now(CLOCK_MONOTONIC), now(CLOCK_THREAD_CPUTIME_ID), now(CLOCK_PROCESS_CPUTIME_ID) };
    return s;
}

/* Accumulated results of one variant of one row over all rounds. */
typedef struct {
    const char *name;
    long calls;
    double wall, tcpu, pcpu;      /* seconds, summed over rounds */
    double *lat;                  /* per-call wall times (sequential rows) */
    long nlat, caplat;
    double round_wall[64], round_tcpu[64], round_pcpu[64];
    long round_calls[64];
    int rounds;
    long failures;
} result;

static void add_round(result *r, stamp a, stamp b, long calls) {
    int k = r->rounds++;
    r->round_wall[k] = b.wall - a.wall;
    r->round_tcpu[k] = b.tcpu - a.tcpu;
    r->round_pcpu[k] = b.pcpu - a.pcpu;
    r->round_calls[k] = calls;
    r->wall += b.wall - a.wall;
    r->tcpu += b.tcpu - a.tcpu;
    r->pcpu += b.pcpu - a.pcpu;
    r->calls += calls;
}

static void add_lat(result *r, double seconds) {
    if (r->nlat == r->caplat) {
        r->caplat = r->caplat ? r->caplat * 2 : 4096;
        r->lat = realloc(r->lat, (size_t)r->caplat * sizeof(double));
        if (!r->lat) die("out of memory");
    }
    r->lat[r->nlat++] = seconds;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(result *r, double p) {
    if (r->nlat == 0) return 0;
    qsort(r->lat, (size_t)r->nlat, sizeof(double), cmp_double);
    long i = (long)(p * (double)(r->nlat - 1) + 0.5);
    return r->lat[i];
}

/* ---- baseline: libcurl + jansson ------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
    long events;       /* stream: events split off so far */
} buffer;

static void buf_append(buffer *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data) die("out of memory");
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

static size_t write_body(char *p, size_t size, size_t n, void *ud) {
    buf_append(ud, p, size * n);
    return size * n;
}

/* Stream baseline: split the bytes received so far on blank lines ("\n\n"); each complete
 * block is one event. What is left (an incomplete event) is kept for the next chunk. */
static size_t write_stream(char *p, size_t size, size_t n, void *ud) {
    buffer *b = ud;
    buf_append(b, p, size * n);
    size_t start = 0;
    for (;;) {
        char *sep = memmem(b->data + start, b->len - start, "\n\n", 2);
        if (!sep) break;
        size_t end = (size_t)(sep - b->data);
        if (end > start) b->events++;
        start = end + 2;
    }
    if (start) {
        memmove(b->data, b->data + start, b->len - start);
        b->len -= start;
    }
    return size * n;
}

typedef struct {
    CURL *h;
    struct curl_slist *headers;
    buffer buf;
} baseline;

static void baseline_init(baseline *b, const char *url, const char *body, int stream) {
    memset(b, 0, sizeof *b);
    b->h = curl_easy_init();
    if (!b->h) die("curl_easy_init failed");
    b->headers = curl_slist_append(b->headers, "X-API-KEY: " API_KEY);
    b->headers = curl_slist_append(b->headers, "Content-Type: application/json");
    b->headers = curl_slist_append(b->headers, "Accept: application/json");
    b->headers = curl_slist_append(b->headers, "Expect:");
    curl_easy_setopt(b->h, CURLOPT_URL, url);
    curl_easy_setopt(b->h, CURLOPT_HTTPHEADER, b->headers);
    curl_easy_setopt(b->h, CURLOPT_USERAGENT, g_user_agent);
    curl_easy_setopt(b->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(b->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(b->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(b->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(b->h, CURLOPT_WRITEFUNCTION, stream ? write_stream : write_body);
    curl_easy_setopt(b->h, CURLOPT_WRITEDATA, &b->buf);
}

static void baseline_cleanup(baseline *b) {
    curl_easy_cleanup(b->h);
    curl_slist_free_all(b->headers);
    free(b->buf.data);
}

/* One blocking baseline call: POST, then parse the reply with jansson. 1 = success. */
static int baseline_call(baseline *b) {
    b->buf.len = 0;
    if (curl_easy_perform(b->h) != CURLE_OK) return 0;
    long status = 0;
    curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) return 0;
    json_error_t err;
    json_t *root = json_loadb(b->buf.data, b->buf.len, 0, &err);
    int ok = json_is_object(root) && json_is_array(json_object_get(root, "data"));
    json_decref(root);
    return ok;
}

static int baseline_stream_call(baseline *b) {
    b->buf.len = 0;
    b->buf.events = 0;
    if (curl_easy_perform(b->h) != CURLE_OK) return 0;
    long status = 0;
    curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &status);
    return status == 200 && b->buf.events == 4;
}

/* ---- library ---------------------------------------------------------------------------------- */

static hl_client *make_client(const char *base) {
    char config[1024], *err = NULL;
    snprintf(config, sizeof config, "{\"api_key\":\"" API_KEY "\",\"host\":\"%s\"}", base);
    hl_client *c = hl_client_new(config, &err);
    if (!c) {
        fprintf(stderr, "bench_calls: hl_client_new: %s\n", err ? err : "(null)");
        hl_free(err);
        exit(2);
    }
    return c;
}

#define HAS_PREFIX(s, lit) (strncmp((s), (lit), sizeof(lit) - 1) == 0)
static long g_reported = 0;   /* unexpected answers printed so far (a few are enough) */

static int library_call(hl_client *c) {
    char *env = hl_complete(c, BODY);
    int ok = env && HAS_PREFIX(env, "{\"ok\":true,");
    if (!ok && env && __atomic_fetch_add(&g_reported, 1, __ATOMIC_RELAXED) < 5) fprintf(stderr, "library call failed: %.300s\n", env);
    hl_free(env);
    return ok;
}

static int library_stream_call(hl_client *c) {
    hl_stream *s = hl_complete_stream(c, STREAM_BODY);
    if (!s) return 0;
    int events = 0, done = 0, bad = 0;
    char *item;
    while ((item = hl_stream_next(s)) != NULL) {
        if (HAS_PREFIX(item, "{\"ok\":true,\"event\":")) events++;
        else if (HAS_PREFIX(item, "{\"ok\":true,\"done\":true")) done = 1;
        else {
            if (!bad && __atomic_fetch_add(&g_reported, 1, __ATOMIC_RELAXED) < 5) fprintf(stderr, "library stream item: %.300s\n", item);
            bad = 1;
        }
        hl_free(item);
    }
    hl_stream_free(s);
    return !bad && done && events == 4;
}

/* ---- sequential rows ------------------------------------------------------------------------- */

typedef int (*seq_fn)(void *ctx);
static int f_base(void *ctx) { return baseline_call(ctx); }
static int f_base_stream(void *ctx) { return baseline_stream_call(ctx); }
static int f_lib(void *ctx) { return library_call(ctx); }
static int f_lib_stream(void *ctx) { return library_stream_call(ctx); }

static void run_phase(result *r, seq_fn fn, void *ctx, long calls) {
    stamp a = take();
    for (long i = 0; i < calls; i++) {
        double t0 = now(CLOCK_MONOTONIC);
        if (!fn(ctx)) r->failures++;
        add_lat(r, now(CLOCK_MONOTONIC) - t0);
    }
    stamp b = take();
    add_round(r, a, b, calls);
}

static void run_sequential(result *base, result *lib, seq_fn fb, void *cb, seq_fn fl, void *cl,
                           long calls) {
    for (long i = 0; i < g_warmup; i++) { fb(cb); fl(cl); }
    long per = calls / g_rounds;
    for (long r = 0; r < g_rounds; r++) {
        long n = r == g_rounds - 1 ? calls - per * (g_rounds - 1) : per;
        if (r % 2 == 0) { run_phase(base, fb, cb, n); run_phase(lib, fl, cl, n); }
        else            { run_phase(lib, fl, cl, n); run_phase(base, fb, cb, n); }
    }
}

/* ---- threaded row ----------------------------------------------------------------------------- */

typedef struct {
    pthread_barrier_t *start, *end;
    hl_client *client;           /* NULL: baseline (own curl handle) */
    long calls, warmup, failures;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    baseline b;
    if (!w->client) baseline_init(&b, g_completion_url, BODY, 0);
    for (long i = 0; i < w->warmup; i++) w->client ? library_call(w->client) : baseline_call(&b);
    pthread_barrier_wait(w->start);
    for (long i = 0; i < w->calls; i++)
        if (!(w->client ? library_call(w->client) : baseline_call(&b))) w->failures++;
    pthread_barrier_wait(w->end);
    if (!w->client) baseline_cleanup(&b);
    return NULL;
}

static void run_threads_phase(result *r, hl_client *client, long calls) {
    long t = g_threads;
    pthread_t tid[64];
    worker w[64];
    pthread_barrier_t start, end;
    pthread_barrier_init(&start, NULL, (unsigned)t + 1);
    pthread_barrier_init(&end, NULL, (unsigned)t + 1);
    for (long i = 0; i < t; i++) {
        w[i] = (worker){ &start, &end, client, calls / t + (i < calls % t), 20, 0 };
        pthread_create(&tid[i], NULL, worker_main, &w[i]);
    }
    pthread_barrier_wait(&start);
    stamp a = take();
    pthread_barrier_wait(&end);
    stamp b = take();
    for (long i = 0; i < t; i++) { pthread_join(tid[i], NULL); r->failures += w[i].failures; }
    add_round(r, a, b, calls);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&end);
}

/* ---- report ------------------------------------------------------------------------------------ */

static void print_row(const char *row, result *r, int seq) {
    double n = (double)r->calls;
    if (seq)
        printf("%-22s %-9s %7ld %10.1f %8.1f %8.1f %12.1f %12.1f %8s %6ld\n", row, r->name, r->calls,
               r->wall / n * 1e6, pct(r, 0.5) * 1e6, pct(r, 0.99) * 1e6, r->tcpu / n * 1e6,
               r->pcpu / n * 1e6, "", r->failures);
    else
        printf("%-22s %-9s %7ld %10.1f %8s %8s %12s %12.1f %8.0f %6ld\n", row, r->name, r->calls,
               r->wall / n * 1e6, "-", "-", "-", r->pcpu / n * 1e6, n / r->wall, r->failures);
}

/* Ratio lib/base of a per-call quantity, overall and the spread of per-round ratios. */
static void print_ratio(const char *what, result *base, result *lib, int which) {
    double *bv = which == 0 ? base->round_wall : which == 1 ? base->round_tcpu : base->round_pcpu;
    double *lv = which == 0 ? lib->round_wall : which == 1 ? lib->round_tcpu : lib->round_pcpu;
    double bt = which == 0 ? base->wall : which == 1 ? base->tcpu : base->pcpu;
    double lt = which == 0 ? lib->wall : which == 1 ? lib->tcpu : lib->pcpu;
    double overall = (lt / (double)lib->calls) / (bt / (double)base->calls);
    double q[64];
    int m = 0;
    for (int k = 0; k < base->rounds && k < lib->rounds && m < 64; k++)
        q[m++] = (lv[k] / (double)lib->round_calls[k]) / (bv[k] / (double)base->round_calls[k]);
    if (m == 0) {
        printf("  %-26s x%.2f\n", what, overall);
        return;
    }
    for (int i = 1; i < m; i++)   /* insertion sort: a handful of rounds */
        for (int j = i; j > 0 && q[j - 1] > q[j]; j--) {
            double t = q[j]; q[j] = q[j - 1]; q[j - 1] = t;
        }
    double med = m % 2 ? q[m / 2] : (q[m / 2 - 1] + q[m / 2]) / 2;
    printf("  %-26s x%.2f   (median of rounds x%.2f; rounds %.2f..%.2f)\n", what, overall, med, q[0], q[m - 1]);
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) { if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0; fclose(f); }
    return res * 4;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--url=", 6)) g_url = a + 6;
        else if (!strncmp(a, "--stream-url=", 13)) g_stream_url = a + 13;
        else if (!strncmp(a, "--calls=", 8)) g_calls = atol(a + 8);
        else if (!strncmp(a, "--rounds=", 9)) g_rounds = atol(a + 9);
        else if (!strncmp(a, "--warmup=", 9)) g_warmup = atol(a + 9);
        else if (!strncmp(a, "--stream-calls=", 15)) g_stream_calls = atol(a + 15);
        else if (!strncmp(a, "--threads=", 10)) g_threads = atol(a + 10);
        else if (!strncmp(a, "--thread-calls=", 15)) g_thread_calls = atol(a + 15);
        else if (!strncmp(a, "--label=", 8)) g_label = a + 8;
        else if (!strcmp(a, "--no-stream")) g_do_stream = 0;
        else if (!strcmp(a, "--no-threads")) g_do_threads = 0;
        else { fprintf(stderr, "bench_calls: unknown argument %s\n", a); return 2; }
    }
    if (!g_url) die("--url=http://127.0.0.1:PORT/v4 is required");
    if (!g_stream_url) g_stream_url = g_url;
    if (g_rounds < 1 || g_rounds > 64 || g_calls < g_rounds) die("bad --rounds/--calls");
    if (g_threads < 1 || g_threads > 64) die("bad --threads");
    if (g_stream_calls < 0) g_stream_calls = g_calls / 4 < g_rounds ? g_rounds : g_calls / 4;
    if (g_thread_calls < 0) g_thread_calls = g_calls;
    snprintf(g_completion_url, sizeof g_completion_url, "%s/completion", g_url);
    snprintf(g_stream_completion_url, sizeof g_stream_completion_url, "%s/completion", g_stream_url);
    snprintf(g_user_agent, sizeof g_user_agent, "libhumanloop/%s", hl_version());

    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("libhumanloop %s bench%s%s — libcurl %s, jansson %s\n", hl_version(),
           *g_label ? " — " : "", g_label, cv->version, jansson_version_str());
    printf("url %s  calls/variant %ld  rounds %ld (order AB BA ...)  warm-up %ld\n\n", g_url, g_calls,
           g_rounds, g_warmup);
    fflush(stdout);

    long rss0 = rss_kb();
    hl_client *client = make_client(g_url);
    hl_client *sclient = strcmp(g_url, g_stream_url) ? make_client(g_stream_url) : client;

    /* blocking */
    result bb = { .name = "baseline" }, bl = { .name = "library" };
    baseline b;
    baseline_init(&b, g_completion_url, BODY, 0);
    run_sequential(&bb, &bl, f_base, &b, f_lib, client, g_calls);
    baseline_cleanup(&b);

    /* stream */
    result sb = { .name = "baseline" }, sl = { .name = "library" };
    if (g_do_stream) {
        baseline_init(&b, g_stream_completion_url, STREAM_BODY, 1);
        long saved = g_warmup;
        g_warmup = g_warmup / 4;
        run_sequential(&sb, &sl, f_base_stream, &b, f_lib_stream, sclient, g_stream_calls);
        g_warmup = saved;
        baseline_cleanup(&b);
    }

    /* threads */
    result tb = { .name = "baseline" }, tl = { .name = "library" };
    if (g_do_threads) {
        long per = g_thread_calls / g_rounds;
        for (long r = 0; r < g_rounds; r++) {
            long n = r == g_rounds - 1 ? g_thread_calls - per * (g_rounds - 1) : per;
            if (r % 2 == 0) { run_threads_phase(&tb, NULL, n); run_threads_phase(&tl, client, n); }
            else            { run_threads_phase(&tl, client, n); run_threads_phase(&tb, NULL, n); }
        }
    }
    long rss1 = rss_kb();

    printf("%-22s %-9s %7s %10s %8s %8s %12s %12s %8s %6s\n", "row", "variant", "calls",
           "wall us", "p50 us", "p99 us", "cpu thr us", "cpu proc us", "calls/s", "fail");
    print_row("blocking", &bb, 1);
    print_row("blocking", &bl, 1);
    if (g_do_stream) {
        print_row("stream (4 events)", &sb, 1);
        print_row("stream (4 events)", &sl, 1);
    }
    char trow[64];
    snprintf(trow, sizeof trow, "%ld threads", g_threads);
    if (g_do_threads) {
        print_row(trow, &tb, 0);
        print_row(trow, &tl, 0);
    }
    printf("(per call; cpu = client side only, the server is another process)\n\n");

    printf("ratios library/baseline (overall, the median and min..max of the %ld rounds' ratios):\n", g_rounds);
    printf(" blocking\n");
    print_ratio("wall per call", &bb, &bl, 0);
    print_ratio("cpu per call (thread)", &bb, &bl, 1);
    print_ratio("cpu per call (process)", &bb, &bl, 2);
    printf("  %-26s x%.2f\n", "p50 wall", pct(&bl, 0.5) / pct(&bb, 0.5));
    if (g_do_stream) {
        printf(" stream\n");
        print_ratio("wall per call", &sb, &sl, 0);
        print_ratio("cpu per call (thread)", &sb, &sl, 1);
        print_ratio("cpu per call (process)", &sb, &sl, 2);
    }
    if (g_do_threads) {
        printf(" %s\n", trow);
        print_ratio("wall per call (1/throughput)", &tb, &tl, 0);
        print_ratio("cpu per call (process)", &tb, &tl, 2);
    }
    printf("\nRSS %ld KiB before the clients, %ld KiB at the end\n", rss0, rss1);

    if (sclient != client) hl_client_free(sclient);
    hl_client_free(client);
    curl_global_cleanup();
    free(bb.lat); free(bl.lat); free(sb.lat); free(sl.lat); free(tb.lat); free(tl.lat);
    long failures = bb.failures + bl.failures + sb.failures + sl.failures + tb.failures + tl.failures;
    if (failures) {
        printf("FAILURES: %ld calls did not succeed\n", failures);
        return 1;
    }
    return 0;
}
