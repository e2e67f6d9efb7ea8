/*
 * test_fork_gate.c — fork() while the library's own threads are inside TLS ("a fork
 * gate"): the engine thread keeps 8 https calls in flight and another thread makes blocking
 * https calls, every one of them with "Connection: close" (so every call makes a new TLS
 * handshake), while the main thread forks again and again. Each child makes one https call of
 * its own and exits through exit() (OpenSSL's and libcurl's exit handlers run). A child that
 * inherited a lock held by one of the parent's library threads at the moment of fork() would
 * hang in it: every child must finish, with its own answer, within its deadline.
 *
 * 500 forks (12 under valgrind, where every child is slow), one child at a time. Not in the
 * ThreadSanitizer run: TSan kills a forked child that starts threads.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OPTIONS "{\"headers\":{\"Connection\":\"close\"}}"
#define ENGINE_CALLS 8

static hl_client *g_client;
static volatile int g_stop;
static long g_blocking_ok, g_blocking_bad, g_engine_ok, g_engine_bad;
static char g_first_bad[400];

static int is_ok(const char *item)
{
    json_t *j = item ? tu_json(item) : NULL;
    int ok = tu_is_ok(j);
    json_decref(j);
    if (!ok && !g_first_bad[0]) snprintf(g_first_bad, sizeof g_first_bad, "%s", item ? item : "NULL");
    return ok;
}

static void *blocking_caller(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_SEQ_CST)) {
        char *s = hl_call_run(g_client, "complete", TU_REQ, OPTIONS);
        __atomic_fetch_add(is_ok(s) ? &g_blocking_ok : &g_blocking_bad, 1, __ATOMIC_SEQ_CST);
        hl_free(s);
    }
    return NULL;
}

/* Keeps ENGINE_CALLS calls in flight on the engine, round after round. */
static void *engine_feeder(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_SEQ_CST)) {
        tu_async a[ENGINE_CALLS];
        hl_call *calls[ENGINE_CALLS];
        for (int i = 0; i < ENGINE_CALLS; i++) {
            tu_async_init(&a[i], 0);
            calls[i] = tu_async_start(&a[i], g_client, "complete", TU_REQ, OPTIONS);
        }
        for (int i = 0; i < ENGINE_CALLS; i++) {
            int ok = tu_async_wait(&a[i], 20 * tu_factor()) && is_ok(a[i].raw[0]);
            __atomic_fetch_add(ok ? &g_engine_ok : &g_engine_bad, 1, __ATOMIC_SEQ_CST);
            hl_call_free(calls[i]);
            tu_async_destroy(&a[i]);
        }
    }
    return NULL;
}

/* In a child: one https call, then exit() (not _exit: the libraries' exit handlers run). The
 * slot tells the parent, under valgrind, a child whose only complaint is the exit-time leak
 * check (the objects of the parent's threads are unreachable in a child) from a failed one. */
static void child(tu_child_slot *slot)
{
    tu_child_begin(slot);
    char *s = hl_call_run(g_client, "complete", TU_REQ, OPTIONS);
    json_t *j = s ? tu_json(s) : NULL;
    int ok = tu_is_ok(j);
    json_decref(j);
    hl_free(s);
    tu_child_end(ok ? 0 : 3);
    exit(ok ? 0 : 3);
}

/* Waits for pid until `seconds`; kills it then. Returns its status, or -1 when it hung. */
static int wait_child(pid_t pid, double seconds)
{
    double deadline = tu_now() + seconds;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return -2;
        if (tu_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        tu_sleep(0.001);
    }
}

static void test_fork_while_library_threads_do_tls(void)
{
    g_client = tu_tls_client(",\"timeout\":%g,\"max_retries\":0", 10 * tu_factor());
    if (!g_client) return;
    int forks = tu_factor() > 1 ? 12 : 500;
    pthread_t blocking, feeder;
    CHECK(pthread_create(&blocking, NULL, blocking_caller, NULL) == 0);
    CHECK(pthread_create(&feeder, NULL, engine_feeder, NULL) == 0);
    /* Both threads are in the middle of calls before the first fork. */
    double warm = tu_now() + 10 * tu_factor();
    while ((__atomic_load_n(&g_blocking_ok, __ATOMIC_SEQ_CST) < 1 || __atomic_load_n(&g_engine_ok, __ATOMIC_SEQ_CST) < 1) &&
           tu_now() < warm)
        tu_sleep(0.005);
    int hung = 0, failed = 0, forked = 0;
    tu_child_slot *slot = tu_child_slots(1);
    for (int i = 0; i < forks; i++) {
        fflush(stdout);
        fflush(stderr);
        memset((void *)slot, 0, sizeof *slot);
        pid_t pid = fork();
        if (pid == 0) child(slot);
        if (pid < 0) {
            failed++;
            continue;
        }
        forked++;
        int status = wait_child(pid, 10 * tu_factor());
        if (status == -1) {
            if (hung++ == 0) tu_note("child %d (pid %ld) hung: killed after %gs", i, (long)pid, 10 * tu_factor());
        } else if (!(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
                   !(status >= 0 && tu_child_leak_check_only(slot, status))) {
            if (failed++ == 0) tu_note("child %d (pid %ld) ended with status 0x%x", i, (long)pid, status);
        }
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(blocking, NULL);
    pthread_join(feeder, NULL);
    tu_note("%d forks: %d children hung, %d failed; the parent's threads made %ld blocking and %ld engine calls meanwhile",
            forked, hung, failed, g_blocking_ok + g_blocking_bad, g_engine_ok + g_engine_bad);
    CHECKF(hung == 0, "%d of %d children hung", hung, forked);
    CHECKF(failed == 0, "%d of %d children failed", failed, forks);
    CHECKF(g_blocking_bad == 0 && g_engine_bad == 0, "the parent's calls failed (%ld blocking, %ld engine); first: %s",
           g_blocking_bad, g_engine_bad, g_first_bad);
    CHECK(g_blocking_ok > 0 && g_engine_ok > 0);
    hl_client_free(g_client);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_fork_while_library_threads_do_tls);
    return tu_finish();
}
