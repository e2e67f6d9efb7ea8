/*
 * blocking.c — one completion, the simplest way: hl_complete waits for the answer.
 * Reads the envelope with jansson (any JSON library will do).
 *
 *   HUMANLOOP_API_KEY=... ./blocking        (HUMANLOOP_HOST selects another server)
 *
 * Build: cc -std=c99 -Iinclude examples/c/blocking.c -Lbuild/lib -lhumanloop -ljansson \
 *           -Wl,-rpath,$PWD/build/lib -o blocking
 */
#include <stdio.h>
#include <jansson.h>
#include "humanloop.h"

int main(void) {
    char *error = NULL;
    /* NULL config: the API key and host come from HUMANLOOP_API_KEY / HUMANLOOP_HOST. */
    hl_client *client = hl_client_new(NULL, &error);
    if (client == NULL) {
        fprintf(stderr, "cannot create the client: %s\n", error);
        hl_free(error);
        return 1;
    }

    const char *request =
        "{\"project\":\"libhumanloop-example\","
        "\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\","
        "\"temperature\":0.7,\"max_tokens\":-1},"
        "\"inputs\":{\"question\":\"What do llamas eat?\"}}";

    char *text = hl_complete(client, request);     /* an envelope; NULL only when out of memory */
    if (text == NULL) {
        hl_client_free(client);
        return 1;
    }
    json_t *envelope = json_loads(text, 0, NULL);
    int ok = json_is_true(json_object_get(envelope, "ok"));
    if (ok) {
        json_t *first = json_array_get(json_object_get(json_object_get(envelope, "body"), "data"), 0);
        printf("status %d after %.3f s: %s\n",
               (int)json_integer_value(json_object_get(envelope, "status")),
               json_number_value(json_object_get(envelope, "round_trip_time")),
               json_string_value(json_object_get(first, "output")));
    } else {
        json_t *e = json_object_get(envelope, "error");
        fprintf(stderr, "%s: %s\n", json_string_value(json_object_get(e, "type")),
                json_string_value(json_object_get(e, "message")));
    }
    json_decref(envelope);
    hl_free(text);
    hl_client_free(client);
    return ok ? 0 : 2;
}
