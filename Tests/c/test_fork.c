/*
 * test_fork.c — a client used after fork(): every process gets its own answers.
 *
 * A client that has made a call owns pooled keep-alive connections; after fork() the child
 * inherits their sockets. The library must never let two processes read or write one
 * connection: a child drops what it inherited (without any protocol shutdown on those sockets,
 * which the parent still uses) and opens connections of its own; locks held by other threads
 * of the parent at fork time must not deadlock the child; the parent's connections keep
 * working during and after the children. A stream open across fork() belongs to the parent:
 * in the child hl_stream_next answers a "connection_error" mentioning fork, then NULL.
 *
 * How answers are told apart: without a scripted response the test server echoes the
 * request's "inputs" in body.data[0].inputs, so every call sends a value unique to its process
 * and call ("pid-<pid>-call-<k>") and checks that the echo is its own.
 *
 * Process layout of every case (a hang is always a FAIL, never a stuck test):
 *   test binary (watchdog: never touches the library)
 *     └── scenario process ("the parent": makes calls, forks the children, waits for them
 *         │                 with a deadline and SIGKILLs those that hang)
 *         └── children    (report through their exit status, see CHILD_* below; they print
 *                          one line describing their first problem)
 * The watchdog kills the scenario's whole process group when the scenario itself does not
 * finish in time (e.g. a parent call that hangs on an answer a child took).
 *
 * Cases (times are multiplied by tu_factor(), 4 under valgrind):
 *   1 explicit client, http: the parent calls, forks 8 children (5 calls each) and makes 10
 *     calls meanwhile; then one more call on the same connection. The server's records show
 *     that no connection carried two processes' requests and that the parent kept its one.
 *   2 the same with the default client (client NULL, HUMANLOOP_API_KEY / HUMANLOOP_HOST).
 *   3 fork while another thread is inside a call (a scripted 1 s delay): 8 children, 3 calls
 *     each, must finish promptly with their own answers; the thread gets its answer.
 *   4 a stream open across fork(): the child gets connection_error "...fork...", then NULL,
 *     frees the stream and makes a fresh call; the parent reads the rest of its stream.
 *   5 cases 1 and 3 over https (the TLS test server that run.sh starts).
 * Deadlines: children 20 s (case 3 and the stream child: 10 s), the parent's own calls 20 s
 * after the children, a whole case 45 s; clients have "timeout": 10 s (20 s in case 4) and
 * "max_retries": 0 so that a lost answer becomes a timeout error and nothing is retried.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCHILDREN 8
#define CHILD_CALLS 5          /* per child, cases 1, 2, 5 */
#define PARENT_CALLS 10        /* by the parent while the children run, cases 1, 2, 5 */
#define BUSY_CHILD_CALLS 3     /* per child, case 3 */

/* A child's exit status: 0 when every check passed, else an OR of these bits.
 * (valgrind's --error-exitcode=99 replaces it when valgrind found errors in the child.) */
#define CHILD_ERROR 1          /* a call returned an error envelope (timeout, connection, ...) */
#define CHILD_FOREIGN 2        /* an ok answer that is not this call's (another process's echo) */
#define CHILD_STREAM 4         /* the inherited stream did not end with the fork error, then NULL */
#define CHILD_SETUP 8          /* anything else (no client, bad JSON, ...) */

/* ---- the scenario process's checks ------------------------------------------------------- */

/* Failed checks in this (scenario) process; its exit status tells the watchdog. */
static int g_fails;

#define FCHECK(cond, ...) \
    do { \
        if (!tu_check(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)) g_fails++; \
    } while (0)

static double F(void) { return tu_factor(); }

/* ---- calls with a tag --------------------------------------------------------------------- */

static void make_req(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n,
             "{\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{q}}\"},"
             "\"inputs\":{\"q\":\"%s\"}}",
             tag);
}

/* One hl_complete whose inputs are {"q": tag}. Returns 0 when the answer is ok:true and echoes
 * tag, else CHILD_ERROR (error envelope or no envelope) or CHILD_FOREIGN (an ok answer with
 * another echo) and describes it in why. Uses no tu_check: safe in children. */
static int own_call(hl_client *c, const char *tag, char *why, size_t whylen)
{
    char req[512];
    make_req(req, sizeof req, tag);
    double t0 = tu_now();
    char *s = hl_complete(c, req);
    double dt = tu_now() - t0;
    json_t *j = s ? tu_json(s) : NULL;
    int rc = 0;
    if (!s) rc = CHILD_SETUP;
    else if (strstr(s, TU_SECRET)) rc = CHILD_SETUP;
    else if (!json_is_object(j)) rc = CHILD_SETUP;
    else if (tu_bool(j, "ok") != 1) rc = CHILD_ERROR;
    else {
        const char *echo = tu_str(j, "body.data[0].inputs.q");
        if (!echo || strcmp(echo, tag) != 0) rc = CHILD_FOREIGN;
    }
    if (rc && why)
        snprintf(why, whylen, "call %s (%.2fs) got %s: %.400s", tag, dt,
                 rc == CHILD_FOREIGN ? "ANOTHER call's answer" : rc == CHILD_ERROR ? "an error" : "a bad envelope",
                 s ? s : "NULL");
    json_decref(j);
    hl_free(s);
    return rc;
}

static void tag_for(char *buf, size_t n, const char *kind, int k)
{
    snprintf(buf, n, "pid-%ld-%s-%d", (long)getpid(), kind, k);
}

/* ---- children ----------------------------------------------------------------------------- */

/* Each child reports to the parent through a tu_child_slot (testutil.h): with it the parent
 * tells a child whose only valgrind complaint (exit status 99) comes from the exit-time leak
 * check (case 3: a thread was inside a call at fork time) from one that failed. */
#define NSLOTS (NCHILDREN + 1)
static tu_child_slot *g_slots;          /* NSLOTS, shared with the children */

typedef struct {
    pid_t pid;
    tu_child_slot *slot;
    int done;
    int hung;           /* killed at the deadline */
    int status;         /* waitpid status */
    double elapsed;     /* seconds from fork to exit (or kill) */
    double started;
} kid_t;

/* In a child: print what went wrong (one line) and leave with the status bits. */
static void child_exit(int bits, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        printf("  child pid %ld: ", (long)getpid());
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
    fflush(stdout);
    fflush(stderr);
    tu_child_end(bits);
    _exit(bits);
}

typedef void (*child_fn)(void *arg, int index);

static pid_t spawn(kid_t *k, child_fn fn, void *arg, int index)
{
    fflush(stdout);
    fflush(stderr);
    memset(k, 0, sizeof *k);
    k->slot = g_slots ? &g_slots[index % NSLOTS] : NULL;
    if (k->slot) memset((void *)k->slot, 0, sizeof *k->slot);
    k->started = tu_now();
    pid_t pid = fork();
    if (pid == 0) {
        tu_child_begin(k->slot);
        fn(arg, index);
        child_exit(0, NULL);
    }
    k->pid = pid;
    if (pid < 0) {
        k->done = 1;
        k->status = -1;
    }
    return pid;
}

/* Wait for every child until `seconds` after now; SIGKILL (by pid) those still running then. */
static void wait_kids(kid_t *k, int n, double seconds)
{
    double deadline = tu_now() + seconds;
    for (;;) {
        int left = 0;
        for (int i = 0; i < n; i++) {
            if (k[i].done) continue;
            int st = 0;
            pid_t r = waitpid(k[i].pid, &st, WNOHANG);
            if (r == k[i].pid || (r < 0 && errno == ECHILD)) {
                k[i].done = 1;
                k[i].status = r == k[i].pid ? st : -1;
                k[i].elapsed = tu_now() - k[i].started;
            } else {
                left++;
            }
        }
        if (left == 0) return;
        if (tu_now() > deadline) {
            for (int i = 0; i < n; i++) {
                if (k[i].done) continue;
                kill(k[i].pid, SIGKILL);
                int st = 0;
                waitpid(k[i].pid, &st, 0);
                k[i].done = 1;
                k[i].hung = 1;
                k[i].status = st;
                k[i].elapsed = tu_now() - k[i].started;
            }
            return;
        }
        tu_sleep(0.01);
    }
}

static void describe_kid(const kid_t *k, char *buf, size_t n)
{
    if (k->pid < 0) snprintf(buf, n, "fork() failed");
    else if (k->hung) snprintf(buf, n, "HUNG: still running after %.1fs, killed", k->elapsed);
    else if (k->status == -1) snprintf(buf, n, "could not be waited for");
    else if (WIFSIGNALED(k->status)) snprintf(buf, n, "killed by signal %d", WTERMSIG(k->status));
    else if (WIFEXITED(k->status) && WEXITSTATUS(k->status) == 99) {
        if (k->slot && k->slot->finished)
            snprintf(buf, n, "exit status 99: valgrind found errors in the child (its own status bits %d, %d valgrind "
                     "errors before its exit, the rest from the leak check at exit)", k->slot->bits, k->slot->vg_errors);
        else
            snprintf(buf, n, "exit status 99: valgrind found errors in the child");
    }
    else if (WIFEXITED(k->status)) {
        int b = WEXITSTATUS(k->status);
        snprintf(buf, n, "exit status %d (%s%s%s%s) after %.2fs", b, b & CHILD_ERROR ? "error envelope " : "",
                 b & CHILD_FOREIGN ? "ANOTHER process's answer " : "", b & CHILD_STREAM ? "stream not ended by fork " : "",
                 b & CHILD_SETUP ? "setup/bad envelope" : "", k->elapsed);
    } else snprintf(buf, n, "status 0x%x", k->status);
}

/* Exit status 99 of a child whose checks all passed and that produced no valgrind error before
 * its exit: valgrind's exit-time leak check is the only complaint (see tu_child_slot). */
static int leak_check_only(const kid_t *k)
{
    return !k->hung && k->status != -1 && tu_child_leak_check_only(k->slot, k->status);
}

/* Every child exited 0 (a FCHECK per child). Returns how many did. With thread_in_call (the
 * parent had a thread inside a call at fork time), a child whose only valgrind complaint is
 * the exit-time leak check passes (its checks passed; see tu_child_slot). */
static int check_kids(const kid_t *k, int n, const char *what, int thread_in_call)
{
    int good = 0, leak_only = 0;
    for (int i = 0; i < n; i++) {
        char d[200];
        describe_kid(&k[i], d, sizeof d);
        int ok = !k[i].hung && k[i].status != -1 && WIFEXITED(k[i].status) && WEXITSTATUS(k[i].status) == 0;
        if (!ok && thread_in_call && leak_check_only(&k[i])) {
            ok = 1;
            leak_only++;
        }
        FCHECK(ok, "%s: child %d (pid %ld): %s", what, i, (long)k[i].pid, d);
        good += ok;
    }
    if (leak_only)
        tu_note("%d children exited 99 only through valgrind's leak check at exit (the objects of the thread that "
                "was inside a call at fork time are unreachable in a child); their checks passed",
                leak_only);
    return good;
}

/* ---- the server's records ------------------------------------------------------------------ */

/* connections_opened of a server's stats (-1 when absent) */
static long long connections_opened(json_t *(*stats)(void))
{
    json_t *st = stats();
    json_t *v = json_object_get(st, "connections_opened");
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(st);
    return n;
}

/* The recorded requests: `expected` of them (-1: any number), every inputs.q once, and every
 * connection carries the requests of one process only (a process never writes on a connection
 * another process used). Returns the number of distinct connections parent_pid used. */
static int check_requests(json_t *(*requests)(void), int expected, long parent_pid)
{
    json_t *reqs = requests();
    if (expected >= 0)
        FCHECK((int)json_array_size(reqs) == expected, "the server recorded %d requests, expected %d",
               (int)json_array_size(reqs), expected);
    json_t *owner = json_object();  /* connection id -> pid */
    json_t *seen = json_object();   /* tag -> 1 */
    json_t *mine = json_object();   /* connections of parent_pid */
    int mixed = 0, dup = 0, untagged = 0;
    char first_mixed[256] = "", first_dup[256] = "";
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        json_t *body = tu_json(tu_str(r, "body"));
        const char *q = tu_str(body, "inputs.q");
        long pid = -1;
        if (!q || sscanf(q, "pid-%ld-", &pid) != 1) {
            untagged++;
            json_decref(body);
            continue;
        }
        if (json_object_get(seen, q)) {
            if (!dup++) snprintf(first_dup, sizeof first_dup, "%s", q);
        } else {
            json_object_set_new(seen, q, json_true());
        }
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(r, "connection")));
        json_t *o = json_object_get(owner, key);
        if (!o) json_object_set_new(owner, key, json_integer(pid));
        else if (json_integer_value(o) != pid) {
            if (!mixed++)
                snprintf(first_mixed, sizeof first_mixed, "connection %s carried requests of pid %ld and then %s", key,
                         (long)json_integer_value(o), q);
        }
        if (pid == parent_pid) json_object_set_new(mine, key, json_true());
        json_decref(body);
    }
    FCHECK(untagged == 0, "%d recorded requests carry no inputs.q tag", untagged);
    FCHECK(dup == 0, "%d requests arrived twice (first: %s)", dup, first_dup);
    FCHECK(mixed == 0, "%d requests arrived on a connection another process had used (first: %s)", mixed, first_mixed);
    int n = (int)json_object_size(mine);
    json_decref(owner);
    json_decref(seen);
    json_decref(mine);
    json_decref(reqs);
    return n;
}

static int count_of(json_t *(*requests)(void))
{
    json_t *a = requests();
    int n = (int)json_array_size(a);
    json_decref(a);
    return n;
}

/* ---- the watchdog ------------------------------------------------------------------------- */

/* Run fn in a scenario process of its own (own process group) and FAIL the current case when
 * it fails a check, crashes, or is not done within `limit` seconds (then its whole process
 * group — itself and its children — is SIGKILLed). */
static void isolated(void (*fn)(void), double limit)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        CHECKF(0, "fork() of the scenario process failed: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        g_fails = 0;
        fn();
        fflush(stdout);
        _exit(g_fails ? 1 : 0);
    }
    setpgid(pid, pid);
    double t0 = tu_now(), deadline = t0 + limit;
    int st = 0, hung = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) {
            st = -1;
            break;
        }
        if (tu_now() > deadline) {
            hung = 1;
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            /* reap nothing else: the grandchildren were in the group and are gone */
            break;
        }
        tu_sleep(0.02);
    }
    if (hung) CHECKF(0, "the scenario did not finish within %.0fs (a call or a child hung); its processes were killed", limit);
    else if (st == -1) CHECKF(0, "the scenario process could not be waited for");
    else if (WIFSIGNALED(st)) CHECKF(0, "the scenario process was killed by signal %d", WTERMSIG(st));
    else if (WEXITSTATUS(st) == 99) CHECKF(0, "valgrind found errors in the scenario process (exit 99)");
    else CHECKF(WEXITSTATUS(st) == 0, "the scenario failed %s", "(see the FAIL lines above)");
}

/* ---- cases 1, 2 and 5a: 8 children and the parent call at the same time -------------------- */

typedef struct {
    hl_client *client;      /* NULL: the default client */
    int free_client;        /* the child frees the (inherited) client before it exits */
    int calls;
} many_arg;

static void many_child(void *arg, int index)
{
    many_arg *a = arg;
    (void)index;
    char tag[96], why[700];
    for (int k = 0; k < a->calls; k++) {
        tag_for(tag, sizeof tag, "call", k);
        int rc = own_call(a->client, tag, why, sizeof why);
        if (rc) child_exit(rc, "%s", why);
    }
    if (a->free_client) hl_client_free(a->client);
    child_exit(0, NULL);
}

/* The parent's own calls while the children run, in a thread of the parent started after the
 * forks, so that the parent waits for its children (and reports them) even when one of its own
 * calls hangs (the default client has no timeout to set). */
typedef struct {
    hl_client *client;
    int first_k, n;
    int ok;             /* calls with their own answer, before the first problem */
    int rc;             /* own_call's result of the first problem */
    char why[700];
    pthread_mutex_t mu;
    int done;
} parent_calls_t;

static void *parent_calls(void *arg)
{
    parent_calls_t *p = arg;
    char tag[96];
    for (int i = 0; i < p->n; i++) {
        tag_for(tag, sizeof tag, "call", p->first_k + i);
        p->rc = own_call(p->client, tag, p->why, sizeof p->why);
        if (p->rc) break;
        p->ok++;
    }
    pthread_mutex_lock(&p->mu);
    p->done = 1;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Join the thread if it is done within `seconds`; else report the hang and end the scenario
 * process (a thread stuck in the library cannot be stopped). */
static void join_parent_calls(pthread_t th, parent_calls_t *p, double seconds)
{
    double deadline = tu_now() + seconds;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int done = p->done;
        pthread_mutex_unlock(&p->mu);
        if (done) break;
        if (tu_now() > deadline) {
            FCHECK(0, "the parent's own calls did not finish within %.0fs: call %d of %d HANGS", seconds, p->ok + 1, p->n);
            fflush(stdout);
            _exit(1);
        }
        tu_sleep(0.01);
    }
    pthread_join(th, NULL);
    FCHECK(p->rc == 0, "parent, while the children run (call %d of %d): %s", p->ok + 1, p->n, p->why);
}

/* The parent: one call, fork NCHILDREN, PARENT_CALLS calls of its own meanwhile, wait, one more
 * call that must reuse the parent's connection. requests, stats: the server's records. */
static void many_children(hl_client *c, json_t *(*requests)(void), json_t *(*stats)(void))
{
    char tag[96], why[700];
    long me = (long)getpid();
    int k = 0;
    tag_for(tag, sizeof tag, "call", k++);
    int rc = own_call(c, tag, why, sizeof why);
    FCHECK(rc == 0, "parent, before fork: %s", why);
    if (rc) return;

    many_arg a = {c, c != NULL, CHILD_CALLS};
    kid_t kids[NCHILDREN];
    for (int i = 0; i < NCHILDREN; i++) spawn(&kids[i], many_child, &a, i);

    parent_calls_t pc;
    memset(&pc, 0, sizeof pc);
    pc.client = c;
    pc.first_k = k;
    pc.n = PARENT_CALLS;
    pthread_mutex_init(&pc.mu, NULL);
    pthread_t th;
    int started = pthread_create(&th, NULL, parent_calls, &pc) == 0;
    FCHECK(started, "%s", "pthread_create");
    k += PARENT_CALLS;

    wait_kids(kids, NCHILDREN, 20 * F());
    int good = check_kids(kids, NCHILDREN, "8 children x 5 calls", 0);
    if (started) join_parent_calls(th, &pc, 20 * F());
    pthread_mutex_destroy(&pc.mu);

    /* afterwards the parent's connection still works, and it is the same connection */
    long long before = connections_opened(stats);
    tag_for(tag, sizeof tag, "call", k++);
    rc = own_call(c, tag, why, sizeof why);
    FCHECK(rc == 0, "parent, after the children exited: %s", why);
    long long after = connections_opened(stats);
    FCHECK(rc != 0 || (before >= 0 && after == before),
           "the parent's call after the children reused its connection (connections_opened %lld -> %lld)", before,
           after);

    /* the parent kept its one keep-alive connection all along (a child that wrote on it, or sent
     * a TLS close_notify on it, makes the parent reconnect at its next call) */
    int all = good == NCHILDREN && pc.ok == PARENT_CALLS && rc == 0;
    int conns = check_requests(requests, all ? 1 + PARENT_CALLS + 1 + NCHILDREN * CHILD_CALLS : -1, me);
    FCHECK(!all || conns == 1,
           "the parent's %d sequential calls used %d connections, expected its one keep-alive connection",
           PARENT_CALLS + 2, conns);
}

static void scenario_explicit_client(void)
{
    hl_client *c = tu_client(",\"timeout\":%g,\"max_retries\":0", 10 * F());
    if (!c) {
        g_fails++;
        return;
    }
    many_children(c, tu_requests, tu_stats);
    hl_client_free(c);
}

static void test_fork_explicit_client_8_children(void) { isolated(scenario_explicit_client, 45 * F()); }

static void scenario_default_client(void)
{
    setenv("HUMANLOOP_API_KEY", TU_SECRET, 1);
    setenv("HUMANLOOP_HOST", tu_base_url(), 1);
    many_children(NULL, tu_requests, tu_stats);
}

static void test_fork_default_client_8_children(void) { isolated(scenario_default_client, 45 * F()); }

/* ---- case 3: fork while another thread is inside a call ------------------------------------ */

/* The delayed answer the in-flight call waits for (seconds, times tu_factor()). */
#define INFLIGHT_DELAY 1.0

typedef struct {
    hl_client *client;
    char tag[96];
    int rc;
    char why[700];
    pthread_mutex_t mu;
    int done;
} inflight_t;

static void *inflight_call(void *arg)
{
    inflight_t *t = arg;
    t->rc = own_call(t->client, t->tag, t->why, sizeof t->why);
    pthread_mutex_lock(&t->mu);
    t->done = 1;
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void busy_child(void *arg, int index)
{
    hl_client *c = arg;
    (void)index;
    char tag[96], why[700];
    for (int k = 0; k < BUSY_CHILD_CALLS; k++) {
        tag_for(tag, sizeof tag, "call", k);
        int rc = own_call(c, tag, why, sizeof why);
        if (rc) child_exit(rc, "%s", why);
    }
    if (c) hl_client_free(c);
    child_exit(0, NULL);
}

/* script_delay: queues the delayed response on the right server; requests, stats: its records. */
static void fork_during_call(hl_client *c, int (*script_delay)(void), json_t *(*requests)(void),
                             json_t *(*stats)(void))
{
    long me = (long)getpid();
    if (!script_delay()) {
        g_fails++;
        return;
    }
    inflight_t t;
    memset(&t, 0, sizeof t);
    t.client = c;
    pthread_mutex_init(&t.mu, NULL);
    tag_for(t.tag, sizeof t.tag, "thread", 0);
    pthread_t th;
    FCHECK(pthread_create(&th, NULL, inflight_call, &t) == 0, "%s", "pthread_create");

    /* the thread's request has reached the server (it is now waiting for the delayed answer) */
    double until = tu_now() + 10 * F();
    int seen = 0;
    while ((seen = count_of(requests)) < 1 && tu_now() < until) tu_sleep(0.01);
    FCHECK(seen == 1, "the in-flight request reached the server (%d recorded)", seen);

    /* one more call from this thread meanwhile: a second pooled connection, idle at fork time */
    char tag[96], why[700];
    int k = 0;
    tag_for(tag, sizeof tag, "call", k++);
    int rc = own_call(c, tag, why, sizeof why);
    FCHECK(rc == 0, "parent, before fork: %s", why);

    double t_fork = tu_now();
    kid_t kids[NCHILDREN];
    for (int i = 0; i < NCHILDREN; i++) spawn(&kids[i], busy_child, c, i);
    pthread_mutex_lock(&t.mu);
    int still_in_call = !t.done;
    pthread_mutex_unlock(&t.mu);
    FCHECK(still_in_call, "the thread was still inside its call when the children had been forked (%.2fs after the "
           "first fork; else this case tests nothing)", tu_now() - t_fork);
    int parent_ok = 0;
    for (int i = 0; i < 3; i++) {
        tag_for(tag, sizeof tag, "call", k++);
        rc = own_call(c, tag, why, sizeof why);
        FCHECK(rc == 0, "parent, while the children run: %s", why);
        if (rc) break;
        parent_ok++;
    }
    wait_kids(kids, NCHILDREN, 10 * F());
    int good = check_kids(kids, NCHILDREN, "children forked while a thread was in a call", 1);
    double slowest = 0;
    for (int i = 0; i < NCHILDREN; i++)
        if (kids[i].elapsed > slowest) slowest = kids[i].elapsed;
    tu_note("children done %.2fs after the first fork (slowest child %.2fs)", tu_now() - t_fork, slowest);

    pthread_join(th, NULL);
    pthread_mutex_destroy(&t.mu);
    FCHECK(t.rc == 0, "the thread that was inside a call at fork time: %s", t.why);

    long long before = connections_opened(stats);
    tag_for(tag, sizeof tag, "call", k++);
    rc = own_call(c, tag, why, sizeof why);
    FCHECK(rc == 0, "parent, after the children exited: %s", why);
    long long after = connections_opened(stats);
    FCHECK(rc != 0 || (before >= 0 && after == before),
           "the parent's call after the children reused a connection of its own (connections_opened %lld -> %lld)",
           before, after);
    int all = good == NCHILDREN && parent_ok == 3 && t.rc == 0 && rc == 0;
    int conns = check_requests(requests, all ? 1 + 1 + 3 + 1 + NCHILDREN * BUSY_CHILD_CALLS : -1, me);
    /* the in-flight call's connection and the one the main thread opened meanwhile */
    FCHECK(!all || conns <= 2, "the parent used %d connections, expected at most its 2 (no reconnection)", conns);
}

static int script_delay_plain(void) { return tu_script("[{\"delay\":%g}]", INFLIGHT_DELAY * F()); }

static void scenario_fork_during_call(void)
{
    hl_client *c = tu_client(",\"timeout\":%g,\"max_retries\":0", 10 * F());
    if (!c) {
        g_fails++;
        return;
    }
    fork_during_call(c, script_delay_plain, tu_requests, tu_stats);
    hl_client_free(c);
}

static void test_fork_while_a_thread_is_in_a_call(void) { isolated(scenario_fork_during_call, 45 * F()); }

/* ---- case 4: a stream open across fork() ----------------------------------------------------- */

#define EV(n) "{\"data\":[{\"id\":\"data_f\",\"index\":0,\"output\":\"e" #n "\",\"finish_reason\":null}]}"

typedef struct {
    hl_client *client;
    hl_stream *stream;
} stream_arg;

static void stream_child(void *arg, int index)
{
    stream_arg *a = arg;
    (void)index;
    char *it = hl_stream_next(a->stream);
    json_t *j = it ? tu_json(it) : NULL;
    int good = j && tu_bool(j, "ok") == 0 && tu_str(j, "error.type") &&
               strcmp(tu_str(j, "error.type"), "connection_error") == 0 && tu_contains(tu_str(j, "error.message"), "fork");
    if (!good) {
        char copy[500];
        snprintf(copy, sizeof copy, "%s", it ? it : "NULL");
        json_decref(j);
        hl_free(it);
        hl_stream_free(a->stream);
        child_exit(CHILD_STREAM, "hl_stream_next on the stream opened before fork returned %s (expected a "
                   "connection_error whose message mentions fork)", copy);
    }
    json_decref(j);
    hl_free(it);
    it = hl_stream_next(a->stream);
    if (it) {
        char copy[500];
        snprintf(copy, sizeof copy, "%s", it);
        hl_free(it);
        hl_stream_free(a->stream);
        child_exit(CHILD_STREAM, "after the fork error hl_stream_next returned %s, expected NULL", copy);
    }
    hl_stream_free(a->stream);
    char tag[96], why[700];
    tag_for(tag, sizeof tag, "call", 0);
    int rc = own_call(a->client, tag, why, sizeof why);
    if (rc) child_exit(rc, "a fresh call after freeing the inherited stream: %s", why);
    hl_client_free(a->client);
    child_exit(0, NULL);
}

static void scenario_stream_across_fork(void)
{
    hl_client *c = tu_client(",\"timeout\":%g,\"max_retries\":0", 20 * F());
    if (!c) {
        g_fails++;
        return;
    }
    char tag[96], why[700];
    tag_for(tag, sizeof tag, "call", 0);
    int rc = own_call(c, tag, why, sizeof why);
    FCHECK(rc == 0, "parent, before the stream: %s", why);
    if (!tu_script("[{\"stream\":{\"events\":[" EV(1) "," EV(2) "," EV(3) "," EV(4) "," EV(5) "],\"delay\":0.2}}]")) {
        g_fails++;
        hl_client_free(c);
        return;
    }
    char req[512];
    make_req(req, sizeof req, "stream");
    hl_stream *s = hl_complete_stream(c, req);
    char *raw = NULL;
    json_t *first = tu_next(s, &raw);
    FCHECK(first && tu_str(first, "event.data[0].output") && strcmp(tu_str(first, "event.data[0].output"), "e1") == 0,
           "the parent's first event: %s", raw ? raw : "NULL");
    json_decref(first);
    free(raw);

    stream_arg a = {c, s};
    kid_t kid;
    spawn(&kid, stream_child, &a, 0);
    /* the parent reads on only after the child is done with the stream (so that a child that
     * reads or shuts down the inherited connection is caught every time) */
    wait_kids(&kid, 1, 10 * F());
    check_kids(&kid, 1, "child with the inherited stream", 0);

    for (int n = 2; n <= 5; n++) {
        json_t *it = tu_next(s, &raw);
        char want[8];
        snprintf(want, sizeof want, "e%d", n);
        FCHECK(it && tu_bool(it, "ok") == 1 && tu_str(it, "event.data[0].output") &&
                   strcmp(tu_str(it, "event.data[0].output"), want) == 0,
               "the parent's event %d after fork: %s", n, raw ? raw : "NULL");
        json_decref(it);
        free(raw);
        raw = NULL;
    }
    json_t *done = tu_next(s, &raw);
    FCHECK(done && tu_bool(done, "done") == 1 && json_integer_value(tu_get(done, "events")) == 5,
           "the parent's stream ends with its done item (events 5): %s", raw ? raw : "NULL");
    json_decref(done);
    free(raw);
    raw = NULL;
    char *end = hl_stream_next(s);
    FCHECK(end == NULL, "NULL after the done item, got %s", end ? end : "NULL");
    hl_free(end);
    hl_stream_free(s);

    tag_for(tag, sizeof tag, "call", 1);
    rc = own_call(c, tag, why, sizeof why);
    FCHECK(rc == 0, "parent, after the stream: %s", why);
    /* 1 parent call + the stream + the child's call + 1 parent call */
    FCHECK(tu_request_count() == 4, "the server recorded %d requests, expected 4", tu_request_count());
    hl_client_free(c);
}

static void test_fork_with_an_open_stream(void) { isolated(scenario_stream_across_fork, 45 * F()); }

/* ---- case 5: https --------------------------------------------------------------------------- */

/* Over TLS a child must not touch the inherited session either: no read, no write, and no
 * close_notify when it drops the inherited connection (the children free their client before
 * they exit) — any record a child sends on the parent's socket breaks the parent's session
 * (its sequence numbers). The parent's call after the children must succeed on the same
 * connection (connections_opened unchanged; libcurl would otherwise quietly reconnect). */

static void scenario_tls_explicit_client(void)
{
    FCHECK(tu_tls_port() > 0, "%s", "the TLS test server runs (HL_TEST_TLS_PORT; Tests/c/run.sh starts it)");
    if (tu_tls_port() <= 0) return;
    hl_client *c = tu_tls_client(",\"timeout\":%g,\"max_retries\":0", 10 * F());
    if (!c) {
        g_fails++;
        return;
    }
    many_children(c, tu_tls_requests, tu_tls_stats);
    hl_client_free(c);
}

static void test_fork_https_explicit_client_8_children(void) { isolated(scenario_tls_explicit_client, 45 * F()); }

static int script_delay_tls(void) { return tu_tls_script("[{\"delay\":%g}]", INFLIGHT_DELAY * F()); }

static void scenario_tls_fork_during_call(void)
{
    FCHECK(tu_tls_port() > 0, "%s", "the TLS test server runs (HL_TEST_TLS_PORT; Tests/c/run.sh starts it)");
    if (tu_tls_port() <= 0) return;
    hl_client *c = tu_tls_client(",\"timeout\":%g,\"max_retries\":0", 10 * F());
    if (!c) {
        g_fails++;
        return;
    }
    fork_during_call(c, script_delay_tls, tu_tls_requests, tu_tls_stats);
    hl_client_free(c);
}

static void test_fork_https_while_a_thread_is_in_a_call(void) { isolated(scenario_tls_fork_during_call, 45 * F()); }

/* ---- the engine across fork(): the child gets a fresh engine, the parent's calls go on ------- */

/* An asynchronous call with its own tag; 0 when its one item is an ok answer echoing the tag. */
static int own_async_call(hl_client *c, const char *tag, char *why, size_t whylen)
{
    char req[512];
    make_req(req, sizeof req, tag);
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = tu_async_start(&a, c, "complete", req, NULL);
    int rc = 0;
    if (!call || !tu_async_wait(&a, 20 * F())) rc = CHILD_ERROR;
    json_t *j = rc ? NULL : tu_async_item(&a, 0);
    if (!rc) {
        const char *echo = tu_str(j, "body.data[0].inputs.q");
        if (tu_bool(j, "ok") != 1) rc = CHILD_ERROR;
        else if (!echo || strcmp(echo, tag) != 0) rc = CHILD_FOREIGN;
    }
    if (rc && why) snprintf(why, whylen, "async call %s: %.400s", tag, a.n ? a.raw[0] : "no item within 20 s");
    json_decref(j);
    hl_call_free(call);
    tu_async_destroy(&a);
    return rc;
}

static void engine_child(void *arg, int index)
{
    hl_client *c = arg;
    char tag[96], why[700];
    (void)index;
    for (int k = 0; k < 5; k++) {
        tag_for(tag, sizeof tag, "async", k);
        int rc = own_async_call(c, tag, why, sizeof why);
        if (rc) child_exit(rc, "%s", why);
    }
    hl_client_free(c);
    child_exit(0, NULL);
}

/* The parent's engine runs (calls in flight, waiting on a delayed answer) when it forks 4
 * children; each child's asynchronous calls run on a new engine of its own and get their own
 * answers; the parent's in-flight calls and later calls get theirs. */
static void scenario_engine_across_fork(void)
{
    hl_client *c = tu_client(",\"timeout\":%g,\"max_retries\":0", 20 * F());
    if (!c) {
        g_fails++;
        return;
    }
    char warm[96], why[700];
    tag_for(warm, sizeof warm, "warm", 0);
    CHECKF(own_async_call(c, warm, why, sizeof why) == 0, "before the fork: %s", why);
    tu_script("[{\"delay\":%g},{\"delay\":%g}]", 1.0 * F(), 1.0 * F());
    tu_async inflight[2];
    hl_call *calls[2];
    for (int i = 0; i < 2; i++) {
        tu_async_init(&inflight[i], 0);
        calls[i] = tu_async_start(&inflight[i], c, "complete", TU_REQ, NULL);
    }
    tu_sleep(0.3);  /* both are on the wire, waiting */
    kid_t kids[4];
    for (int i = 0; i < 4; i++) spawn(&kids[i], engine_child, c, i);
    for (int i = 0; i < 2; i++) {
        CHECKF(tu_async_wait(&inflight[i], 20 * F()), "the parent's in-flight call %d ends", i);
        json_t *t = tu_async_item(&inflight[i], 0);
        CHECKF(tu_is_ok(t), "the parent's in-flight call %d is ok: %.300s", i, inflight[i].n ? inflight[i].raw[0] : "none");
        json_decref(t);
        hl_call_free(calls[i]);
        tu_async_destroy(&inflight[i]);
    }
    for (int k = 1; k <= 3; k++) {
        char tag[96];
        tag_for(tag, sizeof tag, "after", k);
        CHECKF(own_async_call(c, tag, why, sizeof why) == 0, "after the fork: %s", why);
    }
    wait_kids(kids, 4, 30 * F());
    CHECKF(check_kids(kids, 4, "async calls in children", 1) == 4, "%s", "every child gets its own asynchronous answers");
    hl_client_free(c);
}

static void test_fork_engine_running(void) { isolated(scenario_engine_across_fork, 60 * F()); }

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    g_slots = tu_child_slots(NSLOTS);
    RUN(test_fork_explicit_client_8_children);
    RUN(test_fork_default_client_8_children);
    RUN(test_fork_while_a_thread_is_in_a_call);
    RUN(test_fork_with_an_open_stream);
    RUN(test_fork_https_explicit_client_8_children);
    RUN(test_fork_https_while_a_thread_is_in_a_call);
    RUN(test_fork_engine_running);
    return tu_finish();
}
