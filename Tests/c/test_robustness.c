/*
 * test_robustness.c — "never crashes on any input, NULL included": odd and large
 * inputs give a well-formed envelope. Kept in its own binary so a crash here does not hide the
 * results of the other suites.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_deep_nesting(void)
{
    hl_client *c = tu_client(NULL);
    const int depths[] = {100, 1000, 100000};
    for (size_t k = 0; k < 3; k++) {
        int d = depths[k];
        char *req = malloc((size_t)d * 2 + 128);
        char *p = req;
        p += sprintf(p, "{\"project\":\"p\",\"metadata\":{\"x\":");
        for (int i = 0; i < d; i++) *p++ = '[';
        for (int i = 0; i < d; i++) *p++ = ']';
        strcpy(p, "}}");
        tu_reset();
        char *raw = NULL;
        json_t *env = tu_call(hl_complete_deployed, c, req, &raw);
        CHECKF(env != NULL, "depth %d: a JSON envelope", d);
        if (d <= 100) CHECKF(tu_is_ok(env), "depth %d accepted: %.300s", d, raw);
        free(raw);
        json_decref(env);
        /* also as a stream */
        hl_stream *s = hl_complete_deployed_stream(c, req);
        CHECK(s != NULL);
        char *it;
        int n = 0;
        while ((it = hl_stream_next(s)) != NULL && n < 100) {
            json_t *j = tu_parse_env(it);
            json_decref(j);
            hl_free(it);
            n++;
        }
        hl_free(it);
        hl_stream_free(s);
        free(req);
    }
    hl_client_free(c);
}

static void test_invalid_utf8_rejected(void)
{
    hl_client *c = tu_client(NULL);
    const char *reqs[] = {
        "{\"project\":\"\xff\xfe\"}",
        "{\"project\":\"\xc3\"}",              /* truncated sequence */
        "{\"project\":\"\xc0\xaf\"}",          /* overlong */
        "{\"project\":\"\xed\xa0\x80\"}",      /* encoded surrogate */
        "{\"pro\xffject\":\"p\"}",
    };
    for (size_t k = 0; k < sizeof reqs / sizeof reqs[0]; k++) {
        tu_reset();
        char *raw = NULL;
        json_t *env = tu_call(hl_complete_deployed, c, reqs[k], &raw);
        CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_request") == 0, "invalid UTF-8 #%zu: %s", k, raw);
        CHECK_INT(tu_request_count(), 0);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_odd_but_valid_strings(void)
{
    hl_client *c = tu_client(NULL);
    const char *reqs[] = {
        "{\"project\":\"a\\u0000b\"}",
        "{\"project\":\"\\b\\f\\n\\r\\t\\/\\\\\\\"\\u001f\\u007f\"}",
        "{\"project\":\"\\ud83e\\udd99 \xf0\x9f\xa6\x99\"}",
        "{\"project\":\"\xef\xbb\xbf BOM inside\"}",
    };
    for (size_t k = 0; k < sizeof reqs / sizeof reqs[0]; k++) {
        tu_reset();
        char *raw = NULL;
        json_t *env = tu_call(hl_complete_deployed, c, reqs[k], &raw);
        CHECKF(tu_is_ok(env), "#%zu accepted: %s", k, raw);
        json_t *r = tu_requests();
        json_t *sent = tu_json(tu_str(r, "[0].body"));
        json_t *given = tu_json(reqs[k]);
        CHECKF(sent && given && json_equal(json_object_get(sent, "project"), json_object_get(given, "project")),
               "#%zu: same string on the wire: %s", k, tu_str(r, "[0].body"));
        json_decref(sent);
        json_decref(given);
        json_decref(r);
        free(raw);
        json_decref(env);
    }
    /* a lone surrogate escape: either rejected or sent, never a crash */
    char *s = hl_complete_deployed(c, "{\"project\":\"\\ud800\"}");
    json_t *j = tu_parse_env(s);
    json_decref(j);
    hl_free(s);
    hl_client_free(c);
}

static void test_large_inputs(void)
{
    hl_client *c = tu_client(NULL);
    /* a 4 MB prompt */
    size_t n = 4u << 20;
    char *req = malloc(n + 256);
    char *p = req + sprintf(req, "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"");
    memset(p, 'x', n);
    p += n;
    strcpy(p, "\"}}");
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, req, &raw);
    CHECKF(tu_is_ok(env), "4 MB prompt: %.300s", raw);
    json_t *r = tu_requests();
    const char *body = tu_str(r, "[0].body");
    CHECKF(body && strlen(body) == strlen(req) + strlen(",\"provider_api_keys\":{}"), "whole body received");
    json_t *first = json_array_get(r, 0);
    CHECKF(first && tu_req_header(first, "Expect") == NULL, "no Expect: 100-continue on a 4 MB POST: %s",
           first ? tu_req_header(first, "Expect") : "no request");
    json_decref(r);
    free(raw);
    json_decref(env);
    free(req);
    /* 20000 metadata keys */
    tu_reset();
    req = malloc(20000 * 24 + 64);
    p = req + sprintf(req, "{\"metadata\":{");
    for (int i = 0; i < 20000; i++) p += sprintf(p, "%s\"k%d\":%d", i ? "," : "", i, i);
    strcpy(p, "}}");
    env = tu_call(hl_complete_deployed, c, req, NULL);
    CHECK(tu_is_ok(env));
    r = tu_requests();
    char *expected = malloc(strlen(req) + 64);
    sprintf(expected, "%.*s,\"provider_api_keys\":{}}", (int)strlen(req) - 1, req);
    CHECKF(body = tu_str(r, "[0].body"), "body recorded");
    CHECKF(body && strcmp(body, expected) == 0, "20000 keys in order, byte for byte");
    free(expected);
    json_decref(r);
    json_decref(env);
    free(req);
    hl_client_free(c);
}

static void test_odd_configs_do_not_crash(void)
{
    const char *cfgs[] = {"\xff", "{\"api_key\":\"\xff\xfe\"}", "{\"api_key\":\"k\",\"timeout\":1e999}",
                          "{\"api_key\":\"k\",\"timeout\":1e-999}", "{\"api_key\":\"k\",\"timeout\":123456789012345678901234567890}",
                          "{\"api_key\":\"k\",\"api_key\":\"k2\"}"};
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        char *err = NULL;
        hl_client *c = hl_client_new(cfgs[k], &err);
        if (c) {
            CHECKF(err == NULL, "#%zu: success leaves error_json NULL", k);
            hl_client_free(c);
        } else {
            json_t *j = tu_parse_env(err);
            CHECKF(tu_err_type(j) && strcmp(tu_err_type(j), "invalid_config") == 0, "#%zu: %s", k, err ? err : "NULL");
            json_decref(j);
        }
        hl_free(err);
    }
    CHECK(1);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_invalid_utf8_rejected);
    RUN(test_odd_but_valid_strings);
    RUN(test_large_inputs);
    RUN(test_odd_configs_do_not_crash);
    RUN(test_deep_nesting);
    return tu_finish();
}
