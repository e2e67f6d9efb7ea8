/*
 * test_blocking.c — the four blocking calls against the test server: the request on the wire
 * (method, path, headers, exact body bytes), the success envelope, and each error type that
 * comes from the network (api_error, connection_error, timeout, invalid_response).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

/* request text minus its closing '}' + "," + member + "}" */
static char *append_member(const char *req, const char *member)
{
    size_t n = strlen(req);
    while (n > 0 && req[n - 1] != '}') n--;
    if (n == 0) abort();  /* not an object: a bug in the test itself */
    char *s = malloc(n + strlen(member) + 4);
    if (!s) abort();
    memcpy(s, req, n - 1);
    s[n - 1] = 0;
    int empty = (n >= 2 && req[n - 2] == '{');
    strcat(s, empty ? "" : ",");
    strcat(s, member);
    strcat(s, "}");
    return s;
}

static char *with_empty_keys(const char *req) { return append_member(req, "\"provider_api_keys\":{}"); }

/* Check the one recorded request: POST, path, the standard headers, exact body. */
static void check_wire(json_t *req, const char *path, const char *body, const char *ua)
{
    CHECK_JSTR(req, "method", "POST");
    CHECK_JSTR(req, "path", path);
    CHECK_STR(tu_req_header(req, "X-API-KEY"), TU_SECRET);
    CHECK_INT(tu_req_header_count(req, "X-API-KEY"), 1);
    CHECK_STR(tu_req_header(req, "Content-Type"), "application/json");
    CHECK_STR(tu_req_header(req, "Accept"), "application/json");
    CHECK_STR(tu_req_header(req, "User-Agent"), ua ? ua : "libhumanloop/" HL_VERSION_STRING);
    CHECKF(tu_req_header(req, "Expect") == NULL, "Expect header sent: %s", tu_req_header(req, "Expect"));
    CHECKF(tu_req_header(req, "Authorization") == NULL, "Authorization header sent");
    if (body) CHECK_JSTR(req, "body", body);
}

/* One call on a fresh server: returns the parsed envelope, checks exactly one request was
 * recorded and stores it (new reference) in *req_out. */
static json_t *call_one(tu_call_fn fn, hl_client *c, const char *request, json_t **req_out, char **raw)
{
    tu_reset();
    json_t *env = tu_call(fn, c, request, raw);
    json_t *reqs = tu_requests();
    CHECKF(json_array_size(reqs) == 1, "expected 1 recorded request, got %zu", json_array_size(reqs));
    *req_out = json_array_get(reqs, 0);
    if (*req_out) json_incref(*req_out);
    json_decref(reqs);
    return env;
}

/* ---------------------------------------------------------------------------------------- */

static void test_version_and_null_frees(void)
{
    CHECK(hl_version() != NULL);
    CHECK_STR(hl_version(), HL_VERSION_STRING);
    CHECK(hl_version() == hl_version() || strcmp(hl_version(), hl_version()) == 0);
    CHECK_INT(HL_VERSION_MAJOR, 0);
    CHECK_INT(HL_VERSION_MINOR, 2);
    CHECK_INT(HL_VERSION_PATCH, 0);
    hl_free(NULL);
    hl_client_free(NULL);
    hl_stream_free(NULL);
    CHECK(hl_stream_next(NULL) == NULL);
    CHECK(1);
}

static void test_minimal_request_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        json_t *req = NULL;
        json_t *env = call_one(ep->call, c, ep->minimal, &req, NULL);
        CHECKF(tu_is_ok(env), "%s: ok", ep->name);
        char *body = with_empty_keys(ep->minimal);
        check_wire(req, ep->path, body, NULL);
        CHECK_JSTR(env, "body.data[0].output", "Hello from the test server");
        free(body);
        json_decref(req);
        json_decref(env);
    }
    hl_client_free(c);
}

static const char *FULL_REQUESTS[4] = {
    "{\"model_config\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt_template\":\"Summarize this for a second-grade student:\\n\\nText:\\n{{text}}\\n\\nSummary:\\n\",\"description\":\"Second-grade summarizer\",\"name\":\"summarizer-v1\",\"provider\":\"openai\",\"max_tokens\":-1,\"temperature\":0.7,\"top_p\":1,\"stop\":[\"\\n\\n\",\"Text:\"],\"presence_penalty\":0,\"frequency_penalty\":0.5,\"other\":{\"best_of\":1},\"endpoint\":\"complete\"},\"project\":\"sdk-example\",\"session_reference_id\":\"conversation-2024-001\",\"parent_reference_id\":\"step-0\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"source\":\"libhumanloop-example\",\"metadata\":{\"request_origin\":\"docs\",\"attempt\":1},\"provider_api_keys\":{\"openai\":\"sk-openai-EXAMPLE\",\"anthropic\":\"sk-ant-EXAMPLE\",\"cohere\":\"co-EXAMPLE\",\"ai21\":\"ai21-EXAMPLE\",\"mock\":\"mock-EXAMPLE\",\"openai_azure\":\"azure-EXAMPLE\",\"openai_azure_endpoint\":\"https://example-resource.openai.azure.com\"},\"num_samples\":1,\"logprobs\":2,\"stream\":false,\"suffix\":\"\\n-- end of summary\",\"user\":\"user@example.com\"}",
    "{\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\",\"session_id\":\"sesh_Fh9YpbiwCmQqZ5yL2v6kS\",\"parent_id\":\"data_7kPq2xPZ9cQv0wGm1pTtR\",\"inputs\":{\"question\":\"How should I think about competition for my startup?\"},\"source\":\"libhumanloop-example\",\"metadata\":{\"tenant\":\"acme\"},\"provider_api_keys\":{\"openai\":\"sk-openai-EXAMPLE\"},\"num_samples\":2,\"logprobs\":0,\"stream\":false,\"suffix\":\"\",\"user\":\"user-42\",\"environment\":\"production\"}",
    /* the example has "stream": true; false here (streaming is test_stream.c's business) */
    "{\"experiment_id\":\"exp_6Jq1k2dRr0sVwZpX4yNcA\",\"project\":\"sdk-example\",\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\",\"session_reference_id\":\"conversation-2024-002\",\"parent_reference_id\":\"step-3\",\"inputs\":{\"question\":\"Name three uses of llama wool.\",\"tone\":\"friendly\"},\"source\":\"libhumanloop-example\",\"metadata\":{\"ab_bucket\":\"B\"},\"provider_api_keys\":{\"anthropic\":\"sk-ant-EXAMPLE\",\"openai\":\"sk-openai-EXAMPLE\"},\"num_samples\":3,\"logprobs\":1,\"stream\":false,\"suffix\":\" (end)\",\"user\":\"user-43\"}",
    "{\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"project\":\"sdk-example\",\"session_id\":\"sesh_Fh9YpbiwCmQqZ5yL2v6kS\",\"parent_id\":\"data_7kPq2xPZ9cQv0wGm1pTtR\",\"inputs\":{\"text\":\"Alpacas and llamas are related but differ in size.\"},\"source\":\"libhumanloop-example\",\"metadata\":{\"nested\":{\"ok\":true},\"list\":[1,2,3],\"nothing\":null},\"provider_api_keys\":{},\"num_samples\":1,\"logprobs\":5,\"stream\":false,\"suffix\":\"\",\"user\":\"user-44\"}",
};

static void test_full_request_exact_body_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        json_t *req = NULL;
        json_t *env = call_one(ep->call, c, FULL_REQUESTS[i], &req, NULL);
        CHECKF(tu_is_ok(env), "%s: ok", ep->name);
        /* provider_api_keys given by the caller: stays where it is, body is byte-identical */
        check_wire(req, ep->path, FULL_REQUESTS[i], NULL);
        json_decref(req);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_pretty_input_goes_out_compact(void)
{
    hl_client *c = tu_client(NULL);
    const char *pretty =
        "\n  {\r\n\t\"model_config\" : {\n    \"model\" :  \"m\",\n    \"prompt_template\":\"a {{x}} b\",\n"
        "    \"stop\" : [ \"\\n\" , \"END\" ] ,\n    \"other\" : { }\n  } ,\n  \"inputs\" : { \"x\" : [ 1 , 2 , { } , [ ] ] } ,\n"
        "  \"metadata\" : { \"t\" : true , \"f\" : false , \"n\" : null }\n}\n  ";
    const char *compact =
        "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"a {{x}} b\",\"stop\":[\"\\n\",\"END\"],\"other\":{}},"
        "\"inputs\":{\"x\":[1,2,{},[]]},\"metadata\":{\"t\":true,\"f\":false,\"n\":null},\"provider_api_keys\":{}}";
    json_t *req = NULL;
    json_t *env = call_one(hl_complete, c, pretty, &req, NULL);
    CHECK(tu_is_ok(env));
    check_wire(req, "/v4/completion", compact, NULL);
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

/* Numbers go out as the official SDK sends them: Python's json writes repr(float) (shortest
 * round trip: 0.7, 1e-07, 100.0, -0.0, 1.5e+300), integers as integers, key order as given. */
static void test_numbers_written_as_the_sdk_writes_them(void)
{
    hl_client *c = tu_client(NULL);
    const char *request =
        "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"max_tokens\":-1,\"temperature\":0.7,"
        "\"top_p\":1e-7,\"presence_penalty\":-0.0,\"frequency_penalty\":1E+2},"
        "\"metadata\":{\"tiny\":1e-7,\"onefive\":1.50,\"neg\":-1,"
        "\"huge\":1.5e300,\"pi\":3.14159265358979323846264338327950288,\"x\":0.1,\"y\":0.2,\"z\":100,"
        "\"sum\":0.30000000000000004,\"e20\":1e20,\"one\":1.0},"
        "\"num_samples\":1,\"logprobs\":0}";
    const char *expected =
        "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\",\"max_tokens\":-1,\"temperature\":0.7,"
        "\"top_p\":1e-07,\"presence_penalty\":-0.0,\"frequency_penalty\":100.0},"
        "\"metadata\":{\"tiny\":1e-07,\"onefive\":1.5,\"neg\":-1,"
        "\"huge\":1.5e+300,\"pi\":3.141592653589793,\"x\":0.1,\"y\":0.2,\"z\":100,"
        "\"sum\":0.30000000000000004,\"e20\":1e+20,\"one\":1.0},"
        "\"num_samples\":1,\"logprobs\":0,\"provider_api_keys\":{}}";
    json_t *req = NULL;
    json_t *env = call_one(hl_complete, c, request, &req, NULL);
    CHECK(tu_is_ok(env));
    check_wire(req, "/v4/completion", expected, NULL);
    const char *body = tu_str(req, "body");
    CHECKF(!tu_contains(body, "0.69999"), "no 0.69999 on the wire: %s", body);
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

/* An integer beyond 64 bits cannot be sent (the SDK would): invalid_request naming its path. */
static void test_integer_beyond_64_bits_is_an_invalid_request(void)
{
    hl_client *c = tu_client(NULL);
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c,
                          "{\"model_config\":{\"model\":\"m\",\"prompt_template\":\"p\"},"
                          "\"metadata\":{\"ok\":1,\"big\":123456789012345678901234567890}}", &raw);
    CHECK_STR(tu_err_type(env), "invalid_request");
    CHECK_JSTR(env, "error.path", "metadata.big");
    CHECKF(tu_contains(tu_str(env, "error.message"), "out of range"), "%s", raw);
    CHECK_INT(tu_request_count(), 0);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

static void test_response_numbers_kept_as_written(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"status\":200,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":"
              "\"{\\\"data\\\":[],\\\"provider_responses\\\":[],\\\"x\\\":0.7,\\\"tiny\\\":1e-7,"
              "\\\"big\\\":123456789012345678901234567890,\\\"onefive\\\":1.50,\\\"neg\\\":-1}\"}]");
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECKF(tu_is_ok(env), "%s", raw);
    CHECKF(tu_contains(raw, "0.7") && !tu_contains(raw, "0.69999"), "0.7 kept in the envelope: %s", raw);
    CHECKF(tu_contains(raw, "123456789012345678901234567890"), "big integer kept in the envelope: %s", raw);
    CHECKF(tu_contains(raw, "1e-7"), "1e-7 kept as written in the envelope: %s", raw);
    CHECKF(tu_contains(raw, "1.50"), "1.50 kept as written in the envelope: %s", raw);
    /* (jansson reads this document with every number as a real, for the 30-digit integer) */
    CHECKF(tu_contains(raw, "\"neg\":-1}"), "-1 kept as written in the envelope: %s", raw);
    free(raw);
    json_decref(env);
    hl_client_free(c);
}

static void test_non_ascii_raw_utf8(void)
{
    hl_client *c = tu_client(NULL);
    /* given raw: goes out byte-identical */
    const char *request = "{\"model_config\":" TU_MC ",\"inputs\":{\"question\":\"h\xc3\xa9llo \xe2\x80\x94 "
                          "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\xa6\x99\",\"esc\":\"q\\\" b\\\\ n\\n t\\t\"}}";
    char *expected = with_empty_keys(request);
    json_t *req = NULL;
    json_t *env = call_one(hl_complete, c, request, &req, NULL);
    CHECK(tu_is_ok(env));
    check_wire(req, "/v4/completion", expected, NULL);
    /* the server echoes inputs into data[0].inputs: the envelope decodes to the same text */
    CHECK_JSTR(env, "body.data[0].inputs.question", "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\xa6\x99");
    free(expected);
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

static void test_non_ascii_escapes_go_out_raw(void)
{
    /* "Non-ASCII text goes out as raw UTF-8": \u escapes of non-ASCII characters in the input
     * are written as raw UTF-8 (as the SDK's json.dumps(ensure_ascii=False) does). */
    hl_client *c = tu_client(NULL);
    const char *request = "{\"model_config\":" TU_MC ",\"inputs\":{\"q\":\"\\u00e9\\u65e5\\ud83e\\udd99\"}}";
    const char *expected = "{\"model_config\":" TU_MC ",\"inputs\":{\"q\":\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\xa6\x99\"},"
                           "\"provider_api_keys\":{}}";
    json_t *req = NULL;
    json_t *env = call_one(hl_complete, c, request, &req, NULL);
    CHECK(tu_is_ok(env));
    check_wire(req, "/v4/completion", expected, NULL);
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

static void test_provider_keys_request_wins(void)
{
    hl_client *c = tu_client(",\"openai_api_key\":\"c-openai\",\"openai_azure_api_key\":\"c-azure\"");
    const char *request = "{\"model_config\":" TU_MC ",\"provider_api_keys\":{\"openai\":\"r-openai\","
                          "\"openai_azure\":\"r-azure\"},\"project\":\"p\"}";
    json_t *req = NULL;
    json_t *env = call_one(hl_complete, c, request, &req, NULL);
    CHECK(tu_is_ok(env));
    /* the SDK's typo bug (client key overwrites openai/openai_azure) is not copied */
    check_wire(req, "/v4/completion", request, NULL);
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

static void test_provider_keys_client_only(void)
{
    hl_client *c = tu_client(",\"anthropic_api_key\":\"c-ant\"");
    json_t *req = NULL;
    const char *request = "{\"model_config\":" TU_MC ",\"project\":\"p\"}";
    json_t *env = call_one(hl_complete, c, request, &req, NULL);
    CHECK(tu_is_ok(env));
    char *expected = append_member(request, "\"provider_api_keys\":{\"anthropic\":\"c-ant\"}");
    check_wire(req, "/v4/completion", expected, NULL);
    free(expected);
    json_decref(req);
    json_decref(env);
    /* every endpoint merges */
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        env = call_one(TU_ENDPOINTS[i].call, c, TU_ENDPOINTS[i].minimal, &req, NULL);
        expected = append_member(TU_ENDPOINTS[i].minimal, "\"provider_api_keys\":{\"anthropic\":\"c-ant\"}");
        check_wire(req, TU_ENDPOINTS[i].path, expected, NULL);
        free(expected);
        json_decref(req);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_provider_keys_merged_all(void)
{
    hl_client *c = tu_client(",\"openai_api_key\":\"c-openai\",\"openai_azure_api_key\":\"c-azure\","
                             "\"openai_azure_endpoint_api_key\":\"c-endpoint\",\"ai21_api_key\":\"c-ai21\","
                             "\"mock_api_key\":\"c-mock\",\"anthropic_api_key\":\"c-ant\",\"cohere_api_key\":\"c-cohere\"");
    const char *request = "{\"model_config\":" TU_MC ",\"provider_api_keys\":{\"openai\":\"r-openai\","
                          "\"openai_azure\":\"r-azure\",\"anthropic\":\"r-ant\",\"custom_llm\":\"r-custom\"},\"user\":\"u\"}";
    json_t *req = NULL;
    json_t *env = call_one(hl_complete, c, request, &req, NULL);
    CHECK(tu_is_ok(env));
    check_wire(req, "/v4/completion", NULL, NULL);
    const char *body = tu_str(req, "body");
    /* the members keep the caller's order; provider_api_keys stays at its position */
    const char *prefix = "{\"model_config\":" TU_MC ",\"provider_api_keys\":{";
    CHECKF(body && strncmp(body, prefix, strlen(prefix)) == 0, "body starts with the caller's members: %s", body);
    CHECKF(tu_contains(body, "},\"user\":\"u\"}"), "user follows provider_api_keys: %s", body);
    json_t *b = tu_json(body);
    CHECK_JEQ(b, "provider_api_keys",
              "{\"openai\":\"r-openai\",\"openai_azure\":\"r-azure\",\"anthropic\":\"r-ant\",\"custom_llm\":\"r-custom\","
              "\"cohere\":\"c-cohere\",\"openai_azure_endpoint\":\"c-endpoint\",\"ai21\":\"c-ai21\",\"mock\":\"c-mock\"}");
    json_decref(b);
    json_decref(req);
    json_decref(env);

    /* no request keys at all: the seven client keys under their body names */
    env = call_one(hl_complete_deployed, c, "{\"project\":\"p\"}", &req, NULL);
    b = tu_json(tu_str(req, "body"));
    CHECK_JEQ(b, "provider_api_keys",
              "{\"openai\":\"c-openai\",\"openai_azure\":\"c-azure\",\"anthropic\":\"c-ant\",\"cohere\":\"c-cohere\","
              "\"openai_azure_endpoint\":\"c-endpoint\",\"ai21\":\"c-ai21\",\"mock\":\"c-mock\"}");
    CHECK_JSTR(b, "project", "p");
    CHECK_INT(json_object_size(b), 2);
    json_decref(b);
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

static void test_provider_keys_extra_names_passed_through(void)
{
    hl_client *c = tu_client(NULL);
    const char *request = "{\"project\":\"p\",\"provider_api_keys\":{\"replicate\":\"r-rep\",\"langchain\":\"r-lc\","
                          "\"google\":\"r-g\"}}";
    json_t *req = NULL;
    json_t *env = call_one(hl_complete_deployed, c, request, &req, NULL);
    CHECK(tu_is_ok(env));
    check_wire(req, "/v4/completion-deployed", request, NULL);
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

static const char *RESPONSE_200 =
    "{\"data\":[{\"id\":\"data_9dJz3WqkT2uYvX8pLmN4c\",\"index\":0,\"output\":\"Llamas are friendly and curious, and they like to walk up to people.\",\"raw_output\":\" Llamas are friendly and curious, and they like to walk up to people.\\n\",\"inputs\":{\"text\":\"Llamas are curious animals that usually approach people easily.\"},\"model_config_id\":\"config_Vd9w2a8eCkLzYb5qS1nHu\",\"finish_reason\":\"stop\"}],\"provider_responses\":[{\"id\":\"cmpl-8Abc123Def456Ghi789\",\"object\":\"text_completion\",\"created\":1697000000,\"model\":\"gpt-3.5-turbo-instruct\",\"choices\":[{\"text\":\" Llamas are friendly and curious, and they like to walk up to people.\\n\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":17,\"total_tokens\":48}}],\"project_id\":\"pr_3usCu3Zed2ekbUbCuUbq8\",\"num_samples\":1,\"user\":\"user@example.com\",\"usage\":{\"prompt_tokens\":31,\"generation_tokens\":17,\"total_tokens\":48},\"metadata\":{\"request_origin\":\"docs\",\"attempt\":1}}";

static const char *RESPONSE_422 =
    "{\"detail\":[{\"loc\":[\"body\",\"model_config\",\"prompt_template\"],\"msg\":\"field required\",\"type\":\"value_error.missing\"},{\"loc\":[\"body\",\"model_config\",\"stop\",1],\"msg\":\"str type expected\",\"type\":\"type_error.str\"}]}";

static void check_headers_lowercase(json_t *env, const char *path)
{
    json_t *h = tu_get(env, path);
    CHECKF(json_is_object(h), "%s is an object", path);
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v) {
        int lower = 1;
        for (const char *p = k; *p; p++)
            if (isupper((unsigned char)*p)) lower = 0;
        CHECKF(lower, "header name is lower-case: %s", k);
        CHECKF(json_is_string(v), "header %s has a string value", k);
    }
}

static void test_success_envelope_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        tu_script("[{\"status\":200,\"headers\":{\"X-Request-Id\":\"req-%d\"},\"json\":%s}]", i, RESPONSE_200);
        char *raw = NULL;
        json_t *env = tu_call(ep->call, c, ep->minimal, &raw);
        CHECKF(tu_bool(env, "ok") == 1, "%s: ok true: %s", ep->name, raw);
        CHECK_JINT(env, "status", 200);
        check_headers_lowercase(env, "headers");
        CHECKF(tu_contains(tu_str(env, "headers.content-type"), "application/json"), "%s content-type", ep->name);
        char rid[32];
        snprintf(rid, sizeof rid, "req-%d", i);
        CHECK_JSTR(env, "headers.x-request-id", rid);
        CHECK_JEQ(env, "body", RESPONSE_200);
        json_t *rtt = tu_get(env, "round_trip_time");
        CHECKF(json_is_number(rtt) && json_number_value(rtt) >= 0 && json_number_value(rtt) < 60,
               "round_trip_time is a number of seconds: %s", raw);
        CHECK(tu_get(env, "error") == NULL);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_repeated_headers_joined(void)
{
    hl_client *c = tu_client(NULL);
    tu_script("[{\"status\":200,\"headers\":[[\"X-Multi\",\"a\"],[\"X-Multi\",\"b\"],[\"X-CamelCase\",\"v\"]],"
              "\"json\":{\"data\":[],\"provider_responses\":[]}}]");
    json_t *env = tu_call(hl_complete, c, "{\"model_config\":" TU_MC "}", NULL);
    CHECK(tu_is_ok(env));
    CHECK_JSTR(env, "headers.x-multi", "a, b");
    CHECK_JSTR(env, "headers.x-camelcase", "v");
    check_headers_lowercase(env, "headers");
    json_decref(env);
    hl_client_free(c);
}

static void test_api_error_422_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        tu_script("[{\"status\":422,\"headers\":{\"X-Trace\":\"t-%d\"},\"json\":%s}]", i, RESPONSE_422);
        char *raw = NULL;
        json_t *env = tu_call(ep->call, c, ep->minimal, &raw);
        CHECKF(tu_bool(env, "ok") == 0, "%s: ok false: %s", ep->name, raw);
        CHECK_STR(tu_err_type(env), "api_error");
        CHECK_JINT(env, "error.status", 422);
        CHECK_JSTR(env, "error.reason", "Unprocessable Entity");
        CHECK_JEQ(env, "error.body", RESPONSE_422);
        CHECK_JSTR(env, "error.body.detail[0].msg", "field required");
        check_headers_lowercase(env, "error.headers");
        char t[16];
        snprintf(t, sizeof t, "t-%d", i);
        CHECK_JSTR(env, "error.headers.x-trace", t);
        CHECK(json_is_number(tu_get(env, "error.round_trip_time")));
        CHECKF(tu_contains(tu_str(env, "error.message"), "422"), "message names the status: %s",
               tu_str(env, "error.message"));
        /* a 422 is never retried */
        CHECK_INT(tu_request_count(), 1);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* 5xx answers may be retried by later versions: script the answer several times. */
#define REPEAT4(r) "[" r "," r "," r "," r "]"

static void test_api_error_500_text_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        tu_script(REPEAT4("{\"status\":500,\"body\":\"Internal oops: <b>not json</b>\\n\"}"));
        char *raw = NULL;
        json_t *env = tu_call(ep->call, c, ep->minimal, &raw);
        CHECKF(tu_bool(env, "ok") == 0, "%s: %s", ep->name, raw);
        CHECK_STR(tu_err_type(env), "api_error");
        CHECK_JINT(env, "error.status", 500);
        CHECK_JSTR(env, "error.reason", "Internal Server Error");
        CHECKF(json_is_string(tu_get(env, "error.body")), "body is a string: %s", raw);
        CHECK_JSTR(env, "error.body", "Internal oops: <b>not json</b>\n");
        check_headers_lowercase(env, "error.headers");
        CHECKF(tu_contains(tu_str(env, "error.headers.content-type"), "text/plain"), "%s", raw);
        CHECK(json_is_number(tu_get(env, "error.round_trip_time")));
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_api_error_other_statuses(void)
{
    hl_client *c = tu_client(NULL);
    /* 500 with a JSON body: parsed */
    tu_script(REPEAT4("{\"status\":500,\"json\":{\"detail\":\"boom\"}}"));
    json_t *env = tu_call(hl_complete, c, "{\"model_config\":" TU_MC "}", NULL);
    CHECK_STR(tu_err_type(env), "api_error");
    CHECK_JINT(env, "error.status", 500);
    CHECK_JEQ(env, "error.body", "{\"detail\":\"boom\"}");
    json_decref(env);
    /* 401, 404 with JSON bodies; a custom reason phrase */
    tu_reset();
    tu_script("[{\"status\":401,\"json\":{\"detail\":\"Invalid API key\"}}]");
    env = tu_call(hl_complete, c, "{\"model_config\":" TU_MC "}", NULL);
    CHECK_STR(tu_err_type(env), "api_error");
    CHECK_JINT(env, "error.status", 401);
    CHECK_JSTR(env, "error.reason", "Unauthorized");
    CHECK_JSTR(env, "error.body.detail", "Invalid API key");
    json_decref(env);
    tu_reset();
    tu_script("[{\"status\":404,\"reason\":\"Nothing Here\",\"body\":\"\"}]");
    env = tu_call(hl_complete_deployed, c, "{}", NULL);
    CHECK_STR(tu_err_type(env), "api_error");
    CHECK_JINT(env, "error.status", 404);
    CHECK_JSTR(env, "error.reason", "Nothing Here");
    CHECK_JSTR(env, "error.body", "");
    json_decref(env);
    hl_client_free(c);
}

static void test_connection_error_each_endpoint(void)
{
    int port = tu_closed_port();
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"api_key\":\"%s\",\"host\":\"http://127.0.0.1:%d/v4\"}", TU_SECRET, port);
    char *err = NULL;
    hl_client *c = hl_client_new(cfg, &err);
    CHECK(c != NULL);
    hl_free(err);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        char *raw = NULL;
        double t0 = tu_now();
        json_t *env = tu_call(ep->call, c, ep->minimal, &raw);
        double dt = tu_now() - t0;
        CHECKF(tu_bool(env, "ok") == 0, "%s: %s", ep->name, raw);
        CHECK_STR(tu_err_type(env), "connection_error");
        CHECKF(dt < 30 * tu_factor(), "connection_error took %.1fs", dt);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_timeout_each_endpoint(void)
{
    hl_client *c = tu_client(",\"timeout\":1");
    double f = tu_factor();
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        tu_script("[{\"delay\":%g,\"json\":{\"data\":[],\"provider_responses\":[]}},"
                  "{\"delay\":%g,\"json\":{\"data\":[],\"provider_responses\":[]}}]", 3 * f, 3 * f);
        char *raw = NULL;
        double t0 = tu_now();
        json_t *env = tu_call(ep->call, c, ep->minimal, &raw);
        double dt = tu_now() - t0;
        CHECKF(tu_bool(env, "ok") == 0, "%s: %s", ep->name, raw);
        CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "timeout") == 0, "%s: type timeout: %s", ep->name, raw);
        CHECKF(dt < 2.5 * f, "%s: timeout call ended after %.2fs (bound %.1fs)", ep->name, dt, 2.5 * f);
        CHECKF(dt > 0.8, "%s: ended after %.2fs, before the 1 s timeout", ep->name, dt);
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

/* "timeout": null sets no overall limit, in the configuration and in a call's options. */
static void test_timeout_null_means_no_limit(void)
{
    double f = tu_factor();
    hl_client *c = tu_client(",\"timeout\":%g,\"max_retries\":0", 0.4 * f);
    tu_script("[{\"delay\":%g},{\"delay\":%g}]", 1.0 * f, 1.0 * f);
    char *raw = hl_call_run(c, "complete", TU_REQ, "{\"timeout\":null}");
    json_t *env = tu_parse_env(raw);
    CHECKF(tu_is_ok(env), "options timeout null: %s", raw);
    json_decref(env);
    hl_free(raw);
    raw = hl_call_run(c, "complete", TU_REQ, NULL);
    env = tu_parse_env(raw);
    CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "timeout") == 0, "the client's timeout still applies: %s", raw);
    json_decref(env);
    hl_free(raw);
    hl_client_free(c);

    c = tu_client(",\"timeout\":null,\"max_retries\":0");
    tu_script("[{\"delay\":%g}]", 1.0 * f);
    env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECKF(tu_is_ok(env), "configuration timeout null: %s", raw);
    json_decref(env);
    free(raw);
    hl_client_free(c);
}

static void test_invalid_response_each_endpoint(void)
{
    hl_client *c = tu_client(NULL);
    for (int i = 0; i < TU_NENDPOINTS; i++) {
        const tu_endpoint *ep = &TU_ENDPOINTS[i];
        tu_reset();
        tu_script("[{\"status\":200,\"body\":\"this is <not> json\"}]");
        char *raw = NULL;
        json_t *env = tu_call(ep->call, c, ep->minimal, &raw);
        CHECKF(tu_bool(env, "ok") == 0, "%s: %s", ep->name, raw);
        CHECK_STR(tu_err_type(env), "invalid_response");
        CHECK_JINT(env, "error.status", 200);
        CHECK_JSTR(env, "error.body", "this is <not> json");
        free(raw);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_invalid_response_not_an_object(void)
{
    hl_client *c = tu_client(NULL);
    const char *bodies[] = {"[1,2,3]", "\"just a string\"", "42", "", "{\"data\": [1,2", "null"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        tu_reset();
        json_t *b = json_string(bodies[i]);
        char *bs = json_dumps(b, JSON_ENCODE_ANY);
        tu_script("[{\"status\":200,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":%s}]", bs);
        char *raw = NULL;
        json_t *env = tu_call(hl_complete, c, "{\"model_config\":" TU_MC "}", &raw);
        CHECKF(tu_err_type(env) && strcmp(tu_err_type(env), "invalid_response") == 0, "body %s -> %s", bodies[i], raw);
        CHECK_JINT(env, "error.status", 200);
        CHECK_JSTR(env, "error.body", bodies[i]);
        free(raw);
        free(bs);
        json_decref(b);
        json_decref(env);
    }
    hl_client_free(c);
}

static void test_keep_alive_one_connection(void)
{
    hl_client *c = tu_client(NULL);
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < TU_NENDPOINTS; i++) {
            json_t *env = tu_call(TU_ENDPOINTS[i].call, c, TU_ENDPOINTS[i].minimal, NULL);
            CHECK(tu_is_ok(env));
            json_decref(env);
        }
    }
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 12);
    json_t *first = tu_get(reqs, "[0].connection");
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        CHECKF(first && json_equal(json_object_get(r, "connection"), first), "request %zu used another connection", i);
    }
    json_decref(reqs);
    hl_client_free(c);
}

static void test_keep_alive_survives_errors(void)
{
    /* an api_error answer with a body does not cost the connection */
    hl_client *c = tu_client(NULL);
    tu_script("[{\"json\":{\"data\":[],\"provider_responses\":[]}},{\"status\":422,\"json\":{\"detail\":[]}},"
              "{\"json\":{\"data\":[],\"provider_responses\":[]}}]");
    for (int k = 0; k < 3; k++) {
        json_t *env = tu_call(hl_complete_deployed, c, "{}", NULL);
        json_decref(env);
    }
    json_t *reqs = tu_requests();
    CHECK_INT(json_array_size(reqs), 3);
    CHECK(json_equal(tu_get(reqs, "[0].connection"), tu_get(reqs, "[2].connection")));
    json_decref(reqs);
    hl_client_free(c);
}

static void test_host_trailing_slash(void)
{
    hl_client *c = tu_client(NULL);
    hl_client_free(c);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"api_key\":\"%s\",\"host\":\"%s/\"}", TU_SECRET, tu_base_url());
    c = hl_client_new(cfg, NULL);
    CHECK(c != NULL);
    json_t *req = NULL;
    json_t *env = call_one(hl_complete_experiment, c, "{\"experiment_id\":\"e\"}", &req, NULL);
    CHECK(tu_is_ok(env));
    CHECK_JSTR(req, "path", "/v4/completion-experiment");
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

static void test_user_agent_custom(void)
{
    hl_client *c = tu_client(",\"user_agent\":\"my-app/2.3 (+https://example.com)\"");
    json_t *req = NULL;
    json_t *env = call_one(hl_complete_model_configuration, c, "{\"model_config_id\":\"c\"}", &req, NULL);
    CHECK(tu_is_ok(env));
    check_wire(req, "/v4/completion-model-config", "{\"model_config_id\":\"c\",\"provider_api_keys\":{}}",
               "my-app/2.3 (+https://example.com)");
    json_decref(req);
    json_decref(env);
    hl_client_free(c);
}

/* A hostile server echoes the API key in an error body and header: the envelope redacts it
 * (tu_parse_env fails the test if TU_SECRET appears anywhere in the returned text). */
static void test_secret_echoed_by_server_is_redacted(void)
{
    hl_client *c = tu_client(",\"max_retries\":0");
    tu_script("[{\"status\":401,\"headers\":{\"X-Echo\":\"%s\"},\"json\":{\"detail\":\"bad key %s\"}},"
              "{\"status\":500,\"body\":\"<p>%s</p>\"}]", TU_SECRET, TU_SECRET, TU_SECRET);
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECK_STR(tu_err_type(env), "api_error");
    CHECK_JINT(env, "error.status", 401);
    CHECK_JSTR(env, "error.body.detail", "bad key [redacted]");
    CHECK_JSTR(env, "error.headers.x-echo", "[redacted]");
    json_decref(env);
    free(raw);
    env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECK_JSTR(env, "error.body", "<p>[redacted]</p>");
    json_decref(env);
    free(raw);
    hl_client_free(c);
}

static void test_secret_never_in_any_string(void)
{
    /* The key appears nowhere in what the library returns, even when the server echoes
     * request headers back in the body of an error, and for every error type. tu_parse_env
     * checks each envelope; this test drives a few more paths. */
    hl_client *c = tu_client(NULL);
    tu_script("[{\"status\":400,\"reason\":\"Bad\",\"json\":{\"detail\":\"nope\"}},{\"status\":200,\"body\":\"x\"}]");
    json_t *e1 = tu_call(hl_complete, c, "{\"model_config\":" TU_MC "}", NULL);
    json_t *e2 = tu_call(hl_complete, c, "{\"model_config\":" TU_MC "}", NULL);
    CHECK_STR(tu_err_type(e1), "api_error");
    CHECK_STR(tu_err_type(e2), "invalid_response");
    json_decref(e1);
    json_decref(e2);
    hl_client_free(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_version_and_null_frees);
    RUN(test_minimal_request_each_endpoint);
    RUN(test_full_request_exact_body_each_endpoint);
    RUN(test_pretty_input_goes_out_compact);
    RUN(test_numbers_written_as_the_sdk_writes_them);
    RUN(test_integer_beyond_64_bits_is_an_invalid_request);
    RUN(test_response_numbers_kept_as_written);
    RUN(test_non_ascii_raw_utf8);
    RUN(test_non_ascii_escapes_go_out_raw);
    RUN(test_provider_keys_request_wins);
    RUN(test_provider_keys_client_only);
    RUN(test_provider_keys_merged_all);
    RUN(test_provider_keys_extra_names_passed_through);
    RUN(test_success_envelope_each_endpoint);
    RUN(test_repeated_headers_joined);
    RUN(test_api_error_422_each_endpoint);
    RUN(test_api_error_500_text_each_endpoint);
    RUN(test_api_error_other_statuses);
    RUN(test_connection_error_each_endpoint);
    RUN(test_timeout_each_endpoint);
    RUN(test_timeout_null_means_no_limit);
    RUN(test_invalid_response_each_endpoint);
    RUN(test_invalid_response_not_an_object);
    RUN(test_keep_alive_one_connection);
    RUN(test_keep_alive_survives_errors);
    RUN(test_host_trailing_slash);
    RUN(test_user_agent_custom);
    RUN(test_secret_never_in_any_string);
    RUN(test_secret_echoed_by_server_is_redacted);
    return tu_finish();
}
