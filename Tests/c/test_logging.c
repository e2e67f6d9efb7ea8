/*
 * test_logging.c — logging: one info line per attempt (call, method, URL, status or
 * error, attempt, duration, bytes, retry), debug lines with headers and bodies, never a key;
 * hl_set_log_callback routes lines to the host; "log_level" and HUMANLOOP_LOG send them to
 * stderr.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINES 64
static char *g_lines[MAX_LINES];
static int g_levels[MAX_LINES];
static int g_count;

static void collect(int level, const char *line, void *user_data)
{
    (void)user_data;
    if (g_count < MAX_LINES) {
        g_levels[g_count] = level;
        g_lines[g_count++] = strdup(line ? line : "");
    }
}

static void clear_lines(void)
{
    for (int i = 0; i < g_count; i++) free(g_lines[i]);
    g_count = 0;
}

/* The index of the first collected line containing every needle (NULL-terminated), or -1. */
static int find_line(const char *a, const char *b, const char *c)
{
    for (int i = 0; i < g_count; i++) {
        if (strstr(g_lines[i], a) && (!b || strstr(g_lines[i], b)) && (!c || strstr(g_lines[i], c))) return i;
    }
    return -1;
}

static void check_no_secrets(void)
{
    for (int i = 0; i < g_count; i++) {
        CHECKF(!strstr(g_lines[i], TU_SECRET) && !strstr(g_lines[i], "sk-OPENAI-KEY"), "a key in: %s", g_lines[i]);
    }
}

static void test_info_line_per_attempt_with_retry(void)
{
    hl_set_log_callback(collect, NULL, HL_LOG_INFO);
    hl_client *c = tu_client(",\"max_retries\":1,\"retry_base_delay\":0.01,\"retry_max_delay\":0.02");
    tu_script("[{\"status\":503,\"json\":{\"detail\":\"busy\"}}]");
    char *raw = NULL;
    json_t *env = tu_call(hl_complete, c, TU_REQ, &raw);
    CHECKF(tu_is_ok(env), "%s", raw);
    char url[256];
    snprintf(url, sizeof url, "POST %s/completion attempt=1", tu_base_url());
    int first = find_line("info complete ", url, "status=503");
    CHECKF(first >= 0 && strstr(g_lines[first], "-> retry in ") && strstr(g_lines[first], "duration=") &&
               strstr(g_lines[first], "bytes="),
           "first attempt line: %s", g_count ? g_lines[0] : "(none)");
    CHECK(find_line("info complete ", "attempt=2 status=200", NULL) > first);
    CHECK_INT(g_count, 2);
    for (int i = 0; i < g_count; i++) {
        CHECK_INT(g_levels[i], HL_LOG_INFO);
        CHECKF(strncmp(g_lines[i], "humanloop: ", 11) == 0, "%s", g_lines[i]);
    }
    check_no_secrets();
    clear_lines();
    free(raw);
    json_decref(env);
    hl_client_free(c);
    hl_set_log_callback(NULL, NULL, HL_LOG_OFF);
}

static void test_errors_and_streams_are_logged(void)
{
    hl_set_log_callback(collect, NULL, HL_LOG_INFO);
    char extra[128];
    snprintf(extra, sizeof extra, ",\"max_retries\":0");
    hl_client *c = tu_client(extra);
    hl_stream *s = hl_complete_stream(c, TU_REQ);
    char *item;
    while ((item = hl_stream_next(s)) != NULL) hl_free(item);
    hl_stream_free(s);
    CHECKF(find_line("info complete ", "attempt=1 status=200", NULL) >= 0, "stream line: %s", g_count ? g_lines[0] : "(none)");
    clear_lines();
    /* a connection failure: the error type and message */
    char config[256];
    snprintf(config, sizeof config, "{\"api_key\":\"%s\",\"host\":\"http://127.0.0.1:%d/v4\",\"max_retries\":0}", TU_SECRET,
             tu_closed_port());
    hl_client *closed = hl_client_new(config, NULL);
    hl_free(hl_complete(closed, TU_REQ));
    CHECKF(find_line("info complete ", "error=connection_error", NULL) >= 0, "%s", g_count ? g_lines[0] : "(none)");
    check_no_secrets();
    clear_lines();
    hl_client_free(closed);
    hl_client_free(c);
    hl_set_log_callback(NULL, NULL, HL_LOG_OFF);
}

static void test_debug_lines_show_headers_and_bodies_without_keys(void)
{
    hl_set_log_callback(collect, NULL, HL_LOG_DEBUG);
    hl_client *c = tu_client(",\"openai_api_key\":\"sk-OPENAI-KEY\",\"max_retries\":0");
    tu_script("[{\"status\":200,\"headers\":{\"X-Echo\":\"" TU_SECRET "\"},\"json\":{\"data\":[],\"echo\":\"" TU_SECRET "\"}}]");
    hl_free(hl_complete(c, "{\"model_config\":" TU_MC ",\"inputs\":{\"q\":\"llamas\"}}"));
    int headers = find_line("debug request headers: ", "\"X-API-KEY\":\"[redacted]\"", NULL);
    CHECKF(headers >= 0, "request headers line");
    int body = find_line("debug request body: ", "llamas", "\"openai\":\"[redacted]\"");
    CHECKF(body >= 0, "request body line");
    CHECK(find_line("debug response: 200 OK headers: ", "\"x-echo\":\"[redacted]\"", NULL) >= 0);
    CHECK(find_line("debug response body: ", "\"echo\":\"[redacted]\"", NULL) >= 0);
    for (int i = 0; i < g_count; i++) {
        if (strstr(g_lines[i], " debug ")) CHECK_INT(g_levels[i], HL_LOG_DEBUG);
    }
    check_no_secrets();
    clear_lines();
    hl_client_free(c);
    hl_set_log_callback(NULL, NULL, HL_LOG_OFF);
}

static void test_no_lines_when_off(void)
{
    hl_set_log_callback(collect, NULL, HL_LOG_OFF);
    hl_client *c = tu_client(NULL);
    hl_free(hl_complete(c, TU_REQ));
    CHECK_INT(g_count, 0);
    hl_set_log_callback(NULL, NULL, HL_LOG_OFF);
    hl_free(hl_complete(c, TU_REQ));
    CHECK_INT(g_count, 0);
    clear_lines();
    hl_client_free(c);
}

/* Runs one call in a child whose stderr is a pipe; returns what it wrote there (malloc'd). */
static char *stderr_of_call(const char *extra_config, const char *env_log)
{
    int fds[2];
    if (pipe(fds) != 0) return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        if (env_log) setenv("HUMANLOOP_LOG", env_log, 1); else unsetenv("HUMANLOOP_LOG");
        char config[512];
        snprintf(config, sizeof config, "{\"api_key\":\"%s\",\"host\":\"%s\"%s}", TU_SECRET, tu_base_url(),
                 extra_config ? extra_config : "");
        hl_client *c = hl_client_new(config, NULL);
        hl_free(hl_complete(c, TU_REQ));
        hl_client_free(c);
        _exit(c ? 0 : 3);
    }
    close(fds[1]);
    size_t size = 0, cap = 4096;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(fds[0], out + size, cap - size - 1)) > 0) {
        size += (size_t)n;
        if (cap - size < 1024) out = realloc(out, cap *= 2);
    }
    out[size] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    return out;
}

static void test_log_level_and_environment_write_to_stderr(void)
{
    char *out = stderr_of_call(",\"log_level\":\"debug\"", NULL);
    CHECKF(out && strstr(out, " info complete POST ") && strstr(out, " debug request body: ") && !strstr(out, TU_SECRET),
           "log_level debug: %s", out ? out : "NULL");
    free(out);
    out = stderr_of_call(NULL, "info");
    CHECKF(out && strstr(out, " info complete POST ") && !strstr(out, " debug "), "HUMANLOOP_LOG=info: %s", out ? out : "NULL");
    free(out);
    out = stderr_of_call(",\"log_level\":\"off\"", "debug");
    CHECKF(out && out[0] == 0, "log_level off wins over the environment: %s", out ? out : "NULL");
    free(out);
    out = stderr_of_call(NULL, NULL);
    CHECKF(out && out[0] == 0, "silent by default: %s", out ? out : "NULL");
    free(out);
}

static void test_bad_log_level_is_invalid_config(void)
{
    char *error = NULL;
    hl_client *c = hl_client_new("{\"api_key\":\"k\",\"log_level\":\"verbose\"}", &error);
    CHECK(c == NULL);
    json_t *env = tu_parse_env(error);
    CHECK_STR(tu_err_type(env), "invalid_config");
    CHECK_JSTR(env, "error.path", "log_level");
    json_decref(env);
    hl_free(error);
}

/* Asynchronous calls and batches log like blocking ones, from the engine thread. */
static pthread_t g_logging_thread;
static int g_off_caller;

static void collect_thread(int level, const char *line, void *user_data)
{
    if (!pthread_equal(pthread_self(), g_logging_thread)) g_off_caller++;
    collect(level, line, user_data);
}

static void test_async_calls_and_batches_are_logged_from_the_engine(void)
{
    g_logging_thread = pthread_self();
    g_off_caller = 0;
    hl_set_log_callback(collect_thread, NULL, HL_LOG_INFO);
    hl_client *c = tu_client(",\"max_retries\":1,\"retry_base_delay\":0.01,\"retry_max_delay\":0.02");
    tu_script("[{\"status\":503,\"json\":{\"detail\":\"busy\"}}]");
    tu_async a;
    tu_async_init(&a, 0);
    hl_call *call = tu_async_start(&a, c, "complete", TU_REQ, NULL);
    CHECK(tu_async_wait(&a, 10 * tu_factor()));
    hl_call_free(call);
    tu_async_destroy(&a);
    char *batch = hl_batch(c, "{\"requests\":[{\"call\":\"complete_deployed\",\"request\":{\"project\":\"p\"}}]}");
    CHECKF(batch && strstr(batch, "\"ok\":true"), "%s", batch ? batch : "NULL");
    hl_free(batch);
    hl_client_free(c);
    hl_set_log_callback(NULL, NULL, HL_LOG_OFF);
    CHECKF(find_line("info complete ", "attempt=1 status=503", "-> retry in ") >= 0, "%s", g_count ? g_lines[0] : "(none)");
    CHECK(find_line("info complete ", "attempt=2 status=200", NULL) >= 0);
    CHECK(find_line("info complete_deployed ", "attempt=1 status=200", NULL) >= 0);
    CHECK_INT(g_count, 3);
    CHECK_INT(g_off_caller, 3);
    check_no_secrets();
    clear_lines();
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    RUN(test_info_line_per_attempt_with_retry);
    RUN(test_errors_and_streams_are_logged);
    RUN(test_debug_lines_show_headers_and_bodies_without_keys);
    RUN(test_no_lines_when_off);
    RUN(test_log_level_and_environment_write_to_stderr);
    RUN(test_bad_log_level_is_invalid_config);
    RUN(test_async_calls_and_batches_are_logged_from_the_engine);
    return tu_finish();
}
