/* hl batch: its state, shared by batch.c, feed.c, batch_line.c and batch_run.c. */
#ifndef HL_BATCH_H
#define HL_BATCH_H

#include <signal.h>
#include <stdint.h>

#include "checkpoint.h"
#include "hl.h"
#include "lines.h"
#include "progress.h"

/* One request line of the batch. */
struct batch_entry {
    char *envelope; /* its envelope (malloc'ed) once known; NULL until then */
    int ok;
    long line;      /* line number in the input, from 1 */
    uint64_t hash;  /* of the line's text (with --output) */
    int recorded;   /* with --output: finished, its result in OUT.partial (or cancelled) */
    int finished;   /* its envelope is known (and maybe written or recorded already) */
};
struct chunk {
    hl_call *call;        /* the batch */
    size_t *entries;      /* the entry of each of its requests, by index */
    size_t n, seen;       /* its requests; the events seen */
    size_t concurrency;
    size_t reach;         /* 1 + the greatest index with an event */
    size_t slot;          /* its place in b->active */
};

/* A line read and ready to send, waiting for a chunk. */
struct pending {
    char *item;   /* {"call":...,"request":...,"options":...} (malloc'ed) */
    size_t entry;
};

struct batch {
    struct batch_options o;
    hl_client *client;
    hl_queue *queue;
    const char *source; /* the input's name in messages */
    int close_input;    /* the input is a file hl opened */
    int regular;        /* the input is a regular file: one batch */
    struct line_reader reader;
    struct batch_entry *entries; /* one per line to send, in input order */
    size_t n_entries, cap;
    struct chunk **active;       /* the chunks whose counts have not arrived */
    size_t n_active, cap_active;
    size_t used;                 /* slots the active chunks hold */
    struct pending *pending;     /* lines read, not in a chunk yet: [pending_head, n_pending) */
    size_t pending_head, n_pending, cap_pending, pending_bytes;
    size_t finished, errors;     /* envelopes known, failures among them */
    size_t printed, line_failures, cancelled_lines, last_finished; /* last_finished: 1 + entry */
    size_t kept_ok, kept_failed; /* with --output: lines whose result OUT.partial has already */
    struct checkpoint ck;        /* with --output */
    int checkpointing;
    long line_no;
    long long read_requests, total; /* total: -1 until known */
    int show_progress, eof, cancelled, write_failed, out_of_mem, read_failed, fatal, input_changed;
    double start, last_draw, cancel_time;
    struct rate_samples rate;
};

extern volatile sig_atomic_t batch_signal, batch_exit_now;
extern sigset_t batch_sigset;

char *line_error(long line, const char *path, const char *message);
int prepare_item(const char *text, size_t len, long line, const char *default_call, char **item,
                        char **error);
const char *erase_progress(const struct batch *b);

int batch_stopping(const struct batch *b);
void input_failed(struct batch *b);
void input_changed(struct batch *b, long line);
size_t add_entry(struct batch *b, long line, uint64_t hash);
void set_envelope(struct batch *b, size_t i, char *envelope);
char *copy_text(const char *text, size_t len);
void read_input(struct batch *b);
void cancel_in_flight(struct batch *b);
void end_chunk(struct batch *b, struct chunk *c);
void abandon_late_chunks(struct batch *b);
void collect_results(struct batch *b);
void write_entry(struct batch *b, const struct batch_entry *e);
void write_ready(struct batch *b);
void update_progress(struct batch *b, int done);
void wait_for_work(struct batch *b);
void batch_loop(struct batch *b);
void take_lines(struct batch *b);
size_t chunk_slots(const struct chunk *c);
void submit_chunks(struct batch *b);
void install_batch_signal_handlers(void);
const char *signal_name(int sig);
void print_summary(const struct batch *b, int sig, size_t extra_cancelled);
void exit_at_once(struct batch *b);
int run_batch(int argc, char **argv);

#endif
