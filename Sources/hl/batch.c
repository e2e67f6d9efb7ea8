/* ---- hl batch: the main loop ------------------------------------------------------------------
 * The lines go to the library as batches (hl_batch_submit) whose items come back on one queue:
 * an event {"index":k,"result":<envelope>} per finished request, then the batch's counts. Only
 * the main thread touches this state: it reads the input, submits the batches, waits on the
 * queue, drains it and writes the envelopes in input order. No code of hl runs on the engine.
 *
 * A regular file is read whole and sent as one batch: the library's rate-aware window (and its
 * pacing, and its Retry-After hold) then governs the whole run. Other input (a pipe, a terminal)
 * may still be arriving, and its results must flow meanwhile: the lines read so far go as one
 * batch (a chunk), later lines as later chunks. All chunks together keep within --concurrency:
 * a running chunk holds min(its concurrency, its requests not finished yet) of the slots. When
 * no chunk runs, a new chunk takes every line read, at the full concurrency; otherwise it takes
 * at most as many lines as there are free slots, at that concurrency, so that each of its
 * requests starts at once (a long chunk never stays on a narrow window). */

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

#define BATCH_DRAIN_MAX 64

static const char LATE_CANCEL_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"cancelled\",\"message\":"
    "\"cancelled (the call did not end in time)\"},\"attempts\":0}";
static const char NOT_STARTED_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"cancelled\",\"message\":"
    "\"cancelled (not started)\"},\"attempts\":0}";
static const char LIBRARY_OOM_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"out_of_memory\","
    "\"message\":\"the library ran out of memory\"},\"attempts\":0}";

/* What erases the progress line before a message on stderr ("" without one). */
const char *erase_progress(const struct batch *b) { return b->show_progress ? "\r\033[K" : ""; }

int batch_stopping(const struct batch *b) {
    return batch_signal || b->write_failed || b->out_of_mem || b->fatal || b->input_changed;
}

void input_failed(struct batch *b) {
    fprintf(stderr, "%shl: batch: cannot read %s: %s\n", erase_progress(b), b->source, strerror(errno));
    b->read_failed = 1;
}

/* A line differs from the one whose result OUT.partial holds: the run stops. */
void input_changed(struct batch *b, long line) {
    if (!b->input_changed)
        fprintf(stderr,
                "%shl: batch: the input changed: line %ld of %s is not the line whose result %s holds "
                "(the line's hash differs, or the line is gone); restore the input, or remove %s to start "
                "over\n",
                erase_progress(b), line, b->source, b->ck.partial, b->ck.partial);
    b->input_changed = 1;
}

/* Adds an entry. Returns its index, or (size_t)-1 when out of memory. */
size_t add_entry(struct batch *b, long line, uint64_t hash) {
    if (b->n_entries == b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap * 2;
        struct batch_entry *bigger = realloc(b->entries, cap * sizeof *bigger);
        if (bigger == NULL) return (size_t)-1;
        b->entries = bigger;
        b->cap = cap;
    }
    struct batch_entry *e = &b->entries[b->n_entries];
    memset(e, 0, sizeof *e);
    e->line = line;
    e->hash = hash;
    return b->n_entries++;
}

static int is_cancelled(const char *envelope) { return strstr(envelope, "\"type\":\"cancelled\"") != NULL; }

/* With --output: records a finished line in OUT.partial at once (a cancelled one is no result)
 * and says on stderr why it failed; its envelope is not kept. */
static void record_entry(struct batch *b, struct batch_entry *e) {
    int cancelled = !e->ok && is_cancelled(e->envelope);
    if (!cancelled && !b->write_failed && ck_append(&b->ck, e->line, e->hash, e->envelope) != 0) {
        fprintf(stderr, "%shl: batch: cannot write %s: %s\n", erase_progress(b), b->ck.partial, strerror(errno));
        b->write_failed = 1;
    }
    if (cancelled) {
        b->cancelled_lines++;
    } else if (!e->ok) {
        b->line_failures++;
        fputs(erase_progress(b), stderr);
        report_line_error(e->line, e->envelope);
        b->last_draw = -1;
    }
    free(e->envelope);
    e->envelope = NULL;
    e->recorded = 1;
}

/* Gives entry i its envelope (malloc'ed; taken over). NULL: out of memory, the batch stops. */
void set_envelope(struct batch *b, size_t i, char *envelope) {
    struct batch_entry *e = &b->entries[i];
    if (envelope == NULL) {
        b->out_of_mem = 1;
        return;
    }
    if (e->finished) { /* not expected: a second result */
        free(envelope);
        return;
    }
    e->envelope = envelope;
    e->finished = 1;
    e->ok = envelope_is_ok(envelope);
    b->finished++;
    if (!e->ok) b->errors++;
    if (i + 1 > b->last_finished) b->last_finished = i + 1;
    if (b->checkpointing) record_entry(b, e);
}

char *copy_text(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* 1. Reads ahead what the input has now; the total is known once the input has ended. */
void read_input(struct batch *b) {
    if (!b->eof && !b->read_failed && read_ahead(&b->reader) < 0) {
        input_failed(b);
        b->eof = 1;
        b->total = b->read_requests;
    }
    if (b->total < 0 && b->reader.eof) b->total = b->read_requests + buffered_lines(&b->reader);
}

/* A line as a request: without a UTF-8 byte order mark (EF BB BF) at the start of the input (some
 * editors write one; anywhere else it stays: not JSON) and without its "\r". 0: a blank line. */
void cancel_in_flight(struct batch *b) {
    b->cancelled = 1;
    b->cancel_time = now_seconds();
    b->eof = 1;
    for (size_t i = 0; i < b->n_active; i++) hl_call_cancel(b->active[i]->call);
}

/* A chunk's counts arrived (or it was abandoned): release it. */
void end_chunk(struct batch *b, struct chunk *c) {
    b->used -= chunk_slots(c);
    hl_call_free(c->call);
    b->active[c->slot] = b->active[--b->n_active];
    b->active[c->slot]->slot = c->slot;
    free(c->entries);
    free(c);
}

/* Cancelled calls end within 100 ms (humanloop.h); should a batch not, release it (none of its
 * items is drained after hl_call_free) and give its lines that may be running a "cancelled"
 * envelope of hl's own. */
void abandon_late_chunks(struct batch *b) {
    while (b->n_active > 0 && !b->out_of_mem) {
        struct chunk *c = b->active[0];
        size_t running = c->seen + c->concurrency < c->n ? c->seen + c->concurrency : c->n;
        if (c->reach > running) running = c->reach;
        for (size_t k = 0; k < running && !b->out_of_mem; k++) {
            const struct batch_entry *e = &b->entries[c->entries[k]];
            if (!e->finished) set_envelope(b, c->entries[k], strdup(LATE_CANCEL_ENVELOPE));
        }
        end_chunk(b, c);
    }
}

/* The envelope of an event {"index":k,"result":<envelope>}: a malloc'ed copy of its text. NULL
 * when out of memory (*index set) or unreadable (*index = (size_t)-1). */
static char *event_envelope(const char *json, size_t len, size_t *index) {
    static const char HEAD[] = "{\"index\":", MID[] = ",\"result\":";
    *index = (size_t)-1;
    if (json == NULL || len < sizeof HEAD || memcmp(json, HEAD, sizeof HEAD - 1) != 0) return NULL;
    const char *p = json + sizeof HEAD - 1, *end = json + len;
    size_t k = 0;
    if (p >= end || *p < '0' || *p > '9') return NULL;
    while (p < end && *p >= '0' && *p <= '9') k = k * 10 + (size_t)(*p++ - '0');
    if ((size_t)(end - p) < sizeof MID || memcmp(p, MID, sizeof MID - 1) != 0 || end[-1] != '}') return NULL;
    p += sizeof MID - 1;
    *index = k;
    return copy_text(p, (size_t)(end - 1 - p));
}

/* Takes one item of a chunk: a request's envelope, or the chunk's counts. */
static void take_item(struct batch *b, const hl_item *item) {
    struct chunk *c = item->tag;
    if (item->kind == HL_ITEM_RESULT) {
        /* The counts; a malformed batch (not expected: hl builds it) is one error envelope, the
         * result of each of its lines. After a cancel, a line without an event never started. */
        int ok = item->json != NULL && envelope_is_ok(item->json);
        for (size_t k = 0; k < c->n && !b->out_of_mem && !(ok && b->cancelled); k++) {
            const struct batch_entry *e = &b->entries[c->entries[k]];
            if (e->finished) continue;
            set_envelope(b, c->entries[k],
                         ok ? line_error(e->line, "", "the library gave no result for this line")
                            : item->json != NULL ? copy_text(item->json, item->len) : strdup(LIBRARY_OOM_ENVELOPE));
        }
        end_chunk(b, c);
        return;
    }
    size_t k;
    char *envelope = event_envelope(item->json, item->len, &k);
    if (k >= c->n) { /* not expected */
        free(envelope);
        return;
    }
    b->used -= chunk_slots(c);
    c->seen++;
    b->used += chunk_slots(c);
    if (k + 1 > c->reach) c->reach = k + 1;
    set_envelope(b, c->entries[k], envelope);
}

/* 5. Takes every item on the queue (never blocks). */
void collect_results(struct batch *b) {
    hl_item items[BATCH_DRAIN_MAX];
    size_t n;
    do {
        n = hl_queue_drain(b->queue, items, BATCH_DRAIN_MAX);
        for (size_t i = 0; i < n; i++) take_item(b, &items[i]);
    } while (n == BATCH_DRAIN_MAX);
}

/* Writes one line's envelope, and its error on stderr unless it was cancelled. */
void write_entry(struct batch *b, const struct batch_entry *e) {
    if (!b->write_failed && !write_envelope_line(e->envelope)) {
        fprintf(stderr, "%shl: batch: cannot write the output: %s\n", erase_progress(b), strerror(errno));
        b->write_failed = 1;
    }
    if (e->ok) return;
    if (b->cancelled && is_cancelled(e->envelope)) {
        b->cancelled_lines++;
    } else if (!b->write_failed) {
        b->line_failures++;
        fputs(erase_progress(b), stderr);
        report_line_error(e->line, e->envelope);
        b->last_draw = -1;
    } else {
        b->line_failures++;
    }
}

/* 6. Writes the envelopes that are next in order (with --output they are on disk already).
 * Once a cancelled run has no batch left, a line that never started but comes before one that
 * finished is written as cancelled, so that the output keeps the input's order. */
void write_ready(struct batch *b) {
    while (b->printed < b->n_entries) {
        struct batch_entry *e = &b->entries[b->printed];
        if (!e->finished) {
            if (!(b->cancelled && b->n_active == 0 && b->printed < b->last_finished && !b->checkpointing)) break;
            e->envelope = strdup(NOT_STARTED_ENVELOPE);
            if (e->envelope == NULL) {
                b->out_of_mem = 1;
                break;
            }
        }
        b->printed++;
        if (e->envelope == NULL) continue;
        write_entry(b, e);
        free(e->envelope);
        e->envelope = NULL;
    }
}

/* 7. The progress line, at most ten times a second. */
void update_progress(struct batch *b, int done) {
    double t = now_seconds();
    if (b->show_progress && (done || b->last_draw < 0 || t - b->last_draw >= 0.1)) {
        size_t n = b->finished + b->kept_ok + b->kept_failed;
        draw_progress(n, b->total, b->errors + b->kept_failed, rate_now(&b->rate, t, b->finished),
                      rate_average(b->start, t, b->finished));
        b->last_draw = t;
    }
}

/* 8. Sleeps until an item is on the queue, or input is there (when there is room to read
 * ahead), or a signal comes, or 100 ms have passed (for the progress line). The signals are
 * let through during this wait only. */
void wait_for_work(struct batch *b) {
    int wait_input = !b->eof && !batch_signal && !b->reader.eof &&
                     b->reader.end - b->reader.start < READ_AHEAD && (b->regular || b->pending_bytes < READ_AHEAD);
    struct pollfd pfds[2] = {{hl_queue_fd(b->queue), POLLIN, 0}, {b->reader.fd, POLLIN, 0}};
    pthread_sigmask(SIG_UNBLOCK, &batch_sigset, NULL);
    int rc = batch_exit_now ? 0 : poll(pfds, wait_input ? 2 : 1, 100);
    int saved = errno;
    pthread_sigmask(SIG_BLOCK, &batch_sigset, NULL);
    if (rc < 0 && saved != EINTR) {
        fprintf(stderr, "%shl: batch: poll: %s\n", erase_progress(b), strerror(saved));
        b->fatal = 1; /* cannot go on: stop as on a signal */
    }
}

/* " word" on stderr, quoted for a POSIX shell when it needs to be. */
void batch_loop(struct batch *b) {
    for (;;) {
        collect_results(b);
        read_input(b);
        take_lines(b);
        submit_chunks(b);
        if (batch_stopping(b) && !b->cancelled) cancel_in_flight(b);
        else if (b->cancelled && now_seconds() - b->cancel_time > 5) abandon_late_chunks(b);
        write_ready(b);
        int done = b->eof && b->n_active == 0 && (b->n_pending == b->pending_head || b->cancelled);
        update_progress(b, done);
        if (done) return;
        wait_for_work(b);
        if (batch_exit_now) exit_at_once(b);
    }
}

/* Opens the input ("-": standard input). Returns the descriptor, or -1 (the message said). */
