/*
 * test_loop.c — loops run by the host ("Engine v2"): hl_loop_new, hl_loop_fd,
 * hl_loop_submit, hl_loop_run, hl_loop_wake, hl_loop_free, hl_call_pause. Items equal to what
 * the blocking calls return, tags and kinds, the descriptor's readiness (submissions from other
 * threads, timers, items left over past `max`), cancellation, freeing calls and loops, flow
 * control, and fork().
 */
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define F tu_factor()
#define E1 "{\"data\":[{\"id\":\"d1\",\"index\":0,\"output\":\"one\",\"finish_reason\":null}]}"

/* 1 when fd is readable within `seconds`. */
static int readable(int fd, double seconds)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, (int)(seconds * 1000)) == 1 && (p.revents & POLLIN);
}

/* Runs the loop as an event loop would, until `results` terminal items arrived or `seconds`. */
static void run_until(hl_loop *l, tu_items *c, int results, double seconds)
{
    double end = tu_now() + seconds;
    while (tu_items_results(c) < results && tu_now() <= end)
        if (readable(hl_loop_fd(l), 0.2)) tu_items_run(l, c, 0, 64);
}

/* A buffered call, a stream and an invalid request on one loop: each item carries its call and
 * tag; the buffered result is what hl_complete returns; the stream's events then its done
 * item; the validation error arrives as a result, not at submission. */
static void test_items_tags_and_kinds(void)
{
    hl_client *c = tu_client(NULL);
    hl_loop *l = hl_loop_new(c, NULL);
    CHECK(l != NULL);
    CHECK(hl_loop_fd(l) >= 0);
    int tags[3];
    hl_call *buffered = hl_loop_submit(l, "complete", TU_REQ, NULL, &tags[0]);
    hl_call *stream = hl_loop_submit(l, "complete", TU_REQ, "{\"stream\":true}", &tags[1]);
    hl_call *invalid = hl_loop_submit(l, "complete", "{\"model_config\":{}}", NULL, &tags[2]);
    CHECK(buffered && stream && invalid);
    tu_items got = {0};
    run_until(l, &got, 3, 10 * F);
    const hl_item *r0 = tu_items_result_of(&got, buffered), *r1 = tu_items_result_of(&got, stream), *r2 = tu_items_result_of(&got, invalid);
    CHECKF(r0 && r1 && r2, "three results (%d items)", got.n);
    if (r0) {
        CHECK(r0->tag == &tags[0]);
        json_t *env = tu_parse_env(r0->json);
        char *blocking = hl_complete(c, TU_REQ);
        json_t *expected = tu_parse_env(blocking);
        CHECKF(json_equal(tu_get(env, "body"), tu_get(expected, "body")), "the loop's result is hl_complete's: %.300s", r0->json);
        json_decref(expected);
        hl_free(blocking);
        json_decref(env);
    }
    if (r1) {
        CHECK(r1->tag == &tags[1]);
        json_t *done = tu_parse_env(r1->json);
        CHECK(tu_bool(done, "done") == 1);
        CHECK_JINT(done, "events", tu_items_events_of(&got, stream));
        CHECKF(tu_items_events_of(&got, stream) == 4, "the default stream's 4 events: %d", tu_items_events_of(&got, stream));
        json_decref(done);
        for (int i = 0; i < got.n; i++)
            if (got.items[i].kind == HL_ITEM_EVENT) CHECK(got.items[i].tag == &tags[1] && got.items[i].call == stream);
    }
    if (r2) {
        CHECK(r2->tag == &tags[2]);
        json_t *e = tu_parse_env(r2->json);
        CHECK_STR(tu_err_type(e), "invalid_request");
        json_decref(e);
    }
    tu_items_free(&got);
    hl_call_free(buffered);
    hl_call_free(stream);
    hl_call_free(invalid);
    hl_loop_free(l);
    hl_client_free(c);
}

/* Nothing to do: run(0) returns at once, run(t) waits about t; hl_loop_wake ends the wait and
 * makes the fd readable; options other than {} are refused. */
static void test_waiting_and_waking(void)
{
    hl_client *c = tu_client(NULL);
    CHECK(hl_loop_new(c, "{\"bogus\":1}") == NULL);
    CHECK(hl_loop_new(c, "[") == NULL);
    hl_loop *l = hl_loop_new(c, "{}");
    CHECK(l != NULL);
    hl_item items[4];
    double t0 = tu_now();
    CHECK_INT(hl_loop_run(l, 0, items, 4), 0);
    CHECKF(tu_now() - t0 < 0.1, "run(0) returned at once (%.3fs)", tu_now() - t0);
    t0 = tu_now();
    CHECK_INT(hl_loop_run(l, 300, items, 4), 0);
    double waited = tu_now() - t0;
    CHECKF(waited > 0.25 && waited < 1.5 * F, "run(300) waited %.3fs", waited);
    CHECK(!readable(hl_loop_fd(l), 0));
    hl_loop_wake(l);
    CHECK(readable(hl_loop_fd(l), 0));
    t0 = tu_now();
    CHECK_INT(hl_loop_run(l, 5000, items, 4), 0);
    CHECKF(tu_now() - t0 < 0.5, "a woken run returned at once (%.3fs)", tu_now() - t0);
    CHECK(!readable(hl_loop_fd(l), 0));
    hl_loop_free(l);
    hl_client_free(c);
}

/* A run with a timeout goes on until an item is ready: a blocking caller submits, then one
 * hl_loop_run returns its answer (not a first run that only starts the call). A run with
 * timeout 0 does one step only: it returns without waiting for the answer, which the server
 * holds for a second (an answer that is already there may come in that one step). */
static void test_a_run_with_a_timeout_returns_the_answer(void)
{
    hl_client *c = tu_client(NULL);
    hl_loop *l = hl_loop_new(c, NULL);
    hl_item items[4];
    for (int i = 0; i < 3; i++) {
        hl_call *call = hl_loop_submit(l, "complete", TU_REQ, NULL, NULL);
        size_t n = hl_loop_run(l, (int)(10000 * F), items, 4);
        CHECKF(n == 1 && items[0].call == call && items[0].kind == HL_ITEM_RESULT,
               "call %d: one run returned its result (%zu items)", i, n);
        if (n == 1) {
            json_t *e = tu_parse_env(items[0].json);
            CHECK(tu_is_ok(e));
            json_decref(e);
        }
        hl_call_free(call);
    }
    tu_script("[{\"delay\":%g}]", 1.0 * F);
    hl_call *call = hl_loop_submit(l, "complete", TU_REQ, NULL, NULL);
    double t0 = tu_now();
    CHECK_INT(hl_loop_run(l, 0, items, 4), 0);
    CHECKF(tu_now() - t0 < 0.5 * F, "a run with timeout 0 did not wait (%.3fs)", tu_now() - t0);
    tu_items got = {0};
    run_until(l, &got, 1, 10 * F);
    CHECK_INT(tu_items_results(&got), 1);
    tu_items_free(&got);
    hl_call_free(call);
    hl_loop_free(l);
    hl_client_free(c);
}

typedef struct {
    hl_loop *loop;
    hl_call *call;
} submitter;

static void *submit_from_thread(void *arg)
{
    submitter *s = arg;
    tu_sleep(0.2);
    s->call = hl_loop_submit(s->loop, "complete", TU_REQ, NULL, NULL);
    return NULL;
}

/* A submission from another thread wakes a run that waits with no limit. */
static void test_submission_from_another_thread_wakes_the_run(void)
{
    hl_client *c = tu_client(NULL);
    hl_loop *l = hl_loop_new(c, NULL);
    submitter s = {l, NULL};
    pthread_t t;
    pthread_create(&t, NULL, submit_from_thread, &s);
    tu_items got = {0};
    double t0 = tu_now();
    while (got.n == 0 && tu_now() - t0 < 10 * F) tu_items_run(l, &got, -1, 64);
    pthread_join(t, NULL);
    CHECKF(got.n == 1 && got.items[0].call == s.call && got.items[0].kind == HL_ITEM_RESULT,
           "the other thread's call ran in this thread's loop (%d items)", got.n);
    tu_items_free(&got);
    hl_call_free(s.call);
    hl_loop_free(l);
    hl_client_free(c);
}

/* More items than `max`: the rest come from the next runs and the fd stays readable meanwhile. */
static void test_items_beyond_max_stay_pending(void)
{
    hl_client *c = tu_client(NULL);
    hl_loop *l = hl_loop_new(c, NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 "," E1 "," E1 "," E1 "," E1 "," E1 "]}}]");
    hl_call *call = hl_loop_submit(l, "complete", TU_REQ, "{\"stream\":true}", NULL);
    /* let everything arrive before taking anything */
    tu_items got = {0};
    double end = tu_now() + 5 * F;
    while (tu_request_count() < 1 && tu_now() < end) tu_items_run(l, &got, 50, 0);
    tu_sleep(0.3);
    tu_items_run(l, &got, 0, 0); /* reads everything the server sent, hands out nothing */
    CHECK_INT(got.n, 0);
    CHECK(readable(hl_loop_fd(l), 0));
    hl_item room[64]; /* max is a size_t: SIZE_MAX takes everything pending (7 items here) */
    size_t all = hl_loop_run(l, 0, room, (size_t)-1);
    CHECK_INT(all, 7);
    for (size_t i = 0; i < all && got.n < 64; i++) {
        got.json[got.n] = strdup(room[i].json);
        got.items[got.n] = room[i];
        got.items[got.n].json = got.json[got.n];
        got.n++;
    }
    tu_items_free(&got);
    hl_call_free(call);
    /* again, taking at most 2 at a time */
    tu_reset();
    tu_script("[{\"stream\":{\"events\":[" E1 "," E1 "," E1 "," E1 "," E1 "," E1 "]}}]");
    call = hl_loop_submit(l, "complete", TU_REQ, "{\"stream\":true}", NULL);
    end = tu_now() + 5 * F;
    while (tu_request_count() < 1 && tu_now() < end) tu_items_run(l, &got, 50, 0);
    tu_sleep(0.3);
    tu_items_run(l, &got, 0, 0);
    tu_items_run(l, &got, 100, 2);
    CHECKF(got.n == 2, "a run hands out at most max items (%d)", got.n);
    CHECK(readable(hl_loop_fd(l), 0));
    while (tu_now() < end && !tu_items_result_of(&got, call)) {
        CHECK(readable(hl_loop_fd(l), 1));
        tu_items_run(l, &got, 0, 2);
    }
    CHECKF(tu_items_events_of(&got, call) == 6 && tu_items_result_of(&got, call), "6 events then the result (%d items)", got.n);
    tu_items_free(&got);
    hl_call_free(call);
    hl_loop_free(l);
    hl_client_free(c);
}

/* Cancelling ends a call promptly with "cancelled"; a freed call's pending items never come. */
static void test_cancel_and_free(void)
{
    hl_client *c = tu_client(NULL);
    hl_loop *l = hl_loop_new(c, NULL);
    tu_script("[{\"delay\":20},{\"delay\":20}]");
    hl_call *slow = hl_loop_submit(l, "complete", TU_REQ, NULL, NULL);
    hl_call *freed = hl_loop_submit(l, "complete", TU_REQ, NULL, NULL);
    tu_items got = {0};
    double end = tu_now() + 5 * F;
    while (tu_request_count() < 2 && tu_now() < end) tu_items_run(l, &got, 50, 64);
    hl_call_free(freed);
    double t0 = tu_now();
    hl_call_cancel(slow);
    run_until(l, &got, 1, 5 * F);
    const hl_item *r = tu_items_result_of(&got, slow);
    CHECKF(r != NULL && tu_now() - t0 < 0.5 * F, "cancelled promptly (%.3fs)", tu_now() - t0);
    if (r) {
        json_t *e = tu_parse_env(r->json);
        CHECK_STR(tu_err_type(e), "cancelled");
        json_decref(e);
    }
    tu_items_run(l, &got, 200, 64);
    for (int i = 0; i < got.n; i++) CHECKF(got.items[i].call != freed, "no item of a freed call");
    tu_items_free(&got);
    hl_call_free(slow);
    /* a loop freed with calls in flight: their connections close, their handles stay valid */
    tu_reset();
    tu_script("[{\"delay\":20},{\"stream\":{\"events\":[" E1 "],\"forever\":true,\"delay\":0.05}}]");
    hl_call *a = hl_loop_submit(l, "complete", TU_REQ, NULL, NULL);
    hl_call *b = hl_loop_submit(l, "complete", TU_REQ, "{\"stream\":true}", NULL);
    end = tu_now() + 5 * F;
    while (tu_request_count() < 2 && tu_now() < end) tu_items_run(l, &got, 50, 64);
    tu_items_free(&got);
    hl_loop_free(l);
    CHECKF(tu_wait_stat("connections_open", 0, 2 * F) == 0, "hl_loop_free closed the connections");
    hl_call_cancel(a);
    hl_call_free(a);
    hl_call_free(b);
    hl_client_free(c);
}

/* A paused stream receives nothing and does not time out for low_speed_timeout; resumed, it
 * gets every event. */
static void test_pause_and_resume(void)
{
    hl_client *c = tu_client(",\"low_speed_timeout\":0.3");
    hl_loop *l = hl_loop_new(c, NULL);
    tu_script("[{\"stream\":{\"events\":[" E1 "," E1 "," E1 "," E1 "],\"delay\":0.05}}]");
    hl_call *call = hl_loop_submit(l, "complete", TU_REQ, "{\"stream\":true}", NULL);
    hl_call_pause(call, 1);
    tu_items got = {0};
    double end = tu_now() + 1.0;
    while (tu_now() < end) tu_items_run(l, &got, 50, 64);
    CHECKF(got.n == 0, "nothing while paused, no low-speed timeout (%d items: %s)", got.n, got.n ? got.json[0] : "");
    hl_call_pause(call, 0);
    run_until(l, &got, 1, 5 * F);
    CHECKF(tu_items_events_of(&got, call) == 4 && tu_items_result_of(&got, call), "resumed: 4 events then done (%d items)", got.n);
    const hl_item *r = tu_items_result_of(&got, call);
    if (r) {
        json_t *done = tu_parse_env(r->json);
        CHECK(tu_bool(done, "done") == 1);
        json_decref(done);
    }
    tu_items_free(&got);
    hl_call_free(call);
    hl_loop_free(l);
    hl_client_free(c);
}

/* After fork() the parent's loop is dead in the child: run returns 0 at once; free works; a
 * new loop made in the child runs calls. The parent's loop goes on in the parent. */
static void test_fork(void)
{
    hl_client *c = tu_client(NULL);
    hl_loop *l = hl_loop_new(c, NULL);
    tu_script("[{\"delay\":0.5}]");
    hl_call *inflight = hl_loop_submit(l, "complete", TU_REQ, NULL, NULL);
    tu_items got = {0};
    double end = tu_now() + 5 * F;
    while (tu_request_count() < 1 && tu_now() < end) tu_items_run(l, &got, 50, 64);
    tu_child_slot *slot = tu_child_slots(1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        tu_child_begin(slot);
        int rc = 0;
        hl_item items[4];
        double t0 = tu_now();
        if (hl_loop_run(l, 1000, items, 4) != 0) rc = 10;
        if (tu_now() - t0 > 0.5) rc = 11;
        hl_loop_free(l);
        hl_loop *fresh = hl_loop_new(c, NULL);
        hl_call *call = fresh ? hl_loop_submit(fresh, "complete", TU_REQ, NULL, NULL) : NULL;
        tu_items mine = {0};
        if (!call) rc = 12;
        else run_until(fresh, &mine, 1, 10 * F);
        const hl_item *r = call ? tu_items_result_of(&mine, call) : NULL;
        if (call && (!r || strncmp(r->json, "{\"ok\":true", 10) != 0)) rc = 13;
        tu_items_free(&mine);
        hl_call_free(call);
        hl_loop_free(fresh);
        fflush(stdout);
        tu_child_end(rc);
        _exit(rc);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int leak_only = tu_child_leak_check_only(slot, st);
    CHECKF((WIFEXITED(st) && WEXITSTATUS(st) == 0) || leak_only,
           "the child (exit %d: 10 items from the parent's loop, 11 it waited, 12 no call, 13 no result)",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    run_until(l, &got, 1, 5 * F);
    const hl_item *r = tu_items_result_of(&got, inflight);
    CHECKF(r && strncmp(r->json, "{\"ok\":true", 10) == 0, "the parent's call completes in the parent");
    tu_items_free(&got);
    hl_call_free(inflight);
    hl_loop_free(l);
    hl_client_free(c);
}

/* Another thread's blocking call, for test_max_connections_is_one_cap_for_the_client. */
typedef struct {
    hl_client *client;
    char *envelope;
} blocking_job;

static void *blocking_call(void *arg)
{
    blocking_job *job = arg;
    job->envelope = hl_call_run(job->client, "complete", TU_REQ, NULL);
    return NULL;
}

/* max_connections is one cap for the whole client: two host loops, the engine and a blocking
 * call, each wanting two (or one) connections to a slow server at once, never have more than
 * max_connections (2) requests on the wire together (the server's count); every call still
 * gets its answer (the others wait for a free connection, their timeout running). */
static void test_max_connections_is_one_cap_for_the_client(void)
{
    hl_client *c = tu_client(",\"max_connections\":2,\"timeout\":%g", 30 * F);
    tu_script("[{\"delay\":0.3},{\"delay\":0.3},{\"delay\":0.3},{\"delay\":0.3},{\"delay\":0.3},{\"delay\":0.3},"
              "{\"delay\":0.3}]");
    hl_loop *loops[2] = {hl_loop_new(c, NULL), hl_loop_new(c, NULL)};
    CHECK(loops[0] && loops[1]);
    hl_call *calls[4];
    for (int i = 0; i < 4; i++) calls[i] = hl_loop_submit(loops[i / 2], "complete", TU_REQ, NULL, NULL);
    tu_async engine[2];
    hl_call *engine_calls[2];
    for (int i = 0; i < 2; i++) {
        tu_async_init(&engine[i], 0);
        engine_calls[i] = tu_async_start(&engine[i], c, "complete", TU_REQ, NULL);
    }
    blocking_job job = {c, NULL};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, blocking_call, &job) == 0);
    tu_items got[2] = {{0}, {0}};
    double end = tu_now() + 30 * F;
    while ((got[0].n < 2 || got[1].n < 2) && tu_now() < end)
        for (int i = 0; i < 2; i++) tu_items_run(loops[i], &got[i], 20, 64);
    pthread_join(thread, NULL);
    for (int i = 0; i < 4; i++) {
        const hl_item *r = tu_items_result_of(&got[i / 2], calls[i]);
        json_t *e = r ? tu_parse_env(r->json) : NULL;
        CHECKF(tu_is_ok(e), "loop call %d: %.300s", i, r ? r->json : "no result");
        json_decref(e);
    }
    for (int i = 0; i < 2; i++) {
        CHECK(tu_async_wait(&engine[i], 30 * F));
        json_t *e = tu_async_item(&engine[i], 0);
        CHECKF(tu_is_ok(e), "engine call %d: %.300s", i, engine[i].n ? engine[i].raw[0] : "no item");
        json_decref(e);
        hl_call_free(engine_calls[i]);
        tu_async_destroy(&engine[i]);
    }
    json_t *e = tu_parse_env(job.envelope);
    CHECKF(tu_is_ok(e), "the blocking call: %.300s", job.envelope ? job.envelope : "NULL");
    json_decref(e);
    hl_free(job.envelope);
    json_t *stats = tu_stats();
    long long most = json_integer_value(json_object_get(stats, "requests_in_flight_max"));
    CHECKF(most >= 1 && most <= 2, "at most max_connections (2) requests were on the wire at once: %lld", most);
    json_decref(stats);
    for (int i = 0; i < 2; i++) tu_items_free(&got[i]);
    for (int i = 0; i < 4; i++) hl_call_free(calls[i]);
    hl_loop_free(loops[0]);
    hl_loop_free(loops[1]);
    hl_client_free(c);
}

/* The loops of one client share its TLS sessions (and DNS answers): a call on the engine makes
 * the first handshake; a call on a host loop and a blocking call (each with a new connection:
 * "Connection: close") resume its session, which the server records. */
static void test_loops_share_tls_sessions(void)
{
    hl_client *c = tu_tls_client(",\"timeout\":%g", 10 * F);
    if (!c) return;
    const char *close_options = "{\"headers\":{\"Connection\":\"close\"}}";
    tu_async first;
    tu_async_init(&first, 0);
    hl_call *call = tu_async_start(&first, c, "complete", TU_REQ, close_options);
    CHECK(tu_async_wait(&first, 10 * F));
    json_t *e = tu_async_item(&first, 0);
    CHECKF(tu_is_ok(e), "the engine's call: %.300s", first.n ? first.raw[0] : "no item");
    json_decref(e);
    hl_call_free(call);
    tu_async_destroy(&first);
    hl_loop *l = hl_loop_new(c, NULL);
    hl_call *on_loop = hl_loop_submit(l, "complete", TU_REQ, close_options, NULL);
    tu_items got = {0};
    run_until(l, &got, 1, 10 * F);
    const hl_item *r = tu_items_result_of(&got, on_loop);
    e = r ? tu_parse_env(r->json) : NULL;
    CHECKF(tu_is_ok(e), "the loop's call: %.300s", r ? r->json : "no result");
    json_decref(e);
    char *blocking = hl_call_run(c, "complete", TU_REQ, close_options);
    e = tu_parse_env(blocking);
    CHECKF(tu_is_ok(e), "the blocking call: %.300s", blocking ? blocking : "NULL");
    json_decref(e);
    hl_free(blocking);
    json_t *requests = tu_tls_requests();
    CHECKF(json_array_size(requests) == 3, "three requests: %zu", json_array_size(requests));
    for (size_t i = 0; i < json_array_size(requests); i++) {
        json_t *reused = json_object_get(json_array_get(requests, i), "tls_session_reused");
        CHECKF(json_is_boolean(reused), "request %zu: the server says whether the session was resumed", i);
        CHECKF(i == 0 ? json_is_false(reused) : json_is_true(reused), "request %zu: TLS session %s", i,
               json_is_true(reused) ? "resumed" : "not resumed");
    }
    json_decref(requests);
    tu_items_free(&got);
    hl_call_free(on_loop);
    hl_loop_free(l);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_items_tags_and_kinds);
    RUN(test_waiting_and_waking);
    RUN(test_a_run_with_a_timeout_returns_the_answer);
    RUN(test_submission_from_another_thread_wakes_the_run);
    RUN(test_items_beyond_max_stay_pending);
    RUN(test_cancel_and_free);
    RUN(test_pause_and_resume);
    RUN(test_fork);
    RUN(test_max_connections_is_one_cap_for_the_client);
    RUN(test_loops_share_tls_sessions);
    return tu_finish();
}
