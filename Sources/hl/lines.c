/* The input of hl batch, line by line, never blocking. */
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

#include "lines.h"

int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Reads once what the input has now, without blocking. 1: read something (or the end); 0:
 * nothing available; -2: a read error (errno set). */
int read_some(struct line_reader *r) {
    if (r->eof) return 0;
    if (r->end == r->cap) {
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        } else {
            size_t cap = r->cap == 0 ? 65536 : r->cap * 2;
            char *bigger = cap < r->cap ? NULL : realloc(r->buf, cap);
            if (bigger == NULL) {
                errno = ENOMEM;
                return -2;
            }
            r->buf = bigger;
            r->cap = cap;
        }
    }
    struct pollfd pfd = {r->fd, POLLIN, 0};
    int ready = poll(&pfd, 1, 0);
    if (ready < 0) return errno == EINTR ? 0 : -2;
    if (ready == 0) return 0;
    ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (n < 0) return errno == EINTR || errno == EAGAIN ? 0 : -2;
    if (n == 0) r->eof = 1;
    else r->end += (size_t)n;
    return 1;
}
int read_ahead(struct line_reader *r) {
    int got;
    while (r->end - r->start < READ_AHEAD && (got = read_some(r)) != 0)
        if (got < 0) return got;
    return 0;
}

/* The non-blank lines read ahead and not yet taken. */
long long buffered_lines(const struct line_reader *r) {
    long long count = 0;
    const char *p = r->buf + r->start, *end = r->buf + r->end;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        if (!is_blank(p, (size_t)(stop - p))) count++;
        p = nl != NULL ? nl + 1 : end;
    }
    return count;
}

/* 1: a line (without its end of line) in *line, *len, valid until the next call; 0: no whole
 * line yet; -1: the end of the input; -2: a read error (errno set). */
int read_line(struct line_reader *r, char **line, size_t *len) {
    for (;;) {
        char *nl = r->end > r->start ? memchr(r->buf + r->start, '\n', r->end - r->start) : NULL;
        if (nl != NULL) {
            *line = r->buf + r->start;
            *len = (size_t)(nl - *line);
            r->start = (size_t)(nl - r->buf) + 1;
            return 1;
        }
        if (r->eof) {
            if (r->end == r->start) return -1;
            *line = r->buf + r->start;
            *len = r->end - r->start;
            r->start = r->end;
            return 1;
        }
        int got = read_some(r);
        if (got <= 0) return got;
    }
}

/* Counts the non-blank lines of a regular file from its current offset (read with pread);
 * -1 when it is not a regular file. */
long long count_lines(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    off_t offset = lseek(fd, 0, SEEK_CUR);
    if (offset < 0) return -1;
    char buf[65536];
    long long count = 0;
    int blank = 1;
    ssize_t n;
    /* A byte order mark at the start is not a line's content (as in the batch loop). */
    if (pread(fd, buf, 3, offset) == 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) offset += 3;
    while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n') {
                if (!blank) count++;
                blank = 1;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                blank = 0;
            }
        }
        offset += n;
    }
    if (n < 0) return -1;
    return blank ? count : count + 1;
}

/* Writes an envelope as one line (the bytes of a server's body may hold newlines, which are
 * whitespace in JSON: written as spaces). */
int trim_line(long line_no, char **line, size_t *len) {
    if (line_no == 1 && *len >= 3 && memcmp(*line, "\xEF\xBB\xBF", 3) == 0) {
        *line += 3;
        *len -= 3;
    }
    if (is_blank(*line, *len)) return 0;
    while (*len > 0 && (*line)[*len - 1] == '\r') (*len)--;
    return 1;
}

/* With --output: 1 when the line is to be sent; 0 when OUT.partial has its result (a failure is
 * sent again with --retry-failed) or when the line changed (the run stops). */
