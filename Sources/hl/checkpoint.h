/*
 * The checkpoint of `hl batch FILE --output OUT`: OUT.partial, one record per finished input
 * line, appended as each line finishes (in any order), each with one write(2):
 *
 *   {"line":N,"hash":"<16 hex digits>","result":<the line's envelope>}\n
 *
 * N is the line's number in the input (from 1, blank lines counted); hash is FNV-1a 64 of the
 * line's bytes (without its end of line, "\n" or "\r\n", and without a UTF-8 byte order mark at
 * the start of the input) as 16 lowercase hex digits; the envelope is on one line (newlines of a
 * server's body written as spaces), as hl batch writes it to standard output. The keys are
 * always written in this order. A later record of a line replaces an earlier one; a record whose
 * result is "cancelled" is no result (hl never writes one). A last record without its newline
 * or that is not a record (torn by kill -9 in the middle of a write) is ignored and cut away.
 * When every line has a result, OUT is written in input order (a temporary file renamed over
 * OUT) and OUT.partial is removed.
 */
#ifndef HL_CHECKPOINT_H
#define HL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ck_state { CK_NONE = 0, CK_OK = 1, CK_FAILED = 2 };

/* What OUT.partial holds for one input line. */
struct ck_line {
    uint64_t hash;
    off_t offset;        /* of the envelope's text in OUT.partial */
    size_t length;       /* of the envelope's text */
    unsigned char state; /* enum ck_state */
};

struct checkpoint {
    char *out;             /* OUT */
    char *partial;         /* OUT.partial */
    int fd;                /* OUT.partial open for appending, or -1 */
    off_t size;            /* its length: whole records only */
    struct ck_line *lines; /* indexed by line number; lines[0] unused */
    size_t cap;
    long max_line; /* the greatest line number with a result (0: none) */
    size_t results; /* lines with a result */
};

/* Results of ck_open. */
enum { CK_OPENED = 0, CK_COMPLETE = 1, CK_BAD_FILE = 2, CK_IO_ERROR = 3 };

/* FNV-1a 64 of len bytes. */
uint64_t ck_hash(const void *data, size_t len);

/* Opens the checkpoint of OUT: reads OUT.partial when there is one (cutting away a torn last
 * record), else creates it. CK_COMPLETE: OUT exists and there is no OUT.partial (nothing is
 * opened). The errors say why on stderr. */
int ck_open(struct checkpoint *ck, const char *out);

/* The record of a line, or NULL when it has none. */
const struct ck_line *ck_get(const struct checkpoint *ck, long line);

/* Appends the record of a line with one write(2) (looping only on a short write). 0, or -1
 * with errno set. */
int ck_append(struct checkpoint *ck, long line, uint64_t hash, const char *envelope);

/* Writes OUT in line order from the records (a temporary file renamed over OUT), then removes
 * OUT.partial. 0, or -1 (the error said on stderr). */
int ck_finish(struct checkpoint *ck);

void ck_close(struct checkpoint *ck);

#endif
