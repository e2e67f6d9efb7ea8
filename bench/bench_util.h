/*
 * bench_util.h — what bench/bench_engine.c and bench/bench_c_api.c share: the request body, die,
 * the clocks (wall and CPU), the client, the file-descriptor limit, and the plain libcurl multi
 * reference (a response sink, the body check, the batch loop).
 *
 * Header only (static functions), included by each program after its own includes; the program
 * defines BENCH_NAME (its name, the prefix of its error messages) before including it. Found
 * next to the including file (#include "bench_util.h"): no -I needed.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "humanloop.h"

#ifndef BENCH_NAME
#error "define BENCH_NAME (the program's name) before including bench_util.h"
#endif

static const char *BODY =
    "{\"project\":\"bench\","
    "\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\","
    "\"temperature\":0.7,\"max_tokens\":-1},"
    "\"inputs\":{\"question\":\"What do llamas eat?\"}}";

static inline void die(const char *what) { fprintf(stderr, BENCH_NAME ": %s\n", what); exit(2); }

static inline double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double cpu(void) {   /* the whole process, user + system, seconds */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* A client of host base + path (e.g. "http://127.0.0.1:PORT" "/v4"), key "bench-key", no proxy;
 * exits on failure. */
static inline hl_client *bench_client(const char *base, const char *path) {
    char cfg[1024], *err = NULL;
    snprintf(cfg, sizeof cfg, "{\"api_key\":\"bench-key\",\"host\":\"%s%s\",\"proxy\":\"\"}", base, path);
    hl_client *c = hl_client_new(cfg, &err);
    if (!c) { fprintf(stderr, BENCH_NAME ": hl_client_new: %s\n", err ? err : "(null)"); exit(2); }
    return c;
}

/* Room for the sockets: 1000 calls in flight are 1000 connections. */
static inline void raise_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- plain libcurl multi + jansson: the reference ------------------------------------------------ */

/* An answer's body, NUL-terminated; n = 0 empties it and keeps its memory. */
typedef struct { char *p; size_t n, cap; } buf;
typedef struct { CURL *h; buf b; } slot;

static inline size_t sink(char *d, size_t s, size_t n, void *u) {   /* CURLOPT_WRITEFUNCTION */
    buf *b = u;
    size_t add = s * n;
    if (b->n + add + 1 > b->cap) {
        size_t cap = (b->n + add + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q) return 0;
        b->p = q; b->cap = cap;
    }
    memcpy(b->p + b->n, d, add);
    b->n += add; b->p[b->n] = 0;
    return add;
}

/* Whether the body is a completion answer (parsed with jansson, "data" an array); empties it. */
static inline int body_ok(buf *b) {
    json_t *j = b->p ? json_loadb(b->p, b->n, 0, NULL) : NULL;
    int ok = j && json_is_array(json_object_get(j, "data"));
    json_decref(j);
    b->n = 0;
    return ok;
}

/* n POSTs of BODY to base + path with the library's headers, at most conc at once, on libcurl's
 * multi interface (curl_multi_poll + curl_multi_perform, conc easy handles reused with their
 * connections); every answer parsed with jansson and checked (body_ok). The least a C program
 * does for the same calls. The handles are made on the first call: base, path and conc are
 * those of the first call from then on. on_bad (NULL: nothing) is told of each answer that is
 * not good: libcurl's result and the HTTP status. Returns the number of good answers. */
static inline long curl_multi_batch(const char *base, const char *path, long n, long conc,
                                    void (*on_bad)(int result, long status)) {
    static CURLM *m = NULL;
    static slot *slots = NULL;
    static struct curl_slist *hdrs = NULL;
    static char url[1024];
    if (!m) {
        m = curl_multi_init();
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conc);
        slots = calloc((size_t)conc, sizeof *slots);
        if (!slots) die("out of memory");
        hdrs = curl_slist_append(hdrs, "X-API-KEY: bench-key");
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        snprintf(url, sizeof url, "%s%s", base, path);
        for (long i = 0; i < conc; i++) {
            CURL *h = curl_easy_init();
            curl_easy_setopt(h, CURLOPT_URL, url);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, BODY);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
            curl_easy_setopt(h, CURLOPT_USERAGENT, "libhumanloop/" HL_VERSION_STRING);
            curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &slots[i].b);
            curl_easy_setopt(h, CURLOPT_PRIVATE, &slots[i]);
            slots[i].h = h;
        }
    }
    long started = 0, good = 0, done = 0;
    for (long i = 0; i < conc && started < n; i++, started++) curl_multi_add_handle(m, slots[i].h);
    while (done < n) {
        int running = 0, left = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *h = msg->easy_handle;
            slot *sl = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&sl);
            long code = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result == CURLE_OK && code == 200 && body_ok(&sl->b)) good++;
            else if (on_bad) on_bad((int)msg->data.result, code);
            sl->b.n = 0;
            done++;
            curl_multi_remove_handle(m, h);
            if (started < n) { curl_multi_add_handle(m, h); started++; }
        }
        if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    return good;
}

#endif
