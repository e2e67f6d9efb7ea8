/*
 * test_default_client_retry.c — client NULL: a default client that could not be built (no
 * HUMANLOOP_API_KEY) is not a failure cached forever. Once the environment is fixed, the next
 * call builds it (from 8 threads at once: all succeed, one client); once built it is kept,
 * also after the variable is unset again. Its own binary: the default client is process-wide.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 8

static pthread_barrier_t g_barrier;
static int g_ok[NTHREADS];
static char g_raw[NTHREADS][300];

static void *second_step(void *arg)
{
    int i = (int)(size_t)arg;
    pthread_barrier_wait(&g_barrier);
    char *s = hl_complete(NULL, TU_REQ);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    g_ok[i] = j && json_is_true(json_object_get(j, "ok")) && !strstr(s, TU_SECRET);
    snprintf(g_raw[i], sizeof g_raw[i], "%.280s", s ? s : "NULL");
    json_decref(j);
    hl_free(s);
    return NULL;
}

/* No key: invalid_config (twice); then the key is set: 8 threads at once all succeed. */
static void test_default_client_built_after_env_fixed(void)
{
    for (int round = 0; round < 2; round++) {
        char *raw = NULL;
        json_t *env = tu_call(hl_complete, NULL, TU_REQ, &raw);
        CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_config") == 0, "no key (call %d): %s", round + 1,
               raw ? raw : "NULL");
        free(raw);
        json_decref(env);
    }
    /* the stream calls give the same error */
    hl_stream *s = hl_complete_stream(NULL, TU_REQ);
    char *raw = NULL;
    json_t *it = tu_next(s, &raw);
    CHECKF(tu_err_type(it) && strcmp(tu_err_type(it), "invalid_config") == 0, "no key (stream): %s", raw ? raw : "NULL");
    free(raw);
    json_decref(it);
    hl_stream_free(s);
    CHECK_INT(tu_request_count(), 0);

    setenv("HUMANLOOP_API_KEY", TU_SECRET, 1);
    pthread_t th[NTHREADS];
    pthread_barrier_init(&g_barrier, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, second_step, (void *)(size_t)i) != 0) abort();
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&g_barrier);
    for (int i = 0; i < NTHREADS; i++) CHECKF(g_ok[i], "thread %d, key now set: %s", i, g_raw[i]);

    /* one more call from this thread */
    raw = NULL;
    json_t *env = tu_call(hl_complete, NULL, TU_REQ, &raw);
    CHECKF(tu_is_ok(env), "key set: %s", raw ? raw : "NULL");
    free(raw);
    json_decref(env);

    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), NTHREADS + 1);
    size_t k;
    json_t *r;
    json_array_foreach(reqs, k, r) CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
    json_decref(reqs);
}

/* Built once: unsetting the variable again changes nothing. */
static void test_default_client_kept_after_unset(void)
{
    unsetenv("HUMANLOOP_API_KEY");
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, NULL, TU_REQ, &raw);
    CHECKF(tu_is_ok(env), "the built default client is kept: %s", raw ? raw : "NULL");
    free(raw);
    json_decref(env);
    hl_stream *s = hl_complete_stream(NULL, TU_REQ);
    int events = 0, done = 0;
    json_t *it;
    while ((it = tu_next(s, NULL)) != NULL) {
        if (tu_get(it, "event")) events++;
        if (tu_bool(it, "done") == 1) done++;
        json_decref(it);
    }
    hl_stream_free(s);
    CHECK_INT(events, 4);
    CHECK_INT(done, 1);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 2);
    CHECK_STR(tu_req_header(json_array_get(reqs, 0), "X-API-KEY"), TU_SECRET);
    json_decref(reqs);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    unsetenv("HUMANLOOP_API_KEY");
    setenv("HUMANLOOP_HOST", tu_base_url(), 1);
    RUN(test_default_client_built_after_env_fixed);
    RUN(test_default_client_kept_after_unset);
    return tu_finish();
}
