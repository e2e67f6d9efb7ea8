/*
 * testutil.h — tiny shared helpers for the libhumanloop C tests.
 *
 *  - assertions that count passes/failures per named test case (CHECK*, RUN);
 *  - a control client for the test server (Tests/server/hl_test_server.py, see PROTOCOL.md):
 *    script responses, reset, fetch recorded requests and stats (libcurl); the same for the
 *    second, HTTPS instance of the server that Tests/c/run.sh starts (tu_tls_*);
 *  - envelope parsing and JSON helpers (jansson): every envelope the library returns goes
 *    through tu_parse_env(), which also checks that it never contains the test API key;
 *  - the four endpoints as a table, client construction, timing helpers.
 *
 * Each test binary prints "PASS <test>" / "FAIL <test>" lines and a final
 * "RESULT <passed> <failed>" line; Tests/c/run.sh sums them.
 */
#ifndef HL_TESTUTIL_H
#define HL_TESTUTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <jansson.h>
#include "humanloop.h"

/* The Humanloop API key every test client uses; no returned string may ever contain it. */
#define TU_SECRET "sk-SECRET-123"

/* ---- assertions ------------------------------------------------------------------------ */

int tu_check(int ok, const char *expr, const char *file, int line, const char *fmt, ...);

#define CHECK(cond) tu_check(!!(cond), #cond, __FILE__, __LINE__, NULL)
#define CHECKF(cond, ...) tu_check(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
/* string equality, NULL-safe; prints both values on failure */
#define CHECK_STR(actual, expected) tu_check_str((actual), (expected), #actual, __FILE__, __LINE__)
#define CHECK_INT(actual, expected) tu_check_int((long long)(actual), (long long)(expected), #actual, __FILE__, __LINE__)
/* the value at a path of a JSON document is a string equal to expected */
#define CHECK_JSTR(root, path, expected) tu_check_str(tu_str((root), (path)), (expected), path, __FILE__, __LINE__)
#define CHECK_JINT(root, path, expected) tu_check_jint((root), (path), (long long)(expected), __FILE__, __LINE__)
/* the value at a path is JSON-equal to the JSON text expected (NULL: the path must be absent) */
#define CHECK_JEQ(root, path, expected) tu_check_jeq((root), (path), (expected), __FILE__, __LINE__)

int tu_check_str(const char *actual, const char *expected, const char *what, const char *file, int line);
int tu_check_int(long long actual, long long expected, const char *what, const char *file, int line);
int tu_check_jint(json_t *root, const char *path, long long expected, const char *file, int line);
int tu_check_jeq(json_t *root, const char *path, const char *expected_json, const char *file, int line);

/* Run one test case: resets the server (and the TLS server when one runs), names the test,
 * prints PASS/FAIL. */
void tu_run(const char *name, void (*fn)(void));
#define RUN(fn) tu_run(#fn, fn)

/* Start/finish a test binary: tu_init reads HL_TEST_PORT (required) and HL_TEST_TLS_PORT,
 * HL_TEST_CA_BUNDLE (the TLS server; optional); tu_finish prints RESULT and returns the process
 * exit status. */
void tu_init(int argc, char **argv);
int tu_finish(void);

/* Print a note attached to the current test (not a failure). */
void tu_note(const char *fmt, ...);

/* ---- time ------------------------------------------------------------------------------- */

double tu_now(void);            /* monotonic seconds */
double tu_factor(void);         /* 1, or more under valgrind (VALGRIND=1), or HL_TEST_TIME_FACTOR */
void tu_sleep(double seconds);

/* ---- forked children under valgrind ---------------------------------------------------- */

/* After fork(), objects referenced only from a parent's thread that was busy at that moment (a
 * thread inside a call, the engine's thread) are unreachable in the child: valgrind's exit-time
 * leak check reports them "definitely lost" and the child exits 99 (--error-exitcode) although
 * its own checks passed; nothing can prevent that. A child reports to its parent through a slot
 * in memory shared across fork(); the parent accepts such an exit with tu_child_leak_check_only. */
typedef struct {
    volatile int finished;   /* the child got to tu_child_end */
    volatile int bits;       /* the status it exits with */
    volatile int vg_errors;  /* valgrind errors it produced itself before its exit */
} tu_child_slot;
tu_child_slot *tu_child_slots(int n);   /* n zeroed slots shared with children; NULL if mmap fails */
void tu_child_begin(tu_child_slot *slot);  /* in the child, right after fork() (slot may be NULL) */
void tu_child_end(int bits);            /* in the child, just before _exit(bits) */
/* In the parent: a child's waitpid status 99 came only from the exit-time leak check. */
int tu_child_leak_check_only(const tu_child_slot *slot, int status);

/* ---- the test server -------------------------------------------------------------------- */

int tu_port(void);
const char *tu_base_url(void);  /* http://127.0.0.1:<port>/v4 */

/* HTTP to the control routes; returns a malloc'd body (free()) or NULL; *status if non-NULL. */
char *tu_http(const char *method, const char *path, const char *body, long *status);
/* Queue scripted responses: the argument is the JSON array text of R objects (printf-style). */
int tu_script(const char *fmt, ...);
void tu_reset(void);
/* Recorded API requests: a new reference to the "requests" array (json_decref it). */
json_t *tu_requests(void);
/* Server stats object (json_decref it). */
json_t *tu_stats(void);
/* Count of recorded requests. */
int tu_request_count(void);

/* A recorded request's header value (case-insensitive name), or NULL; count of such headers. */
const char *tu_req_header(json_t *req, const char *name);
int tu_req_header_count(json_t *req, const char *name);

/* A TCP port on 127.0.0.1 nobody listens on (bound, then closed). */
int tu_closed_port(void);

/* ---- the TLS test server ------------------------------------------------------------------
 * A second instance of the test server that speaks HTTPS (Tests/c/run.sh starts it with a
 * self-signed certificate for 127.0.0.1 made for the run; PROTOCOL.md, "TLS"). It has its own
 * queue, recorded requests and stats. When it is not running (HL_TEST_TLS_PORT unset):
 * tu_tls_port() is 0, tu_tls_base_url() and tu_ca_bundle() are NULL, and the other tu_tls_*
 * functions record a failure. */

int tu_tls_port(void);
const char *tu_tls_base_url(void);  /* https://127.0.0.1:<tls port>/v4 */
/* Path of the PEM file that verifies the TLS server (its certificate; HL_TEST_CA_BUNDLE). */
const char *tu_ca_bundle(void);
/* Like tu_http, tu_script, tu_requests, tu_stats, for the TLS server: over https, verified
 * with tu_ca_bundle(). tu_reset() (and so tu_run) resets both servers. */
char *tu_tls_http(const char *method, const char *path, const char *body, long *status);
int tu_tls_script(const char *fmt, ...);
json_t *tu_tls_requests(void);
json_t *tu_tls_stats(void);        /* GET /_control/stats of the TLS server (json_decref it) */

/* ---- clients ----------------------------------------------------------------------------- */

/* hl_client_new with {"api_key":TU_SECRET,"host":<test server>} plus extra members
 * (text starting with ',' e.g. ",\"timeout\":1", or NULL). Records a failure if NULL. */
hl_client *tu_client(const char *extra_fmt, ...);
/* The same for the TLS server: {"api_key":TU_SECRET,"host":tu_tls_base_url(),
 * "ca_bundle":tu_ca_bundle()} plus extra members. Records a failure if NULL. */
hl_client *tu_tls_client(const char *extra_fmt, ...);

/* ---- envelopes and JSON ------------------------------------------------------------------ */

/* Parse an envelope string returned by the library (does not free it). Records failures when
 * it is NULL, not a JSON object, lacks a boolean "ok", or contains TU_SECRET. Returns a new
 * reference or NULL. Numbers too big for jansson are parsed as reals. */
json_t *tu_parse_env(const char *raw);
/* Parse any JSON text (new reference or NULL; big integers parsed as reals). */
json_t *tu_json(const char *text);

/* Call fn and parse: returns the parsed envelope (new reference, may be NULL); the raw text is
 * stored in *raw (malloc'd copy, free()) when raw is not NULL. The library's string is freed
 * with hl_free. */
typedef char *(*tu_call_fn)(hl_client *, const char *);
json_t *tu_call(tu_call_fn fn, hl_client *client, const char *request, char **raw);

/* Stream helpers: next item parsed (NULL when hl_stream_next returns NULL; *raw as above). */
json_t *tu_next(hl_stream *s, char **raw);

/* Value at a dotted path with [n] indexes, e.g. "error.errors[0].path"; borrowed or NULL. */
json_t *tu_get(json_t *root, const char *path);
const char *tu_str(json_t *root, const char *path);   /* string value or NULL */
int tu_bool(json_t *root, const char *path);          /* 1 true, 0 false, -1 absent/not bool */
int tu_is_ok(json_t *env);                            /* ok == true */
const char *tu_err_type(json_t *env);                 /* error.type or NULL */

/* The "errors" array of an invalid_request envelope contains an item with this path. */
int tu_errors_have_path(json_t *env, const char *path);

/* Does the string contain needle (NULL-safe)? */
int tu_contains(const char *hay, const char *needle);

/* ---- endpoints --------------------------------------------------------------------------- */

typedef hl_stream *(*tu_stream_fn)(hl_client *, const char *);
typedef struct {
    const char *name;       /* "completion" ... */
    tu_call_fn call;
    tu_stream_fn stream;
    const char *path;       /* "/v4/completion" */
    const char *minimal;    /* a minimal valid request */
    const char *required;   /* the required top-level field, or NULL */
} tu_endpoint;

extern const tu_endpoint TU_ENDPOINTS[4];
#define TU_NENDPOINTS 4

/* A minimal valid model_config object text. */
#define TU_MC "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\"}"
/* A minimal valid /completion request. */
#define TU_REQ "{\"model_config\":" TU_MC "}"

/* ---- items of loops and queues (hl_item) ---------------------------------------------------- */

/* Items taken from a loop (hl_loop_run) or a queue (hl_queue_drain), their JSON copied (an
 * hl_item's json is valid only until the next run or drain). Checks json and len agree. */
#define TU_ITEMS_MAX 256
typedef struct {
    int n;
    hl_item items[TU_ITEMS_MAX];
    char *json[TU_ITEMS_MAX];
} tu_items;
size_t tu_items_run(hl_loop *l, tu_items *c, int timeout_ms, size_t max);   /* one hl_loop_run */
size_t tu_items_drain(hl_queue *q, tu_items *c, size_t max);                /* one hl_queue_drain */
int tu_items_results(const tu_items *c);                                    /* HL_ITEM_RESULTs taken */
void tu_items_free(tu_items *c);                                            /* frees the copies */
const hl_item *tu_items_result_of(const tu_items *c, hl_call *call);        /* call's result or NULL */
int tu_items_events_of(const tu_items *c, hl_call *call);                   /* call's events */

#endif /* HL_TESTUTIL_H */

/* ---- asynchronous calls --------------------------------------------------------------------
 * Added for test_engine.c / test_batch.c; nothing above changed. */

/* The same as tu_parse_env (every envelope type, "cancelled" included): for the items of
 * hl_call_start's callback. */
json_t *tu_parse_item(const char *raw);

/* One value of the server's /_control/stats as an integer (-1 when absent). */
long tu_stat(const char *key);
long tu_tls_stat(const char *key);
/* Poll /_control/stats until stats[key] == value or `seconds` pass; returns the last value. */
long tu_wait_stat(const char *key, long value, double seconds);

/* A listening socket on 127.0.0.1 whose accept queue is full: a connection attempt to `port`
 * hangs in SYN_SENT (the kernel drops its SYN). tu_blackhole_open returns 1 on success. */
typedef struct {
    int listener;
    int fillers[4];
    int port;
} tu_blackhole;
int tu_blackhole_open(tu_blackhole *b);
void tu_blackhole_close(tu_blackhole *b);

/* gzip(text) as base64 (made by python3 at test time); malloc'd, free(); NULL on failure. */
char *tu_gzip_b64(const char *text);

/* Collects the items an hl_call_start callback receives (thread-safe; the callback must be
 * tu_async_cb with a tu_async * as user_data). An item is terminal when its kind is
 * HL_ITEM_RESULT. */
#define TU_ASYNC_MAX 64
typedef struct tu_async {
    int stream;                 /* set before hl_call_start: the call has "stream": true */
    int free_in_cb;             /* 1: hl_call_free(call) from the callback on the terminal
                                   item; 2: on the first item */
    int cancel_in_cb;           /* cancel the call from the callback on the first item */
    int n;                      /* items received */
    int after_terminal;         /* items received after the terminal one */
    int after_free;             /* items received after `freed` was set */
    int terminal;               /* terminal item received */
    int freed;                  /* set by the test after hl_call_free returned */
    int on_caller_thread;       /* items delivered on the thread that set `caller` */
    int concurrent;             /* callbacks of this collector seen running at once */
    int running;
    void *call_seen;            /* the hl_call * the callback received */
    unsigned long caller;       /* pthread_t of the starting thread (set by tu_async_start) */
    double t_terminal;          /* tu_now() when the terminal item arrived */
    char *raw[TU_ASYNC_MAX];    /* the first TU_ASYNC_MAX items (malloc'd copies) */
    int kind_errors;            /* items whose kind or len disagreed with their JSON (checked
                                   by tu_async_destroy) */
    void *impl;                 /* mutex + condition (internal) */
} tu_async;
void tu_async_init(tu_async *a, int stream);
void tu_async_destroy(tu_async *a);   /* checks kind_errors == 0, frees the copies */
void tu_async_cb(hl_call *call, int kind, const char *item_json, size_t len, void *user_data);
/* hl_call_start with tu_async_cb; sets a->caller to this thread. */
hl_call *tu_async_start(tu_async *a, hl_client *c, const char *name, const char *request, const char *options);
/* Wait until the terminal item arrived or `seconds` passed; returns 1 if it arrived. */
int tu_async_wait(tu_async *a, double seconds);
/* Wait until at least n items arrived (or the terminal one, or `seconds`); returns a->n. */
int tu_async_wait_items(tu_async *a, int n, double seconds);
/* Mark the collector freed (under its lock), after hl_call_free returned. */
void tu_async_mark_freed(tu_async *a);
/* Item i parsed with tu_parse_item (new reference, or NULL when there is no such item). */
json_t *tu_async_item(tu_async *a, int i);
/* a->n etc. read under the lock */
int tu_async_count(tu_async *a);
/* The most tu_async_cb callbacks (of any collector) seen running at the same time since the
 * last call (the engine runs one client's callbacks one at a time); resets the count. */
int tu_async_max_running(void);
