/*
 * test_batch.c — hl_batch: results in request order, each exactly what the single
 * call returns, per-item errors while the others run, a malformed batch as one invalid_request
 * (nothing sent), empty batches, the concurrency cap (counted at the server from request times
 * and connections; default 16), batches from several threads sharing a client's engine.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F tu_factor()

/* A growing string. */
typedef struct {
    char *s;
    size_t len, cap;
} sb_t;

static void sb_add(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void sb_add(sb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        b->s = realloc(b->s, cap);
        b->cap = cap;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    va_end(ap);
}

/* Run a batch; the parsed result (new reference) and the raw text in *raw (malloc'd) if asked. */
static json_t *batch(hl_client *c, const char *text, char **raw)
{
    char *r = hl_batch(c, text);
    json_t *j = tu_parse_env(r);
    if (raw) *raw = r ? strdup(r) : NULL;
    hl_free(r);
    return j;
}

static json_t *result(json_t *b, size_t i) { return json_array_get(tu_get(b, "results"), i); }

/* Each result is a well-formed envelope (no key, ok boolean, known error type). */
static void check_results_wellformed(json_t *b)
{
    json_t *rs = tu_get(b, "results");
    size_t i;
    json_t *r;
    json_array_foreach(rs, i, r) {
        char *d = json_dumps(r, JSON_COMPACT);
        json_t *p = tu_parse_env(d);
        json_decref(p);
        free(d);
    }
}

static void same_envelope(json_t *a, json_t *b, const char *what)
{
    char *da = a ? json_dumps(a, JSON_COMPACT) : NULL, *db = b ? json_dumps(b, JSON_COMPACT) : NULL;
    int same = a && b && json_equal(json_object_get(a, "ok"), json_object_get(b, "ok")) &&
               json_equal(json_object_get(a, "attempts"), json_object_get(b, "attempts")) &&
               (json_equal(json_object_get(a, "status"), json_object_get(b, "status")) ||
                (!json_object_get(a, "status") && !json_object_get(b, "status"))) &&
               (json_equal(json_object_get(a, "body"), json_object_get(b, "body")) ||
                (!json_object_get(a, "body") && !json_object_get(b, "body"))) &&
               (json_equal(json_object_get(a, "events"), json_object_get(b, "events")) ||
                (!json_object_get(a, "events") && !json_object_get(b, "events"))) &&
               (json_equal(tu_get(a, "error.type"), tu_get(b, "error.type")) ||
                (!tu_get(a, "error.type") && !tu_get(b, "error.type"))) &&
               (json_equal(tu_get(a, "error.errors"), tu_get(b, "error.errors")) ||
                (!tu_get(a, "error.errors") && !tu_get(b, "error.errors")));
    CHECKF(same, "%s: not the same envelope:\n   %.500s\n   %.500s", what, da ? da : "NULL", db ? db : "NULL");
    free(da);
    free(db);
}

/* ---- ordering ------------------------------------------------------------------------------ */

/* 20 requests, each echoing its index in "inputs"; the first 10 answered with decreasing
 * delays (so they finish in reverse order); results come back in request order. */
static void test_batch_order(void)
{
    hl_client *c = tu_client(NULL);
    sb_t s = {0};
    sb_add(&s, "[");
    for (int i = 0; i < 10; i++) sb_add(&s, "%s{\"delay\":%.2f}", i ? "," : "", 0.05 * (10 - i));
    sb_add(&s, "]");
    tu_script("%s", s.s);
    free(s.s);
    sb_t b = {0};
    sb_add(&b, "{\"concurrency\":10,\"requests\":[");
    for (int i = 0; i < 20; i++)
        sb_add(&b, "%s{\"call\":\"complete\",\"request\":{\"model_config\":" TU_MC ",\"inputs\":{\"i\":\"%d\"}}}",
               i ? "," : "", i);
    sb_add(&b, "]}");
    char *raw = NULL;
    json_t *r = batch(c, b.s, &raw);
    free(b.s);
    CHECKF(tu_is_ok(r), "ok: %.300s", raw ? raw : "NULL");
    CHECK_INT(json_array_size(tu_get(r, "results")), 20);
    CHECKF(json_object_size(r) == 2, "exactly ok and results: %.200s", raw ? raw : "");
    for (int i = 0; i < 20; i++) {
        char exp[16];
        snprintf(exp, sizeof exp, "%d", i);
        json_t *e = result(r, (size_t)i);
        CHECKF(tu_is_ok(e) && tu_str(e, "body.data[0].inputs.i") && strcmp(tu_str(e, "body.data[0].inputs.i"), exp) == 0,
               "result %d answers request %d: %.200s", i, i,
               tu_str(e, "body.data[0].inputs.i") ? tu_str(e, "body.data[0].inputs.i") : "?");
        CHECK_JINT(e, "status", 200);
    }
    check_results_wellformed(r);
    CHECK_INT(tu_request_count(), 20);
    json_decref(r);
    free(raw);
    hl_client_free(c);
}

/* Each result is what the single call returns: all four calls, an api error (concurrency 1
 * so the scripted answers map to items), stream: true in options (merged envelope). */
static void test_batch_items_equal_single_calls(void)
{
    hl_client *c = tu_client(",\"max_retries\":0");
    static const char *names[4] = {"complete", "complete_deployed", "complete_experiment",
                                   "complete_model_configuration"};
    const char *script = "[{},{},{\"status\":404,\"json\":{\"detail\":\"Not here\"}},{},"
                         "{\"stream\":{\"events\":[{\"data\":[{\"index\":0,\"output\":\"a\"}]},"
                         "{\"data\":[{\"index\":0,\"output\":\"b\"}]}]}}]";
    tu_script("%s", script);
    sb_t b = {0};
    sb_add(&b, "{\"concurrency\":1,\"requests\":[");
    for (int i = 0; i < 4; i++)
        sb_add(&b, "{\"call\":\"%s\",\"request\":%s},", names[i], TU_ENDPOINTS[i].minimal);
    sb_add(&b, "{\"call\":\"complete\",\"request\":%s,\"options\":{\"stream\":true}}]}", TU_REQ);
    char *raw = NULL;
    json_t *r = batch(c, b.s, &raw);
    CHECKF(tu_is_ok(r) && json_array_size(tu_get(r, "results")) == 5, "5 results: %.300s", raw ? raw : "NULL");
    check_results_wellformed(r);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 5);
    for (int i = 0; i < 4; i++) CHECK_STR(tu_str(json_array_get(reqs, i), "path"), TU_ENDPOINTS[i].path);
    json_decref(reqs);
    /* the same requests one by one */
    tu_reset();
    tu_script("%s", script);
    for (int i = 0; i < 5; i++) {
        char *single = hl_call_run(c, i < 4 ? names[i] : "complete", i < 4 ? TU_ENDPOINTS[i].minimal : TU_REQ,
                                   i < 4 ? NULL : "{\"stream\":true}");
        json_t *sj = tu_parse_env(single);
        char what[64];
        snprintf(what, sizeof what, "item %d", i);
        same_envelope(result(r, (size_t)i), sj, what);
        json_decref(sj);
        hl_free(single);
    }
    json_t *e2 = result(r, 2);
    CHECK_STR(tu_err_type(e2), "api_error");
    CHECK_JINT(e2, "error.status", 404);
    json_t *e4 = result(r, 4);
    CHECKF(tu_is_ok(e4) && json_array_size(tu_get(e4, "events")) == 2, "stream item: merged envelope with 2 events");
    json_decref(r);
    free(raw);
    free(b.s);
    hl_client_free(c);
}

/* Bad items get their own errors; the others run. */
static void test_batch_item_errors(void)
{
    hl_client *c = tu_client(NULL);
    const char *text =
        "{\"requests\":["
        "{\"call\":\"complete\",\"request\":" TU_REQ "},"                                       /* 0 ok */
        "{\"call\":\"bogus\",\"request\":" TU_REQ "},"                                          /* 1 bad call */
        "{\"call\":\"complete\",\"request\":{\"bogus\":1,\"model_config\":" TU_MC "}},"         /* 2 bad request */
        "{\"call\":\"complete_experiment\",\"request\":{}},"                                    /* 3 missing field */
        "{\"call\":\"complete\",\"request\":" TU_REQ ",\"options\":{\"bogus\":1}},"             /* 4 bad options */
        "{\"call\":\"complete\",\"request\":" TU_REQ ",\"options\":{\"headers\":{\"Host\":\"x\"}}}," /* 5 */
        "{\"call\":\"complete_deployed\",\"request\":{\"project\":\"p\"}},"                     /* 6 ok */
        "{\"call\":\"complete\",\"request\":" TU_REQ ",\"options\":{\"timeout\":0}},"           /* 7 bad option */
        "{\"call\":\"complete\",\"request\":" TU_REQ ",\"options\":{\"max_retries\":1}}"        /* 8 ok */
        "]}";
    char *raw = NULL;
    json_t *r = batch(c, text, &raw);
    CHECKF(tu_is_ok(r), "the batch is ok: %.300s", raw ? raw : "NULL");
    CHECK_INT(json_array_size(tu_get(r, "results")), 9);
    check_results_wellformed(r);
    int oks[] = {0, 6, 8};
    for (int k = 0; k < 3; k++) CHECKF(tu_is_ok(result(r, (size_t)oks[k])), "item %d ok", oks[k]);
    int bads[] = {1, 2, 3, 4, 5, 7};
    for (int k = 0; k < 6; k++) {
        json_t *e = result(r, (size_t)bads[k]);
        CHECKF(tu_err_type(e) && strcmp(tu_err_type(e), "invalid_request") == 0, "item %d invalid_request", bads[k]);
        CHECK_JINT(e, "attempts", 0);
    }
    CHECKF(tu_errors_have_path(result(r, 2), "bogus"), "item 2 names \"bogus\"");
    CHECKF(tu_errors_have_path(result(r, 3), "experiment_id"), "item 3 names experiment_id");
    CHECKF(tu_errors_have_path(result(r, 4), "options.bogus"), "item 4 names options.bogus");
    CHECKF(tu_errors_have_path(result(r, 7), "options.timeout"), "item 7 names options.timeout");
    /* each bad item's envelope equals the single call's */
    char *single = hl_call_run(c, "complete", "{\"bogus\":1,\"model_config\":" TU_MC "}", NULL);
    json_t *sj = tu_parse_env(single);
    same_envelope(result(r, 2), sj, "item 2");
    json_decref(sj);
    hl_free(single);
    single = hl_call_run(c, "complete", TU_REQ, "{\"bogus\":1}");
    sj = tu_parse_env(single);
    same_envelope(result(r, 4), sj, "item 4");
    json_decref(sj);
    hl_free(single);
    CHECK_INT(tu_request_count(), 3);
    json_decref(r);
    free(raw);
    hl_client_free(c);
}

/* A malformed batch is one invalid_request envelope and nothing runs. */
static void test_batch_malformed(void)
{
    static const char *cases[] = {
        "{",
        "",
        "[]",
        "\"requests\"",
        "null",
        "{\"requests\":{}}",
        "{\"requests\":\"x\"}",
        "{\"requests\":null}",
        "{\"requests\":[],\"bogus\":1}",
        "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}],\"bogus\":1}",
        "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}],\"concurrency\":0}",
        "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}],\"concurrency\":-1}",
        "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}],\"concurrency\":10001}",
        "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}],\"concurrency\":1.5}",
        "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}],\"concurrency\":\"4\"}",
        "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "}],\"concurrency\":null}",
    };
    hl_client *c = tu_client(NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *raw = NULL;
        json_t *r = batch(c, cases[i], &raw);
        CHECKF(tu_bool(r, "ok") == 0 && tu_err_type(r) && strcmp(tu_err_type(r), "invalid_request") == 0,
               "%s -> one invalid_request: %.300s", cases[i], raw ? raw : "NULL");
        CHECKF(tu_get(r, "results") == NULL, "%s: no results", cases[i]);
        json_decref(r);
        free(raw);
    }
    /* NULL */
    char *raw = NULL;
    json_t *r = batch(c, NULL, &raw);
    CHECKF(tu_err_type(r) && strcmp(tu_err_type(r), "invalid_request") == 0, "NULL -> invalid_request: %s",
           raw ? raw : "NULL");
    json_decref(r);
    free(raw);
    /* paths name the problems */
    r = batch(c, "{\"requests\":[],\"concurrency\":0,\"bogus\":1}", &raw);
    CHECKF(tu_errors_have_path(r, "concurrency") && tu_errors_have_path(r, "bogus"),
           "errors name concurrency and bogus: %.300s", raw ? raw : "NULL");
    json_decref(r);
    free(raw);
    tu_sleep(0.2);
    CHECK_INT(tu_request_count(), 0);
    hl_client_free(c);
}

static void test_batch_empty(void)
{
    hl_client *c = tu_client(NULL);
    const char *cases[] = {"{\"requests\":[]}", "{\"concurrency\":5,\"requests\":[]}",
                           "{\"requests\":[],\"concurrency\":10000}"};
    for (int i = 0; i < 3; i++) {
        char *r = hl_batch(c, cases[i]);
        CHECKF(r && strcmp(r, "{\"ok\":true,\"results\":[]}") == 0, "%s -> %s", cases[i], r ? r : "NULL");
        hl_free(r);
    }
    CHECK_INT(tu_request_count(), 0);
    hl_client_free(c);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

/* The most requests the server held at once: request i is in flight at least from its
 * arrival time t_i for `delay` seconds (the server waits that long before answering). */
static int max_in_flight(json_t *reqs, double delay)
{
    size_t n = json_array_size(reqs);
    int best = 0;
    for (size_t j = 0; j < n; j++) {
        double tj = json_number_value(tu_get(json_array_get(reqs, j), "time"));
        int k = 0;
        for (size_t i = 0; i < n; i++) {
            double ti = json_number_value(tu_get(json_array_get(reqs, i), "time"));
            if (ti <= tj && tj < ti + delay) k++;
        }
        if (k > best) best = k;
    }
    return best;
}

static int distinct_connections(json_t *reqs)
{
    size_t n = json_array_size(reqs);
    int d = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *ci = tu_get(json_array_get(reqs, i), "connection");
        int seen = 0;
        for (size_t k = 0; k < i; k++)
            if (json_equal(ci, tu_get(json_array_get(reqs, k), "connection"))) seen = 1;
        if (!seen) d++;
    }
    return d;
}

static void concurrency_case(int conc, int n, double delay)
{
    hl_client *c = tu_client(NULL);
    tu_reset();
    sb_t s = {0};
    sb_add(&s, "[");
    for (int i = 0; i < n; i++) sb_add(&s, "%s{\"delay\":%g}", i ? "," : "", delay);
    sb_add(&s, "]");
    tu_script("%s", s.s);
    free(s.s);
    sb_t b = {0};
    if (conc > 0)
        sb_add(&b, "{\"concurrency\":%d,\"requests\":[", conc);
    else
        sb_add(&b, "{\"requests\":[");
    for (int i = 0; i < n; i++) sb_add(&b, "%s{\"call\":\"complete\",\"request\":" TU_REQ "}", i ? "," : "");
    sb_add(&b, "]}");
    double t0 = tu_now();
    json_t *r = batch(c, b.s, NULL);
    double wall = tu_now() - t0;
    free(b.s);
    int eff = conc > 0 ? conc : 16;
    int ok = 0;
    for (int i = 0; i < n; i++) ok += tu_is_ok(result(r, (size_t)i));
    CHECK_INT(ok, n);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), n);
    int m = max_in_flight(reqs, delay);
    int conns = distinct_connections(reqs);
    tu_note("concurrency %d%s: %d requests of %.2fs: max %d in flight at the server, %d connections, %.2fs", eff,
            conc > 0 ? "" : " (default)", n, delay, m, conns, wall);
    CHECKF(m <= eff, "at most %d in flight (saw %d)", eff, m);
    CHECKF(m >= eff - (eff > 2 ? 2 : 0) && m >= 1, "about %d in flight (saw %d): the batch runs concurrently", eff, m);
    CHECKF(conns <= eff, "at most %d connections (saw %d)", eff, conns);
    double rounds = (double)((n + eff - 1) / eff);
    CHECKF(wall >= rounds * delay - 0.05, "%.0f rounds of %.2fs take >= %.2fs (%.2fs)", rounds, delay, rounds * delay,
           wall);
    CHECKF(wall < (rounds + 2) * delay * F + 1.0, "and not much more (%.2fs)", wall);
    json_decref(reqs);
    json_decref(r);
    hl_client_free(c);
}

static void test_batch_concurrency(void)
{
    concurrency_case(3, 12, 0.4);
    concurrency_case(1, 4, 0.3);
}

static void test_batch_default_concurrency_16(void) { concurrency_case(0, 40, 0.5); }

/* A batch with one slow item does not hold back the others (concurrency 4): the slow item's
 * per-item timeout ends it. */
static void test_batch_item_options(void)
{
    hl_client *c = tu_client(",\"timeout\":30,\"max_retries\":0");
    tu_script("[{\"delay\":5}]");
    const char *text = "{\"concurrency\":1,\"requests\":["
                       "{\"call\":\"complete\",\"request\":" TU_REQ ",\"options\":{\"timeout\":0.4}},"
                       "{\"call\":\"complete\",\"request\":" TU_REQ ",\"options\":{\"headers\":{\"X-Item\":\"2\"}}}"
                       "]}";
    double t0 = tu_now();
    char *raw = NULL;
    json_t *r = batch(c, text, &raw);
    double wall = tu_now() - t0;
    CHECKF(tu_err_type(result(r, 0)) && strcmp(tu_err_type(result(r, 0)), "timeout") == 0,
           "item 0 timed out per its options: %.300s", raw ? raw : "NULL");
    CHECK(tu_is_ok(result(r, 1)));
    CHECKF(wall < 3.0 * F, "the batch took %.2fs (item timeout 0.4 s, server delay 5 s)", wall);
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 2);
    CHECK_STR(tu_req_header(json_array_get(reqs, 1), "X-Item"), "2");
    CHECKF(tu_req_header(json_array_get(reqs, 0), "X-Item") == NULL, "item 0 has no X-Item");
    json_decref(reqs);
    json_decref(r);
    free(raw);
    hl_client_free(c);
}

/* ---- threads -------------------------------------------------------------------------------- */

typedef struct {
    hl_client *c;
    int id, n;
    int good;
    char first_bad[300];
} bt_t;

static void *batch_thread(void *arg)
{
    bt_t *t = arg;
    sb_t b = {0};
    sb_add(&b, "{\"concurrency\":8,\"requests\":[");
    for (int i = 0; i < t->n; i++)
        sb_add(&b, "%s{\"call\":\"complete\",\"request\":{\"model_config\":" TU_MC ",\"inputs\":{\"k\":\"%d-%d\"}}%s}",
               i ? "," : "", t->id, i, i % 5 == 4 ? ",\"options\":{\"stream\":true}" : "");
    sb_add(&b, "]}");
    char *r = hl_batch(t->c, b.s);
    free(b.s);
    json_t *j = r ? tu_json(r) : NULL;
    json_t *rs = json_object_get(j, "results");
    for (int i = 0; i < t->n; i++) {
        json_t *e = json_array_get(rs, (size_t)i);
        char exp[32];
        snprintf(exp, sizeof exp, "%d-%d", t->id, i);
        int ok;
        if (i % 5 == 4) /* stream: merged body, default events (no inputs echo) */
            ok = e && json_is_true(json_object_get(e, "ok")) && json_array_size(json_object_get(e, "events")) == 4;
        else
            ok = e && json_is_true(json_object_get(e, "ok")) && tu_str(e, "body.data[0].inputs.k") &&
                 strcmp(tu_str(e, "body.data[0].inputs.k"), exp) == 0;
        if (ok)
            t->good++;
        else if (!t->first_bad[0])
            snprintf(t->first_bad, sizeof t->first_bad, "item %d: %.250s", i, r ? r : "NULL");
    }
    json_decref(j);
    hl_free(r);
    return NULL;
}

static void ignore_cb(hl_call *call, int kind, const char *item, size_t len, void *ud)
{
    (void)call;
    (void)kind;
    (void)len;
    int *count = ud;
    json_t *j = json_loads(item, 0, NULL);
    if (j && json_is_true(json_object_get(j, "ok"))) __atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
    json_decref(j);
}

static void test_batches_from_threads(void)
{
    enum { T = 4, N = 50, A = 50 };
    hl_client *c = tu_client(NULL);
    pthread_t th[T];
    bt_t bt[T];
    memset(bt, 0, sizeof bt);
    int async_ok = 0;
    hl_call *calls[A];
    for (int i = 0; i < T; i++) {
        bt[i].c = c;
        bt[i].id = i;
        bt[i].n = N;
        pthread_create(&th[i], NULL, batch_thread, &bt[i]);
    }
    /* asynchronous calls on the same engine meanwhile */
    for (int i = 0; i < A; i++) calls[i] = hl_call_start(c, "complete", TU_REQ, NULL, ignore_cb, &async_ok);
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECKF(bt[i].good == N, "thread %d: %d of %d results right; first bad: %s", i, bt[i].good, N, bt[i].first_bad);
    }
    double end = tu_now() + 10 * F;
    while (__atomic_load_n(&async_ok, __ATOMIC_SEQ_CST) < A && tu_now() < end) tu_sleep(0.01);
    CHECK_INT(__atomic_load_n(&async_ok, __ATOMIC_SEQ_CST), A);
    for (int i = 0; i < A; i++) hl_call_free(calls[i]);
    CHECK_INT(tu_request_count(), T * N + A);
    hl_client_free(c);
}

/* A large batch: 500 calls at concurrency 50, all ok, in order. */
static void test_batch_large(void)
{
    int n = getenv("VALGRIND") && strcmp(getenv("VALGRIND"), "1") == 0 ? 100 : 500;
    hl_client *c = tu_client(NULL);
    sb_t b = {0};
    sb_add(&b, "{\"concurrency\":50,\"requests\":[");
    for (int i = 0; i < n; i++)
        sb_add(&b, "%s{\"call\":\"complete\",\"request\":{\"model_config\":" TU_MC ",\"inputs\":{\"i\":\"%d\"}}}",
               i ? "," : "", i);
    sb_add(&b, "]}");
    double t0 = tu_now();
    json_t *r = batch(c, b.s, NULL);
    double wall = tu_now() - t0;
    free(b.s);
    int good = 0;
    for (int i = 0; i < n; i++) {
        char exp[16];
        snprintf(exp, sizeof exp, "%d", i);
        const char *got = tu_str(result(r, (size_t)i), "body.data[0].inputs.i");
        if (got && strcmp(got, exp) == 0) good++;
    }
    CHECK_INT(good, n);
    long opened = tu_stat("connections_opened");
    tu_note("%d calls in %.2fs over %ld connections", n, wall, opened);
    CHECKF(opened <= 50, "at most 50 connections (%ld)", opened);
    json_decref(r);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_batch_order);
    RUN(test_batch_items_equal_single_calls);
    RUN(test_batch_item_errors);
    RUN(test_batch_malformed);
    RUN(test_batch_empty);
    RUN(test_batch_concurrency);
    RUN(test_batch_default_concurrency_16);
    RUN(test_batch_item_options);
    RUN(test_batches_from_threads);
    RUN(test_batch_large);
    return tu_finish();
}
