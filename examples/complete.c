/*
 * complete.c — the smallest useful libhumanloop program: one completion, envelope printed.
 *
 *   HUMANLOOP_API_KEY=... ./complete            (HUMANLOOP_HOST selects another server)
 *
 * Build: cc -std=c99 -Iinclude examples/complete.c -Lbuild/lib -lhumanloop -Wl,-rpath,build/lib
 */
#include <stdio.h>
#include <string.h>
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

    char *envelope = hl_complete(client, request);
    if (envelope == NULL) {                 /* only when memory is exhausted */
        hl_client_free(client);
        return 1;
    }
    printf("%s\n", envelope);
    int ok = strncmp(envelope, "{\"ok\":true", 10) == 0;
    hl_free(envelope);
    hl_client_free(client);
    return ok ? 0 : 2;
}
