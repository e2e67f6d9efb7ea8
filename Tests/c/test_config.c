/*
 * test_config.c — hl_client_new: valid and invalid configurations, the error_json contract,
 * the environment variables, header values that would allow header injection.
 */
#include "testutil.h"

#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* hl_client_new must fail with invalid_config; error_json NULL must be allowed too. */
static void expect_config_error(const char *what, const char *cfg, const char *must_mention)
{
    char *err = (char *)"sentinel";
    hl_client *c = hl_client_new(cfg, &err);
    CHECKF(c == NULL, "%s: hl_client_new must fail for %s", what, cfg ? cfg : "NULL");
    if (c) {
        hl_client_free(c);
        if (err && strcmp(err, "sentinel") != 0) hl_free(err);
        return;
    }
    CHECKF(err != NULL && strcmp(err, "sentinel") != 0, "%s: *error_json receives an envelope", what);
    if (!err || strcmp(err, "sentinel") == 0) return;
    json_t *env = tu_parse_env(err);
    CHECKF(tu_bool(env, "ok") == 0, "%s: ok false: %s", what, err);
    CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_config") == 0, "%s: invalid_config: %s", what, err);
    if (must_mention)
        CHECKF(tu_contains(tu_str(env, "error.message"), must_mention), "%s: message mentions %s: %s", what,
               must_mention, err);
    json_decref(env);
    hl_free(err);
    /* the same with error_json == NULL */
    c = hl_client_new(cfg, NULL);
    CHECKF(c == NULL, "%s: fails with error_json NULL too", what);
    hl_client_free(c);
}

static char *cfgf(const char *f, const char *a)
{
    size_t n = strlen(f) + strlen(a) + 1;
    char *s = malloc(n);
    snprintf(s, n, f, a);
    return s;
}

/* One call through c; returns the recorded request (new ref) or NULL. */
static json_t *one_request(hl_client *c)
{
    tu_reset();
    char *raw = NULL;
    json_t *env = tu_call(hl_complete_deployed, c, "{\"project\":\"p\"}", &raw);
    CHECKF(tu_is_ok(env), "call succeeds: %s", raw);
    free(raw);
    json_decref(env);
    json_t *reqs = tu_requests();
    json_t *r = json_array_get(reqs, 0);
    if (r) json_incref(r);
    json_decref(reqs);
    return r;
}

/* ---------------------------------------------------------------------------------------- */

static void test_valid_configs(void)
{
    unsetenv("HUMANLOOP_API_KEY");
    unsetenv("HUMANLOOP_HOST");
    char *err = (char *)"sentinel";
    hl_client *c = hl_client_new("{\"api_key\":\"k\"}", &err);
    CHECK(c != NULL);
    CHECK(err == NULL);
    hl_client_free(c);
    c = hl_client_new("{\"api_key\":\"k\"}", NULL);
    CHECK(c != NULL);
    hl_client_free(c);
    /* every key */
    err = (char *)"sentinel";
    c = hl_client_new("{\"api_key\":\"k\",\"host\":\"https://api.example.com/v4/\",\"openai_api_key\":\"a\","
                      "\"openai_azure_api_key\":\"b\",\"openai_azure_endpoint_api_key\":\"c\",\"ai21_api_key\":\"d\","
                      "\"mock_api_key\":\"e\",\"anthropic_api_key\":\"f\",\"cohere_api_key\":\"g\",\"timeout\":30,"
                      "\"connect_timeout\":2.5,\"user_agent\":\"x/1\"}",
                      &err);
    CHECKF(c != NULL, "all keys: %s", c ? "" : err);
    CHECK(err == NULL);
    if (!c) hl_free(err);
    hl_client_free(c);
    /* whitespace, http host, fractional timeout */
    c = hl_client_new(" { \"api_key\" : \"k\" , \"host\" : \"http://localhost:1/v4\" , \"timeout\" : 0.5 } ", NULL);
    CHECK(c != NULL);
    hl_client_free(c);
}

static void test_api_key_from_env(void)
{
    unsetenv("HUMANLOOP_HOST");
    setenv("HUMANLOOP_API_KEY", TU_SECRET, 1);
    char *cfg = cfgf("{\"host\":\"%s\"}", tu_base_url());
    char *err = NULL;
    hl_client *c = hl_client_new(cfg, &err);
    CHECKF(c != NULL, "api key from HUMANLOOP_API_KEY: %s", err ? err : "");
    hl_free(err);
    if (c) {
        json_t *r = one_request(c);
        CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
        json_decref(r);
    }
    hl_client_free(c);
    /* the config's api_key wins over the environment */
    setenv("HUMANLOOP_API_KEY", "env-key-should-not-be-used", 1);
    c = tu_client(NULL);
    json_t *r = one_request(c);
    CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
    json_decref(r);
    hl_client_free(c);
    unsetenv("HUMANLOOP_API_KEY");
    free(cfg);
}

static void test_host_from_env(void)
{
    setenv("HUMANLOOP_HOST", tu_base_url(), 1);
    hl_client *c = hl_client_new("{\"api_key\":\"" TU_SECRET "\"}", NULL);
    CHECK(c != NULL);
    json_t *r = one_request(c);
    CHECK_JSTR(r, "path", "/v4/completion-deployed");
    json_decref(r);
    hl_client_free(c);
    /* NULL config and "{}": both from the environment */
    setenv("HUMANLOOP_API_KEY", TU_SECRET, 1);
    c = hl_client_new(NULL, NULL);
    CHECK(c != NULL);
    r = one_request(c);
    CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
    json_decref(r);
    hl_client_free(c);
    c = hl_client_new("{}", NULL);
    CHECK(c != NULL);
    r = one_request(c);
    CHECK_STR(tu_req_header(r, "X-API-KEY"), TU_SECRET);
    json_decref(r);
    hl_client_free(c);
    /* the config's host wins over the environment */
    char env_host[128];
    snprintf(env_host, sizeof env_host, "http://127.0.0.1:%d/v4", tu_closed_port());
    setenv("HUMANLOOP_HOST", env_host, 1);
    c = tu_client(NULL);
    r = one_request(c);
    CHECK(r != NULL);
    json_decref(r);
    hl_client_free(c);
    unsetenv("HUMANLOOP_HOST");
    unsetenv("HUMANLOOP_API_KEY");
}

static void test_missing_api_key(void)
{
    unsetenv("HUMANLOOP_API_KEY");
    unsetenv("HUMANLOOP_HOST");
    expect_config_error("NULL config, no env", NULL, NULL);
    expect_config_error("{} no env", "{}", NULL);
    expect_config_error("host only", "{\"host\":\"http://127.0.0.1:1/v4\"}", NULL);
    expect_config_error("provider key only", "{\"openai_api_key\":\"sk-openai\"}", NULL);
}

static void test_unknown_key(void)
{
    expect_config_error("unknown key", "{\"api_key\":\"" TU_SECRET "\",\"bogus_option\":1}", "bogus_option");
    expect_config_error("x_api_key alias is not a key", "{\"x_api_key\":\"" TU_SECRET "\"}", "x_api_key");
    expect_config_error("Api_Key", "{\"api_key\":\"k\",\"Api_Key\":\"" TU_SECRET "\"}", "Api_Key");
}

static void test_wrong_types(void)
{
    static const char *cases[][2] = {
        {"{\"api_key\":5}", "api_key"},
        {"{\"api_key\":[\"" TU_SECRET "\"]}", "api_key"},
        {"{\"api_key\":\"k\",\"host\":5}", "host"},
        {"{\"api_key\":\"k\",\"timeout\":\"5\"}", "timeout"},
        {"{\"api_key\":\"k\",\"timeout\":true}", "timeout"},
        {"{\"api_key\":\"k\",\"connect_timeout\":\"1\"}", "connect_timeout"},
        {"{\"api_key\":\"k\",\"user_agent\":1}", "user_agent"},
        {"{\"api_key\":\"k\",\"openai_api_key\":1}", "openai_api_key"},
        {"{\"api_key\":\"k\",\"openai_azure_api_key\":{}}", "openai_azure_api_key"},
        {"{\"api_key\":\"k\",\"openai_azure_endpoint_api_key\":[]}", "openai_azure_endpoint_api_key"},
        {"{\"api_key\":\"k\",\"ai21_api_key\":true}", "ai21_api_key"},
        {"{\"api_key\":\"k\",\"mock_api_key\":2.5}", "mock_api_key"},
        {"{\"api_key\":\"k\",\"anthropic_api_key\":-1}", "anthropic_api_key"},
        {"{\"api_key\":\"k\",\"cohere_api_key\":false}", "cohere_api_key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_config_error(cases[i][0], cases[i][0], cases[i][1]);
}

static void test_out_of_range(void)
{
    expect_config_error("timeout 0", "{\"api_key\":\"k\",\"timeout\":0}", "timeout");
    expect_config_error("timeout -1", "{\"api_key\":\"k\",\"timeout\":-1}", "timeout");
    expect_config_error("timeout -0.5", "{\"api_key\":\"k\",\"timeout\":-0.5}", "timeout");
    expect_config_error("connect_timeout 0", "{\"api_key\":\"k\",\"connect_timeout\":0}", "connect_timeout");
    expect_config_error("connect_timeout -3", "{\"api_key\":\"k\",\"connect_timeout\":-3}", "connect_timeout");
}

static void test_bad_host(void)
{
    const char *hosts[] = {"ftp://x", "ftp://api.humanloop.com/v4", "api.humanloop.com/v4", "127.0.0.1:8000",
                           "", "http://", "https://", "not a url", "file:///etc/passwd",
                           "http://h/v4?x=1", "http://h/v4#frag", "http://exa mple.com/v4", "http://h/v4\r\nX: y"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        json_t *o = json_pack("{s:s, s:s}", "api_key", TU_SECRET, "host", hosts[i]);
        char *cfg = json_dumps(o, JSON_COMPACT);
        expect_config_error(cfg, cfg, NULL);
        free(cfg);
        json_decref(o);
    }
}

static void test_header_injection_rejected(void)
{
    const char *cfgs[] = {
        "{\"api_key\":\"" TU_SECRET "\\r\\nX-Evil: 1\"}",
        "{\"api_key\":\"" TU_SECRET "\\n\"}",
        "{\"api_key\":\"" TU_SECRET "\\r\"}",
        "{\"api_key\":\"" TU_SECRET "\\u0000tail\"}",
        "{\"api_key\":\"" TU_SECRET "\",\"user_agent\":\"ua\\r\\nX-Evil: 1\"}",
        "{\"api_key\":\"" TU_SECRET "\",\"user_agent\":\"ua\\n\"}",
        "{\"api_key\":\"" TU_SECRET "\",\"user_agent\":\"ua\\u0000x\"}",
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) expect_config_error(cfgs[i], cfgs[i], NULL);
    /* from the environment too */
    unsetenv("HUMANLOOP_HOST");
    setenv("HUMANLOOP_API_KEY", TU_SECRET "\r\nX-Evil: 1", 1);
    expect_config_error("env key with CRLF", NULL, NULL);
    unsetenv("HUMANLOOP_API_KEY");
}

static void test_config_not_an_object(void)
{
    const char *cfgs[] = {"", "{", "[]", "42", "\"api_key\"", "null", "{\"api_key\":\"k\",}", "{\"api_key\":\"k\"} x"};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) expect_config_error(cfgs[i], cfgs[i], NULL);
}

static void test_user_agent_and_timeouts_used(void)
{
    hl_client *c = tu_client(",\"user_agent\":\"custom-agent/9\",\"timeout\":5,\"connect_timeout\":1");
    json_t *r = one_request(c);
    CHECK_STR(tu_req_header(r, "User-Agent"), "custom-agent/9");
    json_decref(r);
    hl_client_free(c);
    c = tu_client(NULL);
    r = one_request(c);
    CHECK_STR(tu_req_header(r, "User-Agent"), "libhumanloop/0.2.0");
    json_decref(r);
    hl_client_free(c);
}

static void test_client_provider_keys_mapping(void)
{
    static const char *map[][2] = {
        {"openai_api_key", "openai"},         {"openai_azure_api_key", "openai_azure"},
        {"openai_azure_endpoint_api_key", "openai_azure_endpoint"},
        {"ai21_api_key", "ai21"},             {"mock_api_key", "mock"},
        {"anthropic_api_key", "anthropic"},   {"cohere_api_key", "cohere"},
    };
    for (size_t i = 0; i < 7; i++) {
        char extra[128];
        snprintf(extra, sizeof extra, ",\"%s\":\"value-%zu\"", map[i][0], i);
        hl_client *c = tu_client("%s", extra);
        json_t *r = one_request(c);
        char expected[256];
        snprintf(expected, sizeof expected, "{\"project\":\"p\",\"provider_api_keys\":{\"%s\":\"value-%zu\"}}", map[i][1], i);
        CHECK_JSTR(r, "body", expected);
        json_decref(r);
        hl_client_free(c);
    }
}

static void test_clients_are_independent(void)
{
    hl_client *a = tu_client(",\"user_agent\":\"A\",\"openai_api_key\":\"ka\"");
    hl_client *b = tu_client(",\"user_agent\":\"B\"");
    json_t *ra = one_request(a);
    json_t *rb = one_request(b);
    CHECK_STR(tu_req_header(ra, "User-Agent"), "A");
    CHECK_STR(tu_req_header(rb, "User-Agent"), "B");
    CHECK_JSTR(rb, "body", "{\"project\":\"p\",\"provider_api_keys\":{}}");
    json_decref(ra);
    json_decref(rb);
    hl_client_free(a);
    /* b still works after a is freed */
    json_t *r2 = one_request(b);
    CHECK(r2 != NULL);
    json_decref(r2);
    hl_client_free(b);
}

/* hl_client_info: max_connections as configured and the caps in effect, lowered to what the
 * soft RLIMIT_NOFILE leaves room for (a quarter kept for the host). */
static void test_client_info_caps_connections_by_open_files(void)
{
    hl_client *c = tu_client(",\"max_connections\":5");
    char *info = hl_client_info(c);
    json_t *j = tu_json(info);
    CHECK_JINT(j, "max_connections", 5);
    CHECK_JINT(j, "engine_max_connections", 5);
    CHECK_JINT(j, "blocking_max_connections", 5);
    json_decref(j);
    hl_free(info);
    hl_client_free(c);

    struct rlimit saved;
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    struct rlimit lowered = saved;
    lowered.rlim_cur = 100;
    CHECK(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    c = tu_client(",\"max_connections\":3000");
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    info = hl_client_info(c);
    j = tu_json(info);
    CHECK_JINT(j, "max_connections", 3000);
    CHECK_JINT(j, "open_file_limit", 100);
    CHECK_JINT(j, "engine_max_connections", 100 - 25 - 5);
    CHECK_JINT(j, "blocking_max_connections", (100 - 25) / 6);
    json_decref(j);
    hl_free(info);
    hl_client_free(c);
}

/* A blocking call whose loop cannot be made because the process has no descriptor free says
 * "too many open files" (with the limit), not "out of memory". */
static void test_blocking_call_without_descriptors_says_too_many_open_files(void)
{
    hl_client *c = tu_client(",\"max_retries\":0");
    struct rlimit saved;
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    struct rlimit lowered = saved;
    lowered.rlim_cur = 256;
    CHECK(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    int held[256], n = 0;
    while (n < 256 && (held[n] = dup(0)) >= 0) n++;
    char *s = hl_complete(c, TU_REQ);
    for (int i = 0; i < n; i++) close(held[i]);
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    json_t *e = tu_parse_env(s);
    CHECK_STR(tu_err_type(e), "connection_error");
    const char *message = tu_str(e, "error.message");
    CHECKF(message && strstr(message, "too many open files") && strstr(message, "256 open files (RLIMIT_NOFILE)"),
           "the message: %s", message ? message : "none");
    json_decref(e);
    hl_free(s);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_valid_configs);
    RUN(test_api_key_from_env);
    RUN(test_host_from_env);
    RUN(test_missing_api_key);
    RUN(test_unknown_key);
    RUN(test_wrong_types);
    RUN(test_out_of_range);
    RUN(test_bad_host);
    RUN(test_header_injection_rejected);
    RUN(test_config_not_an_object);
    RUN(test_user_agent_and_timeouts_used);
    RUN(test_client_provider_keys_mapping);
    RUN(test_clients_are_independent);
    RUN(test_client_info_caps_connections_by_open_files);
    RUN(test_blocking_call_without_descriptors_says_too_many_open_files);
    return tu_finish();
}
