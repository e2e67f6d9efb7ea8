/* The progress line of hl batch. */
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

#include "progress.h"

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void format_duration(char *out, size_t size, double seconds) {
    if (!(seconds >= 0) || seconds > 359999) {
        snprintf(out, size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else snprintf(out, size, "%ld:%02ld", s / 60, s % 60);
}


double rate_now(struct rate_samples *r, double t, size_t done) {
    r->t[r->next] = t;
    r->done[r->next] = done;
    r->next = (r->next + 1) % RATE_SAMPLES;
    if (r->count < RATE_SAMPLES) r->count++;
    size_t oldest = (r->next + RATE_SAMPLES - r->count) % RATE_SAMPLES;
    while (r->count > 1 && t - r->t[oldest] > RATE_WINDOW) {
        oldest = (oldest + 1) % RATE_SAMPLES;
        r->count--;
    }
    double span = t - r->t[oldest];
    return span > 0.5 ? (double)(done - r->done[oldest]) / span : -1;
}

double rate_average(double start, double t, size_t done) {
    return t > start ? (double)done / (t - start) : 0;
}

/* The progress line, drawn over itself: "\r" + text + erase to the end of the line. rate: the
 * effective rate (< 0: not known yet, the average is shown); average: since the start (the ETA). */
void draw_progress(size_t done, long long total, size_t errors, double rate, double average) {
    char total_text[32], eta[32], rate_text[32];
    if (rate < 0) rate = average;
    if (total >= 0) snprintf(total_text, sizeof total_text, "%lld", total);
    else snprintf(total_text, sizeof total_text, "?");
    double pace = rate > 0 ? rate : average;
    if (total >= 0 && pace > 0) format_duration(eta, sizeof eta, ((double)total - (double)done) / pace);
    else snprintf(eta, sizeof eta, "--:--");
    snprintf(rate_text, sizeof rate_text, rate >= 100 ? "%.0f" : "%.1f", rate);
    fprintf(stderr, "\rhl batch: %zu/%s done, %s/s, %zu error%s, ETA %s\033[K", done, total_text, rate_text, errors,
            errors == 1 ? "" : "s", eta);
    fflush(stderr);
}

