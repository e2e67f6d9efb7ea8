/* hl complete, complete-deployed, ...: one call, blocking or streamed. */
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

/* ---- the calls ---------------------------------------------------------------------------------- */

static int run_blocking(const struct command *cmd, hl_client *client, const char *request, int json_out) {
    char *text = cmd->call(client, request);
    if (text == NULL) return out_of_memory();
    json_t *envelope = load_envelope(text);
    int ok = envelope != NULL ? json_is_true(json_object_get(envelope, "ok"))
                              : strncmp(text, "{\"ok\":true", 10) == 0;
    int rc = EXIT_OK;
    if (json_out) {
        fputs(text, stdout);
        fputc('\n', stdout);
    }
    if (!ok) {
        rc = report_error(envelope);
    } else if (!json_out) {
        if (envelope == NULL) {
            fprintf(stderr, "hl: invalid_response: the answer's body could not be read as JSON\n");
            rc = EXIT_NETWORK;
        } else {
            json_t *data = json_object_get(json_object_get(envelope, "body"), "data");
            size_t n = json_array_size(data);
            for (size_t i = 0; i < n; i++) {
                json_t *item = json_array_get(data, i);
                if (n > 1) printf("[%lld] ", item_index(item, i));
                write_output(item);
                fputc('\n', stdout);
            }
        }
    }
    json_decref(envelope);
    hl_free(text);
    return finish_output(rc);
}

static int run_stream(const struct command *cmd, hl_client *client, const char *request, int json_out,
                      int several) {
    hl_stream *stream = cmd->stream(client, request);
    if (stream == NULL) return out_of_memory();
    int rc = EXIT_OK;
    int mid_line = 0; /* single-sample text printed, not yet ended by a newline */
    int ended = 0;
    char *item;
    while ((item = hl_stream_next(stream)) != NULL) {
        json_t *parsed = load_envelope(item);
        if (json_out) {
            fputs(item, stdout);
            fputc('\n', stdout);
            fflush(stdout);
        }
        int ok = parsed != NULL ? json_is_true(json_object_get(parsed, "ok"))
                                : strncmp(item, "{\"ok\":true", 10) == 0;
        if (!ok) {
            if (mid_line) {
                fputc('\n', stdout);
                mid_line = 0;
            }
            fflush(stdout);
            rc = report_error(parsed);
            ended = 1;
        } else if (parsed == NULL) {
            if (!json_out) {
                if (mid_line) fputc('\n', stdout);
                mid_line = 0;
                fflush(stdout);
                fprintf(stderr, "hl: invalid_response: a stream event could not be read as JSON\n");
                rc = EXIT_NETWORK;
                ended = 1;
            }
        } else if (json_is_true(json_object_get(parsed, "done"))) {
            ended = 1;
        } else if (!json_out) {
            json_t *data = json_object_get(json_object_get(parsed, "event"), "data");
            for (size_t i = 0; i < json_array_size(data); i++) {
                json_t *entry = json_array_get(data, i);
                json_t *output = json_object_get(entry, "output");
                if (!json_is_string(output)) continue;
                if (several) {
                    printf("[%lld] ", item_index(entry, i));
                    write_output(entry);
                    fputc('\n', stdout);
                } else if (json_string_length(output) > 0) {
                    write_output(entry);
                    mid_line = 1;
                }
            }
            fflush(stdout);
        }
        json_decref(parsed);
        hl_free(item);
        if (ended) break;
    }
    hl_stream_free(stream);
    if (!json_out && !several && rc == EXIT_OK) fputc('\n', stdout);
    else if (mid_line) fputc('\n', stdout);
    return finish_output(rc);
}

/* num_samples of the request text (1 when absent or unreadable). */
static long long requested_samples(const char *request) {
    json_t *req = json_loads(request, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
    json_t *n = json_object_get(req, "num_samples");
    long long samples = json_is_number(n) && json_number_value(n) >= 1 ? (long long)json_number_value(n) : 1;
    json_decref(req);
    return samples;
}

int run_command(const struct command *cmd, int argc, char **argv) {
    struct options o;
    int rc = parse_options(cmd, argc, argv, 2, &o);
    if (rc == EXIT_OK && o.help) {
        print_command_help(stdout, cmd);
        rc = finish_output(EXIT_OK);
        free(o.inputs);
        return rc;
    }
    char *request = NULL;
    if (rc == EXIT_OK) rc = build_request(cmd, &o, &request);
    if (rc != EXIT_OK) {
        free(o.inputs);
        free(request);
        return rc;
    }
    hl_client *client = make_client(&o, &rc);
    if (client != NULL) {
        if (o.stream) rc = run_stream(cmd, client, request, o.json, requested_samples(request) > 1);
        else rc = run_blocking(cmd, client, request, o.json);
        hl_client_free(client);
    }
    free(request);
    free(o.inputs);
    return rc;
}

