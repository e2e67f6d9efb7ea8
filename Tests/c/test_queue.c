/*
 * test_queue.c — completion queues fed by the engine thread ("Engine v2"):
 * hl_queue_new, hl_queue_fd, hl_call_submit, hl_queue_drain, hl_queue_wait, hl_queue_wake,
 * hl_queue_free. Items, tags and kinds; the descriptor's signalling (empty -> non-empty, reset
 * by a drain that empties); waiting and waking; freed calls; a queue freed with calls in flight;
 * streams paused while the queue is over its bound.
 */
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F tu_factor()
#define E1 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\"one\",\"finish_reason\":null}]}"

static int readable(int fd, double seconds)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, (int)(seconds * 1000)) == 1 && (p.revents & POLLIN);
}

/* A consumer as Go's or a C thread's would be: wait, drain, until `results` results or timeout. */
static void consume_until(hl_queue *q, tu_items *c, int results, double seconds)
{
    double end = tu_now() + seconds;
    while (tu_items_results(c) < results && tu_now() <= end)
        if (hl_queue_wait(q, 200) == 1) tu_items_drain(q, c, 64);
}

/* A buffered call, a stream and an invalid request, from two clients, on one queue. */
static void test_items_tags_and_kinds(void)
{
    hl_client *c = tu_client(NULL), *other = tu_client(",\"max_retries\":0");
    hl_queue *q = hl_queue_new(NULL);
    CHECK(q != NULL && hl_queue_fd(q) >= 0);
    CHECK(!readable(hl_queue_fd(q), 0));
    int tags[3];
    hl_call *buffered = hl_call_submit(c, "complete", TU_REQ, NULL, q, &tags[0]);
    hl_call *stream = hl_call_submit(other, "complete", TU_REQ, "{\"stream\":true}", q, &tags[1]);
    hl_call *invalid = hl_call_submit(c, "nope", TU_REQ, NULL, q, &tags[2]);
    CHECK(buffered && stream && invalid);
    tu_items got = {0};
    consume_until(q, &got, 3, 10 * F);
    const hl_item *r0 = tu_items_result_of(&got, buffered), *r1 = tu_items_result_of(&got, stream), *r2 = tu_items_result_of(&got, invalid);
    CHECKF(r0 && r1 && r2, "three results (%d items)", got.n);
    if (r0) {
        CHECK(r0->tag == &tags[0]);
        CHECK(strncmp(r0->json, "{\"ok\":true,\"status\":200", 23) == 0);
    }
    if (r1) {
        CHECK(r1->tag == &tags[1]);
        CHECKF(tu_items_events_of(&got, stream) == 4, "4 events then done (%d)", tu_items_events_of(&got, stream));
        json_t *done = tu_parse_env(r1->json);
        CHECK(tu_bool(done, "done") == 1);
        json_decref(done);
    }
    if (r2) {
        CHECK(r2->tag == &tags[2]);
        json_t *e = tu_parse_env(r2->json);
        CHECK_STR(tu_err_type(e), "invalid_request");
        json_decref(e);
    }
    CHECK(!readable(hl_queue_fd(q), 0));
    tu_items_free(&got);
    hl_call_free(buffered);
    hl_call_free(stream);
    hl_call_free(invalid);
    hl_queue_free(q);
    hl_client_free(c);
    hl_client_free(other);
    CHECK(hl_queue_new("{\"max_pending_bytes\":0}") == NULL);
    CHECK(hl_queue_new("{\"bogus\":1}") == NULL);
    hl_queue *sized = hl_queue_new("{\"max_pending_bytes\":1000}");
    CHECK(sized != NULL);
    hl_queue_free(sized);
}

/* The fd: readable once an item is pending, still readable after a drain that leaves items,
 * reset by the drain that empties the queue. */
static void test_descriptor_signalling(void)
{
    hl_client *c = tu_client(NULL);
    hl_queue *q = hl_queue_new(NULL);
    hl_call *calls[3];
    for (int i = 0; i < 3; i++) calls[i] = hl_call_submit(c, "complete", TU_REQ, NULL, q, NULL);
    CHECK(readable(hl_queue_fd(q), 5 * F));
    double end = tu_now() + 5 * F;
    while (tu_request_count() < 3 && tu_now() < end) tu_sleep(0.02);
    tu_sleep(0.2);
    tu_items got = {0};
    CHECK_INT(tu_items_drain(q, &got, 1), 1);
    CHECKF(readable(hl_queue_fd(q), 0), "items left: still readable");
    hl_item room[64]; /* max is a size_t: SIZE_MAX means "every pending item" (2 here) */
    CHECK_INT(hl_queue_drain(q, room, (size_t)-1), 2);
    CHECKF(!readable(hl_queue_fd(q), 0), "emptied: not readable");
    CHECK_INT(tu_items_drain(q, &got, 64), 0);
    tu_items_free(&got);
    for (int i = 0; i < 3; i++) hl_call_free(calls[i]);
    hl_queue_free(q);
    hl_client_free(c);
}

static void *wake_later(void *arg)
{
    tu_sleep(0.2);
    hl_queue_wake(arg);
    return NULL;
}

/* hl_queue_wait: a timeout returns 0 after about the timeout; hl_queue_wake ends a wait with no
 * limit (0: nothing pending) and makes the fd readable. */
static void test_waiting_and_waking(void)
{
    hl_queue *q = hl_queue_new("{}");
    double t0 = tu_now();
    CHECK_INT(hl_queue_wait(q, 300), 0);
    double waited = tu_now() - t0;
    CHECKF(waited > 0.25 && waited < 1.5 * F, "waited %.3fs", waited);
    pthread_t t;
    pthread_create(&t, NULL, wake_later, q);
    t0 = tu_now();
    CHECK_INT(hl_queue_wait(q, -1), 0);
    CHECKF(tu_now() - t0 < 2 * F, "woken after %.3fs", tu_now() - t0);
    pthread_join(t, NULL);
    CHECK(readable(hl_queue_fd(q), 0));
    hl_item items[2];
    CHECK_INT(hl_queue_drain(q, items, 2), 0);
    CHECK(!readable(hl_queue_fd(q), 0));
    hl_queue_free(q);
}

/* A freed call's items are never drained; a queue freed with calls in flight cancels them. */
static void test_free_call_and_queue(void)
{
    hl_client *c = tu_client(NULL);
    hl_queue *q = hl_queue_new(NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 "," E1 "],\"hold_after\":1,\"hold\":1}}]");
    hl_call *freed = hl_call_submit(c, "complete", TU_REQ, "{\"stream\":true}", q, NULL);
    CHECK(readable(hl_queue_fd(q), 5 * F)); /* its first event is pending */
    hl_call_free(freed);
    tu_items got = {0};
    tu_items_drain(q, &got, 64);
    CHECKF(got.n == 0, "no item of a freed call (%d)", got.n);
    /* freed with calls in flight: they are cancelled, their connections closed */
    tu_reset();
    tu_script("[{\"delay\":20},{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.05}}]");
    hl_call *a = hl_call_submit(c, "complete", TU_REQ, NULL, q, NULL);
    hl_call *b = hl_call_submit(c, "complete", TU_REQ, "{\"stream\":true}", q, NULL);
    double end = tu_now() + 5 * F;
    while (tu_request_count() < 2 && tu_now() < end) tu_sleep(0.02);
    hl_queue_free(q);
    CHECKF(tu_wait_stat("connections_open", 0, 3 * F) == 0, "the queue's calls were cancelled");
    hl_call_free(a);
    hl_call_free(b);
    tu_items_free(&got);
    hl_client_free(c);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * 4;
}

/* Bounded memory: a queue over its bound pauses the streams that deliver to it. A 160 MB stream
 * (20,000 events of 8 KB) against a consumer that sleeps: what is pending then is the bound plus
 * what the kernel's socket buffers held, not the stream; the process grows by far less than
 * 64 MiB; drained, every event arrives. (Over HTTP/1.1: libcurl 7.88 has pause bugs over HTTP/2.) */
static void test_streams_pause_while_the_queue_is_full(void)
{
    /* Under valgrind (20-50 times slower, its own RSS) a smaller stream checks that everything
     * arrives through the pauses; the bounds are checked natively. */
    const int valgrind = getenv("VALGRIND") && strcmp(getenv("VALGRIND"), "1") == 0;
    const int EVENTS = valgrind ? 500 : 20000;
    hl_client *c = tu_client(",\"low_speed_timeout\":30,\"timeout\":120");
    hl_queue *q = hl_queue_new("{\"max_pending_bytes\":1048576}");
    char output[8001];
    memset(output, 'x', 8000);
    output[8000] = 0;
    tu_script("[{\"status\":200,\"headers\":{\"Content-Type\":\"text/event-stream\"},\"body_repeat\":{\"text\":"
              "\"data: {\\\"data\\\":[{\\\"id\\\":\\\"d\\\",\\\"index\\\":0,\\\"output\\\":\\\"%s\\\",\\\"finish_reason\\\":null}]}\\n\\n\","
              "\"times\":%d}}]", output, EVENTS);
    long rss0 = rss_kib();
    hl_call *call = hl_call_submit(c, "complete", TU_REQ, "{\"stream\":true}", q, NULL);
    tu_sleep(2.0 * F);
    long rss1 = rss_kib();
    hl_item items[64];
    long pending = 0, events = 0;
    size_t got;
    while ((got = hl_queue_drain(q, items, 64)) > 0) pending += (long)got;
    if (!valgrind) {
        CHECKF(pending > 0 && pending < EVENTS / 4, "items pending after 2 s without draining: %ld of %d", pending, EVENTS);
        CHECKF(rss1 - rss0 < 64 * 1024, "the process grew by %ld KiB while the consumer slept", rss1 - rss0);
    }
    events = pending;
    int done = 0;
    double end = tu_now() + 60 * F;
    while (!done && tu_now() < end) {
        if (hl_queue_wait(q, 500) != 1) continue;
        while ((got = hl_queue_drain(q, items, 64)) > 0) {
            for (size_t i = 0; i < got; i++) {
                if (items[i].kind == HL_ITEM_EVENT) events++;
                else {
                    done = 1;
                    CHECKF(strncmp(items[i].json, "{\"ok\":true,\"done\":true", 22) == 0, "done: %.200s", items[i].json);
                }
            }
        }
    }
    CHECKF(done && events == EVENTS, "every event arrives (%ld of %d)", events, EVENTS);
    hl_call_free(call);
    hl_queue_free(q);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_items_tags_and_kinds);
    RUN(test_descriptor_signalling);
    RUN(test_waiting_and_waking);
    RUN(test_free_call_and_queue);
    RUN(test_streams_pause_while_the_queue_is_full);
    return tu_finish();
}
