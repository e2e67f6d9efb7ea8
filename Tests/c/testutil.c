/* testutil.c — see testutil.h. */
#define _DEFAULT_SOURCE 1   /* MAP_ANONYMOUS (tu_child_slots) */
#include "testutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define VG_ERRORS() ((int)VALGRIND_COUNT_ERRORS)
#endif
#endif
#ifndef VG_ERRORS
#define VG_ERRORS() 0
#endif

/* ---- state ------------------------------------------------------------------------------ */

static const char *g_prog = "test";
static const char *g_test = NULL;
static int g_port = 0;
static char g_base_url[128];
static int g_tls_port = 0;            /* 0: no TLS server */
static char g_tls_base_url[128];
static const char *g_ca_bundle = NULL;
static int g_cases_passed = 0, g_cases_failed = 0;
static int g_checks = 0, g_check_failures = 0;
static int g_case_failures = 0;     /* failures inside the current case */
static int g_only_argc = 0;
static char **g_only_argv = NULL;

/* ---- assertions ------------------------------------------------------------------------- */

static void fail_header(const char *file, int line)
{
    const char *base = strrchr(file, '/');
    printf("  FAIL [%s] %s:%d: ", g_test ? g_test : "(setup)", base ? base + 1 : file, line);
}

int tu_check(int ok, const char *expr, const char *file, int line, const char *fmt, ...)
{
    g_checks++;
    if (ok) return 1;
    g_check_failures++;
    g_case_failures++;
    fail_header(file, line);
    printf("%s", expr);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        printf(" -- ");
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
    return 0;
}

int tu_check_str(const char *actual, const char *expected, const char *what, const char *file, int line)
{
    int ok = (actual == NULL && expected == NULL) ||
             (actual != NULL && expected != NULL && strcmp(actual, expected) == 0);
    if (ok) return tu_check(1, what, file, line, NULL);
    return tu_check(0, what, file, line, "got %s%s%s, expected %s%s%s",
                    actual ? "\"" : "", actual ? actual : "NULL", actual ? "\"" : "",
                    expected ? "\"" : "", expected ? expected : "NULL", expected ? "\"" : "");
}

int tu_check_int(long long actual, long long expected, const char *what, const char *file, int line)
{
    if (actual == expected) return tu_check(1, what, file, line, NULL);
    return tu_check(0, what, file, line, "got %lld, expected %lld", actual, expected);
}

int tu_check_jint(json_t *root, const char *path, long long expected, const char *file, int line)
{
    json_t *v = tu_get(root, path);
    if (!json_is_integer(v)) {
        char *d = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        int r = tu_check(0, path, file, line, "not an integer: %s (expected %lld)", d ? d : "absent", expected);
        free(d);
        return r;
    }
    return tu_check_int((long long)json_integer_value(v), expected, path, file, line);
}

/* json_equal, except that an integer and a real with the same value are equal (documents
 * holding integers beyond 64 bits are parsed with every number as a real). */
static int equal_numbers_loose(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!equal_numbers_loose(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *key;
        json_t *value;
        json_object_foreach(a, key, value) {
            if (!equal_numbers_loose(value, json_object_get(b, key))) return 0;
        }
        return 1;
    }
    return json_equal(a, b);
}

int tu_check_jeq(json_t *root, const char *path, const char *expected_json, const char *file, int line)
{
    json_t *v = tu_get(root, path);
    if (expected_json == NULL) {
        char *d = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        int r = tu_check(v == NULL, path, file, line, "expected absent, got %s", d ? d : "?");
        free(d);
        return r;
    }
    json_t *e = tu_json(expected_json);
    if (!e) return tu_check(0, path, file, line, "bad expected JSON in test: %s", expected_json);
    int eq = v != NULL && equal_numbers_loose(v, e);
    if (!eq) {
        char *d = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        tu_check(0, path, file, line, "got %s, expected %s", d ? d : "absent", expected_json);
        free(d);
    } else {
        tu_check(1, path, file, line, NULL);
    }
    json_decref(e);
    return eq;
}

void tu_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  note [%s] ", g_test ? g_test : "-");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static int selected(const char *name)
{
    if (g_only_argc <= 0) return 1;
    for (int i = 0; i < g_only_argc; i++)
        if (strstr(name, g_only_argv[i])) return 1;
    return 0;
}

void tu_run(const char *name, void (*fn)(void))
{
    if (!selected(name)) return;
    g_test = name;
    g_case_failures = 0;
    tu_reset();
    double t0 = tu_now();
    fn();
    double dt = tu_now() - t0;
    if (g_case_failures == 0) {
        g_cases_passed++;
        printf("PASS %s (%.2fs)\n", name, dt);
    } else {
        g_cases_failed++;
        printf("FAIL %s (%d failed checks, %.2fs)\n", name, g_case_failures, dt);
    }
    fflush(stdout);
    g_test = NULL;
}

void tu_init(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_prog = argc > 0 ? argv[0] : "test";
    g_only_argc = argc - 1;
    g_only_argv = argv + 1;
    const char *p = getenv("HL_TEST_PORT");
    g_port = p ? atoi(p) : 0;
    if (g_port <= 0) {
        fprintf(stderr, "%s: HL_TEST_PORT is not set (run through Tests/c/run.sh)\n", g_prog);
        printf("FAIL setup (HL_TEST_PORT not set)\nRESULT 0 1\n");
        exit(1);
    }
    snprintf(g_base_url, sizeof g_base_url, "http://127.0.0.1:%d/v4", g_port);
    const char *tp = getenv("HL_TEST_TLS_PORT");
    const char *ca = getenv("HL_TEST_CA_BUNDLE");
    g_tls_port = tp ? atoi(tp) : 0;
    if (g_tls_port > 0 && ca && ca[0]) {
        g_ca_bundle = ca;
        snprintf(g_tls_base_url, sizeof g_tls_base_url, "https://127.0.0.1:%d/v4", g_tls_port);
    } else {
        g_tls_port = 0;
    }
    curl_global_init(CURL_GLOBAL_ALL);
}

int tu_finish(void)
{
    printf("RESULT %d %d   (%s: %d checks, %d failed checks)\n", g_cases_passed, g_cases_failed,
           g_prog, g_checks, g_check_failures);
    fflush(stdout);
    return g_cases_failed == 0 && g_check_failures == 0 ? 0 : 1;
}

/* ---- time ------------------------------------------------------------------------------- */

double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tu_factor(void)
{
    const char *f = getenv("HL_TEST_TIME_FACTOR");
    if (f && atof(f) > 0) return atof(f);
    const char *v = getenv("VALGRIND");
    if (v && strcmp(v, "1") == 0) return 4.0;
    return 1.0;
}

/* ---- forked children under valgrind ---------------------------------------------------- */

static tu_child_slot *g_child_slot;     /* in a child: its slot */
static int g_child_vg_errors_at_fork;   /* in a child: VG_ERRORS() right after fork() */

tu_child_slot *tu_child_slots(int n)
{
    void *shared = mmap(NULL, sizeof(tu_child_slot) * (size_t)n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return shared == MAP_FAILED ? NULL : shared;  /* anonymous mappings start zeroed */
}

void tu_child_begin(tu_child_slot *slot)
{
    g_child_slot = slot;
    g_child_vg_errors_at_fork = VG_ERRORS();
}

void tu_child_end(int bits)
{
    if (!g_child_slot) return;
    g_child_slot->bits = bits;
    g_child_slot->vg_errors = VG_ERRORS() - g_child_vg_errors_at_fork;
    g_child_slot->finished = 1;
}

int tu_child_leak_check_only(const tu_child_slot *slot, int status)
{
    return slot && WIFEXITED(status) && WEXITSTATUS(status) == 99 && slot->finished && slot->bits == 0 &&
           slot->vg_errors == 0;
}

void tu_sleep(double seconds)
{
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- server control ---------------------------------------------------------------------- */

int tu_port(void) { return g_port; }
const char *tu_base_url(void) { return g_base_url; }
int tu_tls_port(void) { return g_tls_port; }
const char *tu_tls_base_url(void) { return g_tls_port > 0 ? g_tls_base_url : NULL; }
const char *tu_ca_bundle(void) { return g_tls_port > 0 ? g_ca_bundle : NULL; }

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static size_t write_cb(char *ptr, size_t size, size_t n, void *ud)
{
    buf_t *b = ud;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + add + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = 0;
    return add;
}

/* A control request to the plain (tls 0) or the TLS (tls 1) server. */
static char *control_http(int tls, const char *method, const char *path, const char *body, long *status)
{
    char url[512];
    if (status) *status = 0;
    if (tls && g_tls_port <= 0) {
        tu_check(0, "the TLS test server is running", __FILE__, __LINE__,
                 "HL_TEST_TLS_PORT/HL_TEST_CA_BUNDLE not set (run through Tests/c/run.sh)");
        return NULL;
    }
    snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", tls ? "https" : "http", tls ? g_tls_port : g_port, path);
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    if (tls) {  /* verified: peer and host name, with the run's certificate as the only CA */
        curl_easy_setopt(c, CURLOPT_CAINFO, g_ca_bundle);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    buf_t b = {0};
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    CURLcode rc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    if (status) *status = st;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        fprintf(stdout, "  control %s %s%s failed: %s\n", method, tls ? "(TLS server) " : "", path,
                curl_easy_strerror(rc));
        free(b.data);
        return NULL;
    }
    if (!b.data) b.data = calloc(1, 1);
    return b.data;
}

char *tu_http(const char *method, const char *path, const char *body, long *status)
{
    return control_http(0, method, path, body, status);
}

char *tu_tls_http(const char *method, const char *path, const char *body, long *status)
{
    return control_http(1, method, path, body, status);
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static int script_to(int tls, const char *arr)
{
    if (!arr) return 0;
    size_t len = strlen(arr) + 32;
    char *body = malloc(len);
    snprintf(body, len, "{\"responses\":%s}", arr);
    long st = 0;
    char *r = control_http(tls, "POST", "/_control/script", body, &st);
    int ok = r != NULL && st == 200;
    tu_check(ok, tls ? "script accepted by the TLS test server" : "script accepted by the test server", __FILE__,
             __LINE__, "status %ld, answer %s, script %s", st, r ? r : "none", arr);
    free(r);
    free(body);
    return ok;
}

int tu_script(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *arr = vformat(fmt, ap);
    va_end(ap);
    int ok = script_to(0, arr);
    free(arr);
    return ok;
}

int tu_tls_script(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *arr = vformat(fmt, ap);
    va_end(ap);
    int ok = script_to(1, arr);
    free(arr);
    return ok;
}

void tu_reset(void)
{
    long st = 0;
    char *r = tu_http("POST", "/_control/reset", "{}", &st);
    if (!r || st != 200) {
        tu_check(0, "server reset", __FILE__, __LINE__, "status %ld", st);
    }
    free(r);
    if (g_tls_port > 0) {
        st = 0;
        r = tu_tls_http("POST", "/_control/reset", "{}", &st);
        if (!r || st != 200) {
            tu_check(0, "TLS server reset", __FILE__, __LINE__, "status %ld", st);
        }
        free(r);
    }
}

static json_t *requests_of(int tls)
{
    char *r = control_http(tls, "GET", "/_control/requests", NULL, NULL);
    json_t *j = r ? tu_json(r) : NULL;
    free(r);
    json_t *a = j ? json_object_get(j, "requests") : NULL;
    if (!json_is_array(a)) {
        tu_check(0, tls ? "GET /_control/requests (TLS server)" : "GET /_control/requests", __FILE__, __LINE__,
                 "no requests array");
        json_decref(j);
        return json_array();
    }
    json_incref(a);
    json_decref(j);
    return a;
}

json_t *tu_requests(void) { return requests_of(0); }
json_t *tu_tls_requests(void) { return requests_of(1); }

static json_t *stats_of(int tls)
{
    char *r = control_http(tls, "GET", "/_control/stats", NULL, NULL);
    json_t *j = r ? tu_json(r) : NULL;
    free(r);
    if (!json_is_object(j)) {
        tu_check(0, tls ? "GET /_control/stats (TLS server)" : "GET /_control/stats", __FILE__, __LINE__,
                 "no stats object");
        json_decref(j);
        return json_object();
    }
    return j;
}

json_t *tu_stats(void) { return stats_of(0); }
json_t *tu_tls_stats(void) { return stats_of(1); }

int tu_request_count(void)
{
    json_t *a = tu_requests();
    int n = (int)json_array_size(a);
    json_decref(a);
    return n;
}

const char *tu_req_header(json_t *req, const char *name)
{
    json_t *hs = json_object_get(req, "headers");
    size_t i;
    json_t *h;
    json_array_foreach(hs, i, h) {
        const char *n = json_string_value(json_array_get(h, 0));
        if (n && strcasecmp(n, name) == 0) return json_string_value(json_array_get(h, 1));
    }
    return NULL;
}

int tu_req_header_count(json_t *req, const char *name)
{
    json_t *hs = json_object_get(req, "headers");
    size_t i;
    json_t *h;
    int n = 0;
    json_array_foreach(hs, i, h) {
        const char *nm = json_string_value(json_array_get(h, 0));
        if (nm && strcasecmp(nm, name) == 0) n++;
    }
    return n;
}

int tu_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 9;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 9;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- clients ---------------------------------------------------------------------------- */

/* hl_client_new with api key, host, an optional "ca_bundle" (JSON-escaped here) and extra. */
static hl_client *client_new(const char *host, const char *ca_bundle, const char *extra)
{
    char *ca_json = NULL;
    if (ca_bundle) {
        json_t *js = json_string(ca_bundle);
        ca_json = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
    }
    size_t len = 256 + strlen(host) + (ca_json ? strlen(ca_json) : 0) + (extra ? strlen(extra) : 0);
    char *cfg = malloc(len);
    snprintf(cfg, len, "{\"api_key\":\"%s\",\"host\":\"%s\"%s%s%s}", TU_SECRET, host,
             ca_json ? ",\"ca_bundle\":" : "", ca_json ? ca_json : "", extra ? extra : "");
    free(ca_json);
    char *err = (char *)"sentinel";
    hl_client *c = hl_client_new(cfg, &err);
    tu_check(c != NULL, "hl_client_new(test config) != NULL", __FILE__, __LINE__, "config %s, error %s", cfg,
             c == NULL && err ? err : "-");
    if (c) tu_check(err == NULL, "error_json set to NULL on success", __FILE__, __LINE__, NULL);
    if (err && strcmp(err, "sentinel") != 0) hl_free(err);
    free(cfg);
    return c;
}

hl_client *tu_client(const char *extra_fmt, ...)
{
    char *extra = NULL;
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        extra = vformat(extra_fmt, ap);
        va_end(ap);
    }
    hl_client *c = client_new(g_base_url, NULL, extra);
    free(extra);
    return c;
}

hl_client *tu_tls_client(const char *extra_fmt, ...)
{
    if (g_tls_port <= 0) {
        tu_check(0, "the TLS test server is running", __FILE__, __LINE__,
                 "HL_TEST_TLS_PORT/HL_TEST_CA_BUNDLE not set (run through Tests/c/run.sh)");
        return NULL;
    }
    char *extra = NULL;
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        extra = vformat(extra_fmt, ap);
        va_end(ap);
    }
    hl_client *c = client_new(g_tls_base_url, g_ca_bundle, extra);
    free(extra);
    return c;
}

/* ---- JSON -------------------------------------------------------------------------------- */

json_t *tu_json(const char *text)
{
    if (!text) return NULL;
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j) j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    return j;
}

json_t *tu_parse_env(const char *raw)
{
    if (!tu_check(raw != NULL, "library returned a string (not NULL)", __FILE__, __LINE__, NULL)) return NULL;
    tu_check(strstr(raw, TU_SECRET) == NULL, "returned string never contains the API key", __FILE__, __LINE__,
             "%s", raw);
    json_t *j = tu_json(raw);
    if (!tu_check(json_is_object(j), "returned string is a JSON object", __FILE__, __LINE__, "%.400s", raw)) {
        json_decref(j);
        return NULL;
    }
    json_t *ok = json_object_get(j, "ok");
    tu_check(json_is_boolean(ok), "envelope has boolean \"ok\"", __FILE__, __LINE__, "%.400s", raw);
    if (json_is_false(ok)) {
        const char *type = tu_str(j, "error.type");
        static const char *types[] = {"invalid_request", "invalid_config", "api_error",
                                      "connection_error", "timeout", "invalid_response", "cancelled"};
        int known = 0;
        for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++)
            if (strcmp(type, types[i]) == 0) known = 1;
        tu_check(known, "error.type is one of the seven types", __FILE__, __LINE__, "%.400s", raw);
        const char *msg = tu_str(j, "error.message");
        tu_check(msg && msg[0], "error.message is a non-empty string", __FILE__, __LINE__, "%.400s", raw);
    }
    return j;
}

json_t *tu_call(tu_call_fn fn, hl_client *client, const char *request, char **raw)
{
    char *s = fn(client, request);
    json_t *j = tu_parse_env(s);
    if (raw) *raw = s ? strdup(s) : NULL;
    hl_free(s);
    return j;
}

json_t *tu_next(hl_stream *st, char **raw)
{
    char *s = hl_stream_next(st);
    if (raw) *raw = s ? strdup(s) : NULL;
    if (!s) return NULL;
    json_t *j = tu_parse_env(s);
    hl_free(s);
    return j;
}

json_t *tu_get(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    char key[256];
    while (cur && *p) {
        if (*p == '.') p++;
        if (*p == '[') {
            char *end;
            long idx = strtol(p + 1, &end, 10);
            if (*end != ']') return NULL;
            cur = json_array_get(cur, (size_t)idx);
            p = end + 1;
            continue;
        }
        size_t n = 0;
        while (*p && *p != '.' && *p != '[' && n + 1 < sizeof key) key[n++] = *p++;
        key[n] = 0;
        cur = json_object_get(cur, key);
    }
    return cur;
}

const char *tu_str(json_t *root, const char *path) { return json_string_value(tu_get(root, path)); }

int tu_bool(json_t *root, const char *path)
{
    json_t *v = tu_get(root, path);
    if (!json_is_boolean(v)) return -1;
    return json_is_true(v) ? 1 : 0;
}

int tu_is_ok(json_t *env) { return tu_bool(env, "ok") == 1; }

const char *tu_err_type(json_t *env) { return tu_str(env, "error.type"); }

int tu_errors_have_path(json_t *env, const char *path)
{
    json_t *errs = tu_get(env, "error.errors");
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e) {
        const char *p = json_string_value(json_object_get(e, "path"));
        if (p && strcmp(p, path) == 0) return 1;
    }
    return 0;
}

int tu_contains(const char *hay, const char *needle) { return hay && needle && strstr(hay, needle) != NULL; }

/* ---- endpoints ----------------------------------------------------------------------------- */

const tu_endpoint TU_ENDPOINTS[4] = {
    {"completion", hl_complete, hl_complete_stream, "/v4/completion", "{\"model_config\":" TU_MC "}",
     "model_config"},
    {"completion-deployed", hl_complete_deployed, hl_complete_deployed_stream, "/v4/completion-deployed",
     "{\"project\":\"sdk-example\"}", NULL},
    {"completion-experiment", hl_complete_experiment, hl_complete_experiment_stream, "/v4/completion-experiment",
     "{\"experiment_id\":\"exp_6Jq1k2dRr0sVwZpX4yNcA\"}", "experiment_id"},
    {"completion-model-config", hl_complete_model_configuration, hl_complete_model_configuration_stream,
     "/v4/completion-model-config", "{\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\"}", "model_config_id"},
};

/* ---- asynchronous calls ----------------------------------------------------------------- */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>

json_t *tu_parse_item(const char *raw) { return tu_parse_env(raw); }

static long stat_of(int tls, const char *key)
{
    json_t *st = tls ? tu_tls_stats() : tu_stats();
    json_t *v = json_object_get(st, key);
    long r = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(st);
    return r;
}

long tu_stat(const char *key) { return stat_of(0, key); }
long tu_tls_stat(const char *key) { return stat_of(1, key); }

long tu_wait_stat(const char *key, long value, double seconds)
{
    double end = tu_now() + seconds;
    long v = tu_stat(key);
    while (v != value && tu_now() < end) {
        tu_sleep(0.02);
        v = tu_stat(key);
    }
    return v;
}

int tu_blackhole_open(tu_blackhole *b)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 4; i++) b->fillers[i] = -1;
    b->listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (b->listener < 0 || bind(b->listener, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(b->listener, (struct sockaddr *)&a, &len) != 0 || listen(b->listener, 0) != 0)
        return 0;
    b->port = ntohs(a.sin_port);
    for (int i = 0; i < 4; i++) {
        b->fillers[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (b->fillers[i] < 0) return 0;
        fcntl(b->fillers[i], F_SETFL, O_NONBLOCK);
        (void)connect(b->fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    tu_sleep(0.1);
    return 1;
}

void tu_blackhole_close(tu_blackhole *b)
{
    for (int i = 0; i < 4; i++)
        if (b->fillers[i] >= 0) close(b->fillers[i]);
    if (b->listener >= 0) close(b->listener);
    b->listener = -1;
    for (int i = 0; i < 4; i++) b->fillers[i] = -1;
}

char *tu_gzip_b64(const char *text)
{
    char in[] = "/tmp/hl-gzip-in.XXXXXX";
    int fd = mkstemp(in);
    if (fd < 0) return NULL;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        unlink(in);
        return NULL;
    }
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import gzip,base64,sys; "
             "sys.stdout.write(base64.b64encode(gzip.compress(open(sys.argv[1],\"rb\").read())).decode())' %s",
             in);
    FILE *p = popen(cmd, "r");
    buf_t b = {0};
    if (p) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) write_cb(chunk, 1, n, &b);
        if (pclose(p) != 0) {
            free(b.data);
            b.data = NULL;
        }
    }
    unlink(in);
    return b.data;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
} async_impl;

void tu_async_init(tu_async *a, int stream)
{
    memset(a, 0, sizeof *a);
    a->stream = stream;
    async_impl *im = calloc(1, sizeof *im);
    pthread_mutex_init(&im->mu, NULL);
    pthread_cond_init(&im->cv, NULL);
    a->impl = im;
}

void tu_async_destroy(tu_async *a)
{
    async_impl *im = a->impl;
    if (!im) return;
    pthread_mutex_lock(&im->mu);
    CHECK(a->kind_errors == 0);
    for (int i = 0; i < TU_ASYNC_MAX; i++) {
        free(a->raw[i]);
        a->raw[i] = NULL;
    }
    pthread_mutex_unlock(&im->mu);
    pthread_mutex_destroy(&im->mu);
    pthread_cond_destroy(&im->cv);
    free(im);
    a->impl = NULL;
}

static int item_is_event(const char *raw)
{
    json_t *j = raw ? json_loads(raw, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL) : NULL;
    int ev = j && json_is_true(json_object_get(j, "ok")) && json_object_get(j, "event") != NULL;
    json_decref(j);
    return ev;
}

static pthread_mutex_t g_run_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_run_now = 0, g_run_max = 0;

int tu_async_max_running(void)
{
    pthread_mutex_lock(&g_run_mu);
    int m = g_run_max;
    g_run_max = 0;
    pthread_mutex_unlock(&g_run_mu);
    return m;
}

void tu_async_cb(hl_call *call, int kind, const char *item_json, size_t len, void *user_data)
{
    tu_async *a = user_data;
    async_impl *im = a->impl;
    int terminal = kind == HL_ITEM_RESULT;
    /* The kind agrees with the JSON (an event item only for a stream), len with the NUL. */
    int kind_error = item_json == NULL || len != strlen(item_json) ||
                     (kind != HL_ITEM_RESULT && kind != HL_ITEM_EVENT) ||
                     (kind == HL_ITEM_EVENT) != (a->stream && item_is_event(item_json));
    int do_free = 0, do_cancel = 0;
    pthread_mutex_lock(&g_run_mu);
    if (++g_run_now > g_run_max) g_run_max = g_run_now;
    pthread_mutex_unlock(&g_run_mu);
    pthread_mutex_lock(&im->mu);
    if (a->running) a->concurrent++;
    a->running = 1;
    if (kind_error) a->kind_errors++;
    if (a->n < TU_ASYNC_MAX) a->raw[a->n] = item_json ? strdup(item_json) : NULL;
    if (a->terminal) a->after_terminal++;
    if (a->freed) a->after_free++;
    if (a->caller && pthread_equal(pthread_self(), (pthread_t)a->caller)) a->on_caller_thread++;
    a->call_seen = call;
    a->n++;
    if (a->n == 1 && a->cancel_in_cb) do_cancel = 1;
    if ((a->free_in_cb == 1 && terminal) || (a->free_in_cb == 2 && a->n == 1)) do_free = 1;
    pthread_mutex_unlock(&im->mu);
    if (do_cancel) hl_call_cancel(call);
    if (do_free) {
        hl_call_free(call);
        pthread_mutex_lock(&im->mu);
        a->freed = 1;
        pthread_mutex_unlock(&im->mu);
    }
    pthread_mutex_lock(&im->mu);
    a->running = 0;
    if (terminal && !a->terminal) {
        a->terminal = 1;
        a->t_terminal = tu_now();
    }
    pthread_cond_broadcast(&im->cv);
    pthread_mutex_unlock(&im->mu);
    pthread_mutex_lock(&g_run_mu);
    g_run_now--;
    pthread_mutex_unlock(&g_run_mu);
}

hl_call *tu_async_start(tu_async *a, hl_client *c, const char *name, const char *request, const char *options)
{
    async_impl *im = a->impl;
    pthread_mutex_lock(&im->mu);
    a->caller = (unsigned long)pthread_self();
    pthread_mutex_unlock(&im->mu);
    return hl_call_start(c, name, request, options, tu_async_cb, a);
}

static void deadline_of(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    double s = (double)ts->tv_sec + (double)ts->tv_nsec / 1e9 + seconds;
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)((s - (double)ts->tv_sec) * 1e9);
}

int tu_async_wait(tu_async *a, double seconds)
{
    async_impl *im = a->impl;
    struct timespec ts;
    deadline_of(&ts, seconds);
    pthread_mutex_lock(&im->mu);
    while (!a->terminal) {
        if (pthread_cond_timedwait(&im->cv, &im->mu, &ts) == ETIMEDOUT) break;
    }
    int r = a->terminal;
    pthread_mutex_unlock(&im->mu);
    return r;
}

int tu_async_wait_items(tu_async *a, int n, double seconds)
{
    async_impl *im = a->impl;
    struct timespec ts;
    deadline_of(&ts, seconds);
    pthread_mutex_lock(&im->mu);
    while (a->n < n && !a->terminal) {
        if (pthread_cond_timedwait(&im->cv, &im->mu, &ts) == ETIMEDOUT) break;
    }
    int r = a->n;
    pthread_mutex_unlock(&im->mu);
    return r;
}

void tu_async_mark_freed(tu_async *a)
{
    async_impl *im = a->impl;
    pthread_mutex_lock(&im->mu);
    a->freed = 1;
    pthread_mutex_unlock(&im->mu);
}

json_t *tu_async_item(tu_async *a, int i)
{
    async_impl *im = a->impl;
    pthread_mutex_lock(&im->mu);
    char *raw = (i >= 0 && i < a->n && i < TU_ASYNC_MAX && a->raw[i]) ? strdup(a->raw[i]) : NULL;
    pthread_mutex_unlock(&im->mu);
    json_t *j = raw ? tu_parse_item(raw) : NULL;
    free(raw);
    return j;
}

int tu_async_count(tu_async *a)
{
    async_impl *im = a->impl;
    pthread_mutex_lock(&im->mu);
    int n = a->n;
    pthread_mutex_unlock(&im->mu);
    return n;
}

/* ---- items of loops and queues ------------------------------------------------------------- */

static size_t items_keep(tu_items *c, const hl_item *batch, size_t got)
{
    for (size_t i = 0; i < got; i++) {
        CHECKF(batch[i].json && strlen(batch[i].json) == batch[i].len, "item %zu: json and len agree", i);
        if (c->n >= TU_ITEMS_MAX) continue;
        c->items[c->n] = batch[i];
        c->json[c->n] = strdup(batch[i].json);
        c->items[c->n].json = c->json[c->n];
        c->n++;
    }
    return got;
}

size_t tu_items_run(hl_loop *l, tu_items *c, int timeout_ms, size_t max)
{
    hl_item batch[64];
    return items_keep(c, batch, hl_loop_run(l, timeout_ms, batch, max > 64 ? 64 : max));
}

size_t tu_items_drain(hl_queue *q, tu_items *c, size_t max)
{
    hl_item batch[64];
    return items_keep(c, batch, hl_queue_drain(q, batch, max > 64 ? 64 : max));
}

int tu_items_results(const tu_items *c)
{
    int done = 0;
    for (int i = 0; i < c->n; i++) done += c->items[i].kind == HL_ITEM_RESULT;
    return done;
}

void tu_items_free(tu_items *c)
{
    for (int i = 0; i < c->n; i++) free(c->json[i]);
    c->n = 0;
}

const hl_item *tu_items_result_of(const tu_items *c, hl_call *call)
{
    for (int i = 0; i < c->n; i++)
        if (c->items[i].call == call && c->items[i].kind == HL_ITEM_RESULT) return &c->items[i];
    return NULL;
}

int tu_items_events_of(const tu_items *c, hl_call *call)
{
    int n = 0;
    for (int i = 0; i < c->n; i++) n += c->items[i].call == call && c->items[i].kind == HL_ITEM_EVENT;
    return n;
}
