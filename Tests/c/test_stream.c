/*
 * test_stream.c — streaming: hl_complete*_stream + hl_stream_next/free, the SSE
 * parsing rules, terminal items, "first event before the rest is sent", early free, and the
 * blocking calls with "stream": true (merged body + "events").
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The four events of docs/examples/completion.stream.sse (the server's default). */
static const char *DEFAULT_EVENTS[4] = {
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\"Llamas\",\"raw_output\":\"Llamas\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":null}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}",
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\" are friendly\",\"raw_output\":\" are friendly\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":null}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}",
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\" and curious; here is the data: they\",\"raw_output\":\" and curious; here is the data: they\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":null}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}",
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\" like people.\",\"raw_output\":\" like people.\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":\"stop\"}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}",
};
#define DEFAULT_EVENTS_JSON "[" \
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\"Llamas\",\"raw_output\":\"Llamas\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":null}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}," \
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\" are friendly\",\"raw_output\":\" are friendly\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":null}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}," \
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\" and curious; here is the data: they\",\"raw_output\":\" and curious; here is the data: they\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":null}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}," \
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\" like people.\",\"raw_output\":\" like people.\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":\"stop\"}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\"}]"

/* Three small events used by the parsing-variant tests. */
#define E1 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\"one\",\"finish_reason\":null}],\"project_id\":\"pr_s\"}"
#define E2 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\" two: data: x\",\"finish_reason\":null}],\"project_id\":\"pr_s\"}"
#define E3 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\" three\",\"finish_reason\":\"stop\"}],\"project_id\":\"pr_s\"}"
static const char *E123[3] = {E1, E2, E3};

#define MAXITEMS 512
#define REPEAT4(r) "[" r "," r "," r "," r "]"

typedef struct {
    int n;                  /* items before NULL */
    json_t *j[MAXITEMS];
    char *raw[MAXITEMS];
    double t[MAXITEMS];     /* seconds since read_all started when the item arrived */
} items_t;

/* Read items until NULL; then hl_stream_next must keep returning NULL. */
static void read_all(hl_stream *s, items_t *it)
{
    memset(it, 0, sizeof *it);
    double t0 = tu_now();
    while (it->n < MAXITEMS) {
        char *raw = NULL;
        json_t *j = tu_next(s, &raw);
        if (!raw) break;
        it->j[it->n] = j;
        it->raw[it->n] = raw;
        it->t[it->n] = tu_now() - t0;
        it->n++;
    }
    CHECKF(it->n < MAXITEMS, "stream ended within %d items", MAXITEMS);
    for (int k = 0; k < 3; k++) {
        char *again = hl_stream_next(s);
        CHECKF(again == NULL, "NULL for every call after the end: %s", again ? again : "");
        hl_free(again);
    }
}

static void free_items(items_t *it)
{
    for (int i = 0; i < it->n; i++) {
        json_decref(it->j[i]);
        free(it->raw[i]);
    }
    it->n = 0;
}

/* items = the expected events in order, then the done item, whose "events" counts every event
 * of the stream (`already` were read before these items). */
static void check_events_then_done_after(items_t *it, const char *const *events, int n, int already, const char *what)
{
    CHECKF(it->n == n + 1, "%s: %d events + done expected, got %d items", what, n, it->n);
    for (int i = 0; i < n && i < it->n; i++) {
        json_t *j = it->j[i];
        CHECKF(tu_bool(j, "ok") == 1, "%s: item %d ok: %s", what, i, it->raw[i]);
        json_t *exp = tu_json(events[i]);
        CHECKF(exp && json_equal(tu_get(j, "event"), exp), "%s: item %d is event %d untouched: %s", what, i, i,
               it->raw[i]);
        CHECKF(tu_get(j, "done") == NULL, "%s: event item has no done: %s", what, it->raw[i]);
        json_decref(exp);
    }
    if (it->n == n + 1) {
        json_t *d = it->j[n];
        CHECKF(tu_bool(d, "ok") == 1 && tu_bool(d, "done") == 1, "%s: terminal done item: %s", what, it->raw[n]);
        CHECKF(json_integer_value(tu_get(d, "status")) == 200, "%s: done status 200: %s", what, it->raw[n]);
        CHECKF(json_is_object(tu_get(d, "headers")), "%s: done headers: %s", what, it->raw[n]);
        CHECKF(json_is_number(tu_get(d, "round_trip_time")), "%s: done round_trip_time: %s", what, it->raw[n]);
        CHECKF(json_is_integer(tu_get(d, "events")) && json_integer_value(tu_get(d, "events")) == already + n,
               "%s: done events == %d: %s", what, already + n, it->raw[n]);
        CHECKF(tu_get(d, "event") == NULL, "%s: done item carries no event", what);
    } else {
        for (int i = 0; i < it->n; i++) tu_note("%s item %d: %.300s", what, i, it->raw[i]);
    }
}

static void check_events_then_done(items_t *it, const char *const *events, int n, const char *what)
{
    check_events_then_done_after(it, events, n, 0, what);
}

/* items = the expected events, then one error item of the given type. */
static void check_events_then_error(items_t *it, const char *const *events, int n, const char *type, const char *what)
{
    CHECKF(it->n == n + 1, "%s: %d events + error expected, got %d items", what, n, it->n);
    for (int i = 0; i < n && i < it->n; i++) {
        json_t *exp = tu_json(events[i]);
        CHECKF(tu_bool(it->j[i], "ok") == 1 && exp && json_equal(tu_get(it->j[i], "event"), exp),
               "%s: item %d is event %d: %s", what, i, i, it->raw[i]);
        json_decref(exp);
    }
    if (it->n >= 1) {
        json_t *e = it->j[it->n - 1];
        const char *t = tu_err_type(e);
        CHECKF(tu_bool(e, "ok") == 0 && t && strcmp(t, type) == 0, "%s: last item is a %s error: %s", what, type,
               it->raw[it->n - 1]);
    }
    if (it->n != n + 1)
        for (int i = 0; i < it->n; i++) tu_note("%s item %d: %.300s", what, i, it->raw[i]);
}

static json_t *only_request(void)
{
    json_t *reqs = tu_requests();
    CHECKF(json_array_size(reqs) == 1, "one request recorded, got %zu", json_array_size(reqs));
    json_t *r = json_array_get(reqs, 0);
    if (r) json_incref(r);
    json_decref(reqs);
    return r;
}

/* ---------------------------------------------------------------------------------------- */

static void test_stream_default_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        hl_stream *s = ep->stream(c, ep->minimal);
        CHECK(s != NULL);
        items_t it;
        read_all(s, &it);
        hl_stream_free(s);
        check_events_then_done(&it, DEFAULT_EVENTS, 4, ep->name);
        if (it.n == 5) CHECKF(tu_contains(tu_str(it.j[4], "headers.content-type"), "text/event-stream"), "%s", it.raw[4]);
        /* the first event's item carries the answer's status and headers; later ones do not */
        if (it.n == 5) {
            CHECK_JINT(it.j[0], "status", 200);
            CHECKF(tu_contains(tu_str(it.j[0], "headers.content-type"), "text/event-stream"), "%s", it.raw[0]);
            CHECKF(json_object_get(it.j[1], "status") == NULL && json_object_get(it.j[1], "headers") == NULL, "%s", it.raw[1]);
        }
        free_items(&it);
        /* the request: the blocking call's request with "stream": true */
        json_t *r = only_request();
        CHECK_JSTR(r, "method", "POST");
        CHECK_JSTR(r, "path", ep->path);
        CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
        CHECK_STR(tu_req_header(r, "Content-Type"), "application/json");
        CHECK_STR(tu_req_header(r, "Accept"), "application/json");
        CHECK_STR(tu_req_header(r, "User-Agent"), "libhumanloop/" HL_VERSION_STRING);
        CHECK(tu_req_header(r, "Expect") == NULL);
        json_t *body = tu_json(tu_str(r, "body"));
        json_t *exp = tu_json(ep->minimal);
        json_object_set_new(exp, "stream", json_true());
        json_object_set_new(exp, "provider_api_keys", json_object());
        CHECKF(body && json_equal(body, exp), "%s: body = minimal + stream:true + provider_api_keys: %s", ep->name,
               tu_str(r, "body"));
        json_decref(exp);
        json_decref(body);
        json_decref(r);
    }
    hl_client_free(c);
}

static void test_stream_request_body_as_written(void)
{
    hl_client *c = tu_client(",\"cohere_api_key\":\"c-co\"");
    /* the caller's "stream": false is overridden; numbers go out as the SDK writes them, UTF-8 raw */
    hl_stream *s = hl_complete_stream(c, "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"temperature\":0.7,"
                                         "\"top_p\":1e-7},\"stream\":false,\"inputs\":{\"q\":\"caf\xc3\xa9\"},"
                                         "\"metadata\":{\"big\":12345678901234567890123456789e0}}");
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    CHECK_INT(it.n, 5);
    free_items(&it);
    json_t *r = only_request();
    const char *body = tu_str(r, "body");
    CHECKF(tu_contains(body, "\"temperature\":0.7,\"top_p\":1e-07}"), "numbers as the SDK writes them: %s", body);
    CHECKF(tu_contains(body, "\"big\":1.2345678901234568e+28"), "a big real as the SDK writes it: %s", body);
    CHECKF(tu_contains(body, "\"q\":\"caf\xc3\xa9\""), "raw UTF-8: %s", body);
    CHECKF(tu_contains(body, "\"stream\":true") && !tu_contains(body, "\"stream\":false"), "stream true: %s", body);
    CHECKF(tu_contains(body, "\"provider_api_keys\":{\"cohere\":\"c-co\"}"), "client keys merged: %s", body);
    CHECKF(body && !strchr(body, ' ') && !strchr(body, '\n'), "compact: %s", body);
    json_decref(r);
    hl_client_free(c);
}

static void test_stream_events_untouched(void)
{
    hl_client *c = tu_client(NULL);
    /* raw event text with unusual numbers, unknown keys, several data items, nulls */
    tu_script("[{\"stream\":{\"events\":[{\"raw\":\"{\\\"data\\\":[{\\\"id\\\":\\\"a\\\",\\\"index\\\":0,\\\"output\\\":\\\"x\\\","
              "\\\"finish_reason\\\":null,\\\"tool_results\\\":[]},{\\\"id\\\":\\\"b\\\",\\\"index\\\":1,\\\"output\\\":\\\"y\\\"}],"
              "\\\"project_id\\\":\\\"p\\\",\\\"n\\\":0.7,\\\"big\\\":123456789012345678901234567890,\\\"t\\\":1e-7,"
              "\\\"u\\\":\\\"caf\\u00e9 \\\\u00e9\\\",\\\"unknown_top\\\":{\\\"k\\\":[1,null,true]}}\"}]}}]");
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    CHECK_INT(it.n, 2);
    if (it.n >= 1) {
        const char *raw = it.raw[0];
        CHECKF(tu_contains(raw, "0.7") && !tu_contains(raw, "0.69999"), "0.7 untouched: %s", raw);
        CHECKF(tu_contains(raw, "123456789012345678901234567890"), "big integer untouched: %s", raw);
        CHECKF(tu_contains(raw, "1e-7"), "1e-7 untouched: %s", raw);
        CHECK_JSTR(it.j[0], "event.data[1].id", "b");
        CHECK_JSTR(it.j[0], "event.data[1].output", "y");
        CHECK_JEQ(it.j[0], "event.data[0].tool_results", "[]");
        CHECK_JEQ(it.j[0], "event.data[0].finish_reason", "null");
        CHECK_JEQ(it.j[0], "event.unknown_top", "{\"k\":[1,null,true]}");
        CHECK_JSTR(it.j[0], "event.u", "caf\xc3\xa9 \xc3\xa9");
        CHECK_JSTR(it.j[0], "event.project_id", "p");
    }
    free_items(&it);
    hl_client_free(c);
}

/* Script E1,E2,E3 with the given extra stream options and expect exactly them, then done. */
static void variant(hl_client *c, const char *opts, const char *what)
{
    tu_reset();
    tu_script("[{\"stream\":{\"events\":[" E1 "," E2 "," E3 "]%s}}]", opts);
    hl_stream *s = hl_complete_deployed_stream(c, "{\"project\":\"p\"}");
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_done(&it, E123, 3, what);
    free_items(&it);
}

static void test_stream_line_endings_and_framing(void)
{
    hl_client *c = tu_client(NULL);
    variant(c, "", "LF");
    variant(c, ",\"line_ending\":\"\\r\\n\"", "CRLF");
    variant(c, ",\"line_ending\":\"\\r\"", "CR");
    variant(c, ",\"no_space\":true", "data: without space");
    variant(c, ",\"comments\":true", "comment lines");
    variant(c, ",\"done\":true", "[DONE] marker");
    variant(c, ",\"no_trailing_blank_line\":true", "last event without trailing blank line");
    variant(c, ",\"no_trailing_blank_line\":true,\"line_ending\":\"\\r\\n\"", "CRLF, no trailing blank line");
    hl_client_free(c);
}

static void test_stream_chunked_down_to_single_bytes(void)
{
    hl_client *c = tu_client(NULL);
    variant(c, ",\"chunk_size\":1", "chunk_size 1");
    variant(c, ",\"chunk_size\":1,\"line_ending\":\"\\r\\n\",\"comments\":true,\"done\":true", "chunk 1 + CRLF + comments + DONE");
    variant(c, ",\"chunk_size\":1,\"line_ending\":\"\\r\"", "chunk 1 + CR");
    variant(c, ",\"chunk_size\":1,\"no_space\":true,\"no_trailing_blank_line\":true", "chunk 1 + no space + no blank");
    variant(c, ",\"chunk_size\":7,\"delay\":0.01", "chunk 7 + delays");
    variant(c, ",\"chunk_size\":3,\"line_ending\":\"\\r\\n\",\"done\":true,\"no_trailing_blank_line\":true", "chunk 3 + CRLF + DONE unterminated");
    hl_client_free(c);
}

/* Send an exact body text and expect the given events then done. */
static void raw_body(hl_client *c, const char *body_json_string, const char *const *events, int n, const char *what)
{
    tu_reset();
    tu_script("[{\"stream\":{\"raw\":%s}}]", body_json_string);
    hl_stream *s = hl_complete_experiment_stream(c, "{\"experiment_id\":\"e\"}");
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_done(&it, events, n, what);
    free_items(&it);
}

static void test_stream_sse_field_rules(void)
{
    hl_client *c = tu_client(NULL);
    {
        /* two data lines joined with "\n" (JSON whitespace) */
        const char *ev[] = {"{\"data\":[{\"id\":\"m\",\"output\":\"multi\",\"finish_reason\":null}]}"};
        raw_body(c, "\"data: {\\\"data\\\":[{\\\"id\\\":\\\"m\\\",\\n"
                    "data: \\\"output\\\":\\\"multi\\\",\\\"finish_reason\\\":null}]}\\n\\n\"",
                 ev, 1, "multi-line data");
    }
    {
        /* the joining "\n" is inside a JSON string only if the parser joins with \n: here it
         * splits a number-free object over three lines, the middle one empty-valued "data:" */
        const char *ev[] = {"{\"a\":1,\"b\":2}"};
        raw_body(c, "\"data:{\\\"a\\\":1,\\ndata:\\ndata: \\\"b\\\":2}\\n\\n\"", ev, 1, "three data lines, one empty");
    }
    {
        /* event:, id:, retry:, unknown fields and comments are ignored */
        const char *ev[] = {"{\"a\":1}", "{\"b\":2}"};
        raw_body(c, "\": hello\\nevent: completion\\nid: 7\\nretry: 1000\\nfoo: bar\\ndata: {\\\"a\\\":1}\\n\\n"
                    ":\\n: ping\\nid\\ndata:{\\\"b\\\":2}\\n\\n\"",
                 ev, 2, "ignored fields");
    }
    {
        /* only one leading space is removed; the rest is JSON whitespace */
        const char *ev[] = {"{\"c\":3}"};
        raw_body(c, "\"data:   {\\\"c\\\":3}  \\n\\n\"", ev, 1, "extra spaces");
    }
    {
        /* blank lines before/between events, mixed line endings in one body */
        const char *ev[] = {"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"};
        raw_body(c, "\"\\n\\r\\n\\rdata: {\\\"a\\\":1}\\r\\n\\r\\n\\n\\ndata: {\\\"b\\\":2}\\r\\rdata: {\\\"c\\\":3}\\n\\r\\n\"",
                 ev, 3, "mixed line endings");
    }
    {
        /* [DONE] ends the stream (nothing after it is an event) */
        const char *ev[] = {"{\"a\":1}"};
        raw_body(c, "\"data: {\\\"a\\\":1}\\n\\ndata: [DONE]\\n\\n\"", ev, 1, "[DONE]");
    }
    {
        /* "data: " inside the JSON text, and a line that only starts with "data" */
        const char *ev[] = {"{\"output\":\"data: x data: y\\ndata: z\"}"};
        raw_body(c, "\"data: {\\\"output\\\":\\\"data: x data: y\\\\ndata: z\\\"}\\n\\n\"", ev, 1, "data: inside text");
    }
    {
        /* final event at end of body without any line end */
        const char *ev[] = {"{\"a\":1}", "{\"z\":26}"};
        raw_body(c, "\"data: {\\\"a\\\":1}\\n\\ndata: {\\\"z\\\":26}\"", ev, 2, "final event without line end");
    }
    {
        /* an empty body: no events, done */
        raw_body(c, "\"\"", NULL, 0, "empty body");
    }
    {
        /* only comments */
        raw_body(c, "\": a\\n: b\\n\\n\"", NULL, 0, "only comments");
    }
    hl_client_free(c);
}

static void test_stream_multi_sample_interleaving(void)
{
    hl_client *c = tu_client(NULL);
#define S(id, i, out, fin) "{\"data\":[{\"id\":\"" id "\",\"index\":" #i ",\"output\":\"" out "\",\"finish_reason\":" fin "}],\"project_id\":\"pr_m\"}"
    const char *ev[] = {
        S("d0", 0, "A1", "null"), S("d1", 1, "B1", "null"), S("d1", 1, "B2", "null"),
        S("d0", 0, "A2", "\"length\""), S("d2", 2, "C1", "\"stop\""), S("d1", 1, "B3", "\"stop\""),
    };
    tu_script("[{\"stream\":{\"events\":[%s,%s,%s,%s,%s,%s],\"chunk_size\":5}}]", ev[0], ev[1], ev[2], ev[3], ev[4], ev[5]);
    hl_stream *s = hl_complete_model_configuration_stream(c, "{\"model_config_id\":\"m\",\"num_samples\":3}");
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_done(&it, ev, 6, "interleaved samples");
    free_items(&it);

    /* the same through the blocking call: merged per index */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":[%s,%s,%s,%s,%s,%s]}}]", ev[0], ev[1], ev[2], ev[3], ev[4], ev[5]);
    char *raw = NULL;
    json_t *env = tu_call(hl_complete_model_configuration, c, "{\"model_config_id\":\"m\",\"num_samples\":3,\"stream\":true}", &raw);
    CHECKF(tu_is_ok(env), "%s", raw);
    json_t *data = tu_get(env, "body.data");
    CHECKF(json_array_size(data) == 3, "3 merged samples: %s", raw);
    size_t k;
    json_t *d;
    int seen = 0;
    json_array_foreach(data, k, d) {
        json_int_t idx = json_integer_value(json_object_get(d, "index"));
        const char *out = json_string_value(json_object_get(d, "output"));
        const char *fin = json_string_value(json_object_get(d, "finish_reason"));
        const char *id = json_string_value(json_object_get(d, "id"));
        if (idx == 0) { seen |= 1; CHECK_STR(out, "A1A2"); CHECK_STR(fin, "length"); CHECK_STR(id, "d0"); }
        if (idx == 1) { seen |= 2; CHECK_STR(out, "B1B2B3"); CHECK_STR(fin, "stop"); CHECK_STR(id, "d1"); }
        if (idx == 2) { seen |= 4; CHECK_STR(out, "C1"); CHECK_STR(fin, "stop"); CHECK_STR(id, "d2"); }
    }
    CHECKF(seen == 7, "indexes 0, 1, 2 present: %s", raw);
    CHECK_JSTR(env, "body.project_id", "pr_m");
    CHECKF(json_array_size(tu_get(env, "events")) == 6, "events holds all 6: %s", raw);
    free(raw);
    json_decref(env);
    hl_client_free(c);
#undef S
}

static void test_stream_cut_mid_stream(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"stream\":{\"events\":" DEFAULT_EVENTS_JSON ",\"cut_after\":2}}]");
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, DEFAULT_EVENTS, 2, "connection_error", "cut after 2");
    if (it.n >= 1) {
        const char *msg = tu_str(it.j[it.n - 1], "error.message");
        CHECKF(tu_contains(msg, "2"), "message says how many events arrived (2): %s", msg);
    }
    free_items(&it);
    /* cut before any event */
    tu_reset();
    /* (scripted 4 times: a later version may retry a stream that delivered nothing) */
    tu_script(REPEAT4("{\"stream\":{\"events\":" DEFAULT_EVENTS_JSON ",\"cut_after\":0}}"));
    s = hl_complete_stream(c, TU_REQ);
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, DEFAULT_EVENTS, 0, "connection_error", "cut after 0");
    free_items(&it);
    hl_client_free(c);
}

static void test_stream_api_error_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        tu_script("[{\"status\":422,\"headers\":{\"X-Why\":\"because\"},\"json\":{\"detail\":[{\"loc\":[\"body\",\"x\"],"
                  "\"msg\":\"bad\",\"type\":\"value_error\"}]}}]");
        hl_stream *s = ep->stream(c, ep->minimal);
        items_t it;
        read_all(s, &it);
        hl_stream_free(s);
        check_events_then_error(&it, NULL, 0, "api_error", ep->name);
        if (it.n == 1) {
            json_t *e = it.j[0];
            CHECK_JINT(e, "error.status", 422);
            CHECK_JSTR(e, "error.reason", "Unprocessable Entity");
            CHECK_JSTR(e, "error.body.detail[0].msg", "bad");
            CHECK_JSTR(e, "error.headers.x-why", "because");
        }
        free_items(&it);
    }
    /* 500 with a text body */
    tu_reset();
    tu_script(REPEAT4("{\"status\":500,\"body\":\"upstream exploded\"}"));
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, NULL, 0, "api_error", "500 text");
    if (it.n == 1) {
        CHECK_JINT(it.j[0], "error.status", 500);
        CHECK_JSTR(it.j[0], "error.body", "upstream exploded");
        CHECK_JSTR(it.j[0], "error.reason", "Internal Server Error");
    }
    free_items(&it);
    /* a non-2xx that is itself an event stream is still an api_error */
    tu_reset();
    tu_script(REPEAT4("{\"status\":503,\"stream\":{\"events\":[" E1 "]}}"));
    s = hl_complete_stream(c, TU_REQ);
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, NULL, 0, "api_error", "503 event-stream");
    if (it.n == 1) CHECK_JINT(it.j[0], "error.status", 503);
    free_items(&it);
    hl_client_free(c);
}

static void test_stream_invalid_json_event(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 ",{\"raw\":\"{not json\"}," E3 "]}}]");
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, E123, 1, "invalid_response", "invalid JSON event");
    free_items(&it);
    /* truncated JSON as the last event at end of body */
    tu_reset();
    tu_script("[{\"stream\":{\"raw\":\"data: {\\\"a\\\":1}\\n\\ndata: {\\\"b\\\":\"}}]");
    s = hl_complete_stream(c, TU_REQ);
    read_all(s, &it);
    hl_stream_free(s);
    {
        const char *ev[] = {"{\"a\":1}"};
        check_events_then_error(&it, ev, 1, "invalid_response", "truncated final event");
    }
    free_items(&it);
    hl_client_free(c);
}

static void test_stream_validation_error_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        const char *bad[] = {"{\"bogus\":1}", NULL, "not json", "[]"};
        for (int k = 0; k < 4; k++) {
            tu_reset();
            hl_stream *s = ep->stream(c, bad[k]);
            CHECKF(s != NULL, "%s: a stream even for invalid input", ep->name);
            items_t it;
            read_all(s, &it);
            hl_stream_free(s);
            check_events_then_error(&it, NULL, 0, "invalid_request", ep->name);
            if (k == 0 && it.n == 1) CHECK_JSTR(it.j[0], "error.path", "bogus");
            CHECK_INT(tu_request_count(), 0);
            free_items(&it);
        }
    }
    /* a wrong type for stream itself is still a validation error */
    tu_reset();
    hl_stream *s = hl_complete_deployed_stream(c, "{\"stream\":\"yes\"}");
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, NULL, 0, "invalid_request", "stream \"yes\"");
    CHECK_INT(tu_request_count(), 0);
    free_items(&it);
    hl_client_free(c);
}

static void test_stream_connection_error(void)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"api_key\":\"%s\",\"host\":\"http://127.0.0.1:%d/v4\"}", TU_SECRET, tu_closed_port());
    hl_client *c = hl_client_new(cfg, NULL);
    CHECK(c != NULL);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, NULL, 0, "connection_error", "refused");
    free_items(&it);
    hl_client_free(c);
}

static void test_stream_timeout(void)
{
    double f = tu_factor();
    hl_client *c = tu_client(",\"timeout\":1");
    tu_script("[{\"delay\":%g,\"stream\":{\"events\":[" E1 "]}},{\"delay\":%g,\"stream\":{\"events\":[" E1 "]}}]", 3 * f, 3 * f);
    double t0 = tu_now();
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    double dt = tu_now() - t0;
    hl_stream_free(s);
    check_events_then_error(&it, NULL, 0, "timeout", "no answer within timeout");
    CHECKF(dt < 2.5 * f, "timed out after %.2fs (bound %.1fs)", dt, 2.5 * f);
    free_items(&it);
    hl_client_free(c);
}

/* A stream's timeout bounds its head and first event only: a healthy stream that outlasts it is
 * not cut, on every path whose answer is an event stream (pull stream, async
 * stream, blocking "stream": true, a batch item that streams); a stream that stalls longer than
 * low_speed_timeout still fails with a timeout; a first event later than timeout is a timeout. */
#define SLOW12 "{\"stream\":{\"events\":[" E1 "," E1 "," E1 "," E1 "," E1 "," E1 "," E1 "," E1 "," E1 "," E1 "," E1 "," E1 "],\"delay\":%g}}"
static void test_stream_timeout_bounds_only_the_first_event(void)
{
    double f = tu_factor();
    hl_client *c = tu_client(",\"timeout\":%g,\"low_speed_timeout\":%g,\"max_retries\":0", 0.6 * f, 0.5 * f);
    /* 12 events 0.1 s apart: 1.1 s, longer than timeout */
    tu_script("[" SLOW12 "," SLOW12 "," SLOW12 "," SLOW12 "]", 0.1 * f, 0.1 * f, 0.1 * f, 0.1 * f);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    hl_stream_free(s);
    CHECKF(it.n == 13 && tu_bool(it.j[12], "done") == 1, "pull stream: 12 events and done, got %d items, last %.300s",
           it.n, it.n ? it.raw[it.n - 1] : "");
    free_items(&it);

    tu_async a;
    tu_async_init(&a, 1);
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, "{\"stream\":true}");
    CHECK(tu_async_wait(&a, 10 * f));
    CHECKF(a.n == 13, "async stream: 12 events and done, got %d items, last %.300s", a.n, a.n ? a.raw[a.n - 1] : "");
    if (a.n == 13) {
        json_t *done = tu_async_item(&a, 12);
        CHECK(tu_bool(done, "done") == 1);
        json_decref(done);
    }
    hl_call_free(call);
    tu_async_destroy(&a);

    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, "{\"model_config\":" TU_MC ",\"stream\":true}", &raw);
    CHECKF(tu_is_ok(env) && json_array_size(tu_get(env, "events")) == 12, "blocking stream:true merged: %.300s", raw);
    json_decref(env);
    free(raw);

    char *batch = hl_batch(c, "{\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ ",\"options\":{\"stream\":true}}]}");
    json_t *b = tu_json(batch);
    json_t *first = json_array_get(tu_get(b, "results"), 0);
    CHECKF(first && tu_is_ok(first) && json_array_size(tu_get(first, "events")) == 12, "batch item that streams: %.300s", batch);
    json_decref(b);
    hl_free(batch);

    /* a stall longer than low_speed_timeout after two events: a timeout naming low_speed_timeout */
    tu_script("[{\"stream\":{\"events\":[" E1 "," E2 "," E3 "],\"hold_after\":2,\"hold\":%g}}]", 3 * f);
    s = hl_complete_stream(c, TU_REQ);
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, E123, 2, "timeout", "stall after two events");
    if (it.n == 3) CHECKF(tu_contains(tu_str(it.j[2], "error.message"), "low_speed_timeout"), "%s", it.raw[2]);
    free_items(&it);
    hl_client_free(c);

    /* no first event within timeout (the bytes-gap bound is longer): a timeout naming timeout */
    c = tu_client(",\"timeout\":%g,\"low_speed_timeout\":%g,\"max_retries\":0", 0.5 * f, 10 * f);
    tu_script("[{\"stream\":{\"events\":[" E1 "],\"first_delay\":%g}}]", 3 * f);
    double t0 = tu_now();
    s = hl_complete_stream(c, TU_REQ);
    read_all(s, &it);
    hl_stream_free(s);
    check_events_then_error(&it, NULL, 0, "timeout", "first event later than timeout");
    if (it.n == 1) CHECKF(tu_contains(tu_str(it.j[0], "error.message"), "(timeout) before the stream's first event"), "%s", it.raw[0]);
    CHECKF(tu_now() - t0 < 2 * f, "timed out after %.2fs", tu_now() - t0);
    free_items(&it);
    hl_client_free(c);
}

static void test_stream_first_event_before_rest(void)
{
    double f = tu_factor();
    hl_client *c = tu_client(NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 "," E2 "," E3 "],\"hold_after\":1,\"hold\":%g}}]", 3 * f);
    double t0 = tu_now();
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    char *raw = NULL;
    json_t *first = tu_next(s, &raw);
    double dt = tu_now() - t0;
    CHECKF(dt < 1.5 * f, "first event after %.2fs, while the server holds the rest for %.0fs (bound %.1fs)", dt, 3 * f,
           1.5 * f);
    json_t *e1 = tu_json(E1);
    CHECKF(first && json_equal(tu_get(first, "event"), e1), "first item is E1: %s", raw);
    json_decref(e1);
    json_decref(first);
    free(raw);
    items_t it;
    read_all(s, &it);
    double total = tu_now() - t0;
    hl_stream_free(s);
    check_events_then_done_after(&it, E123 + 1, 2, 1, "rest after hold");
    CHECKF(total > 2.0 * f, "the server did hold (%.2fs)", total);
    free_items(&it);
    hl_client_free(c);
}

static int connections_open(void)
{
    json_t *st = tu_stats();
    int n = (int)json_integer_value(json_object_get(st, "connections_open"));
    json_decref(st);
    return n;
}

/* Open a stream on a fresh client, read `before` items, free it; the free must be prompt and
 * the server must see the connection closed. */
static void early_free(const char *script, int before, int check_closed, const char *what)
{
    double f = tu_factor();
    tu_reset();
    tu_sleep(0.2); /* let earlier connections finish closing */
    int base = connections_open();
    hl_client *c = tu_client(NULL);
    tu_script("%s", script);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    for (int i = 0; i < before; i++) {
        char *raw = NULL;
        json_t *j = tu_next(s, &raw);
        CHECKF(j && tu_get(j, "event"), "%s: item %d is an event: %s", what, i, raw ? raw : "NULL");
        json_decref(j);
        free(raw);
    }
    if (before > 0) CHECKF(connections_open() > base, "%s: the stream's connection is open", what);
    double t0 = tu_now();
    hl_stream_free(s);
    double dt = tu_now() - t0;
    CHECKF(dt < 1.0 * f, "%s: hl_stream_free took %.2fs", what, dt);
    /* the server sees the connection closed (the client is still alive: the stream's
     * unfinished connection must not be kept for reuse) */
    if (!check_closed) {
        hl_client_free(c);
        return;
    }
    double deadline = tu_now() + 3 * f;
    int open = connections_open();
    while (open > base && tu_now() < deadline) {
        tu_sleep(0.05);
        open = connections_open();
    }
    CHECKF(open <= base, "%s: connections_open back to %d (is %d)", what, base, open);
    hl_client_free(c);
}

static void test_stream_early_free(void)
{
    early_free("[{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.05}}]", 1, 1, "forever, after 1 event");
    early_free("[{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.05}}]", 5, 1, "forever, after 5 events");
    early_free("[{\"stream\":{\"events\":[" E1 "," E2 "," E3 "," E1 "," E2 "," E3 "],\"delay\":0.5}}]", 1, 1, "slow stream");
    /* the server sleeps through its hold and cannot notice the close before it writes again */
    early_free("[{\"stream\":{\"events\":[" E1 "," E2 "," E3 "],\"hold_after\":1,\"hold\":10}}]", 1, 0, "held stream");
}

static void test_stream_free_at_any_point(void)
{
    hl_client *c = tu_client(NULL);
    /* before any next */
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    hl_stream_free(s);
    /* after the terminal item */
    s = hl_complete_stream(c, TU_REQ);
    items_t it;
    read_all(s, &it);
    free_items(&it);
    hl_stream_free(s);
    /* after an error item */
    s = hl_complete_stream(c, "{}");
    read_all(s, &it);
    free_items(&it);
    hl_stream_free(s);
    /* a validation-failed stream freed without reading */
    s = hl_complete_stream(c, "{");
    hl_stream_free(s);
    /* the client still works */
    json_t *env = tu_call(hl_complete, c, TU_REQ, NULL);
    CHECK(tu_is_ok(env));
    json_decref(env);
    hl_client_free(c);
}

static void test_stream_outlives_client(void)
{
    /* "a stream keeps its client alive": free the client first, then use the stream */
    hl_client *c = tu_client(NULL);
    hl_stream *s1 = hl_complete_stream(c, TU_REQ);
    hl_stream *s2 = hl_complete_deployed_stream(c, "{\"project\":\"p\"}");
    char *first = hl_stream_next(s1);
    CHECK(first != NULL);
    hl_free(first);
    hl_client_free(c);
    items_t it;
    read_all(s1, &it);
    CHECK_INT(it.n, 4); /* 3 remaining events + done */
    free_items(&it);
    hl_stream_free(s1);
    read_all(s2, &it);
    check_events_then_done(&it, DEFAULT_EVENTS, 4, "second stream after client free");
    free_items(&it);
    hl_stream_free(s2);
}

static void test_two_streams_alternating(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 "," E2 "," E3 "],\"delay\":0.02}},"
              "{\"stream\":{\"events\":[" E3 "," E2 "," E1 "],\"delay\":0.02}}]");
    hl_stream *a = hl_complete_stream(c, TU_REQ);
    char *a0 = hl_stream_next(a); /* the first request takes the first script */
    hl_stream *b = hl_complete_stream(c, TU_REQ);
    json_t *ja[4] = {tu_parse_env(a0), NULL, NULL, NULL}, *jb[4] = {NULL, NULL, NULL, NULL};
    hl_free(a0);
    for (int i = 0; i < 4; i++) {
        if (i > 0) ja[i] = tu_next(a, NULL);
        jb[i] = tu_next(b, NULL);
    }
    const char *ea[3] = {E1, E2, E3}, *eb[3] = {E3, E2, E1};
    for (int i = 0; i < 3; i++) {
        json_t *x = tu_json(ea[i]), *y = tu_json(eb[i]);
        CHECKF(json_equal(tu_get(ja[i], "event"), x), "stream a item %d", i);
        CHECKF(json_equal(tu_get(jb[i], "event"), y), "stream b item %d", i);
        json_decref(x);
        json_decref(y);
    }
    CHECK(tu_bool(ja[3], "done") == 1);
    CHECK(tu_bool(jb[3], "done") == 1);
    for (int i = 0; i < 4; i++) {
        json_decref(ja[i]);
        json_decref(jb[i]);
    }
    CHECK(hl_stream_next(a) == NULL);
    CHECK(hl_stream_next(b) == NULL);
    hl_stream_free(b);
    hl_stream_free(a);
    hl_client_free(c);
}

static void test_blocking_stream_true_merged_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        size_t n = strlen(ep->minimal) + 32;
        char *req = malloc(n);
        snprintf(req, n, "%.*s,\"stream\":true}", (int)strlen(ep->minimal) - 1, ep->minimal);
        char *raw = NULL;
        json_t *env = tu_call(ep->call, c, req, &raw);
        CHECKF(tu_is_ok(env), "%s: %s", ep->name, raw);
        CHECK_JINT(env, "status", 200);
        CHECK(json_is_object(tu_get(env, "headers")));
        CHECK(json_is_number(tu_get(env, "round_trip_time")));
        CHECK_JSTR(env, "body.data[0].output", "Llamas are friendly and curious; here is the data: they like people.");
        CHECK_JSTR(env, "body.data[0].raw_output", "Llamas are friendly and curious; here is the data: they like people.");
        CHECK_JSTR(env, "body.data[0].finish_reason", "stop");
        CHECK_JSTR(env, "body.data[0].id", "data_9dJz3WqkT2uYvX8pLmN4c");
        CHECK_JINT(env, "body.data[0].index", 0);
        CHECK_JSTR(env, "body.data[0].model_config_id", "config_Vd9w2a8eCkLzYb5qS1nHu");
        CHECK_JSTR(env, "body.data[0].inputs.text", "Llamas are curious animals that usually approach people easily.");
        CHECK_JSTR(env, "body.project_id", "pr_3usCu3Zed2ekbUbCuUbq8");
        CHECKF(json_array_size(tu_get(env, "body.data")) == 1, "one sample: %s", raw);
        CHECK_JEQ(env, "events", DEFAULT_EVENTS_JSON);
        /* the request went out as written */
        json_t *r = only_request();
        size_t m = strlen(req) + 32;
        char *expected = malloc(m);
        snprintf(expected, m, "%.*s,\"provider_api_keys\":{}}", (int)strlen(req) - 1, req);
        CHECK_JSTR(r, "body", expected);
        CHECK_STR(tu_req_header(r, "Accept"), "application/json");
        free(expected);
        json_decref(r);
        free(raw);
        free(req);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_blocking_stream_true_errors(void)
{
    hl_client *c = tu_client(NULL);
    const char *req = "{\"model_config\":" TU_MC ",\"stream\":true}";
    /* cut mid-stream (scripted 4 times in case a later version retries the blocking call) */
    tu_script(REPEAT4("{\"stream\":{\"events\":" DEFAULT_EVENTS_JSON ",\"cut_after\":2}}"));
    json_t *env = tu_call(hl_complete, c, req, NULL);
    CHECK_STR(tu_err_type(env), "connection_error");
    CHECKF(tu_contains(tu_str(env, "error.message"), "2"), "says 2 events arrived: %s", tu_str(env, "error.message"));
    json_decref(env);
    /* non-2xx */
    tu_reset();
    tu_script("[{\"status\":422,\"json\":{\"detail\":[]}}]");
    env = tu_call(hl_complete, c, req, NULL);
    CHECK_STR(tu_err_type(env), "api_error");
    CHECK_JINT(env, "error.status", 422);
    CHECK_JEQ(env, "error.body", "{\"detail\":[]}");
    json_decref(env);
    /* invalid event */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":[" E1 ",{\"raw\":\"nope\"}]}}]");
    env = tu_call(hl_complete, c, req, NULL);
    CHECK_STR(tu_err_type(env), "invalid_response");
    json_decref(env);
    /* CRLF + single bytes + [DONE] through the blocking path */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":[" E1 "," E2 "," E3 "],\"chunk_size\":1,\"line_ending\":\"\\r\\n\",\"done\":true,"
              "\"comments\":true}}]");
    env = tu_call(hl_complete, c, req, NULL);
    CHECK(tu_is_ok(env));
    CHECK_JSTR(env, "body.data[0].output", "one two: data: x three");
    CHECK_JSTR(env, "body.data[0].finish_reason", "stop");
    CHECK_JSTR(env, "body.project_id", "pr_s");
    CHECK_JEQ(env, "events", "[" E1 "," E2 "," E3 "]");
    json_decref(env);
    hl_client_free(c);
}

static void test_stream_many_events(void)
{
    /* 2000 small events in one body, read one by one */
    hl_client *c = tu_client(NULL);
    const int N = 2000;
    size_t cap = (size_t)N * 40 + 64;
    char *body = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < N; i++) len += (size_t)snprintf(body + len, cap - len, "data: {\\\"i\\\":%d}\\n\\n", i);
    tu_script("[{\"stream\":{\"raw\":\"%s\"}}]", body);
    free(body);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    int ok = 1, count = 0;
    for (;;) {
        char *raw = hl_stream_next(s);
        if (!raw) break;
        json_t *j = json_loads(raw, 0, NULL);
        if (count < N) {
            if (json_integer_value(json_object_get(json_object_get(j, "event"), "i")) != count) ok = 0;
        } else {
            if (!json_is_true(json_object_get(j, "done"))) ok = 0;
        }
        count++;
        json_decref(j);
        hl_free(raw);
    }
    hl_stream_free(s);
    CHECKF(ok, "events in order, then done");
    CHECK_INT(count, N + 1);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_stream_default_each_endpoint);
    RUN(test_stream_request_body_as_written);
    RUN(test_stream_events_untouched);
    RUN(test_stream_line_endings_and_framing);
    RUN(test_stream_chunked_down_to_single_bytes);
    RUN(test_stream_sse_field_rules);
    RUN(test_stream_multi_sample_interleaving);
    RUN(test_stream_cut_mid_stream);
    RUN(test_stream_api_error_each_endpoint);
    RUN(test_stream_invalid_json_event);
    RUN(test_stream_validation_error_each_endpoint);
    RUN(test_stream_connection_error);
    RUN(test_stream_timeout);
    RUN(test_stream_timeout_bounds_only_the_first_event);
    RUN(test_stream_first_event_before_rest);
    RUN(test_stream_early_free);
    RUN(test_stream_free_at_any_point);
    RUN(test_stream_outlives_client);
    RUN(test_two_streams_alternating);
    RUN(test_blocking_stream_true_merged_each_endpoint);
    RUN(test_blocking_stream_true_errors);
    RUN(test_stream_many_events);
    return tu_finish();
}
