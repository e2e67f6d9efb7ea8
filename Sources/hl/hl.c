/*
 * hl — the command-line client of libhumanloop (the Humanloop v4 completions API).
 *
 *   hl complete | complete-deployed | complete-experiment | complete-model-config
 *      [REQUEST.json | -] [--project P] [--model M] [--prompt-template T] [--input k=v ...]
 *      [--experiment-id ID] [--model-config-id ID] [--environment E] [--num-samples N]
 *      [--host URL] [--max-retries N] [--timeout S] [--json] [--stream]
 *   hl batch [FILE.jsonl | -] [--output OUT [--retry-failed]] [--concurrency N] [--call NAME]
 *      [--no-rate-aware] [--host URL] [--max-retries N] [--timeout S] [--no-progress]
 *   hl --help | hl COMMAND --help | hl --version
 *
 * Written in C99 + POSIX on the public C API of include/humanloop.h only; jansson reads the
 * envelopes and builds the JSON of the request and of the client configuration.
 * The API key is read from HUMANLOOP_API_KEY only (never a flag) and is never printed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "humanloop.h"

#include "hl.h"
#include "batch.h"

const struct command COMMANDS[] = {
    {"complete", "POST {host}/completion", hl_complete, hl_complete_stream,
     F_PROJECT | F_MODEL | F_PROMPT_TEMPLATE | F_INPUT | F_NUM_SAMPLES,
     "a completion with the model configuration given in the request",
     "model_config (with model and prompt_template: --model, --prompt-template)"},
    {"complete-deployed", "POST {host}/completion-deployed", hl_complete_deployed,
     hl_complete_deployed_stream, F_PROJECT | F_INPUT | F_ENVIRONMENT | F_NUM_SAMPLES,
     "a completion with the project's deployed model configuration",
     "project or project_id (--project)"},
    {"complete-experiment", "POST {host}/completion-experiment", hl_complete_experiment,
     hl_complete_experiment_stream, F_PROJECT | F_INPUT | F_EXPERIMENT_ID | F_NUM_SAMPLES,
     "a completion with a model configuration sampled from an experiment",
     "experiment_id (--experiment-id)"},
    {"complete-model-config", "POST {host}/completion-model-config",
     hl_complete_model_configuration, hl_complete_model_configuration_stream,
     F_PROJECT | F_INPUT | F_MODEL_CONFIG_ID | F_NUM_SAMPLES,
     "a completion with a stored model configuration",
     "model_config_id (--model-config-id)"},
};
const size_t N_COMMANDS = sizeof COMMANDS / sizeof COMMANDS[0];
const struct field_flag FIELD_FLAGS[] = {
    {F_PROJECT, "--project P", "\"project\": the project's name"},
    {F_MODEL, "--model M", "\"model_config.model\""},
    {F_PROMPT_TEMPLATE, "--prompt-template T", "\"model_config.prompt_template\", e.g. '{{question}}'"},
    {F_INPUT, "--input KEY=VALUE", "one of \"inputs\" (a string); repeatable"},
    {F_EXPERIMENT_ID, "--experiment-id ID", "\"experiment_id\""},
    {F_MODEL_CONFIG_ID, "--model-config-id ID", "\"model_config_id\""},
    {F_ENVIRONMENT, "--environment E", "\"environment\" to take the deployment of"},
    {F_NUM_SAMPLES, "--num-samples N", "\"num_samples\" (an integer >= 1)"},
};
const size_t N_FIELD_FLAGS = sizeof FIELD_FLAGS / sizeof FIELD_FLAGS[0];
/* ---- Ctrl-C ------------------------------------------------------------------------------ */

/* Only async-signal-safe calls: write(2) and _exit(2). */
static void on_sigint(int sig) {
    (void)sig;
    if (write(STDERR_FILENO, "\n", 1) < 0) {
        /* nothing to do: we are leaving anyway */
    }
    _exit(EXIT_INTERRUPTED);
}

static void install_sigint_handler(void) {
    struct sigaction old;
    /* A SIGINT that was ignored when we started (a background job of a non-interactive shell)
     * stays ignored, as the shell intended. */
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_IGN) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
}

int main(int argc, char **argv) {
    install_sigint_handler();
    if (argc < 2)
        return usage_error(NULL, "no command given: %s",
                           "complete, complete-deployed, complete-experiment or complete-model-config");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0 || strcmp(first, "help") == 0) {
        if (argc > 2 && strcmp(first, "help") == 0) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], COMMANDS[i].name) == 0) {
                    print_command_help(stdout, &COMMANDS[i]);
                    return finish_output(EXIT_OK);
                }
            if (strcmp(argv[2], "batch") == 0) {
                fputs(BATCH_HELP, stdout);
                return finish_output(EXIT_OK);
            }
            return usage_error(NULL, "unknown command '%s'", argv[2]);
        }
        print_main_help(stdout);
        return finish_output(EXIT_OK);
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        printf("hl %s (libhumanloop %s, humanloop.h %s)\n", HL_VERSION_STRING, hl_version(), HL_VERSION_STRING);
        if (hl_version_num() != HL_VERSION_NUM)
            fprintf(stderr, "hl: warning: built with humanloop.h %s but running with libhumanloop %s\n",
                    HL_VERSION_STRING, hl_version());
        return finish_output(EXIT_OK);
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(first, COMMANDS[i].name) == 0) return run_command(&COMMANDS[i], argc, argv);
    if (strcmp(first, "batch") == 0) return run_batch(argc, argv);
    if (first[0] == '-') return usage_error(NULL, "unknown option '%s'", first);
    return usage_error(NULL, "unknown command '%s'", first);
}

