/* hl batch: its signals, its summary, its start and its end. */
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

/* SIGINT, SIGTERM and SIGHUP. The first stops the batch (the main loop cancels the calls in
 * flight, writes every finished result and a summary, and exits with 128 + its number); a
 * second one makes it leave at once, after writing what is finished. They are blocked in every
 * thread but while the main thread waits (wait_for_work), so the handlers only ever interrupt a
 * wait and the main loop sees them at once. */
static const char EXIT_CANCEL_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"cancelled\",\"message\":"
    "\"cancelled (hl exited at a second signal)\"},\"attempts\":0}";

volatile sig_atomic_t batch_signal = 0;   /* the first one */
volatile sig_atomic_t batch_exit_now = 0; /* a second one */
static const int BATCH_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
sigset_t batch_sigset;

static void on_batch_signal(int sig) {
    if (batch_signal) batch_exit_now = sig;
    else batch_signal = sig;
}

/* Installs the handlers, except for a signal ignored when hl started (a background job of a
 * non-interactive shell ignores SIGINT, nohup SIGHUP: it stays ignored, as intended), and
 * blocks the signals in this thread, hence in every thread the library starts. */
void install_batch_signal_handlers(void) {
    size_t n = sizeof BATCH_SIGNALS / sizeof BATCH_SIGNALS[0];
    int handled[sizeof BATCH_SIGNALS / sizeof BATCH_SIGNALS[0]];
    sigemptyset(&batch_sigset);
    for (size_t i = 0; i < n; i++) {
        struct sigaction old;
        handled[i] = !(sigaction(BATCH_SIGNALS[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN);
        if (handled[i]) sigaddset(&batch_sigset, BATCH_SIGNALS[i]);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_batch_signal;
    sa.sa_mask = batch_sigset; /* one handler at a time: the signals are seen in the order they come */
    sa.sa_flags = 0;           /* no SA_RESTART: a wait ends at once */
    for (size_t i = 0; i < n; i++)
        if (handled[i]) sigaction(BATCH_SIGNALS[i], &sa, NULL);
    pthread_sigmask(SIG_BLOCK, &batch_sigset, NULL);
}

const char *signal_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

static void print_shell_word(const char *a) {
    static const char SAFE[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./=:,+@%";
    if (a[0] != '\0' && strspn(a, SAFE) == strlen(a)) {
        fprintf(stderr, " %s", a);
        return;
    }
    fputs(" '", stderr);
    for (; *a != '\0'; a++) {
        if (*a == '\'') fputs("'\\''", stderr);
        else fputc(*a, stderr);
    }
    fputc('\'', stderr);
}

/* The summary after a signal: done / failed / cancelled / not started, and how to resume. */
void print_summary(const struct batch *b, int sig, size_t extra_cancelled) {
    size_t done = b->kept_ok + b->finished - b->errors, failed = b->kept_failed + b->line_failures;
    size_t cancelled = b->cancelled_lines + extra_cancelled;
    fprintf(stderr, "%shl: batch: interrupted by %s: %zu done, %zu failed, %zu cancelled, ", erase_progress(b),
            signal_name(sig), done, failed, cancelled);
    if (b->total >= 0) fprintf(stderr, "%lld not started\n", b->total - (long long)(done + failed + cancelled));
    else fprintf(stderr, "the rest of the input not started\n");
    if (!b->checkpointing) {
        fprintf(stderr, "hl: batch: %zu line%s written; use --output FILE to be able to resume\n", b->printed,
                b->printed == 1 ? "" : "s");
        return;
    }
    fprintf(stderr, "hl: batch: the results so far are in %s; to resume%s:", b->ck.partial,
            b->close_input ? "" : " (with the same standard input)");
    for (int i = 0; i < b->o.argc; i++) print_shell_word(b->o.argv[i]);
    fputc('\n', stderr);
}

/* A second signal: write what is finished, the summary, and leave at once. A line that may be
 * running (a batch starts its requests in order: those before one that finished, and as many
 * after the finished ones as its concurrency) counts as cancelled; without --output it is
 * written as cancelled, in input order. */
void exit_at_once(struct batch *b) {
    collect_results(b);
    write_ready(b);
    size_t last = b->last_finished;
    for (size_t i = 0; i < b->n_active; i++) {
        const struct chunk *c = b->active[i];
        size_t running = c->seen + c->concurrency < c->n ? c->seen + c->concurrency : c->n;
        if (running > 0 && c->entries[running - 1] + 1 > last) last = c->entries[running - 1] + 1;
    }
    size_t extra = 0;
    for (size_t i = b->printed; i < last; i++) {
        struct batch_entry *e = &b->entries[i];
        if (!e->finished) extra++;
    }
    if (!b->checkpointing) {
        for (; b->printed < last; b->printed++) {
            struct batch_entry *e = &b->entries[b->printed];
            if (e->envelope == NULL && !b->write_failed && !write_envelope_line(EXIT_CANCEL_ENVELOPE))
                b->write_failed = 1;
            if (e->envelope != NULL) write_entry(b, e);
        }
    }
    if (b->show_progress) fputc('\n', stderr);
    print_summary(b, batch_exit_now, extra);
    fflush(stdout);
    fflush(stderr);
    _exit(128 + batch_exit_now);
}

static int open_batch_input(const char *path, const char *source) {
    int from_stdin = strcmp(path, "-") == 0;
    int fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int saved = fd < 0 || !S_ISDIR(st.st_mode) ? errno : EISDIR;
        fprintf(stderr, "hl: batch: cannot read %s: %s\n", source, strerror(saved));
        if (fd >= 0 && !from_stdin) close(fd);
        return -1;
    }
    return fd;
}

/* With --output, before anything is sent: the input (a regular file) read once to check that
 * every line with a result in OUT.partial is still the same. 0, or -1 (the input changed). */
static int check_input(struct batch *b, const char *path) {
    struct line_reader r = {open(path, O_RDONLY), NULL, 0, 0, 0, 0};
    struct stat st;
    if (r.fd < 0 || fstat(r.fd, &st) != 0 || !S_ISREG(st.st_mode) || b->ck.results == 0) {
        if (r.fd >= 0) close(r.fd);
        return 0; /* checked as the lines are read */
    }
    char *line;
    size_t len;
    long line_no = 0;
    int got;
    while (!b->input_changed && (got = read_line(&r, &line, &len)) == 1) {
        const struct ck_line *rec = ck_get(&b->ck, ++line_no);
        if (rec == NULL) continue;
        if (!trim_line(line_no, &line, &len) || rec->hash != ck_hash(line, len)) input_changed(b, line_no);
    }
    if (!b->input_changed && got == -1 && b->ck.max_line > line_no) input_changed(b, line_no + 1);
    close(r.fd);
    free(r.buf);
    return b->input_changed ? -1 : 0;
}

/* Releases everything: batches still held (after out of memory), the queue, the client. */
static void end_batch(struct batch *b) {
    while (b->n_active > 0) end_chunk(b, b->active[0]);
    free(b->active);
    for (size_t i = b->pending_head; i < b->n_pending; i++) free(b->pending[i].item);
    free(b->pending);
    for (size_t i = 0; i < b->n_entries; i++) free(b->entries[i].envelope);
    hl_queue_free(b->queue);
    hl_client_free(b->client);
    free(b->entries);
    free(b->reader.buf);
    if (b->close_input) close(b->reader.fd);
}

/* With --output, once every line has a result: OUT in input order, OUT.partial removed. */
static int finish_checkpoint(struct batch *b) {
    if (!b->checkpointing || batch_signal || b->write_failed || b->out_of_mem || b->fatal || b->read_failed ||
        b->input_changed)
        return EXIT_OK;
    return ck_finish(&b->ck) == 0 ? EXIT_OK : EXIT_OTHER;
}

static int batch_exit_code(const struct batch *b, int finish_rc) {
    if (b->out_of_mem) return out_of_memory();
    if (b->write_failed || b->fatal || finish_rc != EXIT_OK) return EXIT_OTHER;
    if (batch_signal) {
        print_summary(b, batch_signal, 0);
        return 128 + batch_signal;
    }
    if (b->read_failed || b->input_changed) return EXIT_USAGE;
    if (b->kept_failed > 0)
        fprintf(stderr,
                "hl: batch: %zu line%s failed in an earlier run (%s has the errors; --retry-failed sends them "
                "again)\n",
                b->kept_failed, b->kept_failed == 1 ? "" : "s", b->ck.out);
    return b->line_failures + b->kept_failed > 0 ? EXIT_SOME_FAILED : EXIT_OK;
}

/* With --output: reads OUT.partial. EXIT_OK to go on (b->checkpointing set); else the exit
 * status (0: OUT is complete already, nothing to do). */
static int open_checkpoint(struct batch *b) {
    if (b->o.output == NULL) return EXIT_OK;
    int rc = ck_open(&b->ck, b->o.output);
    if (rc == CK_COMPLETE)
        fprintf(stderr,
                "hl: batch: %s is complete already (there is no %s): nothing to do; remove it to run the "
                "batch again\n",
                b->ck.out, b->ck.partial);
    if (rc != CK_OPENED) {
        ck_close(&b->ck);
        return rc == CK_COMPLETE ? EXIT_OK : rc == CK_BAD_FILE ? EXIT_USAGE : EXIT_OTHER;
    }
    b->checkpointing = 1;
    return EXIT_OK;
}

/* Opens the input, the queue and the client. EXIT_OK, or the exit status (the message said). */
static int start_batch(struct batch *b, const char *path) {
    int rc = EXIT_OK;
    int fd = open_batch_input(path, b->source);
    if (fd < 0) return EXIT_USAGE;
    if (b->checkpointing && check_input(b, path) != 0) rc = EXIT_USAGE;
    b->queue = rc == EXIT_OK ? hl_queue_new(NULL) : NULL;
    if (rc == EXIT_OK && b->queue == NULL) {
        fprintf(stderr, "hl: batch: cannot create a queue: out of memory or of file descriptors\n");
        rc = EXIT_OTHER;
    }
    b->client = rc == EXIT_OK ? make_client(&b->o.client, &rc) : NULL;
    if (rc != EXIT_OK || b->client == NULL) {
        hl_queue_free(b->queue);
        if (b->close_input) close(fd);
        return rc != EXIT_OK ? rc : EXIT_OTHER;
    }
    struct stat st;
    b->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    b->total = count_lines(fd); /* -1: not known before the end of the input */
    b->reader.fd = fd;
    return EXIT_OK;
}

int run_batch(int argc, char **argv) {
    struct batch b;
    memset(&b, 0, sizeof b);
    int rc = parse_batch_options(argc, argv, &b.o);
    if (rc != EXIT_OK) return rc;
    if (b.o.help) {
        fputs(BATCH_HELP, stdout);
        return finish_output(EXIT_OK);
    }
    const char *path = b.o.file != NULL ? b.o.file : "-";
    b.close_input = strcmp(path, "-") != 0;
    b.source = b.close_input ? path : "standard input";
    rc = open_checkpoint(&b);
    if (rc != EXIT_OK || (b.o.output != NULL && !b.checkpointing)) return rc;
    install_batch_signal_handlers(); /* before the library starts its threads */
    rc = start_batch(&b, path);
    if (rc != EXIT_OK) {
        if (b.checkpointing) ck_close(&b.ck);
        return rc;
    }
    b.show_progress = b.o.progress && isatty(STDERR_FILENO);
    b.start = now_seconds();
    b.last_draw = -1;
    batch_loop(&b);
    if (b.show_progress) fputc('\n', stderr);
    end_batch(&b);
    int finish_rc = finish_checkpoint(&b);
    rc = batch_exit_code(&b, finish_rc);
    if (b.checkpointing) ck_close(&b.ck);
    return rc;
}

