/*
 * test_faults.c — hostile and broken servers (fault injection): refused and hanging
 * connections, stalls, connections closed mid-headers / mid-body / mid-stream, broken framing,
 * bodies that are not a JSON object, oversized bodies, retried and non-retried statuses with
 * every form of Retry-After, redirects, endless and huge event streams.
 *
 * Every scenario asserts the exact envelope type and message (a prefix where libcurl's own
 * wording follows), the number of attempts ("attempts" is checked in every envelope), and
 * that the call ended within its time bound (scaled by tu_factor() under valgrind).
 *
 * Every client here carries the test API key and client-level provider keys, and every request
 * carries per-request provider keys: no string the library returns may contain any of them.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- secrets ----------------------------------------------------------------------------- */

#define CLIENT_KEYS                                                                               \
    ",\"openai_api_key\":\"sk-openai-CLIENTKEY-f00d01\",\"anthropic_api_key\":\"sk-ant-CLIENTKEY-f00d02\"" \
    ",\"cohere_api_key\":\"co-CLIENTKEY-f00d03\",\"ai21_api_key\":\"ai21-CLIENTKEY-f00d04\""            \
    ",\"mock_api_key\":\"mock-CLIENTKEY-f00d05\",\"openai_azure_api_key\":\"azure-CLIENTKEY-f00d06\""   \
    ",\"openai_azure_endpoint_api_key\":\"azure-ep-CLIENTKEY-f00d07\""

#define REQUEST_KEYS                                                                               \
    "\"provider_api_keys\":{\"openai\":\"sk-openai-REQUESTKEY-beef01\",\"anthropic\":\"sk-ant-REQUESTKEY-beef02\"," \
    "\"cohere\":\"co-REQUESTKEY-beef03\",\"mock\":\"mock-REQUESTKEY-beef04\"}"

static const char *SECRETS[] = {
    TU_SECRET,
    "sk-openai-CLIENTKEY-f00d01", "sk-ant-CLIENTKEY-f00d02", "co-CLIENTKEY-f00d03", "ai21-CLIENTKEY-f00d04",
    "mock-CLIENTKEY-f00d05", "azure-CLIENTKEY-f00d06", "azure-ep-CLIENTKEY-f00d07",
    "sk-openai-REQUESTKEY-beef01", "sk-ant-REQUESTKEY-beef02", "co-REQUESTKEY-beef03", "mock-REQUESTKEY-beef04",
    /* the distinctive parts alone (a key cut short or re-encoded must not show either) */
    "CLIENTKEY", "REQUESTKEY",
};
#define NSECRETS (sizeof SECRETS / sizeof SECRETS[0])

/* The request of every blocking /completion call here. */
#define REQ "{\"model_config\":" TU_MC ",\"inputs\":{\"question\":\"q\"}," REQUEST_KEYS "}"
#define REQ_STREAM "{\"model_config\":" TU_MC ",\"inputs\":{\"question\":\"q\"},\"stream\":true," REQUEST_KEYS "}"

/* The same for each endpoint (index as TU_ENDPOINTS). */
static const char *EP_REQ[4] = {
    REQ,
    "{\"project\":\"sdk-example\"," REQUEST_KEYS "}",
    "{\"experiment_id\":\"exp_6Jq1k2dRr0sVwZpX4yNcA\"," REQUEST_KEYS "}",
    "{\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\"," REQUEST_KEYS "}",
};

/* Three small events. */
#define E1 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\"one\",\"finish_reason\":null}],\"project_id\":\"pr_f\"}"
#define E2 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\"two\",\"finish_reason\":null}],\"project_id\":\"pr_f\"}"
#define E3 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\"six\",\"finish_reason\":\"stop\"}],\"project_id\":\"pr_f\"}"
#define EVENTS3 "[" E1 "," E2 "," E3 "]"

/* A 100-byte text body (so the halves of the faults are exact: 50 bytes). */
#define BODY100 "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij"

/* ---- helpers ----------------------------------------------------------------------------- */

static double F;  /* tu_factor() */

/* No returned string contains any secret. */
static void check_no_secret(const char *raw)
{
    if (!raw) return;
    for (size_t i = 0; i < NSECRETS; i++)
        CHECKF(strstr(raw, SECRETS[i]) == NULL, "a returned string contains the secret %s: %.400s", SECRETS[i], raw);
}

/* A client of the test server (or of host when not NULL) with every secret, retry_base_delay
 * 0.05, plus extra members (",\"timeout\":1"). */
static hl_client *fclient_host(const char *host, const char *extra_fmt, ...)
{
    char extra[512] = "";
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        vsnprintf(extra, sizeof extra, extra_fmt, ap);
        va_end(ap);
    }
    char cfg[2048];
    snprintf(cfg, sizeof cfg, "{\"api_key\":\"%s\",\"host\":\"%s\"" CLIENT_KEYS ",\"retry_base_delay\":0.05%s}",
             TU_SECRET, host ? host : tu_base_url(), extra);
    char *err = NULL;
    hl_client *c = hl_client_new(cfg, &err);
    CHECKF(c != NULL, "client for %s: %s", cfg, err ? err : "-");
    check_no_secret(err);
    hl_free(err);
    return c;
}
#define fclient(...) fclient_host(NULL, __VA_ARGS__)

/* Checks every envelope that ends a call: an integer "attempts". */
static void check_attempts_present(json_t *env, const char *raw)
{
    CHECKF(json_is_integer(tu_get(env, "attempts")), "\"attempts\" in the envelope: %.400s", raw);
}

/* One blocking call: parsed envelope; *raw (malloc'd copy) and *dt (seconds) when not NULL. */
static json_t *fcall(tu_call_fn fn, hl_client *c, const char *request, char **raw, double *dt)
{
    double t0 = tu_now();
    char *s = fn(c, request);
    double t = tu_now() - t0;
    if (dt) *dt = t;
    check_no_secret(s);
    json_t *env = tu_parse_env(s);
    check_attempts_present(env, s ? s : "NULL");
    if (raw) *raw = s ? strdup(s) : NULL;
    hl_free(s);
    return env;
}

/* env is a failure of this type with this message (a trailing '*' in msg: a prefix) and
 * this many attempts. */
static void expect_error(json_t *env, const char *raw, const char *type, const char *msg, int attempts)
{
    CHECKF(tu_bool(env, "ok") == 0, "a failure: %.500s", raw);
    CHECK_STR(tu_err_type(env), type);
    const char *m = tu_str(env, "error.message");
    size_t n = strlen(msg);
    if (n > 0 && msg[n - 1] == '*') {
        CHECKF(m && strncmp(m, msg, n - 1) == 0, "message starts with \"%.*s\": got \"%s\"", (int)(n - 1), msg,
               m ? m : "NULL");
    } else {
        CHECK_STR(m, msg);
    }
    CHECK_JINT(env, "attempts", attempts);
}

static void expect_ok(json_t *env, const char *raw, int attempts)
{
    CHECKF(tu_is_ok(env), "a success: %.500s", raw);
    CHECK_JINT(env, "attempts", attempts);
}

#define CHECK_TIME(dt, lo, hi)                                                                     \
    CHECKF((dt) >= (lo) && (dt) < (hi), "ended after %.3fs, expected within [%.2f, %.2f) s", (dt), \
           (double)(lo), (double)(hi))

/* ---- streams ----------------------------------------------------------------------------- */

#define MAXITEMS 1024
typedef struct {
    int n;
    json_t *j[MAXITEMS];
    char *raw[MAXITEMS];
} items_t;

/* Reads every item (checking secrets), then NULL forever. *dt: seconds from open to the end. */
static void read_stream(hl_stream *s, items_t *it)
{
    memset(it, 0, sizeof *it);
    CHECK(s != NULL);
    while (s && it->n < MAXITEMS) {
        char *raw = hl_stream_next(s);
        if (!raw) break;
        check_no_secret(raw);
        json_t *j = tu_parse_env(raw);
        it->j[it->n] = j;
        it->raw[it->n] = strdup(raw);
        hl_free(raw);
        if (tu_get(j, "event") == NULL) check_attempts_present(j, it->raw[it->n]);
        it->n++;
    }
    CHECKF(it->n < MAXITEMS, "stream ended within %d items", MAXITEMS);
    char *again = hl_stream_next(s);
    CHECKF(again == NULL, "NULL after the terminal item");
    hl_free(again);
}

static void free_items(items_t *it)
{
    for (int i = 0; i < it->n; i++) {
        json_decref(it->j[i]);
        free(it->raw[i]);
    }
    it->n = 0;
}

/* Opens a /completion stream with REQ, reads it to the end; *dt: total seconds. */
static void stream_all(hl_client *c, items_t *it, double *dt)
{
    double t0 = tu_now();
    hl_stream *s = hl_complete_stream(c, REQ);
    read_stream(s, it);
    hl_stream_free(s);
    if (dt) *dt = tu_now() - t0;
}

/* The items are `events` event items (each equal to evs[i] when evs is not NULL) and then a
 * terminal item; returns the terminal item (borrowed) or NULL. */
static json_t *expect_events(items_t *it, int events, const char *const *evs)
{
    CHECKF(it->n == events + 1, "%d events and a terminal item expected, got %d items", events, it->n);
    for (int i = 0; i < it->n - 1; i++) {
        CHECKF(tu_bool(it->j[i], "ok") == 1 && tu_get(it->j[i], "event") != NULL, "item %d is an event: %.300s", i,
               it->raw[i]);
        if (evs && i < events) {
            json_t *e = tu_json(evs[i % 3]);
            CHECKF(e && json_equal(tu_get(it->j[i], "event"), e), "item %d is the event %d untouched: %.300s", i, i,
                   it->raw[i]);
            json_decref(e);
        }
    }
    if (it->n != events + 1)
        for (int i = 0; i < it->n && i < 8; i++) tu_note("item %d: %.300s", i, it->raw[i]);
    return it->n > 0 ? it->j[it->n - 1] : NULL;
}

static const char *const E123[3] = {E1, E2, E3};

/* ---- sockets ----------------------------------------------------------------------------- */

/* "%g" of a number of seconds, as the library writes configured values in messages. */
static const char *secs(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%g", v);
    return buf;
}

/* =========================================================================================== */
/* connection level                                                                            */
/* =========================================================================================== */

/* 1. nobody listens: retried (max_retries 2 -> 3 attempts), quickly. */
static void test_refused(void)
{
    char host[128];
    snprintf(host, sizeof host, "http://127.0.0.1:%d/v4", tu_closed_port());
    hl_client *c = fclient_host(host, NULL);
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "could not connect to the server: *", 3);
    /* two backoffs of 0.025..0.05 s and 0.05..0.1 s */
    CHECK_TIME(dt, 0.07, 1.0 * F);
    free(raw);
    json_decref(env);
    hl_client_free(c);

    /* max_retries 0: one attempt */
    c = fclient_host(host, ",\"max_retries\":0");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "could not connect to the server: *", 1);
    CHECK_TIME(dt, 0, 0.5 * F);
    free(raw);
    json_decref(env);

    /* a stream: the same, as its terminal item */
    items_t it;
    hl_client_free(c);
    c = fclient_host(host, NULL);
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 0, NULL);
    expect_error(last, it.raw[it.n - 1], "connection_error", "could not connect to the server: *", 3);
    CHECK_TIME(dt, 0.07, 1.0 * F);
    free_items(&it);
    hl_client_free(c);
}

/* 2. the connection is never established (SYN dropped): a timeout while connecting, retried. */
static void test_connect_timeout(void)
{
    tu_blackhole b;
    if (!CHECKF(tu_blackhole_open(&b), "a listening socket with a full accept queue")) {
        tu_blackhole_close(&b);
        return;
    }
    char host[128];
    snprintf(host, sizeof host, "http://127.0.0.1:%d/v4", b.port);
    double ct = 0.3 * F;
    char cts[32], expected[128];
    snprintf(expected, sizeof expected, "timed out connecting to the server after %s s", secs(ct, cts, sizeof cts));
    hl_client *c = fclient_host(host, ",\"connect_timeout\":%g,\"timeout\":%g", ct, 20 * F);
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "timeout", expected, 3);
    CHECK_TIME(dt, 3 * ct, 3 * ct + 1.5 * F);
    free(raw);
    json_decref(env);
    hl_client_free(c);
    tu_blackhole_close(&b);
}

/* 3. accepted, never answered: `timeout` ends the attempt; not retried (the request was sent). */
static void test_no_answer_timeout(void)
{
    double to = 1.0 * F;
    char tos[32], expected[160];
    snprintf(expected, sizeof expected, "the request timed out after %s s (timeout) while waiting for an answer",
             secs(to, tos, sizeof tos));
    hl_client *c = fclient(",\"timeout\":%g", to);
    tu_script("[{\"fault\":\"no_answer\"},{\"fault\":\"no_answer\"},{\"fault\":\"no_answer\"}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "timeout", expected, 1);
    CHECK_TIME(dt, to - 0.05, to + 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 4. accepted, never answered: low_speed_timeout (shorter than timeout) ends it first. */
static void test_no_answer_low_speed(void)
{
    double ls = 0.5 * F;
    char lss[32], expected[160];
    snprintf(expected, sizeof expected, "no data arrived for %s s (low_speed_timeout) while waiting for an answer",
             secs(ls, lss, sizeof lss));
    hl_client *c = fclient(",\"timeout\":%g,\"low_speed_timeout\":%g", 20 * F, ls);
    tu_script("[{\"fault\":\"no_answer\"},{\"fault\":\"no_answer\"},{\"fault\":\"no_answer\"}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "timeout", expected, 1);
    CHECK_TIME(dt, ls - 0.05, ls + 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);

    /* the same for a stream */
    tu_reset();
    tu_script("[{\"fault\":\"no_answer\"},{\"fault\":\"no_answer\"},{\"fault\":\"no_answer\"}]");
    items_t it;
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 0, NULL);
    expect_error(last, it.n ? it.raw[it.n - 1] : "", "timeout", expected, 1);
    CHECK_TIME(dt, ls - 0.05, ls + 1.0 * F);
    free_items(&it);
    hl_client_free(c);
}

/* 5. complete headers, then nothing: low_speed_timeout; or the timeout when it is shorter. */
static void test_headers_then_stall(void)
{
    double ls = 0.5 * F;
    char lss[32], expected[200];
    snprintf(expected, sizeof expected,
             "no data arrived for %s s (low_speed_timeout) while reading the body of the 200 answer (0 bytes received)",
             secs(ls, lss, sizeof lss));
    hl_client *c = fclient(",\"timeout\":%g,\"low_speed_timeout\":%g", 20 * F, ls);
    tu_script("[{\"status\":200,\"body\":\"" BODY100 "\",\"fault\":\"stall_after_headers\"},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "timeout", expected, 1);
    CHECK_TIME(dt, ls - 0.05, ls + 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);

    double to = 1.0 * F;
    char tos[32];
    snprintf(expected, sizeof expected,
             "the request timed out after %s s (timeout) while reading the body of the 200 answer (0 bytes received)",
             secs(to, tos, sizeof tos));
    c = fclient(",\"timeout\":%g,\"low_speed_timeout\":%g", to, 20 * F);
    tu_reset();
    tu_script("[{\"status\":200,\"body\":\"" BODY100 "\",\"fault\":\"stall_after_headers\"},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "timeout", expected, 1);
    CHECK_TIME(dt, to - 0.05, to + 1.0 * F);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 6. closed without a byte: retried (closed before an answer). */
static void test_close_immediately(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"fault\":\"close_immediately\"},{\"fault\":\"close_immediately\"},{\"fault\":\"close_immediately\"}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "the server closed the connection without answering", 3);
    CHECK_TIME(dt, 0.07, 1.0 * F);
    CHECK_INT(tu_request_count(), 3);
    free(raw);
    json_decref(env);

    /* then a good answer: the retry succeeds */
    tu_reset();
    tu_script("[{\"fault\":\"close_immediately\"},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 2);
    CHECK_JSTR(env, "body.data[0].output", "Hello from the test server");
    CHECK_TIME(dt, 0.02, 1.0 * F);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 7. half of the header block, then closed: no answer, so retried. */
static void test_close_mid_headers(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"fault\":\"close_mid_headers\"},{\"fault\":\"close_mid_headers\"},{\"fault\":\"close_mid_headers\"}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "the server closed the connection in the middle of the response headers", 3);
    CHECK_TIME(dt, 0.07, 1.0 * F);
    CHECK_INT(tu_request_count(), 3);
    free(raw);
    json_decref(env);

    tu_reset();
    tu_script("[{\"fault\":\"close_mid_headers\"},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 2);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 8. Content-Length 100, 50 bytes, closed: the answer started, so not retried. */
static void test_close_mid_body(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":200,\"body\":\"" BODY100 "\",\"fault\":\"close_mid_body\"},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "the connection closed after 50 of 100 body bytes of the 200 answer", 1);
    CHECK_TIME(dt, 0, 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);

    /* a 503 cut the same way is not retried either (its answer is incomplete, not a 503) */
    tu_reset();
    tu_script("[{\"status\":503,\"body\":\"" BODY100 "\",\"fault\":\"close_mid_body\"},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "the connection closed after 50 of 100 body bytes of the 503 answer", 1);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 9. 50 of 100 body bytes, then silence: low_speed_timeout says how far it got. */
static void test_stall_mid_body(void)
{
    double ls = 0.5 * F;
    char lss[32], expected[200];
    snprintf(expected, sizeof expected,
             "no data arrived for %s s (low_speed_timeout) while reading the body of the 200 answer (50 bytes received)",
             secs(ls, lss, sizeof lss));
    hl_client *c = fclient(",\"timeout\":%g,\"low_speed_timeout\":%g", 20 * F, ls);
    tu_script("[{\"status\":200,\"body\":\"" BODY100 "\",\"fault\":\"stall_mid_body\"},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "timeout", expected, 1);
    CHECK_TIME(dt, ls - 0.05, ls + 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 10. Content-Length 200 for a 100-byte body, then closed. */
static void test_wrong_content_length(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":200,\"body\":\"" BODY100 "\",\"fault\":\"wrong_content_length\"},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "the connection closed after 100 of 200 body bytes of the 200 answer", 1);
    CHECK_TIME(dt, 0, 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);

    /* a Content-Length smaller than the body: the body is cut at the length (here: not JSON) */
    tu_reset();
    tu_script("[{\"status\":200,\"headers\":{\"Content-Length\":\"5\",\"Content-Type\":\"application/json\"},"
              "\"body\":\"{\\\"data\\\":[],\\\"provider_responses\\\":[]}\"},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "invalid_response", "the server answered 200 with a body that is not JSON: *", 1);
    CHECK_JSTR(env, "error.body", "{\"dat");
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 11. malformed chunked encoding: a connection_error (the framing broke), not retried. */
static void test_bad_chunked(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":200,\"body\":\"" BODY100 "\",\"fault\":\"bad_chunked\"},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "connection_error", "the 200 answer's chunked encoding is malformed after 50 body bytes: *", 1);
    CHECK_TIME(dt, 0, 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* =========================================================================================== */
/* bodies                                                                                      */
/* =========================================================================================== */

/* 12-16. 2xx bodies that are not a JSON object: invalid_response, never retried. */
static void test_bad_bodies(void)
{
    static const struct {
        const char *r;        /* scripted response */
        const char *message;  /* expected message ('*': prefix) */
        const char *body;     /* expected error.body */
    } cases[] = {
        {"{\"status\":200,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":\"{\\\"data\\\": [1,2\"}",
         "the server answered 200 with a body that is not JSON: *", "{\"data\": [1,2"},
        {"{\"status\":200,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":\"<html>oops</html>\"}",
         "the server answered 200 with a body that is not JSON: *", "<html>oops</html>"},
        /* {"a":"a\xffb"}: invalid UTF-8 inside a string */
        {"{\"status\":200,\"headers\":{\"Content-Type\":\"application/json\"},\"body_b64\":\"eyJhIjoiYf9iIn0=\"}",
         "the server answered 200 with a body that is not JSON: unable to decode byte 0xff*", "{\"a\":\"a\xef\xbf\xbd" "b\"}"},
        {"{\"status\":200,\"json\":[{\"data\":[]}]}", "the server answered 200 with a JSON array, not a JSON object",
         "[{\"data\":[]}]"},
        {"{\"status\":200,\"json\":\"just a string\"}", "the server answered 200 with a JSON string, not a JSON object",
         "\"just a string\""},
        {"{\"status\":200,\"json\":42}", "the server answered 200 with a JSON integer, not a JSON object", "42"},
        {"{\"status\":200,\"json\":null}", "the server answered 200 with a JSON null, not a JSON object", "null"},
        {"{\"status\":200}", "the server answered 200 with an empty body", ""},
        {"{\"status\":200,\"chunked\":true,\"body\":\"\"}", "the server answered 200 with an empty body", ""},
        {"{\"status\":201,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":\"  \"}",
         "the server answered 201 with a body that is not JSON: *", "  "},
    };
    hl_client *c = fclient(NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_reset();
        /* scripted twice: a wrong retry would succeed and show */
        tu_script("[%s,{}]", cases[i].r);
        char *raw = NULL;
        double dt;
        json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
        expect_error(env, raw, "invalid_response", cases[i].message, 1);
        CHECKF(json_integer_value(tu_get(env, "error.status")) == (i == 9 ? 201 : 200), "case %zu status: %s", i, raw);
        CHECKF(tu_str(env, "error.body") && strcmp(tu_str(env, "error.body"), cases[i].body) == 0,
               "case %zu: error.body is the text received: %s", i, raw);
        CHECK_TIME(dt, 0, 1.0 * F);
        CHECKF(tu_request_count() == 1, "case %zu: one request", i);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* 17. a 10 MiB+ body over max_response_bytes: fails once the limit is passed, reads no more. */
static void test_oversized_body(void)
{
    const char *expected = "the body of the 200 answer exceeds max_response_bytes (1048576 bytes); the rest was not read";
    hl_client *c = fclient(",\"max_response_bytes\":1048576,\"timeout\":%g", 30 * F);
    tu_script("[{\"status\":200,\"body_repeat\":{\"text\":\"abcdefgh\",\"times\":1400000}},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "invalid_response", expected, 1);
    CHECK_JINT(env, "error.status", 200);
    const char *body = tu_str(env, "error.body");
    CHECKF(body && strlen(body) <= 1048576 && strncmp(body, "abcdefghabcdefgh", 16) == 0,
           "error.body is the start of the text received (%zu bytes)", body ? strlen(body) : 0);
    CHECK_TIME(dt, 0, 2.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);

    /* proof that the rest is not awaited: the server sends 5.5 MB of 11 MB, then stalls until
     * the client leaves; the call still ends at once. */
    tu_reset();
    tu_script("[{\"status\":200,\"body_repeat\":{\"text\":\"abcdefgh\",\"times\":1400000},\"fault\":\"stall_mid_body\"},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "invalid_response", expected, 1);
    CHECK_TIME(dt, 0, 2.0 * F);
    free(raw);
    json_decref(env);

    /* a non-2xx body over the limit is an invalid_response too (and not retried) */
    tu_reset();
    tu_script("[{\"status\":500,\"body_repeat\":{\"text\":\"E\",\"times\":2000000}},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "invalid_response",
                 "the body of the 500 answer exceeds max_response_bytes (1048576 bytes); the rest was not read", 1);
    CHECK_JINT(env, "error.status", 500);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);

    /* the client still works afterwards */
    tu_reset();
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* =========================================================================================== */
/* statuses and retries                                                                        */
/* =========================================================================================== */

#define HTML500 "<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1><p>Something broke.</p></body></html>\n"

/* 18. 500 with an HTML page: retried, then the api_error carries the page as a string. */
static void test_500_html(void)
{
    hl_client *c = fclient(NULL);
    /* (HTML500 ends with a raw newline: encode it as a JSON string for the script) */
    json_t *page = json_string(HTML500);
    char *page_json = json_dumps(page, JSON_ENCODE_ANY);
    tu_script("[{\"status\":500,\"headers\":{\"Content-Type\":\"text/html; charset=utf-8\"},\"body\":%s},"
              "{\"status\":500,\"headers\":{\"Content-Type\":\"text/html; charset=utf-8\"},\"body\":%s},"
              "{\"status\":500,\"headers\":{\"Content-Type\":\"text/html; charset=utf-8\"},\"body\":%s},{}]",
              page_json, page_json, page_json);
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "api_error", "the server answered 500 Internal Server Error", 3);
    CHECK_JINT(env, "error.status", 500);
    CHECK_JSTR(env, "error.reason", "Internal Server Error");
    CHECK_JSTR(env, "error.body", HTML500);
    CHECK_JSTR(env, "error.headers.content-type", "text/html; charset=utf-8");
    CHECK(json_is_number(tu_get(env, "error.round_trip_time")));
    CHECK_TIME(dt, 0.07, 1.0 * F);
    CHECK_INT(tu_request_count(), 3);
    free(raw);
    json_decref(env);
    free(page_json);
    json_decref(page);
    hl_client_free(c);
}

/* An HTTP date (IMF-fixdate) `offset` seconds from now. */
static void http_date(char *buf, size_t n, long offset)
{
    time_t t = time(NULL) + offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* 19. 429 + Retry-After in seconds: honoured. */
static void test_429_retry_after_seconds(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":429,\"headers\":{\"Retry-After\":\"1\"},\"json\":{\"detail\":\"slow down\"}},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 2);
    CHECK_TIME(dt, 0.98, 1.0 + 1.0 * F);
    CHECK_INT(tu_request_count(), 2);
    free(raw);
    json_decref(env);

    /* 429 every time: the last api_error, after honouring each Retry-After */
    tu_reset();
    tu_script("[{\"status\":429,\"headers\":{\"Retry-After\":\"0\"},\"json\":{\"detail\":\"slow down\"}},"
              "{\"status\":429,\"headers\":{\"Retry-After\":\"0\"},\"json\":{\"detail\":\"slow down\"}},"
              "{\"status\":429,\"headers\":{\"Retry-After\":\"0\"},\"json\":{\"detail\":\"slow down\"}},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "api_error", "the server answered 429 Too Many Requests", 3);
    CHECK_JSTR(env, "error.body.detail", "slow down");
    CHECK_JSTR(env, "error.headers.retry-after", "0");
    CHECK_TIME(dt, 0, 1.0 * F);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 20. 429 + Retry-After as an HTTP date 2 s ahead: honoured (1-2 s at a 1 s resolution). */
static void test_429_retry_after_date(void)
{
    hl_client *c = fclient(NULL);
    char date[64];
    http_date(date, sizeof date, 2);
    tu_script("[{\"status\":429,\"headers\":{\"Retry-After\":\"%s\"}},{}]", date);
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 2);
    CHECK_TIME(dt, 0.95, 2.0 + 1.0 * F);
    free(raw);
    json_decref(env);

    /* a date in the past: retry at once */
    tu_reset();
    http_date(date, sizeof date, -30);
    tu_script("[{\"status\":429,\"headers\":{\"Retry-After\":\"%s\"}},{}]", date);
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 2);
    CHECK_TIME(dt, 0, 0.5 * F);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 21. 429 + retry-after-ms: honoured (and it wins over Retry-After). */
static void test_429_retry_after_ms(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":429,\"headers\":{\"retry-after-ms\":\"400\",\"Retry-After\":\"3\"}},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 2);
    CHECK_TIME(dt, 0.39, 0.4 + 1.0 * F);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 22. 429 asking for more than 60 s (each form), or nonsense: not honoured, normal backoff. */
static void test_429_retry_after_over_60s(void)
{
    char date[64];
    http_date(date, sizeof date, 3600);
    char forms[4][128];
    snprintf(forms[0], sizeof forms[0], "{\"Retry-After\":\"120\"}");
    snprintf(forms[1], sizeof forms[1], "{\"Retry-After\":\"%s\"}", date);
    snprintf(forms[2], sizeof forms[2], "{\"retry-after-ms\":\"61000\"}");
    snprintf(forms[3], sizeof forms[3], "{\"Retry-After\":\"soon, please\"}");
    hl_client *c = fclient(NULL);
    for (int i = 0; i < 4; i++) {
        tu_reset();
        tu_script("[{\"status\":429,\"headers\":%s},{}]", forms[i]);
        char *raw = NULL;
        double dt;
        json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
        expect_ok(env, raw, 2);
        /* the backoff before the first retry: 0.025..0.05 s */
        CHECKF(dt >= 0.02 && dt < 0.5 * F, "headers %s: retried after %.3fs (backoff 0.025..0.05 s expected)", forms[i], dt);
        CHECK_INT(tu_request_count(), 2);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* 23. 503 then 200: one retry. 408 and 409 are retried too. */
static void test_503_then_200(void)
{
    hl_client *c = fclient(NULL);
    static const int statuses[] = {503, 408, 409, 502, 504, 599};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        tu_reset();
        tu_script("[{\"status\":%d,\"json\":{\"detail\":\"try again\"}},{}]", statuses[i]);
        char *raw = NULL;
        double dt;
        json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
        expect_ok(env, raw, 2);
        CHECK_JINT(env, "status", 200);
        CHECK_JSTR(env, "body.data[0].output", "Hello from the test server");
        CHECKF(dt >= 0.02 && dt < 0.5 * F, "status %d: %.3fs", statuses[i], dt);
        CHECKF(tu_request_count() == 2, "status %d: two requests", statuses[i]);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* 24. 503 forever: max_retries + 1 attempts, exponential backoff capped by retry_max_delay. */
static void test_503_forever(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":503,\"json\":{\"detail\":\"down\"}},{\"status\":503,\"json\":{\"detail\":\"down\"}},"
              "{\"status\":503,\"json\":{\"detail\":\"down\"}},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "api_error", "the server answered 503 Service Unavailable", 3);
    CHECK_JSTR(env, "error.body.detail", "down");
    CHECK_TIME(dt, 0.07, 1.0 * F);
    CHECK_INT(tu_request_count(), 3);
    free(raw);
    json_decref(env);
    hl_client_free(c);

    /* max_retries 4, base 0.1, cap 0.15: delays 0.05..0.1, then 3 x 0.075..0.15 */
    c = fclient(",\"max_retries\":4,\"retry_base_delay\":0.1,\"retry_max_delay\":0.15");
    tu_reset();
    tu_script("[{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "api_error", "the server answered 503 Service Unavailable", 5);
    CHECK_TIME(dt, 0.27, 0.55 + 0.5 * F);
    CHECK_INT(tu_request_count(), 5);
    free(raw);
    json_decref(env);
    hl_client_free(c);

    /* max_retries 0: one attempt */
    c = fclient(",\"max_retries\":0");
    tu_reset();
    tu_script("[{\"status\":503},{}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "api_error", "the server answered 503 Service Unavailable", 1);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 25. 400 (and the other 4xx but 408/409/429): not retried. */
static void test_4xx_not_retried(void)
{
    hl_client *c = fclient(NULL);
    static const struct {
        int status;
        const char *message;
    } cases[] = {
        {400, "the server answered 400 Bad Request"},   {401, "the server answered 401 Unauthorized"},
        {403, "the server answered 403 Forbidden"},
        /* a 404 names the URL called (a wrong host is the usual cause) */
        {404, "the server answered 404 Not Found for POST http://127.0.0.1:*"},
        {422, "the server answered 422 Unprocessable Entity"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_reset();
        tu_script("[{\"status\":%d,\"json\":{\"detail\":\"no\"}},{}]", cases[i].status);
        char *raw = NULL;
        double dt;
        json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
        expect_error(env, raw, "api_error", cases[i].message, 1);
        CHECK_JINT(env, "error.status", cases[i].status);
        CHECK_JSTR(env, "error.body.detail", "no");
        CHECK_TIME(dt, 0, 0.5 * F);
        CHECKF(tu_request_count() == 1, "%d: one request", cases[i].status);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* =========================================================================================== */
/* redirects                                                                                   */
/* =========================================================================================== */

/* 26. 302 (and 301, 303, 300): never followed, an api_error. */
static void test_302_not_followed(void)
{
    hl_client *c = fclient(NULL);
    static const struct {
        int status;
        const char *message;
    } cases[] = {
        {302, "the server answered 302 Found"},
        {301, "the server answered 301 Moved Permanently"},
        {303, "the server answered 303 See Other"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_reset();
        tu_script("[{\"status\":%d,\"headers\":{\"Location\":\"/v4/completion-deployed\"}},{}]", cases[i].status);
        char *raw = NULL;
        double dt;
        json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
        expect_error(env, raw, "api_error", cases[i].message, 1);
        CHECK_JINT(env, "error.status", cases[i].status);
        CHECK_JSTR(env, "error.headers.location", "/v4/completion-deployed");
        CHECK_JSTR(env, "error.body", "");
        CHECK_TIME(dt, 0, 0.5 * F);
        CHECKF(tu_request_count() == 1, "%d: one request (not followed)", cases[i].status);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* 27. 307 / 308 to the same origin: followed with the same method, body and headers. */
static void test_307_same_origin_followed(void)
{
    hl_client *c = fclient(NULL);
    char absolute[160];
    snprintf(absolute, sizeof absolute, "http://127.0.0.1:%d/v4/completion-moved", tu_port());
    const char *locations[3] = {"/v4/completion-new", absolute, "/v4/completion-new?x=1"};
    const int statuses[3] = {307, 308, 307};
    for (int i = 0; i < 3; i++) {
        tu_reset();
        tu_script("[{\"status\":%d,\"headers\":{\"Location\":\"%s\"}},{\"json\":{\"moved\":true}}]", statuses[i],
                  locations[i]);
        char *raw = NULL;
        double dt;
        json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
        /* a followed redirect is not a retry: still attempt 1 */
        expect_ok(env, raw, 1);
        CHECK_JEQ(env, "body", "{\"moved\":true}");
        CHECK_TIME(dt, 0, 0.5 * F);
        json_t *reqs = tu_requests();
        CHECKF(json_array_size(reqs) == 2, "%d: two requests, got %zu", statuses[i], json_array_size(reqs));
        json_t *r0 = json_array_get(reqs, 0), *r1 = json_array_get(reqs, 1);
        if (r0 && r1) {
            CHECK_JSTR(r1, "method", "POST");
            const char *want = i == 1 ? "/v4/completion-moved" : locations[i];
            CHECK_JSTR(r1, "path", want);
            CHECK_STR(tu_str(r1, "body"), tu_str(r0, "body"));
            CHECK_STR(tu_req_header(r1, "X-API-KEY"), TU_SECRET);
            CHECK_STR(tu_req_header(r1, "Content-Type"), "application/json");
        }
        json_decref(reqs);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* 28. at most 3 redirects are followed; the 4th 307 comes back as an api_error. */
static void test_307_at_most_3(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":307,\"headers\":{\"Location\":\"/v4/a\"}},{\"status\":307,\"headers\":{\"Location\":\"/v4/b\"}},"
              "{\"status\":307,\"headers\":{\"Location\":\"/v4/c\"}},{\"json\":{\"hops\":3}}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_ok(env, raw, 1);
    CHECK_JEQ(env, "body", "{\"hops\":3}");
    CHECK_INT(tu_request_count(), 4);
    free(raw);
    json_decref(env);

    tu_reset();
    tu_script("[{\"status\":307,\"headers\":{\"Location\":\"/v4/a\"}},{\"status\":307,\"headers\":{\"Location\":\"/v4/b\"}},"
              "{\"status\":307,\"headers\":{\"Location\":\"/v4/c\"}},{\"status\":307,\"headers\":{\"Location\":\"/v4/d\"}},"
              "{\"json\":{\"hops\":4}}]");
    env = fcall(hl_complete, c, REQ, &raw, &dt);
    expect_error(env, raw, "api_error", "the server answered 307 Temporary Redirect", 1);
    CHECK_JINT(env, "error.status", 307);
    CHECK_JSTR(env, "error.headers.location", "/v4/d");
    CHECK_TIME(dt, 0, 0.5 * F);
    CHECK_INT(tu_request_count(), 4);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 29. a 307 to another origin (host, port or scheme): not followed. */
static void test_307_other_origin(void)
{
    char loc[3][160];
    snprintf(loc[0], sizeof loc[0], "http://localhost:%d/v4/completion", tu_port());
    snprintf(loc[1], sizeof loc[1], "http://127.0.0.1:%d/v4/completion", tu_closed_port());
    snprintf(loc[2], sizeof loc[2], "https://127.0.0.1:%d/v4/completion", tu_port());
    hl_client *c = fclient(NULL);
    for (int i = 0; i < 3; i++) {
        tu_reset();
        tu_script("[{\"status\":307,\"headers\":{\"Location\":\"%s\"}},{}]", loc[i]);
        char *raw = NULL;
        double dt;
        json_t *env = fcall(hl_complete, c, REQ, &raw, &dt);
        expect_error(env, raw, "api_error", "the server answered 307 Temporary Redirect", 1);
        CHECK_JSTR(env, "error.headers.location", loc[i]);
        CHECK_TIME(dt, 0, 0.5 * F);
        CHECKF(tu_request_count() == 1, "%s: not followed", loc[i]);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* =========================================================================================== */
/* event streams                                                                               */
/* =========================================================================================== */

/* 30. a stream that never ends outlives `timeout` (it bounds the head and first event
 * only): the caller ends it (cancel), after every event that arrived; merged by a blocking
 * call, it ends at max_response_bytes. */
static void test_stream_never_ends(void)
{
    double to = 0.5 * F;
    hl_client *c = fclient(",\"timeout\":%g,\"max_response_bytes\":20000", to);
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"forever\":true,\"delay\":0.05}},{}]");
    double t0 = tu_now();
    hl_stream *s = hl_complete_stream(c, REQ);
    int events = 0, cancelled = 0;
    char *last = NULL;
    for (char *item; (item = hl_stream_next(s)) != NULL;) {
        check_no_secret(item);
        if (strstr(item, "\"event\":") && strncmp(item, "{\"ok\":true", 10) == 0) events++;
        free(last);
        last = strdup(item);
        hl_free(item);
        if (!cancelled && tu_now() - t0 > 3 * to) {
            hl_stream_cancel(s);
            cancelled = 1;
        }
    }
    hl_stream_free(s);
    CHECKF(cancelled, "the stream went on past 3 x timeout (%d events)", events);
    CHECKF(events >= 20, "events kept arriving past timeout (%d)", events);
    json_t *end = tu_parse_env(last);
    if (end) expect_error(end, last, "cancelled", "the call was cancelled after *", 1);
    json_decref(end);
    free(last);

    /* the blocking call with "stream": true: ended by max_response_bytes, not by timeout */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"forever\":true,\"delay\":0.01}},{}]");
    char *raw = NULL;
    double dt;
    json_t *env = fcall(hl_complete, c, REQ_STREAM, &raw, &dt);
    expect_error(env, raw, "invalid_response", "the stream's events and merged text exceed max_response_bytes (20000 bytes)*", 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 31. one 1 MiB event: delivered intact. */
static void test_stream_1mib_event(void)
{
    size_t big = 1024 * 1024;
    char *text = malloc(big + 1);
    for (size_t i = 0; i < big; i++) text[i] = (char)('a' + (i * 7 + i / 26) % 26);
    text[big] = 0;
    size_t elen = big + 256;
    char *event = malloc(elen);
    snprintf(event, elen, "{\"data\":[{\"id\":\"big\",\"index\":0,\"output\":\"%s\",\"finish_reason\":\"stop\"}],\"project_id\":\"pr_big\"}", text);
    hl_client *c = fclient(NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 ",%s," E3 "],\"chunk_size\":65536}}]", event);
    items_t it;
    double dt;
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 3, NULL);
    if (it.n == 4) {
        json_t *want = tu_json(event);
        CHECKF(want && json_equal(tu_get(it.j[1], "event"), want), "the 1 MiB event arrived intact");
        const char *out = tu_str(it.j[1], "event.data[0].output");
        CHECKF(out && strlen(out) == big && strcmp(out, text) == 0, "output of %zu bytes intact", out ? strlen(out) : 0);
        CHECKF(strlen(it.raw[1]) == strlen("{\"ok\":true,\"event\":}") + strlen(event), "the raw item is the event's text");
        json_decref(want);
    }
    if (last) {
        CHECKF(tu_bool(last, "done") == 1, "done: %.300s", it.raw[it.n - 1]);
        CHECK_JINT(last, "events", 3);
        CHECK_JINT(last, "attempts", 1);
    }
    CHECK_TIME(dt, 0, 3.0 * F);
    free_items(&it);

    /* the blocking call merges it */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":[%s]}}]", event);
    char *raw = NULL;
    json_t *env = fcall(hl_complete, c, REQ_STREAM, &raw, &dt);
    expect_ok(env, raw, 1);
    const char *out = tu_str(env, "body.data[0].output");
    CHECKF(out && strcmp(out, text) == 0, "merged output intact (%zu bytes)", out ? strlen(out) : 0);
    free(raw);
    json_decref(env);
    hl_client_free(c);

    /* over max_response_bytes: an invalid_response once the event passes the limit */
    c = fclient(",\"max_response_bytes\":524288");
    tu_reset();
    tu_script("[{\"stream\":{\"events\":[" E1 ",%s]}},{}]", event);
    stream_all(c, &it, &dt);
    last = expect_events(&it, 1, E123);
    if (last)
        expect_error(last, it.raw[it.n - 1], "invalid_response",
                     "a stream event exceeds max_response_bytes (524288 bytes)", 1);
    CHECK_INT(tu_request_count(), 1);
    free_items(&it);
    hl_client_free(c);
    free(event);
    free(text);
}

/* 32. a stream answered 503 first, then streamed: retried, attempts 2. */
static void test_stream_503_then_ok(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"status\":503,\"json\":{\"detail\":\"warming up\"}},{\"stream\":{\"events\":" EVENTS3 "}}]");
    items_t it;
    double dt;
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 3, E123);
    if (last) {
        CHECKF(tu_bool(last, "done") == 1, "done: %.300s", it.raw[it.n - 1]);
        CHECK_JINT(last, "attempts", 2);
        CHECK_JINT(last, "events", 3);
    }
    CHECK_TIME(dt, 0.02, 1.0 * F);
    CHECK_INT(tu_request_count(), 2);
    free_items(&it);

    /* and the blocking call with "stream": true */
    tu_reset();
    tu_script("[{\"status\":503},{\"stream\":{\"events\":" EVENTS3 "}}]");
    char *raw = NULL;
    json_t *env = fcall(hl_complete, c, REQ_STREAM, &raw, &dt);
    expect_ok(env, raw, 2);
    CHECK_JSTR(env, "body.data[0].output", "onetwosix");
    free(raw);
    json_decref(env);

    /* 503 forever: the api_error after 3 attempts */
    tu_reset();
    tu_script("[{\"status\":503},{\"status\":503},{\"status\":503},{}]");
    stream_all(c, &it, &dt);
    last = expect_events(&it, 0, NULL);
    if (last) expect_error(last, it.raw[it.n - 1], "api_error", "the server answered 503 Service Unavailable", 3);
    CHECK_INT(tu_request_count(), 3);
    free_items(&it);
    hl_client_free(c);
}

/* 33. a stream cut after 1 event: not retried; the error says how many events arrived. */
static void test_stream_cut_after_first_event(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"cut_after\":1}},{}]");
    items_t it;
    double dt;
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 1, E123);
    if (last) expect_error(last, it.raw[it.n - 1], "connection_error", "the stream broke after 1 event: *", 1);
    CHECK_TIME(dt, 0, 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free_items(&it);

    /* chunked framing, cut after 2 */
    tu_reset();
    tu_script("[{\"chunked\":true,\"stream\":{\"events\":" EVENTS3 ",\"cut_after\":2}},{}]");
    stream_all(c, &it, &dt);
    last = expect_events(&it, 2, E123);
    if (last) expect_error(last, it.raw[it.n - 1], "connection_error", "the stream broke after 2 events: *", 1);
    CHECK_INT(tu_request_count(), 1);
    free_items(&it);

    /* the blocking call with "stream": true: the same error */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"cut_after\":1}},{}]");
    char *raw = NULL;
    json_t *env = fcall(hl_complete, c, REQ_STREAM, &raw, &dt);
    expect_error(env, raw, "connection_error", "the stream broke after 1 event: *", 1);
    CHECK_INT(tu_request_count(), 1);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* 34. a stream whose connection breaks before its first event: retried. */
static void test_stream_cut_before_first_event(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"cut_after\":0}},{\"stream\":{\"events\":" EVENTS3 "}}]");
    items_t it;
    double dt;
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 3, E123);
    if (last) {
        CHECKF(tu_bool(last, "done") == 1, "done: %.300s", it.raw[it.n - 1]);
        CHECK_JINT(last, "attempts", 2);
    }
    CHECK_INT(tu_request_count(), 2);
    free_items(&it);

    /* every attempt cut: the error after max_retries + 1 attempts */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"cut_after\":0}},{\"stream\":{\"events\":" EVENTS3 ",\"cut_after\":0}},"
              "{\"stream\":{\"events\":" EVENTS3 ",\"cut_after\":0}},{}]");
    stream_all(c, &it, &dt);
    last = expect_events(&it, 0, NULL);
    if (last) expect_error(last, it.raw[it.n - 1], "connection_error", "the stream broke after 0 events: *", 3);
    CHECK_TIME(dt, 0.07, 1.0 * F);
    CHECK_INT(tu_request_count(), 3);
    free_items(&it);

    /* closed before the answer's headers: retried as well */
    tu_reset();
    tu_script("[{\"fault\":\"close_immediately\"},{\"fault\":\"close_mid_headers\"},{\"stream\":{\"events\":" EVENTS3 "}}]");
    stream_all(c, &it, &dt);
    last = expect_events(&it, 3, E123);
    if (last) CHECK_JINT(last, "attempts", 3);
    free_items(&it);
    hl_client_free(c);
}

/* 35. an event stream with a Content-Length, closed mid-body (after 1 of 3 events). */
static void test_stream_close_mid_body(void)
{
    hl_client *c = fclient(NULL);
    tu_script("[{\"stream\":{\"events\":" EVENTS3 "},\"fault\":\"close_mid_body\"},{}]");
    items_t it;
    double dt;
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 1, E123);
    size_t total = 3 * (strlen("data: ") + 2) + strlen(E1) + strlen(E2) + strlen(E3);
    char expected[200];
    snprintf(expected, sizeof expected,
             "the stream broke after 1 event: the connection closed after %zu of %zu body bytes of the 200 answer",
             total / 2, total);
    if (last) expect_error(last, it.raw[it.n - 1], "connection_error", expected, 1);
    CHECK_TIME(dt, 0, 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free_items(&it);
    hl_client_free(c);
}

/* 36. a stream that stalls after its first event: low_speed_timeout, not retried. */
static void test_stream_stall_mid_stream(void)
{
    double ls = 0.5 * F;
    char lss[32], expected[240];
    secs(ls, lss, sizeof lss);
    hl_client *c = fclient(",\"timeout\":%g,\"low_speed_timeout\":%g", 30 * F, ls);
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"hold_after\":1,\"hold\":%g}},{}]", 20 * F);
    items_t it;
    double dt;
    stream_all(c, &it, &dt);
    json_t *last = expect_events(&it, 1, E123);
    snprintf(expected, sizeof expected,
             "the stream stopped after 1 event: no data arrived for %s s (low_speed_timeout) while reading the body of "
             "the 200 answer (%zu bytes received)",
             lss, strlen("data: ") + strlen(E1) + 2);
    if (last) expect_error(last, it.raw[it.n - 1], "timeout", expected, 1);
    CHECK_TIME(dt, ls - 0.05, ls + 1.0 * F);
    CHECK_INT(tu_request_count(), 1);
    free_items(&it);

    /* slow but steady (one event every 0.3 s, below low_speed_timeout 0.5): never cut */
    hl_client_free(c);
    c = fclient(",\"timeout\":%g,\"low_speed_timeout\":%g", 30 * F, 0.5 * F);
    tu_reset();
    tu_script("[{\"stream\":{\"events\":" EVENTS3 ",\"delay\":%g,\"comments\":true}}]", 0.3 * F);
    stream_all(c, &it, &dt);
    last = expect_events(&it, 3, E123);
    if (last) CHECKF(tu_bool(last, "done") == 1, "done: %.300s", it.raw[it.n - 1]);
    free_items(&it);
    hl_client_free(c);
}

/* =========================================================================================== */
/* secrets                                                                                     */
/* =========================================================================================== */

/* 37. every fault, on every endpoint, blocking and streaming: no returned string contains the
 * API key or a provider key (client-level or per-request). */
static void test_secret_never_leaks(void)
{
    static const char *scripts[] = {
        "{\"fault\":\"close_immediately\"}",
        "{\"fault\":\"close_mid_headers\"}",
        "{\"fault\":\"close_mid_body\"}",
        "{\"fault\":\"wrong_content_length\"}",
        "{\"fault\":\"bad_chunked\"}",
        "{\"fault\":\"stall_after_headers\"}",
        "{\"fault\":\"no_answer\"}",
        "{\"status\":200,\"body\":\"{not json\"}",
        "{\"status\":200,\"json\":[1]}",
        "{\"status\":200}",
        "{\"status\":401,\"json\":{\"detail\":\"Invalid API key\"}}",
        "{\"status\":500,\"body\":\"<html>boom</html>\"}",
        "{\"status\":302,\"headers\":{\"Location\":\"/v4/x\"}}",
        "{\"status\":307,\"headers\":{\"Location\":\"http://localhost:1/v4/x\"}}",
        "{\"stream\":{\"events\":[" E1 "],\"cut_after\":1}}",
        "{\"stream\":{\"events\":[{\"raw\":\"{broken\"}]}}",
        "{}",
    };
    size_t n = sizeof scripts / sizeof scripts[0];
    hl_client *c = fclient(",\"max_retries\":0,\"low_speed_timeout\":0.1,\"timeout\":%g", 5 * F);
    int calls = 0;
    for (size_t k = 0; k < n; k++) {
        for (int e = 0; e < TU_NENDPOINTS; e++) {
            /* blocking */
            tu_reset();
            tu_script("[%s]", scripts[k]);
            char *raw = NULL;
            json_t *env = fcall(TU_ENDPOINTS[e].call, c, EP_REQ[e], &raw, NULL);
            calls++;
            free(raw);
            json_decref(env);
            /* streaming */
            tu_reset();
            tu_script("[%s]", scripts[k]);
            hl_stream *s = TU_ENDPOINTS[e].stream(c, EP_REQ[e]);
            items_t it;
            read_stream(s, &it);
            hl_stream_free(s);
            free_items(&it);
            calls++;
        }
    }
    /* a bad configuration's error and an invalid request's errors carry no key either */
    char *err = NULL;
    hl_client *bad = hl_client_new("{\"api_key\":\"" TU_SECRET "\",\"host\":\"ftp://x\"" CLIENT_KEYS "}", &err);
    CHECK(bad == NULL);
    CHECK(err != NULL);
    check_no_secret(err);
    hl_free(err);
    char *raw = NULL;
    json_t *env = fcall(hl_complete, c,
                        "{\"model_config\":{\"model\":\"sk-openai-REQUESTKEY-beef01\"}," REQUEST_KEYS
                        ",\"bogus\":\"co-REQUESTKEY-beef03\"}", &raw, NULL);
    CHECK_STR(tu_err_type(env), "invalid_request");
    free(raw);
    json_decref(env);
    tu_note("%d calls checked", calls);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    F = tu_factor();
    RUN(test_refused);
    RUN(test_connect_timeout);
    RUN(test_no_answer_timeout);
    RUN(test_no_answer_low_speed);
    RUN(test_headers_then_stall);
    RUN(test_close_immediately);
    RUN(test_close_mid_headers);
    RUN(test_close_mid_body);
    RUN(test_stall_mid_body);
    RUN(test_wrong_content_length);
    RUN(test_bad_chunked);
    RUN(test_bad_bodies);
    RUN(test_oversized_body);
    RUN(test_500_html);
    RUN(test_429_retry_after_seconds);
    RUN(test_429_retry_after_date);
    RUN(test_429_retry_after_ms);
    RUN(test_429_retry_after_over_60s);
    RUN(test_503_then_200);
    RUN(test_503_forever);
    RUN(test_4xx_not_retried);
    RUN(test_302_not_followed);
    RUN(test_307_same_origin_followed);
    RUN(test_307_at_most_3);
    RUN(test_307_other_origin);
    RUN(test_stream_never_ends);
    RUN(test_stream_1mib_event);
    RUN(test_stream_503_then_ok);
    RUN(test_stream_cut_after_first_event);
    RUN(test_stream_cut_before_first_event);
    RUN(test_stream_close_mid_body);
    RUN(test_stream_stall_mid_stream);
    RUN(test_secret_never_leaks);
    return tu_finish();
}
