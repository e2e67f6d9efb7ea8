/*
 * errors.c — every failure arrives as an envelope {"ok":false,"error":{"type":...}}: one switch on
 * error.type handles them all. Provokes invalid_config, invalid_request, api_error,
 * connection_error and cancelled (timeout and invalid_response are handled the same way).
 *
 *   HUMANLOOP_API_KEY=... HUMANLOOP_HOST=http://127.0.0.1:PORT/v4 ./errors
 *
 * Build: cc -std=c99 -Iinclude examples/c/errors.c -Lbuild/lib -lhumanloop -ljansson \
 *           -Wl,-rpath,$PWD/build/lib -o errors
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "humanloop.h"

/* Prints what a program would do with each kind of failure; returns the type seen. */
static const char *handle(const char *what, char *text) {
    static char type_seen[64];
    json_t *envelope = json_loads(text, 0, NULL);
    json_t *error = json_object_get(envelope, "error");
    const char *type = json_is_true(json_object_get(envelope, "ok")) ? "ok"
                                                                     : json_string_value(json_object_get(error, "type"));
    const char *message = json_string_value(json_object_get(error, "message"));
    printf("%-34s -> %s\n", what, type);
    if (strcmp(type, "invalid_request") == 0 || strcmp(type, "invalid_config") == 0) {
        /* our mistake; nothing was sent. "errors" lists every problem with its path */
        json_t *problem;
        size_t i;
        json_array_foreach(json_object_get(error, "errors"), i, problem)
            printf("    %s: %s\n", json_string_value(json_object_get(problem, "path")),
                   json_string_value(json_object_get(problem, "message")));
    } else if (strcmp(type, "api_error") == 0) {
        /* the server said no: status, reason, body (retried already when 408/409/429/5xx) */
        printf("    status %d, %s\n", (int)json_integer_value(json_object_get(error, "status")), message);
    } else if (strcmp(type, "connection_error") == 0 || strcmp(type, "timeout") == 0 ||
               strcmp(type, "invalid_response") == 0) {
        printf("    %s (after %d attempts)\n", message,
               (int)json_integer_value(json_object_get(envelope, "attempts")));
    } else if (strcmp(type, "cancelled") == 0) {
        printf("    %s\n", message);
    }
    snprintf(type_seen, sizeof type_seen, "%s", type);
    json_decref(envelope);
    hl_free(text);
    return type_seen;
}

int main(void) {
    const char *host = getenv("HUMANLOOP_HOST");
    if (host == NULL) host = "https://api.humanloop.com/v4";
    int wrong = 0;

    /* invalid_config: hl_client_new fails and says why, every problem at once */
    char *error = NULL;
    hl_client *bad = hl_client_new("{\"host\":\"ftp://example.com\",\"timeout\":-1}", &error);
    if (bad == NULL) wrong += strcmp(handle("hl_client_new(bad configuration)", error), "invalid_config") != 0;

    hl_client *client = hl_client_new("{\"max_retries\":0}", &error);
    if (client == NULL) {
        handle("hl_client_new", error);
        return 1;
    }

    /* invalid_request: checked before anything is sent */
    wrong += strcmp(handle("complete without model_config",
                           hl_complete(client, "{\"project\":\"p\",\"num_samples\":\"two\"}")),
                    "invalid_request") != 0;

    /* api_error: a path the server does not have (here: the host with /v5 instead of /v4) */
    char wrong_host[512];
    snprintf(wrong_host, sizeof wrong_host, "{\"host\":\"%.*s/v5\",\"max_retries\":0}",
             (int)(strlen(host) > 3 ? strlen(host) - 3 : 0), host);
    hl_client *v5 = hl_client_new(wrong_host, NULL);
    if (v5 != NULL) {
        wrong += strcmp(handle("a wrong URL", hl_complete_deployed(v5, "{\"project\":\"p\"}")), "api_error") != 0;
        hl_client_free(v5);
    }

    /* connection_error: nothing listens on port 1 */
    hl_client *nowhere = hl_client_new("{\"host\":\"http://127.0.0.1:1/v4\",\"max_retries\":0}", NULL);
    if (nowhere != NULL) {
        wrong += strcmp(handle("nothing listening", hl_complete_deployed(nowhere, "{\"project\":\"p\"}")),
                        "connection_error") != 0;
        hl_client_free(nowhere);
    }

    /* cancelled: hl_stream_cancel (from any thread) ends a stream with a "cancelled" item */
    hl_stream *stream = hl_complete_deployed_stream(client, "{\"project\":\"p\"}");
    hl_stream_cancel(stream);
    char *item, *last = NULL;
    while ((item = hl_stream_next(stream)) != NULL) {
        hl_free(last);
        last = item;
    }
    hl_stream_free(stream);
    if (last != NULL) wrong += strcmp(handle("a cancelled stream", last), "cancelled") != 0;

    hl_client_free(client);
    return wrong == 0 ? 0 : 2;
}
