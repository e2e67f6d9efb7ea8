/*
 * test_threads.c — one client shared by many threads ("the client is thread-safe"),
 * and streams used from different threads.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 8
#define NCALLS 50

static hl_client *g_client;

typedef struct {
    int id;
    int ok;         /* calls that returned an ok envelope */
    int bad;        /* anything else */
    char first_bad[512];
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    for (int k = 0; k < NCALLS; k++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[(w->id + k) % TU_NENDPOINTS];
        char *s = ep->call(g_client, ep->minimal);
        json_t *j = s ? json_loads(s, 0, NULL) : NULL;
        if (j && json_is_true(json_object_get(j, "ok")) && json_is_object(json_object_get(j, "body")) &&
            json_integer_value(json_object_get(j, "status")) == 200)
            w->ok++;
        else {
            if (!w->bad) snprintf(w->first_bad, sizeof w->first_bad, "%s", s ? s : "NULL");
            w->bad++;
        }
        json_decref(j);
        hl_free(s);
    }
    return NULL;
}

static void test_8_threads_50_calls_one_client(void)
{
    g_client = tu_client(NULL);
    pthread_t th[NTHREADS];
    worker_t w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].id = i;
        CHECK(pthread_create(&th[i], NULL, worker, &w[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        CHECKF(w[i].bad == 0, "thread %d: %d bad envelopes, first: %s", i, w[i].bad, w[i].first_bad);
    }
    CHECK_INT(ok, NTHREADS * NCALLS);
    json_t *st = tu_stats();
    CHECK_JINT(st, "requests", NTHREADS * NCALLS);
    json_decref(st);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), NTHREADS * NCALLS);
    /* every request well-formed */
    size_t i;
    json_t *r;
    int good = 0;
    json_array_foreach(reqs, i, r) {
        const char *key = tu_req_header(r, "X-API-KEY");
        if (key && strcmp(key, TU_SECRET) == 0 && strcmp(tu_str(r, "method"), "POST") == 0) good++;
    }
    CHECK_INT(good, NTHREADS * NCALLS);
    json_decref(reqs);
    hl_client_free(g_client);
    g_client = NULL;
}

/* Errors from many threads at once: validation, api errors and successes mixed. */
static void *mixed_worker(void *arg)
{
    worker_t *w = arg;
    for (int k = 0; k < 20; k++) {
        const char *req = (k % 3 == 0) ? "{\"bogus\":1}" : TU_REQ;
        char *s = hl_complete(g_client, req);
        json_t *j = s ? json_loads(s, 0, NULL) : NULL;
        int good;
        if (k % 3 == 0)
            good = j && json_is_false(json_object_get(j, "ok")) &&
                   strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "type")) ?
                              json_string_value(json_object_get(json_object_get(j, "error"), "type")) : "",
                          "invalid_request") == 0;
        else
            good = j && json_is_true(json_object_get(j, "ok"));
        if (good)
            w->ok++;
        else {
            if (!w->bad) snprintf(w->first_bad, sizeof w->first_bad, "%s", s ? s : "NULL");
            w->bad++;
        }
        json_decref(j);
        hl_free(s);
    }
    return NULL;
}

static void test_threads_mixed_validation_and_calls(void)
{
    g_client = tu_client(NULL);
    pthread_t th[NTHREADS];
    worker_t w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].id = i;
        pthread_create(&th[i], NULL, mixed_worker, &w[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        CHECKF(w[i].bad == 0, "thread %d: %d unexpected envelopes, first: %s", i, w[i].bad, w[i].first_bad);
    }
    /* 7 of every 20 calls are invalid (k = 0,3,...,18) and never sent */
    CHECK_INT(tu_request_count(), NTHREADS * 13);
    hl_client_free(g_client);
    g_client = NULL;
}

static void *stream_worker(void *arg)
{
    worker_t *w = arg;
    for (int k = 0; k < 5; k++) {
        hl_stream *s = hl_complete_stream(g_client, TU_REQ);
        int events = 0, done = 0, other = 0;
        char *it;
        while ((it = hl_stream_next(s)) != NULL) {
            json_t *j = json_loads(it, 0, NULL);
            if (j && json_is_object(json_object_get(j, "event"))) events++;
            else if (j && json_is_true(json_object_get(j, "done"))) done++;
            else {
                other++;
                if (!w->bad) snprintf(w->first_bad, sizeof w->first_bad, "%s", it);
            }
            json_decref(j);
            hl_free(it);
        }
        hl_stream_free(s);
        if (events == 4 && done == 1 && other == 0) w->ok++;
        else w->bad++;
    }
    return NULL;
}

static void test_streams_from_threads(void)
{
    g_client = tu_client(NULL);
    pthread_t th[NTHREADS];
    worker_t w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].id = i;
        pthread_create(&th[i], NULL, stream_worker, &w[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        CHECKF(w[i].bad == 0 && w[i].ok == 5, "thread %d: %d good streams, %d bad, first bad item: %s", i, w[i].ok,
               w[i].bad, w[i].first_bad);
    }
    CHECK_INT(tu_request_count(), NTHREADS * 5);
    hl_client_free(g_client);
    g_client = NULL;
}

/* A stream opened on one thread and consumed on another. */
static hl_stream *g_handoff;
static int g_handoff_items;

static void *consume(void *arg)
{
    (void)arg;
    char *it;
    while ((it = hl_stream_next(g_handoff)) != NULL) {
        g_handoff_items++;
        hl_free(it);
    }
    hl_stream_free(g_handoff);
    return NULL;
}

static void test_stream_handed_to_another_thread(void)
{
    hl_client *c = tu_client(NULL);
    g_handoff = hl_complete_stream(c, TU_REQ);
    char *first = hl_stream_next(g_handoff);
    CHECK(first != NULL);
    hl_free(first);
    g_handoff_items = 0;
    pthread_t th;
    pthread_create(&th, NULL, consume, NULL);
    pthread_join(th, NULL);
    CHECK_INT(g_handoff_items, 4); /* 3 events + done */
    hl_client_free(c);
}

/* Independent clients created and freed concurrently. */
static void *own_client(void *arg)
{
    worker_t *w = arg;
    for (int k = 0; k < 5; k++) {
        char cfg[256];
        snprintf(cfg, sizeof cfg, "{\"api_key\":\"%s\",\"host\":\"%s\",\"user_agent\":\"t%d\"}", TU_SECRET, tu_base_url(), w->id);
        hl_client *c = hl_client_new(cfg, NULL);
        if (!c) {
            w->bad++;
            continue;
        }
        char *s = hl_complete_deployed(c, "{}");
        json_t *j = s ? json_loads(s, 0, NULL) : NULL;
        if (j && json_is_true(json_object_get(j, "ok"))) w->ok++;
        else w->bad++;
        json_decref(j);
        hl_free(s);
        hl_client_free(c);
    }
    return NULL;
}

static void test_clients_created_concurrently(void)
{
    pthread_t th[NTHREADS];
    worker_t w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].id = i;
        pthread_create(&th[i], NULL, own_client, &w[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        CHECKF(w[i].ok == 5, "thread %d: %d ok, %d bad", i, w[i].ok, w[i].bad);
    }
    CHECK_INT(tu_request_count(), NTHREADS * 5);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_8_threads_50_calls_one_client);
    RUN(test_threads_mixed_validation_and_calls);
    RUN(test_streams_from_threads);
    RUN(test_stream_handed_to_another_thread);
    RUN(test_clients_created_concurrently);
    return tu_finish();
}
