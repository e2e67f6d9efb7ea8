/* The command line of each command (getopt_long). */
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

/* ---- options --------------------------------------------------------------------------------- */

static int parse_integer(const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return 0;
    *out = v;
    return 1;
}

static int parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 1e9) return 0;
    *out = v;
    return 1;
}

/* Parses argv[first..argc-1] of a command. Returns EXIT_OK or the usage error's exit code. */
int parse_options(const struct command *cmd, int argc, char **argv, int first, struct options *o) {
    memset(o, 0, sizeof *o);
    o->max_retries = -1;
    o->timeout = -1;
    o->inputs = calloc((size_t)argc + 1, sizeof *o->inputs);
    if (o->inputs == NULL) return out_of_memory();
    int only_positional = 0;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (o->file != NULL) return usage_error(cmd->name, "more than one request file: '%s'", arg);
            o->file = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            o->help = 1;
            continue;
        }
        if (arg[1] != '-') return usage_error(cmd->name, "unknown option '%s'", arg);

        /* --name or --name=value */
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (name_len >= sizeof name) return usage_error(cmd->name, "unknown option '%s'", arg);
        memcpy(name, arg, name_len);
        name[name_len] = '\0';

        if (strcmp(name, "--json") == 0 || strcmp(name, "--stream") == 0) {
            if (eq != NULL) return usage_error(cmd->name, "option '%s' takes no value", name);
            if (name[2] == 'j') o->json = 1; else o->stream = 1;
            continue;
        }

        static const struct {
            const char *name;
            unsigned bit; /* 0: not a request field */
        } VALUED[] = {
            {"--project", F_PROJECT}, {"--model", F_MODEL}, {"--prompt-template", F_PROMPT_TEMPLATE},
            {"--input", F_INPUT}, {"--experiment-id", F_EXPERIMENT_ID},
            {"--model-config-id", F_MODEL_CONFIG_ID}, {"--environment", F_ENVIRONMENT},
            {"--num-samples", F_NUM_SAMPLES}, {"--host", 0}, {"--max-retries", 0}, {"--timeout", 0},
        };
        size_t k;
        for (k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++)
            if (strcmp(name, VALUED[k].name) == 0) break;
        if (k == sizeof VALUED / sizeof VALUED[0]) {
            if (strncmp(name, "--api-key", 9) == 0 || strncmp(name, "--api_key", 9) == 0)
                return usage_error(cmd->name, "there is no '%s' flag: set HUMANLOOP_API_KEY", name);
            return usage_error(cmd->name, "unknown option '%s'", name);
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) return usage_error(cmd->name, "option '%s' needs a value", name);
            value = argv[++i];
        }
        unsigned bit = VALUED[k].bit;
        if (bit != 0 && !(cmd->fields & bit)) {
            fprintf(stderr, "hl: %s: %s is not a field of this endpoint's request (see hl %s --help)\n",
                    cmd->name, name, cmd->name);
            return EXIT_USAGE;
        }
        o->given |= bit;
        switch (bit) {
        case F_PROJECT: o->project = value; break;
        case F_MODEL: o->model = value; break;
        case F_PROMPT_TEMPLATE: o->prompt_template = value; break;
        case F_EXPERIMENT_ID: o->experiment_id = value; break;
        case F_MODEL_CONFIG_ID: o->model_config_id = value; break;
        case F_ENVIRONMENT: o->environment = value; break;
        case F_INPUT: {
            const char *sep = strchr(value, '=');
            if (sep == NULL || sep == value)
                return usage_error(cmd->name, "--input needs KEY=VALUE, got '%s'", value);
            o->inputs[o->n_inputs++] = value;
            break;
        }
        case F_NUM_SAMPLES:
            if (!parse_integer(value, 1, 1000000, &o->num_samples))
                return usage_error(cmd->name, "--num-samples needs an integer >= 1, got '%s'", value);
            break;
        default:
            if (strcmp(name, "--host") == 0) {
                o->host = value;
            } else if (strcmp(name, "--max-retries") == 0) {
                if (!parse_integer(value, 0, 100, &o->max_retries))
                    return usage_error(cmd->name, "--max-retries needs an integer 0..100, got '%s'", value);
            } else if (!parse_seconds(value, &o->timeout)) {
                return usage_error(cmd->name, "--timeout needs a number of seconds > 0, got '%s'", value);
            }
            break;
        }
    }
    return EXIT_OK;
}

int parse_batch_options(int argc, char **argv, struct batch_options *o) {
    memset(o, 0, sizeof *o);
    o->call = "complete";
    o->concurrency = 16;
    o->progress = 1;
    o->rate_aware = 1;
    o->client.max_retries = -1;
    o->client.timeout = -1;
    o->argc = argc;
    o->argv = argv;
    int only_positional = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (o->file != NULL) return usage_error("batch", "more than one input file: '%s'", arg);
            o->file = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(arg, "--no-progress") == 0) {
            o->progress = 0;
            continue;
        }
        if (strcmp(arg, "--retry-failed") == 0) {
            o->retry_failed = 1;
            continue;
        }
        if (strcmp(arg, "--no-rate-aware") == 0) {
            o->rate_aware = 0;
            continue;
        }
        if (arg[1] != '-') return usage_error("batch", "unknown option '%s'", arg);
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (name_len >= sizeof name) return usage_error("batch", "unknown option '%s'", arg);
        memcpy(name, arg, name_len);
        name[name_len] = '\0';
        static const char *const VALUED[] = {"--concurrency", "--call", "--host", "--max-retries", "--timeout",
                                             "--output"};
        size_t k;
        for (k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++)
            if (strcmp(name, VALUED[k]) == 0) break;
        if (k == sizeof VALUED / sizeof VALUED[0]) {
            if (strncmp(name, "--api-key", 9) == 0 || strncmp(name, "--api_key", 9) == 0)
                return usage_error("batch", "there is no '%s' flag: set HUMANLOOP_API_KEY", name);
            if (strcmp(name, "--no-progress") == 0 || strcmp(name, "--retry-failed") == 0 ||
                strcmp(name, "--no-rate-aware") == 0)
                return usage_error("batch", "option '%s' takes no value", name);
            return usage_error("batch", "unknown option '%s'", name);
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) return usage_error("batch", "option '%s' needs a value", name);
            value = argv[++i];
        }
        switch (k) {
        case 0:
            if (!parse_integer(value, 1, 10000, &o->concurrency))
                return usage_error("batch", "--concurrency needs an integer 1..10000, got '%s'", value);
            break;
        case 1:
            o->call = library_call_name(value);
            if (o->call == NULL)
                return usage_error("batch",
                                   "--call needs complete, complete-deployed, complete-experiment or "
                                   "complete-model-config, got '%s'",
                                   value);
            break;
        case 2: o->client.host = value; break;
        case 3:
            if (!parse_integer(value, 0, 100, &o->client.max_retries))
                return usage_error("batch", "--max-retries needs an integer 0..100, got '%s'", value);
            break;
        case 4:
            if (!parse_seconds(value, &o->client.timeout))
                return usage_error("batch", "--timeout needs a number of seconds > 0, got '%s'", value);
            break;
        default:
            if (value[0] == '\0') return usage_error("batch", "--output needs a file name%s", "");
            o->output = value;
            break;
        }
    }
    if (o->retry_failed && o->output == NULL)
        return usage_error("batch", "--retry-failed goes with --output (it re-sends the failed lines of %s)",
                           "OUT.partial");
    return EXIT_OK;
}

