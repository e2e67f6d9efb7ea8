/*
 * bench_wide.c — CPU of wide answers: one JSON object of N members as a success body, as one
 * stream event, and as an error body (which the library redacts), at two sizes. Each row gives
 * the library's CPU per call and a baseline measured in the same process on the same bytes:
 * libcurl fetching the body and jansson parsing it (json_loadb). The growth column is
 * cpu(large)/cpu(small) for 8x the members: ~8 means linear, ~64 quadratic.
 *
 *   bench_wide --url=http://127.0.0.1:PORT/v4 [--small=10000] [--runs=3]
 * The server must be the project's test server (answers are scripted via /_control/script).
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "humanloop.h"

static const char *base_url;

static double cpu_now(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

typedef struct {
    char *data;
    size_t size;
} buffer;

static size_t collect(char *ptr, size_t size, size_t n, void *user)
{
    buffer *b = user;
    char *grown = realloc(b->data, b->size + size * n + 1);
    if (!grown) return 0;
    b->data = grown;
    memcpy(b->data + b->size, ptr, size * n);
    b->size += size * n;
    b->data[b->size] = 0;
    return size * n;
}

/* POST body to url; returns the answer (free .data). */
static buffer post(const char *url, const char *body)
{
    buffer b = {NULL, 0};
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "X-API-KEY: bench");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_perform(h);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return b;
}

/* {"data":[...],"provider_responses":[],"wide":{"k0":0,...}} with n members. */
static char *wide_object(int n)
{
    size_t cap = 200 + (size_t)n * 24;
    char *s = malloc(cap);
    size_t len = (size_t)snprintf(s, cap, "{\"data\":[{\"id\":\"d\",\"index\":0,\"output\":\"x\",\"raw_output\":\"x\","
                                          "\"inputs\":{},\"model_config_id\":\"c\"}],\"provider_responses\":[],\"wide\":{");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(s + len, cap - len, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(s + len, cap - len, "}}");
    return s;
}

static void script(const char *response_json)
{
    char url[512];
    snprintf(url, sizeof url, "%.400s", base_url);
    char *v4 = strstr(url, "/v4");
    if (v4) *v4 = 0;
    strcat(url, "/_control/script");
    size_t len = strlen(response_json) + 32;
    char *body = malloc(len);
    snprintf(body, len, "{\"responses\":[%s]}", response_json);
    buffer b = post(url, body);
    free(b.data);
    free(body);
}

enum shape { BODY, EVENT, ERROR_BODY };

/* CPU seconds of one library call on the scripted wide answer. */
static double library_call(hl_client *client, enum shape shape, const char *object)
{
    size_t len = strlen(object) + 64;
    char *response = malloc(len);
    if (shape == BODY) snprintf(response, len, "{\"json\":%s}", object);
    if (shape == EVENT) snprintf(response, len, "{\"stream\":{\"events\":[%s]}}", object);
    if (shape == ERROR_BODY) snprintf(response, len, "{\"status\":500,\"json\":%s}", object);
    script(response);
    free(response);
    const char *request = "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\"}}";
    double start = cpu_now();
    if (shape == EVENT) {
        hl_stream *s = hl_complete_stream(client, request);
        char *item;
        while ((item = hl_stream_next(s)) != NULL) hl_free(item);
        hl_stream_free(s);
    } else {
        hl_free(hl_complete(client, request));
    }
    return cpu_now() - start;
}

/* CPU seconds of the baseline: libcurl fetches the same scripted bytes, jansson parses them. */
static double baseline_call(const char *object)
{
    size_t len = strlen(object) + 16;
    char *response = malloc(len);
    snprintf(response, len, "{\"json\":%s}", object);
    script(response);
    free(response);
    char url[512];
    snprintf(url, sizeof url, "%.400s/completion", base_url);
    double start = cpu_now();
    buffer b = post(url, "{}");
    json_t *root = json_loadb(b.data, b.size, 0, NULL);
    json_decref(root);
    double used = cpu_now() - start;
    free(b.data);
    return used;
}

static double best_of(int runs, double (*measure)(void *), void *arg)
{
    double best = 1e9;
    for (int i = 0; i < runs; i++) {
        double t = measure(arg);
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    hl_client *client;
    enum shape shape;
    const char *object;
} job;

static double run_library(void *arg)
{
    job *j = arg;
    return library_call(j->client, j->shape, j->object);
}

static double run_baseline(void *arg)
{
    job *j = arg;
    return baseline_call(j->object);
}

int main(int argc, char **argv)
{
    int small = 10000, runs = 3;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--url=", 6)) base_url = argv[i] + 6;
        if (!strncmp(argv[i], "--small=", 8)) small = atoi(argv[i] + 8);
        if (!strncmp(argv[i], "--runs=", 7)) runs = atoi(argv[i] + 7);
    }
    if (!base_url) {
        fprintf(stderr, "usage: bench_wide --url=http://127.0.0.1:PORT/v4 [--small=N] [--runs=N]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char config[600];
    snprintf(config, sizeof config, "{\"api_key\":\"sk-bench-secret\",\"host\":\"%.400s\",\"max_retries\":0}", base_url);
    hl_client *client = hl_client_new(config, NULL);
    if (!client) return 1;
    const char *names[] = {"success body", "one stream event", "error body (redacted)"};
    char *objects[2] = {wide_object(small), wide_object(small * 8)};
    printf("wide answers: one object of N members; CPU per call (best of %d), baseline = libcurl + json_loadb\n", runs);
    printf("%-24s %9s %10s %12s %13s %8s\n", "shape", "members", "bytes", "library ms", "baseline ms", "ratio");
    for (int shape = BODY; shape <= ERROR_BODY; shape++) {
        double library[2];
        for (int size = 0; size < 2; size++) {
            job j = {client, (enum shape)shape, objects[size]};
            library_call(client, (enum shape)shape, objects[size]); /* warm-up */
            library[size] = best_of(runs, run_library, &j);
            double baseline = best_of(runs, run_baseline, &j);
            printf("%-24s %9d %10zu %12.1f %13.1f %7.1fx\n", names[shape], size ? small * 8 : small, strlen(objects[size]),
                   library[size] * 1e3, baseline * 1e3, library[size] / baseline);
        }
        printf("%-24s growth for 8x the members: %.1fx (linear ~8, quadratic ~64)\n", "", library[1] / library[0]);
    }
    free(objects[0]);
    free(objects[1]);
    hl_client_free(client);
    curl_global_cleanup();
    return 0;
}
