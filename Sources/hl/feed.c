/* hl batch: the lines read, waiting for a chunk, and the chunks submitted (see batch.c). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "humanloop.h"

#include "checkpoint.h"
#include "hl.h"
#include "batch.h"

static int needs_sending(struct batch *b, uint64_t hash) {
    const struct ck_line *r = ck_get(&b->ck, b->line_no);
    if (r == NULL) return 1;
    if (r->hash != hash) {
        input_changed(b, b->line_no);
        return 0;
    }
    if (r->state == CK_FAILED && b->o.retry_failed) return 1;
    if (r->state == CK_OK) b->kept_ok++;
    else b->kept_failed++;
    return 0;
}

/* Queues the item of entry i for the next chunk. 0 when out of memory. */
static int add_pending(struct batch *b, size_t i, char *item) {
    if (b->n_pending == b->cap_pending) {
        if (b->pending_head > 0) {
            memmove(b->pending, b->pending + b->pending_head,
                    (b->n_pending - b->pending_head) * sizeof *b->pending);
            b->n_pending -= b->pending_head;
            b->pending_head = 0;
        }
        if (b->n_pending == b->cap_pending) {
            size_t cap = b->cap_pending == 0 ? 256 : b->cap_pending * 2;
            struct pending *bigger = realloc(b->pending, cap * sizeof *bigger);
            if (bigger == NULL) return 0;
            b->pending = bigger;
            b->cap_pending = cap;
        }
    }
    b->pending[b->n_pending].item = item;
    b->pending[b->n_pending].entry = i;
    b->n_pending++;
    b->pending_bytes += strlen(item);
    return 1;
}

/* Takes one input line: its request waits for a chunk (or a malformed line gets its error
 * envelope at once). */
static void take_line(struct batch *b, char *line, size_t len) {
    b->line_no++;
    if (!trim_line(b->line_no, &line, &len)) {
        if (b->checkpointing && ck_get(&b->ck, b->line_no) != NULL) input_changed(b, b->line_no);
        return;
    }
    b->read_requests++;
    uint64_t hash = b->checkpointing ? ck_hash(line, len) : 0;
    if (b->checkpointing && !needs_sending(b, hash)) return;
    char *item = NULL, *error = NULL;
    int prc = prepare_item(line, len, b->line_no, b->o.call, &item, &error);
    size_t i = prc == EXIT_OTHER ? (size_t)-1 : add_entry(b, b->line_no, hash);
    if (i == (size_t)-1) {
        b->out_of_mem = 1;
        free(item);
        free(error);
    } else if (prc == EXIT_USAGE) {
        set_envelope(b, i, error);
    } else if (!add_pending(b, i, item)) {
        free(item);
        b->out_of_mem = 1;
    }
}

/* The end of the input: with --output, a result of a line past it means the input changed. */
static void input_ended(struct batch *b) {
    b->eof = 1;
    b->total = b->read_requests;
    if (b->checkpointing && !b->read_failed && b->ck.max_line > b->line_no) input_changed(b, b->line_no + 1);
}

/* 2. Takes the whole lines read (a regular file: all of it, to be sent as one batch; other
 * input: while the lines waiting for a chunk stay under READ_AHEAD bytes). */
void take_lines(struct batch *b) {
    while (!batch_stopping(b) && !b->eof && (b->regular || b->pending_bytes < READ_AHEAD)) {
        char *line;
        size_t len;
        int got = read_line(&b->reader, &line, &len);
        if (got == 0) break;
        if (got < 0) {
            if (got == -2) input_failed(b);
            input_ended(b);
            break;
        }
        take_line(b, line, len);
    }
}

/* Appends text to a growing buffer. 0 when out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const char *text, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t want = *cap == 0 ? 4096 : *cap;
        while (want < *len + n + 1) want *= 2;
        char *bigger = realloc(*buf, want);
        if (bigger == NULL) return 0;
        *buf = bigger;
        *cap = want;
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 1;
}

/* The slots a chunk holds: its requests not finished yet, up to its concurrency. */
size_t chunk_slots(const struct chunk *c) {
    size_t left = c->n - c->seen;
    return left < c->concurrency ? left : c->concurrency;
}

/* Sends the next `take` pending lines as one batch of the given concurrency. */
static void submit_chunk(struct batch *b, size_t take, size_t concurrency) {
    struct pending *p = b->pending + b->pending_head;
    struct chunk *c = calloc(1, sizeof *c);
    char *json = NULL;
    size_t len = 0, cap = 0;
    char head[96];
    int n = snprintf(head, sizeof head, "{\"concurrency\":%zu,\"rate_aware\":%s,\"requests\":[", concurrency,
                     b->o.rate_aware ? "true" : "false");
    int ok = c != NULL && (c->entries = malloc(take * sizeof *c->entries)) != NULL &&
             append(&json, &len, &cap, head, (size_t)n);
    for (size_t k = 0; ok && k < take; k++) {
        ok = (k == 0 || append(&json, &len, &cap, ",", 1)) && append(&json, &len, &cap, p[k].item, strlen(p[k].item));
        c->entries[k] = p[k].entry;
    }
    ok = ok && append(&json, &len, &cap, "]}", 2);
    if (ok && b->n_active == b->cap_active) {
        size_t more = b->cap_active == 0 ? 16 : b->cap_active * 2;
        struct chunk **bigger = realloc(b->active, more * sizeof *bigger);
        if (bigger == NULL) ok = 0;
        else {
            b->active = bigger;
            b->cap_active = more;
        }
    }
    if (ok) {
        c->n = take;
        c->concurrency = concurrency;
        c->call = hl_batch_submit(b->client, json, b->queue, c);
        ok = c->call != NULL;
    }
    free(json);
    for (size_t k = 0; k < take; k++) {
        b->pending_bytes -= strlen(p[k].item);
        free(p[k].item);
        if (!ok) set_envelope(b, p[k].entry, line_error(b->entries[p[k].entry].line, "",
                                                        "out of memory: the call could not start"));
    }
    b->pending_head += take;
    if (b->pending_head == b->n_pending) b->pending_head = b->n_pending = 0;
    if (!ok) {
        if (c != NULL) free(c->entries);
        free(c);
        b->out_of_mem = 1;
        return;
    }
    c->slot = b->n_active;
    b->active[b->n_active++] = c;
    b->used += chunk_slots(c);
}

/* 3. Sends the lines waiting, in chunks, as the slots allow (see above). */
void submit_chunks(struct batch *b) {
    size_t concurrency = (size_t)b->o.concurrency;
    while (!batch_stopping(b) && b->n_pending > b->pending_head && !(b->regular && !b->eof)) {
        size_t waiting = b->n_pending - b->pending_head;
        if (b->n_active == 0) {
            submit_chunk(b, waiting, concurrency);
            continue;
        }
        size_t free_slots = b->used >= concurrency ? 0 : concurrency - b->used;
        if (free_slots == 0) return;
        submit_chunk(b, waiting < free_slots ? waiting : free_slots, free_slots);
    }
}

/* 4. A signal (or no way to go on): start nothing more and cancel the batches, once. The
 * "cancelled" results of their calls in flight come through the queue. */
