/*
 * test_batch_submit.c — batches on a completion queue (hl_batch_submit) and
 * rate-aware batches ("rate_aware": true, for hl_batch_submit and hl_batch): results as they
 * finish with their index, the summary, cancellation (nothing lost: cancelled results still
 * arrive, the rest is counted as not started), a malformed batch, and a server that answers 429
 * with Retry-After.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F tu_factor()

/* {"index":k,...}: k, or -1. */
static int index_of(const hl_item *item)
{
    json_t *j = tu_json(item->json);
    json_t *k = json_object_get(j, "index");
    int index = json_is_integer(k) ? (int)json_integer_value(k) : -1;
    json_decref(j);
    return index;
}

static json_t *result_json(const hl_item *item)
{
    json_t *j = tu_json(item->json);
    json_t *r = json_incref(json_object_get(j, "result"));
    json_decref(j);
    return r;
}

/* Drains the queue until the batch's HL_ITEM_RESULT arrived or `seconds` passed. */
static void consume_batch(hl_queue *q, tu_items *c, double seconds)
{
    double end = tu_now() + seconds;
    while (tu_items_results(c) < 1 && tu_now() <= end)
        if (hl_queue_wait(q, 200) == 1) tu_items_drain(q, c, 64);
}

static void check_summary_text(const char *summary, int done, int failed, int cancelled, int not_started)
{
    CHECK(summary != NULL);
    if (!summary) return;
    json_t *s = tu_json(summary);
    CHECKF(tu_is_ok(s), "the summary: %s", summary);
    CHECK_JINT(s, "done", done);
    CHECK_JINT(s, "failed", failed);
    CHECK_JINT(s, "cancelled", cancelled);
    CHECK_JINT(s, "not_started", not_started);
    json_decref(s);
}

static void check_summary(const tu_items *c, hl_call *batch, int done, int failed, int cancelled, int not_started)
{
    const hl_item *r = tu_items_result_of(c, batch);
    check_summary_text(r ? r->json : NULL, done, failed, cancelled, not_started);
}

#define MC "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{q}}\"}"

/* Each request of a batch arrives once, as an event with its index and its envelope (an
 * invalid item its own error), with the batch's tag; then the summary. */
static void test_results_with_their_index_then_the_summary(void)
{
    hl_client *c = tu_client(NULL);
    hl_queue *q = hl_queue_new(NULL);
    int tag;
    hl_call *batch = hl_batch_submit(c,
        "{\"concurrency\":2,\"requests\":["
        "{\"call\":\"complete\",\"request\":{\"model_config\":" MC ",\"inputs\":{\"q\":\"r0\"}}},"
        "{\"call\":\"complete\",\"request\":{\"model_config\":" MC ",\"inputs\":{\"q\":\"r1\"}}},"
        "{\"call\":\"nope\",\"request\":{}},"
        "{\"call\":\"complete\",\"request\":{\"model_config\":" MC ",\"inputs\":{\"q\":\"r3\"}}},"
        "{\"call\":\"complete\",\"request\":{\"model_config\":" MC ",\"inputs\":{\"q\":\"r4\"}}}]}",
        q, &tag);
    CHECK(batch != NULL);
    tu_items got = {0};
    consume_batch(q, &got, 10 * F);
    int seen[5] = {0};
    for (int i = 0; i < got.n; i++) {
        const hl_item *item = &got.items[i];
        CHECK(item->call == batch && item->tag == &tag);
        if (item->kind != HL_ITEM_EVENT) continue;
        int k = index_of(item);
        CHECKF(k >= 0 && k < 5, "an event's index: %s", item->json);
        if (k < 0 || k >= 5) continue;
        seen[k]++;
        json_t *r = result_json(item);
        if (k == 2) {
            CHECK_STR(tu_err_type(r), "invalid_request");
        } else {
            char want[8];
            snprintf(want, sizeof want, "r%d", k);
            CHECKF(tu_is_ok(r) && tu_str(r, "body.data[0].inputs.q") && strcmp(tu_str(r, "body.data[0].inputs.q"), want) == 0,
                   "request %d's own answer: %.300s", k, item->json);
        }
        json_decref(r);
    }
    for (int k = 0; k < 5; k++) CHECKF(seen[k] == 1, "request %d reported %d times", k, seen[k]);
    check_summary(&got, batch, 4, 1, 0, 0);
    tu_items_free(&got);
    hl_call_free(batch);
    hl_queue_free(q);
    hl_client_free(c);
}

/* A malformed batch is the handle's one HL_ITEM_RESULT: an invalid_request envelope. */
static void test_malformed_batch_is_the_result(void)
{
    hl_client *c = tu_client(NULL);
    hl_queue *q = hl_queue_new(NULL);
    hl_call *batch = hl_batch_submit(c, "{\"requests\":3}", q, NULL);
    tu_items got = {0};
    consume_batch(q, &got, 5 * F);
    CHECK_INT(got.n, 1);
    const hl_item *r = tu_items_result_of(&got, batch);
    json_t *e = r ? tu_json(r->json) : NULL;
    CHECK_STR(tu_err_type(e), "invalid_request");
    json_decref(e);
    CHECK(hl_batch_submit(c, "{\"requests\":[]}", NULL, NULL) == NULL);
    tu_items_free(&got);
    hl_call_free(batch);
    hl_queue_free(q);
    hl_client_free(c);
}

/* hl_call_cancel on the batch: the calls in flight end "cancelled" (still reported), no more
 * start, and the summary counts them and the ones never started. */
static void test_cancel_loses_nothing(void)
{
    hl_client *c = tu_client(NULL);
    hl_queue *q = hl_queue_new(NULL);
    tu_script("[{\"delay\":5},{\"delay\":5},{\"delay\":5},{\"delay\":5},{\"delay\":5},{\"delay\":5}]");
    hl_call *batch = hl_batch_submit(c,
        "{\"concurrency\":2,\"requests\":[{\"call\":\"complete\",\"request\":" TU_REQ "},{\"call\":\"complete\",\"request\":" TU_REQ
        "},{\"call\":\"complete\",\"request\":" TU_REQ "},{\"call\":\"complete\",\"request\":" TU_REQ
        "},{\"call\":\"complete\",\"request\":" TU_REQ "},{\"call\":\"complete\",\"request\":" TU_REQ "}]}",
        q, NULL);
    double end = tu_now() + 5 * F;
    while (tu_request_count() < 2 && tu_now() < end) tu_sleep(0.01);
    double cancelled_at = tu_now();
    hl_call_cancel(batch);
    tu_items got = {0};
    consume_batch(q, &got, 5 * F);
    CHECKF(tu_now() - cancelled_at < 2 * F, "the batch ended promptly after the cancel (%.2fs)", tu_now() - cancelled_at);
    int cancelled_events = 0;
    for (int i = 0; i < got.n; i++) {
        if (got.items[i].kind != HL_ITEM_EVENT) continue;
        json_t *r = result_json(&got.items[i]);
        cancelled_events += tu_err_type(r) && strcmp(tu_err_type(r), "cancelled") == 0;
        json_decref(r);
    }
    CHECK_INT(cancelled_events, 2);
    check_summary(&got, batch, 0, 0, 2, 4);
    CHECK_INT(tu_request_count(), 2);
    tu_items_free(&got);
    hl_call_free(batch);
    hl_queue_free(q);
    hl_client_free(c);
}

/* A rate-aware batch against 429s with Retry-After: no request fails, each 429 puts its request
 * back once (8 + 4 requests at the server), and nothing new starts before Retry-After. The same
 * batch without "rate_aware" (and no retries) fails the four. */
static void test_rate_aware_batch_rides_out_429s(void)
{
    hl_client *c = tu_client(",\"max_retries\":0");
    const char *script = "[{\"status\":429,\"headers\":{\"Retry-After\":\"1\"},\"json\":{\"detail\":\"slow down\"}},"
                         "{\"status\":429,\"headers\":{\"Retry-After\":\"1\"},\"json\":{\"detail\":\"slow down\"}},"
                         "{\"status\":429,\"headers\":{\"Retry-After\":\"1\"},\"json\":{\"detail\":\"slow down\"}},"
                         "{\"status\":429,\"headers\":{\"Retry-After\":\"1\"},\"json\":{\"detail\":\"slow down\"}}]";
    char body[4096];
    int off = snprintf(body, sizeof body, "{\"concurrency\":4,%%s\"requests\":[");
    for (int i = 0; i < 8; i++) off += snprintf(body + off, sizeof body - off, "%s{\"call\":\"complete\",\"request\":" TU_REQ "}", i ? "," : "");
    snprintf(body + off, sizeof body - off, "]}");
    char batch_json[4200];

    tu_script("%s", script);
    snprintf(batch_json, sizeof batch_json, body, "\"rate_aware\":true,");
    hl_queue *q = hl_queue_new(NULL);
    double started = tu_now();
    hl_call *batch = hl_batch_submit(c, batch_json, q, NULL);
    tu_items got = {0};
    consume_batch(q, &got, 20 * F);
    CHECKF(tu_now() - started >= 0.9, "Retry-After held the batch (%.2fs)", tu_now() - started);
    check_summary(&got, batch, 8, 0, 0, 0);
    CHECK_INT(tu_request_count(), 12);
    tu_items_free(&got);
    hl_call_free(batch);

    tu_reset();
    tu_script("%s", script);
    snprintf(batch_json, sizeof batch_json, body, "");
    batch = hl_batch_submit(c, batch_json, q, NULL);
    consume_batch(q, &got, 20 * F);
    check_summary(&got, batch, 4, 4, 0, 0);
    CHECK_INT(tu_request_count(), 8);
    tu_items_free(&got);
    hl_call_free(batch);
    hl_queue_free(q);

    /* hl_batch takes "rate_aware" too. */
    tu_reset();
    tu_script("%s", script);
    snprintf(batch_json, sizeof batch_json, body, "\"rate_aware\":true,");
    char *results = hl_batch(c, batch_json);
    json_t *j = tu_json(results);
    CHECKF(tu_is_ok(j), "hl_batch: %.300s", results);
    for (size_t i = 0; i < json_array_size(json_object_get(j, "results")); i++)
        CHECKF(tu_is_ok(json_array_get(json_object_get(j, "results"), i)), "hl_batch result %zu is ok", i);
    json_decref(j);
    hl_free(results);
    hl_client_free(c);
}

/* A server that lets 100 requests a second through and answers 429 (Retry-After: 1) beyond:
 * a rate-aware batch of 1000 at concurrency 200 finishes with no failed item and sends at most
 * 1.5 requests per item. (Under valgrind: 200 requests at concurrency 40, 20 a second.) */
static void test_rate_aware_batch_under_a_rate_limit(void)
{
    int n = F > 1 ? 200 : 1000, concurrency = F > 1 ? 40 : 200, rate = F > 1 ? 20 : 100;
    hl_client *c = tu_client(",\"max_retries\":2,\"timeout\":%g", 30 * F);
    char control[96];
    snprintf(control, sizeof control, "{\"per_second\":%d,\"retry_after\":1}", rate);
    long status = 0;
    free(tu_http("POST", "/_control/ratelimit", control, &status));
    CHECK_INT(status, 200);
    size_t size = (size_t)n * 160 + 128, off = 0;
    char *batch_json = malloc(size);
    off += (size_t)snprintf(batch_json + off, size - off, "{\"concurrency\":%d,\"rate_aware\":true,\"requests\":[", concurrency);
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(batch_json + off, size - off, "%s{\"call\":\"complete\",\"request\":" TU_REQ "}", i ? "," : "");
    snprintf(batch_json + off, size - off, "]}");
    hl_queue *q = hl_queue_new(NULL);
    hl_call *batch = hl_batch_submit(c, batch_json, q, NULL);
    free(batch_json);
    double end = tu_now() + 120 * F;
    int events = 0;
    char *summary = NULL;
    while (summary == NULL && tu_now() < end) {
        if (hl_queue_wait(q, 200) != 1) continue;
        hl_item items[64];
        size_t taken = hl_queue_drain(q, items, 64);
        for (size_t i = 0; i < taken; i++) {
            if (items[i].kind == HL_ITEM_EVENT) events++;
            else summary = strdup(items[i].json);
        }
    }
    CHECK_INT(events, n);
    check_summary_text(summary, n, 0, 0, 0);
    free(summary);
    int sent = tu_request_count();
    CHECKF(sent <= n * 3 / 2, "%d requests for %d items (at most 1.5 per item)", sent, n);
    tu_note("%d items, %d requests at the server", n, sent);
    hl_call_free(batch);
    hl_queue_free(q);
    free(tu_http("POST", "/_control/ratelimit", "{\"per_second\":null}", NULL));
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_results_with_their_index_then_the_summary);
    RUN(test_malformed_batch_is_the_result);
    RUN(test_cancel_loses_nothing);
    RUN(test_rate_aware_batch_rides_out_429s);
    RUN(test_rate_aware_batch_under_a_rate_limit);
    return tu_finish();
}
