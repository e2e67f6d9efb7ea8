/*
 * test_default_client.c — client NULL: a default client built from HUMANLOOP_API_KEY and
 * HUMANLOOP_HOST on first use, shared by all threads. The environment is set before
 * the first use; the first use happens from 8 threads at once.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 8

static int g_ok[NTHREADS];

static void *first_use(void *arg)
{
    int i = (int)(size_t)arg;
    const tu_endpoint *ep = &TU_ENDPOINTS[i % TU_NENDPOINTS];
    char *s = ep->call(NULL, ep->minimal);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    g_ok[i] = j && json_is_true(json_object_get(j, "ok")) && !strstr(s, TU_SECRET);
    json_decref(j);
    hl_free(s);
    return NULL;
}

static void test_default_client_first_use_from_threads(void)
{
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) pthread_create(&th[i], NULL, first_use, (void *)(size_t)i);
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) CHECKF(g_ok[i], "thread %d got an ok envelope", i);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), NTHREADS);
    size_t k;
    json_t *r;
    json_array_foreach(reqs, k, r) {
        CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
        CHECK_STR(tu_req_header(r, "User-Agent"), "libhumanloop/" HL_VERSION_STRING);
    }
    json_decref(reqs);
}

static void test_default_client_each_endpoint(void)
{
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        tu_reset();
        char *raw = NULL;
        json_t *env = tu_call(TU_ENDPOINTS[i].call, NULL, TU_ENDPOINTS[i].minimal, &raw);
        CHECKF(tu_is_ok(env), "%s: %s", TU_ENDPOINTS[i].name, raw);
        json_t *reqs = tu_requests();
        CHECK_INT(json_array_size(reqs), 1);
        CHECK_JSTR(reqs, "[0].path", TU_ENDPOINTS[i].path);
        CHECK_STR(tu_req_header(json_array_get(reqs, 0), "X-API-KEY"), TU_SECRET);
        json_decref(reqs);
        free(raw);
        json_decref(env);
    }
}

static void test_default_client_is_created_once(void)
{
    /* changing the environment after first use changes nothing: the default client is kept */
    setenv("HUMANLOOP_API_KEY", "changed-later", 1);
    json_t *env = tu_call(hl_complete, NULL, TU_REQ, NULL);
    CHECK(tu_is_ok(env));
    json_decref(env);
    json_t *reqs = tu_requests();
    CHECK_STR(tu_req_header(json_array_get(reqs, 0), "X-API-KEY"), TU_SECRET);
    json_decref(reqs);
    setenv("HUMANLOOP_API_KEY", TU_SECRET, 1);
}

static void test_default_client_validation_and_stream(void)
{
    json_t *env = tu_call(hl_complete, NULL, "{\"bogus\":1}", NULL);
    CHECK_STR(tu_err_type(env), "invalid_request");
    json_decref(env);
    CHECK_INT(tu_request_count(), 0);
    hl_stream *s = hl_complete_deployed_stream(NULL, "{\"project\":\"p\"}");
    CHECK(s != NULL);
    int events = 0, done = 0;
    json_t *it;
    while ((it = tu_next(s, NULL)) != NULL) {
        if (tu_get(it, "event")) events++;
        if (tu_bool(it, "done") == 1) done++;
        CHECKF(tu_is_ok(it), "stream item ok");
        json_decref(it);
    }
    hl_stream_free(s);
    CHECK_INT(events, 4);
    CHECK_INT(done, 1);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    setenv("HUMANLOOP_API_KEY", TU_SECRET, 1);
    setenv("HUMANLOOP_HOST", tu_base_url(), 1);
    RUN(test_default_client_first_use_from_threads);
    RUN(test_default_client_each_endpoint);
    RUN(test_default_client_is_created_once);
    RUN(test_default_client_validation_and_stream);
    return tu_finish();
}
