/* What hl writes: the envelopes, the generated text, the errors on stderr. */
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

#include "hl.h"

/* ---- small helpers ------------------------------------------------------------------------- */

int usage_error(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "hl: ");
    if (cmd != NULL) fprintf(stderr, "%s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see hl %s%s--help)\n", cmd != NULL ? cmd : "", cmd != NULL ? " " : "");
    return EXIT_USAGE;
}

int out_of_memory(void) {
    fprintf(stderr, "hl: out of memory\n");
    return EXIT_OTHER;
}

/* Writes s (n bytes) to f as one line's worth of text: control characters become spaces. */
void write_one_line(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 0x20 || c == 0x7f ? ' ' : (int)c, f);
    }
}

/* ---- envelopes --------------------------------------------------------------------------------- */

json_t *load_envelope(const char *text) {
    /* Integers read as reals: a body may carry integers wider than 64 bits (byte-exact). */
    return json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
}

static int exit_code_for(const char *type) {
    if (strcmp(type, "invalid_request") == 0 || strcmp(type, "invalid_config") == 0) return EXIT_USAGE;
    if (strcmp(type, "api_error") == 0) return EXIT_API;
    if (strcmp(type, "connection_error") == 0 || strcmp(type, "timeout") == 0 ||
        strcmp(type, "invalid_response") == 0)
        return EXIT_NETWORK;
    return EXIT_OTHER;
}

/* The server's own words from an api_error body: {"detail": "..."}, {"message": ...}, text. */
static void print_server_detail(json_t *body) {
    const char *detail = NULL;
    size_t len = 0;
    if (json_is_string(body)) {
        detail = json_string_value(body);
        len = json_string_length(body);
    } else if (json_is_object(body)) {
        static const char *const KEYS[] = {"detail", "message", "msg", "error"};
        for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0] && detail == NULL; i++) {
            json_t *v = json_object_get(body, KEYS[i]);
            if (json_is_array(v)) v = json_object_get(json_array_get(v, 0), "msg"); /* FastAPI's 422 */
            if (json_is_object(v)) v = json_object_get(v, "message");
            if (json_is_string(v)) {
                detail = json_string_value(v);
                len = json_string_length(v);
            }
        }
    }
    while (len > 0 && (detail[0] == ' ' || detail[0] == '\n' || detail[0] == '\r' || detail[0] == '\t')) {
        detail++;
        len--;
    }
    if (detail == NULL || len == 0) return;
    fputs(" (", stderr);
    if (len > 300) {
        write_one_line(stderr, detail, 300);
        fputs("...", stderr);
    } else {
        write_one_line(stderr, detail, len);
    }
    fputs(")", stderr);
}

/* After an api_error's message on stderr: its status (unless the message already says it) and
 * the server's detail. */
static void print_api_error_detail(json_t *error, json_t *message)
{
    json_t *status = json_object_get(error, "status");
    if (json_is_number(status)) {
        char digits[32];
        snprintf(digits, sizeof digits, "%.0f", json_number_value(status));
        if (!json_is_string(message) || strstr(json_string_value(message), digits) == NULL)
            fprintf(stderr, " (status %s)", digits);
    }
    print_server_detail(json_object_get(error, "body"));
}

/* Prints "hl: <type>: <message>" for an error envelope (already parsed, or NULL) and returns its
 * exit code. */
int report_error(json_t *envelope) {
    json_t *error = json_object_get(envelope, "error");
    const char *type = json_string_value(json_object_get(error, "type"));
    json_t *message = json_object_get(error, "message");
    if (type == NULL) {
        fprintf(stderr, "hl: the library returned an unreadable envelope\n");
        return EXIT_OTHER;
    }
    fprintf(stderr, "hl: ");
    write_one_line(stderr, type, strlen(type));
    fputs(": ", stderr);
    if (json_is_string(message)) write_one_line(stderr, json_string_value(message), json_string_length(message));
    else fputs("(no message)", stderr);
    if (strcmp(type, "api_error") == 0) print_api_error_detail(error, message);
    fputc('\n', stderr);
    return exit_code_for(type);
}

/* Writes one data item's output. */
void write_output(json_t *item) {
    json_t *output = json_object_get(item, "output");
    if (json_is_string(output)) fwrite(json_string_value(output), 1, json_string_length(output), stdout);
}

long long item_index(json_t *item, size_t position) {
    json_t *index = json_object_get(item, "index");
    return json_is_number(index) ? (long long)json_number_value(index) : (long long)position;
}

int finish_output(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "hl: cannot write the output: %s\n", strerror(errno));
        return rc == EXIT_OK ? EXIT_OTHER : rc;
    }
    return rc;
}

int envelope_is_ok(const char *text) { return strncmp(text, "{\"ok\":true", 10) == 0; }
int write_envelope_line(const char *text) {
    for (const char *p = text; *p != '\0'; p++) putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
    putchar('\n');
    return fflush(stdout) == 0 && !ferror(stdout);
}

/* One line on stderr for a failed line: "hl: batch: line N: <type>: <message>". */
void report_line_error(long line, const char *text) {
    json_t *env = load_envelope(text);
    json_t *error = json_object_get(env, "error");
    const char *type = json_string_value(json_object_get(error, "type"));
    json_t *message = json_object_get(error, "message");
    fprintf(stderr, "hl: batch: line %ld: ", line);
    if (type == NULL) {
        fputs("the library returned an unreadable envelope\n", stderr);
    } else {
        write_one_line(stderr, type, strlen(type));
        fputs(": ", stderr);
        if (json_is_string(message)) {
            /* hl's own envelopes say "line N: ..." already. */
            const char *text = json_string_value(message);
            size_t len = json_string_length(message);
            char prefix[48];
            int n = snprintf(prefix, sizeof prefix, "line %ld: ", line);
            if (n > 0 && (size_t)n <= len && strncmp(text, prefix, (size_t)n) == 0) {
                text += n;
                len -= (size_t)n;
            }
            write_one_line(stderr, text, len);
        }
        if (strcmp(type, "api_error") == 0) print_api_error_detail(error, message);
        fputc('\n', stderr);
    }
    json_decref(env);
}

