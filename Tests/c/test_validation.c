/*
 * test_validation.c — local validation of the request JSON before anything is sent:
 * invalid_request envelopes with "path", "message" and "errors" listing every problem, and
 * nothing reaching the server. Also what must NOT be rejected (rules left to the server).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Call fn(request) and expect invalid_request. first_path: the expected top-level "path"
 * (NULL: not checked). paths: every path that must appear in "errors" (NULL-terminated).
 * nerrors: exact number of errors (-1: not checked). Nothing may reach the server. */
static void expect_invalid(const char *what, tu_call_fn fn, hl_client *c, const char *request,
                           const char *first_path, const char *const *paths, int nerrors)
{
    tu_reset();
    char *raw = NULL;
    json_t *env = tu_call(fn, c, request, &raw);
    CHECKF(tu_bool(env, "ok") == 0, "%s: ok false: %s", what, raw);
    const char *type = tu_err_type(env);
    CHECKF(type && strcmp(type, "invalid_request") == 0, "%s: invalid_request expected: %s", what, raw);
    json_t *errs = tu_get(env, "error.errors");
    CHECKF(json_is_array(errs) && json_array_size(errs) >= 1, "%s: errors is a non-empty array: %s", what, raw);
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e) {
        CHECKF(json_is_string(json_object_get(e, "path")), "%s: errors[%zu].path is a string: %s", what, i, raw);
        const char *m = json_string_value(json_object_get(e, "message"));
        CHECKF(m && m[0], "%s: errors[%zu].message is a non-empty string: %s", what, i, raw);
    }
    /* path/message describe the first problem: the same as errors[0] */
    CHECKF(json_is_string(tu_get(env, "error.path")), "%s: error.path is a string: %s", what, raw);
    CHECKF(json_equal(tu_get(env, "error.path"), tu_get(env, "error.errors[0].path")),
           "%s: error.path == errors[0].path: %s", what, raw);
    if (first_path) {
        CHECKF(tu_str(env, "error.path") && strcmp(tu_str(env, "error.path"), first_path) == 0,
               "%s: error.path should be \"%s\": %s", what, first_path, raw);
        CHECKF(tu_contains(tu_str(env, "error.message"), first_path), "%s: message names the path %s: %s", what,
               first_path, raw);
    }
    for (int k = 0; paths && paths[k]; k++)
        CHECKF(tu_errors_have_path(env, paths[k]), "%s: errors lists path \"%s\": %s", what, paths[k], raw);
    if (nerrors >= 0) CHECKF((int)json_array_size(errs) == nerrors, "%s: %d errors expected: %s", what, nerrors, raw);
    int sent = tu_request_count();
    CHECKF(sent == 0, "%s: nothing may be sent, server recorded %d request(s)", what, sent);
    free(raw);
    json_decref(env);
}

/* expect_invalid with exactly one problem at path */
static void expect_one(const char *what, tu_call_fn fn, hl_client *c, const char *request, const char *path)
{
    const char *paths[] = {path, NULL};
    expect_invalid(what, fn, c, request, path, paths, 1);
}

/* The request is accepted and goes out byte for byte (plus provider_api_keys when absent). */
static void expect_sent(const char *what, tu_call_fn fn, hl_client *c, const char *request, const char *path)
{
    tu_reset();
    char *raw = NULL;
    json_t *env = tu_call(fn, c, request, &raw);
    CHECKF(tu_is_ok(env), "%s: accepted and ok: %s", what, raw);
    json_t *reqs = tu_requests();
    CHECKF(json_array_size(reqs) == 1, "%s: one request sent", what);
    CHECK_JSTR(reqs, "[0].path", path);
    const char *body = tu_str(reqs, "[0].body");
    json_t *sent = tu_json(body);
    json_t *given = tu_json(request);
    if (given && !json_object_get(given, "provider_api_keys"))
        json_object_set_new(given, "provider_api_keys", json_object());
    CHECKF(sent && given && json_equal(sent, given), "%s: body sent as given: %s", what, body);
    json_decref(sent);
    json_decref(given);
    json_decref(reqs);
    free(raw);
    json_decref(env);
}

static char *fmt(const char *f, const char *a)
{
    size_t n = strlen(f) + strlen(a) + 1;
    char *s = malloc(n);
    snprintf(s, n, f, a);
    return s;
}

/* ---------------------------------------------------------------------------------------- */

static void test_null_request_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        tu_reset();
        char *raw = NULL;
        json_t *env = tu_call(TU_ENDPOINTS[i].call, c, NULL, &raw);
        CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_request") == 0, "%s(NULL): %s",
               TU_ENDPOINTS[i].name, raw);
        CHECK_INT(tu_request_count(), 0);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_not_json_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    const char *bad[] = {"", " ", "{", "{\"project\":}", "{project:\"x\"}", "{\"project\":\"x\",}", "{} {}",
                         "{\"project\":\"x\"} trailing", "nul", "{'project':'x'}", "\xff\xfe{}"};
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            tu_reset();
            char *raw = NULL;
            json_t *env = tu_call(TU_ENDPOINTS[i].call, c, bad[k], &raw);
            CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_request") == 0, "%s(%s): %s",
                   TU_ENDPOINTS[i].name, bad[k], raw);
            CHECK_INT(tu_request_count(), 0);
            free(raw);
            json_decref(env);
        }
    }
    hl_client_free(c);
}

static void test_not_an_object_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    const char *bad[] = {"[]", "[{\"project\":\"x\"}]", "42", "\"str\"", "null", "true"};
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            tu_reset();
            char *raw = NULL;
            json_t *env = tu_call(TU_ENDPOINTS[i].call, c, bad[k], &raw);
            CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_request") == 0, "%s(%s): %s",
                   TU_ENDPOINTS[i].name, bad[k], raw);
            CHECK_INT(tu_request_count(), 0);
            free(raw);
            json_decref(env);
        }
    }
    hl_client_free(c);
}

static void test_unknown_top_level_key_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        char *req = malloc(strlen(TU_ENDPOINTS[i].minimal) + 64);
        strcpy(req, TU_ENDPOINTS[i].minimal);
        strcpy(req + strlen(req) - 1, ",\"bogus_key\":1}");
        expect_one(TU_ENDPOINTS[i].name, TU_ENDPOINTS[i].call, c, req, "bogus_key");
        free(req);
    }
    /* keys of later SDKs (not in 0.5.16) are unknown too */
    expect_one("save", hl_complete, c, "{\"model_config\":" TU_MC ",\"save\":true}", "save");
    expect_one("seed", hl_complete_deployed, c, "{\"seed\":1}", "seed");
    expect_one("return_inputs", hl_complete_experiment, c, "{\"experiment_id\":\"e\",\"return_inputs\":true}",
               "return_inputs");
    /* fields that belong to other endpoints */
    expect_one("environment on /completion", hl_complete, c, "{\"model_config\":" TU_MC ",\"environment\":\"p\"}",
               "environment");
    expect_one("environment on /completion-experiment", hl_complete_experiment, c,
               "{\"experiment_id\":\"e\",\"environment\":\"p\"}", "environment");
    expect_one("environment on /completion-model-config", hl_complete_model_configuration, c,
               "{\"model_config_id\":\"m\",\"environment\":\"p\"}", "environment");
    expect_one("model_config on /completion-deployed", hl_complete_deployed, c, "{\"model_config\":" TU_MC "}",
               "model_config");
    expect_one("experiment_id on /completion", hl_complete, c, "{\"model_config\":" TU_MC ",\"experiment_id\":\"e\"}",
               "experiment_id");
    expect_one("model_config_id on /completion-experiment", hl_complete_experiment, c,
               "{\"experiment_id\":\"e\",\"model_config_id\":\"m\"}", "model_config_id");
    /* case matters */
    expect_one("Project", hl_complete_deployed, c, "{\"Project\":\"p\"}", "Project");
    hl_client_free(c);
}

static void test_unknown_key_inside_model_config(void)
{
    hl_client *c = tu_client(NULL);
    expect_one("model_config.bogus", hl_complete, c,
               "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"bogus\":1}}", "model_config.bogus");
    expect_one("model_config.seed", hl_complete, c,
               "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"seed\":1}}", "model_config.seed");
    expect_one("model_config.tools", hl_complete, c,
               "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"tools\":[]}}", "model_config.tools");
    expect_one("model_config.response_format", hl_complete, c,
               "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"response_format\":{}}}",
               "model_config.response_format");
    hl_client_free(c);
}

static void test_missing_required(void)
{
    hl_client *c = tu_client(NULL);
    expect_one("no model_config", hl_complete, c, "{}", "model_config");
    expect_one("no model_config (other fields)", hl_complete, c, "{\"project\":\"p\",\"inputs\":{}}", "model_config");
    expect_one("no model", hl_complete, c, "{\"model_config\":{\"prompt_template\":\"p\"}}", "model_config.model");
    expect_one("no prompt_template", hl_complete, c, "{\"model_config\":{\"model\":\"m\"}}",
               "model_config.prompt_template");
    {
        const char *paths[] = {"model_config.model", "model_config.prompt_template", NULL};
        expect_invalid("empty model_config", hl_complete, c, "{\"model_config\":{}}", NULL, paths, 2);
    }
    expect_one("no experiment_id", hl_complete_experiment, c, "{\"project\":\"p\"}", "experiment_id");
    expect_one("no experiment_id ({})", hl_complete_experiment, c, "{}", "experiment_id");
    expect_one("no model_config_id", hl_complete_model_configuration, c, "{\"project\":\"p\"}", "model_config_id");
    expect_one("no model_config_id ({})", hl_complete_model_configuration, c, "{}", "model_config_id");
    /* nothing is required for /completion-deployed */
    expect_sent("deployed {}", hl_complete_deployed, c, "{}", "/v4/completion-deployed");
    hl_client_free(c);
}

/* Common optional fields with a wrong type, for every endpoint. */
static void test_wrong_types_common_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    static const struct {
        const char *member, *path;
    } cases[] = {
        {"\"project\":5", "project"},
        {"\"project\":null", "project"},
        {"\"project_id\":[\"x\"]", "project_id"},
        {"\"session_id\":true", "session_id"},
        {"\"session_reference_id\":{}", "session_reference_id"},
        {"\"parent_id\":1.5", "parent_id"},
        {"\"parent_reference_id\":null", "parent_reference_id"},
        {"\"inputs\":\"x\"", "inputs"},
        {"\"inputs\":[]", "inputs"},
        {"\"inputs\":null", "inputs"},
        {"\"source\":0", "source"},
        {"\"metadata\":[1]", "metadata"},
        {"\"metadata\":null", "metadata"},
        {"\"provider_api_keys\":\"sk\"", "provider_api_keys"},
        {"\"provider_api_keys\":null", "provider_api_keys"},
        {"\"provider_api_keys\":{\"openai\":5}", "provider_api_keys.openai"},
        {"\"provider_api_keys\":{\"anthropic\":null}", "provider_api_keys.anthropic"},
        {"\"provider_api_keys\":{\"openai_azure_endpoint\":{\"url\":\"x\"}}", "provider_api_keys.openai_azure_endpoint"},
        {"\"num_samples\":\"2\"", "num_samples"},
        {"\"num_samples\":2.0", "num_samples"},
        {"\"num_samples\":2.5", "num_samples"},
        {"\"num_samples\":null", "num_samples"},
        {"\"num_samples\":true", "num_samples"},
        {"\"logprobs\":1.0", "logprobs"},
        {"\"logprobs\":\"1\"", "logprobs"},
        {"\"stream\":\"true\"", "stream"},
        {"\"stream\":1", "stream"},
        {"\"stream\":null", "stream"},
        {"\"suffix\":1", "suffix"},
        {"\"user\":false", "user"},
    };
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const char *min = TU_ENDPOINTS[i].minimal;
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            size_t n = strlen(min) + strlen(cases[k].member) + 4;
            char *req = malloc(n);
            snprintf(req, n, "%.*s,%s}", (int)strlen(min) - 1, min, cases[k].member);
            char what[256];
            snprintf(what, sizeof what, "%s %s", TU_ENDPOINTS[i].name, cases[k].member);
            expect_one(what, TU_ENDPOINTS[i].call, c, req, cases[k].path);
            free(req);
        }
    }
    /* the required ids, wrong type */
    expect_one("experiment_id 5", hl_complete_experiment, c, "{\"experiment_id\":5}", "experiment_id");
    expect_one("experiment_id null", hl_complete_experiment, c, "{\"experiment_id\":null}", "experiment_id");
    expect_one("model_config_id []", hl_complete_model_configuration, c, "{\"model_config_id\":[]}", "model_config_id");
    expect_one("environment 1", hl_complete_deployed, c, "{\"environment\":1}", "environment");
    hl_client_free(c);
}

static void test_wrong_types_model_config(void)
{
    hl_client *c = tu_client(NULL);
    static const struct {
        const char *member, *path;
    } cases[] = {
        {"\"model\":5", "model_config.model"},
        {"\"model\":null", "model_config.model"},
        {"\"prompt_template\":[\"p\"]", "model_config.prompt_template"},
        {"\"description\":1", "model_config.description"},
        {"\"name\":null", "model_config.name"},
        {"\"provider\":1", "model_config.provider"},
        {"\"provider\":null", "model_config.provider"},
        {"\"max_tokens\":2.0", "model_config.max_tokens"},
        {"\"max_tokens\":\"100\"", "model_config.max_tokens"},
        {"\"max_tokens\":null", "model_config.max_tokens"},
        {"\"temperature\":\"0.7\"", "model_config.temperature"},
        {"\"temperature\":null", "model_config.temperature"},
        {"\"temperature\":true", "model_config.temperature"},
        {"\"top_p\":[1]", "model_config.top_p"},
        {"\"presence_penalty\":\"0\"", "model_config.presence_penalty"},
        {"\"frequency_penalty\":{}", "model_config.frequency_penalty"},
        {"\"stop\":5", "model_config.stop"},
        {"\"stop\":null", "model_config.stop"},
        {"\"stop\":{\"a\":\"b\"}", "model_config.stop"},
        {"\"other\":\"x\"", "model_config.other"},
        {"\"other\":[]", "model_config.other"},
        {"\"endpoint\":2", "model_config.endpoint"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* model and prompt_template come first so that a duplicate is not the point */
        const char *base = "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",%s}}";
        char *req;
        if (strncmp(cases[k].member, "\"model\"", 7) == 0)
            req = fmt("{\"model_config\":{%s,\"prompt_template\":\"p\"}}", cases[k].member);
        else if (strncmp(cases[k].member, "\"prompt_template\"", 17) == 0)
            req = fmt("{\"model_config\":{\"model\":\"m\",%s}}", cases[k].member);
        else
            req = fmt(base, cases[k].member);
        expect_one(cases[k].member, hl_complete, c, req, cases[k].path);
        free(req);
    }
    /* model_config itself */
    expect_one("model_config string", hl_complete, c, "{\"model_config\":\"gpt\"}", "model_config");
    expect_one("model_config null", hl_complete, c, "{\"model_config\":null}", "model_config");
    expect_one("model_config array", hl_complete, c, "{\"model_config\":[" TU_MC "]}", "model_config");
    /* a stop array with a non-string item: the path starts with model_config.stop */
    {
        tu_reset();
        char *raw = NULL;
        json_t *env = tu_call(hl_complete, c,
                              "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"stop\":[\"a\",1]}}", &raw);
        CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_request") == 0, "stop [\"a\",1]: %s", raw);
        const char *p = tu_str(env, "error.path");
        CHECKF(p && strncmp(p, "model_config.stop", 17) == 0, "path under model_config.stop: %s", raw);
        CHECK_INT(tu_request_count(), 0);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_bad_enums(void)
{
    hl_client *c = tu_client(NULL);
    const char *providers[] = {"openai2", "OpenAI", "google", "groq", "", " openai"};
    for (size_t k = 0; k < sizeof providers / sizeof providers[0]; k++) {
        char *req = fmt("{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"provider\":\"%s\"}}", providers[k]);
        expect_one(req, hl_complete, c, req, "model_config.provider");
        free(req);
    }
    const char *endpoints[] = {"completion", "Complete", "chat ", "embed", ""};
    for (size_t k = 0; k < sizeof endpoints / sizeof endpoints[0]; k++) {
        char *req = fmt("{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"endpoint\":\"%s\"}}", endpoints[k]);
        expect_one(req, hl_complete, c, req, "model_config.endpoint");
        free(req);
    }
    hl_client_free(c);
}

static void test_every_problem_listed(void)
{
    hl_client *c = tu_client(NULL);
    {
        const char *paths[] = {"model_config.model", "model_config.prompt_template", "bogus", "num_samples", NULL};
        expect_invalid("four problems", hl_complete, c,
                       "{\"model_config\":{\"model\":1},\"bogus\":true,\"num_samples\":\"x\"}", NULL, paths, 4);
    }
    {
        const char *paths[] = {"model_config.temperature", "model_config.provider", "model_config.endpoint",
                               "model_config.extra", "provider_api_keys.openai", "user", "logprobs", NULL};
        expect_invalid("seven problems", hl_complete, c,
                       "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"temperature\":\"hot\","
                       "\"provider\":\"nope\",\"endpoint\":\"nope\",\"extra\":0},"
                       "\"provider_api_keys\":{\"openai\":1},\"user\":2,\"logprobs\":0.5}",
                       "model_config.temperature", paths, 7);
    }
    {
        const char *paths[] = {"experiment_id", "a", "b", NULL};
        expect_invalid("missing + two unknown", hl_complete_experiment, c, "{\"a\":1,\"b\":2}", NULL, paths, 3);
    }
    {
        const char *paths[] = {"project", "environment", NULL};
        expect_invalid("deployed two wrong types", hl_complete_deployed, c, "{\"project\":1,\"environment\":[]}",
                       "project", paths, 2);
    }
    hl_client_free(c);
}

static void test_accepted_and_left_to_the_server(void)
{
    hl_client *c = tu_client(NULL);
    /* cross-field rules and ranges are not enforced locally */
    expect_sent("project and project_id", hl_complete, c,
                "{\"model_config\":" TU_MC ",\"project\":\"p\",\"project_id\":\"pr_1\"}", "/v4/completion");
    expect_sent("session_id and session_reference_id", hl_complete_deployed, c,
                "{\"project\":\"p\",\"session_id\":\"s\",\"session_reference_id\":\"r\",\"parent_id\":\"x\","
                "\"parent_reference_id\":\"y\"}",
                "/v4/completion-deployed");
    expect_sent("no project at all", hl_complete_experiment, c, "{\"experiment_id\":\"e\"}", "/v4/completion-experiment");
    expect_sent("penalties out of documented range", hl_complete, c,
                "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"presence_penalty\":99,"
                "\"frequency_penalty\":-7.5,\"temperature\":2,\"top_p\":0}}",
                "/v4/completion");
    expect_sent("negative and zero integers", hl_complete_model_configuration, c,
                "{\"model_config_id\":\"m\",\"num_samples\":0,\"logprobs\":-3}", "/v4/completion-model-config");
    /* stop: a string or an array of strings */
    expect_sent("stop string", hl_complete, c, "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"stop\":\"\\n\"}}",
                "/v4/completion");
    expect_sent("stop array", hl_complete, c,
                "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"stop\":[\"a\",\"b\"]}}", "/v4/completion");
    expect_sent("stop empty array", hl_complete, c,
                "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"stop\":[]}}", "/v4/completion");
    /* free-form objects take anything */
    expect_sent("free-form objects", hl_complete, c,
                "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"other\":{\"a\":null,\"b\":[1,{\"c\":true}]}},"
                "\"inputs\":{\"n\":1,\"s\":\"x\",\"nil\":null},\"metadata\":{\"deep\":{\"deeper\":[[[]]]}}}",
                "/v4/completion");
    /* extra provider names of any string value */
    expect_sent("extra provider names", hl_complete_deployed, c,
                "{\"provider_api_keys\":{\"replicate\":\"r\",\"langchain\":\"l\",\"my_own\":\"m\"}}", "/v4/completion-deployed");
    /* empty strings are strings */
    expect_sent("empty strings", hl_complete, c, "{\"model_config\":{\"model\":\"\",\"prompt_template\":\"\"},\"suffix\":\"\"}",
                "/v4/completion");
    /* every provider and endpoint value */
    const char *providers[] = {"openai", "openai_azure", "ai21", "mock", "anthropic", "langchain", "cohere", "replicate"};
    for (size_t k = 0; k < 8; k++) {
        char *req = fmt("{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"provider\":\"%s\"}}", providers[k]);
        expect_sent(req, hl_complete, c, req, "/v4/completion");
        free(req);
    }
    const char *endpoints[] = {"complete", "chat", "edit"};
    for (size_t k = 0; k < 3; k++) {
        char *req = fmt("{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"endpoint\":\"%s\"}}", endpoints[k]);
        expect_sent(req, hl_complete, c, req, "/v4/completion");
        free(req);
    }
    /* stream false is just a field */
    expect_sent("stream false", hl_complete_deployed, c, "{\"stream\":false}", "/v4/completion-deployed");
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_null_request_each_endpoint);
    RUN(test_not_json_each_endpoint);
    RUN(test_not_an_object_each_endpoint);
    RUN(test_unknown_top_level_key_each_endpoint);
    RUN(test_unknown_key_inside_model_config);
    RUN(test_missing_required);
    RUN(test_wrong_types_common_each_endpoint);
    RUN(test_wrong_types_model_config);
    RUN(test_bad_enums);
    RUN(test_every_problem_listed);
    RUN(test_accepted_and_left_to_the_server);
    return tu_finish();
}
