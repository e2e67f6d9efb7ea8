/* The progress line of hl batch. */
#ifndef HL_PROGRESS_H
#define HL_PROGRESS_H

#include <stddef.h>

/* The effective rate: requests finished per second over the last few seconds (what a
 * rate-limited server lets through), from a sample taken at each drawing of the progress line. */
#define RATE_SAMPLES 64
#define RATE_WINDOW 5.0
struct rate_samples {
    double t[RATE_SAMPLES];
    size_t done[RATE_SAMPLES];
    size_t next, count;
};

double now_seconds(void);
double rate_now(struct rate_samples *r, double t, size_t done);
double rate_average(double start, double t, size_t done);
void draw_progress(size_t done, long long total, size_t errors, double rate, double average);

#endif
