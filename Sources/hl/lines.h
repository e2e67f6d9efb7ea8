/* The input of hl batch, line by line, never blocking. */
#ifndef HL_LINES_H
#define HL_LINES_H

#include <stddef.h>

/* The input, read with read(2) when poll(2) says so: the main thread never blocks on it (a
 * slow pipe does not hold back the output, the progress line or Ctrl-C). */
struct line_reader {
    int fd;
    char *buf;
    size_t start, end, cap;
    int eof;
};


/* Input read ahead of the calls, up to this much: so that the total (for the progress line) is
 * known as soon as the input has ended, also from a pipe. */
#define READ_AHEAD ((size_t)64 << 20)

int is_blank(const char *s, size_t n);
int read_some(struct line_reader *r);
int read_ahead(struct line_reader *r);
long long buffered_lines(const struct line_reader *r);
int read_line(struct line_reader *r, char **line, size_t *len);
long long count_lines(int fd);
int trim_line(long line_no, char **line, size_t *len);

#endif
