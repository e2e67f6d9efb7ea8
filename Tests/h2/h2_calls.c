/*
 * h2_calls.c — the client side of Tests/h2/run.sh (HTTP/2 multiplexing).
 *
 *   h2_calls MODE HOST CA_BUNDLE N
 *     MODE async   N concurrent hl_call_start calls of "complete" through one client
 *          stream  N concurrent hl_call_start calls of "complete_deployed" with "stream": true
 *          slow    N concurrent hl_call_start calls of "complete_model_configuration" (the
 *                  server sends that answer slowly: about 1.5 s each)
 *          batch   one hl_batch of N "complete" calls at concurrency N
 *          early   one, then N - 1 concurrent hl_call_start calls of "complete_experiment" with
 *                  a 600 KB request, which the server answers without reading it (a gateway's early
 *                  answer): each call must return that answer, not a stream error or a timeout
 *     HOST         the client's "host" (https://127.0.0.1:<port>/v4)
 *     CA_BUNDLE    the PEM file that verifies the server
 *
 * Checks that every call succeeded with the server's fixed answer; prints "PASS <what>" /
 * "FAIL <what>: <why>" lines (run.sh counts them) and exits non-zero on a failure. What went
 * over the wire (protocol, connections) is checked by run.sh from nginx's access log.
 */
#define _POSIX_C_SOURCE 200809L
#include <humanloop.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQ "{\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\"}}"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int terminals = 0, good = 0, events = 0;
static char first_bad[600];

static void note_bad(const char *item)
{
    if (!first_bad[0]) snprintf(first_bad, sizeof first_bad, "%s", item ? item : "NULL");
}

typedef struct {
    int stream;
    int events;
} call_state;

static void cb(hl_call *call, int kind, const char *item, size_t len, void *ud)
{
    (void)call;
    (void)len;
    call_state *st = ud;
    json_t *j = item ? json_loads(item, 0, NULL) : NULL;
    pthread_mutex_lock(&mu);
    int ok = j && json_is_true(json_object_get(j, "ok"));
    if (kind == HL_ITEM_EVENT) {
        st->events++;
        events++;
    } else {
        terminals++;
        if (!st->stream) {
            const char *out = json_string_value(
                json_object_get(json_array_get(json_object_get(json_object_get(j, "body"), "data"), 0), "output"));
            if (ok && json_integer_value(json_object_get(j, "status")) == 200 && out && strcmp(out, "hello h2") == 0)
                good++;
            else
                note_bad(item);
        } else {
            if (ok && json_is_true(json_object_get(j, "done")) && st->events == 2 &&
                json_integer_value(json_object_get(j, "events")) == 2)
                good++;
            else
                note_bad(item);
        }
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
    json_decref(j);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s async|stream|slow|batch|early HOST CA_BUNDLE N\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    int n = atoi(argv[4]);
    int early = strcmp(mode, "early") == 0;
    /* early: a call that misses the early answer times out (in 10 s) instead of taking it */
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:i,s:i}", "api_key", "sk-h2-test", "host", argv[2], "ca_bundle", argv[3],
                            "timeout", early ? 10 : 30, "max_retries", 0);
    char *cfgs = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    char *err = NULL;
    hl_client *c = hl_client_new(cfgs, &err);
    free(cfgs);
    if (!c) {
        printf("FAIL %s: hl_client_new: %s\n", mode, err ? err : "NULL");
        hl_free(err);
        return 1;
    }
    int failed = 0;
    double t0 = now();
    if (strcmp(mode, "batch") == 0) {
        size_t cap = (size_t)n * 200 + 100;
        char *b = malloc(cap);
        int off = snprintf(b, cap, "{\"concurrency\":%d,\"requests\":[", n);
        for (int i = 0; i < n; i++)
            off += snprintf(b + off, cap - (size_t)off, "%s{\"call\":\"complete\",\"request\":%s}", i ? "," : "", REQ);
        snprintf(b + off, cap - (size_t)off, "]}");
        char *r = hl_batch(c, b);
        free(b);
        json_t *j = r ? json_loads(r, 0, NULL) : NULL;
        json_t *rs = json_object_get(j, "results");
        for (int i = 0; i < n; i++) {
            json_t *e = json_array_get(rs, (size_t)i);
            const char *out = json_string_value(
                json_object_get(json_array_get(json_object_get(json_object_get(e, "body"), "data"), 0), "output"));
            if (e && json_is_true(json_object_get(e, "ok")) && out && strcmp(out, "hello h2") == 0)
                good++;
            else if (!first_bad[0]) {
                char *d = e ? json_dumps(e, JSON_COMPACT) : NULL;
                note_bad(d ? d : r);
                free(d);
            }
        }
        terminals = n;
        json_decref(j);
        hl_free(r);
    } else {
        int stream = strcmp(mode, "stream") == 0;
        int slow = strcmp(mode, "slow") == 0;
        char *big = NULL;
        if (early) {
            size_t size = 600 * 1000;
            big = malloc(size + 100);
            int off = snprintf(big, 100, "{\"experiment_id\":\"exp_h2\",\"inputs\":{\"q\":\"");
            memset(big + off, 'q', size);
            snprintf(big + off + size, 100, "\"}}");
        }
        hl_call **calls = calloc((size_t)n, sizeof *calls);
        call_state *st = calloc((size_t)n, sizeof *st);
        for (int i = 0; i < n; i++) {
            if (early && i == 1) {
                /* the first call alone (libcurl 7.88 then keeps sending), the others together */
                pthread_mutex_lock(&mu);
                struct timespec first_dl;
                clock_gettime(CLOCK_REALTIME, &first_dl);
                first_dl.tv_sec += 30;
                while (terminals < 1)
                    if (pthread_cond_timedwait(&cv, &mu, &first_dl) != 0) break;
                pthread_mutex_unlock(&mu);
                /* the answer is there at once: a call that ends only at its timeout (10 s)
                   missed it, even when it then returns it */
                if (now() - t0 >= 5) {
                    printf("FAIL early: the first call took %.1f s (its timeout is 10 s)\n", now() - t0);
                    failed = 1;
                }
            }
            st[i].stream = stream;
            calls[i] = stream ? hl_call_start(c, "complete_deployed", "{\"project\":\"p\"}", "{\"stream\":true}", cb,
                                              &st[i])
                     : slow ? hl_call_start(c, "complete_model_configuration", "{\"model_config_id\":\"config_h2\"}",
                                            NULL, cb, &st[i])
                     : early ? hl_call_start(c, "complete_experiment", big, NULL, cb, &st[i])
                              : hl_call_start(c, "complete", REQ, NULL, cb, &st[i]);
        }
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 60;
        pthread_mutex_lock(&mu);
        while (terminals < n)
            if (pthread_cond_timedwait(&cv, &mu, &dl) != 0) break;
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < n; i++) hl_call_free(calls[i]);
        free(calls);
        free(st);
        free(big);
    }
    double dt = now() - t0;
    pthread_mutex_lock(&mu);
    if (terminals == n && good == n && !failed)
        printf("PASS %s: %d calls ok in %.3fs\nWALL %.3f\n", mode, n, dt, dt);
    else if (terminals != n || good != n) {
        printf("FAIL %s: %d terminal items, %d good of %d; first bad: %s\n", mode, terminals, good, n, first_bad);
        failed = 1;
    }
    pthread_mutex_unlock(&mu);
    hl_client_free(c);
    return failed;
}
