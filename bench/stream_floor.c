/* stream_floor.c — reference code for bench_python_async.py, not part of the library: the cheapest
 * possible hand-off of one event stream to Python's asyncio in each of three shapes, so that the
 * benchmark can show what a shape costs in Python when the library behind it costs nothing. No
 * libcurl, no Swift, no HTTP parsing beyond finding the chunked body's end: the caller sends the
 * request on a connected socket; the code here reads it, cuts each "data: ...\n\n" event out of
 * the bytes and makes the items of hl_call_start / hl_loop_run / hl_queue_drain from them:
 * `{"ok":true,"event":<data>}` per event, then one terminal item `{"ok":true,"status":200}` when
 * the body ends (`{"ok":false}` on a read error, end of file or 5 s without data). With check != 0
 * each event is first parsed by jansson (json_loadb, then json_decref), the one piece of work a
 * library must add per event ("once jansson has checked them"). The socket is never
 * closed here. Three shapes:
 *
 * 1. The retired design (floor_stream): one long-lived C thread polls and reads the
 *    socket and calls a callback per item with a malloc'd item (freed by the caller with free());
 *    the callback runs on that thread, i.e. Python must take the GIL there.
 * 2. The thread + queue shape (floor_queue_*): one long-lived C thread per queue reads the
 *    socket, cuts and checks the events, appends items to the queue and signals an eventfd only
 *    when the queue goes from empty to non-empty; the consumer (the event loop, add_reader on the
 *    eventfd) drains up to `max` items per crossing, which resets the eventfd only when the drain
 *    leaves the queue empty (as hl_queue_fd / hl_queue_drain).
 * 3. The loop-driven shape (floor_reader_*): no thread; the consumer's event loop watches
 *    the socket itself and calls floor_reader_run once per wake-up, which reads what is there
 *    (non-blocking), cuts and checks the events and returns the items as an array (as
 *    hl_loop_run(loop, 0, items, max)).
 *
 * Items of shapes 2 and 3 have hl_item's layout (call and tag NULL) and stay valid until the next
 * drain / run on the same queue / reader (or its free).
 *
 * Build: cc -O2 -shared -fPIC bench/stream_floor.c -o build/bench/libstream_floor.so -ljansson -lpthread
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* ---- shared by shapes 2 and 3 -------------------------------------------------------------------- */

typedef struct floor_item {   /* hl_item's layout */
    void *call;
    void *tag;
    int kind;                 /* 1 event, 2 terminal */
    const char *json;
    size_t len;
} floor_item;

static const char EVENT_HEAD[] = "{\"ok\":true,\"event\":";
static const char DONE_ITEM[] = "{\"ok\":true,\"status\":200}";
static const char FAIL_ITEM[] = "{\"ok\":false}";

static int event_ok(int check, const char *data, size_t length) {
    if (!check) return 1;
    json_error_t error;
    json_t *value = json_loadb(data, length, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    int ok = value != NULL && json_is_object(value);
    json_decref(value);
    return ok;
}

/* Cuts the complete events out of buffer[0..*have), calls emit(ctx, data, length) for each, keeps
 * the rest at the start of buffer. Returns 1 when the chunked body's end was seen. */
static int cut_events(char *buffer, size_t *have, void (*emit)(void *, const char *, size_t), void *ctx) {
    int ended = memmem(buffer, *have, "\r\n0\r\n\r\n", 7) != NULL;
    char *start = buffer, *end = buffer + *have;
    for (;;) {
        char *data = memmem(start, (size_t)(end - start), "data: ", 6);
        if (data == NULL) break;
        char *stop = memmem(data, (size_t)(end - data), "\n\n", 2);
        if (stop == NULL) break;
        emit(ctx, data + 6, (size_t)(stop - data - 6));
        start = stop + 2;
    }
    memmove(buffer, start, (size_t)(end - start));
    *have = (size_t)(end - start);
    return ended;
}

/* ---- shape 2: a thread + a queue + an eventfd ------------------------------------------------------ */

typedef struct floor_queue {
    int efd;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int job_fd, job_check, has_job, stop;
    pthread_t thread;
    floor_item *pending;          /* items not yet drained (json malloc'd) */
    size_t npending, cap, head;   /* pending[head..npending) */
    char **owned;                 /* json of the items handed out by the last drain */
    size_t nowned, owned_cap;
    int check;
} floor_queue;

static void queue_push(floor_queue *q, int kind, char *json, size_t len) {
    pthread_mutex_lock(&q->lock);
    if (q->npending == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        floor_item *p = realloc(q->pending, cap * sizeof *p);
        if (p == NULL) { pthread_mutex_unlock(&q->lock); free(json); return; }
        q->pending = p; q->cap = cap;
    }
    int was_empty = q->npending == q->head;
    q->pending[q->npending++] = (floor_item){NULL, NULL, kind, json, len};
    if (was_empty) {   /* signal only on empty -> non-empty */
        uint64_t one = 1;
        if (write(q->efd, &one, sizeof one) < 0) { /* a full counter is still readable */ }
    }
    pthread_mutex_unlock(&q->lock);
}

static void queue_emit(void *ctx, const char *data, size_t length) {
    floor_queue *q = ctx;
    if (!event_ok(q->check, data, length)) return;
    size_t len = sizeof EVENT_HEAD - 1 + length + 1;
    char *item = malloc(len + 1);
    if (item == NULL) return;
    memcpy(item, EVENT_HEAD, sizeof EVENT_HEAD - 1);
    memcpy(item + sizeof EVENT_HEAD - 1, data, length);
    item[len - 1] = '}';
    item[len] = '\0';
    queue_push(q, 1, item, len);
}

static void queue_serve(floor_queue *q, int fd) {
    char buffer[65536];
    size_t have = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t got = recv(fd, buffer + have, sizeof buffer - have, 0);
        if (got <= 0) break;
        have += (size_t)got;
        if (cut_events(buffer, &have, queue_emit, q)) {
            queue_push(q, 2, strdup(DONE_ITEM), sizeof DONE_ITEM - 1);
            return;
        }
        if (have == sizeof buffer) break;
    }
    queue_push(q, 2, strdup(FAIL_ITEM), sizeof FAIL_ITEM - 1);
}

static void *queue_thread(void *arg) {
    floor_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (!q->has_job && !q->stop) pthread_cond_wait(&q->changed, &q->lock);
        if (q->stop) { pthread_mutex_unlock(&q->lock); return NULL; }
        int fd = q->job_fd;
        q->check = q->job_check;
        q->has_job = 0;
        pthread_mutex_unlock(&q->lock);
        queue_serve(q, fd);
    }
}

floor_queue *floor_queue_new(void) {
    floor_queue *q = calloc(1, sizeof *q);
    if (q == NULL) return NULL;
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
    if (q->efd < 0 || pthread_create(&q->thread, NULL, queue_thread, q) != 0) {
        if (q->efd >= 0) close(q->efd);
        free(q);
        return NULL;
    }
    return q;
}

int floor_queue_fd(floor_queue *q) { return q->efd; }

/* Hands the socket (request already sent) to the queue's thread. 0, or -1 if one is waiting. */
int floor_queue_stream(floor_queue *q, int fd, int check) {
    int result = 0;
    pthread_mutex_lock(&q->lock);
    if (q->has_job) result = -1;
    else { q->job_fd = fd; q->job_check = check; q->has_job = 1; pthread_cond_signal(&q->changed); }
    pthread_mutex_unlock(&q->lock);
    return result;
}

static void queue_release_owned(floor_queue *q) {
    for (size_t i = 0; i < q->nowned; i++) free(q->owned[i]);
    q->nowned = 0;
}

size_t floor_queue_drain(floor_queue *q, floor_item *items, size_t max) {
    queue_release_owned(q);   /* the previous drain's items: the consumer is done with them */
    pthread_mutex_lock(&q->lock);
    size_t n = q->npending - q->head;
    if (n > max) n = max;
    if (n > q->owned_cap) {
        char **o = realloc(q->owned, n * sizeof *o);
        if (o == NULL) n = q->owned_cap; else { q->owned = o; q->owned_cap = n; }
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = q->pending[q->head + i];
        q->owned[i] = (char *)items[i].json;
    }
    q->nowned = n;
    q->head += n;
    if (q->head == q->npending) {   /* left empty: reset the eventfd (under the lock: no lost signal) */
        q->head = q->npending = 0;
        uint64_t v;
        if (read(q->efd, &v, sizeof v) < 0) { /* EAGAIN: it was not signalled */ }
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

void floor_queue_free(floor_queue *q) {
    if (q == NULL) return;
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->changed);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    queue_release_owned(q);
    for (size_t i = q->head; i < q->npending; i++) free((char *)q->pending[i].json);
    free(q->pending);
    free(q->owned);
    close(q->efd);
    free(q);
}

/* ---- shape 3: the consumer's loop reads the socket and calls this once per wake-up ------------------ */

typedef struct floor_reader {
    int fd, check, ended;
    size_t have;
    char buffer[65536];
    char *arena;                  /* the items of the last run, one after the other */
    size_t arena_len, arena_cap;
    size_t *offsets, *lengths;    /* per item of the run */
    int *kinds;
    size_t nitems, items_cap, taken;
} floor_reader;

floor_reader *floor_reader_new(int fd, int check) {
    floor_reader *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->fd = fd;
    r->check = check;
    return r;
}

static void reader_add(floor_reader *r, int kind, const char *a, size_t alen, const char *b, size_t blen,
                       const char *c, size_t clen) {
    size_t len = alen + blen + clen;
    if (r->arena_len + len + 1 > r->arena_cap) {
        size_t cap = (r->arena_len + len + 1) * 2;
        char *p = realloc(r->arena, cap);
        if (p == NULL) return;
        r->arena = p; r->arena_cap = cap;
    }
    if (r->nitems == r->items_cap) {
        size_t cap = r->items_cap ? r->items_cap * 2 : 64;
        size_t *o = realloc(r->offsets, cap * sizeof *o);
        if (o) r->offsets = o;
        size_t *l = realloc(r->lengths, cap * sizeof *l);
        if (l) r->lengths = l;
        int *k = realloc(r->kinds, cap * sizeof *k);
        if (k) r->kinds = k;
        if (!o || !l || !k) return;
        r->items_cap = cap;
    }
    char *dst = r->arena + r->arena_len;
    memcpy(dst, a, alen);
    memcpy(dst + alen, b, blen);
    memcpy(dst + alen + blen, c, clen);
    dst[len] = '\0';
    r->offsets[r->nitems] = r->arena_len;
    r->lengths[r->nitems] = len;
    r->kinds[r->nitems] = kind;
    r->nitems++;
    r->arena_len += len + 1;
}

static void reader_emit(void *ctx, const char *data, size_t length) {
    floor_reader *r = ctx;
    if (event_ok(r->check, data, length))
        reader_add(r, 1, EVENT_HEAD, sizeof EVENT_HEAD - 1, data, length, "}", 1);
}

/* Reads what the socket has (never blocks), returns up to max items (json valid until the next
 * run). Items past max stay for the next run: call again while it returns max. */
size_t floor_reader_run(floor_reader *r, floor_item *items, size_t max) {
    if (r->taken == r->nitems) {   /* everything handed out: start a new batch */
        r->nitems = r->taken = 0;
        r->arena_len = 0;
        while (!r->ended) {
            ssize_t got = recv(r->fd, r->buffer + r->have, sizeof r->buffer - r->have, MSG_DONTWAIT);
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                r->ended = 1;
                reader_add(r, 2, FAIL_ITEM, sizeof FAIL_ITEM - 1, "", 0, "", 0);
                break;
            }
            r->have += (size_t)got;
            if (cut_events(r->buffer, &r->have, reader_emit, r)) {
                r->ended = 1;
                reader_add(r, 2, DONE_ITEM, sizeof DONE_ITEM - 1, "", 0, "", 0);
            } else if (r->have == sizeof r->buffer) {   /* one event larger than the buffer */
                r->ended = 1;
                reader_add(r, 2, FAIL_ITEM, sizeof FAIL_ITEM - 1, "", 0, "", 0);
            }
        }
    }
    size_t n = 0;
    for (; n < max && r->taken < r->nitems; n++, r->taken++) {
        items[n] = (floor_item){NULL, NULL, r->kinds[r->taken], r->arena + r->offsets[r->taken],
                                r->lengths[r->taken]};
    }
    return n;
}

void floor_reader_free(floor_reader *r) {
    if (r == NULL) return;
    free(r->arena);
    free(r->offsets);
    free(r->lengths);
    free(r->kinds);
    free(r);
}
