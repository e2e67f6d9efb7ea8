/*
 * test_default_client_noenv.c — client NULL without HUMANLOOP_API_KEY: every call returns
 * the default client's invalid_config error, nothing is sent.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_no_env_each_endpoint(void)
{
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < TU_NENDPOINTS; i++) {
            char *raw = NULL;
            json_t *env = tu_call(TU_ENDPOINTS[i].call, NULL, TU_ENDPOINTS[i].minimal, &raw);
            CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_config") == 0, "%s: %s",
                   TU_ENDPOINTS[i].name, raw);
            free(raw);
            json_decref(env);
        }
    }
    CHECK_INT(tu_request_count(), 0);
}

static void test_no_env_stream(void)
{
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        hl_stream *s = TU_ENDPOINTS[i].stream(NULL, TU_ENDPOINTS[i].minimal);
        CHECK(s != NULL);
        char *raw = NULL;
        json_t *it = tu_next(s, &raw);
        CHECKF(tu_err_type(it) && strcmp(tu_err_type(it), "invalid_config") == 0, "%s: %s", TU_ENDPOINTS[i].name,
               raw);
        free(raw);
        json_decref(it);
        char *after = hl_stream_next(s);
        CHECK(after == NULL);
        hl_free(after);
        hl_stream_free(s);
    }
    CHECK_INT(tu_request_count(), 0);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    unsetenv("HUMANLOOP_API_KEY");
    setenv("HUMANLOOP_HOST", tu_base_url(), 1);
    RUN(test_no_env_each_endpoint);
    RUN(test_no_env_stream);
    return tu_finish();
}
