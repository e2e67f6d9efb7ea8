/*
 * The checkpoint of `hl batch --output OUT` (OUT.partial): see checkpoint.h for the format.
 * C99 + POSIX; jansson checks the records.
 */
#define _POSIX_C_SOURCE 200809L

#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define RESULT_KEY ",\"result\":"

uint64_t ck_hash(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static char *joined(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s == NULL) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

/* Makes room for line numbers up to line. 0, or -1 when out of memory. */
static int grow(struct checkpoint *ck, long line) {
    if ((size_t)line < ck->cap) return 0;
    size_t cap = ck->cap == 0 ? 1024 : ck->cap;
    while (cap <= (size_t)line) cap *= 2;
    struct ck_line *bigger = realloc(ck->lines, cap * sizeof *bigger);
    if (bigger == NULL) return -1;
    memset(bigger + ck->cap, 0, (cap - ck->cap) * sizeof *bigger);
    ck->lines = bigger;
    ck->cap = cap;
    return 0;
}

/* Keeps what a record says about its line. -1 when out of memory. */
static int remember(struct checkpoint *ck, long line, uint64_t hash, off_t offset, size_t length, int state) {
    if (grow(ck, line) != 0) return -1;
    struct ck_line *l = &ck->lines[line];
    if (l->state != CK_NONE) ck->results--;
    if (state != CK_NONE) ck->results++;
    l->hash = hash;
    l->offset = offset;
    l->length = length;
    l->state = (unsigned char)state;
    if (state != CK_NONE && line > ck->max_line) ck->max_line = line;
    return 0;
}

static int state_of(json_t *result) {
    if (json_is_true(json_object_get(result, "ok"))) return CK_OK;
    const char *type = json_string_value(json_object_get(json_object_get(result, "error"), "type"));
    return type != NULL && strcmp(type, "cancelled") == 0 ? CK_NONE : CK_FAILED;
}

/* Reads one record (text without its newline). 1 with the fields set, 0 when it is no record. */
static int parse_record(const char *text, size_t len, long *line, uint64_t *hash, size_t *env_start,
                        int *state) {
    const char *key = len > 10 && text[len - 1] == '}' ? strstr(text, RESULT_KEY) : NULL;
    if (key == NULL || strncmp(text, "{\"line\":", 8) != 0) return 0;
    json_t *rec = json_loadb(text, len, 0, NULL);
    json_t *n = json_object_get(rec, "line"), *h = json_object_get(rec, "hash");
    json_t *result = json_object_get(rec, "result");
    const char *hex = json_string_value(h);
    char *end = NULL;
    int ok = json_is_integer(n) && json_integer_value(n) >= 1 && json_integer_value(n) <= LONG_MAX / 2 &&
             hex != NULL && strlen(hex) == 16 && json_is_object(result) &&
             json_is_boolean(json_object_get(result, "ok"));
    if (ok) {
        errno = 0;
        *hash = strtoull(hex, &end, 16);
        ok = errno == 0 && end == hex + 16;
        *line = (long)json_integer_value(n);
        *env_start = (size_t)(key - text) + strlen(RESULT_KEY);
        *state = state_of(result);
    }
    json_decref(rec);
    return ok;
}

/* Moves the unread bytes to the start of the buffer (growing it when full) and reads more. */
static int read_more(struct checkpoint *ck, char **buf, size_t *cap, size_t *start, size_t *have, off_t pos) {
    memmove(*buf, *buf + *start, *have - *start);
    *have -= *start;
    *start = 0;
    if (*have == *cap) {
        char *bigger = realloc(*buf, *cap * 2);
        if (bigger == NULL) return CK_IO_ERROR;
        *buf = bigger;
        *cap *= 2;
    }
    ssize_t n = pread(ck->fd, *buf + *have, *cap - *have, pos + (off_t)*have);
    if (n < 0 && errno == EINTR) return CK_OPENED;
    if (n <= 0) {
        if (n == 0) errno = EIO; /* shorter than it was */
        return CK_IO_ERROR;
    }
    *have += (size_t)n;
    return CK_OPENED;
}

/* Reads OUT.partial through ck->fd (never closing a descriptor of it: that would drop the
 * lock) in chunks: every whole record; a torn last one is left out of ck->size. */
static int load(struct checkpoint *ck, off_t file_size) {
    size_t cap = 65536, start = 0, have = 0; /* buf[start, have): bytes from offset pos */
    char *buf = malloc(cap);
    off_t pos = 0;
    long record_no = 0;
    int rc = buf != NULL ? CK_OPENED : CK_IO_ERROR;
    while (rc == CK_OPENED) {
        char *nl = memchr(buf + start, '\n', have - start);
        if (nl == NULL) {
            if (pos + (off_t)(have - start) >= file_size) break; /* the end: what is left is torn */
            rc = read_more(ck, &buf, &cap, &start, &have, pos);
            continue;
        }
        size_t len = (size_t)(nl - (buf + start));
        long line;
        uint64_t hash;
        size_t env;
        int state;
        record_no++;
        if (!parse_record(buf + start, len, &line, &hash, &env, &state)) {
            if (pos + (off_t)len + 1 >= file_size) break; /* the last record, torn: ignored */
            fprintf(stderr, "hl: batch: %s: line %ld is not a record of hl batch: remove the file to start over\n",
                    ck->partial, record_no);
            rc = CK_BAD_FILE;
        } else if (remember(ck, line, hash, pos + (off_t)env, len - env - 1, state) != 0) {
            rc = CK_IO_ERROR;
        }
        start += len + 1;
        pos += (off_t)len + 1;
    }
    if (rc == CK_IO_ERROR) fprintf(stderr, "hl: batch: cannot read %s: %s\n", ck->partial, strerror(errno));
    free(buf);
    ck->size = pos;
    return rc;
}

int ck_open(struct checkpoint *ck, const char *out) {
    memset(ck, 0, sizeof *ck);
    ck->fd = -1;
    ck->out = joined(out, "");
    ck->partial = joined(out, ".partial");
    if (ck->out == NULL || ck->partial == NULL) {
        fprintf(stderr, "hl: out of memory\n");
        return CK_IO_ERROR;
    }
    struct stat st;
    if (stat(ck->partial, &st) != 0 && stat(ck->out, &st) == 0) return CK_COMPLETE;
    ck->fd = open(ck->partial, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (ck->fd < 0) {
        fprintf(stderr, "hl: batch: cannot write %s: %s\n", ck->partial, strerror(errno));
        return CK_IO_ERROR;
    }
    /* One hl batch at a time per OUT: a lock on OUT.partial (released when hl exits). */
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(ck->fd, F_SETLK, &lock) != 0) {
        fprintf(stderr, "hl: batch: %s is in use by another hl batch (%s)\n", ck->partial, strerror(errno));
        return CK_BAD_FILE;
    }
    int rc = fstat(ck->fd, &st) == 0 ? load(ck, st.st_size) : CK_IO_ERROR;
    if (rc != CK_OPENED || ck->size >= st.st_size) return rc;
    fprintf(stderr, "hl: batch: %s: a torn last record (%lld bytes) was ignored\n", ck->partial,
            (long long)(st.st_size - ck->size));
    if (ftruncate(ck->fd, ck->size) != 0) {
        fprintf(stderr, "hl: batch: cannot truncate %s: %s\n", ck->partial, strerror(errno));
        return CK_IO_ERROR;
    }
    return CK_OPENED;
}

const struct ck_line *ck_get(const struct checkpoint *ck, long line) {
    if (line < 1 || (size_t)line >= ck->cap || ck->lines[line].state == CK_NONE) return NULL;
    return &ck->lines[line];
}

/* write(2) of the whole buffer: one call unless it is short. */
static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ck_append(struct checkpoint *ck, long line, uint64_t hash, const char *envelope) {
    char head[80];
    int hn = snprintf(head, sizeof head, "{\"line\":%ld,\"hash\":\"%016" PRIx64 "\"" RESULT_KEY, line, hash);
    size_t elen = strlen(envelope), total = (size_t)hn + elen + 2;
    char *rec = malloc(total);
    if (rec == NULL) return -1;
    memcpy(rec, head, (size_t)hn);
    for (size_t i = 0; i < elen; i++) rec[hn + i] = envelope[i] == '\n' || envelope[i] == '\r' ? ' ' : envelope[i];
    memcpy(rec + hn + elen, "}\n", 2);
    int rc = write_all(ck->fd, rec, total);
    free(rec);
    if (rc != 0) return -1;
    int state = strncmp(envelope, "{\"ok\":true", 10) == 0 ? CK_OK : CK_FAILED;
    rc = remember(ck, line, hash, ck->size + hn, elen, state);
    ck->size += (off_t)total;
    if (rc != 0) errno = ENOMEM;
    return rc;
}

/* Copies each line's envelope from OUT.partial to f, in line order, one line each. */
static int copy_results(const struct checkpoint *ck, FILE *f) {
    int fd = open(ck->partial, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t cap = 0;
    int rc = fd >= 0 ? 0 : -1;
    for (long line = 1; line <= ck->max_line && rc == 0; line++) {
        const struct ck_line *l = ck_get(ck, line);
        if (l == NULL) continue;
        if (l->length + 1 > cap) {
            char *bigger = realloc(buf, l->length + 1);
            if (bigger == NULL) {
                rc = -1;
                break;
            }
            buf = bigger;
            cap = l->length + 1;
        }
        buf[l->length] = '\n';
        if (pread(fd, buf, l->length, l->offset) != (ssize_t)l->length ||
            fwrite(buf, 1, l->length + 1, f) != l->length + 1)
            rc = -1;
    }
    if (fd >= 0) close(fd);
    free(buf);
    return rc;
}

int ck_finish(struct checkpoint *ck) {
    char suffix[40];
    snprintf(suffix, sizeof suffix, ".tmp.%ld", (long)getpid());
    char *tmp = joined(ck->out, suffix);
    FILE *f = tmp != NULL ? fopen(tmp, "w") : NULL;
    int rc = f != NULL ? copy_results(ck, f) : -1;
    if (f != NULL && (fflush(f) != 0 || fsync(fileno(f)) != 0)) rc = -1;
    if (f != NULL && fclose(f) != 0) rc = -1;
    if (rc == 0 && rename(tmp, ck->out) != 0) rc = -1;
    if (rc != 0) {
        fprintf(stderr, "hl: batch: cannot write %s: %s (the results stay in %s)\n", ck->out, strerror(errno),
                ck->partial);
        if (tmp != NULL) unlink(tmp);
    } else if (unlink(ck->partial) != 0) {
        fprintf(stderr, "hl: batch: cannot remove %s: %s\n", ck->partial, strerror(errno));
        rc = -1;
    }
    free(tmp);
    return rc;
}

void ck_close(struct checkpoint *ck) {
    if (ck->fd >= 0) close(ck->fd);
    free(ck->out);
    free(ck->partial);
    free(ck->lines);
    memset(ck, 0, sizeof *ck);
    ck->fd = -1;
}
