/* One input line of hl batch as an item of a batch, or its own error envelope. */
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
#include "batch.h"

/* The call names, the commands' and the library's, each with the library's name (the "call" of
 * an item of hl_batch_submit). */
static const struct {
    const char *name;
    const char *call;
} CALL_NAMES[] = {
    {"complete", "complete"},
    {"complete-deployed", "complete_deployed"},
    {"complete_deployed", "complete_deployed"},
    {"complete-experiment", "complete_experiment"},
    {"complete_experiment", "complete_experiment"},
    {"complete-model-config", "complete_model_configuration"},
    {"complete_model_config", "complete_model_configuration"},
    {"complete-model-configuration", "complete_model_configuration"},
    {"complete_model_configuration", "complete_model_configuration"},
};

const char *library_call_name(const char *name) {
    for (size_t i = 0; i < sizeof CALL_NAMES / sizeof CALL_NAMES[0]; i++)
        if (strcmp(name, CALL_NAMES[i].name) == 0) return CALL_NAMES[i].call;
    return NULL;
}

/* One request line of the batch. */

/* An invalid_request envelope of hl's own for a malformed line (malloc'ed; NULL when out of
 * memory). path may be "" (the line as a whole). */
char *line_error(long line, const char *path, const char *message) {
    char full[512];
    snprintf(full, sizeof full, "line %ld: %s", line, message);
    json_t *env = json_pack("{s:b,s:{s:s,s:s,s:s,s:[{s:s,s:s}],s:I},s:i}", "ok", 0, "error", "type",
                            "invalid_request", "message", full, "path", path, "errors", "path", path,
                            "message", message, "line", (json_int_t)line, "attempts", 0);
    char *text = env != NULL ? json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(env);
    return text;
}

/* One input line as an item of a batch, {"call":...,"request":{...},"options":{...}}, as
 * compact JSON (malloc'ed) in *item: EXIT_OK. A line hl cannot take as a request gets its own
 * invalid_request envelope in *error (malloc'ed): EXIT_USAGE. Out of memory: EXIT_OTHER. Whether
 * the request itself is valid is the library's to say (in the line's result). */
int prepare_item(const char *text, size_t len, long line, const char *default_call, char **item,
                 char **error) {
    *item = NULL;
    *error = NULL;
    char message[400];
    static char key_path[128];
    if (memchr(text, '\0', len) != NULL) {
        *error = line_error(line, "", "the line contains a NUL byte");
        return *error != NULL ? EXIT_USAGE : EXIT_OTHER;
    }
    json_error_t err;
    json_t *value = json_loadb(text, len, 0, &err);
    if (value == NULL) {
        snprintf(message, sizeof message, "not valid JSON: %s (column %d)", err.text, err.column);
        *error = line_error(line, "", message);
        return *error != NULL ? EXIT_USAGE : EXIT_OTHER;
    }
    const char *bad_path = "", *bad_message = NULL, *call_name = default_call;
    json_t *request = NULL, *options = NULL;
    if (!json_is_object(value)) {
        bad_message = "not a JSON object (a request, or {\"call\":...,\"request\":{...},\"options\":{...}})";
    } else if (json_object_get(value, "request") == NULL) {
        request = value; /* a bare request */
    } else {
        const char *key;
        json_t *member;
        json_object_foreach(value, key, member) {
            if (strcmp(key, "call") != 0 && strcmp(key, "request") != 0 && strcmp(key, "options") != 0) {
                snprintf(message, sizeof message,
                         "unknown key \"%.100s\" (an item has \"call\", \"request\" and \"options\")", key);
                snprintf(key_path, sizeof key_path, "%s", key);
                bad_path = key_path;
                bad_message = message;
                break;
            }
        }
        json_t *call = json_object_get(value, "call");
        request = json_object_get(value, "request");
        options = json_object_get(value, "options");
        if (bad_message != NULL) {
            /* already said */
        } else if (call != NULL && !json_is_string(call)) {
            bad_path = "call";
            bad_message = "\"call\" is not a string";
        } else if (call != NULL && library_call_name(json_string_value(call)) == NULL) {
            bad_path = "call";
            snprintf(message, sizeof message,
                     "unknown call \"%.100s\": one of complete, complete_deployed, complete_experiment, "
                     "complete_model_configuration (or the hl command names)",
                     json_string_value(call));
            bad_message = message;
        } else if (!json_is_object(request)) {
            bad_path = "request";
            bad_message = "\"request\" is not a JSON object";
        } else if (options != NULL && !json_is_null(options) && !json_is_object(options)) {
            bad_path = "options";
            bad_message = "\"options\" is not a JSON object";
        } else if (json_is_object(options) && json_object_get(options, "stream") != NULL) {
            bad_path = "options.stream";
            bad_message = "hl batch writes one envelope per line: put \"stream\": true in the request "
                          "instead (the answer is then streamed and merged)";
        } else if (call != NULL) {
            call_name = library_call_name(json_string_value(call));
        }
    }
    int rc = EXIT_OK;
    if (bad_message != NULL) {
        *error = line_error(line, bad_path, bad_message);
        rc = *error != NULL ? EXIT_USAGE : EXIT_OTHER;
    } else {
        json_t *out = json_pack("{s:s,s:O}", "call", call_name, "request", request);
        if (out != NULL && json_is_object(options) && json_object_set(out, "options", options) != 0) {
            json_decref(out);
            out = NULL;
        }
        *item = out != NULL ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(out);
        if (*item == NULL) rc = EXIT_OTHER;
    }
    json_decref(value);
    return rc;
}
