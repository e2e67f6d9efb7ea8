/*
 * test_engine.c — the concurrency engine: hl_call_start / hl_call_cancel /
 * hl_call_free / hl_call_run, hl_stream_cancel, per-call options, cancellation at every stage
 * (checked on the wire: the server's connections_open), hl_client_free with calls in flight,
 * thousands of calls from several threads, keep-warm after "data: [DONE]", Accept-Encoding and
 * gzip answers, max_connections.
 *
 * HL_ENGINE_CALLS sets the number of calls of the many-calls test (default 2000; 200 under
 * valgrind).
 */
#include "testutil.h"

#include <sys/resource.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define F tu_factor()

#define E1 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\"one\",\"finish_reason\":null}],\"project_id\":\"pr_s\"}"
#define E2 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\" two\",\"finish_reason\":null}],\"project_id\":\"pr_s\"}"
#define E3 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\" three\",\"finish_reason\":\"stop\"}],\"project_id\":\"pr_s\"}"
#define EVENTS3 "[" E1 "," E2 "," E3 "]"
static const char *const E123[3] = {E1, E2, E3};

static const char *const NAMES[4] = {"complete", "complete_deployed", "complete_experiment",
                                     "complete_model_configuration"};

/* ---- helpers ------------------------------------------------------------------------------ */

/* Start a call, wait for its terminal item (or `wait` seconds); returns the call (not freed). */
static hl_call *start_wait(tu_async *a, hl_client *c, const char *name, const char *req, const char *opts,
                           double wait)
{
    hl_call *call = tu_async_start(a, c, name, req, opts);
    CHECKF(call != NULL, "hl_call_start(%s) returned a handle", name ? name : "NULL");
    if (!call) return NULL;
    CHECKF(tu_async_wait(a, wait), "terminal item of %s within %.1fs (items so far: %d)", name ? name : "NULL",
           wait, tu_async_count(a));
    return call;
}

/* The collector's common invariants: exactly one terminal item, nothing after it, never on the
 * caller's thread, the callback got the same handle. */
static void check_invariants(tu_async *a, hl_call *call, const char *what)
{
    CHECKF(a->terminal == 1, "%s: terminal item delivered", what);
    CHECKF(a->after_terminal == 0, "%s: %d items after the terminal item", what, a->after_terminal);
    CHECKF(a->on_caller_thread == 0, "%s: %d callbacks ran on the thread that called hl_call_start", what,
           a->on_caller_thread);
    CHECKF(a->concurrent == 0, "%s: callbacks of one call overlapped", what);
    if (a->n > 0) CHECKF(a->call_seen == (void *)call, "%s: the callback got the handle hl_call_start returned", what);
}

/* The terminal item (last item), parsed. */
static json_t *terminal_of(tu_async *a) { return tu_async_item(a, (a->n < TU_ASYNC_MAX ? a->n : TU_ASYNC_MAX) - 1); }

static void expect_cancelled(json_t *item, const char *what)
{
    char *d = item ? json_dumps(item, JSON_COMPACT) : NULL;
    CHECKF(tu_bool(item, "ok") == 0, "%s: terminal item is an error: %s", what, d ? d : "none");
    CHECKF(tu_contains(tu_err_type(item), "cancelled") && strcmp(tu_err_type(item), "cancelled") == 0,
           "%s: error.type \"cancelled\": %s", what, d ? d : "none");
    CHECKF(json_is_integer(tu_get(item, "attempts")), "%s: attempts is an integer: %s", what, d ? d : "none");
    free(d);
}

static void expect_error_type(json_t *item, const char *type, const char *what)
{
    char *d = item ? json_dumps(item, JSON_COMPACT) : NULL;
    CHECKF(tu_bool(item, "ok") == 0 && tu_err_type(item) && strcmp(tu_err_type(item), type) == 0,
           "%s: expected error.type %s, got %s", what, type, d ? d : "none");
    free(d);
}

/* Wait until the server has recorded n requests (or `seconds`). */
static int wait_requests(int n, double seconds)
{
    double end = tu_now() + seconds;
    int k = tu_request_count();
    while (k < n && tu_now() < end) {
        tu_sleep(0.02);
        k = tu_request_count();
    }
    return k;
}

static int errors_have_prefix(json_t *env, const char *prefix)
{
    json_t *errs = tu_get(env, "error.errors");
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e) {
        const char *p = json_string_value(json_object_get(e, "path"));
        if (p && strncmp(p, prefix, strlen(prefix)) == 0) return 1;
    }
    return 0;
}

/* Header names of an envelope's "headers" object, lower-cased, sorted, joined, minus Date. */
static void header_names(json_t *env, char *out, size_t n)
{
    out[0] = 0;
    json_t *h = tu_get(env, "headers");
    const char *names[64];
    int k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (strcasecmp(key, "date") != 0 && k < 64) names[k++] = key;
    }
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (strcasecmp(names[j], names[i]) < 0) {
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (int i = 0; i < k; i++) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", i ? "," : "", names[i]);
        for (char *p = out + l; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    }
}

/* Two envelopes are the same answer: ok, status, attempts, body, error type, header names. */
static void check_same_envelope(json_t *a, json_t *b, const char *what)
{
    char *da = a ? json_dumps(a, JSON_COMPACT) : NULL, *db = b ? json_dumps(b, JSON_COMPACT) : NULL;
    CHECKF(a && b, "%s: both envelopes present", what);
    if (a && b) {
        CHECKF(json_equal(json_object_get(a, "ok"), json_object_get(b, "ok")), "%s: ok differs:\n %.600s\n %.600s",
               what, da, db);
        CHECKF(json_equal(json_object_get(a, "status"), json_object_get(b, "status")) ||
                   (!json_object_get(a, "status") && !json_object_get(b, "status")),
               "%s: status differs:\n %.600s\n %.600s", what, da, db);
        CHECKF(json_equal(json_object_get(a, "attempts"), json_object_get(b, "attempts")),
               "%s: attempts differ:\n %.600s\n %.600s", what, da, db);
        json_t *ba = json_object_get(a, "body"), *bb = json_object_get(b, "body");
        CHECKF((!ba && !bb) || (ba && bb && json_equal(ba, bb)), "%s: body differs:\n %.600s\n %.600s", what, da, db);
        json_t *ea = json_object_get(a, "events"), *eb = json_object_get(b, "events");
        CHECKF((!ea && !eb) || (ea && eb && json_equal(ea, eb)), "%s: events differ", what);
        const char *ta = tu_err_type(a), *tb = tu_err_type(b);
        CHECKF((!ta && !tb) || (ta && tb && strcmp(ta, tb) == 0), "%s: error.type differs: %s / %s", what,
               ta ? ta : "-", tb ? tb : "-");
        char ha[1024], hb[1024];
        header_names(a, ha, sizeof ha);
        header_names(b, hb, sizeof hb);
        CHECKF(strcmp(ha, hb) == 0, "%s: header names differ: %s / %s", what, ha, hb);
        const char *keys[] = {"round_trip_time", "timings", "headers"};
        for (int i = 0; i < 3; i++)
            CHECKF(!json_object_get(a, keys[i]) == !json_object_get(b, keys[i]), "%s: \"%s\" present in one only",
                   what, keys[i]);
    }
    free(da);
    free(db);
}

static const tu_endpoint *endpoint_of(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(NAMES[i], name) == 0) return &TU_ENDPOINTS[i];
    return NULL;
}

/* =========================================================================================== */
/* basics                                                                                      */
/* =========================================================================================== */

/* A non-stream async call: exactly one item, the envelope the blocking call returns. */
static void test_async_equals_blocking(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < 4; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_async a;
        tu_async_init(&a, 0);
        hl_call *call = start_wait(&a, c, NAMES[i], ep->minimal, NULL, 10 * F);
        tu_sleep(0.2);  /* nothing more may come */
        check_invariants(&a, call, NAMES[i]);
        CHECKF(a.n == 1, "%s: exactly one item, got %d", NAMES[i], a.n);
        json_t *item = tu_async_item(&a, 0);
        json_t *blocking = tu_call(ep->call, c, ep->minimal, NULL);
        CHECKF(tu_is_ok(item), "%s: ok", NAMES[i]);
        CHECK_JINT(item, "status", 200);
        check_same_envelope(item, blocking, NAMES[i]);
        json_decref(item);
        json_decref(blocking);
        hl_call_free(call);
        tu_async_destroy(&a);
    }
    /* what went over the wire: 8 POSTs, 2 per endpoint, with the API key */
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 8);
    size_t k;
    json_t *r;
    json_array_foreach(reqs, k, r) {
        CHECK_STR(tu_str(r, "path"), TU_ENDPOINTS[k / 2].path);
        CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
        CHECK_STR(tu_str(r, "method"), "POST");
    }
    json_decref(reqs);
    /* an API error too: the same envelope as the blocking call */
    tu_script("[{\"status\":404,\"json\":{\"detail\":\"nope\"}},{\"status\":404,\"json\":{\"detail\":\"nope\"}}]");
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = start_wait(&a, c, "complete", TU_REQ, NULL, 10 * F);
    json_t *item = tu_async_item(&a, 0);
    json_t *blocking = tu_call(hl_complete, c, TU_REQ, NULL);
    expect_error_type(item, "api_error", "404 async");
    check_same_envelope(item, blocking, "404");
    CHECK_JINT(item, "error.status", 404);
    json_decref(item);
    json_decref(blocking);
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
}

/* "stream": true: event items as they arrive, then one terminal done item, nothing after. */
static void test_async_stream(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"stream\":{\"events\":" EVENTS3 "}}]");
    tu_async a;
    tu_async_init(&a, 1);
    hl_call *call = start_wait(&a, c, "complete", TU_REQ, "{\"stream\":true}", 10 * F);
    tu_sleep(0.3);
    check_invariants(&a, call, "stream");
    CHECKF(a.n == 4, "3 events + done, got %d items", a.n);
    for (int i = 0; i < 3 && i < a.n; i++) {
        json_t *it = tu_async_item(&a, i);
        json_t *exp = tu_json(E123[i]);
        CHECKF(tu_is_ok(it) && json_equal(tu_get(it, "event"), exp), "event %d: %s", i, a.raw[i]);
        json_decref(exp);
        json_decref(it);
    }
    json_t *done = terminal_of(&a);
    CHECK(tu_is_ok(done));
    CHECK(tu_bool(done, "done") == 1);
    CHECK_JINT(done, "events", 3);
    CHECK_JINT(done, "status", 200);
    CHECK_JINT(done, "attempts", 1);
    json_decref(done);
    /* the request asked for a stream */
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 1);
    json_t *body = tu_json(tu_str(json_array_get(reqs, 0), "body"));
    CHECKF(json_is_true(json_object_get(body, "stream")), "request body has \"stream\": true: %s",
           tu_str(json_array_get(reqs, 0), "body"));
    json_decref(body);
    json_decref(reqs);
    hl_call_free(call);
    tu_async_destroy(&a);

    /* the same items as hl_stream_next gives (default events of the server) */
    tu_reset();
    tu_async_init(&a, 1);
    call = start_wait(&a, c, "complete_deployed", "{\"project\":\"p\"}", "{\"stream\":true}", 10 * F);
    hl_stream *s = hl_complete_deployed_stream(c, "{\"project\":\"p\"}");
    int i = 0;
    char *raw;
    while ((raw = hl_stream_next(s)) != NULL) {
        json_t *sj = tu_parse_item(raw);
        json_t *aj = tu_async_item(&a, i);
        if (tu_get(sj, "event"))
            CHECKF(aj && json_equal(tu_get(sj, "event"), tu_get(aj, "event")), "item %d equal to hl_stream_next's", i);
        else {
            CHECKF(aj && json_equal(tu_get(sj, "done"), tu_get(aj, "done")) &&
                       json_equal(tu_get(sj, "events"), tu_get(aj, "events")) &&
                       json_equal(tu_get(sj, "status"), tu_get(aj, "status")),
                   "terminal item %d like hl_stream_next's: %s / %s", i, raw, i < a.n ? a.raw[i] : "none");
        }
        json_decref(sj);
        json_decref(aj);
        hl_free(raw);
        i++;
    }
    hl_stream_free(s);
    CHECKF(a.n == i, "as many items as hl_stream_next: %d / %d", a.n, i);
    check_invariants(&a, call, "stream 2");
    hl_call_free(call);
    tu_async_destroy(&a);

    /* a failing stream: one terminal error item, no event */
    tu_reset();
    tu_script("[{\"status\":500,\"json\":{\"detail\":\"boom\"}}]");
    tu_async_init(&a, 1);
    call = start_wait(&a, c, "complete", TU_REQ, "{\"stream\":true,\"max_retries\":0}", 10 * F);
    tu_sleep(0.2);
    check_invariants(&a, call, "failing stream");
    CHECKF(a.n == 1, "one item, got %d", a.n);
    json_t *t = terminal_of(&a);
    expect_error_type(t, "api_error", "failing stream");
    CHECK_JINT(t, "attempts", 1);
    json_decref(t);
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
}

/* Validation errors arrive through the callback, on the engine thread, and nothing is sent. */
static void test_validation_via_callback(void)
{
    static const struct {
        const char *name, *req, *opts, *path; /* path: an "errors" path (prefix) expected, or NULL */
    } cases[] = {
        {"bogus", TU_REQ, NULL, NULL},
        {"", TU_REQ, NULL, NULL},
        {NULL, TU_REQ, NULL, NULL},
        {"complete_stream", TU_REQ, NULL, NULL},
        {"COMPLETE", TU_REQ, NULL, NULL},
        {"complete", "{", NULL, NULL},
        {"complete", NULL, NULL, NULL},
        {"complete", "[]", NULL, NULL},
        {"complete", "{\"bogus\":1," "\"model_config\":" TU_MC "}", NULL, "bogus"},
        {"complete", "{}", NULL, "model_config"},
        {"complete_experiment", "{}", NULL, "experiment_id"},
        {"complete", TU_REQ, "{", NULL},
        {"complete", TU_REQ, "[]", NULL},
        {"complete", TU_REQ, "\"x\"", NULL},
        {"complete", TU_REQ, "{\"bogus\":1}", "options.bogus"},
        {"complete", TU_REQ, "{\"timeout\":\"1\"}", "options.timeout"},
        {"complete", TU_REQ, "{\"timeout\":0}", "options.timeout"},
        {"complete", TU_REQ, "{\"timeout\":-1}", "options.timeout"},
        {"complete", TU_REQ, "{\"connect_timeout\":null}", "options.connect_timeout"},
        {"complete", TU_REQ, "{\"connect_timeout\":\"x\"}", "options.connect_timeout"},
        {"complete", TU_REQ, "{\"connect_timeout\":0}", "options.connect_timeout"},
        {"complete", TU_REQ, "{\"low_speed_timeout\":-0.5}", "options.low_speed_timeout"},
        {"complete", TU_REQ, "{\"max_retries\":1.5}", "options.max_retries"},
        {"complete", TU_REQ, "{\"max_retries\":-1}", "options.max_retries"},
        {"complete", TU_REQ, "{\"max_retries\":101}", "options.max_retries"},
        {"complete", TU_REQ, "{\"max_retries\":\"2\"}", "options.max_retries"},
        {"complete", TU_REQ, "{\"stream\":\"yes\"}", "options.stream"},
        {"complete", TU_REQ, "{\"stream\":1}", "options.stream"},
        {"complete", TU_REQ, "{\"headers\":[]}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":\"X-A: b\"}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-A\":1}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-A\":null}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-A\":\"a\\r\\nX-Injected: 1\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-A\":\"a\\nb\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-A\":\"a\\rb\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-A\":\"a\\u0000b\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-A\\r\\nX-B\":\"v\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"Bad Name\":\"v\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X:A\":\"v\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"\":\"v\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"X-API-KEY\":\"other\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"x-api-key\":\"other\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"Content-Type\":\"text/plain\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"content-length\":\"5\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"Host\":\"evil.example\"}}", "options.headers"},
        {"complete", TU_REQ, "{\"headers\":{\"HOST\":\"evil.example\"}}", "options.headers"},
    };
    hl_client *c = tu_client(NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[256];
        snprintf(what, sizeof what, "case %zu: %s %.60s %.80s", i, cases[i].name ? cases[i].name : "NULL",
                 cases[i].req ? cases[i].req : "NULL", cases[i].opts ? cases[i].opts : "NULL");
        tu_async a;
        tu_async_init(&a, 0);
        hl_call *call = start_wait(&a, c, cases[i].name, cases[i].req, cases[i].opts, 5 * F);
        tu_sleep(0.02);
        check_invariants(&a, call, what);
        CHECKF(a.n == 1, "%s: one item, got %d", what, a.n);
        json_t *it = tu_async_item(&a, 0);
        expect_error_type(it, "invalid_request", what);
        CHECKF(json_integer_value(json_object_get(it, "attempts")) == 0, "%s: attempts 0: %s", what,
               a.n ? a.raw[0] : "");
        if (cases[i].path)
            CHECKF(errors_have_prefix(it, cases[i].path), "%s: errors name %s: %s", what, cases[i].path,
                   a.n ? a.raw[0] : "");
        json_decref(it);
        hl_call_free(call);
        tu_async_destroy(&a);
        /* hl_call_run gives the same error synchronously (except "stream" in options, which
         * hl_call_run accepts) */
        char *r = hl_call_run(c, cases[i].name, cases[i].req, cases[i].opts);
        json_t *rj = tu_parse_env(r);
        expect_error_type(rj, "invalid_request", what);
        json_decref(rj);
        hl_free(r);
    }
    /* every problem of the options at once */
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = start_wait(&a, c, "complete", TU_REQ,
                               "{\"timeout\":\"x\",\"max_retries\":\"y\",\"bogus\":1,\"headers\":{\"Host\":\"h\"}}",
                               5 * F);
    json_t *it = tu_async_item(&a, 0);
    expect_error_type(it, "invalid_request", "several option problems");
    CHECKF(tu_errors_have_path(it, "options.timeout") && tu_errors_have_path(it, "options.max_retries") &&
               tu_errors_have_path(it, "options.bogus") && errors_have_prefix(it, "options.headers"),
           "every problem listed: %s", a.n ? a.raw[0] : "");
    json_decref(it);
    hl_call_free(call);
    tu_async_destroy(&a);
    /* a NULL callback: NULL, nothing runs */
    CHECK(hl_call_start(c, "complete", TU_REQ, NULL, NULL, NULL) == NULL);
    tu_sleep(0.2);
    CHECK_INT(tu_request_count(), 0);
    /* NULL handle: no-ops */
    hl_call_cancel(NULL);
    hl_call_free(NULL);
    hl_stream_cancel(NULL);
    hl_client_free(c);
}

/* The callback may start new calls (a chain of 5), cancel and free; hl_call_run and hl_batch
 * on the same client from a callback return an invalid_request instead of deadlocking. */
typedef struct {
    hl_client *client;
    pthread_mutex_t mu;
    int depth, done, ok;
    hl_call *calls[8];
    char *run_result, *batch_result;
    int do_nested;
} chain_t;

static void chain_cb(hl_call *call, int kind, const char *item, size_t len, void *ud)
{
    chain_t *ch = ud;
    (void)call;
    (void)kind;
    (void)len;
    json_t *j = json_loads(item, 0, NULL);
    int ok = j && json_is_true(json_object_get(j, "ok"));
    json_decref(j);
    if (ch->do_nested) {
        ch->run_result = hl_call_run(ch->client, "complete", TU_REQ, NULL);
        ch->batch_result = hl_batch(ch->client, "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}]}");
    }
    pthread_mutex_lock(&ch->mu);
    if (ok) ch->ok++;
    int d = ++ch->depth;
    pthread_mutex_unlock(&ch->mu);
    if (!ch->do_nested && d < 5) {
        hl_call *n = hl_call_start(ch->client, "complete", TU_REQ, NULL, chain_cb, ch);
        pthread_mutex_lock(&ch->mu);
        ch->calls[d] = n;
        pthread_mutex_unlock(&ch->mu);
    } else {
        pthread_mutex_lock(&ch->mu);
        ch->done = 1;
        pthread_mutex_unlock(&ch->mu);
    }
}

static int chain_done(chain_t *ch)
{
    pthread_mutex_lock(&ch->mu);
    int d = ch->done;
    pthread_mutex_unlock(&ch->mu);
    return d;
}

static void test_callback_reentrancy(void)
{
    chain_t ch;
    memset(&ch, 0, sizeof ch);
    pthread_mutex_init(&ch.mu, NULL);
    ch.client = tu_client(NULL);
    hl_call *first = hl_call_start(ch.client, "complete", TU_REQ, NULL, chain_cb, &ch);
    pthread_mutex_lock(&ch.mu);
    ch.calls[0] = first;
    pthread_mutex_unlock(&ch.mu);
    double end = tu_now() + 10 * F;
    while (!chain_done(&ch) && tu_now() < end) tu_sleep(0.01);
    CHECKF(chain_done(&ch), "a chain of 5 calls, each started from the previous one's callback");
    CHECK_INT(ch.ok, 5);
    CHECK_INT(tu_request_count(), 5);
    for (int i = 0; i < 5; i++) hl_call_free(ch.calls[i]);

    /* nested blocking engine calls from a callback */
    memset(&ch.calls, 0, sizeof ch.calls);
    ch.done = 0;
    ch.depth = 0;
    ch.do_nested = 1;
    hl_call *call = hl_call_start(ch.client, "complete", TU_REQ, NULL, chain_cb, &ch);
    end = tu_now() + 10 * F;
    while (!chain_done(&ch) && tu_now() < end) tu_sleep(0.01);
    CHECKF(chain_done(&ch), "hl_call_run and hl_batch from a callback returned (no deadlock)");
    if (chain_done(&ch)) {
        json_t *r = tu_parse_env(ch.run_result);
        (void)r;  /* hl_call_run does not use the engine: either it ran, or it said why not */
        CHECKF(r && (tu_is_ok(r) || (tu_err_type(r) && strcmp(tu_err_type(r), "invalid_request") == 0)),
               "hl_call_run from a callback: ok or invalid_request: %s", ch.run_result ? ch.run_result : "NULL");
        json_decref(r);
        json_t *b = tu_parse_env(ch.batch_result);
        expect_error_type(b, "invalid_request", "hl_batch from a callback of the same client");
        json_decref(b);
        hl_free(ch.run_result);
        hl_free(ch.batch_result);
        hl_call_free(call);
        hl_client_free(ch.client);
    } else {
        tu_note("the engine is stuck in a callback: not freeing the client (would hang)");
    }
    pthread_mutex_destroy(&ch.mu);
}

/* =========================================================================================== */
/* many calls                                                                                  */
/* =========================================================================================== */

typedef struct {
    tu_async a;
    hl_call *call;
    int kind;           /* 0..6 plain, 7 stream, 8 cancelled at once, 9 cancelled by another thread */
} slot_t;

static slot_t *g_slots;
static int g_nslots;
static hl_client *g_mc;
static pthread_mutex_t g_cancel_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_cancel_next_pub = 0;   /* slots published for the canceller, in order */
static int g_started_done = 0;

typedef struct {
    int from, to;
} range_t;

static void *starter(void *arg)
{
    range_t *r = arg;
    for (int i = r->from; i < r->to; i++) {
        slot_t *s = &g_slots[i];
        s->kind = i % 10;
        int stream = s->kind == 7;
        tu_async_init(&s->a, stream);
        const char *name = NAMES[i % 4];
        const char *req = endpoint_of(name)->minimal;
        s->call = tu_async_start(&s->a, g_mc, name, req, stream ? "{\"stream\":true}" : NULL);
        if (s->kind == 8) hl_call_cancel(s->call);
    }
    return NULL;
}

static void *canceller(void *arg)
{
    (void)arg;
    unsigned seed = 12345;
    for (;;) {
        pthread_mutex_lock(&g_cancel_mu);
        int done = g_started_done;
        pthread_mutex_unlock(&g_cancel_mu);
        if (done) break;
        tu_sleep(0.001);
    }
    for (int i = 0; i < g_nslots; i++) {
        if (g_slots[i].kind != 9) continue;
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 4 == 0) tu_sleep(0.001 * (double)((seed >> 8) % 5));
        hl_call_cancel(g_slots[i].call);
    }
    return NULL;
}

static void *freer(void *arg)
{
    range_t *r = arg;
    for (int i = r->from; i < r->to; i++) {
        hl_call_free(g_slots[i].call);
        tu_async_mark_freed(&g_slots[i].a);
    }
    return NULL;
}

static int engine_calls(void)
{
    const char *e = getenv("HL_ENGINE_CALLS");
    if (e && atoi(e) > 0) return atoi(e);
    const char *v = getenv("VALGRIND");
    if (v && strcmp(v, "1") == 0) return 200;
    return 2000;
}

static void test_many_async_calls_threads_streams_cancels(void)
{
    enum { NSTART = 4 };
    g_nslots = engine_calls();
    g_nslots -= g_nslots % (NSTART * 10);
    if (g_nslots < 40) g_nslots = 40;
    g_slots = calloc((size_t)g_nslots, sizeof *g_slots);
    g_mc = tu_client(",\"max_connections\":64");
    g_started_done = 0;
    g_cancel_next_pub = 0;
    (void)tu_async_max_running();
    pthread_t th[NSTART], ct;
    range_t rg[NSTART];
    double t0 = tu_now();
    for (int i = 0; i < NSTART; i++) {
        rg[i].from = i * (g_nslots / NSTART);
        rg[i].to = (i + 1) * (g_nslots / NSTART);
        pthread_create(&th[i], NULL, starter, &rg[i]);
    }
    pthread_create(&ct, NULL, canceller, NULL);
    for (int i = 0; i < NSTART; i++) pthread_join(th[i], NULL);
    pthread_mutex_lock(&g_cancel_mu);
    g_started_done = 1;
    pthread_mutex_unlock(&g_cancel_mu);
    pthread_join(ct, NULL);
    double tstart = tu_now() - t0;
    int missing = 0;
    for (int i = 0; i < g_nslots; i++) {
        CHECKF(g_slots[i].call != NULL, "slot %d: a handle", i);
        if (!tu_async_wait(&g_slots[i].a, missing ? 0.01 : 120 * F)) missing++;
    }
    double tall = tu_now() - t0;
    tu_note("%d calls: started in %.2fs, all terminal after %.2fs", g_nslots, tstart, tall);
    CHECKF(missing == 0, "%d calls never got their terminal item", missing);
    tu_sleep(0.3);
    int bad = 0, cancelled = 0, ok = 0, streams = 0, shown = 0;
    for (int i = 0; i < g_nslots; i++) {
        slot_t *s = &g_slots[i];
        int good = s->a.terminal && s->a.after_terminal == 0 && s->a.on_caller_thread == 0 && s->a.concurrent == 0;
        json_t *t = s->a.n ? terminal_of(&s->a) : NULL;
        if (s->kind <= 6) {
            good = good && s->a.n == 1 && tu_is_ok(t) && json_integer_value(json_object_get(t, "status")) == 200;
            if (good) ok++;
        } else if (s->kind == 7) {
            good = good && s->a.n == 5 && tu_is_ok(t) && tu_bool(t, "done") == 1;
            if (good) streams++;
        } else {
            const char *ty = tu_err_type(t);
            int c = ty && strcmp(ty, "cancelled") == 0;
            good = good && s->a.n == 1 && (c || tu_is_ok(t));
            if (c) cancelled++;
        }
        if (!good) {
            bad++;
            if (shown++ < 5)
                tu_note("slot %d kind %d: n=%d terminal=%d after_terminal=%d on_caller=%d last=%.300s", i, s->kind,
                        s->a.n, s->a.terminal, s->a.after_terminal, s->a.on_caller_thread,
                        s->a.n ? s->a.raw[(s->a.n < TU_ASYNC_MAX ? s->a.n : TU_ASYNC_MAX) - 1] : "none");
        }
        json_decref(t);
    }
    CHECKF(bad == 0, "%d of %d calls broke the contract", bad, g_nslots);
    tu_note("%d ok, %d streams, %d of %d cancellations took effect", ok, streams, cancelled, g_nslots / 5);
    CHECKF(cancelled >= g_nslots / 10 / 2, "most calls cancelled right after hl_call_start ended cancelled (%d)",
           cancelled);
    CHECKF(tu_async_max_running() == 1, "callbacks of one client never ran at the same time");
    long reqs = tu_stat("requests");
    CHECKF(reqs >= g_nslots * 8 / 10 && reqs <= g_nslots, "server requests %ld within [%d, %d]", reqs,
           g_nslots * 8 / 10, g_nslots);
    /* connections_opened is cumulative: a cancelled transfer's connection is closed and may be
     * replaced, so the bound is max_connections plus one per cancellation that took effect */
    long opened = tu_stat("connections_opened");
    CHECKF(opened >= 1 && opened <= 64 + cancelled, "connections opened %ld <= max_connections 64 + %d cancelled",
           opened, cancelled);
    /* free from two threads */
    range_t fr[2] = {{0, g_nslots / 2}, {g_nslots / 2, g_nslots}};
    pthread_t ft[2];
    for (int i = 0; i < 2; i++) pthread_create(&ft[i], NULL, freer, &fr[i]);
    for (int i = 0; i < 2; i++) pthread_join(ft[i], NULL);
    for (int i = 0; i < g_nslots; i++) tu_async_destroy(&g_slots[i].a);
    free(g_slots);
    g_slots = NULL;
    hl_client_free(g_mc);
    g_mc = NULL;
    CHECK_INT(tu_wait_stat("connections_open", 0, 3 * F), 0);
}

/* =========================================================================================== */
/* cancellation                                                                                */
/* =========================================================================================== */

/* Cancelled right after hl_call_start, before the engine sent anything. */
static void test_cancel_before_start(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"delay\":3}]");
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, NULL);
    hl_call_cancel(call);
    hl_call_cancel(call); /* idempotent */
    CHECKF(tu_async_wait(&a, 1.0 * F), "terminal item within 1 s");
    tu_sleep(0.2);
    check_invariants(&a, call, "cancel at once");
    CHECK_INT(a.n, 1);
    json_t *t = terminal_of(&a);
    expect_cancelled(t, "cancel at once");
    json_decref(t);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    hl_call_free(call);
    tu_async_destroy(&a);

    /* a queued call (max_connections 1, the only connection busy) never reaches the server */
    hl_client *c1 = tu_client(",\"max_connections\":1");
    tu_reset();
    tu_script("[{\"delay\":1.5}]");
    tu_async busy, queued;
    tu_async_init(&busy, 0);
    tu_async_init(&queued, 0);
    hl_call *cb = tu_async_start(&busy, c1, "complete", TU_REQ, NULL);
    CHECK_INT(wait_requests(1, 3 * F), 1);
    hl_call *cq = tu_async_start(&queued, c1, "complete", TU_REQ, NULL);
    tu_sleep(0.1);
    double t0 = tu_now();
    hl_call_cancel(cq);
    CHECKF(tu_async_wait(&queued, 1.0 * F), "the queued call ends at once");
    double dt = tu_now() - t0;
    CHECKF(dt < 1.0 * F, "the queued call's terminal item after %.2fs (the busy call runs 1.5 s)", dt);
    json_t *qt = terminal_of(&queued);
    expect_cancelled(qt, "queued");
    CHECK_JINT(qt, "attempts", 0);
    json_decref(qt);
    CHECKF(tu_async_wait(&busy, 5 * F), "the busy call finishes");
    json_t *bt = terminal_of(&busy);
    CHECKF(tu_is_ok(bt), "the busy call is ok");
    json_decref(bt);
    tu_sleep(0.3);
    CHECK_INT(tu_request_count(), 1);
    hl_call_free(cb);
    hl_call_free(cq);
    tu_async_destroy(&busy);
    tu_async_destroy(&queued);
    hl_client_free(c1);
    hl_client_free(c);
}

/* Cancelled while connecting (the SYN is dropped): promptly "cancelled", not a timeout. */
static void test_cancel_during_connect(void)
{
    tu_blackhole b;
    if (!CHECKF(tu_blackhole_open(&b), "a listening socket with a full accept queue")) {
        tu_blackhole_close(&b);
        return;
    }
    char host[160];
    snprintf(host, sizeof host, "{\"api_key\":\"%s\",\"host\":\"http://127.0.0.1:%d/v4\",\"connect_timeout\":30}",
             TU_SECRET, b.port);
    hl_client *c = hl_client_new(host, NULL);
    CHECK(c != NULL);
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, NULL);
    tu_sleep(0.3);
    CHECKF(tu_async_count(&a) == 0, "nothing yet while connecting");
    double t0 = tu_now();
    hl_call_cancel(call);
    CHECKF(tu_async_wait(&a, 1.0 * F), "terminal item within 1 s of the cancel");
    CHECKF(tu_now() - t0 < 1.0 * F, "cancelled after %.2fs", tu_now() - t0);
    json_t *t = terminal_of(&a);
    expect_cancelled(t, "during connect");
    json_decref(t);
    check_invariants(&a, call, "during connect");
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
    tu_blackhole_close(&b);
}

/* Cancel once the server holds the request (script "delay", fault "stall_mid_body"): the
 * terminal item is "cancelled" and the server sees the connection closed. */
static void cancel_in_flight(const char *script, const char *what)
{
    hl_client *c = tu_client(NULL);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    tu_script("%s", script);
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, NULL);
    CHECKF(wait_requests(1, 3 * F) == 1, "%s: the server got the request", what);
    tu_sleep(0.2);
    CHECKF(tu_stat("connections_open") == 1, "%s: one connection open", what);
    CHECKF(tu_async_count(&a) == 0, "%s: no item yet", what);
    double t0 = tu_now();
    hl_call_cancel(call);
    CHECKF(tu_async_wait(&a, 1.0 * F), "%s: terminal item within 1 s", what);
    double dt = tu_now() - t0;
    CHECKF(dt < 1.0 * F, "%s: terminal after %.2fs", what, dt);
    long open = tu_wait_stat("connections_open", 0, 2 * F);
    CHECKF(open == 0, "%s: the server sees the connection closed within 2 s (%ld open)", what, open);
    tu_note("%s: terminal after %.3fs, connection closed after %.3fs", what, dt, tu_now() - t0);
    json_t *t = terminal_of(&a);
    expect_cancelled(t, what);
    CHECK_JINT(t, "attempts", 1);
    json_decref(t);
    tu_sleep(0.2);
    check_invariants(&a, call, what);
    CHECK_INT(a.n, 1);
    CHECK_INT(tu_request_count(), 1);  /* not retried */
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
}

static void test_cancel_waiting_for_answer(void) { cancel_in_flight("[{\"delay\":20}]", "delay"); }
static void test_cancel_mid_body(void) { cancel_in_flight("[{\"fault\":\"stall_mid_body\"}]", "stall_mid_body"); }

/* Cancelled during a retry delay (Retry-After: 30): promptly, attempts 1, nothing resent. */
static void test_cancel_during_retry_delay(void)
{
    hl_client *c = tu_client(",\"max_retries\":2");
    tu_script("[{\"status\":503,\"headers\":{\"Retry-After\":\"30\"},\"json\":{\"detail\":\"busy\"}}]");
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, NULL);
    CHECK_INT(wait_requests(1, 3 * F), 1);
    tu_sleep(0.3);
    double t0 = tu_now();
    hl_call_cancel(call);
    CHECKF(tu_async_wait(&a, 1.0 * F), "terminal item within 1 s");
    CHECKF(tu_now() - t0 < 1.0 * F, "the retry delay was cut short (%.2fs)", tu_now() - t0);
    json_t *t = terminal_of(&a);
    expect_cancelled(t, "retry delay");
    CHECK_JINT(t, "attempts", 1);
    json_decref(t);
    tu_sleep(0.3);
    CHECK_INT(tu_request_count(), 1);
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
}

/* Cancelled mid-stream (hold after 2 events): 2 events, then "cancelled"; connection closed. */
static void test_cancel_mid_stream(void)
{
    hl_client *c = tu_client(NULL);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"hold_after\":2,\"hold\":30}}]");
    tu_async a;
    tu_async_init(&a, 1);
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, "{\"stream\":true}");
    CHECKF(tu_async_wait_items(&a, 2, 5 * F) == 2, "2 events arrive before the hold");
    tu_sleep(0.2);
    CHECK_INT(tu_async_count(&a), 2);
    CHECK_INT(tu_stat("connections_open"), 1);
    double t0 = tu_now();
    hl_call_cancel(call);
    CHECKF(tu_async_wait(&a, 1.0 * F), "terminal item within 1 s");
    CHECKF(tu_now() - t0 < 1.0 * F, "cancelled after %.2fs", tu_now() - t0);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    tu_sleep(0.2);
    check_invariants(&a, call, "mid-stream");
    CHECK_INT(a.n, 3);
    for (int i = 0; i < 2; i++) {
        json_t *it = tu_async_item(&a, i);
        json_t *exp = tu_json(E123[i]);
        CHECKF(json_equal(tu_get(it, "event"), exp), "event %d", i);
        json_decref(exp);
        json_decref(it);
    }
    json_t *t = terminal_of(&a);
    expect_cancelled(t, "mid-stream");
    CHECK_JINT(t, "attempts", 1);
    json_decref(t);
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
}

/* Cancelling after the end changes nothing: the item stands, no second item. */
static void test_cancel_after_end(void)
{
    hl_client *c = tu_client(NULL);
    for (int stream = 0; stream < 2; stream++) {
        tu_async a;
        tu_async_init(&a, stream);
        hl_call *call = start_wait(&a, c, "complete", TU_REQ, stream ? "{\"stream\":true}" : NULL, 10 * F);
        int n = a.n;
        hl_call_cancel(call);
        hl_call_cancel(call);
        tu_sleep(0.3);
        CHECK_INT(a.n, n);
        check_invariants(&a, call, stream ? "stream, cancel after the end" : "cancel after the end");
        json_t *t = terminal_of(&a);
        CHECKF(tu_is_ok(t), "the ok item stands");
        json_decref(t);
        hl_call_free(call);
        tu_async_destroy(&a);
    }
    hl_client_free(c);
}

/* hl_call_cancel from inside the callback (on the first event of a never-ending stream). */
static void test_cancel_from_callback(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.05}}]");
    tu_async a;
    tu_async_init(&a, 1);
    a.cancel_in_cb = 1;
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, "{\"stream\":true}");
    CHECKF(tu_async_wait(&a, 3 * F), "terminal item after the cancel in the callback");
    tu_sleep(0.3);
    check_invariants(&a, call, "cancel in callback");
    CHECKF(a.n == 2, "one event, then the cancelled item (got %d items)", a.n);
    json_t *t = terminal_of(&a);
    expect_cancelled(t, "cancel in callback");
    json_decref(t);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
}

/* Many threads cancel the same call at once: one terminal item. */
typedef struct {
    hl_call *call;
    pthread_barrier_t *bar;
} cancel_arg_t;

static void *cancel_thread(void *arg)
{
    cancel_arg_t *ca = arg;
    pthread_barrier_wait(ca->bar);
    for (int i = 0; i < 10; i++) hl_call_cancel(ca->call);
    return NULL;
}

static void test_cancel_concurrently(void)
{
    hl_client *c = tu_client(NULL);
    for (int round = 0; round < 10; round++) {
        tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"hold_after\":1,\"hold\":30}}]");
        tu_async a;
        tu_async_init(&a, 1);
        hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, "{\"stream\":true}");
        if (round % 2) tu_async_wait_items(&a, 1, 3 * F);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 4);
        pthread_t th[4];
        cancel_arg_t ca = {call, &bar};
        for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, cancel_thread, &ca);
        for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&bar);
        CHECKF(tu_async_wait(&a, 2 * F), "round %d: terminal item", round);
        tu_sleep(0.05);
        check_invariants(&a, call, "concurrent cancels");
        json_t *t = terminal_of(&a);
        expect_cancelled(t, "concurrent cancels");
        json_decref(t);
        hl_call_free(call);
        tu_async_destroy(&a);
    }
    hl_client_free(c);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
}

/* =========================================================================================== */
/* hl_call_free                                                                                */
/* =========================================================================================== */

static void test_free_in_callback(void)
{
    hl_client *c = tu_client(NULL);
    /* on the terminal item, non-stream and stream */
    for (int stream = 0; stream < 2; stream++) {
        tu_async a;
        tu_async_init(&a, stream);
        a.free_in_cb = 1;
        tu_async_start(&a, c, "complete", TU_REQ, stream ? "{\"stream\":true}" : NULL);
        CHECKF(tu_async_wait(&a, 5 * F), "terminal item");
        tu_sleep(0.2);
        CHECK(a.freed == 1);
        CHECK_INT(a.after_free, 0);
        CHECK_INT(a.after_terminal, 0);
        CHECK_INT(a.n, stream ? 5 : 1);
        tu_async_destroy(&a);
    }
    /* on the first event of a never-ending stream: nothing after, the connection closes */
    tu_script("[{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.02}}]");
    tu_async a;
    tu_async_init(&a, 1);
    a.free_in_cb = 2;
    tu_async_start(&a, c, "complete", TU_REQ, "{\"stream\":true}");
    double end = tu_now() + 5 * F;
    while (tu_now() < end) {
        tu_async_wait_items(&a, 1, 0.05);
        if (tu_async_count(&a) >= 1) break;
    }
    tu_sleep(0.5);
    CHECK_INT(tu_async_count(&a), 1);
    CHECK_INT(a.after_free, 0);
    CHECK(a.freed == 1);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    tu_async_destroy(&a);
    hl_client_free(c);
}

typedef struct {
    tu_async *as;
    hl_call **calls;
    int n;
} free_job_t;

static void *free_job(void *arg)
{
    free_job_t *fj = arg;
    for (int i = 0; i < fj->n; i++) {
        hl_call_free(fj->calls[i]);
        tu_async_mark_freed(&fj->as[i]);
    }
    return NULL;
}

/* hl_call_free from another thread while the calls deliver events: when it returns, nothing
 * more runs for the call; no terminal item is delivered for a freed call. */
static void test_free_from_other_thread(void)
{
    enum { N = 40 };
    hl_client *c = tu_client(NULL);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    char script[8192] = "[";
    for (int i = 0; i < N; i++)
        strcat(script, i ? ",{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.01}}"
                         : "{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.01}}");
    strcat(script, "]");
    tu_script("%s", script);
    tu_async *as = calloc(N, sizeof *as);
    hl_call **calls = calloc(N, sizeof *calls);
    for (int i = 0; i < N; i++) {
        tu_async_init(&as[i], 1);
        calls[i] = tu_async_start(&as[i], c, "complete", TU_REQ, "{\"stream\":true}");
    }
    for (int i = 0; i < N; i++) CHECKF(tu_async_wait_items(&as[i], 2, 5 * F) >= 2, "call %d streams", i);
    CHECK_INT(tu_stat("connections_open"), N);
    pthread_t th[2];
    free_job_t fj[2] = {{as, calls, N / 2}, {as + N / 2, calls + N / 2, N / 2}};
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, free_job, &fj[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    tu_sleep(0.5);
    int after = 0, terminals = 0;
    for (int i = 0; i < N; i++) {
        after += as[i].after_free;
        terminals += as[i].terminal;
    }
    CHECKF(after == 0, "%d callbacks ran after hl_call_free returned", after);
    CHECKF(terminals == 0, "%d freed calls got a terminal item (none expected)", terminals);
    long open = tu_wait_stat("connections_open", 0, 2 * F);
    CHECKF(open == 0, "freed streams' connections closed within 2 s (%ld open)", open);
    for (int i = 0; i < N; i++) tu_async_destroy(&as[i]);

    /* freed right after hl_call_start, many times */
    tu_reset();
    for (int i = 0; i < N; i++) {
        tu_async_init(&as[i], i % 2);
        calls[i] = tu_async_start(&as[i], c, NAMES[i % 4], endpoint_of(NAMES[i % 4])->minimal,
                                  i % 2 ? "{\"stream\":true}" : NULL);
        hl_call_free(calls[i]);
        tu_async_mark_freed(&as[i]);
    }
    tu_sleep(0.5);
    after = 0;
    for (int i = 0; i < N; i++) after += as[i].after_free;
    CHECKF(after == 0, "%d callbacks after an immediate hl_call_free", after);
    CHECKF(tu_request_count() <= N, "at most %d requests", N);
    for (int i = 0; i < N; i++) tu_async_destroy(&as[i]);
    free(as);
    free(calls);
    hl_client_free(c);
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
}

/* hl_client_free with calls in flight (waiting for answers, streaming, queued): each gets its
 * "cancelled" terminal item before hl_client_free returns; handles stay valid until freed. */
static void test_client_free_in_flight(void)
{
    enum { N = 12 };
    for (int variant = 0; variant < 3; variant++) {
        /* 0: on the wire; 1: max_connections 2 (most queued); 2: freed right after starting */
        hl_client *c = variant == 1 ? tu_client(",\"max_connections\":2") : tu_client(NULL);
        tu_reset();
        CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
        char script[4096] = "[";
        for (int i = 0; i < N; i++)
            strcat(script, i % 3 == 2 ? "{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.05}},"
                                      : "{\"delay\":30},");
        script[strlen(script) - 1] = ']';
        tu_script("%s", script);
        tu_async as[N];
        hl_call *calls[N];
        for (int i = 0; i < N; i++) {
            tu_async_init(&as[i], i % 3 == 2);
            calls[i] = tu_async_start(&as[i], c, "complete", TU_REQ, i % 3 == 2 ? "{\"stream\":true}" : NULL);
        }
        if (variant == 0) CHECK_INT(wait_requests(N, 5 * F), N);
        if (variant == 1) CHECK_INT(wait_requests(2, 5 * F), 2);
        tu_sleep(0.2);
        double t0 = tu_now();
        hl_client_free(c);
        double dt = tu_now() - t0;
        CHECKF(dt < 2.0 * F, "variant %d: hl_client_free returned after %.2fs", variant, dt);
        int missing = 0, bad = 0;
        for (int i = 0; i < N; i++) {
            if (!as[i].terminal) {
                missing++;
                continue;
            }
            json_t *t = terminal_of(&as[i]);
            const char *ty = tu_err_type(t);
            if (!ty || strcmp(ty, "cancelled") != 0 || as[i].after_terminal) {
                bad++;
                tu_note("variant %d call %d: %s", variant, i, as[i].raw[as[i].n - 1]);
            }
            json_decref(t);
        }
        CHECKF(missing == 0, "variant %d: %d calls had no terminal item when hl_client_free returned", variant,
               missing);
        CHECKF(bad == 0, "variant %d: %d terminal items not \"cancelled\"", variant, bad);
        long open = tu_wait_stat("connections_open", 0, 2 * F);
        CHECKF(open == 0, "variant %d: connections closed (%ld open)", variant, open);
        if (variant == 1) CHECKF(tu_request_count() == 2, "variant 1: the queued calls were never sent (%d requests)",
                                 tu_request_count());
        tu_sleep(0.1);
        for (int i = 0; i < N; i++) {
            CHECK_INT(as[i].after_terminal, 0);
            hl_call_cancel(calls[i]);  /* still valid: no effect */
            hl_call_free(calls[i]);
            tu_async_destroy(&as[i]);
        }
    }
}

/* A callback that starts a call on its client while hl_client_free cancels the calls in
 * flight: the new call gets its own "cancelled" terminal item before hl_client_free returns,
 * and nothing leaks (the call and the engine do not keep each other alive). */
typedef struct {
    hl_client *client;
    tu_async *late;
    hl_call *late_call;
} restart_ctx;

static void restart_on_terminal(hl_call *call, int kind, const char *item_json, size_t len, void *user_data)
{
    (void)call;
    (void)kind;
    (void)len;
    restart_ctx *r = user_data;
    if (r->late_call == NULL && strstr(item_json, "\"cancelled\"") != NULL)
        r->late_call = tu_async_start(r->late, r->client, "complete", TU_REQ, NULL);
}

static void test_call_started_during_client_free_gets_its_item(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"delay\":30}]");
    tu_async late;
    tu_async_init(&late, 0);
    restart_ctx r = {c, &late, NULL};
    hl_call *first = hl_call_start(c, "complete", TU_REQ, NULL, restart_on_terminal, &r);
    CHECK(first != NULL);
    CHECK_INT(wait_requests(1, 5 * F), 1);
    hl_client_free(c);
    CHECKF(r.late_call != NULL, "the callback started a call");
    CHECKF(late.terminal, "the call started during hl_client_free has its terminal item when it returns");
    if (late.terminal) {
        json_t *t = terminal_of(&late);
        CHECK_STR(tu_err_type(t), "cancelled");
        CHECK_JINT(t, "attempts", 0);
        json_decref(t);
    }
    hl_call_free(r.late_call);
    hl_call_free(first);
    tu_async_destroy(&late);
}

/* =========================================================================================== */
/* per-call options                                                                            */
/* =========================================================================================== */

static void test_option_timeout(void)
{
    hl_client *c = tu_client(",\"timeout\":30,\"max_retries\":0");
    tu_script("[{\"delay\":5},{\"delay\":0.3}]");
    tu_async a, b;
    tu_async_init(&a, 0);
    tu_async_init(&b, 0);
    double t0 = tu_now();
    hl_call *ca = tu_async_start(&a, c, "complete", TU_REQ, "{\"timeout\":0.5}");
    CHECK_INT(wait_requests(1, 3 * F), 1);
    hl_call *cb = tu_async_start(&b, c, "complete", TU_REQ, NULL);
    CHECKF(tu_async_wait(&a, 3 * F), "the call with timeout 0.5 ends");
    double dt = a.t_terminal - t0;
    CHECKF(dt >= 0.45 && dt < 2.5 * F, "per-call timeout after %.2fs", dt);
    json_t *t = terminal_of(&a);
    expect_error_type(t, "timeout", "options.timeout 0.5");
    json_decref(t);
    CHECKF(tu_async_wait(&b, 5 * F), "the other call (client timeout 30) ends");
    t = terminal_of(&b);
    CHECKF(tu_is_ok(t), "the call without options keeps the client's timeout: %s", b.n ? b.raw[0] : "");
    json_decref(t);
    hl_call_free(ca);
    hl_call_free(cb);
    tu_async_destroy(&a);
    tu_async_destroy(&b);

    /* hl_call_run with a timeout */
    tu_reset();
    tu_script("[{\"delay\":5}]");
    t0 = tu_now();
    char *r = hl_call_run(c, "complete", TU_REQ, "{\"timeout\":0.5}");
    dt = tu_now() - t0;
    json_t *rj = tu_parse_env(r);
    expect_error_type(rj, "timeout", "hl_call_run timeout 0.5");
    CHECKF(dt >= 0.45 && dt < 2.5 * F, "hl_call_run timed out after %.2fs", dt);
    json_decref(rj);
    hl_free(r);

    /* a stream with low_speed_timeout: a stall mid-stream */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"hold_after\":1,\"hold\":20}}]");
    tu_async_init(&a, 1);
    t0 = tu_now();
    ca = tu_async_start(&a, c, "complete", TU_REQ, "{\"stream\":true,\"low_speed_timeout\":0.5}");
    CHECKF(tu_async_wait(&a, 5 * F), "the stalled stream ends");
    dt = a.t_terminal - t0;
    CHECKF(dt >= 0.45 && dt < 3 * F, "low_speed_timeout after %.2fs", dt);
    CHECK_INT(a.n, 2);
    t = terminal_of(&a);
    expect_error_type(t, "timeout", "options.low_speed_timeout 0.5");
    json_decref(t);
    hl_call_free(ca);
    tu_async_destroy(&a);
    hl_client_free(c);

    /* connect_timeout per call (SYN dropped) */
    tu_blackhole bh;
    if (CHECKF(tu_blackhole_open(&bh), "blackhole")) {
        char cfg[200];
        snprintf(cfg, sizeof cfg,
                 "{\"api_key\":\"%s\",\"host\":\"http://127.0.0.1:%d/v4\",\"connect_timeout\":30,\"max_retries\":0}",
                 TU_SECRET, bh.port);
        hl_client *cc = hl_client_new(cfg, NULL);
        tu_async_init(&a, 0);
        t0 = tu_now();
        ca = tu_async_start(&a, cc, "complete", TU_REQ, "{\"connect_timeout\":0.4}");
        CHECKF(tu_async_wait(&a, 5 * F), "connect_timeout 0.4 ends the call");
        dt = a.t_terminal - t0;
        CHECKF(dt >= 0.35 && dt < 2.5 * F, "connect timeout after %.2fs", dt);
        t = terminal_of(&a);
        expect_error_type(t, "timeout", "options.connect_timeout");
        json_decref(t);
        hl_call_free(ca);
        tu_async_destroy(&a);
        hl_client_free(cc);
    }
    tu_blackhole_close(&bh);
}

static void test_option_max_retries(void)
{
    hl_client *c = tu_client(",\"max_retries\":0,\"retry_base_delay\":0.01,\"retry_max_delay\":0.05");
    const char *s503 = "{\"status\":503,\"json\":{\"detail\":\"busy\"}}";
    /* the client says 0, the call says 2: 3 requests */
    tu_script("[%s,%s,%s]", s503, s503, s503);
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = start_wait(&a, c, "complete", TU_REQ, "{\"max_retries\":2}", 10 * F);
    json_t *t = terminal_of(&a);
    expect_error_type(t, "api_error", "max_retries 2");
    CHECK_JINT(t, "attempts", 3);
    json_decref(t);
    CHECK_INT(tu_request_count(), 3);
    hl_call_free(call);
    tu_async_destroy(&a);
    /* the next call without options: the client's 0 */
    tu_reset();
    tu_script("[%s,%s,%s]", s503, s503, s503);
    tu_async_init(&a, 0);
    call = start_wait(&a, c, "complete", TU_REQ, NULL, 10 * F);
    t = terminal_of(&a);
    CHECK_JINT(t, "attempts", 1);
    json_decref(t);
    CHECK_INT(tu_request_count(), 1);
    hl_call_free(call);
    tu_async_destroy(&a);
    hl_client_free(c);
    /* the client says 2, the call says 0; then retried to success */
    c = tu_client(",\"max_retries\":2,\"retry_base_delay\":0.01,\"retry_max_delay\":0.05");
    tu_reset();
    tu_script("[%s,%s,%s]", s503, s503, s503);
    tu_async_init(&a, 0);
    call = start_wait(&a, c, "complete", TU_REQ, "{\"max_retries\":0}", 10 * F);
    t = terminal_of(&a);
    CHECK_JINT(t, "attempts", 1);
    json_decref(t);
    CHECK_INT(tu_request_count(), 1);
    hl_call_free(call);
    tu_async_destroy(&a);
    tu_reset();
    tu_script("[%s]", s503);
    tu_async_init(&a, 0);
    call = start_wait(&a, c, "complete", TU_REQ, "{\"max_retries\":1}", 10 * F);
    t = terminal_of(&a);
    CHECKF(tu_is_ok(t), "retried once to success: %s", a.n ? a.raw[0] : "");
    CHECK_JINT(t, "attempts", 2);
    json_decref(t);
    CHECK_INT(tu_request_count(), 2);
    hl_call_free(call);
    tu_async_destroy(&a);
    /* hl_call_run too */
    tu_reset();
    tu_script("[%s,%s,%s,%s]", s503, s503, s503, s503);
    char *r = hl_call_run(c, "complete", TU_REQ, "{\"max_retries\":3}");
    json_t *rj = tu_parse_env(r);
    CHECK_JINT(rj, "attempts", 4);
    CHECK_INT(tu_request_count(), 4);
    json_decref(rj);
    hl_free(r);
    hl_client_free(c);
}

static void test_option_headers(void)
{
    hl_client *c = tu_client(NULL);
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = start_wait(&a, c, "complete", TU_REQ,
                               "{\"headers\":{\"X-Custom\":\"v1\",\"User-Agent\":\"my-agent/1.0\","
                               "\"Accept\":\"application/x-test\",\"X-Empty-Ok\":\"a b\"}}",
                               10 * F);
    json_t *t = terminal_of(&a);
    CHECKF(tu_is_ok(t), "ok: %s", a.n ? a.raw[0] : "");
    json_decref(t);
    hl_call_free(call);
    tu_async_destroy(&a);
    /* a call without headers next: the library's own */
    tu_async_init(&a, 0);
    call = start_wait(&a, c, "complete", TU_REQ, NULL, 10 * F);
    hl_call_free(call);
    tu_async_destroy(&a);
    /* hl_call_run with headers */
    char *r = hl_call_run(c, "complete", TU_REQ, "{\"headers\":{\"X-Run\":\"yes\",\"user-agent\":\"run-agent\"}}");
    hl_free(r);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 3);
    json_t *r0 = json_array_get(reqs, 0), *r1 = json_array_get(reqs, 1), *r2 = json_array_get(reqs, 2);
    CHECK_STR(tu_req_header(r0, "X-Custom"), "v1");
    CHECK_STR(tu_req_header(r0, "User-Agent"), "my-agent/1.0");
    CHECK_INT(tu_req_header_count(r0, "User-Agent"), 1);
    CHECK_STR(tu_req_header(r0, "Accept"), "application/x-test");
    CHECK_INT(tu_req_header_count(r0, "Accept"), 1);
    CHECK_STR(tu_req_header(r0, "X-Empty-Ok"), "a b");
    CHECK_STR(tu_req_header(r0, "X-API-KEY"), TU_SECRET);
    CHECK_STR(tu_req_header(r0, "Content-Type"), "application/json");
    CHECKF(tu_req_header(r1, "X-Custom") == NULL, "per-call headers do not leak into the next call");
    CHECKF(tu_contains(tu_req_header(r1, "User-Agent"), "libhumanloop/"), "the default User-Agent: %s",
           tu_req_header(r1, "User-Agent") ? tu_req_header(r1, "User-Agent") : "none");
    CHECK_STR(tu_req_header(r2, "X-Run"), "yes");
    CHECK_STR(tu_req_header(r2, "User-Agent"), "run-agent");
    CHECK_INT(tu_req_header_count(r2, "User-Agent"), 1);
    json_decref(reqs);
    hl_client_free(c);
}

/* =========================================================================================== */
/* hl_call_run                                                                                 */
/* =========================================================================================== */

static void test_call_run_equals_blocking(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < 4; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        char *r = hl_call_run(c, NAMES[i], ep->minimal, NULL);
        json_t *rj = tu_parse_env(r);
        json_t *bj = tu_call(ep->call, c, ep->minimal, NULL);
        CHECKF(tu_is_ok(rj), "%s ok", NAMES[i]);
        check_same_envelope(rj, bj, NAMES[i]);
        json_decref(rj);
        json_decref(bj);
        hl_free(r);
        /* with options {} */
        r = hl_call_run(c, NAMES[i], ep->minimal, "{}");
        rj = tu_parse_env(r);
        CHECKF(tu_is_ok(rj), "%s with {} ok", NAMES[i]);
        json_decref(rj);
        hl_free(r);
    }
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 12);
    for (int i = 0; i < 12; i++) CHECK_STR(tu_str(json_array_get(reqs, i), "path"), TU_ENDPOINTS[i / 3].path);
    json_decref(reqs);
    /* "stream": true in the options: the merged envelope, as the blocking call with "stream" */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":" EVENTS3 "}},{\"stream\":{\"events\":" EVENTS3 "}}]");
    char *r = hl_call_run(c, "complete", TU_REQ, "{\"stream\":true}");
    json_t *rj = tu_parse_env(r);
    json_t *bj = tu_call(hl_complete, c, "{\"model_config\":" TU_MC ",\"stream\":true}", NULL);
    CHECKF(tu_is_ok(rj) && json_array_size(tu_get(rj, "events")) == 3, "merged envelope with 3 events: %.300s",
           r ? r : "NULL");
    check_same_envelope(rj, bj, "stream option vs stream request");
    json_decref(rj);
    json_decref(bj);
    hl_free(r);
    /* an api error: the same envelope */
    tu_reset();
    tu_script("[{\"status\":422,\"json\":{\"detail\":\"bad\"}},{\"status\":422,\"json\":{\"detail\":\"bad\"}}]");
    r = hl_call_run(c, "complete", TU_REQ, NULL);
    rj = tu_parse_env(r);
    bj = tu_call(hl_complete, c, TU_REQ, NULL);
    expect_error_type(rj, "api_error", "422");
    check_same_envelope(rj, bj, "422");
    json_decref(rj);
    json_decref(bj);
    hl_free(r);
    hl_client_free(c);
}

/* =========================================================================================== */
/* hl_stream_cancel                                                                            */
/* =========================================================================================== */

typedef struct {
    hl_stream *s;
    int n;
    char *items[16];
    double t_last;
} reader_t;

static void *reader(void *arg)
{
    reader_t *r = arg;
    char *raw;
    while ((raw = hl_stream_next(r->s)) != NULL) {
        if (r->n < 16) r->items[r->n] = raw;
        else hl_free(raw);
        r->n++;
        r->t_last = tu_now();
    }
    return NULL;
}

/* closed: the connection must be closed by the cancel (0 for a retry delay, where the 503's
 * connection may stay in the pool) */
static void stream_cancel_case(const char *script, int expect_events, int closed, const char *what)
{
    hl_client *c = tu_client(",\"max_retries\":2");
    CHECK_INT(tu_wait_stat("connections_open", 0, 2 * F), 0);
    tu_script("%s", script);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    reader_t r;
    memset(&r, 0, sizeof r);
    r.s = s;
    pthread_t th;
    pthread_create(&th, NULL, reader, &r);
    CHECK_INT(wait_requests(1, 3 * F), 1);
    tu_sleep(0.5);  /* the reader is blocked in hl_stream_next */
    double t0 = tu_now();
    hl_stream_cancel(s);
    hl_stream_cancel(s);
    pthread_join(th, NULL);  /* the reader got the terminal item and then NULL */
    double dt = r.t_last - t0;
    CHECKF(dt < 1.0 * F, "%s: the blocked hl_stream_next returned %.2fs after the cancel", what, dt);
    CHECKF(r.n == expect_events + 1, "%s: %d events then the terminal item (got %d items)", what, expect_events, r.n);
    if (r.n > 0 && r.n <= 16) {
        json_t *t = tu_parse_item(r.items[r.n - 1]);
        expect_cancelled(t, what);
        json_decref(t);
    }
    CHECKF(hl_stream_next(s) == NULL, "%s: NULL after the terminal item", what);
    hl_stream_cancel(s);  /* no effect now */
    CHECKF(hl_stream_next(s) == NULL, "%s: still NULL", what);
    if (closed) {
        long open = tu_wait_stat("connections_open", 0, 2 * F);
        CHECKF(open == 0, "%s: connection closed (%ld open)", what, open);
    }
    hl_stream_free(s);
    for (int i = 0; i < r.n && i < 16; i++) hl_free(r.items[i]);
    tu_sleep(0.2);
    CHECK_INT(tu_request_count(), 1);
    hl_client_free(c);
}

static void test_stream_cancel_while_blocked(void)
{
    stream_cancel_case("[{\"stream\":{\"events\":" EVENTS3 ",\"hold_after\":2,\"hold\":30}}]", 2, 1, "hold after 2");
    tu_reset();
    stream_cancel_case("[{\"delay\":30}]", 0, 1, "waiting for the answer");
    tu_reset();
    stream_cancel_case("[{\"status\":503,\"headers\":{\"Retry-After\":\"30\"},\"json\":{\"detail\":\"x\"}}]", 0,
                       0, "retry delay");
}

static void test_stream_cancel_before_and_after(void)
{
    hl_client *c = tu_client(NULL);
    /* before the first hl_stream_next: the first item is the cancelled one */
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    hl_stream_cancel(s);
    char *raw = hl_stream_next(s);
    json_t *t = tu_parse_item(raw);
    expect_cancelled(t, "cancel before next");
    json_decref(t);
    hl_free(raw);
    CHECK(hl_stream_next(s) == NULL);
    hl_stream_free(s);
    /* after the end: no effect */
    s = hl_complete_stream(c, TU_REQ);
    int n = 0, done = 0;
    while ((raw = hl_stream_next(s)) != NULL) {
        json_t *j = tu_parse_item(raw);
        if (tu_bool(j, "done") == 1) done = 1;
        json_decref(j);
        hl_free(raw);
        n++;
    }
    CHECK_INT(n, 5);
    CHECK(done);
    hl_stream_cancel(s);
    CHECK(hl_stream_next(s) == NULL);
    hl_stream_free(s);
    hl_client_free(c);
}

/* =========================================================================================== */
/* connections: keep-warm, Accept-Encoding, max_connections                                    */
/* =========================================================================================== */

#define DONE_STREAM "{\"stream\":{\"events\":" EVENTS3 ",\"done\":true},\"chunked\":true}"

static void check_one_connection(int nreq, const char *what)
{
    json_t *reqs = tu_requests();
    CHECKF((int)json_array_size(reqs) == nreq, "%s: %d requests", what, nreq);
    json_t *c0 = tu_get(json_array_get(reqs, 0), "connection");
    for (size_t i = 1; i < json_array_size(reqs); i++)
        CHECKF(json_equal(c0, tu_get(json_array_get(reqs, i), "connection")), "%s: request %zu on connection 1", what,
               i);
    json_decref(reqs);
    CHECKF(tu_stat("connections_opened") == 1, "%s: one connection opened (%ld)", what, tu_stat("connections_opened"));
}

static void test_keep_warm_after_done(void)
{
    /* hl_complete_stream read to [DONE], then a blocking call */
    hl_client *c = tu_client(NULL);
    tu_script("[" DONE_STREAM "]");
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    char *raw;
    int n = 0;
    json_t *last = NULL;
    while ((raw = hl_stream_next(s)) != NULL) {
        json_decref(last);
        last = tu_parse_item(raw);
        hl_free(raw);
        n++;
    }
    CHECK_INT(n, 4);
    CHECK(tu_bool(last, "done") == 1);
    json_decref(last);
    hl_stream_free(s);
    json_t *e = tu_call(hl_complete, c, TU_REQ, NULL);
    CHECK(tu_is_ok(e));
    json_decref(e);
    check_one_connection(2, "hl_complete_stream then hl_complete");
    hl_client_free(c);

    /* the blocking call with "stream": true, then another */
    c = tu_client(NULL);
    tu_reset();
    tu_script("[" DONE_STREAM "," DONE_STREAM "]");
    for (int i = 0; i < 2; i++) {
        e = tu_call(hl_complete, c, "{\"model_config\":" TU_MC ",\"stream\":true}", NULL);
        CHECK(tu_is_ok(e));
        json_decref(e);
    }
    e = tu_call(hl_complete, c, TU_REQ, NULL);
    json_decref(e);
    check_one_connection(3, "hl_complete with stream, twice, then hl_complete");
    hl_client_free(c);

    /* async stream calls one after another, then a plain async call */
    c = tu_client(NULL);
    tu_reset();
    tu_script("[" DONE_STREAM "," DONE_STREAM "]");
    for (int i = 0; i < 3; i++) {
        tu_async a;
        tu_async_init(&a, i < 2);
        hl_call *call = start_wait(&a, c, "complete", TU_REQ, i < 2 ? "{\"stream\":true}" : NULL, 10 * F);
        json_t *t = terminal_of(&a);
        CHECKF(tu_is_ok(t), "async call %d ok", i);
        if (i < 2) CHECK_JINT(t, "events", 3);
        json_decref(t);
        hl_call_free(call);
        tu_async_destroy(&a);
    }
    check_one_connection(3, "async streams then an async call");
    hl_client_free(c);

    /* over TLS: one handshake */
    if (tu_tls_port() > 0) {
        c = tu_tls_client(NULL);
        tu_tls_script("[" DONE_STREAM "]");
        s = hl_complete_stream(c, TU_REQ);
        while ((raw = hl_stream_next(s)) != NULL) hl_free(raw);
        hl_stream_free(s);
        e = tu_call(hl_complete, c, TU_REQ, NULL);
        CHECK(tu_is_ok(e));
        json_decref(e);
        CHECKF(tu_tls_stat("connections_opened") == 1, "TLS: one connection (%ld)", tu_tls_stat("connections_opened"));
        hl_client_free(c);
    }
}

/* An async call started just after a stream's [DONE], while the server has not yet ended that
 * body: it waits (briefly) for the connection instead of opening a second one; when the body does
 * not end soon, it opens one and does not wait for the stream's end. */
static void test_call_after_done_waits_briefly_for_the_connection(void)
{
    const double end_delays[2] = {0.005, 2.0};
    for (int round = 0; round < 2; round++) {
        hl_client *c = tu_client(NULL);
        tu_reset();
        char script[512];
        snprintf(script, sizeof script,
                 "[{\"stream\":{\"events\":" EVENTS3 ",\"done\":true,\"end_delay\":%g},\"chunked\":true}]",
                 end_delays[round]);
        tu_script(script);
        double t0 = tu_now();
        for (int i = 0; i < 2; i++) {
            tu_async a;
            tu_async_init(&a, i == 0);
            hl_call *call = start_wait(&a, c, "complete", TU_REQ, i == 0 ? "{\"stream\":true}" : NULL, 10 * F);
            json_t *t = terminal_of(&a);
            CHECKF(tu_is_ok(t), "round %d: call %d ok", round, i);
            json_decref(t);
            hl_call_free(call);
            tu_async_destroy(&a);
        }
        double took = tu_now() - t0;
        if (round == 0) {
            check_one_connection(2, "a call just after a stream's [DONE], body ended 5 ms later");
        } else {
            CHECKF(tu_stat("connections_opened") == 2, "body ended 2 s later: a second connection (%ld)",
                   tu_stat("connections_opened"));
            CHECKF(took < 1.5, "body ended 2 s later: the call did not wait for it (%.2f s)", took);
        }
        hl_client_free(c);
    }
}

static double process_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A call that waited for a draining connection and then waits for a retry (Retry-After: 1):
 * the engine sleeps through the delay (its wait for the drain is over and sets no deadline). */
static void test_retry_after_a_drain_wait_sleeps(void)
{
    hl_client *c = tu_client(",\"max_retries\":1");
    tu_reset();
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"done\":true,\"end_delay\":0.02},\"chunked\":true},"
              "{\"status\":503,\"headers\":{\"Retry-After\":\"1\"},\"json\":{\"detail\":\"busy\"}}]");
    for (int i = 0; i < 2; i++) {
        tu_async a;
        tu_async_init(&a, i == 0);
        double cpu0 = process_cpu_seconds(), t0 = tu_now();
        hl_call *call = start_wait(&a, c, "complete", TU_REQ, i == 0 ? "{\"stream\":true}" : NULL, 10 * F);
        json_t *t = terminal_of(&a);
        CHECKF(tu_is_ok(t), "call %d ok", i);
        json_decref(t);
        if (i == 1) {
            double cpu = process_cpu_seconds() - cpu0, wall = tu_now() - t0;
            CHECKF(wall >= 0.9, "the retry waited for Retry-After (%.2f s)", wall);
            CHECKF(cpu < 0.5 * wall, "the engine slept through the retry delay (%.2f s of CPU in %.2f s)", cpu, wall);
        }
        hl_call_free(call);
        tu_async_destroy(&a);
    }
    hl_client_free(c);
}

static void test_accept_encoding_gzip(void)
{
    hl_client *c = tu_client(NULL);
    /* the request carries Accept-Encoding with gzip (blocking, stream, async) */
    json_t *e = tu_call(hl_complete, c, TU_REQ, NULL);
    json_decref(e);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    char *raw;
    while ((raw = hl_stream_next(s)) != NULL) hl_free(raw);
    hl_stream_free(s);
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = start_wait(&a, c, "complete", TU_REQ, NULL, 10 * F);
    hl_call_free(call);
    tu_async_destroy(&a);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 3);
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        const char *ae = tu_req_header(json_array_get(reqs, i), "Accept-Encoding");
        CHECKF(tu_contains(ae, "gzip") && tu_contains(ae, "deflate"), "request %zu: Accept-Encoding %s", i,
               ae ? ae : "absent");
    }
    json_decref(reqs);

    /* a gzip body is decoded into the envelope (blocking and async) */
    char body[20000];
    strcpy(body, "{\"data\":[{\"id\":\"data_0\",\"index\":0,\"output\":\"");
    for (int i = 0; i < 300; i++) strcat(body, "llamas are friendly ");
    strcat(body, "\",\"finish_reason\":\"stop\"}],\"project_id\":\"pr_gz\",\"num\":0.70}");
    char *b64 = tu_gzip_b64(body);
    if (!CHECKF(b64 != NULL, "python3 made the gzip bytes")) {
        hl_client_free(c);
        return;
    }
    CHECKF(strlen(b64) < strlen(body) / 4, "the gzip body is small (%zu base64 chars for %zu bytes)", strlen(b64),
           strlen(body));
    tu_reset();
    const char *fmt = "{\"body_b64\":\"%s\",\"headers\":{\"Content-Type\":\"application/json\","
                      "\"Content-Encoding\":\"gzip\"}}";
    char *one = malloc(strlen(b64) + 200);
    sprintf(one, fmt, b64);
    tu_script("[%s,%s]", one, one);
    char *r = hl_complete(c, TU_REQ);
    json_t *rj = tu_parse_env(r);
    json_t *exp = tu_json(body);
    CHECKF(tu_is_ok(rj) && json_equal(tu_get(rj, "body"), exp), "blocking: the decoded body: %.300s", r ? r : "NULL");
    CHECKF(tu_contains(r, "\"num\":0.70"), "the decoded bytes reach the caller exactly");
    json_decref(rj);
    hl_free(r);
    tu_async_init(&a, 0);
    call = start_wait(&a, c, "complete", TU_REQ, NULL, 10 * F);
    json_t *t = terminal_of(&a);
    CHECKF(tu_is_ok(t) && json_equal(tu_get(t, "body"), exp), "async: the decoded body: %.300s",
           a.n ? a.raw[0] : "none");
    json_decref(t);
    hl_call_free(call);
    tu_async_destroy(&a);
    json_decref(exp);
    free(one);
    free(b64);
    hl_client_free(c);
}

static void run_concurrent(hl_client *c, int n, int *ok, double *wall)
{
    tu_async *as = calloc((size_t)n, sizeof *as);
    hl_call **calls = calloc((size_t)n, sizeof *calls);
    double t0 = tu_now();
    for (int i = 0; i < n; i++) {
        tu_async_init(&as[i], 0);
        calls[i] = tu_async_start(&as[i], c, "complete", TU_REQ, NULL);
    }
    *ok = 0;
    for (int i = 0; i < n; i++) {
        if (tu_async_wait(&as[i], 20 * F)) {
            json_t *t = terminal_of(&as[i]);
            if (tu_is_ok(t)) (*ok)++;
            json_decref(t);
        }
    }
    *wall = tu_now() - t0;
    for (int i = 0; i < n; i++) {
        hl_call_free(calls[i]);
        tu_async_destroy(&as[i]);
    }
    free(as);
    free(calls);
}

static void test_max_connections(void)
{
    enum { N = 10 };
    const char *d = "{\"delay\":0.5}";
    char script[512] = "[";
    for (int i = 0; i < N; i++) {
        strcat(script, d);
        strcat(script, i + 1 < N ? "," : "]");
    }
    hl_client *c = tu_client(",\"max_connections\":2");
    tu_script("%s", script);
    int ok;
    double wall;
    run_concurrent(c, N, &ok, &wall);
    CHECK_INT(ok, N);
    long opened = tu_stat("connections_opened");
    CHECKF(opened >= 1 && opened <= 2, "max_connections 2: %ld connections opened", opened);
    CHECKF(wall >= 2.0, "10 calls of 0.5 s over 2 connections take >= 2.5 s (%.2fs)", wall);
    /* the connection ids the server saw */
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), N);
    json_decref(reqs);
    hl_client_free(c);

    /* the default (1000): the 10 calls run at once */
    tu_reset();
    c = tu_client(NULL);
    tu_script("%s", script);
    run_concurrent(c, N, &ok, &wall);
    CHECK_INT(ok, N);
    opened = tu_stat("connections_opened");
    CHECKF(opened >= N / 2, "default max_connections: %ld connections for 10 concurrent calls", opened);
    CHECKF(wall < 2.0 * F, "10 concurrent calls of 0.5 s in %.2fs", wall);
    hl_client_free(c);

    /* a queued call's "timeout" runs while it waits for the connection */
    tu_reset();
    c = tu_client(",\"max_connections\":1,\"max_retries\":0");
    tu_script("[{\"delay\":3}]");
    tu_async busy, queued;
    tu_async_init(&busy, 0);
    tu_async_init(&queued, 0);
    hl_call *cb = tu_async_start(&busy, c, "complete", TU_REQ, NULL);
    CHECK_INT(wait_requests(1, 3 * F), 1);
    double t0 = tu_now();
    hl_call *cq = tu_async_start(&queued, c, "complete", TU_REQ, "{\"timeout\":0.5}");
    CHECKF(tu_async_wait(&queued, 2.5 * F), "the queued call times out while it waits");
    if (!queued.terminal) {
        tu_async_wait(&queued, 10 * F);
        tu_note("queued call: terminal after %.2fs: %.300s", queued.terminal ? queued.t_terminal - t0 : -1.0,
                queued.n ? queued.raw[0] : "none");
    }
    double dt = queued.t_terminal - t0;
    CHECKF(dt >= 0.45 && dt < 2.5 * F, "queued call: timeout after %.2fs", dt);
    json_t *qt = terminal_of(&queued);
    expect_error_type(qt, "timeout", "queued call with timeout 0.5");
    json_decref(qt);
    CHECKF(tu_async_wait(&busy, 5 * F), "the busy call ends");
    json_t *bt = terminal_of(&busy);
    CHECKF(tu_is_ok(bt), "the busy call is ok");
    json_decref(bt);
    CHECK_INT(tu_request_count(), 1);
    hl_call_free(cb);
    hl_call_free(cq);
    tu_async_destroy(&busy);
    tu_async_destroy(&queued);
    hl_client_free(c);
}

/* max_connections also caps the blocking calls' connections: 6 threads calling hl_complete at once
 * through a client with max_connections 2 use 2 connections, the others wait; a waiting call's
 * timeout runs while it waits (nothing sent, attempts 0). */
typedef struct {
    hl_client *client;
    const char *options;
    char *envelope;
} blocking_job_t;

static void *blocking_job(void *arg)
{
    blocking_job_t *job = arg;
    job->envelope = hl_call_run(job->client, "complete", TU_REQ, job->options);
    return NULL;
}

static void test_max_connections_blocking(void)
{
    enum { N = 6 };
    tu_reset();
    hl_client *c = tu_client(",\"max_connections\":2,\"max_retries\":0");
    tu_script("[{\"delay\":0.4},{\"delay\":0.4},{\"delay\":0.4},{\"delay\":0.4},{\"delay\":0.4},{\"delay\":0.4}]");
    pthread_t th[N];
    blocking_job_t jobs[N];
    double t0 = tu_now();
    for (int i = 0; i < N; i++) {
        jobs[i] = (blocking_job_t){c, NULL, NULL};
        pthread_create(&th[i], NULL, blocking_job, &jobs[i]);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        json_t *e = tu_parse_env(jobs[i].envelope);
        if (tu_is_ok(e)) ok++;
        json_decref(e);
        hl_free(jobs[i].envelope);
    }
    double wall = tu_now() - t0;
    CHECK_INT(ok, N);
    long opened = tu_stat("connections_opened");
    CHECKF(opened >= 1 && opened <= 2, "blocking calls with max_connections 2: %ld connections opened", opened);
    CHECKF(wall >= 1.1, "6 calls of 0.4 s over 2 connections take >= 1.2 s (%.2fs)", wall);

    /* a blocking call waiting for the only connection times out by its own timeout */
    hl_client *c1 = tu_client(",\"max_connections\":1,\"max_retries\":0");
    tu_reset();
    tu_script("[{\"delay\":2}]");
    blocking_job_t busy = {c1, NULL, NULL}, queued = {c1, "{\"timeout\":0.3}", NULL};
    pthread_t tb, tq;
    pthread_create(&tb, NULL, blocking_job, &busy);
    CHECK_INT(wait_requests(1, 3 * F), 1);
    double tq0 = tu_now();
    pthread_create(&tq, NULL, blocking_job, &queued);
    pthread_join(tq, NULL);
    double dq = tu_now() - tq0;
    json_t *qe = tu_parse_env(queued.envelope);
    CHECK_STR(tu_err_type(qe), "timeout");
    CHECKF(tu_contains(tu_str(qe, "error.message"), "max_connections"), "%s", queued.envelope);
    CHECK_JINT(qe, "attempts", 0);
    CHECKF(dq < 1.5 * F, "the waiting call timed out after %.2fs (timeout 0.3 s)", dq);
    json_decref(qe);
    hl_free(queued.envelope);
    pthread_join(tb, NULL);
    json_t *be = tu_parse_env(busy.envelope);
    CHECKF(tu_is_ok(be), "%s", busy.envelope);
    json_decref(be);
    hl_free(busy.envelope);
    CHECK_INT(tu_request_count(), 1);
    hl_client_free(c1);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_async_equals_blocking);
    RUN(test_async_stream);
    RUN(test_validation_via_callback);
    RUN(test_cancel_before_start);
    RUN(test_cancel_during_connect);
    RUN(test_cancel_waiting_for_answer);
    RUN(test_cancel_mid_body);
    RUN(test_cancel_during_retry_delay);
    RUN(test_cancel_mid_stream);
    RUN(test_cancel_after_end);
    RUN(test_cancel_from_callback);
    RUN(test_cancel_concurrently);
    RUN(test_free_in_callback);
    RUN(test_free_from_other_thread);
    RUN(test_client_free_in_flight);
    RUN(test_call_started_during_client_free_gets_its_item);
    RUN(test_option_timeout);
    RUN(test_option_max_retries);
    RUN(test_option_headers);
    RUN(test_call_run_equals_blocking);
    RUN(test_stream_cancel_while_blocked);
    RUN(test_stream_cancel_before_and_after);
    RUN(test_keep_warm_after_done);
    RUN(test_call_after_done_waits_briefly_for_the_connection);
    RUN(test_retry_after_a_drain_wait_sleeps);
    RUN(test_accept_encoding_gzip);
    RUN(test_max_connections);
    RUN(test_max_connections_blocking);
    RUN(test_many_async_calls_threads_streams_cancels);
    RUN(test_callback_reentrancy);
    return tu_finish();
}
