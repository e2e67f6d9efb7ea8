/*
 * async.c — asynchronous calls on the library's engine: hl_call_start returns at once and a
 * callback receives each result on the engine thread. Starts 10 calls and one stream, waits for
 * them all, and cancels one more call.
 *
 *   HUMANLOOP_API_KEY=... ./async
 *
 * Build: cc -std=c99 -Iinclude examples/c/async.c -Lbuild/lib -lhumanloop -ljansson -lpthread \
 *           -Wl,-rpath,$PWD/build/lib -o async
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "humanloop.h"

#define N_CALLS 10

/* What the callbacks share with main: a counter of finished calls, under a mutex. */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t finished_cond = PTHREAD_COND_INITIALIZER;
static int finished = 0, failed = 0;

static void finish(int ok) {
    pthread_mutex_lock(&mutex);
    finished++;
    if (!ok) failed++;
    pthread_cond_signal(&finished_cond);
    pthread_mutex_unlock(&mutex);
}

/* A blocking-style call: exactly one item, the envelope. Runs on the engine thread: be quick. */
static void on_answer(hl_call *call, int kind, const char *item, size_t len, void *user_data) {
    (void)call;
    (void)kind;                             /* HL_ITEM_RESULT: the only item of a call */
    (void)len;
    int number = (int)(long)user_data;
    json_t *envelope = json_loads(item, 0, NULL);
    int ok = json_is_true(json_object_get(envelope, "ok"));
    if (ok) {
        json_t *data = json_array_get(json_object_get(json_object_get(envelope, "body"), "data"), 0);
        printf("call %d: %s (question %s)\n", number, json_string_value(json_object_get(data, "output")),
               json_string_value(json_object_get(json_object_get(data, "inputs"), "question")));
    } else {
        printf("call %d: %s\n", number,
               json_string_value(json_object_get(json_object_get(envelope, "error"), "type")));
    }
    json_decref(envelope);                  /* the item itself is the library's: not freed */
    finish(ok);
}

/* A stream ("stream": true in the options): event items, then one terminal item. */
static void on_stream_item(hl_call *call, int kind, const char *item, size_t len, void *user_data) {
    (void)call;
    (void)len;
    (void)user_data;
    json_t *parsed = json_loads(item, 0, NULL);
    json_t *event = json_object_get(parsed, "event");
    if (kind == HL_ITEM_EVENT) {
        json_t *data = json_array_get(json_object_get(event, "data"), 0);
        printf("stream event: \"%s\"\n", json_string_value(json_object_get(data, "output")));
    } else {
        int ok = json_is_true(json_object_get(parsed, "done"));
        printf("stream ended: %s\n", ok ? "done" : item);
        finish(ok);
    }
    json_decref(parsed);
}

static void on_cancelled(hl_call *call, int kind, const char *item, size_t len, void *user_data) {
    (void)call;
    (void)kind;
    (void)len;
    (void)user_data;
    /* Cancelled before its answer: {"ok":false,"error":{"type":"cancelled",...}}; a call that
     * had already finished keeps its answer (cancelling then has no effect). */
    printf("the cancelled call ended with: %s\n",
           strstr(item, "\"cancelled\"") != NULL ? "cancelled" : "its answer (it was faster)");
    finish(1);
}

int main(void) {
    char *error = NULL;
    hl_client *client = hl_client_new("{\"max_connections\":8}", &error);  /* key from the environment */
    if (client == NULL) {
        fprintf(stderr, "cannot create the client: %s\n", error);
        hl_free(error);
        return 1;
    }
    hl_call *calls[N_CALLS + 2];
    char request[256];
    for (int i = 0; i < N_CALLS; i++) {
        snprintf(request, sizeof request, "{\"project\":\"libhumanloop-example\",\"inputs\":{\"question\":\"q%d\"}}", i);
        /* Per-call options: a timeout, retries, an extra header. */
        calls[i] = hl_call_start(client, "complete_deployed", request,
                                 "{\"timeout\":30,\"max_retries\":1,\"headers\":{\"X-Example\":\"async.c\"}}",
                                 on_answer, (void *)(long)i);
    }
    calls[N_CALLS] = hl_call_start(client, "complete_deployed",
                                   "{\"project\":\"libhumanloop-example\",\"inputs\":{\"question\":\"stream\"}}",
                                   "{\"stream\":true}", on_stream_item, NULL);
    calls[N_CALLS + 1] = hl_call_start(client, "complete_deployed", "{\"project\":\"libhumanloop-example\"}",
                                       NULL, on_cancelled, NULL);
    hl_call_cancel(calls[N_CALLS + 1]);     /* any thread, any time; idempotent */

    /* Wait until every call has delivered its last item. */
    pthread_mutex_lock(&mutex);
    while (finished < N_CALLS + 2) pthread_cond_wait(&finished_cond, &mutex);
    pthread_mutex_unlock(&mutex);

    for (int i = 0; i < N_CALLS + 2; i++) hl_call_free(calls[i]);  /* each handle, exactly once */
    hl_client_free(client);
    printf("%d calls finished, %d failed\n", finished, failed);
    return failed == 0 ? 0 : 2;
}
