/*
 * stream.c — stream a completion: print each event as it arrives, then the terminal item.
 *
 *   HUMANLOOP_API_KEY=... ./stream
 */
#include <stdio.h>
#include <string.h>
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
    char *item;
    while ((item = hl_stream_next(stream)) != NULL) {
        printf("%s\n", item);
        if (strstr(item, "\"done\":true") != NULL) ok = 1;
        hl_free(item);
    }
    hl_stream_free(stream);
    return ok ? 0 : 2;
}
