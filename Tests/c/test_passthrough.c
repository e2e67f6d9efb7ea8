/*
 * test_passthrough.c — answers reach the caller byte-exact: a success body and each
 * stream event go into the envelope as the exact bytes the server sent, once jansson has
 * checked them (odd spacing, 1E+2, -0.0, 1.50, escaped and raw non-ASCII text, a 30-digit
 * integer, key order); error bodies (redacted) are the documented exception.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The server's exact body: odd spacing, unusual number forms, escapes, raw UTF-8, big integer. */
#define ODD_BODY                                                                                   \
    "{ \"data\" : [ {\"id\":\"d\", \"index\":0, \"output\":\"caf\\u00e9 \xc3\xa9 \\\"q\\\" \\/\"," \
    "\"n\":1E+2,\"z\":-0.0,\"p\":1.50,\"big\":123456789012345678901234567890}],\n"                   \
    "\t\"provider_responses\":[ ], \"zeta\":1, \"alpha\":2 }"

/* ODD_BODY as a JSON string literal for the script's "body" (every " and \ escaped once more). */
static char *as_json_string(const char *text)
{
    json_t *s = json_string(text);
    char *out = json_dumps(s, JSON_ENCODE_ANY);
    json_decref(s);
    return out;
}

/* The text between `"key":` and `,"next"` in raw (malloc'd), or NULL. */
static char *between(const char *raw, const char *start, const char *end)
{
    const char *a = raw ? strstr(raw, start) : NULL;
    if (!a) return NULL;
    a += strlen(start);
    const char *b = strstr(a, end);
    if (!b) return NULL;
    size_t n = (size_t)(b - a);
    char *out = malloc(n + 1);
    memcpy(out, a, n);
    out[n] = 0;
    return out;
}

static void test_success_body_is_the_servers_bytes(void)
{
    hl_client *c = tu_client(NULL);
    char *body = as_json_string(ODD_BODY);
    tu_script("[{\"status\":200,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":%s}]", body);
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECKF(tu_is_ok(env), "%s", raw);
    char *spliced = between(raw, "\"body\":", ",\"round_trip_time\":");
    CHECK_STR(spliced, ODD_BODY);
    free(spliced);
    free(body);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

static void test_stream_events_are_the_servers_bytes(void)
{
    hl_client *c = tu_client(NULL);
    const char *event = "{ \"data\":[{\"index\":0,\"output\":\"\xc3\xa9\\u00e9\",\"x\":1E+2,\"y\":-0.0,\"w\":1.50,"
                        "\"big\":123456789012345678901234567890}] , \"b\":1,\"a\":2}";
    char *quoted = as_json_string(event);
    tu_script("[{\"stream\":{\"events\":[{\"raw\":%s},{\"raw\":%s}]}},{\"stream\":{\"events\":[{\"raw\":%s}]}}]", quoted,
              quoted, quoted);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    char *item = hl_stream_next(s);
    size_t n = strlen(event) + 64;
    char *expected = malloc(n);
    /* the first event's item goes on with the answer's status and headers */
    snprintf(expected, n, "{\"ok\":true,\"event\":%s,\"status\":200,", event);
    CHECKF(item && strncmp(item, expected, strlen(expected)) == 0, "%s", item ? item : "NULL");
    hl_free(item);
    item = hl_stream_next(s);
    snprintf(expected, n, "{\"ok\":true,\"event\":%s}", event);
    CHECK_STR(item, expected);
    hl_free(item);
    item = hl_stream_next(s);
    CHECKF(item && tu_contains(item, "\"done\":true"), "%s", item ? item : "NULL");
    hl_free(item);
    hl_stream_free(s);

    /* the blocking merge lists every event as received */
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, "{\"model_config\":" TU_MC ",\"stream\":true}", &raw);
    CHECKF(tu_is_ok(env), "%.300s", raw);
    const char *events = strstr(raw ? raw : "", "\"events\":[");
    CHECKF(events && strncmp(events + 10, event, strlen(event)) == 0, "events spliced: %.400s", raw);
    free(raw);
    json_decref(env);
    free(expected);
    free(quoted);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_success_body_is_the_servers_bytes);
    RUN(test_stream_events_are_the_servers_bytes);
    return tu_finish();
}
