/*
 * batch.c — many calls at once with hl_batch: at most "concurrency" in flight, the results in
 * request order, a bad item gets its own error and the others run.
 *
 *   HUMANLOOP_API_KEY=... ./batch
 *
 * Build: cc -std=c99 -Iinclude examples/c/batch.c -Lbuild/lib -lhumanloop -ljansson \
 *           -Wl,-rpath,$PWD/build/lib -o batch
 */
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>
#include "humanloop.h"

int main(void) {
    /* Build the batch with jansson: 20 questions, and one item with a bad request. */
    json_t *requests = json_array();
    for (int i = 0; i < 20; i++) {
        char question[32];
        snprintf(question, sizeof question, "question %d", i);
        json_array_append_new(requests, json_pack("{s:s,s:{s:s,s:{s:s}},s:{s:i}}", "call", "complete_deployed",
                                                  "request", "project", "libhumanloop-example", "inputs",
                                                  "question", question, "options", "max_retries", 1));
    }
    json_array_append_new(requests, json_pack("{s:s,s:{s:s}}", "call", "complete", "request", "project", "x"));
    json_t *batch = json_pack("{s:i,s:o}", "concurrency", 5, "requests", requests);
    char *batch_text = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);

    char *text = hl_batch(NULL, batch_text);    /* NULL: the default client (HUMANLOOP_API_KEY) */
    free(batch_text);
    if (text == NULL) return 1;
    json_t *result = json_loads(text, 0, NULL);
    hl_free(text);
    if (!json_is_true(json_object_get(result, "ok"))) {   /* the batch as a whole was malformed */
        fprintf(stderr, "the batch was refused\n");
        json_decref(result);
        return 2;
    }
    size_t index, succeeded = 0;
    json_t *envelope;
    json_array_foreach(json_object_get(result, "results"), index, envelope) {
        json_t *data = json_array_get(json_object_get(json_object_get(envelope, "body"), "data"), 0);
        if (json_is_true(json_object_get(envelope, "ok"))) {
            succeeded++;
            printf("%2zu ok     %s\n", index,
                   json_string_value(json_object_get(json_object_get(data, "inputs"), "question")));
        } else {
            json_t *e = json_object_get(envelope, "error");
            printf("%2zu failed %s: %s\n", index, json_string_value(json_object_get(e, "type")),
                   json_string_value(json_object_get(e, "message")));
        }
    }
    printf("%zu of %zu succeeded\n", succeeded, json_array_size(json_object_get(result, "results")));
    json_decref(result);
    return succeeded == 20 ? 0 : 2;   /* the 21st item is bad on purpose */
}
