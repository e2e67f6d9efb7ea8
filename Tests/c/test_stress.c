/*
 * test_stress.c — 16 threads x 2000 calls (mixed blocking and streaming) through one client.
 * Every call must be accounted for: each blocking call returns one ok envelope,
 * each stream delivers its 4 events and exactly one terminal item, then NULL; the server
 * must have seen exactly one request per call.
 *
 * HL_STRESS_CALLS sets the calls per thread (default 2000; run.sh lowers it under valgrind
 * and the ThreadSanitizer build, where every call is 20-50x slower).
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 16

static hl_client *g_client;
static int g_calls = 2000;

typedef struct {
    int id;
    int blocking_ok;
    int streams_ok;
    int bad;
    char first_bad[512];
} worker_t;

static void note_bad(worker_t *w, const char *what, const char *s)
{
    if (!w->bad) snprintf(w->first_bad, sizeof w->first_bad, "%s: %s", what, s ? s : "NULL");
    w->bad++;
}

static int is_ok(json_t *j) { return j && json_is_true(json_object_get(j, "ok")); }

static void run_stream(worker_t *w, const tu_endpoint *ep)
{
    hl_stream *st = ep->stream(g_client, ep->minimal);
    if (!st) { note_bad(w, "stream open", NULL); return; }
    int events = 0, done = 0;
    char *s;
    while ((s = hl_stream_next(st)) != NULL) {
        json_t *j = json_loads(s, 0, NULL);
        if (is_ok(j) && json_is_object(json_object_get(j, "event")) && !done)
            events++;
        else if (is_ok(j) && json_is_true(json_object_get(j, "done")) && !done)
            done = 1;
        else
            note_bad(w, "stream item", s);
        json_decref(j);
        hl_free(s);
    }
    if (events == 4 && done)
        w->streams_ok++;
    else {
        char what[64];
        snprintf(what, sizeof what, "stream ended with %d events, done=%d", events, done);
        note_bad(w, what, "");
    }
    /* a stream is over after NULL: further calls keep returning NULL */
    s = hl_stream_next(st);
    if (s) { note_bad(w, "item after NULL", s); hl_free(s); }
    hl_stream_free(st);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    for (int k = 0; k < g_calls; k++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[(w->id + k) % TU_NENDPOINTS];
        if (k % 4 == 3) {
            run_stream(w, ep);
            continue;
        }
        char *s = ep->call(g_client, ep->minimal);
        json_t *j = s ? json_loads(s, 0, NULL) : NULL;
        if (is_ok(j) && json_integer_value(json_object_get(j, "status")) == 200 &&
            json_is_array(json_object_get(json_object_get(j, "body"), "data")))
            w->blocking_ok++;
        else
            note_bad(w, "blocking", s);
        json_decref(j);
        hl_free(s);
    }
    return NULL;
}

static void test_16_threads_mixed_blocking_and_streaming(void)
{
    const char *env = getenv("HL_STRESS_CALLS");
    if (env && atoi(env) > 0) g_calls = atoi(env);
    tu_note("%d threads x %d calls", NTHREADS, g_calls);
    g_client = tu_client(",\"max_retries\":0");
    pthread_t th[NTHREADS];
    worker_t w[NTHREADS];
    memset(w, 0, sizeof w);
    double t0 = tu_now();
    for (int i = 0; i < NTHREADS; i++) {
        w[i].id = i;
        CHECK(pthread_create(&th[i], NULL, worker, &w[i]) == 0);
    }
    int blocking = 0, streams = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        blocking += w[i].blocking_ok;
        streams += w[i].streams_ok;
        CHECKF(w[i].bad == 0, "thread %d: %d bad results, first: %s", i, w[i].bad, w[i].first_bad);
    }
    double elapsed = tu_now() - t0;
    int expected_streams = NTHREADS * (g_calls / 4);
    CHECK_INT(streams, expected_streams);
    CHECK_INT(blocking, NTHREADS * g_calls - expected_streams);
    json_t *st = tu_stats();
    CHECK_JINT(st, "requests", NTHREADS * g_calls);
    tu_note("%d calls in %.1f s; server saw %lld connections", NTHREADS * g_calls, elapsed,
            (long long)json_integer_value(json_object_get(st, "connections_opened")));
    json_decref(st);
    hl_client_free(g_client);
    g_client = NULL;
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_16_threads_mixed_blocking_and_streaming);
    return tu_finish();
}
