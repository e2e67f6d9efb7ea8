/*
 * test_hardening.c — hardening: hostile numbers never crash the host, CPU linear in the size
 * of an answer, memory bounded in a blocking stream merge, the connection pool survives
 * bursts, and smaller defects (every config problem reported, the URL in a 404, a proxy that
 * refuses the tunnel).
 *
 *  A. Hostile numbers from the server (Retry-After / retry-after-ms, status lines,
 *     Content-Length) and from the caller (client config, request values). A trap (overflow)
 *     kills the whole process, so every hostile call runs in a forked child that passes the
 *     envelope back through a pipe; the parent checks the child's exit status and the envelope.
 *     One case per hostile form. The parent creates no client before these cases.
 *  B. Process CPU time (getrusage, the server is another process) of one call grows linearly
 *     with the size of the answer: one object of N members (blocking body, stream event,
 *     blocking stream merge, error body), a stream of many tiny events (hl_stream_next and the
 *     blocking merge), and many small events whose texts the merge concatenates. Sizes n and
 *     8n, minimum of 3 runs after a warm-up, ratio < 24 (linear ~8, quadratic ~64). Smaller
 *     sizes under valgrind (the ratios still apply).
 *  C. A blocking call with "stream": true against an endless stream ends at max_response_bytes.
 *  D. 100 concurrent calls twice on one client: the second burst reuses the connections.
 *  E. invalid_config lists every problem; a 404 names the URL called; a proxy's refusal of the
 *     CONNECT tunnel is a connection_error naming the proxy and its status.
 */
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static double F;   /* tu_factor() */
static int VG;     /* running under valgrind: smaller sizes */

/* ---- small helpers ----------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *text, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->s, cap);
        if (!d) abort();
        b->s = d;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(sbuf *b, const char *text) { sb_add(b, text, strlen(text)); }

static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* Queue scripted responses (the JSON array text), without echoing a huge script on failure. */
static int script_text(const char *array_text)
{
    size_t n = strlen(array_text);
    char *body = malloc(n + 32);
    snprintf(body, n + 32, "{\"responses\":%s}", array_text);
    long st = 0;
    char *r = tu_http("POST", "/_control/script", body, &st);
    int ok = CHECKF(r != NULL && st == 200, "script accepted by the test server: status %ld, answer %.300s, script %.300s%s",
                    st, r ? r : "none", array_text, n > 300 ? "..." : "");
    free(r);
    free(body);
    return ok;
}

static long stat_int(const char *name)
{
    json_t *s = tu_stats();
    json_t *v = json_object_get(s, name);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(s);
    return n;
}

/* The configuration text of a test client: api key, the test server (or host), extra members. */
static char *client_config(const char *host, const char *extra)
{
    sbuf b = {0};
    sb_fmt(&b, "{\"api_key\":\"%s\",\"host\":\"%s\"%s}", TU_SECRET, host ? host : tu_base_url(), extra ? extra : "");
    return b.s;
}

/* =========================================================================================== */
/* forked children                                                                             */
/* =========================================================================================== */

/* What a child reports through its pipe: a tag character, the seconds its call took, a space,
 * then the text (an envelope or hl_client_new's error). Tags:
 *   'E' the envelope of a call;   'C' hl_client_new failed, the text is its error_json;
 *   'K' hl_client_new succeeded (no text).                                                  */
static void child_write(int fd, char tag, double dt, const char *text)
{
    char head[64];
    int n = snprintf(head, sizeof head, "%c%.6f ", tag, dt);
    const char *parts[2] = {head, text ? text : ""};
    size_t lens[2] = {(size_t)n, text ? strlen(text) : 0};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            ssize_t w = write(fd, parts[i] + off, lens[i] - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) _exit(3);
            off += (size_t)w;
        }
    }
}

typedef void (*child_fn)(int fd, const void *arg);

typedef struct {
    int ran;         /* the child was started */
    int exited;      /* exited normally ... */
    int code;        /* ... with this status */
    int signaled;    /* killed by signal number `sig` */
    int sig;
    int timed_out;   /* still running after the limit: killed by us */
    char tag;        /* first byte written, 0 when none */
    double call_dt;  /* seconds the child's call took, as it reported */
    char *text;      /* the rest of what it wrote (malloc'd, NUL-terminated) */
} child_t;

/* Runs fn(fd, arg) in a forked child (which then _exits 0) and collects what it wrote to fd.
 * A child still running after `limit` seconds is killed. */
static void run_child(child_fn fn, const void *arg, double limit, child_t *r)
{
    memset(r, 0, sizeof *r);
    fflush(stdout);
    fflush(stderr);
    int p[2];
    if (!CHECKF(pipe(p) == 0, "pipe: %s", strerror(errno))) return;
    pid_t pid = fork();
    if (!CHECKF(pid >= 0, "fork: %s", strerror(errno))) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        close(p[0]);
        fn(p[1], arg);
        close(p[1]);
        _exit(0);
    }
    close(p[1]);
    r->ran = 1;
    sbuf b = {0};
    sb_add(&b, "", 0);
    double deadline = tu_now() + limit;
    for (;;) {
        double left = deadline - tu_now();
        if (left <= 0) {
            r->timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pf = {p[0], POLLIN, 0};
        int k = poll(&pf, 1, (int)(left * 1000) + 1);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) continue;
        char buf[65536];
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        sb_add(&b, buf, (size_t)n);
    }
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st)) {
        r->exited = 1;
        r->code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        r->signaled = 1;
        r->sig = WTERMSIG(st);
    }
    if (b.len > 0) {
        r->tag = b.s[0];
        char *end = NULL;
        r->call_dt = strtod(b.s + 1, &end);
        const char *rest = end && *end == ' ' ? end + 1 : b.s + b.len;
        r->text = strdup(rest);
    } else {
        r->text = strdup("");
    }
    free(b.s);
}

/* The child ran to its end: not killed by a signal (a trap), not hung, exit status 0. */
static int check_child_alive(const child_t *r, const char *what)
{
    if (!r->ran) return 0;
    CHECKF(!r->signaled, "%s: the process was killed by signal %d (%s)", what, r->sig,
           r->signaled ? strsignal(r->sig) : "");
    CHECKF(!r->timed_out, "%s: the call had not ended after the time limit (killed)", what);
    CHECKF(!r->exited || r->code == 0, "%s: the child exited with status %d (99: valgrind errors)", what, r->code);
    return r->exited && r->code == 0 && !r->timed_out;
}

static void free_child(child_t *r)
{
    free(r->text);
    r->text = NULL;
}

/* ---- the children's work -------------------------------------------------------------------- */

typedef struct {
    const char *config_extra;   /* members added to the test config (",\"max_retries\":0") */
    const char *host;           /* NULL: the test server */
    const char *request;        /* the /completion request; NULL: only create the client */
} call_spec;

/* Creates a client (reports 'C' on failure), makes one hl_complete call (reports 'E'). */
static void child_call(int fd, const void *arg)
{
    const call_spec *cs = arg;
    char *cfg = client_config(cs->host, cs->config_extra);
    char *err = NULL;
    hl_client *c = hl_client_new(cfg, &err);
    free(cfg);
    if (!c) {
        child_write(fd, 'C', 0, err ? err : "(no error_json)");
        hl_free(err);
        return;
    }
    hl_free(err);
    if (!cs->request) {
        child_write(fd, 'K', 0, "");
        hl_client_free(c);
        return;
    }
    double t0 = tu_now();
    char *env = hl_complete(c, cs->request);
    double dt = tu_now() - t0;
    child_write(fd, 'E', dt, env ? env : "(NULL)");
    hl_free(env);
    hl_client_free(c);
}

/* Hands hl_client_new a raw config text. */
static void child_config(int fd, const void *arg)
{
    const char *cfg = arg;
    char *err = NULL;
    hl_client *c = hl_client_new(cfg, &err);
    if (!c) {
        child_write(fd, 'C', 0, err ? err : "(no error_json)");
    } else {
        child_write(fd, 'K', 0, err ? err : "");
        hl_client_free(c);
    }
    hl_free(err);
}

/* =========================================================================================== */
/* A. hostile numbers                                                                          */
/* =========================================================================================== */

/* The case being run (tu_run takes a function without arguments). */
static const void *g_case;

typedef struct {
    const char *name;
    const char *header;
    const char *value;
} retry_form;

static const retry_form RETRY_FORMS[] = {
    {"test_retry_after_date_year_1e12", "Retry-After", "Sun, 06 Nov 1000000000000 08:49:37 GMT"},
    {"test_retry_after_date_year_1e20", "Retry-After", "Sun, 06 Nov 99999999999999999999 08:49:37 GMT"},
    {"test_retry_after_date_year_minus_5", "Retry-After", "Sun, 06 Nov -5 08:49:37 GMT"},
    {"test_retry_after_1e20_digits", "Retry-After", "99999999999999999999"},
    {"test_retry_after_2p64_plus_1", "Retry-After", "18446744073709551617"},
    {"test_retry_after_int64_max", "Retry-After", "9223372036854775807"},
    {"test_retry_after_minus_1", "Retry-After", "-1"},
    {"test_retry_after_int64_min", "Retry-After", "-9223372036854775808"},
    {"test_retry_after_NaN", "Retry-After", "NaN"},
    {"test_retry_after_nan", "Retry-After", "nan"},
    {"test_retry_after_inf", "Retry-After", "inf"},
    {"test_retry_after_1e400", "Retry-After", "1e400"},
    {"test_retry_after_minus_0", "Retry-After", "-0"},
    {"test_retry_after_1e3", "Retry-After", "1e3"},
    {"test_retry_after_hex", "Retry-After", "0x10"},
    {"test_retry_after_date_feb_31", "Retry-After", "Mon, 31 Feb 2024 08:49:37 GMT"},
    {"test_retry_after_date_25_61_99", "Retry-After", "Sun, 06 Nov 1994 25:61:99 GMT"},
    {"test_retry_after_date_past", "Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"},
    {"test_retry_after_empty", "Retry-After", ""},
    /* the other two HTTP date forms, and huge day / clock fields */
    {"test_retry_after_asctime_year_1e12", "Retry-After", "Sun Nov  6 08:49:37 1000000000000"},
    {"test_retry_after_rfc850_year_1e10", "Retry-After", "Sunday, 06-Nov-9999999999 08:49:37 GMT"},
    {"test_retry_after_date_day_1e20", "Retry-After", "Sun, 99999999999999999999 Nov 1994 08:49:37 GMT"},
    {"test_retry_after_date_hour_1e20", "Retry-After", "Sun, 06 Nov 1994 99999999999999999999:00:00 GMT"},
    {"test_retry_after_ms_1e400", "retry-after-ms", "1e400"},
    {"test_retry_after_ms_NaN", "retry-after-ms", "NaN"},
    {"test_retry_after_ms_minus_inf", "retry-after-ms", "-inf"},
    {"test_retry_after_ms_minus_5", "retry-after-ms", "-5"},
    {"test_retry_after_ms_2p64_plus_1", "retry-after-ms", "18446744073709551617"},
    {"test_retry_after_ms_1e308", "retry-after-ms", "1e308"},
    {"test_retry_after_ms_1e26_digits", "retry-after-ms", "99999999999999999999999999"},
};

/* A 503 carrying a hostile Retry-After / retry-after-ms, then the default answer: the process
 * survives, the value is not honoured (the short backoff is used), the retry succeeds. */
static void case_retry_form(void)
{
    const retry_form *f = g_case;
    tu_note("%s: \"%s\"", f->header, f->value);
    sbuf s = {0};
    sb_fmt(&s, "[{\"status\":503,\"headers\":{\"%s\":\"%s\"},\"json\":{\"detail\":\"busy\"}},{}]", f->header, f->value);
    int scripted = script_text(s.s);
    free(s.s);
    if (!scripted) return;
    call_spec cs = {",\"max_retries\":1,\"retry_base_delay\":0.01,\"retry_max_delay\":0.05", NULL, TU_REQ};
    child_t r;
    run_child(child_call, &cs, 60 * F, &r);
    if (check_child_alive(&r, f->value) && CHECKF(r.tag == 'E', "the child made the call: %c %.300s", r.tag ? r.tag : '-', r.text)) {
        json_t *env = tu_parse_env(r.text);
        CHECKF(tu_is_ok(env), "the retry succeeded: %.500s", r.text);
        CHECK_JINT(env, "attempts", 2);
        CHECKF(r.call_dt < 5 * F, "the call took %.3f s: the hostile value was honoured (limit %.1f s)", r.call_dt, 5 * F);
        json_decref(env);
        CHECK_INT(tu_request_count(), 2);
    }
    free_child(&r);
}

typedef struct {
    const char *name;
    const char *raw;   /* JSON string text (escaped) of the raw response */
} raw_form;

static const raw_form RAW_FORMS[] = {
    {"test_raw_status_1e20", "HTTP/1.1 99999999999999999999 Big\\r\\nContent-Length: 2\\r\\n\\r\\n{}"},
    {"test_raw_status_negative", "HTTP/1.1 -200 Neg\\r\\nContent-Length: 2\\r\\n\\r\\n{}"},
    {"test_raw_content_length_1e23", "HTTP/1.1 200 OK\\r\\nContent-Length: 99999999999999999999999\\r\\n\\r\\n{}"},
    {"test_raw_content_length_minus_1", "HTTP/1.1 200 OK\\r\\nContent-Length: -1\\r\\n\\r\\n{}"},
    {"test_raw_content_length_2p64_plus_1", "HTTP/1.1 200 OK\\r\\nContent-Length: 18446744073709551617\\r\\n\\r\\n{}"},
    {"test_raw_503_retry_after_1e20",
     "HTTP/1.1 503 Service Unavailable\\r\\nRetry-After: 99999999999999999999\\r\\nContent-Length: 2\\r\\n\\r\\n{}"},
};

/* A hostile status line / header block written as the whole response: a JSON envelope. */
static void case_raw_form(void)
{
    const raw_form *f = g_case;
    tu_note("raw response \"%s\"", f->raw);
    sbuf s = {0};
    sb_fmt(&s, "[{\"raw_response\":\"%s\"},{}]", f->raw);
    int scripted = script_text(s.s);
    free(s.s);
    if (!scripted) return;
    char extra[128];
    snprintf(extra, sizeof extra, ",\"max_retries\":0,\"timeout\":%g,\"low_speed_timeout\":%g", 20 * F, 10 * F);
    call_spec cs = {extra, NULL, TU_REQ};
    child_t r;
    run_child(child_call, &cs, 60 * F, &r);
    if (check_child_alive(&r, f->raw) && CHECKF(r.tag == 'E', "the child made the call: %c %.300s", r.tag ? r.tag : '-', r.text)) {
        json_t *env = tu_parse_env(r.text);
        if (tu_bool(env, "ok") == 0) {
            const char *t = tu_err_type(env);
            CHECKF(t && (!strcmp(t, "connection_error") || !strcmp(t, "invalid_response") || !strcmp(t, "api_error") ||
                         !strcmp(t, "timeout")),
                   "error.type: %.500s", r.text);
            const char *m = tu_str(env, "error.message");
            CHECKF(m && m[0], "error.message: %.500s", r.text);
        }
        tu_note("envelope: %.300s", r.text);
        json_decref(env);
    }
    free_child(&r);
}

typedef struct {
    const char *name;
    const char *member;   /* a config member text */
} config_form;

static const config_form CONFIG_FORMS[] = {
    {"test_config_timeout_1e400", "\"timeout\":1e400"},
    {"test_config_timeout_minus_1e400", "\"timeout\":-1e400"},
    {"test_config_max_retries_2p64_plus_1", "\"max_retries\":18446744073709551617"},
    {"test_config_max_retries_1e400", "\"max_retries\":1e400"},
    {"test_config_max_response_bytes_1e23", "\"max_response_bytes\":99999999999999999999999"},
    {"test_config_connect_timeout_1e_minus_400", "\"connect_timeout\":1e-400"},
    {"test_config_retry_max_delay_dbl_max", "\"retry_max_delay\":1.7976931348623157e308"},
};

/* A hostile number in the client configuration: NULL and an invalid_config envelope. */
static void case_config_form(void)
{
    const config_form *f = g_case;
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"api_key\":\"%s\",\"host\":\"%s\",%s}", TU_SECRET, tu_base_url(), f->member);
    tu_note("config %s", f->member);
    child_t r;
    run_child(child_config, cfg, 60 * F, &r);
    if (check_child_alive(&r, f->member)) {
        CHECKF(r.tag == 'C', "hl_client_new returned NULL (tag %c, %.300s)", r.tag ? r.tag : '-', r.text);
        if (r.tag == 'C') {
            json_t *env = tu_parse_env(r.text);
            CHECKF(tu_bool(env, "ok") == 0, "%.300s", r.text);
            CHECK_STR(tu_err_type(env), "invalid_config");
            json_decref(env);
        }
    }
    free_child(&r);
}

typedef struct {
    const char *name;
    const char *request;
} request_form;

#define MC_WITH(extra) "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\"," extra "}"

static const request_form REQUEST_FORMS[] = {
    {"test_request_num_samples_1e23", "{\"model_config\":" TU_MC ",\"num_samples\":99999999999999999999999}"},
    {"test_request_num_samples_below_int64_min", "{\"model_config\":" TU_MC ",\"num_samples\":-9223372036854775809}"},
    {"test_request_num_samples_1e400", "{\"model_config\":" TU_MC ",\"num_samples\":1e400}"},
    {"test_request_max_tokens_1e400", "{\"model_config\":" MC_WITH("\"max_tokens\":1e400") "}"},
    {"test_request_max_tokens_1e23", "{\"model_config\":" MC_WITH("\"max_tokens\":99999999999999999999999") "}"},
    {"test_request_max_tokens_minus_1e400", "{\"model_config\":" MC_WITH("\"max_tokens\":-1e400") "}"},
    {"test_request_temperature_1e400", "{\"model_config\":" MC_WITH("\"temperature\":1e400") "}"},
    {"test_request_top_p_minus_1e400", "{\"model_config\":" MC_WITH("\"top_p\":-1e400") "}"},
    {"test_request_presence_penalty_1e_minus_400", "{\"model_config\":" MC_WITH("\"presence_penalty\":1e-400") "}"},
    {"test_request_logprobs_2p64_plus_1", "{\"model_config\":" TU_MC ",\"logprobs\":18446744073709551617}"},
};

/* A hostile number in a request: a JSON envelope (invalid_request, or a successful call). */
static void case_request_form(void)
{
    const request_form *f = g_case;
    tu_note("request %s", f->request);
    char extra[64];
    snprintf(extra, sizeof extra, ",\"max_retries\":0,\"timeout\":%g", 20 * F);
    call_spec cs = {extra, NULL, f->request};
    child_t r;
    run_child(child_call, &cs, 60 * F, &r);
    if (check_child_alive(&r, f->request) && CHECKF(r.tag == 'E', "the child made the call: %c %.300s", r.tag ? r.tag : '-', r.text)) {
        json_t *env = tu_parse_env(r.text);
        if (tu_bool(env, "ok") == 0)
            CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_request") == 0,
                   "a failure is an invalid_request: %.500s", r.text);
        tu_note("envelope: %.200s", r.text);
        json_decref(env);
    }
    free_child(&r);
}

/* =========================================================================================== */
/* B. CPU linear in the size of the answer                                                     */
/* =========================================================================================== */

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* {"data":[{...}],"provider_responses":[],"wide":{"k0":0,...,"k<n-1>":n-1}} */
static char *wide_body(int n)
{
    sbuf b = {0};
    sb_str(&b, "{\"data\":[{\"id\":\"d\",\"index\":0,\"output\":\"x\",\"raw_output\":\"x\",\"inputs\":{},"
               "\"model_config_id\":\"c\"}],\"provider_responses\":[],\"wide\":{");
    for (int i = 0; i < n; i++) sb_fmt(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    sb_str(&b, "}}");
    return b.s;
}

static int wide_size(json_t *root, const char *path)
{
    json_t *w = tu_get(root, path);
    return json_is_object(w) ? (int)json_object_size(w) : -1;
}

/* One measured run of size n: scripts the server, makes the call(s), returns the CPU seconds
 * of the call (< 0 when the result was wrong, which the function has recorded). */
typedef double (*measure_fn)(int n);

static hl_client *g_bclient;   /* the client of the current B case */

static double measure_blocking_wide(int n)
{
    char *body = wide_body(n);
    sbuf s = {0};
    sb_fmt(&s, "[{\"json\":%s}]", body);
    free(body);
    int ok = script_text(s.s);
    free(s.s);
    if (!ok) return -1;
    double c0 = cpu_now();
    char *raw = hl_complete(g_bclient, TU_REQ);
    double cpu = cpu_now() - c0;
    json_t *env = tu_parse_env(raw);
    int good = CHECKF(tu_is_ok(env), "n=%d: ok: %.300s", n, raw ? raw : "NULL") &&
               CHECKF(wide_size(env, "body.wide") == n, "n=%d: body.wide has %d members", n, wide_size(env, "body.wide"));
    json_decref(env);
    hl_free(raw);
    return good ? cpu : -1;
}

static double measure_stream_wide(int n)
{
    char *body = wide_body(n);
    sbuf s = {0};
    sb_fmt(&s, "[{\"stream\":{\"events\":[%s]}}]", body);
    free(body);
    int ok = script_text(s.s);
    free(s.s);
    if (!ok) return -1;
    char *items[4] = {0};
    int count = 0;
    double c0 = cpu_now();
    hl_stream *st = hl_complete_stream(g_bclient, TU_REQ);
    char *it;
    while ((it = hl_stream_next(st)) != NULL) {
        if (count < 4) items[count] = it;
        else hl_free(it);
        count++;
    }
    hl_stream_free(st);
    double cpu = cpu_now() - c0;
    int good = CHECKF(count == 2, "n=%d: one event and the terminal item, got %d items", n, count);
    if (count >= 1) {
        json_t *e = tu_parse_env(items[0]);
        good &= CHECKF(wide_size(e, "event.wide") == n, "n=%d: event.wide has %d members: %.200s", n,
                       wide_size(e, "event.wide"), items[0]);
        json_decref(e);
    }
    if (count >= 2) {
        json_t *d = tu_parse_env(items[1]);
        good &= CHECKF(tu_bool(d, "done") == 1, "n=%d: done: %.300s", n, items[1]);
        json_decref(d);
    }
    for (int i = 0; i < 4; i++) hl_free(items[i]);
    return good ? cpu : -1;
}

static double measure_stream_merge_wide(int n)
{
    char *body = wide_body(n);
    sbuf s = {0};
    sb_fmt(&s, "[{\"stream\":{\"events\":[%s]}}]", body);
    free(body);
    int ok = script_text(s.s);
    free(s.s);
    if (!ok) return -1;
    double c0 = cpu_now();
    char *raw = hl_complete(g_bclient, "{\"model_config\":" TU_MC ",\"stream\":true}");
    double cpu = cpu_now() - c0;
    json_t *env = tu_parse_env(raw);
    int good = CHECKF(tu_is_ok(env), "n=%d: ok: %.300s", n, raw ? raw : "NULL") &&
               CHECKF(wide_size(env, "events[0].wide") == n, "n=%d: events[0].wide has %d members", n,
                      wide_size(env, "events[0].wide")) &&
               CHECKF(wide_size(env, "body.wide") == n, "n=%d: body.wide (merged) has %d members", n,
                      wide_size(env, "body.wide"));
    json_decref(env);
    hl_free(raw);
    return good ? cpu : -1;
}

static double measure_error_wide(int n)
{
    char *body = wide_body(n);
    sbuf s = {0};
    sb_fmt(&s, "[{\"status\":500,\"json\":%s}]", body);
    free(body);
    int ok = script_text(s.s);
    free(s.s);
    if (!ok) return -1;
    double c0 = cpu_now();
    char *raw = hl_complete(g_bclient, TU_REQ);
    double cpu = cpu_now() - c0;
    json_t *env = tu_parse_env(raw);
    int good = CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "api_error") == 0, "n=%d: api_error: %.300s", n,
                      raw ? raw : "NULL") &&
               CHECKF(wide_size(env, "error.body.wide") == n, "n=%d: error.body.wide has %d members", n,
                      wide_size(env, "error.body.wide"));
    json_decref(env);
    hl_free(raw);
    return good ? cpu : -1;
}

/* The raw body of n tiny events (JSON string text, escaped). */
#define TINY_EVENT "data: {\\\"data\\\":[{\\\"index\\\":0,\\\"output\\\":\\\"a\\\"}]}\\n\\n"

static int script_tiny_events(int n)
{
    sbuf s = {0};
    sb_str(&s, "[{\"stream\":{\"raw\":\"");
    for (int i = 0; i < n; i++) sb_str(&s, TINY_EVENT);
    sb_str(&s, "\"}}]");
    int ok = script_text(s.s);
    free(s.s);
    return ok;
}

static double measure_tiny_events_stream(int n)
{
    if (!script_tiny_events(n)) return -1;
    static const char prefix[] = "{\"ok\":true,\"event\":";
    int events = 0, others = 0;
    char *last = NULL, *first = NULL;
    double c0 = cpu_now();
    hl_stream *st = hl_complete_stream(g_bclient, TU_REQ);
    char *it;
    while ((it = hl_stream_next(st)) != NULL) {
        if (strncmp(it, prefix, sizeof prefix - 1) == 0) {
            events++;
            if (!first) first = it;
            else hl_free(it);
        } else {
            others++;
            hl_free(last);
            last = it;
        }
    }
    hl_stream_free(st);
    double cpu = cpu_now() - c0;
    int good = CHECKF(events == n, "n=%d: %d event items", n, events) &
               CHECKF(others == 1, "n=%d: %d other items (one terminal item expected): %.300s", n, others,
                      last ? last : "-");
    if (first) {
        json_t *e = tu_parse_env(first);
        good &= CHECK_JSTR(e, "event.data[0].output", "a");
        json_decref(e);
    }
    if (last) {
        json_t *d = tu_parse_env(last);
        good &= CHECKF(tu_bool(d, "done") == 1, "n=%d: done: %.300s", n, last);
        good &= CHECK_JINT(d, "events", n);
        json_decref(d);
    }
    hl_free(first);
    hl_free(last);
    return good ? cpu : -1;
}

/* Events a little larger: each adds 64 + 64 characters to the merged output / raw_output, so
 * that a merge copying its text at each event shows above the per-event cost. */
#define SMALL_EVENT "data: {\\\"data\\\":[{\\\"index\\\":0,\\\"output\\\":\\\"abcdefghijklmnopabcdefghijklmnopabcdefghijklmnopabcdefghijklmnop\\\",\\\"raw_output\\\":\\\"qrstuvwxyz012345qrstuvwxyz012345qrstuvwxyz012345qrstuvwxyz012345\\\"}]}\\n\\n"

static double measure_small_events_merge(int n)
{
    sbuf s = {0};
    sb_str(&s, "[{\"stream\":{\"raw\":\"");
    for (int i = 0; i < n; i++) sb_str(&s, SMALL_EVENT);
    sb_str(&s, "\"}}]");
    int ok = script_text(s.s);
    free(s.s);
    if (!ok) return -1;
    double c0 = cpu_now();
    char *raw = hl_complete(g_bclient, "{\"model_config\":" TU_MC ",\"stream\":true}");
    double cpu = cpu_now() - c0;
    json_t *env = tu_parse_env(raw);
    json_t *evs = tu_get(env, "events");
    const char *out = tu_str(env, "body.data[0].output");
    const char *rout = tu_str(env, "body.data[0].raw_output");
    int good = CHECKF(tu_is_ok(env), "n=%d: ok: %.300s", n, raw ? raw : "NULL") &
               CHECKF(json_is_array(evs) && (int)json_array_size(evs) == n, "n=%d: events has %d items", n,
                      json_is_array(evs) ? (int)json_array_size(evs) : -1) &
               CHECKF(out && (int)strlen(out) == 64 * n && strncmp(out, "abcdefghijklmnopabcd", 20) == 0,
                      "n=%d: the merged output has %d characters", n, out ? (int)strlen(out) : -1) &
               CHECKF(rout && (int)strlen(rout) == 64 * n && strncmp(rout, "qrstuvwxyz012345qrst", 20) == 0,
                      "n=%d: the merged raw_output has %d characters", n, rout ? (int)strlen(rout) : -1);
    json_decref(env);
    hl_free(raw);
    return good ? cpu : -1;
}

static double measure_tiny_events_merge(int n)
{
    if (!script_tiny_events(n)) return -1;
    double c0 = cpu_now();
    char *raw = hl_complete(g_bclient, "{\"model_config\":" TU_MC ",\"stream\":true}");
    double cpu = cpu_now() - c0;
    json_t *env = tu_parse_env(raw);
    json_t *evs = tu_get(env, "events");
    const char *out = tu_str(env, "body.data[0].output");
    int good = CHECKF(tu_is_ok(env), "n=%d: ok: %.300s", n, raw ? raw : "NULL") &
               CHECKF(json_is_array(evs) && (int)json_array_size(evs) == n, "n=%d: events has %d items", n,
                      json_is_array(evs) ? (int)json_array_size(evs) : -1) &
               CHECKF(out && (int)strlen(out) == n, "n=%d: the merged output has %d characters", n, out ? (int)strlen(out) : -1);
    json_decref(env);
    hl_free(raw);
    return good ? cpu : -1;
}

/* Minimum CPU of `runs` runs of size n (after `warmups` unmeasured ones); stops early when
 * stop_below > 0 and the minimum is below it, or stop_above > 0 and a run is above it.
 * Returns < 0 when a run's result was wrong. */
static double best_cpu(measure_fn fn, int n, int warmups, int runs, double stop_below, double stop_above)
{
    for (int i = 0; i < warmups; i++)
        if (fn(n) < 0) return -1;
    double best = -1;
    for (int i = 0; i < runs; i++) {
        double c = fn(n);
        if (c < 0) return -1;
        if (best < 0 || c < best) best = c;
        if (stop_below > 0 && best < stop_below) break;
        if (stop_above > 0 && c > stop_above) break;
    }
    return best;
}

#define RATIO_LIMIT 24.0

/* CPU(8n) / CPU(n) < 24, growing n while CPU(n) is too small to measure. */
static void check_linear(const char *what, measure_fn fn, int n, int n_max)
{
    double small = -1;
    for (;;) {
        small = best_cpu(fn, n, 1, 3, 0, 0);
        if (small < 0) return;
        if (small >= 0.002 || n * 2 > n_max) break;
        tu_note("%s: n=%d took %.4f s of CPU: too small to divide by, doubling n", what, n, small);
        n *= 2;
    }
    int big_n = 8 * n;
    /* up to 3 runs: stop once the verdict cannot change (the minimum is below the limit), or
     * when a run is beyond twice the limit (quadratic; noise does not make linear code 6x slower) */
    double big = best_cpu(fn, big_n, 0, 3, RATIO_LIMIT * small, 2 * RATIO_LIMIT * small);
    if (big < 0) return;
    double ratio = big / (small > 1e-6 ? small : 1e-6);
    tu_note("%s: CPU %.4f s for n=%d, %.4f s for n=%d: ratio %.1f (linear ~8, quadratic ~64)", what, small, n, big,
            big_n, ratio);
    CHECKF(ratio < RATIO_LIMIT, "%s: CPU(n=%d) / CPU(n=%d) = %.4f / %.4f = %.1f, expected < %.0f (linear)", what, big_n,
           n, big, small, ratio, RATIO_LIMIT);
}

/* check_linear with a client of its own (g_bclient) for the measure functions. */
static void linear_case(const char *what, double (*measure)(int), int n, int big_n)
{
    g_bclient = tu_client(",\"max_retries\":0,\"timeout\":%g", 120 * F);
    if (!g_bclient) return;
    check_linear(what, measure, n, big_n);
    hl_client_free(g_bclient);
}

static int wide_n(void) { return VG ? 2000 : 10000; }
static int tiny_n(void) { return VG ? 4000 : 25000; }

static void test_cpu_linear_blocking_body(void)
{
    linear_case("blocking body, one object of n members", measure_blocking_wide, wide_n(), 8 * wide_n());
}

static void test_cpu_linear_stream_event(void)
{
    linear_case("stream event, one object of n members", measure_stream_wide, wide_n(), 8 * wide_n());
}

static void test_cpu_linear_stream_merge(void)
{
    linear_case("blocking \"stream\":true, one event of n members", measure_stream_merge_wide, wide_n(), 8 * wide_n());
}

static void test_cpu_linear_error_body(void)
{
    linear_case("500 answer, error body of n members", measure_error_wide, wide_n(), 8 * wide_n());
}

static void test_cpu_linear_many_events_stream(void)
{
    linear_case("hl_stream_next over n tiny events", measure_tiny_events_stream, tiny_n(), 8 * tiny_n());
}

static void test_cpu_linear_many_events_merge(void)
{
    linear_case("blocking \"stream\":true over n tiny events", measure_tiny_events_merge, tiny_n(), 8 * tiny_n());
}

static void test_cpu_linear_small_events_merge_text(void)
{
    linear_case("blocking \"stream\":true over n events of 64+64 characters", measure_small_events_merge,
                 VG ? 1000 : 6250, VG ? 8000 : 50000);
}

/* =========================================================================================== */
/* C. memory bounded in a blocking stream merge                                                */
/* =========================================================================================== */

static void test_stream_merge_max_response_bytes(void)
{
    /* one event of ~4 KB (far below the limit: no single event exceeds it), repeated forever
     * every 0.01 s: the merged call passes 200,000 bytes within about a second */
    sbuf ev = {0};
    sb_str(&ev, "{\"data\":[{\"index\":0,\"output\":\"");
    for (int i = 0; i < 2000; i++) sb_str(&ev, "x");
    sb_str(&ev, "\",\"raw_output\":\"");
    for (int i = 0; i < 2000; i++) sb_str(&ev, "y");
    sb_str(&ev, "\",\"finish_reason\":null}],\"project_id\":\"pr_f\"}");
    sbuf s = {0};
    sb_fmt(&s, "[{\"stream\":{\"events\":[%s],\"forever\":true,\"delay\":0.01}},{}]", ev.s);
    free(ev.s);
    int ok = script_text(s.s);
    free(s.s);
    if (!ok) return;
    hl_client *c = tu_client(",\"max_response_bytes\":200000,\"timeout\":60,\"max_retries\":0");
    if (!c) return;
    double t0 = tu_now();
    char *raw = hl_complete(c, "{\"model_config\":" TU_MC ",\"stream\":true}");
    double dt = tu_now() - t0;
    json_t *env = tu_parse_env(raw);
    CHECKF(tu_bool(env, "ok") == 0, "a failure: %.300s", raw ? raw : "NULL");
    CHECK_STR(tu_err_type(env), "invalid_response");
    CHECKF(tu_contains(tu_str(env, "error.message"), "max_response_bytes"), "the message names max_response_bytes: %.300s",
           raw ? raw : "NULL");
    CHECKF(dt < 15 * F, "the call ended after %.2f s (limit %.0f s)", dt, 15 * F);
    tu_note("ended after %.2f s: %.200s", dt, tu_str(env, "error.message") ? tu_str(env, "error.message") : "-");
    json_decref(env);
    hl_free(raw);
    hl_client_free(c);
}

/* =========================================================================================== */
/* D. connection pool bursts                                                                   */
/* =========================================================================================== */

#define NBURST 100

static hl_client *g_pool;
static pthread_barrier_t g_barrier;
static int g_burst_ok[NBURST];
static char g_burst_err[NBURST][160];

static void *burst_thread(void *arg)
{
    int i = (int)(size_t)arg;
    pthread_barrier_wait(&g_barrier);
    char *s = hl_complete(g_pool, TU_REQ);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    g_burst_ok[i] = j && json_is_true(json_object_get(j, "ok")) && !strstr(s, TU_SECRET);
    if (!g_burst_ok[i]) snprintf(g_burst_err[i], sizeof g_burst_err[i], "%.150s", s ? s : "NULL");
    json_decref(j);
    hl_free(s);
    return NULL;
}

/* NBURST calls at the same moment, each held 'delay' s by the server so that they overlap. */
static int burst(double delay)
{
    sbuf s = {0};
    sb_str(&s, "[");
    for (int i = 0; i < NBURST; i++) sb_fmt(&s, "%s{\"delay\":%g}", i ? "," : "", delay);
    sb_str(&s, "]");
    int ok = script_text(s.s);
    free(s.s);
    if (!ok) return 0;
    pthread_t th[NBURST];
    int started = 0;
    pthread_barrier_init(&g_barrier, NULL, NBURST);
    memset(g_burst_ok, 0, sizeof g_burst_ok);
    for (int i = 0; i < NBURST; i++) {
        if (pthread_create(&th[i], NULL, burst_thread, (void *)(size_t)i) != 0) break;
        started++;
    }
    if (!CHECKF(started == NBURST, "started %d of %d threads", started, NBURST)) abort();  /* the barrier would hang */
    for (int i = 0; i < NBURST; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&g_barrier);
    int good = 0;
    for (int i = 0; i < NBURST; i++) {
        if (g_burst_ok[i]) good++;
        else CHECKF(0, "call %d: %s", i, g_burst_err[i]);
    }
    return good == NBURST;
}

static void test_pool_burst_reuses_connections(void)
{
    g_pool = tu_client(",\"max_retries\":0,\"timeout\":%g", 60 * F);
    if (!g_pool) return;
    double delay = VG ? 3.0 : 0.3;
    burst(delay);
    long first = stat_int("connections_opened");
    tu_note("burst 1: %ld connections opened", first);
    CHECKF(first >= NBURST * 8 / 10, "the %d calls of burst 1 overlapped: %ld connections opened (expected ~%d)", NBURST,
           first, NBURST);
    burst(delay);
    long second = stat_int("connections_opened");
    tu_note("burst 2: %ld new connections opened", second - first);
    CHECKF(second - first <= 10, "burst 2 reuses the connections of burst 1: %ld new connections (at most 10)",
           second - first);
    /* then 100 calls one after the other: always an idle connection */
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        char *raw = hl_complete(g_pool, TU_REQ);
        json_t *j = raw ? json_loads(raw, 0, NULL) : NULL;
        if (!(j && json_is_true(json_object_get(j, "ok")))) {
            if (bad++ == 0) CHECKF(0, "sequential call %d: %.300s", i, raw ? raw : "NULL");
        }
        json_decref(j);
        hl_free(raw);
    }
    CHECK_INT(bad, 0);
    long third = stat_int("connections_opened");
    tu_note("100 sequential calls: %ld new connections opened", third - second);
    CHECKF(third == second, "100 sequential calls opened %ld new connections (expected 0)", third - second);
    hl_client_free(g_pool);
    g_pool = NULL;
}

/* =========================================================================================== */
/* E. smaller defects                                                                          */
/* =========================================================================================== */

static void test_invalid_config_lists_every_problem(void)
{
    char *err = NULL;
    hl_client *c =
        hl_client_new("{\"api_key\":\"" TU_SECRET "\",\"timeout\":\"x\",\"max_retries\":-1,\"bogus\":1}", &err);
    CHECK(c == NULL);
    hl_client_free(c);
    json_t *env = tu_parse_env(err);
    CHECK_JEQ(env, "ok", "false");
    CHECK_STR(tu_err_type(env), "invalid_config");
    json_t *errs = tu_get(env, "error.errors");
    CHECKF(json_is_array(errs) && json_array_size(errs) == 3, "error.errors holds 3 problems: %s", err ? err : "NULL");
    CHECKF(tu_errors_have_path(env, "timeout"), "a problem at \"timeout\": %s", err ? err : "NULL");
    CHECKF(tu_errors_have_path(env, "max_retries"), "a problem at \"max_retries\": %s", err ? err : "NULL");
    CHECKF(tu_errors_have_path(env, "bogus"), "a problem at \"bogus\": %s", err ? err : "NULL");
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e) {
        const char *m = json_string_value(json_object_get(e, "message"));
        CHECKF(m && m[0], "errors[%zu].message is a non-empty string: %s", i, err);
    }
    CHECKF(tu_str(env, "error.path") && tu_str(env, "error.errors[0].path") &&
               strcmp(tu_str(env, "error.path"), tu_str(env, "error.errors[0].path")) == 0,
           "error.path is errors[0].path: %s", err ? err : "NULL");
    CHECKF(tu_contains(tu_str(env, "error.message"), "(and 2 more problems)"),
           "the message mentions the 2 other problems: %s", err ? err : "NULL");
    json_decref(env);
    hl_free(err);

    /* one problem: errors with one item */
    err = NULL;
    c = hl_client_new("{\"api_key\":\"" TU_SECRET "\",\"timeout\":\"x\"}", &err);
    CHECK(c == NULL);
    hl_client_free(c);
    env = tu_parse_env(err);
    CHECK_STR(tu_err_type(env), "invalid_config");
    errs = tu_get(env, "error.errors");
    CHECKF(json_is_array(errs) && json_array_size(errs) == 1, "error.errors holds 1 problem: %s", err ? err : "NULL");
    CHECK_JSTR(env, "error.errors[0].path", "timeout");
    CHECK_JSTR(env, "error.path", "timeout");
    CHECKF(!tu_contains(tu_str(env, "error.message"), "more problem"), "no \"more problems\" for one: %s",
           err ? err : "NULL");
    json_decref(env);
    hl_free(err);
}

static void test_404_names_the_url(void)
{
    char host[128], url[160];
    snprintf(host, sizeof host, "http://127.0.0.1:%d", tu_port());
    snprintf(url, sizeof url, "http://127.0.0.1:%d/completion", tu_port());
    char *cfg = client_config(host, ",\"max_retries\":0");
    char *err = NULL;
    hl_client *c = hl_client_new(cfg, &err);
    free(cfg);
    CHECKF(c != NULL, "client: %s", err ? err : "-");
    hl_free(err);
    if (!c) return;
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECK_STR(tu_err_type(env), "api_error");
    CHECK_JINT(env, "error.status", 404);
    CHECKF(tu_contains(tu_str(env, "error.message"), url), "the message names %s: %s", url, raw ? raw : "NULL");
    json_t *reqs = tu_requests();
    CHECK_JSTR(reqs, "[0].path", "/completion");
    json_decref(reqs);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

static void test_proxy_refuses_tunnel(void)
{
    /* the proxy alone decides: no no_proxy may send the request elsewhere */
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    tu_script("[{\"status\":403,\"reason\":\"Forbidden\",\"body\":\"no tunnels here\"}]");
    char extra[160];
    /* with credentials in the proxy URL: they must not reach the message */
    snprintf(extra, sizeof extra, ",\"proxy\":\"http://user:pw-PROXYSECRET@127.0.0.1:%d\",\"max_retries\":0,\"timeout\":%g",
             tu_port(), 20 * F);
    char *cfg = client_config("https://api.example.invalid/v4", extra);
    char *err = NULL;
    hl_client *c = hl_client_new(cfg, &err);
    free(cfg);
    CHECKF(c != NULL, "client: %s", err ? err : "-");
    hl_free(err);
    if (!c) return;
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECKF(tu_bool(env, "ok") == 0, "a failure: %s", raw ? raw : "NULL");
    CHECK_STR(tu_err_type(env), "connection_error");
    const char *m = tu_str(env, "error.message");
    CHECKF(tu_contains(m, "proxy"), "the message names the proxy: %s", raw ? raw : "NULL");
    CHECKF(tu_contains(m, "403"), "the message gives the proxy's status 403: %s", raw ? raw : "NULL");
    CHECKF(!tu_contains(raw, "PROXYSECRET"), "no proxy password in the envelope: %s", raw ? raw : "NULL");
    json_t *reqs = tu_requests();
    CHECKF(json_array_size(reqs) == 1, "the proxy received one request");
    CHECK_JSTR(reqs, "[0].method", "CONNECT");
    json_decref(reqs);
    tu_note("%.300s", raw ? raw : "NULL");
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

/* =========================================================================================== */

static void run_case(const char *name, const void *c, void (*fn)(void))
{
    g_case = c;
    tu_run(name, fn);
    g_case = NULL;
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    F = tu_factor();
    VG = getenv("VALGRIND") && strcmp(getenv("VALGRIND"), "1") == 0;

    /* A: every hostile call in a forked child; no client exists in this process yet */
    for (size_t i = 0; i < sizeof RETRY_FORMS / sizeof RETRY_FORMS[0]; i++)
        run_case(RETRY_FORMS[i].name, &RETRY_FORMS[i], case_retry_form);
    for (size_t i = 0; i < sizeof RAW_FORMS / sizeof RAW_FORMS[0]; i++)
        run_case(RAW_FORMS[i].name, &RAW_FORMS[i], case_raw_form);
    for (size_t i = 0; i < sizeof CONFIG_FORMS / sizeof CONFIG_FORMS[0]; i++)
        run_case(CONFIG_FORMS[i].name, &CONFIG_FORMS[i], case_config_form);
    for (size_t i = 0; i < sizeof REQUEST_FORMS / sizeof REQUEST_FORMS[0]; i++)
        run_case(REQUEST_FORMS[i].name, &REQUEST_FORMS[i], case_request_form);

    /* E */
    RUN(test_invalid_config_lists_every_problem);
    RUN(test_404_names_the_url);
    RUN(test_proxy_refuses_tunnel);
    /* D */
    RUN(test_pool_burst_reuses_connections);
    /* C */
    RUN(test_stream_merge_max_response_bytes);
    /* B */
    RUN(test_cpu_linear_blocking_body);
    RUN(test_cpu_linear_stream_event);
    RUN(test_cpu_linear_stream_merge);
    RUN(test_cpu_linear_error_body);
    RUN(test_cpu_linear_many_events_stream);
    RUN(test_cpu_linear_many_events_merge);
    RUN(test_cpu_linear_small_events_merge_text);
    return tu_finish();
}
