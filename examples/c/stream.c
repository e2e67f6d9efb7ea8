/*
 * stream.c — stream a completion: print the text of each event as it arrives.
 *
 *   HUMANLOOP_API_KEY=... ./stream
 *
 * Build: cc -std=c99 -Iinclude examples/c/stream.c -Lbuild/lib -lhumanloop -ljansson \
 *           -Wl,-rpath,$PWD/build/lib -o stream
 */
#include <stdio.h>
#include <jansson.h>
#include "humanloop.h"

int main(void) {
    const char *request =
        "{\"project\":\"libhumanloop-example\","
        "\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"{{question}}\"},"
        "\"inputs\":{\"question\":\"Tell me about llamas.\"}}";

    /* NULL client: the shared default client built from the environment. */
    hl_stream *stream = hl_complete_stream(NULL, request);
    if (stream == NULL) return 1;           /* only when memory is exhausted */

    int ok = 0;
    char *text;
    /* Items: {"ok":true,"event":{...}} per event, then one terminal item ("done" or an error). */
    while ((text = hl_stream_next(stream)) != NULL) {
        json_t *item = json_loads(text, 0, NULL);
        json_t *event = json_object_get(item, "event");
        if (event != NULL) {
            json_t *data = json_array_get(json_object_get(event, "data"), 0);
            fputs(json_string_value(json_object_get(data, "output")), stdout);
            fflush(stdout);
        } else if (json_is_true(json_object_get(item, "done"))) {
            printf("\n(%d events)\n", (int)json_integer_value(json_object_get(item, "events")));
            ok = 1;
        } else {
            json_t *e = json_object_get(item, "error");
            fprintf(stderr, "\n%s: %s\n", json_string_value(json_object_get(e, "type")),
                    json_string_value(json_object_get(e, "message")));
        }
        json_decref(item);
        hl_free(text);
    }
    hl_stream_free(stream);
    return ok ? 0 : 2;
}
