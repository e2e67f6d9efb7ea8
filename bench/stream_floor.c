/* stream_floor.c — a reference for bench_python_async.py, not part of the library: the cheapest
 * possible "engine" for one event stream, so that the benchmark can measure what the design
 * issue 10 pins (items handed over by a callback on a library thread, then to the event loop
 * with loop.call_soon_threadsafe) costs in Python when the library itself costs nothing.
 *
 * floor_stream(fd, callback, check): hands the stream to one long-lived thread (started on first use,
 * like the engine; one stream at a time), which waits for the socket (poll), reads it (recv),
 * cuts each "data: ...\n\n" event out of the bytes (no HTTP parsing beyond finding the chunked
 * body's end, no JSON check, no libcurl, no Swift) and calls callback(NULL, item, NULL) with a
 * malloc'd item `{"ok":true,"event":<data>}` (the caller frees it with free()), then one
 * terminal item `{"ok":true,"status":200}` when the body ends (`{"ok":false}` on a read error
 * or a timeout of 5 s), exactly the items and the signature of hl_call_start's callback.
 * With check != 0 each event is first parsed by jansson (json_loadb, then json_decref), the one
 * piece of work a library must add per event by issue 9 ("once jansson has checked them").
 * The caller has already sent the request on fd; the thread never closes fd.
 *
 * Build: cc -O2 -shared -fPIC bench/stream_floor.c -o build/bench/libstream_floor.so -ljansson -lpthread
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef void (*floor_callback)(void *call, char *item, void *user_data);

struct floor_job {
    int fd;
    floor_callback callback;
    int check;
};

static void deliver(floor_callback callback, int check, const char *data, size_t length) {
    static const char head[] = "{\"ok\":true,\"event\":";
    if (check) {
        json_error_t error;
        json_t *value = json_loadb(data, length, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
        if (value == NULL || !json_is_object(value)) {
            json_decref(value);
            return;
        }
        json_decref(value);
    }
    char *item = malloc(sizeof head + length + 1);
    if (item == NULL) return;
    memcpy(item, head, sizeof head - 1);
    memcpy(item + sizeof head - 1, data, length);
    item[sizeof head - 1 + length] = '}';
    item[sizeof head + length] = '\0';
    callback(NULL, item, NULL);
}

static void serve(struct floor_job job) {
    char buffer[65536];
    size_t have = 0;
    for (;;) {
        struct pollfd p = {job.fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t got = recv(job.fd, buffer + have, sizeof buffer - have, 0);
        if (got <= 0) break;
        have += (size_t)got;
        int ended = memmem(buffer, have, "\r\n0\r\n\r\n", 7) != NULL;
        char *start = buffer, *end = buffer + have;
        for (;;) {
            char *data = memmem(start, (size_t)(end - start), "data: ", 6);
            if (data == NULL) break;
            char *stop = memmem(data, (size_t)(end - data), "\n\n", 2);
            if (stop == NULL) break;
            deliver(job.callback, job.check, data + 6, (size_t)(stop - data - 6));
            start = stop + 2;
        }
        memmove(buffer, start, (size_t)(end - start));
        have = (size_t)(end - start);
        if (ended) {
            job.callback(NULL, strdup("{\"ok\":true,\"status\":200}"), NULL);
            return;
        }
        if (have == sizeof buffer) break;
    }
    job.callback(NULL, strdup("{\"ok\":false}"), NULL);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct floor_job next_job;
static int has_job, started;

static void *run(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (!has_job) pthread_cond_wait(&changed, &lock);
        struct floor_job job = next_job;
        has_job = 0;
        pthread_mutex_unlock(&lock);
        serve(job);
    }
    return NULL;
}

/* Returns 0, or -1 when the thread cannot be started or another stream is already waiting. */
int floor_stream(int fd, floor_callback callback, int check) {
    int result = 0;
    pthread_mutex_lock(&lock);
    if (!started) {
        pthread_t thread;
        started = pthread_create(&thread, NULL, run, NULL) == 0;
        if (started) pthread_detach(thread);
    }
    if (!started || has_job) {
        result = -1;
    } else {
        next_job.fd = fd;
        next_job.callback = callback;
        next_job.check = check;
        has_job = 1;
        pthread_cond_signal(&changed);
    }
    pthread_mutex_unlock(&lock);
    return result;
}
